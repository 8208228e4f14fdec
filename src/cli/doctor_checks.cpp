#include "cli/doctor_checks.hpp"

#include <sys/statvfs.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "docker/client.hpp"

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
               c.api_version().to_string() + " (engine " + c.engine().min_api.to_string() +
               ".." + c.engine().api.to_string() + ")";
    return r;
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
        r.fix = "enable the controllers (kernel boot options such as cgroup_enable=memory, or "
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

std::string format_check(const CheckResult& r) {
    std::string line = (r.ok ? "ok    " : "FAIL  ") + r.name;
    line.resize(std::max<size_t>(line.size() + 1, 16), ' ');
    line += r.detail;
    if (!r.ok && !r.fix.empty()) line += "\n      fix: " + r.fix;
    return line;
}

}  // namespace tenex::cli
