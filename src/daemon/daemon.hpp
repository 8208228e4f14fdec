// The daemon behind `tenex-sandbox up`: Nostr events in, one hardened container per project
// out. It wires the pieces of the other modules together:
//
//   relay pool --(verified events)--> bounded queue --> daemon thread:
//       state store (pending/handled, cursors) -> monitor (whitelist, `a` tags, rate limit)
//       -> per project: running? ensure_running (idle timer, stale digest) : a worker loads
//          the workspace (project event, agents, MCP tools from the relays) and then asks the
//          orchestrator for the container
//   orchestrator <-- Docker /events; reconcile at start; heartbeat (kind 24012) every 30 s;
//   HTTP API (health, metrics, projects, stop/restart/logs) on loopback.
//
// One thread (the daemon thread) owns the state store, the monitor and the in-flight table;
// everything else talks to it through its inbox. An event is recorded as pending before it is
// routed and marked handled only when every project it woke is running (or failed), so a
// kill -9 at any point loses nothing: pending events are routed again at the next start, and
// handled ids are never routed twice.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/result.hpp"
#include "daemon/config.hpp"

namespace tenex::daemon {

// Re-reads the configuration (the file plus the command-line flags) for SIGHUP.
using ConfigReloader = std::function<Result<DaemonConfig, Diagnostics>()>;

class Daemon {
  public:
    // Starts every component: fails (naming what) when the key, the state store, the
    // policies, the Docker engine, the HTTP address or the embedded relay cannot be set up.
    static Result<std::unique_ptr<Daemon>> start(DaemonConfig config, ConfigReloader reload = {});
    ~Daemon();  // stop()
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    // Thread-safe requests (also from a signal-handling thread).
    void request_stop();
    void request_reload();
    // Blocks until a stop was requested, then shuts down: subscriptions closed, projects left
    // running unless the configuration says stop_projects_on_exit.
    void wait();

    // For tests and the log line at start-up.
    int http_port() const;
    std::string pubkey() const;
    std::string daemon_id() const;

  private:
    Daemon();
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tenex::daemon
