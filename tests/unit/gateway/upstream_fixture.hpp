// What every gateway test starts from: the embedded relay as the upstream and the daemon's
// pool connected to it.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "relay/pool.hpp"
#include "relay/server.hpp"

namespace tenex::gateway {

class UpstreamRelayTest : public ::testing::Test {
  protected:
    void SetUp() override {
        relay::RelayServerOptions ro;
        ro.port = 0;
        auto r = relay::EmbeddedRelay::start(ro);
        ASSERT_TRUE(r) << r.error().message;
        upstream = std::move(*r);
        ASSERT_TRUE(pool.add_relay(upstream->url()));
        ASSERT_TRUE(pool.wait_connected(1, std::chrono::seconds(3)));
    }

    std::unique_ptr<relay::EmbeddedRelay> upstream;
    relay::RelayPool pool;
};

}  // namespace tenex::gateway
