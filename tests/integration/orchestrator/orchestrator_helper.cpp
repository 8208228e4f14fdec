// A second orchestrator process for the adoption test: connects to the engine, reconciles
// as the given daemon identity and prints one line per project ("<address> <state>
// <container id> <restarts>"), then exits leaving every container as it found it.
//   orchestrator_helper DAEMON_ID WORKSPACE_ROOT
#include <cstdio>
#include <iostream>

#include <spdlog/spdlog.h>

#include "docker/client.hpp"
#include "sandbox/orchestrator.hpp"
#include "test_policy.hpp"

using namespace tenex;
using namespace tenex::sandbox;

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: orchestrator_helper DAEMON_ID WORKSPACE_ROOT\n");
        return 2;
    }
    spdlog::set_level(spdlog::level::warn);  // stdout carries the answer
    auto client = docker::Client::connect();
    if (!client) {
        std::fprintf(stderr, "%s\n", client.error().describe().c_str());
        return 1;
    }
    std::filesystem::path root = argv[2];
    OrchestratorOptions options;
    options.daemon_id = argv[1];
    options.policies = [](const ProjectRef&) -> Result<Policy> { return test::probe_policy(); };
    options.workspace = [root](const ProjectRef& p) -> Result<std::filesystem::path> {
        return root / p.d;
    };
    DockerEngine engine(**client);
    Orchestrator orchestrator(options, engine);
    auto done = orchestrator.reconcile().get();
    if (!done) {
        std::fprintf(stderr, "%s\n", done.error().message.c_str());
        return 1;
    }
    for (const auto& s : orchestrator.snapshot())
        std::cout << s.project.address() << ' ' << to_string(s.state) << ' ' << s.container_id
                  << ' ' << s.restart_count << '\n';
    orchestrator.shutdown(false);
    return 0;
}
