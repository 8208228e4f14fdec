#include "common/worker_pool.hpp"

#include <spdlog/spdlog.h>

#include <exception>

namespace tenex {

WorkerPool::WorkerPool(std::string name, std::size_t threads, std::vector<Lane> lanes)
    : name_(std::move(name)), threads_(threads == 0 ? 1 : threads) {
    for (auto& l : lanes) {
        if (l.max_running == 0 || l.max_running > threads_) l.max_running = threads_;
        lanes_.push_back(LaneState{.lane = std::move(l)});
    }
}

WorkerPool::~WorkerPool() {
    stop();
}

bool WorkerPool::submit(std::size_t lane, std::function<void()> job) {
    {
        MutexLock lock(mu_);
        if (stopping_ || lane >= lanes_.size()) return false;
        if (workers_.empty())
            for (std::size_t i = 0; i < threads_; ++i) workers_.emplace_back([this] { work(); });
        lanes_[lane].jobs.push_back(std::move(job));
    }
    cv_.notify_one();
    return true;
}

void WorkerPool::stop() {
    std::vector<std::thread> workers;
    {
        MutexLock lock(mu_);
        stopping_ = true;
        for (auto& l : lanes_) l.jobs.clear();
        workers.swap(workers_);
    }
    cv_.notify_all();
    for (auto& w : workers) w.join();
}

std::size_t WorkerPool::queued(std::size_t lane) const {
    MutexLock lock(mu_);
    return lane < lanes_.size() ? lanes_[lane].jobs.size() : 0;
}

std::uint64_t WorkerPool::failures() const {
    MutexLock lock(mu_);
    return failures_;
}

WorkerPool::LaneState* WorkerPool::runnable() {
    for (auto& l : lanes_)
        if (!l.jobs.empty() && l.running < l.lane.max_running) return &l;
    return nullptr;
}

void WorkerPool::work() {
    UniqueLock lock(mu_);
    while (true) {
        LaneState* lane = nullptr;
        cv_.wait(lock,
                 [&]() TENEX_REQUIRES(mu_) { return stopping_ || (lane = runnable()) != nullptr; });
        if (stopping_) return;
        auto job = std::move(lane->jobs.front());
        lane->jobs.pop_front();
        ++lane->running;
        lock.unlock();
        bool failed = false;
        try {
            job();
        } catch (const std::exception& e) {
            failed = true;
            spdlog::error("{}: a {} job failed: {}", name_, lane->lane.name, e.what());
        } catch (...) {
            failed = true;
            spdlog::error("{}: a {} job failed with an unknown exception", name_, lane->lane.name);
        }
        lock.lock();
        --lane->running;
        if (failed) ++failures_;
        // A lane at its cap may have queued work that another worker can take now.
        if (!lane->jobs.empty()) cv_.notify_one();
    }
}

}  // namespace tenex
