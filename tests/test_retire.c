/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * smr_retire / smr_barrier test suite (Criterion): grace periods, barrier
 * completeness (partial batches of live threads, orphans of exited ones),
 * exactly-once callbacks, the tick rule, the pending bound (SPEC §2),
 * lifecycles and misuse (SPEC §4), fork.  Every domain kind.
 *
 * Every test runs in its own process (Criterion's default).  Only the
 * test's main thread calls cr_assert*; helper threads and reclaim
 * callbacks record what they saw in atomics.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <smr.h>

#include "test_util.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Mirror src/retire.c (RETIRE__BATCH) and src/smr_util.h (the floor of
 * the adaptive cap: a hard bound at or below it is the cap in force). */
#define BATCH 128
#define CAP 4096
#define DEFCAP ((size_t)SMR_RETIRE_CAP_DEFAULT)


/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */


/*
 * Counting objects.  count[i] is how often object i was reclaimed; a
 * reclaim that happens while the watched reader is still inside its
 * section (it entered before the retire) is a violation.
 */
#define NOBJ (1 << 20)
static atomic_int count[NOBJ];
static atomic_long total;
static atomic_long violations;

static struct held *watched;     /* reader whose section must block reclaim */

static void
count_fn(void *p)
{
    atomic_int *c = p;
    struct held *w = watched;

    if (w != NULL && atomic_load(&w->inside) && !atomic_load(&w->leaving))
        atomic_fetch_add(&violations, 1);
    atomic_fetch_add(c, 1);
    atomic_fetch_add(&total, 1);
}

static void
retire_obj(smr_t s, int i)
{
    smr_retire(s, &count[i], count_fn);
}

/* Every object in [lo, hi) reclaimed exactly once? */
static void
assert_once(int lo, int hi)
{
    for (int i = lo; i < hi; i++)
        cr_assert(atomic_load(&count[i]) == 1,
            "object %d reclaimed %d times (want 1)", i,
            atomic_load(&count[i]));
}

/* A thread that calls smr_barrier and says when it returned. */
struct barrier_thr {
    smr_t smr;
    atomic_int started;
    atomic_int returned;
    pthread_t tid;
};

static void *
barrier_main(void *arg)
{
    struct barrier_thr *b = arg;

    atomic_store(&b->started, 1);
    smr_barrier(b->smr);
    atomic_store(&b->returned, 1);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Basics                                                              */
/* ------------------------------------------------------------------ */

ALL_FLAGS(retire, barrier_reclaims_own)
ParameterizedTest(int *flags, retire, barrier_reclaims_own, .timeout = 30)
{
    smr_t s = mk("ret-own", *flags);

    cr_assert(smr_retire_pending(s) == 0);
    for (int i = 0; i < 3 * BATCH + 5; i++)
        retire_obj(s, i);
    cr_assert(smr_retire_pending(s) + (size_t)atomic_load(&total) ==
        3 * BATCH + 5, "pending %zu + reclaimed %ld != retired",
        smr_retire_pending(s), atomic_load(&total));
    smr_barrier(s);
    cr_assert(smr_retire_pending(s) == 0);
    assert_once(0, 3 * BATCH + 5);
    smr_barrier(s);             /* nothing pending: returns at once */
    smr_destroy(s);
}

Test(retire, barrier_on_fresh_domain, .timeout = 30)
{
    smr_t s = mk("ret-fresh", 0);

    smr_barrier(s);
    cr_assert(smr_retire_pending(s) == 0);
    smr_destroy(s);
}

/* ------------------------------------------------------------------ */
/* Grace periods                                                       */
/* ------------------------------------------------------------------ */

/*
 * A reader is inside; main retires; a third thread's smr_barrier must not
 * return, and no fn may run, until the reader leaves.
 */
ALL_FLAGS(grace, barrier_waits_for_reader)
ParameterizedTest(int *flags, grace, barrier_waits_for_reader, .timeout = 30)
{
    smr_t s = mk("ret-grace", *flags);
    struct held h;
    struct barrier_thr b = { 0 };
    const int n = 2 * BATCH + 7;   /* full batches and a partial one */

    held_start(&h, s, *flags, 0);
    watched = &h;
    for (int i = 0; i < n; i++)
        retire_obj(s, i);
    b.smr = s;
    cr_assert(pthread_create(&b.tid, NULL, barrier_main, &b) == 0);
    cr_assert(wait_flag(&b.started, 1, 5000));
    sleep_ms(200);
    cr_assert(atomic_load(&b.returned) == 0,
        "smr_barrier returned while a reader that could see the objects "
        "was still inside");
    cr_assert(atomic_load(&total) == 0, "%ld objects reclaimed under a "
        "reader", atomic_load(&total));
    cr_assert(smr_retire_pending(s) == (size_t)n);
    held_stop(&h);
    cr_assert(pthread_join(b.tid, NULL) == 0);
    cr_assert(atomic_load(&b.returned) == 1);
    cr_assert(atomic_load(&violations) == 0);
    assert_once(0, n);
    cr_assert(smr_retire_pending(s) == 0);
    watched = NULL;
    smr_destroy(s);
}

/*
 * The poll path (no barrier): while a reader is inside, retires that fill
 * batches and age partial ones reclaim nothing; once it leaves, later
 * retires alone reclaim everything queued.
 */
ALL_FLAGS(grace, polls_respect_reader)
ParameterizedTest(int *flags, grace, polls_respect_reader, .timeout = 30)
{
    smr_t s = mk("ret-poll", *flags);
    struct held h;
    int i = 0, first;

    held_start(&h, s, *flags, 0);
    watched = &h;
    for (; i < 3 * BATCH; i++) {
        retire_obj(s, i);
        if (i % 16 == 0)
            sleep_ms(2);    /* partial batches age past a tick */
    }
    cr_assert(atomic_load(&total) == 0, "%ld objects reclaimed under a "
        "reader", atomic_load(&total));
    held_stop(&h);
    first = i;
    /* Retire more, slowly (tick rule queues them, polls reclaim). */
    uint64_t dl = now_ns() + 5000 * MS;
    while (atomic_load(&total) < first && now_ns() < dl) {
        retire_obj(s, i++);
        sleep_ms(2);
    }
    cr_assert(atomic_load(&total) >= first,
        "only %ld of %d objects reclaimed by later retires",
        atomic_load(&total), first);
    assert_once(0, first);
    cr_assert(atomic_load(&violations) == 0);
    smr_barrier(s);
    assert_once(0, i);
    watched = NULL;
    smr_destroy(s);
}

/*
 * The FIFO is reclaimed from its head only as far as tags are reached: a
 * batch queued before a second reader entered (A) may go once the first
 * reader leaves; a batch queued after (B) must wait for the second reader.
 */
ALL_FLAGS(grace, fifo_pops_only_reached_batches)
ParameterizedTest(int *flags, grace, fifo_pops_only_reached_batches,
    .timeout = 30)
{
    smr_t s = mk("ret-fifo", *flags);
    struct held r1, r2;
    int i = 0;

    held_start(&r1, s, *flags, 0);
    for (; i < BATCH; i++)
        retire_obj(s, i);              /* batch A: full, queued, tagged */
    held_start(&r2, s, *flags, 0);
    for (; i < 2 * BATCH; i++)
        retire_obj(s, i);              /* batch B: after r2 entered */
    held_stop(&r1);
    uint64_t dl = now_ns() + 1000 * MS;
    int c = 10000;
    while (atomic_load(&count[0]) == 0 && now_ns() < dl) {
        retire_obj(s, c++);            /* polls the head */
        usleep(500);
    }
    /* Deferred and lazy goals lie one step ahead of the clock when handed
     * out, so r2 (which published the clock) holds A back as well. */
    if (*flags == 0)
        cr_assert(atomic_load(&count[0]) == 1, "batch A not reclaimed "
            "after its reader left");
    for (int j = BATCH; j < 2 * BATCH; j++)
        cr_assert(atomic_load(&count[j]) == 0, "object %d of batch B "
            "reclaimed while a reader that could see it is inside", j);
    held_stop(&r2);
    smr_barrier(s);
    assert_once(0, 2 * BATCH);
    assert_once(10000, c);
    smr_destroy(s);
}

/*
 * Tick rule: a partial batch (never full here: fewer than BATCH retires)
 * older than one tick is queued at its owner's next timed retire (the
 * 16th; this thread never filled a batch fast) and reclaimed by later
 * retires, without any smr_barrier.
 */
ALL_FLAGS(retire, partial_batch_ages_out)
ParameterizedTest(int *flags, retire, partial_batch_ages_out, .timeout = 30)
{
    smr_t s = mk("ret-tick", *flags);
    int i;

    for (i = 0; i < BATCH / 2 && atomic_load(&count[0]) == 0; i++) {
        retire_obj(s, i);
        sleep_ms(3);
    }
    cr_assert(atomic_load(&count[0]) == 1,
        "first object not reclaimed after %d slow retires (< one batch)", i);
    smr_barrier(s);
    assert_once(0, i);
    smr_destroy(s);
}

/*
 * A thread that filled a batch fast is timed only at its next batch's end
 * (one clock read per batch); should it slow down, its partial batch is
 * still queued within a batch's worth of calls (smr_retire(3)), then
 * reclaimed by later retires.
 */
ALL_FLAGS(retire, fast_then_slow_batch_ages_out)
ParameterizedTest(int *flags, retire, fast_then_slow_batch_ages_out,
    .timeout = 60)
{
    smr_t s = mk("ret-fast-slow", *flags);
    int i, lo = BATCH;          /* objects [0, BATCH): one fast batch */

    for (i = 0; i < BATCH; i++)
        retire_obj(s, i);
    for (i = lo; i < lo + BATCH + 32 && atomic_load(&count[lo]) == 0; i++) {
        retire_obj(s, i);
        sleep_ms(1);
    }
    cr_assert(atomic_load(&count[lo]) == 1, "the first slow object not "
        "reclaimed after %d slow retires", i - lo);
    cr_assert(i - lo <= BATCH + 16, "took %d slow retires (> a batch)",
        i - lo);
    smr_barrier(s);
    assert_once(0, i);
    smr_destroy(s);
}

/* ------------------------------------------------------------------ */
/* Other threads' batches                                              */
/* ------------------------------------------------------------------ */

struct worker {
    smr_t smr;
    int lo, n;
    bool idle;              /* stay alive (idle) after retiring */
    atomic_int retired;
    atomic_int release;
    pthread_t tid;
};

static void *
worker_main(void *arg)
{
    struct worker *w = arg;

    for (int i = 0; i < w->n; i++)
        retire_obj(w->smr, w->lo + i);
    atomic_store(&w->retired, 1);
    if (w->idle) {
        uint64_t dl = now_ns() + 10000 * MS;
        while (!atomic_load(&w->release) && now_ns() < dl)
            usleep(200);
    }
    return NULL;
}

static void
worker_start(struct worker *w, smr_t s, int lo, int n, bool idle)
{
    memset(w, 0, sizeof(*w));
    w->smr = s;
    w->lo = lo;
    w->n = n;
    w->idle = idle;
    cr_assert(pthread_create(&w->tid, NULL, worker_main, w) == 0);
    cr_assert(wait_flag(&w->retired, 1, 5000));
}

static void
worker_stop(struct worker *w)
{
    atomic_store(&w->release, 1);
    cr_assert(pthread_join(w->tid, NULL) == 0);
}

/*
 * smr_barrier reclaims the partial batch of a live, idle thread and the
 * orphans of an exited one (full batches and a partial one).
 */
ALL_FLAGS(barrier, reclaims_other_threads)
ParameterizedTest(int *flags, barrier, reclaims_other_threads, .timeout = 30)
{
    smr_t s = mk("ret-others", *flags);
    struct worker idle, gone;

    worker_start(&idle, s, 0, 10, true);
    worker_start(&gone, s, 10, 2 * BATCH + 3, false);
    cr_assert(pthread_join(gone.tid, NULL) == 0);
    retire_obj(s, 10 + 2 * BATCH + 3);      /* and one of our own */
    smr_barrier(s);
    assert_once(0, 10 + 2 * BATCH + 4);
    cr_assert(smr_retire_pending(s) == 0);
    /* Everything reclaimed: the domain is free to go, with the idle
     * thread still alive. */
    smr_destroy(s);
    worker_stop(&idle);
}

/* Orphans of an exited thread are reclaimed by anyone's later retires. */
ALL_FLAGS(retire, orphans_reclaimed_by_later_retire)
ParameterizedTest(int *flags, retire, orphans_reclaimed_by_later_retire,
    .timeout = 30)
{
    smr_t s = mk("ret-orphan", *flags);
    struct worker gone;
    int i = 100;

    worker_start(&gone, s, 0, 5, false);
    cr_assert(pthread_join(gone.tid, NULL) == 0);
    for (uint64_t dl = now_ns() + 5000 * MS;
        atomic_load(&total) < 5 && now_ns() < dl; i++) {
        retire_obj(s, i);
        sleep_ms(2);
    }
    assert_once(0, 5);
    smr_barrier(s);
    assert_once(100, i);
    smr_destroy(s);
}

/* ------------------------------------------------------------------ */
/* Exactly once, under concurrency, with readers checking the objects   */
/* ------------------------------------------------------------------ */

#define NSLOT 16
#define LIVE 0x1111u
#define DEAD 0xdeadu

struct obj {
    atomic_uint magic;
    int id;
};

static SMR_POINTER(struct obj *) slots[NSLOT];
static atomic_int stop;
static smr_t stress_smr;
static int stress_flags;

static void
obj_fn(void *p)
{
    struct obj *o = p;

    if (atomic_exchange(&o->magic, DEAD) != LIVE)
        atomic_fetch_add(&violations, 1);   /* twice, or garbage */
    atomic_fetch_add(&count[o->id], 1);
    atomic_fetch_add(&total, 1);
    /* Not freed: a late reader reads DEAD, not unmapped memory. */
}

static void *
stress_reader(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        sec_enter(stress_smr, stress_flags);
        for (int i = 0; i < NSLOT; i++) {
            struct obj *o = smr_entered_load(&slots[i], stress_smr);
            if (o != NULL && atomic_load(&o->magic) != LIVE)
                atomic_fetch_add(&violations, 1);
        }
        sec_exit(stress_smr, stress_flags);
    }
    return NULL;
}

struct stress_w {
    int idx, nw, n;
    struct obj *objs;
    pthread_t tid;
};

static void *
stress_writer(void *arg)
{
    struct stress_w *w = arg;

    for (int k = 0; k < w->n; k++) {
        int id = w->idx * w->n + k;
        struct obj *o = &w->objs[id];
        int slot = w->idx + (k % (NSLOT / w->nw)) * w->nw;

        atomic_store(&o->magic, LIVE);
        o->id = id;
        /* Each slot has one writer: serialized by construction. */
        struct obj *old = smr_serialized_swap(&slots[slot], o, true);
        if (old != NULL)
            smr_retire(stress_smr, old, obj_fn);
        if (k % 1000 == 999)
            sched_yield();
    }
    return NULL;
}

static void *
stress_barrier(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        smr_barrier(stress_smr);
        usleep(500);
    }
    return NULL;
}

ALL_FLAGS(stress, exactly_once_and_safe)
ParameterizedTest(int *flags, stress, exactly_once_and_safe, .timeout = 120)
{
    enum { NW = 4, NR = 2, PER = 20000 };
    struct stress_w w[NW];
    pthread_t r[NR], b;
    struct obj *objs = calloc(NW * PER, sizeof(*objs));
    long retired = 0;

    cr_assert(objs != NULL);
    stress_smr = mk("ret-stress", *flags);
    stress_flags = *flags;
    for (int i = 0; i < NR; i++)
        cr_assert(pthread_create(&r[i], NULL, stress_reader, NULL) == 0);
    cr_assert(pthread_create(&b, NULL, stress_barrier, NULL) == 0);
    for (int i = 0; i < NW; i++) {
        w[i] = (struct stress_w){ .idx = i, .nw = NW, .n = PER, .objs = objs };
        cr_assert(pthread_create(&w[i].tid, NULL, stress_writer, &w[i]) == 0);
    }
    for (int i = 0; i < NW; i++)
        cr_assert(pthread_join(w[i].tid, NULL) == 0);
    /* Unpublish and retire what is still in the slots. */
    for (int i = 0; i < NSLOT; i++) {
        struct obj *o = smr_serialized_swap(&slots[i], NULL, true);
        if (o != NULL)
            smr_retire(stress_smr, o, obj_fn);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < NR; i++)
        cr_assert(pthread_join(r[i], NULL) == 0);
    cr_assert(pthread_join(b, NULL) == 0);
    smr_barrier(stress_smr);
    for (int i = 0; i < NW * PER; i++)
        if (objs[i].magic != 0)
            retired++;
    cr_assert(retired == NW * PER);
    cr_assert(atomic_load(&violations) == 0, "%ld violations (reader saw a "
        "reclaimed object, or an fn ran twice)", atomic_load(&violations));
    cr_assert(atomic_load(&total) == NW * PER, "reclaimed %ld of %d",
        atomic_load(&total), NW * PER);
    assert_once(0, NW * PER);
    cr_assert(smr_retire_pending(stress_smr) == 0);
    smr_destroy(stress_smr);
    free(objs);
}

/* ------------------------------------------------------------------ */
/* The pending bound (SPEC §2)                                          */
/* ------------------------------------------------------------------ */

/*
 * A timed reader stalls reclamation.  Retiring from outside every section
 * past the cap blocks until the reader leaves; pending never exceeds
 * threads x BATCH + CAP (+ one batch in flight).  The hard bound is set
 * to the adaptive cap's floor, so the cap in force never rises above it.
 */
ALL_FLAGS(bound, blocks_outside_sections)
ParameterizedTest(int *flags, bound, blocks_outside_sections, .timeout = 60)
{
    smr_t s = mk("ret-bound", *flags);
    struct held h;
    const unsigned hold = 400;
    const size_t bound = 2 * BATCH + CAP + BATCH;
    uint64_t t0, longest = 0;
    int blocked_at = -1, n = CAP + 4 * BATCH;
    size_t peak = 0;

    cr_assert_eq(smr_retire_set_limits(s, CAP, 0), 0);
    held_start(&h, s, *flags, hold);
    watched = &h;
    t0 = now_ns();
    for (int i = 0; i < n; i++) {
        uint64_t a = now_ns(), d;
        retire_obj(s, i);
        d = now_ns() - a;
        if (d > longest)
            longest = d;
        if (blocked_at < 0 && d > 100 * MS) {
            blocked_at = i;
            cr_assert(atomic_load(&h.leaving) == 1,
                "retire %d blocked %llu ms but returned with the reader "
                "still inside", i, (unsigned long long)(d / MS));
        }
        size_t p = smr_retire_pending(s);
        if (p > peak)
            peak = p;
        cr_assert(p <= bound, "pending %zu > bound %zu after retire %d",
            p, bound, i);
    }
    cr_assert(blocked_at >= 0, "no retire blocked past the cap (peak "
        "pending %zu, longest call %llu ms)", peak,
        (unsigned long long)(longest / MS));
    cr_assert(blocked_at >= CAP - BATCH, "blocked at %d, before the cap",
        blocked_at);
    cr_assert(now_ns() - t0 >= (hold - 50) * MS);
    cr_assert(atomic_load(&violations) == 0);
    cr_assert(pthread_join(h.tid, NULL) == 0);
    smr_barrier(s);
    assert_once(0, n);
    watched = NULL;
    smr_destroy(s);
}

/*
 * The adaptive cap (SPEC §2): with the default limits, retiring as fast
 * as possible with no reader inside never waits, in any mode (a lazy
 * domain's goals expire only at a tick: a fixed cap of 4096 made it wait).
 */
ALL_FLAGS(bound, steady_retires_never_wait)
ParameterizedTest(int *flags, bound, steady_retires_never_wait,
    .timeout = 120)
{
    smr_t s = mk("ret-steady", *flags);
    struct smr_retire_stats st;
    const int n = NOBJ / 2;

    for (int i = 0; i < n; i++)
        retire_obj(s, i);
    smr_retire_stats(s, &st);
    cr_log_info("retire steady %s: sync %llu, cap in force %zu (raised %llu "
        "times), bound %zu", flags_name(*flags), (unsigned long long)
        st.sync_reclaims, st.pending_cap_now,
        (unsigned long long)st.cap_raises, st.pending_cap);
    cr_assert_eq(st.sync_reclaims, 0, "%llu retires waited with no reader",
        (unsigned long long)st.sync_reclaims);
    cr_assert_leq(st.pending_cap_now, st.pending_cap);
    smr_barrier(s);
    assert_once(0, n);
    smr_destroy(s);
}

/* A stuck reader with the default limits: pending never passes the
 * default bound (plus a batch or two), and retires past it wait. */
ALL_FLAGS(bound, stuck_reader_default_bound)
ParameterizedTest(int *flags, bound, stuck_reader_default_bound,
    .timeout = 120)
{
    smr_t s = mk("ret-stuck", *flags);
    const size_t bound = DEFCAP + 3 * BATCH;
    const int n = (int)DEFCAP + 16 * BATCH;
    struct smr_retire_stats st;
    struct held h;

    held_start(&h, s, *flags, 400);
    watched = &h;
    for (int i = 0; i < n; i++) {
        retire_obj(s, i);
        if ((i & 1023) == 0)
            cr_assert_leq(smr_retire_pending(s), bound, "pending %zu past "
                "the default bound (retire %d)", smr_retire_pending(s), i);
    }
    smr_retire_stats(s, &st);
    cr_assert_gt(st.sync_reclaims, 0, "no retire waited for the reader");
    cr_assert(pthread_join(h.tid, NULL) == 0);
    smr_barrier(s);
    assert_once(0, n);
    cr_assert(atomic_load(&violations) == 0);
    watched = NULL;
    smr_destroy(s);
}

/* Inside a section (of this domain, or of another), past the cap, retire
 * never blocks: pending may exceed the cap. */
static void
bound_inside(int flags, bool other_domain)
{
    smr_t s = mk("ret-inside", flags);
    smr_t o = mk("ret-other", 0);
    smr_t in = other_domain ? o : s;
    struct held h;
    const int n = 2 * CAP;
    uint64_t t0, el;

    held_start(&h, s, flags, 0);    /* stalls s for up to 10 s */
    watched = &h;
    sec_enter(in, other_domain ? 0 : flags);
    t0 = now_ns();
    for (int i = 0; i < n; i++)
        retire_obj(s, i);
    el = now_ns() - t0;
    cr_assert(smr_retire_pending(s) == (size_t)n,
        "pending %zu, want all %d (nothing can be reclaimed)",
        smr_retire_pending(s), n);
    sec_exit(in, other_domain ? 0 : flags);
    cr_assert(el < 2000 * MS, "retire inside a section took %llu ms",
        (unsigned long long)(el / MS));
    cr_assert(atomic_load(&total) == 0);
    held_stop(&h);
    smr_barrier(s);
    assert_once(0, n);
    cr_assert(atomic_load(&violations) == 0);
    watched = NULL;
    smr_destroy(s);
    smr_destroy(o);
}

ALL_FLAGS(bound, never_blocks_inside_own_section)
ParameterizedTest(int *flags, bound, never_blocks_inside_own_section,
    .timeout = 60)
{
    bound_inside(*flags, false);
}

Test(bound, never_blocks_inside_other_domain_section, .timeout = 60)
{
    bound_inside(0, true);
}

/* ------------------------------------------------------------------ */
/* Limits: pending_cap and SMR_RETIRE_NOWAIT (issue 14)                 */
/* ------------------------------------------------------------------ */

Test(limits, defaults_and_einval, .timeout = 30)
{
    smr_t s = mk("ret-lim", 0);
    struct smr_retire_stats st;

    smr_retire_stats(s, &st);
    cr_assert_eq(st.pending, 0);
    cr_assert_eq(st.pending_cap, DEFCAP);
    cr_assert_eq(st.pending_cap_now, (size_t)CAP, "the cap in force starts "
        "at the floor");
    cr_assert_eq(st.cap_raises, 0);
    cr_assert_eq(st.flags, 0);
    cr_assert_eq(st.sync_reclaims, 0);
    cr_assert_eq(st.nowait_over, 0);
    cr_assert_eq(smr_retire_set_limits(s, 64, 0x1), EINVAL);
    cr_assert_eq(smr_retire_set_limits(s, 64, SMR_RETIRE_NOWAIT), 0);
    smr_retire_stats(s, &st);
    cr_assert_eq(st.pending_cap, 64);
    cr_assert_eq(st.flags, SMR_RETIRE_NOWAIT);
    cr_assert_eq(smr_retire_set_limits(s, 0, 0), 0);
    smr_retire_stats(s, &st);
    cr_assert_eq(st.pending_cap, DEFCAP, "0 restores the default");
    cr_assert_eq(st.flags, 0);
    smr_destroy(s);
}

/*
 * A small cap makes a retire wait: with cap 64 and a reader inside,
 * retiring from outside every section blocks once the queue holds more
 * than 64 entries (the first full batch), not at 4096.  Limits set
 * before the first retire (no retire state yet) and after it both count.
 */
static void
small_cap(int flags, bool set_late)
{
    enum { SCAP = 64 };
    smr_t s = mk("ret-cap", flags);
    struct smr_retire_stats st;
    struct held h;
    const unsigned hold = 400;
    const int n = SCAP + 4 * BATCH;
    const size_t bound = BATCH + SCAP + BATCH;
    int blocked_at = -1;

    if (set_late) {
        retire_obj(s, 0);       /* creates the retire state first */
        smr_barrier(s);
    }
    cr_assert_eq(smr_retire_set_limits(s, SCAP, 0), 0);
    held_start(&h, s, flags, hold);
    watched = &h;
    for (int i = 1; i <= n; i++) {
        uint64_t a = now_ns();
        retire_obj(s, i);
        if (blocked_at < 0 && now_ns() - a > 100 * MS)
            blocked_at = i;
        cr_assert_leq(smr_retire_pending(s), bound,
            "pending %zu > bound %zu after retire %d",
            smr_retire_pending(s), bound, i);
    }
    cr_assert(blocked_at >= 0, "no retire waited past a cap of %d", SCAP);
    cr_assert(blocked_at <= SCAP + 2 * BATCH, "first wait at retire %d, "
        "past cap %d + 2 batches", blocked_at, SCAP);
    smr_retire_stats(s, &st);
    cr_assert_gt(st.sync_reclaims, 0);
    cr_assert_eq(st.nowait_over, 0);
    cr_assert(pthread_join(h.tid, NULL) == 0);
    smr_barrier(s);
    cr_assert_eq(smr_retire_pending(s), 0);
    assert_once(1, n + 1);
    cr_assert(atomic_load(&violations) == 0);
    watched = NULL;
    smr_destroy(s);
}

ALL_FLAGS(limits, small_cap_waits)
ParameterizedTest(int *flags, limits, small_cap_waits, .timeout = 60)
{
    small_cap(*flags, false);
}

Test(limits, small_cap_set_after_first_retire, .timeout = 60)
{
    small_cap(0, true);
}

/*
 * SMR_RETIRE_NOWAIT: a reader holds a section for NW_HOLD ms; a thread
 * outside every section retires 3 x the cap.  No retire waits (they all
 * return with the reader still inside), the overshoot is counted, nothing
 * is reclaimed early, and smr_barrier drains everything afterwards.
 */
enum { NW_HOLD = 500 };

static uint64_t
nowait_retires(smr_t s, int flags, size_t cap, int lo, int n,
    struct held *h)
{
    uint64_t t0;

    cr_assert_eq(smr_retire_set_limits(s, cap, SMR_RETIRE_NOWAIT), 0);
    held_start(h, s, flags, NW_HOLD);
    watched = h;
    t0 = now_ns();
    for (int i = lo; i < lo + n; i++)
        retire_obj(s, i);
    return now_ns() - t0;
}

static void
nowait(int flags, size_t cap)
{
    smr_t s = mk("ret-nowait", flags);
    struct smr_retire_stats st;
    struct held h;
    size_t eff = cap != 0 ? cap : DEFCAP;
    /* Past the hard bound, whatever the cap in force rose to meanwhile. */
    const int n = (int)(eff < 100000 ? 3 * eff : eff + 16 * BATCH);
    uint64_t el = nowait_retires(s, flags, cap, 0, n, &h);
    bool inside = atomic_load(&h.leaving) == 0;

    smr_retire_stats(s, &st);
    cr_log_info("retire nowait %s cap %zu: %d retires in %llu us, pending "
        "%zu, over %llu", flags_name(flags), eff, n,
        (unsigned long long)(el / 1000), st.pending,
        (unsigned long long)st.nowait_over);
    cr_assert(inside, "the reader left before the retires returned (%llu "
        "ms): they waited for it", (unsigned long long)(el / MS));
    cr_assert_lt(el, 250 * MS, "NOWAIT retires took %llu ms",
        (unsigned long long)(el / MS));
    cr_assert_eq(st.sync_reclaims, 0);
    cr_assert_gt(st.nowait_over, 0);
    cr_assert_eq(st.pending, (size_t)n, "pending %zu, want all %d",
        st.pending, n);
    cr_assert_eq(atomic_load(&total), 0);
    cr_assert(pthread_join(h.tid, NULL) == 0);
    smr_barrier(s);
    cr_assert_eq(smr_retire_pending(s), 0);
    assert_once(0, n);
    cr_assert(atomic_load(&violations) == 0);
    watched = NULL;
    smr_destroy(s);
}

ALL_FLAGS(limits, nowait_never_blocks)
ParameterizedTest(int *flags, limits, nowait_never_blocks, .timeout = 60)
{
    nowait(*flags, 0);
}

Test(limits, nowait_never_blocks_small_cap, .timeout = 60)
{
    nowait(0, 64);
}

/* In a child (stderr captured): two bursts past the cap, then drain. */
static void
nowait_child(void *arg)
{
    smr_t s;
    struct smr_retire_stats st;
    struct held h;

    if (arg != NULL)
        setenv("SMR_STALL_WARN_MS", arg, 1);
    s = mk("ret-nowait-dom", 0);
    (void)nowait_retires(s, 0, 64, 0, 3 * 64, &h);
    pthread_join(h.tid, NULL);
    (void)nowait_retires(s, 0, 64, 3 * 64, 3 * 64, &h);
    pthread_join(h.tid, NULL);
    smr_retire_stats(s, &st);
    if (st.nowait_over < 2)
        _exit(3);
    smr_barrier(s);
    if (smr_retire_pending(s) != 0)
        _exit(4);
    smr_destroy(s);
}

Test(limits, nowait_reported_once, .timeout = 60)
{
    char buf[8192];
    int status = child_stderr(nowait_child, NULL, buf, sizeof(buf));

    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 92,
        "child status %#x, stderr: %s", status, buf);
    cr_assert_eq(count_substr(buf, "SMR_RETIRE_NOWAIT"), 1,
        "want exactly one report, stderr: %s", buf);
    cr_assert_eq(count_substr(buf, "\n"), 1, "want one line, stderr: %s", buf);
    cr_assert_not_null(strstr(buf, "domain \"ret-nowait-dom\""), "%s", buf);
    cr_assert_not_null(strstr(buf, "smr_retire queue"), "%s", buf);
}

Test(limits, nowait_report_off_with_stall_warn_ms_0, .timeout = 60)
{
    char buf[8192];
    int status = child_stderr(nowait_child, "0", buf, sizeof(buf));

    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 92,
        "child status %#x, stderr: %s", status, buf);
    cr_assert_eq(buf[0], '\0', "SMR_STALL_WARN_MS=0, stderr: %s", buf);
}

/* ------------------------------------------------------------------ */
/* Callbacks                                                           */
/* ------------------------------------------------------------------ */

static smr_t cb_smr;
static atomic_int cb_stage2;

static void
stage2_fn(void *p)
{
    (void)p;
    atomic_fetch_add(&cb_stage2, 1);
}

/* A callback that retires again and inspects pending counts: no libsmr
 * lock may be held while it runs. */
static void
stage1_fn(void *p)
{
    (void)smr_retire_pending(cb_smr);
    smr_retire(cb_smr, p, stage2_fn);
    count_fn(p);
}

ALL_FLAGS(callback, may_retire_and_query)
ParameterizedTest(int *flags, callback, may_retire_and_query, .timeout = 30)
{
    const int n = 3 * BATCH + 1;

    cb_smr = mk("ret-cb", *flags);
    for (int i = 0; i < n; i++)
        smr_retire(cb_smr, &count[i], stage1_fn);
    smr_barrier(cb_smr);
    assert_once(0, n);
    smr_barrier(cb_smr);        /* the second stage, retired by callbacks */
    cr_assert(atomic_load(&cb_stage2) == n);
    cr_assert(smr_retire_pending(cb_smr) == 0);
    smr_destroy(cb_smr);
}

/*
 * A callback that retires onto many fresh domains makes the reclaiming
 * thread's cursor table overflow while the outer smr_retire is still
 * running: the outer call's own state must survive that.
 */
#define NFRESH 12
static smr_t fresh[NFRESH];
static atomic_int fanout_done;

static void
fanout_fn(void *p)
{
    if (atomic_exchange(&fanout_done, 1) == 0)
        for (int i = 0; i < NFRESH; i++)
            smr_retire(fresh[i], &count[1000 + i], count_fn);
    count_fn(p);
}

Test(callback, retires_on_many_domains, .timeout = 30)
{
    smr_t s = mk("ret-fanout", 0);

    for (int i = 0; i < NFRESH; i++)
        fresh[i] = mk("ret-fresh", 0);
    for (int i = 0; i < 3 * BATCH; i++)
        smr_retire(s, &count[i], fanout_fn);
    smr_barrier(s);
    assert_once(0, 3 * BATCH);
    cr_assert(atomic_load(&fanout_done) == 1);
    for (int i = 0; i < NFRESH; i++) {
        smr_barrier(fresh[i]);
        smr_destroy(fresh[i]);
    }
    assert_once(1000, 1000 + NFRESH);
    smr_destroy(s);
}

/* Callbacks may run inside the reclaiming thread's own section. */
Test(callback, run_inside_callers_section, .timeout = 30)
{
    smr_t s = mk("ret-cb-in", 0), o = mk("ret-cb-other", 0);

    smr_enter(o);
    for (int i = 0; i < 4 * BATCH; i++)
        retire_obj(s, i);   /* full batches, reclaimed by our own polls */
    smr_exit(o);
    smr_barrier(s);
    assert_once(0, 4 * BATCH);
    smr_destroy(s);
    smr_destroy(o);
}

/* ------------------------------------------------------------------ */
/* Lifecycles                                                          */
/* ------------------------------------------------------------------ */

Test(lifecycle, destroy_with_pending_retire_aborts, .signal = SIGABRT,
    .timeout = 30)
{
    smr_t s = mk("ret-doomed", 0);

    retire_obj(s, 0);
    smr_destroy(s);
}

Test(lifecycle, destroy_with_orphans_aborts, .signal = SIGABRT, .timeout = 30)
{
    smr_t s = mk("ret-doomed2", 0);
    struct worker gone;
    struct held h;

    held_start(&h, s, 0, 0);    /* so the orphans cannot be reclaimed */
    worker_start(&gone, s, 0, 3, false);
    pthread_join(gone.tid, NULL);
    held_stop(&h);
    smr_destroy(s);
}

/*
 * After smr_barrier the domain can be destroyed even though threads that
 * retired on it are still alive; a new domain (maybe at the same address)
 * starts clean.  Many domains per thread exercise the cursor table.
 */
ALL_FLAGS(lifecycle, destroy_after_barrier_and_reuse)
ParameterizedTest(int *flags, lifecycle, destroy_after_barrier_and_reuse,
    .timeout = 60)
{
    struct worker idle;
    int next = 0;

    for (int round = 0; round < 50; round++) {
        smr_t s = mk("ret-cycle", *flags);
        int lo = next;

        worker_start(&idle, s, next, 5, true);
        next += 5;
        for (int i = 0; i < 7; i++)
            retire_obj(s, next++);
        cr_assert(smr_retire_pending(s) + (size_t)(atomic_load(&total)) ==
            (size_t)next, "round %d: pending %zu", round,
            smr_retire_pending(s));
        smr_barrier(s);
        assert_once(lo, next);
        smr_destroy(s);
        worker_stop(&idle);
    }
    /* Twenty live domains at once from one thread (table growth). */
    smr_t d[20];
    for (int i = 0; i < 20; i++)
        d[i] = mk("ret-many", *flags);
    int lo = next;
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 20; i++)
            retire_obj(d[i], next++);
    for (int i = 0; i < 20; i++) {
        smr_barrier(d[i]);
        smr_destroy(d[i]);
    }
    assert_once(lo, next);
}

/* ------------------------------------------------------------------ */
/* Misuse (SPEC §4)                                                    */
/* ------------------------------------------------------------------ */

Test(misuse, barrier_inside_own_section_aborts, .signal = SIGABRT,
    .timeout = 30)
{
    smr_t s = mk("ret-misuse", 0);

    smr_enter(s);
    smr_barrier(s);
}

Test(misuse, barrier_inside_nested_lazy_section_aborts, .signal = SIGABRT,
    .timeout = 30)
{
    smr_t s = mk("ret-misuse-lazy", SMR_LAZY);

    smr_lazy_enter(s);
    smr_lazy_enter(s);
    smr_lazy_exit(s);
    smr_barrier(s);
}

Test(misuse, barrier_inside_own_section_nothing_pending_aborts,
    .signal = SIGABRT, .timeout = 30)
{
    smr_t s = mk("ret-misuse-empty", SMR_DEFERRED);

    retire_obj(s, 0);
    smr_barrier(s);             /* legal: outside */
    smr_enter(s);
    smr_barrier(s);             /* nothing pending, still misuse */
}

static smr_t misuse_smr;

static void
barrier_fn(void *p)
{
    (void)p;
    smr_barrier(misuse_smr);
}

Test(misuse, barrier_inside_callback_aborts, .signal = SIGABRT, .timeout = 30)
{
    misuse_smr = mk("ret-misuse-cb", 0);
    smr_retire(misuse_smr, NULL, barrier_fn);
    smr_barrier(misuse_smr);
}

Test(misuse, retire_null_fn_aborts, .signal = SIGABRT, .timeout = 30)
{
    smr_t s = mk("ret-misuse-null", 0);

    smr_retire(s, NULL, NULL);
}

static void
barrier_inside_child(void *arg)
{
    smr_t s = smr_create("named-dom", 0, 0);

    (void)arg;
    smr_enter(s);
    smr_barrier(s);
}

/* The abort message names the domain (run the misuse in a child). */
Test(misuse, barrier_message_names_domain, .timeout = 30)
{
    char buf[512];
    int st = child_stderr(barrier_inside_child, NULL, buf, sizeof(buf));

    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x", st);
    cr_assert(strstr(buf, "named-dom") != NULL &&
        strstr(buf, "smr_barrier") != NULL, "message: %s", buf);
}

/* ------------------------------------------------------------------ */
/* fork                                                                */
/* ------------------------------------------------------------------ */

/*
 * The child has only the forking thread: the partial batch of a live
 * thread in the parent (gone in the child) moves to the FIFO, and the
 * child's smr_barrier reclaims it along with the forking thread's own.
 */
ALL_FLAGS(fork, child_barrier_reclaims)
ParameterizedTest(int *flags, fork, child_barrier_reclaims, .timeout = 30)
{
    smr_t s = mk("ret-fork", *flags);
    struct worker idle;
    int st;
    pid_t pid;

    worker_start(&idle, s, 0, 10, true);
    for (int i = 10; i < 15; i++)
        retire_obj(s, i);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int bad = 0;
        smr_barrier(s);
        for (int i = 0; i < 15; i++)
            bad += atomic_load(&count[i]) != 1;
        bad += smr_retire_pending(s) != 0;
        /* The child can keep using the domain, and destroy it. */
        retire_obj(s, 20);
        smr_barrier(s);
        bad += atomic_load(&count[20]) != 1;
        smr_destroy(s);
        _exit(bad == 0 ? 0 : 1);
    }
    cr_assert(waitpid(pid, &st, 0) == pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
    /* The parent is unaffected: its own reclaim happens once here. */
    smr_barrier(s);
    assert_once(0, 15);
    worker_stop(&idle);
    smr_destroy(s);
}

/* ------------------------------------------------------------------ */
/* Lock-free appends and copy-out steals (R1, R8)                       */
/* ------------------------------------------------------------------ */

struct idle_owner {
    smr_t s;
    int lo, n;
    atomic_int done;
    atomic_int go_away;
};

static void *
idle_owner_main(void *arg)
{
    struct idle_owner *o = arg;

    for (int i = o->lo; i < o->lo + o->n; i++)
        retire_obj(o->s, i);
    atomic_store(&o->done, 1);
    while (!atomic_load(&o->go_away))
        usleep(1000);
    return NULL;
}

/*
 * A live thread retires into its batch (lock-free), then idles.
 * smr_barrier copies the entries out while the batch stays installed in
 * that thread's cursor; smr_destroy must then see nothing pending (the
 * installed batch holds the domain but no entry: retire.c frees it at
 * destroy) instead of aborting.
 */
ALL_FLAGS(steal, barrier_then_destroy_with_idle_owner)
ParameterizedTest(int *flags, steal, barrier_then_destroy_with_idle_owner,
    .timeout = 30)
{
    struct idle_owner o = { .s = mk("ret-steal", *flags), .lo = 300000,
        .n = 5 };
    pthread_t t;

    cr_assert(pthread_create(&t, NULL, idle_owner_main, &o) == 0);
    cr_assert(wait_flag(&o.done, 1, 5000));
    cr_assert_eq(smr_retire_pending(o.s), 5);
    smr_barrier(o.s);
    assert_once(o.lo, o.lo + o.n);
    cr_assert_eq(smr_retire_pending(o.s), 0);
    smr_destroy(o.s);           /* the owner is alive and idle */
    atomic_store(&o.go_away, 1);
    cr_assert(pthread_join(t, NULL) == 0);
}

/* The owner goes on retiring after a barrier copied its batch out: every
 * entry is reclaimed exactly once (the copied prefix is dropped, never
 * run twice). */
ALL_FLAGS(steal, owner_goes_on_after_barrier)
ParameterizedTest(int *flags, steal, owner_goes_on_after_barrier,
    .timeout = 30)
{
    smr_t s = mk("ret-steal2", *flags);
    const int lo = 310000;

    for (int k = 0; k < 40; k++) {
        for (int i = 0; i < 7; i++)
            retire_obj(s, lo + k * 7 + i);  /* partial batches */
        if (k % 3 == 0)
            smr_barrier(s);
    }
    smr_barrier(s);
    assert_once(lo, lo + 40 * 7);
    cr_assert_eq(smr_retire_pending(s), 0);
    smr_destroy(s);
}
