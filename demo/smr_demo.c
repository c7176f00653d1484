/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * smr_demo: libsmr at work, with numbers.
 *
 * A table of N pointers to records (think: a routing or configuration table
 * that is read all the time and changed now and then).  R reader threads
 * loop doing read sections; each section looks up K random records and
 * checks them twice (at lookup and again just before leaving the section):
 * the magic, the key and a checksum must be intact.  One writer thread
 * replaces random records as fast as it can: it publishes a new record,
 * calls smr_advance() for a goal, queues (goal, old record) in a FIFO and
 * frees from the head of the FIFO whatever smr_poll(goal, false) says no
 * reader can still see -- it never blocks.  Before freeing, the writer
 * poisons the record, so a reader that could still see it would report a
 * violation.
 *
 * Build against an installed libsmr:
 *   cc -O2 demo/smr_demo.c $(pkg-config --cflags --libs libsmr) -o smr_demo
 * Exit status: 0 if no violation was seen, 1 otherwise, 2 on bad usage.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <smr.h>

#define REC_LIVE   UINT64_C(0x4c4956455245434f) /* "LIVERECO" */
#define REC_POISON UINT64_C(0xdeaddeaddeaddead)

struct rec {
    uint64_t magic;
    uint64_t key;       /* its index in the table */
    uint64_t version;
    uint64_t check;     /* mix(key, version) */
    char payload[32];
};

/* A reclaim-queue entry: the record and the goal after which it is free. */
struct pending {
    smr_seq_t goal;
    struct rec *rec;
};

static smr_t g_smr;
static int g_lazy;
static SMR_POINTER(struct rec *) *g_table;
static uint32_t g_nrec = 1024;
static int g_lookups = 4;
static volatile int g_stop;

struct reader {
    pthread_t th;
    int id;
    uint64_t sections;
    uint64_t lookups;
    uint64_t violations;
    uint64_t elapsed_ns;
    uint64_t sink;
} __attribute__((aligned(64)));

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
mix(uint64_t a, uint64_t b)
{
    uint64_t z = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
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

/* Field loads are relaxed atomics: the writer's poisoning stores race with
 * them exactly when SMR is broken, and that is what we want to see. */
#define LD(f) __atomic_load_n(&(f), __ATOMIC_RELAXED)

static int
rec_ok(const struct rec *r, uint64_t key)
{
    uint64_t v = LD(r->version);

    return LD(r->magic) == REC_LIVE && LD(r->key) == key &&
        LD(r->check) == mix(key, v);
}

static void *
reader_main(void *arg)
{
    struct reader *rd = arg;
    uint64_t seed = mix((uint64_t)rd->id + 1, now_ns()) | 1;
    const struct rec *seen[64];
    uint64_t keys[64];
    uint64_t sections = 0, lookups = 0, bad = 0, sink = 0;
    int k = g_lookups;

    if (smr_thread_attach(g_smr) != 0) {
        fprintf(stderr, "smr_demo: smr_thread_attach: %s\n", strerror(errno));
        exit(1);
    }
    uint64_t t0 = now_ns();
    while (!__atomic_load_n(&g_stop, __ATOMIC_RELAXED)) {
        /* 64 sections between looks at the stop flag. */
        for (int it = 0; it < 64; it++) {
            if (g_lazy)
                smr_lazy_enter(g_smr);
            else
                smr_enter(g_smr);
            for (int j = 0; j < k; j++) {
                uint64_t key = xorshift(&seed) % g_nrec;
                const struct rec *r = smr_entered_load(&g_table[key], g_smr);
                if (!rec_ok(r, key))
                    bad++;
                sink += (unsigned char)LD(r->payload[j & 31]);
                seen[j] = r;
                keys[j] = key;
            }
            /* Still intact at the end of the section? */
            for (int j = 0; j < k; j++)
                if (!rec_ok(seen[j], keys[j]))
                    bad++;
            if (g_lazy)
                smr_lazy_exit(g_smr);
            else
                smr_exit(g_smr);
            sections++;
            lookups += (uint64_t)k;
        }
    }
    rd->elapsed_ns = now_ns() - t0;
    rd->sections = sections;
    rd->lookups = lookups;
    rd->violations = bad;
    rd->sink = sink;
    smr_thread_detach(g_smr);
    return NULL;
}

static struct rec *
rec_new(uint64_t key, uint64_t version)
{
    struct rec *r = malloc(sizeof(*r));

    if (r == NULL) {
        perror("smr_demo: malloc");
        exit(1);
    }
    r->magic = REC_LIVE;
    r->key = key;
    r->version = version;
    r->check = mix(key, version);
    memset(r->payload, (int)(version & 0x7f), sizeof(r->payload));
    return r;
}

static void
rec_free(struct rec *r)
{
    /* Poison first: a reader that could still see r would notice. */
    __atomic_store_n(&r->magic, REC_POISON, __ATOMIC_RELAXED);
    __atomic_store_n(&r->key, REC_POISON, __ATOMIC_RELAXED);
    __atomic_store_n(&r->check, 0, __ATOMIC_RELAXED);
    free(r);
}

/* The writer's numbers. */
struct wstats {
    uint64_t replaced;
    uint64_t reclaimed;
    uint64_t max_pending;
    uint64_t polls_ok;
    uint64_t polls_fail;
    uint64_t waits;       /* blocking waits forced by the pending cap */
};

/* FIFO ring of pending records (goals are handed out in order). */
struct fifo {
    struct pending *v;
    size_t cap, head, n;
};

static void
fifo_push(struct fifo *f, smr_seq_t goal, struct rec *r)
{
    if (f->n == f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 4096;
        struct pending *nv = malloc(ncap * sizeof(*nv));
        if (nv == NULL) {
            perror("smr_demo: malloc");
            exit(1);
        }
        for (size_t i = 0; i < f->n; i++)
            nv[i] = f->v[(f->head + i) % f->cap];
        free(f->v);
        f->v = nv;
        f->cap = ncap;
        f->head = 0;
    }
    f->v[(f->head + f->n) % f->cap] = (struct pending){goal, r};
    f->n++;
}

/* Free every queued record whose goal is at or before `done`. */
static void
fifo_reclaim(struct fifo *f, smr_seq_t done, struct wstats *ws)
{
    while (f->n > 0 && SMR_SEQ_LEQ(f->v[f->head].goal, done)) {
        rec_free(f->v[f->head].rec);
        f->head = (f->head + 1) % f->cap;
        f->n--;
        ws->reclaimed++;
    }
}

static void
usage(FILE *f)
{
    fprintf(f,
        "usage: smr_demo [-r readers] [-s seconds] [-n records] "
        "[-k lookups] [--lazy | --deferred LIMIT]\n"
        "  -r N          reader threads (default 2)\n"
        "  -s SECONDS    run time (default 3, fractions allowed)\n"
        "  -n N          records in the table (default 1024)\n"
        "  -k N          lookups per read section, 1..64 (default 4)\n"
        "  -c N          pending cap: past it the writer waits (default "
        "1000000)\n"
        "  --lazy        SMR_LAZY domain, readers use smr_lazy_enter\n"
        "  --deferred L  SMR_DEFERRED domain with limit L\n");
}

int
main(int argc, char **argv)
{
    int nreaders = 2, flags = 0, limit = 0;
    double seconds = 3.0;
    uint64_t cap = 1000000;
    static const struct option longopts[] = {
        {"lazy", no_argument, NULL, 'L'},
        {"deferred", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = getopt_long(argc, argv, "r:s:n:k:c:h", longopts, NULL)) !=
        -1) {
        switch (c) {
        case 'r': nreaders = atoi(optarg); break;
        case 's': seconds = atof(optarg); break;
        case 'n': g_nrec = (uint32_t)strtoul(optarg, NULL, 0); break;
        case 'k': g_lookups = atoi(optarg); break;
        case 'c': cap = strtoull(optarg, NULL, 0); break;
        case 'L': flags = SMR_LAZY; g_lazy = 1; break;
        case 'D': flags = SMR_DEFERRED; limit = atoi(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || nreaders < 1 || seconds <= 0 || g_nrec < 1 ||
        g_lookups < 1 || g_lookups > 64 || cap < 1) {
        usage(stderr);
        return 2;
    }

    g_smr = smr_create("smr_demo", limit, flags);
    if (g_smr == NULL) {
        fprintf(stderr, "smr_demo: smr_create: %s\n", strerror(errno));
        return 1;
    }
    g_table = calloc(g_nrec, sizeof(*g_table));
    if (g_table == NULL) {
        perror("smr_demo: calloc");
        return 1;
    }
    uint64_t version = 0;
    for (uint32_t i = 0; i < g_nrec; i++)
        smr_serialized_store(&g_table[i], rec_new(i, ++version), true);

    printf("smr_demo: libsmr %d, %d-bit sequences, domain \"%s\" (%s)\n",
        smr_version(), SMR_SEQ32 ? 32 : 64, smr_name(g_smr),
        flags == SMR_LAZY
            ? (smr_lazy_is_fence_free(g_smr) ? "SMR_LAZY, fence-free readers"
                                             : "SMR_LAZY, fenced fallback")
        : flags == SMR_DEFERRED ? "SMR_DEFERRED" : "default clock");
    printf("  %d reader threads x %d lookups per section, 1 writer, "
        "%u records, %.1f s\n", nreaders, g_lookups, g_nrec, seconds);
    fflush(stdout);

    struct reader *rd = aligned_alloc(64, sizeof(*rd) * (size_t)nreaders);
    if (rd == NULL) {
        perror("smr_demo");
        return 1;
    }
    memset(rd, 0, sizeof(*rd) * (size_t)nreaders);
    for (int i = 0; i < nreaders; i++) {
        rd[i].id = i;
        if (pthread_create(&rd[i].th, NULL, reader_main, &rd[i]) != 0) {
            perror("smr_demo: pthread_create");
            return 1;
        }
    }

    /* The writer is the main thread. */
    struct wstats ws = {0};
    struct fifo q = {0};
    uint64_t wseed = mix(now_ns(), 77) | 1;
    uint64_t t0 = now_ns();
    uint64_t tend = t0 + (uint64_t)(seconds * 1e9);
    uint64_t n = 0;

    for (;;) {
        if ((++n & 255) == 0 && now_ns() >= tend)
            break;
        uint64_t key = xorshift(&wseed) % g_nrec;
        struct rec *nr = rec_new(key, ++version);
        struct rec *old = smr_serialized_swap(&g_table[key], nr, true);
        smr_seq_t goal = smr_advance(g_smr);
        fifo_push(&q, goal, old);
        ws.replaced++;
        if (q.n > ws.max_pending)
            ws.max_pending = q.n;

        /* Reclaim without blocking: one poll for the oldest goal. */
        smr_seq_t head = q.v[q.head].goal;
        if (smr_poll(g_smr, head, false)) {
            ws.polls_ok++;
            fifo_reclaim(&q, head, &ws);
        } else {
            ws.polls_fail++;
            if (q.n >= cap) {
                /* A reader is stuck (descheduled?): bound the garbage. */
                ws.waits++;
                if (smr_wait(g_smr, head))
                    fifo_reclaim(&q, head, &ws);
            }
        }
    }
    uint64_t welapsed = now_ns() - t0;
    uint64_t pending_at_stop = q.n;

    __atomic_store_n(&g_stop, 1, __ATOMIC_RELAXED);
    uint64_t sections = 0, lookups = 0, violations = 0, sink = 0;
    double ns_sec = 0;
    for (int i = 0; i < nreaders; i++) {
        pthread_join(rd[i].th, NULL);
        sections += rd[i].sections;
        lookups += rd[i].lookups;
        violations += rd[i].violations;
        sink += rd[i].sink;
        if (rd[i].sections)
            ns_sec += (double)rd[i].elapsed_ns / (double)rd[i].sections;
    }
    ns_sec /= nreaders;

    /* Everyone has left: the newest goal must be reachable now. */
    int drain_ok = 1;
    if (q.n > 0) {
        smr_seq_t last = q.v[(q.head + q.n - 1) % q.cap].goal;
        if (!smr_wait_timeout(g_smr, last, UINT64_C(5000000000)))
            drain_ok = 0;
        else
            fifo_reclaim(&q, last, &ws);
    }

    struct smr_stats st;
    smr_stats(g_smr, &st);

    double secs = (double)welapsed / 1e9;
    printf("\nreaders\n");
    printf("  read sections             %12llu  (%.1f M/s, %.1f M/s per "
        "reader)\n", (unsigned long long)sections, sections / secs / 1e6,
        sections / secs / 1e6 / nreaders);
    printf("  record lookups            %12llu\n",
        (unsigned long long)lookups);
    printf("  ns per section            %12.1f  (%d lookups + checks, "
        "per reader thread)\n", ns_sec, g_lookups);
    printf("  violations                %12llu  %s\n",
        (unsigned long long)violations,
        violations ? "<-- a reader saw a freed record!" : "(must be 0)");
    printf("writer\n");
    printf("  records replaced          %12llu  (%.2f M/s)\n",
        (unsigned long long)ws.replaced, ws.replaced / secs / 1e6);
    printf("  objects reclaimed         %12llu  (while running: %llu)\n",
        (unsigned long long)ws.reclaimed,
        (unsigned long long)(ws.replaced - pending_at_stop));
    printf("  max objects pending       %12llu  (grows while a reader sits "
        "descheduled in a section)\n", (unsigned long long)ws.max_pending);
    printf("  polls succeeded           %12llu\n",
        (unsigned long long)ws.polls_ok);
    printf("  polls failed (not yet)    %12llu\n",
        (unsigned long long)ws.polls_fail);
    printf("  blocking waits (cap hit)  %12llu\n",
        (unsigned long long)ws.waits);
    printf("smr_stats\n");
    printf("  advance %llu, advance_wait %llu, poll %llu, poll_scan %llu, "
        "poll_fail %llu,\n  barriers %llu, live_slots %llu, "
        "slot_capacity %llu\n",
        (unsigned long long)st.advance, (unsigned long long)st.advance_wait,
        (unsigned long long)st.poll, (unsigned long long)st.poll_scan,
        (unsigned long long)st.poll_fail, (unsigned long long)st.barriers,
        (unsigned long long)st.live_slots,
        (unsigned long long)st.slot_capacity);

    int fail = 0;
    if (violations != 0)
        fail = 1;
    if (!drain_ok || ws.reclaimed != ws.replaced) {
        printf("FAIL: %llu of %llu replaced records never reclaimed\n",
            (unsigned long long)(ws.replaced - ws.reclaimed),
            (unsigned long long)ws.replaced);
        fail = 1;
    }
    printf("%s (sink %llu)\n", fail ? "FAIL" : "OK",
        (unsigned long long)(sink & 0xff));

    for (uint32_t i = 0; i < g_nrec; i++)
        rec_free(smr_serialized_load(&g_table[i], true));
    free(g_table);
    free(q.v);
    free(rd);
    smr_destroy(g_smr);
    return fail;
}
