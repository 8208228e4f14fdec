#include "project/events.hpp"

#include <gtest/gtest.h>

namespace tenex::project {
namespace {

const std::string kOwner(64, 'a');
std::string hex(char c) {
    return std::string(64, c);
}

nostr::Event project_event(std::vector<nostr::Tag> tags, std::string content = "A project") {
    nostr::Event e;
    e.id = hex('0');
    e.pubkey = kOwner;
    e.created_at = 1700000000;
    e.kind = 31933;
    e.tags = std::move(tags);
    e.content = std::move(content);
    return e;
}

TEST(ProjectEvent, ParsesEveryField) {
    auto e = project_event({{"d", "my-proj"},
                            {"title", "My Project"},
                            {"repo", "https://example.com/r.git"},
                            {"t", "rust"},
                            {"t", "nostr"},
                            {"agent", hex('1')},
                            {"agent", hex('2')},
                            {"mcp", hex('3')},
                            {"p", hex('4')}});
    auto p = parse_project_event(e);
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->identifier, "my-proj");
    EXPECT_EQ(p->owner, kOwner);
    EXPECT_EQ(p->title, "My Project");
    EXPECT_EQ(p->description, "A project");
    EXPECT_EQ(p->repo_url, "https://example.com/r.git");
    EXPECT_EQ(p->hashtags, (std::vector<std::string>{"rust", "nostr"}));
    EXPECT_EQ(p->agent_ids, (std::vector<std::string>{hex('1'), hex('2')}));
    EXPECT_EQ(p->mcp_ids, std::vector<std::string>{hex('3')});
    EXPECT_EQ(p->members, std::vector<std::string>{hex('4')});
    auto addr = nostr::Address::from_naddr(p->naddr);
    ASSERT_TRUE(addr.ok()) << addr.error().message;
    EXPECT_EQ(addr->to_string(), "31933:" + kOwner + ":my-proj");
}

TEST(ProjectEvent, MissingTagsGiveEmptyValues) {
    auto p = parse_project_event(project_event({}, ""));
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->identifier, "");  // the workspace mapping refuses it later
    EXPECT_EQ(p->title, "");
    EXPECT_EQ(p->repo_url, "");
    EXPECT_TRUE(p->agent_ids.empty());
    EXPECT_TRUE(p->hashtags.empty());
}

TEST(ProjectEvent, DuplicatedTagsFirstWinsListsAreDeduplicated) {
    auto e = project_event({{"d", "first"},
                            {"d", "second"},
                            {"title", "T1"},
                            {"title", "T2"},
                            {"repo", "https://a.example/r"},
                            {"repo", "https://b.example/r"},
                            {"agent", hex('1')},
                            {"agent", hex('1')},
                            {"t", "x"},
                            {"t", "x"},
                            {"agent"},
                            {"agent", "not-hex"},
                            {"agent", hex('A')},
                            {"p", "npub1xyz"}});
    auto p = parse_project_event(e);
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->identifier, "first");
    EXPECT_EQ(p->title, "T1");
    EXPECT_EQ(p->repo_url, "https://a.example/r");
    EXPECT_EQ(p->agent_ids, std::vector<std::string>{hex('1')});
    EXPECT_EQ(p->hashtags, std::vector<std::string>{"x"});
    EXPECT_TRUE(p->members.empty());
}

TEST(ProjectEvent, WrongKindOrAddressIsRefused) {
    auto e = project_event({{"d", "x"}});
    e.kind = 30023;
    EXPECT_FALSE(parse_project_event(e).ok());

    auto ok = project_event({{"d", "x"}});
    nostr::Address right{31933, kOwner, "x"};
    EXPECT_TRUE(parse_project_event(ok, &right).ok());
    nostr::Address other_d{31933, kOwner, "y"};
    EXPECT_FALSE(parse_project_event(ok, &other_d).ok());
    nostr::Address other_owner{31933, hex('b'), "x"};
    EXPECT_FALSE(parse_project_event(ok, &other_owner).ok());
}

TEST(ProjectEvent, NewestVersionWinsLowestIdOnATie) {
    std::vector<nostr::Event> v(3, project_event({{"d", "x"}}));
    v[0].created_at = 100;
    v[0].id = hex('5');
    v[1].created_at = 200;
    v[1].id = hex('9');
    v[2].created_at = 200;
    v[2].id = hex('3');
    EXPECT_EQ(pick_newest(v), &v[2]);
    v[0].created_at = 300;
    EXPECT_EQ(pick_newest(v), &v[0]);
    EXPECT_EQ(pick_newest({}), nullptr);
}

nostr::Event agent_event(std::vector<nostr::Tag> tags, std::string content = "") {
    nostr::Event e;
    e.id = hex('7');
    e.pubkey = hex('b');
    e.kind = 4199;
    e.tags = std::move(tags);
    e.content = std::move(content);
    return e;
}

TEST(AgentEvent, ParsesTagsAndPrefersTheInstructionsTag) {
    auto a = parse_agent_event(agent_event({{"title", "Code Reviewer"},
                                            {"role", "reviewer"},
                                            {"description", "Reviews"},
                                            {"instructions", "Be strict"},
                                            {"use-criteria", "on PRs"},
                                            {"ver", "3"}},
                                           "old instructions"));
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->event_id, hex('7'));
    EXPECT_EQ(a->name, "Code Reviewer");
    EXPECT_EQ(a->role, "reviewer");
    EXPECT_EQ(a->description, "Reviews");
    EXPECT_EQ(a->instructions, "Be strict");
    EXPECT_EQ(a->use_criteria, "on PRs");
    EXPECT_EQ(a->version, "3");
}

TEST(AgentEvent, OlderEventsCarryInstructionsInTheContentAndNameAsFallback) {
    auto a = parse_agent_event(agent_event({{"name", "Helper"}, {"title", ""}}, "Do things"));
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->name, "Helper");
    EXPECT_EQ(a->instructions, "Do things");
    auto dup = parse_agent_event(agent_event({{"title", "One"}, {"title", "Two"}}));
    ASSERT_TRUE(dup.ok());
    EXPECT_EQ(dup->name, "One");
    EXPECT_FALSE(parse_agent_event(project_event({})).ok());
}

TEST(McpEvent, ParsesAndRequiresACommand) {
    nostr::Event e;
    e.id = hex('8');
    e.kind = 4200;
    e.tags = {{"name", "Search"},
              {"description", "d"},
              {"command", "npx -y search"},
              {"image", "node:20"},
              {"command", "ignored"}};
    auto t = parse_mcp_event(e);
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->name, "Search");
    EXPECT_EQ(t->command, "npx -y search");
    EXPECT_EQ(t->image, "node:20");
    e.tags = {{"name", "NoCommand"}};
    auto missing = parse_mcp_event(e);
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().message.find("no command"), std::string::npos);
    e.kind = 4199;
    EXPECT_FALSE(parse_mcp_event(e).ok());
}

}  // namespace
}  // namespace tenex::project
