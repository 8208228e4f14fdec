// A project's sandbox policy, typed and with the safe defaults. Policy files (YAML) are parsed
// and merged into this; the container spec is built from it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "hostnet/network_plan.hpp"

namespace tenex::sandbox {

// The network modes and allowlist entries are the host side's (hostnet/network_plan.hpp).
using hostnet::HostPort;
using hostnet::NetworkMode;
using hostnet::to_string;

enum class RestartMode { never, on_failure, always };
// What happens to a running container whose policy digest no longer matches its policy.
enum class PolicyChange { next_trigger, immediately };

std::string to_string(RestartMode m);
std::string to_string(PolicyChange m);

// A host path inside the project directory mounted somewhere else in the container.
struct ProjectMount {
    std::string source{};  // relative to the project directory, never leaving it
    std::string target{};  // absolute container path
    bool read_only = true;
    bool operator==(const ProjectMount&) const = default;
};

struct Resources {
    std::int64_t memory_bytes = 2LL << 30;   // 2Gi
    std::int64_t memory_swap_bytes = 0;      // memory + swap; 0: same as memory (no swap)
    std::int64_t nano_cpus = 1'000'000'000;  // 1 CPU
    std::string cpuset{};                    // e.g. "0-1"; empty: any
    std::int64_t pids = 512;
    std::int64_t nofile = 4096;
    std::int64_t disk_bytes =
        0;  // writable layer size; 0: unlimited (needs overlay2 on xfs+pquota)
    // engine swarm: what the scheduler reserves on the node it places the task on (a node
    // without that much unreserved memory or CPU gets no task). 0: no reservation.
    std::int64_t reserve_memory_bytes = 0;
    std::int64_t reserve_nano_cpus = 0;
    bool operator==(const Resources&) const = default;
};

// engine swarm: where a project's task may run. Constraints ("node.labels.zone == a") must all
// hold; spread descriptors ("node.labels.zone") spread projects evenly over the values of a
// node label, in order. Empty: any node, spread over the nodes by the scheduler's default.
struct Placement {
    std::vector<std::string> constraints{};
    std::vector<std::string> spread{};
    bool operator==(const Placement&) const = default;
};

struct Network {
    NetworkMode mode = NetworkMode::none;
    std::vector<HostPort> allow{};  // egress only
    bool relays = false;  // egress, isolated: the daemon's relay gateway (egress: or its relays)
    // Events per second (and burst) the container may publish through its gateway; 0: the
    // daemon's gateway.writes_per_second / gateway.write_burst.
    std::int64_t relay_writes_per_second = 0;
    std::int64_t relay_write_burst = 0;
    bool operator==(const Network&) const = default;
};

struct Lifecycle {
    RestartMode restart = RestartMode::on_failure;
    std::chrono::milliseconds backoff_initial{1000};
    std::chrono::milliseconds backoff_max{300'000};
    int crash_loop_threshold = 5;                          // this many exits within the window
    std::chrono::milliseconds crash_loop_window{600'000};  // ... stop restarting
    std::chrono::milliseconds stop_timeout{30'000};
    // After pause_after without a trigger the container is frozen (docker pause: no CPU, its
    // memory and connections kept); the next trigger thaws it. 0: never paused. Only pauses
    // when shorter than idle_timeout (or idle_timeout is 0).
    std::chrono::milliseconds pause_after{900'000};
    std::chrono::milliseconds idle_timeout{3'600'000};  // 0: never idle-stopped
    // A container stopped for idle is kept this long, stopped, and the next trigger starts it
    // again (no create) when its spec digest is unchanged. 0: removed at once.
    std::chrono::milliseconds keep_stopped{86'400'000};
    std::chrono::milliseconds max_lifetime{86'400'000};  // 0: unlimited
    // A running container built from an older policy is replaced at its next trigger, or
    // (immediately) as soon as the daemon sees the new policy (reload, reconcile).
    PolicyChange on_policy_change = PolicyChange::next_trigger;
    bool operator==(const Lifecycle&) const = default;
};

struct Security {
    std::string user = "1000:1000";
    bool read_only_root = true;
    std::map<std::string, std::int64_t> tmpfs{{"/tmp", 256LL << 20}};  // path -> size in bytes
    std::vector<std::string> cap_add{};  // from kCapabilityAllowlist only
    std::string runtime{};               // "" (engine default), "runc" or "runsc"
    bool operator==(const Security&) const = default;
};

// The TENEX runtime contract (images/runtime/README.md). A policy that names an LLM provider
// gets it: the project mounted at /projects/<d>, a persistent per-project global directory at
// /tenex with the config.json, llms.json, providers.json and embed.json the daemon writes, and
// the provider's endpoint reachable as the policy says.
struct TenexLlm {
    std::string provider{};  // ollama, openai, anthropic or openrouter; empty: no runtime contract
    std::string model{};     // the chat model
    std::string base_url{};  // http(s)://host[:port][/path]; empty: the provider's own
    std::string key_file{};  // host file holding the API key (openai, anthropic, openrouter)
    std::string embed_model{};  // the embeddings model
    // An OpenAI-compatible embeddings endpoint of its own (required for anthropic and
    // openrouter, which have none); empty: the chat endpoint's (ollama, openai).
    std::string embed_base_url{};
    std::string embed_key_file{};  // its API key, when it wants one
    bool enabled() const { return !provider.empty(); }
    bool operator==(const TenexLlm&) const = default;
};

struct Policy {
    std::string image = "tenex-runtime:latest";
    std::vector<std::string> command{};  // Entrypoint; empty: the image's
    std::vector<std::string> args{};     // Cmd; placeholders {address} {d} {naddr} {owner}
    std::map<std::string, std::string> env{};
    std::map<std::string, std::string> secrets{};  // env name -> host file holding the value
    std::vector<ProjectMount> mounts{};
    Resources resources{};
    Network network{};
    Lifecycle lifecycle{};
    Security security{};
    Placement placement{};
    TenexLlm llm{};  // tenex.llm.*
    bool operator==(const Policy&) const = default;
};

// Capabilities a policy may add back after "drop ALL". Everything else (SYS_ADMIN, NET_ADMIN,
// SYS_PTRACE, NET_RAW, MKNOD, SYS_MODULE, ...) is refused.
inline const std::vector<std::string> kCapabilityAllowlist{
    "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE", "SETGID", "SETUID",
};

inline const std::vector<std::string> kRuntimes{"runc", "runsc"};

}  // namespace tenex::sandbox
