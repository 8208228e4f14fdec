// The pure part of workspace disk limits: what the daemon does with a policy's resources.disk
// for a project directory, given what the file system offers. The btrfs side (subvolumes,
// qgroup limits, EDQUOT) runs against a real btrfs in tests/integration/disk and the attack
// suite.
#include <unistd.h>

#include <gtest/gtest.h>

#include "common/disk_quota.hpp"

namespace tenex::disk {
namespace {

using A = LimitDecision::Action;

DirQuota btrfs_subvolume() {
    return DirQuota{.btrfs = true, .subvolume = true, .subvolume_id = 257, .fs_type = "btrfs"};
}
DirQuota btrfs_plain() {
    return DirQuota{.btrfs = true, .subvolume = false, .subvolume_id = 0, .fs_type = "btrfs"};
}
DirQuota ext4() {
    return DirQuota{.btrfs = false, .subvolume = false, .subvolume_id = 0, .fs_type = "ext4"};
}

TEST(DiskLimitDecision, ALimitOnASubvolumeIsSet) {
    EXPECT_EQ(decide_limit(btrfs_subvolume(), 16LL << 20, "/p/o/d").action, A::set);
}

TEST(DiskLimitDecision, NoLimitClearsASubvolumeAndLeavesAnythingElse) {
    EXPECT_EQ(decide_limit(btrfs_subvolume(), 0, "/p/o/d").action, A::clear);
    EXPECT_EQ(decide_limit(btrfs_plain(), 0, "/p/o/d").action, A::none);
    EXPECT_EQ(decide_limit(ext4(), 0, "/p/o/d").action, A::none);
}

// Never silently unlimited: a limit that cannot be enforced is refused, naming the path, the
// file system, the limit and what to do.
TEST(DiskLimitDecision, ALimitWithoutQuotaSupportIsRefusedWithTheReason) {
    const auto d = decide_limit(ext4(), 16LL << 20, "/p/o/d");
    EXPECT_EQ(d.action, A::refuse);
    EXPECT_NE(d.reason.find("/p/o/d is on ext4"), std::string::npos) << d.reason;
    EXPECT_NE(d.reason.find("16Mi"), std::string::npos) << d.reason;
    EXPECT_NE(d.reason.find("btrfs"), std::string::npos) << d.reason;
    const auto unknown = decide_limit(DirQuota{}, 1LL << 30, "/x");
    EXPECT_EQ(unknown.action, A::refuse);
    EXPECT_NE(unknown.reason.find("1Gi"), std::string::npos) << unknown.reason;
}

TEST(DiskLimitDecision, APlainDirectoryOnBtrfsIsRefusedNotConverted) {
    const auto d = decide_limit(btrfs_plain(), 10'000'000, "/p/o/d");
    EXPECT_EQ(d.action, A::refuse);
    EXPECT_NE(d.reason.find("plain directory"), std::string::npos) << d.reason;
    EXPECT_NE(d.reason.find("10000000 bytes"), std::string::npos) << d.reason;
    EXPECT_NE(d.reason.find("subvolume"), std::string::npos) << d.reason;
}

TEST(DiskLimitDecision, ANegativeLimitIsRefused) {
    EXPECT_EQ(decide_limit(btrfs_subvolume(), -1, "/p").action, A::refuse);
}

TEST(DiskLimitProbe, ANonBtrfsPathAndItsMissingChildrenAreNotQuotaCapable) {
    // The build machine's /tmp (ext4, tmpfs, overlay): whatever it is, a missing path is
    // probed at its nearest existing ancestor and never reads as a subvolume.
    const auto q = probe("/proc/self/does/not/exist");
    EXPECT_FALSE(q.btrfs);
    EXPECT_FALSE(q.subvolume);
    EXPECT_EQ(q.fs_type, "0x9fa0");  // procfs
    EXPECT_EQ(fs_type_name(0x9123683E), "btrfs");
    EXPECT_EQ(fs_type_name(0xEF53), "ext4");
}

TEST(DiskLimitApply, RefusedWhereItCannotBeEnforcedAndNothingChanges) {
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("tenex-disk-unit-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const bool on_btrfs = probe(dir).btrfs;
    auto st = apply_limit(dir, 16LL << 20);
    EXPECT_FALSE(st);  // a plain directory: on btrfs or not, it cannot be limited
    if (!st) {
        EXPECT_NE(st.error().message.find(on_btrfs ? "plain directory" : "cannot be enforced"),
                  std::string::npos);
    }
    EXPECT_TRUE(apply_limit(dir, 0));  // no limit asked: nothing to do
    EXPECT_TRUE(std::filesystem::is_directory(dir));
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tenex::disk
