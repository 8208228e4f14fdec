// The project view's JSON (GET /projects, and `ps` and the operator commands read it back):
// one function each way, so the daemon and its clients agree on every field.
#include "daemon/project_view.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "common/rfc3339.hpp"

namespace tenex::daemon {

namespace {

using json = nlohmann::json;

bool state_has_uptime(sandbox::ProjectState s) {
    return s == sandbox::ProjectState::starting || s == sandbox::ProjectState::running ||
           s == sandbox::ProjectState::paused || s == sandbox::ProjectState::stopping;
}

Result<sandbox::ProjectState> parse_state(const std::string& s) {
    using sandbox::ProjectState;
    for (auto st : {ProjectState::stopped, ProjectState::starting, ProjectState::running,
                    ProjectState::paused, ProjectState::stopping, ProjectState::backing_off,
                    ProjectState::crash_looping, ProjectState::failed})
        if (sandbox::to_string(st) == s) return st;
    return make_error("unknown state '" + s + "'");
}

sandbox::ExitReason parse_exit_reason(const std::string& s) {
    using sandbox::ExitReason;
    for (auto r : {ExitReason::exit, ExitReason::oom, ExitReason::killed})
        if (sandbox::to_string(r) == s) return r;
    return ExitReason::none;
}

}  // namespace

json to_json(const ProjectView& view) {
    const auto& st = view.status;
    json j = {
        {"address", st.project.address()},
        {"owner", st.project.owner},
        {"d", st.project.d},
        {"title", view.title},
        {"state", sandbox::to_string(st.state)},
        {"container_id", st.container_id},
        {"container_name", st.container_name},
        {"started_at", st.started_at},
        {"node", st.node},
        {"uptime_seconds", nullptr},
        {"restarts", st.restart_count},
        {"oom_kills", st.oom_kills},
        {"last_exit_code", nullptr},
        {"last_exit_reason", sandbox::to_string(st.last_exit_reason)},
        {"last_error", st.last_error},
        {"last_trigger_unix_ms", st.last_trigger_unix_ms},
        {"kept", st.kept},
        {"last_wake", st.last_wake},
        {"next_transition", st.next_transition.empty() ? json(nullptr) : json(st.next_transition)},
        {"next_transition_unix_ms",
         st.next_transition.empty() ? json(nullptr) : json(st.next_transition_unix_ms)},
        {"network_mode", view.network_mode},
        {"policy", view.policy},
        {"policy_digest", st.policy_digest},
        {"limits",
         {{"memory", view.limits.memory_bytes},
          {"cpus", view.limits.cpus},
          {"pids", view.limits.pids}}},
        {"usage", nullptr},
        {"gateway_keys", view.gateway_keys},
    };
    if (state_has_uptime(st.state)) {
        if (auto started = parse_rfc3339_ms(st.started_at)) {
            auto now = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
            j["uptime_seconds"] = std::max<std::int64_t>(0, now - *started / 1000);
        }
    }
    if (st.last_exit_code) j["last_exit_code"] = *st.last_exit_code;
    if (st.usage) {
        j["usage"] = {{"cpu_percent", st.usage->cpu_percent},
                      {"memory_used", st.usage->memory_used},
                      {"memory_limit", st.usage->memory_limit},
                      {"pids", st.usage->pids},
                      {"sampled_at_unix", st.usage->sampled_at_unix}};
    }
    return j;
}

Result<ProjectView> project_view_from_json(const json& j) {
    if (!j.is_object()) return make_error("a project is not a JSON object");
    try {
        ProjectView v;
        auto& st = v.status;
        st.project.owner = j.value("owner", std::string{});
        st.project.d = j.value("d", std::string{});
        v.title = j.value("title", std::string{});
        auto state = parse_state(j.value("state", std::string{"stopped"}));
        if (!state) return std::move(state).error();
        st.state = *state;
        st.container_id = j.value("container_id", std::string{});
        st.container_name = j.value("container_name", std::string{});
        st.started_at = j.value("started_at", std::string{});
        st.node = j.value("node", std::string{});
        st.restart_count = j.value("restarts", 0);
        st.oom_kills = j.value("oom_kills", 0);
        if (auto it = j.find("last_exit_code"); it != j.end() && !it->is_null())
            st.last_exit_code = it->get<int>();
        st.last_exit_reason = parse_exit_reason(j.value("last_exit_reason", std::string{}));
        st.last_error = j.value("last_error", std::string{});
        st.last_trigger_unix_ms = j.value("last_trigger_unix_ms", std::int64_t{0});
        st.kept = j.value("kept", false);
        st.last_wake = j.value("last_wake", std::string{});
        if (auto it = j.find("next_transition"); it != j.end() && it->is_string()) {
            st.next_transition = it->get<std::string>();
            st.next_transition_unix_ms = j.value("next_transition_unix_ms", std::int64_t{0});
        }
        v.network_mode = j.value("network_mode", std::string{});
        v.policy = j.value("policy", std::string{});
        st.policy_digest = j.value("policy_digest", std::string{});
        if (auto it = j.find("limits"); it != j.end() && it->is_object()) {
            v.limits.memory_bytes = it->value("memory", std::int64_t{0});
            v.limits.cpus = it->value("cpus", 0.0);
            v.limits.pids = it->value("pids", std::int64_t{0});
        }
        if (auto it = j.find("gateway_keys"); it != j.end() && it->is_array())
            v.gateway_keys = it->get<std::vector<std::string>>();
        if (auto it = j.find("usage"); it != j.end() && it->is_object()) {
            sandbox::ProjectUsage u;
            u.cpu_percent = it->value("cpu_percent", 0.0);
            u.memory_used = it->value("memory_used", std::uint64_t{0});
            u.memory_limit = it->value("memory_limit", std::uint64_t{0});
            u.pids = it->value("pids", std::uint64_t{0});
            u.sampled_at_unix = it->value("sampled_at_unix", std::int64_t{0});
            st.usage = u;
        }
        return v;
    } catch (const json::exception& e) {
        return make_error(std::string("a project field has the wrong type: ") + e.what());
    }
}

}  // namespace tenex::daemon
