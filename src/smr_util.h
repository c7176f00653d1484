/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * Helpers every file under src/ shares (the core, lazy domains, the pool,
 * smr_retire): the clock, messages, and the doubly-linked lists the
 * registries keep.  Nothing here is ABI.
 */
#ifndef SMR_UTIL_H
#define SMR_UTIL_H

#include <stdarg.h>
#include <stdint.h>

#include "smr.h"

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t smr__now_ns(void);

/*
 * smr_poll(smr, goal, false) and smr_wait(smr, goal) for libsmr's own
 * clients (the pool, smr_retire): the same, except that a stall report
 * names the concern as KIND "NAME" (NAME NULL: KIND alone), e.g. pool
 * "nodes" or "smr_retire queue", instead of the API call.
 */
bool smr__poll_for(smr_t smr, smr_seq_t goal, const char *kind,
    const char *name);
bool smr__wait_for(smr_t smr, smr_seq_t goal, const char *kind,
    const char *name);

/*
 * smr_retire's per-domain limits and counters (src/retire.c): kept in the
 * domain so that they live exactly as long as it does (retire's own
 * record comes and goes with its batches).  The core zeroes it at
 * smr_create and never reads it.  Every field is accessed with relaxed
 * atomics (retire.c; no partner: settings and statistics only).
 */
struct smr__retire_conf {
    size_t rc_cap;              /* pending_cap, 0: the default */
    uint32_t rc_flags;          /* SMR_RETIRE_NOWAIT */
    uint32_t rc_reported;       /* 1: the first overshoot was reported */
    uint64_t rc_sync;           /* retires past the cap that waited */
    uint64_t rc_over;           /* retires past the cap that did not wait */
};
struct smr__retire_conf *smr__retire_conf(smr_t smr);

/* Are reports on for this domain (SMR_STALL_WARN_MS=0 or a zero
 * smr_set_stall_handler threshold turns them off)?  For one-time
 * warnings of libsmr's clients (a pool or retire queue past its cap
 * without waiting). */
bool smr__reports_on(smr_t smr);

/*
 * Print "libsmr: WHAT \"NAME\": KIND: message" to stderr.  NAME may be
 * NULL ("libsmr: WHAT: KIND: message"), and WHAT too if NAME is ("libsmr:
 * KIND: message").  Every misuse report and warning goes through here.
 */
__attribute__((cold, format(printf, 4, 0)))
void smr__vsay(const char *what, const char *name, const char *kind,
    const char *fmt, va_list ap);

/*
 * Doubly-linked lists with a plain head pointer: push at the head, unlink
 * anywhere.  NEXT and PREV name the element's link fields.
 */
#define SMR__DLIST_PUSH(headp, elm, next, prev)                         \
    do {                                                                \
        (elm)->prev = NULL;                                             \
        (elm)->next = *(headp);                                         \
        if (*(headp) != NULL)                                           \
            (*(headp))->prev = (elm);                                   \
        *(headp) = (elm);                                               \
    } while (0)
#define SMR__DLIST_UNLINK(headp, elm, next, prev)                       \
    do {                                                                \
        if ((elm)->prev != NULL)                                        \
            (elm)->prev->next = (elm)->next;                            \
        else                                                            \
            *(headp) = (elm)->next;                                     \
        if ((elm)->next != NULL)                                        \
            (elm)->next->prev = (elm)->prev;                            \
    } while (0)

#endif /* SMR_UTIL_H */
