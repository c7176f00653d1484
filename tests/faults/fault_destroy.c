/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * fault_destroy [all|default|deferred|lazy]
 *
 * smr_destroy racing with idle registered threads (SPEC §2 Lifecycles).
 * Each cycle: threads take a slot on a doomed domain D (a section, an
 * explicit attach, or an advance) and on a long-lived domain P, then go
 * idle.  The main thread lets them exit at random moments around
 * smr_destroy(D), creates a new domain N at once (likely at D's index, and
 * maybe at D's address), and half of the threads enter N before they exit.
 * Checks:
 *  - nothing crashes (ASan: the exit destructor never touches D's freed
 *    memory);
 *  - the exit destructors give back exactly the slots of live domains:
 *    after the threads are joined, N and P have live_slots 0 and an
 *    smr_synchronize on each returns (a stale entry keyed to D that
 *    released a slot of N, or left one held, shows here);
 *  - smr_destroy never aborts: idle threads are not readers.
 */
#include "fault.h"

#define CYCLES  24
#define THREADS 8

static smr_t g_doomed, g_long, g_new;
static int g_mode;
static atomic_int g_ready, g_phase;

static void *
idle_main(void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull;
    bool lazy = g_mode == MODE_LAZY;

    switch (i % 3) {
    case 0:
        sec_enter(g_doomed, lazy);
        sec_exit(g_doomed, lazy);
        break;
    case 1:
        FAULT_CHECK(smr_thread_attach(g_doomed) == 0, "attach");
        break;
    default:
        /* (void)!: smr_poll is warn_unused_result; no answer needed. */
        (void)!smr_poll(g_doomed, smr_advance(g_doomed), false);
        break;
    }
    sec_enter(g_long, false);
    sec_exit(g_long, false);
    atomic_fetch_add(&g_ready, 1);

    /* Idle until released, then exit at a random moment around the
     * destroy (some before it, some during, some after). */
    while (atomic_load(&g_phase) < 1)
        sleep_ns(20000);
    sleep_ns(rnd(&x) % 300000);
    if (i % 2 == 0) {
        while (atomic_load(&g_phase) < 2)
            sleep_ns(20000);
        sec_enter(g_new, false);
        sec_exit(g_new, false);
    }
    return NULL;
}

static void
check_idle(smr_t smr, const char *what, int cycle)
{
    struct smr_stats st;

    smr_stats(smr, &st);
    FAULT_CHECK(st.live_slots == 0, "%s: cycle %d: %s domain has %llu live "
        "slots after every thread exited", torture_mode_names[g_mode], cycle,
        what, (unsigned long long)st.live_slots);
    FAULT_CHECK(st.live_slots <= st.slot_capacity, "stats inconsistent");
    smr_synchronize(smr);
    smr_thread_detach(smr);     /* main's own slot, from the synchronize */
}

int
main(int argc, char **argv)
{
    int modes[3], n;
    uint64_t x = 0x853c49e6748fea9bull;
    unsigned long long same_addr = 0;

    fault_prog = "fault_destroy";
    setvbuf(stdout, NULL, _IOLBF, 0);
    n = fault_modes(argc, argv, modes);
    for (int k = 0; k < n; k++) {
        g_mode = modes[k];
        g_long = torture_create("fault_destroy_long", g_mode, 4);
        for (int cycle = 0; cycle < CYCLES; cycle++) {
            pthread_t t[THREADS];
            smr_t old;

            atomic_store(&g_ready, 0);
            atomic_store(&g_phase, 0);
            g_doomed = torture_create("fault_destroy_doomed", g_mode, 4);
            g_new = NULL;
            for (uintptr_t i = 0; i < THREADS; i++)
                if (pthread_create(&t[i], NULL, idle_main, (void *)i) != 0)
                    FAULT_FAIL("pthread_create");
            while (atomic_load(&g_ready) < THREADS)
                sched_yield();
            atomic_store(&g_phase, 1);
            sleep_ns(rnd(&x) % 200000);
            old = g_doomed;
            smr_destroy(g_doomed);
            g_new = torture_create("fault_destroy_new", g_mode, 4);
            same_addr += g_new == old;
            atomic_store(&g_phase, 2);
            for (int i = 0; i < THREADS; i++)
                pthread_join(t[i], NULL);
            check_idle(g_new, "new", cycle);
            check_idle(g_long, "long-lived", cycle);
            smr_destroy(g_new);
        }
        smr_destroy(g_long);
    }
    printf("fault_destroy: cycles=%d threads=%d (new domain at the destroyed "
        "one's address %llu times): PASS\n", CYCLES * n, THREADS, same_addr);
    return 0;
}
