/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * smr_list.h test suite (Criterion).
 *
 *   slist.*, list.*   every macro of each list kind, single-threaded: the
 *                     order after INSERT_HEAD/AFTER/BEFORE, REMOVE of the
 *                     head, a middle and the tail (and REMOVE_HEAD/AFTER),
 *                     REPLACE, EMPTY, FOREACH_SAFE while removing; removed
 *                     elements keep their next link (R3 of smr_list.h);
 *                     SMR_LIST back links stay consistent; debug builds
 *                     poison them and abort on a second removal.
 *   concurrent.*      readers traverse inside sections (default, deferred
 *                     and lazy domains) while a writer under a mutex
 *                     inserts, removes and replaces, freeing through an
 *                     SMR pool.  Each node carries a generation stamp set
 *                     only at allocation; a reader pauses on nodes and
 *                     checks the stamp did not change, and that it met the
 *                     list's pinned (never removed) nodes exactly once, in
 *                     order (R3: removal does not cut a reader off).
 *
 * Built a second time as test_list_broken (-DTEST_LIST_BROKEN_NO_GRACE):
 * the same concurrent tests with the nodes in a plain pool (smr == NULL),
 * which reuses a node at once; tests/CMakeLists.txt requires every one of
 * them to fail there, so a detector that cannot see reuse fails the build.
 *
 * Only the test's main thread calls cr_assert*; readers record what they
 * saw in atomics.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <smr.h>
#include <smr_list.h>

#include "test_util.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct node {
    _Atomic uint64_t stamp;    /* generation, written only after alloc */
    _Atomic uint64_t check;    /* ~stamp */
    atomic_int key;
    atomic_int pin;            /* index of a pinned node, else -1 */
    SMR_SLIST_ENTRY(node) s;
    SMR_LIST_ENTRY(node) l;
};

SMR_SLIST_HEAD(shead, node);
SMR_LIST_HEAD(lhead, node);

/* ------------------------------------------------------------------ */
/* Single-threaded: every macro                                        */
/* ------------------------------------------------------------------ */

#define MAXN 64

static smr_t D;                 /* the readers' domain of each test */
static struct node N[MAXN];     /* N[k] has key k */

static void
st_setup(void)
{
    D = mk("list", 0);
    memset(N, 0, sizeof(N));
    for (int i = 0; i < MAXN; i++) {
        atomic_store(&N[i].key, i);
        atomic_store(&N[i].pin, -1);
    }
}

static void
st_teardown(void)
{
    smr_destroy(D);
}

TestSuite(slist, .init = st_setup, .fini = st_teardown, .timeout = 30);
TestSuite(list, .init = st_setup, .fini = st_teardown, .timeout = 30);

static int
key(struct node *n)
{
    return n == NULL ? -1 : atomic_load(&n->key);
}

/*
 * The keys of an SMR_SLIST, read four ways that must agree: the reader's
 * FOREACH and FIRST/NEXT inside a section, the writer's SERIALIZED_FIRST/
 * NEXT and FOREACH_SAFE.  Returns the count.
 */
static int
s_keys(struct shead *h, int *out)
{
    int a[MAXN], b[MAXN], c[MAXN], n = 0, na = 0, nb = 0, nc = 0;
    struct node *x, *t;

    smr_enter(D);
    SMR_SLIST_FOREACH(x, h, s, D) {
        cr_assert_lt(n, MAXN, "slist: a cycle");
        out[n++] = key(x);
    }
    for (x = SMR_SLIST_FIRST(h, D); x != NULL && na < MAXN;
        x = SMR_SLIST_NEXT(x, s, D))
        a[na++] = key(x);
    cr_assert_eq(SMR_SLIST_EMPTY(h, D), n == 0);
    smr_exit(D);
    for (x = SMR_SLIST_SERIALIZED_FIRST(h, true); x != NULL && nb < MAXN;
        x = SMR_SLIST_SERIALIZED_NEXT(x, s, true))
        b[nb++] = key(x);
    cr_assert_eq(SMR_SLIST_SERIALIZED_EMPTY(h, true), n == 0);
    SMR_SLIST_FOREACH_SAFE(x, h, s, t, true) {
        cr_assert_lt(nc, MAXN);
        c[nc++] = key(x);
    }
    cr_assert(na == n && nb == n && nc == n,
        "slist traversals disagree: %d %d %d %d elements", n, na, nb, nc);
    for (int i = 0; i < n; i++)
        cr_assert(a[i] == out[i] && b[i] == out[i] && c[i] == out[i],
            "slist traversals disagree at %d", i);
    return n;
}

/* The same for an SMR_LIST, and every back link points at the pointer
 * word that points at its element (the head's, or the previous next). */
static int
l_keys(struct lhead *h, int *out)
{
    int a[MAXN], b[MAXN], n = 0, na = 0, nb = 0, nw = 0;
    struct node *x, *t, **pp = SMR__LIST_WORD(&h->lh_first);

    smr_enter(D);
    SMR_LIST_FOREACH(x, h, l, D) {
        cr_assert_lt(n, MAXN, "list: a cycle");
        out[n++] = key(x);
    }
    for (x = SMR_LIST_FIRST(h, D); x != NULL && na < MAXN;
        x = SMR_LIST_NEXT(x, l, D))
        a[na++] = key(x);
    cr_assert_eq(SMR_LIST_EMPTY(h, D), n == 0);
    smr_exit(D);
    for (x = SMR_LIST_SERIALIZED_FIRST(h, true); x != NULL && nw < MAXN;
        x = SMR_LIST_SERIALIZED_NEXT(x, l, true)) {
        cr_assert_eq(x->l.le_prev, pp, "list: back link of %d is wrong",
            key(x));
        pp = SMR__LIST_WORD(&x->l.le_next);
        nw++;
    }
    cr_assert_eq(SMR_LIST_SERIALIZED_EMPTY(h, true), n == 0);
    SMR_LIST_FOREACH_SAFE(x, h, l, t, true) {
        cr_assert_lt(nb, MAXN);
        b[nb++] = key(x);
    }
    cr_assert(na == n && nb == n && nw == n,
        "list traversals disagree: %d %d %d %d elements", n, na, nb, nw);
    for (int i = 0; i < n; i++)
        cr_assert(a[i] == out[i] && b[i] == out[i],
            "list traversals disagree at %d", i);
    return n;
}

/* Compare a list's keys with the expected ones (a -1-terminated list). */
static void
expect_keys(const int *got, int n, const int *want, const char *what)
{
    char g[512] = "", w[512] = "";
    int m = 0;

    while (want[m] != -1)
        m++;
    for (int i = 0; i < n; i++)
        snprintf(g + strlen(g), sizeof(g) - strlen(g), " %d", got[i]);
    for (int i = 0; i < m; i++)
        snprintf(w + strlen(w), sizeof(w) - strlen(w), " %d", want[i]);
    cr_assert(n == m && memcmp(got, want, (size_t)n * sizeof(int)) == 0,
        "%s: list is [%s ], expected [%s ]", what, g, w);
}

#define S_EXPECT(h, what, ...)                                          \
    do {                                                                \
        int got_[MAXN], n_ = s_keys((h), got_);                         \
        expect_keys(got_, n_, (const int[]){ __VA_ARGS__, -1 }, what);  \
    } while (0)
#define L_EXPECT(h, what, ...)                                          \
    do {                                                                \
        int got_[MAXN], n_ = l_keys((h), got_);                         \
        expect_keys(got_, n_, (const int[]){ __VA_ARGS__, -1 }, what);  \
    } while (0)
#define S_EXPECT_EMPTY(h, what)                                         \
    do {                                                                \
        int got_[MAXN];                                                 \
        cr_assert_eq(s_keys((h), got_), 0, "%s: not empty", what);      \
    } while (0)
#define L_EXPECT_EMPTY(h, what)                                         \
    do {                                                                \
        int got_[MAXN];                                                 \
        cr_assert_eq(l_keys((h), got_), 0, "%s: not empty", what);      \
    } while (0)

/* The writer's view of a removed element's next link. */
#define S_NEXT_KEY(k) key(SMR_SLIST_SERIALIZED_NEXT(&N[k], s, true))
#define L_NEXT_KEY(k) key(SMR_LIST_SERIALIZED_NEXT(&N[k], l, true))

Test(slist, init_and_empty)
{
    static struct shead h0 = SMR_SLIST_HEAD_INITIALIZER(h0);
    struct shead h;

    cr_assert_eq(sizeof(struct shead), sizeof(void *), "head is one pointer");
    S_EXPECT_EMPTY(&h0, "HEAD_INITIALIZER");
    memset(&h, 0xa5, sizeof(h));
    SMR_SLIST_INIT(&h);
    S_EXPECT_EMPTY(&h, "INIT");
    SMR_SLIST_INSERT_HEAD(&h, &N[1], s, true);
    smr_enter(D);
    cr_assert(!SMR_SLIST_EMPTY(&h, D));
    cr_assert_eq(SMR_SLIST_FIRST(&h, D), &N[1]);
    cr_assert_null(SMR_SLIST_NEXT(&N[1], s, D));
    smr_exit(D);
    cr_assert(!SMR_SLIST_SERIALIZED_EMPTY(&h, true));
    cr_assert_eq(SMR_SLIST_SERIALIZED_FIRST(&h, true), &N[1]);
    SMR_SLIST_REMOVE_HEAD(&h, s, true);
    S_EXPECT_EMPTY(&h, "REMOVE_HEAD of the only element");
}

Test(slist, insert_head_and_after)
{
    struct shead h = SMR_SLIST_HEAD_INITIALIZER(h);

    SMR_SLIST_INSERT_HEAD(&h, &N[3], s, true);
    SMR_SLIST_INSERT_HEAD(&h, &N[2], s, true);
    SMR_SLIST_INSERT_HEAD(&h, &N[1], s, true);
    S_EXPECT(&h, "INSERT_HEAD x3", 1, 2, 3);
    SMR_SLIST_INSERT_AFTER(&N[1], &N[5], s, true);      /* middle */
    S_EXPECT(&h, "INSERT_AFTER head", 1, 5, 2, 3);
    SMR_SLIST_INSERT_AFTER(&N[3], &N[4], s, true);      /* tail */
    S_EXPECT(&h, "INSERT_AFTER tail", 1, 5, 2, 3, 4);
    SMR_SLIST_INSERT_AFTER(&N[2], &N[6], s, true);
    S_EXPECT(&h, "INSERT_AFTER middle", 1, 5, 2, 6, 3, 4);
}

Test(slist, remove)
{
    struct shead h = SMR_SLIST_HEAD_INITIALIZER(h);

    for (int k = 8; k >= 1; k--)
        SMR_SLIST_INSERT_HEAD(&h, &N[k], s, true);
    S_EXPECT(&h, "setup", 1, 2, 3, 4, 5, 6, 7, 8);
    SMR_SLIST_REMOVE_HEAD(&h, s, true);
    S_EXPECT(&h, "REMOVE_HEAD", 2, 3, 4, 5, 6, 7, 8);
    cr_assert_eq(S_NEXT_KEY(1), 2, "REMOVE_HEAD cut the removed next link");
    SMR_SLIST_REMOVE_AFTER(&N[2], s, true);
    S_EXPECT(&h, "REMOVE_AFTER", 2, 4, 5, 6, 7, 8);
    cr_assert_eq(S_NEXT_KEY(3), 4, "REMOVE_AFTER cut the removed next link");
    SMR_SLIST_REMOVE(&h, &N[5], node, s, true);         /* middle */
    S_EXPECT(&h, "REMOVE middle", 2, 4, 6, 7, 8);
    cr_assert_eq(S_NEXT_KEY(5), 6, "REMOVE cut the removed next link");
    SMR_SLIST_REMOVE(&h, &N[8], node, s, true);         /* tail */
    S_EXPECT(&h, "REMOVE tail", 2, 4, 6, 7);
    cr_assert_eq(S_NEXT_KEY(8), -1);
    SMR_SLIST_REMOVE(&h, &N[2], node, s, true);         /* head */
    S_EXPECT(&h, "REMOVE head", 4, 6, 7);
    cr_assert_eq(S_NEXT_KEY(2), 4, "REMOVE of the head cut its next link");
    SMR_SLIST_REMOVE_AFTER(&N[6], s, true);             /* the tail, after */
    S_EXPECT(&h, "REMOVE_AFTER of the tail", 4, 6);
    SMR_SLIST_REMOVE(&h, &N[6], node, s, true);
    SMR_SLIST_REMOVE(&h, &N[4], node, s, true);
    S_EXPECT_EMPTY(&h, "REMOVE of the only element");
}

Test(slist, replace)
{
    struct shead h = SMR_SLIST_HEAD_INITIALIZER(h);

    for (int k = 3; k >= 1; k--)
        SMR_SLIST_INSERT_HEAD(&h, &N[k], s, true);
    SMR_SLIST_REPLACE(&h, &N[1], &N[11], node, s, true);
    S_EXPECT(&h, "REPLACE head", 11, 2, 3);
    cr_assert_eq(S_NEXT_KEY(1), 2, "REPLACE cut the replaced next link");
    SMR_SLIST_REPLACE(&h, &N[2], &N[12], node, s, true);
    S_EXPECT(&h, "REPLACE middle", 11, 12, 3);
    cr_assert_eq(S_NEXT_KEY(2), 3);
    SMR_SLIST_REPLACE(&h, &N[3], &N[13], node, s, true);
    S_EXPECT(&h, "REPLACE tail", 11, 12, 13);
    cr_assert_eq(S_NEXT_KEY(3), -1);
}

Test(slist, foreach_safe_while_removing)
{
    struct shead h = SMR_SLIST_HEAD_INITIALIZER(h);
    struct node *x, *t;
    int seen = 0;

    for (int k = 10; k >= 1; k--)
        SMR_SLIST_INSERT_HEAD(&h, &N[k], s, true);
    SMR_SLIST_FOREACH_SAFE(x, &h, s, t, true) {
        seen++;
        if (key(x) == 1)
            SMR_SLIST_REMOVE_HEAD(&h, s, true);
        else if (key(x) % 2 == 1)
            SMR_SLIST_REMOVE(&h, x, node, s, true);
    }
    cr_assert_eq(seen, 10);
    S_EXPECT(&h, "FOREACH_SAFE removing odd keys", 2, 4, 6, 8, 10);
    SMR_SLIST_FOREACH_SAFE(x, &h, s, t, true)
        SMR_SLIST_REMOVE(&h, x, node, s, true);
    S_EXPECT_EMPTY(&h, "FOREACH_SAFE removing all");
}

Test(list, init_and_empty)
{
    static struct lhead h0 = SMR_LIST_HEAD_INITIALIZER(h0);
    struct lhead h;

    cr_assert_eq(sizeof(struct lhead), sizeof(void *), "head is one pointer");
    L_EXPECT_EMPTY(&h0, "HEAD_INITIALIZER");
    memset(&h, 0xa5, sizeof(h));
    SMR_LIST_INIT(&h);
    L_EXPECT_EMPTY(&h, "INIT");
    SMR_LIST_INSERT_HEAD(&h, &N[1], l, true);
    smr_enter(D);
    cr_assert(!SMR_LIST_EMPTY(&h, D));
    cr_assert_eq(SMR_LIST_FIRST(&h, D), &N[1]);
    cr_assert_null(SMR_LIST_NEXT(&N[1], l, D));
    smr_exit(D);
    cr_assert(!SMR_LIST_SERIALIZED_EMPTY(&h, true));
    cr_assert_eq(SMR_LIST_SERIALIZED_FIRST(&h, true), &N[1]);
    SMR_LIST_REMOVE(&N[1], l, true);
    L_EXPECT_EMPTY(&h, "REMOVE of the only element");
}

Test(list, insert_head_after_before)
{
    struct lhead h = SMR_LIST_HEAD_INITIALIZER(h);

    SMR_LIST_INSERT_HEAD(&h, &N[3], l, true);
    SMR_LIST_INSERT_HEAD(&h, &N[1], l, true);
    L_EXPECT(&h, "INSERT_HEAD x2", 1, 3);
    SMR_LIST_INSERT_AFTER(&N[1], &N[2], l, true);       /* middle */
    L_EXPECT(&h, "INSERT_AFTER", 1, 2, 3);
    SMR_LIST_INSERT_AFTER(&N[3], &N[5], l, true);       /* tail */
    L_EXPECT(&h, "INSERT_AFTER tail", 1, 2, 3, 5);
    SMR_LIST_INSERT_BEFORE(&N[5], &N[4], l, true);      /* before tail */
    L_EXPECT(&h, "INSERT_BEFORE tail", 1, 2, 3, 4, 5);
    SMR_LIST_INSERT_BEFORE(&N[1], &N[0], l, true);      /* before head */
    L_EXPECT(&h, "INSERT_BEFORE head", 0, 1, 2, 3, 4, 5);
    SMR_LIST_INSERT_BEFORE(&N[3], &N[7], l, true);      /* middle */
    L_EXPECT(&h, "INSERT_BEFORE middle", 0, 1, 2, 7, 3, 4, 5);
    SMR_LIST_INSERT_HEAD(&h, &N[9], l, true);
    L_EXPECT(&h, "INSERT_HEAD on a list", 9, 0, 1, 2, 7, 3, 4, 5);
}

Test(list, remove)
{
    struct lhead h = SMR_LIST_HEAD_INITIALIZER(h);

    for (int k = 5; k >= 1; k--)
        SMR_LIST_INSERT_HEAD(&h, &N[k], l, true);
    L_EXPECT(&h, "setup", 1, 2, 3, 4, 5);
    SMR_LIST_REMOVE(&N[1], l, true);                    /* head */
    L_EXPECT(&h, "REMOVE head", 2, 3, 4, 5);
    cr_assert_eq(L_NEXT_KEY(1), 2, "REMOVE cut the removed next link");
    SMR_LIST_REMOVE(&N[3], l, true);                    /* middle */
    L_EXPECT(&h, "REMOVE middle", 2, 4, 5);
    cr_assert_eq(L_NEXT_KEY(3), 4, "REMOVE cut the removed next link");
    SMR_LIST_REMOVE(&N[5], l, true);                    /* tail */
    L_EXPECT(&h, "REMOVE tail", 2, 4);
    cr_assert_eq(L_NEXT_KEY(5), -1);
    /* The removed element may go back on a list (after a grace period,
     * or at once when no reader can have seen it, as here). */
    SMR_LIST_INSERT_AFTER(&N[4], &N[5], l, true);
    L_EXPECT(&h, "reinsert", 2, 4, 5);
    SMR_LIST_REMOVE(&N[4], l, true);
    SMR_LIST_REMOVE(&N[2], l, true);
    L_EXPECT(&h, "REMOVE x2", 5);
    SMR_LIST_REMOVE(&N[5], l, true);
    L_EXPECT_EMPTY(&h, "REMOVE of the only element");
#if SMR_CONFIG_DEBUG
    cr_assert_eq((uintptr_t)N[5].l.le_prev, SMR__LIST_POISON,
        "debug build: a removed element's back link is poisoned");
#endif
}

Test(list, replace)
{
    struct lhead h = SMR_LIST_HEAD_INITIALIZER(h);

    SMR_LIST_INSERT_HEAD(&h, &N[1], l, true);
    SMR_LIST_REPLACE(&N[1], &N[21], l, true);
    L_EXPECT(&h, "REPLACE of the only element", 21);
    SMR_LIST_INSERT_AFTER(&N[21], &N[2], l, true);
    SMR_LIST_INSERT_AFTER(&N[2], &N[3], l, true);
    SMR_LIST_REPLACE(&N[21], &N[11], l, true);
    L_EXPECT(&h, "REPLACE head", 11, 2, 3);
    cr_assert_eq(L_NEXT_KEY(21), 2, "REPLACE cut the replaced next link");
    SMR_LIST_REPLACE(&N[2], &N[12], l, true);
    L_EXPECT(&h, "REPLACE middle", 11, 12, 3);
    cr_assert_eq(L_NEXT_KEY(2), 3);
    SMR_LIST_REPLACE(&N[3], &N[13], l, true);
    L_EXPECT(&h, "REPLACE tail", 11, 12, 13);
    cr_assert_eq(L_NEXT_KEY(3), -1);
#if SMR_CONFIG_DEBUG
    cr_assert_eq((uintptr_t)N[3].l.le_prev, SMR__LIST_POISON);
#endif
}

Test(list, foreach_safe_while_removing)
{
    struct lhead h = SMR_LIST_HEAD_INITIALIZER(h);
    struct node *x, *t;
    int seen = 0;

    for (int k = 10; k >= 1; k--)
        SMR_LIST_INSERT_HEAD(&h, &N[k], l, true);
    SMR_LIST_FOREACH_SAFE(x, &h, l, t, true) {
        seen++;
        if (key(x) % 2 == 1)
            SMR_LIST_REMOVE(x, l, true);
    }
    cr_assert_eq(seen, 10);
    L_EXPECT(&h, "FOREACH_SAFE removing odd keys", 2, 4, 6, 8, 10);
    SMR_LIST_FOREACH_SAFE(x, &h, l, t, true)
        SMR_LIST_REMOVE(x, l, true);
    L_EXPECT_EMPTY(&h, "FOREACH_SAFE removing all");
}

/* SMR_LIST as the hash chain: buckets of one pointer, lookups by readers,
 * removal without the bucket. */
Test(list, hash_chains)
{
    enum { NB = 8 };
    static struct lhead b[NB];
    struct node *x;

    for (int i = 0; i < NB; i++)
        SMR_LIST_INIT(&b[i]);
    for (int k = 0; k < MAXN; k++)
        SMR_LIST_INSERT_HEAD(&b[k % NB], &N[k], l, true);
    for (int k = 0; k < MAXN; k += 3)
        SMR_LIST_REMOVE(&N[k], l, true);
    smr_enter(D);
    for (int k = 0; k < MAXN; k++) {
        bool found = false;

        SMR_LIST_FOREACH(x, &b[k % NB], l, D) {
            cr_assert_eq(key(x) % NB, k % NB, "node in the wrong chain");
            if (key(x) == k)
                found = true;
        }
        cr_assert_eq(found, k % 3 != 0, "key %d: found %d", k, found);
    }
    smr_exit(D);
    for (int i = 0; i < NB; i++) {
        int got[MAXN], want = 0;

        for (int k = i; k < MAXN; k += NB)
            want += k % 3 != 0;
        cr_assert_eq(l_keys(&b[i], got), want, "chain %d", i);
    }
}

#if SMR_CONFIG_DEBUG
static void
double_remove(void *arg)
{
    struct lhead h = SMR_LIST_HEAD_INITIALIZER(h);

    (void)arg;
    SMR_LIST_INSERT_HEAD(&h, &N[1], l, true);
    SMR_LIST_REMOVE(&N[1], l, true);
    SMR_LIST_REMOVE(&N[1], l, true);    /* aborts */
}

Test(list, debug_second_remove_aborts)
{
    char buf[4096];
    int st = child_stderr(double_remove, NULL, buf, sizeof(buf));

    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
        "a second SMR_LIST_REMOVE did not abort (status %#x): %s", st, buf);
    cr_assert(strstr(buf, "SMR_LIST_REMOVE: element is not on a list"),
        "no message: %s", buf);
}
#endif

/* ------------------------------------------------------------------ */
/* Concurrent: readers in sections, a serialized writer, an SMR pool   */
/* ------------------------------------------------------------------ */

enum kind { K_SLIST, K_LIST };

#define NPIN 4          /* pinned nodes: never removed, fixed order */
#define NLIVE_MIN 4     /* the writer keeps between MIN and MAX others */
#define NLIVE_MAX 20
#define NREADERS 2
#define MAXSTEPS 10000  /* a longer traversal means a cycle */
/* One visit in PAUSE_EVERY sleeps PAUSE_US inside the section, standing on
 * the node: the window in which a writer without grace periods (the broken
 * build) recycles it.  Sleeping, not spinning, so that on a loaded 2-core
 * machine the writer gets the processor meanwhile. */
#define PAUSE_EVERY 48
#define PAUSE_US 300
/* The run: at least RUN_MS and MIN_OPS writer operations and MIN_PAUSES
 * reader pauses, at most CAP_MS; it stops at the first violation. */
#define RUN_MS 600
#define CAP_MS 10000
#define MIN_OPS 20000
#define MIN_PAUSES 100

struct conc {
    smr_t smr;
    int flags;
    enum kind kind;
    smr_pool_t pool;
    struct shead sh;
    struct lhead lh;
    pthread_mutex_t lock;       /* the writers' serialization */
    pthread_t holder;           /* valid while held (for `ex`) */
    bool held;
    atomic_int stop;
    atomic_int started;
    atomic_long sections;
    atomic_long visits;
    atomic_long pauses;
    atomic_long violations;
    atomic_int why_set;
    char why[256];              /* the first violation, for the message */
};

/* `ex` of the writer's macros: this thread holds c->lock.  (Evaluated
 * only in SMR_DEBUG builds.) */
static __attribute__((unused)) bool
w_held(const struct conc *c)
{
    return c->held && pthread_equal(c->holder, pthread_self());
}

static void
w_lock(struct conc *c)
{
    pthread_mutex_lock(&c->lock);
    c->holder = pthread_self();
    c->held = true;
}

static void
w_unlock(struct conc *c)
{
    c->held = false;
    pthread_mutex_unlock(&c->lock);
}

static void
violation(struct conc *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
violation(struct conc *c, const char *fmt, ...)
{
    va_list ap;

    if (atomic_exchange(&c->why_set, 1) == 0) {
        va_start(ap, fmt);
        vsnprintf(c->why, sizeof(c->why), fmt, ap);
        va_end(ap);
    }
    atomic_fetch_add(&c->violations, 1);
}

/*
 * A reader's visit of n: the stamp pair must be consistent, the pinned
 * nodes come in order, and the stamp must not change while the reader
 * stands on n (sometimes for PAUSE_US).  false: stop this traversal (the
 * node cannot be trusted, not even its next link).
 */
static bool
visit(struct conc *c, struct node *n, int *next_pin, int *steps, unsigned *r)
{
    uint64_t s1 = atomic_load_explicit(&n->stamp, memory_order_relaxed);
    uint64_t c1 = atomic_load_explicit(&n->check, memory_order_relaxed);
    int pin = atomic_load_explicit(&n->pin, memory_order_relaxed);
    uint64_t s2, c2;

    atomic_fetch_add_explicit(&c->visits, 1, memory_order_relaxed);
    if (s1 == 0 || c1 != ~s1) {
        violation(c, "a node not (or no longer) initialised: stamp %llx, "
            "check %llx", (ull)s1, (ull)c1);
        return false;
    }
    if (pin >= 0) {
        if (pin != *next_pin) {
            violation(c, "pinned node %d where %d was due", pin, *next_pin);
            return false;
        }
        (*next_pin)++;
    }
    if (++*steps > MAXSTEPS) {
        violation(c, "a traversal of %d steps: a cycle", *steps);
        return false;
    }
    *r = *r * 1103515245u + 12345u;
    if ((*r >> 16) % PAUSE_EVERY == 0) {
        usleep(PAUSE_US);
        atomic_fetch_add_explicit(&c->pauses, 1, memory_order_relaxed);
    } else {
        for (int i = 0; i < 50; i++)
            __atomic_signal_fence(__ATOMIC_SEQ_CST);
    }
    s2 = atomic_load_explicit(&n->stamp, memory_order_relaxed);
    c2 = atomic_load_explicit(&n->check, memory_order_relaxed);
    if (s2 != s1 || c2 != c1) {
        violation(c, "node reused under a reader: stamp %llu became %llu",
            (ull)s1, (ull)s2);
        return false;
    }
    return true;
}

static void *
reader(void *arg)
{
    struct conc *c = arg;
    unsigned r = (unsigned)atomic_fetch_add(&c->started, 1) * 7919u + 1u;

    while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
        int next_pin = 0, steps = 0;
        bool whole = true;
        struct node *n;

        sec_enter(c->smr, c->flags);
        if (c->kind == K_SLIST) {
            SMR_SLIST_FOREACH(n, &c->sh, s, c->smr) {
                if (!(whole = visit(c, n, &next_pin, &steps, &r)))
                    break;
            }
        } else {
            SMR_LIST_FOREACH(n, &c->lh, l, c->smr) {
                if (!(whole = visit(c, n, &next_pin, &steps, &r)))
                    break;
            }
        }
        if (whole && next_pin != NPIN)
            violation(c, "a traversal met %d of %d pinned nodes", next_pin,
                NPIN);
        sec_exit(c->smr, c->flags);
        atomic_fetch_add_explicit(&c->sections, 1, memory_order_relaxed);
    }
    return NULL;
}

/* The writer's own bookkeeping (its thread only). */
struct wstate {
    struct node *pinned[NPIN];
    struct node *live[NLIVE_MAX];
    int nlive;
    uint64_t gen;
    unsigned r;
    long ops[6];        /* insert head/after/before, remove, replace, + */
};

static unsigned
w_rand(struct wstate *w, unsigned n)
{
    w->r = w->r * 1103515245u + 12345u;
    return (w->r >> 8) % n;
}

/* A fresh node: stamped only now, after the allocation, before it is
 * published (the release in the insert macros carries these stores). */
static struct node *
w_fresh(struct conc *c, struct wstate *w, int pin)
{
    struct node *x = smr_pool_alloc(c->pool);

    cr_assert(x != NULL, "smr_pool_alloc: errno %d", errno);
    w->gen++;
    atomic_store_explicit(&x->stamp, w->gen, memory_order_relaxed);
    atomic_store_explicit(&x->check, ~w->gen, memory_order_relaxed);
    atomic_store_explicit(&x->key, (int)w->gen, memory_order_relaxed);
    atomic_store_explicit(&x->pin, pin, memory_order_relaxed);
    return x;
}

static struct node *
w_anchor(struct wstate *w)
{
    unsigned i = w_rand(w, NPIN + (unsigned)w->nlive);

    return i < NPIN ? w->pinned[i] : w->live[i - NPIN];
}

static void
w_insert(struct conc *c, struct wstate *w)
{
    struct node *x = w_fresh(c, w, -1), *a;
    unsigned how = w_rand(w, c->kind == K_SLIST ? 2 : 3);

    w_lock(c);
    a = w_anchor(w);
    if (c->kind == K_SLIST) {
        if (how == 0)
            SMR_SLIST_INSERT_HEAD(&c->sh, x, s, w_held(c));
        else
            SMR_SLIST_INSERT_AFTER(a, x, s, w_held(c));
    } else {
        if (how == 0)
            SMR_LIST_INSERT_HEAD(&c->lh, x, l, w_held(c));
        else if (how == 1)
            SMR_LIST_INSERT_AFTER(a, x, l, w_held(c));
        else
            SMR_LIST_INSERT_BEFORE(a, x, l, w_held(c));
    }
    w_unlock(c);
    w->live[w->nlive++] = x;
    w->ops[how]++;
}

/* Unlink a live node (every removal macro of the kind), then free it
 * through the pool: reused only after readers that may hold it left. */
static void
w_remove(struct conc *c, struct wstate *w)
{
    unsigned i = w_rand(w, (unsigned)w->nlive);
    struct node *v = w->live[i], *x, *t, *prev = NULL;

    w_lock(c);
    if (c->kind == K_LIST) {
        SMR_LIST_REMOVE(v, l, w_held(c));
    } else if (SMR_SLIST_SERIALIZED_FIRST(&c->sh, w_held(c)) == v) {
        SMR_SLIST_REMOVE_HEAD(&c->sh, s, w_held(c));
    } else if (w_rand(w, 2) == 0) {
        SMR_SLIST_REMOVE(&c->sh, v, node, s, w_held(c));
    } else {
        SMR_SLIST_FOREACH_SAFE(x, &c->sh, s, t, w_held(c)) {
            if (x == v)
                break;
            prev = x;
        }
        cr_assert(x == v && prev != NULL);
        SMR_SLIST_REMOVE_AFTER(prev, s, w_held(c));
    }
    w_unlock(c);
    w->live[i] = w->live[--w->nlive];
    smr_pool_free(c->pool, v);
    w->ops[3]++;
}

static void
w_replace(struct conc *c, struct wstate *w)
{
    unsigned i = w_rand(w, (unsigned)w->nlive);
    struct node *v = w->live[i], *x = w_fresh(c, w, -1);

    w_lock(c);
    if (c->kind == K_SLIST)
        SMR_SLIST_REPLACE(&c->sh, v, x, node, s, w_held(c));
    else
        SMR_LIST_REPLACE(v, x, l, w_held(c));
    w_unlock(c);
    w->live[i] = x;
    smr_pool_free(c->pool, v);
    w->ops[4]++;
}

/* Quiescent: the list is the pinned nodes in order plus the live ones
 * (s_keys/l_keys: every traversal agrees, the back links are right). */
static void
w_check_final(struct conc *c, struct wstate *w)
{
    struct node *x, *t;
    int got[MAXN], n, pins = 0;

    if (c->kind == K_SLIST) {
        n = s_keys(&c->sh, got);
        SMR_SLIST_FOREACH_SAFE(x, &c->sh, s, t, true) {
            int pin = atomic_load(&x->pin);

            cr_assert(pin < 0 || pin == pins++, "pinned %d out of order",
                pin);
        }
    } else {
        n = l_keys(&c->lh, got);
        SMR_LIST_FOREACH_SAFE(x, &c->lh, l, t, true) {
            int pin = atomic_load(&x->pin);

            cr_assert(pin < 0 || pin == pins++, "pinned %d out of order",
                pin);
        }
    }
    cr_assert_eq(pins, NPIN);
    cr_assert_eq(n, NPIN + w->nlive, "%d nodes on the list, %d expected", n,
        NPIN + w->nlive);
}

static void
conc_run(enum kind kind, int flags)
{
    static struct conc c;
    struct wstate w;
    pthread_t rt[NREADERS];
    uint64_t t0, el;
    long ops = 0;
    const char *kname = kind == K_SLIST ? "slist" : "list";

    memset(&c, 0, sizeof(c));
    memset(&w, 0, sizeof(w));
    w.r = 12345u;
    c.kind = kind;
    c.flags = flags;
    c.smr = mk("list-conc", flags);
    D = c.smr;                  /* (for s_keys/l_keys at the end) */
#if defined(TEST_LIST_BROKEN_NO_GRACE)
    /* Deliberately broken: a plain cache reuses a freed node at once. */
    c.pool = smr_pool_create("list-conc", sizeof(struct node), 0, NULL, 0);
#else
    c.pool = smr_pool_create("list-conc", sizeof(struct node), 0, c.smr, 0);
#endif
    cr_assert(c.pool != NULL);
    pthread_mutex_init(&c.lock, NULL);
    SMR_SLIST_INIT(&c.sh);
    SMR_LIST_INIT(&c.lh);

    /* Pinned nodes 0..NPIN-1 in order, then some live ones among them. */
    w_lock(&c);
    for (int i = 0; i < NPIN; i++) {
        w.pinned[i] = w_fresh(&c, &w, i);
        if (kind == K_SLIST && i == 0)
            SMR_SLIST_INSERT_HEAD(&c.sh, w.pinned[i], s, w_held(&c));
        else if (kind == K_SLIST)
            SMR_SLIST_INSERT_AFTER(w.pinned[i - 1], w.pinned[i], s,
                w_held(&c));
        else if (i == 0)
            SMR_LIST_INSERT_HEAD(&c.lh, w.pinned[i], l, w_held(&c));
        else
            SMR_LIST_INSERT_AFTER(w.pinned[i - 1], w.pinned[i], l,
                w_held(&c));
    }
    w_unlock(&c);
    while (w.nlive < (NLIVE_MIN + NLIVE_MAX) / 2)
        w_insert(&c, &w);

    for (int i = 0; i < NREADERS; i++)
        cr_assert(pthread_create(&rt[i], NULL, reader, &c) == 0);
    cr_assert(wait_flag(&c.started, NREADERS, 20000));
    t0 = now_ns();
    for (;;) {
        for (int k = 0; k < 64; k++) {
            unsigned op = w_rand(&w, 3);

            if (w.nlive <= NLIVE_MIN)
                op = 0;
            else if (w.nlive >= NLIVE_MAX)
                op = 1 + w_rand(&w, 2);
            if (op == 0)
                w_insert(&c, &w);
            else if (op == 1)
                w_remove(&c, &w);
            else
                w_replace(&c, &w);
            ops++;
        }
        el = now_ns() - t0;
        if (atomic_load(&c.violations) != 0 || el > CAP_MS * MS)
            break;
        if (el > RUN_MS * MS && ops >= MIN_OPS &&
            atomic_load(&c.pauses) >= MIN_PAUSES)
            break;
    }
    atomic_store(&c.stop, 1);
    for (int i = 0; i < NREADERS; i++)
        pthread_join(rt[i], NULL);

    struct smr_pool_stats st;
    smr_pool_stats(c.pool, &st);
    cr_log_info("concurrent %s %s%s: %ld writer ops (ins %ld/%ld/%ld rm %ld "
        "repl %ld) in %llu ms, %ld sections, %ld visits, %ld pauses, "
        "%ld violations, %llu buckets reused",
        kname, flags_name(flags),
#if defined(TEST_LIST_BROKEN_NO_GRACE)
        " (broken: no grace period)",
#else
        "",
#endif
        ops, w.ops[0], w.ops[1], w.ops[2], w.ops[3], w.ops[4],
        (ull)((now_ns() - t0) / MS), atomic_load(&c.sections),
        atomic_load(&c.visits), atomic_load(&c.pauses),
        atomic_load(&c.violations), (ull)st.buckets_reused);
    cr_assert_eq(atomic_load(&c.violations), 0,
        "%s, %s domain: %ld violations; the first: %s", kname,
        flags_name(flags), atomic_load(&c.violations), c.why);
    cr_assert_geq(ops, MIN_OPS, "the writer made little progress");
    cr_assert_geq(atomic_load(&c.pauses), MIN_PAUSES,
        "the readers made little progress");
#if !defined(TEST_LIST_BROKEN_NO_GRACE)
    /* The pool did recycle nodes (after their grace periods), so the
     * stamps above were checked against real reuse. */
    cr_assert_gt(st.buckets_reused, 0, "the pool never reused a bucket");
#endif
    w_check_final(&c, &w);

    /* Tear down: unlink everything (writer side), free, drain. */
    {
        struct node *x, *t;

        w_lock(&c);
        if (kind == K_SLIST) {
            SMR_SLIST_FOREACH_SAFE(x, &c.sh, s, t, w_held(&c)) {
                SMR_SLIST_REMOVE_HEAD(&c.sh, s, w_held(&c));
                smr_pool_free(c.pool, x);
            }
        } else {
            SMR_LIST_FOREACH_SAFE(x, &c.lh, l, t, w_held(&c)) {
                SMR_LIST_REMOVE(x, l, w_held(&c));
                smr_pool_free(c.pool, x);
            }
        }
        w_unlock(&c);
    }
    smr_pool_destroy(c.pool);
    smr_destroy(c.smr);
    pthread_mutex_destroy(&c.lock);
}

ALL_FLAGS(concurrent, slist)
ParameterizedTest(int *flags, concurrent, slist, .timeout = 60)
{
    conc_run(K_SLIST, *flags);
}

ALL_FLAGS(concurrent, list)
ParameterizedTest(int *flags, concurrent, list, .timeout = 60)
{
    conc_run(K_LIST, *flags);
}
