// The egress forwarders of one project: a TCP listener per allowed destination on a host
// address of the project's network. Each accepted connection resolves the destination name
// on the host at that moment, refuses non-public addresses (unless the route is the daemon's
// own relay), connects and copies bytes both ways. Nothing is terminated: TLS stays end to
// end (the client's SNI and the server's certificate are untouched).
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/result.hpp"

namespace tenex::sandbox {

struct ProxyRoute {
    std::string listen_ip{};
    int listen_port = 0;
    std::string target_host{};
    int target_port = 0;
    bool trusted = false;  // loopback/private targets allowed (the daemon's own relays)
    bool operator==(const ProxyRoute&) const = default;
};

// False for loopback, private (RFC 1918, CGNAT, ULA), link-local (metadata), multicast,
// unspecified and reserved addresses; IPv4-mapped IPv6 is judged as IPv4.
bool is_public_address(const sockaddr* address);

class EgressProxy {
public:
    explicit EgressProxy(std::string project);
    ~EgressProxy();
    EgressProxy(const EgressProxy&) = delete;
    EgressProxy& operator=(const EgressProxy&) = delete;

    // Binds every listener (all or nothing) and starts serving.
    Status start(const std::vector<ProxyRoute>& routes);
    void stop();
    const std::vector<ProxyRoute>& routes() const { return routes_; }

    std::uint64_t forwarded() const { return forwarded_.load(); }
    std::uint64_t refused() const { return refused_.load(); }

private:
    void accept_loop(int listener, ProxyRoute route);
    void serve(int client, ProxyRoute route);
    bool track(int fd);
    void untrack(int fd);

    std::string project_;
    std::vector<ProxyRoute> routes_;
    std::vector<int> listeners_;
    std::vector<std::thread> threads_;
    std::mutex mu_;
    std::condition_variable idle_;
    std::set<int> open_;            // connection fds, shut down at stop
    int active_ = 0;                // connection threads (detached) still running
    bool stopping_ = false;
    int wake_[2] = {-1, -1};        // a pipe that ends the accept loops
    std::atomic<std::uint64_t> forwarded_{0};
    std::atomic<std::uint64_t> refused_{0};
};

}  // namespace tenex::sandbox
