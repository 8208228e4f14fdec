#include "project/agent_profile.hpp"

#include "common/dir_fd.hpp"
#include "common/sha256.hpp"
#include "project/workspace_manager.hpp"
#include "project/workspace_path.hpp"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

namespace tenex::project {

using nlohmann::json;

namespace {

constexpr const char* kDigestFile = "profiles.json";

Result<json> parse_object(const std::optional<std::string>& text, const std::string& shown) {
    if (!text) return json::object();
    json j = json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return make_error(shown + " is not a JSON object");
    return j;
}

Result<DirFd> open_tenex(const std::filesystem::path& workspace, bool create) {
    auto root = DirFd::open_path(workspace.string());
    if (!root) return root.error();
    auto tenex = root->child(".tenex", create);
    if (!tenex) return make_error(".tenex: " + tenex.error().message);
    return tenex;
}

std::string str(const json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

AgentProfile make_agent_profile(const std::filesystem::path& workspace, const std::string& slug,
                                const nostr::Keys& keys, const AgentDefinition& agent,
                                const ProjectDefinition& project) {
    const std::string address = WorkspaceManager::address_of(project);
    json content = {{"name", agent.name.empty() ? slug : agent.name},
                    {"about", agent.description},
                    {"role", agent.role},
                    {"project", address}};
    nostr::UnsignedEvent ev;
    ev.kind = kProfileKind;
    ev.content = content.dump();
    ev.tags = {{"p", project.owner}, {"a", address}};
    json basis = json::array({keys.pub.hex(), ev.kind, ev.tags, ev.content});
    return AgentProfile{workspace, slug, address, keys, std::move(ev), sha256_hex(basis.dump())};
}

Result<std::vector<AgentProfile>> read_agent_profiles(const std::filesystem::path& workspace,
                                                      const ProjectDefinition& project) {
    auto tenex = open_tenex(workspace, false);
    if (!tenex) return tenex.error();
    auto text = read_file_at(*tenex, "agents.json");
    if (!text) return make_error(".tenex/agents.json: " + text.error().message);
    auto index = parse_object(*text, ".tenex/agents.json");
    if (!index) return index.error();
    auto agents_dir = tenex->child("agents", false);

    std::vector<AgentProfile> out;
    const std::string address = WorkspaceManager::address_of(project);
    for (const auto& [slug, entry] : index->items()) {
        if (!entry.is_object()) continue;
        auto key = nostr::SecretKey::parse(str(entry, "nsec"));
        if (!key) {
            spdlog::warn("project {}: agent {} has no usable key in agents.json, no profile",
                         address, slug);
            continue;
        }
        const std::string file = str(entry, "file");
        if (file.size() != 69 || !is_hex64(file.substr(0, 64)) || file.substr(64) != ".json" ||
            !agents_dir) {
            spdlog::warn("project {}: agent {} has no definition file, no profile", address, slug);
            continue;
        }
        auto def_text = read_file_at(*agents_dir, file);
        if (!def_text || !def_text->has_value()) {
            spdlog::warn("project {}: agent {}: .tenex/agents/{} unreadable, no profile", address,
                         slug, file);
            continue;
        }
        auto def = parse_object(**def_text, ".tenex/agents/" + file);
        if (!def) {
            spdlog::warn("project {}: agent {}: {}", address, slug, def.error().message);
            continue;
        }
        AgentDefinition agent;
        agent.event_id = file.substr(0, 64);
        agent.name = str(*def, "name");
        agent.role = str(*def, "role");
        agent.description = str(*def, "description");
        out.push_back(make_agent_profile(workspace, slug, nostr::Keys(*key), agent, project));
    }
    return out;
}

Result<std::map<std::string, std::string>> read_published_digests(
    const std::filesystem::path& workspace) {
    auto tenex = open_tenex(workspace, false);
    if (!tenex) return tenex.error();
    auto text = read_file_at(*tenex, kDigestFile);
    if (!text) return make_error(".tenex/profiles.json: " + text.error().message);
    auto j = parse_object(*text, ".tenex/profiles.json");
    if (!j) return j.error();
    std::map<std::string, std::string> out;
    for (const auto& [pubkey, digest] : j->items())
        if (digest.is_string()) out[pubkey] = digest.get<std::string>();
    return out;
}

Status write_published_digest(const std::filesystem::path& workspace, const std::string& pubkey,
                              const std::string& digest) {
    auto tenex = open_tenex(workspace, false);
    if (!tenex) return tenex.error();
    auto text = read_file_at(*tenex, kDigestFile);
    if (!text) return make_error(".tenex/profiles.json: " + text.error().message);
    auto j = parse_object(*text, ".tenex/profiles.json");
    json doc = j ? std::move(*j) : json::object();  // a corrupt file is replaced
    doc[pubkey] = digest;
    auto w = write_file_atomic(*tenex, kDigestFile, doc.dump(2) + "\n", 0644);
    if (!w) return make_error(".tenex/profiles.json: " + w.error().message);
    return Unit{};
}

}  // namespace tenex::project
