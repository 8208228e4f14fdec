#include <cstdio>
#include <vector>

#include "cli/command.hpp"
#include "cli/doctor_checks.hpp"

namespace tenex::cli {

void register_doctor(CLI::App& root, Context& ctx) {
    struct Options {
        std::string socket;
        std::string projects_path = "/var/lib/tenex-sandbox/projects";
        std::string cgroup_root = "/sys/fs/cgroup";
        double min_free_gib = 1.0;
        bool swarm = false;
        std::string registry;
    };
    auto opts = std::make_shared<Options>();
    auto* cmd = root.add_subcommand("doctor", "Check what the daemon needs on this machine");
    cmd->add_option("--docker-socket", opts->socket,
                    "Engine socket (default: DOCKER_HOST, then /var/run/docker.sock)");
    cmd->add_option("-p,--projects-path", opts->projects_path, "Where project directories live");
    cmd->add_option("--cgroup-root", opts->cgroup_root, "cgroup file system mount");
    cmd->add_option("--min-free-gib", opts->min_free_gib, "Free space needed on the projects path")
        ->check(CLI::NonNegativeNumber);
    cmd->add_flag("--swarm", opts->swarm,
                  "Also check the engine as a swarm manager: its nodes ready and active");
    cmd->add_option("--registry", opts->registry,
                    "Also check the registry the cluster's engines pull from (HOST:PORT)");
    cmd->callback([opts, &ctx] {
        std::vector<CheckResult> results = {
            check_docker(opts->socket),
            check_cgroups(opts->cgroup_root),
            check_disk(opts->projects_path,
                       static_cast<std::uint64_t>(opts->min_free_gib * 1024 * 1024 * 1024)),
            check_disk_limits(opts->projects_path),
        };
        if (opts->swarm) results.push_back(check_swarm(opts->socket));
        if (!opts->registry.empty()) results.push_back(check_registry(opts->registry));
        bool all_ok = true;
        for (const auto& r : results) {
            std::printf("%s\n", format_check(r).c_str());
            all_ok = all_ok && r.ok;
        }
        if (!all_ok) ctx.exit_code = 1;
    });
}

}  // namespace tenex::cli
