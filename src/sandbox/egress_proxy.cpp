#include "sandbox/egress_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

namespace tenex::sandbox {
namespace {

constexpr int kConnectTimeoutMs = 10'000;

bool public_v4(std::uint32_t a) {
    auto in = [a](std::uint32_t net, int bits) {
        const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t(0) << (32 - bits);
        return (a & mask) == (net & mask);
    };
    return !(in(0x00000000, 8) || in(0x0A000000, 8) || in(0x64400000, 10) || in(0x7F000000, 8) ||
             in(0xA9FE0000, 16) || in(0xAC100000, 12) || in(0xC0000000, 24) || in(0xC0000200, 24) ||
             in(0xC0A80000, 16) || in(0xC6120000, 15) || in(0xC6336400, 24) || in(0xCB007100, 24) ||
             in(0xE0000000, 3));
}

std::string describe(const sockaddr* sa) {
    char buf[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
    return buf;
}

int connect_with_timeout(const addrinfo* ai) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) return -1;
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        int err = 0;
        socklen_t len = sizeof err;
        if (poll(&p, 1, kConnectTimeoutMs) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
            err == 0)
            rc = 0;
    }
    if (rc != 0) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

// Copies both ways until both sides are done (half-closes are passed on).
void pump(int a, int b) {
    pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    char buf[16384];
    int open = 2;
    while (open > 0 && poll(fds, 2, -1) > 0) {
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            const int from = fds[i].fd, to = i == 0 ? b : a;
            ssize_t n = read(from, buf, sizeof buf);
            if (n <= 0) {
                shutdown(to, SHUT_WR);
                fds[i].fd = -1;
                --open;
                if (n < 0) return;
                continue;
            }
            for (ssize_t off = 0; off < n;) {
                ssize_t w = send(to, buf + off, static_cast<std::size_t>(n - off), MSG_NOSIGNAL);
                if (w <= 0) return;
                off += w;
            }
        }
    }
}

}  // namespace

bool is_public_address(const sockaddr* sa) {
    if (sa->sa_family == AF_INET)
        return public_v4(ntohl(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr));
    if (sa->sa_family != AF_INET6) return false;
    const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&a) || IN6_IS_ADDR_V4COMPAT(&a)) {
        std::uint32_t v4;
        std::memcpy(&v4, &a.s6_addr[12], 4);
        return public_v4(ntohl(v4));
    }
    if (IN6_IS_ADDR_UNSPECIFIED(&a) || IN6_IS_ADDR_LOOPBACK(&a) || IN6_IS_ADDR_LINKLOCAL(&a) ||
        IN6_IS_ADDR_SITELOCAL(&a) || IN6_IS_ADDR_MULTICAST(&a))
        return false;
    if ((a.s6_addr[0] & 0xfe) == 0xfc) return false;                        // fc00::/7
    if (a.s6_addr[0] == 0x20 && a.s6_addr[1] == 0x01 && a.s6_addr[2] == 0x0d &&
        a.s6_addr[3] == 0xb8)
        return false;                                                        // 2001:db8::/32
    if (a.s6_addr[0] == 0x00 && a.s6_addr[1] == 0x64 && a.s6_addr[2] == 0xff &&
        a.s6_addr[3] == 0x9b)
        return false;                                                        // NAT64 64:ff9b::/96
    return true;
}

EgressProxy::EgressProxy(std::string project) : project_(std::move(project)) {}

EgressProxy::~EgressProxy() { stop(); }

Status EgressProxy::start(const std::vector<ProxyRoute>& routes) {
    if (pipe2(wake_, O_CLOEXEC) != 0) return make_error(std::string("pipe: ") + std::strerror(errno));
    for (const auto& r : routes) {
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(static_cast<std::uint16_t>(r.listen_port));
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (fd < 0 || inet_pton(AF_INET, r.listen_ip.c_str(), &sa.sin_addr) != 1 ||
            bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || listen(fd, 64) != 0) {
            std::string why = std::strerror(errno);
            if (fd >= 0) close(fd);
            stop();
            return make_error("egress forwarder " + r.listen_ip + ":" + std::to_string(r.listen_port) +
                              ": " + why);
        }
        listeners_.push_back(fd);
    }
    routes_ = routes;
    for (std::size_t i = 0; i < routes.size(); ++i)
        threads_.emplace_back([this, fd = listeners_[i], r = routes[i]] { accept_loop(fd, r); });
    return Unit{};
}

void EgressProxy::stop() {
    {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        stopping_ = true;
        for (int fd : open_) shutdown(fd, SHUT_RDWR);
    }
    if (wake_[1] >= 0) (void)!write(wake_[1], "x", 1);
    for (auto& t : threads_) t.join();
    threads_.clear();
    {
        std::unique_lock lock(mu_);
        for (int fd : open_) shutdown(fd, SHUT_RDWR);  // ones tracked since
        idle_.wait(lock, [this] { return active_ == 0; });
    }
    for (int fd : listeners_) close(fd);
    listeners_.clear();
    for (int& fd : wake_)
        if (fd >= 0) close(fd), fd = -1;
}

bool EgressProxy::track(int fd) {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    open_.insert(fd);
    return true;
}

void EgressProxy::untrack(int fd) {
    std::lock_guard lock(mu_);
    open_.erase(fd);
}

void EgressProxy::accept_loop(int listener, ProxyRoute route) {
    for (;;) {
        pollfd fds[2] = {{listener, POLLIN, 0}, {wake_[0], POLLIN, 0}};
        if (poll(fds, 2, -1) < 0 && errno != EINTR) return;
        if (fds[1].revents) return;
        if (!(fds[0].revents & POLLIN)) continue;
        int client = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) continue;
        if (!track(client)) {
            close(client);
            return;
        }
        {
            std::lock_guard lock(mu_);
            ++active_;
        }
        std::thread([this, client, route] {
            serve(client, route);
            untrack(client);
            close(client);
            std::lock_guard lock(mu_);
            if (--active_ == 0) idle_.notify_all();
        }).detach();
    }
}

void EgressProxy::serve(int client, ProxyRoute route) {
    const std::string dest = route.target_host + ":" + std::to_string(route.target_port);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const std::string port = std::to_string(route.target_port);
    if (int rc = getaddrinfo(route.target_host.c_str(), port.c_str(), &hints, &res); rc != 0) {
        ++refused_;
        spdlog::warn("egress: {}: {}: cannot resolve: {}", project_, dest, gai_strerror(rc));
        return;
    }
    int upstream = -1;
    std::string refused_addresses;
    for (addrinfo* ai = res; ai && upstream < 0; ai = ai->ai_next) {
        if (!route.trusted && !is_public_address(ai->ai_addr)) {
            refused_addresses += (refused_addresses.empty() ? "" : ", ") + describe(ai->ai_addr);
            continue;
        }
        upstream = connect_with_timeout(ai);
    }
    freeaddrinfo(res);
    if (upstream < 0) {
        ++refused_;
        if (!refused_addresses.empty())
            spdlog::warn("egress: {}: {} denied: resolves to non-public address {}", project_, dest,
                         refused_addresses);
        else
            spdlog::warn("egress: {}: {}: connect failed", project_, dest);
        return;
    }
    if (!track(upstream)) {
        close(upstream);
        return;
    }
    ++forwarded_;
    spdlog::debug("egress: {}: forwarding to {}", project_, dest);
    pump(client, upstream);
    untrack(upstream);
    close(upstream);
}

}  // namespace tenex::sandbox
