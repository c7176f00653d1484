/*
 * libsmr architecture layer: IBM Z (s390x, z/Architecture, big-endian).
 *
 * Z is almost TSO: like x86 only a store followed by a load may be
 * reordered, and a serialization is the full barrier.  gcc (-march=z196 and
 * later, the Debian baseline) emits BCR 14,0, the fast-BCR-serialization
 * form that Linux uses for smp_mb(), for a C11 seq_cst fence, so neither
 * fence is overridden (checked with objdump, see docs/PORTABILITY.md):
 *
 *   smr__store_fence_sl  stg; bcr 14,0
 *   smr__fence_full      bcr 14,0
 *   smr__cpu_relax       compiler barrier only: Z has no unprivileged spin
 *                        hint (Linux's cpu_relax() is barrier() too).
 */
#ifndef SMR_ARCH_S390X_H
#define SMR_ARCH_S390X_H

#ifndef SMR__ARCH_DISPATCH
#error "include <smr/arch/arch.h>, not an architecture header directly"
#endif

/* z/Architecture caches use 256-byte lines (z900 through z16). */
#define SMR__CACHE_LINE 256

#endif /* SMR_ARCH_S390X_H */
