/*
 * libsmr architecture layer: 32-bit ARM (ARMv7-A; Debian armhf).
 *
 * Overrides only the spin hint; gcc's C11 sequences are already the best
 * ones (checked with objdump, see docs/PORTABILITY.md):
 *
 *   smr__store_fence_sl  (32-bit sequences) str; dmb ish
 *                        (64-bit sequences) ldrexd/strexd loop; dmb ish
 *       DMB ISH is the full barrier ARMv7 has; it orders the slot store
 *       before the protected loads.  64-bit atomics are lock-free on ARMv7
 *       (LDREXD/STREXD), so smr_seq_t is 64-bit here unless SMR_SEQ32=ON,
 *       and a 64-bit single-copy-atomic store has to be an exclusive pair.
 *   smr__fence_full      dmb ish
 *   SMR__CACHE_LINE      64 (Cortex-A15/A53/A72 lines; Cortex-A9's 32-byte
 *                        lines are covered twice over).
 *
 * ARMv6 and older have no DMB instruction and no YIELD; they are not
 * supported by this header (generic.h still compiles there, through gcc's
 * kernel helpers).
 */
#ifndef SMR_ARCH_ARM_H
#define SMR_ARCH_ARM_H

#ifndef SMR__ARCH_DISPATCH
#error "include <smr/arch/arch.h>, not an architecture header directly"
#endif

#if defined(__ARM_ARCH) && __ARM_ARCH >= 7
/* YIELD (ARMv6K and later, ARM and Thumb-2): the spin-wait hint, a no-op
 * on cores without multithreading. */
#define smr__cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#endif

#endif /* SMR_ARCH_ARM_H */
