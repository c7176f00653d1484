/*
 * A main() for README.md's "Protect a lookup" block (tests/readme_snippets.sh,
 * kind with-main): the block comes first in the same translation unit, so
 * this sees struct route, routes[] and the functions as the README wrote
 * them.  Two readers look every route up while the writer replaces routes;
 * a reader must only ever see a route for the destination it asked for
 * (under ASan, a read of a freed route is reported as well).
 */
#include <stdatomic.h>
#include <stdio.h>

static atomic_bool stop;

static void *
reader(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        for (unsigned d = 0; d < 256; d++) {
            unsigned via = route_lookup((unsigned char)d);
            if (via != 0 && via % 256 != d) {
                fprintf(stderr, "route %u: via %u\n", d, via);
                abort();
            }
        }
    }
    return NULL;
}

int
main(void)
{
    pthread_t t[2];

    routes_init();
    for (int i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, reader, NULL) != 0)
            return 1;
    for (unsigned i = 1; i <= 2000; i++) {
        struct route *r = malloc(sizeof(*r));
        if (r == NULL)
            return 1;
        r->dst = i % 256;
        r->via = r->dst + 256 * i;
        route_set((unsigned char)r->dst, r);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    if (route_lookup(2000 % 256) != 2000 % 256 + 256 * 2000)
        return 1;
    for (unsigned d = 0; d < 256; d++)
        route_set((unsigned char)d, NULL);
    smr_destroy(routes_smr);
    return 0;
}
