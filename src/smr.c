/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * Copyright (c) 2026 The libsmr developers
 *
 * libsmr core: domains, per-thread slots, the default and deferred clocks,
 * and the poll that decides when memory may be reused.
 *
 * ====================================================================
 * Theory of operation: Global Unbounded Sequences in userspace
 * ====================================================================
 *
 * A domain has a global write clock, s_wr_seq, and a read hand, s_rd_seq.
 * Every thread that reads has a slot on the domain.  A read section
 * publishes the clock value the reader saw:
 *
 *     smr_enter:  v = s_wr_seq; slot = v; store->load fence;
 *                 ... protected loads ...
 *     smr_exit:   release fence; slot = INVALID
 *
 * (The "slot value" is the sequence part of the reader's word, which also
 * holds its nesting depth; the word lives in the thread's table entry for
 * the domain and the domain's slot points at it.  See "Words" below.)
 *
 * A writer removes an object from every place a new reader could find it,
 * then advances the clock.  The returned goal is the new clock value: every
 * section that starts after the advance publishes a value >= goal and, by
 * the fences, sees the removal.  Only sections that published a value <
 * goal (or are about to publish a stale one, see I3) may still hold the
 * object.  A poll scans the slots; once every slot is INVALID or >= goal,
 * the object may be reused.  The poll records its result by moving the read
 * hand forward, so later polls for older goals need no scan at all.
 *
 *   sequence space (arrows: wrap-safe order, SMR_SEQ_LT/GT)
 *
 *     ... --------|==================|============|-------------> ...
 *              s_rd_seq           slot values   s_wr_seq    future goals
 *                 ^                  ^              ^         (deferred,
 *       every section that    open sections     last goal      lazy,
 *       began before this     published these   handed out    32-bit guard)
 *       value has ended       values
 *
 *     goal <= s_rd_seq               : reached, no scan (fast path)
 *     s_rd_seq < goal <= s_wr_seq    : scan the slots
 *     goal > s_wr_seq                : push the clock first (deferred, lazy)
 *                                      or report "not yet" (32-bit guard)
 *
 * Invariants the code keeps:
 *
 *  I1  Sequence values are odd multiples of 256 and only move forward: s_rd_seq <= every
 *      published slot value that is not stale (I3) <= s_wr_seq.
 *  I2  An advance orders every store before it (the caller's unlink) before
 *      its clock increment with a full fence (POWER: sync).  A reader that
 *      loads the new value, then fences, sees the unlink.
 *  I3  A slot value below s_rd_seq is stale: its reader loaded the clock,
 *      was descheduled, and published late.  The poller clamps it to
 *      s_rd_seq (FreeBSD smr_poll_cpu).  This is safe: the poll that moved
 *      the hand past it saw the slot empty, so by the store->load fences
 *      the late reader sees every removal that poll covered.
 *  I4  A poll counts a slot done only after a full fence that follows its
 *      load of the clock (store buffering pattern with smr_enter's fence).
 *      Lazy domains replace the reader's fence by an asymmetric barrier
 *      issued by the poller (src/smr_lazy.c).
 *  I5  The read hand moves only forward, by a release CAS (64-bit) or
 *      under d_rd_lock (32-bit) and only if no other move happened since
 *      the poller's snapshot (d_rd_gen), so a poller stalled for any time,
 *      a whole lap of the clock included, cannot move it back or past a
 *      reader (src/smr_clock.h, smr__rd_snapshot).
 *  I6  32-bit only: the clock stays less than SMR__MAX_DELTA ahead of the
 *      read hand; an advance that would pass it returns a future goal it
 *      did not write (never blocks).  Readers republish if their published
 *      value is SMR__RECHECK behind the clock before any protected load.
 *  I7  Per-thread state is keyed by a domain id that is never reused, and
 *      smr_destroy frees every thread's entry for the domain (word
 *      SMR__W_FREE, id 0) under the registry lock before its index can be
 *      handed out again.  So the read path, which checks no id, finds at
 *      d_off either a free entry (out of line, where first use is served
 *      and misuse caught) or the domain's own word; the slow paths check
 *      the id.
 *
 * Words.  A reader's word is seq + depth (smr.h, SMR__W_*): 0 idle, depth
 * 1..255 inside, SMR__W_FREE no slot.  It lives in the owner's table entry,
 * so an enter is one TLS load, one load of the entry and one store, like
 * liburcu's per-thread counter; the domain's slot holds a pointer to it
 * (c_wordp), and pollers read the word through that pointer.  Domains past
 * the fast table keep the word in the slot (c_wordp = &c_word).  Three
 * rules make the pointer safe to follow without a lock:
 *  - thread tables are never freed, only handed to the next thread, so a
 *    pointer read from a slot released a moment ago still points at a
 *    word: free, idle, or (if reused) some thread's word for this very
 *    domain, which at worst makes the poll conservative;
 *  - a claim stores c_wordp before the thread can publish in the word
 *    (program order in the owner) and before the release store of d_hw;
 *    a poller that still reads the old pointer is in the situation of I4's
 *    "found it empty": the fences (or membarrier) order the claim, which
 *    precedes the publish, against the poller's clock load;
 *  - a release points c_wordp back at c_word (0) after the entry is freed.
 *
 * Ordering after the section.  The exit is a release FENCE and a relaxed
 * store, not a release store: since C++20 a release sequence no longer
 * includes the same thread's later relaxed stores, so a poll that read the
 * NEXT section's publish (>= its goal) would not be ordered after this
 * section's loads, and the writer's reuse would race with them (a
 * language-level race: RC11 reports it, no hardware model shows a bad
 * read).  The fence synchronizes with an acquire load that reads any later
 * store of ours to the word.  A thread's first store to a word it takes
 * over (a table or slot handed on) follows a release fence too
 * (smr__word_open), for the previous owner's sections.
 *
 * Why each mode is safe, per architecture, and what backs it.  Each claim
 * is checked by a GenMC model (tests/model/, scripts/modelcheck; results in
 * docs/TESTING.md) that runs this code under RC11 (the C11 model the
 * compilers implement), IMM (a model of ARMv8, POWER and RISC-V hardware
 * that is not multicopy-atomic where POWER is not) and TSO, each with
 * broken variants the checker must catch:
 *  - default and deferred domains, every target but x86: the C11 code
 *    above (store + seq_cst fence publish; fences before every clock write
 *    and every scan).  sb, nest, rdhand, handover: verified under RC11 and
 *    IMM, which cover arm64, ARMv7, POWER, RISC-V, MIPS (SPEC §3 table;
 *    the instructions are in docs/PORTABILITY.md).
 *  - x86-64 and i686 with 32-bit words: the publish is one xchg, a locked
 *    RMW, which TSO makes a full barrier; as C11 a seq_cst RMW is NOT a
 *    fence, so model sb-x86 verifies under TSO only and is expected to fail
 *    under RC11 and IMM (the shim must never reach another target).  The
 *    compiler-only fence after the xchg stops the compiler from hoisting
 *    the protected loads.
 *  - lazy domains, 64-bit targets with membarrier: lazy, nest-lazy
 *    (membarrier modelled as the kernel runs it), verified under RC11, IMM
 *    and TSO since the goal is taken by a clock RMW (src/smr_lazy.c,
 *    "Goals"); the old goal is reported under RC11 and IMM (POWER).
 *  - 32-bit sequences: seq32 (a reduced width, so laps take 8 steps):
 *    a reader or a poller stalled across a whole lap, verified under RC11
 *    and IMM; the old read-hand check and a relaxed re-check are reported.
 *
 * Nesting and signals: an enter is "load the word; 0: publish clock + 1,
 * else add 1"; an exit is "load; depth 1: store 0, else subtract 1".  A
 * signal handler runs whole sections and returns, so it leaves the word as
 * it found it, and the interrupted load-then-store is as if atomic with
 * respect to it: the SPEC §2 rule (publish only if empty, clear only at
 * depth 0) holds without a separate depth counter.  See smr.h.
 */
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "smr_clock.h"

/* ---- exported twins of the inline read path (liburcu style) ----------- */
extern inline smr_seq_t *smr__word(uint32_t off);
extern inline void smr__publish_fenced(smr_t smr, smr_seq_t *w);
extern inline void smr__publish_lazy(smr_t smr, smr_seq_t *w);
extern inline bool smr__enter_word(smr_t smr, smr_seq_t *w, bool lazy);
extern inline bool smr__exit_word(smr_seq_t *w);
extern inline void smr_enter(smr_t smr);
extern inline void smr_exit(smr_t smr);
extern inline void smr_lazy_enter(smr_t smr);
extern inline void smr_lazy_exit(smr_t smr);
extern inline smr_t smr__static_get(struct smr__static *st);
extern inline void smr__static_enter(struct smr__static *st, smr_seq_t *w,
    bool lazy);
extern inline void smr__static_exit(struct smr__static *st, smr_seq_t *w);

SMR_API void (*volatile smr__test_hook)(smr_t smr, int point);

/* ---- per-thread state ------------------------------------------------- */

struct smr__thread {
    struct smr__thread_hot hot;   /* smr__self points here */
    uint64_t t_serial;            /* never 0; owner id stored in slots */
    int32_t t_tid;
    uint32_t t_ovf_cap;           /* entries in t_ovf */
    /* Entries for d_idx >= SMR__TFAST - 1 (t_ovf[d_idx - SMR__TFAST + 1]);
     * read and written by the owner, cleared by smr_destroy; resized under
     * smr__glock. */
    struct smr__tent *t_ovf;
    /* Registry of live tables (smr__glock), so smr_destroy can clear
     * every thread's entry for the domain. */
    struct smr__thread *t_next, *t_prev;
} __attribute__((aligned(SMR__SLOT_ALIGN)));   /* words of two threads never
                                                * share a line (pair) */

/* A free entry: the read path goes out of line on its word. */
#define SMR__TENT_EMPTY { SMR__W_FREE, 0, NULL, NULL }
/* Threads that never entered a section: every word is free, never written
 * (as is every table's last entry, the sentinel). */
static struct smr__thread_hot smr__empty_hot = {
    .ent = { [0 ... SMR__TFAST - 1] = SMR__TENT_EMPTY },
};
SMR_API __thread struct smr__thread_hot *smr__self
    __attribute__((tls_model("initial-exec"))) = &smr__empty_hot;

/* ---- global registry -------------------------------------------------- */

static pthread_mutex_t smr__glock = PTHREAD_MUTEX_INITIALIZER;
static struct smr_domain **smr__domains;   /* by d_idx; NULL: free index */
static uint32_t smr__ndomains;      /* capacity of smr__domains */
static uint64_t smr__next_id = 1;   /* domain ids: never reused (I7) */
static uint64_t smr__next_serial = 1;
static struct smr__thread *smr__threads;  /* live tables (smr__glock) */
/* Tables of exited threads, for the next thread (smr__glock): never freed,
 * see "Words" above. */
static struct smr__thread *smr__spare_tables;
static pthread_key_t smr__key;
static pthread_once_t smr__once = PTHREAD_ONCE_INIT;
static int smr__once_err;

static void smr__thread_exit(void *arg);
static void smr__atfork_prepare(void);
static void smr__atfork_parent(void);
static void smr__atfork_child(void);

/*
 * SMR_SHOW_STATS=1: at exit, every live domain's statistics and its
 * smr_retire queue, then the final numbers of the domains destroyed
 * before (kept at smr_destroy: the first SMR__SHOW_DEAD one by one, the
 * rest summed into one line).
 */
static bool smr__show_on;               /* set once, in smr__init_once */
#define SMR__SHOW_DEAD 64
struct smr__dead_stats {
    char name[48];
    const char *kind;
    struct smr_stats st;
};
static struct smr__dead_stats smr__dead[SMR__SHOW_DEAD];   /* smr__glock */
static uint32_t smr__ndead;
static uint64_t smr__dead_more;         /* destroyed past the table */
static struct smr_stats smr__dead_rest; /* their counters, summed */

/*
 * smr_retire_stats lives in src/retire.c, which the core links without
 * (the torture programs; a static link that never retires): a weak
 * reference is NULL then, and such a process has no retire queue to show.
 */
#pragma weak smr_retire_stats

static const char *
smr__kind(const struct smr_domain *smr)
{
    return (smr->h.d_flags & SMR__F_LAZY_FAST) ? " [lazy]" :
        (smr->h.d_flags & SMR_LAZY) ? " [lazy, fenced fallback]" :
        (smr->h.d_flags & SMR_DEFERRED) ? " [deferred]" : "";
}

static void
smr__show_line(const char *name, const char *kind, const char *state,
    const struct smr_stats *st)
{
    fprintf(stderr, "libsmr: domain \"%s\"%s%s: advance %llu "
        "(guard %llu), poll %llu (scan %llu, fail %llu), barriers %llu, "
        "slots %llu live / %llu%s\n", name, kind, state,
        (unsigned long long)st->advance,
        (unsigned long long)st->advance_wait, (unsigned long long)st->poll,
        (unsigned long long)st->poll_scan,
        (unsigned long long)st->poll_fail, (unsigned long long)st->barriers,
        (unsigned long long)st->live_slots,
        (unsigned long long)st->slot_capacity,
        st->inline_table ? "" : ", past the inline table");
}

static void
smr__show_stats(void)
{
    struct smr_domain **live;
    uint32_t n = 0;

    pthread_mutex_lock(&smr__glock);
    live = calloc(smr__ndomains + 1, sizeof(*live));
    for (uint32_t i = 0; live != NULL && i < smr__ndomains; i++)
        if (smr__domains[i] != NULL)
            live[n++] = smr__domains[i];
    pthread_mutex_unlock(&smr__glock);
    for (uint32_t i = 0; i < n; i++) {
        struct smr_stats st;
        smr_stats(live[i], &st);
        smr__show_line(live[i]->d_name, smr__kind(live[i]), "", &st);
        if (smr_retire_stats != NULL) {
            struct smr_retire_stats rs;
            smr_retire_stats(live[i], &rs);
            fprintf(stderr, "libsmr: domain \"%s\": smr_retire: pending "
                "%zu (cap %zu%s), retires that waited %llu, past the cap "
                "without waiting %llu\n", live[i]->d_name, rs.pending,
                rs.pending_cap, (rs.flags & SMR_RETIRE_NOWAIT) ?
                ", SMR_RETIRE_NOWAIT" : "",
                (unsigned long long)rs.sync_reclaims,
                (unsigned long long)rs.nowait_over);
        }
    }
    free(live);
    pthread_mutex_lock(&smr__glock);
    for (uint32_t i = 0; i < smr__ndead; i++)
        smr__show_line(smr__dead[i].name, smr__dead[i].kind, " (destroyed)",
            &smr__dead[i].st);
    if (smr__dead_more != 0) {
        char what[64];
        snprintf(what, sizeof(what), "%llu more destroyed domains",
            (unsigned long long)smr__dead_more);
        smr__show_line(what, "", " (summed)", &smr__dead_rest);
    }
    pthread_mutex_unlock(&smr__glock);
}

/* smr_destroy: keep smr's final numbers for the exit report; smr__glock
 * held, st taken before (smr_stats takes d_lock). */
static void
smr__show_keep(const struct smr_domain *smr, const struct smr_stats *st)
{
    struct smr_stats *r = &smr__dead_rest;

    if (smr__ndead < SMR__SHOW_DEAD) {
        struct smr__dead_stats *d = &smr__dead[smr__ndead++];
        snprintf(d->name, sizeof(d->name), "%s", smr->d_name);
        d->kind = smr__kind(smr);
        d->st = *st;
        return;
    }
    smr__dead_more++;
    r->advance += st->advance;
    r->advance_wait += st->advance_wait;
    r->poll += st->poll;
    r->poll_scan += st->poll_scan;
    r->poll_fail += st->poll_fail;
    r->barriers += st->barriers;
    r->live_slots += st->live_slots;
    r->slot_capacity += st->slot_capacity;
    r->inline_table = 1;    /* no "past the table" note on the sum */
}

static void
smr__init_once(void)
{
    const char *e = getenv("SMR_SHOW_STATS");

    smr__once_err = pthread_key_create(&smr__key, smr__thread_exit);
    if (smr__once_err == 0)
        smr__once_err = pthread_atfork(smr__atfork_prepare,
            smr__atfork_parent, smr__atfork_child);
    if (e != NULL && *e != '\0' && strcmp(e, "0") != 0) {
        smr__show_on = true;
        atexit(smr__show_stats);
    }
}

SMR_API int
smr_version(void)
{
    return SMR_VERSION;
}

/* ---- diagnostics ------------------------------------------------------ */

void
smr__vsay(const char *what, const char *name, const char *kind,
    const char *fmt, va_list ap)
{
    char msg[256];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (name != NULL)
        fprintf(stderr, "libsmr: %s \"%s\": %s: %s\n", what, name, kind, msg);
    else if (what != NULL)
        fprintf(stderr, "libsmr: %s: %s: %s\n", what, kind, msg);
    else
        fprintf(stderr, "libsmr: %s: %s\n", kind, msg);
}

/* A report about smr, named if it is a live domain. */
static void
smr__vreport(const struct smr_domain *smr, const char *kind, const char *fmt,
    va_list ap)
{
    if (smr != NULL && smr->h.d_magic == SMR__MAGIC)
        smr__vsay("domain", smr->d_name, kind, fmt, ap);
    else
        smr__vsay(NULL, NULL, kind, fmt, ap);
}

void
smr__die(const struct smr_domain *smr, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    smr__vreport(smr, "misuse", fmt, ap);
    va_end(ap);
    abort();
}

void
smr__warn(const struct smr_domain *smr, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    smr__vreport(smr, "warning", fmt, ap);
    va_end(ap);
}

/* Slow-path sanity check: a stray pointer, a destroyed domain or a second
 * static copy of libsmr in one process is reported, not followed. */
void
smr__check(const struct smr_domain *smr, const char *what)
{
    if (smr == NULL)
        smr__die(NULL, "%s: NULL domain", what);
    if (smr->h.d_magic == SMR__MAGIC)
        return;
#if SMR_CONFIG_DEBUG
    /* Quarantined by smr_destroy: the name is still there. */
    if (smr->h.d_magic == SMR__MAGIC_DEAD)
        smr__die(NULL, "%s: domain %p (\"%.47s\") was destroyed", what,
            (const void *)smr, smr->d_name);
#endif
    smr__die(NULL, "%s: %p is not a live libsmr domain (magic %#x%s)",
        what, (const void *)smr, smr->h.d_magic,
        smr->h.d_magic == SMR__MAGIC_DEAD ? ": destroyed" : "");
}

uint64_t
smr__now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int32_t
smr__gettid(void)
{
    return (int32_t)syscall(SYS_gettid);
}

/* ---- slots ------------------------------------------------------------ */

/* Grow the registry by one chunk; d_lock held.  0 or ENOMEM. */
static int
smr__slots_grow(struct smr_domain *smr)
{
    uint32_t k = smr->d_nchunks, n = SMR__CHUNK0 << k, ncap;
    struct smr__slot *c;
    uint64_t *used;

    if (k == SMR__NCHUNKS)
        return ENOMEM;
    ncap = smr->d_cap + n;
    used = realloc(smr->d_used, (ncap + 63) / 64 * sizeof(uint64_t));
    if (used == NULL)
        return ENOMEM;
    memset(used + (smr->d_cap + 63) / 64, 0,
        ((ncap + 63) / 64 - (smr->d_cap + 63) / 64) * sizeof(uint64_t));
    smr->d_used = used;
    if (posix_memalign((void **)&c, _Alignof(struct smr__slot),
        n * sizeof(*c)) != 0)
        return ENOMEM;
    memset(c, 0, n * sizeof(*c));
    for (uint32_t j = 0; j < n; j++)
        c[j].c_index = smr->d_cap + j;
    smr->d_chunks[k] = c;
    smr->d_nchunks = k + 1;
    smr->d_cap = ncap;
    return 0;
}

/*
 * Claim the lowest free slot for thread t, whose word is at wordp (NULL:
 * in the slot itself); d_lock held.  NULL on ENOMEM.
 */
static struct smr__slot *
smr__slot_claim(struct smr_domain *smr, const struct smr__thread *t,
    smr_seq_t *wordp)
{
    struct smr__slot *s;
    uint32_t i, w, nw;

    for (;;) {
        nw = (smr->d_cap + 63) / 64;
        for (w = 0; w < nw && smr->d_used[w] == ~(uint64_t)0; w++)
            ;
        if (w < nw && (i = w * 64 + (uint32_t)__builtin_ctzll(~smr->d_used[w]))
            < smr->d_cap)
            break;
        if (smr__slots_grow(smr) != 0)
            return NULL;
    }
    smr->d_used[i / 64] |= (uint64_t)1 << (i % 64);
    s = smr__slot_at(smr, i);
    s->c_depth_ovf = 0;
    s->c_deferred = 0;
    s->c_owner = t->t_serial;
    s->c_tid = t->t_tid;
    s->st_advance = s->st_poll = s->st_poll_scan = s->st_poll_fail = 0;
    smr->d_nlive++;
    /*
     * c_wordp before the owner can publish in the word (its program order),
     * then d_hw.  A poller that reads the old high-water mark does not scan
     * this slot.  That is safe: the slot is empty now, and a section
     * published in it later is covered by the store->load fences exactly
     * as if the poller had scanned it and found it empty (I4).
     */
    smr__slot_point(smr, s, wordp != NULL ? wordp : &s->c_word, i);
    return s;
}

/* Give a slot back; d_lock held.  Its counters fold into the domain. */
static void
smr__slot_release(struct smr_domain *smr, struct smr__slot *s)
{
    uint32_t i = s->c_index;

    /* Release: the section's loads happen before the slot reads empty
     * (partner: smr_poll's acquire load of the word).  The caller freed
     * the table entry first, if the word was there. */
    smr__slot_unpoint(s);
    s->c_depth_ovf = 0;
    s->c_owner = 0;
    /* Threads without a slot count in d_st with relaxed RMWs too. */
    atomic_add_rlx(&smr->d_st[SMR__ST_ADVANCE], s->st_advance);
    atomic_add_rlx(&smr->d_st[SMR__ST_POLL], s->st_poll);
    atomic_add_rlx(&smr->d_st[SMR__ST_POLL_SCAN], s->st_poll_scan);
    atomic_add_rlx(&smr->d_st[SMR__ST_POLL_FAIL], s->st_poll_fail);
    smr->d_used[i / 64] &= ~((uint64_t)1 << (i % 64));
    smr->d_nlive--;
    /* Lower the high-water mark past trailing free slots, so the scan
     * follows live slots, not threads ever created. */
    if (i + 1 == smr->d_hw) {
        while (i > 0 &&
            !(smr->d_used[(i - 1) / 64] & ((uint64_t)1 << ((i - 1) % 64))))
            i--;
        atomic_store_rel(&smr->d_hw, i);
    }
}

/*
 * Keep t (every entry free) for the next thread; smr__glock held.  Its
 * overflow entries go: they hold no word (those live in the slots).
 */
static void
smr__spare_push(struct smr__thread *t)
{
    free(t->t_ovf);
    t->t_ovf = NULL;
    t->t_ovf_cap = 0;
    t->t_next = smr__spare_tables;
    smr__spare_tables = t;
}

static struct smr__thread *
smr__thread_of(struct smr__thread_hot *hot)
{
    return (struct smr__thread *)((char *)hot -
        offsetof(struct smr__thread, hot));
}

/*
 * Free an entry (the owner is outside every section of its domain, or
 * gone).  The word first, with release (partner: the poller's acquire load
 * of the word): the read path stops using the entry before the slow paths
 * stop finding it, so a signal handler of the owner sees it whole.
 */
static void
smr__tent_clear(struct smr__tent *e)
{
    atomic_store_rel(&e->t_word, SMR__W_FREE);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    atomic_store_rlx(&e->t_id, 0);
    atomic_store_rlx(&e->t_slot, NULL);
    atomic_store_rlx(&e->t_pword, NULL);
}

/*
 * The owner lets go of its table entry e (detach, thread exit, the fork
 * child): a statically declared domain's program word (t_pword) goes back
 * to SMR__W_FREE first, so that the next section on it goes out of line
 * and finds the entry gone.  Release: a poller that reads the free word
 * through the slot's pointer counts it idle, ordered after our sections
 * (each exit's release fence covers them already).  The slot still points
 * at the word until the caller releases it.  The owner only (the word is
 * its __thread variable).  Returns whether e had a program word.
 */
static bool
smr__tent_unword(struct smr__tent *e)
{
    smr_seq_t *pw = atomic_load_rlx(&e->t_pword);

    if (pw == NULL)
        return false;
    smr__pword_free(pw);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    atomic_store_rlx(&e->t_pword, NULL);
    return true;
}

/* Where slot s's owner publishes (its table entry, or the slot itself). */
static inline smr_seq_t *
smr__slot_word(const struct smr__slot *s)
{
    return atomic_load_rlx(&s->c_wordp);
}

/* Entry for index idx in t's tables, or NULL past the overflow array. */
static struct smr__tent *
smr__tent_of(struct smr__thread *t, uint32_t idx)
{
    if (idx < SMR__TFAST - 1)
        return &t->hot.ent[idx];
    idx -= SMR__TFAST - 1;
    return idx < t->t_ovf_cap ? &t->t_ovf[idx] : NULL;
}

/* The calling thread's table (NULL if it has none). */
static struct smr__thread *
smr__thread_self(void)
{
    struct smr__thread_hot *hot = smr__self;

    return hot == &smr__empty_hot ? NULL : smr__thread_of(hot);
}

/* The calling thread's table with an entry for index idx.  NULL: ENOMEM. */
static struct smr__thread *
smr__thread_get(uint32_t idx)
{
    struct smr__thread *t = smr__thread_self();

    if (t != NULL && smr__tent_of(t, idx) != NULL)
        return t;
    if (pthread_once(&smr__once, smr__init_once) != 0 || smr__once_err != 0)
        return NULL;
    if (t == NULL) {
        /* A spare table (every entry free), else a new one. */
        pthread_mutex_lock(&smr__glock);
        if ((t = smr__spare_tables) != NULL)
            smr__spare_tables = t->t_next;
        pthread_mutex_unlock(&smr__glock);
        if (t == NULL) {
            if (posix_memalign((void **)&t, _Alignof(struct smr__thread),
                sizeof(*t)) != 0)
                return NULL;
            memset(t, 0, sizeof(*t));
            for (uint32_t i = 0; i < SMR__TFAST; i++)
                t->hot.ent[i] = (struct smr__tent)SMR__TENT_EMPTY;
        }
        t->t_serial = __atomic_add_fetch(&smr__next_serial, 1,
            __ATOMIC_RELAXED);
        t->t_tid = smr__gettid();
        if (pthread_setspecific(smr__key, t) != 0) {
            pthread_mutex_lock(&smr__glock);
            smr__spare_push(t);
            pthread_mutex_unlock(&smr__glock);
            return NULL;
        }
        pthread_mutex_lock(&smr__glock);
        SMR__DLIST_PUSH(&smr__threads, t, t_next, t_prev);
        pthread_mutex_unlock(&smr__glock);
        /* A signal handler sees the empty table or this one, whole. */
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        smr__self = &t->hot;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
    }
    if (idx >= SMR__TFAST - 1) {
        uint32_t need = idx - (SMR__TFAST - 1) + 1;
        uint32_t ncap = t->t_ovf_cap * 2 > need ? t->t_ovf_cap * 2 : need;
        struct smr__tent *no;

        if (ncap < 8)
            ncap = 8;
        /* Under the registry lock: smr_destroy clears entries in here. */
        pthread_mutex_lock(&smr__glock);
        if (need > t->t_ovf_cap) {
            struct smr__tent *old = t->t_ovf;

            /* Not realloc: a signal handler of this thread may be looking
             * up an attached domain in the old array; it stays valid until
             * the new one is in place, and the capacity grows last. */
            no = malloc(ncap * sizeof(*no));
            if (no == NULL) {
                pthread_mutex_unlock(&smr__glock);
                return NULL;
            }
            if (old != NULL)
                memcpy(no, old, t->t_ovf_cap * sizeof(*no));
            for (uint32_t i = t->t_ovf_cap; i < ncap; i++)
                no[i] = (struct smr__tent)SMR__TENT_EMPTY;
            __atomic_signal_fence(__ATOMIC_SEQ_CST);
            t->t_ovf = no;
            __atomic_signal_fence(__ATOMIC_SEQ_CST);
            t->t_ovf_cap = ncap;
            free(old);
        }
        pthread_mutex_unlock(&smr__glock);
    }
    return t;
}

/* This thread's slot on smr if it has one, without claiming. */
static struct smr__slot *
smr__slot_peek(const struct smr_domain *smr)
{
    struct smr__thread *t = smr__thread_self();
    struct smr__tent *e;

    if (t == NULL || (e = smr__tent_of(t, smr->h.d_idx)) == NULL ||
        atomic_load_rlx(&e->t_id) != smr->h.d_id)
        return NULL;
    return atomic_load_rlx(&e->t_slot);
}

/* Is the thread inside a section on slot s (its word live)? */
static bool
smr__slot_inside(const struct smr__slot *s)
{
    return SMR__W_SEQ(atomic_load_rlx(smr__slot_word(s))) != SMR_SEQ_INVALID;
}

/* ---- program words (statically declared domains) ---------------------- */

/*
 * Program words.  A static domain's sections publish in a word of the
 * program's own: the initial-exec __thread variable SMR_DEFINE_STATIC
 * declares, so an enter addresses it at %fs:constant, as liburcu's reader
 * counter.  The slot points at it (c_wordp) and pollers read it through
 * that pointer, as they read table words.  But a table is never freed
 * ("Words" above), and the program word dies with its thread, when glibc
 * frees the thread's stack after its last TLS destructor.  Three rules
 * keep pollers off dead words:
 *  - pollers scan a static domain's slots inside a section of a domain of
 *    libsmr's own, smr__scan_smr (smr__scan_enter/exit around the slot loop
 *    in smr__poll_once: a fenced section, an xchg on the poller's own word
 *    on x86, no shared write);
 *  - a thread's exit destructor frees the word (SMR__W_FREE), releases the
 *    slot (c_wordp back at c_word, a release store), and then waits for a
 *    grace period of the scan domain (smr__scan_grace) before it returns;
 *    so does the exit of a thread that let its slots go earlier
 *    (smr_thread_detach, which needs no grace of its own), as a scan that
 *    loaded the pointer before the detach may still hold it.
 *    A scan that began before the release may hold the old pointer: it is
 *    waited for.  One that began after it reads the new pointer: the store
 *    buffering argument (I2, I4) with the release store as the unlink and
 *    the thread's end as the free.  tests/model/pword.c checks it under
 *    RC11, IMM and TSO, the free a real free(), and that GenMC reports the
 *    use after free without the grace or without the scan section;
 *  - once that destructor ran (smr__pword_off), the thread never points a
 *    slot at a program word again: a section in a later destructor gets a
 *    slot with its word in the slot.
 * One case no rule covers: a thread whose FIRST libsmr section of all is
 * made in the last round of pthread key destructors (a destructor that
 * re-armed its key PTHREAD_DESTRUCTOR_ITERATIONS - 1 times): the key
 * libsmr sets then is never run, so nothing releases the slot before the
 * word goes.  No public interface tells a thread it is in that round;
 * smr_static(3) states the restriction (any earlier section of the
 * thread, on any domain, arms libsmr's destructor in time).
 * Detach needs no grace (the word lives on, free); the fork child has no
 * other thread, so no scan runs there (it lets its own program words go:
 * smr__atfork_child).  A scan that cannot get a section (no memory for a
 * slot) holds the domain's d_lock instead: slots are released under it, a
 * released slot points at c_word, and an unreleased one's thread has not
 * passed its release.  Only domains in the fast table, and not a lazy one
 * whose readers run fenced (the inline path would publish fence-free).
 */
static struct smr_domain *smr__scan_smr;   /* built before any static one */
/* Initial-exec, as libsmr's other thread-local variables: no
 * __tls_get_addr (which may allocate) in a destructor or an attach. */
static __thread bool smr__pword_off        /* past the exit destructor */
    __attribute__((tls_model("initial-exec")));
static __thread bool smr__pword_used       /* a slot ever pointed at one */
    __attribute__((tls_model("initial-exec")));

/* The calling thread's program word for smr, or NULL if its slot keeps
 * the word elsewhere (not static, past the table, lazy with fenced
 * readers, or this thread past its exit destructor). */
static smr_seq_t *
smr__static_pword(const struct smr_domain *smr)
{
    const struct smr__static *st =
        (const struct smr__static *)(const void *)smr;
    uint32_t f = smr->h.d_flags;

    if (!(f & SMR__F_STATIC) || smr->h.d_idx >= SMR__TFAST - 1 ||
        smr__pword_off || st->st_word == NULL)
        return NULL;
    if ((f & SMR_LAZY) && !SMR_SEQ32 && !(f & SMR__F_LAZY_FAST))
        return NULL;
    return st->st_word();
}

/* Around a poll's slot scan of a static domain (src/smr_clock.h): a
 * section of smr__scan_smr, or smr's d_lock if this thread cannot have a
 * slot there (true: unlock in smr__scan_exit). */
bool
smr__scan_enter(struct smr_domain *smr)
{
    struct smr_domain *k = atomic_load_acq(&smr__scan_smr);

    /* A thread past its exit destructor takes d_lock rather than a new
     * table that no destructor would give back. */
    if (k != NULL && (smr__slot_peek(k) != NULL ||
        (!smr__pword_off && smr_thread_attach(k) == 0))) {
        smr_enter(k);
        return false;
    }
    pthread_mutex_lock(&smr->d_lock);
    return true;
}

void
smr__scan_exit(struct smr_domain *smr, bool locked)
{
    if (locked)
        pthread_mutex_unlock(&smr->d_lock);
    else
        smr_exit(atomic_load_rlx(&smr__scan_smr));
}

/* Every scan that began before now has ended. */
static void
smr__scan_grace(void)
{
    struct smr_domain *k = atomic_load_acq(&smr__scan_smr);

    if (k != NULL)
        smr_synchronize(k);
}

/* Claim this thread's slot on smr.  0, EINVAL or ENOMEM. */
static int
smr__attach(struct smr_domain *smr, struct smr__slot **out)
{
    struct smr__thread *t;
    struct smr__tent *e;
    struct smr__slot *s;
    smr_seq_t *pw;
    uint32_t idx;

    smr__check(smr, "smr_enter/smr_thread_attach");
    s = smr__slot_peek(smr);
    if (s != NULL) {
        *out = s;
        return 0;
    }
    idx = smr->h.d_idx;
    t = smr__thread_get(idx);
    if (t == NULL)
        return ENOMEM;
    e = smr__tent_of(t, idx);
    /* A static domain's slot points at the program's word ("Program
     * words" below); the entry's own word then stays free, so smr_enter
     * on the handle takes the call and publishes there too. */
    pw = smr__static_pword(smr);
    pthread_mutex_lock(&smr->d_lock);
    s = smr__slot_claim(smr, t, pw != NULL ? pw :
        idx < SMR__TFAST - 1 ? &e->t_word : NULL);
    pthread_mutex_unlock(&smr->d_lock);
    if (s == NULL)
        return ENOMEM;
    /* Slot, then id, then (fast table) the word goes from free to idle,
     * which opens the inline path: a signal handler sees it whole.  A
     * program word is recorded before it opens, so whoever lets go of the
     * entry frees it (smr__tent_unword). */
    atomic_store_rlx(&e->t_slot, s);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    atomic_store_rlx(&e->t_id, smr->h.d_id);
    if (pw != NULL) {
        smr__pword_used = true;     /* this thread's exit graces (above) */
        atomic_store_rlx(&e->t_pword, pw);
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        smr__word_open(pw);                 /* the fence, then idle */
        *out = s;
        return 0;
    }
    /*
     * A release fence before our first store to the word (smr__word_open,
     * SPEC §3, the C++20 rule): the word, or the slot's c_word, may have
     * carried another thread's sections (a table or slot handed on:
     * "Words" above), which happen before this point (smr__glock /
     * d_lock).  Our own later sections are covered by our exits' fences.
     */
    if (idx < SMR__TFAST - 1)
        smr__word_open(&e->t_word);         /* the fence, then idle */
    else
        __atomic_thread_fence(__ATOMIC_RELEASE);    /* for s->c_word */
    *out = s;
    return 0;
}

static struct smr__slot *
smr__slot_slow(smr_t smr)
{
    struct smr__slot *s;
    int error = smr__attach(smr, &s);

    if (error != 0)
        smr__die(smr, "no slot for this thread (%s) inside smr_enter; "
            "use smr_thread_attach() to get ENOMEM instead", strerror(error));
    return s;
}

/* Enter on slot s, out of line (fenced, or lazy on a fence-free domain). */
static void
smr__enter_on(smr_t smr, struct smr__slot *s, bool lazy)
{
    if (smr__enter_word(smr, smr__slot_word(s), lazy))
        return;
    /* Depth 255 means "255 or more": count the rest in the slot.  A
     * signal handler's sections are balanced, as for the word. */
    if (s->c_depth_ovf == UINT32_MAX)
        smr__die(smr, "read sections nested over 2^32 deep");
    atomic_store_rlx(&s->c_depth_ovf, s->c_depth_ovf + 1);
}

/*
 * Out-of-line halves of smr_enter and smr_lazy_enter: the first section of
 * a thread on a domain, domains past the fast table (d_off names the
 * sentinel), (lazy) domains whose readers are fenced (d_lazy_off names the
 * sentinel), and nesting past 254.  Out of line, not "find the word, then
 * go on inline": a call the compiler can make a tail call keeps the
 * exported smr_enter frameless.
 */
SMR_API void
smr__enter_slow(smr_t smr)
{
    smr__enter_on(smr, smr__slot_slow(smr), false);
}

SMR_API void
smr__lazy_enter_slow(smr_t smr)
{
    smr__enter_on(smr, smr__slot_slow(smr),
        (smr->h.d_flags & SMR__F_LAZY_FAST) != 0);
}

/* smr_exit found depth 0, 255 or a free word at d_off: a domain past the
 * fast table, deep nesting, or an exit without an enter. */
SMR_API void
smr__exit_slow(smr_t smr)
{
    struct smr__slot *s;
    smr_seq_t *w;
    smr_seq_t x;

    smr__check(smr, "smr_exit");
    s = smr__slot_peek(smr);
    if (s == NULL)
        smr__die(smr, "smr_exit without smr_enter");
    w = smr__slot_word(s);
    x = atomic_load_rlx(w);
    if (SMR__W_SEQ(x) == SMR_SEQ_INVALID)
        smr__die(smr, "smr_exit without smr_enter");
    if ((x & SMR__W_DEPTH) == SMR__W_DEPTH && s->c_depth_ovf != 0)
        atomic_store_rlx(&s->c_depth_ovf, s->c_depth_ovf - 1);
    else if ((x & SMR__W_DEPTH) == SMR__W_DEPTH)
        atomic_store_rlx(w, x - 1);
    else
        (void)smr__exit_word(w);
}

/* Block every signal of the calling thread; returns the old mask. */
static sigset_t
smr__signals_block(void)
{
    sigset_t all, old;

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    return old;
}

SMR_API int
smr_thread_attach(smr_t smr)
{
    struct smr__slot *s;

    if (smr == NULL || smr->h.d_magic != SMR__MAGIC)
        return EINVAL;
    return smr__attach(smr, &s);
}

SMR_API void
smr_thread_detach(smr_t smr)
{
    struct smr__slot *s;

    smr__check(smr, "smr_thread_detach");
    s = smr__slot_peek(smr);
    if (s == NULL)
        return;
    if (smr__slot_inside(s))
        smr__die(smr, "smr_thread_detach inside a read section");
    /* With the thread's signals blocked: a handler that entered a section
     * between the steps below would claim a slot or publish in a static
     * domain's word whose slot is going (smr__tent_unword).  The word
     * outlives the slot (the thread runs on), so a poller that still holds
     * its address reads it free, or a later section of ours (a
     * conservative answer): no grace is needed here; the thread's exit
     * waits for such pollers (smr__pword_used). */
    sigset_t old = smr__signals_block();
    /* Under the registry lock, like smr_destroy's clearing. */
    pthread_mutex_lock(&smr__glock);
    (void)smr__tent_unword(smr__tent_of(smr__thread_self(), smr->h.d_idx));
    smr__tent_clear(smr__tent_of(smr__thread_self(), smr->h.d_idx));
    pthread_mutex_unlock(&smr__glock);
    pthread_mutex_lock(&smr->d_lock);
    smr__slot_release(smr, s);
    pthread_mutex_unlock(&smr->d_lock);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Unlink t from the registry; smr__glock held. */
static void
smr__thread_unlink(struct smr__thread *t)
{
    SMR__DLIST_UNLINK(&smr__threads, t, t_next, t_prev);
}

/* TLS destructor: give back every slot (entries name live domains only:
 * smr_destroy clears them). */
static void
smr__thread_exit(void *arg)
{
    struct smr__thread *t = arg;
    uint32_t n = SMR__TFAST - 1 + t->t_ovf_cap;
    struct smr_domain *smr;
    /* Signals blocked, as in smr_thread_detach: no handler's section sees
     * the table half given back. */
    sigset_t old = smr__signals_block();

    /* From here on this thread never points a slot at a program word: a
     * destructor that runs after this one and enters again gets a new
     * table and a slot of its own, with the word in the slot. */
    smr__pword_off = true;
    pthread_mutex_lock(&smr__glock);
    for (uint32_t i = 0; i < n; i++) {
        struct smr__tent *e = smr__tent_of(t, i);
        if (e->t_id == 0) {
            (void)smr__tent_unword(e);      /* none: entries go whole */
            continue;
        }
        smr = i < smr__ndomains ? smr__domains[i] : NULL;
        /* Cannot happen: smr_destroy clears the entries (I7). */
        if (smr == NULL || smr->h.d_id != e->t_id) {
#if SMR_CONFIG_DEBUG
            smr__die(smr, "thread table entry for a dead domain");
#endif
            (void)smr__tent_unword(e);
            smr__tent_clear(e);
            continue;
        }
        struct smr__slot *s = e->t_slot;
        /* Before the word is freed below: it is what says "inside". */
        if (smr__slot_inside(s)) {
#if SMR_CONFIG_DEBUG
            smr__die(smr, "thread %d exited inside a read section",
                (int)t->t_tid);
#else
            smr__warn(smr, "thread %d exited inside a read section; "
                "slot cleared", (int)t->t_tid);
#endif
        }
        /* A static domain's program word first (smr__tent_unword), then
         * the entry's word (see slot_release), then the slot. */
        (void)smr__tent_unword(e);
        smr__tent_clear(e);
        pthread_mutex_lock(&smr->d_lock);
        smr__slot_release(smr, s);
        pthread_mutex_unlock(&smr->d_lock);
    }
    smr__thread_unlink(t);
    if (smr__self == &t->hot)
        smr__self = &smr__empty_hot;
    /* Every entry is free now.  Not free(t): pollers may still follow a
     * stale c_wordp into it ("Words" above); the next thread takes it. */
    smr__spare_push(t);
    pthread_mutex_unlock(&smr__glock);
    /* The program words die with this thread, right after its last
     * destructor: wait for every scan that may have read a slot's pointer
     * to one of them before its release, above or in an earlier detach
     * (Program words).  Once per thread that ever used one. */
#if !defined(SMR__BROKEN_PWORD_NOGRACE)
    if (smr__pword_used) {
        smr__pword_used = false;
        smr__scan_grace();
    }
#endif
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* ---- helpers called from the inline path ------------------------------ */

#if SMR_SEQ32
/*
 * 32-bit only, called by smr_enter right after its publish + fence (I6).
 * A reader descheduled between loading the clock and publishing may have
 * published a value so far behind that a poller could misread it as being
 * ahead (more than half the sequence space).  Before any protected load,
 * re-check the clock and republish while the value is SMR__RECHECK behind.
 *
 * Why this is enough: every access here is separated by full fences, so
 * they are sequentially consistent with the pollers' (fenced) accesses.  A
 * poller that misread our old value read it before we republished; our
 * protected loads come after the republish, so after that poller's clock
 * load, so after every unlink that poll could have covered.  And a value
 * can only be misread once it is more than 2^31 - 2^30 behind (the clock
 * stays within SMR__MAX_DELTA of the read hand), which this re-check, at
 * 2^29, always catches first.
 */
SMR_API void
smr__enter_recheck(smr_t smr, smr_seq_t *w, smr_seq_t v)
{
    smr__enter_recheck_on(smr, w, v);  /* src/smr_clock.h */
}
#endif

/*
 * The checks an SMR_DEBUG header compiles into its caller (smr.h).  Built
 * into every library, debug or release, with the same behaviour: they are
 * reached only from code that asked for them, and a release library that
 * lacked them would fail to load such a program (one SONAME, one ABI).
 */
SMR_API void
smr__assert_entered(smr_t smr, const char *what)
{
    if (smr == NULL)
        smr__die(NULL, "%s", what);
    smr__check(smr, what);
    if (!smr_entered(smr))
        smr__die(smr, "%s", what);
}

/* Before the inline read path follows smr.  A destroyed domain is still
 * readable in debug libraries (the quarantine in smr_destroy); a release
 * library has freed it, so there this check is only as good as the freed
 * memory's contents. */
SMR_API void
smr__assert_live(smr_t smr, const char *what)
{
    smr__check(smr, what);
}

SMR_API bool
smr_entered(smr_t smr)
{
    struct smr__slot *s;

    smr__check(smr, "smr_entered");
    s = smr__slot_peek(smr);

    return s != NULL && smr__slot_inside(s);
}

SMR_API bool
smr_entered_any(void)
{
    struct smr__thread *t = smr__thread_self();
    bool inside = false;

    if (t == NULL)
        return false;
    /* Under the registry lock: a concurrent smr_destroy clears entries and
     * frees their slots (a slow path: pools call this only past their
     * pending cap). */
    pthread_mutex_lock(&smr__glock);
    for (uint32_t i = 0; i < SMR__TFAST - 1 + t->t_ovf_cap && !inside; i++) {
        struct smr__tent *e = smr__tent_of(t, i);
        if (e->t_id != 0)
            inside = smr__slot_inside(e->t_slot);
    }
    pthread_mutex_unlock(&smr__glock);
    return inside;
}

void (*smr__reclaimer_fini)(smr_t smr);
void (*smr__retire_fini)(smr_t smr);

SMR_API void
smr__domain_hold(smr_t smr)
{
    smr__check(smr, "smr__domain_hold");
    __atomic_fetch_add(&smr->d_users, 1, __ATOMIC_RELAXED);
}

SMR_API void
smr__domain_release(smr_t smr)
{
    uint32_t n;

    smr__check(smr, "smr__domain_release");
    n = __atomic_load_n(&smr->d_users, __ATOMIC_RELAXED);
    do {
        if (n == 0)
            smr__die(smr, "domain released more often than held");
    } while (!__atomic_compare_exchange_n(&smr->d_users, &n, n - 1, false,
        __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

/* ---- create / destroy ------------------------------------------------- */

/* Stall report settings ("Stall reports", below). */
#define SMR__STALL_DEFAULT_NS   ((uint64_t)1000000000u)      /* 1 s */
#define SMR__STALL_EVERY_NS     ((uint64_t)10 * 1000000000u) /* 10 s */
#define SMR__STALL_SAMPLE_MS    100u
#define SMR__STALL_FAIL_EVERY   8u      /* a power of two */

/* A clock that costs a load from the vDSO page, to a tick's precision. */
#if defined(CLOCK_MONOTONIC_COARSE)
#define SMR__CLOCK_COARSE CLOCK_MONOTONIC_COARSE        /* Linux */
#elif defined(CLOCK_MONOTONIC_FAST)
#define SMR__CLOCK_COARSE CLOCK_MONOTONIC_FAST          /* FreeBSD */
#else
#define SMR__CLOCK_COARSE CLOCK_MONOTONIC
#endif

static uint32_t
smr__coarse_ms(void)
{
    struct timespec ts;

    clock_gettime(SMR__CLOCK_COARSE, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000u +
        (uint64_t)ts.tv_nsec / 1000000u);
}

/* The threshold of domains created now: 1 s, or SMR_STALL_WARN_MS (a
 * number of ms; 0: no reports; anything else: the default). */
static uint64_t
smr__stall_env(void)
{
    const char *e = getenv("SMR_STALL_WARN_MS");
    unsigned long long ms;
    char *end;

    if (e == NULL || *e < '0' || *e > '9')
        return SMR__STALL_DEFAULT_NS;
    errno = 0;
    ms = strtoull(e, &end, 10);
    if (*end != '\0' || errno != 0)
        return SMR__STALL_DEFAULT_NS;
    return ms > UINT64_MAX / 1000000u ? UINT64_MAX : (uint64_t)ms * 1000000u;
}

/* The sentinel entry: its word is always free. */
#define SMR__OFF_SENTINEL ((uint32_t)((SMR__TFAST - 1) * sizeof(struct smr__tent)))

/* smr_lazy_enter's entry: the domain's only while readers run fence-free. */
static void
smr__set_lazy_off(struct smr_domain *smr)
{
    smr->h.d_lazy_off = (smr->h.d_flags & SMR__F_LAZY_FAST) ?
        smr->h.d_off : SMR__OFF_SENTINEL;
}

/*
 * Build a domain in the zeroed memory at smr (smr_create's, or a static
 * domain's storage) and register it.  0 or ENOMEM (nothing registered, the
 * slot chunk freed; the caller owns the memory).
 */
static int
smr__domain_init(struct smr_domain *smr, const char *name, int limit,
    uint32_t flags)
{
    uint32_t idx;

    snprintf(smr->d_name, sizeof(smr->d_name), "%s", name ? name : "smr");
    smr->h.d_flags = flags;
    smr->d_limit = limit > 0 ? limit : 1;
    smr->h.s_wr_seq = SMR__SEQ_INIT;
    smr->s_rd_seq = SMR__SEQ_INIT;
    smr->l_barrier_seq = SMR__SEQ_INIT;
    smr->d_stall_ns = smr__stall_env();
    smr->d_note_ms = smr__coarse_ms() - SMR__STALL_SAMPLE_MS;
    pthread_mutex_init(&smr->d_lock, NULL);
    pthread_mutex_init(&smr->d_rd_lock, NULL);
    pthread_mutex_init(&smr->l_barrier_lock, NULL);
    pthread_mutex_lock(&smr->d_lock);
    if (smr__slots_grow(smr) != 0) {
        pthread_mutex_unlock(&smr->d_lock);
        free(smr->d_used);
        return ENOMEM;
    }
    pthread_mutex_unlock(&smr->d_lock);
    if (flags & SMR_LAZY)
        smr__lazy_create(smr);  /* sets SMR__F_LAZY_FAST or falls back */

    pthread_mutex_lock(&smr__glock);
    for (idx = 0; idx < smr__ndomains && smr__domains[idx] != NULL; idx++)
        ;
    if (idx == smr__ndomains) {
        uint32_t n = smr__ndomains ? smr__ndomains * 2 : 16;
        struct smr_domain **nd = realloc(smr__domains, n * sizeof(*nd));
        if (nd == NULL) {
            pthread_mutex_unlock(&smr__glock);
            free(smr->d_chunks[0]);
            free(smr->d_used);
            return ENOMEM;
        }
        memset(nd + smr__ndomains, 0, (n - smr__ndomains) * sizeof(*nd));
        smr__domains = nd;
        smr__ndomains = n;
    }
    smr->h.d_idx = idx;
    smr->h.d_off = idx < SMR__TFAST - 1 ?
        (uint32_t)(idx * sizeof(struct smr__tent)) : SMR__OFF_SENTINEL;
    smr->h.d_id = smr__next_id++;
    smr__set_lazy_off(smr);
    smr->h.d_magic = SMR__MAGIC;
    smr__domains[idx] = smr;
    pthread_mutex_unlock(&smr__glock);
#if SMR_CONFIG_DEBUG
    /* Once per process: the first domain the table cannot hold. */
    if (idx >= SMR__TFAST - 1) {
        static bool warned;
        if (!__atomic_exchange_n(&warned, true, __ATOMIC_RELAXED))
            smr__warn(smr, "%u domains already exist: this one and any "
                "created while they do are past the threads' inline "
                "table (%u domains), so their smr_enter/smr_exit take a "
                "function call, several times slower (smr_stats: "
                "inline_table 0)", (unsigned)idx, SMR__TFAST - 1);
    }
#endif
    return 0;
}

SMR_API smr_t
smr_create(const char *name, int limit, int flags)
{
    struct smr_domain *smr;
    int error;

    if ((flags & ~(SMR_LAZY | SMR_DEFERRED)) != 0 ||
        (flags & (SMR_LAZY | SMR_DEFERRED)) == (SMR_LAZY | SMR_DEFERRED) ||
        limit < 0) {
        errno = EINVAL;
        return NULL;
    }
    if (pthread_once(&smr__once, smr__init_once) != 0 || smr__once_err != 0) {
        errno = ENOMEM;
        return NULL;
    }
    if (posix_memalign((void **)&smr, _Alignof(struct smr_domain), sizeof(*smr)) != 0) {
        errno = ENOMEM;
        return NULL;
    }
    memset(smr, 0, sizeof(*smr));
    if ((error = smr__domain_init(smr, name, limit, (uint32_t)flags)) != 0) {
        free(smr);
        errno = error;
        return NULL;
    }
    return smr;
}

/* ---- statically declared domains (smr.h, SMR_DEFINE_STATIC) ----------- */

_Static_assert(sizeof(struct smr_domain) <=
    sizeof(((struct smr__static *)0)->st_u),
    "struct smr__static's storage must hold a domain");
_Static_assert(_Alignof(struct smr_domain) <= _Alignof(struct smr__static),
    "struct smr__static's storage must be aligned as a domain");
_Static_assert(offsetof(struct smr__static, st_u) == 0,
    "the domain is at the start of struct smr__static");

/* Builds one static domain at a time; taken before smr__glock. */
static pthread_mutex_t smr__static_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * The domain lives in the data of the object that declared it, and the
 * registry, every fork and every thread exit touch it from now on: if that
 * object is a shared library, make dlclose leave it mapped (as libsmr
 * itself is linked -z nodelete).  After the build, with no libsmr lock
 * held: a dlopen in progress holds the loader's lock and may be running a
 * constructor that builds a static domain.  The main program and static
 * links need nothing (dladdr finds no library, or dlopen returns NULL).
 */
static void
smr__static_pin(const struct smr__static *st)
{
#if defined(RTLD_NODELETE) && defined(RTLD_NOLOAD)
    Dl_info info;

    if (dladdr(st, &info) != 0 && info.dli_fname != NULL &&
        info.dli_fname[0] != '\0')
        if (dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD |
            RTLD_NODELETE) == NULL)
            (void)dlerror();    /* not the caller's error to find later */
#else
    (void)st;
#endif
}

SMR_API smr_t
smr__static_init(struct smr__static *st)
{
    struct smr_domain *smr = (struct smr_domain *)(void *)&st->st_u;
    int error = 0;

    if (__atomic_load_n(&st->st_state, __ATOMIC_ACQUIRE) == 2)
        return smr;
    if (pthread_once(&smr__once, smr__init_once) != 0 || smr__once_err != 0) {
        errno = ENOMEM;
        return NULL;
    }
    if ((st->st_flags & ~(uint32_t)SMR_LAZY) != 0)
        smr__die(NULL, "static domain \"%s\": flags %#x (not built by "
            "SMR_DEFINE_STATIC?)", st->st_name ? st->st_name : "?",
            (unsigned)st->st_flags);
    pthread_mutex_lock(&smr__static_lock);
    /* The scan domain first: pollers of a static domain scan inside its
     * sections (Program words), from the first slot on.  Never destroyed;
     * a failure is retried by the next call, as the domain's own. */
    if (smr__scan_smr == NULL) {
        struct smr_domain *k = smr_create("libsmr: static-domain scans", 0,
            0);

        if (k == NULL) {
            pthread_mutex_unlock(&smr__static_lock);
            errno = ENOMEM;
            return NULL;
        }
        /* Release: partner of the acquire loads in smr__scan_enter and
         * smr__scan_grace (the domain is seen whole). */
        atomic_store_rel(&smr__scan_smr, k);
    }
    if (__atomic_load_n(&st->st_state, __ATOMIC_RELAXED) != 2) {
        /* Zero, as smr_create's memory is, whatever a failed try left. */
        memset(&st->st_u, 0, sizeof(st->st_u));
        error = smr__domain_init(smr, st->st_name, 0,
            st->st_flags | SMR__F_STATIC);
        /* Release: partner of the acquire load in smr__static_get (and
         * above): a thread that reads 2 sees the domain whole. */
        if (error == 0)
            __atomic_store_n(&st->st_state, 2, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&smr__static_lock);
    if (error != 0) {
        errno = error;
        return NULL;
    }
    smr__static_pin(st);
    return smr;
}

/*
 * smr_static_enter found the program word w not idle: the thread's first
 * section on the domain (w is SMR__W_FREE until smr__attach points the
 * slot at it and opens it), nesting past 254, or a slot that keeps its
 * word elsewhere (smr__static_pword: a domain past the threads' table, a
 * lazy one with fenced readers, a thread past its exit destructor; w stays
 * free and every section comes here, like smr_enter's sentinel).  Enter
 * through the slot, as smr__enter_slow does.
 */
SMR_API void
smr__static_enter_slow(struct smr__static *st, smr_seq_t *w, bool lazy)
{
    smr_t smr = smr__static_init(st);
    bool fast;

    if (smr == NULL)
        smr__die(NULL, "static domain \"%s\": cannot be built (%s) inside "
            "smr_static_enter; call smr_static() first to get NULL instead",
            st->st_name ? st->st_name : "?", strerror(errno));
    if (lazy != ((smr->h.d_flags & SMR_LAZY) != 0))
        smr__die(smr, "smr_static_enter: the domain is declared %s here "
            "and defined %s (SMR_DECLARE/SMR_DEFINE of different kinds)",
            lazy ? "lazy" : "fenced", lazy ? "fenced" : "lazy");
    (void)w;
    /* The inline path publishes fence-free only where the header's
     * smr__static_enter does (not with 32-bit sequences), and then only
     * on a domain whose readers run fence-free. */
    lazy = lazy && !SMR_SEQ32;
    fast = !lazy || (smr->h.d_flags & SMR__F_LAZY_FAST) != 0;
    smr__enter_on(smr, smr__slot_slow(smr), lazy && fast);
}

/* smr_static_exit found depth 0 or 255 in its word, or the word free. */
SMR_API void
smr__static_exit_slow(struct smr__static *st)
{
    if (__atomic_load_n(&st->st_state, __ATOMIC_ACQUIRE) != 2)
        smr__die(NULL, "smr_static_exit on \"%s\" without smr_static_enter",
            st->st_name ? st->st_name : "?");
    smr__exit_slow((smr_t)(void *)&st->st_u);
}

#if SMR_CONFIG_DEBUG
/*
 * Debug builds keep the last SMR__QUARANTINE destroyed domains' memory
 * (smr__glock), magic SMR__MAGIC_DEAD, name intact, so that a stale
 * handle is reported by the read path's check (smr__assert_live) and the
 * slow paths' magic check instead of followed into freed or reused
 * memory.  Older ones are freed; the array keeps them reachable for LSan.
 */
#define SMR__QUARANTINE 1024
static struct smr_domain *smr__quarantine[SMR__QUARANTINE];
static uint32_t smr__quarantine_next;
#endif

SMR_API void
smr_destroy(smr_t smr)
{
    struct smr_stats st = { 0 };
    uint32_t users;

    if (smr == NULL)
        return;
    smr__check(smr, "smr_destroy");
    if (smr->h.d_flags & SMR__F_STATIC) {
        /* Its storage is the program's and its threads' pointers name
         * it: a static domain lives as long as the process. */
        smr__warn(smr, "smr_destroy on a statically declared domain: "
            "ignored (it lives as long as the process)");
        return;
    }
    /* First: its callbacks may still release holds.  Through the hook
     * src/reclaim.c sets before it hangs a reclaimer on any domain, so
     * the core links without it (the torture programs). */
    /* Acquire: partner of the release store in smr_reclaimer_start. */
    if (__atomic_load_n(&smr->d_reclaimer, __ATOMIC_ACQUIRE) != NULL)
        smr__reclaimer_fini(smr);
    users = __atomic_load_n(&smr->d_users, __ATOMIC_ACQUIRE);
    if (users != 0) {
        /* Acquire: partner of the release store in src/retire.c. */
        void (*fini)(smr_t) = __atomic_load_n(&smr__retire_fini,
            __ATOMIC_ACQUIRE);

        if (fini != NULL) {
            fini(smr);
            users = __atomic_load_n(&smr->d_users, __ATOMIC_ACQUIRE);
        }
    }
    if (users != 0)
        smr__die(smr, "smr_destroy while %u pool(s)/retire batch(es) still "
            "use the domain", users);
    if (smr__show_on)
        smr_stats(smr, &st);    /* the final numbers, for the exit report */
    pthread_mutex_lock(&smr__glock);
    pthread_mutex_lock(&smr->d_lock);
    for (uint32_t i = 0; i < smr->d_hw; i++) {
        struct smr__slot *s = smr__slot_at(smr, i);
        if (s->c_owner != 0 && smr__slot_inside(s))
            smr__die(smr, "smr_destroy with a reader inside (thread %d)",
                (int)s->c_tid);
    }
    /* Detach every thread's entry (SPEC §2, I7): the read path trusts
     * them.  Their slots go with the domain's memory below. */
    for (struct smr__thread *t = smr__threads; t != NULL; t = t->t_next) {
        struct smr__tent *e = smr__tent_of(t, smr->h.d_idx);
        if (e != NULL && e->t_id == smr->h.d_id)
            smr__tent_clear(e);
    }
    smr__domains[smr->h.d_idx] = NULL;
    smr->h.d_magic = SMR__MAGIC_DEAD;
    if (smr__show_on)
        smr__show_keep(smr, &st);
    pthread_mutex_unlock(&smr->d_lock);
    pthread_mutex_unlock(&smr__glock);
    /* The domain memory is gone, as after FreeBSD's smr_destroy (debug
     * builds keep the struct a while, quarantined, below); its id is
     * never handed out again (I7). */
    for (uint32_t k = 0; k < smr->d_nchunks; k++)
        free(smr->d_chunks[k]);
    free(smr->d_used);
    pthread_mutex_destroy(&smr->d_lock);
    pthread_mutex_destroy(&smr->d_rd_lock);
    pthread_mutex_destroy(&smr->l_barrier_lock);
#if SMR_CONFIG_DEBUG
    smr->d_nchunks = 0;
    smr->d_used = NULL;
    pthread_mutex_lock(&smr__glock);
    {
        struct smr_domain *old = smr__quarantine[smr__quarantine_next];

        smr__quarantine[smr__quarantine_next] = smr;
        smr__quarantine_next = (smr__quarantine_next + 1) % SMR__QUARANTINE;
        smr = old;
    }
    pthread_mutex_unlock(&smr__glock);
#endif
    free(smr);
}

SMR_API const char *
smr_name(smr_t smr)
{
    smr__check(smr, "smr_name");
    return smr->d_name;
}

/* ---- the clock and the poll (src/smr_clock.h) ----------------------- */

SMR_API smr_seq_t
smr_current(smr_t smr)
{
    smr__check(smr, "smr_current");
    return atomic_load_acq(&smr->h.s_wr_seq);
}

SMR_API smr_seq_t
smr_advance(smr_t smr)
{
    smr__check(smr, "smr_advance");
    /* Deferred clocks count per thread, in the slot: claim one then. */
    return smr__advance_on(smr, (smr->h.d_flags & SMR_DEFERRED) ?
        smr__slot_slow(smr) : smr__slot_peek(smr));
}

/* A goal no smr_advance or smr_current of smr returned (SPEC §6): a
 * message in debug builds; in release builds the poll or wait fails. */
static void
smr__bad_goal(struct smr_domain *smr, const char *what, smr_seq_t goal)
{
#if SMR_CONFIG_DEBUG
    smr__die(smr, "%s: goal %#llx was never handed out by this domain "
        "(clock %#llx)", what, (unsigned long long)goal,
        (unsigned long long)atomic_load_rlx(&smr->h.s_wr_seq));
#else
    (void)smr; (void)what; (void)goal;
#endif
}

/* Is the caller inside a section of smr?  Blocking there would deadlock. */
static bool
smr__wait_inside(struct smr_domain *smr, const char *what)
{
    struct smr__slot *s = smr__slot_peek(smr);

    if (s != NULL && smr__slot_inside(s)) {
#if SMR_CONFIG_DEBUG
        smr__die(smr, "%s inside a read section of the same domain "
            "(would deadlock)", what);
#else
        return true;
#endif
    }
#if SMR_CONFIG_DEBUG
    if (smr_entered_any())
        smr__warn(smr, "%s inside a read section of another domain: legal, "
            "but can deadlock", what);
#endif
    return false;
}

/*
 * Stall reports (SPEC §2: "a writer that does wait is never silent").
 *
 * The read path records nothing: a section's age is counted from the first
 * time the slow path saw it.  Failed polls pass through smr__stall_sample:
 * each round of a blocked wait, and one in SMR__STALL_FAIL_EVERY failed
 * non-blocking polls of a thread (smr_poll(.., false), the pool's and
 * smr_retire's polls; counted by the poll-failure statistic the poll keeps
 * anyway, its first failure included).  So a failed poll costs a load and
 * a test, and one in eight a call, a coarse clock read (vDSO: no syscall,
 * no rdtsc) and a relaxed load of d_note_ms.  At most every
 * SMR__STALL_SAMPLE_MS per domain one of them wins a CAS and takes a look
 * (smr__stall_note): a trylock of d_lock, a scan of the slots for the
 * oldest open section, and a precise clock read.  The look keeps (owner,
 * sequence) of that section and when it was first seen; a later look that
 * finds the same pair finds the same section, because the pair is kept
 * only while the sequence is behind the clock: a reader that left and came
 * back has published a newer value.
 * (A section at the clock's own value could be a re-entry with the same
 * value; it is not aged until the clock has passed it.)  A waiter also
 * looks once, unconditionally, before its wait starts counting, so the
 * section blocking it is never younger than the wait.
 *
 * A look reports, through the default printer, when the oldest section has
 * been seen for the threshold (d_stall_ns: 1 s unless SMR_STALL_WARN_MS or
 * smr_set_stall_handler says otherwise; 0: never), or when the looking
 * thread has waited that long: at most one report per domain per
 * SMR__STALL_EVERY_NS.  So a stuck reader is reported by whoever notices
 * it, waiting or not.  A handler set with smr_set_stall_handler replaces
 * the printer: it is called on each waiting thread at the threshold and
 * each time the wait doubles (no domain rate limit), never from a
 * non-blocking poll; smr_oldest_section keeps the ages for it.
 */

/* The oldest open section, and the stall record; d_lock held.  now:
 * smr__now_ns() read under d_lock, so it never runs behind the record. */
static bool
smr__oldest_locked(struct smr_domain *smr, uint64_t now,
    struct smr_section_info *info)
{
    struct smr__slot *old = NULL;
    smr_seq_t wr, rd, c, oc = 0;

    memset(info, 0, sizeof(*info));
    /* Diagnostics: no ordering is argued from these loads.  The clock
     * first, so that "behind the clock" below is judged conservatively. */
    wr = atomic_load_acq(&smr->h.s_wr_seq);
    rd = atomic_load_acq(&smr->s_rd_seq);
    for (uint32_t i = 0; i < smr->d_hw; i++) {
        struct smr__slot *s = smr__slot_at(smr, i);
        /* Acquire: as in the poll scan (partner: smr_exit's release). */
        c = SMR__W_SEQ(atomic_load_acq(smr__slot_word(s)));
        if (c == SMR_SEQ_INVALID || s->c_owner == 0)
            continue;
        if (SMR_SEQ_LT(c, rd))
            c = rd;             /* I3 */
        if (old == NULL || SMR_SEQ_LT(c, oc)) {
            old = s;
            oc = c;
        }
    }
    if (old == NULL) {
        smr->d_old_owner = 0;
        return false;
    }
    if (smr->d_old_owner != old->c_owner || smr->d_old_seq != oc) {
        smr->d_old_seq = oc;
        smr->d_old_since_ns = now;
    }
    /* Aged only once the clock has passed it (see above). */
    smr->d_old_owner = SMR_SEQ_LT(oc, wr) ? old->c_owner : 0;
    info->tid = old->c_tid;
    info->seq = oc;
    info->age_ns = now - smr->d_old_since_ns;
    return true;
}

SMR_API bool
smr_oldest_section(smr_t smr, struct smr_section_info *info)
{
    bool found;

    smr__check(smr, "smr_oldest_section");
    pthread_mutex_lock(&smr->d_lock);
    found = smr__oldest_locked(smr, smr__now_ns(), info);
    pthread_mutex_unlock(&smr->d_lock);
    return found;
}

SMR_API void
smr_set_stall_handler(smr_t smr, uint64_t threshold_ns, smr_stall_fn fn,
    void *arg)
{
    smr__check(smr, "smr_set_stall_handler");
    pthread_mutex_lock(&smr->d_lock);
    /* Atomic: smr__wait reads it without d_lock. */
    atomic_store_rlx(&smr->d_stall_ns, threshold_ns);
    smr->d_stall_fn = fn;
    smr->d_stall_arg = arg;
    pthread_mutex_unlock(&smr->d_lock);
}

bool
smr__reports_on(smr_t smr)
{
    smr__check(smr, "smr__reports_on");
    return atomic_load_rlx(&smr->d_stall_ns) != 0;  /* no partner */
}

/*
 * The grace period a domain needs when no reader holds a section long
 * (src/smr_util.h, the adaptive cap): 1 ms, the age at which a partial
 * bucket or batch is queued anyway, plus one scheduling period (24 ms: a
 * reader preempted inside a short section, as on a core it shares with a
 * writer, runs again within one; Linux CFS's default latency target is
 * 6 ms x (1 + log2 CPUs), capped at 24 ms; 10 ms still let paced writers
 * on a shared core block about once in 5 million frees); a fence-free
 * lazy domain adds
 * two ticks, since its goals lie one step in the future and the clock
 * moves at most once per tick (src/smr_lazy.c).
 */
uint64_t
smr__grace_budget_ns(smr_t smr)
{
    uint64_t ns = 25000000;

    smr__check(smr, "smr__grace_budget_ns");
    if (smr->h.d_flags & SMR__F_LAZY_FAST)
        ns += 2 * smr__lazy_tick_ns;
    return ns;
}

struct smr__retire_conf *
smr__retire_conf(smr_t smr)
{
    smr__check(smr, "smr__retire_conf");
    return &smr->d_retire;
}

/* What noticed a stall: the API call, or a client's queue (KIND "NAME"). */
struct smr__who {
    const char *kind;
    const char *name;           /* NULL: kind alone */
};

/* The default report: the five things SPEC §2 names (the domain is in the
 * prefix smr__warn writes). */
static void
smr__stall_print(struct smr_domain *smr, const struct smr__who *who, bool waiting,
    uint64_t waited, const struct smr_section_info *info)
{
    char what[80];

    if (who->name != NULL)
        snprintf(what, sizeof(what), "%s \"%s\"", who->kind, who->name);
    else
        snprintf(what, sizeof(what), "%s", who->kind);
    if (waiting)
        smr__warn(smr, "stall: %s: thread %d: wait blocked for %llu ms; "
            "oldest reader: thread %d, inside a read section for at least "
            "%llu ms (sequence %#llx)", what, (int)smr__gettid(),
            (unsigned long long)(waited / 1000000), info->tid,
            (unsigned long long)(info->age_ns / 1000000),
            (unsigned long long)info->seq);
    else
        smr__warn(smr, "stall: %s: thread %d (polling, not waiting): "
            "oldest reader: thread %d, inside a read section for at least "
            "%llu ms (sequence %#llx)", what, (int)smr__gettid(), info->tid,
            (unsigned long long)(info->age_ns / 1000000),
            (unsigned long long)info->seq);
}

/*
 * Look at the oldest section (keeps its age) and print the default report
 * if one is due.  waiting: the caller is blocked in a wait, for waited ns
 * so far.  block: take d_lock even if busy (waiters; a non-blocking poll
 * skips the look instead).  Returns true if a handler replaces the
 * printer.
 */
static bool
smr__stall_note(struct smr_domain *smr, const struct smr__who *who, bool waiting,
    uint64_t waited, bool block)
{
    struct smr_section_info info;
    uint64_t now, thr;
    bool found, custom, due = false;

    if (block)
        pthread_mutex_lock(&smr->d_lock);
    else if (pthread_mutex_trylock(&smr->d_lock) != 0)
        return false;
    now = smr__now_ns();
    found = smr__oldest_locked(smr, now, &info);
    custom = smr->d_stall_fn != NULL;
    thr = smr->d_stall_ns;
    if (found && !custom && thr != 0 &&
        (info.age_ns >= thr || (waiting && waited >= thr)) &&
        (smr->d_report_ns == 0 ||
         now - smr->d_report_ns >= SMR__STALL_EVERY_NS)) {
        smr->d_report_ns = now;
        due = true;
    }
    pthread_mutex_unlock(&smr->d_lock);
    if (due)
        smr__stall_print(smr, who, waiting, waited, &info);
    return custom;
}

/* A poll of smr failed: take a look, at most every SMR__STALL_SAMPLE_MS
 * per domain; otherwise this costs a coarse clock read and a relaxed load. */
static __attribute__((noinline)) void
smr__stall_sample(struct smr_domain *smr, const struct smr__who *who, bool waiting,
    uint64_t waited)
{
    uint32_t now = smr__coarse_ms();
    uint32_t last = atomic_load_rlx(&smr->d_note_ms);

    /* Relaxed, both: the gate orders nothing, d_lock guards the record. */
    if ((uint32_t)(now - last) < SMR__STALL_SAMPLE_MS ||
        !atomic_cas_rlx(&smr->d_note_ms, &last, now))
        return;
    (void)smr__stall_note(smr, who, waiting, waited, false);
}

/* A waiter's handler is due: call it with the oldest section. */
static void
smr__stall_handler(struct smr_domain *smr, uint64_t waited)
{
    struct smr_section_info info;
    smr_stall_fn fn;
    void *arg;
    bool found;

    pthread_mutex_lock(&smr->d_lock);
    found = smr__oldest_locked(smr, smr__now_ns(), &info);
    fn = smr->d_stall_fn;
    arg = smr->d_stall_arg;
    pthread_mutex_unlock(&smr->d_lock);
    if (found && fn != NULL)    /* nobody inside: the clock is moving */
        fn(smr, &info, waited, arg);
}

/*
 * Wait for goal: spin briefly, then yield, then sleep with exponential
 * backoff (1 us .. 1 ms), so a stalled reader does not cost the waiter a
 * core.  deadline: absolute CLOCK_MONOTONIC ns, 0 for none.  A malformed
 * goal fails at once (SPEC §6).  Past the spin, the waiter reports
 * ("Stall reports" above): the default printer is tried every
 * SMR__STALL_SAMPLE_MS from the threshold on (the domain's rate limit
 * decides), a handler at the threshold and each time the wait doubles.
 */
static bool
smr__wait(struct smr_domain *smr, const char *what, smr_seq_t goal,
    uint64_t deadline, const struct smr__who *who)
{
    struct smr__slot *self = smr__slot_peek(smr);
    uint64_t sleep_ns = 1000, start = 0, report = 0, next = 0, now;
    int r;

    for (unsigned i = 0;; i++) {
        if ((r = smr__poll_once(smr, self, goal, true)) != 0) {
            if (r < 0)
                smr__bad_goal(smr, what, goal);
            return r > 0;
        }
        now = (i < 6 && deadline == 0) ? 0 : smr__now_ns();
        if (deadline != 0 && now >= deadline)
            return false;
        if (i < 6) {
            /* ~2000 spin hints in all (tens of microseconds). */
            for (unsigned j = 0; j < (32u << i); j++)
                smr__cpu_relax();
            continue;
        }
        if (start == 0) {
            /* See the blocking section before the wait counts, so its
             * reported age is never below the wait. */
            (void)smr__stall_note(smr, who, true, 0, true);
            start = smr__now_ns();
            report = atomic_load_rlx(&smr->d_stall_ns);
            next = report;
        } else {
            uint64_t waited = now - start;

            smr__stall_sample(smr, who, true, waited);
            if (report != 0 && waited >= next) {
                if (smr__stall_note(smr, who, true, waited, true)) {
                    smr__stall_handler(smr, waited);
                    next = report = 2 * report;  /* when the wait doubles */
                } else {
                    next = waited + SMR__STALL_SAMPLE_MS * 1000000ull;
                }
            }
        }
        if (i < 16) {
            sched_yield();
        } else {
            struct timespec ts = { 0, (long)sleep_ns };
            nanosleep(&ts, NULL);
            if (sleep_ns < 1000000)
                sleep_ns *= 2;
        }
    }
}

/* smr_poll(.., false) naming who polls. */
static bool
smr__poll_who(struct smr_domain *smr, smr_seq_t goal, const struct smr__who *who)
{
    struct smr__slot *self = smr__slot_peek(smr);
    uint64_t n;
    int r;

    smr__check(smr, "smr_poll");
    r = smr__poll_once(smr, self, goal, false);
    if (r > 0)
        return true;
    if (r < 0) {
        smr__bad_goal(smr, "smr_poll", goal);
        return false;
    }
    /* One failure in SMR__STALL_FAIL_EVERY (by the count smr__poll_once
     * just made: the caller's own, or the domain's for a caller without a
     * slot) takes the sampling gate. */
    n = self != NULL ? self->st_poll_fail :
        atomic_load_rlx(&smr->d_st[SMR__ST_POLL_FAIL]);
    if ((n & (SMR__STALL_FAIL_EVERY - 1)) == 1)
        smr__stall_sample(smr, who, false, 0);
    return false;
}

/* smr_wait naming who waits. */
static bool
smr__wait_who(struct smr_domain *smr, smr_seq_t goal, const struct smr__who *who)
{
    smr__check(smr, "smr_wait");
    if (smr__wait_inside(smr, "smr_wait"))
        return false;
    return smr__wait(smr, "smr_wait", goal, 0, who);
}

bool
smr__poll_for(smr_t smr, smr_seq_t goal, const char *kind, const char *name)
{
    struct smr__who who = { kind, name };

    return smr__poll_who(smr, goal, &who);
}

bool
smr__wait_for(smr_t smr, smr_seq_t goal, const char *kind, const char *name)
{
    struct smr__who who = { kind, name };

    return smr__wait_who(smr, goal, &who);
}

SMR_API bool
smr_poll(smr_t smr, smr_seq_t goal, bool wait)
{
    static const struct smr__who who = { "smr_poll", NULL };

    if (wait)
        return smr__wait_who(smr, goal, &who);
    return smr__poll_who(smr, goal, &who);
}

SMR_API bool
smr_wait(smr_t smr, smr_seq_t goal)
{
    static const struct smr__who who = { "smr_wait", NULL };

    return smr__wait_who(smr, goal, &who);
}

SMR_API bool
smr_wait_timeout(smr_t smr, smr_seq_t goal, uint64_t ns)
{
    static const struct smr__who who = { "smr_wait_timeout", NULL };
    uint64_t deadline, now;

    smr__check(smr, "smr_wait_timeout");
    if (smr__wait_inside(smr, "smr_wait_timeout"))
        return false;
    /* Saturating: a timeout past the end of time (UINT64_MAX: "forever")
     * is no deadline, not one in the past. */
    now = smr__now_ns();
    deadline = ns > UINT64_MAX - now ? 0 : now + ns;
    return smr__wait(smr, "smr_wait_timeout", goal, deadline, &who);
}

SMR_API void
smr_synchronize(smr_t smr)
{
    static const struct smr__who who = { "smr_synchronize", NULL };
    struct smr__slot *s;

    smr__check(smr, "smr_synchronize");
    s = smr__slot_peek(smr);
    /* Cannot report: waiting would deadlock, returning would let the
     * caller free memory its own section still holds.  Every build. */
    if (s != NULL && smr__slot_inside(s))
        smr__die(smr, "smr_synchronize inside a read section of the same "
            "domain (would deadlock)");
    (void)smr__wait_inside(smr, "smr_synchronize");
    smr__wait(smr, "smr_synchronize", smr_advance(smr), 0, &who);
}

SMR_API void
smr_stats(smr_t smr, struct smr_stats *st)
{
    smr__check(smr, "smr_stats");
    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&smr->d_lock);
    st->advance = atomic_load_rlx(&smr->d_st[SMR__ST_ADVANCE]);
    st->poll = atomic_load_rlx(&smr->d_st[SMR__ST_POLL]);
    st->poll_scan = atomic_load_rlx(&smr->d_st[SMR__ST_POLL_SCAN]);
    st->poll_fail = atomic_load_rlx(&smr->d_st[SMR__ST_POLL_FAIL]);
    for (uint32_t i = 0; i < smr->d_hw; i++) {
        struct smr__slot *s = smr__slot_at(smr, i);
        if (s->c_owner == 0)
            continue;
        /* Owner-written counters: relaxed reads may lag by a few. */
        st->advance += atomic_load_rlx(&s->st_advance);
        st->poll += atomic_load_rlx(&s->st_poll);
        st->poll_scan += atomic_load_rlx(&s->st_poll_scan);
        st->poll_fail += atomic_load_rlx(&s->st_poll_fail);
    }
    st->live_slots = smr->d_nlive;
    st->slot_capacity = smr->d_cap;
    st->inline_table = smr->h.d_idx < SMR__TFAST - 1;
    pthread_mutex_unlock(&smr->d_lock);
    st->advance_wait = atomic_load_rlx(&smr->d_st[SMR__ST_ADVANCE_WAIT]);
    st->barriers = atomic_load_rlx(&smr->d_st[SMR__ST_BARRIERS]);
}

/* ---- fork ------------------------------------------------------------- */

/*
 * Lock order: smr__glock, then every domain's d_lock, d_rd_lock and
 * l_barrier_lock in index order.  The child clears the slots of threads
 * that do not exist in it (they were copied mid-section at worst; nobody
 * will ever exit those sections) and re-probes membarrier.
 */
static void
smr__atfork_prepare(void)
{
    /* First: no static domain is half built across the fork (its builder
     * holds this lock, then smr__glock). */
    pthread_mutex_lock(&smr__static_lock);
    pthread_mutex_lock(&smr__glock);
    for (uint32_t i = 0; i < smr__ndomains; i++) {
        struct smr_domain *smr = smr__domains[i];
        if (smr == NULL)
            continue;
        pthread_mutex_lock(&smr->d_lock);
        pthread_mutex_lock(&smr->d_rd_lock);
        pthread_mutex_lock(&smr->l_barrier_lock);
    }
}

static void
smr__atfork_parent(void)
{
    for (uint32_t i = smr__ndomains; i-- > 0;) {
        struct smr_domain *smr = smr__domains[i];
        if (smr == NULL)
            continue;
        pthread_mutex_unlock(&smr->l_barrier_lock);
        pthread_mutex_unlock(&smr->d_rd_lock);
        pthread_mutex_unlock(&smr->d_lock);
    }
    pthread_mutex_unlock(&smr__glock);
    pthread_mutex_unlock(&smr__static_lock);
}

static void
smr__atfork_child(void)
{
    struct smr__thread_hot *hot = smr__self;
    uint64_t me = hot != &smr__empty_hot ? smr__thread_of(hot)->t_serial : 0;

    if (hot != &smr__empty_hot) {
        smr__thread_of(hot)->t_tid = smr__gettid();
    }
    for (uint32_t i = 0; i < smr__ndomains; i++) {
        struct smr_domain *smr = smr__domains[i];
        if (smr == NULL)
            continue;
        /* This thread took them in prepare, so it owns them here. */
        pthread_mutex_unlock(&smr->l_barrier_lock);
        pthread_mutex_unlock(&smr->d_rd_lock);
        pthread_mutex_unlock(&smr->d_lock);
        for (uint32_t j = smr->d_hw; j-- > 0;) {
            struct smr__slot *s = smr__slot_at(smr, j);
            if (s->c_owner == 0)
                continue;
            if (s->c_owner == me) {
                s->c_tid = smr__thread_of(hot)->t_tid;
                continue;
            }
            smr__slot_release(smr, s);
        }
    }
    /* The other threads' tables: their owners do not exist here. */
    for (struct smr__thread *t = smr__threads, *next; t != NULL; t = next) {
        next = t->t_next;
        if (t->t_serial == me)
            continue;
        smr__thread_unlink(t);
        /* Their slots were released above; free the entries and keep the
         * table for the child's next thread. */
        for (uint32_t i = 0; i < SMR__TFAST - 1 + t->t_ovf_cap; i++)
            if (smr__tent_of(t, i)->t_id != 0)
                smr__tent_clear(smr__tent_of(t, i));
        smr__spare_push(t);
    }
    pthread_mutex_unlock(&smr__glock);
    pthread_mutex_unlock(&smr__static_lock);
    if (!smr__lazy_atfork_child()) {
        for (uint32_t i = 0; i < smr__ndomains; i++)
            if (smr__domains[i] != NULL) {
                smr__domains[i]->h.d_flags &= ~(uint32_t)SMR__F_LAZY_FAST;
                smr__set_lazy_off(smr__domains[i]);
            }
    }
    /*
     * Our static domains' program words (only in the fast table) keep
     * their slots: a thread that ran smr_thread_attach keeps its promise
     * of sections with no allocation.  But where a lazy domain lost its
     * barrier just above, the inline path would publish fence-free: move
     * the word into the slot (its value too, for a fork from inside a
     * section), free the program word, and every later section of this
     * thread on that domain takes the call, fenced (smr__static_pword).
     * No other thread runs here to scan.
     */
    if (hot != &smr__empty_hot) {
        for (uint32_t i = 0; i < SMR__TFAST - 1 && i < smr__ndomains; i++) {
            struct smr__tent *e = &hot->ent[i];
            struct smr_domain *smr = smr__domains[i];
            smr_seq_t *pw = e->t_pword;
            struct smr__slot *s = e->t_slot;

            if (pw == NULL || s == NULL || smr == NULL ||
                smr__static_pword(smr) != NULL)
                continue;
            atomic_store_rlx(&s->c_word, atomic_load_rlx(pw));
            atomic_store_rel(&s->c_wordp, &s->c_word);
            (void)smr__tent_unword(e);
        }
    }
}
