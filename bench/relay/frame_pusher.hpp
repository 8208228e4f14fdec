// FramePusher: the cheapest possible relay for the ingest benchmark. It listens on
// 127.0.0.1 (port picked by the kernel), answers the websocket upgrade, and when a REQ for
// subscription `sub_id` arrives it writes the EVENT messages it was given, framed once at
// construction ["EVENT",sub_id,<event>], followed by EOSE, with a few large send() calls. It
// does no JSON work while the clock runs, so the pool is the only thing measured.
// Benchmark code: blocking sockets, one thread per connection, no error recovery.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace tenex::bench {

class FramePusher {
  public:
    FramePusher(const std::vector<std::string>& event_jsons, const std::string& sub_id);
    ~FramePusher();
    FramePusher(const FramePusher&) = delete;
    FramePusher& operator=(const FramePusher&) = delete;

    std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_); }

  private:
    void accept_loop();
    void serve(int fd);

    std::string frames_;  // every EVENT frame, then the EOSE frame
    std::string sub_id_;
    int listen_fd_{-1};
    std::uint16_t port_{0};
    std::atomic<bool> stopping_{false};
    std::thread acceptor_;
    std::vector<std::thread> connections_;
    std::vector<int> fds_;
};

}  // namespace tenex::bench
