#include "docker/stats.hpp"

#include "docker/json_util.hpp"
#include "docker/url.hpp"

namespace tenex::docker {
namespace {

std::uint64_t u64(const nlohmann::json& j, std::string_view key) {
    auto v = json::i64(j, key);
    return v > 0 ? static_cast<std::uint64_t>(v) : 0;
}

}  // namespace

Result<ContainerStats> parse_stats(std::string_view body) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (!j.is_object()) return make_error("container stats: not a JSON object");
    ContainerStats s;
    const auto& cpu = json::object(j, "cpu_stats");
    const auto& pre = json::object(j, "precpu_stats");
    std::uint64_t total = u64(json::object(cpu, "cpu_usage"), "total_usage");
    std::uint64_t pre_total = u64(json::object(pre, "cpu_usage"), "total_usage");
    std::uint64_t system = u64(cpu, "system_cpu_usage");
    std::uint64_t pre_system = u64(pre, "system_cpu_usage");
    s.cpu_seconds = static_cast<double>(total) / 1e9;  // total_usage is in nanoseconds
    s.online_cpus = static_cast<int>(json::i64(cpu, "online_cpus"));
    if (s.online_cpus == 0) {
        auto* percpu = json::field(json::object(cpu, "cpu_usage"), "percpu_usage");
        if (percpu && percpu->is_array()) s.online_cpus = static_cast<int>(percpu->size());
    }
    if (system > pre_system && total >= pre_total && s.online_cpus > 0)
        s.cpu_percent = static_cast<double>(total - pre_total) /
                        static_cast<double>(system - pre_system) * s.online_cpus * 100.0;

    const auto& mem = json::object(j, "memory_stats");
    const auto& mstats = json::object(mem, "stats");
    std::uint64_t usage = u64(mem, "usage");
    // What `docker stats` subtracts: cgroup v1 total_inactive_file, v2 inactive_file.
    std::uint64_t cache = json::field(mstats, "total_inactive_file")
                              ? u64(mstats, "total_inactive_file")
                              : u64(mstats, "inactive_file");
    s.memory_usage = usage > cache ? usage - cache : usage;
    s.memory_limit = u64(mem, "limit");
    s.pids = u64(json::object(j, "pids_stats"), "current");
    return s;
}

DResult<ContainerStats> container_stats(const Client& client, const std::string& id) {
    std::string op = "stats of container " + id;
    auto r = client.call("GET", "/containers/" + url_encode(id) + "/stats?stream=0", op);
    if (!r) return std::move(r).error();
    auto s = parse_stats(r->body);
    if (!s) return DockerError{op, r->status, s.error().message};
    return std::move(s).value();
}

}  // namespace tenex::docker
