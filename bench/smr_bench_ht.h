/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * smr-bench B6 (bench/smr_bench_ht.c): the hash table against cds_lfht.
 */
#ifndef SMR_BENCH_HT_H
#define SMR_BENCH_HT_H

#include <stdint.h>
#include <stdio.h>

#include <hwloc.h>

struct b6_opts {
    hwloc_topology_t topo;
    int npu, pin;           /* PUs; pin threads one per PU */
    int rounds;
    uint64_t dur_ns;        /* one timed run of a mix */
    int quick;              /* smaller resize run */
    uint64_t seed;
    FILE *csv;              /* NULL: no CSV */
    const int *thr;         /* thread counts (nthr 0: 1, 2, 4) */
    int nthr;
};

/* Runs B6 and prints its tables; 0, or -1 if a scheme could not start. */
int smr_bench_b6(const struct b6_opts *o);

#endif /* SMR_BENCH_HT_H */
