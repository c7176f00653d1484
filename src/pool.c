/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * Copyright (c) 2026 The libsmr developers
 *
 * The SMR pool: type-stable objects whose reuse waits for readers
 * (FreeBSD UMA's SMR zones in userspace).  A client of the public smr.h
 * API only, as UMA is a client of subr_smr.c.
 *
 * ====================================================================
 * Theory of operation
 * ====================================================================
 *
 * Objects live in slabs: page-aligned chunks mapped from the OS
 * (src/os_mem.c), aligned to their own size, so the slab header of any
 * object is its address masked.  A slab is carved once (the init hook runs
 * for every object then) and goes back to the OS only when all its objects
 * are cached, from smr_pool_reclaim or smr_pool_destroy (fini first).
 * Until then freed memory stays mapped and keeps its type: a late reader
 * reads stale data, never an unmapped page.
 *
 * Every thread has, per pool, two buckets (arrays of object pointers):
 *
 *   alloc bucket   cached objects, reusable now; smr_pool_alloc pops here
 *   free bucket    objects freed by this thread, still PENDING (untagged)
 *
 * smr_pool_free pushes onto the free bucket only, never onto the alloc
 * bucket (UMA does the same for SMR zones).  A full free bucket, or one
 * holding objects for more than a tick (1 ms, checked at the owner's next
 * slow path or within POOL_AGE_CALLS calls), is TAGGED with one
 * smr_advance and appended to the pool's FIFO under p_lock:
 *
 *     frees --> [free bucket] --tag=smr_advance()--> FIFO: [t1][t2][t3]...
 *                                                          |
 *     alloc <-- [alloc bucket] <-- smr_poll(t1, false) ----+  (else: slabs)
 *
 * An alloc that finds its bucket empty looks at the FIFO head's tag through
 * an atomic hint (no lock on a miss), and takes the head only if
 * smr_poll(tag, false) says every section that could have seen its objects
 * has ended; the dtor runs on the objects then, and they are reused.
 * Otherwise it takes a cached full bucket, or fresh objects from the slabs.
 * Alloc never waits for readers, so it is legal inside a read section.
 *
 * Why reuse is safe: the caller unlinks an object (no new reader can find
 * it), then frees it.  The tag is taken after the free, so by the smr(9)
 * contract every section still able to hold the object published a
 * sequence below the tag, and smr_poll(tag) is true only once all of those
 * have exited.  Tags in the FIFO are not strictly sorted (advances race
 * with appends); a head is popped only if its own tag is at or below a
 * goal that a poll has just reported reached, so sorting is an efficiency
 * matter, never a safety one.  Buckets handed over by other threads (exit,
 * fork) are tagged by the next thread that touches the pool, after it has
 * taken them under p_lock (into a claim, P1): a later tag is always
 * conservative.
 *
 * The bound (SPEC §2): pending = objects in free buckets + untagged (on
 * p_untagged or in tagging claims, P1) + queued.  Free buckets hold at
 * most bucket_max objects each; the queue is held at the cap in force,
 * which adapts below pending_cap, the hard bound (p_cap, src/smr_util.h):
 * a free that finds the queue above it first reclaims expired heads;
 * then, if the head is younger than the domain's grace budget, raises the
 * cap (the free rate filled the queue, not a reader: pool_cap_raise);
 * else, if the caller is outside every read section (smr_entered_any),
 * waits for the head's tag (smr_wait) and moves it to the cached list.
 * Inside a section the free may exceed the cap but never blocks.  So
 * pending <= live threads x bucket_max + pending_cap whenever frees happen
 * outside sections, and no free waits while free rate x grace period
 * stays under pending_cap.  A SMR_POOL_NOWAIT pool never waits there either: its
 * frees past the cap are counted (p_nowait_over), the first one is
 * reported, and pending is unbounded while a reader stays inside.
 *
 * Bucket size adapts as in UMA: it starts at 16 (or bucket_max if less),
 * grows when refills from the FIFO/slabs come often or p_lock is
 * contended, and shrinks when refills are rare and in smr_pool_reclaim.
 *
 * With smr == NULL the pool is a plain object cache: frees go LIFO into the
 * alloc bucket (spilling into the free bucket), the dtor runs at free, and
 * reuse is immediate.
 *
 * Per-object states (kept in a byte per object in SMR_DEBUG builds):
 *   CACHED (slab layer, cached lists, alloc buckets) -> alloc -> INUSE
 *   INUSE -> free -> PENDING (free bucket, untagged, FIFO) -> grace -> dtor
 *   -> CACHED.  Debug builds abort on double and foreign frees, fill cached
 *   objects with POOL_POISON (pools without init) and check it on reuse;
 *   ASan/Valgrind builds poison cached objects (not pending ones: readers
 *   may legally read those).
 *
 * P1 (SPEC §2: fork, thread exit and reclaimers see every bucket): a
 * bucket with objects is always in exactly one place: a thread's cache,
 * the FIFO, p_untagged, p_full, or a claim; it moves between them under
 * p_lock, never "in the hands" of a thread between two locks (retire.c
 * keeps the same rule as its R1).  A thread that works on buckets without
 * the lock (smr_advance to tag them, the dtor when they expire) keeps
 * them in a claim meanwhile: a record on its stack, on p_claims.  The
 * fork child sends the buckets of claims whose thread it lacks where that
 * thread would have put them (pool_claim_orphan_locked), so every object
 * is accounted for there and drains.  Each tagger takes from the
 * untagged count exactly the objects on the list it took.  Out of memory
 * only, two paths wait for objects outside this rule: pool_free_nocache
 * (one object, no cache) and pool_sync_to_slabs (the free bucket stays
 * pc_free while its dtor runs, so a fork then may run some dtors twice).
 *
 * Locks: pool__glock (registry, thread exit, destroy, fork) before p_lock.
 * No pool lock is ever held across a call into smr.h or a user hook.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smr.h"
#include "os_mem.h"
#include "reclaim.h"
#include "smr_util.h"

/* ---- sanitizers and Valgrind ------------------------------------------ */

#if defined(__SANITIZE_ADDRESS__)
#define POOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_ASAN 1
#endif
#endif
#ifndef POOL_ASAN
#define POOL_ASAN 0
#endif
#if POOL_ASAN
#include <sanitizer/asan_interface.h>
#define pool_asan_poison(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define pool_asan_unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define pool_asan_poison(p, n)   ((void)(p), (void)(n))
#define pool_asan_unpoison(p, n) ((void)(p), (void)(n))
#endif

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define POOL_VALGRIND 1
#endif
#endif
#ifndef POOL_VALGRIND
#define POOL_VALGRIND 0
#endif

/* ---- atomics with the order in the name (STYLE.md 5) ------------------ */
#define atomic_load_rlx(p)      __atomic_load_n((p), __ATOMIC_RELAXED)
#define atomic_load_acq(p)      __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define atomic_store_rlx(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define atomic_store_rel(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define atomic_xchg_acq_rel(p, v)                                           \
    __atomic_exchange_n((p), (v), __ATOMIC_ACQ_REL)

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* ---- tunables ---------------------------------------------------------- */

#define POOL_MAGIC        0x504f4f4cu /* "POOL" */
#define POOL_MAGIC_DEAD   0x64656164u
#define SLAB_MAGIC        0x534c4142u /* "SLAB" */

#define POOL_SLAB_SIZE    ((size_t)64 * 1024) /* default slab */
#define POOL_SLAB_MINOBJS 8                   /* objects per slab, at least */
#define POOL_SLAB_LIMIT   (((size_t)1 << 30) << (sizeof(size_t) > 4 ? 10 : 0)) /* larger: ENOMEM */
#define POOL_MIN_ALIGN    ((size_t)16)
#define POOL_BUCKET_DEF   256u                /* default bucket_max: UMA's
                                               * largest bucket.  Each bucket
                                               * costs a few shared lines
                                               * (clock, p_lock, p_queued);
                                               * at 128, 2 writers on their
                                               * own cores ran 1.9x glibc,
                                               * at 256 1.3x (BENCHMARKS,
                                               * issue 17 third pass) */
#define POOL_BUCKET_START 16u                 /* initial bucket size */
#define POOL_BUCKET_LIMIT 4096u               /* bucket_max above: EINVAL */
#define POOL_CAP_BYTES    ((size_t)16 << 20)  /* default pending_cap: */
#define POOL_CAP_MIN      ((size_t)4096)      /* this many bytes of objects,
                                               * at least this many */
#define POOL_TICK_NS      1000000ull          /* age of a partial bucket */
#define POOL_AGE_CALLS    256u                /* fast calls between checks */
#define POOL_WINDOW_NS    (10 * POOL_TICK_NS) /* bucket-size adaptation */
#define POOL_GROW_REFILLS 16u                 /* refills/window that grow */
#define POOL_POISON       0x6b                /* debug fill of cached objs */
#define POOL_LOCAL_MAX    4u                  /* tagged buckets a cache
                                               * keeps for its own refills */
#define POOL_LOCAL_YIELD  (10 * POOL_TICK_NS) /* a shared head this much
                                               * older than a cache's own
                                               * goes first (pool_refill) */
#define POOL_MERGE_WALK   64u                 /* FIFO nodes a merge may
                                               * pass (pool_fifo_merge) */

/* Debug object states (one byte per object in the slab header). */
enum { POOL_ST_CACHED = 1, POOL_ST_INUSE = 2, POOL_ST_PENDING = 3 };

/* ---- structures -------------------------------------------------------- */

/*
 * A bucket: capacity p_bucket_max, filled up to the current bucket size.
 * b_cnt is owner-written; smr_pool_stats reads it relaxed from any thread
 * (bucket structs are freed only at pool destroy, so a stale pointer read
 * there is still a bucket).
 */
struct pool_bucket {
    struct pool_bucket *b_next;  /* FIFO, cached, untagged or empty list */
    smr_seq_t b_seq;             /* the tag (queued buckets) */
    uint64_t b_qt;               /* ns: when it was queued (the cap) */
    uint32_t b_cnt;
    uint32_t b_taken;            /* a thread's free bucket: objects
                                  * [0, b_taken) were taken by the
                                  * reclaimer (pool_steal_locked) and are
                                  * not this bucket's; p_lock */
    void *b_obj[];
};

/*
 * A claim (P1): buckets a thread took off a shared list to work on without
 * p_lock, either to tag them (smr_advance) or to run the dtor on them.  It
 * lives on that thread's stack and is on p_claims, under p_lock, for as
 * long as the thread holds the buckets, so the fork child finds them (the
 * child's copy of a vanished thread's stack is still mapped).
 */
struct pool_claim {
    struct pool_claim *k_next, *k_prev;   /* p_claims, under p_lock */
    struct pool_bucket *k_list;   /* tagging: untagged buckets; else one */
    size_t k_nobjs;               /* objects in k_list */
    pthread_t k_owner;
    bool k_tagging;               /* untagged, or expiring (tag reached) */
    uint32_t k_done;              /* expiring: objects whose expiry began;
                                   * owner-written, relaxed */
};

/* Slab header: at the start of every slab, found by masking. */
struct pool_slab {
    uint32_t s_magic;
    uint32_t s_nobjs;
    struct smr_pool *s_pool;
    struct pool_slab *s_next, *s_prev;     /* p_slabs: every slab */
    struct pool_slab *s_pnext, *s_pprev;   /* p_partial: s_nfree > 0 */
    char *s_base;                          /* first object */
    uint32_t s_nfree;                      /* objects in the slab layer */
    uint32_t s_partial;                    /* on p_partial */
    uint64_t *s_map;                       /* bit set: in the slab layer */
    uint8_t *s_state;                      /* SMR_DEBUG: POOL_ST_* */
};

/* Per-thread, per-pool cache.  Owner-written except under p_lock at thread
 * exit, destroy and fork (when the owner is gone or misusing the pool). */
struct pool_cache {
    struct pool_bucket *pc_alloc __attribute__((aligned(SMR__CACHE_LINE)));   /* cached objects */
    struct pool_bucket *pc_free;    /* pending objects (NULL pool: cached) */
    /* The thread's own FIFO: the last buckets it queued, oldest first
     * (under p_lock; see pool_local_room_locked).  pc_lq_seq: the
     * head's tag, a goal the owner polls without p_lock (release store
     * under p_lock, acquire load; SMR_SEQ_INVALID: empty). */
    smr_seq_t pc_lq_seq;
    uint64_t pc_lq_qt;              /* the head's b_qt (hint, relaxed, no
                                     * partner; 0: empty) */
    struct pool_bucket *pc_lq_head, *pc_lq_tail;
    uint32_t pc_lq_n;               /* p_lock: buckets on it */
    uint32_t pc_bsize;              /* bucket size, copied on slow paths */
    uint32_t pc_age_cd;             /* fast calls until the next age check */
    uint64_t pc_free_t0;            /* ns: first object into pc_free
                                     * (owner stores relaxed; the
                                     * reclaimer reads it as a hint) */
    bool pc_nosteal;                /* p_lock: pc_free is being expired
                                     * outside the lock (out of memory) */
    uint64_t pc_allocs;             /* counters: owner stores relaxed, */
    uint64_t pc_frees;              /* smr_pool_stats sums them relaxed */
    struct smr_pool *pc_pool;
    struct pool_cache *pc_next, *pc_prev;   /* p_caches, under p_lock */
};

struct smr_pool {
    /* Read-mostly: written at create/destroy only. */
    uint32_t p_magic;
    uint32_t p_idx;                 /* index into every thread's table */
    uint64_t p_id;                  /* never reused: keys that table */
    smr_t p_smr;
    size_t p_size, p_stride, p_align;
    size_t p_slab_size, p_slab_off;
    uint32_t p_slab_nobjs;
    uint32_t p_bucket_max, p_bucket_min;
    bool p_poison;                  /* SMR_DEBUG fill (no init hook) */
    bool p_vg;                      /* running under Valgrind */
    bool p_work_out;                /* per-object work at alloc (ctor, aids) */
    bool p_work_in;                 /* per-object work when cached (dtor, aids) */
    bool p_nowait;                  /* SMR_POOL_NOWAIT */
    uint64_t p_budget_ns;           /* the domain's grace budget (cap) */
    void (*p_init)(void *, void *);
    void (*p_fini)(void *, void *);
    void (*p_ctor)(void *, void *);
    void (*p_dtor)(void *, void *);
    void *p_arg;
    char p_name[48];

    /* Hints read without p_lock, written under it.  p_head_seq is a goal
     * that is polled: release store, acquire load (pool_hint_head). */
    smr_seq_t p_head_seq __attribute__((aligned(SMR__CACHE_LINE)));
    uint32_t p_bsize;               /* current bucket size */
    uint32_t p_nuntagged;           /* buckets waiting for a tag */
    size_t p_queued;                /* objects in the FIFOs (shared and
                                     * the caches' own) */
    uint64_t p_head_qt;             /* the head's b_qt (0: empty FIFO) */
    /* The adaptive cap on p_queued (src/smr_util.h): k_cur is a hint
     * read relaxed; its window is kept under p_lock. */
    struct smr__cap p_cap;

    /* Under p_lock. */
    pthread_mutex_t p_lock __attribute__((aligned(SMR__CACHE_LINE)));
    struct pool_bucket *p_fifo_head, *p_fifo_tail;
    struct pool_bucket *p_untagged;  /* pending, handed over, no tag yet */
    struct pool_claim *p_claims;     /* buckets held between two locks */
    struct pool_bucket *p_full;      /* cached full buckets */
    struct pool_bucket *p_empty;     /* empty bucket structs */
    size_t p_untagged_objs, p_full_objs, p_slab_free;
    size_t p_tagging_objs;           /* in tagging claims: pending */
    size_t p_expiring_objs;          /* in expiring claims: cached */
    struct pool_slab *p_slabs, *p_partial;
    size_t p_nslabs, p_total;
    struct pool_cache *p_caches;
    uint64_t p_allocs_dead, p_frees_dead;   /* from caches that are gone */
    uint64_t p_buckets_queued, p_buckets_reused, p_sync_reclaims;
    size_t p_pending_peak;
    uint64_t p_nowait_over;         /* atomic: frees past the cap, no wait */
    uint64_t p_win_t0;
    uint32_t p_win_n;
    uint32_t p_rbusy;               /* pool__glock: reclaimer rounds on it */
    uint64_t p_taken;               /* p_lock: partial buckets taken */
    uint64_t p_idle_scan;           /* p_lock: ns, last scan for idle
                                     * caches' own FIFOs (pool_refill) */
    size_t p_local_objs;            /* p_lock: objects on the caches' own
                                     * FIFOs (part of p_queued) */
#if SMR_CONFIG_DEBUG
    /* The addresses of this pool's slabs, so that smr_pool_free can tell
     * a foreign pointer from ours before it reads the header its address
     * masks to (which may be unmapped, or someone else's memory): an
     * open-addressing set (0: empty, 1: deleted), written with p_lock and
     * p_dbg_lock held, read with p_dbg_lock (a leaf lock). */
    pthread_mutex_t p_dbg_lock;
    uintptr_t *p_dbg_set;
    size_t p_dbg_cap, p_dbg_n, p_dbg_used;   /* slots, keys, keys + deleted */
    bool p_dbg_lost;                /* out of memory once: set incomplete */
#endif
};

/* The thread's table of caches, indexed by p_idx, keyed by p_id. */
struct pool_tent {
    uint64_t id;
    struct pool_cache *pc;
};
struct pool_tls {
    uint32_t cap;
    uint32_t pad;
    struct pool_tent ent[];
};

static struct pool_tls pool__empty_tls;   /* cap 0: every lookup misses */
/* One initial-exec pointer, never NULL (as smr__self in src/smr.c). */
static __thread struct pool_tls *pool__self
    __attribute__((tls_model("initial-exec"))) = &pool__empty_tls;

/* ---- registry ------------------------------------------------------------ */

static pthread_mutex_t pool__glock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool__rcv = PTHREAD_COND_INITIALIZER; /* p_rbusy 0 */
static struct smr_pool **pool__pools;   /* by p_idx; NULL: free index */
static uint32_t pool__npools;
static uint64_t pool__next_id = 1;      /* never reused */
static pthread_key_t pool__key;
static pthread_once_t pool__once = PTHREAD_ONCE_INIT;
static int pool__once_err;

static void pool_thread_exit(void *arg);
static void pool_atfork_prepare(void);
static void pool_atfork_parent(void);
static void pool_atfork_child(void);

/* SMR_SHOW_STATS=1: print every live pool's statistics at exit (the
 * domains' are printed by src/smr.c). */
static void
pool_show_stats(void)
{
    struct smr_pool **live;
    uint32_t n = 0;

    pthread_mutex_lock(&pool__glock);
    live = calloc(pool__npools + 1, sizeof(*live));
    for (uint32_t i = 0; live != NULL && i < pool__npools; i++)
        if (pool__pools[i] != NULL)
            live[n++] = pool__pools[i];
    pthread_mutex_unlock(&pool__glock);
    for (uint32_t i = 0; i < n; i++) {
        struct smr_pool_stats st;
        smr_pool_stats(live[i], &st);
        fprintf(stderr, "libsmr: pool \"%s\": size %zu, in use %zu, "
            "pending %zu (peak %zu), cached %zu, slabs %zu, %zu KiB; "
            "allocs %llu, frees %llu, buckets queued %llu / reused %llu, "
            "synchronous reclaims %llu, past the cap without waiting %llu\n",
            live[i]->p_name, st.size,
            st.in_use, st.pending, st.pending_peak, st.cached, st.slabs,
            st.bytes / 1024, (unsigned long long)st.allocs,
            (unsigned long long)st.frees,
            (unsigned long long)st.buckets_queued,
            (unsigned long long)st.buckets_reused,
            (unsigned long long)st.sync_reclaims,
            (unsigned long long)st.nowait_over);
    }
    free(live);
}

static void
pool_init_once(void)
{
    const char *e = getenv("SMR_SHOW_STATS");

    pool__once_err = pthread_key_create(&pool__key, pool_thread_exit);
    if (pool__once_err == 0)
        pool__once_err = pthread_atfork(pool_atfork_prepare,
            pool_atfork_parent, pool_atfork_child);
    if (e != NULL && *e != '\0' && strcmp(e, "0") != 0)
        atexit(pool_show_stats);
}

/* ---- diagnostics --------------------------------------------------------- */

__attribute__((noreturn, cold, format(printf, 2, 3)))
static void
pool_die(const struct smr_pool *pool, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    smr__vsay("pool", pool != NULL && pool->p_magic == POOL_MAGIC ?
        pool->p_name : NULL, "misuse", fmt, ap);
    va_end(ap);
    abort();
}

__attribute__((cold, format(printf, 2, 3)))
static void
pool_warn(const struct smr_pool *pool, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    smr__vsay("pool", pool->p_name, "warning", fmt, ap);
    va_end(ap);
}

/* Slow-path sanity check (SPEC §4): stray pointers are reported. */
static void
pool_check(const struct smr_pool *pool, const char *what)
{
    if (pool == NULL)
        pool_die(NULL, "%s: NULL pool", what);
    if (pool->p_magic != POOL_MAGIC)
        pool_die(NULL, "%s: %p is not a live libsmr pool (magic %#x%s)",
            what, (const void *)pool, pool->p_magic,
            pool->p_magic == POOL_MAGIC_DEAD ? ": destroyed" : "");
}

/* ---- slab geometry --------------------------------------------------------- */

static size_t
pool_slab_hdr(uint32_t nobjs)
{
    size_t h = sizeof(struct pool_slab) + (nobjs + 63) / 64 * 8;

#if SMR_CONFIG_DEBUG
    h += nobjs;
#endif
    return h;
}

static inline struct pool_slab *
pool_slab_of(const struct smr_pool *pool, const void *obj)
{
    return (struct pool_slab *)((uintptr_t)obj &
        ~(uintptr_t)(pool->p_slab_size - 1));
}

static inline uint32_t
pool_obj_index(const struct smr_pool *pool, const struct pool_slab *s,
    const void *obj)
{
    return (uint32_t)(((const char *)obj - s->s_base) / pool->p_stride);
}

/* ---- per-object transitions -------------------------------------------- */

#if SMR_CONFIG_DEBUG
/* The object's state byte, after checking obj really is one of ours. */
static uint8_t *
pool_dbg_state(struct smr_pool *pool, const void *obj, const char *what)
{
    struct pool_slab *s = pool_slab_of(pool, obj);
    size_t off;

    if (s->s_magic != SLAB_MAGIC)
        pool_die(pool, "%s of foreign pointer %p (not from any pool slab)",
            what, obj);
    if (s->s_pool != pool)
        pool_die(pool, "%s of foreign pointer %p (it belongs to pool "
            "\"%s\")", what, obj, s->s_pool != NULL &&
            s->s_pool->p_magic == POOL_MAGIC ? s->s_pool->p_name : "?");
    off = (size_t)((const char *)obj - s->s_base);
    if ((const char *)obj < s->s_base || off % pool->p_stride != 0 ||
        off / pool->p_stride >= s->s_nobjs)
        pool_die(pool, "%s of foreign pointer %p (not the start of an "
            "object)", what, obj);
    return &s->s_state[off / pool->p_stride];
}

/* Move obj from state `from` to `to`; misuse if it was elsewhere.
 * acq_rel exchange: partner is the previous transition's exchange (the
 * state byte is the debug record of who owns the object). */
static void
pool_dbg_move(struct smr_pool *pool, void *obj, uint8_t from, uint8_t to,
    const char *what)
{
    uint8_t *st = pool_dbg_state(pool, obj, what);
    uint8_t old = atomic_xchg_acq_rel(st, to);

    if (old == from)
        return;
    atomic_store_rlx(st, old);   /* no partner: we abort next */
    if (to == POOL_ST_PENDING || (to == POOL_ST_CACHED && from ==
        POOL_ST_INUSE))
        pool_die(pool, "double free of %p (object is %s)", obj,
            old == POOL_ST_PENDING ? "already freed, pending" :
            old == POOL_ST_CACHED ? "already freed, cached" : "corrupt");
    pool_die(pool, "%s: object %p in state %u, expected %u (pool "
        "corrupted)", what, obj, old, from);
}

/* ---- debug: the set of this pool's slabs ---- */

#define POOL_DBG_DELETED ((uintptr_t)1)

static size_t
pool_dbg_hash(const struct smr_pool *pool, uintptr_t key)
{
    /* Slab addresses are multiples of the slab size: hash the quotient. */
    uint64_t h = (uint64_t)(key / pool->p_slab_size) * 0x9e3779b97f4a7c15ull;

    return (size_t)(h >> 32) & (pool->p_dbg_cap - 1);
}

/* The slot of key, or of the empty slot that ends its probe; p_dbg_lock
 * held, p_dbg_cap != 0. */
static size_t
pool_dbg_find(const struct smr_pool *pool, uintptr_t key)
{
    size_t i = pool_dbg_hash(pool, key);

    while (pool->p_dbg_set[i] != 0 && pool->p_dbg_set[i] != key)
        i = (i + 1) & (pool->p_dbg_cap - 1);
    return i;
}

/* Is s one of this pool's slabs?  p_dbg_lock held.  Reads only the set,
 * never s.  (After an out-of-memory p_dbg_lost says the set may lack a
 * slab: the caller then trusts the header's magic, as release code.) */
static bool
pool_dbg_owns(const struct smr_pool *pool, const struct pool_slab *s)
{
    uintptr_t key = (uintptr_t)s;

    return pool->p_dbg_cap != 0 &&
        pool->p_dbg_set[pool_dbg_find(pool, key)] == key;
}

/* Add slab s; p_lock held (so no other writer). */
static void
pool_dbg_slab_add(struct smr_pool *pool, const struct pool_slab *s)
{
    uintptr_t key = (uintptr_t)s;

    pthread_mutex_lock(&pool->p_dbg_lock);
    if (2 * (pool->p_dbg_used + 1) > pool->p_dbg_cap) {
        /* Rehash (dropping the deleted marks) at half full. */
        size_t ncap = pool->p_dbg_cap == 0 ? 64 : pool->p_dbg_cap;
        uintptr_t *old = pool->p_dbg_set, *nset;
        size_t ocap = pool->p_dbg_cap;

        while (4 * (pool->p_dbg_n + 1) > ncap)
            ncap *= 2;
        nset = calloc(ncap, sizeof(*nset));
        if (nset == NULL) {
            pool->p_dbg_lost = true;
            pthread_mutex_unlock(&pool->p_dbg_lock);
            return;
        }
        pool->p_dbg_set = nset;
        pool->p_dbg_cap = ncap;
        pool->p_dbg_used = pool->p_dbg_n;
        for (size_t i = 0; i < ocap; i++)
            if (old[i] > POOL_DBG_DELETED)
                nset[pool_dbg_find(pool, old[i])] = old[i];
        free(old);
    }
    pool->p_dbg_set[pool_dbg_find(pool, key)] = key;
    pool->p_dbg_n++;
    pool->p_dbg_used++;
    pthread_mutex_unlock(&pool->p_dbg_lock);
}

/* Remove slab s (before it is unmapped); p_lock held. */
static void
pool_dbg_slab_del(struct smr_pool *pool, const struct pool_slab *s)
{
    uintptr_t key = (uintptr_t)s;
    size_t i;

    pthread_mutex_lock(&pool->p_dbg_lock);
    if (pool->p_dbg_cap != 0 &&
        pool->p_dbg_set[i = pool_dbg_find(pool, key)] == key) {
        pool->p_dbg_set[i] = POOL_DBG_DELETED;
        pool->p_dbg_n--;
    }
    pthread_mutex_unlock(&pool->p_dbg_lock);
}

/* Which live pool's slab is s, if any (the name, for the message)?  Takes
 * pool__glock and each pool's p_dbg_lock: an error path only.  Writes the
 * name into buf. */
static bool
pool_dbg_owner(const struct pool_slab *s, char *buf, size_t size)
{
    bool found = false;

    pthread_mutex_lock(&pool__glock);
    for (uint32_t i = 0; i < pool__npools && !found; i++) {
        struct smr_pool *p = pool__pools[i];

        if (p == NULL)
            continue;
        pthread_mutex_lock(&p->p_dbg_lock);
        if (pool_dbg_owns(p, s)) {
            snprintf(buf, size, "%s", p->p_name);
            found = true;
        }
        pthread_mutex_unlock(&p->p_dbg_lock);
    }
    pthread_mutex_unlock(&pool__glock);
    return found;
}

/*
 * smr_pool_free's debug check (SPEC §4: a foreign pointer or a double
 * free aborts with a message): obj must lie in one of this pool's slabs,
 * which is looked up in the set before any header is read, and be the
 * start of an object in use.  p_dbg_lock is held over the state change,
 * so the slab cannot be unmapped under us (pool_dbg_slab_del comes first).
 */
static void
pool_dbg_free(struct smr_pool *pool, void *obj)
{
    struct pool_slab *s;
    char owner[48];

    pool_check(pool, "smr_pool_free");
    s = pool_slab_of(pool, obj);
    pthread_mutex_lock(&pool->p_dbg_lock);
    if (!pool->p_dbg_lost && !pool_dbg_owns(pool, s)) {
        pthread_mutex_unlock(&pool->p_dbg_lock);
        if (pool_dbg_owner(s, owner, sizeof(owner)))
            pool_die(pool, "free of foreign pointer %p (it belongs to pool "
                "\"%s\")", obj, owner);
        pool_die(pool, "free of foreign pointer %p (not from any slab of "
            "this pool: from malloc, the stack, another allocator, or an "
            "object whose slab was already given back)", obj);
    }
    pool_dbg_move(pool, obj, POOL_ST_INUSE, POOL_ST_PENDING, "free");
    pthread_mutex_unlock(&pool->p_dbg_lock);
}

/* Write after free: the poison pattern must be intact at reuse. */
static void
pool_dbg_check_poison(struct smr_pool *pool, void *obj)
{
    const unsigned char *p = obj;

    for (size_t i = 0; i < pool->p_stride; i++)
        if (p[i] != POOL_POISON)
            pool_die(pool, "write after free: object %p modified at "
                "offset %zu while cached (%#x, expected %#x)", obj, i,
                p[i], POOL_POISON);
}
#endif

/* obj became CACHED (after the dtor): poison it for the debug aids. */
static inline void
pool_obj_cached(struct smr_pool *pool, void *obj)
{
#if SMR_CONFIG_DEBUG
    if (pool->p_poison)
        memset(obj, POOL_POISON, pool->p_stride);
#endif
    pool_asan_poison(obj, pool->p_stride);
#if POOL_VALGRIND
    if (unlikely(pool->p_vg))
        VALGRIND_MAKE_MEM_NOACCESS(obj, pool->p_stride);
#endif
}

/* obj leaves the cache (alloc): check, unpoison, ctor. */
static __attribute__((noinline)) void
pool_obj_out_work(struct smr_pool *pool, void *obj)
{
    pool_asan_unpoison(obj, pool->p_stride);
#if POOL_VALGRIND
    if (unlikely(pool->p_vg))
        VALGRIND_MAKE_MEM_DEFINED(obj, pool->p_stride);
#endif
#if SMR_CONFIG_DEBUG
    pool_dbg_move(pool, obj, POOL_ST_CACHED, POOL_ST_INUSE, "alloc");
    if (pool->p_poison)
        pool_dbg_check_poison(pool, obj);
#endif
#if POOL_VALGRIND
    /* Without an init hook the contents are garbage to the user. */
    if (unlikely(pool->p_vg) && pool->p_init == NULL)
        VALGRIND_MAKE_MEM_UNDEFINED(obj, pool->p_stride);
#endif
    if (pool->p_ctor != NULL)
        pool->p_ctor(obj, pool->p_arg);
}

static inline void
pool_obj_out(struct smr_pool *pool, void *obj)
{
    if (unlikely(pool->p_work_out))
        pool_obj_out_work(pool, obj);
}

/* obj is handed to smr_pool_free. */
static inline void
pool_obj_in(struct smr_pool *pool, void *obj)
{
#if SMR_CONFIG_DEBUG
    pool_dbg_free(pool, obj);
#else
    (void)pool;
    (void)obj;
#endif
}

/* A pending object's grace period has passed: dtor, then cached. */
static void
pool_obj_expire(struct smr_pool *pool, void *obj)
{
#if SMR_CONFIG_DEBUG
    pool_dbg_move(pool, obj, POOL_ST_PENDING, POOL_ST_CACHED, "reclaim");
#endif
    if (pool->p_dtor != NULL)
        pool->p_dtor(obj, pool->p_arg);
    pool_obj_cached(pool, obj);
}

static void
pool_bucket_expire(struct smr_pool *pool, struct pool_bucket *b)
{
    if (!pool->p_work_in)
        return;             /* no dtor, no debug aids: nothing to touch */
    for (uint32_t i = 0; i < b->b_cnt; i++)
        pool_obj_expire(pool, b->b_obj[i]);
}

/* ---- buckets ------------------------------------------------------------- */

static struct pool_bucket *
pool_bucket_new(struct smr_pool *pool)
{
    struct pool_bucket *b;
    size_t sz = sizeof(*b) + pool->p_bucket_max * sizeof(void *);

    /* Whole cache lines: one thread's b_cnt never shares a line with
     * another thread's bucket (false sharing on every alloc/free). */
    sz = (sz + SMR__CACHE_LINE - 1) & ~(size_t)(SMR__CACHE_LINE - 1);
    if (posix_memalign((void **)&b, SMR__CACHE_LINE, sz) != 0)
        b = NULL;
    if (b != NULL) {
        b->b_next = NULL;
        b->b_seq = SMR_SEQ_INVALID;
        b->b_qt = 0;
        b->b_cnt = 0;
        b->b_taken = 0;
    }
    return b;
}

static inline void
pool_push(struct pool_bucket **list, struct pool_bucket *b)
{
    b->b_next = *list;
    *list = b;
}

static inline struct pool_bucket *
pool_pop(struct pool_bucket **list)
{
    struct pool_bucket *b = *list;

    if (b != NULL)
        *list = b->b_next;
    return b;
}

static void
pool_free_list(struct pool_bucket *b)
{
    while (b != NULL) {
        struct pool_bucket *n = b->b_next;
        free(b);
        b = n;
    }
}

/* Take p_lock; true if it was contended (UMA grows buckets then). */
static bool
pool_lock(struct smr_pool *pool)
{
    if (pthread_mutex_trylock(&pool->p_lock) == 0)
        return false;
    pthread_mutex_lock(&pool->p_lock);
    return true;
}

static void
pool_unlock(struct smr_pool *pool)
{
    pthread_mutex_unlock(&pool->p_lock);
}

/* Bucket size: p_lock held.  Relaxed stores: p_bsize is a hint each
 * thread copies on its slow paths; no partner. */
static void
pool_bsize_grow(struct smr_pool *pool)
{
    uint32_t b = atomic_load_rlx(&pool->p_bsize);

    if (b < pool->p_bucket_max)
        atomic_store_rlx(&pool->p_bsize,
            b * 2 < pool->p_bucket_max ? b * 2 : pool->p_bucket_max);
}

static void
pool_bsize_shrink(struct smr_pool *pool)
{
    uint32_t b = atomic_load_rlx(&pool->p_bsize);

    if (b > pool->p_bucket_min)
        atomic_store_rlx(&pool->p_bsize,
            b / 2 > pool->p_bucket_min ? b / 2 : pool->p_bucket_min);
}

/*
 * A refill happened (p_lock held): adapt the bucket size to the refill
 * rate.  Many refills in one window (or a contended lock) grow it; at most
 * one refill per window on average (an idle pool) shrinks it.
 */
static void
pool_adapt(struct smr_pool *pool, bool contended, uint64_t now)
{
    uint64_t el = now - pool->p_win_t0;

    if (contended)
        pool_bsize_grow(pool);
    pool->p_win_n++;
    if (el >= POOL_WINDOW_NS) {
        if (pool->p_win_n >= POOL_GROW_REFILLS && el < 2 * POOL_WINDOW_NS)
            pool_bsize_grow(pool);
        else if (pool->p_win_n * POOL_WINDOW_NS <= el)
            pool_bsize_shrink(pool);
        pool->p_win_t0 = now;
        pool->p_win_n = 0;
    }
}

static void
pool_peak_locked(struct smr_pool *pool, size_t pending)
{
    if (pending > pool->p_pending_peak)
        pool->p_pending_peak = pending;
}

/* ---- claims (P1) ------------------------------------------------------- */

/* Pending objects outside the threads' free buckets; p_lock held.
 * Expiring claims are past their grace period: the statistics count them
 * as cached (not waiting for readers), as they would in an alloc bucket. */
static size_t
pool_pending_shared_locked(const struct smr_pool *pool)
{
    return pool->p_queued + pool->p_untagged_objs + pool->p_tagging_objs;
}

/* A thread's free bucket, after the reclaimer took its first b_taken
 * objects (pool_steal_locked): drop them (p_lock held; the owner, or the
 * owner is gone).  The owner's fast path only appends above b_cnt, so
 * this is the one place the prefix goes. */
static void
pool_untake_locked(struct pool_bucket *b)
{
    uint32_t t = b->b_taken;

    if (t == 0)
        return;
    memmove(b->b_obj, b->b_obj + t, (b->b_cnt - t) * sizeof(b->b_obj[0]));
    atomic_store_rlx(&b->b_cnt, b->b_cnt - t);     /* no partner: stats */
    b->b_taken = 0;
}

/* Hold list (nobjs objects) in k, on the caller's stack; p_lock held, and
 * list was just taken off a shared list under it. */
static void
pool_claim_add_locked(struct smr_pool *pool, struct pool_claim *k,
    struct pool_bucket *list, size_t nobjs, bool tagging)
{
    k->k_list = list;
    k->k_nobjs = nobjs;
    k->k_owner = pthread_self();
    k->k_tagging = tagging;
    k->k_done = 0;
    SMR__DLIST_PUSH(&pool->p_claims, k, k_next, k_prev);
    if (tagging)
        pool->p_tagging_objs += nobjs;
    else
        pool->p_expiring_objs += nobjs;
}

/* Drop k; p_lock held, and its buckets go to their new place under it. */
static void
pool_claim_del_locked(struct smr_pool *pool, struct pool_claim *k)
{
    SMR__DLIST_UNLINK(&pool->p_claims, k, k_next, k_prev);
    if (k->k_tagging)
        pool->p_tagging_objs -= k->k_nobjs;
    else
        pool->p_expiring_objs -= k->k_nobjs;
}

/*
 * Run the dtor on bucket b, just taken off the FIFO: p_lock held on entry
 * and again on return, dropped meanwhile, with b in a claim on our stack
 * (P1), which notes for the fork child how far it got.  The caller's poll
 * returned true with an acquire fence: every section's loads of these
 * objects happen before the dtor and the reuse.
 */
static void
pool_expire_claimed_locked(struct smr_pool *pool, struct pool_bucket *b)
{
    struct pool_claim k;

    pool_claim_add_locked(pool, &k, b, b->b_cnt, false);
    pool_unlock(pool);
    for (uint32_t i = 0; i < b->b_cnt; i++) {
        /* Relaxed, no partner: read only by the fork child, when this
         * thread is gone (pool_claim_orphan_locked). */
        atomic_store_rlx(&k.k_done, i + 1);
        pool_obj_expire(pool, b->b_obj[i]);
    }
    (void)pool_lock(pool);
    pool_claim_del_locked(pool, &k);
}

/* ---- slabs --------------------------------------------------------------- */

static void
pool_partial_add(struct smr_pool *pool, struct pool_slab *s)
{
    s->s_partial = 1;
    s->s_pprev = NULL;
    s->s_pnext = pool->p_partial;
    if (pool->p_partial != NULL)
        pool->p_partial->s_pprev = s;
    pool->p_partial = s;
}

static void
pool_partial_del(struct smr_pool *pool, struct pool_slab *s)
{
    if (s->s_pprev != NULL)
        s->s_pprev->s_pnext = s->s_pnext;
    else
        pool->p_partial = s->s_pnext;
    if (s->s_pnext != NULL)
        s->s_pnext->s_pprev = s->s_pprev;
    s->s_partial = 0;
}

/* Map and carve a slab (no lock held: init is a user hook). */
static struct pool_slab *
pool_slab_new(struct smr_pool *pool)
{
    struct pool_slab *s;
    uint32_t n = pool->p_slab_nobjs;
    char *mem;

    mem = smr__os_map_aligned(pool->p_slab_size, pool->p_slab_size);
    if (mem == NULL)
        return NULL;
    s = (struct pool_slab *)mem;
    s->s_magic = SLAB_MAGIC;
    s->s_nobjs = n;
    s->s_pool = pool;
    s->s_base = mem + pool->p_slab_off;
    s->s_map = (uint64_t *)(s + 1);
    s->s_state = (uint8_t *)(s->s_map + (n + 63) / 64);
    for (uint32_t i = 0; i < n; i++) {
        void *obj = s->s_base + (size_t)i * pool->p_stride;

        if (pool->p_init != NULL)
            pool->p_init(obj, pool->p_arg);
#if SMR_CONFIG_DEBUG
        s->s_state[i] = POOL_ST_CACHED;
#endif
        pool_obj_cached(pool, obj);
        s->s_map[i / 64] |= (uint64_t)1 << (i % 64);
    }
    s->s_nfree = n;
    return s;
}

/* Insert a carved slab; p_lock held. */
static void
pool_slab_insert(struct smr_pool *pool, struct pool_slab *s)
{
    SMR__DLIST_PUSH(&pool->p_slabs, s, s_next, s_prev);
#if SMR_CONFIG_DEBUG
    pool_dbg_slab_add(pool, s);
#endif
    pool->p_nslabs++;
    pool->p_total += s->s_nobjs;
    pool->p_slab_free += s->s_nfree;
    pool_partial_add(pool, s);
}

/* Unlink a slab (p_lock held); the caller releases it. */
static void
pool_slab_unlink(struct smr_pool *pool, struct pool_slab *s)
{
    if (s->s_partial)
        pool_partial_del(pool, s);
    SMR__DLIST_UNLINK(&pool->p_slabs, s, s_next, s_prev);
#if SMR_CONFIG_DEBUG
    pool_dbg_slab_del(pool, s);
#endif
    pool->p_nslabs--;
    pool->p_total -= s->s_nobjs;
    pool->p_slab_free -= s->s_nfree;
}

/* fini every object and give the memory back (no lock held). */
static void
pool_slab_release(struct smr_pool *pool, struct pool_slab *s)
{
    for (uint32_t i = 0; i < s->s_nobjs; i++) {
        void *obj = s->s_base + (size_t)i * pool->p_stride;

        pool_asan_unpoison(obj, pool->p_stride);
#if POOL_VALGRIND
        if (unlikely(pool->p_vg))
            VALGRIND_MAKE_MEM_DEFINED(obj, pool->p_stride);
#endif
        if (pool->p_fini != NULL)
            pool->p_fini(obj, pool->p_arg);
    }
    s->s_magic = 0;
    smr__os_unmap(s, pool->p_slab_size);
}

/* Take up to want cached objects from the slab layer; p_lock held. */
static uint32_t
pool_slab_take(struct smr_pool *pool, void **out, uint32_t want)
{
    struct pool_slab *s;
    uint32_t n = 0;

    /* Shrinking (over half the carved objects free, as after a burst):
     * look at every partial slab; otherwise a bounded look keeps refills
     * O(1). */
    uint32_t look = pool->p_slab_free > pool->p_total / 2 ? UINT32_MAX : 16;

    while (n < want && (s = pool->p_partial) != NULL) {
        uint32_t nw = (s->s_nobjs + 63) / 64, seen = 0;

        /*
         * Fullest partial slab first: live objects pack into few slabs, so
         * the rest can empty and go back to the OS after a burst.
         */
        for (struct pool_slab *q = s->s_pnext; q != NULL && ++seen < look;
            q = q->s_pnext)
            if (q->s_nfree < s->s_nfree)
                s = q;

        for (uint32_t w = 0; w < nw && n < want; w++) {
            uint64_t m = s->s_map[w];

            while (m != 0 && n < want) {
                uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(m);
                m &= m - 1;
                out[n++] = s->s_base + (size_t)i * pool->p_stride;
                s->s_nfree--;
                pool->p_slab_free--;
            }
            s->s_map[w] = m;
        }
        if (s->s_nfree == 0)
            pool_partial_del(pool, s);
    }
    return n;
}

/* Return a cached object to the slab layer; p_lock held. */
static void
pool_slab_put(struct smr_pool *pool, void *obj)
{
    struct pool_slab *s = pool_slab_of(pool, obj);
    uint32_t i = pool_obj_index(pool, s, obj);

    s->s_map[i / 64] |= (uint64_t)1 << (i % 64);
    s->s_nfree++;
    pool->p_slab_free++;
    if (!s->s_partial)
        pool_partial_add(pool, s);
}

static void
pool_slab_put_bucket(struct smr_pool *pool, struct pool_bucket *b)
{
    for (uint32_t i = 0; i < b->b_cnt; i++)
        pool_slab_put(pool, b->b_obj[i]);
    atomic_store_rlx(&b->b_cnt, 0);   /* no partner: stats only */
}

/* ---- the FIFO ------------------------------------------------------------ */

/*
 * Two kinds of FIFO hold tagged buckets: the pool's shared one (p_fifo_*,
 * hints p_head_seq/p_head_qt) and each cache's own (pc_lq_*, hints
 * pc_lq_seq/pc_lq_qt; see pool_local_room_locked).  Both are singly
 * linked lists under p_lock, and these helpers are their one mechanism.
 */

/* Store the hints for a FIFO whose head is now h (NULL: empty).  The tag
 * is a goal polled without p_lock.  Release: partner of the acquire loads
 * in pool_fifo_take and pool_refill.  smr_poll judges the tag against the
 * clock it loads, and the advance that made the tag (this thread's, or
 * another's before its p_lock) happens before any poll of it.  So the
 * poller's clock load sees that advance's write or a later one, and the
 * tag is not taken for a goal never handed out (abort; SMR_SEQ32:
 * "reached", and the pop then hands the bucket out on that word alone;
 * tests/model/hint.c).  Cost: a plain move on x86, stlr on arm64.  The
 * age is a hint (relaxed, no partner). */
static inline void
pool_hint_head(smr_seq_t *seq, uint64_t *qt, const struct pool_bucket *h)
{
    atomic_store_rel(seq, h != NULL ? h->b_seq : (smr_seq_t)SMR_SEQ_INVALID);
    atomic_store_rlx(qt, h != NULL ? h->b_qt : 0);
}

/* Link b at the tail of (*head, *tail); true if b is the head now. */
static inline bool
pool_list_link(struct pool_bucket **head, struct pool_bucket **tail,
    struct pool_bucket *b)
{
    bool first = *tail == NULL;

    b->b_next = NULL;
    if (first)
        *head = b;
    else
        (*tail)->b_next = b;
    *tail = b;
    return first;
}

/* Unlink the head of (*head, *tail) if its tag is at or below seq, a goal
 * a poll has just reported reached; else NULL.  The tag comparison, not
 * the FIFO order, is what makes reuse safe. */
static inline struct pool_bucket *
pool_list_pop(struct pool_bucket **head, struct pool_bucket **tail,
    smr_seq_t seq)
{
    struct pool_bucket *b = *head;

    if (b == NULL || (b->b_seq != seq && !SMR_SEQ_LEQ(b->b_seq, seq)))
        return NULL;
    *head = b->b_next;
    if (*head == NULL)
        *tail = NULL;
    b->b_next = NULL;
    return b;
}

/* Link a tagged bucket, b_qt set, at the shared FIFO's tail (p_lock
 * held); its objects are counted in p_queued already or by the caller. */
static void
pool_fifo_link_locked(struct smr_pool *pool, struct pool_bucket *b)
{
    if (pool_list_link(&pool->p_fifo_head, &pool->p_fifo_tail, b))
        pool_hint_head(&pool->p_head_seq, &pool->p_head_qt, b);
}

/* b's objects join the pending count (p_lock held). */
static void
pool_queued_add_locked(struct smr_pool *pool, struct pool_bucket *b,
    uint64_t now)
{
    atomic_store_rlx(&pool->p_queued, pool->p_queued + b->b_cnt);
    pool->p_buckets_queued++;
    pool_peak_locked(pool, pool_pending_shared_locked(pool));
    smr__cap_note(&pool->p_cap, pool->p_queued, now);
}

/* b, popped from a FIFO for reuse, leaves the pending count (p_lock
 * held). */
static void
pool_queued_sub_locked(struct smr_pool *pool, struct pool_bucket *b)
{
    atomic_store_rlx(&pool->p_queued, pool->p_queued - b->b_cnt);
    pool->p_buckets_reused++;
}

static bool pool_local_room_locked(const struct smr_pool *pool,
    const struct pool_cache *pc, const struct pool_bucket *b);

/* Queue a tagged bucket, stamped with its queue time: on pc's own FIFO
 * when pc is given and it has room (pool_local_room_locked), else on the
 * shared FIFO; p_lock held. */
static void
pool_fifo_append(struct smr_pool *pool, struct pool_cache *pc,
    struct pool_bucket *b, uint64_t now)
{
    if (now == 0)
        now = smr__now_ns();
    b->b_qt = now;
    if (pc != NULL && pool_local_room_locked(pool, pc, b)) {
        if (pool_list_link(&pc->pc_lq_head, &pc->pc_lq_tail, b))
            pool_hint_head(&pc->pc_lq_seq, &pc->pc_lq_qt, b);
        pc->pc_lq_n++;
        pool->p_local_objs += b->b_cnt;
    } else {
        pool_fifo_link_locked(pool, b);
    }
    pool_queued_add_locked(pool, b, now);
}

/* Pop the shared head if its tag is at or below seq, a goal a poll has
 * just reported reached (p_lock held). */
static struct pool_bucket *
pool_fifo_pop(struct smr_pool *pool, smr_seq_t seq)
{
    struct pool_bucket *b;

    b = pool_list_pop(&pool->p_fifo_head, &pool->p_fifo_tail, seq);
    if (b == NULL)
        return NULL;
    /* The new head's advance happened before the p_lock we hold. */
    pool_hint_head(&pool->p_head_seq, &pool->p_head_qt, pool->p_fifo_head);
    pool_queued_sub_locked(pool, b);
    return b;
}

/* ---- the threads' own FIFOs -------------------------------------------------- */

/*
 * A cache keeps up to POOL_LOCAL_MAX of the buckets its thread queues on
 * a FIFO of its own, and its refills take them before the shared FIFO's
 * head.  A thread that frees what it allocated (a connection's objects, a
 * request's, a ring) then gets back objects and a bucket its own core
 * wrote last, rather than whatever another core queued.  In bench_pool
 * (2 writers, a reader sharing a core, a queue ~250k objects deep) the
 * shared FIFO alone ran at 2.1-2.6x glibc, 1.4-1.8x with these lists
 * (docs/BENCHMARKS.md, "Issue 17, third pass").  Beyond POOL_LOCAL_MAX
 * buckets go to the shared FIFO, so a thread that only frees feeds the
 * threads that only allocate; so do frees while the lists of all caches
 * together hold half the cap in force, so they never fill it themselves.
 *
 * Nothing else changes: every move to, from or off the list is under
 * p_lock and the cache is on p_caches, so fork, thread exit, destroy, the
 * reclaimer and smr_pool_reclaim find every bucket (P1: none is only in a
 * thread's hands).  Its objects count in p_queued, so the cap sees them;
 * pool_enforce_cap moves every cache's list to the shared FIFO before it
 * judges or waits for the head, merged by tag (pool_fifo_merge_locked),
 * and keeps each bucket's b_qt, the age the cap is judged by.  A cache
 * idle for a tick has its list moved to the shared FIFO by the reclaimer
 * (pool_steal_locked) or by any other thread's refill, at most once a
 * tick (pool_refill); a shared head 10 ticks older than a thread's own
 * head goes first in that thread's refill, so the pool still drains when the
 * threads that freed go idle, even while others only ever find their own
 * buckets expired.  Reuse is safe by the tag alone (pool_local_pop_locked,
 * as pool_fifo_pop).
 */
static bool
pool_local_room_locked(const struct smr_pool *pool,
    const struct pool_cache *pc, const struct pool_bucket *b)
{
    /* Short, and all the caches' lists together under half the cap in
     * force (relaxed: a hint).  With many threads the lists alone could
     * otherwise fill the cap, and every free past it would move them all
     * (pool_enforce_cap).  Only the owner queues on its list, a tag it
     * made itself, so program order already puts the advance before its
     * poll; the release on pc_lq_seq (pool_hint_head) keeps the hint
     * correct whoever stores it. */
    return pc->pc_lq_n < POOL_LOCAL_MAX &&
        pool->p_local_objs + b->b_cnt <= smr__cap_now(&pool->p_cap) / 2;
}

/* Pop pc's own head if its tag is at or below seq, a goal a poll has
 * just reported reached (p_lock held). */
static struct pool_bucket *
pool_local_pop_locked(struct smr_pool *pool, struct pool_cache *pc,
    smr_seq_t seq)
{
    struct pool_bucket *b;

    b = pool_list_pop(&pc->pc_lq_head, &pc->pc_lq_tail, seq);
    if (b == NULL)
        return NULL;
    pc->pc_lq_n--;
    pool->p_local_objs -= b->b_cnt;
    pool_hint_head(&pc->pc_lq_seq, &pc->pc_lq_qt, pc->pc_lq_head);
    pool_queued_sub_locked(pool, b);
    return b;
}

/* pc has queued nothing on its own FIFO for a tick before now (ns). */
static bool
pool_local_idle(const struct pool_cache *pc, uint64_t now)
{
    uint64_t t0 = pc->pc_lq_tail->b_qt;

    return now > t0 && now - t0 >= POOL_TICK_NS;
}

/*
 * Merge a list of tagged buckets, oldest tag first, into the shared FIFO
 * by tag (p_lock held; b_qt kept, the objects already in p_queued).  A
 * cache's own FIFO is usually older than the shared FIFO's newest
 * buckets, often older than its head (an idle thread's): appended at the
 * tail, its expired buckets would wait behind unexpired ones, and the
 * head the cap judges and waits for would not be the oldest.  The walk
 * passes at most POOL_MERGE_WALK nodes; the rest is appended.  Order is
 * an efficiency matter only: every pop re-checks the tag (pool_fifo_pop).
 */
static void
pool_fifo_merge_locked(struct smr_pool *pool, struct pool_bucket *list)
{
    struct pool_bucket *b, *prev = NULL, *next;
    unsigned walk = 0;

    while ((b = list) != NULL) {
        list = b->b_next;
        if (pool->p_fifo_tail == NULL ||
            !SMR_SEQ_LT(b->b_seq, pool->p_fifo_tail->b_seq)) {
            pool_fifo_link_locked(pool, b);  /* not older than the tail */
            prev = b;
            continue;
        }
        /* After prev (NULL: from the head) past every node not newer than
         * b: the list is sorted, so the walk resumes where it stopped. */
        next = prev != NULL ? prev->b_next : pool->p_fifo_head;
        while (next != NULL && !SMR_SEQ_LT(b->b_seq, next->b_seq) &&
            walk < POOL_MERGE_WALK) {
            prev = next;
            next = next->b_next;
            walk++;
        }
        if (next == NULL || walk >= POOL_MERGE_WALK) {
            pool_fifo_link_locked(pool, b);
            prev = b;
            continue;
        }
        b->b_next = next;
        if (prev != NULL) {
            prev->b_next = b;
        } else {
            pool->p_fifo_head = b;
            /* b is older than the head it replaces, so a goal polled for
             * that head covers b too (pool_fifo_pop compares tags). */
            pool_hint_head(&pool->p_head_seq, &pool->p_head_qt, b);
        }
        prev = b;
    }
}

/* Move pc's own FIFO into the shared FIFO, by tag, ages kept (p_lock
 * held; the objects stay counted in p_queued). */
static void
pool_local_flush_locked(struct smr_pool *pool, struct pool_cache *pc)
{
    if (pc->pc_lq_head == NULL)
        return;
    for (struct pool_bucket *b = pc->pc_lq_head; b != NULL; b = b->b_next)
        pool->p_local_objs -= b->b_cnt;
    pool_fifo_merge_locked(pool, pc->pc_lq_head);
    pc->pc_lq_head = pc->pc_lq_tail = NULL;
    pc->pc_lq_n = 0;
    pool_hint_head(&pc->pc_lq_seq, &pc->pc_lq_qt, NULL);
}

/* Flush every cache's own FIFO (idle == 0), or those of caches whose last
 * queued bucket is a tick older than idle (ns); p_lock held.  skip: a
 * cache to leave alone (the caller's), or NULL. */
static void
pool_local_flush_all_locked(struct smr_pool *pool, uint64_t idle,
    const struct pool_cache *skip)
{
    for (struct pool_cache *pc = pool->p_caches; pc != NULL;
        pc = pc->pc_next) {
        if (pc == skip || pc->pc_lq_tail == NULL)
            continue;
        if (idle == 0 || pool_local_idle(pc, idle))
            pool_local_flush_locked(pool, pc);
    }
}

/*
 * Take the FIFO head if its grace period has passed (wait: block for it,
 * outside every section only), run the dtor on it and put it in the
 * cached list (to_slabs: its objects back in the slab layer, the struct
 * on p_empty).  false if nothing was taken; *raced: the head moved under
 * us (someone else took it).  From the pop to its new place the bucket
 * is in a claim (P1).
 */
static bool
pool_fifo_take(struct smr_pool *pool, bool wait, bool to_slabs, bool *raced)
{
    struct pool_bucket *b;
    smr_seq_t seq;

    *raced = false;
    /* A hint: a miss costs no lock.  Acquire: partner of the release
     * stores in pool_fifo_append/pool_fifo_pop; the advance that made seq
     * happens before the clock load in smr_poll/smr_wait below, so the
     * goal is never judged against an older clock (a plain load on x86,
     * ldar on arm64). */
    seq = atomic_load_acq(&pool->p_head_seq);
    if (seq == SMR_SEQ_INVALID)
        return false;
    if (!smr__poll_for(pool->p_smr, seq, "pool", pool->p_name)) {
        if (!wait || !smr__wait_for(pool->p_smr, seq, "pool", pool->p_name))
            return false;
    } else {
        wait = false;
    }
    pool_lock(pool);
    b = pool_fifo_pop(pool, seq);
    if (b == NULL) {
        pool_unlock(pool);
        *raced = true;
        return false;
    }
    if (wait)
        pool->p_sync_reclaims++;
    if (pool->p_work_in)
        pool_expire_claimed_locked(pool, b);
    if (to_slabs) {
        pool_slab_put_bucket(pool, b);
        pool_push(&pool->p_empty, b);
    } else {
        pool_push(&pool->p_full, b);
        pool->p_full_objs += b->b_cnt;
    }
    pool_unlock(pool);
    return true;
}

/*
 * Tag the buckets other threads handed over (thread exit, fork).  They
 * are in a claim while smr_advance runs (P1), so fork finds them, and
 * p_untagged_objs loses exactly their objects, once, under p_lock.
 */
static void
pool_tag_untagged(struct smr_pool *pool)
{
    struct pool_claim k;
    struct pool_bucket *b;
    smr_seq_t seq;

    /* Hint only (no partner): the list is re-read under p_lock. */
    if (pool->p_smr == NULL || atomic_load_rlx(&pool->p_nuntagged) == 0)
        return;
    pool_lock(pool);
    if (pool->p_untagged == NULL) {
        pool_unlock(pool);
        return;
    }
    /* p_untagged_objs counts the objects on p_untagged, no others. */
    pool_claim_add_locked(pool, &k, pool->p_untagged,
        pool->p_untagged_objs, true);
    pool->p_untagged = NULL;
    pool->p_untagged_objs = 0;
    atomic_store_rlx(&pool->p_nuntagged, 0);
    pool_unlock(pool);
    /* After taking them: the frees happened before our lock, so the tag
     * covers them (a later tag is always conservative). */
    seq = smr_advance(pool->p_smr);
    pool_lock(pool);
    pool_claim_del_locked(pool, &k);
    while ((b = pool_pop(&k.k_list)) != NULL) {
        b->b_seq = seq;
        pool_fifo_append(pool, NULL, b, 0);
    }
    pool_unlock(pool);
}

/* Objects that can wait no longer: wait for them here, put them in the
 * slab layer (free path out of memory; smr pools, outside sections). */
static void
pool_sync_to_slabs(struct smr_pool *pool, struct pool_bucket *b)
{
    if (smr_entered_any())
        pool_die(pool, "out of memory for a free bucket inside a read "
            "section (cannot queue, cannot wait)");
    if (!smr__wait_for(pool->p_smr, smr_advance(pool->p_smr), "pool",
        pool->p_name))
        pool_die(pool, "smr_wait failed in smr_pool_free");
    pool_bucket_expire(pool, b);
    pool_lock(pool);
    pool->p_sync_reclaims++;
    pool_slab_put_bucket(pool, b);
    pool_unlock(pool);
}

/*
 * Tag pc's free bucket and queue it; pc gets an empty one.  If no bucket
 * struct can be had (out of memory): a full bucket (must) has its objects
 * waited for synchronously instead, outside sections, and is reused; an
 * aged partial one (!must) just stays where it is.
 */
static void
pool_queue_free(struct smr_pool *pool, struct pool_cache *pc, bool must,
    uint64_t now)
{
    struct pool_bucket *b = pc->pc_free, *nb;
    bool contended;

    /* One advance per bucket, after every free in it (program order; the
     * advance's full fence orders the caller's unlinks before the clock
     * moves: smr.h contract). */
    b->b_seq = smr_advance(pool->p_smr);
    contended = pool_lock(pool);
    /* The reclaimer may have taken (and queued) a prefix meanwhile: the
     * tag above is later than those frees too, so it still covers b. */
    pool_untake_locked(b);
    if (b->b_cnt == 0) {
        pool_unlock(pool);
        return;
    }
    nb = pool_pop(&pool->p_empty);
    if (nb == NULL) {
        /* b stays pc_free while we allocate (and, out of memory, while
         * its objects expire here): the reclaimer must leave it alone. */
        pc->pc_nosteal = true;
        pool_unlock(pool);
        nb = pool_bucket_new(pool);
        if (nb == NULL) {
            if (must)
                pool_sync_to_slabs(pool, b);
            pool_lock(pool);
            pc->pc_nosteal = false;
            pool_unlock(pool);
            return;
        }
        contended = pool_lock(pool) || contended;
        pc->pc_nosteal = false;
    }
    if (contended)
        pool_bsize_grow(pool);
    /* Swap under p_lock, so smr_pool_stats never counts b twice.  Relaxed
     * store, no partner: stats reads pc_free relaxed. */
    atomic_store_rlx(&pc->pc_free, nb);
    pool_fifo_append(pool, pc, b, now);      /* ours, if it has room */
    pool_unlock(pool);
    /* Once per bucket: work for the background reclaimer, if one runs
     * (one acquire load when none does; src/reclaim.c). */
    smr__reclaimer_kick(pool->p_smr);
}

/* Queue the caller's free bucket if it is older than a tick. */
static void
pool_age_check(struct smr_pool *pool, struct pool_cache *pc, uint64_t now)
{
    if (pc->pc_free->b_cnt == 0)
        return;
    if (now == 0)
        now = smr__now_ns();
    if (now - pc->pc_free_t0 >= POOL_TICK_NS)
        pool_queue_free(pool, pc, false, now);
}

/*
 * A free of a SMR_POOL_NOWAIT pool found the cap exceeded and did not
 * wait: count it; the first one per pool says so on stderr (unless the
 * domain's reports are off), naming the pool, the domain and the cap.
 */
static __attribute__((cold, noinline)) void
pool_nowait_over(struct smr_pool *pool)
{
    /* Statistics only: relaxed, no partner.  The RMW's result elects the
     * one reporter. */
    if (__atomic_fetch_add(&pool->p_nowait_over, 1, __ATOMIC_RELAXED) == 0 &&
        smr__reports_on(pool->p_smr))
        pool_warn(pool, "pending past the cap (%zu) and SMR_POOL_NOWAIT: "
            "frees do not wait; pending is unbounded while a reader of "
            "domain \"%s\" stays inside (reported once; see nowait_over)",
            smr__cap_now(&pool->p_cap), smr_name(pool->p_smr));
}

/*
 * The FIFO is past the cap in force (cap) and its head has not expired:
 * is that the free rate (the head is younger than the domain's grace
 * budget: raise the cap, src/smr_util.h) rather than a reader holding a
 * section?  true: do not wait.
 */
static bool
pool_cap_raise(struct smr_pool *pool, size_t cap)
{
    /* Hint (no partner): a stale age only raises or waits once more. */
    uint64_t qt = atomic_load_rlx(&pool->p_head_qt);
    uint64_t now = smr__now_ns();

    return smr__cap_raise(&pool->p_cap, cap, qt != 0 && now > qt ?
        now - qt : 0, pool->p_budget_ns);
}

/*
 * Keep the shared pending part at the cap (SPEC §2): reclaim expired
 * heads; past that, if the head is young, raise the cap (the free rate,
 * not a reader, filled the queue); else, outside every section, wait for
 * the head (not in a SMR_POOL_NOWAIT pool: count the overshoot instead).
 */
static bool
pool_enforce_cap(struct smr_pool *pool)
{
    bool took, raced, drain = false, flushed = false;
    size_t cap;

    /* Hints (no partner): the FIFO is re-checked under p_lock.  Once over
     * the cap, every head that has expired is moved, not just enough to
     * get under it: after a stalled reader leaves, the queue drains at
     * once rather than one bucket per refill. */
    while (atomic_load_rlx(&pool->p_queued) >
        (cap = drain ? 0 : smr__cap_now(&pool->p_cap))) {
        if (!flushed) {
            /* Over the cap: the caches' own FIFOs join the shared one
             * first, merged by tag (pool_fifo_merge_locked), so the head
             * judged (its age) and waited for below is the oldest, up to
             * the merge's bounded walk. */
            flushed = true;
            pool_lock(pool);
            pool_local_flush_all_locked(pool, 0, NULL);
            pool_unlock(pool);
        }
        took = pool_fifo_take(pool, false, false, &raced);
        if (!took && !raced) {
            if (drain || pool_cap_raise(pool, cap))
                return drain;
            if (pool->p_nowait || smr_entered_any()) {
                /* Inside a section: never block.  NOWAIT: never at all;
                 * hint (no partner) as above. */
                if (pool->p_nowait &&
                    atomic_load_rlx(&pool->p_queued) > cap)
                    pool_nowait_over(pool);
                return drain;
            }
            took = pool_fifo_take(pool, true, false, &raced);
            if (!took && !raced)
                return true;    /* it waited */
        }
        if (took)
            drain = true;
    }
    return drain;
}

/* ---- the background reclaimer (src/reclaim.c) -------------------------------- */

/*
 * Take the partial free buckets that threads have left for a tick or more
 * (p_lock held): their objects go to p_untagged, where pool_tag_untagged
 * tags them, so an idle thread's garbage drains (SPEC §2).  The owner's
 * fast path takes no lock: it only appends at b_cnt and stores the new
 * count with release, so the objects below the count loaded here
 * (acquire) are complete, and their unlinks happen before the tag taken
 * after this (tests/model/steal.c).  We never write the owner's b_cnt or
 * b_obj: the prefix taken is recorded in b_taken, and the owner drops it
 * under p_lock at its next slow path (pool_untake_locked).  The objects
 * move from one list to another under p_lock (P1).  *due: when the
 * youngest partial bucket left becomes a tick old (0: none).
 */
static unsigned
pool_steal_locked(struct smr_pool *pool, uint64_t now, uint64_t *due)
{
    unsigned want = 0;

    for (struct pool_cache *pc = pool->p_caches; pc != NULL;
        pc = pc->pc_next) {
        struct pool_bucket *fb = pc->pc_free, *nb;
        uint32_t cnt, live;
        uint64_t t0;

        if (pc->pc_lq_tail != NULL) {
            /* Its own FIFO: to the shared one once the thread has queued
             * nothing for a tick (its owner reuses it meanwhile). */
            t0 = pc->pc_lq_tail->b_qt;
            if (pool_local_idle(pc, now))
                pool_local_flush_locked(pool, pc);
            else if (*due == 0 || t0 + POOL_TICK_NS < *due)
                *due = t0 + POOL_TICK_NS;
        }
        if (fb == NULL || pc->pc_nosteal)
            continue;
        /* Acquire: partner of the release stores of b_cnt in
         * smr_pool_free and pool_free_slow. */
        cnt = atomic_load_acq(&fb->b_cnt);
        if (cnt <= fb->b_taken)
            continue;
        live = cnt - fb->b_taken;
        t0 = atomic_load_rlx(&pc->pc_free_t0);   /* hint, no partner */
        if (now - t0 < POOL_TICK_NS) {
            /* Young: look again when it is a tick old. */
            if (*due == 0 || t0 + POOL_TICK_NS < *due)
                *due = t0 + POOL_TICK_NS;
            continue;
        }
        if ((nb = pool_pop(&pool->p_empty)) == NULL) {
            want++;             /* the caller allocates, then calls again */
            continue;
        }
        memcpy(nb->b_obj, fb->b_obj + fb->b_taken, live * sizeof(void *));
        atomic_store_rlx(&nb->b_cnt, live);      /* no partner: stats */
        fb->b_taken = cnt;
        pool_push(&pool->p_untagged, nb);
        pool->p_taken++;
        pool->p_untagged_objs += live;
        atomic_store_rlx(&pool->p_nuntagged, pool->p_nuntagged + 1);
    }
    return want;
}

/*
 * One reclaimer round over the SMR pools of smr (reclaim.h): take idle
 * partial buckets, tag them, move every expired FIFO head to the cached
 * list (its dtor runs here, with no libsmr lock held).  A pool is pinned
 * (p_rbusy, under pool__glock) while we work on it without that lock, so
 * smr_pool_destroy waits for the round instead of freeing it under us.
 */
bool
smr__pool_round(smr_t smr, uint64_t now, smr_seq_t *goal, uint64_t *due)
{
    bool left = false, took, raced;
    unsigned want;

    *goal = SMR_SEQ_INVALID;
    *due = 0;
    if (pthread_once(&pool__once, pool_init_once) != 0 ||
        pool__once_err != 0)
        return false;
    pthread_mutex_lock(&pool__glock);
    for (uint32_t i = 0; i < pool__npools; i++) {
        struct smr_pool *pool = pool__pools[i];
        smr_seq_t seq;

        if (pool == NULL || pool->p_smr != smr)
            continue;
        pool->p_rbusy++;
        pthread_mutex_unlock(&pool__glock);
        pool_lock(pool);
        want = pool_steal_locked(pool, now, due);
        pool_unlock(pool);
        if (want != 0) {
            /* Bucket structs to copy into, allocated without p_lock (a
             * few per round at most; the rest wait for the next one). */
            struct pool_bucket *spare = NULL, *nb;

            for (unsigned k = 0; k < want && k < 8; k++)
                if ((nb = pool_bucket_new(pool)) != NULL)
                    pool_push(&spare, nb);
            pool_lock(pool);
            while ((nb = pool_pop(&spare)) != NULL)
                pool_push(&pool->p_empty, nb);
            want = pool_steal_locked(pool, now, due);
            pool_unlock(pool);
            if (want != 0 && (*due == 0 || now + POOL_TICK_NS < *due))
                *due = now + POOL_TICK_NS;
        }
        pool_tag_untagged(pool);
        do
            took = pool_fifo_take(pool, false, false, &raced);
        while (took || raced);
        /* Acquire, as in pool_fifo_take: the goal the reclaimer polls. */
        seq = atomic_load_acq(&pool->p_head_seq);
        if (seq != SMR_SEQ_INVALID) {
            if (*goal == SMR_SEQ_INVALID)
                *goal = seq;
            left = true;
        }
        pthread_mutex_lock(&pool__glock);
        if (--pool->p_rbusy == 0)
            pthread_cond_broadcast(&pool__rcv);
    }
    pthread_mutex_unlock(&pool__glock);
    return left || *due != 0;
}

/* ---- the thread's cache ---------------------------------------------------- */

/* The calling thread's table with room for idx.  NULL on ENOMEM. */
static struct pool_tls *
pool_tls_get(uint32_t idx)
{
    struct pool_tls *t = pool__self, *nt;
    uint32_t ncap;

    if (t != &pool__empty_tls && idx < t->cap)
        return t;
    if (pthread_once(&pool__once, pool_init_once) != 0 ||
        pool__once_err != 0)
        return NULL;
    ncap = t->cap * 2 > idx + 1 ? t->cap * 2 : idx + 1;
    if (ncap < 8)
        ncap = 8;
    nt = calloc(1, sizeof(*nt) + ncap * sizeof(struct pool_tent));
    if (nt == NULL)
        return NULL;
    if (t != &pool__empty_tls)
        memcpy(nt->ent, t->ent, t->cap * sizeof(struct pool_tent));
    nt->cap = ncap;
    if (pthread_setspecific(pool__key, nt) != 0) {
        free(nt);
        return NULL;
    }
    pool__self = nt;
    if (t != &pool__empty_tls)
        free(t);
    return nt;
}

/* Create the calling thread's cache for pool.  NULL on ENOMEM. */
static __attribute__((noinline)) struct pool_cache *
pool_cache_slow(struct smr_pool *pool)
{
    struct pool_cache *pc;
    struct pool_tls *t;

    pool_check(pool, "smr_pool_alloc/smr_pool_free");
    t = pool_tls_get(pool->p_idx);
    if (t == NULL)
        return NULL;
    /* Own cache lines, as the buckets (written on every alloc/free). */
    if (posix_memalign((void **)&pc, SMR__CACHE_LINE, sizeof(*pc)) != 0)
        return NULL;
    memset(pc, 0, sizeof(*pc));
    pc->pc_alloc = pool_bucket_new(pool);
    pc->pc_free = pool_bucket_new(pool);
    if (pc->pc_alloc == NULL || pc->pc_free == NULL) {
        free(pc->pc_alloc);
        free(pc->pc_free);
        free(pc);
        return NULL;
    }
    pc->pc_pool = pool;
    pc->pc_lq_seq = SMR_SEQ_INVALID;
    pc->pc_bsize = atomic_load_rlx(&pool->p_bsize);
    pc->pc_age_cd = POOL_AGE_CALLS;
    pool_lock(pool);
    SMR__DLIST_PUSH(&pool->p_caches, pc, pc_next, pc_prev);
    pool_unlock(pool);
    /* A stale entry at this index belonged to a destroyed pool, which
     * freed its cache: overwrite it. */
    t->ent[pool->p_idx].pc = pc;
    t->ent[pool->p_idx].id = pool->p_id;
    return pc;
}

/* The calling thread's entry for pool: true and *pcp (NULL only if its
 * creation failed) if it has one, false if pool_cache_slow must make it.
 * The fast paths test this and tail-call their miss functions, so that
 * they need no stack frame. */
static inline bool
pool_cache_hit(const struct smr_pool *pool, struct pool_cache **pcp)
{
    struct pool_tls *t = pool__self;
    uint32_t i = pool->p_idx;

    if (likely(i < t->cap && t->ent[i].id == pool->p_id)) {
        *pcp = t->ent[i].pc;
        return true;
    }
    return false;
}

static inline struct pool_cache *
pool_cache(struct smr_pool *pool)
{
    struct pool_cache *pc;

    if (likely(pool_cache_hit(pool, &pc)))
        return pc;
    return pool_cache_slow(pool);
}

/* The caller's cache if it has one, without creating it. */
static struct pool_cache *
pool_cache_peek(struct smr_pool *pool)
{
    struct pool_tls *t = pool__self;
    uint32_t i = pool->p_idx;

    if (i < t->cap && t->ent[i].id == pool->p_id)
        return t->ent[i].pc;
    return NULL;
}

static void
pool_cache_unlink(struct smr_pool *pool, struct pool_cache *pc)
{
    SMR__DLIST_UNLINK(&pool->p_caches, pc, pc_next, pc_prev);
}

/*
 * Hand a cache's buckets to the pool (thread exit, fork child, destroy);
 * p_lock held.  Alloc-bucket objects are cached: back to the slab layer.
 * Pending objects wait untagged for the next thread to tag them (no smr
 * call under a pool lock).  Counters fold into the pool.
 */
static void
pool_cache_drain_locked(struct smr_pool *pool, struct pool_cache *pc)
{
    pool->p_allocs_dead += pc->pc_allocs;
    pool->p_frees_dead += pc->pc_frees;
    pool_local_flush_locked(pool, pc);   /* tagged: the shared FIFO */
    pool_slab_put_bucket(pool, pc->pc_alloc);
    pool_push(&pool->p_empty, pc->pc_alloc);
    pool_untake_locked(pc->pc_free);
    if (pool->p_smr == NULL || pc->pc_free->b_cnt == 0) {
        pool_slab_put_bucket(pool, pc->pc_free);  /* NULL pool: cached */
        pool_push(&pool->p_empty, pc->pc_free);
    } else {
        pool->p_untagged_objs += pc->pc_free->b_cnt;
        pool_push(&pool->p_untagged, pc->pc_free);
        atomic_store_rlx(&pool->p_nuntagged, pool->p_nuntagged + 1);
    }
    pc->pc_alloc = pc->pc_free = NULL;
}

/* pthread key destructor: hand back every live pool's buckets. */
static void
pool_thread_exit(void *arg)
{
    struct pool_tls *t = arg;

    pthread_mutex_lock(&pool__glock);
    for (uint32_t i = 0; i < t->cap; i++) {
        struct smr_pool *pool;
        struct pool_cache *pc = t->ent[i].pc;

        if (t->ent[i].id == 0 || i >= pool__npools)
            continue;
        pool = pool__pools[i];
        if (pool == NULL || pool->p_id != t->ent[i].id)
            continue;         /* destroyed: it freed our cache already */
        pool_lock(pool);
        pool_cache_unlink(pool, pc);
        pool_cache_drain_locked(pool, pc);
        pool_unlock(pool);
        free(pc);
    }
    pthread_mutex_unlock(&pool__glock);
    if (pool__self == t)
        pool__self = &pool__empty_tls;
    free(t);
}

/* ---- create / destroy ---------------------------------------------------- */

SMR_API smr_pool_t
smr_pool_create(const char *name, size_t size, size_t align, smr_t smr,
    int flags)
{
    struct smr_pool_args a;

    memset(&a, 0, sizeof(a));
    a.size = size;
    a.align = align;
    a.smr = smr;
    a.flags = flags;
    return smr_pool_create_args(name, &a);
}

/* Slab geometry for stride/align: size, object offset, objects.  false if
 * the objects are too large (ENOMEM). */
static bool
pool_geometry(size_t stride, size_t align, size_t *slab, size_t *off,
    uint32_t *nobjs)
{
    size_t sz = POOL_SLAB_SIZE, page = smr__os_page_size();

    if (sz < page)
        sz = page;
    /* The first object starts on a cache line (or the caller's larger
     * alignment): then a 64-byte object takes one line, not two, and any
     * stride that is a multiple or a divisor of the line keeps every
     * object within its lines.  At 16 bytes (the minimum alignment) past
     * the header, every 64-byte object straddled two lines.  Cost: under
     * a line per slab. */
    if (align < SMR__CACHE_LINE)
        align = SMR__CACHE_LINE;
    for (; sz <= POOL_SLAB_LIMIT; sz *= 2) {
        size_t n = sz / stride, o;

        if (n > UINT32_MAX)
            n = UINT32_MAX;
        o = (pool_slab_hdr((uint32_t)n) + align - 1) & ~(align - 1);
        if (o >= sz)
            continue;
        n = (sz - o) / stride;
        if (n >= POOL_SLAB_MINOBJS) {
            *slab = sz;
            *off = o;
            *nobjs = (uint32_t)n;
            return true;
        }
    }
    return false;
}

SMR_API smr_pool_t
smr_pool_create_args(const char *name, const struct smr_pool_args *args)
{
    struct smr_pool *pool;
    size_t align, stride, slab, off, cap;
    uint32_t nobjs, bmax, idx;

    if (args == NULL || args->size == 0 ||
        (args->flags & ~SMR_POOL_NOWAIT) != 0 ||
        (args->align & (args->align - 1)) != 0 ||
        args->bucket_max > POOL_BUCKET_LIMIT) {
        errno = EINVAL;
        return NULL;
    }
    align = args->align < POOL_MIN_ALIGN ? POOL_MIN_ALIGN : args->align;
    stride = args->size < sizeof(void *) ? sizeof(void *) : args->size;
    if (stride > POOL_SLAB_LIMIT || align > POOL_SLAB_LIMIT) {
        errno = ENOMEM;
        return NULL;
    }
    stride = (stride + align - 1) & ~(align - 1);
    if (!pool_geometry(stride, align, &slab, &off, &nobjs)) {
        errno = ENOMEM;
        return NULL;
    }
    if (pthread_once(&pool__once, pool_init_once) != 0 ||
        pool__once_err != 0) {
        errno = ENOMEM;
        return NULL;
    }
    if (posix_memalign((void **)&pool, SMR__CACHE_LINE, sizeof(*pool)) !=
        0) {
        errno = ENOMEM;
        return NULL;
    }
    memset(pool, 0, sizeof(*pool));
    snprintf(pool->p_name, sizeof(pool->p_name), "%s",
        name != NULL ? name : "pool");
    pool->p_smr = args->smr;
    pool->p_nowait = (args->flags & SMR_POOL_NOWAIT) != 0;
    pool->p_size = args->size;
    pool->p_align = align;
    pool->p_stride = stride;
    pool->p_slab_size = slab;
    pool->p_slab_off = off;
    pool->p_slab_nobjs = nobjs;
    bmax = args->bucket_max != 0 ? args->bucket_max : POOL_BUCKET_DEF;
    pool->p_bucket_max = bmax;
    pool->p_bucket_min = bmax < POOL_BUCKET_START ? bmax : POOL_BUCKET_START;
    pool->p_bsize = pool->p_bucket_min;
    /* The hard bound on the queue (SPEC §2): the user's, else 16 MiB of
     * objects, at least 4096 and four buckets; the cap in force adapts
     * below it (pool_cap_raise). */
    if (args->pending_cap != 0) {
        cap = args->pending_cap;
    } else {
        cap = POOL_CAP_BYTES / stride;
        if (cap < POOL_CAP_MIN)
            cap = POOL_CAP_MIN;
        if (cap < 4 * (size_t)bmax)
            cap = 4 * (size_t)bmax;
    }
    smr__cap_init(&pool->p_cap, cap);
    pool->p_budget_ns = args->smr != NULL ?
        smr__grace_budget_ns(args->smr) : 0;
    pool->p_init = args->init;
    pool->p_fini = args->fini;
    pool->p_ctor = args->ctor;
    pool->p_dtor = args->dtor;
    pool->p_arg = args->arg;
    /* The debug fill would destroy what init set up (type-stable state). */
    pool->p_poison = args->init == NULL;
#if POOL_VALGRIND
    pool->p_vg = RUNNING_ON_VALGRIND != 0;
#endif
    pool->p_work_out = pool->p_ctor != NULL || pool->p_vg ||
        SMR_CONFIG_DEBUG || POOL_ASAN;
    pool->p_work_in = pool->p_dtor != NULL || pool->p_vg ||
        SMR_CONFIG_DEBUG || POOL_ASAN;
    pool->p_head_seq = SMR_SEQ_INVALID;
    pool->p_win_t0 = smr__now_ns();
    pthread_mutex_init(&pool->p_lock, NULL);
#if SMR_CONFIG_DEBUG
    pthread_mutex_init(&pool->p_dbg_lock, NULL);
#endif
    if (pool->p_smr != NULL)
        smr__domain_hold(pool->p_smr);   /* checks the domain's magic */

    pthread_mutex_lock(&pool__glock);
    for (idx = 0; idx < pool__npools && pool__pools[idx] != NULL; idx++)
        ;
    if (idx == pool__npools) {
        uint32_t n = pool__npools ? pool__npools * 2 : 16;
        struct smr_pool **np = realloc(pool__pools, n * sizeof(*np));
        if (np == NULL) {
            pthread_mutex_unlock(&pool__glock);
            if (pool->p_smr != NULL)
                smr__domain_release(pool->p_smr);
            pthread_mutex_destroy(&pool->p_lock);
            free(pool);
            errno = ENOMEM;
            return NULL;
        }
        memset(np + pool__npools, 0, (n - pool__npools) * sizeof(*np));
        pool__pools = np;
        pool__npools = n;
    }
    pool->p_idx = idx;
    pool->p_id = pool__next_id++;
    pool->p_magic = POOL_MAGIC;
    pool__pools[idx] = pool;
    pthread_mutex_unlock(&pool__glock);
    return pool;
}

SMR_API void
smr_pool_destroy(smr_pool_t pool)
{
    struct pool_bucket *pend = NULL, *b, *rest = NULL;
    struct pool_cache *pc;
    struct pool_slab *s;
    uint64_t allocs, frees;

    if (pool == NULL)
        return;
    pool_check(pool, "smr_pool_destroy");
    /* Before anything is torn down, and whether or not objects are
     * pending: the caller's own section may hold objects of the pool,
     * whose memory is about to go. */
    if (pool->p_smr != NULL && smr_entered(pool->p_smr))
        pool_die(pool, "smr_pool_destroy inside a read section of its "
            "domain (would deadlock, or unmap what the section reads)");
    /* Unregister, and take every thread's buckets: a thread that exits
     * later finds the pool gone and leaves its (freed) cache alone. */
    pthread_mutex_lock(&pool__glock);
    pool__pools[pool->p_idx] = NULL;
    /* A reclaimer round on the pool finishes first (smr__pool_round). */
    while (pool->p_rbusy != 0)
        pthread_cond_wait(&pool__rcv, &pool__glock);
    pool_lock(pool);
    while ((pc = pool->p_caches) != NULL) {
        pool_cache_unlink(pool, pc);
        pool_cache_drain_locked(pool, pc);
        free(pc);
    }
    allocs = pool->p_allocs_dead;
    frees = pool->p_frees_dead;
    pool_unlock(pool);
    pthread_mutex_unlock(&pool__glock);

    if (allocs > frees) {
#if SMR_CONFIG_DEBUG
        pool_die(pool, "smr_pool_destroy with %llu object(s) still in use",
            (unsigned long long)(allocs - frees));
#else
        pool_warn(pool, "smr_pool_destroy with %llu object(s) still in "
            "use; their memory is unmapped", (unsigned long long)
            (allocs - frees));
#endif
    } else if (allocs < frees) {
        /* Release builds: undetected double or foreign frees. */
        pool_warn(pool, "smr_pool_destroy: %llu more frees than "
            "allocations (a double free or a foreign pointer; the pool "
            "was corrupted)", (unsigned long long)(frees - allocs));
    }
    /* Everything pending: the FIFO and the untagged buckets. */
    while ((b = pool_pop(&pool->p_untagged)) != NULL)
        pool_push(&pend, b);
    while (pool->p_fifo_head != NULL) {
        b = pool->p_fifo_head;
        pool->p_fifo_head = b->b_next;
        pool_push(&pend, b);
    }
    pool->p_fifo_tail = NULL;
    if (pend != NULL) {
        /* One grace period covers every free made before this call. */
        if (smr_entered(pool->p_smr))
            pool_die(pool, "smr_pool_destroy inside a read section of its "
                "domain (would deadlock)");
        if (!smr__wait_for(pool->p_smr, smr_advance(pool->p_smr), "pool",
            pool->p_name))
            pool_die(pool, "smr_pool_destroy: smr_wait failed");
        while ((b = pool_pop(&pend)) != NULL) {
            pool_bucket_expire(pool, b);
            pool_push(&rest, b);
        }
    }
    pool->p_magic = POOL_MAGIC_DEAD;
    while ((s = pool->p_slabs) != NULL) {
        pool->p_slabs = s->s_next;
        pool_slab_release(pool, s);
    }
    pool_free_list(rest);
    pool_free_list(pool->p_full);
    pool_free_list(pool->p_empty);
    if (pool->p_smr != NULL)
        smr__domain_release(pool->p_smr);
    pthread_mutex_destroy(&pool->p_lock);
#if SMR_CONFIG_DEBUG
    free(pool->p_dbg_set);
    pthread_mutex_destroy(&pool->p_dbg_lock);
#endif
    free(pool);
}

/* ---- alloc ----------------------------------------------------------------- */

/* Refill pc's empty alloc bucket: the expired head of its own FIFO or of
 * the shared one, a cached bucket, or slabs.  false: out of memory. */
static bool
pool_refill(struct smr_pool *pool, struct pool_cache *pc, uint64_t now)
{
    struct pool_bucket *b = NULL, *old = pc->pc_alloc;
    smr_seq_t seq = SMR_SEQ_INVALID, lseq = SMR_SEQ_INVALID;
    struct pool_slab *s;
    bool contended;
    uint32_t n;

    /* The heads, if their grace period has passed: polled without the
     * lock through the hints (each head is re-checked against the polled
     * goal under p_lock, in pool_local_pop_locked and pool_fifo_pop, but
     * not re-polled).  Acquire: partner of the release stores in
     * pool_hint_head (pc_lq_seq and p_head_seq); the advance that
     * made the goal happens before smr_poll's clock load, so a stale clock
     * cannot make it look never handed out (a plain load on x86, ldar on
     * arm64).  Our own head first: its objects are in our cache.  But a
     * shared head POOL_LOCAL_YIELD (10 ticks) or more older than ours goes
     * first (an idle thread's buckets, moved below or by the reclaimer, or
     * ones the cap moved), so that the pool drains even while every thread
     * reuses its own list (10 ticks, not 1: a thread a little behind
     * another keeps its own buckets); and when ours has not expired, the
     * shared head is polled only if it is older (a head that is not older
     * has not expired either, and a failed poll scans every slot). */
    if (pool->p_smr != NULL) {
        lseq = atomic_load_acq(&pc->pc_lq_seq);
        seq = atomic_load_acq(&pool->p_head_seq);
        if (lseq != SMR_SEQ_INVALID && seq != SMR_SEQ_INVALID &&
            SMR_SEQ_LT(seq, lseq) &&
            /* Hints (relaxed, no partner): only the order depends on
             * them. */
            atomic_load_rlx(&pc->pc_lq_qt) >=
            atomic_load_rlx(&pool->p_head_qt) + POOL_LOCAL_YIELD) {
            lseq = SMR_SEQ_INVALID;         /* the shared head, alone */
        } else if (lseq != SMR_SEQ_INVALID) {
            if (smr__poll_for(pool->p_smr, lseq, "pool", pool->p_name))
                seq = SMR_SEQ_INVALID;      /* ours */
            else {
                if (seq != SMR_SEQ_INVALID && !SMR_SEQ_LT(seq, lseq))
                    seq = SMR_SEQ_INVALID;  /* not older: not expired */
                lseq = SMR_SEQ_INVALID;
            }
        }
        if (seq != SMR_SEQ_INVALID &&
            !smr__poll_for(pool->p_smr, seq, "pool", pool->p_name))
            seq = SMR_SEQ_INVALID;
    }
    contended = pool_lock(pool);
    pool_adapt(pool, contended, now);
    /* At most once a tick, the own FIFOs of caches that have queued
     * nothing for a tick join the shared FIFO, where this or any thread's
     * next refill finds them (their threads may never call again).  On
     * every refill, not only on those that found nothing expired: a busy
     * thread always finds its own bucket expired, and an idle thread's
     * list would then stay pending for good. */
    if (pool->p_smr != NULL && now > pool->p_idle_scan &&
        now - pool->p_idle_scan >= POOL_TICK_NS) {
        pool->p_idle_scan = now;
        pool_local_flush_all_locked(pool, now, pc);
    }
    if (lseq != SMR_SEQ_INVALID)
        b = pool_local_pop_locked(pool, pc, lseq);
    if (b == NULL && seq != SMR_SEQ_INVALID)
        b = pool_fifo_pop(pool, seq);
    if (b != NULL) {
        /* b becomes pc_alloc only once every object in it is CACHED. */
        if (pool->p_work_in)
            pool_expire_claimed_locked(pool, b);
        pool_push(&pool->p_empty, old);
        atomic_store_rlx(&pc->pc_alloc, b);   /* no partner: stats */
        /*
         * Shrinking (over half the carved objects sit free in slabs, as
         * after a burst): send the expired objects back to their slabs and
         * allocate from the fullest slabs instead, so that sparse slabs
         * empty and smr_pool_reclaim can return them.
         */
        if (pool->p_slab_free > pool->p_total / 2) {
            pool_slab_put_bucket(pool, b);   /* b stays pc_alloc */
            n = pool_slab_take(pool, b->b_obj, pc->pc_bsize);
            atomic_store_rlx(&b->b_cnt, n);  /* no partner: stats */
            pool_unlock(pool);
            return n != 0;
        }
        pool_unlock(pool);
        return true;
    }
    if ((b = pool_pop(&pool->p_full)) != NULL) {
        pool->p_full_objs -= b->b_cnt;
        pool_push(&pool->p_empty, old);
        atomic_store_rlx(&pc->pc_alloc, b);   /* no partner: stats */
        pool_unlock(pool);
        return true;
    }
    n = pool_slab_take(pool, old->b_obj, pc->pc_bsize);
    pool_unlock(pool);
    if (n == 0) {
        s = pool_slab_new(pool);
        if (s == NULL)
            return false;
        pool_lock(pool);
        pool_slab_insert(pool, s);
        n = pool_slab_take(pool, old->b_obj, pc->pc_bsize);
        pool_unlock(pool);
    }
    atomic_store_rlx(&old->b_cnt, n);   /* no partner: stats only */
    return n != 0;
}

static __attribute__((noinline)) void *
pool_alloc_slow(struct smr_pool *pool, struct pool_cache *pc)
{
    struct pool_bucket *b;
    uint64_t now;
    void *obj;

    pool_check(pool, "smr_pool_alloc");
    if (pc == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    b = pc->pc_alloc;
    /* The clock only when something needs it (it is not free). */
    now = b->b_cnt == 0 || (pool->p_smr != NULL && pc->pc_free->b_cnt != 0) ?
        smr__now_ns() : 0;
    pc->pc_age_cd = POOL_AGE_CALLS;
    pc->pc_bsize = atomic_load_rlx(&pool->p_bsize);
    if (pool->p_smr != NULL) {
        pool_tag_untagged(pool);
        pool_age_check(pool, pc, now);
    }
    b = pc->pc_alloc;
    if (b->b_cnt == 0) {
        if (pool->p_smr == NULL && pc->pc_free->b_cnt != 0) {
            /* Plain cache: the spill bucket holds reusable objects.
             * Relaxed stores, no partner: stats reads them relaxed. */
            atomic_store_rlx(&pc->pc_alloc, pc->pc_free);
            atomic_store_rlx(&pc->pc_free, b);
        } else if (!pool_refill(pool, pc, now)) {
            errno = ENOMEM;
            return NULL;
        }
        b = pc->pc_alloc;
    }
    obj = b->b_obj[b->b_cnt - 1];
    atomic_store_rlx(&b->b_cnt, b->b_cnt - 1);     /* no partner: stats */
    atomic_store_rlx(&pc->pc_allocs, pc->pc_allocs + 1);
    pool_obj_out(pool, obj);
    return obj;
}

/* smr_pool_alloc's first call on pool in this thread: make the cache. */
static __attribute__((noinline)) void *
pool_alloc_miss(struct smr_pool *pool)
{
    return pool_alloc_slow(pool, pool_cache_slow(pool));
}

/* An object leaves with a ctor or a check to run: a tail call, so that the
 * fast path keeps no frame to hold obj across pool_obj_out_work. */
static __attribute__((noinline)) void *
pool_obj_out_ret(struct smr_pool *pool, void *obj)
{
    pool_obj_out_work(pool, obj);
    return obj;
}

SMR_API void *
smr_pool_alloc(smr_pool_t pool)
{
    struct pool_cache *pc;
    struct pool_bucket *b;
    uint32_t n;

    /* Every way off the common path is a tail call: no stack frame. */
    if (unlikely(!pool_cache_hit(pool, &pc)))
        return pool_alloc_miss(pool);
    if (likely(pc != NULL)) {
        b = pc->pc_alloc;
        n = b->b_cnt;
        if (likely(n != 0) && likely(--pc->pc_age_cd != 0)) {
            void *obj = b->b_obj[n - 1];
            /* Relaxed stores, no partner: smr_pool_stats reads them. */
            atomic_store_rlx(&b->b_cnt, n - 1);
            atomic_store_rlx(&pc->pc_allocs, pc->pc_allocs + 1);
            if (unlikely(pool->p_work_out))
                return pool_obj_out_ret(pool, obj);
            return obj;
        }
    }
    return pool_alloc_slow(pool, pc);
}

/* ---- free ------------------------------------------------------------------ */

/* No cache for this thread (out of memory): put obj back directly. */
static void
pool_free_nocache(struct smr_pool *pool, void *obj)
{
    if (pool->p_smr != NULL) {
        if (smr_entered_any())
            pool_die(pool, "out of memory for a thread cache inside a read "
                "section (cannot queue, cannot wait)");
        if (!smr__wait_for(pool->p_smr, smr_advance(pool->p_smr), "pool",
            pool->p_name))
            pool_die(pool, "smr_wait failed in smr_pool_free");
        pool_obj_expire(pool, obj);
    } else {
        pool_obj_expire(pool, obj);
    }
    pool_lock(pool);
    pool->p_frees_dead++;
    pool_slab_put(pool, obj);
    pool_unlock(pool);
}

/* Plain object cache (smr == NULL): reuse is immediate, LIFO. */
static void
pool_free_plain(struct smr_pool *pool, struct pool_cache *pc, void *obj)
{
    struct pool_bucket *b, *nb;

    pool_obj_expire(pool, obj);     /* dtor now: no grace period */
    b = pc->pc_alloc;
    if (b->b_cnt >= pc->pc_bsize) {
        b = pc->pc_free;
        if (b->b_cnt >= pc->pc_bsize) {
            /* Both full: the spill bucket goes to the pool's cached list. */
            pool_lock(pool);
            nb = pool_pop(&pool->p_empty);
            if (nb == NULL) {
                pool_unlock(pool);
                nb = pool_bucket_new(pool);
                pool_lock(pool);
            }
            if (nb != NULL) {
                pool_push(&pool->p_full, b);
                pool->p_full_objs += b->b_cnt;
                atomic_store_rlx(&pc->pc_free, nb);   /* no partner */
            } else {
                pool_slab_put_bucket(pool, b);
                nb = b;
            }
            pool_unlock(pool);
            b = nb;
        }
    }
    b->b_obj[b->b_cnt] = obj;
    atomic_store_rlx(&b->b_cnt, b->b_cnt + 1);     /* no partner: stats */
}

static __attribute__((noinline)) void
pool_free_slow(struct smr_pool *pool, struct pool_cache *pc, void *obj)
{
    struct pool_bucket *b;
    uint64_t now = 0;
    bool started = false;

    pool_check(pool, "smr_pool_free");
    if (pc == NULL) {
        pool_free_nocache(pool, obj);
        return;
    }
    atomic_store_rlx(&pc->pc_frees, pc->pc_frees + 1);  /* stats only */
    pc->pc_age_cd = POOL_AGE_CALLS;
    pc->pc_bsize = atomic_load_rlx(&pool->p_bsize);
    if (pool->p_smr == NULL) {
        pool_free_plain(pool, pc, obj);
        return;
    }
    pool_tag_untagged(pool);
    b = pc->pc_free;
    if (b->b_cnt != 0) {
        now = smr__now_ns();
        if (b->b_cnt >= pc->pc_bsize || b->b_cnt >= pool->p_bucket_max ||
            now - pc->pc_free_t0 >= POOL_TICK_NS)
            pool_queue_free(pool, pc, b->b_cnt >= pc->pc_bsize ||
                b->b_cnt >= pool->p_bucket_max, now);
    }
    /* Before obj joins a bucket: while we wait here, our share of the
     * bound is the bucket just queued (or the one we hold), no more.
     * The time read above stamps the next bucket (one clock read per
     * bucket less: ~25 ns in a VM), unless this moved buckets or waited:
     * then it may be old, and is read again. */
    if (pool_enforce_cap(pool))
        now = 0;
    b = pc->pc_free;
    if (b->b_cnt == 0) {
        /* Relaxed: the reclaimer reads it as a hint (no partner). */
        atomic_store_rlx(&pc->pc_free_t0, now != 0 ? now : smr__now_ns());
        started = true;
    }
    b->b_obj[b->b_cnt] = obj;
    /* Release: as in smr_pool_free (partner: pool_steal_locked). */
    atomic_store_rel(&b->b_cnt, b->b_cnt + 1);
    /* A new partial bucket: once per bucket, tell the reclaimer (it takes
     * the bucket if this thread goes idle with it). */
    if (started)
        smr__reclaimer_kick(pool->p_smr);
}

/* smr_pool_free's first call on pool in this thread: make the cache. */
static __attribute__((noinline)) void
pool_free_miss(struct smr_pool *pool, void *obj)
{
    pool_free_slow(pool, pool_cache_slow(pool), obj);
}

SMR_API void
smr_pool_free(smr_pool_t pool, void *obj)
{
    struct pool_cache *pc;
    struct pool_bucket *b;
    uint32_t n;

    if (obj == NULL)
        return;
    pool_obj_in(pool, obj);     /* SMR_DEBUG: checks pool and obj first */
    /* Every way off the common path is a tail call: no stack frame. */
    if (unlikely(!pool_cache_hit(pool, &pc))) {
        pool_free_miss(pool, obj);
        return;
    }
    if (likely(pc != NULL)) {
        if (likely(pool->p_smr != NULL)) {
            b = pc->pc_free;
            n = b->b_cnt;
            /* 0 < n < bucket size: a first object stamps the age (slow). */
            if (likely(n - 1 < pc->pc_bsize - 1) &&
                likely(--pc->pc_age_cd != 0)) {
                b->b_obj[n] = obj;
                /* Release: partner of the acquire load in
                 * pool_steal_locked, which copies b_obj[0, n] and tags
                 * them: the caller's unlink happens before that advance
                 * (tests/model/steal.c).  A plain store on x86, stlr on
                 * arm64.  pc_frees: relaxed, stats only. */
                atomic_store_rel(&b->b_cnt, n + 1);
                atomic_store_rlx(&pc->pc_frees, pc->pc_frees + 1);
                return;
            }
        } else if (!pool->p_work_in) {
            /* Plain cache, nothing to run: LIFO into the alloc bucket. */
            b = pc->pc_alloc;
            n = b->b_cnt;
            if (likely(n < pc->pc_bsize)) {
                b->b_obj[n] = obj;
                atomic_store_rlx(&b->b_cnt, n + 1);   /* no partner */
                atomic_store_rlx(&pc->pc_frees, pc->pc_frees + 1);
                return;
            }
        }
    }
    pool_free_slow(pool, pc, obj);
}

/* ---- reclaim and statistics ------------------------------------------------ */

SMR_API void
smr_pool_reclaim(smr_pool_t pool)
{
    struct pool_slab *s, *next, *gone = NULL;
    struct pool_bucket *b, *empty;
    struct pool_cache *pc;
    bool raced;

    pool_check(pool, "smr_pool_reclaim");
    pc = pool_cache_peek(pool);
    if (pool->p_smr != NULL) {
        /* The caller's own pending objects start their grace period. */
        if (pc != NULL && pc->pc_free->b_cnt != 0)
            pool_queue_free(pool, pc, false, 0);
        /* Every thread's own FIFO too: all of it is up for reclaim. */
        pool_lock(pool);
        pool_local_flush_all_locked(pool, 0, NULL);
        pool_unlock(pool);
        pool_tag_untagged(pool);
        /* Every expired head goes back to the slab layer. */
        while (pool_fifo_take(pool, false, true, &raced) || raced)
            ;
    }
    pool_lock(pool);
    if (pc != NULL) {
        pool_slab_put_bucket(pool, pc->pc_alloc);
        if (pool->p_smr == NULL)
            pool_slab_put_bucket(pool, pc->pc_free);
    }
    while ((b = pool_pop(&pool->p_full)) != NULL) {
        pool->p_full_objs -= b->b_cnt;
        pool_slab_put_bucket(pool, b);
        pool_push(&pool->p_empty, b);
    }
    /* Slabs whose every object is in the slab layer go back to the OS. */
    for (s = pool->p_slabs; s != NULL; s = next) {
        next = s->s_next;
        if (s->s_nfree == s->s_nobjs) {
            pool_slab_unlink(pool, s);
            s->s_next = gone;
            gone = s;
        }
    }
    empty = pool->p_empty;
    pool->p_empty = NULL;
    pool_bsize_shrink(pool);
    pool_unlock(pool);
    pool_free_list(empty);
    while ((s = gone) != NULL) {
        gone = s->s_next;
        pool_slab_release(pool, s);
    }
}

SMR_API void
smr_pool_stats(smr_pool_t pool, struct smr_pool_stats *st)
{
    struct pool_cache *pc;
    uint64_t allocs, frees;
    size_t pend, cached, nfree, nalloc;

    pool_check(pool, "smr_pool_stats");
    memset(st, 0, sizeof(*st));
    pc = pool_cache_peek(pool);
    if (pool->p_smr != NULL) {
        pool_tag_untagged(pool);
        if (pc != NULL)
            pool_age_check(pool, pc, 0);
    }
    pool_lock(pool);
    allocs = pool->p_allocs_dead;
    frees = pool->p_frees_dead;
    pend = pool_pending_shared_locked(pool);
    cached = pool->p_slab_free + pool->p_full_objs + pool->p_expiring_objs;
    for (pc = pool->p_caches; pc != NULL; pc = pc->pc_next) {
        /* Owner-written, relaxed (no partner): a snapshot, exact only
         * when the pool is quiescent. */
        struct pool_bucket *ab = atomic_load_rlx(&pc->pc_alloc);
        struct pool_bucket *fb = atomic_load_rlx(&pc->pc_free);

        allocs += atomic_load_rlx(&pc->pc_allocs);
        frees += atomic_load_rlx(&pc->pc_frees);
        nalloc = ab != NULL ? atomic_load_rlx(&ab->b_cnt) : 0;
        /* b_taken under p_lock: those objects are counted where the
         * reclaimer put them. */
        nfree = fb != NULL ? atomic_load_rlx(&fb->b_cnt) - fb->b_taken : 0;
        cached += nalloc;
        if (pool->p_smr != NULL)
            pend += nfree;
        else
            cached += nfree;
    }
    pool_peak_locked(pool, pend);
    st->size = pool->p_size;
    /* Clamped: a double free (undetected in release builds) must not
     * show as 2^64 - 1 objects in use. */
    st->in_use = allocs > frees ? (size_t)(allocs - frees) : 0;
    st->pending = pend;
    st->cached = cached;
    st->slabs = pool->p_nslabs;
    st->bytes = pool->p_nslabs * pool->p_slab_size;
    st->allocs = allocs;
    st->frees = frees;
    st->buckets_queued = pool->p_buckets_queued;
    st->buckets_reused = pool->p_buckets_reused;
    st->sync_reclaims = pool->p_sync_reclaims;
    st->pending_peak = pool->p_pending_peak;
    st->nowait_over = atomic_load_rlx(&pool->p_nowait_over);
    st->pending_cap = pool->p_cap.k_hard;
    st->pending_cap_now = smr__cap_now(&pool->p_cap);
    st->cap_raises = atomic_load_rlx(&pool->p_cap.k_raises);
    st->buckets_taken = pool->p_taken;
    pool_unlock(pool);
}

/* ---- fork ------------------------------------------------------------------ */

/*
 * Lock order: pool__glock, then every pool's p_lock by index.  No pool
 * lock is held across a call into smr.h, so the order against the core's
 * own atfork locks does not matter.  With every p_lock held no bucket is
 * between two places (P1): the child finds each in a cache, a pool list
 * or a claim.  It hands the caches and claims of threads that do not
 * exist in it to their pools (pending buckets untagged: the next pool
 * call tags them, once the core's child handler has run).
 */
static void
pool_atfork_prepare(void)
{
    pthread_mutex_lock(&pool__glock);
    for (uint32_t i = 0; i < pool__npools; i++)
        if (pool__pools[i] != NULL)
            pthread_mutex_lock(&pool__pools[i]->p_lock);
}

static void
pool_atfork_parent(void)
{
    for (uint32_t i = pool__npools; i-- > 0;)
        if (pool__pools[i] != NULL)
            pthread_mutex_unlock(&pool__pools[i]->p_lock);
    pthread_mutex_unlock(&pool__glock);
}

/*
 * The fork child: a claim whose thread is not here.  Its buckets go where
 * that thread would have put them.  Untagged ones wait on p_untagged for
 * the child's next pool call to tag them.  An expiring bucket's grace
 * period has passed: the objects whose expiry had not begun go back on
 * the FIFO under their reached tag, for the child's next reclaim or
 * refill to run the dtor on them; those whose expiry had begun are
 * cached.  The last of those may have been cut short inside its dtor: the
 * dtor is not run again (at most once per free; retire never runs a
 * callback twice either), but the object is made CACHED.  Called with the
 * process's only thread holding p_lock (re-initialised).
 */
static void
pool_claim_orphan_locked(struct smr_pool *pool, struct pool_claim *k)
{
    struct pool_bucket *b;
    uint32_t done;

    pool_claim_del_locked(pool, k);
    if (k->k_tagging) {
        while ((b = pool_pop(&k->k_list)) != NULL) {
            pool->p_untagged_objs += b->b_cnt;
            pool_push(&pool->p_untagged, b);
            atomic_store_rlx(&pool->p_nuntagged, pool->p_nuntagged + 1);
        }
        return;
    }
    b = k->k_list;
    done = atomic_load_rlx(&k->k_done);   /* no partner: one thread */
    if (done > b->b_cnt)
        done = b->b_cnt;
    if (done > 0) {
#if SMR_CONFIG_DEBUG
        atomic_store_rlx(pool_dbg_state(pool, b->b_obj[done - 1], "fork"),
            POOL_ST_CACHED);   /* no partner: one thread */
#endif
        pool_obj_cached(pool, b->b_obj[done - 1]);
    }
    for (uint32_t i = 0; i < done; i++)
        pool_slab_put(pool, b->b_obj[i]);
    b->b_cnt -= done;
    memmove(b->b_obj, b->b_obj + done, b->b_cnt * sizeof(b->b_obj[0]));
    if (b->b_cnt == 0)
        pool_push(&pool->p_empty, b);
    else
        pool_fifo_append(pool, NULL, b, 0);
}

static void
pool_atfork_child(void)
{
    struct pool_tls *t = pool__self;
    pthread_t me = pthread_self();

    for (uint32_t i = 0; i < pool__npools; i++) {
        struct smr_pool *pool = pool__pools[i];
        struct pool_claim *k, *kn;
        struct pool_cache *pc, *next;

        if (pool == NULL)
            continue;
        pthread_mutex_init(&pool->p_lock, NULL);
        /* No reclaimer thread in the child (src/reclaim.c): none of its
         * pins on a pool is real here. */
        pool->p_rbusy = 0;
#if SMR_CONFIG_DEBUG
        /* Readers only (writers hold p_lock, taken in prepare). */
        pthread_mutex_init(&pool->p_dbg_lock, NULL);
#endif
        for (k = pool->p_claims; k != NULL; k = kn) {
            kn = k->k_next;
            if (!pthread_equal(k->k_owner, me))
                pool_claim_orphan_locked(pool, k);
        }
        for (pc = pool->p_caches; pc != NULL; pc = next) {
            next = pc->pc_next;
            if (pool->p_idx < t->cap && t->ent[pool->p_idx].id ==
                pool->p_id && t->ent[pool->p_idx].pc == pc)
                continue;         /* ours: we live on in the child */
            pool_cache_unlink(pool, pc);
            pool_cache_drain_locked(pool, pc);
            free(pc);
        }
    }
    pthread_mutex_init(&pool__glock, NULL);
    pthread_cond_init(&pool__rcv, NULL);
}
