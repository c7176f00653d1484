/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * A malformed goal (issue 13 item 2, SPEC §6) polled while the clock is a
 * step below its wrap point: goal 0 (SMR_SEQ_INVALID) then compares as a
 * near-future goal, and the pre-fix poll pushed the clock to 0, where
 * readers publish 0 + depth, which pollers read as idle: a reader's
 * section became invisible to every poll.  A thread polls goal 0 while a
 * reader runs a section and a writer unlinks, advances and reuses on a
 * reached poll.  The poll of goal 0 must fail (-1) and leave the clock
 * alone.  64-bit sequences (the clock is placed near the top of its
 * range, as SMR_DEBUG builds do); -DSMR_CONFIG_FORCE_SEQ32=1 for 32-bit.
 *
 * Variant (-D): SMR__BROKEN_GOAL_UNCHECKED (no check: the pre-fix poll).
 */
#define NSLOT 1
#include "model.h"

static void *
writer(void *arg)
{
    (void)arg;
    wr_round(1, NULL, true);
    return NULL;
}

static void *
badpoll(void *arg)
{
    (void)arg;
    assert(smr__poll_once(&D, NULL, SMR_SEQ_INVALID, false) != 1);
    /* Never written to the clock: it still holds a sequence. */
    assert((atomic_load_rlx(&D.h.s_wr_seq) & 511) == 256);
    return NULL;
}

int
main(void)
{
    pthread_t r, w, b;
    /* One step below the wrap, so 0 looks one step ahead. */
    smr_seq_t top = (smr_seq_t)0 - SMR__SEQ_INCR + 256;

    model_init(0);
    D.h.s_wr_seq = D.s_rd_seq = D.l_barrier_seq = top;
    pthread_create(&b, NULL, badpoll, NULL);
    pthread_create(&r, NULL, reader_once, NULL);
    pthread_create(&w, NULL, writer, NULL);
    pthread_join(b, NULL);
    pthread_join(r, NULL);
    pthread_join(w, NULL);
    return 0;
}
