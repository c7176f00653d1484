/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * fault_signal [all|default|deferred|lazy]
 *
 * A signal handler enters a read section nested in whatever the interrupted
 * code was doing -- possibly in the middle of its own smr_enter or
 * smr_exit (SPEC §2 nesting rule and Signals).  Readers and the writer
 * attach first (smr_thread_attach makes enter/exit async-signal-safe); a
 * signaller thread sends SIGUSR1 to each of them with pthread_kill about
 * every 20 us, and setitimer(ITIMER_REAL) adds SIGALRM every 100 us (blocked
 * in the threads that are not attached).  The handler:
 *   was = smr_entered(); enter (once or twice); p = smr_entered_load();
 *   check p is live, not poisoned; exit; smr_entered() == was.
 * The interrupted readers check their own object before and after, so a
 * handler whose exit ended the outer section early shows up as a poisoned
 * or recycled object.  Checks: no violation, entered state restored,
 * handlers ran, and some of them ran inside an interrupted section.
 */
#include "fault.h"

#include <sys/time.h>

#define READERS 2
#define RUN_NS  (150ull * 1000000)

static struct churn g_churn;
static atomic_bool g_stop;
static atomic_ullong g_handlers, g_handlers_inside, g_state_errors;
static pthread_t g_targets[READERS + 1];
static atomic_int g_attached;

static void
handler(int sig)
{
    int saved = errno;
    struct churn *c = &g_churn;
    static _Thread_local uint64_t hx;
    uint64_t gen = 0, x;
    bool was = smr_entered(c->smr), twice;
    struct obj *o;

    (void)sig;
    if (hx == 0)
        hx = (uintptr_t)&gen | 1;
    x = rnd(&hx);
    twice = (x >> 4 & 1) != 0;
    sec_enter(c->smr, c->lazy);
    if (twice)
        sec_enter(c->smr, c->lazy);
    o = smr_entered_load(&c->slot[(x >> 5) % CHURN_SLOTS], c->smr);
    (void)obj_check(o, &gen);
    if (twice)
        sec_exit(c->smr, c->lazy);
    if (!smr_entered(c->smr))
        atomic_fetch_add_explicit(&g_state_errors, 1, memory_order_relaxed);
    (void)obj_check(o, &gen);
    sec_exit(c->smr, c->lazy);
    if (smr_entered(c->smr) != was)
        atomic_fetch_add_explicit(&g_state_errors, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&g_handlers, 1, memory_order_relaxed);
    if (was)
        atomic_fetch_add_explicit(&g_handlers_inside, 1,
            memory_order_relaxed);
    errno = saved;
}

static void
unblock(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGALRM);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

static void
spin_hold(uint64_t r)
{
    spin_steps((unsigned)(r >> 40 & 1023));
}

static void *
reader_main(void *arg)
{
    uint64_t x = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;

    FAULT_CHECK(smr_thread_attach(g_churn.smr) == 0, "smr_thread_attach");
    atomic_fetch_add(&g_attached, 1);
    unblock();
    while (!atomic_load_explicit(&g_stop, memory_order_relaxed))
        (void)churn_read(&g_churn, &x, spin_hold);
    churn_block_signals();
    return NULL;
}

static void *
signaller_main(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
        for (int i = 0; i < READERS + 1; i++)
            (void)pthread_kill(g_targets[i], SIGUSR1);
        sleep_ns(20000);
    }
    return NULL;
}

int
main(int argc, char **argv)
{
    int modes[3], n;
    struct sigaction sa;
    sigset_t set;

    fault_prog = "fault_signal";
    churn_thread_init = unblock;
    setvbuf(stdout, NULL, _IOLBF, 0);
    n = fault_modes(argc, argv, modes);

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    /* Only attached threads take the signals: everyone else blocks them
     * (threads inherit the mask; attached ones unblock). */
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    for (int k = 0; k < n; k++) {
        pthread_t rt[READERS], sig;
        struct itimerval it = { { 0, 100 }, { 0, 100 } }, off = { { 0, 0 },
            { 0, 0 } };
        unsigned long long h, hi;

        atomic_store(&g_stop, false);
        atomic_store(&g_handlers, 0);
        atomic_store(&g_handlers_inside, 0);
        atomic_store(&g_attached, 0);
        /* The churn writer attaches before it starts; it takes signals
         * too, inside smr_wait and smr_synchronize. */
        churn_start(&g_churn, "fault_signal", modes[k]);
        g_targets[0] = g_churn.thr;
        for (uintptr_t i = 0; i < READERS; i++)
            if (pthread_create(&rt[i], NULL, reader_main, (void *)i) != 0)
                FAULT_FAIL("pthread_create");
        for (int i = 0; i < READERS; i++)
            g_targets[i + 1] = rt[i];
        while (atomic_load(&g_attached) < READERS)
            sched_yield();
        if (pthread_create(&sig, NULL, signaller_main, NULL) != 0)
            FAULT_FAIL("pthread_create");
        setitimer(ITIMER_REAL, &it, NULL);
        /* At least RUN_NS, and until enough handlers ran inside
         * interrupted sections (a loaded host may starve us), <= 20 s. */
        for (uint64_t t0 = now_ns(); now_ns() - t0 < RUN_NS ||
            atomic_load(&g_handlers) < 200 ||
            atomic_load(&g_handlers_inside) < 20;) {
            if (now_ns() - t0 > 20 * 1000000000ull)
                break;
            sleep_ns(5000000);
        }
        setitimer(ITIMER_REAL, &off, NULL);
        atomic_store(&g_stop, true);
        pthread_join(sig, NULL);
        for (int i = 0; i < READERS; i++)
            pthread_join(rt[i], NULL);
        churn_stop(&g_churn);
        smr_destroy(g_churn.smr);

        h = atomic_load(&g_handlers);
        hi = atomic_load(&g_handlers_inside);
        FAULT_CHECK(atomic_load(&fault_violations) == 0,
            "%s: %llu objects changed or were poisoned under a reader or "
            "a handler", torture_mode_names[modes[k]],
            (unsigned long long)atomic_load(&fault_violations));
        FAULT_CHECK(atomic_load(&g_state_errors) == 0,
            "%s: smr_entered() wrong after a nested handler section",
            torture_mode_names[modes[k]]);
        FAULT_CHECK(h >= 100 && hi > 0, "%s: too few handler runs (%llu, "
            "%llu inside a section)", torture_mode_names[modes[k]], h, hi);
        printf("fault_signal: %s: handlers=%llu (inside an interrupted "
            "section: %llu) swaps=%llu violations=0\n",
            torture_mode_names[modes[k]], h, hi,
            (unsigned long long)atomic_load(&g_churn.swaps));
    }
    printf("fault_signal: PASS\n");
    return 0;
}
