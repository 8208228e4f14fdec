// Placeholder: ps, stop, restart, logs (issue 9).
#include "cli/command.hpp"
namespace tenex::cli {
void register_ps(CLI::App&, Context&) {}
void register_stop(CLI::App&, Context&) {}
void register_restart(CLI::App&, Context&) {}
void register_logs(CLI::App&, Context&) {}
}  // namespace tenex::cli
