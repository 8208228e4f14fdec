// One policy file, parsed and validated key by key: which projects it applies to (`match`)
// and the value it sets for each key path, with where each value was written.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "sandbox/diagnostic.hpp"
#include "sandbox/project_ref.hpp"

namespace tenex::sandbox {

struct Location {
    std::string file{};
    int line = 0;
    int column = 0;
    std::string to_string() const {
        return file + ":" + std::to_string(line) + ":" + std::to_string(column);
    }
};

// One key set by a file: "resources.memory" -> "2Gi" at default.yaml:12:11.
struct Setting {
    std::string path{};
    YAML::Node value{};
    Location where{};
};

// Which projects an override file applies to. Any listed entry matching is enough.
struct Match {
    std::vector<std::string> addresses{};  // "31933:<owner hex>:<d>" (owner lowercased)
    std::vector<std::string> ds{};         // `d` identifiers
    std::vector<std::string> owners{};     // owner pubkeys, 64 lowercase hex (npubs decoded)
    Location where{};
};

// How specifically `match` names `project`: 3 by address, 2 by `d`, 1 by owner, 0 not at all.
int match_rank(const Match& match, const ProjectRef& project);

struct PolicyFile {
    std::string name{};  // the path as given, used in diagnostics and provenance
    std::optional<Match> match{};
    std::map<std::string, Setting> settings{};  // leaf key path -> value
};

struct LoadedFile {
    PolicyFile file{};
    std::vector<Diagnostic> diagnostics{};  // errors make the file unusable
};

// Parses YAML text named `name` (for messages). Never throws.
LoadedFile parse_policy_text(std::string_view text, const std::string& name);

// Reads and parses a file. Never throws; an unreadable file is a diagnostic.
LoadedFile load_policy_file(const std::filesystem::path& path);

}  // namespace tenex::sandbox
