// Per-project metrics end to end (issue 20): the daemon as a process, the embedded relay, the
// real engine and the probe. A project woken by a message has its series in /metrics with
// the engine's figures (running, memory in use, the policy's memory limit, CPU time, the
// wake latency); stopped, it keeps them (state stopped, no memory); forgotten
// (`tenex-sandbox forget`), they are gone, as from a restarted daemon that found no
// container of it; a message brings the project and its series back.
#include <signal.h>

#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "e2e_fixture.hpp"
#include "node_peer.hpp"

namespace tenex::e2e {
namespace {

using namespace std::chrono_literals;

class ProjectMetrics : public EndToEnd {
  protected:
    std::string series(const std::string& name, const std::string& address,
                       const std::string& extra = "") {
        return name + "{project=\"" + address + "\"" + extra + "}";
    }
    // The sample of exactly this series, or nullopt when /metrics has no such line.
    std::optional<double> value(const std::string& s) {
        auto r = http_get(http_port_, "/metrics");
        std::istringstream in(r.body);
        for (std::string line; std::getline(in, line);)
            if (line.rfind(s + " ", 0) == 0) return std::stod(line.substr(s.size() + 1));
        return std::nullopt;
    }
    bool mentions(const std::string& address) {
        return http_get(http_port_, "/metrics").body.find(address) != std::string::npos;
    }
};

TEST_F(ProjectMetrics, PresentWithTheEnginesFiguresAndGoneOnceTheProjectIsForgotten) {
    // The default policy (64Mi, egress, the probe); no pause, so the project stays running.
    {
        std::ofstream out(dir_->path() / "policies" / "metrics.yaml");
        out << "match:\n  d: [e2e-metrics]\nlifecycle:\n  pause_after: 0s\n  idle_timeout: 10m\n";
    }
    start_daemon();
    const std::string address = publish_project(*owner_, "metrics");
    const auto message = publish_message(*owner_, address, "hello");
    ASSERT_TRUE(eventually([&] { return reply_to(message, address).has_value(); }, 60s))
        << daemon_->log();

    const auto running = series("tenex_project_state", address, ",state=\"running\"");
    const auto memory = series("tenex_project_memory_bytes", address);
    ASSERT_TRUE(eventually([&] { return value(running) == 1.0; }, 10s))
        << http_get(http_port_, "/metrics").body;
    // Engine stats come every 30 s (the first on the tick after the start).
    ASSERT_TRUE(eventually([&] { return value(memory).value_or(0) > 0; }, 60s))
        << http_get(http_port_, "/metrics").body;
    EXPECT_LT(*value(memory), 64.0 * 1024 * 1024);
    EXPECT_EQ(value(series("tenex_project_memory_limit_bytes", address)), 64.0 * 1024 * 1024);
    EXPECT_GT(value(series("tenex_project_cpu_seconds_total", address)).value_or(0), 0);
    const auto wake = value(series("tenex_project_last_wake_seconds", address));
    ASSERT_TRUE(wake);
    EXPECT_GT(*wake, 0);
    EXPECT_LT(*wake, 60);
    EXPECT_EQ(value(series("tenex_project_restarts_total", address)), 0);
    EXPECT_EQ(value(series("tenex_project_oom_kills_total", address)), 0);
    const auto in_running =
        series("tenex_project_state_seconds_total", address, ",state=\"running\"");
    ASSERT_TRUE(eventually([&] { return value(in_running).value_or(0) >= 2; }, 10s));
    EXPECT_EQ(value("tenex_project_metrics_omitted"), 0);
    {  // what a scrape shows of it
        std::istringstream in(http_get(http_port_, "/metrics").body);
        for (std::string line; std::getline(in, line);)
            if (line.find(address) != std::string::npos) std::printf("%s\n", line.c_str());
    }

    // An operator stop (the container is removed): the series stay, stopped, without memory.
    auto stop = relay::testing::run_program(
        test::tenex_binary().string(),
        {"stop", "e2e-metrics", "--http", "127.0.0.1:" + std::to_string(http_port_)});
    ASSERT_EQ(stop.exit_code, 0) << stop.out;
    const auto stopped = series("tenex_project_state", address, ",state=\"stopped\"");
    ASSERT_TRUE(eventually([&] { return value(stopped) == 1.0; }, 20s))
        << http_get(http_port_, "/metrics").body;
    EXPECT_FALSE(value(running)) << "two state series";
    EXPECT_EQ(value(memory), 0);
    const double ran = value(in_running).value_or(0);
    std::this_thread::sleep_for(4s);
    EXPECT_EQ(value(in_running), ran) << "time in running counted while stopped";
    EXPECT_GE(value(series("tenex_project_state_seconds_total", address, ",state=\"stopped\""))
                  .value_or(0),
              2);
    ASSERT_TRUE(eventually([&] { return containers().empty(); }, 20s));

    // Woken again, then forgotten while it runs: the container goes, and so do the project's
    // series and its entry in /projects, at once.
    const auto again = publish_message(*owner_, address, "again");
    ASSERT_TRUE(eventually([&] { return reply_to(again, address).has_value(); }, 60s))
        << daemon_->log();
    ASSERT_TRUE(eventually([&] { return value(running) == 1.0; }, 10s));
    auto forget = relay::testing::run_program(
        test::tenex_binary().string(),
        {"forget", "e2e-metrics", "--http", "127.0.0.1:" + std::to_string(http_port_)});
    ASSERT_EQ(forget.exit_code, 0) << forget.out;
    EXPECT_NE(forget.out.find("forgotten " + address + ": stopped"), std::string::npos)
        << forget.out;
    EXPECT_TRUE(containers().empty());
    EXPECT_EQ(http_get(http_port_, "/projects").body.find(address), std::string::npos);
    ASSERT_TRUE(eventually([&] { return !mentions(address); }, 5s))
        << http_get(http_port_, "/metrics").body;
    auto unknown = relay::testing::run_program(  // stderr into the output
        "/bin/sh", {"-c", test::tenex_binary().string() + " forget e2e-metrics --http 127.0.0.1:" +
                              std::to_string(http_port_) + " 2>&1"});
    EXPECT_EQ(unknown.exit_code, 1);
    EXPECT_NE(unknown.out.find("unknown project"), std::string::npos) << unknown.out;
    // A message brings it back, series and all.
    const auto back = publish_message(*owner_, address, "back");
    ASSERT_TRUE(eventually([&] { return reply_to(back, address).has_value(); }, 60s))
        << daemon_->log();
    ASSERT_TRUE(eventually([&] { return value(running) == 1.0; }, 10s));
    ASSERT_EQ(relay::testing::run_program(
                  test::tenex_binary().string(),
                  {"stop", "e2e-metrics", "--http", "127.0.0.1:" + std::to_string(http_port_)})
                  .exit_code,
              0);

    // A new daemon finds no container of the project: it does not know it, and /metrics
    // has no series of it (nor does /projects list it).
    kill_daemon(SIGTERM);
    start_daemon();
    std::this_thread::sleep_for(5s);  // a few ticks
    EXPECT_EQ(http_get(http_port_, "/projects").body.find(address), std::string::npos);
    EXPECT_FALSE(mentions(address)) << http_get(http_port_, "/metrics").body;
    EXPECT_EQ(value("tenex_project_metrics_omitted"), 0);
}

}  // namespace
}  // namespace tenex::e2e
