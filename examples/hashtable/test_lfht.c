/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * test_lfht: the lfht example map under concurrent lookups, churn and
 * repeated resizes.
 *
 *   test_lfht [THREADS [SECONDS]]      (THREADS 3..16, default 4; SECONDS 2)
 *
 * First a single-threaded pass over the API (errors included).  Then the
 * concurrent run: the main thread resizes the map over and over through
 * sizes from 1 to 4096 buckets, one writer inserts and removes "churn" keys
 * as fast as it can (so the pool keeps reusing nodes), and THREADS - 2
 * readers look keys up, half of the time inside a section of their own with
 * several nested lookups.  It checks that:
 *
 *   - a lookup never walks a node the pool has reclaimed: the pool's dtor
 *     poisons a node's magic and lookups count every poisoned node they
 *     meet (lfht_stale_seen() must stay 0);
 *   - a "stable" key, present from start to end, is found by every lookup,
 *     whatever the resizer and the writer are doing, with its value;
 *   - a churn key, when found, has the value that belongs to it (a node
 *     reused for another key under a reader would show a wrong value);
 *   - at the end the map holds exactly the keys the writer says it should;
 *   - the pool really reused memory (so the checks above were not vacuous).
 *
 * Exit status 0 on success, 1 on a failed check, 2 on bad usage.  A plain
 * main() program (not Criterion), so it also runs under TSan.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <smr.h>

#include "lfht.h"

#define NSTABLE  4096u                  /* keys [0, NSTABLE): always there */
#define NCHURN   4096u                  /* keys [NSTABLE, +NCHURN): churned */
#define MIN_REMOVES (4 * NCHURN)        /* churn at least this much */

static int failures;

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "test_lfht: %s:%d: check failed: %s\n",         \
                __FILE__, __LINE__, #cond);                                 \
            failures++;                                                     \
        }                                                                   \
    } while (0)

/* The value that belongs to a key (never equal to the pool's poison). */
static uint64_t
val_of(uint64_t key)
{
    return (key * UINT64_C(0x9e3779b97f4a7c15)) ^ UINT64_C(0x5555);
}

static uint64_t
xorshift(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- single-threaded API pass ----------------------------------------- */

static void
test_api(smr_t smr)
{
    struct lfht *h;
    uint64_t v;

    errno = 0;
    CHECK(lfht_create(0, smr) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(lfht_create(8, NULL) == NULL && errno == EINVAL);

    h = lfht_create(5, smr);
    CHECK(h != NULL);
    if (h == NULL)
        return;
    CHECK(lfht_nbuckets(h) == 8);
    CHECK(lfht_count(h) == 0);
    CHECK(!lfht_lookup(h, 1, &v));
    for (uint64_t k = 0; k < 1000; k++)
        CHECK(lfht_insert(h, k, val_of(k)) == 0);
    CHECK(lfht_insert(h, 7, 0) == EEXIST);
    CHECK(lfht_lookup(h, 7, &v) && v == val_of(7));
    CHECK(lfht_count(h) == 1000);
    for (uint64_t k = 0; k < 1000; k += 2)
        CHECK(lfht_remove(h, k, &v) == 0 && v == val_of(k));
    CHECK(lfht_remove(h, 0, NULL) == ENOENT);
    CHECK(lfht_count(h) == 500);
    CHECK(lfht_resize(h, 0) == EINVAL);
    CHECK(lfht_resize(h, (size_t)1 << 40) == EINVAL);
    static const size_t sizes[] = { 1, 7, 4096, 8, 8 };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        CHECK(lfht_resize(h, sizes[i]) == 0);
        CHECK(lfht_count(h) == 500);
        for (uint64_t k = 0; k < 1000; k++) {
            bool found = lfht_lookup(h, k, &v);
            CHECK(found == (k % 2 == 1));
            if (found)
                CHECK(v == val_of(k));
        }
    }
    CHECK(lfht_nbuckets(h) == 8);
    /* Inside the caller's own section: lookups nest; insert and remove are
     * legal there too. */
    smr_enter(smr);
    CHECK(lfht_lookup(h, 1, &v) && v == val_of(1));
    CHECK(!lfht_lookup(h, 2, NULL));
    CHECK(lfht_insert(h, 2, val_of(2)) == 0);
    CHECK(lfht_lookup(h, 2, &v) && v == val_of(2));
    CHECK(lfht_remove(h, 2, NULL) == 0);
    CHECK(smr_entered(smr));
    smr_exit(smr);
    CHECK(!smr_entered(smr));
    CHECK(lfht_stale_seen(h) == 0);
    lfht_destroy(h);
}

/* ---- the concurrent run ------------------------------------------------ */

struct shared {
    struct lfht *h;
    smr_t smr;
    int stop;                   /* atomic */
};

struct reader {
    pthread_t tid;
    struct shared *sh;
    uint64_t seed;
    uint64_t lookups, stable_missed, wrong_val, churn_hits;
};

struct writer {
    pthread_t tid;
    struct shared *sh;
    uint64_t seed;
    uint64_t inserts, removes;  /* removes: atomic (the resizer reads it) */
    uint64_t errors;
    unsigned char present[NCHURN];
};

static void
check_lookup(struct reader *r, uint64_t k)
{
    uint64_t v = 0;
    bool found = lfht_lookup(r->sh->h, k, &v);

    r->lookups++;
    if (k < NSTABLE) {
        if (!found)
            r->stable_missed++;
        else if (v != val_of(k))
            r->wrong_val++;
    } else if (found) {
        r->churn_hits++;
        if (v != val_of(k))
            r->wrong_val++;
    }
}

static void *
reader_main(void *arg)
{
    struct reader *r = arg;
    smr_t smr = r->sh->smr;

    while (!__atomic_load_n(&r->sh->stop, __ATOMIC_RELAXED)) {
        uint64_t x = xorshift(&r->seed);
        uint64_t k = x % (NSTABLE + NCHURN);

        if (x & (UINT64_C(1) << 63)) {
            /* Several lookups in one section of our own (nesting). */
            smr_enter(smr);
            for (int i = 0; i < 4; i++)
                check_lookup(r, (k + (uint64_t)i * 977) % (NSTABLE + NCHURN));
            smr_exit(smr);
        } else {
            check_lookup(r, k);
        }
    }
    return NULL;
}

static void *
writer_main(void *arg)
{
    struct writer *w = arg;

    while (!__atomic_load_n(&w->sh->stop, __ATOMIC_RELAXED)) {
        unsigned i = (unsigned)(xorshift(&w->seed) % NCHURN);
        uint64_t k = NSTABLE + i, v = 0;

        if (w->present[i]) {
            if (lfht_remove(w->sh->h, k, &v) != 0 || v != val_of(k))
                w->errors++;
            w->present[i] = 0;
            __atomic_store_n(&w->removes, w->removes + 1, __ATOMIC_RELAXED);
        } else {
            if (lfht_insert(w->sh->h, k, val_of(k)) != 0)
                w->errors++;
            w->present[i] = 1;
            w->inserts++;
        }
    }
    return NULL;
}

static void
test_concurrent(smr_t smr, int nthreads, double seconds)
{
    static const size_t sizes[] = { 1, 2, 64, 1024, 16, 4096, 3, 256, 8192 };
    struct shared sh = { .smr = smr };
    int nreaders = nthreads - 2;
    struct reader *rd = calloc((size_t)nreaders, sizeof(*rd));
    struct writer *wr = calloc(1, sizeof(*wr));
    struct smr_pool_stats ps;
    uint64_t resizes = 0, lookups = 0, missed = 0, wrong = 0, hits = 0;
    size_t expect;
    double t0, t1;

    if (rd == NULL || wr == NULL) {
        CHECK(!"out of memory");
        return;
    }
    sh.h = lfht_create(16, smr);
    CHECK(sh.h != NULL);
    if (sh.h == NULL)
        return;
    for (uint64_t k = 0; k < NSTABLE; k++)
        CHECK(lfht_insert(sh.h, k, val_of(k)) == 0);

    wr->sh = &sh;
    wr->seed = 0x1234567;
    if (pthread_create(&wr->tid, NULL, writer_main, wr) != 0) {
        CHECK(!"pthread_create");
        return;
    }
    for (int i = 0; i < nreaders; i++) {
        rd[i].sh = &sh;
        rd[i].seed = 0x9e3779b9u * (uint64_t)(i + 1) + 1;
        if (pthread_create(&rd[i].tid, NULL, reader_main, &rd[i]) != 0) {
            CHECK(!"pthread_create");
            nreaders = i;
            break;
        }
    }

    /* The main thread is the resizer.  It runs for SECONDS, and on (up to
     * 20 x SECONDS, for slow sanitizer builds) until the writer has turned
     * the churn keys over a few times, so that the pool reuses nodes. */
    t0 = now_s();
    do {
        CHECK(lfht_resize(sh.h, sizes[resizes % (sizeof(sizes) /
            sizeof(sizes[0]))]) == 0);
        resizes++;
        t1 = now_s();
    } while (t1 - t0 < seconds ||
        (__atomic_load_n(&wr->removes, __ATOMIC_RELAXED) < MIN_REMOVES &&
        t1 - t0 < 20 * seconds));

    __atomic_store_n(&sh.stop, 1, __ATOMIC_RELAXED);
    pthread_join(wr->tid, NULL);
    for (int i = 0; i < nreaders; i++) {
        pthread_join(rd[i].tid, NULL);
        lookups += rd[i].lookups;
        missed += rd[i].stable_missed;
        wrong += rd[i].wrong_val;
        hits += rd[i].churn_hits;
    }

    /* The final contents are exactly what the writer says. */
    expect = NSTABLE;
    for (unsigned i = 0; i < NCHURN; i++) {
        uint64_t k = NSTABLE + i;
        expect += wr->present[i];
        CHECK(lfht_lookup(sh.h, k, NULL) == (wr->present[i] != 0));
    }
    CHECK(lfht_count(sh.h) == expect);
    for (uint64_t k = 0; k < NSTABLE; k++)
        CHECK(lfht_lookup(sh.h, k, NULL));

    smr_pool_stats(lfht_pool(sh.h), &ps);
    printf("test_lfht: %d readers, 1 writer, 1 resizer, %.2f s\n",
        nreaders, t1 - t0);
    printf("  resizes %" PRIu64 ", lookups %" PRIu64 " (%.0f/s), churn hits "
        "%" PRIu64 ", inserts %" PRIu64 ", removes %" PRIu64 "\n", resizes,
        lookups, (double)lookups / (t1 - t0), hits, wr->inserts,
        wr->removes);
    printf("  stable keys missed %" PRIu64 ", wrong values %" PRIu64
        ", reclaimed nodes seen %" PRIu64 ", writer errors %" PRIu64 "\n",
        missed, wrong, lfht_stale_seen(sh.h), wr->errors);
    printf("  pool: allocs %" PRIu64 ", frees %" PRIu64 ", in_use %zu, "
        "pending %zu (peak %zu), cached %zu, bytes %zu, synchronous "
        "reclaims %" PRIu64 "\n", ps.allocs, ps.frees, ps.in_use,
        ps.pending, ps.pending_peak, ps.cached, ps.bytes, ps.sync_reclaims);

    CHECK(resizes >= 2);
    CHECK(lookups > 0);
    CHECK(missed == 0);
    CHECK(wrong == 0);
    CHECK(wr->errors == 0);
    CHECK(lfht_stale_seen(sh.h) == 0);
    CHECK(ps.in_use == expect);
    /* Memory was reused (else the poison checks proved nothing): the pool
     * handed out more objects than its memory holds (it never gave any
     * back: nobody called smr_pool_reclaim). */
    CHECK(wr->removes >= MIN_REMOVES);
    CHECK(ps.size > 0 && ps.allocs > ps.bytes / ps.size + NCHURN);

    lfht_destroy(sh.h);
    free(rd);
    free(wr);
}

int
main(int argc, char **argv)
{
    int nthreads = argc > 1 ? atoi(argv[1]) : 4;
    double seconds = argc > 2 ? atof(argv[2]) : 2.0;
    smr_t smr;

    if (nthreads < 3 || nthreads > 16 || !(seconds > 0)) {
        fprintf(stderr, "usage: test_lfht [THREADS (3..16) [SECONDS]]\n");
        return 2;
    }
    if ((smr = smr_create("lfht-test", 0, 0)) == NULL) {
        perror("smr_create");
        return 1;
    }
    test_api(smr);
    test_concurrent(smr, nthreads, seconds);
    smr_destroy(smr);
    if (failures != 0) {
        fprintf(stderr, "test_lfht: FAIL (%d checks)\n", failures);
        return 1;
    }
    printf("test_lfht: OK\n");
    return 0;
}
