// Per-project resource usage: one-shot stats of every running container, kept for snapshot().
#include <future>

#include "sandbox/orchestrator_detail.hpp"

namespace tenex::sandbox {

using namespace detail;

std::future<Status> Orchestrator::refresh_usage() {
    auto done = std::make_shared<std::promise<Status>>();
    auto future = done->get_future();
    bool posted = post([this, done] {
        std::vector<std::pair<std::string, std::string>> running;  // key, container id
        for (auto& [key, e] : entries_)
            if (e->state == ProjectState::running) running.emplace_back(key, e->container_id);
        submit([this, done, running] {
            std::vector<std::future<docker::DResult<docker::ContainerStats>>> stats;
            for (const auto& r : running)
                stats.push_back(std::async(std::launch::async,
                                           [this, id = r.second] { return engine_.stats(id); }));
            std::vector<std::pair<std::size_t, ProjectUsage>> got;
            std::string errors;
            for (std::size_t i = 0; i < stats.size(); ++i) {
                auto s = stats[i].get();
                if (!s) {
                    errors += (errors.empty() ? "" : "; ") + s.error().describe();
                    continue;
                }
                got.emplace_back(i, ProjectUsage{.cpu_percent = s->cpu_percent,
                                                 .memory_used = s->memory_usage,
                                                 .memory_limit = s->memory_limit,
                                                 .pids = s->pids,
                                                 .sampled_at_unix = unix_ms_now() / 1000,
                                                 .cpu_seconds = s->cpu_seconds,
                                                 .container_id = running[i].second});
            }
            post([this, done, running, got, errors] {
                for (const auto& [i, usage] : got) {
                    auto it = entries_.find(running[i].first);
                    if (it != entries_.end() && it->second->container_id == running[i].second)
                        it->second->usage = usage;
                }
                if (errors.empty())
                    done->set_value(Unit{});
                else
                    done->set_value(make_error("stats: " + errors));
            });
        });
    });
    if (!posted) done->set_value(make_error("the orchestrator is shut down"));
    return future;
}

}  // namespace tenex::sandbox
