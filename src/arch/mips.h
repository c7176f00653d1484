/*
 * libsmr architecture layer: MIPS (built and tested: 32-bit o32, Debian
 * mipsel and mips; 64-bit MIPS gets the same, nothing, from here).
 *
 * Nothing is overridden; this file exists so that the dispatcher names the
 * target and the reasons are written down (checked with objdump, see
 * docs/PORTABILITY.md):
 *
 *   smr__store_fence_sl  sw; sync        SYNC (stype 0) is the only full
 *   smr__fence_full      sync            barrier every MIPS32 core has.  The
 *       lightweight SYNC_MB (stype 0x10) of MIPS32r2.60+ could be cheaper on
 *       the few cores that implement it, but without such a core to measure
 *       on there is no win to show (STYLE.md 3).
 *   smr__cpu_relax       compiler barrier only.  PAUSE (MIPS32r2) waits for
 *       the LL bit to clear: it is meant for LL/SC lock loops, and a spin
 *       loop that did not just run LL could stall in it until the next
 *       exception return.  Linux's cpu_relax() on MIPS is barrier() too.
 *   SMR__CACHE_LINE      64 (generic; most MIPS32 cores have 32-byte lines).
 *
 * o32 has no lock-free 64-bit atomics (__GCC_ATOMIC_LLONG_LOCK_FREE is 1),
 * so smr_seq_t is 32-bit and wraps (SPEC §2); the read side (smr_enter,
 * smr_exit, smr_lazy_enter, smr_lazy_exit) uses only 32-bit loads and
 * stores and SYNC, never libatomic.
 */
#ifndef SMR_ARCH_MIPS_H
#define SMR_ARCH_MIPS_H

#ifndef SMR__ARCH_DISPATCH
#error "include <smr/arch/arch.h>, not an architecture header directly"
#endif

#endif /* SMR_ARCH_MIPS_H */
