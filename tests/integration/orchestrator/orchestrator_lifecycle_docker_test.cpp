// The orchestrator's lifecycle against the real engine: restarts with backoff and the
// crash-loop cutoff, exit reasons, idle timeout and maximum lifetime, policy changes.
#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "docker/logs.hpp"
#include "orchestrator_docker_fixture.hpp"

namespace tenex::sandbox {
namespace {

using namespace std::chrono_literals;
using docker::test::eventually;

TEST_F(OrchestratorDockerTest, NonZeroExitRestartsWithGrowingDelaysUntilCrashLoop) {
    Policy p = test::probe_policy({"exit", "3"});
    p.lifecycle.backoff_initial = 300ms;
    p.lifecycle.crash_loop_threshold = 3;
    p.lifecycle.crash_loop_window = 60s;
    set_policy(p);
    Orchestrator& orch = make();
    const auto ref = project("crashy");
    ASSERT_TRUE(orch.ensure_running(ref).get());
    // Watch the restarts happen: the moment each restart count first shows up.
    std::vector<std::chrono::steady_clock::time_point> restarted_at;
    std::optional<ProjectStatus> last;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
        last = orch.status(ref);
        ASSERT_TRUE(last);
        while (static_cast<int>(restarted_at.size()) < last->restart_count)
            restarted_at.push_back(std::chrono::steady_clock::now());
        if (last->state == ProjectState::crash_looping) break;
        std::this_thread::sleep_for(10ms);
    }
    ASSERT_EQ(last->state, ProjectState::crash_looping) << last->last_error;
    EXPECT_EQ(last->restart_count, 3);
    EXPECT_EQ(last->last_exit_code, 3);
    EXPECT_EQ(last->last_exit_reason, ExitReason::exit);
    EXPECT_NE(last->last_error.find("crash loop"), std::string::npos) << last->last_error;
    ASSERT_EQ(restarted_at.size(), 3u);
    // Backoffs of 300, 600, 1200 ms (+-20%) between an exit and the next start.
    auto gap1 = restarted_at[1] - restarted_at[0];
    auto gap2 = restarted_at[2] - restarted_at[1];
    EXPECT_GT(gap2, gap1);
    EXPECT_GE(gap1, 480ms);
    EXPECT_GE(gap2, 960ms);
    // No more restarts: the one exited container stays.
    std::this_thread::sleep_for(1500ms);
    EXPECT_EQ(orch.status(ref)->restart_count, 3);
    auto list = containers(daemon_id_);
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].state, "exited");
    // A new trigger starts it again (and counts from zero).
    set_policy(test::probe_policy());
    auto again = orch.ensure_running(ref).get();
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(again->state, ProjectState::running);
}

TEST_F(OrchestratorDockerTest, AStableRunResetsTheBackoff) {
    Policy p = test::probe_policy({"exit", "3", "2"});  // runs 2 s, then exits with 3
    p.lifecycle.backoff_initial = 500ms;
    p.lifecycle.crash_loop_threshold = 100;
    set_policy(p);
    OrchestratorOptions o = options(daemon_id_);
    o.stable_run = 1s;              // every run of the probe counts as stable
    o.random = [] { return 0.5; };  // no jitter: exact delays
    orchestrators_.push_back(std::make_unique<Orchestrator>(o, *engine_));
    Orchestrator& orch = *orchestrators_.back();
    events_ = std::make_unique<OrchestratorEvents>(*client_, orch);
    ASSERT_TRUE(events_->start());
    const auto ref = project("stable");
    ASSERT_TRUE(orch.ensure_running(ref).get());
    // The delay each restart was scheduled with (last_error while backing off), by restart.
    std::map<int, std::string> delays;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline && delays.size() < 3) {
        auto s = orch.status(ref);
        ASSERT_TRUE(s);
        if (s->state == ProjectState::backing_off) delays.emplace(s->restart_count, s->last_error);
        std::this_thread::sleep_for(10ms);
    }
    ASSERT_EQ(delays.size(), 3u);
    // Without the reset they would be 500, 1000 and 2000 ms (as in the crash-loop test).
    for (const auto& [restarts, why] : delays)
        EXPECT_NE(why.find("exited with code 3 (exit); restarting in 500 ms"), std::string::npos)
            << "after " << restarts << " restarts: " << why;
}

TEST_F(OrchestratorDockerTest, OomKilledContainerIsReportedAsOom) {
    Policy p = test::probe_policy({"alloc", "256", "hold"});
    p.resources.memory_bytes = 24LL << 20;
    p.lifecycle.restart = RestartMode::never;
    set_policy(p);
    Orchestrator& orch = make();
    const auto ref = project("oom");
    ASSERT_TRUE(orch.ensure_running(ref).get());
    ASSERT_TRUE(eventually([&] { return orch.status(ref)->state == ProjectState::failed; }, 20s))
        << to_string(orch.status(ref)->state);
    auto s = orch.status(ref);
    EXPECT_EQ(s->last_exit_reason, ExitReason::oom) << s->last_error;
    EXPECT_EQ(s->last_exit_code, 137);
}

TEST_F(OrchestratorDockerTest, ResourceUsageOfARunningProjectComesFromTheEngine) {
    Policy p = test::probe_policy({"alloc", "40", "hold"});
    p.resources.memory_bytes = 96LL << 20;
    set_policy(p);
    Orchestrator& orch = make();
    const auto ref = project("usage");
    auto started = orch.ensure_running(ref).get();
    ASSERT_TRUE(started) << started.error().message;
    ASSERT_FALSE(orch.status(ref)->usage) << "sampled before anyone asked";
    ASSERT_TRUE(eventually([&] {
        auto l = docker::container_logs(*client_, orch.status(ref)->container_id);
        return l && l->out.find("done=1") != std::string::npos;
    }));
    auto sampled = orch.refresh_usage().get();
    ASSERT_TRUE(sampled) << sampled.error().message;
    auto s = orch.status(ref);
    ASSERT_TRUE(s->usage);
    EXPECT_EQ(s->usage->memory_limit, 96u << 20);
    EXPECT_GE(s->usage->memory_used, 40u << 20);
    EXPECT_LT(s->usage->memory_used, 96u << 20);
    EXPECT_GE(s->usage->pids, 1u);
    EXPECT_LE(s->usage->pids, 64u);
    EXPECT_GE(s->usage->cpu_percent, 0.0);
    EXPECT_GT(s->usage->sampled_at_unix, 0);

    // Once the project is stopped its usage is gone, not left at the last sample.
    ASSERT_TRUE(orch.stop(ref).get());
    EXPECT_FALSE(orch.status(ref)->usage);
}

TEST_F(OrchestratorDockerTest, ContainerStoppedOrKilledBySomeoneElseIsReportedAsKilled) {
    Orchestrator& orch = make();  // restart: on-failure
    const auto ref = project("killed");
    // `docker stop` from outside: the probe exits 0 on SIGTERM, which is still not its own exit.
    auto first = orch.ensure_running(ref).get();
    ASSERT_TRUE(first) << first.error().message;
    // The probe prints sleeping=1 once its SIGTERM handler is in place (before that, SIGTERM
    // would end it with 143).
    ASSERT_TRUE(eventually(
        [&] {
            auto logs = docker::container_logs(*client_, first->container_id);
            return logs && logs->out.find("sleeping=1") != std::string::npos;
        },
        15s));
    ASSERT_TRUE(docker::stop_container(*client_, first->container_id, 5));
    ASSERT_TRUE(eventually([&] { return orch.status(ref)->state == ProjectState::stopped; }, 20s))
        << to_string(orch.status(ref)->state);
    auto stopped = orch.status(ref);
    EXPECT_EQ(stopped->last_exit_reason, ExitReason::killed) << stopped->last_error;
    EXPECT_EQ(stopped->last_exit_code, 0);
    EXPECT_EQ(stopped->restart_count, 0);  // exit code 0: on-failure does not restart
    // `docker kill` (SIGKILL, exit 137, no OOM): killed, and restarted as a failure.
    auto second = orch.ensure_running(ref).get();
    ASSERT_TRUE(second) << second.error().message;
    ASSERT_TRUE(docker::kill_container(*client_, second->container_id, "SIGKILL"));
    ASSERT_TRUE(eventually(
        [&] {
            auto s = orch.status(ref);
            return s->state == ProjectState::running && s->restart_count == 1;
        },
        20s))
        << orch.status(ref)->last_error;
    auto restarted = orch.status(ref);
    EXPECT_EQ(restarted->last_exit_reason, ExitReason::killed);
    EXPECT_EQ(restarted->last_exit_code, 137);
    EXPECT_NE(restarted->container_id, second->container_id);
}

TEST_F(OrchestratorDockerTest, IdleTimeoutStopsTheContainer) {
    Policy p = test::probe_policy();
    p.lifecycle.idle_timeout = 1500ms;
    set_policy(p);
    Orchestrator& orch = make();
    const auto ref = project("idle");
    auto t0 = std::chrono::steady_clock::now();  // the trigger starts the idle clock
    auto started = orch.ensure_running(ref).get();
    ASSERT_TRUE(started);
    ASSERT_TRUE(eventually([&] { return orch.status(ref)->state == ProjectState::stopped; }, 15s));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 1400ms);
    EXPECT_EQ(orch.status(ref)->last_error, "idle timeout");
    EXPECT_TRUE(containers(daemon_id_).empty());
}

TEST_F(OrchestratorDockerTest, MaxLifetimeStopsThenTheNextTriggerStartsAgain) {
    Policy p = test::probe_policy();
    p.lifecycle.max_lifetime = 2000ms;
    set_policy(p);
    Orchestrator& orch = make();
    const auto ref = project("lifetime");
    auto first = orch.ensure_running(ref).get();
    ASSERT_TRUE(first);
    // Triggers keep it from idling but do not extend its lifetime.
    for (int i = 0; i < 5; ++i) {
        orch.touch(ref);
        std::this_thread::sleep_for(200ms);
    }
    ASSERT_TRUE(eventually([&] { return orch.status(ref)->state == ProjectState::stopped; }, 15s));
    EXPECT_EQ(orch.status(ref)->last_error, "maximum lifetime reached");
    EXPECT_TRUE(containers(daemon_id_).empty());
    auto second = orch.ensure_running(ref).get();
    ASSERT_TRUE(second);
    EXPECT_EQ(second->state, ProjectState::running);
    EXPECT_NE(second->container_id, first->container_id);
}

TEST_F(OrchestratorDockerTest, ChangedPolicyReplacesTheContainerAtTheNextTrigger) {
    Orchestrator& orch = make();
    const auto ref = project("digest");
    auto first = orch.ensure_running(ref).get();
    ASSERT_TRUE(first) << first.error().message;
    auto same = orch.ensure_running(ref).get();
    ASSERT_TRUE(same);
    EXPECT_EQ(same->container_id, first->container_id);  // unchanged policy: kept
    Policy p = test::probe_policy();
    p.resources.pids = 99;
    set_policy(p);
    // The daemon reloads its policies: next-trigger (the default) leaves the container alone.
    orch.policies_changed();
    std::this_thread::sleep_for(2s);
    auto before = containers(daemon_id_);
    ASSERT_EQ(before.size(), 1u);
    EXPECT_EQ(before[0].id, first->container_id);
    EXPECT_EQ(orch.status(ref)->container_id, first->container_id);
    auto second = orch.ensure_running(ref).get();
    ASSERT_TRUE(second) << second.error().message;
    EXPECT_NE(second->container_id, first->container_id);
    EXPECT_NE(second->policy_digest, first->policy_digest);
    auto list = containers(daemon_id_);
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].id, second->container_id);
    EXPECT_EQ(list[0].labels.at(kLabelPolicyDigest), second->policy_digest);
    auto info = docker::inspect_container(*client_, second->container_id);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->spec.pids_limit, 99);
}

// The most containers the daemon identity had at once while `until` was false (sampled).
std::size_t most_containers_while(const docker::Client& client, const std::string& daemon_id,
                                  const std::function<bool()>& until,
                                  std::chrono::milliseconds timeout) {
    std::size_t most = 0;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!until() && std::chrono::steady_clock::now() < deadline) {
        auto list = docker::list_containers(
            client,
            {.all = true, .labels = {std::string(kLabelDaemon) + "=" + daemon_id}, .names = {}});
        if (list) most = std::max(most, list->size());
        std::this_thread::sleep_for(10ms);
    }
    return most;
}

TEST_F(OrchestratorDockerTest, ImmediatelyReplacesTheRunningContainerWhenPoliciesChange) {
    Policy p = test::probe_policy();
    p.lifecycle.on_policy_change = PolicyChange::immediately;
    set_policy(p);
    Orchestrator& orch = make();
    const auto ref = project("immediately");
    auto first = orch.ensure_running(ref).get();
    ASSERT_TRUE(first) << first.error().message;
    p.resources.pids = 99;
    set_policy(p);
    orch.policies_changed();  // what the daemon does after SIGHUP
    auto replaced = [&] {
        auto s = orch.status(ref);
        return s && s->state == ProjectState::running && s->container_id != first->container_id;
    };
    // Never a second container for the project, not even during the replacement.
    EXPECT_LE(most_containers_while(*client_, daemon_id_, replaced, 30s), 1u);
    ASSERT_TRUE(replaced()) << orch.status(ref)->last_error;
    auto s = orch.status(ref);
    EXPECT_NE(s->policy_digest, first->policy_digest);
    EXPECT_EQ(s->restart_count, 0);  // a replacement, not a restart after a crash
    EXPECT_EQ(s->last_trigger_unix_ms, first->last_trigger_unix_ms);  // and not a trigger
    auto list = containers(daemon_id_);
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].id, s->container_id);
    EXPECT_EQ(list[0].labels.at(kLabelPolicyDigest), s->policy_digest);
    auto info = docker::inspect_container(*client_, s->container_id);
    ASSERT_TRUE(info);
    EXPECT_TRUE(info->state.running);
    EXPECT_EQ(info->spec.pids_limit, 99);
    auto old = docker::inspect_container(*client_, first->container_id);
    ASSERT_FALSE(old);
    EXPECT_TRUE(old.error().not_found());
}

}  // namespace
}  // namespace tenex::sandbox
