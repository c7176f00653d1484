/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * smr-bench B6: the installed hash table (<smr_ht.h>) against liburcu's
 * cds_lfht (urcu-memb flavour), the same workload on both.
 *
 * Schemes
 *   smr_ht/smr       libsmr default domain (fenced readers), nodes from an
 *                    SMR pool, smr_pool_free after delete
 *   smr_ht/smr-lazy  SMR_LAZY domain (fence-free readers, like urcu-memb's)
 *   cds_lfht         liburcu-cds on urcu-memb (_LGPL_SOURCE read lock),
 *                    nodes from malloc with an embedded rcu_head,
 *                    urcu_memb_call_rcu(free) after delete: its own
 *                    reclamation, as its users run it
 *
 * B6 mixes: 64 Ki keys, a table of 64 Ki buckets at the start with
 *   automatic resizing on (CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING),
 *   prefilled with every key; T threads (1, 2, 4 unless -t) run 90/10 or
 *   50/50 lookup/update, where a lookup is one lookup in a read section
 *   and an update replaces a key's node: lookup and delete it (freeing it
 *   through the scheme's path), then unique-insert a fresh node for the
 *   key.  Lookups/s and updates/s (sum over threads), RSS growth over the
 *   run (from before the table was built, after malloc_trim) and the peak
 *   of nodes waiting for reclamation (pool pending_peak; call_rcu queued
 *   minus run, sampled every ms).
 *
 * B6 resize under load: NPU-1 lookup threads (at least 1) look up random
 *   keys in [0, N) while one writer grows the table from 1 Ki to N keys
 *   (N = 1 Mi; 256 Ki with --quick) and deletes them back to 1 Ki.
 *   "resize": a table of 1 Ki buckets resizing itself all along;
 *   "presized": the same run on a table created with N buckets and
 *   automatic resizing off.  Lookups/s while the writer works, and their
 *   ratio resize/presized (the cost of resizing to readers).
 *
 * Every configuration runs every scheme in each round, in a freshly
 * shuffled order; tables give the median of the rounds and the ratios are
 * of medians measured in the same run.
 */
#define _GNU_SOURCE
#define _LGPL_SOURCE

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hwloc.h>
#include <urcu/urcu-memb.h>
#include <urcu/rculfhash.h>

#include <smr.h>
#include <smr_ht.h>

#include "bench_util.h"
#include "smr_bench_ht.h"

#define CL 64
#define AI inline __attribute__((always_inline))

enum { H_SMR, H_LAZY, H_CDS, NH };
static const char *const hname[NH] = { "smr_ht/smr", "smr_ht/smr-lazy",
    "cds_lfht" };

#define NKEY_LOG 16
#define NKEY (1u << NKEY_LOG)
#define RSZ_START 1024u

struct hnode {
    struct smr_ht_node hn;
    uint64_t key;
    uint64_t val;
};

struct cnode {
    struct cds_lfht_node node;
    uint64_t key;
    uint64_t val;
    struct rcu_head rcu;
};

struct wctx {
    int id, s;
    pthread_t th;
    uint64_t rng;
    uint64_t lookups, updates, sink;
    uint64_t retired;           /* cds: call_rcu'd (read by the sampler) */
    uint64_t el_ns, cpu_ns;     /* wall and this thread's CPU time */
    char pad[CL];
} __attribute__((aligned(CL)));

static const struct b6_opts *O;
static smr_t g_dom[2];
static smr_ht_t g_ht;
static smr_pool_t g_pool;
static struct cds_lfht *g_cds;
static volatile int g_stop __attribute__((aligned(CL)));
static pthread_barrier_t g_start;
static unsigned g_lookup_pct;
static uint64_t g_reclaimed __attribute__((aligned(CL)));  /* cds callbacks run */
/* resize run */
static uint64_t g_rsz_max;
static volatile int g_writer_done;
static uint64_t g_writer_ns;

static void
sleep_ns(uint64_t ns)
{
    struct timespec ts = { (time_t)(ns / 1000000000u),
        (long)(ns % 1000000000u) };

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

/* The one hash both tables use (a 64-bit finalizer). */
static AI uint64_t
key_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return k;
}

static uint64_t
h_hash(const void *key, void *arg)
{
    (void)arg;
    return key_hash(*(const uint64_t *)key);
}

static bool
h_match(const struct smr_ht_node *n, const void *key, void *arg)
{
    (void)arg;
    return SMR_HT_ENTRY(n, struct hnode, hn)->key == *(const uint64_t *)key;
}

static int
c_match(struct cds_lfht_node *n, const void *key)
{
    return caa_container_of(n, struct cnode, node)->key ==
        *(const uint64_t *)key;
}

static void
c_free(struct rcu_head *h)
{
    /* Only the call_rcu thread runs callbacks: a plain counter would do,
     * but the sampler reads it.  Relaxed (statistics, no partner). */
    __atomic_fetch_add(&g_reclaimed, 1, __ATOMIC_RELAXED);
    free(caa_container_of(h, struct cnode, rcu));
}

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

static void
csv_row(const char *scheme, int threads, const char *param,
    const char *metric, double med, double lo, double hi, int n)
{
    if (O->csv != NULL)
        fprintf(O->csv, "b6,%s,%d,%s,%s,%.6g,%.6g,%.6g,%d\n", scheme,
            threads, param, metric, med, lo, hi, n);
}

struct summ {
    double med, lo, hi;
};

static struct summ
summarize(const double *v, int n)
{
    double *t = malloc(sizeof(*t) * (size_t)(n > 0 ? n : 1));
    struct summ r = { 0, 0, 0 };

    if (t == NULL)
        abort();
    if (n > 0) {
        memcpy(t, v, sizeof(*t) * (size_t)n);
        qsort(t, (size_t)n, sizeof(*t), cmp_double);
        r.med = (n & 1) ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
        r.lo = t[0];
        r.hi = t[n - 1];
    }
    free(t);
    return r;
}

static void
shuffle(int *a, int n, uint64_t *rng)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(splitmix64(rng) % (uint64_t)(i + 1));
        int x = a[i];
        a[i] = a[j];
        a[j] = x;
    }
}

/* ---- the two tables behind one set of operations ------------------------ */

static AI void
rd_enter(int s)
{
    if (s == H_SMR)
        smr_enter(g_dom[0]);
    else if (s == H_LAZY)
        smr_lazy_enter(g_dom[1]);
    else
        urcu_memb_read_lock();
}

static AI void
rd_exit(int s)
{
    if (s == H_SMR)
        smr_exit(g_dom[0]);
    else if (s == H_LAZY)
        smr_lazy_exit(g_dom[1]);
    else
        urcu_memb_read_unlock();
}

/* Inside a section: the key's value, or 0. */
static AI uint64_t
t_lookup(int s, uint64_t key)
{
    if (s != H_CDS) {
        struct smr_ht_node *n = smr_ht_lookup(g_ht, &key);
        return n ? SMR_HT_ENTRY(n, struct hnode, hn)->val : 0;
    } else {
        struct cds_lfht_iter it;
        struct cds_lfht_node *n;
        cds_lfht_lookup(g_cds, key_hash(key), c_match, &key, &it);
        n = cds_lfht_iter_get_node(&it);
        return n ? caa_container_of(n, struct cnode, node)->val : 0;
    }
}

/* Outside any section: insert a fresh node for key unless one is there.
 * Returns 1 if inserted. */
static AI int
t_insert(int s, uint64_t key)
{
    if (s != H_CDS) {
        struct hnode *n = smr_pool_alloc(g_pool);
        if (n == NULL)
            abort();
        n->key = key;
        n->val = key + 1;
        if (smr_ht_insert_unique(g_ht, &n->hn, &n->key) != &n->hn) {
            smr_pool_free(g_pool, n);   /* never published */
            return 0;
        }
        return 1;
    } else {
        struct cnode *n = malloc(sizeof(*n));
        struct cds_lfht_node *r;
        if (n == NULL)
            abort();
        n->key = key;
        n->val = key + 1;
        cds_lfht_node_init(&n->node);
        urcu_memb_read_lock();
        r = cds_lfht_add_unique(g_cds, key_hash(key), c_match, &n->key,
            &n->node);
        urcu_memb_read_unlock();
        if (r != &n->node) {
            free(n);                    /* never published */
            return 0;
        }
        return 1;
    }
}

/* Outside any section: delete key's node if present and reclaim it the
 * scheme's way.  Returns 1 if it deleted one. */
static AI int
t_delete(int s, struct wctx *t, uint64_t key)
{
    if (s != H_CDS) {
        struct hnode *dead = NULL;
        rd_enter(s);
        struct smr_ht_node *n = smr_ht_lookup(g_ht, &key);
        if (n != NULL && smr_ht_delete(g_ht, n) == 0)
            dead = SMR_HT_ENTRY(n, struct hnode, hn);
        rd_exit(s);
        if (dead != NULL)
            smr_pool_free(g_pool, dead);
        return dead != NULL;
    } else {
        struct cds_lfht_iter it;
        struct cds_lfht_node *n;
        int done = 0;
        urcu_memb_read_lock();
        cds_lfht_lookup(g_cds, key_hash(key), c_match, &key, &it);
        n = cds_lfht_iter_get_node(&it);
        if (n != NULL && cds_lfht_del(g_cds, n) == 0) {
            urcu_memb_call_rcu(&caa_container_of(n, struct cnode,
                node)->rcu, c_free);
            /* Relaxed: the sampler's estimate (no partner). */
            __atomic_store_n(&t->retired, t->retired + 1, __ATOMIC_RELAXED);
            done = 1;
        }
        urcu_memb_read_unlock();
        return done;
    }
}

/* ---- per-run setup ------------------------------------------------------ */

static int
table_create(int s, size_t buckets, int autoresize)
{
    if (s != H_CDS) {
        struct smr_ht_args a = { .hash = h_hash, .match = h_match,
            .name = "smr-bench", .init_buckets = buckets,
            .min_buckets = 1,
            .flags = autoresize ? 0 : SMR_HT_MANUAL_RESIZE };
        smr_t d = g_dom[s == H_SMR ? 0 : 1];
        g_pool = smr_pool_create("smr-bench-ht", sizeof(struct hnode),
            _Alignof(struct hnode), d, 0);
        g_ht = g_pool ? smr_ht_create(d, &a) : NULL;
        return g_ht != NULL ? 0 : -1;
    }
    g_cds = cds_lfht_new_flavor(buckets, autoresize ? 1 : buckets, 0,
        autoresize ? CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING : 0,
        &urcu_memb_flavor, NULL);
    return g_cds != NULL ? 0 : -1;
}

static void
table_destroy(int s)
{
    if (s != H_CDS) {
        struct smr_ht_node *n;
        smr_t d = g_dom[s == H_SMR ? 0 : 1];

        smr_enter(d);
        SMR_HT_FOREACH(n, g_ht) {
            if (smr_ht_delete(g_ht, n) == 0)
                smr_pool_free(g_pool, SMR_HT_ENTRY(n, struct hnode, hn));
        }
        smr_exit(d);
        if (smr_ht_destroy(g_ht) != 0)
            abort();
        smr_pool_destroy(g_pool);
        g_ht = NULL;
        g_pool = NULL;
    } else {
        struct cds_lfht_iter it;
        struct cds_lfht_node *n;

        urcu_memb_read_lock();
        cds_lfht_first(g_cds, &it);
        while ((n = cds_lfht_iter_get_node(&it)) != NULL) {
            if (cds_lfht_del(g_cds, n) == 0)
                urcu_memb_call_rcu(&caa_container_of(n, struct cnode,
                    node)->rcu, c_free);
            cds_lfht_next(g_cds, &it);
        }
        urcu_memb_read_unlock();
        urcu_memb_barrier();
        if (cds_lfht_destroy(g_cds, NULL) != 0)
            abort();
        g_cds = NULL;
    }
    malloc_trim(0);
}

static void
thread_begin(struct wctx *t, int pu_index)
{
    if (O->pin)
        (void)bench_pin(O->topo, O->npu, pu_index, "smr-bench");
    t->rng = 0x9e3779b97f4a7c15ull * (uint64_t)(t->id + 1) ^ now_ns();
    if (t->rng == 0)
        t->rng = 1;
    if (t->s == H_CDS)
        urcu_memb_register_thread();
    else
        (void)smr_thread_attach(g_dom[t->s == H_SMR ? 0 : 1]);
}

static void
thread_end(struct wctx *t)
{
    if (t->s == H_CDS)
        urcu_memb_unregister_thread();
    else
        smr_thread_detach(g_dom[t->s == H_SMR ? 0 : 1]);
}

/* ---- B6 mixes ----------------------------------------------------------- */

static AI void
mix_loop(int s, struct wctx *t)
{
    uint64_t nl = 0, nu = 0, sink = 0, t0;
    const unsigned lk = g_lookup_pct;

    pthread_barrier_wait(&g_start);
    uint64_t c0 = cpu_now_ns();
    t0 = now_ns();
    do {
        for (int i = 0; i < 64; i++) {
            uint64_t r = rng_next(&t->rng);
            uint64_t key = (r >> 8) & (NKEY - 1);

            if ((unsigned)((r >> 32) % 100) < lk) {
                rd_enter(s);
                sink += t_lookup(s, key) != 0;
                rd_exit(s);
                nl++;
            } else {
                (void)t_delete(s, t, key);
                (void)t_insert(s, key);
                nu++;
            }
        }
    } while (!g_stop);
    t->el_ns = now_ns() - t0;
    t->cpu_ns = cpu_now_ns() - c0;
    t->lookups = nl;
    t->updates = nu;
    t->sink = sink;
}

static void *
mix_worker(void *arg)
{
    struct wctx *t = arg;

    thread_begin(t, t->id);
    switch (t->s) {
    case H_SMR: mix_loop(H_SMR, t); break;
    case H_LAZY: mix_loop(H_LAZY, t); break;
    default: mix_loop(H_CDS, t); break;
    }
    thread_end(t);
    return NULL;
}

struct mix_res {
    double lk_mops, up_mops, rss_mib, pend_peak, hit_pct;
    double lk_cpu, up_cpu;      /* per CPU-second of the threads */
};

static int
mix_run(int s, int nthr, unsigned pct, struct mix_res *res)
{
    struct wctx *ctx = aligned_alloc(CL, sizeof(*ctx) * (size_t)nthr);
    uint64_t rss0, peak = 0;

    if (ctx == NULL)
        abort();
    memset(ctx, 0, sizeof(*ctx) * (size_t)nthr);
    malloc_trim(0);
    rss0 = rss_kb();
    if (table_create(s, NKEY, 1) != 0) {
        free(ctx);
        return -1;
    }
    for (uint64_t k = 0; k < NKEY; k++)
        (void)t_insert(s, k);
    __atomic_store_n(&g_reclaimed, 0, __ATOMIC_RELAXED);
    g_lookup_pct = pct;
    g_stop = 0;
    pthread_barrier_init(&g_start, NULL, (unsigned)nthr + 1);
    for (int i = 0; i < nthr; i++) {
        ctx[i].id = i;
        ctx[i].s = s;
        if (pthread_create(&ctx[i].th, NULL, mix_worker, &ctx[i]) != 0)
            abort();
    }
    pthread_barrier_wait(&g_start);
    /* Sleep the run away, sampling cds_lfht's callback backlog. */
    for (uint64_t t0 = now_ns(); now_ns() - t0 < O->dur_ns;) {
        sleep_ns(1000000);
        if (s == H_CDS) {
            uint64_t q = 0;
            for (int i = 0; i < nthr; i++)
                q += __atomic_load_n(&ctx[i].retired, __ATOMIC_RELAXED);
            q -= __atomic_load_n(&g_reclaimed, __ATOMIC_RELAXED);
            if ((int64_t)q > (int64_t)peak)
                peak = q;
        }
    }
    g_stop = 1;
    for (int i = 0; i < nthr; i++)
        pthread_join(ctx[i].th, NULL);
    pthread_barrier_destroy(&g_start);
    res->rss_mib = ((double)rss_kb() - (double)rss0) / 1024;
    if (s != H_CDS) {
        struct smr_pool_stats ps;
        smr_pool_stats(g_pool, &ps);
        peak = ps.pending_peak;
    }
    res->pend_peak = (double)peak;
    res->lk_mops = res->up_mops = res->lk_cpu = res->up_cpu = 0;
    uint64_t hits = 0, looks = 0;
    for (int i = 0; i < nthr; i++) {
        double cpu_us = (double)(ctx[i].cpu_ns ? ctx[i].cpu_ns : 1) / 1e3;
        hits += ctx[i].sink;
        looks += ctx[i].lookups;
        res->lk_cpu += (double)ctx[i].lookups / cpu_us;
        res->up_cpu += (double)ctx[i].updates / cpu_us;
        res->lk_mops += (double)ctx[i].lookups / ((double)ctx[i].el_ns / 1e3);
        res->up_mops += (double)ctx[i].updates / ((double)ctx[i].el_ns / 1e3);
    }
    /* Every key stays present but for the moment of its update: a lookup
     * that misses more than that would mean a broken table. */
    res->hit_pct = looks ? 100.0 * (double)hits / (double)looks : 0;
    table_destroy(s);
    free(ctx);
    return 0;
}

/* ---- B6 resize under load ------------------------------------------------ */

static AI void
rsz_lookup_loop(int s, struct wctx *t)
{
    uint64_t nl = 0, sink = 0, t0;
    const uint64_t max = g_rsz_max;

    pthread_barrier_wait(&g_start);
    t0 = now_ns();
    while (!g_writer_done) {
        for (int i = 0; i < 64; i++) {
            uint64_t key = (rng_next(&t->rng) >> 8) & (max - 1);
            rd_enter(s);
            sink += t_lookup(s, key);
            rd_exit(s);
        }
        nl += 64;
    }
    t->el_ns = now_ns() - t0;
    t->lookups = nl;
    t->sink = sink;
}

static AI void
rsz_writer_loop(int s, struct wctx *t)
{
    uint64_t t0;

    pthread_barrier_wait(&g_start);
    t0 = now_ns();
    for (uint64_t k = RSZ_START; k < g_rsz_max; k++)
        (void)t_insert(s, k);
    for (uint64_t k = RSZ_START; k < g_rsz_max; k++)
        (void)t_delete(s, t, k);
    g_writer_ns = now_ns() - t0;
    t->updates = 2 * (g_rsz_max - RSZ_START);
    g_writer_done = 1;
}

static void *
rsz_worker(void *arg)
{
    struct wctx *t = arg;
    bool writer = t->id == 0;

    /* The writer on the last PU, lookups from the first. */
    thread_begin(t, writer ? O->npu - 1 : t->id - 1);
    switch (t->s) {
    case H_SMR:
        if (writer) rsz_writer_loop(H_SMR, t); else rsz_lookup_loop(H_SMR, t);
        break;
    case H_LAZY:
        if (writer) rsz_writer_loop(H_LAZY, t);
        else rsz_lookup_loop(H_LAZY, t);
        break;
    default:
        if (writer) rsz_writer_loop(H_CDS, t); else rsz_lookup_loop(H_CDS, t);
        break;
    }
    thread_end(t);
    return NULL;
}

struct rsz_res {
    double lk_mops, writer_s;
    uint64_t grows, shrinks;
};

static int
rsz_run(int s, int nlookup, int resize, struct rsz_res *res)
{
    int n = nlookup + 1;
    struct wctx *ctx = aligned_alloc(CL, sizeof(*ctx) * (size_t)n);

    if (ctx == NULL)
        abort();
    memset(ctx, 0, sizeof(*ctx) * (size_t)n);
    malloc_trim(0);
    if (table_create(s, resize ? RSZ_START : g_rsz_max, resize) != 0) {
        free(ctx);
        return -1;
    }
    for (uint64_t k = 0; k < RSZ_START; k++)
        (void)t_insert(s, k);
    g_writer_done = 0;
    pthread_barrier_init(&g_start, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        ctx[i].id = i;
        ctx[i].s = s;
        if (pthread_create(&ctx[i].th, NULL, rsz_worker, &ctx[i]) != 0)
            abort();
    }
    for (int i = 0; i < n; i++)
        pthread_join(ctx[i].th, NULL);
    pthread_barrier_destroy(&g_start);
    res->lk_mops = 0;
    for (int i = 1; i < n; i++)
        res->lk_mops += (double)ctx[i].lookups / ((double)ctx[i].el_ns / 1e3);
    res->writer_s = (double)g_writer_ns / 1e9;
    res->grows = res->shrinks = 0;
    if (s != H_CDS) {
        struct smr_ht_stats hs;
        smr_ht_stats(g_ht, &hs);
        res->grows = hs.grows;
        res->shrinks = hs.shrinks;
    }
    table_destroy(s);
    free(ctx);
    return 0;
}

/* ---- the report ---------------------------------------------------------- */

static const char *
verdict(double ratio, double target)
{
    return ratio >= target ? "met" : "MISSED";
}

int
smr_bench_b6(const struct b6_opts *o)
{
    static const unsigned mixes[2] = { 90, 50 };
    static const char *const mname[2] = { "90/10", "50/50" };
    static const int dthr[3] = { 1, 2, 4 };
    const int *thr = o->nthr > 0 ? o->thr : dthr;
    int nthr = o->nthr > 0 ? o->nthr : 3, R = o->rounds;
    int ncfg = 2 * nthr, order[NH] = { H_SMR, H_LAZY, H_CDS };
    uint64_t rng = o->seed ^ 0xb6b6b6b6ull;
    const int targets = bench_show_targets();

    O = o;
    g_dom[0] = smr_create("smr-bench-ht", 0, 0);
    g_dom[1] = smr_create("smr-bench-ht-lazy", 0, SMR_LAZY);
    if (g_dom[0] == NULL || g_dom[1] == NULL) {
        fprintf(stderr, "smr-bench: B6: smr_create failed\n");
        return -1;
    }
    urcu_memb_register_thread();    /* main: prefill and teardown */

    /* ---------------- mixes ---------------- */
    struct mix_res *mr = calloc((size_t)(ncfg * NH * R), sizeof(*mr));
#define M(cfg, s, r) mr[((cfg) * NH + (s)) * R + (r)]
    printf("B6 hash table: smr_ht vs cds_lfht, %u keys, %u buckets at the "
        "start (automatic resize on), update = lookup + delete + unique "
        "insert of a fresh node; M ops/s summed over threads, median of %d "
        "rounds\n", NKEY, NKEY, R);
    printf("  smr_ht/smr-lazy: %s; cds_lfht: urcu-memb, sys_membarrier %s\n",
        smr_lazy_is_fence_free(g_dom[1]) ? "fence-free readers" :
        "fenced fallback", urcu_memb_has_sys_membarrier ? "in use" :
        "unavailable");
    printf("  nodes: smr_ht %zu bytes from an SMR pool; cds_lfht %zu bytes "
        "(with its rcu_head) from malloc; key + value payload in both\n",
        sizeof(struct hnode), sizeof(struct cnode));
    printf("  RSS MiB: growth from before the table was built; pend_peak: "
        "most nodes awaiting reclamation (max over rounds); x cds: ratio of "
        "medians, wall time, then per CPU-second of the threads\n");
    fflush(stdout);
    for (int r = 0; r < R; r++) {
        for (int cfg = 0; cfg < ncfg; cfg++) {
            shuffle(order, NH, &rng);
            for (int k = 0; k < NH; k++) {
                int s = order[k];
                if (mix_run(s, thr[cfg % nthr], mixes[cfg / nthr],
                    &M(cfg, s, r)) != 0) {
                    fprintf(stderr, "smr-bench: B6 %s: setup failed\n",
                        hname[s]);
                    return -1;
                }
            }
        }
    }
    for (int mi = 0; mi < 2; mi++) {
        printf("\n  mix %s lookup/update\n  %-16s", mname[mi], "scheme");
        for (int ti = 0; ti < nthr; ti++)
            printf(" | T=%-2d %8s %8s %7s %9s", thr[ti], "lookups",
                "updates", "RSS MiB", "pend_peak");
        printf("\n");
        double lmed[NH][8], umed[NH][8], lcpu[NH][8], ucpu[NH][8];
        for (int s = 0; s < NH; s++) {
            printf("  %-16s", hname[s]);
            for (int ti = 0; ti < nthr && ti < 8; ti++) {
                int cfg = mi * nthr + ti;
                double l[64], u[64], m[64], p[64];
                for (int r = 0; r < R && r < 64; r++) {
                    l[r] = M(cfg, s, r).lk_mops;
                    u[r] = M(cfg, s, r).up_mops;
                    m[r] = M(cfg, s, r).rss_mib;
                    p[r] = M(cfg, s, r).pend_peak;
                }
                int n = R < 64 ? R : 64;
                struct summ sl = summarize(l, n), su = summarize(u, n),
                    sm = summarize(m, n), sp = summarize(p, n);
                lmed[s][ti] = sl.med;
                umed[s][ti] = su.med;
                for (int r = 0; r < n; r++) {
                    m[r] = M(cfg, s, r).lk_cpu;
                    p[r] = M(cfg, s, r).up_cpu;
                }
                struct summ cl = summarize(m, n), cu = summarize(p, n);
                lcpu[s][ti] = cl.med;
                ucpu[s][ti] = cu.med;
                csv_row(hname[s], thr[ti], mname[mi], "lookup_mops_cpu",
                    cl.med, cl.lo, cl.hi, n);
                csv_row(hname[s], thr[ti], mname[mi], "update_mops_cpu",
                    cu.med, cu.lo, cu.hi, n);
                for (int r = 0; r < n; r++) {
                    m[r] = M(cfg, s, r).rss_mib;
                    p[r] = M(cfg, s, r).pend_peak;
                }
                printf(" |      %8.3f %8.3f %7.1f %9.0f", sl.med, su.med,
                    sm.med, sp.hi);
                csv_row(hname[s], thr[ti], mname[mi], "lookup_mops", sl.med,
                    sl.lo, sl.hi, n);
                csv_row(hname[s], thr[ti], mname[mi], "update_mops", su.med,
                    su.lo, su.hi, n);
                csv_row(hname[s], thr[ti], mname[mi], "rss_mib", sm.med,
                    sm.lo, sm.hi, n);
                csv_row(hname[s], thr[ti], mname[mi], "pending_peak",
                    sp.hi, sp.lo, sp.hi, n);
                for (int r = 0; r < n; r++)
                    p[r] = M(cfg, s, r).hit_pct;
                struct summ sh = summarize(p, n);
                csv_row(hname[s], thr[ti], mname[mi], "hit_pct", sh.med,
                    sh.lo, sh.hi, n);
                if (sh.lo < 99.0)
                    printf(" (hits %.1f%%!)", sh.lo);
            }
            printf("\n");
        }
        for (int c = 0; c < 2; c++) {
            for (int s = H_SMR; s <= H_LAZY; s++) {
                double (*lv)[8] = c ? lcpu : lmed, (*uv)[8] = c ? ucpu : umed;
                printf("  %-16s", c == 0 ? (s == H_SMR ? "x cds (smr)" :
                    "x cds (lazy)") : (s == H_SMR ? "x cds cpu (smr)" :
                    "x cds cpu (lazy)"));
                for (int ti = 0; ti < nthr && ti < 8; ti++) {
                    double rl = lv[H_CDS][ti] > 0 ? lv[s][ti] /
                        lv[H_CDS][ti] : 0;
                    double ru = uv[H_CDS][ti] > 0 ? uv[s][ti] /
                        uv[H_CDS][ti] : 0;
                    printf(" |      %7.2fx %7.2fx %17s", rl, ru, "");
                    csv_row(hname[s], thr[ti], mname[mi], c ?
                        "x_cds_lookups_cpu" : "x_cds_lookups", rl, rl, rl, 1);
                    csv_row(hname[s], thr[ti], mname[mi], c ?
                        "x_cds_updates_cpu" : "x_cds_updates", ru, ru, ru, 1);
                }
                printf("\n");
            }
        }
        if (targets) {
            for (int ti = 0; ti < nthr && ti < 8; ti++) {
                if (thr[ti] != 2)
                    continue;
                double rl = lmed[H_CDS][ti] > 0 ? lmed[H_LAZY][ti] /
                    lmed[H_CDS][ti] : 0;
                double ru = umed[H_CDS][ti] > 0 ? umed[H_LAZY][ti] /
                    umed[H_CDS][ti] : 0;
                double cl = lcpu[H_CDS][ti] > 0 ? lcpu[H_LAZY][ti] /
                    lcpu[H_CDS][ti] : 0;
                double cu = ucpu[H_CDS][ti] > 0 ? ucpu[H_LAZY][ti] /
                    ucpu[H_CDS][ti] : 0;
                printf("  target T=2, smr_ht/smr-lazy vs cds_lfht: lookups "
                    "%.2fx (target >= 1.00) %s, updates %.2fx (target >= "
                    "1.00) %s; by CPU time %.2fx %s, %.2fx %s\n", rl,
                    verdict(rl, 1.0), ru, verdict(ru, 1.0), cl,
                    verdict(cl, 1.0), cu, verdict(cu, 1.0));
            }
        }
    }
    free(mr);
    printf("\n");
    fflush(stdout);

    /* ---------------- resize under load ---------------- */
    int nl = o->npu > 1 ? o->npu - 1 : 1, R2 = R < 3 ? R : 3;
    g_rsz_max = o->quick ? (1u << 18) : (1u << 20);
    struct rsz_res *rr = calloc((size_t)(2 * NH * R2), sizeof(*rr));
#define RR(v, s, r) rr[((v) * NH + (s)) * R2 + (r)]
    printf("B6 resize under load: %d lookup thread(s) (random keys of %llu) "
        "while 1 writer grows the table from %u to %llu keys and deletes "
        "them back; M lookups/s while it works, median of %d rounds\n", nl,
        (unsigned long long)g_rsz_max, RSZ_START,
        (unsigned long long)g_rsz_max, R2);
    printf("  resize: %u buckets at the start, automatic resize; presized: "
        "%llu buckets, no resize\n", RSZ_START,
        (unsigned long long)g_rsz_max);
    fflush(stdout);
    for (int r = 0; r < R2; r++) {
        for (int v = 0; v < 2; v++) {
            shuffle(order, NH, &rng);
            for (int k = 0; k < NH; k++) {
                int s = order[k];
                if (rsz_run(s, nl, v == 0, &RR(v, s, r)) != 0) {
                    fprintf(stderr, "smr-bench: B6 resize %s: setup "
                        "failed\n", hname[s]);
                    return -1;
                }
            }
        }
    }
    printf("  %-16s %12s %12s %10s %18s %14s\n", "scheme", "resize",
        "presized", "ratio", "writer s (r/p)", "grows/shrinks");
    double rmed[NH];
    for (int s = 0; s < NH; s++) {
        double a[8], b[8], wa[8], wb[8];
        for (int r = 0; r < R2; r++) {
            a[r] = RR(0, s, r).lk_mops;
            b[r] = RR(1, s, r).lk_mops;
            wa[r] = RR(0, s, r).writer_s;
            wb[r] = RR(1, s, r).writer_s;
        }
        struct summ sa = summarize(a, R2), sb = summarize(b, R2),
            swa = summarize(wa, R2), swb = summarize(wb, R2);
        double ratio = sb.med > 0 ? sa.med / sb.med : 0;
        char gs[32] = "-";
        rmed[s] = sa.med;
        if (s != H_CDS)
            snprintf(gs, sizeof(gs), "%llu/%llu",
                (unsigned long long)RR(0, s, 0).grows,
                (unsigned long long)RR(0, s, 0).shrinks);
        printf("  %-16s %12.3f %12.3f %9.2fx %8.2f/%-9.2f %14s", hname[s],
            sa.med, sb.med, ratio, swa.med, swb.med, gs);
        if (targets && s == H_LAZY)
            printf("  (target >= 0.80) %s", verdict(ratio, 0.8));
        printf("\n");
        csv_row(hname[s], nl, "resize", "lookup_mops", sa.med, sa.lo, sa.hi,
            R2);
        csv_row(hname[s], nl, "presized", "lookup_mops", sb.med, sb.lo,
            sb.hi, R2);
        csv_row(hname[s], nl, "resize", "x_presized", ratio, ratio, ratio, 1);
        csv_row(hname[s], nl, "resize", "writer_s", swa.med, swa.lo, swa.hi,
            R2);
        csv_row(hname[s], nl, "presized", "writer_s", swb.med, swb.lo,
            swb.hi, R2);
    }
    for (int s = H_SMR; s <= H_LAZY; s++)
        printf("  %-16s lookups during resize %.2fx cds_lfht's\n",
            s == H_SMR ? "x cds (smr)" : "x cds (lazy)",
            rmed[H_CDS] > 0 ? rmed[s] / rmed[H_CDS] : 0);
    free(rr);
    printf("\n");
    fflush(stdout);

    urcu_memb_unregister_thread();
    smr_destroy(g_dom[0]);
    smr_destroy(g_dom[1]);
    return 0;
}
