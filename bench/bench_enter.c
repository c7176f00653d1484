/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * bench_enter: cost of one read-section enter/exit pair, libsmr against the
 * usual anchors, all in one binary and one run.
 *
 * Schemes (each thread runs `enter; p = load_acquire(shared); sink += p->v;
 * exit` in a tight loop, so no section is empty):
 *
 *   smr inline      smr_enter/smr_exit, the default inline header path
 *   smr exported    the library's exported smr_enter/smr_exit, called
 *                   through pointers the compiler cannot see through
 *   smr lazy        smr_lazy_enter/smr_lazy_exit on an SMR_LAZY domain
 *   bare xchg       xchg(slot, relaxed load of a clock); store(slot, 0, rel)
 *                   on a per-thread cache-line-padded slot: the floor for a
 *                   fenced publish on x86
 *   urcu-memb       liburcu urcu_memb_read_lock/unlock (_LGPL_SOURCE inline)
 *   ck_epoch        Concurrency Kit ck_epoch_begin/ck_epoch_end(rec, NULL)
 *
 * Method: T worker threads (hwloc-pinned, one PU each), R rounds; in each
 * round the scheme order is shuffled and every scheme runs N pairs per
 * thread, timed per thread with CLOCK_MONOTONIC (the headline table) and,
 * separately, CLOCK_THREAD_CPUTIME_ID (time on CPU: leaves out preemption,
 * the number to compare on a busy machine).  A round's value for a scheme
 * is the MAX over threads of that thread's elapsed/N (the slowest thread);
 * the tables report the median over rounds, the min-max range, and ratios
 * of medians.  No writer runs: this is the uncontended read path.
 */
#define _GNU_SOURCE
#define _LGPL_SOURCE

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <getopt.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hwloc.h>
#include <urcu/urcu-memb.h>
#include <ck_epoch.h>

#include <smr.h>

#include "bench_util.h"

/* bench_exported.c: compiled with -DSMR_NO_INLINE, so it sees only the
 * exported declarations. */
void bench_exported_fns(void (**enter)(smr_t), void (**exit_)(smr_t));

enum scheme {
    S_SMR_INLINE,
    S_SMR_EXPORTED,
    S_SMR_LAZY,
    S_XCHG,
    S_URCU_MEMB,
    S_CK_EPOCH,
    NSCHEME
};

static const char *const scheme_name[NSCHEME] = {
    [S_SMR_INLINE] = "smr_enter/exit (inline)",
    [S_SMR_EXPORTED] = "smr_enter/exit (exported call)",
    [S_SMR_LAZY] = "smr_lazy_enter/exit",
    [S_XCHG] = "bare xchg publish",
    [S_URCU_MEMB] = "urcu-memb read_lock/unlock",
    [S_CK_EPOCH] = "ck_epoch_begin/end",
};
static const char *const scheme_key[NSCHEME] = {
    [S_SMR_INLINE] = "smr_inline",
    [S_SMR_EXPORTED] = "smr_exported",
    [S_SMR_LAZY] = "smr_lazy",
    [S_XCHG] = "xchg",
    [S_URCU_MEMB] = "urcu_memb",
    [S_CK_EPOCH] = "ck_epoch",
};

#define CL 64

/*
 * The object every section loads through a shared pointer.  Both the
 * pointer and the object's field sit at byte 32 of their cache lines.
 * Every scheme's per-thread state that a section stores to (libsmr's slot
 * head, the bare xchg slot, urcu's reader ctr, ck's record head) is at
 * bytes 0-15 of its line, so a body load can never share address bits
 * 11:0 with a pending section store.  Such "4K aliasing" makes the load
 * wait for the store to commit; when the allocator happened to put
 * libsmr's slot at the page offset of g_obj it cost ~4 ns per pair, an
 * accident of this program's layout, not of any scheme.
 */
struct obj {
    char pad[32];
    uint64_t v;
};
static struct obj g_obj_storage __attribute__((aligned(CL))) = {{0}, 1};
static struct {
    char pad[32];
    struct obj *p;
} g_objp __attribute__((aligned(CL))) = {{0}, &g_obj_storage};
#define g_obj (g_objp.p)

/*
 * Per-thread state that sections store to is spaced PAIR bytes apart for
 * every scheme (libsmr's slots are, on x86-64): Intel's L2 prefetcher
 * moves lines in 128-byte pairs, so 64-byte neighbours still interfere.
 */
#define PAIR 128

/* Bare xchg scheme: a clock alone on its line, per-thread padded slots. */
static uint64_t g_clock __attribute__((aligned(CL))) = 1;
struct xslot {
    uint64_t v;
} __attribute__((aligned(PAIR)));

static smr_t g_smr, g_smr_lazy;
static ck_epoch_t g_epoch;
typedef void (*sec_fn)(smr_t);
/* Loaded once per run into a local; volatile so the compiler cannot know
 * the target and inline it. */
static sec_fn volatile g_exp_enter, g_exp_exit;

static hwloc_topology_t g_topo;
static int g_npu;
static int g_pin;

static pthread_barrier_t g_start, g_done;
static volatile int g_quit;
static volatile int g_cur;
static volatile uint64_t g_iters;

struct worker {
    int id;
    int pu_os;         /* OS index of the PU it is pinned to, -1 if none */
    pthread_t th;
    double ns;         /* last run: ns per pair, CLOCK_MONOTONIC */
    double cpu_ns;     /* same, CLOCK_THREAD_CPUTIME_ID */
    uint64_t sink;
    struct xslot *xs;
    ck_epoch_record_t *rec;
} __attribute__((aligned(CL)));

#define BODY(sink)                                                      \
    ((sink) += __atomic_load_n(&g_obj, __ATOMIC_ACQUIRE)->v)

/* One noinline loop per scheme, so each gets the same treatment. */
static __attribute__((noinline)) uint64_t
run_smr_inline(uint64_t n)
{
    smr_t d = g_smr;
    uint64_t sink = 0;

    for (uint64_t i = 0; i < n; i++) {
        smr_enter(d);
        BODY(sink);
        smr_exit(d);
    }
    return sink;
}

static __attribute__((noinline)) uint64_t
run_smr_exported(uint64_t n)
{
    smr_t d = g_smr;
    sec_fn en = g_exp_enter, ex = g_exp_exit;
    uint64_t sink = 0;

    for (uint64_t i = 0; i < n; i++) {
        en(d);
        BODY(sink);
        ex(d);
    }
    return sink;
}

static __attribute__((noinline)) uint64_t
run_smr_lazy(uint64_t n)
{
    smr_t d = g_smr_lazy;
    uint64_t sink = 0;

    for (uint64_t i = 0; i < n; i++) {
        smr_lazy_enter(d);
        BODY(sink);
        smr_lazy_exit(d);
    }
    return sink;
}

static __attribute__((noinline)) uint64_t
run_xchg(struct xslot *s, uint64_t n)
{
    uint64_t sink = 0;

    for (uint64_t i = 0; i < n; i++) {
        (void)__atomic_exchange_n(&s->v,
            __atomic_load_n(&g_clock, __ATOMIC_RELAXED), __ATOMIC_SEQ_CST);
        /* Same compiler-only fence as libsmr's x86 publish. */
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        BODY(sink);
        __atomic_store_n(&s->v, 0, __ATOMIC_RELEASE);
    }
    return sink;
}

static __attribute__((noinline)) uint64_t
run_urcu_memb(uint64_t n)
{
    uint64_t sink = 0;

    for (uint64_t i = 0; i < n; i++) {
        urcu_memb_read_lock();
        BODY(sink);
        urcu_memb_read_unlock();
    }
    return sink;
}

static __attribute__((noinline)) uint64_t
run_ck_epoch(ck_epoch_record_t *rec, uint64_t n)
{
    uint64_t sink = 0;

    for (uint64_t i = 0; i < n; i++) {
        ck_epoch_begin(rec, NULL);
        BODY(sink);
        ck_epoch_end(rec, NULL);
    }
    return sink;
}

static uint64_t
run_scheme(struct worker *w, int s, uint64_t n)
{
    switch (s) {
    case S_SMR_INLINE:   return run_smr_inline(n);
    case S_SMR_EXPORTED: return run_smr_exported(n);
    case S_SMR_LAZY:     return run_smr_lazy(n);
    case S_XCHG:         return run_xchg(w->xs, n);
    case S_URCU_MEMB:    return run_urcu_memb(n);
    case S_CK_EPOCH:     return run_ck_epoch(w->rec, n);
    }
    abort();
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;

    w->pu_os = g_pin ? bench_pin(g_topo, g_npu, w->id, "bench_enter") : -1;
    urcu_memb_register_thread();
    ck_epoch_register(&g_epoch, w->rec, NULL);
    if (smr_thread_attach(g_smr) != 0 || smr_thread_attach(g_smr_lazy) != 0) {
        fprintf(stderr, "bench_enter: smr_thread_attach failed\n");
        exit(1);
    }

    for (;;) {
        pthread_barrier_wait(&g_start);
        if (g_quit)
            break;
        int s = g_cur;
        uint64_t n = g_iters;
        uint64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        uint64_t t0 = now_ns();
        w->sink += run_scheme(w, s, n);
        uint64_t t1 = now_ns();
        uint64_t c1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        w->ns = (double)(t1 - t0) / (double)n;
        w->cpu_ns = (double)(c1 - c0) / (double)n;
        pthread_barrier_wait(&g_done);
    }

    smr_thread_detach(g_smr);
    smr_thread_detach(g_smr_lazy);
    ck_epoch_unregister(w->rec);
    urcu_memb_unregister_thread();
    return NULL;
}

/* ---- reporting helpers ------------------------------------------------ */

static uint64_t g_rng;

/*
 * Which TLS model does the loaded libsmr use for its thread-local state?
 * A shared object with initial-exec TLS relocations carries DF_STATIC_TLS
 * in its DT_FLAGS; the header declares smr__self initial-exec.
 */
struct tls_probe {
    const char *path;   /* libsmr's path, from dladdr */
    int found;
    int static_tls;
    int has_tls;
};

static int
tls_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct tls_probe *tp = arg;

    if (info->dlpi_name == NULL || tp->path == NULL ||
        strcmp(info->dlpi_name, tp->path) != 0)
        return 0;
    tp->found = 1;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_TLS)
            tp->has_tls = 1;
        if (ph->p_type != PT_DYNAMIC)
            continue;
        const ElfW(Dyn) *dyn =
            (const ElfW(Dyn) *)(info->dlpi_addr + ph->p_vaddr);
        for (; dyn->d_tag != DT_NULL; dyn++) {
            if (dyn->d_tag == DT_FLAGS && (dyn->d_un.d_val & DF_STATIC_TLS))
                tp->static_tls = 1;
        }
    }
    return 1;
}

/* Table, targets and (optionally) CSV for one clock's rounds. */
static void
report(const char *title, const char *key, double (*val)[NSCHEME],
    double (*mean)[NSCHEME], int rounds, int nthreads, uint64_t iters,
    int csv)
{
    double med[NSCHEME], lo[NSCHEME], hi[NSCHEME], medmean[NSCHEME];
    double *col = malloc(sizeof(*col) * (size_t)rounds);
    double *colm = malloc(sizeof(*colm) * (size_t)rounds);

    if (col == NULL || colm == NULL)
        abort();
    for (int s = 0; s < NSCHEME; s++) {
        lo[s] = 1e300;
        hi[s] = 0;
        for (int r = 0; r < rounds; r++) {
            col[r] = val[r][s];
            colm[r] = mean[r][s];
            if (col[r] < lo[s])
                lo[s] = col[r];
            if (col[r] > hi[s])
                hi[s] = col[r];
        }
        med[s] = median(col, rounds);
        medmean[s] = median(colm, rounds);
    }
    free(col);
    free(colm);

    printf("%s\n", title);
    printf("%-32s %8s %17s %7s %7s %7s %7s\n", "scheme (ns per pair)",
        "median", "min-max", "/xchg", "/ck", "/urcu", "/inline");
    for (int s = 0; s < NSCHEME; s++) {
        char range[32];
        snprintf(range, sizeof(range), "%.2f-%.2f", lo[s], hi[s]);
        printf("%-32s %8.2f %17s %7.3f %7.3f %7.3f %7.3f\n", scheme_name[s],
            med[s], range, med[s] / med[S_XCHG], med[s] / med[S_CK_EPOCH],
            med[s] / med[S_URCU_MEMB], med[s] / med[S_SMR_INLINE]);
    }

    double r_x = med[S_SMR_INLINE] / med[S_XCHG];
    double r_ck = med[S_SMR_INLINE] / med[S_CK_EPOCH];
    double d_exp = med[S_SMR_EXPORTED] - med[S_SMR_INLINE];
    if (bench_show_targets()) {
        printf("targets (ratio of medians):\n");
        printf("  smr_enter pair / bare xchg pair   = %.3f     (target <= 1.10)  %s\n",
            r_x, r_x <= 1.10 ? "met" : "MISSED");
        printf("  smr_enter pair / ck_epoch pair    = %.3f     (target <= 1.05)  %s\n",
            r_ck, r_ck <= 1.05 ? "met" : "MISSED");
        printf("  exported pair - inline pair       = %+.2f ns (target <= +1 ns) %s\n\n",
            d_exp, d_exp <= 1.0 ? "met" : "MISSED");
    } else {
        /* SMR_BENCH_TARGETS=0 (scripts/demo): the comparison, no verdicts. */
        printf("libsmr against the anchors in this run (ratio of medians):\n");
        printf("  smr_enter pair / bare xchg pair       = %.3f\n", r_x);
        printf("  smr_enter pair / ck_epoch pair        = %.3f\n", r_ck);
        printf("  smr_lazy_enter pair / urcu-memb pair  = %.3f\n",
            med[S_SMR_LAZY] / med[S_URCU_MEMB]);
        printf("  exported pair - inline pair           = %+.2f ns\n\n",
            d_exp);
    }

    if (csv) {
        printf("clock,scheme,median_ns,min_ns,max_ns,median_of_thread_mean_ns,"
            "x_xchg,x_ck_epoch,x_urcu_memb,x_inline,threads,rounds,"
            "iterations\n");
        for (int s = 0; s < NSCHEME; s++)
            printf("%s,%s,%.3f,%.3f,%.3f,%.3f,%.4f,%.4f,%.4f,%.4f,%d,%d,%llu\n",
                key, scheme_key[s], med[s], lo[s], hi[s], medmean[s],
                med[s] / med[S_XCHG], med[s] / med[S_CK_EPOCH],
                med[s] / med[S_URCU_MEMB], med[s] / med[S_SMR_INLINE],
                nthreads, rounds, (unsigned long long)iters);
        printf("\n");
    }
}

/* The 1-minute load average: other work on the machine skews the numbers. */
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

static void
usage(FILE *f)
{
    fprintf(f,
        "usage: bench_enter [-t threads] [-r rounds] [-n iterations] "
        "[--seed S] [--csv]\n"
        "  -t N       worker threads, one per PU (default 2)\n"
        "  -r N       rounds, >= 11 (default 11); scheme order shuffled "
        "per round\n"
        "  -n N       enter/exit pairs per thread per scheme per round "
        "(default 10000000)\n"
        "  --seed S   shuffle seed (default: time)\n"
        "  --csv      also print the summary as CSV\n"
        "environment: SMR_BENCH_TARGETS=0 prints the ratios without the "
        "targets\n");
}

int
main(int argc, char **argv)
{
    int nthreads = 2, rounds = 11, csv = 0;
    uint64_t iters = 10000000, seed = 0;
    int have_seed = 0;
    static const struct option longopts[] = {
        {"csv", no_argument, NULL, 'c'},
        {"seed", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = getopt_long(argc, argv, "t:r:n:h", longopts, NULL)) != -1) {
        switch (c) {
        case 't': nthreads = atoi(optarg); break;
        case 'r': rounds = atoi(optarg); break;
        case 'n': iters = strtoull(optarg, NULL, 0); break;
        case 's': seed = strtoull(optarg, NULL, 0); have_seed = 1; break;
        case 'c': csv = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || nthreads < 1 || rounds < 11 || iters < 1) {
        if (rounds < 11)
            fprintf(stderr, "bench_enter: need at least 11 rounds\n");
        usage(stderr);
        return 2;
    }
    if (!have_seed)
        seed = now_ns();
    g_rng = seed;

    /* ---- topology and pinning ---- */
    hwloc_topology_init(&g_topo);
    hwloc_topology_load(g_topo);
    g_npu = hwloc_get_nbobjs_by_type(g_topo, HWLOC_OBJ_PU);
    if (g_npu < 1)
        g_npu = 1;
    g_pin = g_npu > 1;

    /* ---- the schemes' state ---- */
    g_smr = smr_create("bench_enter", 0, 0);
    g_smr_lazy = smr_create("bench_enter_lazy", 0, SMR_LAZY);
    if (g_smr == NULL || g_smr_lazy == NULL) {
        perror("bench_enter: smr_create");
        return 1;
    }
    ck_epoch_init(&g_epoch);

    /* The library's own exported functions: dlsym on libsmr's handle finds
     * libsmr's definitions (not a copy in this executable); a static link
     * falls back to the -DSMR_NO_INLINE translation unit's references. */
    const char *exp_src = "SMR_NO_INLINE translation unit";
    struct tls_probe tp = {0};
    Dl_info dli;
    if (dladdr((void *)&smr_create, &dli) != 0 && dli.dli_fname != NULL) {
        tp.path = dli.dli_fname;
        void *h = dlopen(dli.dli_fname, RTLD_NOW | RTLD_NOLOAD);
        if (h != NULL) {
            void *e = dlsym(h, "smr_enter"), *x = dlsym(h, "smr_exit");
            if (e != NULL && x != NULL) {
                g_exp_enter = (sec_fn)e;
                g_exp_exit = (sec_fn)x;
                exp_src = "dlsym on libsmr's handle";
            }
        }
    }
    if (g_exp_enter == NULL) {
        sec_fn e, x;
        bench_exported_fns(&e, &x);
        g_exp_enter = e;
        g_exp_exit = x;
    }
    dl_iterate_phdr(tls_cb, &tp);

    char model[256];
    cpu_model(model, sizeof(model));
    printf("bench_enter: ns per enter/exit pair, section = one acquire "
        "load of a shared pointer + dereference\n");
    printf("  cpu:        %s (%d PUs per hwloc)\n", model, g_npu);
    printf("  compiler:   %s\n", __VERSION__);
    printf("  libsmr:     %d (%s), %d-bit sequences\n", smr_version(),
        tp.path != NULL ? tp.path : "?", SMR_SEQ32 ? 32 : 64);
    if (tp.found && tp.has_tls)
        printf("  TLS model:  header: initial-exec; loaded library: %s\n",
            tp.static_tls ? "initial-exec (DF_STATIC_TLS set)"
                          : "dynamic (no DF_STATIC_TLS)");
    else
        printf("  TLS model:  header: initial-exec; library linked "
            "statically into this executable\n");
    printf("  exported:   via %s\n", exp_src);
    printf("  smr lazy:   smr_lazy_is_fence_free() = %s\n",
        smr_lazy_is_fence_free(g_smr_lazy) ? "true (fence-free readers)"
                                           : "false (fenced fallback)");
    printf("  urcu-memb:  sys_membarrier %s\n",
        urcu_memb_has_sys_membarrier ? "in use (fence-free readers)"
                                     : "unavailable (readers fence)");
    printf("  threads:    %d, %s\n", nthreads,
        !g_pin ? "not pinned (hwloc reports 1 PU)"
        : nthreads > g_npu ? "pinned round-robin (MORE threads than PUs!)"
                           : "each pinned to its own PU (hwloc)");
    printf("  rounds:     %d x %llu pairs per thread per scheme, order "
        "shuffled (seed %llu)\n", rounds, (unsigned long long)iters,
        (unsigned long long)seed);
    printf("  statistic:  per round, the MAX over threads of ns/pair; "
        "median and min-max over rounds;\n"
        "              timed with CLOCK_MONOTONIC and, separately, "
        "CLOCK_THREAD_CPUTIME_ID\n");
    double load0 = loadavg1();
    printf("  load avg:   %.2f at start (1 min; other work skews results)\n\n",
        load0);
    fflush(stdout);

    /* ---- threads ---- */
    struct worker *w = aligned_alloc(CL, sizeof(*w) * (size_t)nthreads);
    struct xslot *xs = aligned_alloc(PAIR, sizeof(*xs) * (size_t)nthreads);
    if (w == NULL || xs == NULL) {
        perror("bench_enter");
        return 1;
    }
    memset(w, 0, sizeof(*w) * (size_t)nthreads);
    memset(xs, 0, sizeof(*xs) * (size_t)nthreads);
    pthread_barrier_init(&g_start, NULL, (unsigned)nthreads + 1);
    pthread_barrier_init(&g_done, NULL, (unsigned)nthreads + 1);
    for (int i = 0; i < nthreads; i++) {
        w[i].id = i;
        w[i].xs = &xs[i];
        w[i].rec = aligned_alloc(PAIR, (sizeof(ck_epoch_record_t) + PAIR - 1) /
            PAIR * PAIR);
        if (w[i].rec == NULL) {
            perror("bench_enter");
            return 1;
        }
        memset(w[i].rec, 0, sizeof(ck_epoch_record_t));
        if (pthread_create(&w[i].th, NULL, worker_main, &w[i]) != 0) {
            perror("bench_enter: pthread_create");
            return 1;
        }
    }

    /* [clock][round][scheme]: clock 0 monotonic, 1 thread CPU time. */
    double (*val)[NSCHEME] = calloc((size_t)rounds * 2, sizeof(*val));
    double (*mean)[NSCHEME] = calloc((size_t)rounds * 2, sizeof(*mean));
    if (val == NULL || mean == NULL) {
        perror("bench_enter");
        return 1;
    }
    int order[NSCHEME];
    for (int s = 0; s < NSCHEME; s++)
        order[s] = s;

    /* Round -1 is a warm-up (a tenth of the work), not recorded. */
    for (int r = -1; r < rounds; r++) {
        bench_shuffle(order, NSCHEME, &g_rng);
        g_iters = r < 0 ? (iters + 9) / 10 : iters;
        for (int k = 0; k < NSCHEME; k++) {
            int s = order[k];
            g_cur = s;
            pthread_barrier_wait(&g_start);
            pthread_barrier_wait(&g_done);
            if (r < 0)
                continue;
            for (int c = 0; c < 2; c++) {
                double mx = 0, sum = 0;
                for (int i = 0; i < nthreads; i++) {
                    double x = c == 0 ? w[i].ns : w[i].cpu_ns;
                    if (x > mx)
                        mx = x;
                    sum += x;
                }
                val[c * rounds + r][s] = mx;
                mean[c * rounds + r][s] = sum / nthreads;
            }
        }
    }
    g_quit = 1;
    pthread_barrier_wait(&g_start);
    uint64_t sink = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(w[i].th, NULL);
        sink += w[i].sink;
    }
    if (sink == 0)
        printf("(impossible: sink 0)\n");
    if (g_pin) {
        printf("  pinned to PU os_index:");
        for (int i = 0; i < nthreads; i++)
            printf(" %d", w[i].pu_os);
        printf("\n");
    }
    printf("  load avg:   %.2f at end\n\n", loadavg1());

    report("CLOCK_MONOTONIC (wall time; the headline)", "monotonic",
        val, mean, rounds, nthreads, iters, csv);
    report("CLOCK_THREAD_CPUTIME_ID (time on CPU; excludes preemption, "
        "compare when the machine is busy)", "thread_cpu", val + rounds,
        mean + rounds, rounds, nthreads, iters, csv);

    smr_destroy(g_smr_lazy);
    smr_destroy(g_smr);
    for (int i = 0; i < nthreads; i++)
        free(w[i].rec);
    free(w);
    free(xs);
    free(val);
    free(mean);
    hwloc_topology_destroy(g_topo);
    return 0;
}
