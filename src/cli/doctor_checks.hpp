// What `tenex-sandbox doctor` checks: one result per check, with a fix when it failed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "docker/nodes.hpp"

namespace tenex::cli {

struct CheckResult {
    std::string name{};
    bool ok = false;
    std::string detail{};  // what was found
    std::string fix{};     // how to fix it (failed checks only)
};

// Docker socket reachable, negotiated Engine API version.
CheckResult check_docker(const std::string& socket);

// cgroup memory, cpu and pids controllers available. cgroup_root is normally /sys/fs/cgroup;
// handles the unified (v2) and legacy (v1) hierarchies.
CheckResult check_cgroups(const std::string& cgroup_root);

// Free space on the file system that holds (or will hold) the projects path.
CheckResult check_disk(const std::string& projects_path, std::uint64_t min_free_bytes);

// Whether resources.disk can be enforced for project directories under the projects path:
// btrfs (each project directory a subvolume with a qgroup limit) or not; on btrfs, which
// existing project directories are plain directories (made before) that cannot be limited.
// Informational (ok) unless the path cannot be examined: a policy without resources.disk
// needs none of it.
struct DiskLimitSupport {
    bool enforceable = false;               // the projects path is on btrfs
    std::string fs_type{};                  // of the projects path
    std::vector<std::string> plain_dirs{};  // <owner>/<name> that cannot be limited
    std::string detail{};
};
DiskLimitSupport disk_limit_support(const std::string& projects_path);
CheckResult check_disk_limits(const std::string& projects_path);

// The engine behind `socket` is a swarm manager and its nodes are ready and active
// (`doctor --swarm`). swarm_result judges what the engine answered (unit-tested).
CheckResult check_swarm(const std::string& socket);
CheckResult swarm_result(const docker::SwarmState& state,
                         const std::vector<docker::NodeInfo>& nodes);

// A registry the cluster's engines pull from answers its API at http://ADDRESS/v2/
// (`doctor --registry HOST:PORT`): 200, or 401 (it wants credentials: ok, said so).
CheckResult check_registry(const std::string& address);

std::string format_check(const CheckResult& r);

// Whether the engine's storage driver honours a writable-layer size (policy resources.disk,
// StorageOpt size): overlay2 only on xfs mounted with pquota; btrfs, zfs and devicemapper.
struct DiskQuotaSupport {
    bool known = false;  // the engine answered
    bool supported = false;
    std::string detail{};  // e.g. "storage driver overlay2 on extfs: ..."
};
DiskQuotaSupport disk_quota_support(const std::string& socket);

}  // namespace tenex::cli
