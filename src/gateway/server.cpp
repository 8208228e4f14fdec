#include "gateway/server.hpp"

#include <arpa/inet.h>
#include <libwebsockets.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "common/inbox.hpp"
#include "common/sha256.hpp"
#include "common/thread_annotations.hpp"
#include "gateway/bindings.hpp"
#include "nostr/hex.hpp"
#include "nostr/verify.hpp"
#include "relay/lws_log.hpp"
#include "relay/message.hpp"
#include "relay/pool.hpp"
#include "relay/ws_stream.hpp"

namespace tenex::gateway {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kTick = std::chrono::milliseconds(250);

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string new_secret() {
    unsigned char b[32];
    if (RAND_bytes(b, sizeof b) != 1)
        throw std::runtime_error("gateway: no randomness for a secret");
    return nostr::to_hex(std::span<const std::uint8_t>(b, sizeof b));
}

// The reason class of a refused write (GatewayStats::writes_refused).
std::string reason_class(std::string_view reason) {
    auto starts = [&](std::string_view p) { return reason.rfind(p, 0) == 0; };
    if (starts("invalid: event too large")) return "too_large";
    if (starts("invalid: created_at")) return "future";
    if (starts("invalid:")) return "invalid";
    if (starts("restricted: a project container")) return "project_event";
    if (starts("restricted: author belongs")) return "foreign_key";
    if (starts("restricted: this key")) return "reserved_key";
    if (starts("rate-limited:")) return "rate_limited";
    return "out_of_scope";
}

// A container's subscription. Its live part comes from the gateway's one live upstream
// subscription (live_union of all of them); its stored part from a one-shot upstream query
// (at most kStoredInFlight at a time), skipped when every filter has `limit: 0`.
struct Sub {
    std::string upstream{};  // the stored query's upstream subscription while it runs
    std::vector<nostr::Filter> filters{};
    std::vector<std::uint64_t> stored{};  // stored events delivered per filter (for limit)
    std::set<std::string> eose_wait{};    // relays whose EOSE is still due
    bool eose_sent{false};
    bool queued{false};   // waiting for a stored-query slot
    bool resumed{false};  // re-created from the project's previous connection, not asked for here
    std::set<std::string> stored_ids{};        // delivered by the stored query (until EOSE)
    std::vector<nostr::Event> live_backlog{};  // live events that came before EOSE
    Clock::time_point started{};               // of the stored query
};

constexpr std::size_t kStoredInFlight = 4;
constexpr std::size_t kLiveBacklog = 256;
constexpr std::size_t kLiveSeen = 4096;
constexpr const char* kLiveSub = "gw-live";  // gw-live-0, gw-live-1, ...
constexpr std::size_t kLiveChunk = 10;

// The keys of the live routing index (Impl::live_index). An event can match a filter only if
// it has the filter's key, so a live event is tried only against the subscriptions filed under
// one of its own keys instead of against every subscription of every connection:
//   tag conditions: "#<letter>:<value>" for each value of the filter's first tag letter;
//   else authors: "@<pubkey>" each; else ids: "=<id>" each; else kinds: "k<kind>" each;
//   else none: the filter is tried against every live event.
std::vector<std::string> filter_keys(const nostr::Filter& f) {
    std::vector<std::string> keys;
    if (!f.tags.empty()) {
        const auto& [letter, values] = *f.tags.begin();
        for (const auto& v : values) keys.push_back(std::string("#") + letter + ":" + v);
    } else if (f.authors) {
        for (const auto& a : *f.authors) keys.push_back("@" + a);
    } else if (f.ids) {
        for (const auto& id : *f.ids) keys.push_back("=" + id);
    } else if (f.kinds) {
        for (auto k : *f.kinds) keys.push_back("k" + std::to_string(k));
    }
    return keys;
}

std::vector<std::string> event_keys(const nostr::Event& e) {
    std::vector<std::string> keys{"@" + e.pubkey, "=" + e.id, "k" + std::to_string(e.kind)};
    for (const auto& t : e.tags)
        if (t.size() >= 2 && t[0].size() == 1) keys.push_back("#" + t[0] + ":" + t[1]);
    return keys;
}

bool all_live_only(const std::vector<nostr::Filter>& filters) {
    return std::all_of(filters.begin(), filters.end(),
                       [](const nostr::Filter& f) { return f.limit && *f.limit == 0; });
}

std::string filters_json(const std::vector<nostr::Filter>& filters) {
    std::string out = "[";
    for (const auto& f : filters) out += (out.size() > 1 ? "," : "") + f.serialize();
    return out + "]";
}

struct Session {
    Session(std::uint64_t id, lws* wsi) : id(id), ws(wsi) {}
    std::uint64_t id;
    relay::WsStream ws;
    bool authed{false};
    std::string project{};
    std::string secret_hash{};
    bool closing{false};  // close once everything queued is written
    std::map<std::string, Sub> subs{};
};

// What other threads hand the service thread: pool deliveries and publish outcomes.
struct Inbound {
    enum class Type { event, eose, ok, hold, live } type{Type::event};
    std::uint64_t session{0};
    std::string sub_id{};    // the container's
    std::string upstream{};  // the upstream subscription it came from
    std::string relay{};
    nostr::Event event{};
    std::string ok_msg{};
    std::string project{};  // hold: the project's address
};

// Shared with the pool's callbacks, which may run after the gateway stopped: deliveries wait in
// an Inbox that the service thread drains without waiting (drain_inbox), and each push wakes
// lws_service while the context lives (ctx is read under mu, as stop() clears it).
struct Handoff {
    Inbox<Inbound> items{"gateway"};
    std::atomic<bool> revalidate{false};
    Mutex mu;
    lws_context* ctx TENEX_GUARDED_BY(mu){nullptr};
    void push(Inbound in) {
        if (items.push(std::move(in))) wake();
    }
    void wake_revalidate() {
        revalidate = true;
        wake();
    }
    void wake() {
        MutexLock lk(mu);
        if (ctx) lws_cancel_service(ctx);
    }
};

struct Bucket {
    double tokens{0};
    Clock::time_point last{};
};

struct PendingPublish {
    std::uint64_t session{0};
    std::string event_id{};
    std::future<relay::PublishResult> result{};
};

std::string ok_from(const std::string& event_id, const relay::PublishResult& r, bool& accepted) {
    const std::size_t n = r.relays.size(), k = r.accepted_count();
    accepted = k > 0;
    if (n == 0) return relay::make_ok_msg(event_id, false, "error: no relay to publish to");
    if (k == n) return relay::make_ok_msg(event_id, true, "");
    if (k > 0)
        return relay::make_ok_msg(
            event_id, true,
            "accepted by " + std::to_string(k) + "/" + std::to_string(n) + " relays");
    for (const auto& ok : r.relays)
        if (!ok.message.empty()) return relay::make_ok_msg(event_id, false, ok.message);
    return relay::make_ok_msg(event_id, false, "error: refused by every relay");
}

}  // namespace

struct Gateway::Impl {
    struct Tick {
        lws_sorted_usec_list_t sul{};
        Impl* impl{nullptr};
    };

    GatewayOptions opt;
    relay::RelayPool* pool{nullptr};
    lws_context* ctx{nullptr};
    lws_protocols protocols[2]{};
    lws_retry_bo_t retry{};  // the connections' ping / hang-up timers (opt.ping_after)
    std::thread thread;
    std::atomic<bool> stopping{false};
    std::atomic<std::uint16_t> bound_port{0};
    Tick tick{};
    std::shared_ptr<Handoff> inbox{std::make_shared<Handoff>()};

    // Shared state (mu): the scope index, secrets, stats.
    mutable Mutex mu;
    ScopeIndex index TENEX_GUARDED_BY(mu);
    std::map<std::string, std::string> secret_to_project
        TENEX_GUARDED_BY(mu);  // sha256(secret) hex -> address
    std::map<std::string, std::string> project_secret
        TENEX_GUARDED_BY(mu);  // address -> sha256(secret) hex
    // The open subscriptions of each project's connection (id -> filters JSON), kept when the
    // connection drops and re-created when the same container connects again: a client that
    // does not send its REQs again after a reconnect (the TENEX backend's NDK does not) keeps
    // receiving under its old subscription ids. Cleared with a new secret (a new container).
    BindingStore::Subscriptions resumable TENEX_GUARDED_BY(mu);
    std::map<std::string, WriteRate> rates
        TENEX_GUARDED_BY(mu);  // projects with a rate of their own
    // Projects one of whose agent keys has published through the gateway since its current
    // secret: the runtime has booted the project (TENEX publishes each agent's profile then).
    std::set<std::string> spoke TENEX_GUARDED_BY(mu);
    // Per project: events it has published through the gateway that count as work (every
    // kind but the runtime's periodic status, kActivityIgnoredKind). See Gateway::activity.
    std::map<std::string, std::uint64_t> activity TENEX_GUARDED_BY(mu);
    GatewayStats st TENEX_GUARDED_BY(mu){};
    struct Offer {
        std::filesystem::path file;
        std::chrono::steady_clock::time_point until;
    };
    std::map<std::string, Offer> offers TENEX_GUARDED_BY(mu);  // URL path -> one download

    Mutex store_mu;  // the store is used by the service thread and by open/close_project
    std::unique_ptr<BindingStore> store TENEX_PT_GUARDED_BY(store_mu);
    void persist_secret(const std::string& address, const std::string& hash) {
        MutexLock lk(store_mu);
        if (auto ok = store->set_secret_hash(address, hash); !ok)
            spdlog::error("gateway: {}", ok.error().message);
        if (auto ok = store->clear_subscriptions(address); !ok)
            spdlog::error("gateway: {}", ok.error().message);
    }
    // Records (filters non-empty) or forgets a subscription of the project's connection; only
    // for a connection with the project's current secret (not a replaced container's).
    void remember_sub(const Session& session, const std::string& sub_id, std::string filters) {
        const std::string& address = session.project;
        {
            MutexLock lk(mu);
            if (auto cur = project_secret.find(address);
                cur == project_secret.end() || cur->second != session.secret_hash)
                return;
            if (filters.empty()) {
                if (auto it = resumable.find(address); it != resumable.end()) {
                    it->second.erase(sub_id);
                    if (it->second.empty()) resumable.erase(it);
                }
            } else {
                resumable[address][sub_id] = filters;
            }
        }
        MutexLock lk(store_mu);
        if (auto ok = store->set_subscription(address, sub_id, filters); !ok)
            spdlog::error("gateway: {}", ok.error().message);
    }

    // Service thread only.
    std::map<std::uint64_t, Session*> sessions;
    std::uint64_t next_session{0};
    std::uint64_t next_upstream{0};
    std::map<std::string, Bucket> buckets;
    std::vector<std::string>
        live_keys;  // each live upstream subscription's filters as sent (serialized)
    std::unordered_set<std::string>
        live_seen;  // live event ids already routed (copies from other relays)
    std::deque<std::string> live_seen_order;
    // Live routing: every open subscription (session, id) filed under the keys of its filters
    // (filter_keys); one with a filter that has no key in live_unkeyed. Rebuilt with the live
    // union (refresh_live), which runs after every REQ, CLOSE and disconnect.
    using LiveRef = std::pair<std::uint64_t, std::string>;
    std::unordered_map<std::string, std::vector<LiveRef>> live_index;
    std::vector<LiveRef> live_unkeyed;
    std::deque<std::pair<std::uint64_t, std::string>> stored_queue;  // (session, sub id)
    std::size_t stored_in_flight{0};
    struct Held {
        nostr::Event event;
        Clock::time_point at;
    };
    std::map<std::string, std::deque<Held>> held;  // by project address
    // The ids of the last events delivered to each project (a hold that comes after the live
    // delivery of the same event is dropped).
    static constexpr std::size_t kRecentIds = 16;
    std::map<std::string, std::deque<std::string>> recent;

    // Publish waiter: the publishes it reports back (OK) once the pool settles them, in order.
    Inbox<PendingPublish> pubs{"gateway publishes"};
    std::thread waiter;

    // ---------- output ----------
    void enqueue(Session& s, std::string msg) {
        if (!s.ws.enqueue(std::move(msg), opt.max_pending_bytes))
            spdlog::warn("gateway: project {} reads too slowly, closing its connection", s.project);
    }

    void refuse_and_close(Session& s, std::string_view why) {
        enqueue(s, relay::make_notice_msg(why));
        s.closing = true;
    }

    // ---------- connections ----------
    void on_established(Session& s) {
        char uri[256] = {0};
        int n = lws_hdr_copy(s.ws.wsi(), uri, sizeof uri, WSI_TOKEN_GET_URI);
        std::string_view path =
            n > 0 ? std::string_view(uri, static_cast<std::size_t>(n)) : std::string_view();
        if (!path.empty() && path.front() == '/') path.remove_prefix(1);
        if (!path.empty() && path.back() == '/') path.remove_suffix(1);
        std::string hash = sha256_hex(path);
        {
            MutexLock lk(mu);
            auto it = path.empty() ? secret_to_project.end() : secret_to_project.find(hash);
            if (it != secret_to_project.end()) {
                s.authed = true;
                s.project = it->second;
                s.secret_hash = hash;
                ++st.connections;
                spdlog::info("gateway: project {} connected (connection {})", s.project, s.id);
            } else {
                ++st.refused_connections;
            }
        }
        if (!s.authed) return refuse_and_close(s, "restricted: unknown gateway secret");
        resume(s);
    }

    // The same container connects again (its daemon restarted, or the connection dropped): the
    // subscriptions its previous connection had are re-created under their ids, unless another
    // connection of the project is open (then they are that one's). Stored events come again
    // (clients drop what they saw per subscription), then EOSE and the held events.
    void resume(Session& s) {
        for (const auto& [id, other] : sessions)
            if (other != &s && other->authed && other->project == s.project) return;
        std::map<std::string, std::string> subs;
        {
            MutexLock lk(mu);
            if (auto it = resumable.find(s.project); it != resumable.end()) subs = it->second;
        }
        std::size_t n = 0;
        for (const auto& [sub_id, text] : subs) {
            relay::ReqMsg req{sub_id, {}};
            auto arr = nlohmann::json::parse(text, nullptr, false);
            if (arr.is_array())
                for (const auto& f : arr)
                    if (auto parsed = nostr::Filter::parse(f.dump()))
                        req.filters.push_back(std::move(*parsed));
            if (req.filters.empty() || s.subs.size() >= opt.max_subscriptions) {
                remember_sub(s, sub_id, "");
                continue;
            }
            on_req(s, std::move(req));
            if (auto it = s.subs.find(sub_id); it != s.subs.end()) {
                it->second.resumed = true;
                ++n;
            }
        }
        if (n > 0)
            spdlog::info("gateway: project {} reconnected: {} subscription(s) resumed", s.project,
                         n);
    }

    void on_closed(Session& s) {
        drop_all(s);
        if (s.authed) {
            spdlog::info("gateway: project {} disconnected (connection {})", s.project, s.id);
            MutexLock lk(mu);
            --st.connections;
        }
    }

    // ---------- messages ----------
    void on_message(Session& s, std::string_view text) {
        auto parsed = relay::parse_client_message(text, opt.max_filters);
        if (!parsed) {
            auto j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
            if (!j.is_discarded() && j.is_array() && j.size() >= 2 && j[0] == "REQ" &&
                j[1].is_string() &&
                j[1].get_ref<const std::string&>().size() <= relay::kMaxSubIdBytes)
                enqueue(s, relay::make_closed_msg(j[1].get<std::string>(), parsed.error().message));
            else if (!j.is_discarded() && j.is_array() && j.size() >= 2 && j[0] == "EVENT" &&
                     j[1].is_object() && j[1].contains("id") && j[1]["id"].is_string()) {
                count_refused("invalid");
                enqueue(s, relay::make_ok_msg(j[1]["id"].get<std::string>(), false,
                                              "invalid: " + parsed.error().message));
            } else
                enqueue(s, relay::make_notice_msg("error: " + parsed.error().message));
            return;
        }
        std::visit(
            [&](auto& m) {
                using T = std::decay_t<decltype(m)>;
                if constexpr (std::is_same_v<T, relay::ClientEventMsg>) {
                    on_write(s, std::move(m.event));
                } else if constexpr (std::is_same_v<T, relay::ReqMsg>) {
                    on_req(s, std::move(m));
                } else if constexpr (std::is_same_v<T, relay::CloseMsg>) {
                    if (auto it = s.subs.find(m.sub_id); it != s.subs.end()) {
                        drop(s, it);
                        remember_sub(s, m.sub_id, "");
                        refresh_live();
                    }
                } else {
                    enqueue(s,
                            relay::make_notice_msg("restricted: this gateway does not use AUTH"));
                }
            },
            *parsed);
    }

    void count_refused(const std::string& cls) {
        MutexLock lk(mu);
        ++st.writes_refused[cls];
    }

    void on_req(Session& s, relay::ReqMsg&& req) {
        auto existing = s.subs.find(req.sub_id);
        if (existing == s.subs.end() && s.subs.size() >= opt.max_subscriptions) {
            // A resumed subscription the client did not ask for again makes room first.
            auto resumed = std::find_if(s.subs.begin(), s.subs.end(),
                                        [](const auto& kv) { return kv.second.resumed; });
            if (resumed == s.subs.end()) {
                enqueue(s, relay::make_closed_msg(req.sub_id, "error: too many subscriptions"));
                return;
            }
            remember_sub(s, resumed->first, "");
            drop(s, resumed);
        }
        for (const auto& f : req.filters)
            if (f.serialize().size() > opt.max_filter_bytes) {
                enqueue(s, relay::make_closed_msg(req.sub_id, "invalid: filter too large"));
                return;
            }
        if (existing != s.subs.end()) drop(s, existing);
        Sub sub;
        sub.filters = std::move(req.filters);
        sub.stored.assign(sub.filters.size(), 0);
        remember_sub(s, req.sub_id, filters_json(sub.filters));
        auto& ref = s.subs[req.sub_id] = std::move(sub);
        // The live union first: the stored query then goes upstream after it on the same
        // connections, so nothing falls between the two.
        refresh_live();
        if (all_live_only(ref.filters)) return end_stored(s, req.sub_id, ref);
        ref.queued = true;
        stored_queue.emplace_back(s.id, req.sub_id);
        pump_stored();
    }

    // Starts queued stored queries while slots are free.
    void pump_stored() {
        while (stored_in_flight < kStoredInFlight && !stored_queue.empty()) {
            auto [session, sub_id] = stored_queue.front();
            stored_queue.pop_front();
            auto sit = sessions.find(session);
            if (sit == sessions.end()) continue;
            auto it = sit->second->subs.find(sub_id);
            if (it == sit->second->subs.end() || !it->second.queued) continue;
            start_stored(*sit->second, sub_id, it->second);
        }
    }

    void start_stored(Session& s, const std::string& sub_id, Sub& sub) {
        sub.queued = false;
        sub.started = Clock::now();
        std::vector<nostr::Filter> upstream;
        for (const auto& f : sub.filters)
            if (!f.limit || *f.limit > 0) upstream.push_back(upstream_filter(f, opt.max_limit));
        for (const auto& r : pool->status())
            if (r.connected &&
                (static_cast<unsigned>(r.mode) & static_cast<unsigned>(relay::RelayMode::read)))
                sub.eose_wait.insert(r.url);
        if (sub.eose_wait.empty()) return end_stored(s, sub_id, sub);  // no relay to ask
        sub.upstream = "gw-" + std::to_string(s.id) + "-" + std::to_string(++next_upstream);
        auto box = inbox;
        const std::uint64_t sid = s.id;
        const std::string up = sub.upstream;
        auto on_event = [box, sid, sub_id, up](const relay::DeliveredEvent& d) {
            box->push(Inbound{Inbound::Type::event, sid, sub_id, up, d.relay, d.event, {}, {}});
        };
        auto on_eose = [box, sid, sub_id, up](const std::string& relay_url, const std::string&) {
            box->push(Inbound{Inbound::Type::eose, sid, sub_id, up, relay_url, {}, {}, {}});
        };
        if (auto ok = pool->subscribe(up, std::move(upstream), std::move(on_event),
                                      std::move(on_eose), opt.upstream_dedup_ids);
            !ok) {
            sub.upstream.clear();
            spdlog::warn("gateway: project {}: stored events of {} not asked for: {}", s.project,
                         sub_id, ok.error().message);
            return end_stored(s, sub_id, sub);
        }
        ++stored_in_flight;
    }

    // The stored query of a subscription is over (EOSE from every relay, or the timeout).
    void finish_stored(Session& s, const std::string& sub_id, Sub& sub) {
        if (!sub.upstream.empty()) {
            pool->unsubscribe(sub.upstream);
            sub.upstream.clear();
            --stored_in_flight;
        }
        end_stored(s, sub_id, sub);
        pump_stored();
    }

    // Removes a subscription (its stored query, if one runs); the caller refreshes the live union.
    void drop(Session& s, std::map<std::string, Sub>::iterator it) {
        if (!it->second.upstream.empty()) {
            pool->unsubscribe(it->second.upstream);
            --stored_in_flight;
        }
        s.subs.erase(it);
        pump_stored();
    }

    void drop_all(Session& s) {
        while (!s.subs.empty()) drop(s, s.subs.begin());
        refresh_live();
    }

    // Sends the live union of every open subscription upstream where it changed, in
    // subscriptions of at most kLiveChunk filters (relays cap filters per REQ too).
    void refresh_live() {
        rebuild_live_index();
        std::vector<nostr::Filter> all;
        for (const auto& [id, s] : sessions)
            if (s->authed && !s->ws.killed() && !s->closing)
                for (const auto& [sid, sub] : s->subs)
                    all.insert(all.end(), sub.filters.begin(), sub.filters.end());
        auto merged = live_union(std::move(all));
        std::size_t chunks = 0;
        for (std::size_t at = 0; at < merged.size(); at += kLiveChunk, ++chunks) {
            std::vector<nostr::Filter> part(merged.begin() + static_cast<std::ptrdiff_t>(at),
                                            merged.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                                 merged.size(), at + kLiveChunk)));
            std::string key = filters_json(part);
            if (chunks < live_keys.size() && live_keys[chunks] == key) continue;
            if (chunks >= live_keys.size()) live_keys.emplace_back();
            live_keys[chunks] = std::move(key);
            auto box = inbox;
            auto on_event = [box](const relay::DeliveredEvent& d) {
                box->push(Inbound{Inbound::Type::live, 0, {}, {}, d.relay, d.event, {}, {}});
            };
            if (auto ok = pool->subscribe(live_sub_id(chunks), std::move(part), std::move(on_event),
                                          {}, opt.upstream_dedup_ids);
                !ok)
                spdlog::error("gateway: live subscription: {}", ok.error().message);
        }
        while (live_keys.size() > chunks) {
            pool->unsubscribe(live_sub_id(live_keys.size() - 1));
            live_keys.pop_back();
        }
    }
    // Files every subscription under its keys (see live_index).
    void rebuild_live_index() {
        live_index.clear();
        live_unkeyed.clear();
        for (const auto& [id, s] : sessions)
            for (const auto& [sub_id, sub] : s->subs) {
                std::vector<std::string> keys;
                bool unkeyed = false;
                for (const auto& f : sub.filters) {
                    auto k = filter_keys(f);
                    if (k.empty()) unkeyed = true;
                    keys.insert(keys.end(), std::make_move_iterator(k.begin()),
                                std::make_move_iterator(k.end()));
                }
                if (unkeyed) {
                    live_unkeyed.emplace_back(id, sub_id);
                    continue;
                }
                std::sort(keys.begin(), keys.end());
                keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
                for (auto& k : keys) live_index[std::move(k)].emplace_back(id, sub_id);
            }
    }
    static std::string live_sub_id(std::size_t i) {
        return std::string(kLiveSub) + "-" + std::to_string(i);
    }

    // A live event: to every open subscription it matches, once.
    void on_live(const nostr::Event& e) {
        if (!live_seen.insert(e.id).second) return;
        live_seen_order.push_back(e.id);
        if (live_seen_order.size() > kLiveSeen) {
            live_seen.erase(live_seen_order.front());
            live_seen_order.pop_front();
        }
        // The subscriptions filed under the event's keys (each once, in session and id order),
        // then each one's own filters decide.
        std::vector<const LiveRef*> candidates;
        for (const auto& key : event_keys(e))
            if (auto it = live_index.find(key); it != live_index.end())
                for (const auto& ref : it->second) candidates.push_back(&ref);
        for (const auto& ref : live_unkeyed) candidates.push_back(&ref);
        std::sort(candidates.begin(), candidates.end(),
                  [](const LiveRef* a, const LiveRef* b) { return *a < *b; });
        candidates.erase(std::unique(candidates.begin(), candidates.end(),
                                     [](const LiveRef* a, const LiveRef* b) { return *a == *b; }),
                         candidates.end());
        for (const LiveRef* ref : candidates) {
            auto sit = sessions.find(ref->first);
            if (sit == sessions.end()) continue;
            Session& s = *sit->second;
            if (!s.authed || s.closing || s.ws.killed()) continue;
            auto it = s.subs.find(ref->second);
            if (it == s.subs.end()) continue;
            Sub& sub = it->second;
            if (!nostr::matches_any(sub.filters, e)) continue;
            if (sub.eose_sent)
                deliver(s, ref->second, sub, e);
            else if (!sub.stored_ids.count(e.id) && sub.live_backlog.size() < kLiveBacklog)
                sub.live_backlog.push_back(e);
        }
    }

    // EOSE, then the held events this subscription matches (hold_for_project).
    void end_stored(Session& s, const std::string& sub_id, Sub& sub) {
        sub.eose_sent = true;
        sub.queued = false;
        enqueue(s, relay::make_eose_msg(sub_id));
        // Live events that came during the stored part, unless the stored part had them.
        std::vector<nostr::Event> backlog;
        backlog.swap(sub.live_backlog);
        for (const auto& e : backlog)
            if (!sub.stored_ids.count(e.id)) deliver(s, sub_id, sub, e);
        sub.stored_ids.clear();
        if (!ready(s.project)) return;  // flush_held hands them over once it is
        for (const auto& e : take_held(s.project, [&](const Held& h) {
                 return nostr::matches_any(sub.filters, h.event);
             }))
            replay(s, sub_id, sub, e);
    }

    // Removes and returns the project's held events `pick` selects.
    template <class Pick>
    std::vector<nostr::Event> take_held(const std::string& project, Pick pick) {
        std::vector<nostr::Event> due;
        auto it = held.find(project);
        if (it == held.end()) return due;
        std::erase_if(it->second, [&](Held& h) {
            if (!pick(h)) return false;
            due.push_back(std::move(h.event));
            return true;
        });
        if (it->second.empty()) held.erase(it);
        return due;
    }

    void replay(Session& s, const std::string& sub_id, Sub& sub, const nostr::Event& e) {
        if (!deliver(s, sub_id, sub, e)) return;
        spdlog::info("gateway: project {} received the held event {} (kind {})", s.project, e.id,
                     e.kind);
        MutexLock lk(mu);
        ++st.events_replayed;
    }

    // Every routed event is held, even when a live subscription of the project matches it: it
    // may have reached the relay before that subscription existed (a runtime that resubscribed
    // or was resumed a moment ago). Delivered live, it leaves the hold (deliver); otherwise
    // flush_held hands it over after kHoldGrace.
    void on_hold(const std::string& project, nostr::Event&& e) {
        if (auto r = recent.find(project);
            r != recent.end() &&
            std::find(r->second.begin(), r->second.end(), e.id) != r->second.end())
            return;  // already delivered
        auto& q = held[project];
        if (std::any_of(q.begin(), q.end(), [&](const Held& h) { return h.event.id == e.id; }))
            return;
        q.push_back(Held{std::move(e), Clock::now()});
        while (q.size() > opt.held_per_project) q.pop_front();
    }

    // A project with agent keys is ready for its held events once one of them has spoken (a
    // message handed to a TENEX runtime before it booted the project would be dropped).
    bool ready(const std::string& project) {
        MutexLock lk(mu);
        const auto* keys = index.find(project);
        return !keys || keys->agents.empty() || spoke.count(project) > 0;
    }

    static constexpr auto kHoldGrace = std::chrono::seconds(2);  // it may still come live
    static constexpr auto kHoldMax = std::chrono::seconds(20);   // ready or not
    void flush_held(Clock::time_point now) {
        std::vector<std::string> projects;
        for (const auto& [project, q] : held)
            if (!q.empty() && now - q.front().at >= kHoldGrace) projects.push_back(project);
        for (const auto& project : projects) {
            const bool is_ready = ready(project);
            for (auto& [id, s] : sessions) {
                if (!s->authed || s->closing || s->project != project) continue;
                for (auto& [sub_id, sub] : s->subs) {
                    if (!sub.eose_sent) continue;
                    const auto& filters =
                        sub.filters;  // clang 14 cannot capture a structured binding
                    for (const auto& e : take_held(project, [&](const Held& h) {
                             return (is_ready || now - h.at >= kHoldMax) &&
                                    nostr::matches_any(filters, h.event);
                         }))
                        replay(*s, sub_id, sub, e);
                }
                break;  // one connection of the project gets them
            }
        }
    }

    void on_write(Session& s, nlohmann::json&& ev) {
        std::string id;
        if (auto it = ev.find("id"); it != ev.end() && it->is_string()) id = it->get<std::string>();
        auto refuse = [&](std::string why) {
            count_refused(reason_class(why));
            enqueue(s, relay::make_ok_msg(id, false, why));
        };
        nostr::ParseLimits limits;
        auto e = nostr::parse_event(ev, limits);
        if (!e) return refuse("invalid: " + e.error().message);
        const std::size_t bytes = nostr::to_json(*e).size();
        if (bytes > opt.write.max_event_bytes)
            return refuse("invalid: event too large (" + std::to_string(bytes) + " > " +
                          std::to_string(opt.write.max_event_bytes) + " bytes)");
        if (auto v = nostr::verify_event(*e); !v) return refuse("invalid: " + v.error().message);
        ScopeIndex::WriteVerdict verdict;
        WriteRate rate{opt.write_rate_per_s, opt.write_burst};
        {
            MutexLock lk(mu);
            verdict = index.may_write(s.project, *e, bytes, unix_now(), opt.write);
            if (auto it = rates.find(s.project); it != rates.end()) rate = it->second;
        }
        if (!verdict.allowed) return refuse(verdict.reason);
        {
            MutexLock lk(mu);
            if (const auto* keys = index.find(s.project); keys && keys->agents.count(e->pubkey))
                spoke.insert(s.project);
        }
        // Per-project rate.
        auto& b = buckets[s.project];
        const auto now = Clock::now();
        if (b.last == Clock::time_point{})
            b.tokens = rate.burst;
        else
            b.tokens = std::min(
                rate.burst,
                b.tokens + rate.per_second * std::chrono::duration<double>(now - b.last).count());
        b.last = now;
        if (b.tokens < 1) return refuse("rate-limited: too many events from this project");
        b.tokens -= 1;
        if (verdict.needs_binding) {
            // Durable first: a binding that is not recorded could be claimed by another project
            // after a restart.
            Status recorded = Unit{};
            {
                MutexLock slk(store_mu);
                recorded = store->bind(e->pubkey, s.project, unix_now());
            }
            if (auto& ok = recorded; !ok) {
                spdlog::error("gateway: {}", ok.error().message);
                count_refused("out_of_scope");
                return enqueue(
                    s, relay::make_ok_msg(id, false, "error: cannot record the key binding"));
            }
            bool bound;
            {
                MutexLock lk(mu);
                bound = index.bind(e->pubkey, s.project);
            }
            // Only when the reserved keys changed since may_write (bindings are made here only).
            if (!bound)
                return refuse("restricted: this key cannot write through a project gateway");
            spdlog::info("gateway: key {} bound to project {}", e->pubkey, s.project);
        }
        if (e->kind != kActivityIgnoredKind) {
            MutexLock lk(mu);
            ++activity[s.project];
        }
        auto fut = pool->publish(*e, opt.publish_timeout);
        pubs.push(PendingPublish{s.id, e->id, std::move(fut)});
    }

    // ---------- deliveries ----------
    void drain_inbox() {
        if (inbox->revalidate.exchange(false)) revalidate_sessions();
        auto items = inbox->items.pop_all(Clock::now());
        if (!items) return;
        for (auto& in : *items) inbox->items.deliver("a delivery", [&] { take(in); });
    }

    // One delivery from another thread, on the service thread.
    void take(Inbound& in) {
        if (in.type == Inbound::Type::hold) {
            on_hold(in.project, std::move(in.event));
            return;
        }
        if (in.type == Inbound::Type::live) {
            on_live(in.event);
            return;
        }
        auto sit = sessions.find(in.session);
        if (sit == sessions.end()) return;
        Session& s = *sit->second;
        if (in.type == Inbound::Type::ok) {
            enqueue(s, std::move(in.ok_msg));
            return;
        }
        auto it = s.subs.find(in.sub_id);
        if (it == s.subs.end() || it->second.upstream != in.upstream) return;  // closed or replaced
        Sub& sub = it->second;
        if (in.type == Inbound::Type::eose) {
            sub.eose_wait.erase(in.relay);
            if (sub.eose_wait.empty() && !sub.eose_sent) finish_stored(s, in.sub_id, sub);
            return;
        }
        if (!sub.eose_sent && deliver(s, in.sub_id, sub, in.event))
            sub.stored_ids.insert(in.event.id);
    }

    // True when it went out to the container.
    bool deliver(Session& s, const std::string& sub_id, Sub& sub, const nostr::Event& e) {
        bool allowed;
        {
            MutexLock lk(mu);
            allowed = index.may_read(s.project, e).allowed;
            ++(allowed ? st.events_delivered : st.events_hidden);
        }
        if (!allowed) return false;
        if (!sub.eose_sent) {
            // The stored part: `limit` counts delivered events, per filter.
            bool room = false;
            for (std::size_t i = 0; i < sub.filters.size(); ++i) {
                const auto& f = sub.filters[i];
                if (!f.matches(e)) continue;
                if (!f.limit || sub.stored[i] < *f.limit) {
                    ++sub.stored[i];
                    room = true;
                    break;
                }
            }
            if (!room) {
                MutexLock lk(mu);
                --st.events_delivered;
                ++st.events_hidden;
                return false;
            }
        }
        if (auto it = held.find(s.project); it != held.end()) {  // it reached the project
            std::erase_if(it->second, [&](const Held& h) { return h.event.id == e.id; });
            if (it->second.empty()) held.erase(it);
        }
        auto& r = recent[s.project];
        r.push_back(e.id);
        if (r.size() > kRecentIds) r.pop_front();
        enqueue(s, relay::make_relay_event_msg(sub_id, e));
        return true;
    }

    void revalidate_sessions() {
        for (auto& [id, s] : sessions) {
            if (!s->authed || s->closing) continue;
            bool valid;
            {
                MutexLock lk(mu);
                auto it = secret_to_project.find(s->secret_hash);
                valid = it != secret_to_project.end() && it->second == s->project;
            }
            if (valid) continue;
            drop_all(*s);
            refuse_and_close(*s, "restricted: gateway secret revoked");
        }
    }

    void on_tick() {
        const auto now = Clock::now();
        for (auto& [id, s] : sessions)
            for (auto& [sid, sub] : s->subs)
                if (!sub.eose_sent && !sub.queued && now - sub.started >= opt.eose_timeout)
                    finish_stored(*s, sid, sub);
        flush_held(now);
        for (auto it = held.begin(); it != held.end();) {
            std::erase_if(it->second, [&](const Held& h) { return now - h.at >= opt.held_ttl; });
            it = it->second.empty() ? held.erase(it) : std::next(it);
        }
    }

    static void tick_cb(lws_sorted_usec_list_t* sul) {
        auto* t = reinterpret_cast<Tick*>(sul);
        try {
            t->impl->on_tick();
        } catch (const std::exception& e) {
            spdlog::error("gateway: tick failed: {}", e.what());
        }
        lws_sul_schedule(t->impl->ctx, 0, &t->sul, &Impl::tick_cb, kTick.count() * LWS_US_PER_MS);
    }

    // ---------- publish outcomes ----------
    void wait_publishes() {
        while (auto batch = pubs.pop_all()) {
            for (auto& p : *batch) {
                // The pool settles every publish (OK, disconnect or timeout).
                while (p.result.wait_for(std::chrono::milliseconds(100)) !=
                       std::future_status::ready)
                    if (stopping.load()) return;
                pubs.deliver("a publish outcome", [&] { report_publish(p); });
            }
        }
    }
    void report_publish(PendingPublish& p) {
        bool accepted = false;
        std::string msg = ok_from(p.event_id, p.result.get(), accepted);
        {
            MutexLock lk(mu);
            if (accepted)
                ++st.writes_accepted;
            else
                ++st.writes_refused["relays_refused"];
        }
        inbox->push(Inbound{Inbound::Type::ok, p.session, {}, {}, {}, {}, std::move(msg), {}});
    }

    // A plain GET: an offered file once (Gateway::offer_file), else 404.
    int on_http(lws* wsi, const char* uri) {
        std::optional<std::filesystem::path> file;
        {
            MutexLock lk(mu);
            auto it = uri ? offers.find(uri) : offers.end();
            if (it != offers.end()) {
                if (std::chrono::steady_clock::now() < it->second.until) file = it->second.file;
                offers.erase(it);
            }
        }
        if (!file) {
            if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, nullptr)) return -1;
            return lws_http_transaction_completed(wsi) ? -1 : 0;
        }
        spdlog::info("gateway: serving {}", file->string());
        const int served = lws_serve_http_file(wsi, file->c_str(), "application/x-tar", nullptr, 0);
        if (served < 0) return -1;
        if (served > 0) return lws_http_transaction_completed(wsi) ? -1 : 0;
        return 0;  // LWS_CALLBACK_HTTP_FILE_COMPLETION follows
    }

    // ---------- libwebsockets ----------
    static int lws_cb(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len) {
        auto* impl = static_cast<Impl*>(lws_context_user(lws_get_context(wsi)));
        auto** slot = static_cast<Session**>(user);
        try {
            switch (reason) {
                case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
                    if (impl) impl->drain_inbox();
                    return 0;
                case LWS_CALLBACK_ESTABLISHED: {
                    auto* s = new Session(++impl->next_session, wsi);
                    *slot = s;
                    impl->sessions[s->id] = s;
                    impl->on_established(*s);
                    return 0;
                }
                case LWS_CALLBACK_CLOSED: {
                    if (slot && *slot) {
                        impl->on_closed(**slot);
                        impl->sessions.erase((*slot)->id);
                        delete *slot;
                        *slot = nullptr;
                    }
                    return 0;
                }
                case LWS_CALLBACK_RECEIVE: {
                    if (!slot || !*slot) return -1;
                    Session& s = **slot;
                    if (!s.authed || s.closing) return 0;  // nothing is read without the secret
                    std::string msg;
                    switch (s.ws.receive(in, len, impl->opt.max_message_bytes, &msg)) {
                        case relay::WsStream::Received::partial:
                            break;
                        case relay::WsStream::Received::too_large:
                            impl->enqueue(s, relay::make_notice_msg("invalid: message too large"));
                            break;
                        case relay::WsStream::Received::message:
                            impl->on_message(s, msg);
                            break;
                    }
                    return 0;
                }
                case LWS_CALLBACK_HTTP:
                    return impl->on_http(wsi, static_cast<const char*>(in));
                case LWS_CALLBACK_HTTP_FILE_COMPLETION:
                    return lws_http_transaction_completed(wsi) ? -1 : 0;
                case LWS_CALLBACK_SERVER_WRITEABLE: {
                    if (!slot || !*slot) return 0;
                    Session& s = **slot;
                    if (!s.ws.write_some()) return -1;
                    if (s.ws.flushed() && s.closing) {
                        static const char kWhy[] = "policy";
                        lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                                         reinterpret_cast<unsigned char*>(const_cast<char*>(kWhy)),
                                         sizeof kWhy - 1);
                        return -1;
                    }
                    return 0;
                }
                default:
                    return 0;
            }
        } catch (const std::exception& e) {
            spdlog::error("gateway: callback failed: {}", e.what());
            return -1;
        }
    }
};

Gateway::Gateway() : impl_(std::make_unique<Impl>()) {}

Result<std::unique_ptr<Gateway>> Gateway::start(GatewayOptions options, relay::RelayPool& pool) {
    relay::quiet_lws_logs();
    std::unique_ptr<Gateway> g(new Gateway());
    Impl& im = *g->impl_;
    im.opt = std::move(options);
    im.pool = &pool;
    auto store = BindingStore::open(im.opt.bindings_db);
    if (!store) return store.error();
    std::size_t bindings = 0;
    {
        // No other thread yet; the locks for the analysis (never taken the other way round).
        MutexLock slk(im.store_mu);
        MutexLock lk(im.mu);
        im.store = std::move(*store);
        auto loaded = im.store->load();
        if (!loaded) return loaded.error();
        for (const auto& [key, project] : *loaded) im.index.bind(key, project);
        bindings = loaded->size();
        // Containers adopted after a restart keep the secret they were started with.
        auto hashes = im.store->load_secret_hashes();
        if (!hashes) return hashes.error();
        auto subs = im.store->load_subscriptions();
        if (!subs) return subs.error();
        im.resumable = std::move(*subs);
        for (const auto& [project, hash] : *hashes) {
            auto address = nostr::Address::parse(project);
            if (!address) continue;
            im.secret_to_project[hash] = project;
            im.project_secret[project] = hash;
            im.index.upsert(ProjectKeys{*address, {}, {}});
        }
    }
    im.protocols[0].name = "nostr";
    im.protocols[0].callback = &Impl::lws_cb;
    im.protocols[0].per_session_data_size =
        sizeof(Session*);  // NOLINT(bugprone-sizeof-expression): a pointer is meant
    im.protocols[0].rx_buffer_size = 65536;
    lws_context_creation_info info{};
    info.port = im.opt.port;
    info.iface = im.opt.host.empty() ? nullptr : im.opt.host.c_str();
    info.protocols = im.protocols;
    info.user = &im;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
    // libwebsockets' default pings a connection silent for 300 s and hangs up 10 s later: a
    // paused container cannot answer, so a pause of a few minutes would cost its connection.
    im.retry.secs_since_valid_ping =
        static_cast<std::uint16_t>(std::clamp<std::int64_t>(im.opt.ping_after.count(), 1, 65000));
    im.retry.secs_since_valid_hangup = static_cast<std::uint16_t>(
        std::clamp<std::int64_t>(im.opt.ping_after.count() + im.opt.pong_timeout.count(),
                                 im.retry.secs_since_valid_ping + 1, 65535));
    info.retry_and_idle_policy = &im.retry;
    // As in the embedded relay: keep IPv4 addresses on IPv4 (warmcat/libwebsockets#2290).
    in_addr v4{};
    if (::inet_pton(AF_INET, im.opt.host.c_str(), &v4) == 1)
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    im.ctx = lws_create_context(&info);
    if (!im.ctx)
        return make_error("gateway: cannot listen on " + im.opt.host + ":" +
                          std::to_string(im.opt.port));
    auto* vhost = lws_get_vhost_by_name(im.ctx, "default");
    const int port = vhost ? lws_get_vhost_listen_port(vhost) : -1;
    if (port <= 0) {
        lws_context_destroy(im.ctx);
        im.ctx = nullptr;
        return make_error("gateway: cannot listen on " + im.opt.host + ":" +
                          std::to_string(im.opt.port));
    }
    im.bound_port = static_cast<std::uint16_t>(port);
    {
        MutexLock lk(im.inbox->mu);
        im.inbox->ctx = im.ctx;
    }
    im.tick.impl = &im;
    im.waiter = std::thread([&im] { im.wait_publishes(); });
    im.thread = std::thread([&im] {
        lws_sul_schedule(im.ctx, 0, &im.tick.sul, &Impl::tick_cb, kTick.count() * LWS_US_PER_MS);
        while (!im.stopping.load())
            if (lws_service(im.ctx, 0) < 0) break;
        lws_sul_cancel(&im.tick.sul);
    });
    spdlog::info("gateway listening on {}:{} ({} key bindings)", im.opt.host, port, bindings);
    return g;
}

Gateway::~Gateway() {
    stop();
}

void Gateway::stop() {
    Impl& im = *impl_;
    if (!im.ctx) return;
    im.stopping = true;
    lws_cancel_service(im.ctx);
    if (im.thread.joinable()) im.thread.join();
    {
        MutexLock lk(im.inbox->mu);
        im.inbox->ctx = nullptr;
    }
    im.inbox->items.close();      // later deliveries are dropped
    lws_context_destroy(im.ctx);  // CLOSED unsubscribes and frees each session
    im.ctx = nullptr;
    for (auto& [id, s] : im.sessions) {
        for (auto& [sid, sub] : s->subs)
            if (!sub.upstream.empty()) im.pool->unsubscribe(sub.upstream);
        delete s;
    }
    for (std::size_t i = 0; i < im.live_keys.size(); ++i)
        im.pool->unsubscribe(Impl::live_sub_id(i));
    im.sessions.clear();
    im.pubs.close();
    if (im.waiter.joinable()) im.waiter.join();
}

std::string Gateway::offer_file(std::filesystem::path file, std::chrono::seconds ttl) {
    std::string path = "/seed/" + new_secret();
    MutexLock lk(impl_->mu);
    auto& offers = impl_->offers;
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(offers, [&](const auto& o) { return o.second.until <= now; });
    offers[path] = Impl::Offer{std::move(file), now + ttl};
    return path;
}

void Gateway::withdraw_file(const std::string& path) {
    MutexLock lk(impl_->mu);
    impl_->offers.erase(path);
}

std::string Gateway::open_project(ProjectKeys keys, std::optional<WriteRate> rate) {
    const std::string address = keys.address.to_string();
    const std::string secret = new_secret();
    const std::string hash = sha256_hex(secret);
    impl_->persist_secret(address, hash);
    {
        MutexLock lk(impl_->mu);
        impl_->index.upsert(std::move(keys));
        if (auto it = impl_->project_secret.find(address); it != impl_->project_secret.end())
            impl_->secret_to_project.erase(it->second);
        impl_->secret_to_project[hash] = address;
        impl_->project_secret[address] = hash;
        impl_->resumable.erase(address);  // a new container subscribes for itself
        impl_->spoke.erase(address);      // ... and boots the project again
        if (rate)
            impl_->rates[address] = *rate;
        else
            impl_->rates.erase(address);
    }
    impl_->inbox->wake_revalidate();
    return secret;
}

void Gateway::update_project(ProjectKeys keys) {
    MutexLock lk(impl_->mu);
    impl_->index.upsert(std::move(keys));
}

void Gateway::close_project(const std::string& address) {
    impl_->persist_secret(address, "");
    {
        MutexLock lk(impl_->mu);
        if (auto it = impl_->project_secret.find(address); it != impl_->project_secret.end()) {
            impl_->secret_to_project.erase(it->second);
            impl_->project_secret.erase(it);
        }
        impl_->resumable.erase(address);
        impl_->activity.erase(address);
    }
    impl_->inbox->wake_revalidate();
}

void Gateway::hold_for_project(const std::string& address, const nostr::Event& event) {
    impl_->inbox->push(Inbound{Inbound::Type::hold, 0, {}, {}, {}, event, {}, address});
}

void Gateway::set_reserved_keys(std::set<std::string> keys) {
    MutexLock lk(impl_->mu);
    impl_->index.set_reserved_keys(std::move(keys));
}

std::uint16_t Gateway::port() const {
    return impl_->bound_port;
}

std::string Gateway::url_for(const std::string& host, const std::string& secret) const {
    const std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return "ws://" + h + ":" + std::to_string(port()) + "/" + secret;
}

GatewayStats Gateway::stats() const {
    MutexLock lk(impl_->mu);
    GatewayStats st = impl_->st;
    st.loop_failures = impl_->inbox->items.failures();
    return st;
}

std::map<std::string, std::uint64_t> Gateway::activity() const {
    MutexLock lk(impl_->mu);
    return impl_->activity;
}

std::map<std::string, std::string> Gateway::bindings() const {
    MutexLock lk(impl_->mu);
    return impl_->index.bindings();
}

}  // namespace tenex::gateway
