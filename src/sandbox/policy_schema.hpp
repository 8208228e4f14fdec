// The policy file schema: which keys exist, what each accepts, and how a value lands in the
// typed Policy. Used by the loader (to validate each file) and by the merger (to apply the
// winning value of every key).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "sandbox/diagnostic.hpp"
#include "sandbox/policy.hpp"

namespace tenex::sandbox {

enum class KeyKind {
    section,      // a mapping of known keys (resources, network, ...)
    dynamic_map,  // a mapping of user-chosen names to values (env, secrets, security.tmpfs)
    leaf,         // a value that is set as a whole (scalars and lists)
};

// The kind of a key path ("resources", "env", "resources.memory"), or nullopt when unknown.
// Entries of dynamic maps ("env.FOO") are leaves.
std::optional<KeyKind> key_kind(std::string_view path);

// Every leaf path of the schema, in documentation order (dynamic maps as "env.*").
const std::vector<std::string>& schema_leaf_paths();

// Keys that are refused wherever they appear, with the reason (privileged, pid, ipc, ...).
std::optional<std::string> forbidden_key(std::string_view key);

// Where a problem is: the node (for its line/column), the key path and the message.
using Reporter = std::function<void(const YAML::Node& at, const std::string& path,
                                    const std::string& message, Severity severity)>;

// Validates `value` for the leaf `path` and stores it in `policy`. Problems go to `report`;
// the policy is left unchanged for that key when the value is invalid.
void apply_setting(Policy& policy, const std::string& path, const YAML::Node& value,
                   const Reporter& report);

// Placeholders allowed in command, args and env values.
inline const std::vector<std::string> kPlaceholders{"{address}", "{d}", "{naddr}", "{owner}"};

}  // namespace tenex::sandbox
