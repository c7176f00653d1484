/*
 * libsmr architecture layer: RV64 (RVWMO memory model).
 *
 * Overrides the spin hint, and, for gcc 12 and older only, the two fences,
 * because those compilers do not emit the sequences of the RISC-V atomics
 * mapping (ISA manual, table A.6) that gcc 13+, clang and Linux use
 * (checked with objdump, see docs/PORTABILITY.md):
 *
 *  - gcc <= 12 compiles every C11 atomic store, relaxed included, to an
 *    AMOSWAP (an RMW: takes the line exclusive and waits for the old
 *    value), and a seq_cst fence to FENCE IORW,IORW (also orders device
 *    I/O, which no libsmr path touches).
 *  - The mapping's store + full fence is a plain SD and FENCE RW,RW: the
 *    pair Linux uses for smp_store_mb().  With gcc 13+ and clang the C11
 *    fallback in generic.h already compiles to exactly that.
 */
#ifndef SMR_ARCH_RISCV64_H
#define SMR_ARCH_RISCV64_H

#ifndef SMR__ARCH_DISPATCH
#error "include <smr/arch/arch.h>, not an architecture header directly"
#endif

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
/*
 * FENCE RW,RW: every earlier load and store before every later load and
 * store (Linux smp_mb()).  Used by smr_advance before its increment and by
 * smr_poll before its scan; partner of smr__store_fence_sl below.
 */
#define smr__fence_full()                                               \
    __asm__ __volatile__("fence rw,rw" ::: "memory")

/*
 * smr_enter's publish: a plain aligned store (single-copy atomic on RV64
 * for naturally aligned 4- and 8-byte accesses) and FENCE RW,RW, the
 * store->load barrier (it also keeps the relaxed clock load before the
 * protected loads, as generic.h's seq_cst fence does).
 * Partner: the full fence in smr_poll between its clock load and slot scan.
 */
#define smr__store_fence_sl(p, v)                                       \
    do {                                                                \
        if (sizeof(*(p)) == 8)                                          \
            __asm__ __volatile__("sd %1, %0\n\tfence rw,rw"             \
                : "=m"(*(p)) : "r"(v) : "memory");                      \
        else                                                            \
            __asm__ __volatile__("sw %1, %0\n\tfence rw,rw"             \
                : "=m"(*(p)) : "r"(v) : "memory");                      \
    } while (0)
#endif /* gcc < 13 */

/*
 * PAUSE (Zihintpause), spelled as its encoding FENCE W,0 so that every
 * assembler takes it: a spin-wait hint on cores that implement it, a fence
 * that orders nothing (a no-op) on the others.  Linux cpu_relax() does the
 * same.
 */
#define smr__cpu_relax()                                                \
    __asm__ __volatile__(".insn i 0x0f, 0, x0, x0, 0x010" ::: "memory")

#endif /* SMR_ARCH_RISCV64_H */
