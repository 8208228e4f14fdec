// The gateway against components nobody here wrote: @nostr-relay/core (served with ws) as the
// upstream relay of the daemon's pool, and nostr-tools as the client inside each container.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "environment.hpp"
#include "gateway/server.hpp"
#include "node_peer.hpp"
#include "nostr/keys.hpp"
#include "relay/pool.hpp"

namespace tenex::gateway {
namespace {

using namespace std::chrono_literals;
using relay::testing::lines;
using relay::testing::NodeProcess;
using relay::testing::run_node;

std::int64_t now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::set<std::string> contents(const std::string& out) {
    std::set<std::string> s;
    for (const auto& l : lines(out)) {
        if (l == "eose") continue;
        auto e = nostr::parse_event(l);
        EXPECT_TRUE(e) << l;
        if (e) s.insert(e->content);
    }
    return s;
}

class GatewayInterop : public ::testing::Test {
  protected:
    void SetUp() override {
        TENEX_REQUIRE_RELAY_PEERS();
        upstream = NodeProcess::start("relay.mjs", {});
        ASSERT_EQ(upstream->first_line().rfind("ws://127.0.0.1:", 0), 0u) << upstream->first_line();
        ASSERT_TRUE(pool.add_relay(upstream->first_line()));
        ASSERT_TRUE(pool.wait_connected(1, 10s));
        auto g = Gateway::start(GatewayOptions{}, pool);
        ASSERT_TRUE(g) << g.error().message;
        gw = std::move(*g);
        gw->set_reserved_keys({owner.pub.hex()});
        alpha = nostr::Address{31933, owner.pub.hex(), "alpha"}.to_string();
        beta = nostr::Address{31933, owner.pub.hex(), "beta"}.to_string();
        secret_a =
            gw->open_project(ProjectKeys{*nostr::Address::parse(alpha), {agent_a.pub.hex()}, {}});
        secret_b =
            gw->open_project(ProjectKeys{*nostr::Address::parse(beta), {agent_b.pub.hex()}, {}});
        // The owner publishes both projects and a message for each (through our pool).
        for (auto [kind, tags, content] :
             std::vector<std::tuple<int, std::vector<nostr::Tag>, std::string>>{
                 {31933, {{"d", "alpha"}}, "project alpha"},
                 {31933, {{"d", "beta"}}, "project beta"},
                 {1, {{"a", alpha}}, "to alpha"},
                 {1, {{"a", beta}}, "to beta"},
                 {1, {{"p", agent_b.pub.hex()}}, "to beta's agent"}}) {
            nostr::UnsignedEvent u;
            u.kind = static_cast<std::uint32_t>(kind);
            u.tags = tags;
            u.content = content;
            auto e = nostr::sign_event(u, owner);
            ASSERT_TRUE(e);
            auto r = pool.publish(*e, 10s).get();
            ASSERT_TRUE(r.any_accepted()) << content;
        }
    }
    std::string url(const std::string& secret) { return gw->url_for("127.0.0.1", secret); }
    std::string publish(const std::string& secret, const nostr::Keys& k, const std::string& tags) {
        auto r = run_node("gateway-client.mjs",
                          {"publish", url(secret), k.secret.reveal_hex(), "1", "hi", tags});
        EXPECT_EQ(r.exit_code, 0) << r.out;
        return lines(r.out).empty() ? "" : lines(r.out).front();
    }

    std::unique_ptr<NodeProcess> upstream;
    relay::RelayPool pool;
    std::unique_ptr<Gateway> gw;
    nostr::Keys owner = nostr::Keys::generate();
    nostr::Keys agent_a = nostr::Keys::generate();
    nostr::Keys agent_b = nostr::Keys::generate();
    std::string alpha, beta, secret_a, secret_b;
};

TEST_F(GatewayInterop, TwoProjectsOfOneOwnerEachSeeOnlyTheirOwn) {
    const std::string filter = R"({"kinds":[0,1,31933]})";
    auto a = run_node("gateway-client.mjs", {"query", url(secret_a), filter});
    auto b = run_node("gateway-client.mjs", {"query", url(secret_b), filter});
    ASSERT_EQ(a.exit_code, 0) << a.out;
    ASSERT_EQ(b.exit_code, 0) << b.out;
    EXPECT_EQ(contents(a.out), (std::set<std::string>{"project alpha", "to alpha"}));
    EXPECT_EQ(contents(b.out),
              (std::set<std::string>{"project beta", "to beta", "to beta's agent"}));
}

TEST_F(GatewayInterop, WritesOutsideTheScopeOrWithTheOthersKeyGetOkFalse) {
    auto runtime_key = nostr::Keys::generate();
    EXPECT_EQ(publish(secret_a, runtime_key, R"([["a",")" + alpha + R"("]])"), "ok");
    EXPECT_EQ(publish(secret_a, runtime_key, R"([["a",")" + beta + R"("]])"),
              "refused: restricted: a-tags another project");
    EXPECT_EQ(publish(secret_b, runtime_key, R"([["a",")" + beta + R"("]])"),
              "refused: restricted: author belongs to another project");
    EXPECT_EQ(publish(secret_b, agent_a, R"([["a",")" + beta + R"("]])"),
              "refused: restricted: author belongs to another project");
    EXPECT_EQ(publish(secret_b, owner, R"([["a",")" + beta + R"("]])"),
              "refused: restricted: this key cannot write through a project gateway");
    // What alpha wrote is upstream, and beta does not see it.
    auto up = run_node("client.mjs", {"query", upstream->first_line(),
                                      R"({"authors":[")" + runtime_key.pub.hex() + R"("]})"});
    EXPECT_EQ(lines(up.out).size(), 1u) << up.out;
    auto b = run_node("gateway-client.mjs", {"query", url(secret_b), R"({"kinds":[1]})"});
    EXPECT_EQ(contents(b.out).count("hi"), 0u);
    auto st = gw->stats();
    EXPECT_EQ(st.writes_accepted, 1u);
    EXPECT_EQ(st.writes_refused["out_of_scope"], 1u);
    EXPECT_EQ(st.writes_refused["foreign_key"], 2u);
    EXPECT_EQ(st.writes_refused["reserved_key"], 1u);
}

TEST_F(GatewayInterop, AThirdPartyEventTaggingTheProjectArrivesLive) {
    auto out = std::filesystem::temp_directory_path() /
               ("gw-live-" + std::to_string(::getpid()) + ".jsonl");
    std::filesystem::remove(out);
    const std::string filter = R"({"kinds":[1],"since":)" + std::to_string(now_s()) + "}";
    auto la = NodeProcess::start("gateway-client.mjs",
                                 {"listen", url(secret_a), filter, out.string() + ".a", "4000"});
    auto lb = NodeProcess::start("gateway-client.mjs",
                                 {"listen", url(secret_b), filter, out.string() + ".b", "4000"});
    ASSERT_EQ(la->first_line(), "eose");
    ASSERT_EQ(lb->first_line(), "eose");
    auto third = nostr::Keys::generate();
    // nostr-tools publishes straight to the upstream relay, as any third party would.
    for (const auto& [addr, content] :
         {std::pair{alpha, "live for alpha"}, std::pair{beta, "live for beta"}}) {
        auto r = run_node("gateway-client.mjs",
                          {"publish", upstream->first_line(), third.secret.reveal_hex(), "1",
                           content, R"([["a",")" + addr + R"("]])"});
        ASSERT_EQ(lines(r.out), std::vector<std::string>{"ok"});
    }
    auto read = [](const std::filesystem::path& p) {
        std::ifstream in(p);
        return std::string(std::istreambuf_iterator<char>(in), {});
    };
    std::set<std::string> got_a, got_b;
    for (int i = 0; i < 100 && (got_a.empty() || got_b.empty()); ++i) {
        std::this_thread::sleep_for(50ms);
        got_a = contents(read(out.string() + ".a"));
        got_b = contents(read(out.string() + ".b"));
    }
    std::this_thread::sleep_for(300ms);
    got_a = contents(read(out.string() + ".a"));
    got_b = contents(read(out.string() + ".b"));
    EXPECT_EQ(got_a, std::set<std::string>{"live for alpha"});
    EXPECT_EQ(got_b, std::set<std::string>{"live for beta"});
    std::filesystem::remove(out.string() + ".a");
    std::filesystem::remove(out.string() + ".b");
}

// The daemon restarts (kill -9, upgrade) while a container is connected: the container keeps
// its secret, and a client that does not send its REQs again after reconnecting (the TENEX
// backend's NDK) keeps receiving under its old subscription id, live events and the ones the
// daemon routed to the project while it was away. A new container (new secret) starts clean.
TEST_F(GatewayInterop, AReconnectingContainerKeepsItsSubscriptionsAcrossADaemonRestart) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("gw-resume-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    GatewayOptions o;
    o.bindings_db = dir / "state.sqlite3";
    auto g = Gateway::start(o, pool);
    ASSERT_TRUE(g) << g.error().message;
    o.port = (*g)->port();
    const std::string secret =
        (*g)->open_project(ProjectKeys{*nostr::Address::parse(alpha), {}, {}});
    const std::string filter = R"({"kinds":[1],"#a":[")" + alpha + R"("],"limit":0})";
    const auto out = dir / "client.txt";
    auto client = NodeProcess::start(
        "gateway-client.mjs",
        {"resume", (*g)->url_for("127.0.0.1", secret), filter, out.string(), "15000"});
    ASSERT_EQ(client->first_line(), "subscribed");
    auto sign_for_alpha = [&](const std::string& content) {
        nostr::UnsignedEvent u;
        u.kind = 1;
        u.tags = {{"a", alpha}};
        u.content = content;
        auto e = nostr::sign_event(u, owner);
        EXPECT_TRUE(e);
        return *e;
    };
    g->reset();  // the daemon goes away; the client reconnects in a loop
    // Routed to the project while the daemon was away: the restarted daemon's monitor sees it.
    const auto away = sign_for_alpha("while the daemon was away");
    ASSERT_TRUE(pool.publish(away, 10s).get().any_accepted());
    auto again = Gateway::start(o, pool);
    ASSERT_TRUE(again) << again.error().message;
    (*again)->hold_for_project(alpha, away);
    auto read = [&] {
        std::ifstream in(out);
        return lines(std::string(std::istreambuf_iterator<char>(in), {}));
    };
    auto has = [&](const std::string& line) {
        for (int i = 0; i < 100; ++i) {
            auto l = read();
            if (std::find(l.begin(), l.end(), line) != l.end()) return true;
            std::this_thread::sleep_for(50ms);
        }
        return false;
    };
    ASSERT_TRUE(has("reconnected"));
    EXPECT_TRUE(has("kept while the daemon was away")) << ::testing::PrintToString(read());
    ASSERT_TRUE(pool.publish(sign_for_alpha("live after the restart"), 10s).get().any_accepted());
    EXPECT_TRUE(has("kept live after the restart")) << ::testing::PrintToString(read());
    // Another container of the project (a new secret): the old subscriptions are not resumed.
    const std::string fresh =
        (*again)->open_project(ProjectKeys{*nostr::Address::parse(alpha), {}, {}});
    auto probe = run_node("gateway-client.mjs",
                          {"query", (*again)->url_for("127.0.0.1", fresh), R"({"kinds":[31933]})"});
    EXPECT_EQ(contents(probe.out), std::set<std::string>{"project alpha"});
    client->kill();
    std::filesystem::remove_all(dir);
}

TEST_F(GatewayInterop, AWrongSecretGetsANoticeAndTheOldSecretStopsAfterRotation) {
    auto wrong = run_node("gateway-client.mjs", {"probe", url(std::string(64, 'f'))});
    EXPECT_EQ(lines(wrong.out),
              (std::vector<std::string>{"notice: restricted: unknown gateway secret", "closed"}));
    auto missing = run_node("gateway-client.mjs",
                            {"probe", "ws://127.0.0.1:" + std::to_string(gw->port()) + "/"});
    EXPECT_EQ(lines(missing.out),
              (std::vector<std::string>{"notice: restricted: unknown gateway secret", "closed"}));
    // The container is replaced: a new secret; the old one is refused, the new one works.
    const std::string fresh =
        gw->open_project(ProjectKeys{*nostr::Address::parse(alpha), {agent_a.pub.hex()}, {}});
    auto old = run_node("gateway-client.mjs", {"probe", url(secret_a)});
    EXPECT_EQ(lines(old.out),
              (std::vector<std::string>{"notice: restricted: unknown gateway secret", "closed"}));
    auto now = run_node("gateway-client.mjs", {"query", url(fresh), R"({"kinds":[31933]})"});
    EXPECT_EQ(contents(now.out), std::set<std::string>{"project alpha"});
    EXPECT_GE(gw->stats().refused_connections, 3u);
}

}  // namespace
}  // namespace tenex::gateway
