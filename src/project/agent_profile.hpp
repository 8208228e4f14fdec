// Kind 0 profiles of a workspace's installed agents, built from .tenex/agents.json (the
// agents' own keys) and .tenex/agents/<event-id>.json (name, role, description):
//   content {"name", "about" (the description), "role", "project" (the project address)}
//   tags    ["p", owner], ["a", "31933:<owner>:<d>"]
// signed by the agent's key. `digest` identifies the profile's data (not its created_at or
// signature), so an unchanged profile is recognized and not published again.
#pragma once

#include "common/result.hpp"
#include "nostr/event.hpp"
#include "nostr/keys.hpp"
#include "project/definitions.hpp"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace tenex::project {

inline constexpr std::uint32_t kProfileKind = 0;

struct AgentProfile {
    std::filesystem::path workspace{};  // where the published digest is remembered
    std::string slug{};
    std::string project_address{};  // for log lines
    nostr::Keys keys;               // the agent's own key; never logged
    nostr::UnsignedEvent event{};   // kind 0, created_at unset (set when signed)
    std::string digest{};           // SHA-256 hex of [pubkey, kind, tags, content]

    std::string pubkey() const { return keys.pub.hex(); }
};

AgentProfile make_agent_profile(const std::filesystem::path& workspace, const std::string& slug,
                                const nostr::Keys& keys, const AgentDefinition& agent,
                                const ProjectDefinition& project);

// Every agent of agents.json whose key and definition file can be read. Entries that cannot
// (bad key, missing file) are logged by slug (never the key) and skipped. An error only when
// the .tenex folder or agents.json itself cannot be read.
Result<std::vector<AgentProfile>> read_agent_profiles(const std::filesystem::path& workspace,
                                                      const ProjectDefinition& project);

// .tenex/profiles.json {pubkey: digest}: the digests last published. Missing file: empty.
Result<std::map<std::string, std::string>> read_published_digests(
    const std::filesystem::path& workspace);
Status write_published_digest(const std::filesystem::path& workspace, const std::string& pubkey,
                              const std::string& digest);

}  // namespace tenex::project
