// The socket stream libgit2 uses for every network connection while a clone runs on this
// thread (see clone.hpp). Internal to the project module.
#pragma once

#include "project/repo_url.hpp"

#include <chrono>
#include <cstdint>
#include <string>

namespace tenex::project::detail {

struct GuardContext {
    const RepoPolicy* policy{nullptr};
    std::chrono::steady_clock::time_point deadline{};
    std::uint64_t max_bytes{0};  // cap on bytes read from all connections
    std::uint64_t bytes_read{0};
    std::string failure{};  // why the guard refused or aborted (no credentials)
};

// Registers the stream with libgit2 (once per process; also initializes libgit2).
void ensure_guarded_stream_registered();

// Sets the context for connections opened by libgit2 on this thread; RAII.
class GuardScope {
  public:
    explicit GuardScope(GuardContext* ctx);
    ~GuardScope();
    GuardScope(const GuardScope&) = delete;
    GuardScope& operator=(const GuardScope&) = delete;

  private:
    GuardContext* previous_;
};

}  // namespace tenex::project::detail
