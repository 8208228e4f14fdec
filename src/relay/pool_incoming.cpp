// RelayPool: what relays send. EVENT goes through the pipeline parse -> duplicate? -> filter
// match -> verify (VerifyQueue, possibly on a worker) -> deliver in arrival order; EOSE and
// the settling of fetches queue behind the events before them. OK, CLOSED, NOTICE and AUTH
// (NIP-42) are handled at once.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "nostr/verify.hpp"
#include "relay/pool_impl.hpp"

namespace tenex::relay {
namespace {

constexpr int kMaxAuthAttempts = 1;

template <class InFlight>
void release(InFlight& in_flight, const std::string& id) {
    auto it = in_flight.find(id);
    if (it == in_flight.end()) return;
    if (--it->second == 0) in_flight.erase(it);
}

}  // namespace

void RelayPool::Impl::on_message(Conn& c, std::string_view text) {
    c.st.last_message = std::chrono::system_clock::now();
    auto parsed = parse_relay_message(text);
    if (!parsed) {
        ++c.st.invalid_events;
        spdlog::debug("relay {}: bad message: {}", c.url.normalized, parsed.error().message);
    } else {
        std::visit([&](auto& m) { handle(c, m); }, *parsed);
    }
    mark(c);
    pump();
}

void RelayPool::Impl::after_queued(std::function<void()> fn) {
    VerifyQueue::Entry e;
    e.done = [fn = std::move(fn)](VerifyQueue::Entry&) { fn(); };
    verifier->push(std::move(e));
}

// ---------- EVENT ----------
void RelayPool::Impl::handle(Conn& c, EventMsg& m) {
    const auto& url = c.url.normalized;
    auto sit = subs.find(m.sub_id);
    Fetch* f = nullptr;
    if (sit == subs.end()) {
        auto fit = fetches.find(m.sub_id);
        if (fit == fetches.end()) return;  // late events of a closed subscription: ignored
        f = fit->second.get();
        if (!f->state.is_pending(url)) return;
    }
    ++c.st.events_received;
    auto e = nostr::parse_event(m.event_json);
    if (!e) {
        ++c.st.invalid_events;
        spdlog::debug("relay {}: invalid event: {}", url, e.error().message);
        return;
    }
    if (f)
        queue_fetch_event(c, m.sub_id, *f, std::move(*e));
    else
        queue_sub_event(c, m.sub_id, *sit->second, std::move(*e));
}

void RelayPool::Impl::queue_sub_event(Conn& c, const std::string& sub_id, Sub& s, nostr::Event e) {
    if (s.dedup.contains(e.id)) {
        ++c.st.duplicates;
        return;
    }
    if (!nostr::matches_any(s.filters, e)) {
        ++c.st.invalid_events;
        spdlog::debug("relay {}: event {} does not match subscription {}", c.url.normalized, e.id,
                      sub_id);
        return;
    }
    const bool first = s.in_flight[e.id]++ == 0;
    VerifyQueue::Entry entry;
    entry.check = first && opt.verify_events;
    entry.event = std::move(e);
    entry.done = [this, url = c.url.normalized, sub_id, gen = s.generation, first](
                     VerifyQueue::Entry& done) { finish_sub_event(url, sub_id, gen, first, done); };
    verifier->push(std::move(entry));
}

void RelayPool::Impl::finish_sub_event(const std::string& url, const std::string& sub_id,
                                       std::uint64_t generation, bool first,
                                       VerifyQueue::Entry& entry) {
    auto sit = subs.find(sub_id);
    if (sit == subs.end() || sit->second->generation != generation) return;
    Sub& s = *sit->second;
    nostr::Event& e = *entry.event;
    release(s.in_flight, e.id);
    auto cit = conns.find(url);
    if (cit == conns.end()) return;  // the relay was removed meanwhile
    Conn& c = *cit->second;
    if (s.dedup.contains(e.id)) {  // an earlier copy was delivered while this one waited
        ++c.st.duplicates;
        mark(c);
        return;
    }
    // A copy queued behind an unverified one is checked only now that the first failed.
    Status verdict = (!first && opt.verify_events) ? nostr::verify_event(e) : entry.status;
    if (!verdict) {
        ++c.st.invalid_events;
        mark(c);
        spdlog::debug("relay {}: event {} rejected: {}", url, e.id, verdict.error().message);
        return;
    }
    s.dedup.insert(e.id);
    s.cursors[url].saw_event(e.created_at);
    ++c.st.events_delivered;
    publish_status(c);  // before the callback: whoever sees the event sees it counted
    if (s.on_event) s.on_event(DeliveredEvent{c.url.normalized, sub_id, e});
}

void RelayPool::Impl::queue_fetch_event(Conn& c, const std::string& fetch_id, Fetch& f,
                                        nostr::Event e) {
    if (f.state.seen(e.id)) {
        ++c.st.duplicates;
        return;
    }
    if (!nostr::matches_any(f.filters, e)) {
        ++c.st.invalid_events;
        return;
    }
    const bool first = f.in_flight[e.id]++ == 0;
    VerifyQueue::Entry entry;
    entry.check = first && opt.verify_events;
    entry.event = std::move(e);
    entry.done = [this, url = c.url.normalized, fetch_id, first](VerifyQueue::Entry& done) {
        finish_fetch_event(url, fetch_id, first, done);
    };
    verifier->push(std::move(entry));
}

void RelayPool::Impl::finish_fetch_event(const std::string& url, const std::string& fetch_id,
                                         bool first, VerifyQueue::Entry& entry) {
    auto fit = fetches.find(fetch_id);
    if (fit == fetches.end()) return;  // settled and returned meanwhile
    Fetch& f = *fit->second;
    nostr::Event& e = *entry.event;
    release(f.in_flight, e.id);
    auto cit = conns.find(url);
    if (cit == conns.end()) return;
    Conn& c = *cit->second;
    mark(c);
    if (f.state.seen(e.id)) {
        ++c.st.duplicates;
        return;
    }
    Status verdict = (!first && opt.verify_events) ? nostr::verify_event(e) : entry.status;
    if (!verdict) {
        ++c.st.invalid_events;
        spdlog::debug("relay {}: event {} rejected: {}", url, e.id, verdict.error().message);
        return;
    }
    ++c.st.events_delivered;
    f.state.add_event(std::move(e));
}

// ---------- OK ----------
void RelayPool::Impl::handle(Conn& c, OkMsg& m) {
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
                if (p->retries[url] > 0)
                    p->state.record(url, false, "auth-required: AUTH refused: " + m.message);
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
            if (auto pit = publishes.find(id); pit != publishes.end())
                send(c, pit->second->message);
        });
        return;
    }
    if (!m.accepted && prefix == "rate-limited" && p.retries[url] < 2) {
        const int n = ++p.retries[url];
        const auto id = m.event_id;
        spdlog::info("relay {}: rate-limited on publish, retrying: {}", url, m.message);
        delayed.push_back({PoolClock::now() + std::chrono::seconds(n), [this, url, id] {
                               auto pit = publishes.find(id);
                               auto cit = conns.find(url);
                               if (pit == publishes.end() || cit == conns.end()) return;
                               if (cit->second->state == ConnState::open)
                                   send(*cit->second, pit->second->message);
                           }});
        return;
    }
    p.state.record(url, m.accepted, m.message);
}

// ---------- EOSE, CLOSED, NOTICE ----------
void RelayPool::Impl::handle(Conn& c, EoseMsg& m) {
    const auto& url = c.url.normalized;
    if (auto it = subs.find(m.sub_id); it != subs.end()) {
        after_queued([this, url, id = m.sub_id, gen = it->second->generation, at = unix_now()] {
            auto sit = subs.find(id);
            if (sit == subs.end() || sit->second->generation != gen) return;
            sit->second->cursors[url].saw_eose(at);
            if (sit->second->on_eose) sit->second->on_eose(url, id);
        });
        return;
    }
    if (fetches.count(m.sub_id)) {
        send(c, make_close_msg(m.sub_id));
        after_queued([this, url, id = m.sub_id] {
            if (auto fit = fetches.find(id); fit != fetches.end())
                fit->second->state.settle(url, "eose");
        });
    }
}

void RelayPool::Impl::handle(Conn& c, ClosedMsg& m) {
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
            auto delay =
                std::max<std::chrono::milliseconds>(c.backoff.next(), std::chrono::seconds(1));
            delayed.push_back({PoolClock::now() + delay, [this, url, id] {
                                   auto sit = subs.find(id);
                                   auto cit = conns.find(url);
                                   if (sit == subs.end() || cit == conns.end()) return;
                                   if (cit->second->state == ConnState::open)
                                       send_req(*cit->second, id, *sit->second);
                               }});
        }
        return;
    }
    if (fetches.count(m.sub_id)) {
        after_queued([this, url, id = m.sub_id, why = "closed: " + m.message] {
            if (auto fit = fetches.find(id); fit != fetches.end())
                fit->second->state.settle(url, why);
        });
    }
}

void RelayPool::Impl::handle(Conn& c, NoticeMsg& m) {
    ++c.st.notices;
    c.st.last_error = "NOTICE: " + m.message.substr(0, 200);
    spdlog::info("relay {}: NOTICE {}", c.url.normalized, m.message.substr(0, 200));
}

// ---------- NIP-42 ----------
void RelayPool::Impl::handle(Conn& c, AuthMsg& m) {
    c.challenge = m.challenge.substr(0, 512);
    c.authenticated = false;
    c.st.authenticated = false;
    if (opt.signer) send_auth(c);  // answer right away: later REQs then just work
}

bool RelayPool::Impl::can_auth(const Conn& c) const {
    return opt.signer && !c.challenge.empty() && c.auth_attempts <= kMaxAuthAttempts;
}

void RelayPool::Impl::send_auth(Conn& c) {
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
void RelayPool::Impl::run_after_auth(Conn& c, std::function<void()> fn) {
    if (c.authenticated) {
        // Authenticated and still refused: try a fresh AUTH once (challenge may be new).
        c.authenticated = false;
    }
    c.after_auth.push_back(std::move(fn));
    send_auth(c);
}

}  // namespace tenex::relay
