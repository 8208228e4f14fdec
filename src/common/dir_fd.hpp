// Small file-system helpers that work relative to an open directory and never follow a
// symlink, so a hostile checkout (e.g. `.tenex` committed as a symlink to /etc) cannot make
// the daemon read or write outside the workspace.
#pragma once

#include "common/result.hpp"

#include <sys/types.h>
#include <optional>
#include <string>

namespace tenex {

// An owned directory file descriptor.
class DirFd {
  public:
    DirFd() = default;
    explicit DirFd(int fd) : fd_(fd) {}
    ~DirFd();
    DirFd(DirFd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    DirFd& operator=(DirFd&& o) noexcept;
    DirFd(const DirFd&) = delete;
    DirFd& operator=(const DirFd&) = delete;
    int get() const { return fd_; }

    // Opens an absolute or relative path (following symlinks: the operator's own paths).
    static Result<DirFd> open_path(const std::string& path);
    // Opens (creating with 0755 if asked) the child directory `name`; refuses symlinks.
    Result<DirFd> child(const std::string& name, bool create) const;

  private:
    int fd_{-1};
};

inline constexpr std::size_t kMaxLayoutFileBytes = 16U << 20;

// nullopt when absent; an error for symlinks, non-regular files and files over the limit.
Result<std::optional<std::string>> read_file_at(const DirFd& dir, const std::string& name);

// Writes `content` to dir/name atomically (temporary file, fsync, rename, fsync dir) with
// `mode`. Returns false (and writes nothing) when the file already has exactly this content
// and mode: idempotent, the mtime stays.
Result<bool> write_file_atomic(const DirFd& dir, const std::string& name,
                               const std::string& content, mode_t mode);

}  // namespace tenex
