/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * libsmr: safe memory reclamation for userspace.
 *
 * FreeBSD's smr(9) ("Global Unbounded Sequences") with per-thread slots:
 * readers publish the global write sequence in their slot for the length of
 * a read section; writers unlink, smr_advance() the sequence and reuse the
 * memory once smr_poll()/smr_wait() shows every reader has moved past it.
 *
 * Names and meanings follow FreeBSD's <sys/smr.h> and <sys/smr_types.h>;
 * userspace additions are marked (+).  The contract is shared/SPEC.md.
 *
 * ABI note: the inline read path below reads struct smr__domain_hot and
 * struct smr__thread_hot directly and knows the word's encoding
 * (SMR__W_*).  Their layout is ABI: any change bumps SOVERSION.
 */
#ifndef SMR_H
#define SMR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smr/config.h"
#include "smr/arch/arch.h"

#ifdef __cplusplus
extern "C" {
#endif

#if !defined(__GNUC__)
#error "libsmr needs the GCC/Clang __atomic builtins"
#endif

/* One export macro; everything else in the library is hidden. */
#if defined(SMR_BUILDING_LIBRARY)
#define SMR_API __attribute__((visibility("default")))
#else
#define SMR_API
#endif

#define SMR_VERSION                                                     \
    (SMR_VERSION_MAJOR * 10000 + SMR_VERSION_MINOR * 100 + SMR_VERSION_PATCH)
/* (+) The SMR_VERSION of the library actually linked. */
SMR_API int smr_version(void);

/* ------------------------------------------------------------------ */
/* Sequence numbers                                                    */
/* ------------------------------------------------------------------ */

/*
 * 64-bit sequences where 64-bit atomics are lock-free (they never wrap in
 * practice); 32-bit, wrapping, elsewhere or when built with SMR_SEQ32=ON.
 * Sequences are opaque: compare them only with the SMR_SEQ_* macros.
 */
#if SMR_CONFIG_FORCE_SEQ32 || !defined(__GCC_ATOMIC_LLONG_LOCK_FREE) || \
    __GCC_ATOMIC_LLONG_LOCK_FREE != 2
#define SMR_SEQ32 1
typedef uint32_t smr_seq_t;
typedef int32_t smr_delta_t;
#else
#define SMR_SEQ32 0
typedef uint64_t smr_seq_t;
typedef int64_t smr_delta_t;
#endif

#define SMR_SEQ_INVALID 0
/* 32-bit: a reader republishes when its value is this far behind (I6). */
#define SMR__RECHECK ((smr_seq_t)1 << 29)
/* ... judged by an acquire load of the clock (the inline check and
 * smr__enter_recheck); relaxed only in a broken variant for the models. */
#if defined(SMR__BROKEN_RECHECK_RELAXED)
#define SMR__RECHECK_ORDER __ATOMIC_RELAXED
#else
#define SMR__RECHECK_ORDER __ATOMIC_ACQUIRE
#endif

/* Wrap-safe comparisons (serial number arithmetic). */
#define SMR_SEQ_DELTA(a, b) ((smr_delta_t)((smr_seq_t)(a) - (smr_seq_t)(b)))
#define SMR_SEQ_LT(a, b)  (SMR_SEQ_DELTA(a, b) < 0)
#define SMR_SEQ_LEQ(a, b) (SMR_SEQ_DELTA(a, b) <= 0)
#define SMR_SEQ_GT(a, b)  (SMR_SEQ_DELTA(a, b) > 0)
#define SMR_SEQ_GEQ(a, b) (SMR_SEQ_DELTA(a, b) >= 0)
#define SMR_SEQ_MIN(a, b) (SMR_SEQ_LT(a, b) ? (a) : (b))
#define SMR_SEQ_MAX(a, b) (SMR_SEQ_GT(a, b) ? (a) : (b))

/* ------------------------------------------------------------------ */
/* Domains                                                             */
/* ------------------------------------------------------------------ */

typedef struct smr_domain *smr_t;

#define SMR_LAZY     0x1 /* fence-free readers, asymmetric barrier on polls */
#define SMR_DEFERRED 0x2 /* advance the shared clock every `limit` calls */

/* NULL + errno (EINVAL: unknown flags, LAZY|DEFERRED, limit < 0; ENOMEM). */
SMR_API smr_t smr_create(const char *name, int limit, int flags);
/* Aborts (every build) if a reader is inside or a pool still uses it. */
SMR_API void smr_destroy(smr_t smr);

SMR_API smr_seq_t smr_advance(smr_t smr);
SMR_API smr_seq_t smr_current(smr_t smr);
/*
 * warn_unused_result only where ignoring the answer is always a bug, since
 * a (void) cast does not silence it in GCC: smr_poll (false is its
 * ordinary "not yet", and the memory is not reusable) and smr_wait_timeout
 * (false: timed out).  Not smr_wait: with a goal from smr_advance, outside
 * a section of its domain, it returns true; false only reports misuse
 * (inside the caller's own section in release builds, a malformed goal).
 * man/smr.3, RETURN VALUES, says the same.
 */
#define SMR__MUST_CHECK __attribute__((warn_unused_result))
SMR_API SMR__MUST_CHECK bool smr_poll(smr_t smr, smr_seq_t goal, bool wait);
SMR_API bool smr_wait(smr_t smr, smr_seq_t goal);
SMR_API void smr_synchronize(smr_t smr);
/* (+) smr_wait that gives up after ns nanoseconds (for shutdown paths). */
SMR_API SMR__MUST_CHECK bool smr_wait_timeout(smr_t smr, smr_seq_t goal,
    uint64_t ns);
/* (+) Is the calling thread inside a read section of this domain? */
SMR_API bool smr_entered(smr_t smr);
/* (+) Reserve this thread's slot now: 0 or ENOMEM/EINVAL.  After it,
 * smr_enter/smr_exit on this domain are async-signal-safe. */
SMR_API int smr_thread_attach(smr_t smr);
/* (+) Give the slot back before thread exit (must be outside a section). */
SMR_API void smr_thread_detach(smr_t smr);
/* (+) Name given at smr_create (for messages). */
SMR_API const char *smr_name(smr_t smr);
/* (+) Does this lazy domain run fence-free readers (true), or did it fall
 * back to fenced readers because no asymmetric barrier is available?
 * False for non-lazy domains. */
SMR_API bool smr_lazy_is_fence_free(smr_t smr);

/*
 * (+) Stall diagnostics.  smr_oldest_section() finds the open section with
 * the oldest published sequence (the one holding reclamation back).  Its
 * age counts from the first time libsmr observed that section open (a
 * failed poll, a blocked wait or a query), once the clock has passed it:
 * a lower bound that costs the read path nothing.
 */
struct smr_section_info {
    int tid;            /* kernel thread id of the reader */
    smr_seq_t seq;      /* sequence it published */
    uint64_t age_ns;    /* open for at least this long */
};
/* false if no section is open. */
SMR_API bool smr_oldest_section(smr_t smr, struct smr_section_info *info);
/* By default a stuck reader is reported on stderr by the thread that
 * notices it (a blocked wait, or a failed poll: nobody need wait) once its
 * section or the wait is threshold_ns old: the domain, the pool or queue,
 * the noticing thread, the reader's tid and age.  At most one report per
 * domain per 10 s.  The threshold is 1 s, or SMR_STALL_WARN_MS (0: off).
 * A handler replaces the report: it is called on the waiting thread when
 * a wait (smr_wait, smr_synchronize, pool or retire) has been blocked for
 * threshold_ns, then again each time the wait doubles, without the rate
 * limit and never from a poll.  fn == NULL restores the default;
 * threshold_ns == 0 turns either off. */
typedef void (*smr_stall_fn)(smr_t smr, const struct smr_section_info *oldest,
    uint64_t waited_ns, void *arg);
SMR_API void smr_set_stall_handler(smr_t smr, uint64_t threshold_ns,
    smr_stall_fn fn, void *arg);

/* (+) Is the calling thread inside a read section of ANY domain? */
SMR_API bool smr_entered_any(void);

/* Reserved: a client that keeps goals on a domain (pool, retire batches)
 * holds it; smr_destroy of a held domain aborts (SPEC §4). */
SMR_API void smr__domain_hold(smr_t smr);
SMR_API void smr__domain_release(smr_t smr);

/* (+) Domain statistics: per-thread counters, summed on read. */
struct smr_stats {
    uint64_t advance;       /* smr_advance calls */
    uint64_t advance_wait;  /* advances that met the delta guard (32-bit) */
    uint64_t poll;          /* smr_poll/smr_wait calls */
    uint64_t poll_scan;     /* polls that scanned the slots */
    uint64_t poll_fail;     /* polls that returned false */
    uint64_t barriers;      /* asymmetric barriers issued (lazy domains) */
    uint64_t live_slots;    /* slots held by threads now */
    uint64_t slot_capacity; /* slots allocated (held + free) */
    /* (+) 1: the domain has an entry in the threads' fixed table
     * (SMR__TFAST - 1 = 63 domains at once), so smr_enter/smr_exit run
     * inline; 0: a domain past them, whose sections take a call. */
    uint64_t inline_table;
};
SMR_API void smr_stats(smr_t smr, struct smr_stats *st);

/* ------------------------------------------------------------------ */
/* Inline read path (ABI: see the note at the top)                     */
/* ------------------------------------------------------------------ */

/* Head of every domain; the rest of struct smr_domain is private to src/smr.c. */
struct smr__domain_hot {
    /* Read-mostly line: written at create/destroy (and in a fork child). */
    uint32_t d_magic;
    uint32_t d_flags;   /* SMR_LAZY, SMR_DEFERRED, SMR__F_* */
    uint32_t d_idx;     /* index into every thread's table */
    uint32_t d_off;     /* byte offset of entry d_idx in the fast table, or
                         * of the sentinel entry for d_idx past it */
    uint32_t d_lazy_off; /* d_off if lazy readers run fence-free, else the
                         * sentinel's (smr_lazy_enter takes a call) */
    uint32_t d_pad;
    uint64_t d_id;      /* never reused: keys the thread's entries (I7) */
    /* The shared write clock, alone on its own line (written by advance). */
    smr_seq_t s_wr_seq __attribute__((aligned(SMR__CACHE_LINE)));
};
/* d_flags: lazy domain whose readers run fence-free (asymmetric barrier
 * available and registered); clear on fallback and non-lazy domains. */
#define SMR__F_LAZY_FAST 0x100

/*
 * The reader's word: the published sequence and the nesting depth in one
 * word, so an enter or an exit is one load and one store.  Sequences are
 * multiples of 256 (src/smr_internal.h: SMR__SEQ_INCR), never 0, so
 *   0                       idle (claimed, outside every section)
 *   seq + depth, depth 1..255  inside; 255 means "255 or more": deeper
 *                          nesting counts out of line (c_depth_ovf)
 *   SMR__W_FREE (255)      no slot here: an unclaimed entry, the sentinel
 *                          entry, a thread with no table; never published
 * A poller reads the sequence as word & ~SMR__W_DEPTH (0: idle).
 */
#define SMR__W_DEPTH ((smr_seq_t)0xff)
#define SMR__W_FREE  SMR__W_DEPTH
#define SMR__W_SEQ(w) ((smr_seq_t)((w) & ~SMR__W_DEPTH))

/*
 * The thread's table: a fixed array indexed by d_idx, so it never moves and
 * the fast path needs no bounds check.  Entry d_idx holds the thread's word
 * for that domain, where pollers read it (through the domain's slot, which
 * points here).  Domains with d_idx >= SMR__TFAST - 1 point d_off at the
 * last entry, a sentinel whose word is always SMR__W_FREE, and take an
 * out-of-line path that keeps their word in the slot itself (src/smr.c).
 * smr_destroy returns every thread's entry for the domain to SMR__W_FREE
 * (under the registry lock), so an entry is either free or belongs to the
 * live domain at that index: the read path needs no id check.  Tables are
 * never given back to malloc (a poller may read a word through a slot
 * released a moment ago); an exited thread's table goes to the next thread.
 */
#define SMR__TFAST 64
struct smr__slot;
struct smr__tent {
    smr_seq_t t_word;         /* owner-written; read by pollers */
    uint64_t t_id;            /* d_id of the domain, 0: free (slow paths) */
    struct smr__slot *t_slot; /* the domain's record of this thread */
    /* A statically declared domain's word when it is the program's own
     * thread-local word (SMR_DEFINE_STATIC, below), NULL if none: then
     * t_word stays SMR__W_FREE, the slot points at *t_pword, and the owner
     * sets *t_pword back to SMR__W_FREE when the entry goes (detach,
     * thread exit, fork). */
    smr_seq_t *t_pword;
} __attribute__((aligned(32)));
struct smr__thread_hot {
    struct smr__tent ent[SMR__TFAST];
};

/* The hot thread-local state: one initial-exec pointer, never NULL. */
extern SMR_API __thread struct smr__thread_hot *smr__self
    __attribute__((tls_model("initial-exec")));

/* Out-of-line halves of the read path: first use (claims the slot),
 * domains past the fast table, fallback lazy domains, nesting past 254,
 * misuse. */
SMR_API void smr__enter_slow(smr_t smr);
SMR_API void smr__lazy_enter_slow(smr_t smr);
SMR_API void smr__exit_slow(smr_t smr);
#if SMR_SEQ32
SMR_API void smr__enter_recheck(smr_t smr, smr_seq_t *w, smr_seq_t v);
#endif
/*
 * Misuse checks that an SMR_DEBUG header compiles into its caller (the
 * read path below, the pointer accessors).  Every build of the library,
 * debug or release, exports them and they check the same in both, so one
 * SONAME is one ABI: a program built against either configuration's
 * header runs on either library (smr(3), "Builds and binary interface").
 * smr__assert_live: smr is a live domain (magic), before the read path
 * follows it.  smr__assert_entered: the caller is inside a section of smr
 * (NULL: the serialization test `what` failed).
 */
SMR_API void smr__assert_live(smr_t smr, const char *what);
SMR_API void smr__assert_entered(smr_t smr, const char *what);
#if SMR_CONFIG_DEBUG
#define SMR__ASSERT_LIVE(smr, what) smr__assert_live((smr), (what))
#else
#define SMR__ASSERT_LIVE(smr, what) ((void)0)
#endif

/*
 * Test hooks (tests only).  The library calls smr__test_hook, when set, at
 * the slow-path points below; a program that defines SMR_TEST_HOOKS before
 * including smr.h also gets SMR__HOOK_ENTER_LOADED from its inline enter.
 */
enum {
    SMR__HOOK_ENTER_LOADED = 1,  /* enter: clock loaded, not yet published */
    SMR__HOOK_POLL_BEFORE_CAS,   /* poll: scan done, before the rd CAS */
    SMR__HOOK_ADVANCE_LOADED_RD, /* advance: rd loaded, before the clock RMW */
    SMR__HOOK_SCAN_WORDP,        /* poll scan: a slot's word pointer loaded,
                                  * its word not yet (static domains) */
};
extern SMR_API void (*volatile smr__test_hook)(smr_t smr, int point);

/*
 * Read sections.  Each is an inline fast path below and an exported function
 * of the same name (for FFI, dlsym, debuggers, or -DSMR_NO_INLINE builds).
 */
/*
 * ThreadSanitizer does not model standalone fences (nor membarrier), so the
 * hand-off "writer's stores, full fence, clock increment" -> "reader loads
 * the clock, fence, protected loads" is invisible to it.  Under TSan the
 * fence pairs are annotated as release (before each clock write) and
 * acquire (after each publish) on the clock's address.  (liburcu's
 * annotate.h does the same for its fences.)  Zero cost otherwise.
 */
#if defined(__SANITIZE_THREAD__)
#define SMR__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SMR__TSAN 1
#endif
#endif
#ifdef SMR__TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define SMR__TSAN_ACQUIRE(p) __tsan_acquire((void *)(p))
#define SMR__TSAN_RELEASE(p) __tsan_release((void *)(p))
#else
#define SMR__TSAN_ACQUIRE(p) ((void)0)
#define SMR__TSAN_RELEASE(p) ((void)0)
#endif

#if defined(SMR_NO_INLINE)
#define SMR__INLINE_DECL
#else
/* Every declaration says inline, so that in C each header definition is
 * an inline definition (C11 6.7.4p7); src/smr.c emits the external ones. */
#define SMR__INLINE_DECL inline
#endif
SMR_API SMR__INLINE_DECL void smr_enter(smr_t smr);
SMR_API SMR__INLINE_DECL void smr_exit(smr_t smr);
SMR_API SMR__INLINE_DECL void smr_lazy_enter(smr_t smr);
SMR_API SMR__INLINE_DECL void smr_lazy_exit(smr_t smr);

#if !defined(SMR_NO_INLINE)

/* C99 inline definitions (C++: inline functions); src/smr.c emits the
 * exported twins with `extern inline`. */
#define SMR__INLINE inline __attribute__((always_inline))
SMR_API inline smr_seq_t *smr__word(uint32_t off);
SMR_API inline void smr__publish_fenced(smr_t smr, smr_seq_t *w);
SMR_API inline void smr__publish_lazy(smr_t smr, smr_seq_t *w);
SMR_API inline bool smr__enter_word(smr_t smr, smr_seq_t *w, bool lazy);
SMR_API inline bool smr__exit_word(smr_seq_t *w);

/*
 * The calling thread's word at byte offset off of its table (d_off or
 * d_lazy_off): one TLS load, no bounds check (the table is fixed-size).
 */
SMR__INLINE smr_seq_t *
smr__word(uint32_t off)
{
    return &((struct smr__tent *)((char *)smr__self->ent + off))->t_word;
}

/*
 * Outermost fenced enter: the word was 0 (idle); publish the clock with
 * depth 1.  One load and one store make the whole enter, so the SPEC §2
 * nesting rule holds against our own signal handlers without a separate
 * depth counter: a handler runs whole sections (balanced enters and exits)
 * and returns, so it leaves the word exactly as it found it, and the
 * interrupted load-then-store cannot tell it ran.  A handler that arrives
 * after the store sees depth >= 1 and only counts.
 */
SMR__INLINE void
smr__publish_fenced(smr_t smr, smr_seq_t *w)
{
    struct smr__domain_hot *d = (struct smr__domain_hot *)smr;
    smr_seq_t v;

    /*
     * A relaxed clock load is enough: the full fence in
     * smr__store_fence_sl orders it before every protected load, and a
     * stale value (we are descheduled between load and store while the clock
     * runs ahead) is clamped to the read hand by the poller.
     */
    v = __atomic_load_n(&d->s_wr_seq, __ATOMIC_RELAXED);
#ifdef SMR_TEST_HOOKS
    if (smr__test_hook != NULL)
        smr__test_hook(smr, SMR__HOOK_ENTER_LOADED);
#endif
#if defined(SMR__BROKEN_ENTER_NOFENCE)
    /* Deliberately broken variant (tests/torture only): no store->load
     * fence.  The litmus and torture tests must catch it. */
    __atomic_store_n(w, v + 1, __ATOMIC_RELAXED);
#else
    /* Store + store->load fence; partner: smr_poll's fence before its scan. */
    smr__store_fence_sl(w, v + 1);
#endif
    SMR__TSAN_ACQUIRE(&d->s_wr_seq);    /* partner: SMR__TSAN_RELEASE */
#if SMR_SEQ32
    /* I6 (src/smr.c): republish if the value is SMR__RECHECK behind the
     * clock; the check is inline, the (rare) republish is not.  Acquire:
     * the protected loads are not satisfied before this load on weak
     * targets, so they follow a clock value at or past every goal a poll
     * credits us with (partner: the release of the clock write it reads,
     * the fence before every clock RMW). */
    if (__builtin_expect((smr_seq_t)(__atomic_load_n(&d->s_wr_seq,
        SMR__RECHECK_ORDER) - v) >= SMR__RECHECK, 0))
        smr__enter_recheck(smr, w, v);
#endif
}

/* Outermost lazy enter (fence-free domain): the word was 0. */
SMR__INLINE void
smr__publish_lazy(smr_t smr, smr_seq_t *w)
{
    struct smr__domain_hot *d = (struct smr__domain_hot *)smr;

    /*
     * Acquire: a plain load on x86; on arm64/POWER/RISC-V it keeps the
     * section's protected loads from being satisfied before the clock
     * load.  Partner: the seq_cst fence before the clock increment in
     * smr_advance (and the lazy clock update in src/smr_lazy.c).
     */
#if defined(SMR__BROKEN_LAZY_RELAXED)
    /* Deliberately broken variant (models only): a relaxed clock load. */
    smr_seq_t v = __atomic_load_n(&d->s_wr_seq, __ATOMIC_RELAXED);
#else
    smr_seq_t v = __atomic_load_n(&d->s_wr_seq, __ATOMIC_ACQUIRE);
#endif
#ifdef SMR_TEST_HOOKS
    if (smr__test_hook != NULL)
        smr__test_hook(smr, SMR__HOOK_ENTER_LOADED);
#endif
    __atomic_store_n(w, v + 1, __ATOMIC_RELAXED);
    /* Compiler-only: keep the store before the protected loads in program
     * order; the poller's membarrier does the rest (src/smr_lazy.c). */
    SMR__COMPILER_FENCE();
}

/*
 * Enter on word w (lazy: the domain's readers run fence-free); false: not
 * ours to do inline (a free word: first use, a domain past the fast table
 * or a fenced lazy domain; or depth 255, the out-of-line nesting count).
 */
SMR__INLINE bool
smr__enter_word(smr_t smr, smr_seq_t *w, bool lazy)
{
    smr_seq_t x = __atomic_load_n(w, __ATOMIC_RELAXED);

    if (__builtin_expect(x == 0, 1)) {
        if (lazy)
            smr__publish_lazy(smr, w);
        else
            smr__publish_fenced(smr, w);
        return true;
    }
    if ((x & SMR__W_DEPTH) != SMR__W_DEPTH) {
        __atomic_store_n(w, x + 1, __ATOMIC_RELAXED);   /* inner section */
        return true;
    }
    return false;
}

/*
 * Exit on word w; false: not ours to do inline (depth 0: an exit without
 * an enter, a free entry (domains past the fast table), or depth 255, the
 * out-of-line nesting count).
 */
SMR__INLINE bool
smr__exit_word(smr_seq_t *w)
{
    smr_seq_t x = __atomic_load_n(w, __ATOMIC_RELAXED);

    /* (Byte compares: no zero-extension on the common path.) */
    if (__builtin_expect((uint8_t)x == 1, 1)) {
        /* Release fence + store (smr__exit_store, src/arch/generic.h):
         * every access of the section happens before a poll that reads
         * idle here, or any later store of ours to the word (the next
         * section's publish).  Partner: smr_poll's acquire load of the
         * word.  (A handler arriving before this store nests on top and
         * restores the word; one arriving after it sees idle: as in
         * enter.) */
#if defined(SMR__BROKEN_EXIT_RELEASE_STORE)
        /* Deliberately broken variant (models only): the pre-C++20 exit,
         * a release store, which does not order this section before a
         * poll that reads the next section's relaxed publish. */
        __atomic_store_n(w, (smr_seq_t)0, __ATOMIC_RELEASE);
#else
        smr__exit_store(w, (smr_seq_t)0);
#endif
        return true;
    }
    if ((uint8_t)(x - 2) < (uint8_t)(SMR__W_DEPTH - 2)) {  /* 2 .. 254 */
#if defined(SMR__BROKEN_EXIT_ANY_DEPTH)
        /* Deliberately broken variant (models only): an inner exit clears
         * the word, so the outer section goes on unprotected. */
        smr__exit_store(w, (smr_seq_t)0);
        return true;
#endif
        __atomic_store_n(w, x - 1, __ATOMIC_RELAXED);
        return true;
    }
    return false;
}

SMR__INLINE void
smr_enter(smr_t smr)
{
    const struct smr__domain_hot *d = (const struct smr__domain_hot *)smr;

    /* SMR_DEBUG: a stray or destroyed domain is reported, not followed
     * (a call; release builds read d_off from whatever smr points at). */
    SMR__ASSERT_LIVE(smr, "smr_enter");
    if (__builtin_expect(!smr__enter_word(smr, smr__word(d->d_off), false),
        0))
        smr__enter_slow(smr);   /* first section here, past the table,
                                 * or nesting past 254 */
}

/*
 * No id check here: smr_destroy frees every thread's entries, so the word
 * at d_off is free (out of line) or this domain's.
 */
SMR__INLINE void
smr_exit(smr_t smr)
{
    const struct smr__domain_hot *d = (const struct smr__domain_hot *)smr;

    SMR__ASSERT_LIVE(smr, "smr_exit");
    if (__builtin_expect(!smr__exit_word(smr__word(d->d_off)), 0))
        smr__exit_slow(smr);
}

/*
 * Lazy read section: no fence, no RMW, no syscall.  The poller's asymmetric
 * barrier (membarrier) stands in for the store->load fence; see
 * src/smr_lazy.c.  On a non-lazy domain, or a lazy domain that fell back to
 * fenced readers, d_lazy_off names the sentinel and the call does smr_enter
 * (documented behaviour, never unsafe).
 */
SMR__INLINE void
smr_lazy_enter(smr_t smr)
{
    const struct smr__domain_hot *d = (const struct smr__domain_hot *)smr;

    SMR__ASSERT_LIVE(smr, "smr_lazy_enter");
    if (__builtin_expect(!smr__enter_word(smr, smr__word(d->d_lazy_off),
        true), 0))
        smr__lazy_enter_slow(smr);
}

SMR__INLINE void
smr_lazy_exit(smr_t smr)
{
    smr_exit(smr);
}
#endif /* SMR_NO_INLINE */

/* ------------------------------------------------------------------ */
/* (+) Statically declared domains                                     */
/* ------------------------------------------------------------------ */

/*
 * A domain declared at file scope, as Linux's DEFINE_STATIC_SRCU, for the
 * program's few long-lived domains:
 *
 *     SMR_DEFINE_STATIC_LAZY(conn_smr);        (or SMR_DEFINE_STATIC: fenced)
 *     ...
 *     smr_static_enter(conn_smr);
 *     p = smr_entered_load(&g_conn, smr_static(conn_smr));
 *     ...
 *     smr_static_exit(conn_smr);
 *     pool = smr_pool_create("conns", sizeof(struct conn), 0,
 *         smr_static(conn_smr), 0);
 *
 * Its sections publish in a thread-local word of the program's own and load
 * the clock from the declared object, so an enter is a load of the word,
 * one clock load and one store, with no handle, offset, table or pointer
 * to follow (smr_enter(smr) follows the first three), like liburcu's
 * reader counter.
 * smr_static(name) is the domain's smr_t for every other call; the
 * domain is built at its first use and is never destroyed (smr_destroy
 * reports it and does nothing).  The kind is part of the declaration:
 * smr_static_enter runs the fence-free lazy section on a _LAZY domain
 * (fenced with 32-bit sequences; fenced through a call on a 64-bit
 * system with no asymmetric barrier) and the fenced section otherwise;
 * smr_enter/smr_lazy_enter on smr_static(name) work as on any domain and
 * nest with it (through a call: they find the word out of line).
 *
 *   SMR_DEFINE_STATIC(name), SMR_DEFINE_STATIC_LAZY(name)
 *                            internal linkage (one translation unit)
 *   SMR_DEFINE(name), SMR_DEFINE_LAZY(name)
 *                            external linkage, with in other units
 *   SMR_DECLARE(name), SMR_DECLARE_LAZY(name)  (the same kind: a
 *                            mismatch is not caught, as with any extern)
 *
 * The word is an initial-exec __thread variable of the declaring program
 * (8 bytes per domain per thread; in a library loaded with dlopen it
 * takes glibc's static TLS surplus), with a function beside it that
 * returns its address for the calling thread.  It starts at SMR__W_FREE,
 * never idle, so a thread's first section goes out of line: it claims the
 * thread's slot, points the slot at the word and opens it (idle), unless
 * the domain is lazy without an asymmetric barrier: then the word stays
 * free and every section takes the call.  Pollers read the word through
 * the slot, as they read table words; but the word dies with its thread,
 * so pollers scan a static domain's slots inside a section of a domain of
 * libsmr's own, and a thread that exits lets its slots go and then waits
 * for every scan that could still hold their pointers (src/smr.c,
 * "Program words").  The library sets the word back to SMR__W_FREE when
 * the entry goes (smr_thread_detach, thread exit, the fork child).  The
 * domain lives in the declaring object's data: a shared library that
 * declares one is kept mapped past dlclose once the domain is built
 * (RTLD_NODELETE).  Sections are async-signal-safe once
 * smr_thread_attach(smr_static(name)) ran on the thread (or one section
 * did).
 */
struct smr__static {
    /* The domain, built here in place (src/smr.c checks the size). */
    union {
        unsigned char space[32 * SMR__CACHE_LINE];  /* first: { 0 } */
        struct smr__domain_hot h;
    } st_u __attribute__((aligned(SMR__SLOT_ALIGN)));
    const char *st_name;
    uint32_t st_flags;          /* SMR_LAZY or 0 */
    uint32_t st_state;          /* 0 new, 2 built (atomic) */
    /* The calling thread's word (the declaration's __thread variable),
     * for the library's out-of-line paths. */
    smr_seq_t *(*st_word)(void);
};
/* The kind, as a size the inline path reads at compile time. */
struct smr__static_fenced { struct smr__static s; char st_kind[1]; };
struct smr__static_lazy { struct smr__static s; char st_kind[2]; };
#define SMR__STATIC_LAZY(name) (sizeof((name).st_kind) == 2)
#define SMR__STATIC_W(name) name##__smr_w
#define SMR__STATIC_WF(name) name##__smr_wf

/* The domain of st, built on first use; NULL (errno ENOMEM) if it cannot
 * be, and the next call tries again. */
SMR_API smr_t smr__static_init(struct smr__static *st);
SMR_API void smr__static_enter_slow(struct smr__static *st, smr_seq_t *w,
    bool lazy);
SMR_API void smr__static_exit_slow(struct smr__static *st);

#define SMR__STATIC_DEF(cls, type, name, flags)                          \
    cls __thread smr_seq_t SMR__STATIC_W(name)                           \
        __attribute__((tls_model("initial-exec"), unused)) = SMR__W_FREE; \
    cls smr_seq_t *SMR__STATIC_WF(name)(void);                           \
    cls smr_seq_t *SMR__STATIC_WF(name)(void)                            \
    {                                                                   \
        return &SMR__STATIC_W(name);                                    \
    }                                                                   \
    cls type name = { { { { 0 } }, #name, (flags), 0,                    \
        SMR__STATIC_WF(name) }, { 0 } }
#define SMR__STATIC_DECL(type, name)                                     \
    extern type name;                                                   \
    extern __thread smr_seq_t SMR__STATIC_W(name)                        \
        __attribute__((tls_model("initial-exec")))
#define SMR_DEFINE_STATIC(name)                                         \
    SMR__STATIC_DEF(static, struct smr__static_fenced, name, 0)
#define SMR_DEFINE_STATIC_LAZY(name)                                    \
    SMR__STATIC_DEF(static, struct smr__static_lazy, name, SMR_LAZY)
#define SMR_DEFINE(name)                                                \
    SMR__STATIC_DEF(, struct smr__static_fenced, name, 0)
#define SMR_DEFINE_LAZY(name)                                           \
    SMR__STATIC_DEF(, struct smr__static_lazy, name, SMR_LAZY)
#define SMR_DECLARE(name) SMR__STATIC_DECL(struct smr__static_fenced, name)
#define SMR_DECLARE_LAZY(name) SMR__STATIC_DECL(struct smr__static_lazy, name)

#if defined(SMR_NO_INLINE)
#define smr_static(name) smr__static_init(&(name).s)
#define smr_static_enter(name)                                          \
    (SMR__STATIC_LAZY(name) ? smr_lazy_enter(smr_static(name)) :        \
        smr_enter(smr_static(name)))
#define smr_static_exit(name) smr_exit(smr_static(name))
#else
#define smr_static(name) smr__static_get(&(name).s)
#define smr_static_enter(name)                                          \
    smr__static_enter(&(name).s, &SMR__STATIC_W(name), SMR__STATIC_LAZY(name))
#define smr_static_exit(name)                                           \
    smr__static_exit(&(name).s, &SMR__STATIC_W(name))

SMR_API inline smr_t smr__static_get(struct smr__static *st);
SMR_API inline void smr__static_enter(struct smr__static *st,
    smr_seq_t *w, bool lazy);
SMR_API inline void smr__static_exit(struct smr__static *st, smr_seq_t *w);

/* Acquire: partner of the release store of st_state in smr__static_init,
 * so the domain built there is seen whole. */
SMR__INLINE smr_t
smr__static_get(struct smr__static *st)
{
    if (__builtin_expect(__atomic_load_n(&st->st_state, __ATOMIC_ACQUIRE) ==
        2, 1))
        return (smr_t)(void *)&st->st_u;
    return smr__static_init(st);
}

/*
 * The same enter as smr_enter's (smr__enter_word: one load, one store, the
 * publish and its fences, the nesting and signal rules), on the program's
 * word w and the clock in st.  w is idle (not SMR__W_FREE) only after this
 * thread's own out-of-line enter built the domain and pointed its slot at
 * w (program order), so the clock read here is initialized.
 */
SMR__INLINE void
smr__static_enter(struct smr__static *st, smr_seq_t *w, bool lazy)
{
    smr_t smr = (smr_t)(void *)&st->st_u;

    /* 32-bit sequences: lazy domains run fenced readers (src/smr_lazy.c),
     * so a lazy static domain's sections publish fenced, inline. */
    if (__builtin_expect(!smr__enter_word(smr, w, lazy && !SMR_SEQ32), 0))
        smr__static_enter_slow(st, w, lazy);
}

SMR__INLINE void
smr__static_exit(struct smr__static *st, smr_seq_t *w)
{
    if (__builtin_expect(!smr__exit_word(w), 0))
        smr__static_exit_slow(st);
}
#endif /* SMR_NO_INLINE */

/* ------------------------------------------------------------------ */
/* (+) Deferred reclamation of memory that is not from a pool          */
/* ------------------------------------------------------------------ */

/*
 * Call reclaim(ptr) once every section that could have seen ptr has ended.
 * Batched per thread (one smr_advance per batch); queued batches are
 * reclaimed by any thread's later smr_retire or smr_barrier (orphans of
 * exited threads included), and by the domain's background reclaimer if
 * one was started (none by default).  reclaim runs on the reclaiming
 * thread, maybe inside its own section, with no libsmr lock held; it must
 * not block on this domain.  Past the domain's cap, outside every section,
 * a retire waits for readers (unless SMR_RETIRE_NOWAIT; see
 * smr_retire_set_limits).
 */
SMR_API void smr_retire(smr_t smr, void *ptr, void (*reclaim)(void *ptr));
/* Returns once every retire made before the call has been reclaimed. */
SMR_API void smr_barrier(smr_t smr);
/* (+) Retired entries of this domain not yet reclaimed (all threads). */
SMR_API size_t smr_retire_pending(smr_t smr);
/*
 * (+) The domain's retire limits.  pending_cap is the hard bound on the
 * queue (0: the default, SMR_RETIRE_CAP_DEFAULT entries); the cap in force
 * adapts below it to free rate x the grace period the domain needs, so
 * steady retiring never waits.  Past the cap in force, when the oldest
 * batch has waited longer than the domain needs (a reader holds a section),
 * a retire made outside every section waits for readers and reclaims;
 * with SMR_RETIRE_NOWAIT it never waits, and pending is unbounded while a
 * reader stays inside (counted in smr_retire_stats, reported once on
 * stderr).  0, or EINVAL for unknown flags.
 */
#define SMR_RETIRE_NOWAIT      0x100
#define SMR_RETIRE_CAP_DEFAULT 262144
SMR_API int smr_retire_set_limits(smr_t smr, size_t pending_cap, int flags);
struct smr_retire_stats {
    size_t pending;         /* smr_retire_pending */
    size_t pending_cap;     /* the hard bound (as set, or the default) */
    int flags;              /* SMR_RETIRE_NOWAIT, as set */
    uint64_t sync_reclaims; /* retires past the cap that waited */
    uint64_t nowait_over;   /* retires past the cap that did not wait
                             * (SMR_RETIRE_NOWAIT) */
    size_t pending_cap_now; /* the cap in force (adapts below pending_cap) */
    uint64_t cap_raises;    /* times the cap in force was raised */
    /* more fields may follow */
};
SMR_API void smr_retire_stats(smr_t smr, struct smr_retire_stats *st);
/*
 * (+) The optional background reclaimer of one domain: a thread that
 * takes idle threads' partial batches (and the partial free buckets of
 * the domain's pools) and reclaims what expires (callbacks, pool dtors),
 * so a call_rcu-style writer may wait for its own callback.  It sleeps while
 * nothing is pending.  Start: 0, EBUSY if running, ENOMEM, or
 * pthread_create's error.  Stop joins it (no-op if not running); pending
 * work stays for later calls.  smr_destroy stops it; exit() stops every
 * one; a fork child has none (start it again there).  Stop or destroy
 * from a reclaim callback aborts (it would join itself).
 */
SMR_API int smr_reclaimer_start(smr_t smr);
SMR_API void smr_reclaimer_stop(smr_t smr);

/* ------------------------------------------------------------------ */
/* The SMR pool: type-stable objects whose reuse waits for readers     */
/* ------------------------------------------------------------------ */

typedef struct smr_pool *smr_pool_t;

struct smr_pool_stats {
    size_t size;      /* object size */
    size_t in_use;    /* handed out by alloc, not yet freed */
    size_t pending;   /* freed, still waiting for readers */
    size_t cached;    /* reusable now, in caches */
    size_t slabs;     /* slabs held */
    size_t bytes;     /* bytes held from the OS */
    /* (+) */
    uint64_t allocs;          /* smr_pool_alloc calls that succeeded */
    uint64_t frees;           /* smr_pool_free calls */
    uint64_t buckets_queued;  /* free buckets tagged and queued */
    uint64_t buckets_reused;  /* queued buckets whose grace period passed */
    uint64_t sync_reclaims;   /* frees past the cap that waited */
    size_t pending_peak;      /* high-water mark of pending */
    uint64_t nowait_over;     /* frees past the cap that did not wait
                               * (SMR_POOL_NOWAIT) */
    size_t pending_cap;       /* the hard bound on queued objects */
    size_t pending_cap_now;   /* the cap in force (adapts below the bound) */
    uint64_t cap_raises;      /* times the cap in force was raised */
    uint64_t buckets_taken;   /* idle threads' partial buckets taken by the
                               * background reclaimer */
};

/* (+) Pool flags.  SMR_POOL_NOWAIT: a free past the cap never waits for
 * readers; pending is unbounded while a reader stays inside (counted in
 * nowait_over, reported once on stderr). */
#define SMR_POOL_NOWAIT 0x100

/* (+) Everything smr_pool_create takes, plus hooks and limits. */
struct smr_pool_args {
    size_t size;              /* object size (> 0) */
    size_t align;             /* 0 or a power of two */
    smr_t smr;                /* NULL: plain object cache, immediate reuse */
    int flags;                /* 0 or SMR_POOL_NOWAIT */
    /* init/fini: once per object when slab memory is first carved / before
     * it goes back to the OS (locks and other type-stable state). */
    void (*init)(void *obj, void *arg);
    void (*fini)(void *obj, void *arg);
    /* ctor at every alloc; dtor after the grace period, before reuse. */
    void (*ctor)(void *obj, void *arg);
    void (*dtor)(void *obj, void *arg);
    void *arg;
    size_t pending_cap;       /* hard bound on queued objects (0: default,
                               * 16 MiB of objects, at least 4096) */
    unsigned bucket_max;      /* max objects per bucket (0: default) */
};

/* NULL + errno (EINVAL: size 0, align not a power of two, unknown flags;
 * ENOMEM). */
SMR_API smr_pool_t smr_pool_create(const char *name, size_t size,
    size_t align, smr_t smr, int flags);
SMR_API smr_pool_t smr_pool_create_args(const char *name,
    const struct smr_pool_args *args);
SMR_API void smr_pool_destroy(smr_pool_t pool);
/* NULL + errno ENOMEM.  Never waits for readers; legal inside a section. */
SMR_API void *smr_pool_alloc(smr_pool_t pool);
/* Never reuses at once: reuse waits for every section that could see obj. */
SMR_API void smr_pool_free(smr_pool_t pool, void *obj);
SMR_API void smr_pool_stats(smr_pool_t pool, struct smr_pool_stats *st);
/* (+) Reclaim what has expired, return empty slabs to the OS. */
SMR_API void smr_pool_reclaim(smr_pool_t pool);

/* ------------------------------------------------------------------ */
/* Pointer accessors (FreeBSD <sys/smr_types.h>)                      */
/* ------------------------------------------------------------------ */

/*
 * SMR_POINTER(type) wraps a pointer that readers load inside sections and
 * writers change under their own serialization.  `ex` is an expression that
 * is true when the caller holds that serialization (e.g. a lock-owned test);
 * it is evaluated only in SMR_DEBUG builds.
 */
#define SMR_POINTER(type)                                               \
    struct {                                                            \
        type __ptr;                                                     \
    }

#if SMR_CONFIG_DEBUG
#define SMR__ASSERT_SERIALIZED(ex)                                      \
    ((ex) ? (void)0 : smr__assert_entered(NULL, "serialized access: " #ex))
#define SMR__ASSERT_ENTERED(smr)                                        \
    smr__assert_entered((smr), "smr_entered_load outside a section")
#else
/*
 * Release builds do not evaluate ex or smr, but still name them, so that a
 * variable or parameter whose only use is this argument is not "unused"
 * under -Wall -Wextra -Werror.  `0 && (x)` is never evaluated (&& does not
 * evaluate its right side after a 0) and folds away at any -O; unlike
 * sizeof it also takes a bit-field, and a lambda call in C++17, which
 * forbids lambdas in unevaluated operands.
 */
#define SMR__ASSERT_SERIALIZED(ex) ((void)(0 && (ex)))
#define SMR__ASSERT_ENTERED(smr) ((void)(0 && (smr)))
#endif

/* Load inside a read section.  Acquire pairs with the release in
 * smr_serialized_store/swap: the pointed-to object is initialized. */
#define smr_entered_load(p, smr)                                        \
    __extension__({                                                     \
        SMR__ASSERT_ENTERED(smr);                                       \
        __atomic_load_n(&(p)->__ptr, __ATOMIC_ACQUIRE);                 \
    })

/* Load by the serialized writer: nobody else stores, relaxed is enough. */
#define smr_serialized_load(p, ex)                                      \
    __extension__({                                                     \
        SMR__ASSERT_SERIALIZED(ex);                                     \
        __atomic_load_n(&(p)->__ptr, __ATOMIC_RELAXED);                 \
    })

/* Publish: release, partner of smr_entered_load's acquire. */
#define smr_serialized_store(p, v, ex)                                  \
    do {                                                                \
        SMR__ASSERT_SERIALIZED(ex);                                     \
        __atomic_store_n(&(p)->__ptr, (v), __ATOMIC_RELEASE);           \
    } while (0)

/* Publish v and return the old pointer (release, as smr_serialized_store;
 * only the serialized writer stores, so the load half needs nothing). */
#define smr_serialized_swap(p, v, ex)                                   \
    __extension__({                                                     \
        SMR__ASSERT_SERIALIZED(ex);                                     \
        __atomic_exchange_n(&(p)->__ptr, (v), __ATOMIC_RELEASE);        \
    })

/* Neither a section nor serialization: the caller knows why it is safe
 * (e.g. only compares the pointer, or the object is not yet published). */
#define smr_unserialized_load(p, ex)                                    \
    __extension__({                                                     \
        SMR__ASSERT_SERIALIZED(ex);                                     \
        __atomic_load_n(&(p)->__ptr, __ATOMIC_RELAXED);                 \
    })
#define smr_unserialized_store(p, v, ex)                                \
    do {                                                                \
        SMR__ASSERT_SERIALIZED(ex);                                     \
        __atomic_store_n(&(p)->__ptr, (v), __ATOMIC_RELAXED);           \
    } while (0)

#ifdef __cplusplus
}
#endif

#endif /* SMR_H */
