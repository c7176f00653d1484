/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * Copyright (c) 2026 The libsmr developers
 *
 * The optional background reclaimer: one thread per domain, off by
 * default, started by smr_reclaimer_start (SPEC §2).
 *
 * ====================================================================
 * Theory of operation
 * ====================================================================
 *
 * Without it, a retired object is reclaimed only when some thread calls
 * into libsmr again (smr_retire polls the FIFO head, smr_barrier waits for
 * it).  A call_rcu-style writer that retires one object and then waits for
 * its callback without another call would wait forever.  The reclaimer is
 * the thread that calls in for it:
 *
 *        smr_retire: first entry of a batch --kick (once per batch)--+
 *                                                                    v
 *   +-> round: smr__retire_round (retire.c)                 [rc_kicked = 1]
 *   |     - partial batches a tick old -> FIFO (taken under the
 *   |       cursor's lock, as smr_barrier does: retire.c R1)
 *   |     - FIFO heads whose tag is reached -> callbacks run here
 *   |   then smr__pool_round (pool.c), for each pool of the domain:
 *   |     - partial free buckets a tick old -> untagged (the objects
 *   |       below the owner's release-stored count, under p_lock: P1)
 *   |     - untagged -> tagged, FIFO heads reached -> cached (dtors)
 *   |   (a new pool bucket, full or partial, kicks too: once each)
 *   |     - left: goal (FIFO head tag), due (youngest partial's tick)
 *   |   sleep on rc_cv, under rc_lock, unless kicked or stopping:
 *   |     nothing left   pthread_cond_wait: no timeout at all
 *   |     due only       until due (the batch is a tick old then)
 *   |     goal           until now + backoff (50 us doubling to 1 ms,
 *   |                    as smr_wait sleeps), earlier if due is
 *   +-----+
 *
 * So an idle reclaimer sleeps in pthread_cond_wait and costs nothing;
 * timed sleeps happen only while something is pending, and end early on a
 * kick or a stop.  Reader exits never wake anyone (smr_exit stays a store):
 * a pending grace period is polled, like smr_wait does.  The reclaimer
 * does not call smr_wait itself so that a stop is never stuck behind a
 * reader that stays inside.
 *
 * The kick (lost-wakeup argument).  The kicker installed its batch under
 * the cursor's lock, then exchanges rc_kicked to 1; the reclaimer
 * exchanges it to 0 before each round and, under rc_lock, sleeps only if
 * it still reads 0, setting rc_sleeping first.
 *  - If the reclaimer's reset reads the kicker's 1 (or a later RMW of its
 *    release sequence), it synchronizes with the kicker, so the round that
 *    follows sees the batch.
 *  - Otherwise the kicker's exchange reads 0, and it takes rc_lock: if the
 *    reclaimer took rc_lock first, rc_sleeping is set and the kicker
 *    signals; if the kicker took it first, the reclaimer then reads 1
 *    under the lock and does not sleep.
 * A kicker that reads 1 returns at once: one has already been sent since
 * the reclaimer's last look, and that look is still to come.
 *
 * Lifecycle.  The record (struct reclaim__rc) is made at the first start
 * and hangs off the domain (d_reclaimer) until smr_destroy, which stops
 * the thread and frees it; a stop only joins the thread, so a kicker never
 * touches freed memory.  rc_lock is a leaf: held for a few instructions,
 * never across a call into the retire or the core.  Records are on a
 * registry (reclaim__lock) for fork and exit:
 *  - fork(): the child has no reclaimer thread.  Its records are reset to
 *    "stopped" (locks re-initialised: prepare took them), and the child
 *    may call smr_reclaimer_start again.  Creating a thread from an atfork
 *    child handler is not something to rely on, so we do not restart it.
 *  - exit(): an atexit handler stops every running reclaimer, so no
 *    callback runs on it while the process tears itself down.
 *  - Misuse: smr_reclaimer_stop or smr_destroy from the reclaimer thread
 *    (a reclaim callback) would join itself: that aborts with a message.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "smr.h"
#include "reclaim.h"
#include "smr_internal.h"

/* ---- atomics with the order in the name (STYLE.md 5) ------------------ */
#define atomic_load_rlx(p)      __atomic_load_n((p), __ATOMIC_RELAXED)
#define atomic_load_acq(p)      __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define atomic_store_rlx(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define atomic_store_rel(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define atomic_xchg_acqrel(p, v) \
    __atomic_exchange_n((p), (v), __ATOMIC_ACQ_REL)

/* ---- tunables --------------------------------------------------------- */
#define RECLAIM__WAIT0_NS  50000u       /* first sleep on a pending goal */
#define RECLAIM__WAITX_NS  1000000u     /* longest (smr_wait's too) */

struct reclaim__rc {
    struct reclaim__rc *rc_next;    /* registry (reclaim__lock) */
    struct reclaim__rc *rc_prev;
    smr_t rc_smr;
    pthread_mutex_t rc_lock;
    pthread_cond_t rc_cv;           /* kicks and stops (CLOCK_MONOTONIC) */
    pthread_t rc_thread;            /* valid while rc_running */
    uint32_t rc_kicked;             /* atomic: a kick since the last look */
    bool rc_running;                /* atomic; changed under reclaim__lock */
    bool rc_stopping;               /* reclaim__lock: a join in progress */
    bool rc_stop;                   /* rc_lock */
    bool rc_sleeping;               /* rc_lock */
};

static pthread_mutex_t reclaim__lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reclaim__cv = PTHREAD_COND_INITIALIZER; /* stops done */
static struct reclaim__rc *reclaim__rcs;    /* reclaim__lock */
static pthread_once_t reclaim__once = PTHREAD_ONCE_INIT;
static int reclaim__once_err;

static void reclaim__atfork_prepare(void);
static void reclaim__atfork_parent(void);
static void reclaim__atfork_child(void);
static void reclaim__atexit(void);
static void reclaim__destroy(smr_t smr);

static void
reclaim__init_once(void)
{
    smr__reclaimer_fini = reclaim__destroy;
    reclaim__once_err = pthread_atfork(reclaim__atfork_prepare,
        reclaim__atfork_parent, reclaim__atfork_child);
    if (reclaim__once_err == 0 && atexit(reclaim__atexit) != 0)
        reclaim__once_err = ENOMEM;
}

static int
reclaim__cv_init(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    int e;

    if ((e = pthread_condattr_init(&a)) != 0)
        return e;
    /* smr__now_ns is CLOCK_MONOTONIC: deadlines in the same clock. */
    e = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    if (e == 0)
        e = pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
    return e;
}

/* ---- the thread ------------------------------------------------------- */

static struct timespec
reclaim__ts(uint64_t ns)
{
    struct timespec ts = { (time_t)(ns / 1000000000u),
        (long)(ns % 1000000000u) };
    return ts;
}

static void *
reclaim__main(void *arg)
{
    struct reclaim__rc *rc = arg;
    smr_t smr = rc->rc_smr;
    smr_seq_t last = SMR_SEQ_INVALID;
    uint64_t backoff = RECLAIM__WAIT0_NS;

    for (;;) {
        smr_seq_t goal;
        uint64_t due, now, until;

        /* Acquire: partner of the kicker's exchange (see the essay). */
        (void)atomic_xchg_acqrel(&rc->rc_kicked, 0);
        now = smr__now_ns();
        (void)smr__retire_round(smr, now, &goal, &due);
        {
            /* The domain's pools too: idle buckets, expired heads. */
            smr_seq_t pgoal;
            uint64_t pdue;

            (void)smr__pool_round(smr, now, &pgoal, &pdue);
            if (goal == SMR_SEQ_INVALID)
                goal = pgoal;
            if (pdue != 0 && (due == 0 || pdue < due))
                due = pdue;
        }
        if (goal != last) {
            /* A new head: its readers are likely gone soon. */
            last = goal;
            backoff = RECLAIM__WAIT0_NS;
        }
        until = 0;
        if (goal != SMR_SEQ_INVALID) {
            until = now + backoff;
            if (backoff < RECLAIM__WAITX_NS)
                backoff *= 2;
        }
        if (due != 0 && (until == 0 || due < until))
            until = due;

        pthread_mutex_lock(&rc->rc_lock);
        if (!rc->rc_stop && atomic_load_rlx(&rc->rc_kicked) == 0) {
            rc->rc_sleeping = true;
            if (until == 0) {
                /* Nothing pending: no timeout, only a kick or a stop
                 * wakes us (spurious wake-ups go round once more). */
                pthread_cond_wait(&rc->rc_cv, &rc->rc_lock);
            } else {
                struct timespec ts = reclaim__ts(until);

                pthread_cond_timedwait(&rc->rc_cv, &rc->rc_lock, &ts);
            }
            rc->rc_sleeping = false;
        }
        if (rc->rc_stop) {
            pthread_mutex_unlock(&rc->rc_lock);
            break;
        }
        pthread_mutex_unlock(&rc->rc_lock);
    }
    return NULL;
}

/* ---- kicks ------------------------------------------------------------ */

void
smr__reclaimer_kick(smr_t smr)
{
    /* Acquire: partner of the release store in smr_reclaimer_start; the
     * record is initialised before it is seen. */
    struct reclaim__rc *rc = atomic_load_acq(&((struct smr_domain *)smr)->d_reclaimer);

    if (__builtin_expect(rc == NULL, 1) || !atomic_load_rlx(&rc->rc_running))
        return;     /* a start after this still runs a round first */
    /* Release: the batch our caller installed happens before the
     * reclaimer's next round (partner: its reset exchange). */
    if (atomic_xchg_acqrel(&rc->rc_kicked, 1) != 0)
        return;
    pthread_mutex_lock(&rc->rc_lock);
    if (rc->rc_sleeping)
        pthread_cond_signal(&rc->rc_cv);
    pthread_mutex_unlock(&rc->rc_lock);
}

/* ---- start / stop ----------------------------------------------------- */

__attribute__((noreturn, cold))
static void
reclaim__die_self(smr_t smr, const char *what)
{
    smr__die((const struct smr_domain *)smr, "%s from the domain's reclaimer "
        "thread (a reclaim callback): it would join itself", what);
}

/*
 * Stop and join rc's thread; reclaim__lock held, and held again on
 * return, but dropped across the join: a callback on the reclaimer may
 * start, stop or destroy other domains' reclaimers (or fork) meanwhile.
 * rc_stopping keeps one stopper per record; a second waits for it.  The
 * join waits for the round in progress, callbacks included.
 */
static void
reclaim__stop_locked(struct reclaim__rc *rc, const char *what)
{
    pthread_t th;

    /* rc_thread is valid while rc_running, stopping included. */
    if (rc->rc_running && pthread_equal(rc->rc_thread, pthread_self())) {
        pthread_mutex_unlock(&reclaim__lock);
        reclaim__die_self(rc->rc_smr, what);
    }
    while (rc->rc_stopping)
        pthread_cond_wait(&reclaim__cv, &reclaim__lock);
    if (!rc->rc_running)
        return;
    th = rc->rc_thread;
    rc->rc_stopping = true;
    pthread_mutex_unlock(&reclaim__lock);
    pthread_mutex_lock(&rc->rc_lock);
    rc->rc_stop = true;
    pthread_cond_signal(&rc->rc_cv);
    pthread_mutex_unlock(&rc->rc_lock);
    pthread_join(th, NULL);
    pthread_mutex_lock(&reclaim__lock);
    rc->rc_stop = false;    /* the thread is gone: nobody reads it */
    atomic_store_rlx(&rc->rc_running, false);
    smr__retire_watch(rc->rc_smr, false);
    rc->rc_stopping = false;
    pthread_cond_broadcast(&reclaim__cv);
}

SMR_API int
smr_reclaimer_start(smr_t smr)
{
    struct smr_domain *d = (struct smr_domain *)smr;
    struct reclaim__rc *rc;
    sigset_t all, old;
    int e;

    smr__check(d, "smr_reclaimer_start");
    if (pthread_once(&reclaim__once, reclaim__init_once) != 0 ||
        reclaim__once_err != 0)
        return ENOMEM;
    pthread_mutex_lock(&reclaim__lock);
    rc = atomic_load_rlx(&d->d_reclaimer);
    if (rc != NULL && (rc->rc_running || rc->rc_stopping)) {
        pthread_mutex_unlock(&reclaim__lock);
        return EBUSY;
    }
    if (rc == NULL) {
        rc = calloc(1, sizeof(*rc));
        if (rc == NULL) {
            pthread_mutex_unlock(&reclaim__lock);
            return ENOMEM;
        }
        rc->rc_smr = smr;
        if ((e = pthread_mutex_init(&rc->rc_lock, NULL)) != 0 ||
            (e = reclaim__cv_init(&rc->rc_cv)) != 0) {
            pthread_mutex_unlock(&reclaim__lock);
            free(rc);
            return e;
        }
        SMR__DLIST_PUSH(&reclaim__rcs, rc, rc_next, rc_prev);
        /* Release: partner of the acquire load in smr__reclaimer_kick. */
        atomic_store_rel(&d->d_reclaimer, rc);
    }
    /* Set before the thread exists: a kick from now on is not dropped
     * (and the thread's first round sees every earlier batch anyway). */
    atomic_store_rlx(&rc->rc_running, true);
    smr__retire_watch(smr, true);   /* retires kick it reliably (R8) */
    /* The thread takes no signals meant for the application. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    e = pthread_create(&rc->rc_thread, NULL, reclaim__main, rc);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) {
        atomic_store_rlx(&rc->rc_running, false);
        smr__retire_watch(smr, false);
    }
    pthread_mutex_unlock(&reclaim__lock);
    return e;
}

SMR_API void
smr_reclaimer_stop(smr_t smr)
{
    struct smr_domain *d = (struct smr_domain *)smr;
    struct reclaim__rc *rc;

    smr__check(d, "smr_reclaimer_stop");
    /* Acquire: partner of the release store in smr_reclaimer_start (the
     * answer is re-read under reclaim__lock). */
    if (atomic_load_acq(&d->d_reclaimer) == NULL)
        return;
    pthread_mutex_lock(&reclaim__lock);
    rc = atomic_load_rlx(&d->d_reclaimer);
    if (rc != NULL)
        reclaim__stop_locked(rc, "smr_reclaimer_stop");
    pthread_mutex_unlock(&reclaim__lock);
}

/* smr_destroy, first thing (smr__reclaimer_fini): stop and free. */
static void
reclaim__destroy(smr_t smr)
{
    struct smr_domain *d = (struct smr_domain *)smr;
    /* Acquire: partner of the release store in smr_reclaimer_start. */
    struct reclaim__rc *rc = atomic_load_acq(&d->d_reclaimer);

    if (rc == NULL)
        return;
    pthread_mutex_lock(&reclaim__lock);
    reclaim__stop_locked(rc, "smr_destroy");
    SMR__DLIST_UNLINK(&reclaim__rcs, rc, rc_next, rc_prev);
    atomic_store_rlx(&d->d_reclaimer, NULL);
    pthread_mutex_unlock(&reclaim__lock);
    pthread_mutex_destroy(&rc->rc_lock);
    pthread_cond_destroy(&rc->rc_cv);
    free(rc);
}

/* ---- fork and exit ---------------------------------------------------- */

/* reclaim__lock, then each rc_lock (leaves: nobody holds one while taking
 * another lock, so any place in the atfork order is safe). */
static void
reclaim__atfork_prepare(void)
{
    pthread_mutex_lock(&reclaim__lock);
    for (struct reclaim__rc *rc = reclaim__rcs; rc != NULL; rc = rc->rc_next)
        pthread_mutex_lock(&rc->rc_lock);
}

static void
reclaim__atfork_parent(void)
{
    for (struct reclaim__rc *rc = reclaim__rcs; rc != NULL; rc = rc->rc_next)
        pthread_mutex_unlock(&rc->rc_lock);
    pthread_mutex_unlock(&reclaim__lock);
}

/* The child has no reclaimer thread: every record reads "stopped".  The
 * work a parent's reclaimer had in hand is where retire.c's child handler
 * put it (claims of absent threads are dropped there). */
static void
reclaim__atfork_child(void)
{
    pthread_mutex_init(&reclaim__lock, NULL);
    pthread_cond_init(&reclaim__cv, NULL);
    for (struct reclaim__rc *rc = reclaim__rcs; rc != NULL;
        rc = rc->rc_next) {
        pthread_mutex_init(&rc->rc_lock, NULL);
        (void)reclaim__cv_init(&rc->rc_cv);
        rc->rc_running = false;
        rc->rc_stopping = false;
        rc->rc_stop = false;
        rc->rc_sleeping = false;
        rc->rc_kicked = 0;
    }
}

static void
reclaim__atexit(void)
{
    struct reclaim__rc *rc;

    pthread_mutex_lock(&reclaim__lock);
    do {
        /* The registry may change while a stop drops the lock: look
         * again from the start after each.  exit() from a callback on a
         * reclaimer: leave that one be (it cannot join itself). */
        for (rc = reclaim__rcs; rc != NULL; rc = rc->rc_next)
            if (rc->rc_running && !rc->rc_stopping &&
                !pthread_equal(rc->rc_thread, pthread_self()))
                break;
        if (rc != NULL)
            reclaim__stop_locked(rc, "exit");
    } while (rc != NULL);
    pthread_mutex_unlock(&reclaim__lock);
}
