// tenex-sandbox policy check|show|render: validate policy files, show the merged policy of a
// project with where each value came from, and print the Docker create request it becomes.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "cli/doctor_checks.hpp"
#include "docker/api_version.hpp"
#include "docker/container_spec.hpp"
#include "sandbox/policy_set.hpp"
#include "sandbox/sandbox_spec.hpp"
#include "sandbox/swarm_engine.hpp"

namespace tenex::cli {
namespace {

namespace fs = std::filesystem;
using namespace tenex::sandbox;

// Prints each diagnostic once; returns whether any was an error. Notes whether some policy
// sets resources.disk (its warning), which check then asks the engine about.
bool g_disk_set = false;
bool print_diagnostics(const std::vector<Diagnostic>& diags, std::set<std::string>& printed) {
    bool errors = false;
    for (const auto& d : diags) {
        if (d.key_path == "resources.disk") g_disk_set = true;
        const std::string line = format_diagnostic(d);
        if (printed.insert(line).second) std::fprintf(stderr, "%s\n", line.c_str());
        errors = errors || d.severity == Severity::error;
    }
    return errors;
}

// What the merged policy loses on the daemon's engine, located where the key was set (the
// last file of the merge when the value is a built-in default): on a swarm what a service
// cannot carry; on one engine the swarm scheduler's keys.
bool print_engine_diagnostics(const ResolvedPolicy& merged, const std::string& file, bool swarm,
                              std::set<std::string>& printed) {
    std::vector<Diagnostic> diags;
    if (swarm)
        diags = swarm_policy_diagnostics(merged.policy, file);
    else
        for (const char* key : {"resources.reservations.memory", "resources.reservations.cpus",
                                "placement.constraints", "placement.spread"})
            if (merged.provenance.count(key))
                diags.push_back({.file = file,
                                 .line = 0,
                                 .column = 0,
                                 .key_path = key,
                                 .message = "ignored by engine docker: only a swarm's scheduler "
                                            "places by it (engine swarm)",
                                 .severity = Severity::warning});
    for (auto& d : diags)
        if (auto it = merged.provenance.find(d.key_path); it != merged.provenance.end()) {
            d.file = it->second.file;
            d.line = it->second.line;
            d.column = it->second.column;
        }
    return print_diagnostics(diags, printed);
}

// Files given: each is validated alone, then merged over the default.yaml beside it (if any)
// for the rules that span keys. No files: the whole policies directory.
int run_check(const std::vector<std::string>& files, const std::string& dir,
              const std::string& projects_path, bool swarm) {
    std::set<std::string> printed;
    bool errors = false;
    std::size_t count = 0;
    if (files.empty()) {
        LoadedSet loaded = load_policy_dir(dir);
        errors = print_diagnostics(loaded.diagnostics, printed) || errors;
        std::vector<const PolicyFile*> base;
        if (loaded.set.defaults) base.push_back(&*loaded.set.defaults);
        const auto merged_base = merge_policy_files(base);
        errors = print_diagnostics(merged_base.diagnostics, printed) || errors;
        errors = print_engine_diagnostics(
                     merged_base, (fs::path(dir) / kDefaultPolicyFile).string(), swarm, printed) ||
                 errors;
        for (const auto& f : loaded.set.overrides) {
            auto layers = base;
            layers.push_back(&f);
            const auto merged = merge_policy_files(layers);
            errors = print_diagnostics(merged.diagnostics, printed) || errors;
            errors = print_engine_diagnostics(merged, f.name, swarm, printed) || errors;
        }
        count = (loaded.set.defaults ? 1 : 0) + loaded.set.overrides.size();
        if (count == 0 && !errors) {
            std::fprintf(stderr, "%s: no policy files (*.yaml)\n", dir.c_str());
            return 1;
        }
    } else {
        for (const auto& name : files) {
            LoadedFile loaded = load_policy_file(name);
            const bool file_errors = print_diagnostics(loaded.diagnostics, printed);
            errors = errors || file_errors;
            if (file_errors) continue;
            ++count;
            std::vector<const PolicyFile*> layers;
            LoadedFile beside;
            const fs::path def = fs::path(name).parent_path() / kDefaultPolicyFile;
            if (fs::path(name).filename() != kDefaultPolicyFile && fs::exists(def)) {
                beside = load_policy_file(def);
                if (!has_errors(beside.diagnostics)) layers.push_back(&beside.file);
            }
            layers.push_back(&loaded.file);
            const auto merged = merge_policy_files(layers);
            errors = print_diagnostics(merged.diagnostics, printed) || errors;
            errors = print_engine_diagnostics(merged, name, swarm, printed) || errors;
        }
    }
    if (g_disk_set) {
        // Whether this machine can enforce it on the project directories: a policy whose
        // projects cannot start here is an error. The engine's writable-layer support matters
        // only for writable roots: told, not judged.
        const auto limits = disk_limit_support(projects_path);
        std::fprintf(stderr, "%s\n", limits.detail.c_str());
        if (!limits.enforceable) errors = true;
        const auto support = disk_quota_support("");
        std::fprintf(stderr, "resources.disk: this engine: %s\n", support.detail.c_str());
    }
    if (errors) return 1;
    std::printf("ok: %zu policy file%s valid\n", count, count == 1 ? "" : "s");
    return 0;
}

// Loads the directory and resolves the project; prints errors and returns nullopt on any.
std::optional<std::pair<ProjectRef, ResolvedPolicy>> resolve(const std::string& project,
                                                             const std::string& dir) {
    auto ref = parse_project_arg(project);
    if (!ref) {
        std::fprintf(stderr, "%s: %s\n", project.c_str(), ref.error().message.c_str());
        return std::nullopt;
    }
    std::set<std::string> printed;
    LoadedSet loaded = load_policy_dir(dir);
    bool errors = print_diagnostics(loaded.diagnostics, printed);
    if (!fs::exists(fs::path(dir) / kDefaultPolicyFile) && !errors)
        std::fprintf(stderr, "%s: warning: no %s, using the built-in defaults\n", dir.c_str(),
                     kDefaultPolicyFile);
    ResolvedPolicy resolved = resolve_policy(loaded.set, *ref);
    errors = print_diagnostics(resolved.diagnostics, printed) || errors;
    if (errors) return std::nullopt;
    if (!ref->has_owner())
        std::fprintf(stderr,
                     "note: no owner given (a bare d identifier): policies matched by owner or "
                     "address are not applied\n");
    return std::make_pair(*ref, std::move(resolved));
}

int run_show(const std::string& project, const std::string& dir) {
    auto r = resolve(project, dir);
    if (!r) return 1;
    const auto& [ref, resolved] = *r;
    std::printf("project: %s\n", ref.address().c_str());
    std::printf("files:  ");
    if (resolved.applied.empty()) std::printf(" (none: built-in defaults)");
    for (const auto& f : resolved.applied) std::printf(" %s", f.c_str());
    std::printf("\n\n");
    std::size_t width = 0;
    const auto rows = describe_policy(resolved.policy);
    for (const auto& [path, value] : rows) width = std::max(width, path.size() + value.size() + 2);
    for (const auto& [path, value] : rows) {
        auto it = resolved.provenance.find(path);
        const std::string from =
            it == resolved.provenance.end() ? "(built-in default)" : it->second.to_string();
        const std::string kv = path + ": " + value;
        std::printf("%-*s  # %s\n", static_cast<int>(width), kv.c_str(), from.c_str());
    }
    return 0;
}

struct RenderOptions {
    std::string dir = kDefaultPoliciesDir;
    std::string projects_path = "/var/lib/tenex-sandbox/projects";
    std::string state_dir = "/var/lib/tenex-sandbox/state";
    std::string naddr;
    std::string daemon_id = "tenex-sandbox";
    std::string api = docker::kClientMinApi.to_string();
    bool body_only = false;
    std::vector<std::string> relays;  // the daemon's relay URLs (for network.relays)
    std::uint16_t gateway_port = 0;   // the daemon's relay gateway (0: none)
};

int run_render(const std::string& project, const RenderOptions& o) {
    auto r = resolve(project, o.dir);
    if (!r) return 1;
    const auto& [ref, resolved] = *r;
    auto api = docker::ApiVersion::parse(o.api);
    if (!api || *api < docker::kClientMinApi || *api > docker::kClientMaxApi) {
        std::fprintf(stderr, "--api %s: not a supported Engine API version (%s..%s)\n",
                     o.api.c_str(), docker::kClientMinApi.to_string().c_str(),
                     docker::kClientMaxApi.to_string().c_str());
        return 1;
    }
    SpecContext ctx;
    ctx.project = ref;
    ctx.naddr = o.naddr;
    if (ctx.naddr.empty())
        if (auto n = encode_naddr(ref)) ctx.naddr = *n;
    // The project directory: one per address, named like its container (safe for any `d`).
    ctx.project_dir = fs::absolute(o.projects_path) / container_name(ref).substr(6);
    ctx.daemon_id = o.daemon_id;
    ctx.secrets = SecretMode::redact;  // never print secret values
    ctx.relays = o.relays;
    ctx.runtime_dir = fs::absolute(o.state_dir) / "runtime" / container_name(ref);
    ctx.gateway_port = o.gateway_port;
    auto spec = build_sandbox_spec(resolved.policy, ctx);
    if (!spec) {
        std::fprintf(stderr, "%s\n", spec.error().message.c_str());
        return 1;
    }
    const nlohmann::json body = docker::to_create_body(spec->container, *api);
    if (o.body_only) {
        std::printf("%s\n", body.dump(2).c_str());
        return 0;
    }
    nlohmann::json allow = nlohmann::json::array();
    for (const auto& a : spec->network.allow) allow.push_back(a.to_string());
    nlohmann::json forwards = nlohmann::json::array();
    for (const auto& f : spec->network.forwards)
        forwards.push_back({{"name", f.name},
                            {"port", f.port},
                            {"target", f.target_host + ":" + std::to_string(f.target_port)},
                            {"daemon_relay", f.trusted}});
    const nlohmann::json out{
        {"method", "POST"},
        {"path", "/v" + api->to_string() + "/containers/create?name=" + spec->container.name},
        {"body", body},
        {"network",
         {{"mode", to_string(spec->network.mode)},
          {"name", spec->network.network_name},
          {"internal", spec->network.internal},
          {"bridge", spec->network.bridge},
          {"allow", allow},
          {"forwards", forwards},
          {"relays", spec->network.relay_urls}}},
        {"policy_digest", spec->digest},
    };
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
}

}  // namespace

void register_policy(CLI::App& root, Context& ctx) {
    auto* cmd = root.add_subcommand("policy", "Validate, show and render sandbox policies");
    cmd->require_subcommand(1);

    struct CheckOptions {
        std::vector<std::string> files;
        std::string dir = kDefaultPoliciesDir;
        std::string projects_path = "/var/lib/tenex-sandbox/projects";
        std::string engine = "docker";
    };
    auto check_opts = std::make_shared<CheckOptions>();
    auto* check =
        cmd->add_subcommand("check",
                            "Validate policy files (default: the whole policies directory); "
                            "prints file:line:col: key.path: message for each problem");
    check->add_option("files", check_opts->files, "Policy files to check");
    check->add_option("--policies", check_opts->dir, "Policies directory (when no files given)");
    check->add_option(
        "-p,--projects-path", check_opts->projects_path,
        "Where project directories live (whether resources.disk can be enforced there)");
    check
        ->add_option("--engine", check_opts->engine,
                     "The daemon's engine: docker (default) or swarm (also names what a swarm "
                     "cannot apply, and refuses network modes it cannot run)")
        ->check(CLI::IsMember({"docker", "swarm"}));
    check->callback([check_opts, &ctx] {
        ctx.exit_code = run_check(check_opts->files, check_opts->dir, check_opts->projects_path,
                                  check_opts->engine == "swarm");
    });

    struct ShowOptions {
        std::string project;
        std::string dir = kDefaultPoliciesDir;
    };
    auto show_opts = std::make_shared<ShowOptions>();
    auto* show = cmd->add_subcommand(
        "show", "Print a project's merged policy and which file set each value");
    show->add_option("project", show_opts->project, "Project address (31933:<owner>:<d>) or d")
        ->required();
    show->add_option("--policies", show_opts->dir, "Policies directory");
    show->callback(
        [show_opts, &ctx] { ctx.exit_code = run_show(show_opts->project, show_opts->dir); });

    auto render_project = std::make_shared<std::string>();
    auto render_opts = std::make_shared<RenderOptions>();
    auto* render = cmd->add_subcommand(
        "render", "Print the Docker create request a project's policy becomes (secrets redacted)");
    render->add_option("project", *render_project, "Project address (31933:<owner>:<d>) or d")
        ->required();
    render->add_option("--policies", render_opts->dir, "Policies directory");
    render->add_option("-p,--projects-path", render_opts->projects_path,
                       "Where project directories live");
    render->add_option("--state-dir", render_opts->state_dir,
                       "The daemon's state directory (TENEX runtime directories live in runtime/)");
    render->add_option("--naddr", render_opts->naddr,
                       "The project's naddr for {naddr} (default: encoded from the address)");
    render->add_option("--daemon-id", render_opts->daemon_id, "Daemon identity label");
    render->add_option("--api", render_opts->api, "Engine API version of the request");
    render->add_flag("--body-only", render_opts->body_only, "Print only the request body");
    render->add_option("--relay", render_opts->relays,
                       "A relay URL of the daemon (repeatable), for policies with network.relays");
    render->add_option("--gateway-port", render_opts->gateway_port,
                       "The daemon's relay gateway port, for policies with network.relays (its "
                       "secret is redacted)");
    render->callback([render_project, render_opts, &ctx] {
        ctx.exit_code = run_render(*render_project, *render_opts);
    });
}

}  // namespace tenex::cli
