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
struct VolumeMapping {
    std::string path;  // absolute, lexically normal
    std::string driver;
    std::map<std::string, std::string> options{};
    bool operator==(const VolumeMapping&) const = default;
};

}  // namespace tenex::docker
