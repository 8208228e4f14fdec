#include "sandbox/diagnostic.hpp"

#include <algorithm>
#include <utility>

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

std::optional<Diagnostic> not_utf8(const YAML::Node& root, const std::string& file) {
    auto bad = [&](const YAML::Node& n, const std::string& path, const char* what) {
        const auto mark = n.Mark();
        return Diagnostic{.file = file,
                          .line = mark.is_null() ? 0 : mark.line + 1,
                          .column = mark.is_null() ? 0 : mark.column + 1,
                          .key_path = path,
                          .message = std::string(what) +
                                     " is not UTF-8 once its escapes are decoded (write the "
                                     "character itself instead of its escape)",
                          .severity = Severity::error};
    };
    // Depth-first without recursion: the document's nesting is the input's to choose.
    std::vector<std::pair<YAML::Node, std::string>> todo{{root, ""}};
    while (!todo.empty()) {
        auto [n, path] = std::move(todo.back());
        todo.pop_back();
        if (n.IsScalar()) {
            if (!nostr::is_valid_utf8(n.Scalar())) return bad(n, path, "this value");
        } else if (n.IsSequence()) {
            std::size_t i = 0;
            for (const auto& item : n)
                todo.emplace_back(item, path + "[" + std::to_string(i++) + "]");
        } else if (n.IsMap()) {
            for (const auto& kv : n) {
                const bool scalar_key = kv.first.IsScalar();
                if (scalar_key && !nostr::is_valid_utf8(kv.first.Scalar()))
                    return bad(kv.first, path, "this key");
                const std::string key = scalar_key ? kv.first.Scalar() : "?";
                if (!scalar_key) todo.emplace_back(kv.first, path);
                todo.emplace_back(kv.second, path.empty() ? key : path + "." + key);
            }
        }
    }
    return std::nullopt;
}

}  // namespace tenex::sandbox
