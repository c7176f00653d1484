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
 *    a value in the release sequence of the goal's own clock RMW (see
 *    "Goals" below), so it synchronizes with the writer's fence and R's
 *    protected loads see the unlink.  If v < goal the slot blocks the
 *    goal.  If R already exited, its exit fence orders its section.
 *  - slot store after M_R: R's protected loads come after the store in
 *    program order, hence after M_R's full barrier, hence after everything
 *    that happens before the membarrier call, including the poller's clock
 *    load >= goal, which (by the same release sequence) follows the
 *    unlink.
 *
 * Goals.  The first version of this file handed out "clock + one step"
 * from a plain load when no tick was due, and argued that the clock
 * reaches a goal only through a write after a fence that follows the
 * unlink.  That is false for a third thread: its own tick, not ordered
 * after our unlink, can move the clock to our goal.  A reader that reads
 * that value (acquire) and then the stale pointer before the membarrier
 * reaches its CPU is counted done; on a machine that is not
 * multicopy-atomic (POWER) nothing makes the unlink visible to it (the
 * RWC shape; RC11 and IMM allow it; TSO, ARMv8 and RISC-V forbid it, so
 * only a protocol fix passes the models).  So the goal is taken by a
 * read-modify-write of the clock after the full fence that follows the
 * unlink (smr__lazy_advance, src/smr_clock.h): the CAS that moves the
 * clock when the tick is due, else an RMW that leaves it.  Every write
 * of the clock is an RMW (advance, push, lazy tick), so every write that
 * brings the clock to the goal continues the release sequence that the
 * goal's RMW heads, and any acquire load of a value >= goal synchronizes
 * with the writer's fence, whoever wrote the value (SPEC §2's lazy rule).
 * Cost: one RMW on the clock line per advance (a pool bucket, a retire
 * batch), where a lazy advance used to write it only once per tick; the
 * clock still MOVES at most once per tick, so barriers stay rate-limited.
 * Models: tests/model/lazy.c (the fix verified under RC11, IMM and TSO;
 * the old goal reported under RC11 and IMM, as it should be).
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
uint64_t smr__lazy_tick_ns = 1000000;  /* read by src/smr_clock.h */

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

/* The asymmetric barrier itself: 0, or -1 with errno (src/smr_clock.h). */
int
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
smr__lazy_create(struct smr_domain *smr)
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

/* The lazy clock (smr__lazy_tick_due, smr__lazy_advance) and the barrier
 * (smr__lazy_barrier) are in src/smr_clock.h, shared with the models. */

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
