#include "relay/server.hpp"

#include <arpa/inet.h>
#include <libwebsockets.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/thread_annotations.hpp"
#include "nostr/verify.hpp"
#include "relay/lws_log.hpp"
#include "relay/message.hpp"
#include "relay/store.hpp"
#include "relay/ws_stream.hpp"

namespace tenex::relay {

namespace {

struct Session {
    explicit Session(lws* wsi) : ws(wsi) {}
    WsStream ws;
    std::map<std::string, std::vector<nostr::Filter>> subs{};
};

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

struct EmbeddedRelay::Impl {
    RelayServerOptions opt;
    std::unique_ptr<EventStore> store;
    lws_context* ctx{nullptr};
    lws_vhost* vhost{nullptr};
    lws_protocols protocols[2]{};
    std::thread thread;
    std::atomic<bool> stopping{false};
    std::atomic<std::uint16_t> bound_port{0};
    std::set<Session*> sessions;  // service thread only

    mutable Mutex stats_mu;
    RelayServerStats st TENEX_GUARDED_BY(stats_mu){};

    void sync_stats() {
        MutexLock lk(stats_mu);
        st.connections = sessions.size();
        st.stored_events = store->size();
        st.stored_bytes = store->bytes();
    }

    void bump(std::uint64_t RelayServerStats::*counter) {
        MutexLock lk(stats_mu);
        ++(st.*counter);
    }

    void enqueue(Session& s, std::string msg) {
        if (!s.ws.enqueue(std::move(msg), opt.max_queue_bytes))
            spdlog::warn("embedded relay: client too slow, disconnecting");
    }

    void on_event(Session& s, nlohmann::json&& ev) {
        std::string id;
        if (auto it = ev.find("id"); it != ev.end() && it->is_string()) id = it->get<std::string>();
        auto e = nostr::parse_event(ev);
        if (!e) {
            bump(&RelayServerStats::events_rejected);
            enqueue(s, make_ok_msg(id, false, "invalid: " + e.error().message));
            return;
        }
        if (auto v = nostr::verify_event(*e); !v) {
            bump(&RelayServerStats::events_rejected);
            enqueue(s, make_ok_msg(e->id, false, "invalid: " + v.error().message));
            return;
        }
        if (e->created_at > unix_now() + opt.max_future_s) {
            bump(&RelayServerStats::events_rejected);
            enqueue(s, make_ok_msg(e->id, false, "invalid: created_at too far in the future"));
            return;
        }
        auto out = store->add(*e);
        enqueue(s, make_ok_msg(e->id, out.accepted, out.message));
        if (!out.accepted) bump(&RelayServerStats::events_rejected);
        if (!out.fresh) return;
        bump(&RelayServerStats::events_accepted);
        for (Session* other : sessions)
            for (const auto& [sid, filters] : other->subs)
                if (nostr::matches_any(filters, *e)) enqueue(*other, make_relay_event_msg(sid, *e));
    }

    void on_req(Session& s, ReqMsg&& req) {
        if (!s.subs.count(req.sub_id) && s.subs.size() >= opt.max_subscriptions) {
            enqueue(s, make_closed_msg(req.sub_id, "error: too many subscriptions"));
            return;
        }
        store->query_json(req.filters, opt.max_limit, opt.max_query_bytes,
                          [&](std::string_view json) {
                              enqueue(s, make_relay_event_msg_from_json(req.sub_id, json));
                          });
        enqueue(s, make_eose_msg(req.sub_id));
        s.subs[req.sub_id] = std::move(req.filters);
    }

    void on_message(Session& s, std::string_view text) {
        auto parsed = parse_client_message(text, opt.max_filters);
        if (!parsed) {
            // A REQ we cannot read gets CLOSED when its id is readable; the rest a NOTICE.
            auto j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
            if (!j.is_discarded() && j.is_array() && j.size() >= 2 && j[0] == "REQ" &&
                j[1].is_string() && j[1].get_ref<const std::string&>().size() <= kMaxSubIdBytes)
                enqueue(s, make_closed_msg(j[1].get<std::string>(), parsed.error().message));
            else if (!j.is_discarded() && j.is_array() && j.size() >= 2 && j[0] == "EVENT" &&
                     j[1].is_object() && j[1].contains("id") && j[1]["id"].is_string())
                enqueue(s, make_ok_msg(j[1]["id"].get<std::string>(), false,
                                       "invalid: " + parsed.error().message));
            else
                enqueue(s, make_notice_msg("error: " + parsed.error().message));
            return;
        }
        std::visit(
            [&](auto& m) {
                using T = std::decay_t<decltype(m)>;
                if constexpr (std::is_same_v<T, ClientEventMsg>) {
                    on_event(s, std::move(m.event));
                } else if constexpr (std::is_same_v<T, ReqMsg>) {
                    on_req(s, std::move(m));
                } else if constexpr (std::is_same_v<T, CloseMsg>) {
                    s.subs.erase(m.sub_id);
                } else {  // AUTH: this relay does not ask for it
                    std::string id = m.event.contains("id") && m.event["id"].is_string()
                                         ? m.event["id"].template get<std::string>()
                                         : "";
                    enqueue(s, make_ok_msg(id, false, "restricted: this relay does not use AUTH"));
                }
            },
            *parsed);
        sync_stats();
    }

    static int lws_cb(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len) {
        auto* impl = static_cast<Impl*>(lws_context_user(lws_get_context(wsi)));
        auto** slot = static_cast<Session**>(user);
        try {
            switch (reason) {
                case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
                    return 0;
                case LWS_CALLBACK_ESTABLISHED: {
                    auto* s = new Session(wsi);
                    *slot = s;
                    impl->sessions.insert(s);
                    impl->sync_stats();
                    return 0;
                }
                case LWS_CALLBACK_CLOSED: {
                    if (slot && *slot) {
                        impl->sessions.erase(*slot);
                        delete *slot;
                        *slot = nullptr;
                        impl->sync_stats();
                    }
                    return 0;
                }
                case LWS_CALLBACK_RECEIVE: {
                    if (!slot || !*slot) return -1;
                    Session& s = **slot;
                    std::string msg;
                    switch (s.ws.receive(in, len, impl->opt.max_message_bytes, &msg)) {
                        case WsStream::Received::partial:
                            break;
                        case WsStream::Received::too_large:
                            impl->enqueue(s, make_notice_msg("invalid: message too large"));
                            break;
                        case WsStream::Received::message:
                            impl->on_message(s, msg);
                            break;
                    }
                    return 0;
                }
                case LWS_CALLBACK_SERVER_WRITEABLE: {
                    if (!slot || !*slot) return 0;
                    Session& s = **slot;
                    return s.ws.write_some() ? 0 : -1;
                }
                default:
                    return 0;
            }
        } catch (const std::exception& e) {
            spdlog::error("embedded relay: callback failed: {}", e.what());
            return -1;
        }
    }
};

EmbeddedRelay::EmbeddedRelay() : impl_(std::make_unique<Impl>()) {}

Result<std::unique_ptr<EmbeddedRelay>> EmbeddedRelay::start(RelayServerOptions options) {
    quiet_lws_logs();
    std::unique_ptr<EmbeddedRelay> r(new EmbeddedRelay());
    Impl& im = *r->impl_;
    im.opt = std::move(options);
    auto store = EventStore::open(im.opt.db_path, im.opt.store_limits);
    if (!store) return store.error();
    im.store = std::move(*store);
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
    // libwebsockets 4.1 binds every interface when given an IPv4 address on an IPv6-enabled
    // vhost (warmcat/libwebsockets#2290): keep IPv4 hosts on IPv4 so 127.0.0.1 means loopback.
    in_addr v4{};
    if (::inet_pton(AF_INET, im.opt.host.c_str(), &v4) == 1)
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    im.ctx = lws_create_context(&info);
    if (!im.ctx)
        return make_error("cannot listen on " + im.opt.host + ":" + std::to_string(im.opt.port));
    im.vhost = lws_get_vhost_by_name(im.ctx, "default");
    const int port = im.vhost ? lws_get_vhost_listen_port(im.vhost) : -1;
    if (port <= 0) {
        lws_context_destroy(im.ctx);
        im.ctx = nullptr;
        return make_error("cannot listen on " + im.opt.host + ":" + std::to_string(im.opt.port));
    }
    im.bound_port = static_cast<std::uint16_t>(port);
    im.sync_stats();
    im.thread = std::thread([&im] {
        while (!im.stopping.load())
            if (lws_service(im.ctx, 0) < 0) break;
    });
    spdlog::info("embedded relay listening on {}:{} ({} stored events, {} bytes{})", im.opt.host,
                 port, im.store->size(), im.store->bytes(),
                 im.opt.db_path.empty() ? ", in memory" : "");
    return r;
}

EmbeddedRelay::~EmbeddedRelay() {
    stop();
}

void EmbeddedRelay::stop() {
    if (!impl_->ctx) return;
    impl_->stopping = true;
    lws_cancel_service(impl_->ctx);
    if (impl_->thread.joinable()) impl_->thread.join();
    lws_context_destroy(impl_->ctx);  // closes connections; CLOSED frees the sessions
    impl_->ctx = nullptr;
    for (Session* s : impl_->sessions) delete s;
    impl_->sessions.clear();
}

std::uint16_t EmbeddedRelay::port() const {
    return impl_->bound_port;
}

std::string EmbeddedRelay::url() const {
    const auto& h = impl_->opt.host;
    std::string host = h.empty() || h == "0.0.0.0"
                           ? "127.0.0.1"
                           : (h.find(':') != std::string::npos ? "[" + h + "]" : h);
    return "ws://" + host + ":" + std::to_string(port());
}

RelayServerStats EmbeddedRelay::stats() const {
    MutexLock lk(impl_->stats_mu);
    return impl_->st;
}

}  // namespace tenex::relay
