// `tenex-sandbox exec`, `shell` and `events` against the real daemon, the real engine and the
// probe image (FROM scratch: /tenex-probe is its only program, so it is the command run).
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "e2e_fixture.hpp"
#include "node_peer.hpp"

namespace tenex::e2e {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

struct Cli {
    int exit_code{-1};
    std::string out{};
    std::string err{};
};

std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

class ExecEvents : public EndToEnd {
protected:
    // The built binary with args (and `input` on its stdin); stdout and stderr apart.
    Cli cli(const std::vector<std::string>& args, const std::string& input = {}) {
        const fs::path err = dir_->path() / "cli-stderr";
        const fs::path in_file = dir_->path() / "cli-stdin";
        std::ofstream(in_file) << input;
        std::string cmd = quote(test::tenex_binary().string());
        for (const auto& a : args) cmd += " " + quote(a);
        cmd += " 2>" + quote(err.string()) + " <" + quote(in_file.string());
        auto r = relay::testing::run_program("sh", {"-c", cmd});
        std::ifstream in(err);
        std::stringstream ss;
        ss << in.rdbuf();
        return {r.exit_code, r.out, ss.str()};
    }
    Cli exec(const std::string& project, std::vector<std::string> cmd, std::vector<std::string> flags = {}) {
        std::vector<std::string> args{"exec", project, "--http", http()};
        args.insert(args.end(), flags.begin(), flags.end());
        args.push_back("--");
        args.insert(args.end(), cmd.begin(), cmd.end());
        return cli(args);
    }
    std::string http() const { return "127.0.0.1:" + std::to_string(http_port_); }
};

TEST_F(ExecEvents, ExecRunsInsideTheSandboxAsItsUserAndEventsTellTheLifecycle) {
    start_daemon();
    // `events -f` from before the project exists: it must see the start live.
    DaemonProcess follower(dir_->path() / "events-follow.log", {"events", "-f", "--http", http()});
    follower.start();

    const std::string address = publish_project(*owner_, "exec");
    publish_message(*owner_, address, "wake up");
    ASSERT_TRUE(eventually([&] { return running_for(address).size() == 1; }, 60s)) << "no container";
    ASSERT_TRUE(eventually([&] { return follower.log().find(" started " + address) != std::string::npos; }, 20s))
        << follower.log();

    // The container's user (65534 from the policy), not root, and no capabilities.
    auto r = exec("e2e-exec", {"/tenex-probe", "id"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("uid=65534 euid=65534 gid=65534 egid=65534\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("status.CapEff=0000000000000000\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("status.NoNewPrivs=1\n"), std::string::npos) << r.out;
    // The container's limits (64 MiB from examples/policies/default.yaml): the same cgroup.
    r = exec("e2e-exec", {"/tenex-probe", "cgroup"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(r.out.find("cgroup.memory.max=67108864\n") != std::string::npos ||
                r.out.find("cgroup.v1.memory.limit_in_bytes=67108864\n") != std::string::npos)
        << r.out;
    // The exit code passes through; stdout and stderr stay apart.
    r = exec("e2e-exec", {"/tenex-probe", "exit", "7"});
    EXPECT_EQ(r.exit_code, 7) << r.err;
    EXPECT_EQ(r.out, "exit_code=7 after=0\n");
    r = exec(address, {"/tenex-probe", "echo", "two streams"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "two streams\n");
    EXPECT_EQ(r.err, "err:two streams\n");
    // With a terminal: one stream, the terminal's line ends.
    r = exec("e2e-exec", {"/tenex-probe", "echo", "tty"}, {"--tty"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("tty\r\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("err:tty\r\n"), std::string::npos) << r.out;
    EXPECT_TRUE(r.err.empty()) << r.err;
    // Another non-root user when asked; root in any spelling never.
    r = exec("e2e-exec", {"/tenex-probe", "id"}, {"--user", "1000:1000"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("uid=1000 euid=1000 gid=1000"), std::string::npos) << r.out;
    for (std::string root : {"0", "root", "0:0", "1000:0"}) {
        r = exec("e2e-exec", {"/tenex-probe", "id"}, {"--user", root});
        EXPECT_EQ(r.exit_code, 125) << root;
        EXPECT_NE(r.err.find("never runs as root"), std::string::npos) << r.err;
        EXPECT_TRUE(r.out.empty()) << r.out;
    }
    // Each exec counted; refusals too.
    EXPECT_EQ(metric("tenex_execs_total{outcome=\"completed\"}"), 6);
    EXPECT_EQ(metric("tenex_execs_total{outcome=\"refused\"}"), 4);
    // And in the daemon's log: argv[0] and the user, never the arguments.
    EXPECT_NE(daemon_->log().find(" as 1000:1000: /tenex-probe (1 arguments)"), std::string::npos);
    EXPECT_EQ(daemon_->log().find("two streams"), std::string::npos);
    // A program the image does not have (it has no shell): a non-zero code and the reason.
    r = exec("e2e-exec", {"/bin/sh", "-c", "id -u"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_FALSE((r.out + r.err).empty());
    r = cli({"shell", "e2e-exec", "--http", http(), "--command", "id -u"});
    EXPECT_NE(r.exit_code, 0);

    // Stop: the events tell started, then the stop, in order; exec is refused now.
    r = cli({"stop", "e2e-exec", "--http", http()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_TRUE(eventually([&] { return follower.log().find(" stopped " + address) != std::string::npos; }, 20s))
        << follower.log();
    r = cli({"events", "--http", http()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::printf("tenex-sandbox events:\n%s", r.out.c_str());  // what an operator sees
    const auto started = r.out.find(" started " + address);
    const auto exec_event = r.out.find(" exec " + address);
    const auto requested = r.out.find(" stop-requested " + address);
    const auto stopped = r.out.find(" stopped " + address);
    ASSERT_NE(started, std::string::npos) << r.out;
    ASSERT_NE(exec_event, std::string::npos) << r.out;
    ASSERT_NE(requested, std::string::npos) << r.out;
    ASSERT_NE(stopped, std::string::npos) << r.out;
    EXPECT_LT(started, exec_event);
    EXPECT_LT(exec_event, requested);
    EXPECT_LT(requested, stopped);
    r = cli({"events", "--json", "--tail", "1", "--http", http()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto last = nlohmann::json::parse(r.out);
    EXPECT_EQ(last["type"], "stopped");
    EXPECT_EQ(last["project"], address);

    r = exec("e2e-exec", {"/tenex-probe", "id"});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_NE(r.err.find("is not running"), std::string::npos) << r.err;
    follower.terminate();

    // exec.enabled: false in the configuration: refused, counted, nothing started.
    kill_daemon(SIGTERM);
    const fs::path config = dir_->path() / "no-exec.yaml";
    std::ofstream(config) << "whitelist: [\"" << owner_->pub.hex() << "\"]\nexec:\n  enabled: false\n";
    start_daemon({"-c", config.string()});
    publish_message(*owner_, address, "wake up again");
    ASSERT_TRUE(eventually([&] { return running_for(address).size() == 1; }, 60s)) << "no container";
    ASSERT_TRUE(eventually([&] {
        auto p = nlohmann::json::parse(http_get(http_port_, "/projects").body, nullptr, false);
        return p.is_array() && p.size() == 1 && p[0]["state"] == "running";
    }, 20s));
    r = exec("e2e-exec", {"/tenex-probe", "id"});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_NE(r.err.find("exec is disabled by the daemon's configuration (exec.enabled)"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty());
    EXPECT_EQ(metric("tenex_execs_total{outcome=\"refused\"}"), 1);
    EXPECT_EQ(metric("tenex_execs_total{outcome=\"completed\"}"), 0);
}

// exec -i and shell: what is typed reaches the process inside, through the daemon, piped or
// from a terminal (a pseudo-terminal here, as an operator's ssh session would give).
TEST_F(ExecEvents, InteractiveExecForwardsPipedInputAndATerminal) {
    start_daemon();
    const std::string address = publish_project(*owner_, "interactive");
    publish_message(*owner_, address, "wake up");
    ASSERT_TRUE(eventually([&] { return running_for(address).size() == 1; }, 60s)) << "no container";

    // Piped: plain streams, EOF at the end of the input.
    auto r = cli({"exec", "-i", "e2e-interactive", "--http", http(), "--", "/tenex-probe", "lines"},
                 "hello\nsecond line\nexit 3\n");
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_EQ(r.out, "ready\ngot hello\ngot second line\n");
    r = cli({"exec", "-i", "e2e-interactive", "--http", http(), "--", "/tenex-probe", "lines"}, "no exit\n");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "ready\ngot no exit\n");

    // A terminal: the CLI in raw mode, a tty inside (its echo and line ends), the exit code.
    int master = -1;
    winsize ws{.ws_row = 30, .ws_col = 100, .ws_xpixel = 0, .ws_ypixel = 0};
    const std::string bin = test::tenex_binary().string();
    const std::string http_addr = http();
    pid_t pid = ::forkpty(&master, nullptr, nullptr, &ws);
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        ::execl(bin.c_str(), bin.c_str(), "exec", "-i", "-t", "e2e-interactive", "--http", http_addr.c_str(), "--",
                "/tenex-probe", "lines", static_cast<char*>(nullptr));
        ::_exit(127);
    }
    std::string screen;
    auto read_until = [&](const std::string& text) {
        const auto end = std::chrono::steady_clock::now() + 20s;
        while (screen.find(text) == std::string::npos && std::chrono::steady_clock::now() < end) {
            pollfd p{master, POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0) continue;
            char buf[1024];
            ssize_t n = ::read(master, buf, sizeof buf);
            if (n <= 0) break;
            screen.append(buf, static_cast<std::size_t>(n));
        }
        return screen.find(text) != std::string::npos;
    };
    EXPECT_TRUE(read_until("ready\r\n")) << screen;
    ASSERT_EQ(::write(master, "typed\r", 6), 6);
    EXPECT_TRUE(read_until("got typed\r\n")) << screen;
    ASSERT_EQ(::write(master, "exit 5\r", 7), 7);
    int status = 0;
    bool exited = eventually([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, 20s);
    if (!exited) ::kill(pid, SIGKILL), ::waitpid(pid, &status, 0);
    ::close(master);
    ASSERT_TRUE(exited) << screen;
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 5) << status << " " << screen;
    EXPECT_EQ(metric("tenex_execs_total{outcome=\"completed\"}"), 3);
    EXPECT_NE(daemon_->log().find("/tenex-probe (1 arguments, tty)"), std::string::npos);
}

}  // namespace
}  // namespace tenex::e2e
