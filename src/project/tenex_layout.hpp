// The `.tenex/` folder of a workspace, written from typed definitions, atomically (each
// file: temporary file then rename) and idempotently (unchanged files are not rewritten):
//   .tenex/config.json        {description, repoUrl, projectNaddr} (other keys are kept)
//   .tenex/agents.json        {slug: {nsec, file, eventId}}, mode 0600, one key per slug,
//                             generated once by the caller's KeyGenerator and then kept
//   .tenex/agents/<id>.json   {name, role, description, instructions, useCriteria, version,
//                             dTag, author, createdAt (when known)}
//   .tenex/mcp.json           {servers: {slug: {command, args, description, image, eventId}},
//                             enabled}; existing servers are kept
//   .gitignore                gains ".tenex/" exactly once
// A newer project definition refreshes config.json and adds agents and tools; the checkout
// itself is never touched. Symlinks planted by the repository (.tenex, .tenex/agents,
// .gitignore, any of the files) are refused, never followed.
#pragma once

#include "common/result.hpp"
#include "project/definitions.hpp"

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace tenex::project {

// Produces a fresh secret key for an agent, encoded as the caller likes (nsec1...). Called
// only for agents without a key yet. Its result is written to agents.json and nowhere else.
using KeyGenerator = std::function<Result<std::string>()>;

struct LayoutChanges {
    std::vector<std::string> agents_added{};    // slugs that got a new key
    std::vector<std::string> agents_updated{};  // slugs now pointing at a newer definition
    std::vector<std::string> tools_added{};     // mcp.json server slugs
    // MCP tools left out of mcp.json, each "<slug>: <why>" (an unterminated quote, an empty
    // command, an invalid event id): one bad definition never fails the project.
    std::vector<std::string> tools_skipped{};
    std::vector<std::string> files_written{};  // relative paths actually rewritten

    bool changed() const { return !files_written.empty(); }
};

Result<LayoutChanges> write_tenex_layout(const std::filesystem::path& workspace,
                                         const ProjectDefinition& project,
                                         const std::vector<AgentDefinition>& agents,
                                         const std::vector<McpTool>& tools,
                                         const KeyGenerator& generate_key);

// Splits a command line into words like a POSIX shell would, without any expansion:
// whitespace separates; '...' is literal; "..." allows \" \\ \$ \` escapes; a backslash
// outside quotes escapes the next character. Unterminated quotes are an error.
Result<std::vector<std::string>> split_command(std::string_view line);

}  // namespace tenex::project
