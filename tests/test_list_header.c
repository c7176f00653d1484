/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * <smr_list.h> as strict ISO C11 (-std=c11 -pedantic -Werror) and, through
 * test_list_header.cpp, as C++11: every macro of both list kinds is
 * expanded at least once, in code common to the two languages.  Prints OK.
 */
#include <smr_list.h>

#include <stdio.h>

struct item {
    int v;
    SMR_SLIST_ENTRY(item) s;
    SMR_LIST_ENTRY(item) l;
};

SMR_SLIST_HEAD(item_slist, item);
SMR_LIST_HEAD(item_list, item);

static struct item_slist gs = SMR_SLIST_HEAD_INITIALIZER(gs);
static struct item_list gl = SMR_LIST_HEAD_INITIALIZER(gl);
static SMR_LIST_HEAD(, item) buckets[4];  /* hash chains: one pointer each */

/* Sum of v over a list read inside a section, times 10 per position. */
static int
sig_s(smr_t smr)
{
    struct item *x;
    int sig = 0;

    smr_enter(smr);
    SMR_SLIST_FOREACH(x, &gs, s, smr)
        sig = sig * 10 + x->v;
    if (SMR_SLIST_EMPTY(&gs, smr) != (sig == 0))
        sig = -1;
    x = SMR_SLIST_FIRST(&gs, smr);
    if (x != NULL && SMR_SLIST_NEXT(x, s, smr) == x)
        sig = -1;
    smr_exit(smr);
    return sig;
}

static int
sig_l(smr_t smr)
{
    struct item *x;
    int sig = 0;

    smr_lazy_enter(smr);
    SMR_LIST_FOREACH(x, &gl, l, smr)
        sig = sig * 10 + x->v;
    if (SMR_LIST_EMPTY(&gl, smr) != (sig == 0))
        sig = -1;
    x = SMR_LIST_FIRST(&gl, smr);
    if (x != NULL && SMR_LIST_NEXT(x, l, smr) == x)
        sig = -1;
    smr_lazy_exit(smr);
    return sig;
}

int
main(void)
{
    static struct item it[8];
    struct item *x, *t;
    smr_t smr = smr_create("list-hdr", 0, SMR_LAZY);
    int i, n = 0;

    if (smr == NULL)
        return 1;
    for (i = 0; i < 8; i++)
        it[i].v = i;

    SMR_SLIST_INIT(&gs);
    SMR_SLIST_INSERT_HEAD(&gs, &it[3], s, 1);
    SMR_SLIST_INSERT_HEAD(&gs, &it[1], s, 1);
    SMR_SLIST_INSERT_AFTER(&it[1], &it[2], s, 1);
    if (sig_s(smr) != 123)
        return 2;
    SMR_SLIST_REPLACE(&gs, &it[2], &it[5], item, s, 1);
    SMR_SLIST_REMOVE(&gs, &it[3], item, s, 1);
    if (sig_s(smr) != 15)
        return 3;
    SMR_SLIST_REMOVE_AFTER(&it[1], s, 1);
    SMR_SLIST_REMOVE_HEAD(&gs, s, 1);
    if (!SMR_SLIST_SERIALIZED_EMPTY(&gs, 1) || sig_s(smr) != 0)
        return 4;
    SMR_SLIST_INSERT_HEAD(&gs, &it[4], s, 1);
    if (SMR_SLIST_SERIALIZED_FIRST(&gs, 1) != &it[4] ||
        SMR_SLIST_SERIALIZED_NEXT(&it[4], s, 1) != NULL)
        return 5;
    SMR_SLIST_FOREACH_SAFE(x, &gs, s, t, 1)
        SMR_SLIST_REMOVE(&gs, x, item, s, 1);

    SMR_LIST_INIT(&gl);
    SMR_LIST_INSERT_HEAD(&gl, &it[3], l, 1);
    SMR_LIST_INSERT_BEFORE(&it[3], &it[1], l, 1);
    SMR_LIST_INSERT_AFTER(&it[1], &it[2], l, 1);
    if (sig_l(smr) != 123)
        return 6;
    SMR_LIST_REPLACE(&it[2], &it[6], l, 1);
    SMR_LIST_REMOVE(&it[1], l, 1);
    if (sig_l(smr) != 63)
        return 7;
    if (SMR_LIST_SERIALIZED_FIRST(&gl, 1) != &it[6] ||
        SMR_LIST_SERIALIZED_NEXT(&it[6], l, 1) != &it[3])
        return 8;
    SMR_LIST_FOREACH_SAFE(x, &gl, l, t, 1) {
        SMR_LIST_REMOVE(x, l, 1);
        n++;
    }
    if (n != 2 || !SMR_LIST_SERIALIZED_EMPTY(&gl, 1) || sig_l(smr) != 0)
        return 9;

    for (i = 0; i < 8; i++)
        SMR_LIST_INSERT_HEAD(&buckets[i % 4], &it[i], l, 1);
    n = 0;
    smr_enter(smr);
    SMR_LIST_FOREACH(x, &buckets[1], l, smr)
        n += x->v;
    smr_exit(smr);
    if (n != 1 + 5)
        return 10;

    smr_synchronize(smr);
    smr_destroy(smr);
    puts("OK");
    return 0;
}
