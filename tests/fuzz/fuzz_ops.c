/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * fuzz_ops: single-threaded sequences of libsmr operations decoded from
 * the input bytes, checked against a small reference model.
 *
 * Built two ways:
 *  - libFuzzer target (clang -fsanitize=fuzzer,address,undefined, with
 *    -DSMR_FUZZ_LIBFUZZER; scripts/fuzz builds and runs it);
 *  - a plain program (any compiler) that replays files and directories of
 *    inputs: the committed corpus runs under ctest in every build as a
 *    regression test (fuzz_ops_corpus).
 * The pool and smr_retire ops are compiled in when the library has them
 * (SMR_FUZZ_HAVE_POOL, SMR_FUZZ_HAVE_RETIRE: set by CMake or scripts/fuzz
 * when src/pool.c and src/retire.c exist); otherwise they are no-ops.
 *
 * Input: a byte stream of ops.  Each op is one byte (op % NOPS) followed
 * by its operands, one byte each (missing bytes read as 0).  Domains and
 * pools live in small tables indexed by an operand byte; an op on an empty
 * entry does nothing.  Ops that would be misuse (which aborts by design,
 * SPEC §4) are skipped by the model: destroy with a reader inside or a pool
 * or retire still holding the domain, synchronize/barrier/detach inside a
 * section, blocking waits inside a section in SMR_DEBUG builds.
 *
 * What the model checks (single thread, so no other reader exists):
 *  M1  smr_create: unknown flags, LAZY|DEFERRED or a negative limit give
 *      NULL/EINVAL, everything else a domain; smr_name round-trips;
 *      smr_lazy_is_fence_free is false on non-lazy domains.
 *  M2  smr_entered == (model depth > 0); smr_entered_any == any depth > 0.
 *  M3  A goal handed out while a section was open is NOT reached (poll
 *      false) while that same section is still open.
 *  M4  A goal once reached stays reached (poll true).
 *  M5  With no section open on the domain: smr_wait is true;
 *      smr_wait_timeout is true (64-bit); smr_poll(goal, false) is true on
 *      default, deferred and fenced-fallback lazy domains (64-bit).
 *  M6  In a release build, smr_wait and smr_wait_timeout inside a section
 *      of the same domain return false at once.
 *  M7  After smr_synchronize every earlier goal is reached.
 *  M8  smr_current never goes back and is never SMR_SEQ_INVALID; on default
 *      domains (64-bit) every goal handed out is <= it.
 *  M9  smr_stats: live_slots is 1 after a section or smr_thread_attach,
 *      0 after smr_thread_detach, never above 1; live_slots <= capacity; poll_scan and
 *      poll_fail <= poll; advance equals the model's count while no pool
 *      or retire (which advance on their own) has touched the domain.
 *  M10 Pools: create with size 0 or a non-power-of-two align is
 *      NULL/EINVAL; alloc returns distinct, aligned, writable objects;
 *      in_use matches; an object freed inside a section is neither handed
 *      out again nor passed to the dtor while that section is open.
 *  M11 smr_retire: a callback never runs while a section that was open at
 *      the retire is still open; after smr_barrier every earlier retire has
 *      run and smr_retire_pending is 0; pending equals retired - reclaimed.
 * A failed check prints "fuzz_ops: CHECK FAILED" and aborts.
 */
#include <smr.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXD     4      /* live domains */
#define MAXG     16     /* goals remembered per domain */
#define MAXP     4      /* live pools */
#define MAXOBJ   48     /* objects per pool tracked in use */
#define MAXFREED 256    /* recently freed pool objects tracked */
#define MAXDEPTH 64

#define FUZZ_CHECK(cond, ...)                                           \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "fuzz_ops: CHECK FAILED (%s:%d): %s: ",     \
                __FILE__, __LINE__, #cond);                             \
            fprintf(stderr, __VA_ARGS__);                               \
            fprintf(stderr, "\n");                                      \
            abort();                                                    \
        }                                                               \
    } while (0)

enum {
    OP_CREATE, OP_DESTROY, OP_ENTER, OP_LAZY_ENTER, OP_EXIT, OP_ADVANCE,
    OP_POLL, OP_WAIT, OP_WAIT_TIMEOUT, OP_SYNCHRONIZE, OP_CURRENT, OP_STATS,
    OP_ATTACH, OP_DETACH, OP_ENTERED, OP_INFO, OP_POOL_CREATE, OP_POOL_ALLOC,
    OP_POOL_FREE, OP_POOL_STATS, OP_POOL_RECLAIM, OP_POOL_DESTROY,
    OP_RETIRE, OP_BARRIER, OP_RETIRE_PENDING, OP_ENTERED_LOAD, OP_EXIT_ALL,
    NOPS
};

struct mgoal {
    smr_seq_t goal;
    uint64_t blocked_epoch;     /* section open at the advance, 0: none */
    bool reached;
};

struct mdom {
    smr_t smr;
    uint64_t uid;               /* model's own id, never reused */
    int flags;
    bool fence_free;            /* lazy domain with fence-free readers */
    char name[24];
    unsigned depth;
    uint64_t epoch;             /* bumped at every outermost enter */
    int slot;                   /* 0 none, 1 held, 2 maybe (<= 1) */
    bool foreign;               /* a pool/retire advanced on it */
    uint64_t advances;
    smr_seq_t last_cur;
    struct mgoal goals[MAXG];
    unsigned ngoals;            /* ring: goals[(ngoals - 1) % MAXG] newest */
    unsigned pools;
    uint64_t retired, reclaimed;
};

struct mobj {
    void *p;
    uint64_t uid;               /* domain (0: plain cache) */
    uint64_t epoch;             /* section open at the free, 0: none */
};

struct mpool {
    smr_pool_t pool;
    int dom;                    /* index in g_dom, -1: plain cache */
    uint64_t dom_uid;
    size_t size, align;
    void *inuse[MAXOBJ];
    unsigned ninuse;
};

static struct mdom g_dom[MAXD];
static struct mpool g_pool[MAXP];
static struct mobj g_freed[MAXFREED]; /* pool objects freed, recent */
static unsigned g_nfreed;
static uint64_t g_next_uid = 1;
static SMR_POINTER(int *) g_ptr;
static int g_target = 42;

/* ---- input ------------------------------------------------------------ */

struct input {
    const uint8_t *p;
    size_t n, i;
};

static uint8_t
in_byte(struct input *in)
{
    return in->i < in->n ? in->p[in->i++] : 0;
}

static struct mdom *
in_dom(struct input *in)
{
    struct mdom *d = &g_dom[in_byte(in) % MAXD];

    return d->smr != NULL ? d : NULL;
}

static struct mdom *
dom_by_uid(uint64_t uid)
{
    for (int i = 0; i < MAXD; i++)
        if (g_dom[i].smr != NULL && g_dom[i].uid == uid)
            return &g_dom[i];
    return NULL;
}

/* Is the section that was open (epoch) on domain uid still open? */
static bool
section_still_open(uint64_t uid, uint64_t epoch)
{
    struct mdom *d;

    if (epoch == 0 || (d = dom_by_uid(uid)) == NULL)
        return false;
    return d->depth > 0 && d->epoch == epoch;
}

static bool
any_entered(void)
{
    for (int i = 0; i < MAXD; i++)
        if (g_dom[i].smr != NULL && g_dom[i].depth > 0)
            return true;
    return false;
}

/* Sections and smr_thread_attach always hold a slot (SPEC §2); whether
 * advance, poll, wait or a pool/retire call claims one is the library's
 * business: after those the model only knows "at most one". */
static void
slot_held(struct mdom *d)
{
    d->slot = 1;
}

static void
slot_maybe(struct mdom *d)
{
    if (d->slot == 0)
        d->slot = 2;
}

/* ---- goals ------------------------------------------------------------ */

static void
goal_add(struct mdom *d, smr_seq_t g)
{
    struct mgoal *mg = &d->goals[d->ngoals++ % MAXG];

    FUZZ_CHECK(g != SMR_SEQ_INVALID, "smr_advance returned SMR_SEQ_INVALID");
    mg->goal = g;
    mg->blocked_epoch = d->depth > 0 ? d->epoch : 0;
    mg->reached = false;
}

static struct mgoal *
goal_pick(struct mdom *d, uint8_t b)
{
    unsigned n = d->ngoals < MAXG ? d->ngoals : MAXG;

    if (n == 0)
        return NULL;
    /* Mostly recent goals: index back from the newest. */
    return &d->goals[(d->ngoals - 1 - b % n) % MAXG];
}

static bool
goal_blocked_now(const struct mdom *d, const struct mgoal *g)
{
    return g->blocked_epoch != 0 && d->depth > 0 &&
        d->epoch == g->blocked_epoch;
}

static void
goals_all_reached(struct mdom *d)
{
    for (unsigned i = 0; i < MAXG; i++)
        d->goals[i].reached = true;
}

/* A poll/wait result against the model (M3, M4). */
static void
goal_result(struct mdom *d, struct mgoal *g, bool ok, const char *what)
{
    FUZZ_CHECK(!(g->reached && !ok), "%s: goal %#llx was reached before, "
        "now it is not", what, (unsigned long long)g->goal);
    FUZZ_CHECK(!(ok && goal_blocked_now(d, g)), "%s: goal %#llx reached "
        "while the section open at its advance is still open", what,
        (unsigned long long)g->goal);
    if (ok)
        g->reached = true;
}

/* ---- pools ------------------------------------------------------------- */

#ifdef SMR_FUZZ_HAVE_POOL
static struct mobj *
freed_find(void *p)
{
    for (unsigned i = 0; i < MAXFREED && i < g_nfreed; i++)
        if (g_freed[i].p == p)
            return &g_freed[i];
    return NULL;
}

static void
freed_forget(void *p)
{
    struct mobj *m = freed_find(p);

    if (m != NULL)
        m->p = NULL;
}

static void
pool_dtor(void *obj, void *arg)
{
    struct mobj *m = freed_find(obj);

    (void)arg;
    if (m != NULL)
        FUZZ_CHECK(!section_still_open(m->uid, m->epoch), "pool dtor ran on "
            "%p while the section open at its free is still open", obj);
}

static void
pool_free_one(struct mpool *mp, unsigned i)
{
    void *p = mp->inuse[i];
    struct mdom *d = mp->dom >= 0 ? &g_dom[mp->dom] : NULL;
    struct mobj *m;

    if (mp->dom >= 0) {
        /* Remember it in the ring of freed objects. */
        freed_forget(p);
        m = &g_freed[g_nfreed++ % MAXFREED];
        m->p = p;
        m->uid = mp->dom_uid;
        m->epoch = d->depth > 0 ? d->epoch : 0;
        slot_maybe(d);
        d->foreign = true;
    }
    mp->inuse[i] = mp->inuse[--mp->ninuse];
    smr_pool_free(mp->pool, p);
}

static void
pool_destroy_one(struct mpool *mp)
{
    while (mp->ninuse > 0)
        pool_free_one(mp, mp->ninuse - 1);
    if (mp->dom >= 0) {
        FUZZ_CHECK(g_dom[mp->dom].depth == 0, "model: pool destroy inside");
        g_dom[mp->dom].pools--;
        slot_maybe(&g_dom[mp->dom]);
    }
    smr_pool_destroy(mp->pool);
    mp->pool = NULL;
}
#endif

static void
op_pool(int op, struct input *in)
{
#ifdef SMR_FUZZ_HAVE_POOL
    struct mpool *mp = &g_pool[in_byte(in) % MAXP];
    struct smr_pool_stats st;

    switch (op) {
    case OP_POOL_CREATE: {
        uint8_t db = in_byte(in), sb = in_byte(in), ab = in_byte(in);
        struct smr_pool_args a;
        struct mdom *d = (db & 0x80) ? NULL : &g_dom[db % MAXD];
        bool bad;

        if (mp->pool != NULL)
            return;
        if (d != NULL && d->smr == NULL)
            d = NULL;
        memset(&a, 0, sizeof(a));
        a.size = (sb & 0x80) ? (size_t)(sb & 0x7f) * 64 : sb;
        /* align: 0, powers of two up to 4096, or a bad value (3, 24) */
        a.align = (ab & 15) < 13 ? (ab & 15) == 0 ? 0 :
            (size_t)1 << ((ab & 15) - 1) : (ab & 1) ? 3 : 24;
        a.smr = d != NULL ? d->smr : NULL;
        a.dtor = pool_dtor;
        a.bucket_max = (ab >> 4) & 7;     /* 0: default */
        bad = a.size == 0 || (a.align & (a.align - 1)) != 0;
        errno = 0;
        mp->pool = smr_pool_create_args("fuzz", &a);
        if (bad) {
            FUZZ_CHECK(mp->pool == NULL && errno == EINVAL, "pool create "
                "size %zu align %zu: want NULL/EINVAL", a.size, a.align);
            return;
        }
        FUZZ_CHECK(mp->pool != NULL, "pool create size %zu align %zu "
            "failed: %s", a.size, a.align, strerror(errno));
        mp->dom = d != NULL ? (int)(d - g_dom) : -1;
        mp->dom_uid = d != NULL ? d->uid : 0;
        mp->size = a.size;
        mp->align = a.align;
        mp->ninuse = 0;
        if (d != NULL)
            d->pools++;
        return;
    }
    default:
        break;
    }
    if (mp->pool == NULL)
        return;
    switch (op) {
    case OP_POOL_ALLOC: {
        void *p;
        struct mobj *m;

        if (mp->ninuse == MAXOBJ)
            return;
        p = smr_pool_alloc(mp->pool);
        FUZZ_CHECK(p != NULL, "smr_pool_alloc: %s", strerror(errno));
        if (mp->align != 0)
            FUZZ_CHECK(((uintptr_t)p & (mp->align - 1)) == 0, "alloc %p not "
                "aligned to %zu", p, mp->align);
        for (unsigned i = 0; i < mp->ninuse; i++)
            FUZZ_CHECK(mp->inuse[i] != p, "alloc returned %p twice", p);
        if ((m = freed_find(p)) != NULL) {
            FUZZ_CHECK(!section_still_open(m->uid, m->epoch), "alloc reused "
                "%p while the section open at its free is still open", p);
            m->p = NULL;
        }
        memset(p, 0xa5, mp->size);      /* ASan: the whole size is ours */
        mp->inuse[mp->ninuse++] = p;
        if (mp->dom >= 0) {
            g_dom[mp->dom].foreign = true;
            slot_maybe(&g_dom[mp->dom]);
        }
        break;
    }
    case OP_POOL_FREE:
        if (mp->ninuse > 0)
            pool_free_one(mp, in_byte(in) % mp->ninuse);
        break;
    case OP_POOL_STATS:
        smr_pool_stats(mp->pool, &st);
        FUZZ_CHECK(st.in_use == mp->ninuse, "pool in_use %zu, model %u",
            st.in_use, mp->ninuse);
        FUZZ_CHECK(st.size >= mp->size, "pool size %zu < %zu", st.size,
            mp->size);
        if (mp->dom >= 0)
            slot_maybe(&g_dom[mp->dom]);
        break;
    case OP_POOL_RECLAIM:
        smr_pool_reclaim(mp->pool);
        if (mp->dom >= 0) {
            g_dom[mp->dom].foreign = true;
            slot_maybe(&g_dom[mp->dom]);
        }
        break;
    case OP_POOL_DESTROY:
        if (mp->dom >= 0 && g_dom[mp->dom].depth > 0)
            return;     /* would abort if anything is pending */
        pool_destroy_one(mp);
        break;
    }
#else
    (void)op;
    (void)in;
#endif
}

/* ---- smr_retire -------------------------------------------------------- */

#ifdef SMR_FUZZ_HAVE_RETIRE
struct rrec {
    uint64_t uid;
    uint64_t epoch;
};

static void
retire_cb(void *p)
{
    struct rrec *r = p;
    struct mdom *d = dom_by_uid(r->uid);

    FUZZ_CHECK(!section_still_open(r->uid, r->epoch), "smr_retire callback "
        "ran while the section open at the retire is still open");
    if (d != NULL)
        d->reclaimed++;
    free(r);
}
#endif

static void
op_retire(int op, struct mdom *d)
{
#ifdef SMR_FUZZ_HAVE_RETIRE
    struct rrec *r;

    slot_maybe(d);
    switch (op) {
    case OP_RETIRE:
        r = malloc(sizeof(*r));
        FUZZ_CHECK(r != NULL, "malloc");
        r->uid = d->uid;
        r->epoch = d->depth > 0 ? d->epoch : 0;
        d->retired++;
        d->foreign = true;
        smr_retire(d->smr, r, retire_cb);
        break;
    case OP_BARRIER:
        if (d->depth > 0)
            return;     /* aborts by design */
        smr_barrier(d->smr);
        FUZZ_CHECK(d->reclaimed == d->retired, "after smr_barrier %llu of "
            "%llu retires ran", (unsigned long long)d->reclaimed,
            (unsigned long long)d->retired);
        FUZZ_CHECK(smr_retire_pending(d->smr) == 0, "pending after barrier");
        break;
    case OP_RETIRE_PENDING:
        FUZZ_CHECK(smr_retire_pending(d->smr) == d->retired - d->reclaimed,
            "smr_retire_pending %zu, model %llu",
            smr_retire_pending(d->smr),
            (unsigned long long)(d->retired - d->reclaimed));
        break;
    }
#else
    (void)op;
    (void)d;
#endif
}

/* ---- domains ----------------------------------------------------------- */

static void
dom_destroy(struct mdom *d)
{
#ifdef SMR_FUZZ_HAVE_RETIRE
    if (d->retired != d->reclaimed)
        op_retire(OP_BARRIER, d);
#endif
    smr_destroy(d->smr);
    memset(d, 0, sizeof(*d));
}

static void
op_create(struct input *in)
{
    uint8_t fb = in_byte(in), lb = in_byte(in);
    int flags = fb & 7, limit = (int8_t)lb;
    bool bad = (flags & 4) != 0 || (flags & 3) == 3 || limit < 0;
    struct mdom *d = NULL;
    char name[24];
    smr_t smr;

    if (fb & 0x80) {
        flags |= 0x100;         /* another unknown bit */
        bad = true;
    }
    for (int i = 0; i < MAXD; i++)
        if (g_dom[i].smr == NULL) {
            d = &g_dom[i];
            break;
        }
    if (d == NULL && !bad)
        return;                 /* table full */
    snprintf(name, sizeof(name), "fz%llu", (unsigned long long)g_next_uid);
    errno = 0;
    smr = smr_create(name, limit, flags);
    if (bad) {
        FUZZ_CHECK(smr == NULL && errno == EINVAL, "smr_create(flags %#x, "
            "limit %d): want NULL/EINVAL", flags, limit);
        return;
    }
    FUZZ_CHECK(smr != NULL, "smr_create(flags %#x, limit %d): %s", flags,
        limit, strerror(errno));
    d->smr = smr;
    memcpy(d->name, name, sizeof(name));
    d->uid = g_next_uid++;
    d->flags = flags;
    d->fence_free = smr_lazy_is_fence_free(smr);
    FUZZ_CHECK(!d->fence_free || (flags & SMR_LAZY), "fence-free non-lazy");
    d->last_cur = smr_current(smr);
    FUZZ_CHECK(strcmp(smr_name(smr), d->name) == 0, "smr_name");
}

static void
check_entered(struct mdom *d)
{
    FUZZ_CHECK(smr_entered(d->smr) == (d->depth > 0), "smr_entered %d, "
        "model depth %u", smr_entered(d->smr), d->depth);
    FUZZ_CHECK(smr_entered_any() == any_entered(), "smr_entered_any");
}

static void
op_dom(int op, struct mdom *d, struct input *in)
{
    struct mgoal *g;
    struct smr_stats st;
    smr_seq_t c;
    bool ok;

    switch (op) {
    case OP_DESTROY:
        if (d->depth > 0 || d->pools > 0)
            return;     /* aborts by design */
        dom_destroy(d);
        return;
    case OP_ENTER:
    case OP_LAZY_ENTER:
        if (d->depth == MAXDEPTH)
            return;
        if (op == OP_ENTER)
            smr_enter(d->smr);
        else
            smr_lazy_enter(d->smr);
        if (d->depth++ == 0)
            d->epoch = g_next_uid++;
        slot_held(d);
        break;
    case OP_EXIT:
        if (d->depth == 0)
            return;     /* aborts by design */
        if (d->depth & 1)
            smr_exit(d->smr);
        else
            smr_lazy_exit(d->smr);
        d->depth--;
        break;
    case OP_EXIT_ALL:
        while (d->depth > 0) {
            smr_exit(d->smr);
            d->depth--;
        }
        break;
    case OP_ADVANCE:
        goal_add(d, smr_advance(d->smr));
        d->advances++;
        slot_maybe(d);
        break;
    case OP_POLL:
        if ((g = goal_pick(d, in_byte(in))) == NULL)
            return;
        ok = smr_poll(d->smr, g->goal, false);
        slot_maybe(d);
        goal_result(d, g, ok, "smr_poll");
#if !SMR_SEQ32
        if (d->depth == 0 && !d->fence_free)
            FUZZ_CHECK(ok, "smr_poll(goal %#llx, false) false with no "
                "section open (flags %#x)", (unsigned long long)g->goal,
                d->flags);
#endif
        break;
    case OP_WAIT:
    case OP_WAIT_TIMEOUT: {
        uint8_t gb = in_byte(in), nb = in_byte(in);
        uint64_t ns = (uint64_t)nb * 1000;

        if ((g = goal_pick(d, gb)) == NULL)
            return;
#if SMR_CONFIG_DEBUG
        /* Inside: aborts in debug builds.  Inside another domain's
         * section: legal, but debug builds warn on every call. */
        if (any_entered())
            return;
#endif
        if (op == OP_WAIT_TIMEOUT)
            ok = smr_wait_timeout(d->smr, g->goal, ns);
        else if (nb & 1)
            ok = smr_poll(d->smr, g->goal, true);
        else
            ok = smr_wait(d->smr, g->goal);
        slot_maybe(d);
        if (d->depth > 0) {
            /* Misuse, reported: false at once, reached goal or not. */
            FUZZ_CHECK(!ok, "wait inside own section returned true (M6)");
            break;
        }
        goal_result(d, g, ok, "smr_wait");
        if (op == OP_WAIT || !SMR_SEQ32)
            FUZZ_CHECK(ok, "wait with no section open returned false");
        break;
    }
    case OP_SYNCHRONIZE:
        if (d->depth > 0)
            return;     /* aborts by design */
#if SMR_CONFIG_DEBUG
        if (any_entered())
            return;     /* legal, but debug builds warn on every call */
#endif
        smr_synchronize(d->smr);
        d->advances++;
        goals_all_reached(d);
        slot_maybe(d);
        break;
    case OP_CURRENT:
        c = smr_current(d->smr);
        FUZZ_CHECK(c != SMR_SEQ_INVALID, "smr_current is SMR_SEQ_INVALID");
        FUZZ_CHECK(SMR_SEQ_GEQ(c, d->last_cur), "smr_current went back");
        d->last_cur = c;
#if !SMR_SEQ32
        if ((d->flags & (SMR_LAZY | SMR_DEFERRED)) == 0)
            for (unsigned i = 0; i < MAXG && i < d->ngoals; i++)
                FUZZ_CHECK(SMR_SEQ_LEQ(d->goals[i].goal, c), "default "
                    "goal %#llx ahead of the clock %#llx",
                    (unsigned long long)d->goals[i].goal,
                    (unsigned long long)c);
#endif
        break;
    case OP_STATS:
        smr_stats(d->smr, &st);
        FUZZ_CHECK(st.live_slots <= st.slot_capacity, "live > capacity");
        FUZZ_CHECK(st.poll_scan <= st.poll && st.poll_fail <= st.poll,
            "poll counters");
        if (d->slot != 2)
            FUZZ_CHECK(st.live_slots == (uint64_t)d->slot, "live_slots %llu,"
                " model %d", (unsigned long long)st.live_slots, d->slot);
        else
            FUZZ_CHECK(st.live_slots <= 1, "live_slots %llu, one thread",
                (unsigned long long)st.live_slots);
        if (!d->foreign)
            FUZZ_CHECK(st.advance == d->advances, "advance count %llu, "
                "model %llu", (unsigned long long)st.advance,
                (unsigned long long)d->advances);
        else
            FUZZ_CHECK(st.advance >= d->advances, "advance count %llu < "
                "model %llu", (unsigned long long)st.advance,
                (unsigned long long)d->advances);
        break;
    case OP_ATTACH:
        FUZZ_CHECK(smr_thread_attach(d->smr) == 0, "smr_thread_attach");
        slot_held(d);
        break;
    case OP_DETACH:
        if (d->depth > 0)
            return;     /* aborts by design */
        smr_thread_detach(d->smr);
        d->slot = 0;
        break;
    case OP_ENTERED:
        break;
    case OP_INFO:
        FUZZ_CHECK(strcmp(smr_name(d->smr), d->name) == 0, "smr_name");
        FUZZ_CHECK(smr_lazy_is_fence_free(d->smr) == d->fence_free,
            "smr_lazy_is_fence_free changed");
        FUZZ_CHECK(smr_version() == SMR_VERSION, "smr_version");
        FUZZ_CHECK(smr_thread_attach(NULL) == EINVAL, "attach(NULL)");
        break;
    case OP_ENTERED_LOAD:
        if (d->depth == 0)
            return;
        FUZZ_CHECK(smr_entered_load(&g_ptr, d->smr) == &g_target,
            "smr_entered_load");
        break;
    case OP_RETIRE:
    case OP_BARRIER:
    case OP_RETIRE_PENDING:
        op_retire(op, d);
        break;
    }
    check_entered(d);
}

/* Leave every section, drop every pool, barrier and destroy every domain. */
static void
teardown(void)
{
    for (int i = 0; i < MAXD; i++)
        while (g_dom[i].smr != NULL && g_dom[i].depth > 0) {
            smr_exit(g_dom[i].smr);
            g_dom[i].depth--;
        }
#ifdef SMR_FUZZ_HAVE_POOL
    for (int i = 0; i < MAXP; i++)
        if (g_pool[i].pool != NULL)
            pool_destroy_one(&g_pool[i]);
#endif
    for (int i = 0; i < MAXD; i++)
        if (g_dom[i].smr != NULL)
            dom_destroy(&g_dom[i]);
    FUZZ_CHECK(!smr_entered_any(), "entered after teardown");
    memset(g_pool, 0, sizeof(g_pool));
    memset(g_freed, 0, sizeof(g_freed));
    g_nfreed = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = { data, size, 0 };

    smr_unserialized_store(&g_ptr, &g_target, true);
    while (in.i < in.n) {
        int op = in_byte(&in) % NOPS;
        struct mdom *d;

        switch (op) {
        case OP_CREATE:
            op_create(&in);
            break;
        case OP_POOL_CREATE:
        case OP_POOL_ALLOC:
        case OP_POOL_FREE:
        case OP_POOL_STATS:
        case OP_POOL_RECLAIM:
        case OP_POOL_DESTROY:
            op_pool(op, &in);
            break;
        default:
            if ((d = in_dom(&in)) != NULL)
                op_dom(op, d, &in);
            break;
        }
    }
    teardown();
    return 0;
}

#ifndef SMR_FUZZ_LIBFUZZER
/* Replay: fuzz_ops FILE|DIR...  (the ctest corpus regression). */
#include <dirent.h>
#include <sys/stat.h>

static int
run_file(const char *path)
{
    static uint8_t buf[1 << 20];
    FILE *f = fopen(path, "rb");
    size_t n;

    if (f == NULL) {
        perror(path);
        return 1;
    }
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    return 0;
}

int
main(int argc, char **argv)
{
    unsigned runs = 0;
    int err = 0;

    for (int a = 1; a < argc; a++) {
        struct stat sb;
        DIR *dir;
        struct dirent *e;

        if (stat(argv[a], &sb) != 0) {
            perror(argv[a]);
            return 2;
        }
        if (!S_ISDIR(sb.st_mode)) {
            err |= run_file(argv[a]);
            runs++;
            continue;
        }
        if ((dir = opendir(argv[a])) == NULL) {
            perror(argv[a]);
            return 2;
        }
        while ((e = readdir(dir)) != NULL) {
            char path[4096];

            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "%s/%s", argv[a], e->d_name);
            err |= run_file(path);
            runs++;
        }
        closedir(dir);
    }
    printf("fuzz_ops: %u inputs replayed: %s\n", runs, err ? "FAIL" : "PASS");
    return err || runs == 0 ? 1 : 0;
}
#endif
