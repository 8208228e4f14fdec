// The probe's Nostr mode. One RelayPool (its own libwebsockets thread) delivers kind 1
// events into an inbox; the main thread answers them, publishes the status heartbeat,
// collects publish results and watches for SIGTERM/SIGINT.
#include "nostr_mode.hpp"

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <future>
#include <mutex>
#include <unordered_set>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "relay/pool.hpp"
#include "relay/url.hpp"

namespace tenex::probe {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::uint32_t kProjectKind = 31933;
constexpr std::uint32_t kStatusKind = 24010;
constexpr std::uint32_t kMessageKind = 1;
constexpr auto kPublishTimeout = 10s;
constexpr auto kFirstStatusWait = 5s;  // for every relay to connect before the first status
constexpr long kMaxIntervalS = 86400;

volatile sig_atomic_t g_stop = 0;
void on_stop_signal(int) {
    g_stop = 1;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

Result<nostr::Address> read_address(const char* text) {
    if (!text || !*text)
        return make_error("TENEX_PROJECT_ADDRESS is not set (expected 31933:<owner hex>:<d>)");
    auto address = nostr::Address::parse(trim(text));
    if (!address) return make_error("TENEX_PROJECT_ADDRESS: " + address.error().message);
    if (address->kind != kProjectKind)
        return make_error("TENEX_PROJECT_ADDRESS: kind " + std::to_string(address->kind) +
                          " is not a project (31933)");
    return address;
}

Result<std::vector<std::string>> read_relays(const char* text) {
    std::vector<std::string> relays;
    std::string_view rest = text ? text : "";
    while (!rest.empty()) {
        auto comma = rest.find(',');
        auto item = trim(rest.substr(0, comma));
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        if (item.empty()) continue;
        auto url = relay::RelayUrl::parse(item);
        if (!url) return make_error("TENEX_RELAYS: " + url.error().message);
        if (std::find(relays.begin(), relays.end(), url->normalized) == relays.end())
            relays.push_back(url->normalized);
    }
    if (relays.empty())
        return make_error(
            "TENEX_RELAYS is not set (expected comma-separated ws:// or wss:// URLs)");
    return relays;
}

Result<std::chrono::seconds> read_interval(const char* text) {
    if (!text || !*text) return std::chrono::seconds(30);
    char* end = nullptr;
    errno = 0;
    long v = std::strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 1 || v > kMaxIntervalS)
        return make_error("TENEX_STATUS_INTERVAL: expected whole seconds from 1 to 86400");
    return std::chrono::seconds(v);
}

// What the main thread is waiting for: one publish and what to print when it settles.
struct PendingPublish {
    std::future<relay::PublishResult> result;
    std::string what;  // "status" or "reply"
    std::string line;  // printed on stdout once a relay accepted it
};

// Kind 1 events handed over by the pool's thread.
class Inbox {
  public:
    void push(nostr::Event event) {
        {
            std::lock_guard lock(mu_);
            events_.push_back(std::move(event));
        }
        cv_.notify_one();
    }
    std::deque<nostr::Event> take(std::chrono::milliseconds wait) {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, wait, [this] { return !events_.empty(); });
        return std::exchange(events_, {});
    }

  private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<nostr::Event> events_;
};

std::string describe(const relay::PublishResult& r) {
    std::string out;
    for (const auto& ok : r.relays) {
        if (!out.empty()) out += "; ";
        out += ok.relay + ": " + (ok.accepted ? "accepted" : ok.message);
    }
    return out;
}

class NostrProbe {
  public:
    NostrProbe(NostrConfig config, nostr::Keys keys)
        : config_(std::move(config)),
          keys_(std::move(keys)),
          address_(config_.address.to_string()) {}

    Status start();
    void run();

  private:
    void answer(const nostr::Event& message);
    void publish(nostr::UnsignedEvent event, std::string what, const std::string& suffix);
    void maybe_publish_status(Clock::time_point now);
    void collect_results();

    NostrConfig config_;
    nostr::Keys keys_;
    std::string address_;
    Inbox inbox_;  // before pool_: the pool's thread pushes into it until the pool is gone
    relay::RelayPool pool_;
    std::unordered_set<std::string> answered_;
    std::vector<PendingPublish> pending_;
    Clock::time_point started_{Clock::now()};
    std::optional<Clock::time_point> next_status_{};  // empty: the first one is not out yet
};

Status NostrProbe::start() {
    for (const auto& url : config_.relays)
        if (auto added = pool_.add_relay(url); !added)
            return make_error("TENEX_RELAYS: " + added.error().message);
    nostr::Filter filter;
    filter.kinds = std::vector<std::uint32_t>{kMessageKind};
    filter.tags['a'] = {address_};
    filter.since = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count() -
                   5;
    return pool_.subscribe("probe-messages", {filter},
                           [this](const relay::DeliveredEvent& d) { inbox_.push(d.event); });
}

void NostrProbe::run() {
    while (!g_stop) {
        for (const auto& message : inbox_.take(50ms)) answer(message);
        maybe_publish_status(Clock::now());
        collect_results();
    }
}

void NostrProbe::answer(const nostr::Event& message) {
    if (message.kind != kMessageKind || message.pubkey == keys_.pub.hex()) return;
    bool tagged = std::any_of(
        message.tags.begin(), message.tags.end(),
        [this](const nostr::Tag& t) { return t.size() >= 2 && t[0] == "a" && t[1] == address_; });
    if (!tagged) return;
    if (!answered_.insert(message.id).second) return;
    publish(reply_event(config_.address, message), "reply", " to=" + message.id);
}

void NostrProbe::maybe_publish_status(Clock::time_point now) {
    if (next_status_ && now < *next_status_) return;
    if (!next_status_) {
        // The first status waits (briefly) for every relay, then goes to those connected.
        bool all = pool_.wait_connected(config_.relays.size(), 0ms);
        if (!all && !(now - started_ >= kFirstStatusWait && pool_.wait_connected(1, 0ms))) return;
    } else if (!pool_.wait_connected(1, 0ms)) {
        return;  // sent as soon as a relay is back
    }
    publish(status_event(config_.address, keys_.pub), "status", "");
    next_status_ = now + config_.status_interval;
}

void NostrProbe::publish(nostr::UnsignedEvent event, std::string what, const std::string& suffix) {
    auto signed_event = nostr::sign_event(std::move(event), keys_);
    if (!signed_event) {
        std::fprintf(stderr, "tenex-probe: nostr: cannot sign the %s: %s\n", what.c_str(),
                     signed_event.error().message.c_str());
        return;
    }
    std::string line = "nostr_" + what + "=" + signed_event->id + suffix;
    pending_.push_back({pool_.publish(std::move(*signed_event), kPublishTimeout), std::move(what),
                        std::move(line)});
}

void NostrProbe::collect_results() {
    for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->result.wait_for(0s) != std::future_status::ready) {
            ++it;
            continue;
        }
        auto result = it->result.get();
        if (result.any_accepted())
            std::printf("%s\n", it->line.c_str());
        else
            std::fprintf(stderr, "tenex-probe: nostr: %s %s not accepted: %s\n", it->what.c_str(),
                         result.event_id.c_str(), describe(result).c_str());
        std::fflush(stdout);
        it = pending_.erase(it);
    }
}

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
}

}  // namespace

Result<NostrConfig> read_nostr_config(const GetEnv& getenv) {
    NostrConfig config;
    auto address = read_address(getenv("TENEX_PROJECT_ADDRESS"));
    if (!address) return address.error();
    config.address = std::move(*address);
    auto relays = read_relays(getenv("TENEX_RELAYS"));
    if (!relays) return relays.error();
    config.relays = std::move(*relays);
    if (const char* key = getenv("TENEX_PROBE_KEY"); key && *key) {
        auto parsed = nostr::SecretKey::parse(key);
        if (!parsed) return make_error("TENEX_PROBE_KEY: " + parsed.error().message);
        config.key = std::move(*parsed);
    }
    auto interval = read_interval(getenv("TENEX_STATUS_INTERVAL"));
    if (!interval) return interval.error();
    config.status_interval = *interval;
    return config;
}

nostr::UnsignedEvent status_event(const nostr::Address& address, const nostr::PublicKey& probe) {
    nostr::UnsignedEvent event;
    event.kind = kStatusKind;
    event.content = R"({"status":"running","runtime":"tenex-probe"})";
    event.tags = {
        {"a", address.to_string()}, {"p", address.pubkey}, {"agent", probe.hex(), "probe"}};
    return event;
}

nostr::UnsignedEvent reply_event(const nostr::Address& address, const nostr::Event& message) {
    nostr::UnsignedEvent event;
    event.kind = kMessageKind;
    event.content = "tenex-probe " + address.identifier + ": received " + message.id;
    event.tags = {
        {"a", address.to_string()}, {"e", message.id, "", "reply"}, {"p", message.pubkey}};
    return event;
}

int run_nostr_mode() {
    // Library logs (relay pool, libwebsockets) go to stderr: stdout holds only key=value lines.
    spdlog::set_default_logger(spdlog::stderr_logger_mt("tenex-probe"));
    install_signal_handlers();
    auto config =
        read_nostr_config([](const char* name) -> const char* { return std::getenv(name); });
    if (!config) {
        std::fprintf(stderr, "tenex-probe: nostr: %s\n", config.error().message.c_str());
        return 2;
    }
    nostr::Keys keys = config->key ? nostr::Keys(*config->key) : nostr::Keys::generate();
    NostrProbe probe(std::move(*config), keys);
    std::printf("nostr_pubkey=%s\n", keys.pub.hex().c_str());
    std::fflush(stdout);
    if (auto started = probe.start(); !started) {
        std::fprintf(stderr, "tenex-probe: nostr: %s\n", started.error().message.c_str());
        return 2;
    }
    probe.run();
    std::printf("terminated=1\n");
    std::fflush(stdout);
    return 0;
}

}  // namespace tenex::probe
