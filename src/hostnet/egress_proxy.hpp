// The egress forwarders of one project: a TCP listener per allowed destination on a host
// address of the project's network. Each accepted connection resolves the destination name
// on the host at that moment, refuses non-public addresses (unless the route is the daemon's
// own relay), connects and copies bytes both ways. Nothing is terminated: TLS stays end to
// end (the client's SNI and the server's certificate are untouched).
//
// Two threads per project whatever the number of connections: an epoll loop that accepts,
// connects and copies (non-blocking, 16 KiB pending per direction and connection), and a
// resolver for the names (getaddrinfo blocks). Connections per project are capped (over the
// cap a connection is accepted and closed at once), a connection attempt has 10 s, an idle
// connection is closed after `idle_timeout`, and when the daemon runs out of descriptors
// the listeners pause instead of spinning.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace tenex::hostnet {

struct ProxyRoute {
    std::string listen_ip{};
    int listen_port = 0;
    std::string target_host{};
    int target_port = 0;
    bool trusted = false;  // loopback/private targets allowed (the daemon's own relays)
    // The project's bridge: the listener takes only connections that arrive on it
    // (SO_BINDTODEVICE), so no container on another network, and no host process, reaches
    // another project's forwarder. Empty: any interface (tests on loopback).
    std::string device{};
    bool operator==(const ProxyRoute&) const = default;
};

struct ProxyLimits {
    std::size_t max_connections{256};  // open at once, per project (all its routes)
    std::chrono::seconds idle_timeout{std::chrono::hours(1)};  // no byte either way
    std::chrono::milliseconds connect_timeout{10'000};
};

class EgressProxy {
  public:
    explicit EgressProxy(std::string project, ProxyLimits limits = {});
    ~EgressProxy();
    EgressProxy(const EgressProxy&) = delete;
    EgressProxy& operator=(const EgressProxy&) = delete;

    // Binds every listener (all or nothing) and starts serving.
    Status start(const std::vector<ProxyRoute>& routes);
    void stop();
    const std::vector<ProxyRoute>& routes() const { return routes_; }

    std::uint64_t forwarded() const { return forwarded_.load(); }  // connections made
    std::uint64_t refused() const { return refused_.load(); }      // denied, failed or over the cap
    std::size_t open_connections() const { return open_.load(); }

    struct Loop;  // the event loop and the resolver (egress_proxy.cpp)

  private:
    std::string project_;
    ProxyLimits limits_;
    std::vector<ProxyRoute> routes_;
    std::unique_ptr<Loop> loop_;
    std::atomic<std::uint64_t> forwarded_{0};
    std::atomic<std::uint64_t> refused_{0};
    std::atomic<std::size_t> open_{0};
};

}  // namespace tenex::hostnet
