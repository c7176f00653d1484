/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * Lazy domains (src/smr_lazy.c): a fence-free reader (smr_lazy_enter),
 * membarrier modelled as the kernel runs it (model.h), a lazy tick that
 * may or may not be due at each advance (time moves once, concurrently),
 * and a third thread whose own advance can move the clock to the writer's
 * goal: the RWC shape of the POWER defect (issue 13, item 4).  With
 * POLLER2 that thread is a second poller instead: it polls the writer's
 * goal without waiting (pushing the clock if its tick is due) and may
 * reuse the object itself.
 *
 * Variants (-D): SMR__BROKEN_LAZY_GOAL_UNWRITTEN (the pre-fix lazy goal,
 * taken by a plain load: a third thread's tick reaches it without a
 * happens-before from the unlink), SMR__BROKEN_NO_MEMBARRIER,
 * SMR__BROKEN_LAZY_RELAXED (relaxed clock load in the reader).
 */
#define NSLOT 1
#include "model.h"

static _Atomic smr_seq_t GOAL;
static atomic_int REUSED;

static void
hook(smr_t smr, int point)
{
    (void)smr;
    if (point == SMR__HOOK_ENTER_LOADED)
        mb_point(0);        /* only the reader enters */
}

static void *
reader(void *arg)
{
    (void)arg;
    mb_point(0);
    rd_enter(0, true);
    mb_point(0);
    struct obj *p = rd_load();
    mb_point(0);
    (void)rd_read(p);
    mb_point(0);
    rd_exit(0);
    mb_finish(0);
    return NULL;
}

static void
try_reuse(struct obj *old, smr_seq_t goal, bool force)
{
    if (smr__poll_once(&D, NULL, goal, force) == 1 &&
        atomic_exchange_explicit(&REUSED, 1, memory_order_relaxed) == 0)
        wr_reuse(old);
}

static struct obj *OLD;

static void *
writer(void *arg)
{
    smr_seq_t goal;

    (void)arg;
    OLD = wr_unlink(1);
    goal = smr__advance_on(&D, NULL);
    atomic_store_explicit(&GOAL, goal, memory_order_release);
    try_reuse(OLD, goal, true);
    return NULL;
}

/* Moves time by one tick, then advances on its own account; with
 * POLLER2 it polls the writer's goal instead (non-blocking: it pushes the
 * clock to the goal only if its tick is due, and may reuse). */
static void *
third(void *arg)
{
    (void)arg;
    atomic_store_explicit(&T, 1, memory_order_relaxed);
#ifdef POLLER2
    smr_seq_t g = atomic_load_explicit(&GOAL, memory_order_acquire);
    if (g != SMR_SEQ_INVALID)
        try_reuse(OLD, g, false);
#else
    (void)smr__advance_on(&D, NULL);
#endif
    return NULL;
}

int
main(void)
{
    pthread_t r, w, x;

    model_init(SMR_LAZY | SMR__F_LAZY_FAST);
    smr__test_hook = hook;
    pthread_create(&r, NULL, reader, NULL);
    pthread_create(&w, NULL, writer, NULL);
    pthread_create(&x, NULL, third, NULL);
    pthread_join(r, NULL);
    pthread_join(w, NULL);
    pthread_join(x, NULL);
    return 0;
}
