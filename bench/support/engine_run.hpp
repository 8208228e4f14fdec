// What every container benchmark sets up first and measures with: the engine connection, the
// run's identity and folder, the bare-libcurl peer (create + start), removal of what a run
// left, and the median/p95 of a sample.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "docker/client.hpp"
#include "docker/container_spec.hpp"

namespace tenex::bench {

using BenchClock = std::chrono::steady_clock;

double ms_since(BenchClock::time_point t0);

struct Summary {
    double median = 0, p95 = 0;
    std::size_t n = 0;
};
// Zeros for an empty sample.
Summary summarize(std::vector<double> v);

struct EngineRun {
    std::unique_ptr<docker::Client> client;
    std::string run;             // this process's id: part of every name the run creates
    std::filesystem::path root;  // <temp>/tenex-bench-<name>-<run>: the projects' folders

    // POST http://docker/v<api><path> with bare libcurl (raw_engine.hpp).
    long raw_post(const std::string& path, const std::string& body, std::string* out) const;
    // create + start with bare libcurl: the container id, "" on failure (said on stderr).
    std::string raw_create_start(const docker::ContainerSpec& spec) const;
    // Removes (forced, with volumes) every container carrying the label "key=value", 4 at once.
    void remove_labelled(const std::string& label) const;
};

// Connects to the engine (the error on stderr and nothing when it does not answer), sets up
// libcurl and quiets the project's logs to warnings.
std::optional<EngineRun> open_engine_run(const std::string& name);

}  // namespace tenex::bench
