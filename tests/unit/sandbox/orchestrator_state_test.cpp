// The orchestrator's state machine against an in-memory engine: single flight, bounded
// starts, idle and lifetime timers (with an injected clock), adoption on a name conflict,
// stale digests, reconcile, stop, usage and shutdown. The restart policy is in
// orchestrator_restart_test.cpp, policy changes in orchestrator_policy_change_test.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "orchestrator_test_fixture.hpp"

namespace tenex::sandbox {
namespace {

using namespace std::chrono_literals;
using test::die_event;
using test::eventually;
using test::FakeEngine;
using test::kOwner;
using test::project;

class OrchestratorStateTest : public test::OrchestratorFixture {};

TEST_F(OrchestratorStateTest, HundredConcurrentTriggersMakeOneContainer) {
    engine_.create_latency = 20ms;
    Orchestrator orch(options(), engine_);
    std::vector<StatusFuture> futures(100);
    std::vector<std::thread> threads;
    for (int i = 0; i < 100; ++i)
        threads.emplace_back([&, i] { futures[i] = orch.ensure_running(project("one")); });
    for (auto& t : threads) t.join();
    std::set<std::string> ids;
    for (auto& f : futures) {
        auto r = f.get();
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_EQ(r->state, ProjectState::running);
        ids.insert(r->container_id);
    }
    EXPECT_EQ(ids.size(), 1u);
    EXPECT_EQ(engine_.creates.load(), 1);
    EXPECT_EQ(engine_.count(), 1u);
}

TEST_F(OrchestratorStateTest, StartsAreBoundedAndEveryProjectRuns) {
    engine_.start_latency = 15ms;
    auto o = options();
    o.max_starts_in_flight = 2;
    Orchestrator orch(o, engine_);
    std::vector<StatusFuture> futures;
    for (int i = 0; i < 20; ++i)
        futures.push_back(
            orch.ensure_running(project("p" + std::to_string(i), std::string(64, "abcd"[i % 4]))));
    for (auto& f : futures) {
        auto r = f.get();
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_EQ(r->state, ProjectState::running);
    }
    EXPECT_LE(engine_.max_starting.load(), 2);
    EXPECT_EQ(engine_.max_starting.load(), 2);  // and the slots were used
    EXPECT_EQ(engine_.creates.load(), 20);
}

TEST_F(OrchestratorStateTest, IdleTimeoutStopsAndTouchKeepsAlive) {
    policy_.lifecycle.idle_timeout = 10s;
    Orchestrator orch(options(), engine_);
    const auto p = project("idle");
    ASSERT_TRUE(orch.ensure_running(p).get());
    advance(6s);
    orch.touch(p);
    (void)orch.snapshot();  // the touch is handled before the clock moves on
    advance(6s);
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(orch.status(p)->state, ProjectState::running);
    EXPECT_EQ(engine_.stops.load(), 0);
    advance(5s);
    ASSERT_TRUE(eventually([&] { return orch.status(p)->state == ProjectState::stopped; }));
    EXPECT_EQ(engine_.stops.load(), 1);
    EXPECT_EQ(engine_.count(), 0u);
    EXPECT_EQ(orch.status(p)->last_error, "idle timeout");
}

TEST_F(OrchestratorStateTest, MaxLifetimeStopsThenNextTriggerStartsAgain) {
    policy_.lifecycle.max_lifetime = 30s;
    Orchestrator orch(options(), engine_);
    const auto p = project("mortal");
    auto first = orch.ensure_running(p).get();
    ASSERT_TRUE(first);
    advance(20s);
    orch.touch(p);  // triggers do not extend the lifetime
    advance(11s);
    ASSERT_TRUE(eventually([&] { return orch.status(p)->state == ProjectState::stopped; }));
    EXPECT_EQ(orch.status(p)->last_error, "maximum lifetime reached");
    auto second = orch.ensure_running(p).get();
    ASSERT_TRUE(second);
    EXPECT_EQ(second->state, ProjectState::running);
    EXPECT_NE(second->container_id, first->container_id);
}

TEST_F(OrchestratorStateTest, AdoptsOwnContainerOnNameConflict) {
    const auto p = project("adopt");
    auto spec = our_spec(p);
    std::string existing = engine_.add_container(spec, "running");
    Orchestrator orch(options(), engine_);
    auto r = orch.ensure_running(p).get();
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->container_id, existing);
    EXPECT_EQ(engine_.starts.load(), 0);
    EXPECT_EQ(engine_.count(), 1u);
}

TEST_F(OrchestratorStateTest, RefusesANameTakenByAnUnmanagedContainer) {
    const auto p = project("foreign");
    docker::ContainerSpec spec;
    spec.name = container_name(p);
    spec.labels = {{"something", "else"}};
    std::string foreign = engine_.add_container(spec, "running");
    Orchestrator orch(options(), engine_);
    auto r = orch.ensure_running(p).get();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("does not manage"), std::string::npos);
    EXPECT_EQ(engine_.containers.count(foreign), 1u);
    EXPECT_EQ(orch.status(p)->state, ProjectState::failed);
}

TEST_F(OrchestratorStateTest, StaleDigestIsReplacedAtTheNextTrigger) {
    Orchestrator orch(options(), engine_);
    const auto p = project("stale");
    auto first = orch.ensure_running(p).get();
    ASSERT_TRUE(first);
    auto same = orch.ensure_running(p).get();
    ASSERT_TRUE(same);
    EXPECT_EQ(same->container_id, first->container_id);
    {
        std::lock_guard lock(policy_mu_);
        policy_.resources.pids = 77;
    }
    auto second = orch.ensure_running(p).get();
    ASSERT_TRUE(second);
    EXPECT_NE(second->container_id, first->container_id);
    EXPECT_EQ(second->policy_digest, digest_for(p));
    EXPECT_EQ(engine_.count(), 1u);
}

TEST_F(OrchestratorStateTest, ReconcileAdoptsRemovesAndLeavesOthersAlone) {
    engine_.ignore_filters = true;  // the orchestrator must check the labels itself
    const auto running = project("running");
    const auto exited = project("exited");
    const auto gone = project("gone-project");
    std::string running_id = engine_.add_container(our_spec(running), "running");
    std::string exited_id = engine_.add_container(our_spec(exited), "exited");
    engine_.exit_container(exited_id, 1);
    std::string gone_id = engine_.add_container(our_spec(gone), "running");
    auto other = our_spec(project("other"));
    other.labels[kLabelDaemon] = "another-daemon";
    std::string other_id = engine_.add_container(other, "running");
    docker::ContainerSpec unlabelled;
    unlabelled.name = "somebody-elses";
    std::string unlabelled_id = engine_.add_container(unlabelled, "exited");

    auto o = options();
    o.clock = {};  // real time: the backoff timer must fire
    Orchestrator orch(o, engine_);
    auto done = orch.reconcile().get();
    ASSERT_TRUE(done) << done.error().message;
    auto s = orch.status(running);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->state, ProjectState::running);
    EXPECT_EQ(s->container_id, running_id);
    // on-failure: the exited one is restarted after the backoff.
    ASSERT_TRUE(eventually([&] {
        auto e = orch.status(exited);
        return e && e->state == ProjectState::running && e->container_id != exited_id;
    }));
    EXPECT_TRUE(eventually([&] {
        std::lock_guard lock(engine_.mu);
        return engine_.containers.count(gone_id) == 0;
    }));
    EXPECT_EQ(engine_.containers.count(other_id), 1u);
    EXPECT_EQ(engine_.containers.count(unlabelled_id), 1u);
    EXPECT_EQ(engine_.containers.count(running_id), 1u);
    EXPECT_FALSE(orch.status(project("other")));
}

TEST_F(OrchestratorStateTest, ReconcileNoticesAVanishedContainer) {
    auto o = options();
    o.clock = {};  // real time: the backoff timer must fire
    Orchestrator orch(o, engine_);
    const auto p = project("vanish");
    auto r = orch.ensure_running(p).get();
    ASSERT_TRUE(r);
    (void)engine_.remove(r->container_id, true);
    ASSERT_TRUE(orch.reconcile().get());
    ASSERT_TRUE(eventually([&] {
        auto s = orch.status(p);
        return s->state == ProjectState::running && s->container_id != r->container_id;
    }));
    EXPECT_EQ(orch.status(p)->restart_count, 1);
}

TEST_F(OrchestratorStateTest, AGapInTheEventsStreamReconciles) {
    const auto p = project("after-gap");
    std::string id = engine_.add_container(our_spec(p), "running");
    Orchestrator orch(options(), engine_);
    EXPECT_EQ(engine_.lists.load(), 0);
    orch.on_events_gap();
    ASSERT_TRUE(eventually([&] {
        auto s = orch.status(p);
        return s && s->state == ProjectState::running && s->container_id == id;
    }));
    EXPECT_EQ(engine_.lists.load(), 1);
    EXPECT_EQ(engine_.creates.load(), 0);
}

TEST_F(OrchestratorStateTest, ShutdownLeavesContainersOrStopsThemAll) {
    {
        Orchestrator orch(options(), engine_);
        for (int i = 0; i < 5; ++i)
            ASSERT_TRUE(orch.ensure_running(project("s" + std::to_string(i))).get());
        orch.shutdown(false);
    }
    EXPECT_EQ(engine_.count(), 5u);
    EXPECT_EQ(engine_.stops.load(), 0);
    Orchestrator second(options(), engine_);
    ASSERT_TRUE(second.reconcile().get());
    EXPECT_EQ(second.snapshot().size(), 5u);
    second.shutdown(true);
    EXPECT_EQ(engine_.stops.load(), 5);
    EXPECT_EQ(engine_.count(), 0u);
    auto late = second.ensure_running(project("late")).get();
    EXPECT_FALSE(late);
}

TEST_F(OrchestratorStateTest, StopAndUsage) {
    Orchestrator orch(options(), engine_);
    const auto p = project("stoppable");
    ASSERT_TRUE(orch.ensure_running(p).get());
    ASSERT_TRUE(orch.refresh_usage().get());
    auto s = orch.status(p);
    ASSERT_TRUE(s->usage);
    EXPECT_EQ(s->usage->pids, 3u);
    EXPECT_EQ(s->usage->memory_limit, 2000u);
    auto stopped = orch.stop(p).get();
    ASSERT_TRUE(stopped) << stopped.error().message;
    EXPECT_EQ(stopped->state, ProjectState::stopped);
    EXPECT_EQ(engine_.count(), 0u);
    auto restarted = orch.restart(p).get();
    ASSERT_TRUE(restarted);
    EXPECT_EQ(restarted->state, ProjectState::running);
}

TEST_F(OrchestratorStateTest, ShutdownGivesUpAtTheStopTimeoutPlusTheMargin) {
    policy_.lifecycle.stop_timeout = 1s;
    auto o = options();
    o.shutdown_margin = 500ms;
    o.shutdown_per_container = 0ms;
    Orchestrator orch(o, engine_);
    for (int i = 0; i < 5; ++i)
        ASSERT_TRUE(orch.ensure_running(project("hang" + std::to_string(i))).get());
    engine_.stop_latency = 20s;  // an engine that does not answer
    const auto t0 = std::chrono::steady_clock::now();
    orch.shutdown(true);
    const auto took = std::chrono::steady_clock::now() - t0;
    // All five at once, each given up at 1 s + 500 ms (one after the other: > 7 s).
    EXPECT_GE(took, 1400ms);
    EXPECT_LT(took, 5s) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                        << " ms";
    EXPECT_EQ(engine_.stop_calls.load(), 5);
    EXPECT_GT(engine_.last_stop_budget.load(), 1000);
    EXPECT_LE(engine_.last_stop_budget.load(), 1500);
    EXPECT_EQ(engine_.count(), 5u);  // not confirmed: left as they were
}

TEST_F(OrchestratorStateTest, TheShutdownDeadlineGrowsWithTheNumberOfContainers) {
    policy_.lifecycle.stop_timeout = 1s;
    auto o = options();
    o.shutdown_margin = 500ms;
    o.shutdown_per_container = 300ms;
    Orchestrator orch(o, engine_);
    for (int i = 0; i < 5; ++i)
        ASSERT_TRUE(orch.ensure_running(project("many" + std::to_string(i))).get());
    engine_.stop_latency = 20s;  // an engine that does not answer
    const auto t0 = std::chrono::steady_clock::now();
    orch.shutdown(true);
    const auto took = std::chrono::steady_clock::now() - t0;
    // 1 s + 500 ms + 5 x 300 ms = 3 s for all five (an engine stops them a few a second).
    EXPECT_GE(took, 2900ms);
    EXPECT_LT(took, 6s) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                        << " ms";
    EXPECT_GT(engine_.last_stop_budget.load(), 2500);
    EXPECT_LE(engine_.last_stop_budget.load(), 3000);
}

TEST_F(OrchestratorStateTest, ShutdownWithStopProjectsAlsoStopsAContainerWhoseStartWasInFlight) {
    engine_.start_latency = 300ms;
    Orchestrator orch(options(), engine_);
    auto starting = orch.ensure_running(project("late"));
    ASSERT_TRUE(eventually([&] { return engine_.creates.load() == 1; }));  // start in flight
    orch.shutdown(true);
    EXPECT_FALSE(starting.get());  // the request was answered: shutting down
    EXPECT_EQ(engine_.starts.load(), 1);
    EXPECT_EQ(engine_.count(), 0u);  // started after the first round of stops, stopped too
}

}  // namespace
}  // namespace tenex::sandbox
