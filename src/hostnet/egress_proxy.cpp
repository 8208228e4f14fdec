#include "hostnet/egress_proxy.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "common/inbox.hpp"
#include "common/thread_annotations.hpp"
#include "hostnet/public_address.hpp"

namespace tenex::hostnet {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kChunk =
    16384;  // read at most this much while the other side has not taken it
constexpr auto kAcceptPause = std::chrono::milliseconds(200);  // out of descriptors: listeners rest

// Bytes are passed on as they come: without this, Nagle's algorithm holds a small write (a
// websocket frame) until the peer's delayed ACK, some 40 ms per exchange.
void no_delay(int fd) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

struct EgressProxy::Loop {
    // epoll's data: the kind in the top two bits, the connection id (or the route index of a
    // listener) below. Never a pointer: a connection closed earlier in the same batch of
    // events is then simply not found.
    enum class Kind : std::uint64_t { wake = 0, listener = 1, client = 2, upstream = 3 };
    static std::uint64_t tag(Kind k, std::uint64_t id) {
        return (static_cast<std::uint64_t>(k) << 62) | id;
    }
    struct Conn {
        std::uint64_t id{0};
        std::size_t route{0};
        int client{-1}, upstream{-1};
        std::vector<sockaddr_storage> addrs{};  // resolved and allowed, tried in order
        std::size_t next_addr{0};
        bool connected{false};
        std::string to_upstream{}, to_client{};  // read from one side, not yet written to the other
        bool client_eof{false}, upstream_eof{false};
        bool client_wr_shut{false}, upstream_wr_shut{false};
        Clock::time_point deadline{};  // connecting: give up then
        Clock::time_point last{};      // last byte either way
    };
    struct Resolve {
        std::uint64_t id;
        std::size_t route;
    };
    struct Resolved {
        std::uint64_t id;
        std::vector<sockaddr_storage> addrs;
        std::string refusal;  // why nothing is allowed ("" with addrs)
    };

    EgressProxy& owner;
    std::vector<ProxyRoute> routes;
    int ep{-1}, wake{-1};
    std::vector<int> listeners;
    std::map<std::uint64_t, std::unique_ptr<Conn>> conns;
    std::uint64_t next_id{0};
    bool paused{false};
    Clock::time_point resume_at{};
    Clock::time_point last_cap_warning{};
    std::atomic<bool> stopping{false};
    std::thread loop_thread, resolver_thread;

    Inbox<Resolve> to_resolve{"egress resolver"};  // the loop's requests, one lookup at a time
    Mutex mu;                                      // the resolver's answers
    std::deque<Resolved> resolved TENEX_GUARDED_BY(mu);  // handed back with a write to `wake`

    Loop(EgressProxy& o, std::vector<ProxyRoute> r) : owner(o), routes(std::move(r)) {}

    ~Loop() {
        for (auto& [id, c] : conns) close_fds(*c);
        for (int fd : listeners) ::close(fd);
        if (wake >= 0) ::close(wake);
        if (ep >= 0) ::close(ep);
    }

    const std::string& project() const { return owner.project_; }
    std::string dest(std::size_t route) const {
        return routes[route].target_host + ":" + std::to_string(routes[route].target_port);
    }

    void ctl(int op, int fd, std::uint32_t events, std::uint64_t data) {
        epoll_event ev{};
        ev.events = events;
        ev.data.u64 = data;
        (void)::epoll_ctl(ep, op, fd, &ev);
    }

    void close_fds(Conn& c) {
        if (c.client >= 0) ::close(c.client);
        if (c.upstream >= 0) ::close(c.upstream);
        c.client = c.upstream = -1;
    }

    void finish(std::uint64_t id) {
        auto it = conns.find(id);
        if (it == conns.end()) return;
        close_fds(*it->second);  // closing removes them from the epoll set
        conns.erase(it);
        --owner.open_;
    }

    void refuse(std::uint64_t id) {
        ++owner.refused_;
        finish(id);
    }

    // ---------- accepting ----------
    void on_accept(std::size_t route) {
        for (int i = 0; i < 64; ++i) {
            int fd = ::accept4(listeners[route], nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                    pause_accepting();
                return;  // EAGAIN, or a connection that went away meanwhile
            }
            no_delay(fd);
            if (conns.size() >= owner.limits_.max_connections) {
                ::close(fd);
                ++owner.refused_;
                const auto now = Clock::now();
                if (now - last_cap_warning > std::chrono::seconds(10)) {
                    last_cap_warning = now;
                    spdlog::warn("egress: {}: {} connections open, the cap: refusing new ones",
                                 project(), owner.limits_.max_connections);
                }
                continue;
            }
            auto c = std::make_unique<Conn>();
            c->id = ++next_id;
            c->route = route;
            c->client = fd;
            c->last = Clock::now();
            c->deadline = c->last + owner.limits_.connect_timeout;
            ++owner.open_;
            to_resolve.push(Resolve{c->id, route});
            conns.emplace(c->id, std::move(c));
        }
    }

    void pause_accepting() {
        if (paused) return;
        paused = true;
        resume_at = Clock::now() + kAcceptPause;
        for (std::size_t i = 0; i < listeners.size(); ++i)
            ctl(EPOLL_CTL_MOD, listeners[i], 0, tag(Kind::listener, i));
        spdlog::warn("egress: {}: out of file descriptors: not accepting for {} ms", project(),
                     kAcceptPause.count());
    }

    // ---------- resolving (its own thread) ----------
    void resolver() {
        // One request at a time: stop() waits for at most the lookup under way.
        while (auto batch = to_resolve.pop_all(std::nullopt, 1)) {
            if (stopping.load()) return;
            for (const Resolve& job : *batch) to_resolve.deliver("lookup", [&] { resolve(job); });
        }
    }

    void resolve(const Resolve& job) {
        Resolved out{job.id, {}, {}};
        const ProxyRoute& r = routes[job.route];
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* res = nullptr;
        const std::string port = std::to_string(r.target_port);
        if (int rc = ::getaddrinfo(r.target_host.c_str(), port.c_str(), &hints, &res); rc != 0) {
            out.refusal = std::string("cannot resolve: ") + gai_strerror(rc);
        } else {
            std::string denied;
            for (addrinfo* ai = res; ai; ai = ai->ai_next) {
                if (!r.trusted && !is_public_address(ai->ai_addr)) {
                    denied += (denied.empty() ? "" : ", ") + address_text(ai->ai_addr);
                    continue;
                }
                sockaddr_storage ss{};
                std::memcpy(&ss, ai->ai_addr, std::min<std::size_t>(ai->ai_addrlen, sizeof ss));
                out.addrs.push_back(ss);
            }
            ::freeaddrinfo(res);
            if (out.addrs.empty()) out.refusal = "denied: resolves to non-public address " + denied;
        }
        {
            MutexLock lk(mu);
            resolved.push_back(std::move(out));
        }
        const std::uint64_t one = 1;
        (void)!::write(wake, &one, sizeof one);
    }

    void drain_resolved() {
        std::deque<Resolved> done;
        {
            MutexLock lk(mu);
            done.swap(resolved);
        }
        for (auto& r : done) {
            auto it = conns.find(r.id);
            if (it == conns.end()) continue;
            if (r.addrs.empty()) {
                spdlog::warn("egress: {}: {}: {}", project(), dest(it->second->route), r.refusal);
                refuse(r.id);
                continue;
            }
            it->second->addrs = std::move(r.addrs);
            try_connect(*it->second);
        }
    }

    // ---------- connecting ----------
    static socklen_t length_of(const sockaddr_storage& ss) {
        return ss.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    }

    void try_connect(Conn& c) {
        while (c.next_addr < c.addrs.size()) {
            const auto& ss = c.addrs[c.next_addr++];
            int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) continue;
            no_delay(fd);
            if (::connect(fd, reinterpret_cast<const sockaddr*>(&ss), length_of(ss)) == 0 ||
                errno == EINPROGRESS) {
                c.upstream = fd;
                ctl(EPOLL_CTL_ADD, fd, kConnEvents, tag(Kind::upstream, c.id));
                return;
            }
            ::close(fd);
        }
        spdlog::warn("egress: {}: {}: connect failed", project(), dest(c.route));
        refuse(c.id);
    }

    // ---------- copying ----------
    // Both sockets of a connection are edge-triggered for reading and writing: each event
    // is acted on until the kernel says EAGAIN, and a side is read only while what it sent
    // before has been delivered (at most kChunk in flight per direction).
    static constexpr std::uint32_t kConnEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;

    void on_connected(Conn& c) {
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(c.upstream, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            ::close(c.upstream);
            c.upstream = -1;
            return try_connect(c);
        }
        c.connected = true;
        c.last = Clock::now();
        ++owner.forwarded_;
        spdlog::debug("egress: {}: forwarding to {}", project(), dest(c.route));
        ctl(EPOLL_CTL_ADD, c.client, kConnEvents, tag(Kind::client, c.id));
        const std::uint64_t id = c.id;
        // What either side sent meanwhile (an edge that came before the registration).
        if (pull(c, true) && conns.count(id) && pull(c, false) && conns.count(id)) done_if_over(c);
    }

    void done_if_over(Conn& c) {
        if (c.client_eof && c.upstream_eof && c.to_client.empty() && c.to_upstream.empty())
            finish(c.id);
    }

    // Reads from one side and passes it on, until EAGAIN, EOF or the other side is full.
    // false: the connection is gone.
    bool pull(Conn& c, bool from_client) {
        const int src = from_client ? c.client : c.upstream;
        std::string& buf = from_client ? c.to_upstream : c.to_client;
        bool& eof = from_client ? c.client_eof : c.upstream_eof;
        char tmp[kChunk];
        while (!eof && buf.empty()) {
            const ssize_t n = ::read(src, tmp, sizeof tmp);
            if (n > 0) {
                buf.assign(tmp, static_cast<std::size_t>(n));
                c.last = Clock::now();
            } else if (n == 0) {
                eof = true;
            } else if (errno == EINTR) {
                continue;
            } else if (errno == EAGAIN) {
                return true;
            } else {
                finish(c.id);
                return false;
            }
            if (!push(c, !from_client)) return false;
        }
        return true;
    }

    // Writes what is pending for one side, and passes a half-close on once all is delivered.
    bool push(Conn& c, bool to_client) {
        const int dst = to_client ? c.client : c.upstream;
        std::string& buf = to_client ? c.to_client : c.to_upstream;
        while (!buf.empty()) {
            const ssize_t w = ::send(dst, buf.data(), buf.size(), MSG_NOSIGNAL);
            if (w > 0) {
                buf.erase(0, static_cast<std::size_t>(w));
                c.last = Clock::now();
            } else if (w < 0 && errno == EINTR) {
                continue;
            } else if (w < 0 && errno == EAGAIN) {
                return true;
            } else {
                finish(c.id);
                return false;
            }
        }
        bool& shut = to_client ? c.client_wr_shut : c.upstream_wr_shut;
        if (!shut && (to_client ? c.upstream_eof : c.client_eof)) {
            ::shutdown(dst, SHUT_WR);
            shut = true;
        }
        return true;
    }

    void on_event(std::uint64_t data, std::uint32_t ev) {
        const auto kind = static_cast<Kind>(data >> 62);
        const std::uint64_t id = data & ((std::uint64_t(1) << 62) - 1);
        if (kind == Kind::wake) {
            std::uint64_t n;
            (void)!::read(wake, &n, sizeof n);
            return drain_resolved();
        }
        if (kind == Kind::listener) return on_accept(static_cast<std::size_t>(id));
        auto it = conns.find(id);
        if (it == conns.end()) return;
        Conn& c = *it->second;
        const bool side_is_client = kind == Kind::client;
        if (!side_is_client && !c.connected) {
            if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(c);
            return;
        }
        if (ev & EPOLLERR) return finish(c.id);
        // Writable: deliver what waits for this side, then read the other side again (it
        // stopped while this one was full).
        if ((ev & EPOLLOUT) && !(push(c, side_is_client) && pull(c, !side_is_client))) return;
        if ((ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) && !pull(c, side_is_client)) return;
        done_if_over(c);
    }

    void sweep(Clock::time_point now) {
        std::vector<std::uint64_t> expired, idle;
        for (const auto& [id, c] : conns) {
            if (!c->connected && now >= c->deadline)
                expired.push_back(id);
            else if (c->connected && now - c->last >= owner.limits_.idle_timeout)
                idle.push_back(id);
        }
        for (auto id : expired) {
            spdlog::warn("egress: {}: {}: no connection within {} ms", project(),
                         dest(conns[id]->route), owner.limits_.connect_timeout.count());
            refuse(id);
        }
        for (auto id : idle) finish(id);
        if (paused && now >= resume_at) {
            paused = false;
            for (std::size_t i = 0; i < listeners.size(); ++i)
                ctl(EPOLL_CTL_MOD, listeners[i], EPOLLIN, tag(Kind::listener, i));
        }
    }

    void run() {
        epoll_event evs[64];
        while (!stopping.load()) {
            const int n = ::epoll_wait(ep, evs, 64, 250);
            for (int i = 0; i < n; ++i) {
                try {
                    on_event(evs[i].data.u64, evs[i].events);
                } catch (
                    const std::exception& e) {  // bad_alloc: the connection goes, the loop stays
                    spdlog::error("egress: {}: {}", project(), e.what());
                    if ((evs[i].data.u64 >> 62) >= static_cast<std::uint64_t>(Kind::client))
                        finish(evs[i].data.u64 & ((std::uint64_t(1) << 62) - 1));
                }
            }
            sweep(Clock::now());
        }
    }
};

EgressProxy::EgressProxy(std::string project, ProxyLimits limits)
    : project_(std::move(project)), limits_(limits) {}

EgressProxy::~EgressProxy() {
    stop();
}

Status EgressProxy::start(const std::vector<ProxyRoute>& routes) {
    auto loop = std::make_unique<Loop>(*this, routes);
    loop->ep = ::epoll_create1(EPOLL_CLOEXEC);
    loop->wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->ep < 0 || loop->wake < 0)
        return make_error(std::string("egress forwarder: ") + std::strerror(errno));
    for (const auto& r : routes) {
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(static_cast<std::uint16_t>(r.listen_port));
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        if (fd >= 0) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (fd >= 0 && !r.device.empty() &&
            ::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, r.device.c_str(),
                         static_cast<socklen_t>(r.device.size())) != 0) {
            std::string why = std::strerror(errno);
            ::close(fd);
            return make_error("egress forwarder " + r.listen_ip + ":" +
                              std::to_string(r.listen_port) + " on " + r.device + ": " + why);
        }
        if (fd < 0 || inet_pton(AF_INET, r.listen_ip.c_str(), &sa.sin_addr) != 1 ||
            ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
            ::listen(fd, 128) != 0) {
            std::string why = std::strerror(errno);
            if (fd >= 0) ::close(fd);
            return make_error("egress forwarder " + r.listen_ip + ":" +
                              std::to_string(r.listen_port) + ": " + why);
        }
        loop->listeners.push_back(fd);
    }
    for (std::size_t i = 0; i < loop->listeners.size(); ++i)
        loop->ctl(EPOLL_CTL_ADD, loop->listeners[i], EPOLLIN, Loop::tag(Loop::Kind::listener, i));
    loop->ctl(EPOLL_CTL_ADD, loop->wake, EPOLLIN, Loop::tag(Loop::Kind::wake, 0));
    routes_ = routes;
    Loop* l = loop.get();
    l->resolver_thread = std::thread([l] { l->resolver(); });
    l->loop_thread = std::thread([l] { l->run(); });
    loop_ = std::move(loop);
    return Unit{};
}

void EgressProxy::stop() {
    if (!loop_) return;
    loop_->stopping = true;
    loop_->to_resolve.close();  // wakes the resolver, which sees `stopping`
    if (loop_->loop_thread.joinable()) loop_->loop_thread.join();
    if (loop_->resolver_thread.joinable())
        loop_->resolver_thread.join();  // after at most one lookup
    loop_.reset();                      // closes every connection and listener
    open_ = 0;
}

}  // namespace tenex::hostnet
