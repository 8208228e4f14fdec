// The host side's address rules: where the forwarders of a network listen, and which
// destinations count as public (what an untrusted forward may connect to).
#include <arpa/inet.h>
#include <netinet/in.h>

#include <gtest/gtest.h>

#include "hostnet/network_enforcer.hpp"
#include "hostnet/public_address.hpp"

namespace tenex::hostnet {
namespace {

TEST(ForwarderAddress, GatewayFirstThenFromTheTop) {
    EXPECT_EQ(*forwarder_address("172.20.0.1", "172.20.0.0/16", 0), "172.20.0.1");
    EXPECT_EQ(*forwarder_address("172.20.0.1", "172.20.0.0/16", 1), "172.20.255.254");
    EXPECT_EQ(*forwarder_address("192.168.16.1", "192.168.16.0/20", 2), "192.168.31.253");
    EXPECT_FALSE(forwarder_address("10.0.0.1", "10.0.0.0/30", 1));
    EXPECT_FALSE(forwarder_address("10.0.0.1", "garbage", 1));
}

bool is_public(const char* text) {
    sockaddr_storage ss{};
    if (inet_pton(AF_INET, text, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr) == 1) {
        ss.ss_family = AF_INET;
    } else {
        EXPECT_EQ(inet_pton(AF_INET6, text, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr), 1)
            << text;
        ss.ss_family = AF_INET6;
    }
    return is_public_address(reinterpret_cast<const sockaddr*>(&ss));
}

TEST(PublicAddress, RefusesEverythingLocal) {
    for (const char* a : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
                          "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1",
                          "255.255.255.255", "::1", "::", "fe80::1", "fd00::1", "::ffff:127.0.0.1",
                          "::ffff:10.0.0.1", "192.0.2.1", "198.51.100.1", "203.0.113.1"})
        EXPECT_FALSE(is_public(a)) << a;
    for (const char* a :
         {"1.1.1.1", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:1.1.1.1"})
        EXPECT_TRUE(is_public(a)) << a;
}

}  // namespace
}  // namespace tenex::hostnet
