// Shutdown: stop accepting requests, then leave every container running for the next
// instance, or (stop_projects) stop them all in parallel, done by the longest stop timeout
// plus the margin plus shutdown_per_container for each container.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <optional>
#include <set>
#include <thread>

#include "sandbox/orchestrator_detail.hpp"

namespace tenex::sandbox {

using namespace detail;

namespace {

using Ms = std::chrono::milliseconds;

Ms left_until(Clock::time_point deadline) {
    return std::max(Ms(0), std::chrono::duration_cast<Ms>(deadline - Clock::now()));
}

}  // namespace

struct Orchestrator::StopTarget {
    std::string key{}, id{};
    int timeout_s = 0;
    std::optional<ProjectRef> network_of{};  // its own network goes with it (isolated, egress)
    bool paused = false;                     // thawed first, so that it stops gracefully
};

void Orchestrator::shutdown(bool stop_projects) {
    MutexLock guard(shutdown_mu_);
    if (shut_down_) return;
    shut_down_ = true;
    auto targets = shutdown_targets({});
    int longest = 0;
    for (const auto& t : targets) longest = std::max(longest, t.timeout_s);
    // Real time (not options_.clock): the deadline is the operator's.
    const auto deadline = Clock::now() + std::chrono::seconds(longest) + options_.shutdown_margin +
                          options_.shutdown_per_container * static_cast<int>(targets.size());
    if (stop_projects)
        stop_for_shutdown(targets, deadline);
    else
        spdlog::info("orchestrator: leaving {} project containers running", targets.size());
    workers_->stop();  // queued jobs dropped, running ones finish
    if (stop_projects) {
        // A start that was in flight (a restart after its backoff) has its container now.
        auto late = shutdown_targets(targets);
        const int seconds_left = static_cast<int>(left_until(deadline).count() / 1000);
        for (auto& t : late) t.timeout_s = std::clamp(seconds_left - 1, 0, t.timeout_s);
        stop_for_shutdown(late, std::max(deadline, Clock::now() + options_.shutdown_margin));
    }
    inbox_.close();  // the loop runs what is queued, then ends
    loop_.join();
    // Anything still waiting (messages dropped with the loop) gets an answer.
    for (auto& [key, e] : entries_) {
        fail_waiters(*e, "the orchestrator is shut down");
        for (auto& w : e->stop_waiters) w.set_value(make_error("the orchestrator is shut down"));
        e->stop_waiters.clear();
    }
}

// On the loop thread: stop taking requests (answering every waiter and emptying the start
// queue), then list the containers that run or are being stopped, except those in `known`.
std::vector<Orchestrator::StopTarget> Orchestrator::shutdown_targets(
    const std::vector<StopTarget>& known) {
    std::set<std::string> skip;
    for (const auto& t : known) skip.insert(t.id);
    auto collected = std::make_shared<std::promise<std::vector<StopTarget>>>();
    auto future = collected->get_future();
    if (!post([this, collected, skip] {
            closing_ = true;
            std::vector<StopTarget> targets;
            for (auto& [key, e] : entries_) {
                fail_waiters(*e, "the orchestrator is shutting down");
                for (auto& w : e->stop_waiters)
                    w.set_value(make_error("the orchestrator is shutting down"));
                e->stop_waiters.clear();
                // Kept (stopped) containers go too: a stopping shutdown leaves nothing behind.
                if (!e->container_id.empty() && !skip.count(e->container_id) &&
                    (e->state == ProjectState::running || e->state == ProjectState::stopping ||
                     e->state == ProjectState::paused ||
                     (e->state == ProjectState::stopped && e->kept))) {
                    const bool own_network =
                        e->policy && (e->policy->network.mode == NetworkMode::isolated ||
                                      e->policy->network.mode == NetworkMode::egress);
                    targets.push_back(
                        {key, e->container_id, e->policy ? stop_seconds(*e->policy) : 30,
                         own_network ? std::optional<ProjectRef>(e->ref) : std::nullopt,
                         e->state == ProjectState::paused});
                }
            }
            while (start_queue_.pop()) {
            }
            collected->set_value(std::move(targets));
        }))
        return {};
    if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready) return {};
    return future.get();
}

// Every container at once, each with its stop timeout; an Engine call still going at the
// deadline is given up (the engine may still finish that stop) and reported.
void Orchestrator::stop_for_shutdown(const std::vector<StopTarget>& targets,
                                     Clock::time_point deadline) {
    if (targets.empty()) return;
    spdlog::info("orchestrator: stopping {} project containers (done within {} ms)", targets.size(),
                 left_until(deadline).count());
    std::atomic<int> failed{0};
    std::vector<std::thread> stops;
    stops.reserve(targets.size());
    for (const auto& t : targets)
        stops.emplace_back([this, &failed, t, deadline] {
            if (t.paused) (void)engine_.unpause(t.id);
            auto r =
                engine_.stop_and_remove(t.id, t.timeout_s, std::max(left_until(deadline), Ms(1)));
            if (r) {
                if (t.network_of) teardown_network(*t.network_of);  // with forwarders and rules
                return;
            }
            ++failed;
            spdlog::warn("orchestrator: {}: stop at shutdown: {}", t.key, r.error().describe());
        });
    for (auto& s : stops) s.join();
    if (failed > 0)
        spdlog::warn("orchestrator: {} of {} containers not confirmed stopped and removed",
                     failed.load(), targets.size());
}

}  // namespace tenex::sandbox
