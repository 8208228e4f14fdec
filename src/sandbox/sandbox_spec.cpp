#include "sandbox/sandbox_spec.hpp"

#include "common/host_path.hpp"
#include "common/private_file.hpp"
#include "common/sha256.hpp"
#include "sandbox/runtime_contract.hpp"
#include "sandbox/seccomp_profile.hpp"

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

namespace tenex::sandbox {
namespace {

std::string slug(const std::string& d) {
    std::string out;
    for (char c : d) {
        char l = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        const bool ok = (l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '_' || l == '.';
        if (ok)
            out.push_back(l);
        else if (!out.empty() && out.back() != '-')
            out.push_back('-');
        if (out.size() >= 40) break;
    }
    while (!out.empty() && (out.back() == '-' || out.back() == '.' || out.back() == '_'))
        out.pop_back();
    while (!out.empty() && (out.front() == '.' || out.front() == '_' || out.front() == '-'))
        out.erase(out.begin());
    return out.empty() ? "project" : out;
}

std::string suffix(const ProjectRef& p) {
    return slug(p.d) + "-" + sha256_hex(p.address()).substr(0, 12);
}

// Everything that shapes the container, with secrets as references, in a canonical form
// (nlohmann::json objects are sorted by key).
nlohmann::json canonical(const docker::ContainerSpec& c, const NetworkPlan& net, const Policy& p) {
    nlohmann::json ulimits = nlohmann::json::array();
    for (const auto& u : c.ulimits) ulimits.push_back({u.name, u.soft, u.hard});
    nlohmann::json mounts = nlohmann::json::array();
    for (const auto& m : c.mounts) mounts.push_back({m.source, m.target, m.read_only});
    nlohmann::json allow = nlohmann::json::array();
    for (const auto& a : net.allow) allow.push_back(a.to_string());
    nlohmann::json forwards = nlohmann::json::array();
    for (const auto& f : net.forwards)
        forwards.push_back({f.name, f.port, f.target_host, f.target_port, f.trusted});
    nlohmann::json out = {
        {"v", 1},
        {"name", c.name},
        {"image", c.image},
        {"entrypoint", c.entrypoint},
        {"cmd", c.cmd},
        {"env", c.env},
        {"labels", c.labels},
        {"user", c.user},
        {"working_dir", c.working_dir},
        {"hostname", c.hostname},
        {"stop_signal", c.stop_signal},
        {"stop_timeout_s", c.stop_timeout_s.value_or(-1)},
        {"memory", c.memory_bytes},
        {"memory_swap", c.memory_swap_bytes},
        {"nano_cpus", c.nano_cpus},
        {"cpuset", c.cpuset_cpus},
        {"pids", c.pids_limit.value_or(-1)},
        {"ulimits", ulimits},
        {"read_only_rootfs", c.read_only_rootfs},
        {"tmpfs", c.tmpfs},
        {"cap_drop", c.cap_drop},
        {"cap_add", c.cap_add},
        {"security_opt", c.security_opt},
        {"init", c.init},
        {"mounts", mounts},
        {"network_mode", c.network_mode},
        {"storage_opt", c.storage_opt},
        {"runtime", c.runtime},
        {"extra_hosts", c.extra_hosts},
        {"dns", c.dns},
        {"network",
         {{"mode", to_string(net.mode)},
          {"name", net.network_name},
          {"internal", net.internal},
          {"allow", allow},
          {"bridge", net.bridge},
          {"forwards", forwards}}},
        {"secrets", p.secrets},  // names and files, never values
    };
    // Swarm scheduling, only when set: the digest of every container made before these keys
    // existed stays the same (an upgrade replaces nothing).
    if (c.memory_reservation_bytes || c.nano_cpus_reservation || !c.placement_constraints.empty() ||
        !c.placement_spread.empty())
        out["scheduling"] = {{"reserve_memory", c.memory_reservation_bytes},
                             {"reserve_cpus", c.nano_cpus_reservation},
                             {"constraints", c.placement_constraints},
                             {"spread", c.placement_spread}};
    return out;
}

// Where the runtime reaches an endpoint of its LLM provider (`key`: tenex.llm.base_url or
// tenex.llm.embed_base_url; `alias`: the forwarder's name for an address literal). A policy's URL
// is reached through a forwarder in mode egress (the one way a loopback endpoint such as a local
// Ollama is reachable, and only because the policy names it): under the URL's own host name when
// it has one (so that TLS names match), else under `alias`; directly in mode open (a public name
// only); not at all in modes none and isolated.
template <class AddForward>
Result<std::string> plan_endpoint(const std::string& key, const std::string& url, const char* alias,
                                  const NetworkPlan& net, AddForward&& add) {
    auto e = parse_endpoint(url);
    if (!e || (e->scheme != "http" && e->scheme != "https"))
        return make_error(key + ": not an http(s) URL: " + url);
    if (net.mode == NetworkMode::egress) {
        const std::string name = e->literal() ? std::string(alias) : e->host;
        add(Forward{.name = name,
                    .port = e->port,
                    .target_host = e->host,
                    .target_port = e->port,
                    .trusted = true});
        return e->literal() ? e->url_with_host(name) : url;
    }
    if (net.mode == NetworkMode::open && !e->literal()) return url;
    return make_error(key + " " + url + " is not reachable in network mode " + to_string(net.mode) +
                      " (egress forwards it; open reaches public names only)");
}

// The chat endpoint: the policy's base_url, or the provider's own, which must then be
// reachable (mode open, or egress with it in network.allow); and the embeddings endpoint when
// the policy names one (the providers without embeddings need it).
template <class AddForward>
Status plan_llm_endpoints(const Policy& p, const NetworkPlan& net, SandboxSpec& out,
                          AddForward&& add) {
    const TenexLlm& llm = p.llm;
    if (!llm.base_url.empty()) {
        if (!provider_takes_base_url(llm.provider))
            return make_error("tenex.llm.base_url: provider " + llm.provider +
                              " takes no base URL");
        auto url = plan_endpoint("tenex.llm.base_url", llm.base_url, kLlmHostName, net, add);
        if (!url) return url.error();
        out.llm_url = *url;
    } else if (const auto own = provider_endpoint(llm.provider); !own) {
        return make_error("tenex.llm: provider " + llm.provider + " needs tenex.llm.base_url");
    } else if (net.mode != NetworkMode::open &&
               !(net.mode == NetworkMode::egress &&
                 std::find(net.allow.begin(), net.allow.end(), *own) != net.allow.end())) {
        return make_error(
            "tenex.llm: without base_url the provider's own endpoint " + own->to_string() +
            " must be reachable (network.mode open, or egress with it in network.allow)");
    }
    if (!llm.embed_base_url.empty()) {
        if (llm.embed_model.empty())
            return make_error("tenex.llm.embed_base_url needs tenex.llm.embed_model");
        auto url =
            plan_endpoint("tenex.llm.embed_base_url", llm.embed_base_url, kEmbedHostName, net, add);
        if (!url) return url.error();
        out.embed_url = *url;
    } else if (!provider_embeds(llm.provider)) {
        return make_error(
            "tenex.llm: provider " + llm.provider +
            " has no embeddings: name an OpenAI-compatible endpoint in tenex.llm.embed_base_url");
    }
    return Unit{};
}

}  // namespace

SpecContext project_spec_context(const ProjectRef& project, std::filesystem::path project_dir,
                                 std::string daemon_id, SecretMode secrets,
                                 std::vector<std::string> relays) {
    auto naddr = project.has_owner() ? encode_naddr(project) : Result<std::string>(std::string());
    return SpecContext{.project = project,
                       .naddr = naddr ? *naddr : std::string(),
                       .project_dir = std::move(project_dir),
                       .daemon_id = std::move(daemon_id),
                       .secrets = secrets,
                       .relays = std::move(relays)};
}

std::string container_name(const ProjectRef& project) {
    return "tenex-" + suffix(project);
}
std::string network_name(const ProjectRef& project) {
    return "tenex-net-" + suffix(project);
}
std::string bridge_name(const ProjectRef& project) {
    return "tnx-" + sha256_hex(project.address()).substr(0, 11);
}
std::string redacted_secret(const std::string& file) {
    return "<secret from " + file + ">";
}

Result<RelayRoute> relay_route(const std::string& url, int index) {
    if (!url.starts_with("ws://") && !url.starts_with("wss://"))
        return make_error("relay URL must start with ws:// or wss://: " + url);
    auto e = parse_endpoint(url);
    if (!e && url.find('@') != std::string::npos)
        return make_error("relay URL with credentials is not forwarded");
    if (!e) return make_error("bad relay URL: " + url);
    RelayRoute r;
    r.forward = Forward{.name = e->literal() ? "tenex-relay-" + std::to_string(index) : e->host,
                        .port = e->port,
                        .target_host = e->host,
                        .target_port = e->port,
                        .trusted = true};
    r.inside_url = e->literal() ? e->url_with_host(r.forward.name) : url;
    return r;
}

std::string expand_placeholders(const std::string& text, const SpecContext& ctx) {
    const std::pair<std::string, std::string> subs[] = {
        {"{address}", ctx.project.address()},
        {"{d}", ctx.project.d},
        {"{naddr}", ctx.naddr},
        {"{owner}", ctx.project.owner},
    };
    std::string out;
    for (std::size_t i = 0; i < text.size();) {
        bool replaced = false;
        for (const auto& [key, value] : subs) {
            if (text.compare(i, key.size(), key) == 0) {
                out += value;
                i += key.size();
                replaced = true;
                break;
            }
        }
        if (!replaced) out.push_back(text[i++]);
    }
    return out;
}

namespace {

// A container's variables while its spec is built: the plain ones, the secrets (their values,
// or markers when redacted), and TENEX_RELAYS for the relay gateway, which holds the gateway's
// secret and so is treated like one: the digest sees the marker, the container the value.
struct Environment {
    std::map<std::string, std::string> plain{};
    std::map<std::string, std::string> secrets{};
    std::optional<std::string> gateway_relays{};
};

// Identity: the name, image, command and arguments (placeholders expanded), user, working
// directory, hostname and how it is stopped.
void set_identity(docker::ContainerSpec& c, const Policy& p, const SpecContext& ctx) {
    c.name = container_name(ctx.project);
    c.image = p.image;
    for (const auto& a : p.command) c.entrypoint.push_back(expand_placeholders(a, ctx));
    for (const auto& a : p.args) c.cmd.push_back(expand_placeholders(a, ctx));
    c.user = p.security.user;
    c.working_dir = kWorkspace;
    c.hostname = c.name.substr(0, 63);
    c.stop_signal = "SIGTERM";
    c.stop_timeout_s = static_cast<int>((p.lifecycle.stop_timeout.count() + 999) / 1000);
}

// Environment: the project's variables, the policy's own (placeholders expanded), and the
// secrets, read from their host files (SecretMode::read) or redacted.
Result<Environment> build_environment(const Policy& p, const SpecContext& ctx) {
    Environment env;
    env.plain = {
        {"HOME", "/tmp"},
        {"TENEX_PROJECT_ADDRESS", ctx.project.address()},
        {"TENEX_PROJECT_D", ctx.project.d},
        {"TENEX_PROJECT_OWNER", ctx.project.owner},
        {"TENEX_PROJECT_NADDR", ctx.naddr},
        {"TENEX_WORKSPACE", kWorkspace},
    };
    for (const auto& [k, v] : p.env) env.plain[k] = expand_placeholders(v, ctx);
    for (const auto& [name, file] : p.secrets) {
        if (ctx.secrets == SecretMode::redact) {
            env.secrets[name] = redacted_secret(file);
            continue;
        }
        auto value = read_secret_file(file);
        if (!value) return make_error("secret " + name + ": cannot read " + file);
        env.secrets[name] = std::move(*value);
    }
    return env;
}

// Labels: the ones the daemon finds its containers by (the digest's is added last).
void set_labels(docker::ContainerSpec& c, const SpecContext& ctx) {
    c.labels = {
        {kLabelManagedBy, kManagedByValue},
        {kLabelDaemon, ctx.daemon_id},
        {kLabelProject, ctx.project.address()},
    };
}

// Resources: memory (no swap unless the policy gives some), CPU, pids, open files, the
// reservations and placement of engine swarm, and the writable layer's size.
void set_resources(docker::ContainerSpec& c, const Policy& p) {
    const auto& r = p.resources;
    c.memory_bytes = r.memory_bytes;
    c.memory_swap_bytes = r.memory_swap_bytes == 0 ? r.memory_bytes : r.memory_swap_bytes;
    c.nano_cpus = r.nano_cpus;
    c.cpuset_cpus = r.cpuset;
    c.pids_limit = r.pids;
    c.ulimits = {docker::Ulimit{.name = "nofile", .soft = r.nofile, .hard = r.nofile}};
    c.memory_reservation_bytes = r.reserve_memory_bytes;
    c.nano_cpus_reservation = r.reserve_nano_cpus;
    c.placement_constraints = p.placement.constraints;
    c.placement_spread = p.placement.spread;
    // resources.disk is the project directory's limit (the orchestrator sets it on the
    // directory); a writable root gets the same size for its layer.
    if (r.disk_bytes > 0 && !p.security.read_only_root)
        c.storage_opt = {{"size", std::to_string(r.disk_bytes)}};
}

// Hardening: read-only root with its tmpfs, every capability dropped but the policy's, no new
// privileges, the daemon's seccomp profile, an init process and the policy's runtime.
Status set_hardening(docker::ContainerSpec& c, const Policy& p) {
    c.read_only_rootfs = p.security.read_only_root;
    for (const auto& [path, size] : p.security.tmpfs)
        c.tmpfs[path] = "rw,nosuid,nodev,noexec,size=" + std::to_string(size) + ",mode=1777";
    c.cap_drop = {"ALL"};
    c.cap_add = p.security.cap_add;
    c.security_opt = {"no-new-privileges:true"};
    // Every container gets the daemon's own seccomp profile (seccomp_profile.hpp): an allow list
    // without namespaces, mounts and other kernel surface, and without the ioctls that make a
    // nested subvolume or snapshot, which would escape a disk limit (a qgroup on the project's
    // subvolume). Every container, not only those with a limit: a reload sets a limit on a
    // running container without a new one, and a subvolume made while a project had no limit
    // would escape a limit set later.
    auto profile = sandbox_seccomp_profile();
    if (!profile) return make_error("seccomp profile: " + profile.error().message);
    c.security_opt.push_back("seccomp=" + *profile);
    c.init = true;
    c.runtime = p.security.runtime;
    return Unit{};
}

// Mounts: the project directory at the workspace (for the TENEX runtime, which finds its
// project at projectsBase/<d> and its state at /tenex, there and the runtime directory at
// /tenex), then the policy's own mounts inside the project directory.
Status set_mounts(docker::ContainerSpec& c, Environment& env, const Policy& p,
                  const SpecContext& ctx, const std::filesystem::path& project_dir) {
    std::string workspace = kWorkspace;
    if (p.llm.enabled()) {
        auto inside = runtime_project_path(ctx.project.d);
        if (!inside) return inside.error();
        if (ctx.runtime_dir.empty())
            return make_error("no runtime directory for the TENEX runtime");
        workspace = *inside;
        c.working_dir = workspace;
        env.plain["TENEX_WORKSPACE"] = workspace;
        env.plain["TENEX_PROJECT_D"] = ctx.project.d;
        env.plain["TENEX_BASE_DIR"] = kRuntimeBaseDir;
        env.plain["HOME"] = std::string(kRuntimeBaseDir) + "/home";
    }
    c.mounts.push_back(
        docker::BindMount{.source = project_dir.string(), .target = workspace, .read_only = false});
    if (p.llm.enabled())
        c.mounts.push_back(docker::BindMount{.source = ctx.runtime_dir.lexically_normal().string(),
                                             .target = kRuntimeBaseDir,
                                             .read_only = false});
    for (const auto& m : p.mounts)
        c.mounts.push_back(
            docker::BindMount{.source = (project_dir / m.source).lexically_normal().string(),
                              .target = m.target,
                              .read_only = m.read_only});
    return Unit{};
}

// Adds a forward unless one with the same name and port is there already.
void add_forward(NetworkPlan& net, const Forward& f) {
    for (const auto& g : net.forwards)
        if (g.name == f.name && g.port == f.port) return;
    net.forwards.push_back(f);
}

// Network, the container's side: its Docker network (none, the default bridge, or a
// per-project internal network with no upstream resolver) and the plan's network and bridge.
void plan_network(docker::ContainerSpec& c, NetworkPlan& net, const Policy& p,
                  const SpecContext& ctx) {
    net.mode = p.network.mode;
    switch (p.network.mode) {
        case NetworkMode::none:
            c.network_mode = "none";
            break;
        case NetworkMode::open:
            c.network_mode = "bridge";
            break;
        case NetworkMode::isolated:
        case NetworkMode::egress:
            net.network_name = network_name(ctx.project);
            net.internal = true;
            c.network_mode = net.network_name;
            c.dns = {kNoUpstreamResolver};
            break;
    }
    const bool own_network =
        p.network.mode == NetworkMode::isolated || p.network.mode == NetworkMode::egress;
    if (own_network) net.bridge = bridge_name(ctx.project);
    // egress: one forward per allowed destination (public targets only).
    if (p.network.mode == NetworkMode::egress) {
        net.allow = p.network.allow;
        for (const auto& a : p.network.allow)
            add_forward(net, Forward{.name = a.host,
                                     .port = a.port,
                                     .target_host = a.host,
                                     .target_port = a.port,
                                     .trusted = false});
    }
}

// Network, the relays (network.relays): the relay gateway's forwarder and its URL with this
// container's secret, or without a gateway (egress only) the daemon's relays themselves.
Status plan_relays(SandboxSpec& out, Environment& env, const Policy& p, const SpecContext& ctx) {
    NetworkPlan& net = out.network;
    const bool own_network =
        p.network.mode == NetworkMode::isolated || p.network.mode == NetworkMode::egress;
    // The gateway is served in the two modes with a network of the project's own: egress, and
    // isolated, where its forwarder is the one thing the container reaches. Not in open: the
    // default bridge is shared (the forwarder and the secret would be on a segment every
    // container there reaches) and an open container reaches relays directly anyway.
    if (!own_network || !p.network.relays) return Unit{};
    if (ctx.gateway_port != 0) {
        // The gateway: the container's only Nostr peer, scoped to its project.
        add_forward(net, Forward{.name = kGatewayName,
                                 .port = ctx.gateway_port,
                                 .target_host = "127.0.0.1",
                                 .target_port = ctx.gateway_port,
                                 .trusted = true});
        const std::string base =
            std::string("ws://") + kGatewayName + ":" + std::to_string(ctx.gateway_port) + "/";
        net.relay_urls.push_back(base + kRedactedGatewaySecret);
        if (!p.env.count("TENEX_RELAYS")) {
            if (ctx.secrets == SecretMode::read && ctx.gateway_secret.empty())
                return make_error("network.relays: no gateway secret for this container");
            env.gateway_relays = base + (ctx.secrets == SecretMode::read ? ctx.gateway_secret
                                                                         : kRedactedGatewaySecret);
        }
        out.container_relays = {env.gateway_relays.value_or(net.relay_urls.back())};
    } else if (p.network.mode == NetworkMode::egress) {
        // The gateway is off: the daemon's relays themselves (never in isolated, which
        // reaches no relay).
        int index = 0;
        for (const auto& url : ctx.relays) {
            auto route = relay_route(url, ++index);
            if (!route) return make_error("network.relays: " + route.error().message);
            add_forward(net, route->forward);
            net.relay_urls.push_back(route->inside_url);
        }
        out.container_relays = net.relay_urls;
        if (!net.relay_urls.empty() && !p.env.count("TENEX_RELAYS")) {
            std::string joined;
            for (const auto& u : net.relay_urls) joined += (joined.empty() ? "" : ",") + u;
            env.plain["TENEX_RELAYS"] = joined;
        }
    }
    return Unit{};
}

// The TENEX runtime (tenex.llm): its LLM endpoints (forwarded in egress), the base URL
// variables its providers' SDKs read, and the relays it cannot run without.
Status plan_runtime(SandboxSpec& out, Environment& env, const Policy& p) {
    if (!p.llm.enabled()) return Unit{};
    NetworkPlan& net = out.network;
    auto add = [&net](const Forward& f) { add_forward(net, f); };
    if (auto st = plan_llm_endpoints(p, net, out, add); !st) return st.error();
    // The backend creates these providers without a baseURL: their SDKs read it from here.
    if (p.llm.provider == "openai" && !out.llm_url.empty())
        env.plain["OPENAI_BASE_URL"] = out.llm_url;
    if (p.llm.provider == "anthropic" && !out.llm_url.empty())
        env.plain["ANTHROPIC_BASE_URL"] = out.llm_url;
    if (net.relay_urls.empty())
        return make_error(
            "the TENEX runtime needs the daemon's relays: network.mode egress with relays: "
            "true");
    return Unit{};
}

// The digest (and its label) over everything that shapes the container, secrets seen only as
// references so that it is the same for render and start; then the container's variables.
void seal(SandboxSpec& out, const Environment& env, const Policy& p, const SpecContext& ctx) {
    docker::ContainerSpec& c = out.container;
    docker::ContainerSpec for_digest = c;
    for (const auto& [k, v] : env.plain) for_digest.env.push_back(k + "=" + v);
    for (const auto& [k, file] : p.secrets)
        for_digest.env.push_back(k + "=" + redacted_secret(file));
    if (env.gateway_relays)
        for_digest.env.push_back("TENEX_RELAYS=ws://" + std::string(kGatewayName) + ":" +
                                 std::to_string(ctx.gateway_port) + "/" + kRedactedGatewaySecret);
    std::sort(for_digest.env.begin(), for_digest.env.end());
    out.digest = sha256_hex(canonical(for_digest, out.network, p).dump());
    c.labels[kLabelPolicyDigest] = out.digest;

    std::map<std::string, std::string> vars = env.plain;
    for (const auto& [k, v] : env.secrets) {
        vars[k] = v;
        c.secret_env.push_back(k);
    }
    if (env.gateway_relays) vars["TENEX_RELAYS"] = *env.gateway_relays;
    for (const auto& [k, v] : vars) c.env.push_back(k + "=" + v);
}

}  // namespace

Result<SandboxSpec> build_sandbox_spec(const Policy& p, const SpecContext& ctx) {
    if (!ctx.project_dir.is_absolute())
        return make_error("the project directory must be an absolute path: " +
                          ctx.project_dir.string());
    const std::filesystem::path project_dir = ctx.project_dir.lexically_normal();
    SandboxSpec out;
    docker::ContainerSpec& c = out.container;
    set_identity(c, p, ctx);
    auto env = build_environment(p, ctx);
    if (!env) return env.error();
    set_labels(c, ctx);
    set_resources(c, p);
    if (auto st = set_hardening(c, p); !st) return st.error();
    if (auto st = set_mounts(c, *env, p, ctx, project_dir); !st) return st.error();
    plan_network(c, out.network, p, ctx);
    if (auto st = plan_relays(out, *env, p, ctx); !st) return st.error();
    if (auto st = plan_runtime(out, *env, p); !st) return st.error();
    seal(out, *env, p, ctx);
    return out;
}

Status verify_mount_sources(const Policy& p, const std::filesystem::path& project_dir,
                            std::string_view mountinfo) {
    for (const auto& m : p.mounts) {
        auto source = resolve_beneath(project_dir, m.source);
        if (!source)
            return make_error("mount " + m.source + " -> " + m.target + ": " +
                              source.error().message);
        if (!m.read_only) continue;
        auto below = mountinfo.empty()
                         ? mounts_beneath(*source)
                         : Result<std::vector<std::string>>(mounts_beneath(*source, mountinfo));
        if (!below) return make_error("mount " + m.source + ": " + below.error().message);
        if (!below->empty())
            return make_error("read-only mount " + m.source + " -> " + m.target + ": " +
                              below->front() +
                              " is mounted beneath it, and a read-only bind does not reach "
                              "submounts on this engine; remove the submount or the mount");
    }
    return Unit{};
}

}  // namespace tenex::sandbox
