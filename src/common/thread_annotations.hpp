// Lock annotations for clang's thread-safety analysis (-Wthread-safety; scripts/tidy runs it
// on every file, gcc ignores the attributes). A field written under a lock says which one
// (TENEX_GUARDED_BY(mu_)), a function that expects the caller to hold it says so
// (TENEX_REQUIRES(mu_)), and the analysis proves at compile time that every access holds it.
//
// It needs annotated lock types: tenex::Mutex (a std::mutex), tenex::MutexLock (its
// std::lock_guard) and tenex::UniqueLock (its std::unique_lock, for condition variables:
// wait with std::condition_variable_any).
#pragma once

#include <mutex>

#if defined(__clang__)
#define TENEX_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define TENEX_THREAD_ANNOTATION(x)
#endif

#define TENEX_CAPABILITY(x) TENEX_THREAD_ANNOTATION(capability(x))
#define TENEX_SCOPED_CAPABILITY TENEX_THREAD_ANNOTATION(scoped_lockable)
#define TENEX_GUARDED_BY(x) TENEX_THREAD_ANNOTATION(guarded_by(x))
#define TENEX_PT_GUARDED_BY(x) TENEX_THREAD_ANNOTATION(pt_guarded_by(x))
#define TENEX_REQUIRES(...) TENEX_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define TENEX_EXCLUDES(...) TENEX_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define TENEX_ACQUIRE(...) TENEX_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define TENEX_RELEASE(...) TENEX_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define TENEX_TRY_ACQUIRE(...) TENEX_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define TENEX_NO_THREAD_SAFETY_ANALYSIS TENEX_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace tenex {

class TENEX_CAPABILITY("mutex") Mutex {
  public:
    void lock() TENEX_ACQUIRE() { mu_.lock(); }
    void unlock() TENEX_RELEASE() { mu_.unlock(); }
    bool try_lock() TENEX_TRY_ACQUIRE(true) { return mu_.try_lock(); }

  private:
    std::mutex mu_;
};

class TENEX_SCOPED_CAPABILITY MutexLock {
  public:
    explicit MutexLock(Mutex& mu) TENEX_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
    // Takes over a lock already held (after a successful try_lock).
    MutexLock(Mutex& mu, std::adopt_lock_t) TENEX_REQUIRES(mu) : mu_(mu) {}
    ~MutexLock() TENEX_RELEASE() { mu_.unlock(); }
    MutexLock(const MutexLock&) = delete;
    MutexLock& operator=(const MutexLock&) = delete;

  private:
    Mutex& mu_;
};

// A held lock that a condition variable (std::condition_variable_any) may release while it
// waits, and that may be released early (unlock) and taken again (lock).
class TENEX_SCOPED_CAPABILITY UniqueLock {
  public:
    explicit UniqueLock(Mutex& mu) TENEX_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
    ~UniqueLock() TENEX_RELEASE() {
        if (held_) mu_.unlock();
    }
    UniqueLock(const UniqueLock&) = delete;
    UniqueLock& operator=(const UniqueLock&) = delete;
    void lock() TENEX_ACQUIRE() {
        mu_.lock();
        held_ = true;
    }
    void unlock() TENEX_RELEASE() {
        held_ = false;
        mu_.unlock();
    }

  private:
    Mutex& mu_;
    bool held_ = true;
};

}  // namespace tenex
