// EmbeddedRelay: a small NIP-01 relay on the libwebsockets server, for local mode and tests.
// EVENT (id + signature checked, OK reply), REQ (stored events newest first, EOSE, then live
// events), CLOSE; replaceable/addressable semantics; ephemeral kinds broadcast, never stored.
// Events are kept in a SQLite file (memory holds an index) or, without one, in memory; either
// way within the store's quotas (store.hpp). Runs its own service thread; start() returns once
// it listens. A slow client whose queue passes max_queue_bytes is disconnected.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.hpp"
#include "relay/store.hpp"

namespace tenex::relay {

struct RelayServerOptions {
    std::string host{"127.0.0.1"};  // loopback by default
    std::uint16_t port{7777};       // 0: pick a free port (see EmbeddedRelay::port)
    std::string db_path{};          // empty: memory only
    StoreLimits store_limits{};     // quotas: one event, per author, in total, events
    std::size_t max_message_bytes{512 * 1024};
    std::size_t max_subscriptions{200};  // per connection
    std::size_t max_filters{20};         // per REQ
    std::size_t max_limit{500};          // stored events per filter
    // Stored events one REQ returns, their JSON summed: past it the older matches are left
    // out (the client pages with `until`). Below max_queue_bytes, so a REQ alone never gets
    // its client disconnected.
    std::size_t max_query_bytes{16 * 1024 * 1024};
    std::int64_t max_future_s{900};  // created_at further ahead is refused
    std::size_t max_queue_bytes{32 * 1024 * 1024};
};

struct RelayServerStats {
    std::size_t connections{0};
    std::size_t stored_events{0};
    std::size_t stored_bytes{0};  // their JSON
    std::uint64_t events_accepted{0};
    std::uint64_t events_rejected{0};  // invalid, or refused by the store (quota, error)
};

class EmbeddedRelay {
  public:
    static Result<std::unique_ptr<EmbeddedRelay>> start(RelayServerOptions options);
    ~EmbeddedRelay();  // stops
    EmbeddedRelay(const EmbeddedRelay&) = delete;
    EmbeddedRelay& operator=(const EmbeddedRelay&) = delete;

    std::uint16_t port() const;
    std::string url() const;  // ws://host:port
    RelayServerStats stats() const;
    void stop();

  private:
    EmbeddedRelay();
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tenex::relay
