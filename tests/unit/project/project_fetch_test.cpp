#include "project/project_fetch.hpp"

#include "nostr/keys.hpp"
#include "project/events.hpp"

#include <gtest/gtest.h>

namespace tenex::project {
namespace {

nostr::Event sign(const nostr::Keys& keys, std::uint32_t kind, std::vector<nostr::Tag> tags,
                  std::string content, std::int64_t created_at) {
    nostr::UnsignedEvent u;
    u.kind = kind;
    u.tags = std::move(tags);
    u.content = std::move(content);
    u.created_at = created_at;
    auto e = nostr::sign_event(std::move(u), keys);
    EXPECT_TRUE(e.ok());
    return *e;
}

// A relay stand-in: answers with the stored events that match (or, hostile, with all of
// them), and records every query.
struct FakeRelay {
    std::vector<nostr::Event> stored;
    bool hostile{false};
    bool fail{false};
    std::vector<std::vector<nostr::Filter>> queries;

    FetchFn fn() {
        return [this](std::vector<nostr::Filter> filters,
                      std::chrono::milliseconds) -> Result<std::vector<nostr::Event>> {
            queries.push_back(filters);
            if (fail) return make_error("connection refused");
            std::vector<nostr::Event> out;
            for (const auto& e : stored)
                if (hostile || nostr::matches_any(filters, e)) out.push_back(e);
            return out;
        };
    }
};

struct FetchProject : ::testing::Test {
    nostr::Keys owner = nostr::Keys::generate();
    nostr::Keys other = nostr::Keys::generate();
    nostr::Keys author = nostr::Keys::generate();
    nostr::Address address{kProjectKind, owner.pub.hex(), "my-project"};
    FakeRelay relay;
    std::vector<std::string> relays{"ws://127.0.0.1:1", "ws://127.0.0.1:2"};

    nostr::Event agent(const std::string& title, std::int64_t at = 1000) {
        return sign(author, kAgentDefinitionKind,
                    {{"title", title}, {"role", "r-" + title}, {"description", "d"}},
                    "instructions of " + title, at);
    }
    nostr::Event tool(const std::string& name, const std::string& command) {
        std::vector<nostr::Tag> tags{{"name", name}, {"description", "a tool"}};
        if (!command.empty()) tags.push_back({"command", command});
        return sign(author, kMcpToolKind, tags, "", 1000);
    }
    nostr::Event project(std::int64_t at, std::vector<nostr::Tag> extra = {},
                         const nostr::Keys* by = nullptr, const std::string& d = "my-project") {
        std::vector<nostr::Tag> tags{{"d", d}, {"title", "My project"}};
        for (auto& t : extra) tags.push_back(std::move(t));
        return sign(by ? *by : owner, kProjectKind, tags, "description at " + std::to_string(at),
                    at);
    }
};

TEST_F(FetchProject, AsksForTheAddressThenItsDefinitionsInOneFetch) {
    auto a1 = agent("Planner");
    auto a2 = agent("Coder");
    auto t1 = tool("git helper", "npx -y git-mcp --root .");
    relay.stored = {a1, a2, t1, project(100, {{"agent", a1.id}, {"agent", a2.id}, {"mcp", t1.id}})};
    auto got = fetch_project(relay.fn(), address, std::chrono::milliseconds(100), relays);
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_EQ(got->project.identifier, "my-project");
    EXPECT_EQ(got->project.owner, owner.pub.hex());
    EXPECT_EQ(got->project.description, "description at 100");
    ASSERT_EQ(got->agents.size(), 2U);
    EXPECT_EQ(got->agents[0].name, "Planner");
    EXPECT_EQ(got->agents[1].name, "Coder");
    ASSERT_EQ(got->tools.size(), 1U);
    EXPECT_EQ(got->tools[0].command, "npx -y git-mcp --root .");
    EXPECT_TRUE(got->missing_agents.empty());
    EXPECT_TRUE(got->missing_tools.empty());

    ASSERT_EQ(relay.queries.size(), 2U);
    ASSERT_EQ(relay.queries[0].size(), 1U);
    const auto& pf = relay.queries[0][0];
    EXPECT_EQ(pf.authors, std::vector<std::string>{owner.pub.hex()});
    EXPECT_EQ(pf.kinds, std::vector<std::uint32_t>{kProjectKind});
    EXPECT_EQ(pf.tags.at('d'), std::vector<std::string>{"my-project"});
    ASSERT_EQ(relay.queries[1].size(), 2U);
    EXPECT_EQ(relay.queries[1][0].kinds, std::vector<std::uint32_t>{kAgentDefinitionKind});
    EXPECT_EQ(relay.queries[1][0].ids, (std::vector<std::string>{a1.id, a2.id}));
    EXPECT_EQ(relay.queries[1][1].kinds, std::vector<std::uint32_t>{kMcpToolKind});
}

TEST_F(FetchProject, NewestVersionWinsAndLowestIdOnATie) {
    auto older = project(100);
    auto newer1 = project(200, {{"t", "a"}});
    auto newer2 = project(200, {{"t", "b"}});
    relay.stored = {older, newer1, newer2};
    auto got = fetch_project(relay.fn(), address, std::chrono::milliseconds(100), relays);
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_EQ(got->event_id, std::min(newer1.id, newer2.id));
    EXPECT_EQ(got->created_at, 200);
    // Without definitions to ask for, one fetch only.
    EXPECT_EQ(relay.queries.size(), 1U);
}

TEST_F(FetchProject, EventsNotAtTheAddressOrNotVerifyingAreIgnored) {
    auto good = project(100);
    auto forged = project(500);
    forged.content = "changed after signing";  // id no longer matches
    auto bad_sig = project(400);
    bad_sig.sig[0] = bad_sig.sig[0] == '0' ? '1' : '0';
    relay.hostile = true;  // the relay ignores the filter and sends everything
    relay.stored = {good,
                    forged,
                    bad_sig,
                    project(600, {}, &other),
                    project(700, {}, nullptr, "other-d"),
                    agent("not a project", 900)};
    auto got = fetch_project(relay.fn(), address, std::chrono::milliseconds(100), relays);
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_EQ(got->event_id, good.id);
}

TEST_F(FetchProject, NotFoundNamesTheAddressAndTheRelays) {
    relay.stored = {project(100, {}, &other)};
    auto got = fetch_project(relay.fn(), address, std::chrono::milliseconds(250), relays);
    ASSERT_FALSE(got.ok());
    const std::string& m = got.error().message;
    EXPECT_NE(m.find(address.to_string()), std::string::npos) << m;
    EXPECT_NE(m.find("ws://127.0.0.1:1"), std::string::npos) << m;
    EXPECT_NE(m.find("ws://127.0.0.1:2"), std::string::npos) << m;
    EXPECT_NE(m.find("not found"), std::string::npos) << m;
    EXPECT_NE(m.find("250 ms"), std::string::npos) << m;

    relay.fail = true;
    auto failed = fetch_project(relay.fn(), address, std::chrono::milliseconds(250), {});
    ASSERT_FALSE(failed.ok());
    EXPECT_NE(failed.error().message.find(address.to_string()), std::string::npos);
    EXPECT_NE(failed.error().message.find("connection refused"), std::string::npos);
    EXPECT_NE(failed.error().message.find("no relays"), std::string::npos);
}

TEST_F(FetchProject, NotAProjectAddressIsRefusedWithoutAFetch) {
    nostr::Address wrong{30023, owner.pub.hex(), "my-project"};
    auto got = fetch_project(relay.fn(), wrong, std::chrono::milliseconds(100), relays);
    ASSERT_FALSE(got.ok());
    EXPECT_NE(got.error().message.find("not a project"), std::string::npos);
    EXPECT_TRUE(relay.queries.empty());
}

TEST_F(FetchProject, MissingAndBrokenDefinitionsAreLeftOutTheRestKept) {
    auto a1 = agent("Planner");
    auto a_missing = agent("Never published");
    auto t_ok = tool("search", "search-mcp --fast");
    auto t_no_command = tool("broken", "");
    auto t_wrong_kind = agent("I am not a tool");  // listed as an mcp id, but kind 4199
    auto a_tampered = agent("Tampered");
    auto tampered_copy = a_tampered;
    tampered_copy.tags.push_back({"role", "evil"});  // the id no longer matches
    relay.hostile = true;
    relay.stored = {a1,
                    t_ok,
                    t_no_command,
                    t_wrong_kind,
                    tampered_copy,
                    project(100, {{"agent", a1.id},
                                  {"agent", a_missing.id},
                                  {"agent", a_tampered.id},
                                  {"mcp", t_ok.id},
                                  {"mcp", t_no_command.id},
                                  {"mcp", t_wrong_kind.id}})};
    auto got = fetch_project(relay.fn(), address, std::chrono::milliseconds(100), relays);
    ASSERT_TRUE(got.ok()) << got.error().message;
    ASSERT_EQ(got->agents.size(), 1U);
    EXPECT_EQ(got->agents[0].event_id, a1.id);
    EXPECT_EQ(got->missing_agents, (std::vector<std::string>{a_missing.id, a_tampered.id}));
    ASSERT_EQ(got->tools.size(), 1U);
    EXPECT_EQ(got->tools[0].event_id, t_ok.id);
    EXPECT_EQ(got->missing_tools, (std::vector<std::string>{t_no_command.id, t_wrong_kind.id}));
}

TEST_F(FetchProject, AFailedDefinitionFetchStillLoadsTheProject) {
    auto a1 = agent("Planner");
    relay.stored = {a1, project(100, {{"agent", a1.id}})};
    int calls = 0;
    FetchFn flaky = [&](std::vector<nostr::Filter> f,
                        std::chrono::milliseconds t) -> Result<std::vector<nostr::Event>> {
        if (++calls == 2) return make_error("disconnected");
        return relay.fn()(std::move(f), t);
    };
    auto got = fetch_project(flaky, address, std::chrono::milliseconds(100), relays);
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_TRUE(got->agents.empty());
    EXPECT_EQ(got->missing_agents, std::vector<std::string>{a1.id});
}

}  // namespace
}  // namespace tenex::project
