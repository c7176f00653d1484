/*
 * <smr.h> as strict ISO C11 (-std=c11 -pedantic -Werror): the GNU parts of
 * the header must be wrapped so that a strict C11 user compiles cleanly.
 * Also built with -DSMR_NO_INLINE to link against the exported twins of
 * the inline read path.
 */
#include <smr.h>

#include <stdio.h>

struct foo {
    int v;
};

static SMR_POINTER(struct foo *) gp;

int
main(void)
{
    struct foo f = { 42 }, *p;
    smr_seq_t g;
    smr_t s;
    int v;

    if (smr_version() != SMR_VERSION)
        return 1;
    s = smr_create("hdr-c", 0, 0);
    if (s == NULL)
        return 2;
    smr_serialized_store(&gp, &f, 1);
    smr_enter(s);
    smr_enter(s);
    p = smr_entered_load(&gp, s);
    v = p->v;
    smr_exit(s);
    if (!smr_entered(s))
        return 3;
    smr_exit(s);
    if (smr_entered(s))
        return 4;
    smr_lazy_enter(s);
    smr_lazy_exit(s);
    g = smr_advance(s);
    if (g == SMR_SEQ_INVALID || !smr_wait(s, g) || !smr_poll(s, g, 0))
        return 5;
    if (!SMR_SEQ_LEQ(g, smr_current(s)))
        return 6;
    smr_synchronize(s);
    smr_destroy(s);
    if (v != 42)
        return 7;
    puts("OK");
    return 0;
}
