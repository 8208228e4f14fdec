// The Engine calls the orchestrator makes, behind an interface so that the state machine can
// be unit-tested against a fake. DockerEngine forwards to the typed docker:: client. Every
// method may block and is called from worker threads only.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "docker/client.hpp"
#include "docker/containers.hpp"
#include "docker/networks.hpp"
#include "docker/stats.hpp"
#include "sandbox/sandbox_spec.hpp"

namespace tenex::sandbox {

class Engine {
  public:
    virtual ~Engine() = default;
    virtual docker::DResult<std::string> create(const docker::ContainerSpec& spec) = 0;
    virtual docker::DStatus start(const std::string& id) = 0;
    // Graceful: the stop signal, then SIGKILL after timeout_s. Already stopped is success.
    virtual docker::DStatus stop(const std::string& id, int timeout_s) = 0;
    virtual docker::DStatus remove(const std::string& id, bool force) = 0;
    // Freezes / thaws the container's processes (docker pause / unpause).
    virtual docker::DStatus pause(const std::string& id) = 0;
    // Whether pause() can work at all (not on swarm): the orchestrator does not try otherwise.
    virtual bool supports_pause() const { return true; }
    virtual docker::DStatus unpause(const std::string& id) = 0;
    virtual docker::DResult<docker::ContainerInfo> inspect(const std::string& id_or_name) = 0;
    virtual docker::DResult<std::vector<docker::ContainerSummary>> list(
        const docker::ListOptions& options) = 0;
    virtual docker::DResult<docker::ContainerStats> stats(const std::string& id) = 0;
    // Creates the per-project network of the plan when it does not exist yet; returns it.
    virtual docker::DResult<docker::NetworkInfo> ensure_network(
        const NetworkPlan& plan, const std::map<std::string, std::string>& labels) = 0;
    // Removes a network; one that does not exist is success.
    virtual docker::DStatus remove_network(const std::string& name) = 0;
    // stop() and then remove(), for a shutdown with a deadline: gives up waiting for the
    // engine after `budget` (the engine may still finish the stop). The default has no limit
    // of its own beyond those of stop() and remove().
    virtual docker::DStatus stop_and_remove(const std::string& id, int timeout_s,
                                            std::chrono::milliseconds budget) {
        (void)budget;
        auto r = stop(id, timeout_s);
        if (r) r = remove(id, true);
        return r;
    }
};

class DockerEngine final : public Engine {
  public:
    explicit DockerEngine(const docker::Client& client) : client_(client) {}
    docker::DResult<std::string> create(const docker::ContainerSpec& spec) override;
    docker::DStatus start(const std::string& id) override;
    docker::DStatus stop(const std::string& id, int timeout_s) override;
    docker::DStatus remove(const std::string& id, bool force) override;
    docker::DStatus pause(const std::string& id) override;
    docker::DStatus unpause(const std::string& id) override;
    docker::DResult<docker::ContainerInfo> inspect(const std::string& id_or_name) override;
    docker::DResult<std::vector<docker::ContainerSummary>> list(
        const docker::ListOptions& options) override;
    docker::DResult<docker::ContainerStats> stats(const std::string& id) override;
    docker::DResult<docker::NetworkInfo> ensure_network(
        const NetworkPlan& plan, const std::map<std::string, std::string>& labels) override;
    docker::DStatus remove_network(const std::string& name) override;
    docker::DStatus stop_and_remove(const std::string& id, int timeout_s,
                                    std::chrono::milliseconds budget) override;

  private:
    const docker::Client& client_;
};

}  // namespace tenex::sandbox
