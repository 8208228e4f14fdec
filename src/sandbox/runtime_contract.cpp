#include "sandbox/runtime_contract.hpp"

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/dir_fd.hpp"
#include "common/private_file.hpp"
#include "nostr/keys.hpp"

namespace tenex::sandbox {

namespace {

using json = nlohmann::json;

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; });
    return out;
}

std::optional<int> parse_port(std::string_view s) {
    if (s.empty() || s.size() > 5 ||
        !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
    const int port = std::stoi(std::string(s));
    if (port < 1 || port > 65535) return std::nullopt;
    return port;
}

bool is_ipv4(std::string_view h) {
    return !h.empty() && std::all_of(h.begin(), h.end(),
                                     [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

// nftw has no user pointer: the owner to set lives here for the walk's duration.
thread_local uid_t g_uid = 0;
thread_local gid_t g_gid = 0;
thread_local int g_chown_errno = 0;

int chown_entry(const char* path, const struct stat* st, int, struct FTW*) {
    if (st->st_uid == g_uid && st->st_gid == g_gid) return 0;
    if (::lchown(path, g_uid, g_gid) != 0 && g_chown_errno == 0) g_chown_errno = errno;
    return 0;
}

// Gives `root` and everything beneath it to uid:gid; symbolic links are changed themselves,
// never followed, and the walk stays on root's file system.
Status chown_tree(const std::filesystem::path& root, uid_t uid, gid_t gid) {
    g_uid = uid;
    g_gid = gid;
    g_chown_errno = 0;
    if (::nftw(root.c_str(), chown_entry, 32, FTW_PHYS | FTW_MOUNT) != 0)
        return make_error("cannot walk " + root.string() + ": " + std::strerror(errno));
    if (g_chown_errno != 0)
        return make_error("cannot give " + root.string() + " to " + std::to_string(uid) + ":" +
                          std::to_string(gid) + ": " + std::strerror(g_chown_errno));
    return Unit{};
}

Result<std::string> read_key_file(const std::string& key, const std::string& file) {
    auto v = read_secret_file(file);
    if (!v) return make_error(key + ": cannot read " + file);
    while (!v->empty() && v->back() == ' ') v->pop_back();
    if (v->empty()) return make_error(key + ": " + file + " is empty");
    return *v;
}

// The agents the daemon made keys for in the project's `.tenex/` (agents.json: slug ->
// {nsec, eventId}; agents/<eventId>.json: the definition), written where the backend keeps its
// own (agents/<pubkey>.json and agents/index.json of the global directory), so that it signs
// with the keys whose kind 0 profiles the daemon publishes: the owner can address an agent
// before the backend ever ran. An agent the backend already stores (its key file, or its
// definition id in the index) is left alone; so is an index that is not JSON. The project's
// files are read without following links (the sandbox can write them).
Status provision_agents(const DirFd& base, const std::filesystem::path& project_dir) {
    auto project = DirFd::open_path(project_dir.string());
    if (!project) return project.error();
    auto tenex = project->child(".tenex", false);
    if (!tenex) return Unit{};  // no layout (or a link planted instead of it): nothing to hand over
    auto keys_text = read_file_at(*tenex, "agents.json");
    if (!keys_text || !*keys_text) return Unit{};
    const json keys = json::parse(**keys_text, nullptr, false);
    if (!keys.is_object() || keys.empty()) return Unit{};
    auto defs = tenex->child("agents", false);

    auto agents = base.child("agents", true);
    if (!agents) return make_error("agents/: " + agents.error().message);
    ::fchmod(agents->get(), 0700);
    json index = {
        {"bySlug", json::object()}, {"byEventId", json::object()}, {"byProject", json::object()}};
    if (auto old = read_file_at(*agents, "index.json"); !old) {
        return make_error("agents/index.json: " + old.error().message);
    } else if (*old) {
        index = json::parse(**old, nullptr, false);
        if (!index.is_object()) return Unit{};  // the backend's file: not ours to repair
        for (const char* k : {"bySlug", "byEventId", "byProject"})
            if (!index.contains(k) || !index[k].is_object()) index[k] = json::object();
    }
    bool changed = false;
    for (const auto& [slug, entry] : keys.items()) {
        if (!entry.is_object() || !entry.contains("nsec") || !entry["nsec"].is_string()) continue;
        const std::string event_id = entry.value("eventId", "");
        auto sk = nostr::SecretKey::parse(entry["nsec"].get<std::string>());
        if (!sk || event_id.size() != 64 ||
            event_id.find_first_not_of("0123456789abcdef") != std::string::npos)
            continue;
        const std::string pubkey = sk->public_key().hex();
        const std::string file = pubkey + ".json";
        if (index["byEventId"].contains(event_id) || index["bySlug"].contains(slug)) continue;
        if (auto there = read_file_at(*agents, file); !there || *there) continue;
        json def = json::object();
        if (defs)
            if (auto text = read_file_at(*defs, event_id + ".json"); text && *text) {
                def = json::parse(**text, nullptr, false);
                if (!def.is_object()) def = json::object();
            }
        auto str = [&](const char* k, const std::string& fallback = "") {
            return def.contains(k) && def[k].is_string() ? def[k].get<std::string>() : fallback;
        };
        json stored = {{"eventId", event_id},
                       {"nsec", entry["nsec"]},
                       {"slug", slug},
                       {"name", str("name", slug)},
                       {"role", str("role", "assistant")},
                       {"description", str("description")},
                       {"instructions", str("instructions")},
                       {"useCriteria", str("useCriteria")},
                       {"status", "active"},
                       {"default", {{"model", "default"}}}};
        // The definition's d tag and author: without them the backend "migrates" the agent
        // at start (fetches the definition and rewrites this file while it boots the project,
        // which raced with its own install and made it generate a key of its own).
        stored["definitionDTag"] = str("dTag", slug);
        if (auto author = str("author"); !author.empty()) stored["definitionAuthor"] = author;
        if (def.contains("createdAt") && def["createdAt"].is_number_integer())
            stored["definitionCreatedAt"] = def["createdAt"];
        if (auto w = write_file_atomic(*agents, file, stored.dump(2), 0600); !w)
            return make_error("agents/" + file + ": " + w.error().message);
        index["bySlug"][slug] = {{"pubkey", pubkey}, {"projectIds", json::array()}};
        index["byEventId"][event_id] = pubkey;
        changed = true;
    }
    if (!changed) return Unit{};
    if (auto w = write_file_atomic(*agents, "index.json", index.dump(2), 0600); !w)
        return make_error("agents/index.json: " + w.error().message);
    return Unit{};
}

}  // namespace

std::optional<HostPort> provider_endpoint(std::string_view provider) {
    if (provider == "openai") return HostPort{"api.openai.com", 443};
    if (provider == "anthropic") return HostPort{"api.anthropic.com", 443};
    if (provider == "openrouter") return HostPort{"openrouter.ai", 443};
    return std::nullopt;
}

bool provider_takes_base_url(std::string_view provider) {
    return provider != "openrouter";
}

bool provider_embeds(std::string_view provider) {
    return provider == "ollama" || provider == "openai";
}

bool Endpoint::literal() const {
    return host == "localhost" || host.find(':') != std::string::npos || is_ipv4(host);
}

std::string Endpoint::url_with_host(const std::string& host_name) const {
    return scheme + "://" + host_name + ":" + std::to_string(port) + path;
}

std::optional<Endpoint> parse_endpoint(std::string_view url) {
    static const std::pair<const char*, int> kSchemes[] = {
        {"http", 80}, {"https", 443}, {"ws", 80}, {"wss", 443}};
    const auto sep = url.find("://");
    if (sep == std::string_view::npos) return std::nullopt;
    Endpoint e;
    e.scheme = lower(url.substr(0, sep));
    for (const auto& [name, port] : kSchemes)
        if (e.scheme == name) e.port = port;
    if (e.port == 0) return std::nullopt;
    std::string_view rest = url.substr(sep + 3);
    if (rest.find('#') != std::string_view::npos) return std::nullopt;
    for (char c : rest)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return std::nullopt;
    const auto slash = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, slash);
    if (slash != std::string_view::npos) e.path = std::string(rest.substr(slash));
    if (!e.path.empty() && e.path.front() == '?') e.path.insert(e.path.begin(), '/');
    if (authority.find('@') != std::string_view::npos) return std::nullopt;
    std::string_view port;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        e.host = lower(authority.substr(1, close - 1));
        std::string_view tail = authority.substr(close + 1);
        if (!tail.empty()) {
            if (tail.front() != ':') return std::nullopt;
            port = tail.substr(1);
        }
        if (e.host.find_first_not_of("0123456789abcdef:.") != std::string::npos)
            return std::nullopt;
    } else {
        const auto colon = authority.rfind(':');
        e.host = lower(authority.substr(0, colon));
        if (colon != std::string_view::npos) port = authority.substr(colon + 1);
        if (e.host.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-_") !=
            std::string::npos)
            return std::nullopt;
    }
    if (e.host.empty()) return std::nullopt;
    if (!port.empty() || (authority.size() && authority.back() == ':')) {
        auto p = parse_port(port);
        if (!p) return std::nullopt;
        e.port = *p;
    }
    return e;
}

Result<std::string> runtime_project_path(const std::string& d) {
    if (d.empty() || d == "." || d == ".." || d.size() > 255 || d.find('/') != std::string::npos ||
        d.find('\0') != std::string::npos)
        return make_error("the identifier \"" + d.substr(0, 64) +
                          "\" cannot be a directory name of the TENEX runtime (projectsBase/<d>)");
    return std::string(kRuntimeProjectsBase) + "/" + d;
}

RuntimeFiles runtime_files(const TenexLlm& llm, const RuntimeInputs& in) {
    const bool ollama = llm.provider == "ollama";
    const std::string ollama_url = in.llm_url.empty() ? "http://127.0.0.1:11434" : in.llm_url;
    json provider_entry = {
        {"apiKey", ollama ? (in.llm_url.empty() ? std::string("local") : in.llm_url) : in.api_key}};
    // Embeddings (the backend's default downloads a model from huggingface.co at boot): an
    // OpenAI-compatible endpoint, the policy's own or the chat provider's.
    json embed = {{"provider", "openai"}};
    if (!in.embed_url.empty()) {
        embed["model"] = llm.embed_model;
        embed["apiKey"] = in.embed_api_key.empty() ? std::string("none") : in.embed_api_key;
        embed["baseUrl"] = in.embed_url;
    } else {
        embed["model"] = !llm.embed_model.empty() ? llm.embed_model
                         : ollama                 ? std::string("nomic-embed-text")
                                                  : std::string("text-embedding-3-small");
        embed["apiKey"] = ollama ? std::string("ollama") : in.api_key;
        embed["baseUrl"] =
            ollama ? ollama_url + "/v1"
                   : (in.llm_url.empty() ? std::string("https://api.openai.com/v1") : in.llm_url);
    }
    return RuntimeFiles{
        .config = json{{"whitelistedPubkeys", json::array({in.owner})},
                       {"relays", in.relays},
                       {"projectsBase", kRuntimeProjectsBase},
                       {"tenexPrivateKey", in.backend_key_hex},
                       {"backendName", "tenex-sandbox " + in.d},
                       {"telemetry", {{"enabled", false}}},
                       {"nip46", {{"enabled", false}}}}
                      .dump(2),
        .llms =
            json{{"configurations", {{"main", {{"provider", llm.provider}, {"model", llm.model}}}}},
                 {"default", "main"}}
                .dump(2),
        .providers = json{{"providers", {{llm.provider, provider_entry}}}}.dump(2),
        .embed = embed.dump(2),
    };
}

Status prepare_runtime_dir(const std::filesystem::path& dir,
                           const std::filesystem::path& project_dir, const Policy& policy,
                           RuntimeInputs in) {
    unsigned long uid = 0, gid = 0;
    if (std::sscanf(policy.security.user.c_str(), "%lu:%lu", &uid, &gid) != 2 || uid == 0 ||
        gid == 0)
        return make_error("security.user must be \"uid:gid\" for the TENEX runtime");
    std::error_code ec;
    std::filesystem::create_directories(dir.parent_path(), ec);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        return make_error("cannot create " + dir.string() + ": " + std::strerror(errno));
    auto fd = DirFd::open_path(dir.string());
    if (!fd) return fd.error();
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        return make_error(dir.string() + " is not a directory");

    // The backend key of an earlier run, so the project keeps its identity.
    if (auto old = read_file_at(*fd, "config.json"); old && *old) {
        auto j = json::parse(**old, nullptr, false);
        if (j.is_object() && j.contains("tenexPrivateKey") && j["tenexPrivateKey"].is_string())
            if (auto k = nostr::SecretKey::parse(j["tenexPrivateKey"].get<std::string>()))
                in.backend_key_hex = k->reveal_hex();
    }
    if (in.backend_key_hex.empty()) in.backend_key_hex = nostr::SecretKey::generate().reveal_hex();
    if (!policy.llm.key_file.empty()) {
        auto key = read_key_file("tenex.llm.key_file", policy.llm.key_file);
        if (!key) return key.error();
        in.api_key = *key;
    }
    if (!policy.llm.embed_key_file.empty()) {
        auto key = read_key_file("tenex.llm.embed_key_file", policy.llm.embed_key_file);
        if (!key) return key.error();
        in.embed_api_key = *key;
    }
    const RuntimeFiles files = runtime_files(policy.llm, in);
    for (const auto& [name, text] :
         {std::pair{"config.json", &files.config}, std::pair{"llms.json", &files.llms},
          std::pair{"providers.json", &files.providers}, std::pair{"embed.json", &files.embed}}) {
        auto w = write_file_atomic(*fd, name, *text, 0600);
        if (!w)
            return make_error(std::string(name) + " in " + dir.string() + ": " + w.error().message);
    }
    if (auto agents = provision_agents(*fd, project_dir); !agents) return agents;
    if (auto s = chown_tree(dir, static_cast<uid_t>(uid), static_cast<gid_t>(gid)); !s) return s;
    return chown_tree(project_dir, static_cast<uid_t>(uid), static_cast<gid_t>(gid));
}

}  // namespace tenex::sandbox
