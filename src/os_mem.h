/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * libsmr OS memory primitives (mimalloc's prim.h in miniature): the only
 * place the pool talks to the kernel about memory.  Hidden, not ABI.
 */
#ifndef SMR_OS_MEM_H
#define SMR_OS_MEM_H

#include <stddef.h>

#define SMR__HIDDEN __attribute__((visibility("hidden")))

/* The system page size (cached after the first call). */
SMR__HIDDEN size_t smr__os_page_size(void);
/* size bytes of zeroed memory aligned to align (both powers of two, both
 * multiples of the page size).  NULL + errno ENOMEM on failure. */
SMR__HIDDEN void *smr__os_map_aligned(size_t size, size_t align);
/* Give back a range returned by smr__os_map_aligned (same size). */
SMR__HIDDEN void smr__os_unmap(void *p, size_t size);

#endif /* SMR_OS_MEM_H */
