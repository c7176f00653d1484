/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * Copyright (c) 2026 The libsmr developers
 *
 * The write side of the protocol: the clock (default, deferred and lazy),
 * the read hand and the poll.  Included by src/smr.c, which compiles it
 * into the library, and by the GenMC models in tests/model/, which run
 * exactly this code against the real read path of <smr.h>: a model cannot
 * drift from the code.  Nothing here is ABI.
 *
 * The includer provides (src/smr.c, src/smr_lazy.c; tests/model/model.h):
 *   smr__now_ns()            CLOCK_MONOTONIC ns (lazy ticks)
 *   smr__lazy_tick_ns        length of a lazy tick
 *   smr__membarrier()        the asymmetric barrier: 0, or -1 with errno
 *   smr__die()               misuse report (does not return)
 * The argument for every ordering below is in the essays at the top of
 * src/smr.c (default and deferred domains, 32-bit guards) and
 * src/smr_lazy.c (lazy domains); the invariants are numbered there.
 *
 * Deliberately broken variants (SMR__BROKEN_*) exist for the models and
 * the torture tests only: each removes one ordering or check, and the
 * model or test that needs it must catch the result.
 */
#ifndef SMR_CLOCK_H
#define SMR_CLOCK_H

#include "smr_internal.h"

/* Atomics with the order in the name (STYLE.md 5); src/smr.c uses them
 * too. */
#define atomic_load_rlx(p)      __atomic_load_n((p), __ATOMIC_RELAXED)
#define atomic_load_acq(p)      __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define atomic_store_rlx(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define atomic_store_rel(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define atomic_add_rlx(p, v)    __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define atomic_cas_rel(p, e, v)                                             \
    __atomic_compare_exchange_n((p), (e), (v), false, __ATOMIC_RELEASE,     \
        __ATOMIC_RELAXED)
#define atomic_cas_rlx(p, e, v)                                             \
    __atomic_compare_exchange_n((p), (e), (v), false, __ATOMIC_RELAXED,     \
        __ATOMIC_RELAXED)

/* The write side's own fence before every clock write (I2).  Broken
 * variants: none at all, or a release fence only (not a store->load
 * barrier: the SB argument of I3/I4 needs the full one). */
#if defined(SMR__BROKEN_ADVANCE_NOFENCE)
#define smr__advance_fence() ((void)0)
#elif defined(SMR__BROKEN_ADVANCE_RELEASE)
#define smr__advance_fence() __atomic_thread_fence(__ATOMIC_RELEASE)
#else
#define smr__advance_fence() smr__fence_full()
#endif

/* The test hook (tests only; see smr.h). */
static inline void
smr__hook(struct smr_domain *smr, int point)
{
    void (*fn)(smr_t, int) = smr__test_hook;

    if (__builtin_expect(fn != NULL, 0))
        fn(smr, point);
}

/* Slot i of the registry: chunk k starts at CHUNK0 * (2^k - 1). */
static inline struct smr__slot *
smr__slot_at(struct smr_domain *smr, uint32_t i)
{
    uint32_t q = i / SMR__CHUNK0 + 1;
    uint32_t k = 31 - (uint32_t)__builtin_clz(q);

    return &smr->d_chunks[k][i - SMR__CHUNK0 * ((1u << k) - 1)];
}

/*
 * Count an event in the calling thread's slot if it has one (owner-written,
 * summed by smr_stats), else in the domain (a relaxed RMW on a cold line).
 * Writers that never read get no slot just for counting, so they add
 * nothing to the poll scan.
 */
#define SMR__COUNT(smr, self, field, idx)                                   \
    do {                                                                    \
        if ((self) != NULL)                                                 \
            atomic_store_rlx(&(self)->field, (self)->field + 1);                \
        else                                                                \
            atomic_add_rlx(&(smr)->d_st[idx], 1);                          \
    } while (0)

#if SMR_SEQ32
/* The body of smr__enter_recheck (I6; the argument is beside its exported
 * twin in src/smr.c), here so the models run it. */
static inline void
smr__enter_recheck_on(smr_t smr, smr_seq_t *w, smr_seq_t v)
{
    smr_seq_t c;

    for (;;) {
        /* After the publish fence: a value at least as new as any the
         * fence orders us after.  Acquire, as the inline check (smr.h):
         * the protected loads come after it.  Partner: the advancers'
         * fences (I2). */
        c = __atomic_load_n(&smr->h.s_wr_seq, SMR__RECHECK_ORDER);
        if ((smr_seq_t)(c - v) < SMR__RECHECK)
            return;
        v = c;
        /* Keep the depth (1, unless a handler is nested on top of us). */
        smr__store_fence_sl(w, v + (atomic_load_rlx(w) & SMR__W_DEPTH));
    }
}
#endif

/* ---- words changing hands ("Words" in src/smr.c) ---------------------- */

/*
 * Point slot s at the word its new owner publishes in, and (if it lies
 * past the high-water mark) make it scanned.  Both release: a poller that
 * reads the new pointer or mark sees the claim's stores; one that reads the
 * old ones is in I4's "found it empty" case.  Partner: the acquire loads
 * of c_wordp and d_hw in the poll scan.
 */
static inline void
smr__slot_point(struct smr_domain *smr, struct smr__slot *s, smr_seq_t *wordp,
    uint32_t i)
{
    atomic_store_rel(&s->c_wordp, wordp);
    if (i >= atomic_load_rlx(&smr->d_hw))       /* (claims: under d_lock) */
        atomic_store_rel(&smr->d_hw, i + 1);
}

/*
 * A released slot points back at its own word, idle.  Release, both
 * (partner: the poll scan's acquire loads): the slot's last sections
 * happen before a poller reads it empty; and for a program word (src/smr.c,
 * "Program words"), a scan that reads the new pointer never touches the
 * old word, which is what the exiting thread's grace relies on.
 */
static inline void
smr__slot_unpoint(struct smr__slot *s)
{
    atomic_store_rel(&s->c_word, (smr_seq_t)0);
    atomic_store_rel(&s->c_wordp, &s->c_word);
}

/*
 * A statically declared domain's program word goes back to SMR__W_FREE
 * as its thread lets go of the entry (smr__tent_unword), before the slot
 * is released.  Release: a poller that reads the free word through the
 * slot's old pointer counts it idle, after the owner's sections.
 */
static inline void
smr__pword_free(smr_seq_t *pw)
{
    atomic_store_rel(pw, SMR__W_FREE);
}

/*
 * Open word w for its new owner (idle), before the owner's first store to
 * it: a release fence, then the store (SPEC §3, the C++20 rule).  The word
 * may have carried another thread's sections (a table or slot handed on),
 * which happen before this point through the registry locks; a poll that
 * reads any later store of the new owner with acquire is then ordered
 * after them.  Partner: the acquire load of the word in the poll scan.
 */
static inline void
smr__word_open(smr_seq_t *w)
{
#if defined(SMR__ARCH_TSAN)
    atomic_store_rel(w, (smr_seq_t)0);  /* TSan sees no fence (generic.h) */
#else
#if !defined(SMR__BROKEN_OPEN_NOFENCE)
    __atomic_thread_fence(__ATOMIC_RELEASE);
#endif
    atomic_store_rlx(w, (smr_seq_t)0);
#endif
}

/* ---- goals ------------------------------------------------------------- */

/*
 * Could goal be a value smr_advance or smr_current returned (SPEC §6)?
 * Every sequence is INIT + k * INCR: an odd multiple of 256, never 0.  A
 * goal ahead of the clock wr (loaded by the caller) is a whole number of
 * steps ahead, and at most SMR__FUTURE_MAX (deferred and lazy goals, the
 * 32-bit guard).  With 32-bit sequences a goal further ahead than that
 * was handed out more than half a lap ago: reached long ago (FreeBSD).
 * Returns 1: valid; 0: reached (32-bit, held across a wrap); -1: malformed.
 */
static inline int
smr__goal_check_future(smr_seq_t goal, smr_seq_t wr)
{
    smr_seq_t d = goal - wr;

#if defined(SMR__BROKEN_GOAL_UNCHECKED)
    (void)d;
    return 1;   /* broken variant (tests/models): the pre-fix behaviour */
#else
    if (d > SMR__FUTURE_MAX)
        return SMR_SEQ32 ? 0 : -1;
    return d % SMR__SEQ_INCR == 0 ? 1 : -1;
#endif
}

static inline bool
smr__goal_lowbits_ok(smr_seq_t goal)
{
#if defined(SMR__BROKEN_GOAL_UNCHECKED)
    (void)goal;
    return true;
#else
    return (goal & (smr_seq_t)511) == (smr_seq_t)256;
#endif
}

/* ---- the clock --------------------------------------------------------- */

/*
 * Increment the clock by one step, keeping I6 in the 32-bit configuration.
 * Returns the new clock value, or a future goal that was not written.
 */
static inline smr_seq_t
smr__clock_step(struct smr_domain *smr)
{
    smr_seq_t goal;

    /*
     * Full fence: the caller's unlink stores are ordered before the clock
     * increment (I2).  Partner: the store->load fence in smr_enter (a
     * reader that loads the new value sees the unlink) and the fence in
     * smr_poll.  Not merely release: POWER needs sync here (SPEC §3).
     */
    smr__advance_fence();
    SMR__TSAN_RELEASE(&smr->h.s_wr_seq);
#if SMR_SEQ32
    smr_seq_t rd, wr;

    /* Load the read hand before the clock so that rd <= goal (FreeBSD). */
    rd = atomic_load_acq(&smr->s_rd_seq);
    smr__hook(smr, SMR__HOOK_ADVANCE_LOADED_RD);
    wr = atomic_load_rlx(&smr->h.s_wr_seq);
    do {
        goal = wr + SMR__SEQ_INCR;
        /*
         * I6: where FreeBSD's MAX_DELTA guard would wait, hand out a goal
         * one step ahead without writing it; polls treat it as not yet
         * reached until the read hand has caught up and a poll pushes the
         * clock.  The CAS (not fetch_add) means a stale rd can overshoot
         * the guard by at most one step per stalled advance, even after a
         * stall of any length (its rd may alias after a lap; it still
         * writes once).
         */
        if ((smr_seq_t)(goal - rd) >= SMR__MAX_DELTA) {
            atomic_add_rlx(&smr->d_st[SMR__ST_ADVANCE_WAIT], 1);
            return goal;
        }
    } while (!atomic_cas_rlx(&smr->h.s_wr_seq, &wr, goal));
#else
    smr__hook(smr, SMR__HOOK_ADVANCE_LOADED_RD);
    goal = atomic_add_rlx(&smr->h.s_wr_seq, SMR__SEQ_INCR) + SMR__SEQ_INCR;
#endif
    return goal;
}

/* Has a tick passed since the lazy clock last moved?  At most one caller
 * per tick gets true, which is what bounds clock writes and barriers. */
static inline bool
smr__lazy_tick_due(struct smr_domain *smr)
{
    uint64_t now = smr__now_ns() / smr__lazy_tick_ns;
    uint64_t last = atomic_load_rlx(&smr->l_last_tick);

    return now != last && atomic_cas_rlx(&smr->l_last_tick, &last, now);
}

/*
 * Lazy advance (src/smr_lazy.c, "Goals"): the goal is taken by a
 * read-modify-write of the clock, after the full fence that follows the
 * caller's unlink, and lies one step past the value that RMW leaves.
 * Every clock write is an RMW, so every write that brings the clock to the
 * goal continues the release sequence this one heads: a reader or poller
 * whose acquire load reads any clock value >= goal synchronizes with our
 * fence, whoever wrote that value.  One RMW per call; the tick still
 * bounds how often the clock MOVES (and so the barriers).
 */
static inline smr_seq_t
smr__lazy_advance(struct smr_domain *smr)
{
    smr_seq_t wr;

    /* Partner: the acquire clock loads of smr_lazy_enter and of the poller
     * before its membarrier (through the release sequence, see above). */
    smr__advance_fence();
    SMR__TSAN_RELEASE(&smr->h.s_wr_seq);
    wr = atomic_load_rlx(&smr->h.s_wr_seq);
    if (smr__lazy_tick_due(smr) &&
        atomic_cas_rlx(&smr->h.s_wr_seq, &wr, wr + SMR__SEQ_INCR))
        wr += SMR__SEQ_INCR;
#if !defined(SMR__BROKEN_LAZY_GOAL_UNWRITTEN)
    else
        /* No tick, or another thread moved the clock: a failed CAS is only
         * a load, so take the goal with an RMW that leaves the value. */
        wr = atomic_add_rlx(&smr->h.s_wr_seq, 0);
#endif
    /* (Broken variant: the pre-fix goal, from a plain load that heads no
     * release sequence, so a third thread's tick can reach it.) */
    return wr + SMR__SEQ_INCR;
}

/* smr_advance after its checks: self is the caller's slot (NULL if it has
 * none; deferred domains always give one). */
static inline smr_seq_t
smr__advance_on(struct smr_domain *smr, struct smr__slot *self)
{
    SMR__COUNT(smr, self, st_advance, SMR__ST_ADVANCE);
    if (smr->h.d_flags & SMR__F_LAZY_FAST)
        return smr__lazy_advance(smr);
    if (smr->h.d_flags & SMR_DEFERRED) {
        /*
         * Deferred: touch the shared clock once every d_limit calls of this
         * thread; in between, hand out the next value without writing it.
         * A poll for such a goal pushes the clock there first.  The fence
         * orders the caller's unlink before that later push (I2).
         */
        if (++self->c_deferred < (uint32_t)smr->d_limit) {
            smr__advance_fence();   /* partner: fence in smr_enter */
            SMR__TSAN_RELEASE(&smr->h.s_wr_seq);
            return atomic_load_rlx(&smr->h.s_wr_seq) + SMR__SEQ_INCR;
        }
        self->c_deferred = 0;
    }
    return smr__clock_step(smr);
}

/*
 * Move the clock up to a future goal (deferred and lazy goals, 32-bit
 * guarded goals).  Returns false if the 32-bit guard (I6) forbids it now.
 * *wrp holds the caller's clock snapshot and is updated.  The goal has
 * passed smr__goal_check_future: a whole number of steps ahead.
 */
static inline bool
smr__clock_push(struct smr_domain *smr, smr_seq_t goal, smr_seq_t *wrp)
{
    smr_seq_t wr = *wrp;

    /* Partner: smr_enter's store->load fence, as in smr__clock_step (I2).
     * The goal's owner fenced its unlink before handing the goal out. */
    smr__advance_fence();
    SMR__TSAN_RELEASE(&smr->h.s_wr_seq);
    while (SMR_SEQ_GT(goal, wr)) {
#if SMR_SEQ32
        smr_seq_t rd = atomic_load_acq(&smr->s_rd_seq);
        if ((smr_seq_t)(goal - rd) >= SMR__MAX_DELTA)
            return false;
#endif
        if (atomic_cas_rlx(&smr->h.s_wr_seq, &wr, goal)) {
            wr = goal;
            break;
        }
    }
    *wrp = wr;
    return true;
}

/*
 * Make sure an asymmetric barrier has been issued after a clock load >=
 * target; the caller scans the slots after this returns true.  force
 * (waiters) may block on a barrier in flight; a non-blocking poll does not.
 * A failing membarrier fails the poll (SPEC §2).
 */
static inline bool
smr__lazy_barrier(struct smr_domain *smr, smr_seq_t target, bool force)
{
    smr_seq_t c;
    bool ok = true;

#if defined(SMR__BROKEN_NO_MEMBARRIER)
    (void)smr; (void)target; (void)force; (void)c; (void)ok;
    return true;    /* broken variant (models): no asymmetric barrier */
#endif
    /* Acquire: pairs with the release store below; our slot loads follow
     * a barrier that followed a clock load >= target. */
    if (SMR_SEQ_GEQ(atomic_load_acq(&smr->l_barrier_seq), target))
        return true;
    if (force)
        pthread_mutex_lock(&smr->l_barrier_lock);
    else if (pthread_mutex_trylock(&smr->l_barrier_lock) != 0)
        return false;
    if (SMR_SEQ_LT(atomic_load_acq(&smr->l_barrier_seq), target)) {
        /* The clock is >= target: our caller saw it so, and it only moves
         * forward.  Load it before the barrier (the rule's first half).
         * Acquire: it reads a write in the release sequence of the goal's
         * RMW (smr__lazy_advance), so the unlink happens before the
         * barrier. */
        c = atomic_load_acq(&smr->h.s_wr_seq);
        if (smr__membarrier() != 0) {
            ok = false;
        } else {
            atomic_add_rlx(&smr->d_st[SMR__ST_BARRIERS], 1);
            /* Release: partner of the acquire loads above; the barrier
             * happened before any poll that reads this value. */
            atomic_store_rel(&smr->l_barrier_seq, c);
        }
    }
    pthread_mutex_unlock(&smr->l_barrier_lock);
    return ok;
}

/* ---- the read hand ----------------------------------------------------- */

#if SMR_SEQ32
/*
 * 32-bit: a scan may move the read hand only if no other move happened
 * since it loaded its clock snapshot (I5).  Then the read hand was frozen
 * the whole time, so by I6 the clock stayed within SMR__MAX_DELTA (plus
 * one step per stalled advance) of it: no lap, and every value of the scan
 * compares correctly against the hand now.  A modular test of the
 * snapshot's age cannot tell a fresh snapshot from one a whole lap old.
 * d_rd_gen counts the moves (64-bit, under d_rd_lock, so it never wraps).
 * trylock: smr_poll(.., false) never blocks; a skipped move is made by the
 * next poll.  Returns false if the lock was busy (no move possible).
 */
static inline bool
smr__rd_snapshot(struct smr_domain *smr, uint64_t *gen, smr_seq_t *s_rd)
{
    if (pthread_mutex_trylock(&smr->d_rd_lock) != 0)
        return false;
    *gen = smr->d_rd_gen;
    *s_rd = atomic_load_acq(&smr->s_rd_seq);   /* partner: the release below */
    pthread_mutex_unlock(&smr->d_rd_lock);
    return true;
}
#endif

/* Move the read hand forward to rd (I5).  cur: the hand as the caller
 * loaded it; gen: (32-bit) the move count at the caller's snapshot. */
static inline void
smr__rd_advance(struct smr_domain *smr, smr_seq_t cur, smr_seq_t rd, uint64_t gen,
    smr_seq_t wr)
{
#if SMR_SEQ32
    (void)cur;
    if (pthread_mutex_trylock(&smr->d_rd_lock) != 0)
        return;
#if defined(SMR__BROKEN_RD_STALE)
    /* Broken variant (tests/models): the pre-fix modular age test. */
    (void)gen;
    if ((smr_seq_t)(atomic_load_rlx(&smr->h.s_wr_seq) - wr) < SMR__RECHECK &&
        SMR_SEQ_GT(rd, atomic_load_rlx(&smr->s_rd_seq)))
        atomic_store_rel(&smr->s_rd_seq, rd);
#else
    (void)wr;
    if (smr->d_rd_gen == gen && SMR_SEQ_GT(rd, atomic_load_rlx(&smr->s_rd_seq))) {
        /* Release: partner of the acquire loads of s_rd_seq in smr_poll. */
        atomic_store_rel(&smr->s_rd_seq, rd);
        smr->d_rd_gen = gen + 1;
    }
#endif
    pthread_mutex_unlock(&smr->d_rd_lock);
#else
    (void)wr;
    (void)gen;
    /* Release CAS; partner: the acquire load of s_rd_seq in smr_poll's fast
     * path, which then skips the scan.  64-bit values never wrap. */
#if defined(SMR__BROKEN_RD_RELAXED)
    /* Broken variant (models): a relaxed move, no partner for the fast
     * path's acquire load. */
    while (SMR_SEQ_LT(cur, rd) && !atomic_cas_rlx(&smr->s_rd_seq, &cur, rd))
        ;
#else
    while (SMR_SEQ_LT(cur, rd) && !atomic_cas_rel(&smr->s_rd_seq, &cur, rd))
        ;
#endif
#endif
}

/* ---- the poll ---------------------------------------------------------- */

/*
 * One non-blocking attempt.  force: a waiter (lazy: push the clock now).
 * Returns 1: reached; 0: not yet; -1: a malformed goal (SPEC §6; the
 * caller reports it), which never changes the clock.
 */
static inline int
smr__poll_once(struct smr_domain *smr, struct smr__slot *self, smr_seq_t goal,
    bool force)
{
    smr_seq_t s_rd, s_wr, target, rd, c;
    bool lazy = (smr->h.d_flags & SMR__F_LAZY_FAST) != 0;
    bool reachable = true, can_move = true;
    bool scan_static, scan_guard = false, scan_locked = false;
    uint64_t gen = 0;
    uint32_t hw;
    int k;

    SMR__COUNT(smr, self, st_poll, SMR__ST_POLL);
    /* SMR_SEQ_INVALID and anything else that is no sequence: before the
     * fast path, which would call it reached. */
    if (!smr__goal_lowbits_ok(goal))
        goto bad;
    /* Fast path.  Acquire pairs with the release move of the read hand. */
    s_rd = atomic_load_acq(&smr->s_rd_seq);
    if (SMR_SEQ_LEQ(goal, s_rd))
        return 1;
#if SMR_SEQ32
    /* The read hand as of the move count (I5); if another poller holds the
     * lock this scan only answers, it moves nothing. */
    can_move = smr__rd_snapshot(smr, &gen, &s_rd);
#endif
    /* Acquire keeps the slot loads after the clock load on weak targets
     * (and, lazy: reads the goal's release sequence); the full fence below
     * is what I4 needs. */
    s_wr = atomic_load_acq(&smr->h.s_wr_seq);
    target = goal;
    if (SMR_SEQ_GT(goal, s_wr)) {
        k = smr__goal_check_future(goal, s_wr);
        if (k < 0)
            goto bad;
        if (k == 0)
            return 1;       /* 32-bit: held across a wrap, reached */
        /* Lazy: the clock moves at most once per tick unless a waiter
         * forces it, so non-blocking polls cost no barrier storm. */
        if (lazy && !force && !smr__lazy_tick_due(smr))
            goto fail;
        if (!smr__clock_push(smr, goal, &s_wr)) {
            /* 32-bit guard (I6): scan up to the clock to move the read
             * hand, and report "not yet". */
            reachable = false;
            target = s_wr;
        }
    }
    if (lazy && !smr__lazy_barrier(smr, target, force))
        goto fail;
    SMR__COUNT(smr, self, st_poll_scan, SMR__ST_POLL_SCAN);
    /*
     * Full fence between the clock load and the slot loads (I4).
     * Partner: the store->load fence in smr_enter (store buffering: either
     * we see the reader's slot, or the reader sees every store that
     * happens before this fence, including the unlink).
     */
#if !defined(SMR__BROKEN_POLL_NOFENCE)
    smr__fence_full();
#endif
    rd = s_wr;
    /* A static domain's words may be its threads' own (src/smr.c,
     * "Program words"): they die with their threads, so the scan runs in
     * a section that an exiting thread waits for after releasing its
     * slot.  The section's enter is a full fence before the pointer loads
     * below; partner: the advance in the exiting thread's grace. */
    scan_static = (smr->h.d_flags & SMR__F_STATIC) != 0;
#if !defined(SMR__BROKEN_SCAN_NOSECTION)
    scan_guard = scan_static;
#endif
    if (scan_guard)
        scan_locked = smr__scan_enter(smr);
    hw = atomic_load_acq(&smr->d_hw);   /* partner: release in slot claim */
#if defined(SMR__BROKEN_POLL_NOSCAN)
    hw = 0;     /* deliberately broken variant (tests/torture only) */
#endif
    for (uint32_t i = 0; i < hw; i++) {
        struct smr__slot *s = smr__slot_at(smr, i);
        smr_seq_t *wp;

        /* Acquire, both: the pointer pairs with the release store in slot
         * claim (we then see the word's current owner; a stale pointer is
         * harmless, "Words" in src/smr.c, and, for a program word, still
         * alive: the scan section); the word pairs with the reader's exit
         * fence (smr__exit_store), so every section this slot ended before
         * the store we read happens before our caller reuses memory. */
        wp = atomic_load_acq(&s->c_wordp);
        if (scan_static)
            smr__hook(smr, SMR__HOOK_SCAN_WORDP);
        c = SMR__W_SEQ(atomic_load_acq(wp));
        if (c == SMR_SEQ_INVALID)
            continue;
#if !defined(SMR__BROKEN_NO_CLAMP)
        if (SMR_SEQ_LT(c, s_rd))
            c = s_rd;           /* I3: stale publish, clamp */
#endif
        if (SMR_SEQ_LT(c, rd))
            rd = c;
    }
    if (scan_guard)
        smr__scan_exit(smr, scan_locked);
    smr__hook(smr, SMR__HOOK_POLL_BEFORE_CAS);
    /* Lazy: the barrier covers clock values up to target only. */
    if (lazy && SMR_SEQ_GT(rd, target))
        rd = target;
    if (can_move)
        smr__rd_advance(smr, s_rd, rd, gen, s_wr);
    if (!reachable || SMR_SEQ_GT(goal, rd))
        goto fail;
    /* Acquire fence before returning true: the caller's reuse of memory is
     * ordered after every slot load above (SPEC §3). */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return 1;
fail:
    SMR__COUNT(smr, self, st_poll_fail, SMR__ST_POLL_FAIL);
    return 0;
bad:
    SMR__COUNT(smr, self, st_poll_fail, SMR__ST_POLL_FAIL);
    return -1;
}

#endif /* SMR_CLOCK_H */
