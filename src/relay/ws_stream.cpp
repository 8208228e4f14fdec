#include "relay/ws_stream.hpp"

#include <libwebsockets.h>

#include <cstring>
#include <vector>

namespace tenex::relay {

bool WsStream::enqueue(std::string msg, std::size_t max_bytes) {
    if (kill_) return true;
    out_bytes_ += msg.size();
    out_.push_back(std::move(msg));
    lws_callback_on_writable(wsi_);
    if (out_bytes_ <= max_bytes) return true;
    kill_ = true;
    return false;
}

WsStream::Received WsStream::receive(const void* in, std::size_t len, std::size_t max_bytes,
                                     std::string* msg) {
    if (!rx_overflow_) {
        if (rx_.size() + len > max_bytes) {
            rx_overflow_ = true;
            rx_.clear();
        } else {
            rx_.append(static_cast<const char*>(in), len);
        }
    }
    if (!lws_is_final_fragment(wsi_) || lws_remaining_packet_payload(wsi_) > 0)
        return Received::partial;
    if (rx_overflow_) {
        rx_overflow_ = false;
        return Received::too_large;
    }
    msg->clear();
    msg->swap(rx_);
    return Received::message;
}

bool WsStream::write_some() {
    if (kill_) return false;
    // Several messages per callback while the socket takes them (a REQ's stored part is often
    // thousands of small messages).
    std::vector<unsigned char> buf;
    for (int n = 0; n < 64 && !out_.empty(); ++n) {
        if (n > 0 && lws_send_pipe_choked(wsi_)) break;
        const std::string& msg = out_.front();
        buf.resize(LWS_PRE + msg.size());
        std::memcpy(buf.data() + LWS_PRE, msg.data(), msg.size());
        if (lws_write(wsi_, buf.data() + LWS_PRE, msg.size(), LWS_WRITE_TEXT) <
            static_cast<int>(msg.size()))
            return false;
        out_bytes_ -= msg.size();
        out_.pop_front();
    }
    if (!out_.empty()) lws_callback_on_writable(wsi_);
    return true;
}

}  // namespace tenex::relay
