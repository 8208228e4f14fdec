// A value that other threads wait on, and a stop signal for loops that sleep between rounds.
// With Inbox (messages for one consumer) and WorkerPool (blocking jobs) these are the project's
// only condition variables: a thread that waits for a state (a connection made, a sequence
// number reached, a session attached, a queue drained) waits in Watched::wait_*; a loop that
// polls every so often sleeps in StopSignal::sleep_for so that stop() ends it at once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <utility>

#include "common/thread_annotations.hpp"

namespace tenex {

template <class T>
class Watched {
  public:
    using Clock = std::chrono::steady_clock;

    Watched() = default;
    explicit Watched(T initial) : value_(std::move(initial)) {}
    Watched(const Watched&) = delete;
    Watched& operator=(const Watched&) = delete;

    // Runs f(T&) under the lock, then wakes every waiter (after the lock is released; no
    // notification when no thread waits). Returns what f returns.
    template <class F>
    decltype(auto) update(F&& f) {
        Notify notify{cv_};
        MutexLock lock(mu_);
        notify.needed = waiters_ > 0;
        return std::forward<F>(f)(value_);
    }
    void set(T value) {
        update([&](T& v) { v = std::move(value); });
    }

    // Runs f(const T&) under the lock and returns what it returns.
    template <class F>
    decltype(auto) read(F&& f) const {
        MutexLock lock(mu_);
        return std::forward<F>(f)(std::as_const(value_));
    }
    T get() const {
        MutexLock lock(mu_);
        return value_;
    }

    // Block until pred(const T&) holds (checked under the lock at every update), the
    // deadline passes or, for the stop_token forms, a stop is requested. They return whether
    // pred holds.
    template <class P>
    void wait(P&& pred) const {
        UniqueLock lock(mu_);
        const Waiting waiting{waiters_};
        cv_.wait(lock, [&]() TENEX_REQUIRES(mu_) { return pred(std::as_const(value_)); });
    }
    template <class P>
    bool wait_until(Clock::time_point deadline, P&& pred) const {
        UniqueLock lock(mu_);
        const Waiting waiting{waiters_};
        return cv_.wait_until(lock, deadline,
                              [&]() TENEX_REQUIRES(mu_) { return pred(std::as_const(value_)); });
    }
    template <class Rep, class Period, class P>
    bool wait_for(std::chrono::duration<Rep, Period> timeout, P&& pred) const {
        return wait_until(Clock::now() + timeout, std::forward<P>(pred));
    }
    template <class Rep, class Period, class P>
    bool wait_for(std::stop_token stop, std::chrono::duration<Rep, Period> timeout,
                  P&& pred) const {
        UniqueLock lock(mu_);
        const Waiting waiting{waiters_};
        return cv_.wait_until(lock, stop, Clock::now() + timeout,
                              [&]() TENEX_REQUIRES(mu_) { return pred(std::as_const(value_)); });
    }

  private:
    struct Notify {
        std::condition_variable_any& cv;
        bool needed{false};
        ~Notify() {
            if (needed) cv.notify_all();
        }
    };
    // Counts a waiter while it holds or waits for the lock (made and destroyed under it).
    struct Waiting {
        int& n;
        explicit Waiting(int& count) : n(count) { ++n; }
        ~Waiting() { --n; }
        Waiting(const Waiting&) = delete;
        Waiting& operator=(const Waiting&) = delete;
    };
    mutable Mutex mu_;
    mutable std::condition_variable_any cv_;
    T value_ TENEX_GUARDED_BY(mu_){};
    mutable int waiters_ TENEX_GUARDED_BY(mu_){0};
};

// stop() ends every sleep_for at once, the ones under way and every later one.
class StopSignal {
  public:
    void stop() { stopped_.set(true); }
    bool stopped() const { return stopped_.get(); }
    // Sleeps for timeout unless stop() comes first. True when stopped.
    template <class Rep, class Period>
    bool sleep_for(std::chrono::duration<Rep, Period> timeout) const {
        return stopped_.wait_for(timeout, [](bool s) { return s; });
    }
    // For a std::jthread's loop: sleeps for timeout unless a stop is requested on the token
    // first. True when stopped.
    template <class Rep, class Period>
    static bool sleep_for(std::stop_token stop, std::chrono::duration<Rep, Period> timeout) {
        const StopSignal never;
        (void)never.stopped_.wait_for(stop, timeout, [](bool s) { return s; });
        return stop.stop_requested();
    }

  private:
    Watched<bool> stopped_{false};
};

}  // namespace tenex
