#include "project/events.hpp"

#include "project/workspace_path.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace tenex::project {

namespace {

std::string first(const nostr::Event& e, std::string_view name) {
    auto v = e.tag_value(name);
    return v ? std::string(*v) : std::string();
}

// Every value of tags named `name`, in order, without duplicates; with `hex_only`, values
// that are not 64 lowercase hex are dropped and logged.
std::vector<std::string> all(const nostr::Event& e, std::string_view name, bool hex_only) {
    std::vector<std::string> out;
    for (const auto& tag : e.tags) {
        if (tag.size() < 2 || tag[0] != name) continue;
        if (hex_only && !is_hex64(tag[1])) {
            spdlog::warn("event {}: ignoring `{}` tag whose value is not a 64-hex id", e.id, name);
            continue;
        }
        if (std::find(out.begin(), out.end(), tag[1]) == out.end()) out.push_back(tag[1]);
    }
    return out;
}

Status expect_kind(const nostr::Event& e, std::uint32_t kind, const char* what) {
    if (e.kind != kind)
        return make_error(std::string("event ") + e.id + " is kind " + std::to_string(e.kind) +
                          ", not a " + what + " (kind " + std::to_string(kind) + ")");
    return Unit{};
}

}  // namespace

Result<ProjectDefinition> parse_project_event(const nostr::Event& e,
                                              const nostr::Address* expected) {
    if (auto st = expect_kind(e, kProjectKind, "project"); !st) return st.error();
    ProjectDefinition p;
    p.identifier = first(e, "d");
    p.owner = e.pubkey;
    if (expected && (expected->kind != kProjectKind || expected->pubkey != e.pubkey ||
                     expected->identifier != p.identifier))
        return make_error("event " + e.id + " is not the project at " + expected->to_string());
    nostr::Address address{kProjectKind, e.pubkey, p.identifier};
    auto naddr = address.to_naddr();
    if (!naddr) return make_error("project " + address.to_string() + ": " + naddr.error().message);
    p.naddr = *naddr;
    p.title = first(e, "title");
    p.description = e.content;
    p.repo_url = first(e, "repo");
    p.hashtags = all(e, "t", false);
    p.agent_ids = all(e, "agent", true);
    p.mcp_ids = all(e, "mcp", true);
    p.members = all(e, "p", true);
    return p;
}

Result<AgentDefinition> parse_agent_event(const nostr::Event& e) {
    if (auto st = expect_kind(e, kAgentDefinitionKind, "agent definition"); !st) return st.error();
    AgentDefinition a;
    a.event_id = e.id;
    a.name = first(e, "title");
    if (a.name.empty()) a.name = first(e, "name");
    a.role = first(e, "role");
    a.description = first(e, "description");
    a.instructions = first(e, "instructions");
    if (a.instructions.empty()) a.instructions = e.content;  // older events
    a.use_criteria = first(e, "use-criteria");
    a.version = first(e, "ver");
    a.d_tag = first(e, "d");
    a.author = e.pubkey;
    a.created_at = e.created_at;
    return a;
}

Result<McpTool> parse_mcp_event(const nostr::Event& e) {
    if (auto st = expect_kind(e, kMcpToolKind, "MCP tool"); !st) return st.error();
    McpTool t;
    t.event_id = e.id;
    t.name = first(e, "name");
    t.description = first(e, "description");
    t.command = first(e, "command");
    t.image = first(e, "image");
    if (t.command.empty()) return make_error("MCP tool event " + e.id + " has no command");
    return t;
}

const nostr::Event* pick_newest(std::span<const nostr::Event> versions) {
    const nostr::Event* best = nullptr;
    for (const auto& v : versions) {
        if (!best || v.created_at > best->created_at ||
            (v.created_at == best->created_at && v.id < best->id))
            best = &v;
    }
    return best;
}

}  // namespace tenex::project
