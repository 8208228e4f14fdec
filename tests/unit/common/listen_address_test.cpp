#include "common/listen_address.hpp"

#include <gtest/gtest.h>

#include <string>

namespace tenex {
namespace {

TEST(ListenAddress, HostPortIpv6AndUnixSockets) {
    auto a = parse_listen_address("127.0.0.1:7878");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->host, "127.0.0.1");
    EXPECT_EQ(a->port, 7878);
    EXPECT_TRUE(a->loopback());
    EXPECT_EQ(a->to_string(), "127.0.0.1:7878");
    a = parse_listen_address("[::1]:0");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->host, "::1");
    EXPECT_EQ(a->port, 0);
    EXPECT_TRUE(a->loopback());
    EXPECT_EQ(a->to_string(), "[::1]:0");
    a = parse_listen_address("unix:/run/tenex.sock");
    ASSERT_TRUE(a);
    EXPECT_TRUE(a->unix_socket);
    EXPECT_EQ(a->path, "/run/tenex.sock");
    EXPECT_TRUE(a->loopback());
    EXPECT_EQ(a->to_string(), "unix:/run/tenex.sock");
    EXPECT_EQ(parse_listen_address("localhost:65535")->port, 65535);
    EXPECT_FALSE(parse_listen_address("0.0.0.0:80")->loopback());
    EXPECT_FALSE(parse_listen_address("[::]:80")->loopback());
    EXPECT_FALSE(parse_listen_address("example.com:80")->loopback());
}

TEST(ListenAddress, BadTextIsRefusedWithTheReason) {
    for (std::string bad : {"", "7878", "host:", "host:x", "host:99999", "host:65536", "host:-1",
                            ":80", "::1:80", "[::1]80", "[::1", "unix:", "unix:relative", "a b:80",
                            "a/b:80", "127.0.0.1:80x", "127.0.0.1: 80"}) {
        auto r = parse_listen_address(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_FALSE(r.error().message.empty()) << bad;
    }
    EXPECT_FALSE(parse_listen_address("unix:/" + std::string(200, 'x')));
    EXPECT_FALSE(parse_listen_address(std::string("unix:/a\0b", 9)));
    EXPECT_FALSE(parse_listen_address(std::string("127.0.0.1\0:80", 13)));
    EXPECT_FALSE(parse_listen_address(std::string(10000, 'a') + ":x"));
}

TEST(ListenAddress, TcpOnlyServersRefuseUnixSockets) {
    auto r = parse_tcp_listen_address("unix:/run/relay.sock");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("unix socket"), std::string::npos) << r.error().message;
    EXPECT_EQ(parse_tcp_listen_address("127.0.0.1:7777")->port, 7777);
    EXPECT_FALSE(parse_tcp_listen_address("7777"));
}

}  // namespace
}  // namespace tenex
