// The egress forwarder on loopback: bytes both ways with half-closes, the non-public refusal,
// and 2,000 connections from one "sandbox" against a per-project cap, with the process's
// thread count bounded and another project's forwarder still answering.
#include "hostnet/egress_proxy.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <thread>
#include <vector>

#include "environment.hpp"

namespace tenex::hostnet {
namespace {

using namespace std::chrono_literals;

int listen_loopback(int& port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd, 4096) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0)
        return -1;
    port = ntohs(sa.sin_port);
    return fd;
}

int free_port() {
    int port = 0;
    int fd = listen_loopback(port);
    ::close(fd);
    return port;
}

int connect_to(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

std::string read_all(int fd) {
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
        out.append(buf, static_cast<std::size_t>(n));
    return out;
}

std::size_t threads_now() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task"))
        ++n;
    return n;
}

// An upstream that answers "echo:" + everything it read once the client half-closes, then
// closes; one thread, one connection at a time.
class EchoServer {
  public:
    EchoServer() {
        fd_ = listen_loopback(port_);
        thread_ = std::thread([this] {
            for (;;) {
                int c = ::accept(fd_, nullptr, nullptr);
                if (c < 0) return;
                std::string got = read_all(c);
                std::string reply = "echo:" + got;
                (void)!::write(c, reply.data(), reply.size());
                ::close(c);
            }
        });
    }
    ~EchoServer() {
        ::shutdown(fd_, SHUT_RDWR);
        ::close(fd_);
        thread_.join();
    }
    int port() const { return port_; }

  private:
    int fd_{-1}, port_{0};
    std::thread thread_;
};

// Starts `proxy` with one route on a free loopback port to 127.0.0.1:target_port. Between
// free_port() and the proxy's bind another test running in parallel may take the port, so a
// failed start is tried again on another one. Returns the route, or nullopt after 5 failures.
std::optional<ProxyRoute> start_on_a_free_port(EgressProxy& proxy, int target_port, bool trusted) {
    for (int attempt = 0; attempt < 5; ++attempt) {
        ProxyRoute r{.listen_ip = "127.0.0.1",
                     .listen_port = free_port(),
                     .target_host = "127.0.0.1",
                     .target_port = target_port,
                     .trusted = trusted};
        if (proxy.start({r})) return r;
    }
    return std::nullopt;
}

std::string round_trip(int port, const std::string& text) {
    int fd = connect_to(port);
    if (fd < 0) return "(no connection)";
    (void)!::write(fd, text.data(), text.size());
    ::shutdown(fd, SHUT_WR);  // the half-close reaches the upstream, which then answers
    std::string got = read_all(fd);
    ::close(fd);
    return got;
}

TEST(EgressProxy, ForwardsBothWaysAndPassesTheHalfCloseOn) {
    EchoServer echo;
    EgressProxy proxy("31933:owner:p");
    const auto r = start_on_a_free_port(proxy, echo.port(), /*trusted=*/true);
    ASSERT_TRUE(r);
    EXPECT_EQ(round_trip(r->listen_port, "hello"), "echo:hello");
    const std::string big(1 << 20, 'x');  // more than the kernel buffers and the 16 KiB chunks
    EXPECT_EQ(round_trip(r->listen_port, big), "echo:" + big);
    EXPECT_EQ(proxy.forwarded(), 2u);
    for (int i = 0; i < 100 && proxy.open_connections() > 0; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(proxy.open_connections(), 0u);
}

TEST(EgressProxy, RefusesNonPublicDestinationsUnlessTrusted) {
    EchoServer echo;
    EgressProxy proxy("31933:owner:p");
    const auto r =
        start_on_a_free_port(proxy, echo.port(), /*trusted=*/false);  // 127.0.0.1 is not public
    ASSERT_TRUE(r);
    EXPECT_EQ(round_trip(r->listen_port, "hello"), "");
    EXPECT_EQ(proxy.forwarded(), 0u);
    EXPECT_EQ(proxy.refused(), 1u);
}

// One sandbox opens 2,000 connections and keeps them open: the forwarder serves its cap,
// refuses the rest, the process gains no thread per connection, and another project's
// forwarder keeps working. All are released when the sandbox lets go.
TEST(EgressProxy, ThousandsOfConnectionsStayWithinTheCapAndTwoThreads) {
    rlimit rl{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 8192) {
        rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, 8192);
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < 6000) {
        if (test::in_ci())
            FAIL() << "needs 6000 descriptors in CI (hard limit " << rl.rlim_max << ")";
        GTEST_SKIP() << "needs 6000 descriptors (hard limit " << rl.rlim_max << ")";
    }
    // An upstream that accepts and holds every connection (backlog; never reads).
    int upstream_port = 0;
    const int upstream = listen_loopback(upstream_port);
    ASSERT_GE(upstream, 0);
    std::vector<int> held_upstream;
    std::atomic<bool> done{false};
    std::thread acceptor([&] {
        while (!done) {
            int c = ::accept4(upstream, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) break;
            held_upstream.push_back(c);
        }
    });
    auto stop_accepting = [&] {
        if (done.exchange(true)) return;
        ::shutdown(upstream, SHUT_RDWR);
        ::close(upstream);
        if (acceptor.joinable()) acceptor.join();
    };
    struct OnExit {
        std::function<void()> f;
        ~OnExit() { f(); }
    } on_exit{stop_accepting};  // on every way out, a failed assertion's included

    EchoServer echo;
    ProxyLimits limits;
    limits.max_connections = 256;
    EgressProxy hostile("31933:owner:hostile", limits), other("31933:owner:other", limits);
    const auto hr = start_on_a_free_port(hostile, upstream_port, true);
    const auto orr = start_on_a_free_port(other, echo.port(), true);
    ASSERT_TRUE(hr && orr);
    const std::size_t threads_before = threads_now();

    std::vector<int> clients;
    for (int i = 0; i < 2000; ++i) {
        int fd = connect_to(hr->listen_port);
        if (fd >= 0) clients.push_back(fd);
    }
    for (int i = 0; i < 500 && hostile.forwarded() + hostile.refused() < clients.size(); ++i)
        std::this_thread::sleep_for(10ms);
    EXPECT_EQ(hostile.forwarded(), limits.max_connections);
    EXPECT_LE(hostile.open_connections(), limits.max_connections);
    EXPECT_EQ(hostile.refused(), clients.size() - limits.max_connections);
    EXPECT_LE(threads_now(), threads_before + 2) << "a thread per connection";
    EXPECT_EQ(round_trip(orr->listen_port, "still here"), "echo:still here");

    for (int fd : clients) ::close(fd);
    for (int i = 0; i < 300 && hostile.open_connections() > 0; ++i)
        std::this_thread::sleep_for(10ms);
    // The upstream never answers our half-close: the forwarder still holds those until the
    // upstream closes them.
    stop_accepting();
    for (int fd : held_upstream) ::close(fd);
    for (int i = 0; i < 300 && hostile.open_connections() > 0; ++i)
        std::this_thread::sleep_for(10ms);
    EXPECT_EQ(hostile.open_connections(), 0u);
    // Room again after the sandbox let go.
    EXPECT_EQ(round_trip(orr->listen_port, "again"), "echo:again");
}

TEST(EgressProxy, AConnectionThatNeverConnectsIsGivenUp) {
    // 192.0.2.1 (TEST-NET-1) is not routed: connect hangs until the forwarder's timeout.
    ProxyLimits limits;
    limits.connect_timeout = 300ms;
    EgressProxy proxy("31933:owner:p", limits);
    const ProxyRoute r{.listen_ip = "127.0.0.1",
                       .listen_port = free_port(),
                       .target_host = "192.0.2.1",
                       .target_port = 9,
                       .trusted = true};
    ASSERT_TRUE(proxy.start({r}));
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(round_trip(r.listen_port, "x"), "");
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
    EXPECT_EQ(proxy.refused(), 1u);
}

}  // namespace
}  // namespace tenex::hostnet
