/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * libsmr: intrusive linked lists whose readers run inside SMR read
 * sections, in the style of queue(3), liburcu's rculist/hlist and NetBSD's
 * pslist(9).  Two kinds (see smr_list(3)):
 *
 *   SMR_SLIST  singly linked: one-pointer head, one link per element.
 *              Insert at the head or after an element; remove the head or
 *              the element after one in O(1), any element in O(n).
 *   SMR_LIST   doubly linked: one-pointer head, a next link and a back
 *              link (the address of whatever points at the element) per
 *              element, as queue(3) LIST and liburcu's hlist.  Insert
 *              before or after any element and remove any element in O(1)
 *              without knowing its head; with one pointer per head it is
 *              also the hash chain (an array of SMR_LIST_HEADs is a hash
 *              table's buckets), so there is no separate SMR_HLIST.
 *
 * Readers (no lock, inside smr_enter/smr_exit or the lazy pair) use
 * SMR_*_FIRST, _NEXT, _EMPTY and _FOREACH, which load every link with
 * smr_entered_load (acquire).  Writers hold their own serialization (a
 * mutex per list or per bucket) and use the rest; `ex` is an expression
 * true while it is held, evaluated only in SMR_DEBUG builds, exactly as
 * for smr_serialized_store.  Macro arguments may be evaluated more than
 * once.
 *
 * The ordering contract (every release store below names this partner):
 *
 *   R1  A pointer that readers follow (a head, a next link) is written
 *       only with a release store, smr_serialized_store or the back-link
 *       store; the reader's partner is the acquire load of that pointer
 *       in SMR_*_FIRST/NEXT/FOREACH.  So a reader that finds an element
 *       sees everything written to it before it was linked (its fields,
 *       its own next link), however many writers it passed through, since
 *       the writers' lock orders them.  This holds for removal too: the
 *       successor a removal exposes was written by some earlier writer,
 *       and a reader that reaches it only through the removal's store
 *       needs that store to be a release to see it initialised.
 *   R2  A new element's own links are written before it is published,
 *       with relaxed stores: nobody can see it yet, and R1's release
 *       carries them.
 *   R3  Removal and replacement never change the removed element's next
 *       link, so a reader standing on it continues into the list (to its
 *       old successor, which is itself in the list or removed after it
 *       and still unreclaimed).  A reader therefore sees every element
 *       that stays in the list for the whole of its traversal, in order,
 *       and may see elements removed or added meanwhile.
 *   R4  Back links (SMR_LIST le_prev) are read and written by writers
 *       only; they are plain fields, and SMR_DEBUG builds poison the back
 *       link of a removed element (a second removal aborts).
 *
 * After a removal the element may still be in use by readers: free it only
 * through smr_pool_free(3) or smr_retire(3), or after smr_synchronize(3)
 * (or smr_advance + smr_wait) on the readers' domain.  Until then it must
 * not be changed or linked again.
 */
#ifndef SMR_LIST_H
#define SMR_LIST_H

#include <stddef.h>
#include <stdint.h>

#include "smr.h"

/* ------------------------------------------------------------------ */
/* Private helpers                                                     */
/* ------------------------------------------------------------------ */

/*
 * The pointer word inside an SMR_POINTER.  Each SMR_POINTER(...) spelling
 * is its own anonymous structure type, so a head and an element's link
 * never share one; SMR_LIST's back link therefore points at this word
 * (of type `struct type *`), as queue(3)'s le_prev points at a plain next
 * pointer, whether it sits in the head or in the previous element.
 */
#define SMR__LIST_WORD(p) (&(p)->__ptr)

/*
 * Release store through a back link: smr_serialized_store on the
 * SMR_POINTER whose pointer word is *pp (R1: the partner is the reader's
 * acquire load of that head or next link in SMR_LIST_FIRST/NEXT/FOREACH).
 */
#define SMR__LIST_STORE_WORD(pp, v, ex)                                 \
    do {                                                                \
        SMR__ASSERT_SERIALIZED(ex);                                     \
        __atomic_store_n((pp), (v), __ATOMIC_RELEASE);                  \
    } while (0)

#if SMR_CONFIG_DEBUG
/* R4: a removed element's back link: the top of the address space,
 * which faults on 32-bit and 64-bit targets alike (FreeBSD's TRASHIT). */
#define SMR__LIST_POISON (~(uintptr_t)0xff)
#define SMR__LIST_POISON_PREV(elm, field)                               \
    ((elm)->field.le_prev =                                             \
        (__typeof__((elm)->field.le_prev))SMR__LIST_POISON)
#define SMR__LIST_ASSERT_LINKED(elm, field, what)                       \
    ((uintptr_t)(elm)->field.le_prev != SMR__LIST_POISON ? (void)0 :    \
        smr__assert_entered(NULL, what ": element is not on a list"))
#else
#define SMR__LIST_POISON_PREV(elm, field) ((void)0)
#define SMR__LIST_ASSERT_LINKED(elm, field, what) ((void)0)
#endif

/* ------------------------------------------------------------------ */
/* Singly linked lists                                                 */
/* ------------------------------------------------------------------ */

#define SMR_SLIST_HEAD(name, type)                                      \
    struct name {                                                       \
        SMR_POINTER(struct type *) slh_first;                           \
    }

#define SMR_SLIST_HEAD_INITIALIZER(head) { { NULL } }

#define SMR_SLIST_ENTRY(type)                                           \
    struct {                                                            \
        SMR_POINTER(struct type *) sle_next;                            \
    }

/* Before the head is shared, or under the writers' serialization (a NULL
 * publishes nothing, so relaxed is enough). */
#define SMR_SLIST_INIT(head)                                            \
    smr_unserialized_store(&(head)->slh_first, NULL, true)

/* Readers: inside a read section of smr.  Acquire loads (R1). */
#define SMR_SLIST_FIRST(head, smr)                                      \
    smr_entered_load(&(head)->slh_first, (smr))
#define SMR_SLIST_NEXT(elm, field, smr)                                 \
    smr_entered_load(&(elm)->field.sle_next, (smr))
#define SMR_SLIST_EMPTY(head, smr)                                      \
    (SMR_SLIST_FIRST(head, smr) == NULL)
#define SMR_SLIST_FOREACH(var, head, field, smr)                        \
    for ((var) = SMR_SLIST_FIRST(head, smr); (var) != NULL;             \
        (var) = SMR_SLIST_NEXT(var, field, smr))

/* Writers: under the serialization `ex` names.  Relaxed loads (no one
 * else stores). */
#define SMR_SLIST_SERIALIZED_FIRST(head, ex)                            \
    smr_serialized_load(&(head)->slh_first, ex)
#define SMR_SLIST_SERIALIZED_NEXT(elm, field, ex)                       \
    smr_serialized_load(&(elm)->field.sle_next, ex)
#define SMR_SLIST_SERIALIZED_EMPTY(head, ex)                            \
    (SMR_SLIST_SERIALIZED_FIRST(head, ex) == NULL)
/* var may be removed (and freed through the pool) in the body. */
#define SMR_SLIST_FOREACH_SAFE(var, head, field, tvar, ex)              \
    for ((var) = SMR_SLIST_SERIALIZED_FIRST(head, ex);                  \
        (var) != NULL &&                                                \
        ((tvar) = SMR_SLIST_SERIALIZED_NEXT(var, field, ex), 1);        \
        (var) = (tvar))

#define SMR_SLIST_INSERT_HEAD(head, elm, field, ex)                     \
    do {                                                                \
        /* R2: elm is private until the store below. */                 \
        smr_unserialized_store(&(elm)->field.sle_next,                  \
            SMR_SLIST_SERIALIZED_FIRST(head, ex), true);                \
        /* R1, publish: partner SMR_SLIST_FIRST's acquire. */           \
        smr_serialized_store(&(head)->slh_first, (elm), ex);            \
    } while (0)

#define SMR_SLIST_INSERT_AFTER(slistelm, elm, field, ex)                \
    do {                                                                \
        smr_unserialized_store(&(elm)->field.sle_next,       /* R2 */   \
            SMR_SLIST_SERIALIZED_NEXT(slistelm, field, ex), true);      \
        /* R1, publish: partner SMR_SLIST_NEXT's acquire. */            \
        smr_serialized_store(&(slistelm)->field.sle_next, (elm), ex);   \
    } while (0)

/* The removed element keeps its next link (R3). */
#define SMR_SLIST_REMOVE_HEAD(head, field, ex)                          \
    do {                                                                \
        /* R1: the successor is exposed at the head; partner              \
         * SMR_SLIST_FIRST's acquire. */                                \
        smr_serialized_store(&(head)->slh_first,                        \
            SMR_SLIST_SERIALIZED_NEXT(                                  \
                SMR_SLIST_SERIALIZED_FIRST(head, ex), field, ex), ex);  \
    } while (0)

#define SMR_SLIST_REMOVE_AFTER(elm, field, ex)                          \
    do {                                                                \
        /* R1: partner SMR_SLIST_NEXT's acquire.  R3: the removed         \
         * element's own link is left alone. */                         \
        smr_serialized_store(&(elm)->field.sle_next,                    \
            SMR_SLIST_SERIALIZED_NEXT(                                  \
                SMR_SLIST_SERIALIZED_NEXT(elm, field, ex), field, ex),  \
            ex);                                                        \
    } while (0)

/* O(n): walks from the head to elm's predecessor.  elm must be on it. */
#define SMR_SLIST_REMOVE(head, elm, type, field, ex)                    \
    do {                                                                \
        if (SMR_SLIST_SERIALIZED_FIRST(head, ex) == (elm)) {            \
            SMR_SLIST_REMOVE_HEAD(head, field, ex);                     \
        } else {                                                        \
            struct type *smr__cur = SMR_SLIST_SERIALIZED_FIRST(head, ex); \
            while (SMR_SLIST_SERIALIZED_NEXT(smr__cur, field, ex) !=    \
                (elm))                                                  \
                smr__cur = SMR_SLIST_SERIALIZED_NEXT(smr__cur, field, ex); \
            SMR_SLIST_REMOVE_AFTER(smr__cur, field, ex);                \
        }                                                               \
    } while (0)

/* O(n), as SMR_SLIST_REMOVE: elm2 takes elm's place in one store. */
#define SMR_SLIST_REPLACE(head, elm, elm2, type, field, ex)             \
    do {                                                                \
        smr_unserialized_store(&(elm2)->field.sle_next,      /* R2 */   \
            SMR_SLIST_SERIALIZED_NEXT(elm, field, ex), true);           \
        if (SMR_SLIST_SERIALIZED_FIRST(head, ex) == (elm)) {            \
            /* R1, publish: partner SMR_SLIST_FIRST's acquire. */       \
            smr_serialized_store(&(head)->slh_first, (elm2), ex);       \
        } else {                                                        \
            struct type *smr__cur = SMR_SLIST_SERIALIZED_FIRST(head, ex); \
            while (SMR_SLIST_SERIALIZED_NEXT(smr__cur, field, ex) !=    \
                (elm))                                                  \
                smr__cur = SMR_SLIST_SERIALIZED_NEXT(smr__cur, field, ex); \
            /* R1, publish: partner SMR_SLIST_NEXT's acquire. */        \
            smr_serialized_store(&smr__cur->field.sle_next, (elm2), ex); \
        }                                                               \
        /* R3: elm still leads on to the rest of the list. */           \
    } while (0)

/* ------------------------------------------------------------------ */
/* Doubly linked lists (and hash chains)                               */
/* ------------------------------------------------------------------ */

#define SMR_LIST_HEAD(name, type)                                       \
    struct name {                                                       \
        SMR_POINTER(struct type *) lh_first;                            \
    }

#define SMR_LIST_HEAD_INITIALIZER(head) { { NULL } }

/* le_prev: the pointer word that points at this element (the head's or
 * the previous element's), writers only (R4). */
#define SMR_LIST_ENTRY(type)                                            \
    struct {                                                            \
        SMR_POINTER(struct type *) le_next;                             \
        struct type **le_prev;                                          \
    }

#define SMR_LIST_INIT(head)                                             \
    smr_unserialized_store(&(head)->lh_first, NULL, true)

/* Readers: inside a read section of smr.  Acquire loads (R1). */
#define SMR_LIST_FIRST(head, smr)                                       \
    smr_entered_load(&(head)->lh_first, (smr))
#define SMR_LIST_NEXT(elm, field, smr)                                  \
    smr_entered_load(&(elm)->field.le_next, (smr))
#define SMR_LIST_EMPTY(head, smr)                                       \
    (SMR_LIST_FIRST(head, smr) == NULL)
#define SMR_LIST_FOREACH(var, head, field, smr)                         \
    for ((var) = SMR_LIST_FIRST(head, smr); (var) != NULL;              \
        (var) = SMR_LIST_NEXT(var, field, smr))

/* Writers: under the serialization `ex` names. */
#define SMR_LIST_SERIALIZED_FIRST(head, ex)                             \
    smr_serialized_load(&(head)->lh_first, ex)
#define SMR_LIST_SERIALIZED_NEXT(elm, field, ex)                        \
    smr_serialized_load(&(elm)->field.le_next, ex)
#define SMR_LIST_SERIALIZED_EMPTY(head, ex)                             \
    (SMR_LIST_SERIALIZED_FIRST(head, ex) == NULL)
#define SMR_LIST_FOREACH_SAFE(var, head, field, tvar, ex)               \
    for ((var) = SMR_LIST_SERIALIZED_FIRST(head, ex);                   \
        (var) != NULL &&                                                \
        ((tvar) = SMR_LIST_SERIALIZED_NEXT(var, field, ex), 1);         \
        (var) = (tvar))

#define SMR_LIST_INSERT_HEAD(head, elm, field, ex)                      \
    do {                                                                \
        smr_unserialized_store(&(elm)->field.le_next,        /* R2 */   \
            SMR_LIST_SERIALIZED_FIRST(head, ex), true);                 \
        if (SMR_LIST_SERIALIZED_NEXT(elm, field, true) != NULL)         \
            SMR_LIST_SERIALIZED_NEXT(elm, field, true)->field.le_prev = \
                SMR__LIST_WORD(&(elm)->field.le_next);                  \
        (elm)->field.le_prev = SMR__LIST_WORD(&(head)->lh_first);       \
        /* R1, publish: partner SMR_LIST_FIRST's acquire. */            \
        smr_serialized_store(&(head)->lh_first, (elm), ex);             \
    } while (0)

#define SMR_LIST_INSERT_AFTER(listelm, elm, field, ex)                  \
    do {                                                                \
        smr_unserialized_store(&(elm)->field.le_next,        /* R2 */   \
            SMR_LIST_SERIALIZED_NEXT(listelm, field, ex), true);        \
        if (SMR_LIST_SERIALIZED_NEXT(elm, field, true) != NULL)         \
            SMR_LIST_SERIALIZED_NEXT(elm, field, true)->field.le_prev = \
                SMR__LIST_WORD(&(elm)->field.le_next);                  \
        (elm)->field.le_prev = SMR__LIST_WORD(&(listelm)->field.le_next); \
        /* R1, publish: partner SMR_LIST_NEXT's acquire. */             \
        smr_serialized_store(&(listelm)->field.le_next, (elm), ex);     \
    } while (0)

#define SMR_LIST_INSERT_BEFORE(listelm, elm, field, ex)                 \
    do {                                                                \
        SMR__LIST_ASSERT_LINKED(listelm, field, "SMR_LIST_INSERT_BEFORE"); \
        (elm)->field.le_prev = (listelm)->field.le_prev;                \
        smr_unserialized_store(&(elm)->field.le_next,        /* R2 */   \
            (listelm), true);                                           \
        /* R1, publish through the back link (the head's or the         \
         * previous element's next): partner SMR_LIST_FIRST/NEXT's      \
         * acquire. */                                                  \
        SMR__LIST_STORE_WORD((elm)->field.le_prev, (elm), ex);          \
        (listelm)->field.le_prev = SMR__LIST_WORD(&(elm)->field.le_next); \
    } while (0)

/* O(1); the head is not needed.  elm keeps its next link (R3). */
#define SMR_LIST_REMOVE(elm, field, ex)                                 \
    do {                                                                \
        SMR__LIST_ASSERT_LINKED(elm, field, "SMR_LIST_REMOVE");         \
        if (SMR_LIST_SERIALIZED_NEXT(elm, field, ex) != NULL)           \
            SMR_LIST_SERIALIZED_NEXT(elm, field, ex)->field.le_prev =   \
                (elm)->field.le_prev;                                   \
        /* R1: the successor is exposed to readers of the previous      \
         * link; partner SMR_LIST_FIRST/NEXT's acquire. */              \
        SMR__LIST_STORE_WORD((elm)->field.le_prev,                      \
            SMR_LIST_SERIALIZED_NEXT(elm, field, ex), ex);              \
        SMR__LIST_POISON_PREV(elm, field);                    /* R4 */  \
    } while (0)

/* elm2 (not on a list) takes elm's place in one store. */
#define SMR_LIST_REPLACE(elm, elm2, field, ex)                          \
    do {                                                                \
        SMR__LIST_ASSERT_LINKED(elm, field, "SMR_LIST_REPLACE");        \
        smr_unserialized_store(&(elm2)->field.le_next,       /* R2 */   \
            SMR_LIST_SERIALIZED_NEXT(elm, field, ex), true);            \
        if (SMR_LIST_SERIALIZED_NEXT(elm2, field, true) != NULL)        \
            SMR_LIST_SERIALIZED_NEXT(elm2, field, true)->field.le_prev = \
                SMR__LIST_WORD(&(elm2)->field.le_next);                 \
        (elm2)->field.le_prev = (elm)->field.le_prev;                   \
        /* R1, publish: partner SMR_LIST_FIRST/NEXT's acquire. */       \
        SMR__LIST_STORE_WORD((elm2)->field.le_prev, (elm2), ex);        \
        SMR__LIST_POISON_PREV(elm, field);            /* R3 + R4 */     \
    } while (0)

#endif /* SMR_LIST_H */
