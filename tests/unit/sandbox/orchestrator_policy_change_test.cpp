// A changed policy for a running project (lifecycle.on_policy_change): immediately replaces
// its container as soon as the orchestrator hears of the change (policies_changed(), adoption
// at reconcile), next-trigger waits for the next trigger; lifecycle settings outside the digest
// apply to the running container without replacing it.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "orchestrator_test_fixture.hpp"

namespace tenex::sandbox {
namespace {

using namespace std::chrono_literals;
using test::eventually;
using test::project;

class OrchestratorPolicyChangeTest : public test::OrchestratorFixture {};

TEST_F(OrchestratorPolicyChangeTest, ImmediatelyReplacesTheRunningContainerWhenPoliciesChange) {
    Orchestrator orch(options(), engine_);
    const auto p = project("now");
    auto first = orch.ensure_running(p).get();
    ASSERT_TRUE(first) << first.error().message;
    change_policy([](Policy& x) {
        x.resources.pids = 77;
        x.lifecycle.on_policy_change = PolicyChange::immediately;
    });
    orch.policies_changed();
    ASSERT_TRUE(eventually([&] {
        auto s = orch.status(p);
        return s && s->state == ProjectState::running && s->container_id != first->container_id;
    }));
    auto s = orch.status(p);
    EXPECT_EQ(s->policy_digest, digest_for(p));
    EXPECT_NE(s->policy_digest, first->policy_digest);
    // A replacement, not a crash, and not a trigger.
    EXPECT_EQ(s->restart_count, 0);
    EXPECT_EQ(s->last_exit_reason, ExitReason::none);
    EXPECT_EQ(s->last_trigger_unix_ms, first->last_trigger_unix_ms);
    // Gracefully stopped and removed before the new one was created.
    EXPECT_EQ(engine_.stops.load(), 1);
    EXPECT_EQ(engine_.creates.load(), 2);
    EXPECT_EQ(engine_.count(), 1u);
    EXPECT_EQ(engine_.max_containers, 1u);
    // Hearing of the same policies again changes nothing.
    orch.policies_changed();
    (void)orch.snapshot();
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(orch.status(p)->container_id, s->container_id);
    EXPECT_EQ(engine_.creates.load(), 2);
}

TEST_F(OrchestratorPolicyChangeTest, NextTriggerLeavesTheContainerUntilTheNextTrigger) {
    Orchestrator orch(options(), engine_);
    const auto p = project("later");
    auto first = orch.ensure_running(p).get();
    ASSERT_TRUE(first);
    change_policy([](Policy& x) { x.resources.pids = 77; });  // next-trigger: the default
    orch.policies_changed();
    (void)orch.snapshot();
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(orch.status(p)->container_id, first->container_id);
    EXPECT_EQ(orch.status(p)->policy_digest, first->policy_digest);
    EXPECT_EQ(engine_.stops.load(), 0);
    EXPECT_EQ(engine_.creates.load(), 1);
    auto second = orch.ensure_running(p).get();
    ASSERT_TRUE(second);
    EXPECT_NE(second->container_id, first->container_id);
    EXPECT_EQ(second->policy_digest, digest_for(p));
    EXPECT_EQ(second->restart_count, 0);
    EXPECT_EQ(engine_.count(), 1u);
}

TEST_F(OrchestratorPolicyChangeTest,
       LifecycleSettingsApplyToTheRunningContainerWithoutReplacingIt) {
    Orchestrator orch(options(), engine_);
    const auto p = project("lifecycle");
    auto first = orch.ensure_running(p).get();
    ASSERT_TRUE(first);
    change_policy([](Policy& x) { x.lifecycle.idle_timeout = 10s; });  // not in the digest
    EXPECT_EQ(digest_for(p), first->policy_digest);
    orch.policies_changed();
    (void)orch.snapshot();
    advance(11s);
    ASSERT_TRUE(eventually([&] { return orch.status(p)->state == ProjectState::stopped; }));
    EXPECT_EQ(orch.status(p)->last_error, "idle timeout");
    EXPECT_EQ(engine_.creates.load(), 1);
}

TEST_F(OrchestratorPolicyChangeTest, AChangeDuringAStartIsAppliedOnceTheContainerRuns) {
    engine_.start_latency = 200ms;
    Orchestrator orch(options(), engine_);
    const auto p = project("racing");
    auto starting = orch.ensure_running(p);
    ASSERT_TRUE(
        eventually([&] { return engine_.creates.load() == 1; }));  // built from the old policy
    change_policy([](Policy& x) {
        x.resources.pids = 55;
        x.lifecycle.on_policy_change = PolicyChange::immediately;
    });
    orch.policies_changed();
    auto first = starting.get();
    ASSERT_TRUE(first);
    ASSERT_TRUE(eventually([&] {
        auto s = orch.status(p);
        return s->state == ProjectState::running && s->policy_digest == digest_for(p);
    }));
    EXPECT_EQ(engine_.count(), 1u);
    EXPECT_EQ(engine_.max_containers, 1u);
    EXPECT_EQ(orch.status(p)->restart_count, 0);
}

TEST_F(OrchestratorPolicyChangeTest, AdoptionReplacesAStaleContainerOnlyUnderImmediately) {
    const auto now = project("adopt-now");
    const auto later = project("adopt-later");
    const std::string now_id = engine_.add_container(our_spec(now), "running");
    const std::string later_id = engine_.add_container(our_spec(later), "running");
    const std::string later_digest = digest_for(later);
    change_policy([](Policy& x) { x.resources.pids = 66; });
    auto o = options();
    o.policies = [this](const ProjectRef& ref) -> Result<Policy> {
        std::lock_guard lock(policy_mu_);
        Policy x = policy_;
        if (ref.d == "adopt-now") x.lifecycle.on_policy_change = PolicyChange::immediately;
        return x;
    };
    Orchestrator orch(o, engine_);
    ASSERT_TRUE(orch.reconcile().get());
    ASSERT_TRUE(eventually([&] {
        auto s = orch.status(now);
        return s && s->state == ProjectState::running && s->container_id != now_id;
    }));
    EXPECT_EQ(orch.status(now)->policy_digest, digest_for(now));
    EXPECT_EQ(orch.status(now)->restart_count, 0);
    std::this_thread::sleep_for(200ms);
    auto kept = orch.status(later);
    ASSERT_TRUE(kept);
    EXPECT_EQ(kept->state, ProjectState::running);
    EXPECT_EQ(kept->container_id, later_id);
    EXPECT_EQ(kept->policy_digest, later_digest);
    EXPECT_EQ(engine_.count(), 2u);
    EXPECT_EQ(engine_.creates.load(), 1);
}

// The host side of egress is not under test here: no rules, no forwarders.
struct NoEnforcer final : NetworkEnforcer {
    Result<std::vector<std::string>> enforce(const std::string&, const NetworkPlan&,
                                             const docker::NetworkInfo&) override {
        return std::vector<std::string>{};
    }
    void stop_forwarders(const std::string&) override {}
    void remove_rules(const std::string&) override {}
    void remove_stale_rules() override {}
    EnforcementStats stats(const std::string&) override { return {}; }
    EnforcementStats totals() override { return {}; }
};

std::string env_value(const docker::ContainerSpec& spec, const std::string& key) {
    for (const auto& kv : spec.env)
        if (kv.rfind(key + "=", 0) == 0) return kv.substr(key.size() + 1);
    return {};
}

// SIGHUP with other relays: an egress project that may reach the daemon's relays gets a
// container whose TENEX_RELAYS (and forwarders) name the new list, under its policy's rule.
TEST_F(OrchestratorPolicyChangeTest, NewRelaysReachARunningEgressProjectThroughItsPolicyRule) {
    change_policy([](Policy& x) {
        x.network.mode = NetworkMode::egress;
        x.network.relays = true;
        x.lifecycle.on_policy_change = PolicyChange::immediately;
    });
    auto o = options();
    o.relays = {"ws://127.0.0.1:7777"};
    o.network_enforcer = std::make_shared<NoEnforcer>();
    Orchestrator orch(std::move(o), engine_);
    const auto p = project("relays");
    auto first = orch.ensure_running(p).get();
    ASSERT_TRUE(first) << first.error().message;
    auto spec_of = [&](const std::string& id) {
        std::lock_guard lock(engine_.mu);
        return engine_.containers.at(id).spec;
    };
    const std::string before = env_value(spec_of(first->container_id), "TENEX_RELAYS");
    ASSERT_FALSE(before.empty());
    EXPECT_EQ(before.find(','), std::string::npos) << before;

    orch.set_relays({"ws://127.0.0.1:7777", "wss://relay.example.org"});
    orch.policies_changed();
    ASSERT_TRUE(eventually([&] {
        auto s = orch.status(p);
        return s && s->state == ProjectState::running && s->container_id != first->container_id;
    }));
    const std::string after = env_value(spec_of(orch.status(p)->container_id), "TENEX_RELAYS");
    EXPECT_NE(after.find(before + ","), std::string::npos) << after;
    EXPECT_EQ(engine_.count(), 1u);
    EXPECT_EQ(orch.status(p)->restart_count, 0);
}

// SIGHUP writes the relay list (set_relays, the daemon thread) while engine workers read it
// for the specs of starts under way: every container gets one whole list, never a torn one.
// (Run under -fsanitize=thread it also shows the read and the write never race.)
TEST_F(OrchestratorPolicyChangeTest, RelaysSwappedDuringStartsGiveEachContainerAWholeList) {
    change_policy([](Policy& x) {
        x.network.mode = NetworkMode::egress;
        x.network.relays = true;
    });
    const std::vector<std::string> one{"ws://127.0.0.1:7777"};
    const std::vector<std::string> two{"ws://127.0.0.1:7777", "wss://relay.example.org"};
    auto o = options();
    o.relays = one;
    o.network_enforcer = std::make_shared<NoEnforcer>();
    Orchestrator orch(std::move(o), engine_);
    std::atomic<bool> done{false};
    std::thread reloads([&] {
        for (int i = 0; !done.load(); ++i) {
            orch.set_relays(i % 2 ? two : one);
            std::this_thread::yield();
        }
    });
    std::vector<StatusFuture> starts;
    for (int i = 0; i < 12; ++i)
        starts.push_back(orch.ensure_running(project("race-" + std::to_string(i))));
    std::vector<std::string> ids;
    for (auto& f : starts) {
        auto s = f.get();
        ASSERT_TRUE(s) << s.error().message;
        ids.push_back(s->container_id);
    }
    done = true;
    reloads.join();
    for (const auto& id : ids) {
        std::string relays;
        {
            std::lock_guard lock(engine_.mu);
            relays = env_value(engine_.containers.at(id).spec, "TENEX_RELAYS");
        }
        // The proxied form of one list or the other: one entry, or two.
        const auto commas = std::count(relays.begin(), relays.end(), ',');
        EXPECT_TRUE(!relays.empty() && commas <= 1) << relays;
    }
}

}  // namespace
}  // namespace tenex::sandbox
