// Idle projects end to end (issue 20): the daemon as a process, the embedded relay, the real
// engine and the probe in Nostr mode under per-project policies with short timers. A paused
// project is thawed by a message and the same process answers it over the websocket it had;
// an idle-stopped project is kept and started again (same container) by the next message;
// a policy change replaces the kept container; a restarted daemon adopts a paused one.
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "e2e_fixture.hpp"
#include "node_peer.hpp"

namespace tenex::e2e {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class Lifecycle : public EndToEnd {
  protected:
    void write_policy(const std::string& name, const std::string& d_suffix,
                      const std::string& body) {
        std::ofstream out(dir_->path() / "policies" / (name + ".yaml"));
        out << "match:\n  d: [e2e-" << d_suffix << "]\n" << body;
    }
    std::optional<nlohmann::json> project_view(const std::string& address) {
        auto r = http_get(http_port_, "/projects");
        auto list = nlohmann::json::parse(r.body, nullptr, false);
        if (!list.is_array()) return std::nullopt;
        for (auto& p : list)
            if (p.value("address", "") == address) return p;
        return std::nullopt;
    }
    std::string state_of(const std::string& address) {
        auto v = project_view(address);
        return v ? v->value("state", "") : "";
    }
    std::optional<docker::ContainerInfo> container_of(const std::string& address) {
        for (const auto& c : containers())
            if (c.labels.count("tenex.project") && c.labels.at("tenex.project") == address) {
                auto info = docker::inspect_container(*docker_, c.id);
                if (info) return *info;
            }
        return std::nullopt;
    }
    // A message and the probe's reply to it.
    void exchange(const std::string& address, const std::string& text) {
        const auto message = publish_message(*owner_, address, text);
        ASSERT_TRUE(eventually([&] { return reply_to(message, address).has_value(); }, 60s))
            << "no reply from the probe to \"" << text << "\"";
    }
};

TEST_F(Lifecycle, APausedProjectIsThawedByAMessageAndTheSameProcessAnswers) {
    write_policy("paused", "paused", "lifecycle:\n  pause_after: 3s\n  idle_timeout: 10m\n");
    start_daemon();
    const std::string address = publish_project(*owner_, "paused");
    exchange(address, "first");
    ASSERT_TRUE(eventually([&] { return metric("tenex_gateway_connections") == 1; }, 10s));
    auto before = container_of(address);
    ASSERT_TRUE(before);

    ASSERT_TRUE(eventually([&] { return state_of(address) == "paused"; }, 30s)) << daemon_->log();
    auto frozen = docker::inspect_container(*docker_, before->id);
    ASSERT_TRUE(frozen);
    EXPECT_TRUE(frozen->state.paused);
    auto view = project_view(address);
    EXPECT_EQ(view->value("next_transition", ""), "stop");
    // ps shows it paused, with the time to its idle stop.
    auto ps = relay::testing::run_program(
        test::tenex_binary().string(), {"ps", "--http", "127.0.0.1:" + std::to_string(http_port_)});
    EXPECT_NE(ps.out.find("paused"), std::string::npos) << ps.out;
    EXPECT_NE(ps.out.find("stop in "), std::string::npos) << ps.out;
    // The paused container keeps its gateway connection.
    std::this_thread::sleep_for(2s);
    EXPECT_EQ(metric("tenex_gateway_connections"), 1);

    exchange(address, "after the pause");
    auto after = docker::inspect_container(*docker_, before->id);
    ASSERT_TRUE(after);
    EXPECT_TRUE(after->state.running);
    EXPECT_FALSE(after->state.paused);
    // The same container and the same process (PID 1's host pid and start time).
    EXPECT_EQ(after->state.pid, before->state.pid);
    EXPECT_EQ(after->state.started_at, before->state.started_at);
    EXPECT_EQ(containers().size(), 1u);
    EXPECT_EQ(state_of(address), "running");
    EXPECT_EQ(project_view(address)->value("last_wake", ""), "unpause");
    EXPECT_EQ(metric("tenex_container_starts_total"), 1);
}

TEST_F(Lifecycle, AnIdleStoppedProjectIsKeptStartedAgainAndReplacedWhenItsPolicyChanges) {
    write_policy("kept", "kept",
                 "lifecycle:\n  pause_after: 0s\n  idle_timeout: 6s\n  keep_stopped: 1h\n");
    start_daemon();
    const std::string address = publish_project(*owner_, "kept");
    exchange(address, "first");
    auto first = container_of(address);
    ASSERT_TRUE(first);

    ASSERT_TRUE(eventually(
        [&] {
            auto v = project_view(address);
            return v && v->value("state", "") == "stopped" && v->value("kept", false);
        },
        30s))
        << daemon_->log();
    auto stopped = docker::inspect_container(*docker_, first->id);
    ASSERT_TRUE(stopped) << "the kept container was removed";
    EXPECT_FALSE(stopped->state.running);
    EXPECT_EQ(project_view(address)->value("next_transition", ""), "remove");

    // Started again: the same container (its gateway secret still valid: the probe answers).
    exchange(address, "warm");
    auto warm = container_of(address);
    ASSERT_TRUE(warm);
    EXPECT_EQ(warm->id, first->id);
    EXPECT_TRUE(warm->state.running);
    EXPECT_NE(warm->state.started_at, first->state.started_at);
    EXPECT_EQ(project_view(address)->value("last_wake", ""), "warm");
    EXPECT_EQ(containers().size(), 1u);

    // Stopped and kept again, then a new policy (fewer PIDs: a new digest): the next message
    // removes the kept container and creates one from the new policy.
    ASSERT_TRUE(eventually([&] { return project_view(address)->value("kept", false); }, 30s));
    write_policy("kept", "kept",
                 "resources:\n  pids: 24\n"
                 "lifecycle:\n  pause_after: 0s\n  idle_timeout: 6s\n  keep_stopped: 1h\n");
    daemon_->signal(SIGHUP);
    std::this_thread::sleep_for(2s);
    exchange(address, "after the policy change");
    auto fresh = container_of(address);
    ASSERT_TRUE(fresh);
    EXPECT_NE(fresh->id, first->id);
    EXPECT_EQ(fresh->spec.pids_limit.value_or(0), 24);
    EXPECT_FALSE(docker::inspect_container(*docker_, first->id)) << "the old container is left";
    EXPECT_EQ(containers().size(), 1u);
    EXPECT_EQ(project_view(address)->value("last_wake", ""), "create");
}

// Disk pressure (issue 20): a daemon whose engine data root has less free space than
// disk_pressure.min_free (here more than any disk has) removes a kept container instead of
// keeping it for keep_stopped; the next message creates a new one.
TEST_F(Lifecycle, UnderDiskPressureAKeptContainerIsRemoved) {
    write_policy("pressed", "pressed",
                 "lifecycle:\n  pause_after: 0s\n  idle_timeout: 5s\n  keep_stopped: 1h\n");
    const auto config = dir_->path() / "pressed.yaml";
    std::ofstream(config) << "whitelist: [" << owner_->pub.hex()
                          << "]\ndisk_pressure:\n  min_free: 1000Ti\n";
    start_daemon({"-c", config.string()});
    const std::string address = publish_project(*owner_, "pressed");
    exchange(address, "first");
    auto first = container_of(address);
    ASSERT_TRUE(first);
    // Stopped at the idle timeout, then removed at a disk check (every 10 s).
    ASSERT_TRUE(eventually([&] { return containers().empty(); }, 40s)) << daemon_->log();
    ASSERT_TRUE(eventually(
        [&] {
            auto v = project_view(address);
            return v && v->value("state", "") == "stopped" && !v->value("kept", true);
        },
        5s))
        << project_view(address).value_or(nlohmann::json()).dump();
    EXPECT_NE(daemon_->log().find("disk pressure"), std::string::npos) << daemon_->log();
    exchange(address, "after the removal");
    auto fresh = container_of(address);
    ASSERT_TRUE(fresh);
    EXPECT_NE(fresh->id, first->id);
    EXPECT_EQ(project_view(address)->value("last_wake", ""), "create");
}

// A project at work on its own (an agent on a long task that no new message started) is not
// stopped under it: what it publishes through its gateway restarts its idle timer, except the
// TENEX runtime's periodic status (kind 24010), which a project sends whether it works or not.
TEST_F(Lifecycle, WhatAProjectPublishesThroughItsGatewayKeepsItAwakeButItsStatusDoesNot) {
    write_policy("busy", "busy", "lifecycle:\n  pause_after: 0s\n  idle_timeout: 5s\n");
    start_daemon();
    const std::string address = publish_project(*owner_, "busy");
    exchange(address, "first");
    auto info = container_of(address);
    ASSERT_TRUE(info);
    // The container's own gateway URL, reached from here (the gateway listens on loopback).
    std::string secret;
    const std::string prefix =
        "TENEX_RELAYS=ws://tenex-gateway:" + std::to_string(gateway_port_) + "/";
    for (const auto& e : info->spec.env)
        if (e.rfind(prefix, 0) == 0) secret = e.substr(prefix.size());
    ASSERT_EQ(secret.size(), 64u) << "no gateway secret in the container's environment";
    relay::RelayPool inside;
    ASSERT_TRUE(inside.add_relay("ws://127.0.0.1:" + std::to_string(gateway_port_) + "/" + secret));
    ASSERT_TRUE(inside.wait_connected(1, 5s));
    const auto agent = nostr::Keys::generate();  // a key of the runtime's own, bound on first use
    auto publish_inside = [&](std::uint32_t kind, const std::string& text) {
        auto ok = inside.publish(sign_message(agent, address, text, kind), 5s).get();
        ASSERT_FALSE(ok.relays.empty());
        ASSERT_TRUE(ok.relays.front().accepted) << ok.relays.front().message;
    };

    // Twice the idle timeout of work, one event a second: still running.
    for (int i = 0; i < 10; ++i) {
        publish_inside(1, "working " + std::to_string(i));
        std::this_thread::sleep_for(1s);
        ASSERT_EQ(state_of(address), "running") << "stopped while it worked, after " << i << " s\n"
                                                << daemon_->log();
    }
    // Only its status from now on: it idles and is stopped.
    bool stopped = false;
    for (int i = 0; i < 20 && !stopped; ++i) {
        publish_inside(24010, "status " + std::to_string(i));
        std::this_thread::sleep_for(1s);
        stopped = state_of(address) == "stopped";
    }
    EXPECT_TRUE(stopped) << "the status events kept it awake: " << state_of(address) << "\n"
                         << daemon_->log();
}

TEST_F(Lifecycle, ARestartedDaemonAdoptsAPausedContainerAsPaused) {
    write_policy("adopt", "adopt", "lifecycle:\n  pause_after: 3s\n  idle_timeout: 10m\n");
    start_daemon();
    const std::string address = publish_project(*owner_, "adopt");
    exchange(address, "first");
    ASSERT_TRUE(eventually([&] { return state_of(address) == "paused"; }, 30s)) << daemon_->log();
    auto before = container_of(address);
    ASSERT_TRUE(before);
    ASSERT_TRUE(before->state.paused);

    kill_daemon(SIGTERM);  // leaves the projects to the next daemon
    start_daemon();
    ASSERT_TRUE(eventually([&] { return state_of(address) == "paused"; }, 30s)) << daemon_->log();
    auto view = project_view(address);
    EXPECT_EQ(view->value("container_id", ""), before->id);
    EXPECT_EQ(view->value("last_wake", ""), "adopted");
    auto still = docker::inspect_container(*docker_, before->id);
    ASSERT_TRUE(still);
    EXPECT_TRUE(still->state.paused);

    exchange(address, "after the daemon restart");
    auto after = docker::inspect_container(*docker_, before->id);
    ASSERT_TRUE(after);
    EXPECT_FALSE(after->state.paused);
    EXPECT_EQ(after->state.pid, before->state.pid);
    EXPECT_EQ(containers().size(), 1u);
}

// What happened to a sandbox reaches its owner on Nostr: an OOM kill and a crash loop (with
// the last exit code) as kind 24013 (ephemeral: seen live), the last state as kind 34013 (kept
// by the relay), both read by nostr-tools, an implementation that is not ours, which verifies
// each event's id and signature (client.mjs exits 3 on one that does not verify).
TEST_F(Lifecycle, OomAndCrashLoopAreToldOnNostrSignedByTheDaemonAndVerifiedByNostrTools) {
    TENEX_REQUIRE_RELAY_PEERS();
    write_policy(
        "oom", "oom",
        "args: [alloc, \"256\", hold]\nresources:\n  memory: 32Mi\nnetwork:\n  mode: none\n"
        "lifecycle:\n  restart: never\n");
    write_policy("loop", "loop",
                 "args: [exit, \"3\"]\nnetwork:\n  mode: none\n"
                 "lifecycle:\n  restart: on-failure\n  backoff_initial: 100ms\n"
                 "  crash_loop_threshold: 2\n  crash_loop_window: 1m\n");
    start_daemon();
    const std::string daemon_pubkey =
        nlohmann::json::parse(http_get(http_port_, "/healthz").body)["pubkey"].get<std::string>();
    const std::string oom = publish_project(*owner_, "oom");
    const std::string loop = publish_project(*owner_, "loop");

    // nostr-tools listens for the daemon's live events before anything happens.
    const auto ready = dir_->path() / "listener-ready";
    const nlohmann::json live = {{"kinds", {24013}}, {"authors", {daemon_pubkey}}};
    relay::testing::RunResult heard;
    std::jthread listener([&] {  // joined however the test ends
        heard = relay::testing::run_node("client.mjs",
                                         {"listen", relay_url_, live.dump(), "30", ready.string()});
    });
    ASSERT_TRUE(eventually([&] { return fs::exists(ready); }, 20s))
        << "nostr-tools did not subscribe";

    publish_message(*owner_, oom, "use too much memory");
    publish_message(*owner_, loop, "exit at once");
    ASSERT_TRUE(eventually([&] { return state_of(loop) == "crash-looping"; }, 60s))
        << daemon_->log();
    ASSERT_TRUE(eventually([&] { return state_of(oom) == "failed"; }, 30s)) << daemon_->log();
    listener.join();  // it listens for 30 s: long after the crash loop
    ASSERT_EQ(heard.exit_code, 0) << heard.out;

    auto tag = [](const nlohmann::json& ev, const std::string& name) -> std::string {
        for (const auto& t : ev["tags"])
            if (t.size() >= 2 && t[0] == name) return t[1];
        return "";
    };
    std::vector<nlohmann::json> oom_events, loop_events;
    for (const auto& line : relay::testing::lines(heard.out)) {
        auto ev = nlohmann::json::parse(line);
        EXPECT_EQ(ev["pubkey"], daemon_pubkey);
        EXPECT_EQ(tag(ev, "p"), owner_->pub.hex());
        if (tag(ev, "a") == oom) oom_events.push_back(ev);
        if (tag(ev, "a") == loop) loop_events.push_back(ev);
    }
    auto count = [&](const std::vector<nlohmann::json>& events, const std::string& state) {
        return std::count_if(events.begin(), events.end(),
                             [&](const auto& ev) { return tag(ev, "state") == state; });
    };
    // One event per transition: one OOM kill, one crash loop however long it loops.
    EXPECT_EQ(count(oom_events, "oom-killed"), 1) << heard.out;
    EXPECT_EQ(count(loop_events, "crash-looping"), 1) << heard.out;
    for (const auto& ev : loop_events)
        if (tag(ev, "state") == "crash-looping") {
            EXPECT_EQ(tag(ev, "exit"), "3");
            // Never container output: the content is the lifecycle line, not the probe's.
            EXPECT_EQ(ev["content"].get<std::string>().find("exit_code="), std::string::npos);
        }

    // The last state, kept by the relay for a client that connects later.
    const nlohmann::json last = {{"kinds", {34013}}, {"authors", {daemon_pubkey}}, {"#d", {loop}}};
    auto stored = relay::testing::run_node("client.mjs", {"query", relay_url_, last.dump()});
    ASSERT_EQ(stored.exit_code, 0) << stored.out;
    auto kept = relay::testing::lines(stored.out);
    ASSERT_EQ(kept.size(), 1u) << stored.out;
    EXPECT_EQ(tag(nlohmann::json::parse(kept[0]), "state"), "crash-looping");
}
}  // namespace
}  // namespace tenex::e2e
