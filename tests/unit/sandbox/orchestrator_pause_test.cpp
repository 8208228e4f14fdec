// The orchestrator's pause and warm-start rules against the fake engine, with an injected
// clock: pause after lifecycle.pause_after, unpause on a trigger, an idle stop that thaws the
// container first and keeps it (lifecycle.keep_stopped), the kept container started again
// while its digest is current and removed when it is not, after keep_stopped, on stop and on
// a stopping shutdown; adoption of paused and kept containers by another orchestrator.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "orchestrator_test_fixture.hpp"

namespace tenex::sandbox {
namespace {

using namespace std::chrono_literals;
using test::eventually;
using test::project;

class OrchestratorPauseTest : public test::OrchestratorFixture {
  protected:
    void SetUp() override {
        OrchestratorFixture::SetUp();
        policy_.lifecycle.pause_after = 10s;
        policy_.lifecycle.idle_timeout = 60s;
        policy_.lifecycle.keep_stopped = 120s;
    }
    std::string engine_status(const std::string& id) {
        std::lock_guard lock(engine_.mu);
        auto it = engine_.containers.find(id);
        return it == engine_.containers.end() ? "gone" : it->second.status;
    }
    ProjectState state(Orchestrator& o, const ProjectRef& p) { return o.status(p)->state; }
    // Runs p, then lets the clock pass the idle timeout: stopped and kept.
    std::string run_until_kept(Orchestrator& orch, const ProjectRef& p) {
        auto s = orch.ensure_running(p).get();
        EXPECT_TRUE(s);
        advance(11s);
        EXPECT_TRUE(eventually([&] { return state(orch, p) == ProjectState::paused; }));
        advance(50s);
        EXPECT_TRUE(eventually([&] {
            auto st = orch.status(p);
            return st->state == ProjectState::stopped && st->kept;
        }));
        return s ? s->container_id : std::string();
    }
};

TEST_F(OrchestratorPauseTest, PausesAfterPauseAfterAndATriggerUnpausesTheSameContainer) {
    Orchestrator orch(options(), engine_);
    const auto p = project("pausing");
    auto first = orch.ensure_running(p).get();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->next_transition, "pause");
    advance(9s);
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(state(orch, p), ProjectState::running);
    EXPECT_EQ(engine_.pauses.load(), 0);
    advance(2s);
    ASSERT_TRUE(eventually([&] { return state(orch, p) == ProjectState::paused; }));
    EXPECT_EQ(engine_status(first->container_id), "paused");
    auto paused = orch.status(p);
    EXPECT_EQ(paused->next_transition, "stop");  // idle_timeout counts from the last trigger
    // touch() refreshes the idle clock but does not wake the project.
    orch.touch(p);
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(state(orch, p), ProjectState::paused);
    auto woken = orch.ensure_running(p).get();
    ASSERT_TRUE(woken);
    EXPECT_EQ(woken->state, ProjectState::running);
    EXPECT_EQ(woken->container_id, first->container_id);
    EXPECT_EQ(woken->last_wake, "unpause");
    EXPECT_EQ(engine_status(first->container_id), "running");
    EXPECT_EQ(engine_.unpauses.load(), 1);
    EXPECT_EQ(engine_.creates.load(), 1);
    EXPECT_EQ(engine_.starts.load(), 1);
    // The trigger restarted the pause clock.
    advance(9s);
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(state(orch, p), ProjectState::running);
    advance(2s);
    ASSERT_TRUE(eventually([&] { return state(orch, p) == ProjectState::paused; }));
    EXPECT_EQ(engine_.pauses.load(), 2);
}

TEST_F(OrchestratorPauseTest, NoPauseWhenPauseAfterIsZeroOrNotShorterThanTheIdleTimeout) {
    policy_.lifecycle.pause_after = 60s;  // = idle_timeout: the idle stop comes first
    policy_.lifecycle.keep_stopped = 0ms;
    Orchestrator orch(options(), engine_);
    const auto p = project("never-paused");
    ASSERT_TRUE(orch.ensure_running(p).get());
    advance(61s);
    ASSERT_TRUE(eventually([&] { return state(orch, p) == ProjectState::stopped; }));
    EXPECT_EQ(engine_.pauses.load(), 0);
    EXPECT_EQ(engine_.count(), 0u);  // keep_stopped 0: removed as before
    EXPECT_FALSE(orch.status(p)->kept);
}

TEST_F(OrchestratorPauseTest, IdleStopThawsThePausedContainerAndKeepsItForAWarmStart) {
    Orchestrator orch(options(), engine_);
    const auto p = project("warm");
    const std::string id = run_until_kept(orch, p);
    // Thawed before the stop: the stop signal reached it (no SIGKILL after the timeout).
    EXPECT_EQ(engine_.paused_stops.load(), 0);
    EXPECT_EQ(engine_.unpauses.load(), 1);
    EXPECT_EQ(engine_status(id), "exited");
    auto kept = orch.status(p);
    EXPECT_EQ(kept->container_id, id);
    EXPECT_EQ(kept->last_error, "idle timeout");
    EXPECT_EQ(kept->next_transition, "remove");
    auto again = orch.ensure_running(p).get();
    ASSERT_TRUE(again);
    EXPECT_EQ(again->state, ProjectState::running);
    EXPECT_EQ(again->container_id, id);
    EXPECT_EQ(again->last_wake, "warm");
    EXPECT_FALSE(again->kept);
    EXPECT_EQ(engine_.creates.load(), 1);
    EXPECT_EQ(engine_.starts.load(), 2);
    EXPECT_EQ(engine_.removes.load(), 0);
}

TEST_F(OrchestratorPauseTest, KeptContainerIsRemovedAfterKeepStopped) {
    Orchestrator orch(options(), engine_);
    const auto p = project("expiring");
    run_until_kept(orch, p);
    advance(119s);
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(engine_.count(), 1u);
    advance(2s);
    ASSERT_TRUE(eventually([&] { return engine_.count() == 0u; }));
    ASSERT_TRUE(eventually([&] { return !orch.status(p)->kept; }));
    EXPECT_TRUE(orch.status(p)->container_id.empty());
    EXPECT_TRUE(orch.status(p)->next_transition.empty());
    auto cold = orch.ensure_running(p).get();
    ASSERT_TRUE(cold);
    EXPECT_EQ(cold->last_wake, "create");
    EXPECT_EQ(engine_.creates.load(), 2);
}

TEST_F(OrchestratorPauseTest, APolicyChangeRemovesTheKeptContainerAndCreatesANewOne) {
    Orchestrator orch(options(), engine_);
    const auto p = project("changed");
    const std::string id = run_until_kept(orch, p);
    change_policy([](Policy& pol) { pol.env["NEW"] = "1"; });
    auto fresh = orch.ensure_running(p).get();
    ASSERT_TRUE(fresh);
    EXPECT_NE(fresh->container_id, id);
    EXPECT_EQ(fresh->last_wake, "create");
    EXPECT_EQ(engine_status(id), "gone");
    EXPECT_EQ(engine_.count(), 1u);
    EXPECT_EQ(fresh->policy_digest, digest_for(p));
}

TEST_F(OrchestratorPauseTest, KeepStoppedZeroInANewPolicyRemovesTheKeptContainerAtOnce) {
    Orchestrator orch(options(), engine_);
    const auto p = project("reload");
    run_until_kept(orch, p);
    change_policy([](Policy& pol) { pol.lifecycle.keep_stopped = 0ms; });
    orch.policies_changed();
    ASSERT_TRUE(eventually([&] { return engine_.count() == 0u; }));
    EXPECT_FALSE(orch.status(p)->kept);
}

TEST_F(OrchestratorPauseTest, RestartAndStopDoNotReuseTheKeptContainer) {
    Orchestrator orch(options(), engine_);
    const auto a = project("restarted");
    const std::string id = run_until_kept(orch, a);
    auto restarted = orch.restart(a).get();
    ASSERT_TRUE(restarted);
    EXPECT_NE(restarted->container_id, id);
    EXPECT_EQ(engine_status(id), "gone");

    const auto b = project("stopped");
    const std::string kept = run_until_kept(orch, b);
    auto stopped = orch.stop(b).get();
    ASSERT_TRUE(stopped);
    EXPECT_EQ(stopped->state, ProjectState::stopped);
    EXPECT_FALSE(stopped->kept);
    EXPECT_EQ(engine_status(kept), "gone");
}

TEST_F(OrchestratorPauseTest, AnotherOrchestratorAdoptsPausedAndKeptContainers) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("orch-kept-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto opts = [&] {
        auto o = options();
        o.kept_file = dir / "kept";
        return o;
    };
    const auto paused = project("adopt-paused");
    const auto kept = project("adopt-kept");
    std::string paused_id, kept_id;
    {
        Orchestrator first(opts(), engine_);
        kept_id = run_until_kept(first, kept);
        auto s = first.ensure_running(paused).get();
        ASSERT_TRUE(s);
        paused_id = s->container_id;
        advance(11s);
        ASSERT_TRUE(eventually([&] { return state(first, paused) == ProjectState::paused; }));
        first.shutdown(false);  // leaves both for the next daemon
    }
    {
        std::ifstream in(dir / "kept");
        std::string line;
        ASSERT_TRUE(std::getline(in, line));
        EXPECT_EQ(line, kept_id);
    }
    const int starts = engine_.starts.load();
    Orchestrator second(opts(), engine_);
    ASSERT_TRUE(second.reconcile().get());
    auto p = second.status(paused);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->state, ProjectState::paused);
    EXPECT_EQ(p->container_id, paused_id);
    EXPECT_EQ(p->next_transition, "stop");
    auto k = second.status(kept);
    ASSERT_TRUE(k);
    EXPECT_EQ(k->state, ProjectState::stopped);  // not taken for a crash: not restarted
    EXPECT_TRUE(k->kept);
    EXPECT_EQ(k->container_id, kept_id);
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(engine_.starts.load(), starts);
    // Idle stop of the adopted paused one comes idle_timeout - pause_after after adoption.
    advance(51s);
    ASSERT_TRUE(eventually([&] { return state(second, paused) == ProjectState::stopped; }));
    EXPECT_EQ(engine_.paused_stops.load(), 0);
    auto woken = second.ensure_running(kept).get();
    ASSERT_TRUE(woken);
    EXPECT_EQ(woken->container_id, kept_id);
    EXPECT_EQ(woken->last_wake, "warm");
    second.shutdown(false);
    std::filesystem::remove_all(dir);
}

TEST_F(OrchestratorPauseTest, ShutdownStoppingProjectsRemovesPausedAndKeptContainers) {
    Orchestrator orch(options(), engine_);
    const auto kept = project("sd-kept");
    const auto paused = project("sd-paused");
    run_until_kept(orch, kept);
    ASSERT_TRUE(orch.ensure_running(paused).get());
    advance(11s);
    ASSERT_TRUE(eventually([&] { return state(orch, paused) == ProjectState::paused; }));
    orch.shutdown(true);
    EXPECT_EQ(engine_.count(), 0u);
    EXPECT_EQ(engine_.paused_stops.load(), 0);
}

// Every path that stops a paused container thaws it first, so that its stop signal can run the
// runtime's handler (a frozen process cannot; the engine would SIGKILL it after the timeout):
// an idle stop, a forget, a policy change seen at a trigger, a stopping shutdown.
TEST_F(OrchestratorPauseTest, EveryStopOfAPausedContainerUnpausesItFirst) {
    Orchestrator orch(options(), engine_);
    const auto idle = project("order-idle");
    const auto forgotten = project("order-forget");
    const auto changed = project("order-policy");
    const auto at_shutdown = project("order-shutdown");
    std::map<std::string, std::string> ids;
    auto start = [&](const ProjectRef& p) {
        auto s = orch.ensure_running(p).get();
        ASSERT_TRUE(s);
        ids[p.d] = s->container_id;
    };
    start(idle);
    advance(11s);
    ASSERT_TRUE(eventually([&] { return state(orch, idle) == ProjectState::paused; }));
    advance(50s);  // past its idle timeout: stopped, kept
    ASSERT_TRUE(eventually([&] { return state(orch, idle) == ProjectState::stopped; }));

    for (const auto& p : {forgotten, changed, at_shutdown}) start(p);
    advance(11s);
    for (const auto& p : {forgotten, changed, at_shutdown})
        ASSERT_TRUE(eventually([&] { return state(orch, p) == ProjectState::paused; })) << p.d;
    ASSERT_TRUE(orch.forget(forgotten).get());
    change_policy([](Policy& pol) { pol.env["NEW"] = "1"; });
    auto fresh = orch.ensure_running(changed).get();
    ASSERT_TRUE(fresh);
    EXPECT_NE(fresh->container_id, ids[changed.d]);
    orch.shutdown(true);

    using Calls = std::vector<std::string>;
    EXPECT_EQ(engine_.calls_for(ids[forgotten.d]),
              (Calls{"start", "pause", "unpause", "stop", "remove"}));
    EXPECT_EQ(engine_.calls_for(ids[at_shutdown.d]),
              (Calls{"start", "pause", "unpause", "stop", "remove"}));
    EXPECT_EQ(engine_.calls_for(ids[changed.d]),
              (Calls{"start", "pause", "unpause", "stop", "remove"}));
    auto idle_calls = engine_.calls_for(ids[idle.d]);
    ASSERT_GE(idle_calls.size(), 4u);
    EXPECT_EQ((Calls{idle_calls.begin(), idle_calls.begin() + 4}),
              (Calls{"start", "pause", "unpause", "stop"}));
    EXPECT_EQ(engine_.paused_stops.load(), 0);
    EXPECT_EQ(engine_.count(), 0u);
}

// A paused container of this daemon built from an older policy holds the project's name (left
// by another process of the daemon): thawed, stopped and removed, not killed frozen.
TEST_F(OrchestratorPauseTest, AStalePausedContainerInTheWayIsThawedBeforeItsStop) {
    const auto p = project("stale-paused");
    auto spec = our_spec(p);
    spec.labels[kLabelPolicyDigest] = "an-older-policy";
    const std::string stale = engine_.add_container(spec, "paused");
    Orchestrator orch(options(), engine_);
    auto r = orch.ensure_running(p).get();
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_NE(r->container_id, stale);
    EXPECT_EQ(engine_.calls_for(stale), (std::vector<std::string>{"unpause", "stop", "remove"}));
    EXPECT_EQ(engine_.paused_stops.load(), 0);
    EXPECT_EQ(engine_.count(), 1u);
}

// forget(): the project's container goes whatever state it waits in (running, paused, kept),
// the project leaves the snapshot, and a trigger brings it back with a new container.
TEST_F(OrchestratorPauseTest, ForgetRemovesTheContainerInEveryStateAndDropsTheProject) {
    Orchestrator orch(options(), engine_);
    const auto running = project("forget-running");
    const auto paused = project("forget-paused");
    const auto kept = project("forget-kept");
    run_until_kept(orch, kept);
    ASSERT_TRUE(orch.ensure_running(paused).get());
    advance(11s);
    ASSERT_TRUE(eventually([&] { return state(orch, paused) == ProjectState::paused; }));
    ASSERT_TRUE(orch.ensure_running(running).get());
    ASSERT_EQ(engine_.count(), 3u);

    for (const auto& p : {running, paused, kept}) {
        auto r = orch.forget(p).get();
        ASSERT_TRUE(r) << p.d << ": " << r.error().message;
        EXPECT_EQ(r->state, ProjectState::stopped) << p.d;
        EXPECT_FALSE(orch.status(p)) << p.d << " still known";
    }
    EXPECT_EQ(engine_.count(), 0u);
    EXPECT_TRUE(orch.snapshot().empty());
    EXPECT_EQ(engine_.paused_stops.load(), 0);  // thawed before its stop signal

    // Unknown now: forgetting it again is an error and changes nothing.
    auto again = orch.forget(running).get();
    ASSERT_FALSE(again);
    EXPECT_NE(again.error().message.find("unknown project"), std::string::npos)
        << again.error().message;
    EXPECT_TRUE(orch.snapshot().empty());

    // A trigger brings it back, with a new container.
    auto back = orch.ensure_running(kept).get();
    ASSERT_TRUE(back);
    EXPECT_EQ(back->state, ProjectState::running);
    EXPECT_EQ(back->last_wake, "create");
    EXPECT_EQ(orch.snapshot().size(), 1u);
}

// A trigger that comes while the forget's stop is in flight keeps the project.
TEST_F(OrchestratorPauseTest, ATriggerDuringTheForgetKeepsTheProject) {
    Orchestrator orch(options(), engine_);
    const auto p = project("forget-raced");
    ASSERT_TRUE(orch.ensure_running(p).get());
    engine_.stop_call_latency = 300ms;
    auto forgotten = orch.forget(p);
    std::this_thread::sleep_for(50ms);
    auto wanted = orch.ensure_running(p);
    ASSERT_TRUE(forgotten.get());
    auto s = wanted.get();
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(s->state, ProjectState::running);
    ASSERT_TRUE(orch.status(p));
    EXPECT_EQ(orch.snapshot().size(), 1u);
}

// Disk pressure: one kept container per call, the one stopped longest; running projects and
// nothing else are touched; the project starts fresh at its next trigger.
TEST_F(OrchestratorPauseTest, DiskPressureRemovesTheLongestStoppedKeptContainerFirst) {
    Orchestrator orch(options(), engine_);
    const auto older = project("pressure-older");
    const auto newer = project("pressure-newer");
    const auto running = project("pressure-running");
    run_until_kept(orch, older);
    const std::string newer_id =
        run_until_kept(orch, newer);  // its idle stop comes later on the clock
    ASSERT_TRUE(orch.ensure_running(running).get());
    ASSERT_EQ(engine_.count(), 3u);

    orch.remove_oldest_kept();
    ASSERT_TRUE(eventually([&] { return !orch.status(older)->kept; }));
    EXPECT_TRUE(orch.status(older)->container_id.empty());
    EXPECT_TRUE(orch.status(newer)->kept);
    EXPECT_EQ(engine_status(newer_id), "exited");
    EXPECT_EQ(engine_.count(), 2u);

    orch.remove_oldest_kept();
    ASSERT_TRUE(eventually([&] { return !orch.status(newer)->kept; }));
    EXPECT_EQ(engine_.count(), 1u);
    orch.remove_oldest_kept();  // nothing kept: nothing happens
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(engine_.count(), 1u);
    EXPECT_EQ(orch.status(running)->state, ProjectState::running);

    auto cold = orch.ensure_running(older).get();
    ASSERT_TRUE(cold);
    EXPECT_EQ(cold->last_wake, "create");
}

}  // namespace
}  // namespace tenex::sandbox
