/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * Run with SMR_SHOW_STATS=1 by test_diag (reported/show_stats_at_exit):
 * leaves at exit a live domain whose smr_retire queue holds 5 entries (its
 * own reader inside keeps them pending), a pool, and two domains destroyed
 * before, with known numbers, whose final statistics the exit report must
 * still show.
 */
#include <stdio.h>
#include <stdlib.h>

#include <smr.h>

static void
nop(void *p)
{
    (void)p;
}

int
main(void)
{
    static int objs[5];
    smr_t live, dead, lazy;
    smr_pool_t pool;

    dead = smr_create("show-dead", 0, 0);
    lazy = smr_create("show-dead-lazy", 0, SMR_LAZY);
    live = smr_create("show-live", 0, 0);
    if (dead == NULL || lazy == NULL || live == NULL)
        return 1;
    for (int i = 0; i < 3; i++)
        (void)smr_advance(dead);
    smr_destroy(dead);
    smr_synchronize(lazy);
    smr_destroy(lazy);
    pool = smr_pool_create("show-pool", 48, 0, NULL, 0);
    if (pool == NULL)
        return 1;
    smr_pool_free(pool, smr_pool_alloc(pool));
    /* Inside a section nothing retired after the enter can expire. */
    smr_enter(live);
    for (int i = 0; i < 5; i++)
        smr_retire(live, &objs[i], nop);
    exit(0);    /* still inside: the report runs from atexit */
}
