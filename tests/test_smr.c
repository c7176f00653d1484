/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * libsmr core test suite (Criterion): domains, sections, goals, clocks,
 * slots, misuse, sequence wrap, stalled threads (test hooks) and fork.
 *
 * Every test runs in its own process (Criterion's default), so hooks and
 * globals never leak between tests.  Only the test's main thread calls
 * cr_assert*; helper threads record what they saw in atomics.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#ifndef SMR_TEST_HOOKS
#define SMR_TEST_HOOKS 1 /* SMR__HOOK_ENTER_LOADED in the inline smr_enter */
#endif
#include <smr.h>

#include "test_util.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/*
 * Non-blocking polls until the goal is reached or ms pass.  Lazy goals lie
 * in the future when handed out, so "reached" is checked with a bounded
 * loop rather than a single poll.
 */
static bool
poll_until(smr_t s, smr_seq_t goal, unsigned ms)
{
    uint64_t dl = now_ns() + ms * MS;

    for (;;) {
        if (smr_poll(s, goal, false))
            return true;
        if (now_ns() > dl)
            return false;
        usleep(100);
    }
}


/* ------------------------------------------------------------------ */
/* API basics and bad input (SPEC §1, §4)                              */
/* ------------------------------------------------------------------ */

Test(api, version, .timeout = 30)
{
    cr_assert(smr_version() == SMR_VERSION, "smr_version() %d != SMR_VERSION %d",
        smr_version(), SMR_VERSION);
    cr_assert(SMR_VERSION > 0);
}

Test(api, seq_type_matches_config, .timeout = 30)
{
#if SMR_SEQ32
    cr_assert(sizeof(smr_seq_t) == 4 && sizeof(smr_delta_t) == 4);
#else
    cr_assert(sizeof(smr_seq_t) == 8 && sizeof(smr_delta_t) == 8);
#endif
#if SMR_CONFIG_FORCE_SEQ32
    cr_assert(SMR_SEQ32 == 1, "SMR_SEQ32=ON must force 32-bit sequences");
#endif
    cr_assert((smr_seq_t)-1 > 0, "smr_seq_t must be unsigned");
    cr_assert((smr_delta_t)-1 < 0, "smr_delta_t must be signed");
}

static void
expect_einval(int limit, int flags)
{
    smr_t s;

    errno = 0;
    s = smr_create("bad", limit, flags);
    cr_assert(s == NULL, "smr_create(limit %d, flags %#x) succeeded", limit,
        (unsigned)flags);
    cr_assert(errno == EINVAL, "smr_create(limit %d, flags %#x): errno %d, "
        "want EINVAL", limit, (unsigned)flags, errno);
}

Test(api, create_bad_input, .timeout = 30)
{
    expect_einval(0, 0x4);
    expect_einval(0, 0x80);
    expect_einval(0, SMR__F_LAZY_FAST); /* internal flag, not for users */
    expect_einval(0, (int)0x80000000u);
    expect_einval(0, ~0);
    expect_einval(0, SMR_LAZY | SMR_DEFERRED);
    expect_einval(4, SMR_LAZY | SMR_DEFERRED);
    expect_einval(-1, 0);
    expect_einval(-1, SMR_DEFERRED);
    expect_einval(-100, SMR_LAZY);
    expect_einval((int)0x80000000u, 0);
}

Test(api, create_good_input, .timeout = 30)
{
    int fl[] = { 0, SMR_DEFERRED, SMR_LAZY };
    int lim[] = { 0, 1, 7, 1000 };

    for (size_t i = 0; i < 3; i++) {
        for (size_t j = 0; j < 4; j++) {
            if ((fl[i] & SMR_DEFERRED) && lim[j] == 0)
                continue; /* a deferred domain needs a limit */
            errno = 0;
            smr_t s = smr_create("good", lim[j], fl[i]);
            cr_assert(s != NULL, "smr_create(limit %d, %s): errno %d",
                lim[j], flags_name(fl[i]), errno);
            cr_assert_str_eq(smr_name(s), "good");
            if (!(fl[i] & SMR_LAZY))
                cr_assert(!smr_lazy_is_fence_free(s),
                    "non-lazy domain claims fence-free readers");
            smr_enter(s);
            smr_exit(s);
            smr_synchronize(s);
            smr_destroy(s);
        }
    }
}

/* smr(3): the name is cut to 47 bytes without notice; NULL reads "smr". */
Test(api, name_cut_and_default, .timeout = 30)
{
    char longname[64];
    smr_t s, n;

    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    s = mk(longname, 0);
    n = smr_create(NULL, 0, 0);
    cr_assert(n != NULL);
    cr_assert_eq(strlen(smr_name(s)), 47, "name kept as %zu bytes",
        strlen(smr_name(s)));
    cr_assert(strncmp(smr_name(s), longname, 47) == 0);
    cr_assert_str_eq(smr_name(n), "smr");
    smr_destroy(s);
    smr_destroy(n);
}

/*
 * Goals come after the clock that earlier readers could have published, and
 * a domain with no reader reaches them.  Stats count calls exactly.
 */
ALL_FLAGS(api, advance_basics)
ParameterizedTest(int *flags, api, advance_basics, .timeout = 30)
{
    smr_t s = mk("basics", *flags);
    struct smr_stats st;

    for (int i = 0; i < 10; i++) {
        smr_seq_t c = smr_current(s);
        smr_seq_t g = smr_advance(s);

        cr_assert(g != SMR_SEQ_INVALID, "goal is SMR_SEQ_INVALID");
        cr_assert(SMR_SEQ_GT(g, c), "%s: goal %llu not after clock %llu",
            flags_name(*flags), (ull)g, (ull)c);
        cr_assert(smr_wait(s, g), "smr_wait on an idle domain failed");
        cr_assert(smr_poll(s, g, false), "goal not reached after smr_wait");
        cr_assert(SMR_SEQ_GEQ(smr_current(s), g),
            "clock %llu behind a reached goal %llu", (ull)smr_current(s),
            (ull)g);
    }
    memset(&st, 0xff, sizeof(st));
    smr_stats(s, &st);
    cr_assert(st.advance == 10, "stats.advance %llu, want 10",
        (ull)st.advance);
    cr_assert(st.poll >= 20, "stats.poll %llu, want >= 20", (ull)st.poll);
    /* Writers may hold one slot (per-thread counters, deferred count). */
    cr_assert(st.live_slots <= 1, "one thread, no section: live_slots %llu",
        (ull)st.live_slots);
    if (smr_lazy_is_fence_free(s))
        cr_assert(st.barriers > 0, "fence-free lazy domain reached goals "
            "without an asymmetric barrier");
    smr_destroy(s);
}

/* ------------------------------------------------------------------ */
/* Goals and read sections                                             */
/* ------------------------------------------------------------------ */

ALL_FLAGS(goal, blocked_by_earlier_reader)
ParameterizedTest(int *flags, goal, blocked_by_earlier_reader, .timeout = 30)
{
    smr_t s = mk("goal", *flags);
    struct held h;
    smr_seq_t goal;
    uint64_t t0, dt;

    held_start(&h, s, *flags, 0);
    goal = smr_advance(s);
    t0 = now_ns();
    for (int i = 0; i < 100; i++)
        cr_assert(!smr_poll(s, goal, false),
            "%s: goal reached while an earlier reader is inside (poll %d)",
            flags_name(*flags), i);
    dt = now_ns() - t0;
    /* wait=false never blocks: it returned while the reader stayed in. */
    cr_assert(atomic_load(&h.leaving) == 0,
        "smr_poll(wait=false) blocked until the reader left");
    cr_assert(dt < 2000 * MS, "100 non-blocking polls took %llu ms",
        (ull)(dt / MS));
    /* Later goals are blocked too. */
    smr_seq_t goal2 = smr_advance(s);
    cr_assert(!smr_poll(s, goal2, false), "later goal reached");
    cr_assert(!smr_wait_timeout(s, goal, 20 * MS), "wait_timeout succeeded");
    cr_assert(atomic_load(&h.leaving) == 0);

    held_stop(&h);
    cr_assert(smr_wait(s, goal), "smr_wait failed after the reader left");
    cr_assert(smr_poll(s, goal, false), "poll after wait");
    cr_assert(poll_until(s, goal2, 5000), "later goal never reached");
    cr_assert(smr_poll(s, goal, false), "reached goal became unreached");
    smr_destroy(s);
}

/* A section that starts after the advance does not hold the goal back. */
Test(goal, later_reader_does_not_block, .timeout = 30)
{
    smr_t s = mk("later", 0);
    struct held early, late;
    smr_seq_t goal;

    goal = smr_advance(s);
    held_start(&late, s, 0, 0);
    cr_assert(smr_poll(s, goal, false),
        "goal blocked by a section that started after the advance");
    cr_assert(smr_wait(s, goal));
    cr_assert(atomic_load(&late.leaving) == 0);

    /* Overlapping readers: early blocks, late does not. */
    held_start(&early, s, 0, 0);
    goal = smr_advance(s);
    held_stop(&late);
    held_start(&late, s, 0, 0);
    cr_assert(!smr_poll(s, goal, false));
    held_stop(&early);
    cr_assert(smr_poll(s, goal, false),
        "goal blocked by a later reader after the early one left");
    cr_assert(smr_wait(s, goal));
    cr_assert(atomic_load(&late.leaving) == 0);
    held_stop(&late);
    smr_destroy(s);
}

/* A section on one domain does not delay another domain. */
ALL_FLAGS(goal, domains_independent)
ParameterizedTest(int *flags, goal, domains_independent, .timeout = 30)
{
    smr_t a = mk("dom-a", *flags);
    smr_t b = mk("dom-b", *flags);
    struct held h;
    smr_seq_t ga, gb;

    held_start(&h, a, *flags, 0);
    ga = smr_advance(a);
    gb = smr_advance(b);
    cr_assert(smr_wait_timeout(b, gb, 5000 * MS),
        "goal on b delayed by a reader on a");
    cr_assert(atomic_load(&h.leaving) == 0);
    cr_assert(!smr_poll(a, ga, false));
    /* And our own section on b does not block a... but the reader does. */
    sec_enter(b, *flags);
    cr_assert(!smr_entered(a));
    cr_assert(smr_entered(b));
    cr_assert(!smr_poll(a, ga, false));
    sec_exit(b, *flags);
    held_stop(&h);
    cr_assert(smr_wait(a, ga));
    smr_destroy(a);
    smr_destroy(b);
}

/* ------------------------------------------------------------------ */
/* Nesting                                                             */
/* ------------------------------------------------------------------ */

ALL_FLAGS(nest, entered_tracks_depth)
ParameterizedTest(int *flags, nest, entered_tracks_depth, .timeout = 30)
{
    smr_t s = mk("nest", *flags);
    smr_t o = mk("other", *flags);

    cr_assert(!smr_entered(s));
    sec_enter(s, *flags);
    cr_assert(smr_entered(s));
    cr_assert(!smr_entered(o));
    sec_enter(s, *flags);
    cr_assert(smr_entered(s));
    sec_enter(s, *flags);
    sec_exit(s, *flags);
    cr_assert(smr_entered(s));
    sec_exit(s, *flags);
    cr_assert(smr_entered(s), "inner exit ended the outer section");
    /* Mixed kinds nest too (a lazy section inside a fenced one). */
    smr_lazy_enter(s);
    cr_assert(smr_entered(s));
    smr_lazy_exit(s);
    cr_assert(smr_entered(s));
    sec_exit(s, *flags);
    cr_assert(!smr_entered(s), "still entered after the outer exit");
    cr_assert(!smr_entered(o));

    /* Interleaved sections on two domains. */
    smr_enter(s);
    smr_enter(o);
    smr_exit(s);
    cr_assert(!smr_entered(s));
    cr_assert(smr_entered(o));
    smr_exit(o);
    cr_assert(!smr_entered(o));
    smr_destroy(s);
    smr_destroy(o);
}

struct nest_ctl {
    smr_t s;
    int flags;
    atomic_int step;
};

static void *
nest_reader(void *arg)
{
    struct nest_ctl *c = arg;

    sec_enter(c->s, c->flags);              /* outer */
    atomic_store(&c->step, 1);
    if (!wait_flag(&c->step, 2, 10000))
        goto out;
    sec_enter(c->s, c->flags);              /* inner, after the advance */
    atomic_store(&c->step, 3);
    if (!wait_flag(&c->step, 4, 10000))
        goto out;
    sec_exit(c->s, c->flags);               /* inner exit */
    atomic_store(&c->step, 5);
    wait_flag(&c->step, 6, 10000);
out:
    sec_exit(c->s, c->flags);               /* outer exit */
    atomic_store(&c->step, 7);
    return NULL;
}

/*
 * An inner enter must not publish the (newer) clock: a goal advanced
 * between the outer and the inner enter stays unreached until the outer
 * exit, and the inner exit must not clear the slot.
 */
ALL_FLAGS(nest, inner_does_not_republish)
ParameterizedTest(int *flags, nest, inner_does_not_republish, .timeout = 30)
{
    struct nest_ctl c = { .s = mk("nest2", *flags), .flags = *flags };
    pthread_t t;
    smr_seq_t goal;
    uint64_t dl;

    cr_assert(pthread_create(&t, NULL, nest_reader, &c) == 0);
    cr_assert(wait_flag(&c.step, 1, 5000));
    goal = smr_advance(c.s);
    /*
     * Let the clock itself reach the goal (deferred and lazy goals lie
     * ahead of it; polls push it), so that a republishing inner enter would
     * publish a value at or past the goal and the poll below would see it.
     */
    dl = now_ns() + 5000 * MS;
    while (!SMR_SEQ_GEQ(smr_current(c.s), goal) && now_ns() < dl) {
        cr_assert(!smr_poll(c.s, goal, false), "goal reached, reader inside");
        usleep(1000);
    }
    cr_assert(SMR_SEQ_GEQ(smr_current(c.s), goal),
        "%s: clock %llu never reached a handed-out goal %llu",
        flags_name(*flags), (ull)smr_current(c.s), (ull)goal);
    atomic_store(&c.step, 2);
    cr_assert(wait_flag(&c.step, 3, 5000));
    cr_assert(!smr_poll(c.s, goal, false),
        "inner enter republished a newer sequence");
    atomic_store(&c.step, 4);
    cr_assert(wait_flag(&c.step, 5, 5000));
    cr_assert(!smr_poll(c.s, goal, false),
        "inner exit cleared the outer section's slot");
    cr_assert(!smr_wait_timeout(c.s, goal, 10 * MS));
    atomic_store(&c.step, 6);
    cr_assert(wait_flag(&c.step, 7, 5000));
    cr_assert(pthread_join(t, NULL) == 0);
    cr_assert(smr_wait(c.s, goal), "goal not reached after the outer exit");
    smr_destroy(c.s);
}

/* ------------------------------------------------------------------ */
/* Many readers, one writer: swap, advance, wait, poison               */
/* ------------------------------------------------------------------ */

#define OBJ_POISON 0xdeadbeefdeadbeefull
#define OBJ_LIVE(gen) (0x5157a3d000000000ull ^ (uint64_t)(gen))

struct pobj {
    _Atomic uint64_t stamp; /* OBJ_LIVE(gen) or OBJ_POISON */
    _Atomic uint64_t gen;
    struct pobj *next;      /* writer's free list */
};

struct stress {
    smr_t s;
    int flags;
    SMR_POINTER(struct pobj *) ptr;
    atomic_int stop;
    atomic_ullong sections;
    atomic_ullong violations;
    atomic_ullong swaps;
};

/* Reader-side check: live stamp matching a stable generation. */
static unsigned
pobj_check(struct pobj *p)
{
    uint64_t st, gen;
    unsigned bad = 0;

    if (p == NULL)
        return 1;
    st = atomic_load_explicit(&p->stamp, memory_order_relaxed);
    gen = atomic_load_explicit(&p->gen, memory_order_relaxed);
    if (st == OBJ_POISON || st != OBJ_LIVE(gen))
        bad++;
    for (int i = 0; i < 32; i++)
        __asm__ __volatile__("" ::: "memory");
    /* Still the same live object (not poisoned or recycled meanwhile). */
    if (atomic_load_explicit(&p->stamp, memory_order_relaxed) != st ||
        atomic_load_explicit(&p->gen, memory_order_relaxed) != gen)
        bad++;
    return bad;
}

static void *
stress_reader(void *arg)
{
    struct stress *x = arg;
    unsigned long long n = 0, bad = 0;

    while (!atomic_load_explicit(&x->stop, memory_order_relaxed)) {
        sec_enter(x->s, x->flags);
        bad += pobj_check(smr_entered_load(&x->ptr, x->s));
        if ((n & 7) == 0) {
            /* A nested section must keep protecting the outer one. */
            struct pobj *p = smr_entered_load(&x->ptr, x->s);
            sec_enter(x->s, x->flags);
            bad += pobj_check(smr_entered_load(&x->ptr, x->s));
            sec_exit(x->s, x->flags);
            bad += pobj_check(p);
        }
        sec_exit(x->s, x->flags);
        n++;
    }
    atomic_fetch_add(&x->sections, n);
    atomic_fetch_add(&x->violations, bad);
    return NULL;
}

static struct pobj *
pobj_get(struct pobj **freel, uint64_t gen)
{
    struct pobj *p = *freel;

    if (p != NULL)
        *freel = p->next;
    else
        p = calloc(1, sizeof(*p));
    cr_assert(p != NULL);
    atomic_store_explicit(&p->gen, gen, memory_order_relaxed);
    atomic_store_explicit(&p->stamp, OBJ_LIVE(gen), memory_order_relaxed);
    return p;
}

static void
stress_run(int flags, int nreaders, unsigned ms, unsigned long max_swaps)
{
    struct stress x;
    pthread_t rd[16];
    struct pobj *freel = NULL, *pend[4] = { 0 };
    smr_seq_t pgoal[4] = { 0 };
    uint64_t gen = 1, dl;
    unsigned long i;

    memset(&x, 0, sizeof(x));
    x.s = mk("stress", flags);
    x.flags = flags;
    smr_serialized_store(&x.ptr, pobj_get(&freel, gen++), true);
    for (int r = 0; r < nreaders; r++)
        cr_assert(pthread_create(&rd[r], NULL, stress_reader, &x) == 0);

    dl = now_ns() + ms * MS;
    for (i = 0; i < max_swaps && now_ns() < dl; i++) {
        struct pobj *n = pobj_get(&freel, gen++);
        struct pobj *old = smr_serialized_swap(&x.ptr, n, true);
        unsigned k = i % 4;

        /* Reclaim the object retired 4 swaps ago, then queue this one. */
        if (pend[k] != NULL) {
            bool ok;
            switch ((i / 4) % 4) {
            case 0: ok = smr_wait(x.s, pgoal[k]); break;
            case 1: ok = smr_poll(x.s, pgoal[k], true); break;
            case 2: ok = smr_wait_timeout(x.s, pgoal[k], 5000 * MS); break;
            default: ok = poll_until(x.s, pgoal[k], 5000); break;
            }
            cr_assert(ok, "wait for goal %llu failed", (ull)pgoal[k]);
            atomic_store_explicit(&pend[k]->stamp, OBJ_POISON,
                memory_order_relaxed);
            atomic_store_explicit(&pend[k]->gen, 0, memory_order_relaxed);
            pend[k]->next = freel; /* recycled: a late reader sees it */
            freel = pend[k];
        }
        pend[k] = old;
        pgoal[k] = smr_advance(x.s);
        atomic_fetch_add(&x.swaps, 1);
    }
    atomic_store(&x.stop, 1);
    for (int r = 0; r < nreaders; r++)
        cr_assert(pthread_join(rd[r], NULL) == 0);
    cr_log_info("stress %s: %d readers, %llu sections, %llu swaps, "
        "%llu violations", flags_name(flags), nreaders,
        (ull)atomic_load(&x.sections), (ull)atomic_load(&x.swaps),
        (ull)atomic_load(&x.violations));
    cr_assert(atomic_load(&x.violations) == 0,
        "%s: %llu readers saw a poisoned or recycled object",
        flags_name(flags), (ull)atomic_load(&x.violations));
    cr_assert(atomic_load(&x.sections) > 0, "readers made no progress");
    /* 8 busy readers on 2 cores: readers preempted mid-section make a
     * grace period cost about a scheduler round, so expect tens, not
     * thousands; a stuck writer fails the waits above instead. */
    cr_assert(atomic_load(&x.swaps) >= 8, "writer made no progress: %llu",
        (ull)atomic_load(&x.swaps));
    for (int k = 0; k < 4; k++)
        free(pend[k]);
    free(smr_serialized_load(&x.ptr, true));
    while (freel != NULL) {
        struct pobj *n = freel->next;
        free(freel);
        freel = n;
    }
    smr_destroy(x.s);
}

ALL_FLAGS(stress, readers_writer_poison)
ParameterizedTest(int *flags, stress, readers_writer_poison, .timeout = 30)
{
    stress_run(*flags, 8, 2000, 200000);
}

/* ------------------------------------------------------------------ */
/* Slots: recycling, attach/detach, lifecycles                          */
/* ------------------------------------------------------------------ */

static void *
enter_exit_once(void *arg)
{
    smr_t s = arg;

    smr_enter(s);
    smr_exit(s);
    return NULL;
}

/*
 * Nesting past what the word counts inline (254 levels; the rest is counted
 * out of line): the section stays one section, with the outer sequence,
 * until the last exit, on a fast-table domain and on one past the table.
 */
static void
deep_nest(smr_t s, int flags)
{
    enum { DEEP = 1000 };
    smr_seq_t g;

    sec_enter(s, flags);
    g = smr_advance(s);
    for (int i = 1; i < DEEP; i++)
        sec_enter(s, flags);
    cr_assert(smr_entered(s));
    for (int i = DEEP; i > 1; i--) {
        if (i == 300 || i == 256 || i == 255 || i == 254 || i == 2) {
            cr_assert(smr_entered(s), "%s: left at depth %d",
                flags_name(flags), i);
            cr_assert(!smr_poll(s, g, false),
                "%s: goal reached at depth %d", flags_name(flags), i);
        }
        sec_exit(s, flags);
    }
    cr_assert(smr_entered(s), "%s: the outer section ended early",
        flags_name(flags));
    cr_assert(!smr_poll(s, g, false), "%s: goal reached at depth 1",
        flags_name(flags));
    sec_exit(s, flags);
    cr_assert(!smr_entered(s), "%s: still entered", flags_name(flags));
    cr_assert(smr_wait_timeout(s, g, 5000 * MS));
}

ALL_FLAGS(nest, deeper_than_the_word)
ParameterizedTest(int *flags, nest, deeper_than_the_word, .timeout = 30)
{
    smr_t d[SMR__TFAST];

    for (int i = 0; i < SMR__TFAST; i++)
        d[i] = mk("deep", *flags);
    cr_assert(((struct smr__domain_hot *)d[0])->d_idx < SMR__TFAST - 1);
    cr_assert(((struct smr__domain_hot *)d[SMR__TFAST - 1])->d_idx >=
        SMR__TFAST - 1);
    deep_nest(d[0], *flags);
    deep_nest(d[SMR__TFAST - 1], *flags);
    for (int i = 0; i < SMR__TFAST; i++)
        smr_destroy(d[i]);
}

/*
 * An exited thread's table goes to the next thread (white box: tables are
 * never freed, so pollers can follow a stale slot pointer).  The next
 * thread's sections must be seen through its new slot: a goal stays
 * unreached while it is inside.
 */
struct handon_ctl {
    smr_t s;
    int flags;
    struct smr__thread_hot *table;
    atomic_int step;
};

static void *
handon_first(void *arg)
{
    struct handon_ctl *c = arg;

    sec_enter(c->s, c->flags);
    sec_exit(c->s, c->flags);
    c->table = smr__self;
    return NULL;
}

static void *
handon_second(void *arg)
{
    struct handon_ctl *c = arg;
    uint32_t idx = ((struct smr__domain_hot *)c->s)->d_idx;

    sec_enter(c->s, c->flags);
    if (smr__self != c->table || SMR__W_SEQ(smr__self->ent[idx].t_word) == 0)
        atomic_store(&c->step, -1);
    else
        atomic_store(&c->step, 1);
    wait_flag(&c->step, 2, 10000);
    sec_exit(c->s, c->flags);
    atomic_store(&c->step, 3);
    return NULL;
}

ALL_FLAGS(slots, table_handed_on)
ParameterizedTest(int *flags, slots, table_handed_on, .timeout = 30)
{
    struct handon_ctl c = { .s = mk("handon", *flags), .flags = *flags };
    pthread_t t;
    smr_seq_t g;

    cr_assert(pthread_create(&t, NULL, handon_first, &c) == 0);
    cr_assert(pthread_join(t, NULL) == 0);
    cr_assert(c.table != NULL);
    cr_assert(pthread_create(&t, NULL, handon_second, &c) == 0);
    cr_assert(wait_flag(&c.step, 1, 5000) || atomic_load(&c.step) == -1);
    cr_assert(atomic_load(&c.step) == 1,
        "the next thread did not get the exited thread's table, or its word "
        "is not published there");
    g = smr_advance(c.s);
    cr_assert(!smr_wait_timeout(c.s, g, 20 * MS),
        "%s: goal reached with the reader inside", flags_name(*flags));
    atomic_store(&c.step, 2);
    cr_assert(wait_flag(&c.step, 3, 5000));
    cr_assert(smr_wait_timeout(c.s, g, 5000 * MS));
    cr_assert(pthread_join(t, NULL) == 0);
    smr_destroy(c.s);
}

ALL_FLAGS(slots, thread_exit_releases)
ParameterizedTest(int *flags, slots, thread_exit_releases, .timeout = 30)
{
    smr_t s = mk("recycle", *flags);
    struct smr_stats st0, st;
    pthread_t t[4];

    smr_stats(s, &st0);
    for (int i = 0; i < 1000; i += 4) {
        for (int j = 0; j < 4; j++)
            cr_assert(pthread_create(&t[j], NULL, enter_exit_once, s) == 0);
        for (int j = 0; j < 4; j++)
            cr_assert(pthread_join(t[j], NULL) == 0);
    }
    smr_stats(s, &st);
    cr_assert(st.live_slots == st0.live_slots,
        "live_slots %llu after 1000 exited threads, was %llu",
        (ull)st.live_slots, (ull)st0.live_slots);
    cr_assert(st.slot_capacity <= 128,
        "slots not recycled: capacity %llu after 1000 threads, <= 4 at once",
        (ull)st.slot_capacity);
    cr_assert(st.slot_capacity >= 1);
    /* The domain still works, and no dead thread holds a goal back. */
    smr_seq_t g = smr_advance(s);
    cr_assert(smr_wait_timeout(s, g, 5000 * MS));
    smr_destroy(s);
}

static void *
attach_thread(void *arg)
{
    smr_t s = arg;
    intptr_t rc = smr_thread_attach(s);

    return (void *)rc;
}

Test(slots, attach_detach, .timeout = 30)
{
    smr_t s = mk("attach", 0);
    struct smr_stats st;
    pthread_t t;
    void *rc;

    smr_stats(s, &st);
    cr_assert(st.live_slots == 0);
    cr_assert(smr_thread_attach(s) == 0);
    smr_stats(s, &st);
    cr_assert(st.live_slots == 1, "attach: live_slots %llu, want 1",
        (ull)st.live_slots);
    cr_assert(smr_thread_attach(s) == 0, "second attach failed");
    smr_stats(s, &st);
    cr_assert(st.live_slots == 1, "second attach took another slot");
    smr_enter(s);
    smr_exit(s);
    smr_stats(s, &st);
    cr_assert(st.live_slots == 1, "enter after attach took another slot");
    smr_thread_detach(s);
    smr_stats(s, &st);
    cr_assert(st.live_slots == 0, "detach: live_slots %llu, want 0",
        (ull)st.live_slots);
    smr_thread_detach(s); /* detaching twice is harmless */
    smr_stats(s, &st);
    cr_assert(st.live_slots == 0);
    /* A detached thread gets a slot again at its next section. */
    smr_enter(s);
    cr_assert(smr_entered(s));
    smr_stats(s, &st);
    cr_assert(st.live_slots == 1);
    smr_exit(s);
    smr_thread_detach(s);

    /* Another thread's attach is released at its exit. */
    cr_assert(pthread_create(&t, NULL, attach_thread, s) == 0);
    cr_assert(pthread_join(t, &rc) == 0);
    cr_assert((intptr_t)rc == 0, "attach in thread: %d", (int)(intptr_t)rc);
    smr_stats(s, &st);
    cr_assert(st.live_slots == 0, "exited attached thread still holds a slot");

    errno = 0;
    cr_assert(smr_thread_attach(NULL) == EINVAL,
        "smr_thread_attach(NULL) did not return EINVAL");
    smr_destroy(s);
}

/* Many domains on one thread; destroyed domains never alias new ones. */
Test(slots, many_domains_and_reuse, .timeout = 30)
{
    enum { N = 100 };
    smr_t d[N];
    struct smr_stats st;
    char name[32];

    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "many-%d", i);
        d[i] = mk(name, i % 3 == 0 ? 0 : (i % 3 == 1 ? SMR_DEFERRED : SMR_LAZY));
    }
    for (int i = 0; i < N; i++)
        smr_enter(d[i]);
    for (int i = 0; i < N; i++)
        cr_assert(smr_entered(d[i]), "domain %d not entered", i);
    for (int i = N - 1; i >= 0; i -= 2)
        smr_exit(d[i]);
    for (int i = 0; i < N; i++)
        cr_assert(smr_entered(d[i]) == ((N - 1 - i) % 2 == 1),
            "domain %d: wrong entered state", i);
    for (int i = N - 2; i >= 0; i -= 2)
        smr_exit(d[i]);
    for (int i = 0; i < N; i++) {
        cr_assert(!smr_entered(d[i]));
        smr_seq_t g = smr_advance(d[i]);
        cr_assert(smr_wait(d[i], g));
    }
    /* Destroy and recreate: the new domain starts with no slots, and the
     * thread's cached slot for the old one is not reused for it. */
    for (int round = 0; round < 20; round++) {
        int i = (round * 7) % N;
        smr_destroy(d[i]);
        d[i] = mk("again", 0);
        smr_stats(d[i], &st);
        cr_assert(st.live_slots == 0, "new domain has %llu live slots",
            (ull)st.live_slots);
        cr_assert(!smr_entered(d[i]));
        smr_enter(d[i]);
        cr_assert(smr_entered(d[i]));
        smr_stats(d[i], &st);
        cr_assert(st.live_slots == 1);
        smr_exit(d[i]);
        cr_assert(!smr_entered(d[i]));
    }
    for (int i = 0; i < N; i++)
        smr_destroy(d[i]);
}

/*
 * Domains past the thread table's 63 fast entries (SMR__TFAST - 1) take the
 * out-of-line lookup: nested and lazy sections work there, a thread's exit
 * gives their slots back, and a reader there holds goals back.
 */
static void *
overflow_thread(void *arg)
{
    smr_t *d = arg;

    for (int i = 0; i < 80; i++) {
        smr_lazy_enter(d[i]);
        smr_enter(d[i]);
        if (!smr_entered(d[i]))
            abort();
    }
    for (int i = 79; i >= 0; i--) {
        smr_exit(d[i]);
        smr_lazy_exit(d[i]);
    }
    return NULL;
}

Test(slots, past_the_fast_table, .timeout = 30)
{
    enum { N = 80 };   /* > SMR__TFAST */
    smr_t d[N];
    struct smr_stats st;
    pthread_t t;

    cr_assert(N > SMR__TFAST);
    for (int i = 0; i < N; i++)
        d[i] = mk("overflow", i % 2 ? SMR_LAZY : 0);
    cr_assert(pthread_create(&t, NULL, overflow_thread, d) == 0);
    cr_assert(pthread_join(t, NULL) == 0);
    for (int i = 0; i < N; i++) {
        smr_stats(d[i], &st);
        cr_assert(st.live_slots == 0, "domain %d: %llu live slots after "
            "the thread exited", i, (ull)st.live_slots);
    }
    /* A reader on the last domain blocks its goals, and only its. */
    smr_lazy_enter(d[N - 1]);
    smr_enter(d[N - 1]);
    smr_exit(d[N - 1]);
    cr_assert(smr_entered(d[N - 1]));
    smr_seq_t g = smr_advance(d[N - 1]);
    for (int i = 0; i < 100; i++)
        cr_assert(!smr_poll(d[N - 1], g, false),
            "goal reached with a reader inside a domain past the fast table");
    g = smr_advance(d[N - 2]);
    cr_assert(smr_wait_timeout(d[N - 2], g, 5000 * MS));
    smr_lazy_exit(d[N - 1]);
    g = smr_advance(d[N - 1]);
    cr_assert(smr_wait_timeout(d[N - 1], g, 5000 * MS));
    for (int i = 0; i < N; i++)
        smr_destroy(d[i]);
}

/*
 * White box: smr_destroy frees the domain's entry in every thread's table
 * (the read path trusts the entry without checking the id), including threads
 * that are alive and idle, and entries past the fast table.
 */
struct clear_ctl {
    smr_t d[SMR__TFAST + 1];
    atomic_int step;
    atomic_int ok;
};

static void *
clear_thread(void *arg)
{
    struct clear_ctl *c = arg;
    uint32_t idx0 = ((struct smr__domain_hot *)c->d[0])->d_idx;

    if (smr_thread_attach(c->d[0]) != 0 ||
        smr_thread_attach(c->d[SMR__TFAST]) != 0)
        return NULL;
    if (smr__self->ent[idx0].t_id != ((struct smr__domain_hot *)c->d[0])->d_id ||
        smr__self->ent[idx0].t_word != 0)
        return NULL;
    atomic_store(&c->step, 1);
    if (!wait_flag(&c->step, 2, 10000))
        return NULL;
    atomic_store(&c->ok, smr__self->ent[idx0].t_id == 0 &&
        smr__self->ent[idx0].t_word == SMR__W_FREE);
    return NULL;
}

Test(slots, destroy_clears_entries, .timeout = 30)
{
    struct clear_ctl c;
    pthread_t t;
    uint32_t idx0;

    memset(&c, 0, sizeof(c));
    for (int i = 0; i <= SMR__TFAST; i++)
        c.d[i] = mk("clear", 0);
    idx0 = ((struct smr__domain_hot *)c.d[0])->d_idx;
    cr_assert(idx0 < SMR__TFAST - 1);
    smr_enter(c.d[0]);
    smr_exit(c.d[0]);
    cr_assert(smr__self->ent[idx0].t_id != 0 &&
        smr__self->ent[idx0].t_word == 0);
    cr_assert(pthread_create(&t, NULL, clear_thread, &c) == 0);
    cr_assert(wait_flag(&c.step, 1, 5000));
    smr_destroy(c.d[0]);
    cr_assert(smr__self->ent[idx0].t_id == 0 &&
        smr__self->ent[idx0].t_word == SMR__W_FREE,
        "smr_destroy left this thread's entry");
    atomic_store(&c.step, 2);
    cr_assert(pthread_join(t, NULL) == 0);
    cr_assert(atomic_load(&c.ok) == 1,
        "smr_destroy left a live thread's entry");
    /* The index is handed out again; exit without enter there aborts in
     * misuse/exit_after_index_reuse_aborts. */
    for (int i = 1; i <= SMR__TFAST; i++)
        smr_destroy(c.d[i]);
}

/* A live thread that used a destroyed domain can use a new one. */
struct reuse_ctl {
    _Atomic(smr_t) s;
    atomic_int step;
    atomic_int ok;
};

static void *
reuse_thread(void *arg)
{
    struct reuse_ctl *c = arg;
    smr_t s;

    for (int round = 0; round < 10; round++) {
        if (!wait_flag(&c->step, 2 * round + 1, 10000))
            return NULL;
        s = atomic_load(&c->s);
        smr_enter(s);
        if (!smr_entered(s))
            return NULL;
        smr_exit(s);
        if (smr_entered(s))
            return NULL;
        atomic_store(&c->step, 2 * round + 2);
    }
    /* Stay alive (slot held) until the last domain is destroyed. */
    if (wait_flag(&c->step, 21, 10000))
        atomic_store(&c->ok, 1);
    return NULL;
}

Test(slots, destroy_detaches_live_threads, .timeout = 30)
{
    struct reuse_ctl c;
    pthread_t t;
    struct smr_stats st;

    memset(&c, 0, sizeof(c));
    cr_assert(pthread_create(&t, NULL, reuse_thread, &c) == 0);
    for (int round = 0; round < 10; round++) {
        smr_t s = mk("reuse", round % 2 ? SMR_DEFERRED : 0);
        smr_stats(s, &st);
        cr_assert(st.live_slots == 0);
        atomic_store(&c.s, s);
        atomic_store(&c.step, 2 * round + 1);
        cr_assert(wait_flag(&c.step, 2 * round + 2, 5000), "round %d", round);
        smr_stats(s, &st);
        cr_assert(st.live_slots == 1, "round %d: live_slots %llu", round,
            (ull)st.live_slots);
        smr_destroy(s); /* the idle thread still holds its slot */
    }
    atomic_store(&c.step, 21);
    cr_assert(pthread_join(t, NULL) == 0);
    cr_assert(atomic_load(&c.ok) == 1);
}

/* ------------------------------------------------------------------ */
/* Deferred clock                                                      */
/* ------------------------------------------------------------------ */

static void
deferred_period(int limit)
{
    smr_t s = smr_create("deferred", limit, SMR_DEFERRED);
    smr_seq_t prev, c, g;
    int changes = 0, phase = -1;

    cr_assert(s != NULL, "limit %d: errno %d", limit, errno);
    prev = smr_current(s);
    for (int i = 0; i < 8 * limit; i++) {
        smr_seq_t before = smr_current(s);
        g = smr_advance(s);
        c = smr_current(s);
        cr_assert(g != SMR_SEQ_INVALID);
        cr_assert(SMR_SEQ_GT(g, before),
            "limit %d call %d: goal %llu not after clock %llu", limit, i,
            (ull)g, (ull)before);
        if (c != prev) {
            changes++;
            if (phase < 0)
                phase = i % limit;
            cr_assert(i % limit == phase,
                "limit %d: clock written at call %d, period broken", limit, i);
            prev = c;
        }
    }
    cr_assert(changes == 8, "limit %d: clock written %d times in %d calls, "
        "want 8", limit, changes, 8 * limit);

    /* Goals handed out between clock writes are valid: with no reader, a
     * poll reaches them (pushing the clock). */
    for (int i = 0; i < 3 * limit; i++) {
        g = smr_advance(s);
        if (i % 2 == 0) {
            cr_assert(smr_poll(s, g, false),
                "limit %d: deferred goal %llu not reached (clock %llu)",
                limit, (ull)g, (ull)smr_current(s));
        } else {
            cr_assert(smr_wait(s, g));
        }
        cr_assert(SMR_SEQ_GEQ(smr_current(s), g),
            "limit %d: poll reached goal %llu but clock is %llu", limit,
            (ull)g, (ull)smr_current(s));
    }
    smr_destroy(s);
}

Test(deferred, clock_written_every_limit_calls, .timeout = 30)
{
    deferred_period(1);
    deferred_period(3);
    deferred_period(DEFERRED_LIMIT);
}

static void *
deferred_some(void *arg)
{
    smr_t s = arg;

    for (int i = 0; i < DEFERRED_LIMIT - 1; i++)
        (void)smr_advance(s);
    return NULL;
}

/* The count is per thread: limit-1 calls on each of many threads never
 * write the clock. */
Test(deferred, count_is_per_thread, .timeout = 30)
{
    smr_t s = mk("deferred-pt", SMR_DEFERRED);
    smr_seq_t c0 = smr_current(s);
    pthread_t t;

    for (int i = 0; i < 5; i++) {
        cr_assert(pthread_create(&t, NULL, deferred_some, s) == 0);
        cr_assert(pthread_join(t, NULL) == 0);
    }
    deferred_some(s);
    cr_assert(smr_current(s) == c0,
        "clock written by threads that each advanced limit-1 times");
    smr_destroy(s);
}

/* ------------------------------------------------------------------ */
/* Blocking waits                                                      */
/* ------------------------------------------------------------------ */

ALL_FLAGS(wait, returns_after_reader_leaves)
ParameterizedTest(int *flags, wait, returns_after_reader_leaves, .timeout = 30)
{
    smr_t s = mk("wait", *flags);
    struct held h;
    smr_seq_t g;
    uint64_t t0, dt;

    held_start(&h, s, *flags, 50);
    g = smr_advance(s);
    t0 = now_ns();
    cr_assert(smr_wait(s, g));
    dt = now_ns() - t0;
    cr_assert(atomic_load(&h.leaving) == 1,
        "smr_wait returned while the reader was inside");
    cr_assert(dt >= 10 * MS, "smr_wait returned after %llu us",
        (ull)(dt / 1000));
    cr_assert(pthread_join(h.tid, NULL) == 0);

    /* smr_poll(wait=true) likewise. */
    held_start(&h, s, *flags, 50);
    g = smr_advance(s);
    cr_assert(smr_poll(s, g, true));
    cr_assert(atomic_load(&h.leaving) == 1,
        "smr_poll(wait=true) returned while the reader was inside");
    cr_assert(pthread_join(h.tid, NULL) == 0);

    /* smr_synchronize likewise. */
    held_start(&h, s, *flags, 50);
    smr_synchronize(s);
    cr_assert(atomic_load(&h.leaving) == 1,
        "smr_synchronize returned while the reader was inside");
    cr_assert(pthread_join(h.tid, NULL) == 0);
    smr_destroy(s);
}

ALL_FLAGS(wait, timeout)
ParameterizedTest(int *flags, wait, timeout, .timeout = 30)
{
    smr_t s = mk("timeout", *flags);
    struct held h;
    smr_seq_t g;
    uint64_t t0, dt, cpu0, cpu;

    held_start(&h, s, *flags, 0);
    g = smr_advance(s);
    t0 = now_ns();
    cr_assert(!smr_wait_timeout(s, g, 100 * MS),
        "wait_timeout succeeded with the reader inside");
    dt = now_ns() - t0;
    cr_assert(dt >= 90 * MS, "wait_timeout(100 ms) returned after %llu ms",
        (ull)(dt / MS));
    cr_assert(dt < 5000 * MS, "wait_timeout(100 ms) took %llu ms",
        (ull)(dt / MS));
    cr_assert(atomic_load(&h.leaving) == 0);
    cr_assert(!smr_wait_timeout(s, g, 0), "wait_timeout(0) succeeded");

    /* A stalled reader must not make a waiter burn a core. */
    cpu0 = thread_cpu_ns();
    t0 = now_ns();
    cr_assert(!smr_wait_timeout(s, g, 500 * MS));
    dt = now_ns() - t0;
    cpu = thread_cpu_ns() - cpu0;
    cr_assert(dt >= 490 * MS);
    cr_assert(cpu < dt / 2, "waiter used %llu ms of CPU in %llu ms",
        (ull)(cpu / MS), (ull)(dt / MS));
    cr_assert(atomic_load(&h.leaving) == 0);

    held_stop(&h);
    cr_assert(smr_wait_timeout(s, g, 5000 * MS),
        "wait_timeout failed after the reader left");
    smr_destroy(s);
}

/*
 * A timeout so long that now + ns passes the top of uint64_t means "no
 * deadline" in practice: the wait blocks until the reader leaves, as
 * smr_wait does, instead of returning false at once.
 */
ALL_FLAGS(wait, timeout_near_uint64_max)
ParameterizedTest(int *flags, wait, timeout_near_uint64_max, .timeout = 30)
{
    const uint64_t nss[] = { UINT64_MAX, UINT64_MAX - 1,
        UINT64_MAX - now_ns() + 1000, UINT64_MAX - 1000 * MS,
        UINT64_MAX / 2, UINT64_MAX / 2 + 1 };
    smr_t s = mk("timeout-max", *flags);

    for (size_t i = 0; i < sizeof(nss) / sizeof(nss[0]); i++) {
        static struct held h;   /* static: outlives a failed assertion */
        smr_seq_t g;
        uint64_t t0, dt;
        bool r;

        held_start(&h, s, *flags, 100);
        g = smr_advance(s);
        t0 = now_ns();
        r = smr_wait_timeout(s, g, nss[i]);
        dt = now_ns() - t0;
        cr_assert(r, "%s: smr_wait_timeout(ns = %#llx) returned false after "
            "%llu us with the reader inside", flags_name(*flags),
            (ull)nss[i], (ull)(dt / 1000));
        cr_assert(atomic_load(&h.leaving) == 1, "%s: smr_wait_timeout(ns = "
            "%#llx) returned true while the reader was inside",
            flags_name(*flags), (ull)nss[i]);
        cr_assert(dt >= 90 * MS, "%s: smr_wait_timeout(ns = %#llx) returned "
            "after %llu ms, the reader held 100 ms", flags_name(*flags),
            (ull)nss[i], (ull)(dt / MS));
        cr_assert(pthread_join(h.tid, NULL) == 0);
    }
    smr_destroy(s);
}

/* ------------------------------------------------------------------ */
/* Misuse (SPEC §4)                                                    */
/* ------------------------------------------------------------------ */

/* A non-blocking poll inside one's own section is legal, and false. */
ALL_FLAGS(misuse, poll_nowait_inside_own_section)
ParameterizedTest(int *flags, misuse, poll_nowait_inside_own_section,
    .timeout = 30)
{
    smr_t s = mk("own-poll", *flags);
    smr_seq_t g;

    sec_enter(s, *flags);
    g = smr_advance(s);
    cr_assert(!smr_poll(s, g, false), "goal reached inside own section");
    sec_exit(s, *flags);
    cr_assert(smr_wait(s, g));
    smr_destroy(s);
}

/* Blocking on another domain from inside a section is legal. */
Test(misuse, wait_inside_other_domain, .timeout = 30)
{
    smr_t a = mk("outer", 0), b = mk("inner", 0);
    smr_seq_t g;

    smr_enter(a);
    g = smr_advance(b);
    cr_assert(smr_wait(b, g));
    smr_synchronize(b);
    smr_exit(a);
    smr_destroy(a);
    smr_destroy(b);
}

#if SMR_CONFIG_DEBUG
Test(misuse, wait_inside_own_section_aborts, .signal = SIGABRT, .timeout = 30)
{
    smr_t s = mk("own-wait", 0);
    smr_enter(s);
    (void)smr_wait(s, smr_advance(s));
}

Test(misuse, poll_wait_inside_own_section_aborts, .signal = SIGABRT,
    .timeout = 30)
{
    smr_t s = mk("own-pollw", 0);
    smr_enter(s);
    (void)!smr_poll(s, smr_advance(s), true);
}

Test(misuse, wait_timeout_inside_own_section_aborts, .signal = SIGABRT,
    .timeout = 30)
{
    smr_t s = mk("own-waitto", 0);
    smr_lazy_enter(s);
    (void)!smr_wait_timeout(s, smr_advance(s), 1000 * MS);
}

Test(misuse, entered_load_outside_section_aborts, .signal = SIGABRT,
    .timeout = 30)
{
    smr_t s = mk("load-out", 0);
    SMR_POINTER(int *) p;
    int v = 1;

    smr_unserialized_store(&p, &v, true);
    (void)smr_entered_load(&p, s);
}

Test(misuse, serialized_store_unserialized_aborts, .signal = SIGABRT,
    .timeout = 30)
{
    SMR_POINTER(int *) p;
    int v = 1;
    volatile bool locked = false;

    smr_serialized_store(&p, &v, locked);
}
#else
ALL_FLAGS(misuse, wait_inside_own_section_fails)
ParameterizedTest(int *flags, misuse, wait_inside_own_section_fails,
    .timeout = 30)
{
    smr_t s = mk("own-wait", *flags);
    smr_seq_t g;
    uint64_t t0, dt;

    sec_enter(s, *flags);
    g = smr_advance(s);
    t0 = now_ns();
    cr_assert(!smr_wait(s, g), "smr_wait inside own section returned true");
    cr_assert(!smr_poll(s, g, true),
        "smr_poll(wait) inside own section returned true");
    cr_assert(!smr_wait_timeout(s, g, 10000 * MS),
        "smr_wait_timeout inside own section returned true");
    dt = now_ns() - t0;
    cr_assert(dt < 1000 * MS, "blocking calls inside own section took "
        "%llu ms: they must fail at once", (ull)(dt / MS));
    /* Nested too. */
    sec_enter(s, *flags);
    cr_assert(!smr_wait(s, g));
    sec_exit(s, *flags);
    cr_assert(!smr_wait(s, g));
    sec_exit(s, *flags);
    cr_assert(smr_wait(s, g), "wait after leaving the section failed");
    smr_destroy(s);
}
#endif

Test(misuse, synchronize_inside_own_section_aborts, .signal = SIGABRT,
    .timeout = 30)
{
    smr_t s = mk("sync-in", 0);
    smr_enter(s);
    smr_synchronize(s);
}

Test(misuse, synchronize_inside_nested_lazy_section_aborts,
    .signal = SIGABRT, .timeout = 30)
{
    smr_t s = mk("sync-in-lazy", SMR_LAZY);
    smr_lazy_enter(s);
    smr_lazy_enter(s);
    smr_lazy_exit(s);
    smr_synchronize(s);
}

Test(misuse, destroy_with_reader_aborts, .signal = SIGABRT, .timeout = 30)
{
    smr_t s = mk("destroy-busy", 0);
    struct held h;

    held_start(&h, s, 0, 0);
    smr_destroy(s);
}

Test(misuse, destroy_inside_own_section_aborts, .signal = SIGABRT,
    .timeout = 30)
{
    smr_t s = mk("destroy-self", 0);
    smr_enter(s);
    smr_destroy(s);
}

Test(misuse, exit_without_enter_aborts, .signal = SIGABRT, .timeout = 30)
{
    smr_t s = mk("exit-only", 0);
    smr_exit(s);
}

Test(misuse, exit_twice_aborts, .signal = SIGABRT, .timeout = 30)
{
    smr_t s = mk("exit-twice", 0);
    smr_enter(s);
    smr_exit(s);
    smr_exit(s);
}

Test(misuse, lazy_exit_without_enter_aborts, .signal = SIGABRT, .timeout = 30)
{
    smr_t s = mk("lazy-exit-only", SMR_LAZY);
    smr_lazy_exit(s);
}

/* smr_exit does not check the entry's id: smr_destroy must have cleared
 * the old domain's entry, or this exit would find its (freed) slot. */
Test(misuse, exit_after_index_reuse_aborts, .signal = SIGABRT,
    .timeout = 30)
{
    smr_t a = mk("old", 0), b;

    smr_enter(a);
    smr_exit(a);
    smr_destroy(a);
    b = mk("new-same-index", 0);
    smr_exit(b);
}

Test(misuse, exit_without_enter_past_fast_table_aborts, .signal = SIGABRT,
    .timeout = 30)
{
    smr_t d[SMR__TFAST + 1];

    for (int i = 0; i <= SMR__TFAST; i++)
        d[i] = mk("many", 0);
    smr_enter(d[SMR__TFAST]);
    smr_exit(d[SMR__TFAST]);
    smr_exit(d[SMR__TFAST]);
}

/*
 * The abort message names the domain.  Run the misuse in a child with
 * stderr on a pipe; the child must die of SIGABRT and say the name.
 */
enum misuse_kind { MU_SYNC_INSIDE, MU_DESTROY_BUSY, MU_EXIT_NO_ENTER };

static void
misuse_child(enum misuse_kind k, const char *name)
{
    smr_t s = smr_create(name, 0, 0);
    struct held h;

    if (s == NULL)
        _exit(90);
    switch (k) {
    case MU_SYNC_INSIDE:
        smr_enter(s);
        smr_synchronize(s);
        break;
    case MU_DESTROY_BUSY:
        memset(&h, 0, sizeof(h));
        h.smr = s;
        if (pthread_create(&h.tid, NULL, held_main, &h) != 0)
            _exit(91);
        while (!atomic_load(&h.inside))
            sched_yield();
        smr_destroy(s);
        break;
    case MU_EXIT_NO_ENTER:
        smr_exit(s);
        break;
    }
    _exit(92); /* survived the misuse */
}

struct misuse_arg {
    enum misuse_kind k;
    const char *name;
};

static void
misuse_child_main(void *arg)
{
    struct misuse_arg *m = arg;

    misuse_child(m->k, m->name);
}

static void
expect_abort_message(enum misuse_kind k, const char *name)
{
    struct misuse_arg m = { k, name };
    char buf[4096];
    int status = child_stderr(misuse_child_main, &m, buf, sizeof(buf));

    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
        "misuse %d: child did not abort (status %#x, stderr: %s)", (int)k,
        status, buf);
    cr_assert(strstr(buf, name) != NULL,
        "misuse %d: abort message does not name the domain \"%s\": %s",
        (int)k, name, buf);
}

Test(misuse, abort_messages_name_the_domain, .timeout = 30)
{
    expect_abort_message(MU_SYNC_INSIDE, "dom-sync-inside");
    expect_abort_message(MU_DESTROY_BUSY, "dom-destroy-busy");
#if SMR_CONFIG_DEBUG
    expect_abort_message(MU_EXIT_NO_ENTER, "dom-exit-no-enter");
#endif
}

/* A thread that exits inside a section: its slot is cleared (release),
 * or the process aborts (debug). */
static void *
exit_inside(void *arg)
{
    smr_enter((smr_t)arg);
    return NULL;
}

#if SMR_CONFIG_DEBUG
Test(misuse, thread_exit_inside_section_aborts, .signal = SIGABRT,
    .timeout = 30)
{
    smr_t s = mk("exit-inside", 0);
    pthread_t t;

    cr_assert(pthread_create(&t, NULL, exit_inside, s) == 0);
    pthread_join(t, NULL);
    sleep_ms(100);
}
#else
Test(misuse, thread_exit_inside_section_clears_slot, .timeout = 30)
{
    smr_t s = mk("exit-inside", 0);
    struct smr_stats st0, st;
    pthread_t t;
    smr_seq_t g;

    cr_assert(smr_wait(s, smr_advance(s))); /* our own slot, if any */
    smr_stats(s, &st0);
    cr_assert(pthread_create(&t, NULL, exit_inside, s) == 0);
    cr_assert(pthread_join(t, NULL) == 0);
    g = smr_advance(s);
    cr_assert(smr_wait_timeout(s, g, 5000 * MS),
        "dead thread's section still holds goals back");
    smr_stats(s, &st);
    cr_assert(st.live_slots == st0.live_slots,
        "dead thread's slot not released: %llu live, was %llu",
        (ull)st.live_slots, (ull)st0.live_slots);
    smr_destroy(s);
}
#endif

/* ------------------------------------------------------------------ */
/* Malformed goals (SPEC §6)                                           */
/* ------------------------------------------------------------------ */

/*
 * A goal that smr_advance or smr_current could not have returned is
 * misuse: debug builds abort with a message naming the domain and the
 * goal; in release builds smr_poll and smr_wait return false at once; no
 * build changes the clock.  Sequences are odd multiples of 256, and a
 * future goal is a whole number of clock steps ahead.  The dangerous place
 * is just below the wrap of smr_seq_t, where goal 0 compares as a goal a
 * few steps ahead (every lap in 32-bit builds; SMR_DEBUG starts the
 * 64-bit clock 1000 steps below the top).
 */
enum bad_goal { BG_ZERO, BG_DEPTH, BG_EVEN, BG_PAST_EVEN, BG_OFFSTEP, BG_N };

static const char *const bad_goal_names[BG_N] = {
    "SMR_SEQ_INVALID", "clock + 1 (depth bits)",
    "clock + 256 (even multiple of 256)", "clock - 256 (even multiple of 256)",
    "clock + 512 (not a whole step ahead)",
};

static smr_seq_t
bad_goal_of(enum bad_goal k, smr_seq_t clock)
{
    switch (k) {
    case BG_ZERO: return SMR_SEQ_INVALID;
    case BG_DEPTH: return (smr_seq_t)(clock + 1);
    case BG_EVEN: return (smr_seq_t)(clock + 256);
    case BG_PAST_EVEN: return (smr_seq_t)(clock - 256);
    case BG_OFFSTEP: default: return (smr_seq_t)(clock + 512);
    }
}

enum bad_goal_op { BO_POLL, BO_POLL_WAIT, BO_WAIT, BO_N };

static const char *const bad_goal_op_names[BO_N] = {
    "smr_poll(.., false)", "smr_poll(.., true)", "smr_wait",
};

static bool
bad_goal_call(smr_t s, enum bad_goal_op op, smr_seq_t goal)
{
    switch (op) {
    case BO_POLL: return smr_poll(s, goal, false);
    case BO_POLL_WAIT: return smr_poll(s, goal, true);
    case BO_WAIT: default: return smr_wait(s, goal);
    }
}

#if SMR_CONFIG_DEBUG
/* The clock step of a default domain (one advance, its goal then polled;
 * no assertions: also used in forked children).  0 if the poll failed. */
static smr_seq_t
clock_step_of(smr_t s)
{
    smr_seq_t c = smr_current(s), g = smr_advance(s);

    return smr_poll(s, g, false) ? (smr_seq_t)(g - c) : 0;
}

/*
 * Advance (and poll, so that the read hand follows) a default domain until
 * its clock is at most `below` steps short of the wrap of smr_seq_t.
 * False where that is out of cheap reach (release builds: 2^23 or 2^55
 * steps) or a poll failed.
 */
static bool
clock_below_wrap(smr_t s, unsigned below, smr_seq_t step)
{
    smr_seq_t lim = (smr_seq_t)(below * step);

    if (step == 0 || (smr_seq_t)(0 - smr_current(s)) / step > 100000)
        return false;
    while ((smr_seq_t)(0 - smr_current(s)) > lim) {
        smr_seq_t g = smr_advance(s);
        if (!smr_poll(s, g, false))
            return false;
    }
    return true;
}

/* Debug builds: each malformed goal, each call, at the clock's start and
 * a few steps below the wrap, aborts with the domain's name and "goal". */
#define BAD_GOAL_DOMAIN "dom-bad-goal"

struct bad_goal_case {
    enum bad_goal kind;
    enum bad_goal_op op;
    unsigned below;         /* steps short of the wrap; 0: where it starts */
};

static smr_t bad_goal_smr;

/* In the child: the clock when the abort comes (restored to the default
 * action by SA_RESETHAND, so abort() then kills the child). */
static void
bad_goal_on_abort(int sig)
{
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "\n[clock at abort %#llx]\n",
        (ull)smr_current(bad_goal_smr));

    (void)sig;
    if (n > 0)
        (void)!write(2, buf, (size_t)n);
}

static void
bad_goal_child(void *arg)
{
    const struct bad_goal_case *c = arg;
    struct sigaction sa;
    smr_seq_t step, cur, goal;
    bool r;

    alarm(5);
    bad_goal_smr = smr_create(BAD_GOAL_DOMAIN, 0, 0);
    if (bad_goal_smr == NULL)
        _exit(90);
    step = clock_step_of(bad_goal_smr);
    if (step == 0)
        _exit(91);
    if (c->below != 0 && !clock_below_wrap(bad_goal_smr, c->below, step))
        _exit(93);
    cur = smr_current(bad_goal_smr);
    goal = bad_goal_of(c->kind, cur);
    fprintf(stderr, "[clock before %#llx, goal %#llx]\n", (ull)cur,
        (ull)goal);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = bad_goal_on_abort;
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGABRT, &sa, NULL);
    r = bad_goal_call(bad_goal_smr, c->op, goal);
    fprintf(stderr, "[returned %d, clock after %#llx]\n", (int)r,
        (ull)smr_current(bad_goal_smr));
    _exit(92);
}

Test(misuse, bad_goal_aborts_naming_the_domain, .timeout = 30)
{
    static const unsigned belows[] = { 0, 1, 2, 4 };
    smr_t s = mk("step", 0);
    smr_seq_t step = clock_step_of(s);
    char buf[8192];

    cr_assert(step != 0);
    smr_destroy(s);
    for (int k = 0; k < BG_N; k++) {
        if (k == BG_OFFSTEP && step == 512)
            continue;       /* one step is 512: clock + 512 is well formed */
        for (int op = 0; op < BO_N; op++) {
            for (size_t b = 0; b < sizeof(belows) / sizeof(belows[0]); b++) {
                struct bad_goal_case c = { (enum bad_goal)k,
                    (enum bad_goal_op)op, belows[b] };
                const char *p;
                unsigned long long before, after;
                int status;

                if (k != BG_ZERO && belows[b] > 1)
                    continue;
                status = child_stderr(bad_goal_child, &c, buf, sizeof(buf));
                cr_assert(!WIFEXITED(status) || WEXITSTATUS(status) == 92,
                    "%s, %u steps below the wrap: child setup failed "
                    "(exit %d): %s", bad_goal_names[k], belows[b],
                    WEXITSTATUS(status), buf);
                cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                    "%s(%s), clock %u steps below the wrap: did not abort "
                    "(status %#x); stderr: %s", bad_goal_op_names[op],
                    bad_goal_names[k], belows[b], status, buf);
                cr_assert(strstr(buf, BAD_GOAL_DOMAIN) != NULL &&
                    strstr(buf, "goal") != NULL,
                    "%s(%s): abort message does not name the domain \"%s\" "
                    "and the goal: %s", bad_goal_op_names[op],
                    bad_goal_names[k], BAD_GOAL_DOMAIN, buf);
                p = strstr(buf, "[clock before ");
                cr_assert(p != NULL && sscanf(p, "[clock before %llx",
                    &before) == 1, "no clock in: %s", buf);
                p = strstr(buf, "[clock at abort ");
                cr_assert(p != NULL && sscanf(p, "[clock at abort %llx",
                    &after) == 1, "no clock at abort in: %s", buf);
                cr_assert(before == after, "%s(%s), %u steps below the "
                    "wrap: the clock moved %#llx -> %#llx before the abort",
                    bad_goal_op_names[op], bad_goal_names[k], belows[b],
                    before, after);
            }
        }
    }
}

/* The same as plain death tests, the clock two steps below the wrap. */
static smr_t
bad_goal_domain_near_wrap(void)
{
    smr_t s = mk("bad-goal", 0);
    smr_seq_t step = clock_step_of(s);

    cr_assert(step != 0);
    cr_assert(clock_below_wrap(s, 2, step), "debug build: clock %llu not "
        "moved to the wrap", (ull)smr_current(s));
    return s;
}

Test(misuse, poll_goal_invalid_near_wrap_aborts, .signal = SIGABRT,
    .timeout = 30)
{
    smr_t s = bad_goal_domain_near_wrap();
    smr_seq_t c = smr_current(s);
    bool r = smr_poll(s, SMR_SEQ_INVALID, false);

    cr_log_error("smr_poll(SMR_SEQ_INVALID) returned %d, clock %llu -> %llu",
        (int)r, (ull)c, (ull)smr_current(s));
}

Test(misuse, wait_goal_invalid_near_wrap_aborts, .signal = SIGABRT,
    .timeout = 30)
{
    smr_t s = bad_goal_domain_near_wrap();
    smr_seq_t c = smr_current(s);
    bool r = smr_wait(s, SMR_SEQ_INVALID);

    cr_log_error("smr_wait(SMR_SEQ_INVALID) returned %d, clock %llu -> %llu",
        (int)r, (ull)c, (ull)smr_current(s));
}

Test(misuse, poll_goal_bad_low_bits_aborts, .signal = SIGABRT, .timeout = 30)
{
    smr_t s = bad_goal_domain_near_wrap();
    smr_seq_t c = smr_current(s);
    bool r = smr_poll(s, (smr_seq_t)(c + 256), false);

    cr_log_error("smr_poll(clock + 256) returned %d, clock %llu -> %llu",
        (int)r, (ull)c, (ull)smr_current(s));
}
#else
/*
 * Release builds: smr_poll and smr_wait return false at once for each
 * malformed goal and leave the clock alone, with and without a reader
 * inside, and a reader that entered before is still seen.  (The wrap is
 * out of reach here: 2^55 steps, or 2^23 in a 32-bit build.)
 */
static void
expect_bad_goals_fail(smr_t s, const char *when)
{
    for (int k = 0; k < BG_N; k++) {
        if (k == BG_OFFSTEP)
            continue;       /* release: one step is 512 */
        for (int op = 0; op < BO_N; op++) {
            smr_seq_t c = smr_current(s);
            smr_seq_t goal = bad_goal_of((enum bad_goal)k, c);
            uint64_t t0 = now_ns(), dt;
            bool r = bad_goal_call(s, (enum bad_goal_op)op, goal);

            dt = now_ns() - t0;
            cr_assert(!r, "%s: %s(%s = %#llx) returned true (clock %#llx)",
                when, bad_goal_op_names[op], bad_goal_names[k], (ull)goal,
                (ull)c);
            cr_assert(smr_current(s) == c, "%s: %s(%s = %#llx) moved the "
                "clock %#llx -> %#llx", when, bad_goal_op_names[op],
                bad_goal_names[k], (ull)goal, (ull)c, (ull)smr_current(s));
            cr_assert(dt < 1000 * MS, "%s: %s(%s) took %llu ms", when,
                bad_goal_op_names[op], bad_goal_names[k], (ull)(dt / MS));
        }
    }
}

ALL_FLAGS(goal, malformed_fails)
ParameterizedTest(int *flags, goal, malformed_fails, .timeout = 30)
{
    smr_t s = mk("bad-goal", *flags);
    static struct held h;   /* static: outlives a failed assertion */
    smr_seq_t g;

    expect_bad_goals_fail(s, "fresh domain");
    cr_assert(poll_until(s, smr_advance(s), 5000));
    expect_bad_goals_fail(s, "no reader");
    held_start(&h, s, *flags, 0);
    expect_bad_goals_fail(s, "reader inside");
    /* The reader is still seen. */
    g = smr_advance(s);
    for (int i = 0; i < 10; i++)
        cr_assert(!smr_poll(s, g, false), "%s: goal %llu reached with a "
            "reader inside, after malformed polls", flags_name(*flags),
            (ull)g);
    cr_assert(!smr_wait_timeout(s, g, 20 * MS));
    held_stop(&h);
    cr_assert(smr_wait_timeout(s, g, 5000 * MS));
    expect_bad_goals_fail(s, "after the reader left");
    smr_destroy(s);
}
#endif

/*
 * Far-ahead goals, exactly as smr(3) says ("Misuse"): up to four whole
 * steps ahead are accepted on every kind of domain and the poll moves the
 * clock up to the goal; with 64-bit sequences a goal further ahead, such
 * as clock + 2^30, is malformed (debug: abort naming the goal; release:
 * false at once, clock unchanged); with 32-bit sequences it is reported
 * reached at once, clock unchanged, even with a reader inside.
 */
static smr_seq_t
step_of(void)
{
    smr_t t = mk("step", 0);
    smr_seq_t c = smr_current(t), g = smr_advance(t);

    smr_destroy(t);
    return (smr_seq_t)(g - c);
}

#if !SMR_SEQ32 && SMR_CONFIG_DEBUG
static void
far_goal_child(void *arg)
{
    smr_t s = smr_create("far-goal", 0, 0);

    (void)arg;
    (void)smr_poll(s, (smr_seq_t)(smr_current(s) + ((smr_seq_t)1 << 30)),
        false);
}
#endif

CLOCK_FLAGS(goal, far_ahead_as_documented)
ParameterizedTest(int *flags, goal, far_ahead_as_documented, .timeout = 30)
{
    smr_t s = mk("far", *flags);
    smr_seq_t step = step_of(), far = (smr_seq_t)1 << 30, c, g;
    static struct held h;

    for (smr_seq_t k = 1; k <= 4; k++) {
        c = smr_current(s);
        g = (smr_seq_t)(c + k * step);
        cr_assert(smr_poll(s, g, false), "%s: goal %llu steps ahead not "
            "reached", flags_name(*flags), (ull)k);
        cr_assert(smr_current(s) == g, "%s: %llu steps ahead: clock %#llx, "
            "goal %#llx", flags_name(*flags), (ull)k, (ull)smr_current(s),
            (ull)g);
    }
    /* 2^30 rounded up to a whole step: one step in 64-bit debug builds
     * (a step is 2^32 + 512 there), 2^30 itself elsewhere. */
    c = smr_current(s);
    g = (smr_seq_t)(c + (far + step - 1) / step * step);
    if ((smr_seq_t)(g - c) <= 4 * step) {
        cr_assert(smr_poll(s, g, false));
        cr_assert(smr_current(s) == g);
    }
    c = smr_current(s);
    g = (smr_seq_t)(c + far);
#if SMR_SEQ32
    held_start(&h, s, *flags, 0);
    cr_assert(smr_poll(s, g, false), "32-bit: clock + 2^30 not reported "
        "reached");
    cr_assert(smr_wait(s, g));
    cr_assert(smr_current(s) == c, "32-bit: clock + 2^30 moved the clock");
    held_stop(&h);
#elif SMR_CONFIG_DEBUG
    (void)h;
    {
        char buf[4096];
        int status = child_stderr(far_goal_child, NULL, buf, sizeof(buf));

        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT &&
            strstr(buf, "\"far-goal\"") != NULL &&
            strstr(buf, "was never handed out") != NULL,
            "clock + 2^30: status %#x, stderr: %s", status, buf);
    }
#else
    (void)h;
    cr_assert(!smr_poll(s, g, false), "clock + 2^30 reported reached");
    cr_assert(!smr_wait(s, g), "smr_wait(clock + 2^30) returned true");
    cr_assert(smr_current(s) == c, "clock + 2^30 moved the clock");
    g = (smr_seq_t)(c + 5 * step);
    cr_assert(!smr_poll(s, g, false), "5 steps ahead reported reached");
    cr_assert(smr_current(s) == c, "5 steps ahead moved the clock");
#endif
    smr_destroy(s);
}

/* ------------------------------------------------------------------ */
/* Sequence numbers and wrap                                           */
/* ------------------------------------------------------------------ */

Test(seq, macros_across_wrap, .timeout = 30)
{
    const smr_seq_t top = (smr_seq_t)-1;
    const smr_seq_t half = top / 2;   /* largest forward distance */
    smr_seq_t a = top - 2, b = (smr_seq_t)(a + 5); /* b wrapped to 2 */

    cr_assert(b == 2);
    cr_assert(SMR_SEQ_LT(a, b));
    cr_assert(SMR_SEQ_LEQ(a, b));
    cr_assert(SMR_SEQ_GT(b, a));
    cr_assert(SMR_SEQ_GEQ(b, a));
    cr_assert(!SMR_SEQ_GT(a, b));
    cr_assert(!SMR_SEQ_GEQ(a, b));
    cr_assert(!SMR_SEQ_LT(b, a));
    cr_assert(!SMR_SEQ_LEQ(b, a));
    cr_assert(SMR_SEQ_DELTA(b, a) == 5);
    cr_assert(SMR_SEQ_DELTA(a, b) == -5);
    cr_assert(SMR_SEQ_MIN(a, b) == a);
    cr_assert(SMR_SEQ_MAX(a, b) == b);
    cr_assert(SMR_SEQ_MIN(b, a) == a);
    cr_assert(SMR_SEQ_MAX(b, a) == b);
    cr_assert(SMR_SEQ_LEQ(a, a) && SMR_SEQ_GEQ(a, a));
    cr_assert(!SMR_SEQ_LT(a, a) && !SMR_SEQ_GT(a, a));
    cr_assert(SMR_SEQ_DELTA(a, a) == 0);
    /* Half the space ahead still compares as ahead, across the wrap. */
    cr_assert(SMR_SEQ_LT(a, (smr_seq_t)(a + half)));
    cr_assert(SMR_SEQ_GT((smr_seq_t)(a + half), a));
    cr_assert(SMR_SEQ_LT(top, (smr_seq_t)0));
    cr_assert(SMR_SEQ_LT((smr_seq_t)(half), (smr_seq_t)(half + 1)));
    cr_assert(SMR_SEQ_GT((smr_seq_t)(half + 1), (smr_seq_t)half));
    /* Arguments are evaluated with the macro's own casts. */
    cr_assert(SMR_SEQ_LT(top, 1));
}

/* Persistent reader driven by a step counter (for the cycle stress). */
struct toggler {
    smr_t s;
    int flags;
    atomic_int cmd;   /* 1: enter, 2: exit, 3: quit */
    atomic_int state; /* 1: inside, 2: outside */
};

static void *
toggler_main(void *arg)
{
    struct toggler *t = arg;
    uint64_t dl = now_ns() + 25000 * MS;

    for (;;) {
        int c = atomic_load(&t->cmd);
        if (c == 3 || now_ns() > dl)
            break;
        if (c == 1 && atomic_load(&t->state) != 1) {
            sec_enter(t->s, t->flags);
            atomic_store(&t->state, 1);
        } else if (c == 2 && atomic_load(&t->state) == 1) {
            sec_exit(t->s, t->flags);
            atomic_store(&t->state, 2);
        } else {
            sched_yield();
        }
    }
    if (atomic_load(&t->state) == 1)
        sec_exit(t->s, t->flags);
    return NULL;
}

CLOCK_FLAGS(seq, advance_poll_cycles_wrap)
ParameterizedTest(int *flags, seq, advance_poll_cycles_wrap, .timeout = 30)
{
    smr_t s = mk("cycles", *flags);
    struct toggler tg = { .s = s, .flags = *flags };
    pthread_t t;
    smr_seq_t g, prev, first;
    unsigned wraps = 0;

    cr_assert(pthread_create(&t, NULL, toggler_main, &tg) == 0);
    first = prev = smr_current(s);
    for (int i = 0; i < 100000; i++) {
        g = smr_advance(s);
        cr_assert(g != SMR_SEQ_INVALID, "cycle %d: goal is INVALID", i);
        cr_assert(SMR_SEQ_GT(g, prev), "cycle %d: goal %llu not after %llu",
            i, (ull)g, (ull)prev);
        if (g < prev)
            wraps++;
        cr_assert(smr_poll(s, g, false),
            "cycle %d: goal %llu not reached, no reader inside (clock %llu)",
            i, (ull)g, (ull)smr_current(s));
        prev = g;
        if (i % 1000 == 500) {
            /* A reader enters: the next goals are all blocked. */
            atomic_store(&tg.cmd, 1);
            cr_assert(wait_flag(&tg.state, 1, 5000));
            for (int j = 0; j < 10; j++) {
                g = smr_advance(s);
                cr_assert(SMR_SEQ_GT(g, prev));
                if (g < prev)
                    wraps++;
                prev = g;
                cr_assert(!smr_poll(s, g, false),
                    "cycle %d.%d: goal %llu reached with a reader inside",
                    i, j, (ull)g);
            }
            atomic_store(&tg.cmd, 2);
            cr_assert(wait_flag(&tg.state, 2, 5000));
            cr_assert(smr_poll(s, g, false),
                "cycle %d: goal %llu not reached after the reader left",
                i, (ull)g);
        }
    }
    atomic_store(&tg.cmd, 3);
    cr_assert(pthread_join(t, NULL) == 0);
    cr_log_info("cycles %s: clock %llu -> %llu, %u wraps",
        flags_name(*flags), (ull)first, (ull)smr_current(s), wraps);
#if SMR_CONFIG_DEBUG
    cr_assert(wraps > 0, "debug build: the clock (%llu -> %llu) did not "
        "wrap in 100000 advances", (ull)first, (ull)smr_current(s));
#endif
    smr_destroy(s);
}

/* ------------------------------------------------------------------ */
/* Stalled threads (test hooks, SPEC §2 "Preemption inside enter")     */
/* ------------------------------------------------------------------ */

static __thread int tl_stall_at;     /* hook point this thread stalls at */
static atomic_int hook_stalled;      /* the stalled thread is in the hook */
static atomic_int hook_release;      /* main: continue */
static atomic_int hook_seen[4];      /* points the library reported */

static void
stall_hook(smr_t s, int point)
{
    (void)s;
    if (point >= 1 && point <= 3)
        atomic_fetch_add(&hook_seen[point], 1);
    if (tl_stall_at == 0 || tl_stall_at != point)
        return;
    tl_stall_at = 0;
    atomic_store(&hook_stalled, 1);
    while (!atomic_load(&hook_release))
        usleep(100);
}

static void
hook_install(void)
{
    atomic_store(&hook_stalled, 0);
    atomic_store(&hook_release, 0);
    smr__test_hook = stall_hook;
}

/*
 * Clock runs for the stall tests (SPEC §2 "Preemption inside enter", §6).
 * The clock is moved with advance+wait cycles, and the distance it covers
 * is summed from the values observed (each cycle's modular difference), so
 * laps are counted, never derived from the library's increment.  In the
 * 32-bit configuration a stalled thread is held while the clock runs at
 * least STALL_LAPS full laps of the sequence space, and the run then goes
 * on until the clock stands at a chosen place (a window) relative to the
 * stalled thread's stale value: every window a stale value can alias into
 * is a different hazard.  64-bit sequences do not wrap within reach: there
 * a run is 100000 cycles and the window is not looked at.
 */
#define STALL_LAPS 2
#define STALL_SEQ_BITS (8 * sizeof(smr_seq_t))

/* A place for the clock: d = clock - stale value (modular), given the
 * step one cycle moves the clock by.  Each window is at least one step
 * wide, so the clock lands in it once a lap. */
struct clock_window {
    const char *name;
    bool (*at)(smr_seq_t d, smr_seq_t step);
};

/* More than half the space ahead of the stale value: the stale value
 * compares as ahead of the clock (the original half-lap hazard). */
static bool
win_compares_ahead_at(smr_seq_t d, smr_seq_t step)
{
    (void)step;
    return (uint64_t)d > 0xa0000000u && (uint64_t)d < 0xe0000000u;
}

/* One to two steps short of the stale value: it looks like a goal just
 * ahead of the clock. */
static bool
win_just_short_at(smr_seq_t d, smr_seq_t step)
{
    smr_seq_t back = (smr_seq_t)((smr_seq_t)0 - d);

    return back >= step && back < (smr_seq_t)(2 * step);
}

/* Less than one step past the stale value: it looks current. */
static bool
win_just_past_at(smr_seq_t d, smr_seq_t step)
{
    return d < step;
}

/* 2^29 (window one step wide) short of the stale value: it looks 2^29
 * ahead, the reader's re-check distance and half the 32-bit guard. */
static bool
win_far_short_at(smr_seq_t d, smr_seq_t step)
{
    smr_seq_t back = (smr_seq_t)((smr_seq_t)0 - d);
    smr_seq_t q = (smr_seq_t)1 << 29;

    return back >= q && back < (smr_seq_t)(q + step);
}

static const struct clock_window win_ahead = {
    "stale value compares ahead of the clock", win_compares_ahead_at };
static const struct clock_window win_short = {
    "clock laps on, 1-2 steps short of the stale value", win_just_short_at };
static const struct clock_window win_past = {
    "clock laps on, < 1 step past the stale value", win_just_past_at };
static const struct clock_window win_far_short = {
    "clock laps on, 2^29 short of the stale value", win_far_short_at };

/* Windows a test runs through: all of them in 32-bit builds, the first
 * (with a plain 100000-cycle run) where sequences are 64-bit. */
#define STALL_NWIN(a) (SMR_SEQ32 ? sizeof(a) / sizeof((a)[0]) : 1)

struct clock_run {
    smr_seq_t step;         /* what one advance+wait cycle moved the clock by */
    unsigned long cycles;
    unsigned laps;          /* full laps of the sequence space covered */
};

/*
 * Run the clock ahead of `from` (the stalled thread's stale value): at
 * least 100000 advance+wait cycles; in 32-bit builds on for at least
 * STALL_LAPS full laps, and then until clock - from lies in window w.
 */
static struct clock_run
run_clock_to(smr_t s, smr_seq_t from, const struct clock_window *w)
{
    struct clock_run r = { 0, 0, 0 };
    uint64_t dl = now_ns() + 20000 * MS;
    smr_seq_t prev = smr_current(s), cur, g;
#if SMR_SEQ32
    uint64_t dist = 0;      /* sequence units covered */
#endif

    for (;;) {
        g = smr_advance(s);
        cr_assert(smr_wait_timeout(s, g, 5000 * MS),
            "clock run: goal %llu not reached (clock %llu)", (ull)g,
            (ull)smr_current(s));
        cur = smr_current(s);
        cr_assert(SMR_SEQ_GT(cur, prev), "clock run: cycle %lu did not move "
            "the clock (%llu)", r.cycles, (ull)cur);
        r.cycles++;
        if (r.step == 0)
            r.step = (smr_seq_t)(cur - prev);
#if SMR_SEQ32
        dist += (smr_seq_t)(cur - prev);
        r.laps = (unsigned)(dist >> STALL_SEQ_BITS);
        if (r.cycles >= 100000 && r.laps >= STALL_LAPS &&
            w->at((smr_seq_t)(cur - from), r.step))
            break;
        cr_assert(now_ns() < dl, "clock run: %lu cycles, %u laps in 20 s "
            "(want %d laps, then \"%s\")", r.cycles, r.laps, STALL_LAPS,
            w->name);
#else
        (void)dl;
        (void)w;
        if (r.cycles >= 100000)
            break;
#endif
        prev = cur;
    }
    cr_log_info("clock run: %lu cycles of %llu, %u laps, %llu -> %llu "
        "(stale value %llu%s%s)", r.cycles, (ull)r.step, r.laps,
        (ull)from, (ull)smr_current(s), (ull)from,
        SMR_SEQ32 ? ": " : "", SMR_SEQ32 ? w->name : "");
    return r;
}

struct stall_reader {
    smr_t s;
    int flags;
    atomic_int inside;
    atomic_int release;
};

static void *
stall_enter_main(void *arg)
{
    struct stall_reader *r = arg;

    /* Hold the slot first: a thread's first enter on a domain runs out of
     * line (in the library, built without the inline hook). */
    if (smr_thread_attach(r->s) != 0)
        abort();
    tl_stall_at = SMR__HOOK_ENTER_LOADED;
    smr_enter(r->s); /* stalls between the clock load and the publish */
    tl_stall_at = 0;
    atomic_store(&r->inside, 1);
    wait_flag(&r->release, 1, 20000);
    smr_exit(r->s);
    return NULL;
}

/*
 * A reader stalled between its clock load and its publish while the clock
 * runs STALL_LAPS laps and lands in each window: once it is inside, a goal
 * taken after it returned from smr_enter is not reached until it exits.
 */
static const struct clock_window *const enter_windows[] = {
    &win_ahead, &win_short, &win_past, &win_far_short };

CLOCK_FLAGS(stall, enter_between_load_and_publish)
ParameterizedTest(int *flags, stall, enter_between_load_and_publish,
    .timeout = 30)
{
    smr_t s = mk("stall-enter", *flags);

    for (size_t k = 0; k < STALL_NWIN(enter_windows); k++) {
        const struct clock_window *w = enter_windows[k];
        static struct stall_reader r;   /* static: outlives a failed assert */
        pthread_t t;
        smr_seq_t g;

        memset(&r, 0, sizeof(r));
        r.s = s;
        r.flags = *flags;
        hook_install();
        cr_assert(pthread_create(&t, NULL, stall_enter_main, &r) == 0);
        cr_assert(wait_flag(&hook_stalled, 1, 5000),
            "SMR__HOOK_ENTER_LOADED never fired in the inline smr_enter");
        run_clock_to(r.s, smr_current(r.s), w);
        atomic_store(&hook_release, 1);
        cr_assert(wait_flag(&r.inside, 1, 5000));

        /* The reader published a stale clock; a new goal must still wait. */
        g = smr_advance(r.s);
        for (int i = 0; i < 100; i++)
            cr_assert(!smr_poll(r.s, g, false),
                "%s: stale enter: goal %llu reached with the reader inside "
                "(clock %llu)", w->name, (ull)g, (ull)smr_current(r.s));
        cr_assert(!smr_wait_timeout(r.s, g, 20 * MS), "%s: stale enter: "
            "wait for goal %llu returned true with the reader inside",
            w->name, (ull)g);
        for (int i = 0; i < 1000; i++) {
            smr_seq_t g2 = smr_advance(r.s);
            cr_assert(!smr_poll(r.s, g2, false),
                "%s: stale enter: later goal %llu reached, reader inside",
                w->name, (ull)g2);
        }
        atomic_store(&r.release, 1);
        cr_assert(pthread_join(t, NULL) == 0);
        cr_assert(smr_wait_timeout(r.s, g, 5000 * MS),
            "%s: goal not reached after the stale reader left", w->name);
        g = smr_advance(r.s);
        cr_assert(smr_wait_timeout(r.s, g, 5000 * MS));
    }
    smr__test_hook = NULL;
    smr_destroy(s);
}

struct stall_poller {
    smr_t s;
    atomic_int done;
    atomic_int result;
};

static void *
stall_poll_main(void *arg)
{
    struct stall_poller *p = arg;
    smr_seq_t g = smr_advance(p->s);

    tl_stall_at = SMR__HOOK_POLL_BEFORE_CAS;
    atomic_store(&p->result, smr_poll(p->s, g, false));
    tl_stall_at = 0;
    atomic_store(&p->done, 1);
    return NULL;
}

/*
 * A poller stalled between its scan and its read-hand CAS while the clock
 * runs STALL_LAPS laps into window w.  Then a reader enters, goals g1 and
 * g2 are taken (and the clock pushed to them) with the reader inside, so
 * that the stale snapshot can lie between the reader's sequence and the
 * clock, and only then is the poller let go: no goal taken with the reader
 * inside may be reported reached until the reader exits.
 */
static void
stall_poll_run(int flags, const char *name, const struct clock_window *w)
{
    /* Static: helper threads may still look at them after a failed
     * assertion has left this frame. */
    static struct stall_poller p;
    static struct held h;
    pthread_t t;
    smr_seq_t from, g1, g2, g;

    memset(&p, 0, sizeof(p));
    p.s = mk(name, flags);
    hook_install();
    cr_assert(pthread_create(&t, NULL, stall_poll_main, &p) == 0);
    cr_assert(wait_flag(&hook_stalled, 1, 5000),
        "SMR__HOOK_POLL_BEFORE_CAS never fired for a poll that scans");
    from = smr_current(p.s);    /* the stalled poller's clock snapshot */
    run_clock_to(p.s, from, w);
    /* A reader enters with the clock laps ahead of the poller's snapshot. */
    held_start(&h, p.s, flags, 0);
    g1 = smr_advance(p.s);
    cr_assert(!smr_poll(p.s, g1, false), "%s: goal %llu reached with a "
        "reader inside", w->name, (ull)g1);
    g2 = smr_advance(p.s);
    cr_assert(!smr_poll(p.s, g2, false), "%s: goal %llu reached with a "
        "reader inside", w->name, (ull)g2);
    atomic_store(&hook_release, 1);
    cr_assert(pthread_join(t, NULL) == 0);
    cr_assert(atomic_load(&p.done) == 1);

    /* The stale snapshot must not have moved the read hand past the reader. */
    g = smr_advance(p.s);
    for (int i = 0; i < 100; i++) {
        cr_assert(!smr_poll(p.s, g1, false),
            "%s: stale poll CAS (snapshot %llu): goal %llu, taken with a "
            "reader inside, reported reached (clock %llu)", w->name,
            (ull)from, (ull)g1, (ull)smr_current(p.s));
        cr_assert(!smr_poll(p.s, g2, false),
            "%s: stale poll CAS (snapshot %llu): goal %llu, taken with a "
            "reader inside, reported reached (clock %llu)", w->name,
            (ull)from, (ull)g2, (ull)smr_current(p.s));
        cr_assert(!smr_poll(p.s, g, false),
            "%s: stale poll CAS: goal %llu reached with a reader inside "
            "(clock %llu)", w->name, (ull)g, (ull)smr_current(p.s));
    }
    cr_assert(!smr_wait_timeout(p.s, g1, 50 * MS), "%s: stale poll CAS "
        "(snapshot %llu): wait for goal %llu returned true with a reader "
        "inside", w->name, (ull)from, (ull)g1);
    cr_assert(!smr_wait_timeout(p.s, g, 20 * MS));
    held_stop(&h);
    cr_assert(smr_wait(p.s, g1), "goal not reached after the reader left");
    cr_assert(smr_wait_timeout(p.s, g, 5000 * MS),
        "goal not reached after the reader left");
    for (int i = 0; i < 1000; i++) {
        smr_seq_t g3 = smr_advance(p.s);
        cr_assert(smr_poll(p.s, g3, false), "no reader: goal %llu not "
            "reached (clock %llu)", (ull)g3, (ull)smr_current(p.s));
    }
    smr__test_hook = NULL;
    smr_destroy(p.s);
}

static const struct clock_window *const poll_windows[] = {
    &win_ahead, &win_past, &win_far_short };

CLOCK_FLAGS(stall, poll_before_read_hand_cas)
ParameterizedTest(int *flags, stall, poll_before_read_hand_cas, .timeout = 30)
{
    for (size_t k = 0; k < STALL_NWIN(poll_windows); k++)
        stall_poll_run(*flags, "stall-poll", poll_windows[k]);
}

#if SMR_SEQ32
/*
 * The poller's snapshot is whole laps old but compares as just behind the
 * clock: the "snapshot too old" re-check before the CAS is modular, so on
 * its own it cannot tell a snapshot from a lap ago from a fresh one.
 */
CLOCK_FLAGS(stall, poll_snapshot_laps_old)
ParameterizedTest(int *flags, stall, poll_snapshot_laps_old, .timeout = 30)
{
    stall_poll_run(*flags, "stall-poll-lap", &win_short);
}
#endif

struct stall_adv {
    smr_t s;
    atomic_int done;
    smr_seq_t goal;
};

static void *
stall_advance_main(void *arg)
{
    struct stall_adv *a = arg;

    tl_stall_at = SMR__HOOK_ADVANCE_LOADED_RD;
    a->goal = smr_advance(a->s);
    tl_stall_at = 0;
    atomic_store(&a->done, 1);
    return NULL;
}

/*
 * An advance stalled between loading the read hand and its clock RMW while
 * the clock runs STALL_LAPS laps into window w.  A reader then enters; with
 * to_guard (32-bit) advances run the clock up to the guard (clock - read
 * hand at its bound) before the stalled advance is let go, so that a stale
 * read hand aliasing near the clock could push it past the guard.  After:
 * the clock stays within the guard (plus the one step the stalled advance
 * may take), no goal taken with a reader inside is reported reached, the
 * stalled advance's goal included, and advances never block.
 */
static void
stall_advance_run(const struct clock_window *w, bool to_guard)
{
    /* Static: helper threads may still look at them after a failed
     * assertion has left this frame. */
    static struct stall_adv a;
    static struct held h1, h2;
    struct clock_run run = { 0, 0, 0 };
    pthread_t t;
    smr_seq_t g, c0 = 0;
    uint64_t dl, t0;
    bool stalled;

    memset(&a, 0, sizeof(a));
    a.s = mk("stall-adv", 0);
    cr_assert(smr_wait(a.s, smr_advance(a.s)));   /* read hand = clock */
    hook_install();
    cr_assert(pthread_create(&t, NULL, stall_advance_main, &a) == 0);
    dl = now_ns() + 3000 * MS;
    while (!atomic_load(&hook_stalled) && !atomic_load(&a.done) &&
        now_ns() < dl)
        sched_yield();
    stalled = atomic_load(&hook_stalled);
    if (stalled) {
        /* The read hand it loaded is the clock (no advance since). */
        run = run_clock_to(a.s, smr_current(a.s), w);
        c0 = smr_current(a.s);
        held_start(&h1, a.s, 0, 0);     /* publishes c0 */
#if SMR_SEQ32
        if (to_guard) {
            unsigned long n, lim = (1ul << 31) / run.step + 16;
            smr_seq_t before;

            for (n = 0;; n++) {
                before = smr_current(a.s);
                g = smr_advance(a.s);
                if (smr_current(a.s) == before)
                    break;
                cr_assert(n < lim, "%s: %lu advances with a reader inside "
                    "and the clock still moves (%llu, reader at %llu): no "
                    "guard", w->name, n, (ull)smr_current(a.s), (ull)c0);
            }
            cr_assert(g == (smr_seq_t)(before + run.step), "%s: at the "
                "guard smr_advance returned %llu, not one step past the "
                "clock %llu", w->name, (ull)g, (ull)before);
            cr_log_info("%s: guard after %lu advances, clock %llu ahead of "
                "the reader", w->name, n, (ull)(smr_seq_t)(before - c0));
        }
#else
        (void)to_guard;
        (void)run;
        (void)c0;
#endif
        atomic_store(&hook_release, 1);
    } else {
        /* 64-bit advance need not look at the read hand. */
#if SMR_SEQ32
        cr_assert_fail("SMR__HOOK_ADVANCE_LOADED_RD never fired (32-bit "
            "advance must check the read hand)");
#endif
        cr_log_info("SMR__HOOK_ADVANCE_LOADED_RD not on this advance path");
        for (int i = 0; i < 1000; i++)
            cr_assert(smr_wait(a.s, smr_advance(a.s)));
    }
    cr_assert(pthread_join(t, NULL) == 0);
    cr_assert(a.goal != SMR_SEQ_INVALID);

    if (stalled) {
#if SMR_SEQ32
        smr_seq_t ahead = (smr_seq_t)(smr_current(a.s) - c0);

        cr_assert(ahead <= ((smr_seq_t)1 << 30) + 2 * run.step,
            "%s: after the stalled advance the clock %llu is %llu ahead of "
            "a reader inside (at %llu): past the guard", w->name,
            (ull)smr_current(a.s), (ull)ahead, (ull)c0);
#endif
        /* Its clock step came after the reader entered. */
        cr_assert(!smr_poll(a.s, a.goal, false), "%s: stalled advance's "
            "goal %llu reached with a reader inside (clock %llu)", w->name,
            (ull)a.goal, (ull)smr_current(a.s));
    }
    /* A reader entered later blocks a later goal... */
    held_start(&h2, a.s, 0, 0);
    g = smr_advance(a.s);
    for (int i = 0; i < 100; i++)
        cr_assert(!smr_poll(a.s, g, false),
            "%s: after stalled advance: goal %llu reached with a reader "
            "inside", w->name, (ull)g);
    cr_assert(!smr_wait_timeout(a.s, g, 20 * MS));
    /* ...advances never block, and no goal is reached while inside... */
    t0 = now_ns();
    for (int i = 0; i < 1000; i++) {
        smr_seq_t g2 = smr_advance(a.s);
        cr_assert(!smr_poll(a.s, g2, false), "%s: goal %llu reached with "
            "readers inside (clock %llu)", w->name, (ull)g2,
            (ull)smr_current(a.s));
        g = g2;
    }
    cr_assert(now_ns() - t0 < 2000 * MS, "%s: 1000 advances took %llu ms",
        w->name, (ull)((now_ns() - t0) / MS));
    held_stop(&h2);
    if (stalled)
        held_stop(&h1);
    /* ...and goals are reached after they exit, the stalled one included. */
    cr_assert(smr_wait_timeout(a.s, g, 5000 * MS));
    cr_assert(smr_poll(a.s, a.goal, false),
        "stalled advance's goal %llu not reached (clock %llu)",
        (ull)a.goal, (ull)smr_current(a.s));
    for (int i = 0; i < 1000; i++)
        cr_assert(smr_wait_timeout(a.s, smr_advance(a.s), 5000 * MS));
    smr__test_hook = NULL;
    smr_destroy(a.s);
}

static const struct clock_window *const advance_windows[] = {
    &win_ahead, &win_short, &win_past };

Test(stall, advance_between_read_hand_and_clock, .timeout = 30)
{
    for (size_t k = 0; k < STALL_NWIN(advance_windows); k++)
        stall_advance_run(advance_windows[k], false);
}

#if SMR_SEQ32
/* The same with the clock at the guard when the stalled advance resumes. */
Test(stall, advance_stale_read_hand_at_guard, .timeout = 30)
{
    stall_advance_run(&win_far_short, true);
    stall_advance_run(&win_ahead, true);
}
#endif

/* The library reports its slow-path hook points. */
Test(stall, library_hook_points_fire, .timeout = 30)
{
    smr_t s = mk("hooks", 0);
    smr_seq_t g;

    hook_install();
    g = smr_advance(s);
    cr_assert(smr_wait(s, g));
    cr_assert(smr_thread_attach(s) == 0);   /* so the enter below is inline */
    smr_enter(s);
    smr_exit(s);
    smr__test_hook = NULL;
    cr_assert(atomic_load(&hook_seen[SMR__HOOK_ENTER_LOADED]) >= 1,
        "inline enter (SMR_TEST_HOOKS) did not call the hook");
    cr_assert(atomic_load(&hook_seen[SMR__HOOK_POLL_BEFORE_CAS]) >= 1,
        "a scanning poll did not call the hook before its CAS");
    smr_destroy(s);
}

/* ------------------------------------------------------------------ */
/* fork()                                                              */
/* ------------------------------------------------------------------ */

static void *
bg_thread_enter(void *arg)
{
    smr_t s = arg;
    smr_enter(s);
    smr_exit(s);
    return NULL;
}

/* Child side; returns an exit code (0: all good). */
static int
fork_child_work(smr_t s, int flags)
{
    struct smr_stats st;
    pthread_t t;
    smr_seq_t g;
    smr_t n;

    alarm(10); /* waiting for a thread that is not in the child hangs */
    sec_enter(s, flags);
    if (!smr_entered(s))
        return 2;
    sec_exit(s, flags);
    g = smr_advance(s);
    if (!smr_wait(s, g))
        return 3;
    if (!poll_until(s, g, 5000))
        return 4;
    smr_synchronize(s);
    if (pthread_create(&t, NULL, bg_thread_enter, s) != 0 ||
        pthread_join(t, NULL) != 0)
        return 5;
    smr_stats(s, &st);
    if (st.live_slots > 1)
        return 6; /* the parent's threads' slots were not cleared */
    n = smr_create("child", 0, flags);
    if (n == NULL)
        return 7;
    sec_enter(n, flags);
    sec_exit(n, flags);
    g = smr_advance(n);
    if (!smr_wait(n, g))
        return 8;
    smr_synchronize(n);
    smr_destroy(n);
    smr_destroy(s); /* no reader exists in the child */
    return 0;
}

ALL_FLAGS(fork, child_uses_domains)
ParameterizedTest(int *flags, fork, child_uses_domains, .timeout = 30)
{
    smr_t s = mk("forked", *flags);
    struct held h;
    smr_seq_t g;
    int status;
    pid_t pid;

    sec_enter(s, *flags); /* the forking thread holds a slot too */
    sec_exit(s, *flags);
    held_start(&h, s, *flags, 0); /* inside a section across the fork */
    fflush(NULL);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0)
        _exit(fork_child_work(s, *flags));
    cr_assert(waitpid(pid, &status, 0) == pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
        "%s: child failed: %s %d", flags_name(*flags),
        WIFEXITED(status) ? "exit" : "signal",
        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));

    /* The parent is unaffected: its reader still blocks goals. */
    g = smr_advance(s);
    cr_assert(!smr_poll(s, g, false), "parent lost its reader at fork");
    held_stop(&h);
    cr_assert(smr_wait(s, g));
    smr_destroy(s);
}

struct fork_bg {
    smr_t s;
    atomic_int stop;
    atomic_ulong loops;
};

static void *
fork_bg_main(void *arg)
{
    struct fork_bg *b = arg;
    unsigned long n = 0;

    while (!atomic_load(&b->stop)) {
        smr_t d = smr_create("bg", 0, (n % 3 == 0) ? SMR_LAZY : 0);
        pthread_t t;

        if (d != NULL) {
            smr_enter(d);
            smr_enter(b->s);
            smr_exit(b->s);
            smr_exit(d);
            (void)!smr_poll(b->s, smr_advance(b->s), false);
            if (n % 16 == 0 && pthread_create(&t, NULL, bg_thread_enter, d) == 0)
                pthread_join(t, NULL);
            smr_destroy(d);
        }
        n++;
    }
    atomic_store(&b->loops, n);
    return NULL;
}

/* Fork while another thread is busy inside libsmr: no lock is left held in
 * the child. */
#if defined(__SANITIZE_ADDRESS__)
#define SMR_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SMR_TEST_ASAN 1
#endif
#endif

Test(fork, while_busy, .timeout = 30)
{
    struct fork_bg b;
    pthread_t t;
    int status;

#ifdef SMR_TEST_ASAN
    /*
     * ASan's allocator is not fork-safe (GCC 12 libasan): a child forked
     * while another thread allocates can block forever on the sanitizer's
     * own size-class lock (seen in pthread_create -> AsanThread::Init).
     */
    cr_skip_test("ASan allocator locks are not fork-safe");
#endif
    memset(&b, 0, sizeof(b));
    b.s = mk("fork-busy", 0);
    cr_assert(pthread_create(&t, NULL, fork_bg_main, &b) == 0);
    for (int i = 0; i < 30; i++) {
        pid_t pid;

        usleep(2000);
        fflush(NULL);
        pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0)
            _exit(fork_child_work(b.s, 0));
        cr_assert(waitpid(pid, &status, 0) == pid);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "fork %d: child failed: %s %d", i,
            WIFEXITED(status) ? "exit" : "signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    }
    atomic_store(&b.stop, 1);
    cr_assert(pthread_join(t, NULL) == 0);
    cr_assert(atomic_load(&b.loops) > 0);
    smr_destroy(b.s);
}

/* ------------------------------------------------------------------ */
/* Pointer accessors                                                   */
/* ------------------------------------------------------------------ */

struct foo {
    int v;
};

Test(accessors, smr_pointer, .timeout = 30)
{
    smr_t s = mk("ptr", 0);
    SMR_POINTER(struct foo *) p;
    struct foo f1 = { 1 }, f2 = { 2 }, f3 = { 3 };
    struct foo *q;

    smr_unserialized_store(&p, &f1, true);
    q = smr_unserialized_load(&p, true);
    cr_assert(q == &f1);
    smr_serialized_store(&p, &f2, true);
    q = smr_serialized_load(&p, true);
    cr_assert(q == &f2);
    q = smr_serialized_swap(&p, &f3, true);
    cr_assert(q == &f2, "swap returned the wrong old pointer");
    cr_assert(smr_serialized_load(&p, true) == &f3);
    smr_enter(s);
    q = smr_entered_load(&p, s);
    cr_assert(q == &f3 && q->v == 3);
    cr_assert(smr_entered_load(&p, s)->v == 3);
    smr_exit(s);
    smr_serialized_store(&p, NULL, true);
    smr_lazy_enter(s);
    cr_assert(smr_entered_load(&p, s) == NULL);
    smr_lazy_exit(s);
    /* The pointer type is preserved (no void * round trip). */
    _Static_assert(__builtin_types_compatible_p(
        __typeof__(smr_serialized_load(&p, true)), struct foo *),
        "smr_serialized_load loses the type");
    smr_destroy(s);
}

/* `ex` is evaluated in debug builds only. */
Test(accessors, ex_evaluated_only_in_debug, .timeout = 30)
{
    SMR_POINTER(int *) p;
    int v = 0, evals = 0;

    smr_unserialized_store(&p, &v, ++evals > 0);
    (void)smr_unserialized_load(&p, ++evals > 0);
    smr_serialized_store(&p, &v, ++evals > 0);
    (void)smr_serialized_load(&p, ++evals > 0);
    (void)smr_serialized_swap(&p, &v, ++evals > 0);
    cr_assert(evals == (SMR_CONFIG_DEBUG ? 5 : 0), "ex evaluated %d times",
        evals);
}

/* ------------------------------------------------------------------ */
/* Signals: nesting from a handler (SPEC §2)                           */
/* ------------------------------------------------------------------ */

static smr_t sig_smr;
static int sig_flags;
static struct stress *sig_x;
static atomic_ullong sig_runs, sig_bad;

static void
sig_handler(int sig)
{
    int saved = errno;

    (void)sig;
    sec_enter(sig_smr, sig_flags);
    if (!smr_entered(sig_smr))
        atomic_fetch_add(&sig_bad, 1);
    atomic_fetch_add(&sig_bad, pobj_check(smr_entered_load(&sig_x->ptr,
        sig_smr)));
    sec_exit(sig_smr, sig_flags);
    atomic_fetch_add(&sig_runs, 1);
    errno = saved;
}

static void *
sig_reader(void *arg)
{
    struct stress *x = arg;
    unsigned long long n = 0, bad = 0;

    if (smr_thread_attach(x->s) != 0) {
        atomic_fetch_add(&x->violations, 1000000);
        return NULL;
    }
    atomic_store(&x->sections, 1);  /* attached: signals may come */
    while (!atomic_load_explicit(&x->stop, memory_order_relaxed)) {
        sec_enter(x->s, x->flags);
        struct pobj *p = smr_entered_load(&x->ptr, x->s);
        bad += pobj_check(p);
        if (n & 1) {
            sec_enter(x->s, x->flags);
            bad += pobj_check(smr_entered_load(&x->ptr, x->s));
            sec_exit(x->s, x->flags);
        }
        bad += pobj_check(p);
        sec_exit(x->s, x->flags);
        n++;
    }
    if (smr_entered(x->s))
        bad++;
    atomic_fetch_add(&x->violations, bad);
    return NULL;
}

CLOCK_FLAGS(signal, handler_sections_nest)
ParameterizedTest(int *flags, signal, handler_sections_nest, .timeout = 30)
{
    static struct stress x;
    struct sigaction sa;
    struct pobj *freel = NULL, *old;
    pthread_t t;
    uint64_t gen = 1, dl;
    unsigned long swaps = 0;
    smr_seq_t g;

    memset(&x, 0, sizeof(x));
    x.s = mk("signal", *flags);
    x.flags = *flags;
    sig_smr = x.s;
    sig_flags = *flags;
    sig_x = &x;
    smr_serialized_store(&x.ptr, pobj_get(&freel, gen++), true);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = sig_handler;
    sa.sa_flags = SA_RESTART;
    cr_assert(sigaction(SIGUSR1, &sa, NULL) == 0);
    cr_assert(pthread_create(&t, NULL, sig_reader, &x) == 0);
    dl = now_ns() + 5000 * MS;
    while (atomic_load(&x.sections) == 0 && now_ns() < dl)
        sched_yield();
    cr_assert(atomic_load(&x.sections) == 1, "reader did not attach");

    dl = now_ns() + 1000 * MS;
    while (now_ns() < dl) {
        /* Writer: swap, wait, poison, recycle; signal the reader often. */
        old = smr_serialized_swap(&x.ptr, pobj_get(&freel, gen++), true);
        pthread_kill(t, SIGUSR1);
        g = smr_advance(x.s);
        cr_assert(smr_wait_timeout(x.s, g, 5000 * MS));
        atomic_store_explicit(&old->stamp, OBJ_POISON, memory_order_relaxed);
        atomic_store_explicit(&old->gen, 0, memory_order_relaxed);
        old->next = freel;
        freel = old;
        swaps++;
    }
    atomic_store(&x.stop, 1);
    cr_assert(pthread_join(t, NULL) == 0);
    cr_log_info("signal %s: %lu swaps, %llu handler runs", flags_name(*flags),
        swaps, (ull)atomic_load(&sig_runs));
    cr_assert(atomic_load(&x.violations) == 0, "reader violations: %llu",
        (ull)atomic_load(&x.violations));
    cr_assert(atomic_load(&sig_bad) == 0, "handler violations: %llu",
        (ull)atomic_load(&sig_bad));
    cr_assert(atomic_load(&sig_runs) > 10, "handler ran %llu times",
        (ull)atomic_load(&sig_runs));
    g = smr_advance(x.s);
    cr_assert(smr_wait_timeout(x.s, g, 5000 * MS), "slot left published");
    free(smr_serialized_load(&x.ptr, true));
    while (freel != NULL) {
        old = freel->next;
        free(freel);
        freel = old;
    }
    smr_destroy(x.s);
}
