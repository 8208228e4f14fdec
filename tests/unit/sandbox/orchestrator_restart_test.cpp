// The orchestrator's restart policy against an in-memory engine: growing backoff, the
// crash-loop cutoff, the backoff reset after a stable run, exit reasons (exit, OOM, killed) and
// manual restarts.
#include <gtest/gtest.h>

#include <thread>

#include "orchestrator_test_fixture.hpp"

namespace tenex::sandbox {
namespace {

using namespace std::chrono_literals;
using test::die_event;
using test::engine_event;
using test::eventually;
using test::project;

class OrchestratorRestartTest : public test::OrchestratorFixture {};

TEST_F(OrchestratorRestartTest, FailedExitsRestartWithGrowingDelaysThenCrashLoop) {
    policy_.lifecycle.crash_loop_threshold = 3;
    policy_.lifecycle.crash_loop_window = 60s;
    auto o = options();
    o.clock = {};  // real time: the backoff timers must fire by themselves
    Orchestrator orch(o, engine_);
    const auto p = project("crashy");
    auto first = orch.ensure_running(p).get();
    ASSERT_TRUE(first);
    std::string id = first->container_id;
    for (int restart = 1; restart <= 3; ++restart) {
        engine_.exit_container(id, 3);
        orch.on_engine_event(die_event(p, id, 3));
        ASSERT_TRUE(eventually([&] {
            auto s = orch.status(p);
            return s && s->state == ProjectState::running && s->container_id != id;
        })) << "restart "
            << restart;
        auto s = orch.status(p);
        EXPECT_EQ(s->restart_count, restart);
        EXPECT_EQ(s->last_exit_code, 3);
        EXPECT_EQ(s->last_exit_reason, ExitReason::exit);
        id = s->container_id;
    }
    // Delays between the creates: 40, 80, 160 ms (+ the engine's time).
    ASSERT_EQ(engine_.create_times.size(), 4u);
    std::vector<long> gaps;
    for (std::size_t i = 1; i < 4; ++i)
        gaps.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(
                           engine_.create_times[i] - engine_.create_times[i - 1])
                           .count());
    EXPECT_GE(gaps[0], 40);
    EXPECT_GE(gaps[1], 80);
    EXPECT_GE(gaps[2], 160);
    EXPECT_LT(gaps[0], gaps[1]);
    EXPECT_LT(gaps[1], gaps[2]);
    // The fourth exit within the window: no more restarts.
    engine_.exit_container(id, 3);
    orch.on_engine_event(die_event(p, id, 3));
    ASSERT_TRUE(eventually([&] { return orch.status(p)->state == ProjectState::crash_looping; }));
    std::this_thread::sleep_for(400ms);
    EXPECT_EQ(orch.status(p)->state, ProjectState::crash_looping);
    EXPECT_NE(orch.status(p)->last_error.find("crash loop"), std::string::npos);
    EXPECT_EQ(engine_.creates.load(), 4);
    // A new trigger starts it again.
    auto again = orch.ensure_running(p).get();
    ASSERT_TRUE(again);
    EXPECT_EQ(again->state, ProjectState::running);
    EXPECT_EQ(engine_.creates.load(), 5);
    EXPECT_EQ(engine_.count(), 1u);  // the exited ones were removed
}

TEST_F(OrchestratorRestartTest, OomIsReportedAsOom) {
    policy_.lifecycle.restart = RestartMode::never;
    Orchestrator orch(options(), engine_);
    const auto p = project("hungry");
    auto r = orch.ensure_running(p).get();
    ASSERT_TRUE(r);
    engine_.exit_container(r->container_id, 137, true);
    orch.on_engine_event(die_event(p, r->container_id, 137));
    ASSERT_TRUE(eventually([&] { return orch.status(p)->state == ProjectState::failed; }));
    auto s = orch.status(p);
    EXPECT_EQ(s->last_exit_reason, ExitReason::oom);
    EXPECT_EQ(s->last_exit_code, 137);
    EXPECT_EQ(engine_.creates.load(), 1);
}

TEST_F(OrchestratorRestartTest, ManualRestartDoesNotWaitForTheBackoff) {
    policy_.lifecycle.backoff_initial = 10min;  // the injected clock stands still
    policy_.lifecycle.backoff_max = 10min;
    Orchestrator orch(options(), engine_);
    const auto p = project("impatient");
    auto first = orch.ensure_running(p).get();
    ASSERT_TRUE(first);
    engine_.exit_container(first->container_id, 1);
    orch.on_engine_event(die_event(p, first->container_id, 1));
    ASSERT_TRUE(eventually([&] { return orch.status(p)->state == ProjectState::backing_off; }));
    // A trigger during the backoff answers with the backing-off status...
    auto during = orch.ensure_running(p).get();
    ASSERT_TRUE(during);
    EXPECT_EQ(during->state, ProjectState::backing_off);
    EXPECT_EQ(engine_.creates.load(), 1);
    // ...a manual restart starts it now.
    auto restarted = orch.restart(p).get();
    ASSERT_TRUE(restarted) << restarted.error().message;
    EXPECT_EQ(restarted->state, ProjectState::running);
    EXPECT_NE(restarted->container_id, first->container_id);
    EXPECT_EQ(restarted->restart_count, 0);
    EXPECT_EQ(engine_.count(), 1u);
}

TEST_F(OrchestratorRestartTest, AStableRunResetsTheBackoff) {
    auto o = options();
    o.stable_run = 10s;
    Orchestrator orch(o, engine_);
    const auto p = project("stable");
    auto first = orch.ensure_running(p).get();
    ASSERT_TRUE(first);
    std::string id = first->container_id;
    // Exits with code 3 and returns the status once the restart is scheduled.
    auto crash = [&] {
        engine_.exit_container(id, 3);
        orch.on_engine_event(die_event(p, id, 3));
        EXPECT_TRUE(eventually([&] { return orch.status(p)->state == ProjectState::backing_off; }));
        return *orch.status(p);
    };
    auto restarted = [&] {
        EXPECT_TRUE(eventually([&] {
            auto s = orch.status(p);
            return s->state == ProjectState::running && s->container_id != id;
        }));
        id = orch.status(p)->container_id;
    };
    // Quick exits: the delay doubles (40 ms, then 80 ms; the injected clock decides).
    EXPECT_NE(crash().last_error.find("restarting in 40 ms"), std::string::npos);
    advance(40ms);
    restarted();
    EXPECT_NE(crash().last_error.find("restarting in 80 ms"), std::string::npos);
    advance(80ms);
    restarted();
    // This one runs longer than the stable run: the next exit starts over at 40 ms.
    advance(11s);
    auto after_stable = crash();
    EXPECT_NE(after_stable.last_error.find("restarting in 40 ms"), std::string::npos)
        << after_stable.last_error;
    EXPECT_EQ(after_stable.restart_count, 2);
}

TEST_F(OrchestratorRestartTest, StoppedOrKilledBySomeoneElseIsKilledNotAnExit) {
    Orchestrator orch(options(), engine_);  // restart: on-failure
    const auto p = project("outside");
    // A kill event with `signal` from someone else, then the program exits with `code`.
    auto signalled_then_exits = [&](const std::string& signal, int code) {
        auto r = orch.ensure_running(p).get();
        EXPECT_TRUE(r);
        auto kill = engine_event(p, r->container_id, docker::EventKind::Kill, "kill");
        kill.attributes["signal"] = signal;
        orch.on_engine_event(kill);
        engine_.exit_container(r->container_id, code);
        orch.on_engine_event(die_event(p, r->container_id, code));
    };
    // `docker stop` by someone else: SIGTERM, and the program exits 0.
    signalled_then_exits("15", 0);
    ASSERT_TRUE(eventually([&] { return orch.status(p)->state == ProjectState::stopped; }));
    auto s = orch.status(p);
    EXPECT_EQ(s->last_exit_reason, ExitReason::killed) << s->last_error;
    EXPECT_EQ(s->last_exit_code, 0);
    EXPECT_EQ(engine_.creates.load(), 1);  // exit code 0: on-failure does not restart
    // A signal that does not end a program (SIGHUP) does not make a later exit a kill.
    signalled_then_exits("1", 3);
    ASSERT_TRUE(eventually([&] { return orch.status(p)->state == ProjectState::backing_off; }));
    EXPECT_EQ(orch.status(p)->last_exit_reason, ExitReason::exit);
    EXPECT_EQ(orch.status(p)->last_exit_code, 3);
}

}  // namespace
}  // namespace tenex::sandbox
