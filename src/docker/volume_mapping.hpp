// How the daemon's directories reach a swarm task's node when they live on shared storage.
#pragma once

#include <map>
#include <string>

namespace tenex::docker {

// Shared storage on a swarm (policies/SWARM.md, "Workspaces"): a bind source at or beneath
// `path` (a directory of the daemon's host) is mounted on the task's node as a named volume of
// `driver` with these options, "{path}" in a value replaced by the source's path below `path`
// ("" for `path` itself, else "/sub/dir"). For example NFS through the local driver: type nfs,
// o addr=10.0.0.5,rw, device :/export/tenex{path}.
//
// Node-local (`node_local`, driver and options unused): a bind source at or beneath `path` is
// a plain local volume of the task's node, "tenex-nl-<hash of the source>", which the seed task
// filled there (SwarmEngine, node-local workspaces); the service is pinned to that node.
struct VolumeMapping {
    std::string path;  // absolute, lexically normal
    std::string driver;
    std::map<std::string, std::string> options{};
    bool node_local = false;
    bool operator==(const VolumeMapping&) const = default;
};

}  // namespace tenex::docker
