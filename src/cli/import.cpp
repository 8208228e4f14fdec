// tenex-sandbox import --tenex-config FILE [--apply]: an existing TENEX installation into the
// sandbox layout (tenex_import.hpp). Reads the daemon's sandbox.yaml for projects_path,
// state_dir and what its whitelist and relays already hold; never rewrites it.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.hpp"
#include "cli/tenex_import.hpp"
#include "daemon/config.hpp"

namespace tenex::cli {

namespace {
struct ImportFlags {
    std::string tenex_config{};
    std::string config{};
    std::string projects_path{};
    std::string state_dir{};
    std::string owner{};
    std::vector<std::string> only{};
    std::string config_out{};
    bool apply = false;
};
}  // namespace

void register_import(CLI::App& root, Context& ctx) {
    auto f = std::make_shared<ImportFlags>();
    auto* cmd = root.add_subcommand("import",
                                    "Move an existing TENEX installation (config.json, its "
                                    "projects and their metadata) into the "
                                    "sandbox layout; a dry run unless --apply");
    cmd->add_option("--tenex-config", f->tenex_config,
                    "The TENEX config.json (in its TENEX_BASE_DIR, e.g. ~/.tenex/config.json)")
        ->required();
    cmd->add_option("-c,--config", f->config,
                    "The daemon's sandbox.yaml (read only; default /etc/tenex-sandbox/sandbox.yaml "
                    "when it exists)");
    cmd->add_option("-p,--projects-path", f->projects_path,
                    "Over the configuration's projects_path");
    cmd->add_option("--state-dir", f->state_dir, "Over the configuration's state_dir");
    cmd->add_option(
        "--owner", f->owner,
        "Owner pubkey (hex or npub) of projects whose TENEX metadata does not name one");
    cmd->add_option("--project", f->only, "Import only this project (its d tag); repeatable");
    cmd->add_option("--config-out", f->config_out,
                    "With --apply: write the merged whitelist and relays as YAML to this file "
                    "(never the sandbox.yaml itself)");
    cmd->add_flag("--apply", f->apply, "Do it (default: print what would be done)");
    cmd->callback([&ctx, f] {
        daemon::DaemonConfig config;
        std::string config_name = f->config;
        std::error_code ec;
        if (config_name.empty() && std::filesystem::exists("/etc/tenex-sandbox/sandbox.yaml", ec))
            config_name = "/etc/tenex-sandbox/sandbox.yaml";
        if (!config_name.empty()) {
            auto loaded = daemon::load_config(config_name);
            if (!loaded) {
                for (const auto& d : loaded.error())
                    std::fprintf(stderr, "import: %s:%d:%d: %s: %s\n", d.file.c_str(), d.line,
                                 d.column, d.key_path.c_str(), d.message.c_str());
                ctx.exit_code = 2;
                return;
            }
            config = std::move(*loaded);
        }
        ImportOptions o;
        o.tenex_config = f->tenex_config;
        o.projects_path = std::filesystem::absolute(f->projects_path.empty()
                                                        ? config.projects_path
                                                        : std::filesystem::path(f->projects_path));
        o.state_dir = std::filesystem::absolute(
            f->state_dir.empty() ? config.state_dir : std::filesystem::path(f->state_dir));
        o.sandbox_config_name = config_name;
        o.sandbox_whitelist = config.whitelist;
        o.sandbox_relays = config.relays;
        o.owner = f->owner;
        o.only = f->only;
        o.apply = f->apply;
        o.config_out = f->config_out;
        if (!o.config_out.empty() && !config_name.empty() &&
            std::filesystem::weakly_canonical(o.config_out, ec) ==
                std::filesystem::weakly_canonical(config_name, ec)) {
            std::fprintf(stderr,
                         "import: --config-out names the sandbox configuration itself; it is never "
                         "rewritten\n");
            ctx.exit_code = 2;
            return;
        }
        std::string report;
        auto done = run_import(o, report);
        std::fputs(report.c_str(), stdout);
        if (!done) {
            std::fprintf(stderr, "import: %s\n", done.error().message.c_str());
            ctx.exit_code = 1;
        }
    });
}

}  // namespace tenex::cli
