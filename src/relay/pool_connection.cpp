// RelayPool connections: connecting with backoff, the libwebsockets callback, reassembling
// fragmented messages, writing queued messages, keepalive, flow control and removal.
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "relay/pool_impl.hpp"

namespace tenex::relay {
namespace {

// Closes a connection from outside its callbacks: lws closes it at its next timeout check;
// without its user data none of its late callbacks reach a Conn any more.
void detach_and_close(lws* wsi) {
    if (!wsi) return;
    lws_set_opaque_user_data(wsi, nullptr);
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

std::string c_text(const void* in, std::size_t max) {
    if (!in) return "unknown";
    const auto* s = static_cast<const char*>(in);
    return std::string(s, strnlen(s, max));
}

}  // namespace

void RelayPool::Impl::connect(Conn& c) {
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
    c.state = ConnState::connecting;
    c.wsi = nullptr;
    c.rx.clear();
    c.rx_overflow = false;
    c.close_requested = false;
    c.tls_error.clear();
    lws* wsi = lws_client_connect_via_info(&ci);
    if (c.state != ConnState::connecting) {  // failed inside the call (the callback ran)
        if (wsi) lws_set_opaque_user_data(wsi, nullptr);
        return;
    }
    if (!wsi) {
        on_disconnected(c, "connect failed");
        return;
    }
    c.wsi = wsi;
}

void RelayPool::Impl::send(Conn& c, std::string msg) {
    c.out.push_back(std::move(msg));
    if (c.state == ConnState::open && c.wsi) lws_callback_on_writable(c.wsi);
}

void RelayPool::Impl::on_open(Conn& c) {
    c.state = ConnState::open;
    c.opened_at = c.last_rx = PoolClock::now();
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
    if (rx_paused) lws_rx_flow_control(c.wsi, 0);
    // Anything queued while connecting (fetches, publishes) goes first, then the REQs.
    if (has_mode(c.mode, RelayMode::read))
        for (auto& [id, s] : subs) send_req(c, id, *s);
    if (!c.out.empty()) lws_callback_on_writable(c.wsi);
}

void RelayPool::Impl::send_req(Conn& c, const std::string& id, Sub& s) {
    auto& cur = s.cursors[c.url.normalized];
    send(c, make_req_msg(id, cur.resume_filters(s.filters, opt.resume_overlap)));
}

void RelayPool::Impl::on_disconnected(Conn& c, const std::string& why) {
    const bool was_open = c.state == ConnState::open;
    if (c.wsi) lws_set_opaque_user_data(c.wsi, nullptr);  // its late callbacks are not ours
    c.wsi = nullptr;
    if (stopping.load()) {
        c.state = ConnState::idle;
        return;
    }
    if (c.state == ConnState::idle || c.state == ConnState::waiting) return;
    c.out.clear();
    c.rx.clear();
    c.rx_overflow = false;
    c.after_auth.clear();
    if (was_open && PoolClock::now() - c.opened_at >= opt.stable_after) c.backoff.reset();
    auto delay = c.backoff.next();
    c.state = ConnState::waiting;
    c.next_attempt = PoolClock::now() + delay;
    c.st.connected = false;
    c.st.authenticated = false;
    c.st.last_error = why;
    publish_status(c);
    spdlog::warn("relay {}: {}; reconnecting in {} ms", c.url.normalized, why, delay.count());
    const auto url = c.url.normalized;
    // Events that arrived before the drop are still verified and kept: settle behind them.
    std::vector<std::string> pending;
    for (auto& [id, f] : fetches)
        if (f->state.is_pending(url)) pending.push_back(id);
    after_queued([this, url, pending] {
        for (const auto& id : pending)
            if (auto it = fetches.find(id); it != fetches.end())
                it->second->state.settle(url, "disconnected");
    });
    for (auto& [id, p] : publishes) p->state.record(url, false, "disconnected: " + why);
    finish_done();
}

void RelayPool::Impl::remove(const std::string& url) {
    auto it = conns.find(url);
    if (it == conns.end()) return;
    Conn& c = *it->second;
    detach_and_close(c.wsi);
    for (auto& [id, f] : fetches) f->state.settle(url, "relay removed");
    for (auto& [id, p] : publishes) p->state.record(url, false, "relay removed");
    for (auto& [id, s] : subs) s->cursors.erase(url);
    std::erase(dirty, &c);
    conns.erase(it);  // queued events from it are dropped when they come out of verification
    spdlog::info("relay {}: removed", url);
    finish_done();
}

// Keepalive is libwebsockets' (the retry policy: a PING after ping_after_idle_s without a
// PONG, a hang-up after dead_after_idle_s; measured to work in lws 4.1). It does not say why it
// hung up: a connection that closes after the PING went unanswered is reported as dead.
std::string RelayPool::Impl::close_reason(const Conn& c, int reason) const {
    const auto silent =
        std::chrono::duration_cast<std::chrono::seconds>(PoolClock::now() - c.last_rx);
    if (opt.dead_after_idle_s > 0 && opt.dead_after_idle_s > opt.ping_after_idle_s &&
        silent.count() >= opt.dead_after_idle_s - opt.ping_after_idle_s)
        return "connection dead: nothing received for " + std::to_string(silent.count()) +
               " s (keepalive PING unanswered)";
    return reason == LWS_CALLBACK_CLIENT_CLOSED ? "connection closed" : "connection lost";
}

void RelayPool::Impl::flow_control() {
    if (!verifier) return;
    const auto n = verifier->size();
    const bool pause = rx_paused ? n > kResumeAt : n >= kPauseAt;
    if (pause == rx_paused) return;
    rx_paused = pause;
    for (auto& [url, c] : conns)
        if (c->state == ConnState::open && c->wsi) lws_rx_flow_control(c->wsi, pause ? 0 : 1);
}

int RelayPool::Impl::lws_cb(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                            size_t len) {
    auto* impl = static_cast<Impl*>(lws_context_user(lws_get_context(wsi)));
    auto* c = static_cast<Conn*>(lws_get_opaque_user_data(wsi));
    try {
        switch (reason) {
            case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
                if (impl) {
                    impl->drain_commands();
                    impl->pump();
                }
                return 0;
            case LWS_CALLBACK_CLIENT_ESTABLISHED:
                if (c) {
                    c->wsi = wsi;
                    impl->on_open(*c);
                }
                return 0;
            case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
                // OpenSSL's verdict stands (returning 0 keeps a failure a failure); only its
                // reason is kept, for the status: lws reports just "SSL err 1".
                if (c && len == 0 && user && c->tls_error.empty()) {
                    auto* store = static_cast<X509_STORE_CTX*>(user);
                    c->tls_error = std::string("certificate refused: ") +
                                   X509_verify_cert_error_string(X509_STORE_CTX_get_error(store));
                }
                return 0;
            case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
                if (c && (c->wsi == wsi || c->wsi == nullptr)) {
                    impl->on_disconnected(*c, c->tls_error.empty()
                                                  ? "connection error: " + c_text(in, 200)
                                                  : "TLS: " + c->tls_error);
                    impl->pump();
                }
                return 0;
            case LWS_CALLBACK_CLIENT_CLOSED:
            case LWS_CALLBACK_WSI_DESTROY:
                if (c && c->wsi == wsi) {
                    impl->on_disconnected(*c, impl->close_reason(*c, reason));
                    impl->pump();
                }
                return 0;
            case LWS_CALLBACK_CLIENT_RECEIVE:
                return c ? impl->on_receive(*c, wsi, in, len) : 0;
            case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
                if (c) c->last_rx = PoolClock::now();
                return 0;
            case LWS_CALLBACK_CLIENT_WRITEABLE:
                return c ? impl->on_writable(*c, wsi) : 0;
            default:
                return 0;
        }
    } catch (const std::exception& e) {
        spdlog::error("relay pool: callback failed: {}", e.what());
        return 0;
    }
}

// One websocket message may come in several callbacks (fragments, or a frame larger than the
// receive buffer): they are joined up to max_message_bytes; a larger message is dropped and
// counted, and the connection goes on with the next one.
int RelayPool::Impl::on_receive(Conn& c, lws* wsi, void* in, size_t len) {
    c.last_rx = PoolClock::now();
    const bool last = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;
    const std::string_view piece(static_cast<const char*>(in), len);
    if (last && c.rx.empty() && !c.rx_overflow && len <= opt.max_message_bytes) {
        on_message(c, piece);  // the common case: the whole message in one piece, no copy
        return 0;
    }
    if (!c.rx_overflow) {
        if (c.rx.size() + len > opt.max_message_bytes) {
            c.rx_overflow = true;
            std::string().swap(c.rx);
        } else {
            c.rx.append(piece);
        }
    }
    if (!last) return 0;
    if (c.rx_overflow) {
        c.rx_overflow = false;
        ++c.st.invalid_events;
        ++c.st.oversized_messages;
        c.st.last_error = "message over the size limit dropped";
        spdlog::warn("relay {}: message over {} bytes dropped", c.url.normalized,
                     opt.max_message_bytes);
        publish_status(c);
        return 0;
    }
    on_message(c, c.rx);
    if (c.rx.capacity() > 256 * 1024)
        std::string().swap(c.rx);
    else
        c.rx.clear();
    return 0;
}

int RelayPool::Impl::on_writable(Conn& c, lws* wsi) {
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

}  // namespace tenex::relay
