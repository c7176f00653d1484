/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * Nesting and signal handlers (SPEC §2, the nesting rule; "Words" in
 * src/smr.c).  One reader thread on word W[0]: an outer section loads the
 * pointer, an inner section on the same word (depth 2) opens and closes,
 * and only then is the object loaded in the outer section read, before
 * the outer exit.  A signal handler (the test hook at
 * SMR__HOOK_ENTER_LOADED, once) arrives in the outer enter between its
 * clock load and its publish, and runs a whole section on the same word
 * (enter, dereference, exit): the interrupted load-then-store must not be
 * able to tell it ran.  A writer unlinks, advances, polls (waiting) and
 * reuses the unlinked object if the poll says its goal is reached.
 *
 * Variants (-D): LAZY (the reader on a fence-free lazy domain,
 * smr_lazy_enter, membarrier as model.h runs it), SMR__BROKEN_EXIT_ANY_DEPTH
 * (an inner exit clears the word: the outer section goes on unprotected).
 */
#define NSLOT 1
#include "model.h"

#ifdef LAZY
#define RD_LAZY true
#define MB_POINT() mb_point(0)
#else
#define RD_LAZY false
#define MB_POINT() ((void)0)
#endif

static int hooked;          /* plain: only the reader thread runs the hook */

/* The signal handler: a whole section on the interrupted thread's word.
 * Its own enter calls the hook again (the word is still 0: the
 * interrupted enter has not published); the flag stops the recursion. */
static void
hook(smr_t smr, int point)
{
    (void)smr;
    if (point != SMR__HOOK_ENTER_LOADED)
        return;
    MB_POINT();
    if (hooked)
        return;
    hooked = 1;
    rd_enter(0, RD_LAZY);
    MB_POINT();
    struct obj *p = rd_load();
    MB_POINT();
    (void)rd_read(p);
    MB_POINT();
    rd_exit(0);
    MB_POINT();
}

static void *
reader(void *arg)
{
    (void)arg;
    MB_POINT();
    rd_enter(0, RD_LAZY);           /* outer; the handler arrives here */
    MB_POINT();
    struct obj *p = rd_load();
    MB_POINT();
    rd_enter(0, RD_LAZY);           /* inner: depth 2 */
    MB_POINT();
    rd_exit(0);                     /* back to depth 1 */
    MB_POINT();
    (void)rd_read(p);               /* still protected by the outer one */
    MB_POINT();
#if defined(SMR__BROKEN_EXIT_ANY_DEPTH)
    /* The inner exit left the word idle, so this exit is unbalanced (the
     * library's slow path would report it); let it pass, so that the
     * model reports the use-after-free above instead. */
    (void)smr__exit_word(&W[0]);
#else
    rd_exit(0);
#endif
#ifdef LAZY
    mb_finish(0);
#endif
    return NULL;
}

static void *
writer(void *arg)
{
    (void)arg;
    wr_round(1, NULL, true);
    return NULL;
}

int
main(void)
{
    pthread_t r, w;

#ifdef LAZY
    model_init(SMR_LAZY | SMR__F_LAZY_FAST);
#else
    model_init(0);
#endif
    smr__test_hook = hook;
    pthread_create(&r, NULL, reader, NULL);
    pthread_create(&w, NULL, writer, NULL);
    pthread_join(r, NULL);
    pthread_join(w, NULL);
    return 0;
}
