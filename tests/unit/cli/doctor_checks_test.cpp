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

// What a manager of the test cluster answers (trimmed): GET /nodes.
const char* kNodes = R"([
 {"ID":"n2","Spec":{"Role":"worker","Availability":"active","Labels":{"zone":"b"}},
  "Description":{"Hostname":"tnx-swarm-2"},"Status":{"State":"ready","Addr":"10.213.0.2"}},
 {"ID":"n1","Spec":{"Role":"manager","Availability":"active","Labels":{}},
  "Description":{"Hostname":"tnx-swarm-1"},"Status":{"State":"ready","Addr":"10.213.0.1"},
  "ManagerStatus":{"Leader":true,"Reachability":"reachable","Addr":"10.213.0.1:2377"}},
 {"ID":"n3","Spec":{"Role":"worker","Availability":"active"},
  "Description":{"Hostname":"tnx-swarm-3"},"Status":{"State":"down","Message":"heartbeat failure","Addr":"10.213.0.3"}},
 "not a node"])";

docker::SwarmState manager() {
    return docker::parse_swarm_state(nlohmann::json::parse(
        R"({"Swarm":{"LocalNodeState":"active","ControlAvailable":true,"NodeID":"n1","Nodes":3,"Managers":1}})"));
}

TEST(DoctorSwarm, ParsesNodesSortedByHostname) {
    auto nodes = docker::parse_nodes(nlohmann::json::parse(kNodes));
    ASSERT_EQ(nodes.size(), 3u);
    EXPECT_EQ(nodes[0].hostname, "tnx-swarm-1");
    EXPECT_TRUE(nodes[0].leader);
    EXPECT_EQ(nodes[0].role, "manager");
    EXPECT_EQ(nodes[1].labels, (std::map<std::string, std::string>{{"zone", "b"}}));
    EXPECT_EQ(nodes[2].state, "down");
    EXPECT_EQ(nodes[2].message, "heartbeat failure");
    EXPECT_TRUE(docker::parse_nodes(nlohmann::json::object()).empty());
}

TEST(DoctorSwarm, AManagerWithEveryNodeReadyPasses) {
    auto nodes = docker::parse_nodes(nlohmann::json::parse(kNodes));
    nodes.pop_back();
    auto r = swarm_result(manager(), nodes);
    EXPECT_TRUE(r.ok) << r.detail;
    EXPECT_EQ(r.detail,
              "2 nodes, 2 ready and active: tnx-swarm-1 (manager, leader, ready, active), "
              "tnx-swarm-2 (worker, ready, active)");
}

TEST(DoctorSwarm, ADownNodeFailsNamingItAndWhy) {
    auto r = swarm_result(manager(), docker::parse_nodes(nlohmann::json::parse(kNodes)));
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.detail.find("not usable: tnx-swarm-3 (worker, down, active: heartbeat failure)"),
              std::string::npos)
        << r.detail;
    EXPECT_NE(r.fix.find("drain"), std::string::npos) << r.fix;
}

TEST(DoctorSwarm, NotASwarmOrAWorkerFailsWithFix) {
    auto inactive = docker::parse_swarm_state(
        nlohmann::json::parse(R"({"Swarm":{"LocalNodeState":"inactive"}})"));
    auto r = swarm_result(inactive, {});
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.detail.find("not in a swarm (state inactive)"), std::string::npos) << r.detail;
    EXPECT_NE(r.fix.find("manager"), std::string::npos);
    auto worker = docker::parse_swarm_state(nlohmann::json::parse(
        R"({"Swarm":{"LocalNodeState":"active","ControlAvailable":false,"NodeID":"n2"}})"));
    r = swarm_result(worker, {});
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.detail.find("worker"), std::string::npos) << r.detail;
    EXPECT_FALSE(swarm_result(manager(), {}).ok) << "a swarm without a usable node";
}

TEST(DoctorRegistry, NothingListeningOrNotHostPortFails) {
    auto r = check_registry("127.0.0.1:" + std::to_string(test::free_loopback_port()));
    EXPECT_FALSE(r.ok);
    EXPECT_FALSE(r.fix.empty());
    r = check_registry("host:notaport");
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.detail.find("not HOST:PORT"), std::string::npos) << r.detail;
}

}  // namespace
}  // namespace tenex::cli
