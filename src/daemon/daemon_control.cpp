// The daemon's side of the HTTP API: projects, health, stop/restart and logs. Runs on the
// HTTP server's threads; talks to the orchestrator (thread-safe) and reads a snapshot of the
// policies.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <future>

#include "daemon/daemon_internal.hpp"
#include "docker/containers.hpp"
#include "docker/exec.hpp"
#include "sandbox/sandbox_spec.hpp"

namespace tenex::daemon {

using namespace std::chrono_literals;

ProjectView Daemon::Impl::view_of(const sandbox::ProjectStatus& status) {
    ProjectView view{.status = status,
                     .network_mode = {},
                     .policy = {},
                     .title = {},
                     .limits = {},
                     .gateway_keys = {}};
    if (gateway)
        for (const auto& [key, address] : gateway->bindings())
            if (address == status.project.address()) view.gateway_keys.push_back(key);
    const auto set = policies.load();
    auto resolved = sandbox::resolve_policy(*set, status.project);
    view.network_mode = sandbox::to_string(resolved.policy.network.mode);
    const auto& r = resolved.policy.resources;
    view.limits = {.memory_bytes = r.memory_bytes,
                   .cpus = static_cast<double>(r.nano_cpus) / 1e9,
                   .pids = r.pids};
    for (const auto& file : resolved.applied) {
        if (!view.policy.empty()) view.policy += "+";
        view.policy += std::filesystem::path(file).filename().string();
    }
    if (view.policy.empty()) view.policy = "(built-in)";
    return view;
}

std::vector<ProjectView> Daemon::Impl::projects() {
    {
        // Usage comes from one-shot engine stats (~1 s); sample at most every 5 s.
        MutexLock lock(usage_mu);
        auto now = std::chrono::steady_clock::now();
        if (now - usage_at > 5s) {
            auto sampled = orchestrator->refresh_usage();
            if (sampled.wait_for(3s) == std::future_status::ready) usage_at = now;
        }
    }
    std::vector<ProjectView> out;
    for (const auto& s : orchestrator->snapshot()) out.push_back(view_of(s));
    return out;
}

Health Daemon::Impl::health() {
    Health h;
    nlohmann::json reasons = nlohmann::json::array();
    auto ping = docker->ping();
    if (!ping) reasons.push_back("Docker engine not reachable: " + ping.error().describe());
    std::size_t connected = 0;
    nlohmann::json relays = nlohmann::json::array();
    for (const auto& r : pool->status()) {
        connected += r.connected ? 1 : 0;
        relays.push_back({{"url", r.url},
                          {"connected", r.connected},
                          {"reconnects", r.reconnects},
                          {"last_error", r.last_error}});
    }
    if (connected == 0) reasons.push_back("no relay connected");
    h.ok = reasons.empty();
    h.details = {
        {"daemon", id},
        {"pubkey", keys->pub.hex()},
        {"docker", {{"reachable", static_cast<bool>(ping)}, {"socket", docker->socket_path()}}},
        {"relays", {{"connected", connected}, {"total", relays.size()}, {"list", relays}}},
        {"reasons", reasons}};
    return h;
}

Result<ProjectView> Daemon::Impl::control(const std::string& project, Control what) {
    auto ref = sandbox::parse_address(project);
    if (!ref) return ref.error();
    auto done = what == Control::stop      ? orchestrator->stop(*ref)
                : what == Control::restart ? orchestrator->restart(*ref)
                                           : orchestrator->forget(*ref);
    auto status = done.get();
    if (!status) return status.error();
    if (what == Control::forget) {
        // Its gateway secret is revoked now rather than at its next start (there may be none).
        if (gateway) gateway->close_project(ref->address());
        post(Forgotten{*status});
    }
    spdlog::info("{} {} on operator request", ref->address(),
                 what == Control::stop      ? "stopped"
                 : what == Control::restart ? "restarted"
                                            : "forgotten");
    return view_of(*status);
}

Result<ProjectView> Daemon::Impl::stop(const std::string& project) {
    return control(project, Control::stop);
}
Result<ProjectView> Daemon::Impl::restart(const std::string& project) {
    return control(project, Control::restart);
}
Result<ProjectView> Daemon::Impl::forget(const std::string& project) {
    return control(project, Control::forget);
}

Status Daemon::Impl::logs(const std::string& project, const LogOptions& options,
                          const std::function<bool(std::string_view)>& sink) {
    auto ref = sandbox::parse_address(project);
    if (!ref) return ref.error();
    auto status = orchestrator->status(*ref);
    std::string container = status && !status->container_id.empty() ? status->container_id
                                                                    : sandbox::container_name(*ref);
    return stream_container_logs(*docker, container, options, sink,
                                 swarm ? LogsOf::service : LogsOf::container);
}

void Daemon::Impl::observe(const std::string& key, const sandbox::ProjectStatus& s) {
    auto prev = last_states.find(key);
    event_log.observe(prev == last_states.end() ? std::nullopt : std::optional(prev->second), s);
}

// The project's running container, found by this daemon's labels and the project's (never by
// name alone: a container someone else named alike is not ours to exec into).
Result<std::string> Daemon::Impl::exec_create(const std::string& project,
                                              const ExecRequest& request) {
    docker::ListOptions list;
    list.labels = orchestrator->label_filters();
    list.labels.push_back(std::string(sandbox::kLabelProject) + "=" + project);
    auto found = docker::list_containers(*docker, list);
    if (!found) return make_error(found.error().describe());
    if (found->empty()) return make_error("no running container of " + project);
    if (found->size() > 1)
        return make_error(std::to_string(found->size()) + " running containers of " + project);
    // Never privileged, no capabilities added: the process gets the container's user (unless
    // request.user names another non-root one), namespaces, cgroup and limits.
    auto id = docker::create_exec(*docker, found->front().id,
                                  docker::ExecSpec{.cmd = request.cmd,
                                                   .user = request.user,
                                                   .tty = request.tty,
                                                   .attach_stdin = request.interactive});
    if (!id) return make_error(id.error().describe());
    if (request.interactive) exec_sessions->add(*id);
    return *id;
}

Status Daemon::Impl::exec_input(const std::string& exec_id, std::string_view data, bool eof) {
    return exec_sessions->input(exec_id, data, eof);
}

Status Daemon::Impl::exec_resize(const std::string& exec_id, int rows, int cols) {
    return exec_sessions->resize(exec_id, rows, cols);
}

Result<int> Daemon::Impl::exec_run(const std::string& exec_id, bool tty, std::stop_token stop,
                                   const std::function<bool(bool, std::string_view)>& sink) {
    if (exec_sessions->has(exec_id)) {
        if (auto ran = exec_sessions->run(exec_id, tty, stop, sink); !ran)
            return std::move(ran).error();
    } else {
        auto started = docker::start_exec(
            *docker, exec_id, tty,
            [&](docker::LogStream s, std::string_view data) {
                return sink(s == docker::LogStream::Stderr, data);
            },
            stop);
        if (!started) return make_error(started.error().describe());
    }
    if (stop.stop_requested())
        return make_error("ended by the API (the client went away or the daemon stops)");
    // The stream ends when the process has; the engine may take a moment to record its code.
    for (int i = 0; i < 50; ++i) {
        auto st = docker::inspect_exec(*docker, exec_id);
        if (!st) return make_error(st.error().describe());
        if (!st->running && st->exit_code) return *st->exit_code;
        std::this_thread::sleep_for(100ms);
    }
    return make_error("the engine did not report the exit code");
}

}  // namespace tenex::daemon
