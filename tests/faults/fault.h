/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * Shared by the fault-injection programs in tests/faults/: plain main()
 * programs (no Criterion, so they run under TSan), each quick enough to
 * run a hundred times in a row (ctest --repeat until-fail:100 -R fault).
 *
 * A "churn" is one domain, a small array of SMR_POINTER slots and a
 * writer thread that keeps replacing objects: swap, smr_advance, wait (five
 * ways in turn), poison, and recycle after a delay, so a late reader finds
 * a poisoned or changed object.  Readers check objects with obj_check.
 */
#ifndef SMR_FAULT_H
#define SMR_FAULT_H

#include "../torture/torture.h"

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

#define CHURN_SLOTS 8
#define OBJ_PAYLOAD 4
#define OBJ_POISON  0xdeadbeefdeadbeefull
#define OBJ_LIVE(g) (0x5a17ab1e00000000ull ^ (uint64_t)(g))
#define CHURN_FREE_DELAY 16

struct obj {
    uint64_t stamp;                 /* OBJ_LIVE(gen) or OBJ_POISON */
    uint64_t gen;
    uint64_t payload[OBJ_PAYLOAD];  /* gen * (i + 1) */
    struct obj *next;               /* writer-private */
};

typedef SMR_POINTER(struct obj *) obj_ptr_t;

struct churn {
    smr_t smr;
    int mode;
    bool lazy;
    obj_ptr_t slot[CHURN_SLOTS];
    atomic_bool stop;
    atomic_bool started;
    atomic_ullong swaps;
    atomic_ullong failed_waits;
    pthread_t thr;
    /* writer-private */
    struct obj *dead, **dead_tail;
    unsigned ndead;
    uint64_t gen;
    unsigned long method;
};

static const char *fault_prog = "fault";
/* Called by each churn writer thread once it holds its slot. */
static void (*churn_thread_init)(void);
static atomic_ullong fault_violations;

#define FAULT_FAIL(...)                                                 \
    do {                                                                \
        fprintf(stderr, "%s: FAIL: ", fault_prog);                      \
        fprintf(stderr, __VA_ARGS__);                                   \
        fprintf(stderr, "\n");                                          \
        exit(1);                                                        \
    } while (0)

#define FAULT_CHECK(cond, ...)                                          \
    do {                                                                \
        if (!(cond))                                                    \
            FAULT_FAIL(__VA_ARGS__);                                    \
    } while (0)

static inline void
obj_init(struct obj *o, uint64_t gen)
{
    o->gen = gen;
    for (int i = 0; i < OBJ_PAYLOAD; i++)
        o->payload[i] = gen * (uint64_t)(i + 1);
    o->stamp = OBJ_LIVE(gen);
}

static inline void
obj_poison(struct obj *o)
{
    o->stamp = OBJ_POISON;
    o->gen = OBJ_POISON;
    for (int i = 0; i < OBJ_PAYLOAD; i++)
        o->payload[i] = OBJ_POISON;
}

/*
 * Check an object a reader holds: 0 if intact.  *gen gets its generation
 * (compare it with a later check to see that nothing changed under the
 * reader).  Async-signal-safe (no stdio): counts violations only.
 */
static inline unsigned
obj_check(const struct obj *o, uint64_t *gen)
{
    const volatile struct obj *v = o;
    uint64_t st, g;
    unsigned bad = 0;

    if (o == NULL) {
        atomic_fetch_add(&fault_violations, 1);
        return 1;
    }
    st = v->stamp;
    g = v->gen;
    if (st == OBJ_POISON || st != OBJ_LIVE(g))
        bad++;
    for (int i = 0; i < OBJ_PAYLOAD; i++)
        if (v->payload[i] != g * (uint64_t)(i + 1))
            bad++;
    if (gen != NULL) {
        if (*gen != 0 && *gen != g)
            bad++;
        *gen = g;
    }
    if (bad != 0)
        atomic_fetch_add(&fault_violations, 1);
    return bad;
}

/* Block every signal: a thread about to exit (its slots given back by the
 * TLS destructor) must not run a handler that enters a section. */
static inline void
churn_block_signals(void)
{
    sigset_t all;

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
}

static struct obj *
churn_obj_get(struct churn *c)
{
    struct obj *o = NULL;

    if (c->ndead > CHURN_FREE_DELAY) {
        o = c->dead;
        c->dead = o->next;
        if (c->dead == NULL)
            c->dead_tail = &c->dead;
        c->ndead--;
    }
    if (o == NULL && (o = malloc(sizeof(*o))) == NULL) {
        perror("malloc");
        exit(2);
    }
    obj_init(o, ++c->gen);
    return o;
}

static bool
churn_wait(struct churn *c, smr_seq_t goal)
{
    uint64_t dl;
    bool ok;

    switch (c->method++ % 5) {
    case 0:
        return smr_wait(c->smr, goal);
    case 1:
        return smr_poll(c->smr, goal, true);
    case 2:
        return smr_wait_timeout(c->smr, goal, 30ull * 1000000000ull);
    case 3:
        dl = now_ns() + 30ull * 1000000000ull;
        while (!(ok = smr_poll(c->smr, goal, false)) && now_ns() < dl)
            sched_yield();
        return ok;
    default:
        smr_synchronize(c->smr);
        return true;
    }
}

static void *
churn_main(void *arg)
{
    struct churn *c = arg;
    uint64_t x = (uintptr_t)c | 1;

    /* Take the slot now (signal handlers may enter on this thread; the
     * slot counts are checked against a baseline). */
    if (smr_thread_attach(c->smr) != 0)
        FAULT_FAIL("smr_thread_attach (writer)");
    if (churn_thread_init != NULL)
        churn_thread_init();
    atomic_store(&c->started, true);
    while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
        unsigned i = (unsigned)(rnd(&x) % CHURN_SLOTS);
        struct obj *o = churn_obj_get(c), *old;

        old = smr_serialized_swap(&c->slot[i], o, true);
        if (!churn_wait(c, smr_advance(c->smr))) {
            atomic_fetch_add(&c->failed_waits, 1);
            continue;           /* leak it rather than reuse it early */
        }
        obj_poison(old);
        old->next = NULL;
        *c->dead_tail = old;
        c->dead_tail = &old->next;
        c->ndead++;
        atomic_fetch_add_explicit(&c->swaps, 1, memory_order_relaxed);
    }
    churn_block_signals();
    return NULL;
}

/* Create the domain, fill the slots, start the writer (which holds its
 * slot on the domain when this returns). */
static inline void
churn_start(struct churn *c, const char *name, int mode)
{
    memset(c, 0, sizeof(*c));
    c->mode = mode;
    c->lazy = mode == MODE_LAZY;
    c->smr = torture_create(name, mode, 4);
    c->dead_tail = &c->dead;
    for (int i = 0; i < CHURN_SLOTS; i++)
        smr_serialized_store(&c->slot[i], churn_obj_get(c), true);
    if (pthread_create(&c->thr, NULL, churn_main, c) != 0)
        FAULT_FAIL("pthread_create (churn)");
    while (!atomic_load(&c->started))
        sched_yield();
}

/* Stop the writer and free everything; the domain stays (caller destroys). */
static inline void
churn_stop(struct churn *c)
{
    atomic_store(&c->stop, true);
    pthread_join(c->thr, NULL);
    for (int i = 0; i < CHURN_SLOTS; i++)
        free(smr_serialized_load(&c->slot[i], true));
    while (c->dead != NULL) {
        struct obj *o = c->dead;
        c->dead = o->next;
        free(o);
    }
    FAULT_CHECK(atomic_load(&c->failed_waits) == 0,
        "%s: %llu waits failed", torture_mode_names[c->mode],
        (unsigned long long)atomic_load(&c->failed_waits));
}

/*
 * One read section on a churn: load a random slot, check the object, call
 * hold() (if any) while inside, check again.  Returns the number of
 * problems.  Async-signal-safe when hold is NULL and the thread is
 * attached.
 */
static inline unsigned
churn_read(struct churn *c, uint64_t *x, void (*hold)(uint64_t r))
{
    uint64_t r = rnd(x), gen = 0;
    unsigned bad;
    struct obj *o;

    sec_enter(c->smr, c->lazy);
    o = smr_entered_load(&c->slot[r % CHURN_SLOTS], c->smr);
    bad = obj_check(o, &gen);
    if (hold != NULL)
        hold(r);
    if (o != NULL)
        bad += obj_check(o, &gen);
    sec_exit(c->smr, c->lazy);
    return bad;
}

/* Modes to run: argv[1] if given ("all" or a mode), else all three. */
static inline int
fault_modes(int argc, char **argv, int *modes)
{
    if (argc > 1 && strcmp(argv[1], "all") != 0) {
        int m = torture_parse_mode(argv[1]);

        if (m < 0) {
            fprintf(stderr, "usage: %s [all|default|deferred|lazy]\n",
                fault_prog);
            exit(2);
        }
        modes[0] = m;
        return 1;
    }
    for (int m = 0; m < 3; m++)
        modes[m] = m;
    return 3;
}

static inline void
sleep_ns(uint64_t ns)
{
    struct timespec ts = { (time_t)(ns / 1000000000u),
        (long)(ns % 1000000000u) };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

#endif /* SMR_FAULT_H */
