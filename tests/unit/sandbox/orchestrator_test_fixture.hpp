// The fixture of the orchestrator's state-machine tests: a fake engine, a policy the test can
// change, an injected clock (advance()) and no jitter.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>

#include "orchestrator_fake_engine.hpp"
#include "sandbox/orchestrator.hpp"

namespace tenex::sandbox::test {

using namespace std::chrono_literals;

inline const std::string kOwner(64, 'a');

inline ProjectRef project(const std::string& d, const std::string& owner = kOwner) {
    return ProjectRef{.owner = owner, .d = d};
}

inline bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return pred();
}

inline docker::Event engine_event(const ProjectRef& p, const std::string& id,
                                  docker::EventKind kind, const std::string& action) {
    docker::Event e;
    e.type = "container";
    e.action = action;
    e.kind = kind;
    e.id = id;
    e.attributes = {{kLabelProject, p.address()}};
    return e;
}

inline docker::Event die_event(const ProjectRef& p, const std::string& id, int code) {
    docker::Event e = engine_event(p, id, docker::EventKind::Die, "die");
    e.attributes["exitCode"] = std::to_string(code);
    e.exit_code = code;
    return e;
}

class OrchestratorFixture : public ::testing::Test {
  protected:
    void SetUp() override {
        policy_.image = "tenex-probe:latest";
        policy_.lifecycle.idle_timeout = 0ms;
        policy_.lifecycle.pause_after = 0ms;  // tests of pausing and keeping set these
        policy_.lifecycle.keep_stopped = 0ms;
        policy_.lifecycle.max_lifetime = 0ms;
        policy_.lifecycle.backoff_initial = 40ms;
        policy_.lifecycle.backoff_max = 2000ms;
    }
    OrchestratorOptions options() {
        OrchestratorOptions o;
        o.daemon_id = "unit-daemon";
        o.policies = [this](const ProjectRef& p) -> Result<Policy> {
            if (p.d.rfind("gone", 0) == 0) return make_error("project not known");
            std::lock_guard lock(policy_mu_);
            return policy_;
        };
        o.workspace = [](const ProjectRef& p) -> Result<std::filesystem::path> {
            return std::filesystem::path("/tmp/ws") / p.d;
        };
        o.clock = [this] { return base_ + std::chrono::milliseconds(offset_ms_.load()); };
        o.random = [] { return 0.5; };  // no jitter: exact delays
        return o;
    }
    std::string digest_for(const ProjectRef& p) {
        auto ctx = project_spec_context(p, "/tmp/ws/" + p.d, "unit-daemon", SecretMode::redact);
        return build_sandbox_spec(policy_, ctx)->digest;
    }
    docker::ContainerSpec our_spec(const ProjectRef& p) {
        auto ctx = project_spec_context(p, "/tmp/ws/" + p.d, "unit-daemon", SecretMode::redact);
        return build_sandbox_spec(policy_, ctx)->container;
    }
    void advance(std::chrono::milliseconds d) { offset_ms_ += d.count(); }
    void change_policy(const std::function<void(Policy&)>& change) {
        std::lock_guard lock(policy_mu_);
        change(policy_);
    }

    FakeEngine engine_;
    Policy policy_;
    std::mutex policy_mu_;
    TimePoint base_ = Clock::now();
    std::atomic<std::int64_t> offset_ms_{0};
};

}  // namespace tenex::sandbox::test
