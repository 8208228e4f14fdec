// The fixture of the orchestrator's tests against the real engine and the probe image. Every
// test runs as its own daemon identity (so nobody else's containers can interfere) and
// removes everything with that identity at the end, also when it fails.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../docker/docker_fixture.hpp"
#include "docker/containers.hpp"
#include "docker/networks.hpp"
#include "environment.hpp"
#include "sandbox/orchestrator.hpp"
#include "test_options.hpp"
#include "test_policy.hpp"

namespace tenex::sandbox {

class OrchestratorDockerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        TENEX_REQUIRE_DOCKER();
        auto c = docker::Client::connect();
        ASSERT_TRUE(c) << c.error().describe();
        client_ = std::move(c).value();
        auto image = docker::test::ensure_probe_image(*client_);
        ASSERT_TRUE(image) << image.error().describe();
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        daemon_id_ = "test-" + docker::test::run_id() + "-" + info->name();
        policy_ = test::probe_policy();
        engine_ = std::make_unique<DockerEngine>(*client_);
    }

    void TearDown() override {
        if (!client_) return;
        events_.reset();
        for (auto& o : orchestrators_) o->shutdown(false);
        for (const auto& id : {daemon_id_, daemon_id_ + "-other"}) {
            auto left = docker::list_containers(
                *client_,
                {.all = true, .labels = {std::string(kLabelDaemon) + "=" + id}, .names = {}});
            if (left)
                for (const auto& c : *left)
                    (void)docker::remove_container(*client_, c.id, true, true);
            auto nets = docker::list_networks(*client_, {std::string(kLabelDaemon) + "=" + id});
            if (nets)
                for (const auto& n : *nets) (void)docker::remove_network(*client_, n.id);
        }
    }

    OrchestratorOptions options(const std::string& daemon_id) {
        return test::test_options(
            daemon_id,
            [this] {
                std::lock_guard lock(policy_mu_);
                return policy_;
            },
            dir_.path());
    }

    Orchestrator& make(const std::string& daemon_id = {}, bool with_events = true) {
        orchestrators_.push_back(std::make_unique<Orchestrator>(
            options(daemon_id.empty() ? daemon_id_ : daemon_id), *engine_));
        Orchestrator& o = *orchestrators_.back();
        if (with_events) {
            events_ = std::make_unique<OrchestratorEvents>(*client_, o);
            EXPECT_TRUE(events_->start());
        }
        return o;
    }

    ProjectRef project(const std::string& d) {
        return ProjectRef{.owner = std::string(64, 'b'), .d = d + "-" + docker::test::run_id()};
    }

    std::vector<docker::ContainerSummary> containers(const std::string& daemon_id,
                                                     bool all = true) {
        auto r = docker::list_containers(
            *client_,
            {.all = all, .labels = {std::string(kLabelDaemon) + "=" + daemon_id}, .names = {}});
        EXPECT_TRUE(r) << r.error().describe();
        return r ? *r : std::vector<docker::ContainerSummary>{};
    }

    void set_policy(const Policy& p) {
        std::lock_guard lock(policy_mu_);
        policy_ = p;
    }

    std::unique_ptr<docker::Client> client_;
    std::unique_ptr<DockerEngine> engine_;
    std::string daemon_id_;
    std::mutex policy_mu_;
    Policy policy_;
    tenex::test::TempDir dir_;
    std::vector<std::unique_ptr<Orchestrator>> orchestrators_;
    std::unique_ptr<OrchestratorEvents> events_;
};

}  // namespace tenex::sandbox
