/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * Compiled with -DSMR_NO_INLINE: this translation unit sees only the
 * exported declarations of smr_enter/smr_exit, so taking their addresses
 * here names the library's out-of-line functions (bench_enter's fallback
 * when libsmr is linked statically and cannot be dlsym'd by handle).
 */
#include <smr.h>

void bench_exported_fns(void (**enter)(smr_t), void (**exit_)(smr_t));

void
bench_exported_fns(void (**enter)(smr_t), void (**exit_)(smr_t))
{
    *enter = smr_enter;
    *exit_ = smr_exit;
}
