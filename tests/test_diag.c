/*
 * Stall diagnostics (src/smr.c): smr_oldest_section, the stall handler and
 * the default stall reports (on unless SMR_STALL_WARN_MS=0, rate-limited),
 * tested with a deliberately stalled reader.  Then misuse that is
 * reported rather than followed (stray and destroyed domains, foreign pool
 * pointers), domains past the inline table, and SMR_SHOW_STATS.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <smr.h>

#include "test_util.h"

struct staller {
    smr_t smr;
    pthread_t th;
    unsigned hold_ms;   /* leave by itself after this long (0: never) */
    int tid;        /* atomic */
    int inside;     /* atomic */
    int leave;      /* atomic */
};

static void *
staller_main(void *arg)
{
    struct staller *s = arg;
    uint64_t dl;

    __atomic_store_n(&s->tid, (int)syscall(SYS_gettid), __ATOMIC_RELAXED);
    smr_enter(s->smr);
    dl = now_ns() + s->hold_ms * MS;
    __atomic_store_n(&s->inside, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&s->leave, __ATOMIC_ACQUIRE) &&
        (s->hold_ms == 0 || now_ns() < dl))
        sleep_ms(1);
    __atomic_store_n(&s->inside, 2, __ATOMIC_RELEASE);
    smr_exit(s->smr);
    return NULL;
}

static void
staller_start_for(struct staller *s, smr_t smr, unsigned hold_ms)
{
    s->smr = smr;
    s->hold_ms = hold_ms;
    s->inside = s->leave = 0;
    cr_assert_eq(pthread_create(&s->th, NULL, staller_main, s), 0);
    while (!__atomic_load_n(&s->inside, __ATOMIC_ACQUIRE))
        sleep_ms(1);
}

static void
staller_start(struct staller *s, smr_t smr)
{
    staller_start_for(s, smr, 0);
}

static void
staller_stop(struct staller *s)
{
    __atomic_store_n(&s->leave, 1, __ATOMIC_RELEASE);
    pthread_join(s->th, NULL);
}

Test(diag, oldest_section_names_the_stalled_reader, .timeout = 30)
{
    smr_t smr = smr_create("diag", 0, 0);
    struct smr_section_info a, b;
    struct staller st;

    cr_assert_not(smr_oldest_section(smr, &a), "no section open yet");
    staller_start(&st, smr);
    (void)smr_advance(smr);
    cr_assert(smr_oldest_section(smr, &a));
    cr_assert_eq(a.tid, __atomic_load_n(&st.tid, __ATOMIC_RELAXED));
    sleep_ms(100);
    cr_assert(smr_oldest_section(smr, &b));
    cr_assert_eq(b.tid, a.tid);
    cr_assert_eq(b.seq, a.seq);
    cr_assert_geq(b.age_ns, 100 * 1000000ull, "age %llu ns",
        (unsigned long long)b.age_ns);
    staller_stop(&st);
    cr_assert_not(smr_oldest_section(smr, &a));
    smr_destroy(smr);
}

struct report {
    int calls;
    int tid;
    uint64_t waited;
};

static void
on_stall(smr_t smr, const struct smr_section_info *oldest, uint64_t waited,
    void *arg)
{
    struct report *r = arg;

    (void)smr;
    r->calls++;
    r->tid = oldest->tid;
    r->waited = waited;
}

Test(diag, stall_handler_called_for_blocked_wait, .timeout = 30)
{
    smr_t smr = smr_create("diag", 0, 0);
    struct report r = { 0, 0, 0 };
    struct staller st;

    smr_set_stall_handler(smr, 20 * 1000000ull, on_stall, &r);
    staller_start(&st, smr);
    cr_assert_not(smr_wait_timeout(smr, smr_advance(smr),
        200 * 1000000ull));
    cr_assert_geq(r.calls, 1, "handler not called in a 200 ms stall");
    cr_assert_leq(r.calls, 4, "handler called %d times: should back off",
        r.calls);
    cr_assert_eq(r.tid, __atomic_load_n(&st.tid, __ATOMIC_RELAXED));
    cr_assert_geq(r.waited, 20 * 1000000ull);
    staller_stop(&st);

    /* No stall, no report. */
    r.calls = 0;
    smr_synchronize(smr);
    cr_assert_eq(r.calls, 0);
    smr_destroy(smr);
}

static void
redirect_stderr(void)
{
    cr_redirect_stderr();
    setenv("SMR_STALL_WARN_MS", "20", 1);
}

Test(diag, env_warning_on_stderr, .init = redirect_stderr, .timeout = 30)
{
    smr_t smr = smr_create("stallwarn", 0, 0);
    struct staller st;

    staller_start(&st, smr);
    cr_assert_not(smr_wait_timeout(smr, smr_advance(smr),
        100 * 1000000ull));
    staller_stop(&st);
    smr_destroy(smr);
    fflush(stderr);
    {
        char buf[4096];
        size_t n = fread(buf, 1, sizeof(buf) - 1, cr_get_redirected_stderr());
        buf[n] = '\0';
        cr_assert(strstr(buf, "domain \"stallwarn\"") != NULL &&
            strstr(buf, "wait blocked") != NULL,
            "no stall warning naming the domain on stderr: \"%s\"", buf);
    }
}

/* ---------------------------------------------------------------------- */
/* Default stall reports (SPEC §2: a writer that waits is never silent)    */
/* ---------------------------------------------------------------------- */

/* Reports in a child's stderr: lines with "stall:". */
static int
count_reports(const char *buf)
{
    return count_substr(buf, "stall:");
}

/* The "for at least N ms" of the first report, or -1. */
static long long
report_age_ms(const char *buf)
{
    const char *p = strstr(buf, "stall:");
    long long ms;

    if (p == NULL || (p = strstr(p, "for at least ")) == NULL ||
        sscanf(p, "for at least %lld ms", &ms) != 1)
        return -1;
    return ms;
}

/* The child says who it is: "diag-tids: writer W reader R". */
static void
say_tids(const struct staller *st)
{
    fprintf(stderr, "diag-tids: writer %d reader %d\n",
        (int)syscall(SYS_gettid), __atomic_load_n(&st->tid, __ATOMIC_RELAXED));
}

/*
 * Check a child's stderr: it exited normally, and holds exactly `want`
 * reports (-1: at least one), the first naming the domain, the concern,
 * the noticing thread (the writer, `how`: "wait blocked" or "polling"),
 * the oldest reader and an age of at least min_ms.
 */
static void
check_report(int status, const char *buf, int want, const char *domain,
    const char *concern, const char *how, long long min_ms)
{
    char dom[96], who[96], rdr[96];
    const char *t = strstr(buf, "diag-tids:");
    int writer = 0, reader = 0, n = count_reports(buf);
    const char *r = strstr(buf, "stall:");

    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 92,
        "child failed (status %#x); stderr: %s", status, buf);
    cr_assert(t != NULL && sscanf(t, "diag-tids: writer %d reader %d",
        &writer, &reader) == 2, "no tids from the child: %s", buf);
    if (want >= 0)
        cr_assert_eq(n, want, "%d stall reports, want %d: %s", n, want, buf);
    else
        cr_assert_geq(n, 1, "no stall report: %s", buf);
    /* The report's line, from "libsmr:" to the newline. */
    const char *b = r;
    while (b > buf && b[-1] != '\n')
        b--;
    const char *e = strchr(r, '\n');
    char line[512];
    snprintf(line, sizeof(line), "%.*s", (int)(e != NULL ? e - b : 500), b);
    snprintf(dom, sizeof(dom), "domain \"%s\"", domain);
    snprintf(who, sizeof(who), "thread %d", writer);
    snprintf(rdr, sizeof(rdr), "oldest reader: thread %d,", reader);
    cr_assert(strstr(line, dom) != NULL, "no %s in: %s", dom, line);
    cr_assert(strstr(line, concern) != NULL, "no %s in: %s", concern, line);
    cr_assert(strstr(line, who) != NULL, "no %s in: %s", who, line);
    cr_assert(strstr(line, how) != NULL, "no \"%s\" in: %s", how, line);
    cr_assert(strstr(line, rdr) != NULL, "no %s in: %s", rdr, line);
    cr_assert_geq(report_age_ms(line), min_ms, "age below %lld ms: %s",
        min_ms, line);
}

/* A reader inside for 1.5 s while the writer frees past the pool's cap. */
static void
pool_wait_child(void *arg)
{
    enum { N = 3000, HOLD = 1500 };
    static void *v[N];
    struct smr_pool_args a;
    struct staller st;
    smr_pool_t p;
    smr_t smr;

    (void)arg;
    unsetenv("SMR_STALL_WARN_MS");
    smr = smr_create("diag-pool", 0, 0);
    memset(&a, 0, sizeof(a));
    a.size = 64;
    a.smr = smr;
    a.bucket_max = 16;
    a.pending_cap = 64;
    p = smr_pool_create_args("nodes", &a);
    for (int i = 0; i < N; i++)
        v[i] = smr_pool_alloc(p);
    staller_start_for(&st, smr, HOLD);
    for (int i = 0; i < N; i++)
        smr_pool_free(p, v[i]);         /* past the cap: waits */
    say_tids(&st);
    staller_stop(&st);
    smr_pool_destroy(p);
    smr_destroy(smr);
}

Test(report, pool_free_past_the_cap_by_default, .timeout = 30)
{
    char buf[8192];
    int status = child_stderr(pool_wait_child, NULL, buf, sizeof(buf));

    /* 1.5 s: the first report after 1 s, no second within 10 s. */
    check_report(status, buf, 1, "diag-pool", "pool \"nodes\"",
        "wait blocked for", 1000);
}

static void
retire_nop(void *p)
{
    (void)p;
}

/* The same for smr_retire past its queue's bound. */
static void
retire_wait_child(void *arg)
{
    struct staller st;
    smr_t smr;

    (void)arg;
    unsetenv("SMR_STALL_WARN_MS");
    smr = smr_create("diag-retire", 0, 0);
    staller_start_for(&st, smr, 1500);
    /* Past the default bound, whatever the adaptive cap rose to. */
    for (int i = 0; i < SMR_RETIRE_CAP_DEFAULT + 20000; i++)
        smr_retire(smr, (void *)(uintptr_t)(i + 1), retire_nop);
    if (smr_retire_pending(smr) > SMR_RETIRE_CAP_DEFAULT + 3 * 64) {
        fprintf(stderr, "pending %zu past the default bound\n",
            smr_retire_pending(smr));
        _exit(3);
    }
    say_tids(&st);
    staller_stop(&st);
    smr_barrier(smr);
    smr_destroy(smr);
}

Test(report, retire_past_the_bound_by_default, .timeout = 30)
{
    char buf[8192];
    int status = child_stderr(retire_wait_child, NULL, buf, sizeof(buf));

    check_report(status, buf, 1, "diag-retire", "smr_retire queue",
        "wait blocked for", 1000);
}

/* Nobody waits: the writer only polls, without blocking, until the reader
 * has left by itself. */
static void
poll_only_child(void *arg)
{
    struct staller st;
    smr_seq_t g;
    smr_t smr;

    (void)arg;
    unsetenv("SMR_STALL_WARN_MS");
    smr = smr_create("diag-poll", 0, 0);
    staller_start_for(&st, smr, 1500);
    g = smr_advance(smr);
    while (!smr_poll(smr, g, false))
        sleep_ms(1);
    say_tids(&st);
    staller_stop(&st);
    smr_destroy(smr);
}

Test(report, stuck_reader_without_a_waiter, .timeout = 30)
{
    char buf[8192];
    int status = child_stderr(poll_only_child, NULL, buf, sizeof(buf));

    check_report(status, buf, 1, "diag-poll", "smr_poll",
        "(polling, not waiting)", 1000);
}

/* The pool's own polls (alloc refills) notice it too, and name the pool. */
static void
pool_poll_child(void *arg)
{
    struct smr_pool_args a;
    struct staller st;
    smr_pool_t p;
    smr_t smr;

    (void)arg;
    unsetenv("SMR_STALL_WARN_MS");
    smr = smr_create("diag-pool-poll", 0, 0);
    memset(&a, 0, sizeof(a));
    a.size = 64;
    a.smr = smr;
    a.bucket_max = 4;
    p = smr_pool_create_args("cache", &a);
    staller_start_for(&st, smr, 1500);
    /* Under the cap (4096 pending): no free waits. */
    while (__atomic_load_n(&st.inside, __ATOMIC_ACQUIRE) == 1) {
        for (int i = 0; i < 4; i++)
            smr_pool_free(p, smr_pool_alloc(p));
        sleep_ms(1);
    }
    say_tids(&st);
    staller_stop(&st);
    smr_pool_destroy(p);
    smr_destroy(smr);
}

Test(report, stuck_reader_noticed_by_pool_alloc, .timeout = 30)
{
    char buf[8192];
    int status = child_stderr(pool_poll_child, NULL, buf, sizeof(buf));

    check_report(status, buf, 1, "diag-pool-poll", "pool \"cache\"",
        "(polling, not waiting)", 1000);
}

/* SMR_STALL_WARN_MS=0: a waiter and a poller, both silent. */
static void
off_child(void *arg)
{
    struct staller st;
    smr_t smr;

    (void)arg;
    setenv("SMR_STALL_WARN_MS", "0", 1);
    smr = smr_create("diag-off", 0, 0);
    staller_start_for(&st, smr, 1200);
    smr_synchronize(smr);
    say_tids(&st);
    staller_stop(&st);
    smr_destroy(smr);
}

Test(report, off_with_env_zero, .timeout = 30)
{
    char buf[8192];
    int status = child_stderr(off_child, NULL, buf, sizeof(buf));

    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 92,
        "child failed (status %#x); stderr: %s", status, buf);
    cr_assert_eq(count_reports(buf), 0, "reports with SMR_STALL_WARN_MS=0: %s",
        buf);
}

/*
 * The rate limit: with a 100 ms threshold a 1.2 s stall seen by a waiter
 * (which used to report at 100, 200, 400 and 800 ms) and by a poller gets
 * one report, at the threshold, with the age of the reader.
 */
static void *
poller_main(void *arg)
{
    struct staller *st = arg;
    smr_seq_t g = smr_advance(st->smr);

    while (!smr_poll(st->smr, g, false))
        sleep_ms(1);
    return NULL;
}

static void
rate_child(void *arg)
{
    struct staller st;
    pthread_t pt;
    smr_t smr;

    (void)arg;
    setenv("SMR_STALL_WARN_MS", "100", 1);
    smr = smr_create("diag-rate", 0, 0);
    staller_start_for(&st, smr, 1200);
    cr_assert_eq(pthread_create(&pt, NULL, poller_main, &st), 0);
    smr_synchronize(smr);
    pthread_join(pt, NULL);
    say_tids(&st);
    staller_stop(&st);
    smr_destroy(smr);
}

Test(report, one_per_domain_per_interval, .timeout = 30)
{
    char buf[8192];
    int status = child_stderr(rate_child, NULL, buf, sizeof(buf));

    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 92,
        "child failed (status %#x); stderr: %s", status, buf);
    cr_assert_eq(count_reports(buf), 1, "want one report: %s", buf);
    cr_assert(strstr(buf, "domain \"diag-rate\"") != NULL, "%s", buf);
    cr_assert_geq(report_age_ms(buf), 100, "%s", buf);
    cr_assert_lt(report_age_ms(buf), 1000, "not at the threshold: %s", buf);
}

/* A handler replaces the printer: called by the waiter, nothing printed,
 * not even by a poller that notices the reader. */
static void
handler_child(void *arg)
{
    struct report r = { 0, 0, 0 };
    struct staller st;
    pthread_t pt;
    smr_t smr;

    (void)arg;
    unsetenv("SMR_STALL_WARN_MS");
    smr = smr_create("diag-handler", 0, 0);
    smr_set_stall_handler(smr, 50 * MS, on_stall, &r);
    staller_start_for(&st, smr, 400);
    cr_assert_eq(pthread_create(&pt, NULL, poller_main, &st), 0);
    smr_synchronize(smr);
    pthread_join(pt, NULL);
    say_tids(&st);
    fprintf(stderr, "diag-handler: calls %d tid %d\n", r.calls, r.tid);
    staller_stop(&st);
    smr_destroy(smr);
}

Test(report, handler_replaces_the_printer, .timeout = 30)
{
    char buf[8192];
    int status = child_stderr(handler_child, NULL, buf, sizeof(buf));
    int calls = 0, tid = 0, writer, reader;
    const char *h = strstr(buf, "diag-handler:");
    const char *t = strstr(buf, "diag-tids:");

    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 92,
        "child failed (status %#x); stderr: %s", status, buf);
    cr_assert_eq(count_reports(buf), 0, "printed despite a handler: %s", buf);
    cr_assert(h != NULL && sscanf(h, "diag-handler: calls %d tid %d", &calls,
        &tid) == 2, "%s", buf);
    cr_assert(t != NULL && sscanf(t, "diag-tids: writer %d reader %d",
        &writer, &reader) == 2, "%s", buf);
    /* 50, 100, 200 ms into a 400 ms wait. */
    cr_assert(calls >= 1 && calls <= 4, "handler called %d times", calls);
    cr_assert_eq(tid, reader);
}

/* The age counts from the first poll that saw the section, not from the
 * first query or report ("inside ... for at least 0 ms" after 200 ms). */
Test(diag, age_counts_from_the_first_failed_poll, .timeout = 30)
{
    smr_t smr = smr_create("diag-age", 0, 0);
    struct smr_section_info a;
    struct staller st;
    smr_seq_t g;

    staller_start(&st, smr);
    g = smr_advance(smr);
    cr_assert_not(smr_poll(smr, g, false));
    sleep_ms(200);
    cr_assert(smr_oldest_section(smr, &a));
    cr_assert_eq(a.tid, __atomic_load_n(&st.tid, __ATOMIC_RELAXED));
    cr_assert_geq(a.age_ns, 200 * MS, "age %llu ms: counted from the query",
        (unsigned long long)(a.age_ns / MS));
    staller_stop(&st);
    smr_destroy(smr);
}

/* ---------------------------------------------------------------------- */
/* Misuse reported, not followed (issue 15): stray and destroyed domains, */
/* foreign pool pointers, destroy inside a section, the fast table        */
/* ---------------------------------------------------------------------- */

/* The child must die of SIGABRT and its stderr hold every needle. */
static void
check_abort(int status, const char *buf, const char *what,
    const char *n1, const char *n2, const char *n3)
{
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
        "%s: no abort (status %#x); stderr: %s", what, status, buf);
    cr_assert(n1 == NULL || strstr(buf, n1) != NULL, "%s: no \"%s\" in: %s",
        what, n1 != NULL ? n1 : "", buf);
    cr_assert(n2 == NULL || strstr(buf, n2) != NULL, "%s: no \"%s\" in: %s",
        what, n2 != NULL ? n2 : "", buf);
    cr_assert(n3 == NULL || strstr(buf, n3) != NULL, "%s: no \"%s\" in: %s",
        what, n3 != NULL ? n3 : "", buf);
}

#if SMR_CONFIG_DEBUG
/*
 * smr(3): "a stray or destroyed domain is reported rather than followed".
 * In SMR_DEBUG builds the inline read path checks the domain out of line
 * before it follows it, and smr_destroy keeps the domain's header
 * (quarantined) so that the check reads its own memory, not freed memory.
 * Each read-path entry, on a domain that had readers and on one that had
 * none, with other domains created after it (the freed index reused).
 */
enum dead_op { DEAD_ENTER, DEAD_EXIT, DEAD_LAZY_ENTER, DEAD_LAZY_EXIT,
    DEAD_N };
static const char *const dead_op_names[DEAD_N] = {
    "smr_enter", "smr_exit", "smr_lazy_enter", "smr_exit" /* lazy exit */
};

static void
dead_child(void *arg)
{
    int op = (int)(intptr_t)arg;
    smr_t s = smr_create("dead-domain", 0, op >= DEAD_LAZY_ENTER ?
        SMR_LAZY : 0), again[4];

    smr_enter(s);       /* a thread entry, so the index was in use */
    smr_exit(s);
    smr_destroy(s);
    for (int i = 0; i < 4; i++)
        again[i] = smr_create("reuses-the-index", 0, 0);
    (void)again;
    switch (op) {
    case DEAD_ENTER: smr_enter(s); break;
    case DEAD_EXIT: smr_exit(s); break;
    case DEAD_LAZY_ENTER: smr_lazy_enter(s); break;
    default: smr_lazy_exit(s); break;
    }
}

Test(reported, destroyed_domain_on_the_read_path, .timeout = 60)
{
    char buf[4096];

    for (int op = 0; op < DEAD_N; op++) {
        int status = child_stderr(dead_child, (void *)(intptr_t)op, buf,
            sizeof(buf));
        check_abort(status, buf, dead_op_names[op], dead_op_names[op],
            "was destroyed", "\"dead-domain\"");
    }
}

/* Not a domain at all: zeroed memory.  Its d_off (0) names the thread's
 * first table entry, which a live domain's idle word holds here: without
 * the check the inline enter would publish into that domain's word. */
static void
stray_child(void *arg)
{
    static char junk[4096] __attribute__((aligned(128)));
    smr_t live = smr_create("live-first", 0, 0);

    (void)arg;
    smr_enter(live);
    smr_exit(live);
    smr_enter((smr_t)junk);
    fprintf(stderr, "[entered junk; live-first entered: %d]\n",
        (int)smr_entered(live));
}

Test(reported, stray_domain_on_the_read_path, .timeout = 30)
{
    char buf[4096];
    int status = child_stderr(stray_child, NULL, buf, sizeof(buf));

    check_abort(status, buf, "stray pointer", "smr_enter",
        "is not a live libsmr domain", NULL);
}

/*
 * smr_pool(3): a foreign pointer is a message, not a SIGSEGV inside the
 * debug check.  Masking such a pointer to its "slab header" may land on an
 * unmapped page (the mmap case below does every time) or in the middle of
 * someone else's memory; the pool looks the slab up in its own set first.
 */
enum foreign { FP_MALLOC_SMALL, FP_MALLOC_LARGE, FP_STACK, FP_LONE_PAGE,
    FP_OTHER_POOL, FP_N };
static const char *const foreign_names[FP_N] = {
    "malloc(64)", "malloc(1 MiB) + 4096", "a stack buffer",
    "a page whose 4 MiB neighbourhood is unmapped", "another pool's object",
};

/* One mapped page at P = (a 1 MiB boundary) + 512 KiB + 4096 inside a
 * 4 MiB mapping of which everything else is unmapped: P masked to any
 * power-of-two slab size from 8 KiB to 512 KiB is unmapped. */
static void *
lone_page(void)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), len = (size_t)4 << 20;
    char *base = mmap(NULL, len, PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uintptr_t mb = (uintptr_t)1 << 20, b = (uintptr_t)base;
    char *p = (char *)(((b + mb - 1) & ~(mb - 1)) + mb / 2 + pg);

    if (base == MAP_FAILED)
        _exit(94);
    munmap(base, (size_t)(p - base));
    munmap(p + pg, len - (size_t)(p + pg - base));
    return p + 64;
}

static void
foreign_child(void *arg)
{
    int k = (int)(intptr_t)arg;
    smr_t d = smr_create("fp-domain", 0, 0);
    smr_pool_t p = smr_pool_create("fp-victim", 64, 0, d, 0);
    smr_pool_t other = smr_pool_create("fp-owner", 64, 0, d, 0);
    char stack[256];
    void *obj;

    (void)smr_pool_alloc(p);    /* the pool has a slab */
    switch (k) {
    case FP_MALLOC_SMALL: obj = malloc(64); break;
    case FP_MALLOC_LARGE: obj = (char *)malloc((size_t)1 << 20) + 4096; break;
    case FP_STACK: obj = stack + 64; break;
    case FP_LONE_PAGE: obj = lone_page(); break;
    default: obj = smr_pool_alloc(other); break;
    }
    smr_pool_free(p, obj);
}

Test(reported, pool_free_of_a_foreign_pointer, .timeout = 120)
{
    char buf[4096], what[96];

    for (int k = 0; k < FP_N; k++) {
        for (int run = 0; run < 5; run++) {   /* 5 of 5 */
            int status = child_stderr(foreign_child, (void *)(intptr_t)k,
                buf, sizeof(buf));

            snprintf(what, sizeof(what), "%s, run %d", foreign_names[k],
                run + 1);
            check_abort(status, buf, what, "pool \"fp-victim\"",
                "foreign pointer", k == FP_OTHER_POOL ?
                "belongs to pool \"fp-owner\"" : NULL);
        }
    }
}
#else
/*
 * Release builds do not catch a double free (smr_pool(3)): the object is
 * queued twice.  What they promise: the statistics never report a
 * wrapped in_use (it used to read 2^64 - 1), and smr_pool_destroy says
 * the pool saw more frees than allocations.  In a child: the pool is
 * corrupt afterwards.
 */
static void
double_free_child(void *arg)
{
    smr_pool_t p = smr_pool_create("df-release", 64, 0, NULL, 0);
    struct smr_pool_stats st;
    void *x = smr_pool_alloc(p);

    (void)arg;
    smr_pool_free(p, x);
    smr_pool_free(p, x);
    smr_pool_stats(p, &st);
    fprintf(stderr, "[in_use %zu allocs %llu frees %llu]\n", st.in_use,
        (unsigned long long)st.allocs, (unsigned long long)st.frees);
    smr_pool_destroy(p);
}

Test(reported, release_double_free_in_use_clamped, .timeout = 30)
{
    char buf[4096];
    size_t in_use = 12345;
    unsigned long long allocs = 0, frees = 0;
    int status = child_stderr(double_free_child, NULL, buf, sizeof(buf));
    const char *p = strstr(buf, "[in_use ");

    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 92,
        "child failed (status %#x): %s", status, buf);
    cr_assert(p != NULL && sscanf(p, "[in_use %zu allocs %llu frees %llu]",
        &in_use, &allocs, &frees) == 3, "%s", buf);
    cr_assert_eq(allocs, 1);
    cr_assert_eq(frees, 2);
    cr_assert_eq(in_use, 0, "in_use %zu after a double free: wrapped", in_use);
    cr_assert(strstr(buf, "more frees than allocations") != NULL,
        "smr_pool_destroy did not report the extra free: %s", buf);
}
#endif

/* smr_pool(3): "smr_pool_destroy() inside a read section aborts", also
 * when nothing is pending (it used to go ahead and unmap the slabs the
 * section may be reading).  Every build. */
static void
destroy_inside_child(void *arg)
{
    smr_t d = smr_create("pd-domain", 0, (int)(intptr_t)arg);
    smr_pool_t p = smr_pool_create("pd-pool", 64, 0, d, 0);

    smr_lazy_enter(d);      /* no object ever freed: nothing pending */
    smr_pool_destroy(p);
}

Test(reported, pool_destroy_inside_section_nothing_pending, .timeout = 30)
{
    static const int kinds[] = { 0, SMR_DEFERRED, SMR_LAZY };
    char buf[4096];

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        int status = child_stderr(destroy_inside_child,
            (void *)(intptr_t)kinds[i], buf, sizeof(buf));

        check_abort(status, buf, flags_name(kinds[i]), "pool \"pd-pool\"",
            "smr_pool_destroy inside a read section", NULL);
    }
}

/*
 * Domains past the 63rd are off the inline fast path (a fixed-size thread
 * table, SMR__TFAST): smr_stats says which side a domain is on, and
 * SMR_DEBUG builds warn once, naming the first domain off the table.
 */
static void
many_domains_child(void *arg)
{
    enum { N = SMR__TFAST + 6 };
    smr_t d[N];
    struct smr_stats st;

    (void)arg;
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof(name), "many-%d", i);
        d[i] = smr_create(name, 0, 0);
        smr_enter(d[i]);
        smr_exit(d[i]);
        smr_stats(d[i], &st);
        fprintf(stderr, "[%d inline %llu]\n", i,
            (unsigned long long)st.inline_table);
    }
    for (int i = 0; i < N; i++)
        smr_destroy(d[i]);
    /* The table has room again, and a new domain is on it. */
    d[0] = smr_create("many-again", 0, 0);
    smr_stats(d[0], &st);
    fprintf(stderr, "[again inline %llu]\n",
        (unsigned long long)st.inline_table);
}

Test(reported, domains_past_the_inline_table, .timeout = 30)
{
    char buf[16384], want[64];
    int status = child_stderr(many_domains_child, NULL, buf, sizeof(buf));

    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 92,
        "child failed (status %#x): %s", status, buf);
    for (int i = 0; i < SMR__TFAST + 6; i++) {
        snprintf(want, sizeof(want), "[%d inline %d]", i,
            i < SMR__TFAST - 1 ? 1 : 0);
        cr_assert(strstr(buf, want) != NULL, "no \"%s\" in: %s", want, buf);
    }
    cr_assert(strstr(buf, "[again inline 1]") != NULL, "%s", buf);
#if SMR_CONFIG_DEBUG
    cr_assert_eq(count_substr(buf, "past the threads' inline table"), 1,
        "want one warning: %s", buf);
    snprintf(want, sizeof(want), "domain \"many-%d\": warning", SMR__TFAST - 1);
    cr_assert(strstr(buf, want) != NULL, "the warning does not name the "
        "first domain off the table (\"%s\"): %s", want, buf);
#else
    cr_assert_eq(count_substr(buf, "inline table"), 0, "%s", buf);
#endif
}

/*
 * SMR_SHOW_STATS=1 (smr(3), ENVIRONMENT): at exit, live domains with their
 * smr_retire queues, destroyed domains' final numbers, and pools.  The
 * program (tests/show_stats.c) runs with a clean environment of its own.
 */
Test(reported, show_stats_at_exit, .timeout = 30)
{
    char buf[16384];
    size_t len = 0;
    ssize_t r;
    int pfd[2], status;
    pid_t pid;

    cr_assert(pipe(pfd) == 0);
    fflush(NULL);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        char *const argv[] = { (char *)SMR_SHOW_STATS_PROG, NULL };
        char *const envp[] = { (char *)"SMR_SHOW_STATS=1",
            (char *)"SMR_STALL_WARN_MS=0", NULL };
        dup2(pfd[1], 2);
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execve(SMR_SHOW_STATS_PROG, argv, envp);
        _exit(127);
    }
    close(pfd[1]);
    while (len < sizeof(buf) - 1 &&
        (r = read(pfd[0], buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    close(pfd[0]);
    cr_assert(waitpid(pid, &status, 0) == pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
        "show_stats exited %#x: %s", status, buf);
    cr_assert(strstr(buf, "libsmr: domain \"show-live\": advance") != NULL,
        "no live domain: %s", buf);
    {
        char want[128];

        snprintf(want, sizeof(want), "libsmr: domain \"show-live\": "
            "smr_retire: pending 5 (cap %d)", SMR_RETIRE_CAP_DEFAULT);
        cr_assert(strstr(buf, want) != NULL, "no retire queue: %s", buf);
    }
    cr_assert(strstr(buf, "libsmr: domain \"show-dead\" (destroyed): "
        "advance 3 ") != NULL, "no destroyed domain: %s", buf);
    {
        /* " [lazy]" or " [lazy, fenced fallback]", then " (destroyed)". */
        const char *l = strstr(buf, "libsmr: domain \"show-dead-lazy\" [lazy");
        const char *e = l != NULL ? strchr(l, '\n') : NULL;
        const char *d = l != NULL ? strstr(l, "] (destroyed): advance") : NULL;

        cr_assert(l != NULL && e != NULL && d != NULL && d < e,
            "no destroyed lazy domain: %s", buf);
    }
    cr_assert(strstr(buf, "libsmr: pool \"show-pool\": size 48") != NULL,
        "no pool: %s", buf);
}
