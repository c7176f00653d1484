/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * The background reclaimer (Criterion): smr_reclaimer_start/stop (SPEC §2,
 * "An optional background reclaimer").  A call_rcu-style writer that
 * waits for its own callback without another libsmr call completes with
 * it and hangs without it; readers still hold callbacks back; an idle
 * reclaimer costs no CPU and a stalled reader does not make it spin;
 * smr_barrier keeps its meaning; smr_destroy, stop, exit() and fork().
 *
 * Every test runs in its own process (Criterion's default).  Only the
 * test's main thread calls cr_assert*; reclaim callbacks record what they
 * saw in atomics.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <smr.h>

#include "test_util.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

#define NOBJ 100000
static atomic_int count[NOBJ];

static void
count_fn(void *p)
{
    atomic_fetch_add((atomic_int *)p, 1);
}

static void
retire_obj(smr_t s, int i)
{
    smr_retire(s, &count[i], count_fn);
}

/* Process CPU time (user + system), every thread. */
static uint64_t
proc_cpu_ns(void)
{
    struct rusage ru;

    cr_assert(getrusage(RUSAGE_SELF, &ru) == 0);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
        (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

/* Threads of this process (Linux: /proc/self/task), -1 elsewhere. */
static int
nthreads(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* nthreads() once it equals want, or after 2 s.  A joined thread can stay
 * listed for a moment: the kernel wakes pthread_join when it clears the
 * thread's tid, a little before it unlists the task. */
static int
nthreads_settled(int want)
{
    uint64_t dl = now_ns() + 2000 * MS;
    int n;

    while ((n = nthreads()) != want && now_ns() < dl)
        usleep(1000);
    return n;
}

/* ------------------------------------------------------------------ */
/* call_rcu style: retire, then wait for the callback, no more calls    */
/* ------------------------------------------------------------------ */

/* liburcu's torture updater: the retire is the last libsmr call before
 * it waits for its own callback.  With the reclaimer running it returns. */
ALL_FLAGS(callrcu, completes)
ParameterizedTest(int *flags, callrcu, completes, .timeout = 30)
{
    smr_t s = mk("rc-callrcu", *flags);

    cr_assert_eq(smr_reclaimer_start(s), 0);
    for (int i = 0; i < 20; i++) {
        retire_obj(s, i);
        cr_assert(wait_flag(&count[i], 1, 5000),
            "%s: retire %d not reclaimed within 5 s with the reclaimer on",
            flags_name(*flags), i);
    }
    smr_reclaimer_stop(s);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(atomic_load(&count[i]), 1);
    smr_destroy(s);
}

/* The same program without the reclaimer (the default): nothing
 * reclaims until some thread calls in again.  This is what the reclaimer
 * is for; it also shows the default stays worker-free. */
Test(callrcu, hangs_without_reclaimer, .timeout = 30)
{
    smr_t s = mk("rc-noworker", 0);

    retire_obj(s, 0);
    cr_assert_not(wait_flag(&count[0], 1, 300),
        "reclaimed with no reclaimer and no further call");
    smr_barrier(s);
    cr_assert_eq(atomic_load(&count[0]), 1);
    smr_destroy(s);
}

/* A retire made by a thread that then stays alive and idle: its partial
 * batch sits in its cursor; the reclaimer takes it there (R1). */
struct idle_retirer {
    smr_t s;
    atomic_int go_away;
};

static void *
idle_retirer_main(void *arg)
{
    struct idle_retirer *ir = arg;

    retire_obj(ir->s, 0);
    retire_obj(ir->s, 1);
    while (!atomic_load(&ir->go_away))
        usleep(1000);
    return NULL;
}

ALL_FLAGS(callrcu, idle_thread_batch)
ParameterizedTest(int *flags, callrcu, idle_thread_batch, .timeout = 30)
{
    struct idle_retirer ir = { .s = mk("rc-idle", *flags) };
    pthread_t t;

    cr_assert_eq(smr_reclaimer_start(ir.s), 0);
    cr_assert(pthread_create(&t, NULL, idle_retirer_main, &ir) == 0);
    cr_assert(wait_flag(&count[0], 1, 5000) && wait_flag(&count[1], 1, 5000),
        "an idle thread's partial batch was not reclaimed");
    atomic_store(&ir.go_away, 1);
    cr_assert(pthread_join(t, NULL) == 0);
    smr_destroy(ir.s);
}

/* ------------------------------------------------------------------ */
/* Pools: an idle writer's partial bucket and the queue drain            */
/* ------------------------------------------------------------------ */

/* A pool object with a dtor that counts (it runs after the grace period). */
static atomic_int pool_dtors;

static void
pool_dtor(void *obj, void *arg)
{
    (void)obj;
    (void)arg;
    atomic_fetch_add(&pool_dtors, 1);
}

struct idle_freer {
    smr_pool_t p;
    int n;
    atomic_int freed;
    atomic_int go_away;
};

/* Frees n objects (fewer than a bucket: they stay in its free bucket),
 * then stays alive and idle, never calling libsmr again. */
static void *
idle_freer_main(void *arg)
{
    struct idle_freer *f = arg;
    void *v[64];

    for (int i = 0; i < f->n; i++)
        v[i] = smr_pool_alloc(f->p);
    for (int i = 0; i < f->n; i++)
        smr_pool_free(f->p, v[i]);
    atomic_store(&f->freed, 1);
    while (!atomic_load(&f->go_away))
        usleep(1000);
    return NULL;
}

static smr_pool_t
mk_dtor_pool(smr_t s)
{
    struct smr_pool_args a;
    smr_pool_t p;

    memset(&a, 0, sizeof(a));
    a.size = 64;
    a.smr = s;
    a.dtor = pool_dtor;
    p = smr_pool_create_args("rc-pool", &a);
    cr_assert(p != NULL);
    return p;
}

static size_t
pool_pending(smr_pool_t p)
{
    struct smr_pool_stats st;

    smr_pool_stats(p, &st);
    return st.pending;
}

/* The reclaimer takes an idle thread's partial free bucket (SPEC §2: no
 * bucket is lost in a thread's hands), tags it and, once readers are past
 * it, runs the dtors: pending drains to 0 with no further pool call. */
static void
idle_pool(int flags, bool reclaimer)
{
    smr_t s = mk("rc-pool", flags);
    struct idle_freer f = { .p = mk_dtor_pool(s), .n = 10 };
    pthread_t t;
    bool drained;
    struct smr_pool_stats st;

    atomic_store(&pool_dtors, 0);
    if (reclaimer)
        cr_assert_eq(smr_reclaimer_start(s), 0);
    cr_assert(pthread_create(&t, NULL, idle_freer_main, &f) == 0);
    cr_assert(wait_flag(&f.freed, 1, 5000));
    drained = wait_flag(&pool_dtors, 10, reclaimer ? 5000 : 300);
    if (reclaimer) {
        cr_assert(drained, "%s: %d of 10 dtors ran within 5 s, pending %zu: "
            "an idle thread's bucket was not reclaimed", flags_name(flags),
            atomic_load(&pool_dtors), pool_pending(f.p));
        cr_assert_eq(pool_pending(f.p), 0);
        smr_pool_stats(f.p, &st);
        /* At least once: a freer descheduled for a tick halfway through
         * its frees has its bucket taken in two parts. */
        cr_assert_geq(st.buckets_taken, 1, "the idle bucket was not taken "
            "by the reclaimer");
    } else {
        /* The default (no worker): the objects wait in the idle thread's
         * bucket until it calls in or exits. */
        cr_assert_not(drained, "drained with no reclaimer");
        cr_assert_eq(pool_pending(f.p), 10);
    }
    atomic_store(&f.go_away, 1);
    cr_assert(pthread_join(t, NULL) == 0);
    smr_reclaimer_stop(s);
    smr_pool_destroy(f.p);
    smr_destroy(s);
}

ALL_FLAGS(pool, idle_writer_drains)
ParameterizedTest(int *flags, pool, idle_writer_drains, .timeout = 30)
{
    idle_pool(*flags, true);
}

Test(pool, idle_writer_waits_without_reclaimer, .timeout = 30)
{
    idle_pool(0, false);
}

/* Full buckets queued by a writer that then stops: the reclaimer moves
 * them to the cached list once readers are past (dtors run), and a
 * reader inside holds them back until it leaves. */
ALL_FLAGS(pool, queue_drains_after_reader)
ParameterizedTest(int *flags, pool, queue_drains_after_reader,
    .timeout = 30)
{
    enum { N = 1000 };
    smr_t s = mk("rc-pool-q", *flags);
    smr_pool_t p = mk_dtor_pool(s);
    static void *v[N];
    struct held h;

    atomic_store(&pool_dtors, 0);
    cr_assert_eq(smr_reclaimer_start(s), 0);
    for (int i = 0; i < N; i++)
        v[i] = smr_pool_alloc(p);
    held_start(&h, s, *flags, 200);
    for (int i = 0; i < N; i++)
        smr_pool_free(p, v[i]);
    usleep(50 * 1000);
    cr_assert(atomic_load(&h.leaving) || atomic_load(&pool_dtors) == 0,
        "dtors ran while the reader was inside");
    cr_assert(pthread_join(h.tid, NULL) == 0);
    cr_assert(wait_flag(&pool_dtors, N, 5000), "%s: %d of %d dtors after "
        "the reader left", flags_name(*flags), atomic_load(&pool_dtors), N);
    cr_assert_eq(pool_pending(p), 0);
    smr_reclaimer_stop(s);
    smr_pool_destroy(p);
    smr_destroy(s);
}

/* Pools created and destroyed while the reclaimer works on them: destroy
 * waits for a round in progress (never frees a pool under it). */
Test(pool, destroy_during_rounds, .timeout = 60)
{
    smr_t s = mk("rc-pool-life", 0);

    cr_assert_eq(smr_reclaimer_start(s), 0);
    for (int r = 0; r < 200; r++) {
        smr_pool_t p = mk_dtor_pool(s);
        void *v[40];

        for (int i = 0; i < 40; i++)
            v[i] = smr_pool_alloc(p);
        for (int i = 0; i < 40; i++)
            smr_pool_free(p, v[i]);
        if (r % 16 == 0)
            usleep(1500);       /* let a round find the partial bucket */
        smr_pool_destroy(p);
    }
    smr_reclaimer_stop(s);
    smr_destroy(s);
}

/* ------------------------------------------------------------------ */
/* Readers                                                             */
/* ------------------------------------------------------------------ */

/* A reader inside since before the retire holds the callback back; its
 * exit (no wake-up of its own) lets the reclaimer run it. */
ALL_FLAGS(readers, hold_callback)
ParameterizedTest(int *flags, readers, hold_callback, .timeout = 30)
{
    smr_t s = mk("rc-reader", *flags);
    struct held h;

    cr_assert_eq(smr_reclaimer_start(s), 0);
    held_start(&h, s, *flags, 0);
    retire_obj(s, 0);
    sleep_ms(150);
    cr_assert_eq(atomic_load(&count[0]), 0,
        "%s: reclaimed while a reader that could see it is inside",
        flags_name(*flags));
    held_stop(&h);
    cr_assert(wait_flag(&count[0], 1, 5000),
        "not reclaimed after the reader left");
    smr_destroy(s);
}

/* ------------------------------------------------------------------ */
/* CPU: sleeping while idle, not spinning while a reader stays          */
/* ------------------------------------------------------------------ */

Test(cpu, idle_reclaimer_sleeps, .timeout = 30)
{
    smr_t s = mk("rc-cpu", 0);
    uint64_t c0, c1;

    cr_assert_eq(smr_reclaimer_start(s), 0);
    /* Some work first, so that it has been through a round and a wait. */
    retire_obj(s, 0);
    cr_assert(wait_flag(&count[0], 1, 5000));
    sleep_ms(20);
    c0 = proc_cpu_ns();
    sleep_ms(300);
    c1 = proc_cpu_ns();
    cr_assert_lt(c1 - c0, 5 * MS,
        "idle process used %llu us of CPU in 300 ms with the reclaimer on",
        (ull)((c1 - c0) / 1000));
    smr_destroy(s);
}

/* Pending work behind a reader that stays inside: the reclaimer polls
 * with backoff (at most every ms), it does not burn a core. */
Test(cpu, stalled_reader_no_spin, .timeout = 30)
{
    smr_t s = mk("rc-stall", 0);
    struct held h;
    uint64_t c0, c1;

    cr_assert_eq(smr_reclaimer_start(s), 0);
    held_start(&h, s, 0, 0);
    retire_obj(s, 0);
    sleep_ms(20);
    c0 = proc_cpu_ns();
    sleep_ms(300);
    c1 = proc_cpu_ns();
    held_stop(&h);
    cr_assert_lt(c1 - c0, 60 * MS,
        "reclaimer used %llu us of CPU in 300 ms behind a stalled reader",
        (ull)((c1 - c0) / 1000));
    cr_assert(wait_flag(&count[0], 1, 5000));
    smr_destroy(s);
}

/* ------------------------------------------------------------------ */
/* smr_barrier with the reclaimer running                              */
/* ------------------------------------------------------------------ */

struct flood {
    smr_t s;
    int lo, hi;
};

static void *
flood_main(void *arg)
{
    struct flood *f = arg;

    for (int i = f->lo; i < f->hi; i++) {
        retire_obj(f->s, i);
        if ((i & 255) == 0)
            sched_yield();
    }
    return NULL;
}

/* Every retire made before smr_barrier was reclaimed when it returns,
 * exactly once, while the reclaimer takes batches and claims of its own. */
ALL_FLAGS(barrier, with_reclaimer)
ParameterizedTest(int *flags, barrier, with_reclaimer, .timeout = 60)
{
    smr_t s = mk("rc-barrier", *flags);
    struct flood f;
    pthread_t t;
    int n = 0;

    cr_assert_eq(smr_reclaimer_start(s), 0);
    f.s = s;
    f.lo = NOBJ / 2;
    f.hi = NOBJ;
    cr_assert(pthread_create(&t, NULL, flood_main, &f) == 0);
    for (int round = 0; round < 40; round++) {
        for (int k = 0; k < 1000; k++, n++)
            retire_obj(s, n);
        smr_barrier(s);
        for (int i = 0; i < n; i++)
            cr_assert_eq(atomic_load(&count[i]), 1,
                "%s: object %d reclaimed %d times after smr_barrier",
                flags_name(*flags), i, atomic_load(&count[i]));
    }
    cr_assert(pthread_join(t, NULL) == 0);
    smr_barrier(s);
    for (int i = NOBJ / 2; i < NOBJ; i++)
        cr_assert_eq(atomic_load(&count[i]), 1);
    cr_assert_eq(smr_retire_pending(s), 0);
    smr_destroy(s);
}

/* ------------------------------------------------------------------ */
/* Start, stop, destroy, exit                                          */
/* ------------------------------------------------------------------ */

Test(life, start_stop, .timeout = 30)
{
    smr_t s = mk("rc-life", 0);
    int base = nthreads();

    smr_reclaimer_stop(s);                      /* not running: no-op */
    cr_assert_eq(smr_reclaimer_start(s), 0);
    cr_assert_eq(smr_reclaimer_start(s), EBUSY);
    if (base > 0)
        cr_assert_eq(nthreads_settled(base + 1), base + 1);
    smr_reclaimer_stop(s);
    if (base > 0)
        cr_assert_eq(nthreads_settled(base), base,
            "stop did not join the thread");
    smr_reclaimer_stop(s);
    /* Stopped: pending work stays for later calls. */
    retire_obj(s, 0);
    sleep_ms(50);
    cr_assert_eq(atomic_load(&count[0]), 0);
    /* Restarted: the first round finds it. */
    cr_assert_eq(smr_reclaimer_start(s), 0);
    cr_assert(wait_flag(&count[0], 1, 5000));
    for (int i = 1; i < 50; i++) {
        smr_reclaimer_stop(s);
        retire_obj(s, i);
        cr_assert_eq(smr_reclaimer_start(s), 0);
    }
    for (int i = 1; i < 50; i++)
        cr_assert(wait_flag(&count[i], 1, 5000));
    smr_reclaimer_stop(s);
    smr_destroy(s);
}

/* smr_destroy stops a running reclaimer (asleep, or just done with
 * work): the thread is joined, nothing hangs, nothing leaks (ASan builds
 * check the last). */
Test(life, destroy_stops, .timeout = 30)
{
    int base = nthreads();

    for (int round = 0; round < 20; round++) {
        smr_t s = mk("rc-destroy", round % 3 == 2 ? SMR_LAZY : 0);

        cr_assert_eq(smr_reclaimer_start(s), 0);
        if (round & 1) {
            retire_obj(s, round);
            cr_assert(wait_flag(&count[round], 1, 5000));
        }
        smr_destroy(s);
        if (base > 0)
            cr_assert_eq(nthreads_settled(base), base,
                "round %d: thread left", round);
    }
}

/* Several domains, each with its own reclaimer, at once. */
Test(life, many_domains, .timeout = 30)
{
    smr_t s[8];

    for (int i = 0; i < 8; i++) {
        s[i] = mk("rc-many", all_flags[i % 3]);
        cr_assert_eq(smr_reclaimer_start(s[i]), 0);
        retire_obj(s[i], i);
    }
    for (int i = 0; i < 8; i++)
        cr_assert(wait_flag(&count[i], 1, 5000), "domain %d", i);
    for (int i = 0; i < 8; i++)
        smr_destroy(s[i]);
}

/* exit() with a reclaimer running and work pending behind a reader:
 * the atexit handler stops it promptly (no hang, clean status). */
static void
exit_running(void *arg)
{
    smr_t s = mk("rc-exit", 0);
    struct held h;

    (void)arg;
    if (smr_reclaimer_start(s) != 0)
        _exit(3);
    held_start(&h, s, 0, 0);
    for (int i = 0; i < 100; i++)
        retire_obj(s, i);
    /* Not _exit: atexit handlers run; the reader thread is still inside. */
    exit(0);
}

Test(life, exit_with_reclaimer, .timeout = 30)
{
    char buf[512];
    int st = child_stderr(exit_running, NULL, buf, sizeof(buf));

    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
        "status %#x, stderr: %s", st, buf);
}

/* Misuse: stop or destroy from a reclaim callback on the reclaimer
 * thread would join itself: abort with a message. */
static smr_t misuse_smr;

static void
stop_fn(void *p)
{
    (void)p;
    smr_reclaimer_stop(misuse_smr);
}

static void
destroy_fn(void *p)
{
    (void)p;
    smr_destroy(misuse_smr);
}

static void
misuse_child(void *arg)
{
    misuse_smr = mk("rc-misuse", 0);
    if (smr_reclaimer_start(misuse_smr) != 0)
        _exit(3);
    smr_retire(misuse_smr, NULL, (void (*)(void *))arg);
    sleep_ms(5000);
}

Test(life, stop_from_callback_aborts, .timeout = 30)
{
    char buf[1024];
    int st = child_stderr(misuse_child, (void *)stop_fn, buf, sizeof(buf));

    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x", st);
    cr_assert(strstr(buf, "smr_reclaimer_stop from the domain's reclaimer") &&
        strstr(buf, "rc-misuse"), "stderr: %s", buf);
    st = child_stderr(misuse_child, (void *)destroy_fn, buf, sizeof(buf));
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x", st);
    cr_assert(strstr(buf, "smr_destroy from the domain's reclaimer"),
        "stderr: %s", buf);
}

/* ------------------------------------------------------------------ */
/* fork                                                                */
/* ------------------------------------------------------------------ */

/*
 * The child has no reclaimer (documented): a retire there waits for a
 * call in, until the child starts its own.  The parent's keeps running.
 * Forks while the parent's reclaimer is busy (a flood of retires) leave
 * the child's state consistent: its barrier reclaims what it owns.
 */
#if defined(__SANITIZE_ADDRESS__)
#define RC_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RC_TEST_ASAN 1
#endif
#endif

ALL_FLAGS(fork, child_stopped_restartable)
ParameterizedTest(int *flags, fork, child_stopped_restartable, .timeout = 60)
{
    smr_t s;
    struct flood f;
    pthread_t t;
    int st;
    pid_t pid;

#ifdef RC_TEST_ASAN
    /*
     * ASan's allocator is not fork-safe (GCC 12 libasan): a child forked
     * while the parent's reclaimer frees (ASan's quarantine allocates)
     * blocks forever on the sanitizer's size-class lock in its first
     * malloc (seen: the child's reclaimer in GetFromAllocator).  As
     * test_smr's fork.while_busy.
     */
    cr_skip_test("ASan allocator locks are not fork-safe");
#endif
    s = mk("rc-fork", *flags);
    cr_assert_eq(smr_reclaimer_start(s), 0);
    f.s = s;
    f.lo = 1000;
    f.hi = NOBJ;
    cr_assert(pthread_create(&t, NULL, flood_main, &f) == 0);
    for (int k = 0; k < 3; k++) {
        fflush(NULL);
        pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            int bad = 0, obj = 10 + k;

            alarm(30);      /* a hung child must not keep ctest waiting */

            retire_obj(s, obj);
            sleep_ms(100);
            bad |= atomic_load(&count[obj]) != 0 ? 1 : 0;   /* stopped */
            smr_reclaimer_stop(s);                         /* no-op */
            if (smr_reclaimer_start(s) != 0)
                _exit(2);
            if (!wait_flag(&count[obj], 1, 5000))
                bad |= 4;
            retire_obj(s, 20 + k);
            if (!wait_flag(&count[20 + k], 1, 5000))
                bad |= 8;
            smr_barrier(s);
            smr_destroy(s);     /* stops the child's reclaimer */
            _exit(bad);
        }
        cr_assert(waitpid(pid, &st, 0) == pid);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
            "%s: child %d status %#x", flags_name(*flags), k, st);
    }
    cr_assert(pthread_join(t, NULL) == 0);
    /* The parent's reclaimer still works. */
    retire_obj(s, 30);
    cr_assert(wait_flag(&count[30], 1, 5000));
    smr_barrier(s);
    for (int i = 1000; i < NOBJ; i++)
        cr_assert_eq(atomic_load(&count[i]), 1);
    for (int k = 0; k < 3; k++)
        cr_assert_eq(atomic_load(&count[10 + k]), 0);  /* child-only */
    smr_destroy(s);
}

/* fork() while the reclaimer works on a pool (rounds pin it, p_rbusy) and
 * a thread churns it: in the child the pool drains, and destroy does not
 * wait for a pin of the parent's reclaimer (it has none there). */
struct pool_churn {
    smr_pool_t p;
    atomic_int stop;
    pthread_mutex_t fork_lock;
};

static void *
pool_churn_main(void *arg)
{
    struct pool_churn *c = arg;
    void *v[8];

    while (!atomic_load(&c->stop)) {
        /* Not forked between an alloc and its free: the child could not
         * free what this thread held (smr_pool_destroy would report them
         * in use, rightly). */
        pthread_mutex_lock(&c->fork_lock);
        for (int i = 0; i < 8; i++)
            v[i] = smr_pool_alloc(c->p);
        for (int i = 0; i < 8; i++)
            smr_pool_free(c->p, v[i]);
        pthread_mutex_unlock(&c->fork_lock);
        usleep(300);        /* partial buckets a tick old: stolen */
    }
    return NULL;
}

ALL_FLAGS(fork, pool_child_drains)
ParameterizedTest(int *flags, fork, pool_child_drains, .timeout = 60)
{
    struct pool_churn c;
    smr_t s;
    pthread_t t;
    int st;
    pid_t pid;

#ifdef RC_TEST_ASAN
    cr_skip_test("ASan allocator locks are not fork-safe");
#endif
    s = mk("rc-fork-pool", *flags);
    c.p = mk_dtor_pool(s);
    atomic_store(&c.stop, 0);
    pthread_mutex_init(&c.fork_lock, NULL);
    cr_assert_eq(smr_reclaimer_start(s), 0);
    cr_assert(pthread_create(&t, NULL, pool_churn_main, &c) == 0);
    for (int k = 0; k < 5; k++) {
        sleep_ms(20);
        fflush(NULL);
        pthread_mutex_lock(&c.fork_lock);
        pid = fork();
        pthread_mutex_unlock(&c.fork_lock);
        cr_assert(pid >= 0);
        if (pid == 0) {
            struct smr_pool_stats ps;

            alarm(30);
            /* Tag what the vanished threads held, wait, reuse it. */
            smr_pool_reclaim(c.p);
            smr_synchronize(s);
            smr_pool_reclaim(c.p);
            smr_pool_stats(c.p, &ps);
            if (ps.pending != 0)
                _exit(3);
            smr_pool_destroy(c.p);
            smr_destroy(s);
            _exit(0);
        }
        cr_assert(waitpid(pid, &st, 0) == pid);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
            "%s: child %d status %#x", flags_name(*flags), k, st);
    }
    atomic_store(&c.stop, 1);
    cr_assert(pthread_join(t, NULL) == 0);
    smr_reclaimer_stop(s);
    smr_pool_destroy(c.p);
    smr_destroy(s);
}
