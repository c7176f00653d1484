/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * ht_torture: the installed hash table (<smr_ht.h>) under concurrent
 * lookups, iterations, unique inserts, deletes, replaces and resizes, with
 * a generation stamp in every node (plain main(): runs under TSan too).
 *
 * usage: ht_torture MODE READERS WRITERS SECONDS
 *        (MODE: default|deferred|lazy)
 *
 * Keys [0, NSTABLE) are always present (writers only replace them); the
 * others come and go.  Writer w owns the keys k with k % WRITERS == w, so
 * it knows what each of its keys holds.  Removed nodes are reclaimed, in
 * turn, through an SMR pool (its dtor marks them DEAD and bumps their
 * generation before reuse) and through smr_retire (the callback does the
 * same, then frees them).  The main thread resizes the table through
 * sizes from 1 to 8192 buckets, one resize in four from inside a read
 * section (so its shrink cannot wait and finishes later), while the table
 * also resizes itself with its load factor.
 *
 * Readers, inside a section, look up a key and check the node is LIVE,
 * holds that key and a stamp that matches its generation; they keep it,
 * look up a few more keys (nested lookups, a yield now and then), and
 * check it again before leaving: a change means a node was reclaimed while
 * a section could still see it.  An always-present key must always be
 * found, and a whole walk must meet every one of them.  At the end the
 * table holds exactly what the writers say.
 *
 * Output: one line "ht_torture: mode=... violations=N ..."; exit status 0,
 * 1 on a violation, 2 on bad usage.  Built twice more, deliberately
 * broken, and both must be caught: ht_torture_nograce
 * (-DHT_TORTURE_BROKEN_NO_GRACE: the pool is a plain cache and retired
 * nodes are reclaimed at once) and ht_torture_table_nograce (the library
 * compiled in with SMR_HT__BROKEN_NO_GRACE: a shrink unlinks and poisons
 * buckets without waiting for readers).
 */
#include "torture.h"

#include <signal.h>
#include <stdarg.h>

#include <smr_ht.h>

#define NSTABLE 512
#define NKEYS 4096
#define LIVE 0x4c495645u
#define DEAD 0xdeadbeefu
#define MAXW 8
#define MAXR 16

struct tnode {
    struct smr_ht_node hn;
    uint64_t key;           /* written before the node is published */
    uint32_t state;         /* atomic: LIVE or DEAD */
    uint32_t from_pool;
    uint64_t gen;           /* atomic */
    uint64_t stamp;         /* atomic: stamp_of(key, gen) */
};

#define TNODE(n) SMR_HT_ENTRY((n), struct tnode, hn)

static smr_t smr;
static bool lazy;
static smr_ht_t ht;
static smr_pool_t pool;
static atomic_int stop;
static atomic_ullong gen_next = 1;
static atomic_ullong violations, missing, lookups, walks, wops, resizes;
static atomic_int reported;
static struct tnode *cur[NKEYS];    /* writer-owned by key */
static int nwriters;

static uint64_t
stamp_of(uint64_t key, uint64_t gen)
{
    uint64_t x = key * 0x9e3779b97f4a7c15ull ^ gen;

    return x ^ (x >> 29);
}

static void
violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
violation(const char *fmt, ...)
{
    va_list ap;

    atomic_fetch_add(&violations, 1);
    if (atomic_fetch_add(&reported, 1) < 5) {
        va_start(ap, fmt);
        fprintf(stderr, "ht_torture: VIOLATION: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
    }
}

/*
 * A crash, an abort or a hang is a violation too: memory reclaimed under a
 * section can send a walk into unmapped memory (SIGSEGV), make the
 * library find a node missing that a writer knows it inserted (an
 * SMR_DEBUG build aborts: "is not in table"), or corrupt a list so that a
 * walk goes round it (no progress).  Each is reported in the result line's
 * format, so a broken build that crashes still counts as caught, and a
 * good build that does fails.
 */
static void
on_fault(int sig)
{
    static const char msg[] = "ht_torture: fatal signal: a walk followed "
        "reclaimed memory or the table lost a node; violations=1\n";

    (void)sig;
    if (write(2, msg, sizeof(msg) - 1) < 0 || write(1, msg,
        sizeof(msg) - 1) < 0)
        _exit(1);
    _exit(1);
}

static atomic_int finished;
static uint64_t hang_deadline;

static void *
watchdog(void *arg)
{
    uint64_t stop_seen = 0;

    (void)arg;
    while (!atomic_load(&finished)) {
        uint64_t now = now_ns();

        if (stop_seen == 0 && atomic_load(&violations) != 0)
            stop_seen = now;
        if ((stop_seen != 0 && now - stop_seen > 3000000000ull) ||
            now > hang_deadline) {
            printf("ht_torture: no progress for %s: hung in a walk; "
                "violations=%llu\n", stop_seen ? "3 s after a violation" :
                "30 s past the run", (unsigned long long)(atomic_load(
                &violations) + 1));
            fflush(stdout);
            _exit(1);
        }
        usleep(50000);
    }
    return NULL;
}

/* ---- the user's side of the table -------------------------------------- */

static uint64_t
key_hash(const void *key, void *arg)
{
    uint64_t k = *(const uint64_t *)key;

    (void)arg;
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

static bool
key_match(const struct smr_ht_node *n, const void *key, void *arg)
{
    (void)arg;
    return TNODE(n)->key == *(const uint64_t *)key;
}

static void
mark_dead(struct tnode *t)
{
    __atomic_store_n(&t->state, DEAD, __ATOMIC_RELAXED);
    __atomic_fetch_add(&t->gen, 1ull << 40, __ATOMIC_RELAXED);
}

static void
pool_dtor(void *p, void *arg)
{
    (void)arg;
    mark_dead(p);
}

static void
retire_fn(void *p)
{
    mark_dead(p);
    free(p);
}

static struct tnode *
node_new(uint64_t key, bool use_pool)
{
    struct tnode *t = use_pool ? smr_pool_alloc(pool) : malloc(sizeof(*t));
    uint64_t g = atomic_fetch_add(&gen_next, 1);

    if (t == NULL) {
        fprintf(stderr, "ht_torture: out of memory\n");
        exit(2);
    }
    t->key = key;
    t->from_pool = use_pool;
    /* Relaxed: published with the node by the table's release CAS. */
    __atomic_store_n(&t->gen, g, __ATOMIC_RELAXED);
    __atomic_store_n(&t->stamp, stamp_of(key, g), __ATOMIC_RELAXED);
    __atomic_store_n(&t->state, LIVE, __ATOMIC_RELAXED);
    return t;
}

/* A node the table handed back: reclaim it the way it was allocated. */
static void
node_free(struct tnode *t)
{
#if defined(HT_TORTURE_BROKEN_NO_GRACE)
    /* Deliberately broken (ht_torture_nograce): no grace period. */
    if (!t->from_pool) {
        retire_fn(t);
        return;
    }
#else
    if (!t->from_pool) {
        smr_retire(smr, t, retire_fn);
        return;
    }
#endif
    smr_pool_free(pool, t);
}

/* ---- readers ------------------------------------------------------------ */

/* A node found for key: is it intact?  Returns its generation. */
static uint64_t
check(struct tnode *t, uint64_t key)
{
    uint32_t st = __atomic_load_n(&t->state, __ATOMIC_RELAXED);
    uint64_t g = __atomic_load_n(&t->gen, __ATOMIC_RELAXED);
    uint64_t s = __atomic_load_n(&t->stamp, __ATOMIC_RELAXED);

    if (st != LIVE || t->key != key || s != stamp_of(key, g))
        violation("lookup(%llu): node %p state %#x key %llu gen %llu",
            (unsigned long long)key, (void *)t, st,
            (unsigned long long)t->key, (unsigned long long)g);
    return g;
}

static void
walk_all(unsigned char *seen)
{
    struct smr_ht_node *n;
    int miss = 0;

    memset(seen, 0, NSTABLE);
    sec_enter(smr, lazy);
    SMR_HT_FOREACH(n, ht) {
        struct tnode *t = TNODE(n);
        if (t->key < NSTABLE)
            seen[t->key] = 1;
    }
    sec_exit(smr, lazy);
    for (int k = 0; k < NSTABLE; k++)
        miss += !seen[k];
    if (miss != 0) {
        atomic_fetch_add(&missing, (unsigned long long)miss);
        violation("a walk missed %d always-present keys", miss);
    }
    atomic_fetch_add_explicit(&walks, 1, memory_order_relaxed);
}

static void *
reader(void *arg)
{
    uint64_t x = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
    unsigned char seen[NSTABLE];
    unsigned long long n = 0;

    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        uint64_t r = rnd(&x);

        if ((r & 1023) == 0) {
            walk_all(seen);
            continue;
        }
        uint64_t key = (r >> 16) % NKEYS;
        sec_enter(smr, lazy);
        struct smr_ht_node *h = smr_ht_lookup(ht, &key);
        struct tnode *held = h ? TNODE(h) : NULL;
        uint64_t g = held ? check(held, key) : 0;
        if (held == NULL && key < NSTABLE) {
            atomic_fetch_add(&missing, 1);
            violation("always-present key %llu not found",
                (unsigned long long)key);
        }
        /* More lookups in the same section, then the first one again. */
        for (int i = 0; i < 4; i++) {
            uint64_t k2 = (key + (uint64_t)i * 977) % NKEYS;
            struct smr_ht_node *m = smr_ht_lookup(ht, &k2);
            if (m != NULL)
                (void)check(TNODE(m), k2);
            else if (k2 < NSTABLE)
                violation("always-present key %llu not found",
                    (unsigned long long)k2);
        }
        if ((r >> 40 & 63) == 0)
            sched_yield();
        if (held != NULL &&
            (__atomic_load_n(&held->gen, __ATOMIC_RELAXED) != g ||
             __atomic_load_n(&held->state, __ATOMIC_RELAXED) != LIVE))
            violation("node of key %llu reclaimed under a reader (gen %llu "
                "-> %llu)", (unsigned long long)key, (unsigned long long)g,
                (unsigned long long)__atomic_load_n(&held->gen,
                __ATOMIC_RELAXED));
        sec_exit(smr, lazy);
        n += 5;
    }
    atomic_fetch_add(&lookups, n);
    return NULL;
}

/* ---- writers ------------------------------------------------------------ */

static void *
writer(void *arg)
{
    int w = (int)(uintptr_t)arg;
    uint64_t x = (uint64_t)(w + 1) * 0x2545f4914f6cdd1dull;
    unsigned long long n = 0;
    unsigned flip = 0;

    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        uint64_t r = rnd(&x);
        uint64_t key = ((r >> 8) % (NKEYS / (unsigned)nwriters)) *
            (unsigned)nwriters + (unsigned)w;
        struct tnode *old = cur[key], *t;
        bool use_pool = (flip++ & 1) != 0;

        if (key < NSTABLE || (old != NULL && (r & 3) == 0)) {
            t = node_new(key, use_pool);
            if (smr_ht_replace(ht, &old->hn, &t->hn) != 0)
                violation("replace of key %llu: ENOENT",
                    (unsigned long long)key);
            cur[key] = t;
            node_free(old);
        } else if (old != NULL) {
            if (smr_ht_delete(ht, &old->hn) != 0)
                violation("delete of key %llu: ENOENT",
                    (unsigned long long)key);
            cur[key] = NULL;
            node_free(old);
        } else {
            t = node_new(key, use_pool);
            if (smr_ht_insert_unique(ht, &t->hn, &t->key) != &t->hn)
                violation("unique insert of absent key %llu found one",
                    (unsigned long long)key);
            cur[key] = t;
        }
        n++;
    }
    atomic_fetch_add(&wops, n);
    return NULL;
}

int
main(int argc, char **argv)
{
    static const size_t sizes[] = { 1, 64, 8, 8192, 2, 512, 4096, 16 };
    pthread_t rt[MAXR], wt[MAXW], wd;
    struct smr_ht_args args = {
        .hash = key_hash, .match = key_match, .name = "ht_torture",
        .init_buckets = 16,
    };
    struct smr_ht_stats hs;
    struct smr_pool_stats ps;
    int mode, nreaders;
    long seconds;
    unsigned long long count = 0, bad_final = 0;
    uint64_t t0, deadline;

    if (argc != 5 || (mode = torture_parse_mode(argv[1])) < 0) {
        fprintf(stderr, "usage: ht_torture default|deferred|lazy READERS "
            "WRITERS SECONDS\n");
        return 2;
    }
    nreaders = (int)torture_num("ht_torture", argv[2], 1, MAXR);
    nwriters = (int)torture_num("ht_torture", argv[3], 1, MAXW);
    seconds = torture_num("ht_torture", argv[4], 1, 3600);
    lazy = mode == MODE_LAZY;
    smr = torture_create("ht_torture", mode, 16);
#if defined(HT_TORTURE_BROKEN_NO_GRACE)
    pool = smr_pool_create_args("ht_torture", &(struct smr_pool_args){
        .size = sizeof(struct tnode), .smr = NULL, .dtor = pool_dtor });
#else
    pool = smr_pool_create_args("ht_torture", &(struct smr_pool_args){
        .size = sizeof(struct tnode), .smr = smr, .dtor = pool_dtor });
#endif
    if (pool == NULL || (ht = smr_ht_create(smr, &args)) == NULL) {
        fprintf(stderr, "ht_torture: setup: %s\n", strerror(errno));
        return 2;
    }
    /* Every always-present key and half of the others. */
    for (uint64_t k = 0; k < NKEYS; k++) {
        if (k >= NSTABLE && (k & 2) != 0)
            continue;
        cur[k] = node_new(k, (k & 1) != 0);
        smr_ht_insert(ht, &cur[k]->hn, &cur[k]->key);
    }
    for (int i = 0; i < nwriters; i++)
        pthread_create(&wt[i], NULL, writer, (void *)(uintptr_t)i);
    for (int i = 0; i < nreaders; i++)
        pthread_create(&rt[i], NULL, reader, (void *)(uintptr_t)(i + 1));

    /* The main thread resizes. */
    t0 = now_ns();
    deadline = t0 + (uint64_t)seconds * 1000000000ull;
    hang_deadline = deadline + 30000000000ull;
    signal(SIGSEGV, on_fault);
    signal(SIGBUS, on_fault);
    signal(SIGABRT, on_fault);
    pthread_create(&wd, NULL, watchdog, NULL);
    for (unsigned i = 0; now_ns() < deadline &&
        atomic_load(&violations) == 0; i++) {
        int inside = (i & 3) == 3;
        int e;

        if (inside)
            sec_enter(smr, lazy);
        e = smr_ht_resize(ht, sizes[i % 8]);
        if (inside)
            sec_exit(smr, lazy);
        if (e != 0)
            violation("smr_ht_resize(%zu): %d", sizes[i % 8], e);
        atomic_fetch_add(&resizes, 1);
        usleep(1000);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < nwriters; i++)
        pthread_join(wt[i], NULL);
    for (int i = 0; i < nreaders; i++)
        pthread_join(rt[i], NULL);

    /* Exactly what the writers did. */
    for (uint64_t k = 0; k < NKEYS; k++) {
        struct smr_ht_node *n;
        sec_enter(smr, lazy);
        n = smr_ht_lookup(ht, &k);
        sec_exit(smr, lazy);
        if ((n ? TNODE(n) : NULL) != cur[k])
            bad_final++;
        count += cur[k] != NULL;
    }
    if (smr_ht_count(ht) != count)
        bad_final++;
    if (bad_final != 0)
        violation("the final contents differ from the writers' in %llu "
            "places", bad_final);
    smr_ht_stats(ht, &hs);
    smr_pool_stats(pool, &ps);
    printf("ht_torture: mode=%s readers=%d writers=%d seconds=%.2f "
        "lookups=%llu walks=%llu writer_ops=%llu resizes=%llu grows=%llu "
        "shrinks=%llu buckets=%zu nodes=%llu pool_reused=%llu "
        "missing=%llu violations=%llu\n", torture_mode_names[mode],
        nreaders, nwriters, (double)(now_ns() - t0) / 1e9,
        (unsigned long long)atomic_load(&lookups),
        (unsigned long long)atomic_load(&walks),
        (unsigned long long)atomic_load(&wops),
        (unsigned long long)atomic_load(&resizes),
        (unsigned long long)hs.grows, (unsigned long long)hs.shrinks,
        hs.buckets, count, (unsigned long long)ps.buckets_reused,
        (unsigned long long)atomic_load(&missing),
        (unsigned long long)atomic_load(&violations));
    fflush(stdout);
    /* A table that lost track of nodes cannot be taken apart safely. */
    if (atomic_load(&violations) != 0)
        _exit(1);

    for (uint64_t k = 0; k < NKEYS; k++) {
        if (cur[k] != NULL) {
            (void)smr_ht_delete(ht, &cur[k]->hn);
            node_free(cur[k]);
        }
    }
    if (smr_ht_destroy(ht) != 0) {
        fprintf(stderr, "ht_torture: smr_ht_destroy: table not empty\n");
        return 1;
    }
    smr_barrier(smr);
    smr_pool_destroy(pool);
    smr_destroy(smr);
    atomic_store(&finished, 1);
    pthread_join(wd, NULL);
    return 0;
}
