// A problem found in a policy file, located precisely: file, line, column and key path.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace tenex::sandbox {

enum class Severity { error, warning };

struct Diagnostic {
    std::string file{};
    int line = 0;            // 1-based; 0: unknown
    int column = 0;          // 1-based; 0: unknown
    std::string key_path{};  // e.g. "resources.memory"; empty: the document itself
    std::string message{};
    Severity severity = Severity::error;
};

// "file:line:col: key.path: message" (warnings get "warning: " before the message).
std::string format_diagnostic(const Diagnostic& d);

bool has_errors(const std::vector<Diagnostic>& diags);

// YAML is Unicode: a byte sequence that is not UTF-8 would reach JSON later (a spec's digest,
// the engine's create body, /healthz, the runtime's files) and fail there instead of at load,
// with its line. The error naming the first such byte and its line; nullopt for UTF-8 text.
std::optional<Diagnostic> not_utf8(std::string_view text, const std::string& file);
// The same for the loaded document: UTF-8 text can still hold a double-quoted escape that
// yaml-cpp decodes to bytes that are not UTF-8 (0.7 writes the escapes of U+0085 and U+00A0 as
// one raw byte each). The first key or value that is not UTF-8 once decoded, with its line,
// column and key path; nullopt when none.
std::optional<Diagnostic> not_utf8(const YAML::Node& root, const std::string& file);

}  // namespace tenex::sandbox
