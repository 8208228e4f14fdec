#include "daemon/metrics.hpp"

#include <gtest/gtest.h>

#include <regex>

namespace tenex::daemon {
namespace {

// The value of the sample line that starts with `series` ("name{labels}"), or -1.
double sample(const std::string& text, const std::string& series) {
    std::size_t pos = 0;
    while ((pos = text.find(series + " ", pos)) != std::string::npos) {
        if (pos == 0 || text[pos - 1] == '\n')
            return std::stod(text.substr(pos + series.size() + 1));
        pos += series.size();
    }
    return -1;
}

TEST(Metrics, AllSeriesExistFromTheStartWithTypes) {
    Metrics m;
    auto text = m.serialize();
    // (Families labelled by relay appear with their first relay.)
    for (auto name :
         {"tenex_events_accepted_total", "tenex_events_rejected_total", "tenex_triggers_total",
          "tenex_container_starts_total", "tenex_container_restarts_total", "tenex_oom_kills_total",
          "tenex_trigger_to_running_seconds", "tenex_projects", "tenex_queue_depth"}) {
        EXPECT_NE(text.find(std::string("# HELP ") + name + " "), std::string::npos) << name;
    }
    EXPECT_NE(text.find("# TYPE tenex_events_accepted_total counter"), std::string::npos);
    EXPECT_NE(text.find("# TYPE tenex_projects gauge"), std::string::npos);
    EXPECT_NE(text.find("# TYPE tenex_trigger_to_running_seconds histogram"), std::string::npos);
    for (auto reason : kRejectReasons)
        EXPECT_EQ(
            sample(text, "tenex_events_rejected_total{reason=\"" + std::string(reason) + "\"}"), 0)
            << reason;
    for (auto state : {"stopped", "starting", "running", "paused", "stopping", "backing-off",
                       "crash-looping", "failed"})
        EXPECT_EQ(sample(text, std::string("tenex_projects{state=\"") + state + "\"}"), 0) << state;
    EXPECT_EQ(sample(text, "tenex_triggers_total{kind=\"start\"}"), 0);
    EXPECT_EQ(sample(text, "tenex_triggers_total{kind=\"touch\"}"), 0);
}

TEST(Metrics, CountersCountWithLabels) {
    Metrics m;
    m.event_received("wss://relay.one");
    m.event_received("wss://relay.one");
    m.event_received("ws://127.0.0.1:7777");
    m.event_accepted();
    m.event_rejected("not_whitelisted");
    m.event_rejected("not_whitelisted");
    m.event_rejected("rate_limited");
    m.event_rejected("something \"hostile\"\n");
    m.trigger("start");
    m.trigger("touch");
    m.trigger("touch");
    m.trigger("bogus");
    m.container_started();
    m.container_restarted();
    m.container_restarted();
    m.oom_killed();
    m.set_queue_depth(42);
    auto text = m.serialize();
    EXPECT_EQ(sample(text, "tenex_events_received_total{relay=\"wss://relay.one\"}"), 2);
    EXPECT_EQ(sample(text, "tenex_events_received_total{relay=\"ws://127.0.0.1:7777\"}"), 1);
    EXPECT_EQ(sample(text, "tenex_events_accepted_total"), 1);
    EXPECT_EQ(sample(text, "tenex_events_rejected_total{reason=\"not_whitelisted\"}"), 2);
    EXPECT_EQ(sample(text, "tenex_events_rejected_total{reason=\"rate_limited\"}"), 1);
    EXPECT_EQ(sample(text, "tenex_events_rejected_total{reason=\"other\"}"), 1);
    EXPECT_EQ(text.find("hostile"), std::string::npos);
    EXPECT_EQ(sample(text, "tenex_triggers_total{kind=\"start\"}"), 1);
    EXPECT_EQ(sample(text, "tenex_triggers_total{kind=\"touch\"}"), 2);
    EXPECT_EQ(text.find("bogus"), std::string::npos);
    EXPECT_EQ(sample(text, "tenex_container_starts_total"), 1);
    EXPECT_EQ(sample(text, "tenex_container_restarts_total"), 2);
    EXPECT_EQ(sample(text, "tenex_oom_kills_total"), 1);
    EXPECT_EQ(sample(text, "tenex_queue_depth"), 42);
}

TEST(Metrics, HistogramBucketsAreCumulative) {
    Metrics m;
    m.observe_trigger_to_running(0.01);
    m.observe_trigger_to_running(0.3);
    m.observe_trigger_to_running(2.5);
    m.observe_trigger_to_running(100);
    auto text = m.serialize();
    const std::string h = "tenex_trigger_to_running_seconds";
    EXPECT_EQ(sample(text, h + "_count"), 4);
    EXPECT_NEAR(sample(text, h + "_sum"), 102.81, 1e-9);
    EXPECT_EQ(sample(text, h + "_bucket{le=\"0.05\"}"), 1);
    EXPECT_EQ(sample(text, h + "_bucket{le=\"0.5\"}"), 2);
    EXPECT_EQ(sample(text, h + "_bucket{le=\"3\"}"), 3);
    EXPECT_EQ(sample(text, h + "_bucket{le=\"60\"}"), 3);
    EXPECT_EQ(sample(text, h + "_bucket{le=\"+Inf\"}"), 4);
    auto buckets = trigger_to_running_buckets();
    EXPECT_EQ(buckets.front(), 0.05);
    EXPECT_EQ(buckets.back(), 60);
}

TEST(Metrics, ProjectsByStateResetsMissingStates) {
    Metrics m;
    m.set_projects_by_state({{"running", 3}, {"failed", 1}});
    auto text = m.serialize();
    EXPECT_EQ(sample(text, "tenex_projects{state=\"running\"}"), 3);
    EXPECT_EQ(sample(text, "tenex_projects{state=\"failed\"}"), 1);
    m.set_projects_by_state({{"stopped", 2}});
    text = m.serialize();
    EXPECT_EQ(sample(text, "tenex_projects{state=\"running\"}"), 0);
    EXPECT_EQ(sample(text, "tenex_projects{state=\"failed\"}"), 0);
    EXPECT_EQ(sample(text, "tenex_projects{state=\"stopped\"}"), 2);
}

TEST(Metrics, SwarmNodesCountStartsAndRunningProjects) {
    Metrics m;
    m.container_started();  // one engine: no node series
    EXPECT_EQ(m.serialize().find("tenex_node_container_starts_total{"), std::string::npos);
    m.container_started("tnx-swarm-2");
    m.container_started("tnx-swarm-2");
    m.container_started("tnx-swarm-3");
    m.set_running_by_node({{"tnx-swarm-2", 2}, {"tnx-swarm-3", 1}});
    auto text = m.serialize();
    EXPECT_EQ(sample(text, "tenex_container_starts_total"), 4);
    EXPECT_EQ(sample(text, "tenex_node_container_starts_total{node=\"tnx-swarm-2\"}"), 2);
    EXPECT_EQ(sample(text, "tenex_node_container_starts_total{node=\"tnx-swarm-3\"}"), 1);
    EXPECT_EQ(sample(text, "tenex_node_projects_running{node=\"tnx-swarm-2\"}"), 2);
    // A node that runs nothing any more reads 0.
    m.set_running_by_node({{"tnx-swarm-2", 1}});
    text = m.serialize();
    EXPECT_EQ(sample(text, "tenex_node_projects_running{node=\"tnx-swarm-2\"}"), 1);
    EXPECT_EQ(sample(text, "tenex_node_projects_running{node=\"tnx-swarm-3\"}"), 0);
}

TEST(Metrics, RelayGaugesFollowThePoolAndHideCredentials) {
    Metrics m;
    relay::RelayStatus a;
    a.url = "wss://user:secret@relay.example/path?token=abc";
    a.connected = true;
    a.reconnects = 3;
    a.invalid_events = 5;
    relay::RelayStatus b;
    b.url = "ws://127.0.0.1:7777";
    m.set_relays({a, b});
    auto text = m.serialize();
    EXPECT_EQ(text.find("secret"), std::string::npos);
    EXPECT_EQ(text.find("token"), std::string::npos);
    EXPECT_EQ(sample(text, "tenex_relay_connected{relay=\"wss://relay.example/path\"}"), 1);
    EXPECT_EQ(sample(text, "tenex_relay_reconnects{relay=\"wss://relay.example/path\"}"), 3);
    EXPECT_EQ(sample(text, "tenex_relay_invalid_events{relay=\"wss://relay.example/path\"}"), 5);
    EXPECT_EQ(sample(text, "tenex_relay_connected{relay=\"ws://127.0.0.1:7777\"}"), 0);
    b.connected = true;
    m.set_relays({b});  // relay a removed (SIGHUP)
    text = m.serialize();
    EXPECT_EQ(text.find("relay.example"), std::string::npos);
    EXPECT_EQ(sample(text, "tenex_relay_connected{relay=\"ws://127.0.0.1:7777\"}"), 1);
}

TEST(Metrics, EgressConnectionsByOutcome) {
    Metrics m;
    auto text = m.serialize();
    EXPECT_EQ(sample(text, "tenex_egress_connections{outcome=\"forwarded\"}"), 0);
    EXPECT_EQ(sample(text, "tenex_egress_connections{outcome=\"refused\"}"), 0);
    m.set_egress(12, 1744);
    text = m.serialize();
    EXPECT_EQ(sample(text, "tenex_egress_connections{outcome=\"forwarded\"}"), 12);
    EXPECT_EQ(sample(text, "tenex_egress_connections{outcome=\"refused\"}"), 1744);
}

TEST(Metrics, LoopFailuresByLoop) {
    Metrics m;
    auto text = m.serialize();
    for (auto loop : {"daemon", "daemon_workers", "orchestrator"})
        EXPECT_EQ(sample(text, std::string("tenex_loop_failures{loop=\"") + loop + "\"}"), 0)
            << loop;
    m.set_loop_failures("orchestrator", 3);
    m.set_loop_failures("daemon", 1);
    text = m.serialize();
    EXPECT_EQ(sample(text, "tenex_loop_failures{loop=\"orchestrator\"}"), 3);
    EXPECT_EQ(sample(text, "tenex_loop_failures{loop=\"daemon\"}"), 1);
    EXPECT_EQ(sample(text, "tenex_loop_failures{loop=\"daemon_workers\"}"), 0);
    // The gateway's deliveries come with its stats, as the daemon's status tick sets them.
    EXPECT_EQ(sample(text, "tenex_loop_failures{loop=\"gateway\"}"), -1);
    gateway::GatewayStats gw;
    gw.loop_failures = 2;
    m.set_gateway(gw);
    EXPECT_EQ(sample(text = m.serialize(), "tenex_loop_failures{loop=\"gateway\"}"), 2);
}

TEST(Metrics, RedactRelayUrl) {
    EXPECT_EQ(redact_relay_url("wss://u:p@host:443/x?y=1#z"), "wss://host:443/x");
    EXPECT_EQ(redact_relay_url("ws://host"), "ws://host");
    EXPECT_EQ(redact_relay_url("ws://host/a@b"), "ws://host/a@b");
    EXPECT_EQ(redact_relay_url(""), "");
}

// Per-project series (metrics.per_project).
const std::string kA = "31933:aa:alpha";
const std::string kB = "31933:bb:beta";

std::string of(const std::string& name, const std::string& project, const std::string& extra = "") {
    return name + "{project=\"" + project + "\"" + extra + "}";
}

ProjectSample running(const std::string& project) {
    return {.project = project,
            .state = "running",
            .container_id = "c1",
            .cpu_seconds = 1.5,
            .memory_used = 40u << 20,
            .memory_limit = 64u << 20,
            .restarts = 0,
            .oom_kills = 0,
            .last_wake_seconds = 0.25};
}

TEST(Metrics, PerProjectSeriesArePresentAndFollowTheProject) {
    Metrics m;
    m.set_projects({running(kA)}, 100);
    auto text = m.serialize();
    EXPECT_EQ(sample(text, of("tenex_project_state", kA, ",state=\"running\"")), 1);
    EXPECT_EQ(sample(text, of("tenex_project_cpu_seconds_total", kA)), 1.5);
    EXPECT_EQ(sample(text, of("tenex_project_memory_bytes", kA)), 40 << 20);
    EXPECT_EQ(sample(text, of("tenex_project_memory_limit_bytes", kA)), 64 << 20);
    EXPECT_EQ(sample(text, of("tenex_project_restarts_total", kA)), 0);
    EXPECT_EQ(sample(text, of("tenex_project_oom_kills_total", kA)), 0);
    EXPECT_EQ(sample(text, of("tenex_project_last_wake_seconds", kA)), 0.25);
    EXPECT_EQ(sample(text, of("tenex_project_state_seconds_total", kA, ",state=\"running\"")), 0);
    EXPECT_NE(text.find("# TYPE tenex_project_cpu_seconds_total counter"), std::string::npos);
    EXPECT_NE(text.find("# TYPE tenex_project_state gauge"), std::string::npos);

    // 10 s later: more CPU, a restart (a new container), an OOM kill, paused.
    auto s = running(kA);
    s.cpu_seconds = 4.0;
    m.set_projects({s}, 105);
    s.container_id = "c2";
    s.cpu_seconds = 0.5;  // the new container's own total
    s.restarts = 1;
    s.oom_kills = 2;
    s.state = "paused";
    m.set_projects({s}, 110);
    text = m.serialize();
    EXPECT_EQ(sample(text, of("tenex_project_cpu_seconds_total", kA)), 4.5);
    EXPECT_EQ(sample(text, of("tenex_project_restarts_total", kA)), 1);
    EXPECT_EQ(sample(text, of("tenex_project_oom_kills_total", kA)), 2);
    // One series for the state: the old one is gone.
    EXPECT_EQ(sample(text, of("tenex_project_state", kA, ",state=\"paused\"")), 1);
    EXPECT_EQ(sample(text, of("tenex_project_state", kA, ",state=\"running\"")), -1);
    EXPECT_EQ(sample(text, of("tenex_project_state_seconds_total", kA, ",state=\"running\"")), 10);
    EXPECT_EQ(sample(text, of("tenex_project_state_seconds_total", kA, ",state=\"paused\"")), 0);

    // Stopped; an operator restart set the restart count back to 0: the counter stays.
    s.state = "stopped";
    s.memory_used = 0;
    s.cpu_seconds.reset();
    s.restarts = 0;
    m.set_projects({s}, 113);
    text = m.serialize();
    EXPECT_EQ(sample(text, of("tenex_project_state_seconds_total", kA, ",state=\"paused\"")), 3);
    EXPECT_EQ(sample(text, of("tenex_project_state", kA, ",state=\"stopped\"")), 1);
    EXPECT_EQ(sample(text, of("tenex_project_memory_bytes", kA)), 0);
    EXPECT_EQ(sample(text, of("tenex_project_cpu_seconds_total", kA)), 4.5);
    EXPECT_EQ(sample(text, of("tenex_project_restarts_total", kA)), 1);
    s.restarts = 1;
    m.set_projects({s}, 114);
    EXPECT_EQ(sample(m.serialize(), of("tenex_project_restarts_total", kA)), 2);
}

TEST(Metrics, PerProjectSeriesAreRemovedWhenTheProjectIsForgotten) {
    Metrics m;
    auto b = running(kB);
    b.state = "paused";
    m.set_projects({running(kA), b}, 1);
    m.set_projects({running(kA), b}, 2);
    auto text = m.serialize();
    ASSERT_EQ(sample(text, of("tenex_project_state", kB, ",state=\"paused\"")), 1);
    m.set_projects({running(kA)}, 3);
    text = m.serialize();
    EXPECT_EQ(text.find("beta"), std::string::npos) << text;  // no series of kB at all
    EXPECT_EQ(sample(text, of("tenex_project_state", kA, ",state=\"running\"")), 1);
    m.set_projects({}, 4);
    text = m.serialize();
    EXPECT_EQ(text.find("project=\""), std::string::npos) << text;
    // Back again: counted from 0, as a new series.
    m.set_projects({b}, 5);
    EXPECT_EQ(
        sample(m.serialize(), of("tenex_project_state_seconds_total", kB, ",state=\"paused\"")), 0);
}

TEST(Metrics, PerProjectSeriesOffShowNothing) {
    Metrics m;
    m.set_projects({running(kA)}, 1);
    m.configure_projects(false, 1000);
    auto text = m.serialize();
    EXPECT_EQ(text.find("tenex_project_"), std::string::npos) << text;
    m.set_projects({running(kA), running(kB)}, 2);
    text = m.serialize();
    EXPECT_EQ(text.find("tenex_project_"), std::string::npos) << text;
    EXPECT_NE(text.find("tenex_projects{state=\"running\"}"),
              std::string::npos);  // the totals stay
    m.configure_projects(true, 1000);
    m.set_projects({running(kA)}, 3);
    EXPECT_EQ(sample(m.serialize(), of("tenex_project_state", kA, ",state=\"running\"")), 1);
}

TEST(Metrics, PerProjectSeriesAreCapped) {
    Metrics m;
    m.configure_projects(true, 2);
    const std::string kC = "31933:cc:gamma";
    m.set_projects({running(kB), running(kC)}, 1);
    auto text = m.serialize();
    EXPECT_EQ(sample(text, "tenex_project_metrics_omitted"), 0);
    // A third project gets no series; those that have them keep them (kA sorts first).
    m.set_projects({running(kA), running(kB), running(kC)}, 2);
    text = m.serialize();
    EXPECT_EQ(sample(text, "tenex_project_metrics_omitted"), 1);
    EXPECT_EQ(text.find("alpha"), std::string::npos);
    EXPECT_EQ(sample(text, of("tenex_project_state", kB, ",state=\"running\"")), 1);
    EXPECT_EQ(sample(text, of("tenex_project_state", kC, ",state=\"running\"")), 1);
    // One leaves: the waiting one gets its series.
    m.set_projects({running(kA), running(kC)}, 3);
    text = m.serialize();
    EXPECT_EQ(sample(text, "tenex_project_metrics_omitted"), 0);
    EXPECT_EQ(sample(text, of("tenex_project_state", kA, ",state=\"running\"")), 1);
    EXPECT_EQ(text.find("beta"), std::string::npos);
}

TEST(Metrics, ProjectLabelIsEscaped) {
    Metrics m;
    m.set_projects({running("31933:aa:we\"ird\\d\n")}, 1);
    auto text = m.serialize();
    EXPECT_NE(text.find(R"(project="31933:aa:we\"ird\\d\n")"), std::string::npos) << text;
}

}  // namespace
}  // namespace tenex::daemon
