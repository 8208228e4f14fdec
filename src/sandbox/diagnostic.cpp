#include "sandbox/diagnostic.hpp"

#include <algorithm>

#include "nostr/utf8.hpp"

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

std::optional<Diagnostic> not_utf8(std::string_view text, const std::string& file) {
    if (nostr::is_valid_utf8(text)) return std::nullopt;
    std::size_t i = 0;
    for (std::size_t n; i < text.size() && (n = nostr::utf8_sequence_length(text, i)) != 0;) i += n;
    const auto line = static_cast<int>(std::count(
                          text.begin(), text.begin() + static_cast<std::ptrdiff_t>(i), '\n')) +
                      1;
    return Diagnostic{.file = file,
                      .line = line,
                      .column = 0,
                      .key_path = "",
                      .message = "not UTF-8 text (byte " + std::to_string(i + 1) + ")",
                      .severity = Severity::error};
}

}  // namespace tenex::sandbox
