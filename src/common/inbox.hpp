// A typed inbox for one consumer thread (strfry's pattern): producers push messages, the
// consumer takes every message waiting in one go, blocking until one arrives, the inbox is
// woken or closed, or a deadline passes. Handlers run at the message boundary (deliver): one
// that throws is logged with the inbox's name and counted (failures(), exported in /metrics as
// tenex_loop_failures{loop}), and the loop goes on. With WorkerPool, the one condition-variable
// loop of the project: every thread that waits for work waits in one of the two.
//
// T is usually a std::variant of the messages a thread understands (a closed set, each a
// struct), so that the consumer's std::visit names every kind it handles.
#pragma once

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/thread_annotations.hpp"

namespace tenex {

template <class T>
class Inbox {
  public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::size_t kUnbounded = 0;
    enum class Offer { queued, full, closed };

    // capacity: try_push refuses a message while this many wait (kUnbounded: never).
    explicit Inbox(std::string name, std::size_t capacity = kUnbounded)
        : name_(std::move(name)), capacity_(capacity) {}
    Inbox(const Inbox&) = delete;
    Inbox& operator=(const Inbox&) = delete;

    // Queues the message whatever the capacity (replies and requests that must not be lost);
    // false once closed (the message is dropped).
    bool push(T message) {
        {
            MutexLock lock(mu_);
            if (closed_) return false;
            queue_.push_back(std::move(message));
        }
        cv_.notify_one();
        return true;
    }

    // Queues the message unless capacity messages wait already (input that may be shed, such
    // as events from relays, counted by the caller) or the inbox is closed.
    Offer try_push(T message) {
        {
            MutexLock lock(mu_);
            if (closed_) return Offer::closed;
            if (capacity_ != kUnbounded && queue_.size() >= capacity_) return Offer::full;
            queue_.push_back(std::move(message));
        }
        cv_.notify_one();
        return Offer::queued;
    }

    // The consumer: blocks until a message waits, wake() or close() is called, or the
    // deadline passes (none: no deadline), then returns the oldest messages, at most max of
    // them, in the order they were pushed (empty after a wake or the deadline). After close()
    // it returns what is left without blocking, and nullopt once nothing is.
    std::optional<std::vector<T>> pop_all(
        std::optional<Clock::time_point> deadline = std::nullopt,
        std::size_t max = std::numeric_limits<std::size_t>::max()) {
        UniqueLock lock(mu_);
        auto ready = [this]() TENEX_REQUIRES(mu_) { return closed_ || woken_ || !queue_.empty(); };
        if (deadline)
            cv_.wait_until(lock, *deadline, ready);
        else
            cv_.wait(lock, ready);
        woken_ = false;
        if (closed_ && queue_.empty()) return std::nullopt;
        std::vector<T> out;
        const std::size_t n = std::min(max, queue_.size());
        out.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            out.push_back(std::move(queue_.front()));
            queue_.pop_front();
        }
        return out;
    }

    // Makes the consumer's pop_all (the one waiting now, or the next) return at once.
    void wake() {
        {
            MutexLock lock(mu_);
            woken_ = true;
        }
        cv_.notify_all();
    }

    // Refuses every later push and wakes the consumer; the messages queued already can still
    // be taken (or dropped with the inbox).
    void close() {
        {
            MutexLock lock(mu_);
            closed_ = true;
        }
        cv_.notify_all();
    }

    bool closed() const {
        MutexLock lock(mu_);
        return closed_;
    }
    std::size_t size() const {
        MutexLock lock(mu_);
        return queue_.size();
    }

    // The message boundary: runs handler(), and when it throws logs "<inbox>: <what> failed"
    // and counts it. False when it threw.
    template <class F>
    bool deliver(std::string_view what, F&& handler) noexcept {
        try {
            std::forward<F>(handler)();
            return true;
        } catch (const std::exception& e) {
            spdlog::error("{}: {} failed: {}", name_, what, e.what());
        } catch (...) {
            spdlog::error("{}: {} failed with an unknown exception", name_, what);
        }
        failures_.fetch_add(1, std::memory_order_relaxed);
        return false;
    }

    // Handlers (deliver) that threw since the inbox was made.
    std::uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }
    const std::string& name() const { return name_; }

  private:
    const std::string name_;
    const std::size_t capacity_;
    mutable Mutex mu_;
    std::condition_variable_any cv_;
    std::deque<T> queue_ TENEX_GUARDED_BY(mu_);
    bool closed_ TENEX_GUARDED_BY(mu_) = false;
    bool woken_ TENEX_GUARDED_BY(mu_) = false;
    std::atomic<std::uint64_t> failures_{0};
};

}  // namespace tenex
