// The per-project relay gateway (issue 15): a NIP-01 websocket endpoint (REQ, EVENT, CLOSE;
// EOSE, OK, CLOSED, NOTICE) that serves each project container its own scope of the daemon's
// relays. A connection is identified only by the secret in its URL path
// (ws://host:port/<secret>), which open_project() makes anew for every container start;
// a connection with any other path gets one NOTICE and is closed.
//
// Upstream, through the daemon's RelayPool: one live subscription for every container REQ
// together (live_union, at most 10 filters per upstream REQ), routed locally by each REQ's
// own filters, and a one-shot stored query per REQ that has a filter without `limit: 0`
// (4 at a time). Every event, stored or live, passes the scope rule (gateway/scope.hpp)
// before it is delivered. A reconnecting container gets its subscriptions back, and events
// routed to a project wait for its runtime (hold_for_project).
// EVENTs are checked (size, id, signature, scope, key binding, per-project rate) and then
// published through the pool; the container's OK is the relays' real outcome.
//
// Runs its own libwebsockets service thread. Every public method is thread-safe. The pool
// must outlive the gateway.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "gateway/scope.hpp"

namespace tenex::relay {
class RelayPool;
}

namespace tenex::gateway {

// The TENEX runtime's project status (kind 24010, every 30 s while a project runs).
inline constexpr std::uint32_t kActivityIgnoredKind = 24010;

struct GatewayOptions {
    std::string host{"127.0.0.1"};
    std::uint16_t port{0};                // 0: pick a free port (see Gateway::port)
    std::filesystem::path bindings_db{};  // SQLite file for key bindings; empty: memory only
    std::size_t max_message_bytes{128 * 1024};
    std::size_t max_subscriptions{32};
    std::size_t max_filters{10};                     // per REQ
    std::size_t max_filter_bytes{16 * 1024};         // one filter, serialized
    std::uint64_t max_limit{500};                    // `limit` sent upstream
    std::size_t max_pending_bytes{4 * 1024 * 1024};  // queued for a slow container: then closed
    WriteLimits write{};
    double write_rate_per_s{10};  // per project, token bucket (open_project may set another)
    double write_burst{50};
    std::chrono::milliseconds publish_timeout{10000};
    std::chrono::milliseconds eose_timeout{5000};  // EOSE to the container at the latest
    // Event ids each upstream subscription (the live ones and the stored queries) remembers
    // to drop the copies other relays send: ~70 bytes an id.
    std::size_t upstream_dedup_ids{1024};
    // Events kept for a project's next subscription (Gateway::hold_for_project).
    std::size_t held_per_project{16};
    std::chrono::seconds held_ttl{600};
    // A connection silent this long gets a websocket PING and is closed when no PONG follows
    // within pong_timeout. Longer than any pause of a project under the default policy
    // (lifecycle.idle_timeout 1h: at most 1h since the container last sent anything), so a
    // paused container keeps its connection; a longer pause loses it and the runtime
    // reconnects when thawed. (libwebsockets' own default is 300 s + 10 s.)
    std::chrono::seconds ping_after{3900};
    std::chrono::seconds pong_timeout{30};
};

// Counters, cumulative since start.
struct GatewayStats {
    std::size_t connections{0};            // authenticated, open now
    std::uint64_t refused_connections{0};  // wrong or missing secret
    std::uint64_t events_delivered{0};
    std::uint64_t events_hidden{0};    // upstream events the scope rule kept back
    std::uint64_t events_replayed{0};  // held events handed to a later subscription
    std::uint64_t writes_accepted{0};  // published, at least one relay accepted
    std::map<std::string, std::uint64_t> writes_refused{};  // by reason class (see below)
    // Deliveries from the relay pool's threads whose handling threw (logged, dropped; the
    // service thread went on): tenex_loop_failures{loop="gateway"}.
    std::uint64_t loop_failures{0};
};
// Reason classes of writes_refused: too_large, invalid, future, project_event, out_of_scope,
// foreign_key, reserved_key, rate_limited, relays_refused.

class Gateway {
  public:
    static Result<std::unique_ptr<Gateway>> start(GatewayOptions options, relay::RelayPool& pool);
    ~Gateway();  // stops
    Gateway(const Gateway&) = delete;
    Gateway& operator=(const Gateway&) = delete;

    // Registers (or updates) a project and makes its new secret: the old one stops working
    // and connections that used it are closed. Returns the secret (64 hex characters). Only
    // its SHA-256 is kept (in memory and in bindings_db), so a restarted gateway still accepts
    // the secret of a container that outlived the daemon.
    // `rate`: the project's write rate (events per second, burst); unset: the gateway's own
    // write_rate_per_s / write_burst.
    struct WriteRate {
        double per_second;
        double burst;
    };
    std::string open_project(ProjectKeys keys, std::optional<WriteRate> rate = std::nullopt);
    // Updates a project's keys without touching its secret (the daemon learns new agents).
    void update_project(ProjectKeys keys);
    // Revokes the project's secret and closes its connections; its keys stay known, so other
    // projects go on not seeing its events. Its activity count (below) goes too.
    void close_project(const std::string& address);
    // The daemon routed `event` to project `address` (a message that wakes it, typically).
    // When no connection of the project has a live subscription that matches it, the gateway
    // keeps it and hands it, once, to the project's next subscription that matches: after
    // that subscription's EOSE, as a live event, whatever its `limit`. So a runtime that
    // starts because of a message, and subscribes only for new events (`limit: 0`, as the
    // TENEX backend does), still receives the message that woke it. The scope rule applies
    // as to any event. Kept at most held_per_project events for held_ttl.
    void hold_for_project(const std::string& address, const nostr::Event& event);
    // Keys never bound to a project: the whitelist and the daemon's own key.
    void set_reserved_keys(std::set<std::string> keys);

    // One download on the gateway's listener, for the seed task of a node-local workspace on a
    // swarm (policies/SWARM.md, "Workspaces"): `GET <path>` serves `file` once, within `ttl`;
    // any other GET gets 404. Returns the path, "/seed/<64 hex>" (a new random token).
    std::string offer_file(std::filesystem::path file, std::chrono::seconds ttl);
    void withdraw_file(const std::string& path);  // not served any more (done or given up)

    std::uint16_t port() const;
    // ws://<host>:<port>/<secret>, with `host` as the container reaches the gateway.
    std::string url_for(const std::string& host, const std::string& secret) const;
    GatewayStats stats() const;
    std::map<std::string, std::string> bindings() const;  // pubkey -> project address
    // Per project address: how many events the project has published through the gateway
    // (past every check) that show it at work, cumulative since the gateway started. Every
    // kind counts except kActivityIgnoredKind, the TENEX runtime's project status, which it
    // publishes every 30 s whether it works or not. The daemon treats a change as activity
    // (the idle and pause timers start again), so an agent busy on a long task that no new
    // message started is not paused or stopped under it.
    std::map<std::string, std::uint64_t> activity() const;
    void stop();

  private:
    Gateway();
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tenex::gateway
