// Fetching a project's definitions from Nostr, independent of sockets: the caller supplies
// a FetchFn (RelayPool::fetch in the daemon, a fake in tests). Steps:
//   1. the kind 31933 event at the address (authors=[owner], kinds=[31933], #d=[d]); only
//      events that verify and are exactly at that address count; the newest wins, the
//      lowest id on a tie; none within the timeout is an error naming the address and the
//      relays asked;
//   2. its agent definitions (kind 4199, ids from `agent` tags) and MCP tools (kind 4200,
//      ids from `mcp` tags) in one more fetch; missing or unparseable ones are logged and
//      left out, the rest is kept in the project's tag order.
#pragma once

#include "common/result.hpp"
#include "nostr/address.hpp"
#include "nostr/event.hpp"
#include "nostr/filter.hpp"
#include "project/definitions.hpp"

#include <chrono>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace tenex::project {

// One-shot query: every stored event matching any filter, from the relays asked, settled
// within `timeout`. An error only for a failure of the query itself.
using FetchFn = std::function<Result<std::vector<nostr::Event>>(std::vector<nostr::Filter> filters,
                                                                std::chrono::milliseconds timeout)>;

struct FetchedProject {
    std::string event_id{};  // the project event used
    std::int64_t created_at{0};
    ProjectDefinition project{};
    std::vector<AgentDefinition> agents{};      // in `agent` tag order
    std::vector<McpTool> tools{};               // in `mcp` tag order
    std::vector<std::string> missing_agents{};  // ids not found (or not parseable)
    std::vector<std::string> missing_tools{};
};

// {authors: [owner], kinds: [kind], #d: [identifier]}.
nostr::Filter project_filter(const nostr::Address& address);

// Of the events a relay returned, the newest one that verifies (id and signature) and is
// exactly at `address`; nullptr if none. Others are logged and ignored.
const nostr::Event* select_project_event(std::span<const nostr::Event> events,
                                         const nostr::Address& address);

// `relays` only names the relays in error messages ("project ... not found on ...").
Result<FetchedProject> fetch_project(const FetchFn& fetch, const nostr::Address& address,
                                     std::chrono::milliseconds timeout,
                                     const std::vector<std::string>& relays);

}  // namespace tenex::project
