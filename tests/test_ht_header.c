/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * <smr_ht.h> as strict ISO C11 (-std=c11 -pedantic -Werror) and, through
 * test_ht_header.cpp, as C++11: every call and macro of the table is used
 * at least once, in code common to the two languages.  Prints OK.
 */
#include <smr_ht.h>

#include <stdio.h>

struct entry {
    unsigned long id;
    struct smr_ht_node node;
};

static uint64_t
entry_hash(const void *key, void *arg)
{
    (void)arg;
    return *(const unsigned long *)key * UINT64_C(0x9e3779b97f4a7c15);
}

static bool
entry_match(const struct smr_ht_node *n, const void *key, void *arg)
{
    (void)arg;
    return SMR_HT_ENTRY(n, struct entry, node)->id ==
        *(const unsigned long *)key;
}

int
main(void)
{
    smr_t smr = smr_create("ht-header", 0, 0);
    struct smr_ht_args args;
    struct smr_ht_stats st;
    struct smr_ht_node *n;
    struct entry e[3];
    smr_ht_t ht;
    int count = 0, bad = 0;

    if (smr == NULL)
        return 1;
    args.hash = entry_hash;
    args.match = entry_match;
    args.arg = NULL;
    args.name = "header";
    args.init_buckets = 4;
    args.min_buckets = 0;
    args.max_buckets = SMR_HT_MAX_BUCKETS;
    args.flags = SMR_HT_MANUAL_RESIZE;
    if ((ht = smr_ht_create(smr, &args)) == NULL)
        return 2;
    for (int i = 0; i < 3; i++)
        e[i].id = (unsigned long)(i < 2 ? i : 1);
    smr_ht_insert(ht, &e[0].node, &e[0].id);
    smr_ht_insert(ht, &e[1].node, &e[1].id);
    smr_enter(smr);
    bad += smr_ht_insert_unique(ht, &e[2].node, &e[2].id) != &e[1].node;
    n = smr_ht_lookup(ht, &e[1].id);
    bad += n != &e[1].node || smr_ht_next_dup(ht, n, &e[1].id) != NULL;
    SMR_HT_FOREACH(n, ht)
        count++;
    bad += smr_ht_first(ht) == NULL || count != 2;
    smr_exit(smr);
    bad += smr_ht_replace(ht, &e[1].node, &e[2].node) != 0;
    bad += smr_ht_resize(ht, 64) != 0 || smr_ht_buckets(ht) != 64;
    smr_ht_stats(ht, &st);
    bad += st.count != 2 || smr_ht_count(ht) != 2 || smr_ht_smr(ht) != smr;
    bad += smr_ht_delete(ht, &e[0].node) != 0;
    bad += smr_ht_delete(ht, &e[2].node) != 0;
    bad += smr__ht_test_fail_alloc != NULL;
    bad += smr_ht_destroy(ht) != 0;
    smr_destroy(smr);
    if (bad != 0)
        return 3;
    puts("OK");
    return 0;
}
