// Benchmark: the orchestrator next to the raw Engine API, in one run, with the same container
// spec (built from one probe policy) on both sides:
//   1. trigger-to-running latency of one project: Orchestrator::ensure_running().get() vs a
//      bare-libcurl POST create + POST start, interleaved round by round (removal untimed);
//   2. N projects (default 100) to running: the orchestrator (4 starts in flight) vs the same
//      create+start calls from 4 threads of bare libcurl, twice each (raw, orch, orch, raw);
//   3. reconcile of R running containers (default 200) by a fresh orchestrator (adopts all);
//   4. shutdown(stop_projects) of S containers (default 50) whose program stops on SIGTERM.
// Every container carries tenex.bench=orchestrator and is removed at the end. Prints Markdown.
//
// usage: bench_orchestrator [rounds=20] [projects=100] [reconcile=200] [shutdown=50]

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <curl/curl.h>

#include "docker/containers.hpp"
#include "engine_run.hpp"
#include "sandbox/orchestrator.hpp"

using namespace tenex;
using namespace tenex::sandbox;
using bench::BenchClock;
using bench::ms_since;
using bench::summarize;

namespace {

std::filesystem::path g_root;
const std::string kBenchLabel = "tenex.bench";
const std::string kBenchValue = "orchestrator";

Policy bench_policy() {
    Policy p;
    p.image = "tenex-probe:latest";
    p.args = {"sleep"};
    p.security.user = "65534:65534";
    p.resources.memory_bytes = 64LL << 20;
    p.resources.nano_cpus = 500'000'000;
    p.resources.pids = 64;
    p.network.mode = NetworkMode::none;
    p.lifecycle.stop_timeout = std::chrono::seconds(10);
    p.lifecycle.idle_timeout = std::chrono::milliseconds(0);
    p.lifecycle.max_lifetime = std::chrono::milliseconds(0);
    return p;
}

std::string g_run;
ProjectRef project(const std::string& d) {
    return ProjectRef{.owner = std::string(64, 'c'), .d = "b" + g_run + "-" + d};
}

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
    return o;
}

docker::ContainerSpec spec_of(const ProjectRef& p, const std::string& daemon_id) {
    std::filesystem::create_directories(g_root / p.d);
    SpecContext ctx{.project = p,
                    .naddr = {},
                    .project_dir = g_root / p.d,
                    .daemon_id = daemon_id,
                    .secrets = SecretMode::read};
    auto spec = build_sandbox_spec(bench_policy(), ctx);
    auto c = spec->container;
    c.labels[kBenchLabel] = kBenchValue;
    c.labels["tenex.test"] = "1";
    return c;
}

// Runs fn(i) for i in [0, n) on `width` threads.
void parallel(int n, int width, const std::function<void(int)>& fn) {
    std::atomic<int> next{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < width; ++t)
        threads.emplace_back([&] {
            for (int i = next++; i < n; i = next++) fn(i);
        });
    for (auto& t : threads) t.join();
}

}  // namespace

int main(int argc, char** argv) {
    int rounds = argc > 1 ? std::atoi(argv[1]) : 20;
    int many = argc > 2 ? std::atoi(argv[2]) : 100;
    int adopt = argc > 3 ? std::atoi(argv[3]) : 200;
    int stop_n = argc > 4 ? std::atoi(argv[4]) : 50;
    auto env = bench::open_engine_run("orch");
    if (!env) return 1;
    const docker::Client& client = *env->client;
    g_run = env->run;
    g_root = env->root;
    const std::string bench_filter = kBenchLabel + "=" + kBenchValue;
    env->remove_labelled(bench_filter);  // leftovers of an interrupted run
    DockerEngine engine(client);
    const std::string daemon = "bench-" + g_run;

    // 1. Trigger-to-running latency.
    std::vector<double> raw_ms, orch_ms;
    {
        Orchestrator orch(options(daemon), engine);
        for (int i = 0; i < rounds; ++i) {
            auto rp = project("raw" + std::to_string(i));
            auto spec = spec_of(rp, daemon + "-raw");
            auto t0 = BenchClock::now();
            if (!env->raw_create_start(spec).empty()) raw_ms.push_back(ms_since(t0));
            (void)docker::remove_container(client, spec.name, true, true);

            auto op = project("lat" + std::to_string(i));
            t0 = BenchClock::now();
            auto r = orch.ensure_running(op).get();
            if (r && r->state == ProjectState::running)
                orch_ms.push_back(ms_since(t0));
            else
                std::fprintf(stderr, "ensure_running: %s\n",
                             r ? r->last_error.c_str() : r.error().message.c_str());
            (void)docker::remove_container(client, container_name(op), true, true);
        }
        orch.shutdown(false);
    }
    env->remove_labelled(bench_filter);

    // 2. Many projects to running, 4 in flight. Two runs per side in the order raw, orchestrator,
    // orchestrator, raw (so neither side always follows the other's removals); best of each.
    double raw_many_ms = 0, orch_many_ms = 0;
    int raw_ok = many, orch_ok = many;  // the worse run of each side
    std::vector<double> raw_many_runs, orch_many_runs;
    auto run_raw_many = [&] {
        std::vector<docker::ContainerSpec> specs;
        for (int i = 0; i < many; ++i)
            specs.push_back(spec_of(project("rawmany" + std::to_string(i)), daemon + "-raw"));
        std::atomic<int> ok{0};
        auto t0 = BenchClock::now();
        parallel(many, 4, [&](int i) {
            if (!env->raw_create_start(specs[i]).empty()) ++ok;
        });
        raw_many_runs.push_back(ms_since(t0));
        raw_ok = std::min(raw_ok, ok.load());
        env->remove_labelled(bench_filter);
    };
    auto run_orch_many = [&] {
        Orchestrator orch(options(daemon), engine);
        std::vector<StatusFuture> futures;
        int ok = 0;
        auto t0 = BenchClock::now();
        for (int i = 0; i < many; ++i)
            futures.push_back(orch.ensure_running(project("many" + std::to_string(i))));
        for (auto& f : futures) {
            auto r = f.get();
            if (r && r->state == ProjectState::running) ++ok;
        }
        orch_many_runs.push_back(ms_since(t0));
        orch_ok = std::min(orch_ok, ok);
        orch.shutdown(false);
        env->remove_labelled(bench_filter);
    };
    run_raw_many();
    run_orch_many();
    run_orch_many();
    run_raw_many();
    raw_many_ms = *std::min_element(raw_many_runs.begin(), raw_many_runs.end());
    orch_many_ms = *std::min_element(orch_many_runs.begin(), orch_many_runs.end());

    // 3. Reconcile of `adopt` running containers.
    std::vector<double> reconcile_ms;
    size_t adopted = 0;
    {
        const std::string d3 = daemon + "-adopt";
        parallel(adopt, 4, [&](int i) {
            (void)env->raw_create_start(spec_of(project("adopt" + std::to_string(i)), d3));
        });
        for (int rep = 0; rep < 3; ++rep) {
            Orchestrator orch(options(d3), engine);
            auto t0 = BenchClock::now();
            auto r = orch.reconcile().get();
            reconcile_ms.push_back(ms_since(t0));
            if (!r) std::fprintf(stderr, "reconcile: %s\n", r.error().message.c_str());
            adopted = orch.snapshot().size();
            orch.shutdown(false);
        }
        env->remove_labelled(bench_filter);
    }

    // 4. Shutdown with stop_projects of `stop_n` containers.
    double shutdown_ms = 0;
    size_t stop_left = 0;
    {
        const std::string d4 = daemon + "-stop";
        parallel(stop_n, 4, [&](int i) {
            (void)env->raw_create_start(spec_of(project("stop" + std::to_string(i)), d4));
        });
        Orchestrator orch(options(d4), engine);
        (void)orch.reconcile().get();
        auto t0 = BenchClock::now();
        orch.shutdown(true);
        shutdown_ms = ms_since(t0);
        auto left = docker::list_containers(
            client, {.all = true, .labels = {std::string(kLabelDaemon) + "=" + d4}, .names = {}});
        stop_left = left ? left->size() : 0;
        env->remove_labelled(bench_filter);
    }
    std::filesystem::remove_all(g_root);

    char load[64] = "?";
    if (FILE* f = std::fopen("/proc/loadavg", "r")) {
        if (!std::fgets(load, sizeof load, f)) load[0] = 0;
        std::fclose(f);
    }
    auto raw = summarize(raw_ms);
    auto orc = summarize(orch_ms);
    std::printf("engine API %s, load average at the end: %s\n",
                client.api_version().to_string().c_str(), load);
    std::printf(
        "| measurement | orchestrator | raw Engine API (bare libcurl) | ratio | target |\n");
    std::printf("|---|---|---|---|---|\n");
    std::printf(
        "| trigger-to-running, median (%zu/%zu runs) | %.1f ms | %.1f ms | %.2fx | <= 1.10x |\n",
        orch_ms.size(), raw_ms.size(), orc.median, raw.median, orc.median / raw.median);
    std::printf("| trigger-to-running, p95 | %.1f ms | %.1f ms | %.2fx | |\n", orc.p95, raw.p95,
                orc.p95 / raw.p95);
    std::printf(
        "| %d projects to running, 4 in flight, best of 2 (%d/%d ok; runs %.0f+%.0f vs %.0f+%.0f "
        "ms) | %.0f ms | %.0f ms | %.2fx | <= 1.10x |\n",
        many, orch_ok, raw_ok, orch_many_runs[0], orch_many_runs[1], raw_many_runs[0],
        raw_many_runs[1], orch_many_ms, raw_many_ms, orch_many_ms / raw_many_ms);
    std::printf("| reconcile %d running (adopted %zu), median of 3 | %.0f ms | | | < 1000 ms |\n",
                adopt, adopted, summarize(reconcile_ms).median);
    // The orchestrator gives up at the stop timeout plus its margin (2 s): `left` counts the
    // containers the engine had not stopped and removed by then.
    std::printf(
        "| shutdown --stop-projects, %d containers (stop timeout 10 s, %zu left at the deadline) | "
        "%.0f ms | | | < 12000 ms |\n",
        stop_n, stop_left, shutdown_ms);
    curl_global_cleanup();
    return 0;
}
