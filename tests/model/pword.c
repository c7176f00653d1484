/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * A statically declared domain's program word dies with its thread
 * (src/smr.c, "Program words").  Thread X owns D's slot 0, whose word PW is
 * malloc'd here (it stands for X's __thread variable) and idle.  X exits:
 * it frees the word and releases the slot (smr__pword_free and
 * smr__slot_unpoint, as smr__tent_unword and smr__slot_release run them),
 * waits for a grace period of the scan domain K (smr__advance_on and
 * smr__poll_once on K: smr_synchronize), then frees PW (glibc freeing the
 * thread's stack).  Poller P advances D and polls it: the real
 * smr__poll_once, whose scan of a SMR__F_STATIC domain runs inside a
 * section of K (smr__scan_enter/exit below: the real fenced publish and
 * exit on P's word in K, as smr_enter/smr_exit run them in the library).
 * Before the free X writes PW_POISON into the word (the memory reused:
 * another thread's stack), a value that reads as a section older than
 * P's goal, so a scan that reads it fails its poll, which P asserts never
 * happens; every word P may read legitimately is idle (0, SMR__W_FREE, or
 * the slot's own c_word).  Under RC11 GenMC also reports the access after
 * free() itself; under IMM only the assertion can show it (GenMC reports
 * freed-memory accesses there only when they are ordered after the free).
 *
 * Variants (-D): SMR__BROKEN_SCAN_NOSECTION (the scan outside any
 * section), SMR__BROKEN_PWORD_NOGRACE (X frees without the grace).
 */
#define NSLOT 1
#define MODEL_SCAN_SECTION 1
#include "model.h"

/* The scan domain, one slot: P's word. */
static struct smr_domain K;
static struct smr__slot KS[1];
static smr_seq_t KW;

static smr_seq_t *PW;                   /* X's program word */
/* A section published at the clock's first value: older than any goal. */
#define PW_POISON (SMR__SEQ_INIT + 1)

bool
smr__scan_enter(struct smr_domain *smr)
{
    bool ok = smr__enter_word((smr_t)&K, &KW, false);

    (void)smr;
    assert(ok);
    (void)ok;
    return false;
}

void
smr__scan_exit(struct smr_domain *smr, bool locked)
{
    bool ok = smr__exit_word(&KW);

    (void)smr;
    (void)locked;
    assert(ok);
    (void)ok;
}

static void
k_init(void)
{
    K.h.d_magic = SMR__MAGIC;
    K.h.s_wr_seq = SMR__SEQ_INIT;
    K.s_rd_seq = SMR__SEQ_INIT;
    K.l_barrier_seq = SMR__SEQ_INIT;
    K.d_limit = 2;
    pthread_mutex_init(&K.d_rd_lock, NULL);
    pthread_mutex_init(&K.l_barrier_lock, NULL);
    KW = 0;
    KS[0].c_wordp = &KW;
    KS[0].c_owner = 1;
    K.d_chunks[0] = KS;
    K.d_nchunks = 1;
    K.d_cap = 1;
    K.d_hw = 1;
}

static void *
exiter(void *arg)
{
    (void)arg;
    smr__pword_free(PW);
    smr__slot_unpoint(&S[0]);
#if !defined(SMR__BROKEN_PWORD_NOGRACE)
    {
        smr_seq_t goal = smr__advance_on(&K, NULL);

        /* smr_synchronize(K): executions where the wait has not ended
         * yet are not complete ones. */
        __VERIFIER_assume(smr__poll_once(&K, NULL, goal, true) == 1);
    }
#endif
    atomic_store_rlx(PW, (smr_seq_t)PW_POISON);
    free(PW);
    return NULL;
}

static void *
poller(void *arg)
{
    smr_seq_t goal;

    (void)arg;
    goal = smr__advance_on(&D, NULL);
    /* No reader: only a read of the poisoned word can fail it. */
    assert(smr__poll_once(&D, NULL, goal, false) == 1);
    return NULL;
}

int
main(void)
{
    pthread_t x, p;

    model_init(0);
    D.h.d_flags |= SMR__F_STATIC;
    k_init();
    PW = malloc(sizeof(*PW));
    *PW = 0;                            /* open, idle */
    S[0].c_wordp = PW;
    pthread_create(&x, NULL, exiter, NULL);
    pthread_create(&p, NULL, poller, NULL);
    pthread_join(x, NULL);
    pthread_join(p, NULL);
    return 0;
}
