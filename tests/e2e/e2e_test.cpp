// The whole mission, end to end: a whitelisted Nostr event on a real relay wakes exactly one
// hardened container per project (the probe image in Nostr mode, under the local-mode policy
// of examples/policies/), the probe's reply comes back on the relay, hostile input starts
// nothing, and a kill -9 of the daemon loses and duplicates nothing.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "docker/exec.hpp"
#include "docker/networks.hpp"
#include "e2e_fixture.hpp"
#include "node_peer.hpp"
#include "relay/server.hpp"

namespace tenex::e2e {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

TEST_F(EndToEnd, MessageStartsOneHardenedContainerAndTheProbeReplies) {
    start_daemon();
    // Heartbeats (kind 24012) and probe statuses (24010) are ephemeral: relays forward them
    // to live subscriptions and never store them.
    std::mutex mu;
    std::vector<nostr::Event> ephemeral;
    nostr::Filter live;
    live.kinds = std::vector<std::uint32_t>{24010, 24012, 24013};
    ASSERT_TRUE(pool_->subscribe("ephemeral", {live}, [&](const relay::DeliveredEvent& d) {
        std::lock_guard lock(mu);
        ephemeral.push_back(d.event);
    }));
    auto seen = [&](std::uint32_t kind, const std::string& author,
                    const std::string& a) -> std::optional<nostr::Event> {
        std::lock_guard lock(mu);
        for (const auto& e : ephemeral)
            if (e.kind == kind && (author.empty() || e.pubkey == author) &&
                e.tag_value("a") == std::optional<std::string_view>(a))
                return e;
        return std::nullopt;
    };
    const std::string address = publish_project(*owner_, "hello");
    const auto message = publish_message(*owner_, address, "hello, probe");

    ASSERT_TRUE(eventually([&] { return running_for(address).size() == 1; }, 60s))
        << "no container";
    const auto container = running_for(address).front();
    auto info = docker::inspect_container(*docker_, container.id);
    ASSERT_TRUE(info) << info.error().describe();
    // The limits and hardening of examples/policies/default.yaml.
    EXPECT_EQ(info->spec.memory_bytes, 64ll << 20);
    EXPECT_EQ(info->spec.nano_cpus, 250'000'000);
    EXPECT_EQ(info->spec.pids_limit.value_or(0), 32);
    EXPECT_EQ(info->spec.user, "65534:65534");
    EXPECT_TRUE(info->spec.read_only_rootfs);
    EXPECT_EQ(info->spec.labels.at("tenex.project"), address);
    EXPECT_EQ(info->spec.labels.at("tenex.daemon"), daemon_id_);
    EXPECT_NE(info->spec.network_mode, "bridge");
    EXPECT_NE(info->spec.network_mode, "host");
    auto env_has_prefix = [&](const std::string& prefix) {
        return std::any_of(info->spec.env.begin(), info->spec.env.end(),
                           [&](const std::string& e) { return e.rfind(prefix, 0) == 0; });
    };
    EXPECT_TRUE(env_has_prefix("TENEX_PROJECT_ADDRESS=" + address));
    EXPECT_TRUE(env_has_prefix("TENEX_PROJECT_NADDR=naddr1"));
    // Nostr only through the daemon's gateway, with the container's own secret.
    EXPECT_TRUE(
        env_has_prefix("TENEX_RELAYS=ws://tenex-gateway:" + std::to_string(gateway_port_) + "/"));
    EXPECT_FALSE(env_has_prefix("TENEX_RELAYS=ws://tenex-relay"));

    // The probe inside answers on the relay: the whole loop is visible.
    std::optional<nostr::Event> reply;
    ASSERT_TRUE(eventually([&] { return (reply = reply_to(message, address)).has_value(); }, 60s))
        << "no reply from the probe";
    EXPECT_EQ(reply->kind, 1u);

    // The workspace was initialized from the project event.
    const fs::path ws = dir_->path() / "projects" / owner_->pub.hex() / "e2e-hello";
    EXPECT_TRUE(fs::exists(ws / ".tenex" / "config.json")) << ws;

    // 50 more messages keep it at one container.
    for (int i = 0; i < 50; ++i) publish_message(*owner_, address, "more " + std::to_string(i));
    std::this_thread::sleep_for(3s);
    EXPECT_EQ(containers().size(), 1u);
    EXPECT_EQ(running_for(address).front().id, container.id);

    // Status: /projects, /healthz, /metrics.
    auto projects = nlohmann::json::parse(http_get(http_port_, "/projects").body);
    ASSERT_EQ(projects.size(), 1u);
    EXPECT_EQ(projects[0]["address"], address);
    EXPECT_EQ(projects[0]["state"], "running");
    EXPECT_EQ(projects[0]["network_mode"], "egress");
    EXPECT_EQ(projects[0]["limits"]["memory"], 64ll << 20);
    // Resource usage, sampled from the engine's stats when /projects is asked.
    ASSERT_TRUE(eventually(
        [&] {
            auto p = nlohmann::json::parse(http_get(http_port_, "/projects").body);
            return p.size() == 1 && p[0]["usage"].is_object() &&
                   p[0]["usage"]["memory_used"].get<double>() > 0;
        },
        20s))
        << http_get(http_port_, "/projects").body;
    auto usage = nlohmann::json::parse(http_get(http_port_, "/projects").body)[0]["usage"];
    EXPECT_EQ(usage["memory_limit"], 64ll << 20);
    EXPECT_GE(usage["pids"].get<int>(), 1);
    auto health = http_get(http_port_, "/healthz");
    EXPECT_EQ(health.status, 200);
    EXPECT_TRUE(nlohmann::json::parse(health.body)["ok"].get<bool>());
    EXPECT_GE(metric("tenex_events_received_total"), 21);
    EXPECT_GE(metric("tenex_events_accepted_total"), 20);
    EXPECT_EQ(metric("tenex_triggers_total{kind=\"start\"}"), 1);
    EXPECT_GE(metric("tenex_events_rejected_total{reason=\"rate_limited\"}"), 1);  // 51 > burst 20
    EXPECT_EQ(metric("tenex_projects{state=\"running\"}"), 1);
    EXPECT_EQ(metric("tenex_trigger_to_running_seconds_count"), 1);
    EXPECT_EQ(metric("tenex_container_starts_total"), 1);
    // The probe is connected through its gateway, its key bound to its project, nothing refused.
    ASSERT_TRUE(eventually([&] { return metric("tenex_gateway_connections") == 1; }, 10s));
    EXPECT_GE(metric("tenex_gateway_writes_accepted"), 1);
    EXPECT_EQ(metric("tenex_gateway_writes_refused{reason=\"foreign_key\"}"), 0);
    EXPECT_EQ(metric("tenex_gateway_writes_refused{reason=\"out_of_scope\"}"), 0);
    auto keys = nlohmann::json::parse(http_get(http_port_, "/projects").body)[0]["gateway_keys"];
    ASSERT_EQ(keys.size(), 1u) << keys.dump();
    EXPECT_EQ(keys[0], reply->pubkey);

    // The backend's heartbeat (kind 24012) lists the project, p-tags the whitelist and is
    // signed by the daemon's key.
    const std::string daemon_pubkey = nlohmann::json::parse(health.body)["pubkey"];
    std::optional<nostr::Event> heartbeat;
    ASSERT_TRUE(eventually(
        [&] { return (heartbeat = seen(24012, daemon_pubkey, address)).has_value(); }, 40s))
        << "no heartbeat listing the project";
    EXPECT_EQ(heartbeat->tag_value("p"), std::optional<std::string_view>(owner_->pub.hex()));
    // And the probe's own status for its project.
    EXPECT_TRUE(seen(24010, "", address).has_value()) << "no kind 24010 status from the probe";
    // The owner is told the sandbox started (kind 24013 live, 34013 kept as the last state),
    // by the daemon's key.
    std::optional<nostr::Event> told;
    ASSERT_TRUE(
        eventually([&] { return (told = seen(24013, daemon_pubkey, address)).has_value(); }, 10s));
    EXPECT_EQ(told->tag_value("state"), std::optional<std::string_view>("started"));
    EXPECT_EQ(told->tag_value("p"), std::optional<std::string_view>(owner_->pub.hex()));
    EXPECT_EQ(told->tag_value("container"),
              std::optional<std::string_view>(container.id.substr(0, 12)));
    nostr::Filter last;
    last.kinds = std::vector<std::uint32_t>{34013};
    last.authors = std::vector<std::string>{daemon_pubkey};
    last.tags['d'] = {address};
    auto kept = pool_->fetch({last}, 5s).get();
    ASSERT_EQ(kept.size(), 1u);
    EXPECT_EQ(kept[0].tag_value("state"), std::optional<std::string_view>("started"));
    EXPECT_EQ(metric("tenex_lifecycle_events_total{outcome=\"published\"}"), 2);

    // `ps` shows it, with its limits.
    auto ps = relay::testing::run_program(
        test::tenex_binary().string(), {"ps", "--http", "127.0.0.1:" + std::to_string(http_port_)});
    EXPECT_EQ(ps.exit_code, 0);
    EXPECT_NE(ps.out.find("e2e-hello"), std::string::npos) << ps.out;
    EXPECT_NE(ps.out.find("running"), std::string::npos) << ps.out;
}

// `/tenex-probe connect IP PORT MS` run inside a running probe container: "connect=ok ..." or
// "connect=failed ...".
std::string connect_inside(const docker::Client& client, const std::string& container,
                           const std::string& ip, int port) {
    auto exec =
        docker::create_exec(client, container,
                            {.cmd = {"/tenex-probe", "connect", ip, std::to_string(port), "1500"},
                             .user = {},
                             .tty = false,
                             .attach_stdin = false});
    if (!exec) return "exec: " + exec.error().describe();
    std::string out;
    auto st =
        docker::start_exec(client, *exec, false, [&](docker::LogStream, std::string_view chunk) {
            out.append(chunk);
            return true;
        });
    if (!st) return "exec: " + st.error().describe();
    return out;
}

// A TCP listener on every host address; pending() tells whether a connection reached it.
class AnyListener {
  public:
    AnyListener() {
        fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_ANY);
        ok_ = bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 && listen(fd_, 16) == 0;
        socklen_t len = sizeof sa;
        getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
        port_ = ntohs(sa.sin_port);
    }
    ~AnyListener() { close(fd_); }
    bool ok() const { return ok_; }
    int port() const { return port_; }
    int accepted() {
        for (int c; (c = accept(fd_, nullptr, nullptr)) >= 0;) {
            close(c);
            ++accepted_;
        }
        return accepted_;
    }

  private:
    int fd_ = -1;
    bool ok_ = false;
    int port_ = 0;
    int accepted_ = 0;
};

// Mode isolated with relays: true: the container's one peer is its gateway (the same forwarder
// as in egress), through which the probe reads its message (REQ) and publishes its reply
// (EVENT, OK); every other host port, the default bridge and the outside stay out of reach.
TEST_F(EndToEnd, AnIsolatedProjectReachesItsGatewayAndNothingElse) {
    if (geteuid() != 0) GTEST_SKIP() << "mode isolated needs root (iptables)";
    const std::string d_suffix = "gw-isolated";
    const std::string address = "31933:" + owner_->pub.hex() + ":e2e-" + d_suffix;
    {
        std::ofstream out(dir_->path() / "policies" / "isolated.yaml");
        out << "match:\n  address: " << address << "\nnetwork:\n  mode: isolated\n  relays: true\n";
    }
    AnyListener host;
    ASSERT_TRUE(host.ok());
    start_daemon();
    ASSERT_EQ(publish_project(*owner_, d_suffix), address);
    publish_message(*owner_, address, "wake up");

    ASSERT_TRUE(eventually([&] { return running_for(address).size() == 1; }, 60s))
        << "no container";
    const auto container = running_for(address).front();
    auto info = docker::inspect_container(*docker_, container.id);
    ASSERT_TRUE(info) << info.error().describe();
    EXPECT_TRUE(info->spec.network_mode.starts_with("tenex-net-")) << info->spec.network_mode;
    auto net = docker::inspect_network(*docker_, info->spec.network_mode);
    ASSERT_TRUE(net) << net.error().describe();
    EXPECT_TRUE(net->internal);
    // Exactly one name reachable: the gateway, on its network's host-side address.
    ASSERT_EQ(info->spec.extra_hosts.size(), 1u);
    ASSERT_TRUE(info->spec.extra_hosts[0].starts_with("tenex-gateway:"))
        << info->spec.extra_hosts[0];
    const std::string gateway_ip = info->spec.extra_hosts[0].substr(14);
    ASSERT_FALSE(net->gateways.empty());
    EXPECT_EQ(gateway_ip, net->gateways[0]);
    const std::string prefix =
        "TENEX_RELAYS=ws://tenex-gateway:" + std::to_string(gateway_port_) + "/";
    const auto relays = std::find_if(info->spec.env.begin(), info->spec.env.end(),
                                     [&](const std::string& e) { return e.starts_with(prefix); });
    ASSERT_NE(relays, info->spec.env.end());
    EXPECT_EQ(relays->size(), prefix.size() + 64) << "the per-start secret";

    // The probe is connected through its gateway; a message sent now reaches it live (its REQ
    // asks only for messages from its start on, so the one that woke it may be too old on a
    // loaded machine) and its reply is accepted upstream (EVENT, OK).
    ASSERT_TRUE(eventually([&] { return metric("tenex_gateway_connections") == 1; }, 30s));
    const auto message = publish_message(*owner_, address, "hello, isolated probe");
    std::optional<nostr::Event> reply;
    ASSERT_TRUE(eventually([&] { return (reply = reply_to(message, address)).has_value(); }, 60s))
        << "no reply from the probe";
    EXPECT_GE(metric("tenex_gateway_writes_accepted"), 1);
    auto keys = nlohmann::json::parse(http_get(http_port_, "/projects").body)[0]["gateway_keys"];
    ASSERT_EQ(keys.size(), 1u) << keys.dump();
    EXPECT_EQ(keys[0], reply->pubkey);
    EXPECT_EQ(nlohmann::json::parse(http_get(http_port_, "/projects").body)[0]["network_mode"],
              "isolated");

    // The gateway's port is open from inside; nothing else is.
    auto out = connect_inside(*docker_, container.id, gateway_ip, gateway_port_);
    EXPECT_NE(out.find("connect=ok"), std::string::npos) << out;
    auto bridge = docker::inspect_network(*docker_, "bridge");
    ASSERT_TRUE(bridge && !bridge->gateways.empty());
    for (const auto& [ip, port] : std::vector<std::pair<std::string, int>>{
             {gateway_ip, host.port()},  // a host service on the network's own host address
             {gateway_ip, relay_port_},  // the relay's port (it listens on loopback)
             {gateway_ip, http_port_},   // the daemon's API port
             {bridge->gateways[0], host.port()},  // docker0's address
             {bridge->gateways[0], gateway_port_},
             {"192.0.2.1", 443}}) {  // the outside (TEST-NET-1: no route anyway)
        out = connect_inside(*docker_, container.id, ip, port);
        EXPECT_NE(out.find("connect=failed"), std::string::npos) << ip << ":" << port << " " << out;
    }
    EXPECT_EQ(host.accepted(), 0);
}

TEST_F(EndToEnd, HostileEventsStartNothingAndAreCounted) {
    start_daemon();
    const std::string address = publish_project(*owner_, "target");
    auto stranger = nostr::Keys::generate();
    publish_project(stranger, "strangers");

    // A stranger's message for the owner's project.
    publish_message(stranger, address, "let me in");
    // The owner's messages with hostile or foreign `a` tags.
    const std::string owner = owner_->pub.hex();
    for (const std::string& a :
         {std::string("31933:") + owner +
              ":../../../etc",                  // traversal in d: sanitized, and no such project
          std::string("31933:not-a-pubkey:x"),  // malformed owner
          std::string("30023:") + owner + ":an-article",                  // another kind
          std::string("31933:") + stranger.pub.hex() + ":strangers-e2e",  // owner not whitelisted
          std::string("31933:") + owner + ":" + std::string(10000, 'x'),  // 10 KB identifier
          std::string("garbage")})
        publish_message(*owner_, a, "hostile");

    ASSERT_TRUE(eventually([&] { return metric("tenex_events_received_total") >= 6; }, 20s));
    std::this_thread::sleep_for(5s);  // anything wrongly started would be up by now
    EXPECT_TRUE(containers().empty());
    // The stranger's events never arrive (the subscription asks for whitelisted authors), so
    // they are not counted here; a relay that sends them anyway is the next test's case.
    EXPECT_GE(metric("tenex_events_rejected_total{reason=\"bad_address\"}"),
              3);  // malformed, garbage, 10 KB
    EXPECT_GE(metric("tenex_events_rejected_total{reason=\"not_a_project\"}"), 1);
    EXPECT_GE(metric("tenex_events_rejected_total{reason=\"unknown_owner\"}"), 1);
    // Nothing was written outside the projects path.
    EXPECT_FALSE(fs::exists(dir_->path() / "etc"));
    for (auto& entry : fs::recursive_directory_iterator(dir_->path() / "projects"))
        EXPECT_EQ(entry.path().string().find(".."), std::string::npos) << entry.path();
    EXPECT_EQ(http_get(http_port_, "/healthz").status, 200);  // still running and healthy
}

TEST_F(EndToEnd, BadSignaturesFromARelayAreDroppedAndCounted) {
    TENEX_REQUIRE_RELAY_PEERS();
    // A relay that serves a whitelisted-looking message whose signature is broken.
    const std::string address = "31933:" + owner_->pub.hex() + ":e2e-forged";
    nostr::UnsignedEvent u;
    u.kind = 1;
    u.content = "forged";
    u.tags = {{"a", address}};
    auto ev = nostr::sign_event(u, *owner_);
    ASSERT_TRUE(ev);
    ev->sig[0] = ev->sig[0] == '0' ? '1' : '0';
    const fs::path events = dir_->path() / "forged.jsonl";
    std::ofstream(events) << nostr::to_json(*ev) << "\n";
    auto hostile =
        relay::testing::NodeProcess::start("hostile.mjs", {"duplicates", events.string()});
    ASSERT_TRUE(hostile);

    start_daemon({"--relay", hostile->first_line()});
    ASSERT_TRUE(eventually([&] { return metric("tenex_relay_invalid_events") >= 1; }, 20s))
        << http_get(http_port_, "/metrics").body;
    std::this_thread::sleep_for(2s);
    EXPECT_TRUE(containers().empty());
    EXPECT_EQ(metric("tenex_events_accepted_total"), 0);
}

TEST_F(EndToEnd, KillDashNineDuringABurstLosesAndDuplicatesNothing) {
    // The relay must outlive the daemon: the npm relay, in its own process.
    TENEX_REQUIRE_RELAY_PEERS();
    auto node_relay = relay::testing::NodeProcess::start("relay.mjs", {});
    ASSERT_TRUE(node_relay);
    relay_url_ = node_relay->first_line();
    const std::vector<std::string> flags{"--relay", relay_url_};
    start_daemon(flags, /*embedded_relay=*/false);
    std::vector<std::string> projects;
    for (int i = 0; i < 4; ++i)
        projects.push_back(publish_project(*owner_, "burst-" + std::to_string(i)));

    // The first project comes up before the kill: it must be adopted, not replaced.
    publish_message(*owner_, projects[0], "wake");
    ASSERT_TRUE(eventually([&] { return running_for(projects[0]).size() == 1; }, 60s));
    const std::string adopted_id = running_for(projects[0]).front().id;

    // A burst for the next two, and kill -9 while it is being handled.
    for (int round = 0; round < 4; ++round)
        for (int i = 1; i <= 2; ++i)
            publish_message(*owner_, projects[i], "burst " + std::to_string(round));
    kill_daemon(SIGKILL);
    // While the daemon is gone, the only trigger of the last project.
    publish_message(*owner_, projects[3], "while you were away");

    start_daemon(flags, /*embedded_relay=*/false);
    for (const auto& p : projects)
        EXPECT_TRUE(eventually([&] { return running_for(p).size() == 1; }, 90s))
            << p << " not running";
    std::this_thread::sleep_for(3s);
    EXPECT_EQ(containers().size(), projects.size()) << "a duplicate or a leftover container";
    EXPECT_EQ(running_for(projects[0]).front().id, adopted_id)
        << "the running container was replaced";
}

TEST_F(EndToEnd, SighupAddsAPubkeyToTheWhitelistLive) {
    auto second = nostr::Keys::generate();
    const fs::path config = dir_->path() / "sandbox.yaml";
    auto write_config = [&](std::vector<std::string> whitelist) {
        std::ofstream out(config);
        out << "whitelist:\n";
        for (const auto& w : whitelist) out << "  - " << w << "\n";
    };
    write_config({owner_->pub.npub()});
    start_daemon({"-c", config.string()});

    const std::string address = publish_project(second, "second");
    publish_message(second, address, "before");
    std::this_thread::sleep_for(4s);
    EXPECT_TRUE(containers().empty()) << "a pubkey outside the whitelist woke a project";

    write_config({owner_->pub.npub(), second.pub.hex()});
    daemon_->signal(SIGHUP);
    ASSERT_TRUE(eventually(
        [&] { return daemon_->log().find("reload: 2 whitelisted") != std::string::npos; }, 20s))
        << daemon_->log();
    publish_message(second, address, "after");
    ASSERT_TRUE(eventually([&] { return running_for(address).size() == 1; }, 60s));

    // SIGTERM ends the daemon cleanly and leaves its projects running for the next one.
    daemon_->signal(SIGTERM);
    EXPECT_EQ(daemon_->wait(30s), 0);
    EXPECT_EQ(running_for(address).size(), 1u);
}

// SIGHUP with a relay gone from the configuration closes that connection (it used to stay
// until a restart) and drops its metrics; the other relays carry on.
TEST_F(EndToEnd, SighupRemovesARelayAndClosesItsConnection) {
    relay::RelayServerOptions o;
    o.port = 0;
    auto extra = relay::EmbeddedRelay::start(o);
    ASSERT_TRUE(extra.ok()) << extra.error().message;
    const std::string extra_url = (*extra)->url();
    const fs::path config = dir_->path() / "sandbox.yaml";
    auto write_config = [&](bool with_extra) {
        std::ofstream out(config);
        if (with_extra) out << "relays: [\"" << extra_url << "\"]\n";
        out << "whitelist: [" << owner_->pub.npub() << "]\n";
    };
    write_config(true);
    start_daemon({"-c", config.string()});
    const std::string series = "tenex_relay_connected{relay=\"" + extra_url + "/\"}";
    ASSERT_TRUE(eventually([&] { return (*extra)->stats().connections == 1; }, 20s));
    ASSERT_TRUE(eventually([&] { return metric(series) == 1; }, 20s))
        << http_get(http_port_, "/metrics").body;

    write_config(false);
    daemon_->signal(SIGHUP);
    ASSERT_TRUE(eventually(
        [&] {
            return daemon_->log().find("reload: removed relay " + extra_url) != std::string::npos;
        },
        20s))
        << daemon_->log();
    EXPECT_TRUE(eventually([&] { return (*extra)->stats().connections == 0; }, 10s))
        << "the connection stayed open";
    EXPECT_TRUE(eventually(
        [&] { return http_get(http_port_, "/metrics").body.find(extra_url) == std::string::npos; },
        20s))
        << "the removed relay still has metrics";
    EXPECT_EQ(http_get(http_port_, "/healthz").status, 200)
        << "the embedded relay is still connected";
}

TEST_F(EndToEnd, SighupReplacesARunningContainerWhoseNewPolicySaysImmediately) {
    start_daemon();
    const std::string address = publish_project(*owner_, "reload");
    publish_message(*owner_, address, "wake up");
    ASSERT_TRUE(eventually([&] { return running_for(address).size() == 1; }, 60s))
        << "no container";
    const std::string first = running_for(address).front().id;

    // A new policy file for this project: fewer PIDs (so a new digest), applied at once.
    {
        std::ofstream out(dir_->path() / "policies" / "reload.yaml");
        out << "match:\n  address: " << address << "\nresources:\n  pids: 24\n"
            << "lifecycle:\n  on_policy_change: immediately\n";
    }
    daemon_->signal(SIGHUP);
    ASSERT_TRUE(eventually(
        [&] {
            auto now = running_for(address);
            return now.size() == 1 && now.front().id != first;
        },
        60s))
        << daemon_->log();
    auto info = docker::inspect_container(*docker_, running_for(address).front().id);
    ASSERT_TRUE(info) << info.error().describe();
    EXPECT_EQ(info->spec.pids_limit.value_or(0), 24);
    EXPECT_EQ(containers().size(), 1u) << "the old container is left or a duplicate runs";
    // Replaced without a trigger, and not counted as a restart.
    EXPECT_EQ(metric("tenex_triggers_total{kind=\"start\"}"), 1);
    EXPECT_EQ(metric("tenex_container_restarts_total"), 0);
}

TEST_F(EndToEnd, WorksWithTheNpmRelayAndReportsItsLoss) {
    TENEX_REQUIRE_RELAY_PEERS();
    auto node_relay = relay::testing::NodeProcess::start("relay.mjs", {});
    ASSERT_TRUE(node_relay);
    relay_url_ = node_relay->first_line();
    start_daemon({"--relay", relay_url_}, /*embedded_relay=*/false);

    const std::string address = publish_project(*owner_, "npm");
    const auto message = publish_message(*owner_, address, "hello over @nostr-relay/core");
    ASSERT_TRUE(eventually([&] { return running_for(address).size() == 1; }, 60s));
    EXPECT_TRUE(eventually([&] { return reply_to(message, address).has_value(); }, 60s))
        << "no probe reply through the npm relay";

    node_relay->kill();
    EXPECT_TRUE(eventually([&] { return http_get(http_port_, "/healthz").status == 503; }, 30s));
    auto body = nlohmann::json::parse(http_get(http_port_, "/healthz").body);
    EXPECT_FALSE(body["ok"].get<bool>());
    EXPECT_EQ(running_for(address).size(), 1u) << "losing the relay must not stop projects";
}

TEST_F(EndToEnd, ReadsRelaysAndWhitelistFromATenexConfigJson) {
    // The original TENEX daemon's ~/.tenex/config.json: whitelist (npub) and projects path.
    const fs::path tenex = dir_->path() / "tenex-config.json";
    std::ofstream(tenex) << nlohmann::json{{"whitelistedPubkeys", {owner_->pub.npub()}},
                                           {"projectsBase",
                                            (dir_->path() / "tenex-projects").string()}}
                                .dump();
    start_daemon({"--tenex-config", tenex.string()});
    const std::string address = publish_project(*owner_, "from-tenex-config");
    // Its only trigger: a kind 24000 boot request (ephemeral), which wakes a project just as
    // a kind 1 message does.
    publish_message(*owner_, address, "", 24000);
    EXPECT_TRUE(eventually([&] { return running_for(address).size() == 1; }, 60s));
    // -p from the fixture wins over projectsBase: flags override files.
    EXPECT_TRUE(
        fs::exists(dir_->path() / "projects" / owner_->pub.hex() / "e2e-from-tenex-config"));

    // Restarted with --stop-projects, it adopts the container, and SIGTERM then stops it.
    const std::string adopted = running_for(address).front().id;
    kill_daemon(SIGTERM);
    start_daemon({"--tenex-config", tenex.string(), "--stop-projects"});
    EXPECT_TRUE(eventually(
        [&] {
            auto body =
                nlohmann::json::parse(http_get(http_port_, "/projects").body, nullptr, false);
            return body.is_array() && body.size() == 1 && body[0]["container_id"] == adopted;
        },
        20s))
        << "not adopted";
    daemon_->signal(SIGTERM);
    EXPECT_EQ(daemon_->wait(30s), 0);
    EXPECT_TRUE(running_for(address).empty()) << "--stop-projects left the container running";

    std::ofstream(tenex) << R"({"whitelistedPubkeys": ["npub1notakey"]})";
    auto r = relay::testing::run_program(
        "sh",
        {"-c", test::tenex_binary().string() + " up --tenex-config " + tenex.string() + " 2>&1"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.out.find("whitelistedPubkeys[0]"), std::string::npos) << r.out;
}

TEST_F(EndToEnd, InvalidConfigurationStopsStartUpNamingTheKey) {
    const fs::path config = dir_->path() / "bad.yaml";
    std::ofstream(config) << "relays:\n  - http://not-a-relay\nstart_concurrency: -3\n";
    auto r = relay::testing::run_program(
        "sh", {"-c", test::tenex_binary().string() + " up -c " + config.string() + " 2>&1"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.out.find("bad.yaml:2"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("relays[0]"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("start_concurrency"), std::string::npos) << r.out;
    EXPECT_TRUE(containers().empty());
}

}  // namespace
}  // namespace tenex::e2e
