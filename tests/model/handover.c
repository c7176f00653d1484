/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * Words changing hands ("Words" in src/smr.c; SPEC §3, the C++20 rule).
 *
 * Default: a table handed on.  Thread A runs a section on word W[0]
 * (enter, load the pointer, read the object), exits, and hands its table
 * on under a mutex G (a thread exiting; the registry lock in the
 * library).  Thread B takes it under G, opens the word (smr__word_open, as
 * smr_thread_attach does before the new owner's first store) and runs its
 * own section on W[0].  A writer unlinks the object A reads, advances,
 * polls (waiting) and reuses it if the poll says its goal is reached.  A
 * poll that reads B's publish (at or past the goal) must still be ordered
 * after A's section: the release sequence of A's exit store does not
 * include B's relaxed stores (C++20), and the release fence in
 * smr__word_open is what synchronizes.
 *
 * CLAIM: a slot claimed while the writer polls (I4).  The domain scans one
 * slot (d_hw = 1; W[0] idle); thread B claims slot 1 (smr__slot_point:
 * its c_wordp moves from the slot's own idle c_word to W[1], which was
 * free, and d_hw to 2), opens W[1] and runs a section on it (enter, load,
 * read, exit).  A poll that reads the old d_hw (or the old c_wordp, or the
 * word still free) does not see B's publish; the fences must then make B
 * see the unlink.
 *
 * Variants (-D): CLAIM (above), SMR__BROKEN_OPEN_NOFENCE (no release fence
 * in smr__word_open: an RC11 race between A's read and the reuse),
 * SMR__BROKEN_ENTER_NOFENCE (no store->load fence in the publish; the
 * broken variant for CLAIM).  (GenMC's --tso runs every thread fence,
 * release ones included, as mfence: there the fence in smr__word_open
 * drains B's claim stores, so CLAIM's stale-d_hw case cannot show; the
 * broken variant is still caught through the word itself.)
 */
#ifdef CLAIM
#define NSLOT 2
#else
#define NSLOT 1
#endif
#include "model.h"

#ifndef CLAIM
static pthread_mutex_t G;           /* the registry lock */
static int handed;                  /* plain: written and read under G */

/* A: a section on W[0], then its table goes to the next thread. */
static void *
thread_a(void *arg)
{
    (void)arg;
    rd_enter(0, false);
    struct obj *p = rd_load();
    (void)rd_read(p);
    rd_exit(0);
    pthread_mutex_lock(&G);
    handed = 1;
    pthread_mutex_unlock(&G);
    return NULL;
}

/* B: takes A's table, opens the word, runs a section on it. */
static void *
thread_b(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&G);
    __VERIFIER_assume(handed);
    pthread_mutex_unlock(&G);
    smr__word_open(&W[0]);
    rd_enter(0, false);
    (void)rd_deref();
    rd_exit(0);
    return NULL;
}
#else
static smr_seq_t C1;                /* slot 1's own word (c_word): idle */

/* B: claims slot 1 (under d_lock in the library: it is the only claimer
 * here), opens its word, runs a section on it. */
static void *
thread_b(void *arg)
{
    (void)arg;
    smr__slot_point(&D, &S[1], &W[1], 1);
    smr__word_open(&W[1]);
    rd_enter(1, false);
    struct obj *p = rd_load();
    (void)rd_read(p);
    rd_exit(1);
    return NULL;
}
#endif

static void *
writer(void *arg)
{
    (void)arg;
    wr_round(1, NULL, true);
    return NULL;
}

int
main(void)
{
    pthread_t a, b, w;

    model_init(0);
#ifndef CLAIM
    pthread_mutex_init(&G, NULL);
    pthread_create(&a, NULL, thread_a, NULL);
#else
    (void)a;
    C1 = 0;
    S[1].c_wordp = &C1;             /* unclaimed: points at its c_word */
    W[1] = SMR__W_FREE;             /* B's table entry, not yet opened */
    D.d_hw = 1;                     /* slot 1 past the high-water mark */
#endif
    pthread_create(&b, NULL, thread_b, NULL);
    pthread_create(&w, NULL, writer, NULL);
#ifndef CLAIM
    pthread_join(a, NULL);
#endif
    pthread_join(b, NULL);
    pthread_join(w, NULL);
    return 0;
}
