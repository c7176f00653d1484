/*
 * libsmr architecture layer: 32-bit x86 (i686; Debian i386).
 *
 * TSO, as x86-64 (see x86_64.h): only a store followed by a load can be
 * reordered, and every locked instruction is a full barrier.
 *
 * 64-bit atomics are lock-free here (CMPXCHG8B, and x87 FILD/FISTP or SSE
 * MOVQ for plain 64-bit loads and stores), so smr_seq_t is 64-bit unless
 * SMR_SEQ32=ON.  There is no 64-bit XCHG: with 64-bit sequences the publish
 * stays the generic store + locked OR (a CMPXCHG8B loop would need a load
 * and a retry loop); with 32-bit sequences it is one XCHG, as on x86-64.
 */
#ifndef SMR_ARCH_I686_H
#define SMR_ARCH_I686_H

#ifndef SMR__ARCH_DISPATCH
#error "include <smr/arch/arch.h>, not an architecture header directly"
#endif

#define SMR__CACHE_LINE 64

/* PAUSE (REP NOP: a plain NOP before the Pentium 4): yields to the sibling
 * hyperthread and avoids the memory-order machine clear on loop exit. */
#define smr__cpu_relax() __asm__ __volatile__("pause" ::: "memory")

/*
 * Full fence as a locked OR to the stack top.  gcc emits exactly this for a
 * seq_cst fence when SSE2 is off (the Debian i386 baseline), so under gcc
 * the override changes nothing; clang and gcc with -msse2 emit MFENCE, which
 * is several times slower and also orders non-temporal stores that libsmr
 * never makes (the x86_64.h reasoning).  Used by smr_advance and smr_poll.
 */
#define smr__fence_full()                                                  \
    __asm__ __volatile__("lock; orl $0, (%%esp)" ::: "memory", "cc")

/*
 * smr_enter's publish.  32-bit sequences: one XCHG (implicitly locked:
 * store and full barrier in one instruction, SPEC §2), then a compiler-only
 * fence so the protected loads are not hoisted above it (x86_64.h).
 * 64-bit sequences: the generic relaxed 64-bit store (FILD/FISTP) and the
 * locked OR above.  Partner: the full fence in smr_poll before its scan.
 */
#define smr__store_fence_sl(p, v)                                       \
    do {                                                                \
        if (sizeof(*(p)) <= 4) {                                        \
            /* Then the plain store: see x86_64.h. */                   \
            __typeof__(*(p)) smr__v_ = (v);                             \
            (void)__atomic_exchange_n((p), smr__v_, __ATOMIC_SEQ_CST);  \
            SMR__COMPILER_FENCE();                                      \
            __atomic_store_n((p), smr__v_, __ATOMIC_RELAXED);           \
        } else {                                                        \
            __atomic_store_n((p), (v), __ATOMIC_RELAXED);               \
            smr__fence_full();                                          \
        }                                                               \
    } while (0)

#endif /* SMR_ARCH_I686_H */
