// <smr.h> from C++ (-std=c++11 -pedantic -Werror): extern "C", the inline
// read path as C++ inline functions, SMR_POINTER and the accessors.
#include <atomic>
#include <cstdio>
#include <type_traits>

#include <smr.h>

struct foo {
    int v;
};

static SMR_POINTER(foo *) gp;
// Statically declared domains compile as C++ too.
SMR_DEFINE_STATIC_LAZY(hdr_static);
SMR_DEFINE(hdr_extern);
SMR_DECLARE(hdr_extern);

// The C tag is smr_domain, not smr (SPEC §1), so a C++ program may have a
// namespace smr beside <smr.h> (smr.hpp is one).
namespace smr {
static const int tag_is_free = 1;
}

static_assert(std::is_unsigned<smr_seq_t>::value, "smr_seq_t is unsigned");
static_assert(std::is_signed<smr_delta_t>::value, "smr_delta_t is signed");
static_assert(sizeof(smr_seq_t) == sizeof(smr_delta_t), "seq/delta sizes");

int
main()
{
    foo f = { 42 };
    smr_t s = smr_create("hdr-cpp", 0, SMR_LAZY);

    if (smr::tag_is_free != 1)
        return 1;
    if (smr_version() != SMR_VERSION)
        return 1;
    if (s == nullptr)
        return 2;
    smr_serialized_store(&gp, &f, true);
    foo *old = smr_serialized_swap(&gp, &f, true);
    if (old != &f)
        return 3;
    smr_lazy_enter(s);
    smr_enter(s);
    foo *p = smr_entered_load(&gp, s);
    int v = p->v;
    smr_exit(s);
    smr_lazy_exit(s);
    if (smr_entered(s))
        return 4;
    smr_seq_t g = smr_advance(s);
    if (g == SMR_SEQ_INVALID || !smr_wait(s, g))
        return 5;
    if (!SMR_SEQ_GEQ(smr_current(s), g))
        return 6;
    smr_synchronize(s);
    smr_destroy(s);
    smr_static_enter(hdr_static);
    smr_static_enter(hdr_extern);
    p = smr_entered_load(&gp, smr_static(hdr_static));
    smr_static_exit(hdr_extern);
    smr_static_exit(hdr_static);
    if (p != &f || !smr_wait(smr_static(hdr_extern),
        smr_advance(smr_static(hdr_extern))))
        return 8;
    if (v != 42)
        return 7;
    std::puts("OK");
    return 0;
}
