// The daemon's parts (daemon.cpp: start-up and shutdown; daemon_routing.cpp: the daemon
// thread's loop, event routing and starts; daemon_status.cpp: the tick, heartbeat and lifecycle
// publishing; daemon_reload.cpp: SIGHUP; daemon_control.cpp: the HTTP control plane). Private
// to src/daemon.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "common/inbox.hpp"
#include "common/snapshot.hpp"
#include "common/thread_annotations.hpp"
#include "common/worker_pool.hpp"
#include "daemon/config.hpp"
#include "daemon/daemon.hpp"
#include "daemon/event_log.hpp"
#include "daemon/exec_sessions.hpp"
#include "daemon/http_api.hpp"
#include "daemon/metrics.hpp"
#include "daemon/monitor.hpp"
#include "daemon/state_store.hpp"
#include "daemon/systemd_notify.hpp"
#include "docker/client.hpp"
#include "gateway/server.hpp"
#include "nostr/address.hpp"
#include "nostr/keys.hpp"
#include "project/loader.hpp"
#include "project/workspace_manager.hpp"
#include "relay/pool.hpp"
#include "relay/server.hpp"
#include "sandbox/orchestrator.hpp"
#include "sandbox/policy_set.hpp"
#include "sandbox/swarm_engine.hpp"

namespace tenex::daemon {

inline constexpr const char* kSubscription = "tenex-monitor";
inline constexpr std::uint32_t kHeartbeatKind = 24012;
inline constexpr auto kHeartbeatInterval = std::chrono::seconds(30);
inline constexpr auto kTickInterval = std::chrono::seconds(2);
// Engine stats for the per-project metrics: one sample of every running container this often
// (one stats call per container: at 10 s, 100 idle projects cost the daemon 1.8% of a core).
inline constexpr auto kUsageInterval = std::chrono::seconds(30);

inline std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Policies must load without errors (daemon_reload.cpp): at start-up and on SIGHUP.
Result<sandbox::PolicySet> load_policies(const std::filesystem::path& dir);

struct Daemon::Impl final : ControlPlane {
    // The daemon thread's messages (its inbox): a closed set, each handled in dispatch().
    struct Incoming {  // a verified event from a relay subscription
        std::string relay;
        nostr::Event event;
    };
    struct StartFinished {  // a worker's start (launch_start) is done
        nostr::Address address;
        std::string key;
        Result<sandbox::ProjectStatus> outcome;
        bool engine_down = false;
    };
    struct ReloadRequested {};  // SIGHUP
    struct Forgotten {          // the operator forgot a project (HTTP thread)
        sandbox::ProjectStatus last;
    };
    struct PublishLifecycle {  // a lifecycle event to tell on Nostr (event log listener)
        LifecycleEvent event;
        std::string state;
    };
    struct ProjectKnown {  // a project has a workspace now (a worker, or any is_known caller)
        std::string address;
    };
    using Message = std::variant<Incoming, StartFinished, ReloadRequested, Forgotten,
                                 PublishLifecycle, ProjectKnown>;
    struct Inflight {
        std::vector<std::string> events{};  // event ids waiting for this project
        std::chrono::steady_clock::time_point since{};
        int engine_attempts = 0;  // starts that failed because the engine did not answer
    };
    // A start that failed because the Docker engine did not answer: its events stay pending
    // (in the state store too) and the start is tried again when the delay has passed.
    struct EngineWait {
        nostr::Address address{};
        Inflight inflight{};
        std::chrono::steady_clock::time_point retry_at{};
    };

    // daemon.cpp
    Status start(DaemonConfig config, ConfigReloader reload);
    // daemon_routing.cpp
    bool is_known(const sandbox::ProjectRef& ref);
    void add_known(const std::string& address);  // daemon thread (and start-up)
    Result<sandbox::Policy> policy_for(const sandbox::ProjectRef& ref);
    bool post(Message message);
    void on_relay_event(const relay::DeliveredEvent& d);
    void subscribe();
    void run();
    void dispatch(Message& message);
    void handle(const Incoming& in);
    void route(const nostr::Event& event);
    bool trigger(const nostr::Address& address, const std::string& event_id);
    void launch_start(const nostr::Address& address, const std::string& key, Inflight inflight,
                      bool load_workspace = true);
    void finish(const nostr::Address& address, const std::string& key,
                Result<sandbox::ProjectStatus> outcome, bool engine_down);
    void retry_engine_waits();
    void submit(bool known_project, std::function<void()> job);
    // daemon_status.cpp
    void touch_working_projects();
    void tick();
    void set_project_metrics(const std::vector<sandbox::ProjectStatus>& snapshot);
    void note_if_started(const std::string& key, const sandbox::ProjectStatus& s);
    std::set<std::string> running_projects() const;
    void publish_heartbeat();
    void publish_lifecycle(const LifecycleEvent& e, const std::string& state);
    void publish_lifecycle_kind(const LifecycleEvent& e, const std::string& state,
                                std::uint32_t kind);
    void flush_lifecycle();
    std::string status_summary(int running) const;  // STATUS= for systemd
    // Daemon thread: a project the orchestrator dropped (forget): its last state is observed
    // (the stop is told like any other) and recorded, and the daemon's maps let go of it.
    void forgotten(const sandbox::ProjectStatus& last);
    // Daemon thread, each tick: below config.disk_pressure_min_free available on the engine's
    // data root, one kept container goes (Orchestrator::remove_oldest_kept), every 10 s.
    void relieve_disk_pressure();
    // daemon_reload.cpp
    void reload();
    void reload_config();  // whitelist and relays, from the reloader

    // daemon_control.cpp (HTTP threads)
    std::vector<ProjectView> projects() override;
    Health health() override;
    Result<ProjectView> stop(const std::string& project) override;
    Result<ProjectView> restart(const std::string& project) override;
    Result<ProjectView> forget(const std::string& project) override;
    Status logs(const std::string& project, const LogOptions& options,
                const std::function<bool(std::string_view)>& sink) override;
    Result<std::string> exec_create(const std::string& project,
                                    const ExecRequest& request) override;
    Result<int> exec_run(const std::string& exec_id, bool tty, std::stop_token stop,
                         const std::function<bool(bool, std::string_view)>& sink) override;
    Status exec_input(const std::string& exec_id, std::string_view data, bool eof) override;
    Status exec_resize(const std::string& exec_id, int rows, int cols) override;
    ProjectView view_of(const sandbox::ProjectStatus& status);
    // Lifecycle events (GET /events): what changed since the last sample of a project.
    void observe(const std::string& key, const sandbox::ProjectStatus& s);
    enum class Control { stop, restart, forget };
    Result<ProjectView> control(const std::string& project, Control what);

    DaemonConfig config{};
    ConfigReloader reloader{};
    SystemdNotifier notifier{};  // no-op unless started by systemd (NOTIFY_SOCKET)
    std::string last_status{};   // the last STATUS= sent (daemon thread)
    std::optional<nostr::Keys> keys{};
    std::string id{};
    // The relays as connected (the embedded one included). Written at start-up and by the
    // SIGHUP reload, which runs on the daemon thread (ReloadRequested), and read only there:
    // other threads get the list from the orchestrator (set_relays, under its lock) or ask the
    // pool. (A Daemon::relays() that read it from the caller's thread raced with the reload;
    // it is gone.)
    std::vector<std::string> relay_urls{};

    std::unique_ptr<StateStore> state{};
    std::unique_ptr<docker::Client> docker{};
    std::unique_ptr<ExecSessions> exec_sessions{};  // execs with stdin (daemon_control.cpp)
    std::unique_ptr<sandbox::Engine> engine{};      // DockerEngine, or SwarmEngine (engine: swarm)
    sandbox::SwarmEngine* swarm = nullptr;          // engine, when it is a SwarmEngine
    std::unique_ptr<relay::EmbeddedRelay> embedded{};
    std::unique_ptr<relay::RelayPool> pool{};
    std::unique_ptr<gateway::Gateway> gateway{};  // after the pool: it uses the pool
    void set_gateway_reserved_keys();
    std::unique_ptr<project::WorkspaceManager> workspaces{};
    std::unique_ptr<project::ProjectLoader> loader{};
    std::unique_ptr<sandbox::Orchestrator> orchestrator{};
    std::unique_ptr<sandbox::OrchestratorEvents> orchestrator_events{};  // engine: docker
    std::unique_ptr<sandbox::SwarmTaskWatch> swarm_watch{};              // engine: swarm
    Metrics metrics{};
    EventLog event_log{};
    std::unique_ptr<HttpApi> http{};

    // The policy set: read on any thread as a snapshot (a pointer copy under a short lock); the
    // SIGHUP reload publishes a new one whole (a reader keeps the one it took until it lets go).
    Snapshot<sandbox::PolicySet> policies{};
    // The addresses this daemon runs or has run (the state store's, and every project whose
    // workspace exists). Owned by the daemon thread (start-up fills it before that thread
    // runs): it publishes a copy in `known` after each change, which any thread reads as a
    // snapshot; other threads post ProjectKnown to add one.
    std::set<std::string> known_projects{};
    Snapshot<std::set<std::string>> known{};

    // Inbox of the daemon thread: relay events are shed over config.monitor.queue_size
    // messages waiting (counted in overflowed), replies and requests never. Made in start().
    std::unique_ptr<Inbox<Message>> inbox{};
    std::atomic<std::uint64_t> overflowed{0};
    std::atomic<bool> stopping{false};
    std::thread loop{};

    // Owned by the daemon thread.
    std::optional<Monitor> monitor{};
    std::map<std::string, Inflight> inflight{};          // by project address
    std::map<std::string, EngineWait> engine_waits{};    // by project address
    std::unordered_map<std::string, int> outstanding{};  // event id -> projects to wait for
    std::map<std::string, sandbox::ProjectStatus> last_states{};  // by project address
    std::map<std::string, std::uint64_t> gateway_activity{};      // Gateway::activity, last tick
    std::map<std::string, double> last_wake_seconds{};            // trigger to running, by address
    std::filesystem::path engine_root{};                          // DockerRootDir, once known
    std::chrono::steady_clock::time_point disk_checked{};
    bool disk_short = false;
    bool disk_unreadable = false;
    std::map<std::string, std::int64_t> cursors{};  // relay -> newest created_at
    std::set<std::string> heartbeat_projects{};     // as of the last heartbeat
    RateLimiter lifecycle_limiter{0.2, 10};         // Nostr lifecycle events, per project
    std::map<std::string, std::pair<LifecycleEvent, std::string>> lifecycle_pending{};  // held back
    std::map<std::string, std::int64_t> lifecycle_created_at{};  // the last one's, per project

    // Workers: workspace loads wait on clones and relays, starts on the orchestrator.
    static constexpr std::size_t kKnownLane = 0;
    static constexpr std::size_t kFirstLoadLane = 1;
    std::unique_ptr<WorkerPool> workers{};

    // Resource usage is sampled on demand (ps, /projects), at most every few seconds.
    Mutex usage_mu;
    std::chrono::steady_clock::time_point usage_at TENEX_GUARDED_BY(usage_mu){};
    std::future<Status> usage_pending
        TENEX_GUARDED_BY(usage_mu){};  // the metrics' sample in flight (tick)
};

}  // namespace tenex::daemon
