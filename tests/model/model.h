/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * Scaffolding for the GenMC models (the .c files here, run by
 * scripts/modelcheck).  A model runs the library's real code: the read path
 * of include/smr.h (smr__enter_word, smr__exit_word, the publish and the
 * 32-bit re-check) and the write side of src/smr_clock.h (advance, clock
 * push, read hand, poll, lazy clock and barrier), which src/smr.c compiles
 * into the library.  What this file adds is only what the library gets
 * from the OS or from src/smr.c:
 *
 *  - one domain D with NSLOT slots whose words are W[0..NSLOT-1] (the
 *    readers' table entries), all scanned (d_hw = NSLOT);
 *  - membarrier(2), modelled as the kernel runs it: the caller's full
 *    fence, a request, every reader thread runs a full fence at some point
 *    between two of its shared accesses (mb_point()) or has finished (a
 *    context switch is a full barrier), and acknowledges; the caller's
 *    full fence.  The caller waits for every acknowledgement;
 *  - time: smr__now_ns() reads T, which a model may move, so a lazy tick
 *    can be due or not;
 *  - smr__die: an assertion failure.
 *
 * The use-after-free check: objects carry a plain (non-atomic) payload; a
 * writer unlinks an object, advances, and if a poll says the goal is
 * reached, overwrites the payload with POISON (its reuse).  A reader
 * asserts it never reads POISON through a pointer it loaded inside its
 * section.  Under RC11 a missing happens-before also shows as a data race
 * on the payload, which GenMC reports.
 */
#ifndef SMR_MODEL_H
#define SMR_MODEL_H

#define SMR__MODEL 1
#define SMR_TEST_HOOKS 1

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "smr_clock.h"

#if defined(__CONFIG_GENMC_INODE_DATA_SIZE)
#include <genmc.h>          /* run by GenMC */
#else
/* Compiled by the system compiler (scripts/modelcheck without GenMC):
 * the model must still build against the code, never run. */
#define __VERIFIER_assume(c) ((void)(c))
#endif

#ifndef NSLOT
#define NSLOT 2
#endif

#define POISON 0xdead

struct obj {
    int val;            /* plain: the payload readers dereference */
};

#if defined(MODEL_STATIC)
/* A statically declared domain (SMR_DEFINE_STATIC): the domain inside the
 * program's struct smr__static, and the readers' sections through
 * smr__static_enter/smr__static_exit on each reader's program word W[r]
 * (the __thread variable the declaration defines), already opened by the
 * reader's first, out-of-line section. */
/* (Storage of struct smr__static's size and alignment, the domain first,
 * not the struct itself: GenMC v0.10.3 cannot name locations inside a
 * union, st_u, when it reports an error.) */
static struct {
    struct smr_domain d;
    unsigned char rest[sizeof(struct smr__static) - sizeof(struct smr_domain)];
} SDS __attribute__((aligned(_Alignof(struct smr__static))));
#define SD (*(struct smr__static *)(void *)&SDS)
#define D (SDS.d)
#else
static struct smr_domain D;
#endif
static struct smr__slot S[NSLOT];
static smr_seq_t W[NSLOT];              /* the readers' words */
static struct smr__slot *Dchunk[1];

/* The published pointer readers follow (an SMR_POINTER). */
static struct obj OBJ[4];
static struct obj *_Atomic PTR;

/* ---- what src/smr.c and src/smr_lazy.c provide ---------------------- */

void (*volatile smr__test_hook)(smr_t smr, int point);
__thread struct smr__thread_hot *smr__self;

static atomic_ullong T;                 /* model time, ns */
uint64_t smr__lazy_tick_ns = 1;

uint64_t
smr__now_ns(void)
{
    return atomic_load_explicit(&T, memory_order_relaxed);
}

void
smr__die(const struct smr_domain *smr, const char *fmt, ...)
{
    (void)smr;
    (void)fmt;
    assert(0 && "smr__die");
    abort();
}

void
smr__warn(const struct smr_domain *smr, const char *fmt, ...)
{
    (void)smr;
    (void)fmt;
}

#if SMR_SEQ32
void
smr__enter_recheck(smr_t smr, smr_seq_t *w, smr_seq_t v)
{
    smr__enter_recheck_on(smr, w, v);
}
#endif

/* ---- membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) -------------------- */

#ifndef NREADER_THREADS
#define NREADER_THREADS NSLOT
#endif
static atomic_int mb_req;                       /* requests issued */
static atomic_int mb_ack[NREADER_THREADS];      /* last request seen */
static atomic_int mb_done[NREADER_THREADS];     /* thread has finished */

int
smr__membarrier(void)
{
    int n;

    atomic_thread_fence(memory_order_seq_cst);
    n = atomic_fetch_add_explicit(&mb_req, 1, memory_order_release) + 1;
    for (int i = 0; i < NREADER_THREADS; i++)
        __VERIFIER_assume(
            atomic_load_explicit(&mb_ack[i], memory_order_acquire) >= n ||
            atomic_load_explicit(&mb_done[i], memory_order_acquire));
    atomic_thread_fence(memory_order_seq_cst);
    return 0;
}

/* Reader thread r, between two of its shared accesses: the kernel may
 * interrupt it here with a pending barrier. */
static inline void
mb_point(int r)
{
    int n = atomic_load_explicit(&mb_req, memory_order_acquire);

    if (n > atomic_load_explicit(&mb_ack[r], memory_order_relaxed)) {
        atomic_thread_fence(memory_order_seq_cst);
        atomic_store_explicit(&mb_ack[r], n, memory_order_release);
    }
}

/* Reader thread r is done: it will not run again (no barrier needed). */
static inline void
mb_finish(int r)
{
    atomic_thread_fence(memory_order_seq_cst);
    atomic_store_explicit(&mb_done[r], 1, memory_order_release);
}

/* ---- the domain -------------------------------------------------------- */

static void
model_init(int flags)
{
    D.h.d_magic = SMR__MAGIC;
    D.h.d_flags = (uint32_t)flags;
    D.h.s_wr_seq = SMR__SEQ_INIT;
    D.s_rd_seq = SMR__SEQ_INIT;
    D.l_barrier_seq = SMR__SEQ_INIT;
    D.l_last_tick = 0;
    D.d_limit = 2;
    pthread_mutex_init(&D.d_rd_lock, NULL);
    pthread_mutex_init(&D.l_barrier_lock, NULL);
#if defined(MODEL_STATIC)
    __atomic_store_n(&SD.st_state, 2, __ATOMIC_RELAXED);
#endif
    for (int i = 0; i < NSLOT; i++) {
        W[i] = 0;
        S[i].c_wordp = &W[i];
        S[i].c_owner = (uint64_t)i + 1;
    }
    Dchunk[0] = S;
    D.d_chunks[0] = S;
    D.d_nchunks = 1;
    D.d_cap = NSLOT;
    D.d_hw = NSLOT;
    for (int i = 0; i < 4; i++)
        OBJ[i].val = i + 1;
    atomic_init(&PTR, &OBJ[0]);
}

#define DOM ((smr_t)&D)

#if !defined(MODEL_SCAN_SECTION)
/* Only pword.c gives a domain SMR__F_STATIC (the scan section): the
 * others never reach these. */
bool
smr__scan_enter(struct smr_domain *smr)
{
    (void)smr;
    assert(0);
    return false;
}

void
smr__scan_exit(struct smr_domain *smr, bool locked)
{
    (void)smr;
    (void)locked;
    assert(0);
}
#endif

#if defined(MODEL_STATIC)
/* The inline paths never leave the word in these models. */
void
smr__static_enter_slow(struct smr__static *st, smr_seq_t *w, bool lazy)
{
    (void)st; (void)w; (void)lazy;
    assert(0);
}

void
smr__static_exit_slow(struct smr__static *st)
{
    (void)st;
    assert(0);
}

/* The real static read path (smr_static_enter/exit), on word r. */
static inline void
rd_enter(int r, bool lazy)
{
    smr__static_enter(&SD, &W[r], lazy);
}

static inline void
rd_exit(int r)
{
    smr__static_exit(&SD, &W[r]);
}
#else
/* The real read path, on word r. */
static inline void
rd_enter(int r, bool lazy)
{
    bool ok = smr__enter_word(DOM, &W[r], lazy);
    assert(ok);
    (void)ok;
}

static inline void
rd_exit(int r)
{
    bool ok = smr__exit_word(&W[r]);
    assert(ok);
    (void)ok;
}
#endif

/* smr_entered_load: the protected pointer load. */
static inline struct obj *
rd_load(void)
{
    return atomic_load_explicit(&PTR, memory_order_acquire);
}

/* A dereference of p inside the section. */
static inline int
rd_read(struct obj *p)
{
    int v = p->val;

    assert(v != POISON);
    return v;
}

static inline int
rd_deref(void)
{
    return rd_read(rd_load());
}

/* The writer: unlink the current object (publish OBJ[next]), take a goal;
 * returns the unlinked object. */
static inline struct obj *
wr_unlink(int next)
{
    return atomic_exchange_explicit(&PTR, &OBJ[next], memory_order_release);
}

/* Reuse obj: the write a reader must never see. */
static inline void
wr_reuse(struct obj *o)
{
    o->val = POISON;
}

/* The writer's whole round: unlink (publish OBJ[next]), advance, poll
 * once (force: as a waiter would), reuse if the goal is reached. */
static inline void
wr_round(int next, struct smr__slot *self, bool force)
{
    struct obj *old = wr_unlink(next);
    smr_seq_t goal = smr__advance_on(&D, self);

    if (smr__poll_once(&D, NULL, goal, force) == 1)
        wr_reuse(old);
}

/* Advance and poll (as a waiter): move the clock one step, and the read
 * hand with it when no reader holds it back. */
static inline void
wr_tick(void)
{
    (void)smr__poll_once(&D, NULL, smr__advance_on(&D, NULL), true);
}

/* A reader thread running one whole fenced section on word 0. */
static void *
reader_once(void *arg)
{
    (void)arg;
    rd_enter(0, false);
    (void)rd_deref();
    rd_exit(0);
    return NULL;
}

#endif /* SMR_MODEL_H */
