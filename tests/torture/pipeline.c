/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * pipeline: an rcutorture-style grace-period pipeline test.
 *
 *   pipeline [mode [readers [writers [seconds]]]]
 *     mode     default | deferred | lazy                  (default)
 *     readers  reader threads                                   (2)
 *     writers  writer threads                                   (1)
 *     seconds  run time                                         (3)
 *
 * One shared SMR_POINTER names the current element.  Each element carries a
 * pipeline age (Linux rcutorture's rtort_pipe_count):
 *
 *     0            current: published, not yet replaced
 *     1            replaced (unlinked), no grace period completed since
 *     2 .. AGE_MAX-1  that many - 1 grace periods completed since unlink
 *     AGE_POISON   reclaimed: poisoned, then recycled or freed
 *
 * Writers swap in a fresh element (smr_serialized_swap: writers serialize on
 * the exchange itself), set the old one's age to 1 and append it to their
 * own pipeline.  Every grace period -- smr_advance + smr_wait, smr_poll
 * (wait or not), smr_wait_timeout, or smr_synchronize, in turn -- then
 * increments the age of every element in the writer's pipeline; an element
 * that reaches AGE_MAX is poisoned and leaves it.  Elements of age 2 and 3
 * stay intact on purpose, so that a reader that outlives a grace period
 * reads a precise age instead of reclaimed memory.
 *
 * Readers enter a section, load the pointer, read the age, spin (sometimes
 * yield) and read it again just before exit.  A correct grace period ends
 * only after every section that could have seen the element, so a reader
 * can see age 0 or 1, never more: any age > 1, a poisoned element, or a
 * generation or payload that changed under the reader is a violation.  The
 * summary prints the histogram of ages readers saw (at exit).
 *
 * The first violation prints a line starting "pipeline: VIOLATION" and
 * stops the run; the exit status is then 1.  Exit 2: usage or setup error.
 */
#include "torture.h"

#define AGE_MAX    4            /* poisoned when it gets here */
#define AGE_POISON 0xdead
#define HIST       (AGE_MAX + 1) /* 0 .. AGE_MAX-1, then "poisoned/other" */
#define PAYLOAD    4
#define FREE_DELAY 16           /* poisoned elements wait this long */

struct elem {
    atomic_uint age;            /* the pipeline age, see the top */
    uint32_t pad;
    uint64_t gen;               /* unique per element lifetime (plain) */
    uint64_t payload[PAYLOAD];  /* gen-derived (plain: sanitizers see races) */
    struct elem *next;          /* writer-private lists */
};

typedef SMR_POINTER(struct elem *) elem_ptr_t;

static smr_t g_smr;
static bool g_lazy;
static elem_ptr_t g_cur;
static atomic_bool g_stop;
static atomic_ullong g_hist[HIST];
static atomic_ullong g_violations, g_sections, g_gps, g_retired,
    g_reclaimed, g_failed_waits;
static uint64_t g_t0;
static atomic_ullong g_first_violation_ns;
static _Alignas(128) atomic_ullong g_noise;  /* see reader_main */

static void
elem_init(struct elem *e, uint64_t gen)
{
    e->gen = gen;
    for (int i = 0; i < PAYLOAD; i++)
        e->payload[i] = gen * (uint64_t)(2 * i + 3);
    atomic_store_explicit(&e->age, 0, memory_order_relaxed);
}

static void
elem_poison(struct elem *e)
{
    atomic_store_explicit(&e->age, AGE_POISON, memory_order_relaxed);
    e->gen = ~0ull;
    for (int i = 0; i < PAYLOAD; i++)
        e->payload[i] = 0xdeadbeefdeadbeefull;
}

static void
violation(const char *what, const struct elem *e, unsigned a1, unsigned a2,
    uint64_t g1, uint64_t g2)
{
    unsigned long long n = atomic_fetch_add(&g_violations, 1);

    if (n == 0) {
        atomic_store(&g_first_violation_ns, now_ns() - g_t0);
        printf("pipeline: VIOLATION: %s: element %p age at load %u, at exit "
            "%u, gen %#" PRIx64 " -> %#" PRIx64 "\n", what, (const void *)e,
            a1, a2, g1, g2);
        fflush(stdout);
    }
    atomic_store(&g_stop, true);
}

static void *
reader_main(void *arg)
{
    uint64_t x = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
    unsigned long long hist[HIST] = { 0 }, sections = 0;

    while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
        const volatile struct elem *v;
        struct elem *e;
        unsigned a1, a2, spin;
        uint64_t g1, g2, r = rnd(&x);
        bool bad = false;

        /*
         * A store to a line the writer keeps taking (g_noise): like a
         * reader that bumps a shared counter before it enters.  x86
         * commits stores in order, so the enter's publish waits behind
         * this one's cache miss, which widens the window a missing
         * store->load fence would leave open.
         */
        atomic_store_explicit(&g_noise, sections, memory_order_relaxed);
        sec_enter(g_smr, g_lazy);
        e = smr_entered_load(&g_cur, g_smr);
        v = e;
        a1 = atomic_load_explicit(&e->age, memory_order_relaxed);
        g1 = v->gen;
        for (int i = 0; i < PAYLOAD; i++)
            bad |= v->payload[i] != g1 * (uint64_t)(2 * i + 3);
        /* Hold the element a while: mostly short, sometimes long, now and
         * then descheduled, sometimes with a nested section. */
        spin = (unsigned)(r & 0xff) << ((r >> 8 & 3) == 0 ? 6 :
            (r >> 8 & 3) == 1 ? 4 : 0);
        if ((r >> 16 & 0x3ff) == 0)
            sched_yield();
        if ((r >> 26 & 7) == 0) {
            sec_enter(g_smr, g_lazy);
            (void)smr_entered_load(&g_cur, g_smr);
            sec_exit(g_smr, g_lazy);
        }
        spin_steps(spin);
        a2 = atomic_load_explicit(&e->age, memory_order_relaxed);
        g2 = v->gen;
        for (int i = 0; i < PAYLOAD; i++)
            bad |= v->payload[i] != g2 * (uint64_t)(2 * i + 3);
        sec_exit(g_smr, g_lazy);

        hist[a2 < AGE_MAX ? a2 : AGE_MAX]++;
        sections++;
        if (a1 > 1 || a2 > 1)
            violation(a2 == AGE_POISON || a1 == AGE_POISON ?
                "reader saw a reclaimed element" :
                "reader saw an element survive a grace period", e, a1, a2,
                g1, g2);
        else if (g1 != g2 || bad)
            violation("element changed under the reader", e, a1, a2, g1, g2);
    }
    for (int i = 0; i < HIST; i++)
        atomic_fetch_add(&g_hist[i], hist[i]);
    atomic_fetch_add(&g_sections, sections);
    return NULL;
}

struct writer {
    unsigned idx;
    uint64_t gen;
    struct elem *pipe, **pipe_tail;     /* retired, oldest first */
    struct elem *dead, **dead_tail;     /* poisoned, oldest first */
    unsigned ndead;
    unsigned long method;
};

static struct elem *
elem_get(struct writer *w)
{
    struct elem *e = NULL;

    /* Reuse a poisoned element only after FREE_DELAY more have joined it,
     * so poisoned memory stays poisoned a while for late readers to see. */
    if (w->ndead > FREE_DELAY) {
        e = w->dead;
        w->dead = e->next;
        if (w->dead == NULL)
            w->dead_tail = &w->dead;
        w->ndead--;
    }
    if (e == NULL && posix_memalign((void **)&e, 64, sizeof(*e)) != 0) {
        perror("pipeline: posix_memalign");
        exit(2);
    }
    elem_init(e, ((uint64_t)w->idx << 48) | ++w->gen);
    return e;
}

/* One grace period: true once every section that began before it ended. */
static bool
grace_period(struct writer *w)
{
    smr_seq_t goal;
    uint64_t dl;
    bool ok = false;

    switch (w->method++ % 5) {
    case 0:
        return smr_wait(g_smr, smr_advance(g_smr));
    case 1:
        return smr_poll(g_smr, smr_advance(g_smr), true);
    case 2:
        return smr_wait_timeout(g_smr, smr_advance(g_smr),
            30ull * 1000000000ull);
    case 3:
        goal = smr_advance(g_smr);
        dl = now_ns() + 30ull * 1000000000ull;
        while (!(ok = smr_poll(g_smr, goal, false)) && now_ns() < dl)
            sched_yield();
        return ok;
    default:
        smr_synchronize(g_smr);
        return true;
    }
}

static void
reclaim(struct writer *w, struct elem *e)
{
    bool really_free = TORTURE_ASAN && (e->gen & 1);

    elem_poison(e);
    atomic_fetch_add(&g_reclaimed, 1);
    if (really_free) {
        /* Under ASan half are really freed: a late reader is then a
         * use-after-free report as well as a violation. */
        free(e);
        return;
    }
    e->next = NULL;
    *w->dead_tail = e;
    w->dead_tail = &e->next;
    w->ndead++;
}

/* Every element in the pipeline ages by one; the oldest leave at AGE_MAX. */
static void
age_pipeline(struct writer *w)
{
    for (struct elem *e = w->pipe; e != NULL; e = e->next)
        atomic_store_explicit(&e->age,
            atomic_load_explicit(&e->age, memory_order_relaxed) + 1,
            memory_order_relaxed);
    while (w->pipe != NULL &&
        atomic_load_explicit(&w->pipe->age, memory_order_relaxed) >= AGE_MAX) {
        struct elem *e = w->pipe;

        w->pipe = e->next;
        if (w->pipe == NULL)
            w->pipe_tail = &w->pipe;
        reclaim(w, e);
    }
}

static void *
writer_main(void *arg)
{
    struct writer *w = arg;

    while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
        struct elem *n = elem_get(w), *old;

        atomic_store_explicit(&g_noise, w->gen, memory_order_relaxed);
        old = smr_serialized_swap(&g_cur, n, true);
        atomic_store_explicit(&old->age, 1, memory_order_relaxed);
        old->next = NULL;
        *w->pipe_tail = old;
        w->pipe_tail = &old->next;
        atomic_fetch_add(&g_retired, 1);

        if (!grace_period(w)) {
            /* Never age without a grace period: a failed wait is an error
             * of its own (it should not happen with a 30 s deadline). */
            atomic_fetch_add(&g_failed_waits, 1);
            fprintf(stderr, "pipeline: grace period wait failed\n");
            atomic_store(&g_stop, true);
            break;
        }
        atomic_fetch_add(&g_gps, 1);
        age_pipeline(w);
    }
    return NULL;
}

static void
free_list(struct elem *e)
{
    while (e != NULL) {
        struct elem *n = e->next;
        free(e);
        e = n;
    }
}

int
main(int argc, char **argv)
{
    int mode = argc > 1 ? torture_parse_mode(argv[1]) : MODE_DEFAULT;
    long nreaders = argc > 2 ? torture_num("pipeline", argv[2], 1, 1024) : 2;
    long nwriters = argc > 3 ? torture_num("pipeline", argv[3], 1, 1024) : 1;
    long seconds = argc > 4 ? torture_num("pipeline", argv[4], 1, 86400) : 3;
    struct writer *ws;
    pthread_t *rt, *wt;
    struct timespec ts;
    unsigned long long viol;
    uint64_t end;
    double el;
    bool fail;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 5 || mode < 0) {
        fprintf(stderr, "usage: pipeline [default|deferred|lazy [readers "
            "[writers [seconds]]]]\n");
        return 2;
    }
    g_lazy = mode == MODE_LAZY;
    g_smr = torture_create("pipeline", mode, 8);
    rt = calloc((size_t)nreaders, sizeof(*rt));
    wt = calloc((size_t)nwriters, sizeof(*wt));
    ws = calloc((size_t)nwriters, sizeof(*ws));
    if (rt == NULL || wt == NULL || ws == NULL) {
        perror("pipeline: calloc");
        return 2;
    }
    for (long i = 0; i < nwriters; i++) {
        ws[i].idx = (unsigned)i + 1;
        ws[i].pipe_tail = &ws[i].pipe;
        ws[i].dead_tail = &ws[i].dead;
    }
    smr_serialized_store(&g_cur, elem_get(&ws[0]), true);

    g_t0 = now_ns();
    for (long i = 0; i < nreaders; i++)
        if (pthread_create(&rt[i], NULL, reader_main, (void *)(uintptr_t)i)) {
            perror("pipeline: pthread_create");
            return 2;
        }
    for (long i = 0; i < nwriters; i++)
        if (pthread_create(&wt[i], NULL, writer_main, &ws[i])) {
            perror("pipeline: pthread_create");
            return 2;
        }
    end = g_t0 + (uint64_t)seconds * 1000000000ull;
    while (!atomic_load(&g_stop) && now_ns() < end) {
        ts.tv_sec = 0;
        ts.tv_nsec = 10 * 1000000;
        nanosleep(&ts, NULL);
    }
    atomic_store(&g_stop, true);
    for (long i = 0; i < nwriters; i++)
        pthread_join(wt[i], NULL);
    for (long i = 0; i < nreaders; i++)
        pthread_join(rt[i], NULL);
    el = (double)(now_ns() - g_t0) / 1e9;

    free(smr_serialized_load(&g_cur, true));
    for (long i = 0; i < nwriters; i++) {
        free_list(ws[i].pipe);
        free_list(ws[i].dead);
    }
    smr_destroy(g_smr);

    viol = atomic_load(&g_violations);
    fail = viol != 0 || atomic_load(&g_failed_waits) != 0 ||
        atomic_load(&g_sections) == 0 || atomic_load(&g_gps) == 0;
    printf("pipeline: mode=%s readers=%ld writers=%ld seconds=%.1f "
        "sections=%llu grace_periods=%llu retired=%llu reclaimed=%llu "
        "ages 0:%llu 1:%llu 2:%llu 3:%llu poisoned:%llu violations=%llu",
        torture_mode_names[mode], nreaders, nwriters, el,
        (unsigned long long)atomic_load(&g_sections),
        (unsigned long long)atomic_load(&g_gps),
        (unsigned long long)atomic_load(&g_retired),
        (unsigned long long)atomic_load(&g_reclaimed),
        (unsigned long long)atomic_load(&g_hist[0]),
        (unsigned long long)atomic_load(&g_hist[1]),
        (unsigned long long)atomic_load(&g_hist[2]),
        (unsigned long long)atomic_load(&g_hist[3]),
        (unsigned long long)atomic_load(&g_hist[4]), viol);
    if (viol != 0)
        printf(" first_violation_after=%.3fs",
            (double)atomic_load(&g_first_violation_ns) / 1e9);
    printf(": %s\n", fail ? "FAIL" : "PASS");
    free(rt);
    free(wt);
    free(ws);
    return fail ? 1 : 0;
}
