// One websocket connection's messages on the libwebsockets service thread, shared by the
// embedded relay and the project gateway: received fragments joined into whole messages up to
// a size, text messages queued up to a byte budget and written while the socket takes them.
#pragma once

#include <cstddef>
#include <deque>
#include <string>

struct lws;

namespace tenex::relay {

class WsStream {
  public:
    explicit WsStream(lws* wsi) : wsi_(wsi) {}

    lws* wsi() const { return wsi_; }
    // Close at the next writable callback (a slow reader, a protocol violation).
    void kill() { kill_ = true; }
    bool killed() const { return kill_; }
    // Nothing waits to be written.
    bool flushed() const { return out_.empty(); }

    // Queues a text message and asks for a writable callback. Once more than `max_bytes` wait,
    // the connection is killed and false returned (once; later messages are dropped quietly).
    bool enqueue(std::string msg, std::size_t max_bytes);

    enum class Received { partial, message, too_large };
    // From LWS_CALLBACK_RECEIVE: adds a fragment. `message`: the whole message was moved to
    // *msg; `too_large`: it went past max_bytes and was dropped (reported once, at its end).
    Received receive(const void* in, std::size_t len, std::size_t max_bytes, std::string* msg);

    // From LWS_CALLBACK_SERVER_WRITEABLE: writes up to 64 queued messages while the socket
    // takes them and asks for another callback if some are left. False: close the connection
    // (killed, or a write failed).
    bool write_some();

  private:
    lws* wsi_;
    bool kill_{false};
    std::deque<std::string> out_{};
    std::size_t out_bytes_{0};
    std::string rx_{};
    bool rx_overflow_{false};
};

}  // namespace tenex::relay
