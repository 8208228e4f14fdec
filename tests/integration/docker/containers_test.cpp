// The typed container calls against the real engine.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>

#include "docker/containers.hpp"
#include "docker/logs.hpp"
#include "docker/stats.hpp"
#include "docker_fixture.hpp"
#include "environment.hpp"

namespace tenex::docker::test {
namespace {

using namespace std::chrono_literals;

TEST_F(DockerTest, NegotiatesTheLowerOfBothMaxima) {
    const auto& engine = client().engine();
    EXPECT_EQ(client().api_version(), std::min(engine.api, kClientMaxApi));
    EXPECT_GE(client().api_version(), engine.min_api);
    // A versioned call really goes through with the negotiated version.
    auto list =
        list_containers(client(), {.all = true, .labels = {"tenex.test.none=1"}, .names = {}});
    ASSERT_TRUE(list) << list.error().describe();
    EXPECT_TRUE(list->empty());
}

TEST(DockerClient, DeadSocketFailsFastWithTransportError) {
    auto start = std::chrono::steady_clock::now();
    auto c = Client::connect({.socket = "/nonexistent/tenex/docker.sock", .timeout = 2000ms});
    ASSERT_FALSE(c);
    EXPECT_TRUE(c.error().transport());
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST_F(DockerTest, CreateInspectRoundTripsEveryHostConfigField) {
    tenex::test::TempDir dir;
    std::filesystem::permissions(dir.path(), std::filesystem::perms::all);  // uid 65534 writes
    auto spec = probe_spec("roundtrip", {"report"});
    spec.entrypoint = {"/tenex-probe"};
    spec.env = {"TENEX_A=1", "TENEX_B=two words"};
    spec.labels["tenex.role"] = "round-trip";
    spec.user = "65534:65534";
    spec.working_dir = "/work";
    spec.hostname = "sandbox";
    spec.stop_signal = "SIGINT";
    spec.stop_timeout_s = 3;
    spec.memory_bytes = 96 << 20;
    spec.memory_swap_bytes = 96 << 20;
    spec.nano_cpus = 500'000'000;
    spec.cpuset_cpus = "0";
    spec.pids_limit = 64;
    spec.ulimits = {{"nofile", 512, 1024}};
    spec.read_only_rootfs = true;
    spec.tmpfs = {{"/tmp", "size=16m,mode=1777"}};
    spec.cap_drop = {"ALL"};
    spec.cap_add = {"NET_BIND_SERVICE"};
    spec.security_opt = {"no-new-privileges:true"};
    spec.init = true;
    spec.mounts = {{dir.path().string(), "/work", false}};
    spec.network_mode = "bridge";
    spec.runtime = "runc";
    spec.extra_hosts = {"relay.test:10.0.0.1"};
    spec.dns = {"10.0.0.53"};
    auto id = create(spec);
    ASSERT_FALSE(id.empty());

    auto info = inspect_container(client(), id);
    ASSERT_TRUE(info) << info.error().describe();
    const auto& got = info->spec;
    EXPECT_EQ(info->id, id);
    EXPECT_EQ(info->name, spec.name);
    EXPECT_EQ(info->state.status, "created");
    EXPECT_EQ(got.image, spec.image);
    EXPECT_EQ(got.entrypoint, spec.entrypoint);
    EXPECT_EQ(got.cmd, spec.cmd);
    for (const auto& e : spec.env)  // the engine adds the image's env (none here) to ours
        EXPECT_NE(std::find(got.env.begin(), got.env.end(), e), got.env.end()) << e;
    EXPECT_EQ(got.labels.at("tenex.role"), "round-trip");
    EXPECT_EQ(got.labels.at("tenex.test"), "1");
    EXPECT_EQ(got.user, spec.user);
    EXPECT_EQ(got.working_dir, spec.working_dir);
    EXPECT_EQ(got.hostname, spec.hostname);
    EXPECT_EQ(got.stop_signal, spec.stop_signal);
    EXPECT_EQ(got.stop_timeout_s, spec.stop_timeout_s);
    EXPECT_EQ(got.memory_bytes, spec.memory_bytes);
    EXPECT_EQ(got.memory_swap_bytes, spec.memory_swap_bytes);
    EXPECT_EQ(got.nano_cpus, spec.nano_cpus);
    EXPECT_EQ(got.cpuset_cpus, spec.cpuset_cpus);
    EXPECT_EQ(got.pids_limit, spec.pids_limit);
    EXPECT_EQ(got.ulimits, spec.ulimits);
    EXPECT_EQ(got.read_only_rootfs, true);
    EXPECT_EQ(got.tmpfs, spec.tmpfs);
    EXPECT_EQ(got.cap_drop, spec.cap_drop);
    EXPECT_EQ(got.cap_add, spec.cap_add);
    EXPECT_EQ(got.security_opt, spec.security_opt);
    EXPECT_EQ(got.init, true);
    EXPECT_EQ(got.mounts, spec.mounts);
    EXPECT_EQ(got.network_mode, spec.network_mode);
    EXPECT_EQ(got.runtime, spec.runtime);
    EXPECT_EQ(got.extra_hosts, spec.extra_hosts);
    EXPECT_EQ(got.dns, spec.dns);

    // And the fields take effect: the probe reports what the kernel enforces.
    {
        auto started = start_container(client(), id);
        ASSERT_TRUE(started) << started.error().describe();
    }
    auto waited = wait_container(client(), id);
    ASSERT_TRUE(waited) << waited.error().describe();
    EXPECT_EQ(waited->status_code, 0);
    auto logs = container_logs(client(), id);
    ASSERT_TRUE(logs) << logs.error().describe();
    const auto& out = logs->out;
    EXPECT_NE(out.find("uid=65534 euid=65534 gid=65534"), std::string::npos) << out;
    // Only NET_BIND_SERVICE (bit 10) stays in the bounding set; a non-root user has no
    // effective capabilities at all.
    EXPECT_NE(out.find("status.CapBnd=0000000000000400"), std::string::npos) << out;
    EXPECT_NE(out.find("status.CapEff=0000000000000000"), std::string::npos) << out;
    EXPECT_NE(out.find("status.NoNewPrivs=1"), std::string::npos) << out;
    EXPECT_NE(out.find("write[/]=failed error=Read-only file system"), std::string::npos) << out;
    EXPECT_NE(out.find("write[/tmp]=ok"), std::string::npos) << out;
    EXPECT_NE(out.find("write[/work]=ok"), std::string::npos) << out;
    EXPECT_NE(out.find("env=TENEX_B=two words"), std::string::npos) << out;
    bool v1 = out.find("cgroup.v1.memory.limit_in_bytes=") != std::string::npos;
    EXPECT_NE(
        out.find(v1 ? "cgroup.v1.memory.limit_in_bytes=100663296" : "cgroup.memory.max=100663296"),
        std::string::npos)
        << out;
    EXPECT_NE(out.find(v1 ? "cgroup.v1.pids.max=64" : "cgroup.pids.max=64"), std::string::npos)
        << out;
    EXPECT_NE(out.find(v1 ? "cgroup.v1.cpu.cfs_quota_us=50000" : "cgroup.cpu.max=50000 100000"),
              std::string::npos)
        << out;
}

TEST_F(DockerTest, StorageSizeIsSentAndTheEngineAnswersForIt) {
    auto spec = probe_spec("storage", {"sleep"});
    spec.storage_opt = {{"size", "1G"}};
    auto id = create_container(client(), spec);
    if (id) {
        track_container(*id);
        auto info = inspect_container(client(), *id);
        ASSERT_TRUE(info) << info.error().describe();
        EXPECT_EQ(info->spec.storage_opt, spec.storage_opt);
    } else {
        // overlay2 supports a size only on xfs with pquota: the engine refuses, naming it.
        EXPECT_FALSE(id.error().transport());
        EXPECT_NE(id.error().message.find("storage-opt"), std::string::npos)
            << id.error().describe();
    }
}

TEST_F(DockerTest, LifecycleStartStopKillWaitRemove) {
    auto id = create(probe_spec("life", {"sleep"}));
    ASSERT_FALSE(id.empty());
    {
        auto started = start_container(client(), id);
        ASSERT_TRUE(started) << started.error().describe();
    }
    EXPECT_TRUE(start_container(client(), id)) << "starting a running container is not an error";
    auto info = inspect_container(client(), id);
    ASSERT_TRUE(info);
    EXPECT_TRUE(info->state.running);
    EXPECT_GT(info->state.pid, 0);

    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(stop_container(client(), id, 10));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s) << "the probe exits on SIGTERM";
    info = inspect_container(client(), id);
    ASSERT_TRUE(info);
    EXPECT_FALSE(info->state.running);
    EXPECT_EQ(info->state.exit_code, 0);
    EXPECT_NE(info->state.finished_at.substr(0, 4), "0001");
    EXPECT_TRUE(stop_container(client(), id, 1)) << "stopping a stopped container is not an error";

    {
        auto started = start_container(client(), id);
        ASSERT_TRUE(started) << started.error().describe();
    }
    ASSERT_TRUE(kill_container(client(), id, "SIGKILL"));
    auto waited = wait_container(client(), id);
    ASSERT_TRUE(waited) << waited.error().describe();
    EXPECT_EQ(waited->status_code, 137);
    auto killed_again = kill_container(client(), id, "SIGKILL");
    ASSERT_FALSE(killed_again);
    EXPECT_TRUE(killed_again.error().conflict()) << killed_again.error().describe();

    ASSERT_TRUE(remove_container(client(), id, false, true));
    auto gone = inspect_container(client(), id);
    ASSERT_FALSE(gone);
    EXPECT_TRUE(gone.error().not_found()) << gone.error().describe();
    auto again = remove_container(client(), id);
    ASSERT_FALSE(again);
    EXPECT_TRUE(again.error().not_found());
}

TEST_F(DockerTest, StopTimeoutEndsInSigkill) {
    auto id = create(probe_spec("stubborn", {"sleep-ignore-term"}));
    {
        auto started = start_container(client(), id);
        ASSERT_TRUE(started) << started.error().describe();
    }
    ASSERT_TRUE(eventually([&] {
        auto l = container_logs(client(), id);
        return l && l->out.find("sleeping=1") != std::string::npos;
    }));
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(stop_container(client(), id, 1));
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(took, 900ms);
    auto info = inspect_container(client(), id);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->state.exit_code, 137);
}

// The probe's `listen` mode ends on SIGTERM (exit 0) rather than waiting out the stop
// timeout for SIGKILL (137): accept() is interrupted, not restarted, by the signal.
TEST_F(DockerTest, ProbeListenExitsOnSigterm) {
    auto id = create(probe_spec("listen", {"listen", "8080"}));
    {
        auto started = start_container(client(), id);
        ASSERT_TRUE(started) << started.error().describe();
    }
    ASSERT_TRUE(eventually([&] {
        auto l = container_logs(client(), id);
        return l && l->out.find("listen=ok") != std::string::npos;
    }));
    ASSERT_TRUE(stop_container(client(), id, 30));
    auto info = inspect_container(client(), id);
    ASSERT_TRUE(info);
    EXPECT_FALSE(info->state.running);
    EXPECT_EQ(info->state.exit_code, 0) << "137 means the stop had to SIGKILL it";
}

TEST_F(DockerTest, WaitReturnsTheExitCode) {
    auto id = create(probe_spec("exit7", {"exit", "7", "0.2"}));
    {
        auto started = start_container(client(), id);
        ASSERT_TRUE(started) << started.error().describe();
    }
    auto waited = wait_container(client(), id, WaitCondition::NotRunning, 30s);
    ASSERT_TRUE(waited) << waited.error().describe();
    EXPECT_EQ(waited->status_code, 7);
    auto info = inspect_container(client(), id);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->state.exit_code, 7);
    EXPECT_FALSE(info->state.oom_killed);
}

TEST_F(DockerTest, LogsAreDemultiplexed) {
    auto id = create(probe_spec("echo", {"echo", "hello tenex"}));
    {
        auto started = start_container(client(), id);
        ASSERT_TRUE(started) << started.error().describe();
    }
    ASSERT_TRUE(wait_container(client(), id));
    auto logs = container_logs(client(), id);
    ASSERT_TRUE(logs) << logs.error().describe();
    EXPECT_EQ(logs->out, "hello tenex\n");
    EXPECT_EQ(logs->err, "err:hello tenex\n");
    auto only_err = container_logs(client(), id,
                                   {.stdout_stream = false,
                                    .stderr_stream = true,
                                    .timestamps = false,
                                    .tail = {},
                                    .since = 0});
    ASSERT_TRUE(only_err);
    EXPECT_EQ(only_err->out, "");
    EXPECT_EQ(only_err->err, "err:hello tenex\n");
}

TEST_F(DockerTest, FollowLogsStopsPromptlyOnCancel) {
    auto id = create(probe_spec("follow", {"sleep"}));
    {
        auto started = start_container(client(), id);
        ASSERT_TRUE(started) << started.error().describe();
    }
    std::stop_source stop;
    std::atomic<bool> saw{false};
    std::string text;
    std::thread reader([&] {
        auto r = follow_logs(
            client(), id, {},
            [&](LogStream s, std::string_view d) {
                if (s == LogStream::Stdout) text.append(d);
                if (text.find("sleeping=1") != std::string::npos) saw = true;
                return true;
            },
            stop.get_token());
        EXPECT_TRUE(r) << r.error().describe();
    });
    EXPECT_TRUE(eventually([&] { return saw.load(); }, 10s));
    auto t0 = std::chrono::steady_clock::now();
    stop.request_stop();
    reader.join();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
}

TEST_F(DockerTest, FollowLogsEndsWhenTheContainerExits) {
    auto id = create(probe_spec("follow-exit", {"exit", "0", "0.5"}));
    {
        auto started = start_container(client(), id);
        ASSERT_TRUE(started) << started.error().describe();
    }
    std::string text;
    auto r = follow_logs(client(), id, {}, [&](LogStream, std::string_view d) {
        text.append(d);
        return true;
    });
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_NE(text.find("exit_code=0"), std::string::npos) << text;
}

TEST_F(DockerTest, OneShotStats) {
    auto spec = probe_spec("stats", {"alloc", "48", "hold"});
    spec.memory_bytes = 128 << 20;
    spec.memory_swap_bytes = 128 << 20;
    auto id = create(spec);
    {
        auto started = start_container(client(), id);
        ASSERT_TRUE(started) << started.error().describe();
    }
    ASSERT_TRUE(eventually([&] {
        auto l = container_logs(client(), id);
        return l && l->out.find("done=1") != std::string::npos;
    }));
    auto stats = container_stats(client(), id);
    ASSERT_TRUE(stats) << stats.error().describe();
    EXPECT_EQ(stats->memory_limit, 128u << 20);
    EXPECT_GE(stats->memory_usage, 48u << 20);
    EXPECT_LT(stats->memory_usage, 128u << 20);
    EXPECT_GE(stats->pids, 1u);
    EXPECT_GE(stats->cpu_percent, 0.0);
    EXPECT_GT(stats->online_cpus, 0);
}

TEST_F(DockerTest, NameConflictIs409) {
    auto spec = probe_spec("dup", {"sleep"});
    ASSERT_FALSE(create(spec).empty());
    auto second = create_container(client(), spec);
    ASSERT_FALSE(second);
    EXPECT_TRUE(second.error().conflict()) << second.error().describe();
    EXPECT_NE(second.error().message.find("already in use"), std::string::npos);
    EXPECT_NE(second.error().describe().find(spec.name), std::string::npos);
}

TEST_F(DockerTest, MissingImageAndContainerAre404) {
    auto spec = probe_spec("noimage", {});
    spec.image = "tenex-no-such-image:never";
    auto r = create_container(client(), spec);
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().not_found()) << r.error().describe();
    auto s = start_container(client(), "tenex-no-such-container");
    ASSERT_FALSE(s);
    EXPECT_TRUE(s.error().not_found());
}

TEST_F(DockerTest, ListFiltersByLabelAllOrRunning) {
    std::string group = unique_name("group");
    auto a = probe_spec("la", {"sleep"});
    auto b = probe_spec("lb", {"sleep"});
    auto c = probe_spec("lc", {"sleep"});
    a.labels["tenex.test.group"] = group;
    b.labels["tenex.test.group"] = group;
    auto ida = create(a);
    auto idb = create(b);
    create(c);
    ASSERT_TRUE(start_container(client(), ida));
    ListOptions all{.all = true, .labels = {"tenex.test.group=" + group}, .names = {}};
    auto listed = list_containers(client(), all);
    ASSERT_TRUE(listed) << listed.error().describe();
    ASSERT_EQ(listed->size(), 2u);
    for (const auto& s : *listed) {
        EXPECT_TRUE(s.id == ida || s.id == idb);
        EXPECT_EQ(s.labels.at("tenex.test.group"), group);
        ASSERT_EQ(s.names.size(), 1u);
        EXPECT_TRUE(s.names[0] == a.name || s.names[0] == b.name);
    }
    ListOptions running = all;
    running.all = false;
    auto up = list_containers(client(), running);
    ASSERT_TRUE(up);
    ASSERT_EQ(up->size(), 1u);
    EXPECT_EQ((*up)[0].id, ida);
    EXPECT_EQ((*up)[0].state, "running");
}

TEST_F(DockerTest, SafeFromSeveralThreads) {
    auto id = create(probe_spec("threads", {"sleep"}));
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 10; ++i) {
                if (inspect_container(client(), id)) ++ok;
                if (list_containers(
                        client(),
                        {.all = true, .labels = {"tenex.test.run=" + run_id()}, .names = {}}))
                    ++ok;
            }
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok.load(), 80);
}

}  // namespace
}  // namespace tenex::docker::test
