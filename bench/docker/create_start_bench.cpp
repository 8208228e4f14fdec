// Benchmark: create+start of the probe image, through
//   client   - tenex::docker (create_container + start_container)
//   libcurl  - the same two requests with bare libcurl calls (no client code at all)
//   curl-cli - the same two requests with `curl --unix-socket` (a process per call)
//   docker   - `docker run -d`
// interleaved round by round, each container removed (untimed) after its run. Then the parse
// time of a synthetic 500-container GET /containers/json reply. Prints a Markdown table.
//
// usage: bench_docker_create_start [runs=30] [image=tenex-probe:latest]
#include <curl/curl.h>
#include "raw_engine.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "docker/containers.hpp"

using namespace tenex::docker;
using Clock = std::chrono::steady_clock;

namespace {

std::string g_socket;
std::string g_api;

std::string run_capture(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return out;
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    pclose(p);
    return out;
}

long raw_post(const std::string& path, const std::string& body, std::string* out) {
    return tenex::bench::raw_post(g_socket, g_api, path, body, out);
}

ContainerSpec spec_for(const std::string& image, const std::string& name) {
    ContainerSpec s;
    s.name = name;
    s.image = image;
    s.cmd = {"sleep"};
    s.labels = {{"tenex.test", "1"}, {"tenex.bench", "1"}};
    s.network_mode = "none";
    return s;
}

struct Stats {
    double median, p95, mean;
};

Stats summarize(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    auto at = [&](double q) {
        return v[std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5))];
    };
    double sum = 0;
    for (double x : v) sum += x;
    return {at(0.5), at(0.95), sum / v.size()};
}

std::string synthetic_listing(int n) {
    nlohmann::json list = nlohmann::json::array();
    for (int i = 0; i < n; ++i) {
        std::string id(64, 'a');
        std::snprintf(id.data(), 65, "%064x", i * 2654435761u);
        list.push_back({
            {"Id", id},
            {"Names", {"/tenex-31933-" + std::to_string(i) + "-project"}},
            {"Image", "tenex-runtime:latest"},
            {"ImageID", "sha256:" + id},
            {"Command", "/tenex-probe sleep"},
            {"Created", 1700000000 + i},
            {"Ports", nlohmann::json::array()},
            {"Labels",
             {{"tenex.managed", "1"},
              {"tenex.project", "31933:" + id + ":project-" + std::to_string(i)},
              {"tenex.owner", id},
              {"tenex.policy", "default"},
              {"tenex.generation", std::to_string(i % 7)}}},
            {"State", i % 3 ? "running" : "exited"},
            {"Status", i % 3 ? "Up 2 hours" : "Exited (0) 5 minutes ago"},
            {"HostConfig", {{"NetworkMode", "tenex-net"}}},
            {"NetworkSettings",
             {{"Networks",
               {{"tenex-net",
                 {{"IPAMConfig", nullptr},
                  {"Links", nullptr},
                  {"Aliases", nullptr},
                  {"NetworkID", id},
                  {"EndpointID", id},
                  {"Gateway", "172.20.0.1"},
                  {"IPAddress", "172.20.1." + std::to_string(i % 250)},
                  {"IPPrefixLen", 16},
                  {"MacAddress", "02:42:ac:14:01:02"}}}}}}},
            {"Mounts",
             {{{"Type", "bind"},
               {"Source", "/var/lib/tenex/projects/" + std::to_string(i)},
               {"Destination", "/work"},
               {"Mode", ""},
               {"RW", true},
               {"Propagation", "rprivate"}}}},
        });
    }
    return list.dump();
}

}  // namespace

int main(int argc, char** argv) {
    int runs = argc > 1 ? std::atoi(argv[1]) : 30;
    std::string image = argc > 2 ? argv[2] : "tenex-probe:latest";
    auto client = Client::connect();
    if (!client) {
        std::fprintf(stderr, "%s\n", client.error().describe().c_str());
        return 1;
    }
    const Client& c = **client;
    g_socket = c.socket_path();
    g_api = c.api_version().to_string();
    std::string body_json = to_create_body(spec_for(image, ""), c.api_version()).dump();
    std::string body_file = "/tmp/tenex-bench-body.json";
    if (FILE* f = std::fopen(body_file.c_str(), "w")) {
        std::fputs(body_json.c_str(), f);
        std::fclose(f);
    }

    std::map<std::string, std::vector<double>> ms;
    std::vector<std::string> order = {"client", "libcurl", "curl-cli", "docker run -d"};
    int failures = 0;
    for (int r = 0; r < runs + 2; ++r) {  // two warm-up rounds, not recorded
        for (const auto& method : order) {
            std::string name =
                "tenex-bench-" + std::to_string(r) + "-" + std::to_string(&method - order.data());
            std::string id;
            auto t0 = Clock::now();
            if (method == "client") {
                auto created = create_container(c, spec_for(image, name));
                if (created && start_container(c, *created)) id = *created;
            } else if (method == "libcurl") {
                std::string out;
                if (raw_post("/containers/create?name=" + name, body_json, &out) == 201) {
                    auto j = nlohmann::json::parse(out, nullptr, false);
                    std::string cid = j.is_object() ? j.value("Id", "") : "";
                    std::string ignored;
                    if (raw_post("/containers/" + cid + "/start", "", &ignored) == 204) id = cid;
                }
            } else if (method == "curl-cli") {
                std::string base =
                    "curl -s --unix-socket " + g_socket + " -X POST http://d/v" + g_api;
                auto out = run_capture(base + "/containers/create?name=" + name +
                                       " -H 'Content-Type: application/json' -d @" + body_file);
                auto j = nlohmann::json::parse(out, nullptr, false);
                std::string cid = j.is_object() ? j.value("Id", "") : "";
                auto code = run_capture(base + "/containers/" + cid +
                                        "/start -o /dev/null -w '%{http_code}'");
                if (code == "204") id = cid;
            } else {
                auto out = run_capture(
                    "docker run -d --network none --label tenex.test=1 --label tenex.bench=1 "
                    "--name " +
                    name + " " + image + " sleep");
                while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
                id = out;
            }
            double elapsed = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
            if (id.empty())
                ++failures;
            else if (r >= 2)
                ms[method].push_back(elapsed);
            (void)remove_container(c, id.empty() ? name : id, true, true);
        }
    }

    char date[64];
    std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
    std::printf("create+start of %s, %d runs each (interleaved), engine %s, API %s, %s\n\n",
                image.c_str(), runs, c.engine().version.c_str(), g_api.c_str(), date);
    std::printf(
        "| method | median ms | p95 ms | mean ms | vs libcurl (median) |\n|---|---|---|---|---|\n");
    double base = ms["libcurl"].empty() ? 0 : summarize(ms["libcurl"]).median;
    for (const auto& method : order) {
        if (ms[method].empty()) continue;
        auto s = summarize(ms[method]);
        std::printf("| %s | %.1f | %.1f | %.1f | %+.1f%% |\n", method.c_str(), s.median, s.p95,
                    s.mean, base > 0 ? (s.median / base - 1) * 100 : 0.0);
    }
    if (failures) std::printf("\n%d runs failed (not counted)\n", failures);

    std::string listing = synthetic_listing(500);
    std::vector<double> parse_ms;
    size_t entries = 0;
    for (int i = 0; i < 50; ++i) {
        auto t0 = Clock::now();
        auto parsed = parse_container_list(listing);
        parse_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        entries = parsed ? parsed->size() : 0;
    }
    auto p = summarize(parse_ms);
    std::printf(
        "\nparse of a 500-container listing (%zu bytes, %zu entries): median %.2f ms, p95 %.2f ms "
        "(50 runs)\n",
        listing.size(), entries, p.median, p.p95);

    // Connection reuse: is a persistent easy handle per thread worth it? GET /_ping, 200 times.
    std::vector<double> fresh, reused;
    CURL* keep = curl_easy_init();
    std::string sink;
    curl_easy_setopt(keep, CURLOPT_UNIX_SOCKET_PATH, g_socket.c_str());
    curl_easy_setopt(keep, CURLOPT_URL, "http://docker/_ping");
    curl_easy_setopt(keep, CURLOPT_WRITEFUNCTION, tenex::bench::append_to_string);
    curl_easy_setopt(keep, CURLOPT_WRITEDATA, &sink);
    for (int i = 0; i < 200; ++i) {
        auto t0 = Clock::now();
        (void)c.ping();
        fresh.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        t0 = Clock::now();
        curl_easy_perform(keep);
        reused.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    curl_easy_cleanup(keep);
    auto f = summarize(fresh), k = summarize(reused);
    std::printf(
        "\nGET /_ping x200: handle per call (client) median %.3f ms p95 %.3f ms; "
        "one reused handle median %.3f ms p95 %.3f ms\n",
        f.median, f.p95, k.median, k.p95);
    return failures ? 1 : 0;
}
