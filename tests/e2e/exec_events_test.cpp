// `tenex-sandbox exec`, `shell` and `events` against the real daemon, the real engine and the
// probe image (FROM scratch: /tenex-probe is its only program, so it is the command run); `shell`
// with a real shell in the tenex-attack image (images/attack: busybox, /bin/sh included).
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "docker/images.hpp"
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
    Cli exec(const std::string& project, std::vector<std::string> cmd,
             std::vector<std::string> flags = {}) {
        std::vector<std::string> args{"exec", project, "--http", http()};
        args.insert(args.end(), flags.begin(), flags.end());
        args.push_back("--");
        args.insert(args.end(), cmd.begin(), cmd.end());
        return cli(args);
    }
    std::string http() const { return "127.0.0.1:" + std::to_string(http_port_); }
};

// The CLI on a pseudo-terminal (as an operator's ssh session gives it): what it prints, what is
// typed, its exit status.
class Terminal {
  public:
    explicit Terminal(const std::vector<std::string>& args) {
        std::vector<std::string> argv{test::tenex_binary().string()};
        argv.insert(argv.end(), args.begin(), args.end());
        std::vector<char*> p;
        for (auto& a : argv) p.push_back(a.data());
        p.push_back(nullptr);
        winsize ws{.ws_row = 30, .ws_col = 100, .ws_xpixel = 0, .ws_ypixel = 0};
        pid_ = ::forkpty(&master_, nullptr, nullptr, &ws);
        if (pid_ == 0) {
            ::execv(p[0], p.data());
            ::_exit(127);
        }
    }
    ~Terminal() {
        if (pid_ > 0) ::kill(pid_, SIGKILL), ::waitpid(pid_, nullptr, 0);
        if (master_ >= 0) ::close(master_);
    }
    Terminal(const Terminal&) = delete;
    Terminal& operator=(const Terminal&) = delete;
    bool started() const { return pid_ > 0; }
    // Reads until `text` is on the screen (true) or 20 s passed.
    bool read_until(const std::string& text) {
        const auto end = std::chrono::steady_clock::now() + 20s;
        while (screen.find(text) == std::string::npos && std::chrono::steady_clock::now() < end) {
            pollfd p{master_, POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0) continue;
            char buf[1024];
            ssize_t n = ::read(master_, buf, sizeof buf);
            if (n <= 0) break;
            screen.append(buf, static_cast<std::size_t>(n));
        }
        return screen.find(text) != std::string::npos;
    }
    bool type(const std::string& keys) {
        return ::write(master_, keys.data(), keys.size()) == static_cast<ssize_t>(keys.size());
    }
    // The exit code, or -1 when it did not exit within 20 s (then killed).
    int wait() {
        int status = 0;
        const bool exited = eventually(
            [&] {
                if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
                read_until("\x01");  // the rest of its output, until the pty's EOF
                return true;
            },
            20s);
        if (!exited) return -1;
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::string screen{};

  private:
    int master_ = -1;
    pid_t pid_ = -1;
};

TEST_F(ExecEvents, ExecRunsInsideTheSandboxAsItsUserAndEventsTellTheLifecycle) {
    start_daemon();
    // `events -f` from before the project exists: it must see the start live.
    DaemonProcess follower(dir_->path() / "events-follow.log", {"events", "-f", "--http", http()});
    follower.start();

    const std::string address = publish_project(*owner_, "exec");
    publish_message(*owner_, address, "wake up");
    ASSERT_TRUE(eventually([&] { return running_for(address).size() == 1; }, 60s))
        << "no container";
    ASSERT_TRUE(eventually(
        [&] { return follower.log().find(" started " + address) != std::string::npos; }, 20s))
        << follower.log();

    // The container's user (65534 from the policy), not root, and no capabilities.
    auto r = exec("e2e-exec", {"/tenex-probe", "id"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("uid=65534 euid=65534 gid=65534 egid=65534\n"), std::string::npos)
        << r.out;
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
    ASSERT_TRUE(eventually(
        [&] { return follower.log().find(" stopped " + address) != std::string::npos; }, 20s))
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
    std::ofstream(config) << "whitelist: [\"" << owner_->pub.hex()
                          << "\"]\nexec:\n  enabled: false\n";
    start_daemon({"-c", config.string()});
    publish_message(*owner_, address, "wake up again");
    ASSERT_TRUE(eventually([&] { return running_for(address).size() == 1; }, 60s))
        << "no container";
    ASSERT_TRUE(eventually(
        [&] {
            auto p = nlohmann::json::parse(http_get(http_port_, "/projects").body, nullptr, false);
            return p.is_array() && p.size() == 1 && p[0]["state"] == "running";
        },
        20s));
    r = exec("e2e-exec", {"/tenex-probe", "id"});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_NE(r.err.find("exec is disabled by the daemon's configuration (exec.enabled)"),
              std::string::npos)
        << r.err;
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
    ASSERT_TRUE(eventually([&] { return running_for(address).size() == 1; }, 60s))
        << "no container";

    // Piped: plain streams, EOF at the end of the input.
    auto r = cli({"exec", "-i", "e2e-interactive", "--http", http(), "--", "/tenex-probe", "lines"},
                 "hello\nsecond line\nexit 3\n");
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_EQ(r.out, "ready\ngot hello\ngot second line\n");
    r = cli({"exec", "-i", "e2e-interactive", "--http", http(), "--", "/tenex-probe", "lines"},
            "no exit\n");
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
        ::execl(bin.c_str(), bin.c_str(), "exec", "-i", "-t", "e2e-interactive", "--http",
                http_addr.c_str(), "--", "/tenex-probe", "lines", static_cast<char*>(nullptr));
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

// `shell` with a real shell: the tenex-attack image (busybox sh at /bin/sh), its project's
// policy naming a non-root user that is not the image's own (65534), so the output shows the
// policy's user reached the shell. --command, a script piped in, an interactive shell on a
// terminal, and `exec -i`/`--tty` with the same shell.
TEST_F(ExecEvents, ShellRunsTheImagesShellAsThePolicysUserWithItsExitCode) {
    {
        docker::BuildOptions options;
        options.tag = "tenex-attack:latest";  // the attack suite's image, from the same context
        auto image = docker::build_image_from_dir(*docker_, TENEX_ATTACK_CONTEXT, options);
        if (!image) {
            if (test::in_ci())
                FAIL() << "the tenex-attack image is required in CI: " << image.error().describe();
            GTEST_SKIP() << "cannot build tenex-attack from " << TENEX_ATTACK_CONTEXT << ": "
                         << image.error().describe();
        }
    }
    std::ofstream(dir_->path() / "policies" / "default.yaml")
        << "image: tenex-attack:latest\n"
        << "args: [\"sleep 3600\"]\n"
        << "resources: {memory: 32Mi, cpus: 0.25, pids: 32, nofile: 256}\n"
        << "network: {mode: none}\n"
        << "lifecycle: {restart: never, stop_timeout: 2s}\n"
        << "security: {user: \"4321:4321\", read_only_root: true, tmpfs: {/tmp: 8Mi}}\n";
    start_daemon();
    const std::string address = publish_project(*owner_, "shell");
    publish_message(*owner_, address, "wake up");
    ASSERT_TRUE(eventually(
        [&] {
            auto p = nlohmann::json::parse(http_get(http_port_, "/projects").body, nullptr, false);
            return p.is_array() && p.size() == 1 && p[0]["state"] == "running";
        },
        60s))
        << http_get(http_port_, "/projects").body;

    // --command: the line run by the image's shell, its output and exit code.
    auto r =
        cli({"shell", "e2e-shell", "--http", http(), "--command", "echo $((6*7)); id -u; exit 3"});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_EQ(r.out, "42\n4321\n");
    EXPECT_TRUE(r.err.empty()) << r.err;
    r = cli({"shell", address, "--http", http(), "--command", "echo to stderr >&2"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "to stderr\n");

    // A script piped in (no terminal): the shell reads it to EOF; a script without exit ends 0.
    r = cli({"shell", "e2e-shell", "--http", http()},
            "x=$((6*7))\necho \"x=$x\"\nid -u\nexit 4\necho not reached\n");
    EXPECT_EQ(r.exit_code, 4) << r.err;
    EXPECT_EQ(r.out, "x=42\n4321\n");
    r = cli({"shell", "e2e-shell", "--http", http()}, "echo no exit\n");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "no exit\n");

    // exec -i with the same shell: stdin reaches its `read`; --tty: a terminal inside.
    r = cli({"exec", "-i", "e2e-shell", "--http", http(), "--", "/bin/sh", "-c",
             "read a; read b; echo \"$b $a\"; exit 6"},
            "first\nsecond\n");
    EXPECT_EQ(r.exit_code, 6) << r.err;
    EXPECT_EQ(r.out, "second first\n");
    r = exec("e2e-shell",
             {"/bin/sh", "-c", "[ -t 1 ] && echo terminal || echo no terminal; exit 9"}, {"--tty"});
    EXPECT_EQ(r.exit_code, 9) << r.err;
    EXPECT_EQ(r.out, "terminal\r\n");
    r = exec("e2e-shell", {"/bin/sh", "-c", "[ -t 1 ] && echo terminal || echo no terminal"});
    EXPECT_EQ(r.out, "no terminal\n");

    // Interactive, on a terminal: a prompt, what is typed runs as the policy's user, `exit 5`
    // ends the CLI with 5.
    {
        Terminal t({"shell", "e2e-shell", "--http", http()});
        ASSERT_TRUE(t.started());
        EXPECT_TRUE(t.read_until("$ ")) << t.screen;  // busybox sh's prompt for a non-root user
        ASSERT_TRUE(t.type("[ -t 0 ] && echo \"tty uid=$(id -u)\"; exit 5\r"));
        EXPECT_TRUE(t.read_until("tty uid=4321\r\n")) << t.screen;
        EXPECT_EQ(t.wait(), 5) << t.screen;
        EXPECT_EQ(t.screen.find("uid=0"), std::string::npos) << t.screen;
    }
    // The daemon logged each one with the shell as the program and the tty when there was one.
    EXPECT_NE(daemon_->log().find("/bin/sh (0 arguments, tty)"), std::string::npos)
        << daemon_->log();
    EXPECT_EQ(metric("tenex_execs_total{outcome=\"completed\"}"), 8);
}

}  // namespace
}  // namespace tenex::e2e
