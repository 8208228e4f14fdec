#include "project/project_fetch.hpp"

#include "nostr/verify.hpp"
#include "project/events.hpp"

#include <spdlog/spdlog.h>

#include <map>

namespace tenex::project {

namespace {

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
    return out;
}

std::string relays_text(const std::vector<std::string>& relays) {
    return relays.empty() ? std::string("no relays (none configured for reading)")
                          : "relays " + join(relays);
}

bool at_address(const nostr::Event& e, const nostr::Address& address) {
    if (e.kind != address.kind || e.pubkey != address.pubkey) return false;
    auto d = e.tag_value("d");
    return std::string_view(d ? *d : std::string_view()) == address.identifier;
}

// id -> event for the events that verify and have the expected kind.
std::map<std::string, const nostr::Event*> index_by_id(std::span<const nostr::Event> events) {
    std::map<std::string, const nostr::Event*> out;
    for (const auto& e : events) {
        if (auto st = nostr::verify_event(e); !st) {
            spdlog::warn("event {}: ignored, does not verify: {}", e.id, st.error().message);
            continue;
        }
        out.emplace(e.id, &e);
    }
    return out;
}

}  // namespace

nostr::Filter project_filter(const nostr::Address& address) {
    nostr::Filter f;
    f.authors = std::vector<std::string>{address.pubkey};
    f.kinds = std::vector<std::uint32_t>{address.kind};
    f.tags['d'] = {address.identifier};
    return f;
}

const nostr::Event* select_project_event(std::span<const nostr::Event> events,
                                         const nostr::Address& address) {
    const std::string where = address.to_string();
    std::vector<nostr::Event> candidates;
    for (const auto& e : events) {
        if (!at_address(e, address)) {
            spdlog::warn("project {}: ignoring event {}, it is not at this address", where, e.id);
            continue;
        }
        if (auto st = nostr::verify_event(e); !st) {
            spdlog::warn("project {}: ignoring event {}, it does not verify: {}", where, e.id,
                         st.error().message);
            continue;
        }
        candidates.push_back(e);
    }
    const nostr::Event* best = pick_newest(candidates);
    if (!best) return nullptr;
    for (const auto& e : events)
        if (e.id == best->id) return &e;
    return nullptr;  // unreachable: best is a copy of one of events
}

Result<FetchedProject> fetch_project(const FetchFn& fetch, const nostr::Address& address,
                                     std::chrono::milliseconds timeout,
                                     const std::vector<std::string>& relays) {
    const std::string where = address.to_string();
    if (address.kind != kProjectKind)
        return make_error("address " + where + " is not a project (kind " +
                          std::to_string(kProjectKind) + ")");

    auto found = fetch({project_filter(address)}, timeout);
    if (!found)
        return make_error("project " + where + ": fetch from " + relays_text(relays) +
                          " failed: " + found.error().message);
    const nostr::Event* event = select_project_event(*found, address);
    if (!event)
        return make_error("project " + where + " not found on " + relays_text(relays) + " within " +
                          std::to_string(timeout.count()) + " ms");

    FetchedProject out;
    out.event_id = event->id;
    out.created_at = event->created_at;
    auto project = parse_project_event(*event, &address);
    if (!project) return make_error("project " + where + ": " + project.error().message);
    out.project = std::move(*project);
    spdlog::info("project {}: using event {} (created_at {}), {} agent(s), {} MCP tool(s)", where,
                 out.event_id, out.created_at, out.project.agent_ids.size(),
                 out.project.mcp_ids.size());

    const auto& agent_ids = out.project.agent_ids;
    const auto& mcp_ids = out.project.mcp_ids;
    if (agent_ids.empty() && mcp_ids.empty()) return out;

    std::vector<nostr::Filter> filters;
    if (!agent_ids.empty()) {
        nostr::Filter f;
        f.ids = agent_ids;
        f.kinds = std::vector<std::uint32_t>{kAgentDefinitionKind};
        filters.push_back(std::move(f));
    }
    if (!mcp_ids.empty()) {
        nostr::Filter f;
        f.ids = mcp_ids;
        f.kinds = std::vector<std::uint32_t>{kMcpToolKind};
        filters.push_back(std::move(f));
    }
    std::vector<nostr::Event> defs;
    if (auto got = fetch(std::move(filters), timeout); got) {
        defs = std::move(*got);
    } else {
        spdlog::warn("project {}: fetching agent and MCP definitions failed: {}", where,
                     got.error().message);
    }
    const auto by_id = index_by_id(defs);

    for (const auto& id : agent_ids) {
        auto it = by_id.find(id);
        if (it == by_id.end() || it->second->kind != kAgentDefinitionKind) {
            spdlog::warn("project {}: agent definition {} not found, continuing without it", where,
                         id);
            out.missing_agents.push_back(id);
            continue;
        }
        auto agent = parse_agent_event(*it->second);
        if (!agent) {
            spdlog::warn("project {}: agent definition {} skipped: {}", where, id,
                         agent.error().message);
            out.missing_agents.push_back(id);
            continue;
        }
        out.agents.push_back(std::move(*agent));
    }
    for (const auto& id : mcp_ids) {
        auto it = by_id.find(id);
        if (it == by_id.end() || it->second->kind != kMcpToolKind) {
            spdlog::warn("project {}: MCP tool {} not found, continuing without it", where, id);
            out.missing_tools.push_back(id);
            continue;
        }
        auto tool = parse_mcp_event(*it->second);
        if (!tool) {
            spdlog::warn("project {}: MCP tool {} skipped: {}", where, id, tool.error().message);
            out.missing_tools.push_back(id);
            continue;
        }
        out.tools.push_back(std::move(*tool));
    }
    return out;
}

}  // namespace tenex::project
