// The systemd notification protocol as a service manager sees it: a fake NOTIFY_SOCKET (a
// unix datagram socket this test reads) given to the real `tenex-sandbox up` binary, with the
// embedded relay, the real Docker engine and the probe image. And, in-process, a daemon thread
// wedged in a task: its watchdog pings stop, which is what makes systemd restart it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <future>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/private_file.hpp"
#include "daemon/daemon.hpp"
#include "e2e_fixture.hpp"
#include "environment.hpp"
#include "notify_socket.hpp"

namespace tenex::e2e {
namespace {

using namespace std::chrono_literals;

using test::EnvVar;
using test::FakeNotifySocket;

using SystemdNotify = EndToEnd;

TEST_F(SystemdNotify, ReadyAfterApiAndReconcileWatchdogReloadAndStopping) {
    // A first run starts a project and leaves it running (the default on SIGTERM).
    start_daemon();
    if (HasFatalFailure()) return;
    const std::string address = publish_project(*owner_, "notify");
    publish_message(*owner_, address, "wake up");
    ASSERT_TRUE(eventually([&] { return running_for(address).size() == 1; }, 60s))
        << daemon_->log();
    const std::string container = running_for(address).front().id;
    daemon_->terminate();

    // The second run, as systemd would start it: NOTIFY_SOCKET and a 1 s watchdog.
    FakeNotifySocket notify(dir_->path() / "notify.sock");
    EnvVar socket_env("NOTIFY_SOCKET", notify.path());
    EnvVar watchdog_env("WATCHDOG_USEC", "1000000");
    daemon_ =
        std::make_unique<DaemonProcess>(dir_->path() / "daemon-notify.log", daemon_args({}, true));
    daemon_->start();
    auto ready = notify.until("READY=1", 30000ms);
    ASSERT_TRUE(ready) << daemon_->log();
    // At READY=1 the API answers and the reconcile has adopted the running container.
    auto projects = http_get(http_port_, "/projects");
    ASSERT_EQ(projects.status, 200) << "the API did not answer at READY=1";
    auto list = nlohmann::json::parse(projects.body);
    ASSERT_EQ(list.size(), 1u) << projects.body;
    EXPECT_EQ(list[0]["address"], address);
    EXPECT_EQ(list[0]["state"], "running");
    EXPECT_EQ(list[0]["container_id"], container) << "not adopted";
    EXPECT_NE(ready->find("STATUS=1 project running; "), std::string::npos) << *ready;

    // Watchdog pings at half of WATCHDOG_USEC: about 6 in 3 s (at least 4 allowing for load).
    EXPECT_GE(notify.watchdogs_within(3000ms), 4);

    // SIGHUP: RELOADING=1, then READY=1 once applied.
    daemon_->signal(SIGHUP);
    std::vector<std::string> seen;
    ASSERT_TRUE(notify.until("RELOADING=1", 10000ms, &seen)) << daemon_->log();
    ASSERT_TRUE(notify.until("READY=1", 10000ms, &seen)) << daemon_->log();

    // SIGTERM: STOPPING=1, a clean exit, and the project keeps running.
    daemon_->signal(SIGTERM);
    auto stopping = notify.until("STOPPING=1", 10000ms);
    ASSERT_TRUE(stopping) << daemon_->log();
    EXPECT_NE(stopping->find("projects keep running"), std::string::npos) << *stopping;
    EXPECT_EQ(daemon_->wait(30s), 0) << daemon_->log();
    EXPECT_EQ(running_for(address).size(), 1u);
}

TEST_F(SystemdNotify, JsonLogsFromTheConfigFileAreOneObjectPerLine) {
    const auto config = dir_->path() / "sandbox.yaml";
    std::ofstream(config) << "whitelist: [" << owner_->pub.hex() << "]\nlog:\n  format: json\n";
    start_daemon({"-c", config.string()});
    if (HasFatalFailure()) return;
    daemon_->signal(SIGHUP);
    ASSERT_TRUE(
        eventually([&] { return daemon_->log().find("reload: ") != std::string::npos; }, 20s));
    daemon_->terminate();
    std::istringstream in(daemon_->log());
    int lines = 0;
    bool http_line = false;
    for (std::string line; std::getline(in, line);) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        ASSERT_FALSE(j.is_discarded()) << "not JSON: " << line;
        for (const char* key : {"time", "level", "component", "message"})
            ASSERT_TRUE(j.contains(key)) << line;
        if (j["component"] == "http") http_line = true;
        // The daemon key is never logged: only its npub.
        EXPECT_EQ(line.find("nsec1"), std::string::npos) << line;
        ++lines;
    }
    EXPECT_GE(lines, 3);
    EXPECT_TRUE(http_line);
}

// Under systemd stderr is a stream to the journal, named by JOURNAL_STREAM (device:inode):
// then each line carries the syslog priority prefix journald turns into the entry's priority,
// the start-up error that ends the process included ("<3>": `journalctl -p err` shows why the
// service did not start), and never a colour.
TEST(SystemdJournal, LinesCarryThePriorityPrefixOnlyWhenStderrIsTheJournalStream) {
    test::TempDir dir;
    // Every line `tenex-sandbox ARGS` wrote to stderr, JOURNAL_STREAM naming that file or not.
    const auto run = [&](const std::string& name, bool journal, const std::string& args) {
        const auto log = dir.path() / (name + ".log");
        std::ofstream(log).close();
        struct stat st {};
        EXPECT_EQ(::stat(log.c_str(), &st), 0);
        std::string cmd = (journal ? "JOURNAL_STREAM=" + std::to_string(st.st_dev) + ":" +
                                         std::to_string(st.st_ino) + " "
                                   : std::string("JOURNAL_STREAM=1:1 ")) +
                          test::tenex_binary().string() + " " + args + " 2>>" + log.string();
        EXPECT_NE(std::system(cmd.c_str()), 0);
        std::ifstream in(log);
        std::vector<std::string> lines;
        for (std::string line; std::getline(in, line);) lines.push_back(line);
        EXPECT_FALSE(lines.empty()) << cmd;
        if (lines.empty()) lines.emplace_back();
        for (const auto& line : lines)
            EXPECT_EQ(line.find('\x1b'), std::string::npos) << line;  // no ANSI colours
        return lines;
    };
    // Fails at the Docker engine (no socket there), after logging the new key.
    const auto up = [&](const std::string& name) {
        return "up -w " + std::string(64, 'a') + " --embedded-relay 127.0.0.1:0 --docker-socket " +
               (dir.path() / "none.sock").string() + " --state-dir " +
               (dir.path() / name / "state").string() + " -p " +
               (dir.path() / name / "projects").string() + " --key " +
               (dir.path() / name / "key").string() + " --policies " +
               (test::source_dir() / "policies").string();
    };
    const auto journal = run("journal", true, up("journal"));
    EXPECT_TRUE(journal.front().starts_with("<6>generated a new daemon key")) << journal.front();
    EXPECT_TRUE(journal.back().starts_with("<3>tenex-sandbox up: ")) << journal.back();
    const auto plain = run("plain", false, up("plain"));  // JOURNAL_STREAM names another stream
    EXPECT_TRUE(plain.front().starts_with("20")) << plain.front();  // the text format's date
    EXPECT_NE(plain.front().find("generated a new daemon key"), std::string::npos) << plain.front();
    EXPECT_TRUE(plain.back().starts_with("tenex-sandbox up: ")) << plain.back();

    // An invalid configuration (exit 2, before any logging): every line of it an error.
    const auto invalid = run("invalid", true, "up -w not-a-key");
    EXPECT_GE(invalid.size(), 2u);
    EXPECT_EQ(invalid.front(), "<3>tenex-sandbox up: invalid configuration:");
    for (const auto& line : invalid) EXPECT_TRUE(line.starts_with("<3>")) << line;
    // A usage error (CLI11) the same way.
    const auto usage = run("usage", true, "up --no-such-flag");
    for (const auto& line : usage) EXPECT_TRUE(line.starts_with("<3>")) << line;
    EXPECT_EQ(run("usage-plain", false, "up --no-such-flag").front(), usage.front().substr(3));
}

// In-process: a reload that blocks the daemon thread stands for a wedged main loop.
TEST_F(SystemdNotify, AWedgedDaemonThreadStopsTheWatchdogPings) {
    FakeNotifySocket notify(dir_->path() / "notify-inproc.sock");
    EnvVar socket_env("NOTIFY_SOCKET", notify.path());
    EnvVar watchdog_env("WATCHDOG_USEC", "400000");  // pings every 200 ms
    const auto& d = dir_->path();
    daemon::DaemonConfig config;
    config.whitelist = {owner_->pub.hex()};
    config.embedded_relay = "127.0.0.1:" + std::to_string(relay_port_);
    config.http_listen = "127.0.0.1:" + std::to_string(http_port_);
    config.gateway_listen = "";
    config.daemon_id = daemon_id_;
    config.projects_path = d / "projects";
    config.policies_dir = d / "policies";
    config.state_dir = d / "state";
    config.key_file = d / "daemon.key";
    std::promise<void> release;
    auto released = release.get_future().share();
    auto started = daemon::Daemon::start(
        config, [config, released]() -> Result<daemon::DaemonConfig, daemon::Diagnostics> {
            released.wait();  // the daemon thread is stuck here
            return config;
        });
    ASSERT_TRUE(started) << started.error().message;
    auto& daemon = *started;
    ASSERT_TRUE(notify.until("READY=1", 10000ms));
    EXPECT_GE(notify.watchdogs_within(1000ms), 3);

    daemon->request_reload();
    ASSERT_TRUE(notify.until("RELOADING=1", 5000ms));
    EXPECT_EQ(notify.watchdogs_within(1500ms), 0) << "pings while the daemon thread is stuck";
    release.set_value();
    ASSERT_TRUE(notify.until("READY=1", 5000ms));
    EXPECT_GE(notify.watchdogs_within(1000ms), 3) << "pings did not resume";
    daemon->request_stop();
    daemon->wait();
}

}  // namespace
}  // namespace tenex::e2e
