/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * test_header_args: the accessor arguments that release builds do not
 * evaluate (the `ex` of smr_serialized_* and smr_unserialized_*, the
 * `smr` of smr_entered_load) still count as uses, so that a variable,
 * parameter or field whose only use is such an argument draws no
 * -Wunused-variable, -Wunused-but-set-variable or -Wunused-parameter
 * under -Wall -Wextra -Werror.  Built as strict C11 (test_header_args_c)
 * and, through test_header_args.cpp, as C++17 and C++20 (clang++).
 *
 * It also checks, at run time, that release builds really do not evaluate
 * `ex` (a counting function), and that smr_wait's result may be ignored
 * (smr_wait is not warn_unused_result; smr_poll and smr_wait_timeout are,
 * see test_header_must_check.c).
 *
 * In an SMR_DEBUG build the arguments are evaluated and asserted, so the
 * variables are used anyway: the test still builds and runs, but only a
 * release build checks the warnings.  Exit status 0 on success.
 */
#include <stdbool.h>
#include <stdio.h>

#include <smr.h>

struct foo {
    int v;
};

static SMR_POINTER(struct foo *) gp;
static int ex_calls;
static int failures;

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "test_header_args: %s:%d: check failed: %s\n",  \
                __FILE__, __LINE__, #cond);                                 \
            failures++;                                                     \
        }                                                                   \
    } while (0)

/* An `ex` with a side effect: release builds must not call it. */
static bool
held_counted(void)
{
    ex_calls++;
    return true;
}

static bool
lock_held(void)
{
    return true;
}

/* A parameter whose only use is the `ex` argument (-Wunused-parameter). */
static void
store_locked(struct foo *f, bool locked)
{
    smr_serialized_store(&gp, f, locked);
}

/* A local set from a call and used only as `ex` (-Wunused-but-set-...). */
static struct foo *
swap_locked(struct foo *f)
{
    bool held = lock_held();

    return smr_serialized_swap(&gp, f, held);
}

static struct foo *
load_locked(void)
{
    int owned = lock_held() ? 1 : 0;

    return smr_serialized_load(&gp, owned);
}

/* A bit-field as `ex` (sizeof could not take one). */
struct lockstate {
    unsigned held : 1;
    unsigned other : 7;
};

static void
unserialized_bitfield(struct foo *f)
{
    struct lockstate st = { 1, 0 };
    struct lockstate st2 = { 1, 0 };

    smr_unserialized_store(&gp, f, st.held);
    CHECK(smr_unserialized_load(&gp, st2.held) == f);
}

/* A domain variable used only as smr_entered_load's `smr`. */
static int
read_section(smr_t s)
{
    smr_t same = s;
    struct foo *p;
    int v;

    smr_enter(s);
    p = smr_entered_load(&gp, same);
    v = p->v;
    smr_exit(s);
    return v;
}

#ifdef __cplusplus
/* C++ only: a lambda call as `ex` (no unevaluated operand: C++17 allows
 * no lambda there), and a class with an explicit operator bool. */
struct lock_token {
    bool owned;
    explicit operator bool() const { return owned; }
};

static void
cxx_cases(struct foo *f)
{
    bool held = true;
    lock_token tok = { true };

    smr_serialized_store(&gp, f, [&] { return held; }());
    CHECK(smr_serialized_load(&gp, tok) == f);
}
#endif

int
main(void)
{
    struct foo a = { 1 }, b = { 2 };
    smr_t s = smr_create("hdr-args", 0, 0);
    smr_seq_t g;

    if (s == NULL) {
        perror("smr_create");
        return 2;
    }
    store_locked(&a, true);
    CHECK(read_section(s) == 1);
    CHECK(swap_locked(&b) == &a);
    CHECK(load_locked() == &b);
    CHECK(read_section(s) == 2);
    unserialized_bitfield(&a);
#ifdef __cplusplus
    cxx_cases(&b);
    CHECK(read_section(s) == 2);
#endif

    /* Release builds do not evaluate ex; SMR_DEBUG builds do, once each. */
    ex_calls = 0;
    smr_serialized_store(&gp, &a, held_counted());
    CHECK(smr_serialized_load(&gp, held_counted()) == &a);
    CHECK(smr_serialized_swap(&gp, &b, held_counted()) == &a);
    smr_unserialized_store(&gp, &a, held_counted());
    CHECK(smr_unserialized_load(&gp, held_counted()) == &a);
#if SMR_CONFIG_DEBUG
    CHECK(ex_calls == 5);
#else
    CHECK(ex_calls == 0);
#endif
    /* A literal, as most callers write it. */
    smr_serialized_store(&gp, &b, true);
    CHECK(smr_serialized_load(&gp, true) == &b);

    /* smr_wait's result may be ignored without a warning (outside a
     * section, with a goal from smr_advance, it is true). */
    g = smr_advance(s);
    smr_wait(s, g);
    CHECK(smr_poll(s, g, false));

    smr_destroy(s);
    if (failures != 0)
        return 1;
    puts("OK");
    return 0;
}
