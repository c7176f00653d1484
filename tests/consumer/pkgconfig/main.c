/* A consumer of the installed libsmr (pkg-config, CMake, static). */
#include <smr.h>
#include <stdio.h>

#ifdef TWO_TU
int second_tu(smr_t s); /* other.c: a second file that uses smr.h */
#endif

int
main(void)
{
    smr_t s = smr_create("consumer", 0, 0);

    if (s == NULL)
        return 1;
    smr_enter(s);
    smr_exit(s);
#ifdef TWO_TU
    if (second_tu(s) != 0)
        return 2;
#endif
    smr_synchronize(s);
    smr_destroy(s);
    puts("OK");
    return 0;
}
