#include "engine_run.hpp"

#include <curl/curl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>

#include <nlohmann/json.hpp>

#include "docker/containers.hpp"
#include "raw_engine.hpp"

namespace tenex::bench {

double ms_since(BenchClock::time_point t0) {
    return std::chrono::duration<double, std::milli>(BenchClock::now() - t0).count();
}

Summary summarize(std::vector<double> v) {
    if (v.empty()) return {};
    std::sort(v.begin(), v.end());
    auto at = [&](double q) {
        return v[std::min(v.size() - 1, static_cast<std::size_t>(q * (v.size() - 1) + 0.5))];
    };
    return {at(0.5), at(0.95), v.size()};
}

long EngineRun::raw_post(const std::string& path, const std::string& body, std::string* out) const {
    return bench::raw_post(client->socket_path(), client->api_version().to_string(), path, body,
                           out);
}

std::string EngineRun::raw_create_start(const docker::ContainerSpec& spec) const {
    std::string out;
    auto body = docker::to_create_body(spec, client->api_version()).dump();
    if (raw_post("/containers/create?name=" + spec.name, body, &out) != 201) {
        std::fprintf(stderr, "raw create %s: %s\n", spec.name.c_str(), out.c_str());
        return {};
    }
    auto id = nlohmann::json::parse(out, nullptr, false).value("Id", std::string());
    std::string ignored;
    return raw_post("/containers/" + id + "/start", "", &ignored) == 204 ? id : std::string();
}

void EngineRun::remove_labelled(const std::string& label) const {
    auto left = docker::list_containers(*client, {.all = true, .labels = {label}, .names = {}});
    if (!left) return;
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (std::size_t i = next++; i < left->size(); i = next++)
                (void)docker::remove_container(*client, (*left)[i].id, true, true);
        });
    for (auto& t : threads) t.join();
}

std::optional<EngineRun> open_engine_run(const std::string& name) {
    spdlog::set_level(spdlog::level::warn);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    auto connected = docker::Client::connect();
    if (!connected) {
        std::fprintf(stderr, "%s\n", connected.error().describe().c_str());
        return std::nullopt;
    }
    EngineRun r;
    r.client = std::move(*connected);
    r.run = std::to_string(::getpid());
    r.root = std::filesystem::temp_directory_path() / ("tenex-bench-" + name + "-" + r.run);
    return r;
}

}  // namespace tenex::bench
