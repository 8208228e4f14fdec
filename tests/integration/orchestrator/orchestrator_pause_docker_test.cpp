// Pause and warm start against the real engine and the probe (issue 20): a project paused
// after pause_after keeps its process and is thawed by a trigger; an idle stop thaws a paused
// container first (graceful exit 0, not SIGKILL) and keeps it; the kept container is started
// again with the same id, removed when its policy changed; another orchestrator (a restarted
// daemon) adopts paused and kept containers as such.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "docker/events.hpp"

#include "orchestrator_docker_fixture.hpp"

namespace tenex::sandbox {
namespace {

using namespace std::chrono_literals;
using docker::test::eventually;

class PauseDockerTest : public OrchestratorDockerTest {
  protected:
    docker::ContainerInfo inspect(const std::string& id) {
        auto info = docker::inspect_container(*client_, id);
        EXPECT_TRUE(info) << info.error().describe();
        return info ? *info : docker::ContainerInfo{};
    }
    Orchestrator& make_with_kept_file() {
        auto o = options(daemon_id_);
        o.kept_file = dir_.path() / "kept-containers";
        orchestrators_.push_back(std::make_unique<Orchestrator>(std::move(o), *engine_));
        return *orchestrators_.back();
    }
};

TEST_F(PauseDockerTest, PausedAfterPauseAfterAndATriggerThawsTheSameProcess) {
    Policy p = test::probe_policy();
    p.lifecycle.pause_after = 1500ms;
    set_policy(p);
    Orchestrator& orch = make();
    const auto ref = project("pause");
    auto started = orch.ensure_running(ref).get();
    ASSERT_TRUE(started);
    const auto before = inspect(started->container_id);
    ASSERT_TRUE(eventually([&] { return orch.status(ref)->state == ProjectState::paused; }, 15s));
    EXPECT_TRUE(inspect(started->container_id).state.paused);

    auto woken = orch.ensure_running(ref).get();
    ASSERT_TRUE(woken);
    EXPECT_EQ(woken->state, ProjectState::running);
    EXPECT_EQ(woken->container_id, started->container_id);
    EXPECT_EQ(woken->last_wake, "unpause");
    const auto after = inspect(started->container_id);
    EXPECT_TRUE(after.state.running);
    EXPECT_FALSE(after.state.paused);
    EXPECT_EQ(after.state.pid, before.state.pid);  // PID 1's host pid: the same process
    EXPECT_EQ(after.state.started_at, before.state.started_at);
}

TEST_F(PauseDockerTest, IdleStopThawsKeepsAndStartsTheSameContainerUntilThePolicyChanges) {
    Policy p = test::probe_policy();
    p.lifecycle.pause_after = 1000ms;
    p.lifecycle.idle_timeout = 2500ms;
    p.lifecycle.keep_stopped = 1h;
    set_policy(p);
    Orchestrator& orch = make();
    const auto ref = project("kept");
    auto first = orch.ensure_running(ref).get();
    ASSERT_TRUE(first);
    ASSERT_TRUE(eventually([&] { return orch.status(ref)->state == ProjectState::paused; }, 15s));
    ASSERT_TRUE(eventually(
        [&] {
            auto s = orch.status(ref);
            return s->state == ProjectState::stopped && s->kept;
        },
        20s))
        << orch.status(ref)->last_error;
    // Thawed before the stop: the probe took SIGTERM and exited 0 (a frozen one is SIGKILLed).
    auto stopped = inspect(first->container_id);
    EXPECT_FALSE(stopped.state.running);
    EXPECT_EQ(stopped.state.exit_code, 0);
    EXPECT_EQ(orch.status(ref)->last_error, "idle timeout");

    auto warm = orch.ensure_running(ref).get();
    ASSERT_TRUE(warm);
    EXPECT_EQ(warm->state, ProjectState::running);
    EXPECT_EQ(warm->container_id, first->container_id);
    EXPECT_EQ(warm->last_wake, "warm");
    EXPECT_TRUE(inspect(first->container_id).state.running);
    EXPECT_EQ(containers(daemon_id_).size(), 1u);

    // Kept again; then a new policy (another digest): the next trigger replaces it.
    ASSERT_TRUE(eventually([&] { return orch.status(ref)->kept; }, 20s));
    p.resources.pids = 48;
    set_policy(p);
    auto fresh = orch.ensure_running(ref).get();
    ASSERT_TRUE(fresh);
    EXPECT_NE(fresh->container_id, first->container_id);
    EXPECT_EQ(fresh->last_wake, "create");
    EXPECT_EQ(inspect(fresh->container_id).spec.pids_limit.value_or(0), 48);
    auto old = docker::inspect_container(*client_, first->container_id);
    EXPECT_FALSE(old) << "the kept container of the old policy is left";
    EXPECT_EQ(containers(daemon_id_).size(), 1u);
}

TEST_F(PauseDockerTest, ARestartedDaemonAdoptsPausedAndKeptContainers) {
    Policy p = test::probe_policy();
    p.lifecycle.pause_after = 1000ms;
    p.lifecycle.idle_timeout = 60s;
    p.lifecycle.keep_stopped = 1h;
    set_policy(p);
    const auto paused = project("adopt-paused");
    const auto kept = project("adopt-kept");
    std::string paused_id, kept_id;
    {
        // The kept one first, under a short idle timeout (lifecycle settings are not in the
        // digest: the same container stays current under p).
        Policy short_idle = p;
        short_idle.lifecycle.pause_after = 0ms;
        short_idle.lifecycle.idle_timeout = 1000ms;
        set_policy(short_idle);
        Orchestrator& first = make_with_kept_file();
        auto k = first.ensure_running(kept).get();
        ASSERT_TRUE(k);
        kept_id = k->container_id;
        ASSERT_TRUE(eventually([&] { return first.status(kept)->kept; }, 15s));
        set_policy(p);
        first.policies_changed();
        auto s = first.ensure_running(paused).get();
        ASSERT_TRUE(s);
        paused_id = s->container_id;
        ASSERT_TRUE(
            eventually([&] { return first.status(paused)->state == ProjectState::paused; }, 15s));
        first.shutdown(false);  // leaves both for the next daemon
    }
    Orchestrator& second = make_with_kept_file();
    ASSERT_TRUE(second.reconcile().get());
    auto s = second.status(paused);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->state, ProjectState::paused);
    EXPECT_EQ(s->container_id, paused_id);
    auto k = second.status(kept);
    ASSERT_TRUE(k);
    EXPECT_EQ(k->state, ProjectState::stopped);  // not restarted as if it had crashed
    EXPECT_TRUE(k->kept);
    EXPECT_EQ(k->container_id, kept_id);
    std::this_thread::sleep_for(1s);
    EXPECT_FALSE(inspect(kept_id).state.running);
    EXPECT_TRUE(inspect(paused_id).state.paused);

    auto woken = second.ensure_running(paused).get();
    ASSERT_TRUE(woken);
    EXPECT_EQ(woken->container_id, paused_id);
    EXPECT_FALSE(inspect(paused_id).state.paused);
    auto warm = second.ensure_running(kept).get();
    ASSERT_TRUE(warm);
    EXPECT_EQ(warm->container_id, kept_id);
    EXPECT_EQ(warm->last_wake, "warm");
}

// up --stop-projects with a paused project: the shutdown thaws the container before its stop, so
// the probe takes SIGTERM and exits 0 (a frozen one cannot run its handler: the engine waits the
// whole stop timeout and SIGKILLs it, exit 137). The container is removed by the shutdown, so
// its exit code is read from the engine's die event.
TEST_F(PauseDockerTest, AStoppingShutdownThawsAPausedProjectThatThenExitsOnItsSigterm) {
    Policy p = test::probe_policy();
    p.lifecycle.pause_after = 1000ms;
    p.lifecycle.idle_timeout = 1h;
    p.lifecycle.stop_timeout = 20s;  // a SIGKILL would come only after this
    set_policy(p);
    Orchestrator& orch = make();
    const auto ref = project("shutdown-paused");
    auto started = orch.ensure_running(ref).get();
    ASSERT_TRUE(started);
    ASSERT_TRUE(eventually([&] { return orch.status(ref)->state == ProjectState::paused; }, 15s));
    ASSERT_TRUE(inspect(started->container_id).state.paused);

    std::mutex mu;
    std::condition_variable cv;
    std::optional<int> exit_code;
    docker::EventStreamOptions o;
    o.filter.actions = {"die"};
    o.filter.labels = {"tenex.daemon=" + daemon_id_};
    docker::EventStream dies(*client_, o,
                             docker::EventHandlers{.on_event =
                                                       [&](const docker::Event& e) {
                                                           if (e.id != started->container_id)
                                                               return;
                                                           std::lock_guard lock(mu);
                                                           exit_code = e.exit_code.value_or(-1);
                                                           cv.notify_all();
                                                       },
                                                   .on_connected = {},
                                                   .on_gap = {},
                                                   .on_error = {}});
    dies.start();
    ASSERT_TRUE(eventually([&] { return dies.connected(); }, 10s));

    orch.shutdown(true);
    {
        std::unique_lock lock(mu);
        ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return exit_code.has_value(); }))
            << "no die event";
        EXPECT_EQ(*exit_code, 0)
            << "not the probe's own exit on SIGTERM (137: killed after the stop timeout)";
    }
    EXPECT_FALSE(docker::inspect_container(*client_, started->container_id)) << "not removed";
}

}  // namespace
}  // namespace tenex::sandbox
