#include "project/workspace.hpp"

#include <spdlog/spdlog.h>

namespace tenex::project {

Result<WorkspaceResult> ensure_workspace(const WorkspaceConfig& config,
                                         const ProjectDefinition& project,
                                         const std::vector<AgentDefinition>& agents,
                                         const std::vector<McpTool>& tools,
                                         const KeyGenerator& generate_key) {
    auto name = map_workspace(project.owner, project.identifier);
    if (!name) return name.error();
    WorkspaceResult out;
    out.name = *name;
    out.path = config.projects_root / name->relative();

    auto presence = probe_workspace(config.projects_root, *name);
    if (!presence) return presence.error();
    if (*presence == Presence::absent) {
        auto owner_dir = ensure_owner_dir(config.projects_root, *name);
        if (!owner_dir) return owner_dir.error();
        if (project.repo_url.empty()) {
            if (auto st = init_repository(out.path); !st) return st.error();
        } else {
            auto url = validate_repo_url(project.repo_url, config.repo_policy);
            if (!url) {
                spdlog::warn("project {} ({}): repository refused: {}", project.naddr,
                             out.path.string(), url.error().message);
                return url.error();
            }
            if (auto st = clone_repository(*url, config.repo_policy, config.clone_limits, out.path);
                !st)
                return st.error();
            out.cloned = true;
            // Agent keys and MCP servers come only from the project's events, never from the
            // repository: a committed .tenex/ (e.g. agents.json with keys its author knows) goes.
            std::error_code ec;
            if (std::filesystem::symlink_status(out.path / ".tenex", ec).type() !=
                std::filesystem::file_type::not_found) {
                spdlog::warn(
                    "project {}: the repository ships a .tenex entry; removed before writing the "
                    "layout",
                    project.naddr);
                std::filesystem::remove_all(out.path / ".tenex", ec);
                if (ec) return make_error("cannot remove the repository's .tenex: " + ec.message());
            }
        }
        out.created = true;
    }
    auto layout = write_tenex_layout(out.path, project, agents, tools, generate_key);
    if (!layout)
        return make_error("workspace " + out.path.string() + ": " + layout.error().message);
    out.layout = std::move(*layout);
    return out;
}

}  // namespace tenex::project
