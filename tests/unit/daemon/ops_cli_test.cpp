// The operator commands (ps, stop, restart, logs) of the built binary against a fake daemon.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "daemon/http_api.hpp"
#include "environment.hpp"
#include "http_fake.hpp"

namespace tenex::daemon::test {
namespace {

class OpsCli : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(std::filesystem::exists(tenex::test::tenex_binary()))
            << tenex::test::tenex_binary();
        auto idle = make_view(kOwnerA, "idle", sandbox::ProjectState::stopped);
        idle.status.container_id.clear();
        idle.status.usage.reset();
        control_.add_view(std::move(idle));
        api_ = std::make_unique<HttpApi>(control_, metrics_, HttpOptions{.listen = "127.0.0.1:0"});
        ASSERT_TRUE(api_->start());
        http_ = "127.0.0.1:" + std::to_string(api_->port());
    }
    FakeControl control_;
    Metrics metrics_;
    std::unique_ptr<HttpApi> api_;
    std::string http_;
};

TEST_F(OpsCli, PsPrintsATable) {
    auto broken = make_view(kOwnerA, "broken", sandbox::ProjectState::crash_looping);
    broken.status.last_exit_code = 3;
    broken.status.last_exit_reason = sandbox::ExitReason::exit;
    broken.status.last_error = "3 restarts within 60s; waiting for a new trigger";
    control_.add_view(std::move(broken));
    auto r = run({"ps", "--http", http_});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::istringstream lines(r.out);
    std::string header, row;
    std::getline(lines, header);
    for (auto col : {"PROJECT", "CONTAINER", "STATE", "UPTIME", "RESTARTS", "CPU %", "MEMORY",
                     "LIMITS", "NETWORK", "POLICY"})
        EXPECT_NE(header.find(col), std::string::npos) << col;
    std::getline(lines, row);  // alpha
    EXPECT_EQ(row.rfind("alpha ", 0), 0u) << row;
    EXPECT_NE(row.find("0123456789ab "), std::string::npos) << row;  // 12 characters
    EXPECT_EQ(row.find("0123456789abc"), std::string::npos) << row;
    EXPECT_NE(row.find("running"), std::string::npos);
    EXPECT_NE(row.find("d"), std::string::npos);  // years of uptime: "NdHHh"
    EXPECT_NE(row.find("12.5%"), std::string::npos) << row;
    EXPECT_NE(row.find("50MiB / 512MiB"), std::string::npos) << row;
    EXPECT_NE(row.find("0.5 CPU, 64 PIDs"), std::string::npos) << row;
    EXPECT_NE(row.find("egress"), std::string::npos);
    EXPECT_NE(row.find("default.yaml+networked.yaml"), std::string::npos);
    // The two "shared" projects are told apart by their owners.
    EXPECT_NE(r.out.find("aaaaaaaa:shared"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("bbbbbbbb:shared"), std::string::npos) << r.out;
    std::string idle_row = r.out.substr(r.out.find("\nidle ") + 1);
    EXPECT_NE(idle_row.find("stopped"), std::string::npos) << idle_row;
    // A project that is not running says why, below the table; a running one says nothing.
    EXPECT_NE(r.out.find("\nbroken: crash-looping: 3 restarts within 60s; waiting for a new "
                         "trigger; last exit 3 (exit)\n"),
              std::string::npos)
        << r.out;
    EXPECT_EQ(r.out.find("alpha:"), std::string::npos) << r.out;
    // Columns line up: STATE starts at the same offset in the header and every row.
    auto col = header.find("STATE");
    EXPECT_EQ(row.substr(col, 7), "running") << row;
}

TEST_F(OpsCli, PsJsonIsTheProjectsJson) {
    auto r = run({"ps", "--json", "--http", http_});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    ASSERT_TRUE(j.is_array());
    ASSERT_EQ(j.size(), 4u);
    auto expected = to_json(control_.projects()[0]);
    auto got = j[0];
    expected.erase("uptime_seconds");
    got.erase("uptime_seconds");
    EXPECT_EQ(got, expected);
    EXPECT_EQ(j[0]["address"], "31933:" + kOwnerA + ":alpha");
    EXPECT_EQ(j[3]["state"], "stopped");
}

TEST_F(OpsCli, StopRestartAndForget) {
    auto r = run({"stop", "alpha", "--http", http_});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("stopped 31933:" + kOwnerA + ":alpha"), std::string::npos) << r.out;
    r = run({"restart", "31933:" + kOwnerB + ":shared", "--http", http_});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("restarted 31933:" + kOwnerB + ":shared: running"), std::string::npos)
        << r.out;
    r = run({"forget", "alpha", "--http", http_});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("forgotten 31933:" + kOwnerA + ":alpha: stopped"), std::string::npos)
        << r.out;
    auto calls = control_.recorded();
    ASSERT_EQ(calls.size(), 3u);
    EXPECT_EQ(calls[0], "stop 31933:" + kOwnerA + ":alpha");
    EXPECT_EQ(calls[1], "restart 31933:" + kOwnerB + ":shared");
    EXPECT_EQ(calls[2], "forget 31933:" + kOwnerA + ":alpha");
}

TEST_F(OpsCli, UnknownOrAmbiguousProjectIsAnError) {
    auto r = run({"stop", "nope", "--http", http_});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("unknown project 'nope'"), std::string::npos) << r.err;
    r = run({"restart", "shared", "--http", http_});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("full address"), std::string::npos) << r.err;
    r = run({"logs", "nope", "--http", http_});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("unknown project"), std::string::npos) << r.err;
    r = run({"stop", "a/b?c#d%", "--http", http_});  // reaches the daemon as one segment
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("unknown project 'a/b?c#d%'"), std::string::npos) << r.err;
    EXPECT_TRUE(control_.recorded().empty());
}

TEST_F(OpsCli, Logs) {
    auto r = run({"logs", "alpha", "--tail", "5", "--http", http_});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, control_.log_text);
    control_.follow_max_lines = 3;
    r = run({"logs", "-f", "alpha", "--http", http_});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, control_.log_text + "follow 0\nfollow 1\nfollow 2\n");
    auto calls = control_.recorded();
    ASSERT_EQ(calls.size(), 2u);
    EXPECT_EQ(calls[0], "logs 31933:" + kOwnerA + ":alpha f=0 tail=5");
    EXPECT_EQ(calls[1], "logs 31933:" + kOwnerA + ":alpha f=1 tail=-1");
}

TEST_F(OpsCli, DaemonNotRunningIsOneClearLine) {
    for (auto cmd : {"ps", "stop", "logs"}) {
        std::vector<std::string> args{cmd};
        if (std::string(cmd) != "ps") args.push_back("alpha");
        args.push_back("--http");
        args.push_back("127.0.0.1:" + std::to_string(tenex::test::free_loopback_port()));
        auto r = run(args);
        EXPECT_EQ(r.exit_code, 1) << cmd;
        EXPECT_NE(r.err.find("cannot reach the daemon"), std::string::npos) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
        EXPECT_TRUE(r.out.empty());
    }
    tenex::test::TempDir dir;
    auto r = run({"ps", "--http", "unix:" + (dir.path() / "none.sock").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("cannot reach the daemon"), std::string::npos) << r.err;
    r = run({"ps", "--http", "not an address"});
    EXPECT_EQ(r.exit_code, 2);
}

TEST_F(OpsCli, UnixSocketFromTheConfigFile) {
    tenex::test::TempDir dir;
    auto sock = (dir.path() / "api.sock").string();
    HttpApi api(control_, metrics_, HttpOptions{.listen = "unix:" + sock});
    ASSERT_TRUE(api.start());
    auto config = dir.path() / "sandbox.yaml";
    std::ofstream(config) << "http_listen: \"unix:" << sock << "\"\n";
    auto r = run({"ps", "--json", "-c", config.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out).size(), 4u);
    r = run({"logs", "alpha", "-c", config.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, control_.log_text);
    r = run({"stop", "nope", "-c", config.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("unknown project"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tenex::daemon::test
