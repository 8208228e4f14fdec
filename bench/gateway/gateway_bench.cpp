// Benchmark: the project relay gateway (issue 15) with P projects (default 200) connected, each
// with the TENEX backend's 3 live subscriptions, through floods of E upstream events (default
// 3 x 10,000) of which 1% are in some project's scope. Four processes:
//   - the upstream relay: this project's embedded relay (relay::EmbeddedRelay, memory only)
//     in a child forked before anything else starts, so its CPU and memory are not ours;
//   - the floor: a bare TCP forwarder to the relay (hostnet::EgressProxy) in a second such
//     child: what one extra process hop costs when it does nothing but copy bytes;
//   - the daemon side: this process, one relay::RelayPool connected to the relay and the
//     Gateway (its key bindings and subscriptions in a SQLite file, as in the daemon);
//   - the clients (bench/gateway/clients.mjs, node): one websocket per project to the gateway,
//     the same subscriptions on one websocket per project straight to the relay (the direct
//     path) and through the floor's forwarder (the floor path), and the publisher, all on one
//     clock (performance.now()).
// Measured: delivery latency of every in-scope event, publish to receipt, through the gateway,
// direct and through the floor, in the same run; this process's RSS (VmRSS) before the gateway
// starts, with the P projects connected and after each flood; its CPU (getrusage) during each
// flood; the events the clients received outside their project's scope (must be 0) and the
// gateway's counters. No timed assertion: prints Markdown. See bench/results/gateway.md.
//
// usage: bench_gateway [--projects 200] [--events 10000] [--floods 3] [--rate 1000]
//                      [--relay-max-subs 2000] [--owner-events 0] [--owner-rate 50]
// --relay-max-subs: subscriptions the relay allows per connection; the daemon's pool carries
// all 3 x P of the gateway's on its one connection (the embedded relay's default is 200).
// --owner-events N: after the floods, N of the owner's events that match every project's `o`
// subscription and no project's scope (N x P upstream copies, all hidden): the RSS once the
// gateway's per-subscription dedup sets (1,024 ids each) are full, the CPU of such fan-out.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "common/private_file.hpp"
#include "gateway/server.hpp"
#include "hostnet/egress_proxy.hpp"
#include "relay/pool.hpp"
#include "relay/server.hpp"

using namespace tenex;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

const fs::path kSource = TENEX_SOURCE_DIR;

// ---------- processes ----------

// VmRSS / VmHWM (KiB) of a process.
long status_kib(const std::string& pid, const char* field) {
    std::ifstream in("/proc/" + pid + "/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::strlen(field));
    return -1;
}

// utime + stime of a process, in seconds.
double proc_cpu_s(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), {});
    const auto close = text.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream f(text.substr(close + 2));
    std::string v;
    long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && f >> v; ++i) {
        if (i == 14) utime = std::atol(v.c_str());
        if (i == 15) stime = std::atol(v.c_str());
    }
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double self_cpu_s() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto s = [](const timeval& t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
    };
    return s(ru.ru_utime) + s(ru.ru_stime);
}

std::string loadavg() {
    std::ifstream in("/proc/loadavg");
    std::string a, b, c;
    in >> a >> b >> c;
    return a + " " + b + " " + c;
}

void stop_child(pid_t pid) {
    if (pid <= 0) return;
    ::kill(pid, SIGTERM);
    int st = 0;
    for (int i = 0; i < 50; ++i) {
        if (::waitpid(pid, &st, WNOHANG) != 0) return;
        std::this_thread::sleep_for(100ms);
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &st, 0);
}

// A server in a child forked before this process starts any thread: its own CPU and RSS, no
// exec needed. `serve` starts it and returns its URL (or "error: ...") and what keeps it
// running; the child then waits for SIGTERM. Killed with us (PR_SET_PDEATHSIG) if we die first.
struct ServerChild {
    using Serve = std::function<std::pair<std::string, std::shared_ptr<void>>()>;
    pid_t pid{-1};
    std::string url;

    explicit ServerChild(const Serve& serve) {
        int fds[2];
        if (::pipe(fds) != 0) throw std::runtime_error("pipe");
        pid = ::fork();
        if (pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            ::close(fds[0]);
            sigset_t set;  // blocked before the server's threads start, so sigwait gets it
            sigemptyset(&set);
            sigaddset(&set, SIGTERM);
            ::sigprocmask(SIG_BLOCK, &set, nullptr);
            const auto [where, running] = serve();
            const std::string line = where + "\n";
            if (::write(fds[1], line.data(), line.size()) < 0) ::_exit(1);
            ::close(fds[1]);
            int sig = 0;
            ::sigwait(&set, &sig);
            ::_exit(0);  // the server's threads go with the process
        }
        ::close(fds[1]);
        char buf[256] = {0};
        const auto n = ::read(fds[0], buf, sizeof buf - 1);
        ::close(fds[0]);
        url = n > 0 ? std::string(buf, static_cast<std::size_t>(n) - 1) : "error: no answer";
    }
    ~ServerChild() { stop_child(pid); }
};

// The upstream relay: this project's embedded relay, memory only.
ServerChild::Serve upstream_relay(std::size_t max_subscriptions) {
    return [max_subscriptions]() -> std::pair<std::string, std::shared_ptr<void>> {
        relay::RelayServerOptions o;
        o.port = 0;
        o.max_subscriptions = max_subscriptions;
        auto r = relay::EmbeddedRelay::start(o);
        if (!r) return {"error: " + r.error().message, nullptr};
        std::string url = (*r)->url();
        return {url, std::shared_ptr<void>(std::move(*r))};
    };
}

// The floor: a bare TCP forwarder to the relay (the daemon's egress forwarder, hostnet::
// EgressProxy: epoll, copies bytes, parses nothing), i.e. the least any extra process hop
// between the relay and a client costs.
ServerChild::Serve tcp_floor(const std::string& relay_url) {
    return [relay_url]() -> std::pair<std::string, std::shared_ptr<void>> {
        const auto colon = relay_url.rfind(':');
        const int relay_port = std::atoi(relay_url.c_str() + colon + 1);
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);  // a free port for the listener
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof sa;
        const bool bound = fd >= 0 &&
                           ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
                           ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0;
        const std::string why = bound ? "" : std::strerror(errno);
        if (fd >= 0) ::close(fd);
        if (!bound) return {"error: " + why, nullptr};
        const int port = ntohs(sa.sin_port);
        auto proxy = std::make_shared<hostnet::EgressProxy>(
            "bench-floor", hostnet::ProxyLimits{.max_connections = 4096});
        auto st = proxy->start({hostnet::ProxyRoute{.listen_ip = "127.0.0.1",
                                                    .listen_port = port,
                                                    .target_host = "127.0.0.1",
                                                    .target_port = relay_port,
                                                    .trusted = true}});
        if (!st) return {"error: " + st.error().message, nullptr};
        return {"ws://127.0.0.1:" + std::to_string(port), proxy};
    };
}

// node with a pipe each way; stderr passes through.
struct NodeChild {
    pid_t pid{-1};
    int in_fd{-1}, out_fd{-1};
    std::string buffered;

    explicit NodeChild(const std::vector<std::string>& args) {
        int to[2], from[2];
        if (::pipe(to) != 0 || ::pipe(from) != 0) throw std::runtime_error("pipe");
        std::vector<std::string> a{"node"};
        a.insert(a.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& s : a) argv.push_back(s.data());
        argv.push_back(nullptr);
        pid = ::fork();
        if (pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            ::dup2(to[0], 0);
            ::dup2(from[1], 1);
            for (int fd : {to[0], to[1], from[0], from[1]}) ::close(fd);
            ::execvp("node", argv.data());
            ::_exit(127);
        }
        ::close(to[0]);
        ::close(from[1]);
        in_fd = to[1];
        out_fd = from[0];
    }
    ~NodeChild() {
        if (in_fd >= 0) ::close(in_fd);
        if (out_fd >= 0) ::close(out_fd);
        stop_child(pid);
    }
    void send(const std::string& line) {
        const std::string l = line + "\n";
        if (::write(in_fd, l.data(), l.size()) != static_cast<ssize_t>(l.size()))
            throw std::runtime_error("clients: cannot write");
    }
    // The next line starting with `prefix` (other lines are echoed to stderr).
    std::string expect(const std::string& prefix, std::chrono::seconds timeout) {
        const auto end = Clock::now() + timeout;
        while (true) {
            for (auto nl = buffered.find('\n'); nl != std::string::npos; nl = buffered.find('\n')) {
                std::string line = buffered.substr(0, nl);
                buffered.erase(0, nl + 1);
                if (line.rfind(prefix, 0) == 0) return line;
                std::fprintf(stderr, "clients: %s\n", line.c_str());
            }
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
            if (left <= 0) throw std::runtime_error("clients: no \"" + prefix + "\" in time");
            pollfd p{out_fd, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
            char buf[65536];
            const auto n = ::read(out_fd, buf, sizeof buf);
            if (n <= 0) throw std::runtime_error("clients: exited before \"" + prefix + "\"");
            buffered.append(buf, static_cast<std::size_t>(n));
        }
    }
};

// ---------- figures ----------

struct Percentiles {
    double median = 0, p95 = 0;
    std::size_t n = 0;
};
Percentiles percentiles(std::vector<double> v) {
    if (v.empty()) return {};
    std::sort(v.begin(), v.end());
    return {v[v.size() / 2], v[std::min(v.size() - 1, (v.size() * 95) / 100)], v.size()};
}

double mib(long kib) {
    return static_cast<double>(kib) / 1024.0;
}

struct FloodFigures {
    double wall_s{0}, cpu_s{0}, relay_cpu_s{0}, clients_cpu_s{0};
    long rss_kib{0};
    std::uint64_t pool_copies{0}, delivered{0}, hidden{0};
    json client;  // clients.mjs's own counts
};

std::uint64_t pool_delivered(const relay::RelayPool& pool) {
    std::uint64_t n = 0;
    for (const auto& r : pool.status()) n += r.events_delivered;
    return n;
}

int arg_int(int argc, char** argv, const char* name, int fallback) {
    for (int i = 1; i + 1 < argc; ++i)
        if (std::strcmp(argv[i], name) == 0) return std::atoi(argv[i + 1]);
    return fallback;
}

}  // namespace

int main(int argc, char** argv) {
    const int projects = arg_int(argc, argv, "--projects", 200);
    const int events = arg_int(argc, argv, "--events", 10000);
    const int floods = arg_int(argc, argv, "--floods", 3);
    const int rate = arg_int(argc, argv, "--rate", 1000);
    const int relay_max_subs = arg_int(argc, argv, "--relay-max-subs", 2000);
    const int owner_events = arg_int(argc, argv, "--owner-events", 0);
    const int owner_rate = arg_int(argc, argv, "--owner-rate", 50);
    spdlog::set_default_logger(spdlog::stderr_color_mt("bench"));  // stdout is the report
    spdlog::set_level(spdlog::level::warn);
    ::signal(SIGPIPE, SIG_IGN);

    if (std::system("node --version > /dev/null 2>&1") != 0 ||
        !fs::exists(kSource / "tests/relay-peers/node_modules/ws") ||
        !fs::exists(kSource / "tests/relay-peers/node_modules/nostr-wasm")) {
        std::fprintf(
            stderr,
            "needs node and tests/relay-peers/node_modules: npm ci --prefix tests/relay-peers\n");
        return 1;
    }
    const std::string load_start = loadavg();
    // First, before any thread: the relay, then the floor's forwarder to it.
    ServerChild relay(upstream_relay(static_cast<std::size_t>(relay_max_subs)));
    if (relay.url.rfind("ws://", 0) != 0) {
        std::fprintf(stderr, "relay: %s\n", relay.url.c_str());
        return 1;
    }
    ServerChild floor(tcp_floor(relay.url));
    if (floor.url.rfind("ws://", 0) != 0) {
        std::fprintf(stderr, "floor: %s\n", floor.url.c_str());
        return 1;
    }
    const fs::path dir =
        fs::temp_directory_path() / ("tenex-bench-gateway-" + std::to_string(::getpid()));
    fs::create_directories(dir);

    try {
        // The direct path first: the clients' connections to the relay predate the pool's.
        NodeChild clients({(kSource / "bench/gateway/clients.mjs").string(), relay.url,
                           (dir / "world.json").string(), std::to_string(projects),
                           std::to_string(events), std::to_string(rate), floor.url});
        clients.expect("direct-ready", 120s);
        std::fprintf(stderr, "bench_gateway: daemon side pid %d, relay pid %d, clients pid %d\n",
                     ::getpid(), relay.pid, clients.pid);
        json world = json::parse(std::ifstream(dir / "world.json"));
        const std::string owner = world["owner"];

        relay::RelayPool pool;
        (void)pool.add_relay(relay.url);
        if (!pool.wait_connected(1, 10s)) throw std::runtime_error("pool: relay not connected");
        std::this_thread::sleep_for(1s);
        const long rss_before = status_kib("self", "VmRSS:");

        gateway::GatewayOptions o;
        o.bindings_db = dir / "state.sqlite3";
        auto g = gateway::Gateway::start(o, pool);
        if (!g) throw std::runtime_error(g.error().message);
        auto& gw = **g;
        gw.set_reserved_keys({owner});
        json urls = json::array();
        for (const auto& p : world["projects"]) {
            gateway::ProjectKeys keys;
            keys.address = *nostr::Address::parse(p["address"].get<std::string>());
            for (const auto& a : p["agents"]) keys.agents.insert(a.get<std::string>());
            urls.push_back(gw.url_for("127.0.0.1", gw.open_project(std::move(keys))));
        }
        const fs::path secrets = dir / "gateway.json";
        if (auto st = write_private_file(secrets.string(), json{{"urls", urls}}.dump()); !st)
            throw std::runtime_error(st.error().message);
        const auto c0 = Clock::now();
        clients.send("gateway " + secrets.string());
        clients.expect("ready", 300s);
        const double connect_s = std::chrono::duration<double>(Clock::now() - c0).count();
        std::this_thread::sleep_for(2s);
        const long rss_connected = status_kib("self", "VmRSS:");
        const auto connected = gw.stats();

        // One phase: the clients' command, then the daemon side's figures until they report done.
        auto measure = [&](const std::string& command, const std::string& done_prefix,
                           std::chrono::seconds limit) {
            FloodFigures x;
            const auto s0 = gw.stats();
            const auto p0 = pool_delivered(pool);
            const double cpu0 = self_cpu_s(), r0 = proc_cpu_s(relay.pid),
                         n0 = proc_cpu_s(clients.pid);
            const auto t0 = Clock::now();
            clients.send(command);
            const std::string done = clients.expect(done_prefix, limit);
            x.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
            x.cpu_s = self_cpu_s() - cpu0;
            x.relay_cpu_s = proc_cpu_s(relay.pid) - r0;
            x.clients_cpu_s = proc_cpu_s(clients.pid) - n0;
            x.rss_kib = status_kib("self", "VmRSS:");
            const auto s1 = gw.stats();
            x.pool_copies = pool_delivered(pool) - p0;
            x.delivered = s1.events_delivered - s0.events_delivered;
            x.hidden = s1.events_hidden - s0.events_hidden;
            x.client = json::parse(done.substr(done.find('{')));
            return x;
        };
        std::vector<FloodFigures> fl;
        for (int f = 0; f < floods; ++f) {
            clients.send("sign " + std::to_string(f));
            clients.expect("signed " + std::to_string(f), 300s);
            std::this_thread::sleep_for(1s);
            fl.push_back(
                measure("flood " + std::to_string(f), "flood-done " + std::to_string(f), 600s));
        }
        const long hwm = status_kib("self", "VmHWM:");

        // The owner's events that every project's `o` matches (optional).
        FloodFigures owner_phase;
        if (owner_events > 0)
            owner_phase =
                measure("owner " + std::to_string(owner_events) + " " + std::to_string(owner_rate),
                        "owner-done", 900s);
        const auto final_stats = gw.stats();
        clients.send("report");
        const std::string line = clients.expect("report ", 120s);
        const std::string load_end = loadavg();
        const json report = json::parse(line.substr(7));

        // ---------- latency ----------
        std::vector<double> gw_ms, direct_ms, floor_ms, diff_ms, floor_diff_ms;
        std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> by_class;
        std::size_t published = 0, missing_gw = 0, missing_direct = 0;
        for (const auto& s : report["samples"]) {
            ++published;
            const bool has_gw = s["gateway"].is_number(), has_direct = s["direct"].is_number();
            missing_gw += has_gw ? 0 : 1;
            missing_direct += has_direct ? 0 : 1;
            if (has_gw) {
                gw_ms.push_back(s["gateway"]);
                by_class[s["cls"].get<std::string>()].first.push_back(s["gateway"]);
            }
            if (has_direct) {
                direct_ms.push_back(s["direct"]);
                by_class[s["cls"].get<std::string>()].second.push_back(s["direct"]);
            }
            if (has_gw && has_direct)
                diff_ms.push_back(s["gateway"].get<double>() - s["direct"].get<double>());
            if (s["floor"].is_number()) {
                floor_ms.push_back(s["floor"]);
                if (has_direct)
                    floor_diff_ms.push_back(s["floor"].get<double>() - s["direct"].get<double>());
            }
        }
        const auto g_p = percentiles(gw_ms), d_p = percentiles(direct_ms),
                   f_p = percentiles(floor_ms), diff = percentiles(diff_ms),
                   floor_diff = percentiles(floor_diff_ms);
        auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };

        std::printf(
            "# Project relay gateway: %d projects x 3 live subscriptions, %d x %d upstream "
            "events\n\n",
            projects, floods, events);
        std::printf(
            "relay %s (embedded relay, own process, %d subscriptions per connection), gateway port "
            "%u, "
            "publish rate %d events/s; load average %s at start, %s at end\n\n",
            relay.url.c_str(), relay_max_subs, gw.port(), rate, load_start.c_str(),
            load_end.c_str());

        std::printf(
            "## 1. Delivery latency, upstream publish to client receipt (in-scope events)\n\n");
        std::printf(
            "| | through the gateway | direct subscription | ratio | target | floor: bare TCP "
            "forwarder | floor / direct |\n|---|---|---|---|---|---|---|\n");
        std::printf("| median | %.2f ms | %.2f ms | %.2fx | <= 1.2x | %.2f ms | %.2fx |\n",
                    g_p.median, d_p.median, ratio(g_p.median, d_p.median), f_p.median,
                    ratio(f_p.median, d_p.median));
        std::printf("| p95 | %.2f ms | %.2f ms | %.2fx | <= 1.2x | %.2f ms | %.2fx |\n", g_p.p95,
                    d_p.p95, ratio(g_p.p95, d_p.p95), f_p.p95, ratio(f_p.p95, d_p.p95));
        std::printf(
            "| samples (received / published in scope) | %zu / %zu | %zu / %zu | | all | %zu / "
            "%zu | |\n",
            g_p.n, published, d_p.n, published, f_p.n, published);
        std::printf(
            "| minus direct, same event (median, p95) | %.2f ms, %.2f ms | | | | %.2f ms, %.2f "
            "ms | |\n\n",
            diff.median, diff.p95, floor_diff.median, floor_diff.p95);
        std::printf(
            "| event class | samples | gateway median / p95 | direct median / p95 "
            "|\n|---|---|---|---|\n");
        for (const auto& [cls, v] : by_class) {
            const auto a = percentiles(v.first), b = percentiles(v.second);
            std::printf("| %s | %zu | %.2f / %.2f ms | %.2f / %.2f ms |\n", cls.c_str(), a.n,
                        a.median, a.p95, b.median, b.p95);
        }
        std::printf(
            "\n| flood | publish | gateway median / p95 | direct median / p95 "
            "|\n|---|---|---|---|\n");
        for (int f = 0; f < floods; ++f) {
            std::vector<double> a, b;
            for (const auto& s : report["samples"]) {
                if (s["flood"] != f) continue;
                if (s["gateway"].is_number()) a.push_back(s["gateway"]);
                if (s["direct"].is_number()) b.push_back(s["direct"]);
            }
            const auto pa = percentiles(a), pb = percentiles(b);
            std::printf("| %d | %.1f s | %.2f / %.2f ms | %.2f / %.2f ms |\n", f + 1,
                        fl[f].client["publish_ms"].get<double>() / 1000, pa.median, pa.p95,
                        pb.median, pb.p95);
        }

        std::printf(
            "\n## 2. The daemon side (this process: pool + gateway)\n\n| measurement | value | "
            "target |\n|---|---|---|\n");
        std::printf("| RSS before the gateway starts (pool connected) | %.1f MiB | |\n",
                    mib(rss_before));
        std::printf("| RSS with %zu projects connected, %d subscriptions | %.1f MiB | |\n",
                    connected.connections, 3 * projects, mib(rss_connected));
        std::printf("| RSS growth for the connected projects | %.1f MiB | < 16 MiB |\n",
                    mib(rss_connected - rss_before));
        for (int f = 0; f < floods; ++f)
            std::printf("| RSS after flood %d | %.1f MiB | |\n", f + 1, mib(fl[f].rss_kib));
        std::printf("| peak RSS (VmHWM) after the floods | %.1f MiB | |\n", mib(hwm));
        std::printf("| connecting %d projects, %d REQs to EOSE (client side) | %.2f s | |\n",
                    projects, 3 * projects, connect_s);
        for (int f = 0; f < floods; ++f) {
            const auto& x = fl[f];
            std::printf(
                "| flood %d: CPU (user+sys) over %.1f s | %.2f s (%.1f%% of one core); %.0f us per "
                "upstream copy | |\n",
                f + 1, x.wall_s, x.cpu_s, 100 * x.cpu_s / x.wall_s,
                x.pool_copies ? 1e6 * x.cpu_s / static_cast<double>(x.pool_copies) : 0.0);
        }

        std::printf("\n## 3. Scope\n\n| measurement | value | target |\n|---|---|---|\n");
        std::printf("| events the clients received outside their project's scope | %d | 0 |\n",
                    report["out_of_scope"].get<int>());
        std::printf(
            "| in-scope events that never reached the project (gateway / direct) | %zu / %zu | 0 "
            "|\n",
            missing_gw, missing_direct);
        for (int f = 0; f < floods; ++f) {
            const auto& x = fl[f];
            std::printf(
                "| flood %d: upstream copies to the pool / to the direct clients | %llu / %llu | "
                "pool: one per matching event (its subscriptions are shared) |\n",
                f + 1, static_cast<unsigned long long>(x.pool_copies),
                static_cast<unsigned long long>(x.client["copies"]["direct"].get<std::uint64_t>()));
            std::printf(
                "| flood %d: gateway delivered / hidden (stats) ; copies the clients got | %llu / "
                "%llu ; %llu | |\n",
                f + 1, static_cast<unsigned long long>(x.delivered),
                static_cast<unsigned long long>(x.hidden),
                static_cast<unsigned long long>(
                    x.client["copies"]["gateway"].get<std::uint64_t>()));
        }
        std::printf("| gateway connections / refused at the end | %zu / %llu | %d / 0 |\n",
                    final_stats.connections,
                    static_cast<unsigned long long>(final_stats.refused_connections), projects);
        std::printf("| notices or closes seen by the clients | %d | 0 |\n",
                    report["notice_count"].get<int>());
        for (const auto& n : report["notices"])
            std::printf("|  | %s | |\n", n.get<std::string>().c_str());

        std::printf(
            "\n## 4. The other processes during the floods (same 2 cores)\n\n| flood | relay CPU | "
            "clients (node) CPU |\n|---|---|---|\n");
        for (int f = 0; f < floods; ++f)
            std::printf("| %d | %.2f s | %.2f s |\n", f + 1, fl[f].relay_cpu_s,
                        fl[f].clients_cpu_s);

        if (owner_events > 0) {
            const auto& x = owner_phase;
            std::printf(
                "\n## 5. %d of the owner's events matching every project's `o`, in no scope "
                "(%d/s)\n\n"
                "| measurement | value |\n|---|---|\n",
                owner_events, owner_rate);
            std::printf(
                "| upstream copies to the pool / to the direct clients | %llu / %llu |\n",
                static_cast<unsigned long long>(x.pool_copies),
                static_cast<unsigned long long>(x.client["copies"]["direct"].get<std::uint64_t>()));
            std::printf(
                "| gateway delivered / hidden ; copies the clients got | %llu / %llu ; %llu |\n",
                static_cast<unsigned long long>(x.delivered),
                static_cast<unsigned long long>(x.hidden),
                static_cast<unsigned long long>(
                    x.client["copies"]["gateway"].get<std::uint64_t>()));
            std::printf(
                "| daemon-side CPU over %.1f s | %.2f s (%.1f%% of one core); %.0f us per upstream "
                "copy, %.1f ms per "
                "owner event |\n",
                x.wall_s, x.cpu_s, 100 * x.cpu_s / x.wall_s,
                x.pool_copies ? 1e6 * x.cpu_s / static_cast<double>(x.pool_copies) : 0.0,
                1e3 * x.cpu_s / owner_events);
            std::printf(
                "| RSS after (every `o` dedup set holding up to 1,024 ids) | %.1f MiB (%.1f MiB "
                "over the connected "
                "state) |\n",
                mib(x.rss_kib), mib(x.rss_kib - rss_connected));
            std::printf("| peak RSS (VmHWM) | %.1f MiB |\n", mib(status_kib("self", "VmHWM:")));
            std::printf("| relay CPU / clients (node) CPU | %.2f s / %.2f s |\n", x.relay_cpu_s,
                        x.clients_cpu_s);
            std::printf(
                "| events out of scope received by the clients (all floods and this) | %d |\n",
                report["out_of_scope"].get<int>());
        }
        std::fflush(stdout);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_gateway: %s\n", e.what());
        fs::remove_all(dir);
        return 1;
    }
    fs::remove_all(dir);
    return 0;
}
