/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * smr_ht.h test suite (Criterion).
 *
 *   ht.*          every call, single-threaded: create's argument checks,
 *                 lookup, insert with duplicates and smr_ht_next_dup,
 *                 insert_unique, replace, delete (twice, and of a node not
 *                 in the table: ENOENT, an abort with a message in
 *                 SMR_DEBUG builds), iteration, explicit and automatic
 *                 resizes both ways, SMR_HT_MANUAL_RESIZE, out of memory
 *                 at create and during resizes (the table stays usable at
 *                 its old size), destroy of a non-empty table, writers and
 *                 resizes inside the caller's section, misuse aborts.
 *   grace.*       the two grace periods the table relies on, each forced
 *                 into the one interleaving where skipping it shows:
 *                 node_*  a reader holds a node from smr_ht_lookup while a
 *                         writer deletes it, frees it to the pool and
 *                         allocates again: the node must not change;
 *                 table_* a reader stands on a deleted node whose frozen
 *                         link leads to a bucket of the top level while
 *                         the table shrinks: the walk must go on past it.
 *   concurrent.*  readers (lookups with pauses inside the section, whole
 *                 iterations) against two lock-free writers (unique
 *                 inserts, deletes, replaces, nodes freed through an SMR
 *                 pool) and a resizer, on default, deferred and lazy
 *                 domains: generation stamps never change under a reader,
 *                 the always-present keys are always found, and the final
 *                 contents are exactly what the writers did.
 *
 * Built twice more (tests/CMakeLists.txt), and each build must FAIL:
 *   test_ht_broken_nodes  (-DTEST_HT_BROKEN_NO_GRACE) the nodes live in a
 *                         plain pool (smr == NULL), reused at once:
 *                         concurrent.* and grace.node_* must fail;
 *   test_ht_broken_table  the library compiled in with
 *                         -DSMR_HT__BROKEN_NO_GRACE (a shrink skips both of
 *                         its grace periods): grace.table_* must fail.
 *
 * Only the test's main thread calls cr_assert*; other threads record what
 * they saw in atomics.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <smr.h>
#include <smr_ht.h>

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

struct item {
    uint64_t key;
    _Atomic uint64_t stamp;     /* generation, written after alloc */
    _Atomic uint64_t check;     /* ~stamp */
    struct smr_ht_node hn;
    int tag;
};

#define ITEM(n) SMR_HT_ENTRY((n), struct item, hn)

static uint64_t
hash_mix(const void *key, void *arg)
{
    uint64_t k = *(const uint64_t *)key;

    (void)arg;
    k ^= k >> 30;
    k *= UINT64_C(0xbf58476d1ce4e5b9);
    k ^= k >> 27;
    k *= UINT64_C(0x94d049bb133111eb);
    k ^= k >> 31;
    return k;
}

/* Identity: the bucket of key k is k mod the bucket count. */
static uint64_t
hash_ident(const void *key, void *arg)
{
    (void)arg;
    return *(const uint64_t *)key;
}

static atomic_long match_calls;

static bool
match_key(const struct smr_ht_node *n, const void *key, void *arg)
{
    (void)arg;
    atomic_fetch_add_explicit(&match_calls, 1, memory_order_relaxed);
    return ITEM(n)->key == *(const uint64_t *)key;
}

static smr_ht_t
mk_ht(smr_t smr, size_t init, int flags, smr_ht_hash_fn h)
{
    struct smr_ht_args a = {
        .hash = h, .match = match_key, .name = "test",
        .init_buckets = init, .flags = flags,
    };
    smr_ht_t ht;

    errno = 0;
    ht = smr_ht_create(smr, &a);
    cr_assert(ht != NULL, "smr_ht_create: errno %d", errno);
    return ht;
}

/* Lookup from outside any section (the test's own short one). */
static struct item *
find(smr_ht_t ht, uint64_t key)
{
    struct smr_ht_node *n;

    smr_enter(smr_ht_smr(ht));
    n = smr_ht_lookup(ht, &key);
    smr_exit(smr_ht_smr(ht));
    return n == NULL ? NULL : ITEM(n);
}

/* Nodes reachable by iteration. */
static size_t
walk_count(smr_ht_t ht)
{
    struct smr_ht_node *n;
    size_t c = 0;

    smr_enter(smr_ht_smr(ht));
    SMR_HT_FOREACH(n, ht)
        c++;
    smr_exit(smr_ht_smr(ht));
    return c;
}

/* ------------------------------------------------------------------ */
/* Single-threaded                                                     */
/* ------------------------------------------------------------------ */

#define NI 4096
static smr_t D;
static struct item I[NI];

static void
st_setup(void)
{
    D = mk("ht", 0);
    memset(I, 0, sizeof(I));
    for (int i = 0; i < NI; i++)
        I[i].key = (uint64_t)i;
}

static void
st_teardown(void)
{
    smr_destroy(D);
}

TestSuite(ht, .init = st_setup, .fini = st_teardown, .timeout = 60);

/* Delete every item in [0, n) that is in the table. */
static void
drain(smr_ht_t ht, int n)
{
    for (int i = 0; i < n; i++) {
        struct item *it = find(ht, (uint64_t)i);
        while (it != NULL) {
            cr_assert_eq(smr_ht_delete(ht, &it->hn), 0);
            it = find(ht, (uint64_t)i);
        }
    }
}

Test(ht, create_bad_args)
{
    struct smr_ht_args a = { .hash = hash_mix, .match = match_key };
    struct smr_ht_args b;
    smr_ht_t ht;

#define BAD(smr, args)                                                  \
    do {                                                                \
        errno = 0;                                                      \
        cr_assert_null(smr_ht_create((smr), (args)), #args);            \
        cr_assert_eq(errno, EINVAL, "%s: errno %d", #args, errno);      \
    } while (0)
    BAD(NULL, &a);
    BAD(D, NULL);
    b = a; b.hash = NULL; BAD(D, &b);
    b = a; b.match = NULL; BAD(D, &b);
    b = a; b.flags = 0x100; BAD(D, &b);
    b = a; b.init_buckets = SMR_HT_MAX_BUCKETS + 1; BAD(D, &b);
    b = a; b.max_buckets = SMR_HT_MAX_BUCKETS + 1; BAD(D, &b);
    b = a; b.min_buckets = SMR_HT_MAX_BUCKETS + 1; BAD(D, &b);
    b = a; b.min_buckets = 64; b.max_buckets = 32; BAD(D, &b);
    b = a; b.init_buckets = 8; b.min_buckets = 16; BAD(D, &b);
    b = a; b.init_buckets = 64; b.max_buckets = 32; BAD(D, &b);
    b = a; b.init_buckets = (size_t)-1; BAD(D, &b);
#undef BAD

    /* Defaults, and rounding up to powers of two. */
    ht = smr_ht_create(D, &a);
    cr_assert_not_null(ht);
    cr_assert_eq(smr_ht_buckets(ht), 16);
    cr_assert_eq(smr_ht_count(ht), 0);
    cr_assert_eq(smr_ht_smr(ht), D);
    cr_assert_eq(smr_ht_destroy(ht), 0);
    b = a;
    b.init_buckets = 5;
    ht = smr_ht_create(D, &b);
    cr_assert_not_null(ht);
    cr_assert_eq(smr_ht_buckets(ht), 8);
    cr_assert_eq(smr_ht_destroy(ht), 0);
    b.init_buckets = 1;     /* below the default minimum: allowed */
    ht = smr_ht_create(D, &b);
    cr_assert_not_null(ht);
    cr_assert_eq(smr_ht_buckets(ht), 1);
    cr_assert_eq(smr_ht_destroy(ht), 0);
    cr_assert_eq(smr_ht_destroy(NULL), 0);
}

Test(ht, lookup_insert)
{
    smr_ht_t ht = mk_ht(D, 4, SMR_HT_MANUAL_RESIZE, hash_mix);
    uint64_t k;

    for (int i = 0; i < 1000; i += 2)
        smr_ht_insert(ht, &I[i].hn, &I[i].key);
    cr_assert_eq(smr_ht_count(ht), 500);
    cr_assert_eq(walk_count(ht), 500);
    for (int i = 0; i < 1000; i++) {
        struct item *it = find(ht, (uint64_t)i);
        if (i % 2 == 0)
            cr_assert_eq(it, &I[i], "key %d", i);
        else
            cr_assert_null(it, "key %d", i);
    }
    /* A key that was never there, with a hash far from the others. */
    k = UINT64_C(0xffffffffffffffff);
    smr_enter(D);
    cr_assert_null(smr_ht_lookup(ht, &k));
    smr_exit(D);
    drain(ht, 1000);
    cr_assert_eq(smr_ht_count(ht), 0);
    cr_assert_eq(smr_ht_destroy(ht), 0);
}

Test(ht, duplicates_and_next_dup)
{
    smr_ht_t ht = mk_ht(D, 16, 0, hash_mix);
    struct smr_ht_node *n;
    uint64_t k = 7;
    int seen[4] = {0}, c = 0;

    for (int i = 0; i < 4; i++) {
        I[100 + i].key = 7;
        I[100 + i].tag = i;
        smr_ht_insert(ht, &I[100 + i].hn, &k);
    }
    smr_ht_insert(ht, &I[8].hn, &I[8].key);     /* a neighbour */
    cr_assert_eq(smr_ht_count(ht), 5);
    smr_enter(D);
    for (n = smr_ht_lookup(ht, &k); n != NULL; n = smr_ht_next_dup(ht, n, &k)) {
        cr_assert_eq(ITEM(n)->key, 7);
        seen[ITEM(n)->tag]++;
        c++;
    }
    smr_exit(D);
    cr_assert_eq(c, 4);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(seen[i], 1);
    /* Delete one in the middle: the others remain reachable. */
    cr_assert_eq(smr_ht_delete(ht, &I[102].hn), 0);
    c = 0;
    smr_enter(D);
    for (n = smr_ht_lookup(ht, &k); n != NULL; n = smr_ht_next_dup(ht, n, &k)) {
        cr_assert_neq(ITEM(n), &I[102]);
        c++;
    }
    smr_exit(D);
    cr_assert_eq(c, 3);
    for (int i = 0; i < 4; i++)
        if (i != 2)
            cr_assert_eq(smr_ht_delete(ht, &I[100 + i].hn), 0);
    cr_assert_eq(smr_ht_delete(ht, &I[8].hn), 0);
    cr_assert_eq(smr_ht_destroy(ht), 0);
}

Test(ht, insert_unique)
{
    smr_ht_t ht = mk_ht(D, 16, 0, hash_mix);
    struct item dup = { .key = 42 };

    cr_assert_eq(smr_ht_insert_unique(ht, &I[42].hn, &I[42].key), &I[42].hn);
    smr_enter(D);
    cr_assert_eq(smr_ht_insert_unique(ht, &dup.hn, &dup.key), &I[42].hn);
    smr_exit(D);
    cr_assert_eq(smr_ht_count(ht), 1);
    cr_assert_eq(walk_count(ht), 1);
    /* A plain insert's duplicate is found by a later unique insert too. */
    smr_ht_delete(ht, &I[42].hn);
    smr_ht_insert(ht, &I[42].hn, &I[42].key);
    cr_assert_eq(smr_ht_insert_unique(ht, &dup.hn, &dup.key), &I[42].hn);
    cr_assert_eq(smr_ht_delete(ht, &I[42].hn), 0);
    /* Absent again: the unique insert succeeds. */
    cr_assert_eq(smr_ht_insert_unique(ht, &dup.hn, &dup.key), &dup.hn);
    cr_assert_eq(find(ht, 42), &dup);
    cr_assert_eq(smr_ht_delete(ht, &dup.hn), 0);
    cr_assert_eq(smr_ht_destroy(ht), 0);
}

Test(ht, replace)
{
    smr_ht_t ht = mk_ht(D, 16, 0, hash_mix);
    struct item a = { .key = 9 }, b = { .key = 9 }, c = { .key = 9 };

    for (int i = 0; i < 64; i++)
        if (i != 9)
            smr_ht_insert(ht, &I[i].hn, &I[i].key);
    smr_ht_insert(ht, &a.hn, &a.key);
    cr_assert_eq(smr_ht_replace(ht, &a.hn, &b.hn), 0);
    cr_assert_eq(find(ht, 9), &b);
    cr_assert_eq(smr_ht_count(ht), 64);
    cr_assert_eq(walk_count(ht), 64);
    /* a is gone: replacing or deleting it again is ENOENT, and c is not
     * inserted. */
    cr_assert_eq(smr_ht_replace(ht, &a.hn, &c.hn), ENOENT);
    cr_assert_eq(smr_ht_delete(ht, &a.hn), ENOENT);
    cr_assert_eq(find(ht, 9), &b);
    cr_assert_eq(walk_count(ht), 64);
    cr_assert_eq(smr_ht_replace(ht, &b.hn, &c.hn), 0);
    cr_assert_eq(find(ht, 9), &c);
    for (int i = 0; i < 64; i++)
        cr_assert_eq(find(ht, (uint64_t)i), i == 9 ? &c : &I[i]);
    cr_assert_eq(smr_ht_delete(ht, &c.hn), 0);
    drain(ht, 64);
    cr_assert_eq(smr_ht_destroy(ht), 0);
}

Test(ht, delete)
{
    smr_ht_t ht = mk_ht(D, 16, 0, hash_mix);

    for (int i = 0; i < 100; i++)
        smr_ht_insert(ht, &I[i].hn, &I[i].key);
    for (int i = 0; i < 100; i += 3)
        cr_assert_eq(smr_ht_delete(ht, &I[i].hn), 0);
    for (int i = 0; i < 100; i += 3)
        cr_assert_eq(smr_ht_delete(ht, &I[i].hn), ENOENT, "second delete");
    for (int i = 0; i < 100; i++)
        cr_assert_eq(find(ht, (uint64_t)i), i % 3 == 0 ? NULL : &I[i]);
    cr_assert_eq(smr_ht_count(ht), 66);
    cr_assert_eq(walk_count(ht), 66);
    drain(ht, 100);
    cr_assert_eq(smr_ht_count(ht), 0);
    cr_assert_eq(smr_ht_destroy(ht), 0);
}

#if SMR_CONFIG_DEBUG
/* A node never inserted anywhere, and one of another table. */
static void
delete_foreign(void *arg)
{
    smr_ht_t ht = mk_ht(D, 16, 0, hash_mix), other = mk_ht(D, 16, 0,
        hash_mix);
    static struct item never = { .key = 3 };

    smr_ht_insert(other, &I[5].hn, &I[5].key);
    smr_ht_insert(ht, &I[6].hn, &I[6].key);
    if (arg == NULL) {
        memset(&never.hn, 0, sizeof(never.hn));
        (void)smr_ht_delete(ht, &never.hn);
    } else {
        (void)smr_ht_delete(ht, &I[5].hn);
    }
}

Test(ht, delete_not_in_table_aborts)
{
    char buf[4096];

    for (int k = 0; k < 2; k++) {
        int st = child_stderr(delete_foreign, k ? (void *)1 : NULL, buf,
            sizeof(buf));
        cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
            "delete of a foreign node did not abort (status %#x): %s", st,
            buf);
        cr_assert(strstr(buf, "smr_ht_delete: node") &&
            strstr(buf, "is not in table \"test\""), "no message: %s", buf);
    }
}

static void
lookup_outside(void *arg)
{
    smr_ht_t ht = mk_ht(D, 16, 0, hash_mix);
    uint64_t k = 1;

    (void)arg;
    (void)smr_ht_lookup(ht, &k);
}

Test(ht, lookup_outside_section_aborts)
{
    char buf[4096];
    int st = child_stderr(lookup_outside, NULL, buf, sizeof(buf));

    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
        "status %#x: %s", st, buf);
    cr_assert(strstr(buf, "smr_ht_lookup: outside a read section"),
        "no message: %s", buf);
}
#else
Test(ht, delete_not_in_table_enoent)
{
    smr_ht_t ht = mk_ht(D, 16, 0, hash_mix), other = mk_ht(D, 16, 0,
        hash_mix);
    struct item never = { .key = 3 };

    smr_ht_insert(other, &I[5].hn, &I[5].key);
    smr_ht_insert(ht, &I[6].hn, &I[6].key);
    memset(&never.hn, 0, sizeof(never.hn));
    cr_assert_eq(smr_ht_delete(ht, &never.hn), ENOENT);
    cr_assert_eq(smr_ht_delete(ht, &I[5].hn), ENOENT);
    cr_assert_eq(smr_ht_replace(ht, &I[5].hn, &never.hn), ENOENT);
    /* Neither table was disturbed. */
    cr_assert_eq(find(other, 5), &I[5]);
    cr_assert_eq(find(ht, 6), &I[6]);
    cr_assert_eq(smr_ht_delete(other, &I[5].hn), 0);
    cr_assert_eq(smr_ht_delete(ht, &I[6].hn), 0);
    cr_assert_eq(smr_ht_destroy(ht), 0);
    cr_assert_eq(smr_ht_destroy(other), 0);
}
#endif

static void
destroy_domain_under_table(void *arg)
{
    smr_t s = mk("held", 0);

    (void)arg;
    (void)mk_ht(s, 16, 0, hash_mix);
    smr_destroy(s);         /* aborts: the table holds the domain */
}

Test(ht, domain_destroy_with_table_aborts)
{
    char buf[4096];
    int st = child_stderr(destroy_domain_under_table, NULL, buf, sizeof(buf));

    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
        "smr_destroy under a live table: status %#x: %s", st, buf);
}

Test(ht, iterate)
{
    smr_ht_t ht = mk_ht(D, 2, 0, hash_mix);
    static unsigned char seen[NI];
    struct smr_ht_node *n;
    int c = 0;

    for (int i = 0; i < 3000; i++)
        smr_ht_insert(ht, &I[i].hn, &I[i].key);
    smr_enter(D);
    SMR_HT_FOREACH(n, ht) {
        cr_assert_lt(ITEM(n)->key, 3000);
        seen[ITEM(n)->key]++;
        c++;
    }
    smr_exit(D);
    cr_assert_eq(c, 3000);
    for (int i = 0; i < 3000; i++)
        cr_assert_eq(seen[i], 1, "key %d seen %d times", i, seen[i]);
    /* Removal while iterating (inside the section): the walk goes on. */
    c = 0;
    smr_enter(D);
    SMR_HT_FOREACH(n, ht) {
        cr_assert_eq(smr_ht_delete(ht, n), 0);
        c++;
    }
    smr_exit(D);
    cr_assert_eq(c, 3000);
    cr_assert_eq(walk_count(ht), 0);
    cr_assert_eq(smr_ht_destroy(ht), 0);
}

Test(ht, resize_explicit)
{
    smr_ht_t ht = mk_ht(D, 16, SMR_HT_MANUAL_RESIZE, hash_mix);
    static const size_t sizes[] = { 1, 7, 4096, 2, 1024, 16, 16, 65536, 3 };
    struct smr_ht_stats st;

    for (int i = 0; i < 2000; i++)
        smr_ht_insert(ht, &I[i].hn, &I[i].key);
    cr_assert_eq(smr_ht_resize(ht, 0), EINVAL);
    cr_assert_eq(smr_ht_resize(ht, SMR_HT_MAX_BUCKETS + 1), EINVAL);
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        size_t want = 1;
        while (want < sizes[s])
            want <<= 1;
        cr_assert_eq(smr_ht_resize(ht, sizes[s]), 0);
        cr_assert_eq(smr_ht_buckets(ht), want);
        /* Outside every section: the shrink's grace periods were waited
         * for, so no retired bucket memory is left. */
        smr_ht_stats(ht, &st);
        cr_assert_eq(st.buckets, want);
        cr_assert_eq(st.buckets_alloc, want);
        cr_assert_eq(walk_count(ht), 2000);
        for (int i = 0; i < 2100; i++)
            cr_assert_eq(find(ht, (uint64_t)i), i < 2000 ? &I[i] : NULL);
    }
    smr_ht_stats(ht, &st);
    cr_assert_geq(st.grows, 3);
    cr_assert_geq(st.shrinks, 4);
    cr_assert_eq(st.count, 2000);
    cr_assert_eq(st.resize_fails, 0);
    drain(ht, 2000);
    cr_assert_eq(smr_ht_destroy(ht), 0);
}

Test(ht, resize_automatic)
{
    smr_ht_t ht = mk_ht(D, 1, 0, hash_mix);
    struct smr_ht_stats st;
    size_t peak, bytes_peak;

    for (int i = 0; i < NI; i++)
        smr_ht_insert(ht, &I[i].hn, &I[i].key);
    smr_ht_stats(ht, &st);
    peak = st.buckets;
    bytes_peak = st.bytes;
    cr_assert_geq(peak, NI / 2, "grew to %zu buckets only", peak);
    cr_assert_leq(peak, NI * 2, "grew to %zu buckets", peak);
    cr_assert_eq(st.count, NI);
    for (int i = 0; i < NI; i++)
        cr_assert_eq(find(ht, (uint64_t)i), &I[i]);
    /* Down to 16 nodes: the deletes shrink it (maintenance finishes on
     * later updates, polling the grace periods). */
    for (int i = 16; i < NI; i++)
        cr_assert_eq(smr_ht_delete(ht, &I[i].hn), 0);
    for (int r = 0; r < 20000; r++) {
        smr_ht_stats(ht, &st);
        if (st.buckets_alloc == st.buckets && st.bytes < bytes_peak / 8)
            break;
        if (r % 64 == 0)
            usleep(1000);
        /* (Re-inserting a node removed a moment ago is safe here only
         * because no other thread reads the table.) */
        smr_ht_insert(ht, &I[16].hn, &I[16].key);
        cr_assert_eq(smr_ht_delete(ht, &I[16].hn), 0);
    }
    smr_ht_stats(ht, &st);
    cr_assert_leq(st.buckets, 64, "still %zu buckets", st.buckets);
    cr_assert_geq(st.buckets, 16);      /* 2 x count, rounded up */
    cr_assert_eq(st.buckets_alloc, st.buckets);
    cr_assert_lt(st.bytes, bytes_peak / 8, "bucket memory %zu of %zu",
        st.bytes, bytes_peak);
    cr_assert_geq(st.shrinks, 1);
    for (int i = 0; i < 32; i++)
        cr_assert_eq(find(ht, (uint64_t)i), i < 16 ? &I[i] : NULL);
    drain(ht, 16);
    cr_assert_eq(smr_ht_destroy(ht), 0);
}

Test(ht, manual_resize_flag)
{
    smr_ht_t ht = mk_ht(D, 8, SMR_HT_MANUAL_RESIZE, hash_mix);

    for (int i = 0; i < NI; i++)
        smr_ht_insert(ht, &I[i].hn, &I[i].key);
    cr_assert_eq(smr_ht_buckets(ht), 8);
    cr_assert_eq(walk_count(ht), NI);
    drain(ht, NI);
    cr_assert_eq(smr_ht_buckets(ht), 8);
    cr_assert_eq(smr_ht_destroy(ht), 0);
}

static atomic_int fail_allocs;

static bool
fail_all(size_t bytes)
{
    (void)bytes;
    return atomic_load(&fail_allocs) != 0;
}

Test(ht, out_of_memory)
{
    smr_ht_t ht;
    struct smr_ht_stats st;

    smr__ht_test_fail_alloc = fail_all;
    atomic_store(&fail_allocs, 1);
    {
        struct smr_ht_args a = { .hash = hash_mix, .match = match_key };
        errno = 0;
        cr_assert_null(smr_ht_create(D, &a));
        cr_assert_eq(errno, ENOMEM);
    }
    atomic_store(&fail_allocs, 0);
    ht = mk_ht(D, 16, 0, hash_mix);
    for (int i = 0; i < 8; i++)
        smr_ht_insert(ht, &I[i].hn, &I[i].key);

    atomic_store(&fail_allocs, 1);
    /* Explicit: ENOMEM, the table as it was. */
    cr_assert_eq(smr_ht_resize(ht, 4096), ENOMEM);
    cr_assert_eq(smr_ht_buckets(ht), 16);
    /* Automatic: every growth fails; inserts go on at the old size. */
    for (int i = 8; i < 3000; i++)
        smr_ht_insert(ht, &I[i].hn, &I[i].key);
    smr_ht_stats(ht, &st);
    cr_assert_eq(st.buckets, 16);
    cr_assert_eq(st.buckets_alloc, 16);
    cr_assert_geq(st.resize_fails, 2, "%llu failures",
        (ull)st.resize_fails);
    for (int i = 0; i < 3000; i++)
        cr_assert_eq(find(ht, (uint64_t)i), &I[i]);
    cr_assert_eq(walk_count(ht), 3000);
    /* A shrink needs no memory. */
    cr_assert_eq(smr_ht_resize(ht, 4), 0);
    cr_assert_eq(smr_ht_buckets(ht), 4);

    atomic_store(&fail_allocs, 0);
    cr_assert_eq(smr_ht_resize(ht, 4096), 0);
    cr_assert_eq(smr_ht_buckets(ht), 4096);
    for (int i = 0; i < 3000; i++)
        cr_assert_eq(find(ht, (uint64_t)i), &I[i]);
    drain(ht, 3000);
    cr_assert_eq(smr_ht_destroy(ht), 0);
    smr__ht_test_fail_alloc = NULL;
}

Test(ht, destroy_busy)
{
    smr_ht_t ht = mk_ht(D, 16, 0, hash_mix);

    smr_ht_insert(ht, &I[1].hn, &I[1].key);
    cr_assert_eq(smr_ht_destroy(ht), EBUSY);
    cr_assert_eq(find(ht, 1), &I[1]);       /* still usable */
    cr_assert_eq(smr_ht_delete(ht, &I[1].hn), 0);
    cr_assert_eq(smr_ht_destroy(ht), 0);
}

Test(ht, writers_inside_section)
{
    smr_ht_t ht = mk_ht(D, 16, 0, hash_mix);
    struct smr_ht_stats st;

    smr_enter(D);
    for (int i = 0; i < 2000; i++)
        smr_ht_insert(ht, &I[i].hn, &I[i].key);
    cr_assert_eq(ITEM(smr_ht_lookup(ht, &I[5].key)), &I[5]);
    cr_assert_eq(smr_ht_delete(ht, &I[5].hn), 0);
    cr_assert_null(smr_ht_lookup(ht, &I[5].key));
    /* A shrink inside a section cannot wait: the old buckets stay
     * allocated until a later call finds their grace periods over. */
    cr_assert_eq(smr_ht_resize(ht, 4), 0);
    cr_assert_eq(smr_ht_buckets(ht), 4);
    smr_ht_stats(ht, &st);
    cr_assert_gt(st.buckets_alloc, 4);
    cr_assert(smr_entered(D));
    smr_exit(D);
    cr_assert_eq(smr_ht_resize(ht, 4), 0);     /* outside: finishes */
    smr_ht_stats(ht, &st);
    cr_assert_eq(st.buckets_alloc, 4);
    for (int i = 0; i < 2000; i++)
        cr_assert_eq(find(ht, (uint64_t)i), i == 5 ? NULL : &I[i]);
    drain(ht, 2000);
    cr_assert_eq(smr_ht_destroy(ht), 0);
}

/* ------------------------------------------------------------------ */
/* grace: the interleavings that need each grace period                */
/* ------------------------------------------------------------------ */

struct holder {
    smr_ht_t ht;
    int flags;
    uint64_t key;
    atomic_int holding;     /* 1: inside, node found */
    atomic_int go;          /* main: look again */
    atomic_int ok;          /* 1: what it saw after go was right */
    atomic_int done;
    char why[160];
    struct item *held;
};

/* grace.table_*: stand on key's node, then step to the next node. */
static void *
table_holder(void *arg)
{
    struct holder *h = arg;
    struct smr_ht_node *n, *next;
    smr_t s = smr_ht_smr(h->ht);

    sec_enter(s, h->flags);
    n = smr_ht_lookup(h->ht, &h->key);
    atomic_store(&h->holding, n != NULL ? 1 : -1);
    for (uint64_t dl = now_ns() + 10000 * MS; !atomic_load(&h->go) &&
        now_ns() < dl;)
        usleep(200);
    if (n != NULL) {
        next = smr_ht_next(h->ht, n);
        if (next != NULL && ITEM(next)->key == h->key + 32)
            atomic_store(&h->ok, 1);
        else
            snprintf(h->why, sizeof(h->why), "the walk from deleted key "
                "%llu ended at %p (key %lld), not at key %llu",
                (ull)h->key, (void *)next,
                next ? (long long)ITEM(next)->key : -1LL,
                (ull)(h->key + 32));
    }
    sec_exit(s, h->flags);
    atomic_store(&h->done, 1);
    return NULL;
}

static void *
resizer_to_32(void *arg)
{
    (void)smr_ht_resize((smr_ht_t)arg, 32);
    return NULL;
}

/*
 * With 64 buckets and the identity hash, the list holds ... d5 A(5) d37
 * B(37) ...: bucket 37 is in the top level, the one a shrink to 32 removes.
 * A reader stands on A; A is deleted (its frozen link still leads to d37)
 * and the table shrinks.  The shrink must neither unlink d37 while the
 * reader may have loaded the old size, nor free it while the reader may
 * stand on it: the reader's next step must reach B.
 */
static void
table_grace_run(int flags)
{
    smr_t s = mk("ht-grace", flags);
    smr_ht_t ht = mk_ht(s, 64, SMR_HT_MANUAL_RESIZE, hash_ident);
    static struct item a, b, c;
    struct holder h;
    pthread_t rt, zt;
    struct smr_ht_stats st;

    a.key = 5;
    b.key = 37;
    c.key = 6;
    smr_ht_insert(ht, &a.hn, &a.key);
    smr_ht_insert(ht, &b.hn, &b.key);
    smr_ht_insert(ht, &c.hn, &c.key);
    memset(&h, 0, sizeof(h));
    h.ht = ht;
    h.flags = flags;
    h.key = 5;
    cr_assert(pthread_create(&rt, NULL, table_holder, &h) == 0);
    cr_assert(wait_flag(&h.holding, 1, 20000), "reader did not find A");
    cr_assert_eq(smr_ht_delete(ht, &a.hn), 0);
    cr_assert(pthread_create(&zt, NULL, resizer_to_32, ht) == 0);
    sleep_ms(100);          /* a shrink that does not wait is done now */
    atomic_store(&h.go, 1);
    cr_assert(pthread_join(rt, NULL) == 0);
    cr_assert(pthread_join(zt, NULL) == 0);
    cr_assert_eq(atomic_load(&h.ok), 1, "%s domain: %s", flags_name(flags),
        h.why);
    smr_ht_stats(ht, &st);
    cr_assert_eq(st.buckets, 32);
    cr_assert_eq(find(ht, 37), &b);
    cr_assert_eq(smr_ht_delete(ht, &b.hn), 0);
    cr_assert_eq(smr_ht_delete(ht, &c.hn), 0);
    cr_assert_eq(smr_ht_destroy(ht), 0);
    smr_destroy(s);
}

ALL_FLAGS(grace, table_shrink_waits_for_readers)
ParameterizedTest(int *flags, grace, table_shrink_waits_for_readers,
    .timeout = 60)
{
    table_grace_run(*flags);
}

/* grace.node_*: hold a node found by lookup while it is deleted, freed
 * and its pool allocates again. */
static void *
node_holder(void *arg)
{
    struct holder *h = arg;
    smr_t s = smr_ht_smr(h->ht);
    struct smr_ht_node *n;

    sec_enter(s, h->flags);
    n = smr_ht_lookup(h->ht, &h->key);
    if (n != NULL)
        h->held = ITEM(n);
    uint64_t s1 = n ? atomic_load(&ITEM(n)->stamp) : 0;
    atomic_store(&h->holding, n != NULL ? 1 : -1);
    for (uint64_t dl = now_ns() + 10000 * MS; !atomic_load(&h->go) &&
        now_ns() < dl;)
        usleep(200);
    if (n != NULL) {
        uint64_t s2 = atomic_load(&ITEM(n)->stamp);
        if (s2 == s1 && ITEM(n)->key == h->key)
            atomic_store(&h->ok, 1);
        else
            snprintf(h->why, sizeof(h->why), "node reused under a reader: "
                "stamp %llu became %llu", (ull)s1, (ull)s2);
    }
    sec_exit(s, h->flags);
    return NULL;
}

static smr_pool_t
node_pool(smr_t s)
{
#if defined(TEST_HT_BROKEN_NO_GRACE)
    /* Deliberately broken: a plain cache reuses a freed node at once. */
    (void)s;
    return smr_pool_create("ht-nodes", sizeof(struct item), 0, NULL, 0);
#else
    return smr_pool_create("ht-nodes", sizeof(struct item), 0, s, 0);
#endif
}

static void
node_grace_run(int flags)
{
    smr_t s = mk("ht-grace", flags);
    smr_ht_t ht = mk_ht(s, 16, 0, hash_mix);
    smr_pool_t pool = node_pool(s);
    struct item *x, **more;
    struct holder h;
    pthread_t rt;
    const int nmore = 20000;

    cr_assert_not_null(pool);
    x = smr_pool_alloc(pool);
    cr_assert_not_null(x);
    x->key = 77;
    atomic_store(&x->stamp, 1);
    smr_ht_insert(ht, &x->hn, &x->key);
    memset(&h, 0, sizeof(h));
    h.ht = ht;
    h.flags = flags;
    h.key = 77;
    cr_assert(pthread_create(&rt, NULL, node_holder, &h) == 0);
    cr_assert(wait_flag(&h.holding, 1, 20000), "reader did not find x");
    cr_assert_eq(smr_ht_delete(ht, &x->hn), 0);
    smr_pool_free(pool, x);
    more = calloc((size_t)nmore, sizeof(*more));
    cr_assert_not_null(more);
    for (int i = 0; i < nmore; i++) {
        more[i] = smr_pool_alloc(pool);
        cr_assert_not_null(more[i]);
        more[i]->key = 1000000 + (uint64_t)i;
        atomic_store(&more[i]->stamp, 2 + (uint64_t)i);
    }
    atomic_store(&h.go, 1);
    cr_assert(pthread_join(rt, NULL) == 0);
    cr_assert_eq(atomic_load(&h.ok), 1, "%s domain: %s", flags_name(flags),
        h.why);
    for (int i = 0; i < nmore; i++)
        smr_pool_free(pool, more[i]);
    free(more);
    cr_assert_eq(smr_ht_destroy(ht), 0);
    smr_pool_destroy(pool);
    smr_destroy(s);
}

ALL_FLAGS(grace, node_reuse_waits_for_readers)
ParameterizedTest(int *flags, grace, node_reuse_waits_for_readers,
    .timeout = 60)
{
    node_grace_run(*flags);
}

/* ------------------------------------------------------------------ */
/* concurrent: readers, lock-free writers, a resizer                   */
/* ------------------------------------------------------------------ */

#define NSTABLE 512         /* keys [0, NSTABLE): always present */
#define NCHURN 1024         /* keys [NSTABLE, +NCHURN): come and go */
#define NWRITERS 2          /* writer w owns the keys with k % 2 == w */
#define NREADERS 2
#define PAUSE_EVERY 64      /* a lookup in PAUSE_EVERY sleeps inside */
#define PAUSE_US 300
#define RUN_MS 700
#define CAP_MS 15000
#define MIN_WOPS 20000
#define MIN_PAUSES 100

struct conc {
    smr_t smr;
    int flags;
    smr_ht_t ht;
    smr_pool_t pool;
    atomic_int stop;
    atomic_int started;
    atomic_ullong gen;
    atomic_long lookups, pauses, walks, wops, resizes;
    atomic_long violations;
    atomic_int why_set;
    char why[256];
    /* writer-owned: the node of each churn key, NULL when absent */
    struct item *cur[NSTABLE + NCHURN];
};

static void violation(struct conc *c, const char *fmt, ...)
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

static struct item *
fresh(struct conc *c, uint64_t key)
{
    struct item *x = smr_pool_alloc(c->pool);
    uint64_t g;

    if (x == NULL)
        return NULL;
    g = atomic_fetch_add(&c->gen, 1) + 1;
    x->key = key;
    atomic_store_explicit(&x->stamp, g, memory_order_relaxed);
    atomic_store_explicit(&x->check, ~g ^ key, memory_order_relaxed);
    return x;
}

/* A reader's check of a node it found for key: consistent now, and still
 * the same after a while inside the section. */
static void
check_node(struct conc *c, struct item *x, uint64_t key, unsigned *r)
{
    uint64_t s1 = atomic_load_explicit(&x->stamp, memory_order_relaxed);
    uint64_t c1 = atomic_load_explicit(&x->check, memory_order_relaxed);

    if (x->key != key || c1 != (~s1 ^ key)) {
        violation(c, "lookup(%llu) returned a node of key %llu (stamp %llu)",
            (ull)key, (ull)x->key, (ull)s1);
        return;
    }
    *r = *r * 1103515245u + 12345u;
    if ((*r >> 16) % PAUSE_EVERY == 0) {
        usleep(PAUSE_US);
        atomic_fetch_add_explicit(&c->pauses, 1, memory_order_relaxed);
    }
    if (atomic_load_explicit(&x->stamp, memory_order_relaxed) != s1 ||
        atomic_load_explicit(&x->check, memory_order_relaxed) != c1 ||
        x->key != key)
        violation(c, "node of key %llu reused under a reader: stamp %llu "
            "became %llu", (ull)key, (ull)s1,
            (ull)atomic_load_explicit(&x->stamp, memory_order_relaxed));
}

static void *
conc_reader(void *arg)
{
    struct conc *c = arg;
    unsigned r = (unsigned)atomic_fetch_add(&c->started, 1) * 7919u + 1u;
    static unsigned char seen[NREADERS][NSTABLE];
    int me = (int)(r / 7919u) % NREADERS;

    while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
        r = r * 1103515245u + 12345u;
        if ((r >> 8) % 256 == 0) {
            /* A whole walk: every always-present key at least once (a
             * replace may show both nodes of one key). */
            struct smr_ht_node *n;
            int miss = 0, first = -1;

            memset(seen[me], 0, sizeof(seen[me]));
            sec_enter(c->smr, c->flags);
            SMR_HT_FOREACH(n, c->ht)
                if (ITEM(n)->key < NSTABLE)
                    seen[me][ITEM(n)->key] = 1;
            sec_exit(c->smr, c->flags);
            for (int k = 0; k < NSTABLE; k++)
                if (!seen[me][k] && miss++ == 0)
                    first = k;
            if (miss)
                violation(c, "a walk missed %d always-present keys (the "
                    "first: %d)", miss, first);
            atomic_fetch_add_explicit(&c->walks, 1, memory_order_relaxed);
            continue;
        }
        uint64_t key = (r >> 12) % (NSTABLE + NCHURN);
        sec_enter(c->smr, c->flags);
        struct smr_ht_node *n = smr_ht_lookup(c->ht, &key);
        if (n == NULL && key < NSTABLE)
            violation(c, "always-present key %llu not found", (ull)key);
        if (n != NULL)
            check_node(c, ITEM(n), key, &r);
        sec_exit(c->smr, c->flags);
        atomic_fetch_add_explicit(&c->lookups, 1, memory_order_relaxed);
    }
    return NULL;
}

struct wctx {
    struct conc *c;
    int id;
    unsigned r;
};

static void *
conc_writer(void *arg)
{
    struct wctx *w = arg;
    struct conc *c = w->c;

    while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
        w->r = w->r * 1103515245u + 12345u;
        uint64_t key = ((w->r >> 8) % ((NSTABLE + NCHURN) / NWRITERS)) *
            NWRITERS + (uint64_t)w->id;
        struct item *old = c->cur[key], *x;
        int op = (int)((w->r >> 24) % 4);

        if (key < NSTABLE || (old != NULL && op == 0)) {
            /* Replace (the only change an always-present key sees). */
            if ((x = fresh(c, key)) == NULL)
                continue;
            if (smr_ht_replace(c->ht, &old->hn, &x->hn) != 0) {
                violation(c, "replace of key %llu failed", (ull)key);
                smr_pool_free(c->pool, x);
                continue;
            }
            c->cur[key] = x;
            smr_pool_free(c->pool, old);
        } else if (old != NULL) {
            if (smr_ht_delete(c->ht, &old->hn) != 0)
                violation(c, "delete of key %llu failed", (ull)key);
            c->cur[key] = NULL;
            smr_pool_free(c->pool, old);
        } else {
            if ((x = fresh(c, key)) == NULL)
                continue;
            if (smr_ht_insert_unique(c->ht, &x->hn, &x->key) != &x->hn)
                violation(c, "unique insert of absent key %llu found one",
                    (ull)key);
            c->cur[key] = x;
        }
        atomic_fetch_add_explicit(&c->wops, 1, memory_order_relaxed);
    }
    return NULL;
}

static void
conc_run(int flags)
{
    static struct conc c;
    static const size_t sizes[] = { 1, 4, 64, 1024, 16, 4096, 2, 256 };
    struct wctx wc[NWRITERS];
    pthread_t rt[NREADERS], wt[NWRITERS];
    struct smr_pool_stats ps;
    struct smr_ht_stats hs;
    uint64_t t0, el;
    size_t expect = 0;
    int s = 0;

    memset(&c, 0, sizeof(c));
    c.flags = flags;
    c.smr = mk("ht-conc", flags);
    c.ht = mk_ht(c.smr, 16, 0, hash_mix);
    c.pool = node_pool(c.smr);
    cr_assert_not_null(c.pool);
    /* Every always-present key, and half of the others. */
    for (uint64_t k = 0; k < NSTABLE + NCHURN; k++) {
        if (k >= NSTABLE && k % 4 >= 2)
            continue;
        struct item *x = fresh(&c, k);
        cr_assert_not_null(x);
        smr_ht_insert(c.ht, &x->hn, &x->key);
        c.cur[k] = x;
    }
    for (int i = 0; i < NREADERS; i++)
        cr_assert(pthread_create(&rt[i], NULL, conc_reader, &c) == 0);
    cr_assert(wait_flag(&c.started, NREADERS, 20000));
    for (int i = 0; i < NWRITERS; i++) {
        wc[i] = (struct wctx){ .c = &c, .id = i, .r = 777u * (unsigned)i + 3 };
        cr_assert(pthread_create(&wt[i], NULL, conc_writer, &wc[i]) == 0);
    }
    /* The main thread resizes (and the table resizes itself meanwhile). */
    t0 = now_ns();
    for (;;) {
        cr_assert_eq(smr_ht_resize(c.ht, sizes[s++ % 8]), 0);
        atomic_fetch_add(&c.resizes, 1);
        usleep(500);
        el = now_ns() - t0;
        if (atomic_load(&c.violations) != 0 || el > CAP_MS * MS)
            break;
        if (el > RUN_MS * MS && atomic_load(&c.wops) >= MIN_WOPS &&
            atomic_load(&c.pauses) >= MIN_PAUSES)
            break;
    }
    atomic_store(&c.stop, 1);
    for (int i = 0; i < NWRITERS; i++)
        pthread_join(wt[i], NULL);
    for (int i = 0; i < NREADERS; i++)
        pthread_join(rt[i], NULL);

    smr_pool_stats(c.pool, &ps);
    smr_ht_stats(c.ht, &hs);
    cr_log_info("concurrent %s%s: %ld writer ops, %ld resizes (%llu grows, "
        "%llu shrinks), %ld lookups, %ld pauses, %ld walks, %ld violations, "
        "%llu buckets reused, %llu ms", flags_name(flags),
#if defined(TEST_HT_BROKEN_NO_GRACE)
        " (broken: no grace period)",
#else
        "",
#endif
        atomic_load(&c.wops), atomic_load(&c.resizes), (ull)hs.grows,
        (ull)hs.shrinks, atomic_load(&c.lookups), atomic_load(&c.pauses),
        atomic_load(&c.walks), atomic_load(&c.violations),
        (ull)ps.buckets_reused, (ull)((now_ns() - t0) / MS));
    cr_assert_eq(atomic_load(&c.violations), 0, "%s domain: %ld violations; "
        "the first: %s", flags_name(flags), atomic_load(&c.violations),
        c.why);
    cr_assert_geq(atomic_load(&c.wops), MIN_WOPS, "writers made little "
        "progress");
    cr_assert_geq(atomic_load(&c.pauses), MIN_PAUSES, "readers made little "
        "progress");
#if !defined(TEST_HT_BROKEN_NO_GRACE)
    cr_assert_gt(ps.buckets_reused, 0, "the pool never reused a bucket");
#endif

    /* Exactly the writers' view. */
    for (uint64_t k = 0; k < NSTABLE + NCHURN; k++) {
        struct item *x = find(c.ht, k);
        cr_assert_eq(x, c.cur[k], "key %llu: %p in the table, %p expected",
            (ull)k, (void *)x, (void *)c.cur[k]);
        expect += c.cur[k] != NULL;
    }
    cr_assert_eq(smr_ht_count(c.ht), expect);
    cr_assert_eq(walk_count(c.ht), expect);
    for (uint64_t k = 0; k < NSTABLE + NCHURN; k++) {
        if (c.cur[k] != NULL) {
            cr_assert_eq(smr_ht_delete(c.ht, &c.cur[k]->hn), 0);
            smr_pool_free(c.pool, c.cur[k]);
        }
    }
    cr_assert_eq(smr_ht_destroy(c.ht), 0);
    smr_pool_destroy(c.pool);
    smr_destroy(c.smr);
}

ALL_FLAGS(concurrent, readers_writers_resizer)
ParameterizedTest(int *flags, concurrent, readers_writers_resizer,
    .timeout = 90)
{
    conc_run(*flags);
}
