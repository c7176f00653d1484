/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * Goal hints polled by another thread (issue 13, item 7): the pool's
 * p_head_seq (src/pool.c) and the retire FIFO's r_hint (src/retire.c).
 * A cache's pc_lq_seq (its own FIFO's head, src/pool.c) follows the same
 * rule, a release store under p_lock and an acquire load; there only the
 * owner stores a goal (others store SMR_SEQ_INVALID when they move the
 * list to the shared FIFO), so program order alone would do, and the pair
 * keeps it correct should that change.
 * Thread A advances NADV (5) times and stores the last goal in a hint;
 * thread B loads the hint and, if it holds a goal, polls it without
 * waiting.  smr_poll judges a goal against the clock it loads: unless the
 * advance that made the goal happens before that load, B may see a clock
 * more than SMR__FUTURE_MAX (4 steps) behind the goal and take it for one
 * never handed out (-1: the old code aborted, "goal was never handed
 * out").  The hint is therefore a release store and an acquire load.
 *
 * SEQ32 (build with -DSMR_CONFIG_FORCE_SEQ32=1 as well): 32-bit sequences,
 * where a goal that far ahead counts as held across a wrap, so "reached"
 * (1).  A reader C enters before A's first advance (A waits for it) and
 * stays inside until B is done: B must never see its poll report the goal
 * reached while C is inside.
 *
 * Variants (-D): HINT_RELAXED (the old code: a relaxed store and load),
 * SEQ32 (above).
 */
#if defined(SEQ32) && !SMR_CONFIG_FORCE_SEQ32
#error "SEQ32 needs -DSMR_CONFIG_FORCE_SEQ32=1"
#endif
#define NSLOT 1                     /* W[0]: C's word (SEQ32), else idle */
#ifndef NADV
#define NADV 5
#endif
#include "model.h"

#ifdef HINT_RELAXED
#define HINT_ST memory_order_relaxed
#define HINT_LD memory_order_relaxed
#else
#define HINT_ST memory_order_release
#define HINT_LD memory_order_acquire
#endif

static _Atomic smr_seq_t HINT;      /* SMR_SEQ_INVALID: no goal */

#ifdef SEQ32
static atomic_int INSIDE;           /* C is inside its section */
static atomic_int DONE;             /* B has polled and checked */

/* C: a section open across A's advances and B's poll. */
static void *
thread_c(void *arg)
{
    (void)arg;
    rd_enter(0, false);
    atomic_store_explicit(&INSIDE, 1, memory_order_release);
    __VERIFIER_assume(atomic_load_explicit(&DONE, memory_order_acquire));
    atomic_store_explicit(&INSIDE, 0, memory_order_relaxed);
    rd_exit(0);
    return NULL;
}
#endif

/* A: advances, then publishes the last goal (under a lock, in the
 * library; the hint is read without it). */
static void *
thread_a(void *arg)
{
    smr_seq_t goal = SMR_SEQ_INVALID;

    (void)arg;
#ifdef SEQ32
    /* C entered before the goals were handed out. */
    __VERIFIER_assume(atomic_load_explicit(&INSIDE, memory_order_acquire));
#endif
    for (int i = 0; i < NADV; i++)
        goal = smr__advance_on(&D, NULL);
    atomic_store_explicit(&HINT, goal, HINT_ST);
    return NULL;
}

/* B: polls the hint without waiting. */
static void *
thread_b(void *arg)
{
    (void)arg;
    smr_seq_t hint = atomic_load_explicit(&HINT, HINT_LD);

    if (hint != SMR_SEQ_INVALID) {
        int k = smr__poll_once(&D, NULL, hint, false);

        assert(k != -1);        /* "goal was never handed out" */
#ifdef SEQ32
        assert(!(k == 1 &&
            atomic_load_explicit(&INSIDE, memory_order_relaxed)));
#endif
        (void)k;
    }
#ifdef SEQ32
    atomic_store_explicit(&DONE, 1, memory_order_release);
#endif
    return NULL;
}

int
main(void)
{
    pthread_t a, b;

    model_init(0);
#ifdef SEQ32
    pthread_t c;
    pthread_create(&c, NULL, thread_c, NULL);
#endif
    pthread_create(&a, NULL, thread_a, NULL);
    pthread_create(&b, NULL, thread_b, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
#ifdef SEQ32
    pthread_join(c, NULL);
#endif
    return 0;
}
