/*
 * SMR_LAZY: fence-free readers, membarrier on the write side (src/smr_lazy.c).
 *
 * The binary runs twice under ctest: as is (membarrier available on this
 * kernel: fence-free readers) and with SMR_LAZY_FENCED=1 (the fenced
 * fallback).  Each run knows what to expect (SMR_EXPECT_FENCE_FREE=0, or
 * the kernel's own answer), so a domain that silently fell back, or did
 * not fall back when told to, fails the suite.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <smr.h>

#include "test_util.h"

/* What the kernel offers, asked independently of the library. */
static bool
kernel_has_membarrier(void)
{
    long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);

    return cmds >= 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
        syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
            0, 0) == 0;
}

static bool
expect_fence_free(void)
{
    const char *e = getenv("SMR_EXPECT_FENCE_FREE");

    if (e != NULL && strcmp(e, "0") == 0)
        return false;
    return !SMR_SEQ32 && kernel_has_membarrier();
}

static struct smr_stats
stats(smr_t smr)
{
    struct smr_stats st;

    smr_stats(smr, &st);
    return st;
}

/* A reader thread that holds a lazy section until told to leave. */
struct reader {
    smr_t smr;
    pthread_t tid;
    int inside;     /* atomic */
    int leave;      /* atomic */
    int nested;
};

static void *
reader_main(void *arg)
{
    struct reader *r = arg;

    smr_lazy_enter(r->smr);
    if (r->nested)
        smr_lazy_enter(r->smr);
    __atomic_store_n(&r->inside, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&r->leave, __ATOMIC_ACQUIRE))
        sleep_ms(1);
    if (r->nested) {
        smr_lazy_exit(r->smr);
        /* still inside the outer section */
        __atomic_store_n(&r->inside, 2, __ATOMIC_RELEASE);
        while (__atomic_load_n(&r->leave, __ATOMIC_ACQUIRE) != 2)
            sleep_ms(1);
    }
    smr_lazy_exit(r->smr);
    __atomic_store_n(&r->inside, 0, __ATOMIC_RELEASE);
    return NULL;
}

static void
reader_start(struct reader *r, smr_t smr, int nested)
{
    memset(r, 0, sizeof(*r));
    r->smr = smr;
    r->nested = nested;
    cr_assert_eq(pthread_create(&r->tid, NULL, reader_main, r), 0);
    while (__atomic_load_n(&r->inside, __ATOMIC_ACQUIRE) != 1)
        sleep_ms(1);
}

Test(lazy, mode_is_what_this_run_expects, .timeout = 30)
{
    smr_t smr = smr_create("lazy", 0, SMR_LAZY);

    cr_assert_not_null(smr);
    cr_assert_eq(smr_lazy_is_fence_free(smr), expect_fence_free(),
        "fence-free %d, expected %d", smr_lazy_is_fence_free(smr),
        expect_fence_free());
    smr_destroy(smr);
}

Test(lazy, non_lazy_domains_are_never_fence_free, .timeout = 30)
{
    smr_t a = smr_create("plain", 0, 0);
    smr_t b = smr_create("deferred", 4, SMR_DEFERRED);

    cr_assert_not(smr_lazy_is_fence_free(a));
    cr_assert_not(smr_lazy_is_fence_free(b));
    smr_destroy(a);
    smr_destroy(b);
}

/* Goals are handed out in the future (SPEC §2): never reached by the
 * clock value the writer saw. */
Test(lazy, goals_lie_in_the_future, .timeout = 30)
{
    smr_t smr = smr_create("lazy", 0, SMR_LAZY);

    if (!smr_lazy_is_fence_free(smr)) {
        smr_destroy(smr);
        cr_skip_test("fenced fallback: goals follow the default clock");
    }
    for (int i = 0; i < 1000; i++) {
        smr_seq_t before = smr_current(smr);
        smr_seq_t goal = smr_advance(smr);
        cr_assert(SMR_SEQ_GT(goal, before));
        cr_assert(SMR_SEQ_GT(goal, smr_current(smr)),
            "a lazy goal must lie beyond the clock when handed out");
    }
    smr_destroy(smr);
}

Test(lazy, goal_blocked_by_earlier_section, .timeout = 30)
{
    smr_t smr = smr_create("lazy", 0, SMR_LAZY);
    struct reader r;
    smr_seq_t goal;

    reader_start(&r, smr, 0);
    goal = smr_advance(smr);
    for (int i = 0; i < 20; i++) {
        cr_assert_not(smr_poll(smr, goal, false),
            "goal reached while an earlier lazy section is open");
        sleep_ms(1);    /* let ticks pass: the clock moves, the reader stays */
    }
    cr_assert_not(smr_wait_timeout(smr, goal, 20 * 1000000ull));
    __atomic_store_n(&r.leave, 1, __ATOMIC_RELEASE);
    pthread_join(r.tid, NULL);
    cr_assert(smr_wait(smr, goal));
    cr_assert(smr_poll(smr, goal, false));
    smr_destroy(smr);
}

Test(lazy, later_section_does_not_block, .timeout = 30)
{
    smr_t smr = smr_create("lazy", 0, SMR_LAZY);
    struct reader r;
    smr_seq_t goal;

    goal = smr_advance(smr);
    cr_assert(smr_wait(smr, goal));     /* clock is now past goal */
    reader_start(&r, smr, 0);
    cr_assert(smr_poll(smr, goal, false),
        "a section that began after the goal was reached must not block it");
    __atomic_store_n(&r.leave, 1, __ATOMIC_RELEASE);
    pthread_join(r.tid, NULL);
    smr_destroy(smr);
}

Test(lazy, nested_sections, .timeout = 30)
{
    smr_t smr = smr_create("lazy", 0, SMR_LAZY);
    struct reader r;
    smr_seq_t goal;

    reader_start(&r, smr, 1);
    goal = smr_advance(smr);
    cr_assert_not(smr_wait_timeout(smr, goal, 10 * 1000000ull));
    __atomic_store_n(&r.leave, 1, __ATOMIC_RELEASE);  /* inner exits */
    while (__atomic_load_n(&r.inside, __ATOMIC_ACQUIRE) != 2)
        sleep_ms(1);
    cr_assert_not(smr_wait_timeout(smr, goal, 10 * 1000000ull),
        "inner exit must not end the outer lazy section");
    __atomic_store_n(&r.leave, 2, __ATOMIC_RELEASE);
    pthread_join(r.tid, NULL);
    cr_assert(smr_wait(smr, goal));

    /* Same thread: depth is tracked, smr_entered follows the outer. */
    smr_lazy_enter(smr);
    smr_lazy_enter(smr);
    smr_lazy_exit(smr);
    cr_assert(smr_entered(smr));
    smr_lazy_exit(smr);
    cr_assert_not(smr_entered(smr));
    smr_destroy(smr);
}

Test(lazy, wait_returns_once_reader_leaves, .timeout = 30)
{
    smr_t smr = smr_create("lazy", 0, SMR_LAZY);
    struct reader r;
    struct timespec t0, t1;
    smr_seq_t goal;

    reader_start(&r, smr, 0);
    goal = smr_advance(smr);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    __atomic_store_n(&r.leave, 1, __ATOMIC_RELEASE);
    cr_assert(smr_wait(smr, goal));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_assert_eq(__atomic_load_n(&r.inside, __ATOMIC_ACQUIRE), 0,
        "wait returned while the reader was still inside");
    pthread_join(r.tid, NULL);
    smr_synchronize(smr);
    smr_destroy(smr);
}

/* A blocking wait forces the clock and issues exactly one barrier. */
Test(lazy, synchronize_issues_one_barrier, .timeout = 30)
{
    smr_t smr = smr_create("lazy", 0, SMR_LAZY);
    struct smr_stats a, b;
    uint64_t want = smr_lazy_is_fence_free(smr) ? 1 : 0;

    for (int i = 0; i < 50; i++) {
        a = stats(smr);
        smr_synchronize(smr);
        b = stats(smr);
        cr_assert_eq(b.barriers - a.barriers, want,
            "smr_synchronize issued %llu barriers",
            (unsigned long long)(b.barriers - a.barriers));
    }
    smr_destroy(smr);
}

/*
 * At most one barrier per poll that scans, none for a poll that hits the
 * read-hand fast path, and a poll whose goal an earlier barrier covers
 * issues none.
 */
Test(lazy, barrier_accounting, .timeout = 30)
{
    smr_t smr = smr_create("lazy", 0, SMR_LAZY);
    struct smr_stats a, b;
    smr_seq_t g1, g2;
    bool ff = smr_lazy_is_fence_free(smr);

    g1 = smr_advance(smr);
    g2 = smr_advance(smr);      /* same tick: the same future goal */
    cr_assert(smr_wait(smr, g2));

    /* Fast path: both goals are behind the read hand now. */
    a = stats(smr);
    cr_assert(smr_poll(smr, g1, false));
    cr_assert(smr_poll(smr, g2, false));
    b = stats(smr);
    cr_assert_eq(b.barriers, a.barriers, "fast-path polls issued barriers");
    cr_assert_eq(b.poll_scan, a.poll_scan, "fast-path polls scanned");

    /* Many non-blocking polls across ticks: never more barriers than
     * scans, and never more than one barrier per scanning poll. */
    for (int round = 0; round < 20; round++) {
        smr_seq_t g = smr_advance(smr);
        int n = 0;
        a = stats(smr);
        while (!smr_poll(smr, g, false)) {
            n++;
            cr_assert_lt(n, 100000, "lazy goal never reached by polling");
            usleep(100);
        }
        b = stats(smr);
        cr_assert_leq(b.barriers - a.barriers, b.poll_scan - a.poll_scan);
        if (ff)
            cr_assert_leq(b.barriers - a.barriers, 1,
                "%llu barriers for one goal",
                (unsigned long long)(b.barriers - a.barriers));
        else
            cr_assert_eq(b.barriers, a.barriers);
    }
    smr_destroy(smr);
}

/* Non-blocking polls for a future goal do not push the clock before the
 * tick moves: the rate limit that keeps barriers rare under churn. */
Test(lazy, nonblocking_polls_are_rate_limited, .timeout = 30)
{
    smr_t smr = smr_create("lazy", 0, SMR_LAZY);
    struct smr_stats a, b;
    struct timespec t0, t1;
    long ms;

    if (!smr_lazy_is_fence_free(smr)) {
        smr_destroy(smr);
        cr_skip_test("fenced fallback: no barriers to rate-limit");
    }
    a = stats(smr);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 200000; i++) {
        smr_seq_t g = smr_advance(smr);
        (void)!smr_poll(smr, g, false);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    b = stats(smr);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    /* One tick is 1 ms: at most ~one barrier per tick (+2 for edges). */
    cr_assert_leq(b.barriers - a.barriers, (uint64_t)ms + 2,
        "%llu barriers in %ld ms", (unsigned long long)(b.barriers -
        a.barriers), ms);
    smr_destroy(smr);
}

/* smr_lazy_enter on a non-lazy domain is smr_enter (documented). */
Test(lazy, lazy_enter_on_default_domain_protects, .timeout = 30)
{
    smr_t smr = smr_create("plain", 0, 0);
    struct reader r;
    smr_seq_t goal;

    reader_start(&r, smr, 0);
    goal = smr_advance(smr);
    cr_assert_not(smr_wait_timeout(smr, goal, 10 * 1000000ull));
    __atomic_store_n(&r.leave, 1, __ATOMIC_RELEASE);
    pthread_join(r.tid, NULL);
    cr_assert(smr_wait(smr, goal));
    smr_destroy(smr);
}

/* Readers in lazy sections never see an object the writer poisoned after
 * its goal was reached (the store-buffering case membarrier covers). */
struct obj {
    uint64_t stamp;
    uint64_t poison;
};
static SMR_POINTER(struct obj *) shared;
static int stop;

static void *
churn_reader(void *arg)
{
    smr_t smr = arg;
    uint64_t bad = 0, n = 0;

    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        smr_lazy_enter(smr);
        struct obj *o = smr_entered_load(&shared, smr);
        if (__atomic_load_n(&o->poison, __ATOMIC_RELAXED) != 0)
            bad++;
        smr_lazy_exit(smr);
        n++;
    }
    return (void *)(uintptr_t)bad;
}

Test(lazy, readers_never_see_poison, .timeout = 60)
{
    smr_t smr = smr_create("lazy", 0, SMR_LAZY);
    pthread_t t[2];
    uint64_t bad = 0;
    struct timespec t0, now;

    struct obj *o = calloc(1, sizeof(*o));
    smr_serialized_store(&shared, o, true);
    __atomic_store_n(&stop, 0, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, churn_reader, smr);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        struct obj *n = calloc(1, sizeof(*n));
        struct obj *old = smr_serialized_swap(&shared, n, true);
        smr_seq_t g = smr_advance(smr);
        cr_assert(smr_wait(smr, g));
        __atomic_store_n(&old->poison, 1, __ATOMIC_RELAXED);
        free(old);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec - t0.tv_sec < 2);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += (uint64_t)(uintptr_t)r;
    }
    cr_assert_eq(bad, 0, "%llu poisoned objects seen", (unsigned long long)bad);
    free(smr_serialized_load(&shared, true));
    smr_destroy(smr);
}
