/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * Copyright (c) 2026 The libsmr developers
 *
 * smr_retire / smr_barrier: deferred reclamation of memory that is not
 * from a pool.  A client of the public SMR API (smr.h), as the pool is.
 *
 * ====================================================================
 * Theory of operation
 * ====================================================================
 *
 * Retired (ptr, fn) pairs collect in per-thread, per-domain batches.  A
 * batch is tagged with ONE smr_advance when it leaves its thread and joins
 * its domain's FIFO; any thread reclaims it (runs every fn) once
 * smr_poll(tag) says every section that could have seen its pointers has
 * ended.  There is no worker thread by default: smr_retire polls the FIFO
 * head, smr_barrier waits for it.  An optional background reclaimer
 * (src/reclaim.c, smr_reclaimer_start) runs smr__retire_round: it takes
 * partial batches older than a tick, as smr_barrier takes them, and
 * reclaims the FIFO when no writer calls in; each new batch kicks it once.
 *
 *   thread A  [cursor: partial batch] --full / older than a tick-----+
 *   thread B  [cursor: partial batch] --smr_barrier copies it out----+
 *   thread C  (exited)  ---------------thread-exit destructor--------+
 *                                                                    v
 *   domain record:  FIFO  head [tag t1][tag t2][tag t3] tail   (t1<=t2<=t3)
 *                           |
 *                           +-- smr_poll(t1) true: popped into a claim,
 *                               fn(ptr) run with no libsmr lock held
 *
 * Objects:
 *  - record (struct retire__rec): one per domain that has retire state,
 *    in a global registry keyed by the domain id (struct smr__domain_hot
 *    d_id, never reused: a new domain at the address of a destroyed one
 *    gets a new record).  It holds the FIFO, the list of attached cursors
 *    and the claims (batches popped and being reclaimed).
 *  - cursor (struct retire__cur): one per (thread, record); the thread's
 *    installed batch.  The owner appends to it with no lock and no
 *    read-modify-write: it writes the entry, then stores b_n with release.
 *    smr_barrier and the reclaimer take what is there under a tiny
 *    spinlock (c_lock) by copying the entries below an acquire load of b_n
 *    into a batch of their own and recording the copied prefix in b_taken;
 *    the owner drops that prefix under c_lock when it takes its batch
 *    back (retire__take_own: queueing it, thread exit, fork), and hands
 *    its whole batch over itself; the fork child takes dead threads'
 *    batches whole.
 *  - thread table (struct retire__thr): the thread's cursors by domain id,
 *    found through one __thread pointer; the last one found is also kept
 *    in an initial-exec (id, cursor) pair, retire__hot, for the fast path.
 *  - free list (r_free): a record's reclaimed, empty batches, reused for
 *    its next ones instead of malloc/free per batch (see "Batch memory").
 *
 * Invariants:
 *
 *  R1  Every retired entry is in exactly one place: the live part
 *      [b_taken, b_n) of a cursor's installed batch, a FIFO batch, or a
 *      claim.  It moves between them only with the locks of both places
 *      held (r_lock, then c_lock), never "in the hands" of a thread
 *      between two locks, so smr_barrier, the reclaimer and fork see
 *      every entry.  The owner's lock-free append makes an entry live by
 *      its release store of b_n; a stealer sees it by its acquire load
 *      (tests/model/steal.c checks that hand-off, the pool's too).
 *  R2  Each installed or queued batch holds its domain (smr__domain_hold
 *      when it is installed or copied into, smr__domain_release after its
 *      last fn ran and before its claim is dropped, or when an installed
 *      batch with no live entry goes back to the free list or is freed).  So smr_destroy with pending
 *      retires aborts (SPEC §4), an idle domain can be destroyed (first,
 *      smr_destroy frees installed batches whose every entry was copied
 *      out: retire__destroy_hook), and a record's r_smr is dereferenced
 *      only while a batch of it exists.
 *  R3  Tags are taken under r_lock by the thread that appends to the FIFO,
 *      so the FIFO is in smr_advance order: a reached tag means every
 *      earlier batch is reached too.  The unlink a retire follows happens
 *      before that advance: the retiring thread stored b_n with release
 *      after its entry, the queuing thread loaded b_n with acquire (a
 *      stealer) or is that thread (the owner) before smr_advance's full
 *      fence.
 *  R4  FIFO batches get serials 1, 2, ... (64-bit, never wrap).  A claim
 *      records the lowest serial it popped.  smr_barrier notes the last
 *      serial S after stealing every cursor's batch, and returns once no
 *      batch with serial <= S is in the FIFO or in a claim.
 *  R5  Callbacks run with no libsmr lock held (claims are reclaimed after
 *      r_lock is dropped), so a callback may retire, poll or take locks of
 *      its own.  A callback that calls smr_barrier on its own domain would
 *      wait for itself: that aborts.
 *  R6  Bound (SPEC §2): pending <= live threads x RETIRE__BATCH (cursors)
 *      + the cap (FIFO; plus one batch per thread queuing at once).  The
 *      cap is the domain's pending_cap (smr_retire_set_limits; default
 *      RETIRE__CAP), kept in the domain (struct smr__retire_conf, it lives
 *      as long as the domain) and mirrored in the record (r_cap).  A
 *      retire made outside every section that finds the FIFO past the
 *      cap waits for the head's tag and reclaims it; inside a section it
 *      never blocks, nor anywhere with SMR_RETIRE_NOWAIT (counted,
 *      reported once: pending is then unbounded while a reader stays in).
 *  R8  Kicks (src/reclaim.c).  The owner appends with no lock, and a
 *      stealer copies entries out while it may go on; a reclaimer that
 *      took everything then sleeps with no timeout.  For the first entry
 *      after that to wake it, the owner must see the steal: while a
 *      reclaimer runs on the domain (c_watch, set for every cursor at
 *      smr_reclaimer_start and cleared at stop), smr_retire appends under
 *      c_lock and kicks when the batch had no live entry (b_n ==
 *      b_taken).  An owner that had not yet seen c_watch set may append
 *      one lock-free entry more: every round that copied entries out, and
 *      the first round after a start, looks again a tick later
 *      (r_recheck), so such an entry waits a tick, not forever.  Without
 *      a reclaimer nobody sleeps on the cursors: smr_barrier copies out
 *      what was retired before it (acquire on b_n), and that is all it
 *      needs.
 *  R7  A record is freed when it has no cursor, no FIFO batch, no claim
 *      and no temporary reference (retire__lock + r_lock held).  Idle
 *      cursors are evicted from a full thread table, so a long-lived
 *      thread does not keep one cursor per domain it ever retired on; but
 *      never while the thread runs callbacks, so an smr_retire call's own
 *      cursor (hence its record) lives until the call returns.
 *
 * Lock order: retire__lock, then r_lock (records in registry order), then
 * c_lock (cursors in record order), then the core's locks (smr_advance,
 * smr_poll under r_lock).  The core never calls back in here.  Our atfork
 * handlers are registered after the core's (a retire needs a domain), so
 * prepare takes ours before the core's and the child handler runs after
 * the core has re-initialised its own.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smr.h"
#include "reclaim.h"
#include "smr_util.h"

/* ---- atomics with the order in the name (STYLE.md 5) ------------------ */
#define atomic_load_rlx(p)      __atomic_load_n((p), __ATOMIC_RELAXED)
#define atomic_load_acq(p)      __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define atomic_store_rlx(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define atomic_store_rel(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define atomic_xchg_acq(p, v)   __atomic_exchange_n((p), (v), __ATOMIC_ACQUIRE)

/* ---- tunables --------------------------------------------------------- */
#define RETIRE__BATCH   128u            /* entries per batch */
#define RETIRE__CAP     ((size_t)SMR_RETIRE_CAP_DEFAULT)  /* FIFO entries
                                         * before sync reclaim (default) */
#define RETIRE__WHO     "smr_retire queue"  /* in stall reports */
#define RETIRE__TICK_NS 1000000u        /* partial batch age that queues it */
#define RETIRE__POLL_NS 50000u          /* min gap between failing polls */
#define RETIRE__TCAP0   8u              /* initial thread-table capacity */
#define RETIRE__CALLS   16u             /* retires between timed checks (a
                                         * fast retirer: one per batch) */
#define RETIRE__FREE    8u              /* empty batches kept, at least */

/* ---- objects ---------------------------------------------------------- */

struct retire__ent {
    void *ptr;
    void (*fn)(void *ptr);
};

struct retire__batch {
    struct retire__batch *b_next;   /* FIFO or claim list */
    uint64_t b_serial;              /* FIFO position (R4) */
    uint64_t b_born;                /* ns: oldest live entry at most this
                                     * old (tick rule); relaxed, written
                                     * by the owner at install, by a
                                     * stealer (under c_lock) after it
                                     * copied entries out */
    smr_seq_t b_tag;                /* smr_advance at queue time */
    uint64_t b_qt;                  /* ns: queue time (the adaptive cap) */
    uint32_t b_n;                   /* owner: release store (R1) */
    uint32_t b_taken;               /* installed batch: entries [0, b_taken)
                                     * were copied out by a stealer; c_lock */
    struct retire__ent b_ent[RETIRE__BATCH];
};

struct retire__rec;
struct retire__thr;

struct retire__cur {
    uint32_t c_lock;                /* spinlock: owner's slow path vs
                                     * barrier, reclaimer, exit, fork */
    uint32_t c_cd;                  /* owner only: fast retires until the
                                     * next slow path (the tick, the hint) */
    uint32_t c_watch;               /* a reclaimer runs (R8): relaxed,
                                     * written under r_lock */
    struct retire__batch *c_batch;  /* installed batch (holds the domain,
                                     * R2); the owner installs and removes
                                     * it under c_lock, reads it without */
    struct retire__batch *c_spare;  /* owner only: allocated, not installed */
    struct retire__rec *c_rec;      /* fixed while attached */
    struct retire__cur *c_next;     /* record's cursor list (r_lock) */
    struct retire__cur *c_prev;
    uint64_t c_next_poll;           /* owner only: ns */
    uint64_t c_now;                 /* owner only: its last clock read */
};

/* Batches popped from the FIFO and being reclaimed by one thread. */
struct retire__claim {
    struct retire__claim *k_next;   /* record's claim list (r_lock) */
    struct retire__claim *k_up;     /* this thread's active claims (TLS) */
    struct retire__rec *k_rec;
    pthread_t k_owner;
    uint64_t k_lo;                  /* lowest serial popped (R4) */
    size_t k_nbatch;                /* holds to release (R2) */
    size_t k_nent;
    struct retire__batch *k_list;   /* owner only (to the free list as
                                     * they run) */
};

struct retire__rec {
    struct retire__rec *r_next;     /* registry (retire__lock) */
    struct retire__rec *r_prev;
    uint64_t r_id;                  /* domain id: never reused */
    smr_t r_smr;                    /* valid while a batch exists (R2) */
    pthread_mutex_t r_lock;
    pthread_cond_t r_cv;            /* a claim finished (barrier waits) */
    /* r_lock: */
    struct retire__cur *r_curs;
    uint32_t r_ncur;
    uint32_t r_refs;                /* temporary references (barrier) */
    uint32_t r_waiters;             /* barriers in pthread_cond_wait */
    bool r_recheck;                 /* the reclaimer looks again (R8) */
    struct retire__batch *r_head, *r_tail;
    uint64_t r_serial;              /* last serial handed out */
    struct retire__claim *r_claims;
    size_t r_cent;                  /* entries in claims */
    struct retire__batch *r_free;   /* empty batches, for reuse (below) */
    uint32_t r_nfree;
    /* Written under r_lock, read without it on every retire (hints).
     * r_hint is a goal that is polled: release store, acquire load
     * (retire__hint_locked). */
    smr_seq_t r_hint __attribute__((aligned(SMR__CACHE_LINE)));
    size_t r_qent;                  /* entries in the FIFO */
    uint64_t r_head_qt;             /* the head's b_qt, 0: empty */
    /* The domain's limits (R6), written under retire__lock and r_lock,
     * read relaxed as hints (no partner): r_qent's line, so the check on
     * every retire costs no extra miss.  r_cap is the adaptive cap
     * (src/smr_util.h): its hard bound is the domain's pending_cap, its
     * window is kept under r_lock. */
    bool r_nowait;
    uint64_t r_budget_ns;           /* the domain's grace budget */
    struct smr__cap r_cap;
};

struct retire__thr {
    struct retire__thr *t_next;     /* registry (retire__lock) */
    struct retire__thr *t_prev;
    uint32_t t_n, t_cap;
    struct {
        uint64_t id;
        struct retire__cur *cur;
    } *t_ent;                       /* owner reads; changed under retire__lock */
};

/* ---- globals ---------------------------------------------------------- */

static pthread_mutex_t retire__lock = PTHREAD_MUTEX_INITIALIZER;
static struct retire__rec *retire__recs;   /* retire__lock */
static struct retire__thr *retire__thrs;   /* retire__lock */
static pthread_once_t retire__once = PTHREAD_ONCE_INIT;
static pthread_key_t retire__key;
static int retire__once_err;

/* Initial-exec, as the core's and the pool's (no __tls_get_addr call on
 * the retire fast path). */
static __thread struct retire__thr *retire__self
    __attribute__((tls_model("initial-exec")));
static __thread struct retire__claim *retire__claims
    __attribute__((tls_model("initial-exec")));
/* The thread's last cursor found, for smr_retire's fast path: the id and
 * the cursor load from the thread pointer side by side, where walking
 * retire__self's table was three dependent loads.  h_id 0 (no domain has
 * id 0): none.  Cleared when that cursor goes (eviction, thread exit);
 * only this thread reads or writes it. */
static __thread struct {
    uint64_t h_id;
    struct retire__cur *h_cur;
} retire__hot __attribute__((tls_model("initial-exec")));

static void retire__thread_exit(void *arg);
static void retire__atfork_prepare(void);
static void retire__atfork_parent(void);
static void retire__atfork_child(void);

static void retire__destroy_hook(smr_t smr);

static void
retire__init_once(void)
{
    /* Release: partner of the acquire load in smr_destroy. */
    __atomic_store_n(&smr__retire_fini, retire__destroy_hook,
        __ATOMIC_RELEASE);
    retire__once_err = pthread_key_create(&retire__key, retire__thread_exit);
    if (retire__once_err == 0)
        retire__once_err = pthread_atfork(retire__atfork_prepare,
            retire__atfork_parent, retire__atfork_child);
}

static bool
retire__init(void)
{
    return pthread_once(&retire__once, retire__init_once) == 0 &&
        retire__once_err == 0;
}

/* ---- helpers ---------------------------------------------------------- */

__attribute__((noreturn, cold, format(printf, 2, 3)))
static void
retire__die(smr_t smr, const char *fmt, ...)
{
    /* smr_name validates the domain (and aborts itself on a stray one). */
    const char *name = smr_name(smr);
    va_list ap;

    va_start(ap, fmt);
    smr__vsay("domain", name, "misuse", fmt, ap);
    va_end(ap);
    abort();
}

__attribute__((cold, format(printf, 2, 3)))
static void
retire__warn(smr_t smr, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    smr__vsay("domain", smr_name(smr), "warning", fmt, ap);
    va_end(ap);
}

/* The domain id of the public header's domain head: never reused (the
 * core's own per-thread tables are keyed by it, smr.c I7). */
static inline uint64_t
retire__id(smr_t smr)
{
    return ((const struct smr__domain_hot *)smr)->d_id;
}

/*
 * Cursor spinlock.  Held for a few instructions (append, or swap the batch
 * pointer) and never across a call that can block, so waiters spin, then
 * yield.  Acquire exchange pairs with the release store in unlock: the
 * owner's appends (and the unlink before each retire) happen before a
 * stealer's use of the batch (R3).
 */
static inline void
retire__spin_lock(uint32_t *l)
{
    unsigned n = 0;

    while (atomic_xchg_acq(l, 1) != 0) {
        while (atomic_load_rlx(l) != 0) {
            if (++n < 128)
                smr__cpu_relax();
            else
                sched_yield();
        }
    }
}

static inline void
retire__spin_unlock(uint32_t *l)
{
    atomic_store_rel(l, 0);   /* partner: acquire exchange in spin_lock */
}

/*
 * Batch memory.  A batch is about 2 KiB (128 entries): too big for glibc's tcache and
 * past its small-bin range, so each malloc of one consolidates the fast
 * bins, which the callbacks (free) have just filled with retired objects,
 * and a free of one coalesces.  Measured (bench_pool, glibc 2.x): that
 * was the larger part of smr_retire's cost over ck_epoch_call.  So a
 * reclaimed batch goes to the record's free list (r_lock held; it holds
 * no entry and no hold: R1 and R2 are about entries) and comes back to an
 * owner when it queues its batch (retire__queue_cur, under the r_lock it
 * takes anyway) or to a stealer.  The list keeps at most what the FIFO
 * may hold now, the adaptive cap in batches (at least RETIRE__FREE): a
 * burst that raised the cap is served again from the list, and when the
 * cap decays the list is trimmed (retire__reclaim).  It goes with the
 * record.
 */
static uint32_t
retire__keep(const struct retire__rec *r)
{
    size_t k = smr__cap_now(&r->r_cap) / RETIRE__BATCH;     /* a hint */

    return k > RETIRE__FREE ? (k < UINT32_MAX ? (uint32_t)k : UINT32_MAX) :
        RETIRE__FREE;
}

static void
retire__batch_put_locked(struct retire__rec *r, struct retire__batch *b)
{
    if (r->r_nfree >= retire__keep(r)) {
        free(b);
        return;
    }
    b->b_next = r->r_free;
    r->r_free = b;
    r->r_nfree++;
}

static struct retire__batch *
retire__batch_get_locked(struct retire__rec *r)
{
    struct retire__batch *b = r->r_free;

    if (b == NULL)
        return malloc(sizeof(*b));
    r->r_free = b->b_next;
    r->r_nfree--;
    return b;
}

/*
 * Point the hint at the FIFO head; r_lock held.  A hint only: the reader
 * re-decides under r_lock.  But it polls the hint first, and smr_poll
 * judges a goal against the clock it loads, so release: partner of the
 * acquire load of r_hint in smr_retire.  The advance that made the tag
 * (ours in retire__enqueue_locked, or an earlier r_lock holder's) happens
 * before any poll of it, so the poller's clock load sees that advance's
 * write or a later one, and the tag is never taken for a goal not handed
 * out (abort; SMR_SEQ32: a spurious "reached").  Cost: a plain move on
 * x86, stlr on arm64.
 */
static void
retire__hint_locked(struct retire__rec *r)
{
    atomic_store_rel(&r->r_hint,
        r->r_head != NULL ? r->r_head->b_tag : (smr_seq_t)SMR_SEQ_INVALID);
    atomic_store_rlx(&r->r_head_qt,
        r->r_head != NULL ? r->r_head->b_qt : 0);   /* hint, no partner */
}

/*
 * Tag a list of non-empty batches with one smr_advance and append them to
 * the FIFO; r_lock held, and the batches were just taken from cursors under
 * their c_lock (R1, R3).  now: the caller's clock read (the queue time;
 * no read of our own, it costs as much as the rest of a queueing).
 */
static void
retire__enqueue_locked(struct retire__rec *r, struct retire__batch *list,
    uint64_t now)
{
    smr_seq_t tag;
    size_t n = 0;

    if (list == NULL)
        return;
    /* smr_advance's full fence orders every appended retire (and the
     * unlink before it) before the clock moves; partner: smr_enter's
     * store->load fence (smr.c I2). */
    tag = smr_advance(r->r_smr);
    while (list != NULL) {
        struct retire__batch *b = list;

        list = b->b_next;
        b->b_next = NULL;
        b->b_tag = tag;
        b->b_qt = now;
        b->b_serial = ++r->r_serial;
        n += b->b_n;
        if (r->r_tail != NULL)
            r->r_tail->b_next = b;
        else
            r->r_head = b;
        r->r_tail = b;
    }
    /* Relaxed: read as a hint by the bound check (R6). */
    atomic_store_rlx(&r->r_qent, atomic_load_rlx(&r->r_qent) + n);
    retire__hint_locked(r);
    smr__cap_note(&r->r_cap, atomic_load_rlx(&r->r_qent), now);
}

/* Drop the prefix a stealer copied out of an installed batch (c_lock
 * held, by the owner or with the owner gone): the one place b_n shrinks. */
static void
retire__untake_locked(struct retire__batch *b)
{
    uint32_t t = b->b_taken;

    if (t == 0)
        return;
    memmove(b->b_ent, b->b_ent + t, (b->b_n - t) * sizeof(b->b_ent[0]));
    b->b_n -= t;
    b->b_taken = 0;
}

/*
 * Take a cursor's whole batch, by its owner (queueing it, thread exit) or
 * with the owner gone (fork child); r_lock held (R1).  NULL if it holds
 * no entry; an installed batch with none left goes to the free list here
 * and its hold is released (R2).
 */
static struct retire__batch *
retire__take_own_locked(struct retire__rec *r, struct retire__cur *c)
{
    struct retire__batch *b;

    retire__spin_lock(&c->c_lock);
    b = c->c_batch;
    if (b != NULL) {
        retire__untake_locked(b);
        /* Relaxed: the owner reads c_batch without the lock; only it (or
         * nobody, with it gone) uses the cursor meanwhile. */
        atomic_store_rlx(&c->c_batch, NULL);
    }
    retire__spin_unlock(&c->c_lock);
    if (b != NULL && b->b_n == 0) {
        smr__domain_release(r->r_smr);
        retire__batch_put_locked(r, b);
        b = NULL;
    }
    if (b != NULL)
        b->b_next = NULL;
    return b;
}

/*
 * Copy the entries of c's installed batch that no one took yet into nb (a
 * batch the caller allocated), while its owner may go on retiring into
 * it; r_lock held (smr_barrier, the reclaimer).  The owner appends with
 * no lock: it writes b_ent[n], then stores b_n = n + 1 with release; our
 * acquire load of b_n makes every entry below it (and the unlink before
 * each retire) happen before our use, and before the smr_advance that
 * tags nb (R3; tests/model/steal.c).  We never write the owner's b_n or
 * b_ent: the copied prefix is b_taken, dropped by the owner under c_lock
 * (retire__untake_locked).  nb takes its own hold (R2).  Returns nb if
 * it got entries, else NULL (the caller puts nb back).  born: entries older
 * than this only (0: all).
 */
static struct retire__batch *
retire__take_live_locked(struct retire__rec *r, struct retire__cur *c,
    struct retire__batch *nb, uint64_t born, uint64_t now)
{
    struct retire__batch *b;
    uint64_t b0 = 0;
    uint32_t n = 0, t = 0;

    retire__spin_lock(&c->c_lock);
    b = c->c_batch;
    if (b != NULL) {
        b0 = atomic_load_rlx(&b->b_born);   /* no partner: a time */
        if (born != 0 && b0 > born)
            b = NULL;                       /* younger than asked */
    }
    if (b != NULL) {
        /* Acquire: partner of the owner's release stores of b_n. */
        n = atomic_load_acq(&b->b_n);
        t = b->b_taken;
        if (n > t) {
            memcpy(nb->b_ent, b->b_ent + t, (n - t) * sizeof(b->b_ent[0]));
            b->b_taken = n;
            /* What is left to come is younger than now: the next steal
             * waits a tick (no storm of one-entry batches). */
            atomic_store_rlx(&b->b_born, now);
        }
    }
    retire__spin_unlock(&c->c_lock);
    if (n <= t)
        return NULL;
    smr__domain_hold(r->r_smr);
    nb->b_next = NULL;
    nb->b_n = n - t;
    nb->b_taken = 0;
    nb->b_born = b0;
    return nb;
}

/* Entries of c's installed batch that no one took yet (r_lock held). */
static uint32_t
retire__live_locked(struct retire__cur *c)
{
    struct retire__batch *b;
    uint32_t n = 0;

    retire__spin_lock(&c->c_lock);
    b = c->c_batch;
    if (b != NULL)
        n = atomic_load_acq(&b->b_n) - b->b_taken;   /* as take_live */
    retire__spin_unlock(&c->c_lock);
    return n;
}

static bool
retire__rec_idle_locked(const struct retire__rec *r)
{
    return r->r_ncur == 0 && r->r_refs == 0 && r->r_head == NULL &&
        r->r_claims == NULL;
}

/* Free r if idle (R7); retire__lock and r_lock held.  Returns true if it
 * was freed (r_lock gone with it). */
static bool
retire__rec_maybe_free_locked(struct retire__rec *r)
{
    if (!retire__rec_idle_locked(r))
        return false;
    SMR__DLIST_UNLINK(&retire__recs, r, r_next, r_prev);
    pthread_mutex_unlock(&r->r_lock);
    pthread_mutex_destroy(&r->r_lock);
    pthread_cond_destroy(&r->r_cv);
    while (r->r_free != NULL) {
        struct retire__batch *b = r->r_free;

        r->r_free = b->b_next;
        free(b);
    }
    free(r);
    return true;
}

/* Drop a temporary reference (taken under r_lock). */
static void
retire__rec_unref(struct retire__rec *r)
{
    pthread_mutex_lock(&retire__lock);
    pthread_mutex_lock(&r->r_lock);
    r->r_refs--;
    if (!retire__rec_maybe_free_locked(r))
        pthread_mutex_unlock(&r->r_lock);
    pthread_mutex_unlock(&retire__lock);
}

/* The record of a domain, or NULL; retire__lock held. */
static struct retire__rec *
retire__rec_find(uint64_t id)
{
    for (struct retire__rec *r = retire__recs; r != NULL; r = r->r_next)
        if (r->r_id == id)
            return r;
    return NULL;
}

/* ---- reclaiming ------------------------------------------------------- */

/*
 * Pop the FIFO head while its serial is <= upto and its tag is reached,
 * then run the popped entries with no lock held (R5).  Returns the number
 * of batches reclaimed.  Called with no lock held.
 */
static size_t
retire__reclaim(struct retire__rec *r, uint64_t upto)
{
    struct retire__claim k, **kp;
    struct retire__batch *b, **tail = &k.k_list, *done = NULL;
    size_t nb = 0;
    smr_t smr;
    bool idle;

    memset(&k, 0, sizeof(k));
    pthread_mutex_lock(&r->r_lock);
    smr = r->r_smr;
    /* A head batch exists, so smr is live (R2).  smr_poll returns true
     * with an acquire fence after its slot loads: our fn calls below are
     * ordered after every section it saw end (SPEC §3). */
    while ((b = r->r_head) != NULL && b->b_serial <= upto &&
        smr__poll_for(smr, b->b_tag, RETIRE__WHO, NULL)) {
        r->r_head = b->b_next;
        if (r->r_head == NULL)
            r->r_tail = NULL;
        b->b_next = NULL;
        if (nb++ == 0)
            k.k_lo = b->b_serial;
        k.k_nent += b->b_n;
        *tail = b;
        tail = &b->b_next;
    }
    if (nb == 0) {
        pthread_mutex_unlock(&r->r_lock);
        return 0;
    }
    retire__hint_locked(r);
    atomic_store_rlx(&r->r_qent, atomic_load_rlx(&r->r_qent) - k.k_nent);
    r->r_cent += k.k_nent;
    k.k_nbatch = nb;
    k.k_rec = r;
    k.k_owner = pthread_self();
    k.k_next = r->r_claims;
    r->r_claims = &k;
    pthread_mutex_unlock(&r->r_lock);

    k.k_up = retire__claims;
    retire__claims = &k;
    while ((b = k.k_list) != NULL) {
        k.k_list = b->b_next;
        for (uint32_t i = 0; i < b->b_n; i++)
            b->b_ent[i].fn(b->b_ent[i].ptr);
        b->b_next = done;       /* empty now: memory for the free list */
        done = b;
    }
    retire__claims = k.k_up;

    pthread_mutex_lock(&r->r_lock);
    /* Keep the run batches for reuse; what the list holds past
     * retire__keep (the cap decayed) is freed below, with no lock. */
    if (done != NULL) {
        uint32_t keep = retire__keep(r);

        for (b = done; b->b_next != NULL; b = b->b_next)
            r->r_nfree++;
        r->r_nfree++;
        b->b_next = r->r_free;
        r->r_free = done;
        done = NULL;
        while (r->r_nfree > keep) {
            b = r->r_free;
            r->r_free = b->b_next;
            r->r_nfree--;
            b->b_next = done;
            done = b;
        }
    }
    /* Release the holds (R2) under r_lock, together with dropping the
     * claim: a barrier that sees the claim gone may let its caller destroy
     * the domain at once, and a fork child sees either both or neither. */
    for (size_t i = 0; i < nb; i++)
        smr__domain_release(smr);
    for (kp = &r->r_claims; *kp != &k; kp = &(*kp)->k_next)
        ;
    *kp = k.k_next;
    r->r_cent -= k.k_nent;
    if (r->r_waiters != 0)
        pthread_cond_broadcast(&r->r_cv);
    /* Last trace of a record whose threads are gone (orphans): free it,
     * through a reference so that it stays put while we relock (R7). */
    idle = r->r_ncur == 0 && r->r_head == NULL && r->r_claims == NULL;
    if (idle)
        r->r_refs++;
    pthread_mutex_unlock(&r->r_lock);
    while ((b = done) != NULL) {
        done = b->b_next;
        free(b);
    }
    if (idle)
        retire__rec_unref(r);
    return nb;
}

/* A SMR_RETIRE_NOWAIT retire past the cap: count it; the first one per
 * domain says so on stderr (unless the domain's reports are off). */
static __attribute__((cold, noinline)) void
retire__nowait_over(smr_t smr, size_t cap)
{
    struct smr__retire_conf *rc = smr__retire_conf(smr);

    /* Statistics only: relaxed, no partner; the exchange elects the one
     * reporter. */
    __atomic_fetch_add(&rc->rc_over, 1, __ATOMIC_RELAXED);
    if (atomic_load_rlx(&rc->rc_reported) == 0 &&
        __atomic_exchange_n(&rc->rc_reported, 1, __ATOMIC_RELAXED) == 0 &&
        smr__reports_on(smr))
        retire__warn(smr, "%s: pending past the cap (%zu) and "
            "SMR_RETIRE_NOWAIT: retires do not wait; pending is unbounded "
            "while a reader stays inside (reported once; see "
            "smr_retire_stats)", RETIRE__WHO, cap);
}

/* Past the cap (R6): outside every section, wait for the head and reclaim
 * until the FIFO is back under the cap.  Inside a section: never block;
 * SMR_RETIRE_NOWAIT: never at all. */
static void
retire__bound(struct retire__rec *r, smr_t smr)
{
    size_t cap = smr__cap_now(&r->r_cap);      /* hint (no partner) */
    uint64_t qt = atomic_load_rlx(&r->r_head_qt), now = smr__now_ns();
    bool waited = false;

    /* The free rate, not a reader, filled the queue (its head is younger
     * than the domain's grace budget): raise the cap, do not wait. */
    if (smr__cap_raise(&r->r_cap, cap, qt != 0 && now > qt ? now - qt : 0,
        atomic_load_rlx(&r->r_budget_ns)))
        return;
    if (atomic_load_rlx(&r->r_nowait)) {
        retire__nowait_over(smr, cap);
        return;
    }
    if (smr_entered(smr) || smr_entered_any())
        return;
    while (atomic_load_rlx(&r->r_qent) > cap) {
        smr_seq_t tag;

        pthread_mutex_lock(&r->r_lock);
        if (r->r_head == NULL) {
            pthread_mutex_unlock(&r->r_lock);
            break;
        }
        tag = r->r_head->b_tag;
        pthread_mutex_unlock(&r->r_lock);
        /* Outside every section smr_wait returns true; should it ever
         * not, give up on the bound rather than spin. */
        if (!smr__wait_for(smr, tag, RETIRE__WHO, NULL))
            break;
        waited = true;
        (void)retire__reclaim(r, UINT64_MAX);
    }
    if (waited)     /* statistics: relaxed, no partner */
        __atomic_fetch_add(&smr__retire_conf(smr)->rc_sync, 1,
            __ATOMIC_RELAXED);
}

/* Mirror the domain's limits in r (R6); retire__lock held (every writer
 * of the domain's limits holds it), and r_lock or r not yet shared. */
static void
retire__limits_locked(struct retire__rec *r, struct smr__retire_conf *rc)
{
    size_t cap = atomic_load_rlx(&rc->rc_cap);

    smr__cap_init(&r->r_cap, cap != 0 ? cap : RETIRE__CAP);
    atomic_store_rlx(&r->r_budget_ns, smr__grace_budget_ns(r->r_smr));
    atomic_store_rlx(&r->r_nowait,
        (atomic_load_rlx(&rc->rc_flags) & SMR_RETIRE_NOWAIT) != 0);
}

/* ---- per-thread cursors ----------------------------------------------- */

/* Detach and free a cursor whose batch is gone; retire__lock held. */
static void
retire__cur_free_locked(struct retire__cur *c)
{
    struct retire__rec *r = c->c_rec;

    pthread_mutex_lock(&r->r_lock);
    SMR__DLIST_UNLINK(&r->r_curs, c, c_next, c_prev);
    r->r_ncur--;
    if (!retire__rec_maybe_free_locked(r))
        pthread_mutex_unlock(&r->r_lock);
    free(c->c_spare);
    free(c);
}

/*
 * Make room in the calling thread's table; retire__lock held.  Cursors
 * with no batch are evicted first (R7): the owner is the only one that
 * installs a batch, so one found empty here stays empty.  Not from inside
 * a callback: an outer smr_retire of this thread is still running, and its
 * cursor is what keeps its record alive.
 */
static bool
retire__thr_room_locked(struct retire__thr *t)
{
    uint32_t j = 0;

    if (t->t_n < t->t_cap)
        return true;
    for (uint32_t i = 0; i < t->t_n; i++) {
        struct retire__cur *c = t->t_ent[i].cur;

        if (retire__claims == NULL && atomic_load_rlx(&c->c_batch) == NULL) {
            /* Relaxed: only the owner (us) makes it non-NULL. */
            if (retire__hot.h_cur == c) {
                retire__hot.h_id = 0;
                retire__hot.h_cur = NULL;
            }
            retire__cur_free_locked(c);
            continue;
        }
        t->t_ent[j++] = t->t_ent[i];
    }
    t->t_n = j;
    if (t->t_n < t->t_cap / 2)
        return true;
    void *ne = realloc(t->t_ent, 2 * t->t_cap * sizeof(t->t_ent[0]));
    if (ne == NULL)
        return t->t_n < t->t_cap;
    t->t_ent = ne;
    t->t_cap *= 2;
    return true;
}

/* The calling thread's cursor on smr, created on first use.  NULL on
 * ENOMEM.  Out of line: smr_retire's fast path then saves no registers
 * it only needs here. */
static __attribute__((noinline, cold)) struct retire__cur *
retire__cur_slow(smr_t smr, uint64_t id)
{
    struct retire__thr *t;
    struct retire__rec *r;
    struct retire__cur *c;

    (void)smr_name(smr);    /* validates: a stray pointer aborts here */
    if (!retire__init())
        return NULL;
    pthread_mutex_lock(&retire__lock);
    t = retire__self;
    if (t == NULL) {
        t = calloc(1, sizeof(*t));
        if (t == NULL)
            goto fail;
        t->t_ent = calloc(RETIRE__TCAP0, sizeof(t->t_ent[0]));
        if (t->t_ent == NULL || pthread_setspecific(retire__key, t) != 0) {
            free(t->t_ent);
            free(t);
            goto fail;
        }
        t->t_cap = RETIRE__TCAP0;
        SMR__DLIST_PUSH(&retire__thrs, t, t_next, t_prev);
        retire__self = t;
    }
    if (!retire__thr_room_locked(t))
        goto fail;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto fail;
    r = retire__rec_find(id);
    if (r == NULL) {
        /* Aligned: r_hint has a cache line of its own. */
        if (posix_memalign((void **)&r, SMR__CACHE_LINE, sizeof(*r)) != 0) {
            free(c);
            goto fail;
        }
        memset(r, 0, sizeof(*r));
        r->r_id = id;
        r->r_smr = smr;
        retire__limits_locked(r, smr__retire_conf(smr));
        pthread_mutex_init(&r->r_lock, NULL);
        pthread_cond_init(&r->r_cv, NULL);
        SMR__DLIST_PUSH(&retire__recs, r, r_next, r_prev);
    }
    pthread_mutex_lock(&r->r_lock);
    /* Same id, same live domain: a record that outlived its domain (no
     * batch, R2) cannot have this id again. */
    r->r_smr = smr;
    c->c_rec = r;
    /* R8: relaxed; retire__lock orders it against smr__retire_watch. */
    atomic_store_rlx(&c->c_watch,
        atomic_load_rlx(&smr__retire_conf(smr)->rc_watched));
    SMR__DLIST_PUSH(&r->r_curs, c, c_next, c_prev);
    r->r_ncur++;
    pthread_mutex_unlock(&r->r_lock);
    t->t_ent[t->t_n].id = id;
    t->t_ent[t->t_n].cur = c;
    t->t_n++;
    retire__hot.h_id = id;
    retire__hot.h_cur = c;
    pthread_mutex_unlock(&retire__lock);
    return c;
fail:
    pthread_mutex_unlock(&retire__lock);
    return NULL;
}

/* The calling thread's cursor on another domain than its last one. */
static __attribute__((noinline)) struct retire__cur *
retire__cur_find(smr_t smr, uint64_t id)
{
    struct retire__thr *t = retire__self;

    if (t != NULL) {
        for (uint32_t i = 0; i < t->t_n; i++)
            if (t->t_ent[i].id == id) {
                retire__hot.h_id = id;
                retire__hot.h_cur = t->t_ent[i].cur;
                return t->t_ent[i].cur;
            }
    }
    return retire__cur_slow(smr, id);
}

/* The calling thread's cursor on smr, NULL on ENOMEM. */
static inline struct retire__cur *
retire__cur_get(smr_t smr)
{
    uint64_t id = retire__id(smr);

    if (__builtin_expect(retire__hot.h_id == id, 1))
        return retire__hot.h_cur;
    return retire__cur_find(smr, id);
}

/* Queue the owner's batch (full or older than a tick); no lock held. */
static void
retire__queue_cur(struct retire__cur *c, uint64_t now)
{
    struct retire__rec *r = c->c_rec;

    pthread_mutex_lock(&r->r_lock);
    retire__enqueue_locked(r, retire__take_own_locked(r, c), now);
    /* The next batch's memory, from the free list (owner only). */
    if (c->c_spare == NULL && r->r_free != NULL)
        c->c_spare = retire__batch_get_locked(r);
    pthread_mutex_unlock(&r->r_lock);
}

/* Out of memory: wait and reclaim this one entry now, outside sections. */
static __attribute__((noinline, cold)) void
retire__sync_one(smr_t smr, void *ptr, void (*fn)(void *))
{
    if (smr_entered(smr) || smr_entered_any())
        retire__die(smr, "smr_retire: out of memory inside a read section "
            "(cannot wait, cannot queue)");
    smr_synchronize(smr);
    fn(ptr);
}

/* ---- public API ------------------------------------------------------- */

/*
 * The slow path of smr_retire: install a batch if there is none, append,
 * and when the countdown c_cd runs out (every RETIRE__CALLS calls; a fast
 * retirer's only at its batch's last entry, see below) or at a full batch
 * the timed part: queue the batch when it is full or a tick old, poll the
 * FIFO head's hint, keep the bound.  The clock is read in the timed part
 * only.  While
 * a reclaimer runs (c_watch), every call comes here and appends under
 * c_lock, kicking it when the batch had no live entry (R8).
 */
static __attribute__((noinline)) void
retire__slow(smr_t smr, struct retire__cur *c, void *ptr, void (*fn)(void *))
{
    struct retire__rec *r = c->c_rec;
    struct retire__batch *b = c->c_batch;
    uint64_t now = 0, age;
    smr_seq_t hint;
    uint32_t n;
    bool queue, timed, kick = false;

    /* A clock read costs as much as the rest of a queueing (vDSO, ~25 ns
     * in a VM): one every RETIRE__CALLS calls and at a full batch, not
     * at install (below). */
    timed = c->c_cd <= 1 || (b != NULL && b->b_n >= RETIRE__BATCH - 1);
    if (timed) {
        now = smr__now_ns();
        c->c_now = now;
        c->c_cd = RETIRE__CALLS;
    } else {
        c->c_cd--;
    }
    if (b == NULL) {
        /* Allocate outside the spinlock. */
        if (c->c_spare == NULL)
            c->c_spare = malloc(sizeof(*c->c_spare));
        if (__builtin_expect(c->c_spare == NULL, 0)) {
            retire__sync_one(smr, ptr, fn);
            return;
        }
        b = c->c_spare;
        c->c_spare = NULL;
        b->b_next = NULL;
        b->b_n = 0;
        b->b_taken = 0;
        /* Born at our last clock read (the queueing of the batch before,
         * one call ago, but that call may be long past: a thread idle
         * since then): older than the truth, so the tick rule only queues
         * it sooner (after an idle gap, a small batch early: a cost, not
         * a risk).  Before it is shared. */
        atomic_store_rlx(&b->b_born, c->c_now);
        /* Hold before the batch can be seen by anyone (R2); install under
         * c_lock, so a stealer sees it whole.  Relaxed: we are the only
         * reader of c_batch without the lock. */
        smr__domain_hold(smr);
        retire__spin_lock(&c->c_lock);
        atomic_store_rlx(&c->c_batch, b);
        retire__spin_unlock(&c->c_lock);
        kick = true;            /* once per batch (src/reclaim.c) */
    }
    if (atomic_load_rlx(&c->c_watch)) {
        /* R8: under c_lock, b_taken is exact: the first live entry after
         * a steal kicks the reclaimer. */
        retire__spin_lock(&c->c_lock);
        n = b->b_n;
        kick = kick || n == b->b_taken;
        b->b_ent[n].ptr = ptr;
        b->b_ent[n].fn = fn;
        atomic_store_rel(&b->b_n, n + 1);   /* as below */
        retire__spin_unlock(&c->c_lock);
    } else {
        n = b->b_n;
        b->b_ent[n].ptr = ptr;
        b->b_ent[n].fn = fn;
        /* Release: partner of the stealers' acquire loads of b_n (R1). */
        atomic_store_rel(&b->b_n, n + 1);
    }
    /* After the entry is visible in the cursor (src/reclaim.c). */
    if (kick)
        smr__reclaimer_kick(smr);
    if (!timed)
        return;
    /* Relaxed: a stealer may move b_born later (no partner). */
    age = now - atomic_load_rlx(&b->b_born);
    queue = n + 1 == RETIRE__BATCH || age >= RETIRE__TICK_NS;
    if (queue) {
        retire__queue_cur(c, now);
        /* How soon the next check: a batch that aged out belongs to a slow
         * retirer, whose next call is timed too, to poll what it just
         * queued (a lazy or deferred goal is not reached at once).  A
         * batch that filled in under a quarter tick belongs to a fast
         * one, whose next batch will fill long before it ages out: its
         * next clock read is at that batch's last entry, one read per
         * batch, not one per RETIRE__CALLS calls.  Should it slow down
         * meanwhile, that one batch waits at most RETIRE__BATCH calls
         * for its check (the next one is judged slow). */
        if (n + 1 < RETIRE__BATCH)
            c->c_cd = 1;
        else if (age < RETIRE__TICK_NS / 4)
            c->c_cd = RETIRE__BATCH + 1;
    }

    /* The hint.  Acquire: partner of the release store in
     * retire__hint_locked; the tag's advance happens before smr_poll's
     * clock load (a plain load on x86, ldar on arm64).  A failing poll
     * scans the slots, so it is rate-limited; a poll right after queueing
     * is not. */
    hint = atomic_load_acq(&r->r_hint);
    if (hint != SMR_SEQ_INVALID && (queue || now >= c->c_next_poll)) {
        c->c_next_poll = now + RETIRE__POLL_NS;
        if (smr__poll_for(smr, hint, RETIRE__WHO, NULL))
            (void)retire__reclaim(r, UINT64_MAX);
    }
    /* Relaxed: hints; retire__bound re-reads r_head under r_lock. */
    if (__builtin_expect(atomic_load_rlx(&r->r_qent) >
        smr__cap_now(&r->r_cap), 0))
        retire__bound(r, smr);
}

/* smr_retire off its fast path: another domain than the thread's last
 * one, no batch installed, a reclaimer watching, the batch's last slot or
 * the countdown run out.  Out of line, so that the fast path needs no
 * stack frame and no saved register. */
static __attribute__((noinline)) void
retire__miss(smr_t smr, void *ptr, void (*fn)(void *ptr))
{
    struct retire__cur *c;

    if (__builtin_expect(fn == NULL, 0))
        retire__die(smr, "smr_retire with a NULL reclaim function");
    c = retire__cur_get(smr);
    if (__builtin_expect(c == NULL, 0)) {
        retire__sync_one(smr, ptr, fn);
        return;
    }
    if (c->c_batch != NULL && !atomic_load_rlx(&c->c_watch) &&
        c->c_batch->b_n < RETIRE__BATCH - 1 && --c->c_cd != 0) {
        /* Only the thread table lookup missed: the fast path's append. */
        struct retire__batch *b = c->c_batch;
        uint32_t n = b->b_n;

        b->b_ent[n].ptr = ptr;
        b->b_ent[n].fn = fn;
        atomic_store_rel(&b->b_n, n + 1);   /* as in smr_retire */
        return;
    }
    retire__slow(smr, c, ptr, fn);
}

SMR_API void
smr_retire(smr_t smr, void *ptr, void (*fn)(void *ptr))
{
    struct retire__cur *c;
    struct retire__batch *b;
    uint32_t n;

    /*
     * The fast path: no lock, no read-modify-write, no clock, no shared
     * line, no stack frame.  Only we install or remove c_batch (under
     * c_lock, for the stealers); stealers copy entries out and never write
     * b_n or b_ent (retire__take_live_locked).  Everything else (a NULL
     * fn, another domain than the last one, no batch, a watching
     * reclaimer, the last slot of a batch, the call where the countdown
     * c_cd runs out: queueing, the tick, the hint poll, the bound) is
     * retire__miss, a tail call.
     */
    if (__builtin_expect(fn != NULL, 1) &&
        __builtin_expect(retire__hot.h_id == retire__id(smr), 1)) {
        c = retire__hot.h_cur;
        b = c->c_batch;
        /* Relaxed: c_watch is a setting (R8), written under r_lock. */
        if (__builtin_expect(b != NULL, 1) &&
            __builtin_expect(!atomic_load_rlx(&c->c_watch), 1)) {
            n = b->b_n;
            if (__builtin_expect(n < RETIRE__BATCH - 1, 1) &&
                __builtin_expect(--c->c_cd != 0, 1)) {
                b->b_ent[n].ptr = ptr;
                b->b_ent[n].fn = fn;
                /* Release: partner of the stealers' acquire loads of b_n
                 * (retire__take_live_locked): the caller's unlink and
                 * this entry happen before their use and the advance that
                 * tags it (tests/model/steal.c).  A plain store on x86,
                 * stlr on arm64. */
                atomic_store_rel(&b->b_n, n + 1);
                return;
            }
            /* The countdown ran out or the batch is full: retire__miss
             * takes the slow path, whose c_cd rule expects the count
             * already taken. */
            retire__slow(smr, c, ptr, fn);
            return;
        }
    }
    retire__miss(smr, ptr, fn);
}

/* smr_barrier's wait: false only inside our own section (checked on
 * entry), so a false here is a libsmr bug, not a result to return. */
static void
retire__wait(smr_t smr, smr_seq_t goal)
{
    if (!smr__wait_for(smr, goal, "smr_barrier", NULL))
        retire__die(smr, "smr_barrier: smr_wait failed outside a section");
}

/* Does this thread run callbacks of r right now (smr_barrier would wait
 * for itself)? */
static bool
retire__reclaiming(const struct retire__rec *r)
{
    for (const struct retire__claim *k = retire__claims; k != NULL;
        k = k->k_up)
        if (k->k_rec == r)
            return true;
    return false;
}

SMR_API void
smr_barrier(smr_t smr)
{
    struct retire__rec *r;
    struct retire__batch *stolen = NULL, **tail = &stolen;
    smr_seq_t last = SMR_SEQ_INVALID;
    uint64_t upto, now;

    (void)smr_name(smr);    /* validates */
    /* Cannot report: waiting would deadlock, returning would let the
     * caller free what its own section still holds.  Every build (SPEC §4,
     * as smr_synchronize). */
    if (smr_entered(smr))
        retire__die(smr, "smr_barrier inside a read section of the same "
            "domain (would deadlock)");
    if (!retire__init())
        return;     /* pthread_once failed: nothing was ever retired */
    pthread_mutex_lock(&retire__lock);
    r = retire__rec_find(retire__id(smr));
    if (r == NULL) {
        pthread_mutex_unlock(&retire__lock);
        return;     /* no retire state: nothing pending */
    }
    if (retire__reclaiming(r)) {
        pthread_mutex_unlock(&retire__lock);
        retire__die(smr, "smr_barrier inside an smr_retire callback of the "
            "same domain (would wait for itself)");
    }
    pthread_mutex_lock(&r->r_lock);
    r->r_refs++;
    pthread_mutex_unlock(&retire__lock);
    now = smr__now_ns();

    /* Every thread's partial batch (R1): what its owner has retired so
     * far, copied out while the owner may go on; one advance tags all. */
    for (struct retire__cur *c = r->r_curs; c != NULL; c = c->c_next) {
        struct retire__batch *nb, *b;

        if (retire__live_locked(c) == 0)
            continue;
        if ((nb = retire__batch_get_locked(r)) == NULL)
            retire__die(smr, "smr_barrier: out of memory for a batch");
        if ((b = retire__take_live_locked(r, c, nb, 0, now)) == NULL) {
            retire__batch_put_locked(r, nb);
            continue;
        }
        *tail = b;
        tail = &b->b_next;
    }
    retire__enqueue_locked(r, stolen, now);
    upto = r->r_serial;     /* R4: everything retired before us is <= it */
    if (r->r_tail != NULL)
        last = r->r_tail->b_tag;
    pthread_mutex_unlock(&r->r_lock);

    /* The FIFO is in advance order (R3): the last tag covers the rest. */
    if (last != SMR_SEQ_INVALID)
        retire__wait(smr, last);
    for (;;) {
        smr_seq_t head;

        (void)retire__reclaim(r, upto);
        pthread_mutex_lock(&r->r_lock);
        if (r->r_head != NULL && r->r_head->b_serial <= upto) {
            /* Not reached yet (a batch queued after our wait with an
             * earlier serial cannot exist; be safe anyway). */
            head = r->r_head->b_tag;
            pthread_mutex_unlock(&r->r_lock);
            retire__wait(smr, head);
            continue;
        }
        bool busy = false;
        for (struct retire__claim *k = r->r_claims; k != NULL; k = k->k_next)
            if (k->k_lo <= upto)
                busy = true;
        if (!busy) {
            pthread_mutex_unlock(&r->r_lock);
            break;
        }
        /* Another thread runs callbacks of batches <= upto: wait until it
         * drops its claim (broadcast in retire__reclaim). */
        r->r_waiters++;
        pthread_cond_wait(&r->r_cv, &r->r_lock);
        r->r_waiters--;
        pthread_mutex_unlock(&r->r_lock);
    }
    retire__rec_unref(r);
}

SMR_API size_t
smr_retire_pending(smr_t smr)
{
    struct retire__rec *r;
    size_t n = 0;

    (void)smr_name(smr);    /* validates */
    if (!retire__init())
        return 0;
    pthread_mutex_lock(&retire__lock);
    r = retire__rec_find(retire__id(smr));
    if (r != NULL) {
        pthread_mutex_lock(&r->r_lock);
        n = atomic_load_rlx(&r->r_qent) + r->r_cent;
        for (struct retire__cur *c = r->r_curs; c != NULL; c = c->c_next)
            n += retire__live_locked(c);
        pthread_mutex_unlock(&r->r_lock);
    }
    pthread_mutex_unlock(&retire__lock);
    return n;
}

SMR_API int
smr_retire_set_limits(smr_t smr, size_t pending_cap, int flags)
{
    struct smr__retire_conf *rc;
    struct retire__rec *r;

    (void)smr_name(smr);    /* validates */
    if ((flags & ~SMR_RETIRE_NOWAIT) != 0)
        return EINVAL;
    if (!retire__init())
        return ENOMEM;
    rc = smr__retire_conf(smr);
    /* Under retire__lock: a record created meanwhile mirrors either the
     * old limits and is updated here, or the new ones. */
    pthread_mutex_lock(&retire__lock);
    atomic_store_rlx(&rc->rc_cap, pending_cap);
    atomic_store_rlx(&rc->rc_flags, (uint32_t)flags);
    r = retire__rec_find(retire__id(smr));
    if (r != NULL) {
        pthread_mutex_lock(&r->r_lock);
        retire__limits_locked(r, rc);
        pthread_mutex_unlock(&r->r_lock);
    }
    pthread_mutex_unlock(&retire__lock);
    return 0;
}

SMR_API void
smr_retire_stats(smr_t smr, struct smr_retire_stats *st)
{
    struct smr__retire_conf *rc;
    struct retire__rec *r;
    size_t cap;

    st->pending = smr_retire_pending(smr);     /* validates */
    rc = smr__retire_conf(smr);
    /* Relaxed (no partner): a snapshot. */
    cap = atomic_load_rlx(&rc->rc_cap);
    st->pending_cap = cap != 0 ? cap : RETIRE__CAP;
    /* The cap in force lives in the record, while there is one; without
     * one it starts again at the floor. */
    st->pending_cap_now = st->pending_cap < SMR__CAP_FLOOR ?
        st->pending_cap : SMR__CAP_FLOOR;
    st->cap_raises = 0;
    if (retire__init()) {
        pthread_mutex_lock(&retire__lock);
        r = retire__rec_find(retire__id(smr));
        if (r != NULL) {
            st->pending_cap_now = smr__cap_now(&r->r_cap);
            st->cap_raises = atomic_load_rlx(&r->r_cap.k_raises);
        }
        pthread_mutex_unlock(&retire__lock);
    }
    st->flags = (int)atomic_load_rlx(&rc->rc_flags);
    st->sync_reclaims = atomic_load_rlx(&rc->rc_sync);
    st->nowait_over = atomic_load_rlx(&rc->rc_over);
}

/* ---- thread exit and fork --------------------------------------------- */

/* Queue a thread's partial batches as orphans and drop its cursors; the
 * batches are reclaimed by any thread's later retire or smr_barrier.
 * retire__lock held. */
static void
retire__thr_drop_locked(struct retire__thr *t)
{
    for (uint32_t i = 0; i < t->t_n; i++) {
        struct retire__cur *c = t->t_ent[i].cur;
        struct retire__rec *r = c->c_rec;

        pthread_mutex_lock(&r->r_lock);
        retire__enqueue_locked(r, retire__take_own_locked(r, c),
            smr__now_ns());
        pthread_mutex_unlock(&r->r_lock);
        retire__cur_free_locked(c);
    }
    t->t_n = 0;
    SMR__DLIST_UNLINK(&retire__thrs, t, t_next, t_prev);
    free(t->t_ent);
    free(t);
}

/* pthread key destructor.  smr_advance from here may give this thread a
 * core slot again; the core's own destructor then runs once more. */
static void
retire__thread_exit(void *arg)
{
    struct retire__thr *t = arg;

    pthread_mutex_lock(&retire__lock);
    retire__thr_drop_locked(t);
    pthread_mutex_unlock(&retire__lock);
    if (retire__self == t)
        retire__self = NULL;
    retire__hot.h_id = 0;           /* its cursors are gone */
    retire__hot.h_cur = NULL;
}

/* Lock order: retire__lock, each record's r_lock in registry order, each
 * of its cursors' c_lock in list order.  No batch is between two places
 * while these are held (R1). */
static void
retire__atfork_prepare(void)
{
    pthread_mutex_lock(&retire__lock);
    for (struct retire__rec *r = retire__recs; r != NULL; r = r->r_next) {
        pthread_mutex_lock(&r->r_lock);
        for (struct retire__cur *c = r->r_curs; c != NULL; c = c->c_next)
            retire__spin_lock(&c->c_lock);
    }
}

static void
retire__atfork_parent(void)
{
    for (struct retire__rec *r = retire__recs; r != NULL; r = r->r_next) {
        for (struct retire__cur *c = r->r_curs; c != NULL; c = c->c_next)
            retire__spin_unlock(&c->c_lock);
        pthread_mutex_unlock(&r->r_lock);
    }
    pthread_mutex_unlock(&retire__lock);
}

/*
 * The child has one thread.  Re-initialise every lock (they were held by
 * prepare), queue the partial batches of threads that do not exist here
 * (tagged now: the core's child handler ran before ours), and drop their
 * claims: their callbacks were half run by a thread that is gone, so the
 * rest of those batches is leaked in the child (running them again could
 * run an fn twice; the parent still runs them).
 */
static void
retire__atfork_child(void)
{
    struct retire__thr *t, *tn;
    pthread_t me = pthread_self();

    pthread_mutex_init(&retire__lock, NULL);
    for (struct retire__rec *r = retire__recs; r != NULL; r = r->r_next) {
        struct retire__claim **kp = &r->r_claims;

        pthread_mutex_init(&r->r_lock, NULL);
        pthread_cond_init(&r->r_cv, NULL);
        r->r_waiters = 0;
        for (struct retire__cur *c = r->r_curs; c != NULL; c = c->c_next)
            c->c_lock = 0;
        while (*kp != NULL) {
            struct retire__claim *k = *kp;

            if (pthread_equal(k->k_owner, me)) {
                kp = &k->k_next;
                continue;
            }
            *kp = k->k_next;
            r->r_cent -= k->k_nent;
            for (size_t i = 0; i < k->k_nbatch; i++)
                smr__domain_release(r->r_smr);
        }
    }
    pthread_mutex_lock(&retire__lock);
    for (t = retire__thrs; t != NULL; t = tn) {
        tn = t->t_next;
        if (t != retire__self)
            retire__thr_drop_locked(t);
    }
    pthread_mutex_unlock(&retire__lock);
}

/*
 * smr_destroy, before it counts the domain's holds (smr__retire_fini): a
 * batch still installed in a cursor whose every entry smr_barrier or the
 * reclaimer has copied out holds the domain with nothing pending.  Free
 * it.  Its owner does not retire on a domain being destroyed (that would
 * be misuse), so no one writes it meanwhile.
 */
static void
retire__destroy_hook(smr_t smr)
{
    struct retire__batch *spare = NULL;
    struct retire__rec *r;

    pthread_mutex_lock(&retire__lock);
    r = retire__rec_find(retire__id(smr));
    if (r != NULL) {
        pthread_mutex_lock(&r->r_lock);
        for (struct retire__cur *c = r->r_curs; c != NULL; c = c->c_next) {
            struct retire__batch *b;

            retire__spin_lock(&c->c_lock);
            b = c->c_batch;
            /* Acquire, as in retire__take_live_locked. */
            if (b != NULL && atomic_load_acq(&b->b_n) == b->b_taken)
                atomic_store_rlx(&c->c_batch, NULL);   /* as take_own */
            else
                b = NULL;
            retire__spin_unlock(&c->c_lock);
            if (b != NULL) {
                smr__domain_release(smr);
                free(b);
            }
        }
        /* The domain is going: its spare batches serve nobody (the
         * record itself lives until its last cursor goes, R7). */
        spare = r->r_free;
        r->r_free = NULL;
        r->r_nfree = 0;
        pthread_mutex_unlock(&r->r_lock);
    }
    pthread_mutex_unlock(&retire__lock);
    while (spare != NULL) {
        struct retire__batch *b = spare;

        spare = b->b_next;
        free(b);
    }
}

/* ---- the background reclaimer's round (src/reclaim.c) ------------------ */

void
smr__retire_watch(smr_t smr, bool on)
{
    struct retire__rec *r;

    if (!retire__init())
        return;
    pthread_mutex_lock(&retire__lock);
    /* Relaxed: a setting; retire__lock orders it against new cursors
     * (retire__cur_slow reads it under retire__lock). */
    atomic_store_rlx(&smr__retire_conf(smr)->rc_watched, on ? 1u : 0u);
    r = retire__rec_find(retire__id(smr));
    if (r != NULL) {
        pthread_mutex_lock(&r->r_lock);
        for (struct retire__cur *c = r->r_curs; c != NULL; c = c->c_next)
            atomic_store_rlx(&c->c_watch, on ? 1u : 0u);
        if (on)
            r->r_recheck = true;    /* owners may not see it at once */
        pthread_mutex_unlock(&r->r_lock);
    }
    pthread_mutex_unlock(&retire__lock);
}

bool
smr__retire_round(smr_t smr, uint64_t now, smr_seq_t *goal, uint64_t *due)
{
    struct retire__rec *r;
    struct retire__batch *stolen = NULL, **tail = &stolen;

    *goal = SMR_SEQ_INVALID;
    *due = 0;
    if (!retire__init())
        return false;
    pthread_mutex_lock(&retire__lock);
    r = retire__rec_find(retire__id(smr));
    if (r == NULL) {
        pthread_mutex_unlock(&retire__lock);
        return false;       /* nothing was ever retired here */
    }
    pthread_mutex_lock(&r->r_lock);
    r->r_refs++;            /* R7: the record stays while we use it */
    pthread_mutex_unlock(&retire__lock);

    /* Partial batches a tick old go to the FIFO with one advance, under
     * the two locks (R1, R3), as smr_barrier steals them; younger ones
     * are left to fill and set *due.  born + tick, not now - born: the
     * owner's now may be later than ours. */
    for (struct retire__cur *c = r->r_curs; c != NULL; c = c->c_next) {
        struct retire__batch *b, *nb;
        uint64_t born = 0;
        bool live;

        retire__spin_lock(&c->c_lock);
        b = c->c_batch;
        /* Acquire, as in retire__take_live_locked (a peek here). */
        live = b != NULL && atomic_load_acq(&b->b_n) > b->b_taken;
        if (live)
            born = atomic_load_rlx(&b->b_born);     /* no partner */
        retire__spin_unlock(&c->c_lock);
        if (!live)
            continue;
        if (born + RETIRE__TICK_NS > now) {
            if (*due == 0 || born + RETIRE__TICK_NS < *due)
                *due = born + RETIRE__TICK_NS;
            continue;
        }
        /* A tick old: copy it out (the owner may be idle for good). */
        if ((nb = retire__batch_get_locked(r)) == NULL) {
            if (*due == 0 || now + RETIRE__TICK_NS < *due)
                *due = now + RETIRE__TICK_NS;
            continue;
        }
        if ((b = retire__take_live_locked(r, c, nb, now - RETIRE__TICK_NS,
            now)) == NULL) {
            retire__batch_put_locked(r, nb);
            continue;
        }
        *tail = b;
        tail = &b->b_next;
    }
    /* R8: after copying entries out (or a start), look again a tick
     * later, for an entry an owner appended without seeing c_watch. */
    if (stolen != NULL || r->r_recheck) {
        r->r_recheck = false;
        if (*due == 0 || now + RETIRE__TICK_NS < *due)
            *due = now + RETIRE__TICK_NS;
    }
    retire__enqueue_locked(r, stolen, now);
    pthread_mutex_unlock(&r->r_lock);

    (void)retire__reclaim(r, UINT64_MAX);

    pthread_mutex_lock(&r->r_lock);
    if (r->r_head != NULL)
        *goal = r->r_head->b_tag;
    pthread_mutex_unlock(&r->r_lock);
    retire__rec_unref(r);
    return *goal != SMR_SEQ_INVALID || *due != 0;
}
