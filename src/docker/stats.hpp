// One-shot container resource statistics (GET /containers/{id}/stats?stream=0).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "docker/client.hpp"

namespace tenex::docker {

struct ContainerStats {
    double cpu_percent = 0;          // of one CPU x online CPUs, like `docker stats`
    std::uint64_t memory_usage = 0;  // bytes, page cache excluded
    std::uint64_t memory_limit = 0;  // bytes (the host's memory when unlimited)
    std::uint64_t pids = 0;
    int online_cpus = 0;
    double cpu_seconds = 0;  // CPU time of the container since it started (all CPUs)
};

// Computes the figures from a stats reply (cgroup v1 and v2 layouts).
Result<ContainerStats> parse_stats(std::string_view body);

// Takes about a second: the engine samples twice to compute the CPU delta.
DResult<ContainerStats> container_stats(const Client& client, const std::string& id);

}  // namespace tenex::docker
