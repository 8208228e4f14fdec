// The HTTP API's binding and server lifetime: listen addresses, the sockets (TCP or unix), the
// front thread that reads each request whole before a worker serves it, start and stop. The
// routes are in http_routes.cpp, the project view's JSON in project_view.cpp.
#include "daemon/http_api.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <httplib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <list>

#include "daemon/http_internal.hpp"

namespace tenex::daemon {

using namespace http_detail;
using json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// The server. httplib parses requests and writes responses, but its own accept loop is not
// used: it hands each connection to a worker thread that then waits for the request (5 s per
// read, no total), so clients that trickled their request head one byte at a time held every
// worker for as long as they liked. Here one front thread (below) accepts and
// buffers each request until it is complete, with a total deadline, and only then does a
// worker run httplib's request processing on the buffered bytes (one request per connection,
// answered with Connection: close). It also binds its own socket: httplib 0.11 cannot bind
// unix sockets, and its bind reports no reason.

class HttpApi::Server : public httplib::Server {
  public:
    // httplib ends chunked responses early while it has no listening socket (it takes that
    // for shutting down): give it ours, and take it away at stop so following streams end.
    void adopt(int fd) { svr_sock_ = fd; }
    void shutting_down() { svr_sock_ = INVALID_SOCKET; }
    // One complete request, already read (strm serves it), answered on strm.
    void serve(httplib::Stream& strm) {
        bool connection_closed = false;
        process_request(strm, /*close_connection=*/true, connection_closed, nullptr);
    }
};

namespace {

constexpr std::size_t kMaxHead = 64 * 1024;  // request line and headers
constexpr std::size_t kMaxBody = 64 * 1024;  // the API's payload limit
constexpr int kWriteTimeoutMs = 10'000;      // per write of a response

bool wait_for(int fd, short events, int timeout_ms) {
    pollfd p{fd, events, 0};
    for (;;) {
        const int r = ::poll(&p, 1, timeout_ms);
        if (r < 0 && errno == EINTR) continue;
        return r > 0 && (p.revents & events) != 0;
    }
}

void ip_and_port(const sockaddr_storage& ss, std::string& ip, int& port) {
    char host[INET6_ADDRSTRLEN] = "";
    if (ss.ss_family == AF_INET) {
        const auto& a = reinterpret_cast<const sockaddr_in&>(ss);
        ::inet_ntop(AF_INET, &a.sin_addr, host, sizeof host);
        ip = host, port = ntohs(a.sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
        ::inet_ntop(AF_INET6, &a.sin6_addr, host, sizeof host);
        ip = host, port = ntohs(a.sin6_port);
    } else {
        ip.clear(), port = 0;  // a unix socket
    }
}

// A connection whose complete request the front has read: reads come from that buffer (then
// end of input), writes go to the socket with the write timeout.
class BufferedStream final : public httplib::Stream {
  public:
    BufferedStream(int fd, std::string request, int write_timeout_ms)
        : fd_(fd), data_(std::move(request)), write_timeout_ms_(write_timeout_ms) {}
    bool is_readable() const override { return pos_ < data_.size(); }
    bool is_writable() const override { return wait_for(fd_, POLLOUT, write_timeout_ms_); }
    ssize_t read(char* ptr, std::size_t size) override {
        const std::size_t n = std::min(size, data_.size() - pos_);
        std::memcpy(ptr, data_.data() + pos_, n);
        pos_ += n;
        return static_cast<ssize_t>(n);
    }
    ssize_t write(const char* ptr, std::size_t size) override {
        for (;;) {
            const ssize_t n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
            if (n >= 0) return n;
            if (errno == EINTR) continue;
            if ((errno != EAGAIN && errno != EWOULDBLOCK) ||
                !wait_for(fd_, POLLOUT, write_timeout_ms_))
                return -1;
        }
    }
    void get_remote_ip_and_port(std::string& ip, int& port) const override {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
            ip_and_port(ss, ip, port);
    }
    void get_local_ip_and_port(std::string& ip, int& port) const override {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
            ip_and_port(ss, ip, port);
    }
    socket_t socket() const override { return fd_; }

  private:
    int fd_;
    std::string data_;
    std::size_t pos_{0};
    int write_timeout_ms_;
};

// An answer the front gives itself (the request never reaches a worker); best effort, the
// socket is non-blocking and closed right after.
void answer_and_close(int fd, int status, std::string_view reason, const std::string& error) {
    const std::string body = dump(json{{"error", error}}) + "\n";
    const std::string text =
        "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\nConnection: close\r\n\r\n" + body;
    (void)!::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
    // Closing with unread input resets the connection, which can discard the answer at the
    // client: read what has arrived first.
    char sink[4096];
    for (int i = 0; i < 16 && ::recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; ++i) {
    }
    ::close(fd);
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

// Accepts connections and reads each request (head, then Content-Length bytes of body) without
// blocking, on one thread; a complete request goes to hand_off, a connection past its deadline
// is closed. Bounded: max_pending connections at once, max_per_peer from one peer address, the
// oldest closed to make room; complete requests not yet taken by a worker count too, so a
// client that sends many fast requests while every worker is busy gets 503 instead of
// queueing without bound.
class HttpApi::Front {
  public:
    using HandOff = std::function<void(Front& self, int fd, std::string request)>;
    Front(int listen_fd, std::chrono::milliseconds timeout, int max_pending, int max_per_peer,
          HandOff hand_off)
        : listen_fd_(listen_fd),
          timeout_(timeout),
          max_pending_(std::max(1, max_pending)),
          max_per_peer_(std::max(1, max_per_peer)),
          hand_off_(std::move(hand_off)) {
        if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) wake_[0] = wake_[1] = -1;
        ::fcntl(listen_fd_, F_SETFL, ::fcntl(listen_fd_, F_GETFL) | O_NONBLOCK);
        thread_ = std::thread([this] { run(); });
    }
    ~Front() { stop(); }
    // Stops accepting and closes the connections still sending their request.
    void stop() {
        if (!thread_.joinable()) return;
        stopping_ = true;
        if (wake_[1] >= 0) (void)!::write(wake_[1], "x", 1);
        thread_.join();
        for (auto& c : conns_) ::close(c.fd);
        conns_.clear();
        ::close(listen_fd_);
        if (wake_[0] >= 0) ::close(wake_[0]), ::close(wake_[1]);
    }
    // A worker took a request (it no longer waits in the queue).
    void taken() { --queued_; }

  private:
    struct Conn {
        int fd;
        std::string peer;
        std::chrono::steady_clock::time_point deadline;
        std::string buf{};
        std::size_t head_end{0};  // 0: the head is not complete yet
        std::size_t body{0};      // Content-Length
        bool continued{false};    // "100 Continue" sent
    };
    using Iter = std::list<Conn>::iterator;

    void run() {
        auto listen_paused_until = std::chrono::steady_clock::time_point{};
        while (!stopping_) {
            auto now = std::chrono::steady_clock::now();
            const bool listening = now >= listen_paused_until;
            std::vector<pollfd> fds{{wake_[0], POLLIN, 0},
                                    {listening ? listen_fd_ : -1, POLLIN, 0}};
            std::vector<Iter> order;
            for (auto it = conns_.begin(); it != conns_.end(); ++it) {
                fds.push_back({it->fd, POLLIN, 0});
                order.push_back(it);
            }
            int wait_ms = listening ? -1 : 100;
            if (!conns_.empty()) {
                auto soonest = std::min_element(conns_.begin(), conns_.end(),
                                                [](const Conn& a, const Conn& b) {
                                                    return a.deadline < b.deadline;
                                                })
                                   ->deadline;
                auto ms = std::chrono::ceil<std::chrono::milliseconds>(soonest - now).count();
                ms = std::max<decltype(ms)>(0, ms);
                wait_ms =
                    wait_ms < 0 ? static_cast<int>(ms) : std::min(wait_ms, static_cast<int>(ms));
            }
            if (::poll(fds.data(), fds.size(), wait_ms) < 0 && errno != EINTR) {
                spdlog::error("http: poll failed: {}", std::strerror(errno));
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                continue;
            }
            if (stopping_) break;
            for (std::size_t i = 0; i < order.size(); ++i)
                if (fds[i + 2].revents) read_from(order[i]);
            if (fds[1].revents & POLLIN) {
                if (!accept_all())
                    listen_paused_until =
                        std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
            }
            now = std::chrono::steady_clock::now();
            for (auto it = conns_.begin(); it != conns_.end();) {
                if (it->deadline > now) {
                    ++it;
                    continue;
                }
                it = drop(
                    it, "request not complete within " + std::to_string(timeout_.count()) + " ms");
            }
        }
    }

    // false: out of descriptors (accept is paused briefly rather than spinning).
    bool accept_all() {
        for (int i = 0; i < 64; ++i) {
            sockaddr_storage ss{};
            socklen_t len = sizeof ss;
            const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len,
                                     SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
                spdlog::warn("http: accept failed: {}", std::strerror(errno));
                // Out of descriptors: free one held by the slowest client, and pause.
                if (!conns_.empty()) drop(conns_.begin(), "making room");
                return false;
            }
            std::string peer;
            int port = 0;
            ip_and_port(ss, peer, port);
            if (peer.empty()) peer = "unix";
            if (queued_.load() >= max_pending_) {
                answer_and_close(fd, 503, "Service Unavailable",
                                 "too many requests waiting; try again later");
                continue;
            }
            int same = 0;
            Iter oldest_same = conns_.end();
            for (auto it = conns_.begin(); it != conns_.end(); ++it)
                if (it->peer == peer && same++ == 0) oldest_same = it;
            if (same >= max_per_peer_) drop(oldest_same, "too many connections from " + peer);
            if (static_cast<int>(conns_.size()) >= max_pending_)
                drop(conns_.begin(), "too many connections");
            conns_.push_back(
                Conn{fd, std::move(peer), std::chrono::steady_clock::now() + timeout_});
        }
        return true;
    }

    Iter drop(Iter it, const std::string& why) {
        spdlog::debug("http: closing a connection from {} that sent {} bytes: {}", it->peer,
                      it->buf.size(), why);
        if (it->buf.empty())
            ::close(it->fd);
        else
            answer_and_close(it->fd, 408, "Request Timeout",
                             "the request was not complete in time");
        return conns_.erase(it);
    }

    void reject(Iter it, int status, std::string_view reason, const std::string& error) {
        answer_and_close(it->fd, status, reason, error);
        conns_.erase(it);
    }

    void read_from(Iter it) {
        Conn& c = *it;
        char chunk[16 * 1024];
        for (;;) {
            const std::size_t want =
                c.head_end ? c.head_end + c.body - c.buf.size() : kMaxHead + 1 - c.buf.size();
            const ssize_t n = ::recv(c.fd, chunk, std::min(sizeof chunk, want), 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
            if (n == 0 && !c.buf.empty())  // it stopped sending halfway through
                return reject(it, 400, "Bad Request", "the request ended before it was complete");
            if (n <= 0) {  // gone (or an error) before sending anything
                ::close(c.fd);
                conns_.erase(it);
                return;
            }
            const std::size_t before = c.buf.size();
            c.buf.append(chunk, static_cast<std::size_t>(n));
            if (!c.head_end) {
                // The head ends at the first empty line (CRLF, or a bare LF as httplib allows).
                const std::size_t from = before >= 3 ? before - 3 : 0;
                const auto crlf = c.buf.find("\r\n\r\n", from), lf = c.buf.find("\n\n", from);
                if (crlf == std::string::npos && lf == std::string::npos) {
                    if (c.buf.size() > kMaxHead)
                        return reject(it, 431, "Request Header Fields Too Large",
                                      "the request head is over 64 KiB");
                    continue;
                }
                c.head_end = std::min(crlf == std::string::npos ? std::string::npos : crlf + 4,
                                      lf == std::string::npos ? std::string::npos : lf + 2);
                if (c.head_end > kMaxHead)
                    return reject(it, 431, "Request Header Fields Too Large",
                                  "the request head is over 64 KiB");
                if (!parse_head(it)) return;
            }
            if (c.buf.size() >= c.head_end + c.body) {
                // Complete. Bytes past the request (pipelining) are dropped: one request per
                // connection.
                c.buf.resize(c.head_end + c.body);
                const int fd = c.fd;
                std::string request = std::move(c.buf);
                conns_.erase(it);
                ++queued_;
                hand_off_(*this, fd, std::move(request));
                return;
            }
        }
    }

    // The body's length from the head; false: refused (and closed). A body is sent only with
    // Content-Length: the front must know where the request ends, and two readings of
    // Transfer-Encoding are how requests get smuggled.
    bool parse_head(Iter it) {
        Conn& c = *it;
        std::optional<std::size_t> length;
        bool expect_continue = false;
        std::size_t pos = c.buf.find('\n');
        while (pos != std::string::npos && pos + 1 < c.head_end) {
            const std::size_t end = c.buf.find('\n', pos + 1);
            std::string_view line(c.buf.data() + pos + 1, end - pos - 1);
            pos = end;
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            const auto colon = line.find(':');
            if (colon == std::string_view::npos) continue;
            const std::string name = lower(line.substr(0, colon));
            std::string_view value = line.substr(colon + 1);
            while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
                value.remove_prefix(1);
            while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
                value.remove_suffix(1);
            if (name == "transfer-encoding") {
                reject(it, 411, "Length Required",
                       "request bodies need Content-Length (no Transfer-Encoding)");
                return false;
            }
            if (name == "expect" && lower(value) == "100-continue") expect_continue = true;
            if (name == "content-length") {
                std::size_t n = 0;
                const auto r = std::from_chars(value.data(), value.data() + value.size(), n);
                if (value.empty() || r.ec != std::errc() || r.ptr != value.data() + value.size() ||
                    (length && *length != n)) {
                    reject(it, 400, "Bad Request", "bad Content-Length");
                    return false;
                }
                length = n;
            }
        }
        c.body = length.value_or(0);
        if (c.body > kMaxBody) {
            reject(it, 413, "Payload Too Large", "the request body is over 64 KiB");
            return false;
        }
        if (expect_continue && c.body > 0 && c.buf.size() < c.head_end + c.body && !c.continued) {
            static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
            (void)!::send(c.fd, kContinue.data(), kContinue.size(), MSG_NOSIGNAL);
            c.continued = true;
        }
        return true;
    }

    const int listen_fd_;
    const std::chrono::milliseconds timeout_;
    const int max_pending_, max_per_peer_;
    HandOff hand_off_;
    int wake_[2]{-1, -1};
    std::atomic<bool> stopping_{false};
    std::atomic<int> queued_{0};
    std::list<Conn> conns_;  // oldest first
    std::thread thread_;
};

namespace {

std::string errno_text(int err) {
    return std::strerror(err);
}

bool sockaddr_is_loopback(const sockaddr* sa) {
    if (sa->sa_family == AF_INET)
        return (ntohl(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr);
    return false;
}

Result<int> bind_tcp(const ListenAddress& a, bool allow_non_loopback, const std::string& text) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* list = nullptr;
    std::string port = std::to_string(a.port);
    if (int rc = getaddrinfo(a.host.c_str(), port.c_str(), &hints, &list); rc != 0)
        return make_error("cannot listen on " + text + ": " + gai_strerror(rc));
    std::string last = "no address";
    int fd = -1;
    for (auto* ai = list; ai; ai = ai->ai_next) {
        if (!allow_non_loopback && !sockaddr_is_loopback(ai->ai_addr)) {
            last = "not a loopback address (the API has no authentication; allow it explicitly)";
            continue;
        }
        fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last = errno_text(errno);
            continue;
        }
        int yes = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, SOMAXCONN) == 0) break;
        last = errno_text(errno);
        ::close(fd);
        fd = -1;
    }
    freeaddrinfo(list);
    if (fd < 0) return make_error("cannot listen on " + text + ": " + last);
    return fd;
}

Result<int> bind_unix(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return make_error("cannot listen on unix:" + path +
                              ": the file exists and is not a socket");
        int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool live =
            probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        if (probe >= 0) ::close(probe);
        if (live)
            return make_error("cannot listen on unix:" + path +
                              ": a server is already listening there");
        ::unlink(path.c_str());  // stale socket of a previous run
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error("cannot create a unix socket: " + errno_text(errno));
    // bind creates the file; chmod before listen, so nobody can connect while it is wider.
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        int err = errno;
        ::close(fd);
        return make_error("cannot listen on unix:" + path + ": " + errno_text(err));
    }
    if (::chmod(path.c_str(), 0600) != 0 || ::listen(fd, SOMAXCONN) != 0) {
        int err = errno;
        ::close(fd);
        ::unlink(path.c_str());
        return make_error("cannot listen on unix:" + path + ": " + errno_text(err));
    }
    return fd;
}

}  // namespace

HttpApi::HttpApi(ControlPlane& control, Metrics& metrics, HttpOptions options)
    : control_(control), metrics_(metrics), options_(std::move(options)) {}

HttpApi::~HttpApi() {
    stop();
}

int HttpApi::port() const {
    return port_.load();
}

Status HttpApi::start() {
    if (server_) return make_error("the HTTP API is already started");
    auto addr = parse_listen_address(options_.listen);
    if (!addr)
        return make_error("bad HTTP listen address '" + shorten(options_.listen) +
                          "': " + addr.error().message);
    if (!addr->unix_socket && !options_.allow_non_loopback && !addr->loopback())
        return make_error("refusing to listen on " + options_.listen +
                          ": not a loopback address and the API has no authentication "
                          "(use 127.0.0.1, a unix: socket, or allow it explicitly)");
    auto fd = addr->unix_socket ? bind_unix(addr->path)
                                : bind_tcp(*addr, options_.allow_non_loopback, options_.listen);
    if (!fd) return std::move(fd).error();
    listen_ = *addr;
    exec_enabled_ = options_.exec_enabled.value_or(addr->unix_socket || addr->loopback());
    if (addr->unix_socket) {
        unix_path_ = addr->path;
    } else {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        if (::getsockname(*fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
            port_ =
                ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                              : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    }

    server_ = std::make_unique<Server>();
    auto& srv = *server_;
    int threads = std::max(2, options_.threads);
    followers_ = std::make_unique<Followers>(options_.max_followers > 0 ? options_.max_followers
                                                                        : std::max(1, threads / 2));
    srv.set_payload_max_length(kMaxBody);
    srv.set_exception_handler(
        [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
            std::string what = "unknown";
            try {
                if (ep) std::rethrow_exception(ep);
            } catch (const std::exception& e) {
                what = e.what();
            } catch (...) {
            }
            spdlog::error("http: {} {}: internal error: {}", req.method, shorten(req.path), what);
            send_error(res, 500, "internal error");
        });
    // The one request with a body: a stdin exec's input. Checked here, then read by httplib
    // (at most the payload limit) and handled by the Post handler below.
    srv.Post(R"(/exec/[0-9a-f]{64}/stdin)",
             [this](const httplib::Request& req, httplib::Response& res) {
                 exec_input(req, res, exec_input_target(req));
             });
    srv.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
        if (!exec_input_target(req).empty()) {
            if (auto refused = refuse_browser(req, listen_, port_.load())) {
                send_error(res, refused->first, refused->second);
                return httplib::Server::HandlerResponse::Handled;
            }
            return httplib::Server::HandlerResponse::Unhandled;
        }
        try {
            route(req, res);
        } catch (const std::exception& e) {
            spdlog::error("http: {} {}: internal error: {}", req.method, shorten(req.path),
                          e.what());
            send_error(res, 500, "internal error");
        }
        return httplib::Server::HandlerResponse::Handled;
    });
    srv.adopt(*fd);
    workers_ = std::make_unique<httplib::ThreadPool>(static_cast<std::size_t>(threads));
    front_ = std::make_unique<Front>(
        *fd, options_.request_timeout, options_.max_pending, options_.max_pending_per_peer,
        [this](Front& front, int client, std::string request) {
            workers_->enqueue([this, &front, client, request = std::move(request)]() mutable {
                front.taken();
                BufferedStream strm(client, std::move(request), kWriteTimeoutMs);
                server_->serve(strm);
                ::shutdown(client, SHUT_RDWR);
                ::close(client);
            });
        });
    spdlog::info(
        "http: API listening on {} (exec {})",
        addr->unix_socket ? "unix:" + addr->path : addr->host + ":" + std::to_string(port_),
        exec_enabled_ ? "enabled" : "disabled");
    return Unit{};
}

void HttpApi::stop() {
    if (!server_) return;
    stop_source_.request_stop();  // ends following streams
    server_->shutting_down();
    front_->stop();
    workers_->shutdown();  // joins, after the requests already read are answered
    front_.reset();
    workers_.reset();
    server_.reset();
    followers_.reset();
    if (!unix_path_.empty()) {
        ::unlink(unix_path_.c_str());
        unix_path_.clear();
    }
}

}  // namespace tenex::daemon
