// RelayPool: the public methods (each posts a command to the service thread) and the service
// thread itself: commands, the verification pipeline, status snapshots, timers.
#include "relay/pool.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "relay/lws_log.hpp"
#include "relay/pool_impl.hpp"

namespace tenex::relay {
namespace {
constexpr auto kTick = std::chrono::milliseconds(50);
}  // namespace

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// ---------- thread plumbing ----------
bool RelayPool::Impl::start() {
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
    verifier = std::make_unique<VerifyQueue>(opt.verify_events ? opt.verify_threads : 0,
                                             [this] { lws_cancel_service(ctx); });
    tick.impl = this;
    thread = std::thread([this] { run(); });
    return true;
}

void RelayPool::Impl::run() {
    lws_sul_schedule(ctx, 0, &tick.sul, &Impl::on_tick, kTick.count() * LWS_US_PER_MS);
    while (!stopping.load()) {
        if (lws_service(ctx, 0) < 0) break;
    }
    verifier.reset();  // joins its workers; what they had not finished is dropped
    commands.close();
    drain_commands();  // what was posted before closing registers its fetch or publish
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

bool RelayPool::Impl::post(std::function<void()> fn) {
    if (!commands.push(std::move(fn))) return false;
    if (ctx) lws_cancel_service(ctx);
    return true;
}

void RelayPool::Impl::drain_commands() {
    // Without waiting: what is queued now (after close, what was queued before it).
    auto batch = commands.pop_all(std::chrono::steady_clock::now());
    if (!batch) return;
    for (auto& fn : *batch) commands.deliver("a command", fn);
}

void RelayPool::Impl::stop() {
    if (!ctx) return;
    if (!stopping.exchange(true)) lws_cancel_service(ctx);
    if (thread.joinable()) thread.join();
    lws_context_destroy(ctx);
    ctx = nullptr;
}

// ---------- status ----------
void RelayPool::Impl::publish_status(Conn& c) {
    c.dirty = false;
    status.update([&](std::map<std::string, RelayStatus>& all) {
        // Only relays still in the pool: remove_relay() drops the entry before the connection.
        if (auto it = all.find(c.url.normalized); it != all.end()) it->second = c.st;
    });
}

void RelayPool::Impl::mark(Conn& c) {
    if (c.dirty) return;
    c.dirty = true;
    dirty.push_back(&c);
}

void RelayPool::Impl::flush_status() {
    if (dirty.empty()) return;
    status.update([&](std::map<std::string, RelayStatus>& all) {
        for (Conn* c : dirty) {
            if (!c->dirty) continue;  // published meanwhile
            c->dirty = false;
            if (auto it = all.find(c->url.normalized); it != all.end()) it->second = c->st;
        }
    });
    dirty.clear();
}

// Completed verifications are delivered, status snapshots taken, then futures settled (after
// the status, so a settled future never sees an older one), then reading paused or resumed.
void RelayPool::Impl::pump() {
    if (verifier) verifier->drain();
    flush_status();
    finish_done();
    flow_control();
}

// ---------- one-shot completion and timers ----------
void RelayPool::Impl::finish_done() {
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

void RelayPool::Impl::on_tick_inner() {
    const auto now = PoolClock::now();
    for (auto& [url, c] : conns) {
        if (c->state == ConnState::waiting && now >= c->next_attempt) connect(*c);
    }
    for (auto& [id, f] : fetches)
        if (now >= f->deadline) {
            for (auto& [url, c] : conns)
                if (f->state.is_pending(url) && c->state == ConnState::open)
                    send(*c, make_close_msg(id));
            f->state.settle_all("timeout");
        }
    for (auto& [id, p] : publishes)
        if (now >= p->deadline)
            for (auto& [url, c] : conns)
                if (p->state.is_pending(url)) p->state.record(url, false, "timeout");
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
    pump();
}

void RelayPool::Impl::on_tick(lws_sorted_usec_list_t* sul) {
    auto* t = reinterpret_cast<Tick*>(sul);
    try {
        t->impl->on_tick_inner();
    } catch (const std::exception& e) {
        spdlog::error("relay pool: timer failed: {}", e.what());
    }
    lws_sul_schedule(t->impl->ctx, 0, &t->sul, &Impl::on_tick, kTick.count() * LWS_US_PER_MS);
}

// ---------- public methods ----------
RelayPool::RelayPool(PoolOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
    if (!impl_->start())
        throw std::runtime_error("relay pool: cannot create the libwebsockets context");
}

RelayPool::~RelayPool() {
    impl_->stop();
}

void RelayPool::stop() {
    impl_->stop();
}

Status RelayPool::add_relay(std::string_view url, RelayMode mode) {
    auto parsed = RelayUrl::parse(url);
    if (!parsed) return parsed.error();
    const bool added = impl_->status.update([&](std::map<std::string, RelayStatus>& all) {
        RelayStatus st;
        st.url = parsed->normalized;
        st.mode = mode;
        return all.emplace(parsed->normalized, std::move(st)).second;
    });
    if (!added) return make_error("relay already added: " + parsed->normalized);
    impl_->post([impl = impl_.get(), u = std::move(*parsed), mode] {
        auto c = std::make_unique<Impl::Conn>(impl->opt.backoff);
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

Status RelayPool::remove_relay(std::string_view url) {
    auto parsed = RelayUrl::parse(url);
    if (!parsed) return parsed.error();
    const bool removed = impl_->status.update(
        [&](std::map<std::string, RelayStatus>& all) { return all.erase(parsed->normalized) > 0; });
    if (!removed) return make_error("relay not in the pool: " + parsed->normalized);
    impl_->post([impl = impl_.get(), u = parsed->normalized] { impl->remove(u); });
    return Unit{};
}

Status RelayPool::subscribe(std::string id, std::vector<nostr::Filter> filters,
                            EventCallback on_event, EoseCallback on_eose,
                            std::size_t dedup_capacity) {
    if (id.empty() || id.size() > kMaxSubIdBytes)
        return make_error("subscription id must be 1..64 bytes");
    if (id.rfind("fetch:", 0) == 0)
        return make_error("subscription ids starting with fetch: are reserved");
    if (filters.empty()) return make_error("a subscription needs at least one filter");
    impl_->post([impl = impl_.get(), id = std::move(id), filters = std::move(filters),
                 on_event = std::move(on_event), on_eose = std::move(on_eose),
                 dedup_capacity]() mutable {
        auto s =
            std::make_unique<Impl::Sub>(dedup_capacity ? dedup_capacity : impl->opt.dedup_capacity);
        s->generation = ++impl->next_generation;
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
    const bool posted =
        impl_->post([impl = impl_.get(), filters = std::move(filters), timeout, promise]() mutable {
            std::vector<std::string> targets;
            for (auto& [url, c] : impl->conns)
                if (has_mode(c->mode, RelayMode::read) &&
                    (c->state == Impl::ConnState::open || c->state == Impl::ConnState::connecting))
                    targets.push_back(url);
            const std::string id = "fetch:" + std::to_string(++impl->next_fetch);
            auto f = std::make_unique<Impl::Fetch>(targets);
            f->filters = filters;
            f->deadline = PoolClock::now() + timeout;
            f->promise = std::move(*promise);
            const auto msg = make_req_msg(id, filters);
            for (auto& url : targets) impl->send(*impl->conns[url], msg);
            impl->fetches.emplace(id, std::move(f));
            impl->finish_done();
        });
    if (!posted) promise->set_value({});  // the pool is stopped: nothing to ask
    return fut;
}

std::future<PublishResult> RelayPool::publish(nostr::Event event,
                                              std::chrono::milliseconds timeout) {
    auto promise = std::make_shared<std::promise<PublishResult>>();
    auto fut = promise->get_future();
    const std::string event_id = event.id;
    const bool posted =
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
            p->deadline = PoolClock::now() + timeout;
            p->promise = std::move(*promise);
            for (auto& u : offline) p->state.record(u, false, "not connected");
            for (auto& u : targets)
                if (p->state.is_pending(u)) impl->send(*impl->conns[u], p->message);
            impl->publishes.emplace(p->event.id, std::move(p));
            impl->finish_done();
        });
    if (!posted) promise->set_value(PublishResult{.event_id = event_id});  // no relay asked
    return fut;
}

std::vector<RelayStatus> RelayPool::status() const {
    return impl_->status.read([](const std::map<std::string, RelayStatus>& all) {
        std::vector<RelayStatus> out;
        for (const auto& [url, st] : all) out.push_back(st);
        return out;
    });
}

bool RelayPool::wait_connected(std::size_t count, std::chrono::milliseconds timeout) const {
    return impl_->status.wait_for(timeout, [&](const std::map<std::string, RelayStatus>& all) {
        std::size_t n = 0;
        for (const auto& [url, st] : all) n += st.connected ? 1 : 0;
        return n >= count;
    });
}

}  // namespace tenex::relay
