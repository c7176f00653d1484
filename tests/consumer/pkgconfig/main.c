/* A consumer of the installed libsmr (pkg-config, CMake, static), with
 * <smr_list.h> and <smr_ht.h> from the same prefix. */
#include <smr.h>
#include <smr_ht.h>
#include <smr_list.h>
#include <stdio.h>

struct item {
    int v;
    SMR_SLIST_ENTRY(item) link;
    struct smr_ht_node node;
};
static SMR_SLIST_HEAD(, item) items = SMR_SLIST_HEAD_INITIALIZER(items);

static uint64_t
item_hash(const void *key, void *arg)
{
    (void)arg;
    return (uint64_t)*(const int *)key * UINT64_C(0x9e3779b97f4a7c15);
}

static bool
item_match(const struct smr_ht_node *n, const void *key, void *arg)
{
    (void)arg;
    return SMR_HT_ENTRY(n, struct item, node)->v == *(const int *)key;
}

/* The hash table, from libsmr itself: insert, look up, delete. */
static int
table(smr_t s, struct item *it)
{
    struct smr_ht_args args = { .hash = item_hash, .match = item_match };
    smr_ht_t ht = smr_ht_create(s, &args);
    struct smr_ht_node *n;

    if (ht == NULL)
        return 1;
    smr_ht_insert(ht, &it->node, &it->v);
    smr_enter(s);
    n = smr_ht_lookup(ht, &it->v);
    smr_exit(s);
    if (n != &it->node || smr_ht_delete(ht, n) != 0)
        return 1;
    return smr_ht_destroy(ht);
}

/* A statically declared domain: its storage and thread-local pointer in
 * this program, built at first use by the installed library. */
SMR_DEFINE_STATIC(consumer_static);

static int
static_domain(void)
{
    smr_t s = smr_static(consumer_static);

    if (s == NULL)
        return 1;
    smr_static_enter(consumer_static);
    if (!smr_entered(s))
        return 1;
    smr_static_exit(consumer_static);
    return smr_entered(s) || !smr_wait(s, smr_advance(s));
}

#ifdef TWO_TU
int second_tu(smr_t s); /* other.c: a second file that uses smr.h */
SMR_DEFINE_LAZY(consumer_shared);   /* other.c declares it */
#endif

int
main(void)
{
    smr_t s = smr_create("consumer", 0, 0);
    static struct item it;
    struct item *p;
    int n = 0;

    if (s == NULL)
        return 1;
    it.v = 1;
    SMR_SLIST_INSERT_HEAD(&items, &it, link, 1);
    smr_enter(s);
    SMR_SLIST_FOREACH(p, &items, link, s)
        n += p->v;
    smr_exit(s);
    if (n != 1)
        return 3;
    if (table(s, &it) != 0)
        return 4;
    if (static_domain() != 0)
        return 5;
#ifdef TWO_TU
    if (second_tu(s) != 0)
        return 2;
#endif
    smr_synchronize(s);
    smr_destroy(s);
    puts("OK");
    return 0;
}
