// The policies directory: default.yaml for every project plus override files that say which
// projects they are for. Resolving a project merges them key by key, most specific last, and
// remembers which file set each value.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sandbox/diagnostic.hpp"
#include "sandbox/policy.hpp"
#include "sandbox/policy_file.hpp"
#include "sandbox/project_ref.hpp"

namespace tenex::sandbox {

inline constexpr const char* kDefaultPolicyFile = "default.yaml";
inline constexpr const char* kDefaultPoliciesDir = "/etc/tenex-sandbox/policies";

struct PolicySet {
    std::optional<PolicyFile> defaults{};  // default.yaml, when present
    std::vector<PolicyFile> overrides{};   // every other *.yaml / *.yml, by file name
};

struct LoadedSet {
    PolicySet set{};
    std::vector<Diagnostic> diagnostics{};  // per-file errors plus directory rules
};

// Loads default.yaml and every other *.yaml/*.yml (which must have a `match`), sorted by name.
// Files with errors are reported and left out.
LoadedSet load_policy_dir(const std::filesystem::path& dir);

struct ResolvedPolicy {
    Policy policy{};
    std::map<std::string, Location> provenance{};  // leaf key path -> where it was set
    std::vector<std::string> applied{};            // files, in the order they were applied
    std::vector<Diagnostic> diagnostics{};         // rules that span keys (errors and warnings)
};

// Built-in defaults, then default.yaml, then every override matching `project`, ordered by
// how specifically it matches (owner < d < address) and then by file name.
ResolvedPolicy resolve_policy(const PolicySet& set, const ProjectRef& project);

// Merges the given files in order over the built-in defaults and checks the rules that span
// keys (memory_swap >= memory, egress needs an allowlist, ...).
ResolvedPolicy merge_policy_files(const std::vector<const PolicyFile*>& layers);

// Every leaf of the effective policy as (key path, value) in schema order, for `policy show`.
std::vector<std::pair<std::string, std::string>> describe_policy(const Policy& policy);

}  // namespace tenex::sandbox
