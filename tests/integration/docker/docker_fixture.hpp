// Shared by the docker-label tests: a connected client, the probe image (built through the
// project's own client, so a fresh machine gets it), and cleanup of everything a test made.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "docker/client.hpp"
#include "docker/container_spec.hpp"

namespace tenex::docker::test {

inline constexpr const char* kProbeImage = "tenex-probe:latest";

// Builds tenex-probe:latest from the context CMake stages after linking tenex-probe
// (<build>/images/probe-context: Dockerfile + rootfs/), once per process, and not at all when
// the stamp <context>.image-stamp says the image kProbeImage names was built from the context
// as it is now (its files' paths, sizes and modification times).
DResult<std::string> ensure_probe_image(const Client& client);

// A label value unique to this test process: every container and network gets
// tenex.test=1 and tenex.test.run=<run_id()>.
const std::string& run_id();

class DockerTest : public ::testing::Test {
  protected:
    void SetUp() override;
    void TearDown() override;

    const Client& client() const { return *client_; }
    // "tenex-test-<run>-<n>-<suffix>"
    std::string unique_name(const std::string& suffix);
    // A probe container spec with the test labels, running the given probe arguments.
    ContainerSpec probe_spec(const std::string& suffix, std::vector<std::string> args);
    // Creates and remembers the container for removal; fails the test on error.
    std::string create(const ContainerSpec& spec);
    void track_container(const std::string& id) { containers_.push_back(id); }
    void track_network(const std::string& id) { networks_.push_back(id); }

    std::unique_ptr<Client> client_;

  private:
    std::vector<std::string> containers_;
    std::vector<std::string> networks_;
};

// Polls until pred() is true or the timeout passes.
bool eventually(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout = std::chrono::seconds(20));

}  // namespace tenex::docker::test
