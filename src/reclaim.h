/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * The background reclaimer (src/reclaim.c) and the hooks its clients
 * give it.  Nothing here is ABI.
 */
#ifndef SMR_RECLAIM_H
#define SMR_RECLAIM_H

#include <stdbool.h>
#include <stdint.h>

#include "smr.h"

/*
 * New work on smr: a retire batch was started (its first entry went in).
 * Called once per batch, with no libsmr lock held.  Without a running
 * reclaimer it costs one acquire load of a per-domain pointer; with one,
 * an exchange, and a mutex only when the reclaimer has seen no kick since
 * its last look.
 */
void smr__reclaimer_kick(smr_t smr);


/*
 * One round of the reclaimer on smr's retire state (src/retire.c): queue
 * every partial batch older than a tick (taken from its cursor under its
 * lock, as smr_barrier does, so none is ever in the reclaimer's hands:
 * R1), reclaim every FIFO batch whose tag is reached, then say what is
 * left: *goal, the FIFO head's tag (SMR_SEQ_INVALID: the FIFO is empty),
 * and *due, the CLOCK_MONOTONIC ns at which the oldest remaining partial
 * batch becomes a tick old (0: none).  Returns whether anything is left.
 */
bool smr__retire_round(smr_t smr, uint64_t now, smr_seq_t *goal,
    uint64_t *due);

/*
 * The same over smr's SMR pools (src/pool.c): take the partial free
 * buckets that threads have left for a tick (P1: from one list to another
 * under p_lock), tag them, move every FIFO head whose tag is reached to
 * the cached list (dtors run here).  *goal: a head tag still pending
 * (SMR_SEQ_INVALID: none); *due: when the youngest partial bucket left
 * becomes a tick old (0: none).  Returns whether anything is left.
 */
bool smr__pool_round(smr_t smr, uint64_t now, smr_seq_t *goal,
    uint64_t *due);

/*
 * A reclaimer starts (on) or stopped (off) on smr (src/retire.c): while
 * one runs, smr_retire appends under the cursor's lock, so that the first
 * entry after a steal reliably kicks it (see retire.c, R8).
 */
void smr__retire_watch(smr_t smr, bool on);

#endif /* SMR_RECLAIM_H */
