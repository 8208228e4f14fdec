// Shutdown: stop accepting requests, then leave every container running for the next
// instance, or (stop_projects) stop them all in parallel.
#include <spdlog/spdlog.h>

#include <future>

#include "sandbox/orchestrator_detail.hpp"

namespace tenex::sandbox {

using namespace detail;

void Orchestrator::shutdown(bool stop_projects) {
    std::lock_guard guard(shutdown_mu_);
    if (shut_down_) return;
    shut_down_ = true;
    // Collect what runs (and stop starting anything new) on the loop thread.
    struct Victim {
        std::string key, id;
        int timeout_s = 0;
    };
    auto collected = std::make_shared<std::promise<std::vector<Victim>>>();
    auto victims_future = collected->get_future();
    post([this, collected] {
        closing_ = true;
        std::vector<Victim> victims;
        for (auto& [key, e] : entries_) {
            fail_waiters(*e, "the orchestrator is shutting down");
            for (auto& w : e->stop_waiters)
                w.set_value(make_error("the orchestrator is shutting down"));
            e->stop_waiters.clear();
            if (!e->container_id.empty() &&
                (e->state == ProjectState::running || e->state == ProjectState::stopping))
                victims.push_back(
                    {key, e->container_id, e->policy ? stop_seconds(*e->policy) : 30});
        }
        while (start_queue_.pop()) {
        }
        collected->set_value(std::move(victims));
    });
    std::vector<Victim> victims;
    if (victims_future.wait_for(std::chrono::seconds(30)) == std::future_status::ready)
        victims = victims_future.get();
    if (stop_projects) {
        spdlog::info("orchestrator: stopping {} project containers", victims.size());
        std::vector<std::future<void>> stops;
        for (const auto& v : victims)
            stops.push_back(std::async(std::launch::async, [this, v] {
                auto r = engine_.stop(v.id, v.timeout_s);
                if (r) r = engine_.remove(v.id, true);
                if (!r)
                    spdlog::warn("orchestrator: {}: stop at shutdown: {}", v.key,
                                 r.error().describe());
            }));
        for (auto& s : stops) s.wait();
    } else {
        spdlog::info("orchestrator: leaving {} project containers running", victims.size());
    }
    {
        std::lock_guard lock(jobs_mu_);
        jobs_stop_ = true;
        jobs_.clear();
    }
    jobs_cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
    {
        std::lock_guard lock(inbox_mu_);
        loop_stop_ = true;
    }
    inbox_cv_.notify_all();
    loop_.join();
    // Anything still waiting (messages dropped with the loop) gets an answer.
    for (auto& [key, e] : entries_) {
        fail_waiters(*e, "the orchestrator is shut down");
        for (auto& w : e->stop_waiters) w.set_value(make_error("the orchestrator is shut down"));
        e->stop_waiters.clear();
    }
}

}  // namespace tenex::sandbox
