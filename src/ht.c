/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * smr_ht: a lock-free, resizable hash table on libsmr (smr_ht(3)).
 *
 * Theory of operation
 * ===================
 *
 * The split-ordered list (Shalev and Shavit, "Split-ordered lists:
 * lock-free extensible hash tables", JACM 2006), as liburcu's cds_lfht
 * also builds it, with SMR read sections in place of RCU.
 *
 * One list, sorted by split-order key
 * -----------------------------------
 * Every node of the table is on ONE singly linked list, sorted by its key
 * K = reverse(hash) | 1 (the 64 bits of the hash in reverse order, lowest
 * bit forced to 1).  Bucket b of a table of 2^n buckets holds the nodes
 * whose hash ends in the n bits of b; reversed, those are exactly the keys
 * that start with reverse(b) in their top n bits, a contiguous run of the
 * list.  Each bucket is a dummy node with key reverse(b), even, so it sorts
 * just before its run.  With 4 buckets (hash bits shown low bit first):
 *
 *   d0 ---- a(00..) -- d2 ---- b(01..) -- d1 ---- c(10..) -- d3 -- e(11..)
 *   key:00  00..1       01      01..1      10       10..1    11     11..1
 *
 * Doubling to 8 buckets inserts d4..d7, each after its parent (b minus its
 * top bit: d4 after d0, d5 after d1, ...) in the run it splits.  No node
 * moves, so growing is one lock-free insert per new bucket, and a lookup
 * that started on the old table (from d0, say) walks through the new
 * dummies and still finds everything.  Shrinking removes dummies again.
 *
 * Buckets live in levels: level 0 is bucket 0, level i (i >= 1) holds
 * buckets [2^(i-1), 2^i), allocated when the table first grows past it.
 * h_levels[] never moves; a table of 2^n buckets uses levels 0..n.
 *
 * Lookups
 * -------
 * Inside the caller's section: load h_size (acquire), find the bucket's
 * dummy, walk while key <= K, and return the first node with key K that
 * is not marked removed and that the user's match function accepts.  A
 * lookup stores nothing and takes no lock.
 *
 * Updates (Harris-Michael list, one CAS each)
 * -------------------------------------------
 * A node's own link word carries a REMOVED flag in bit 0.
 *
 *   insert   walk to the last node with key <= K (pred) and its successor;
 *            set node->next = successor, CAS pred->next from successor to
 *            node.  (A unique insert first compares the nodes with key K.)
 *   delete   walk to node; CAS node->next from succ to succ|REMOVED (the
 *            linearization point: whoever sets the flag owns the removal);
 *            then CAS pred->next from node to succ (unlink).
 *   replace  CAS old->next from succ to new|REMOVED, with new->next = succ:
 *            old is removed and new linked in its place by one CAS, so a
 *            reader sees old (unmarked) or new, never neither; then unlink
 *            old as delete does.
 *
 * Every writer's walk unlinks the removed nodes it meets, and restarts from
 * its bucket when such an unlink's CAS fails.  Nothing is ever inserted
 * after a removed node (its link is flagged, so the inserting CAS fails),
 * and a removed node's link is frozen, so a reader standing on it goes on
 * into the list.
 *
 * Invariants
 * ----------
 *   I1  The list is sorted by key; dummies have even keys, nodes odd ones.
 *   I2  A node is unlinked only after it has been marked REMOVED, and a
 *       marked node is never unmarked.
 *   I3  A walk that starts from a live dummy, never follows the link of a
 *       marked node without unlinking it, and passes key K, has passed
 *       every node with key <= K that stayed linked meanwhile.  So a
 *       marked node with key K that such a walk did not meet is unlinked:
 *       that is how delete and replace make sure the node is off the list
 *       before they return (the caller then frees it, and a node still on
 *       the list would be found by sections that start after the free's
 *       grace period began).
 *   I4  No section uses a bucket that is not on the list: a level's
 *       dummies are linked before h_size covers them (release store of
 *       h_size), and are unlinked only after a grace period has passed
 *       since h_size stopped covering them (every section that loaded the
 *       larger size has ended).
 *   I5  Bucket memory is freed only after a second grace period, counted
 *       from after its dummies were unlinked and h_levels[] cleared.
 *   I6  The table never frees a node: the caller reclaims what delete and
 *       replace hand back, through a pool or smr_retire, after which a
 *       grace period keeps it intact for every section that could see it.
 *
 * Resizes are serialized by h_resize_mtx and done in steps (ht_step): an
 * update that meets a count check, if it gets the lock with a try-lock,
 * decides on a new size and does one step of at most HT_STEP_BUDGET dummy
 * links or unlinks, so no update pays for a whole resize; the table keeps
 * working at its old size until a growth is complete.  Automatic resizes
 * never wait for readers: the grace periods of I4 and I5 are goals
 * (smr_advance) that later steps poll.  smr_ht_resize does every step at
 * once, and waits for those goals when called outside every section.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smr_internal.h"
#include "smr_ht.h"

#define HT_MAGIC        0x68747331u     /* "hts1" */
#define HT_MAGIC_DEAD   0x68747378u
#define HT_REMOVED      ((uintptr_t)1)
#define HT_PTR(w)       ((struct smr_ht_node *)((w) & ~HT_REMOVED))
/* Highest level any table can have (SMR_HT_MAX_BUCKETS is 2^32 or 2^26). */
#define HT_LEVELS       33
#define HT_MAX_ORDER    ((unsigned)(sizeof(void *) >= 8 ? 32 : 26))
#define HT_DEFAULT_ORDER 4              /* 16 buckets */
/* Automatic resize: grow past 1 node per bucket (to <= 1), shrink below
 * 1/8 (to 1/4..1/2). */
#define HT_SHRINK_SHIFT 3
/* Dummies linked or unlinked per read section by a resize, so that a big
 * resize does not hold grace periods back for its whole length. */
#define HT_RESIZE_CHUNK 1024u
/* A dead bucket's key: even (a dummy's) and above every live key, so a
 * reader that stands on it stops there. */
#define HT_KEY_POISON   (UINT64_MAX - 1)

_Static_assert(HT_LEVELS > 32, "h_levels must hold every order");

/* One level of buckets: the dummy nodes of [2^(order-1), 2^order). */
struct ht_level {
    struct ht_level *l_dead_next;   /* retired list (h_resize_mtx) */
    smr_seq_t l_goal;               /* free once reached */
    size_t l_bytes;
    unsigned l_order;
    struct smr_ht_node l_b[] __attribute__((aligned(SMR__CACHE_LINE)));
};

/* One split counter: nodes added and removed by the threads that ran on
 * the CPUs mapped to it.  Two monotonic counts, not one signed one, so
 * that the periodic check fires however inserts and removals alternate. */
struct ht_count {
    unsigned long c_add;
    unsigned long c_del;
} __attribute__((aligned(SMR__CACHE_LINE)));

struct smr_ht {
    /* Read-mostly: every call reads this part. */
    uint32_t h_magic;
    uint32_t h_flags;
    bool h_lazy;                /* enter with smr_lazy_enter (fence-free) */
    smr_t h_smr;
    smr_ht_hash_fn h_hash;
    smr_ht_match_fn h_match;
    void *h_arg;
    size_t h_size;              /* buckets in use (atomic, see I4) */
    unsigned long h_check_mask; /* count check period - 1 (atomic, hint) */
    unsigned h_nslots_mask;     /* split counters - 1 */
    struct ht_count *h_counts;
    struct ht_level *h_levels[HT_LEVELS];   /* (atomic) */
    /* A resize under way, or retired levels (atomic hint: updates look
     * at it; rechecked under h_resize_mtx). */
    int h_work __attribute__((aligned(SMR__CACHE_LINE)));

    /* Resize state: under h_resize_mtx. */
    pthread_mutex_t h_resize_mtx __attribute__((aligned(SMR__CACHE_LINE)));
    unsigned h_alloc_order;     /* levels 0..h_alloc_order are linked */
    unsigned h_grow_order;      /* > h_alloc_order: growing (ht_step) */
    bool h_trimming;            /* unlinking level h_alloc_order */
    size_t h_next;              /* next dummy to (un)link in that level */
    unsigned h_min_order, h_max_order;
    smr_seq_t h_shrink_goal;    /* after the last decrease of h_size */
    struct ht_level *h_dead;    /* unlinked levels waiting for l_goal */
    size_t h_bytes;
    uint64_t h_grows, h_shrinks, h_fails;
    char h_name[32];
};

SMR_API bool (*volatile smr__ht_test_fail_alloc)(size_t bytes);

/* ---- small helpers ----------------------------------------------------- */

static inline uint64_t
ht_rev64(uint64_t x)
{
    x = __builtin_bswap64(x);
    x = ((x & UINT64_C(0x0f0f0f0f0f0f0f0f)) << 4) |
        ((x >> 4) & UINT64_C(0x0f0f0f0f0f0f0f0f));
    x = ((x & UINT64_C(0x3333333333333333)) << 2) |
        ((x >> 2) & UINT64_C(0x3333333333333333));
    x = ((x & UINT64_C(0x5555555555555555)) << 1) |
        ((x >> 1) & UINT64_C(0x5555555555555555));
    return x;
}

/* A node's key: odd (bit 63 of the hash is given up for it). */
static inline uint64_t
ht_key_of_hash(uint64_t hash)
{
    return ht_rev64(hash) | 1;
}

static inline uint64_t
ht_key_of_bucket(size_t b)
{
    return ht_rev64((uint64_t)b);
}

/* The bucket of a node's key in a table of size buckets. */
static inline size_t
ht_bucket_of_key(uint64_t key, size_t size)
{
    return (size_t)ht_rev64(key) & (size - 1);
}

static inline unsigned
ht_order_of(size_t size)        /* size: a power of two */
{
    return (unsigned)__builtin_ctzll((unsigned long long)size);
}

/* The smallest order whose size holds n (n >= 1). */
static unsigned
ht_order_for(size_t n)
{
    unsigned o = 0;

    while (((size_t)1 << o) < n && o < HT_MAX_ORDER)
        o++;
    return o;
}

static inline size_t
ht_level_len(unsigned order)
{
    return order == 0 ? 1 : (size_t)1 << (order - 1);
}

/*
 * The dummy of bucket b.  The level pointer is loaded relaxed: b is below
 * an h_size the caller loaded with acquire, and the release store of that
 * h_size came after the store of the level pointer (partner: the release
 * store of h_size in ht_step or ht_request).  While the caller's section lasts
 * the level cannot be unlinked (I4), so the pointer does not change.
 */
static inline struct smr_ht_node *
ht_bucket(struct smr_ht *ht, size_t b)
{
    unsigned i = 0;
    size_t j = 0;

    if (b != 0) {
        i = (unsigned)(64 - __builtin_clzll((unsigned long long)b));
        j = b - ((size_t)1 << (i - 1));
    }
    return &__atomic_load_n(&ht->h_levels[i], __ATOMIC_RELAXED)->l_b[j];
}

/* A link word, acquire: the node it points at was fully written before it
 * was linked (partner: the release half of every linking CAS below). */
static inline uintptr_t
ht_link(struct smr_ht_node *n)
{
    return __atomic_load_n(&n->hn_next, __ATOMIC_ACQUIRE);
}

/*
 * CAS on a link word.  Release on success: a node linked or exposed by it
 * (and its successor chain) is seen initialised by whoever loads the link
 * with acquire (ht_link).  Acquire on failure: the value read back may be
 * stored into a new node's link and published again (as in replace), so it
 * must carry its own initialisation with it (partner: the same release,
 * by the thread that stored it).
 */
static inline bool
ht_cas(struct smr_ht_node *n, uintptr_t *expected, uintptr_t desired)
{
    return __atomic_compare_exchange_n(&n->hn_next, expected, desired,
        false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

static inline void
ht_enter(struct smr_ht *ht)
{
    if (ht->h_lazy)
        smr_lazy_enter(ht->h_smr);
    else
        smr_enter(ht->h_smr);
}

static inline void
ht_exit(struct smr_ht *ht)
{
    if (ht->h_lazy)
        smr_lazy_exit(ht->h_smr);
    else
        smr_exit(ht->h_smr);
}

#if SMR_CONFIG_DEBUG
#define HT_ASSERT_ENTERED(ht, what)                                     \
    smr__assert_entered((ht)->h_smr,                                    \
        what ": outside a read section of the table's domain")
#else
#define HT_ASSERT_ENTERED(ht, what) ((void)0)
#endif

static void
ht_check_magic(const struct smr_ht *ht, const char *what)
{
    if (ht == NULL)
        smr__die(NULL, "%s: NULL table", what);
    if (ht->h_magic != HT_MAGIC)
        smr__die(NULL, "%s: %p is not a live smr_ht table (magic %#x%s)",
            what, (const void *)ht, ht->h_magic,
            ht->h_magic == HT_MAGIC_DEAD ? ": destroyed" : "");
}

/* A delete or replace of a node that is neither in the table nor marked
 * removed: a node of another table, never inserted, or garbage. */
static void
ht_not_in_table(struct smr_ht *ht, const struct smr_ht_node *node,
    const char *what)
{
#if SMR_CONFIG_DEBUG
    smr__die(ht->h_smr, "%s: node %p is not in table \"%s\"", what,
        (const void *)node, ht->h_name);
#else
    (void)ht;
    (void)node;
    (void)what;
#endif
}

/* ---- split counters ---------------------------------------------------- */

static inline unsigned
ht_cpu(void)
{
#if defined(__linux__)
    int c = sched_getcpu();

    if (c >= 0)
        return (unsigned)c;
#endif
    /* Elsewhere: a hash of where this thread's stack is. */
    char here;
    uintptr_t a = (uintptr_t)&here;

    return (unsigned)(((uint64_t)(a >> 16) * UINT64_C(0x9e3779b97f4a7c15)) >>
        40);
}

static long
ht_count_sum(const struct smr_ht *ht)
{
    unsigned long add = 0, del = 0;

    /* Relaxed: an estimate (no partner).  Removals first, so that a
     * removal is never counted without the insert before it. */
    for (unsigned i = 0; i <= ht->h_nslots_mask; i++)
        del += __atomic_load_n(&ht->h_counts[i].c_del, __ATOMIC_RELAXED);
    for (unsigned i = 0; i <= ht->h_nslots_mask; i++)
        add += __atomic_load_n(&ht->h_counts[i].c_add, __ATOMIC_RELAXED);
    return (long)(add - del);
}

static void ht_check(struct smr_ht *ht);

/* Count one insert (add) or removal, and now and then look at the
 * load factor and at pending maintenance. */
static inline void
ht_count(struct smr_ht *ht, bool add)
{
    struct ht_count *c = &ht->h_counts[ht_cpu() & ht->h_nslots_mask];
    /* Relaxed: statistics and a resize hint (no partner). */
    unsigned long v = __atomic_add_fetch(add ? &c->c_add : &c->c_del, 1,
        __ATOMIC_RELAXED);

    if (__builtin_expect((v & __atomic_load_n(&ht->h_check_mask,
        __ATOMIC_RELAXED)) == 0, 0))
        ht_check(ht);
}

/* ---- the walk every writer makes --------------------------------------- */

enum { HT_END, HT_FOUND, HT_MATCH };

struct ht_pos {
    struct smr_ht_node *pred;   /* last node passed (unmarked when read) */
    uintptr_t next;             /* pred's link as read: unmarked */
    struct smr_ht_node *match;  /* HT_MATCH: the node found */
};

/* The dummy of the bucket of a hash, or of a node's key, in the current
 * table (inside a section).  Acquire: partner the release store of h_size
 * by resizes (I4). */
static inline struct smr_ht_node *
ht_start_hash(struct smr_ht *ht, uint64_t hash)
{
    size_t size = __atomic_load_n(&ht->h_size, __ATOMIC_ACQUIRE);

    return ht_bucket(ht, (size_t)hash & (size - 1));
}

static inline struct smr_ht_node *
ht_start(struct smr_ht *ht, uint64_t key)
{
    size_t size = __atomic_load_n(&ht->h_size, __ATOMIC_ACQUIRE);

    return ht_bucket(ht, ht_bucket_of_key(key, size));
}

/*
 * Walk from start (a live dummy before key; ht_search: key's bucket),
 * inside a section, unlinking every removed node
 * met (I3; a failed unlink restarts from the bucket).  Stops
 *   - at target, if it meets it unmarked: HT_FOUND, pos->pred its
 *     predecessor and pos->next == target;
 *   - at a node with key `key` that match()es ukey (ukey != NULL):
 *     HT_MATCH, pos->match;
 *   - otherwise past every node with key <= key: HT_END, pos->pred the
 *     last of them (or the bucket), pos->next what follows it.
 */
static int
ht_search_from(struct smr_ht *ht, struct smr_ht_node *start, uint64_t key,
    const struct smr_ht_node *target, const void *ukey, struct ht_pos *pos)
{
    struct smr_ht_node *pred, *cur;
    uintptr_t w, nx;

restart:
    pred = start;
    w = ht_link(pred);
    if (__builtin_expect((w & HT_REMOVED) != 0, 0)) {
        /* The bucket itself is being removed.  I4 rules this out for
         * sections that loaded h_size from inside; reload (the mark was
         * set after the smaller h_size was stored, and our acquire load of
         * the mark orders the reload after it). */
        start = ht_start(ht, key);
        goto restart;
    }
    for (;;) {
        cur = HT_PTR(w);
        if (cur == NULL)
            break;
        nx = ht_link(cur);
        if (nx & HT_REMOVED) {
            /* cur is removed: unlink it (pred->next: cur -> its
             * successor).  Release: partner ht_link in walks and
             * lookups that reach the successor through pred. */
            uintptr_t exp = (uintptr_t)cur;
            if (!ht_cas(pred, &exp, nx & ~HT_REMOVED))
                goto restart;
            w = nx & ~HT_REMOVED;
            continue;
        }
        if (cur == target) {
            pos->pred = pred;
            pos->next = w;
            return HT_FOUND;
        }
        uint64_t ck = cur->hn_key;
        if (ck > key)
            break;
        if (ukey != NULL && ck == key &&
            ht->h_match(cur, ukey, ht->h_arg)) {
            pos->match = cur;
            return HT_MATCH;
        }
        pred = cur;
        w = nx;
    }
    pos->pred = pred;
    pos->next = w;
    return HT_END;
}

static inline int
ht_search(struct smr_ht *ht, uint64_t key, const struct smr_ht_node *target,
    const void *ukey, struct ht_pos *pos)
{
    return ht_search_from(ht, ht_start(ht, key), key, target, ukey, pos);
}

/* ---- readers ----------------------------------------------------------- */

SMR_API struct smr_ht_node *
smr_ht_lookup(smr_ht_t ht, const void *key)
{
    const uint64_t h = ht->h_hash(key, ht->h_arg), k = ht_key_of_hash(h);
    struct smr_ht_node *n;
    uintptr_t w;

    HT_ASSERT_ENTERED(ht, "smr_ht_lookup");
    w = ht_link(ht_start_hash(ht, h));
    while ((n = HT_PTR(w)) != NULL) {
        uint64_t nk = n->hn_key;

        w = ht_link(n);
        if (nk >= k) {
            if (nk > k)
                break;
            if ((w & HT_REMOVED) == 0 && ht->h_match(n, key, ht->h_arg))
                return n;
        }
    }
    return NULL;
}

SMR_API struct smr_ht_node *
smr_ht_next_dup(smr_ht_t ht, struct smr_ht_node *node, const void *key)
{
    const uint64_t k = node->hn_key;
    struct smr_ht_node *n;
    uintptr_t w;

    HT_ASSERT_ENTERED(ht, "smr_ht_next_dup");
    /* A run of equal keys holds nodes only (dummy keys are even). */
    w = ht_link(node);
    while ((n = HT_PTR(w)) != NULL) {
        uint64_t nk = n->hn_key;

        w = ht_link(n);
        if (nk != k)
            break;
        if ((w & HT_REMOVED) == 0 && ht->h_match(n, key, ht->h_arg))
            return n;
    }
    return NULL;
}

/* The first live node at or after the node w points at. */
static struct smr_ht_node *
ht_next_live(uintptr_t w)
{
    struct smr_ht_node *n;

    while ((n = HT_PTR(w)) != NULL) {
        uint64_t nk = n->hn_key;

        w = ht_link(n);
        if ((nk & 1) != 0 && (w & HT_REMOVED) == 0)
            return n;
    }
    return NULL;
}

SMR_API struct smr_ht_node *
smr_ht_first(smr_ht_t ht)
{
    HT_ASSERT_ENTERED(ht, "smr_ht_first");
    /* Bucket 0 heads the whole list and is never removed. */
    return ht_next_live(ht_link(ht_bucket(ht, 0)));
}

SMR_API struct smr_ht_node *
smr_ht_next(smr_ht_t ht, struct smr_ht_node *node)
{
    HT_ASSERT_ENTERED(ht, "smr_ht_next");
    return ht_next_live(ht_link(node));
}

/* ---- writers ----------------------------------------------------------- */

static struct smr_ht_node *
ht_insert(struct smr_ht *ht, struct smr_ht_node *node, const void *key,
    bool unique)
{
    const uint64_t h = ht->h_hash(key, ht->h_arg), k = ht_key_of_hash(h);
    struct ht_pos pos;

    node->hn_key = k;   /* private until the CAS below publishes it */
    ht_enter(ht);
    for (;;) {
        if (ht_search_from(ht, ht_start_hash(ht, h), k, NULL,
            unique ? key : NULL, &pos) == HT_MATCH) {
            ht_exit(ht);
            return pos.match;
        }
        /* Relaxed: node is private; the release CAS publishes it. */
        __atomic_store_n(&node->hn_next, pos.next, __ATOMIC_RELAXED);
        uintptr_t exp = pos.next;
        /* Publish node after pred.  Release: partner ht_link's acquire,
         * in lookups and walks that reach node through pred. */
        if (ht_cas(pos.pred, &exp, (uintptr_t)node))
            break;
    }
    ht_exit(ht);
    ht_count(ht, true);
    return node;
}

SMR_API void
smr_ht_insert(smr_ht_t ht, struct smr_ht_node *node, const void *key)
{
    (void)ht_insert(ht, node, key, false);
}

SMR_API struct smr_ht_node *
smr_ht_insert_unique(smr_ht_t ht, struct smr_ht_node *node, const void *key)
{
    return ht_insert(ht, node, key, true);
}

/*
 * Unlink node, already marked, whose unmarked successor is succ: directly
 * if pos->pred still points at it, else by a walk past its key (I3).
 */
static void
ht_unlink(struct smr_ht *ht, struct ht_pos *pos, struct smr_ht_node *node,
    uintptr_t succ)
{
    uintptr_t exp = (uintptr_t)node;

    /* Release: partner ht_link's acquire in walks that reach succ through
     * pred (succ itself was read with acquire). */
    if (!ht_cas(pos->pred, &exp, succ))
        (void)ht_search(ht, node->hn_key, NULL, NULL, pos);
}

SMR_API int
smr_ht_delete(smr_ht_t ht, struct smr_ht_node *node)
{
    struct ht_pos pos;
    uintptr_t nx;

    ht_enter(ht);
    if (ht_search(ht, node->hn_key, node, NULL, &pos) != HT_FOUND) {
        /* Acquire: a concurrent removal's mark (partner: its CAS). */
        bool removed = (ht_link(node) & HT_REMOVED) != 0;

        ht_exit(ht);
        if (!removed)
            ht_not_in_table(ht, node, "smr_ht_delete");
        return ENOENT;
    }
    /* Mark: the removal happens here, and belongs to whoever marks. */
    nx = ht_link(node);
    do {
        if (nx & HT_REMOVED) {
            ht_exit(ht);
            return ENOENT;      /* a concurrent delete or replace won */
        }
    } while (!ht_cas(node, &nx, nx | HT_REMOVED));
    ht_unlink(ht, &pos, node, nx);
    ht_exit(ht);
    ht_count(ht, false);
    return 0;
}

SMR_API int
smr_ht_replace(smr_ht_t ht, struct smr_ht_node *old_node,
    struct smr_ht_node *new_node)
{
    const uint64_t k = old_node->hn_key;
    struct ht_pos pos;
    uintptr_t nx;

    new_node->hn_key = k;       /* private until the CAS below */
    ht_enter(ht);
    if (ht_search(ht, k, old_node, NULL, &pos) != HT_FOUND) {
        /* Acquire: a concurrent removal's mark (partner: its CAS). */
        bool removed = (ht_link(old_node) & HT_REMOVED) != 0;

        ht_exit(ht);
        if (!removed)
            ht_not_in_table(ht, old_node, "smr_ht_replace");
        return ENOENT;
    }
    nx = ht_link(old_node);
    for (;;) {
        if (nx & HT_REMOVED) {
            ht_exit(ht);
            return ENOENT;      /* a concurrent delete or replace won */
        }
        /* Relaxed: new_node is private until the CAS publishes it. */
        __atomic_store_n(&new_node->hn_next, nx, __ATOMIC_RELAXED);
        /* Mark old_node and link new_node after it in one step.  Release:
         * partner ht_link's acquire of old_node's link by readers, which
         * then find new_node initialised (and nx with it: nx was read
         * with acquire, by ht_link or this CAS's failure). */
        if (ht_cas(old_node, &nx, (uintptr_t)new_node | HT_REMOVED))
            break;
    }
    ht_unlink(ht, &pos, old_node, (uintptr_t)new_node);
    ht_exit(ht);
    return 0;
}

/* ---- bucket levels ----------------------------------------------------- */

static struct ht_level *
ht_level_alloc(unsigned order)
{
    size_t n = ht_level_len(order);
    size_t bytes = offsetof(struct ht_level, l_b) +
        n * sizeof(struct smr_ht_node);
    bool (*fail)(size_t) = smr__ht_test_fail_alloc;
    struct ht_level *l;

    bytes = (bytes + SMR__CACHE_LINE - 1) & ~(size_t)(SMR__CACHE_LINE - 1);
    if (fail != NULL && fail(bytes))
        return NULL;
    if ((l = aligned_alloc(SMR__CACHE_LINE, bytes)) == NULL)
        return NULL;
    l->l_dead_next = NULL;
    l->l_goal = SMR_SEQ_INVALID;
    l->l_bytes = bytes;
    l->l_order = order;
    return l;
}

/*
 * Free a level no section can reach any more (I5).  Debug builds (and the
 * broken variant, which skips the grace periods) first poison its dummies:
 * a reader that still stood on one would stop there and miss the rest of
 * the list, which the tests notice.
 */
static void
ht_level_free(struct ht_level *l)
{
#if SMR_CONFIG_DEBUG || defined(SMR_HT__BROKEN_NO_GRACE)
    for (size_t j = 0; j < ht_level_len(l->l_order); j++) {
        /* Relaxed: no section can see it (I5; no partner). */
        __atomic_store_n(&l->l_b[j].hn_next, (uintptr_t)0, __ATOMIC_RELAXED);
        l->l_b[j].hn_key = HT_KEY_POISON;
    }
#endif
#if defined(SMR_HT__BROKEN_NO_GRACE)
    /* Deliberately broken variant (tests only): the grace periods were
     * skipped, so readers may still be on these dummies; keep the memory
     * (poisoned) so that they read the poison, not unmapped pages. */
    return;
#endif
    free(l);
}

/* Insert dummy d (bucket b) into the list, starting from its parent. */
static void
ht_link_dummy(struct smr_ht *ht, struct smr_ht_node *d, size_t b)
{
    const uint64_t k = ht_key_of_bucket(b);
    struct smr_ht_node *pred, *cur;
    uintptr_t w, nx;

    d->hn_key = k;
restart:
    /* The parent (b without its top bit): linked, and before d (I1). */
    pred = ht_bucket(ht, b & ~((size_t)1 << (63 - __builtin_clzll(
        (unsigned long long)b))));
    w = ht_link(pred);
    for (;;) {
        cur = HT_PTR(w);
        if (cur != NULL) {
            nx = ht_link(cur);
            if (nx & HT_REMOVED) {
                uintptr_t exp = (uintptr_t)cur;
                /* Unlink, as ht_search does (same partner). */
                if (!ht_cas(pred, &exp, nx & ~HT_REMOVED))
                    goto restart;
                w = nx & ~HT_REMOVED;
                continue;
            }
            if (cur->hn_key < k) {
                pred = cur;
                w = nx;
                continue;
            }
        }
        /* Relaxed: d is not linked yet; the CAS publishes it. */
        __atomic_store_n(&d->hn_next, w, __ATOMIC_RELAXED);
        uintptr_t exp = w;
        /* Release: partner ht_link's acquire by walks that reach d. */
        if (ht_cas(pred, &exp, (uintptr_t)d))
            return;
        goto restart;
    }
}

/* Link dummies [from, to) of level l (order >= 1); their parents are
 * linked.  One read section. */
static void
ht_link_range(struct smr_ht *ht, struct ht_level *l, size_t from, size_t to)
{
    const size_t n = ht_level_len(l->l_order);

    ht_enter(ht);
    for (size_t i = from; i < to; i++)
        ht_link_dummy(ht, &l->l_b[i], n + i);
    ht_exit(ht);
}

/* Mark and unlink dummies [from, to) of level l, which no section uses
 * (I4).  One read section. */
static void
ht_unlink_range(struct smr_ht *ht, struct ht_level *l, size_t from, size_t to)
{
    struct ht_pos pos;

    ht_enter(ht);
    for (size_t i = from; i < to; i++) {
        struct smr_ht_node *d = &l->l_b[i];
        uintptr_t nx = ht_link(d);

        /* Release: a writer whose walk starts at d and reads the mark
         * (acquire, ht_search) then reloads h_size and finds the smaller
         * one, stored before (partner: ht_search's ht_link of the
         * bucket). */
        while (!ht_cas(d, &nx, nx | HT_REMOVED))
            ;
        /* Walk from the parent (intact: levels go top down) past d:
         * unlinks it (I3), in a walk as short as d's own bucket. */
        (void)ht_search_from(ht, ht_bucket(ht, i), d->hn_key | 1, NULL,
            NULL, &pos);
    }
    ht_exit(ht);
}

static bool
ht_goal_reached(struct smr_ht *ht, smr_seq_t goal, bool may_wait)
{
#if defined(SMR_HT__BROKEN_NO_GRACE)
    /* Deliberately broken variant (tests only): no grace periods. */
    (void)ht;
    (void)goal;
    (void)may_wait;
    return true;
#else
    if (smr__poll_for(ht->h_smr, goal, "smr_ht", ht->h_name))
        return true;
    return may_wait && smr__wait_for(ht->h_smr, goal, "smr_ht", ht->h_name);
#endif
}

static void
ht_set_check_mask(struct smr_ht *ht)
{
    /* Relaxed: h_size is written under h_resize_mtx, which the caller
     * holds (no partner); so is h_work below. */
    size_t size = __atomic_load_n(&ht->h_size, __ATOMIC_RELAXED);
    /* A sixteenth of the buckets over all counters: a shrink (below one
     * node per eight buckets) is noticed before the count halves again. */
    unsigned long p = (unsigned long)(size >> 4) / (ht->h_nslots_mask + 1);

    if (p > 1024)
        p = 1024;
    /* Round down to a power of two, at least 1. */
    while (p & (p - 1))
        p &= p - 1;
    if (p == 0)
        p = 1;
    /* While a resize is under way, a step every 64 updates at most. */
    if (__atomic_load_n(&ht->h_work, __ATOMIC_RELAXED) && p > 64)
        p = 64;
    /* Relaxed: a hint (no partner).  Stored only when it changes: it
     * shares the read-mostly line every call reads. */
    if (__atomic_load_n(&ht->h_check_mask, __ATOMIC_RELAXED) != p - 1)
        __atomic_store_n(&ht->h_check_mask, p - 1, __ATOMIC_RELAXED);
}

/* Bucket slots to link or unlink in one resize step: what is left of the
 * level, within the caller's budget and HT_RESIZE_CHUNK. */
static inline size_t
ht_chunk(size_t left, size_t budget)
{
    if (left > budget)
        left = budget;
    return left > HT_RESIZE_CHUNK ? HT_RESIZE_CHUNK : left;
}

/*
 * The resize engine.  Under h_resize_mtx, the table is in one of:
 *
 *   idle      h_alloc_order == order of h_size;
 *   growing   h_grow_order > h_alloc_order: levels up to h_grow_order are
 *             allocated (and in h_levels, unused: h_size does not cover
 *             them), level h_alloc_order + 1 is linked up to h_next;
 *             h_size is published when the last one is linked (I4);
 *   shrinking h_alloc_order > order of h_size: the dummies above h_size
 *             wait for h_shrink_goal (I4); then (h_trimming) level
 *             h_alloc_order is unlinked up to h_next, top level first,
 *             and each level is retired with a goal of its own (I5).
 *
 * ht_step does up to `budget` dummy links or unlinks, so an automatic
 * resize costs each update that meets a check at most HT_STEP_BUDGET of
 * them (tens of microseconds) however large the table.
 */
#define HT_STEP_BUDGET 1024u

static void
ht_step(struct smr_ht *ht, bool may_wait, size_t budget)
{
    struct ht_level *l, **lp;
    unsigned cur;

    for (;;) {
        /* Relaxed: written under h_resize_mtx, held (no partner). */
        cur = ht_order_of(__atomic_load_n(&ht->h_size, __ATOMIC_RELAXED));
        if (ht->h_grow_order > ht->h_alloc_order) {
            l = ht->h_levels[ht->h_alloc_order + 1];
            size_t n = ht_level_len(l->l_order), k = n - ht->h_next;

            if (budget == 0)
                break;
            k = ht_chunk(k, budget);
            ht_link_range(ht, l, ht->h_next, ht->h_next + k);
            budget -= k;
            if ((ht->h_next += k) < n)
                continue;
            ht->h_next = 0;
            ht->h_alloc_order++;
            if (ht->h_alloc_order == ht->h_grow_order) {
                /* Release: every new dummy is linked and h_levels set
                 * (I4).  Partner: the acquire loads of h_size. */
                __atomic_store_n(&ht->h_size,
                    (size_t)1 << ht->h_alloc_order, __ATOMIC_RELEASE);
                ht->h_grows++;
            }
            continue;
        }
        if (ht->h_alloc_order > cur) {
            if (!ht->h_trimming) {
                if (!ht_goal_reached(ht, ht->h_shrink_goal, may_wait))
                    break;
                ht->h_trimming = true;
                ht->h_next = 0;
            }
            l = ht->h_levels[ht->h_alloc_order];
            size_t n = ht_level_len(l->l_order), k = n - ht->h_next;

            if (budget == 0)
                break;
            k = ht_chunk(k, budget);
            ht_unlink_range(ht, l, ht->h_next, ht->h_next + k);
            budget -= k;
            if ((ht->h_next += k) < n)
                continue;
            /* Relaxed: no section loads it (I4; no partner). */
            __atomic_store_n(&ht->h_levels[ht->h_alloc_order], NULL,
                __ATOMIC_RELAXED);
            /* I5: the goal's advance comes after every unlink of the
             * level (its seq_cst fence; partner: the fence of each
             * reader's enter). */
            l->l_goal = smr_advance(ht->h_smr);
            l->l_dead_next = ht->h_dead;
            ht->h_dead = l;
            ht->h_next = 0;
            ht->h_alloc_order--;
            ht->h_grow_order = ht->h_alloc_order;
            if (ht->h_alloc_order == cur)
                ht->h_trimming = false;
            continue;
        }
        break;
    }
    for (lp = &ht->h_dead; (l = *lp) != NULL;) {
        if (ht_goal_reached(ht, l->l_goal, may_wait)) {
            *lp = l->l_dead_next;
            ht->h_bytes -= l->l_bytes;
            ht_level_free(l);
        } else {
            lp = &l->l_dead_next;
        }
    }
    /* Relaxed: a hint for ht_check (no partner); stored only when it
     * changes, so that updates reading it do not miss on its line. */
    int work = ht->h_grow_order > ht->h_alloc_order ||
        ht->h_alloc_order > cur || ht->h_dead != NULL;
    if (__atomic_load_n(&ht->h_work, __ATOMIC_RELAXED) != work)
        __atomic_store_n(&ht->h_work, work, __ATOMIC_RELAXED);
    ht_set_check_mask(ht);
}

/*
 * Under h_resize_mtx, with no growth and no trimming under way: ask for
 * 2^order buckets.  A shrink publishes at once (its levels go later); a
 * growth within levels still linked publishes at once, beyond them it
 * allocates every new level first (ENOMEM: nothing changes) and then
 * grows through ht_step.
 */
static int
ht_request(struct smr_ht *ht, unsigned order)
{
    /* Relaxed: written under h_resize_mtx, held (no partner). */
    unsigned cur = ht_order_of(__atomic_load_n(&ht->h_size,
        __ATOMIC_RELAXED));

    if (order > cur) {
        if (ht->h_alloc_order > cur) {
            unsigned o = order < ht->h_alloc_order ? order : ht->h_alloc_order;
            /* Release: levels up to h_alloc_order are linked (I4).
             * Partner: the acquire loads of h_size. */
            __atomic_store_n(&ht->h_size, (size_t)1 << o, __ATOMIC_RELEASE);
            ht->h_grows++;
            cur = o;
        }
        if (order > ht->h_alloc_order) {
            struct ht_level *nl[HT_LEVELS];
            unsigned i;

            for (i = ht->h_alloc_order + 1; i <= order; i++) {
                if ((nl[i] = ht_level_alloc(i)) == NULL) {
                    while (--i > ht->h_alloc_order)
                        free(nl[i]);
                    ht->h_fails++;
                    return ENOMEM;
                }
            }
            for (i = ht->h_alloc_order + 1; i <= order; i++) {
                /* Relaxed: nobody uses level i before h_size covers it,
                 * and the release store of h_size in ht_step publishes it
                 * (partner: the acquire loads of h_size). */
                __atomic_store_n(&ht->h_levels[i], nl[i], __ATOMIC_RELAXED);
                ht->h_bytes += nl[i]->l_bytes;
            }
            ht->h_grow_order = order;
            ht->h_next = 0;
        }
    } else if (order < cur) {
        /* Release: as above (the levels stay linked for now). */
        __atomic_store_n(&ht->h_size, (size_t)1 << order, __ATOMIC_RELEASE);
        /* I4: the goal's advance comes after the store (its seq_cst fence;
         * partner: the fence of each reader's enter), so once it is
         * reached no section holds the larger size. */
        ht->h_shrink_goal = smr_advance(ht->h_smr);
        ht->h_shrinks++;
    }
    return 0;
}

static inline bool
ht_busy(const struct smr_ht *ht)
{
    return ht->h_grow_order > ht->h_alloc_order || ht->h_trimming;
}

/* An update met a count check: resize if the load factor says so, and do
 * a step of a resize under way.  Never waits (a try-lock, polls only). */
static void
ht_check(struct smr_ht *ht)
{
    /* Relaxed: a hint for the decision below, which ht_request and
     * ht_step make again under h_resize_mtx (no partner); h_work too. */
    size_t size = __atomic_load_n(&ht->h_size, __ATOMIC_RELAXED);
    unsigned cur = ht_order_of(size), order = cur;
    long count = ht_count_sum(ht);

    if ((ht->h_flags & SMR_HT_MANUAL_RESIZE) == 0) {
        size_t n = count > 0 ? (size_t)count : 0;

        if (n > size && cur < ht->h_max_order) {
            order = ht_order_for(n);
        } else if (n < (size >> HT_SHRINK_SHIFT) && cur > ht->h_min_order) {
            order = ht_order_for(n * 2 > 0 ? n * 2 : 1);
        }
        if (order > ht->h_max_order)
            order = ht->h_max_order;
        if (order < ht->h_min_order)
            order = ht->h_min_order;
    }
    if (order == cur && !__atomic_load_n(&ht->h_work, __ATOMIC_RELAXED))
        return;
    if (pthread_mutex_trylock(&ht->h_resize_mtx) != 0)
        return;
    if (order != cur && !ht_busy(ht))
        (void)ht_request(ht, order);
    ht_step(ht, false, HT_STEP_BUDGET);
    pthread_mutex_unlock(&ht->h_resize_mtx);
}

SMR_API int
smr_ht_resize(smr_ht_t ht, size_t nbuckets)
{
    bool may_wait;
    int error;

    ht_check_magic(ht, "smr_ht_resize");
    if (nbuckets == 0 || nbuckets > SMR_HT_MAX_BUCKETS)
        return EINVAL;
    may_wait = !smr_entered_any();
    pthread_mutex_lock(&ht->h_resize_mtx);
    /* Finish a growth or a trimming under way (neither waits), then ask,
     * then do all of it that can be done now. */
    ht_step(ht, false, SIZE_MAX);
    error = ht_request(ht, ht_order_for(nbuckets));
    ht_step(ht, may_wait, SIZE_MAX);
    pthread_mutex_unlock(&ht->h_resize_mtx);
    return error;
}

/* ---- create, destroy, statistics --------------------------------------- */

static int
ht_order_arg(size_t n, size_t dflt, unsigned *order)
{
    if (n == 0)
        n = dflt;
    if (n > SMR_HT_MAX_BUCKETS)
        return EINVAL;
    *order = ht_order_for(n);
    return 0;
}

SMR_API smr_ht_t
smr_ht_create(smr_t smr, const struct smr_ht_args *args)
{
    struct smr_ht *ht;
    unsigned init, min, max, nslots = 1;
    long ncpu;

    if (smr == NULL || args == NULL || args->hash == NULL ||
        args->match == NULL || (args->flags & ~SMR_HT_MANUAL_RESIZE) != 0 ||
        ht_order_arg(args->init_buckets, (size_t)1 << HT_DEFAULT_ORDER,
            &init) != 0 ||
        ht_order_arg(args->min_buckets, (size_t)1 << HT_DEFAULT_ORDER,
            &min) != 0 ||
        ht_order_arg(args->max_buckets, SMR_HT_MAX_BUCKETS, &max) != 0) {
        errno = EINVAL;
        return NULL;
    }
    smr__check(smr, "smr_ht_create");
    /* Defaults give way to what the caller did set. */
    if (args->min_buckets == 0 && min > init)
        min = init;
    if (args->max_buckets == 0 && max < init)
        max = init;
    if (min > max || init < min || init > max) {
        errno = EINVAL;
        return NULL;
    }
    ncpu = sysconf(_SC_NPROCESSORS_CONF);
    while ((long)nslots < ncpu && nslots < 64)
        nslots <<= 1;

    if ((ht = aligned_alloc(SMR__CACHE_LINE, sizeof(*ht))) == NULL)
        goto nomem;
    memset(ht, 0, sizeof(*ht));
    ht->h_counts = aligned_alloc(SMR__CACHE_LINE,
        nslots * sizeof(*ht->h_counts));
    ht->h_levels[0] = ht_level_alloc(0);
    if (ht->h_counts == NULL || ht->h_levels[0] == NULL) {
        free(ht->h_counts);
        free(ht->h_levels[0]);
        free(ht);
        goto nomem;
    }
    memset(ht->h_counts, 0, nslots * sizeof(*ht->h_counts));
    ht->h_nslots_mask = nslots - 1;
    ht->h_magic = HT_MAGIC;
    ht->h_flags = (uint32_t)args->flags;
    ht->h_smr = smr;
    /* Fence-free lazy readers: enter like them (smr_lazy_enter on any
     * other domain takes smr_enter's path through a call). */
    ht->h_lazy = (((const struct smr__domain_hot *)smr)->d_flags &
        SMR__F_LAZY_FAST) != 0;
    ht->h_hash = args->hash;
    ht->h_match = args->match;
    ht->h_arg = args->arg;
    ht->h_min_order = min;
    ht->h_max_order = max;
    snprintf(ht->h_name, sizeof(ht->h_name), "%s",
        args->name != NULL ? args->name : "smr_ht");
    pthread_mutex_init(&ht->h_resize_mtx, NULL);
    /* Bucket 0 heads the list; not shared yet: plain stores. */
    ht->h_levels[0]->l_b[0].hn_key = 0;
    ht->h_levels[0]->l_b[0].hn_next = 0;
    ht->h_bytes = ht->h_levels[0]->l_bytes;
    ht->h_size = 1;
    if (ht_request(ht, init) != 0) {
        ht->h_magic = HT_MAGIC_DEAD;
        free(ht->h_levels[0]);
        pthread_mutex_destroy(&ht->h_resize_mtx);
        free(ht->h_counts);
        free(ht);
        goto nomem;
    }
    /* Not shared yet: the whole growth now. */
    ht_step(ht, false, SIZE_MAX);
    ht->h_fails = 0;
    ht->h_grows = 0;
    smr__domain_hold(smr);
    return ht;
nomem:
    errno = ENOMEM;
    return NULL;
}

SMR_API int
smr_ht_destroy(smr_ht_t ht)
{
    struct smr_ht_node *n;
    struct ht_level *l;

    if (ht == NULL)
        return 0;
    ht_check_magic(ht, "smr_ht_destroy");
    ht_enter(ht);
    n = smr_ht_first(ht);
    ht_exit(ht);
    if (n != NULL)
        return EBUSY;
    /* Readers that finished just before the caller stopped them may still
     * be inside their sections; every goal the table holds is older. */
    smr_synchronize(ht->h_smr);
    /* Every level in use, and those of a growth under way. */
    for (unsigned i = 0; i < HT_LEVELS; i++)
        free(ht->h_levels[i]);
    while ((l = ht->h_dead) != NULL) {
        ht->h_dead = l->l_dead_next;
        free(l);
    }
    smr__domain_release(ht->h_smr);
    pthread_mutex_destroy(&ht->h_resize_mtx);
    free(ht->h_counts);
    ht->h_magic = HT_MAGIC_DEAD;
    free(ht);
    return 0;
}

SMR_API void
smr_ht_stats(smr_ht_t ht, struct smr_ht_stats *st)
{
    long c;

    ht_check_magic(ht, "smr_ht_stats");
    memset(st, 0, sizeof(*st));
    c = ht_count_sum(ht);
    st->count = c > 0 ? (size_t)c : 0;
    pthread_mutex_lock(&ht->h_resize_mtx);
    /* Relaxed: written under h_resize_mtx, held (no partner). */
    st->buckets = __atomic_load_n(&ht->h_size, __ATOMIC_RELAXED);
    st->buckets_alloc = (size_t)1 << ht->h_alloc_order;
    st->bytes = ht->h_bytes;
    st->grows = ht->h_grows;
    st->shrinks = ht->h_shrinks;
    st->resize_fails = ht->h_fails;
    pthread_mutex_unlock(&ht->h_resize_mtx);
}

SMR_API size_t
smr_ht_count(smr_ht_t ht)
{
    long c = ht_count_sum(ht);

    return c > 0 ? (size_t)c : 0;
}

SMR_API size_t
smr_ht_buckets(smr_ht_t ht)
{
    /* Relaxed: a snapshot (no partner). */
    return __atomic_load_n(&ht->h_size, __ATOMIC_RELAXED);
}

SMR_API smr_t
smr_ht_smr(smr_ht_t ht)
{
    return ht->h_smr;
}
