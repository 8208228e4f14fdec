#include <gtest/gtest.h>

#include "docker/container_spec.hpp"
#include "docker/containers.hpp"

namespace tenex::docker {
namespace {

ContainerSpec full_spec() {
    ContainerSpec s;
    s.name = "tenex-p-abc";
    s.image = "tenex-probe:latest";
    s.entrypoint = {"/tenex-probe"};
    s.cmd = {"sleep"};
    s.env = {"A=1", "B=two words"};
    s.labels = {{"tenex.test", "1"}, {"tenex.project", "31933:abc:x"}};
    s.user = "65534:65534";
    s.working_dir = "/work";
    s.hostname = "sandbox";
    s.stop_signal = "SIGTERM";
    s.stop_timeout_s = 7;
    s.memory_bytes = 256 << 20;
    s.memory_swap_bytes = 256 << 20;
    s.nano_cpus = 1'500'000'000;
    s.cpuset_cpus = "0";
    s.pids_limit = 128;
    s.ulimits = {{"nofile", 1024, 2048}};
    s.read_only_rootfs = true;
    s.tmpfs = {{"/tmp", "size=64m,mode=1777"}};
    s.cap_drop = {"ALL"};
    s.cap_add = {"NET_BIND_SERVICE"};
    s.security_opt = {"no-new-privileges:true"};
    s.init = true;
    s.mounts = {{"/srv/project", "/work", false}, {"/srv/ro", "/ro", true}};
    s.network_mode = "none";
    s.storage_opt = {{"size", "10G"}};
    s.runtime = "runc";
    s.extra_hosts = {"relay:10.0.0.1"};
    s.dns = {"10.0.0.53"};
    return s;
}

TEST(CreateBody, CarriesEveryField) {
    auto b = to_create_body(full_spec(), kClientMinApi);
    EXPECT_EQ(b["Image"], "tenex-probe:latest");
    EXPECT_EQ(b["Entrypoint"], nlohmann::json({"/tenex-probe"}));
    EXPECT_EQ(b["Cmd"], nlohmann::json({"sleep"}));
    EXPECT_EQ(b["Env"], nlohmann::json({"A=1", "B=two words"}));
    EXPECT_EQ(b["Labels"]["tenex.project"], "31933:abc:x");
    EXPECT_EQ(b["User"], "65534:65534");
    EXPECT_EQ(b["WorkingDir"], "/work");
    EXPECT_EQ(b["Hostname"], "sandbox");
    EXPECT_EQ(b["StopSignal"], "SIGTERM");
    EXPECT_EQ(b["StopTimeout"], 7);
    EXPECT_FALSE(b.contains("name"));
    const auto& h = b["HostConfig"];
    EXPECT_EQ(h["Memory"], 256 << 20);
    EXPECT_EQ(h["MemorySwap"], 256 << 20);
    EXPECT_EQ(h["NanoCpus"], 1'500'000'000);
    EXPECT_FALSE(h.contains("CpuQuota"));  // never together with NanoCpus
    EXPECT_EQ(h["CpusetCpus"], "0");
    EXPECT_EQ(h["PidsLimit"], 128);
    EXPECT_EQ(h["Ulimits"],
              nlohmann::json::parse(R"([{"Name":"nofile","Soft":1024,"Hard":2048}])"));
    EXPECT_EQ(h["ReadonlyRootfs"], true);
    EXPECT_EQ(h["Tmpfs"]["/tmp"], "size=64m,mode=1777");
    EXPECT_EQ(h["CapDrop"], nlohmann::json({"ALL"}));
    EXPECT_EQ(h["CapAdd"], nlohmann::json({"NET_BIND_SERVICE"}));
    EXPECT_EQ(h["SecurityOpt"], nlohmann::json({"no-new-privileges:true"}));
    EXPECT_EQ(h["Init"], true);
    ASSERT_EQ(h["Mounts"].size(), 2u);
    EXPECT_EQ(h["Mounts"][0],
              nlohmann::json::parse(
                  R"({"Type":"bind","Source":"/srv/project","Target":"/work","ReadOnly":false})"));
    EXPECT_EQ(h["Mounts"][1]["ReadOnly"], true);
    EXPECT_EQ(h["NetworkMode"], "none");
    EXPECT_EQ(h["StorageOpt"]["size"], "10G");
    EXPECT_EQ(h["Runtime"], "runc");
    EXPECT_EQ(h["ExtraHosts"], nlohmann::json({"relay:10.0.0.1"}));
    EXPECT_EQ(h["Dns"], nlohmann::json({"10.0.0.53"}));
}

TEST(CreateBody, DefaultsLeaveEngineDefaults) {
    ContainerSpec s;
    s.image = "x";
    auto b = to_create_body(s, kClientMaxApi);
    const auto& h = b["HostConfig"];
    for (const char* key : {"Memory", "MemorySwap", "NanoCpus", "PidsLimit", "Ulimits", "Tmpfs",
                            "CapDrop", "Mounts", "NetworkMode", "StorageOpt", "Runtime", "Init"})
        EXPECT_FALSE(h.contains(key)) << key;
    EXPECT_FALSE(b.contains("StopTimeout"));
    EXPECT_FALSE(b.contains("User"));
    EXPECT_TRUE(b["Labels"].is_object());
}

TEST(SpecFromInspect, ReadsBackWhatTheBodySays) {
    // The engine echoes Config and HostConfig: feeding our own body back must give the spec.
    auto spec = full_spec();
    auto body = to_create_body(spec, kClientMinApi);
    nlohmann::json inspect = {{"Id", "abc"}, {"Name", "/" + spec.name}};
    inspect["HostConfig"] = body["HostConfig"];
    body.erase("HostConfig");
    inspect["Config"] = body;
    EXPECT_EQ(spec_from_inspect(inspect), spec);
}

TEST(SpecFromInspect, ToleratesGarbage) {
    auto j = nlohmann::json::parse(
        R"({"Name": 5, "Config": {"Env": "x", "Labels": [1], "StopTimeout": "7"},
            "HostConfig": {"Memory": "big", "Ulimits": {"a": 1}, "Mounts": [1, {"Source": 3}]}})");
    auto s = spec_from_inspect(j);
    EXPECT_EQ(s.name, "");
    EXPECT_TRUE(s.env.empty());
    EXPECT_FALSE(s.stop_timeout_s);
    EXPECT_EQ(s.memory_bytes, 0);
    EXPECT_EQ(s.mounts.size(), 2u);
    EXPECT_FALSE(parse_container_inspect("[]"));
    EXPECT_FALSE(parse_container_inspect("{\"Name\":\"x\"}"));  // no Id
    EXPECT_FALSE(parse_container_inspect("not json"));
}

TEST(ContainerList, ParsesEntriesAndQuery) {
    auto list = parse_container_list(R"([
      {"Id":"a1","Names":["/tenex-a"],"Image":"tenex-probe:latest","State":"running",
       "Status":"Up 2 seconds","Created":1700000000,"Labels":{"tenex.test":"1"}},
      "junk",
      {"Id":"b2","Names":null,"Labels":null}])");
    ASSERT_TRUE(list);
    ASSERT_EQ(list->size(), 2u);
    EXPECT_EQ((*list)[0].names, std::vector<std::string>{"tenex-a"});
    EXPECT_EQ((*list)[0].labels.at("tenex.test"), "1");
    EXPECT_EQ((*list)[0].created, 1700000000);
    EXPECT_EQ((*list)[1].id, "b2");
    EXPECT_FALSE(parse_container_list("{}"));
    EXPECT_EQ(list_query({}), "?all=0");
    EXPECT_EQ(list_query({.all = true, .labels = {"tenex.test=1"}, .names = {}}),
              "?all=1&filters=%7B%22label%22%3A%5B%22tenex.test%3D1%22%5D%7D");
}

// The SAX listing parser against a naive DOM reading of the same reply.
TEST(ContainerList, SaxParserAgreesWithNaiveDomParser) {
    nlohmann::json list = nlohmann::json::array();
    for (int i = 0; i < 60; ++i) {
        nlohmann::json e = {{"Id", "id" + std::to_string(i)},
                            {"Names", {"/n" + std::to_string(i), "/alias" + std::to_string(i)}},
                            {"Image", "img"},
                            {"State", i % 2 ? "running" : "exited"},
                            {"Status", "Up"},
                            {"Created", 1700000000 + i},
                            {"Labels", {{"a", "1"}, {"b", std::to_string(i)}}},
                            {"HostConfig", {{"NetworkMode", "x"}, {"Labels", {{"deep", "no"}}}}},
                            {"NetworkSettings", {{"Networks", {{"Id", "nested-not-top"}}}}},
                            {"Mounts", {{{"Names", {"not", "names"}}, {"Created", 1}}}}};
        if (i % 7 == 0) e["Labels"] = nullptr;
        if (i % 5 == 0) e["Names"] = nlohmann::json::array({1, "/x"});
        if (i % 11 == 0) e["Created"] = 1.5e9;
        list.push_back(e);
    }
    auto sax = parse_container_list(list.dump());
    ASSERT_TRUE(sax);
    ASSERT_EQ(sax->size(), list.size());
    for (std::size_t i = 0; i < list.size(); ++i) {
        const auto& e = list[i];
        const auto& got = (*sax)[i];
        EXPECT_EQ(got.id, e["Id"].get<std::string>());
        EXPECT_EQ(got.state, e["State"].get<std::string>());
        EXPECT_EQ(got.created, static_cast<std::int64_t>(e["Created"].get<double>()));
        std::vector<std::string> names;
        for (const auto& n : e["Names"])
            if (n.is_string()) names.push_back(n.get<std::string>().substr(1));
        EXPECT_EQ(got.names, names) << i;
        std::map<std::string, std::string> labels;
        if (e["Labels"].is_object())
            for (auto it = e["Labels"].begin(); it != e["Labels"].end(); ++it)
                labels[it.key()] = it->get<std::string>();
        EXPECT_EQ(got.labels, labels) << i;
    }
    for (const char* bad : {"", "{}", "[", "[{]", "3", "\"x\"", "[1,2"})
        EXPECT_FALSE(parse_container_list(bad)) << bad;
    EXPECT_TRUE(parse_container_list("[]"));
}

}  // namespace
}  // namespace tenex::docker
