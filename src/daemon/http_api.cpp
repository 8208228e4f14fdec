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
#include <ctime>
#include <filesystem>
#include <list>
#include <map>
#include <mutex>

#include "common/log.hpp"
#include "common/watched.hpp"
#include "docker/logs.hpp"
#include "docker/url.hpp"
#include "nostr/utf8.hpp"

namespace tenex::daemon {

namespace {

using json = nlohmann::json;

std::string dump(const json& j) {
    // Titles, errors and echoed input may hold invalid UTF-8: replace, never throw.
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Seconds since the epoch of an RFC 3339 UTC time ("2026-01-02T03:04:05.123Z"); nullopt for
// anything else, and for the engine's zero time "0001-01-01T00:00:00Z".
std::optional<std::int64_t> parse_rfc3339(const std::string& s) {
    std::tm tm{};
    int consumed = 0;
    if (s.size() < 20 ||
        std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                    &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
        consumed != 19)
        return std::nullopt;
    if (tm.tm_year < 1971 || tm.tm_mon < 1 || tm.tm_mon > 12) return std::nullopt;
    std::size_t pos = 19;
    if (pos < s.size() && s[pos] == '.') {
        ++pos;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    }
    std::int64_t offset = 0;
    if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
        ++pos;
    } else if (pos + 6 == s.size() && (s[pos] == '+' || s[pos] == '-') && s[pos + 3] == ':') {
        int h = 0, m = 0;
        if (std::sscanf(s.c_str() + pos + 1, "%2d:%2d", &h, &m) != 2) return std::nullopt;
        offset = (s[pos] == '+' ? 1 : -1) * (h * 3600 + m * 60);
        pos += 6;
    } else {
        return std::nullopt;
    }
    if (pos != s.size()) return std::nullopt;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return static_cast<std::int64_t>(timegm(&tm)) - offset;
}

bool state_has_uptime(sandbox::ProjectState s) {
    return s == sandbox::ProjectState::starting || s == sandbox::ProjectState::running ||
           s == sandbox::ProjectState::paused || s == sandbox::ProjectState::stopping;
}

Result<sandbox::ProjectState> parse_state(const std::string& s) {
    using sandbox::ProjectState;
    for (auto st : {ProjectState::stopped, ProjectState::starting, ProjectState::running,
                    ProjectState::paused, ProjectState::stopping, ProjectState::backing_off,
                    ProjectState::crash_looping, ProjectState::failed})
        if (sandbox::to_string(st) == s) return st;
    return make_error("unknown state '" + s + "'");
}

sandbox::ExitReason parse_exit_reason(const std::string& s) {
    using sandbox::ExitReason;
    for (auto r : {ExitReason::exit, ExitReason::oom, ExitReason::killed})
        if (sandbox::to_string(r) == s) return r;
    return ExitReason::none;
}

}  // namespace

json to_json(const ProjectView& view) {
    const auto& st = view.status;
    json j = {
        {"address", st.project.address()},
        {"owner", st.project.owner},
        {"d", st.project.d},
        {"title", view.title},
        {"state", sandbox::to_string(st.state)},
        {"container_id", st.container_id},
        {"container_name", st.container_name},
        {"started_at", st.started_at},
        {"node", st.node},
        {"uptime_seconds", nullptr},
        {"restarts", st.restart_count},
        {"oom_kills", st.oom_kills},
        {"last_exit_code", nullptr},
        {"last_exit_reason", sandbox::to_string(st.last_exit_reason)},
        {"last_error", st.last_error},
        {"last_trigger_unix_ms", st.last_trigger_unix_ms},
        {"kept", st.kept},
        {"last_wake", st.last_wake},
        {"next_transition", st.next_transition.empty() ? json(nullptr) : json(st.next_transition)},
        {"next_transition_unix_ms",
         st.next_transition.empty() ? json(nullptr) : json(st.next_transition_unix_ms)},
        {"network_mode", view.network_mode},
        {"policy", view.policy},
        {"policy_digest", st.policy_digest},
        {"limits",
         {{"memory", view.limits.memory_bytes},
          {"cpus", view.limits.cpus},
          {"pids", view.limits.pids}}},
        {"usage", nullptr},
        {"gateway_keys", view.gateway_keys},
    };
    if (state_has_uptime(st.state)) {
        if (auto started = parse_rfc3339(st.started_at)) {
            auto now = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
            j["uptime_seconds"] = std::max<std::int64_t>(0, now - *started);
        }
    }
    if (st.last_exit_code) j["last_exit_code"] = *st.last_exit_code;
    if (st.usage) {
        j["usage"] = {{"cpu_percent", st.usage->cpu_percent},
                      {"memory_used", st.usage->memory_used},
                      {"memory_limit", st.usage->memory_limit},
                      {"pids", st.usage->pids},
                      {"sampled_at_unix", st.usage->sampled_at_unix}};
    }
    return j;
}

Result<ProjectView> project_view_from_json(const json& j) {
    if (!j.is_object()) return make_error("a project is not a JSON object");
    try {
        ProjectView v;
        auto& st = v.status;
        st.project.owner = j.value("owner", std::string{});
        st.project.d = j.value("d", std::string{});
        v.title = j.value("title", std::string{});
        auto state = parse_state(j.value("state", std::string{"stopped"}));
        if (!state) return std::move(state).error();
        st.state = *state;
        st.container_id = j.value("container_id", std::string{});
        st.container_name = j.value("container_name", std::string{});
        st.started_at = j.value("started_at", std::string{});
        st.node = j.value("node", std::string{});
        st.restart_count = j.value("restarts", 0);
        st.oom_kills = j.value("oom_kills", 0);
        if (auto it = j.find("last_exit_code"); it != j.end() && !it->is_null())
            st.last_exit_code = it->get<int>();
        st.last_exit_reason = parse_exit_reason(j.value("last_exit_reason", std::string{}));
        st.last_error = j.value("last_error", std::string{});
        st.last_trigger_unix_ms = j.value("last_trigger_unix_ms", std::int64_t{0});
        st.kept = j.value("kept", false);
        st.last_wake = j.value("last_wake", std::string{});
        if (auto it = j.find("next_transition"); it != j.end() && it->is_string()) {
            st.next_transition = it->get<std::string>();
            st.next_transition_unix_ms = j.value("next_transition_unix_ms", std::int64_t{0});
        }
        v.network_mode = j.value("network_mode", std::string{});
        v.policy = j.value("policy", std::string{});
        st.policy_digest = j.value("policy_digest", std::string{});
        if (auto it = j.find("limits"); it != j.end() && it->is_object()) {
            v.limits.memory_bytes = it->value("memory", std::int64_t{0});
            v.limits.cpus = it->value("cpus", 0.0);
            v.limits.pids = it->value("pids", std::int64_t{0});
        }
        if (auto it = j.find("gateway_keys"); it != j.end() && it->is_array())
            v.gateway_keys = it->get<std::vector<std::string>>();
        if (auto it = j.find("usage"); it != j.end() && it->is_object()) {
            sandbox::ProjectUsage u;
            u.cpu_percent = it->value("cpu_percent", 0.0);
            u.memory_used = it->value("memory_used", std::uint64_t{0});
            u.memory_limit = it->value("memory_limit", std::uint64_t{0});
            u.pids = it->value("pids", std::uint64_t{0});
            u.sampled_at_unix = it->value("sampled_at_unix", std::int64_t{0});
            st.usage = u;
        }
        return v;
    } catch (const json::exception& e) {
        return make_error(std::string("a project field has the wrong type: ") + e.what());
    }
}

Status stream_container_logs(const docker::Client& client, const std::string& container,
                             const LogOptions& options,
                             const std::function<bool(std::string_view)>& sink, LogsOf of) {
    const bool service = of == LogsOf::service;
    std::string path =
        std::string(service ? "/services/" : "/containers/") + docker::url_encode(container) +
        "/logs?stdout=1&stderr=1&timestamps=0&follow=" + (options.follow ? "1" : "0");
    if (options.tail >= 0) path += "&tail=" + std::to_string(options.tail);
    docker::LogDemuxer demux(
        [&](docker::LogStream, std::string_view data) { return data.empty() || sink(data); });
    docker::StreamHandlers handlers{.on_open = {},
                                    .on_data = [&](std::string_view c) { return demux.feed(c); }};
    auto r = client.stream(
        "GET", path, std::string("logs of ") + (service ? "service " : "container ") + container,
        handlers, options.stop);
    if (!r) return make_error(r.error().describe());
    return Unit{};
}

Status check_exec_user(std::string_view user) {
    if (user.empty()) return Unit{};
    const auto colon = user.find(':');
    const auto uid_text = user.substr(0, colon);
    const auto gid_text =
        colon == std::string_view::npos ? std::string_view{} : user.substr(colon + 1);
    // Decimal digits only (no sign, no space), at most 2^31-1.
    auto id = [](std::string_view s) -> std::optional<std::int64_t> {
        if (s.empty() || s.size() > 10 ||
            s.find_first_not_of("0123456789") != std::string_view::npos)
            return std::nullopt;
        std::int64_t v = 0;
        std::from_chars(s.data(), s.data() + s.size(), v);
        return v;
    };
    auto is_root = [&](std::string_view s) {
        return s == "root" || id(s) == std::optional<std::int64_t>(0);
    };
    if (is_root(uid_text) || (colon != std::string_view::npos && is_root(gid_text)))
        return make_error("forbidden: a sandbox process never runs as root (uid 0 or gid 0)");
    if (colon == std::string_view::npos)
        return make_error(
            "expected --user uid:gid in numbers (names and a uid alone are resolved "
            "inside the image, where they can mean root)");
    auto uid = id(uid_text);
    auto gid = id(gid_text);
    if (!uid || !gid || *uid > 2147483647 || *gid > 2147483647)
        return make_error("expected --user uid:gid as two decimal numbers from 1 to 2147483647");
    return Unit{};
}

std::string exec_frame(unsigned char type, std::string_view payload) {
    std::string f(8, '\0');
    f[0] = static_cast<char>(type);
    const auto n = static_cast<std::uint32_t>(payload.size());
    f[4] = static_cast<char>((n >> 24) & 0xff);
    f[5] = static_cast<char>((n >> 16) & 0xff);
    f[6] = static_cast<char>((n >> 8) & 0xff);
    f[7] = static_cast<char>(n & 0xff);
    f.append(payload);
    return f;
}

// ---------------------------------------------------------------------------------------------
// Listen addresses

bool ListenAddress::loopback() const {
    if (unix_socket) return true;
    if (host == "localhost") return true;
    in_addr v4{};
    if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6{};
    if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
    return false;
}

Result<ListenAddress> parse_listen_address(std::string_view text) {
    ListenAddress a;
    if (text.starts_with("unix:")) {
        a.unix_socket = true;
        a.path = std::string(text.substr(5));
        if (a.path.empty() || a.path.front() != '/')
            return make_error("the unix socket path must be absolute: 'unix:/path'");
        if (a.path.find('\0') != std::string::npos) return make_error("NUL in the socket path");
        if (a.path.size() >= sizeof(sockaddr_un::sun_path))
            return make_error("the unix socket path is too long (max " +
                              std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes)");
        return a;
    }
    std::string_view host, port;
    if (text.starts_with("[")) {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return make_error("expected '[ipv6]:port'");
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos)
            return make_error("expected 'host:port' or 'unix:/path'");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos)
            return make_error("an IPv6 address must be written '[addr]:port'");
    }
    if (host.empty()) return make_error("the host is empty (use 127.0.0.1)");
    for (char c : host)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':'))
            return make_error("invalid character in the host");
    int p = -1;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || end != port.data() + port.size() || p < 0 || p > 65535)
        return make_error("the port must be a number from 0 to 65535");
    a.host = std::string(host);
    a.port = p;
    return a;
}

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

// The descriptor of a TCP request's connection (httplib does not hand it to handlers): the
// socket whose peer is the request's remote address and port and whose own port is the
// API's. -1 when not found (a unix socket API: no ports).
int client_socket(const httplib::Request& req) {
    if (req.remote_port <= 0 || req.local_port <= 0) return -1;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
        int fd = -1;
        const std::string name = entry.path().filename().string();
        if (std::from_chars(name.data(), name.data() + name.size(), fd).ec != std::errc()) continue;
        sockaddr_storage peer{}, self{};
        socklen_t plen = sizeof peer, slen = sizeof self;
        if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) != 0 ||
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&self), &slen) != 0)
            continue;
        auto port_of = [](const sockaddr_storage& ss) {
            return ss.ss_family == AF_INET
                       ? ntohs(reinterpret_cast<const sockaddr_in&>(ss).sin_port)
                   : ss.ss_family == AF_INET6
                       ? ntohs(reinterpret_cast<const sockaddr_in6&>(ss).sin6_port)
                       : 0;
        };
        char host[INET6_ADDRSTRLEN] = "";
        const void* addr =
            peer.ss_family == AF_INET
                ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in&>(peer).sin_addr)
                : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6&>(peer).sin6_addr);
        if ((peer.ss_family != AF_INET && peer.ss_family != AF_INET6) ||
            !::inet_ntop(peer.ss_family, addr, host, sizeof host))
            continue;
        if (port_of(peer) == req.remote_port && port_of(self) == req.local_port &&
            req.remote_addr == host)
            return fd;
    }
    return -1;
}

}  // namespace

// `logs -f` followers: each holds a worker thread while it follows, so they are capped, and
// one watcher thread notices within 200 ms when a follower's client has gone (its socket
// reports POLLRDHUP/POLLHUP) and ends that stream, even when the container writes nothing.
class HttpApi::Followers {
  public:
    explicit Followers(int max) : max_(max) {
        thread_ = std::thread([this] { run(); });
    }
    ~Followers() {
        stop_.stop();
        thread_.join();
    }
    int max() const { return max_; }
    bool enter() {  // false: at the cap
        std::lock_guard lk(mu_);
        if (active_ >= max_) return false;
        ++active_;
        return true;
    }
    void leave() {
        std::lock_guard lk(mu_);
        --active_;
    }
    std::uint64_t watch(int fd, std::stop_source src) {
        std::lock_guard lk(mu_);
        watched_[++next_] = {fd, std::move(src)};
        return next_;
    }
    void unwatch(std::uint64_t id) {
        std::lock_guard lk(mu_);
        watched_.erase(id);
    }

  private:
    void run() {
        while (!stop_.stopped()) {
            std::vector<pollfd> fds;
            std::vector<std::stop_source> sources;
            {
                std::lock_guard lk(mu_);
                for (const auto& [id, w] : watched_) {
                    fds.push_back(pollfd{w.first, POLLRDHUP, 0});
                    sources.push_back(w.second);
                }
            }
            if (!fds.empty() && ::poll(fds.data(), fds.size(), 0) > 0)
                for (std::size_t i = 0; i < fds.size(); ++i)
                    if (fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
                        sources[i].request_stop();
            stop_.sleep_for(std::chrono::milliseconds(200));
        }
    }

    const int max_;
    std::mutex mu_;
    StopSignal stop_;
    int active_{0};
    std::uint64_t next_{0};
    std::map<std::uint64_t, std::pair<int, std::stop_source>> watched_;
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

void send_json(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(dump(body) + "\n", "application/json");
}

void send_error(httplib::Response& res, int status, std::string message) {
    send_json(res, status, json{{"error", std::move(message)}});
}

// Percent-decodes one path segment; nullopt on a malformed escape.
std::optional<std::string> decode_segment(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        if (i + 2 >= s.size()) return std::nullopt;
        int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return out;
}

std::vector<std::string_view> split_path(std::string_view path) {
    std::vector<std::string_view> parts;
    if (path.empty() || path.front() != '/') return parts;
    path.remove_prefix(1);
    while (true) {
        auto slash = path.find('/');
        parts.push_back(path.substr(0, slash));
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash + 1);
    }
    return parts;
}

std::string shorten(std::string s) {
    if (s.size() > 80) s = s.substr(0, 80) + "...";
    return s;
}

struct Resolved {
    int status{200};
    std::string error{};
    ProjectView view{};
};

Resolved resolve_project(ControlPlane& control, const std::string& arg) {
    for (unsigned char c : arg)
        if (c < 0x20 || c == 0x7f) return {400, "control characters in the project name", {}};
    if (arg.empty()) return {400, "empty project name", {}};
    auto ref = sandbox::parse_project_arg(arg);
    if (!ref) return {400, "bad project '" + shorten(arg) + "': " + ref.error().message, {}};
    std::vector<ProjectView> matches;
    for (auto& v : control.projects()) {
        bool hit = ref->has_owner() ? v.status.project == *ref : v.status.project.d == ref->d;
        if (hit) matches.push_back(std::move(v));
    }
    if (matches.empty()) return {404, "unknown project '" + shorten(arg) + "'", {}};
    if (matches.size() > 1)
        return {409,
                "'" + shorten(arg) + "' names " + std::to_string(matches.size()) +
                    " projects; use the full address",
                {}};
    return {200, {}, std::move(matches.front())};
}

// `follow` and `tail`, as the log and event streams take them. nullopt: the key is another.
std::optional<Status> parse_follow_or_tail(const std::string& key, const std::string& value,
                                           bool& follow, int& tail) {
    if (key == "follow") {
        if (value == "1" || value == "true" || value.empty())
            follow = true;
        else if (value == "0" || value == "false")
            follow = false;
        else
            return Status(make_error("follow must be 0 or 1"));
        return Status(Unit{});
    }
    if (key != "tail") return std::nullopt;
    int n = -1;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (value == "all")
        n = -1;
    else if (ec != std::errc() || end != value.data() + value.size() || n < 0)
        return Status(make_error("tail must be a non-negative number or 'all'"));
    tail = n;
    return Status(Unit{});
}

Result<LogOptions> parse_log_query(const httplib::Request& req) {
    LogOptions o;
    for (const auto& [key, value] : req.params)
        if (auto r = parse_follow_or_tail(key, value, o.follow, o.tail); r && !*r)
            return r->error();
    return o;
}

Result<ExecRequest> parse_exec_query(const httplib::Request& req) {
    ExecRequest r;
    std::size_t total = 0;
    // req.params is a multimap: equal keys keep the order they came in.
    for (const auto& [key, value] : req.params) {
        if (key == "cmd") {
            if (!nostr::is_valid_utf8(value)) return make_error("cmd arguments must be UTF-8");
            if (value.find('\0') != std::string::npos) return make_error("NUL in a cmd argument");
            total += value.size();
            r.cmd.push_back(value);
        } else if (key == "tty") {
            if (value == "1" || value == "true")
                r.tty = true;
            else if (value == "0" || value == "false" || value.empty())
                r.tty = false;
            else
                return make_error("tty must be 0 or 1");
        } else if (key == "user") {
            r.user = value;
        } else if (key == "stdin") {
            if (value == "1" || value == "true")
                r.interactive = true;
            else if (value == "0" || value == "false" || value.empty())
                r.interactive = false;
            else
                return make_error("stdin must be 0 or 1");
        } else {
            return make_error("unknown parameter '" + shorten(key) + "'");
        }
    }
    if (r.cmd.empty()) return make_error("no command: give cmd=<argv[0]>&cmd=<argv[1]>...");
    if (r.cmd.front().empty()) return make_error("empty command");
    if (r.cmd.size() > 256 || total > 64 * 1024)
        return make_error("command too long (256 arguments, 64 KiB at most)");
    if (auto ok = check_exec_user(r.user); !ok) return std::move(ok).error();
    return r;
}

// POST /exec/{id}/stdin: the exec id (64 hex digits, the engine's) or empty.
std::string exec_input_target(const httplib::Request& req) {
    if (req.method != "POST") return {};
    std::string_view target = req.target;
    auto parts = split_path(target.substr(0, target.find('?')));
    if (parts.size() != 3 || parts[0] != "exec" || parts[2] != "stdin" || parts[1].size() != 64 ||
        parts[1].find_first_not_of("0123456789abcdef") != std::string_view::npos)
        return {};
    return std::string(parts[1]);
}

struct EventQuery {
    bool follow{false};
    int tail{-1};
};

Result<EventQuery> parse_event_query(const httplib::Request& req) {
    EventQuery q;
    for (const auto& [key, value] : req.params) {
        auto r = parse_follow_or_tail(key, value, q.follow, q.tail);
        if (!r) return make_error("unknown parameter '" + shorten(key) + "'");
        if (!*r) return r->error();
    }
    return q;
}

}  // namespace

static std::optional<std::pair<int, std::string>> refuse_browser(const httplib::Request& req,
                                                                 const ListenAddress& listen,
                                                                 int port);

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

// What only a web page would send: a page in the operator's browser can send simple requests
// to a loopback API (a form POST without preflight) and read answers after rebinding its own
// name to 127.0.0.1. Refused: any Origin header (browsers send it cross-origin and with every
// POST; our clients never), a Host that is a name other than localhost or this API's own
// listen host (rebinding needs a name; IP literals cannot be rebound), a Host with another
// port, and a POST without kActionHeader (not sendable cross-site without a preflight).
static std::optional<std::pair<int, std::string>> refuse_browser(const httplib::Request& req,
                                                                 const ListenAddress& listen,
                                                                 int port) {
    if (req.has_header("Origin"))
        return std::pair{403, std::string("cross-origin requests are refused")};
    if (req.method == "POST" && req.get_header_value(kActionHeader).empty())
        return std::pair{403, std::string("a state-changing request needs the header ") +
                                  kActionHeader +
                                  ": 1 (`tenex-sandbox stop`, `restart` and `exec` send it)"};
    if (listen.unix_socket || !req.has_header("Host")) return std::nullopt;
    const std::string host_header = req.get_header_value("Host");
    std::string_view host = host_header;
    std::string_view host_port;
    if (!host.empty() && host.front() == '[') {
        const auto close = host.find(']');
        if (close == std::string_view::npos)
            return std::pair{400, std::string("malformed Host header")};
        host_port = host.substr(close + 1);
        host = host.substr(1, close - 1);
    } else if (const auto colon = host.rfind(':'); colon != std::string_view::npos) {
        host_port = host.substr(colon);
        host = host.substr(0, colon);
    }
    const std::string want_port = ":" + std::to_string(port);
    const bool literal =
        host.find(':') != std::string_view::npos ||
        (!host.empty() && host.find_first_not_of("0123456789.") == std::string_view::npos);
    const bool known = literal || host == "localhost" || host == listen.host;
    if (!known || (host_port != want_port && !(host_port.empty() && port == 80)))
        return std::pair{
            421, "the Host header '" + shorten(host_header) + "' is not this API's address"};
    return std::nullopt;
}

void HttpApi::route(const httplib::Request& req, httplib::Response& res) {
    if (auto refused = refuse_browser(req, listen_, port_.load())) {
        spdlog::warn("http: refused {} {}: {}", req.method, shorten(req.path), refused->second);
        return send_error(res, refused->first, refused->second);
    }
    std::string_view target = req.target;
    auto raw_path = target.substr(0, target.find('?'));
    auto parts = split_path(raw_path);
    const bool get = req.method == "GET";
    const bool post = req.method == "POST";
    auto method_not_allowed = [&](const char* allow) {
        res.set_header("Allow", allow);
        send_error(res, 405, "method not allowed");
    };

    if (parts.size() == 1 && parts[0] == "healthz") {
        if (!get) return method_not_allowed("GET");
        auto h = control_.health();
        json body = h.details.is_object() ? h.details : json{{"details", h.details}};
        body["ok"] = h.ok;
        return send_json(res, h.ok ? 200 : 503, body);
    }
    if (parts.size() == 1 && parts[0] == "metrics") {
        if (!get) return method_not_allowed("GET");
        res.status = 200;
        res.set_content(metrics_.serialize(), "text/plain; version=0.0.4; charset=utf-8");
        return;
    }
    if (parts.size() == 1 && parts[0] == "events") {
        if (!get) return method_not_allowed("GET");
        if (!options_.events) return send_error(res, 404, "no such endpoint");
        return stream_events(req, res);
    }
    if (parts.size() == 3 && parts[0] == "exec" && parts[2] == "resize") {
        if (!post) return method_not_allowed("POST");
        if (!exec_enabled_)
            return send_error(res, 403,
                              "exec is disabled by the daemon's configuration (exec.enabled)");
        int rows = 0, cols = 0;
        for (const auto& [key, value] : req.params) {
            int* field = key == "rows" ? &rows : key == "cols" ? &cols : nullptr;
            if (!field) return send_error(res, 400, "unknown parameter '" + shorten(key) + "'");
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), *field);
            if (ec != std::errc{} || end != value.data() + value.size()) *field = 0;
        }
        if (rows < 1 || rows > 10000 || cols < 1 || cols > 10000)
            return send_error(res, 400, "rows and cols must be 1..10000");
        if (auto ok = control_.exec_resize(std::string(parts[1]), rows, cols); !ok)
            return send_error(res, 409, "resize: " + ok.error().message);
        res.status = 204;
        return;
    }
    if (parts.empty() || parts[0] != "projects") return send_error(res, 404, "no such endpoint");
    if (parts.size() == 1) {
        if (!get) return method_not_allowed("GET");
        json list = json::array();
        for (const auto& v : control_.projects()) list.push_back(to_json(v));
        return send_json(res, 200, list);
    }
    if (parts.size() > 3) return send_error(res, 404, "no such endpoint");
    auto arg = decode_segment(parts[1]);
    if (!arg) return send_error(res, 400, "malformed percent-encoding in the project");
    std::string action = parts.size() == 3 ? std::string(parts[2]) : std::string();
    const bool control_action = action == "stop" || action == "restart" || action == "forget";
    if (!action.empty() && !control_action && action != "logs" && action != "exec")
        return send_error(res, 404, "no such endpoint");
    if ((action.empty() || action == "logs") && !get) return method_not_allowed("GET");
    if ((control_action || action == "exec") && !post) return method_not_allowed("POST");

    // httplib calls this before reading a body: refuse one, so an action never runs for a
    // request that is still (or never) sending data.
    const auto content_length = req.get_header_value("Content-Length");
    if (post &&
        (req.has_header("Transfer-Encoding") || (!content_length.empty() && content_length != "0")))
        return send_error(res, 400, "no request body expected");

    if (action == "exec" && !exec_enabled_) {
        metrics_.exec("refused");
        spdlog::warn("http: exec refused: disabled by the configuration (exec.enabled)");
        return send_error(res, 403,
                          "exec is disabled by the daemon's configuration (exec.enabled)");
    }
    auto found = resolve_project(control_, *arg);
    if (found.status != 200) {
        if (action == "exec") metrics_.exec("refused");
        return send_error(res, found.status, found.error);
    }
    const std::string address = found.view.status.project.address();
    if (action.empty()) return send_json(res, 200, to_json(found.view));
    if (action == "exec") return run_exec(req, found.view, res);
    if (control_action) {
        spdlog::info("http: {} requested for {}", action, address);
        if (options_.events)
            options_.events->record({.seq = 0,
                                     .at_ms = 0,
                                     .type = action + "-requested",
                                     .project = address,
                                     .container = found.view.status.container_id.substr(0, 12),
                                     .exit_code = {},
                                     .reason = "operator"});
        auto r = action == "stop"      ? control_.stop(address)
                 : action == "restart" ? control_.restart(address)
                                       : control_.forget(address);
        if (!r) return send_error(res, 500, action + " failed: " + r.error().message);
        return send_json(res, 200, to_json(*r));
    }
    auto options = parse_log_query(req);
    if (!options) return send_error(res, 400, options.error().message);
    if (options->follow && !followers_->enter())
        return send_error(res, 503,
                          "too many log followers (" + std::to_string(followers_->max()) +
                              " at once); try again later");
    follow_logs(req, address, std::move(*options), res);
}

void HttpApi::follow_logs(const httplib::Request& req, const std::string& address,
                          LogOptions options, httplib::Response& res) {
    res.status = 200;
    res.set_header("Cache-Control", "no-store");
    const int client = client_socket(req);
    const bool follow = options.follow;
    res.set_chunked_content_provider(
        "text/plain; charset=utf-8",
        [this, address, opts = std::move(options), client](std::size_t, httplib::DataSink& sink) {
            // Ends with the API, or as soon as the client has gone.
            std::stop_source mine;
            std::stop_callback api_stops(stop_source_.get_token(),
                                         [&mine] { mine.request_stop(); });
            LogOptions o = opts;
            o.stop = mine.get_token();
            const std::uint64_t watch =
                o.follow && client >= 0 ? followers_->watch(client, mine) : 0;
            bool client_ok = true;
            auto st = control_.logs(address, o, [&](std::string_view data) {
                if (!client_ok || o.stop.stop_requested()) return false;
                if (!data.empty() && !sink.write(data.data(), data.size())) client_ok = false;
                return client_ok;
            });
            if (watch) followers_->unwatch(watch);
            if (!client_ok || mine.stop_requested()) return false;
            if (!st) {
                std::string line = "\n[tenex-sandbox] logs ended: " + st.error().message + "\n";
                sink.write(line.data(), line.size());
            }
            sink.done();
            return true;
        },
        [this, follow](bool) {
            if (follow) followers_->leave();
        });
}

void HttpApi::run_exec(const httplib::Request& req, const ProjectView& view,
                       httplib::Response& res) {
    const std::string address = view.status.project.address();
    auto refuse = [&](int status, const std::string& why) {
        metrics_.exec("refused");
        spdlog::warn("http: exec in {} refused: {}", address, why);
        send_error(res, status, why);
    };
    auto request = parse_exec_query(req);
    if (!request) return refuse(400, request.error().message);
    if (view.status.state != sandbox::ProjectState::running || view.status.container_id.empty())
        return refuse(409, "project " + address + " is not running (" +
                               sandbox::to_string(view.status.state) + ")");
    if (!followers_->enter())
        return refuse(503, "too many streams (" + std::to_string(followers_->max()) +
                               " at once); try again later");
    const std::string who = request->user.empty() ? "the container's user" : request->user;
    auto created = control_.exec_create(address, *request);
    if (!created) {
        followers_->leave();
        metrics_.exec("failed");
        spdlog::error("http: exec in {} failed: {}", address, created.error().message);
        return send_error(res, 500, "exec failed: " + created.error().message);
    }
    // Logged without its arguments (they may carry secrets).
    spdlog::info("http: exec {} in {} as {}: {} ({} arguments{})", created->substr(0, 12), address,
                 who, log::printable(request->cmd.front(), 120), request->cmd.size() - 1,
                 request->tty ? ", tty" : "");
    res.status = 200;
    res.set_header("Cache-Control", "no-store");
    const int client = client_socket(req);
    res.set_chunked_content_provider(
        "application/vnd.tenex.exec-stream",
        [this, address, who, exec_id = *created, tty = request->tty,
         interactive = request->interactive, argv0 = request->cmd.front(),
         container = view.status.container_id.substr(0, 12),
         client](std::size_t, httplib::DataSink& sink) {
            if (interactive) {  // where its input goes; input waits until exec_run has attached it
                auto frame = exec_frame(kExecStarted, dump(json{{"id", exec_id}}));
                if (!sink.write(frame.data(), frame.size())) return false;
            }
            std::stop_source mine;
            std::stop_callback api_stops(stop_source_.get_token(),
                                         [&mine] { mine.request_stop(); });
            const std::uint64_t watch = client >= 0 ? followers_->watch(client, mine) : 0;
            bool client_ok = true;
            const auto t0 = std::chrono::steady_clock::now();
            auto code = control_.exec_run(
                exec_id, tty, mine.get_token(), [&](bool is_stderr, std::string_view data) {
                    if (!client_ok) return false;
                    if (data.empty()) return true;
                    auto frame = exec_frame(is_stderr ? kExecStderr : kExecStdout, data);
                    if (!sink.write(frame.data(), frame.size())) client_ok = false;
                    return client_ok;
                });
            if (watch) followers_->unwatch(watch);
            const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now() - t0)
                                .count();
            if (code) {
                metrics_.exec("completed");
                spdlog::info("http: exec {} in {} exited {} after {} ms", exec_id.substr(0, 12),
                             address, *code, ms);
            } else {
                metrics_.exec("failed");
                spdlog::warn("http: exec {} in {} failed after {} ms: {}", exec_id.substr(0, 12),
                             address, ms, code.error().message);
            }
            if (options_.events)
                options_.events->record(
                    {.seq = 0,
                     .at_ms = 0,
                     .type = "exec",
                     .project = address,
                     .container = container,
                     .exit_code = code ? std::optional<int>(*code) : std::nullopt,
                     .reason = log::printable(argv0, 120) + " as " + who +
                               (code ? "" : ": " + code.error().message)});
            if (!client_ok) return false;
            json end = code ? json{{"exit_code", *code}} : json{{"error", code.error().message}};
            auto frame = exec_frame(kExecEnd, dump(end));
            sink.write(frame.data(), frame.size());
            sink.done();
            return true;
        },
        [this](bool) { followers_->leave(); });
}

void HttpApi::exec_input(const httplib::Request& req, httplib::Response& res,
                         const std::string& exec_id) {
    if (!exec_enabled_)
        return send_error(res, 403,
                          "exec is disabled by the daemon's configuration (exec.enabled)");
    bool eof = false;
    for (const auto& [key, value] : req.params) {
        if (key != "eof" || (value != "0" && value != "1"))
            return send_error(res, 400, "the only parameter is eof=0|1");
        eof = value == "1";
    }
    if (auto ok = control_.exec_input(exec_id, req.body, eof); !ok)
        return send_error(res, 409, "exec input: " + ok.error().message);
    res.status = 204;
}

void HttpApi::stream_events(const httplib::Request& req, httplib::Response& res) {
    auto query = parse_event_query(req);
    if (!query) return send_error(res, 400, query.error().message);
    if (query->follow && !followers_->enter())
        return send_error(res, 503,
                          "too many followers (" + std::to_string(followers_->max()) +
                              " at once); try again later");
    res.status = 200;
    res.set_header("Cache-Control", "no-store");
    const int client = client_socket(req);
    const bool follow = query->follow;
    res.set_chunked_content_provider(
        "application/x-ndjson",
        [this, q = *query, client](std::size_t, httplib::DataSink& sink) {
            std::stop_source mine;
            std::stop_callback api_stops(stop_source_.get_token(),
                                         [&mine] { mine.request_stop(); });
            const std::uint64_t watch =
                q.follow && client >= 0 ? followers_->watch(client, mine) : 0;
            auto write = [&](const std::vector<LifecycleEvent>& events, std::uint64_t& seq) {
                std::string out;
                for (const auto& e : events) {
                    out += dump(to_json(e)) + "\n";
                    seq = e.seq;
                }
                return out.empty() || sink.write(out.data(), out.size());
            };
            std::uint64_t seq = options_.events->last_seq();
            auto first = options_.events->last(q.tail);
            bool ok = write(first, seq);
            if (!first.empty()) seq = std::max(seq, first.back().seq);
            while (ok && q.follow && !mine.stop_requested()) {
                auto next =
                    options_.events->wait_after(seq, mine.get_token(), std::chrono::seconds(1));
                ok = write(next, seq);
            }
            if (watch) followers_->unwatch(watch);
            // The client gone: drop the connection; the API stopping: a clean end.
            if (!ok || (mine.stop_requested() && !stop_source_.stop_requested())) return false;
            sink.done();
            return true;
        },
        [this, follow](bool) {
            if (follow) followers_->leave();
        });
}

}  // namespace tenex::daemon
