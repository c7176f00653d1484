/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * conntable: an in_pcb-style connection table under churn, on libsmr.
 *
 * Connections (a 4-tuple key, a state, counters, and padding standing in
 * for the rest of a protocol control block) live in a hash table with a
 * mutex per bucket and come from an SMR pool.  Churn threads open and close
 * connections as fast as they can, each keeping a steady population (every
 * open closes its oldest connection); reader threads look connections up
 * inside read sections, with no lock, and bump the packet counters of what
 * they find, as a packet input path would.
 *
 * The run has four phases:
 *
 *   steady    churn at the steady population;
 *   attack    every churn thread opens (FACTOR - 1) x its population in
 *             extra connections as fast as it can, on top of its churn;
 *   hold      the attack connections stay open for a moment;
 *   recover   the attack connections are closed, churn goes on, and the
 *             pool is asked to give memory back (smr_pool_reclaim) at every
 *             sample.
 *
 * Every sample prints connections open, opens/closes/lookups per second,
 * the pool's statistics (in_use, pending, cached, bytes) and the process
 * RSS.  At the end it checks, and exits 1 if any check fails:
 *
 *   - flat: under steady churn the pool's bytes do not grow (the late half
 *     of the steady phase holds at most 1.25 x the early half, plus one
 *     MiB of slack for cache and bucket sizes);
 *   - drain: after the attack, smr_pool_reclaim brings the pool's bytes
 *     back within 2 x the steady state, and the RSS too (not judged in
 *     sanitizer builds, whose shadow memory RSS counts);
 *   - safety: no lookup ever met a connection the pool had reclaimed (the
 *     pool's dtor poisons a connection's magic after its grace period).
 *
 * usage: conntable [-c CHURNERS] [-r READERS] [-n CONNS] [-x FACTOR]
 *                  [-s SECONDS] [-i MS] [-q]
 *   -c  churn threads (default 2)      -r  reader threads (default 2)
 *   -n  steady connections per churn thread (default 20000)
 *   -x  attack factor (default 10)     -s  steady and recover time (1.5 s)
 *   -i  sample interval in ms (100)    -q  print only the summary
 */
#define _GNU_SOURCE

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <smr.h>

/* Sanitizers keep shadow memory that RSS counts and never gives back:
 * under them the RSS is printed but not judged. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RSS_JUDGED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define RSS_JUDGED 0
#endif
#endif
#ifndef RSS_JUDGED
#define RSS_JUDGED 1
#endif

#define CONN_MAGIC_LIVE 0x636f6e6eu     /* "conn" */
#define CONN_MAGIC_DEAD 0xdeadc0deu
#define NBUCKETS_MIN    1024u

enum { CS_ESTABLISHED = 1, CS_CLOSED = 2 };

struct conn_key {
    uint32_t laddr, faddr;
    uint16_t lport, fport;
};

struct conn;
typedef SMR_POINTER(struct conn *) conn_link_t;

/* A protocol control block.  Readers touch c_next, c_key, c_magic,
 * c_state and the counters; the rest only shows up in the byte count. */
struct conn {
    conn_link_t c_next;         /* hash chain */
    struct conn_key c_key;
    uint32_t c_magic;           /* CONN_MAGIC_LIVE until the pool's dtor */
    uint32_t c_state;           /* CS_*; atomic */
    uint64_t c_serial;
    uint64_t c_pkts;            /* bumped by lookups (atomic, relaxed) */
    uint64_t c_bytes;
    uint64_t c_opened_ns;
    char c_rest[192];           /* timers, options, socket back pointer... */
};

struct bucket {
    pthread_mutex_t b_mtx;
    conn_link_t b_head;
} __attribute__((aligned(64)));

struct table {
    smr_t smr;
    smr_pool_t pool;
    size_t mask;
    struct bucket *b;
};

/* ---- shared run state ---------------------------------------------------- */

enum { PH_STEADY, PH_ATTACK, PH_HOLD, PH_RECOVER, PH_STOP };
static const char *const phase_name[] = { "steady", "attack", "hold",
    "recover", "stop" };

static struct table g_tab;
static int g_phase;                     /* PH_*; atomic */
static int g_attack_opened;             /* churners done opening; atomic */
static int g_attack_closed;             /* churners done closing; atomic */
static uint64_t g_stale;                /* poisoned connections met */
static unsigned g_nchurn = 2, g_nreaders = 2;
static size_t g_conns = 20000;
static unsigned g_factor = 10;

struct churner {
    pthread_t tid;
    unsigned id;
    uint64_t opened;            /* steady serials handed out; atomic */
    uint64_t closed;            /* atomic */
    uint64_t attack_opened;     /* atomic */
    uint64_t enomem;
    struct conn **ring;         /* steady connections, FIFO */
    size_t ring_head, ring_len;
    struct conn **attack;
    size_t nattack;
    uint64_t seed;
} __attribute__((aligned(64)));

struct reader {
    pthread_t tid;
    uint64_t lookups;           /* atomic */
    uint64_t hits;              /* atomic */
    uint64_t seed;
} __attribute__((aligned(64)));

static struct churner *g_churn;
static struct reader *g_read;

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
xorshift(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static size_t
rss_bytes(void)
{
    unsigned long size, resident;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f == NULL)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* ---- the table ------------------------------------------------------------ */

static uint64_t
key_hash(const struct conn_key *k)
{
    uint64_t x = ((uint64_t)k->laddr << 32 | k->faddr) ^
        ((uint64_t)k->lport << 16 | k->fport) * UINT64_C(0x9e3779b97f4a7c15);

    x ^= x >> 31;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 29;
    return x;
}

static bool
key_eq(const struct conn_key *a, const struct conn_key *b)
{
    return a->laddr == b->laddr && a->faddr == b->faddr &&
        a->lport == b->lport && a->fport == b->fport;
}

/* Steady connections of churner t: 10.0.0.1:443 <- unique (faddr, fport);
 * attack connections: 10.0.0.2:80.  (s < 2^44 keeps them unique.) */
static struct conn_key
make_key(unsigned t, uint64_t s, bool attack)
{
    struct conn_key k;

    k.laddr = attack ? 0x0a000002u : 0x0a000001u;
    k.lport = attack ? 80 : 443;
    k.faddr = (uint32_t)t << 28 | (uint32_t)((s >> 16) & 0x0fffffffu);
    k.fport = (uint16_t)s;
    return k;
}

/* Pool hooks.  ctor: every alloc.  dtor: after the grace period, before
 * reuse; a lookup that could still see the connection would find this. */
static void
conn_ctor(void *obj, void *arg)
{
    struct conn *c = obj;

    (void)arg;
    c->c_pkts = 0;
    c->c_bytes = 0;
}

static void
conn_dtor(void *obj, void *arg)
{
    struct conn *c = obj;

    (void)arg;
    c->c_magic = CONN_MAGIC_DEAD;
    memset(&c->c_key, 0xff, sizeof(c->c_key));
}

static int
table_init(struct table *t, size_t nbuckets)
{
    struct smr_pool_args pa;
    size_t n = NBUCKETS_MIN;

    while (n < nbuckets)
        n <<= 1;
    if ((t->smr = smr_create("conntable", 0, 0)) == NULL)
        return errno;
    memset(&pa, 0, sizeof(pa));
    pa.size = sizeof(struct conn);
    pa.align = 64;
    pa.smr = t->smr;
    pa.ctor = conn_ctor;
    pa.dtor = conn_dtor;
    /* The garbage this server accepts: 16384 pending connections (4 MiB).
     * Below it the pool's cap adapts to close rate x grace period; the
     * default bound (16 MiB of objects) would let a reader preempted for
     * a few milliseconds grow the steady state by 12 MiB, which is not
     * what "flat under churn" asks of an in_pcb table. */
    pa.pending_cap = 16384;
    if ((t->pool = smr_pool_create_args("conn", &pa)) == NULL)
        return errno;
    if ((t->b = aligned_alloc(64, n * sizeof(*t->b))) == NULL)
        return ENOMEM;
    memset(t->b, 0, n * sizeof(*t->b));
    for (size_t i = 0; i < n; i++)
        pthread_mutex_init(&t->b[i].b_mtx, NULL);
    t->mask = n - 1;
    return 0;
}

/* Open: a new connection in the table, or NULL (pool out of memory). */
static struct conn *
conn_open(struct table *t, const struct conn_key *k, uint64_t serial)
{
    struct conn *c = smr_pool_alloc(t->pool);
    struct bucket *b;

    if (c == NULL)
        return NULL;
    c->c_key = *k;
    c->c_serial = serial;
    c->c_opened_ns = 0;
    c->c_magic = CONN_MAGIC_LIVE;
    __atomic_store_n(&c->c_state, CS_ESTABLISHED, __ATOMIC_RELAXED);
    b = &t->b[key_hash(k) & t->mask];
    pthread_mutex_lock(&b->b_mtx);
    smr_unserialized_store(&c->c_next,
        smr_serialized_load(&b->b_head, true), true);
    /* Release: the connection's fields before the pointer to it (partner:
     * the acquire in conn_lookup's smr_entered_load). */
    smr_serialized_store(&b->b_head, c, true);
    pthread_mutex_unlock(&b->b_mtx);
    return c;
}

/* Close: unlink under the bucket lock, then give it to the pool, which
 * reuses it only after every lookup that could see it has finished. */
static void
conn_close(struct table *t, struct conn *c)
{
    struct bucket *b = &t->b[key_hash(&c->c_key) & t->mask];
    conn_link_t *pp;
    struct conn *p;

    pthread_mutex_lock(&b->b_mtx);
    for (pp = &b->b_head; (p = smr_serialized_load(pp, true)) != c;
        pp = &p->c_next)
        if (p == NULL)
            abort();    /* not in its bucket: a bug in this program */
    __atomic_store_n(&c->c_state, CS_CLOSED, __ATOMIC_RELAXED);
    smr_serialized_store(pp, smr_serialized_load(&c->c_next, true), true);
    pthread_mutex_unlock(&b->b_mtx);
    smr_pool_free(t->pool, c);
}

/*
 * The packet input path: find the connection and account a packet to it.
 * Inside one read section, no lock, no store to the table.  The counter
 * update is an atomic add on the connection itself: if the connection is
 * closed concurrently the add lands in memory the pool has not reused yet
 * (type-stable until our section ends), and is simply lost with it.
 */
static bool
conn_input(struct table *t, const struct conn_key *k, uint32_t len)
{
    struct bucket *b = &t->b[key_hash(k) & t->mask];
    struct conn *c;
    bool hit = false;

    smr_enter(t->smr);
    for (c = smr_entered_load(&b->b_head, t->smr); c != NULL;
        c = smr_entered_load(&c->c_next, t->smr)) {
        if (__builtin_expect(c->c_magic != CONN_MAGIC_LIVE, 0)) {
            __atomic_fetch_add(&g_stale, 1, __ATOMIC_RELAXED);
            break;
        }
        if (key_eq(&c->c_key, k)) {
            if (__atomic_load_n(&c->c_state, __ATOMIC_RELAXED) ==
                CS_ESTABLISHED) {
                __atomic_fetch_add(&c->c_pkts, 1, __ATOMIC_RELAXED);
                __atomic_fetch_add(&c->c_bytes, len, __ATOMIC_RELAXED);
                hit = true;
            }
            break;
        }
    }
    smr_exit(t->smr);
    return hit;
}

/* ---- threads ------------------------------------------------------------- */

static int
phase(void)
{
    return __atomic_load_n(&g_phase, __ATOMIC_ACQUIRE);
}

/* One steady step: open a connection; past the population, close the
 * oldest. */
static void
churn_step(struct churner *ch)
{
    uint64_t s = ch->opened;
    struct conn_key k = make_key(ch->id, s, false);
    struct conn *c = conn_open(&g_tab, &k, s);
    size_t tail;

    if (c == NULL) {
        ch->enomem++;
        return;
    }
    if (ch->ring_len == g_conns) {
        conn_close(&g_tab, ch->ring[ch->ring_head]);
        ch->ring[ch->ring_head] = c;
        ch->ring_head = (ch->ring_head + 1) % g_conns;
        __atomic_store_n(&ch->closed, ch->closed + 1, __ATOMIC_RELAXED);
    } else {
        tail = (ch->ring_head + ch->ring_len) % g_conns;
        ch->ring[tail] = c;
        ch->ring_len++;
    }
    /* Release: readers pick serials below this one. */
    __atomic_store_n(&ch->opened, s + 1, __ATOMIC_RELEASE);
}

static void *
churn_main(void *arg)
{
    struct churner *ch = arg;
    size_t target = (size_t)(g_factor - 1) * g_conns;
    bool opened = false, closed = false;
    int ph;

    while ((ph = phase()) != PH_STOP) {
        if (ph == PH_ATTACK && !opened) {
            /* The burst: open as fast as we can, a churn step now and
             * then so the steady connections keep turning over. */
            while (ch->nattack < target) {
                uint64_t s = ch->nattack;
                struct conn_key k = make_key(ch->id, s, true);
                struct conn *c = conn_open(&g_tab, &k, s);
                if (c == NULL) {
                    ch->enomem++;
                    break;
                }
                ch->attack[ch->nattack++] = c;
                __atomic_store_n(&ch->attack_opened, ch->nattack,
                    __ATOMIC_RELAXED);
                if (ch->nattack % 16 == 0)
                    churn_step(ch);
            }
            opened = true;
            __atomic_fetch_add(&g_attack_opened, 1, __ATOMIC_RELEASE);
        } else if (ph == PH_RECOVER && !closed) {
            /* The attack is over: its connections go away, oldest first. */
            for (size_t i = 0; i < ch->nattack; i++) {
                conn_close(&g_tab, ch->attack[i]);
                __atomic_store_n(&ch->closed, ch->closed + 1,
                    __ATOMIC_RELAXED);
            }
            ch->nattack = 0;
            closed = true;
            __atomic_fetch_add(&g_attack_closed, 1, __ATOMIC_RELEASE);
        }
        for (int i = 0; i < 64; i++)
            churn_step(ch);
    }
    return NULL;
}

static void *
reader_main(void *arg)
{
    struct reader *r = arg;
    uint64_t n = 0, hits = 0;

    while (phase() != PH_STOP) {
        for (int i = 0; i < 256; i++) {
            uint64_t x = xorshift(&r->seed);
            struct churner *ch = &g_churn[x % g_nchurn];
            uint64_t hi = __atomic_load_n(&ch->opened, __ATOMIC_ACQUIRE);
            uint64_t s;
            struct conn_key k;

            /* Mostly connections that should be open, some just closed. */
            s = (x >> 16) % (g_conns + g_conns / 8 + 1);
            s = s < hi ? hi - 1 - s : 0;
            k = make_key(ch->id, s, false);
            hits += conn_input(&g_tab, &k, 1400);
            n++;
        }
        __atomic_store_n(&r->lookups, n, __ATOMIC_RELAXED);
        __atomic_store_n(&r->hits, hits, __ATOMIC_RELAXED);
    }
    return NULL;
}

/* ---- sampling and the report ------------------------------------------- */

struct sample {
    uint64_t t_ns, opened, closed, lookups, hits;
    struct smr_pool_stats ps;
    size_t rss;
};

static void
take_sample(struct sample *s)
{
    memset(s, 0, sizeof(*s));
    s->t_ns = now_ns();
    for (unsigned i = 0; i < g_nchurn; i++) {
        s->opened += __atomic_load_n(&g_churn[i].opened, __ATOMIC_RELAXED) +
            __atomic_load_n(&g_churn[i].attack_opened, __ATOMIC_RELAXED);
        s->closed += __atomic_load_n(&g_churn[i].closed, __ATOMIC_RELAXED);
    }
    for (unsigned i = 0; i < g_nreaders; i++) {
        s->lookups += __atomic_load_n(&g_read[i].lookups, __ATOMIC_RELAXED);
        s->hits += __atomic_load_n(&g_read[i].hits, __ATOMIC_RELAXED);
    }
    smr_pool_stats(g_tab.pool, &s->ps);
    s->rss = rss_bytes();
}

static bool g_quiet;

static void
print_header(void)
{
    if (g_quiet)
        return;
    printf("%6s %-8s %8s %9s %9s %10s %5s %8s %8s %8s %9s %9s\n", "t(s)",
        "phase", "open", "opens/s", "closes/s", "lookups/s", "hit%",
        "in_use", "pending", "cached", "pool KiB", "RSS KiB");
}

static void
print_sample(const struct sample *prev, const struct sample *s,
    uint64_t t0, int ph)
{
    double dt = (double)(s->t_ns - prev->t_ns) * 1e-9;
    uint64_t dl = s->lookups - prev->lookups;

    if (g_quiet)
        return;
    printf("%6.2f %-8s %8" PRIu64 " %9.0f %9.0f %10.0f %5.1f %8zu %8zu "
        "%8zu %9zu %9zu\n", (double)(s->t_ns - t0) * 1e-9, phase_name[ph],
        s->opened - s->closed, (double)(s->opened - prev->opened) / dt,
        (double)(s->closed - prev->closed) / dt, (double)dl / dt,
        dl ? 100.0 * (double)(s->hits - prev->hits) / (double)dl : 0.0,
        s->ps.in_use, s->ps.pending, s->ps.cached, s->ps.bytes / 1024,
        s->rss / 1024);
    fflush(stdout);
}

static void
usage(void)
{
    fprintf(stderr, "usage: conntable [-c CHURNERS] [-r READERS] "
        "[-n CONNS] [-x FACTOR] [-s SECONDS] [-i MS] [-q]\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    double seconds = 1.5;
    unsigned interval_ms = 100;
    struct sample prev, cur, first;
    size_t steady_early = 0, steady_late = 0, steady_bytes = 0;
    size_t steady_rss = 0, peak_bytes = 0, peak_rss = 0;
    uint64_t t0, t_phase, t_closed = 0, steady_ns, stale;
    int opt, ph, failed = 0, error;

    while ((opt = getopt(argc, argv, "c:r:n:x:s:i:q")) != -1) {
        switch (opt) {
        case 'c': g_nchurn = (unsigned)atoi(optarg); break;
        case 'r': g_nreaders = (unsigned)atoi(optarg); break;
        case 'n': g_conns = (size_t)atol(optarg); break;
        case 'x': g_factor = (unsigned)atoi(optarg); break;
        case 's': seconds = atof(optarg); break;
        case 'i': interval_ms = (unsigned)atoi(optarg); break;
        case 'q': g_quiet = true; break;
        default: usage();
        }
    }
    if (optind != argc || g_nchurn < 1 || g_nchurn > 15 || g_nreaders < 1 ||
        g_nreaders > 64 || g_conns < 1 || g_conns > 10000000 ||
        g_factor < 2 || g_factor > 100 || !(seconds > 0) ||
        interval_ms < 1 || interval_ms > 10000)
        usage();
    steady_ns = (uint64_t)(seconds * 1e9);

    if ((error = table_init(&g_tab, 2 * g_nchurn * g_conns)) != 0) {
        fprintf(stderr, "conntable: setup: %s\n", strerror(error));
        return 1;
    }
    g_churn = aligned_alloc(64, g_nchurn * sizeof(*g_churn));
    g_read = aligned_alloc(64, g_nreaders * sizeof(*g_read));
    if (g_churn == NULL || g_read == NULL) {
        fprintf(stderr, "conntable: out of memory\n");
        return 1;
    }
    memset(g_churn, 0, g_nchurn * sizeof(*g_churn));
    memset(g_read, 0, g_nreaders * sizeof(*g_read));
    for (unsigned i = 0; i < g_nchurn; i++) {
        struct churner *ch = &g_churn[i];
        ch->id = i;
        ch->seed = 0x2545f4914f6cdd1du + i;
        ch->ring = calloc(g_conns, sizeof(*ch->ring));
        ch->attack = calloc((g_factor - 1) * g_conns, sizeof(*ch->attack));
        if (ch->ring == NULL || ch->attack == NULL ||
            pthread_create(&ch->tid, NULL, churn_main, ch) != 0) {
            fprintf(stderr, "conntable: cannot start churn thread\n");
            return 1;
        }
    }
    for (unsigned i = 0; i < g_nreaders; i++) {
        g_read[i].seed = 0x9e3779b97f4a7c15u * (i + 1);
        if (pthread_create(&g_read[i].tid, NULL, reader_main,
            &g_read[i]) != 0) {
            fprintf(stderr, "conntable: cannot start reader thread\n");
            return 1;
        }
    }

    printf("conntable: %u churn threads x %zu connections (%zu bytes "
        "each), %u readers, attack x%u, %.2f s steady/recover\n",
        g_nchurn, g_conns, sizeof(struct conn), g_nreaders, g_factor,
        seconds);
    print_header();
    take_sample(&first);
    prev = first;
    t0 = t_phase = first.t_ns;
    ph = PH_STEADY;
    for (;;) {
        usleep(interval_ms * 1000u);
        if (ph == PH_RECOVER) {
            /* What a server's low-memory or periodic handler would do. */
            smr_pool_reclaim(g_tab.pool);
        }
        take_sample(&cur);
        print_sample(&prev, &cur, t0, ph);
        prev = cur;

        switch (ph) {
        case PH_STEADY:
            /* Skip the first fifth (filling up), then compare halves. */
            if (cur.t_ns - t0 < steady_ns / 5)
                break;
            if (cur.t_ns - t0 < (steady_ns * 3) / 5) {
                steady_early = cur.ps.bytes > steady_early ?
                    cur.ps.bytes : steady_early;
            } else {
                steady_late = cur.ps.bytes > steady_late ?
                    cur.ps.bytes : steady_late;
            }
            steady_rss = cur.rss > steady_rss ? cur.rss : steady_rss;
            if (cur.t_ns - t0 >= steady_ns) {
                steady_bytes = steady_early > steady_late ? steady_early :
                    steady_late;
                ph = PH_ATTACK;
                t_phase = cur.t_ns;
                __atomic_store_n(&g_phase, ph, __ATOMIC_RELEASE);
            }
            break;
        case PH_ATTACK:
        case PH_HOLD:
            peak_bytes = cur.ps.bytes > peak_bytes ? cur.ps.bytes : peak_bytes;
            peak_rss = cur.rss > peak_rss ? cur.rss : peak_rss;
            if (ph == PH_ATTACK && __atomic_load_n(&g_attack_opened,
                __ATOMIC_ACQUIRE) == (int)g_nchurn) {
                ph = PH_HOLD;
                t_phase = cur.t_ns;
                __atomic_store_n(&g_phase, ph, __ATOMIC_RELEASE);
            } else if (ph == PH_HOLD &&
                cur.t_ns - t_phase >= steady_ns / 5) {
                ph = PH_RECOVER;
                t_phase = cur.t_ns;
                __atomic_store_n(&g_phase, ph, __ATOMIC_RELEASE);
            }
            break;
        case PH_RECOVER:
            /* Recover for as long as the steady phase lasted, counted from
             * when the last attack connection was closed. */
            if (t_closed == 0 && __atomic_load_n(&g_attack_closed,
                __ATOMIC_ACQUIRE) == (int)g_nchurn)
                t_closed = cur.t_ns;
            if (t_closed != 0 && cur.t_ns - t_closed >= steady_ns)
                goto done;
            break;
        }
    }
done:
    __atomic_store_n(&g_phase, PH_STOP, __ATOMIC_RELEASE);
    for (unsigned i = 0; i < g_nchurn; i++)
        pthread_join(g_churn[i].tid, NULL);
    for (unsigned i = 0; i < g_nreaders; i++)
        pthread_join(g_read[i].tid, NULL);
    stale = __atomic_load_n(&g_stale, __ATOMIC_RELAXED);

    {
        double secs = (double)(cur.t_ns - t0) * 1e-9;
        uint64_t enomem = 0;
        bool flat = steady_late <= steady_early + steady_early / 4 +
            (1u << 20);
        bool drained = cur.ps.bytes <= 2 * steady_bytes;
        bool rss_ok = !RSS_JUDGED || cur.rss <= 2 * steady_rss;

        for (unsigned i = 0; i < g_nchurn; i++)
            enomem += g_churn[i].enomem;
        printf("\nconntable summary (%.2f s)\n", secs);
        printf("  connections opened %" PRIu64 ", closed %" PRIu64
            " (%.0f/s), open at the end %" PRIu64 "\n", cur.opened,
            cur.closed, (double)cur.closed / secs, cur.opened - cur.closed);
        printf("  lookups %" PRIu64 " (%.0f/s), %.1f%% hits\n", cur.lookups,
            (double)cur.lookups / secs,
            cur.lookups ? 100.0 * (double)cur.hits / (double)cur.lookups :
            0.0);
        printf("  pool: allocs %" PRIu64 ", frees %" PRIu64 ", pending peak "
            "%zu, buckets queued %" PRIu64 ", reused %" PRIu64
            ", synchronous reclaims %" PRIu64 "\n", cur.ps.allocs,
            cur.ps.frees, cur.ps.pending_peak, cur.ps.buckets_queued,
            cur.ps.buckets_reused, cur.ps.sync_reclaims);
        printf("  pool bytes: steady %zu KiB (early %zu, late %zu), attack "
            "peak %zu KiB, after reclaim %zu KiB = %.2fx steady\n",
            steady_bytes / 1024, steady_early / 1024, steady_late / 1024,
            peak_bytes / 1024, cur.ps.bytes / 1024,
            steady_bytes ? (double)cur.ps.bytes / (double)steady_bytes : 0.0);
        printf("  RSS: steady %zu KiB, attack peak %zu KiB, after reclaim "
            "%zu KiB = %.2fx steady\n", steady_rss / 1024, peak_rss / 1024,
            cur.rss / 1024,
            steady_rss ? (double)cur.rss / (double)steady_rss : 0.0);
        printf("  reclaimed connections seen by lookups: %" PRIu64
            ", pool ENOMEM: %" PRIu64 "\n", stale, enomem);
        printf("  flat under churn: %s; drained after the attack: %s; "
            "RSS drained: %s; safe: %s\n", flat ? "yes" : "NO",
            drained ? "yes" : "NO", !RSS_JUDGED ? "not judged (sanitizer)" :
            rss_ok ? "yes" : "NO", stale == 0 ? "yes" : "NO");
        failed = !flat || !drained || !rss_ok || stale != 0 || enomem != 0 ||
            steady_bytes == 0;
    }

    /* Tear down: close everything, then the pool, then the domain. */
    for (unsigned i = 0; i < g_nchurn; i++) {
        struct churner *ch = &g_churn[i];
        for (size_t j = 0; j < ch->ring_len; j++)
            conn_close(&g_tab, ch->ring[(ch->ring_head + j) % g_conns]);
        for (size_t j = 0; j < ch->nattack; j++)
            conn_close(&g_tab, ch->attack[j]);
        free(ch->ring);
        free(ch->attack);
    }
    smr_pool_destroy(g_tab.pool);
    smr_destroy(g_tab.smr);
    for (size_t i = 0; i <= g_tab.mask; i++)
        pthread_mutex_destroy(&g_tab.b[i].b_mtx);
    free(g_tab.b);
    free(g_churn);
    free(g_read);
    printf("conntable: %s\n", failed ? "FAIL" : "OK");
    return failed ? 1 : 0;
}
