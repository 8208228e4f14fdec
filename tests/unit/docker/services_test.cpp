// The swarm mapping: a ContainerSpec as a service spec, tasks as the container state the
// orchestrator reads, and the list of what a service cannot carry.
#include <gtest/gtest.h>

#include "docker/services.hpp"

namespace tenex::docker {
namespace {

ContainerSpec hardened_spec() {
    ContainerSpec s;
    s.name = "tenex-p-abc";
    s.image = "tenex-probe:latest";
    s.entrypoint = {"/tenex-probe"};
    s.cmd = {"sleep"};
    s.env = {"A=1"};
    s.labels = {{"tenex.managed-by", "tenex-sandbox"}, {"tenex.project", "31933:abc:x"}};
    s.user = "65534:65534";
    s.working_dir = "/workspace";
    s.hostname = "sandbox";
    s.stop_signal = "SIGTERM";
    s.stop_timeout_s = 7;
    s.memory_bytes = 256 << 20;
    s.memory_swap_bytes = 256 << 20;
    s.nano_cpus = 1'500'000'000;
    s.pids_limit = 128;
    s.ulimits = {{"nofile", 1024, 2048}};
    s.read_only_rootfs = true;
    s.tmpfs = {{"/tmp", "rw,nosuid,nodev,noexec,size=67108864,mode=1777"}};
    s.cap_drop = {"ALL"};
    s.cap_add = {"NET_BIND_SERVICE"};
    s.security_opt = {"no-new-privileges:true", "seccomp={\"defaultAction\":\"SCMP_ACT_ERRNO\"}"};
    s.init = true;
    s.mounts = {{"/srv/project", "/workspace", false}, {"/srv/ro", "/ro", true}};
    s.network_mode = "none";
    s.extra_hosts = {"relay:10.0.0.1"};
    s.dns = {"10.0.0.53"};
    return s;
}

TEST(ServiceSpec, CarriesEveryFieldTheServiceApiCanExpress) {
    const auto j = to_service_spec(hardened_spec(), 0);
    EXPECT_EQ(j["Name"], "tenex-p-abc");
    EXPECT_EQ(j["Labels"]["tenex.project"], "31933:abc:x");
    EXPECT_EQ(j["Mode"]["Replicated"]["Replicas"], 0);
    EXPECT_EQ(j["EndpointSpec"]["Mode"], "dnsrr");
    const auto& t = j["TaskTemplate"];
    // The daemon owns restarts: swarm must never start a task by itself.
    EXPECT_EQ(t["RestartPolicy"]["Condition"], "none");
    // No network attachment: a manager has no "none" network (SwarmEngine gives such a
    // service an overlay of its own and names it instead), and open is the node's bridge.
    EXPECT_FALSE(t.contains("Networks"));
    auto open = hardened_spec();
    open.network_mode = "bridge";
    EXPECT_FALSE(to_service_spec(open, 0)["TaskTemplate"].contains("Networks"));
    auto isolated = hardened_spec();
    isolated.network_mode = "tenex-net-p-abc";  // the project's internal overlay
    EXPECT_EQ(to_service_spec(isolated, 0)["TaskTemplate"]["Networks"],
              nlohmann::json::parse(R"([{"Target": "tenex-net-p-abc"}])"));
    const auto& c = t["ContainerSpec"];
    EXPECT_EQ(c["Image"], "tenex-probe:latest");
    EXPECT_EQ(c["Labels"]["tenex.managed-by"], "tenex-sandbox");  // adoption reads these too
    EXPECT_EQ(c["Command"], nlohmann::json::array({"/tenex-probe"}));
    EXPECT_EQ(c["Args"], nlohmann::json::array({"sleep"}));
    EXPECT_EQ(c["Env"], nlohmann::json::array({"A=1"}));
    EXPECT_EQ(c["User"], "65534:65534");
    EXPECT_EQ(c["Dir"], "/workspace");
    EXPECT_EQ(c["Hostname"], "sandbox");
    EXPECT_EQ(c["StopSignal"], "SIGTERM");
    EXPECT_EQ(c["StopGracePeriod"], 7'000'000'000LL);
    EXPECT_EQ(c["ReadOnly"], true);
    EXPECT_EQ(c["Init"], true);
    EXPECT_EQ(c["CapabilityDrop"], nlohmann::json::array({"ALL"}));
    EXPECT_EQ(c["CapabilityAdd"], nlohmann::json::array({"NET_BIND_SERVICE"}));
    EXPECT_EQ(c["Ulimits"],
              nlohmann::json::parse(R"([{"Name":"nofile","Soft":1024,"Hard":2048}])"));
    EXPECT_EQ(c["Hosts"], nlohmann::json::array({"10.0.0.1 relay"}));
    EXPECT_EQ(c["DNSConfig"]["Nameservers"], nlohmann::json::array({"10.0.0.53"}));
    EXPECT_EQ(c["Mounts"], nlohmann::json::parse(R"([
        {"Type":"bind","Source":"/srv/project","Target":"/workspace","ReadOnly":false},
        {"Type":"bind","Source":"/srv/ro","Target":"/ro","ReadOnly":true},
        {"Type":"tmpfs","Target":"/tmp","TmpfsOptions":{"SizeBytes":67108864,"Mode":1023}}])"));
    const auto& limits = t["Resources"]["Limits"];
    EXPECT_EQ(limits["NanoCPUs"], 1'500'000'000);
    EXPECT_EQ(limits["MemoryBytes"], 256 << 20);
    EXPECT_EQ(limits["Pids"], 128);
    // Nothing the service API lacks is sent anyway (the manager would reject unknown fields
    // on newer versions, and ignore them on this one).
    EXPECT_FALSE(c.contains("SecurityOpt"));
    EXPECT_FALSE(t.contains("Runtime"));
}

// Shared storage: binds beneath a mapped host path become named volumes of the mapping's
// driver, one per directory, with {path} placed in its options.
TEST(ServiceSpec, NodeLocalBindsArePlainVolumesOfTheNodeNamedByTheirDirectory) {
    auto spec = hardened_spec();
    spec.mounts = {{"/srv/projects/tenex-a-1", "/workspace", false},
                   {"/srv/state/runtime/tenex-a-1", "/tenex", false},
                   {"/opt/shared", "/shared", true}};
    const std::vector<VolumeMapping> node_local{
        {.path = "/srv/projects", .driver = "local", .options = {}, .node_local = true},
        {.path = "/srv/state/runtime", .driver = "local", .options = {}, .node_local = true}};
    const auto mounts =
        to_service_spec(spec, 0, node_local)["TaskTemplate"]["ContainerSpec"]["Mounts"];
    ASSERT_EQ(mounts.size(), 4u);  // three binds and the tmpfs
    EXPECT_EQ(mounts[0], nlohmann::json({{"Type", "volume"},
                                         {"Source", node_local_volume("/srv/projects/tenex-a-1")},
                                         {"Target", "/workspace"},
                                         {"ReadOnly", false},
                                         {"VolumeOptions",
                                          {{"NoCopy", true},
                                           {"Labels", {{"tenex.managed-by", "tenex-sandbox"}}}}}}));
    // No driver options: the node's own local volume, which the seed task filled.
    EXPECT_FALSE(mounts[1]["VolumeOptions"].contains("DriverConfig"));
    EXPECT_EQ(mounts[1]["Source"], node_local_volume("/srv/state/runtime/tenex-a-1"));
    EXPECT_EQ(mounts[2]["Type"], "bind");  // beneath no root: the node's own path
    const std::string name = node_local_volume("/srv/projects/tenex-a-1");
    EXPECT_TRUE(name.starts_with("tenex-nl-"));
    EXPECT_EQ(name.size(), 9u + 24u);
    EXPECT_NE(name, node_local_volume("/srv/projects/tenex-b-2"));
}

TEST(ServiceSpec, BindsBeneathAVolumeMappingAreNamedVolumesOnTheNode) {
    auto spec = hardened_spec();
    spec.mounts = {{"/srv/projects/tenex-a-1", "/workspace", false},
                   {"/srv/projects/tenex-a-1/docs", "/docs", true},
                   {"/srv/projects-other/x", "/x", false},  // a sibling, not beneath
                   {"/srv/state/runtime/tenex-a-1", "/tenex", false}};
    const std::vector<VolumeMapping> volumes{
        {.path = "/srv/projects",
         .driver = "local",
         .options = {{"type", "nfs"},
                     {"o", "addr=10.0.0.5,rw"},
                     {"device", ":/export/projects{path}"}}},
        {.path = "/srv/state/runtime",
         .driver = "local",
         .options = {{"type", "none"}, {"o", "bind"}, {"device", "/mnt/rt{path}{path}"}}}};
    const auto mounts =
        to_service_spec(spec, 0, volumes)["TaskTemplate"]["ContainerSpec"]["Mounts"];
    ASSERT_EQ(mounts.size(), 5u);  // four binds and the tmpfs
    const auto& ws = mounts[0];
    EXPECT_EQ(ws["Type"], "volume");
    EXPECT_EQ(ws["Target"], "/workspace");
    EXPECT_EQ(ws["ReadOnly"], false);
    EXPECT_TRUE(ws["Source"].get<std::string>().starts_with("tenex-vol-"));
    EXPECT_EQ(ws["Source"].get<std::string>().size(), 10u + 24u);
    EXPECT_EQ(ws["VolumeOptions"]["NoCopy"], true);
    EXPECT_EQ(ws["VolumeOptions"]["Labels"]["tenex.managed-by"], "tenex-sandbox");
    EXPECT_EQ(ws["VolumeOptions"]["DriverConfig"], nlohmann::json::parse(R"({"Name": "local",
        "Options": {"type": "nfs", "o": "addr=10.0.0.5,rw",
                    "device": ":/export/projects/tenex-a-1"}})"));
    const auto& docs = mounts[1];
    EXPECT_EQ(docs["Type"], "volume");
    EXPECT_EQ(docs["ReadOnly"], true);
    EXPECT_EQ(docs["VolumeOptions"]["DriverConfig"]["Options"]["device"],
              ":/export/projects/tenex-a-1/docs");
    EXPECT_NE(docs["Source"], ws["Source"]);  // each directory its own volume
    EXPECT_EQ(mounts[2],
              nlohmann::json::parse(R"({"Type": "bind", "Source": "/srv/projects-other/x",
        "Target": "/x", "ReadOnly": false})"));
    EXPECT_EQ(mounts[3]["VolumeOptions"]["DriverConfig"]["Options"]["device"],
              "/mnt/rt/tenex-a-1/tenex-a-1");  // every {path} placed
    // The same directory is the same volume (a node reuses it); another project's is not.
    auto again = to_service_spec(spec, 0, volumes)["TaskTemplate"]["ContainerSpec"]["Mounts"];
    EXPECT_EQ(again[0]["Source"], ws["Source"]);
    spec.mounts[0].source = "/srv/projects/tenex-b-2";
    auto other = to_service_spec(spec, 0, volumes)["TaskTemplate"]["ContainerSpec"]["Mounts"];
    EXPECT_NE(other[0]["Source"], ws["Source"]);
    // The mapping's own path is "" below it; the longest mapping wins.
    spec.mounts = {{"/srv/projects", "/all", true}};
    auto root = to_service_spec(spec, 0, volumes)["TaskTemplate"]["ContainerSpec"]["Mounts"];
    EXPECT_EQ(root[0]["VolumeOptions"]["DriverConfig"]["Options"]["device"], ":/export/projects");
    auto nested = volumes;
    nested.push_back(
        {.path = "/srv/projects/tenex-a-1", .driver = "other", .options = {{"share", "a{path}"}}});
    spec.mounts = {{"/srv/projects/tenex-a-1/docs", "/docs", true}};
    auto longest = to_service_spec(spec, 0, nested)["TaskTemplate"]["ContainerSpec"]["Mounts"];
    EXPECT_EQ(longest[0]["VolumeOptions"]["DriverConfig"],
              nlohmann::json::parse(R"({"Name": "other", "Options": {"share": "a/docs"}})"));
    // No mapping: binds, as before.
    EXPECT_EQ(to_service_spec(spec, 0)["TaskTemplate"]["ContainerSpec"]["Mounts"][0]["Type"],
              "bind");
}

TEST(ServiceSpec, OpenNetworkLeavesTheTaskOnTheNodesBridge) {
    auto s = hardened_spec();
    s.network_mode = "bridge";
    EXPECT_FALSE(to_service_spec(s, 1)["TaskTemplate"].contains("Networks"));
    EXPECT_EQ(to_service_spec(s, 1)["Mode"]["Replicated"]["Replicas"], 1);
}

TEST(ServiceSpec, ReservationsAndPlacementGoToTheTaskTemplate) {
    auto s = hardened_spec();
    s.memory_reservation_bytes = 128 << 20;
    s.nano_cpus_reservation = 500'000'000;
    s.placement_constraints = {"node.labels.zone==a", "node.role!=manager"};
    s.placement_spread = {"node.labels.rack"};
    const auto t = to_service_spec(s, 0)["TaskTemplate"];
    EXPECT_EQ(t["Resources"]["Reservations"]["MemoryBytes"], 128 << 20);
    EXPECT_EQ(t["Resources"]["Reservations"]["NanoCPUs"], 500'000'000);
    EXPECT_EQ(t["Resources"]["Limits"]["MemoryBytes"], 256 << 20);
    EXPECT_EQ(t["Placement"]["Constraints"],
              nlohmann::json::array({"node.labels.zone==a", "node.role!=manager"}));
    EXPECT_EQ(t["Placement"]["Preferences"],
              nlohmann::json::parse(R"([{"Spread":{"SpreadDescriptor":"node.labels.rack"}}])"));
    EXPECT_TRUE(swarm_unsupported(s).size() == swarm_unsupported(hardened_spec()).size())
        << "reservations and placement are carried, never reported as dropped";

    // Read back from the service as the manager stores it.
    ServiceInfo svc;
    svc.id = "svc";
    svc.name = s.name;
    svc.spec = to_service_spec(s, 0);
    const auto info = container_info_from(svc, {});
    EXPECT_EQ(info.spec.memory_reservation_bytes, 128 << 20);
    EXPECT_EQ(info.spec.nano_cpus_reservation, 500'000'000);
    EXPECT_EQ(info.spec.placement_constraints, s.placement_constraints);
    EXPECT_EQ(info.spec.placement_spread, s.placement_spread);
}

TEST(ServiceSpec, NoPlacementOrReservationsUnlessAsked) {
    const auto t = to_service_spec(hardened_spec(), 0)["TaskTemplate"];
    EXPECT_FALSE(t.contains("Placement"));
    EXPECT_FALSE(t["Resources"].contains("Reservations"));
}

TEST(ServiceSpec, NamesEverythingItDrops) {
    auto s = hardened_spec();
    s.cpuset_cpus = "0-1";
    s.storage_opt = {{"size", "10G"}};
    s.runtime = "runsc";
    const auto dropped = swarm_unsupported(s);
    std::vector<std::string> fields;
    for (const auto& d : dropped) {
        fields.push_back(d.field);
        EXPECT_FALSE(d.reason.empty()) << d.field;
    }
    const std::vector<std::string> want = {
        "security_opt: no-new-privileges:true",
        "security_opt: seccomp=<profile>",  // never the whole profile in a log line
        "memory_swap",                      // swap off (== memory) cannot be expressed
        "cpuset_cpus",
        "storage_opt",
        "runtime: runsc",
        "tmpfs /tmp: nosuid,nodev,noexec",
    };
    EXPECT_EQ(fields, want);
}

TEST(ServiceSpec, NothingDroppedFromAPlainSpec) {
    ContainerSpec s;
    s.name = "x";
    s.image = "i";
    s.tmpfs = {{"/tmp", "size=64m,mode=1777"}};
    s.memory_bytes = 1 << 20;
    EXPECT_TRUE(swarm_unsupported(s).empty());
    EXPECT_EQ(to_service_spec(
                  s, 0)["TaskTemplate"]["ContainerSpec"]["Mounts"][0]["TmpfsOptions"]["SizeBytes"],
              64 << 20);
}

constexpr const char* kService = R"({
  "ID": "svc1", "Version": {"Index": 42}, "CreatedAt": "2026-12-05T12:00:00.5Z",
  "Spec": {"Name": "tenex-p-abc", "Labels": {"tenex.policy-digest": "d1"},
           "TaskTemplate": {"ContainerSpec": {"Image": "tenex-probe:latest", "User": "65534:65534",
                                              "ReadOnly": true},
                            "Resources": {"Limits": {"MemoryBytes": 1048576, "Pids": 64}}},
           "Mode": {"Replicated": {"Replicas": 1}}}})";

std::string task(const std::string& id, const std::string& created, const std::string& state,
                 int exit_code = 0, int version = 10) {
    return R"({"ID":")" + id + R"(","ServiceID":"svc1","NodeID":"node-)" + id +
           R"(","CreatedAt":")" + created + R"(","Version":{"Index":)" + std::to_string(version) +
           R"(},"DesiredState":"running","Spec":{"ContainerSpec":{"Labels":{"tenex.project":"p"}}},
           "Status":{"State":")" +
           state + R"(","Timestamp":"2026-12-05T12:01:00Z","Err":"boom",
           "ContainerStatus":{"ContainerID":"c-)" +
           id + R"(","ExitCode":)" + std::to_string(exit_code) + "}}}";
}

ServiceInfo service() {
    auto s = parse_service(nlohmann::json::parse(kService));
    EXPECT_TRUE(s);
    return *s;
}

TEST(ServiceState, ServiceFields) {
    auto s = service();
    EXPECT_EQ(s.id, "svc1");
    EXPECT_EQ(s.name, "tenex-p-abc");
    EXPECT_EQ(s.version, 42u);
    EXPECT_EQ(s.replicas, 1);
    EXPECT_EQ(s.labels.at("tenex.policy-digest"), "d1");
}

TEST(ServiceState, NoTaskIsCreated) {
    auto info = container_info_from(service(), {});
    EXPECT_EQ(info.id, "svc1");
    EXPECT_EQ(info.name, "tenex-p-abc");
    EXPECT_EQ(info.state.status, "created");
    EXPECT_FALSE(info.state.running);
    EXPECT_EQ(info.spec.labels.at("tenex.policy-digest"), "d1");  // the digest check reads it
    EXPECT_EQ(info.spec.user, "65534:65534");
    EXPECT_TRUE(info.spec.read_only_rootfs);
    EXPECT_EQ(info.spec.pids_limit, 64);
}

TEST(ServiceState, NewestTaskDecides) {
    // Fractions of different lengths (Go trims trailing zeros): .5 is later than .45.
    auto tasks =
        parse_task_list("[" + task("old", "2026-12-05T12:00:00.45Z", "failed", 3, 99) + "," +
                        task("new", "2026-12-05T12:00:00.5Z", "running", 0, 12) + "]");
    ASSERT_TRUE(tasks);
    ASSERT_EQ(tasks->size(), 2u);
    EXPECT_EQ((*tasks)[0].labels.at("tenex.project"), "p");
    EXPECT_EQ((*tasks)[0].container_id, "c-old");
    auto info = container_info_from(service(), *tasks);
    EXPECT_EQ(info.state.status, "running");
    EXPECT_TRUE(info.state.running);
    EXPECT_EQ(info.state.started_at, "2026-12-05T12:01:00Z");
    EXPECT_EQ(info.node_id, "node-new");
}

TEST(ServiceState, EndedTaskIsExitedWithItsCode) {
    auto tasks = parse_task_list("[" + task("a", "2026-12-05T12:00:00Z", "failed", 3) + "]");
    ASSERT_TRUE(tasks);
    auto info = container_info_from(service(), *tasks);
    EXPECT_EQ(info.state.status, "exited");
    EXPECT_FALSE(info.state.running);
    EXPECT_EQ(info.state.exit_code, 3);
    EXPECT_EQ(info.state.error, "boom");
    EXPECT_EQ(info.state.finished_at, "2026-12-05T12:01:00Z");
    EXPECT_TRUE((*tasks)[0].terminal());
}

TEST(ServiceState, TaskOnItsWayIsCreated) {
    for (const char* st : {"new", "pending", "assigned", "accepted", "preparing", "starting"}) {
        auto tasks = parse_task_list("[" + task("a", "2026-12-05T12:00:00Z", st) + "]");
        ASSERT_TRUE(tasks);
        auto info = container_info_from(service(), *tasks);
        EXPECT_EQ(info.state.status, "created") << st;
        EXPECT_FALSE(info.state.running) << st;
        EXPECT_FALSE((*tasks)[0].terminal()) << st;
    }
}

TEST(ServiceState, ToleratesJunk) {
    EXPECT_FALSE(parse_task_list("{}"));
    EXPECT_FALSE(parse_service_list("nope"));
    EXPECT_FALSE(parse_service(nlohmann::json::parse(R"({"Spec":{}})")));
    auto tasks = parse_task_list(R"([{"ID":"t","Status":"weird"},{"no":"id"}])");
    ASSERT_TRUE(tasks);
    EXPECT_EQ(tasks->size(), 1u);
}

}  // namespace
}  // namespace tenex::docker
