// A fixed pool of threads for blocking jobs, with lanes: each lane has its own FIFO and a cap
// on how many of its jobs run at once, so that one kind of slow job (a first load of a project
// nobody knows, waiting on a silent relay) can never take every thread from another (a start
// of a project that already runs here). Workers take from the lanes in order, the first lane
// first. A job that throws is caught at the job boundary: logged, counted, and the worker goes
// on. stop() drops the jobs still queued and joins the workers.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/thread_annotations.hpp"

namespace tenex {

class WorkerPool {
  public:
    struct Lane {
        std::string name{};
        std::size_t max_running = 0;  // 0: as many as there are threads
    };

    // Threads start with the first submit (a pool that never gets a job costs nothing).
    WorkerPool(std::string name, std::size_t threads, std::vector<Lane> lanes);
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    // False after stop(), or for a lane that does not exist (the job is not run).
    bool submit(std::size_t lane, std::function<void()> job);
    void stop();

    std::size_t queued(std::size_t lane) const;
    std::uint64_t failures() const;  // jobs that threw

  private:
    struct LaneState {
        Lane lane;
        std::deque<std::function<void()>> jobs{};
        std::size_t running = 0;
    };
    void work();
    LaneState* runnable() TENEX_REQUIRES(mu_);

    const std::string name_;
    const std::size_t threads_;
    mutable Mutex mu_;
    std::condition_variable_any cv_;
    std::vector<LaneState> lanes_ TENEX_GUARDED_BY(mu_);
    std::vector<std::thread> workers_ TENEX_GUARDED_BY(mu_);
    std::uint64_t failures_ TENEX_GUARDED_BY(mu_) = 0;
    bool stopping_ TENEX_GUARDED_BY(mu_) = false;
};

}  // namespace tenex
