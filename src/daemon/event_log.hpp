// The daemon's lifecycle events for operators and scripts (`tenex-sandbox events`, GET /events):
// a bounded in-memory ring (the newest kEventLogCapacity), numbered from 1 since the daemon
// started, with waiting for new ones. Thread-safe.
//
// Types:
//   adopted            a running container found at start-up (a previous daemon started it)
//   started            the project's container is running (a trigger or an operator restart)
//   paused, resumed    frozen for being idle (lifecycle.pause_after); thawed by a trigger
//   restarted          running again in a new container (automatic restart or operator restart)
//   stopped            no longer running and not restarting (idle, operator stop, clean exit);
//                      exit code and reason when known
//   crashed            exited and is backing off before an automatic restart
//   oom                the container was killed by the OOM killer (besides crashed/stopped)
//   crash-looping      too many crashes in the window: not restarted until a trigger
//   failed             the project cannot be started (the orchestrator gave up)
//   start-failed       a trigger's start did not reach running (workspace, policy, engine)
//   refused            a trigger was refused before any start (e.g. a bad project address)
//   workspace-lost     swarm, node-local workspaces: the node holding the project's workspace
//                      left the swarm or was down too long; the project is laid out anew from
//                      the daemon's copy (the reason says which node and what is lost)
//   stop-requested, restart-requested, forget-requested   an operator asked through the API
//   exec               an operator ran a process in the sandbox (argv[0] and user; never args)
// States are sampled every daemon tick (2 s) and when a start finishes, so a change shorter
// than that may show as one event (e.g. a quick crash and restart as `restarted`).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "common/watched.hpp"
#include "sandbox/orchestrator_types.hpp"

namespace tenex::daemon {

inline constexpr std::size_t kEventLogCapacity = 1000;

struct LifecycleEvent {
    std::uint64_t seq{0};     // 1, 2, ... since the daemon started
    std::int64_t at_ms{0};    // unix milliseconds
    std::string type{};       // see above
    std::string project{};    // "31933:<owner>:<d>"
    std::string container{};  // first 12 characters of the id; "" when none
    std::optional<int> exit_code{};
    std::string reason{};  // one line; "" when none
};

// {"seq","time" (RFC 3339 UTC, ms),"type","project","container","exit_code" (int|null),"reason"}
nlohmann::json to_json(const LifecycleEvent& e);
Result<LifecycleEvent> lifecycle_event_from_json(const nlohmann::json& j);
// One line, no newline:
//   <time> <type> <project>[ container=<id12>][ exit=<code>][ reason=<text to end of line>]
// Control characters in the reason are replaced by spaces.
std::string to_line(const LifecycleEvent& e);

class EventLog {
  public:
    explicit EventLog(std::size_t capacity = kEventLogCapacity) : capacity_(capacity) {}

    // Numbers and stamps it (at_ms 0: now) and wakes waiters.
    void record(LifecycleEvent e);
    // What changed between two samples of one project (prev: nullopt when first seen), as
    // events. Recorded; also returned (tests).
    std::vector<LifecycleEvent> observe(const std::optional<sandbox::ProjectStatus>& prev,
                                        const sandbox::ProjectStatus& cur);

    // The events newer than seq, oldest first.
    std::vector<LifecycleEvent> after(std::uint64_t seq) const;
    // The newest n (all: n < 0), oldest first.
    std::vector<LifecycleEvent> last(int n) const;
    // Waits until an event newer than seq exists, stop is requested or timeout passes; then
    // returns after(seq) (maybe empty).
    std::vector<LifecycleEvent> wait_after(std::uint64_t seq, std::stop_token stop,
                                           std::chrono::milliseconds timeout) const;
    std::uint64_t last_seq() const;
    // Called with each event once it is recorded, on the recording thread and without the
    // log's lock (the daemon tells some of them on Nostr). Set before the first record().
    void set_listener(std::function<void(const LifecycleEvent&)> listener) {
        listener_ = std::move(listener);
    }

  private:
    struct Ring {
        std::deque<LifecycleEvent> events{};  // the newest capacity_, oldest first
        std::uint64_t seq{0};                 // the last one's
    };
    const std::size_t capacity_;
    Watched<Ring> ring_{};
    std::function<void(const LifecycleEvent&)> listener_{};
};

}  // namespace tenex::daemon
