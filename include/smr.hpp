/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * smr.hpp: the C++17 layer of libsmr, header-only, over <smr.h>.
 *
 *   smr::domain          owns a domain (smr_create/smr_destroy); throws
 *                        std::system_error with errno when creation fails
 *   smr::domain_ref      a non-owning handle: a domain or a plain smr_t
 *   smr::guard           RAII read section (smr_enter/smr_exit)
 *   smr::lazy_guard      RAII lazy read section (smr_lazy_enter/_exit)
 *   smr::pointer<T>      SMR_POINTER(T *): load() only with a guard,
 *                        store/exchange/load_serialized for writers
 *   smr::retire(d, p)    `delete p` once no section can see p (smr_retire)
 *   smr::pool<T>         SMR pool of T: constructed at alloc, destroyed
 *                        (~T) after the grace period, then reused
 *   smr::synchronize(d), smr::barrier(d), smr::thread_attach(d)
 *   smr::ht<T, Key, KeyOf>  the installed lock-free hash table
 *                        (<smr_ht.h>) over objects that derive from
 *                        smr::ht_hook; lookups take the guard
 *
 * The manual is smr_cpp(3); the C interface it wraps is smr(3),
 * smr_pool(3) and smr_retire(3).
 *
 * Memory ordering.  This header calls the C interface and nothing else:
 * it adds no fences and no ordering of its own, and it cannot weaken or
 * strengthen what smr(3) guarantees.  (Its one std::atomic, pool<T>'s
 * count of memory whose constructor threw, orders nothing; see there.)
 * What the classes rely on:
 *
 *  - guard / lazy_guard are smr_enter / smr_lazy_enter in the constructor
 *    and smr_exit / smr_lazy_exit in the destructor.  The section covers
 *    exactly the guard's lifetime; the fences are those of <smr.h>'s read
 *    path (the enter's store->load fence, or on lazy domains the poller's
 *    asymmetric barrier; the exit's release).
 *  - pointer<T>::load is smr_entered_load (acquire), paired with the
 *    release of store / exchange (smr_serialized_store / _swap): a reader
 *    sees the object's initialization.  load_serialized is relaxed: it is
 *    for the serialized writer only.
 *  - retire and pool<T>::free hand the object to smr_retire /
 *    smr_pool_free, whose reclamation runs only once smr_poll has seen
 *    every section that could hold the object end (smr_advance's seq_cst
 *    fence, smr_poll's acquire fence): `delete` and ~T happen after every
 *    access those sections made.
 *
 * Threads need no registration: a std::thread gets its slot at its first
 * section and loses it when it exits.  Reclamation (retire's delete, the
 * pool's ~T) runs on whichever thread reclaims, possibly inside that
 * thread's own section, with no libsmr lock held: destructors must not
 * throw, block on the same domain, or depend on the freeing thread.
 */
#ifndef SMR_HPP
#define SMR_HPP

#if !defined(__cplusplus) || __cplusplus < 201703L
#error "smr.hpp needs C++17 or later (-std=c++17); C programs include <smr.h>"
#endif

// <smr.h> is C: its inline read path uses C casts, and its statistics
// functions share their names with their structs.  Spare C++ users'
// -Wold-style-cast and -Wshadow those (GCC and Clang), for this include.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wshadow"
#include "smr.h"
#include "smr_ht.h"
#pragma GCC diagnostic pop

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace smr {

using seq_t = smr_seq_t;
using delta_t = smr_delta_t;

namespace detail {

// Failures are reported by exception; with -fno-exceptions they print a
// message and abort (there is nothing else a constructor can do).
[[noreturn]] inline void
fail(int err, const char *what)
{
#if defined(__cpp_exceptions)
    throw std::system_error(err, std::generic_category(), what);
#else
    std::fprintf(stderr, "libsmr: %s: %s\n", what, std::strerror(err));
    std::abort();
#endif
}

[[noreturn]] inline void
fail_alloc()
{
#if defined(__cpp_exceptions)
    throw std::bad_alloc();
#else
    std::fprintf(stderr, "libsmr: smr_pool_alloc: out of memory\n");
    std::abort();
#endif
}

} // namespace detail

class domain;

// A non-owning handle on a domain: converts from a domain and from a plain
// smr_t (so C-created domains work with everything here).  Cheap to copy;
// it must not outlive the domain.
class domain_ref {
public:
    constexpr domain_ref(smr_t s) noexcept : s_(s) {}
    domain_ref(const domain &d) noexcept;
    // Not from a temporary domain: it would be destroyed under the user.
    domain_ref(domain &&) = delete;

    constexpr smr_t get() const noexcept { return s_; }

private:
    smr_t s_;
};

// Owns one domain.  Creation failure throws std::system_error with the
// errno of smr_create (EINVAL: unknown flags, SMR_LAZY | SMR_DEFERRED,
// negative limit; ENOMEM).  Movable (the moved-from object is empty), not
// copyable.  The destructor runs smr_barrier, so retired objects are
// deleted first, then smr_destroy: no thread may be inside a section and
// no pool may still use the domain then (destroy pools first: declare the
// domain before them), or smr_destroy aborts, as in C.
//
// The operations are const: they are safe to call from any number of
// threads at once, as the C functions are.
class domain {
public:
    explicit domain(const char *name = nullptr, int limit = 0, int flags = 0)
        : s_(::smr_create(name, limit, flags))
    {
        if (s_ == nullptr)
            detail::fail(errno, "smr_create");
    }
    ~domain() { destroy(); }

    domain(domain &&o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    domain &
    operator=(domain &&o) noexcept
    {
        if (this != &o) {
            destroy();
            s_ = std::exchange(o.s_, nullptr);
        }
        return *this;
    }
    domain(const domain &) = delete;
    domain &operator=(const domain &) = delete;

    // Take ownership of a domain made by smr_create.
    static domain
    adopt(smr_t s) noexcept
    {
        return domain(s, adopt_tag{});
    }
    // Give ownership up (the caller destroys it); the object becomes empty.
    smr_t release() noexcept { return std::exchange(s_, nullptr); }

    smr_t get() const noexcept { return s_; }
    explicit operator bool() const noexcept { return s_ != nullptr; }
    const char *name() const noexcept { return ::smr_name(s_); }
    bool lazy_is_fence_free() const noexcept
    {
        return ::smr_lazy_is_fence_free(s_);
    }
    // Is the calling thread inside a section of this domain?
    bool entered() const noexcept { return ::smr_entered(s_); }

    seq_t advance() const noexcept { return ::smr_advance(s_); }
    seq_t current() const noexcept { return ::smr_current(s_); }
    // smr_poll(goal, false): never blocks.  False is an ordinary answer
    // ("not yet"), so ignoring it is a bug.
    [[nodiscard]] bool poll(seq_t goal) const noexcept
    {
        return ::smr_poll(s_, goal, false);
    }
    // smr_wait: true once the goal is reached; false only on misuse
    // (inside this thread's own section, a malformed goal), see smr(3).
    bool wait(seq_t goal) const noexcept { return ::smr_wait(s_, goal); }
    // smr_wait_timeout: false when the timeout passed first.
    [[nodiscard]] bool
    wait_for(seq_t goal, std::chrono::nanoseconds timeout) const noexcept
    {
        auto ns = timeout.count();
        return ::smr_wait_timeout(s_, goal,
            ns < 0 ? 0 : static_cast<uint64_t>(ns));
    }
    void synchronize() const noexcept { ::smr_synchronize(s_); }
    void barrier() const noexcept { ::smr_barrier(s_); }
    struct smr_stats
    stats() const noexcept
    {
        struct smr_stats st;
        ::smr_stats(s_, &st);
        return st;
    }

private:
    struct adopt_tag {};
    domain(smr_t s, adopt_tag) noexcept : s_(s) {}
    void
    destroy() noexcept
    {
        if (s_ != nullptr) {
            ::smr_barrier(s_);
            ::smr_destroy(s_);
            s_ = nullptr;
        }
    }

    smr_t s_;
};

inline domain_ref::domain_ref(const domain &d) noexcept : s_(d.get()) {}

// ---- read sections -------------------------------------------------------

// What pointer<T>::load asks for: proof that the calling thread holds an
// open section.  Only guard and lazy_guard are sections.  Not copyable,
// not movable: a section belongs to the thread that opened it, for the
// scope it was opened in.
class section {
public:
    section(const section &) = delete;
    section &operator=(const section &) = delete;

    smr_t get() const noexcept { return s_; }

private:
    friend class guard;
    friend class lazy_guard;
    friend class static_guard;
    explicit section(smr_t s) noexcept : s_(s) {}
    ~section() = default;

    smr_t s_;
};

// A read section of a domain for the guard's lifetime: smr_enter in the
// constructor, smr_exit in the destructor.  Sections nest (an inner guard
// costs a counter); sections of different domains are independent.
//
//     smr::guard g(dom);
//     node *n = head.load(g);     // valid until g goes out of scope
class [[nodiscard]] guard : public section {
public:
    explicit guard(domain_ref d) noexcept : section(d.get())
    {
        ::smr_enter(s_);
    }
    ~guard() { ::smr_exit(s_); }
};

// The same for a lazy domain (SMR_LAZY): smr_lazy_enter / smr_lazy_exit,
// no fence on the read side.  On other domains it is a guard.
class [[nodiscard]] lazy_guard : public section {
public:
    explicit lazy_guard(domain_ref d) noexcept : section(d.get())
    {
        ::smr_lazy_enter(s_);
    }
    ~lazy_guard() { ::smr_lazy_exit(s_); }
};

// A statically declared domain (SMR_DEFINE_STATIC[_LAZY](name) at
// namespace scope, smr_static(3)), as static_guard takes it: write
// SMR_STATIC(name).  domain_ref{smr_static(name)} serves every other use.
struct static_domain {
    struct smr__static *st;
    smr_seq_t *w;       // the thread's word (the declaration's __thread)
    bool lazy;
};
#define SMR_STATIC(name)                                                \
    (::smr::static_domain{&(name).s, &SMR__STATIC_W(name),               \
        SMR__STATIC_LAZY(name)})

// A read section of a statically declared domain: smr_static_enter in the
// constructor, smr_static_exit in the destructor (the shortest read path:
// no handle to follow).  Nests with guard and lazy_guard on
// smr_static(name).
//
//     SMR_DEFINE_STATIC_LAZY(conn_smr);
//     smr::static_guard g(SMR_STATIC(conn_smr));
//     conn *c = current.load(g);
class [[nodiscard]] static_guard : public section {
public:
    explicit static_guard(static_domain d) noexcept
        : section((smr_t)(void *)&d.st->st_u), st_(d.st), w_(d.w)
    {
#if defined(SMR_NO_INLINE)
        if (d.lazy)
            ::smr_lazy_enter(::smr__static_init(st_));
        else
            ::smr_enter(::smr__static_init(st_));
#else
        ::smr__static_enter(st_, w_, d.lazy);
#endif
    }
    ~static_guard()
    {
#if defined(SMR_NO_INLINE)
        ::smr_exit(s_);
#else
        ::smr__static_exit(st_, w_);
#endif
    }

private:
    struct smr__static *st_;
    smr_seq_t *w_;
};

// ---- the typed SMR pointer --------------------------------------------

// SMR_POINTER(T *) with its accessors as members.  Readers load only
// inside a section, by passing the guard (a temporary guard is refused: the
// pointer would outlive its section).  Writers store under their own
// serialization (a lock, a single writer thread); `ex` is the C macros'
// assertion that they hold it, checked in SMR_DEBUG builds.  Unlike the C
// macros' argument it is a function argument here, so it is evaluated in
// every build: pass something cheap, or nothing.
//
// Not copyable or movable (it is a shared location, like std::atomic).
// The layout is that of SMR_POINTER(T *): one pointer.
template <class T>
class pointer {
    static_assert(std::is_object_v<T>, "smr::pointer<T>: T is an object type");

public:
    using element_type = T;

    constexpr pointer() noexcept : p_{nullptr} {}
    // Initialize before publishing (no ordering: nobody can see it yet).
    constexpr explicit pointer(T *v) noexcept : p_{v} {}
    pointer(const pointer &) = delete;
    pointer &operator=(const pointer &) = delete;

    // Inside a section (smr_entered_load, acquire): the object and what
    // the writer stored into it before publishing are visible, and stay
    // valid until the section ends.
    T *
    load(const section &s) const noexcept
    {
        return smr_entered_load(&p_, s.get());
    }
    T *load(const section &&) const = delete;

    // The serialized writer's load (relaxed: nobody else stores).
    T *
    load_serialized(bool ex = true) const noexcept
    {
        return smr_serialized_load(&p_, ex);
    }
    // Publish v (release, partner of load's acquire).
    void
    store(T *v, bool ex = true) noexcept
    {
        smr_serialized_store(&p_, v, ex);
    }
    // Publish v and return the pointer it replaced (to free or retire).
    T *
    exchange(T *v, bool ex = true) noexcept
    {
        return smr_serialized_swap(&p_, v, ex);
    }
    // Neither a section nor serialization: the caller knows why it is safe
    // (the pointer is only compared, the object is not yet published).
    T *
    load_unserialized() const noexcept
    {
        return smr_unserialized_load(&p_, true);
    }
    void
    store_unserialized(T *v) noexcept
    {
        smr_unserialized_store(&p_, v, true);
    }

private:
    SMR_POINTER(T *) p_;
};

// ---- retire: delete after the grace period ------------------------------

namespace detail {

// smr_retire's callback, one per type: the type comes back from the
// template argument, not from the void pointer.
template <class T, class Deleter>
void
retire_reclaim(void *p) noexcept
{
    Deleter()(static_cast<T *>(p));
}

} // namespace detail

// Run Deleter (default: `delete p`) once every section of d that could
// have seen p has ended.  p must already be unreachable for new readers.
// The deleter runs on whichever thread reclaims (see the top of this
// file) and must not throw; it sees the static type T, so deleting
// through a base class needs a virtual destructor, as `delete` does.
// Deleter is a stateless class (std::default_delete<T[]> for new[]).
// A null p does nothing.  smr::barrier(d) waits for every earlier retire.
template <class T, class Deleter = std::default_delete<T>>
void
retire(domain_ref d, T *p) noexcept
{
    static_assert(!std::is_void_v<T>,
        "smr::retire(void *) cannot know the type: call smr_retire");
    static_assert(std::is_empty_v<Deleter> &&
        std::is_default_constructible_v<Deleter>,
        "smr::retire: the deleter must be a stateless class");
    if (p == nullptr)
        return;
    ::smr_retire(d.get(), const_cast<void *>(static_cast<const volatile void *>(p)),
        &detail::retire_reclaim<T, Deleter>);
}

// ---- free functions ----------------------------------------------------

// Returns once every section of d open at the call has ended (aborts if
// called inside one, as smr_synchronize does).
inline void
synchronize(domain_ref d) noexcept
{
    ::smr_synchronize(d.get());
}

// Returns once every retire on d made before the call has been reclaimed.
inline void
barrier(domain_ref d) noexcept
{
    ::smr_barrier(d.get());
}

// Reserve the calling thread's slot on d now (then guards on d are
// async-signal-safe on this thread); an error code instead of an abort
// when memory is short.
[[nodiscard]] inline std::error_code
thread_attach(domain_ref d) noexcept
{
    return std::error_code(::smr_thread_attach(d.get()),
        std::generic_category());
}

inline void
thread_detach(domain_ref d) noexcept
{
    ::smr_thread_detach(d.get());
}

// ---- the typed pool ------------------------------------------------------

struct pool_options {
    int flags = 0;                  // 0 or SMR_POOL_NOWAIT
    std::size_t pending_cap = 0;    // 0: the default (smr_pool(3))
    unsigned bucket_max = 0;        // 0: the default
};

// An SMR pool of T (smr_pool_create_args).  alloc(args...) takes memory
// from the pool and constructs a T there with those arguments; free(p)
// gives it back, and ~T runs only after the grace period (the pool's dtor
// hook), just before the memory is reused for another T.  So:
//
//  - memory is type-stable: a freed T's memory holds that T until its
//    grace period has passed, then only ever another T;
//  - a reader inside a section may find a T that has been freed but is
//    still pending: it is intact, not yet destroyed (check a state field
//    of your own if "removed" matters); it never finds one that ~T has
//    run on, or memory that is not a T;
//  - ~T runs on whichever thread reclaims, possibly inside that thread's
//    own section, or in the pool's destructor: it must not throw, block on
//    the domain, or depend on the thread that freed the object.
//
// With a null domain the pool is a plain object cache: ~T runs in free()
// and reuse is immediate (no protection for readers).
//
// Creation failure throws std::system_error (smr_pool_create_args's errno);
// alloc throws std::bad_alloc when the pool has no memory, and whatever
// T's constructor throws (the memory then goes back to the pool without
// ~T).  The destructor runs smr_pool_destroy: every object must have been
// freed by then; it waits for the pending ones and destroys them.  Destroy
// the pool before its domain.  Movable, not copyable; alloc, free, stats
// and reclaim may be called from any number of threads at once.
template <class T>
class pool {
    static_assert(std::is_object_v<T> && !std::is_array_v<T> &&
        !std::is_const_v<T> && !std::is_volatile_v<T>,
        "smr::pool<T>: T is a non-const, non-array object type");
    static_assert(std::is_nothrow_destructible_v<T>,
        "smr::pool<T>: ~T runs in a reclaim callback and must not throw");

public:
    explicit pool(domain_ref d, const char *name = nullptr,
        const pool_options &o = {})
        : st_(std::make_unique<state>())
    {
        struct smr_pool_args a;

        std::memset(&a, 0, sizeof(a));
        a.size = sizeof(T);
        a.align = alignof(T);
        a.smr = d.get();
        a.flags = o.flags;
        a.dtor = &pool::dtor_hook;
        a.arg = st_.get();
        a.pending_cap = o.pending_cap;
        a.bucket_max = o.bucket_max;
        p_ = ::smr_pool_create_args(name, &a);
        if (p_ == nullptr)
            detail::fail(errno, "smr_pool_create_args");
    }
    ~pool() { destroy(); }

    pool(pool &&o) noexcept
        : p_(std::exchange(o.p_, nullptr)), st_(std::move(o.st_))
    {
    }
    pool &
    operator=(pool &&o) noexcept
    {
        if (this != &o) {
            destroy();
            p_ = std::exchange(o.p_, nullptr);
            st_ = std::move(o.st_);
        }
        return *this;
    }
    pool(const pool &) = delete;
    pool &operator=(const pool &) = delete;

    // A new T(args...) in pool memory (brace-initialized when T has no
    // such constructor: aggregates).  Never waits for readers, so it may be
    // called inside a section.
    template <class... A>
    [[nodiscard]] T *
    alloc(A &&...args)
    {
        void *m = ::smr_pool_alloc(p_);

        if (m == nullptr)
            detail::fail_alloc();
#if defined(__cpp_exceptions)
        try {
            return construct(m, std::forward<A>(args)...);
        } catch (...) {
            drop(m);
            throw;
        }
#else
        return construct(m, std::forward<A>(args)...);
#endif
    }

    // Give obj back: it must already be unreachable for new readers.  ~T
    // runs after the grace period.  A null obj does nothing.
    void free(T *obj) noexcept { ::smr_pool_free(p_, obj); }

    struct smr_pool_stats
    stats() const noexcept
    {
        struct smr_pool_stats st;
        ::smr_pool_stats(p_, &st);
        return st;
    }
    // smr_pool_reclaim: destroy what has expired, give empty slabs back.
    void reclaim() noexcept { ::smr_pool_reclaim(p_); }
    smr_pool_t get() const noexcept { return p_; }

private:
    // Memory whose constructor threw goes back to the pool with free(), so
    // the dtor hook must know not to run ~T on it: it is listed in
    // `raw` (rare; the hook pays one relaxed load while the list is empty).
    // On the heap, so the hook's argument survives a move of the pool.
    struct state {
        std::atomic<std::size_t> nraw{0};
        std::mutex mu;
        std::vector<void *> raw;
    };

    template <class... A>
    static T *
    construct(void *m, A &&...args)
    {
        if constexpr (std::is_constructible_v<T, A &&...>)
            return ::new (m) T(std::forward<A>(args)...);
        else
            return ::new (m) T{std::forward<A>(args)...};
    }

    // The constructor threw: m holds no T.  If even the note cannot be
    // made (out of memory), m stays allocated: a leak, never a ~T on raw
    // memory.
    void
    drop(void *m) noexcept
    {
#if defined(__cpp_exceptions)
        try {
            std::lock_guard<std::mutex> lk(st_->mu);
            st_->raw.push_back(m);
            st_->nraw.fetch_add(1, std::memory_order_relaxed);
        } catch (...) {
            return;
        }
#else
        {
            std::lock_guard<std::mutex> lk(st_->mu);
            st_->raw.push_back(m);
            st_->nraw.fetch_add(1, std::memory_order_relaxed);
        }
#endif
        ::smr_pool_free(p_, m);
    }

    // The pool's dtor hook: after obj's grace period (in free() on a plain
    // cache), on the reclaiming thread.  The note in drop() happens before
    // smr_pool_free(m), which happens before this call for m (the pool's
    // own synchronization), so a relaxed load cannot miss it.
    static void
    dtor_hook(void *obj, void *arg) noexcept
    {
        state *st = static_cast<state *>(arg);

        if (st->nraw.load(std::memory_order_relaxed) != 0) {
            std::lock_guard<std::mutex> lk(st->mu);
            auto it = std::find(st->raw.begin(), st->raw.end(), obj);
            if (it != st->raw.end()) {
                st->raw.erase(it);
                st->nraw.fetch_sub(1, std::memory_order_relaxed);
                return;
            }
        }
        std::launder(static_cast<T *>(obj))->~T();
    }

    void
    destroy() noexcept
    {
        if (p_ != nullptr) {
            ::smr_pool_destroy(p_);
            p_ = nullptr;
        }
    }

    smr_pool_t p_ = nullptr;
    std::unique_ptr<state> st_;
};

// ---- the hash table (smr_ht(3)) ------------------------------------------

// What an object needs to be in an smr::ht: derive from it (one node of
// smr_ht.h's, two words).  An object is in at most one table at a time.
struct ht_hook {
    ::smr_ht_node ht_node_{};
};

namespace detail {

// smr_ht picks buckets from the hash's low bits: mix them, since
// std::hash of an integer is often the identity (splitmix64's finalizer).
inline std::uint64_t
ht_mix(std::uint64_t h) noexcept
{
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

} // namespace detail

// A typed smr_ht: intrusive (objects derive from ht_hook and stay the
// caller's), keyed by KeyOf{}(obj) (a Key, or something that converts to
// one), hashed by Hash and compared by Eq.  Readers pass the guard of the
// table's domain, so a lookup outside a section does not compile;
// writers are lock-free and may run on any number of threads.  The table
// never frees an object: after erase or replace returns true the removed
// object is the caller's but may still be read by readers, so hand it to
// smr::retire, to its smr::pool<T>'s free, or free it after a grace
// period.
//
//     struct conn : smr::ht_hook { std::uint64_t id; ... };
//     struct conn_id { std::uint64_t operator()(const conn &c) const
//                      { return c.id; } };
//     smr::ht<conn, std::uint64_t, conn_id> table(dom);
//     { smr::guard g(dom); if (conn *c = table.lookup(42, g)) ...; }
//     if (table.erase(*c)) smr::retire(dom, c);
//
// Memory ordering: only the C calls' (smr_ht(3)): an inserted object's
// initialisation is visible to a reader that finds it.  Not copyable;
// movable.  The destructor needs an empty table (it aborts with a message
// if objects remain: their memory is the caller's, and the table cannot
// know how to release it); call it outside every read section.
template <class T, class Key, class KeyOf, class Hash = std::hash<Key>,
    class Eq = std::equal_to<Key>>
class ht {
    static_assert(std::is_base_of_v<ht_hook, T>,
        "smr::ht<T, ...>: T must derive from smr::ht_hook");

public:
    struct options {
        std::size_t init_buckets = 0;   // 0: 16
        std::size_t min_buckets = 0;    // automatic shrink floor (0: 16)
        std::size_t max_buckets = 0;    // automatic growth ceiling
        bool manual_resize = false;     // SMR_HT_MANUAL_RESIZE
        const char *name = nullptr;
    };

    explicit ht(domain_ref d) : ht(d, options{}) {}

    ht(domain_ref d, const options &o)
    {
        ::smr_ht_args a{};

        a.hash = &hash_tr;
        a.match = &match_tr;
        a.arg = nullptr;
        a.name = o.name;
        a.init_buckets = o.init_buckets;
        a.min_buckets = o.min_buckets;
        a.max_buckets = o.max_buckets;
        a.flags = o.manual_resize ? SMR_HT_MANUAL_RESIZE : 0;
        h_ = ::smr_ht_create(d.get(), &a);
        if (h_ == nullptr)
            detail::fail(errno, "smr_ht_create");
    }

    ht(const ht &) = delete;
    ht &operator=(const ht &) = delete;
    ht(ht &&o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
    ht &
    operator=(ht &&o) noexcept
    {
        if (this != &o) {
            destroy();
            h_ = std::exchange(o.h_, nullptr);
        }
        return *this;
    }
    ~ht() { destroy(); }

    // Readers: inside a section of the table's domain.  The object found
    // is valid until that section ends.
    T *
    lookup(const Key &k, const section &) const noexcept
    {
        return owner(::smr_ht_lookup(h_, &k));
    }
    // The next object after obj with key k (duplicates), or nullptr.
    T *
    next_dup(T &obj, const Key &k, const section &) const noexcept
    {
        return owner(::smr_ht_next_dup(h_, node(obj), &k));
    }
    // f(T &) for every object (in no useful order; one present for the
    // whole walk is seen once, one inserted or removed meanwhile may or
    // may not be).
    template <class F>
    void
    for_each(const section &, F &&f) const
    {
        for (::smr_ht_node *n = ::smr_ht_first(h_); n != nullptr;
            n = ::smr_ht_next(h_, n))
            f(*owner(n));
    }

    // Writers (lock-free; inside or outside a section).
    void
    insert(T &obj) noexcept
    {
        Key k = KeyOf{}(obj);

        ::smr_ht_insert(h_, node(obj), &k);
    }
    // &obj if it was inserted, else the object already there under its
    // key (valid while the caller's own section lasts: pass one).
    T *
    insert_unique(T &obj, const section &) noexcept
    {
        Key k = KeyOf{}(obj);

        return owner(::smr_ht_insert_unique(h_, node(obj), &k));
    }
    // true: obj is out (the caller's to reclaim); false: someone else
    // removed it first.
    [[nodiscard]] bool
    erase(T &obj) noexcept
    {
        return ::smr_ht_delete(h_, node(obj)) == 0;
    }
    // nu (same key, not in a table) takes old's place in one step.  true:
    // old is out (the caller's to reclaim); false: old was already gone
    // and nu was not inserted.
    [[nodiscard]] bool
    replace(T &old, T &nu) noexcept
    {
        return ::smr_ht_replace(h_, node(old), node(nu)) == 0;
    }

    // 0, EINVAL or ENOMEM (the table keeps its size).
    int resize(std::size_t nbuckets) noexcept
    {
        return ::smr_ht_resize(h_, nbuckets);
    }
    std::size_t size() const noexcept { return ::smr_ht_count(h_); }
    std::size_t buckets() const noexcept { return ::smr_ht_buckets(h_); }
    ::smr_ht_t get() const noexcept { return h_; }

private:
    static ::smr_ht_node *
    node(T &obj) noexcept
    {
        return &static_cast<ht_hook &>(obj).ht_node_;
    }
    // ht_hook is standard-layout with the node its first member, so the
    // node's address is the hook's (pointer-interconvertible).
    static T *
    owner(::smr_ht_node *n) noexcept
    {
        return n == nullptr ? nullptr :
            static_cast<T *>(reinterpret_cast<ht_hook *>(n));
    }
    static const T *
    owner(const ::smr_ht_node *n) noexcept
    {
        return static_cast<const T *>(reinterpret_cast<const ht_hook *>(n));
    }
    static std::uint64_t
    hash_tr(const void *key, void *) noexcept
    {
        return detail::ht_mix(static_cast<std::uint64_t>(
            Hash{}(*static_cast<const Key *>(key))));
    }
    static bool
    match_tr(const ::smr_ht_node *n, const void *key, void *) noexcept
    {
        return Eq{}(Key(KeyOf{}(*owner(n))), *static_cast<const Key *>(key));
    }
    void
    destroy() noexcept
    {
        if (h_ != nullptr && ::smr_ht_destroy(h_) != 0) {
            std::fprintf(stderr, "libsmr: smr::ht destroyed with objects "
                "still in it (erase and reclaim them first)\n");
            std::abort();
        }
        h_ = nullptr;
    }

    ::smr_ht_t h_ = nullptr;
};

} // namespace smr

#endif // SMR_HPP
