// The orchestrator: owns every project's state on one thread and keeps at most one container
// per project running as its policy says. Requests and Engine results arrive as messages in
// its inbox; blocking Engine calls run on a worker pool and report back as messages, so the
// project table needs no locks. Docker's unique container name is the guard across processes:
// a create that finds the name taken adopts the container when this daemon manages it.
#pragma once

#include <atomic>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/inbox.hpp"
#include "common/thread_annotations.hpp"
#include "common/watched.hpp"
#include "common/worker_pool.hpp"
#include "docker/events.hpp"
#include "hostnet/network_enforcer.hpp"
#include "sandbox/orchestrator_engine.hpp"
#include "sandbox/orchestrator_lifecycle.hpp"
#include "sandbox/orchestrator_types.hpp"

namespace tenex::sandbox {

using StatusFuture = std::future<Result<ProjectStatus>>;

class Orchestrator {
  public:
    // Starts the owner thread and the workers; does not reconcile (call reconcile()).
    Orchestrator(OrchestratorOptions options, Engine& engine);
    ~Orchestrator();  // shutdown(false) unless done already
    Orchestrator(const Orchestrator&) = delete;
    Orchestrator& operator=(const Orchestrator&) = delete;

    // Idempotent: the future resolves once the project's container runs (or with the reason it
    // could not be started). Triggers also reset the idle timer and a crash loop, and replace
    // a running container whose policy digest is out of date. While backing off the future
    // resolves at once with the backing-off status.
    StatusFuture ensure_running(const ProjectRef& project);
    // Refreshes the idle timer only (a trigger for a project that should not be started).
    void touch(const ProjectRef& project);
    // Graceful stop (stop signal, the policy's stop timeout, SIGKILL), then removal.
    StatusFuture stop(const ProjectRef& project);
    // stop(), and then the orchestrator drops the project: it leaves snapshot() (and so `ps`
    // and /metrics) until a trigger brings it back. A kept container is removed too. Fails
    // for a project the orchestrator does not have.
    StatusFuture forget(const ProjectRef& project);
    // Stops (when running) and starts again; resets backoff and the crash-loop window.
    StatusFuture restart(const ProjectRef& project);
    // The policies may have changed (the daemon reloaded them): every running project reads
    // its policy again. Lifecycle settings outside the digest apply to the running container
    // at once; a container whose digest is out of date is replaced now when the new policy
    // says lifecycle.on_policy_change: immediately, else at its next trigger.
    void policies_changed();
    // The daemon's relays changed (SIGHUP): specs built from now on use these URLs (egress
    // projects with network.relays: true). Call policies_changed() after it to apply them to
    // running containers.
    void set_relays(std::vector<std::string> urls);
    // The host is short of disk: removes the kept container that has been stopped longest (its
    // writable layer); the project starts with a new container at its next trigger. Does
    // nothing when no kept container is idle. The daemon calls it once per check while short.
    void remove_oldest_kept();

    std::vector<ProjectStatus> snapshot();
    std::optional<ProjectStatus> status(const ProjectRef& project);

    // Lists this daemon's containers: adopts running ones, applies the restart policy to
    // exited ones, removes those of projects the policy provider no longer knows. Leaves
    // every container without this daemon's labels alone.
    std::future<Status> reconcile();
    // One-shot stats of every running or paused container (~1 s each, 8 at a time), kept for
    // snapshot().
    std::future<Status> refresh_usage();

    // Wiring for the Engine's /events stream (see OrchestratorEvents).
    void on_engine_event(const docker::Event& event);
    void on_events_gap();

    // Stops accepting requests. With stop_projects, stops and removes every running container
    // in parallel, done by the longest stop timeout plus options().shutdown_margin plus
    // options().shutdown_per_container for each (an Engine call still going then is given up
    // and logged); otherwise leaves them running for the next instance to adopt.
    void shutdown(bool stop_projects = false);

    // The host side of isolated/egress networks (denied/forwarded counts per project).
    NetworkEnforcer& network_enforcer() { return *enforcer_; }

    // "key=value" label filters that select this daemon's containers.
    std::vector<std::string> label_filters() const;
    const OrchestratorOptions& options() const { return options_; }
    // Messages and engine jobs that threw (logged; the loop went on), for /metrics.
    std::uint64_t loop_failures() const;

  private:
    struct Entry;
    struct StartOutcome;
    using Waiter = std::promise<Result<ProjectStatus>>;

    // Threads (orchestrator.cpp): the owner thread's inbox and the worker pool.
    bool post(std::function<void()> message);  // false once the loop has stopped
    void run_loop();
    bool submit(std::function<void()> job);  // false once the workers have stopped
    TimePoint now() const;

    // Lifecycle decisions (orchestrator_state_machine.cpp), owner thread only.
    Entry& entry(const ProjectRef& project);
    void trigger(Entry& e);
    void progress(Entry& e);
    void settle(Entry& e);
    void fail_waiters(Entry& e, const std::string& reason);
    StatusFuture stop_or_forget(const ProjectRef& project, bool forget);
    // Drops a project that forget() asked for, once it has nothing left (owner thread).
    void drop_if_forgotten(const std::string& key);
    void on_exited(Entry& e, std::optional<int> exit_code, bool oom_killed);
    bool reload_policy(Entry& e);
    struct Due {
        TimePoint at;
        enum What { restart, remove, idle_stop, lifetime_stop, pause } what;
    };
    std::optional<Due> due(const Entry& e) const;
    void tick();
    TimePoint next_deadline() const;
    ProjectStatus status_of(const Entry& e) const;

    // Engine jobs (orchestrator_jobs.cpp): launched on the owner thread, run on a worker,
    // finished on the owner thread.
    void enqueue_start(Entry& e, bool is_restart);
    void pump_starts();
    void launch_start(Entry& e);
    void finish_start(const std::string& key, Result<StartOutcome> outcome);
    // keep: stop only, the container stays for a warm start (an idle stop with keep_stopped).
    // A paused container is thawed first, so that it gets its stop signal.
    void launch_stop(Entry& e, StopReason why, bool keep = false);
    void finish_stop(const std::string& key, const std::string& container_id, StopReason why,
                     bool keep, docker::DStatus result);
    // Pause after pause_after; unpause on a trigger; remove a kept container.
    void launch_pause(Entry& e);
    void launch_unpause(Entry& e);
    void launch_remove_kept(Entry& e, StopReason why);
    // The kept containers' ids, recorded in options().kept_file (owner thread).
    void set_kept(Entry& e, bool kept);
    void save_kept();
    void launch_check(Entry& e);
    void launch_exit_inspect(Entry& e, std::optional<int> event_code);

    // Engine events (orchestrator_events.cpp).
    bool take_pending_die(Entry& e);

    // Reconcile (orchestrator_reconcile.cpp).
    void apply_reconcile(std::vector<docker::ContainerInfo> containers,
                         std::uint64_t listed_at_seq);
    void adopt(Entry& e, const docker::ContainerInfo& c, const Policy& policy, TimePoint t);
    void remove_leftover(const docker::ContainerInfo& c, const Result<ProjectRef>& ref,
                         const std::string& why);

    // Worker-side blocking work of a start (orchestrator_start.cpp).
    // old_id: the project's previous container (removed), or with warm its kept container,
    // started again when its digest is the current one.
    Result<StartOutcome> do_start(const ProjectRef& project, const Policy& policy,
                                  const std::string& old_id, bool warm);
    Status apply_workspace_limit(const ProjectRef& project, const Policy& policy,
                                 const std::filesystem::path& dir);
    std::optional<StartOutcome> warm_start(const ProjectRef& project, const Policy& policy,
                                           const std::string& id);
    std::optional<Result<StartOutcome>> claim_taken_name(const ProjectRef& project,
                                                         const Policy& policy,
                                                         const SandboxSpec& spec);
    SpecContext spec_context(const ProjectRef& project, const std::filesystem::path& dir,
                             SecretMode secrets) const;

    // Shutdown (orchestrator_shutdown.cpp).
    struct StopTarget;
    std::vector<StopTarget> shutdown_targets(const std::vector<StopTarget>& known);
    void stop_for_shutdown(const std::vector<StopTarget>& targets, TimePoint deadline);

    // Network side (orchestrator_network.cpp): the per-project network and its enforcement
    // before the container is created (returns the ExtraHosts entries), the same again for an
    // adopted container, and removal of network, forwarders and rules once it is gone.
    std::map<std::string, std::string> network_labels(const ProjectRef& project) const;
    Result<std::vector<std::string>> prepare_network(const ProjectRef& project,
                                                     const NetworkPlan& plan);
    void reenforce_network(const ProjectRef& project, const Policy& policy);
    void teardown_network(const ProjectRef& project);

    OrchestratorOptions options_;
    mutable Mutex relays_mu_;  // relays_ is read on worker threads
    std::vector<std::string> relays_ TENEX_GUARDED_BY(relays_mu_);
    Engine& engine_;
    std::shared_ptr<NetworkEnforcer> enforcer_;

    Inbox<std::function<void()>> inbox_{"orchestrator"};
    std::unique_ptr<WorkerPool> workers_;  // the engine jobs, one lane

    // Owned by the loop thread.
    std::map<std::string, std::unique_ptr<Entry>> entries_;
    std::set<std::string> kept_ids_;  // containers kept stopped (also those not adopted yet)
    FairStartQueue start_queue_;
    int starts_in_flight_ = 0;
    std::atomic<std::uint64_t> run_seq_{0};
    bool closing_ = false;
    std::mt19937_64 rng_;

    Mutex shutdown_mu_;
    bool shut_down_ TENEX_GUARDED_BY(shutdown_mu_) = false;
    std::thread loop_;
};

// Feeds an orchestrator from the Engine's /events stream (filtered to this daemon's labels)
// and reconciles after every gap in it: each reconnection, and a first connection that came
// only after start() had stopped waiting for it.
class OrchestratorEvents {
  public:
    OrchestratorEvents(const docker::Client& client, Orchestrator& orchestrator);
    ~OrchestratorEvents() { stop(); }
    // Starts reading; returns true once connected (false after `wait` without a connection;
    // the stream keeps trying).
    bool start(std::chrono::milliseconds wait = std::chrono::seconds(5));
    void stop();

  private:
    Orchestrator& orchestrator_;
    struct Connection {
        bool connected = false;
        bool gave_up = false;  // start() returned without a connection
    };
    Watched<Connection> connection_;
    std::unique_ptr<docker::EventStream> stream_;
};

}  // namespace tenex::sandbox
