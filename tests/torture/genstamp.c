/*
 * genstamp: generation-stamp torture over the SMR pool and smr_retire
 * (plain main(), runs under TSan too).
 *
 * usage: genstamp MODE READERS WRITERS SECONDS [reclaimer]
 *        (MODE: default|deferred|lazy|static|static-lazy; the static
 *        modes run the readers' sections through smr_static_enter/exit on
 *        SMR_DEFINE_STATIC[_LAZY] domains)
 *
 * With "reclaimer" the domain's background reclaimer runs, and writers
 * pause for 2 ms every 2048 replacements, so that it takes their partial
 * free buckets and batches (src/pool.c pool_steal_locked) while they may
 * resume at any moment: the hand-off of a bucket the owner fills without
 * a lock, checked by TSan and by the stamps.
 *
 * A table of SMR_POINTER slots points at objects that carry a generation
 * stamp and a state word.  Writers replace objects: a new one (stamped
 * LIVE with a fresh generation) is swapped in and the old one goes back
 * through the pool (smr_pool_free; the pool's dtor marks it DEAD and bumps
 * its generation before reuse) or through smr_retire (the callback marks it
 * DEAD, then frees it).  Readers inside sections load a slot and check the
 * object is LIVE and keeps the same generation until their exit; anything
 * else means an object was reclaimed while a section could still see it.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <smr.h>

#define NSLOT 64
#define LIVE 0x4c495645u
#define DEAD 0xdeadbeefu

struct obj {
    uint32_t state;     /* atomic: LIVE or DEAD */
    uint32_t from_pool;
    uint64_t gen;       /* atomic */
};

static SMR_POINTER(struct obj *) slots[NSLOT];
static pthread_mutex_t slot_lock[NSLOT];
static smr_t smr;
static smr_pool_t pool;
static int lazy, stop, idle_writers;
static int kind;                /* 0 created, 1 static, 2 static lazy */
SMR_DEFINE_STATIC(gs_static);
SMR_DEFINE_STATIC_LAZY(gs_static_lazy);
static uint64_t gen_next = 1;
static uint64_t violations, sections, replaced;

static void
pool_dtor(void *p, void *arg)
{
    struct obj *o = p;

    (void)arg;
    __atomic_store_n(&o->state, DEAD, __ATOMIC_RELAXED);
    __atomic_fetch_add(&o->gen, 1ull << 40, __ATOMIC_RELAXED);
}

static void
retire_fn(void *p)
{
    struct obj *o = p;

    __atomic_store_n(&o->state, DEAD, __ATOMIC_RELAXED);
    __atomic_fetch_add(&o->gen, 1ull << 40, __ATOMIC_RELAXED);
    free(o);
}

static struct obj *
obj_new(int use_pool)
{
    struct obj *o = use_pool ? smr_pool_alloc(pool) : malloc(sizeof(*o));

    if (o == NULL)
        abort();
    o->from_pool = (uint32_t)use_pool;
    __atomic_store_n(&o->gen, __atomic_fetch_add(&gen_next, 1,
        __ATOMIC_RELAXED), __ATOMIC_RELAXED);
    __atomic_store_n(&o->state, LIVE, __ATOMIC_RELAXED);
    return o;
}

static void *
reader(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u + 1;
    uint64_t bad = 0, n = 0;

    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        unsigned i = (seed = seed * 1103515245u + 12345u) >> 16 & (NSLOT - 1);
        if (kind == 1)
            smr_static_enter(gs_static);
        else if (kind == 2)
            smr_static_enter(gs_static_lazy);
        else if (lazy)
            smr_lazy_enter(smr);
        else
            smr_enter(smr);
        struct obj *o = smr_entered_load(&slots[i], smr);
        uint64_t g = __atomic_load_n(&o->gen, __ATOMIC_RELAXED);
        if (__atomic_load_n(&o->state, __ATOMIC_RELAXED) != LIVE)
            bad++;
        for (int k = 0; k < 50; k++)        /* stay a little */
            __atomic_signal_fence(__ATOMIC_SEQ_CST);
        if (__atomic_load_n(&o->gen, __ATOMIC_RELAXED) != g ||
            __atomic_load_n(&o->state, __ATOMIC_RELAXED) != LIVE)
            bad++;
        if (kind == 1)
            smr_static_exit(gs_static);
        else if (kind == 2)
            smr_static_exit(gs_static_lazy);
        else if (lazy)
            smr_lazy_exit(smr);
        else
            smr_exit(smr);
        n++;
    }
    __atomic_fetch_add(&violations, bad, __ATOMIC_RELAXED);
    __atomic_fetch_add(&sections, n, __ATOMIC_RELAXED);
    return NULL;
}

static void *
writer(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 40503u + 7;
    uint64_t n = 0;

    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        unsigned i = (seed = seed * 1103515245u + 12345u) >> 16 & (NSLOT - 1);
        struct obj *nw = obj_new((int)(n & 1));
        pthread_mutex_lock(&slot_lock[i]);
        struct obj *old = smr_serialized_swap(&slots[i], nw, true);
        pthread_mutex_unlock(&slot_lock[i]);
        if (old->from_pool)
            smr_pool_free(pool, old);
        else
            smr_retire(smr, old, retire_fn);
        n++;
        if (idle_writers && (n & 2047) == 0) {
            struct timespec ts = { 0, 2000000 };

            nanosleep(&ts, NULL);
        }
    }
    __atomic_fetch_add(&replaced, n, __ATOMIC_RELAXED);
    return NULL;
}

int
main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "default";
    int nr = argc > 2 ? atoi(argv[2]) : 2, nw = argc > 3 ? atoi(argv[3]) : 1;
    double secs = argc > 4 ? atof(argv[4]) : 3;
    int flags;
    pthread_t th[64];
    struct smr_pool_args pa;
    struct timespec ts;

    if (strcmp(mode, "default") == 0)
        flags = 0;
    else if (strcmp(mode, "deferred") == 0)
        flags = SMR_DEFERRED;
    else if (strcmp(mode, "lazy") == 0)
        flags = SMR_LAZY;
    else if (strcmp(mode, "static") == 0)
        flags = 0, kind = 1;
    else if (strcmp(mode, "static-lazy") == 0)
        flags = SMR_LAZY, kind = 2;
    else
        flags = -1;
    idle_writers = argc > 5 && strcmp(argv[5], "reclaimer") == 0;
    if (flags < 0 || nr < 1 || nw < 1 || nr + nw > 64 || secs <= 0 ||
        (argc > 5 && !idle_writers)) {
        fprintf(stderr, "usage: genstamp default|deferred|lazy|static|"
            "static-lazy READERS WRITERS SECONDS [reclaimer]\n");
        return 2;
    }
    lazy = flags == SMR_LAZY;
    smr = kind == 1 ? smr_static(gs_static) :
        kind == 2 ? smr_static(gs_static_lazy) :
        smr_create("genstamp", 16, flags);
    memset(&pa, 0, sizeof(pa));
    pa.size = sizeof(struct obj);
    pa.smr = smr;
    pa.dtor = pool_dtor;
    pool = smr_pool_create_args("genstamp", &pa);
    if (smr == NULL || pool == NULL) {
        perror("genstamp: create");
        return 2;
    }
    if (idle_writers && smr_reclaimer_start(smr) != 0) {
        perror("genstamp: smr_reclaimer_start");
        return 2;
    }
    for (int i = 0; i < NSLOT; i++) {
        pthread_mutex_init(&slot_lock[i], NULL);
        smr_serialized_store(&slots[i], obj_new(i & 1), true);
    }
    for (int i = 0; i < nr; i++)
        pthread_create(&th[i], NULL, reader, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < nw; i++)
        pthread_create(&th[nr + i], NULL, writer, (void *)(uintptr_t)(i + 1));
    ts.tv_sec = (time_t)secs;
    ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < nr + nw; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < NSLOT; i++) {
        struct obj *o = smr_serialized_load(&slots[i], true);
        if (o->from_pool)
            smr_pool_free(pool, o);
        else
            smr_retire(smr, o, retire_fn);
    }
    smr_barrier(smr);
    if (idle_writers) {
        struct smr_pool_stats ps;

        smr_pool_stats(pool, &ps);
        printf("genstamp: the reclaimer took %llu idle partial buckets\n",
            (unsigned long long)ps.buckets_taken);
    }
    smr_pool_destroy(pool);
    if (kind == 0)
        smr_destroy(smr);       /* a static domain lives on */
    printf("genstamp: mode=%s readers=%d writers=%d seconds=%.1f%s "
        "sections=%llu replaced=%llu violations=%llu: %s\n", mode, nr, nw,
        secs, idle_writers ? " reclaimer" : "", (unsigned long long)sections, (unsigned long long)replaced,
        (unsigned long long)violations, violations ? "FAIL" : "PASS");
    return violations ? 1 : 0;
}
