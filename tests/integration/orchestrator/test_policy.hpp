// The policy the orchestrator's docker tests (and their helper process) run projects with:
// the probe image, small limits, short timeouts.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "sandbox/policy.hpp"

namespace tenex::sandbox::test {

inline Policy probe_policy(std::vector<std::string> args = {"sleep"}) {
    using namespace std::chrono_literals;
    Policy p;
    p.image = "tenex-probe:latest";
    p.args = std::move(args);
    p.security.user = "65534:65534";
    p.resources.memory_bytes = 64LL << 20;
    p.resources.nano_cpus = 500'000'000;
    p.resources.pids = 64;
    p.network.mode = NetworkMode::none;
    p.lifecycle.stop_timeout = 3s;
    p.lifecycle.idle_timeout = 0ms;
    p.lifecycle.pause_after = 0ms;  // the pause and warm-start tests set these
    p.lifecycle.keep_stopped = 0ms;
    p.lifecycle.max_lifetime = 0ms;
    p.lifecycle.backoff_initial = 100ms;
    p.lifecycle.backoff_max = 5s;
    return p;
}

}  // namespace tenex::sandbox::test
