// Per-project resource usage: one-shot stats of every running or paused container, kept for
// snapshot().
#include <algorithm>
#include <atomic>
#include <future>
#include <optional>
#include <thread>

#include "sandbox/orchestrator_detail.hpp"

namespace tenex::sandbox {

using namespace detail;

namespace {
constexpr std::size_t kStatsThreads = 8;
}  // namespace

std::future<Status> Orchestrator::refresh_usage() {
    auto done = std::make_shared<std::promise<Status>>();
    auto future = done->get_future();
    bool posted = post([this, done] {
        std::vector<std::pair<std::string, std::string>> running;  // key, container id
        for (auto& [key, e] : entries_)
            if (e->state == ProjectState::running || e->state == ProjectState::paused)
                running.emplace_back(key, e->container_id);  // a paused one still holds its memory
        submit([this, done, running] {
            // A one-shot stats call waits for the engine's next collection (about 1 s), so
            // they run side by side, but on at most kStatsThreads threads: with hundreds of
            // projects a thread each cost the daemon memory (an allocator arena per thread)
            // and CPU every sample.
            std::vector<std::optional<docker::DResult<docker::ContainerStats>>> stats(
                running.size());
            std::atomic<std::size_t> next{0};
            auto drain = [&] {
                for (std::size_t i; (i = next.fetch_add(1)) < running.size();)
                    stats[i] = engine_.stats(running[i].second);
            };
            std::vector<std::thread> threads;
            for (std::size_t t = 1; t < std::min(running.size(), kStatsThreads); ++t)
                threads.emplace_back(drain);
            drain();
            for (auto& t : threads) t.join();
            std::vector<std::pair<std::size_t, ProjectUsage>> got;
            std::string errors;
            for (std::size_t i = 0; i < stats.size(); ++i) {
                auto& s = *stats[i];
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
