// `tenex-sandbox import`: an existing TENEX installation (its global directory with
// config.json, llms.json, projects/<d>/ and agents/, and its projects under projectsBase/<d>)
// into the sandbox layout, so that the first trigger after the move continues each project:
//
//   projectsBase/<d>/                 -> <projects_path>/<owner>/<name>   (workspace_path.hpp)
//   <TENEX_BASE_DIR>/projects/<d>/    -> <state_dir>/runtime/<container>/projects/<d>/
//   <TENEX_BASE_DIR>/agents/<pk>.json -> <state_dir>/runtime/<container>/agents/<pk>.json
//     (the agents agents/index.json lists for <d> under byProject; index.json merged)
//
// (<state_dir>/runtime/<container> is the TENEX_BASE_DIR the runtime container mounts at
// /tenex, images/runtime/README.md.) The sandbox's configuration (sandbox.yaml) is never
// rewritten: the whitelist and relay entries it lacks are printed as YAML lines to add, and
// with `apply` and `config_out` written as a YAML fragment to that file.
//
// Dry run unless `apply`. The whole plan is made (and every error found) before anything is
// written. Files already present at the destination are never overwritten (a second run
// changes nothing and says so). Nothing at the source is modified. Symlinks are never
// followed: one whose target stays inside the project is recreated as a link, others are
// skipped and listed. No secret (llms.json, tenexPrivateKey, agents' nsec) is ever printed.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace tenex::cli {

struct ImportOptions {
    std::filesystem::path tenex_config{};   // <TENEX_BASE_DIR>/config.json
    std::filesystem::path projects_path{};  // the sandbox's projects_path
    std::filesystem::path state_dir{};      // the sandbox's state_dir
    std::string sandbox_config_name{};      // for messages: the sandbox.yaml read (may be "")
    std::vector<std::string> sandbox_whitelist{};  // already there (64 hex)
    std::vector<std::string> sandbox_relays{};
    std::string owner{};              // --owner: hex or npub, for projects TENEX does not tell
    std::vector<std::string> only{};  // --project: import only these `d`s (empty: all)
    bool apply = false;
    std::filesystem::path config_out{};  // with apply: where the YAML fragment goes
};

// Runs the import; `out` receives the report (what would be / was done). An error means
// nothing was written (planning errors) or names what failed (apply).
Status run_import(const ImportOptions& options, std::string& out);

// Whether `d` can be imported as a project directory name: not empty, not "." or "..", no
// '/', NUL or other control character, valid UTF-8, at most 255 bytes. The reason otherwise.
Status check_identifier(const std::string& d);

}  // namespace tenex::cli
