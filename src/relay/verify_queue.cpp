#include "relay/verify_queue.hpp"

#include <algorithm>
#include <exception>
#include <string>

#include "nostr/verify.hpp"

namespace tenex::relay {

VerifyQueue::VerifyQueue(unsigned threads, std::function<void()> wake)
    : threads_(threads), wake_(std::move(wake)) {
    if (threads_ > 0)
        workers_ = std::make_unique<WorkerPool>("relay verify", threads_,
                                                std::vector<WorkerPool::Lane>{{.name = "verify"}});
}

VerifyQueue::~VerifyQueue() {
    if (!workers_) return;
    {
        MutexLock lk(mu_);
        stopping_ = true;  // a running job ends after its batch
    }
    workers_->stop();  // drops the jobs not started, joins; order_ (the slots) is freed after
}

void VerifyQueue::push(Entry entry) {
    auto slot = std::make_unique<Slot>();
    slot->entry = std::move(entry);
    Entry& e = slot->entry;
    if (e.check && !e.event) e.check = false;
    if (!e.check || !workers_) {
        if (e.check) e.status = nostr::verify_event(*e.event);
        slot->ready.store(true);
    } else {
        bool start_job = false;
        {
            MutexLock lk(mu_);
            todo_.push_back(slot.get());
            if (jobs_ < threads_) {
                ++jobs_;
                start_job = true;
            }
        }
        if (start_job) workers_->submit(0, [this] { check_waiting(); });
    }
    order_.push_back(std::move(slot));
}

std::size_t VerifyQueue::drain() {
    wake_pending_.store(false);
    std::size_t n = 0;
    while (!order_.empty() && order_.front()->ready.load()) {
        auto slot = std::move(order_.front());
        order_.pop_front();
        if (slot->entry.done) slot->entry.done(slot->entry);
        ++n;
    }
    return n;
}

// Takes a share of the queue at once (one lock per batch, not per event), checks it in order,
// and again until nothing waits.
void VerifyQueue::check_waiting() {
    std::deque<Slot*> batch;
    while (true) {
        {
            MutexLock lk(mu_);
            if (stopping_ || todo_.empty()) {
                --jobs_;
                return;
            }
            // A share of what is queued, so several workers split a burst between them.
            const std::size_t n = std::max<std::size_t>(1, todo_.size() / threads_);
            batch.assign(todo_.begin(), todo_.begin() + static_cast<std::ptrdiff_t>(n));
            todo_.erase(todo_.begin(), todo_.begin() + static_cast<std::ptrdiff_t>(n));
        }
        unsigned since_wake = 0;
        for (std::size_t i = 0; i < batch.size(); ++i) {
            Slot* slot = batch[i];
            try {
                slot->entry.status = nostr::verify_event(*slot->entry.event);
            } catch (const std::exception& e) {  // out of memory: the event fails, others go on
                slot->entry.status = make_error(std::string("cannot verify: ") + e.what());
            }
            slot->ready.store(true);  // seq_cst: pairs with drain()'s clear of wake_pending_
            const bool last = i + 1 == batch.size();
            if ((last || ++since_wake >= kWakeEvery) && !wake_pending_.exchange(true)) {
                since_wake = 0;
                if (wake_) wake_();
            }
        }
        batch.clear();
    }
}

}  // namespace tenex::relay
