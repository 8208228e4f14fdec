// bench_relay_ingest [EVENTS] [RELAYS_FOR_MEMORY] [REPEAT] [--only ROW]
// Signs EVENTS events (default 20000), then measures in one run:
//  0) memory first, in a fresh process: RSS and heap in use of a pool with RELAYS_FOR_MEMORY
//     (default 20) connected relays (one FramePusher, distinct paths: one websocket each)
//     and one live subscription;
//  a) the single-thread verify pipeline: nostr::parse_and_verify over the JSON texts;
//  b) the pool ingesting the same events from a FramePusher on loopback (pre-framed EVENT
//     messages written in large send() calls: the peer costs next to nothing), with the
//     default options (verification on the service thread), with 1 verify thread, and with
//     verification off (the ceiling of transport + parse + dedup + filter match);
//  c) the same events from two pushers at once (half of what arrives is duplicates, dropped
//     by id before verification), counted in unique events/s;
//  d) the pool fed by the embedded relay in the same process (a real relay: it serializes
//     every stored event for the REQ, and its thread competes for the cores).
// Rows a-d run in REPEAT (default 3) interleaved rounds, best of each kept. Each pool run
// subscribes and stops the clock at the last relay's EOSE (delivery is in order, so every
// event is in by then). Prints a Markdown table with the load average.
// --only verify|inline|worker|two|ceiling|embedded runs one row once (for profilers).
#include <malloc.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include "frame_pusher.hpp"
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

double process_cpu_s() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    return s(u.ru_utime) + s(u.ru_stime);
}

double load1() {
    double l[3] = {-1, -1, -1};
    return getloadavg(l, 3) > 0 ? l[0] : -1;
}

double seconds(Clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

struct Run {
    double rate{0};         // unique events delivered per wall second
    double cpu_us{0};       // process CPU per delivered event
    std::uint64_t dups{0};  // duplicates dropped (all relays)
    std::size_t got{0};
};

Run pool_run(const std::vector<std::string>& urls, const nostr::Filter& f, std::size_t expect,
             relay::PoolOptions opt) {
    relay::RelayPool pool(opt);
    for (const auto& u : urls) (void)pool.add_relay(u);
    if (!pool.wait_connected(urls.size(), 10s)) std::fprintf(stderr, "warning: not connected\n");
    std::atomic<std::size_t> got{0};
    std::mutex mu;
    std::condition_variable cv;
    std::size_t eose = 0;
    const double c0 = process_cpu_s();
    const auto t0 = Clock::now();
    (void)pool.subscribe(
        "bench", {f}, [&](const relay::DeliveredEvent&) { ++got; },
        [&](const std::string&, const std::string&) {
            std::lock_guard lk(mu);
            ++eose;
            cv.notify_all();
        });
    {
        std::unique_lock lk(mu);
        cv.wait_for(lk, 600s, [&] { return eose >= urls.size(); });
    }
    Run r;
    const double t = seconds(Clock::now() - t0);
    r.got = got.load();
    r.rate = static_cast<double>(r.got) / t;
    r.cpu_us = 1e6 * (process_cpu_s() - c0) / static_cast<double>(std::max<std::size_t>(r.got, 1));
    std::this_thread::sleep_for(100ms);  // the last status snapshot follows the EOSE callback
    for (const auto& st : pool.status()) r.dups += st.duplicates;
    if (r.got != expect) std::fprintf(stderr, "warning: got %zu of %zu events\n", r.got, expect);
    return r;
}

std::unique_ptr<relay::EmbeddedRelay> embedded_with(const std::vector<nostr::Event>& events) {
    relay::RelayServerOptions o;
    o.port = 0;
    o.max_limit = events.size();
    // Every event stored and returned: the benchmark measures ingest, not the quotas.
    o.store_limits.max_author_bytes = o.store_limits.max_total_bytes = std::size_t{1} << 40;
    o.store_limits.max_events = events.size();
    o.max_query_bytes = std::size_t{1} << 40;
    auto r = relay::EmbeddedRelay::start(o);
    if (!r) throw std::runtime_error(r.error().message);
    relay::RelayPool loader;
    if (!loader.add_relay((*r)->url()).ok() || !loader.wait_connected(1, 10s))
        throw std::runtime_error("connect");
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

struct Memory {
    long rss_kib{0};   // RSS growth
    long heap_kib{0};  // heap in use (mallinfo2) growth
    long process_kib{0};
};

Memory pool_memory(std::size_t relays) {
    bench::FramePusher peer({}, "live");  // answers the upgrade, keeps no state per event
    const long rss0 = rss_kib();
    const auto heap0 = mallinfo2().uordblks;
    relay::RelayPool pool;
    for (std::size_t i = 0; i < relays; ++i)
        (void)pool.add_relay(peer.url() + "/r" + std::to_string(i));
    if (!pool.wait_connected(relays, 20s))
        std::fprintf(stderr, "warning: not all relays connected\n");
    nostr::Filter live;
    live.authors = std::vector<std::string>{std::string(64, '0')};
    live.limit = 0;
    (void)pool.subscribe("live", {live}, [](const relay::DeliveredEvent&) {});
    std::this_thread::sleep_for(1s);
    Memory m;
    m.process_kib = rss_kib();
    m.rss_kib = m.process_kib - rss0;
    m.heap_kib = static_cast<long>((mallinfo2().uordblks - heap0) / 1024);
    return m;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    std::string only;
    for (std::size_t i = 0; i + 1 < args.size(); ++i)
        if (args[i] == "--only") {
            only = args[i + 1];
            args.erase(args.begin() + static_cast<long>(i),
                       args.begin() + static_cast<long>(i) + 2);
            break;
        }
    const std::size_t n = args.size() > 0 ? std::stoul(args[0]) : 20000;
    const std::size_t relays_for_memory = args.size() > 1 ? std::stoul(args[1]) : 20;
    const int repeat = args.size() > 2 ? std::stoi(args[2]) : 3;
    const double load_start = load1();
    const Memory mem = only.empty() ? pool_memory(relays_for_memory) : Memory{};
    auto keys = nostr::Keys::generate();
    std::vector<nostr::Event> events;
    std::vector<std::string> jsons;
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    for (std::size_t i = 0; i < n; ++i) {
        nostr::UnsignedEvent u;
        u.kind = 1;
        u.content = "bench event " + std::to_string(i) + std::string(i % 200, 'x');
        u.tags = {{"a", "31933:" + keys.pub.hex() + ":proj"}, {"p", keys.pub.hex()}};
        u.created_at = now - static_cast<std::int64_t>(i % 3600);
        events.push_back(*nostr::sign_event(u, keys));
        jsons.push_back(nostr::to_json(events.back()));
    }
    nostr::Filter f;
    f.authors = std::vector<std::string>{keys.pub.hex()};

    bench::FramePusher p1(jsons, "bench"), p2(jsons, "bench");
    relay::PoolOptions defaults, worker, no_verify;
    worker.verify_threads = 1;
    no_verify.verify_events = false;
    std::unique_ptr<relay::EmbeddedRelay> embedded;
    struct Row {
        const char* name;
        const char* label;
        std::function<Run()> run;
        Run best{};
    };
    std::vector<Row> rows = {
        {"verify", "single-thread parse_and_verify",
         [&] {
             const double c0 = process_cpu_s();
             const auto t0 = Clock::now();
             std::size_t ok = 0;
             for (const auto& j : jsons) ok += nostr::parse_and_verify(j).ok() ? 1 : 0;
             Run r;
             r.got = ok;
             r.rate = static_cast<double>(ok) / seconds(Clock::now() - t0);
             r.cpu_us = 1e6 * (process_cpu_s() - c0) / static_cast<double>(ok);
             return r;
         }},
        {"inline", "**pool, 1 pusher, default options (verify on the service thread)**",
         [&] { return pool_run({p1.url()}, f, n, defaults); }},
        {"worker", "pool, 1 pusher, 1 verify thread",
         [&] { return pool_run({p1.url()}, f, n, worker); }},
        {"two", "pool, 2 pushers, same events, default options (unique events/s)",
         [&] {
             return pool_run({p1.url(), p2.url()}, f, n, defaults);
         }},
        {"ceiling", "pool, 1 pusher, verification off (ceiling)",
         [&] { return pool_run({p1.url()}, f, n, no_verify); }},
        {"embedded", "pool, embedded relay in-process, default options (incl. the relay's CPU)",
         [&] {
             if (!embedded) embedded = embedded_with(events);
             return pool_run({embedded->url()}, f, n, defaults);
         }},
    };
    if (!only.empty()) {  // one row, once, for profilers
        for (auto& row : rows)
            if (only == row.name) {
                Run r = row.run();
                std::printf("%s: %.0f events/s, %.1f us CPU per event\n", row.name, r.rate,
                            r.cpu_us);
                return 0;
            }
        return std::fprintf(stderr, "unknown row %s\n", only.c_str()), 2;
    }
    embedded = embedded_with(events);  // loaded before the rounds
    for (int round = 0; round < repeat; ++round)
        for (auto& row : rows) {
            Run r = row.run();
            if (r.rate > row.best.rate) row.best = r;
        }
    const double load_end = load1();

    const double verify_rate = rows[0].best.rate;
    std::printf(
        "%zu events, best of %d interleaved rounds; load average %.1f at start, %.1f at end\n\n", n,
        repeat, load_start, load_end);
    std::printf(
        "| measure | events/s (wall) | vs verify | CPU per event |\n|---|---:|---:|---:|\n");
    for (const auto& row : rows) {
        std::printf("| %s | %.0f | %.0f%% | %.1f us |\n", row.label, row.best.rate,
                    100.0 * row.best.rate / verify_rate, row.best.cpu_us);
    }
    std::printf(
        "\nDuplicates dropped before verification in the 2-pusher row: %llu of %zu events\n",
        static_cast<unsigned long long>(rows[3].best.dups), 2 * n);
    std::printf(
        "Pool with %zu relays connected + 1 subscription: RSS +%ld KiB, heap in use +%ld KiB "
        "(process RSS %ld KiB, measured first)\n",
        relays_for_memory, mem.rss_kib, mem.heap_kib, mem.process_kib);
    return 0;
}
