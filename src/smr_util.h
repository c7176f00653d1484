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
#include <stdbool.h>
#include <stddef.h>
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
    uint32_t rc_watched;        /* a background reclaimer runs (R8) */
};
struct smr__retire_conf *smr__retire_conf(smr_t smr);

/*
 * The adaptive pending cap (SPEC §2), shared by the pool and smr_retire.
 *
 * The cap exists for readers that really hold a section too long, never
 * to throttle normal operation.  What normal operation needs is free rate
 * x the grace period the domain needs (a lazy domain's goals wait for one
 * or two clock ticks even with no reader at all), and neither is known in
 * advance.  So the cap in force (k_cur) starts at the floor (4096, the old
 * fixed cap, or the hard bound if smaller) and is measured rather than
 * guessed:
 *
 *  - raise: a queue past k_cur whose oldest batch has waited less than
 *    the domain's grace budget (smr__grace_budget_ns: 25 ms, plus two
 *    ticks on fence-free lazy domains) is not held up by a reader; it is
 *    the free rate.  k_cur doubles, up to the hard bound, and the caller
 *    does not wait.  Only a head older than the budget (a reader inside
 *    for longer than the domain needs) makes a writer wait, and then only
 *    past k_cur, which is at most k_hard.
 *  - decay: once per window (SMR__CAP_WINDOW_NS) the owner halves k_cur,
 *    not below the floor, if the queue stayed under a quarter of it, so a
 *    burst does not keep a large cap (hence a large stall footprint) for
 *    good.
 *
 * So no free or retire waits while free rate x observed grace period
 * stays under k_hard, and a reader stuck for any time holds at most k_hard
 * queued objects (plus the threads' own buckets or batches).
 *
 * k_cur and k_raises are relaxed atomics (hints, statistics: no partner;
 * a lost race raises twice or not at all, both harmless).  k_t0 and
 * k_wpeak are the owner's (under the pool's or record's lock).
 */
#define SMR__CAP_FLOOR      ((size_t)4096)
#define SMR__CAP_WINDOW_NS  1000000000ull   /* decay window: 1 s */

struct smr__cap {
    size_t k_hard;              /* the bound: set by the user, or default */
    size_t k_floor;             /* min(SMR__CAP_FLOOR, k_hard) */
    size_t k_cur;               /* the cap in force, in [k_floor, k_hard] */
    uint64_t k_raises;          /* times k_cur was raised */
    uint64_t k_t0;              /* decay window start */
    size_t k_wpeak;             /* queue high-water mark in this window */
};

/* The grace period a domain needs when no reader holds a section long:
 * what a queue's head may wait before it counts as held up (see above). */
uint64_t smr__grace_budget_ns(smr_t smr);

static inline void
smr__cap_init(struct smr__cap *k, size_t hard)
{
    k->k_hard = hard;
    k->k_floor = hard < SMR__CAP_FLOOR ? hard : SMR__CAP_FLOOR;
    __atomic_store_n(&k->k_cur, k->k_floor, __ATOMIC_RELAXED);
    k->k_t0 = 0;
    k->k_wpeak = 0;
}

/* The cap in force (relaxed: a hint, re-checked by the caller's loop). */
static inline size_t
smr__cap_now(const struct smr__cap *k)
{
    return __atomic_load_n(&k->k_cur, __ATOMIC_RELAXED);
}

/*
 * A queue is past cap (the value the caller compared against) and its
 * head has waited age_ns.  true: the head is younger than the budget and
 * the cap was raised (by us or by a racing caller): do not wait.
 */
static inline bool
smr__cap_raise(struct smr__cap *k, size_t cap, uint64_t age_ns,
    uint64_t budget_ns)
{
    size_t cur = __atomic_load_n(&k->k_cur, __ATOMIC_RELAXED), nc;

    if (cur > cap)
        return true;                    /* raised meanwhile */
    if (age_ns >= budget_ns || cur >= k->k_hard)
        return false;
    nc = cur > k->k_hard / 2 ? k->k_hard : cur * 2;
    if (__atomic_compare_exchange_n(&k->k_cur, &cur, nc, false,
        __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        __atomic_fetch_add(&k->k_raises, 1, __ATOMIC_RELAXED);
    return true;
}

/* The queue holds queued objects now (owner's lock held): track the
 * window's peak; at the window's end, halve the cap if the peak stayed
 * under a quarter of it. */
static inline void
smr__cap_note(struct smr__cap *k, size_t queued, uint64_t now)
{
    size_t cur;

    if (queued > k->k_wpeak)
        k->k_wpeak = queued;
    /* A caller may pass a time read before it took the lock, older than
     * the window's start another caller set meanwhile: that is inside the
     * window, not a wrap past it (which would halve twice in a window). */
    if ((int64_t)(now - k->k_t0) < (int64_t)SMR__CAP_WINDOW_NS)
        return;
    cur = __atomic_load_n(&k->k_cur, __ATOMIC_RELAXED);
    if (k->k_t0 != 0 && cur > k->k_floor && k->k_wpeak < cur / 4)
        __atomic_store_n(&k->k_cur, cur / 2 > k->k_floor ? cur / 2 :
            k->k_floor, __ATOMIC_RELAXED);
    k->k_t0 = now;
    k->k_wpeak = queued;
}

/*
 * smr_destroy's hook into smr_retire (src/retire.c sets it, release, from
 * its pthread_once; smr_destroy loads it with acquire): drop the batches
 * still installed in threads' cursors whose every entry a stealer has
 * already copied out (they hold the domain, but nothing is pending).
 * NULL until smr_retire was first used.
 */
extern void (*smr__retire_fini)(smr_t smr);

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
