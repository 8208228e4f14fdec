// ProfilePublisher: one thread that publishes agents' kind 0 profiles, throttled to at most
// `per_second` across every project, and only when a profile changed since it was last
// published. What "last published" is: the digest remembered per agent pubkey, in memory and
// in the workspace's .tenex/profiles.json (so a daemon restart does not republish unchanged
// profiles). A profile that fails to publish is forgotten, so the next submit retries it.
// Profiles are signed on the publishing thread (fresh created_at); keys are never logged.
#pragma once

#include "common/result.hpp"
#include "common/watched.hpp"
#include "nostr/event.hpp"
#include "project/agent_profile.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace tenex::project {

// Publishes one signed event; success when at least one relay accepted it.
using PublishFn = std::function<Status(const nostr::Event& event)>;

class ProfilePublisher {
  public:
    ProfilePublisher(PublishFn publish, double per_second);
    ~ProfilePublisher();  // stop(): pending profiles are dropped (logged)
    ProfilePublisher(const ProfilePublisher&) = delete;
    ProfilePublisher& operator=(const ProfilePublisher&) = delete;

    // Queues the profiles that changed; returns how many were queued. A newer profile of an
    // agent still waiting in the queue replaces the waiting one.
    std::size_t submit(std::vector<AgentProfile> profiles);

    void stop();
    // Until the queue is empty and nothing is being published (tests, shutdown).
    bool wait_idle(std::chrono::milliseconds timeout);

    std::uint64_t published() const;
    std::uint64_t failed() const;
    std::size_t pending() const;

  private:
    using Clock = std::chrono::steady_clock;
    void run();
    // Signs, then publishes at once and sets next (the rate limit's next slot): the limit
    // spaces the publishes themselves, however long each signature took.
    void publish_one(const AgentProfile& profile, Clock::time_point& next);

    struct State {
        std::deque<AgentProfile> queue{};
        std::map<std::string, std::string> known{};  // pubkey -> digest queued or published
        bool busy{false};                            // the thread is publishing one
        bool stopping{false};
        std::uint64_t published{0};
        std::uint64_t failed{0};
    };

    PublishFn publish_;
    Clock::duration interval_;
    Watched<State> state_;  // the thread waits for work and its next slot, wait_idle for idle
    std::thread thread_;
};

}  // namespace tenex::project
