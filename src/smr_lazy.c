/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * Copyright (c) 2026 The libsmr developers
 *
 * SMR_LAZY in userspace: fence-free readers, an asymmetric barrier on the
 * write side, a clock that moves at most once per tick.
 *
 * FreeBSD's lazy readers store their sequence with no fence and rely on
 * every CPU taking a clock interrupt (a full barrier) within two ticks.
 * Userspace has no such interrupt: CPUs are tickless and a thread can sit
 * descheduled mid-section.  So the poller makes the interrupt happen:
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) runs a full barrier on every
 * CPU currently running a thread of this process (the others pass one at
 * their next context switch) before it returns.
 *
 * Which barrier stands in for which fence
 * ---------------------------------------
 *   smr_enter:       v = wr; slot = v; FENCE(store->load); loads...
 *   smr_lazy_enter:  v = wr (acquire); slot = v; loads...      (no fence)
 *   poller:          c = wr (>= goal); MEMBARRIER; fence; scan slots
 *
 * The membarrier is the reader's missing store->load fence, executed on
 * the reader's CPU at some point M_R of its program.  For a reader R:
 *  - slot store before M_R: it is visible to the scan that follows the
 *    barrier.  If R published v >= goal, R's acquire load of the clock read
 *    a value written after the unlink (the clock only reaches goal through
 *    smr__clock_step/push, each after a full fence that follows the
 *    unlink), so R's protected loads see the unlink.  If v < goal the slot
 *    blocks the goal.  If R already exited, its release store is seen.
 *  - slot store after M_R: R's protected loads come after the store in
 *    program order, hence after M_R's full barrier, hence after everything
 *    that happens before the membarrier call, including the clock load >=
 *    goal and so the unlink.
 * Hence the rule (SPEC §2): a slot may count as done only if a barrier was
 * issued AFTER a load of the clock that was already >= goal and BEFORE the
 * slot loads.  A barrier issued earlier does not order a reader that
 * entered before the unlink; a slot loaded before the barrier may still sit
 * in the reader's store buffer.
 *
 * Rate limiting: l_barrier_seq holds the clock value loaded before the last
 * completed barrier (release-stored after the syscall returns).  A poll
 * whose target is <= it needs no barrier of its own.  For that to be sound,
 * no goal may be <= a clock value that was loaded before the goal's unlink:
 * lazy goals are therefore handed out in the future (clock + one step,
 * FreeBSD: ticks + 2), and the clock reaches them only by a write that
 * follows the unlink.
 *
 * The clock: smr_advance on a lazy domain writes the shared clock at most
 * once per tick (default 1 ms, SMR_LAZY_TICK_US), so writers rarely touch a
 * shared line.  A non-blocking poll for a goal still in the future pushes
 * the clock only when the tick has moved; a waiter (smr_wait,
 * smr_synchronize) pushes it at once and issues one barrier, not two.
 *
 * Fallback: where membarrier is missing or refused (old kernel, seccomp,
 * another OS), under ThreadSanitizer (it cannot model membarrier), or with
 * SMR_LAZY_FENCED=1 in the environment, or with 32-bit
 * sequences (a fence-free reader cannot re-check a stale publish, SPEC §2),
 * the domain decides once at smr_create to run its lazy readers fenced:
 * SMR__F_LAZY_FAST stays clear, smr_lazy_enter takes the smr_enter path,
 * and smr_lazy_is_fence_free() says so.  Never an unsafe mode.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#endif

#include "smr_internal.h"

static pthread_once_t smr__lazy_once = PTHREAD_ONCE_INIT;
static bool smr__lazy_ok;
static uint64_t smr__lazy_tick_ns = 1000000;

/* Register for the private expedited barrier.  true if usable. */
static bool
smr__membarrier_register(void)
{
#if defined(__linux__) && defined(SYS_membarrier)
    long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);

    if (cmds < 0 || !(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) ||
        !(cmds & MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED))
        return false;
    return syscall(SYS_membarrier,
        MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
#else
    return false;
#endif
}

/* The asymmetric barrier itself: 0, or -1 with errno. */
static int
smr__membarrier(void)
{
#if defined(__linux__) && defined(SYS_membarrier)
    return (int)syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED,
        0, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

static void
smr__lazy_probe(void)
{
    const char *e = getenv("SMR_LAZY_FENCED");
    const char *t = getenv("SMR_LAZY_TICK_US");

    if (t != NULL && atol(t) > 0)
        smr__lazy_tick_ns = (uint64_t)atol(t) * 1000;
    if (SMR_SEQ32 || (e != NULL && *e != '\0' && strcmp(e, "0") != 0))
        return;
#ifdef SMR__TSAN
    /* TSan cannot see what membarrier orders: run lazy readers fenced. */
    return;
#endif
    smr__lazy_ok = smr__membarrier_register();
}

bool
smr__lazy_available(void)
{
    pthread_once(&smr__lazy_once, smr__lazy_probe);
    return smr__lazy_ok;
}

void
smr__lazy_create(struct smr *smr)
{
    if (smr__lazy_available())
        smr->h.d_flags |= SMR__F_LAZY_FAST;
    smr->l_last_tick = smr__now_ns() / smr__lazy_tick_ns;
}

SMR_API bool
smr_lazy_is_fence_free(smr_t smr)
{
    smr__check(smr, "smr_lazy_is_fence_free");
    return (smr->h.d_flags & SMR__F_LAZY_FAST) != 0;
}

/* Has a tick passed since the clock last moved?  At most one caller per
 * tick gets true, which is what bounds clock writes and barriers. */
bool
smr__lazy_tick_due(struct smr *smr)
{
    uint64_t now = smr__now_ns() / smr__lazy_tick_ns;
    uint64_t last = __atomic_load_n(&smr->l_last_tick, __ATOMIC_RELAXED);

    return now != last && __atomic_compare_exchange_n(&smr->l_last_tick,
        &last, now, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

smr_seq_t
smr__lazy_advance(struct smr *smr)
{
    smr_seq_t wr;

    /*
     * Full fence: the caller's unlink is ordered before the clock load
     * below, so the goal we hand out (clock + one step) can only be
     * reached by a clock write that follows the unlink.  Partner: the
     * poller's clock load before its membarrier (see the essay above).
     */
    smr__fence_full();
    SMR__TSAN_RELEASE(&smr->h.s_wr_seq);
    wr = __atomic_load_n(&smr->h.s_wr_seq, __ATOMIC_RELAXED);
    if (smr__lazy_tick_due(smr) &&
        __atomic_compare_exchange_n(&smr->h.s_wr_seq, &wr, wr + SMR__SEQ_INCR,
            false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        wr += SMR__SEQ_INCR;
    return wr + SMR__SEQ_INCR;
}

/*
 * Make sure an asymmetric barrier has been issued after a clock load >=
 * target; the caller scans the slots after this returns true.  force
 * (waiters) may block on a barrier in flight; a non-blocking poll does not.
 * A failing membarrier fails the poll (SPEC §2).
 */
bool
smr__lazy_barrier(struct smr *smr, smr_seq_t target, bool force)
{
    smr_seq_t c;
    bool ok = true;

    /* Acquire: pairs with the release store below; our slot loads follow
     * a barrier that followed a clock load >= target. */
    if (SMR_SEQ_GEQ(__atomic_load_n(&smr->l_barrier_seq, __ATOMIC_ACQUIRE),
        target))
        return true;
    if (force)
        pthread_mutex_lock(&smr->l_barrier_lock);
    else if (pthread_mutex_trylock(&smr->l_barrier_lock) != 0)
        return false;
    if (SMR_SEQ_LT(__atomic_load_n(&smr->l_barrier_seq, __ATOMIC_ACQUIRE),
        target)) {
        /* The clock is >= target: our caller saw it so, and it only moves
         * forward.  Load it before the barrier (the rule's first half). */
        c = __atomic_load_n(&smr->h.s_wr_seq, __ATOMIC_ACQUIRE);
        if (smr__membarrier() != 0) {
            ok = false;
        } else {
            __atomic_fetch_add(&smr->d_st[SMR__ST_BARRIERS], 1,
                __ATOMIC_RELAXED);
            /* Release: partner of the acquire loads above; the barrier
             * happened before any poll that reads this value. */
            __atomic_store_n(&smr->l_barrier_seq, c, __ATOMIC_RELEASE);
        }
    }
    pthread_mutex_unlock(&smr->l_barrier_lock);
    return ok;
}

/*
 * fork child: membarrier registration belongs to the parent's mm; register
 * again.  If that fails, the child's lazy domains go fenced: it has only one
 * thread, so no reader is mid-section on another CPU.
 */
bool
smr__lazy_atfork_child(void)
{
    if (!smr__lazy_ok)
        return true;
    smr__lazy_ok = smr__membarrier_register();
    return smr__lazy_ok;
}
