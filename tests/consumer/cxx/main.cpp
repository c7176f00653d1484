// A C++17 consumer of the installed libsmr: <smr.hpp> only (pkg-config,
// CMake).  A guarded read, a typed pool and retire with delete.
#include <smr.hpp>

#include <cstdio>
#include <string>

namespace {

struct conf {
    int port;
    std::string host;
    conf(int p, std::string h) : port(p), host(std::move(h)) {}
};

smr::pointer<conf> current;

} // namespace

int
main()
{
    smr::domain dom("consumer-cxx");
    int port = 0;
    {
        smr::pool<conf> confs(dom, "conf");
        current.store(confs.alloc(8080, "localhost"));
        {
            smr::guard g(dom);              // a reader: no lock
            port = current.load(g)->port;
        }
        confs.free(current.exchange(confs.alloc(8081, "localhost")));
        confs.free(current.exchange(nullptr));  // ~conf after the grace
    }
    smr::retire(dom, new conf(1, "retired"));   // delete after the grace
    smr::barrier(dom);
    if (port != 8080)
        return 1;
    std::puts("OK");
    return 0;
}
