/* A consumer of the installed libsmr (pkg-config, CMake, static), with
 * <smr_list.h> from the same prefix. */
#include <smr.h>
#include <smr_list.h>
#include <stdio.h>

struct item {
    int v;
    SMR_SLIST_ENTRY(item) link;
};
static SMR_SLIST_HEAD(, item) items = SMR_SLIST_HEAD_INITIALIZER(items);

#ifdef TWO_TU
int second_tu(smr_t s); /* other.c: a second file that uses smr.h */
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
#ifdef TWO_TU
    if (second_tu(s) != 0)
        return 2;
#endif
    smr_synchronize(s);
    smr_destroy(s);
    puts("OK");
    return 0;
}
