// tenex-sandbox up: runs the daemon (src/daemon/daemon.hpp) until SIGTERM/SIGINT; SIGHUP
// reloads the whitelist, relays and policies. Flags override the configuration file and keep
// the original TENEX daemon's names (-c, -w, -p).
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "common/log.hpp"
#include "daemon/daemon.hpp"

namespace tenex::cli {
namespace {

struct UpFlags {
    std::string config_file{};
    std::string tenex_config{};  // an existing TENEX ~/.tenex/config.json
    std::string whitelist{};     // comma-separated hex or npub
    std::string projects_path{};
    std::vector<std::string> relays{};
    std::string policies{};
    std::string state_dir{};
    std::string key{};
    std::string http{};
    std::string embedded_relay{};
    std::optional<std::string> gateway{};
    std::string gateway_advertise{};
    std::string gateway_forwarder_image{};
    std::string daemon_id{};
    std::string docker_socket{};
    std::string engine{};
    std::optional<unsigned> start_concurrency{};
    bool stop_projects = false;
};

std::string describe(const daemon::Diagnostics& diags) {
    std::string out;
    for (const auto& d : diags) out += "\n  " + sandbox::format_diagnostic(d);
    return out;
}

// The file (when given), then the flags over it. Whitelist entries are normalized (npub or
// hex); a bad one is an error naming it.
Result<daemon::DaemonConfig, daemon::Diagnostics> build_config(const UpFlags& f) {
    daemon::DaemonConfig c;
    if (!f.config_file.empty()) {
        auto loaded = daemon::load_config(f.config_file);
        if (!loaded) return loaded.error();
        c = std::move(*loaded);
    }
    auto flag_error = [](const std::string& key, const std::string& message,
                         const std::string& file = "command line") {
        return daemon::Diagnostics{{.file = file,
                                    .line = 0,
                                    .column = 0,
                                    .key_path = key,
                                    .message = message,
                                    .severity = sandbox::Severity::error}};
    };
    if (!f.tenex_config.empty()) {
        // The original daemon's configuration: relays, whitelistedPubkeys and projectsBase
        // fill what the YAML file left empty (or at its default); flags still win.
        std::ifstream in(f.tenex_config);
        auto j = nlohmann::json::parse(in, nullptr, false);
        if (!in || j.is_discarded() || !j.is_object())
            return flag_error("", "cannot read it as a JSON object", f.tenex_config);
        auto strings = [&](const char* key,
                           std::vector<std::string>& out) -> std::optional<daemon::Diagnostics> {
            if (!j.contains(key)) return std::nullopt;
            if (!j[key].is_array())
                return flag_error(key, "expected an array of strings", f.tenex_config);
            for (std::size_t i = 0; i < j[key].size(); ++i) {
                if (!j[key][i].is_string())
                    return flag_error(std::string(key) + "[" + std::to_string(i) + "]",
                                      "expected a string", f.tenex_config);
                out.push_back(j[key][i].get<std::string>());
            }
            return std::nullopt;
        };
        std::vector<std::string> relays, whitelist;
        if (auto e = strings("relays", relays)) return *e;
        if (auto e = strings("whitelistedPubkeys", whitelist)) return *e;
        if (c.relays.empty()) c.relays = relays;
        if (c.whitelist.empty())
            for (std::size_t i = 0; i < whitelist.size(); ++i) {
                auto hex = daemon::normalize_pubkey(whitelist[i]);
                if (!hex)
                    return flag_error("whitelistedPubkeys[" + std::to_string(i) + "]",
                                      hex.error().message, f.tenex_config);
                c.whitelist.push_back(*hex);
            }
        if (j.contains("projectsBase") && j["projectsBase"].is_string() &&
            c.projects_path == daemon::DaemonConfig{}.projects_path)
            c.projects_path = j["projectsBase"].get<std::string>();
    }
    if (!f.whitelist.empty()) {
        c.whitelist.clear();
        std::stringstream ss(f.whitelist);
        for (std::string item; std::getline(ss, item, ',');) {
            if (item.empty()) continue;
            auto hex = daemon::normalize_pubkey(item);
            if (!hex) return flag_error("--whitelist", "'" + item + "': " + hex.error().message);
            c.whitelist.push_back(*hex);
        }
    }
    if (!f.relays.empty()) c.relays = f.relays;
    if (!f.projects_path.empty()) c.projects_path = f.projects_path;
    if (!f.policies.empty()) c.policies_dir = f.policies;
    if (!f.state_dir.empty()) c.state_dir = f.state_dir;
    if (!f.key.empty()) c.key_file = f.key;
    if (!f.http.empty()) c.http_listen = f.http;
    if (!f.embedded_relay.empty()) c.embedded_relay = f.embedded_relay;
    if (f.gateway) c.gateway_listen = *f.gateway;
    if (!f.gateway_advertise.empty()) c.gateway_advertise = f.gateway_advertise;
    if (!f.gateway_forwarder_image.empty()) c.gateway_forwarder_image = f.gateway_forwarder_image;
    if (!f.daemon_id.empty()) c.daemon_id = f.daemon_id;
    if (!f.docker_socket.empty()) c.docker_socket = f.docker_socket;
    if (!f.engine.empty()) c.engine = f.engine;
    if (f.start_concurrency) c.start_concurrency = *f.start_concurrency;
    if (f.stop_projects) c.stop_projects_on_exit = true;
    // Relative paths from flags are taken from the current directory.
    for (auto* p : {&c.projects_path, &c.policies_dir, &c.state_dir, &c.key_file})
        if (!p->empty() && p->is_relative()) *p = std::filesystem::absolute(*p);
    if (auto diags = daemon::validate_config(c); sandbox::has_errors(diags)) return diags;
    return c;
}

}  // namespace

void register_up(CLI::App& root, Context& ctx) {
    auto f = std::make_shared<UpFlags>();
    auto* cmd = root.add_subcommand(
        "up", "Run the daemon: watch relays, run one sandboxed container per project");
    cmd->add_option("-c,--config", f->config_file,
                    "YAML configuration (see examples/sandbox.yaml)");
    cmd->add_option("--tenex-config", f->tenex_config,
                    "Read relays, whitelistedPubkeys and projectsBase from a TENEX config.json");
    cmd->add_option("-w,--whitelist", f->whitelist,
                    "Pubkeys (hex or npub, comma-separated) whose events wake projects");
    cmd->add_option("-p,--projects-path", f->projects_path,
                    "Where project directories are created");
    cmd->add_option("--relay", f->relays, "Relay URL (ws:// or wss://); repeatable");
    cmd->add_option("--policies", f->policies, "Policies directory (default.yaml + overrides)");
    cmd->add_option("--state-dir", f->state_dir, "SQLite state directory");
    cmd->add_option("--key", f->key, "The daemon's key file (created with mode 0600 if missing)");
    cmd->add_option("--http", f->http, "HTTP API address: loopback host:port or unix:/path");
    cmd->add_option("--embedded-relay", f->embedded_relay,
                    "Local mode: run a relay on HOST:PORT too");
    cmd->add_option("--gateway", f->gateway,
                    "Relay gateway for project containers: loopback HOST:PORT (default "
                    "127.0.0.1:7879; \"\": off; engine swarm: an address the nodes reach)");
    cmd->add_option("--gateway-advertise", f->gateway_advertise,
                    "engine swarm: IPV4:PORT of this host where the nodes reach the gateway");
    cmd->add_option("--gateway-forwarder-image", f->gateway_forwarder_image,
                    "engine swarm: the gateway forwarder image as the nodes pull it (default "
                    "tenex-forwarder:latest)");
    cmd->add_option("--daemon-id", f->daemon_id,
                    "Identity in container labels (default: from the key)");
    cmd->add_option("--docker-socket", f->docker_socket,
                    "Docker engine socket (default: DOCKER_HOST, /var/run/docker.sock)");
    cmd->add_option("--engine", f->engine,
                    "Where projects run: docker (default) or swarm (docker socket = a manager)")
        ->check(CLI::IsMember({"docker", "swarm"}));
    cmd->add_option("--start-concurrency", f->start_concurrency,
                    "Container starts in flight at once");
    cmd->add_flag("--stop-projects", f->stop_projects,
                  "On SIGTERM/SIGINT stop the project containers too");
    const CLI::Option* format_flag = root.get_option("--log-format");
    const CLI::Option* level_flag = root.get_option("--log-level");
    cmd->callback([f, &ctx, format_flag, level_flag] {
        auto config = build_config(*f);
        if (!config) {
            log::print_error("tenex-sandbox up: invalid configuration:" + describe(config.error()));
            ctx.exit_code = 2;
            return;
        }
        // The file's log: format/level, where the command line did not set them.
        if ((!config->log_format.empty() && format_flag->count() == 0) ||
            (!config->log_level.empty() && level_flag->count() == 0)) {
            const std::string format = format_flag->count() == 0 && !config->log_format.empty()
                                           ? config->log_format
                                           : ctx.log_format;
            const std::string level = level_flag->count() == 0 && !config->log_level.empty()
                                          ? config->log_level
                                          : ctx.log_level;
            log::setup(log::parse_format(format).value_or(log::Format::text), level);
        }
        // Signals go to this thread only (sigwait below); every thread the daemon starts
        // inherits the blocked mask.
        sigset_t set;
        sigemptyset(&set);
        for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, s);
        pthread_sigmask(SIG_BLOCK, &set, nullptr);
        ::signal(SIGPIPE, SIG_IGN);

        auto daemon = daemon::Daemon::start(std::move(*config), [f] { return build_config(*f); });
        if (!daemon) {
            log::print_error("tenex-sandbox up: " + daemon.error().message);
            ctx.exit_code = 1;
            return;
        }
        for (;;) {
            int sig = 0;
            if (sigwait(&set, &sig) != 0) continue;
            if (sig == SIGHUP) {
                spdlog::info("SIGHUP: reloading whitelist, relays and policies");
                (*daemon)->request_reload();
                continue;
            }
            spdlog::info("{}: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
            break;
        }
        (*daemon)->request_stop();
        (*daemon)->wait();
    });
}

}  // namespace tenex::cli
