// The orchestrator on a real multi-node Docker Swarm through SwarmEngine: the cluster of
// tests/swarm (cluster.sh up 3), the probe image loaded into every node. tests/swarm/run.sh
// runs this binary with TENEX_SWARM_HOST=unix:///run/tenex-swarm/1/docker.sock (the manager);
// without it every test is skipped, and run.sh fails on a skip. The node engines are found
// at /run/tenex-swarm/<i>/docker.sock (TENEX_SWARM_NODES: a colon-separated list instead) to
// look at the tasks' real containers. TENEX_SWARM_IMAGE: the probe image as the nodes know it
// (default tenex-probe:latest, which cluster.sh loads into every node).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "../orchestrator/test_policy.hpp"
#include "docker/containers.hpp"
#include "docker/exec.hpp"
#include "docker/images.hpp"
#include "docker/logs.hpp"
#include "docker/networks.hpp"
#include "docker/nodes.hpp"
#include "docker/services.hpp"
#include "environment.hpp"
#include "gateway/server.hpp"
#include "relay/pool.hpp"
#include "relay/server.hpp"
#include "sandbox/orchestrator.hpp"
#include "sandbox/swarm_engine.hpp"

namespace tenex::sandbox {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Waits for `done` up to `limit` (a bound against hanging, not a timing assertion).
Policy probe_policy(std::vector<std::string> args = {"sleep"}) {
    Policy p = test::probe_policy(std::move(args));
    p.network.mode = NetworkMode::open;  // the one mode on swarm yet (SWARM.md)
    if (const char* image = std::getenv("TENEX_SWARM_IMAGE"); image && *image) p.image = image;
    return p;
}

template <class F>
bool eventually(F done, std::chrono::milliseconds limit = 90s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (done()) return true;
        std::this_thread::sleep_for(200ms);
    }
    return done();
}

// A TCP listener on one address of this host standing in for the daemon's gateway: counts the
// connections it accepted (each gets one line), on its own thread.
class StandInGateway {
  public:
    explicit StandInGateway(const std::string& ip) {
        fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        inet_pton(AF_INET, ip.c_str(), &sa.sin_addr);
        ok_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
              listen(fd_, 16) == 0;
        socklen_t len = sizeof sa;
        getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
        port_ = ntohs(sa.sin_port);
        if (ok_)
            thread_ = std::thread([this] {
                for (int c; (c = accept(fd_, nullptr, nullptr)) >= 0;) {
                    (void)!write(c, "tenex-gateway-stand-in\n", 23);
                    close(c);
                    ++accepted_;
                }
            });
    }
    ~StandInGateway() {
        shutdown(fd_, SHUT_RDWR);  // ends accept()
        if (thread_.joinable()) thread_.join();
        close(fd_);
    }
    bool ok() const { return ok_; }
    std::uint16_t port() const { return port_; }
    int accepted() const { return accepted_; }

  private:
    int fd_ = -1;
    bool ok_ = false;
    std::uint16_t port_ = 0;
    std::atomic<int> accepted_{0};
    std::thread thread_;
};

// The forwarder image as the nodes pull it (run.sh pushes it to the cluster's registry).
std::string forwarder_image() {
    const char* env = std::getenv("TENEX_SWARM_FORWARDER_IMAGE");
    return env && *env ? env : "tenex-forwarder:latest";
}

std::string swarm_host_address() {
    const char* env = std::getenv("TENEX_SWARM_HOST_ADDRESS");
    return env && *env ? env : "10.213.0.254";
}

class SwarmEngineTest : public ::testing::Test {
  protected:
    void SetUp() override {
        const char* host = std::getenv("TENEX_SWARM_HOST");
        if (!host || !*host)
            GTEST_SKIP() << "TENEX_SWARM_HOST is not set: these tests need a swarm manager "
                            "(tests/swarm/run.sh builds a 3-node one and sets it)";
        auto c = docker::Client::connect({.socket = host, .timeout = 30s});
        ASSERT_TRUE(c) << c.error().describe();
        manager_ = std::move(c).value();
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        daemon_id_ = "swarm3-test-" + std::to_string(getpid()) + "-" + info->name();
        engine_ = std::make_unique<SwarmEngine>(*manager_);
        policy_ = probe_policy();
        connect_nodes();
    }

    void TearDown() override {
        if (!manager_) return;
        for (auto& w : watches_) w->stop();
        for (auto& o : orchestrators_) o->shutdown(false);
        auto left =
            docker::list_services(*manager_, {std::string(kLabelDaemon) + "=" + daemon_id_});
        if (left)
            for (const auto& s : *left) (void)engine_->remove(s.id, true);
        auto forwarders = docker::list_services(
            *manager_, {std::string(kLabelForwarderDaemon) + "=" + daemon_id_});
        if (forwarders)
            for (const auto& s : *forwarders) (void)engine_->remove(s.id, true);
        // The uplink: of the forwarders, or of node-local workspaces' seed tasks (which leave it).
        eventually(
            [&] {
                auto r = docker::remove_network(*manager_, uplink_network_name(daemon_id_));
                return r || r.error().not_found();
            },
            30s);
    }

    // Swarm.NodeID -> that node's engine.
    void connect_nodes() {
        std::vector<std::string> sockets;
        if (const char* list = std::getenv("TENEX_SWARM_NODES"); list && *list) {
            std::string s = list;
            for (std::size_t at = 0; at <= s.size();) {
                auto colon = s.find(':', at);
                if (colon == std::string::npos) colon = s.size();
                if (colon > at) sockets.push_back(s.substr(at, colon - at));
                at = colon + 1;
            }
        } else {
            for (int i = 1; i <= 9; ++i) {
                auto p = "/run/tenex-swarm/" + std::to_string(i) + "/docker.sock";
                if (fs::exists(p)) sockets.push_back(p);
            }
        }
        for (const auto& s : sockets) {
            auto c = docker::Client::connect({.socket = s, .timeout = 10s});
            if (!c) continue;
            auto info = (*c)->call_json("GET", "/info", "info");
            if (!info) continue;
            auto id = (*info)["Swarm"].value("NodeID", std::string());
            if (id.empty()) continue;
            nodes_[id] = std::move(c).value();
            node_sockets_[id] = s;
        }
    }

    OrchestratorOptions options() {
        OrchestratorOptions o;
        o.daemon_id = daemon_id_;
        o.policies = [this](const ProjectRef& p) -> Result<Policy> {
            std::lock_guard lock(mu_);
            auto own = policy_of_.find(p.d);
            return own != policy_of_.end() ? own->second : policy_;
        };
        // On the test cluster every node engine shares this machine's file system.
        o.workspace = [root = dir_.path()](const ProjectRef& p) -> Result<fs::path> {
            auto dir = root / p.d;
            std::error_code ec;
            fs::create_directories(dir, ec);
            if (ec) return make_error(ec.message());
            return dir;
        };
        o.extra_labels = {{"tenex.test", "1"}};
        o.network_enforcer = std::make_shared<SwarmNetworkEnforcer>();
        o.relays = relays_;
        if (gateway_port_ != 0) {
            o.gateway_port = gateway_port_;
            o.gateway_secret = [](const ProjectRef&) { return std::string(64, 'a'); };
        }
        return o;
    }

    Orchestrator& make(SwarmEngine& engine) {
        orchestrators_.push_back(std::make_unique<Orchestrator>(options(), engine));
        Orchestrator& o = *orchestrators_.back();
        watches_.push_back(std::make_unique<SwarmTaskWatch>(engine, o, 500ms));
        watches_.back()->start();
        return o;
    }

    ProjectRef project(const std::string& d) {
        return ProjectRef{.owner = std::string(64, 'c'), .d = d + "-" + std::to_string(getpid())};
    }

    void set_policy(const Policy& p) {
        std::lock_guard lock(mu_);
        policy_ = p;
    }

    std::vector<docker::TaskInfo> tasks_of(const std::string& service_name) {
        auto r = docker::list_tasks(*manager_, {.services = {service_name}, .labels = {}});
        return r ? *r : std::vector<docker::TaskInfo>{};
    }

    // Tasks running now, by project label, over every service of this test.
    std::map<std::string, int> running_by_project() {
        std::map<std::string, int> out;
        auto r = engine_->tasks({std::string(kLabelDaemon) + "=" + daemon_id_});
        if (!r) return out;
        for (const auto& t : *r)
            if (t.running())
                ++out[t.labels.count(kLabelProject) ? t.labels.at(kLabelProject) : "?"];
        return out;
    }

    // The newest task of a service and its node's engine (nullptr when unknown).
    std::pair<std::optional<docker::TaskInfo>, docker::Client*> task_on_node(
        const std::string& service) {
        auto tasks = tasks_of(service);
        const auto* t = docker::newest_task(tasks);
        if (!t) return {std::nullopt, nullptr};
        auto node = nodes_.find(t->node_id);
        return {*t, node == nodes_.end() ? nullptr : node->second.get()};
    }

    // Runs `cmd` in the task's container on its node (exec); its standard output.
    std::string exec_in_task(const std::string& service, std::vector<std::string> cmd) {
        auto [t, node] = task_on_node(service);
        if (!t || !node) return "no task or no node engine for " + service;
        auto exec = docker::create_exec(
            *node, t->container_id,
            {.cmd = std::move(cmd), .user = {}, .tty = false, .attach_stdin = false});
        if (!exec) return exec.error().describe();
        std::string out;
        auto run = docker::start_exec(*node, *exec, false,
                                      [&](docker::LogStream stream, std::string_view data) {
                                          if (stream == docker::LogStream::Stdout) out += data;
                                          return true;
                                      });
        return run ? out : run.error().describe();
    }

    // The network is removed within 30 s.
    bool network_gone(const std::string& name) {
        return eventually(
            [&] {
                auto n = docker::inspect_network(*manager_, name);
                return !n && n.error().not_found();
            },
            30s);
    }

    // Once the daemon's last forwarder went: no forwarder service of it left, nor its uplink.
    void expect_forwarders_gone() {
        auto left = docker::list_services(*manager_,
                                          {std::string(kLabelForwarderDaemon) + "=" + daemon_id_});
        ASSERT_TRUE(left) << left.error().describe();
        EXPECT_TRUE(left->empty());
        EXPECT_TRUE(network_gone(uplink_network_name(daemon_id_))) << "the uplink overlay is left";
    }

    // Node-local workspaces (SWARM.md, "Workspaces"): the daemon's side, a real gateway serving
    // the seed archives on the cluster's bridge address and the pins in memory.
    struct NodeLocalSide {
        std::unique_ptr<relay::EmbeddedRelay> relay;
        relay::RelayPool pool;
        std::unique_ptr<gateway::Gateway> gateway;
        std::mutex mu;
        std::map<std::string, std::string> pins;
        std::vector<std::pair<std::string, std::string>> lost;  // project, why
        tenex::test::TempDir spool;
    };
    SwarmEngineOptions node_local_options(NodeLocalSide& side, const std::string& host_address) {
        relay::RelayServerOptions ro;
        ro.port = 0;
        auto relay = relay::EmbeddedRelay::start(ro);
        EXPECT_TRUE(relay) << relay.error().message;
        side.relay = std::move(*relay);
        EXPECT_TRUE(side.pool.add_relay(side.relay->url()));
        gateway::GatewayOptions go;
        go.host = host_address;
        go.port = 0;
        auto gw = gateway::Gateway::start(go, side.pool);
        EXPECT_TRUE(gw) << gw.error().message;
        side.gateway = std::move(*gw);
        SwarmEngineOptions o;
        o.forwarder_image = forwarder_image();
        o.daemon_id = daemon_id_;
        o.gateway = SwarmGateway{.target_ip = host_address, .target_port = side.gateway->port()};
        auto& nl = o.node_local;
        nl.roots = {dir_.path().string()};
        nl.lost_after = 600s;  // a node that left is gone at once
        nl.seed_timeout = 120s;
        nl.spool = side.spool.path();
        nl.pin = [&side](const std::string& service) {
            std::lock_guard lock(side.mu);
            return side.pins.count(service) ? side.pins.at(service) : std::string();
        };
        nl.set_pin = [&side](const std::string& service, const std::string& node) {
            std::lock_guard lock(side.mu);
            side.pins[service] = node;
        };
        nl.offer = [&side](const fs::path& f, std::chrono::seconds ttl) {
            return side.gateway->offer_file(f, ttl);
        };
        nl.withdraw = [&side](const std::string& path) { side.gateway->withdraw_file(path); };
        nl.lost = [&side](const std::string& project, const std::string& why) {
            std::lock_guard lock(side.mu);
            side.lost.emplace_back(project, why);
        };
        return o;
    }
    // A volume on a node's engine: its host path (the node engines share this machine's file
    // system), "" when the node has no such volume.
    std::string volume_path(docker::Client& node, const std::string& volume) {
        auto v = node.call_json("GET", "/volumes/" + volume, "volume");
        return v ? v->value("Mountpoint", std::string()) : std::string();
    }

    // An orchestrator whose engine has node-local workspaces (side_), for probe projects on
    // workers.
    Orchestrator& node_local_orchestrator() {
        side_ = std::make_unique<NodeLocalSide>();
        node_local_engine_ = std::make_unique<SwarmEngine>(
            *manager_, node_local_options(*side_, swarm_host_address()));
        Policy p = probe_policy({"sleep"});
        p.placement.constraints = {"node.role==worker"};
        set_policy(p);
        return make(*node_local_engine_);
    }
    // A project of node_local_orchestrator() with seed.txt in its directory, running.
    ProjectRef start_node_local(Orchestrator& o, const std::string& d, const std::string& seed) {
        const auto ref = project(d);
        fs::create_directories(dir_.path() / ref.d);
        std::ofstream(dir_.path() / ref.d / "seed.txt") << seed << "\n";
        auto st = o.ensure_running(ref).get();
        EXPECT_TRUE(st) << st.error().message;
        EXPECT_TRUE(st && st->state == ProjectState::running) << (st ? st->last_error : "");
        return ref;
    }

    std::unique_ptr<docker::Client> manager_;
    std::map<std::string, std::unique_ptr<docker::Client>> nodes_;
    std::map<std::string, std::string> node_sockets_;  // node id -> its engine's socket
    std::unique_ptr<SwarmEngine> engine_;
    std::string daemon_id_;
    std::mutex mu_;
    Policy policy_;
    std::map<std::string, Policy> policy_of_;  // by project d; others get policy_
    tenex::test::TempDir dir_;
    std::unique_ptr<NodeLocalSide> side_;             // before the orchestrators: outlives them
    std::unique_ptr<SwarmEngine> node_local_engine_;  // likewise
    std::vector<std::unique_ptr<Orchestrator>> orchestrators_;
    std::vector<std::unique_ptr<SwarmTaskWatch>> watches_;
    std::uint16_t gateway_port_ = 0;   // the orchestrators' gateway port (0: no gateway)
    std::vector<std::string> relays_;  // the daemon's relays (egress without the gateway)
};

TEST_F(SwarmEngineTest, ProjectsRunOneTaskEachOverSeveralNodesHardenedAndStopStart) {
    Orchestrator& o = make(*engine_);
    std::vector<ProjectRef> projects;
    for (int i = 0; i < 6; ++i) projects.push_back(project("spread" + std::to_string(i)));
    std::vector<StatusFuture> started;
    for (const auto& p : projects) started.push_back(o.ensure_running(p));
    std::set<std::string> nodes_used;
    for (std::size_t i = 0; i < projects.size(); ++i) {
        auto st = started[i].get();
        ASSERT_TRUE(st) << st.error().message;
        EXPECT_EQ(st->state, ProjectState::running) << st->last_error;
        auto info = engine_->inspect(st->container_id);
        ASSERT_TRUE(info) << info.error().describe();
        EXPECT_TRUE(info->state.running);
        EXPECT_EQ(info->name, container_name(projects[i]));
        EXPECT_FALSE(info->node_id.empty());
        EXPECT_TRUE(info->node_name.starts_with("tnx-swarm-")) << info->node_name;  // the hostname
        EXPECT_EQ(st->node, info->node_name) << "the orchestrator names the node by its hostname";
        nodes_used.insert(info->node_id);
        auto tasks = tasks_of(info->name);
        int running = 0;
        for (const auto& t : tasks) running += t.running();
        EXPECT_EQ(running, 1) << info->name;
    }
    EXPECT_GT(nodes_used.size(), 1u) << "swarm placed all 6 projects on one node";

    // Each service names the image by the digest its registry has for the tag: every node runs
    // the same bytes however the tag moves.
    auto digest = docker::registry_digest(*manager_, policy_.image);
    ASSERT_TRUE(digest) << policy_.image << ": " << digest.error().describe();
    for (const auto& p : projects) {
        auto svc = docker::inspect_service(*manager_, container_name(p));
        ASSERT_TRUE(svc) << svc.error().describe();
        EXPECT_EQ(svc->spec["TaskTemplate"]["ContainerSpec"].value("Image", ""),
                  policy_.image + "@" + *digest);
    }

    // The hardening on a task's real container, on its node.
    ASSERT_FALSE(nodes_.empty()) << "no node engine found (TENEX_SWARM_NODES)";
    int verified = 0;
    for (const auto& p : projects) {
        auto tasks = tasks_of(container_name(p));
        const auto* t = docker::newest_task(tasks);
        ASSERT_NE(t, nullptr);
        auto node = nodes_.find(t->node_id);
        if (node == nodes_.end()) continue;
        auto c = docker::inspect_container(*node->second, t->container_id);
        ASSERT_TRUE(c) << c.error().describe();
        EXPECT_TRUE(c->state.running);
        EXPECT_TRUE(c->spec.read_only_rootfs);
        EXPECT_EQ(c->spec.user, "65534:65534");
        EXPECT_EQ(c->spec.cap_drop, std::vector<std::string>{"ALL"});
        EXPECT_EQ(c->spec.memory_bytes, 64LL << 20);
        EXPECT_EQ(c->spec.nano_cpus, 500'000'000);
        EXPECT_EQ(c->spec.pids_limit, 64);
        EXPECT_TRUE(c->spec.init);
        ASSERT_EQ(c->spec.ulimits.size(), 1u);
        EXPECT_EQ(c->spec.ulimits[0].name, "nofile");
        EXPECT_EQ(c->spec.network_mode, "default");  // open: the node's default bridge
        EXPECT_EQ(c->spec.labels.at(kLabelProject), p.address());
        bool workspace = false, tmp = false;
        for (const auto& m : c->spec.mounts) {
            workspace = workspace || m.target == "/workspace";
            tmp = tmp || m.target == "/tmp";
        }
        EXPECT_TRUE(workspace);
        EXPECT_TRUE(tmp);
        ++verified;
    }
    EXPECT_EQ(verified, 6);

    // Stop two, start them again: one task each, never two.
    for (int i = 0; i < 2; ++i) {
        auto st = o.stop(projects[i]).get();
        ASSERT_TRUE(st) << st.error().message;
        EXPECT_EQ(st->state, ProjectState::stopped);
        int running = 0;
        for (const auto& t : tasks_of(container_name(projects[i]))) running += t.running();
        EXPECT_EQ(running, 0);
    }
    for (int i = 0; i < 2; ++i) {
        auto st = o.ensure_running(projects[i]).get();
        ASSERT_TRUE(st) << st.error().message;
        EXPECT_EQ(st->state, ProjectState::running) << st->last_error;
    }
    auto running = running_by_project();
    EXPECT_EQ(running.size(), 6u);
    for (const auto& [p, n] : running) EXPECT_EQ(n, 1) << p;

    // Everything removed at the end.
    for (const auto& p : projects) {
        auto st = o.forget(p).get();
        ASSERT_TRUE(st) << st.error().message;
    }
    auto left = docker::list_services(*manager_, {std::string(kLabelDaemon) + "=" + daemon_id_});
    ASSERT_TRUE(left);
    EXPECT_TRUE(left->empty());
}

TEST_F(SwarmEngineTest, CrashedTaskIsSeenAndRestartedByTheDaemonNeverTwoRunning) {
    Policy p = probe_policy({"exit", "3", "2"});  // exits with 3 after 2 s
    p.lifecycle.backoff_initial = 200ms;
    p.lifecycle.crash_loop_threshold = 10;
    set_policy(p);
    Orchestrator& o = make(*engine_);
    const auto ref = project("crash");
    std::atomic<bool> sampling{true};
    std::atomic<int> most_running{0}, samples{0};
    std::thread sampler([&] {
        while (sampling) {
            auto running = running_by_project();
            for (const auto& [proj, n] : running) most_running = std::max(most_running.load(), n);
            ++samples;
            std::this_thread::sleep_for(150ms);
        }
    });
    auto st = o.ensure_running(ref).get();
    ASSERT_TRUE(st) << st.error().message;
    // Swarm's restart condition is none: only the daemon's policy brings it back.
    const bool restarted = eventually([&] {
        auto s = o.status(ref);
        return s && s->restart_count >= 2;
    });
    sampling = false;
    sampler.join();
    EXPECT_TRUE(restarted);
    auto s = o.status(ref);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->last_exit_code, 3);
    EXPECT_EQ(s->last_exit_reason, ExitReason::exit);
    EXPECT_GT(samples.load(), 10);
    EXPECT_LE(most_running.load(), 1) << "two tasks of one project ran at once";
    // Swarm itself never started a second task of one service.
    auto services =
        docker::list_services(*manager_, {std::string(kLabelDaemon) + "=" + daemon_id_});
    ASSERT_TRUE(services);
    for (const auto& svc : *services) EXPECT_LE(tasks_of(svc.id).size(), 1u) << svc.name;
    ASSERT_TRUE(o.forget(ref).get());
}

TEST_F(SwarmEngineTest, NewInstanceAdoptsTheServicesByLabelsWithoutDuplicates) {
    Orchestrator& first = make(*engine_);
    const std::vector<ProjectRef> projects = {project("adopt0"), project("adopt1")};
    std::map<std::string, std::string> ids;
    for (const auto& p : projects) {
        auto st = first.ensure_running(p).get();
        ASSERT_TRUE(st) << st.error().message;
        ASSERT_EQ(st->state, ProjectState::running) << st->last_error;
        ids[p.address()] = st->container_id;
    }
    watches_.back()->stop();
    first.shutdown(false);  // the projects keep running, as after a daemon restart

    auto client = docker::Client::connect({.socket = std::getenv("TENEX_SWARM_HOST")});
    ASSERT_TRUE(client);
    SwarmEngine second_engine(**client);
    Orchestrator& second = make(second_engine);
    auto rec = second.reconcile().get();
    ASSERT_TRUE(rec) << rec.error().message;
    for (const auto& p : projects) {
        auto s = second.status(p);
        ASSERT_TRUE(s) << p.address();
        EXPECT_EQ(s->state, ProjectState::running);
        EXPECT_EQ(s->container_id, ids[p.address()]);
        EXPECT_EQ(s->last_wake, "adopted");
        auto again = second.ensure_running(p).get();
        ASSERT_TRUE(again) << again.error().message;
        EXPECT_EQ(again->container_id, ids[p.address()]);
    }
    auto services =
        docker::list_services(*manager_, {std::string(kLabelDaemon) + "=" + daemon_id_});
    ASSERT_TRUE(services);
    EXPECT_EQ(services->size(), projects.size());
    auto running = running_by_project();
    EXPECT_EQ(running.size(), projects.size());
    for (const auto& [p, n] : running) EXPECT_EQ(n, 1) << p;
    watches_.back()->stop();
    second.shutdown(true);  // stops and removes them
    auto left = docker::list_services(*manager_, {std::string(kLabelDaemon) + "=" + daemon_id_});
    ASSERT_TRUE(left);
    EXPECT_TRUE(left->empty());
}

// Sets (value non-empty) or removes a label on a node through the manager.
void label_node(docker::Client& manager, const std::string& node, const std::string& key,
                const std::string& value) {
    auto n = manager.call_json("GET", "/nodes/" + node, "inspect node");
    ASSERT_TRUE(n) << n.error().describe();
    auto spec = (*n)["Spec"];
    if (value.empty())
        spec["Labels"].erase(key);
    else
        spec["Labels"][key] = value;
    const auto version = (*n)["Version"]["Index"].get<std::uint64_t>();
    auto r = manager.call("POST", "/nodes/" + node + "/update?version=" + std::to_string(version),
                          "update node", spec.dump());
    ASSERT_TRUE(r) << r.error().describe();
}

TEST_F(SwarmEngineTest, PlacementAndReservationsDecideTheNodeAndAnUnplaceableStartSaysWhy) {
    ASSERT_GE(nodes_.size(), 2u) << "needs the node engines (TENEX_SWARM_NODES)";
    const std::string node = std::prev(nodes_.end())->first;  // some node, the same all along
    const std::string label = "tenex-test-tier";
    const std::string value = "pinned-" + std::to_string(getpid());
    label_node(*manager_, node, label, value);
    if (HasFatalFailure()) return;

    Policy p = probe_policy();
    p.placement.constraints = {"node.labels." + label + "==" + value};
    p.resources.reserve_memory_bytes = 32LL << 20;
    p.resources.reserve_nano_cpus = 100'000'000;
    set_policy(p);
    Orchestrator& o = make(*engine_);
    std::vector<ProjectRef> projects;
    for (int i = 0; i < 3; ++i) projects.push_back(project("pinned" + std::to_string(i)));
    for (const auto& ref : projects) {
        auto st = o.ensure_running(ref).get();
        ASSERT_TRUE(st) << st.error().message;
        ASSERT_EQ(st->state, ProjectState::running) << st->last_error;
        auto info = engine_->inspect(st->container_id);
        ASSERT_TRUE(info) << info.error().describe();
        EXPECT_EQ(info->node_id, node) << "the constraint names one node";
        EXPECT_EQ(info->spec.memory_reservation_bytes, 32LL << 20);
        EXPECT_EQ(info->spec.nano_cpus_reservation, 100'000'000);
        EXPECT_EQ(info->spec.placement_constraints, p.placement.constraints);
    }

    // No node satisfies it, or none has the memory: the start fails at once with the
    // scheduler's reason and leaves no task waiting to be placed later.
    auto refused = [&](const std::string& d, const std::string& reason) {
        const auto ref = project(d);
        const auto t0 = std::chrono::steady_clock::now();
        auto st = o.ensure_running(ref).get();
        const auto took = std::chrono::steady_clock::now() - t0;
        ASSERT_FALSE(st && st->state == ProjectState::running);
        const std::string why = st ? st->last_error : st.error().message;
        EXPECT_NE(why.find("not placed: no suitable node"), std::string::npos) << why;
        EXPECT_NE(why.find(reason), std::string::npos) << why;
        EXPECT_LT(took, 30s) << "waited for the start timeout instead of the scheduler's answer";
        for (const auto& t : tasks_of(container_name(ref))) EXPECT_TRUE(t.terminal()) << t.state;
        (void)o.forget(ref).get();
    };
    Policy nowhere = p;
    nowhere.placement.constraints = {"node.labels." + label + "==nowhere"};
    set_policy(nowhere);
    refused("nowhere", "constraints");
    Policy huge = probe_policy();
    huge.resources.memory_bytes = 4096LL << 30;
    huge.resources.memory_swap_bytes = 4096LL << 30;
    huge.resources.reserve_memory_bytes = 4096LL << 30;
    set_policy(huge);
    refused("huge", "insufficient resources");

    for (const auto& ref : projects) ASSERT_TRUE(o.forget(ref).get());
    label_node(*manager_, node, label, "");
}

// 30 projects placed by their policies: 10 anywhere (spread over the 3 nodes), then 10 on
// workers only (spread over both), then 10 on the one node carrying a label, each 10 asked at
// once. Sampled every 100 ms from the first start until all run: never two running tasks of one
// project.
TEST_F(SwarmEngineTest, ThirtyProjectsArePlacedByTheirPoliciesWithOneTaskEachThroughout) {
    ASSERT_GE(nodes_.size(), 3u) << "needs the 3 node engines (TENEX_SWARM_NODES)";
    auto info = manager_->call_json("GET", "/info", "info");
    ASSERT_TRUE(info) << info.error().describe();
    const std::string manager_node = (*info)["Swarm"].value("NodeID", "");
    ASSERT_TRUE(nodes_.count(manager_node));
    std::string pinned_node;
    for (const auto& [id, _] : nodes_)
        if (id != manager_node) pinned_node = id;  // a worker
    const std::string label = "tenex-test-thirty";
    const std::string value = "here-" + std::to_string(getpid());
    label_node(*manager_, pinned_node, label, value);
    if (HasFatalFailure()) return;

    enum class Where { anywhere, workers, pinned };
    std::vector<std::pair<ProjectRef, Where>> projects;
    {
        std::lock_guard lock(mu_);
        for (int i = 0; i < 30; ++i) {
            const Where where = static_cast<Where>(i % 3);
            auto ref = project("thirty" + std::to_string(i));
            Policy p = probe_policy();
            if (where == Where::workers) p.placement.constraints = {"node.role==worker"};
            if (where == Where::pinned)
                p.placement.constraints = {"node.labels." + label + "==" + value};
            policy_of_[ref.d] = p;
            projects.emplace_back(ref, where);
        }
    }
    Orchestrator& o = make(*engine_);

    std::atomic<bool> sampling{true};
    std::mutex seen_mu;
    std::map<std::string, int> most;  // project -> most running tasks in one sample
    int samples = 0;
    std::thread sampler([&] {
        while (sampling) {
            auto now = running_by_project();
            {
                std::lock_guard lock(seen_mu);
                for (const auto& [p, n] : now) most[p] = std::max(most[p], n);
                ++samples;
            }
            std::this_thread::sleep_for(100ms);
        }
    });
    // The 10 of no constraint first, on an empty cluster, then the workers-only ones, then the
    // pinned ones: the scheduler spreads by the count of tasks a node runs, so a group asked
    // beside the pinned ones could all land on the other worker (seen once in CI) and one asked
    // after the others would fill the emptiest node.
    std::vector<StatusFuture> started(projects.size());
    for (Where wave : {Where::anywhere, Where::workers, Where::pinned}) {
        for (std::size_t i = 0; i < projects.size(); ++i)
            if (projects[i].second == wave) started[i] = o.ensure_running(projects[i].first);
        for (std::size_t i = 0; i < projects.size(); ++i)
            if (projects[i].second == wave) started[i].wait();
    }
    std::map<Where, std::set<std::string>> nodes_of;
    int running = 0;
    for (std::size_t i = 0; i < projects.size(); ++i) {
        auto st = started[i].get();
        if (!st || st->state != ProjectState::running) {
            ADD_FAILURE() << projects[i].first.d << ": "
                          << (st ? st->last_error : st.error().message);
            continue;
        }
        ++running;
        auto inspected = engine_->inspect(st->container_id);
        ASSERT_TRUE(inspected) << inspected.error().describe();
        nodes_of[projects[i].second].insert(inspected->node_id);
    }
    std::this_thread::sleep_for(1s);  // and a few samples with all of them running
    sampling = false;
    sampler.join();

    EXPECT_EQ(running, 30);
    EXPECT_EQ(running_by_project().size(), 30u);
    {
        std::lock_guard lock(seen_mu);
        EXPECT_GT(samples, 10);
        EXPECT_EQ(most.size(), 30u) << "a project was never seen running";
        for (const auto& [p, n] : most) EXPECT_EQ(n, 1) << p << ": two running tasks at once";
    }
    EXPECT_EQ(nodes_of[Where::anywhere].size(), 3u) << "not spread over the 3 nodes";
    EXPECT_EQ(nodes_of[Where::workers].count(manager_node), 0u)
        << "a workers-only task on the manager";
    EXPECT_EQ(nodes_of[Where::workers].size(), 2u) << "not spread over both workers";
    EXPECT_EQ(nodes_of[Where::pinned], std::set<std::string>{pinned_node});

    std::vector<StatusFuture> forgotten;
    for (const auto& [ref, _] : projects) forgotten.push_back(o.forget(ref));
    for (auto& f : forgotten) EXPECT_TRUE(f.get());
    EXPECT_TRUE(running_by_project().empty());
    label_node(*manager_, pinned_node, label, "");
}

// none and isolated on swarm (policies/SWARM.md): each project's task is alone on an internal
// overlay of its own, on whatever node it runs. From inside, it reaches its own listener and
// nothing else: not another isolated project (on another node), not an open project's task,
// not a node's host services (the engines' gossip port 7946, the manager's 2377), not the
// cluster's registry. An open project's task on the node bridge is the control: it reaches
// the host services, so the targets are live.
// The project gateway (isolated with relays: true): a forwarder service on the project's overlay
// as tenex-gateway passes the gateway's port, and only it, to the daemon's address on the
// cluster network (here a stand-in listener on the bridge); nothing else is reachable, and the
// forwarder goes with the project.
TEST_F(SwarmEngineTest, IsolatedAndNoneTasksReachNothingButThemselvesAndTheGatewayOnAnyNode) {
    const std::string host_address = swarm_host_address();
    StandInGateway gateway(host_address);
    ASSERT_TRUE(gateway.ok()) << "cannot listen on " << host_address;
    gateway_port_ = gateway.port();
    engine_->set_forwarders(forwarder_image(), daemon_id_);
    engine_->set_gateway(SwarmGateway{.target_ip = host_address, .target_port = gateway.port()});
    auto nodes = docker::list_nodes(*manager_);
    ASSERT_TRUE(nodes) << nodes.error().describe();
    ASSERT_GE(nodes->size(), 3u) << "the test needs the 3-node cluster";
    std::map<std::string, std::string> address;  // hostname -> node address
    for (const auto& n : *nodes) address[n.hostname] = n.address;
    std::vector<std::pair<std::string, std::string>> host_services;  // ip, port
    for (const auto& [host, ip] : address) host_services.emplace_back(ip, "7946");
    host_services.emplace_back(address.begin()->second, "2377");
    // The registry the nodes pull from (TENEX_SWARM_IMAGE = HOST:PORT/name:tag).
    const std::string image = policy_.image;
    if (auto slash = image.find('/'); slash != std::string::npos) {
        const std::string hostport = image.substr(0, slash);
        if (auto colon = hostport.find(':');
            colon != std::string::npos && hostport[0] >= '0' && hostport[0] <= '9')
            host_services.emplace_back(hostport.substr(0, colon), hostport.substr(colon + 1));
    }
    // The gateway's own address and port, reached only through the forwarder.
    host_services.emplace_back(host_address, std::to_string(gateway.port()));

    struct Case {
        std::string d;
        NetworkMode mode;
        std::string node;
        ProjectRef ref{};
        std::string network{};  // the one network its task is attached to
        std::string ip{};       // its address there
    };
    std::vector<Case> cases = {{"iso-a", NetworkMode::isolated, "tnx-swarm-2"},
                               {"iso-b", NetworkMode::isolated, "tnx-swarm-3"},
                               {"none", NetworkMode::none, "tnx-swarm-2"},
                               {"open", NetworkMode::open, "tnx-swarm-3"}};
    Orchestrator& o = make(*engine_);
    for (auto& c : cases) {
        Policy p = probe_policy({"listen", "8080"});
        p.network.mode = c.mode;
        p.network.relays = c.d == "iso-a";  // the gateway's forwarder
        p.placement.constraints = {"node.hostname==" + c.node};
        set_policy(p);
        c.ref = project(c.d);
        auto st = o.ensure_running(c.ref).get();
        ASSERT_TRUE(st) << st.error().message;
        ASSERT_EQ(st->state, ProjectState::running) << c.d << ": " << st->last_error;
        EXPECT_EQ(st->node, c.node);
        const std::string name = container_name(c.ref);
        c.network = c.mode == NetworkMode::isolated ? network_name(c.ref)
                    : c.mode == NetworkMode::none   ? name + "-none"
                                                    : "bridge";
        auto [t, node] = task_on_node(name);
        ASSERT_TRUE(t && node) << c.d;
        auto info = docker::inspect_container(*node, t->container_id);
        ASSERT_TRUE(info) << info.error().describe();
        // Attached to exactly its one network: no docker_gwbridge, no node bridge.
        ASSERT_EQ(info->network_ips.size(), 1u) << c.d;
        ASSERT_TRUE(info->network_ips.count(c.network))
            << c.d << ": " << info->network_ips.begin()->first;
        c.ip = info->network_ips.at(c.network);
        if (c.mode == NetworkMode::open) continue;
        auto net = docker::inspect_network(*manager_, c.network);
        ASSERT_TRUE(net) << net.error().describe();
        EXPECT_EQ(net->driver, "overlay");
        EXPECT_TRUE(net->internal);
        EXPECT_EQ(net->labels.at(kLabelProject), c.ref.address());
        // No upstream resolver the node's own namespace would query (CVE-2024-29018).
        EXPECT_EQ(info->spec.dns, std::vector<std::string>{kNoUpstreamResolver});
    }

    auto connect = [&](const Case& from, const std::string& ip, const std::string& port) {
        return exec_in_task(container_name(from.ref),
                            {"/tenex-probe", "connect", ip, port, "1500"});
    };
    auto resolve = [&](const Case& from, const std::string& name) {
        return exec_in_task(container_name(from.ref), {"/tenex-probe", "resolve", name});
    };

    // iso-a's gateway forwarder: one running service on its overlay and the uplink, no
    // orchestrator label (it is no project container), the project's label.
    const Case& gw_case = cases[0];
    const std::string forwarder = forwarder_service_name(network_name(gw_case.ref));
    auto fwd = docker::inspect_service(*manager_, forwarder);
    ASSERT_TRUE(fwd) << fwd.error().describe();
    EXPECT_EQ(fwd->labels.at(kLabelProject), gw_case.ref.address());
    EXPECT_EQ(fwd->labels.count(kLabelManagedBy), 0u);
    auto [fwd_task, fwd_node] = task_on_node(forwarder);
    ASSERT_TRUE(fwd_task && fwd_node);
    EXPECT_TRUE(fwd_task->running()) << fwd_task->state << " " << fwd_task->err;
    auto fwd_info = docker::inspect_container(*fwd_node, fwd_task->container_id);
    ASSERT_TRUE(fwd_info) << fwd_info.error().describe();
    ASSERT_TRUE(fwd_info->network_ips.count(gw_case.network));
    EXPECT_TRUE(fwd_info->network_ips.count(uplink_network_name(daemon_id_)));
    const std::string forwarder_ip = fwd_info->network_ips.at(gw_case.network);
    auto uplink = docker::inspect_network(*manager_, uplink_network_name(daemon_id_));
    ASSERT_TRUE(uplink) << uplink.error().describe();
    EXPECT_FALSE(uplink->internal);
    // The project's variable names it; the task finds it by that name on its overlay.
    auto svc = docker::inspect_service(*manager_, container_name(gw_case.ref));
    ASSERT_TRUE(svc);
    EXPECT_NE(svc->spec.dump().find(
                  "TENEX_RELAYS=ws://tenex-gateway:" + std::to_string(gateway.port()) + "/"),
              std::string::npos);
    std::string out = resolve(gw_case, "tenex-gateway");
    EXPECT_NE(out.find("resolve=ok name=tenex-gateway addr=" + forwarder_ip), std::string::npos)
        << out;
    // Through it, the gateway's address on the cluster network: the stand-in accepts.
    const int before = gateway.accepted();
    out = connect(gw_case, forwarder_ip, std::to_string(gateway.port()));
    EXPECT_NE(out.find("connect=ok"), std::string::npos) << out;
    EXPECT_TRUE(eventually([&] { return gateway.accepted() > before; }, 20s))
        << "the forwarder did not reach the gateway's address";
    // Nothing else of the forwarder's (its other ports), and no other project reaches it (the
    // alias is only on iso-a's overlay: the spec's unit test; a failing lookup here would
    // wait out the resolver's timeouts).
    for (const std::string port : {"8080", "7946", "22"}) {
        out = connect(gw_case, forwarder_ip, port);
        EXPECT_NE(out.find("connect=failed"), std::string::npos) << port << ": " << out;
    }
    for (const auto& other : cases) {
        if (&other == &gw_case || other.mode == NetworkMode::open) continue;
        out = connect(other, forwarder_ip, std::to_string(gateway.port()));
        EXPECT_NE(out.find("connect=failed"), std::string::npos) << other.d << ": " << out;
    }

    for (const auto& from : cases) {
        // Its own listener (the probe answers once it listens).
        EXPECT_TRUE(eventually(
            [&] {
                out = connect(from, from.ip, "8080");
                return out.find("connect=ok") != std::string::npos;
            },
            20s))
            << from.d << ": " << out;
        if (from.mode == NetworkMode::open) {
            for (const auto& [ip, port] : host_services) {
                out = connect(from, ip, port);
                EXPECT_NE(out.find("connect=ok"), std::string::npos)
                    << "control: the open task reaches " << ip << ":" << port << ": " << out;
            }
            continue;
        }
        for (const auto& to : cases) {
            if (&to == &from) continue;
            out = connect(from, to.ip, "8080");
            EXPECT_NE(out.find("connect=failed"), std::string::npos)
                << from.d << " -> " << to.d << ": " << out;
        }
        for (const auto& [ip, port] : host_services) {
            out = connect(from, ip, port);
            EXPECT_NE(out.find("connect=failed"), std::string::npos)
                << from.d << " -> " << ip << ":" << port << ": " << out;
        }
    }
    // The control cannot reach into an internal overlay either.
    out = connect(cases[3], cases[1].ip, "8080");
    EXPECT_NE(out.find("connect=failed"), std::string::npos) << out;

    // Forgotten, each project's network goes with it.
    for (const auto& c : cases) ASSERT_TRUE(o.forget(c.ref).get());
    for (const auto& c : cases) {
        if (c.mode == NetworkMode::open) continue;
        EXPECT_TRUE(network_gone(c.network)) << c.network << " is left";
    }
    // The forwarder went with its project, the uplink with the daemon's last forwarder.
    auto gone = docker::inspect_service(*manager_, forwarder);
    EXPECT_TRUE(!gone && gone.error().not_found()) << forwarder << " is left";
    expect_forwarders_gone();
}

// egress on swarm (SWARM.md): each destination is a forwarder service of the project's, on its
// internal overlay under the destination's name and on the uplink. From a task on a worker:
// the daemon's relay, given by address (as the embedded relay is with the gateway off), is
// reached by its name through its forwarder; an allowed name that resolves to a non-public
// address (localhost, on the forwarder's node) is refused by its forwarder; the relay's own
// address, the forwarders' other ports and the nodes' services are not reachable. The
// forwarders go with the project.
TEST_F(SwarmEngineTest, EgressTasksReachTheirDestinationsThroughForwardersOnly) {
    const std::string host_address = swarm_host_address();
    StandInGateway relay(host_address);
    ASSERT_TRUE(relay.ok()) << "cannot listen on " << host_address;
    relays_ = {"ws://" + host_address + ":" + std::to_string(relay.port())};
    engine_->set_forwarders(forwarder_image(), daemon_id_);
    Orchestrator& o = make(*engine_);
    Policy p = probe_policy({"listen", "8080"});
    p.network.mode = NetworkMode::egress;
    p.network.relays = true;
    p.network.allow = {HostPort{.host = "localhost", .port = 9}};
    p.placement.constraints = {"node.hostname==tnx-swarm-2"};
    set_policy(p);
    const auto ref = project("egress");
    auto st = o.ensure_running(ref).get();
    ASSERT_TRUE(st) << st.error().message;
    ASSERT_EQ(st->state, ProjectState::running) << st->last_error;
    const std::string network = network_name(ref);
    const std::string name = container_name(ref);

    // The task: on its internal overlay only; its relay URL names the forwarder.
    auto [t, node] = task_on_node(name);
    ASSERT_TRUE(t && node);
    auto info = docker::inspect_container(*node, t->container_id);
    ASSERT_TRUE(info) << info.error().describe();
    ASSERT_EQ(info->network_ips.size(), 1u);
    ASSERT_TRUE(info->network_ips.count(network));
    EXPECT_EQ(info->spec.dns, std::vector<std::string>{kNoUpstreamResolver});
    const auto& env = info->spec.env;
    EXPECT_NE(std::find(env.begin(), env.end(),
                        "TENEX_RELAYS=ws://tenex-relay-1:" + std::to_string(relay.port())),
              env.end());
    auto net = docker::inspect_network(*manager_, network);
    ASSERT_TRUE(net) << net.error().describe();
    EXPECT_EQ(net->driver, "overlay");
    EXPECT_TRUE(net->internal);

    // Two forwarders, one per destination, neither of them a project container.
    auto forwarders =
        docker::list_services(*manager_, {std::string(kLabelForwarderOf) + "=" + network});
    ASSERT_TRUE(forwarders) << forwarders.error().describe();
    std::set<std::string> names;
    for (const auto& f : *forwarders) {
        names.insert(f.name);
        EXPECT_EQ(f.labels.count(kLabelManagedBy), 0u);
        EXPECT_EQ(f.labels.at(kLabelProject), ref.address());
    }
    EXPECT_EQ(names, (std::set<std::string>{forwarder_service_name(network, "tenex-relay-1"),
                                            forwarder_service_name(network, "localhost")}));
    auto ip_of = [&](const std::string& service) {
        auto [ft, fnode] = task_on_node(service);
        if (!ft || !fnode) return std::string();
        auto fi = docker::inspect_container(*fnode, ft->container_id);
        return fi && fi->network_ips.count(network) ? fi->network_ips.at(network) : "";
    };
    const std::string relay_fwd = ip_of(forwarder_service_name(network, "tenex-relay-1"));
    const std::string local_fwd = ip_of(forwarder_service_name(network, "localhost"));
    ASSERT_FALSE(relay_fwd.empty());
    ASSERT_FALSE(local_fwd.empty());

    auto connect = [&](const std::string& ip, const std::string& port) {
        return exec_in_task(name, {"/tenex-probe", "connect", ip, port, "1500"});
    };
    // The relay by its name: the task's resolver answers with its forwarder, which reaches it.
    std::string out = exec_in_task(name, {"/tenex-probe", "resolve", "tenex-relay-1"});
    EXPECT_NE(out.find("resolve=ok name=tenex-relay-1 addr=" + relay_fwd), std::string::npos)
        << out;
    const int before = relay.accepted();
    out = connect(relay_fwd, std::to_string(relay.port()));
    EXPECT_NE(out.find("connect=ok"), std::string::npos) << out;
    EXPECT_TRUE(eventually([&] { return relay.accepted() > before; }, 20s))
        << "the forwarder did not reach the relay";
    // An allowed name that resolves to a non-public address: its forwarder takes the
    // connection and refuses to pass it on, and says why.
    out = connect(local_fwd, "9");
    EXPECT_NE(out.find("connect=ok"), std::string::npos) << out;
    auto [lt, lnode] = task_on_node(forwarder_service_name(network, "localhost"));
    ASSERT_TRUE(lt && lnode);
    std::string log;
    EXPECT_TRUE(eventually(
        [&] {
            auto logs = docker::container_logs(*lnode, lt->container_id);
            log = logs ? logs->err : logs.error().describe();
            return log.find("refused: localhost resolves to non-public address 127.0.0.1") !=
                   std::string::npos;
        },
        10s))
        << log;
    // Not reachable: the relay's own address, the forwarders' other ports, a node's gossip port.
    const int after = relay.accepted();
    for (const auto& [ip, port] : std::vector<std::pair<std::string, std::string>>{
             {host_address, std::to_string(relay.port())},
             {relay_fwd, "9"},
             {local_fwd, std::to_string(relay.port())},
             {relay_fwd, "8080"}}) {
        out = connect(ip, port);
        EXPECT_NE(out.find("connect=failed"), std::string::npos) << ip << ":" << port << " " << out;
    }
    EXPECT_EQ(relay.accepted(), after);

    // Forgotten: its forwarders, its network and the uplink go with it.
    ASSERT_TRUE(o.forget(ref).get());
    EXPECT_TRUE(network_gone(network)) << network << " is left";
    expect_forwarders_gone();
}

// A policy's secrets on swarm are swarm secrets, never variables of the service: the service's
// spec (readable to anyone with the manager's API, kept in the swarm's log) and the task's
// container on its node hold no value; the task reads /run/secrets/KEY, owned by its user.
// The secrets go with the service.
TEST_F(SwarmEngineTest, SecretsAreSwarmSecretFilesNeverVariables) {
    const std::string value = "s3cret-value-" + std::to_string(getpid());
    const auto file = dir_.path() / "api_key";
    std::ofstream(file) << value << "\n";
    Policy p = probe_policy({"sleep"});
    p.secrets = {{"API_KEY", file.string()}};
    set_policy(p);
    Orchestrator& o = make(*engine_);
    const auto ref = project("secrets");
    auto st = o.ensure_running(ref).get();
    ASSERT_TRUE(st) << st.error().message;
    ASSERT_EQ(st->state, ProjectState::running) << st->last_error;
    const std::string name = container_name(ref);

    auto raw = manager_->call("GET", "/services/" + name, "inspect service");
    ASSERT_TRUE(raw) << raw.error().describe();
    EXPECT_EQ(raw->body.find(value), std::string::npos) << "the service spec holds the secret";
    EXPECT_EQ(raw->body.find("API_KEY="), std::string::npos) << "the service has the variable";
    EXPECT_NE(raw->body.find("\"Name\":\"API_KEY\""), std::string::npos) << raw->body;
    auto secrets =
        docker::list_secrets(*manager_, {std::string(kLabelProject) + "=" + ref.address()});
    ASSERT_TRUE(secrets) << secrets.error().describe();
    ASSERT_EQ(secrets->size(), 1u);

    auto [t, node] = task_on_node(name);
    ASSERT_TRUE(t && node);
    auto c = docker::inspect_container(*node, t->container_id);
    ASSERT_TRUE(c) << c.error().describe();
    for (const auto& e : c->spec.env) EXPECT_FALSE(e.starts_with("API_KEY=")) << e;
    std::string out = exec_in_task(name, {"/tenex-probe", "file", "/run/secrets/API_KEY"});
    EXPECT_NE(out.find("content=" + value), std::string::npos) << out;
    out = exec_in_task(name, {"/tenex-probe", "env"});
    EXPECT_EQ(out.find(value), std::string::npos) << out;

    ASSERT_TRUE(o.forget(ref).get());
    EXPECT_TRUE(eventually(
        [&] {
            auto left =
                docker::list_secrets(*manager_, {std::string(kLabelProject) + "=" + ref.address()});
            return left && left->empty();
        },
        30s))
        << "the secret is left after forget";
}

// Shared storage (swarm.volumes): the project directory is a named volume of the mapping's
// driver on the task's node, made there at the task's start, holding what the daemon wrote on
// its side. The test's driver is the local one binding this machine's directory (all nodes
// share its file system); NFS is the same driver with other options.
TEST_F(SwarmEngineTest, WorkspacesOnSharedStorageAreNamedVolumesOnTheTasksNode) {
    SwarmEngineOptions options;
    const std::string root = dir_.path().string();
    options.volumes = {{.path = root,
                        .driver = "local",
                        .options = {{"type", "none"}, {"o", "bind"}, {"device", root + "{path}"}}}};
    SwarmEngine engine(*manager_, options);
    Policy p = probe_policy({"sleep"});
    p.placement.constraints = {"node.role==worker"};  // not the daemon's (manager's) engine
    set_policy(p);
    Orchestrator& o = make(engine);
    const auto ref = project("shared");
    const auto project_dir = dir_.path() / ref.d;  // what the fixture's workspace() gives
    fs::create_directories(project_dir);
    fs::permissions(project_dir, fs::perms::all);  // the probe's user writes too
    const std::string seed = "written by the daemon " + std::to_string(getpid());
    std::ofstream(project_dir / "seed.txt") << seed << "\n";

    auto st = o.ensure_running(ref).get();
    ASSERT_TRUE(st) << st.error().message;
    ASSERT_EQ(st->state, ProjectState::running) << st->last_error;
    const std::string name = container_name(ref);
    auto [t, node] = task_on_node(name);
    ASSERT_TRUE(t && node);

    // The task's container mounts a volume, not the path.
    auto c = node->call_json("GET", "/containers/" + t->container_id + "/json", "inspect");
    ASSERT_TRUE(c) << c.error().describe();
    std::string volume;
    for (const auto& m : (*c)["Mounts"])
        if (m.value("Destination", "") == "/workspace") {
            EXPECT_EQ(m.value("Type", ""), "volume") << m.dump();
            EXPECT_EQ(m.value("Driver", ""), "local") << m.dump();
            EXPECT_TRUE(m.value("RW", false)) << m.dump();
            volume = m.value("Name", "");
        }
    ASSERT_TRUE(volume.starts_with("tenex-vol-")) << (*c)["Mounts"].dump();
    // ... made by the task's node with the mapping's options, the project's directory placed.
    auto v = node->call_json("GET", "/volumes/" + volume, "volume");
    ASSERT_TRUE(v) << v.error().describe();
    EXPECT_EQ((*v)["Options"].value("device", ""), project_dir.string()) << v->dump();
    EXPECT_EQ((*v)["Options"].value("type", ""), "none") << v->dump();
    EXPECT_EQ((*v)["Labels"].value("tenex.managed-by", ""), "tenex-sandbox") << v->dump();
    // Inside: what the daemon wrote, and the project may write.
    std::string out = exec_in_task(name, {"/tenex-probe", "file", "/workspace/seed.txt"});
    EXPECT_NE(out.find(seed), std::string::npos) << out;
    out = exec_in_task(name, {"/tenex-probe", "fs"});
    EXPECT_NE(out.find("write[/workspace]=ok"), std::string::npos) << out;

    ASSERT_TRUE(o.forget(ref).get());
    // The daemon cannot remove a volume on a node (a manager has no such call): the node's
    // `docker volume prune --filter label=tenex.managed-by=tenex-sandbox` does (SWARM.md). The
    // directory's content is the storage's, untouched by either.
    EXPECT_TRUE(
        eventually([&] { return node->call("DELETE", "/volumes/" + volume, "rm").ok(); }, 30s));
    EXPECT_TRUE(fs::exists(project_dir / "seed.txt"));
}

// Node-local workspaces: the first create seeds the project's directory into a local volume of
// the node Swarm picks (the seed task fetches it from the daemon's gateway) and pins the
// project there; a later create (a changed policy) goes to the same node and keeps the node's
// copy, which is the project's from then on.
TEST_F(SwarmEngineTest, NodeLocalWorkspacesAreSeededOnOneNodeAndTheProjectStaysThere) {
    Orchestrator& o = node_local_orchestrator();
    NodeLocalSide& side = *side_;
    // What a daemon that died during a seed leaves: its seed service and the archive. Removed
    // at the next start (remove_stale_seeds), another daemon's seed left alone.
    auto stale = [&](const std::string& service, const std::string& daemon) {
        auto id = docker::create_service(
            *manager_, seed_service_spec({.service = service,
                                          .image = forwarder_image(),
                                          .url = "http://192.0.2.1:1/seed/x",
                                          .owner = "0:0",
                                          .constraints = {"node.labels.nowhere==here"},
                                          .uplink_network = uplink_network_name(daemon_id_),
                                          .daemon_id = daemon}));
        EXPECT_TRUE(id) << id.error().describe();
        return id ? *id : std::string();
    };
    auto uplink = docker::create_network(*manager_, {.name = uplink_network_name(daemon_id_),
                                                     .driver = "overlay",
                                                     .internal = false,
                                                     .labels = {},
                                                     .options = {}});
    ASSERT_TRUE(uplink) << uplink.error().describe();
    const std::string ours = stale("tenex-stale-ours", daemon_id_);
    const std::string theirs = stale("tenex-stale-theirs", daemon_id_ + "-other");
    std::ofstream(side.spool.path() / "tenex-stale-ours.tar") << "secret";
    node_local_engine_->remove_stale_seeds();
    EXPECT_TRUE(fs::is_empty(side.spool.path()));
    auto gone = docker::inspect_service(*manager_, ours);
    EXPECT_TRUE(!gone && gone.error().not_found());
    EXPECT_TRUE(docker::inspect_service(*manager_, theirs));
    (void)docker::remove_service(*manager_, theirs);
    // The directory as the daemon prepared it before the first start: a file beneath, a link.
    const auto ref = project("node-local");
    const auto project_dir = dir_.path() / ref.d;
    fs::create_directories(project_dir / "sub");
    std::ofstream(project_dir / "sub/nested.txt") << "nested\n";
    fs::create_symlink("seed.txt", project_dir / "link");
    const std::string seed = "written by the daemon " + std::to_string(getpid());
    // Another project started at the same moment: the two seeds run side by side.
    const auto other = project("node-local-b");
    fs::create_directories(dir_.path() / other.d);
    std::ofstream(dir_.path() / other.d / "seed.txt") << "project b\n";
    auto other_started = o.ensure_running(other);
    start_node_local(o, "node-local", seed);
    auto other_st = other_started.get();
    ASSERT_TRUE(other_st) << other_st.error().message;
    ASSERT_EQ(other_st->state, ProjectState::running) << other_st->last_error;
    if (HasFailure()) return;
    const std::string name = container_name(ref);
    auto [t, node] = task_on_node(name);
    ASSERT_TRUE(t && node);
    {
        std::lock_guard lock(side.mu);
        EXPECT_EQ(side.pins[name], t->node_id);  // the pin is the seed's node, the task's
    }
    // /workspace is the node's own local volume of that directory, no driver options.
    const std::string volume = docker::node_local_volume(project_dir.string());
    auto c = node->call_json("GET", "/containers/" + t->container_id + "/json", "inspect");
    ASSERT_TRUE(c) << c.error().describe();
    bool mounted = false;
    for (const auto& m : (*c)["Mounts"])
        if (m.value("Destination", "") == "/workspace") {
            mounted = m.value("Type", "") == "volume" && m.value("Name", "") == volume;
            EXPECT_TRUE(mounted) << m.dump();
        }
    EXPECT_TRUE(mounted) << (*c)["Mounts"].dump();
    auto v = node->call_json("GET", "/volumes/" + volume, "volume");
    ASSERT_TRUE(v) << v.error().describe();
    EXPECT_EQ((*v)["Driver"], "local");
    EXPECT_TRUE((*v)["Options"].is_null() || (*v)["Options"].empty()) << v->dump();
    for (auto& [id, other] : nodes_)
        EXPECT_TRUE(id == t->node_id || volume_path(*other, volume).empty()) << "volume on " << id;
    // Inside: the daemon's files, owned by the sandbox's user, which may write there.
    std::string out = exec_in_task(name, {"/tenex-probe", "file", "/workspace/seed.txt"});
    EXPECT_NE(out.find(seed), std::string::npos) << out;
    out = exec_in_task(name, {"/tenex-probe", "file", "/workspace/sub/nested.txt"});
    EXPECT_NE(out.find("nested"), std::string::npos) << out;
    out = exec_in_task(name, {"/tenex-probe", "fs"});
    EXPECT_NE(out.find("write[/workspace]=ok"), std::string::npos) << out;
    const fs::path data = volume_path(*node, volume);
    ASSERT_FALSE(data.empty());
    struct stat sb {};
    ASSERT_EQ(::stat((data / "seed.txt").c_str(), &sb), 0);
    EXPECT_EQ(sb.st_uid, 65534u);
    EXPECT_EQ(fs::read_symlink(data / "link"), "seed.txt");
    // No seed task left.
    auto seeds = docker::list_services(*manager_, {}, {seed_service_name(name)});
    ASSERT_TRUE(seeds);
    EXPECT_TRUE(seeds->empty());

    // The sandbox writes on its node; the daemon's copy changes too. A changed policy makes the
    // service anew: same node, the node's copy as it was.
    std::ofstream(data / "node.txt") << "written in the sandbox\n";
    std::ofstream(project_dir / "seed.txt") << "changed on the daemon\n";
    ASSERT_TRUE(o.stop(ref).get());
    Policy p = probe_policy({"sleep"});
    p.placement.constraints = {"node.role==worker"};
    p.resources.memory_bytes += 16 << 20;
    set_policy(p);
    auto st = o.ensure_running(ref).get();
    ASSERT_TRUE(st) << st.error().message;
    ASSERT_EQ(st->state, ProjectState::running) << st->last_error;
    auto [again, again_node] = task_on_node(name);
    ASSERT_TRUE(again && again_node);
    EXPECT_NE(again->container_id, t->container_id);
    EXPECT_EQ(again->node_id, t->node_id);
    out = exec_in_task(name, {"/tenex-probe", "file", "/workspace/node.txt"});
    EXPECT_NE(out.find("written in the sandbox"), std::string::npos) << out;
    out = exec_in_task(name, {"/tenex-probe", "file", "/workspace/seed.txt"});
    EXPECT_NE(out.find(seed), std::string::npos) << out;
    auto [b, b_node] = task_on_node(container_name(other));
    ASSERT_TRUE(b && b_node);
    out = exec_in_task(container_name(other), {"/tenex-probe", "file", "/workspace/seed.txt"});
    EXPECT_NE(out.find("project b"), std::string::npos) << out;
    {
        std::lock_guard lock(side.mu);
        EXPECT_TRUE(side.lost.empty());
        EXPECT_EQ(side.pins[container_name(other)], b->node_id);
    }

    ASSERT_TRUE(o.forget(ref).get());
    ASSERT_TRUE(o.forget(other).get());
    // The volumes stay on their nodes (a manager cannot remove them; SWARM.md says how).
    EXPECT_TRUE(
        eventually([&] { return node->call("DELETE", "/volumes/" + volume, "rm").ok(); }, 30s));
    const std::string b_volume = docker::node_local_volume((dir_.path() / other.d).string());
    EXPECT_TRUE(
        eventually([&] { return b_node->call("DELETE", "/volumes/" + b_volume, "rm").ok(); }, 30s));
}

// The node holding a node-local workspace leaves the swarm: the project's next start lays it
// out anew on another node from the daemon's copy, and the daemon is told what was lost (what
// the sandbox wrote on the old node). The node joins again at the end (a new node id).
TEST_F(SwarmEngineTest, NodeLocalWorkspaceOfANodeThatLeftIsLaidOutAnewElsewhereAndTheLossIsTold) {
    Orchestrator& o = node_local_orchestrator();
    NodeLocalSide& side = *side_;
    const auto ref = start_node_local(o, "node-left", "the daemon's copy");
    if (HasFailure()) return;
    const auto project_dir = dir_.path() / ref.d;
    const std::string name = container_name(ref);
    auto [t, node] = task_on_node(name);
    ASSERT_TRUE(t && node);
    const std::string gone_id = t->node_id;
    const std::string volume = docker::node_local_volume(project_dir.string());
    const fs::path old_data = volume_path(*node, volume);
    ASSERT_FALSE(old_data.empty());
    std::ofstream(old_data / "node.txt") << "written in the sandbox\n";
    ASSERT_TRUE(o.stop(ref).get());

    // The worker leaves (as a decommissioned machine would) and is removed from the swarm.
    std::string sock = node_sockets_.at(gone_id);
    if (sock.starts_with("unix://")) sock = sock.substr(7);
    const std::string index = fs::path(sock).parent_path().filename().string();  // <i>
    auto rejoin = [&, node = node] {
        auto swarm = manager_->call_json("GET", "/swarm", "swarm");
        ASSERT_TRUE(swarm) << swarm.error().describe();
        const std::string ip = "10.213.0." + index;
        nlohmann::json join = {{"ListenAddr", ip + ":2377"},
                               {"AdvertiseAddr", ip},
                               {"RemoteAddrs", {"10.213.0.1:2377"}},
                               {"JoinToken", (*swarm)["JoinTokens"].value("Worker", "")}};
        auto joined = node->call("POST", "/swarm/join", "join", join.dump());
        ASSERT_TRUE(joined) << joined.error().describe();
        ASSERT_TRUE(eventually([&] {
            auto nodes = docker::list_nodes(*manager_);
            return nodes && nodes->size() == nodes_.size() &&
                   std::all_of(nodes->begin(), nodes->end(),
                               [](const auto& n) { return n.state == "ready"; });
        })) << "the node did not join again";
        (void)node->call("DELETE", "/volumes/" + volume, "rm");
    };
    auto left = node->call("POST", "/swarm/leave?force=1", "leave");
    ASSERT_TRUE(left) << left.error().describe();
    ASSERT_TRUE(eventually([&] {
        return manager_->call("DELETE", "/nodes/" + gone_id + "?force=1", "node rm").ok();
    })) << "the manager did not remove the node";

    auto st = o.ensure_running(ref).get();
    const bool ran = st && st->state == ProjectState::running;
    const std::string why = st ? st->last_error : st.error().message;
    auto [now, now_node] = task_on_node(name);
    std::string seed_out, node_out;
    if (ran && now && now_node) {
        seed_out = exec_in_task(name, {"/tenex-probe", "file", "/workspace/seed.txt"});
        node_out = exec_in_task(name, {"/tenex-probe", "file", "/workspace/node.txt"});
    }
    ASSERT_TRUE(o.forget(ref).get());
    if (now_node)
        (void)eventually([&] { return now_node->call("DELETE", "/volumes/" + volume, "rm").ok(); },
                         30s);
    rejoin();

    ASSERT_TRUE(ran) << why;
    ASSERT_TRUE(now && now_node);
    EXPECT_NE(now->node_id, gone_id);
    {
        std::lock_guard lock(side.mu);
        EXPECT_EQ(side.pins[name], now->node_id);
        ASSERT_EQ(side.lost.size(), 1u);
        EXPECT_EQ(side.lost[0].first, ref.address());
        EXPECT_NE(side.lost[0].second.find("left the swarm"), std::string::npos)
            << side.lost[0].second;
        EXPECT_NE(side.lost[0].second.find("without what its sandbox wrote there"),
                  std::string::npos)
            << side.lost[0].second;
    }
    EXPECT_NE(seed_out.find("the daemon's copy"), std::string::npos) << seed_out;
    EXPECT_EQ(node_out.find("written in the sandbox"), std::string::npos) << node_out;
}

// What a swarm cannot do is refused with the reason: an egress destination no node reaches, a
// forwarder without an image, pause and stats.
TEST_F(SwarmEngineTest, WhatSwarmCannotDoIsRefusedClearly) {
    // egress to the daemon's loopback (its embedded relay with the gateway off): no node
    // reaches it; and any forwarder without an image. Refused before anything is made.
    relays_ = {"ws://127.0.0.1:7777"};
    Policy p = probe_policy();
    p.network.mode = NetworkMode::egress;
    p.network.relays = true;
    p.network.allow = {HostPort{.host = "relay.example", .port = 443}};
    set_policy(p);
    Orchestrator& o = make(*engine_);
    auto refused = [&](const std::string& d) {
        auto st = o.ensure_running(project(d)).get();
        EXPECT_FALSE(st && st->state == ProjectState::running);
        auto net = docker::inspect_network(*manager_, network_name(project(d)));
        EXPECT_TRUE(!net && net.error().not_found()) << "a network was made for " << d;
        return st ? st->last_error : st.error().message;
    };
    engine_->set_forwarders(forwarder_image(), daemon_id_);
    std::string why = refused("egress-loopback");
    EXPECT_NE(why.find("loopback"), std::string::npos) << why;
    p.network.relays = false;
    set_policy(p);
    engine_->set_forwarders("", daemon_id_);
    why = refused("egress-no-image");
    EXPECT_NE(why.find("gateway.forwarder_image"), std::string::npos) << why;
    EXPECT_FALSE(engine_->supports_pause());
    auto paused = engine_->pause("whatever");
    ASSERT_FALSE(paused);
    EXPECT_NE(paused.error().message.find("not available on swarm"), std::string::npos);
    auto stats = engine_->stats("whatever");
    ASSERT_FALSE(stats);
    EXPECT_NE(stats.error().message.find("not available"), std::string::npos);
}

// A worker's engine dies (kill -9 of its dockerd) under a running project. The manager marks
// the node down once its heartbeats stop and shows the task running there until the node
// reports again; with restart condition none nothing replaces it. The swarm engine counts a
// task on a down node as lost (ended, exit code 137), so the daemon's restart policy starts
// the project on the other worker. Run last and alone (run.sh step nodefail): the cluster
// is not whole again until `cluster.sh down`.
TEST_F(SwarmEngineTest, NodeFailureATaskOnADeadNodeIsLostAndTheDaemonStartsTheProjectElsewhere) {
    Policy p = probe_policy({"sleep"});
    p.network.mode = NetworkMode::none;  // its own overlay, which the lost task still holds
    p.placement.constraints = {"node.role==worker"};
    p.lifecycle.backoff_initial = 200ms;
    set_policy(p);
    Orchestrator& o = make(*engine_);
    const auto ref = project("node-failure");
    auto st = o.ensure_running(ref).get();
    ASSERT_TRUE(st) << st.error().message;
    ASSERT_EQ(st->state, ProjectState::running) << st->last_error;
    const std::string first_node = st->node;
    auto [t, node] = task_on_node(container_name(ref));
    ASSERT_TRUE(t && node);
    std::string sock = node_sockets_.at(t->node_id);
    if (sock.starts_with("unix://")) sock = sock.substr(7);
    const auto pidfile = fs::path(sock).parent_path() / "docker.pid";
    std::ifstream in(pidfile);
    pid_t pid = 0;
    in >> pid;
    ASSERT_GT(pid, 1) << "no engine pid in " << pidfile;
    ASSERT_EQ(::kill(pid, SIGKILL), 0) << "kill " << pid;
    const auto killed = std::chrono::steady_clock::now();

    const bool moved = eventually(
        [&] {
            auto s = o.status(ref);
            return s && s->state == ProjectState::running && !s->node.empty() &&
                   s->node != first_node;
        },
        120s);
    auto s = o.status(ref);
    ASSERT_TRUE(s);
    ASSERT_TRUE(moved) << "state " << to_string(s->state) << " on " << s->node << ": "
                       << s->last_error;
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - killed);
    std::cout << "the project ran again on " << s->node << " " << took.count() << " ms after "
              << first_node << "'s engine was killed\n";
    RecordProperty("moved_after_ms", std::to_string(took.count()));
    EXPECT_EQ(s->last_exit_code, 137);
    EXPECT_GE(s->restart_count, 1);
    // One live task of the project as the daemon counts them: the new one; the lost one is
    // ended (the manager itself still shows it running on the dead node).
    auto running = running_by_project();
    EXPECT_EQ(running[ref.address()], 1);
    int lost = 0;
    auto all = engine_->tasks({std::string(kLabelDaemon) + "=" + daemon_id_});
    ASSERT_TRUE(all);
    for (const auto& task : *all) lost += task.lost;
    EXPECT_EQ(lost, 0) << "the old service was removed with its lost task";
    // forget works while the node is down.
    ASSERT_TRUE(o.forget(ref).get());
}

}  // namespace
}  // namespace tenex::sandbox
