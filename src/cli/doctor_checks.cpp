#include "cli/doctor_checks.hpp"

#include <sys/statvfs.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/disk_quota.hpp"
#include "docker/client.hpp"

#include <httplib.h>

namespace tenex::cli {
namespace fs = std::filesystem;

CheckResult check_docker(const std::string& socket) {
    CheckResult r{.name = "docker"};
    auto client = docker::Client::connect({.socket = socket, .timeout = std::chrono::seconds(5)});
    if (!client) {
        r.detail = client.error().describe();
        r.fix = client.error().transport()
                    ? "start the Docker engine (scripts/setup does it; or: dockerd &) or point "
                      "--docker-socket / DOCKER_HOST=unix://... at its socket"
                    : "see the engine's message above";
        return r;
    }
    const auto& c = **client;
    r.ok = true;
    r.detail = "engine " + c.engine().version + " at " + c.socket_path() + ", API " +
               c.api_version().to_string() + " (engine " + c.engine().min_api.to_string() + ".." +
               c.engine().api.to_string() + ")";
    r.detail += "; " + disk_quota_support(socket).detail;
    return r;
}

namespace {

// The mount options of the file system holding `path` (longest matching mount point).
std::string mount_options_of(const std::string& path) {
    std::ifstream mounts("/proc/self/mounts");
    std::string best_point, best_options;
    for (std::string line; std::getline(mounts, line);) {
        std::istringstream w(line);
        std::string dev, point, type, options;
        if (!(w >> dev >> point >> type >> options)) continue;
        const bool under =
            path == point || point == "/" ||
            (path.starts_with(point) && path.size() > point.size() && path[point.size()] == '/');
        if (under && point.size() >= best_point.size()) best_point = point, best_options = options;
    }
    return best_options;
}

}  // namespace

DiskQuotaSupport disk_quota_support(const std::string& socket) {
    DiskQuotaSupport s;
    auto client = docker::Client::connect({.socket = socket, .timeout = std::chrono::seconds(5)});
    if (!client) {
        s.detail = "writable-layer size limits: unknown, the engine does not answer";
        return s;
    }
    auto info = (*client)->call_json("GET", "/info", "engine info");
    if (!info || !info->is_object()) {
        s.detail = "writable-layer size limits: unknown, no engine info";
        return s;
    }
    s.known = true;
    const std::string driver = info->value("Driver", std::string());
    const std::string root = info->value("DockerRootDir", std::string("/var/lib/docker"));
    std::string backing;
    if (auto it = info->find("DriverStatus"); it != info->end() && it->is_array())
        for (const auto& kv : *it)
            if (kv.is_array() && kv.size() == 2 && kv[0] == "Backing Filesystem" &&
                kv[1].is_string())
                backing = kv[1].get<std::string>();
    std::string where = "storage driver " + driver + (backing.empty() ? "" : " on " + backing);
    if (driver == "overlay2") {
        const std::string options = "," + mount_options_of(root) + ",";
        const bool pquota = options.find(",pquota,") != std::string::npos ||
                            options.find(",prjquota,") != std::string::npos;
        s.supported = backing == "xfs" && pquota;
        if (!s.supported) where += backing == "xfs" ? " without pquota" : "";
    } else {
        s.supported = driver == "btrfs" || driver == "zfs" || driver == "devicemapper";
    }
    s.detail = where + (s.supported ? ": writable-layer size limits supported"
                                    : ": writable-layer size limits NOT supported (needs overlay2 "
                                      "on xfs mounted with pquota); a policy that sets "
                                      "resources.disk with security.read_only_root: false cannot "
                                      "start here");
    return s;
}

CheckResult check_cgroups(const std::string& cgroup_root) {
    CheckResult r{.name = "cgroups"};
    const std::set<std::string> needed{"memory", "cpu", "pids"};
    std::set<std::string> found;
    std::string version;
    std::ifstream controllers(fs::path(cgroup_root) / "cgroup.controllers");
    if (controllers) {
        version = "v2";
        std::string name;
        while (controllers >> name) found.insert(name);
    } else {
        version = "v1";
        for (const auto& name : needed) {
            // v1 mounts one hierarchy per controller (cpu may be "cpu,cpuacct").
            std::error_code ec;
            if (fs::exists(fs::path(cgroup_root) / name, ec)) found.insert(name);
        }
    }
    std::string missing;
    for (const auto& name : needed)
        if (!found.count(name)) missing += (missing.empty() ? "" : ",") + name;
    if (missing.empty()) {
        r.ok = true;
        r.detail = "cgroup " + version + " with memory, cpu and pids controllers";
    } else {
        r.detail = "cgroup " + version + " at " + cgroup_root + " lacks: " + missing;
        r.fix =
            "enable the controllers (kernel boot options such as cgroup_enable=memory, or "
            "systemd.unified_cgroup_hierarchy=1) so memory, CPU and PID limits apply";
    }
    return r;
}

CheckResult check_disk(const std::string& projects_path, std::uint64_t min_free_bytes) {
    CheckResult r{.name = "disk"};
    // The projects path may not exist yet: measure the nearest existing ancestor.
    fs::path p = fs::absolute(projects_path);
    std::error_code ec;
    while (!fs::exists(p, ec) && p.has_parent_path() && p != p.parent_path()) p = p.parent_path();
    struct statvfs st {};
    if (::statvfs(p.c_str(), &st) != 0) {
        r.detail = "cannot stat " + p.string();
        r.fix = "create the projects path or pass --projects-path";
        return r;
    }
    std::uint64_t free_bytes = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
    auto gib = [](std::uint64_t b) {
        std::ostringstream o;
        o.precision(1);
        o << std::fixed << static_cast<double>(b) / (1024.0 * 1024 * 1024) << " GiB";
        return o.str();
    };
    r.detail = gib(free_bytes) + " free for " + projects_path + " (on " + p.string() + ")";
    if (free_bytes >= min_free_bytes) {
        r.ok = true;
    } else {
        r.detail += ", need " + gib(min_free_bytes);
        r.fix = "free space or move --projects-path to a larger file system";
    }
    return r;
}

DiskLimitSupport disk_limit_support(const std::string& projects_path) {
    DiskLimitSupport s;
    const fs::path root = fs::absolute(projects_path);
    const disk::DirQuota q = disk::probe(root);
    s.fs_type = q.fs_type.empty() ? "an unknown file system" : q.fs_type;
    s.enforceable = q.btrfs;
    if (!q.btrfs) {
        s.detail = "workspace disk limits (resources.disk): NOT enforceable, " + projects_path +
                   " is on " + s.fs_type +
                   " (needs btrfs; README: Disk limits); a project whose policy sets "
                   "resources.disk is refused at start";
        return s;
    }
    std::error_code ec;
    for (const auto& owner : fs::directory_iterator(root, ec)) {
        if (!owner.is_directory(ec) || owner.is_symlink(ec)) continue;
        std::error_code ec2;
        for (const auto& project : fs::directory_iterator(owner.path(), ec2)) {
            const std::string name = project.path().filename().string();
            if (name.starts_with(".") || !project.is_directory(ec2) || project.is_symlink(ec2))
                continue;
            if (!disk::probe(project.path()).subvolume)
                s.plain_dirs.push_back(owner.path().filename().string() + "/" + name);
        }
    }
    s.detail = "workspace disk limits (resources.disk): enforced, " + projects_path +
               " is on btrfs (new project directories are subvolumes with a qgroup limit; the "
               "containers' seccomp profile refuses the ioctls that would make nested subvolumes "
               "outside it)";
    if (!s.plain_dirs.empty()) {
        s.detail +=
            "; " + std::to_string(s.plain_dirs.size()) + " project director" +
            (s.plain_dirs.size() == 1 ? "y is a plain directory" : "ies are plain directories") +
            " made before, which cannot be limited (a policy with resources.disk is refused for "
            "them; "
            "move the contents into a subvolume of the same name):";
        for (const auto& d : s.plain_dirs) s.detail += " " + d;
    }
    return s;
}

CheckResult check_disk_limits(const std::string& projects_path) {
    CheckResult r{.name = "quota"};
    r.ok = true;
    r.detail = disk_limit_support(projects_path).detail;
    return r;
}

CheckResult swarm_result(const docker::SwarmState& state,
                         const std::vector<docker::NodeInfo>& nodes) {
    CheckResult r{.name = "swarm"};
    if (state.local_node_state != "active") {
        r.detail =
            "this engine is not in a swarm (state " +
            (state.local_node_state.empty() ? std::string("unknown") : state.local_node_state) +
            ")" + (state.error.empty() ? "" : ": " + state.error);
        r.fix =
            "point --docker-socket at a swarm manager's socket, or make this engine one "
            "(docker swarm init; README: Running on a cluster)";
        return r;
    }
    if (!state.control_available) {
        r.detail = "this engine is a swarm worker (node " + state.node_id +
                   "); the daemon needs a manager";
        r.fix =
            "point --docker-socket at a manager's socket (docker node ls on a manager lists them)";
        return r;
    }
    std::size_t usable = 0;
    std::string listed, unusable;
    for (const auto& n : nodes) {
        const bool ok = n.state == "ready" && n.availability == "active";
        usable += ok;
        std::string entry = n.hostname + " (" + n.role + (n.leader ? ", leader" : "") + ", " +
                            n.state + ", " + n.availability +
                            (n.message.empty() || ok ? "" : ": " + n.message) + ")";
        (ok ? listed : unusable) += (ok ? listed : unusable).empty() ? entry : ", " + entry;
    }
    r.detail =
        std::to_string(nodes.size()) + " nodes, " + std::to_string(usable) + " ready and active";
    if (!listed.empty()) r.detail += ": " + listed;
    if (!unusable.empty()) r.detail += "; not usable: " + unusable;
    r.ok = usable > 0 && unusable.empty();
    if (!r.ok)
        r.fix =
            usable == 0
                ? "no node can run a task: bring the nodes up (docker node ls on the manager)"
                : "bring the nodes back, or drain / remove them (docker node update --availability "
                  "drain NODE, docker node rm NODE) so that nothing is placed there";
    return r;
}

CheckResult check_swarm(const std::string& socket) {
    auto client = docker::Client::connect({.socket = socket, .timeout = std::chrono::seconds(5)});
    if (!client)
        return {.name = "swarm",
                .ok = false,
                .detail = client.error().describe(),
                .fix = "start the engine or point --docker-socket at a swarm manager"};
    auto state = docker::swarm_state(**client);
    if (!state)
        return {.name = "swarm", .ok = false, .detail = state.error().describe(), .fix = {}};
    std::vector<docker::NodeInfo> nodes;
    if (state->local_node_state == "active" && state->control_available) {
        auto listed = docker::list_nodes(**client);
        if (!listed)
            return {.name = "swarm", .ok = false, .detail = listed.error().describe(), .fix = {}};
        nodes = std::move(listed).value();
    }
    return swarm_result(*state, nodes);
}

CheckResult check_registry(const std::string& address) {
    CheckResult r{.name = "registry"};
    const auto colon = address.rfind(':');
    const std::string host = colon == std::string::npos ? address : address.substr(0, colon);
    int port = 80;
    if (colon != std::string::npos) {
        try {
            std::size_t used = 0;
            port = std::stoi(address.substr(colon + 1), &used);
            if (used != address.size() - colon - 1 || port < 1 || port > 65535)
                throw std::out_of_range("port");
        } catch (const std::exception&) {
            r.detail = "'" + address + "' is not HOST:PORT";
            r.fix = "give --registry HOST:PORT, e.g. 10.0.0.1:5000";
            return r;
        }
    }
    httplib::Client http(host, port);
    http.set_connection_timeout(3, 0);
    http.set_read_timeout(5, 0);
    auto res = http.Get("/v2/");
    if (!res) {
        const auto error = res.error();
        r.detail = "http://" + address + "/v2/: " +
                   (error == httplib::Error::Connection
                        ? std::string("cannot connect (nothing listens there?)")
                    : error == httplib::Error::ConnectionTimeout
                        ? std::string("connection timed out")
                        : "no answer (" + httplib::to_string(error) + ")");
        r.fix = "start the registry (README: Running on a cluster) or correct --registry";
        return r;
    }
    if (res->status == 200 || res->status == 401) {
        r.ok = true;
        r.detail =
            "http://" + address + "/v2/ answers " + std::to_string(res->status) +
            (res->status == 401 ? " (it wants credentials: docker login on every node)" : "") +
            "; engines pull from it only when it is in their insecure-registries or has TLS they "
            "trust";
        return r;
    }
    r.detail = "http://" + address + "/v2/ answers " + std::to_string(res->status) +
               ", not a registry's 200 or 401";
    r.fix = "check that HOST:PORT is the registry (docker-registry) and not another service";
    return r;
}

std::string format_check(const CheckResult& r) {
    std::string line = (r.ok ? "ok    " : "FAIL  ") + r.name;
    line.resize(std::max<size_t>(line.size() + 1, 16), ' ');
    line += r.detail;
    if (!r.ok && !r.fix.empty()) line += "\n      fix: " + r.fix;
    return line;
}

}  // namespace tenex::cli
