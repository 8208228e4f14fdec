// Extracts a POSIX tar stream (what TarWriter writes: ustar, pax `path`/`linkpath` records)
// into a directory, never outside it: the swarm seed task's side of node-local workspaces
// (policies/SWARM.md, "Workspaces"). Plain POSIX, no other dependency: it is compiled into the
// static tenex-forwarder too.
//
// Safety: names are relative (no leading '/', no ".." component); every directory on the way
// is opened with O_NOFOLLOW from the root's descriptor, so a symlink (in the archive or already
// in the directory) never leads outside; files and links are written under a temporary name and
// renamed into place (a link in the way is replaced, not followed). Regular files, directories
// and symlinks only; anything else (devices, hard links, fifos) is refused.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <set>
#include <string>

#include "common/result.hpp"

namespace tenex::docker {

struct ExtractOptions {
    // Owner of everything written (-1: the extracting process's).
    int uid = -1;
    int gid = -1;
    // Entries whose first name component is listed replace what is there; the others are
    // written only where nothing is (an existing file or link of that name is kept).
    std::set<std::string> replace{};
};

struct ExtractStats {
    std::uint64_t files = 0, directories = 0, links = 0, kept = 0, bytes = 0;
};

// `read` fills up to n bytes and returns how many (0 at the end of the stream, < 0 on error).
// Stops at the archive's end marker; a stream that ends before it is an error.
Result<ExtractStats> extract_tar(const std::function<ssize_t(char*, std::size_t)>& read,
                                 int root_fd, const ExtractOptions& options);

}  // namespace tenex::docker
