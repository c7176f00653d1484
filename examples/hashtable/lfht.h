/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * lfht: a concurrent hash map with lock-free lookups, built on libsmr.
 *
 * The shape is the one FreeBSD's tcp_hostcache and in_pcb hash use:
 *
 *   - lookups run inside an SMR read section and take no lock and do no
 *     atomic read-modify-write: they only load pointers (smr_entered_load);
 *   - inserts and removes are serialized per bucket by a mutex;
 *   - nodes come from an SMR pool on the map's domain, so a removed node is
 *     reused only after every lookup that could still see it has finished;
 *   - lfht_resize() builds a new bucket array while lookups keep running on
 *     the old one; lookups see either table, never a half-built one.
 *
 * Keys and values are 64-bit integers.  A value may be a pointer cast to
 * uint64_t; see lfht_lookup() for what that means for its lifetime.
 *
 * Errors are returned as errno values (0 on success), never set in errno,
 * except lfht_create(), which returns NULL and sets errno.
 */
#ifndef LFHT_H
#define LFHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <smr.h>

#ifdef __cplusplus
extern "C" {
#endif

struct lfht;

/*
 * A map with nbuckets buckets (rounded up to a power of two, at least 1),
 * whose lookups are protected by smr.  The map creates its own node pool
 * on smr; smr must outlive the map.  NULL + errno (EINVAL: smr is NULL or
 * nbuckets is 0 or too large; ENOMEM).
 */
struct lfht *lfht_create(size_t nbuckets, smr_t smr);

/*
 * Free the map and every node in it.  No other thread may use the map any
 * more, and the caller must be outside every section of the map's domain
 * (it waits for readers, as smr_synchronize does).
 */
void lfht_destroy(struct lfht *h);

/*
 * Look key up; if present, store its value in *val (val may be NULL) and
 * return true.  Never blocks, takes no lock, and may run concurrently with
 * every other call, lfht_resize() included.
 *
 * The caller may be inside or outside a section of the map's domain: the
 * lookup opens its own section, which nests inside the caller's and then
 * costs only a counter.  The difference matters when the value is a
 * pointer to memory that is itself reclaimed through the same domain (an
 * SMR pool object, or smr_retire): such a pointer stays valid only until
 * the caller leaves a section that was open before the call.  Call it
 * inside your own section, use the pointer, then smr_exit().  A plain
 * integer value needs no section at all.
 */
bool lfht_lookup(struct lfht *h, uint64_t key, uint64_t *val);

/*
 * Insert key -> val.  0, EEXIST (the key is present; its value is left
 * alone) or ENOMEM.  Blocks only on the key's bucket lock (and, while a
 * resize runs, until it has published the new table).  Legal inside a
 * section.
 */
int lfht_insert(struct lfht *h, uint64_t key, uint64_t val);

/*
 * Remove key, storing its value in *val (val may be NULL).  0 or ENOENT.
 * The node is given back to the pool, which reuses it only after every
 * section that could see it has ended.  Legal inside a section.
 */
int lfht_remove(struct lfht *h, uint64_t key, uint64_t *val);

/*
 * Rehash into nbuckets buckets (rounded up to a power of two).  Lookups
 * keep running, on the old table or the new one; inserts and removes wait
 * while the new table is built.  Returns once the old table is freed, so
 * the caller must be outside every section of the map's domain.  Resizes
 * are serialized.  0, EINVAL (nbuckets 0 or too large) or ENOMEM (the map
 * is unchanged).
 */
int lfht_resize(struct lfht *h, size_t nbuckets);

/* Number of keys (exact when no insert or remove is running). */
size_t lfht_count(struct lfht *h);

/* Buckets in the current table. */
size_t lfht_nbuckets(struct lfht *h);

/* The map's node pool (for smr_pool_stats and smr_pool_reclaim). */
smr_pool_t lfht_pool(struct lfht *h);

/*
 * Nodes carry a magic number that the pool's destructor overwrites once a
 * node's grace period has passed.  Lookups check it on every node they
 * walk; this is how many times one met a node that had already been
 * reclaimed.  Anything but 0 is a reclamation bug (in libsmr or here).
 */
uint64_t lfht_stale_seen(struct lfht *h);

#ifdef __cplusplus
}
#endif

#endif /* LFHT_H */
