#include "project/profile_publisher.hpp"

#include "nostr/keys.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace tenex::project {

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
    {
        std::lock_guard lock(mu_);
        if (stopping_ && !thread_.joinable()) return;
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mu_);
    for (const auto& p : queue_) {
        spdlog::info("project {}: profile of agent {} ({}) not published: shutting down",
                     p.project_address, p.slug, p.pubkey());
        if (auto it = known_.find(p.pubkey()); it != known_.end() && it->second == p.digest)
            known_.erase(it);
    }
    queue_.clear();
    idle_cv_.notify_all();
}

std::size_t ProfilePublisher::submit(std::vector<AgentProfile> profiles) {
    std::size_t queued = 0;
    for (auto& p : profiles) {
        const std::string pubkey = p.pubkey();
        {
            std::lock_guard lock(mu_);
            if (stopping_) return queued;
            if (auto it = known_.find(pubkey); it != known_.end() && it->second == p.digest)
                continue;
        }
        // Not known in memory: the workspace may remember it from before a restart.
        if (auto persisted = read_published_digests(p.workspace); persisted) {
            if (auto it = persisted->find(pubkey);
                it != persisted->end() && it->second == p.digest) {
                std::lock_guard lock(mu_);
                known_.emplace(pubkey, p.digest);
                continue;
            }
        } else {
            spdlog::warn("project {}: {}", p.project_address, persisted.error().message);
        }
        std::lock_guard lock(mu_);
        if (stopping_) return queued;
        if (auto it = known_.find(pubkey); it != known_.end() && it->second == p.digest)
            continue;  // raced
        known_[pubkey] = p.digest;
        auto waiting = std::find_if(queue_.begin(), queue_.end(),
                                    [&](const AgentProfile& q) { return q.pubkey() == pubkey; });
        spdlog::info("project {}: profile of agent {} ({}) changed, queued", p.project_address,
                     p.slug, pubkey);
        if (waiting != queue_.end()) {
            *waiting = std::move(p);
        } else {
            queue_.push_back(std::move(p));
        }
        ++queued;
    }
    if (queued) cv_.notify_all();
    return queued;
}

void ProfilePublisher::run() {
    Clock::time_point next = Clock::now();
    std::unique_lock lock(mu_);
    while (true) {
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        if (Clock::now() < next) {
            cv_.wait_until(lock, next, [&] { return stopping_; });
            if (stopping_) return;
        }
        AgentProfile p = std::move(queue_.front());
        queue_.pop_front();
        busy_ = true;
        next = Clock::now() + interval_;
        lock.unlock();
        try {
            publish_one(p);
        } catch (const std::exception& e) {
            spdlog::error("project {}: publishing the profile of agent {} threw: {}",
                          p.project_address, p.slug, e.what());
            std::lock_guard relock(mu_);
            ++failed_;
            if (auto it = known_.find(p.pubkey()); it != known_.end() && it->second == p.digest)
                known_.erase(it);
        }
        lock.lock();
        busy_ = false;
        if (queue_.empty()) idle_cv_.notify_all();
    }
}

void ProfilePublisher::publish_one(const AgentProfile& p) {
    const std::string pubkey = p.pubkey();
    auto signed_event = nostr::sign_event(p.event, p.keys);
    Status sent = signed_event ? publish_(*signed_event) : Status(signed_event.error());
    if (!sent) {
        spdlog::warn("project {}: profile of agent {} ({}) not published: {}", p.project_address,
                     p.slug, pubkey, sent.error().message);
        std::lock_guard lock(mu_);
        ++failed_;
        // Forget it so the next load queues it again (unless a newer one is already queued).
        if (auto it = known_.find(pubkey); it != known_.end() && it->second == p.digest)
            known_.erase(it);
        return;
    }
    spdlog::info("project {}: published profile of agent {} ({}) as event {}", p.project_address,
                 p.slug, pubkey, signed_event->id);
    if (auto st = write_published_digest(p.workspace, pubkey, p.digest); !st)
        spdlog::warn("project {}: cannot remember the profile digest of agent {}: {}",
                     p.project_address, p.slug, st.error().message);
    std::lock_guard lock(mu_);
    ++published_;
}

bool ProfilePublisher::wait_idle(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return idle_cv_.wait_for(lock, timeout, [&] { return queue_.empty() && !busy_; });
}

std::uint64_t ProfilePublisher::published() const {
    std::lock_guard lock(mu_);
    return published_;
}
std::uint64_t ProfilePublisher::failed() const {
    std::lock_guard lock(mu_);
    return failed_;
}
std::size_t ProfilePublisher::pending() const {
    std::lock_guard lock(mu_);
    return queue_.size() + (busy_ ? 1 : 0);
}

}  // namespace tenex::project
