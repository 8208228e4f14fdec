// The command table: each subcommand lives in its own file and registers itself on the root
// app through a function listed in main.cpp.
#pragma once

#include <CLI/CLI.hpp>

namespace tenex::cli {

// Shared between the root app and the subcommand callbacks.
struct Context {
    int exit_code = 0;
    std::string log_level = "info";
    std::string log_format = "text";
};

using RegisterFn = void (*)(CLI::App& root, Context& ctx);

void register_version(CLI::App& root, Context& ctx);
void register_doctor(CLI::App& root, Context& ctx);
void register_image(CLI::App& root, Context& ctx);
void register_policy(CLI::App& root, Context& ctx);
void register_keygen(CLI::App& root, Context& ctx);
void register_decode(CLI::App& root, Context& ctx);
void register_encode(CLI::App& root, Context& ctx);
void register_verify(CLI::App& root, Context& ctx);
void register_sign(CLI::App& root, Context& ctx);
void register_relay(CLI::App& root, Context& ctx);
void register_publish(CLI::App& root, Context& ctx);
void register_req(CLI::App& root, Context& ctx);
void register_up(CLI::App& root, Context& ctx);
void register_import(CLI::App& root, Context& ctx);
// Operator commands that talk to a running daemon over its HTTP API (ops.cpp).
void register_ps(CLI::App& root, Context& ctx);
void register_stop(CLI::App& root, Context& ctx);
void register_forget(CLI::App& root, Context& ctx);
void register_restart(CLI::App& root, Context& ctx);
void register_logs(CLI::App& root, Context& ctx);
void register_exec(CLI::App& root, Context& ctx);
void register_shell(CLI::App& root, Context& ctx);
void register_events(CLI::App& root, Context& ctx);

}  // namespace tenex::cli
