#include "sandbox/policy_set.hpp"

#include <algorithm>
#include <system_error>

#include "sandbox/policy_schema.hpp"
#include "sandbox/runtime_contract.hpp"
#include "sandbox/units.hpp"

namespace tenex::sandbox {
namespace {

std::string join(const std::vector<std::string>& v) {
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
    return out + "]";
}

void cross_checks(ResolvedPolicy& r) {
    const Policy& p = r.policy;
    auto where = [&](const std::string& path) {
        auto it = r.provenance.find(path);
        return it == r.provenance.end() ? Location{"(built-in)", 0, 0} : it->second;
    };
    auto add = [&](const std::string& path, std::string message, Severity sev) {
        const Location l = where(path);
        r.diagnostics.push_back(Diagnostic{.file = l.file,
                                           .line = l.line,
                                           .column = l.column,
                                           .key_path = path,
                                           .message = std::move(message),
                                           .severity = sev});
    };
    if (p.resources.memory_swap_bytes != 0 &&
        p.resources.memory_swap_bytes < p.resources.memory_bytes)
        add("resources.memory_swap",
            "memory_swap (memory + swap) " + format_memory(p.resources.memory_swap_bytes) +
                " is below memory " + format_memory(p.resources.memory_bytes),
            Severity::error);
    if (p.resources.reserve_memory_bytes > p.resources.memory_bytes)
        add("resources.reservations.memory",
            "reservation " + format_memory(p.resources.reserve_memory_bytes) +
                " is above the memory limit " + format_memory(p.resources.memory_bytes),
            Severity::error);
    if (p.resources.reserve_nano_cpus > p.resources.nano_cpus)
        add("resources.reservations.cpus", "reservation is above the CPU limit resources.cpus",
            Severity::error);
    if (p.lifecycle.backoff_max < p.lifecycle.backoff_initial)
        add("lifecycle.backoff_max", "backoff_max is shorter than backoff_initial",
            Severity::error);
    if (p.network.mode == NetworkMode::egress && p.network.allow.empty() && !p.network.relays)
        add(r.provenance.count("network.allow") ? "network.allow" : "network.mode",
            "mode egress needs at least one host:port in network.allow (or relays: true)",
            Severity::error);
    // The relay gateway is served where the project has a network of its own (isolated,
    // egress); see policies/GATEWAY.md.
    const bool gateway_mode =
        p.network.mode == NetworkMode::isolated || p.network.mode == NetworkMode::egress;
    if (p.network.mode == NetworkMode::none && p.network.relays)
        add("network.relays",
            "ignored: mode none has no network, so the container cannot reach the daemon's Nostr "
            "gateway; use mode isolated or egress with relays: true",
            Severity::warning);
    else if (p.network.mode == NetworkMode::open && p.network.relays)
        add("network.relays",
            "ignored: mode open gets no Nostr gateway: its container is on the shared default "
            "bridge, where the gateway's forwarder (and its secret, in plain text) would be "
            "reachable by every container on that bridge, and it reaches relays directly anyway, "
            "so the gateway could not be its only Nostr peer; use mode isolated or egress with "
            "relays: true",
            Severity::warning);
    for (const char* key : {"network.relay_writes_per_second", "network.relay_write_burst"})
        if (r.provenance.count(key) && !(gateway_mode && p.network.relays))
            add(key,
                "ignored: the container has no relay gateway (needs mode isolated or egress with "
                "relays: true)",
                Severity::warning);
    if (p.network.mode != NetworkMode::egress && !p.network.allow.empty())
        add("network.allow",
            "ignored: the allowlist only applies to mode egress (mode is " +
                to_string(p.network.mode) + ")",
            Severity::warning);
    for (const auto& [name, file] : p.secrets)
        if (p.env.count(name))
            add("secrets." + name, "the same variable is also set in env", Severity::error);
    for (const auto& m : p.mounts)
        if (p.security.tmpfs.count(m.target))
            add("mounts", "target " + m.target + " is also a tmpfs", Severity::error);
    if (p.llm.enabled() && p.llm.model.empty())
        add("tenex.llm.provider", "the TENEX runtime needs tenex.llm.model too", Severity::error);
    const TenexLlm& llm = p.llm;
    if (llm.enabled() && llm.provider != "ollama" && llm.key_file.empty())
        add("tenex.llm.provider",
            "provider " + llm.provider +
                " needs tenex.llm.key_file (the API key, read from a host file)",
            Severity::error);
    if (llm.provider == "ollama" && llm.base_url.empty())
        add("tenex.llm.provider",
            "provider ollama needs tenex.llm.base_url (for example a local Ollama's "
            "http://127.0.0.1:11434)",
            Severity::error);
    if (llm.enabled() && !llm.base_url.empty() && !provider_takes_base_url(llm.provider))
        add("tenex.llm.base_url",
            "the backend's " + llm.provider + " provider takes no base URL: it reaches " +
                provider_endpoint(llm.provider)->to_string() + " (allow that in network.allow)",
            Severity::error);
    if (llm.enabled() && llm.base_url.empty() && provider_endpoint(llm.provider) &&
        !(p.network.mode == NetworkMode::egress &&
          std::find(p.network.allow.begin(), p.network.allow.end(),
                    *provider_endpoint(llm.provider)) != p.network.allow.end()))
        add("tenex.llm.provider",
            "without tenex.llm.base_url the runtime reaches the provider's own " +
                provider_endpoint(llm.provider)->to_string() + ": it must be in network.allow",
            Severity::error);
    if (llm.enabled() && llm.embed_base_url.empty() && !provider_embeds(llm.provider))
        add("tenex.llm.provider",
            "provider " + llm.provider +
                " has no embeddings, which the runtime needs (its default model downloads from "
                "huggingface.co at "
                "boot): name an OpenAI-compatible endpoint in tenex.llm.embed_base_url (a local "
                "Ollama's "
                "http://127.0.0.1:11434/v1, for example) and tenex.llm.embed_model",
            Severity::error);
    if (!llm.embed_base_url.empty() && llm.embed_model.empty())
        add("tenex.llm.embed_base_url", "needs tenex.llm.embed_model too", Severity::error);
    if (!llm.enabled() && (!llm.model.empty() || !llm.base_url.empty() || !llm.key_file.empty() ||
                           !llm.embed_base_url.empty() || !llm.embed_key_file.empty()))
        add("tenex.llm", "ignored without tenex.llm.provider", Severity::warning);
    if (p.llm.enabled() && !(p.network.mode == NetworkMode::egress && p.network.relays))
        add("tenex.llm.provider",
            "the TENEX runtime reaches Nostr through the daemon's relays: network.mode egress with "
            "relays: true",
            Severity::error);
    for (const auto& [key, url] : {std::pair{"tenex.llm.base_url", &llm.base_url},
                                   std::pair{"tenex.llm.embed_base_url", &llm.embed_base_url}})
        if (llm.enabled() && !url->empty() && p.network.mode != NetworkMode::egress)
            add(key,
                "a base_url is reachable only in network.mode egress, through a forwarder the "
                "daemon "
                "runs for exactly this host and port (a loopback endpoint such as a local Ollama "
                "only this way)",
                Severity::error);
    if (p.resources.disk_bytes != 0)
        add("resources.disk",
            "limits the project directory (/workspace, .tenex/ included): enforced where the "
            "projects path is on btrfs (each project directory a subvolume with a qgroup "
            "limit); elsewhere, or for a project directory made before as a plain directory, "
            "the project's start is refused with the reason (tenex-sandbox doctor tells). With "
            "security.read_only_root: false it is also the writable layer's size, which only "
            "overlay2 on xfs with pquota (or the btrfs, zfs, devicemapper drivers) honours",
            Severity::warning);
}

}  // namespace

LoadedSet load_policy_dir(const std::filesystem::path& dir) {
    LoadedSet out;
    std::error_code ec;
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        const auto ext = entry.path().extension().string();
        if ((ext == ".yaml" || ext == ".yml") && entry.is_regular_file(ec))
            files.push_back(entry.path());
    }
    if (ec) {
        out.diagnostics.push_back(
            Diagnostic{.file = dir.string(),
                       .line = 0,
                       .column = 0,
                       .key_path = "",
                       .message = "cannot read the policies directory: " + ec.message(),
                       .severity = Severity::error});
        return out;
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        LoadedFile loaded = load_policy_file(f);
        const bool is_default = f.filename() == kDefaultPolicyFile;
        if (is_default && loaded.file.match)
            loaded.diagnostics.push_back(
                Diagnostic{.file = loaded.file.name,
                           .line = loaded.file.match->where.line,
                           .column = loaded.file.match->where.column,
                           .key_path = "match",
                           .message = "default.yaml applies to every project and takes no match",
                           .severity = Severity::error});
        if (!is_default && !loaded.file.match && !has_errors(loaded.diagnostics))
            loaded.diagnostics.push_back(Diagnostic{
                .file = loaded.file.name,
                .line = 1,
                .column = 1,
                .key_path = "match",
                .message = "missing: a policy file other than default.yaml must say which projects "
                           "it applies to (match: address, d or owner)",
                .severity = Severity::error});
        const bool usable = !has_errors(loaded.diagnostics);
        out.diagnostics.insert(out.diagnostics.end(), loaded.diagnostics.begin(),
                               loaded.diagnostics.end());
        if (!usable) continue;
        if (is_default)
            out.set.defaults = std::move(loaded.file);
        else
            out.set.overrides.push_back(std::move(loaded.file));
    }
    return out;
}

ResolvedPolicy merge_policy_files(const std::vector<const PolicyFile*>& layers) {
    ResolvedPolicy r;
    std::map<std::string, const Setting*> winners;
    for (const PolicyFile* f : layers) {
        r.applied.push_back(f->name);
        for (const auto& [path, setting] : f->settings) winners[path] = &setting;
    }
    for (const auto& [path, setting] : winners) {
        const Location& where = setting->where;  // (clang 14 cannot capture a structured binding)
        apply_setting(
            r.policy, path, setting->value,
            [&](const YAML::Node&, const std::string& p, const std::string& msg, Severity sev) {
                r.diagnostics.push_back(Diagnostic{.file = where.file,
                                                   .line = where.line,
                                                   .column = where.column,
                                                   .key_path = p,
                                                   .message = msg,
                                                   .severity = sev});
            });
        r.provenance[path] = setting->where;
    }
    cross_checks(r);
    return r;
}

ResolvedPolicy resolve_policy(const PolicySet& set, const ProjectRef& project) {
    std::vector<std::pair<int, const PolicyFile*>> matching;
    for (const auto& f : set.overrides)
        if (f.match)
            if (int rank = match_rank(*f.match, project); rank > 0) matching.emplace_back(rank, &f);
    std::stable_sort(matching.begin(), matching.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<const PolicyFile*> layers;
    if (set.defaults) layers.push_back(&*set.defaults);
    for (const auto& [rank, f] : matching) layers.push_back(f);
    return merge_policy_files(layers);
}

std::vector<std::pair<std::string, std::string>> describe_policy(const Policy& p) {
    std::vector<std::pair<std::string, std::string>> out;
    auto ms = [](std::chrono::milliseconds d) { return format_duration(d); };
    out.emplace_back("image", p.image);
    out.emplace_back("command", join(p.command));
    out.emplace_back("args", join(p.args));
    for (const auto& [k, v] : p.env) out.emplace_back("env." + k, v);
    for (const auto& [k, v] : p.secrets) out.emplace_back("secrets." + k, v);
    std::vector<std::string> mounts;
    for (const auto& m : p.mounts)
        mounts.push_back(m.source + " -> " + m.target + (m.read_only ? " (ro)" : " (rw)"));
    out.emplace_back("mounts", join(mounts));
    const auto& res = p.resources;
    out.emplace_back("resources.memory", format_memory(res.memory_bytes));
    out.emplace_back("resources.memory_swap", res.memory_swap_bytes == 0
                                                  ? format_memory(res.memory_bytes) + " (= memory)"
                                                  : format_memory(res.memory_swap_bytes));
    out.emplace_back("resources.cpus", format_cpus(res.nano_cpus));
    out.emplace_back("resources.cpuset", res.cpuset.empty() ? "(any)" : res.cpuset);
    out.emplace_back("resources.pids", std::to_string(res.pids));
    out.emplace_back("resources.nofile", std::to_string(res.nofile));
    out.emplace_back("resources.disk",
                     res.disk_bytes == 0 ? "(unlimited)" : format_memory(res.disk_bytes));
    out.emplace_back("resources.reservations.memory",
                     res.reserve_memory_bytes == 0 ? "(none; engine swarm only)"
                                                   : format_memory(res.reserve_memory_bytes));
    out.emplace_back("resources.reservations.cpus", res.reserve_nano_cpus == 0
                                                        ? "(none; engine swarm only)"
                                                        : format_cpus(res.reserve_nano_cpus));
    out.emplace_back("network.mode", to_string(p.network.mode));
    std::vector<std::string> allow;
    for (const auto& hp : p.network.allow) allow.push_back(hp.to_string());
    out.emplace_back("network.allow", join(allow));
    std::string relays = p.network.relays ? "true" : "false";
    if (p.network.relays && p.network.mode == NetworkMode::isolated)
        relays += " (the daemon's relay gateway, the one thing the container reaches)";
    else if (p.network.relays && p.network.mode == NetworkMode::egress)
        relays += " (the daemon's relay gateway; its relays when the gateway is off)";
    else if (p.network.relays)
        relays += " (ignored in mode " + to_string(p.network.mode) + ")";
    out.emplace_back("network.relays", relays);
    out.emplace_back("network.relay_writes_per_second",
                     p.network.relay_writes_per_second == 0
                         ? "(the daemon's gateway.writes_per_second)"
                         : std::to_string(p.network.relay_writes_per_second));
    out.emplace_back("network.relay_write_burst",
                     p.network.relay_write_burst == 0
                         ? "(the daemon's gateway.write_burst)"
                         : std::to_string(p.network.relay_write_burst));
    const auto& l = p.lifecycle;
    out.emplace_back("lifecycle.restart", to_string(l.restart));
    out.emplace_back("lifecycle.backoff_initial", ms(l.backoff_initial));
    out.emplace_back("lifecycle.backoff_max", ms(l.backoff_max));
    out.emplace_back("lifecycle.crash_loop_threshold", std::to_string(l.crash_loop_threshold));
    out.emplace_back("lifecycle.crash_loop_window", ms(l.crash_loop_window));
    out.emplace_back("lifecycle.stop_timeout", ms(l.stop_timeout));
    out.emplace_back("lifecycle.pause_after", ms(l.pause_after));
    out.emplace_back("lifecycle.idle_timeout", ms(l.idle_timeout));
    out.emplace_back("lifecycle.keep_stopped", ms(l.keep_stopped));
    out.emplace_back("lifecycle.max_lifetime", ms(l.max_lifetime));
    out.emplace_back("lifecycle.on_policy_change", to_string(l.on_policy_change));
    const auto& s = p.security;
    out.emplace_back("security.user", s.user);
    out.emplace_back("security.read_only_root", s.read_only_root ? "true" : "false");
    for (const auto& [path, size] : s.tmpfs)
        out.emplace_back("security.tmpfs." + path, format_memory(size));
    out.emplace_back("security.cap_add", join(s.cap_add));
    out.emplace_back("security.runtime", s.runtime.empty() ? "(engine default)" : s.runtime);
    out.emplace_back("placement.constraints", p.placement.constraints.empty()
                                                  ? "(any node; engine swarm only)"
                                                  : join(p.placement.constraints));
    out.emplace_back("placement.spread", p.placement.spread.empty()
                                             ? "(over the nodes; engine swarm only)"
                                             : join(p.placement.spread));
    out.emplace_back("tenex.llm.provider",
                     p.llm.provider.empty() ? "(none: no TENEX runtime contract)" : p.llm.provider);
    out.emplace_back("tenex.llm.model", p.llm.model.empty() ? "(none)" : p.llm.model);
    out.emplace_back("tenex.llm.base_url",
                     p.llm.base_url.empty() ? "(the provider's own)" : p.llm.base_url);
    out.emplace_back("tenex.llm.key_file", p.llm.key_file.empty() ? "(none)" : p.llm.key_file);
    out.emplace_back("tenex.llm.embed_model",
                     p.llm.embed_model.empty() ? "(default)" : p.llm.embed_model);
    out.emplace_back("tenex.llm.embed_base_url",
                     p.llm.embed_base_url.empty() ? "(the chat endpoint's)" : p.llm.embed_base_url);
    out.emplace_back("tenex.llm.embed_key_file",
                     p.llm.embed_key_file.empty() ? "(none)" : p.llm.embed_key_file);
    return out;
}

}  // namespace tenex::sandbox
