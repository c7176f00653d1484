/*
 * libsmr architecture layer: the complete C11 fallback.
 *
 * Everything here is expressed with the GCC/Clang __atomic builtins, which
 * implement the C11 memory model on plain objects (so the same code compiles
 * as C and as C++).  An architecture header included before this one may
 * define any of these first; whatever it leaves undefined comes from here.
 */
#ifndef SMR_ARCH_GENERIC_H
#define SMR_ARCH_GENERIC_H

#ifndef SMR__ARCH_DISPATCH
#error "include <smr/arch/arch.h>, not an architecture header directly"
#endif

#ifndef SMR__CACHE_LINE
#define SMR__CACHE_LINE 64
#endif
#ifndef SMR__SLOT_ALIGN
#define SMR__SLOT_ALIGN SMR__CACHE_LINE
#endif

#ifndef SMR__COMPILER_FENCE
#define SMR__COMPILER_FENCE() __atomic_signal_fence(__ATOMIC_SEQ_CST)
#endif

#ifndef smr__cpu_relax
#define smr__cpu_relax() SMR__COMPILER_FENCE()
#endif

#ifndef smr__fence_full
/* A C11 seq_cst fence: a full barrier on every target (POWER: sync). */
#define smr__fence_full() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif

#ifndef smr__store_fence_sl
/*
 * Publish a read section: store the observed write sequence into the
 * thread's slot, then a store->load fence so that no protected load of the
 * section can be satisfied before the store is visible to a poller.
 * Partner: the seq_cst fence in smr_poll between its load of the write
 * clock and its loads of the slots (SPEC §3, store buffering pattern).
 *
 * The fence must be a real thread fence: an acquire RMW is NOT a store->load
 * barrier on arm64 (FreeBSD PR 265974, fixed in commit 8694fd33).
 */
#define smr__store_fence_sl(p, v)                                   \
    do {                                                            \
        __atomic_store_n((p), (v), __ATOMIC_RELAXED);               \
        __atomic_thread_fence(__ATOMIC_SEQ_CST);                    \
    } while (0)
#endif

/* ThreadSanitizer models no standalone fence (see smr.h): there the exit
 * and smr__word_open use release stores, which it does model. */
#if defined(__SANITIZE_THREAD__)
#define SMR__ARCH_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SMR__ARCH_TSAN 1
#endif
#endif

#if !defined(smr__exit_store) && defined(SMR__ARCH_TSAN)
#define smr__exit_store(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#endif

#ifndef smr__exit_store
/*
 * The outermost exit: a release fence, then a relaxed store (SPEC §3).
 * Not a release store: since C++20 (P0982) a release sequence no longer
 * includes the same thread's later relaxed stores, so a poller whose
 * acquire load reads the NEXT section's publish (>= its goal) would not be
 * ordered after this section's loads by a release store, and the writer's
 * free would race with them.  A release fence synchronizes with an acquire
 * load that reads any store sequenced after it: this one (idle), and every
 * later publish, inner-depth store or re-store of the word by this thread.
 * Partner: the acquire load of the word in the poll scan.
 * Cost: the fence is the same barrier as a release store's on every target
 * but arm64 (x86: none; POWER: lwsync; ARMv7: dmb; MIPS: sync; RISC-V:
 * fence rw,w); on arm64 it is dmb ish + str instead of stlr (see
 * docs/PORTABILITY.md for why the other choice, every store to the word
 * release, was not taken there).
 */
#define smr__exit_store(p, v)                                       \
    do {                                                            \
        __atomic_thread_fence(__ATOMIC_RELEASE);                    \
        __atomic_store_n((p), (v), __ATOMIC_RELAXED);               \
    } while (0)
#endif

#endif /* SMR_ARCH_GENERIC_H */
