/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * The background reclaimer taking an idle thread's partial free bucket
 * (issue 14; src/pool.c, pool_steal_locked).  The owner's free path takes
 * no lock: it unlinks an object (publishes OBJ[1]), stores the object in
 * its bucket (b_obj[n] = obj) and then the new count with a release store
 * (b_cnt = n + 1).  The stealer, under p_lock, loads b_cnt with acquire,
 * copies the objects below it, and tags them with smr_advance; once a poll
 * reports the tag reached, the objects are reused.  The release/acquire
 * pair makes the unlink happen before the stealer's advance, so any reader
 * that publishes the advanced clock finds OBJ[1], never the object reused.
 * smr_retire's batches have the same shape (src/retire.c R1: the owner
 * writes the entry, then b_n with release; smr_barrier and the reclaimer
 * load b_n with acquire, copy the entries below it and tag the copy).
 *
 * The bucket slot is a relaxed atomic here (a plain store in the library,
 * ordered by the same pair; a relaxed one keeps the broken variant from
 * being only a data race).
 *
 * Variants (-D): STEAL_RELAXED (a relaxed count store and load: the free
 * path before the reclaimer could take buckets).  TSO keeps the owner's
 * stores in order, so only RC11 and IMM report it.
 */
#define NSLOT 1
#include "model.h"

#ifdef STEAL_RELAXED
#define CNT_ST memory_order_relaxed
#define CNT_LD memory_order_relaxed
#else
#define CNT_ST memory_order_release
#define CNT_LD memory_order_acquire
#endif

static struct obj *_Atomic BOBJ;    /* the owner's bucket, one slot */
static atomic_uint BCNT;            /* its count */

/* The owner: unlink, then smr_pool_free's fast path. */
static void *
owner(void *arg)
{
    struct obj *old;

    (void)arg;
    old = wr_unlink(1);
    atomic_store_explicit(&BOBJ, old, memory_order_relaxed);
    atomic_store_explicit(&BCNT, 1, CNT_ST);
    return NULL;
}

/* The reclaimer: take what the count covers, tag it, poll (forced, as a
 * waiter), reuse if reached. */
static void *
stealer(void *arg)
{
    (void)arg;
    if (atomic_load_explicit(&BCNT, CNT_LD) == 1) {
        struct obj *o = atomic_load_explicit(&BOBJ, memory_order_relaxed);
        smr_seq_t tag = smr__advance_on(&D, NULL);

        if (smr__poll_once(&D, NULL, tag, true) == 1)
            wr_reuse(o);
    }
    return NULL;
}

int
main(void)
{
    pthread_t r, o, s;

    model_init(0);
    pthread_create(&r, NULL, reader_once, NULL);
    pthread_create(&o, NULL, owner, NULL);
    pthread_create(&s, NULL, stealer, NULL);
    pthread_join(r, NULL);
    pthread_join(o, NULL);
    pthread_join(s, NULL);
    return 0;
}
