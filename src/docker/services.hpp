// Typed Swarm calls of the Engine API (a manager's /services and /tasks), and the mapping of a
// ContainerSpec onto a replicated service of at most one replica (policies/SWARM.md).
// All calls are safe from several threads.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "docker/client.hpp"
#include "docker/container_spec.hpp"
#include "docker/containers.hpp"
#include "docker/volume_mapping.hpp"

namespace tenex::docker {

// One task of a service (GET /tasks).
struct TaskInfo {
    std::string id{};
    std::string service_id{};
    std::string node_id{};        // empty until the scheduler assigned it
    std::string state{};          // new, pending, assigned, accepted, preparing, starting, running,
                                  // complete, failed, shutdown, rejected, orphaned, remove
    std::string desired_state{};  // running, shutdown, remove
    std::string message{};        // Status.Message
    std::string err{};            // Status.Err
    std::string timestamp{};      // Status.Timestamp: when it entered `state` (RFC 3339)
    std::string created_at{};
    std::uint64_t version = 0;   // Version.Index: newer tasks have higher ones
    std::string container_id{};  // Status.ContainerStatus.ContainerID (on its node)
    int exit_code = 0;           // Status.ContainerStatus.ExitCode
    std::map<std::string, std::string> labels{};  // Spec.ContainerSpec.Labels
    // Not the manager's: set by the swarm engine for a task the manager still shows live on a
    // node that is down or gone (its state is then "orphaned", its exit code 137).
    bool lost = false;

    bool terminal() const;  // complete, failed, shutdown, rejected, orphaned, remove
    bool running() const { return state == "running"; }
};

struct ServiceInfo {
    std::string id{};
    std::string name{};
    std::uint64_t version = 0;  // Version.Index, required by an update
    std::string created_at{};
    std::map<std::string, std::string> labels{};
    std::int64_t replicas = 0;                       // Spec.Mode.Replicated.Replicas
    nlohmann::json spec = nlohmann::json::object();  // Spec as the manager holds it
};

// A field of a ContainerSpec that a service cannot express on this engine (API 1.41): the
// ContainerSpec field and what is lost.
struct Unsupported {
    std::string field;  // e.g. "security_opt: no-new-privileges:true"
    std::string reason;
    bool operator==(const Unsupported&) const = default;
};

// What of `spec` to_service_spec() must drop; empty when the service carries all of it.
// Network modes are not listed: the swarm engine maps them (policies/SWARM.md).
std::vector<Unsupported> swarm_unsupported(const ContainerSpec& spec);

// The Spec of POST /services/create for `spec`: Mode Replicated with `replicas`, restart
// condition none (the daemon owns restarts), DNS round robin endpoints, labels on the service
// and its containers. `network_mode` "bridge" (or empty): no network attachment, the task is
// on its node's default bridge; any other name: the task is attached to that (swarm-scoped)
// network. A manager has no "none" network to attach a task to (the swarm engine gives such a
// project an internal overlay of its own). A bind mount whose source a VolumeMapping holds is a
// named volume "tenex-vol-<hash of driver and options>" of that driver instead (NoCopy, label
// tenex.managed-by), which the task's node makes at its first use.
// The node-local volume of a directory of the daemon's host (VolumeMapping::node_local).
std::string node_local_volume(const std::string& source);
nlohmann::json to_service_spec(const ContainerSpec& spec, std::int64_t replicas,
                               const std::vector<VolumeMapping>& volumes = {});

// Swarm secrets (POST /secrets/create): the manager keeps them encrypted in its store and puts
// them only on the nodes whose tasks use them, as files (/run/secrets/NAME on a tmpfs).
struct SecretInfo {
    std::string id{};
    std::string name{};
    std::map<std::string, std::string> labels{};
};
// Creates a secret holding `data` (sent base64-encoded); returns its id. A taken name is a
// conflict() error (secrets cannot change: a new value needs a new name).
DResult<std::string> create_secret(const Client& client, const std::string& name,
                                   std::string_view data,
                                   const std::map<std::string, std::string>& labels);
// The secrets carrying all these labels (and, when `names` is given, one of those names).
DResult<std::vector<SecretInfo>> list_secrets(const Client& client,
                                              const std::vector<std::string>& labels,
                                              const std::vector<std::string>& names = {});
DStatus remove_secret(const Client& client, const std::string& id_or_name);

// A service and its tasks as the orchestrator sees a container: id and name are the
// service's, the state is that of the newest task (running; created while none runs yet or
// the service has no replica; exited with the task container's exit code once it ended).
ContainerInfo container_info_from(const ServiceInfo& service, const std::vector<TaskInfo>& tasks);
// The newest of a service's tasks (highest Version.Index), nullptr when it has none.
const TaskInfo* newest_task(const std::vector<TaskInfo>& tasks);

// Parsers, exposed for tests.
Result<ServiceInfo> parse_service(const nlohmann::json& j);
Result<std::vector<ServiceInfo>> parse_service_list(std::string_view body);
Result<std::vector<TaskInfo>> parse_task_list(std::string_view body);

struct TaskFilter {
    std::vector<std::string> services{};  // service ids or names
    std::vector<std::string> labels{};    // "key" or "key=value" (service labels)
};

// POST /services/create: returns the id. A taken name is a conflict() error.
DResult<std::string> create_service(const Client& client, const nlohmann::json& spec);
DResult<ServiceInfo> inspect_service(const Client& client, const std::string& id_or_name);
DResult<std::vector<ServiceInfo>> list_services(const Client& client,
                                                const std::vector<std::string>& labels,
                                                const std::vector<std::string>& names = {});
// POST /services/{id}/update?version=: the whole spec, as swarm wants it.
DStatus update_service(const Client& client, const std::string& id, std::uint64_t version,
                       const nlohmann::json& spec);
DStatus remove_service(const Client& client, const std::string& id);
DResult<std::vector<TaskInfo>> list_tasks(const Client& client, const TaskFilter& filter);

}  // namespace tenex::docker
