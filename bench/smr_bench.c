/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * smr-bench: the libsmr benchmark suite, one driver for every scheme.
 *
 * Schemes
 *   smr           libsmr default domain, smr_enter/smr_exit, SMR pool
 *   smr-lazy      SMR_LAZY domain, smr_lazy_enter/exit, SMR pool
 *   smr-deferred  SMR_DEFERRED domain (limit 64), smr_enter/exit, SMR pool
 *   urcu-memb     liburcu memb flavour (_LGPL_SOURCE inline), malloc +
 *                 call_rcu(free)
 *   urcu-qsbr     liburcu QSBR (quiescent state every 256 sections in B1,
 *                 every 64 ops in B2), malloc + call_rcu(free)
 *   ck-epoch      Concurrency Kit ck_epoch_begin/end(rec, NULL), malloc +
 *                 ck_epoch_call(free), ck_epoch_poll every 64 calls,
 *                 ck_epoch_barrier at thread end
 *   rwlock        pthread_rwlock read-locked readers, free() after the
 *                 write unlock
 *   leak          no read-side protocol, nodes never freed during a run
 *                 (bump-allocated from 1 MiB chunks, released after the
 *                 run): the ceiling
 *   xchg          (B1 only) a bare xchg publish + release store on a
 *                 per-thread slot: the floor for a fenced publish on x86
 *
 * Benchmarks
 *   B1 primitive: T readers loop { enter; p = load_acquire(shared); sink +=
 *      p->key; exit }; one extra writer thread swaps the pointer every
 *      never / 100 us / 1 us and reclaims the old object through the
 *      scheme's natural path.  ns per section (mean over readers).
 *   B2 hash set: 2^16 buckets (chained), keys from 2^17, prefilled half
 *      full; per-bucket lock (pthread_rwlock, write-locked) for updates,
 *      lock-free lookups (read-locked for rwlock); mixes 100/0, 90/10,
 *      50/50 lookup/update (update = insert or delete a random key).
 *      Mops/s and ratio to leak.
 *   B3 stalled reader: npu workers run 50/50 while one more thread sits in
 *      a read section for 2 s.  Unreclaimed objects sampled every 10 ms
 *      (pool stats `pending` for libsmr; callbacks queued minus run for
 *      urcu/ck), RSS, and the drain time: from the reader's exit until
 *      every object retired before it has been reclaimed (pool: every
 *      bucket queued before it has been reused), polled every 100 us.
 *   B4 latency: grace period (smr_advance + smr_poll loop, smr_synchronize,
 *      synchronize_rcu, ck_epoch_synchronize) with readers running, and
 *      free-to-reuse (pool: free until the same object comes back from
 *      alloc under churn; urcu/ck: call until the free callback runs).
 *   B6 hash table: <smr_ht.h> against liburcu's cds_lfht (urcu-memb), 64 Ki
 *      keys, 90/10 and 50/50, lookups/s, updates/s, RSS, peak pending; and
 *      lookups while the table grows 1 Ki -> 1 Mi keys and shrinks back,
 *      against a presized table (bench/smr_bench_ht.c).
 *
 * Method: hwloc pinning, one thread per PU (round-robin when
 * oversubscribed; no pinning with 1 PU).  Thread counts 1..npu plus 2*npu.
 * R rounds; in each round every configuration runs every scheme in a
 * freshly shuffled order.  Tables give the median over rounds and the
 * min-max range.  A scheme that cannot run is skipped and says why.
 */
#define _GNU_SOURCE
#define _LGPL_SOURCE

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hwloc.h>
#include <urcu/urcu-memb.h>
#ifdef SMR_BENCH_HAVE_QSBR
#include <urcu/urcu-qsbr.h>
/* urcu/call-rcu.h is include-guarded: its first inclusion (memb's) names
 * only the memb symbols, so declare QSBR's call_rcu and barrier here. */
void urcu_qsbr_call_rcu(struct rcu_head *head,
    void (*func)(struct rcu_head *head));
void urcu_qsbr_barrier(void);
#endif
#include <ck_epoch.h>

#include <smr.h>

#include "bench_util.h"
#include "smr_bench_ht.h"

#define CL 64
#define AI inline __attribute__((always_inline))

enum {
    S_SMR, S_LAZY, S_DEFERRED, S_URCU_MEMB, S_URCU_QSBR, S_CK, S_RWLOCK,
    S_LEAK, S_XCHG, NS
};
static const char *const sname[NS] = {
    "smr", "smr-lazy", "smr-deferred", "urcu-memb", "urcu-qsbr", "ck-epoch",
    "rwlock", "leak", "xchg",
};
static int s_ok[NS];            /* runnable */
static const char *s_why[NS];   /* why not */
static int s_sel[NS];           /* selected on the command line */

static int
is_smr(int s)
{
    return s == S_SMR || s == S_LAZY || s == S_DEFERRED;
}

/* ---- the node every benchmark allocates -------------------------------- */

struct node {
    uint64_t key;
    SMR_POINTER(struct node *) next;
    union {
        struct rcu_head rcu;
        ck_epoch_entry_t ck;
    } u;
};

struct chunk {
    struct chunk *next;
};
#define CHUNK_SIZE (1u << 20)

struct tctx {
    uint64_t xslot;             /* xchg scheme: this thread's slot */
    char pad0[CL - 8];
    int id, s, pu;
    pthread_t th;
    uint64_t rng;
    ck_epoch_record_t *rec;
    struct chunk *chunks;       /* leak: bump chunks */
    char *bump, *bump_end;
    unsigned ckn;
    uint64_t ops, sink, el_ns, cpu_ns;
    double ns;
    void *arg;
} __attribute__((aligned(CL)));

/* ---- globals ----------------------------------------------------------- */

static hwloc_topology_t g_topo;
static int g_npu, g_pin;
static smr_t g_dom[NS];
static smr_pool_t g_pool;       /* the current run's pool (smr schemes) */
static ck_epoch_t g_epoch;
static pthread_rwlock_t g_b1lock = PTHREAD_RWLOCK_INITIALIZER;
static uint64_t g_clock __attribute__((aligned(CL))) = 1;
static SMR_POINTER(struct node *) g_b1ptr __attribute__((aligned(CL)));
static volatile int g_stop __attribute__((aligned(CL)));
static pthread_barrier_t g_start;
static int g_count;             /* count retire/reclaim (B3) */
static uint64_t g_retired __attribute__((aligned(CL)));
static uint64_t g_reclaimed __attribute__((aligned(CL)));
/* B4 free-to-reuse: the watched object and when it was freed. */
static struct node *volatile g_watch;
static uint64_t g_watch_t0;
static uint64_t *g_lat;
static volatile int g_nlat;
static int g_maxlat;
static FILE *g_csv;
static int g_quick;

static void
sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u),
        (long)(ns % 1000000000u)};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static AI uint64_t
rng_next(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* ---- reclamation callbacks --------------------------------------------- */

static void
note_reclaimed(struct node *n)
{
    if (g_count)
        __atomic_fetch_add(&g_reclaimed, 1, __ATOMIC_RELAXED);
    if (n == g_watch) {
        int i = g_nlat;
        if (i < g_maxlat) {
            g_lat[i] = now_ns() - g_watch_t0;
            g_nlat = i + 1;
        }
        g_watch = NULL;
    }
}

static void
rcu_free_cb(struct rcu_head *h)
{
    struct node *n = (struct node *)((char *)h - offsetof(struct node, u.rcu));

    note_reclaimed(n);
    free(n);
}

static void
ck_free_cb(ck_epoch_entry_t *e)
{
    struct node *n = (struct node *)((char *)e - offsetof(struct node, u.ck));

    note_reclaimed(n);
    free(n);
}

/* ---- per-scheme operations (s is a constant after inlining) ------------- */

static AI void
rd_enter(int s, smr_t d, struct tctx *t, pthread_rwlock_t *l)
{
    switch (s) {
    case S_SMR:       smr_enter(d); break;
    case S_LAZY:      smr_lazy_enter(d); break;
    case S_DEFERRED:  smr_enter(d); break;
    case S_URCU_MEMB: urcu_memb_read_lock(); break;
#ifdef SMR_BENCH_HAVE_QSBR
    case S_URCU_QSBR: urcu_qsbr_read_lock(); break;
#endif
    case S_CK:        ck_epoch_begin(t->rec, NULL); break;
    case S_RWLOCK:    pthread_rwlock_rdlock(l); break;
    case S_XCHG:
        (void)__atomic_exchange_n(&t->xslot,
            __atomic_load_n(&g_clock, __ATOMIC_RELAXED), __ATOMIC_SEQ_CST);
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        break;
    default:          __atomic_signal_fence(__ATOMIC_SEQ_CST); break;
    }
}

static AI void
rd_exit(int s, smr_t d, struct tctx *t, pthread_rwlock_t *l)
{
    switch (s) {
    case S_SMR:       smr_exit(d); break;
    case S_LAZY:      smr_lazy_exit(d); break;
    case S_DEFERRED:  smr_exit(d); break;
    case S_URCU_MEMB: urcu_memb_read_unlock(); break;
#ifdef SMR_BENCH_HAVE_QSBR
    case S_URCU_QSBR: urcu_qsbr_read_unlock(); break;
#endif
    case S_CK:        ck_epoch_end(t->rec, NULL); break;
    case S_RWLOCK:    pthread_rwlock_unlock(l); break;
    case S_XCHG:      __atomic_store_n(&t->xslot, 0, __ATOMIC_RELEASE); break;
    default:          __atomic_signal_fence(__ATOMIC_SEQ_CST); break;
    }
}

static AI void
quiescent(int s)
{
#ifdef SMR_BENCH_HAVE_QSBR
    if (s == S_URCU_QSBR)
        urcu_qsbr_quiescent_state();
#endif
}

static struct node *
bump_alloc(struct tctx *t)
{
    if (t->bump == NULL || t->bump + sizeof(struct node) > t->bump_end) {
        struct chunk *c = malloc(CHUNK_SIZE);
        if (c == NULL)
            abort();
        c->next = t->chunks;
        t->chunks = c;
        t->bump = (char *)c + CL;
        t->bump_end = (char *)c + CHUNK_SIZE;
    }
    struct node *n = (struct node *)t->bump;
    t->bump += sizeof(struct node);
    return n;
}

static void
bump_release(struct tctx *t)
{
    struct chunk *c;

    while ((c = t->chunks) != NULL) {
        t->chunks = c->next;
        free(c);
    }
    t->bump = t->bump_end = NULL;
}

static AI struct node *
node_alloc(int s, struct tctx *t)
{
    struct node *n;

    if (is_smr(s))
        n = smr_pool_alloc(g_pool);
    else if (s == S_LEAK || s == S_XCHG)
        n = bump_alloc(t);
    else
        n = malloc(sizeof(*n));
    if (n == NULL)
        abort();
    return n;
}

/* Free an unlinked node; the caller holds no lock and no section. */
static AI void
node_retire(int s, struct tctx *t, struct node *n)
{
    if (g_count && s != S_LEAK && s != S_XCHG)
        __atomic_fetch_add(&g_retired, 1, __ATOMIC_RELAXED);
    switch (s) {
    case S_SMR: case S_LAZY: case S_DEFERRED:
        smr_pool_free(g_pool, n);
        break;
    case S_URCU_MEMB:
        urcu_memb_call_rcu(&n->u.rcu, rcu_free_cb);
        break;
#ifdef SMR_BENCH_HAVE_QSBR
    case S_URCU_QSBR:
        urcu_qsbr_call_rcu(&n->u.rcu, rcu_free_cb);
        break;
#endif
    case S_CK:
        ck_epoch_call(t->rec, &n->u.ck, ck_free_cb);
        if ((++t->ckn & 63) == 0)
            ck_epoch_poll(t->rec);
        break;
    case S_RWLOCK:
        free(n);
        break;
    default:
        break;
    }
}

/* ---- threads ------------------------------------------------------------ */

static void
pin(struct tctx *t)
{
    t->pu = g_pin ? bench_pin(g_topo, g_npu, t->id, "smr-bench") : -1;
}

static void
thread_begin(struct tctx *t)
{
    int s = t->s;

    pin(t);
    t->rng = 0x9e3779b97f4a7c15ull * (uint64_t)(t->id + 1) ^ now_ns();
    if (t->rng == 0)
        t->rng = 1;
    if (is_smr(s) && smr_thread_attach(g_dom[s]) != 0) {
        fprintf(stderr, "smr-bench: smr_thread_attach failed\n");
        exit(1);
    }
    if (s == S_URCU_MEMB)
        urcu_memb_register_thread();
#ifdef SMR_BENCH_HAVE_QSBR
    if (s == S_URCU_QSBR)
        urcu_qsbr_register_thread();
#endif
    if (s == S_CK) {
        t->rec = ck_epoch_recycle(&g_epoch, NULL);
        if (t->rec == NULL) {
            t->rec = aligned_alloc(CL, (sizeof(ck_epoch_record_t) + CL - 1) /
                CL * CL);
            if (t->rec == NULL)
                abort();
            memset(t->rec, 0, sizeof(*t->rec));
            ck_epoch_register(&g_epoch, t->rec, NULL);
        }
    }
}

static void
thread_end(struct tctx *t)
{
    int s = t->s;

    if (is_smr(s))
        smr_thread_detach(g_dom[s]);
    if (s == S_URCU_MEMB)
        urcu_memb_unregister_thread();
#ifdef SMR_BENCH_HAVE_QSBR
    if (s == S_URCU_QSBR)
        urcu_qsbr_unregister_thread();
#endif
    if (s == S_CK) {
        ck_epoch_barrier(t->rec);   /* run every pending callback */
        ck_epoch_unregister(t->rec);
        t->rec = NULL;
    }
}

/* Start n threads running fn on ctx[0..n-1] (ctx[i].s preset). */
static void
spawn(struct tctx *ctx, int n, void *(*fn)(void *))
{
    for (int i = 0; i < n; i++) {
        if (pthread_create(&ctx[i].th, NULL, fn, &ctx[i]) != 0) {
            perror("smr-bench: pthread_create");
            exit(1);
        }
    }
}

static void
join(struct tctx *ctx, int n)
{
    for (int i = 0; i < n; i++)
        pthread_join(ctx[i].th, NULL);
}

/* ---- statistics ---------------------------------------------------------- */

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

struct summ {
    double med, lo, hi;
    int n;
};

static struct summ
summarize(const double *v, int n)
{
    struct summ r = {0, 0, 0, n};
    double t[n > 0 ? n : 1];

    if (n == 0)
        return r;
    memcpy(t, v, sizeof(double) * (size_t)n);
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    r.med = (n & 1) ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
    r.lo = t[0];
    r.hi = t[n - 1];
    return r;
}

static void
csv_row(const char *bench, const char *scheme, int threads,
    const char *param, const char *metric, struct summ m)
{
    if (g_csv == NULL)
        return;
    fprintf(g_csv, "%s,%s,%d,%s,%s,%.6g,%.6g,%.6g,%d\n", bench, scheme,
        threads, param, metric, m.med, m.lo, m.hi, m.n);
}

static void
shuffle(int *a, int n, uint64_t *rng)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rng_next(rng) % (uint64_t)(i + 1));
        int x = a[i];
        a[i] = a[j];
        a[j] = x;
    }
}

/* ---- per-run pool ----------------------------------------------------- */

static int
run_setup(int s)
{
    if (is_smr(s)) {
        g_pool = smr_pool_create(sname[s], sizeof(struct node),
            _Alignof(struct node), g_dom[s], 0);
        if (g_pool == NULL)
            return -1;
    }
    return 0;
}

static void
run_teardown(int s)
{
    if (is_smr(s)) {
        smr_pool_destroy(g_pool);
        g_pool = NULL;
    }
    if (s == S_URCU_MEMB)
        urcu_memb_barrier();
#ifdef SMR_BENCH_HAVE_QSBR
    if (s == S_URCU_QSBR)
        urcu_qsbr_barrier();
#endif
}

/* Free a node that no reader can see any more (after the run). */
static void
node_free_quiet(int s, struct node *n)
{
    if (is_smr(s))
        smr_pool_free(g_pool, n);
    else if (s != S_LEAK && s != S_XCHG)
        free(n);
}

/* ====================================================================== */
/* B1: primitive                                                          */
/* ====================================================================== */

static uint64_t g_b1_period;    /* writer period in ns; 0: no writer */
static uint64_t g_b1_swaps;

/*
 * B1 user layout (issue 17): rows smr-user and smr-lazy-user run the smr
 * and smr-lazy sections the way a program laid out the ordinary way does:
 * the handle read from a plain global smr_t at every enter and exit (not
 * a local the compiler keeps in a register across the section), the
 * shared pointer a plain global beside it, nothing aligned.  The writer
 * swaps whichever pointer the run reads (g_b1_slot).  bench/bench_user.c
 * measures the same against every anchor and splits the difference.
 */
/*
 * Rows smr-static and smr-lazy-static: the same loop on a statically
 * declared domain (SMR_DEFINE_STATIC[_LAZY], smr_static_enter/exit); for
 * their runs g_dom[s] is that domain, so the writer's pool frees and the
 * readers' sections meet on one domain.
 */
#define B1U_N 4
static const char *const b1u_name[B1U_N] = {"smr-user", "smr-lazy-user",
    "smr-static", "smr-lazy-static"};
static const int b1u_scheme[B1U_N] = {S_SMR, S_LAZY, S_SMR, S_LAZY};
static const int b1u_kind[B1U_N] = {1, 1, 2, 2};
static int g_b1_user;           /* 1: a user-layout row, 2: a static one */
SMR_DEFINE_STATIC(b1_static);
SMR_DEFINE_STATIC_LAZY(b1_static_lazy);
static smr_t g_b1u_dom;
static struct node *g_b1u_ptr;
static struct node **g_b1_slot = &g_b1ptr.__ptr;

static AI void
b1_reader_loop(int s, struct tctx *t)
{
    uint64_t n = 0, sink = 0, t0, t1;
    smr_t const d = g_dom[s];

    pthread_barrier_wait(&g_start);
    uint64_t c0 = cpu_now_ns();
    t0 = now_ns();
    do {    /* at least one batch, even if the run ended before we ran */
        for (int i = 0; i < 256; i++) {
            rd_enter(s, d, t, &g_b1lock);
            struct node *p = __atomic_load_n(&g_b1ptr.__ptr, __ATOMIC_ACQUIRE);
            sink += p->key;
            rd_exit(s, d, t, &g_b1lock);
        }
        n += 256;
        quiescent(s);
    } while (!g_stop);
    t1 = now_ns();
    t->cpu_ns = cpu_now_ns() - c0;
    t->ops = n;
    t->sink = sink;
    t->el_ns = t1 - t0;
    t->ns = (double)(t1 - t0) / (double)n;
}

#define DISPATCH(fn, s, t)                                              \
    do {                                                                \
        switch (s) {                                                    \
        case S_SMR: fn(S_SMR, t); break;                                \
        case S_LAZY: fn(S_LAZY, t); break;                              \
        case S_DEFERRED: fn(S_DEFERRED, t); break;                      \
        case S_URCU_MEMB: fn(S_URCU_MEMB, t); break;                    \
        case S_URCU_QSBR: fn(S_URCU_QSBR, t); break;                    \
        case S_CK: fn(S_CK, t); break;                                  \
        case S_RWLOCK: fn(S_RWLOCK, t); break;                          \
        case S_LEAK: fn(S_LEAK, t); break;                              \
        case S_XCHG: fn(S_XCHG, t); break;                              \
        }                                                               \
    } while (0)

/* b1_reader_loop's timing around the user layout's section. */
static AI void
b1u_reader_loop(int lazy, struct tctx *t)
{
    uint64_t n = 0, sink = 0, t0, t1;

    pthread_barrier_wait(&g_start);
    uint64_t c0 = cpu_now_ns();
    t0 = now_ns();
    do {
        for (int i = 0; i < 256; i++) {
            if (lazy)
                smr_lazy_enter(g_b1u_dom);
            else
                smr_enter(g_b1u_dom);
            sink += __atomic_load_n(&g_b1u_ptr, __ATOMIC_ACQUIRE)->key;
            if (lazy)
                smr_lazy_exit(g_b1u_dom);
            else
                smr_exit(g_b1u_dom);
        }
        n += 256;
    } while (!g_stop);
    t1 = now_ns();
    t->cpu_ns = cpu_now_ns() - c0;
    t->ops = n;
    t->sink = sink;
    t->el_ns = t1 - t0;
    t->ns = (double)(t1 - t0) / (double)n;
}

/* b1_reader_loop's timing around a static domain's section. */
static AI void
b1s_reader_loop(int lazy, struct tctx *t)
{
    uint64_t n = 0, sink = 0, t0, t1;

    pthread_barrier_wait(&g_start);
    uint64_t c0 = cpu_now_ns();
    t0 = now_ns();
    do {
        for (int i = 0; i < 256; i++) {
            if (lazy)
                smr_static_enter(b1_static_lazy);
            else
                smr_static_enter(b1_static);
            sink += __atomic_load_n(&g_b1u_ptr, __ATOMIC_ACQUIRE)->key;
            if (lazy)
                smr_static_exit(b1_static_lazy);
            else
                smr_static_exit(b1_static);
        }
        n += 256;
    } while (!g_stop);
    t1 = now_ns();
    t->cpu_ns = cpu_now_ns() - c0;
    t->ops = n;
    t->sink = sink;
    t->el_ns = t1 - t0;
    t->ns = (double)(t1 - t0) / (double)n;
}

static void *
b1_reader(void *arg)
{
    struct tctx *t = arg;

    thread_begin(t);
    if (g_b1_user == 2)
        b1s_reader_loop(t->s == S_LAZY, t);
    else if (g_b1_user && t->s == S_LAZY)
        b1u_reader_loop(1, t);
    else if (g_b1_user)
        b1u_reader_loop(0, t);
    else
        DISPATCH(b1_reader_loop, t->s, t);
    thread_end(t);
    return NULL;
}

static void *
b1_writer(void *arg)
{
    struct tctx *t = arg;
    int s = t->s;
    uint64_t period = g_b1_period, swaps = 0, key = 2;

    thread_begin(t);
    pthread_barrier_wait(&g_start);
    uint64_t next = now_ns() + period;
    while (!g_stop) {
        uint64_t now = now_ns();
        if (now < next) {
            if (period >= 50000) {
#ifdef SMR_BENCH_HAVE_QSBR
                if (s == S_URCU_QSBR)
                    urcu_qsbr_thread_offline();
#endif
                sleep_ns(next - now);
#ifdef SMR_BENCH_HAVE_QSBR
                if (s == S_URCU_QSBR)
                    urcu_qsbr_thread_online();
#endif
            } else {
                while (now_ns() < next && !g_stop)
                    cpu_relax();
            }
            continue;
        }
        next += period;
        if (next + 100 * period < now)
            next = now + period;
        struct node *n = node_alloc(s, t), *old;
        n->key = key++;
        if (s == S_RWLOCK) {
            pthread_rwlock_wrlock(&g_b1lock);
            old = g_b1ptr.__ptr;
            g_b1ptr.__ptr = n;
            pthread_rwlock_unlock(&g_b1lock);
        } else {
            old = __atomic_exchange_n(g_b1_slot, n, __ATOMIC_RELEASE);
        }
        node_retire(s, t, old);
        quiescent(s);
        swaps++;
    }
    g_b1_swaps = swaps;
    thread_end(t);
    return NULL;
}

/* One B1 run: returns ns per section (mean over readers), -1 on skip. */
static double
b1_run(int s, int nthr, uint64_t period, uint64_t dur_ns, double *swaps_s,
    double *cpu_ns)
{
    struct tctx *ctx = aligned_alloc(CL, sizeof(*ctx) * (size_t)(nthr + 1));
    struct tctx mainctx;
    int nw = period ? 1 : 0;

    memset(ctx, 0, sizeof(*ctx) * (size_t)(nthr + 1));
    memset(&mainctx, 0, sizeof(mainctx));
    if (run_setup(s) != 0) {
        free(ctx);
        return -1;
    }
    struct node *first = node_alloc(s, &mainctx);
    first->key = 1;
    g_b1_slot = g_b1_user ? &g_b1u_ptr : &g_b1ptr.__ptr;
    g_b1u_dom = g_dom[s];
    *g_b1_slot = first;
    g_b1_period = period;
    g_b1_swaps = 0;
    g_stop = 0;
    pthread_barrier_init(&g_start, NULL, (unsigned)(nthr + nw + 1));
    for (int i = 0; i < nthr + nw; i++) {
        ctx[i].id = i;
        ctx[i].s = s;
    }
    spawn(ctx, nthr, b1_reader);
    if (nw)
        spawn(&ctx[nthr], 1, b1_writer);
    pthread_barrier_wait(&g_start);
    sleep_ns(dur_ns);
    g_stop = 1;
    join(ctx, nthr + nw);
    pthread_barrier_destroy(&g_start);

    double sum = 0, csum = 0;
    for (int i = 0; i < nthr; i++) {
        sum += ctx[i].ns;
        csum += (double)ctx[i].cpu_ns / (double)ctx[i].ops;
    }
    *cpu_ns = csum / nthr;
    *swaps_s = (double)g_b1_swaps / ((double)dur_ns / 1e9);
    /* Readers are gone: the last object is nobody's.  urcu: barrier
     * first, so that this run's callbacks are done. */
    if (!is_smr(s))
        run_teardown(s);
    node_free_quiet(s, *g_b1_slot);
    *g_b1_slot = NULL;
    if (is_smr(s))
        run_teardown(s);
    for (int i = 0; i < nthr + nw; i++)
        bump_release(&ctx[i]);
    bump_release(&mainctx);
    free(ctx);
    return sum / nthr;
}

/* ====================================================================== */
/* B2: hash set                                                           */
/* ====================================================================== */

#define NBUCKET_LOG 16
#define NBUCKET (1u << NBUCKET_LOG)
#define NKEY (1u << 17)

struct bucket {
    pthread_rwlock_t lock;
    SMR_POINTER(struct node *) head;
} __attribute__((aligned(CL)));

static struct bucket *g_set;
static unsigned g_lookup_pct;

static AI struct bucket *
bucket_of(uint64_t key)
{
    return &g_set[(key * 0x9e3779b97f4a7c15ull) >> (64 - NBUCKET_LOG)];
}

static AI int
set_lookup(struct bucket *b, uint64_t key)
{
    for (struct node *p = __atomic_load_n(&b->head.__ptr, __ATOMIC_ACQUIRE);
         p != NULL; p = __atomic_load_n(&p->next.__ptr, __ATOMIC_ACQUIRE))
        if (p->key == key)
            return 1;
    return 0;
}

static AI void
set_insert(int s, struct tctx *t, struct bucket *b, uint64_t key)
{
    pthread_rwlock_wrlock(&b->lock);
    struct node *h = b->head.__ptr;
    for (struct node *p = h; p != NULL; p = p->next.__ptr) {
        if (p->key == key) {
            pthread_rwlock_unlock(&b->lock);
            return;
        }
    }
    struct node *n = node_alloc(s, t);
    n->key = key;
    __atomic_store_n(&n->next.__ptr, h, __ATOMIC_RELAXED);
    __atomic_store_n(&b->head.__ptr, n, __ATOMIC_RELEASE);
    pthread_rwlock_unlock(&b->lock);
}

static AI void
set_delete(int s, struct tctx *t, struct bucket *b, uint64_t key)
{
    pthread_rwlock_wrlock(&b->lock);
    struct node **prev = &b->head.__ptr, *p;
    for (p = *prev; p != NULL; prev = &p->next.__ptr, p = *prev) {
        if (p->key == key) {
            __atomic_store_n(prev, p->next.__ptr, __ATOMIC_RELEASE);
            break;
        }
    }
    pthread_rwlock_unlock(&b->lock);
    if (p != NULL)
        node_retire(s, t, p);
}

static AI void
b2_loop(int s, struct tctx *t)
{
    uint64_t n = 0, sink = 0, t0, t1;
    unsigned lk = g_lookup_pct;
    smr_t const d = g_dom[s];

    pthread_barrier_wait(&g_start);
    uint64_t c0 = cpu_now_ns();
    t0 = now_ns();
    do {
        for (int i = 0; i < 64; i++) {
            uint64_t r = rng_next(&t->rng);
            uint64_t key = (r >> 8) & (NKEY - 1);
            unsigned op = (unsigned)((r >> 32) % 100);
            struct bucket *b = bucket_of(key);
            if (op < lk) {
                rd_enter(s, d, t, &b->lock);
                sink += (uint64_t)set_lookup(b, key);
                rd_exit(s, d, t, &b->lock);
            } else if (r >> 63) {
                set_insert(s, t, b, key);
            } else {
                set_delete(s, t, b, key);
            }
        }
        n += 64;
        quiescent(s);
    } while (!g_stop);
    t1 = now_ns();
    t->cpu_ns = cpu_now_ns() - c0;
    t->ops = n;
    t->sink = sink;
    t->el_ns = t1 - t0;
}

static void *
b2_worker(void *arg)
{
    struct tctx *t = arg;

    thread_begin(t);
    DISPATCH(b2_loop, t->s, t);
    thread_end(t);
    return NULL;
}

static void
set_prefill(int s, struct tctx *mainctx, uint64_t seed)
{
    static uint32_t *perm;

    if (perm == NULL) {
        perm = malloc(sizeof(*perm) * NKEY);
        if (perm == NULL)
            abort();
    }
    for (uint32_t i = 0; i < NKEY; i++)
        perm[i] = i;
    uint64_t rng = seed | 1;
    for (uint32_t i = NKEY - 1; i > 0; i--) {
        uint32_t j = (uint32_t)(rng_next(&rng) % (i + 1));
        uint32_t x = perm[i];
        perm[i] = perm[j];
        perm[j] = x;
    }
    for (uint32_t i = 0; i < NKEY / 2; i++) {
        struct bucket *b = bucket_of(perm[i]);
        struct node *n = node_alloc(s, mainctx);
        n->key = perm[i];
        n->next.__ptr = b->head.__ptr;
        b->head.__ptr = n;
    }
}

static void
set_clear(int s)
{
    for (unsigned i = 0; i < NBUCKET; i++) {
        struct node *p = g_set[i].head.__ptr, *nx;
        for (; p != NULL; p = nx) {
            nx = p->next.__ptr;
            node_free_quiet(s, p);
        }
        g_set[i].head.__ptr = NULL;
    }
}

struct b3_sample {
    uint32_t t_ms;
    uint64_t pending, rss_kb;
};

static uint64_t
rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long sz = 0, res = 0;

    if (f != NULL) {
        if (fscanf(f, "%lu %lu", &sz, &res) != 2)
            res = 0;
        fclose(f);
    }
    return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE) / 1024;
}

/* The last B2 run's pool figures (smr schemes), read after the timed run,
 * before the set is cleared. */
static struct smr_pool_stats g_b2ps;
static uint64_t g_b2rss_kb;

/* One B2 run: Mops/s, -1 on skip. */
static double
b2_run(int s, int nthr, unsigned lookup_pct, uint64_t dur_ns, uint64_t seed,
    double *mops_cpu)
{
    struct tctx *ctx = aligned_alloc(CL, sizeof(*ctx) * (size_t)nthr);
    struct tctx mainctx;

    memset(ctx, 0, sizeof(*ctx) * (size_t)nthr);
    memset(&mainctx, 0, sizeof(mainctx));
    if (run_setup(s) != 0) {
        free(ctx);
        return -1;
    }
    set_prefill(s, &mainctx, seed);
    g_lookup_pct = lookup_pct;
    g_stop = 0;
    pthread_barrier_init(&g_start, NULL, (unsigned)(nthr + 1));
    for (int i = 0; i < nthr; i++) {
        ctx[i].id = i;
        ctx[i].s = s;
    }
    spawn(ctx, nthr, b2_worker);
    pthread_barrier_wait(&g_start);
    sleep_ns(dur_ns);
    g_stop = 1;
    join(ctx, nthr);
    pthread_barrier_destroy(&g_start);
    if (is_smr(s)) {
        smr_pool_stats(g_pool, &g_b2ps);
        g_b2rss_kb = rss_kb();
    }

    double mops = 0, mc = 0;
    for (int i = 0; i < nthr; i++) {
        mops += (double)ctx[i].ops / ((double)ctx[i].el_ns / 1e3);
        mc += (double)ctx[i].ops / ((double)ctx[i].cpu_ns / 1e3);
    }
    *mops_cpu = mc;
    /* Callbacks first (they may still reference nothing of the set, but
     * urcu's barrier also makes the numbers of the next run clean). */
    if (!is_smr(s))
        run_teardown(s);
    set_clear(s);
    if (is_smr(s))
        run_teardown(s);
    for (int i = 0; i < nthr; i++)
        bump_release(&ctx[i]);
    bump_release(&mainctx);
    free(ctx);
    return mops;
}

/* ====================================================================== */
/* B3: stalled reader                                                     */
/* ====================================================================== */

static uint64_t g_stall_ns;
static volatile uint64_t g_stall_in, g_stall_out;   /* timestamps */

static void *
b3_staller(void *arg)
{
    struct tctx *t = arg;
    int s = t->s;

    thread_begin(t);
    pthread_barrier_wait(&g_start);
    sleep_ns(g_stall_ns / 4);   /* let the workers reach steady state */
    switch (s) {
    case S_SMR: case S_DEFERRED: smr_enter(g_dom[s]); break;
    case S_LAZY: smr_lazy_enter(g_dom[s]); break;
    default: rd_enter(S_URCU_MEMB, NULL, t, NULL); break;
    }
    g_stall_in = now_ns();
    sleep_ns(g_stall_ns);
    switch (s) {
    case S_SMR: case S_DEFERRED: smr_exit(g_dom[s]); break;
    case S_LAZY: smr_lazy_exit(g_dom[s]); break;
    default: rd_exit(S_URCU_MEMB, NULL, t, NULL); break;
    }
    g_stall_out = now_ns();
    thread_end(t);
    return NULL;
}

static void *
b3_staller_other(void *arg)
{
    struct tctx *t = arg;
    int s = t->s;

    thread_begin(t);
    pthread_barrier_wait(&g_start);
    sleep_ns(g_stall_ns / 4);
    if (s == S_CK)
        ck_epoch_begin(t->rec, NULL);
#ifdef SMR_BENCH_HAVE_QSBR
    else
        urcu_qsbr_read_lock();  /* and no quiescent state for 2 s */
#endif
    g_stall_in = now_ns();
    sleep_ns(g_stall_ns);
    if (s == S_CK)
        ck_epoch_end(t->rec, NULL);
#ifdef SMR_BENCH_HAVE_QSBR
    else {
        urcu_qsbr_read_unlock();
        urcu_qsbr_quiescent_state();
    }
#endif
    g_stall_out = now_ns();
    thread_end(t);
    return NULL;
}

struct b3_result {
    uint64_t peak_pending, peak_rss_kb, rss0_kb;
    double drain_ms;        /* -1: did not drain before the run ended */
    double mops_stall;      /* worker throughput while stalled */
    int nsamp;
    struct b3_sample *samp;
};

static uint64_t
b3_pending(int s, uint64_t *queued, uint64_t *reused)
{
    if (is_smr(s)) {
        struct smr_pool_stats st;
        smr_pool_stats(g_pool, &st);
        *queued = st.buckets_queued;
        *reused = st.buckets_reused;
        return st.pending;
    }
    uint64_t r = __atomic_load_n(&g_retired, __ATOMIC_RELAXED);
    uint64_t c = __atomic_load_n(&g_reclaimed, __ATOMIC_RELAXED);
    *queued = r;
    *reused = c;
    return r > c ? r - c : 0;
}

static int
b3_run(int s, int nthr, uint64_t stall_ns, struct b3_result *res)
{
    struct tctx *ctx = aligned_alloc(CL, sizeof(*ctx) * (size_t)(nthr + 1));
    struct tctx mainctx;
    uint64_t after_ns = stall_ns / 2 + 200000000u;  /* run on after exit */

    memset(ctx, 0, sizeof(*ctx) * (size_t)(nthr + 1));
    memset(&mainctx, 0, sizeof(mainctx));
    memset(res, 0, sizeof(*res));
    if (run_setup(s) != 0) {
        free(ctx);
        return -1;
    }
    set_prefill(s, &mainctx, 12345);
    g_lookup_pct = 50;
    g_stop = 0;
    g_stall_ns = stall_ns;
    g_stall_in = g_stall_out = 0;
    __atomic_store_n(&g_retired, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&g_reclaimed, 0, __ATOMIC_RELAXED);
    g_count = 1;
    pthread_barrier_init(&g_start, NULL, (unsigned)(nthr + 2));
    for (int i = 0; i <= nthr; i++) {
        ctx[i].id = i;
        ctx[i].s = s;
    }
    spawn(ctx, nthr, b2_worker);
    spawn(&ctx[nthr], 1, (s == S_CK || s == S_URCU_QSBR) ? b3_staller_other
                                                        : b3_staller);
    int cap = (int)((stall_ns * 2 + after_ns) / 10000000u) + 16;
    res->samp = calloc((size_t)cap, sizeof(*res->samp));
    res->rss0_kb = rss_kb();
    pthread_barrier_wait(&g_start);
    uint64_t t0 = now_ns(), next = t0, q_at_exit = 0, end = 0;
    int drained = 0;
    res->drain_ms = -1;
    for (;;) {
        uint64_t now = now_ns();
        uint64_t q, ru, pend = b3_pending(s, &q, &ru);
        uint64_t out = g_stall_out;
        if (now >= next && res->nsamp < cap) {
            uint64_t rk = rss_kb();
            struct b3_sample *sm = &res->samp[res->nsamp++];
            sm->t_ms = (uint32_t)((now - t0) / 1000000u);
            sm->pending = pend;
            sm->rss_kb = rk;
            if (pend > res->peak_pending)
                res->peak_pending = pend;
            if (rk > res->peak_rss_kb)
                res->peak_rss_kb = rk;
            next += 10000000u;
        }
        if (out != 0 && end == 0) {
            /* The reader left: what had been retired (pool: queued) by
             * then must now be reclaimed (pool: reused). */
            uint64_t q2, r2;
            (void)b3_pending(s, &q2, &r2);
            q_at_exit = q2;
            end = out + after_ns;
        }
        if (end != 0 && !drained && ru >= q_at_exit) {
            drained = 1;
            res->drain_ms = (double)(now - g_stall_out) / 1e6;
        }
        if (end != 0 && now >= end)
            break;
        sleep_ns(end != 0 && !drained ? 100000u : 1000000u);
    }
    g_stop = 1;
    join(ctx, nthr + 1);
    pthread_barrier_destroy(&g_start);
    g_count = 0;
    double mops = 0;
    for (int i = 0; i < nthr; i++)
        mops += (double)ctx[i].ops / ((double)ctx[i].el_ns / 1e3);
    res->mops_stall = mops;
    if (!is_smr(s))
        run_teardown(s);
    set_clear(s);
    if (is_smr(s))
        run_teardown(s);
    bump_release(&mainctx);
    free(ctx);
    return 0;
}

/* ====================================================================== */
/* B4: latency                                                            */
/* ====================================================================== */

static AI void
b4_reader_loop(int s, struct tctx *t)
{
    uint64_t sink = 0;
    smr_t const d = g_dom[s];

    pthread_barrier_wait(&g_start);
    while (!g_stop) {
        for (int i = 0; i < 256; i++) {
            rd_enter(s, d, t, &g_b1lock);
            struct node *p = __atomic_load_n(&g_b1ptr.__ptr, __ATOMIC_ACQUIRE);
            sink += p->key;
            rd_exit(s, d, t, &g_b1lock);
        }
        quiescent(s);
    }
    t->sink = sink;
}

static void *
b4_reader(void *arg)
{
    struct tctx *t = arg;

    thread_begin(t);
    DISPATCH(b4_reader_loop, t->s, t);
    thread_end(t);
    return NULL;
}

enum { L_POLL, L_SYNC, L_REUSE, NL };
static const char *const lname[NL] = {
    "grace: advance+poll", "grace: synchronize", "free-to-reuse",
};
static const char *const lkey[NL] = {"gp_poll", "gp_sync", "reuse"};
static int g_b4_kind;
static uint64_t g_b4_budget_ns;

static void *
b4_measurer(void *arg)
{
    struct tctx *t = arg;
    int s = t->s;
    uint64_t deadline;

    thread_begin(t);
    pthread_barrier_wait(&g_start);
    sleep_ns(10000000u);
    deadline = now_ns() + g_b4_budget_ns;
    g_nlat = 0;
    if (g_b4_kind == L_POLL || g_b4_kind == L_SYNC) {
        while (g_nlat < g_maxlat && now_ns() < deadline) {
            uint64_t t0 = now_ns();
            if (g_b4_kind == L_POLL) {
                smr_seq_t goal = smr_advance(g_dom[s]);
                while (!smr_poll(g_dom[s], goal, false))
                    cpu_relax();
            } else if (is_smr(s)) {
                smr_synchronize(g_dom[s]);
            } else if (s == S_URCU_MEMB) {
                urcu_memb_synchronize_rcu();
#ifdef SMR_BENCH_HAVE_QSBR
            } else if (s == S_URCU_QSBR) {
                urcu_qsbr_synchronize_rcu();
#endif
            } else if (s == S_CK) {
                ck_epoch_synchronize(t->rec);
            }
            g_lat[g_nlat] = now_ns() - t0;
            g_nlat = g_nlat + 1;
        }
    } else {
        /* Churn alloc/free; watch one freed object at a time. */
        uint64_t i = 0;
        g_watch = NULL;
        while (g_nlat < g_maxlat && now_ns() < deadline) {
            struct node *n;
            if (is_smr(s))
                n = smr_pool_alloc(g_pool);
            else
                n = malloc(sizeof(*n));
            if (n == NULL)
                abort();
            if (is_smr(s) && n == g_watch) {
                g_lat[g_nlat] = now_ns() - g_watch_t0;
                g_nlat = g_nlat + 1;
                g_watch = NULL;
            }
            n->key = i;
            if (g_watch == NULL && (i & 63) == 0) {
                g_watch_t0 = now_ns();
                g_watch = n;
            }
            node_retire(s, t, n);
            quiescent(s);
            i++;
        }
        g_watch = NULL;
    }
    thread_end(t);
    return NULL;
}

static int
b4_run(int s, int kind, int nreaders, uint64_t budget_ns)
{
    struct tctx *ctx = aligned_alloc(CL, sizeof(*ctx) * (size_t)(nreaders + 1));
    struct tctx mainctx;

    memset(ctx, 0, sizeof(*ctx) * (size_t)(nreaders + 1));
    memset(&mainctx, 0, sizeof(mainctx));
    if (run_setup(s) != 0) {
        free(ctx);
        return -1;
    }
    struct node *first = malloc(sizeof(*first));
    first->key = 1;
    g_b1ptr.__ptr = first;
    g_b4_kind = kind;
    g_b4_budget_ns = budget_ns;
    g_stop = 0;
    g_nlat = 0;
    pthread_barrier_init(&g_start, NULL, (unsigned)(nreaders + 2));
    for (int i = 0; i <= nreaders; i++) {
        ctx[i].id = i;
        ctx[i].s = s;
    }
    /* The measurer gets the last PU, readers the others. */
    ctx[nreaders].id = g_npu - 1;
    spawn(ctx, nreaders, b4_reader);
    spawn(&ctx[nreaders], 1, b4_measurer);
    pthread_barrier_wait(&g_start);
    pthread_join(ctx[nreaders].th, NULL);
    g_stop = 1;
    join(ctx, nreaders);
    pthread_barrier_destroy(&g_start);
    run_teardown(s);
    free(first);
    free(ctx);
    return 0;
}

/* ====================================================================== */
/* main                                                                   */
/* ====================================================================== */

static void
usage(FILE *f)
{
    fprintf(f,
        "usage: smr-bench [--quick] [--csv FILE] [-t 1,2,4] [-r rounds]\n"
        "                 [-d ms] [--bench b1,b2,b3,b4,b6] [--schemes a,b]\n"
        "                 [--stall-ms MS] [--seed S]\n"
        "  --quick     seconds, not minutes (CI smoke run)\n"
        "  --csv FILE  write every result as CSV to FILE\n"
        "  -t LIST     thread counts (default 1..npu, then 2*npu)\n"
        "  -r N        rounds (default 7; quick: 3)\n"
        "  -d MS       duration of one timed run (default 200; quick: 30)\n"
        "  --bench     which benchmarks (default b1,b2,b3,b4,b6; B6 takes\n"
        "              -t, -r, -d, but not --schemes)\n"
        "  --schemes   subset of: smr,smr-lazy,smr-deferred,urcu-memb,\n"
        "              urcu-qsbr,ck-epoch,rwlock,leak,xchg\n"
        "  --stall-ms  B3 stall (default 2000; quick: 300)\n");
}

static int
parse_list(const char *str, int *out, int max)
{
    int n = 0;
    char *d = strdup(str), *save = NULL;

    for (char *p = strtok_r(d, ",", &save); p != NULL && n < max;
         p = strtok_r(NULL, ",", &save))
        out[n++] = atoi(p);
    free(d);
    return n;
}

int
main(int argc, char **argv)
{
    int rounds = -1, dur_ms = -1, stall_ms = -1, nthr_list = 0;
    int custom_thr = 0;
    int thr[32];
    int do_b[7] = {0, 1, 1, 1, 1, 0, 1};   /* B5 is bench_pool */
    uint64_t seed = 0;
    const char *csv = NULL;
    static const struct option longopts[] = {
        {"quick", no_argument, NULL, 'q'},
        {"csv", required_argument, NULL, 'c'},
        {"bench", required_argument, NULL, 'b'},
        {"schemes", required_argument, NULL, 'S'},
        {"stall-ms", required_argument, NULL, 'x'},
        {"seed", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    for (int s = 0; s < NS; s++)
        s_sel[s] = 1;
    while ((c = getopt_long(argc, argv, "t:r:d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'q': g_quick = 1; break;
        case 'c': csv = optarg; break;
        case 't':
            nthr_list = parse_list(optarg, thr, 32);
            custom_thr = 1;
            break;
        case 'r': rounds = atoi(optarg); break;
        case 'd': dur_ms = atoi(optarg); break;
        case 'x': stall_ms = atoi(optarg); break;
        case 's': seed = strtoull(optarg, NULL, 0); break;
        case 'b':
            memset(do_b, 0, sizeof(do_b));
            for (int i = 1; i <= 6; i++) {
                char k[4] = {'b', (char)('0' + i), 0, 0};
                if (strstr(optarg, k) != NULL)
                    do_b[i] = 1;
            }
            break;
        case 'S': {
            for (int s = 0; s < NS; s++) {
                s_sel[s] = 0;
                char *d = strdup(optarg), *save = NULL;
                for (char *p = strtok_r(d, ",", &save); p != NULL;
                     p = strtok_r(NULL, ",", &save))
                    if (strcmp(p, sname[s]) == 0)
                        s_sel[s] = 1;
                free(d);
            }
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (rounds < 1)
        rounds = g_quick ? 3 : 7;
    if (dur_ms < 1)
        dur_ms = g_quick ? 30 : 200;
    if (stall_ms < 1)
        stall_ms = g_quick ? 300 : 2000;
    if (seed == 0)
        seed = now_ns();
    uint64_t rng = seed;
    uint64_t dur_ns = (uint64_t)dur_ms * 1000000u;

    hwloc_topology_init(&g_topo);
    hwloc_topology_load(g_topo);
    g_npu = hwloc_get_nbobjs_by_type(g_topo, HWLOC_OBJ_PU);
    if (g_npu < 1)
        g_npu = 1;
    g_pin = g_npu > 1;
    if (nthr_list == 0) {
        for (int i = 1; i <= g_npu && nthr_list < 30; i++)
            thr[nthr_list++] = i;
        thr[nthr_list++] = 2 * g_npu;
        if (g_quick && g_npu > 2) {
            thr[0] = 1;
            thr[1] = g_npu;
            thr[2] = 2 * g_npu;
            nthr_list = 3;
        }
    }

    if (csv != NULL) {
        g_csv = fopen(csv, "w");
        if (g_csv == NULL) {
            perror(csv);
            return 1;
        }
        fprintf(g_csv, "bench,scheme,threads,param,metric,median,min,max,n\n");
    }

    /* ---- schemes ---- */
    g_dom[S_SMR] = smr_create("smr-bench", 0, 0);
    g_dom[S_LAZY] = smr_create("smr-bench-lazy", 0, SMR_LAZY);
    g_dom[S_DEFERRED] = smr_create("smr-bench-deferred", 64, SMR_DEFERRED);
    for (int s = 0; s < NS; s++)
        s_ok[s] = 1;
    for (int s = S_SMR; s <= S_DEFERRED; s++) {
        if (g_dom[s] == NULL) {
            s_ok[s] = 0;
            s_why[s] = "smr_create failed";
            continue;
        }
        smr_pool_t p = smr_pool_create("probe", sizeof(struct node), 0,
            g_dom[s], 0);
        if (p == NULL) {
            s_ok[s] = 0;
            s_why[s] = "smr_pool_create failed (pool not available)";
        } else {
            smr_pool_destroy(p);
        }
    }
#ifndef SMR_BENCH_HAVE_QSBR
    s_ok[S_URCU_QSBR] = 0;
    s_why[S_URCU_QSBR] = "built without liburcu-qsbr";
#endif
    ck_epoch_init(&g_epoch);
    g_set = aligned_alloc(CL, sizeof(*g_set) * NBUCKET);
    for (unsigned i = 0; i < NBUCKET; i++) {
        pthread_rwlock_init(&g_set[i].lock, NULL);
        g_set[i].head.__ptr = NULL;
    }
    g_maxlat = g_quick ? 200 : 2000;
    g_lat = calloc((size_t)g_maxlat, sizeof(*g_lat));

    char model[256];
    cpu_model(model, sizeof(model));
    printf("smr-bench: libsmr %d, %s, %d PUs (hwloc), %s\n", smr_version(),
        model, g_npu, g_pin ? "threads pinned one per PU (round-robin "
        "beyond npu)" : "1 PU: threads not pinned");
    printf("  threads:");
    for (int i = 0; i < nthr_list; i++)
        printf(" %d", thr[i]);
    printf("; rounds %d; run %d ms; seed %llu%s\n", rounds, dur_ms,
        (unsigned long long)seed, g_quick ? "; QUICK" : "");
    printf("  smr-lazy: %s; urcu-memb: sys_membarrier %s\n",
        g_dom[S_LAZY] && smr_lazy_is_fence_free(g_dom[S_LAZY])
            ? "fence-free readers" : "fenced fallback",
        urcu_memb_has_sys_membarrier ? "in use" : "unavailable");
    for (int s = 0; s < NS; s++)
        if (!s_ok[s])
            printf("  SKIPPED %s: %s\n", sname[s], s_why[s]);
    printf("\n");
    fflush(stdout);

    int order[NS + B1U_N], nord;

    /* ---------------- B1 ---------------- */
    if (do_b[1]) {
        static const uint64_t periods[3] = {0, 100000, 1000};
        static const char *const pname[3] = {"never", "100us", "1us"};
        int ncfg = 3 * nthr_list;
        double *val = calloc((size_t)(ncfg * NS * rounds), sizeof(double));
        double *sw = calloc((size_t)(ncfg * NS * rounds), sizeof(double));
        double *cv = calloc((size_t)(ncfg * NS * rounds), sizeof(double));
        /* User-layout rows: [cfg][u][r], ns, CPU ns, swaps/s. */
        double *uv = calloc((size_t)(ncfg * B1U_N * rounds * 3),
            sizeof(double));
#define V(a, cfg, s, r) a[((cfg) * NS + (s)) * rounds + (r)]
#define U(cfg, u, k, r) uv[(((cfg) * B1U_N + (u)) * 3 + (k)) * rounds + (r)]
        nord = 0;
        for (int s = 0; s < NS; s++)
            if (s_ok[s] && s_sel[s])
                order[nord++] = s;
        for (int u = 0; u < B1U_N; u++)     /* codes NS + u */
            if (s_ok[b1u_scheme[u]] && s_sel[b1u_scheme[u]])
                order[nord++] = NS + u;
        printf("B1 primitive: ns per read section (enter; load shared "
            "pointer; deref; exit), mean over reader threads\n");
        fflush(stdout);
        for (int r = 0; r < rounds; r++) {
            for (int cfg = 0; cfg < ncfg; cfg++) {
                shuffle(order, nord, &rng);
                for (int k = 0; k < nord; k++) {
                    int s = order[k];
                    double swr = 0, cns = 0;
                    if (s >= NS) {
                        int u = s - NS, su = b1u_scheme[u];
                        smr_t keep = g_dom[su];
                        g_b1_user = b1u_kind[u];
                        if (b1u_kind[u] == 2)
                            g_dom[su] = su == S_LAZY ?
                                smr_static(b1_static_lazy) :
                                smr_static(b1_static);
                        U(cfg, u, 0, r) = b1_run(su,
                            thr[cfg % nthr_list], periods[cfg / nthr_list],
                            dur_ns, &swr, &cns);
                        g_dom[su] = keep;
                        g_b1_user = 0;
                        U(cfg, u, 1, r) = cns;
                        U(cfg, u, 2, r) = swr;
                        continue;
                    }
                    double ns = b1_run(s, thr[cfg % nthr_list],
                        periods[cfg / nthr_list], dur_ns, &swr, &cns);
                    V(val, cfg, s, r) = ns;
                    V(cv, cfg, s, r) = cns;
                    V(sw, cfg, s, r) = swr;
                }
            }
        }
        for (int pi = 0; pi < 3; pi++) {
            printf("\n  writer swaps: %s\n  %-15s", pname[pi], "scheme");
            for (int ti = 0; ti < nthr_list; ti++)
                printf(" %10s%-3d %13s", "T=", thr[ti], "min-max");
            printf("\n");
            for (int s = 0; s < NS; s++) {
                if (!s_sel[s])
                    continue;
                if (!s_ok[s]) {
                    printf("  %-15s skipped: %s\n", sname[s], s_why[s]);
                    continue;
                }
                printf("  %-15s", sname[s]);
                for (int ti = 0; ti < nthr_list; ti++) {
                    int cfg = pi * nthr_list + ti;
                    struct summ m = summarize(&V(val, cfg, s, 0), rounds);
                    struct summ w = summarize(&V(sw, cfg, s, 0), rounds);
                    char rg[40];
                    snprintf(rg, sizeof(rg), "%.2f-%.2f", m.lo, m.hi);
                    printf(" %13.2f %13s", m.med, rg);
                    csv_row("b1", sname[s], thr[ti], pname[pi], "ns_per_section",
                        m);
                    csv_row("b1", sname[s], thr[ti], pname[pi],
                        "cpu_ns_per_section", summarize(&V(cv, cfg, s, 0),
                        rounds));
                    if (periods[pi] != 0)
                        csv_row("b1", sname[s], thr[ti], pname[pi],
                            "swaps_per_s", w);
                }
                printf("\n");
            }
            for (int u = 0; u < B1U_N; u++) {
                int s = b1u_scheme[u];
                if (!s_ok[s] || !s_sel[s])
                    continue;
                printf("  %-15s", b1u_name[u]);
                for (int ti = 0; ti < nthr_list; ti++) {
                    int cfg = pi * nthr_list + ti;
                    struct summ m = summarize(&U(cfg, u, 0, 0), rounds);
                    char rg[40];
                    snprintf(rg, sizeof(rg), "%.2f-%.2f", m.lo, m.hi);
                    printf(" %13.2f %13s", m.med, rg);
                    csv_row("b1", b1u_name[u], thr[ti], pname[pi],
                        "ns_per_section", m);
                    csv_row("b1", b1u_name[u], thr[ti], pname[pi],
                        "cpu_ns_per_section", summarize(&U(cfg, u, 1, 0),
                        rounds));
                    if (periods[pi] != 0)
                        csv_row("b1", b1u_name[u], thr[ti], pname[pi],
                            "swaps_per_s", summarize(&U(cfg, u, 2, 0),
                            rounds));
                }
                printf("\n");
            }
        }
        printf("\n");
#undef U
        free(uv);
        free(val);
        free(sw);
        free(cv);
        fflush(stdout);
    }

    /* ---------------- B2 ---------------- */
    if (do_b[2]) {
        static const unsigned mixes[3] = {100, 90, 50};
        static const char *const mname[3] = {"100/0", "90/10", "50/50"};
        int ncfg = 3 * nthr_list;
        double *val = calloc((size_t)(ncfg * NS * rounds), sizeof(double));
        double *cv = calloc((size_t)(ncfg * NS * rounds), sizeof(double));
        /* smr rows: frees and sync reclaims summed over rounds, pool
         * pending_peak and RSS after the run, max over rounds (a fresh
         * pool per run). */
        uint64_t *pf = calloc((size_t)(ncfg * NS), sizeof(uint64_t));
        uint64_t *psy = calloc((size_t)(ncfg * NS), sizeof(uint64_t));
        uint64_t *ppk = calloc((size_t)(ncfg * NS), sizeof(uint64_t));
        uint64_t *prs = calloc((size_t)(ncfg * NS), sizeof(uint64_t));
        nord = 0;
        for (int s = 0; s < NS; s++)
            if (s_ok[s] && s_sel[s] && s != S_XCHG)
                order[nord++] = s;
        printf("B2 hash set: Mops/s (2^16 buckets, keys 2^17, half full)\n");
        fflush(stdout);
        for (int r = 0; r < rounds; r++) {
            for (int cfg = 0; cfg < ncfg; cfg++) {
                shuffle(order, nord, &rng);
                uint64_t pseed = rng_next(&rng);
                for (int k = 0; k < nord; k++) {
                    int s = order[k];
                    V(val, cfg, s, r) = b2_run(s, thr[cfg % nthr_list],
                        mixes[cfg / nthr_list], dur_ns, pseed,
                        &V(cv, cfg, s, r));
                    if (is_smr(s)) {
                        int ix = cfg * NS + s;
                        pf[ix] += g_b2ps.frees;
                        psy[ix] += g_b2ps.sync_reclaims;
                        if (g_b2ps.pending_peak > ppk[ix])
                            ppk[ix] = g_b2ps.pending_peak;
                        if (g_b2rss_kb > prs[ix])
                            prs[ix] = g_b2rss_kb;
                    }
                }
            }
        }
        for (int mi = 0; mi < 3; mi++) {
            printf("\n  mix %s lookup/update\n  %-14s", mname[mi], "scheme");
            for (int ti = 0; ti < nthr_list; ti++)
                printf(" %7s%-3d %13s %6s", "T=", thr[ti], "min-max", "/leak");
            printf("   (smr pools, per T: blocking/M pend_peak RSS MiB)\n");
            for (int s = 0; s < NS; s++) {
                if (!s_sel[s] || s == S_XCHG)
                    continue;
                if (!s_ok[s]) {
                    printf("  %-14s skipped: %s\n", sname[s], s_why[s]);
                    continue;
                }
                printf("  %-14s", sname[s]);
                for (int ti = 0; ti < nthr_list; ti++) {
                    int cfg = mi * nthr_list + ti;
                    struct summ m = summarize(&V(val, cfg, s, 0), rounds);
                    struct summ l = summarize(&V(val, cfg, S_LEAK, 0), rounds);
                    char rg[40];
                    snprintf(rg, sizeof(rg), "%.2f-%.2f", m.lo, m.hi);
                    double ratio = (s_ok[S_LEAK] && s_sel[S_LEAK] && l.med > 0)
                        ? m.med / l.med : 0;
                    printf(" %10.2f %13s %6.3f", m.med, rg, ratio);
                    csv_row("b2", sname[s], thr[ti], mname[mi], "mops", m);
                    struct summ mc = summarize(&V(cv, cfg, s, 0), rounds);
                    struct summ lc = summarize(&V(cv, cfg, S_LEAK, 0), rounds);
                    csv_row("b2", sname[s], thr[ti], mname[mi], "mops_cpu",
                        mc);
                    if (lc.med > 0) {
                        struct summ rc = {mc.med / lc.med, mc.med / lc.med,
                            mc.med / lc.med, 1};
                        csv_row("b2", sname[s], thr[ti], mname[mi],
                            "x_leak_cpu", rc);
                    }
                    struct summ rs = {ratio, ratio, ratio, 1};
                    csv_row("b2", sname[s], thr[ti], mname[mi], "x_leak", rs);
                }
                for (int ti = 0; is_smr(s) && ti < nthr_list; ti++) {
                    int ix = (mi * nthr_list + ti) * NS + s;
                    double bpm = pf[ix] ? (double)psy[ix] * 1e6 /
                        (double)pf[ix] : 0;
                    printf("  %s%.2f %llu %.1f", ti ? "| " : "  ", bpm,
                        (unsigned long long)ppk[ix], (double)prs[ix] / 1024);
                    struct summ m = {bpm, bpm, bpm, rounds};
                    csv_row("b2", sname[s], thr[ti], mname[mi],
                        "blocking_per_m", m);
                    m = (struct summ){(double)ppk[ix], (double)ppk[ix],
                        (double)ppk[ix], rounds};
                    csv_row("b2", sname[s], thr[ti], mname[mi],
                        "pending_peak", m);
                    m = (struct summ){(double)prs[ix] / 1024,
                        (double)prs[ix] / 1024, (double)prs[ix] / 1024,
                        rounds};
                    csv_row("b2", sname[s], thr[ti], mname[mi], "rss_mib", m);
                }
                printf("\n");
            }
        }
        printf("\n");
        free(val);
        free(cv);
        free(pf);
        free(psy);
        free(ppk);
        free(prs);
        fflush(stdout);
    }

    /* ---------------- B3 ---------------- */
    if (do_b[3]) {
        static const int b3s[] = {S_SMR, S_LAZY, S_DEFERRED, S_URCU_MEMB,
            S_URCU_QSBR, S_CK};
        int n3 = (int)(sizeof(b3s) / sizeof(b3s[0]));
        int ord3[8];
        nord = 0;
        for (int i = 0; i < n3; i++)
            if (s_sel[b3s[i]] && s_ok[b3s[i]])
                ord3[nord++] = b3s[i];
        shuffle(ord3, nord, &rng);
        printf("B3 stalled reader: %d workers at 50/50, one reader holds a "
            "section for %d ms\n", g_npu, stall_ms);
        printf("  %-14s %14s %14s %12s %12s %14s\n", "scheme",
            "peak pending", "peak RSS MiB", "RSS0 MiB", "drain ms",
            "Mops/s (run)");
        for (int k = 0; k < nord; k++) {
            int s = ord3[k];
            struct b3_result res;
            if (b3_run(s, g_npu, (uint64_t)stall_ms * 1000000u, &res) != 0) {
                printf("  %-14s skipped: setup failed\n", sname[s]);
                continue;
            }
            char dr[32];
            if (res.drain_ms < 0)
                snprintf(dr, sizeof(dr), "not drained");
            else
                snprintf(dr, sizeof(dr), "%.2f", res.drain_ms);
            printf("  %-14s %14llu %14.1f %12.1f %12s %14.2f\n", sname[s],
                (unsigned long long)res.peak_pending,
                (double)res.peak_rss_kb / 1024, (double)res.rss0_kb / 1024,
                dr, res.mops_stall);
            struct summ m;
            m = (struct summ){(double)res.peak_pending,
                (double)res.peak_pending, (double)res.peak_pending, 1};
            csv_row("b3", sname[s], g_npu, "stall", "peak_pending", m);
            m = (struct summ){(double)res.peak_rss_kb / 1024,
                (double)res.peak_rss_kb / 1024,
                (double)res.peak_rss_kb / 1024, 1};
            csv_row("b3", sname[s], g_npu, "stall", "peak_rss_mib", m);
            m = (struct summ){res.drain_ms, res.drain_ms, res.drain_ms, 1};
            csv_row("b3", sname[s], g_npu, "stall", "drain_ms", m);
            m = (struct summ){res.mops_stall, res.mops_stall, res.mops_stall,
                1};
            csv_row("b3", sname[s], g_npu, "stall", "mops", m);
            for (int i = 0; g_csv != NULL && i < res.nsamp; i++) {
                char p[16];
                snprintf(p, sizeof(p), "%u", res.samp[i].t_ms);
                m = (struct summ){(double)res.samp[i].pending,
                    (double)res.samp[i].pending,
                    (double)res.samp[i].pending, 1};
                csv_row("b3ts", sname[s], g_npu, p, "pending", m);
                m = (struct summ){(double)res.samp[i].rss_kb / 1024,
                    (double)res.samp[i].rss_kb / 1024,
                    (double)res.samp[i].rss_kb / 1024, 1};
                csv_row("b3ts", sname[s], g_npu, p, "rss_mib", m);
            }
            free(res.samp);
            fflush(stdout);
        }
        printf("\n");
        fflush(stdout);
    }

    /* ---------------- B4 ---------------- */
    if (do_b[4]) {
        static const int b4s[] = {S_SMR, S_LAZY, S_DEFERRED, S_URCU_MEMB,
            S_URCU_QSBR, S_CK};
        int n4 = (int)(sizeof(b4s) / sizeof(b4s[0]));
        int nreaders = g_npu > 1 ? g_npu - 1 : 1;
        uint64_t budget = g_quick ? 200000000u : 1500000000u;
        printf("B4 latency (us), %d reader thread(s) running, up to %d "
            "samples or %.1f s each\n", nreaders, g_maxlat,
            (double)budget / 1e9);
        printf("  %-14s %-22s %8s %10s %10s %10s\n", "scheme", "what",
            "samples", "p50", "p99", "max");
        for (int i = 0; i < n4; i++) {
            int s = b4s[i];
            if (!s_sel[s] || !s_ok[s])
                continue;
            for (int kind = 0; kind < NL; kind++) {
                if (kind == L_POLL && !is_smr(s))
                    continue;
                if (b4_run(s, kind, nreaders, budget) != 0) {
                    printf("  %-14s %-22s skipped: setup failed\n", sname[s],
                        lname[kind]);
                    continue;
                }
                int n = g_nlat;
                if (n == 0) {
                    printf("  %-14s %-22s no samples\n", sname[s],
                        lname[kind]);
                    continue;
                }
                qsort(g_lat, (size_t)n, sizeof(*g_lat), cmp_u64);
                double p50 = (double)g_lat[n / 2] / 1e3;
                double p99 = (double)g_lat[(n * 99) / 100 < n ? (n * 99) / 100
                                                             : n - 1] / 1e3;
                double mx = (double)g_lat[n - 1] / 1e3;
                printf("  %-14s %-22s %8d %10.2f %10.2f %10.2f\n", sname[s],
                    lname[kind], n, p50, p99, mx);
                struct summ m;
                m = (struct summ){p50, p50, p50, n};
                csv_row("b4", sname[s], nreaders, lkey[kind], "p50_us", m);
                m = (struct summ){p99, p99, p99, n};
                csv_row("b4", sname[s], nreaders, lkey[kind], "p99_us", m);
                m = (struct summ){mx, mx, mx, n};
                csv_row("b4", sname[s], nreaders, lkey[kind], "max_us", m);
                fflush(stdout);
            }
        }
        printf("\n");
    }

    /* ---------------- B6 ---------------- */
    if (do_b[6]) {
        int tl = 0, t6[32];
        /* 1, 2 and 4 threads unless -t named others. */
        for (int i = 0; custom_thr && i < nthr_list; i++)
            t6[tl++] = thr[i];
        struct b6_opts o6 = {
            .topo = g_topo, .npu = g_npu, .pin = g_pin, .rounds = rounds,
            .dur_ns = dur_ns, .quick = g_quick, .seed = seed, .csv = g_csv,
            .thr = t6, .nthr = tl,
        };
        if (smr_bench_b6(&o6) != 0)
            printf("B6 skipped: a scheme could not start\n\n");
        fflush(stdout);
    }

    if (g_csv != NULL)
        fclose(g_csv);
    for (int s = S_SMR; s <= S_DEFERRED; s++)
        if (g_dom[s] != NULL)
            smr_destroy(g_dom[s]);
    hwloc_topology_destroy(g_topo);
    return 0;
}
