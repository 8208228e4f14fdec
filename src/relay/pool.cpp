#include "relay/pool.hpp"

#include <libwebsockets.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "nostr/verify.hpp"
#include "relay/cursor.hpp"
#include "relay/dedup.hpp"
#include "relay/lws_log.hpp"
#include "relay/message.hpp"
#include "relay/url.hpp"

namespace tenex::relay {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kTick = std::chrono::milliseconds(50);
constexpr int kMaxAuthAttempts = 1;

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

bool has_mode(RelayMode m, RelayMode bit) {
    return (static_cast<unsigned>(m) & static_cast<unsigned>(bit)) != 0;
}

}  // namespace

// libwebsockets logs to stderr by default; keep its errors and warnings, through spdlog.
void quiet_lws_logs() {
    static std::once_flag once;
    std::call_once(once, [] {
        lws_set_log_level(LLL_ERR | LLL_WARN, [](int level, const char* line) {
            std::string_view l(line);
            while (!l.empty() && (l.back() == '\n' || l.back() == '\r')) l.remove_suffix(1);
            if (level & LLL_ERR) spdlog::error("libwebsockets: {}", l);
            else spdlog::debug("libwebsockets: {}", l);
        });
    });
}

struct RelayPool::Impl {
    enum class ConnState { idle, connecting, open, waiting };

    struct Conn {
        Impl* impl{nullptr};
        RelayUrl url{};
        RelayMode mode{RelayMode::read_write};
        ConnState state{ConnState::idle};
        lws* wsi{nullptr};
        std::deque<std::string> out{};
        std::string rx{};
        bool rx_overflow{false};
        bool close_requested{false};
        Backoff backoff;
        Clock::time_point next_attempt{};
        Clock::time_point opened_at{};
        // NIP-42
        std::string challenge{};
        std::string auth_event_id{};
        bool authenticated{false};
        int auth_attempts{0};
        std::vector<std::function<void()>> after_auth{};
        // Stats, mirrored into status_ under status_mu_.
        RelayStatus st{};
        explicit Conn(const BackoffOptions& b) : backoff(b) {}
    };

    struct Sub {
        std::vector<nostr::Filter> filters{};
        EventCallback on_event{};
        EoseCallback on_eose{};
        IdDedup dedup;
        std::map<std::string, ResumeCursor> cursors{};  // by relay URL
        explicit Sub(std::size_t cap) : dedup(cap) {}
    };

    struct Fetch {
        std::vector<nostr::Filter> filters{};
        FetchState state;
        Clock::time_point deadline{};
        std::promise<std::vector<nostr::Event>> promise{};
        explicit Fetch(std::vector<std::string> relays) : state(std::move(relays)) {}
    };

    struct Publish {
        nostr::Event event{};
        std::string message{};
        PublishState state;
        Clock::time_point deadline{};
        std::promise<PublishResult> promise{};
        std::map<std::string, int> retries{};  // relay -> resends done (auth / rate limit)
        Publish(std::string id, std::vector<std::string> relays) : state(std::move(id), std::move(relays)) {}
    };

    struct Tick {
        lws_sorted_usec_list_t sul;  // first member: the callback casts back
        Impl* impl;
    };

    struct Delayed {
        Clock::time_point at;
        std::function<void()> fn;
    };

    PoolOptions opt;
    lws_context* ctx{nullptr};
    lws_protocols protocols[2]{};
    lws_retry_bo_t retry{};
    std::thread thread;
    std::atomic<bool> stopping{false};
    std::mutex cmd_mu;
    std::vector<std::function<void()>> commands;
    Tick tick{};

    // Service-thread state.
    std::map<std::string, std::unique_ptr<Conn>> conns;  // by normalized URL
    std::map<std::string, std::unique_ptr<Sub>> subs;
    std::map<std::string, std::unique_ptr<Fetch>> fetches;
    std::map<std::string, std::unique_ptr<Publish>> publishes;  // by event id
    std::vector<Delayed> delayed;
    std::uint64_t next_fetch{0};

    mutable std::mutex status_mu;
    mutable std::condition_variable status_cv;
    std::map<std::string, RelayStatus> status;

    explicit Impl(PoolOptions o) : opt(std::move(o)) {}

    // ---------- thread plumbing ----------
    bool start() {
        quiet_lws_logs();
        protocols[0].name = "tenex-nostr-client";
        protocols[0].callback = &Impl::lws_cb;
        protocols[0].rx_buffer_size = 65536;
        protocols[0].user = this;
        retry.secs_since_valid_ping = opt.ping_after_idle_s;
        retry.secs_since_valid_hangup = opt.dead_after_idle_s;
        lws_context_creation_info info{};
        info.port = CONTEXT_PORT_NO_LISTEN;
        info.protocols = protocols;
        info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.user = this;
        info.timeout_secs = opt.connect_timeout_s;
        info.connect_timeout_secs = opt.connect_timeout_s;
        if (!opt.ca_file.empty()) info.client_ssl_ca_filepath = opt.ca_file.c_str();
        ctx = lws_create_context(&info);
        if (!ctx) return false;
        tick.impl = this;
        thread = std::thread([this] { run(); });
        return true;
    }

    void run() {
        lws_sul_schedule(ctx, 0, &tick.sul, &Impl::on_tick, kTick.count() * LWS_US_PER_MS);
        while (!stopping.load()) {
            if (lws_service(ctx, 0) < 0) break;
        }
        // Settle everything still open so no future hangs.
        for (auto& [id, f] : fetches) {
            f->state.settle_all("pool stopped");
            f->promise.set_value(f->state.take_result());
        }
        fetches.clear();
        for (auto& [id, p] : publishes) p->promise.set_value(p->state.result("pool stopped"));
        publishes.clear();
        lws_sul_cancel(&tick.sul);
    }

    void post(std::function<void()> fn) {
        {
            std::lock_guard lk(cmd_mu);
            commands.push_back(std::move(fn));
        }
        if (ctx) lws_cancel_service(ctx);
    }

    void drain_commands() {
        std::vector<std::function<void()>> batch;
        {
            std::lock_guard lk(cmd_mu);
            batch.swap(commands);
        }
        for (auto& fn : batch) {
            try {
                fn();
            } catch (const std::exception& e) {
                spdlog::error("relay pool: command failed: {}", e.what());
            }
        }
    }

    void stop() {
        if (!ctx) return;
        if (!stopping.exchange(true)) lws_cancel_service(ctx);
        if (thread.joinable()) thread.join();
        lws_context_destroy(ctx);
        ctx = nullptr;
    }

    // ---------- status ----------
    void publish_status(Conn& c) {
        std::lock_guard lk(status_mu);
        status[c.url.normalized] = c.st;
        status_cv.notify_all();
    }

    // ---------- connections ----------
    void connect(Conn& c) {
        lws_client_connect_info ci{};
        ci.context = ctx;
        ci.address = c.url.host.c_str();
        ci.port = c.url.port;
        ci.path = c.url.path.c_str();
        ci.host = c.url.host.c_str();
        ci.origin = c.url.host.c_str();
        ci.ssl_connection = c.url.tls ? LCCSCF_USE_SSL : 0;
        ci.local_protocol_name = protocols[0].name;
        ci.retry_and_idle_policy = &retry;
        ci.opaque_user_data = &c;
        ci.pwsi = &c.wsi;
        c.state = ConnState::connecting;
        c.rx.clear();
        c.rx_overflow = false;
        c.close_requested = false;
        if (!lws_client_connect_via_info(&ci) && c.state == ConnState::connecting) {
            c.wsi = nullptr;
            on_disconnected(c, "connect failed");
        }
    }

    void send(Conn& c, std::string msg) {
        c.out.push_back(std::move(msg));
        if (c.state == ConnState::open && c.wsi) lws_callback_on_writable(c.wsi);
    }

    void on_open(Conn& c) {
        c.state = ConnState::open;
        c.opened_at = Clock::now();
        c.challenge.clear();
        c.auth_event_id.clear();
        c.authenticated = false;
        c.auth_attempts = 0;
        c.after_auth.clear();
        if (c.st.connects > 0) ++c.st.reconnects;
        ++c.st.connects;
        c.st.connected = true;
        c.st.authenticated = false;
        publish_status(c);
        spdlog::info("relay {}: connected", c.url.normalized);
        // Anything queued while connecting (fetches, publishes) goes first, then the REQs.
        if (has_mode(c.mode, RelayMode::read))
            for (auto& [id, s] : subs) send_req(c, id, *s);
        if (!c.out.empty()) lws_callback_on_writable(c.wsi);
    }

    void send_req(Conn& c, const std::string& id, Sub& s) {
        auto& cur = s.cursors[c.url.normalized];
        send(c, make_req_msg(id, cur.resume_filters(s.filters, opt.resume_overlap)));
    }

    void on_disconnected(Conn& c, const std::string& why) {
        const bool was_open = c.state == ConnState::open;
        c.wsi = nullptr;
        if (stopping.load()) {
            c.state = ConnState::idle;
            return;
        }
        if (c.state == ConnState::idle || c.state == ConnState::waiting) return;
        c.out.clear();
        c.rx.clear();
        c.after_auth.clear();
        if (was_open && Clock::now() - c.opened_at >= opt.stable_after) c.backoff.reset();
        auto delay = c.backoff.next();
        c.state = ConnState::waiting;
        c.next_attempt = Clock::now() + delay;
        c.st.connected = false;
        c.st.authenticated = false;
        c.st.last_error = why;
        publish_status(c);
        spdlog::warn("relay {}: {}; reconnecting in {} ms", c.url.normalized, why, delay.count());
        const auto url = c.url.normalized;
        for (auto& [id, f] : fetches) f->state.settle(url, "disconnected");
        for (auto& [id, p] : publishes) p->state.record(url, false, "disconnected: " + why);
        finish_done();
    }

    // ---------- incoming messages ----------
    void on_message(Conn& c, std::string_view text) {
        c.st.last_message = std::chrono::system_clock::now();
        auto parsed = parse_relay_message(text);
        if (!parsed) {
            ++c.st.invalid_events;
            spdlog::debug("relay {}: bad message: {}", c.url.normalized, parsed.error().message);
            publish_status(c);
            return;
        }
        std::visit([&](auto& m) { handle(c, m); }, *parsed);
        publish_status(c);
        finish_done();  // after the status, so a settled future never sees an older one
    }

    // Common path for subscription and fetch events: id -> seen? -> parse -> verify.
    std::optional<nostr::Event> accept_event(Conn& c, const nlohmann::json& ev,
                                             const std::function<bool(const std::string&)>& seen) {
        ++c.st.events_received;
        auto idit = ev.find("id");
        if (idit == ev.end() || !idit->is_string()) {
            ++c.st.invalid_events;
            return std::nullopt;
        }
        if (seen(idit->get_ref<const std::string&>())) {
            ++c.st.duplicates;
            return std::nullopt;
        }
        auto e = nostr::parse_event(ev);
        if (!e) {
            ++c.st.invalid_events;
            spdlog::debug("relay {}: invalid event: {}", c.url.normalized, e.error().message);
            return std::nullopt;
        }
        if (opt.verify_events) {
            if (auto v = nostr::verify_event(*e); !v) {
                ++c.st.invalid_events;
                spdlog::debug("relay {}: event {} rejected: {}", c.url.normalized, e->id, v.error().message);
                return std::nullopt;
            }
        }
        return std::move(*e);
    }

    void handle(Conn& c, EventMsg& m) {
        const auto& url = c.url.normalized;
        if (auto it = subs.find(m.sub_id); it != subs.end()) {
            Sub& s = *it->second;
            auto e = accept_event(c, m.event, [&](const std::string& id) { return s.dedup.contains(id); });
            if (!e) return;
            if (!nostr::matches_any(s.filters, *e)) {
                ++c.st.invalid_events;
                spdlog::debug("relay {}: event {} does not match subscription {}", url, e->id, m.sub_id);
                return;
            }
            s.dedup.insert(e->id);
            s.cursors[url].saw_event(e->created_at);
            ++c.st.events_delivered;
            if (s.on_event) s.on_event(DeliveredEvent{url, m.sub_id, *e});
            return;
        }
        if (auto it = fetches.find(m.sub_id); it != fetches.end()) {
            Fetch& f = *it->second;
            if (!f.state.is_pending(url)) return;
            auto e = accept_event(c, m.event, [&](const std::string& id) { return f.state.seen(id); });
            if (!e) return;
            if (!nostr::matches_any(f.filters, *e)) {
                ++c.st.invalid_events;
                return;
            }
            ++c.st.events_delivered;
            f.state.add_event(std::move(*e));
            return;
        }
        // Late events of a closed subscription: ignore quietly.
    }

    void handle(Conn& c, OkMsg& m) {
        const auto& url = c.url.normalized;
        if (!c.auth_event_id.empty() && m.event_id == c.auth_event_id) {
            c.auth_event_id.clear();
            c.authenticated = m.accepted;
            c.st.authenticated = m.accepted;
            spdlog::info("relay {}: AUTH {}{}", url, m.accepted ? "accepted" : "refused: ", m.message);
            auto actions = std::move(c.after_auth);
            c.after_auth.clear();
            if (m.accepted) {
                for (auto& fn : actions) fn();
            } else {  // what waited for this AUTH fails now, with the relay's reason
                for (auto& [id, p] : publishes)
                    if (p->retries[url] > 0) p->state.record(url, false, "auth-required: AUTH refused: " + m.message);
            }
            return;
        }
        auto it = publishes.find(m.event_id);
        if (it == publishes.end()) return;
        Publish& p = *it->second;
        if (!p.state.is_pending(url)) return;
        const auto prefix = reason_prefix(m.message);
        if (!m.accepted && prefix == "auth-required" && p.retries[url] < 1 && can_auth(c)) {
            ++p.retries[url];
            const auto id = m.event_id;
            run_after_auth(c, [this, &c, id] {
                if (auto pit = publishes.find(id); pit != publishes.end()) send(c, pit->second->message);
            });
            return;
        }
        if (!m.accepted && prefix == "rate-limited" && p.retries[url] < 2) {
            const int n = ++p.retries[url];
            const auto id = m.event_id;
            spdlog::info("relay {}: rate-limited on publish, retrying: {}", url, m.message);
            delayed.push_back({Clock::now() + std::chrono::seconds(n), [this, url, id] {
                auto pit = publishes.find(id);
                auto cit = conns.find(url);
                if (pit == publishes.end() || cit == conns.end()) return;
                if (cit->second->state == ConnState::open) send(*cit->second, pit->second->message);
            }});
            return;
        }
        p.state.record(url, m.accepted, m.message);
    }

    void handle(Conn& c, EoseMsg& m) {
        const auto& url = c.url.normalized;
        if (auto it = subs.find(m.sub_id); it != subs.end()) {
            it->second->cursors[url].saw_eose(unix_now());
            if (it->second->on_eose) it->second->on_eose(url, m.sub_id);
            return;
        }
        if (auto it = fetches.find(m.sub_id); it != fetches.end()) {
            it->second->state.settle(url, "eose");
            send(c, make_close_msg(m.sub_id));
        }
    }

    void handle(Conn& c, ClosedMsg& m) {
        const auto& url = c.url.normalized;
        c.st.last_error = "CLOSED " + m.sub_id + ": " + m.message;
        spdlog::warn("relay {}: subscription {} closed: {}", url, m.sub_id, m.message);
        const auto prefix = reason_prefix(m.message);
        if (auto it = subs.find(m.sub_id); it != subs.end()) {
            const auto id = m.sub_id;
            if (prefix == "auth-required" && can_auth(c)) {
                run_after_auth(c, [this, &c, id] {
                    if (auto sit = subs.find(id); sit != subs.end()) send_req(c, id, *sit->second);
                });
            } else if (prefix == "rate-limited" || prefix == "error") {
                auto delay = std::max<std::chrono::milliseconds>(c.backoff.next(), std::chrono::seconds(1));
                delayed.push_back({Clock::now() + delay, [this, url, id] {
                    auto sit = subs.find(id);
                    auto cit = conns.find(url);
                    if (sit == subs.end() || cit == conns.end()) return;
                    if (cit->second->state == ConnState::open) send_req(*cit->second, id, *sit->second);
                }});
            }
            return;
        }
        if (auto it = fetches.find(m.sub_id); it != fetches.end()) {
            it->second->state.settle(url, "closed: " + m.message);
        }
    }

    void handle(Conn& c, NoticeMsg& m) {
        ++c.st.notices;
        c.st.last_error = "NOTICE: " + m.message.substr(0, 200);
        spdlog::info("relay {}: NOTICE {}", c.url.normalized, m.message.substr(0, 200));
    }

    void handle(Conn& c, AuthMsg& m) {
        c.challenge = m.challenge.substr(0, 512);
        c.authenticated = false;
        c.st.authenticated = false;
        if (opt.signer) send_auth(c);  // answer right away: later REQs then just work
    }

    bool can_auth(const Conn& c) const {
        return opt.signer && !c.challenge.empty() && c.auth_attempts <= kMaxAuthAttempts;
    }

    void send_auth(Conn& c) {
        if (!opt.signer || c.challenge.empty() || !c.auth_event_id.empty()) return;
        if (c.auth_attempts > kMaxAuthAttempts) return;
        ++c.auth_attempts;
        nostr::UnsignedEvent u;
        u.kind = 22242;
        u.tags = {{"relay", c.url.normalized}, {"challenge", c.challenge}};
        auto ev = nostr::sign_event(std::move(u), *opt.signer);
        if (!ev) {
            spdlog::error("relay {}: cannot sign AUTH: {}", c.url.normalized, ev.error().message);
            return;
        }
        c.auth_event_id = ev->id;
        send(c, make_auth_msg(*ev));
    }

    // Runs fn once authenticated: now if already, else after the AUTH OK.
    void run_after_auth(Conn& c, std::function<void()> fn) {
        if (c.authenticated) {
            // Authenticated and still refused: try a fresh AUTH once (challenge may be new).
            c.authenticated = false;
        }
        c.after_auth.push_back(std::move(fn));
        send_auth(c);
    }

    // ---------- one-shot completion ----------
    void finish_done() {
        for (auto it = fetches.begin(); it != fetches.end();) {
            if (!it->second->state.done()) {
                ++it;
                continue;
            }
            it->second->promise.set_value(it->second->state.take_result());
            it = fetches.erase(it);
        }
        for (auto it = publishes.begin(); it != publishes.end();) {
            if (!it->second->state.done()) {
                ++it;
                continue;
            }
            it->second->promise.set_value(it->second->state.result());
            it = publishes.erase(it);
        }
    }

    void on_tick_inner() {
        const auto now = Clock::now();
        for (auto& [url, c] : conns)
            if (c->state == ConnState::waiting && now >= c->next_attempt) connect(*c);
        for (auto& [id, f] : fetches)
            if (now >= f->deadline) {
                for (auto& [url, c] : conns)
                    if (f->state.is_pending(url) && c->state == ConnState::open) send(*c, make_close_msg(id));
                f->state.settle_all("timeout");
            }
        for (auto& [id, p] : publishes)
            if (now >= p->deadline)
                for (auto& [url, c] : conns)
                    if (p->state.is_pending(url)) p->state.record(url, false, "timeout");
        finish_done();
        std::vector<Delayed> due;
        for (auto it = delayed.begin(); it != delayed.end();) {
            if (now >= it->at) {
                due.push_back(std::move(*it));
                it = delayed.erase(it);
            } else {
                ++it;
            }
        }
        for (auto& d : due) d.fn();
    }

    static void on_tick(lws_sorted_usec_list_t* sul) {
        auto* t = reinterpret_cast<Tick*>(sul);
        t->impl->on_tick_inner();
        lws_sul_schedule(t->impl->ctx, 0, &t->sul, &Impl::on_tick, kTick.count() * LWS_US_PER_MS);
    }

    // ---------- lws callback ----------
    static int lws_cb(lws* wsi, lws_callback_reasons reason, void* /*user*/, void* in, size_t len) {
        auto* impl = static_cast<Impl*>(lws_context_user(lws_get_context(wsi)));
        auto* c = static_cast<Conn*>(lws_get_opaque_user_data(wsi));
        try {
            switch (reason) {
                case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
                    if (impl) impl->drain_commands();
                    return 0;
                case LWS_CALLBACK_CLIENT_ESTABLISHED:
                    if (c) {
                        c->wsi = wsi;
                        impl->on_open(*c);
                    }
                    return 0;
                case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
                    if (c && (c->wsi == wsi || c->wsi == nullptr))
                        impl->on_disconnected(*c, std::string("connection error: ") +
                                                      (in ? std::string(static_cast<const char*>(in), strnlen(static_cast<const char*>(in), 200)) : "unknown"));
                    return 0;
                case LWS_CALLBACK_CLIENT_CLOSED:
                    if (c && c->wsi == wsi) impl->on_disconnected(*c, "connection closed");
                    return 0;
                case LWS_CALLBACK_WSI_DESTROY:
                    if (c && c->wsi == wsi && c->state != ConnState::waiting)
                        impl->on_disconnected(*c, "connection lost");
                    return 0;
                case LWS_CALLBACK_CLIENT_RECEIVE:
                    if (!c) return 0;
                    return impl->on_receive(*c, wsi, in, len);
                case LWS_CALLBACK_CLIENT_WRITEABLE:
                    if (!c) return 0;
                    return impl->on_writable(*c, wsi);
                default:
                    return 0;
            }
        } catch (const std::exception& e) {
            spdlog::error("relay pool: callback failed: {}", e.what());
            return 0;
        }
    }

    int on_receive(Conn& c, lws* wsi, void* in, size_t len) {
        if (!c.rx_overflow) {
            if (c.rx.size() + len > opt.max_message_bytes) {
                c.rx_overflow = true;
                c.rx.clear();
                c.rx.shrink_to_fit();
            } else {
                c.rx.append(static_cast<const char*>(in), len);
            }
        }
        if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0) return 0;
        if (c.rx_overflow) {
            ++c.st.invalid_events;
            c.st.last_error = "message over the size limit dropped";
            spdlog::warn("relay {}: message over {} bytes dropped", c.url.normalized, opt.max_message_bytes);
            c.rx_overflow = false;
            publish_status(c);
            return 0;
        }
        std::string msg;
        msg.swap(c.rx);
        on_message(c, msg);
        return 0;
    }

    int on_writable(Conn& c, lws* wsi) {
        if (c.close_requested) return -1;
        if (c.out.empty()) return 0;
        std::string& msg = c.out.front();
        std::vector<unsigned char> buf(LWS_PRE + msg.size());
        std::memcpy(buf.data() + LWS_PRE, msg.data(), msg.size());
        const int n = lws_write(wsi, buf.data() + LWS_PRE, msg.size(), LWS_WRITE_TEXT);
        if (n < static_cast<int>(msg.size())) return -1;
        c.out.pop_front();
        if (!c.out.empty()) lws_callback_on_writable(wsi);
        return 0;
    }
};

RelayPool::RelayPool(PoolOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
    if (!impl_->start()) throw std::runtime_error("relay pool: cannot create the libwebsockets context");
}

RelayPool::~RelayPool() { impl_->stop(); }

void RelayPool::stop() { impl_->stop(); }

Status RelayPool::add_relay(std::string_view url, RelayMode mode) {
    auto parsed = RelayUrl::parse(url);
    if (!parsed) return parsed.error();
    {
        std::lock_guard lk(impl_->status_mu);
        if (impl_->status.count(parsed->normalized)) return make_error("relay already added: " + parsed->normalized);
        RelayStatus st;
        st.url = parsed->normalized;
        st.mode = mode;
        impl_->status[parsed->normalized] = st;
    }
    impl_->post([impl = impl_.get(), u = std::move(*parsed), mode] {
        auto c = std::make_unique<Impl::Conn>(impl->opt.backoff);
        c->impl = impl;
        c->url = u;
        c->mode = mode;
        c->st.url = u.normalized;
        c->st.mode = mode;
        auto& ref = *c;
        impl->conns.emplace(u.normalized, std::move(c));
        impl->connect(ref);
    });
    return Unit{};
}

Status RelayPool::subscribe(std::string id, std::vector<nostr::Filter> filters, EventCallback on_event,
                            EoseCallback on_eose) {
    if (id.empty() || id.size() > kMaxSubIdBytes) return make_error("subscription id must be 1..64 bytes");
    if (id.rfind("fetch:", 0) == 0) return make_error("subscription ids starting with fetch: are reserved");
    if (filters.empty()) return make_error("a subscription needs at least one filter");
    impl_->post([impl = impl_.get(), id = std::move(id), filters = std::move(filters),
                 on_event = std::move(on_event), on_eose = std::move(on_eose)]() mutable {
        auto s = std::make_unique<Impl::Sub>(impl->opt.dedup_capacity);
        s->filters = std::move(filters);
        s->on_event = std::move(on_event);
        s->on_eose = std::move(on_eose);
        auto& ref = *s;
        impl->subs[id] = std::move(s);
        for (auto& [url, c] : impl->conns)
            if (c->state == Impl::ConnState::open && has_mode(c->mode, RelayMode::read))
                impl->send_req(*c, id, ref);
    });
    return Unit{};
}

void RelayPool::unsubscribe(const std::string& id) {
    impl_->post([impl = impl_.get(), id] {
        if (!impl->subs.erase(id)) return;
        for (auto& [url, c] : impl->conns)
            if (c->state == Impl::ConnState::open && has_mode(c->mode, RelayMode::read))
                impl->send(*c, make_close_msg(id));
    });
}

std::future<std::vector<nostr::Event>> RelayPool::fetch(std::vector<nostr::Filter> filters,
                                                        std::chrono::milliseconds timeout) {
    auto promise = std::make_shared<std::promise<std::vector<nostr::Event>>>();
    auto fut = promise->get_future();
    impl_->post([impl = impl_.get(), filters = std::move(filters), timeout, promise]() mutable {
        std::vector<std::string> targets;
        for (auto& [url, c] : impl->conns)
            if (has_mode(c->mode, RelayMode::read) &&
                (c->state == Impl::ConnState::open || c->state == Impl::ConnState::connecting))
                targets.push_back(url);
        const std::string id = "fetch:" + std::to_string(++impl->next_fetch);
        auto f = std::make_unique<Impl::Fetch>(targets);
        f->filters = filters;
        f->deadline = Clock::now() + timeout;
        f->promise = std::move(*promise);
        const auto msg = make_req_msg(id, filters);
        for (auto& url : targets) impl->send(*impl->conns[url], msg);
        impl->fetches.emplace(id, std::move(f));
        impl->finish_done();
    });
    return fut;
}

std::future<PublishResult> RelayPool::publish(nostr::Event event, std::chrono::milliseconds timeout) {
    auto promise = std::make_shared<std::promise<PublishResult>>();
    auto fut = promise->get_future();
    impl_->post([impl = impl_.get(), event = std::move(event), timeout, promise]() mutable {
        std::vector<std::string> targets, offline;
        for (auto& [url, c] : impl->conns) {
            if (!has_mode(c->mode, RelayMode::write)) continue;
            targets.push_back(url);
            if (c->state != Impl::ConnState::open && c->state != Impl::ConnState::connecting)
                offline.push_back(url);
        }
        if (impl->publishes.count(event.id)) {
            PublishState s(event.id, targets);
            for (auto& u : targets) s.record(u, false, "already being published");
            promise->set_value(s.result());
            return;
        }
        auto p = std::make_unique<Impl::Publish>(event.id, targets);
        p->message = make_event_msg(event);
        p->event = std::move(event);
        p->deadline = Clock::now() + timeout;
        p->promise = std::move(*promise);
        for (auto& u : offline) p->state.record(u, false, "not connected");
        for (auto& u : targets)
            if (p->state.is_pending(u)) impl->send(*impl->conns[u], p->message);
        impl->publishes.emplace(p->event.id, std::move(p));
        impl->finish_done();
    });
    return fut;
}

std::vector<RelayStatus> RelayPool::status() const {
    std::lock_guard lk(impl_->status_mu);
    std::vector<RelayStatus> out;
    for (auto& [url, st] : impl_->status) out.push_back(st);
    return out;
}

bool RelayPool::wait_connected(std::size_t count, std::chrono::milliseconds timeout) const {
    std::unique_lock lk(impl_->status_mu);
    return impl_->status_cv.wait_for(lk, timeout, [&] {
        std::size_t n = 0;
        for (auto& [url, st] : impl_->status) n += st.connected ? 1 : 0;
        return n >= count;
    });
}

}  // namespace tenex::relay
