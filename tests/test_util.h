/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * Helpers shared by the Criterion tests (tests/test_*.c): clocks, sleeps,
 * waiting for a flag another thread sets, naming a domain's clock flags.
 * Header-only (static functions), so each test program stays one file.
 */
#ifndef SMR_TEST_UTIL_H
#define SMR_TEST_UTIL_H

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <smr.h>

#define MS 1000000ull /* ns */

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

#endif /* SMR_TEST_UTIL_H */
