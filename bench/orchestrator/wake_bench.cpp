// Benchmark (issue 20): how fast a project runs again after a trigger, by the state it waits
// in, next to the raw Engine API in the same run:
//   paused   Orchestrator::ensure_running() of a paused project (unpause + digest check)
//   kept     of a project stopped for idle with its container kept (start, no create)
//   cold     of a project without a container (create + start, as before issue 20)
//   raw create+start   bare-libcurl POST create + POST start of the same spec
//   raw unpause        bare-libcurl POST unpause of a paused container
//   raw start          bare-libcurl POST start of that container once stopped (the floor of
//                      a warm start)
// With the argument `egress` the orchestrator's projects run under network.mode egress (their
// own internal network, forwarders, host filter rules: a cold start creates them, a warm start
// finds them kept); the raw rows stay on network none (the peer for create+start as such).
// Rounds are interleaved (one of each per round). The orchestrators run on an injected clock
// that is moved past pause_after / idle_timeout to reach each state; what is timed is the
// real time from the trigger to the answer "running". Every container carries
// tenex.bench=wake and is removed at the end. Prints Markdown (bench/results/wake.md).
//
// With `idle [projects=100] [seconds=30]` it measures instead what idle projects cost: N probe
// projects started by one orchestrator, then over SECONDS while all run and again once
// pause_after has frozen them all: the containers' CPU time (the engine's stats, the sum of
// their cgroups' usage) and memory in use, and the CPU time of the engine's own processes
// (dockerd, containerd, the shims) from /proc.
//
// usage: bench_wake [rounds=20] [none|egress]
//        bench_wake idle [projects=100] [seconds=30]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "docker/containers.hpp"
#include "docker/events.hpp"
#include "engine_run.hpp"
#include "sandbox/orchestrator.hpp"

using namespace tenex;
using namespace tenex::sandbox;
using bench::BenchClock;
using bench::ms_since;
using bench::summarize;
using namespace std::chrono_literals;

namespace {

std::string g_run;
bool g_egress = false;
std::filesystem::path g_root;
const std::string kBenchLabel = "tenex.bench";
const std::string kBenchValue = "wake";

Policy bench_policy(bool orchestrated = true) {
    Policy p;
    p.image = "tenex-probe:latest";
    p.args = {"sleep"};
    p.security.user = "65534:65534";
    p.resources.memory_bytes = 64LL << 20;
    p.resources.nano_cpus = 500'000'000;
    p.resources.pids = 64;
    p.network.mode = NetworkMode::none;
    if (orchestrated && g_egress) {
        p.network.mode = NetworkMode::egress;
        p.network.allow = {HostPort{.host = "relay.tenex.chat", .port = 443}};
    }
    p.lifecycle.stop_timeout = 5s;
    p.lifecycle.pause_after = 10min;
    p.lifecycle.idle_timeout = 20min;
    p.lifecycle.keep_stopped = 1h;
    p.lifecycle.max_lifetime = 0ms;
    return p;
}

ProjectRef project(const std::string& d) {
    return ProjectRef{.owner = std::string(64, 'c'), .d = "w" + g_run + "-" + d};
}

struct Clocked {
    std::atomic<std::int64_t> offset_ms{0};
    OrchestratorOptions options(const std::string& daemon_id) {
        OrchestratorOptions o;
        o.daemon_id = daemon_id;
        o.policies = [](const ProjectRef&) -> Result<Policy> { return bench_policy(); };
        o.workspace = [](const ProjectRef& p) -> Result<std::filesystem::path> {
            auto dir = g_root / p.d;
            std::filesystem::create_directories(dir);
            return dir;
        };
        o.extra_labels = {{kBenchLabel, kBenchValue}, {"tenex.test", "1"}};
        o.clock = [this] { return Clock::now() + std::chrono::milliseconds(offset_ms.load()); };
        return o;
    }
    void advance(std::chrono::milliseconds d) { offset_ms += d.count(); }
};

bool wait_for(Orchestrator& orch, const ProjectRef& p, ProjectState state, bool kept) {
    auto deadline = BenchClock::now() + 30s;
    while (BenchClock::now() < deadline) {
        auto s = orch.status(p);
        if (s && s->state == state && s->kept == kept) return true;
        std::this_thread::sleep_for(1ms);
    }
    return false;
}

docker::ContainerSpec spec_of(const ProjectRef& p, const std::string& daemon_id) {
    std::filesystem::create_directories(g_root / p.d);
    SpecContext ctx{.project = p,
                    .naddr = {},
                    .project_dir = g_root / p.d,
                    .daemon_id = daemon_id,
                    .secrets = SecretMode::read};
    auto c = build_sandbox_spec(bench_policy(false), ctx)->container;
    c.labels[kBenchLabel] = kBenchValue;
    c.labels["tenex.test"] = "1";
    return c;
}

// utime + stime (seconds) of the engine's processes: dockerd, containerd and the shims.
double engine_cpu_seconds() {
    double ticks = 0;
    for (const auto& d : std::filesystem::directory_iterator("/proc")) {
        const auto name = d.path().filename().string();
        if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
        std::ifstream in(d.path() / "stat");
        std::string text((std::istreambuf_iterator<char>(in)), {});
        auto open = text.find('('), close = text.rfind(')');
        if (open == std::string::npos || close == std::string::npos) continue;
        const auto comm = text.substr(open + 1, close - open - 1);
        if (comm != "dockerd" && comm != "containerd" && comm.rfind("containerd-shim", 0) != 0)
            continue;
        std::istringstream f(text.substr(close + 2));
        std::string v;
        for (int i = 3; i <= 15 && f >> v; ++i)
            if (i == 14 || i == 15) ticks += std::atof(v.c_str());
    }
    return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

struct IdleSample {
    double container_cpu_s = 0;  // the containers' CPU time (their cgroups), summed
    double memory_mib = 0;       // memory in use (page cache excluded), summed
    std::size_t sampled = 0;     // containers with a sample
};

IdleSample sample_idle(Orchestrator& orch) {
    (void)orch.refresh_usage().get();
    IdleSample s;
    for (const auto& p : orch.snapshot())
        if (p.usage && p.usage->container_id == p.container_id) {
            s.container_cpu_s += p.usage->cpu_seconds;
            s.memory_mib += static_cast<double>(p.usage->memory_used) / (1 << 20);
            ++s.sampled;
        }
    return s;
}

// The engine's die events of one orchestrator's containers, by exit code: 0 is the probe's
// own exit on SIGTERM, 137 a SIGKILL (a stop that waited its whole timeout).
struct DieWatch {
    std::mutex mu;
    std::map<int, int> by_code;
    std::unique_ptr<docker::EventStream> stream;
    DieWatch(const docker::Client& client, const std::string& daemon_id) {
        docker::EventStreamOptions o;
        o.filter.actions = {"die"};
        o.filter.labels = {"tenex.daemon=" + daemon_id};
        stream = std::make_unique<docker::EventStream>(
            client, o,
            docker::EventHandlers{.on_event =
                                      [this](const docker::Event& e) {
                                          std::lock_guard lock(mu);
                                          ++by_code[e.exit_code.value_or(-1)];
                                      },
                                  .on_connected = {},
                                  .on_gap = {},
                                  .on_error = {}});
        stream->start();
        for (int i = 0; i < 50 && !stream->connected(); ++i) std::this_thread::sleep_for(100ms);
    }
    std::string describe() {
        std::lock_guard lock(mu);
        std::string out;
        for (const auto& [code, n] : by_code)
            if (code != 0)
                out +=
                    (out.empty() ? "" : ", ") + std::to_string(n) + " with " + std::to_string(code);
        return out.empty() ? "none" : out;
    }
    int count(int code) {
        std::lock_guard lock(mu);
        return by_code.count(code) ? by_code[code] : 0;
    }
};

std::size_t containers_left(const docker::Client& client, const std::string& daemon_id) {
    docker::ListOptions lo;
    lo.all = true;
    lo.labels = {"tenex.daemon=" + daemon_id};
    auto list = docker::list_containers(client, lo);
    return list ? list->size() : 0;
}

struct ShutdownRow {
    std::string state;
    int n = 0;
    double seconds = 0;
    std::size_t left = 0;
    int clean = 0;
    std::string other;
};

// Orchestrator::shutdown(true) timed, and what became of the containers.
ShutdownRow timed_shutdown(Orchestrator& orch, const docker::Client& client,
                           const std::string& daemon_id, DieWatch& dies, const std::string& state,
                           int n) {
    const auto t0 = BenchClock::now();
    orch.shutdown(true);
    ShutdownRow row;
    row.state = state;
    row.n = n;
    row.seconds = ms_since(t0) / 1000.0;
    std::this_thread::sleep_for(1s);  // the last die events
    row.left = containers_left(client, daemon_id);
    row.clean = dies.count(0);
    row.other = dies.describe();
    return row;
}

// The idle mode: N projects running, then N paused; each set stopped by a stopping shutdown
// (up --stop-projects), timed.
int idle_mode(bench::EngineRun& env, int n, int seconds) {
    DockerEngine engine(*env.client);
    std::vector<ShutdownRow> shutdowns;
    int running = 0, paused = 0;
    auto start_all = [&](Orchestrator& orch, std::vector<ProjectRef>& projects,
                         const std::string& prefix) {
        std::vector<StatusFuture> started;
        for (int i = 0; i < n; ++i) {
            projects.push_back(project(prefix + std::to_string(i)));
            started.push_back(orch.ensure_running(projects.back()));
        }
        int ok = 0;
        for (auto& f : started) ok += f.get() ? 1 : 0;
        std::this_thread::sleep_for(5s);  // start-up work settles
        return ok;
    };
    auto measure = [&](Orchestrator& orch, const char* what) {
        const auto a = sample_idle(orch);
        const double e0 = engine_cpu_seconds();
        const auto t0 = BenchClock::now();
        std::this_thread::sleep_for(std::chrono::seconds(seconds));
        const double wall = ms_since(t0) / 1000.0;
        const double e1 = engine_cpu_seconds();
        const auto b = sample_idle(orch);
        std::printf("| %s | %zu | %.3f%% | %.1f MiB | %.2f%% |\n", what, b.sampled,
                    100.0 * (b.container_cpu_s - a.container_cpu_s) / wall, b.memory_mib,
                    100.0 * (e1 - e0) / wall);
        std::fflush(stdout);
    };
    std::printf(
        "%d probe projects (`sleep`, 64 MiB, 0.5 CPU, network none, stop timeout 5 s); each "
        "state measured over %d s\n\n",
        n, seconds);
    std::printf(
        "| state | containers sampled | their CPU (sum, %% of one core) | their memory in use "
        "(sum) | "
        "engine CPU (dockerd, containerd, shims) |\n|---|---|---|---|---|\n");
    {
        const std::string id = "bench-wake-idle-r-" + g_run;
        Clocked clock;
        Orchestrator orch(clock.options(id), engine);
        DieWatch dies(*env.client, id);
        std::vector<ProjectRef> projects;
        running = start_all(orch, projects, "idle-r-");
        measure(orch, ("running (" + std::to_string(running) + ")").c_str());
        shutdowns.push_back(timed_shutdown(orch, *env.client, id, dies, "running", running));
    }
    {
        const std::string id = "bench-wake-idle-p-" + g_run;
        Clocked clock;
        Orchestrator orch(clock.options(id), engine);
        DieWatch dies(*env.client, id);
        std::vector<ProjectRef> projects;
        const int started = start_all(orch, projects, "idle-p-");
        clock.advance(10min + 1s);  // past pause_after
        for (const auto& p : projects)
            paused += wait_for(orch, p, ProjectState::paused, false) ? 1 : 0;
        std::this_thread::sleep_for(2s);
        measure(orch, ("paused (" + std::to_string(paused) + ")").c_str());
        shutdowns.push_back(timed_shutdown(orch, *env.client, id, dies, "paused", paused));
        running = std::min(running, started);
    }
    std::printf(
        "\nShutdown stopping the projects (`Orchestrator::shutdown(true)`, as `up "
        "--stop-projects`): "
        "its deadline is the stop timeout + 2 s\n\n");
    std::printf(
        "| state at shutdown | containers | shutdown took | containers left | exited 0 (the "
        "probe's "
        "own exit on SIGTERM) | other exits |\n|---|---|---|---|---|---|\n");
    bool clean = true;
    for (const auto& r : shutdowns) {
        std::printf("| %s | %d | %.2f s | %zu | %d | %s |\n", r.state.c_str(), r.n, r.seconds,
                    r.left, r.clean, r.other.c_str());
        clean = clean && r.left == 0 && r.clean == r.n;
    }
    if (!clean) std::printf("\nNot every container exited 0 and was removed by the shutdown.\n");
    return running == n && paused == n && clean ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::string(argv[1]) == "idle") {
        auto env = bench::open_engine_run("wake");
        if (!env) return 1;
        g_run = env->run;
        g_root = env->root;
        const std::string bench_filter = kBenchLabel + "=" + kBenchValue;
        env->remove_labelled(bench_filter);
        const int rc = idle_mode(*env, argc > 2 ? std::atoi(argv[2]) : 100,
                                 argc > 3 ? std::atoi(argv[3]) : 30);
        env->remove_labelled(bench_filter);
        std::filesystem::remove_all(g_root);
        return rc;
    }
    const int rounds = argc > 1 ? std::atoi(argv[1]) : 20;
    g_egress = argc > 2 && std::string(argv[2]) == "egress";
    auto env = bench::open_engine_run("wake");
    if (!env) return 1;
    const docker::Client& client = *env->client;
    g_run = env->run;
    g_root = env->root;
    const std::string bench_filter = kBenchLabel + "=" + kBenchValue;
    env->remove_labelled(bench_filter);  // leftovers of an interrupted run
    DockerEngine engine(client);
    const std::string daemon = "bench-wake-" + g_run;

    // One orchestrator (and clock) per waiting state, so that moving one clock moves one project.
    Clocked paused_clock, kept_clock, cold_clock;
    Orchestrator paused_orch(paused_clock.options(daemon + "-p"), engine);
    Orchestrator kept_orch(kept_clock.options(daemon + "-k"), engine);
    Orchestrator cold_orch(cold_clock.options(daemon + "-c"), engine);
    const auto pp = project("paused");
    const auto kp = project("kept");
    if (!paused_orch.ensure_running(pp).get() || !kept_orch.ensure_running(kp).get()) {
        std::fprintf(stderr, "cannot start the benchmark's projects\n");
        return 1;
    }
    std::vector<double> paused_ms, kept_ms, cold_ms, raw_ms, raw_unpause_ms, raw_start_ms;
    int failures = 0;
    for (int i = 0; i < rounds; ++i) {
        // Paused: past pause_after, then a trigger.
        paused_clock.advance(10min + 1s);
        if (wait_for(paused_orch, pp, ProjectState::paused, false)) {
            auto t0 = BenchClock::now();
            auto r = paused_orch.ensure_running(pp).get();
            if (r && r->state == ProjectState::running && r->last_wake == "unpause")
                paused_ms.push_back(ms_since(t0));
            else
                ++failures;
        } else {
            ++failures;
        }
        // Kept: past idle_timeout (stopped, kept), then a trigger.
        kept_clock.advance(20min + 1s);
        if (wait_for(kept_orch, kp, ProjectState::stopped, true)) {
            auto t0 = BenchClock::now();
            auto r = kept_orch.ensure_running(kp).get();
            if (r && r->state == ProjectState::running && r->last_wake == "warm")
                kept_ms.push_back(ms_since(t0));
            else
                ++failures;
        } else {
            ++failures;
        }
        // Cold: a project without a container.
        {
            auto cp = project("cold" + std::to_string(i));
            auto t0 = BenchClock::now();
            auto r = cold_orch.ensure_running(cp).get();
            if (r && r->state == ProjectState::running && r->last_wake == "create")
                cold_ms.push_back(ms_since(t0));
            else
                ++failures;
            (void)cold_orch.stop(cp).get();  // stopped and removed (with its network)
        }
        // Raw create+start of the same spec, and a raw unpause of that container.
        {
            auto spec = spec_of(project("raw" + std::to_string(i)), daemon + "-raw");
            auto t0 = BenchClock::now();
            auto id = env->raw_create_start(spec);
            if (!id.empty()) {
                raw_ms.push_back(ms_since(t0));
                std::string ignored;
                if (env->raw_post("/containers/" + id + "/pause", "", &ignored) == 204) {
                    t0 = BenchClock::now();
                    if (env->raw_post("/containers/" + id + "/unpause", "", &ignored) == 204)
                        raw_unpause_ms.push_back(ms_since(t0));
                }
                if (env->raw_post("/containers/" + id + "/stop?t=5", "", &ignored) == 204) {
                    t0 = BenchClock::now();
                    if (env->raw_post("/containers/" + id + "/start", "", &ignored) == 204)
                        raw_start_ms.push_back(ms_since(t0));
                }
            } else {
                ++failures;
            }
            (void)docker::remove_container(client, spec.name, true, true);
        }
    }
    paused_orch.shutdown(true);
    kept_orch.shutdown(true);
    cold_orch.shutdown(true);
    env->remove_labelled(bench_filter);
    std::filesystem::remove_all(g_root);

    const auto raw = summarize(raw_ms);
    auto row = [&](const char* name, const std::vector<double>& v) {
        auto s = summarize(v);
        std::printf("| %s | %zu | %.1f | %.1f | %.2fx |\n", name, s.n, s.median, s.p95,
                    raw.median > 0 ? s.median / raw.median : 0.0);
    };
    std::printf(
        "Trigger to running by waiting state, %d rounds, interleaved (probe image; "
        "orchestrated projects: network %s; raw: network none)\n\n",
        rounds, g_egress ? "egress" : "none");
    std::printf("| waiting state | n | median ms | p95 ms | median vs raw create+start |\n");
    std::printf("|---|---|---|---|---|\n");
    row("paused (unpause)", paused_ms);
    row("stopped, kept (start)", kept_ms);
    row("no container (create + start)", cold_ms);
    row("raw create+start (libcurl)", raw_ms);
    row("raw unpause (libcurl)", raw_unpause_ms);
    row("raw start of a stopped container (libcurl)", raw_start_ms);
    if (failures) std::printf("\n%d rounds failed (see stderr)\n", failures);
    return failures ? 1 : 0;
}
