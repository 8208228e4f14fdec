// Internals of RelayPool, shared by its source files: pool.cpp (the public methods and the
// service thread), pool_connection.cpp (libwebsockets connections, flow control)
// and pool_incoming.cpp (relay messages, the event pipeline, NIP-42). Everything below the
// thread plumbing belongs to the service thread; only `commands` and `status` are shared.
#pragma once

#include <libwebsockets.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/inbox.hpp"
#include "common/watched.hpp"
#include "relay/cursor.hpp"
#include "relay/dedup.hpp"
#include "relay/message.hpp"
#include "relay/pool.hpp"
#include "relay/url.hpp"
#include "relay/verify_queue.hpp"

namespace tenex::relay {

using PoolClock = std::chrono::steady_clock;

inline bool has_mode(RelayMode m, RelayMode bit) {
    return (static_cast<unsigned>(m) & static_cast<unsigned>(bit)) != 0;
}

std::int64_t unix_now();

struct RelayPool::Impl {
    enum class ConnState { idle, connecting, open, waiting };

    struct Conn {
        RelayUrl url{};
        RelayMode mode{RelayMode::read_write};
        ConnState state{ConnState::idle};
        lws* wsi{nullptr};
        std::deque<std::string> out{};
        std::string rx{};  // a message arriving in several fragments
        bool rx_overflow{false};
        bool close_requested{false};
        std::string tls_error{};  // why OpenSSL refused the relay's certificate, if it did
        Backoff backoff;
        PoolClock::time_point next_attempt{};
        PoolClock::time_point opened_at{};
        PoolClock::time_point last_rx{};  // anything at all: fragment or PONG
        // NIP-42
        std::string challenge{};
        std::string auth_event_id{};
        bool authenticated{false};
        int auth_attempts{0};
        std::vector<std::function<void()>> after_auth{};
        // Stats, mirrored into `status` by publish_status() / flush_status().
        RelayStatus st{};
        bool dirty{false};
        explicit Conn(const BackoffOptions& b) : backoff(b) {}
    };

    // Ids of a subscription's (or fetch's) events waiting for verification, with the number
    // of copies: a second copy arriving meanwhile is not verified unless the first fails.
    using InFlight = std::unordered_map<std::string, unsigned>;

    struct Sub {
        std::uint64_t generation{0};  // a replaced subscription gets a new one
        std::vector<nostr::Filter> filters{};
        EventCallback on_event{};
        EoseCallback on_eose{};
        IdDedup dedup;
        InFlight in_flight{};
        std::map<std::string, ResumeCursor> cursors{};  // by relay URL
        explicit Sub(std::size_t cap) : dedup(cap) {}
    };

    struct Fetch {
        std::vector<nostr::Filter> filters{};
        FetchState state;
        InFlight in_flight{};
        PoolClock::time_point deadline{};
        std::promise<std::vector<nostr::Event>> promise{};
        explicit Fetch(std::vector<std::string> relays) : state(std::move(relays)) {}
    };

    struct Publish {
        nostr::Event event{};
        std::string message{};
        PublishState state;
        PoolClock::time_point deadline{};
        std::promise<PublishResult> promise{};
        std::map<std::string, int> retries{};  // relay -> resends done (auth / rate limit)
        Publish(std::string id, std::vector<std::string> relays)
            : state(std::move(id), std::move(relays)) {}
    };

    struct Tick {
        lws_sorted_usec_list_t sul;  // first member: the callback casts back
        Impl* impl;
    };

    struct Delayed {
        PoolClock::time_point at;
        std::function<void()> fn;
    };

    // Reading pauses while this many events wait for verification, and resumes below the
    // second number: memory stays bounded however fast relays send.
    static constexpr std::size_t kPauseAt = 4096;
    static constexpr std::size_t kResumeAt = 1024;

    PoolOptions opt;
    lws_context* ctx{nullptr};
    lws_protocols protocols[2]{};
    lws_retry_bo_t retry{};
    std::thread thread;
    std::atomic<bool> stopping{false};
    // Work posted for the service thread (woken with lws_cancel_service), closed when the
    // thread ends: post() refuses from then on.
    Inbox<std::function<void()>> commands{"relay pool"};
    Tick tick{};

    // Service-thread state.
    std::map<std::string, std::unique_ptr<Conn>> conns;  // by normalized URL
    std::map<std::string, std::unique_ptr<Sub>> subs;
    std::map<std::string, std::unique_ptr<Fetch>> fetches;
    std::map<std::string, std::unique_ptr<Publish>> publishes;  // by event id
    std::vector<Delayed> delayed;
    std::vector<Conn*> dirty;  // conns whose stats changed since the last flush_status()
    std::uint64_t next_fetch{0};
    std::uint64_t next_generation{0};
    std::unique_ptr<VerifyQueue> verifier;
    bool rx_paused{false};

    Watched<std::map<std::string, RelayStatus>> status;  // by normalized URL

    explicit Impl(PoolOptions o) : opt(std::move(o)) {}

    // pool.cpp: thread plumbing, status, completion, timers.
    bool start();
    void run();
    // False once the service thread has ended (fn is dropped): the caller settles at once.
    bool post(std::function<void()> fn);
    void drain_commands();
    void stop();
    void publish_status(Conn& c);
    void mark(Conn& c);
    void flush_status();
    void pump();
    void finish_done();
    void on_tick_inner();
    static void on_tick(lws_sorted_usec_list_t* sul);

    // pool_connection.cpp: connections.
    void connect(Conn& c);
    void send(Conn& c, std::string msg);
    void on_open(Conn& c);
    void send_req(Conn& c, const std::string& id, Sub& s);
    void on_disconnected(Conn& c, const std::string& why);
    void remove(const std::string& url);
    std::string close_reason(const Conn& c, int lws_reason) const;
    void flow_control();
    static int lws_cb(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len);
    int on_receive(Conn& c, lws* wsi, void* in, size_t len);
    int on_writable(Conn& c, lws* wsi);

    // pool_incoming.cpp: relay messages.
    void on_message(Conn& c, std::string_view text);
    void handle(Conn& c, EventMsg& m);
    void handle(Conn& c, OkMsg& m);
    void handle(Conn& c, EoseMsg& m);
    void handle(Conn& c, ClosedMsg& m);
    void handle(Conn& c, NoticeMsg& m);
    void handle(Conn& c, AuthMsg& m);
    void queue_sub_event(Conn& c, const std::string& sub_id, Sub& s, nostr::Event e);
    void queue_fetch_event(Conn& c, const std::string& fetch_id, Fetch& f, nostr::Event e);
    void finish_sub_event(const std::string& url, const std::string& sub_id,
                          std::uint64_t generation, bool first, VerifyQueue::Entry& entry);
    void finish_fetch_event(const std::string& url, const std::string& fetch_id, bool first,
                            VerifyQueue::Entry& entry);
    // Runs fn on the service thread once every event queued before it is done.
    void after_queued(std::function<void()> fn);
    bool can_auth(const Conn& c) const;
    void send_auth(Conn& c);
    void run_after_auth(Conn& c, std::function<void()> fn);
};

}  // namespace tenex::relay
