// A problem found in a policy file, located precisely: file, line, column and key path.
#pragma once

#include <string>
#include <vector>

namespace tenex::sandbox {

enum class Severity { error, warning };

struct Diagnostic {
    std::string file{};
    int line = 0;    // 1-based; 0: unknown
    int column = 0;  // 1-based; 0: unknown
    std::string key_path{};  // e.g. "resources.memory"; empty: the document itself
    std::string message{};
    Severity severity = Severity::error;
};

// "file:line:col: key.path: message" (warnings get "warning: " before the message).
std::string format_diagnostic(const Diagnostic& d);

bool has_errors(const std::vector<Diagnostic>& diags);

}  // namespace tenex::sandbox
