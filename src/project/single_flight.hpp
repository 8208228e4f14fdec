// Single flight per key with failure backoff: concurrent callers for one key share the one
// run in progress; after a failure, calls within the backoff window fail fast (no tight
// retry loop) and the next call after it runs again. The backoff doubles per consecutive
// failure up to a maximum and resets on success. Thread-safe; `fn` runs on the caller's
// thread without the lock held.
#pragma once

#include "common/backoff.hpp"
#include "common/result.hpp"
#include "common/thread_annotations.hpp"

#include <chrono>
#include <exception>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>

namespace tenex::project {

struct BackoffPolicy {
    std::chrono::milliseconds initial{std::chrono::seconds(5)};
    std::chrono::milliseconds max{std::chrono::minutes(5)};
};

template <class K, class V>
class SingleFlight {
  public:
    using Clock = std::chrono::steady_clock;
    using NowFn = std::function<Clock::time_point()>;

    explicit SingleFlight(
        BackoffPolicy backoff = {}, NowFn now = [] { return Clock::now(); })
        : backoff_(backoff), now_(std::move(now)) {}

    Result<V> run(const K& key, const std::function<Result<V>()>& fn) {
        UniqueLock lock(mu_);
        if (auto it = inflight_.find(key); it != inflight_.end()) {
            auto shared = it->second;
            ++waiters_[key];
            lock.unlock();
            Result<V> result = shared.get();
            lock.lock();
            if (--waiters_[key] == 0) waiters_.erase(key);
            return result;
        }
        if (auto f = failures_.find(key); f != failures_.end() && now_() < f->second.retry_at) {
            const auto wait =
                std::chrono::duration_cast<std::chrono::milliseconds>(f->second.retry_at - now_());
            return make_error("previous attempt failed (" + std::to_string(f->second.attempts) +
                              " in a row), next attempt allowed in " +
                              std::to_string(wait.count()) + " ms: " + f->second.last_error);
        }
        std::promise<Result<V>> promise;
        inflight_.emplace(key, promise.get_future().share());
        lock.unlock();

        Result<V> result = make_error("initialization did not complete");
        try {
            result = fn();
        } catch (const std::exception& e) {
            result = make_error(std::string("initialization threw: ") + e.what());
        } catch (...) {
            result = make_error("initialization threw an unknown exception");
        }

        lock.lock();
        inflight_.erase(key);
        if (result.ok()) {
            failures_.erase(key);
        } else {
            auto& f = failures_[key];
            ++f.attempts;
            const auto delay =
                std::chrono::duration_cast<std::chrono::milliseconds>(exponential_delay(
                    backoff_.initial, backoff_.max, static_cast<unsigned>(f.attempts - 1)));
            f.retry_at = now_() + delay;
            f.last_error = result.error().message;
        }
        lock.unlock();
        promise.set_value(result);
        return result;
    }

    // Callers currently waiting for the run in progress for `key` (not counting the runner).
    int waiters(const K& key) const {
        MutexLock lock(mu_);
        auto it = waiters_.find(key);
        return it == waiters_.end() ? 0 : it->second;
    }

    // Consecutive failures recorded for `key` (0 after a success).
    int failures(const K& key) const {
        MutexLock lock(mu_);
        auto it = failures_.find(key);
        return it == failures_.end() ? 0 : it->second.attempts;
    }

  private:
    struct Failure {
        int attempts{0};
        Clock::time_point retry_at{};
        std::string last_error{};
    };

    BackoffPolicy backoff_;
    NowFn now_;
    mutable Mutex mu_;
    std::map<K, std::shared_future<Result<V>>> inflight_ TENEX_GUARDED_BY(mu_);
    std::map<K, Failure> failures_ TENEX_GUARDED_BY(mu_);
    std::map<K, int> waiters_ TENEX_GUARDED_BY(mu_);
};

}  // namespace tenex::project
