/*
 * libsmr architecture layer: x86-64 (TSO).
 *
 * Only a store followed by a load can be reordered on x86 (store buffer), so
 * only the store->load fence needs care.  Every locked instruction is a full
 * barrier; mfence is one too but is the slower way to get it.
 */
#ifndef SMR_ARCH_X86_64_H
#define SMR_ARCH_X86_64_H

#ifndef SMR__ARCH_DISPATCH
#error "include <smr/arch/arch.h>, not an architecture header directly"
#endif

#define SMR__CACHE_LINE 64
/*
 * Reader slots 128 bytes apart: Intel's L2 spatial prefetcher fetches lines
 * in 128-byte-aligned pairs, so two readers whose 64-byte slots share a pair
 * still steal the line from each other (crossbeam's CachePadded and Folly
 * use 128 on x86-64 for the same reason).  Measured (bench_enter, 2 pinned
 * readers, Xeon @ 2.8 GHz): 64-byte slots 9.0 / 11.4 / 3.4 ns per inline /
 * exported / lazy pair, 128-byte slots 7.6-8.5 / 8.0-9.5 / 2.3-2.7 ns.
 */
#define SMR__SLOT_ALIGN 128

/* PAUSE: lets the sibling hyperthread run and avoids the memory-order
 * machine clear when the spin loop exits. */
#ifndef SMR__MODEL
#define smr__cpu_relax() __asm__ __volatile__("pause" ::: "memory")
#endif

/*
 * smr_enter's publish as ONE xchg (SPEC §2/§3): xchg with a memory operand
 * is implicitly locked, so it is the store and the full store->load barrier
 * in a single instruction.  gcc and clang both emit xchg for a seq_cst
 * exchange; the signal fence after it keeps the compiler from hoisting the
 * section's protected loads above it (the C11 model alone does not order
 * later relaxed loads after a seq_cst RMW).
 * Partner: the full fence in smr_poll between its clock load and slot scan.
 * Why not the generic store + __atomic_thread_fence: gcc emits that as
 * mov + lock or (two instructions), clang 14 as mov + mfence (~17 ns).
 *
 * The plain store of the same value after the xchg is for the exit, which
 * loads the word again: a load of an address last written by a locked
 * instruction does not forward like one written by a plain store, and cost
 * ~4 ns per pair here (Xeon @ 2.8 GHz, fenced pair with the word folded:
 * 12.2 ns without the store, 8.2 ns with it; a bare xchg publish whose exit
 * loads nothing: 8.4 ns).  It is not part of the publish: the xchg already
 * stored the value and fenced.  Only the owner (and its signal handlers,
 * which leave the word as they found it) writes the word, so storing the
 * same value again changes nothing a poller can see.
 */
#define smr__store_fence_sl(p, v)                                   \
    do {                                                            \
        __typeof__(*(p)) smr__v_ = (v);                             \
        (void)__atomic_exchange_n((p), smr__v_, __ATOMIC_SEQ_CST);  \
        SMR__COMPILER_FENCE();                                      \
        __atomic_store_n((p), smr__v_, __ATOMIC_RELAXED);           \
    } while (0)

/*
 * Full fence as a locked add to the stack (what gcc emits for a seq_cst
 * fence).  Override exists for clang 14, which emits mfence (~17 ns vs ~2 ns
 * measured on this machine class); used by smr_advance and smr_poll.
 */
#ifndef SMR__MODEL
#define smr__fence_full()                                                  \
    __asm__ __volatile__("lock; orq $0, (%%rsp)" ::: "memory", "cc")
#endif

#endif /* SMR_ARCH_X86_64_H */
