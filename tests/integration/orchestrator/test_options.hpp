// The orchestrator options of the docker-label tests that drive a real orchestrator
// (orchestrator_docker, network_modes).
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "../docker/docker_fixture.hpp"
#include "sandbox/orchestrator_types.hpp"

namespace tenex::sandbox::test {

// Options for a test orchestrator: every project gets the policy `current()` returns and a
// workspace directory under `root`; containers carry the test labels.
inline OrchestratorOptions test_options(const std::string& daemon_id,
                                        std::function<Policy()> current,
                                        const std::filesystem::path& root) {
    OrchestratorOptions o;
    o.daemon_id = daemon_id;
    o.policies = [current = std::move(current)](const ProjectRef&) -> Result<Policy> {
        return current();
    };
    o.workspace = [root](const ProjectRef& p) -> Result<std::filesystem::path> {
        auto dir = root / p.d;
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        if (ec) return make_error(ec.message());
        return dir;
    };
    o.extra_labels = {{"tenex.test", "1"}, {"tenex.test.run", docker::test::run_id()}};
    return o;
}

}  // namespace tenex::sandbox::test
