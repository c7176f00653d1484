/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * libsmr private declarations shared by the .c files under src/.  Nothing here is ABI.
 */
#ifndef SMR_INTERNAL_H
#define SMR_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>

#include "smr.h"
#include "smr_util.h"

/* ---- the clock -------------------------------------------------------- */

/*
 * Sequence values are odd multiples of 256 (INIT 256, INCR a multiple of
 * 512), so a live value is never SMR_SEQ_INVALID (0), even across a wrap,
 * and its low 8 bits are free for the reader's nesting depth (SMR__W_* in
 * smr.h: the word a reader publishes is seq + depth).  With 64-bit
 * sequences that leaves 2^55 steps, decades at any rate one cache line can
 * be incremented; with 32-bit ones, 2^23 steps between wraps, which the
 * guards below are written in sequence units for.  SMR_DEBUG starts the
 * clock 1000 steps below the top of its range with a large increment, so
 * every test run wraps (FreeBSD INVARIANTS does the same).
 */
#if defined(SMR__MODEL_SEQ_INCR)
/* GenMC models of the 32-bit guards (tests/model/): a reduced sequence
 * width, so that wraps and whole laps take a handful of steps. */
#define SMR__SEQ_INCR ((smr_seq_t)(SMR__MODEL_SEQ_INCR))
#define SMR__SEQ_INIT ((smr_seq_t)((smr_seq_t)0 - (smr_seq_t)2 * SMR__SEQ_INCR + 256))
#elif SMR_CONFIG_DEBUG
#if SMR_SEQ32
/* A power of two: 2^32 is a whole number of steps, so every sequence of
 * every lap is INIT + k * INCR and a goal held across wraps still looks
 * like one (smr__goal_check_future). */
#define SMR__SEQ_INCR ((smr_seq_t)1 << 16)
#else
#define SMR__SEQ_INCR ((smr_seq_t)((UINT64_C(1) << 32) + 512))
#endif
#define SMR__SEQ_INIT                                                   \
    ((smr_seq_t)((smr_seq_t)0 - (smr_seq_t)1000 * SMR__SEQ_INCR + 256))
#else
#define SMR__SEQ_INCR ((smr_seq_t)512)
#define SMR__SEQ_INIT ((smr_seq_t)256)
#endif
_Static_assert((SMR__SEQ_INCR & 511) == 0 && (SMR__SEQ_INIT & 511) == 256,
    "sequences must be odd multiples of 256 (the word's depth bits)");

/*
 * 32-bit guards (SPEC §2).  Comparisons are right while every live value
 * lies within half the sequence space (2^31) of the clock.
 *  - SMR__MAX_DELTA: the clock never runs more than this ahead of the read
 *    hand; an advance that would pass it returns a future goal unwritten.
 *  - SMR__RECHECK: a reader whose published value is this far behind the
 *    clock republishes before its first protected load; a poller whose
 *    clock snapshot is this old drops it instead of moving the read hand.
 * Values: 2^30 and 2^29, so a slot value can be misread only if it is more
 * than 2^31 - 2^30 behind, which the reader's recheck (> 2^29) always
 * catches first.  With 64-bit sequences neither can trigger in practice.
 */
#define SMR__MAX_DELTA ((smr_seq_t)1 << 30)
/* SMR__RECHECK ((smr_seq_t)1 << 29) lives in smr.h: the inline enter
 * checks it. */
/* A goal further ahead of the clock than this was not handed out by this
 * domain (deferred goals are at most INCR ahead, lazy ones 2 * INCR). */
#define SMR__FUTURE_MAX (4 * SMR__SEQ_INCR)

/* d_flags: declared static (SMR_DEFINE_STATIC): never destroyed. */
#define SMR__F_STATIC 0x200

#define SMR__MAGIC      0x534d5231u /* "SMR1" */
#define SMR__MAGIC_DEAD 0x64656164u

/* ---- slots ------------------------------------------------------------ */

/*
 * One per (thread, domain), SMR__SLOT_ALIGN bytes (one line, or a pair of
 * lines where the hardware fetches pairs): the domain's record of a thread.
 * Pollers read c_wordp and the word it points at; the rest is the owner's.
 */
struct smr__slot {
    /* Where the owner's word lives: its table entry (fast domains), or
     * c_word (domains past the fast table, and every free slot). */
    smr_seq_t *c_wordp;
    smr_seq_t c_word;
    uint32_t c_depth_ovf;        /* nesting past the word's 255 */
    uint32_t c_deferred;         /* SMR_DEFERRED: advances since last write */
    uint64_t c_owner;            /* thread serial; 0 = free */
    int32_t c_tid;               /* owner's kernel tid (diagnostics) */
    uint32_t c_index;
    /* per-thread counters, summed by smr_stats under d_lock */
    uint64_t st_advance;
    uint64_t st_poll;
    uint64_t st_poll_scan;
    uint64_t st_poll_fail;
} __attribute__((aligned(SMR__SLOT_ALIGN)));

/* Slot chunks: chunk k holds SMR__CHUNK0 << k slots (stable addresses). */
#define SMR__CHUNK0  16u
#define SMR__NCHUNKS 24

/* ---- domains ---------------------------------------------------------- */

struct smr_domain {
    struct smr__domain_hot h;    /* magic, flags, idx, id | s_wr_seq */
    /* The read hand: every section that began before it has ended. */
    /* (SMR__SLOT_ALIGN: pollers write it; keep it out of the clock's line
     * pair, which every reader loads at every enter.) */
    smr_seq_t s_rd_seq __attribute__((aligned(SMR__SLOT_ALIGN)));
    /* Lazy clock (src/smr_lazy.c): barrier bookkeeping, own line. */
    smr_seq_t l_barrier_seq __attribute__((aligned(SMR__CACHE_LINE)));
    uint64_t l_last_tick;        /* lazy clock: tick of the last write */
    pthread_mutex_t l_barrier_lock;

    /* Cold part: slot registry, name, counters of released slots. */
    pthread_mutex_t d_lock __attribute__((aligned(SMR__CACHE_LINE)));
    pthread_mutex_t d_rd_lock;   /* 32-bit: serializes read-hand moves */
    uint64_t d_rd_gen;           /* 32-bit: read-hand moves (d_rd_lock) */
    uint32_t d_hw;               /* slots [0, d_hw) may be in use (atomic) */
    uint32_t d_nlive;
    uint32_t d_cap;
    uint32_t d_nchunks;
    struct smr__slot *d_chunks[SMR__NCHUNKS];
    uint64_t *d_used;            /* bitmap of claimed slots, d_cap bits */
    int d_limit;
    uint32_t d_users;            /* pools and retire batches (atomic) */
    /* The background reclaimer (src/reclaim.c): NULL until the first
     * smr_reclaimer_start, then fixed until smr_destroy (atomic). */
    struct reclaim__rc *d_reclaimer;
    uint64_t d_st[6];            /* released slots' counters + atomics */
    /* Stall diagnostics ("Stall reports" in src/smr.c).  Under d_lock:
     * the oldest section seen (owner 0: none that can be aged), since
     * when, and the last default report. */
    uint64_t d_old_owner;
    smr_seq_t d_old_seq;
    uint64_t d_old_since_ns;
    uint64_t d_report_ns;        /* 0: no default report yet */
    uint64_t d_stall_ns;         /* threshold, 0: no reports (atomic) */
    smr_stall_fn d_stall_fn;
    void *d_stall_arg;
    char d_name[48];
    struct smr__retire_conf d_retire;   /* src/retire.c's, not ours */
    /* Coarse ms of the last look at the oldest section (atomic; 32-bit,
     * wraps harmlessly).  Own line: every failing poll reads it. */
    uint32_t d_note_ms __attribute__((aligned(SMR__CACHE_LINE)));
};

enum { SMR__ST_ADVANCE, SMR__ST_ADVANCE_WAIT, SMR__ST_POLL, SMR__ST_POLL_SCAN,
       SMR__ST_POLL_FAIL, SMR__ST_BARRIERS };

/* ---- shared helpers --------------------------------------------------- */

__attribute__((noreturn, cold, format(printf, 2, 3)))
void smr__die(const struct smr_domain *smr, const char *fmt, ...);
__attribute__((cold, format(printf, 2, 3)))
void smr__warn(const struct smr_domain *smr, const char *fmt, ...);
void smr__check(const struct smr_domain *smr, const char *what);

/* Stops and frees d_reclaimer at smr_destroy; set by src/reclaim.c (before
 * any d_reclaimer exists: the release store of d_reclaimer orders it). */
extern void (*smr__reclaimer_fini)(smr_t smr);

/* Lazy domains (src/smr_lazy.c). */
bool smr__lazy_available(void);
void smr__lazy_create(struct smr_domain *smr);
bool smr__lazy_atfork_child(void);
/* The lazy clock and barrier themselves are in src/smr_clock.h; they use: */
extern uint64_t smr__lazy_tick_ns;
int smr__membarrier(void);      /* 0, or -1 with errno */

/* Static domains' program words (src/smr.c, "Program words"): the poll's
 * slot scan of an SMR__F_STATIC domain runs between these (true from
 * enter: it holds smr's d_lock instead of a scan section). */
bool smr__scan_enter(struct smr_domain *smr);
void smr__scan_exit(struct smr_domain *smr, bool locked);

#endif /* SMR_INTERNAL_H */
