// Interop (issue 8): a TENEX project published by nostr-tools to a relay nobody here wrote
// (@nostr-relay/core served with ws) becomes a correct workspace through ProjectLoader, and
// the agents' kind 0 profiles appear on that relay, verified by nostr-tools.
#include "project/loader.hpp"

#include "node_peer.hpp"
#include "nostr/keys.hpp"
#include "nostr/verify.hpp"
#include "project/agent_keys.hpp"
#include "project/events.hpp"

#include "environment.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/stat.h>
#include <fstream>
#include <map>
#include <set>

namespace tenex::project {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using json = nlohmann::json;
using relay::testing::NodeProcess;
using relay::testing::run_node;
using relay::testing::run_program;

json read_json(const fs::path& p) {
    std::ifstream in(p);
    return json::parse(in);
}
// Tags as a JSON array of arrays (a braced list of pairs would become a JSON object).
json tags_json(const std::vector<nostr::Tag>& tags) {
    json out = json::array();
    for (const auto& t : tags) out.push_back(t);
    return out;
}
std::string read_text(const fs::path& p) {
    std::ifstream in(p);
    return {std::istreambuf_iterator<char>(in), {}};
}

struct ProjectInterop : ::testing::Test {
    test::TempDir tmp;
    std::unique_ptr<NodeProcess> node_relay;
    std::string url;
    std::unique_ptr<relay::RelayPool> pool;
    std::unique_ptr<WorkspaceManager> manager;
    nostr::Keys owner = nostr::Keys::generate();
    nostr::Keys author = nostr::Keys::generate();

    void SetUp() override {
        TENEX_REQUIRE_RELAY_PEERS();
        node_relay = NodeProcess::start("relay.mjs", {});
        ASSERT_TRUE(node_relay);
        url = node_relay->first_line();
        ASSERT_EQ(url.rfind("ws://127.0.0.1:", 0), 0U) << url;
        pool = std::make_unique<relay::RelayPool>();
        ASSERT_TRUE(pool->add_relay(url).ok());
        ASSERT_TRUE(pool->wait_connected(1, 10s));
        WorkspaceConfig config;
        config.projects_root = tmp.path() / "projects";
        manager = std::make_unique<WorkspaceManager>(config, nostr_key_generator(),
                                                     BackoffPolicy{10ms, 10ms});
    }

    // Signs and publishes with nostr-tools; returns the events as nostr-tools made them.
    std::vector<nostr::Event> publish(const json& spec) {
        auto r = run_program(
            "node", {TENEX_PROJECT_PUBLISH_SCRIPT, relay::testing::peers_dir(), url, spec.dump()});
        EXPECT_EQ(r.exit_code, 0) << r.out;
        std::vector<nostr::Event> out;
        for (const auto& line : relay::testing::lines(r.out)) {
            auto e = nostr::parse_and_verify(line);
            EXPECT_TRUE(e.ok()) << line;
            if (e) out.push_back(*e);
        }
        EXPECT_EQ(out.size(), spec.size());
        return out;
    }
    json agent_spec(const std::string& title, const std::string& role) {
        return {
            {"sk", author.secret.reveal_hex()},
            {"kind", kAgentDefinitionKind},
            {"content", ""},
            {"tags", tags_json({{"title", title},
                                {"role", role},
                                {"description", title + " description"},
                                {"instructions", "You are " + title + ". Say \"hi\"\nthen work."},
                                {"use-criteria", "when " + role + " is needed"},
                                {"ver", "2"}})}};
    }
    json project_spec(const std::vector<nostr::Event>& agents,
                      const std::vector<nostr::Event>& tools, const std::string& description,
                      std::int64_t at) {
        json tags =
            tags_json({{"d", "interop-project"}, {"title", "Interop project"}, {"t", "tenex"}});
        for (const auto& a : agents) tags.push_back(json::array({"agent", a.id}));
        for (const auto& t : tools) tags.push_back(json::array({"mcp", t.id}));
        return {{"sk", owner.secret.reveal_hex()},
                {"kind", kProjectKind},
                {"content", description},
                {"tags", tags},
                {"created_at", at}};
    }
    // kind 0 events on the relay for these authors, as nostr-tools reads (and verifies) them.
    std::vector<nostr::Event> profiles_on_relay(const std::vector<std::string>& authors) {
        json filter = {{"kinds", json::array({0})}, {"authors", authors}};
        auto r = run_node("client.mjs", {"query", url, filter.dump()});
        EXPECT_EQ(r.exit_code, 0) << "nostr-tools query failed or found a bad event: " << r.out;
        std::vector<nostr::Event> out;
        for (const auto& line : relay::testing::lines(r.out)) {
            auto e = nostr::parse_and_verify(line);
            EXPECT_TRUE(e.ok()) << line;
            if (e) out.push_back(*e);
        }
        return out;
    }
};

TEST_F(ProjectInterop, ProjectFromNostrToolsBecomesAWorkspaceWithAgentProfiles) {
    auto agents =
        publish({agent_spec("Project Manager", "pm"), agent_spec("Code Writer", "coder")});
    ASSERT_EQ(agents.size(), 2U);
    auto tools = publish(
        json::array({{{"sk", author.secret.reveal_hex()},
                      {"kind", kMcpToolKind},
                      {"content", ""},
                      {"tags", tags_json({{"name", "Repo Search"},
                                          {"description", "searches the repo"},
                                          {"command", "npx -y repo-search --root '/work dir'"},
                                          {"image", "node:20"}})}}}));
    ASSERT_EQ(tools.size(), 1U);
    const std::int64_t t0 = 1750000000;
    auto project_v1 =
        publish(json::array({project_spec(agents, tools, "The first description", t0)}));
    ASSERT_EQ(project_v1.size(), 1U);

    LoaderOptions options;
    options.fetch_timeout = 3000ms;
    options.profiles_per_second = 2;  // the default rate: 2 profiles take >= 0.5 s
    ProjectLoader loader(*pool, *manager, options);
    const nostr::Address address{kProjectKind, owner.pub.hex(), "interop-project"};
    auto ws = loader.load(address);
    ASSERT_TRUE(ws.ok()) << ws.error().message;
    EXPECT_TRUE(ws->created);
    EXPECT_FALSE(ws->cloned);
    const fs::path tenex = ws->path / ".tenex";
    ASSERT_TRUE(fs::path(ws->path).string().starts_with((tmp.path() / "projects").string()));

    // config.json
    auto config = read_json(tenex / "config.json");
    EXPECT_EQ(config.at("description"), "The first description");
    EXPECT_EQ(config.at("repoUrl"), "");
    auto naddr = address.to_naddr();
    ASSERT_TRUE(naddr.ok());
    EXPECT_EQ(config.at("projectNaddr"), *naddr);

    // agents.json: one key per agent, mode 0600
    auto index = read_json(tenex / "agents.json");
    ASSERT_EQ(index.size(), 2U) << index.dump();
    struct stat st {};
    ASSERT_EQ(::stat((tenex / "agents.json").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600);
    std::map<std::string, std::string> pubkey_of;  // slug -> agent pubkey
    const std::map<std::string, const nostr::Event*> expected{{"project-manager", &agents[0]},
                                                              {"code-writer", &agents[1]}};
    for (const auto& [slug, ev] : expected) {
        ASSERT_TRUE(index.contains(slug)) << index.dump();
        const auto& entry = index[slug];
        EXPECT_EQ(entry.at("eventId"), ev->id);
        EXPECT_EQ(entry.at("file"), ev->id + ".json");
        auto key = nostr::SecretKey::parse(entry.at("nsec").get<std::string>());
        ASSERT_TRUE(key.ok()) << slug;
        pubkey_of[slug] = key->public_key().hex();
        auto def = read_json(tenex / "agents" / (ev->id + ".json"));
        EXPECT_EQ(def.at("name"), *ev->tag_value("title"));
        EXPECT_EQ(def.at("role"), *ev->tag_value("role"));
        EXPECT_EQ(def.at("description"), *ev->tag_value("description"));
        EXPECT_EQ(def.at("instructions"), *ev->tag_value("instructions"));
        EXPECT_EQ(def.at("useCriteria"), *ev->tag_value("use-criteria"));
        EXPECT_EQ(def.at("version"), "2");
    }
    EXPECT_NE(pubkey_of["project-manager"], pubkey_of["code-writer"]);

    // mcp.json: the command split without a shell
    auto mcp = read_json(tenex / "mcp.json");
    ASSERT_TRUE(mcp.at("servers").contains("repo-search")) << mcp.dump();
    const auto& server = mcp["servers"]["repo-search"];
    EXPECT_EQ(server.at("command"), "npx");
    EXPECT_EQ(server.at("args"), json({"-y", "repo-search", "--root", "/work dir"}));
    EXPECT_EQ(server.at("description"), "searches the repo");
    EXPECT_EQ(server.at("eventId"), tools[0].id);

    // .gitignore gains .tenex/ once
    const std::string gitignore = read_text(ws->path / ".gitignore");
    EXPECT_EQ(gitignore.find(".tenex/"), gitignore.rfind(".tenex/")) << gitignore;
    EXPECT_NE(gitignore.find(".tenex/"), std::string::npos);

    // Kind 0 profiles on the relay, signed by the agents' own keys (verified by nostr-tools).
    ASSERT_TRUE(loader.profiles()->wait_idle(15s));
    EXPECT_EQ(loader.profiles()->published(), 2U);
    auto profiles = profiles_on_relay({pubkey_of["project-manager"], pubkey_of["code-writer"]});
    ASSERT_EQ(profiles.size(), 2U);
    std::set<std::string> first_ids;
    for (const auto& p : profiles) {
        first_ids.insert(p.id);
        EXPECT_EQ(p.kind, 0U);
        EXPECT_TRUE(nostr::verify_event(p).ok());
        auto content = json::parse(p.content);
        const std::string slug =
            p.pubkey == pubkey_of["project-manager"] ? "project-manager" : "code-writer";
        ASSERT_EQ(p.pubkey, pubkey_of[slug]);
        EXPECT_EQ(content.at("name"), *expected.at(slug)->tag_value("title"));
        EXPECT_EQ(content.at("role"), *expected.at(slug)->tag_value("role"));
        EXPECT_EQ(content.at("about"), *expected.at(slug)->tag_value("description"));
        EXPECT_EQ(content.at("project"), address.to_string());
        EXPECT_EQ(p.tags,
                  (std::vector<nostr::Tag>{{"p", owner.pub.hex()}, {"a", address.to_string()}}));
    }

    // A checkout file the project put there: later loads must not touch it.
    { std::ofstream(ws->path / "notes.txt") << "user work\n"; }
    const auto notes_time = fs::last_write_time(ws->path / "notes.txt");

    // Second load: the same workspace, nothing new published.
    auto again = loader.load(address);
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_FALSE(again->created);
    EXPECT_TRUE(again->layout.files_written.empty());
    ASSERT_TRUE(loader.profiles()->wait_idle(15s));
    EXPECT_EQ(loader.profiles()->published(), 2U);
    std::set<std::string> second_ids;
    for (const auto& p :
         profiles_on_relay({pubkey_of["project-manager"], pubkey_of["code-writer"]}))
        second_ids.insert(p.id);
    EXPECT_EQ(second_ids, first_ids);

    // A newer project event adds an agent: config refreshed, agent added, checkout untouched.
    auto added = publish(json::array({agent_spec("Tester", "qa")}));
    ASSERT_EQ(added.size(), 1U);
    std::vector<nostr::Event> three = agents;
    three.push_back(added[0]);
    publish(json::array({project_spec(three, tools, "The second description", t0 + 60)}));
    auto third = loader.load(address);
    ASSERT_TRUE(third.ok()) << third.error().message;
    EXPECT_FALSE(third->created);
    EXPECT_EQ(third->path, ws->path);
    EXPECT_EQ(read_json(tenex / "config.json").at("description"), "The second description");
    auto index3 = read_json(tenex / "agents.json");
    ASSERT_EQ(index3.size(), 3U);
    EXPECT_EQ(index3["project-manager"]["nsec"], index["project-manager"]["nsec"]);
    EXPECT_EQ(index3["code-writer"]["nsec"], index["code-writer"]["nsec"]);
    ASSERT_TRUE(index3.contains("tester"));
    EXPECT_TRUE(fs::exists(tenex / "agents" / (added[0].id + ".json")));
    EXPECT_EQ(read_text(ws->path / "notes.txt"), "user work\n");
    EXPECT_EQ(fs::last_write_time(ws->path / "notes.txt"), notes_time);
    ASSERT_TRUE(loader.profiles()->wait_idle(15s));
    EXPECT_EQ(loader.profiles()->published(), 3U);
    auto tester_key = nostr::SecretKey::parse(index3["tester"]["nsec"].get<std::string>());
    ASSERT_TRUE(tester_key.ok());
    auto tester_profile = profiles_on_relay({tester_key->public_key().hex()});
    ASSERT_EQ(tester_profile.size(), 1U);
    EXPECT_EQ(json::parse(tester_profile[0].content).at("name"), "Tester");
}

TEST_F(ProjectInterop, ProjectNotFoundIsAnErrorNamingAddressAndRelays) {
    // Another project of the same owner exists; the one asked for does not.
    publish(json::array({{{"sk", owner.secret.reveal_hex()},
                          {"kind", kProjectKind},
                          {"content", "x"},
                          {"tags", tags_json({{"d", "somewhere-else"}})}}}));
    LoaderOptions options;
    options.fetch_timeout = 2000ms;
    ProjectLoader loader(*pool, *manager, options);
    const nostr::Address address{kProjectKind, owner.pub.hex(), "not-published"};
    const auto start = std::chrono::steady_clock::now();
    auto ws = loader.load(address);
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(ws.ok());
    EXPECT_NE(ws.error().message.find(address.to_string()), std::string::npos)
        << ws.error().message;
    EXPECT_NE(ws.error().message.find(url), std::string::npos) << ws.error().message;
    EXPECT_LT(took, 2000ms + 3s);
    EXPECT_FALSE(fs::exists(tmp.path() / "projects"))
        << "nothing may be created for a missing project";
}

}  // namespace
}  // namespace tenex::project
