/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * Copyright (c) 2026 The libsmr developers
 *
 * OS memory for the pool: aligned anonymous mappings.  An aligned mapping
 * is made by over-mapping size + align and unmapping the ends, so the slab
 * header of any object is found by masking its address (src/pool.c).
 */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "os_mem.h"

#ifndef MAP_ANONYMOUS
#define MAP_ANONYMOUS MAP_ANON
#endif

size_t
smr__os_page_size(void)
{
    static size_t page;   /* racy first fill is harmless: same value */
    size_t p = __atomic_load_n(&page, __ATOMIC_RELAXED);

    if (p == 0) {
        long v = sysconf(_SC_PAGESIZE);
        p = v > 0 ? (size_t)v : 4096;
        __atomic_store_n(&page, p, __ATOMIC_RELAXED); /* no partner: a
                                                         plain cache */
    }
    return p;
}

static void *
os_map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    return p == MAP_FAILED ? NULL : p;
}

void *
smr__os_map_aligned(size_t size, size_t align)
{
    uintptr_t a, lo;
    char *p;

    if (size == 0 || size + align < size) {
        errno = ENOMEM;
        return NULL;
    }
    /* Lucky first: the kernel often returns an aligned range anyway. */
    p = os_map(size);
    if (p == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    if (((uintptr_t)p & (align - 1)) == 0)
        return p;
    munmap(p, size);
    p = os_map(size + align);
    if (p == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    a = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
    lo = a - (uintptr_t)p;
    if (lo != 0)
        munmap(p, lo);
    if (align - lo != 0)
        munmap((char *)a + size, align - lo);
    return (void *)a;
}

void
smr__os_unmap(void *p, size_t size)
{
    if (p != NULL)
        munmap(p, size);
}
