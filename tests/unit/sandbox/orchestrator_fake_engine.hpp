// An in-memory Engine for the orchestrator's state-machine tests: containers with names,
// labels and states, the engine's 409 on a taken name, optional latency, call counters.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sandbox/orchestrator_engine.hpp"

namespace tenex::sandbox::test {

class FakeEngine : public Engine {
  public:
    struct Container {
        docker::ContainerSpec spec{};
        std::string status = "created";
        int exit_code = 0;
        bool oom = false;
        std::string started_at{};
        std::string finished_at{};
    };

    docker::DResult<std::string> create(const docker::ContainerSpec& spec) override {
        std::this_thread::sleep_for(create_latency);
        std::lock_guard lock(mu);
        ++creates;
        for (const auto& [id, c] : containers)
            if (c.spec.name == spec.name)
                return docker::DockerError{"create container " + spec.name, 409, "name in use"};
        std::string id = "c" + std::to_string(++next_id) + std::string(60, '0');
        containers[id] = Container{.spec = spec};
        max_containers = std::max(max_containers, containers.size());
        create_times.push_back(std::chrono::steady_clock::now());
        return id;
    }
    docker::DStatus start(const std::string& id) override {
        int now_in = ++starting;
        int seen = max_starting.load();
        while (now_in > seen && !max_starting.compare_exchange_weak(seen, now_in)) {
        }
        std::this_thread::sleep_for(start_latency);
        --starting;
        std::lock_guard lock(mu);
        auto it = containers.find(id);
        if (it == containers.end()) return docker::DockerError{"start", 404, "no such container"};
        calls.emplace_back(id, "start");
        it->second.status = "running";
        it->second.started_at = "2026-11-27T10:00:00.5Z";
        ++starts;
        return Unit{};
    }
    // Like the engine: a stop of a paused container cannot deliver the stop signal (its
    // processes are frozen) and ends in SIGKILL after the timeout (137); counted as such.
    docker::DStatus stop(const std::string& id, int) override {
        std::this_thread::sleep_for(stop_call_latency);
        std::lock_guard lock(mu);
        ++stops;
        calls.emplace_back(id, "stop");
        auto it = containers.find(id);
        if (it == containers.end()) return docker::DockerError{"stop", 404, "no such container"};
        if (it->second.status == "paused") ++paused_stops;
        it->second.exit_code = it->second.status == "paused" ? 137 : 143;
        it->second.status = "exited";
        return Unit{};
    }
    // Like the engine: a paused container is removed only with force.
    docker::DStatus remove(const std::string& id, bool force) override {
        std::lock_guard lock(mu);
        ++removes;
        calls.emplace_back(id, "remove");
        auto it = containers.find(id);
        if (it != containers.end() && it->second.status == "paused" && !force)
            return docker::DockerError{"remove", 409, "You cannot remove a paused container"};
        containers.erase(id);
        return Unit{};
    }
    docker::DStatus pause(const std::string& id) override {
        std::lock_guard lock(mu);
        ++pauses;
        calls.emplace_back(id, "pause");
        auto it = containers.find(id);
        if (it == containers.end()) return docker::DockerError{"pause", 404, "no such container"};
        if (it->second.status != "running")
            return docker::DockerError{"pause", 409, "container is not running"};
        it->second.status = "paused";
        return Unit{};
    }
    docker::DStatus unpause(const std::string& id) override {
        std::lock_guard lock(mu);
        ++unpauses;
        calls.emplace_back(id, "unpause");
        auto it = containers.find(id);
        if (it == containers.end()) return docker::DockerError{"unpause", 404, "no such container"};
        if (it->second.status != "paused")
            return docker::DockerError{"unpause", 409, "container is not paused"};
        it->second.status = "running";
        return Unit{};
    }
    docker::DResult<docker::ContainerInfo> inspect(const std::string& id_or_name) override {
        std::lock_guard lock(mu);
        for (const auto& [id, c] : containers) {
            if (id != id_or_name && c.spec.name != id_or_name) continue;
            docker::ContainerInfo info;
            info.id = id;
            info.name = c.spec.name;
            info.created = "2026-11-27T10:00:00Z";
            info.spec = c.spec;
            info.state.status = c.status;
            info.state.running = c.status == "running" || c.status == "paused";
            info.state.paused = c.status == "paused";
            info.state.finished_at = c.finished_at;
            info.state.exit_code = c.exit_code;
            info.state.oom_killed = c.oom;
            info.state.started_at = c.started_at;
            return info;
        }
        return docker::DockerError{"inspect " + id_or_name, 404, "no such container"};
    }
    // Like the engine with label filters, unless ignore_filters (to test the double check).
    docker::DResult<std::vector<docker::ContainerSummary>> list(
        const docker::ListOptions& options) override {
        std::lock_guard lock(mu);
        ++lists;
        std::vector<docker::ContainerSummary> out;
        for (const auto& [id, c] : containers) {
            bool match = true;
            for (const auto& f : options.labels) {
                auto eq = f.find('=');
                auto it = c.spec.labels.find(f.substr(0, eq));
                if (it == c.spec.labels.end() ||
                    (eq != std::string::npos && it->second != f.substr(eq + 1)))
                    match = false;
            }
            if (!match && !ignore_filters) continue;
            docker::ContainerSummary s;
            s.id = id;
            s.names = {c.spec.name};
            s.state = c.status;
            s.labels = c.spec.labels;
            out.push_back(s);
        }
        return out;
    }
    docker::DResult<docker::ContainerStats> stats(const std::string&) override {
        return docker::ContainerStats{.cpu_percent = 1.5,
                                      .memory_usage = 1000,
                                      .memory_limit = 2000,
                                      .pids = 3,
                                      .online_cpus = 2};
    }
    docker::DResult<docker::NetworkInfo> ensure_network(
        const NetworkPlan& plan, const std::map<std::string, std::string>&) override {
        ++networks;
        return docker::NetworkInfo{.id = "net-" + plan.network_name, .name = plan.network_name};
    }
    docker::DStatus remove_network(const std::string&) override { return Unit{}; }
    // With stop_latency: an engine that answers that late, given up after the budget.
    docker::DStatus stop_and_remove(const std::string& id, int timeout_s,
                                    std::chrono::milliseconds budget) override {
        ++stop_calls;
        last_stop_budget = budget.count();
        if (stop_latency > budget) {
            std::this_thread::sleep_for(budget);
            return docker::DockerError{"stop container " + id, 0, "timed out"};
        }
        std::this_thread::sleep_for(stop_latency);
        return Engine::stop_and_remove(id, timeout_s, budget);
    }

    // Test controls.
    void exit_container(const std::string& id, int code, bool oom = false) {
        std::lock_guard lock(mu);
        auto& c = containers.at(id);
        c.status = "exited";
        c.exit_code = code;
        c.oom = oom;
    }
    std::string add_container(const docker::ContainerSpec& spec, const std::string& status) {
        std::lock_guard lock(mu);
        std::string id = "x" + std::to_string(++next_id) + std::string(60, '0');
        containers[id] = Container{.spec = spec,
                                   .status = status,
                                   .exit_code = 0,
                                   .oom = false,
                                   .started_at = "2026-11-27T09:00:00Z"};
        return id;
    }
    std::size_t count() {
        std::lock_guard lock(mu);
        return containers.size();
    }
    // The calls that changed a container's state (start, pause, unpause, stop, remove), in order.
    std::vector<std::string> calls_for(const std::string& id) {
        std::lock_guard lock(mu);
        std::vector<std::string> out;
        for (const auto& [c, op] : calls)
            if (c == id) out.push_back(op);
        return out;
    }

    std::mutex mu;
    std::map<std::string, Container> containers;
    std::vector<std::pair<std::string, std::string>> calls;  // (container id, operation)
    std::vector<std::chrono::steady_clock::time_point> create_times;
    std::size_t max_containers = 0;  // the most that existed at once (created by the orchestrator)
    int next_id = 0;
    std::atomic<int> creates{0}, starts{0}, stops{0}, removes{0}, lists{0}, networks{0};
    std::atomic<int> pauses{0}, unpauses{0}, paused_stops{0};
    std::atomic<int> starting{0}, max_starting{0};
    std::chrono::milliseconds create_latency{0};
    std::chrono::milliseconds start_latency{0};
    std::chrono::milliseconds stop_latency{0};       // shutdown's stop_and_remove only
    std::chrono::milliseconds stop_call_latency{0};  // stop()
    std::atomic<int> stop_calls{0};
    std::atomic<long> last_stop_budget{0};  // ms
    bool ignore_filters = false;
};

}  // namespace tenex::sandbox::test
