/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * test_portable: the libsmr API checked without a test framework, so that
 * it runs wherever the library builds: natively, and cross-built under
 * qemu-user on the weak-memory and 32-bit targets (scripts/cross-test).
 *
 * Each check prints one line, "ok" or "FAIL", with what it checked; the
 * program ends with "N passed, M failed" and exits non-zero on any
 * failure.  Everything that waits has a deadline, so a broken library
 * fails the run instead of hanging it (qemu is slow: deadlines are long).
 */
#include <smr.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static unsigned g_pass, g_fail;

static void
check(bool ok, const char *fmt, ...)
{
    va_list ap;

    printf("%s ", ok ? "ok  " : "FAIL");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    if (ok)
        g_pass++;
    else
        g_fail++;
}

static void
sleep_ms(unsigned ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

static uint64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------------ */
/* A reader thread that holds a section open until told to leave.      */
/* ------------------------------------------------------------------ */

struct reader {
    smr_t smr;
    bool lazy;
    unsigned depth;     /* nested sections to hold */
    pthread_t tid;
    int inside;         /* atomic: 1 once every section is open */
    int leave;          /* atomic: set by the test */
};

static void *
reader_main(void *arg)
{
    struct reader *r = arg;

    for (unsigned i = 0; i < r->depth; i++) {
        if (r->lazy)
            smr_lazy_enter(r->smr);
        else
            smr_enter(r->smr);
    }
    __atomic_store_n(&r->inside, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&r->leave, __ATOMIC_ACQUIRE))
        sleep_ms(1);
    for (unsigned i = 0; i < r->depth; i++) {
        if (r->lazy)
            smr_lazy_exit(r->smr);
        else
            smr_exit(r->smr);
    }
    return NULL;
}

static bool
reader_start(struct reader *r, smr_t smr, bool lazy, unsigned depth)
{
    uint64_t deadline = now_ms() + 30000;

    memset(r, 0, sizeof(*r));
    r->smr = smr;
    r->lazy = lazy;
    r->depth = depth;
    if (pthread_create(&r->tid, NULL, reader_main, r) != 0)
        return false;
    while (!__atomic_load_n(&r->inside, __ATOMIC_ACQUIRE)) {
        if (now_ms() > deadline)
            return false;
        sleep_ms(1);
    }
    return true;
}

static void
reader_stop(struct reader *r)
{
    __atomic_store_n(&r->leave, 1, __ATOMIC_RELEASE);
    pthread_join(r->tid, NULL);
}

/* Poll without waiting until goal is reached or ms pass. */
static bool
poll_until(smr_t smr, smr_seq_t goal, unsigned ms)
{
    uint64_t deadline = now_ms() + ms;

    for (;;) {
        if (smr_poll(smr, goal, false))
            return true;
        if (now_ms() > deadline)
            return false;
        sleep_ms(1);
    }
}

/* ------------------------------------------------------------------ */
/* Checks                                                              */
/* ------------------------------------------------------------------ */

static void
test_config(void)
{
    bool want32 = SMR_CONFIG_FORCE_SEQ32 ||
#if defined(__GCC_ATOMIC_LLONG_LOCK_FREE) && __GCC_ATOMIC_LLONG_LOCK_FREE == 2
        false;
#else
        true;
#endif

    printf("# target: %zu-bit pointers, smr_seq_t %zu bytes, SMR_SEQ32=%d, "
        "SMR_DEBUG=%d, cache line %d, libsmr %d\n",
        sizeof(void *) * 8, sizeof(smr_seq_t), SMR_SEQ32, SMR_CONFIG_DEBUG,
        SMR__CACHE_LINE, smr_version());
    check(smr_version() == SMR_VERSION, "smr_version() %d == SMR_VERSION %d",
        smr_version(), SMR_VERSION);
    check(sizeof(smr_seq_t) == (want32 ? 4u : 8u) &&
        sizeof(smr_delta_t) == sizeof(smr_seq_t) && SMR_SEQ32 == want32,
        "smr_seq_t is %u-bit (64-bit only where 64-bit atomics are lock-free "
        "and SMR_SEQ32 is off)", want32 ? 32 : 64);
    check((SMR__CACHE_LINE & (SMR__CACHE_LINE - 1)) == 0 &&
        SMR__CACHE_LINE >= 32, "SMR__CACHE_LINE %d is a power of two >= 32",
        SMR__CACHE_LINE);
}

static void
test_create_destroy(void)
{
    smr_t smr;

    smr = smr_create("portable", 0, 0);
    check(smr != NULL, "smr_create(default)");
    if (smr != NULL) {
        check(strcmp(smr_name(smr), "portable") == 0, "smr_name");
        check(!smr_lazy_is_fence_free(smr),
            "smr_lazy_is_fence_free is false on a default domain");
        smr_destroy(smr);
        check(true, "smr_destroy(default)");
    }
    errno = 0;
    check(smr_create("bad", 0, 0x100) == NULL && errno == EINVAL,
        "smr_create with unknown flags: NULL/EINVAL");
    errno = 0;
    check(smr_create("bad", 0, SMR_LAZY | SMR_DEFERRED) == NULL &&
        errno == EINVAL, "smr_create(SMR_LAZY|SMR_DEFERRED): NULL/EINVAL");
    errno = 0;
    check(smr_create("bad", -1, 0) == NULL && errno == EINVAL,
        "smr_create with limit -1: NULL/EINVAL");
    smr_destroy(NULL);
    check(true, "smr_destroy(NULL) is a no-op");

    /* Many domains at once, destroyed out of order: ids never reused. */
    smr_t d[40];
    bool ok = true;
    for (int i = 0; i < 40; i++) {
        d[i] = smr_create("many", 0, i % 3 == 1 ? SMR_DEFERRED :
            i % 3 == 2 ? SMR_LAZY : 0);
        ok = ok && d[i] != NULL;
        if (d[i] != NULL) {
            smr_enter(d[i]);
            smr_exit(d[i]);
        }
    }
    for (int i = 0; i < 40; i += 2)
        if (d[i] != NULL)
            smr_destroy(d[i]);
    for (int i = 0; i < 40; i += 2) {
        d[i] = smr_create("again", 0, 0);
        ok = ok && d[i] != NULL;
        if (d[i] != NULL) {
            smr_enter(d[i]);
            ok = ok && smr_entered(d[i]);
            smr_exit(d[i]);
            ok = ok && !smr_entered(d[i]);
        }
    }
    for (int i = 0; i < 40; i++)
        if (d[i] != NULL)
            smr_destroy(d[i]);
    check(ok, "40 domains created, entered, half destroyed and recreated");
}

static void
test_nesting(void)
{
    smr_t a = smr_create("nest-a", 0, 0), b = smr_create("nest-b", 0, 0);

    if (a == NULL || b == NULL) {
        check(false, "smr_create for nesting");
        return;
    }
    check(!smr_entered(a) && !smr_entered_any(), "not entered at start");
    smr_enter(a);
    check(smr_entered(a) && !smr_entered(b) && smr_entered_any(),
        "smr_enter(a): entered a, not b, entered_any");
    smr_enter(a);
    smr_enter(a);
    smr_exit(a);
    check(smr_entered(a), "depth 3 -> 2: still entered");
    smr_exit(a);
    check(smr_entered(a), "depth 2 -> 1: still entered");
    smr_enter(b);
    check(smr_entered(a) && smr_entered(b), "sections on two domains");
    smr_exit(a);
    check(!smr_entered(a) && smr_entered(b) && smr_entered_any(),
        "exit a: b still entered");
    smr_exit(b);
    check(!smr_entered(a) && !smr_entered(b) && !smr_entered_any(),
        "all sections closed");

    /* The exported twins (FFI, dlsym, SMR_NO_INLINE callers). */
    void (*volatile enter_fn)(smr_t) = smr_enter;
    void (*volatile exit_fn)(smr_t) = smr_exit;
    void (*volatile lenter_fn)(smr_t) = smr_lazy_enter;
    void (*volatile lexit_fn)(smr_t) = smr_lazy_exit;
    enter_fn(a);
    lenter_fn(a);
    bool in = smr_entered(a);
    lexit_fn(a);
    bool still = smr_entered(a);
    exit_fn(a);
    check(in && still && !smr_entered(a),
        "exported smr_enter/smr_lazy_enter/smr_lazy_exit/smr_exit nest");

    check(smr_thread_attach(a) == 0, "smr_thread_attach");
    smr_thread_detach(a);
    smr_enter(a);
    smr_exit(a);
    check(!smr_entered(a), "enter/exit after smr_thread_detach");
    smr_destroy(a);
    smr_destroy(b);
}

/*
 * The grace-period contract on one domain: a goal is not reached while a
 * section that began before the advance is open, and is reached once it
 * closes; a section that began after the advance does not hold it.
 */
static void
test_grace(const char *what, int limit, int flags)
{
    smr_t smr = smr_create(what, limit, flags);
    bool lazy = (flags & SMR_LAZY) != 0;
    struct reader r, late;
    smr_seq_t g0, g1, g2, cur;

    if (smr == NULL) {
        check(false, "%s: smr_create", what);
        return;
    }
    if (lazy)
        printf("# %s: lazy readers are %s\n", what,
            smr_lazy_is_fence_free(smr) ? "fence-free (membarrier)" :
            "fenced (fallback)");

    /* No readers at all: every goal is reached. */
    g0 = smr_advance(smr);
    check(g0 != SMR_SEQ_INVALID, "%s: smr_advance returns a valid goal",
        what);
    check(smr_wait(smr, g0), "%s: smr_wait with no reader", what);
    cur = smr_current(smr);
    check(SMR_SEQ_GEQ(cur, g0), "%s: smr_current >= goal after the wait",
        what);
    check(poll_until(smr, g0, 20000),
        "%s: smr_poll(.., false) true for a reached goal", what);
    g1 = smr_advance(smr);
    check(SMR_SEQ_GT(g1, g0) || (flags & SMR_DEFERRED),
        "%s: goals move forward", what);
    check(SMR_SEQ_GEQ(g1, g0), "%s: goals never move back", what);
    smr_synchronize(smr);
    check(true, "%s: smr_synchronize with no reader", what);
    check(smr_poll(smr, g1, true), "%s: smr_poll(.., true) with no reader",
        what);

    /* A reader inside a (nested) section blocks a later goal. */
    if (!reader_start(&r, smr, lazy, 2)) {
        check(false, "%s: reader thread started", what);
        smr_destroy(smr);
        return;
    }
    g1 = smr_advance(smr);
    check(!smr_poll(smr, g1, false),
        "%s: smr_poll(.., false) false while a reader is inside", what);
    check(!smr_wait_timeout(smr, g1, 50 * 1000000ull),
        "%s: smr_wait_timeout(50 ms) false while a reader is inside", what);
    sleep_ms(20);
    check(!smr_poll(smr, g1, false), "%s: still false 20 ms later", what);

    if (flags != 0) {
        /* Deferred and lazy goals lie ahead of the clock: a section that
         * begins after the advance may publish an older value and hold the
         * goal too (conservative, as FreeBSD).  Only check the release. */
        reader_stop(&r);
        check(smr_wait(smr, g1), "%s: smr_wait returns once the reader left",
            what);
    } else {
        /* A section that begins after the advance does not hold it. */
        g2 = smr_advance(smr);
        if (!reader_start(&late, smr, lazy, 1)) {
            check(false, "%s: second reader started", what);
            reader_stop(&r);
            smr_destroy(smr);
            return;
        }
        reader_stop(&r);
        check(smr_wait(smr, g2), "%s: smr_wait returns once the old reader "
            "left (a newer one is in)", what);
        check(smr_poll(smr, g1, false),
            "%s: an older goal is reached too (read-hand fast path)", what);
        smr_seq_t g3 = smr_advance(smr);
        check(!smr_wait_timeout(smr, g3, 50 * 1000000ull),
            "%s: the newer reader blocks a goal taken after it entered", what);
        reader_stop(&late);
        check(smr_wait_timeout(smr, g3, 60 * 1000000000ull),
            "%s: ... until it leaves", what);
    }

    /* The waiter's own section on another domain does not block it. */
    smr_t other = smr_create("other", 0, 0);
    if (other != NULL) {
        struct reader ro;
        if (reader_start(&ro, other, false, 1)) {
            smr_seq_t g = smr_advance(smr);
            check(smr_wait(smr, g),
                "%s: a section on another domain does not delay this one",
                what);
            reader_stop(&ro);
        }
        smr_destroy(other);
    }

    /* A thread holds a slot once it has entered (advance and poll may not
     * claim one on a default domain). */
    smr_enter(smr);
    smr_exit(smr);
    struct smr_stats st;
    smr_stats(smr, &st);
    printf("# %s: stats advance=%" PRIu64 " advance_wait=%" PRIu64
        " poll=%" PRIu64 " poll_scan=%" PRIu64 " poll_fail=%" PRIu64
        " barriers=%" PRIu64 " live_slots=%" PRIu64 " slot_capacity=%"
        PRIu64 "\n", what, st.advance, st.advance_wait, st.poll,
        st.poll_scan, st.poll_fail, st.barriers, st.live_slots,
        st.slot_capacity);
    check(st.advance >= 5, "%s: stats count >= 5 advances (%" PRIu64 ")",
        what, st.advance);
    check(st.poll >= 6 && st.poll_fail >= 3 && st.poll_scan >= 1,
        "%s: stats count polls, failed polls and scans", what);
    check(st.live_slots >= 1 && st.slot_capacity >= st.live_slots,
        "%s: stats live_slots %" PRIu64 " <= slot_capacity %" PRIu64, what,
        st.live_slots, st.slot_capacity);
    if (lazy && smr_lazy_is_fence_free(smr))
        check(st.barriers >= 1, "%s: fence-free lazy polls issued %" PRIu64
            " asymmetric barrier(s)", what, st.barriers);
    else
        check(st.barriers == 0, "%s: no asymmetric barrier on fenced readers",
            what);
    smr_destroy(smr);
}

/* Threads that come and go: slots are recycled, not accumulated. */
static void *
churn_main(void *arg)
{
    smr_t smr = arg;

    for (int i = 0; i < 100; i++) {
        smr_enter(smr);
        smr_exit(smr);
    }
    return NULL;
}

static void
test_slot_recycling(void)
{
    smr_t smr = smr_create("churn", 0, 0);
    struct smr_stats st;
    bool ok = true;

    if (smr == NULL) {
        check(false, "churn: smr_create");
        return;
    }
    smr_enter(smr);
    smr_exit(smr);
    for (int round = 0; round < 8; round++) {
        pthread_t t[4];
        for (int i = 0; i < 4; i++)
            ok = ok && pthread_create(&t[i], NULL, churn_main, smr) == 0;
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
    }
    smr_stats(smr, &st);
    check(ok && st.live_slots == 1,
        "32 exited threads left their slots: live_slots %" PRIu64 " == 1",
        st.live_slots);
    check(st.slot_capacity <= 64, "slot capacity stays small (%" PRIu64 ")",
        st.slot_capacity);
    check(smr_wait(smr, smr_advance(smr)), "wait after thread churn");
    smr_destroy(smr);
}

/*
 * Wrap-safe arithmetic at the top of the range, and a clock that runs
 * across its wrap (SMR_DEBUG starts it 1000 steps below the top).
 */
static void
test_wrap(void)
{
    const smr_seq_t top = (smr_seq_t)~(smr_seq_t)0;
    const smr_seq_t half = (smr_seq_t)(top / 2);
    smr_seq_t a = (smr_seq_t)(top - 2), b = (smr_seq_t)(a + 4);

    check(b == 1, "near the top: (max - 2) + 4 wraps to 1");
    check(SMR_SEQ_LT(a, b) && SMR_SEQ_LEQ(a, b) && SMR_SEQ_GT(b, a) &&
        SMR_SEQ_GEQ(b, a), "SMR_SEQ_LT/LEQ/GT/GEQ across the wrap");
    check(!SMR_SEQ_LT(b, a) && !SMR_SEQ_GT(a, b) && SMR_SEQ_LEQ(a, a) &&
        SMR_SEQ_GEQ(a, a) && !SMR_SEQ_LT(a, a),
        "SMR_SEQ_* are strict/non-strict as named");
    check(SMR_SEQ_DELTA(b, a) == 4 && SMR_SEQ_DELTA(a, b) == -4,
        "SMR_SEQ_DELTA across the wrap is +-4");
    check(SMR_SEQ_MIN(a, b) == a && SMR_SEQ_MAX(a, b) == b &&
        SMR_SEQ_MIN(b, a) == a && SMR_SEQ_MAX(b, a) == b,
        "SMR_SEQ_MIN/MAX across the wrap");
    check(SMR_SEQ_GT((smr_seq_t)(a + half), a) &&
        SMR_SEQ_LT((smr_seq_t)(a + half + 2), a),
        "order holds up to half the sequence space, flips past it");
    check(SMR_SEQ_DELTA((smr_seq_t)(a + half), a) == (smr_delta_t)half,
        "SMR_SEQ_DELTA of half the space is the largest positive delta");

    smr_t smr = smr_create("wrap", 0, 0);
    if (smr == NULL) {
        check(false, "wrap: smr_create");
        return;
    }
    smr_seq_t prev = smr_current(smr), g;
    bool mono = true, reached = true, wrapped = false;
    for (int i = 0; i < 1200; i++) {
        g = smr_advance(smr);
        if (!SMR_SEQ_GT(g, prev))
            mono = false;
        if (g < prev)
            wrapped = true;
        if (!smr_poll(smr, g, false) && !smr_wait(smr, g))
            reached = false;
        prev = g;
    }
    check(mono, "1200 goals strictly increasing (wrap-safe order)");
    check(reached, "every goal reached with no reader");
    printf("# clock %s its wrap in 1200 advances (now %#llx)\n",
        wrapped ? "crossed" : "did not cross",
        (unsigned long long)smr_current(smr));
    if (SMR_CONFIG_DEBUG)
        check(wrapped, "SMR_DEBUG: the clock starts near the top and wraps");

    /* A reader that entered before the wrap still holds a goal after it. */
    struct reader r;
    if (reader_start(&r, smr, false, 1)) {
        for (int i = 0; i < 1100; i++)
            (void)smr_advance(smr);
        g = smr_advance(smr);
        check(!smr_poll(smr, g, false) &&
            !smr_wait_timeout(smr, g, 20 * 1000000ull),
            "a reader from before 1100 advances still holds the goal");
        reader_stop(&r);
        check(smr_wait_timeout(smr, g, 60 * 1000000000ull),
            "... and releases it when it leaves");
    } else {
        check(false, "wrap: reader started");
    }
    smr_destroy(smr);
}

/* After fork the child can use every domain (SPEC §2). */
static void
test_fork(void)
{
    smr_t smr = smr_create("fork", 0, 0);
    struct reader r;
    pid_t pid;
    int status = -1;

    if (smr == NULL || !reader_start(&r, smr, false, 1)) {
        check(false, "fork: domain and reader");
        if (smr != NULL)
            smr_destroy(smr);
        return;
    }
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        /* The reader thread does not exist here: its slot is cleared. */
        smr_seq_t g = smr_advance(smr);
        bool ok = smr_wait_timeout(smr, g, 60 * 1000000000ull);
        smr_enter(smr);
        ok = ok && smr_entered(smr);
        smr_exit(smr);
        _exit(ok ? 0 : 1);
    }
    if (pid > 0)
        waitpid(pid, &status, 0);
    check(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
        "fork: the child waits past a reader that only the parent has");
    smr_seq_t g = smr_advance(smr);
    check(!smr_poll(smr, g, false),
        "fork: in the parent the reader still holds the goal");
    reader_stop(&r);
    check(smr_wait(smr, g), "fork: parent's wait ends when the reader leaves");
    smr_destroy(smr);
}

/* ------------------------------------------------------------------ */
/* Statically declared domains (SMR_DEFINE_STATIC)                     */
/* ------------------------------------------------------------------ */

SMR_DEFINE_STATIC(pt_static);
SMR_DEFINE_STATIC_LAZY(pt_static_lazy);

struct sreader {
    int lazy;
    pthread_t tid;
    int inside, leave;  /* atomic */
};

static void *
sreader_main(void *arg)
{
    struct sreader *r = arg;

    if (r->lazy)
        smr_static_enter(pt_static_lazy);
    else
        smr_static_enter(pt_static);
    __atomic_store_n(&r->inside, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&r->leave, __ATOMIC_ACQUIRE))
        sleep_ms(1);
    if (r->lazy)
        smr_static_exit(pt_static_lazy);
    else
        smr_static_exit(pt_static);
    return NULL;
}

static void
test_static_one(const char *what, smr_t smr, int lazy)
{
    struct sreader r = { .lazy = lazy };
    uint64_t deadline = now_ms() + 30000;
    smr_seq_t goal;

    check(smr != NULL && strcmp(smr_name(smr), what) == 0,
        "%s: smr_static builds the domain, named after the declaration",
        what);
    if (smr == NULL)
        return;
    for (int i = 0; i < 300; i++)       /* past the word's 254 */
        lazy ? smr_static_enter(pt_static_lazy) : smr_static_enter(pt_static);
    check(smr_entered(smr), "%s: nested static sections are seen", what);
    {
        /* The inline path is in use (the thread's program word is open,
         * not SMR__W_FREE) on a fenced domain, and on a lazy one that is
         * fence-free or has 32-bit sequences (fenced readers, inline). */
        bool cached = (lazy ? SMR__STATIC_W(pt_static_lazy) :
            SMR__STATIC_W(pt_static)) != SMR__W_FREE;
        bool want = !lazy || SMR_SEQ32 || smr_lazy_is_fence_free(smr);
        check(cached == want, "%s: the inline path is %sin use (expected "
            "%s)", what, cached ? "" : "not ", want ? "in use" : "not");
    }
    for (int i = 0; i < 300; i++)
        lazy ? smr_static_exit(pt_static_lazy) : smr_static_exit(pt_static);
    check(!smr_entered(smr), "%s: and all closed", what);
    if (pthread_create(&r.tid, NULL, sreader_main, &r) != 0) {
        check(false, "%s: pthread_create", what);
        return;
    }
    while (!__atomic_load_n(&r.inside, __ATOMIC_ACQUIRE) &&
        now_ms() < deadline)
        sleep_ms(1);
    goal = smr_advance(smr);
    check(!poll_until(smr, goal, 50),
        "%s: a reader's static section holds a later goal back", what);
    __atomic_store_n(&r.leave, 1, __ATOMIC_RELEASE);
    pthread_join(r.tid, NULL);
    check(poll_until(smr, goal, 30000), "%s: reached after its exit", what);
}

static void
test_static(void)
{
    test_static_one("pt_static", smr_static(pt_static), 0);
    test_static_one("pt_static_lazy", smr_static(pt_static_lazy), 1);
}

int
main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_config();
    test_create_destroy();
    test_nesting();
    test_grace("default", 0, 0);
    test_grace("deferred", 4, SMR_DEFERRED);
    test_grace("lazy", 0, SMR_LAZY);
    test_slot_recycling();
    test_wrap();
    test_fork();
    test_static();
    printf("%u passed, %u failed\n", g_pass, g_fail);
    return g_fail == 0 ? 0 : 1;
}
