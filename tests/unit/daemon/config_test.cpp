#include <gtest/gtest.h>

#include <fstream>

#include "daemon/config.hpp"
#include "environment.hpp"

namespace tenex::daemon {
namespace {

// From PROTOCOL.md: this npub is this hex.
constexpr const char* kNpub = "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg";
constexpr const char* kHex = "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e";

std::string errors(const Diagnostics& d) {
    std::string out;
    for (const auto& x : d) out += sandbox::format_diagnostic(x) + "\n";
    return out;
}

TEST(DaemonConfig, EmptyFileGivesSafeDefaults) {
    auto c = parse_config("", "empty.yaml");
    ASSERT_TRUE(c.ok());
    EXPECT_TRUE(c->relays.empty());
    EXPECT_EQ(c->http_listen, "127.0.0.1:7878");  // loopback only by default
    EXPECT_EQ(c->start_concurrency, 4u);
    EXPECT_FALSE(c->stop_projects_on_exit);
    EXPECT_FALSE(c->git.allow_http);
    EXPECT_FALSE(c->git.allow_private_hosts);
    EXPECT_TRUE(c->relay_ca_file.empty());  // wss:// trusts the system store
    // Nothing to do without relays and a whitelist: validation says so, by key.
    auto d = validate_config(*c);
    EXPECT_NE(errors(d).find("relays"), std::string::npos);
    EXPECT_NE(errors(d).find("whitelist"), std::string::npos);
}

TEST(DaemonConfig, FullFile) {
    auto c = parse_config(std::string(R"(
relays: [wss://relay.tenex.chat, "ws://127.0.0.1:7777"]
relay_ca_file: /etc/tenex/relay-ca.pem
whitelist:
  - )") + kNpub + R"(
  - )" + std::string(kHex).substr(0, 63) +
                              "A" + R"(
projects_path: /srv/tenex/projects
policies_dir: /etc/tenex/policies
state_dir: /srv/tenex/state
key_file: /srv/tenex/daemon.key
http_listen: 127.0.0.1:9000
start_concurrency: 8
stop_projects_on_exit: true
monitor: {events_per_second: 2.5, burst: 10, queue_size: 500}
git:
  allow_http: true
  allowed_hosts: [github.com, 127.0.0.1]
  clone_timeout: 90s
  max_clone_size: 512Mi
)",
                          "sandbox.yaml");
    ASSERT_TRUE(c.ok()) << errors(c.error());
    EXPECT_EQ(c->relays.size(), 2u);
    EXPECT_EQ(c->relay_ca_file, "/etc/tenex/relay-ca.pem");
    ASSERT_EQ(c->whitelist.size(), 2u);
    EXPECT_EQ(c->whitelist[0], kHex);
    EXPECT_EQ(c->whitelist[1], std::string(kHex).substr(0, 63) + "a");
    EXPECT_EQ(c->projects_path, "/srv/tenex/projects");
    EXPECT_EQ(c->start_concurrency, 8u);
    EXPECT_TRUE(c->stop_projects_on_exit);
    EXPECT_DOUBLE_EQ(c->monitor.events_per_second, 2.5);
    EXPECT_EQ(c->monitor.queue_size, 500u);
    EXPECT_TRUE(c->git.allow_http);
    EXPECT_EQ(c->git.allowed_hosts.size(), 2u);
    EXPECT_EQ(c->clone.timeout, std::chrono::seconds(90));
    EXPECT_EQ(c->clone.max_bytes, 512u << 20);
    EXPECT_TRUE(validate_config(*c).empty()) << errors(validate_config(*c));
}

TEST(DaemonConfig, ErrorsNameFileLineColumnAndKey) {
    auto c = parse_config(R"(relays: [wss://ok.example]
start_concurrency: 0
monitor:
  burst: lots
  colour: blue
whitelist: [not-a-key]
projects_path: relative/path
relay_ca_file: ca.pem
)",
                          "bad.yaml");
    ASSERT_FALSE(c.ok());
    std::string e = errors(c.error());
    EXPECT_NE(e.find("bad.yaml:2:20: start_concurrency: expected an integer from 1 to 64"),
              std::string::npos)
        << e;
    EXPECT_NE(e.find("bad.yaml:4:10: monitor.burst: expected a number"), std::string::npos) << e;
    EXPECT_NE(e.find("bad.yaml:5:3: monitor.colour: unknown key"), std::string::npos) << e;
    EXPECT_NE(e.find("bad.yaml:6:13: whitelist[0]: expected an npub or 64 hex"), std::string::npos)
        << e;
    EXPECT_NE(e.find("bad.yaml:7:16: projects_path: expected an absolute path"), std::string::npos)
        << e;
    EXPECT_NE(e.find("bad.yaml:8:16: relay_ca_file: expected an absolute path or \"\""),
              std::string::npos)
        << e;
    EXPECT_EQ(c.error().size(), 6u) << e;
}

TEST(DaemonConfig, SyntaxErrorHasALine) {
    auto c = parse_config("relays: [wss://a\nwhitelist: {", "broken.yaml");
    ASSERT_FALSE(c.ok());
    ASSERT_EQ(c.error().size(), 1u);
    EXPECT_EQ(c.error()[0].file, "broken.yaml");
    EXPECT_GT(c.error()[0].line, 0);
    EXPECT_NE(c.error()[0].message.find("YAML syntax"), std::string::npos);
}

// Found by fuzz_config: a relay URL (or daemon_id, a path) with a byte that is not UTF-8
// passed, and would have thrown later where it goes into JSON (/healthz, labels, the runtime's
// config.json). Refused at load, with its line.
TEST(DaemonConfig, TextThatIsNotUtf8IsRefusedWithItsLine) {
    auto c = parse_config("whitelist: []\nrelays: [\"ws://127.0\x89.0.1:7777\"]\n", "c.yaml");
    ASSERT_FALSE(c.ok());
    ASSERT_EQ(c.error().size(), 1u);
    EXPECT_EQ(c.error()[0].file, "c.yaml");
    EXPECT_EQ(c.error()[0].line, 2);
    EXPECT_NE(c.error()[0].message.find("not UTF-8"), std::string::npos) << c.error()[0].message;
    EXPECT_TRUE(parse_config("daemon_id: \"tenex-\xc3\xa9\"\n", "c.yaml").ok()) << "UTF-8 is fine";
}

TEST(DaemonConfig, EscapesThatDecodeToSomethingNotUtf8AreRefusedWithTheirKey) {
    auto c = parse_config("whitelist: []\ndaemon_id: \"tenex-\\N\"\n", "c.yaml");
    ASSERT_FALSE(c.ok());
    ASSERT_EQ(c.error().size(), 1u);
    EXPECT_EQ(c.error()[0].line, 2);
    EXPECT_EQ(c.error()[0].key_path, "daemon_id");
    EXPECT_NE(c.error()[0].message.find("not UTF-8"), std::string::npos) << c.error()[0].message;
}

TEST(DaemonConfig, HostileRelayUrls) {
    for (const char* bad :
         {"http://relay.example", "wss://", "wss://user:pw@relay.example", "wss://relay.example/\n",
          "relay.example", "wss://a b", "wss://relay.example:99999", "ws://[::1"}) {
        auto c = parse_config(std::string("relays: [\"") + bad + "\"]\n", "c.yaml");
        ASSERT_FALSE(c.ok()) << bad;
        EXPECT_NE(errors(c.error()).find("relays[0]: relay URL"), std::string::npos) << bad;
    }
    EXPECT_TRUE(parse_config("relays: [\"wss://relay.example:7777/x?y\"]\n", "c.yaml").ok());
    auto c = parse_config("relays: [\"wss://user:secret@relay.example\"]", "c.yaml");
    ASSERT_FALSE(c.ok());
    // The reason names the key, never the credentials.
    EXPECT_EQ(errors(c.error()).find("secret"), std::string::npos);
    EXPECT_NE(errors(c.error()).find("relays[0]: relay URL must not contain credentials"),
              std::string::npos);
}

TEST(DaemonConfig, DiskPressure) {
    EXPECT_EQ(DaemonConfig{}.disk_pressure_min_free, 2ULL << 30);
    auto c = parse_config("disk_pressure:\n  min_free: 500Mi\n", "d.yaml");
    ASSERT_TRUE(c.ok()) << errors(c.error());
    EXPECT_EQ(c->disk_pressure_min_free, 500ULL << 20);
    c = parse_config("disk_pressure: {min_free: 0}\n", "d.yaml");
    ASSERT_TRUE(c.ok()) << errors(c.error());
    EXPECT_EQ(c->disk_pressure_min_free, 0u);
    c = parse_config("disk_pressure:\n  min_free: lots\n  when: always\n", "d.yaml");
    ASSERT_FALSE(c.ok());
    const auto e = errors(c.error());
    EXPECT_NE(e.find("d.yaml:2:13: disk_pressure.min_free:"), std::string::npos) << e;
    EXPECT_NE(e.find("d.yaml:3:3: disk_pressure.when: unknown key"), std::string::npos) << e;
}

TEST(DaemonConfig, Engine) {
    EXPECT_EQ(DaemonConfig{}.engine, "docker");  // today's behaviour unless asked
    auto c = parse_config("engine: swarm\ndocker_socket: unix:///run/tenex-swarm/1/docker.sock\n",
                          "e.yaml");
    ASSERT_TRUE(c.ok()) << errors(c.error());
    EXPECT_EQ(c->engine, "swarm");
    c = parse_config("engine: kubernetes\n", "e.yaml");
    ASSERT_FALSE(c.ok());
    const auto e = errors(c.error());
    EXPECT_NE(e.find("e.yaml:1:9: engine: expected docker or swarm"), std::string::npos) << e;
}

TEST(DaemonConfig, Gateway) {
    auto c = parse_config(
        "gateway:\n  listen: 127.0.0.1:9999\n  writes_per_second: 2\n  write_burst: 5\n", "g.yaml");
    ASSERT_TRUE(c.ok()) << errors(c.error());
    EXPECT_EQ(c->gateway_listen, "127.0.0.1:9999");
    EXPECT_EQ(c->gateway_writes_per_second, 2);
    EXPECT_EQ(c->gateway_write_burst, 5);
    auto key_paths = [](const DaemonConfig& cfg) {
        std::string out;
        for (const auto& d : validate_config(cfg)) out += d.key_path + ": " + d.message + "\n";
        return out;
    };
    DaemonConfig v = *c;
    v.gateway_listen = "0.0.0.0:7879";
    EXPECT_NE(key_paths(v).find("gateway.listen: 0.0.0.0:7879: must be 127.0.0.1:PORT"),
              std::string::npos)
        << key_paths(v);
    v.gateway_listen = "nonsense";
    EXPECT_NE(key_paths(v).find("gateway.listen: nonsense"), std::string::npos) << key_paths(v);
    v.gateway_listen = "";  // off
    EXPECT_EQ(key_paths(v).find("gateway"), std::string::npos) << key_paths(v);
    EXPECT_FALSE(parse_config("gateway:\n  write_burst: 0\n", "g.yaml").ok());
}

// engine swarm: the gateway may listen where the nodes reach it, and gateway.advertise names
// that address for the forwarder services (policies/SWARM.md); one engine keeps loopback.
TEST(DaemonConfig, GatewayOnASwarm) {
    auto c = parse_config(
        "engine: swarm\ngateway:\n  listen: 0.0.0.0:7879\n  advertise: 10.213.0.254:7879\n"
        "  forwarder_image: 10.213.0.254:5000/tenex-forwarder:latest\n",
        "g.yaml");
    ASSERT_TRUE(c.ok()) << errors(c.error());
    EXPECT_EQ(c->gateway_advertise, "10.213.0.254:7879");
    EXPECT_EQ(c->gateway_forwarder_image, "10.213.0.254:5000/tenex-forwarder:latest");
    EXPECT_EQ(DaemonConfig{}.gateway_forwarder_image, "tenex-forwarder:latest");
    auto gateway_errors = [](const DaemonConfig& cfg) {
        std::string out;
        for (const auto& d : validate_config(cfg))
            if (d.key_path.starts_with("gateway")) out += d.key_path + ": " + d.message + "\n";
        return out;
    };
    DaemonConfig v = *c;
    EXPECT_EQ(gateway_errors(v), "");
    v.gateway_listen = "10.213.0.254:7879";
    v.gateway_advertise = "";  // the listen address is advertised
    EXPECT_EQ(gateway_errors(v), "");
    for (const std::string bad : {"relay.example:7879", "0.0.0.0:7879", "10.213.0.254", "x"}) {
        v.gateway_advertise = bad;
        EXPECT_NE(gateway_errors(v).find("gateway.advertise: " + bad + ": must be IPV4-ADDRESS"),
                  std::string::npos)
            << bad << ": " << gateway_errors(v);
    }
    v.gateway_advertise = "";
    v.gateway_listen = "gw.example:7879";
    EXPECT_NE(gateway_errors(v).find("gateway.listen"), std::string::npos);
    // One engine: loopback only, and no advertise.
    v = *c;
    v.engine = "docker";
    EXPECT_NE(gateway_errors(v).find("gateway.listen: 0.0.0.0:7879: must be 127.0.0.1:PORT"),
              std::string::npos)
        << gateway_errors(v);
    EXPECT_NE(gateway_errors(v).find("gateway.advertise: only with engine: swarm"),
              std::string::npos)
        << gateway_errors(v);
}

TEST(DaemonConfig, SwarmVolumesForSharedStorage) {
    auto c = parse_config(R"(engine: swarm
swarm:
  volumes:
    - path: /srv/tenex/projects/
      driver: local
      options: {type: nfs, o: "addr=10.0.0.5,rw", device: ":/export/projects{path}"}
)",
                          "v.yaml");
    ASSERT_TRUE(c.ok()) << errors(c.error());
    ASSERT_EQ(c->swarm_volumes.size(), 1u);
    EXPECT_EQ(c->swarm_volumes[0].path, "/srv/tenex/projects");  // normal, no trailing slash
    EXPECT_EQ(c->swarm_volumes[0].driver, "local");
    EXPECT_EQ(c->swarm_volumes[0].options.at("device"), ":/export/projects{path}");
    EXPECT_EQ(c->swarm_volumes[0].options.size(), 3u);
    EXPECT_TRUE(DaemonConfig{}.swarm_volumes.empty());  // default: binds of the same path

    auto bad = parse_config(R"(engine: swarm
swarm:
  volumes:
    - path: relative
      driver: local
      options: {device: "{path}"}
    - path: /srv/p
      driver: "local; rm"
      options: {device: "{path}"}
    - path: /srv/p
      driver: local
      options: {type: nfs, device: ":/export/all"}
    - driver: local
      options: {device: "{path}"}
    - path: /srv/p
      options: {device: "{path}"}
    - path: /srv/p
      driver: local
      colour: blue
      options: {device: "{path}"}
)",
                            "bad.yaml");
    ASSERT_FALSE(bad.ok());
    std::string e = errors(bad.error());
    EXPECT_NE(e.find("bad.yaml:4:13: swarm.volumes[0].path: expected an absolute path"),
              std::string::npos)
        << e;
    EXPECT_NE(e.find("bad.yaml:8:15: swarm.volumes[1].driver: expected a volume driver name"),
              std::string::npos)
        << e;
    EXPECT_NE(e.find("bad.yaml:10:7: swarm.volumes[2].options: no value holds {path}: every "
                     "project would mount the same volume"),
              std::string::npos)
        << e;
    EXPECT_NE(e.find("swarm.volumes[3].path: missing"), std::string::npos) << e;
    EXPECT_NE(e.find("swarm.volumes[4].driver: missing"), std::string::npos) << e;
    EXPECT_NE(e.find("bad.yaml:19:7: swarm.volumes[5].colour: unknown key"), std::string::npos)
        << e;
    EXPECT_EQ(bad.error().size(), 6u) << e;
    EXPECT_FALSE(parse_config("swarm:\n  volumes: /srv\n", "s.yaml").ok());

    // One engine binds the directories itself: the mapping would be silently unused.
    DaemonConfig one = *c;
    one.engine = "docker";
    std::string v;
    for (const auto& d : validate_config(one)) v += d.key_path + ": " + d.message + "\n";
    EXPECT_NE(v.find("swarm.volumes: only with engine: swarm"), std::string::npos) << v;
}

TEST(DaemonConfig, SwarmNodeLocalWorkspaces) {
    EXPECT_EQ(DaemonConfig{}.swarm_workspaces, "shared");
    EXPECT_EQ(DaemonConfig{}.swarm_node_lost_after, std::chrono::minutes(10));
    auto c = parse_config(R"(engine: swarm
gateway:
  listen: 10.0.0.2:7796
swarm:
  workspaces: node-local
  node_lost_after: 90s
)",
                          "n.yaml");
    ASSERT_TRUE(c.ok()) << errors(c.error());
    EXPECT_EQ(c->swarm_workspaces, "node-local");
    EXPECT_EQ(c->swarm_node_lost_after, std::chrono::seconds(90));
    auto check = [](const DaemonConfig& cfg) {
        std::string out;
        for (const auto& d : validate_config(cfg)) out += d.key_path + ": " + d.message + "\n";
        return out;
    };
    EXPECT_EQ(check(*c).find("swarm.workspaces"), std::string::npos) << check(*c);

    auto bad =
        parse_config("swarm:\n  workspaces: everywhere\n  node_lost_after: soon\n", "b.yaml");
    ASSERT_FALSE(bad.ok());
    const std::string e = errors(bad.error());
    EXPECT_NE(e.find("b.yaml:2:15: swarm.workspaces: expected shared or node-local, got "
                     "'everywhere'"),
              std::string::npos)
        << e;
    EXPECT_NE(e.find("b.yaml:3:20: swarm.node_lost_after:"), std::string::npos) << e;

    DaemonConfig one = *c;
    one.engine = "docker";
    EXPECT_NE(check(one).find("swarm.workspaces: node-local only with engine: swarm"),
              std::string::npos);
    DaemonConfig both = *c;
    both.swarm_volumes = {{.path = "/srv", .driver = "local", .options = {{"device", "{path}"}}}};
    EXPECT_NE(check(both).find("swarm.workspaces: node-local and swarm.volumes exclude each other"),
              std::string::npos);
    DaemonConfig no_gateway = *c;
    no_gateway.gateway_listen.clear();
    EXPECT_NE(check(no_gateway).find("swarm.workspaces: node-local needs the gateway"),
              std::string::npos);
}

TEST(DaemonConfig, LogFormatAndLevel) {
    auto c = parse_config("log:\n  format: json\n  level: debug\n", "l.yaml");
    ASSERT_TRUE(c.ok()) << errors(c.error());
    EXPECT_EQ(c->log_format, "json");
    EXPECT_EQ(c->log_level, "debug");
    EXPECT_EQ(DaemonConfig{}.log_format, "");  // default: the command line decides
    auto bad = parse_config("log:\n  format: xml\n  level: loud\n", "l.yaml");
    ASSERT_FALSE(bad.ok());
    const auto text = errors(bad.error());
    EXPECT_NE(text.find("log.format"), std::string::npos) << text;
    EXPECT_NE(text.find("expected text, json or \"\", got 'xml'"), std::string::npos) << text;
    EXPECT_NE(text.find("log.level"), std::string::npos) << text;
}

TEST(DaemonConfig, EmbeddedRelayQuota) {
    auto c = parse_config(
        "embedded_relay_quota:\n  max_event_size: 128Ki\n  max_per_author: 2Mi\n"
        "  max_total_size: 1Gi\n  max_events: 5000\n",
        "q.yaml");
    ASSERT_TRUE(c.ok()) << errors(c.error());
    EXPECT_EQ(c->embedded_relay_quota.max_event_bytes, 128u * 1024);
    EXPECT_EQ(c->embedded_relay_quota.max_author_bytes, 2u << 20);
    EXPECT_EQ(c->embedded_relay_quota.max_total_bytes, std::size_t{1} << 30);
    EXPECT_EQ(c->embedded_relay_quota.max_events, 5000u);
    // Defaults: a per-event limit at least the gateway's (64 KiB), and quotas.
    const relay::StoreLimits d = DaemonConfig{}.embedded_relay_quota;
    EXPECT_GE(d.max_event_bytes, std::size_t{64 * 1024});
    EXPECT_EQ(d.max_event_bytes, 256u * 1024);
    EXPECT_EQ(d.max_author_bytes, 8u << 20);
    EXPECT_EQ(d.max_total_bytes, 256u << 20);
    EXPECT_EQ(d.max_events, 100000u);
    // Out of range, or not a size: the key and the range in the message.
    auto bad = parse_config(
        "embedded_relay_quota:\n  max_event_size: 1Mi\n  max_per_author: 0\n"
        "  max_total_size: lots\n  max_events: 0\n  max_things: 1\n",
        "q.yaml");
    ASSERT_FALSE(bad.ok());
    const std::string e = errors(bad.error());
    EXPECT_NE(
        e.find("embedded_relay_quota.max_event_size: expected a size from 1Ki to 512Ki, got '1Mi'"),
        std::string::npos)
        << e;
    EXPECT_NE(
        e.find("embedded_relay_quota.max_per_author: expected a size from 1Ki to 1Ti, got '0'"),
        std::string::npos)
        << e;
    EXPECT_NE(e.find("embedded_relay_quota.max_total_size: invalid memory size \"lots\""),
              std::string::npos)
        << e;
    EXPECT_NE(e.find("embedded_relay_quota.max_events: expected an integer"), std::string::npos)
        << e;
    EXPECT_NE(e.find("embedded_relay_quota.max_things: unknown key"), std::string::npos) << e;
}

TEST(DaemonConfig, Pubkeys) {
    EXPECT_EQ(*normalize_pubkey(kNpub), kHex);
    EXPECT_EQ(*normalize_pubkey(std::string(kHex)), kHex);
    EXPECT_FALSE(normalize_pubkey("npub1qqqq").ok());
    EXPECT_FALSE(normalize_pubkey(std::string(kHex) + "00").ok());
    EXPECT_FALSE(normalize_pubkey("").ok());
    // An nsec is refused, and the error does not echo it.
    auto nsec = normalize_pubkey("nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5");
    ASSERT_FALSE(nsec.ok());
    EXPECT_EQ(nsec.error().message.find("vl029"), std::string::npos);
}

TEST(DaemonConfig, LoadsAFileAndReportsAMissingOne) {
    test::TempDir dir;
    auto file = dir.path() / "sandbox.yaml";
    std::ofstream(file) << "relays: [ws://127.0.0.1:7777]\nwhitelist: [" << kHex << "]\n";
    auto c = load_config(file);
    ASSERT_TRUE(c.ok()) << errors(c.error());
    EXPECT_EQ(c->whitelist.at(0), kHex);
    auto missing = load_config(dir.path() / "nope.yaml");
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(errors(missing.error()).find("nope.yaml"), std::string::npos);
}

TEST(DaemonConfig, DocumentedExampleIsValidAndShowsTheDefaults) {
    auto c = load_config(test::source_dir() / "examples" / "sandbox.yaml");
    ASSERT_TRUE(c.ok()) << errors(c.error());
    EXPECT_TRUE(validate_config(*c).empty()) << errors(validate_config(*c));
    // Every value the example does not mark as an example is the built-in default.
    DaemonConfig defaults;
    EXPECT_EQ(c->key_file, defaults.key_file);
    EXPECT_EQ(c->projects_path, defaults.projects_path);
    EXPECT_EQ(c->policies_dir, defaults.policies_dir);
    EXPECT_EQ(c->state_dir, defaults.state_dir);
    EXPECT_EQ(c->http_listen, defaults.http_listen);
    EXPECT_EQ(c->gateway_listen, defaults.gateway_listen);
    EXPECT_EQ(c->disk_pressure_min_free, defaults.disk_pressure_min_free);
    EXPECT_EQ(c->gateway_writes_per_second, defaults.gateway_writes_per_second);
    EXPECT_EQ(c->gateway_write_burst, defaults.gateway_write_burst);
    EXPECT_EQ(c->start_concurrency, defaults.start_concurrency);
    EXPECT_EQ(c->stop_projects_on_exit, defaults.stop_projects_on_exit);
    EXPECT_EQ(c->monitor.events_per_second, defaults.monitor.events_per_second);
    EXPECT_EQ(c->monitor.burst, defaults.monitor.burst);
    EXPECT_EQ(c->monitor.queue_size, defaults.monitor.queue_size);
    EXPECT_EQ(c->git.allow_http, defaults.git.allow_http);
    EXPECT_EQ(c->git.allow_private_hosts, defaults.git.allow_private_hosts);
    EXPECT_EQ(c->clone.timeout, defaults.clone.timeout);
    EXPECT_EQ(c->clone.max_bytes, defaults.clone.max_bytes);
    EXPECT_EQ(c->embedded_relay_quota.max_event_bytes,
              defaults.embedded_relay_quota.max_event_bytes);
    EXPECT_EQ(c->embedded_relay_quota.max_author_bytes,
              defaults.embedded_relay_quota.max_author_bytes);
    EXPECT_EQ(c->embedded_relay_quota.max_total_bytes,
              defaults.embedded_relay_quota.max_total_bytes);
    EXPECT_EQ(c->embedded_relay_quota.max_events, defaults.embedded_relay_quota.max_events);
    EXPECT_EQ(c->relay_ca_file, defaults.relay_ca_file);
    EXPECT_EQ(c->log_format, defaults.log_format);
    EXPECT_EQ(c->log_level, defaults.log_level);
    EXPECT_EQ(c->metrics.per_project, defaults.metrics.per_project);
    EXPECT_EQ(c->metrics.max_projects, defaults.metrics.max_projects);
}

TEST(DaemonConfig, PerProjectMetrics) {
    DaemonConfig defaults;
    EXPECT_TRUE(defaults.metrics.per_project);
    EXPECT_EQ(defaults.metrics.max_projects, 1000u);
    auto c = parse_config("metrics: {per_project: false, max_projects: 50}\n", "m.yaml");
    ASSERT_TRUE(c.ok()) << errors(c.error());
    EXPECT_FALSE(c->metrics.per_project);
    EXPECT_EQ(c->metrics.max_projects, 50u);
    auto bad = parse_config("metrics:\n  per_project: maybe\n  max_projects: 0\n  labels: [d]\n",
                            "m.yaml");
    ASSERT_FALSE(bad.ok());
    auto e = errors(bad.error());
    EXPECT_NE(e.find("m.yaml:2:16: metrics.per_project: expected true or false, got 'maybe'"),
              std::string::npos)
        << e;
    EXPECT_NE(
        e.find("m.yaml:3:17: metrics.max_projects: expected an integer from 1 to 100000, got '0'"),
        std::string::npos)
        << e;
    EXPECT_NE(e.find("metrics.labels: unknown key (known: max_projects, per_project)"),
              std::string::npos)
        << e;
    EXPECT_FALSE(parse_config("metrics: {max_projects: 100001}\n", "m.yaml").ok());
    EXPECT_FALSE(parse_config("metrics: {max_projects: -1}\n", "m.yaml").ok());
}

}  // namespace
}  // namespace tenex::daemon
