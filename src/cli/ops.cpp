// Operator commands that talk to a running daemon over its HTTP API (daemon/http_api.hpp):
//   tenex-sandbox ps [--json]
//   tenex-sandbox stop <project>
//   tenex-sandbox restart <project>
//   tenex-sandbox logs <project> [-f] [--tail N]
//   tenex-sandbox exec <project> [-i] [--tty] [--user UID:GID] -- CMD [ARG...]
//   tenex-sandbox shell <project> [--user UID:GID] [--shell PATH] [--command LINE]
//   tenex-sandbox events [-f] [--json] [--tail N]
// Each takes --http ADDR ("host:port" or "unix:/path"; default 127.0.0.1:7878) or
// -c/--config FILE (its http_listen). <project> is an address "31933:<owner>:<d>" or a `d`.
// Exit codes: 0 ok; 1 the daemon is unreachable or refused the request (unknown project, ...);
// 2 bad usage (bad address, unreadable config). exec and shell pass the process's exit code
// through and use 125 (like `docker exec`) when the daemon is unreachable or refuses.
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "daemon/config.hpp"
#include "daemon/http_api.hpp"
#include "docker/transport.hpp"
#include "docker/url.hpp"

namespace tenex::cli {
namespace {

using json = nlohmann::json;

struct OpsArgs {
    std::string http{};
    std::string config{};
    std::string project{};
    bool json_output{false};
    bool follow{false};
    int tail{-1};
    std::vector<std::string> cmd{};
    std::string user{};
    bool tty{false};
    bool interactive{false};
    std::string shell{"/bin/sh"};
};

struct Endpoint {
    ListenAddress address{};
    std::string text{};
};

struct Reply {
    int status{0};
    std::string body{};
};

// A failed request: exit code 1 for "daemon unreachable / refused", 2 for bad usage.
struct OpsError {
    int exit_code{1};
    std::string message{};
};

template <class T>
using OResult = Result<T, OpsError>;

OResult<Endpoint> resolve_endpoint(const OpsArgs& a) {
    std::string text = "127.0.0.1:7878";
    if (!a.http.empty()) {
        text = a.http;
    } else if (!a.config.empty()) {
        auto cfg = daemon::load_config(a.config);
        if (!cfg) {
            std::string msg = "cannot read the configuration";
            if (!cfg.error().empty()) msg += ": " + sandbox::format_diagnostic(cfg.error().front());
            return OpsError{2, msg};
        }
        text = cfg->http_listen;
    }
    auto addr = parse_listen_address(text);
    if (!addr) return OpsError{2, "bad --http address '" + text + "': " + addr.error().message};
    return Endpoint{*addr, text};
}

OpsError unreachable(const Endpoint& e, const std::string& why) {
    return OpsError{1, "cannot reach the daemon at " + e.text + ": " + why +
                           " (is `tenex-sandbox up` running?)"};
}

docker::Transport transport_to(const Endpoint& e) {
    return e.address.unix_socket ? docker::Transport(e.address.path)
                                 : docker::Transport::tcp(e.address.host, e.address.port);
}

docker::Request daemon_request(const std::string& method, const std::string& path) {
    docker::Request req;
    req.method = method;
    req.path = path;
    req.content_type = {};
    req.timeout = std::chrono::seconds(60);
    if (method == "POST") req.headers.push_back(std::string(daemon::kActionHeader) + ": 1");
    return req;
}

// One request. With on_data, a 200 body is streamed to it (return false to stop); any other
// status collects the body into the reply.
OResult<Reply> request(const Endpoint& e, const std::string& method, const std::string& path,
                       const std::function<bool(std::string_view)>& on_data = {}) {
    auto transport = transport_to(e);
    auto req = daemon_request(method, path);
    Reply reply;
    if (on_data) {
        req.timeout = std::chrono::milliseconds(0);  // as long as the stream lasts
        docker::StreamHandlers h{.on_open = {}, .on_data = on_data};
        auto r = transport.stream(req, "daemon request", h);
        if (!r) return unreachable(e, r.error().message);
        reply.status = r->status == 0 ? 200 : r->status;
        reply.body = std::move(r->body);
        return reply;
    }
    auto r = transport.send(req, "daemon request");
    if (!r) return unreachable(e, r.error().message);
    reply.status = r->status;
    reply.body = std::move(r->body);
    return reply;
}

// The daemon's {"error": ...} or the status.
std::string error_of(const Reply& reply) {
    auto j = json::parse(reply.body, nullptr, false);
    if (j.is_object() && j.contains("error") && j["error"].is_string())
        return j["error"].get<std::string>();
    return "the daemon answered HTTP " + std::to_string(reply.status);
}

std::string project_path(const std::string& project, const std::string& action) {
    std::string p = "/projects/" + docker::url_encode(project);
    if (!action.empty()) p += "/" + action;
    return p;
}

// ---------------------------------------------------------------------------------------------
// ps

std::string human_bytes(std::uint64_t n) {
    static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(n);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    char buf[32];
    if (u == 0 || v >= 100 || v == static_cast<double>(static_cast<std::uint64_t>(v)))
        std::snprintf(buf, sizeof buf, "%.0f%s", v, kUnits[u]);
    else
        std::snprintf(buf, sizeof buf, "%.1f%s", v, kUnits[u]);
    return buf;
}

std::string human_duration(std::int64_t s) {
    char buf[32];
    if (s < 60)
        std::snprintf(buf, sizeof buf, "%" PRId64 "s", s);
    else if (s < 3600)
        std::snprintf(buf, sizeof buf, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
    else if (s < 86400)
        std::snprintf(buf, sizeof buf, "%" PRId64 "h%02" PRId64 "m", s / 3600, (s % 3600) / 60);
    else
        std::snprintf(buf, sizeof buf, "%" PRId64 "d%02" PRId64 "h", s / 86400, (s % 86400) / 3600);
    return buf;
}

std::string print_table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> width;
    for (const auto& r : rows)
        for (std::size_t i = 0; i < r.size(); ++i) {
            if (width.size() <= i) width.push_back(0);
            width[i] = std::max(width[i], r[i].size());
        }
    std::string out;
    for (const auto& r : rows) {
        std::string line;
        for (std::size_t i = 0; i < r.size(); ++i) {
            line += r[i];
            if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
        }
        out += line + "\n";
    }
    return out;
}

// Why a project is not running: what the orchestrator said and the last exit. Empty for a
// running or starting project.
std::string not_running_reason(const sandbox::ProjectStatus& st) {
    if (st.state == sandbox::ProjectState::running || st.state == sandbox::ProjectState::starting ||
        st.state == sandbox::ProjectState::paused ||
        (st.state == sandbox::ProjectState::stopped && st.kept))
        return {};
    std::string why = st.last_error;
    if (st.last_exit_code) {
        std::string exit = "last exit " + std::to_string(*st.last_exit_code);
        if (st.last_exit_reason != sandbox::ExitReason::none)
            exit += " (" + sandbox::to_string(st.last_exit_reason) + ")";
        why = why.empty() ? exit : why + "; " + exit;
    }
    return why;
}

void run_ps(const OpsArgs& a, Context& ctx) {
    auto fail = [&](const OpsError& e) {
        std::fprintf(stderr, "tenex-sandbox ps: %s\n", e.message.c_str());
        ctx.exit_code = e.exit_code;
    };
    auto endpoint = resolve_endpoint(a);
    if (!endpoint) return fail(endpoint.error());
    auto reply = request(*endpoint, "GET", "/projects");
    if (!reply) return fail(reply.error());
    if (reply->status != 200) return fail({1, error_of(*reply)});
    auto list = json::parse(reply->body, nullptr, false);
    if (!list.is_array()) return fail({1, "the daemon's /projects answer is not a JSON array"});
    if (a.json_output) {
        std::printf("%s\n", list.dump(2, ' ', false, json::error_handler_t::replace).c_str());
        return;
    }
    std::vector<std::pair<daemon::ProjectView, json>> views;
    std::map<std::string, int> d_count;
    for (const auto& item : list) {
        auto v = daemon::project_view_from_json(item);
        if (!v) return fail({1, "bad project in the daemon's answer: " + v.error().message});
        ++d_count[v->status.project.d];
        views.emplace_back(std::move(*v), item);
    }
    std::vector<std::vector<std::string>> rows{{"PROJECT", "CONTAINER", "STATE", "UPTIME", "NEXT",
                                                "RESTARTS", "CPU %", "MEMORY", "LIMITS", "NETWORK",
                                                "POLICY"}};
    // On swarm (a project has a node): a NODE column after CONTAINER.
    const bool nodes = std::any_of(views.begin(), views.end(),
                                   [](const auto& v) { return !v.first.status.node.empty(); });
    if (nodes) rows[0].insert(rows[0].begin() + 2, "NODE");
    std::vector<std::string> why_lines;  // printed below the table
    for (const auto& [v, item] : views) {
        const auto& st = v.status;
        std::string name = st.project.d;
        if (name.empty() || d_count[name] > 1)
            name = st.project.owner.substr(0, 8) + ":" + st.project.d;
        if (auto why = not_running_reason(st); !why.empty())
            why_lines.push_back(name + ": " + sandbox::to_string(st.state) + ": " + why);
        std::string uptime = "-";
        if (auto it = item.find("uptime_seconds"); it != item.end() && it->is_number_integer())
            uptime = human_duration(it->get<std::int64_t>());
        // The next timed transition: "pause in 14m59s", "stop in 45m00s", "remove in 23h59m".
        std::string next = "-";
        if (!st.next_transition.empty()) {
            const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
            next = st.next_transition + " in " +
                   human_duration(std::max<std::int64_t>(
                       0, (st.next_transition_unix_ms - now_ms + 999) / 1000));
        }
        std::string cpu = "-", mem = "-", limits = "-";
        if (v.limits.memory_bytes > 0) {
            char buf[64];
            std::snprintf(buf, sizeof buf, "%g CPU, %lld PIDs", v.limits.cpus,
                          static_cast<long long>(v.limits.pids));
            limits = buf;
            mem = "- / " + human_bytes(static_cast<std::uint64_t>(v.limits.memory_bytes));
        }
        if (st.usage) {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.1f%%", st.usage->cpu_percent);
            cpu = buf;
            mem = human_bytes(st.usage->memory_used) + " / " +
                  (st.usage->memory_limit ? human_bytes(st.usage->memory_limit) : "-");
        }
        rows.push_back({name, st.container_id.empty() ? "-" : st.container_id.substr(0, 12),
                        sandbox::to_string(st.state) + (st.kept ? ",kept" : ""), uptime, next,
                        std::to_string(st.restart_count), cpu, mem, limits,
                        v.network_mode.empty() ? "-" : v.network_mode,
                        v.policy.empty() ? "-" : v.policy});
        if (nodes)
            rows.back().insert(rows.back().begin() + 2,
                               st.node.empty() ? "-" : st.node.substr(0, 12));
    }
    std::fputs(print_table(rows).c_str(), stdout);
    for (const auto& line : why_lines) std::printf("%s\n", line.c_str());
}

void run_action(const OpsArgs& a, Context& ctx, const std::string& action) {
    auto fail = [&](const OpsError& e) {
        std::fprintf(stderr, "tenex-sandbox %s: %s\n", action.c_str(), e.message.c_str());
        ctx.exit_code = e.exit_code;
    };
    auto endpoint = resolve_endpoint(a);
    if (!endpoint) return fail(endpoint.error());
    auto reply = request(*endpoint, "POST", project_path(a.project, action));
    if (!reply) return fail(reply.error());
    if (reply->status != 200) return fail({1, error_of(*reply)});
    auto j = json::parse(reply->body, nullptr, false);
    auto v = daemon::project_view_from_json(j);
    if (!v) return fail({1, "bad answer from the daemon: " + v.error().message});
    std::printf("%s %s: %s%s%s\n",
                action == "stop"      ? "stopped"
                : action == "restart" ? "restarted"
                                      : "forgotten",
                v->status.project.address().c_str(), sandbox::to_string(v->status.state).c_str(),
                v->status.container_id.empty() ? "" : " ",
                v->status.container_id.substr(0, 12).c_str());
}

void run_logs(const OpsArgs& a, Context& ctx) {
    auto fail = [&](const OpsError& e) {
        std::fprintf(stderr, "tenex-sandbox logs: %s\n", e.message.c_str());
        ctx.exit_code = e.exit_code;
    };
    auto endpoint = resolve_endpoint(a);
    if (!endpoint) return fail(endpoint.error());
    std::string path = project_path(a.project, "logs") + "?follow=" + (a.follow ? "1" : "0");
    if (a.tail >= 0) path += "&tail=" + std::to_string(a.tail);
    auto reply = request(*endpoint, "GET", path, [](std::string_view data) {
        if (std::fwrite(data.data(), 1, data.size(), stdout) != data.size()) return false;
        std::fflush(stdout);
        return true;
    });
    if (!reply) return fail(reply.error());
    if (reply->status != 200) return fail({1, error_of(*reply)});
}

// ---------------------------------------------------------------------------------------------
// exec, shell

// Reads the daemon's exec stream (http_api.hpp): frames [type, 0, 0, 0, size32be] + payload.
class ExecStreamReader {
  public:
    // false: stop (a write failed or the stream is malformed)
    bool feed(std::string_view chunk) {
        buffer_.append(chunk);
        std::size_t pos = 0;
        bool ok = true;
        while (ok && buffer_.size() - pos >= 8) {
            const auto* h = reinterpret_cast<const unsigned char*>(buffer_.data() + pos);
            const std::size_t size = (std::size_t{h[4]} << 24) | (std::size_t{h[5]} << 16) |
                                     (std::size_t{h[6]} << 8) | std::size_t{h[7]};
            if (buffer_.size() - pos - 8 < size) break;
            std::string_view payload(buffer_.data() + pos + 8, size);
            if (h[0] == daemon::kExecStdout || h[0] == daemon::kExecStderr) {
                FILE* out = h[0] == daemon::kExecStdout ? stdout : stderr;
                ok = std::fwrite(payload.data(), 1, payload.size(), out) == payload.size();
                std::fflush(out);
            } else if (h[0] == daemon::kExecEnd) {
                end = json::parse(payload, nullptr, false);
            } else if (h[0] == daemon::kExecStarted && on_started) {
                auto j = json::parse(payload, nullptr, false);
                const std::string id = j.is_object() ? j.value("id", std::string()) : std::string();
                ok = !id.empty();
                malformed = !ok;
                if (ok) on_started(id);
            } else {
                malformed = true;
                ok = false;
            }
            pos += 8 + size;
        }
        buffer_.erase(0, pos);
        return ok;
    }
    json end{};  // the last frame's JSON, null until it came
    bool malformed{false};
    std::function<void(const std::string& exec_id)> on_started{};  // stdin execs' first frame

  private:
    std::string buffer_;
};

// POST with a body (a stdin exec's input): "" when delivered (204), else why not.
std::string post_input(const Endpoint& e, const std::string& path, std::string_view data) {
    auto req = daemon_request("POST", path);
    req.body = std::string(data);
    req.content_type = "application/octet-stream";
    req.timeout = std::chrono::seconds(30);
    auto r = transport_to(e).send(req, "daemon request");
    if (!r) return r.error().message;
    return r->status == 204 ? "" : error_of(Reply{r->status, r->body});
}

// The terminal in raw mode while a tty exec runs (keys, Ctrl-C included, go to the process
// inside; its terminal echoes), restored however the exec ends.
class RawTerminal {
  public:
    RawTerminal() {
        if (::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
        termios raw = saved_;
        ::cfmakeraw(&raw);
        active_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    ~RawTerminal() {
        if (active_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    }
    RawTerminal(const RawTerminal&) = delete;
    RawTerminal& operator=(const RawTerminal&) = delete;

  private:
    termios saved_{};
    bool active_{false};
};

std::atomic<bool> g_window_changed{false};

// Sends this process's stdin to the exec until EOF (then closes the exec's input) or until
// done, and the terminal's size at the start and on every SIGWINCH. Input that cannot be
// delivered goes to on_lost (the process inside would wait for it forever).
void pump_input(const Endpoint& e, const std::string& exec_id, bool tty,
                const std::atomic<bool>& done,
                const std::function<void(const std::string&)>& on_lost) {
    const std::string base = "/exec/" + exec_id;
    auto send_size = [&] {
        winsize ws{};
        if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
            (void)request(e, "POST",  // best effort: a failed resize leaves the old size
                          base + "/resize?rows=" + std::to_string(ws.ws_row) +
                              "&cols=" + std::to_string(ws.ws_col));
    };
    if (tty) send_size();
    char buf[16 * 1024];
    while (!done.load()) {
        if (tty && g_window_changed.exchange(false)) send_size();
        pollfd p{STDIN_FILENO, POLLIN, 0};
        int r = ::poll(&p, 1, 100);
        if (r <= 0) continue;
        ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        const bool eof = n <= 0;
        auto why = post_input(e, base + (eof ? "/stdin?eof=1" : "/stdin"),
                              std::string_view(buf, eof ? 0 : static_cast<std::size_t>(n)));
        if (!why.empty() && !done.load()) return on_lost(why);
        if (eof) return;
    }
}

void run_exec(const OpsArgs& a, Context& ctx, const char* name) {
    auto fail = [&](const OpsError& e) {
        std::fprintf(stderr, "tenex-sandbox %s: %s\n", name, e.message.c_str());
        ctx.exit_code = e.exit_code == 2 ? 2 : 125;
    };
    if (a.cmd.empty())
        return fail({2, "no command given (tenex-sandbox exec <project> -- CMD...)"});
    auto endpoint = resolve_endpoint(a);
    if (!endpoint) return fail(endpoint.error());
    std::string path = project_path(a.project, "exec") + "?tty=" + (a.tty ? "1" : "0");
    if (!a.user.empty()) path += "&user=" + docker::url_encode(a.user);
    for (const auto& arg : a.cmd) path += "&cmd=" + docker::url_encode(arg);
    ExecStreamReader reader;
    std::atomic<bool> done{false};
    std::thread pump;
    std::optional<RawTerminal> raw;
    if (a.interactive) {
        path += "&stdin=1";
        reader.on_started = [&](const std::string& exec_id) {
            if (pump.joinable()) return;
            if (a.tty && ::isatty(STDIN_FILENO)) {
                struct sigaction sa {};
                sa.sa_handler = [](int) { g_window_changed = true; };
                ::sigaction(SIGWINCH, &sa, nullptr);
                raw.emplace();
            }
            pump = std::thread([&, exec_id] {
                pump_input(*endpoint, exec_id, a.tty, done, [&](const std::string& why) {
                    raw.reset();
                    std::fprintf(stderr, "tenex-sandbox %s: the input could not be delivered: %s\n",
                                 name, why.c_str());
                    std::fflush(stdout);
                    std::_Exit(125);
                });
            });
        };
    }
    auto reply =
        request(*endpoint, "POST", path, [&](std::string_view data) { return reader.feed(data); });
    done = true;
    if (pump.joinable()) pump.join();
    raw.reset();
    if (!reply) return fail(reply.error());
    if (reply->status != 200) return fail({1, error_of(*reply)});
    if (reader.malformed) return fail({1, "malformed exec stream from the daemon"});
    if (!reader.end.is_object()) return fail({1, "the exec stream ended without an exit code"});
    if (auto it = reader.end.find("exit_code"); it != reader.end.end() && it->is_number_integer()) {
        ctx.exit_code = it->get<int>();
        return;
    }
    return fail({1, "exec failed: " + reader.end.value("error", std::string("unknown error"))});
}

// ---------------------------------------------------------------------------------------------
// events

void run_events(const OpsArgs& a, Context& ctx) {
    auto fail = [&](const OpsError& e) {
        std::fprintf(stderr, "tenex-sandbox events: %s\n", e.message.c_str());
        ctx.exit_code = e.exit_code;
    };
    auto endpoint = resolve_endpoint(a);
    if (!endpoint) return fail(endpoint.error());
    std::string path = std::string("/events?follow=") + (a.follow ? "1" : "0");
    if (a.tail >= 0) path += "&tail=" + std::to_string(a.tail);
    std::string pending;
    bool bad = false;
    auto reply = request(*endpoint, "GET", path, [&](std::string_view data) {
        pending.append(data);
        std::size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
            std::string line = pending.substr(0, nl);
            pending.erase(0, nl + 1);
            if (line.empty()) continue;
            std::string out;
            if (a.json_output) {
                out = line;
            } else {
                auto e = daemon::lifecycle_event_from_json(json::parse(line, nullptr, false));
                if (!e) {
                    bad = true;
                    return false;
                }
                out = daemon::to_line(*e);
            }
            out += "\n";
            if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size()) return false;
            std::fflush(stdout);
        }
        return true;
    });
    if (!reply) return fail(reply.error());
    if (reply->status != 200) return fail({1, error_of(*reply)});
    if (bad) return fail({1, "malformed event from the daemon"});
}

void add_endpoint_options(CLI::App* cmd, OpsArgs& a) {
    cmd->add_option("--http", a.http,
                    "The daemon's HTTP API: host:port or unix:/path (default 127.0.0.1:7878)");
    cmd->add_option("-c,--config", a.config, "Read the API address (http_listen) from this config");
}

}  // namespace

void register_ps(CLI::App& root, Context& ctx) {
    auto a = std::make_shared<OpsArgs>();
    auto* cmd = root.add_subcommand("ps", "List the daemon's projects and their containers");
    add_endpoint_options(cmd, *a);
    cmd->add_flag("--json", a->json_output, "Print the /projects JSON instead of a table");
    cmd->callback([a, &ctx] { run_ps(*a, ctx); });
}

void register_stop(CLI::App& root, Context& ctx) {
    auto a = std::make_shared<OpsArgs>();
    auto* cmd =
        root.add_subcommand("stop", "Stop a project's container (the daemon keeps it known)");
    add_endpoint_options(cmd, *a);
    cmd->add_option("project", a->project, "Project address 31933:<owner>:<d> or its d")
        ->required();
    cmd->callback([a, &ctx] { run_action(*a, ctx, "stop"); });
}

void register_forget(CLI::App& root, Context& ctx) {
    auto a = std::make_shared<OpsArgs>();
    auto* cmd = root.add_subcommand(
        "forget",
        "Stop a project's container and drop the project from the daemon's list and /metrics");
    add_endpoint_options(cmd, *a);
    cmd->add_option("project", a->project, "Project address 31933:<owner>:<d> or its d")
        ->required();
    cmd->footer("Its workspace, keys and history stay; the next message for it starts it again.");
    cmd->callback([a, &ctx] { run_action(*a, ctx, "forget"); });
}

void register_restart(CLI::App& root, Context& ctx) {
    auto a = std::make_shared<OpsArgs>();
    auto* cmd = root.add_subcommand("restart", "Restart a project's container");
    add_endpoint_options(cmd, *a);
    cmd->add_option("project", a->project, "Project address 31933:<owner>:<d> or its d")
        ->required();
    cmd->callback([a, &ctx] { run_action(*a, ctx, "restart"); });
}

void register_logs(CLI::App& root, Context& ctx) {
    auto a = std::make_shared<OpsArgs>();
    auto* cmd = root.add_subcommand("logs", "Print a project's container logs (stdout and stderr)");
    add_endpoint_options(cmd, *a);
    cmd->add_option("project", a->project, "Project address 31933:<owner>:<d> or its d")
        ->required();
    cmd->add_flag("-f,--follow", a->follow, "Follow the logs until the container ends");
    cmd->add_option("--tail", a->tail, "Only the last N lines")->check(CLI::NonNegativeNumber);
    cmd->callback([a, &ctx] { run_logs(*a, ctx); });
}

void register_exec(CLI::App& root, Context& ctx) {
    auto a = std::make_shared<OpsArgs>();
    auto* cmd = root.add_subcommand("exec",
                                    "Run a command inside a project's running sandbox (its user "
                                    "and limits); exits with its code");
    add_endpoint_options(cmd, *a);
    cmd->add_option("project", a->project, "Project address 31933:<owner>:<d> or its d")
        ->required();
    cmd->add_option("cmd", a->cmd, "The command and its arguments (after --)")->required();
    cmd->add_flag("-i,--interactive", a->interactive, "Forward stdin to the command (until EOF)");
    cmd->add_flag("-t,--tty", a->tty,
                  "Allocate a pseudo-terminal (output is then one stream; with -i on a terminal, "
                  "it is put in raw mode)");
    cmd->add_option("-u,--user", a->user,
                    "Run as UID:GID (numbers, not 0; default the container's user)");
    cmd->footer(
        "Without -i no stdin is forwarded. Exit code: the command's; 125 when the daemon refuses "
        "or is unreachable.");
    cmd->callback([a, &ctx] { run_exec(*a, ctx, "exec"); });
}

void register_shell(CLI::App& root, Context& ctx) {
    auto a = std::make_shared<OpsArgs>();
    auto* cmd =
        root.add_subcommand("shell", "Run the image's shell inside a project's running sandbox");
    add_endpoint_options(cmd, *a);
    cmd->add_option("project", a->project, "Project address 31933:<owner>:<d> or its d")
        ->required();
    cmd->add_option("-u,--user", a->user,
                    "Run as UID:GID (numbers, not 0; default the container's user)");
    cmd->add_option("--shell", a->shell, "The shell's path in the image");
    cmd->add_option("--command", a->cmd, "Run this command line with the shell (SHELL -c LINE)");
    cmd->callback([a, &ctx] {
        OpsArgs args = *a;
        if (!a->cmd.empty()) {
            std::string line;
            for (const auto& part : a->cmd) line += (line.empty() ? "" : " ") + part;
            args.cmd = {a->shell, "-c", line};
        } else {
            // Interactive: stdin forwarded; a terminal (raw mode here, a tty inside) when this
            // process has one, else plain streams (a script piped in).
            args.cmd = {a->shell};
            args.interactive = true;
            args.tty = ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO);
        }
        run_exec(args, ctx, "shell");
    });
}

void register_events(CLI::App& root, Context& ctx) {
    auto a = std::make_shared<OpsArgs>();
    auto* cmd = root.add_subcommand(
        "events", "Print the daemon's lifecycle events (started, stopped, crashed, ...)");
    add_endpoint_options(cmd, *a);
    cmd->add_flag("-f,--follow", a->follow, "Keep printing new events as they happen");
    cmd->add_flag("--json", a->json_output, "One JSON object per line instead of text");
    cmd->add_option("--tail", a->tail, "Only the last N of the kept events first (default all)")
        ->check(CLI::NonNegativeNumber);
    cmd->footer("Line: <time> <type> <project>[ container=<id>][ exit=<code>][ reason=<text>]");
    cmd->callback([a, &ctx] { run_events(*a, ctx); });
}

}  // namespace tenex::cli
