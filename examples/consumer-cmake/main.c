/* Protect a lookup with libsmr: publish, read in a section, unlink, free.
 * The entries sit on an SMR list (<smr_list.h>, installed beside <smr.h>). */
#include <stdio.h>
#include <smr.h>
#include <smr_list.h>

struct conf {
    int port;
    SMR_LIST_ENTRY(conf) link;
};
static SMR_LIST_HEAD(, conf) confs = SMR_LIST_HEAD_INITIALIZER(confs);

int
main(void)
{
    smr_t smr = smr_create("conf", 0, 0);
    smr_pool_t pool = smr_pool_create("conf", sizeof(struct conf), 0, smr, 0);
    struct conf *c = pool ? smr_pool_alloc(pool) : NULL, *p;
    int port = 0;

    if (c == NULL)
        return 1;
    c->port = 8080;
    SMR_LIST_INSERT_HEAD(&confs, c, link, true);    /* publish (one writer) */

    smr_enter(smr);                                 /* a reader: no lock */
    SMR_LIST_FOREACH(p, &confs, link, smr)
        port = p->port;
    smr_exit(smr);

    SMR_LIST_REMOVE(c, link, true);                 /* unlink, then free: */
    smr_pool_free(pool, c);         /* reused only once readers are gone */
    smr_pool_destroy(pool);
    smr_destroy(smr);
    printf("port %d\n", port);
    return port == 8080 ? 0 : 1;
}
