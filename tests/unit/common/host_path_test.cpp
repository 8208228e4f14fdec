#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common/host_path.hpp"

namespace fs = std::filesystem;
using tenex::mounts_beneath;
using tenex::resolve_beneath;

namespace {

class HostPath : public ::testing::Test {
  protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() / ("tenex-host-path-" + std::to_string(::getpid()));
        fs::remove_all(root_);
        fs::create_directories(root_ / "data" / "sub");
        std::ofstream(root_ / "data" / "file.txt") << "x";
    }
    void TearDown() override { fs::remove_all(root_); }
    fs::path root_;
};

TEST_F(HostPath, ResolvesPlainPathsBeneathTheRoot) {
    auto r = resolve_beneath(root_, "data/sub");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(*r, root_ / "data" / "sub");
    auto f = resolve_beneath(root_, "./data//file.txt");
    ASSERT_TRUE(f) << f.error().message;
    EXPECT_EQ(*f, root_ / "data" / "file.txt");
}

// The escape: a workspace directory replaced by a link to / (by the sandbox between two runs,
// or committed in the cloned repository) must not be handed to the engine as a mount source.
TEST_F(HostPath, RefusesALinkInAnyComponent) {
    fs::create_directory_symlink("/", root_ / "escape");
    fs::create_directory_symlink(root_ / "data", root_ / "inside-link");
    fs::create_symlink("/etc/passwd", root_ / "data" / "passwd");
    for (const char* rel : {"escape", "escape/etc", "inside-link/sub", "data/passwd"}) {
        auto r = resolve_beneath(root_, rel);
        ASSERT_FALSE(r) << rel;
        EXPECT_NE(r.error().message.find("symbolic link"), std::string::npos) << r.error().message;
    }
}

TEST_F(HostPath, RefusesDotDotAbsoluteMissingAndFilesAsDirectories) {
    for (const char* rel : {"..", "data/../../etc", "/etc", "", ".", "missing", "data/file.txt/x"})
        EXPECT_FALSE(resolve_beneath(root_, rel)) << rel;
}

TEST(MountsBeneath, ListsOnlyMountPointsStrictlyBelowTheDirectory) {
    const std::string info =
        "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
        "30 22 8:1 /x /srv/p rw - ext4 /dev/sda1 rw\n"
        "31 30 0:5 / /srv/p/data/proc rw - proc proc rw\n"
        "32 30 0:6 / /srv/p/data\\040dir/tmp rw - tmpfs tmpfs rw\n"
        "33 22 0:7 / /srv/pp/data rw - tmpfs tmpfs rw\n";
    EXPECT_EQ(mounts_beneath("/srv/p/data", info), std::vector<std::string>{"/srv/p/data/proc"});
    EXPECT_EQ(mounts_beneath("/srv/p/data dir/", info),
              std::vector<std::string>{"/srv/p/data dir/tmp"});
    EXPECT_TRUE(mounts_beneath("/srv/pp", info).size() == 1);
    EXPECT_TRUE(mounts_beneath("/srv/q", info).empty());
    // The real table of this process: /proc is always mounted beneath /.
    auto live = mounts_beneath("/");
    ASSERT_TRUE(live) << live.error().message;
    EXPECT_NE(std::find(live->begin(), live->end(), "/proc"), live->end());
}

}  // namespace
