/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * lfht: a concurrent hash map with lock-free lookups, built on libsmr.
 *
 * Readers and writers
 * -------------------
 * A table is an array of chain heads plus an array of bucket locks.  A
 * lookup enters a section, loads the table pointer, the chain head and each
 * next pointer with smr_entered_load(), compares keys and leaves.  It writes
 * nothing shared.  An insert or remove locks the key's bucket and changes
 * the chain with smr_serialized_store(): an insert fills a node and then
 * publishes it at the head (release), a remove points the predecessor past
 * the node and hands the node to the pool.  A reader standing on a removed
 * node still finds its next pointer intact, because the pool does not reuse
 * the node until that reader's section is over.
 *
 * Resize: two links per node
 * --------------------------
 * Every node has two next pointers, n_next[0] and n_next[1], and every table
 * chains through one of them (t_link).  lfht_resize():
 *
 *   1. takes every bucket lock of the current table T (no insert or remove
 *      can run; lookups go on);
 *   2. threads every node into the new table T' through the other link.
 *      T's chains are not touched, so lookups walking T are undisturbed;
 *      T' is not published yet, so nobody reads the links being written;
 *   3. publishes T' (release) and marks T dead, then drops T's locks.
 *      A writer that was waiting for one of them sees T dead, lets go and
 *      retries on T';
 *   4. smr_synchronize(): every section that could have loaded T (lookups,
 *      and writers on their way to a lock of T) has ended.  Only now may
 *      T's memory be freed, and only now is T's link free to be rewritten
 *      by the next resize (which the resize lock keeps from starting
 *      earlier).
 *
 * Nodes are never copied, so a resize allocates only the new arrays, and a
 * node removed from T' while lookups still walk T stays readable through
 * T's link until the pool's grace period has passed.
 *
 * Why writers enter a section: a writer loads the table pointer and then
 * sleeps on one of its bucket locks.  Without a section, a resize could
 * free the table (and the lock) under it.  Once it holds a lock of a live
 * table, the lock alone keeps the table alive (a resize needs every lock
 * before it can retire the table), and the writer leaves the section.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lfht.h"

#define LFHT_MAGIC_LIVE   0x6c666874u              /* "lfht" */
#define LFHT_MAGIC_DEAD   0xdeadbeefu
#define LFHT_POISON       UINT64_C(0xdeaddeaddeaddead)
#define LFHT_MAX_BUCKETS  ((size_t)1 << 28)
#define LFHT_CACHE_LINE   64

struct lfht_node;
/* SMR_POINTER(type) is an anonymous struct: name it once, so that heads and
 * links have one type and a pointer-to-link can walk both. */
typedef SMR_POINTER(struct lfht_node *) lfht_link_t;

struct lfht_node {
    lfht_link_t n_next[2];  /* one chain link per table parity */
    uint64_t n_key;
    uint64_t n_val;
    uint32_t n_magic;       /* LFHT_MAGIC_LIVE; the pool dtor poisons it */
};

/* One lock per bucket, on its own line (writers only). */
struct lfht_lock {
    pthread_mutex_t bl_mtx;
    size_t bl_count;        /* keys in the bucket; written under bl_mtx */
    pthread_t bl_owner;     /* for the smr_serialized_* assertions */
    bool bl_held;
} __attribute__((aligned(LFHT_CACHE_LINE)));

struct lfht_table {
    size_t t_mask;          /* nbuckets - 1 */
    unsigned t_link;        /* which n_next[] this table chains through */
    bool t_dead;            /* replaced; set and read under bucket locks */
    struct lfht_lock *t_locks;
    lfht_link_t t_heads[];  /* read by lookups: dense, no locks in between */
};

struct lfht {
    smr_t h_smr;
    smr_pool_t h_pool;
    SMR_POINTER(struct lfht_table *) h_table;
    pthread_mutex_t h_resize_mtx;   /* serializes resizes (and h_table) */
    bool h_resizing;                /* for the serialized assertions */
    uint64_t h_stale;               /* lookups that met a poisoned node */
};

/* splitmix64's finalizer: every key bit reaches the low (bucket) bits. */
static inline uint64_t
lfht_hash(uint64_t k)
{
    k ^= k >> 30;
    k *= UINT64_C(0xbf58476d1ce4e5b9);
    k ^= k >> 27;
    k *= UINT64_C(0x94d049bb133111eb);
    k ^= k >> 31;
    return k;
}

/* ---- bucket locks ------------------------------------------------------ */

static void
lfht_lock(struct lfht_lock *l)
{
    pthread_mutex_lock(&l->bl_mtx);
    l->bl_owner = pthread_self();
    l->bl_held = true;
}

static void
lfht_unlock(struct lfht_lock *l)
{
    l->bl_held = false;
    pthread_mutex_unlock(&l->bl_mtx);
}

/* The `ex` of smr_serialized_*: evaluated in SMR_DEBUG builds only. */
static inline bool
lfht_owned(const struct lfht_lock *l)
{
    return l->bl_held && pthread_equal(l->bl_owner, pthread_self());
}

/* ---- tables ------------------------------------------------------------ */

static int
lfht_buckets_round(size_t n, size_t *out)
{
    size_t p = 1;

    if (n == 0 || n > LFHT_MAX_BUCKETS)
        return EINVAL;
    while (p < n)
        p <<= 1;
    *out = p;
    return 0;
}

static struct lfht_table *
lfht_table_alloc(size_t n, unsigned link)
{
    struct lfht_table *t;

    t = calloc(1, sizeof(*t) + n * sizeof(t->t_heads[0]));
    if (t == NULL)
        return NULL;
    t->t_locks = aligned_alloc(LFHT_CACHE_LINE, n * sizeof(*t->t_locks));
    if (t->t_locks == NULL) {
        free(t);
        return NULL;
    }
    memset(t->t_locks, 0, n * sizeof(*t->t_locks));
    for (size_t i = 0; i < n; i++)
        pthread_mutex_init(&t->t_locks[i].bl_mtx, NULL);
    t->t_mask = n - 1;
    t->t_link = link;
    return t;
}

static void
lfht_table_free(struct lfht_table *t)
{
    for (size_t i = 0; i <= t->t_mask; i++)
        pthread_mutex_destroy(&t->t_locks[i].bl_mtx);
    free(t->t_locks);
    free(t);
}

/*
 * Lock the bucket of `hash` in the current table and return the table.
 * The section keeps the table alive while we sleep on its lock; see the
 * comment at the top.
 */
static struct lfht_table *
lfht_lock_bucket(struct lfht *h, uint64_t hash, struct lfht_lock **lp)
{
    struct lfht_table *t;
    struct lfht_lock *l;

    smr_enter(h->h_smr);
    for (;;) {
        t = smr_entered_load(&h->h_table, h->h_smr);
        l = &t->t_locks[hash & t->t_mask];
        lfht_lock(l);
        if (!t->t_dead)
            break;
        /* A resize replaced t while we waited: retry on the new table. */
        lfht_unlock(l);
    }
    smr_exit(h->h_smr);
    *lp = l;
    return t;
}

/* ---- pool hooks -------------------------------------------------------- */

/* Runs once the node's grace period has passed, before it is reused: a
 * lookup that could still see the node would now find the poison. */
static void
lfht_node_dtor(void *obj, void *arg)
{
    struct lfht_node *n = obj;

    (void)arg;
    n->n_magic = LFHT_MAGIC_DEAD;
    n->n_key = LFHT_POISON;
    n->n_val = LFHT_POISON;
}

/* ---- the API ----------------------------------------------------------- */

struct lfht *
lfht_create(size_t nbuckets, smr_t smr)
{
    struct smr_pool_args pa;
    struct lfht *h;
    size_t n;
    int error;

    if (smr == NULL) {
        errno = EINVAL;
        return NULL;
    }
    if ((error = lfht_buckets_round(nbuckets, &n)) != 0) {
        errno = error;
        return NULL;
    }
    if ((h = calloc(1, sizeof(*h))) == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    memset(&pa, 0, sizeof(pa));
    pa.size = sizeof(struct lfht_node);
    pa.smr = smr;
#if defined(LFHT_BROKEN_NO_GRACE)
    /* Deliberately broken variant (test_lfht_broken only): nodes are
     * reused at once, without waiting for readers.  The test must fail. */
    pa.smr = NULL;
#endif
    pa.dtor = lfht_node_dtor;
    h->h_pool = smr_pool_create_args("lfht", &pa);
    if (h->h_pool == NULL) {
        error = errno;
        free(h);
        errno = error;
        return NULL;
    }
    struct lfht_table *t = lfht_table_alloc(n, 0);
    if (t == NULL) {
        smr_pool_destroy(h->h_pool);
        free(h);
        errno = ENOMEM;
        return NULL;
    }
    h->h_smr = smr;
    pthread_mutex_init(&h->h_resize_mtx, NULL);
    /* Not shared yet: the caller publishes h itself. */
    smr_unserialized_store(&h->h_table, t, true);
    return h;
}

void
lfht_destroy(struct lfht *h)
{
    struct lfht_table *t;
    struct lfht_node *n, *next;

    if (h == NULL)
        return;
    /* No other user: the caller's promise. */
    t = smr_unserialized_load(&h->h_table, true);
    for (size_t b = 0; b <= t->t_mask; b++) {
        for (n = smr_unserialized_load(&t->t_heads[b], true); n != NULL;
            n = next) {
            next = smr_unserialized_load(&n->n_next[t->t_link], true);
            smr_pool_free(h->h_pool, n);
        }
    }
    /* Readers that finished just before the caller stopped them may still
     * be inside their sections. */
    smr_synchronize(h->h_smr);
    lfht_table_free(t);
    smr_pool_destroy(h->h_pool);
    pthread_mutex_destroy(&h->h_resize_mtx);
    free(h);
}

bool
lfht_lookup(struct lfht *h, uint64_t key, uint64_t *val)
{
    const uint64_t hash = lfht_hash(key);
    struct lfht_table *t;
    struct lfht_node *n;
    unsigned link;
    bool found = false;

    /* Nests inside the caller's section if there is one (a counter). */
    smr_enter(h->h_smr);
    t = smr_entered_load(&h->h_table, h->h_smr);
    link = t->t_link;  /* immutable once published */
    for (n = smr_entered_load(&t->t_heads[hash & t->t_mask], h->h_smr);
        n != NULL; n = smr_entered_load(&n->n_next[link], h->h_smr)) {
        if (__builtin_expect(n->n_magic != LFHT_MAGIC_LIVE, 0)) {
            /* Reclaimed under our feet: a bug, counted, never followed. */
            __atomic_fetch_add(&h->h_stale, 1, __ATOMIC_RELAXED);
            break;
        }
        if (n->n_key == key) {
            if (val != NULL)
                *val = n->n_val;
            found = true;
            break;
        }
    }
    smr_exit(h->h_smr);
    return found;
}

int
lfht_insert(struct lfht *h, uint64_t key, uint64_t val)
{
    const uint64_t hash = lfht_hash(key);
    struct lfht_table *t;
    struct lfht_lock *l;
    lfht_link_t *head;
    struct lfht_node *n, *p;

    if ((n = smr_pool_alloc(h->h_pool)) == NULL)
        return ENOMEM;
    n->n_key = key;
    n->n_val = val;
    n->n_magic = LFHT_MAGIC_LIVE;

    t = lfht_lock_bucket(h, hash, &l);
    head = &t->t_heads[hash & t->t_mask];
    for (p = smr_serialized_load(head, lfht_owned(l)); p != NULL;
        p = smr_serialized_load(&p->n_next[t->t_link], lfht_owned(l))) {
        if (p->n_key == key) {
            lfht_unlock(l);
            /* Never published: the pool may still hold it back a grace
             * period, which costs nothing but a little memory. */
            smr_pool_free(h->h_pool, n);
            return EEXIST;
        }
    }
    /* n is not reachable yet: a plain store.  The release store of the
     * head below publishes it with its fields (partner: the acquire in
     * lfht_lookup's smr_entered_load of the head). */
    smr_unserialized_store(&n->n_next[t->t_link],
        smr_serialized_load(head, lfht_owned(l)), true);
    smr_serialized_store(head, n, lfht_owned(l));
    __atomic_store_n(&l->bl_count, l->bl_count + 1, __ATOMIC_RELAXED);
    lfht_unlock(l);
    return 0;
}

int
lfht_remove(struct lfht *h, uint64_t key, uint64_t *val)
{
    const uint64_t hash = lfht_hash(key);
    struct lfht_table *t;
    struct lfht_lock *l;
    lfht_link_t *pp;
    struct lfht_node *n;

    t = lfht_lock_bucket(h, hash, &l);
    pp = &t->t_heads[hash & t->t_mask];
    while ((n = smr_serialized_load(pp, lfht_owned(l))) != NULL &&
        n->n_key != key)
        pp = &n->n_next[t->t_link];
    if (n == NULL) {
        lfht_unlock(l);
        return ENOENT;
    }
    /* Unlink.  n->n_next stays as it is: a lookup standing on n goes on
     * from there to the rest of the chain. */
    smr_serialized_store(pp,
        smr_serialized_load(&n->n_next[t->t_link], lfht_owned(l)),
        lfht_owned(l));
    __atomic_store_n(&l->bl_count, l->bl_count - 1, __ATOMIC_RELAXED);
    lfht_unlock(l);
    if (val != NULL)
        *val = n->n_val;    /* still ours: reuse waits for a grace period */
    /* Outside every section (unless the caller is in one): a pool past its
     * cap may then reclaim synchronously. */
    smr_pool_free(h->h_pool, n);
    return 0;
}

int
lfht_resize(struct lfht *h, size_t nbuckets)
{
    struct lfht_table *ot, *nt;
    struct lfht_node *n;
    size_t nb;
    int error;

    if ((error = lfht_buckets_round(nbuckets, &nb)) != 0)
        return error;
    pthread_mutex_lock(&h->h_resize_mtx);
    h->h_resizing = true;
    ot = smr_serialized_load(&h->h_table, h->h_resizing);
    if (ot->t_mask + 1 == nb) {
        h->h_resizing = false;
        pthread_mutex_unlock(&h->h_resize_mtx);
        return 0;
    }
    /* The other link: free since the previous resize's synchronize. */
    if ((nt = lfht_table_alloc(nb, ot->t_link ^ 1)) == NULL) {
        h->h_resizing = false;
        pthread_mutex_unlock(&h->h_resize_mtx);
        return ENOMEM;
    }

    /* 1. Stop the writers (in index order; writers take one lock only). */
    for (size_t b = 0; b <= ot->t_mask; b++)
        lfht_lock(&ot->t_locks[b]);

    /* 2. Thread every node into nt through nt's link.  Nobody reads nt or
     * that link before nt is published: unserialized stores. */
    for (size_t b = 0; b <= ot->t_mask; b++) {
        for (n = smr_serialized_load(&ot->t_heads[b],
            lfht_owned(&ot->t_locks[b])); n != NULL;
            n = smr_serialized_load(&n->n_next[ot->t_link],
            lfht_owned(&ot->t_locks[b]))) {
            size_t i = lfht_hash(n->n_key) & nt->t_mask;
            smr_unserialized_store(&n->n_next[nt->t_link],
                smr_unserialized_load(&nt->t_heads[i], true), true);
            smr_unserialized_store(&nt->t_heads[i], n, true);
            nt->t_locks[i].bl_count++;
        }
    }

    /* 3. Publish (release: partner of the acquire loads of h_table in
     * lookups and writers), retire ot, let the writers go to nt. */
    smr_serialized_store(&h->h_table, nt, h->h_resizing);
    ot->t_dead = true;  /* under every lock: whoever takes one sees it */
    for (size_t b = 0; b <= ot->t_mask; b++)
        lfht_unlock(&ot->t_locks[b]);

    /* 4. Wait out every section that could have loaded ot; then its memory
     * and its link are free.  (smr_retire(ot) would free the memory without
     * waiting, but the next resize must not rewrite ot's link before the
     * grace period either, so the resize lock is held across the wait.) */
    smr_synchronize(h->h_smr);
    lfht_table_free(ot);
    h->h_resizing = false;
    pthread_mutex_unlock(&h->h_resize_mtx);
    return 0;
}

size_t
lfht_count(struct lfht *h)
{
    struct lfht_table *t;
    size_t c = 0;

    smr_enter(h->h_smr);
    t = smr_entered_load(&h->h_table, h->h_smr);
    for (size_t b = 0; b <= t->t_mask; b++)
        c += __atomic_load_n(&t->t_locks[b].bl_count, __ATOMIC_RELAXED);
    smr_exit(h->h_smr);
    return c;
}

size_t
lfht_nbuckets(struct lfht *h)
{
    size_t n;

    smr_enter(h->h_smr);
    n = smr_entered_load(&h->h_table, h->h_smr)->t_mask + 1;
    smr_exit(h->h_smr);
    return n;
}

smr_pool_t
lfht_pool(struct lfht *h)
{
    return h->h_pool;
}

uint64_t
lfht_stale_seen(struct lfht *h)
{
    return __atomic_load_n(&h->h_stale, __ATOMIC_RELAXED);
}
