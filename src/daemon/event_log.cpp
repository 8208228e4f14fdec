#include "daemon/event_log.hpp"

#include <cstdio>
#include <ctime>

#include "common/rfc3339.hpp"

namespace tenex::daemon {

namespace {

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string one_line(std::string s) {
    for (auto& c : s)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    return s;
}

std::string exit_reason(const sandbox::ProjectStatus& s) {
    std::string why;
    if (s.last_exit_reason != sandbox::ExitReason::none)
        why = sandbox::to_string(s.last_exit_reason);
    if (!s.last_error.empty()) why += (why.empty() ? "" : ": ") + s.last_error;
    return why;
}

}  // namespace

nlohmann::json to_json(const LifecycleEvent& e) {
    nlohmann::json j = {
        {"seq", e.seq},         {"time", format_rfc3339_ms(e.at_ms)}, {"type", e.type},
        {"project", e.project}, {"container", e.container},           {"exit_code", nullptr},
        {"reason", e.reason}};
    if (e.exit_code) j["exit_code"] = *e.exit_code;
    return j;
}

Result<LifecycleEvent> lifecycle_event_from_json(const nlohmann::json& j) {
    if (!j.is_object()) return make_error("an event is not a JSON object");
    try {
        LifecycleEvent e;
        e.seq = j.at("seq").get<std::uint64_t>();
        e.type = j.at("type").get<std::string>();
        e.project = j.value("project", std::string{});
        e.container = j.value("container", std::string{});
        e.reason = j.value("reason", std::string{});
        if (auto it = j.find("exit_code"); it != j.end() && !it->is_null())
            e.exit_code = it->get<int>();
        const auto t = j.value("time", std::string{});
        auto at = parse_rfc3339_ms(t);
        if (!at) return make_error("bad event time '" + t + "'");
        e.at_ms = *at;
        return e;
    } catch (const nlohmann::json::exception& ex) {
        return make_error(std::string("bad event: ") + ex.what());
    }
}

std::string to_line(const LifecycleEvent& e) {
    std::string line = format_rfc3339_ms(e.at_ms) + " " + e.type + " " + one_line(e.project);
    if (!e.container.empty()) line += " container=" + one_line(e.container);
    if (e.exit_code) line += " exit=" + std::to_string(*e.exit_code);
    if (!e.reason.empty()) line += " reason=" + one_line(e.reason);
    return line;
}

void EventLog::record(LifecycleEvent e) {
    ring_.update([&](Ring& r) {
        e.seq = ++r.seq;
        if (e.at_ms == 0) e.at_ms = now_ms();
        r.events.push_back(e);
        while (r.events.size() > capacity_) r.events.pop_front();
    });
    if (listener_) listener_(e);
}

std::vector<LifecycleEvent> EventLog::observe(const std::optional<sandbox::ProjectStatus>& prev,
                                              const sandbox::ProjectStatus& cur) {
    using sandbox::ProjectState;
    std::vector<LifecycleEvent> out;
    auto make = [&](std::string type, std::string reason = {}, bool with_exit = false) {
        LifecycleEvent e{.seq = 0,
                         .at_ms = 0,
                         .type = std::move(type),
                         .project = cur.project.address(),
                         .container = cur.container_id.substr(0, 12),
                         .exit_code = {},
                         .reason = std::move(reason)};
        if (with_exit) e.exit_code = cur.last_exit_code;
        out.push_back(std::move(e));
    };
    const bool changed =
        !prev || prev->state != cur.state || prev->container_id != cur.container_id;
    if (changed) {
        const bool was_running = prev && prev->state == ProjectState::running;
        switch (cur.state) {
            case ProjectState::running:
                if (prev && prev->state == ProjectState::paused &&
                    prev->container_id == cur.container_id)
                    make("resumed");
                else if (prev && (prev->restart_count < cur.restart_count ||
                                  (was_running && !prev->container_id.empty())))
                    make("restarted",
                         prev->restart_count < cur.restart_count ? "automatic" : "new container");
                else
                    make("started");
                break;
            case ProjectState::stopped:
                if (prev && prev->state != ProjectState::stopped)
                    make("stopped", exit_reason(cur), cur.last_exit_code.has_value());
                break;
            case ProjectState::backing_off:
                make("crashed", exit_reason(cur), true);
                break;
            case ProjectState::crash_looping:
                make("crash-looping", exit_reason(cur), true);
                break;
            case ProjectState::failed:
                make("failed", cur.last_error);
                break;
            case ProjectState::paused:
                make("paused", "idle");
                break;
            case ProjectState::starting:
            case ProjectState::stopping:
                break;
        }
    }
    // One per engine oom event: the main process (with its exit) or a child while the
    // container runs on.
    if (cur.oom_kills > (prev ? prev->oom_kills : 0))
        make("oom",
             cur.state == ProjectState::running ? "a process of the running container"
                                                : cur.last_error,
             cur.state != ProjectState::running);
    for (const auto& e : out) record(e);
    return out;
}

std::vector<LifecycleEvent> EventLog::after(std::uint64_t seq) const {
    return ring_.read([&](const Ring& r) {
        std::vector<LifecycleEvent> out;
        for (const auto& e : r.events)
            if (e.seq > seq) out.push_back(e);
        return out;
    });
}

std::vector<LifecycleEvent> EventLog::last(int n) const {
    return ring_.read([&](const Ring& r) {
        std::size_t skip = n < 0 || static_cast<std::size_t>(n) >= r.events.size()
                               ? 0
                               : r.events.size() - static_cast<std::size_t>(n);
        return std::vector<LifecycleEvent>(r.events.begin() + static_cast<std::ptrdiff_t>(skip),
                                           r.events.end());
    });
}

std::vector<LifecycleEvent> EventLog::wait_after(std::uint64_t seq, std::stop_token stop,
                                                 std::chrono::milliseconds timeout) const {
    ring_.wait_for(stop, timeout, [&](const Ring& r) { return r.seq > seq; });
    return after(seq);
}

std::uint64_t EventLog::last_seq() const {
    return ring_.read([](const Ring& r) { return r.seq; });
}

}  // namespace tenex::daemon
