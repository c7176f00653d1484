/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * smr_torture: a stress test in the spirit of FreeBSD's tools/uma/smrstress.
 *
 *   smr_torture [mode [readers [writers [seconds]]]]
 *     mode     default | deferred | lazy          (default: default)
 *     readers  reader threads                     (default: 2)
 *     writers  writer threads                     (default: 1)
 *     seconds  run time                           (default: 3)
 *
 * A small array of SMR_POINTER slots points at objects.  Writers (each owns
 * the slots i with i % writers == its index, so every slot has a single
 * serialized writer) swap in fresh objects, smr_advance, queue the old
 * object with its goal, and once the goal is reached (smr_wait, smr_poll
 * with and without wait, smr_wait_timeout, in turn) poison the old object
 * and free or recycle it.  Readers enter sections, load slots and check
 * that the object is live: stamp matches its generation, the payload is
 * intact, and nothing changed while they looked.  Any mismatch is a
 * violation: the summary line reports them and the exit status is 1.
 *
 * Plain main, no test framework: it is meant to run under TSan and ASan
 * too (object fields are plain memory, so a use after reclaim is a race or
 * a use-after-free for the sanitizers, and a violation for the checks).
 */
#include <smr.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIN_SLOTS 16
#define PAYLOAD 6
#define POISON 0xdeadbeefdeadbeefull
#define LIVE(gen) (0x5a17ab1e00000000ull ^ (uint64_t)(gen))
#define MAX_PENDING 32

struct obj {
    uint64_t stamp;            /* LIVE(gen) while published or pending */
    uint64_t gen;
    uint64_t payload[PAYLOAD]; /* gen * (i + 1) */
    struct obj *next;          /* writer's free list */
};

typedef SMR_POINTER(struct obj *) obj_ptr_t;

static smr_t g_smr;
static bool g_lazy;
static unsigned g_nslots;
static obj_ptr_t *g_slots;
static atomic_bool g_stop;
static atomic_ullong g_sections, g_loads, g_swaps, g_reclaims,
    g_violations, g_failed_waits;

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t
rnd(uint64_t *x)
{
    /* xorshift64* */
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 2685821657736338717ull;
}

static void
obj_init(struct obj *o, uint64_t gen)
{
    o->gen = gen;
    for (int i = 0; i < PAYLOAD; i++)
        o->payload[i] = gen * (uint64_t)(i + 1);
    o->stamp = LIVE(gen);
}

static void
obj_poison(struct obj *o)
{
    o->stamp = POISON;
    o->gen = POISON;
    for (int i = 0; i < PAYLOAD; i++)
        o->payload[i] = POISON;
}

/* Reader check; returns the number of problems seen. */
static unsigned
obj_check(const struct obj *o, unsigned slot)
{
    const volatile struct obj *v = o;
    uint64_t st, gen;
    unsigned bad = 0;

    st = v->stamp;
    gen = v->gen;
    if (st == POISON || st != LIVE(gen))
        bad++;
    for (int i = 0; i < PAYLOAD; i++)
        if (v->payload[i] != gen * (uint64_t)(i + 1))
            bad++;
    /* Nothing may change while we look (poison or recycling): look again
     * a little later, which widens the window a missing fence leaves. */
    for (int i = 0; i < 32; i++)
        __asm__ __volatile__("" ::: "memory");
    if (v->stamp != st || v->gen != gen)
        bad++;
    if (bad != 0 && atomic_fetch_add(&g_violations, bad) < 10)
        fprintf(stderr, "smr_torture: violation: slot %u obj %p stamp "
            "%#" PRIx64 " gen %#" PRIx64 "\n", slot, (const void *)o, st, gen);
    return bad;
}

static void
sec_enter(void)
{
    if (g_lazy)
        smr_lazy_enter(g_smr);
    else
        smr_enter(g_smr);
}

static void
sec_exit(void)
{
    if (g_lazy)
        smr_lazy_exit(g_smr);
    else
        smr_exit(g_smr);
}

static void *
reader_main(void *arg)
{
    uint64_t x = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
    unsigned long long sections = 0, loads = 0;

    while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
        unsigned n = 1 + (unsigned)(rnd(&x) % 4);

        sec_enter();
        for (unsigned k = 0; k < n; k++) {
            unsigned i = (unsigned)(rnd(&x) % g_nslots);
            struct obj *o = smr_entered_load(&g_slots[i], g_smr);

            if (o == NULL) {
                atomic_fetch_add(&g_violations, 1);
                continue;
            }
            obj_check(o, i);
            loads++;
            if ((sections & 15) == 0) {
                /* Nested section: must not end the outer protection. */
                sec_enter();
                struct obj *o2 = smr_entered_load(&g_slots[i], g_smr);
                obj_check(o2, i);
                sec_exit();
                obj_check(o, i);
                loads++;
            }
        }
        sec_exit();
        sections++;
        if ((sections & 1023) == 0)
            sched_yield();
    }
    atomic_fetch_add(&g_sections, sections);
    atomic_fetch_add(&g_loads, loads);
    return NULL;
}

struct writer {
    unsigned idx, nwriters;
    struct obj *freel;
    struct {
        struct obj *o;
        smr_seq_t goal;
    } pend[MAX_PENDING];
    unsigned head, count, depth;
    unsigned long method;
    uint64_t gen;
};

static struct obj *
obj_get(struct writer *w)
{
    struct obj *o = w->freel;

    if (o != NULL) {
        w->freel = o->next;
    } else {
        o = malloc(sizeof(*o));
        if (o == NULL) {
            perror("smr_torture: malloc");
            exit(2);
        }
    }
    /* Generations are unique across writers. */
    obj_init(o, ((uint64_t)w->idx << 48) | ++w->gen);
    return o;
}

static void
reclaim_oldest(struct writer *w, bool draining)
{
    struct obj *o = w->pend[w->head].o;
    smr_seq_t goal = w->pend[w->head].goal;
    bool ok = false;

    switch (draining ? 0 : w->method++ % 4) {
    case 0:
        ok = smr_wait(g_smr, goal);
        break;
    case 1:
        ok = smr_poll(g_smr, goal, true);
        break;
    case 2:
        ok = smr_wait_timeout(g_smr, goal, 10ull * 1000000000ull);
        break;
    case 3: {
        uint64_t dl = now_ns() + 10ull * 1000000000ull;
        while (!(ok = smr_poll(g_smr, goal, false)) && now_ns() < dl)
            sched_yield();
        break;
    }
    }
    if (!ok) {
        /* Never reclaim without the grace period: leak it instead. */
        atomic_fetch_add(&g_failed_waits, 1);
        fprintf(stderr, "smr_torture: wait for goal %llu failed\n",
            (unsigned long long)goal);
    } else {
        obj_poison(o);
        if (w->gen & 1) {
            o->next = w->freel; /* recycled: a late reader sees new data */
            w->freel = o;
        } else {
            free(o);            /* freed: ASan sees a late reader */
        }
        atomic_fetch_add(&g_reclaims, 1);
    }
    w->head = (w->head + 1) % MAX_PENDING;
    w->count--;
}

static void *
writer_main(void *arg)
{
    struct writer *w = arg;
    uint64_t x = w->idx * 0x2545f4914f6cdd1dull + 7;
    unsigned long long swaps = 0;

    w->depth = 1;
    while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
        unsigned i = w->idx + w->nwriters *
            (unsigned)(rnd(&x) % ((g_nslots - w->idx + w->nwriters - 1) /
            w->nwriters));
        struct obj *n = obj_get(w);
        struct obj *old = smr_serialized_swap(&g_slots[i], n, true);

        /* Vary how many retired objects wait for their goals at once. */
        if ((swaps & 255) == 0)
            w->depth = 1 + (unsigned)(rnd(&x) % ((swaps & 256) ? 4 :
                MAX_PENDING));
        while (w->count >= w->depth)
            reclaim_oldest(w, false);
        w->pend[(w->head + w->count) % MAX_PENDING].o = old;
        w->pend[(w->head + w->count) % MAX_PENDING].goal = smr_advance(g_smr);
        w->count++;
        swaps++;
    }
    while (w->count > 0)
        reclaim_oldest(w, true);
    while (w->freel != NULL) {
        struct obj *o = w->freel;
        w->freel = o->next;
        free(o);
    }
    atomic_fetch_add(&g_swaps, swaps);
    return NULL;
}

static void
usage(void)
{
    fprintf(stderr, "usage: smr_torture [default|deferred|lazy "
        "[readers [writers [seconds]]]]\n");
    exit(2);
}

static long
arg_num(const char *s, long min, long max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        usage();
    return v;
}

int
main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "default";
    long nreaders = argc > 2 ? arg_num(argv[2], 1, 1024) : 2;
    long nwriters = argc > 3 ? arg_num(argv[3], 1, 1024) : 1;
    long seconds = argc > 4 ? arg_num(argv[4], 1, 86400) : 3;
    pthread_t *rt, *wt;
    struct writer *ws;
    uint64_t t0;
    double el;
    int flags, limit = 0;
    bool fail;

    if (argc > 5)
        usage();
    if (strcmp(mode, "default") == 0) {
        flags = 0;
    } else if (strcmp(mode, "deferred") == 0) {
        flags = SMR_DEFERRED;
        limit = 8;
    } else if (strcmp(mode, "lazy") == 0) {
        flags = SMR_LAZY;
        g_lazy = true;
    } else {
        usage();
    }
    g_smr = smr_create("torture", limit, flags);
    if (g_smr == NULL) {
        perror("smr_torture: smr_create");
        return 2;
    }
    g_nslots = (unsigned)(nwriters > MIN_SLOTS ? nwriters : MIN_SLOTS);
    g_slots = calloc(g_nslots, sizeof(*g_slots));
    rt = calloc((size_t)nreaders, sizeof(*rt));
    wt = calloc((size_t)nwriters, sizeof(*wt));
    ws = calloc((size_t)nwriters, sizeof(*ws));
    if (g_slots == NULL || rt == NULL || wt == NULL || ws == NULL) {
        perror("smr_torture: calloc");
        return 2;
    }
    for (long w = 0; w < nwriters; w++) {
        ws[w].idx = (unsigned)w;
        ws[w].nwriters = (unsigned)nwriters;
    }
    for (unsigned i = 0; i < g_nslots; i++)
        smr_serialized_store(&g_slots[i],
            obj_get(&ws[i % (unsigned)nwriters]), true);

    t0 = now_ns();
    for (long r = 0; r < nreaders; r++)
        if (pthread_create(&rt[r], NULL, reader_main, (void *)(uintptr_t)r)) {
            perror("smr_torture: pthread_create");
            return 2;
        }
    for (long w = 0; w < nwriters; w++)
        if (pthread_create(&wt[w], NULL, writer_main, &ws[w])) {
            perror("smr_torture: pthread_create");
            return 2;
        }
    sleep((unsigned)seconds);
    atomic_store(&g_stop, true);
    for (long w = 0; w < nwriters; w++)
        pthread_join(wt[w], NULL);
    for (long r = 0; r < nreaders; r++)
        pthread_join(rt[r], NULL);
    el = (double)(now_ns() - t0) / 1e9;

    for (unsigned i = 0; i < g_nslots; i++)
        free(smr_serialized_load(&g_slots[i], true));
    smr_destroy(g_smr);

    fail = atomic_load(&g_violations) != 0 ||
        atomic_load(&g_failed_waits) != 0 ||
        atomic_load(&g_sections) == 0 || atomic_load(&g_swaps) == 0 ||
        atomic_load(&g_reclaims) == 0;
    printf("smr_torture: mode=%s readers=%ld writers=%ld seconds=%.1f "
        "sections=%llu loads=%llu swaps=%llu reclaims=%llu "
        "failed_waits=%llu violations=%llu: %s\n",
        mode, nreaders, nwriters, el,
        (unsigned long long)atomic_load(&g_sections),
        (unsigned long long)atomic_load(&g_loads),
        (unsigned long long)atomic_load(&g_swaps),
        (unsigned long long)atomic_load(&g_reclaims),
        (unsigned long long)atomic_load(&g_failed_waits),
        (unsigned long long)atomic_load(&g_violations),
        fail ? "FAIL" : "PASS");
    free(g_slots);
    free(rt);
    free(wt);
    free(ws);
    return fail ? 1 : 0;
}
