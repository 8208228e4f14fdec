#include "daemon/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <sstream>

#include "sandbox/orchestrator_types.hpp"

namespace tenex::daemon {

namespace {

constexpr sandbox::ProjectState kAllStates[] = {
    sandbox::ProjectState::stopped,       sandbox::ProjectState::starting,
    sandbox::ProjectState::running,       sandbox::ProjectState::paused,
    sandbox::ProjectState::stopping,      sandbox::ProjectState::backing_off,
    sandbox::ProjectState::crash_looping, sandbox::ProjectState::failed};

}  // namespace

struct Metrics::ProjectFamilies {
    prometheus::Family<prometheus::Gauge>* state{nullptr};
    prometheus::Family<prometheus::Counter>* state_seconds{nullptr};
    prometheus::Family<prometheus::Counter>* cpu{nullptr};
    prometheus::Family<prometheus::Gauge>* memory{nullptr};
    prometheus::Family<prometheus::Gauge>* memory_limit{nullptr};
    prometheus::Family<prometheus::Counter>* restarts{nullptr};
    prometheus::Family<prometheus::Counter>* ooms{nullptr};
    prometheus::Family<prometheus::Gauge>* wake{nullptr};
    prometheus::Gauge* omitted{nullptr};
    prometheus::Family<prometheus::Gauge>* omitted_family{nullptr};
};

std::vector<double> trigger_to_running_buckets() {
    return {0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 30, 60};
}

std::string redact_relay_url(std::string_view url) {
    std::string_view scheme;
    std::string_view rest = url;
    if (auto p = url.find("://"); p != std::string_view::npos) {
        scheme = url.substr(0, p + 3);
        rest = url.substr(p + 3);
    }
    if (auto q = rest.find_first_of("?#"); q != std::string_view::npos) rest = rest.substr(0, q);
    auto slash = rest.find('/');
    auto at = rest.substr(0, slash).rfind('@');
    if (at != std::string_view::npos) rest = rest.substr(at + 1);
    return std::string(scheme) + std::string(rest);
}

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
    using namespace prometheus;
    received_ = &BuildCounter()
                     .Name("tenex_events_received_total")
                     .Help("Events received from relays (before verification), by relay")
                     .Register(*registry_);
    accepted_ = &BuildCounter()
                     .Name("tenex_events_accepted_total")
                     .Help("Events accepted as project triggers")
                     .Register(*registry_)
                     .Add({});
    auto& rejected = BuildCounter()
                         .Name("tenex_events_rejected_total")
                         .Help("Events rejected, by reason")
                         .Register(*registry_);
    for (auto reason : kRejectReasons)
        rejected_.emplace(std::string(reason), &rejected.Add({{"reason", std::string(reason)}}));
    auto& triggers =
        BuildCounter()
            .Name("tenex_triggers_total")
            .Help(
                "Project triggers: start (not running), touch (running), engine_wait (a start "
                "kept: the Docker engine did not answer), engine_retry (a kept start tried again)")
            .Register(*registry_);
    trigger_start_ = &triggers.Add({{"kind", "start"}});
    trigger_touch_ = &triggers.Add({{"kind", "touch"}});
    trigger_engine_wait_ = &triggers.Add({{"kind", "engine_wait"}});
    trigger_engine_retry_ = &triggers.Add({{"kind", "engine_retry"}});
    starts_ = &BuildCounter()
                   .Name("tenex_container_starts_total")
                   .Help("Project containers started")
                   .Register(*registry_)
                   .Add({});
    node_starts_ = &BuildCounter()
                        .Name("tenex_node_container_starts_total")
                        .Help("Project containers started, by node (engine swarm: the task's node)")
                        .Register(*registry_);
    node_running_ = &BuildGauge()
                         .Name("tenex_node_projects_running")
                         .Help("Running projects by node (engine swarm)")
                         .Register(*registry_);
    restarts_ = &BuildCounter()
                     .Name("tenex_container_restarts_total")
                     .Help("Automatic restarts of project containers")
                     .Register(*registry_)
                     .Add({});
    ooms_ = &BuildCounter()
                 .Name("tenex_oom_kills_total")
                 .Help(
                     "Processes of project containers killed by the OOM killer (the main process "
                     "or a child; one per engine oom event)")
                 .Register(*registry_)
                 .Add({});
    auto& execs = BuildCounter()
                      .Name("tenex_execs_total")
                      .Help("Operator execs into project sandboxes, by outcome")
                      .Register(*registry_);
    for (auto outcome : kExecOutcomes)
        execs_.emplace(std::string(outcome), &execs.Add({{"outcome", std::string(outcome)}}));
    auto& lifecycle =
        BuildCounter()
            .Name("tenex_lifecycle_events_total")
            .Help("Sandbox lifecycle events told on Nostr (kinds 24013 and 34013), by outcome")
            .Register(*registry_);
    for (const char* outcome : {"published", "rate_limited", "failed"})
        lifecycle_events_.emplace(outcome, &lifecycle.Add({{"outcome", outcome}}));
    trigger_to_running_ = &BuildHistogram()
                               .Name("tenex_trigger_to_running_seconds")
                               .Help("Time from a start trigger to the container running")
                               .Register(*registry_)
                               .Add({}, Histogram::BucketBoundaries(trigger_to_running_buckets()));
    projects_ = &BuildGauge()
                     .Name("tenex_projects")
                     .Help("Projects known to the daemon, by state")
                     .Register(*registry_);
    for (auto s : kAllStates) {
        auto name = sandbox::to_string(s);
        projects_by_state_.emplace(name, &projects_->Add({{"state", name}}));
    }
    relay_connected_ = &BuildGauge()
                            .Name("tenex_relay_connected")
                            .Help("1 when the relay connection is up")
                            .Register(*registry_);
    relay_reconnects_ = &BuildGauge()
                             .Name("tenex_relay_reconnects")
                             .Help("Reconnects to the relay since the pool started")
                             .Register(*registry_);
    relay_invalid_ = &BuildGauge()
                          .Name("tenex_relay_invalid_events")
                          .Help("Invalid events (bad JSON, id or signature) from the relay")
                          .Register(*registry_);
    queue_depth_ = &BuildGauge()
                        .Name("tenex_queue_depth")
                        .Help("Events waiting to be routed")
                        .Register(*registry_)
                        .Add({});
    loop_failures_ = &BuildGauge()
                          .Name("tenex_loop_failures")
                          .Help(
                              "Handlers that threw at a message or job boundary since the start "
                              "(logged; the loop went on), by loop")
                          .Register(*registry_);
    for (const char* loop : {"daemon", "daemon_workers", "orchestrator"})
        loop_failures_->Add({{"loop", loop}});
    auto& egress =
        BuildGauge()
            .Name("tenex_egress_connections")
            .Help(
                "Connections through the egress forwarders since the start, by outcome (refused: "
                "name not public or unresolvable, connect failed, over the per-project cap)")
            .Register(*registry_);
    egress_forwarded_ = &egress.Add({{"outcome", "forwarded"}});
    egress_refused_ = &egress.Add({{"outcome", "refused"}});
    gw_connections_ = &BuildGauge()
                           .Name("tenex_gateway_connections")
                           .Help("Project containers connected to the gateway")
                           .Register(*registry_)
                           .Add({});
    gw_refused_connections_ = &BuildGauge()
                                   .Name("tenex_gateway_refused_connections")
                                   .Help("Gateway connections refused: unknown URL path")
                                   .Register(*registry_)
                                   .Add({});
    auto& events = BuildGauge()
                       .Name("tenex_gateway_events")
                       .Help(
                           "Upstream events the scope rule delivered to or hid from containers; "
                           "held events replayed to a later subscription")
                       .Register(*registry_);
    gw_delivered_ = &events.Add({{"outcome", "delivered"}});
    gw_hidden_ = &events.Add({{"outcome", "hidden"}});
    gw_replayed_ = &events.Add({{"outcome", "replayed"}});
    gw_writes_accepted_ = &BuildGauge()
                               .Name("tenex_gateway_writes_accepted")
                               .Help("Container writes published and accepted by a relay")
                               .Register(*registry_)
                               .Add({});
    gw_writes_refused_ = &BuildGauge()
                              .Name("tenex_gateway_writes_refused")
                              .Help("Container writes refused (OK false), by reason")
                              .Register(*registry_);
    for (auto reason : kGatewayRefusals) gw_writes_refused_->Add({{"reason", std::string(reason)}});
    configure_projects(true, max_projects_);
}

Metrics::~Metrics() = default;

void Metrics::configure_projects(bool enabled, std::size_t max_projects) {
    using namespace prometheus;
    MutexLock lock(mutex_);
    max_projects_ = std::max<std::size_t>(1, max_projects);
    if (enabled == static_cast<bool>(project_families_)) return;
    if (!enabled) {
        for (auto& [project, series] : project_series_) remove_series(series);
        project_series_.clear();
        auto& f = *project_families_;
        registry_->Remove(*f.state);
        registry_->Remove(*f.state_seconds);
        registry_->Remove(*f.cpu);
        registry_->Remove(*f.memory);
        registry_->Remove(*f.memory_limit);
        registry_->Remove(*f.restarts);
        registry_->Remove(*f.ooms);
        registry_->Remove(*f.wake);
        registry_->Remove(*f.omitted_family);
        project_families_.reset();
        return;
    }
    auto f = std::make_unique<ProjectFamilies>();
    f->state = &BuildGauge()
                    .Name("tenex_project_state")
                    .Help("1 for the project's current state (one series per project)")
                    .Register(*registry_);
    f->state_seconds = &BuildCounter()
                            .Name("tenex_project_state_seconds_total")
                            .Help(
                                "Seconds the project spent in each state since the daemon started "
                                "(measured each 2 s tick)")
                            .Register(*registry_);
    f->cpu = &BuildCounter()
                  .Name("tenex_project_cpu_seconds_total")
                  .Help("CPU time used by the project's containers (sampled from engine stats)")
                  .Register(*registry_);
    f->memory = &BuildGauge()
                     .Name("tenex_project_memory_bytes")
                     .Help(
                         "Memory used by the project's container, page cache excluded; 0 when it "
                         "is not running or paused")
                     .Register(*registry_);
    f->memory_limit =
        &BuildGauge()
             .Name("tenex_project_memory_limit_bytes")
             .Help("Memory limit of the project's container (the host's memory when unlimited)")
             .Register(*registry_);
    f->restarts = &BuildCounter()
                       .Name("tenex_project_restarts_total")
                       .Help("Automatic restarts of the project's container after an exit")
                       .Register(*registry_);
    f->ooms = &BuildCounter()
                   .Name("tenex_project_oom_kills_total")
                   .Help("Processes of the project's containers killed by the OOM killer")
                   .Register(*registry_);
    f->wake = &BuildGauge()
                   .Name("tenex_project_last_wake_seconds")
                   .Help(
                       "Time from the project's last start trigger to its container running "
                       "(create, warm start or unpause)")
                   .Register(*registry_);
    f->omitted_family = &BuildGauge()
                             .Name("tenex_project_metrics_omitted")
                             .Help("Projects without per-project series: over metrics.max_projects")
                             .Register(*registry_);
    f->omitted = &f->omitted_family->Add({});
    project_families_ = std::move(f);
}

void Metrics::remove_series(ProjectSeries& s) {
    auto& f = *project_families_;
    if (s.state) f.state->Remove(s.state);
    for (auto& [state, c] : s.state_seconds) f.state_seconds->Remove(c);
    if (s.cpu) f.cpu->Remove(s.cpu);
    if (s.memory) f.memory->Remove(s.memory);
    if (s.memory_limit) f.memory_limit->Remove(s.memory_limit);
    if (s.restarts) f.restarts->Remove(s.restarts);
    if (s.ooms) f.ooms->Remove(s.ooms);
    if (s.wake) f.wake->Remove(s.wake);
}

void Metrics::set_projects(const std::vector<ProjectSample>& samples, double now) {
    MutexLock lock(mutex_);
    if (!project_families_) return;
    auto& f = *project_families_;
    // Who has series: those that had them, then new ones in address order, up to the cap.
    std::map<std::string, const ProjectSample*> listed;
    for (const auto& s : samples) listed.emplace(s.project, &s);
    for (auto it = project_series_.begin(); it != project_series_.end();) {
        if (listed.count(it->first)) {
            ++it;
            continue;
        }
        remove_series(it->second);
        it = project_series_.erase(it);
    }
    std::size_t omitted = 0;
    for (const auto& [project, sample] : listed) {
        auto it = project_series_.find(project);
        if (it == project_series_.end()) {
            if (project_series_.size() >= max_projects_) {
                ++omitted;
                continue;
            }
            it = project_series_.emplace(project, ProjectSeries{}).first;
            auto& n = it->second;
            const prometheus::Labels labels{{"project", project}};
            n.cpu = &f.cpu->Add(labels);
            n.restarts = &f.restarts->Add(labels);
            n.ooms = &f.ooms->Add(labels);
            n.state_since = now;
        }
        auto& p = it->second;
        const auto& s = *sample;
        const prometheus::Labels labels{{"project", project}};
        // The time since the last call was spent in the state seen then.
        if (!p.state_name.empty() && now > p.state_since) {
            auto c = p.state_seconds.find(p.state_name);
            if (c != p.state_seconds.end()) c->second->Increment(now - p.state_since);
        }
        p.state_since = now;
        if (s.state != p.state_name) {
            if (p.state) f.state->Remove(p.state);
            p.state = &f.state->Add({{"project", project}, {"state", s.state}});
            p.state->Set(1);
            p.state_name = s.state;
            if (!p.state_seconds.count(s.state))
                p.state_seconds.emplace(
                    s.state, &f.state_seconds->Add({{"project", project}, {"state", s.state}}));
        }
        if (s.cpu_seconds) {
            const double v = *s.cpu_seconds;
            if (s.container_id != p.cpu_container)
                p.cpu->Increment(std::max(0.0, v));
            else if (v > p.cpu_last)
                p.cpu->Increment(v - p.cpu_last);
            p.cpu_container = s.container_id;
            p.cpu_last = v;
        }
        if (s.memory_used) {
            if (!p.memory) p.memory = &f.memory->Add(labels);
            p.memory->Set(static_cast<double>(*s.memory_used));
        }
        if (s.memory_limit) {
            if (!p.memory_limit) p.memory_limit = &f.memory_limit->Add(labels);
            p.memory_limit->Set(static_cast<double>(*s.memory_limit));
        }
        // The status counts are since the project was first seen; an operator restart sets
        // the restart count back to 0 (nothing to add then).
        if (s.restarts > p.restarts_last) p.restarts->Increment(s.restarts - p.restarts_last);
        p.restarts_last = s.restarts;
        if (s.oom_kills > p.ooms_last) p.ooms->Increment(s.oom_kills - p.ooms_last);
        p.ooms_last = s.oom_kills;
        if (s.last_wake_seconds) {
            if (!p.wake) p.wake = &f.wake->Add(labels);
            p.wake->Set(*s.last_wake_seconds);
        }
    }
    f.omitted->Set(static_cast<double>(omitted));
}

void Metrics::event_received(const std::string& relay) {
    MutexLock lock(mutex_);
    auto it = received_by_relay_.find(relay);
    if (it == received_by_relay_.end()) {
        auto* c = &received_->Add({{"relay", redact_relay_url(relay)}});
        it = received_by_relay_.emplace(relay, c).first;
    }
    it->second->Increment();
}

void Metrics::event_accepted() {
    accepted_->Increment();
}

void Metrics::event_rejected(std::string_view reason) {
    auto it = rejected_.find(reason);
    if (it == rejected_.end()) it = rejected_.find(std::string_view("other"));
    it->second->Increment();
}

void Metrics::trigger(std::string_view kind) {
    if (kind == "start")
        trigger_start_->Increment();
    else if (kind == "touch")
        trigger_touch_->Increment();
    else if (kind == "engine_wait")
        trigger_engine_wait_->Increment();
    else if (kind == "engine_retry")
        trigger_engine_retry_->Increment();
}

void Metrics::container_started(const std::string& node) {
    starts_->Increment();
    if (node.empty()) return;
    MutexLock lock(mutex_);
    node_starts_->Add({{"node", node}}).Increment();
}

void Metrics::set_running_by_node(const std::map<std::string, int>& counts) {
    MutexLock lock(mutex_);
    for (auto& [node, gauge] : running_by_node_)
        gauge->Set(counts.count(node) ? counts.at(node) : 0);
    for (const auto& [node, n] : counts) {
        auto [it, added] = running_by_node_.emplace(node, nullptr);
        if (added) it->second = &node_running_->Add({{"node", node}});
        it->second->Set(n);
    }
}
void Metrics::container_restarted() {
    restarts_->Increment();
}
void Metrics::oom_killed() {
    ooms_->Increment();
}

void Metrics::lifecycle_event(std::string_view outcome) {
    auto it = lifecycle_events_.find(outcome);
    if (it == lifecycle_events_.end()) it = lifecycle_events_.find(std::string_view("failed"));
    it->second->Increment();
}

void Metrics::exec(std::string_view outcome) {
    auto it = execs_.find(outcome);
    if (it == execs_.end()) it = execs_.find(std::string_view("failed"));
    it->second->Increment();
}

void Metrics::observe_trigger_to_running(double seconds) {
    if (seconds < 0) seconds = 0;
    trigger_to_running_->Observe(seconds);
}

void Metrics::set_projects_by_state(const std::map<std::string, int>& counts) {
    MutexLock lock(mutex_);
    for (auto& [state, gauge] : projects_by_state_) {
        auto it = counts.find(state);
        gauge->Set(it == counts.end() ? 0 : it->second);
    }
    for (auto& [state, n] : counts) {
        if (projects_by_state_.count(state)) continue;
        auto* g = &projects_->Add({{"state", state}});
        projects_by_state_.emplace(state, g);
        g->Set(n);
    }
}

void Metrics::set_relays(const std::vector<relay::RelayStatus>& relays) {
    MutexLock lock(mutex_);
    std::map<std::string, RelayGauges> next;
    for (const auto& r : relays) {
        auto label = redact_relay_url(r.url);
        auto it = relays_.find(label);
        RelayGauges g;
        if (it != relays_.end()) {
            g = it->second;
            relays_.erase(it);
        } else if (auto n = next.find(label); n != next.end()) {
            g = n->second;
        } else {
            g.connected = &relay_connected_->Add({{"relay", label}});
            g.reconnects = &relay_reconnects_->Add({{"relay", label}});
            g.invalid = &relay_invalid_->Add({{"relay", label}});
        }
        g.connected->Set(r.connected ? 1 : 0);
        g.reconnects->Set(static_cast<double>(r.reconnects));
        g.invalid->Set(static_cast<double>(r.invalid_events));
        next[label] = g;
    }
    for (auto& [label, g] : relays_) {  // relays no longer configured
        relay_connected_->Remove(g.connected);
        relay_reconnects_->Remove(g.reconnects);
        relay_invalid_->Remove(g.invalid);
    }
    relays_ = std::move(next);
}

void Metrics::set_queue_depth(std::size_t n) {
    queue_depth_->Set(static_cast<double>(n));
}

void Metrics::set_loop_failures(std::string_view loop, std::uint64_t n) {
    loop_failures_->Add({{"loop", std::string(loop)}}).Set(static_cast<double>(n));
}

void Metrics::set_egress(std::uint64_t forwarded, std::uint64_t refused) {
    egress_forwarded_->Set(static_cast<double>(forwarded));
    egress_refused_->Set(static_cast<double>(refused));
}

void Metrics::set_gateway(const gateway::GatewayStats& s) {
    gw_connections_->Set(static_cast<double>(s.connections));
    gw_refused_connections_->Set(static_cast<double>(s.refused_connections));
    gw_delivered_->Set(static_cast<double>(s.events_delivered));
    gw_hidden_->Set(static_cast<double>(s.events_hidden));
    gw_replayed_->Set(static_cast<double>(s.events_replayed));
    gw_writes_accepted_->Set(static_cast<double>(s.writes_accepted));
    for (const auto& [reason, n] : s.writes_refused)
        gw_writes_refused_->Add({{"reason", reason}}).Set(static_cast<double>(n));
    set_loop_failures("gateway", s.loop_failures);
}

std::string Metrics::serialize() const {
    return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace tenex::daemon
