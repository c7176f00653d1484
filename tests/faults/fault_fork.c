/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * fault_fork [all|default|deferred|lazy]
 *
 * fork() while other threads are inside read sections, in smr_synchronize,
 * and (lazy) in membarrier, on three domains at once; half of the forks
 * are made from inside a section of the forking thread.  The child
 * (SPEC §2 fork()):
 *  - sees only the forking thread's slot on each domain (live_slots 1:
 *    the slots of threads that do not exist in it were cleared);
 *  - if the parent forked inside a section, is still inside it, reads the
 *    protected object, and leaves it;
 *  - runs its own churn: sections, advance + wait, smr_synchronize,
 *    smr_poll(.., true), a thread of its own and a new domain (not under
 *    sanitizers: their allocators are not fork-safe); every wait must
 *    complete (a stale slot of a vanished thread would block it;
 *    alarm(20) turns a hang into a failure);
 *  - exits 0.
 * The parent checks every child's exit status and keeps churning.
 */
#include "fault.h"

#define FORKS   12
#define READERS 2
/* Under sanitizers the child must not allocate (see child()). */
#define FORK_CHILD_MALLOC_FREE (TORTURE_ASAN || TORTURE_TSAN)

static struct churn g_churn[3];
static int g_nmodes;
static atomic_bool g_stop;
static atomic_ullong g_reads;

static void
hold(uint64_t r)
{
    if ((r >> 40 & 7) == 0)
        sleep_ns((r >> 44 & 511) * 1000);
}

static void *
reader_main(void *arg)
{
    uint64_t x = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;

    while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
        (void)churn_read(&g_churn[rnd(&x) % (uint64_t)g_nmodes], &x, hold);
        atomic_fetch_add_explicit(&g_reads, 1, memory_order_relaxed);
    }
    return NULL;
}

static void *
syncer_main(void *arg)
{
    unsigned i = 0;

    (void)arg;
    while (!atomic_load_explicit(&g_stop, memory_order_relaxed))
        smr_synchronize(g_churn[i++ % (unsigned)g_nmodes].smr);
    return NULL;
}

/* ---- in the child: async-signal-safe reporting, _exit ------------------ */

static void
child_fail(const char *what, int k)
{
    char buf[256];
    int n = snprintf(buf, sizeof(buf), "fault_fork: FAIL: child %d: %s "
        "(domain %d)\n", (int)getpid(), what, k);

    if (n > 0)
        (void)!write(2, buf, (size_t)n);
    _exit(1);
}

static void *
child_thread(void *arg)
{
    struct churn *c = arg;
    uint64_t x = 12345;

    for (int i = 0; i < 50; i++)
        if (churn_read(c, &x, NULL) != 0)
            child_fail("object damaged (child thread)", c->mode);
    smr_synchronize(c->smr);
    return NULL;
}

static void
child(int inside)
{
    uint64_t x = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull | 1;

    alarm(20);
    for (int k = 0; k < g_nmodes; k++) {
        struct churn *c = &g_churn[k];
        struct smr_stats st;

        smr_stats(c->smr, &st);
        if (st.live_slots != 1)
            child_fail("live_slots != 1 after fork (slots of threads that "
                "do not exist in the child were kept)", k);
        if (k == inside) {
            uint64_t gen = 0;

            if (!smr_entered(c->smr))
                child_fail("not inside the section the parent forked in", k);
            if (obj_check(smr_entered_load(&c->slot[0], c->smr), &gen) != 0)
                child_fail("object damaged in the inherited section", k);
            sec_exit(c->smr, c->lazy);
        }
        if (smr_entered(c->smr))
            child_fail("inside a section it never entered", k);
    }
    for (int round = 0; round < 20; round++) {
        for (int k = 0; k < g_nmodes; k++) {
            struct churn *c = &g_churn[k];
            smr_seq_t goal;

            if (churn_read(c, &x, NULL) != 0)
                child_fail("object damaged", k);
            goal = smr_advance(c->smr);
            if (!smr_wait(c->smr, goal))
                child_fail("smr_wait failed", k);
            if (!smr_poll(c->smr, smr_advance(c->smr), true))
                child_fail("smr_poll(wait) failed", k);
            smr_synchronize(c->smr);
        }
    }
    /*
     * Not under sanitizers: their allocators (gcc 12's libsanitizer) take
     * no lock at fork, so a child of a multithreaded parent can block in
     * malloc forever (seen under ASan: a new thread's start-up calloc, 1
     * in ~200 runs), and TSan cannot follow threads created in such a
     * child ("dup thread with used id").  glibc's malloc is fork-safe.
     */
    for (int k = 0; k < g_nmodes && !FORK_CHILD_MALLOC_FREE; k++) {
        pthread_t t;
        struct smr_stats st;

        if (pthread_create(&t, NULL, child_thread, &g_churn[k]) != 0)
            child_fail("pthread_create in the child", k);
        pthread_join(t, NULL);
        smr_stats(g_churn[k].smr, &st);
        if (st.live_slots != 1)
            child_fail("child thread's slot not given back", k);
    }
    if (!FORK_CHILD_MALLOC_FREE) {
        smr_t d = torture_create("fault_fork_child", MODE_LAZY, 0);

        smr_lazy_enter(d);
        smr_lazy_exit(d);
        smr_synchronize(d);
        smr_destroy(d);
    }
    _exit(0);
}

int
main(int argc, char **argv)
{
    int modes[3], status;
    pthread_t rt[READERS], st;
    uint64_t x = 88172645463325252ull;

    fault_prog = "fault_fork";
    setvbuf(stdout, NULL, _IOLBF, 0);
    g_nmodes = fault_modes(argc, argv, modes);
    for (int k = 0; k < g_nmodes; k++) {
        churn_start(&g_churn[k], "fault_fork", modes[k]);
        FAULT_CHECK(smr_thread_attach(g_churn[k].smr) == 0, "attach");
    }
    for (uintptr_t i = 0; i < READERS; i++)
        if (pthread_create(&rt[i], NULL, reader_main, (void *)i) != 0)
            FAULT_FAIL("pthread_create");
    if (pthread_create(&st, NULL, syncer_main, NULL) != 0)
        FAULT_FAIL("pthread_create");

    for (int f = 0; f < FORKS; f++) {
        int inside = (f & 1) ? (int)(rnd(&x) % (uint64_t)g_nmodes) : -1;
        pid_t pid;

        sleep_ns(2000000 + rnd(&x) % 3000000);
        if (inside >= 0)
            sec_enter(g_churn[inside].smr, g_churn[inside].lazy);
        fflush(NULL);
        pid = fork();
        if (pid < 0)
            FAULT_FAIL("fork: %s", strerror(errno));
        if (pid == 0)
            child(inside);
        if (inside >= 0)
            sec_exit(g_churn[inside].smr, g_churn[inside].lazy);
        while (waitpid(pid, &status, 0) < 0)
            FAULT_CHECK(errno == EINTR, "waitpid: %s", strerror(errno));
        FAULT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "fork %d (%s a section): child %s %d", f,
            inside >= 0 ? "inside" : "outside",
            WIFSIGNALED(status) ? "killed by signal" : "exit status",
            WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    }

    atomic_store(&g_stop, true);
    for (int i = 0; i < READERS; i++)
        pthread_join(rt[i], NULL);
    pthread_join(st, NULL);
    for (int k = 0; k < g_nmodes; k++) {
        churn_stop(&g_churn[k]);
        smr_thread_detach(g_churn[k].smr);
        smr_destroy(g_churn[k].smr);
    }
    FAULT_CHECK(atomic_load(&fault_violations) == 0,
        "%llu objects changed or were poisoned under a reader",
        (unsigned long long)atomic_load(&fault_violations));
    printf("fault_fork: forks=%d (half inside a section) reads=%llu, every "
        "child ran its churn and exited 0: PASS\n", FORKS,
        (unsigned long long)atomic_load(&g_reads));
    return 0;
}
