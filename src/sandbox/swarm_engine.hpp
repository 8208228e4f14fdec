// The Engine on a Docker Swarm (`engine: swarm`, policies/SWARM.md): each project is one replicated
// service of at most one replica on a manager's API. The service's id stands for the
// container id, its name for the container name. created = 0 replicas, start = 1 replica
// and wait for its task to run, stop = 0 replicas and wait for the task to end, remove =
// delete the service. Swarm never restarts a task (restart condition none): the orchestrator
// does. SwarmTaskWatch tells the orchestrator of exits, polling the tasks: the manager's event
// stream has no task or container events of other nodes.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/thread_annotations.hpp"
#include "common/watched.hpp"
#include "docker/nodes.hpp"
#include "docker/services.hpp"
#include "hostnet/network_enforcer.hpp"
#include "sandbox/diagnostic.hpp"
#include "sandbox/orchestrator_engine.hpp"
#include "sandbox/orchestrator_types.hpp"
#include "sandbox/policy.hpp"

namespace tenex::sandbox {

class Orchestrator;

// What a policy loses on swarm, as `policy check --engine swarm` prints it: errors for what
// cannot run there (an egress destination on the daemon's loopback, one name on two ports),
// warnings for what is not applied (hardening the service API cannot express,
// lifecycle.pause_after). `file` names the source.
std::vector<Diagnostic> swarm_policy_diagnostics(const Policy& policy, const std::string& file);

// The project gateway on a swarm (SWARM.md, "The project gateway"): where the daemon's gateway
// listens for the nodes (gateway.advertise). An isolated or egress project with relays: true
// gets a forwarder service passing the gateway's port to it.
struct SwarmGateway {
    std::string target_ip{};  // IPv4 literal the nodes reach the daemon's gateway on
    int target_port = 0;
    bool enabled() const { return !target_ip.empty() && target_port > 0; }
};

// Labels of a forwarder service (not the orchestrator's labels: it is no project container, so
// reconcile and adoption never take it for one). The names say "gateway" for history: egress
// forwarders carry them too.
inline constexpr const char* kLabelForwarderOf = "tenex.gateway-forwarder-of";  // its network
inline constexpr const char* kLabelForwarderDaemon = "tenex.gateway-forwarder-daemon";
// "<listen port> <target>:<port>[ any] <image>": a forwarder whose label differs is made anew.
inline constexpr const char* kLabelForwarderConfig = "tenex.gateway-forwarder";
// The one non-internal overlay every forwarder of a daemon is attached to.
std::string uplink_network_name(const std::string& daemon_id);
// The forwarder service of a project network that the project's task reaches as `alias`:
// tenex-gw-<hash> for the gateway (tenex-gateway), tenex-eg-<hash> for an egress destination.
std::string forwarder_service_name(const std::string& project_network,
                                   const std::string& alias = kGatewayName);

// One forwarder service of a project network (SWARM.md): attached to the project's internal
// overlay under `alias` (the name the project's task connects to) and to the uplink overlay,
// passing `listen_port` to `target`:`target_port`: an IPv4 address as it is (the gateway, an
// endpoint the policy names by address), or a name resolved at each connection, to public
// addresses only unless `private_ok` (an endpoint the policy names itself, such as its LLM's).
struct ForwarderSpec {
    std::string project_network{};
    std::string uplink_network{};
    std::string alias{kGatewayName};
    int listen_port = 0;
    std::string target{};
    int target_port = 0;
    bool private_ok = false;
    std::string image{};  // the forwarder image (tenex-forwarder), as the nodes pull it
    std::string daemon_id{};
    std::map<std::string, std::string> labels{};  // the project network's labels
};
// The POST /services/create body of a forwarder: one replica (Swarm restarts it: it holds no
// state, two for a moment are harmless), DNS round robin (no VIP), user 65534, read-only root,
// no capabilities, small limits.
nlohmann::json forwarder_service_spec(const ForwarderSpec& f);

// The forwarder services a project network's plan needs on a swarm: the gateway's (the
// gateway's address from `gateway`) and one per egress destination. An error names what a
// swarm task cannot reach: a destination on the daemon's loopback, one name on two ports, the
// gateway without an address the nodes reach, any forwarder without an image.
Result<std::vector<ForwarderSpec>> plan_forwarders(
    const NetworkPlan& plan, const std::string& image, const SwarmGateway& gateway,
    const std::string& daemon_id, const std::map<std::string, std::string>& labels);

// Node-local workspaces (policies/SWARM.md, "Workspaces"; `swarm.workspaces: node-local`): a
// directory of the daemon's host beneath one of `roots` that a project binds is a plain local
// volume on one node (docker::node_local_volume), and the project's service is pinned to that
// node. Its first create runs a seed task there, which fetches an archive of the daemon's copy
// from the gateway's listener and extracts it into the volumes; the node it ran on becomes the
// pin (kept by the daemon). Later creates send only the TENEX runtime's directory (the files the
// daemon writes before each start replace the node's). A pinned node that left the swarm, or is
// down longer than `lost_after`, is gone for good: the project is seeded anew from the daemon's
// copy on a node its placement allows, and `lost` tells what is not in that copy.
struct NodeLocalOptions {
    std::vector<std::string> roots{};  // absolute, lexically normal; empty: off
    std::chrono::seconds lost_after{600};
    std::chrono::milliseconds seed_timeout{300'000};  // pull, fetch and extraction
    std::filesystem::path spool{};                    // where the archives wait to be fetched
    // The daemon's side: the pin of a service ("" when none; set "" clears it), the one-time
    // download of an archive (returns its path on the gateway's listener) and its withdrawal,
    // and the news that a project's workspace was lost (project address, one line).
    std::function<std::string(const std::string& service)> pin{};
    std::function<void(const std::string& service, const std::string& node)> set_pin{};
    std::function<std::string(const std::filesystem::path& file, std::chrono::seconds ttl)> offer{};
    std::function<void(const std::string& path)> withdraw{};
    std::function<void(const std::string& project, const std::string& why)> lost{};
    bool enabled() const { return !roots.empty(); }
};

// The seed task of a node-local workspace: a one-shot service (restart none) of the forwarder
// image in its seed mode (images/forwarder/seed.cpp), as root with CHOWN, DAC_OVERRIDE and
// FOWNER only, read-only root, attached to the uplink overlay (its way to the gateway's
// address); each volume mounted at /seed/<index>.
struct SeedSpec {
    std::string service{};  // the project's service: the seed's name and label derive from it
    std::string image{};
    std::string url{};    // http://<gateway address>:<port>/seed/<token>
    std::string owner{};  // "uid:gid" of the project's container
    std::vector<std::string> volumes{};
    std::set<std::string> replace{};  // indices whose files replace the node's
    std::vector<std::string> constraints{};
    std::vector<std::string> spread{};
    // The project's reservations: Swarm seeds onto a node where the project fits.
    std::int64_t reserve_nano_cpus = 0;
    std::int64_t reserve_memory_bytes = 0;
    std::string uplink_network{};
    std::string daemon_id{};
};
std::string seed_service_name(const std::string& service);
// "uid:gid" of a container user when both are numbers, else root's ("0", "0").
std::pair<std::string, std::string> numeric_owner(const std::string& user);
nlohmann::json seed_service_spec(const SeedSpec& s);

struct SwarmEngineOptions {
    std::chrono::milliseconds poll{250};              // while waiting for a task's state
    std::chrono::milliseconds start_timeout{60'000};  // a start waits this long for `running`
    std::chrono::milliseconds stop_margin{15'000};    // a stop waits the stop timeout plus this
    // A service whose stopped task the manager is about to reap is deleted after it, within this.
    std::chrono::milliseconds reap_wait{10'000};
    // A network a removed service's task still holds is tried again this long.
    std::chrono::milliseconds network_release{20'000};
    // The forwarder services (SWARM.md): their image (none: projects that need one do not
    // start) and the gateway's address for the nodes (none: relays: true does not start).
    std::string forwarder_image{};
    SwarmGateway gateway{};
    std::string daemon_id{};  // names the uplink overlay and labels the forwarders
    // Shared storage (swarm.volumes, SWARM.md "Workspaces"): the bind sources these hold are
    // mounted as named volumes on the task's node; the others stay binds of the node's path.
    std::vector<docker::VolumeMapping> volumes{};
    NodeLocalOptions node_local{};
};

class SwarmEngine final : public Engine {
  public:
    // How old the node list that a read of tasks uses may be (see nodes()).
    static constexpr std::chrono::seconds kNodesMaxAge{1};

    explicit SwarmEngine(const docker::Client& client, SwarmEngineOptions options = {})
        : client_(client), options_(options) {}
    docker::DResult<std::string> create(const docker::ContainerSpec& spec) override;
    docker::DStatus start(const std::string& id) override;
    docker::DStatus stop(const std::string& id, int timeout_s) override;
    docker::DStatus remove(const std::string& id, bool force) override;
    docker::DStatus pause(const std::string& id) override;
    docker::DStatus unpause(const std::string& id) override;
    bool supports_pause() const override { return false; }
    docker::DResult<docker::ContainerInfo> inspect(const std::string& id_or_name) override;
    docker::DResult<std::vector<docker::ContainerSummary>> list(
        const docker::ListOptions& options) override;
    docker::DResult<docker::ContainerStats> stats(const std::string& id) override;
    docker::DResult<docker::NetworkInfo> ensure_network(
        const NetworkPlan& plan, const std::map<std::string, std::string>& labels) override;
    docker::DStatus remove_network(const std::string& name) override;
    docker::DStatus stop_and_remove(const std::string& id, int timeout_s,
                                    std::chrono::milliseconds budget) override;

    // The forwarder services' image and the daemon id; the gateway's address for the nodes
    // (the daemon sets them once, before any project starts: the gateway's port is known only
    // once it listens).
    void set_forwarders(std::string image, std::string daemon_id) {
        options_.forwarder_image = std::move(image);
        options_.daemon_id = std::move(daemon_id);
    }
    void set_gateway(SwarmGateway gateway) { options_.gateway = std::move(gateway); }

    // Node-local workspaces: removes the seed services this daemon left (one that died while a
    // seed ran) and the archives in the spool. The daemon calls it at start.
    void remove_stale_seeds();

    // Every task of the services carrying all these labels (SwarmTaskWatch's poll).
    docker::DResult<std::vector<docker::TaskInfo>> tasks(const std::vector<std::string>& labels);

  private:
    // Node-local workspaces: seeds the spec's node-local volumes where they belong and returns
    // the node the service is pinned to ("" when it binds none of the roots).
    docker::DResult<std::string> place_workspace(const docker::ContainerSpec& spec);
    // What to_service_spec makes of the spec's binds: swarm.volumes, or the node-local roots.
    std::vector<docker::VolumeMapping> volume_mappings() const;
    // Runs the seed task to its end; returns its task (complete) or why it failed.
    docker::DResult<docker::TaskInfo> run_seed(const SeedSpec& seed);
    docker::DStatus stop_until(const std::string& id, Clock::time_point deadline);
    // `image` pinned to the digest its registry has for it now (name:tag@sha256:...), so every
    // node runs the same image however the tag moves; unchanged (warned once) when no registry
    // the manager reaches has it.
    std::string pinned(const std::string& image);
    // Takes the secret variables (spec.secret_env) out of spec.env and makes each a swarm
    // secret; returns the ContainerSpec.Secrets references (file /run/secrets/KEY, owned by
    // the container's numeric user, mode 0400).
    docker::DResult<nlohmann::json> make_secrets(docker::ContainerSpec& spec);
    // Deletes the service (its task already ended), a none project's own network and its secrets.
    docker::DStatus remove_service(const std::string& id);
    // Removes the network, trying again for up to `wait` while a task still holds it.
    docker::DStatus release_network(const std::string& name, std::chrono::milliseconds wait);
    // The manager's tasks, those on a node that is down or gone marked lost (and ended):
    // every read of tasks here goes through it, so start, stop, inspect, list and the task
    // watch all see a task of a dead node as ended.
    docker::DResult<std::vector<docker::TaskInfo>> list_tasks(const docker::TaskFilter& filter);
    // An internal overlay network of that name, made when missing; an existing network of
    // another kind is an error.
    docker::DResult<docker::NetworkInfo> ensure_overlay(
        const std::string& name, const std::map<std::string, std::string>& labels);
    // The project network's forwarders, each created when missing (or replaced when its
    // configuration changed) and running; the network's forwarders not among them removed.
    docker::DStatus ensure_forwarders(const std::string& project_network,
                                      const std::vector<ForwarderSpec>& wanted);
    docker::DStatus ensure_uplink(const std::string& uplink) TENEX_REQUIRES(forwarders_mu_);
    // Removes the project network's forwarders (all of them but `keep`), and the uplink overlay
    // when the daemon has no forwarder left.
    void remove_forwarders(const std::string& project_network,
                           const std::set<std::string>& keep = {}) TENEX_REQUIRES(forwarders_mu_);
    // The node's hostname ("" when the manager does not know the node): the nodes are read
    // again when an id is new (an id still unknown then is remembered as nameless).
    std::string node_name(const std::string& node_id);
    // The manager's nodes, read anew when `fresh` or when the last read is older than
    // kNodesMaxAge: every read of tasks needs them (a status round over 30 projects inspects 30
    // services; a start polls its task), and a node the manager marks down is seen at most that
    // much later (the manager itself takes about 12 s). Also refreshes node_names_.
    docker::DResult<std::vector<docker::NodeInfo>> nodes(bool fresh);

    const docker::Client& client_;
    SwarmEngineOptions options_;
    Mutex warned_mu_;
    std::set<std::string> warned_ TENEX_GUARDED_BY(
        warned_mu_);       // service names whose dropped fields were logged, "image X" not pinned
    Mutex forwarders_mu_;  // ensure_forwarders, remove_network (the shared uplink overlay)
    Mutex nodes_mu_;
    std::map<std::string, std::string> node_names_ TENEX_GUARDED_BY(nodes_mu_);  // id -> hostname
    std::optional<std::vector<docker::NodeInfo>> nodes_ TENEX_GUARDED_BY(nodes_mu_);
    Clock::time_point nodes_at_ TENEX_GUARDED_BY(nodes_mu_){};
    // When a pinned node was first seen down (node-local workspaces' lost_after).
    std::map<std::string, Clock::time_point> down_since_ TENEX_GUARDED_BY(nodes_mu_);
};

// The network enforcer of a swarm orchestrator: an isolated or egress project's internal
// overlay needs no host-side filter, and its forwarders are services that the task finds by
// name through the overlay's DNS (SwarmEngine::ensure_network): no hosts entries. Nothing on
// this host to clean up.
class SwarmNetworkEnforcer final : public NetworkEnforcer {
  public:
    Result<std::vector<std::string>> enforce(const std::string& project, const NetworkPlan& plan,
                                             const docker::NetworkInfo& network) override;
    void stop_forwarders(const std::string&) override {}
    void remove_rules(const std::string&) override {}
    void remove_stale_rules() override {}
    EnforcementStats stats(const std::string&) override { return {}; }
    EnforcementStats totals() override { return {}; }
};

// Polls the tasks of the orchestrator's services and feeds it what its events stream would:
// a die (with the task container's exit code) when a task it saw live has ended, a destroy
// when a live task's service is gone, and a gap (a reconcile) after polls that failed.
class SwarmTaskWatch {
  public:
    SwarmTaskWatch(SwarmEngine& engine, Orchestrator& orchestrator,
                   std::chrono::milliseconds interval = std::chrono::milliseconds(1000));
    ~SwarmTaskWatch() { stop(); }
    void start();
    void stop();
    // Completed polls so far (tests wait for one more).
    std::uint64_t polls() const;

  private:
    void run();
    void poll_once(bool first);

    SwarmEngine& engine_;
    Orchestrator& orchestrator_;
    std::chrono::milliseconds interval_;
    std::vector<std::string> labels_;
    struct State {
        bool stopping = false;
        std::uint64_t polls = 0;
    };
    Watched<State> state_;  // run() sleeps between polls until stopping
    Mutex thread_mu_;       // start()
    bool failing_ = false;
    std::map<std::string, docker::TaskInfo> last_;  // task id -> as at the last poll
    std::thread thread_;
};

}  // namespace tenex::sandbox
