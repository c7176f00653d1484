/*
 * Stall diagnostics (src/smr.c): smr_oldest_section and the stall handler /
 * SMR_STALL_WARN_MS warning, tested with a deliberately stalled reader.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <smr.h>

#include "test_util.h"

struct staller {
    smr_t smr;
    pthread_t th;
    int tid;        /* atomic */
    int inside;     /* atomic */
    int leave;      /* atomic */
};

static void *
staller_main(void *arg)
{
    struct staller *s = arg;

    __atomic_store_n(&s->tid, (int)syscall(SYS_gettid), __ATOMIC_RELAXED);
    smr_enter(s->smr);
    __atomic_store_n(&s->inside, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&s->leave, __ATOMIC_ACQUIRE))
        sleep_ms(1);
    smr_exit(s->smr);
    return NULL;
}

static void
staller_start(struct staller *s, smr_t smr)
{
    s->smr = smr;
    s->inside = s->leave = 0;
    cr_assert_eq(pthread_create(&s->th, NULL, staller_main, s), 0);
    while (!__atomic_load_n(&s->inside, __ATOMIC_ACQUIRE))
        sleep_ms(1);
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
