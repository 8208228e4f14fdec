#include <gtest/gtest.h>

#include <string>

#include "sandbox/policy_file.hpp"
#include "sandbox/policy_schema.hpp"
#include "sandbox/policy_set.hpp"

namespace tenex::sandbox {
namespace {

struct Expect {
    int line;
    int column;
    std::string key_path;
    std::string message_part;
};

// The text must produce exactly one error, at the given place.
void expect_one_error(const std::string& yaml, const Expect& e) {
    const LoadedFile loaded = parse_policy_text(yaml, "t.yaml");
    ASSERT_EQ(loaded.diagnostics.size(), 1u)
        << yaml << "\nfirst: "
        << (loaded.diagnostics.empty() ? "" : format_diagnostic(loaded.diagnostics[0]));
    const Diagnostic& d = loaded.diagnostics[0];
    EXPECT_EQ(d.severity, Severity::error);
    EXPECT_EQ(d.file, "t.yaml");
    EXPECT_EQ(d.line, e.line) << format_diagnostic(d);
    EXPECT_EQ(d.column, e.column) << format_diagnostic(d);
    EXPECT_EQ(d.key_path, e.key_path) << format_diagnostic(d);
    EXPECT_NE(d.message.find(e.message_part), std::string::npos) << format_diagnostic(d);
    // the key with the error is not kept
    EXPECT_EQ(loaded.file.settings.count(e.key_path), 0u);
}

TEST(PolicyFile, ParsesEveryFieldOfTheSchema) {
    const std::string yaml = R"(match:
  d: [a, b]
image: tenex-runtime:1.2
command: [/usr/bin/tenex, run]
args: ["--project", "{naddr}", "--owner={owner}"]
env:
  LOG: debug
  ADDR: "{address}"
secrets:
  API_KEY: /etc/tenex/key
mounts:
  - {source: .tenex, target: /config, read_only: true}
resources:
  memory: 512Mi
  memory_swap: 1Gi
  cpus: 0.5
  cpuset: "0-1"
  pids: 100
  nofile: 2048
  disk: 10G
  reservations: {memory: 256Mi, cpus: 0.25}
network:
  mode: egress
  allow: [relay.tenex.chat:443, API.Anthropic.com:443]
lifecycle:
  restart: always
  backoff_initial: 500ms
  backoff_max: 10m
  crash_loop_threshold: 3
  crash_loop_window: 30m
  stop_timeout: 10s
  pause_after: 5m
  idle_timeout: 0s
  keep_stopped: 2d
  max_lifetime: 24h
  on_policy_change: immediately
security:
  user: "1001:1001"
  read_only_root: true
  tmpfs:
    /tmp: 64Mi
    /var/cache.d: 8Mi
  cap_add: [net_bind_service, CAP_CHOWN]
  runtime: runsc
placement:
  constraints: ["node.labels.zone == a", "node.role!=manager"]
  spread: [node.labels.rack]
)";
    const LoadedFile loaded = parse_policy_text(yaml, "all.yaml");
    for (const auto& d : loaded.diagnostics) ADD_FAILURE() << format_diagnostic(d);
    ASSERT_TRUE(loaded.file.match.has_value());
    EXPECT_EQ(loaded.file.match->ds, (std::vector<std::string>{"a", "b"}));
    const auto& s = loaded.file.settings;
    for (const char* key : {"image",
                            "command",
                            "args",
                            "env.LOG",
                            "env.ADDR",
                            "secrets.API_KEY",
                            "mounts",
                            "resources.memory",
                            "resources.memory_swap",
                            "resources.cpus",
                            "resources.cpuset",
                            "resources.pids",
                            "resources.nofile",
                            "resources.disk",
                            "network.mode",
                            "network.allow",
                            "lifecycle.restart",
                            "lifecycle.backoff_initial",
                            "lifecycle.backoff_max",
                            "lifecycle.crash_loop_threshold",
                            "lifecycle.crash_loop_window",
                            "lifecycle.stop_timeout",
                            "lifecycle.pause_after",
                            "lifecycle.idle_timeout",
                            "lifecycle.keep_stopped",
                            "lifecycle.max_lifetime",
                            "lifecycle.on_policy_change",
                            "security.user",
                            "security.read_only_root",
                            "security.tmpfs./tmp",
                            "security.tmpfs./var/cache.d",
                            "security.cap_add",
                            "security.runtime",
                            "resources.reservations.memory",
                            "resources.reservations.cpus",
                            "placement.constraints",
                            "placement.spread"})
        EXPECT_EQ(s.count(key), 1u) << key;
    EXPECT_EQ(s.size(), 37u);
    EXPECT_EQ(s.at("resources.memory").where.line, 14);
    EXPECT_EQ(s.at("resources.memory").where.column, 11);
    EXPECT_EQ(s.at("resources.memory").where.file, "all.yaml");

    // Every setting applies cleanly to a typed policy.
    Policy p;
    for (const auto& [path, setting] : s)
        apply_setting(p, path, setting.value,
                      [&](const YAML::Node&, const std::string& k, const std::string& m, Severity) {
                          ADD_FAILURE() << k << ": " << m;
                      });
    EXPECT_EQ(p.image, "tenex-runtime:1.2");
    EXPECT_EQ(p.args, (std::vector<std::string>{"--project", "{naddr}", "--owner={owner}"}));
    EXPECT_EQ(p.resources.memory_bytes, 512LL << 20);
    EXPECT_EQ(p.resources.memory_swap_bytes, 1LL << 30);
    EXPECT_EQ(p.resources.nano_cpus, 500'000'000);
    EXPECT_EQ(p.resources.disk_bytes, 10'000'000'000LL);
    EXPECT_EQ(p.network.mode, NetworkMode::egress);
    ASSERT_EQ(p.network.allow.size(), 2u);
    EXPECT_EQ(p.network.allow[1].to_string(), "api.anthropic.com:443");
    EXPECT_EQ(p.lifecycle.restart, RestartMode::always);
    EXPECT_EQ(p.lifecycle.backoff_initial, std::chrono::milliseconds(500));
    EXPECT_EQ(p.lifecycle.idle_timeout, std::chrono::milliseconds(0));
    EXPECT_EQ(p.lifecycle.pause_after, std::chrono::minutes(5));
    EXPECT_EQ(p.lifecycle.keep_stopped, std::chrono::hours(48));
    EXPECT_EQ(p.lifecycle.on_policy_change, PolicyChange::immediately);
    EXPECT_EQ(p.security.cap_add, (std::vector<std::string>{"CHOWN", "NET_BIND_SERVICE"}));
    EXPECT_EQ(p.security.tmpfs.at("/var/cache.d"), 8LL << 20);
    ASSERT_EQ(p.mounts.size(), 1u);
    EXPECT_EQ(p.mounts[0],
              (ProjectMount{.source = ".tenex", .target = "/config", .read_only = true}));
    EXPECT_EQ(p.secrets.at("API_KEY"), "/etc/tenex/key");
    EXPECT_EQ(p.resources.reserve_memory_bytes, 256LL << 20);
    EXPECT_EQ(p.resources.reserve_nano_cpus, 250'000'000);
    // Constraints are written back without spaces, as the swarm API shows them.
    EXPECT_EQ(p.placement.constraints,
              (std::vector<std::string>{"node.labels.zone==a", "node.role!=manager"}));
    EXPECT_EQ(p.placement.spread, (std::vector<std::string>{"node.labels.rack"}));
}

TEST(PolicyFile, EmptyFileSetsNothing) {
    const LoadedFile loaded = parse_policy_text("# nothing\n", "e.yaml");
    EXPECT_TRUE(loaded.diagnostics.empty());
    EXPECT_TRUE(loaded.file.settings.empty());
    EXPECT_FALSE(loaded.file.match.has_value());
}

// Found by fuzz_policy: a secret path with a byte that is not UTF-8 passed the schema and
// made the spec's JSON (digest, create body) throw at start.
TEST(PolicyFile, TextThatIsNotUtf8IsRefusedWithItsLine) {
    auto f =
        parse_policy_text("image: tenex-probe:latest\nsecrets:\n  KEY: /etc/k\xff\n", "bad.yaml");
    ASSERT_EQ(f.diagnostics.size(), 1u);
    EXPECT_EQ(f.diagnostics[0].line, 3);
    EXPECT_NE(f.diagnostics[0].message.find("not UTF-8"), std::string::npos);
    EXPECT_TRUE(parse_policy_text("image: tenex-probe:latest\nenv: {GREETING: \"h\xc3\xa9llo\"}\n",
                                  "ok.yaml")
                    .diagnostics.empty());
}

// Found by fuzz_policy (CI, 2026-12-07): UTF-8 text whose double-quoted escape decodes to bytes
// that are not UTF-8 made the spec's digest throw at start: yaml-cpp 0.7 writes YAML's \N (U+0085)
// and \_ (U+00A0) as one raw byte each. Refused with their place.
TEST(PolicyFile, EscapesThatDecodeToSomethingNotUtf8AreRefusedWithTheirKey) {
    for (const char* escape : {"\\N", "\\_"}) {
        auto f = parse_policy_text(
            std::string("image: tenex-probe:latest\nenv:\n  GREETING: \"a") + escape + "\"\n",
            "esc.yaml");
        ASSERT_EQ(f.diagnostics.size(), 1u) << escape;
        EXPECT_EQ(f.diagnostics[0].line, 3) << escape;
        EXPECT_EQ(f.diagnostics[0].key_path, "env.GREETING") << escape;
        EXPECT_NE(f.diagnostics[0].message.find("not UTF-8"), std::string::npos);
        EXPECT_TRUE(f.file.settings.empty()) << "nothing of the file is taken";
    }
    auto key = parse_policy_text("image: a\nenv:\n  \"K\\N\": v\n", "k.yaml");
    ASSERT_EQ(key.diagnostics.size(), 1u);
    EXPECT_EQ(key.diagnostics[0].key_path, "env");
    EXPECT_NE(key.diagnostics[0].message.find("this key"), std::string::npos);
    auto listed = parse_policy_text("image: a\nargs: [\"ok\", \"\\_\"]\n", "l.yaml");
    ASSERT_EQ(listed.diagnostics.size(), 1u);
    EXPECT_EQ(listed.diagnostics[0].key_path, "args[1]");
    // Other escapes decode to UTF-8.
    EXPECT_TRUE(parse_policy_text("image: a\nenv: {G: \"\\x80 \\u00e9 \\L \\0\"}\n", "ok.yaml")
                    .diagnostics.empty());
}

TEST(PolicyFile, SyntaxErrorHasItsLine) {
    const LoadedFile loaded = parse_policy_text("image: a\nresources:\n  memory: [1\n", "s.yaml");
    ASSERT_EQ(loaded.diagnostics.size(), 1u);
    EXPECT_EQ(loaded.diagnostics[0].line, 4);
    EXPECT_NE(loaded.diagnostics[0].message.find("YAML syntax error"), std::string::npos);
}

TEST(PolicyFile, RootMustBeAMapping) {
    expect_one_error("- a\n- b\n", {1, 1, "", "expected a mapping"});
}

TEST(PolicyFile, UnknownKeysAnywhere) {
    expect_one_error("imgae: x\n",
                     {1, 1, "imgae", "unknown key (known: args, command, env, image"});
    expect_one_error("resources:\n  memroy: 1Gi\n",
                     {2, 3, "resources.memroy", "unknown key (known: cpus, cpuset, disk, memory"});
    expect_one_error("network:\n  mode: none\n  allowlist: []\n",
                     {3, 3, "network.allowlist", "unknown key"});
    expect_one_error("match:\n  name: x\n",
                     {2, 3, "match.name", "unknown key (known: address, d, owner)"});
    expect_one_error("mounts:\n  - source: a\n    target: /a\n    mode: rw\n",
                     {4, 5, "mounts[0].mode", "unknown key"});
}

TEST(PolicyFile, DuplicateKeysAreErrors) {
    const LoadedFile top = parse_policy_text("image: a\nimage: b\n", "t.yaml");
    ASSERT_EQ(top.diagnostics.size(), 1u);
    EXPECT_EQ(format_diagnostic(top.diagnostics[0]), "t.yaml:2:1: image: duplicate key");
    const LoadedFile env = parse_policy_text("env:\n  A: x\n  A: y\n", "t.yaml");
    ASSERT_EQ(env.diagnostics.size(), 1u);
    EXPECT_EQ(format_diagnostic(env.diagnostics[0]), "t.yaml:3:3: env.A: duplicate key");
}

TEST(PolicyFile, WrongTypes) {
    expect_one_error("image: [a]\n", {1, 8, "image", "expected a string, got a list"});
    expect_one_error("command: /bin/sh\n", {1, 10, "command", "expected a list"});
    expect_one_error("args: [a, {b: c}]\n", {1, 11, "args[1]", "expected a string, got a mapping"});
    expect_one_error("resources: 1Gi\n", {1, 12, "resources", "expected a mapping"});
    expect_one_error("resources:\n  pids: many\n",
                     {2, 9, "resources.pids", "expected a whole number"});
    expect_one_error("resources:\n  pids: \"100\"\n",
                     {2, 9, "resources.pids", "expected a whole number"});
    expect_one_error("security:\n  read_only_root: yes\n",
                     {2, 19, "security.read_only_root", "expected true or false"});
    expect_one_error("env: [A=b]\n", {1, 6, "env", "expected a mapping of names to values"});
    expect_one_error("env:\n  A: {x: 1}\n", {2, 6, "env.A", "expected a string, got a mapping"});
    expect_one_error("image:\n", {1, 1, "image", "missing value"});
}

TEST(PolicyFile, BadUnitsAndRanges) {
    expect_one_error("resources:\n  memory: 2GB\n",
                     {2, 11, "resources.memory", "invalid memory unit \"GB\""});
    expect_one_error("resources:\n  memory: 1Mi\n",
                     {2, 11, "resources.memory", "below the minimum of 6Mi"});
    expect_one_error("resources:\n  cpus: 0\n", {2, 9, "resources.cpus", "out of range"});
    expect_one_error("resources:\n  cpus: two\n", {2, 9, "resources.cpus", "invalid CPU count"});
    expect_one_error("resources:\n  pids: 5\n",
                     {2, 9, "resources.pids", "out of range: 5 (allowed 16..1000000)"});
    expect_one_error("resources:\n  nofile: 99999999\n",
                     {2, 11, "resources.nofile", "out of range"});
    expect_one_error("resources:\n  cpuset: 0-\n",
                     {2, 11, "resources.cpuset", "expected a CPU list"});
    expect_one_error("lifecycle:\n  stop_timeout: 30\n",
                     {2, 17, "lifecycle.stop_timeout", "needs a unit"});
    expect_one_error("lifecycle:\n  stop_timeout: 1h\n",
                     {2, 17, "lifecycle.stop_timeout", "out of range: 1h (allowed 0s..10m)"});
    expect_one_error("lifecycle:\n  pause_after: 400d\n",
                     {2, 16, "lifecycle.pause_after", "out of range: 400d (allowed 0s..365d)"});
    expect_one_error("lifecycle:\n  keep_stopped: soon\n",
                     {2, 17, "lifecycle.keep_stopped", "invalid duration"});
    expect_one_error("lifecycle:\n  crash_loop_threshold: 0\n",
                     {2, 25, "lifecycle.crash_loop_threshold", "out of range"});
    expect_one_error("lifecycle:\n  restart: sometimes\n",
                     {2, 12, "lifecycle.restart", "unknown restart mode"});
    expect_one_error("lifecycle:\n  on_policy_change: later\n",
                     {2, 21, "lifecycle.on_policy_change",
                      "unknown value \"later\" (one of next-trigger, immediately)"});
    expect_one_error("lifecycle:\n  on_policy_change: [immediately]\n",
                     {2, 21, "lifecycle.on_policy_change", "expected a string, got a list"});
    expect_one_error("security:\n  tmpfs:\n    /tmp: 10\n",
                     {3, 11, "security.tmpfs./tmp", "below the minimum"});
}

TEST(PolicyFile, ForbiddenSettings) {
    expect_one_error("security:\n  privileged: true\n",
                     {2, 3, "security.privileged", "forbidden: privileged"});
    expect_one_error("privileged: false\n", {1, 1, "privileged", "forbidden: privileged"});
    expect_one_error("network:\n  mode: host\n",
                     {2, 9, "network.mode", "forbidden: host networking"});
    expect_one_error("network:\n  mode: container:abc\n", {2, 9, "network.mode", "forbidden"});
    expect_one_error("pid: host\n", {1, 1, "pid", "host's PID namespace"});
    expect_one_error("security:\n  ipc: host\n", {2, 3, "security.ipc", "host's IPC namespace"});
    expect_one_error("volumes: [/:/host]\n", {1, 1, "volumes", "forbidden: host paths"});
    expect_one_error("devices: [/dev/kvm]\n", {1, 1, "devices", "forbidden: host devices"});
    expect_one_error(
        "mounts:\n  - source: /var/run/docker.sock\n    target: /var/run/docker.sock\n",
        {2, 13, "mounts[0].source", "forbidden: the Docker socket"});
    expect_one_error("mounts:\n  - source: /etc\n    target: /etc2\n",
                     {2, 13, "mounts[0].source",
                      "forbidden: host path \"/etc\" is outside the project directory"});
    expect_one_error("mounts:\n  - source: ../other-project\n    target: /other\n",
                     {2, 13, "mounts[0].source", "forbidden: the source must be a path inside"});
    expect_one_error("mounts:\n  - source: data\n    target: /workspace\n",
                     {3, 13, "mounts[0].target", "expected an absolute container path"});
    expect_one_error(
        "security:\n  cap_add: [CHOWN, SYS_ADMIN]\n",
        {2, 20, "security.cap_add[1]", "forbidden: capability SYS_ADMIN is not in the allowlist"});
    expect_one_error("security:\n  cap_add: [ALL]\n",
                     {2, 13, "security.cap_add[0]", "forbidden: capability ALL"});
    expect_one_error("security:\n  user: root\n", {2, 9, "security.user", "never run as root"});
    expect_one_error("security:\n  user: \"0:1000\"\n",
                     {2, 9, "security.user", "never run as root"});
}

// Every spelling of uid 0 or gid 0 that the engine (runc) would run as root, and every user the
// engine would resolve inside the image (a name, a uid alone), is refused; numbers are kept in
// their canonical form.
TEST(PolicyFile, UserIsTwoNonRootNumbers) {
    for (const char* root : {"0:1000", "1000:0", "00:1000", "1000:000", "0:0", "root"})
        expect_one_error(std::string("security:\n  user: \"") + root + "\"\n",
                         {2, 9, "security.user", "never run as root"});
    for (const char* bad :
         {"-0:1000", "+0:1000", "1000:-0", "0x0:1000", " 0:1000", "1000: 0", "toor", "toor:toor",
          "root:root", "1000", "1000:", ":1000", "1000:1000:1000", "-1:1000", "4294967296:1000",
          "2147483648:1000", "1e3:1000"})
        expect_one_error(std::string("security:\n  user: \"") + bad + "\"\n",
                         {2, 9, "security.user", "expected \"uid:gid\""});
    const LoadedFile loaded = parse_policy_text("security:\n  user: \"01001:0065534\"\n", "p.yaml");
    ASSERT_TRUE(loaded.diagnostics.empty()) << format_diagnostic(loaded.diagnostics.front());
    EXPECT_EQ(merge_policy_files({&loaded.file}).policy.security.user, "1001:65534");
    expect_one_error("security:\n  cap_drop: []\n", {2, 3, "security.cap_drop", "always dropped"});
    expect_one_error("security:\n  runtime: kata\n",
                     {2, 12, "security.runtime", "unknown runtime"});
    expect_one_error("network:\n  allow: [169.254.169.254:80]\n",
                     {2, 11, "network.allow[0]", "metadata"});
}

TEST(PolicyFile, BadValuesElsewhere) {
    expect_one_error("network:\n  mode: bridge\n",
                     {2, 9, "network.mode", "unknown network mode \"bridge\""});
    expect_one_error("network:\n  allow:\n    - relay.tenex.chat\n",
                     {3, 7, "network.allow[0]", "expected \"host:port\""});
    expect_one_error("network:\n  allow: [\"a.b:70000\"]\n",
                     {2, 11, "network.allow[0]", "expected \"host:port\""});
    expect_one_error("network:\n  allow: [\"*.example.com:443\"]\n",
                     {2, 11, "network.allow[0]", "wildcard entries are not supported"});
    expect_one_error("network:\n  allow: [203.0.113.5:443]\n",
                     {2, 11, "network.allow[0]", "IP addresses cannot be allowlisted"});
    expect_one_error("network:\n  relays: yes\n",
                     {2, 11, "network.relays", "expected true or false"});
    expect_one_error("args: [\"--x={nadr}\"]\n", {1, 8, "args[0]", "unknown placeholder {nadr}"});
    expect_one_error("env:\n  1BAD: x\n",
                     {2, 9, "env.1BAD", "not a valid environment variable name"});
    expect_one_error("secrets:\n  KEY: relative/path\n", {2, 8, "secrets.KEY", "absolute path"});
    expect_one_error("image: \"has space\"\n", {1, 8, "image", "not a valid image reference"});
    expect_one_error("security:\n  tmpfs:\n    /workspace: 1Gi\n",
                     {3, 17, "security.tmpfs./workspace", "absolute path other than"});
    expect_one_error("match:\n  address: 31933:zz:x\n", {2, 12, "match.address", "64 hex digits"});
    expect_one_error("match:\n  owner: npub1xyz\n",
                     {2, 10, "match.owner", "expected an owner pubkey"});
    expect_one_error("match: {}\n", {1, 8, "match", "names no project"});
    expect_one_error("placement:\n  constraints: [\"node.labels.zone = a\"]\n",
                     {2, 17, "placement.constraints[0]", "expected \"<attribute> == <value>\""});
    expect_one_error("placement:\n  constraints: [\"node.color==red\"]\n",
                     {2, 17, "placement.constraints[0]", "node.labels.<key>"});
    expect_one_error("placement:\n  constraints: [\"node.labels.zone==\"]\n",
                     {2, 17, "placement.constraints[0]", "expected"});
    expect_one_error("placement:\n  constraints: [\"node.labels.zone==a b\"]\n",
                     {2, 17, "placement.constraints[0]", "expected"});
    expect_one_error("placement:\n  spread: [node.hostname]\n",
                     {2, 12, "placement.spread[0]", "a node label"});
    expect_one_error("placement:\n  spread: node.labels.zone\n",
                     {2, 11, "placement.spread", "expected a list"});
    expect_one_error("resources:\n  reservations:\n    cpus: 0\n",
                     {3, 11, "resources.reservations.cpus", "out of range"});
    expect_one_error("resources:\n  reservations:\n    disk: 1G\n",
                     {3, 5, "resources.reservations.disk", "unknown key"});
}

TEST(PolicyFile, SeveralErrorsAreAllReported) {
    const LoadedFile loaded = parse_policy_text(
        "imgae: x\nresources:\n  memory: lots\n  cpus: -1\nsecurity:\n  privileged: true\n",
        "m.yaml");
    ASSERT_EQ(loaded.diagnostics.size(), 4u);
    EXPECT_EQ(format_diagnostic(loaded.diagnostics[0]).substr(0, 16), "m.yaml:1:1: imga");
    EXPECT_EQ(loaded.diagnostics[1].key_path, "resources.memory");
    EXPECT_EQ(loaded.diagnostics[2].key_path, "resources.cpus");
    EXPECT_EQ(loaded.diagnostics[3].key_path, "security.privileged");
    EXPECT_EQ(loaded.diagnostics[3].line, 6);
}

TEST(PolicyFile, MatchAcceptsHexAndNpubOwners) {
    const LoadedFile loaded = parse_policy_text(
        "match:\n  owner:\n    - npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg\n"
        "    - 25A23FD25ED8D99A994BA7BFF2F44748ACC499F6D2AE491F88499F54D69643D8\n",
        "o.yaml");
    ASSERT_TRUE(loaded.diagnostics.empty()) << format_diagnostic(loaded.diagnostics[0]);
    ASSERT_TRUE(loaded.file.match);
    EXPECT_EQ(loaded.file.match->owners,
              (std::vector<std::string>{
                  "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e",
                  "25a23fd25ed8d99a994ba7bff2f44748acc499f6d2ae491f88499f54d69643d8"}));
}

TEST(PolicyFile, FormatDiagnostic) {
    EXPECT_EQ(format_diagnostic(Diagnostic{.file = "a.yaml",
                                           .line = 3,
                                           .column = 5,
                                           .key_path = "resources.memory",
                                           .message = "bad",
                                           .severity = Severity::error}),
              "a.yaml:3:5: resources.memory: bad");
    EXPECT_EQ(format_diagnostic(Diagnostic{.file = "a.yaml",
                                           .line = 1,
                                           .column = 1,
                                           .key_path = "",
                                           .message = "w",
                                           .severity = Severity::warning}),
              "a.yaml:1:1: warning: w");
}

TEST(PolicyFile, UnreadableFileIsADiagnosticNotACrash) {
    const LoadedFile loaded = load_policy_file("/nonexistent/policy.yaml");
    ASSERT_EQ(loaded.diagnostics.size(), 1u);
    EXPECT_EQ(loaded.diagnostics[0].message, "cannot read the file");
}

}  // namespace
}  // namespace tenex::sandbox

namespace tenex::sandbox {
namespace {

// A cheap fuzz pass inside the unit tests: byte mutations of real policies never throw or
// crash, and every outcome is either settings or diagnostics with a position.
TEST(PolicyFile, MutatedInputsNeverThrow) {
    const std::string seed = R"(match:
  d: [a, "b"]
image: tenex-runtime:latest
args: ["--project", "{naddr}"]
env: {A: x, B: "{owner}"}
secrets: {K: /run/k}
mounts: [{source: .tenex, target: /c}]
resources: {memory: 2Gi, cpus: 0.5, pids: 64, cpuset: "0-1"}
network: {mode: egress, allow: [relay.tenex.chat:443]}
lifecycle: {restart: always, stop_timeout: 10s}
security: {user: "1000:1000", tmpfs: {/tmp: 64Mi}, cap_add: [CHOWN]}
&anchor x: *anchor
)";
    const std::string alphabet = ":{}[]-,&*!|>'\"#%@` \n\t0123456789aZ.\\";
    std::uint32_t state = 12345;
    auto next = [&state] {
        state = state * 1664525u + 1013904223u;
        return state >> 8;
    };
    for (int i = 0; i < 3000; ++i) {
        std::string text = seed;
        const int edits = 1 + static_cast<int>(next() % 6);
        for (int e = 0; e < edits; ++e) {
            const std::size_t pos = next() % (text.size() + 1);
            switch (next() % 3) {
                case 0:
                    text.insert(pos, 1, alphabet[next() % alphabet.size()]);
                    break;
                case 1:
                    if (pos < text.size()) text.erase(pos, 1);
                    break;
                default:
                    if (pos < text.size()) text[pos] = alphabet[next() % alphabet.size()];
            }
        }
        LoadedFile loaded;
        ASSERT_NO_THROW(loaded = parse_policy_text(text, "m.yaml")) << text;
        for (const auto& d : loaded.diagnostics) {
            EXPECT_EQ(d.file, "m.yaml");
            EXPECT_FALSE(d.message.empty());
        }
    }
}

}  // namespace
}  // namespace tenex::sandbox
