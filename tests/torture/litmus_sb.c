/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * litmus_sb: the store-buffering litmus test that smr_enter's store->load
 * fence and smr_poll's fence exist for (SPEC §3, smr.c I4).
 *
 *   litmus_sb [-k] [mode [rounds [max_seconds]]]
 *     mode         default | deferred | lazy                 (default)
 *     rounds       rounds to run                          (1000000)
 *     max_seconds  stop early after this long, 0: never          (0)
 *     -k           keep going after a forbidden outcome (count them)
 *
 * Two threads, pinned to different CPUs where there are two.  Round r:
 *
 *     reader R                              writer W
 *     --------                              --------
 *     handshake(r)                          handshake(r)
 *     random delay                          random delay
 *     enter          (slot = clock)         flag = r              (relaxed)
 *     x = flag       (relaxed)              goal = smr_advance()
 *     wait until W has polled in round r    ok = smr_poll(goal, false)
 *     exit                                  publish ok, "polled r"
 *
 * Fence-free lazy domains: in even rounds W repeats the non-blocking poll for up to
 * 4 us while it fails, so that a lazy clock tick passes and the poll really
 * scans; in odd rounds it makes one forced attempt, smr_wait_timeout(goal,
 * 0), which pushes the clock and issues the membarrier at once.
 *
 * R stays inside its section until W's poll has RETURNED, so R's section
 * overlaps the whole advance+poll.  Then "ok && x != r" is forbidden in
 * every round, whatever the timing:
 *   - if R's slot store is visible to W's scan, R published a clock value
 *     below goal (had R loaded a clock value >= goal, the fence before the
 *     clock write would make flag = r visible to R), so the poll fails;
 *   - if it is not visible, R's store->load fence (lazy: W's membarrier)
 *     makes W's flag store visible to R's load: x == r.
 * The random delays sweep the two threads across each other so that the
 * rounds where R's enter and W's store/scan race happen often.  A library
 * without the reader fence (SMR__BROKEN_ENTER_NOFENCE) or without the scan
 * (SMR__BROKEN_POLL_NOSCAN) shows the forbidden outcome.
 *
 * On lazy domains the test sets SMR_LAZY_TICK_US=1 (unless set already),
 * so that the non-blocking polls move the clock and issue the membarrier
 * every microsecond instead of failing until the next 1 ms tick.
 *
 * Output: one summary line; on the forbidden outcome also a line starting
 * "litmus_sb: FORBIDDEN" and exit status 1.  Exit 2: usage or setup error.
 */
#include "torture.h"

#define CL 128
#define LAZY_RETRY_NS 4000  /* separate lines for everything the two threads share */

static struct {
    _Alignas(CL) atomic_ullong flag;       /* W -> R: the litmus location */
    _Alignas(CL) atomic_ullong r_arrive;   /* R: arrived at round r */
    _Alignas(CL) atomic_ullong w_arrive;   /* W: arrived at round r */
    _Alignas(CL) atomic_ullong w_polled;   /* W: 2 * r + poll result */
    _Alignas(CL) atomic_bool stop;
    _Alignas(CL) atomic_ullong noise;      /* written by both, see below */
} g;

static smr_t g_smr;
static bool g_lazy, g_lazy_fast, g_keep_going;
static unsigned long long g_rounds;
static uint64_t g_deadline;

/* Results (reader-owned until joined). */
static unsigned long long r_done, r_old, r_true, r_forbidden, r_first,
    r_offset_sum;

/*
 * Timing sweep.  The forbidden outcome needs R's flag load to land just
 * before W's flag store becomes visible, so R's start is delayed by an
 * offset that adapts to keep about half of the reads old (that is, to sit
 * on the boundary, whatever the speed of this machine), plus a random
 * jitter on both sides that sweeps the window around it.
 */
#ifndef LITMUS_JITTER
#define LITMUS_JITTER 64
#endif
#define ADAPT_ROUNDS 64

/* Reader-private lines that are never in cache when stored to: 8 MiB (past
 * L2 and most of a VM's share of L3), one line per store, 4 per round. */
#define COLD_STORES 4
#define COLD_STRIDE 4160   /* 65 lines: consecutive stores in other sets */
static char cold[8 << 20];

static inline unsigned
jitter(uint64_t *x)
{
    return (unsigned)(rnd(x) % LITMUS_JITTER);
}

static void *
reader_main(void *arg)
{
    uint64_t x = 0x9e3779b97f4a7c15ull;
    unsigned long long r, w, old_mark = 0;
    unsigned offset = 0;

    (void)arg;
    torture_pin(0);
    for (r = 1; r <= g_rounds; r++) {
        unsigned long long flag;
        bool ok;

        atomic_store_explicit(&g.r_arrive, r, memory_order_release);
        spin_until_geq(&g.w_arrive, r);
        spin_steps(offset + jitter(&x));

        /*
         * A store to a line the writer owns: its RFO holds up R's store
         * buffer, and the slot stores of the enter that follows commit only
         * after it (x86 commits stores in order).  A reader that updates
         * shared state just before entering (a counter, a lock word) is
         * common; here it widens the window in which a missing store->load
         * fence lets the flag load pass the publish.  With the fence the
         * outcome stays forbidden whatever sits in the buffer.
         */
        atomic_store_explicit(&g.noise, r, memory_order_relaxed);
        /*
         * And stores that miss the whole cache hierarchy up to L3: when the
         * two threads run on SMT siblings of one core (a VM's vCPUs can), the
         * writer's line is already in the shared L1 and the store above
         * costs nothing; these still hold the slot store back.  Without
         * them a broken reader went 2*10^7 rounds uncaught in that regime
         * (4.9 M rounds/s instead of the usual 1.4 M).
         */
        for (unsigned k = 0; k < COLD_STORES; k++)
            cold[((r * COLD_STORES + k) * COLD_STRIDE) % sizeof(cold)] =
                (char)r;
        sec_enter(g_smr, g_lazy);
        flag = atomic_load_explicit(&g.flag, memory_order_relaxed);
        /* Stay inside until W's poll has returned (see the top). */
        w = spin_until_geq(&g.w_polled, 2 * r);
        sec_exit(g_smr, g_lazy);

        ok = (w & 1) != 0;
        r_done++;
        r_true += ok;
        r_old += flag != r;
        if (flag != r && ok) {
            if (r_forbidden++ == 0) {
                r_first = r;
                printf("litmus_sb: FORBIDDEN: round %llu: the reader read "
                    "the old flag (%llu) inside a section that overlapped an "
                    "smr_advance + smr_poll that returned true\n", r, flag);
                fflush(stdout);
            }
            if (!g_keep_going)
                break;
        }
        if (r % ADAPT_ROUNDS == 0) {
            unsigned long long old = r_old - old_mark;

            old_mark = r_old;
            if (old > ADAPT_ROUNDS * 55 / 100)
                offset += 1 + offset / 8;
            else if (old < ADAPT_ROUNDS * 45 / 100)
                offset -= offset > 0 ? 1 + offset / 8 : 0;
            if (offset > 100000)
                offset = 100000;
            r_offset_sum += offset;
        }
        if ((r & 0x3ff) == 0 && g_deadline != 0 && now_ns() > g_deadline)
            break;
    }
    /* Let the writer out of its handshake. */
    atomic_store_explicit(&g.stop, true, memory_order_relaxed);
    atomic_store_explicit(&g.r_arrive, ~0ull, memory_order_release);
    return NULL;
}

static void *
writer_main(void *arg)
{
    uint64_t x = 0x2545f4914f6cdd1dull;
    unsigned long long r;
    smr_seq_t prev = 0;
    bool prev_ok = true;

    (void)arg;
    torture_pin(1);
    for (r = 1; r <= g_rounds; r++) {
        smr_seq_t goal;
        bool ok;

        /* Take the noise line (see reader_main), then arrive. */
        atomic_store_explicit(&g.noise, r, memory_order_relaxed);
        atomic_store_explicit(&g.w_arrive, r, memory_order_release);
        spin_until_geq(&g.r_arrive, r);
        if (atomic_load_explicit(&g.stop, memory_order_relaxed))
            break;
        /*
         * Catch up on the last round's goal (R has left that section, so
         * this poll scans and succeeds).  The scan also reads R's slot
         * line, so R's next publish has to fetch it back: that keeps the
         * store in R's store buffer long enough for a missing fence to
         * show, as it would in a program whose writer scans often.
         */
        if (!prev_ok)   /* (void)!: smr_poll is warn_unused_result */
            (void)!smr_poll(g_smr, prev, false);
        spin_steps(jitter(&x));

        atomic_store_explicit(&g.flag, r, memory_order_relaxed);
        goal = smr_advance(g_smr);
        if (!g_lazy_fast) {
            ok = smr_poll(g_smr, goal, false);
        } else if (r & 1) {
            /* A waiter's single attempt: push the clock, one barrier,
             * scan, give up at once (the deadline has passed). */
            ok = smr_wait_timeout(g_smr, goal, 0);
        } else {
            /* The lazy clock moves once per tick (1 us here) and the
             * advance just used this one: retry for a few ticks.  Every
             * attempt overlaps R's section all the same. */
            uint64_t t = now_ns() + LAZY_RETRY_NS;

            while (!(ok = smr_poll(g_smr, goal, false)) && now_ns() < t)
                ;
        }
        atomic_store_explicit(&g.w_polled, 2 * r + ok, memory_order_release);
        prev = goal;
        prev_ok = ok;
    }
    return NULL;
}

static void
usage(void)
{
    fprintf(stderr, "usage: litmus_sb [-k] [default|deferred|lazy "
        "[rounds [max_seconds]]]\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    pthread_t rt, wt;
    int mode, argi = 1;
    long max_seconds = 0;
    uint64_t t0;
    double el;
    bool fail, fence_free;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argi < argc && strcmp(argv[argi], "-k") == 0) {
        g_keep_going = true;
        argi++;
    }
    if (argc - argi > 3)
        usage();
    mode = argi < argc ? torture_parse_mode(argv[argi]) : MODE_DEFAULT;
    if (mode < 0)
        usage();
    g_rounds = argi + 1 < argc ?
        (unsigned long long)torture_num("litmus_sb", argv[argi + 1], 1,
        4000000000l) : 1000000;
    if (argi + 2 < argc)
        max_seconds = torture_num("litmus_sb", argv[argi + 2], 0, 86400);
    g_lazy = mode == MODE_LAZY;
    if (g_lazy)
        setenv("SMR_LAZY_TICK_US", "1", 0);
    /* limit 3: two of three advances hand out an unwritten goal that the
     * poll pushes, every third writes the clock itself. */
    g_smr = torture_create("litmus_sb", mode, 3);
    /* A lazy domain that fell back to fenced readers polls as default. */
    g_lazy_fast = smr_lazy_is_fence_free(g_smr);

    t0 = now_ns();
    if (max_seconds > 0)
        g_deadline = t0 + (uint64_t)max_seconds * 1000000000ull;
    if (pthread_create(&rt, NULL, reader_main, NULL) != 0 ||
        pthread_create(&wt, NULL, writer_main, NULL) != 0) {
        perror("litmus_sb: pthread_create");
        return 2;
    }
    pthread_join(rt, NULL);
    pthread_join(wt, NULL);
    el = (double)(now_ns() - t0) / 1e9;
    fence_free = g_lazy_fast;
    smr_destroy(g_smr);

    /*
     * A run must also have exercised both sides of the race: rounds where
     * the reader read the old flag (and the poll therefore had to fail) and
     * rounds where the poll succeeded.  Otherwise the timing sweep is
     * broken and a PASS would mean nothing.
     */
    fail = r_forbidden != 0 || r_done == 0 ||
        (r_done >= 10000 && (r_old == 0 || r_true == 0));
    printf("litmus_sb: mode=%s%s rounds=%llu old_reads=%llu poll_true=%llu "
        "forbidden=%llu first_forbidden_round=%llu seconds=%.2f "
        "rounds_per_s=%.0f mean_offset=%llu: %s\n", torture_mode_names[mode],
        g_lazy ? (fence_free ? "(fence-free)" : "(fenced fallback)") : "",
        r_done, r_old, r_true,
        r_forbidden, r_first, el, el > 0 ? (double)r_done / el : 0.0,
        r_done >= ADAPT_ROUNDS ? r_offset_sum / (r_done / ADAPT_ROUNDS) : 0,
        fail ? "FAIL" : "PASS");
    if (!fail || r_forbidden != 0)
        return fail ? 1 : 0;
    fprintf(stderr, "litmus_sb: the timing sweep never produced %s\n",
        r_old == 0 ? "an old read" : "a successful poll");
    return 2;
}
