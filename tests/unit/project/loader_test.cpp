// ProjectLoader end to end in-process: the embedded relay (our own server) on loopback, the
// real RelayPool, a WorkspaceManager in a temporary directory.
#include "project/loader.hpp"

#include "nostr/keys.hpp"
#include "nostr/verify.hpp"
#include "project/agent_keys.hpp"
#include "project/events.hpp"
#include "relay/server.hpp"

#include "environment.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <set>

namespace tenex::project {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

nlohmann::json read_json(const fs::path& p) {
    std::ifstream in(p);
    return nlohmann::json::parse(in);
}

struct LoaderTest : ::testing::Test {
    test::TempDir tmp;
    std::unique_ptr<relay::EmbeddedRelay> server;
    std::unique_ptr<relay::RelayPool> pool;
    std::unique_ptr<WorkspaceManager> manager;
    nostr::Keys owner = nostr::Keys::generate();

    void SetUp() override {
        relay::RelayServerOptions o;
        o.port = 0;
        auto r = relay::EmbeddedRelay::start(o);
        ASSERT_TRUE(r.ok()) << r.error().message;
        server = std::move(*r);
        pool = std::make_unique<relay::RelayPool>();
        ASSERT_TRUE(pool->add_relay(server->url()).ok());
        ASSERT_TRUE(pool->wait_connected(1, 5s));
        WorkspaceConfig config;
        config.projects_root = tmp.path() / "projects";
        manager = std::make_unique<WorkspaceManager>(config, nostr_key_generator(),
                                                     BackoffPolicy{10ms, 10ms});
    }

    nostr::Event publish(const nostr::Keys& by, std::uint32_t kind, std::vector<nostr::Tag> tags,
                         std::string content, std::optional<std::int64_t> at = {}) {
        nostr::UnsignedEvent u;
        u.kind = kind;
        u.tags = std::move(tags);
        u.content = std::move(content);
        u.created_at = at;
        auto e = nostr::sign_event(std::move(u), by);
        EXPECT_TRUE(e.ok());
        auto result = pool->publish(*e, 5s).get();
        EXPECT_TRUE(result.any_accepted())
            << (result.relays.empty() ? "" : result.relays[0].message);
        return *e;
    }

    std::vector<nostr::Event> profiles_on_relay(const std::vector<std::string>& pubkeys) {
        nostr::Filter f;
        f.kinds = std::vector<std::uint32_t>{0};
        f.authors = pubkeys;
        return pool->fetch({f}, 3s).get();
    }
};

TEST_F(LoaderTest, LoadsAWorkspaceAndPublishesProfilesOnce) {
    nostr::Keys author = nostr::Keys::generate();
    auto a1 = publish(author, kAgentDefinitionKind,
                      {{"title", "Planner"}, {"role", "plans"}, {"description", "makes plans"}},
                      "plan well");
    auto t1 =
        publish(author, kMcpToolKind, {{"name", "files"}, {"command", "files-mcp --root ."}}, "");
    const std::int64_t t0 = 1700000000;
    publish(owner, kProjectKind,
            {{"d", "alpha"}, {"title", "Alpha"}, {"agent", a1.id}, {"mcp", t1.id}}, "first", t0);

    LoaderOptions options;
    options.fetch_timeout = 2000ms;
    options.profiles_per_second = 20;
    ProjectLoader loader(*pool, *manager, options);
    nostr::Address address{kProjectKind, owner.pub.hex(), "alpha"};
    auto ws = loader.load(address);
    ASSERT_TRUE(ws.ok()) << ws.error().message;
    EXPECT_TRUE(ws->created);
    EXPECT_EQ(read_json(ws->path / ".tenex" / "config.json").at("description"), "first");
    auto agents = read_json(ws->path / ".tenex" / "agents.json");
    ASSERT_TRUE(agents.contains("planner"));
    EXPECT_TRUE(read_json(ws->path / ".tenex" / "mcp.json").at("servers").contains("files"));

    ASSERT_TRUE(loader.profiles()->wait_idle(5s));
    EXPECT_EQ(loader.profiles()->published(), 1U);
    auto key = nostr::SecretKey::parse(agents["planner"]["nsec"].get<std::string>());
    ASSERT_TRUE(key.ok());
    const std::string agent_pub = key->public_key().hex();
    auto profiles = profiles_on_relay({agent_pub});
    ASSERT_EQ(profiles.size(), 1U);
    EXPECT_TRUE(nostr::verify_event(profiles[0]).ok());
    EXPECT_EQ(nlohmann::json::parse(profiles[0].content).at("name"), "Planner");

    // Same again: nothing new is published.
    auto again = loader.load(address);
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_FALSE(again->created);
    ASSERT_TRUE(loader.profiles()->wait_idle(5s));
    EXPECT_EQ(loader.profiles()->published(), 1U);

    // A newer project event with one more agent: config refreshed, agent added, one more profile.
    auto a2 =
        publish(author, kAgentDefinitionKind, {{"title", "Coder"}, {"role", "codes"}}, "code well");
    publish(
        owner, kProjectKind,
        {{"d", "alpha"}, {"title", "Alpha"}, {"agent", a1.id}, {"agent", a2.id}, {"mcp", t1.id}},
        "second", t0 + 10);
    auto third = loader.load(address);
    ASSERT_TRUE(third.ok()) << third.error().message;
    EXPECT_EQ(read_json(ws->path / ".tenex" / "config.json").at("description"), "second");
    auto agents2 = read_json(ws->path / ".tenex" / "agents.json");
    EXPECT_EQ(agents2["planner"]["nsec"], agents["planner"]["nsec"]);
    ASSERT_TRUE(agents2.contains("coder"));
    ASSERT_TRUE(loader.profiles()->wait_idle(5s));
    EXPECT_EQ(loader.profiles()->published(), 2U);
}

TEST_F(LoaderTest, ProjectNotFoundNamesAddressAndRelaysWithinTheTimeout) {
    LoaderOptions options;
    options.fetch_timeout = 1000ms;
    ProjectLoader loader(*pool, *manager, options);
    nostr::Address address{kProjectKind, owner.pub.hex(), "missing"};
    const auto start = std::chrono::steady_clock::now();
    auto ws = loader.load(address);
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(ws.ok());
    EXPECT_NE(ws.error().message.find(address.to_string()), std::string::npos)
        << ws.error().message;
    EXPECT_NE(ws.error().message.find(server->url()), std::string::npos) << ws.error().message;
    EXPECT_LT(took, 3s);
    EXPECT_FALSE(fs::exists(tmp.path() / "projects" / "missing"));
}

TEST_F(LoaderTest, ConcurrentLoadsOfOneProjectAllGetTheOneWorkspace) {
    publish(owner, kProjectKind, {{"d", "busy"}, {"title", "Busy"}}, "one");
    ProjectLoader loader(*pool, *manager, {});
    nostr::Address address{kProjectKind, owner.pub.hex(), "busy"};
    std::vector<std::thread> threads;
    std::mutex mu;
    std::set<std::string> paths;
    int ok = 0;
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([&] {
            auto r = loader.load(address);
            std::lock_guard lock(mu);
            if (r) {
                ++ok;
                paths.insert(r->path.string());
            }
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok, 4);
    ASSERT_EQ(paths.size(), 1U);
    // Exactly one project directory under the owner's folder.
    int dirs = 0;
    for (const auto& e : fs::directory_iterator(fs::path(*paths.begin()).parent_path()))
        dirs += e.is_directory();
    EXPECT_EQ(dirs, 1);
}

}  // namespace
}  // namespace tenex::project
