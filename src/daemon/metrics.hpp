// Everything GET /metrics shows, on one prometheus::Registry. Every method is thread-safe
// (counters are atomic; label families are guarded), so the monitor, the orchestrator and the
// HTTP thread may all call in at once.
//
// Names (Prometheus text format 0.0.4):
//   tenex_events_received_total{relay}            events handed to the monitor, per relay
//   tenex_events_accepted_total                   events that became a trigger
//   tenex_events_rejected_total{reason}           see kRejectReasons; anything else: "other"
//   tenex_triggers_total{kind}                    kind="start" | "touch" | "engine_wait" |
//   "engine_retry" tenex_container_starts_total                  containers created and started
//   tenex_container_restarts_total                automatic restarts after an exit
//   tenex_oom_kills_total                         processes killed by the OOM killer (main or
//   child) tenex_trigger_to_running_seconds              histogram, buckets 0.05 .. 60 s
//   tenex_projects{state}                         gauge, one series per ProjectState
//   tenex_node_projects_running{node}             engine swarm: gauge, running projects per node
//   tenex_node_container_starts_total{node}       engine swarm: starts per node (hostname)
//   tenex_relay_connected{relay}                  gauge 0/1
//   tenex_relay_reconnects{relay}                 gauge: reconnects since the pool started
//   tenex_relay_invalid_events{relay}             gauge: bad JSON/id/signature from the relay
//   tenex_queue_depth                             gauge: messages waiting for the daemon thread
//                                                 (relay events, and the few replies among them)
//   tenex_loop_failures{loop}                     gauge: handlers that threw at a message or job
//                                                 boundary since the start (logged; the loop went
//                                                 on): daemon | daemon_workers | orchestrator
//                                                 | gateway (with the gateway only)
//   tenex_gateway_connections                     gauge: project containers connected now
//   tenex_gateway_refused_connections             gauge: connections with a wrong/missing secret
//   tenex_gateway_events{outcome}                 gauge: upstream events delivered | hidden
//   tenex_gateway_writes_accepted                 gauge: container writes some relay accepted
//   tenex_gateway_writes_refused{reason}          gauge: see kGatewayRefusals
//   tenex_execs_total{outcome}                    operator execs (`tenex-sandbox exec|shell`):
//                                                 completed | refused | failed (kExecOutcomes)
//   tenex_lifecycle_events_total{outcome}         Nostr lifecycle events (kinds 24013/34013):
//                                                 published | rate_limited | failed
//
// Per project (metrics.per_project, on by default; one label, project = the project's address
// "31933:<owner pubkey>:<d>"; see set_projects):
//   tenex_project_state{project,state}            gauge 1: one series, the current state
//   tenex_project_state_seconds_total{project,state}  seconds spent in each state seen so far
//   tenex_project_cpu_seconds_total{project}      CPU time of the project's containers
//   tenex_project_memory_bytes{project}           memory used (page cache excluded), 0 when stopped
//   tenex_project_memory_limit_bytes{project}     the container's memory limit
//   tenex_project_restarts_total{project}         automatic restarts after an exit
//   tenex_project_oom_kills_total{project}        processes killed by the OOM killer
//   tenex_project_last_wake_seconds{project}      the last trigger-to-running time
//   tenex_project_metrics_omitted                 gauge: projects over metrics.max_projects
// The gateway series are cumulative since the daemon started.
// Relay labels are the relay URL without user info or query (no credentials in metrics).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/thread_annotations.hpp"
#include "gateway/server.hpp"
#include "relay/pool.hpp"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace tenex::daemon {

// The reasons tenex_events_rejected_total knows; each series exists from the start (0).
inline constexpr std::string_view kRejectReasons[] = {
    "not_whitelisted", "no_project",        "bad_address",  "not_a_project",
    "unknown_owner",   "too_many_projects", "rate_limited", "queue_full",
    "duplicate",       "invalid",           "other"};

// The reasons tenex_gateway_writes_refused knows (GatewayStats::writes_refused).
inline constexpr std::string_view kGatewayRefusals[] = {
    "too_large",   "invalid",      "future",       "project_event", "out_of_scope",
    "foreign_key", "reserved_key", "rate_limited", "relays_refused"};

// The outcomes tenex_execs_total knows: the process ran and its exit code is known; the API
// refused the request (disabled, unknown or stopped project, bad user or command); the engine
// failed it.
inline constexpr std::string_view kExecOutcomes[] = {"completed", "refused", "failed"};

// The bucket bounds of tenex_trigger_to_running_seconds.
std::vector<double> trigger_to_running_buckets();

// One project's figures for the per-project series (Metrics::set_projects).
struct ProjectSample {
    std::string project{};                // the label value: the project's address
    std::string state{};                  // sandbox::to_string(ProjectState)
    std::string container_id{};           // the container cpu_seconds was sampled from
    std::optional<double> cpu_seconds{};  // of container_id since it started; nullopt: not sampled
    std::optional<std::uint64_t> memory_used{};   // nullopt: leave the series as it is
    std::optional<std::uint64_t> memory_limit{};  // nullopt: leave the series as it is
    int restarts = 0;   // ProjectStatus::restart_count (back to 0 after an operator restart)
    int oom_kills = 0;  // ProjectStatus::oom_kills
    std::optional<double> last_wake_seconds{};  // nullopt: never woken by a trigger
};

// "wss://user:pw@host/path?token=x" -> "wss://host/path".
std::string redact_relay_url(std::string_view url);

class Metrics {
  public:
    Metrics();
    ~Metrics();
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;

    void event_received(const std::string& relay);
    void event_accepted();
    void event_rejected(std::string_view reason);  // unknown reasons count as "other"
    void trigger(std::string_view kind);           // the kinds above; others ignored
    // node: where it started (engine swarm: the node's hostname), counted per node too.
    void container_started(const std::string& node = {});
    void container_restarted();
    void oom_killed();
    void exec(std::string_view outcome);             // kExecOutcomes; others count as "failed"
    void lifecycle_event(std::string_view outcome);  // published | rate_limited | failed
    void observe_trigger_to_running(double seconds);
    // Every ProjectState gets a series; states missing from counts are 0. Unknown keys are
    // exported too.
    void set_projects_by_state(const std::map<std::string, int>& counts);
    // Engine swarm: running projects per node (hostname). Nodes no longer listed read 0.
    void set_running_by_node(const std::map<std::string, int>& counts);
    // Replaces the relay gauges: relays no longer listed lose their series.
    void set_relays(const std::vector<relay::RelayStatus>& relays);
    void set_queue_depth(std::size_t n);
    // Inbox::failures() / WorkerPool::failures() of one loop (any name gets its series).
    void set_loop_failures(std::string_view loop, std::uint64_t n);
    void set_gateway(const gateway::GatewayStats& stats);
    // Connections the egress forwarders of all projects passed through and refused (a name
    // not public or unresolvable, a failed connect, over the per-project cap).
    void set_egress(std::uint64_t forwarded, std::uint64_t refused);

    // The per-project series: off removes them all and set_projects does nothing. At most
    // max_projects projects have series (at least 1).
    void configure_projects(bool enabled, std::size_t max_projects);
    // Replaces the per-project series with these projects' (the orchestrator's snapshot, once
    // a tick): a project no longer listed loses all its series. Over max_projects, the projects
    // that already have series keep them, new ones (in address order) get none
    // (tenex_project_metrics_omitted counts them) until others leave. Counters go up by what the
    // figures grew since the last call (a new container's CPU time counts whole); the time since
    // the last call counts for the state of the last call. now_seconds: a monotonic clock.
    void set_projects(const std::vector<ProjectSample>& samples, double now_seconds);

    // Prometheus text exposition format 0.0.4.
    std::string serialize() const;

    prometheus::Registry& registry() { return *registry_; }

  private:
    struct RelayGauges {
        prometheus::Gauge* connected{nullptr};
        prometheus::Gauge* reconnects{nullptr};
        prometheus::Gauge* invalid{nullptr};
    };

    std::shared_ptr<prometheus::Registry> registry_;
    prometheus::Family<prometheus::Counter>* received_{nullptr};
    prometheus::Counter* accepted_{nullptr};
    std::map<std::string, prometheus::Counter*, std::less<>> rejected_{};
    prometheus::Counter* trigger_start_{nullptr};
    prometheus::Counter* trigger_touch_{nullptr};
    prometheus::Counter* trigger_engine_wait_{nullptr};
    prometheus::Counter* trigger_engine_retry_{nullptr};
    prometheus::Counter* starts_{nullptr};
    prometheus::Counter* restarts_{nullptr};
    prometheus::Counter* ooms_{nullptr};
    std::map<std::string, prometheus::Counter*, std::less<>> execs_{};
    std::map<std::string, prometheus::Counter*, std::less<>> lifecycle_events_{};
    prometheus::Histogram* trigger_to_running_{nullptr};
    prometheus::Family<prometheus::Gauge>* projects_{nullptr};
    prometheus::Family<prometheus::Gauge>* relay_connected_{nullptr};
    prometheus::Family<prometheus::Gauge>* relay_reconnects_{nullptr};
    prometheus::Family<prometheus::Gauge>* relay_invalid_{nullptr};
    prometheus::Gauge* queue_depth_{nullptr};
    prometheus::Family<prometheus::Gauge>* loop_failures_{nullptr};
    prometheus::Gauge* egress_forwarded_{nullptr};
    prometheus::Gauge* egress_refused_{nullptr};
    prometheus::Gauge* gw_connections_{nullptr};
    prometheus::Gauge* gw_refused_connections_{nullptr};
    prometheus::Gauge* gw_delivered_{nullptr};
    prometheus::Gauge* gw_hidden_{nullptr};
    prometheus::Gauge* gw_replayed_{nullptr};
    prometheus::Gauge* gw_writes_accepted_{nullptr};
    prometheus::Family<prometheus::Gauge>* gw_writes_refused_{nullptr};

    // One project's series (families guard themselves; this record is guarded by mutex_).
    struct ProjectSeries {
        prometheus::Gauge* state{nullptr};
        std::string state_name{};
        double state_since = 0;  // now_seconds of the last set_projects
        std::map<std::string, prometheus::Counter*> state_seconds{};
        prometheus::Counter* cpu{nullptr};
        std::string cpu_container{};
        double cpu_last = 0;
        prometheus::Gauge* memory{nullptr};
        prometheus::Gauge* memory_limit{nullptr};
        prometheus::Counter* restarts{nullptr};
        int restarts_last = 0;
        prometheus::Counter* ooms{nullptr};
        int ooms_last = 0;
        prometheus::Gauge* wake{nullptr};
    };
    struct ProjectFamilies;
    void remove_series(ProjectSeries& s) TENEX_REQUIRES(mutex_);

    mutable Mutex mutex_;  // guards the maps below (families guard themselves)
    std::map<std::string, prometheus::Counter*> received_by_relay_ TENEX_GUARDED_BY(mutex_){};
    std::map<std::string, RelayGauges> relays_ TENEX_GUARDED_BY(mutex_){};
    std::map<std::string, prometheus::Gauge*> projects_by_state_ TENEX_GUARDED_BY(mutex_){};
    prometheus::Family<prometheus::Counter>* node_starts_{nullptr};
    prometheus::Family<prometheus::Gauge>* node_running_{nullptr};
    std::map<std::string, prometheus::Gauge*> running_by_node_ TENEX_GUARDED_BY(mutex_){};
    std::unique_ptr<ProjectFamilies> project_families_{};  // null: per-project metrics off
    std::size_t max_projects_ = 1000;
    std::map<std::string, ProjectSeries> project_series_
        TENEX_GUARDED_BY(mutex_){};  // by project address
};

}  // namespace tenex::daemon
