/*
 * libsmr architecture layer: AArch64 (ARMv8-A and later, little-endian).
 *
 * Overrides only the spin hint.  Everything else is the C11 fallback in
 * generic.h, because gcc already emits the best sequence (checked with
 * objdump, see docs/PORTABILITY.md):
 *
 *   smr__store_fence_sl  str; dmb ish
 *       DMB ISH orders every earlier load and store before every later one
 *       in the inner-shareable domain: it is the store->load barrier that
 *       smr_enter needs.  Do not replace it by an acquire RMW: ldadda/ldaxr
 *       order later accesses after the RMW's read only, so the slot store can
 *       still sit in the store buffer while the protected loads run (the bug
 *       in FreeBSD's atomic_add_acq_int enter, PR 265974, commit 8694fd33).
 *       swpal would be a full barrier, but needs LSE (-march=armv8.1-a); with
 *       gcc's default -moutline-atomics it is a call into libgcc's
 *       __aarch64_swp8_acq_rel, slower than str + dmb.
 *   smr__fence_full      dmb ish
 *   SMR__CACHE_LINE      64: Cortex-A and Neoverse cores (Graviton, Ampere,
 *                        ThunderX2) have 64-byte lines.  Apple M-series cores
 *                        have 128-byte lines; there adjacent slots may share
 *                        a line (a cost, never a correctness issue).
 */
#ifndef SMR_ARCH_AARCH64_H
#define SMR_ARCH_AARCH64_H

#ifndef SMR__ARCH_DISPATCH
#error "include <smr/arch/arch.h>, not an architecture header directly"
#endif

/* YIELD: the architected spin-wait hint (Linux cpu_relax() on arm64); a
 * no-op where the core has nothing to yield to, a hint to SMT siblings and
 * hypervisors where it has. */
#define smr__cpu_relax() __asm__ __volatile__("yield" ::: "memory")

#endif /* SMR_ARCH_AARCH64_H */
