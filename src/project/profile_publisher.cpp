#include "project/profile_publisher.hpp"

#include "nostr/keys.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

namespace tenex::project {
namespace {

bool known_as(const std::map<std::string, std::string>& known, const std::string& pubkey,
              const std::string& digest) {
    auto it = known.find(pubkey);
    return it != known.end() && it->second == digest;
}

// Forgets the digest remembered for p's agent, unless a newer profile replaced it.
void forget(std::map<std::string, std::string>& known, const AgentProfile& p) {
    if (auto it = known.find(p.pubkey()); it != known.end() && it->second == p.digest)
        known.erase(it);
}

enum class Submitted { stopping, unchanged, changed };

}  // namespace

ProfilePublisher::ProfilePublisher(PublishFn publish, double per_second)
    : publish_(std::move(publish)) {
    if (!(per_second > 0)) per_second = 2;  // the documented default; never "unthrottled"
    interval_ = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(1.0 / per_second));
    thread_ = std::thread([this] { run(); });
}

ProfilePublisher::~ProfilePublisher() {
    stop();
}

void ProfilePublisher::stop() {
    const bool stopped_already = state_.update([this](State& s) {
        const bool already = s.stopping && !thread_.joinable();
        s.stopping = true;
        return already;
    });
    if (stopped_already) return;
    if (thread_.joinable()) thread_.join();
    state_.update([](State& s) {
        for (const auto& p : s.queue) {
            spdlog::info("project {}: profile of agent {} ({}) not published: shutting down",
                         p.project_address, p.slug, p.pubkey());
            forget(s.known, p);
        }
        s.queue.clear();
    });
}

std::size_t ProfilePublisher::submit(std::vector<AgentProfile> profiles) {
    std::size_t queued = 0;
    for (auto& p : profiles) {
        const std::string pubkey = p.pubkey();
        const Submitted known = state_.read([&](const State& s) {
            if (s.stopping) return Submitted::stopping;
            return known_as(s.known, pubkey, p.digest) ? Submitted::unchanged : Submitted::changed;
        });
        if (known == Submitted::stopping) return queued;
        if (known == Submitted::unchanged) continue;
        // Not known in memory: the workspace may remember it from before a restart.
        if (auto persisted = read_published_digests(p.workspace); persisted) {
            if (auto it = persisted->find(pubkey);
                it != persisted->end() && it->second == p.digest) {
                state_.update([&](State& s) { s.known.emplace(pubkey, p.digest); });
                continue;
            }
        } else {
            spdlog::warn("project {}: {}", p.project_address, persisted.error().message);
        }
        const Submitted outcome = state_.update([&](State& s) {
            if (s.stopping) return Submitted::stopping;
            if (known_as(s.known, pubkey, p.digest)) return Submitted::unchanged;  // raced
            s.known[pubkey] = p.digest;
            auto waiting = std::find_if(s.queue.begin(), s.queue.end(), [&](const AgentProfile& q) {
                return q.pubkey() == pubkey;
            });
            spdlog::info("project {}: profile of agent {} ({}) changed, queued", p.project_address,
                         p.slug, pubkey);
            if (waiting != s.queue.end()) {
                *waiting = std::move(p);
            } else {
                s.queue.push_back(std::move(p));
            }
            return Submitted::changed;
        });
        if (outcome == Submitted::stopping) return queued;
        if (outcome == Submitted::changed) ++queued;
    }
    return queued;
}

void ProfilePublisher::run() {
    const auto stopping = [](const State& s) { return s.stopping; };
    Clock::time_point next = Clock::now();
    while (true) {
        state_.wait([](const State& s) { return s.stopping || !s.queue.empty(); });
        if (state_.read(stopping)) return;
        // The rate limit: the next profile waits for its slot.
        if (Clock::now() < next && state_.wait_until(next, stopping)) return;
        std::optional<AgentProfile> p = state_.update([](State& s) -> std::optional<AgentProfile> {
            if (s.stopping || s.queue.empty()) return std::nullopt;  // stopping: ends above
            AgentProfile front = std::move(s.queue.front());
            s.queue.pop_front();
            s.busy = true;
            return front;
        });
        if (!p) continue;
        try {
            publish_one(*p, next);
        } catch (const std::exception& e) {
            spdlog::error("project {}: publishing the profile of agent {} threw: {}",
                          p->project_address, p->slug, e.what());
            state_.update([&](State& s) {
                ++s.failed;
                forget(s.known, *p);
            });
        }
        state_.update([](State& s) { s.busy = false; });  // wakes wait_idle
    }
}

void ProfilePublisher::publish_one(const AgentProfile& p, Clock::time_point& next) {
    const std::string pubkey = p.pubkey();
    auto signed_event = nostr::sign_event(p.event, p.keys);
    if (signed_event) next = Clock::now() + interval_;
    Status sent = signed_event ? publish_(*signed_event) : Status(signed_event.error());
    if (!sent) {
        spdlog::warn("project {}: profile of agent {} ({}) not published: {}", p.project_address,
                     p.slug, pubkey, sent.error().message);
        // Forget it so the next load queues it again (unless a newer one is already queued).
        state_.update([&](State& s) {
            ++s.failed;
            forget(s.known, p);
        });
        return;
    }
    spdlog::info("project {}: published profile of agent {} ({}) as event {}", p.project_address,
                 p.slug, pubkey, signed_event->id);
    if (auto st = write_published_digest(p.workspace, pubkey, p.digest); !st)
        spdlog::warn("project {}: cannot remember the profile digest of agent {}: {}",
                     p.project_address, p.slug, st.error().message);
    state_.update([](State& s) { ++s.published; });
}

bool ProfilePublisher::wait_idle(std::chrono::milliseconds timeout) {
    return state_.wait_for(timeout, [](const State& s) { return s.queue.empty() && !s.busy; });
}

std::uint64_t ProfilePublisher::published() const {
    return state_.read([](const State& s) { return s.published; });
}
std::uint64_t ProfilePublisher::failed() const {
    return state_.read([](const State& s) { return s.failed; });
}
std::size_t ProfilePublisher::pending() const {
    return state_.read([](const State& s) { return s.queue.size() + (s.busy ? 1 : 0); });
}

}  // namespace tenex::project
