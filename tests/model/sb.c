/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * Store buffering: fenced readers (smr_enter's publish) against a writer
 * that unlinks, advances and polls (I2, I4).  NREADERS readers (1-3) run
 * ROUNDS sections each (1-3); the writer replaces the object ROUNDS times
 * and reuses each unlinked object once a poll says its goal is reached.
 *
 * Variants (-D): SMR__MODEL_X86 (the x86-64 publish: xchg, then the plain
 * re-store), SMR__BROKEN_ENTER_NOFENCE (no store->load fence in the
 * publish), SMR__BROKEN_POLL_NOFENCE (no fence before the scan),
 * SMR__BROKEN_ADVANCE_NOFENCE / SMR__BROKEN_ADVANCE_RELEASE,
 * SMR__BROKEN_EXIT_RELEASE_STORE (the pre-C++20 exit: RC11 race when a
 * poll reads the next section's publish), DEFERRED (SMR_DEFERRED domain).
 */
#ifndef NREADERS
#define NREADERS 1
#endif
#ifndef ROUNDS
#define ROUNDS 1
#endif
#define NSLOT NREADERS
#include "model.h"

static void *
reader(void *arg)
{
    int r = (int)(intptr_t)arg;

    for (int i = 0; i < ROUNDS; i++) {
        rd_enter(r, false);
        (void)rd_deref();
        rd_exit(r);
    }
    return NULL;
}

static void *
writer(void *arg)
{
    struct smr__slot self = { 0 };

    (void)arg;
    for (int i = 0; i < ROUNDS; i++)
        wr_round(i + 1, &self, true);
    return NULL;
}

int
main(void)
{
    pthread_t t[NREADERS + 1];

#ifdef DEFERRED
    model_init(SMR_DEFERRED);
#else
    model_init(0);
#endif
    for (int i = 0; i < NREADERS; i++)
        pthread_create(&t[i], NULL, reader, (void *)(intptr_t)i);
    pthread_create(&t[NREADERS], NULL, writer, NULL);
    for (int i = 0; i <= NREADERS; i++)
        pthread_join(t[i], NULL);
    return 0;
}
