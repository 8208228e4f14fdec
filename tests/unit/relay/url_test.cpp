#include <gtest/gtest.h>

#include "relay/url.hpp"

namespace tenex::relay {
namespace {

TEST(RelayUrl, ParsesAndNormalizes) {
    auto u = RelayUrl::parse("WSS://Relay.Example.com/");
    ASSERT_TRUE(u.ok());
    EXPECT_TRUE(u->tls);
    EXPECT_EQ(u->host, "relay.example.com");
    EXPECT_EQ(u->port, 443);
    EXPECT_EQ(u->normalized, "wss://relay.example.com/");
    auto l = RelayUrl::parse("ws://127.0.0.1:7777");
    ASSERT_TRUE(l.ok());
    EXPECT_EQ(l->port, 7777);
    EXPECT_EQ(l->path, "/");
    EXPECT_EQ(l->normalized, "ws://127.0.0.1:7777/");
    auto v6 = RelayUrl::parse("ws://[::1]:80/x?y=1");
    ASSERT_TRUE(v6.ok());
    EXPECT_EQ(v6->host, "::1");
    EXPECT_EQ(v6->path, "/x?y=1");
    EXPECT_EQ(v6->normalized, "ws://[::1]/x?y=1");
}

TEST(RelayUrl, RejectsBadUrlsWithoutEchoingCredentials) {
    for (const char* bad : {"http://x", "x", "ws://", "ws://:80", "ws://h:0", "ws://h:99999",
                            "ws://h:8a", "ws://h x", "ws://[::1", "ws://[::1]x"})
        EXPECT_FALSE(RelayUrl::parse(bad).ok()) << bad;
    auto cred = RelayUrl::parse("wss://user:secretpw@relay.example.com");
    ASSERT_FALSE(cred.ok());
    EXPECT_EQ(cred.error().message.find("secretpw"), std::string::npos);
}

// Found by the configuration fuzzer: a raw byte past ASCII (here not even UTF-8) was accepted and
// then broke the JSON that carries the URL.
TEST(RelayUrl, RejectsNonAsciiBytes) {
    for (const char* bad :
         {"wss://relay.d\xffnamus.io", "wss://r\xc3\xa9lay.example", "ws://h/\xe2\x82"})
        EXPECT_FALSE(RelayUrl::parse(bad).ok()) << bad;
    EXPECT_TRUE(RelayUrl::parse("wss://xn--rlay-bpa.example/%C3%A9").ok());
}

}  // namespace
}  // namespace tenex::relay
