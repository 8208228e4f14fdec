// VerifyQueue: the pool's ordered verification pipeline. The service thread pushes entries:
// an event whose id and signature are to be checked, or only an action that must run after
// the entries before it (EOSE, a fetch settling). Worker threads check the events; the
// service thread then runs each entry's completion in push order, so a subscription sees its
// events, and its EOSE, in the order the relay sent them. With zero threads every event is
// checked inline at push time; the order is the same.
//
// Thread-safety: push(), drain() and size() are for the service thread only; the workers
// touch nothing but the entries they check. `wake` is called from a worker when entries became
// ready and the service thread may be asleep (the pool: lws_cancel_service): after each batch
// a worker took, and every kWakeEvery entries within a long batch.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/result.hpp"
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
    unsigned threads() const { return static_cast<unsigned>(workers_.size()); }

    static constexpr unsigned kWakeEvery = 64;

  private:
    struct Slot {
        Entry entry;
        std::atomic<bool> ready{false};
    };
    void work();

    std::function<void()> wake_;
    std::deque<std::unique_ptr<Slot>> order_;  // service thread
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Slot*> todo_;  // under mu_
    unsigned idle_{0};        // workers waiting for work, under mu_
    bool stopping_{false};    // under mu_
    std::atomic<bool> wake_pending_{false};
    std::vector<std::thread> workers_;
};

}  // namespace tenex::relay
