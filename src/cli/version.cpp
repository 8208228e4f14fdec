#include <cstdio>

#include "cli/command.hpp"
#include "common/version.hpp"
#include "docker/api_version.hpp"

namespace tenex::cli {

void register_version(CLI::App& root, Context&) {
    auto* cmd = root.add_subcommand("version", "Print the version and what it was built with");
    cmd->callback([] {
        std::printf("tenex-sandbox %s (git %s)\n", kVersion, kGitRevision);
        std::printf("docker engine api %s..%s\n", docker::kClientMinApi.to_string().c_str(),
                    docker::kClientMaxApi.to_string().c_str());
    });
}

}  // namespace tenex::cli
