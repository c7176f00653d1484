/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * libsmr pool test suite (Criterion): bad input, alignment, hooks,
 * statistics, no reuse while a reader could see an object (deterministic
 * and generation-stamp torture, with a control that must fail), the
 * pending bound with and without a stalled reader, thread exit, plain
 * caches, lazy and deferred domains, lifecycles, fork, debug aids.
 *
 * Every test runs in its own process (Criterion's default).  Only the
 * test's main thread calls cr_assert*; helper threads record what they saw
 * in atomics.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <smr.h>

#include "test_util.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */


static smr_pool_t
mkpool(const char *name, size_t size, smr_t smr, unsigned bmax, size_t cap)
{
    struct smr_pool_args a;
    smr_pool_t p;

    memset(&a, 0, sizeof(a));
    a.size = size;
    a.smr = smr;
    a.bucket_max = bmax;
    a.pending_cap = cap;
    errno = 0;
    p = smr_pool_create_args(name, &a);
    cr_assert(p != NULL, "smr_pool_create_args(%s) failed: errno %d", name,
        errno);
    return p;
}

static struct smr_pool_stats
stats(smr_pool_t p)
{
    struct smr_pool_stats st;

    smr_pool_stats(p, &st);
    return st;
}

/* Objects per slab of a fresh pool (one alloc carves exactly one slab). */
static size_t
per_slab(smr_pool_t p)
{
    struct smr_pool_stats st;
    void *o = smr_pool_alloc(p);

    cr_assert(o != NULL);
    st = stats(p);
    cr_assert_eq(st.slabs, 1);
    smr_pool_free(p, o);
    return st.in_use + st.pending + st.cached;
}

/* in_use + pending + cached == objects carved, when quiescent. */
static void
assert_adds_up(smr_pool_t p, size_t per, const char *when)
{
    struct smr_pool_stats st = stats(p);

    cr_assert_eq(st.in_use + st.pending + st.cached, st.slabs * per,
        "%s: in_use %zu + pending %zu + cached %zu != %zu slabs x %zu",
        when, st.in_use, st.pending, st.cached, st.slabs, per);
    cr_assert_eq(st.allocs - st.frees, (uint64_t)st.in_use, "%s", when);
}

/* Reclaim until nothing is pending (lazy goals need a tick or two). */
static bool
drain(smr_pool_t p, unsigned ms)
{
    uint64_t dl = now_ns() + ms * MS;

    for (;;) {
        smr_pool_reclaim(p);
        if (stats(p).pending == 0)
            return true;
        if (now_ns() > dl)
            return false;
        usleep(200);
    }
}


/*
 * Run fn in a child with stderr captured; expect SIGABRT and a message
 * that contains `needle` (the pool's name).
 */
static void
call_void_fn(void *fnp)
{
    (*(void (**)(void))fnp)();
}

static void
expect_abort(void (*fn)(void), const char *needle)
{
    char buf[4096];
    int status = child_stderr(call_void_fn, &fn, buf, sizeof(buf));

    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
        "child did not abort (status %#x, stderr: %s)", status, buf);
    cr_assert(strstr(buf, needle) != NULL,
        "abort message does not name \"%s\": %s", needle, buf);
}

/* ------------------------------------------------------------------ */
/* Bad input (SPEC §4)                                                 */
/* ------------------------------------------------------------------ */

Test(input, bad_input_einval, .timeout = 30)
{
    struct smr_pool_args a;
    smr_t d = mk("input", 0);

    errno = 0;
    cr_assert_null(smr_pool_create("zero", 0, 0, d, 0));
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_null(smr_pool_create("align3", 64, 3, d, 0));
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_null(smr_pool_create("align48", 64, 48, NULL, 0));
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_null(smr_pool_create("flags", 64, 0, d, 0x10));
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_null(smr_pool_create_args("null-args", NULL));
    cr_assert_eq(errno, EINVAL);
    memset(&a, 0, sizeof(a));
    a.size = 64;
    a.bucket_max = 1u << 20;
    errno = 0;
    cr_assert_null(smr_pool_create_args("bmax", &a));
    cr_assert_eq(errno, EINVAL);
    /* Nothing was leaked into the domain: it can be destroyed. */
    smr_destroy(d);
}

Test(input, good_input, .timeout = 30)
{
    smr_t d = mk("good", 0);
    size_t aligns[] = { 0, 1, 2, 8, 16, 32 };

    for (size_t i = 0; i < sizeof(aligns) / sizeof(aligns[0]); i++) {
        smr_pool_t p = smr_pool_create("good", 1, aligns[i], d, 0);
        cr_assert_not_null(p, "align %zu", aligns[i]);
        void *o = smr_pool_alloc(p);
        cr_assert_not_null(o);
        cr_assert_eq((uintptr_t)o % 16, 0, "default alignment is 16");
        smr_pool_free(p, o);
        smr_pool_free(p, NULL);        /* like free(NULL) */
        smr_pool_destroy(p);
    }
    smr_pool_destroy(NULL);
    smr_destroy(d);
}

/* ------------------------------------------------------------------ */
/* Alignment and distinct objects                                      */
/* ------------------------------------------------------------------ */

static void
check_alignment(size_t size, size_t align, int n)
{
    smr_t d = mk("align", 0);
    smr_pool_t p = smr_pool_create("align", size, align, d, 0);
    unsigned char **v = calloc((size_t)n, sizeof(*v));

    cr_assert_not_null(p);
    for (int i = 0; i < n; i++) {
        v[i] = smr_pool_alloc(p);
        cr_assert_not_null(v[i]);
        cr_assert_eq((uintptr_t)v[i] % (align ? align : 16), 0,
            "size %zu align %zu: %p", size, align, (void *)v[i]);
        memset(v[i], i & 0xff, size);
    }
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < size; j += 1 + size / 64)
            cr_assert_eq(v[i][j], (unsigned char)(i & 0xff),
                "objects overlap (size %zu align %zu)", size, align);
    for (int i = 0; i < n; i++)
        smr_pool_free(p, v[i]);
    cr_assert(drain(p, 1000));
    smr_pool_destroy(p);
    smr_destroy(d);
    free(v);
}

Test(align, a64, .timeout = 60) { check_alignment(40, 64, 3000); }
Test(align, a4096, .timeout = 60) { check_alignment(100, 4096, 300); }
Test(align, a4096_big, .timeout = 60) { check_alignment(5000, 4096, 100); }
Test(align, big_objects, .timeout = 60) { check_alignment(300000, 0, 40); }
Test(align, tiny_objects, .timeout = 60) { check_alignment(1, 0, 20000); }

/* ------------------------------------------------------------------ */
/* Hooks: init/fini once per object, ctor/dtor around every use        */
/* ------------------------------------------------------------------ */

#define H_MAGIC 0x1eaf1eafu
enum { H_INIT = 1, H_CTOR, H_DTOR, H_FINI };

struct hobj {
    uint32_t magic;
    uint32_t state;
    uint64_t payload[6];
};

struct hctx {
    atomic_long init, fini, ctor, dtor;
    atomic_long bad;          /* ordering violations */
    atomic_long bad_arg;
};

static void
h_init(void *o, void *arg)
{
    struct hobj *h = o;
    struct hctx *c = arg;

    if (h->magic == H_MAGIC)
        atomic_fetch_add(&c->bad, 1);      /* init twice */
    h->magic = H_MAGIC;
    h->state = H_INIT;
    atomic_fetch_add(&c->init, 1);
}

static void
h_ctor(void *o, void *arg)
{
    struct hobj *h = o;
    struct hctx *c = arg;

    if (h->magic != H_MAGIC || (h->state != H_INIT && h->state != H_DTOR))
        atomic_fetch_add(&c->bad, 1);      /* no init, or no dtor before */
    h->state = H_CTOR;
    atomic_fetch_add(&c->ctor, 1);
}

static void
h_dtor(void *o, void *arg)
{
    struct hobj *h = o;
    struct hctx *c = arg;

    if (h->magic != H_MAGIC || h->state != H_CTOR)
        atomic_fetch_add(&c->bad, 1);
    h->state = H_DTOR;
    atomic_fetch_add(&c->dtor, 1);
}

static void
h_fini(void *o, void *arg)
{
    struct hobj *h = o;
    struct hctx *c = arg;

    if (h->magic != H_MAGIC || h->state == H_CTOR || h->state == H_FINI)
        atomic_fetch_add(&c->bad, 1);      /* live, or fini twice */
    h->state = H_FINI;
    atomic_fetch_add(&c->fini, 1);
}

static smr_pool_t
mkhooks(smr_t d, struct hctx *c)
{
    struct smr_pool_args a;
    smr_pool_t p;

    memset(&a, 0, sizeof(a));
    a.size = sizeof(struct hobj);
    a.smr = d;
    a.init = h_init;
    a.fini = h_fini;
    a.ctor = h_ctor;
    a.dtor = h_dtor;
    a.arg = c;
    p = smr_pool_create_args("hooks", &a);
    cr_assert_not_null(p);
    return p;
}

static void
hooks_run(smr_t d)
{
    static struct hctx c;
    struct hobj *v[300];
    struct held h;
    smr_pool_t p = mkhooks(d, &c);
    long carved;

    for (int i = 0; i < 300; i++) {
        v[i] = smr_pool_alloc(p);
        cr_assert_eq(v[i]->state, H_CTOR);
    }
    carved = atomic_load(&c.init);
    cr_assert_geq(carved, 300);
    cr_assert_eq(atomic_load(&c.ctor), 300);
    cr_assert_eq(atomic_load(&c.dtor), 0);
    if (d != NULL) {
        /* A reader inside: no dtor may run, however hard we reclaim. */
        held_start(&h, d, 0, 0);
        for (int i = 0; i < 300; i++)
            smr_pool_free(p, v[i]);
        for (int i = 0; i < 5; i++) {
            smr_pool_reclaim(p);
            usleep(1000);
        }
        cr_assert_eq(atomic_load(&c.dtor), 0, "dtor ran inside a grace "
            "period");
        held_stop(&h);
    } else {
        for (int i = 0; i < 300; i++)
            smr_pool_free(p, v[i]);
        cr_assert_eq(atomic_load(&c.dtor), 300, "plain: dtor at free");
    }
    /* Reuse (no reclaim: no slab goes back): ctor again, which checks
     * that a dtor came first; init does not run again. */
    for (int i = 0; i < 300; i++)
        v[i] = smr_pool_alloc(p);
    cr_assert_eq(atomic_load(&c.ctor), 600);
    for (int i = 0; i < 300; i++)
        smr_pool_free(p, v[i]);
    cr_assert_eq(atomic_load(&c.init), carved, "init ran again on reuse");
    cr_assert_eq(atomic_load(&c.fini), 0);
    smr_pool_destroy(p);          /* waits, runs the last dtors, fini */
    cr_assert_eq(atomic_load(&c.dtor), 600);
    cr_assert_eq(atomic_load(&c.fini), atomic_load(&c.init),
        "fini %ld != init %ld", atomic_load(&c.fini), atomic_load(&c.init));
    cr_assert_eq(atomic_load(&c.bad), 0, "%ld hook ordering violations",
        atomic_load(&c.bad));
}

Test(hooks, ordering_and_counts_smr, .timeout = 60)
{
    smr_t d = mk("hooks", 0);

    hooks_run(d);
    smr_destroy(d);
}

Test(hooks, ordering_and_counts_plain, .timeout = 60)
{
    hooks_run(NULL);
}

Test(hooks, reclaim_returns_slabs_with_fini, .timeout = 60)
{
    static struct hctx c;
    smr_t d = mk("fini", 0);
    smr_pool_t p = mkhooks(d, &c);
    struct hobj *v[2000];

    for (int i = 0; i < 2000; i++)
        v[i] = smr_pool_alloc(p);
    for (int i = 0; i < 2000; i++)
        smr_pool_free(p, v[i]);
    cr_assert(drain(p, 10000));
    struct smr_pool_stats st = stats(p);
    cr_assert_eq(st.slabs, 0, "every object cached: every slab goes back "
        "(%zu left)", st.slabs);
    cr_assert_eq(st.bytes, 0);
    cr_assert_eq(atomic_load(&c.fini), atomic_load(&c.init));
    /* And the pool works on. */
    v[0] = smr_pool_alloc(p);
    cr_assert_not_null(v[0]);
    cr_assert_eq(v[0]->state, H_CTOR);
    smr_pool_free(p, v[0]);
    smr_pool_destroy(p);
    cr_assert_eq(atomic_load(&c.bad), 0);
    smr_destroy(d);
}

/* ------------------------------------------------------------------ */
/* Statistics                                                          */
/* ------------------------------------------------------------------ */

Test(stats, add_up, .timeout = 60)
{
    smr_t d = mk("stats", 0);
    smr_pool_t p = smr_pool_create("stats", 48, 0, d, 0);
    static void *v[5000];
    unsigned long long seed = 12345;
    size_t per, live = 0;

    cr_assert_not_null(p);
    per = per_slab(p);
    cr_assert_geq(per, 8);
    cr_assert_eq(stats(p).size, 48);
    cr_assert_geq(stats(p).bytes, per * 48);
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 3000; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            if ((seed >> 33) % 3 != 0 && live < 5000) {
                v[live++] = smr_pool_alloc(p);
            } else if (live > 0) {
                size_t k = (size_t)(seed >> 20) % live;
                smr_pool_free(p, v[k]);
                v[k] = v[--live];
            }
        }
        assert_adds_up(p, per, "churn");
        cr_assert_eq(stats(p).in_use, live);
        if (round % 5 == 4) {
            smr_pool_reclaim(p);
            assert_adds_up(p, per, "after reclaim");
        }
    }
    while (live > 0)
        smr_pool_free(p, v[--live]);
    cr_assert(drain(p, 10000));
    struct smr_pool_stats st = stats(p);
    cr_assert_eq(st.in_use, 0);
    cr_assert_eq(st.pending, 0);
    cr_assert_eq(st.allocs, st.frees);
    cr_assert_geq(st.buckets_queued, st.buckets_reused);
    cr_assert_gt(st.buckets_reused, 0);
    cr_assert_eq(st.slabs, 0);
    cr_assert_geq(st.pending_peak, 1);
    smr_pool_destroy(p);
    smr_destroy(d);
}

/* Other threads' buckets are counted too (summed on read). */
static void *
stats_thread(void *arg)
{
    smr_pool_t p = arg;
    void *v[100];

    for (int i = 0; i < 100; i++)
        v[i] = smr_pool_alloc(p);
    for (int i = 0; i < 50; i++)
        smr_pool_free(p, v[i]);
    /* 50 still in use, stays alive until told (the caller joins). */
    return NULL;
}

Test(stats, other_threads_summed, .timeout = 60)
{
    smr_t d = mk("stats2", 0);
    smr_pool_t p = smr_pool_create("stats2", 64, 0, d, 0);
    size_t per = per_slab(p);
    pthread_t t[3];

    for (int i = 0; i < 3; i++)
        cr_assert(pthread_create(&t[i], NULL, stats_thread, p) == 0);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    struct smr_pool_stats st = stats(p);
    cr_assert_eq(st.in_use, 150);
    cr_assert_eq(st.allocs, 301);
    cr_assert_eq(st.frees, 151);
    assert_adds_up(p, per, "threads exited");
    smr_pool_reclaim(p);
    cr_assert(drain(p, 10000));
    cr_assert_eq(stats(p).pending, 0);
    /* 150 leaked on purpose: release builds warn at destroy. */
#if !SMR_CONFIG_DEBUG
    smr_pool_destroy(p);
    smr_destroy(d);
#endif
}

/* ------------------------------------------------------------------ */
/* No reuse while a section that could see the object is open          */
/* ------------------------------------------------------------------ */

ALL_FLAGS(reuse, not_while_reader_inside)
ParameterizedTest(int *flags, reuse, not_while_reader_inside, .timeout = 60)
{
    enum { K = 100, N = 20000 };
    smr_t d = mk("reuse", *flags);
    smr_pool_t p = mkpool("reuse", 64, d, 0, 1u << 20);
    static void *freed[K], *got[N], *more[N];
    struct held h;
    int back = 0;

    /* Warm: the pool has cached objects (and queued buckets) to offer. */
    for (int i = 0; i < 1000; i++)
        got[i] = smr_pool_alloc(p);
    for (int i = 0; i < 1000; i++)
        smr_pool_free(p, got[i]);
    cr_assert(drain(p, 10000));

    held_start(&h, d, *flags, 0);
    for (int i = 0; i < K; i++)
        freed[i] = smr_pool_alloc(p);
    for (int i = 0; i < K; i++)
        smr_pool_free(p, freed[i]);
    for (int i = 0; i < 3; i++) {
        smr_pool_reclaim(p);            /* tags, polls: must not reuse */
        usleep(2000);
    }
    for (int i = 0; i < N; i++) {
        got[i] = smr_pool_alloc(p);
        cr_assert_not_null(got[i]);
        for (int k = 0; k < K; k++)
            cr_assert_neq(got[i], freed[k], "%s: object %p reused while a "
                "reader that could see it is inside (alloc %d)",
                flags_name(*flags), freed[k], i);
    }
    cr_assert_geq(stats(p).pending, K);
    held_stop(&h);
    /* After the reader: the freed objects come back (got[] stays in use,
     * so their slabs stay mapped). */
    cr_assert(drain(p, 10000));
    struct smr_pool_stats st = stats(p);
    int m;
    for (m = 0; (size_t)m < st.cached && m < N && !back; m++) {
        more[m] = smr_pool_alloc(p);
        for (int k = 0; k < K; k++)
            back += more[m] == freed[k];
    }
    cr_assert_gt(back, 0, "freed objects never came back after the reader "
        "left (the test could not tell)");
    while (m > 0)
        smr_pool_free(p, more[--m]);
    for (int i = 0; i < N; i++)
        smr_pool_free(p, got[i]);
    cr_assert(drain(p, 10000));
    smr_pool_destroy(p);
    smr_destroy(d);
}

/* Alloc inside a read section: legal, never waits, even with a queue. */
Test(reuse, alloc_inside_section, .timeout = 60)
{
    smr_t d = mk("inside", 0);
    smr_pool_t p = mkpool("inside", 64, d, 16, 64);
    static void *v[5000];
    struct held h;
    uint64_t t0;

    held_start(&h, d, 0, 0);
    smr_enter(d);
    t0 = now_ns();
    for (int i = 0; i < 5000; i++)
        v[i] = smr_pool_alloc(p);
    for (int i = 0; i < 5000; i++)
        smr_pool_free(p, v[i]);        /* past the cap, inside: no wait */
    for (int i = 0; i < 5000; i++)
        v[i] = smr_pool_alloc(p);
    cr_assert_lt(now_ns() - t0, 2000 * MS, "alloc/free inside a section "
        "blocked");
    smr_exit(d);
    cr_assert_eq(stats(p).sync_reclaims, 0);
    held_stop(&h);
    for (int i = 0; i < 5000; i++)
        smr_pool_free(p, v[i]);
    cr_assert(drain(p, 10000));
    smr_pool_destroy(p);
    smr_destroy(d);
}

/*
 * Generation-stamp torture: a writer replaces objects in shared slots
 * (alloc, stamp, publish, free the old one); readers in sections load a
 * slot, read the stamp, linger, and read it again.  The stamp is written
 * only right after smr_pool_alloc, so a change seen inside one section
 * means an object was reused while a reader could see it.
 */
#define NSLOT 16

struct gnode {
    _Atomic uint64_t stamp;
    _Atomic uint64_t check;    /* ~stamp */
    uint64_t pad[6];
};

struct gtort {
    smr_t smr;
    int flags;
    SMR_POINTER(struct gnode *) slot[NSLOT];
    atomic_int stop;
    atomic_int started;
    atomic_long sections;
    atomic_long violations;
};

static void *
gt_reader(void *arg)
{
    struct gtort *g = arg;
    unsigned r = (unsigned)(uintptr_t)pthread_self();

    atomic_fetch_add(&g->started, 1);
    while (!atomic_load_explicit(&g->stop, memory_order_relaxed)) {
        r = r * 1103515245u + 12345u;
        sec_enter(g->smr, g->flags);
        struct gnode *n = smr_entered_load(&g->slot[(r >> 8) % NSLOT],
            g->smr);
        uint64_t s1 = atomic_load_explicit(&n->stamp, memory_order_relaxed);
        uint64_t c1 = atomic_load_explicit(&n->check, memory_order_relaxed);
        /* Linger: longer now and then, so a reuse has time to happen. */
        unsigned spin = (r & 63) == 0 ? 20000 : 200;
        for (unsigned i = 0; i < spin; i++)
            __atomic_signal_fence(__ATOMIC_SEQ_CST);
        uint64_t s2 = atomic_load_explicit(&n->stamp, memory_order_relaxed);
        if (s1 != s2 || c1 != ~s1)
            atomic_fetch_add(&g->violations, 1);
        sec_exit(g->smr, g->flags);
        atomic_fetch_add_explicit(&g->sections, 1, memory_order_relaxed);
    }
    return NULL;
}

/* Returns violations seen; runs at most ms (stops early once found if
 * stop_on_violation). */
static long
gt_run(smr_t d, int flags, smr_pool_t p, unsigned ms, bool stop_on_violation,
    long *swaps)
{
    static struct gtort g;
    pthread_t rt[2];
    uint64_t stamp = 1, dl;
    long n = 0;

    memset(&g, 0, sizeof(g));
    g.smr = d;
    g.flags = flags;
    for (int i = 0; i < NSLOT; i++) {
        struct gnode *x = smr_pool_alloc(p);
        atomic_store(&x->stamp, stamp);
        atomic_store(&x->check, ~stamp);
        stamp++;
        smr_serialized_store(&g.slot[i], x, true);
    }
    for (int i = 0; i < 2; i++)
        cr_assert(pthread_create(&rt[i], NULL, gt_reader, &g) == 0);
    cr_assert(wait_flag(&g.started, 2, 20000));
    dl = now_ns() + ms * MS;
    while (now_ns() < dl) {
        for (int k = 0; k < 64; k++) {
            struct gnode *x = smr_pool_alloc(p), *old;
            /* Bump the stamp only now, after the (re)allocation. */
            atomic_store_explicit(&x->stamp, stamp, memory_order_relaxed);
            atomic_store_explicit(&x->check, ~stamp, memory_order_relaxed);
            stamp++;
            old = smr_serialized_swap(&g.slot[stamp % NSLOT], x, true);
            smr_pool_free(p, old);
            n++;
        }
        if (stop_on_violation && atomic_load(&g.violations) > 0)
            break;
    }
    atomic_store(&g.stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(rt[i], NULL);
    for (int i = 0; i < NSLOT; i++)
        smr_pool_free(p, smr_serialized_load(&g.slot[i], true));
    *swaps = n;
    cr_log_info("torture %s%s: %ld swaps, %ld sections, %ld violations",
        d ? flags_name(flags) : "plain cache (control)",
        "", n, atomic_load(&g.sections), atomic_load(&g.violations));
    return atomic_load(&g.violations);
}

ALL_FLAGS(reuse, generation_stamps)
ParameterizedTest(int *flags, reuse, generation_stamps, .timeout = 120)
{
    smr_t d = mk("gen", *flags);
    smr_pool_t p = mkpool("gen", sizeof(struct gnode), d, 32, 512);
    long swaps, v;

    v = gt_run(d, *flags, p, 700, false, &swaps);
    cr_assert_eq(v, 0, "%s: %ld objects reused under a reader",
        flags_name(*flags), v);
    cr_assert_gt(swaps, 100, "the writer made no progress");
    struct smr_pool_stats st = stats(p);
    cr_assert_gt(st.buckets_reused, 0, "the pool never reused a bucket");
    cr_assert(drain(p, 10000));
    smr_pool_destroy(p);
    smr_destroy(d);
}

/* Control: the same detector on a plain cache (immediate reuse) must see
 * violations, or the torture above proves nothing.  (Not under ASan: the
 * plain cache poisons freed objects at once, and the readers' stale reads
 * are exactly what ASan reports.) */
#if !defined(__SANITIZE_ADDRESS__)
Test(reuse, generation_stamps_control_detects, .timeout = 120)
{
    smr_t d = mk("gen-control", 0);
    smr_pool_t p = mkpool("gen-control", sizeof(struct gnode), NULL, 32, 0);
    long swaps, v;

    v = gt_run(d, 0, p, 5000, true, &swaps);
    cr_assert_gt(v, 0, "the detector saw no reuse in a plain cache: it "
        "cannot fail");
    smr_pool_destroy(p);
    smr_destroy(d);
}
#endif

/* ------------------------------------------------------------------ */
/* The pending bound                                                   */
/* ------------------------------------------------------------------ */

struct churn {
    smr_pool_t p;
    smr_t smr;
    atomic_int stop;
    atomic_long ops;
};

static void *
churn_main(void *arg)
{
    struct churn *c = arg;
    enum { RING = 512 };
    void *ring[RING];
    unsigned i = 0;

    for (int k = 0; k < RING; k++)
        ring[k] = smr_pool_alloc(c->p);
    while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
        smr_pool_free(c->p, ring[i % RING]);
        ring[i % RING] = smr_pool_alloc(c->p);
        *(volatile uint64_t *)ring[i % RING] = i;
        i++;
        atomic_fetch_add_explicit(&c->ops, 1, memory_order_relaxed);
    }
    for (int k = 0; k < RING; k++)
        smr_pool_free(c->p, ring[k]);
    return NULL;
}

/* Short sections all the time: polls fail now and then, no stall. */
static void *
busy_reader(void *arg)
{
    struct churn *c = arg;

    while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
        smr_enter(c->smr);
        for (int i = 0; i < 100; i++)
            __atomic_signal_fence(__ATOMIC_SEQ_CST);
        smr_exit(c->smr);
    }
    return NULL;
}

Test(bound, pending_bounded_without_stall, .timeout = 120)
{
    enum { BMAX = 32, CAP = 256, NT = 2 };
    static struct churn c;
    smr_t d = mk("bound", 0);
    smr_pool_t p = mkpool("bound", 64, d, BMAX, CAP);
    pthread_t t[NT], r;
    size_t bound = NT * BMAX + CAP, worst = 0;
    uint64_t dl;

    c.p = p;
    c.smr = d;
    for (int i = 0; i < NT; i++)
        cr_assert(pthread_create(&t[i], NULL, churn_main, &c) == 0);
    cr_assert(pthread_create(&r, NULL, busy_reader, &c) == 0);
    dl = now_ns() + 600 * MS;
    while (now_ns() < dl) {
        struct smr_pool_stats st = stats(p);
        if (st.pending > worst)
            worst = st.pending;
        usleep(500);
    }
    atomic_store(&c.stop, 1);
    for (int i = 0; i < NT; i++)
        pthread_join(t[i], NULL);
    pthread_join(r, NULL);
    struct smr_pool_stats st = stats(p);
    cr_log_info("bound: %ld ops, worst sampled pending %zu, peak %zu, "
        "bound %zu, sync reclaims %llu", atomic_load(&c.ops), worst,
        st.pending_peak, bound, (ull)st.sync_reclaims);
    cr_assert_gt(atomic_load(&c.ops), 10000);
    cr_assert_leq(worst, bound, "pending %zu > %d threads x %d + %d", worst,
        NT, BMAX, CAP);
    cr_assert_leq(st.pending_peak, bound, "pending_peak %zu > bound %zu",
        st.pending_peak, bound);
    cr_assert(drain(p, 10000));
    cr_assert_eq(stats(p).in_use, 0);
    smr_pool_destroy(p);
    smr_destroy(d);
}

ALL_FLAGS(bound, stalled_reader_sync_reclaim)
ParameterizedTest(int *flags, bound, stalled_reader_sync_reclaim,
    .timeout = 120)
{
    enum { BMAX = 16, CAP = 64, N = 3000, HOLD = 300 };
    smr_t d = mk("stall", *flags);
    smr_pool_t p = mkpool("stall", 64, d, BMAX, CAP);
    static void *v[N];
    struct held h;
    uint64_t t0, el;

    for (int i = 0; i < N; i++)
        v[i] = smr_pool_alloc(p);
    held_start(&h, d, *flags, HOLD);     /* stays inside HOLD ms */
    t0 = now_ns();
    for (int i = 0; i < N; i++) {
        smr_pool_free(p, v[i]);          /* outside sections: may wait */
        cr_assert_leq(stats(p).pending, (size_t)(BMAX + CAP),
            "pending past the bound with a stalled reader (free %d)", i);
    }
    el = now_ns() - t0;
    pthread_join(h.tid, NULL);
    struct smr_pool_stats st = stats(p);
    cr_log_info("stall %s: frees took %llu ms, sync reclaims %llu, peak %zu",
        flags_name(*flags), (ull)(el / MS), (ull)st.sync_reclaims,
        st.pending_peak);
    cr_assert_gt(st.sync_reclaims, 0, "the cap never made a free wait");
    cr_assert_geq(el, (HOLD / 2) * MS, "frees past the cap did not wait for "
        "the stalled reader");
    cr_assert_leq(st.pending_peak, (size_t)(BMAX + CAP));
    /* The pool works on. */
    for (int i = 0; i < N; i++)
        v[i] = smr_pool_alloc(p);
    for (int i = 0; i < N; i++)
        smr_pool_free(p, v[i]);
    cr_assert(drain(p, 10000));
    smr_pool_destroy(p);
    smr_destroy(d);
}

/*
 * The adaptive cap (SPEC §2): with default arguments, a writer that frees
 * as fast as it can with no reader inside never waits, in any mode.  The
 * lazy domain is the case that used to block: its goals expire only at a
 * clock tick (1 ms), so a full-speed free rate fills any fixed cap of a
 * few thousand objects before the first bucket can be reused.
 */
ALL_FLAGS(cap, steady_frees_never_wait)
ParameterizedTest(int *flags, cap, steady_frees_never_wait, .timeout = 120)
{
    enum { RING = 1024, N = 600000 };
    smr_t d = mk("cap-steady", *flags);
    smr_pool_t p = mkpool("cap-steady", 64, d, 0, 0);
    static void *ring[RING];
    struct smr_pool_stats st;

    for (int i = 0; i < RING; i++)
        ring[i] = smr_pool_alloc(p);
    for (int i = 0; i < N; i++) {
        void *o = smr_pool_alloc(p);

        cr_assert(o != NULL);
        *(volatile int *)o = i;
        smr_pool_free(p, ring[i % RING]);
        ring[i % RING] = o;
    }
    st = stats(p);
    cr_log_info("cap %s: %llu frees, sync reclaims %llu, cap in force %zu "
        "(raised %llu times, bound %zu), peak %zu", flags_name(*flags),
        (ull)st.frees, (ull)st.sync_reclaims, st.pending_cap_now,
        (ull)st.cap_raises, st.pending_cap, st.pending_peak);
    cr_assert_eq(st.sync_reclaims, 0, "%llu frees waited with no reader "
        "inside (cap in force %zu, peak %zu)", (ull)st.sync_reclaims,
        st.pending_cap_now, st.pending_peak);
    cr_assert_leq(st.pending_cap_now, st.pending_cap);
    cr_assert_eq(st.pending_cap, (size_t)(16 << 20) / 64,
        "default bound: 16 MiB of 64-byte objects");
    for (int i = 0; i < RING; i++)
        smr_pool_free(p, ring[i]);
    cr_assert(drain(p, 10000));
    smr_pool_destroy(p);
    smr_destroy(d);
}

/*
 * A reader stuck inside while a writer frees at full speed with default
 * arguments: the cap in force may rise while the queue's head is young,
 * never past the default bound; then frees wait for the reader.
 */
ALL_FLAGS(cap, stuck_reader_default_bound)
ParameterizedTest(int *flags, cap, stuck_reader_default_bound,
    .timeout = 120)
{
    enum { HOLD = 400 };
    smr_t d = mk("cap-stuck", *flags);
    smr_pool_t p = mkpool("cap-stuck", 64, d, 0, 0);
    size_t bound, n, peak = 0;
    struct smr_pool_stats st = stats(p);
    struct held h;
    void **v;

    bound = st.pending_cap + 256;        /* + one thread's bucket_max
                                          * (the default, smr_pool(3)) */
    n = st.pending_cap + 8 * 256;
    v = malloc(n * sizeof(*v));
    cr_assert(v != NULL);
    for (size_t i = 0; i < n; i++)
        v[i] = smr_pool_alloc(p);
    held_start(&h, d, *flags, HOLD);
    for (size_t i = 0; i < n; i++) {
        smr_pool_free(p, v[i]);
        if ((i & 1023) == 0) {
            st = stats(p);
            peak = st.pending > peak ? st.pending : peak;
            cr_assert_leq(st.pending, bound, "pending %zu past the default "
                "bound %zu (free %zu)", st.pending, bound, i);
        }
    }
    pthread_join(h.tid, NULL);
    st = stats(p);
    cr_log_info("stuck %s: sync reclaims %llu, cap in force %zu (raised "
        "%llu times), peak %zu, bound %zu", flags_name(*flags),
        (ull)st.sync_reclaims, st.pending_cap_now, (ull)st.cap_raises,
        st.pending_peak, bound);
    cr_assert_gt(st.sync_reclaims, 0, "no free waited for the stuck reader");
    cr_assert_leq(st.pending_peak, bound);
    free(v);
    cr_assert(drain(p, 10000));
    smr_pool_destroy(p);
    smr_destroy(d);
}

/* Inside a section (this domain or another) a free never blocks. */
static void
free_inside_no_block(bool same_domain)
{
    enum { BMAX = 16, CAP = 64, N = 3000 };
    smr_t d = mk("noblock", 0), other = mk("other", 0);
    smr_t mine = same_domain ? d : other;
    smr_pool_t p = mkpool("noblock", 64, d, BMAX, CAP);
    static void *v[N];
    struct held h;
    uint64_t t0, el;

    for (int i = 0; i < N; i++)
        v[i] = smr_pool_alloc(p);
    held_start(&h, d, 0, 0);             /* until released */
    smr_enter(mine);
    t0 = now_ns();
    for (int i = 0; i < N; i++)
        smr_pool_free(p, v[i]);
    el = now_ns() - t0;
    smr_exit(mine);
    struct smr_pool_stats st = stats(p);
    cr_assert_lt(el, 2000 * MS, "free inside a section blocked");
    cr_assert_eq(st.sync_reclaims, 0);
    cr_assert_gt(st.pending, (size_t)CAP, "expected the cap exceeded");
    held_stop(&h);
    cr_assert(drain(p, 10000));
    smr_pool_destroy(p);
    smr_destroy(other);
    smr_destroy(d);
}

Test(bound, free_inside_own_section_never_blocks, .timeout = 60)
{
    free_inside_no_block(true);
}

Test(bound, free_inside_other_section_never_blocks, .timeout = 60)
{
    free_inside_no_block(false);
}

/*
 * SMR_POOL_NOWAIT (SPEC §2: a latency-critical writer never blocks).  A
 * reader holds a section for HOLD ms; a thread outside every section
 * frees 3 x the cap.  With the flag no free waits (they all return while
 * the reader is still inside), the overshoot is counted and pending grows
 * past the bound; without it the same frees wait for the reader.  Either
 * way everything drains once the reader leaves.
 */
enum { NW_BMAX = 16, NW_CAP = 64, NW_N = 3 * NW_CAP + 4 * NW_BMAX,
       NW_HOLD = 500 };

static smr_pool_t
mkpool_flags(const char *name, smr_t smr, int flags)
{
    struct smr_pool_args a;
    smr_pool_t p;

    memset(&a, 0, sizeof(a));
    a.size = 64;
    a.smr = smr;
    a.flags = flags;
    a.bucket_max = NW_BMAX;
    a.pending_cap = NW_CAP;
    errno = 0;
    p = smr_pool_create_args(name, &a);
    cr_assert(p != NULL, "smr_pool_create_args(%s, flags %#x): errno %d",
        name, flags, errno);
    return p;
}

/* Frees NW_N objects past the cap with a reader inside; returns the time
 * the frees took (ns) and the statistics right after them in *st. */
static uint64_t
nowait_frees(smr_t d, smr_pool_t p, int flags, struct held *h,
    struct smr_pool_stats *st)
{
    static void *v[NW_N];
    uint64_t t0, el;

    for (int i = 0; i < NW_N; i++)
        cr_assert_not_null(v[i] = smr_pool_alloc(p));
    held_start(h, d, flags, NW_HOLD);
    t0 = now_ns();
    for (int i = 0; i < NW_N; i++)
        smr_pool_free(p, v[i]);      /* outside every section */
    el = now_ns() - t0;
    *st = stats(p);
    return el;
}

ALL_FLAGS(nowait, free_past_cap_never_blocks)
ParameterizedTest(int *flags, nowait, free_past_cap_never_blocks,
    .timeout = 60)
{
    smr_t d = mk("nowait", *flags);
    smr_pool_t p = mkpool_flags("nowait", d, SMR_POOL_NOWAIT);
    struct smr_pool_stats st;
    struct held h;
    uint64_t el = nowait_frees(d, p, *flags, &h, &st);
    bool inside = atomic_load(&h.leaving) == 0;

    cr_log_info("nowait %s: %d frees in %llu us, pending %zu, peak %zu, "
        "over %llu", flags_name(*flags), NW_N, (ull)(el / 1000), st.pending,
        st.pending_peak, (ull)st.nowait_over);
    cr_assert(inside, "the reader left before the frees returned (%llu ms):"
        " they waited for it", (ull)(el / MS));
    cr_assert_lt(el, 250 * MS, "NOWAIT frees took %llu ms", (ull)(el / MS));
    cr_assert_eq(st.sync_reclaims, 0, "a NOWAIT free waited");
    cr_assert_gt(st.nowait_over, 0, "the overshoot was not counted");
    cr_assert_gt(st.pending, (size_t)(NW_BMAX + NW_CAP),
        "pending %zu within the bound: the cap was never passed",
        st.pending);
    cr_assert_geq(st.pending_peak, st.pending);
    held_stop(&h);
    cr_assert(drain(p, 10000), "pending %zu after the reader left",
        stats(p).pending);
    cr_assert_eq(stats(p).in_use, 0);
    smr_pool_destroy(p);
    smr_destroy(d);
}

/* The control: the same frees without the flag wait for the reader. */
Test(nowait, control_without_flag_blocks, .timeout = 60)
{
    smr_t d = mk("wait", 0);
    smr_pool_t p = mkpool_flags("wait", d, 0);
    struct smr_pool_stats st;
    struct held h;
    uint64_t el = nowait_frees(d, p, 0, &h, &st);

    cr_assert_geq(el, (NW_HOLD / 2) * MS, "frees past the cap took %llu ms:"
        " they did not wait", (ull)(el / MS));
    cr_assert_gt(st.sync_reclaims, 0);
    cr_assert_eq(st.nowait_over, 0);
    cr_assert_leq(st.pending_peak, (size_t)(NW_BMAX + NW_CAP));
    held_stop(&h);
    cr_assert(drain(p, 10000));
    smr_pool_destroy(p);
    smr_destroy(d);
}

Test(nowait, flag_accepted_by_create, .timeout = 30)
{
    smr_t d = mk("nowait-create", 0);
    smr_pool_t p = smr_pool_create("nowait-create", 64, 0, d,
        SMR_POOL_NOWAIT);

    cr_assert_not_null(p);
    smr_pool_destroy(p);
    errno = 0;
    cr_assert_null(smr_pool_create("nowait-bad", 64, 0, d,
        SMR_POOL_NOWAIT | 0x1));
    cr_assert_eq(errno, EINVAL);
    smr_destroy(d);
}

/* In a child (its stderr captured): the frees past the cap, then drain. */
static void
nowait_child(void *arg)
{
    smr_t d;
    smr_pool_t p;
    struct smr_pool_stats st;
    struct held h;

    if (arg != NULL)
        setenv("SMR_STALL_WARN_MS", arg, 1);
    d = mk("nowait-dom", 0);
    p = mkpool_flags("nowait-pool", d, SMR_POOL_NOWAIT);
    (void)nowait_frees(d, p, 0, &h, &st);
    held_stop(&h);
    /* A second burst past the cap: still one report. */
    (void)nowait_frees(d, p, 0, &h, &st);
    held_stop(&h);
    if (st.nowait_over < 2 || !drain(p, 10000))
        _exit(3);
    smr_pool_destroy(p);
    smr_destroy(d);
}

Test(nowait, reported_once, .timeout = 60)
{
    char buf[8192];
    int status = child_stderr(nowait_child, NULL, buf, sizeof(buf));

    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 92,
        "child status %#x, stderr: %s", status, buf);
    cr_assert_eq(count_substr(buf, "SMR_POOL_NOWAIT"), 1,
        "want exactly one report, stderr: %s", buf);
    cr_assert_eq(count_substr(buf, "\n"), 1, "want one line, stderr: %s", buf);
    cr_assert_not_null(strstr(buf, "pool \"nowait-pool\""), "%s", buf);
    cr_assert_not_null(strstr(buf, "domain \"nowait-dom\""), "%s", buf);
}

Test(nowait, report_off_with_stall_warn_ms_0, .timeout = 60)
{
    char buf[8192];
    int status = child_stderr(nowait_child, "0", buf, sizeof(buf));

    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 92,
        "child status %#x, stderr: %s", status, buf);
    cr_assert_eq(buf[0], '\0', "SMR_STALL_WARN_MS=0, stderr: %s", buf);
}

/* Bucket size grows under churn (fewer, larger buckets). */
Test(bound, bucket_size_adapts, .timeout = 60)
{
    static struct churn c;
    smr_t d = mk("adapt", 0);
    smr_pool_t p = mkpool("adapt", 64, d, 128, 0);
    pthread_t t;
    struct smr_pool_stats s1, s2;

    c.p = p;
    c.smr = d;
    cr_assert(pthread_create(&t, NULL, churn_main, &c) == 0);
    sleep_ms(150);
    s1 = stats(p);
    /* Measure over a fixed amount of work, not time (loaded machines). */
    for (int i = 0; i < 400; i++) {
        sleep_ms(25);
        s2 = stats(p);
        if (s2.frees - s1.frees >= 100000)
            break;
    }
    atomic_store(&c.stop, 1);
    pthread_join(t, NULL);
    double per = (double)(s2.frees - s1.frees) /
        (double)(s2.buckets_queued - s1.buckets_queued + 1);
    cr_log_info("adapt: %.1f objects per queued bucket", per);
    cr_assert_geq(s2.frees - s1.frees, 100000, "the churn made no progress");
    cr_assert_gt(per, 32.0, "bucket size did not grow past the start (16): "
        "%.1f objects per bucket", per);
    cr_assert(drain(p, 10000));
    smr_pool_destroy(p);
    smr_destroy(d);
}

/* ------------------------------------------------------------------ */
/* Thread exit, aging, plain caches                                    */
/* ------------------------------------------------------------------ */

static void *
exit_thread(void *arg)
{
    smr_pool_t p = arg;
    void *v[100];

    for (int i = 0; i < 100; i++)
        v[i] = smr_pool_alloc(p);
    for (int i = 0; i < 100; i++)
        smr_pool_free(p, v[i]);     /* full buckets queued, one partial */
    for (int i = 0; i < 10; i++)
        v[i] = smr_pool_alloc(p);   /* alloc bucket holds cached objects */
    for (int i = 0; i < 10; i++)
        smr_pool_free(p, v[i]);
    return NULL;
}

ALL_FLAGS(thread, exit_flushes_buckets)
ParameterizedTest(int *flags, thread, exit_flushes_buckets, .timeout = 60)
{
    smr_t d = mk("exit", *flags);
    smr_pool_t p = smr_pool_create("exit", 64, 0, d, 0);
    size_t per = per_slab(p);
    pthread_t t[4];

    for (int i = 0; i < 4; i++)
        cr_assert(pthread_create(&t[i], NULL, exit_thread, p) == 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    struct smr_pool_stats st = stats(p);
    cr_assert_eq(st.in_use, 0);
    assert_adds_up(p, per, "after exits");
    /* No reader: the queue drains (lazy: within a tick or two). */
    uint64_t t0 = now_ns();
    cr_assert(drain(p, 10000), "pending never drained after thread exit");
    cr_log_info("exit %s: drained in %llu us", flags_name(*flags),
        (ull)((now_ns() - t0) / 1000));
    st = stats(p);
    cr_assert_eq(st.pending, 0);
    cr_assert_eq(st.frees, 441);
    assert_adds_up(p, per, "drained");
    smr_pool_destroy(p);
    smr_destroy(d);
}

/* A partial free bucket older than a tick is queued at the owner's next
 * slow call (and within POOL_AGE_CALLS fast calls). */
struct aging {
    smr_pool_t p;
    atomic_int phase;
};

static void *
aging_thread(void *arg)
{
    struct aging *a = arg;
    void *v[200];

    for (int i = 0; i < 100; i++)
        v[i] = smr_pool_alloc(a->p);
    for (int i = 0; i < 5; i++)
        smr_pool_free(a->p, v[i]);  /* partial bucket: 5 objects */
    atomic_store(&a->phase, 1);
    while (atomic_load(&a->phase) != 11)    /* main has looked */
        usleep(100);
    sleep_ms(3);                    /* older than a tick */
    for (int i = 100; i < 200; i++)
        v[i] = smr_pool_alloc(a->p); /* only allocs: within 64 calls */
    atomic_store(&a->phase, 2);
    while (atomic_load(&a->phase) != 3)
        usleep(100);
    for (int i = 5; i < 200; i++)
        smr_pool_free(a->p, v[i]);
    return NULL;
}

Test(thread, partial_bucket_ages_out, .timeout = 60)
{
    static struct aging a;
    smr_t d = mk("aging", 0);
    pthread_t t;

    /* A bucket size larger than every count above: only age queues. */
    a.p = mkpool("aging", 64, d, 128, 0);
    cr_assert(pthread_create(&t, NULL, aging_thread, &a) == 0);
    cr_assert(wait_flag(&a.phase, 1, 20000));
    cr_assert_eq(stats(a.p).buckets_queued, 0);
    atomic_store(&a.phase, 11);     /* the thread goes on only now */
    cr_assert(wait_flag(&a.phase, 2, 20000));
    /* Our own stats call ages only our own bucket (we have none). */
    cr_assert_geq(stats(a.p).buckets_queued, 1, "a partial bucket older "
        "than a tick was not queued by its owner's later calls");
    atomic_store(&a.phase, 3);
    pthread_join(t, NULL);
    cr_assert(drain(a.p, 10000));
    smr_pool_destroy(a.p);
    smr_destroy(d);
}

Test(plain, immediate_reuse, .timeout = 60)
{
    smr_pool_t p = smr_pool_create("plain", 64, 0, NULL, 0);
    static void *v[3000];
    struct smr_pool_stats st;
    void *x, *y;

    cr_assert_not_null(p);
    x = smr_pool_alloc(p);
    smr_pool_free(p, x);
    y = smr_pool_alloc(p);
    cr_assert_eq(x, y, "plain cache: the freed object comes straight back");
    smr_pool_free(p, y);
    for (int i = 0; i < 3000; i++)
        v[i] = smr_pool_alloc(p);
    size_t slabs = stats(p).slabs;
    for (int r = 0; r < 5; r++) {
        for (int i = 0; i < 3000; i++)
            smr_pool_free(p, v[i]);
        for (int i = 0; i < 3000; i++)
            v[i] = smr_pool_alloc(p);
    }
    st = stats(p);
    cr_assert_eq(st.slabs, slabs, "reuse took fresh slabs");
    cr_assert_eq(st.pending, 0);
    cr_assert_eq(st.buckets_queued, 0);
    for (int i = 0; i < 3000; i++)
        smr_pool_free(p, v[i]);
    st = stats(p);
    cr_assert_eq(st.in_use, 0);
    cr_assert_eq(st.pending, 0);
    smr_pool_reclaim(p);
    cr_assert_eq(stats(p).slabs, 0);
    smr_pool_destroy(p);
}

/* ------------------------------------------------------------------ */
/* The threads' own FIFOs (src/pool.c, POOL_LOCAL_MAX = 4 buckets)     */
/* ------------------------------------------------------------------ */

/* Objects of 2 KiB: about 31 per slab, so the few objects these tests use
 * fill their slabs and refills never take the shrinking branch (which
 * sends expired buckets back to sparse slabs). */
#define OWN_SIZE 2048
#define OWN_BMAX 8                  /* bucket size: min and max */

static bool
own_in(void *const *set, int n, const void *o)
{
    for (int i = 0; i < n; i++)
        if (set[i] == o)
            return true;
    return false;
}

struct own {
    smr_pool_t p;
    void *va[40], *vb[40], *got[40];
    atomic_int a_phase, b_phase, b_own, b_theirs, go_away;
    uint64_t t_a, t_b;  /* ns: A's frees begin, B's end (before the flags) */
};

/* A: allocates 40 and frees them (4 buckets queued on its own FIFO, 8
 * objects in its free bucket), then stays alive. */
static void *
own_a(void *arg)
{
    struct own *o = arg;

    for (int i = 0; i < 40; i++)
        o->va[i] = smr_pool_alloc(o->p);
    o->t_a = now_ns();
    for (int i = 0; i < 40; i++)
        smr_pool_free(o->p, o->va[i]);
    atomic_store(&o->a_phase, 1);
    while (!atomic_load(&o->go_away))
        usleep(200);
    return NULL;
}

/* B: the same once A is done, then allocates 32: its own objects come
 * back, not A's (which are older on the shared FIFO's order). */
static void *
own_b(void *arg)
{
    struct own *o = arg;
    int own = 0, theirs = 0;

    for (int i = 0; i < 40; i++)
        o->vb[i] = smr_pool_alloc(o->p);
    /* Spin: A's buckets must not be 10 ticks older than ours (then they
     * would rightly go first: pool_refill). */
    while (!atomic_load(&o->a_phase))
        sched_yield();
    for (int i = 0; i < 40; i++)
        smr_pool_free(o->p, o->vb[i]);
    o->t_b = now_ns();
    for (int i = 0; i < 32; i++) {
        o->got[i] = smr_pool_alloc(o->p);
        own += own_in(o->vb, 40, o->got[i]);
        /* A's, and not also ours: B's first 40 may rightly have reused
         * A's buckets, if A was idle for a tick by then (pool_refill). */
        theirs += own_in(o->va, 40, o->got[i]) &&
            !own_in(o->vb, 40, o->got[i]);
    }
    atomic_store(&o->b_own, own);
    atomic_store(&o->b_theirs, theirs);
    atomic_store(&o->b_phase, 1);
    while (!atomic_load(&o->go_away))
        usleep(200);
    return NULL;
}

Test(own, refill_takes_own_buckets_first, .timeout = 60)
{
    static struct own o;
    smr_t d = mk("own", 0);
    pthread_t ta, tb;
    uint64_t span = 0;

    /* A's buckets 10 ticks older than B's would rightly go first
     * (POOL_LOCAL_YIELD in src/pool.c: that is how an idle thread's list
     * drains).  So the order is judged only when A's frees began and B's
     * ended within 5 ms; on a machine too loaded for that, try again. */
    for (int attempt = 0; attempt < 10; attempt++) {
        memset(&o, 0, sizeof(o));
        o.p = mkpool("own", OWN_SIZE, d, OWN_BMAX, 0);
        cr_assert(pthread_create(&ta, NULL, own_a, &o) == 0);
        cr_assert(pthread_create(&tb, NULL, own_b, &o) == 0);
        cr_assert(wait_flag(&o.b_phase, 1, 20000));
        span = o.t_b - o.t_a;
        if (span < 5 * MS)
            break;
        cr_log_warn("own::refill_takes_own_buckets_first: A's and B's "
            "frees spanned %llu us, trying again", (ull)(span / 1000));
        atomic_store(&o.go_away, 1);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        for (int i = 0; i < 32; i++)
            smr_pool_free(o.p, o.got[i]);
        smr_pool_destroy(o.p);
    }
    if (span >= 5 * MS)
        cr_skip_test("the frees never ran within 5 ms (%llu us last)",
            (ull)(span / 1000));
    /* No reader: every tag is reached at once, so the FIFO order alone
     * would hand B A's four buckets (queued first).  The first few of the
     * 32 may be what was left in B's alloc bucket (a slab's last
     * objects: fewer than a bucket). */
    cr_assert_eq(atomic_load(&o.b_theirs), 0, "B got %d of A's objects",
        atomic_load(&o.b_theirs));
    cr_assert_geq(atomic_load(&o.b_own), 32 - OWN_BMAX + 1, "B got only %d "
        "of its own objects back", atomic_load(&o.b_own));
    cr_assert_geq(stats(o.p).buckets_reused, 4);
    atomic_store(&o.go_away, 1);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    for (int i = 0; i < 32; i++)
        smr_pool_free(o.p, o.got[i]);
    cr_assert(drain(o.p, 10000));
    cr_assert_eq(stats(o.p).in_use, 0);
    smr_pool_destroy(o.p);
    smr_destroy(d);
}

/* A thread that only frees (a connection closed on another thread than
 * the one that accepted it) keeps at most POOL_LOCAL_MAX buckets; the
 * rest reach the thread that allocates, so memory stays flat. */
struct handoff {
    smr_pool_t p;
    void *v[16];
    atomic_int turn, stop;      /* turn 1: the freer's */
};

static void *
handoff_freer(void *arg)
{
    struct handoff *h = arg;

    for (;;) {
        while (atomic_load(&h->turn) != 1 && !atomic_load(&h->stop))
            sched_yield();
        if (atomic_load(&h->stop))
            return NULL;
        for (int i = 0; i < 16; i++)
            smr_pool_free(h->p, h->v[i]);
        atomic_store(&h->turn, 0);
    }
}

Test(own, free_only_thread_feeds_the_allocator, .timeout = 60)
{
    static struct handoff h;
    smr_t d = mk("handoff", 0);
    pthread_t t;
    struct smr_pool_stats st;

    h.p = mkpool("handoff", OWN_SIZE, d, OWN_BMAX, 0);
    cr_assert(pthread_create(&t, NULL, handoff_freer, &h) == 0);
    for (int r = 0; r < 400; r++) {     /* 6400 objects through */
        for (int i = 0; i < 16; i++)
            cr_assert_not_null(h.v[i] = smr_pool_alloc(h.p));
        atomic_store(&h.turn, 1);
        cr_assert(wait_flag(&h.turn, 0, 20000));
    }
    st = stats(h.p);
    /* Live 16, the freer's 4 queued buckets and its free bucket, our
     * alloc bucket, a bucket or two in flight: about 80 objects, 3 slabs.
     * Had the freer kept every bucket, only the cap (4096 objects) would
     * have moved them: 130 slabs. */
    cr_assert_leq(st.slabs, 8, "%zu slabs carved for 16 live objects "
        "(%llu reused buckets): the freer's buckets did not reach us",
        st.slabs, (ull)st.buckets_reused);
    atomic_store(&h.stop, 1);
    pthread_join(t, NULL);
    cr_assert(drain(h.p, 10000));
    cr_assert_eq(stats(h.p).in_use, 0);
    smr_pool_destroy(h.p);
    smr_destroy(d);
}

/* With no reclaimer running, a thread that queued buckets on its own FIFO
 * and went idle: another thread's refill that finds nothing else moves
 * them to the shared FIFO (at most once a tick), and its next refills
 * reuse them; only the idle thread's free bucket stays pending. */
/* Start A (own_a) on o->p and wait until its frees are done. */
static pthread_t
own_a_start(struct own *o)
{
    pthread_t ta;

    cr_assert(pthread_create(&ta, NULL, own_a, o) == 0);
    cr_assert(wait_flag(&o->a_phase, 1, 20000));
    return ta;
}

/* A leaves; this thread frees v[0..n); the pool must drain with nothing
 * in use; pool and domain go. */
static void
own_finish(struct own *o, pthread_t ta, void **v, int n, smr_t d)
{
    atomic_store(&o->go_away, 1);
    pthread_join(ta, NULL);
    for (int i = 0; i < n; i++)
        smr_pool_free(o->p, v[i]);
    cr_assert(drain(o->p, 10000));
    cr_assert_eq(stats(o->p).in_use, 0);
    smr_pool_destroy(o->p);
    smr_destroy(d);
}

Test(own, idle_thread_list_reaches_others, .timeout = 60)
{
    static struct own o;
    smr_t d = mk("own-idle", 0);
    struct smr_pool_stats st;
    pthread_t ta;
    int theirs = 0;

    o.p = mkpool("own-idle", OWN_SIZE, d, OWN_BMAX, 0);
    ta = own_a_start(&o);
    cr_assert_eq(stats(o.p).pending, 40);
    sleep_ms(5);                        /* A idle for over a tick */
    for (int i = 0; i < 40; i++) {
        /* 8 from slabs (that refill moves A's list), then A's 32. */
        o.got[i] = smr_pool_alloc(o.p);
        theirs += own_in(o.va, 40, o.got[i]);
    }
    st = stats(o.p);
    cr_assert_eq(theirs, 32, "%d of 32 allocs reused the idle thread's "
        "buckets", theirs);
    cr_assert_eq(st.pending, 8, "pending %zu: only the idle thread's free "
        "bucket should be left", st.pending);
    own_finish(&o, ta, o.got, 40, d);
}

/*
 * The same idle thread A, while this thread is busy: a ring of 16, alloc
 * one, free the oldest, for 50 ms.  Every refill here finds its own last
 * bucket expired, so it would never need A's; A's 32 queued objects must
 * still be reused (its list moves to the shared FIFO within a tick, and a
 * shared head 10 ticks older than ours goes first), or they stay pending
 * for as long as this thread runs.
 */
Test(own, idle_thread_list_reaches_a_busy_thread, .timeout = 60)
{
    static struct own o;
    smr_t d = mk("own-busy", 0);
    void *ring[16];
    bool seen[40] = { false };
    int theirs = 0;
    unsigned i = 0;
    uint64_t t0;
    pthread_t ta;

    o.p = mkpool("own-busy", OWN_SIZE, d, OWN_BMAX, 0);
    ta = own_a_start(&o);
    for (int k = 0; k < 16; k++)
        ring[k] = smr_pool_alloc(o.p);
    t0 = now_ns();
    while (now_ns() - t0 < 50 * MS) {
        void *x = smr_pool_alloc(o.p);

        cr_assert_not_null(x);
        for (int k = 0; k < 40; k++)
            if (o.va[k] == x && !seen[k]) {
                seen[k] = true;
                theirs++;
            }
        smr_pool_free(o.p, ring[i]);
        ring[i] = x;
        i = (i + 1) % 16;
    }
    cr_assert_eq(theirs, 32, "%d of the idle thread's 32 queued objects "
        "reused in 50 ms of churn", theirs);
    own_finish(&o, ta, ring, 16, d);
}

/*
 * An idle thread's list joins the shared FIFO by tag, not at its tail.  A
 * queues 4 buckets on its own FIFO and goes idle; then this thread frees
 * 56: its frees 1-32 fill 4 buckets on its own FIFO, 33-48 two on the
 * shared one (its list is full), 49-56 stay in its free bucket.  A tick
 * later our first refill moves A's list.  A's buckets are older than our
 * 2 shared ones, so every one of A's 32 objects must come back before the
 * first of our frees 33-48 (at the tail, A's would wait behind them).
 */
Test(own, idle_list_merges_by_tag, .timeout = 60)
{
    static struct own o;
    static void *mine[56], *got[80];
    smr_t d = mk("own-merge", 0);
    int theirs = 0, last_theirs = -1, first_shared = -1;
    pthread_t ta;

    o.p = mkpool("own-merge", OWN_SIZE, d, OWN_BMAX, 0);
    /* Ours first, from slabs: A's buckets cannot be among them. */
    for (int k = 0; k < 56; k++)
        mine[k] = smr_pool_alloc(o.p);
    ta = own_a_start(&o);
    for (int k = 0; k < 56; k++)
        smr_pool_free(o.p, mine[k]);
    cr_assert_eq(stats(o.p).pending, 96);
    sleep_ms(5);                        /* A idle for over a tick */
    for (int k = 0; k < 80; k++) {
        got[k] = smr_pool_alloc(o.p);
        cr_assert_not_null(got[k]);
        if (own_in(o.va, 32, got[k])) {
            theirs++;
            last_theirs = k;
        }
        if (first_shared < 0 && own_in(mine + 32, 16, got[k]))
            first_shared = k;
    }
    cr_assert_eq(theirs, 32, "%d of the idle thread's 32 queued objects "
        "reused in 80 allocs", theirs);
    cr_assert(first_shared >= 0, "our shared buckets were never reused");
    cr_assert_lt(last_theirs, first_shared, "alloc %d took one of our "
        "shared buckets' objects before alloc %d took the idle thread's "
        "last (its list went behind our newer buckets)", first_shared,
        last_theirs);
    own_finish(&o, ta, got, 80, d);
}

/* ------------------------------------------------------------------ */
/* Domains: lazy and deferred                                          */
/* ------------------------------------------------------------------ */

Test(lazy, partial_buckets_drain_in_ticks, .timeout = 60)
{
    smr_t d = mk("lazy", SMR_LAZY);
    smr_pool_t p = smr_pool_create("lazy", 64, 0, d, 0);
    void *v[5];
    uint64_t t0, el;

    cr_assert_not_null(p);
    for (int i = 0; i < 5; i++)
        v[i] = smr_pool_alloc(p);
    for (int i = 0; i < 5; i++)
        smr_pool_free(p, v[i]);
    cr_assert_eq(stats(p).pending, 5);
    t0 = now_ns();
    cr_assert(drain(p, 1000), "lazy pool never drained");
    el = now_ns() - t0;
    cr_log_info("lazy (%s readers): 5 pending drained in %llu us",
        smr_lazy_is_fence_free(d) ? "fence-free" : "fenced",
        (ull)(el / 1000));
    /* ~1-2 ticks; generous for loaded machines and sanitizers. */
    cr_assert_lt(el, 250 * MS, "lazy drain took %llu ms", (ull)(el / MS));
    smr_pool_destroy(p);
    smr_destroy(d);
}

Test(lazy, churn_with_lazy_readers_and_alloc_refill, .timeout = 60)
{
    static struct churn c;
    smr_t d = mk("lazy-churn", SMR_LAZY);
    smr_pool_t p = smr_pool_create("lazy-churn", 64, 0, d, 0);
    pthread_t t;

    c.p = p;
    c.smr = d;
    cr_assert(pthread_create(&t, NULL, churn_main, &c) == 0);
    sleep_ms(200);
    atomic_store(&c.stop, 1);
    pthread_join(t, NULL);
    struct smr_pool_stats st = stats(p);
    cr_log_info("lazy churn: %ld ops, %llu buckets reused, %zu slabs",
        atomic_load(&c.ops), (ull)st.buckets_reused, st.slabs);
    cr_assert_gt(st.buckets_reused, 0, "allocs never reused a lazy bucket");
    cr_assert(drain(p, 1000));
    smr_pool_destroy(p);
    smr_destroy(d);
}

/* ------------------------------------------------------------------ */
/* Lifecycles                                                          */
/* ------------------------------------------------------------------ */

static void
smr_destroy_with_pool(void)
{
    smr_t d = smr_create("held-by-pool", 0, 0);
    smr_pool_t p = smr_pool_create("holder", 64, 0, d, 0);

    (void)p;
    smr_destroy(d);
}

Test(life, smr_destroy_with_live_pool_aborts, .timeout = 30)
{
    expect_abort(smr_destroy_with_pool, "held-by-pool");
}

Test(life, destroy_then_create_same_thread, .timeout = 60)
{
    smr_t d = mk("life", 0);

    for (int round = 0; round < 50; round++) {
        smr_pool_t p = smr_pool_create("life", 32 + round, 0,
            round % 3 == 2 ? NULL : d, 0);
        void *v[40];
        cr_assert_not_null(p);
        for (int i = 0; i < 40; i++)
            v[i] = smr_pool_alloc(p);
        for (int i = 0; i < 40; i++)
            smr_pool_free(p, v[i]);
        struct smr_pool_stats st = stats(p);
        cr_assert_eq(st.in_use, 0);
        cr_assert_eq(st.allocs, 40, "stale per-thread state leaked into a "
            "new pool (round %d: %llu allocs)", round, (ull)st.allocs);
        smr_pool_destroy(p);
    }
    smr_destroy(d);
}

struct lifet {
    smr_pool_t p;
    atomic_int phase;
};

static void *
life_thread(void *arg)
{
    struct lifet *l = arg;
    void *v[50];

    for (int i = 0; i < 50; i++)
        v[i] = smr_pool_alloc(l->p);
    for (int i = 0; i < 50; i++)
        smr_pool_free(l->p, v[i]);
    atomic_store(&l->phase, 1);
    while (atomic_load(&l->phase) != 2)
        usleep(100);
    /* The pool we cached is gone; a new one may sit at the same index. */
    for (int i = 0; i < 50; i++)
        v[i] = smr_pool_alloc(l->p);
    for (int i = 0; i < 50; i++)
        smr_pool_free(l->p, v[i]);
    return NULL;                  /* exit: must not touch the dead pool */
}

Test(life, destroy_while_other_thread_caches, .timeout = 60)
{
    static struct lifet l;
    smr_t d = mk("life2", 0);
    pthread_t t;

    l.p = smr_pool_create("first", 64, 0, d, 0);
    cr_assert(pthread_create(&t, NULL, life_thread, &l) == 0);
    cr_assert(wait_flag(&l.phase, 1, 20000));
    smr_pool_destroy(l.p);        /* takes the thread's buckets */
    l.p = smr_pool_create("second", 64, 0, d, 0);
    atomic_store(&l.phase, 2);
    pthread_join(t, NULL);
    struct smr_pool_stats st = stats(l.p);
    cr_assert_eq(st.allocs, 50);
    cr_assert_eq(st.in_use, 0);
    cr_assert(drain(l.p, 10000));
    smr_pool_destroy(l.p);
    smr_destroy(d);
}

static void
destroy_busy(void)
{
    smr_pool_t p = smr_pool_create("busy-pool", 64, 0, NULL, 0);

    (void)smr_pool_alloc(p);
    smr_pool_destroy(p);
}

#if SMR_CONFIG_DEBUG
Test(life, destroy_with_objects_in_use_aborts, .timeout = 30)
{
    expect_abort(destroy_busy, "busy-pool");
}
#else
Test(life, destroy_with_objects_in_use_warns, .timeout = 30)
{
    destroy_busy();               /* warns on stderr, frees anyway */
}
#endif

Test(life, fork_child_uses_pool, .timeout = 60)
{
    static struct lifet l;
    smr_t d = mk("fork", 0);
    pthread_t t;
    int status;
    pid_t pid;

    l.p = smr_pool_create("fork", 64, 0, d, 0);
    cr_assert(pthread_create(&t, NULL, life_thread, &l) == 0);
    cr_assert(wait_flag(&l.phase, 1, 20000));  /* it holds buckets now */
    void *x = smr_pool_alloc(l.p);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        void *v[500];
        struct smr_pool_stats st;
        for (int i = 0; i < 500; i++)
            v[i] = smr_pool_alloc(l.p);
        for (int i = 0; i < 500; i++)
            smr_pool_free(l.p, v[i]);
        smr_pool_free(l.p, x);
        for (int i = 0; i < 2000; i++) {
            smr_pool_reclaim(l.p);
            smr_pool_stats(l.p, &st);
            if (st.pending == 0)
                break;
            usleep(500);
        }
        if (st.pending != 0 || st.in_use != 0)
            _exit(1);
        smr_pool_destroy(l.p);
        smr_destroy(d);
        _exit(0);
    }
    cr_assert(waitpid(pid, &status, 0) == pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
        "fork child failed (status %#x)", status);
    atomic_store(&l.phase, 2);
    pthread_join(t, NULL);
    smr_pool_free(l.p, x);
    cr_assert(drain(l.p, 10000));
    smr_pool_destroy(l.p);
    smr_destroy(d);
}

/* ------------------------------------------------------------------ */
/* Nothing in a thread's hands between two locks (SPEC §2 "Pool",      */
/* "fork()"): fork sees every bucket a tagger or a reclaimer holds     */
/* ------------------------------------------------------------------ */

/* One thread (the one that armed ih_stall_at) stalls there, once. */
static __thread int ih_stall_at;
static atomic_int ih_stalled;       /* the armed thread is in the hook */
static atomic_int ih_release;       /* main: let it go (hook and dtor) */

static void
ih_hook(smr_t s, int point)
{
    (void)s;
    if (ih_stall_at == 0 || ih_stall_at != point)
        return;
    ih_stall_at = 0;
    atomic_store(&ih_stalled, 1);
    while (!atomic_load(&ih_release))
        usleep(100);
}

static void
ih_hook_install(void)
{
    atomic_store(&ih_stalled, 0);
    atomic_store(&ih_release, 0);
    smr__test_hook = ih_hook;
}

/* Objects the dtor test watches, and the dtor calls each one got. */
#define IH_MAXOBJ 16
static void *ih_objs[IH_MAXOBJ];
static atomic_int ih_ndtor[IH_MAXOBJ];
static atomic_int ih_nobjs;
static __thread bool ih_block_dtor; /* this thread's first dtor blocks */
static atomic_int ih_in_dtor;

static void
ih_dtor(void *obj, void *arg)
{
    (void)arg;
    for (int i = 0; i < atomic_load(&ih_nobjs); i++)
        if (ih_objs[i] == obj)
            atomic_fetch_add(&ih_ndtor[i], 1);
    if (ih_block_dtor) {
        ih_block_dtor = false;
        atomic_store(&ih_in_dtor, 1);
        while (!atomic_load(&ih_release))
            usleep(100);
    }
}

/* Threads that free n objects each and exit once all have freed (so no
 * one's pool call tags another's bucket): each leaves one untagged
 * bucket of n objects.  record: the objects go to ih_objs. */
struct ih_exiters {
    smr_pool_t p;
    int n;
    bool record;
    pthread_barrier_t bar;
};

static void *
ih_exit_thread(void *arg)
{
    struct ih_exiters *e = arg;
    void *v[IH_MAXOBJ];

    for (int i = 0; i < e->n; i++)
        v[i] = smr_pool_alloc(e->p);
    if (e->record) {
        for (int i = 0; i < e->n; i++)
            ih_objs[i] = v[i];
        atomic_store(&ih_nobjs, e->n);
    }
    for (int i = 0; i < e->n; i++)
        smr_pool_free(e->p, v[i]);
    pthread_barrier_wait(&e->bar);
    return NULL;
}

static void
ih_leave_untagged(smr_pool_t p, int nthreads, int n, bool record)
{
    static struct ih_exiters e;
    pthread_t t[4];

    cr_assert(nthreads <= 4 && n <= IH_MAXOBJ && (!record || nthreads == 1));
    e.p = p;
    e.n = n;
    e.record = record;
    cr_assert(pthread_barrier_init(&e.bar, NULL, (unsigned)nthreads) == 0);
    for (int i = 0; i < nthreads; i++)
        cr_assert(pthread_create(&t[i], NULL, ih_exit_thread, &e) == 0);
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&e.bar);
}

/* A tagger: smr_pool_stats tags the untagged buckets first, and stalls in
 * that smr_advance.  A reclaimer: smr_pool_reclaim (pool_fifo_take) or,
 * with refill, smr_pool_alloc (pool_refill) takes the expired bucket and
 * blocks in its first dtor call. */
struct ih_thr {
    smr_pool_t p;
    bool refill;
    void *obj;                      /* refill: what the alloc returned */
    atomic_int done;
};

static void *
ih_tag_thread(void *arg)
{
    struct ih_thr *g = arg;
    struct smr_pool_stats st;

    ih_stall_at = SMR__HOOK_ADVANCE_LOADED_RD;
    smr_pool_stats(g->p, &st);
    ih_stall_at = 0;
    atomic_store(&g->done, 1);
    return NULL;
}

static void *
ih_reclaim_thread(void *arg)
{
    struct ih_thr *g = arg;

    ih_block_dtor = true;
    for (int i = 0; i < 2000 && !atomic_load(&ih_in_dtor); i++) {
        if (g->refill) {
            smr_pool_free(g->p, g->obj);
            g->obj = smr_pool_alloc(g->p);
        } else {
            smr_pool_reclaim(g->p);
        }
        usleep(500);
    }
    atomic_store(&g->done, 1);
    return NULL;
}

/* Wait until the helper is held (in the hook or the dtor) or done. */
static bool
ih_wait_held(atomic_int *held, struct ih_thr *g)
{
    uint64_t dl = now_ns() + 5000 * MS;

    while (!atomic_load(held) && !atomic_load(&g->done) && now_ns() < dl)
        sched_yield();
    return atomic_load(held) != 0;
}

/*
 * In the fork child, whose other threads are gone: after smr_synchronize
 * and smr_pool_reclaim nothing is pending, the objects add up (x, one
 * object, is in use: the slab stays), and the rest of the slab can be
 * allocated without carving a new one (every object came back).  Returns
 * the child's exit status; a message on stderr says what failed.
 */
static int
ih_child_check(smr_t d, smr_pool_t p, size_t per, bool dtor)
{
    struct smr_pool_stats st;
    void **v;

    smr__test_hook = NULL;
    for (int i = 0; i < 100; i++) {
        smr_synchronize(d);
        smr_pool_reclaim(p);
        smr_pool_stats(p, &st);
        if (st.pending == 0)
            break;
        usleep(1000);
    }
    if (st.pending != 0 || st.pending_peak > per) {
        fprintf(stderr, "fork child: pending %zu (peak %zu) after "
            "smr_synchronize + smr_pool_reclaim; in use %zu, cached %zu, "
            "%zu slab(s) of %zu\n", st.pending, st.pending_peak, st.in_use,
            st.cached, st.slabs, per);
        return 10;
    }
    if (st.in_use != 1 || st.in_use + st.pending + st.cached !=
        st.slabs * per) {
        fprintf(stderr, "fork child: in use %zu + pending %zu + cached %zu "
            "!= %zu slab(s) x %zu: objects lost\n", st.in_use, st.pending,
            st.cached, st.slabs, per);
        return 11;
    }
    for (int i = 0; dtor && i < atomic_load(&ih_nobjs); i++)
        if (atomic_load(&ih_ndtor[i]) != 1) {
            fprintf(stderr, "fork child: object %d of the bucket being "
                "reclaimed got %d dtor call(s), not 1\n", i,
                atomic_load(&ih_ndtor[i]));
            return 12;
        }
    v = calloc(per, sizeof(*v));
    if (v == NULL)
        return 13;
    for (size_t i = 0; i + 1 < per; i++)
        v[i] = smr_pool_alloc(p);
    smr_pool_stats(p, &st);
    if (st.slabs != 1 || st.in_use != per) {
        fprintf(stderr, "fork child: %zu allocs took %zu slab(s) (in use "
            "%zu): freed objects not reusable\n", per - 1, st.slabs,
            st.in_use);
        return 14;
    }
    for (size_t i = 0; i + 1 < per; i++)
        smr_pool_free(p, v[i]);
    free(v);
    return 0;
}

/* Parent, the helper joined: the pool drains and adds up. */
static void
ih_parent_finish(smr_pool_t p, size_t per, void *x)
{
    struct smr_pool_stats st;

    smr__test_hook = NULL;
    cr_assert(drain(p, 5000), "parent: pending %zu never drained",
        stats(p).pending);
    assert_adds_up(p, per, "parent, drained");
    smr_pool_free(p, x);
    cr_assert(drain(p, 5000));
    st = stats(p);
    cr_assert_eq(st.in_use, 0);
    cr_assert(st.pending_peak <= per, "parent: pending_peak %zu",
        st.pending_peak);
}

static void
ih_check_child(pid_t pid)
{
    int status;

    cr_assert(waitpid(pid, &status, 0) == pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
        "fork child failed: %s %d (10: pending never drains, 11: objects "
        "lost, 12: dtor count, 14: not reusable)", WIFEXITED(status) ?
        "exit" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) :
        WTERMSIG(status));
}

/* fork while a thread holds the untagged buckets it took, stalled in the
 * smr_advance that tags them (pool_tag_untagged). */
Test(inhand, fork_while_tagging_untagged, .timeout = 30)
{
    static struct ih_thr g;
    smr_t d = mk("inhand-tag", 0);
    smr_pool_t p = mkpool("inhand-tag", 64, d, 0, 0);
    size_t per = per_slab(p);
    void *x = smr_pool_alloc(p);
    pthread_t t;
    pid_t pid;

    ih_leave_untagged(p, 2, 10, false);
    ih_hook_install();
    g.p = p;
    cr_assert(pthread_create(&t, NULL, ih_tag_thread, &g) == 0);
    cr_assert(ih_wait_held(&ih_stalled, &g), "the tagger never stalled at "
        "SMR__HOOK_ADVANCE_LOADED_RD in pool_tag_untagged");
    fflush(NULL);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0)
        _exit(ih_child_check(d, p, per, false));
    atomic_store(&ih_release, 1);   /* before any assertion can fail */
    ih_check_child(pid);
    pthread_join(t, NULL);
    ih_parent_finish(p, per, x);
    smr_pool_destroy(p);
    smr_destroy(d);
}

/* fork while a reclaimer runs the dtor on a bucket it took from the FIFO
 * (pool_fifo_take, or pool_refill for its alloc bucket): no object is
 * lost, none gets its dtor twice. */
static void
ih_fork_while_dtor_runs(bool refill)
{
    static struct ih_thr g;
    struct smr_pool_args a;
    smr_t d = mk("inhand-dtor", 0);
    smr_pool_t p;
    size_t per;
    void *x;
    pthread_t t;
    pid_t pid;

    memset(&a, 0, sizeof(a));
    a.size = 64;
    a.smr = d;
    a.dtor = ih_dtor;
    p = smr_pool_create_args("inhand-dtor", &a);
    cr_assert(p != NULL);
    per = per_slab(p);
    x = smr_pool_alloc(p);
    ih_leave_untagged(p, 1, 10, true);
    atomic_store(&ih_release, 0);
    g.p = p;
    g.refill = refill;
    g.obj = NULL;
    cr_assert(pthread_create(&t, NULL, ih_reclaim_thread, &g) == 0);
    cr_assert(ih_wait_held(&ih_in_dtor, &g), "the %s never ran the dtor",
        refill ? "refill" : "reclaim");
    fflush(NULL);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0)
        _exit(ih_child_check(d, p, per, true));
    atomic_store(&ih_release, 1);
    ih_check_child(pid);
    pthread_join(t, NULL);
    for (int i = 0; i < atomic_load(&ih_nobjs); i++)
        cr_assert_eq(atomic_load(&ih_ndtor[i]), 1, "parent: object %d got "
            "%d dtor call(s)", i, atomic_load(&ih_ndtor[i]));
    smr_pool_free(p, g.obj);        /* refill: the object it got */
    ih_parent_finish(p, per, x);
    smr_pool_destroy(p);
    smr_destroy(d);
}

Test(inhand, fork_while_dtor_runs_reclaim, .timeout = 30)
{
    ih_fork_while_dtor_runs(false);
}

Test(inhand, fork_while_dtor_runs_refill, .timeout = 30)
{
    ih_fork_while_dtor_runs(true);
}

/* Two taggers at once, one stalled in its smr_advance: each takes away
 * only the objects it took (p_untagged_objs never underflows). */
Test(inhand, two_taggers_count_once, .timeout = 30)
{
    static struct ih_thr g;
    struct smr_pool_stats st;
    smr_t d = mk("inhand-2tag", 0);
    smr_pool_t p = mkpool("inhand-2tag", 64, d, 0, 0);
    size_t per = per_slab(p);
    void *x = smr_pool_alloc(p);
    pthread_t t;

    ih_leave_untagged(p, 1, 10, false);
    ih_hook_install();
    g.p = p;
    cr_assert(pthread_create(&t, NULL, ih_tag_thread, &g) == 0);
    cr_assert(ih_wait_held(&ih_stalled, &g), "the tagger never stalled at "
        "SMR__HOOK_ADVANCE_LOADED_RD in pool_tag_untagged");
    ih_leave_untagged(p, 1, 7, false);   /* a second list... */
    st = stats(p);                       /* ...this thread tags it */
    cr_assert(st.pending < per && st.pending_peak <= per,
        "while one tagger stalls: pending %zu, pending_peak %zu (%zu "
        "objects carved)", st.pending, st.pending_peak, per);
    atomic_store(&ih_release, 1);
    pthread_join(t, NULL);
    smr__test_hook = NULL;
    (void)drain(p, 1000);
    st = stats(p);
    cr_assert(st.pending < per && st.pending_peak <= per,
        "after two taggers: pending %zu, pending_peak %zu (%zu objects "
        "carved)", st.pending, st.pending_peak, per);
    cr_assert_eq(st.pending, 0);
    assert_adds_up(p, per, "after two taggers");
    smr_pool_free(p, x);
    cr_assert(drain(p, 5000));
    smr_pool_destroy(p);
    smr_destroy(d);
}

/* ------------------------------------------------------------------ */
/* Debug aids (SMR_DEBUG builds)                                       */
/* ------------------------------------------------------------------ */

#if SMR_CONFIG_DEBUG
static void
double_free(void)
{
    smr_t d = smr_create("df-dom", 0, 0);
    smr_pool_t p = smr_pool_create("df-pool", 64, 0, d, 0);
    void *x = smr_pool_alloc(p);

    smr_pool_free(p, x);
    smr_pool_free(p, x);
}

Test(debug, double_free_aborts, .signal = SIGABRT, .timeout = 30)
{
    double_free();
}

Test(debug, double_free_message_names_pool, .timeout = 30)
{
    expect_abort(double_free, "df-pool");
}

static void
double_free_after_reuse_window(void)
{
    smr_pool_t p = smr_pool_create("df-plain", 64, 0, NULL, 0);
    void *x = smr_pool_alloc(p);

    smr_pool_free(p, x);
    smr_pool_free(p, x);
}

Test(debug, double_free_plain_aborts, .timeout = 30)
{
    expect_abort(double_free_after_reuse_window, "df-plain");
}

static void
foreign_other_pool(void)
{
    smr_pool_t a = smr_pool_create("fp-a", 64, 0, NULL, 0);
    smr_pool_t b = smr_pool_create("fp-b", 64, 0, NULL, 0);
    void *x = smr_pool_alloc(a);

    smr_pool_free(b, x);
}

static void
foreign_interior(void)
{
    smr_pool_t a = smr_pool_create("fp-interior", 64, 0, NULL, 0);
    char *x = smr_pool_alloc(a);

    smr_pool_free(a, x + 16);
}

Test(debug, foreign_pointer_aborts, .timeout = 30)
{
    expect_abort(foreign_other_pool, "fp-b");
    expect_abort(foreign_interior, "fp-interior");
}

/* Under ASan the write itself is reported first (test_pool_asan.c). */
#if !defined(__SANITIZE_ADDRESS__)
static void
write_after_free(void)
{
    smr_pool_t p = smr_pool_create("waf-pool", 64, 0, NULL, 0);
    char *x = smr_pool_alloc(p);

    smr_pool_free(p, x);
    x[10] = 1;                     /* cached now: poisoned */
    (void)smr_pool_alloc(p);       /* LIFO: x again, poison broken */
}

Test(debug, write_after_free_detected, .timeout = 30)
{
    expect_abort(write_after_free, "waf-pool");
}

static void
write_after_reclaim(void)
{
    smr_t d = smr_create("war-dom", 0, 0);
    smr_pool_t p = smr_pool_create("war-pool", 64, 0, d, 0);
    char *x = smr_pool_alloc(p);
    void *keep = smr_pool_alloc(p);   /* keeps x's slab mapped */

    (void)keep;
    smr_pool_free(p, x);
    for (int i = 0; i < 100; i++) {
        smr_pool_reclaim(p);       /* grace passes: dtor, poison */
        usleep(100);
    }
    x[3] = 7;
    for (int i = 0; i < 100000; i++)
        (void)smr_pool_alloc(p);
}

Test(debug, write_after_reclaim_detected, .timeout = 30)
{
    expect_abort(write_after_reclaim, "war-pool");
}
#endif /* !__SANITIZE_ADDRESS__ */
#endif /* SMR_CONFIG_DEBUG */
