#include "project/loader.hpp"

#include <spdlog/spdlog.h>

#include "common/log.hpp"

#include <exception>
#include <future>

namespace tenex::project {

namespace {

// Grace beyond the fetch/publish timeout: the pool settles on its own timer; this only
// guards against a stopped pool leaving the future unanswered.
constexpr std::chrono::milliseconds kGrace{5000};

}  // namespace

FetchFn pool_fetch(relay::RelayPool& pool) {
    return [&pool](std::vector<nostr::Filter> filters,
                   std::chrono::milliseconds timeout) -> Result<std::vector<nostr::Event>> {
        try {
            auto future = pool.fetch(std::move(filters), timeout);
            if (future.wait_for(timeout + kGrace) != std::future_status::ready)
                return make_error("the relay pool did not settle the fetch");
            return future.get();
        } catch (const std::exception& e) {
            return make_error(std::string("relay pool: ") + e.what());
        }
    };
}

PublishFn pool_publish(relay::RelayPool& pool, std::chrono::milliseconds timeout) {
    return [&pool, timeout](const nostr::Event& event) -> Status {
        try {
            auto future = pool.publish(event, timeout);
            if (future.wait_for(timeout + kGrace) != std::future_status::ready)
                return make_error("the relay pool did not settle the publish");
            relay::PublishResult result = future.get();
            if (result.any_accepted()) return Unit{};
            std::string why;
            for (const auto& r : result.relays)
                why += (why.empty() ? "" : "; ") + r.relay + ": " + r.message;
            return make_error("no relay accepted it" +
                              (why.empty() ? std::string(" (no write relays)") : ": " + why));
        } catch (const std::exception& e) {
            return make_error(std::string("relay pool: ") + e.what());
        }
    };
}

ProjectLoader::ProjectLoader(relay::RelayPool& pool, WorkspaceManager& workspaces,
                             LoaderOptions options)
    : pool_(pool), workspaces_(workspaces), options_(options), fetch_(pool_fetch(pool)) {
    if (options_.publish_profiles)
        publisher_ = std::make_unique<ProfilePublisher>(
            pool_publish(pool_, options_.publish_timeout), options_.profiles_per_second);
}

ProjectLoader::~ProjectLoader() {
    if (publisher_) publisher_->stop();
}

std::vector<std::string> ProjectLoader::read_relays() const {
    std::vector<std::string> out;
    for (const auto& s : pool_.status())
        if (static_cast<unsigned>(s.mode) & static_cast<unsigned>(relay::RelayMode::read))
            out.push_back(s.url);
    return out;
}

Result<WorkspaceResult> ProjectLoader::load(const nostr::Address& address) {
    const std::string where = address.to_string();
    auto fetched = fetch_project(fetch_, address, options_.fetch_timeout, read_relays());
    if (!fetched) {
        spdlog::warn("project {}: not loaded: {}", where, fetched.error().message);
        return fetched.error();
    }
    auto ready = workspaces_.ensure(fetched->project, fetched->agents, fetched->tools);
    if (!ready) return make_error("project " + where + ": workspace: " + ready.error().message);
    spdlog::info("project {}: workspace {} ready from event {} ({} file(s) written)", where,
                 ready->path.string(), fetched->event_id, ready->layout.files_written.size());
    for (const auto& skipped : ready->layout.tools_skipped)
        spdlog::warn("project {}: MCP tool {} (left out of .tenex/mcp.json)", where,
                     log::printable(skipped, 300));

    if (publisher_) {
        auto profiles = read_agent_profiles(ready->path, fetched->project);
        if (!profiles) {
            spdlog::warn("project {}: agent profiles not published: {}", where,
                         profiles.error().message);
        } else {
            publisher_->submit(std::move(*profiles));
        }
    }
    return ready;
}

}  // namespace tenex::project
