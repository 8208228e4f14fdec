// Network modes proven inside real containers, started by the real orchestrator: the probe
// image's `connect IP PORT MS` reports from inside what it can reach. Destinations are
// listeners this test opens on the host (0.0.0.0, loopback) and probe containers on the
// default bridge; nothing is sent off this machine.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "../docker/docker_fixture.hpp"
#include "../orchestrator/test_options.hpp"
#include "../orchestrator/test_policy.hpp"
#include "docker/containers.hpp"
#include "docker/logs.hpp"
#include "docker/networks.hpp"
#include "environment.hpp"
#include "hostnet/egress_firewall.hpp"
#include "hostnet/network_enforcer.hpp"
#include "sandbox/orchestrator.hpp"

namespace tenex::sandbox {
namespace {

using namespace std::chrono_literals;
using docker::test::eventually;
using hostnet::bridge_interface;
using hostnet::HostFirewall;
using hostnet::kFirewallChain;

// A TCP listener on the host that counts the connections it accepts.
class HostListener {
  public:
    explicit HostListener(const std::string& ip) {
        fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        inet_pton(AF_INET, ip.c_str(), &sa.sin_addr);
        ok_ = bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 && listen(fd_, 16) == 0;
        socklen_t len = sizeof sa;
        getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
        port_ = ntohs(sa.sin_port);
        thread_ = std::thread([this] {
            while (!stop_) {
                pollfd p{fd_, POLLIN, 0};
                if (poll(&p, 1, 100) != 1) continue;
                int c = accept(fd_, nullptr, nullptr);
                if (c >= 0) {
                    ++accepted_;
                    close(c);
                }
            }
        });
    }
    ~HostListener() {
        stop_ = true;
        thread_.join();
        close(fd_);
    }
    bool ok() const { return ok_; }
    int port() const { return port_; }
    int accepted() const { return accepted_.load(); }

  private:
    int fd_ = -1;
    bool ok_ = false;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> accepted_{0};
    std::thread thread_;
};

// For the life of the object the host's /etc/resolv.conf names a resolver on loopback
// (127.0.0.1, as with dnsmasq or unbound there): the setup in which Docker's embedded resolver
// forwards a container's queries from the host's namespace (CVE-2024-29018). A UDP socket on
// 127.0.0.1:53 records the names asked (never answered). The file's content is written back
// by the destructor. Only for a regular file (a symlinked resolv.conf belongs to a resolver
// daemon: not touched).
class LoopbackResolver {
  public:
    LoopbackResolver() {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(std::filesystem::symlink_status(kPath, ec))) {
            why_ = std::string(kPath) + " is not a regular file";
            return;
        }
        fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(53);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
            why_ = std::string("cannot bind 127.0.0.1:53: ") + std::strerror(errno);
            return;
        }
        std::ifstream in(kPath);
        saved_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        std::ofstream(kPath, std::ios::trunc) << "nameserver 127.0.0.1\n";
        swapped_ = true;
        thread_ = std::thread([this] {
            while (!stop_) {
                pollfd p{fd_, POLLIN, 0};
                if (poll(&p, 1, 100) != 1) continue;
                unsigned char buf[512];
                const auto n = recv(fd_, buf, sizeof buf, 0);
                if (n > 12) {
                    std::lock_guard lock(mu_);
                    asked_.push_back(question_name(buf + 12, buf + n));
                }
            }
        });
    }
    ~LoopbackResolver() {
        if (swapped_) std::ofstream(kPath, std::ios::trunc) << saved_;
        stop_ = true;
        if (thread_.joinable()) thread_.join();
        if (fd_ >= 0) close(fd_);
    }
    bool ok() const { return swapped_; }
    const std::string& why() const { return why_; }
    bool asked(const std::string& name) const {
        std::lock_guard lock(mu_);
        return std::find(asked_.begin(), asked_.end(), name) != asked_.end();
    }

  private:
    static constexpr const char* kPath = "/etc/resolv.conf";
    // The query's first name, dotted (labels: a length byte, then the bytes).
    static std::string question_name(const unsigned char* p, const unsigned char* end) {
        std::string name;
        while (p < end && *p != 0 && p + 1 + *p <= end) {
            if (!name.empty()) name += '.';
            name.append(reinterpret_cast<const char*>(p + 1), *p);
            p += 1 + *p;
        }
        return name;
    }

    int fd_ = -1;
    bool swapped_ = false;
    std::string why_;
    std::string saved_;
    std::atomic<bool> stop_{false};
    mutable std::mutex mu_;
    std::vector<std::string> asked_;
    std::thread thread_;
};

// A TCP listener on ip:port exists on the host (/proc/net/tcp; a forwarder takes connections
// from its project's bridge only, so the host itself cannot connect to it).
bool host_listens(const std::string& ip, int port) {
    in_addr a{};
    if (inet_pton(AF_INET, ip.c_str(), &a) != 1) return false;
    char want[32];
    std::snprintf(want, sizeof want, "%08X:%04X", a.s_addr, port);  // the kernel's byte order
    std::ifstream in("/proc/net/tcp");
    for (std::string line; std::getline(in, line);) {
        std::istringstream words(line);
        std::string sl, local, remote, state;
        words >> sl >> local >> remote >> state;
        if (local == want && state == "0A") return true;  // TCP_LISTEN
    }
    return false;
}

bool host_connects(const std::string& ip, int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(port));
    inet_pton(AF_INET, ip.c_str(), &sa.sin_addr);
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    close(fd);
    return ok;
}

class NetworkModesTest : public ::testing::Test {
  protected:
    void SetUp() override {
        TENEX_REQUIRE_DOCKER();
        if (geteuid() != 0) {
            if (tenex::test::in_ci()) FAIL() << "network enforcement needs root (iptables) in CI";
            GTEST_SKIP() << "network enforcement needs root (iptables)";
        }
        auto c = docker::Client::connect();
        ASSERT_TRUE(c) << c.error().describe();
        client_ = std::move(c).value();
        auto image = docker::test::ensure_probe_image(*client_);
        ASSERT_TRUE(image) << image.error().describe();
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        daemon_id_ = "test-" + docker::test::run_id() + "-" + info->name();
        engine_ = std::make_unique<DockerEngine>(*client_);
        auto bridge = docker::inspect_network(*client_, "bridge");
        ASSERT_TRUE(bridge && !bridge->gateways.empty());
        docker0_ = bridge->gateways[0];
    }

    void TearDown() override {
        if (!client_) return;
        orchestrators_.clear();  // stops forwarders
        auto left = docker::list_containers(
            *client_,
            {.all = true, .labels = {std::string(kLabelDaemon) + "=" + daemon_id_}, .names = {}});
        if (left)
            for (const auto& c : *left) (void)docker::remove_container(*client_, c.id, true, true);
        for (const auto& id : extra_containers_)
            (void)docker::remove_container(*client_, id, true, true);
        auto nets = docker::list_networks(*client_, {std::string(kLabelDaemon) + "=" + daemon_id_});
        if (nets)
            for (const auto& n : *nets) {
                (void)docker::remove_network(*client_, n.id);
                (void)HostFirewall::remove(bridge_interface(n));
            }
    }

    Orchestrator& make(std::vector<std::string> relays = {}) {
        OrchestratorOptions o = test::test_options(
            daemon_id_,
            [this] {
                std::lock_guard lock(mu_);
                return policy_;
            },
            dir_.path());
        o.relays = std::move(relays);
        orchestrators_.push_back(std::make_unique<Orchestrator>(std::move(o), *engine_));
        return *orchestrators_.back();
    }

    void set_policy(Policy p) {
        std::lock_guard lock(mu_);
        policy_ = std::move(p);
    }

    Policy policy(NetworkMode mode, std::vector<std::string> args) {
        Policy p = test::probe_policy(std::move(args));
        p.network.mode = mode;
        p.lifecycle.restart = RestartMode::never;
        return p;
    }

    ProjectRef project(const std::string& d) {
        return ProjectRef{.owner = std::string(64, 'c'), .d = d + "-" + docker::test::run_id()};
    }

    // Starts (or replaces) the project's container with the probe arguments and returns its
    // output once it has exited.
    std::string probe(Orchestrator& orch, const ProjectRef& ref, Policy p) {
        set_policy(std::move(p));
        auto r = orch.restart(ref).get();
        EXPECT_TRUE(r) << (r ? "" : r.error().message);
        if (!r || r->container_id.empty()) return "start failed";
        auto waited = docker::wait_container(*client_, r->container_id,
                                             docker::WaitCondition::NotRunning, 30s);
        EXPECT_TRUE(waited);
        auto logs = docker::container_logs(*client_, r->container_id);
        EXPECT_TRUE(logs);
        return logs ? logs->out : std::string();
    }

    std::string connect_from(Orchestrator& orch, const ProjectRef& ref, NetworkMode mode,
                             const std::string& ip, int port, Policy base = {}) {
        Policy p = base.image.empty() || base.args.empty() ? policy(mode, {}) : base;
        p.network.mode = mode;
        p.lifecycle.restart = RestartMode::never;
        p.args = {"connect", ip, std::to_string(port), "1500"};
        return probe(orch, ref, p);
    }

    // A probe container on the default bridge listening on 8080; returns its IP.
    std::string target_container() {
        docker::ContainerSpec spec;
        spec.name = "tenex-test-" + docker::test::run_id() + "-target-" +
                    std::to_string(extra_containers_.size());
        spec.image = docker::test::kProbeImage;
        spec.cmd = {"listen", "8080"};
        spec.user = "65534:65534";
        spec.labels = {{"tenex.test", "1"}, {"tenex.test.run", docker::test::run_id()}};
        spec.network_mode = "bridge";
        auto id = docker::create_container(*client_, spec);
        EXPECT_TRUE(id) << id.error().describe();
        if (!id) return {};
        extra_containers_.push_back(*id);
        EXPECT_TRUE(docker::start_container(*client_, *id));
        auto info = docker::inspect_container(*client_, *id);
        EXPECT_TRUE(info);
        std::string ip = info ? info->network_ips["bridge"] : std::string();
        EXPECT_FALSE(ip.empty());
        return ip;
    }

    std::string gateway_of(const ProjectRef& ref) {
        auto net = docker::inspect_network(*client_, network_name(ref));
        EXPECT_TRUE(net) << net.error().describe();
        return net && !net->gateways.empty() ? net->gateways[0] : std::string();
    }

    std::unique_ptr<docker::Client> client_;
    std::unique_ptr<DockerEngine> engine_;
    std::string daemon_id_;
    std::string docker0_;
    std::mutex mu_;
    Policy policy_;
    tenex::test::TempDir dir_;
    std::vector<std::unique_ptr<Orchestrator>> orchestrators_;
    std::vector<std::string> extra_containers_;
};

const char* kOk = "connect=ok";
const char* kFailed = "connect=failed";

TEST_F(NetworkModesTest, NoneReachesNothing) {
    HostListener host("0.0.0.0");
    ASSERT_TRUE(host.ok());
    const std::string target = target_container();
    Orchestrator& orch = make();
    const auto ref = project("none");
    auto out = connect_from(orch, ref, NetworkMode::none, docker0_, host.port());
    EXPECT_NE(out.find(kFailed), std::string::npos) << out;
    EXPECT_NE(out.find("unreachable"), std::string::npos) << out;  // no route at all
    out = connect_from(orch, ref, NetworkMode::none, target, 8080);
    EXPECT_NE(out.find(kFailed), std::string::npos) << out;
    EXPECT_EQ(host.accepted(), 0);
}

TEST_F(NetworkModesTest, OpenReachesAContainerOnTheBridge) {
    const std::string target = target_container();
    Orchestrator& orch = make();
    const auto ref = project("open");
    std::string out;
    // The target may need a moment to listen.
    ASSERT_TRUE(eventually(
        [&] {
            out = connect_from(orch, ref, NetworkMode::open, target, 8080);
            return out.find(kOk) != std::string::npos;
        },
        20s))
        << out;
}

TEST_F(NetworkModesTest, IsolatedReachesNeitherHostNorOtherContainersNorOutside) {
    HostListener any("0.0.0.0");
    ASSERT_TRUE(any.ok());
    const std::string target = target_container();
    Orchestrator& orch = make();
    const auto ref = project("isolated");
    set_policy(policy(NetworkMode::isolated, {"sleep"}));
    ASSERT_TRUE(orch.ensure_running(ref).get());
    const std::string gw = gateway_of(ref);
    ASSERT_FALSE(gw.empty());
    // A service bound on the gateway address itself.
    HostListener on_gateway(gw);
    ASSERT_TRUE(on_gateway.ok());
    EXPECT_TRUE(host_connects(gw, on_gateway.port()));  // it does listen (from the host)
    ASSERT_TRUE(eventually([&] { return on_gateway.accepted() == 1; }, 5s));
    const int before = on_gateway.accepted();

    for (const auto& [ip, port] : std::vector<std::pair<std::string, int>>{
             {gw, any.port()}, {gw, on_gateway.port()}, {docker0_, any.port()}}) {
        auto out = connect_from(orch, ref, NetworkMode::isolated, ip, port);
        EXPECT_NE(out.find(kFailed), std::string::npos) << ip << ":" << port << " " << out;
    }
    // Another container on the default bridge: the same path as the outside world (routed
    // through the host), which this test must not send packets to.
    auto out = connect_from(orch, ref, NetworkMode::isolated, target, 8080);
    EXPECT_NE(out.find(kFailed), std::string::npos) << out;
    EXPECT_EQ(any.accepted(), 0);
    EXPECT_EQ(on_gateway.accepted(), before);
    EXPECT_GT(orch.network_enforcer().stats(ref.address()).dropped_packets, 0u);
}

TEST_F(NetworkModesTest, EgressReachesOnlyItsForwarders) {
    HostListener relay("127.0.0.1");         // the daemon's embedded relay (loopback)
    HostListener private_dest("127.0.0.1");  // an allowlisted name that resolves to loopback
    HostListener any("0.0.0.0");             // some other host service
    ASSERT_TRUE(relay.ok() && private_dest.ok() && any.ok());
    const std::string relay_url = "ws://127.0.0.1:" + std::to_string(relay.port());
    Orchestrator& orch = make({relay_url});
    const auto ref = project("egress");
    Policy p = policy(NetworkMode::egress, {"sleep"});
    p.network.relays = true;
    p.network.allow = {HostPort{.host = "localhost", .port = private_dest.port()}};
    set_policy(p);
    auto started = orch.ensure_running(ref).get();
    ASSERT_TRUE(started) << started.error().message;
    const std::string gw = gateway_of(ref);
    ASSERT_FALSE(gw.empty());

    // The container knows each name by a host address of its network: the first name the
    // gateway, the next one an address from the top of the subnet.
    auto info = docker::inspect_container(*client_, started->container_id);
    ASSERT_TRUE(info);
    const auto& hosts = info->spec.extra_hosts;
    EXPECT_NE(std::find(hosts.begin(), hosts.end(), "localhost:" + gw), hosts.end());
    std::string relay_ip;
    for (const auto& h : hosts)
        if (h.starts_with("tenex-relay-1:")) relay_ip = h.substr(14);
    ASSERT_FALSE(relay_ip.empty());
    EXPECT_NE(relay_ip, gw);
    const auto& env = info->spec.env;
    EXPECT_NE(std::find(env.begin(), env.end(),
                        "TENEX_RELAYS=ws://tenex-relay-1:" + std::to_string(relay.port())),
              env.end());

    // The relay's forwarder passes through to the loopback relay.
    auto out = connect_from(orch, ref, NetworkMode::egress, relay_ip, relay.port(), p);
    EXPECT_NE(out.find(kOk), std::string::npos) << out;
    EXPECT_TRUE(eventually([&] { return relay.accepted() >= 1; }, 5s));

    // An allowlisted name that resolves to a non-public address: the forwarder refuses.
    const auto refused_before = orch.network_enforcer().stats(ref.address()).refused;
    out = connect_from(orch, ref, NetworkMode::egress, gw, private_dest.port(), p);
    EXPECT_TRUE(eventually(
        [&] { return orch.network_enforcer().stats(ref.address()).refused > refused_before; }, 5s));
    EXPECT_EQ(private_dest.accepted(), 0);

    // Ports that are not forwarders: host services on the gateway, the forwarder address and
    // elsewhere; and the relay's port on the address of another name.
    out = connect_from(orch, ref, NetworkMode::egress, gw, relay.port(), p);
    EXPECT_NE(out.find(kFailed), std::string::npos) << out;
    for (const auto& ip : {gw, relay_ip, docker0_}) {
        out = connect_from(orch, ref, NetworkMode::egress, ip, any.port(), p);
        EXPECT_NE(out.find(kFailed), std::string::npos) << ip << " " << out;
    }
    EXPECT_EQ(any.accepted(), 0);
    EXPECT_GT(orch.network_enforcer().stats(ref.address()).dropped_packets, 0u);

    // A container on another network (an `open` project on the default bridge) cannot use
    // this project's forwarders: they take connections that arrive on their bridge only (the
    // host itself still can: local traffic is not bound to a device).
    const auto accepted_before = relay.accepted();
    const auto outsider = project("outsider");
    for (const auto& ip : {relay_ip, gw}) {
        out = connect_from(orch, outsider, NetworkMode::open, ip, relay.port());
        EXPECT_NE(out.find(kFailed), std::string::npos) << ip << " " << out;
    }
    EXPECT_TRUE(host_listens(relay_ip, relay.port()));
    EXPECT_EQ(relay.accepted(), accepted_before);
}

TEST_F(NetworkModesTest, RulesAndForwardersGoWithTheNetworkAndComeBackAfterARestart) {
    HostListener relay("127.0.0.1");
    ASSERT_TRUE(relay.ok());
    const std::string relay_url = "ws://127.0.0.1:" + std::to_string(relay.port());
    const auto ref = project("teardown");
    Policy p = policy(NetworkMode::egress, {"sleep"});
    p.network.relays = true;
    set_policy(p);
    std::string gw;
    {
        Orchestrator& first = make({relay_url});
        ASSERT_TRUE(first.ensure_running(ref).get());
        gw = gateway_of(ref);
        ASSERT_FALSE(gw.empty());
        EXPECT_TRUE(host_listens(gw, relay.port()));  // the forwarder listens
        // The daemon goes away, its project keeps running.
        first.shutdown(false);
        orchestrators_.clear();
    }
    EXPECT_FALSE(host_listens(gw, relay.port()));
    auto bridges = HostFirewall::bridges();
    EXPECT_NE(std::find(bridges.begin(), bridges.end(), bridge_name(ref)), bridges.end());

    // The next daemon adopts the container and brings its forwarder back.
    Orchestrator& second = make({relay_url});
    ASSERT_TRUE(second.reconcile().get());
    EXPECT_TRUE(eventually([&] { return host_listens(gw, relay.port()); }, 10s));

    // Stopping the project removes network, forwarders and rules.
    auto stopped = second.stop(ref).get();
    ASSERT_TRUE(stopped) << stopped.error().message;
    auto net = docker::inspect_network(*client_, network_name(ref));
    ASSERT_FALSE(net);
    EXPECT_TRUE(net.error().not_found());
    bridges = HostFirewall::bridges();
    EXPECT_EQ(std::find(bridges.begin(), bridges.end(), bridge_name(ref)), bridges.end());
    auto listed = HostFirewall::run({"iptables", "-w", "-S", kFirewallChain});
    ASSERT_TRUE(listed);
    EXPECT_EQ(listed->find(bridge_name(ref)), std::string::npos) << *listed;

    // A daemon that stops its projects when it shuts down (`up --stop-projects`) takes their
    // networks, forwarders and rules with them.
    ASSERT_TRUE(second.ensure_running(ref).get());
    ASSERT_TRUE(docker::inspect_network(*client_, network_name(ref)));
    gw = gateway_of(ref);
    EXPECT_TRUE(host_listens(gw, relay.port()));
    second.shutdown(true);
    orchestrators_.clear();
    net = docker::inspect_network(*client_, network_name(ref));
    ASSERT_FALSE(net);
    EXPECT_TRUE(net.error().not_found());
    bridges = HostFirewall::bridges();
    EXPECT_EQ(std::find(bridges.begin(), bridges.end(), bridge_name(ref)), bridges.end());
    EXPECT_FALSE(host_listens(gw, relay.port()));
}

// A name looked up inside a project network must not leave the host through a resolver on the
// host's loopback: the engine's embedded resolver queried it from the host's namespace
// (CVE-2024-29018). A control container on an internal network of its own, without the
// daemon's resolver setting, shows whether this engine does (Debian 12's 20.10.24 does);
// the daemon's isolated and egress containers must never get their names there, while the
// names their policy allows still resolve (through /etc/hosts).
TEST_F(NetworkModesTest, NamesLookedUpInsideDoNotLeaveThroughAResolverOnHostLoopback) {
    LoopbackResolver resolver;
    if (!resolver.ok()) {
        if (tenex::test::in_ci()) FAIL() << resolver.why();
        GTEST_SKIP() << resolver.why();
    }
    const std::string run = docker::test::run_id();

    // The control: the engine's own behaviour on an internal network.
    docker::NetworkSpec net;
    net.name = "tenex-test-" + run + "-dns-control";
    net.internal = true;
    net.labels = {{kLabelDaemon, daemon_id_}};
    ASSERT_TRUE(docker::create_network(*client_, net));
    docker::ContainerSpec control;
    control.name = net.name;
    control.image = docker::test::kProbeImage;
    control.cmd = {"resolve", "control-" + run + ".leak.example"};
    control.user = "65534:65534";
    control.labels = {{kLabelDaemon, daemon_id_}};
    control.network_mode = net.name;
    auto id = docker::create_container(*client_, control);
    ASSERT_TRUE(id) << id.error().describe();
    ASSERT_TRUE(docker::start_container(*client_, *id));
    ASSERT_TRUE(docker::wait_container(*client_, *id, docker::WaitCondition::NotRunning, 30s));
    const bool engine_leaks = eventually([&] { return resolver.asked(control.cmd[1]); }, 2s);
    std::cout << "this engine's embedded resolver on an internal network "
              << (engine_leaks ? "queries" : "does not query") << " a resolver on host loopback\n";
    RecordProperty("engine_queries_host_loopback", engine_leaks ? "yes" : "no");

    Orchestrator& orch = make();
    for (const auto mode : {NetworkMode::isolated, NetworkMode::egress}) {
        Policy p = policy(mode, {});
        p.network.allow = {HostPort{.host = "allowed.example", .port = 443}};
        const std::string name = to_string(mode) + "-" + run + ".leak.example";
        p.args = {"resolve", name};
        const auto ref = project("dns-" + to_string(mode));
        auto out = probe(orch, ref, p);
        EXPECT_NE(out.find("resolve=failed"), std::string::npos) << out;
        std::this_thread::sleep_for(500ms);  // a query in flight would have arrived by now
        EXPECT_FALSE(resolver.asked(name))
            << to_string(mode) << ": the name reached the host's resolver";
        if (mode == NetworkMode::egress) {
            p.args = {"resolve", "allowed.example"};
            out = probe(orch, ref, p);
            EXPECT_NE(out.find("resolve=ok name=allowed.example"), std::string::npos) << out;
        }
    }
}

// HostFirewall on its own (root and iptables, no engine): the rules of a bridge are exactly
// what apply asks for, in an order that never opens it, a second apply changes nothing, a new
// allow-list replaces the old one, and remove leaves no rule of the bridge.
TEST(HostFirewallTest, ApplyIsExactAndIdempotentAndRemoveLeavesNothing) {
    const std::string bridge = "tnxfw" + std::to_string(getpid() % 100000);
    ASSERT_TRUE(HostFirewall::remove(bridge));
    auto rules = [&] {  // the bridge's rules in chain order
        std::vector<std::string> out;
        auto text = HostFirewall::run({"iptables", "-w", "-S", kFirewallChain});
        EXPECT_TRUE(text) << text.error().message;
        std::istringstream lines(text ? *text : "");
        for (std::string line; std::getline(lines, line);)
            if (line.find("tenex:" + bridge + "\"") != std::string::npos) out.push_back(line);
        return out;
    };
    auto has = [](const std::vector<std::string>& lines, const std::string& part) {
        return std::any_of(lines.begin(), lines.end(),
                           [&](const std::string& l) { return l.find(part) != std::string::npos; });
    };

    ASSERT_TRUE(HostFirewall::apply(bridge, {{.ip = "10.255.0.1", .port = 4848}}));
    auto first = rules();
    ASSERT_EQ(first.size(), 3u) << ::testing::PrintToString(first);
    EXPECT_NE(first[0].find("-j ACCEPT"), std::string::npos);
    EXPECT_NE(first[1].find("-j ACCEPT"), std::string::npos);
    EXPECT_NE(first[2].find("-j DROP"), std::string::npos);  // the accepts come first
    EXPECT_TRUE(has(first, "--dport 4848"));
    EXPECT_TRUE(has(first, "RELATED,ESTABLISHED"));
    auto input = HostFirewall::run({"iptables", "-w", "-S", "INPUT"});
    ASSERT_TRUE(input);
    EXPECT_NE(input->find(std::string("-A INPUT -j ") + kFirewallChain), std::string::npos);

    ASSERT_TRUE(HostFirewall::apply(bridge, {{.ip = "10.255.0.1", .port = 4848}}));
    EXPECT_EQ(rules(), first);

    ASSERT_TRUE(HostFirewall::apply(bridge, {{.ip = "10.255.0.1", .port = 5000}}));
    auto second = rules();
    EXPECT_EQ(second.size(), 3u) << ::testing::PrintToString(second);
    EXPECT_FALSE(has(second, "--dport 4848"));
    EXPECT_TRUE(has(second, "--dport 5000"));
    EXPECT_NE(second.back().find("-j DROP"), std::string::npos);
    auto bridges = HostFirewall::bridges();
    EXPECT_NE(std::find(bridges.begin(), bridges.end(), bridge), bridges.end());
    EXPECT_EQ(HostFirewall::dropped_packets(bridge), 0u);

    ASSERT_TRUE(HostFirewall::remove(bridge));
    EXPECT_TRUE(rules().empty());
    bridges = HostFirewall::bridges();
    EXPECT_EQ(std::find(bridges.begin(), bridges.end(), bridge), bridges.end());
    EXPECT_FALSE(HostFirewall::apply("bad name;", {}));  // refused, nothing run
}

TEST(HostFirewallTest, RunGivesTheCommandItsInputAndReportsItsFailure) {
    auto echoed = HostFirewall::run({"cat"}, "*filter\nCOMMIT\n");
    ASSERT_TRUE(echoed) << echoed.error().message;
    EXPECT_EQ(*echoed, "*filter\nCOMMIT\n");
    auto failed = HostFirewall::run({"iptables-restore", "-w", "--noflush"},
                                    "*filter\n-A TENEX-NO-SUCH-CHAIN -j ACCEPT\nCOMMIT\n");
    ASSERT_FALSE(failed);
    EXPECT_NE(failed.error().message.find("iptables-restore exited with"), std::string::npos)
        << failed.error().message;
    EXPECT_FALSE(HostFirewall::run({"/nonexistent/tenex-no-such-program"}));
}

}  // namespace
}  // namespace tenex::sandbox
