/*
 * libsmr architecture layer: the one dispatcher.
 *
 * Exactly one #if chain picks a thin per-architecture header that overrides
 * only what differs; generic.h then supplies a complete C11 (GCC __atomic)
 * definition of everything left undefined.  The inline read path in smr.h
 * includes this file, so it is installed as <smr/arch/arch.h> and every name
 * it defines is reserved (smr__ / SMR__).
 *
 * Interface (each is a macro or static inline function):
 *   SMR__CACHE_LINE                cache-line size used for padding
 *   SMR__SLOT_ALIGN                spacing of data that different threads
 *                                  write (reader slots, the pollers' read
 *                                  hand): the line size, or more where the
 *                                  hardware moves lines in pairs
 *   smr__cpu_relax()               spin-wait hint
 *   smr__fence_full()              seq_cst fence: store->load and everything
 *   smr__store_fence_sl(p, v)      relaxed store of v to *p followed by a
 *                                  store->load fence (smr_enter's publish)
 *   smr__exit_store(p, v)          the outermost exit's store of v (idle)
 *                                  to the reader's word: ordered after
 *                                  every access of the section for a
 *                                  poller that reads this store or any
 *                                  later store of this thread to the word
 *                                  (SPEC §3, C++20 release sequences)
 *   SMR__COMPILER_FENCE()          compiler-only fence (signal handlers)
 *
 * An override earns its place with a measured win or a correctness reason
 * written beside it (STYLE.md 3).
 *
 * GenMC models (tests/model/, SMR__MODEL defined) get no inline asm, which
 * GenMC cannot run, and compiler-only fences that stay compiler-only (GenMC
 * executes atomic_signal_fence as a full fence, which would hide a missing
 * hardware fence).  SMR__MODEL_X86 picks the x86-64 publish as the code has
 * it (a seq_cst exchange, then the plain re-store); otherwise a model runs
 * the C11 fallback, which is what every other target compiles to.
 */
#ifndef SMR_ARCH_ARCH_H
#define SMR_ARCH_ARCH_H

#define SMR__ARCH_DISPATCH 1

#if defined(SMR__MODEL)
#define SMR__COMPILER_FENCE() ((void)0)
#define smr__cpu_relax() ((void)0)
#endif

#if defined(SMR__MODEL) && !defined(SMR__MODEL_X86)
/* A model of the C11 fallback: generic.h alone. */
#elif defined(__x86_64__) || defined(SMR__MODEL_X86)
#include "x86_64.h"
#elif defined(__i386__)
#include "i686.h"
#elif defined(__aarch64__)
#include "aarch64.h"
#elif defined(__arm__)
#include "arm.h"
#elif defined(__powerpc64__)
#include "ppc64.h"
#elif defined(__riscv) && __riscv_xlen == 64
#include "riscv64.h"
#elif defined(__mips__)
#include "mips.h"
#elif defined(__s390x__)
#include "s390x.h"
#endif
/* Anything else: generic.h alone (complete C11). */

#include "generic.h"

#undef SMR__ARCH_DISPATCH
#endif /* SMR_ARCH_ARCH_H */
