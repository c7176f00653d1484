/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * Helpers shared by the Criterion-free torture programs (pipeline.c,
 * litmus_sb.c) and the fault programs under tests/faults/: plain C, no
 * framework, so everything runs under TSan, ASan and valgrind.
 */
#ifndef SMR_TORTURE_H
#define SMR_TORTURE_H

#include <smr.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define TORTURE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TORTURE_ASAN 1
#endif
#endif
#ifndef TORTURE_ASAN
#define TORTURE_ASAN 0
#endif

#if defined(__SANITIZE_THREAD__)
#define TORTURE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TORTURE_TSAN 1
#endif
#endif
#ifndef TORTURE_TSAN
#define TORTURE_TSAN 0
#endif

/* The domain kinds every program runs under. */
enum torture_mode { MODE_DEFAULT, MODE_DEFERRED, MODE_LAZY };

static const char *const torture_mode_names[] = { "default", "deferred",
    "lazy" };

static inline int
torture_parse_mode(const char *s)
{
    for (int m = MODE_DEFAULT; m <= MODE_LAZY; m++)
        if (strcmp(s, torture_mode_names[m]) == 0)
            return m;
    return -1;
}

/* smr_create for a mode; limit is the SMR_DEFERRED limit. */
static inline smr_t
torture_create(const char *name, int mode, int limit)
{
    int flags = mode == MODE_LAZY ? SMR_LAZY :
        mode == MODE_DEFERRED ? SMR_DEFERRED : 0;
    smr_t smr = smr_create(name, mode == MODE_DEFERRED ? limit : 0, flags);

    if (smr == NULL) {
        fprintf(stderr, "%s: smr_create: %s\n", name, strerror(errno));
        exit(2);
    }
    return smr;
}

static inline void
sec_enter(smr_t smr, bool lazy)
{
    if (lazy)
        smr_lazy_enter(smr);
    else
        smr_enter(smr);
}

static inline void
sec_exit(smr_t smr, bool lazy)
{
    if (lazy)
        smr_lazy_exit(smr);
    else
        smr_exit(smr);
}

static inline uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: per-thread, never 0. */
static inline uint64_t
rnd(uint64_t *x)
{
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 2685821657736338717ull;
}

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause" ::: "memory");
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

/* A cheap, fine-grained delay (about a cycle per step) that the compiler
 * keeps: litmus rounds use it to sweep the two threads' relative timing. */
static inline void
spin_steps(unsigned n)
{
    for (volatile unsigned i = 0; i < n; i++)
        ;
}

/* Spin until *p >= v (acquire) and return what was read; yield now and
 * then so that 1-CPU hosts, valgrind and sanitizers (which serialize or
 * slow threads) still make progress. */
static inline unsigned long long
spin_until_geq(atomic_ullong *p, unsigned long long v)
{
    unsigned long long c;

    for (unsigned n = 1;
         (c = atomic_load_explicit(p, memory_order_acquire)) < v; n++) {
        if ((n & 255) == 0)
            sched_yield();
        else
            cpu_relax();
    }
    return c;
}

static inline long
torture_num(const char *prog, const char *s, long min, long max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "%s: bad number '%s' (%ld..%ld)\n", prog, s, min,
            max);
        exit(2);
    }
    return v;
}

/* Pin the calling thread to the cpu-th CPU of the process's affinity mask,
 * if there are at least two; best effort. */
static inline void
torture_pin(unsigned cpu)
{
#if defined(__linux__)
    cpu_set_t set, one;
    unsigned n = 0;

    if (sched_getaffinity(0, sizeof(set), &set) != 0 || CPU_COUNT(&set) < 2)
        return;
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, &set))
            continue;
        if (n++ == cpu % (unsigned)CPU_COUNT(&set)) {
            CPU_ZERO(&one);
            CPU_SET(c, &one);
            (void)pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
            return;
        }
    }
#else
    (void)cpu;
#endif
}

#endif /* SMR_TORTURE_H */
