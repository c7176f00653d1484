/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * One SONAME, one ABI (smr(3), "Builds and binary interface"): this
 * program is compiled with the <smr/config.h> of the other SMR_DEBUG
 * setting than the installed library's (tests/consumer/run.sh,
 * other_config), as an application built against a debug install and run
 * on a release one (or the reverse).  It must link, load and run; and
 * where its header is the debug one, the checks that header compiles in
 * must work on the library it runs on.
 *
 * Prints OK on success; anything else, or a nonzero exit, is a failure.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <smr.h>

static int failures;

static void
fail(const char *what)
{
    fprintf(stderr, "abi: FAIL: %s\n", what);
    failures++;
}

static void
reclaim_nop(void *p)
{
    (void)p;
}

/* Everyday use: sections, accessors, goals, a pool, a retire. */
static void
everyday(void)
{
    SMR_POINTER(int *) p;
    int v = 7, *got;
    struct smr_pool_stats ps;
    struct smr_stats st;
    smr_t s = smr_create("abi", 0, 0), l = smr_create("abi-lazy", 0,
        SMR_LAZY);
    smr_pool_t pool;
    void *obj;

    if (s == NULL || l == NULL) {
        fail("smr_create");
        return;
    }
    smr_serialized_store(&p, &v, true);
    smr_enter(s);
    got = smr_entered_load(&p, s);
    if (got != &v || *got != 7 || !smr_entered(s))
        fail("load inside a section");
    smr_enter(s);               /* nested */
    smr_exit(s);
    smr_exit(s);
    smr_lazy_enter(l);
    (void)smr_entered_load(&p, l);
    smr_lazy_exit(l);
    if (smr_entered(s) || smr_entered_any())
        fail("still inside after exit");
    if (!smr_wait(s, smr_advance(s)))
        fail("smr_wait");
    smr_synchronize(l);
    smr_stats(s, &st);
    if (st.advance == 0)
        fail("smr_stats");
    pool = smr_pool_create("abi-pool", 64, 0, s, 0);
    if (pool == NULL || (obj = smr_pool_alloc(pool)) == NULL) {
        fail("pool");
        return;
    }
    smr_pool_free(pool, obj);
    smr_pool_stats(pool, &ps);
    if (ps.in_use != 0)
        fail("pool in_use");
    smr_pool_destroy(pool);
    smr_retire(s, &v, reclaim_nop);
    smr_barrier(s);
    smr_destroy(l);
    smr_destroy(s);
}

/* Run fn in a child; it must die of SIGABRT saying `needle`. */
static void
expect_abort(void (*fn)(void), const char *needle, const char *what)
{
    char buf[4096];
    size_t len = 0;
    ssize_t r;
    int pfd[2], status;
    pid_t pid;

    if (pipe(pfd) != 0) {
        fail("pipe");
        return;
    }
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 2);
        close(pfd[0]);
        close(pfd[1]);
        alarm(20);
        fn();
        _exit(0);
    }
    close(pfd[1]);
    while (len < sizeof(buf) - 1 &&
        (r = read(pfd[0], buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    close(pfd[0]);
    waitpid(pid, &status, 0);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT ||
        strstr(buf, needle) == NULL) {
        fprintf(stderr, "abi: %s: status %#x, stderr: %s\n", what, status,
            buf);
        fail(what);
    }
}

static void
load_outside(void)
{
    SMR_POINTER(int *) p;
    int v = 1;
    smr_t s = smr_create("abi-out", 0, 0);

    smr_unserialized_store(&p, &v, true);
    (void)smr_entered_load(&p, s);
}

static void
store_unserialized(void)
{
    SMR_POINTER(int *) p;
    int v = 1;
    volatile int locked = 0;

    smr_serialized_store(&p, &v, locked);
}

static void
enter_destroyed(void)
{
    smr_t s = smr_create("abi-dead", 0, 0);

    smr_destroy(s);
    smr_enter(s);
}

int
main(void)
{
    smr_t probe;
    int lib_debug;

    /* The library's configuration, from the outside: an SMR_DEBUG build
     * starts every clock near the top of its range, a release build at
     * 256 (src/smr_internal.h, SMR__SEQ_INIT). */
    probe = smr_create("abi-probe", 0, 0);
    if (probe == NULL)
        return 1;
    lib_debug = smr_current(probe) != 256;
    smr_destroy(probe);
    if (lib_debug == SMR_CONFIG_DEBUG)
        fail("built with the library's own configuration, not the other");

    everyday();
#if SMR_CONFIG_DEBUG
    /* The debug header's checks, served by the library at hand. */
    expect_abort(load_outside, "smr_entered_load outside a section",
        "smr_entered_load outside a section");
    expect_abort(store_unserialized, "serialized access",
        "unserialized smr_serialized_store");
    /* Reliable only where the library keeps destroyed domains readable
     * (SMR_DEBUG); a release library has freed the memory. */
    if (lib_debug)
        expect_abort(enter_destroyed, "destroyed",
            "smr_enter on a destroyed domain");
#endif
    if (failures != 0)
        return 1;
    puts("OK");
    return 0;
}
