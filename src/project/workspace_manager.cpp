#include "project/workspace_manager.hpp"

#include <spdlog/spdlog.h>

namespace tenex::project {

WorkspaceManager::WorkspaceManager(WorkspaceConfig config, KeyGenerator generate_key,
                                   BackoffPolicy backoff)
    : config_(std::move(config)), generate_key_(std::move(generate_key)), flight_(backoff) {}

std::string WorkspaceManager::address_of(const ProjectDefinition& project) {
    return "31933:" + project.owner + ":" + project.identifier;
}

Result<WorkspaceResult> WorkspaceManager::ensure(const ProjectDefinition& project,
                                                 const std::vector<AgentDefinition>& agents,
                                                 const std::vector<McpTool>& tools) {
    const std::string address = address_of(project);
    auto result = flight_.run(address, [&]() -> Result<WorkspaceResult> {
        return ensure_workspace(config_, project, agents, tools, generate_key_);
    });
    if (!result)
        spdlog::warn("project {}: workspace not ready: {}", address, result.error().message);
    return result;
}

}  // namespace tenex::project
