// A value that one thread replaces now and then and other threads read: readers take the
// current version (a shared_ptr to an immutable T) and keep it as long as they need it, however
// many replacements come meanwhile.
//
// Why not std::atomic<std::shared_ptr<const T>>: libstdc++ 12 (Debian's) implements it with a
// lock bit in the control-block pointer, and its load() clears that bit with a relaxed
// fetch_sub. The load's read of the stored pointer is then not ordered before the next store's
// write of it: a data race by the C++ memory model, which ThreadSanitizer reports (an e2e test
// of the daemon's known-projects set, issue 18). That implementation takes a spin lock on every
// load anyway; here it is a mutex held for a pointer copy, which ThreadSanitizer understands.
#pragma once

#include <memory>
#include <utility>

#include "common/thread_annotations.hpp"

namespace tenex {

template <class T>
class Snapshot {
  public:
    Snapshot() = default;
    explicit Snapshot(std::shared_ptr<const T> value) : value_(std::move(value)) {}
    Snapshot(const Snapshot&) = delete;
    Snapshot& operator=(const Snapshot&) = delete;

    // The current version (null before the first store when default-constructed).
    std::shared_ptr<const T> load() const {
        MutexLock lock(mu_);
        return value_;
    }

    // Replaces the current version; readers holding the old one keep it alive until they drop it.
    void store(std::shared_ptr<const T> value) {
        {
            MutexLock lock(mu_);
            value_.swap(value);
        }
        // The old version (now in value) is released here, outside the lock.
    }

  private:
    mutable Mutex mu_;
    std::shared_ptr<const T> value_ TENEX_GUARDED_BY(mu_);
};

}  // namespace tenex
