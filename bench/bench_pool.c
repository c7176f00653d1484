/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * bench_pool (B5): alloc+free churn through the SMR pool against the
 * allocators and deferred-free schemes a user would otherwise reach for,
 * all in one binary and one run; then a stalled-reader run.
 *
 * Schemes (each op: allocate one 64-byte object, store into it, free the
 * oldest object of a per-thread ring of 1024 live objects):
 *
 *   smr pool           smr_pool_alloc/smr_pool_free, default domain
 *   smr pool (lazy)    the same on an SMR_LAZY domain
 *   smr pool (deferred) the same on an SMR_DEFERRED domain (limit 64)
 *   plain pool         smr_pool with smr == NULL (object cache, no grace)
 *   glibc              __libc_malloc/__libc_free
 *   jemalloc           malloc/free from dlopen("libjemalloc.so.2")
 *   mimalloc           mi_malloc/mi_free from dlopen("libmimalloc.so.2")
 *   urcu call_rcu      glibc malloc + urcu_memb call_rcu(free) (the frees
 *                      happen on liburcu's call_rcu thread)
 *   smr_retire         glibc malloc + smr_retire(free) on the default domain
 *   ck_epoch_call      glibc malloc + Concurrency Kit ck_epoch_call(free),
 *                      ck_epoch_poll every 64 calls (per thread)
 *
 * jemalloc and mimalloc both export malloc; they are dlopen'ed
 * RTLD_LOCAL so that neither replaces glibc's malloc for the rest of the
 * binary.  jemalloc needs static TLS: if dlopen says so, the benchmark
 * re-executes itself once with GLIBC_TUNABLES=glibc.rtld.optional_static_
 * tls=65536.
 *
 * Readers (--readers N, default 1): N more threads run read sections the
 * whole time, each scheme's own kind (smr_enter/smr_exit on the pool's
 * domain, smr_lazy_enter on the lazy one, urcu_memb_read_lock for
 * call_rcu; the allocators without deferral get the same loop with no
 * section), each section a handful of loads (well under 10 us unless the
 * reader is preempted).  Reader i is pinned to PU (T + i) mod PUs, so on
 * a 2-core machine it has its own core with 1 writer and shares one with
 * 2.  A pool free that blocks for a reader shows in blocking/M.
 *
 * Method: for T in the thread counts (default 1,2), R rounds; in each round
 * the scheme order is shuffled and every thread runs N ops per scheme,
 * hwloc-pinned one PU each, timed with CLOCK_MONOTONIC.  A round's value is
 * the MAX over threads of ns/op; the table reports medians over rounds,
 * min-max, and ratios of medians; a last table pairs the issue-17 ratios
 * by round (median of the per-round ratios, quartiles).
 *
 * Stalled reader: one thread churns through the SMR pool (outside
 * sections) while a reader thread sits inside a section for 2 s.  Frees
 * past the pool's pending cap wait for the reader (SPEC §2 bound).  The
 * main thread samples pending and RSS (/proc/self/statm) every 200 us, and
 * reports peak pending, peak RSS, and the time from the reader's exit until
 * every bucket queued before it has been reused ("queue drained"; target
 * <= 10 ms).
 */
#define _GNU_SOURCE
#define _LGPL_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ck_epoch.h>
#include <hwloc.h>
#include <urcu/urcu-memb.h>

#include <smr.h>

#include "bench_util.h"

#define CL 64
#define OBJ_SIZE 64
#define RING 1024
#define MAXT 64

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);

enum scheme {
    S_POOL,
    S_POOL_LAZY,
    S_POOL_DEF,
    S_POOL_PLAIN,
    S_GLIBC,
    S_JEMALLOC,
    S_MIMALLOC,
    S_URCU,
    S_RETIRE,
    S_CK,
    NSCHEME
};

static const char *const scheme_name[NSCHEME] = {
    [S_POOL] = "smr pool (default domain)",
    [S_POOL_LAZY] = "smr pool (lazy domain)",
    [S_POOL_DEF] = "smr pool (deferred domain)",
    [S_POOL_PLAIN] = "plain pool (smr == NULL)",
    [S_GLIBC] = "glibc malloc/free",
    [S_JEMALLOC] = "jemalloc malloc/free",
    [S_MIMALLOC] = "mimalloc mi_malloc/mi_free",
    [S_URCU] = "malloc + urcu call_rcu(free)",
    [S_RETIRE] = "malloc + smr_retire(free)",
    [S_CK] = "malloc + ck_epoch_call(free)",
};
static const char *const scheme_key[NSCHEME] = {
    [S_POOL] = "smr_pool", [S_POOL_LAZY] = "smr_pool_lazy",
    [S_POOL_DEF] = "smr_pool_deferred",
    [S_POOL_PLAIN] = "plain_pool", [S_GLIBC] = "glibc",
    [S_JEMALLOC] = "jemalloc", [S_MIMALLOC] = "mimalloc",
    [S_URCU] = "urcu_call_rcu",
    [S_RETIRE] = "smr_retire", [S_CK] = "ck_epoch_call",
};

/* An object freed through call_rcu carries its rcu_head. */
struct robj {
    struct rcu_head head;
    char pad[OBJ_SIZE - sizeof(struct rcu_head)];
};

/* An object freed through ck_epoch_call carries its entry. */
struct cobj {
    ck_epoch_entry_t entry;
    char pad[OBJ_SIZE - sizeof(ck_epoch_entry_t)];
};

/* Concurrency Kit: one epoch, one record per thread (workers, readers). */
static ck_epoch_t g_ck;
static __thread ck_epoch_record_t *tl_ck;
static __thread unsigned tl_ck_calls;

static void
ck_thread_init(void)
{
    tl_ck = aligned_alloc(64, (sizeof(*tl_ck) + 63) & ~(size_t)63);
    if (tl_ck == NULL) {
        perror("bench_pool: ck record");
        exit(1);
    }
    memset(tl_ck, 0, sizeof(*tl_ck));
    ck_epoch_register(&g_ck, tl_ck, NULL);
}

static void *(*je_malloc)(size_t);
static void (*je_free)(void *);
static void *(*mi_malloc_fn)(size_t);
static void (*mi_free_fn)(void *);
static int g_have[NSCHEME];

static smr_t g_smr, g_smr_lazy, g_smr_def;
static smr_pool_t g_pool, g_pool_lazy, g_pool_def, g_pool_plain;
/* --rate: target frees per second per thread (0: full speed). */
static uint64_t g_rate;

/* --readers: threads running short sections of the current scheme. */
static int g_nreaders = 1;
static volatile int g_rstop;
static uint64_t g_rdata[8] __attribute__((aligned(CL)));

static hwloc_topology_t g_topo;
static int g_npu, g_pin;
static pthread_barrier_t g_start, g_done;
static volatile int g_quit, g_cur;
static volatile uint64_t g_iters;

struct worker {
    int id;
    int pu_os;
    pthread_t th;
    double ns, cpu_ns;
    size_t rss;        /* RSS after the timed loop (worker 0, pool rows) */
    void *ring[RING];
} __attribute__((aligned(CL)));

static size_t rss_bytes(void);

/* The SMR pool schemes (their rows get blocking/M, pending_peak, RSS). */
static smr_pool_t
smr_pool_of(int s)
{
    switch (s) {
    case S_POOL:      return g_pool;
    case S_POOL_LAZY: return g_pool_lazy;
    case S_POOL_DEF:  return g_pool_def;
    default:          return NULL;
    }
}

/* ---- one alloc / one free per scheme ------------------------------------ */

static void
rcu_free_cb(struct rcu_head *h)
{
    __libc_free(caa_container_of(h, struct robj, head));
}

static void
ck_free_cb(ck_epoch_entry_t *e)
{
    __libc_free(e);     /* the entry is the object's first member */
}

static void
retire_free_cb(void *p)
{
    __libc_free(p);
}

static inline void *
s_alloc(int s)
{
    switch (s) {
    case S_POOL:       return smr_pool_alloc(g_pool);
    case S_POOL_LAZY:  return smr_pool_alloc(g_pool_lazy);
    case S_POOL_DEF:   return smr_pool_alloc(g_pool_def);
    case S_POOL_PLAIN: return smr_pool_alloc(g_pool_plain);
    case S_GLIBC:      return __libc_malloc(OBJ_SIZE);
    case S_JEMALLOC:   return je_malloc(OBJ_SIZE);
    case S_MIMALLOC:   return mi_malloc_fn(OBJ_SIZE);
    case S_URCU:       return __libc_malloc(sizeof(struct robj));
    case S_RETIRE:     return __libc_malloc(OBJ_SIZE);
    case S_CK:         return __libc_malloc(sizeof(struct cobj));
    }
    abort();
}

static inline void
s_free(int s, void *p)
{
    switch (s) {
    case S_POOL:       smr_pool_free(g_pool, p); return;
    case S_POOL_LAZY:  smr_pool_free(g_pool_lazy, p); return;
    case S_POOL_DEF:   smr_pool_free(g_pool_def, p); return;
    case S_POOL_PLAIN: smr_pool_free(g_pool_plain, p); return;
    case S_GLIBC:      __libc_free(p); return;
    case S_JEMALLOC:   je_free(p); return;
    case S_MIMALLOC:   mi_free_fn(p); return;
    case S_URCU:
        urcu_memb_call_rcu(&((struct robj *)p)->head, rcu_free_cb);
        return;
    case S_RETIRE:
        smr_retire(g_smr, p, retire_free_cb);
        return;
    case S_CK:
        ck_epoch_call(tl_ck, &((struct cobj *)p)->entry, ck_free_cb);
        if ((++tl_ck_calls & 63) == 0)
            (void)ck_epoch_poll(tl_ck);
        return;
    }
    abort();
}

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* --rate: op k may not start before t0 + k / rate seconds (spinning on
 * CLOCK_MONOTONIC), so a thread does at most `rate` frees per second on
 * average. */
static inline void
pace(uint64_t t0, uint64_t k)
{
    uint64_t due = t0 + k * 1000000000u / g_rate;

    while (now_ns() < due)
        cpu_relax();
}

/* One noinline loop per scheme, the switch hoisted out by the constant. */
#define CHURN_FN(name, S)                                               \
    static __attribute__((noinline)) void                              \
    name(void **ring, uint64_t n)                                       \
    {                                                                   \
        unsigned i = 0;                                                 \
        uint64_t t0 = now_ns();                                         \
        int paced = g_rate != 0;                                        \
        for (uint64_t k = 0; k < n; k++) {                              \
            if (paced)                                                  \
                pace(t0, k);                                            \
            void *o = s_alloc(S);                                       \
            *(volatile uint64_t *)((char *)o + 32) = k;                 \
            s_free(S, ring[i]);                                         \
            ring[i] = o;                                                \
            i = (i + 1) & (RING - 1);                                   \
        }                                                               \
    }
CHURN_FN(churn_pool, S_POOL)
CHURN_FN(churn_pool_lazy, S_POOL_LAZY)
CHURN_FN(churn_pool_def, S_POOL_DEF)
CHURN_FN(churn_pool_plain, S_POOL_PLAIN)
CHURN_FN(churn_glibc, S_GLIBC)
CHURN_FN(churn_jemalloc, S_JEMALLOC)
CHURN_FN(churn_mimalloc, S_MIMALLOC)
CHURN_FN(churn_urcu, S_URCU)
CHURN_FN(churn_retire, S_RETIRE)
CHURN_FN(churn_ck, S_CK)

static void (*const churn_fn[NSCHEME])(void **, uint64_t) = {
    churn_pool, churn_pool_lazy, churn_pool_def, churn_pool_plain,
    churn_glibc,
    churn_jemalloc, churn_mimalloc, churn_urcu, churn_retire, churn_ck,
};

static void
pin(int id, int *pu_os)
{
    *pu_os = g_pin ? bench_pin(g_topo, g_npu, id, "bench_pool") : -1;
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;

    pin(w->id, &w->pu_os);
    urcu_memb_register_thread();
    ck_thread_init();
    for (;;) {
        pthread_barrier_wait(&g_start);
        if (g_quit)
            break;
        int s = g_cur;
        uint64_t n = g_iters;
        /* Fill the ring (untimed), churn (timed), empty it (untimed). */
        for (int i = 0; i < RING; i++)
            w->ring[i] = s_alloc(s);
        uint64_t c0 = cpu_now_ns();
        uint64_t t0 = now_ns();
        churn_fn[s](w->ring, n);
        uint64_t t1 = now_ns();
        uint64_t c1 = cpu_now_ns();
        if (w->id == 0 && (smr_pool_of(s) != NULL || s == S_RETIRE))
            w->rss = rss_bytes();
        for (int i = 0; i < RING; i++)
            s_free(s, w->ring[i]);
        if (s == S_CK)
            ck_epoch_barrier(tl_ck);   /* this thread's frees, untimed */
        w->ns = (double)(t1 - t0) / (double)n;
        w->cpu_ns = (double)(c1 - c0) / (double)n;
        pthread_barrier_wait(&g_done);
    }
    urcu_memb_unregister_thread();
    return NULL;
}

/* A reader: sections of the current scheme's kind, back to back. */
static void *
reader_main(void *arg)
{
    int pu;
    uint64_t sum = 0;

    pin((int)(intptr_t)arg, &pu);
    urcu_memb_register_thread();
    ck_thread_init();
    while (!g_rstop) {
        int s = g_cur;

        for (int k = 0; k < 256; k++) {
            switch (s) {
            case S_POOL:      smr_enter(g_smr); break;
            case S_POOL_LAZY: smr_lazy_enter(g_smr_lazy); break;
            case S_POOL_DEF:  smr_enter(g_smr_def); break;
            case S_URCU:      urcu_memb_read_lock(); break;
            case S_RETIRE:    smr_enter(g_smr); break;
            case S_CK:        ck_epoch_begin(tl_ck, NULL); break;
            default:          break;
            }
            for (int j = 0; j < 8; j++)
                sum += ((volatile uint64_t *)g_rdata)[j];
            switch (s) {
            case S_POOL:      smr_exit(g_smr); break;
            case S_POOL_LAZY: smr_lazy_exit(g_smr_lazy); break;
            case S_POOL_DEF:  smr_exit(g_smr_def); break;
            case S_URCU:      urcu_memb_read_unlock(); break;
            case S_RETIRE:    smr_exit(g_smr); break;
            case S_CK:        ck_epoch_end(tl_ck, NULL); break;
            default:          break;
            }
        }
    }
    urcu_memb_unregister_thread();
    g_rdata[0] = sum & 0;     /* keep sum live, store nothing new */
    return NULL;
}

/* ---- statistics helpers --------------------------------------------------- */

/*
 * The issue-17 ratios, paired by round: in each round both schemes ran
 * back to back (shuffled order), so their ratio in that round shares the
 * round's machine state.  The median of those ratios, with the quartiles
 * of the spread, moves less with slow drifts of a noisy machine (a VM
 * whose speed changes over seconds) than the ratio of the two medians in
 * the tables above, which pairs numbers from different rounds.  Both are
 * printed; neither is a target by itself.
 */
static void
paired_ratios(double (*val)[NSCHEME], double (*cval)[NSCHEME], int rounds)
{
    static const struct { int num, den; const char *what; } pr[] = {
        { S_POOL, S_GLIBC, "smr pool (default) / glibc" },
        { S_POOL_DEF, S_GLIBC, "smr pool (deferred) / glibc" },
        { S_POOL_LAZY, S_POOL, "lazy pool / default pool" },
        { S_POOL, S_MIMALLOC, "smr pool (default) / mimalloc" },
        { S_RETIRE, S_CK, "smr_retire / ck_epoch_call" },
    };
    double *x = malloc(sizeof(*x) * (size_t)rounds);

    if (x == NULL)
        abort();
    printf("  paired by round (median of per-round ratios, quartiles):\n");
    printf("  %-30s %22s %22s\n", "ratio", "wall", "CPU");
    for (size_t k = 0; k < sizeof(pr) / sizeof(pr[0]); k++) {
        char col[2][48];

        if (!g_have[pr[k].num] || !g_have[pr[k].den])
            continue;
        for (int c = 0; c < 2; c++) {
            double (*v)[NSCHEME] = c == 0 ? val : cval;
            double q1, q3;

            for (int r = 0; r < rounds; r++)
                x[r] = v[r][pr[k].num] / v[r][pr[k].den];
            qsort(x, (size_t)rounds, sizeof(*x), cmp_double);
            q1 = x[(rounds - 1) / 4];
            q3 = x[(3 * (rounds - 1) + 3) / 4];
            snprintf(col[c], sizeof(col[c]), "%.3f [%.3f-%.3f]",
                median(x, rounds), q1, q3);
        }
        printf("  %-30s %22s %22s\n", pr[k].what, col[0], col[1]);
    }
    free(x);
}

static uint64_t g_rng;

static size_t
rss_bytes(void)
{
    unsigned long size, res;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f == NULL)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &res) != 2)
        res = 0;
    fclose(f);
    return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

static double
loadavg1(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");

    if (f != NULL) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

/* ---- pools: fresh per thread count, so that pending_peak is that count's --- */

static struct smr_pool_stats g_tot;    /* default-domain pool, all counts */

static void
pools_create(void)
{
    g_pool = smr_pool_create("bench", OBJ_SIZE, 0, g_smr, 0);
    g_pool_lazy = smr_pool_create("bench_lazy", OBJ_SIZE, 0, g_smr_lazy, 0);
    g_pool_def = smr_pool_create("bench_deferred", OBJ_SIZE, 0, g_smr_def,
        0);
    g_pool_plain = smr_pool_create("bench_plain", OBJ_SIZE, 0, NULL, 0);
    if (g_pool == NULL || g_pool_lazy == NULL || g_pool_def == NULL ||
        g_pool_plain == NULL) {
        perror("bench_pool: setup");
        exit(1);
    }
}

static void
pools_destroy(void)
{
    struct smr_pool_stats ps;

    smr_pool_stats(g_pool, &ps);
    g_tot.allocs += ps.allocs;
    g_tot.frees += ps.frees;
    g_tot.buckets_queued += ps.buckets_queued;
    g_tot.buckets_reused += ps.buckets_reused;
    g_tot.sync_reclaims += ps.sync_reclaims;
    g_tot.slabs = ps.slabs;
    g_tot.bytes = ps.bytes;
    smr_pool_destroy(g_pool);
    smr_pool_destroy(g_pool_lazy);
    smr_pool_destroy(g_pool_def);
    smr_pool_destroy(g_pool_plain);
}

/* ---- one thread count: rounds of shuffled schemes -------------------------- */

static void
run_threads(int nthreads, int rounds, uint64_t iters, int csv)
{
    struct worker *w = aligned_alloc(CL, sizeof(*w) * (size_t)nthreads);
    double val[rounds][NSCHEME], cval[rounds][NSCHEME];
    int order[NSCHEME], n = 0;
    /* Pool rows: frees and sync reclaims over the timed rounds (deltas of
     * smr_pool_stats around each run), peak RSS seen after a timed loop. */
    uint64_t pfrees[NSCHEME] = {0}, psync[NSCHEME] = {0}, rsync0;
    struct smr_retire_stats rs0;
    size_t prss[NSCHEME] = {0};

    pthread_t rt[MAXT];

    memset(w, 0, sizeof(*w) * (size_t)nthreads);
    memset(val, 0, sizeof(val));
    memset(cval, 0, sizeof(cval));
    smr_retire_stats(g_smr, &rs0);
    rsync0 = rs0.sync_reclaims;
    pools_create();
    g_rstop = 0;
    for (int i = 0; i < g_nreaders; i++)
        if (pthread_create(&rt[i], NULL, reader_main,
            (void *)(intptr_t)(nthreads + i)) != 0) {
            perror("bench_pool: pthread_create (reader)");
            exit(1);
        }
    for (int s = 0; s < NSCHEME; s++)
        if (g_have[s])
            order[n++] = s;
    g_quit = 0;
    pthread_barrier_init(&g_start, NULL, (unsigned)nthreads + 1);
    pthread_barrier_init(&g_done, NULL, (unsigned)nthreads + 1);
    for (int i = 0; i < nthreads; i++) {
        w[i].id = i;
        if (pthread_create(&w[i].th, NULL, worker_main, &w[i]) != 0) {
            perror("bench_pool: pthread_create");
            exit(1);
        }
    }
    for (int r = -1; r < rounds; r++) {          /* -1: warm-up */
        bench_shuffle(order, n, &g_rng);
        g_iters = r < 0 ? (iters + 9) / 10 : iters;
        for (int k = 0; k < n; k++) {
            int s = order[k];
            struct smr_pool_stats b0, b1;
            smr_pool_t pp = smr_pool_of(s);
            g_cur = s;
            if (pp != NULL)
                smr_pool_stats(pp, &b0);
            pthread_barrier_wait(&g_start);
            pthread_barrier_wait(&g_done);
            if (s == S_RETIRE && r >= 0 && w[0].rss > prss[s])
                prss[s] = w[0].rss;
            if (pp != NULL && r >= 0) {
                smr_pool_stats(pp, &b1);
                pfrees[s] += b1.frees - b0.frees;
                psync[s] += b1.sync_reclaims - b0.sync_reclaims;
                if (w[0].rss > prss[s])
                    prss[s] = w[0].rss;
            }
            if (s == S_URCU)
                urcu_memb_barrier();   /* flush call_rcu frees, untimed */
            if (s == S_RETIRE) {
                struct smr_retire_stats rs;

                smr_barrier(g_smr);    /* flush retired frees, untimed */
                smr_retire_stats(g_smr, &rs);
                if (r >= 0) {
                    psync[s] += rs.sync_reclaims - rsync0;
                    pfrees[s] += (uint64_t)nthreads * g_iters;
                }
                rsync0 = rs.sync_reclaims;
            }
            if (r < 0)
                continue;
            double mx = 0, cmx = 0;
            for (int i = 0; i < nthreads; i++) {
                if (w[i].ns > mx)
                    mx = w[i].ns;
                if (w[i].cpu_ns > cmx)
                    cmx = w[i].cpu_ns;
            }
            val[r][s] = mx;
            cval[r][s] = cmx;
        }
    }
    g_quit = 1;
    pthread_barrier_wait(&g_start);
    for (int i = 0; i < nthreads; i++)
        pthread_join(w[i].th, NULL);
    g_rstop = 1;
    for (int i = 0; i < g_nreaders; i++)
        pthread_join(rt[i], NULL);
    pthread_barrier_destroy(&g_start);
    pthread_barrier_destroy(&g_done);

    double med[NSCHEME], lo[NSCHEME], hi[NSCHEME];
    double cmed[NSCHEME], clo[NSCHEME], chi[NSCHEME];
    for (int s = 0; s < NSCHEME; s++) {
        double col[rounds], ccol[rounds];
        lo[s] = clo[s] = 1e300;
        hi[s] = chi[s] = 0;
        for (int r = 0; r < rounds; r++) {
            col[r] = val[r][s];
            lo[s] = col[r] < lo[s] ? col[r] : lo[s];
            hi[s] = col[r] > hi[s] ? col[r] : hi[s];
            ccol[r] = cval[r][s];
            clo[s] = ccol[r] < clo[s] ? ccol[r] : clo[s];
            chi[s] = ccol[r] > chi[s] ? ccol[r] : chi[s];
        }
        med[s] = g_have[s] ? median(col, rounds) : 0;
        cmed[s] = g_have[s] ? median(ccol, rounds) : 0;
    }
    /* The pool columns: blocking frees per million and pending_peak. */
    double bpm[NSCHEME] = {0};
    size_t ppeak[NSCHEME] = {0};
    for (int s = 0; s < NSCHEME; s++) {
        smr_pool_t pp = smr_pool_of(s);
        struct smr_pool_stats ps;

        bpm[s] = pfrees[s] ? (double)psync[s] * 1e6 / (double)pfrees[s] : 0;
        if (pp == NULL)
            continue;
        smr_pool_stats(pp, &ps);
        ppeak[s] = ps.pending_peak;
    }
    printf("\n%d thread%s%s, %d reader%s:\n", nthreads,
        nthreads > 1 ? "s" : "", g_pin ? " (pinned, one PU each)" :
        " (not pinned)", g_nreaders, g_nreaders == 1 ? "" : "s");
    if (g_rate != 0)
        printf("  paced: at most %llu frees/s per thread (ns per op is the "
            "pacing, not the cost)\n", (unsigned long long)g_rate);
    printf("  %-30s %8s %15s %8s %8s %8s %8s %8s %10s %9s %8s\n",
        "scheme (ns per op)", "median", "min-max", "/glibc", "/jemal",
        "/mimal", "/ck_ep", "/urcu", "blocking/M", "pend_peak", "RSS MiB");
    for (int s = 0; s < NSCHEME; s++) {
        char range[32];
        if (!g_have[s]) {
            printf("  %-30s %8s\n", scheme_name[s], "n/a");
            continue;
        }
        snprintf(range, sizeof(range), "%.2f-%.2f", lo[s], hi[s]);
        printf("  %-30s %8.2f %15s", scheme_name[s], med[s], range);
        int refs[] = { S_GLIBC, S_JEMALLOC, S_MIMALLOC, S_CK, S_URCU };
        for (int k = 0; k < 5; k++) {
            if (g_have[refs[k]] && med[refs[k]] > 0)
                printf(" %8.3f", med[s] / med[refs[k]]);
            else
                printf(" %8s", "n/a");
        }
        if (smr_pool_of(s) != NULL)
            printf(" %10.2f %9zu %8.1f", bpm[s], ppeak[s],
                prss[s] / 1048576.0);
        else if (s == S_RETIRE)
            printf(" %10.2f %9s %8.1f", bpm[s], "-", prss[s] / 1048576.0);
        printf("\n");
    }
    /* CPU time (CLOCK_THREAD_CPUTIME_ID): leaves out time a thread was
     * preempted, which on a loaded machine swings the wall-clock table. */
    printf("  CPU time per op (max over threads, median over rounds):\n");
    printf("  %-30s %8s %15s %8s %8s %8s %8s %8s\n", "scheme (CPU ns per op)",
        "median", "min-max", "/glibc", "/jemal", "/mimal", "/ck_ep", "/urcu");
    for (int s = 0; s < NSCHEME; s++) {
        char range[32];
        if (!g_have[s])
            continue;
        snprintf(range, sizeof(range), "%.2f-%.2f", clo[s], chi[s]);
        printf("  %-30s %8.2f %15s", scheme_name[s], cmed[s], range);
        int refs[] = { S_GLIBC, S_JEMALLOC, S_MIMALLOC, S_CK, S_URCU };
        for (int k = 0; k < 5; k++) {
            if (g_have[refs[k]] && cmed[refs[k]] > 0)
                printf(" %8.3f", cmed[s] / cmed[refs[k]]);
            else
                printf(" %8s", "n/a");
        }
        printf("\n");
    }
    paired_ratios(val, cval, rounds);
    if (csv) {
        printf("csv,threads,scheme,median_ns,min_ns,max_ns,"
            "blocking_per_m,pending_peak,rss_mib,rate,cpu_median_ns\n");
        for (int s = 0; s < NSCHEME; s++) {
            if (!g_have[s])
                continue;
            printf("csv,%d,%s,%.3f,%.3f,%.3f", nthreads, scheme_key[s],
                med[s], lo[s], hi[s]);
            if (smr_pool_of(s) != NULL) {
                printf(",%.3f,%zu,%.2f", bpm[s], ppeak[s],
                    prss[s] / 1048576.0);
            } else {
                printf(",,,");
            }
            printf(",%llu,%.3f\n", (unsigned long long)g_rate, cmed[s]);
        }
    }
    fflush(stdout);
    pools_destroy();
    free(w);
}

/* ---- stalled reader ----------------------------------------------------------- */

struct stall {
    smr_pool_t pool;
    smr_t smr;
    unsigned hold_ms;
    volatile int stop;
    volatile int inside;
    volatile uint64_t t_exit;          /* reader left its section */
    volatile uint64_t q_at_exit;       /* buckets queued by then */
    volatile uint64_t ops;
    volatile uint64_t ops_during;      /* churn ops while the reader sat */
};

static void *
stall_churn(void *arg)
{
    struct stall *st = arg;
    void *ring[RING];
    unsigned i = 0;
    int pu;

    pin(0, &pu);
    for (int k = 0; k < RING; k++)
        ring[k] = smr_pool_alloc(st->pool);
    while (!st->stop) {
        void *o = smr_pool_alloc(st->pool);
        *(volatile uint64_t *)((char *)o + 32) = i;
        smr_pool_free(st->pool, ring[i & (RING - 1)]);
        ring[i & (RING - 1)] = o;
        i++;
        __atomic_store_n(&st->ops, st->ops + 1, __ATOMIC_RELAXED);
    }
    for (int k = 0; k < RING; k++)
        smr_pool_free(st->pool, ring[k]);
    return NULL;
}

static void *
stall_reader(void *arg)
{
    struct stall *st = arg;
    struct smr_pool_stats ps;
    int pu;

    pin(1, &pu);
    smr_enter(st->smr);
    uint64_t ops0 = __atomic_load_n(&st->ops, __ATOMIC_RELAXED);
    __atomic_store_n(&st->inside, 1, __ATOMIC_RELEASE);
    struct timespec ts = { st->hold_ms / 1000,
        (long)(st->hold_ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
    st->ops_during = __atomic_load_n(&st->ops, __ATOMIC_RELAXED) - ops0;
    smr_exit(st->smr);
    uint64_t t = now_ns();
    smr_pool_stats(st->pool, &ps);
    st->q_at_exit = ps.buckets_queued;
    __atomic_store_n(&st->t_exit, t, __ATOMIC_RELEASE);
    return NULL;
}

static void
run_stall(unsigned hold_ms, size_t cap)
{
    struct smr_pool_args a;
    struct smr_pool_stats ps;
    static struct stall st;
    pthread_t tc, tr;
    size_t peak_pending = 0, peak_rss = 0, rss0, rss;
    uint64_t drained = 0, t_exit, deadline;

    memset(&a, 0, sizeof(a));
    a.size = OBJ_SIZE;
    a.smr = smr_create("stall", 0, 0);
    a.pending_cap = cap;
    memset((void *)&st, 0, sizeof(st));
    st.smr = a.smr;
    st.pool = smr_pool_create_args("stall", &a);
    st.hold_ms = hold_ms;
    if (st.smr == NULL || st.pool == NULL) {
        perror("bench_pool: stall setup");
        exit(1);
    }
    rss0 = rss_bytes();
    pthread_create(&tc, NULL, stall_churn, &st);
    /* Let the churn reach its steady state first. */
    struct timespec warm = { 0, 200 * 1000000L };
    nanosleep(&warm, NULL);
    pthread_create(&tr, NULL, stall_reader, &st);
    deadline = now_ns() + (uint64_t)(hold_ms + 3000) * 1000000u;
    for (;;) {
        smr_pool_stats(st.pool, &ps);
        if (ps.pending > peak_pending)
            peak_pending = ps.pending;
        rss = rss_bytes();
        if (rss > peak_rss)
            peak_rss = rss;
        t_exit = __atomic_load_n(&st.t_exit, __ATOMIC_ACQUIRE);
        if (t_exit != 0 && ps.buckets_reused >= st.q_at_exit) {
            drained = now_ns() - t_exit;
            break;
        }
        if (now_ns() > deadline)
            break;
        struct timespec ts = { 0, t_exit != 0 ? 20000 : 200000 };
        nanosleep(&ts, NULL);
    }
    st.stop = 1;
    pthread_join(tr, NULL);
    pthread_join(tc, NULL);
    smr_pool_stats(st.pool, &ps);
    if (ps.pending_peak > peak_pending)
        peak_pending = ps.pending_peak;
    printf("\nstalled reader: 1 churn thread (outside sections), 1 reader "
        "inside a section for %u ms\n", hold_ms);
    printf("  pending cap %zu%s (in force at the end: %zu, raised %llu "
        "times), bucket_max 128: bound = 1 x 128 + cap = %zu\n",
        ps.pending_cap, cap == 0 ? " (the default)" : "",
        ps.pending_cap_now, (unsigned long long)ps.cap_raises,
        ps.pending_cap + 128);
    printf("  peak pending:        %zu objects (pool's pending_peak %zu)\n",
        peak_pending, (size_t)ps.pending_peak);
    printf("  peak RSS:            %.1f MiB (%.1f MiB before the churn, "
        "+%.1f MiB)\n", peak_rss / 1048576.0, rss0 / 1048576.0,
        (peak_rss > rss0 ? peak_rss - rss0 : 0) / 1048576.0);
    printf("  churn during stall:  %llu ops (frees past the cap wait: %llu "
        "sync reclaims)\n", (unsigned long long)st.ops_during,
        (unsigned long long)ps.sync_reclaims);
    if (drained != 0 && bench_show_targets())
        printf("  queue drained:       %.3f ms after the reader's exit "
            "(target <= 10 ms) %s\n", drained / 1e6,
            drained <= 10000000u ? "met" : "MISSED");
    else if (drained != 0)
        printf("  queue drained:       %.3f ms after the reader's exit\n",
            drained / 1e6);
    else
        printf("  queue drained:       NOT within 3 s\n");
    fflush(stdout);
    smr_pool_destroy(st.pool);
    smr_destroy(st.smr);
}

/* ---- main ------------------------------------------------------------------ */

static void
load_allocators(char **argv)
{
    void *h;

    g_have[S_POOL] = g_have[S_POOL_LAZY] = g_have[S_POOL_DEF] = 1;
    g_have[S_POOL_PLAIN] = 1;
    g_have[S_GLIBC] = g_have[S_URCU] = 1;
    g_have[S_RETIRE] = g_have[S_CK] = 1;
    h = dlopen("libjemalloc.so.2", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL && strstr(dlerror(), "static TLS") != NULL &&
        getenv("BENCH_POOL_REEXEC") == NULL) {
        /* One re-exec with room for jemalloc's initial-exec TLS. */
        setenv("GLIBC_TUNABLES", "glibc.rtld.optional_static_tls=65536", 1);
        setenv("BENCH_POOL_REEXEC", "1", 1);
        execv("/proc/self/exe", argv);
        perror("bench_pool: re-exec");
    }
    if (h != NULL) {
        je_malloc = (void *(*)(size_t))dlsym(h, "malloc");
        je_free = (void (*)(void *))dlsym(h, "free");
        g_have[S_JEMALLOC] = je_malloc != NULL && je_free != NULL;
    }
    h = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL);
    if (h != NULL) {
        mi_malloc_fn = (void *(*)(size_t))dlsym(h, "mi_malloc");
        mi_free_fn = (void (*)(void *))dlsym(h, "mi_free");
        g_have[S_MIMALLOC] = mi_malloc_fn != NULL && mi_free_fn != NULL;
    }
}

static void
usage(FILE *f)
{
    fprintf(f,
        "usage: bench_pool [-t 1,2] [-r rounds] [-n ops] [--hold ms] "
        "[--cap n] [--no-stall] [--rate N] [--readers N] [--seed S] "
        "[--csv]\n"
        "  -t LIST    thread counts, comma separated (default 1,2)\n"
        "  -r N       rounds, >= 5 (default 11); order shuffled per round\n"
        "  -n N       ops per thread per scheme per round (default 2000000)\n"
        "  --hold MS  stalled reader: time inside the section (default 2000)\n"
        "  --cap N    stalled reader: the pool's pending_cap (default 0: "
        "the pool's default)\n"
        "  --no-stall skip the stalled-reader run\n"
        "  --rate N   at most N frees per second per thread (spin-paced on\n"
        "             CLOCK_MONOTONIC; default 0: full speed); ns per op\n"
        "             then shows the pacing: read blocking/M, pend_peak, RSS\n"
        "  --readers N threads running short read sections of each scheme's\n"
        "             own kind the whole time (default 1; 0: none)\n"
        "  SMR pool rows also print blocking/M (sync reclaims per million\n"
        "  frees over the timed rounds), pend_peak (the pool's pending_peak;\n"
        "  fresh pools per thread count) and RSS MiB (process RSS after the\n"
        "  timed loop, max over rounds)\n"
        "environment: SMR_BENCH_TARGETS=0 leaves the targets out\n");
}

int
main(int argc, char **argv)
{
    int rounds = 11, csv = 0, stall = 1, tl[16], ntl = 0;
    uint64_t iters = 2000000, seed = 0;
    unsigned hold = 2000;
    size_t cap = 0;
    const char *tlist = "1,2";
    static const struct option longopts[] = {
        {"csv", no_argument, NULL, 'c'},
        {"seed", required_argument, NULL, 's'},
        {"hold", required_argument, NULL, 'H'},
        {"cap", required_argument, NULL, 'C'},
        {"no-stall", no_argument, NULL, 'N'},
        {"rate", required_argument, NULL, 'R'},
        {"readers", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = getopt_long(argc, argv, "t:r:n:h", longopts, NULL)) != -1) {
        switch (c) {
        case 't': tlist = optarg; break;
        case 'r': rounds = atoi(optarg); break;
        case 'n': iters = strtoull(optarg, NULL, 0); break;
        case 's': seed = strtoull(optarg, NULL, 0); break;
        case 'H': hold = (unsigned)atoi(optarg); break;
        case 'C': cap = (size_t)strtoull(optarg, NULL, 0); break;
        case 'N': stall = 0; break;
        case 'R': g_rate = strtoull(optarg, NULL, 0); break;
        case 'D': g_nreaders = atoi(optarg); break;
        case 'c': csv = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    for (const char *p = tlist; *p != '\0' && ntl < 16;) {
        tl[ntl] = atoi(p);
        if (tl[ntl] < 1 || tl[ntl] > MAXT) {
            usage(stderr);
            return 2;
        }
        ntl++;
        p += strcspn(p, ",");
        p += *p == ',';
    }
    if (optind != argc || rounds < 5 || iters < 1 || ntl == 0 ||
        g_nreaders < 0 || g_nreaders > MAXT) {
        usage(stderr);
        return 2;
    }
    load_allocators(argv);
    g_rng = seed != 0 ? seed : now_ns();

    hwloc_topology_init(&g_topo);
    hwloc_topology_load(g_topo);
    g_npu = hwloc_get_nbobjs_by_type(g_topo, HWLOC_OBJ_PU);
    if (g_npu < 1)
        g_npu = 1;
    g_pin = g_npu > 1;

    ck_epoch_init(&g_ck);
    g_smr = smr_create("bench_pool", 0, 0);
    g_smr_lazy = smr_create("bench_pool_lazy", 0, SMR_LAZY);
    g_smr_def = smr_create("bench_pool_deferred", 64, SMR_DEFERRED);
    if (g_smr == NULL || g_smr_lazy == NULL || g_smr_def == NULL) {
        perror("bench_pool: smr_create");
        return 1;
    }

    printf("bench_pool (B5): ns per op = alloc one %d-byte object + store "
        "+ free the oldest of a %d-object ring per thread\n", OBJ_SIZE,
        RING);
    printf("  compiler:   %s; libsmr %d, %d-bit sequences\n", __VERSION__,
        smr_version(), SMR_SEQ32 ? 32 : 64);
    printf("  PUs:        %d per hwloc; %s\n", g_npu, g_pin ?
        "threads pinned one per PU" : "not pinned");
    printf("  allocators: jemalloc %s, mimalloc %s (dlopen RTLD_LOCAL)\n",
        g_have[S_JEMALLOC] ? "loaded" : "MISSING",
        g_have[S_MIMALLOC] ? "loaded" : "MISSING");
    printf("  lazy pool:  %s readers\n", smr_lazy_is_fence_free(g_smr_lazy) ?
        "fence-free" : "fenced (fallback)");
    printf("  rate:       %s\n", g_rate ? "paced (--rate)" : "full speed");
    printf("  readers:    %d, short sections of each scheme's own kind, "
        "back to back, pinned after the writers\n", g_nreaders);
    if (g_rate)
        printf("              at most %llu frees/s per thread\n",
            (unsigned long long)g_rate);
    printf("  rounds:     %d x %llu ops per thread per scheme, shuffled; "
        "value = max over threads; median over rounds\n", rounds,
        (unsigned long long)iters);
    printf("  load avg:   %.2f at start\n", loadavg1());
    fflush(stdout);

    for (int k = 0; k < ntl; k++)
        run_threads(tl[k], rounds, iters, csv);

    struct smr_pool_stats ps = g_tot;
    printf("\nsmr pool after the runs: %llu allocs, %llu buckets queued, "
        "%llu reused (%.1f objects per bucket), %llu sync reclaims, "
        "%zu slabs (%.1f MiB) in the last thread count's pool\n",
        (unsigned long long)ps.allocs,
        (unsigned long long)ps.buckets_queued,
        (unsigned long long)ps.buckets_reused,
        ps.buckets_queued ? (double)ps.frees / ps.buckets_queued : 0.0,
        (unsigned long long)ps.sync_reclaims, ps.slabs, ps.bytes / 1048576.0);
    if (stall)
        run_stall(hold, cap);
    printf("\n  load avg:   %.2f at end\n", loadavg1());
    smr_destroy(g_smr);
    smr_destroy(g_smr_lazy);
    smr_destroy(g_smr_def);
    hwloc_topology_destroy(g_topo);
    return 0;
}
