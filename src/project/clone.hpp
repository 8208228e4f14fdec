// Creating a checkout: clone with libgit2 under a time and a size limit, or `git init`.
// Both build the repository in a temporary sibling (".<name>.tmp-<random>") and rename it
// into place, so a failed, aborted or interrupted attempt leaves nothing at the destination
// (and leftovers of a crashed daemon are removed by the next attempt).
//
// Every connection libgit2 opens (git://, http(s)://, ssh://, redirects included) goes
// through a guarded socket stream registered with libgit2: it resolves the host, refuses
// addresses the RepoPolicy does not allow (DNS rebinding), enforces the deadline on every
// connect/read/write (libgit2 1.5 has no timeouts of its own: a stalled server would hang
// forever) and caps the bytes read. No shell, no `git` binary, no submodules.
#pragma once

#include "common/result.hpp"
#include "project/repo_url.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>

namespace tenex::project {

struct CloneLimits {
    std::chrono::milliseconds timeout{std::chrono::minutes(10)};  // whole clone incl. checkout
    std::uint64_t max_bytes{1ULL << 30};                          // received pack bytes
    // What the checkout would write (sum of blob sizes of HEAD's tree, and entries), checked
    // after the fetch and before any file is written: a small pack can expand enormously.
    std::uint64_t max_checkout_bytes{4ULL << 30};
    std::uint64_t max_checkout_files{500000};
};

// Clones `url` (already validated) into `dest`, which must not exist; its parent must.
Status clone_repository(const RepoUrl& url, const RepoPolicy& policy, const CloneLimits& limits,
                        const std::filesystem::path& dest);

// Creates `dest` (must not exist) as a fresh, empty git repository with a working tree.
Status init_repository(const std::filesystem::path& dest);

}  // namespace tenex::project
