/* Second translation unit: the inline read path must not produce
 * duplicate external definitions when two files include <smr.h>. */
#include <smr.h>

int second_tu(smr_t s);
SMR_DECLARE_LAZY(consumer_shared);  /* defined in main.c */

int
second_tu(smr_t s)
{
    smr_lazy_enter(s);
    smr_enter(s);
    smr_exit(s);
    smr_lazy_exit(s);
    smr_static_enter(consumer_shared);
    smr_static_exit(consumer_shared);
    if (!smr_wait(smr_static(consumer_shared),
        smr_advance(smr_static(consumer_shared))))
        return 1;
    return smr_wait(s, smr_advance(s)) ? 0 : 1;
}
