// The events stream survives an engine restart: a private dockerd (never the shared engine)
// is started, killed while a stream is open, started again; the stream must reconnect, report
// the gap, and deliver events made after the restart.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "docker/events.hpp"
#include "docker_fixture.hpp"
#include "environment.hpp"

extern char** environ;

namespace tenex::docker::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// One dockerd with its own socket, data root, exec root and pidfile under a temp dir.
class PrivateDockerd {
  public:
    PrivateDockerd() {
        char tmpl[] = "/tmp/tnxd-XXXXXX";  // short: unix socket paths are limited to 108 bytes
        if (mkdtemp(tmpl)) dir_ = tmpl;
        std::ofstream(dir_ / "daemon.json") << "{}\n";
    }
    ~PrivateDockerd() {
        stop();
        cleanup();
    }

    bool ok() const { return !dir_.empty(); }
    std::string socket() const { return (dir_ / "docker.sock").string(); }

    // Starts dockerd and waits until it answers /_ping.
    Status start() {
        // In its own network namespace: a dockerd started with --bridge none deletes the
        // host's docker0 (removeDefaultBridgeInterface), which would break the shared engine.
        std::vector<std::string> args = {"unshare",
                                         "--net",
                                         "dockerd",
                                         "--host",
                                         "unix://" + socket(),
                                         "--data-root",
                                         (dir_ / "root").string(),
                                         "--exec-root",
                                         (dir_ / "exec").string(),
                                         "--pidfile",
                                         (dir_ / "docker.pid").string(),
                                         "--config-file",
                                         (dir_ / "daemon.json").string(),
                                         "--bridge",
                                         "none",
                                         "--iptables=false",
                                         "--ip-masq=false",
                                         "--containerd-namespace",
                                         "tenex-test",
                                         "--containerd-plugins-namespace",
                                         "tenex-test-plugins"};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        std::string log = (dir_ / "dockerd.log").string();
        posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        int rc = posix_spawnp(&pid_, "unshare", &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        if (rc != 0) {
            pid_ = -1;
            return make_error(std::string("cannot start dockerd: ") + std::strerror(rc));
        }
        Transport t(socket());
        auto deadline = std::chrono::steady_clock::now() + 60s;
        while (std::chrono::steady_clock::now() < deadline) {
            auto r = t.send({.path = "/_ping", .timeout = 1000ms}, "ping");
            if (r && r->status == 200) return Unit{};
            int status = 0;
            if (waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return make_error("dockerd exited during start-up: " + log_tail());
            }
            std::this_thread::sleep_for(100ms);
        }
        return make_error("dockerd did not answer within 60 s: " + log_tail());
    }

    // Kills dockerd (SIGKILL, like a crash) and reaps it, so the next start finds no live
    // process behind the pidfile.
    void kill_hard() { end(SIGKILL, 0s); }
    void stop() { end(SIGTERM, 20s); }

    std::string log_tail() const {
        std::ifstream in(dir_ / "dockerd.log");
        std::stringstream s;
        s << in.rdbuf();
        auto text = s.str();
        return text.size() > 2000 ? text.substr(text.size() - 2000) : text;
    }

  private:
    void end(int sig, std::chrono::seconds grace) {
        if (pid_ <= 0) return;
        ::kill(pid_, sig);
        auto deadline = std::chrono::steady_clock::now() + grace;
        int status = 0;
        while (waitpid(pid_, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() >= deadline) {
                ::kill(pid_, SIGKILL);
                waitpid(pid_, &status, 0);
                break;
            }
            std::this_thread::sleep_for(50ms);
        }
        pid_ = -1;
        // Its containerd follows it; wait until nothing of ours holds the exec root.
        for (int i = 0; i < 100 && containerd_alive(); ++i) std::this_thread::sleep_for(100ms);
    }

    bool containerd_alive() const {
        std::ifstream in(dir_ / "exec/containerd/containerd.pid");
        pid_t p = 0;
        return in >> p && p > 0 && ::kill(p, 0) == 0;
    }

    void cleanup() {
        if (dir_.empty()) return;
        // dockerd bind-mounts its data root onto itself: unmount everything under dir_.
        std::vector<std::string> mounts;
        std::ifstream info("/proc/self/mountinfo");
        for (std::string line; std::getline(info, line);) {
            std::istringstream fields(line);
            std::string id, parent, dev, root, point;
            fields >> id >> parent >> dev >> root >> point;
            if (point.starts_with(dir_.string())) mounts.push_back(point);
        }
        std::sort(mounts.rbegin(), mounts.rend());
        for (const auto& m : mounts) umount2(m.c_str(), MNT_DETACH);
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    fs::path dir_;
    pid_t pid_ = -1;
};

std::vector<std::string> network_interfaces() {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/sys/class/net", ec))
        out.push_back(e.path().filename());
    std::sort(out.begin(), out.end());
    return out;
}

bool can_run_dockerd(std::string* why) {
    if (geteuid() != 0) return *why = "needs root to run a private dockerd", false;
    if (system("command -v dockerd >/dev/null 2>&1") != 0)
        return *why = "no dockerd in PATH", false;
    if (system("command -v unshare >/dev/null 2>&1") != 0)
        return *why = "no unshare in PATH", false;
    return true;
}

TEST(DockerEngineRestart, EventStreamReconnectsAndReportsTheGap) {
    std::string why;
    if (!can_run_dockerd(&why)) {
        if (tenex::test::in_ci()) FAIL() << "engine restart test required in CI: " << why;
        GTEST_SKIP() << why;
    }
    auto host_links = network_interfaces();
    PrivateDockerd engine;
    ASSERT_TRUE(engine.ok());
    auto started = engine.start();
    ASSERT_TRUE(started) << started.error().message;
    auto client = Client::connect({.socket = engine.socket(), .timeout = 10000ms});
    ASSERT_TRUE(client) << client.error().describe();

    std::mutex mu;
    std::vector<Event> events;
    std::vector<EventGap> gaps;
    std::atomic<bool> connected{false};
    std::atomic<int> errors{0};
    EventStreamOptions options;
    options.filter.types = {"volume"};  // volumes need no image on the private engine
    options.initial_backoff = 100ms;
    options.max_backoff = 1000ms;
    EventStream stream(**client, options,
                       {.on_event =
                            [&](const Event& e) {
                                std::lock_guard l(mu);
                                events.push_back(e);
                            },
                        .on_connected = [&] { connected = true; },
                        .on_gap =
                            [&](const EventGap& g) {
                                std::lock_guard l(mu);
                                gaps.push_back(g);
                            },
                        .on_error = [&](const DockerError&) { ++errors; }});
    stream.start();
    ASSERT_TRUE(eventually([&] { return connected.load(); }, 10s));

    auto make_volume = [&](const std::string& name) {
        return (*client)->call_json("POST", "/volumes/create", "create volume",
                                    {{"Name", name}, {"Labels", {{"tenex.test", "1"}}}});
    };
    auto seen = [&](const std::string& name) {
        std::lock_guard l(mu);
        return std::any_of(events.begin(), events.end(),
                           [&](const Event& e) { return e.id == name && e.action == "create"; });
    };
    ASSERT_TRUE(make_volume("tenex-before"));
    ASSERT_TRUE(eventually([&] { return seen("tenex-before"); }, 10s));

    auto before_kill = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    engine.kill_hard();
    ASSERT_TRUE(eventually([&] { return !stream.connected(); }, 5s));
    std::this_thread::sleep_for(300ms);  // the stream retries against a dead socket meanwhile
    auto restarted = engine.start();
    ASSERT_TRUE(restarted) << restarted.error().message;

    ASSERT_TRUE(eventually(
        [&] {
            std::lock_guard l(mu);
            return !gaps.empty();
        },
        15s))
        << "no reconnect reported; dockerd log:\n"
        << engine.log_tail();
    EXPECT_TRUE(stream.connected());
    EXPECT_EQ(stream.reconnects(), 1);
    EXPECT_GE(errors.load(), 1);
    {
        std::lock_guard l(mu);
        EXPECT_LE(gaps[0].since, gaps[0].until);
        EXPECT_GE(gaps[0].since, before_kill - 1);
    }
    ASSERT_TRUE(make_volume("tenex-after"));
    EXPECT_TRUE(eventually([&] { return seen("tenex-after"); }, 10s));

    auto t0 = std::chrono::steady_clock::now();
    stream.stop();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
    (void)(*client)->call("DELETE", "/volumes/tenex-before", "remove volume");
    (void)(*client)->call("DELETE", "/volumes/tenex-after", "remove volume");
    // The shared engine's world is untouched: same host network interfaces as before.
    EXPECT_EQ(network_interfaces(), host_links);
}

}  // namespace
}  // namespace tenex::docker::test
