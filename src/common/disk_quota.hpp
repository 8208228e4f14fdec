// Disk limits for project directories (policy resources.disk): where the projects path is on
// btrfs, each project directory is a btrfs subvolume and its qgroup (0/<subvolume id>) carries
// the limit, so a sandbox writing past it gets EDQUOT ("Disk quota exceeded"). Through the
// kernel's ioctls (<linux/btrfs.h>), not the btrfs command. Other file systems have no
// per-directory quota the daemon can set (ext4 and XFS project quotas need kernel options
// that common kernels lack, tmpfs has none): a limit there is refused with the reason.
//
// Every function leaves the file system as it was when it fails, and says why.
#pragma once

#include "common/result.hpp"

#include <cstdint>
#include <filesystem>
#include <string>

namespace tenex::disk {

// What the file system offers for one directory.
struct DirQuota {
    bool btrfs = false;      // the directory is on btrfs
    bool subvolume = false;  // ... and is the root of a subvolume (its own qgroup)
    std::uint64_t subvolume_id = 0;
    std::string fs_type{};  // "btrfs", "ext4", "xfs", "tmpfs", ... for messages
};

// What to do about a directory's limit (pure; unit-tested).
struct LimitDecision {
    enum class Action { none, set, clear, refuse };
    Action action = Action::none;
    std::string reason{};  // refuse: why, for the operator (log, last_error, doctor)
};
LimitDecision decide_limit(const DirQuota& dir, std::int64_t bytes, const std::string& shown_path);

// The file system of `path` (or of its nearest existing ancestor: the projects path may not
// exist yet). Never fails: an unknown type reads as not quota-capable.
DirQuota probe(const std::filesystem::path& path);

// A file system type's name for a statfs magic ("btrfs", "ext4", ..., else "0x...").
std::string fs_type_name(std::uint64_t magic);

// Creates `path` (mode 0755): a btrfs subvolume when its parent is on btrfs, else a plain
// directory. Fails when it exists.
Status create_dir(const std::filesystem::path& path);

// Sets the referenced-bytes limit of the subvolume at `dir` (bytes > 0), enabling quotas on
// the file system first if they are off; bytes == 0 clears it (nothing to do when quotas are
// off). Needs CAP_SYS_ADMIN. `dir` must be a subvolume root.
Status set_subvolume_limit(const std::filesystem::path& dir, std::int64_t bytes);

// Applies a policy's limit to a project directory: probe, decide, then set or clear.
// A refusal (limit asked where it cannot be enforced) is an error naming the reason; clearing
// failures are errors too (the caller decides whether they are fatal).
Status apply_limit(const std::filesystem::path& dir, std::int64_t bytes);

// Removes a project directory and everything in it: a subvolume is destroyed (which needs
// CAP_SYS_ADMIN or the user_subvol_rm_allowed mount option), a plain directory removed
// recursively without following links. Absent: nothing to do.
Status remove_dir(const std::filesystem::path& path);

}  // namespace tenex::disk
