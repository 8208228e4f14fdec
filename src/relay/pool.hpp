// RelayPool: the daemon's connections to Nostr relays, on one libwebsockets service thread.
//
// Every public method is thread-safe: it posts a command to the service thread and wakes it
// with lws_cancel_service(); nothing blocks or sleeps inside lws callbacks. Callbacks
// (on_event, on_eose) run ON the service thread: keep them short and post to your own queue.
// Signatures are checked on the service thread, or on `verify_threads` workers; either way
// the service thread parses, drops duplicates and delivers in the order the relay sent.
//
// What the pool guarantees to its users:
// - every delivered event has a verified id and signature and matches the subscription's
//   filters; invalid ones are counted per relay and dropped;
// - each subscription delivers an event id once, whichever relays send it (bounded memory),
//   and drops duplicates before verifying them;
// - per relay and subscription, events and EOSE are delivered in the order they arrived;
// - on reconnect a subscription resumes with since = max(newest seen, end of stored part)
//   - overlap, so events a relay received while we were away are not lost;
// - fetch() and publish() always settle: per relay on EOSE/CLOSED/OK, disconnect or timeout.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "nostr/event.hpp"
#include "nostr/filter.hpp"
#include "nostr/keys.hpp"
#include "relay/backoff.hpp"
#include "relay/settle.hpp"

namespace tenex::relay {

struct PoolOptions {
    // NIP-42: answers AUTH challenges with a kind 22242 event signed by this key. Without
    // it, auth-required refusals are reported as they are.
    std::optional<nostr::Keys> signer{};
    BackoffOptions backoff{};
    // A relay whose connection stayed up this long gets its backoff reset on the next drop.
    std::chrono::seconds stable_after{10};
    std::chrono::seconds resume_overlap{120};
    std::size_t max_message_bytes{1024 * 1024};  // larger messages are dropped and counted
    std::size_t dedup_capacity{100000};          // ids remembered per subscription
    // Keepalive (libwebsockets' retry policy): a websocket PING when no PONG came for
    // ping_after_idle_s; the connection is closed as dead (then reconnected with backoff) when
    // none came for dead_after_idle_s. 0 turns either off.
    std::uint16_t ping_after_idle_s{30};
    std::uint16_t dead_after_idle_s{75};
    std::uint16_t connect_timeout_s{10};
    std::string ca_file{};  // PEM bundle to trust instead of the system store (wss)
    // Workers for signature checks; 0 (default): on the service thread, the cheapest per event.
    // A worker pays off only with a core to spare (bench/results/relay_ingest.md).
    unsigned verify_threads{0};
    bool verify_events{true};  // only benchmarks turn this off
};

enum class RelayMode : unsigned { read = 1, write = 2, read_write = 3 };

struct RelayStatus {
    std::string url{};
    RelayMode mode{RelayMode::read_write};
    bool connected{false};
    std::optional<std::chrono::system_clock::time_point> last_message{};
    std::uint64_t connects{0};
    std::uint64_t reconnects{0};
    std::uint64_t events_received{0};  // EVENT messages, before dedup and verification
    std::uint64_t events_delivered{0};
    std::uint64_t invalid_events{0};      // bad JSON, bad id/signature, not matching, too big
    std::uint64_t oversized_messages{0};  // over max_message_bytes (also in invalid_events)
    std::uint64_t duplicates{0};
    std::uint64_t notices{0};
    std::string last_error{};  // last disconnect reason, CLOSED or NOTICE text (no secrets)
    bool authenticated{false};
};

struct DeliveredEvent {
    const std::string& relay;
    const std::string& sub_id;
    const nostr::Event& event;
};
using EventCallback = std::function<void(const DeliveredEvent&)>;
// Called once per relay when its stored events are done (EOSE), with the relay URL.
using EoseCallback = std::function<void(const std::string& relay, const std::string& sub_id)>;

class RelayPool {
  public:
    explicit RelayPool(PoolOptions options = {});
    ~RelayPool();  // stops the service thread and closes every connection
    RelayPool(const RelayPool&) = delete;
    RelayPool& operator=(const RelayPool&) = delete;

    // Adds a relay and starts connecting. Fails on a bad URL or a duplicate.
    Status add_relay(std::string_view url, RelayMode mode = RelayMode::read_write);
    // Closes the relay's connection and forgets it: its status disappears at once, pending
    // fetches and publishes settle for it ("relay removed"), and nothing it sent is delivered
    // afterwards. Fails when the URL is not in the pool. It may be added again later.
    Status remove_relay(std::string_view url);

    // Sends REQ to every read relay (and to relays added later); live after EOSE; resumes
    // after reconnects. A second subscribe with the same id replaces the first.
    // The id must be 1..64 bytes. dedup_capacity: ids remembered for this subscription
    // (0: PoolOptions::dedup_capacity); many small subscriptions (the gateway's) use less.
    Status subscribe(std::string id, std::vector<nostr::Filter> filters, EventCallback on_event,
                     EoseCallback on_eose = {}, std::size_t dedup_capacity = 0);
    void unsubscribe(const std::string& id);

    // One-shot query on every read relay that is connected or connecting.
    std::future<std::vector<nostr::Event>> fetch(std::vector<nostr::Filter> filters,
                                                 std::chrono::milliseconds timeout);
    // EVENT to every write relay; one RelayOk per write relay.
    std::future<PublishResult> publish(nostr::Event event, std::chrono::milliseconds timeout);

    std::vector<RelayStatus> status() const;
    // Waits until at least `count` relays are connected (or the timeout passes).
    bool wait_connected(std::size_t count, std::chrono::milliseconds timeout) const;

    void stop();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tenex::relay
