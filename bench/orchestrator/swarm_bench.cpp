// Benchmark: the orchestrator on a Docker Swarm (SwarmEngine, a manager's API) next to the same
// orchestrator on one engine (DockerEngine, this machine's engine), in one run, with the same
// probe policy (sleep, 64 MiB, 0.5 CPU, 64 PIDs, read-only root, network open) on both sides:
//   1. trigger-to-running of one project: Orchestrator::ensure_running().get(), rounds
//      interleaved (swarm, one engine), each project forgotten (untimed) before the next;
//   2. N projects (default 100) to running, all asked at once (the orchestrator's 4 start
//      workers), on the swarm and on one engine: time until all run, and the swarm's spread
//      over its nodes. Removal is not timed.
// Needs the cluster of tests/swarm (run.sh runs it as the step `bench`):
//   TENEX_SWARM_HOST   the manager's socket (unix:///run/tenex-swarm/1/docker.sock)
//   TENEX_SWARM_IMAGE  the probe as the nodes pull it (10.213.0.254:5000/tenex-probe:latest)
// and tenex-probe:latest on this machine's engine. Prints Markdown (bench/results/swarm.md).
//
// usage: bench_swarm [rounds=20] [projects=100]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <curl/curl.h>

#include "engine_run.hpp"
#include "sandbox/orchestrator.hpp"
#include "sandbox/swarm_engine.hpp"

using namespace tenex;
using namespace tenex::sandbox;
using bench::BenchClock;
using bench::ms_since;
using bench::summarize;

namespace {

std::filesystem::path g_root;
std::string g_run;

Policy bench_policy(const std::string& image) {
    Policy p;
    p.image = image;
    p.args = {"sleep"};
    p.security.user = "65534:65534";
    p.resources.memory_bytes = 64LL << 20;
    p.resources.nano_cpus = 500'000'000;
    p.resources.pids = 64;
    p.network.mode = NetworkMode::open;  // the same on both sides (a swarm none is an overlay)
    p.lifecycle.stop_timeout = std::chrono::seconds(2);
    p.lifecycle.idle_timeout = std::chrono::milliseconds(0);
    p.lifecycle.max_lifetime = std::chrono::milliseconds(0);
    p.lifecycle.keep_stopped = std::chrono::milliseconds(0);
    return p;
}

ProjectRef project(const std::string& d) {
    return ProjectRef{.owner = std::string(64, 'c'), .d = "s" + g_run + "-" + d};
}

OrchestratorOptions options(const std::string& daemon_id, const std::string& image, bool swarm) {
    OrchestratorOptions o;
    o.daemon_id = daemon_id;
    o.policies = [image](const ProjectRef&) -> Result<Policy> { return bench_policy(image); };
    // The cluster's nodes share this machine's file system (tests/swarm).
    o.workspace = [](const ProjectRef& p) -> Result<std::filesystem::path> {
        auto dir = g_root / p.d;
        std::filesystem::create_directories(dir);
        return dir;
    };
    o.extra_labels = {{"tenex.bench", "swarm"}, {"tenex.test", "1"}};
    if (swarm) o.network_enforcer = std::make_shared<SwarmNetworkEnforcer>();
    return o;
}

bool running(const Result<ProjectStatus>& r) {
    return r && r->state == ProjectState::running;
}

}  // namespace

int main(int argc, char** argv) {
    const int rounds = argc > 1 ? std::atoi(argv[1]) : 20;
    const int many = argc > 2 ? std::atoi(argv[2]) : 100;
    const char* host = std::getenv("TENEX_SWARM_HOST");
    const char* swarm_image = std::getenv("TENEX_SWARM_IMAGE");
    if (!host || !*host || !swarm_image || !*swarm_image) {
        std::fprintf(
            stderr,
            "bench_swarm: set TENEX_SWARM_HOST and TENEX_SWARM_IMAGE (tests/swarm/run.sh does)\n");
        return 2;
    }
    auto env = bench::open_engine_run("swarm");
    if (!env) return 1;
    g_run = env->run;
    g_root = env->root;
    auto manager = docker::Client::connect({.socket = host, .timeout = std::chrono::seconds(30)});
    if (!manager) {
        std::fprintf(stderr, "bench_swarm: the manager: %s\n", manager.error().describe().c_str());
        return 1;
    }
    DockerEngine one(*env->client);
    SwarmEngine swarm(**manager);
    const std::string daemon = "bench-swarm-" + g_run;
    int failures = 0;

    // 1. Trigger-to-running, interleaved.
    std::vector<double> swarm_ms, one_ms;
    {
        Orchestrator on_swarm(options(daemon + "-s", swarm_image, true), swarm);
        Orchestrator on_one(options(daemon + "-d", "tenex-probe:latest", false), one);
        for (int i = 0; i < rounds; ++i) {
            for (auto* o : {&on_swarm, &on_one}) {
                const auto ref = project((o == &on_swarm ? "s" : "d") + std::to_string(i));
                const auto t0 = BenchClock::now();
                auto r = o->ensure_running(ref).get();
                const double ms = ms_since(t0);
                if (running(r))
                    (o == &on_swarm ? swarm_ms : one_ms).push_back(ms);
                else {
                    ++failures;
                    std::fprintf(stderr, "ensure_running: %s\n",
                                 r ? r->last_error.c_str() : r.error().message.c_str());
                }
                (void)o->forget(ref).get();
            }
        }
        on_swarm.shutdown(false);
        on_one.shutdown(false);
    }

    // 2. `many` projects at once.
    struct Many {
        double ms = 0;
        int ok = 0;
        std::map<std::string, int> per_node;
    };
    auto run_many = [&](Engine& engine, const std::string& image, bool on_swarm) {
        Many out;
        Orchestrator o(options(daemon + (on_swarm ? "-ms" : "-md"), image, on_swarm), engine);
        std::vector<ProjectRef> refs;
        std::vector<StatusFuture> futures;
        const auto t0 = BenchClock::now();
        for (int i = 0; i < many; ++i) {
            refs.push_back(project((on_swarm ? "ms" : "md") + std::to_string(i)));
            futures.push_back(o.ensure_running(refs.back()));
        }
        for (auto& f : futures) {
            auto r = f.get();
            if (!running(r)) {
                ++failures;
                continue;
            }
            ++out.ok;
            ++out.per_node[r->node.empty() ? "(this engine)" : r->node];
        }
        out.ms = ms_since(t0);
        std::vector<StatusFuture> gone;
        for (const auto& ref : refs) gone.push_back(o.forget(ref));
        for (auto& f : gone) (void)f.get();
        o.shutdown(false);
        return out;
    };
    const Many s = run_many(swarm, swarm_image, true);
    const Many d = run_many(one, "tenex-probe:latest", false);
    std::filesystem::remove_all(g_root);

    char load[64] = "?";
    if (FILE* f = std::fopen("/proc/loadavg", "r")) {
        if (!std::fgets(load, sizeof load, f)) load[0] = 0;
        std::fclose(f);
    }
    const auto sw = summarize(swarm_ms), on = summarize(one_ms);
    std::printf("load average at the end: %s\n", load);
    std::printf("| measurement | swarm (3 nodes) | one engine | ratio |\n|---|---|---|---|\n");
    std::printf("| trigger-to-running, median (%zu/%zu runs) | %.1f ms | %.1f ms | %.2fx |\n",
                swarm_ms.size(), one_ms.size(), sw.median, on.median, sw.median / on.median);
    std::printf("| trigger-to-running, p95 | %.1f ms | %.1f ms | %.2fx |\n", sw.p95, on.p95,
                sw.p95 / on.p95);
    std::printf(
        "| %d projects to running, asked at once (%d/%d ok) | %.0f ms | %.0f ms | %.2fx |\n", many,
        s.ok, d.ok, s.ms, d.ms, s.ms / d.ms);
    std::string spread;
    for (const auto& [node, n] : s.per_node)
        spread += (spread.empty() ? "" : ", ") + node + ": " + std::to_string(n);
    std::printf("\nswarm: projects per node: %s\n", spread.c_str());
    curl_global_cleanup();
    return failures == 0 ? 0 : 1;
}
