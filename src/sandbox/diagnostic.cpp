#include "sandbox/diagnostic.hpp"

#include <algorithm>

namespace tenex::sandbox {

std::string format_diagnostic(const Diagnostic& d) {
    std::string out = d.file.empty() ? std::string("<input>") : d.file;
    out += ':' + std::to_string(d.line) + ':' + std::to_string(d.column) + ": ";
    if (!d.key_path.empty()) out += d.key_path + ": ";
    if (d.severity == Severity::warning) out += "warning: ";
    out += d.message;
    return out;
}

bool has_errors(const std::vector<Diagnostic>& diags) {
    return std::any_of(diags.begin(), diags.end(),
                       [](const Diagnostic& d) { return d.severity == Severity::error; });
}

}  // namespace tenex::sandbox
