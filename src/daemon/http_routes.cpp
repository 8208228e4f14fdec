// The HTTP API's routes: resolving {project}, the query parameters, the answers of each
// endpoint (http_api.hpp lists them), `logs -f` and /events streams, exec streams and their
// input, and the checks that refuse what only a web page would send.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <httplib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

#include "common/log.hpp"
#include "daemon/http_api.hpp"
#include "daemon/http_internal.hpp"
#include "docker/logs.hpp"
#include "docker/url.hpp"
#include "nostr/utf8.hpp"

namespace tenex::daemon {

using json = nlohmann::json;

namespace http_detail {

std::string dump(const json& j) {
    // Titles, errors and echoed input may hold invalid UTF-8: replace, never throw.
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

void send_json(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(dump(body) + "\n", "application/json");
}

void send_error(httplib::Response& res, int status, std::string message) {
    send_json(res, status, json{{"error", std::move(message)}});
}

std::string shorten(std::string s) {
    if (s.size() > 80) s = s.substr(0, 80) + "...";
    return s;
}

}  // namespace http_detail

using namespace http_detail;

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

namespace http_detail {

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

// What only a web page would send: a page in the operator's browser can send simple requests
// to a loopback API (a form POST without preflight) and read answers after rebinding its own
// name to 127.0.0.1. Refused: any Origin header (browsers send it cross-origin and with every
// POST; our clients never), a Host that is a name other than localhost or this API's own
// listen host (rebinding needs a name; IP literals cannot be rebound), a Host with another
// port, and a POST without kActionHeader (not sendable cross-site without a preflight).
std::optional<std::pair<int, std::string>> refuse_browser(const httplib::Request& req,
                                                          const ListenAddress& listen, int port) {
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

}  // namespace http_detail

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
