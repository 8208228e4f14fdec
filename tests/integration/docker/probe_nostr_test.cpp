// The probe image's Nostr mode, in a real container on the default bridge, against an
// embedded relay this process runs on docker0's gateway address. The container reaches the
// relay by a host name (ExtraHosts), so name resolution inside the image is covered too.
#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <thread>

#include "docker/containers.hpp"
#include "docker/logs.hpp"
#include "docker/networks.hpp"
#include "docker_fixture.hpp"
#include "nostr/keys.hpp"
#include "nostr/verify.hpp"
#include "relay/pool.hpp"
#include "relay/server.hpp"

namespace tenex::docker::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kRelayHost = "tenex-relay.test";

std::int64_t now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

bool has_tag(const nostr::Event& e, const nostr::Tag& tag) {
    return std::find(e.tags.begin(), e.tags.end(), tag) != e.tags.end();
}

// Every event the test's own subscription sees, by arrival.
class Seen {
  public:
    void add(const nostr::Event& e) {
        std::lock_guard lock(mu_);
        events_.push_back(e);
    }
    std::vector<nostr::Event> matching(const std::function<bool(const nostr::Event&)>& pred) {
        std::lock_guard lock(mu_);
        std::vector<nostr::Event> out;
        std::copy_if(events_.begin(), events_.end(), std::back_inserter(out), pred);
        return out;
    }

  private:
    std::mutex mu_;
    std::vector<nostr::Event> events_;
};

class ProbeNostrTest : public DockerTest {
  protected:
    void SetUp() override {
        DockerTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        auto bridge = inspect_network(client(), "bridge");
        ASSERT_TRUE(bridge) << bridge.error().describe();
        ASSERT_FALSE(bridge->gateways.empty()) << "the default bridge has no gateway";
        gateway_ = bridge->gateways.front();
        relay::RelayServerOptions options;
        options.host = gateway_;  // reachable from containers on the default bridge
        options.port = 0;
        auto started = relay::EmbeddedRelay::start(options);
        ASSERT_TRUE(started) << started.error().message;
        relay_ = std::move(*started);
        address_ = "31933:" + owner_.pub.hex() + ":" + project_d_;
    }

    void TearDown() override {
        DockerTest::TearDown();  // containers first, then the relay they talk to
        pool_.reset();
        relay_.reset();
    }

    // The test's own client: subscribes to everything tagged with the project.
    void connect_test_client() {
        pool_ = std::make_unique<relay::RelayPool>();
        ASSERT_TRUE(pool_->add_relay(relay_->url()).ok());
        ASSERT_TRUE(pool_->wait_connected(1, 5s));
        nostr::Filter filter;
        filter.tags['a'] = {address_};
        ASSERT_TRUE(pool_
                        ->subscribe("test", {filter},
                                    [this](const relay::DeliveredEvent& d) { seen_.add(d.event); })
                        .ok());
    }

    ContainerSpec nostr_spec(const std::string& suffix, std::vector<std::string> env) {
        auto spec = probe_spec(suffix, {"nostr"});
        spec.network_mode = "bridge";
        spec.extra_hosts = {std::string(kRelayHost) + ":" + gateway_};
        spec.read_only_rootfs = true;
        spec.cap_drop = {"ALL"};
        spec.env = std::move(env);
        return spec;
    }

    std::string run(const ContainerSpec& spec) {
        auto id = create(spec);
        if (id.empty()) return id;
        auto started = start_container(client(), id);
        EXPECT_TRUE(started) << started.error().describe();
        return id;
    }

    Logs logs(const std::string& id) {
        auto l = container_logs(client(), id);
        EXPECT_TRUE(l) << l.error().describe();
        return l ? *l : Logs{};
    }

    bool log_has_line(const std::string& id, const std::string& line) {
        return ("\n" + logs(id).out).find("\n" + line + "\n") != std::string::npos;
    }

    nostr::Event message(const std::string& text, const std::string& address) {
        nostr::UnsignedEvent u;
        u.kind = 1;
        u.content = text;
        u.tags = {{"a", address}};
        auto e = nostr::sign_event(std::move(u), user_);
        EXPECT_TRUE(e) << e.error().message;
        return *e;
    }

    std::vector<nostr::Event> replies_to(const std::string& event_id, const std::string& probe) {
        return seen_.matching([&](const nostr::Event& e) {
            return e.kind == 1 && e.pubkey == probe && has_tag(e, {"e", event_id, "", "reply"});
        });
    }

    std::string gateway_;
    std::unique_ptr<relay::EmbeddedRelay> relay_;
    Seen seen_;  // outlives the pool that calls into it
    std::unique_ptr<relay::RelayPool> pool_;
    nostr::Keys owner_ = nostr::Keys::generate();
    nostr::Keys user_ = nostr::Keys::generate();
    nostr::Keys probe_ = nostr::Keys::generate();
    std::string project_d_ = "probe-nostr-" + run_id();
    std::string address_;
};

TEST_F(ProbeNostrTest, PublishesStatusAndRepliesOnceToEachMessageOfItsProject) {
    connect_test_client();
    const std::string probe_pub = probe_.pub.hex();
    const auto started_at = now_s();
    auto id = run(nostr_spec("nostr", {
                                          "TENEX_PROJECT_ADDRESS=" + address_,
                                          "TENEX_RELAYS=ws://" + std::string(kRelayHost) + ":" +
                                              std::to_string(relay_->port()),
                                          "TENEX_PROBE_KEY=" + probe_.secret.reveal_nsec(),
                                          "TENEX_STATUS_INTERVAL=2",
                                      }));
    ASSERT_FALSE(id.empty());
    ASSERT_TRUE(eventually([&] { return log_has_line(id, "nostr_pubkey=" + probe_pub); }, 10s))
        << logs(id).out << logs(id).err;

    // The status heartbeat: tags, content, signature, and again after the interval.
    auto statuses = [&] {
        return seen_.matching([&](const nostr::Event& e) { return e.kind == 24010; });
    };
    ASSERT_TRUE(eventually([&] { return statuses().size() >= 2; }, 20s))
        << "stdout:\n"
        << logs(id).out << "stderr:\n"
        << logs(id).err;
    for (const auto& status : statuses()) {
        EXPECT_EQ(status.pubkey, probe_pub);
        EXPECT_TRUE(nostr::verify_event(status).ok()) << status.id;
        EXPECT_TRUE(has_tag(status, {"a", address_}));
        EXPECT_TRUE(has_tag(status, {"p", owner_.pub.hex()}));
        EXPECT_TRUE(has_tag(status, {"agent", probe_pub, "probe"}));
        EXPECT_EQ(status.content, R"({"status":"running","runtime":"tenex-probe"})");
        EXPECT_GE(status.created_at, started_at - 2);
    }
    const auto first_status = statuses().front().id;
    EXPECT_TRUE(eventually([&] { return log_has_line(id, "nostr_status=" + first_status); }, 5s));

    // A message of the project gets a reply; so does a second one; another project's none.
    auto first = message("hello probe", address_);
    ASSERT_TRUE(pool_->publish(first, 5s).get().any_accepted());
    ASSERT_TRUE(eventually([&] { return !replies_to(first.id, probe_pub).empty(); }, 15s))
        << "stdout:\n"
        << logs(id).out << "stderr:\n"
        << logs(id).err;
    auto reply = replies_to(first.id, probe_pub).front();
    EXPECT_TRUE(nostr::verify_event(reply).ok());
    EXPECT_TRUE(has_tag(reply, {"a", address_}));
    EXPECT_TRUE(has_tag(reply, {"p", user_.pub.hex()}));
    EXPECT_EQ(reply.content, "tenex-probe " + project_d_ + ": received " + first.id);
    EXPECT_TRUE(eventually(
        [&] { return log_has_line(id, "nostr_reply=" + reply.id + " to=" + first.id); }, 5s))
        << logs(id).out;

    const std::string other_address = "31933:" + owner_.pub.hex() + ":" + project_d_ + "-other";
    auto other = message("not for you", other_address);
    ASSERT_TRUE(pool_->publish(other, 5s).get().any_accepted());
    auto second = message("hello again", address_);
    ASSERT_TRUE(pool_->publish(second, 5s).get().any_accepted());
    ASSERT_TRUE(eventually([&] { return !replies_to(second.id, probe_pub).empty(); }, 15s))
        << logs(id).out << logs(id).err;
    EXPECT_NE(replies_to(second.id, probe_pub).front().id, reply.id);

    // The other project's message was delivered before the second one; give a stray reply
    // time to show anyway, then check: none for it, and exactly one for each of ours.
    std::this_thread::sleep_for(1500ms);
    EXPECT_TRUE(replies_to(other.id, probe_pub).empty());
    EXPECT_EQ(logs(id).out.find("to=" + other.id), std::string::npos);
    EXPECT_EQ(replies_to(first.id, probe_pub).size(), 1u);
    EXPECT_EQ(replies_to(second.id, probe_pub).size(), 1u);
    // The probe never answers its own replies (they are kind 1 tagged with the project).
    for (const auto& r :
         seen_.matching([&](const nostr::Event& e) { return e.pubkey == probe_pub; }))
        EXPECT_TRUE(replies_to(r.id, probe_pub).empty()) << r.id;

    // SIGTERM: exits 0, promptly.
    const auto stop_start = std::chrono::steady_clock::now();
    auto stopped = stop_container(client(), id, 10);
    ASSERT_TRUE(stopped) << stopped.error().describe();
    EXPECT_LT(std::chrono::steady_clock::now() - stop_start, 3s);
    auto info = inspect_container(client(), id);
    ASSERT_TRUE(info) << info.error().describe();
    EXPECT_EQ(info->state.exit_code, 0);
    EXPECT_TRUE(log_has_line(id, "terminated=1"));
}

TEST_F(ProbeNostrTest, GeneratesAKeyWhenNoneIsGiven) {
    connect_test_client();
    auto id = run(nostr_spec("nostr-genkey", {
                                                 "TENEX_PROJECT_ADDRESS=" + address_,
                                                 "TENEX_RELAYS=ws://" + std::string(kRelayHost) +
                                                     ":" + std::to_string(relay_->port()),
                                             }));
    ASSERT_FALSE(id.empty());
    std::string pub;
    ASSERT_TRUE(eventually(
        [&] {
            auto out = logs(id).out;
            auto at = out.find("nostr_pubkey=");
            if (at == std::string::npos || out.size() < at + 13 + 64) return false;
            pub = out.substr(at + 13, 64);
            return true;
        },
        10s))
        << logs(id).err;
    ASSERT_TRUE(nostr::PublicKey::from_hex(pub).ok()) << pub;
    ASSERT_TRUE(eventually(
        [&] {
            return !seen_
                        .matching([&](const nostr::Event& e) {
                            return e.kind == 24010 && e.pubkey == pub;
                        })
                        .empty();
        },
        15s))
        << logs(id).out << logs(id).err;
}

struct BadEnvCase {
    const char* name;
    std::vector<std::string> env;
    const char* reason;  // expected on stderr
};

TEST_F(ProbeNostrTest, BadEnvironmentExitsTwoWithTheReason) {
    const std::string relays =
        "TENEX_RELAYS=ws://" + std::string(kRelayHost) + ":" + std::to_string(relay_->port());
    const std::vector<BadEnvCase> cases = {
        {"no-relays", {"TENEX_PROJECT_ADDRESS=" + address_}, "TENEX_RELAYS is not set"},
        {"no-address", {relays}, "TENEX_PROJECT_ADDRESS is not set"},
        {"bad-address",
         {"TENEX_PROJECT_ADDRESS=31933:nothex:x", relays},
         "TENEX_PROJECT_ADDRESS: "},
        {"bad-relay",
         {"TENEX_PROJECT_ADDRESS=" + address_, "TENEX_RELAYS=http://example.test"},
         "TENEX_RELAYS: "},
        {"bad-key",
         {"TENEX_PROJECT_ADDRESS=" + address_, relays, "TENEX_PROBE_KEY=nsec1nope"},
         "TENEX_PROBE_KEY: "},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        auto id = run(nostr_spec(std::string("nostr-") + c.name, c.env));
        ASSERT_FALSE(id.empty());
        auto waited = wait_container(client(), id, WaitCondition::NotRunning, 20s);
        ASSERT_TRUE(waited) << waited.error().describe();
        EXPECT_EQ(waited->status_code, 2);
        auto l = logs(id);
        EXPECT_NE(l.err.find(c.reason), std::string::npos) << l.err;
        EXPECT_EQ(l.err.find("nsec1nope"), std::string::npos) << "the key leaked: " << l.err;
    }
}

}  // namespace
}  // namespace tenex::docker::test
