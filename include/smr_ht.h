/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * libsmr: a lock-free, resizable hash table with intrusive nodes whose
 * readers run inside SMR read sections (smr_ht(3)).
 *
 * The table is a split-ordered list (Shalev and Shavit, 2006), the design
 * of liburcu's cds_lfht: one lock-free linked list holds every node,
 * sorted by the bit-reversed hash, and the buckets are dummy nodes in that
 * list, so a resize adds or removes dummies and never moves a node.
 *
 *   - Lookups and iteration take no lock and write nothing shared; they
 *     run inside the caller's read section on the table's domain.
 *   - Inserts, deletes and replaces are lock-free (compare-and-swap on one
 *     link), so writers never wait for each other.
 *   - The table grows and shrinks with its load factor, and on request,
 *     without blocking readers or writers.
 *   - The table never frees a node.  After smr_ht_delete or smr_ht_replace
 *     returns 0, the removed node is the caller's, still visible to
 *     readers: free it with smr_pool_free(3) or smr_retire(3) on the
 *     table's domain, or after a grace period of your own.
 *
 * Embed a struct smr_ht_node in your object and give the table a hash and
 * a match function; SMR_HT_ENTRY turns a node back into your object.
 * Errors are returned as errno values; smr_ht_create sets errno.
 */
#ifndef SMR_HT_H
#define SMR_HT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smr.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The link embedded in each object.  Both fields belong to the table
 * (read them only through the functions below): the successor in the
 * split-ordered list with a "removed" flag in bit 0, and the node's
 * split-order key (its hash, bit-reversed), set at insert.  A node need
 * not be initialised before it is inserted.
 */
struct smr_ht_node {
    uintptr_t hn_next;
    uint64_t hn_key;
};

typedef struct smr_ht *smr_ht_t;

/* The hash of a key (any 64-bit value: the table uses its low bits to
 * pick a bucket, so they must be well mixed), and whether a node holds a
 * key.  Both are called with the args' arg, from any thread, inside a
 * read section; they must not block or call back into the table. */
typedef uint64_t (*smr_ht_hash_fn)(const void *key, void *arg);
typedef bool (*smr_ht_match_fn)(const struct smr_ht_node *node,
    const void *key, void *arg);

/* Largest bucket count a table may have. */
#define SMR_HT_MAX_BUCKETS                                              \
    ((size_t)1 << (sizeof(void *) >= 8 ? 32 : 26))

/* Flags. */
#define SMR_HT_MANUAL_RESIZE 0x1 /* no automatic resize: smr_ht_resize only */

struct smr_ht_args {
    smr_ht_hash_fn hash;    /* required */
    smr_ht_match_fn match;  /* required */
    void *arg;              /* passed to hash and match */
    const char *name;       /* for messages (NULL: "smr_ht") */
    size_t init_buckets;    /* 0: 16; rounded up to a power of two */
    size_t min_buckets;     /* automatic shrinking stops here (0: 16) */
    size_t max_buckets;     /* automatic growth stops here
                             * (0: SMR_HT_MAX_BUCKETS) */
    int flags;              /* 0 or SMR_HT_MANUAL_RESIZE */
};

/* NULL + errno: EINVAL (smr, args, hash or match NULL; unknown flags; a
 * size past SMR_HT_MAX_BUCKETS; min > max; init outside [min, max]),
 * ENOMEM.  The domain must outlive the table. */
SMR_API smr_ht_t smr_ht_create(smr_t smr, const struct smr_ht_args *args);
/* 0, or EBUSY (nodes remain: the table is left as it was).  No other
 * thread may use the table; call it outside every read section (it waits
 * for readers, as smr_synchronize does). */
SMR_API int smr_ht_destroy(smr_ht_t ht);

/*
 * Readers: call inside a read section of the table's domain (smr_enter or
 * smr_lazy_enter); a node returned stays valid until that section ends.
 * They never block and may run concurrently with every other call.
 */
/* The first node that matches key, or NULL. */
SMR_API struct smr_ht_node *smr_ht_lookup(smr_ht_t ht, const void *key);
/* The next node after node that matches key (duplicates), or NULL. */
SMR_API struct smr_ht_node *smr_ht_next_dup(smr_ht_t ht,
    struct smr_ht_node *node, const void *key);
/* Every node, in no useful order: smr_ht_first, then smr_ht_next until
 * NULL.  A node present for the whole walk is seen exactly once; nodes
 * inserted or removed meanwhile may or may not be. */
SMR_API struct smr_ht_node *smr_ht_first(smr_ht_t ht);
SMR_API struct smr_ht_node *smr_ht_next(smr_ht_t ht,
    struct smr_ht_node *node);
#define SMR_HT_FOREACH(node, ht)                                        \
    for ((node) = smr_ht_first(ht); (node) != NULL;                     \
        (node) = smr_ht_next((ht), (node)))

/*
 * Writers: lock-free, legal inside or outside a section (they open their
 * own, which nests).  key is the node's key, as match compares it.
 */
/* Insert node, even if nodes with the same key are present. */
SMR_API void smr_ht_insert(smr_ht_t ht, struct smr_ht_node *node,
    const void *key);
/* Insert node unless a node matching key is present: returns node if it
 * was inserted, else the node found (valid while the caller's own section
 * lasts: call it inside one to use it). */
SMR_API struct smr_ht_node *smr_ht_insert_unique(smr_ht_t ht,
    struct smr_ht_node *node, const void *key);
/* Put new_node (not in a table, with old_node's key) in old_node's place
 * in one step: a lookup finds one or the other, never neither.  0, or
 * ENOENT (old_node was already removed; new_node is not inserted). */
SMR_API int smr_ht_replace(smr_ht_t ht, struct smr_ht_node *old_node,
    struct smr_ht_node *new_node);
/* Remove node.  0, or ENOENT: node was already removed (by a concurrent
 * delete or replace), or was never in this table, which aborts with a
 * message in SMR_DEBUG builds. */
SMR_API int smr_ht_delete(smr_ht_t ht, struct smr_ht_node *node);

/*
 * Rehash into nbuckets buckets (rounded up to a power of two, within
 * [1, SMR_HT_MAX_BUCKETS]); readers and writers go on meanwhile.  A
 * shrink frees bucket memory after grace periods: before returning when
 * called outside every read section, else at a later table call.  With
 * automatic resizing on, the table may later resize itself again.  0,
 * EINVAL or ENOMEM (the table keeps its old size).
 */
SMR_API int smr_ht_resize(smr_ht_t ht, size_t nbuckets);

struct smr_ht_stats {
    size_t count;           /* nodes: an estimate under concurrent updates */
    size_t buckets;         /* buckets in use */
    size_t buckets_alloc;   /* bucket nodes allocated (>= buckets while a
                             * shrink waits for readers) */
    size_t bytes;           /* bucket memory held, retired levels included */
    uint64_t grows;         /* resizes that added buckets */
    uint64_t shrinks;       /* resizes that removed buckets */
    uint64_t resize_fails;  /* resizes abandoned for lack of memory */
    /* more fields may follow */
};
SMR_API void smr_ht_stats(smr_ht_t ht, struct smr_ht_stats *st);
/* smr_ht_stats' count and buckets. */
SMR_API size_t smr_ht_count(smr_ht_t ht);
SMR_API size_t smr_ht_buckets(smr_ht_t ht);
/* The domain given at create. */
SMR_API smr_t smr_ht_smr(smr_ht_t ht);

/* The object of type `type` whose member `field` is node. */
#define SMR_HT_ENTRY(node, type, field)                                 \
    ((type *)(void *)((char *)(node) - offsetof(type, field)))

/*
 * Test hook (tests only): when set, the table calls it before each
 * allocation of bucket memory; true makes that allocation fail (ENOMEM).
 */
extern SMR_API bool (*volatile smr__ht_test_fail_alloc)(size_t bytes);

#ifdef __cplusplus
}
#endif

#endif /* SMR_HT_H */
