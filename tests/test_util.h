/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * Helpers shared by the Criterion tests (tests/test_*.c): clocks, sleeps,
 * waiting for a flag another thread sets, domains of each clock kind and
 * their read sections, a reader thread held inside a section, and the
 * parameter lists of the per-clock tests.  Header-only (static inline
 * functions), so each test program stays one file.
 */
#ifndef SMR_TEST_UTIL_H
#define SMR_TEST_UTIL_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include <smr.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#define MS 1000000ull /* ns */
#define DEFERRED_LIMIT 8  /* smr_create's limit for SMR_DEFERRED domains */

typedef unsigned long long ull;

static inline uint64_t
clock_ns_of(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t
now_ns(void)
{
    return clock_ns_of(CLOCK_MONOTONIC);
}

/* Time this thread has run (leaves out time spent blocked or preempted). */
static inline uint64_t
thread_cpu_ns(void)
{
    return clock_ns_of(CLOCK_THREAD_CPUTIME_ID);
}

/* Sleep ms milliseconds, resuming after signal handlers. */
static inline void
sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Wait (yielding) until *f == v or ms pass; true if it got there. */
static inline bool
wait_flag(atomic_int *f, int v, unsigned ms)
{
    uint64_t dl = now_ns() + ms * MS;

    while (atomic_load(f) != v) {
        if (now_ns() > dl)
            return false;
        sched_yield();
    }
    return true;
}

/* The clock flags a parameterized test runs with, for its messages. */
static inline const char *
flags_name(int fl)
{
    switch (fl) {
    case 0: return "default";
    case SMR_DEFERRED: return "deferred";
    case SMR_LAZY: return "lazy";
    default: return "?";
    }
}

/* A domain of the given clock kind (0, SMR_DEFERRED, SMR_LAZY). */
static inline smr_t
mk(const char *name, int flags)
{
    smr_t s;

    errno = 0;
    s = smr_create(name, (flags & SMR_DEFERRED) ? DEFERRED_LIMIT : 0, flags);
    cr_assert(s != NULL, "smr_create(%s, %s) failed: errno %d", name,
        flags_name(flags), errno);
    return s;
}

/* How many times needle occurs in hay (a child's stderr, say). */
static inline int
count_substr(const char *hay, const char *needle)
{
    int n = 0;

    for (const char *q = hay; (q = strstr(q, needle)) != NULL; q++)
        n++;
    return n;
}

/*
 * Run fn(arg) in a child process (SIGABRT at its default action, 20 s
 * alarm) and return its wait status; what the child wrote to stderr is in
 * buf, NUL-terminated.  A child whose fn returns exits 92.  For the misuse
 * tests: the caller asserts the abort and the message.
 */
static inline int
child_stderr(void (*fn)(void *), void *arg, char *buf, size_t size)
{
    struct sigaction sa;
    int pfd[2], status;
    size_t len = 0;
    ssize_t r;
    pid_t pid;

    cr_assert(pipe(pfd) == 0);
    fflush(NULL);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_DFL;
        sigaction(SIGABRT, &sa, NULL);
        dup2(pfd[1], 2);
        close(pfd[0]);
        close(pfd[1]);
        alarm(20);
        fn(arg);
        _exit(92);
    }
    close(pfd[1]);
    while (len < size - 1 &&
        (r = read(pfd[0], buf + len, size - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    close(pfd[0]);
    cr_assert(waitpid(pid, &status, 0) == pid);
    return status;
}

/* The read section a user of this domain kind would use. */
static inline void
sec_enter(smr_t s, int flags)
{
    if (flags & SMR_LAZY)
        smr_lazy_enter(s);
    else
        smr_enter(s);
}

static inline void
sec_exit(smr_t s, int flags)
{
    if (flags & SMR_LAZY)
        smr_lazy_exit(s);
    else
        smr_exit(s);
}

/*
 * A reader thread that enters a section, says so, and stays inside for
 * hold_ms, or (hold_ms == 0) until released (at most 10 s, so that a
 * blocking bug turns into a failed assertion, not a hang).
 */
struct held {
    smr_t smr;
    int flags;
    unsigned hold_ms;
    atomic_int inside;  /* 1: entered */
    atomic_int release; /* main: leave now */
    atomic_int leaving; /* 1: about to call exit */
    atomic_int done;    /* 1: exited */
    pthread_t tid;
};

static inline void *
held_main(void *arg)
{
    struct held *h = arg;
    uint64_t dl;

    sec_enter(h->smr, h->flags);
    atomic_store(&h->inside, 1);
    if (h->hold_ms != 0) {
        sleep_ms(h->hold_ms);
    } else {
        dl = now_ns() + 10000 * MS;
        while (!atomic_load(&h->release) && now_ns() < dl)
            usleep(200);
    }
    atomic_store(&h->leaving, 1);
    sec_exit(h->smr, h->flags);
    atomic_store(&h->done, 1);
    return NULL;
}

static inline void
held_start(struct held *h, smr_t s, int flags, unsigned hold_ms)
{
    memset(h, 0, sizeof(*h));
    h->smr = s;
    h->flags = flags;
    h->hold_ms = hold_ms;
    cr_assert(pthread_create(&h->tid, NULL, held_main, h) == 0);
    cr_assert(wait_flag(&h->inside, 1, 20000), "reader never entered");
}

static inline void
held_stop(struct held *h)
{
    atomic_store(&h->release, 1);
    cr_assert(pthread_join(h->tid, NULL) == 0);
    cr_assert(atomic_load(&h->done) == 1);
}

/* Parameterized tests over every clock kind, or the fenced ones. */
static int all_flags[] __attribute__((unused)) = { 0, SMR_DEFERRED, SMR_LAZY };
static int clock_flags[] __attribute__((unused)) = { 0, SMR_DEFERRED };

#define ALL_FLAGS(suite, name)                                          \
    ParameterizedTestParameters(suite, name)                            \
    {                                                                   \
        return cr_make_param_array(int, all_flags,                      \
            sizeof(all_flags) / sizeof(all_flags[0]));                  \
    }
#define CLOCK_FLAGS(suite, name)                                        \
    ParameterizedTestParameters(suite, name)                            \
    {                                                                   \
        return cr_make_param_array(int, clock_flags,                    \
            sizeof(clock_flags) / sizeof(clock_flags[0]));              \
    }

#endif /* SMR_TEST_UTIL_H */
