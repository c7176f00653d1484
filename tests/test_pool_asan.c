/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * AddressSanitizer builds only (SMR_SANITIZE contains "address"): a read
 * of a pool object whose grace period has passed (it is cached, maybe
 * reused) must be reported as use-after-poison, while a read of an object
 * that is merely pending (a late reader may legally do that) must not.
 *
 * Plain main(): the process is expected to die.  ctest passes it when the
 * output shows "pending read ok" and then ASan's "use-after-poison".
 */
#include <smr.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct obj {
    long v[8];
};

int
main(void)
{
    smr_t d = smr_create("asan", 0, 0);
    smr_pool_t p = smr_pool_create("asan-pool", sizeof(struct obj), 0, d, 0);
    struct smr_pool_stats st;
    struct obj *o, *keep;
    volatile long sink;

    if (d == NULL || p == NULL)
        return 2;
    keep = smr_pool_alloc(p);          /* keeps the slab mapped */
    o = smr_pool_alloc(p);
    o->v[3] = 42;
    smr_pool_free(p, o);
    /* Pending: stale but legal for a reader that still holds it. */
    sink = o->v[3];
    printf("pending read ok (%ld)\n", (long)sink);
    fflush(stdout);
    for (int i = 0; i < 1000; i++) {   /* grace period passes: cached */
        smr_pool_reclaim(p);
        smr_pool_stats(p, &st);
        if (st.pending == 0)
            break;
        usleep(1000);
    }
    if (st.pending != 0) {
        fprintf(stderr, "never reclaimed\n");
        return 3;
    }
    sink = o->v[3];                    /* use after reclaim: reported */
    printf("NOT CAUGHT: read %ld after reclaim\n", (long)sink);
    smr_pool_free(p, keep);
    smr_pool_destroy(p);
    smr_destroy(d);
    return 0;
}
