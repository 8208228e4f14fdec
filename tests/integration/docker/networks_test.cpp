#include <gtest/gtest.h>

#include "docker/containers.hpp"
#include "docker/networks.hpp"
#include "docker_fixture.hpp"

namespace tenex::docker::test {
namespace {

TEST_F(DockerTest, NetworkCreateInspectConnectDisconnectRemove) {
    NetworkSpec spec;
    spec.name = unique_name("net");
    spec.internal = true;
    spec.labels = {{"tenex.test", "1"}, {"tenex.test.run", run_id()}};
    auto net = create_network(client(), spec);
    ASSERT_TRUE(net) << net.error().describe();
    track_network(*net);

    auto dup = create_network(client(), spec);
    ASSERT_FALSE(dup);
    EXPECT_TRUE(dup.error().conflict()) << dup.error().describe();

    auto info = inspect_network(client(), spec.name);
    ASSERT_TRUE(info) << info.error().describe();
    EXPECT_EQ(info->id, *net);
    EXPECT_EQ(info->name, spec.name);
    EXPECT_TRUE(info->internal);
    EXPECT_EQ(info->driver, "bridge");
    EXPECT_EQ(info->labels.at("tenex.test.run"), run_id());
    EXPECT_FALSE(info->subnets.empty());

    auto listed = list_networks(client(), {"tenex.test.run=" + run_id()});
    ASSERT_TRUE(listed);
    bool found = false;
    for (const auto& n : *listed) found |= n.id == *net;
    EXPECT_TRUE(found);

    auto cspec = probe_spec("netc", {"sleep"});
    cspec.network_mode = "bridge";
    auto id = create(cspec);
    {
        auto started = start_container(client(), id);
        ASSERT_TRUE(started) << started.error().describe();
    }
    ASSERT_TRUE(connect_network(client(), *net, id, {"probe"}));
    info = inspect_network(client(), *net);
    ASSERT_TRUE(info);
    ASSERT_EQ(info->containers.count(id), 1u);
    EXPECT_FALSE(info->containers.at(id).empty());
    auto cinfo = inspect_container(client(), id);
    ASSERT_TRUE(cinfo);
    EXPECT_EQ(cinfo->network_ips.count(spec.name), 1u);

    ASSERT_TRUE(disconnect_network(client(), *net, id));
    info = inspect_network(client(), *net);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->containers.count(id), 0u);

    ASSERT_TRUE(remove_network(client(), *net));
    auto gone = inspect_network(client(), *net);
    ASSERT_FALSE(gone);
    EXPECT_TRUE(gone.error().not_found());
}

// Containers on the default bridge reach host services through its gateway. A freshly started
// engine that picked docker0's subnet itself leaves the gateway out of the IPAM config; the
// client must still report it, as the address docker0 has on this host.
TEST_F(DockerTest, DefaultBridgeReportsItsGatewayEvenWhenIpamOmitsIt) {
    auto bridge = inspect_network(client(), "bridge");
    ASSERT_TRUE(bridge) << bridge.error().describe();
    ASSERT_FALSE(bridge->gateways.empty());
    const auto name = bridge->options.at("com.docker.network.bridge.name");
    EXPECT_EQ(bridge->gateways.front(), host_interface_ipv4(name));
}

TEST(HostInterface, Ipv4OfLoopbackAndNoneForAnUnknownInterface) {
    EXPECT_EQ(host_interface_ipv4("lo"), "127.0.0.1");
    EXPECT_EQ(host_interface_ipv4("tenex-no-such-if"), "");
}

}  // namespace
}  // namespace tenex::docker::test
