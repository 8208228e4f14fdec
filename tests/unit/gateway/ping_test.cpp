// The gateway's ping timers (issue 20): a container connection silent for ping_after gets a
// websocket PING and is closed when no PONG follows within pong_timeout; under the default
// (65 min) a silent connection, like a paused container's, is left alone. The client is a raw
// socket that does the handshake and then never answers, as a frozen process would.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "gateway/server.hpp"
#include "nostr/keys.hpp"
#include "relay/pool.hpp"
#include "relay/server.hpp"
#include "upstream_fixture.hpp"

namespace tenex::gateway {
namespace {

using namespace std::chrono_literals;

// A websocket client that stops after the handshake. Reads what the server sends.
class SilentClient {
  public:
    SilentClient(std::uint16_t port, const std::string& secret) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
        const std::string req =
            "GET /" + secret +
            " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n";
        if (::send(fd_, req.data(), req.size(), 0) != static_cast<ssize_t>(req.size())) return;
        std::string head;
        while (head.find("\r\n\r\n") == std::string::npos && read_some(head, 3s)) {
        }
        upgraded_ = head.find(" 101 ") != std::string::npos;
        frames_ = head.substr(std::min(head.size(), head.find("\r\n\r\n") + 4));
    }
    ~SilentClient() {
        if (fd_ >= 0) ::close(fd_);
    }
    bool upgraded() const { return upgraded_; }
    // Reads until the server closes the connection or `wait` passes; true when it closed.
    bool closed_within(std::chrono::milliseconds wait) {
        const auto end = std::chrono::steady_clock::now() + wait;
        while (std::chrono::steady_clock::now() < end) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                end - std::chrono::steady_clock::now());
            if (!read_some(frames_, left)) return eof_;
        }
        return eof_;
    }
    // A PING frame (opcode 9, FIN set) among what the server sent.
    bool pinged() const { return frames_.find('\x89') != std::string::npos; }

  private:
    bool read_some(std::string& out, std::chrono::milliseconds wait) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(1, wait.count()))) <= 0)
            return false;
        char buf[4096];
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) {
            eof_ = true;
            return false;
        }
        out.append(buf, static_cast<std::size_t>(n));
        return true;
    }
    int fd_ = -1;
    bool upgraded_ = false;
    bool eof_ = false;
    std::string frames_;
};

class GatewayPingTest : public UpstreamRelayTest {
  protected:
    std::string start(GatewayOptions o) {
        auto g = Gateway::start(o, pool);
        EXPECT_TRUE(g) << g.error().message;
        if (!g) return {};
        gw = std::move(*g);
        return gw->open_project(ProjectKeys{nostr::Address{31933, owner.pub.hex(), "p"}, {}, {}});
    }
    nostr::Keys owner = nostr::Keys::generate();
    std::unique_ptr<Gateway> gw;
};

TEST_F(GatewayPingTest, ASilentConnectionIsPingedAndClosedWithoutAPong) {
    GatewayOptions o;
    o.ping_after = 1s;
    o.pong_timeout = 2s;
    const std::string secret = start(o);
    SilentClient c(gw->port(), secret);
    ASSERT_TRUE(c.upgraded());
    EXPECT_TRUE(c.closed_within(10s)) << "a connection that never answers a PING stays open";
    EXPECT_TRUE(c.pinged());
}

TEST_F(GatewayPingTest, UnderTheDefaultASilentConnectionStaysOpen) {
    const std::string secret = start(GatewayOptions{});
    EXPECT_GE(GatewayOptions{}.ping_after, 3600s);  // longer than a default-length pause
    SilentClient c(gw->port(), secret);
    ASSERT_TRUE(c.upgraded());
    EXPECT_FALSE(c.closed_within(4s));
    EXPECT_FALSE(c.pinged());
    EXPECT_EQ(gw->stats().connections, 1u);
}

}  // namespace
}  // namespace tenex::gateway
