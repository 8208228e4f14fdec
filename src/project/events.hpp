// From (already signature-verified) Nostr events to the plain definitions of
// definitions.hpp. Tag rules, for events that carry a tag more than once or not at all:
// - single-valued tags (d, title, repo, name, role, description, instructions, use-criteria,
//   ver, command, image): the first tag with a value wins, later duplicates are ignored;
// - list tags (t, agent, mcp, p): every value in order, duplicates removed; `agent`, `mcp`
//   and `p` values that are not 64 lowercase hex are dropped (and logged);
// - a missing `d` is an empty identifier (NIP-01), which the workspace mapping rejects.
// The caller verifies signatures (nostr/verify.hpp) before calling these.
#pragma once

#include "common/result.hpp"
#include "nostr/address.hpp"
#include "nostr/event.hpp"
#include "project/definitions.hpp"

#include <span>

namespace tenex::project {

inline constexpr std::uint32_t kProjectKind = 31933;
inline constexpr std::uint32_t kAgentDefinitionKind = 4199;
inline constexpr std::uint32_t kMcpToolKind = 4200;

// The project definition of a kind 31933 event. With `expected`, the event must be at that
// address (kind, author and `d`), so a relay cannot substitute another project.
Result<ProjectDefinition> parse_project_event(const nostr::Event& event,
                                              const nostr::Address* expected = nullptr);

// Kind 4199: name from `title` (else `name`), instructions from the tag or else the content.
Result<AgentDefinition> parse_agent_event(const nostr::Event& event);

// Kind 4200: `command` is required.
Result<McpTool> parse_mcp_event(const nostr::Event& event);

// Of several versions of one addressable event, the one that wins: the newest created_at,
// the lowest id on a tie. nullptr for an empty span.
const nostr::Event* pick_newest(std::span<const nostr::Event> versions);

}  // namespace tenex::project
