/*
 * libsmr architecture layer: 64-bit POWER (ppc64le ELFv2 and big-endian
 * ppc64 ELFv1).
 *
 * POWER is the weakest target: only SYNC (hwsync) orders a store before a
 * later load.  LWSYNC orders load->load, load->store and store->store, NOT
 * store->load, so it is never enough for smr_enter's publish, nor for the
 * fence before smr_advance's increment or before smr_poll's scan (SPEC §3).
 * gcc emits `sync` for a C11 seq_cst fence, so neither fence is overridden
 * (checked with objdump, see docs/PORTABILITY.md):
 *
 *   smr__store_fence_sl  std; sync
 *   smr__fence_full      sync
 */
#ifndef SMR_ARCH_PPC64_H
#define SMR_ARCH_PPC64_H

#ifndef SMR__ARCH_DISPATCH
#error "include <smr/arch/arch.h>, not an architecture header directly"
#endif

/* POWER7 and later move lines between caches in 128-byte units: pad to
 * 128 or neighbouring slots false-share. */
#define SMR__CACHE_LINE 128

/*
 * `or 27,27,27` is the architected "yield" hint (Power ISA 2.06+; glibc's
 * atomic_spin_nop): give this SMT thread's resources to its siblings for a
 * while.  Not `or 1,1,1` (HMT_low): that lowers the thread's priority until
 * someone raises it again with `or 2,2,2`, so it must come as a pair.
 */
#define smr__cpu_relax() __asm__ __volatile__("or 27,27,27" ::: "memory")

#endif /* SMR_ARCH_PPC64_H */
