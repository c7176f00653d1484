/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * fault_thread_churn [all|default|deferred|lazy]
 *
 * Threads are created and exit at a high rate while writers churn on three
 * domains (one of each kind) and two long-lived readers keep reading.  Each
 * short-lived thread does one of: sections and exit (the TLS destructor
 * gives the slots back), smr_thread_attach + sections + smr_thread_detach,
 * attach and exit without detaching, advance + poll (which claim a slot
 * too), or a section on every domain.  Checks:
 *  - objects read by the short-lived threads are intact;
 *  - after each wave is joined, smr_stats live_slots is back at its
 *    baseline (the long-lived threads), on every domain: slots recycle;
 *  - slot_capacity stays bounded by the peak number of live threads, not
 *    the number ever created (SPEC §2: scanning follows live slots);
 *  - at the end, with every thread gone, live_slots is 0.
 */
#include "fault.h"

#define WAVES     40
#define WAVE_SIZE 8
#define READERS   2

static struct churn g_churn[3];
static int g_nmodes;
static atomic_bool g_stop;
static atomic_int g_ready;

static void *
reader_main(void *arg)
{
    uint64_t x = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;

    for (int k = 0; k < g_nmodes; k++)
        (void)churn_read(&g_churn[k], &x, NULL);    /* take the slots */
    atomic_fetch_add(&g_ready, 1);
    while (!atomic_load_explicit(&g_stop, memory_order_relaxed))
        for (int k = 0; k < g_nmodes; k++)
            (void)churn_read(&g_churn[k], &x, NULL);
    return NULL;
}

static void *
short_main(void *arg)
{
    uint64_t x = (uintptr_t)arg * 0x2545f4914f6cdd1dull + 7;
    struct churn *c = &g_churn[rnd(&x) % (uint64_t)g_nmodes];
    smr_seq_t goal;

    switch ((uintptr_t)arg % 5) {
    case 0:
        for (int i = 0; i < 4; i++)
            (void)churn_read(c, &x, NULL);
        break;
    case 1:
        FAULT_CHECK(smr_thread_attach(c->smr) == 0, "smr_thread_attach");
        for (int i = 0; i < 4; i++)
            (void)churn_read(c, &x, NULL);
        smr_thread_detach(c->smr);
        FAULT_CHECK(!smr_entered(c->smr), "entered after detach");
        break;
    case 2:
        FAULT_CHECK(smr_thread_attach(c->smr) == 0, "smr_thread_attach");
        break;
    case 3:
        goal = smr_advance(c->smr);
        /* (void)!: smr_poll is warn_unused_result; no answer needed. */
        (void)!smr_poll(c->smr, goal, false);
        break;
    default:
        for (int k = 0; k < g_nmodes; k++)
            (void)churn_read(&g_churn[k], &x, NULL);
        break;
    }
    return NULL;
}

static uint64_t
live_slots(smr_t smr, uint64_t *cap)
{
    struct smr_stats st;

    smr_stats(smr, &st);
    if (cap != NULL)
        *cap = st.slot_capacity;
    return st.live_slots;
}

int
main(int argc, char **argv)
{
    int modes[3];
    pthread_t rt[READERS], wt[WAVE_SIZE];
    uint64_t base[3], cap, maxcap = 0;
    unsigned long long made = 0;

    fault_prog = "fault_thread_churn";
    setvbuf(stdout, NULL, _IOLBF, 0);
    g_nmodes = fault_modes(argc, argv, modes);
    for (int k = 0; k < g_nmodes; k++)
        churn_start(&g_churn[k], "fault_thread_churn", modes[k]);
    for (uintptr_t i = 0; i < READERS; i++)
        if (pthread_create(&rt[i], NULL, reader_main, (void *)i) != 0)
            FAULT_FAIL("pthread_create");
    while (atomic_load(&g_ready) < READERS)
        sched_yield();
    /* Baseline: the writer (it advances and waits) and the two readers. */
    for (int k = 0; k < g_nmodes; k++) {
        base[k] = live_slots(g_churn[k].smr, NULL);
        FAULT_CHECK(base[k] == 1 + READERS, "%s: baseline live_slots %llu, "
            "expected %d", torture_mode_names[modes[k]],
            (unsigned long long)base[k], 1 + READERS);
    }

    for (int w = 0; w < WAVES; w++) {
        for (uintptr_t i = 0; i < WAVE_SIZE; i++) {
            if (pthread_create(&wt[i], NULL, short_main,
                (void *)(uintptr_t)(made + i)) != 0)
                FAULT_FAIL("pthread_create");
        }
        for (int i = 0; i < WAVE_SIZE; i++)
            pthread_join(wt[i], NULL);
        made += WAVE_SIZE;
        /* Thread-exit destructors have run once pthread_join returns. */
        for (int k = 0; k < g_nmodes; k++) {
            uint64_t l = live_slots(g_churn[k].smr, &cap);

            FAULT_CHECK(l == base[k], "%s: after wave %d live_slots %llu, "
                "baseline %llu: slots of exited threads were not given back",
                torture_mode_names[modes[k]], w, (unsigned long long)l,
                (unsigned long long)base[k]);
            if (cap > maxcap)
                maxcap = cap;
        }
    }
    /* At most 1 + READERS + WAVE_SIZE live at once: capacity must not grow
     * with the 320 threads created (chunked growth may round up 4x). */
    FAULT_CHECK(maxcap <= 4 * (1 + READERS + WAVE_SIZE) + 16,
        "slot_capacity grew to %llu for %d live threads",
        (unsigned long long)maxcap, 1 + READERS + WAVE_SIZE);

    atomic_store(&g_stop, true);
    for (int i = 0; i < READERS; i++)
        pthread_join(rt[i], NULL);
    for (int k = 0; k < g_nmodes; k++) {
        churn_stop(&g_churn[k]);
        FAULT_CHECK(live_slots(g_churn[k].smr, NULL) == 0,
            "%s: live_slots not 0 after every thread exited",
            torture_mode_names[modes[k]]);
        smr_destroy(g_churn[k].smr);
    }
    FAULT_CHECK(atomic_load(&fault_violations) == 0,
        "%llu objects changed or were poisoned under a reader",
        (unsigned long long)atomic_load(&fault_violations));
    printf("fault_thread_churn: threads=%llu max_slot_capacity=%llu "
        "live_slots back to baseline after every wave: PASS\n", made,
        (unsigned long long)maxcap);
    return 0;
}
