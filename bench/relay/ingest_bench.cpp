// bench_relay_ingest [EVENTS] [RELAYS_FOR_MEMORY]
// 1. Signs EVENTS events, then measures in one run:
//    a) the single-thread verify pipeline: nostr::parse_and_verify over the JSON texts;
//    b) the pool: an embedded relay on loopback pushes the same events (stored part of a REQ)
//       and the pool parses, dedups and verifies them on its service thread; time from
//       fetch() to the settled result;
//    c) the same with a second relay pushing the same events (half are duplicates: dedup
//       before verification should keep the rate per unique event up).
// 2. RSS of a pool with RELAYS_FOR_MEMORY connected relays (one embedded relay, distinct
//    paths: one websocket each) with one live subscription each.
// Prints a Markdown table.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "nostr/keys.hpp"
#include "nostr/verify.hpp"
#include "relay/pool.hpp"
#include "relay/server.hpp"

using namespace tenex;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

long rss_kib() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::unique_ptr<relay::EmbeddedRelay> relay_with(const std::vector<nostr::Event>& events, std::size_t max_limit) {
    relay::RelayServerOptions o;
    o.port = 0;
    o.max_limit = max_limit;
    auto r = relay::EmbeddedRelay::start(o);
    if (!r) throw std::runtime_error(r.error().message);
    relay::RelayPool loader;
    if (!loader.add_relay((*r)->url()).ok() || !loader.wait_connected(1, 10s)) throw std::runtime_error("connect");
    std::vector<std::future<relay::PublishResult>> fs;
    for (const auto& e : events) {
        fs.push_back(loader.publish(e, 60s));
        if (fs.size() >= 500) {
            for (auto& f : fs) f.get();
            fs.clear();
        }
    }
    for (auto& f : fs) f.get();
    return std::move(*r);
}

double pool_rate(const std::vector<std::string>& urls, const nostr::Filter& f, std::size_t expect,
                 bool verify = true) {
    relay::PoolOptions opt;
    opt.verify_events = verify;
    relay::RelayPool pool(opt);
    for (const auto& u : urls) (void)pool.add_relay(u);
    pool.wait_connected(urls.size(), 10s);
    const auto t0 = Clock::now();
    auto got = pool.fetch({f}, 300s).get();
    const auto t = seconds(Clock::now() - t0);
    if (got.size() != expect) std::fprintf(stderr, "warning: got %zu of %zu events\n", got.size(), expect);
    return static_cast<double>(got.size()) / t;
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t n = argc > 1 ? std::stoul(argv[1]) : 20000;
    const std::size_t relays_for_memory = argc > 2 ? std::stoul(argv[2]) : 20;
    auto keys = nostr::Keys::generate();
    std::vector<nostr::Event> events;
    std::vector<std::string> jsons;
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    for (std::size_t i = 0; i < n; ++i) {
        nostr::UnsignedEvent u;
        u.kind = 1;
        u.content = "bench event " + std::to_string(i) + std::string(i % 200, 'x');
        u.tags = {{"a", "31933:" + keys.pub.hex() + ":proj"}, {"p", keys.pub.hex()}};
        u.created_at = now - static_cast<std::int64_t>(i % 3600);
        events.push_back(*nostr::sign_event(u, keys));
        jsons.push_back(nostr::to_json(events.back()));
    }

    // a) single-thread verify pipeline
    const auto t0 = Clock::now();
    std::size_t ok = 0;
    for (const auto& j : jsons) ok += nostr::parse_and_verify(j).ok() ? 1 : 0;
    const double verify_rate = static_cast<double>(ok) / seconds(Clock::now() - t0);

    // b) + c) pool ingest from local relays pushing the pre-signed events
    auto r1 = relay_with(events, n);
    auto r2 = relay_with(events, n);
    nostr::Filter f;
    f.authors = std::vector<std::string>{keys.pub.hex()};
    const double one = pool_rate({r1->url()}, f, n);
    const double two = pool_rate({r1->url(), r2->url()}, f, n);
    const double ceiling = pool_rate({r1->url()}, f, n, /*verify=*/false);

    // 2. memory with many relays connected
    const long rss_before = rss_kib();
    long rss_after = -1;
    {
        relay::RelayPool pool;
        for (std::size_t i = 0; i < relays_for_memory; ++i) (void)pool.add_relay(r1->url() + "/r" + std::to_string(i));
        const bool all = pool.wait_connected(relays_for_memory, 20s);
        nostr::Filter live;
        live.authors = std::vector<std::string>{std::string(64, '0')};
        live.limit = 0;
        (void)pool.subscribe("live", {live}, [](const relay::DeliveredEvent&) {});
        std::this_thread::sleep_for(1s);
        rss_after = rss_kib();
        if (!all) std::fprintf(stderr, "warning: not all relays connected\n");
    }

    std::printf("| measure | value |\n|---|---|\n");
    std::printf("| events | %zu |\n", n);
    std::printf("| single-thread parse_and_verify | %.0f events/s |\n", verify_rate);
    std::printf("| pool ingest, 1 local relay (parse + dedup + verify + filter match) | %.0f events/s (%.0f%% of verify) |\n",
                one, 100.0 * one / verify_rate);
    std::printf("| pool ingest, 2 relays sending the same events (unique events/s) | %.0f events/s (%.0f%% of verify) |\n",
                two, 100.0 * two / verify_rate);
    std::printf("| pool ingest, 1 relay, verification off (transport + parse ceiling) | %.0f events/s |\n", ceiling);
    std::printf("| RSS of the pool with %zu relays connected + 1 subscription | %ld KiB (process before: %ld KiB, delta %ld KiB) |\n",
                relays_for_memory, rss_after, rss_before, rss_after - rss_before);
    return 0;
}
