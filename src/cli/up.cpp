// Placeholder: `tenex-sandbox up` (issue 9).
#include "cli/command.hpp"
namespace tenex::cli {
void register_up(CLI::App&, Context&) {}
}  // namespace tenex::cli
