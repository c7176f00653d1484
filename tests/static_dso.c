/* A shared object that declares a static domain (test_static's dlclose
 * test loads it with dlopen and unloads it). */
#include <smr.h>

SMR_DEFINE_STATIC(dso_static);

int static_dso_section(void);

int
static_dso_section(void)
{
    smr_static_enter(dso_static);
    int in = smr_entered(smr_static(dso_static));
    smr_static_exit(dso_static);
    return in && smr_wait(smr_static(dso_static),
        smr_advance(smr_static(dso_static))) ? 0 : 1;
}
