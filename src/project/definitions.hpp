// Plain, typed inputs of a workspace: what a project (kind 31933), an agent definition
// (kind 4199) and an MCP tool (kind 4200) say. Filled from verified Nostr events by the glue
// in the daemon; this module never sees raw events.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tenex::project {

struct ProjectDefinition {
    std::string identifier{};              // the `d` tag
    std::string owner{};                   // author pubkey, 64 lowercase hex
    std::string naddr{};                   // NIP-19 naddr of the project address
    std::string title{};                   // `title` tag
    std::string description{};             // event content
    std::string repo_url{};                // `repo` tag; empty = no repository
    std::vector<std::string> hashtags{};   // `t` tags
    std::vector<std::string> agent_ids{};  // `agent` tags: kind 4199 event ids
    std::vector<std::string> mcp_ids{};    // `mcp` tags: kind 4200 event ids
    std::vector<std::string> members{};    // `p` tags: member pubkeys
};

struct AgentDefinition {
    std::string event_id{};  // 64 lowercase hex; names agents/<event_id>.json
    std::string name{};      // `title` tag (the slug is its kebab-case)
    std::string role{};
    std::string description{};
    std::string instructions{};  // `instructions` tag, or else the content
    std::string use_criteria{};
    std::string version{};  // `ver` tag
    std::string d_tag{};    // `d` tag (TENEX: the agent's slug)
    std::string author{};   // the definition's author pubkey
    std::int64_t created_at{0};
};

struct McpTool {
    std::string event_id{};
    std::string name{};  // slug source
    std::string description{};
    std::string command{};  // one command line, split into command + args (no shell)
    std::string image{};
};

}  // namespace tenex::project
