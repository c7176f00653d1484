/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * bench_lazy: the write side of SMR_LAZY against liburcu's urcu-memb.
 *
 *  1. Grace-period cost with one reader: smr_synchronize on a lazy domain
 *     (one membarrier) and on a default domain (no barrier), against
 *     urcu_memb_synchronize_rcu (sys_membarrier flavour), while one reader
 *     thread, pinned to another PU, runs short read sections back to back.
 *     Rounds with the scheme order shuffled; median and min-max of the
 *     per-round mean ns per synchronize.
 *  2. Asymmetric barriers per 1000 pool frees: one thread allocates and
 *     frees 64-byte objects through an SMR pool on a lazy domain, paced to
 *     1M frees/s, default bucket size, while the reader runs; barriers are
 *     read from smr_stats.
 *
 * The reader and the writer are hwloc-pinned to different PUs when there
 * are two or more.
 */
#define _GNU_SOURCE
#define _LGPL_SOURCE

#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hwloc.h>
#include <urcu/urcu-memb.h>

#include <smr.h>

#include "bench_util.h"

enum { S_SMR_LAZY, S_SMR_FENCED, S_URCU_MEMB, NSCHEME };
static const char *const scheme_name[NSCHEME] = {
    "smr_synchronize (SMR_LAZY)", "smr_synchronize (default)",
    "urcu_memb_synchronize_rcu",
};

static hwloc_topology_t topo;
static int npu;
static smr_t d_lazy, d_fenced;
static int stop;            /* atomic */
static int reader_scheme;   /* atomic: which read side the reader runs */
static uint64_t sink;

static void
pin(int pu)
{
    if (npu >= 2)
        (void)bench_pin(topo, npu, pu, "bench_lazy");
}

/* Short sections, back to back, in whichever flavour is being measured
 * (a reader that never enters would make every grace period trivial). */
static void *
reader(void *arg)
{
    static int obj = 1;
    int *volatile p = &obj;

    (void)arg;
    pin(1);
    urcu_memb_register_thread();
    if (smr_thread_attach(d_lazy) != 0 || smr_thread_attach(d_fenced) != 0)
        abort();
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        int s = __atomic_load_n(&reader_scheme, __ATOMIC_RELAXED);
        for (int i = 0; i < 256; i++) {
            switch (s) {
            case S_SMR_LAZY:
                smr_lazy_enter(d_lazy);
                sink += (uint64_t)*p;
                smr_lazy_exit(d_lazy);
                break;
            case S_SMR_FENCED:
                smr_enter(d_fenced);
                sink += (uint64_t)*p;
                smr_exit(d_fenced);
                break;
            default:
                urcu_memb_read_lock();
                sink += (uint64_t)*p;
                urcu_memb_read_unlock();
                break;
            }
        }
    }
    urcu_memb_unregister_thread();
    return NULL;
}

static double
run_sync(int s, int n)
{
    uint64_t t0;

    __atomic_store_n(&reader_scheme, s, __ATOMIC_RELAXED);
    for (int i = 0; i < 10; i++) {     /* let the reader switch flavours */
        if (s == S_URCU_MEMB)
            urcu_memb_synchronize_rcu();
        else
            smr_synchronize(s == S_SMR_LAZY ? d_lazy : d_fenced);
    }
    t0 = now_ns();
    for (int i = 0; i < n; i++) {
        if (s == S_URCU_MEMB)
            urcu_memb_synchronize_rcu();
        else
            smr_synchronize(s == S_SMR_LAZY ? d_lazy : d_fenced);
    }
    return (double)(now_ns() - t0) / n;
}

int
main(int argc, char **argv)
{
    int rounds = 11, n = 2000, c;
    double frees_s = 1.0;
    double res[NSCHEME][64];
    pthread_t th;
    uint64_t seed = now_ns();

    while ((c = getopt(argc, argv, "r:n:f:")) != -1) {
        switch (c) {
        case 'r': rounds = atoi(optarg); break;
        case 'n': n = atoi(optarg); break;
        case 'f': frees_s = atof(optarg); break;
        default:
            fprintf(stderr, "usage: bench_lazy [-r rounds (11..64)] "
                "[-n synchronizes per round] [-f seconds of pool frees]\n");
            return 2;
        }
    }
    if (rounds < 11 || rounds > 64 || n < 1 || frees_s <= 0) {
        fprintf(stderr, "bench_lazy: need 11..64 rounds, n >= 1\n");
        return 2;
    }
    hwloc_topology_init(&topo);
    hwloc_topology_load(topo);
    npu = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
    d_lazy = smr_create("bench_lazy", 0, SMR_LAZY);
    d_fenced = smr_create("bench_fenced", 0, 0);
    if (d_lazy == NULL || d_fenced == NULL)
        return 1;
    pin(0);
    urcu_memb_register_thread();
    pthread_create(&th, NULL, reader, NULL);

    printf("bench_lazy: %d PUs (hwloc), writer on PU 0, reader on PU 1; "
        "lazy readers %s; urcu-memb %s\n", npu,
        smr_lazy_is_fence_free(d_lazy) ? "fence-free (membarrier)" :
        "FENCED (fallback)", urcu_memb_has_sys_membarrier ?
        "uses sys_membarrier" : "fenced");
    printf("\n1. grace period with one busy reader: %d rounds x %d, order "
        "shuffled\n", rounds, n);
    for (int r = 0; r < rounds; r++) {
        int order[NSCHEME] = { 0, 1, 2 };
        for (int i = NSCHEME - 1; i > 0; i--) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            int j = (int)((seed >> 33) % (uint64_t)(i + 1)), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (int i = 0; i < NSCHEME; i++)
            res[order[i]][r] = run_sync(order[i], n);
    }
    double med[NSCHEME];
    for (int s = 0; s < NSCHEME; s++) {
        qsort(res[s], (size_t)rounds, sizeof(double), cmp_double);
        med[s] = res[s][rounds / 2];
        printf("  %-30s %9.0f ns  (min %.0f, max %.0f)\n", scheme_name[s],
            med[s], res[s][0], res[s][rounds - 1]);
    }
    printf("  ratio lazy / urcu-memb: %.2f%s\n",
        med[S_SMR_LAZY] / med[S_URCU_MEMB],
        bench_show_targets() ? " (target <= 0.6)" : "");

    /* 2. barriers per 1000 pool frees at 1M frees/s. */
    smr_pool_t pool = smr_pool_create("bench_lazy", 64, 0, d_lazy, 0);
    struct smr_stats a, b;
    void *ring[1024] = { 0 };
    uint64_t frees = 0, t0, total_ns = (uint64_t)(frees_s * 1e9);

    __atomic_store_n(&reader_scheme, S_SMR_LAZY, __ATOMIC_RELAXED);
    smr_stats(d_lazy, &a);
    t0 = now_ns();
    for (;;) {
        uint64_t el = now_ns() - t0;
        if (el >= total_ns)
            break;
        /* Pace: at most one free per microsecond on average. */
        while (frees < el / 1000 + 1) {
            unsigned k = (unsigned)(frees % 1024);
            if (ring[k] != NULL)
                smr_pool_free(pool, ring[k]);
            ring[k] = smr_pool_alloc(pool);
            frees += ring[k] != NULL;
        }
    }
    uint64_t el = now_ns() - t0;
    smr_stats(d_lazy, &b);
    printf("\n2. pool frees on a lazy domain, paced to 1M/s, default bucket "
        "size, reader running:\n  %llu frees in %.2f s (%.2f M/s), %llu "
        "asymmetric barriers = %.3f per 1000 frees%s, %llu "
        "polls, %llu scans\n", (unsigned long long)frees, el / 1e9,
        frees / (el / 1e3), (unsigned long long)(b.barriers - a.barriers),
        1000.0 * (double)(b.barriers - a.barriers) / (double)frees,
        bench_show_targets() ? " (target <= 1)" : "",
        (unsigned long long)(b.poll - a.poll),
        (unsigned long long)(b.poll_scan - a.poll_scan));
    for (unsigned k = 0; k < 1024; k++)
        if (ring[k] != NULL)
            smr_pool_free(pool, ring[k]);

    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    smr_pool_destroy(pool);
    urcu_memb_unregister_thread();
    smr_destroy(d_lazy);
    smr_destroy(d_fenced);
    hwloc_topology_destroy(topo);
    return sink == 42 ? 3 : 0;
}
