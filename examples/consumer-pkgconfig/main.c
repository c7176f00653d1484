/* Protect a lookup with libsmr: publish, read in a section, unlink, free. */
#include <stdio.h>
#include <smr.h>

struct conf { int port; };
static SMR_POINTER(struct conf *) current;

int
main(void)
{
    smr_t smr = smr_create("conf", 0, 0);
    smr_pool_t pool = smr_pool_create("conf", sizeof(struct conf), 0, smr, 0);
    struct conf *c = pool ? smr_pool_alloc(pool) : NULL;
    int port;

    if (c == NULL)
        return 1;
    c->port = 8080;
    smr_serialized_store(&current, c, true);    /* publish (one writer) */

    smr_enter(smr);                             /* a reader: no lock */
    port = smr_entered_load(&current, smr)->port;
    smr_exit(smr);

    c = smr_serialized_swap(&current, NULL, true);  /* unlink, then free: */
    smr_pool_free(pool, c);         /* reused only once readers are gone */
    smr_pool_destroy(pool);
    smr_destroy(smr);
    printf("port %d\n", port);
    return port == 8080 ? 0 : 1;
}
