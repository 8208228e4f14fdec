// ensure_workspace: the one entry point that makes a project's directory exist and be
// initialized: map (owner, d) to a safe path, create it (git init) or clone the validated
// repo URL into it, then write the .tenex layout. Blocking (clones take time): run it on a
// worker and wrap it in a SingleFlight keyed by the project address.
#pragma once

#include "common/result.hpp"
#include "project/clone.hpp"
#include "project/definitions.hpp"
#include "project/repo_url.hpp"
#include "project/tenex_layout.hpp"
#include "project/workspace_path.hpp"

#include <filesystem>
#include <vector>

namespace tenex::project {

struct WorkspaceConfig {
    std::filesystem::path projects_root{};
    RepoPolicy repo_policy{};
    CloneLimits clone_limits{};
};

struct WorkspaceResult {
    std::filesystem::path path{};
    WorkspaceName name{};
    bool created{false};  // the checkout was created by this call (clone or init)
    bool cloned{false};
    LayoutChanges layout{};
};

Result<WorkspaceResult> ensure_workspace(const WorkspaceConfig& config,
                                         const ProjectDefinition& project,
                                         const std::vector<AgentDefinition>& agents,
                                         const std::vector<McpTool>& tools,
                                         const KeyGenerator& generate_key);

}  // namespace tenex::project
