// The orchestrator's public vocabulary: project states, exit reasons, the status it reports
// and the options it runs with.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "sandbox/policy.hpp"
#include "sandbox/project_ref.hpp"

namespace tenex::hostnet {
class NetworkEnforcer;
struct EnforcementStats;
}  // namespace tenex::hostnet

namespace tenex::sandbox {

// The host side of isolated/egress (hostnet/network_enforcer.hpp), as the orchestrator names it.
using hostnet::EnforcementStats;
using hostnet::NetworkEnforcer;

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

// paused: the container exists with its processes frozen (lifecycle.pause_after); a trigger
// thaws it. A stopped project may still have its container, kept stopped for a warm start
// (ProjectStatus::kept, lifecycle.keep_stopped).
enum class ProjectState {
    stopped,
    starting,
    running,
    paused,
    stopping,
    backing_off,
    crash_looping,
    failed
};
// How the last container ended: its own exit, the OOM killer, or a signal (exit code 128+n,
// or a stop/kill by someone else than this orchestrator: docker stop, docker kill, rm -f).
enum class ExitReason { none, exit, oom, killed };

// Why the orchestrator stops or removes a container of its own accord or on request. An
// operator's stop and a replacement (policy change, restart) are not the project's last error;
// the others are (ps, the event log and the owner's Nostr events show them).
enum class StopReason {
    requested,
    replacing,
    idle,
    max_lifetime,
    keep_stopped_zero,
    kept_expired,
    disk_pressure
};

std::string to_string(ProjectState s);
std::string to_string(ExitReason r);
std::string to_string(StopReason r);

// Resource usage from the engine's one-shot stats.
struct ProjectUsage {
    double cpu_percent = 0;
    std::uint64_t memory_used = 0;   // bytes
    std::uint64_t memory_limit = 0;  // bytes
    std::uint64_t pids = 0;
    std::int64_t sampled_at_unix = 0;  // 0: never sampled
    double cpu_seconds = 0;            // CPU time of container_id since it started
    std::string container_id{};        // the container sampled
};

struct ProjectStatus {
    ProjectRef project{};
    ProjectState state = ProjectState::stopped;
    std::string container_id{};
    std::string container_name{};
    std::string policy_digest{};
    std::string started_at{};  // the engine's StartedAt (RFC 3339) of the current container
    std::string node{};        // swarm: the node id of its task; empty on one engine
    int restart_count = 0;     // automatic restarts since first seen or the last restart()
    // Processes of this project's containers killed by the OOM killer since first seen: the
    // container's main process, and children killed while the container went on running.
    int oom_kills = 0;
    std::optional<int> last_exit_code{};
    ExitReason last_exit_reason = ExitReason::none;
    std::int64_t last_trigger_unix_ms = 0;  // 0: never triggered (adopted only)
    std::string last_error{};               // why the last start failed, why restarts stopped
    // Stopped, with its container kept for a warm start (container_id names it).
    bool kept = false;
    // How the current container got running: "create" (created and started), "warm" (a kept
    // container started again), "unpause", "adopted"; empty before the first start.
    std::string last_wake{};
    // The next timed transition: "pause", "stop" (idle timeout or lifetime), "remove" (a kept
    // container's keep_stopped ends), "restart" (backoff); empty when none is due. At
    // next_transition_unix_ms (wall clock).
    std::string next_transition{};
    std::int64_t next_transition_unix_ms = 0;
    std::optional<ProjectUsage> usage{};
};

// Resolves the effective policy of a project. An error means the project is not (or no
// longer) known to this daemon: reconcile removes its leftover containers. Called only on the
// orchestrator's own thread.
using PolicyProvider = std::function<Result<Policy>(const ProjectRef&)>;
// The project's host directory (absolute), mounted at /workspace. Called on worker threads.
using WorkspaceProvider = std::function<Result<std::filesystem::path>(const ProjectRef&)>;

struct OrchestratorOptions {
    std::string daemon_id{};        // the kLabelDaemon value; required
    PolicyProvider policies{};      // required
    WorkspaceProvider workspace{};  // required
    int max_starts_in_flight = 4;   // creates+starts at once, served by a fair queue
    int workers = 16;               // threads for blocking Engine calls (stops can be slow)
    double backoff_jitter = 0.2;    // restart delays vary by +-20%
    std::chrono::milliseconds stable_run{60'000};      // a run this long resets the backoff
    std::chrono::milliseconds shutdown_margin{2'000};  // beyond the stop timeout
    // A stopping shutdown's deadline grows by this much per container: the engine does not stop
    // them all at once (about 5 stops and removals a second were measured for 100 at once on a
    // 2-core host, bench/results/wake.md), so 100 get 25 s more than one.
    std::chrono::milliseconds shutdown_per_container{250};
    std::chrono::milliseconds created_grace{60'000};    // reconcile keeps 'created' ones this long
    std::map<std::string, std::string> extra_labels{};  // added to every container and network
    // The daemon's relay URLs as configured (ws://127.0.0.1:PORT for an embedded relay):
    // reachable from egress projects whose policy says network.relays: true. The initial
    // list; Orchestrator::set_relays replaces it.
    std::vector<std::string> relays{};
    // Where TENEX runtime projects (policies with tenex.llm) keep their global directory:
    // <runtime_root>/<container name>, persistent across restarts. Empty: such projects fail.
    std::filesystem::path runtime_root{};
    // The daemon's relay gateway on host loopback (0: none). With one, egress and isolated projects
    // with network.relays: true reach the gateway (never the relays), and each container start
    // asks gateway_secret for the project's new secret (called on worker threads).
    std::uint16_t gateway_port = 0;
    std::function<std::string(const ProjectRef&)> gateway_secret{};
    // Host side of isolated/egress (filter rules, forwarders); default: HostNetworkEnforcer.
    std::shared_ptr<NetworkEnforcer> network_enforcer{};
    // Where the ids of containers kept stopped for a warm start are recorded, so that the next
    // daemon adopts them as kept (and does not take them for crashed ones). Empty: in memory
    // only; an exited container is then adopted under its restart policy, as before.
    std::filesystem::path kept_file{};
    std::function<TimePoint()> clock{};  // default: steady_clock::now
    std::function<double()> random{};    // uniform [0,1); default: a PRNG
};

}  // namespace tenex::sandbox
