/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * The read hand's fast path with a second poller (I5).  A writer unlinks,
 * advances and hands its goal to a poller thread, which scans and moves
 * the read hand; the writer then polls its own goal and may find it
 * reached through the fast path (goal <= read hand), without scanning and
 * without a fence of its own: only the release move of the read hand
 * (partner: the fast path's acquire load) orders the reader's section,
 * which the other poller saw end, before the writer's reuse.
 *
 * Variants (-D): SMR__BROKEN_RD_RELAXED (a relaxed read-hand move),
 * DEFERRED (an SMR_DEFERRED domain: the poller pushes the clock).
 */
#define NSLOT 1
#include "model.h"

static _Atomic smr_seq_t GOAL;

static void *
writer(void *arg)
{
    struct smr__slot self = { 0 };
    struct obj *old;
    smr_seq_t goal;

    (void)arg;
    old = wr_unlink(1);
    goal = smr__advance_on(&D, &self);
    atomic_store_explicit(&GOAL, goal, memory_order_release);
    /* Only the fast path may answer "reached" here: the scan path has
     * its own fence and acquire loads (sb.c covers it). */
    if (SMR_SEQ_LEQ(goal, atomic_load_rlx(&D.s_rd_seq)) &&
        smr__poll_once(&D, NULL, goal, false) == 1)
        wr_reuse(old);
    return NULL;
}

static void *
poller(void *arg)
{
    smr_seq_t g = atomic_load_explicit(&GOAL, memory_order_acquire);

    (void)arg;
    if (g != SMR_SEQ_INVALID)
        (void)smr__poll_once(&D, NULL, g, true);
    return NULL;
}

int
main(void)
{
    pthread_t r, w, p;

#ifdef DEFERRED
    model_init(SMR_DEFERRED);
#else
    model_init(0);
#endif
    pthread_create(&r, NULL, reader_once, NULL);
    pthread_create(&w, NULL, writer, NULL);
    pthread_create(&p, NULL, poller, NULL);
    pthread_join(r, NULL);
    pthread_join(w, NULL);
    pthread_join(p, NULL);
    return 0;
}
