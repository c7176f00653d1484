/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * Helpers shared by the benchmark programs in bench/: clocks, the median
 * of a round's values, a seeded generator for shuffling scheme order, the
 * CPU's model name for the report header, hwloc pinning, and whether to
 * print the targets.  Header-only (static inline).
 */
#ifndef SMR_BENCH_UTIL_H
#define SMR_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hwloc.h>

static inline uint64_t
clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t
now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

/* This thread's CPU time: unlike wall time, it does not count the time the
 * thread sat descheduled while other work ran on the machine. */
static inline uint64_t
cpu_now_ns(void)
{
    return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

static inline int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Median of v[0..n) (n > 0); v is left as it was. */
static inline double
median(const double *v, int n)
{
    double *t = malloc(sizeof(*t) * (size_t)n), m;

    if (t == NULL)
        abort();
    memcpy(t, v, sizeof(*t) * (size_t)n);
    qsort(t, (size_t)n, sizeof(*t), cmp_double);
    m = (n & 1) ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
    free(t);
    return m;
}

/* splitmix64: the shuffle of scheme order per round (seeded by --seed). */
static inline uint64_t
splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Shuffle order[0..n) in place (Fisher-Yates, splitmix64): each round of
 * a benchmark runs its schemes in a fresh order. */
static inline void
bench_shuffle(int *order, int n, uint64_t *rng)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(splitmix64(rng) % (uint64_t)(i + 1));
        int t = order[i];

        order[i] = order[j];
        order[j] = t;
    }
}

/* "model name" from /proc/cpuinfo, or "unknown". */
static inline void
cpu_model(char *buf, size_t len)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];

    snprintf(buf, len, "unknown");
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "model name", 10) == 0) {
            char *p = strchr(line, ':');
            if (p != NULL) {
                p += 1 + strspn(p + 1, " \t");
                p[strcspn(p, "\n")] = '\0';
                snprintf(buf, len, "%s", p);
            }
            break;
        }
    }
    fclose(f);
}

/*
 * Pin the calling thread to PU number idx % npu (hwloc's logical order) of
 * topo.  Returns that PU's OS index, or -1 after a message naming prog.
 */
static inline int
bench_pin(hwloc_topology_t topo, int npu, int idx, const char *prog)
{
    hwloc_obj_t pu = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PU,
        (unsigned)(idx % npu));

    if (pu != NULL &&
        hwloc_set_cpubind(topo, pu->cpuset, HWLOC_CPUBIND_THREAD) == 0)
        return (int)pu->os_index;
    fprintf(stderr, "%s: thread %d: cannot pin to PU %d\n", prog, idx,
        idx % npu);
    return -1;
}

/*
 * Target lines ("(target <= 1.10) met/MISSED") belong in reports judged
 * against docs/BENCHMARKS.md; a demo wants the measured numbers and
 * ratios only.  SMR_BENCH_TARGETS=0 leaves the targets out (scripts/demo
 * sets it); unset or anything else prints them.
 */
static inline int
bench_show_targets(void)
{
    const char *e = getenv("SMR_BENCH_TARGETS");

    return e == NULL || strcmp(e, "0") != 0;
}

#endif /* SMR_BENCH_UTIL_H */
