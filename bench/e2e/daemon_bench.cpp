// Benchmark: the whole daemon (`tenex-sandbox up` as a child process) against a relay in its
// own process (`tenex-sandbox relay`, memory only) and the real engine:
//   1. message-to-running: a kind 1 message published on the relay until the engine reports
//      the project's container started (the engine's own `start` event time), next to a bare
//      libcurl POST create + POST start of the identical container spec, measured the same way
//      (from before the create to the engine's `start` event), interleaved round by round;
//   2. a burst of E events for P projects (default 10,000 for 100) from 4 whitelisted keys: time
//      until all P run, the number of containers (must be exactly P), the daemon's peak RSS;
//   3. idle: with I projects running (default 200), the daemon's CPU (utime+stime from
//      /proc/<pid>/stat over S seconds) and RSS.
// Policy: the probe image sleeping, network none, 64 MiB, 0.5 CPU (the daemon's cost, not the
// egress forwarders'). Every container and network the daemons make carries their daemon id and
// is removed at the end. Prints Markdown.
//
// `bench_daemon wake [samples=20]` instead: a message on the relay wakes a probe project that
// waits paused, stopped with its container kept, or without a container (keep_stopped 0s), one
// state after the other round by round: message -> the engine's unpause/start event, message ->
// the probe's first reply, and the daemon's own tenex_project_last_wake_seconds, next to a raw
// create+start of the same spec in the same run (issue 20; results in bench/results/wake.md).
//
// usage: bench_daemon [rounds=20] [burst_projects=100] [burst_events=10000] [idle_projects=200]
// [idle_seconds=30]
//        bench_daemon wake [samples=20]
#include <curl/curl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "common/private_file.hpp"
#include "docker/containers.hpp"
#include "docker/events.hpp"
#include "docker/networks.hpp"
#include "nostr/keys.hpp"
#include "raw_engine.hpp"
#include "relay/pool.hpp"
#include "sandbox/orchestrator_engine.hpp"
#include "sandbox/policy_set.hpp"
#include "sandbox/sandbox_spec.hpp"

using namespace tenex;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using SysClock = std::chrono::system_clock;

namespace {

std::string g_bin = TENEX_BINARY;
fs::path g_dir;

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(SysClock::now().time_since_epoch())
        .count();
}

int free_port() {
    // The kernel's next ephemeral port is free now; good enough for a benchmark.
    std::random_device rd;
    return 20000 + static_cast<int>(rd() % 20000);
}

// A child process: `tenex-sandbox ARGS...`, output into a log file.
struct Child {
    pid_t pid = -1;
    Child(const std::vector<std::string>& args, const fs::path& log) {
        std::vector<std::string> a{g_bin};
        a.insert(a.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& s : a) argv.push_back(s.data());
        argv.push_back(nullptr);
        pid = ::fork();
        if (pid == 0) {
            FILE* f = std::fopen(log.c_str(), "w");
            ::dup2(fileno(f), 1);
            ::dup2(fileno(f), 2);
            ::execv(g_bin.c_str(), argv.data());
            ::_exit(127);
        }
    }
    ~Child() {
        if (pid <= 0) return;
        ::kill(pid, SIGTERM);
        int st = 0;
        for (int i = 0; i < 300 && ::waitpid(pid, &st, WNOHANG) == 0; ++i)
            std::this_thread::sleep_for(100ms);
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &st, 0);
    }
    // VmHWM / VmRSS in KiB.
    long status_kib(const char* field) const {
        std::ifstream in("/proc/" + std::to_string(pid) + "/status");
        for (std::string line; std::getline(in, line);)
            if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::strlen(field) + 1);
        return -1;
    }
    // utime + stime in clock ticks.
    long cpu_ticks() const {
        std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
        std::string text((std::istreambuf_iterator<char>(in)), {});
        auto rest = text.substr(text.rfind(')') + 2);
        std::istringstream f(rest);
        std::string v;
        long utime = 0, stime = 0;
        for (int i = 3; i <= 15 && f >> v; ++i) {
            if (i == 14) utime = std::atol(v.c_str());
            if (i == 15) stime = std::atol(v.c_str());
        }
        return utime + stime;
    }
};

// GET on the daemon's API: the status code (0 when unreachable) and the body.
std::pair<long, std::string> http_get(int port, const std::string& path) {
    CURL* c = curl_easy_init();
    std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
    std::string body;
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tenex::bench::append_to_string);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    return {code, body};
}

bool http_ok(int port) {
    return http_get(port, "/healthz").first == 200;
}

// The engine's start events of containers with a tenex.project label, by project address.
struct StartWatch {
    std::mutex mu;
    std::condition_variable cv;
    std::map<std::string, std::int64_t> started;  // address or container name -> time_nano
    std::unique_ptr<docker::EventStream> stream;

    void start(const docker::Client& client) {
        docker::EventStreamOptions o;
        o.filter.actions = {"start"};
        stream = std::make_unique<docker::EventStream>(
            client, o,
            docker::EventHandlers{.on_event =
                                      [this](const docker::Event& e) {
                                          std::lock_guard lock(mu);
                                          auto project = e.attribute("tenex.project");
                                          started[project.empty() ? e.attribute("name") : project] =
                                              e.time_nano;
                                          cv.notify_all();
                                      },
                                  .on_connected = {},
                                  .on_gap = {},
                                  .on_error = {}});
        stream->start();
        for (int i = 0; i < 50 && !stream->connected(); ++i) std::this_thread::sleep_for(100ms);
    }
    std::optional<std::int64_t> wait(const std::string& key, std::chrono::milliseconds timeout) {
        std::unique_lock lock(mu);
        if (!cv.wait_for(lock, timeout, [&] { return started.count(key) != 0; }))
            return std::nullopt;
        return started[key];
    }
    std::size_t count_prefix(const std::string& prefix) {
        std::lock_guard lock(mu);
        std::size_t n = 0;
        for (const auto& [k, v] : started) n += k.rfind(prefix, 0) == 0 ? 1 : 0;
        return n;
    }
};

struct Percentiles {
    double median = 0, p95 = 0;
};
Percentiles percentiles(std::vector<double> v) {
    if (v.empty()) return {};
    std::sort(v.begin(), v.end());
    return {v[v.size() / 2], v[std::min(v.size() - 1, (v.size() * 95) / 100)]};
}

// One daemon with its own id, config and ports, over the shared relay process.
struct Daemon {
    std::string id;
    int http_port;
    std::unique_ptr<Child> child;
    Daemon(const std::string& name, const std::string& relay_url,
           const std::vector<nostr::Keys>& owners) {
        id = "bench-" + name + "-" + std::to_string(::getpid());
        http_port = free_port();
        fs::path cfg = g_dir / (name + ".yaml");
        std::ofstream out(cfg);
        out << "relays: [" << relay_url << "]\nwhitelist:\n";
        for (const auto& k : owners) out << "  - " << k.pub.hex() << "\n";
        out << "monitor:\n  events_per_second: 100000\n  burst: 100000\n  queue_size: 20000\n";
        out.close();
        child = std::make_unique<Child>(
            std::vector<std::string>{"--log-level", "warn", "up", "-c", cfg.string(), "--daemon-id",
                                     id, "--policies", (g_dir / "policies").string(), "-p",
                                     (g_dir / ("projects-" + name)).string(), "--state-dir",
                                     (g_dir / ("state-" + name)).string(), "--key",
                                     (g_dir / "daemon.key").string(), "--http",
                                     "127.0.0.1:" + std::to_string(http_port)},
            g_dir / (name + ".log"));
        for (int i = 0; i < 300 && !http_ok(http_port); ++i) std::this_thread::sleep_for(100ms);
    }
};

void remove_all(const docker::Client& client, const std::string& label) {
    docker::ListOptions lo;
    lo.all = true;
    lo.labels = {label};
    if (auto list = docker::list_containers(client, lo)) {
        std::vector<std::thread> t;
        for (const auto& c : *list)
            t.emplace_back(
                [&client, id = c.id] { (void)docker::remove_container(client, id, true); });
        for (auto& th : t) th.join();
    }
    if (auto nets = docker::list_networks(client, {label}))
        for (const auto& n : *nets) (void)docker::remove_network(client, n.id);
}

nostr::Event signed_event(const nostr::Keys& k, std::uint32_t kind, std::vector<nostr::Tag> tags,
                          std::string content) {
    nostr::UnsignedEvent u;
    u.kind = kind;
    u.tags = std::move(tags);
    u.content = std::move(content);
    return *nostr::sign_event(std::move(u), k);
}

std::string publish_project(relay::RelayPool& pool, const nostr::Keys& owner,
                            const std::string& d) {
    (void)pool.publish(signed_event(owner, 31933, {{"d", d}}, "bench"), 10s).get();
    return "31933:" + owner.pub.hex() + ":" + d;
}

constexpr int kDaemonStartsInFlight = 4;  // OrchestratorOptions::max_starts_in_flight

// The burst's comparison: the identical container specs of n projects created and started by
// bare libcurl, kDaemonStartsInFlight at once (the daemon's start concurrency), from the first
// create to the engine's last start event. The containers are removed afterwards (untimed).
double raw_burst(const docker::Client& client, const std::string& daemon_id,
                 const std::vector<nostr::Keys>& owners, int n, StartWatch& starts) {
    auto loaded = sandbox::load_policy_dir(g_dir / "policies");
    std::vector<std::string> addresses, names, bodies;
    for (int i = 0; i < n; ++i) {
        sandbox::ProjectRef ref{.owner = owners[i % owners.size()].pub.hex(),
                                .d = "raw-burst-" + std::to_string(i)};
        auto policy = sandbox::resolve_policy(loaded.set, ref).policy;
        auto ctx = sandbox::project_spec_context(ref, g_dir / "raw-burst", daemon_id + "-raw",
                                                 sandbox::SecretMode::read);
        fs::create_directories(ctx.project_dir);
        auto spec = sandbox::build_sandbox_spec(policy, ctx);
        names.push_back(spec->container.name);
        bodies.push_back(docker::to_create_body(spec->container, client.api_version()).dump());
        addresses.push_back(ref.address());
    }
    const auto t0 = std::chrono::steady_clock::now();
    std::atomic<int> next{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kDaemonStartsInFlight; ++t)
        threads.emplace_back([&] {
            for (int i; (i = next.fetch_add(1)) < n;) {
                std::string out, ignored;
                if (long code = tenex::bench::raw_post(
                        client.socket_path(), client.api_version().to_string(),
                        "/containers/create?name=" + names[i], bodies[i], &out);
                    code != 201) {
                    std::fprintf(stderr, "raw burst: create %s: %ld %s\n", names[i].c_str(), code,
                                 out.c_str());
                    continue;
                }
                auto id = nlohmann::json::parse(out, nullptr, false).value("Id", std::string());
                if (long code = tenex::bench::raw_post(
                        client.socket_path(), client.api_version().to_string(),
                        "/containers/" + id + "/start", "", &ignored);
                    code != 204)
                    std::fprintf(stderr, "raw burst: start %s: %ld %s\n", names[i].c_str(), code,
                                 ignored.c_str());
            }
        });
    for (auto& t : threads) t.join();
    bool all = true;
    for (const auto& address : addresses)
        if (!starts.wait(address, 60s)) {
            std::fprintf(stderr, "raw burst: no start event for %s\n", address.c_str());
            all = false;
        }
    const double s =
        all ? std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() : 0;
    remove_all(client, "tenex.daemon=" + daemon_id + "-raw");
    return s;
}

// Why a project was not seen running: what the daemon says of it (GET /projects/{address})
// and what the engine has of it (its containers by label, with their state). A container that
// runs while no start event was seen is a lost observation, not a lost start.
void explain_not_running(const docker::Client& client, int http_port, const std::string& daemon_id,
                         const std::string& address, const std::string& published) {
    auto [code, body] = http_get(http_port, "/projects/" + address);
    std::string daemon_view = "HTTP " + std::to_string(code);
    if (auto j = nlohmann::json::parse(body, nullptr, false); code == 200 && j.is_object())
        daemon_view = "state " + j.value("state", std::string("?")) +
                      (j.contains("last_error") && j["last_error"].is_string() &&
                               !j["last_error"].get<std::string>().empty()
                           ? ", last error: " + j["last_error"].get<std::string>()
                           : std::string());
    else if (code != 0)
        daemon_view += ": " + body.substr(0, 200);
    docker::ListOptions lo;
    lo.all = true;
    lo.labels = {"tenex.daemon=" + daemon_id, "tenex.project=" + address};
    std::string engine_view = "no container";
    if (auto list = docker::list_containers(client, lo); !list)
        engine_view = "list failed: " + list.error().describe();
    else if (!list->empty())
        engine_view = "container " + list->front().id.substr(0, 12) + " " + list->front().state;
    std::printf("- not seen running: `%s`: message %s; daemon: %s; engine: %s\n", address.c_str(),
                published.c_str(), daemon_view.c_str(), engine_view.c_str());
}

std::string outcome(const relay::PublishResult& r) {
    if (r.any_accepted()) return "accepted by the relay";
    std::string why;
    for (const auto& ok : r.relays) why += (why.empty() ? "" : "; ") + ok.message;
    return "NOT accepted (" + (why.empty() ? std::string("no answer") : why) + ")";
}

// ---- wake mode: a message on the relay wakes a probe project waiting paused, stopped with its
// container kept, or without a container (keep_stopped 0s).

std::string loadavg() {
    std::ifstream in("/proc/loadavg");
    std::string a, b, c;
    in >> a >> b >> c;
    return a + " " + b + " " + c;
}

// The engine's start and unpause events of a daemon's containers, by project address.
struct WakeWatch {
    struct Seen {
        std::string action;
        std::int64_t time_nano;
    };
    std::mutex mu;
    std::condition_variable cv;
    std::map<std::string, std::vector<Seen>> by_project;
    std::unique_ptr<docker::EventStream> stream;

    void start(const docker::Client& client) {
        docker::EventStreamOptions o;
        o.filter.actions = {"start", "unpause"};
        o.filter.labels = {"tenex.managed-by=tenex-sandbox"};
        stream = std::make_unique<docker::EventStream>(
            client, o,
            docker::EventHandlers{
                .on_event =
                    [this](const docker::Event& e) {
                        std::lock_guard lock(mu);
                        by_project[e.attribute("tenex.project")].push_back({e.action, e.time_nano});
                        cv.notify_all();
                    },
                .on_connected = {},
                .on_gap = {},
                .on_error = {}});
        stream->start();
        for (int i = 0; i < 50 && !stream->connected(); ++i) std::this_thread::sleep_for(100ms);
    }
    // The engine's time of the first `action` of the project's container at or after since_ns.
    std::optional<std::int64_t> wait(const std::string& address, const std::string& action,
                                     std::int64_t since_ns, std::chrono::milliseconds timeout) {
        std::unique_lock lock(mu);
        std::optional<std::int64_t> found;
        cv.wait_for(lock, timeout, [&] {
            for (const auto& s : by_project[address])
                if (s.action == action && s.time_nano >= since_ns) {
                    found = s.time_nano;
                    return true;
                }
            return false;
        });
        return found;
    }
};

// Replies on the relay (kind 1 tagged with a project, not by the owner): arrival time here by
// the id of the message they answer.
struct ReplyWatch {
    std::mutex mu;
    std::condition_variable cv;
    std::map<std::string, std::int64_t> first_reply;  // message id -> now_ns() at arrival

    void on_event(const nostr::Event& e, const std::string& owner) {
        if (e.pubkey == owner) return;
        const std::int64_t t = now_ns();
        for (const auto& tag : e.tags)
            if (tag.size() >= 2 && tag[0] == "e") {
                std::lock_guard lock(mu);
                first_reply.emplace(tag[1], t);
                cv.notify_all();
            }
    }
    std::optional<std::int64_t> wait(const std::string& message_id,
                                     std::chrono::milliseconds timeout) {
        std::unique_lock lock(mu);
        if (!cv.wait_for(lock, timeout, [&] { return first_reply.count(message_id) != 0; }))
            return std::nullopt;
        return first_reply[message_id];
    }
};

std::optional<nlohmann::json> project_json(int port, const std::string& address) {
    auto [code, body] = http_get(port, "/projects/" + address);
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (code != 200 || !j.is_object()) return std::nullopt;
    return j;
}

// The daemon's own figure: tenex_project_last_wake_seconds of the project in /metrics.
std::optional<double> last_wake_metric(int port, const std::string& address) {
    auto [code, body] = http_get(port, "/metrics");
    if (code != 200) return std::nullopt;
    const std::string key = "tenex_project_last_wake_seconds{project=\"" + address + "\"} ";
    auto at = body.find(key);
    if (at == std::string::npos) return std::nullopt;
    return std::atof(body.c_str() + at + key.size());
}

struct WakeState {
    const char* name;        // table row
    std::string d;           // the project's d
    std::string wait_state;  // the daemon's state while it waits
    bool kept;
    const char* engine_action;  // the engine event that says "running again"
    const char* last_wake;      // the daemon's last_wake after the wake
    std::string address{};
    std::vector<double> running_ms{}, reply_ms{}, daemon_ms{};
    std::optional<double> last_metric{};
    int failures = 0;
};

int wake_mode(int samples) {
    spdlog::set_level(spdlog::level::warn);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    auto client_r = docker::Client::connect();
    if (!client_r) {
        std::fprintf(stderr, "docker: %s\n", client_r.error().describe().c_str());
        return 1;
    }
    auto& client = **client_r;
    const std::string load_start = loadavg();
    const std::string tag = std::to_string(::getpid());
    g_dir = fs::temp_directory_path() / ("tenex-bench-wake-" + tag);
    fs::create_directories(g_dir / "policies");
    const auto owner = nostr::Keys::generate();
    std::vector<WakeState> states{
        {"paused (thawed)", "wake-paused-" + tag, "paused", false, "unpause", "unpause"},
        {"stopped, kept (started again)", "wake-kept-" + tag, "stopped", true, "start", "warm"},
        {"no container (created, keep_stopped 0s)", "wake-cold-" + tag, "stopped", false, "start",
         "create"},
    };
    // The local-mode probe policy (examples/policies/default.yaml: nostr mode, egress to the
    // daemon's relays through its gateway), with lifecycle timers short enough to reach each
    // waiting state in a few seconds. The default (no match) is the cold one; the raw
    // create+start below uses it too.
    const std::string base =
        "image: tenex-probe:latest\nargs: [nostr]\n"
        "resources:\n  memory: 64Mi\n  cpus: 0.25\n  pids: 32\n  nofile: 256\n"
        "network:\n  mode: egress\n  relays: true\n"
        "security:\n  user: \"65534:65534\"\n  read_only_root: true\n  tmpfs:\n    /tmp: 16Mi\n";
    std::ofstream(g_dir / "policies" / "default.yaml")
        << base
        << "lifecycle:\n  stop_timeout: 5s\n  pause_after: 0s\n  idle_timeout: 8s\n  keep_stopped: "
           "0s\n";
    std::ofstream(g_dir / "policies" / "paused.yaml")
        << "match:\n  d: [" << states[0].d << "]\n"
        << base
        << "lifecycle:\n  stop_timeout: 5s\n  pause_after: 5s\n  idle_timeout: 1h\n  keep_stopped: "
           "1h\n";
    std::ofstream(g_dir / "policies" / "kept.yaml")
        << "match:\n  d: [" << states[1].d << "]\n"
        << base
        << "lifecycle:\n  stop_timeout: 5s\n  pause_after: 0s\n  idle_timeout: 8s\n  keep_stopped: "
           "1h\n";

    const int relay_port = free_port(), http_port = free_port(), gateway_port = free_port();
    const std::string relay_url = "ws://127.0.0.1:" + std::to_string(relay_port);
    const std::string daemon_id = "bench-wake-" + tag;
    WakeWatch engine_events;
    engine_events.start(client);
    auto daemon = std::make_unique<Child>(
        std::vector<std::string>{
            "--log-level",
            std::getenv("BENCH_DAEMON_LOG") ? std::getenv("BENCH_DAEMON_LOG") : "warn",
            "up",
            "--daemon-id",
            daemon_id,
            "--policies",
            (g_dir / "policies").string(),
            "-p",
            (g_dir / "projects").string(),
            "--state-dir",
            (g_dir / "state").string(),
            "--key",
            (g_dir / "daemon.key").string(),
            "--http",
            "127.0.0.1:" + std::to_string(http_port),
            "--gateway",
            "127.0.0.1:" + std::to_string(gateway_port),
            "--embedded-relay",
            "127.0.0.1:" + std::to_string(relay_port),
            "-w",
            owner.pub.hex()},
        g_dir / "daemon.log");
    for (int i = 0; i < 300 && !http_ok(http_port); ++i) std::this_thread::sleep_for(100ms);
    relay::RelayPool pool;
    (void)pool.add_relay(relay_url);
    if (!http_ok(http_port) || !pool.wait_connected(1, 10s)) {
        std::fprintf(stderr, "the daemon or its relay did not come up; log %s\n",
                     (g_dir / "daemon.log").c_str());
        return 1;
    }
    ReplyWatch replies;
    nostr::Filter f;
    f.kinds = std::vector<std::uint32_t>{1};
    for (auto& s : states) {
        s.address = publish_project(pool, owner, s.d);
        f.tags['a'].push_back(s.address);
    }
    const std::string owner_hex = owner.pub.hex();
    (void)pool.subscribe("replies", {f}, [&](const relay::DeliveredEvent& d) {
        replies.on_event(d.event, owner_hex);
    });

    // One message, timed: published -> the engine's event of the container running again, and
    // published -> the probe's reply on the relay. Returns false when a step did not happen.
    int sent = 0;
    auto wake = [&](WakeState& s, const char* action, const char* expect_wake, bool record) {
        auto message = signed_event(owner, 1, {{"a", s.address}}, "wake " + std::to_string(++sent));
        const std::int64_t t0 = now_ns();
        auto ok = pool.publish(message, 10s);
        auto running = engine_events.wait(s.address, action, t0, 20s);
        auto reply = replies.wait(message.id, 20s);
        if (!ok.get().any_accepted() || !running || !reply) {
            std::fprintf(stderr, "%s: message %s: %s%s\n", s.name, message.id.c_str(),
                         running ? "" : "no engine event; ", reply ? "" : "no reply");
            return false;
        }
        // The daemon records how it woke the project when the engine call returns, which can
        // be after the probe's reply (a thawed probe answers at once): wait up to 2 s for it.
        std::string last_wake = "?";
        for (int i = 0; i < 40; ++i) {
            auto view = project_json(http_port, s.address);
            last_wake = view ? view->value("last_wake", std::string()) : "?";
            if (!expect_wake || last_wake == expect_wake) break;
            std::this_thread::sleep_for(50ms);
        }
        if (expect_wake && last_wake != expect_wake) {
            std::fprintf(stderr, "%s: woken by %s, not %s\n", s.name, last_wake.c_str(),
                         expect_wake);
            return false;
        }
        // The daemon's figure is published at its next tick (every 2 s).
        std::optional<double> metric;
        for (int i = 0; i < 40; ++i) {
            metric = last_wake_metric(http_port, s.address);
            if (metric && metric != s.last_metric) break;
            std::this_thread::sleep_for(100ms);
        }
        if (record) {
            s.running_ms.push_back((*running - t0) / 1e6);
            s.reply_ms.push_back((*reply - t0) / 1e6);
            if (metric && metric != s.last_metric) s.daemon_ms.push_back(*metric * 1000.0);
        }
        s.last_metric = metric;
        return true;
    };
    auto waiting = [&](const WakeState& s) {
        for (int i = 0; i < 600; ++i) {
            auto v = project_json(http_port, s.address);
            if (v && v->value("state", std::string()) == s.wait_state &&
                v->value("kept", false) == s.kept)
                return true;
            std::this_thread::sleep_for(50ms);
        }
        std::fprintf(stderr, "%s: not %s after 30 s\n", s.name, s.wait_state.c_str());
        return false;
    };
    // The first message creates each project's container (not counted).
    for (auto& s : states)
        if (!wake(s, "start", nullptr, false)) ++s.failures;

    // The raw peer: the same container spec (the cold policy, the same gateway), its network
    // created beforehand, created and started by bare libcurl, to the engine's start event.
    auto loaded = sandbox::load_policy_dir(g_dir / "policies");
    sandbox::DockerEngine engine(client);
    std::vector<double> raw_ms, raw_network_ms;
    auto raw_round = [&](int i) {
        sandbox::ProjectRef ref{.owner = owner_hex,
                                .d = "wake-raw-" + tag + "-" + std::to_string(i)};
        auto policy = sandbox::resolve_policy(loaded.set, ref).policy;
        auto ctx = sandbox::project_spec_context(ref, g_dir / "raw" / ref.d, daemon_id + "-raw",
                                                 sandbox::SecretMode::read, {relay_url});
        ctx.gateway_port = static_cast<std::uint16_t>(gateway_port);
        ctx.gateway_secret = std::string(64, 'a');
        fs::create_directories(ctx.project_dir);
        auto spec = sandbox::build_sandbox_spec(policy, ctx);
        if (!spec) {
            std::fprintf(stderr, "raw spec: %s\n", spec.error().message.c_str());
            return;
        }
        const std::map<std::string, std::string> labels{{"tenex.daemon", daemon_id + "-raw"},
                                                        {"tenex.managed-by", "tenex-sandbox"},
                                                        {"tenex.project", ref.address()}};
        for (const auto& [k, v] : labels) spec->container.labels[k] = v;
        std::int64_t t0 = now_ns();
        if (auto net = engine.ensure_network(spec->network, labels); !net) {
            std::fprintf(stderr, "raw network: %s\n", net.error().describe().c_str());
            return;
        }
        raw_network_ms.push_back((now_ns() - t0) / 1e6);
        std::string body = docker::to_create_body(spec->container, client.api_version()).dump(),
                    out, ignored;
        t0 = now_ns();
        if (tenex::bench::raw_post(client.socket_path(), client.api_version().to_string(),
                                   "/containers/create?name=" + spec->container.name, body,
                                   &out) == 201) {
            auto id = nlohmann::json::parse(out, nullptr, false).value("Id", std::string());
            tenex::bench::raw_post(client.socket_path(), client.api_version().to_string(),
                                   "/containers/" + id + "/start", "", &ignored);
            if (auto t = engine_events.wait(ref.address(), "start", t0, 60s))
                raw_ms.push_back((*t - t0) / 1e6);
            (void)docker::remove_container(client, id, true, true);
        } else {
            std::fprintf(stderr, "raw create failed: %s\n", out.c_str());
        }
        (void)engine.remove_network(spec->network.network_name);
    };

    // Rounds: each project waits in its state (the three timers run at once), then is woken,
    // one at a time; a raw create+start per round.
    for (int round = 0; round < samples; ++round) {
        for (auto& s : states) {
            if (!waiting(s)) {
                ++s.failures;
                continue;
            }
            if (!wake(s, s.engine_action, s.last_wake, true)) ++s.failures;
        }
        raw_round(round);
    }
    const std::string load_end = loadavg();
    daemon.reset();  // first the daemon, or it restarts what is being removed
    remove_all(client, "tenex.daemon=" + daemon_id);
    remove_all(client, "tenex.daemon=" + daemon_id + "-raw");
    engine_events.stream->stop();

    const auto raw = percentiles(raw_ms);
    std::printf(
        "# A message on the relay wakes a probe project (`tenex-sandbox up`, embedded relay, "
        "gateway)\n\n");
    std::printf("%d samples per state, interleaved; load average at start %s, at end %s\n\n",
                samples, load_start.c_str(), load_end.c_str());
    std::printf(
        "| waiting state | n | message -> running (engine event), median / p95 ms | running vs raw "
        "create+start (median) | message -> probe's first reply, median / p95 ms | daemon's "
        "trigger -> "
        "running (tenex_project_last_wake_seconds), median / p95 ms "
        "|\n|---|---|---|---|---|---|\n");
    int failures = 0;
    for (const auto& s : states) {
        const auto r = percentiles(s.running_ms), y = percentiles(s.reply_ms),
                   d = percentiles(s.daemon_ms);
        std::printf("| %s | %zu | %.1f / %.1f | %.2fx | %.1f / %.1f | %.1f / %.1f (n=%zu) |\n",
                    s.name, s.running_ms.size(), r.median, r.p95,
                    raw.median > 0 ? r.median / raw.median : 0.0, y.median, y.p95, d.median, d.p95,
                    s.daemon_ms.size());
        failures += s.failures;
    }
    const auto net = percentiles(raw_network_ms);
    std::printf(
        "| raw create+start of the same spec (bare libcurl, to the engine's start event; its "
        "network "
        "made beforehand) | %zu | %.1f / %.1f | 1.00x | | |\n",
        raw_ms.size(), raw.median, raw.p95);
    std::printf("| raw network create (untimed above) | %zu | %.1f / %.1f | | | |\n",
                raw_network_ms.size(), net.median, net.p95);
    if (failures)
        std::printf("\n%d samples failed (see stderr; the daemon's log is kept in %s)\n", failures,
                    g_dir.c_str());
    else
        fs::remove_all(g_dir);
    return failures || raw_ms.empty() ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::string(argv[1]) == "wake")
        return wake_mode(argc > 2 ? std::atoi(argv[2]) : 20);
    const int rounds = argc > 1 ? std::atoi(argv[1]) : 20;
    const int burst_projects = argc > 2 ? std::atoi(argv[2]) : 100;
    const int burst_events = argc > 3 ? std::atoi(argv[3]) : 10000;
    const int idle_projects = argc > 4 ? std::atoi(argv[4]) : 200;
    const int idle_seconds = argc > 5 ? std::atoi(argv[5]) : 30;
    spdlog::set_level(spdlog::level::warn);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    auto client_r = docker::Client::connect();
    if (!client_r) {
        std::fprintf(stderr, "docker: %s\n", client_r.error().describe().c_str());
        return 1;
    }
    auto& client = **client_r;
    g_dir = fs::temp_directory_path() / ("tenex-bench-daemon-" + std::to_string(::getpid()));
    fs::create_directories(g_dir / "policies");
    std::ofstream(g_dir / "policies" / "default.yaml")
        << "image: tenex-probe:latest\nargs: [sleep]\nresources:\n  memory: 64Mi\n  cpus: 0.5\n  "
           "pids: 64\n"
           "network:\n  mode: none\nlifecycle:\n  stop_timeout: 10s\n  idle_timeout: 24h\n"
           "security:\n  user: \"65534:65534\"\n";

    const int relay_port = free_port();
    Child relay(
        {"--log-level", "warn", "relay", "--listen", "127.0.0.1:" + std::to_string(relay_port)},
        g_dir / "relay.log");
    const std::string relay_url = "ws://127.0.0.1:" + std::to_string(relay_port);
    std::this_thread::sleep_for(500ms);
    std::vector<nostr::Keys> owners;
    for (int i = 0; i < 4; ++i) owners.push_back(nostr::Keys::generate());
    relay::RelayPool pool;
    (void)pool.add_relay(relay_url);
    pool.wait_connected(1, 10s);
    StartWatch starts;
    starts.start(client);

    std::printf("# tenex-sandbox up, end to end\n\nrun %s, pid %d, engine API %s\n\n",
                relay_url.c_str(), ::getpid(), client.api_version().to_string().c_str());

    // 1. message-to-running vs raw create+start.
    std::vector<double> daemon_ms, raw_ms;
    {
        Daemon d("latency", relay_url, owners);
        auto loaded = sandbox::load_policy_dir(g_dir / "policies");
        auto policy = sandbox::resolve_policy(
                          loaded.set, sandbox::ProjectRef{.owner = owners[0].pub.hex(), .d = "x"})
                          .policy;
        for (int i = 0; i < rounds; ++i) {
            const std::string dname = "lat-" + std::to_string(i);
            const std::string address = publish_project(pool, owners[0], dname);
            std::int64_t t0 = now_ns();
            (void)pool.publish(signed_event(owners[0], 1, {{"a", address}}, "wake"), 10s);
            if (auto t = starts.wait(address, 60s))
                daemon_ms.push_back((*t - t0) / 1e6);
            else
                std::fprintf(stderr, "round %d: %s did not start\n", i, address.c_str());

            // The same container spec, by hand.
            auto ctx = sandbox::project_spec_context(
                {.owner = owners[0].pub.hex(), .d = "raw-" + dname}, g_dir / "raw-workspace", d.id,
                sandbox::SecretMode::read);
            fs::create_directories(ctx.project_dir);
            auto spec = sandbox::build_sandbox_spec(policy, ctx);
            std::string body = docker::to_create_body(spec->container, client.api_version()).dump(),
                        out;
            t0 = now_ns();
            if (tenex::bench::raw_post(client.socket_path(), client.api_version().to_string(),
                                       "/containers/create?name=" + spec->container.name, body,
                                       &out) == 201) {
                auto id = nlohmann::json::parse(out, nullptr, false).value("Id", std::string());
                std::string ignored;
                tenex::bench::raw_post(client.socket_path(), client.api_version().to_string(),
                                       "/containers/" + id + "/start", "", &ignored);
                if (auto t = starts.wait(ctx.project.address(), 60s))
                    raw_ms.push_back((*t - t0) / 1e6);
            } else {
                std::fprintf(stderr, "raw create failed: %s\n", out.c_str());
            }
        }
        d.child.reset();  // first the daemon, or it restarts what is being removed
        remove_all(client, "tenex.daemon=" + d.id);
    }
    auto dp = percentiles(daemon_ms), rp = percentiles(raw_ms);
    std::printf("## 1. Message on the relay to container running (%d rounds, interleaved)\n\n",
                rounds);
    std::printf(
        "| | daemon (message -> engine start event) | raw create+start (bare libcurl) | ratio | "
        "target |\n|---|---|---|---|---|\n");
    std::printf("| median (%zu/%zu ok) | %.1f ms | %.1f ms | %.2fx | <= 1.15x |\n",
                daemon_ms.size(), raw_ms.size(), dp.median, rp.median,
                rp.median > 0 ? dp.median / rp.median : 0);
    std::printf("| p95 | %.1f ms | %.1f ms | %.2fx | |\n\n", dp.p95, rp.p95,
                rp.p95 > 0 ? dp.p95 / rp.p95 : 0);
    std::fflush(stdout);

    // 2. burst, then 3. idle with the same daemon.
    Daemon d("burst", relay_url, owners);
    std::vector<std::string> projects;
    for (int i = 0; i < idle_projects; ++i)
        projects.push_back(
            publish_project(pool, owners[i % owners.size()], "burst-" + std::to_string(i)));
    std::vector<nostr::Event> burst;
    for (int i = 0; i < burst_events; ++i) {
        int p = i % burst_projects;
        burst.push_back(signed_event(owners[p % owners.size()], 1, {{"a", projects[p]}},
                                     "burst " + std::to_string(i)));
    }
    const auto b0 = std::chrono::steady_clock::now();
    std::vector<std::future<relay::PublishResult>> inflight;
    int burst_accepted = 0;
    for (auto& e : burst) {
        inflight.push_back(pool.publish(std::move(e), 30s));
        if (inflight.size() >= 500) {
            for (auto& f : inflight) burst_accepted += f.get().any_accepted() ? 1 : 0;
            inflight.clear();
        }
    }
    for (auto& f : inflight) burst_accepted += f.get().any_accepted() ? 1 : 0;
    const double publish_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - b0).count();
    auto all_started = [&](int n) {
        for (int i = 0; i < n; ++i)
            if (!starts.wait(projects[i], 0ms)) return false;
        return true;
    };
    for (int i = 0; i < 1800 && !all_started(burst_projects); ++i)
        std::this_thread::sleep_for(100ms);
    const double burst_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - b0).count();
    std::this_thread::sleep_for(3s);
    docker::ListOptions lo;
    lo.all = true;
    lo.labels = {"tenex.daemon=" + d.id};
    auto containers = docker::list_containers(client, lo);
    const std::size_t n_containers = containers ? containers->size() : 0;
    const long peak_kib = d.child->status_kib("VmHWM:");
    int running = 0;
    for (int i = 0; i < burst_projects; ++i) running += starts.wait(projects[i], 0ms) ? 1 : 0;
    std::printf("## 2. Burst: %d events for %d projects from %zu keys\n\n", burst_events,
                burst_projects, owners.size());
    std::printf("| measurement | value | target |\n|---|---|---|\n");
    std::printf("| projects running | %d / %d | all |\n", running, burst_projects);
    std::printf("| containers of the daemon | %zu | exactly %d |\n", n_containers, burst_projects);
    std::printf("| publishing the burst (client side) | %.1f s | |\n", publish_s);
    std::printf("| first event to all running | %.1f s | |\n", burst_s);
    std::printf("| daemon peak RSS (VmHWM) | %.1f MiB | < 64 MiB |\n", peak_kib / 1024.0);
    const double raw_s = raw_burst(client, d.id, owners, burst_projects, starts);
    std::printf("| raw create+start of the same %d specs, %d at once (bare libcurl) | %.1f s | |\n",
                burst_projects, kDaemonStartsInFlight, raw_s);
    std::printf("| first event to all running vs raw | %.2fx | |\n\n",
                raw_s > 0 ? burst_s / raw_s : 0);
    std::printf("Burst events accepted by the relay: %d / %d.\n", burst_accepted, burst_events);
    for (int i = 0; i < burst_projects; ++i)
        if (!starts.wait(projects[i], 0ms))
            explain_not_running(client, d.http_port, d.id, projects[i], "one of the burst's");
    std::printf("\n");
    std::fflush(stdout);

    // 3. idle with idle_projects running.
    std::map<int, std::future<relay::PublishResult>> wakes;
    for (int i = burst_projects; i < idle_projects; ++i)
        wakes[i] = pool.publish(
            signed_event(owners[i % owners.size()], 1, {{"a", projects[i]}}, "wake"), 10s);
    std::map<int, std::string> wake_outcome;
    for (auto& [i, f] : wakes) wake_outcome[i] = outcome(f.get());
    for (int i = 0; i < 3000 && !all_started(idle_projects); ++i)
        std::this_thread::sleep_for(100ms);
    std::this_thread::sleep_for(10s);  // let start-up work settle
    const long ticks0 = d.child->cpu_ticks();
    const auto i0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::seconds(idle_seconds));
    const long ticks = d.child->cpu_ticks() - ticks0;
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - i0).count();
    const double cpu_pct = 100.0 * ticks / static_cast<double>(::sysconf(_SC_CLK_TCK)) / wall;
    int idle_running = 0;
    for (int i = 0; i < idle_projects; ++i) idle_running += starts.wait(projects[i], 0ms) ? 1 : 0;
    std::printf("## 3. Idle daemon with %d projects running (%d s)\n\n", idle_running,
                idle_seconds);
    std::printf("| measurement | value | target |\n|---|---|---|\n");
    std::printf("| daemon CPU | %.2f%% of one core | < 1%% |\n", cpu_pct);
    std::printf("| daemon RSS (VmRSS) | %.1f MiB | |\n", d.child->status_kib("VmRSS:") / 1024.0);
    std::printf("| daemon peak RSS so far (VmHWM) | %.1f MiB | |\n\n",
                d.child->status_kib("VmHWM:") / 1024.0);
    for (int i = 0; i < idle_projects; ++i)
        if (!starts.wait(projects[i], 0ms))
            explain_not_running(
                client, d.http_port, d.id, projects[i],
                i < burst_projects ? std::string("one of the burst's") : wake_outcome[i]);
    std::fflush(stdout);

    d.child.reset();
    remove_all(client, "tenex.daemon=" + d.id);
    starts.stream->stop();
    fs::remove_all(g_dir);
    return 0;
}
