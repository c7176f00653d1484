/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * bench_user's "smr exported" loop.  Compiled with -DSMR_NO_INLINE, so
 * <smr.h> declares smr_enter/smr_exit as ordinary external functions and
 * the loop calls libsmr's exported symbols (through the PLT, as a program
 * that defines SMR_NO_INLINE, or an FFI, would).  The globals are
 * bench_user.c's, the same ones its inline loops use.
 */
#include <stdint.h>

#include <smr.h>

struct user_obj {
    uint64_t v;
};
extern smr_t g_smr;
extern struct user_obj *g_shared;

uint64_t bench_user_run_exported(uint64_t n);

uint64_t
bench_user_run_exported(uint64_t n)
{
    uint64_t sink = 0;

    for (uint64_t i = 0; i < n; i++) {
        smr_enter(g_smr);
        sink += __atomic_load_n(&g_shared, __ATOMIC_ACQUIRE)->v;
        smr_exit(g_smr);
    }
    return sink;
}
