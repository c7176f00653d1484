/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * bench_user: bench_enter's measurement in the layout a user's program
 * has (issue 17).  bench_enter places its data so that no section store
 * can 4K-alias the body's loads and keeps the domain in a register; here
 * nothing is placed.  The domain handles are plain global smr_t variables
 * read where the loop names them, the shared pointer and the object are
 * plain globals, per-thread state is where each library puts it (libsmr's
 * table, urcu-memb's TLS reader, a `__thread` ck_epoch record, a
 * `__thread` slot for the bare xchg), and the program is meant to be built
 * `cc -O2` against the installed header (scripts/bench-user does that).
 *
 * Every scheme runs `enter; p = load_acquire(g_shared); sink += p->v; exit`
 * in a tight loop:
 *
 *   smr inline        smr_enter(g_smr) / smr_exit(g_smr), header fast path
 *   smr exported      the same loop in bench_user_exported.c, compiled
 *                     with -DSMR_NO_INLINE: calls to libsmr's exported
 *                     smr_enter/smr_exit
 *   smr lazy          smr_lazy_enter(g_smr_lazy) / smr_lazy_exit on an
 *                     SMR_LAZY domain
 *   bare xchg         xchg(__thread slot, relaxed load of a global clock);
 *                     release store of 0
 *   urcu-memb         urcu_memb_read_lock/unlock (_LGPL_SOURCE inline)
 *   ck_epoch          ck_epoch_begin/end(rec, NULL)
 *   smr static lazy/fenced
 *                     smr_static_enter/smr_static_exit on domains declared
 *                     with SMR_DEFINE_STATIC_LAZY / SMR_DEFINE_STATIC
 *                     (library API: the thread's word through the
 *                     program's own __thread pointer, the clock in the
 *                     declared object)
 *   PROTO lazy/fenced hand-written PROTOTYPES, not library API: what a
 *                     statically declared domain whose per-thread word is
 *                     the program's own `__thread` variable (like Linux's
 *                     DEFINE_STATIC_SRCU) would run.  Same word encoding
 *                     and branches as smr.h; no domain pointer, no offset,
 *                     no table pointer.  Nobody polls them: they measure
 *                     the read path only.
 *
 * --explain adds diagnostic rows ("x ..."), each the lazy or fenced pair
 * with one cost taken away, so the difference between smr lazy and the
 * PROTO row can be split (docs/BENCHMARKS.md, bench_user).  They use the
 * header's reserved inline helpers (smr__word, smr__enter_word,
 * smr__exit_word, smr__self); they are measurements, not API.
 *
 * Method as bench_enter: T hwloc-pinned workers, R rounds, scheme order
 * shuffled per round, N pairs per thread per scheme per round, timed per
 * thread with CLOCK_MONOTONIC and CLOCK_THREAD_CPUTIME_ID; a round's value
 * is the max over threads; tables give the median over rounds, the
 * min-max, and ratios of medians.  No writer runs.
 *
 * The run header prints the page offset (address bits 11:0) of every
 * address each scheme's loop loads or stores, and names every load that
 * overlaps a store of the same loop in those bits (a 4K alias: Intel
 * cores hold such a load back while the full addresses are compared, a
 * few cycles each time).  --alias lazy|fenced makes one on purpose: the
 * object moves to the page offset of thread 0's lazy or fenced word.
 */
#define _GNU_SOURCE
#define _LGPL_SOURCE

#include <dlfcn.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hwloc.h>
#include <urcu/urcu-memb.h>
#include <ck_epoch.h>

#include <smr.h>

#include "bench_util.h"

/* ---- the user's data: plain globals, nothing placed --------------------- */

struct user_obj {
    uint64_t v;
};
static struct user_obj g_obj = {1};
/* Not static: bench_user_exported.c's loop uses them too. */
struct user_obj *g_shared = &g_obj;
smr_t g_smr;
static smr_t g_smr_lazy;
SMR_DEFINE_STATIC_LAZY(g_static_lazy);
SMR_DEFINE_STATIC(g_static_fenced);

static ck_epoch_t g_epoch;
static __thread ck_epoch_record_t t_rec;

/* Bare xchg: a clock and a per-thread slot. */
static uint64_t g_clock = 1;
static __thread uint64_t t_xslot;

uint64_t bench_user_run_exported(uint64_t n);

/* ---- PROTOTYPE (not library API): a statically declared domain --------- */

/*
 * What `SMR_DEFINE_STATIC(name)` could compile to: the domain's clock is a
 * global of the program and each thread's word for the domain is a
 * `__thread` variable of the program (local-exec TLS in an executable,
 * `%fs:OFFSET`), registered with the domain at the thread's first section
 * (not modelled here).  Enter and exit are smr.h's: one load and one store
 * of the word, the low 8 bits the depth.  The out-of-line cases abort:
 * this loop never nests.
 */
static uint64_t g_proto_clock = 256;            /* a sequence: k * 256 */
static __thread uint64_t t_proto_lazy_word;
static __thread uint64_t t_proto_fenced_word;

static __attribute__((noinline, noreturn)) void
proto_slow(void)
{
    fprintf(stderr, "bench_user: prototype word out of its fast path\n");
    abort();
}

static inline __attribute__((always_inline)) void
proto_lazy_enter(void)
{
    uint64_t x = __atomic_load_n(&t_proto_lazy_word, __ATOMIC_RELAXED);

    if (__builtin_expect(x == 0, 1)) {
        uint64_t v = __atomic_load_n(&g_proto_clock, __ATOMIC_ACQUIRE);
        __atomic_store_n(&t_proto_lazy_word, v + 1, __ATOMIC_RELAXED);
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
    } else if ((x & 0xff) != 0xff) {
        __atomic_store_n(&t_proto_lazy_word, x + 1, __ATOMIC_RELAXED);
    } else {
        proto_slow();
    }
}

static inline __attribute__((always_inline)) void
proto_fenced_enter(void)
{
    uint64_t x = __atomic_load_n(&t_proto_fenced_word, __ATOMIC_RELAXED);

    if (__builtin_expect(x == 0, 1)) {
        uint64_t v = __atomic_load_n(&g_proto_clock, __ATOMIC_RELAXED) + 1;
        /* As smr__store_fence_sl on x86-64: xchg, then the same value
         * again with a plain store so the exit's load forwards. */
        (void)__atomic_exchange_n(&t_proto_fenced_word, v, __ATOMIC_SEQ_CST);
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        __atomic_store_n(&t_proto_fenced_word, v, __ATOMIC_RELAXED);
    } else if ((x & 0xff) != 0xff) {
        __atomic_store_n(&t_proto_fenced_word, x + 1, __ATOMIC_RELAXED);
    } else {
        proto_slow();
    }
}

#define PROTO_EXIT(word)                                                \
    do {                                                                \
        uint64_t x_ = __atomic_load_n(&(word), __ATOMIC_RELAXED);       \
        if (__builtin_expect((uint8_t)x_ == 1, 1)) {                    \
            __atomic_thread_fence(__ATOMIC_RELEASE);                    \
            __atomic_store_n(&(word), 0, __ATOMIC_RELAXED);             \
        } else if ((uint8_t)(x_ - 2) < 0xfd) {                          \
            __atomic_store_n(&(word), x_ - 1, __ATOMIC_RELAXED);        \
        } else {                                                        \
            proto_slow();                                               \
        }                                                               \
    } while (0)

/* ---- schemes -------------------------------------------------------------- */

enum scheme {
    S_SMR_INLINE,
    S_SMR_EXPORTED,
    S_SMR_LAZY,
    S_XCHG,
    S_URCU_MEMB,
    S_CK_EPOCH,
    S_STATIC_LAZY,
    S_STATIC_FENCED,
    S_PROTO_LAZY,
    S_PROTO_FENCED,
    NMAIN,
    /* --explain only */
    X_LAZY_LOCAL = NMAIN,
    X_FENCED_LOCAL,
    X_LAZY_SELF_HOISTED,
    X_LAZY_ONE_LOOKUP,
    X_EXPORTED_FNPTR,
    X_EMPTY_CALLS,
    X_BODY,
    NSCHEME
};

static const char *const scheme_name[NSCHEME] = {
    [S_SMR_INLINE] = "smr_enter/exit (inline)",
    [S_SMR_EXPORTED] = "smr_enter/exit (exported call)",
    [S_SMR_LAZY] = "smr_lazy_enter/exit",
    [S_XCHG] = "bare xchg publish",
    [S_URCU_MEMB] = "urcu-memb read_lock/unlock",
    [S_CK_EPOCH] = "ck_epoch_begin/end",
    [S_STATIC_LAZY] = "smr_static_enter/exit, lazy",
    [S_STATIC_FENCED] = "smr_static_enter/exit, fenced",
    [S_PROTO_LAZY] = "PROTO static domain, lazy",
    [S_PROTO_FENCED] = "PROTO static domain, fenced",
    [X_LAZY_LOCAL] = "x lazy, domain in a local",
    [X_FENCED_LOCAL] = "x fenced, domain in a local",
    [X_LAZY_SELF_HOISTED] = "x lazy, smr__self hoisted",
    [X_LAZY_ONE_LOOKUP] = "x lazy, one lookup per section",
    [X_EXPORTED_FNPTR] = "x exported, fn pointers",
    [X_EMPTY_CALLS] = "x two empty calls, fn pointers",
    [X_BODY] = "x body alone, no section",
};
static const char *const scheme_key[NSCHEME] = {
    [S_SMR_INLINE] = "smr_inline",
    [S_SMR_EXPORTED] = "smr_exported",
    [S_SMR_LAZY] = "smr_lazy",
    [S_XCHG] = "xchg",
    [S_URCU_MEMB] = "urcu_memb",
    [S_CK_EPOCH] = "ck_epoch",
    [S_STATIC_LAZY] = "smr_static_lazy",
    [S_STATIC_FENCED] = "smr_static_fenced",
    [S_PROTO_LAZY] = "proto_static_lazy",
    [S_PROTO_FENCED] = "proto_static_fenced",
    [X_LAZY_LOCAL] = "x_lazy_local",
    [X_FENCED_LOCAL] = "x_fenced_local",
    [X_LAZY_SELF_HOISTED] = "x_lazy_self_hoisted",
    [X_LAZY_ONE_LOOKUP] = "x_lazy_one_lookup",
    [X_EXPORTED_FNPTR] = "x_exported_fnptr",
    [X_EMPTY_CALLS] = "x_empty_calls_fnptr",
    [X_BODY] = "x_body_alone",
};
static int g_on[NSCHEME];           /* run in this invocation */

#define BODY(sink) ((sink) += __atomic_load_n(&g_shared, __ATOMIC_ACQUIRE)->v)

/* One noinline loop per scheme, as a user's function would be. */
static __attribute__((noinline)) uint64_t
run_smr_inline(uint64_t n)
{
    uint64_t sink = 0;

    for (uint64_t i = 0; i < n; i++) {
        smr_enter(g_smr);
        BODY(sink);
        smr_exit(g_smr);
    }
    return sink;
}

static __attribute__((noinline)) uint64_t
run_smr_lazy(uint64_t n)
{
    uint64_t sink = 0;

    for (uint64_t i = 0; i < n; i++) {
        smr_lazy_enter(g_smr_lazy);
        BODY(sink);
        smr_lazy_exit(g_smr_lazy);
    }
    return sink;
}

static __attribute__((noinline)) uint64_t
run_xchg(uint64_t n)
{
    uint64_t sink = 0;

    for (uint64_t i = 0; i < n; i++) {
        (void)__atomic_exchange_n(&t_xslot,
            __atomic_load_n(&g_clock, __ATOMIC_RELAXED), __ATOMIC_SEQ_CST);
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        BODY(sink);
        __atomic_store_n(&t_xslot, 0, __ATOMIC_RELEASE);
    }
    return sink;
}

static __attribute__((noinline)) uint64_t
run_urcu_memb(uint64_t n)
{
    uint64_t sink = 0;

    for (uint64_t i = 0; i < n; i++) {
        urcu_memb_read_lock();
        BODY(sink);
        urcu_memb_read_unlock();
    }
    return sink;
}

static __attribute__((noinline)) uint64_t
run_ck_epoch(ck_epoch_record_t *rec, uint64_t n)
{
    uint64_t sink = 0;

    for (uint64_t i = 0; i < n; i++) {
        ck_epoch_begin(rec, NULL);
        BODY(sink);
        ck_epoch_end(rec, NULL);
    }
    return sink;
}

static __attribute__((noinline)) uint64_t
run_static_lazy(uint64_t n)
{
    uint64_t sink = 0;

    for (uint64_t i = 0; i < n; i++) {
        smr_static_enter(g_static_lazy);
        BODY(sink);
        smr_static_exit(g_static_lazy);
    }
    return sink;
}

static __attribute__((noinline)) uint64_t
run_static_fenced(uint64_t n)
{
    uint64_t sink = 0;

    for (uint64_t i = 0; i < n; i++) {
        smr_static_enter(g_static_fenced);
        BODY(sink);
        smr_static_exit(g_static_fenced);
    }
    return sink;
}

static __attribute__((noinline)) uint64_t
run_proto_lazy(uint64_t n)
{
    uint64_t sink = 0;

    for (uint64_t i = 0; i < n; i++) {
        proto_lazy_enter();
        BODY(sink);
        PROTO_EXIT(t_proto_lazy_word);
    }
    return sink;
}

static __attribute__((noinline)) uint64_t
run_proto_fenced(uint64_t n)
{
    uint64_t sink = 0;

    for (uint64_t i = 0; i < n; i++) {
        proto_fenced_enter();
        BODY(sink);
        PROTO_EXIT(t_proto_fenced_word);
    }
    return sink;
}

/* ---- --explain: the pairs with one cost taken away ---------------------- */

/* bench_enter's form: the handle read once into a register, so the
 * compiler fence in the enter does not make the exit reload it. */
static __attribute__((noinline)) uint64_t
run_x_lazy_local(uint64_t n)
{
    smr_t d = g_smr_lazy;
    uint64_t sink = 0;

    for (uint64_t i = 0; i < n; i++) {
        smr_lazy_enter(d);
        BODY(sink);
        smr_lazy_exit(d);
    }
    return sink;
}

static __attribute__((noinline)) uint64_t
run_x_fenced_local(uint64_t n)
{
    smr_t d = g_smr;
    uint64_t sink = 0;

    for (uint64_t i = 0; i < n; i++) {
        smr_enter(d);
        BODY(sink);
        smr_exit(d);
    }
    return sink;
}

/* The header's lazy pair with the thread's table pointer (smr__self)
 * read once before the loop: g_smr_lazy and the offset are still read at
 * the enter and again at the exit, as the inline path does. */
static __attribute__((noinline)) uint64_t
run_x_lazy_self_hoisted(uint64_t n)
{
    struct smr__thread_hot *self = smr__self;
    uint64_t sink = 0;

    for (uint64_t i = 0; i < n; i++) {
        const struct smr__domain_hot *d =
            (const struct smr__domain_hot *)g_smr_lazy;
        smr_seq_t *w = (smr_seq_t *)((char *)self->ent + d->d_lazy_off);
        if (!smr__enter_word(g_smr_lazy, w, true))
            abort();
        BODY(sink);
        d = (const struct smr__domain_hot *)g_smr_lazy;
        w = (smr_seq_t *)((char *)self->ent + d->d_off);
        if (!smr__exit_word(w))
            abort();
    }
    return sink;
}

/* One lookup (g_smr_lazy, offset, smr__self) per section; the exit reuses
 * the word the enter found (what a token API would do). */
static __attribute__((noinline)) uint64_t
run_x_lazy_one_lookup(uint64_t n)
{
    uint64_t sink = 0;

    for (uint64_t i = 0; i < n; i++) {
        smr_t d = g_smr_lazy;
        smr_seq_t *w =
            smr__word(((const struct smr__domain_hot *)d)->d_lazy_off);
        if (!smr__enter_word(d, w, true))
            abort();
        BODY(sink);
        if (!smr__exit_word(w))
            abort();
    }
    return sink;
}

/* The exported functions called through pointers (bench_enter's way):
 * register-indirect calls, no PLT stub. */
typedef void (*sec_fn)(smr_t);
static sec_fn volatile g_fn_enter, g_fn_exit;

static __attribute__((noinline)) uint64_t
run_x_exported_fnptr(uint64_t n)
{
    sec_fn en = g_fn_enter, ex = g_fn_exit;
    uint64_t sink = 0;

    for (uint64_t i = 0; i < n; i++) {
        en(g_smr);
        BODY(sink);
        ex(g_smr);
    }
    return sink;
}

/* The cost of the calls alone: the same loop calling two functions that
 * do nothing (a compiler barrier, as any call is), through pointers. */
static __attribute__((noinline)) void
empty_section(smr_t smr)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}
static sec_fn volatile g_fn_empty = empty_section;

static __attribute__((noinline)) uint64_t
run_x_empty_calls(uint64_t n)
{
    sec_fn en = g_fn_empty, ex = g_fn_empty;
    uint64_t sink = 0;

    for (uint64_t i = 0; i < n; i++) {
        en(g_smr);
        BODY(sink);
        ex(g_smr);
    }
    return sink;
}

/* The section's body alone, with the compiler barriers a lazy pair has. */
static __attribute__((noinline)) uint64_t
run_x_body(uint64_t n)
{
    uint64_t sink = 0;

    for (uint64_t i = 0; i < n; i++) {
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        BODY(sink);
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
    }
    return sink;
}

static uint64_t
run_scheme(int s, uint64_t n)
{
    switch (s) {
    case S_SMR_INLINE:   return run_smr_inline(n);
    case S_SMR_EXPORTED: return bench_user_run_exported(n);
    case S_SMR_LAZY:     return run_smr_lazy(n);
    case S_XCHG:         return run_xchg(n);
    case S_URCU_MEMB:    return run_urcu_memb(n);
    case S_CK_EPOCH:     return run_ck_epoch(&t_rec, n);
    case S_STATIC_LAZY:  return run_static_lazy(n);
    case S_STATIC_FENCED: return run_static_fenced(n);
    case S_PROTO_LAZY:   return run_proto_lazy(n);
    case S_PROTO_FENCED: return run_proto_fenced(n);
    case X_LAZY_LOCAL:   return run_x_lazy_local(n);
    case X_FENCED_LOCAL: return run_x_fenced_local(n);
    case X_LAZY_SELF_HOISTED: return run_x_lazy_self_hoisted(n);
    case X_LAZY_ONE_LOOKUP: return run_x_lazy_one_lookup(n);
    case X_EXPORTED_FNPTR: return run_x_exported_fnptr(n);
    case X_EMPTY_CALLS:  return run_x_empty_calls(n);
    case X_BODY:         return run_x_body(n);
    }
    abort();
}

/* ---- where each loop's memory accesses land ------------------------------ */

#define MAXACC 10
struct acc {
    const char *what;
    uintptr_t a;
    int store;
};
struct layout {
    int n;
    struct acc acc[MAXACC];
};

static void
acc_add(struct layout *l, const char *what, const void *p, int store)
{
    if (l->n < MAXACC)
        l->acc[l->n++] = (struct acc){what, (uintptr_t)p, store};
}

/* The word smr_enter/smr_lazy_enter stores to, as the header finds it. */
static const void *
smr_word_of(smr_t smr, int lazy)
{
    const struct smr__domain_hot *d = (const struct smr__domain_hot *)smr;

    return (const char *)smr__self->ent + (lazy ? d->d_lazy_off : d->d_off);
}

/* Addresses the calling thread's loop for scheme s touches. */
static void
layout_of(int s, struct layout *l)
{
    const struct smr__domain_hot *d;
    ck_epoch_record_t *r = &t_rec;

    l->n = 0;
    int lazy = s == S_SMR_LAZY || s == X_LAZY_LOCAL ||
        s == X_LAZY_SELF_HOISTED || s == X_LAZY_ONE_LOOKUP;

    switch (s) {
    case S_SMR_INLINE:
    case S_SMR_EXPORTED:
    case S_SMR_LAZY:
    case X_LAZY_LOCAL:
    case X_FENCED_LOCAL:
    case X_LAZY_SELF_HOISTED:
    case X_LAZY_ONE_LOOKUP:
    case X_EXPORTED_FNPTR:
        d = (const struct smr__domain_hot *)(lazy ? g_smr_lazy : g_smr);
        acc_add(l, "word", smr_word_of((smr_t)d, lazy), 1);
        acc_add(l, lazy ? "&g_smr_lazy" : "&g_smr",
            lazy ? (void *)&g_smr_lazy : (void *)&g_smr, 0);
        acc_add(l, lazy ? "d_lazy_off" : "d_off",
            lazy ? &d->d_lazy_off : &d->d_off, 0);
        acc_add(l, "&smr__self", &smr__self, 0);
        acc_add(l, "clock", &d->s_wr_seq, 0);
        break;
    case S_XCHG:
        acc_add(l, "t_xslot", &t_xslot, 1);
        acc_add(l, "g_clock", &g_clock, 0);
        break;
    case S_URCU_MEMB:
        acc_add(l, "reader.ctr", &URCU_TLS(urcu_memb_reader).ctr, 1);
        acc_add(l, "gp.ctr", &urcu_memb_gp.ctr, 0);
        acc_add(l, "gp.futex", &urcu_memb_gp.futex, 0);
        acc_add(l, "has_sys_mb", &urcu_memb_has_sys_membarrier, 0);
        break;
    case S_CK_EPOCH:
        acc_add(l, "rec.active", &r->active, 1);
        acc_add(l, "rec.epoch", &r->epoch, 1);
        acc_add(l, "rec.global", &r->global, 0);
        acc_add(l, "epoch", &g_epoch.epoch, 0);
        break;
    case S_STATIC_LAZY:
        acc_add(l, "word", &SMR__STATIC_W(g_static_lazy), 1);
        acc_add(l, "clock", &g_static_lazy.s.st_u.h.s_wr_seq, 0);
        break;
    case S_STATIC_FENCED:
        acc_add(l, "word", &SMR__STATIC_W(g_static_fenced), 1);
        acc_add(l, "clock", &g_static_fenced.s.st_u.h.s_wr_seq, 0);
        break;
    case S_PROTO_LAZY:
        acc_add(l, "word", &t_proto_lazy_word, 1);
        acc_add(l, "clock", &g_proto_clock, 0);
        break;
    case S_PROTO_FENCED:
        acc_add(l, "word", &t_proto_fenced_word, 1);
        acc_add(l, "clock", &g_proto_clock, 0);
        break;
    case X_EMPTY_CALLS:
    case X_BODY:
        break;
    }
    acc_add(l, "&g_shared", &g_shared, 0);
    acc_add(l, "obj.v", &g_shared->v, 0);
}

/* Do [a, a+8) and [b, b+8) overlap in address bits 11:0? */
static int
alias4k(uintptr_t a, uintptr_t b)
{
    unsigned x = (unsigned)(a & 0xfff), y = (unsigned)(b & 0xfff);
    unsigned dlt = (x - y) & 0xfff;

    return dlt < 8 || dlt > 0xfff - 7;
}

/* ---- threads -------------------------------------------------------------- */

static hwloc_topology_t g_topo;
static int g_npu, g_pin;
static pthread_barrier_t g_start, g_done;
static volatile int g_quit, g_cur;
static volatile uint64_t g_iters;
static int g_alias = -1;            /* --alias: 1 lazy, 0 fenced word */

struct worker {
    int id, pu_os;
    pthread_t th;
    double ns, cpu_ns;
    uint64_t sink;
    struct layout lay[NSCHEME];
};

static void *
worker_main(void *arg)
{
    struct worker *w = arg;

    w->pu_os = g_pin ? bench_pin(g_topo, g_npu, w->id, "bench_user") : -1;
    urcu_memb_register_thread();
    ck_epoch_register(&g_epoch, &t_rec, NULL);
    if (smr_thread_attach(g_smr) != 0 || smr_thread_attach(g_smr_lazy) != 0 ||
        smr_thread_attach(smr_static(g_static_lazy)) != 0 ||
        smr_thread_attach(smr_static(g_static_fenced)) != 0) {
        fprintf(stderr, "bench_user: smr_thread_attach failed\n");
        exit(1);
    }
    if (w->id == 0 && g_alias >= 0) {
        /* Before the first barrier: no loop has read g_shared yet. */
        uintptr_t off = (uintptr_t)smr_word_of(g_alias ? g_smr_lazy : g_smr,
            g_alias) & 0xfff;
        char *m = aligned_alloc(4096, 8192);
        if (m == NULL)
            abort();
        struct user_obj *o = (struct user_obj *)(m + 4096 + off);
        o->v = 1;
        g_shared = o;
    }

    for (;;) {
        pthread_barrier_wait(&g_start);
        if (g_quit)
            break;
        int s = g_cur;
        uint64_t n = g_iters;
        uint64_t c0 = cpu_now_ns();
        uint64_t t0 = now_ns();
        w->sink += run_scheme(s, n);
        uint64_t t1 = now_ns();
        uint64_t c1 = cpu_now_ns();
        w->ns = (double)(t1 - t0) / (double)n;
        w->cpu_ns = (double)(c1 - c0) / (double)n;
        pthread_barrier_wait(&g_done);
    }

    /* After the runs, so that --alias's object is the one shown. */
    for (int s = 0; s < NSCHEME; s++)
        layout_of(s, &w->lay[s]);
    smr_thread_detach(g_smr);
    smr_thread_detach(g_smr_lazy);
    smr_thread_detach(smr_static(g_static_lazy));
    smr_thread_detach(smr_static(g_static_fenced));
    ck_epoch_unregister(&t_rec);
    urcu_memb_unregister_thread();
    return NULL;
}

/* ---- reporting ------------------------------------------------------------ */

static void
print_layout(const struct worker *w, int nthreads)
{
    printf("  layout:     page offsets (addr & 0xfff) each loop touches, "
        "S = stored; '4K-ALIAS' = a load overlapping a store in bits 11:0\n");
    for (int s = 0; s < NSCHEME; s++) {
        if (!g_on[s])
            continue;
        for (int t = 0; t < nthreads; t++) {
            const struct layout *l = &w[t].lay[s];
            int nal = 0;
            printf("    %-31s t%d:", scheme_name[s], t);
            for (int i = 0; i < l->n; i++)
                printf(" %s%s=%03x", l->acc[i].store ? "S:" : "",
                    l->acc[i].what, (unsigned)(l->acc[i].a & 0xfff));
            for (int i = 0; i < l->n; i++) {
                if (!l->acc[i].store)
                    continue;
                for (int j = 0; j < l->n; j++) {
                    if (l->acc[j].store || !alias4k(l->acc[i].a, l->acc[j].a))
                        continue;
                    printf("%s%s~%s", nal++ ? ", " : "  4K-ALIAS: ",
                        l->acc[j].what, l->acc[i].what);
                }
            }
            printf("\n");
        }
    }
}

static void
report(const char *title, const char *key, double (*val)[NSCHEME],
    double (*mean)[NSCHEME], int rounds, int nthreads, uint64_t iters,
    int csv)
{
    double med[NSCHEME], lo[NSCHEME], hi[NSCHEME], medmean[NSCHEME];
    double *col = malloc(sizeof(*col) * (size_t)rounds);
    double *colm = malloc(sizeof(*colm) * (size_t)rounds);

    if (col == NULL || colm == NULL)
        abort();
    for (int s = 0; s < NSCHEME; s++) {
        lo[s] = 1e300;
        hi[s] = 0;
        for (int r = 0; r < rounds; r++) {
            col[r] = val[r][s];
            colm[r] = mean[r][s];
            if (col[r] < lo[s])
                lo[s] = col[r];
            if (col[r] > hi[s])
                hi[s] = col[r];
        }
        med[s] = median(col, rounds);
        medmean[s] = median(colm, rounds);
    }
    free(col);
    free(colm);

    printf("%s\n", title);
    printf("%-32s %8s %17s %7s %7s %7s %7s\n", "scheme (ns per pair)",
        "median", "min-max", "/xchg", "/ck", "/urcu", "/inline");
    for (int s = 0; s < NSCHEME; s++) {
        char range[40];
        if (!g_on[s])
            continue;
        snprintf(range, sizeof(range), "%.2f-%.2f", lo[s], hi[s]);
        printf("%-32s %8.2f %17s %7.3f %7.3f %7.3f %7.3f\n", scheme_name[s],
            med[s], range, med[s] / med[S_XCHG], med[s] / med[S_CK_EPOCH],
            med[s] / med[S_URCU_MEMB], med[s] / med[S_SMR_INLINE]);
    }

    double r_lazy = med[S_SMR_LAZY] / med[S_URCU_MEMB];
    double r_ck = med[S_SMR_INLINE] / med[S_CK_EPOCH];
    double r_x = med[S_SMR_INLINE] / med[S_XCHG];
    double d_exp = med[S_SMR_EXPORTED] - med[S_SMR_INLINE];
    double r_slazy = med[S_STATIC_LAZY] / med[S_URCU_MEMB];
    double r_sck = med[S_STATIC_FENCED] / med[S_CK_EPOCH];
    if (bench_show_targets()) {
        printf("targets (issue 17, ratio of medians):\n");
        printf("  smr_lazy pair / urcu-memb pair    = %.3f     (target <= 1.00)  %s\n",
            r_lazy, r_lazy <= 1.00 ? "met" : "MISSED");
        printf("  smr_enter pair / ck_epoch pair    = %.3f     (target <= 1.05)  %s\n",
            r_ck, r_ck <= 1.05 ? "met" : "MISSED");
        printf("  exported pair - inline pair       = %+.2f ns (target <= +1 ns) %s\n",
            d_exp, d_exp <= 1.0 ? "met" : "MISSED");
        printf("  static lazy pair / urcu-memb pair = %.3f     (target <= 1.00)  %s\n",
            r_slazy, r_slazy <= 1.00 ? "met" : "MISSED");
        printf("  static fenced pair / ck_epoch     = %.3f     (target <= 1.05)  %s\n",
            r_sck, r_sck <= 1.05 ? "met" : "MISSED");
    } else {
        printf("libsmr against the anchors in this run (ratio of medians):\n");
        printf("  smr_lazy pair / urcu-memb pair    = %.3f\n", r_lazy);
        printf("  smr_enter pair / ck_epoch pair    = %.3f\n", r_ck);
        printf("  exported pair - inline pair       = %+.2f ns\n", d_exp);
        printf("  static lazy pair / urcu-memb pair = %.3f\n", r_slazy);
        printf("  static fenced pair / ck_epoch     = %.3f\n", r_sck);
    }
    printf("  (smr_enter pair / bare xchg pair  = %.3f; PROTO lazy / smr_lazy "
        "= %.3f, PROTO fenced / smr_enter = %.3f)\n\n", r_x,
        med[S_PROTO_LAZY] / med[S_SMR_LAZY],
        med[S_PROTO_FENCED] / med[S_SMR_INLINE]);

    if (csv) {
        printf("clock,scheme,median_ns,min_ns,max_ns,median_of_thread_mean_ns,"
            "x_xchg,x_ck_epoch,x_urcu_memb,x_inline,threads,rounds,"
            "iterations\n");
        for (int s = 0; s < NSCHEME; s++)
            if (g_on[s])
                printf("%s,%s,%.3f,%.3f,%.3f,%.3f,%.4f,%.4f,%.4f,%.4f,%d,%d,%llu\n",
                key, scheme_key[s], med[s], lo[s], hi[s], medmean[s],
                med[s] / med[S_XCHG], med[s] / med[S_CK_EPOCH],
                med[s] / med[S_URCU_MEMB], med[s] / med[S_SMR_INLINE],
                nthreads, rounds, (unsigned long long)iters);
        printf("\n");
    }
}

static double
loadavg1(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");

    if (f != NULL) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

static void
usage(FILE *f)
{
    fprintf(f,
        "usage: bench_user [-t threads] [-r rounds] [-n iterations] "
        "[--seed S] [--csv] [--explain] [--alias lazy|fenced]\n"
        "  -t N       worker threads, one per PU (default 2)\n"
        "  -r N       rounds, >= 11 (default 11); scheme order shuffled "
        "per round\n"
        "  -n N       enter/exit pairs per thread per scheme per round "
        "(default 10000000)\n"
        "  --seed S   shuffle seed (default: time)\n"
        "  --csv      also print the summary as CSV\n"
        "  --explain  also run the diagnostic rows (x ...)\n"
        "  --alias W  put the object at the page offset of thread 0's lazy\n"
        "             or fenced word (a 4K alias made on purpose)\n"
        "environment: SMR_BENCH_TARGETS=0 prints the ratios without the "
        "targets\n");
}

int
main(int argc, char **argv)
{
    int nthreads = 2, rounds = 11, csv = 0, have_seed = 0, explain = 0, c;
    uint64_t iters = 10000000, seed = 0, rng;
    static const struct option longopts[] = {
        {"csv", no_argument, NULL, 'c'},
        {"explain", no_argument, NULL, 'x'},
        {"alias", required_argument, NULL, 'a'},
        {"seed", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };

    while ((c = getopt_long(argc, argv, "t:r:n:h", longopts, NULL)) != -1) {
        switch (c) {
        case 't': nthreads = atoi(optarg); break;
        case 'r': rounds = atoi(optarg); break;
        case 'n': iters = strtoull(optarg, NULL, 0); break;
        case 's': seed = strtoull(optarg, NULL, 0); have_seed = 1; break;
        case 'c': csv = 1; break;
        case 'x': explain = 1; break;
        case 'a':
            if (strcmp(optarg, "lazy") != 0 && strcmp(optarg, "fenced") != 0) {
                usage(stderr);
                return 2;
            }
            g_alias = strcmp(optarg, "lazy") == 0;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || nthreads < 1 || rounds < 11 || iters < 1) {
        if (rounds < 11)
            fprintf(stderr, "bench_user: need at least 11 rounds\n");
        usage(stderr);
        return 2;
    }
    if (!have_seed)
        seed = now_ns();
    rng = seed;

    hwloc_topology_init(&g_topo);
    hwloc_topology_load(g_topo);
    g_npu = hwloc_get_nbobjs_by_type(g_topo, HWLOC_OBJ_PU);
    if (g_npu < 1)
        g_npu = 1;
    g_pin = g_npu > 1;

    g_smr = smr_create("bench_user", 0, 0);
    g_smr_lazy = smr_create("bench_user_lazy", 0, SMR_LAZY);
    if (g_smr == NULL || g_smr_lazy == NULL) {
        perror("bench_user: smr_create");
        return 1;
    }
    ck_epoch_init(&g_epoch);
    for (int s = 0; s < NSCHEME; s++)
        g_on[s] = s < NMAIN || explain;

    /* The exported functions by address, for x exported: dlsym on
     * libsmr's own handle (a static link has no handle: row left out). */
    Dl_info dli;
    const char *libpath = "?";
    if (dladdr((void *)&smr_create, &dli) != 0 && dli.dli_fname != NULL) {
        libpath = dli.dli_fname;
        void *h = dlopen(dli.dli_fname, RTLD_NOW | RTLD_NOLOAD);
        if (h != NULL) {
            g_fn_enter = (sec_fn)dlsym(h, "smr_enter");
            g_fn_exit = (sec_fn)dlsym(h, "smr_exit");
        }
    }
    if (g_fn_enter == NULL || g_fn_exit == NULL)
        g_on[X_EXPORTED_FNPTR] = 0;

    char model[256];
    cpu_model(model, sizeof(model));
    printf("bench_user: ns per enter/exit pair in a user's layout (plain "
        "globals), section = one acquire load of g_shared + dereference\n");
    printf("  cpu:        %s (%d PUs per hwloc)\n", model, g_npu);
    printf("  compiler:   %s, %s\n", __VERSION__,
#if defined(__OPTIMIZE__)
        "optimized"
#else
        "NOT optimized"
#endif
    );
    printf("  libsmr:     %d (%s), %d-bit sequences\n", smr_version(), libpath,
        SMR_SEQ32 ? 32 : 64);
    printf("  smr lazy:   smr_lazy_is_fence_free() = %s\n",
        smr_lazy_is_fence_free(g_smr_lazy) ? "true (fence-free readers)"
                                           : "false (fenced fallback)");
    printf("  urcu-memb:  sys_membarrier %s\n",
        urcu_memb_has_sys_membarrier ? "in use (fence-free readers)"
                                     : "unavailable (readers fence)");
    printf("  threads:    %d, %s\n", nthreads,
        !g_pin ? "not pinned (hwloc reports 1 PU)"
        : nthreads > g_npu ? "pinned round-robin (MORE threads than PUs!)"
                           : "each pinned to its own PU (hwloc)");
    printf("  rounds:     %d x %llu pairs per thread per scheme, order "
        "shuffled (seed %llu)\n", rounds, (unsigned long long)iters,
        (unsigned long long)seed);
    printf("  statistic:  per round, the MAX over threads of ns/pair; median "
        "and min-max over rounds\n");
    if (g_alias >= 0)
        printf("  --alias:    the object sits at the page offset of thread 0's "
            "%s word (NOT a user's layout)\n", g_alias ? "lazy" : "fenced");
    printf("  load avg:   %.2f at start (1 min; other work skews results)\n",
        loadavg1());
    fflush(stdout);

    struct worker *w = calloc((size_t)nthreads, sizeof(*w));
    double (*val)[NSCHEME] = calloc((size_t)rounds * 2, sizeof(*val));
    double (*mean)[NSCHEME] = calloc((size_t)rounds * 2, sizeof(*mean));
    if (w == NULL || val == NULL || mean == NULL) {
        perror("bench_user");
        return 1;
    }
    pthread_barrier_init(&g_start, NULL, (unsigned)nthreads + 1);
    pthread_barrier_init(&g_done, NULL, (unsigned)nthreads + 1);
    for (int i = 0; i < nthreads; i++) {
        w[i].id = i;
        if (pthread_create(&w[i].th, NULL, worker_main, &w[i]) != 0) {
            perror("bench_user: pthread_create");
            return 1;
        }
    }

    int order[NSCHEME], nord = 0;
    for (int s = 0; s < NSCHEME; s++)
        if (g_on[s])
            order[nord++] = s;
    /* Round -1 is a warm-up (a tenth of the work), not recorded. */
    for (int r = -1; r < rounds; r++) {
        bench_shuffle(order, nord, &rng);
        g_iters = r < 0 ? (iters + 9) / 10 : iters;
        for (int k = 0; k < nord; k++) {
            int s = order[k];
            g_cur = s;
            pthread_barrier_wait(&g_start);
            pthread_barrier_wait(&g_done);
            if (r < 0)
                continue;
            for (int ck = 0; ck < 2; ck++) {
                double mx = 0, sum = 0;
                for (int i = 0; i < nthreads; i++) {
                    double x = ck == 0 ? w[i].ns : w[i].cpu_ns;
                    if (x > mx)
                        mx = x;
                    sum += x;
                }
                val[ck * rounds + r][s] = mx;
                mean[ck * rounds + r][s] = sum / nthreads;
            }
        }
    }
    g_quit = 1;
    pthread_barrier_wait(&g_start);
    uint64_t sink = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(w[i].th, NULL);
        sink += w[i].sink;
    }
    if (sink == 0)
        printf("(impossible: sink 0)\n");
    print_layout(w, nthreads);
    if (g_pin) {
        printf("  pinned to PU os_index:");
        for (int i = 0; i < nthreads; i++)
            printf(" %d", w[i].pu_os);
        printf("\n");
    }
    printf("  load avg:   %.2f at end\n\n", loadavg1());

    report("CLOCK_MONOTONIC (wall time)", "monotonic", val, mean, rounds,
        nthreads, iters, csv);
    report("CLOCK_THREAD_CPUTIME_ID (time on CPU; excludes preemption, "
        "compare when the machine is busy)", "thread_cpu", val + rounds,
        mean + rounds, rounds, nthreads, iters, csv);

    smr_destroy(g_smr_lazy);
    smr_destroy(g_smr);
    free(w);
    free(val);
    free(mean);
    hwloc_topology_destroy(g_topo);
    return 0;
}
