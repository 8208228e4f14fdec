#include "sandbox/policy_file.hpp"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "sandbox/policy_schema.hpp"

namespace tenex::sandbox {
namespace {

class Walker {
  public:
    explicit Walker(LoadedFile& out) : out_(out) {}

    Location at(const YAML::Node& n, const YAML::Node& fallback) const {
        // A missing value (`key:`) is reported at its key.
        YAML::Mark m = n.IsDefined() && !n.IsNull() ? n.Mark() : YAML::Mark::null_mark();
        if (m.is_null() && fallback.IsDefined()) m = fallback.Mark();
        if (m.is_null()) return {out_.file.name, 0, 0};
        return {out_.file.name, m.line + 1, m.column + 1};
    }

    void report(const YAML::Node& n, const YAML::Node& fallback, const std::string& path,
                const std::string& message, Severity sev = Severity::error) {
        const Location l = at(n, fallback);
        out_.diagnostics.push_back(Diagnostic{.file = l.file,
                                              .line = l.line,
                                              .column = l.column,
                                              .key_path = path,
                                              .message = message,
                                              .severity = sev});
    }

    void section(const YAML::Node& node, const std::string& prefix, const YAML::Node& key_node) {
        if (!node.IsMap()) {
            report(node, key_node, prefix,
                   node.IsNull() ? "expected a mapping, got nothing" : "expected a mapping");
            return;
        }
        std::set<std::string> seen;
        for (const auto& kv : node) {
            const YAML::Node& k = kv.first;
            const YAML::Node& v = kv.second;
            if (!k.IsScalar()) {
                report(k, node, prefix, "keys must be plain names");
                continue;
            }
            const std::string name = k.Scalar();
            const std::string path = prefix.empty() ? name : prefix + "." + name;
            if (!seen.insert(name).second) {
                report(k, node, path, "duplicate key");
                continue;
            }
            if (auto why = forbidden_key(name)) {
                report(k, node, path, *why);
                continue;
            }
            if (prefix.empty() && name == "match") {
                parse_match(v, k);
                continue;
            }
            const auto kind = key_kind(path);
            if (!kind) {
                report(k, node, path, "unknown key" + known_keys_hint(prefix));
                continue;
            }
            switch (*kind) {
                case KeyKind::section:
                    section(v, path, k);
                    break;
                case KeyKind::dynamic_map:
                    dynamic_map(v, path, k);
                    break;
                case KeyKind::leaf:
                    leaf(v, path, k);
                    break;
            }
        }
    }

    void dynamic_map(const YAML::Node& node, const std::string& prefix,
                     const YAML::Node& key_node) {
        if (!node.IsMap()) {
            report(node, key_node, prefix, "expected a mapping of names to values");
            return;
        }
        std::set<std::string> seen;
        for (const auto& kv : node) {
            if (!kv.first.IsScalar()) {
                report(kv.first, node, prefix, "keys must be plain names");
                continue;
            }
            const std::string path = prefix + "." + kv.first.Scalar();
            if (!seen.insert(kv.first.Scalar()).second) {
                report(kv.first, node, path, "duplicate key");
                continue;
            }
            leaf(kv.second, path, kv.first);
        }
    }

    void leaf(const YAML::Node& value, const std::string& path, const YAML::Node& key_node) {
        const std::size_t before = out_.diagnostics.size();
        Policy scratch;
        apply_setting(scratch, path, value,
                      [&](const YAML::Node& n, const std::string& p, const std::string& msg,
                          Severity sev) { report(n, key_node, p, msg, sev); });
        if (out_.diagnostics.size() != before) return;
        out_.file.settings[path] =
            Setting{.path = path, .value = value, .where = at(value, key_node)};
    }

    void parse_match(const YAML::Node& node, const YAML::Node& key_node) {
        Match m;
        m.where = at(key_node, key_node);
        if (!node.IsMap()) {
            report(node, key_node, "match", "expected a mapping with address, d and/or owner");
            return;
        }
        bool ok = true;
        std::set<std::string> seen;
        for (const auto& kv : node) {
            const std::string name = kv.first.IsScalar() ? kv.first.Scalar() : "";
            const std::string path = "match." + name;
            if (!seen.insert(name).second) {
                report(kv.first, node, path, "duplicate key");
                ok = false;
                continue;
            }
            std::vector<std::pair<std::string, YAML::Node>> values;
            if (name != "address" && name != "d" && name != "owner") {
                report(kv.first, node, path, "unknown key (known: address, d, owner)");
                ok = false;
                continue;
            }
            if (kv.second.IsScalar()) {
                values.emplace_back(kv.second.Scalar(), kv.second);
            } else if (kv.second.IsSequence()) {
                for (const auto& item : kv.second) {
                    if (!item.IsScalar()) {
                        report(item, kv.first, path, "expected a string");
                        ok = false;
                    } else {
                        values.emplace_back(item.Scalar(), item);
                    }
                }
            } else {
                report(kv.second, kv.first, path, "expected a string or a list of strings");
                ok = false;
                continue;
            }
            for (const auto& [text, at_node] : values) {
                if (name == "address") {
                    auto a = parse_address(text);
                    if (!a) {
                        report(at_node, kv.first, path, a.error().message);
                        ok = false;
                    } else {
                        m.addresses.push_back(a->address());
                    }
                } else if (name == "d") {
                    m.ds.push_back(text);
                } else if (is_hex_pubkey(text)) {
                    std::string hex = text;
                    std::transform(hex.begin(), hex.end(), hex.begin(), [](char c) {
                        return (c >= 'A' && c <= 'F') ? char(c + 32) : c;
                    });
                    m.owners.push_back(hex);
                } else if (auto hex = decode_npub(text)) {
                    m.owners.push_back(*hex);
                } else {
                    report(at_node, kv.first, path,
                           "expected an owner pubkey as 64 hex digits or an npub (" +
                               hex.error().message + ")");
                    ok = false;
                }
            }
        }
        if (ok && m.addresses.empty() && m.ds.empty() && m.owners.empty()) {
            report(node, key_node, "match", "names no project (give address, d or owner)");
            ok = false;
        }
        if (ok) out_.file.match = std::move(m);
    }

  private:
    static std::string known_keys_hint(const std::string& prefix) {
        std::string known;
        std::set<std::string> names;
        for (const auto& p : schema_leaf_paths()) {
            std::string_view rest = p;
            if (!prefix.empty()) {
                if (!rest.starts_with(prefix + ".")) continue;
                rest.remove_prefix(prefix.size() + 1);
            }
            names.insert(std::string(rest.substr(0, rest.find('.'))));
        }
        if (prefix.empty()) names.insert("match");
        for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
        return " (known: " + known + ")";
    }

    LoadedFile& out_;
};

}  // namespace

int match_rank(const Match& m, const ProjectRef& project) {
    if (project.has_owner() &&
        std::find(m.addresses.begin(), m.addresses.end(), project.address()) != m.addresses.end())
        return 3;
    if (std::find(m.ds.begin(), m.ds.end(), project.d) != m.ds.end()) return 2;
    if (project.has_owner() &&
        std::find(m.owners.begin(), m.owners.end(), project.owner) != m.owners.end())
        return 1;
    return 0;
}

LoadedFile parse_policy_text(std::string_view text, const std::string& name) {
    LoadedFile out;
    out.file.name = name;
    if (auto bad = not_utf8(text, name)) {
        out.diagnostics.push_back(std::move(*bad));
        return out;
    }
    YAML::Node root;
    try {
        root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
        const int line = e.mark.is_null() ? 0 : e.mark.line + 1;
        const int col = e.mark.is_null() ? 0 : e.mark.column + 1;
        out.diagnostics.push_back(Diagnostic{.file = name,
                                             .line = line,
                                             .column = col,
                                             .key_path = "",
                                             .message = "YAML syntax error: " + e.msg,
                                             .severity = Severity::error});
        return out;
    }
    if (!root.IsDefined() || root.IsNull()) return out;  // an empty file sets nothing
    if (auto bad = not_utf8(root, name)) {
        out.diagnostics.push_back(std::move(*bad));
        return out;
    }
    Walker w(out);
    try {
        w.section(root, "", root);
    } catch (const YAML::Exception& e) {  // defensive: yaml-cpp conversions on odd input
        out.diagnostics.push_back(Diagnostic{.file = name,
                                             .line = e.mark.is_null() ? 0 : e.mark.line + 1,
                                             .column = e.mark.is_null() ? 0 : e.mark.column + 1,
                                             .key_path = "",
                                             .message = "invalid policy: " + e.msg,
                                             .severity = Severity::error});
    }
    return out;
}

LoadedFile load_policy_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        LoadedFile out;
        out.file.name = path.string();
        out.diagnostics.push_back(Diagnostic{.file = path.string(),
                                             .line = 0,
                                             .column = 0,
                                             .key_path = "",
                                             .message = "cannot read the file",
                                             .severity = Severity::error});
        return out;
    }
    std::ostringstream text;
    text << in.rdbuf();
    return parse_policy_text(text.str(), path.string());
}

}  // namespace tenex::sandbox
