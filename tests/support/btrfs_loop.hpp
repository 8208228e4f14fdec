// A small btrfs file system for a test: an image file in the test's own directory, made with
// mkfs.btrfs and mounted through a loop device (mount -o loop, which detaches the device at
// unmount). Unmounted on destruction, whatever the test did (lazily when still busy). Needs
// root, btrfs in the kernel, btrfs-progs and loop devices: without them the test is skipped
// with the reason, and with CI=true it fails (TENEX_REQUIRE_BTRFS).
#pragma once

#include <sys/mount.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "environment.hpp"

namespace tenex::test {

class BtrfsLoop {
  public:
    // Makes and mounts a `size_mib` MiB btrfs at `mount_at` (default <dir>/mnt), its image
    // <dir>/btrfs.img.
    BtrfsLoop(const std::filesystem::path& dir, int size_mib, std::filesystem::path mount_at = {})
        : image_(dir / "btrfs.img"), mount_(mount_at.empty() ? dir / "mnt" : std::move(mount_at)) {
        if (::geteuid() != 0) {
            why_ = "needs root (mount)";
            return;
        }
        if (!kernel_has_btrfs()) {
            why_ = "the kernel has no btrfs";
            return;
        }
        if (!std::filesystem::exists("/dev/loop-control")) {
            why_ = "no loop devices (/dev/loop-control)";
            return;
        }
        if (std::system("command -v mkfs.btrfs >/dev/null 2>&1") != 0) {
            why_ = "mkfs.btrfs missing (apt-get install btrfs-progs)";
            return;
        }
        std::filesystem::create_directories(mount_);
        const std::string img = "'" + image_.string() + "'";
        if (std::system(("truncate -s " + std::to_string(size_mib) + "M " + img).c_str()) != 0 ||
            std::system(("mkfs.btrfs -q " + img + " >/dev/null 2>&1").c_str()) != 0) {
            why_ = "mkfs.btrfs failed on " + image_.string();
            return;
        }
        if (std::system(("mount -o loop " + img + " '" + mount_.string() + "' 2>&1").c_str()) !=
            0) {
            why_ = "mount -o loop " + image_.string() + " failed";
            return;
        }
        mounted_ = true;
    }
    ~BtrfsLoop() {
        if (!mounted_) return;
        if (::umount2(mount_.c_str(), 0) != 0) ::umount2(mount_.c_str(), MNT_DETACH);
    }
    BtrfsLoop(const BtrfsLoop&) = delete;
    BtrfsLoop& operator=(const BtrfsLoop&) = delete;

    bool ok() const { return mounted_; }
    const std::string& why() const { return why_; }
    const std::filesystem::path& path() const { return mount_; }

  private:
    static bool kernel_has_btrfs() {
        std::ifstream in("/proc/filesystems");
        for (std::string line; std::getline(in, line);)
            if (line.size() >= 5 && line.compare(line.size() - 5, 5, "btrfs") == 0) return true;
        return false;
    }
    std::filesystem::path image_, mount_;
    bool mounted_ = false;
    std::string why_{};
};

}  // namespace tenex::test

// At the top of a test (or SetUp) holding a BtrfsLoop.
#define TENEX_REQUIRE_BTRFS(loop)                                                       \
    do {                                                                                \
        if (!(loop).ok()) {                                                             \
            if (::tenex::test::in_ci())                                                 \
                FAIL() << "btrfs on a loop device is required in CI: " << (loop).why(); \
            GTEST_SKIP() << "no btrfs loop file system: " << (loop).why();              \
        }                                                                               \
    } while (0)
