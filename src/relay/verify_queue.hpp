// VerifyQueue: the pool's ordered verification pipeline. The service thread pushes entries:
// an event whose id and signature are to be checked, or only an action that must run after
// the entries before it (EOSE, a fetch settling). Worker threads check the events; the
// service thread then runs each entry's completion in push order, so a subscription sees its
// events, and its EOSE, in the order the relay sent them. With zero threads every event is
// checked inline at push time; the order is the same.
//
// The checks run as jobs of a WorkerPool: push() starts one for as long as fewer than `threads`
// are queued or running; each takes a share of the waiting events at a time (one lock per
// batch, not per event) and ends when none wait.
//
// Thread-safety: push(), drain() and size() are for the service thread only; the workers
// touch nothing but the entries they check. `wake` is called from a worker when entries became
// ready and the service thread may be asleep (the pool: lws_cancel_service): after each batch
// a worker took, and every kWakeEvery entries within a long batch.
#pragma once

#include <atomic>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "common/result.hpp"
#include "common/thread_annotations.hpp"
#include "common/worker_pool.hpp"
#include "nostr/event.hpp"

namespace tenex::relay {

class VerifyQueue {
  public:
    struct Entry {
        std::optional<nostr::Event> event{};  // checked (id + signature) when `check`
        bool check{false};
        Status status{Unit{}};               // the result of the check; Unit when not checked
        std::function<void(Entry&)> done{};  // service thread, in push order
    };

    VerifyQueue(unsigned threads, std::function<void()> wake);
    ~VerifyQueue();  // stops the workers; entries not yet completed are dropped
    VerifyQueue(const VerifyQueue&) = delete;
    VerifyQueue& operator=(const VerifyQueue&) = delete;

    void push(Entry entry);
    // Runs the completions of the ready entries at the front, in order; returns how many.
    std::size_t drain();
    // Entries pushed and not yet completed.
    std::size_t size() const { return order_.size(); }
    unsigned threads() const { return threads_; }

    static constexpr unsigned kWakeEvery = 64;

  private:
    struct Slot {
        Entry entry;
        std::atomic<bool> ready{false};
    };
    void check_waiting();  // a job: checks batches of todo_ until it is empty

    const unsigned threads_;
    std::function<void()> wake_;
    std::deque<std::unique_ptr<Slot>> order_;  // service thread
    Mutex mu_;
    std::deque<Slot*> todo_ TENEX_GUARDED_BY(mu_);
    unsigned jobs_ TENEX_GUARDED_BY(mu_){0};  // check_waiting jobs queued or running
    bool stopping_ TENEX_GUARDED_BY(mu_){false};
    std::atomic<bool> wake_pending_{false};
    std::unique_ptr<WorkerPool> workers_;  // none with zero threads
};

}  // namespace tenex::relay
