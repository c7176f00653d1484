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
/* Statically declared domains: inline, or the exported calls under
 * SMR_NO_INLINE. */
SMR_DEFINE_STATIC(hdr_static);
SMR_DEFINE_STATIC_LAZY(hdr_static_lazy);

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
    smr_static_enter(hdr_static);
    smr_static_enter(hdr_static_lazy);
    if (!smr_entered(smr_static(hdr_static)) ||
        !smr_entered(smr_static(hdr_static_lazy)))
        return 8;
    smr_static_exit(hdr_static_lazy);
    smr_static_exit(hdr_static);
    if (smr_entered(smr_static(hdr_static)) ||
        !smr_wait(smr_static(hdr_static), smr_advance(smr_static(hdr_static))))
        return 9;
    return 0;
}
