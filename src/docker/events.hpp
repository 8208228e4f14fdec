// The /events stream: typed events delivered to callbacks from a reader thread that
// reconnects with backoff when the engine goes away and reports the gap it could not see.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "docker/client.hpp"

namespace tenex::docker {

enum class EventKind { Start, Die, Oom, Destroy, Create, Stop, Kill, Health, Other };

struct Event {
    std::string type{};    // "container", "network", "volume", "image", ...
    std::string action{};  // "start", "die", "oom", "destroy", "health_status: healthy", ...
    EventKind kind = EventKind::Other;
    std::string id{};  // the actor: container id, network id, volume name...
    std::map<std::string, std::string> attributes{};  // labels, name, image, exitCode...
    std::optional<int> exit_code{};                   // die events
    std::int64_t time_nano = 0;                       // engine clock, unix nanoseconds

    std::string attribute(const std::string& key) const {
        auto it = attributes.find(key);
        return it == attributes.end() ? std::string() : it->second;
    }
};

// One JSON line of the stream; an error for anything that is not an event.
Result<Event> parse_event(std::string_view line);

// Events between since and until (unix seconds, inclusive) may have been missed: list the
// containers to reconcile.
struct EventGap {
    std::int64_t since = 0;
    std::int64_t until = 0;
};

struct EventFilter {
    std::vector<std::string> types{"container"};
    std::vector<std::string> labels{};   // "key" or "key=value"
    std::vector<std::string> actions{};  // e.g. {"start", "die", "oom", "destroy"}; empty: all
};
std::string events_query(const EventFilter& filter);  // "?filters=..."

struct EventHandlers {
    std::function<void(const Event&)> on_event{};
    std::function<void()> on_connected{};                // the first successful connection
    std::function<void(const EventGap&)> on_gap{};       // after each reconnection
    std::function<void(const DockerError&)> on_error{};  // each failed attempt or lost stream
};

struct EventStreamOptions {
    EventFilter filter{};
    // Unix seconds: the first connection replays what the engine still holds from then on
    // (e.g. the last event a restarted daemon saw). 0: from now.
    std::int64_t since = 0;
    std::chrono::milliseconds initial_backoff{200};
    std::chrono::milliseconds max_backoff{5000};
};

// Reads /events on its own thread; callbacks run on that thread. The client must outlive
// the stream. stop() (or the destructor) returns within ~100 ms.
class EventStream {
  public:
    EventStream(const Client& client, EventStreamOptions options, EventHandlers handlers);
    ~EventStream();
    EventStream(const EventStream&) = delete;
    EventStream& operator=(const EventStream&) = delete;

    void start();
    void stop();
    bool connected() const { return connected_.load(); }
    int reconnects() const { return reconnects_.load(); }

  private:
    void run(std::stop_token stop);
    const Client& client_;
    EventStreamOptions options_;
    EventHandlers handlers_;
    std::atomic<bool> connected_{false};
    std::atomic<int> reconnects_{0};
    std::jthread thread_;
};

}  // namespace tenex::docker
