#include <cstdio>
#include <exception>
#include <iostream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "cli/command.hpp"
#include "common/log.hpp"

namespace {

constexpr tenex::cli::RegisterFn kCommands[] = {
    tenex::cli::register_version, tenex::cli::register_doctor,  tenex::cli::register_image,
    tenex::cli::register_policy,  tenex::cli::register_keygen,  tenex::cli::register_decode,
    tenex::cli::register_encode,  tenex::cli::register_verify,  tenex::cli::register_sign,
    tenex::cli::register_relay,   tenex::cli::register_publish, tenex::cli::register_req,
    tenex::cli::register_up,      tenex::cli::register_import,  tenex::cli::register_ps,
    tenex::cli::register_stop,    tenex::cli::register_forget,  tenex::cli::register_restart,
    tenex::cli::register_logs,    tenex::cli::register_exec,    tenex::cli::register_shell,
    tenex::cli::register_events,
};

}  // namespace

int main(int argc, char** argv) {
    tenex::cli::Context ctx;
    CLI::App app{"tenex-sandbox: runs TENEX projects from Nostr in Docker sandboxes"};
    app.require_subcommand(1);
    app.option_defaults()->always_capture_default();
    app.add_option("--log-level", ctx.log_level, "trace, debug, info, warn, error or off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
    app.add_option("--log-format", ctx.log_format, "text or json")
        ->check(CLI::IsMember({"text", "json"}));
    app.parse_complete_callback([&ctx] {
        tenex::log::setup(
            ctx.log_format == "json" ? tenex::log::Format::json : tenex::log::Format::text,
            ctx.log_level);
    });
    for (auto reg : kCommands) reg(app, ctx);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // Usage errors too are start-up errors (the unit's ExecStart); help goes to stdout.
        std::ostringstream err;
        const int rc = app.exit(e, std::cout, err);
        if (!err.str().empty()) tenex::log::print_error(err.str());
        return rc;
    } catch (const std::exception& e) {
        // Start-up and configuration errors end here, with a message and a non-zero exit.
        tenex::log::print_error(std::string("tenex-sandbox: ") + e.what());
        return 1;
    }
    return ctx.exit_code;
}
