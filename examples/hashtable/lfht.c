/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * lfht: a concurrent map of user records on the installed lock-free hash
 * table, <smr_ht.h> (see smr_ht(3)).
 *
 *   lfht [SECONDS [READERS]]         (default 1 second, 2 readers)
 *
 * Readers look records up by id with no lock, inside read sections, and
 * check that each record they find is whole (its name spells its id and
 * version).  One writer renames records (smr_ht_replace: a reader sees
 * the old record or the new one, never neither), deletes and re-adds
 * others, and frees what the table hands back to an SMR pool, which
 * reuses a record only once no reader can still hold it.  The table
 * starts with 16 buckets and grows by itself as records are added.
 * Prints what happened and "lfht: OK", or exits 1.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <smr.h>
#include <smr_ht.h>

#define NUSERS 10000

struct user {
    uint64_t id;
    uint64_t version;
    char name[32];          /* "user-<id>-v<version>" */
    struct smr_ht_node node;
};

static smr_t smr;
static smr_pool_t pool;
static smr_ht_t users;
static atomic_bool stop;
static atomic_ullong found, missed, torn;

static uint64_t
id_hash(const void *key, void *arg)
{
    uint64_t x = *(const uint64_t *)key;

    (void)arg;
    x ^= x >> 31;
    x *= UINT64_C(0x7fb5d329728ea185);
    x ^= x >> 27;
    return x;
}

static bool
id_match(const struct smr_ht_node *n, const void *key, void *arg)
{
    (void)arg;
    return SMR_HT_ENTRY(n, struct user, node)->id == *(const uint64_t *)key;
}

static struct user *
user_new(uint64_t id, uint64_t version)
{
    struct user *u = smr_pool_alloc(pool);

    if (u == NULL) {
        perror("lfht: smr_pool_alloc");
        exit(1);
    }
    u->id = id;
    u->version = version;
    snprintf(u->name, sizeof(u->name), "user-%" PRIu64 "-v%" PRIu64, id,
        version);
    return u;
}

static void *
reader(void *arg)
{
    uint64_t x = (uintptr_t)arg * UINT64_C(0x9e3779b97f4a7c15) + 1;
    char want[32];

    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t id = x % NUSERS;

        smr_enter(smr);
        struct smr_ht_node *n = smr_ht_lookup(users, &id);
        if (n != NULL) {
            /* The record stays valid until smr_exit. */
            struct user *u = SMR_HT_ENTRY(n, struct user, node);
            snprintf(want, sizeof(want), "user-%" PRIu64 "-v%" PRIu64,
                u->id, u->version);
            if (u->id != id || strcmp(u->name, want) != 0)
                atomic_fetch_add(&torn, 1);
            atomic_fetch_add_explicit(&found, 1, memory_order_relaxed);
        } else {
            atomic_fetch_add_explicit(&missed, 1, memory_order_relaxed);
        }
        smr_exit(smr);
    }
    return NULL;
}

int
main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    int nreaders = argc > 2 ? atoi(argv[2]) : 2;
    struct smr_ht_args args = { .hash = id_hash, .match = id_match,
        .name = "users" };
    static struct user *cur[NUSERS];
    pthread_t rt[16];
    struct smr_ht_stats st;
    struct timespec t0, t;
    uint64_t renames = 0, readds = 0, x = 12345;
    int bad = 0;

    if (!(seconds > 0) || nreaders < 1 || nreaders > 16) {
        fprintf(stderr, "usage: lfht [SECONDS [READERS (1..16)]]\n");
        return 2;
    }
    smr = smr_create("lfht", 0, 0);
    pool = smr ? smr_pool_create("users", sizeof(struct user), 0, smr, 0)
        : NULL;
    users = pool ? smr_ht_create(smr, &args) : NULL;
    if (users == NULL) {
        perror("lfht: setup");
        return 1;
    }
    for (uint64_t id = 0; id < NUSERS; id++) {
        cur[id] = user_new(id, 0);
        smr_ht_insert(users, &cur[id]->node, &cur[id]->id);
    }
    for (int i = 0; i < nreaders; i++)
        pthread_create(&rt[i], NULL, reader, (void *)(uintptr_t)(i + 1));

    /* The writer: rename (replace) or delete and re-add, for SECONDS. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        for (int i = 0; i < 256; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            uint64_t id = x % NUSERS;
            struct user *old = cur[id], *u = user_new(id, old->version + 1);

            if (x & 1) {
                if (smr_ht_replace(users, &old->node, &u->node) != 0)
                    bad++;
                renames++;
            } else {
                if (smr_ht_delete(users, &old->node) != 0)
                    bad++;
                smr_ht_insert(users, &u->node, &u->id);
                readds++;
            }
            cur[id] = u;
            smr_pool_free(pool, old);   /* reused after readers leave */
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((double)(t.tv_sec - t0.tv_sec) +
        (double)(t.tv_nsec - t0.tv_nsec) * 1e-9 < seconds);
    atomic_store(&stop, true);
    for (int i = 0; i < nreaders; i++)
        pthread_join(rt[i], NULL);

    smr_ht_stats(users, &st);
    printf("lfht: %zu users in %zu buckets (%" PRIu64 " grows); %" PRIu64
        " renames, %" PRIu64 " delete+re-adds; lookups: %llu found, %llu "
        "missed (a record between its delete and re-add), %llu torn\n",
        st.count, st.buckets, st.grows, renames, readds,
        (unsigned long long)found, (unsigned long long)missed,
        (unsigned long long)torn);
    if (bad != 0 || torn != 0 || st.count != NUSERS || found == 0) {
        printf("lfht: FAIL\n");
        return 1;
    }
    for (uint64_t id = 0; id < NUSERS; id++) {
        if (smr_ht_delete(users, &cur[id]->node) != 0)
            return 1;
        smr_pool_free(pool, cur[id]);
    }
    if (smr_ht_destroy(users) != 0)
        return 1;
    smr_pool_destroy(pool);
    smr_destroy(smr);
    printf("lfht: OK\n");
    return 0;
}
