#include <gtest/gtest.h>

#include <fstream>

#include "cli/doctor_checks.hpp"
#include "environment.hpp"

namespace tenex::cli {
namespace {
namespace fs = std::filesystem;

TEST(DoctorCgroups, V2WithAllControllers) {
    test::TempDir dir;
    std::ofstream(dir.path() / "cgroup.controllers") << "cpuset cpu io memory hugetlb pids rdma\n";
    auto r = check_cgroups(dir.path());
    EXPECT_TRUE(r.ok) << r.detail;
    EXPECT_NE(r.detail.find("v2"), std::string::npos);
}

TEST(DoctorCgroups, V2MissingControllersFailsWithFix) {
    test::TempDir dir;
    std::ofstream(dir.path() / "cgroup.controllers") << "cpuset io memory\n";
    auto r = check_cgroups(dir.path());
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.detail.find("cpu,pids"), std::string::npos) << r.detail;
    EXPECT_FALSE(r.fix.empty());
    EXPECT_NE(format_check(r).find("fix:"), std::string::npos);
}

TEST(DoctorCgroups, V1Hierarchies) {
    test::TempDir dir;
    fs::create_directories(dir.path() / "memory");
    fs::create_directories(dir.path() / "cpu");
    auto r = check_cgroups(dir.path());
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.detail.find("pids"), std::string::npos);
    fs::create_directories(dir.path() / "pids");
    EXPECT_TRUE(check_cgroups(dir.path()).ok);
}

TEST(DoctorDisk, MeasuresNearestExistingParent) {
    test::TempDir dir;
    auto r = check_disk((dir.path() / "not" / "yet").string(), 1);
    EXPECT_TRUE(r.ok) << r.detail;
    EXPECT_NE(r.detail.find(dir.path().string()), std::string::npos);
    auto huge = check_disk(dir.path().string(), std::uint64_t{1} << 62);
    EXPECT_FALSE(huge.ok);
    EXPECT_NE(huge.detail.find("need"), std::string::npos);
}

// The disk limits line says whether resources.disk can be enforced for the projects path and,
// where it cannot, that such projects are refused at start (procfs stands for any file system
// without quotas the daemon can set).
TEST(DoctorDiskLimits, APathWithoutBtrfsIsToldNotEnforceable) {
    const auto s = disk_limit_support("/proc/self/not/yet");
    EXPECT_FALSE(s.enforceable);
    EXPECT_EQ(s.fs_type, "0x9fa0");
    EXPECT_NE(s.detail.find("NOT enforceable"), std::string::npos) << s.detail;
    EXPECT_NE(s.detail.find("refused at start"), std::string::npos) << s.detail;
    const auto r = check_disk_limits("/proc/self/not/yet");
    EXPECT_TRUE(r.ok) << "informational: policies without resources.disk need none of it";
    EXPECT_EQ(r.detail, s.detail);
}

TEST(DoctorDocker, DeadSocketFailsWithFix) {
    auto r = check_docker("/nonexistent/docker.sock");
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.fix.find("dockerd"), std::string::npos);
}

}  // namespace
}  // namespace tenex::cli
