// Host paths the daemon hands to the Docker engine or writes itself, checked so that nothing a
// sandbox controls (its project directory) can point them elsewhere on the host.
#pragma once

#include "common/result.hpp"

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace tenex {

// Resolves `relative` beneath `root` without following a symbolic link in any of its
// components and without "..": every component must exist, every one but the last must be a
// directory. Returns root/relative (lexically normal). `root` itself is the operator's own
// path and may contain links. Refuses an empty, absolute or ".." path.
Result<std::filesystem::path> resolve_beneath(const std::filesystem::path& root,
                                              std::string_view relative);

// The mount points strictly beneath `dir` in a /proc/<pid>/mountinfo text (octal escapes
// decoded).
std::vector<std::string> mounts_beneath(const std::filesystem::path& dir,
                                        std::string_view mountinfo);

// The same for this process's mount namespace.
Result<std::vector<std::string>> mounts_beneath(const std::filesystem::path& dir);

}  // namespace tenex
