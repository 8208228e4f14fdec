// Workspace disk limits against a real btrfs (a loop-mounted image in the test's directory):
// project directories made by the daemon's own code are subvolumes, a limit makes writes past
// it fail with EDQUOT while a sibling writes freely, a changed limit applies at once, a
// dropped one is cleared, a plain directory is refused (its data kept), and removing a
// project directory works for both kinds.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "btrfs_loop.hpp"
#include "common/disk_quota.hpp"
#include "environment.hpp"
#include "project/clone.hpp"

namespace tenex::disk {
namespace {

namespace fs = std::filesystem;
constexpr std::int64_t kMiB = 1 << 20;

struct Written {
    std::int64_t bytes = 0;
    int error = 0;  // errno of the first failed write or fsync
};

// Writes `mib` MiB to `file` in 1 MiB writes, then fsync (btrfs may report the quota there).
Written write_mib(const fs::path& file, int mib) {
    Written w;
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return Written{0, errno};
    std::vector<char> chunk(kMiB, 'x');
    for (int i = 0; i < mib && w.error == 0; ++i) {
        const ssize_t n = ::write(fd, chunk.data(), chunk.size());
        if (n < 0)
            w.error = errno;
        else
            w.bytes += n;
    }
    if (w.error == 0 && ::fsync(fd) != 0) w.error = errno;
    ::close(fd);
    return w;
}

class DiskQuota : public ::testing::Test {
  protected:
    void SetUp() override { TENEX_REQUIRE_BTRFS(loop_); }
    test::TempDir dir_;
    test::BtrfsLoop loop_{dir_.path(), 256};
};

TEST_F(DiskQuota, SubvolumesGetLimitsThatApplyAtOnceAndAreRemovable) {
    const fs::path root = loop_.path() / "projects";
    fs::create_directories(root);
    const fs::path limited = root / "limited", free = root / "free";
    ASSERT_TRUE(create_dir(limited));
    ASSERT_TRUE(create_dir(free));
    EXPECT_TRUE(probe(limited).subvolume);
    EXPECT_NE(probe(limited).subvolume_id, probe(free).subvolume_id);
    EXPECT_FALSE(create_dir(limited)) << "an existing directory is not made again";

    // 8 MiB limit (quotas enabled on the way): a 24 MiB write stops near 8 MiB with EDQUOT.
    ASSERT_TRUE(apply_limit(limited, 8 * kMiB));
    const auto over = write_mib(limited / "big", 24);
    EXPECT_EQ(over.error, EDQUOT) << std::strerror(over.error);
    EXPECT_GE(over.bytes, 6 * kMiB);
    EXPECT_LE(over.bytes, 9 * kMiB);
    // The sibling on the same file system has no limit.
    const auto sibling = write_mib(free / "big", 24);
    EXPECT_EQ(sibling.error, 0) << std::strerror(sibling.error);
    EXPECT_EQ(sibling.bytes, 24 * kMiB);

    // A larger limit applies at once: 8 MiB more fit under 24 MiB.
    ASSERT_TRUE(apply_limit(limited, 24 * kMiB));
    const auto more = write_mib(limited / "more", 8);
    EXPECT_EQ(more.error, 0) << std::strerror(more.error);
    // Dropped from the policy: cleared, 32 MiB more are written.
    ASSERT_TRUE(apply_limit(limited, 0));
    const auto unlimited = write_mib(limited / "unlimited", 32);
    EXPECT_EQ(unlimited.error, 0) << std::strerror(unlimited.error);

    // Removing a project directory: a subvolume is destroyed with everything in it.
    ASSERT_TRUE(remove_dir(limited));
    EXPECT_FALSE(fs::exists(limited));
    ASSERT_TRUE(remove_dir(free));
    EXPECT_FALSE(fs::exists(free));
    EXPECT_TRUE(remove_dir(free)) << "absent: nothing to do";
}

// A project directory made before the projects path was btrfs-managed (a plain directory):
// it cannot become a subvolume in place. A limit is refused with that reason and the data
// stays; without a limit nothing happens; it can still be removed.
TEST_F(DiskQuota, APlainDirectoryIsRefusedAndKeepsItsData) {
    const fs::path plain = loop_.path() / "owner" / "old";
    fs::create_directories(plain / "src");
    { std::ofstream(plain / "src" / "main.c") << "int main(void) { return 0; }\n"; }
    EXPECT_FALSE(probe(plain).subvolume);
    auto st = apply_limit(plain, 8 * kMiB);
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().message.find("plain directory"), std::string::npos) << st.error().message;
    EXPECT_TRUE(fs::exists(plain / "src" / "main.c"));
    EXPECT_TRUE(apply_limit(plain, 0));
    EXPECT_TRUE(remove_dir(plain));
    EXPECT_FALSE(fs::exists(plain));
}

// The workspace code path: a new project's checkout (git init, as for a project without a
// repository) is made as a subvolume and moved into place, so the policy's limit can apply.
TEST_F(DiskQuota, ANewWorkspaceIsASubvolume) {
    const fs::path owner = loop_.path() / "projects" / "owner";
    fs::create_directories(owner);
    const fs::path ws = owner / "e2e-new";
    ASSERT_TRUE(project::init_repository(ws));
    EXPECT_TRUE(fs::exists(ws / ".git"));
    EXPECT_TRUE(probe(ws).subvolume);
    ASSERT_TRUE(apply_limit(ws, 4 * kMiB));
    EXPECT_EQ(write_mib(ws / "big", 16).error, EDQUOT);
    for (const auto& e : fs::directory_iterator(owner))
        EXPECT_EQ(e.path(), ws) << "a leftover next to the workspace";
}

}  // namespace
}  // namespace tenex::disk
