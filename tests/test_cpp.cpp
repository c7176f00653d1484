// SPDX-License-Identifier: BSD-2-Clause
//
// test_cpp: smr.hpp, the C++ layer.  A plain main() program (no
// Criterion), built twice: with the project's C++ compiler as C++17 and
// with clang++ as C++20, both -Wall -Wextra -pedantic -Werror.
//
//   test_cpp                       every test below, then a short stress
//   test_cpp stress MODE SECONDS   only the stress run, in one mode:
//     default, deferred, lazy      correct use: must see no violation
//     nograce                      broken on purpose: the writer skips the
//                                  grace period (a pool without a domain,
//                                  `delete` instead of retire)
//     noguard                      broken on purpose: readers hold a guard
//                                  on another domain, not on the writer's
//   The broken modes must be caught (ctest runs them through
//   tests/torture/expect_caught.sh): exit status 1 and a line
//   "test_cpp: stress MODE: ... violations=N" with N > 0.
//
// Tests: domain (errors, move, adopt), guard nesting (fenced, lazy, past
// the inline depth, two domains), guards across std::thread and blocking
// reclamation, the typed pointer (compile-time refusals included), retire
// with delete (counted, custom deleter, virtual destructor), pool<T>
// (constructor at alloc with forwarded arguments, ~T only after the grace
// period, a throwing constructor, plain cache, alignment), synchronize and
// barrier, and the generation-stamp stress.
//
// Exit status 0 on success, 1 on a failed check, 2 on bad usage.
#include <smr.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

SMR_DEFINE_STATIC_LAZY(cpp_static);

namespace {

int failures;

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            std::fprintf(stderr, "test_cpp: %s:%d: check failed: %s\n",     \
                __FILE__, __LINE__, #cond);                                 \
            failures++;                                                     \
        }                                                                   \
    } while (0)

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

// Wait (bounded) until pred() holds; false if it never did.
template <class P>
bool
eventually(P pred, std::chrono::milliseconds limit = 10s)
{
    auto end = clk::now() + limit;

    while (!pred()) {
        if (clk::now() > end)
            return false;
        std::this_thread::sleep_for(100us);
    }
    return true;
}

// ---- compile-time properties ----------------------------------------------

template <class P, class G, class = void>
struct can_load : std::false_type {};
template <class P, class G>
struct can_load<P, G,
    std::void_t<decltype(std::declval<const P &>().load(std::declval<G>()))>>
    : std::true_type {};

using ip = smr::pointer<int>;
static_assert(can_load<ip, const smr::guard &>::value, "load with a guard");
static_assert(can_load<ip, smr::lazy_guard &>::value, "load with a lazy guard");
static_assert(can_load<ip, smr::static_guard &>::value, "and a static one");
static_assert(!std::is_copy_constructible_v<smr::static_guard> &&
    !std::is_move_constructible_v<smr::static_guard>, "static: neither");
static_assert(!can_load<ip, smr::guard &&>::value,
    "load refuses a temporary guard (the pointer would outlive it)");
static_assert(!can_load<ip, const smr::domain &>::value,
    "load needs a section, not a domain");
static_assert(!can_load<ip, smr_t>::value, "load needs a section");
static_assert(sizeof(smr::pointer<int>) == sizeof(int *), "one pointer");
static_assert(!std::is_copy_constructible_v<smr::guard> &&
    !std::is_move_constructible_v<smr::guard> &&
    !std::is_copy_assignable_v<smr::guard>, "guards stay where they are");
static_assert(!std::is_move_constructible_v<smr::lazy_guard>, "lazy too");
static_assert(!std::is_copy_constructible_v<smr::pointer<int>> &&
    !std::is_move_constructible_v<smr::pointer<int>>, "pointer: a location");
static_assert(!std::is_copy_constructible_v<smr::domain> &&
    std::is_nothrow_move_constructible_v<smr::domain> &&
    std::is_nothrow_move_assignable_v<smr::domain>, "domain: move only");
static_assert(!std::is_copy_constructible_v<smr::pool<int>> &&
    std::is_nothrow_move_constructible_v<smr::pool<int>>, "pool: move only");
static_assert(std::is_convertible_v<const smr::domain &, smr::domain_ref> &&
    std::is_convertible_v<smr_t, smr::domain_ref>, "domain_ref");
static_assert(!std::is_convertible_v<smr::domain_ref, smr::guard>,
    "a guard is never made implicitly");
static_assert(!std::is_constructible_v<smr::domain_ref, smr::domain &&> &&
    !std::is_constructible_v<smr::guard, smr::domain &&> &&
    !std::is_constructible_v<smr::pool<int>, smr::domain &&>,
    "nothing takes a temporary domain (it would be destroyed under it)");

// ---- domain -----------------------------------------------------------------

void
test_domain()
{
    for (int flags : { SMR_LAZY | SMR_DEFERRED, 0x4000 }) {
        bool thrown = false;
        try {
            smr::domain bad("bad", 0, flags);
        } catch (const std::system_error &e) {
            thrown = e.code() == std::errc::invalid_argument;
        }
        CHECK(thrown);
    }
    bool thrown = false;
    try {
        smr::domain bad("bad", -1, 0);
    } catch (const std::system_error &e) {
        thrown = e.code().value() == EINVAL;
    }
    CHECK(thrown);

    smr::domain a("cpp-a");
    CHECK(a && a.get() != nullptr);
    CHECK(std::strcmp(a.name(), "cpp-a") == 0);
    CHECK(!a.lazy_is_fence_free());
    smr_t raw = a.get();
    smr::domain b = std::move(a);
    CHECK(!a && b.get() == raw);
    smr::domain c("cpp-c", 4, SMR_DEFERRED);
    c = std::move(b);               // destroys cpp-c, takes cpp-a
    CHECK(!b && c.get() == raw);

    smr::seq_t g = c.advance();
    CHECK(g != SMR_SEQ_INVALID);
    CHECK(c.wait(g));
    CHECK(c.poll(g));
    CHECK(SMR_SEQ_GEQ(c.current(), g));
    CHECK(c.wait_for(c.advance(), 10s));
    CHECK(c.stats().advance >= 2);

    smr_t own = smr_create("cpp-adopt", 0, 0);
    CHECK(own != nullptr);
    {
        smr::domain d = smr::domain::adopt(own);
        CHECK(d.get() == own);
        smr_t back = d.release();
        CHECK(!d && back == own);
    }
    smr_destroy(own);               // still ours after release()

    smr::domain lz("cpp-lazy", 0, SMR_LAZY);
    smr::synchronize(lz);
    CHECK(!smr::thread_attach(lz));
    smr::thread_detach(lz);
}

// ---- guards -------------------------------------------------------------

void
nest(const smr::domain &d, int depth)
{
    smr::guard g(d);

    if (depth > 1)
        nest(d, depth - 1);
    CHECK(d.entered());
}

void
test_guard_nesting()
{
    smr::domain d("cpp-nest");
    smr::domain lz("cpp-nest-lazy", 0, SMR_LAZY);
    smr::domain other("cpp-nest-other");

    CHECK(!d.entered() && !smr_entered_any());
    {
        smr::guard g1(d);
        CHECK(d.entered() && !other.entered() && !lz.entered());
        {
            smr::guard g2(d);
            smr::lazy_guard g3(d);  // lazy guard on a fenced domain
            smr::guard g4(other);
            CHECK(d.entered() && other.entered());
        }
        CHECK(d.entered() && !other.entered());
        smr::lazy_guard l1(lz);
        {
            smr::lazy_guard l2(lz);
            smr::guard l3(lz);
            CHECK(lz.entered());
        }
        CHECK(lz.entered());
    }
    CHECK(!d.entered() && !lz.entered() && !smr_entered_any());
    {
        // A statically declared domain's guard, nested with the handle
        // API's on the same domain.
        smr::domain_ref sd{smr_static(cpp_static)};
        smr::static_guard s1(SMR_STATIC(cpp_static));
        CHECK(smr_entered(smr_static(cpp_static)));
        {
            smr::lazy_guard s2(sd);
            smr::static_guard s3(SMR_STATIC(cpp_static));
        }
        CHECK(smr_entered(smr_static(cpp_static)));
    }
    CHECK(!smr_entered(smr_static(cpp_static)) && !smr_entered_any());
    nest(d, 600);                   // past the inline depth (254)
    CHECK(!d.entered());

    // A guard from a plain smr_t.
    smr_t raw = d.get();
    {
        smr::guard g(raw);
        CHECK(smr_entered(raw));
    }
    CHECK(!smr_entered(raw));
}

// A guard on another std::thread holds reclamation back until it ends;
// threads need no registration.
void
test_guard_threads()
{
    smr::domain d("cpp-threads");
    std::atomic<bool> inside{false}, leave{false}, synced{false};
    smr::seq_t goal;

    std::thread reader([&] {
        smr::guard g(d);
        CHECK(d.entered());
        inside.store(true);
        while (!leave.load())
            std::this_thread::sleep_for(100us);
    });
    CHECK(eventually([&] { return inside.load(); }));
    goal = d.advance();
    CHECK(!d.poll(goal));
    CHECK(!d.wait_for(goal, 20ms));
    std::thread syncer([&] {
        smr::synchronize(d);
        synced.store(true);
    });
    std::this_thread::sleep_for(50ms);
    CHECK(!synced.load());          // the reader is still inside
    CHECK(!d.poll(goal));
    leave.store(true);
    reader.join();
    syncer.join();
    CHECK(synced.load());
    CHECK(d.wait(goal));
    CHECK(d.poll(goal));

    // Many short-lived threads, nested guards on two domains.
    smr::domain lz("cpp-threads-lazy", 0, SMR_LAZY);
    smr::pointer<int> p;
    int value = 7;
    std::atomic<int> seen{0};
    std::vector<std::thread> ts;

    p.store(&value);
    for (int t = 0; t < 8; t++)
        ts.emplace_back([&] {
            for (int i = 0; i < 1000; i++) {
                smr::lazy_guard l(lz);
                smr::guard g(d);
                smr::guard g2(d);
                if (*p.load(g2) == 7 && *p.load(l) == 7)
                    seen.fetch_add(1, std::memory_order_relaxed);
            }
            CHECK(!d.entered() && !lz.entered());
        });
    for (auto &t : ts)
        t.join();
    CHECK(seen.load() == 8000);
    d.synchronize();
    lz.synchronize();
    CHECK(d.stats().live_slots <= 1);   // exited threads gave theirs back
}

// ---- typed pointer ----------------------------------------------------------

struct node {
    int key;
    smr::pointer<node> next;
    explicit node(int k, node *n = nullptr) : key(k), next(n) {}
};

void
test_pointer()
{
    smr::domain d("cpp-ptr");
    smr::pointer<node> head;
    node n3(3), n2(2, &n3), n1(1);

    CHECK(head.load_serialized() == nullptr);
    CHECK(head.load_unserialized() == nullptr);
    n1.next.store_unserialized(&n2);    // not yet published
    head.store(&n1);
    CHECK(head.load_serialized(true) == &n1);
    {
        smr::guard g(d);
        int sum = 0;
        for (node *n = head.load(g); n != nullptr; n = n->next.load(g))
            sum += n->key;
        CHECK(sum == 6);
    }
    node *old = head.exchange(&n2);
    CHECK(old == &n1);
    {
        smr::lazy_guard g(d);
        CHECK(head.load(g) == &n2);
    }
    smr::pointer<const node> c(&n3);
    {
        smr::guard g(d);
        CHECK(c.load(g)->key == 3);
    }
    head.store(nullptr, head.load_serialized() != nullptr);
    CHECK(head.load_serialized() == nullptr);
}

// ---- retire -----------------------------------------------------------------

std::atomic<int> counted_dtors{0};

struct counted {
    int v;
    explicit counted(int x) : v(x) {}
    ~counted() { counted_dtors.fetch_add(1); }
};

struct base {
    virtual ~base() = default;
};
std::atomic<int> derived_dtors{0};
struct derived : base {
    std::string payload = std::string(100, 'x');
    ~derived() override { derived_dtors.fetch_add(1); }
};

std::atomic<int> deleter_calls{0};
struct counting_deleter {
    void
    operator()(counted *p) const
    {
        deleter_calls.fetch_add(1);
        delete p;
    }
};

void
test_retire()
{
    smr::domain d("cpp-retire");

    counted_dtors = 0;
    for (int i = 0; i < 1000; i++)
        smr::retire(d, new counted(i));
    smr::retire(d, static_cast<counted *>(nullptr));    // nothing
    smr::barrier(d);
    CHECK(counted_dtors.load() == 1000);

    // Nothing is deleted while a section that could see it is open (and
    // no retire may wait for that section: NOWAIT, a cap well above).
    CHECK(smr_retire_set_limits(d.get(), 1 << 16, SMR_RETIRE_NOWAIT) == 0);
    std::atomic<bool> inside{false}, leave{false};
    smr::pointer<counted> slot;
    slot.store(new counted(-1));
    std::thread reader([&] {
        smr::guard g(d);
        counted *c = slot.load(g);
        inside.store(true);
        while (!leave.load())
            std::this_thread::sleep_for(100us);
        CHECK(c->v == -1);          // still intact: retired, not deleted
    });
    CHECK(eventually([&] { return inside.load(); }));
    counted_dtors = 0;
    smr::retire(d, slot.exchange(nullptr));
    for (int i = 0; i < 200; i++)   // later retires try to reclaim
        smr::retire(d, new counted(i));
    std::this_thread::sleep_for(20ms);
    for (int i = 0; i < 10; i++)
        smr::retire(d, new counted(i));
    CHECK(counted_dtors.load() == 0);
    CHECK(smr_retire_pending(d.get()) == 211);
    leave.store(true);
    reader.join();
    smr::barrier(d);
    CHECK(counted_dtors.load() == 211);
    CHECK(smr_retire_pending(d.get()) == 0);

    // The type comes back: a virtual destructor through the base, a
    // custom deleter, and const objects.
    derived_dtors = 0;
    for (int i = 0; i < 10; i++)
        smr::retire(d, static_cast<base *>(new derived));
    deleter_calls = 0;
    counted_dtors = 0;
    smr::retire<counted, counting_deleter>(d, new counted(5));
    smr::retire(d, static_cast<const counted *>(new counted(6)));
    smr::retire<int, std::default_delete<int[]>>(d, new int[8]);
    d.barrier();
    CHECK(derived_dtors.load() == 10);
    CHECK(deleter_calls.load() == 1);
    CHECK(counted_dtors.load() == 2);

    // The domain's destructor runs smr_barrier: pending retires complete.
    counted_dtors = 0;
    {
        smr::domain e("cpp-retire-dtor");
        for (int i = 0; i < 5; i++)
            smr::retire(e, new counted(i));
    }
    CHECK(counted_dtors.load() == 5);
}

// ---- pool -------------------------------------------------------------------

std::atomic<int> item_ctors{0}, item_dtors{0};

struct item {
    int a;
    std::string s;
    std::unique_ptr<int> u;
    item(int x, std::string str, std::unique_ptr<int> up)
        : a(x), s(std::move(str)), u(std::move(up))
    {
        if (x < 0)
            throw std::runtime_error("negative");
        item_ctors.fetch_add(1);
    }
    ~item() { item_dtors.fetch_add(1); }
};

struct agg {
    int x, y;
};

struct alignas(64) wide {
    char c[3];
};

void
test_pool()
{
    item_ctors = 0;
    item_dtors = 0;
    {
        smr::domain d("cpp-pool");
        // A reader stays inside while hundreds are freed: a free must
        // never wait for it here (NOWAIT), nor meet a cap (well above).
        smr::pool_options po;
        po.flags = SMR_POOL_NOWAIT;
        po.pending_cap = 1 << 16;
        smr::pool<item> pl(d, "items", po);
        std::vector<item *> v;

        // Constructed at alloc, with forwarded (move-only) arguments.
        for (int i = 0; i < 100; i++)
            v.push_back(pl.alloc(i, std::string(40, 'a' + i % 26),
                std::make_unique<int>(i * 2)));
        CHECK(item_ctors.load() == 100 && item_dtors.load() == 0);
        CHECK(v[7]->a == 7 && v[7]->s.size() == 40 && *v[7]->u == 14);
        CHECK(pl.stats().in_use == 100);

        // Freed while a reader is inside: ~T waits for it, and the reader
        // reads intact (pending, not destroyed) objects.
        smr::pointer<item> slot;
        slot.store(v[0]);
        std::atomic<bool> inside{false}, leave{false};
        std::thread reader([&] {
            smr::guard g(d);
            item *it = slot.load(g);
            inside.store(true);
            while (!leave.load())
                std::this_thread::sleep_for(100us);
            CHECK(it->a == 0 && it->s == std::string(40, 'a') &&
                *it->u == 0);
        });
        CHECK(eventually([&] { return inside.load(); }));
        slot.store(nullptr);
        for (item *it : v)
            pl.free(it);
        v.clear();
        for (int round = 0; round < 5; round++) {   // churn, under the cap
            for (int i = 0; i < 100; i++)
                v.push_back(pl.alloc(i, "churn", nullptr));
            for (item *it : v)
                pl.free(it);
            v.clear();
            pl.reclaim();
            std::this_thread::sleep_for(2ms);
        }
        CHECK(item_dtors.load() == 0);      // nothing destroyed yet
        CHECK(pl.stats().pending >= 100);
        leave.store(true);
        reader.join();

        // After the grace period ~T runs before reuse, not only at the end.
        CHECK(eventually([&] {
            item *it = pl.alloc(1, "again", nullptr);
            pl.free(it);
            return item_dtors.load() > 0;
        }));
        CHECK(item_dtors.load() <= item_ctors.load());

        // A throwing constructor: the exception comes through, the memory
        // goes back without ~T.
        int ctors = item_ctors.load(), dtors = item_dtors.load();
        size_t in_use = pl.stats().in_use;
        bool thrown = false;
        try {
            (void)pl.alloc(-1, "throws", nullptr);
        } catch (const std::runtime_error &) {
            thrown = true;
        }
        CHECK(thrown);
        CHECK(item_ctors.load() == ctors && item_dtors.load() == dtors);
        CHECK(pl.stats().in_use == in_use);

        // Move: the pool keeps working, its hooks keep their state.
        smr::pool<item> moved = std::move(pl);
        CHECK(moved.get() != nullptr && pl.get() == nullptr);
        item *last = moved.alloc(9, "moved", nullptr);
        moved.free(last);
        // ~pool (smr_pool_destroy) destroys whatever is still pending.
    }
    CHECK(item_ctors.load() == item_dtors.load());

    // Aggregates are brace-initialized; alignment is alignof(T).
    {
        smr::domain d("cpp-pool-misc", 0, SMR_LAZY);
        smr::pool<agg> pa(d);
        agg *g = pa.alloc(3, 4);
        CHECK(g->x == 3 && g->y == 4);
        pa.free(g);
        smr::pool<wide> pw(d, "wide");
        std::vector<wide *> ws;
        for (int i = 0; i < 50; i++) {
            ws.push_back(pw.alloc());
            CHECK(reinterpret_cast<std::uintptr_t>(ws.back()) % 64 == 0);
        }
        for (wide *w : ws)
            pw.free(w);
        pw.free(nullptr);
    }

    // A plain cache (no domain): ~T at free, immediate reuse.
    item_ctors = 0;
    item_dtors = 0;
    {
        smr::pool<item> cache(nullptr, "cache");
        item *it = cache.alloc(1, "x", nullptr);
        cache.free(it);
        CHECK(item_dtors.load() == 1);
    }

    // Creation errors: system_error with the pool's errno.
    bool thrown = false;
    try {
        smr::pool_options o;
        o.flags = 0x4000;
        smr::pool<int> bad(nullptr, "bad", o);
    } catch (const std::system_error &e) {
        thrown = e.code().value() == EINVAL;
    }
    CHECK(thrown);
}

// ---- smr::ht ------------------------------------------------------------

struct htitem : smr::ht_hook {
    std::uint64_t key;
    int val;
    static std::atomic<int> dtors;
    htitem(std::uint64_t k, int v) : key(k), val(v) {}
    ~htitem() { dtors.fetch_add(1, std::memory_order_relaxed); }
};
std::atomic<int> htitem::dtors{0};

struct item_key {
    std::uint64_t operator()(const htitem &i) const noexcept { return i.key; }
};

using item_table = smr::ht<htitem, std::uint64_t, item_key>;

// A lookup without a guard, or with a temporary one, does not compile.
template <class H, class = void>
struct ht_lookup_unguarded : std::false_type {};
template <class H>
struct ht_lookup_unguarded<H, std::void_t<decltype(std::declval<const H &>()
    .lookup(std::uint64_t{}))>> : std::true_type {};
static_assert(!ht_lookup_unguarded<item_table>::value,
    "smr::ht::lookup needs a section");
static_assert(!std::is_copy_constructible_v<item_table>, "ht: not copyable");
static_assert(std::is_nothrow_move_constructible_v<item_table>,
    "ht: movable");

void
test_ht()
{
    for (int flags : { 0, SMR_LAZY, SMR_DEFERRED }) {
        smr::domain d("cpp-ht", 4, flags);
        item_table t(d);
        std::vector<htitem *> v;

        htitem::dtors.store(0);
        for (std::uint64_t k = 0; k < 2000; k++) {
            v.push_back(new htitem(k, int(k) * 3));
            t.insert(*v.back());
        }
        CHECK(t.size() == 2000);
        CHECK(t.buckets() >= 16);
        {
            smr::guard g(d);
            int found = 0;
            for (std::uint64_t k = 0; k < 2000; k++) {
                htitem *i = t.lookup(k, g);
                found += i != nullptr && i->val == int(k) * 3;
            }
            CHECK(found == 2000);
            CHECK(t.lookup(5000, g) == nullptr);
            int n = 0;
            t.for_each(g, [&](htitem &) { n++; });
            CHECK(n == 2000);
            // Unique insert of a present key returns the one there.
            htitem dup(7, -1);
            CHECK(t.insert_unique(dup, g) == v[7]);
            htitem fresh(9000, 1);
            CHECK(t.insert_unique(fresh, g) == &fresh);
            CHECK(t.erase(fresh));
            // Duplicates.
            htitem twin(11, 99);
            t.insert(twin);
            htitem *a = t.lookup(11, g), *b = a ? t.next_dup(*a, 11, g) :
                nullptr;
            CHECK(a != nullptr && b != nullptr && a != b);
            CHECK(t.erase(twin));
        }
        // Replace in one step; the old object is the caller's.
        htitem *nu = new htitem(42, 4242);
        CHECK(t.replace(*v[42], *nu));
        {
            htitem again(42, 0);
            CHECK(!t.replace(*v[42], again));   // v[42] is already out
        }
        smr::retire(d, v[42]);
        v[42] = nu;
        {
            smr::lazy_guard g(d);
            htitem *i = t.lookup(42, g);
            CHECK(i == nu && i->val == 4242);
        }
        // Erase everything; a reader inside holds its object alive.
        std::atomic<int> inside{0}, go{0}, ok{0};
        std::thread r([&] {
            smr::guard g(d);
            htitem *i = t.lookup(100, g);
            inside.store(1);
            while (go.load() == 0)
                std::this_thread::yield();
            ok.store(i != nullptr && i->val == 300 ? 1 : 0);
        });
        while (inside.load() == 0)
            std::this_thread::yield();
        for (htitem *i : v) {
            CHECK(t.erase(*i));
            smr::retire(d, i);
        }
        CHECK(t.size() == 0);
        std::this_thread::sleep_for(20ms);
        // The reader entered before these erases: none of the 2000 may be
        // deleted yet (only the four stack items and, maybe, 42's first,
        // retired before the reader entered).
        CHECK(htitem::dtors.load() <= 5);
        go.store(1);
        r.join();
        CHECK(ok.load() == 1);
        CHECK(t.resize(64) == 0);
        d.barrier();
        // Every object deleted once: the 2000 in v (42's replacement among
        // them), 42's first, and the four stack items.
        if (htitem::dtors.load() != 2005)
            std::fprintf(stderr, "test_cpp: ht: %d destructors\n",
                htitem::dtors.load());
        CHECK(htitem::dtors.load() == 2005);
    }
    // Bad arguments: EINVAL, as smr_ht_create's.
    bool thrown = false;
    try {
        smr::domain d("cpp-ht-bad");
        item_table::options o;
        o.init_buckets = 64;
        o.max_buckets = 16;
        item_table bad(d, o);
    } catch (const std::system_error &e) {
        thrown = e.code().value() == EINVAL;
    }
    CHECK(thrown);
}

// ---- generation-stamp stress ---------------------------------------------

// Objects carry a state word and a generation; the destructor marks them
// DEAD and moves the generation on.  Readers inside a guard load a slot
// and check that the object stays LIVE with the same generation until
// they leave; a writer replaces objects and frees the old ones through the
// pool (~T after the grace period) or smr::retire (delete after it).
constexpr uint32_t LIVE = 0x4c495645u, DEAD = 0xdeadbeefu;

struct stamped {
    std::atomic<uint32_t> state;
    std::atomic<uint64_t> gen;
    bool from_pool;
    stamped(uint64_t g, bool p) : state(LIVE), gen(g), from_pool(p) {}
    ~stamped()
    {
        state.store(DEAD, std::memory_order_relaxed);
        gen.fetch_add(uint64_t(1) << 40, std::memory_order_relaxed);
    }
};

constexpr int NSLOT = 8;

int
stress(const std::string &mode, double seconds)
{
    bool lazy = mode == "lazy", nograce = mode == "nograce",
        noguard = mode == "noguard";
    int flags = lazy ? SMR_LAZY : mode == "deferred" ? SMR_DEFERRED : 0;

    if (!lazy && !nograce && !noguard && mode != "default" &&
        mode != "deferred") {
        std::fprintf(stderr, "test_cpp: unknown stress mode %s\n",
            mode.c_str());
        return 2;
    }
    smr::domain d("cpp-stress", 8, flags);
    smr::domain elsewhere("cpp-stress-elsewhere");  // noguard's readers
    // nograce: a plain cache, so ~T and reuse come at once.
    smr::pool<stamped> pl(nograce ? smr::domain_ref(nullptr) : d, "stamped");
    static smr::pointer<stamped> slots[NSLOT];
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> violations{0}, sections{0};
    uint64_t replaced = 0, gen = 1;

    for (auto &s : slots)
        s.store(pl.alloc(gen++, true));

    auto reader = [&](unsigned seed) {
        uint64_t bad = 0, n = 0;
        smr::domain_ref gd = noguard ? smr::domain_ref(elsewhere) : d;

        while (!stop.load(std::memory_order_relaxed)) {
            seed = seed * 1103515245u + 12345u;
            auto check = [&](const smr::section &g) {
                stamped *o = slots[(seed >> 16) % NSLOT].load(g);
                uint64_t g0 = o->gen.load(std::memory_order_relaxed);
                if (o->state.load(std::memory_order_relaxed) != LIVE)
                    bad++;
                for (int k = 0; k < 200; k++)       // stay a little
                    std::atomic_signal_fence(std::memory_order_seq_cst);
                if (o->gen.load(std::memory_order_relaxed) != g0 ||
                    o->state.load(std::memory_order_relaxed) != LIVE)
                    bad++;
            };
            if (lazy) {
                smr::lazy_guard g(gd);
                check(g);
            } else {
                smr::guard g(gd);
                check(g);
            }
            n++;
            if (bad != 0 && (nograce || noguard))
                stop.store(true);   // caught: no need to go on
        }
        violations.fetch_add(bad);
        sections.fetch_add(n);
    };
    std::thread r1(reader, 1u), r2(reader, 2u);

    // The writer: this thread (the only one that stores to slots).
    auto t0 = clk::now();
    auto limit = std::chrono::duration<double>(seconds);
    unsigned seed = 7;
    while (!stop.load(std::memory_order_relaxed)) {
        seed = seed * 1103515245u + 12345u;
        bool use_pool = (replaced & 1) == 0;
        stamped *nw = use_pool ? pl.alloc(gen++, true) :
            new stamped(gen++, false);
        stamped *old = slots[(seed >> 16) % NSLOT].exchange(nw);
        if (old->from_pool)
            pl.free(old);
        else if (nograce)
            delete old;
        else
            smr::retire(d, old);
        replaced++;
        // At least 20000 replacements, so that memory really is reused;
        // a slow machine gets up to ten times the time for them.
        auto el = clk::now() - t0;
        if (el > limit && (replaced >= 20000 || el > 10 * limit))
            stop.store(true);
    }
    r1.join();
    r2.join();
    struct smr_pool_stats ps = pl.stats();
    for (auto &s : slots) {
        stamped *o = s.exchange(nullptr);
        if (o->from_pool)
            pl.free(o);
        else
            smr::retire(d, o);
    }
    d.barrier();
    std::printf("test_cpp: stress %s: violations=%llu sections=%llu "
        "replaced=%llu buckets_reused=%llu\n", mode.c_str(),
        static_cast<unsigned long long>(violations.load()),
        static_cast<unsigned long long>(sections.load()),
        static_cast<unsigned long long>(replaced),
        static_cast<unsigned long long>(ps.buckets_reused));
    if (nograce || noguard)
        return violations.load() != 0 ? 1 : 0;
    CHECK(violations.load() == 0);
    CHECK(sections.load() > 0);
    CHECK(replaced >= 1000);
    CHECK(ps.buckets_reused > 0);   // the pool really reused memory
    return failures != 0 ? 1 : 0;
}

} // namespace

int
main(int argc, char **argv)
{
    if (argc > 1) {
        if (argc != 4 || std::strcmp(argv[1], "stress") != 0) {
            std::fprintf(stderr,
                "usage: test_cpp [stress MODE SECONDS]\n");
            return 2;
        }
        return stress(argv[2], std::atof(argv[3]));
    }
    test_domain();
    test_guard_nesting();
    test_guard_threads();
    test_pointer();
    test_retire();
    test_pool();
    test_ht();
    for (const char *m : { "default", "deferred", "lazy" })
        if (stress(m, 0.3) != 0)
            failures++;
    if (failures != 0) {
        std::fprintf(stderr, "test_cpp: %d check(s) failed\n", failures);
        return 1;
    }
    std::puts("test_cpp: OK");
    return 0;
}
