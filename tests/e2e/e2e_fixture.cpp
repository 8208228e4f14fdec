#include "e2e_fixture.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <httplib.h>

#include "common/private_file.hpp"
#include "docker/networks.hpp"
#include "docker_fixture.hpp"

namespace tenex::e2e {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------

void DaemonProcess::start() {
    std::vector<char*> argv;
    std::string bin = test::tenex_binary().string();
    argv.push_back(bin.data());
    for (auto& a : args_) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
        int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::execv(bin.c_str(), argv.data());
        ::_exit(127);
    }
}

void DaemonProcess::signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
}

int DaemonProcess::wait(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return -1;
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        std::this_thread::sleep_for(50ms);
    }
    return -1;
}

void DaemonProcess::terminate() {
    if (pid_ <= 0) return;
    signal(SIGTERM);
    if (wait(20s) < 0) {
        signal(SIGKILL);
        wait(5s);
    }
}

std::string DaemonProcess::log() const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

HttpReply http_get(int port, const std::string& path) {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(2, 0);
    c.set_read_timeout(10, 0);
    auto r = c.Get(path.c_str());
    if (!r) return {};
    return {r->status, r->body};
}

// ---------------------------------------------------------------------------------------------

void EndToEnd::SetUp() {
    TENEX_REQUIRE_DOCKER();
    auto client = docker::Client::connect();
    ASSERT_TRUE(client) << client.error().describe();
    docker_ = std::move(*client);
    auto image = docker::test::ensure_probe_image(*docker_);
    ASSERT_TRUE(image) << image.error().describe();

    dir_ = std::make_unique<test::TempDir>();
    std::random_device rd;
    daemon_id_ = "e2e-" + std::to_string(rd() % 1000000);
    owner_.emplace(nostr::Keys::generate());
    ASSERT_TRUE(
        write_private_file((dir_->path() / "owner.key").string(), owner_->secret.reveal_hex()));
    fs::create_directories(dir_->path() / "policies");
    fs::copy_file(test::source_dir() / "examples/policies/default.yaml",
                  dir_->path() / "policies/default.yaml");
    relay_port_ = test::free_loopback_port();
    http_port_ = test::free_loopback_port();
    gateway_port_ = test::free_loopback_port();
    relay_url_ = "ws://127.0.0.1:" + std::to_string(relay_port_);
}

void EndToEnd::TearDown() {
    if (daemon_) {
        daemon_->terminate();
        if (HasFailure())
            std::cerr << "---- daemon log ----\n" << daemon_->log() << "--------------------\n";
    }
    pool_.reset();
    if (!docker_) return;
    // Whatever the daemon left (it leaves projects running on purpose).
    docker::ListOptions lo;
    lo.all = true;
    lo.labels = {"tenex.daemon=" + daemon_id_};
    if (auto list = docker::list_containers(*docker_, lo))
        for (const auto& c : *list) (void)docker::remove_container(*docker_, c.id, true);
    if (auto nets = docker::list_networks(*docker_, {"tenex.daemon=" + daemon_id_}))
        for (const auto& n : *nets) (void)docker::remove_network(*docker_, n.id);
}

std::vector<std::string> EndToEnd::daemon_args(std::vector<std::string> extra,
                                               bool embedded_relay) const {
    const auto& d = dir_->path();
    std::vector<std::string> args{"up",
                                  "--daemon-id",
                                  daemon_id_,
                                  "--policies",
                                  (d / "policies").string(),
                                  "-p",
                                  (d / "projects").string(),
                                  "--state-dir",
                                  (d / "state").string(),
                                  "--key",
                                  (d / "daemon.key").string(),
                                  "--http",
                                  "127.0.0.1:" + std::to_string(http_port_)};
    if (std::find(extra.begin(), extra.end(), "--gateway") == extra.end()) {
        args.push_back("--gateway");
        args.push_back("127.0.0.1:" + std::to_string(gateway_port_));
    }
    if (std::find(extra.begin(), extra.end(), "-c") == extra.end() &&
        std::find(extra.begin(), extra.end(), "--tenex-config") == extra.end()) {
        args.push_back("-w");
        args.push_back(owner_->pub.hex());
    }
    if (embedded_relay) {
        args.push_back("--embedded-relay");
        args.push_back("127.0.0.1:" + std::to_string(relay_port_));
    }
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

void EndToEnd::start_daemon(std::vector<std::string> extra, bool embedded_relay) {
    daemon_ = std::make_unique<DaemonProcess>(
        dir_->path() / ("daemon-" + std::to_string(++daemon_starts_) + ".log"),
        daemon_args(std::move(extra), embedded_relay));
    daemon_->start();
    ASSERT_TRUE(eventually([&] { return http_get(http_port_, "/healthz").status == 200; }, 30s))
        << "daemon not healthy:\n"
        << daemon_->log();
    if (!pool_) {
        // The tests restart the daemon (and its embedded relay) on purpose: the test's client
        // reconnects within a second each time, however short the last daemon lived.
        relay::PoolOptions options;
        options.backoff.cap = 1s;
        options.stable_after = 0s;
        pool_ = std::make_unique<relay::RelayPool>(options);
        ASSERT_TRUE(pool_->add_relay(relay_url_));
    }
    ASSERT_TRUE(pool_->wait_connected(1, 10s));
}

void EndToEnd::kill_daemon(int sig) {
    daemon_->signal(sig);
    ASSERT_GE(daemon_->wait(30s), 0);
}

void EndToEnd::publish(const nostr::Event& event) {
    auto result = pool_->publish(event, 5s).get();
    ASSERT_FALSE(result.relays.empty());
    for (const auto& r : result.relays) ASSERT_TRUE(r.accepted) << r.relay << ": " << r.message;
}

std::string EndToEnd::publish_project(const nostr::Keys& owner, const std::string& d_suffix) {
    const std::string d = "e2e-" + d_suffix;
    nostr::UnsignedEvent u;
    u.kind = 31933;
    u.content = "An end-to-end test project";
    u.tags = {{"d", d}, {"title", "E2E " + d_suffix}};
    auto ev = nostr::sign_event(u, owner);
    EXPECT_TRUE(ev);
    publish(*ev);
    return "31933:" + owner.pub.hex() + ":" + d;
}

nostr::Event EndToEnd::sign_message(const nostr::Keys& author, const std::string& address,
                                    const std::string& text, std::uint32_t kind) {
    nostr::UnsignedEvent u;
    u.kind = kind;
    u.content = text;
    u.tags = {{"a", address}};
    auto ev = nostr::sign_event(u, author);
    EXPECT_TRUE(ev);
    return *ev;
}

nostr::Event EndToEnd::publish_message(const nostr::Keys& author, const std::string& address,
                                       const std::string& text, std::uint32_t kind) {
    auto ev = sign_message(author, address, text, kind);
    publish(ev);
    return ev;
}

std::vector<docker::ContainerSummary> EndToEnd::containers() const {
    docker::ListOptions lo;
    lo.all = true;
    lo.labels = {"tenex.daemon=" + daemon_id_};
    auto list = docker::list_containers(*docker_, lo);
    EXPECT_TRUE(list);
    return list ? *list : std::vector<docker::ContainerSummary>{};
}

std::vector<docker::ContainerSummary> EndToEnd::running_for(const std::string& address) const {
    std::vector<docker::ContainerSummary> out;
    for (auto& c : containers()) {
        auto it = c.labels.find("tenex.project");
        if (it != c.labels.end() && it->second == address && c.state == "running") out.push_back(c);
    }
    return out;
}

std::optional<nostr::Event> EndToEnd::reply_to(const nostr::Event& message,
                                               const std::string& address) {
    nostr::Filter f;
    f.kinds = std::vector<std::uint32_t>{1};
    f.tags['e'] = {message.id};
    auto events = pool_->fetch({f}, 3s).get();
    for (auto& e : events) {
        if (e.pubkey == message.pubkey) continue;
        auto a = e.tag_value("a");
        if (a && *a == address) return e;
    }
    return std::nullopt;
}

double EndToEnd::metric(const std::string& series) {
    auto r = http_get(http_port_, "/metrics");
    double sum = 0;
    std::istringstream in(r.body);
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') continue;
        auto space = line.rfind(' ');
        if (space == std::string::npos) continue;
        std::string name = line.substr(0, space);
        if (name == series ||
            (series.find('{') == std::string::npos && name.rfind(series + "{", 0) == 0))
            sum += std::stod(line.substr(space + 1));
    }
    return sum;
}

}  // namespace tenex::e2e
