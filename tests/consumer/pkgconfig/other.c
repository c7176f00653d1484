/* Second translation unit: the inline read path must not produce
 * duplicate external definitions when two files include <smr.h>. */
#include <smr.h>

int second_tu(smr_t s);

int
second_tu(smr_t s)
{
    smr_lazy_enter(s);
    smr_enter(s);
    smr_exit(s);
    smr_lazy_exit(s);
    return smr_wait(s, smr_advance(s)) ? 0 : 1;
}
