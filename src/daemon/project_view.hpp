// One project as the daemon shows it (GET /projects, `tenex-sandbox ps`): its status, the
// policy that applies to it, and the JSON both sides read and write (project_view.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "sandbox/orchestrator_types.hpp"

namespace tenex::daemon {

// One row of `ps` and of /projects.
struct ProjectView {
    sandbox::ProjectStatus status{};
    std::string network_mode{};  // none / isolated / egress / open
    std::string policy{};        // the policy files that apply, e.g. "default.yaml+networked.yaml"
    std::string title{};         // project title when known
    struct Limits {              // from the project's policy (also without a container)
        std::int64_t memory_bytes{0};
        double cpus{0};
        std::int64_t pids{0};
    } limits{};
    std::vector<std::string> gateway_keys{};  // keys bound to the project through its gateway
};

// The JSON of one project (stable field names):
//   address        "31933:<owner>:<d>"          owner, d      its parts
//   title          string ("" when unknown)     state         to_string(ProjectState)
//   container_id   full id ("" when none)       container_name
//   started_at     RFC 3339 from the engine ("" when none)
//   uptime_seconds integer while starting/running/stopping with a parsable started_at, else null
//   restarts       automatic restarts           last_exit_code  integer or null
//   oom_kills      processes killed by the OOM killer (main process or a child)
//   last_exit_reason "none"|"exit"|"oom"|"killed"  last_error   string
//   last_trigger_unix_ms  0 when never triggered
//   network_mode, policy, policy_digest  strings
//   limits         {memory (bytes), cpus, pids} from the policy
//   gateway_keys   pubkeys (hex) bound to the project through its relay gateway
//   usage          null or {cpu_percent, memory_used, memory_limit, pids, sampled_at_unix}
//                  (bytes; cpu_percent of one core = 100)
nlohmann::json to_json(const ProjectView& view);
// The inverse, for clients (`ps`): a clear reason when a field has the wrong type.
Result<ProjectView> project_view_from_json(const nlohmann::json& j);

}  // namespace tenex::daemon
