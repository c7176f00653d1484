/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * test_header_must_check: compiled, never run.  Ignoring the result of
 * smr_poll or smr_wait_timeout must draw the compiler's warn_unused_result
 * warning (tests/CMakeLists.txt expects it in the compiler's output).  One
 * case per build: -DCASE_POLL or -DCASE_WAIT_TIMEOUT.
 */
#include <smr.h>

void must_check(smr_t s, smr_seq_t g);

void
must_check(smr_t s, smr_seq_t g)
{
#if defined(CASE_POLL)
    smr_poll(s, g, false);
#elif defined(CASE_WAIT_TIMEOUT)
    smr_wait_timeout(s, g, 1000);
#else
#error "define CASE_POLL or CASE_WAIT_TIMEOUT"
#endif
}
