#include "project/tenex_layout.hpp"

#include "common/dir_fd.hpp"
#include "project/slug.hpp"
#include "project/workspace_path.hpp"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <set>

namespace tenex::project {

using nlohmann::json;

namespace {

Result<json> read_json_object(const DirFd& dir, const std::string& name) {
    auto text = read_file_at(dir, name);
    if (!text) return text.error();
    if (!text->has_value()) return json::object();
    json j = json::parse(**text, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        return make_error(".tenex/" + name + " is not a JSON object");
    return j;
}

std::string dump(const json& j) {
    return j.dump(2) + "\n";
}

Status write_json(const DirFd& dir, const std::string& name, const json& j, mode_t mode,
                  const std::string& shown, LayoutChanges& changes) {
    auto w = write_file_atomic(dir, name, dump(j), mode);
    if (!w) return w.error();
    if (*w) changes.files_written.push_back(shown);
    return Unit{};
}

std::string slug_or(const std::string& name, const std::string& prefix,
                    const std::string& event_id) {
    std::string slug = kebab_slug(name);
    return slug.empty() ? prefix + "-" + event_id.substr(0, 8) : slug;
}

Status write_config(const DirFd& tenex, const ProjectDefinition& p, LayoutChanges& changes) {
    auto config = read_json_object(tenex, "config.json");
    if (!config) return config.error();
    json& c = *config;
    c["description"] = p.description;
    c["repoUrl"] = p.repo_url;
    c["projectNaddr"] = p.naddr;
    return write_json(tenex, "config.json", c, 0644, ".tenex/config.json", changes);
}

Status write_agents(const DirFd& tenex, const std::vector<AgentDefinition>& agents,
                    const KeyGenerator& generate_key, LayoutChanges& changes) {
    auto agents_dir = tenex.child("agents", true);
    if (!agents_dir) return make_error(".tenex/" + agents_dir.error().message);
    auto index = read_json_object(tenex, "agents.json");
    if (!index) return index.error();
    std::set<std::string> used;  // slugs assigned in this run
    for (const auto& a : agents) {
        if (!is_hex64(a.event_id)) return make_error("agent definition has an invalid event id");
        const std::string file = a.event_id + ".json";
        json def = {{"name", a.name},
                    {"role", a.role},
                    {"description", a.description},
                    {"instructions", a.instructions},
                    {"useCriteria", a.use_criteria},
                    {"version", a.version}};
        // Where the definition came from: the TENEX runtime's agent files carry it.
        if (!a.d_tag.empty()) def["dTag"] = a.d_tag;
        if (!a.author.empty()) def["author"] = a.author;
        if (a.created_at > 0) def["createdAt"] = a.created_at;
        auto w = write_file_atomic(*agents_dir, file, dump(def), 0644);
        if (!w) return make_error(".tenex/agents/" + w.error().message);
        if (*w) changes.files_written.push_back(".tenex/agents/" + file);

        std::string slug = slug_or(a.name, "agent", a.event_id);
        if (used.count(slug)) slug += "-" + a.event_id.substr(0, 8);  // two agents, one title
        used.insert(slug);
        json& entry = (*index)[slug];
        if (entry.is_object() && entry.contains("nsec") && entry["nsec"].is_string()) {
            if (entry.value("eventId", "") != a.event_id) {
                entry["eventId"] = a.event_id;
                entry["file"] = file;
                changes.agents_updated.push_back(slug);
            }
            continue;
        }
        auto key = generate_key();
        if (!key)
            return make_error("cannot generate a key for agent " + slug + ": " +
                              key.error().message);
        entry = {{"nsec", *key}, {"file", file}, {"eventId", a.event_id}};
        changes.agents_added.push_back(slug);
    }
    return write_json(tenex, "agents.json", *index, 0600, ".tenex/agents.json", changes);
}

Status write_mcp(const DirFd& tenex, const std::vector<McpTool>& tools, LayoutChanges& changes) {
    auto mcp = read_json_object(tenex, "mcp.json");
    if (!mcp) return mcp.error();
    json& m = *mcp;
    if (!m.contains("servers") || !m["servers"].is_object()) m["servers"] = json::object();
    if (!m.contains("enabled")) m["enabled"] = true;
    for (const auto& t : tools) {
        const std::string slug = slug_or(t.name, "tool", t.event_id);
        if (m["servers"].contains(slug)) continue;  // existing servers are kept as they are
        auto skip = [&](const std::string& why) {
            changes.tools_skipped.push_back(slug + ": " + why);
        };
        if (!is_hex64(t.event_id)) {
            skip("invalid event id");
            continue;
        }
        auto words = split_command(t.command);
        if (!words) {
            skip(words.error().message);
            continue;
        }
        if (words->empty()) {
            skip("empty command");
            continue;
        }
        json args = json::array();
        for (std::size_t i = 1; i < words->size(); ++i) args.push_back((*words)[i]);
        m["servers"][slug] = {{"command", (*words)[0]},
                              {"args", args},
                              {"description", t.description},
                              {"image", t.image},
                              {"eventId", t.event_id}};
        changes.tools_added.push_back(slug);
    }
    return write_json(tenex, "mcp.json", m, 0644, ".tenex/mcp.json", changes);
}

bool ignores_tenex(const std::string& text) {
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string line = text.substr(start, end - start);
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
            line.pop_back();
        if (line == ".tenex/" || line == ".tenex" || line == "/.tenex/" || line == "/.tenex")
            return true;
        start = end + 1;
    }
    return false;
}

Status write_gitignore(const DirFd& root, LayoutChanges& changes) {
    auto text = read_file_at(root, ".gitignore");
    if (!text) return text.error();
    std::string content = text->value_or("");
    if (ignores_tenex(content)) return Unit{};
    if (!content.empty() && content.back() != '\n') content += "\n";
    content += ".tenex/\n";
    auto w = write_file_atomic(root, ".gitignore", content, 0644);
    if (!w) return w.error();
    if (*w) changes.files_written.push_back(".gitignore");
    return Unit{};
}

}  // namespace

Result<std::vector<std::string>> split_command(std::string_view line) {
    std::vector<std::string> words;
    std::string cur;
    bool in_word = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            if (in_word) words.push_back(std::move(cur));
            cur.clear();
            in_word = false;
        } else if (c == '\'') {
            const auto close = line.find('\'', i + 1);
            if (close == std::string_view::npos)
                return make_error("command has an unterminated single quote");
            cur.append(line.substr(i + 1, close - i - 1));
            i = close;
            in_word = true;
        } else if (c == '"') {
            std::size_t j = i + 1;
            for (; j < line.size() && line[j] != '"'; ++j) {
                if (line[j] == '\\' && j + 1 < line.size() &&
                    (line[j + 1] == '"' || line[j + 1] == '\\' || line[j + 1] == '$' ||
                     line[j + 1] == '`'))
                    ++j;
                cur.push_back(line[j]);
            }
            if (j >= line.size()) return make_error("command has an unterminated double quote");
            i = j;
            in_word = true;
        } else if (c == '\\') {
            if (i + 1 >= line.size()) return make_error("command ends with a backslash");
            cur.push_back(line[++i]);
            in_word = true;
        } else {
            cur.push_back(c);
            in_word = true;
        }
    }
    if (in_word) words.push_back(std::move(cur));
    return words;
}

Result<LayoutChanges> write_tenex_layout(const std::filesystem::path& workspace,
                                         const ProjectDefinition& project,
                                         const std::vector<AgentDefinition>& agents,
                                         const std::vector<McpTool>& tools,
                                         const KeyGenerator& generate_key) {
    LayoutChanges changes;
    auto root = DirFd::open_path(workspace.string());
    if (!root) return root.error();
    auto tenex = root->child(".tenex", true);
    if (!tenex) return tenex.error();
    if (auto st = write_config(*tenex, project, changes); !st) return st.error();
    if (auto st = write_agents(*tenex, agents, generate_key, changes); !st) return st.error();
    if (auto st = write_mcp(*tenex, tools, changes); !st) return st.error();
    if (auto st = write_gitignore(*root, changes); !st) return st.error();
    if (changes.changed())
        spdlog::info("workspace {}: .tenex updated ({} files; agents added {}, tools added {})",
                     workspace.string(), changes.files_written.size(), changes.agents_added.size(),
                     changes.tools_added.size());
    return changes;
}

}  // namespace tenex::project
