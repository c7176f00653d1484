/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * The 32-bit guards (SPEC §2 "Preemption inside enter"; I5, I6) with a
 * reduced sequence width: each step is 2^28, so the clock wraps every 16
 * steps, the guard (SMR__MAX_DELTA, 2^30) is 4 steps and the reader's
 * re-check (SMR__RECHECK, 2^29) 2 steps.  GenMC explores every interleaving,
 * so a thread "stalled" across a whole lap is just one of them.
 *
 * Default: a runner thread W moves the clock STEPS steps with advance +
 * polls (so the read hand keeps up), then unlinks the object, advances and
 * polls once more, reusing the object if the poll says so.  A reader R
 * runs one section, unconstrained: its clock load may come a whole lap
 * before its publish, so the stale value can alias into the re-check
 * window (item 6: with the acquire re-check that is harmless; with a
 * relaxed one it is not).
 *
 * READER: the reader's clock load reads the initial clock, and its publish
 * may come after W has run the clock a lap less a step, unlinked and taken
 * a goal: the stale value is then exactly a lap old and aliases onto the
 * goal and into the re-check window (item 6).  The
 * default model explores every schedule over half a lap (STEPS 4).
 *
 * POLLER: the stall of issue 13 item 1, as tests/test_smr.c's
 * stall.poll_snapshot_laps_old forces it, with the library's own hook: a
 * poller P takes a goal, scans and stops at SMR__HOOK_POLL_BEFORE_CAS; W
 * then runs the clock two laps (less the step P took), R
 * enters and stays, W unlinks and takes a goal, P is let go and finishes
 * its read-hand move, and W polls: the goal must not be reached while R
 * is inside.  The waits are __VERIFIER_assume, so the model explores this
 * one schedule under each memory model, not every schedule.
 *
 * Variants (-D): SMR__BROKEN_RD_STALE (the pre-fix modular age test of the
 * poller's snapshot, issue 13 item 1), SMR__BROKEN_RECHECK_RELAXED (a
 * relaxed re-check load in the reader, item 6), SMR__BROKEN_ENTER_NOFENCE.
 */
#define SMR_CONFIG_FORCE_SEQ32 1
#ifndef INCR_SHIFT
#define INCR_SHIFT 29
#endif
#define SMR__MODEL_SEQ_INCR (1u << INCR_SHIFT)
#define NSLOT 1
#include "model.h"

#ifdef POLLER
/* W stops when the clock is two laps (LAP steps each) past P's own step,
 * less one: W's next advance then takes the goal P's snapshot aliases. */
#define LAP (1 << (32 - INCR_SHIFT))
static atomic_int P_AT_HOOK, GO, P_DONE, LAPPED, R_IN, W_DONE, FIRST;

#define WAIT_FOR(flag) \
    __VERIFIER_assume(atomic_load_explicit(&(flag), memory_order_acquire))
#define SIGNAL(flag) atomic_store_explicit(&(flag), 1, memory_order_release)

/* The first thread at POLL_BEFORE_CAS is P (W starts after it): hold it
 * there until W says go. */
static void
hook(smr_t smr, int point)
{
    (void)smr;
    if (point == SMR__HOOK_POLL_BEFORE_CAS &&
        atomic_exchange_explicit(&FIRST, 1, memory_order_relaxed) == 0) {
        SIGNAL(P_AT_HOOK);
        WAIT_FOR(GO);
    }
}

static void *
poller(void *arg)
{
    (void)arg;
    (void)smr__poll_once(&D, NULL, smr__advance_on(&D, NULL), false);
    SIGNAL(P_DONE);
    return NULL;
}

static void *
reader(void *arg)
{
    struct obj *p;

    (void)arg;
    WAIT_FOR(LAPPED);
    rd_enter(0, false);
    p = rd_load();
    SIGNAL(R_IN);
    WAIT_FOR(W_DONE);
    (void)rd_read(p);       /* POISON here: reused while R was inside */
    rd_exit(0);
    return NULL;
}

static void *
runner(void *arg)
{
    struct obj *old;
    smr_seq_t goal;

    (void)arg;
    WAIT_FOR(P_AT_HOOK);
    for (int i = 0; i < 4 * LAP; i++) {
        if (i >= LAP && atomic_load_rlx(&D.h.s_wr_seq) ==
            (smr_seq_t)(SMR__SEQ_INIT + (2 * LAP) * SMR__SEQ_INCR))
            break;
        wr_tick();
    }
    SIGNAL(LAPPED);
    WAIT_FOR(R_IN);
    old = wr_unlink(1);
    goal = smr__advance_on(&D, NULL);
    SIGNAL(GO);
    WAIT_FOR(P_DONE);
    if (smr__poll_once(&D, NULL, goal, false) == 1)
        wr_reuse(old);
    SIGNAL(W_DONE);
    return NULL;
}
#elif defined(READER)
/* R's clock load reads the initial clock, and R publishes only after W has
 * run the clock a lap less a step (the hook keeps just those executions,
 * by the clock values it reads; a flag would order R after W's unlink,
 * which a stalled thread is not).  W then unlinks and advances: R's stale
 * value is exactly a lap old, aliases onto W's goal and passes the
 * re-check window. */
#define LAP (1 << (32 - INCR_SHIFT))

static void
hook(smr_t smr, int point)
{
    (void)smr;
    if (point == SMR__HOOK_ENTER_LOADED) {
        /* R loaded the initial clock (by coherence: a later load reads
         * it), then stalled while W ran the clock a lap less a step. */
        __VERIFIER_assume(atomic_load_rlx(&D.h.s_wr_seq) == SMR__SEQ_INIT);
        __VERIFIER_assume(atomic_load_rlx(&D.h.s_wr_seq) ==
            (smr_seq_t)(SMR__SEQ_INIT + (LAP - 1) * SMR__SEQ_INCR));
    }
}

static void *
runner(void *arg)
{
    (void)arg;
    for (int i = 0; i < LAP; i++) {
        if (atomic_load_rlx(&D.h.s_wr_seq) ==
            (smr_seq_t)(SMR__SEQ_INIT + (LAP - 1) * SMR__SEQ_INCR))
            break;
        wr_tick();
    }
    wr_round(1, NULL, true);
    return NULL;
}
#else
#ifndef STEPS
#define STEPS 4
#endif

static void *
runner(void *arg)
{
    (void)arg;
    for (int i = 0; i < STEPS; i++)
        wr_tick();
    wr_round(1, NULL, false);
    return NULL;
}
#endif

int
main(void)
{
    pthread_t r, w;

    model_init(0);
#if defined(POLLER) || defined(READER)
    smr__test_hook = hook;
#endif
#ifdef POLLER
    pthread_create(&r, NULL, reader, NULL);
#else
    pthread_create(&r, NULL, reader_once, NULL);
#endif
    pthread_create(&w, NULL, runner, NULL);
#ifdef POLLER
    pthread_t p;
    pthread_create(&p, NULL, poller, NULL);
    pthread_join(p, NULL);
#endif
    pthread_join(r, NULL);
    pthread_join(w, NULL);
    return 0;
}
