// The scope rule (policies/GATEWAY.md), with the filters the real TENEX runtime sends
// (@tenex-chat/backend 0.9.13, src/daemon/filters/SubscriptionFilterBuilder.ts and its services).
#include "gateway/scope.hpp"

#include <gtest/gtest.h>

namespace tenex::gateway {
namespace {

std::string key(char c) {
    return std::string(64, c);
}

const std::string kOwner = key('0');
const std::string kOtherOwner = key('9');
const std::string kAgentA = key('a');
const std::string kAgentB = key('b');
const std::string kRuntimeA = key('c');
const std::string kRuntimeB = key('d');
const std::string kStranger = key('e');
const std::string kDaemon = key('f');
const std::string kAddrA = "31933:" + kOwner + ":alpha";
const std::string kAddrB = "31933:" + kOwner + ":beta";

nostr::Event ev(std::string pubkey, std::uint32_t kind, std::vector<nostr::Tag> tags = {},
                std::int64_t created_at = 1000) {
    nostr::Event e;
    e.id = std::string(64, '1');
    e.pubkey = std::move(pubkey);
    e.kind = kind;
    e.tags = std::move(tags);
    e.created_at = created_at;
    e.sig = std::string(128, '2');
    return e;
}

ProjectKeys project(const std::string& d, std::string agent, std::string runtime) {
    ProjectKeys p;
    p.address = nostr::Address{31933, kOwner, d};
    p.agents = {std::move(agent)};
    p.runtime = {std::move(runtime)};
    return p;
}

class Scope : public ::testing::Test {
  protected:
    void SetUp() override {
        index.upsert(project("alpha", kAgentA, kRuntimeA));
        index.upsert(project("beta", kAgentB, kRuntimeB));
        index.set_reserved_keys({kOwner, kDaemon});
    }
    bool reads(const std::string& addr, const nostr::Event& e) {
        return index.may_read(addr, e).allowed;
    }
    ScopeIndex index;
};

TEST_F(Scope, OnlyItsOwnProjectEvent) {
    EXPECT_TRUE(reads(kAddrA, ev(kOwner, 31933, {{"d", "alpha"}})));
    EXPECT_FALSE(reads(kAddrA, ev(kOwner, 31933, {{"d", "beta"}})));
    EXPECT_FALSE(reads(kAddrA, ev(kOwner, 31933, {{"d", "gamma"}})));  // unknown to the daemon too
    EXPECT_FALSE(reads(kAddrA, ev(kStranger, 31933, {{"d", "alpha"}})));  // same d, other author
    EXPECT_FALSE(reads(kAddrA, ev(kOwner, 31933, {})));                   // d missing: ""
}

TEST_F(Scope, EventsNamingTheProjectPassAndNamingAnotherNever) {
    EXPECT_TRUE(reads(kAddrA, ev(kStranger, 1, {{"a", kAddrA}})));
    EXPECT_TRUE(reads(kAddrA, ev(kOwner, 24000, {{"a", kAddrA}})));
    EXPECT_TRUE(reads(kAddrA, ev(kOwner, 1111, {{"A", kAddrA}})));  // NIP-22 root scope
    EXPECT_FALSE(reads(kAddrA, ev(kOwner, 1, {{"a", kAddrB}})));
    EXPECT_FALSE(reads(kAddrA, ev(kOwner, 1111, {{"A", kAddrB}})));
    // Naming both: it names another project, so no.
    EXPECT_FALSE(reads(kAddrA, ev(kOwner, 1, {{"a", kAddrA}, {"a", kAddrB}})));
    // Another project the daemon does not serve is still another project.
    EXPECT_FALSE(reads(kAddrA, ev(kOwner, 1, {{"a", "31933:" + kOtherOwner + ":x"}})));
    // Other addressable kinds are not projects: a 30023 article address neither helps nor hurts.
    EXPECT_FALSE(reads(kAddrA, ev(kOwner, 1, {{"a", "30023:" + kOwner + ":beta"}})));
    EXPECT_TRUE(reads(kAddrA, ev(kOwner, 1, {{"a", "30023:" + kOwner + ":beta"}, {"a", kAddrA}})));
    // A malformed address names nothing.
    EXPECT_FALSE(reads(kAddrA, ev(kOwner, 1, {{"a", "31933:" + kOwner}})));
    // The report filter: kind 30023 a-tagging the project.
    EXPECT_TRUE(reads(kAddrA, ev(kAgentA, 30023, {{"d", "r"}, {"a", kAddrA}})));
    EXPECT_FALSE(reads(kAddrA, ev(kAgentB, 30023, {{"d", "r"}, {"a", kAddrB}})));
}

TEST_F(Scope, AddressedToItsKeysPassesAndOnlyToAnotherProjectsNever) {
    EXPECT_TRUE(reads(kAddrA, ev(kOwner, 1, {{"p", kAgentA}})));
    EXPECT_TRUE(reads(kAddrA, ev(kOwner, 1, {{"p", kRuntimeA}})));
    EXPECT_FALSE(reads(kAddrA, ev(kOwner, 1, {{"p", kAgentB}})));
    EXPECT_FALSE(reads(kAddrA, ev(kOwner, 1, {{"p", kRuntimeB}})));
    // To both: it is addressed to us too.
    EXPECT_TRUE(reads(kAddrA, ev(kOwner, 1, {{"p", kAgentB}, {"p", kAgentA}})));
    // To someone unknown only: not ours.
    EXPECT_FALSE(reads(kAddrA, ev(kOwner, 1, {{"p", kStranger}})));
    // Shared material addressed only to another project's agent is hidden too (rule D4).
    EXPECT_FALSE(reads(kAddrA, ev(kOwner, 4201, {{"p", kAgentB}})));
}

TEST_F(Scope, WrittenByAnotherProjectsKeyNever) {
    EXPECT_FALSE(reads(kAddrA, ev(kAgentB, 0)));
    EXPECT_FALSE(reads(kAddrA, ev(kAgentB, 4129)));
    EXPECT_FALSE(reads(kAddrA, ev(kAgentB, 1, {{"p", kAgentA}})));
    EXPECT_TRUE(reads(kAddrA, ev(kAgentA, 1)));
    EXPECT_TRUE(reads(kAddrA, ev(kRuntimeA, 24010, {{"a", kAddrA}})));
    EXPECT_FALSE(reads(kAddrA, ev(kRuntimeB, 24010, {{"a", kAddrB}})));
    // A key bound later through B's gateway is B's from then on.
    const std::string runtime_made = key('7');
    EXPECT_TRUE(reads(kAddrA, ev(runtime_made, 0)));
    ASSERT_TRUE(index.bind(runtime_made, kAddrB));
    EXPECT_FALSE(reads(kAddrA, ev(runtime_made, 0)));
    EXPECT_FALSE(reads(kAddrA, ev(kOwner, 1, {{"p", runtime_made}})));
    EXPECT_TRUE(reads(kAddrB, ev(kOwner, 1, {{"p", runtime_made}})));
}

TEST_F(Scope, SharedMaterial) {
    for (std::uint32_t k : {0u, 1111u, 4129u, 4199u, 4201u, 4202u}) {
        EXPECT_TRUE(reads(kAddrA, ev(kStranger, k))) << k;
        EXPECT_TRUE(reads(kAddrA, ev(kOwner, k))) << k;
    }
    for (std::uint32_t k : {14199u, 14202u}) {
        EXPECT_TRUE(reads(kAddrA, ev(kOwner, k))) << k;
        EXPECT_FALSE(reads(kAddrA, ev(kStranger, k))) << k;
    }
    // Everything else needs a reason: a plain note, a DM, a status without tags.
    for (std::uint32_t k : {1u, 4u, 7u, 24010u, 24020u, 24030u, 25000u, 30023u})
        EXPECT_FALSE(reads(kAddrA, ev(kOwner, k))) << k;
    EXPECT_FALSE(reads("31933:" + kOwner + ":nope", ev(kOwner, 0)));  // unknown project
}

// Every filter the runtime sends for project alpha, over a corpus of both projects' events:
// what reaches alpha is exactly what belongs to it.
TEST_F(Scope, TheRuntimesFiltersSeeOnlyTheirProject) {
    const std::vector<std::pair<std::string, nostr::Event>> corpus = {
        {"a-project", ev(kOwner, 31933, {{"d", "alpha"}})},
        {"b-project", ev(kOwner, 31933, {{"d", "beta"}})},
        {"a-config", ev(kOwner, 24020, {{"a", kAddrA}, {"p", kAgentA}})},
        {"b-config", ev(kOwner, 24020, {{"a", kAddrB}, {"p", kAgentB}})},
        {"b-config-untagged", ev(kOwner, 24020, {{"p", kAgentB}})},
        {"a-delete", ev(kOwner, 24030, {{"a", kAddrA}, {"p", kAgentA}})},
        {"b-delete", ev(kOwner, 24030, {{"p", kAgentB}})},
        {"lesson-comment", ev(kOwner, 1111, {{"K", "4129"}, {"e", std::string(64, '3')}})},
        {"b-lesson-comment", ev(kOwner, 1111, {{"K", "4129"}, {"A", kAddrB}})},
        {"a-msg", ev(kOwner, 1, {{"a", kAddrA}})},
        {"b-msg", ev(kOwner, 1, {{"a", kAddrB}})},
        {"a-boot", ev(kOwner, 24000, {{"a", kAddrA}})},
        {"b-boot", ev(kOwner, 24000, {{"a", kAddrB}})},
        {"a-mention", ev(kOwner, 1, {{"p", kAgentA}})},
        {"b-mention", ev(kOwner, 1, {{"p", kAgentB}})},
        {"b-status", ev(kRuntimeB, 24010, {{"a", kAddrB}, {"p", kOwner}})},
        {"a-report", ev(kAgentA, 30023, {{"d", "r"}, {"a", kAddrA}})},
        {"b-report", ev(kAgentB, 30023, {{"d", "r"}, {"a", kAddrB}})},
        {"a-lesson", ev(kAgentA, 4129, {{"e", std::string(64, '4')}})},
        {"b-lesson", ev(kAgentB, 4129, {{"e", std::string(64, '4')}})},
        {"definition", ev(kStranger, 4199, {{"d", "coder"}})},
        {"snapshot", ev(kOwner, 14199, {{"p", kAgentA}, {"p", kAgentB}})},
        {"whitelist", ev(kOwner, 14202, {{"e", std::string(64, '5')}})},
        {"a-profile", ev(kAgentA, 0)},
        {"b-profile", ev(kAgentB, 0)},
        {"owner-profile", ev(kOwner, 0)},
    };
    auto f = [](const char* json) { return *nostr::Filter::parse(json); };
    const std::string owner = "\"" + kOwner + "\"";
    const std::vector<nostr::Filter> filters = {
        f(("{\"kinds\":[31933,24020,24030],\"authors\":[" + owner + "]}").c_str()),
        f(("{\"kinds\":[1111],\"#K\":[\"4129\"],\"authors\":[" + owner + "]}").c_str()),
        f(("{\"#a\":[\"" + kAddrA + "\"],\"limit\":0}").c_str()),
        f(("{\"kinds\":[30023],\"#a\":[\"" + kAddrA + "\"]}").c_str()),
        f(("{\"#p\":[\"" + kAgentA + "\"],\"limit\":0}").c_str()),
        f("{\"kinds\":[4129],\"#e\":["
          "\"4444444444444444444444444444444444444444444444444444444444444444\"]}"),
        f("{\"kinds\":[4199],\"#d\":[\"coder\"]}"),
        f(("{\"kinds\":[14199],\"authors\":[" + owner + "]}").c_str()),
        f(("{\"kinds\":[14202],\"authors\":[" + owner + "]}").c_str()),
        f(("{\"kinds\":[0],\"authors\":[\"" + kAgentA + "\",\"" + kAgentB + "\"," + owner + "]}")
              .c_str()),
    };
    std::set<std::string> seen;
    for (const auto& [name, e] : corpus)
        if (nostr::matches_any(filters, e) && reads(kAddrA, e)) seen.insert(name);
    const std::set<std::string> expected = {
        "a-project", "a-config",  "a-delete",  "lesson-comment", "a-msg",
        "a-boot",    "a-mention", "a-report",  "a-lesson",       "definition",
        "snapshot",  "whitelist", "a-profile", "owner-profile"};
    EXPECT_EQ(seen, expected);
    for (const auto& name : seen) EXPECT_NE(name.substr(0, 2), "b-") << name;
}

TEST_F(Scope, WritesInScopeWithItsOwnOrAFreshKey) {
    auto w = index.may_write(kAddrA, ev(kAgentA, 1, {{"a", kAddrA}}), 300, 1000);
    EXPECT_TRUE(w.allowed) << w.reason;
    EXPECT_FALSE(w.needs_binding);
    const std::string fresh = key('6');
    w = index.may_write(kAddrA, ev(fresh, 0), 300, 1000);
    EXPECT_TRUE(w.allowed) << w.reason;
    EXPECT_TRUE(w.needs_binding);
    ASSERT_TRUE(index.bind(fresh, kAddrA));
    EXPECT_EQ(index.owner_of_key(fresh), kAddrA);
    // The same key through B's gateway: refused, and the binding does not move.
    w = index.may_write(kAddrB, ev(fresh, 1, {{"a", kAddrB}}), 300, 1000);
    EXPECT_FALSE(w.allowed);
    EXPECT_EQ(w.reason, "restricted: author belongs to another project");
    EXPECT_FALSE(index.bind(fresh, kAddrB));
    EXPECT_EQ(index.owner_of_key(fresh), kAddrA);
}

TEST_F(Scope, WritesOutOfScopeAreRefusedWithAReason) {
    auto refused = [&](const nostr::Event& e, std::size_t bytes, const std::string& prefix) {
        auto w = index.may_write(kAddrA, e, bytes, 1000);
        EXPECT_FALSE(w.allowed);
        EXPECT_EQ(w.reason.rfind(prefix, 0), 0u) << w.reason;
    };
    refused(ev(kAgentA, 1, {{"a", kAddrB}}), 300, "restricted: a-tags another project");
    refused(ev(kAgentA, 1, {{"a", kAddrA}, {"a", kAddrB}}), 300, "restricted: a-tags");
    refused(ev(kAgentA, 1, {{"p", kAgentB}}), 300, "restricted: addressed to another project");
    refused(ev(kAgentB, 1, {{"a", kAddrA}}), 300, "restricted: author belongs to another project");
    refused(ev(kAgentA, 31933, {{"d", "alpha"}}), 300, "restricted: a project container cannot");
    refused(ev(kOwner, 1, {{"a", kAddrA}}), 300, "restricted: this key cannot write");
    refused(ev(kDaemon, 1, {{"a", kAddrA}}), 300, "restricted: this key cannot write");
    refused(ev(kAgentA, 1), 64 * 1024 + 1, "invalid: event too large");
    refused(ev(kAgentA, 1, {}, 1000 + 901), 300, "invalid: created_at too far");
    EXPECT_TRUE(index.may_write(kAddrA, ev(kAgentA, 1, {}, 1000 + 900), 64 * 1024, 1000).allowed);
    EXPECT_FALSE(index.bind(kOwner, kAddrA));
    auto w = index.may_write("31933:" + kOwner + ":nope", ev(kAgentA, 1), 300, 1000);
    EXPECT_EQ(w.reason, "restricted: unknown project");
}

TEST_F(Scope, AWriteIsSomethingItsProjectCouldReadBack) {
    const std::vector<nostr::Event> events = {ev(kAgentA, 1, {{"a", kAddrA}}), ev(kAgentA, 0),
                                              ev(kRuntimeA, 24010, {{"a", kAddrA}, {"p", kOwner}}),
                                              ev(kAgentA, 1, {{"p", kAgentA}, {"p", kAgentB}}),
                                              ev(kAgentA, 4129, {{"e", std::string(64, '4')}})};
    for (const auto& e : events) {
        ASSERT_TRUE(index.may_write(kAddrA, e, 300, 1000).allowed);
        EXPECT_TRUE(reads(kAddrA, e));
        EXPECT_FALSE(reads(kAddrB, e) && e.kind != 0 && e.kind != 4129);
    }
}

TEST_F(Scope, ProjectsComeAndGoBindingsStay) {
    const std::string k = key('5');
    ASSERT_TRUE(index.bind(k, kAddrB));
    index.remove(kAddrB);
    EXPECT_FALSE(index.contains(kAddrB));
    EXPECT_EQ(index.owner_of_key(k), kAddrB);
    EXPECT_FALSE(index.owner_of_key(kAgentB).has_value());
    index.upsert(project("beta", kAgentB, kRuntimeB));
    EXPECT_EQ(index.owner_of_key(kAgentB), kAddrB);
    // An agent key already A's cannot be claimed by another project's definition.
    index.upsert(project("gamma", kAgentA, key('4')));
    EXPECT_EQ(index.owner_of_key(kAgentA), kAddrA);
}

TEST(UpstreamFilter, AsksForMaxLimitAndKeepsTheRest) {
    auto f = *nostr::Filter::parse(R"({"kinds":[1],"since":10,"until":20,"limit":5000})");
    auto u = upstream_filter(f, 500);
    EXPECT_EQ(u.limit, 500u);
    EXPECT_EQ(u.since, 10);
    EXPECT_EQ(u.until, 20);
    EXPECT_EQ(u.kinds, f.kinds);
    EXPECT_EQ(upstream_filter(*nostr::Filter::parse(R"({"limit":0})"), 500).limit, 0u);
    EXPECT_EQ(upstream_filter(*nostr::Filter::parse(R"({"kinds":[1]})"), 500).limit, 500u);
    EXPECT_EQ(upstream_filter(*nostr::Filter::parse(R"({"kinds":[1],"limit":1})"), 500).limit,
              500u);
}

// The filters of 50 TENEX backends (the table in images/runtime/README.md, one project and
// agent each, two owners) become one live subscription of a handful of filters, and every
// event any input filter matches is matched by the union.
TEST(LiveUnion, FiftyBackendsFitInAFewFiltersAndLoseNothing) {
    std::vector<nostr::Filter> all;
    std::vector<nostr::Event> samples;
    auto f = [](const std::string& json) { return *nostr::Filter::parse(json); };
    for (int i = 0; i < 50; ++i) {
        const std::string owner = i % 2 ? kOwner : kOtherOwner;
        const std::string addr = "31933:" + owner + ":p" + std::to_string(i);
        char hex[65];
        std::snprintf(hex, sizeof hex, "%064x", i + 1);
        const std::string agent = hex, backend = std::string(63, 'b') + char('0' + i % 10);
        for (const auto& filter :
             {f(R"({"kinds":[31933,24020,24030],"authors":[")" + owner + R"("]})"),
              f(R"({"kinds":[1111],"#K":["4129"],"authors":[")" + owner + R"("]})"),
              f(R"({"kinds":[14199,14202],"authors":[")" + backend + R"("]})"),
              f(R"({"#a":[")" + addr + R"("],"limit":0,"since":1000})"),
              f(R"({"kinds":[30023],"#a":[")" + addr + R"("]})"),
              f(R"({"#p":[")" + agent + R"("],"limit":0})"),
              f(R"({"kinds":[4129],"#e":[")" + agent + R"("]})"),
              f(R"({"kinds":[4199],"#d":["helper-)" + std::to_string(i) + R"("]})"),
              f(R"({"kinds":[0],"authors":[")" + owner + R"("],"limit":1})")})
            all.push_back(filter);
        samples.push_back(ev(owner, 1, {{"a", addr}}, 2000));
        samples.push_back(ev(kStranger, 7, {{"p", agent}}, 2000));
        samples.push_back(ev(owner, 24020, {}, 2000));
        samples.push_back(ev(kStranger, 4199, {{"d", "helper-" + std::to_string(i)}}, 2000));
        samples.push_back(ev(backend, 14199, {}, 2000));
    }
    samples.push_back(ev(kStranger, 1, {}, 2000));  // matches nothing
    const auto merged = live_union(all);
    EXPECT_LE(merged.size(), 10u) << "one filter per kind of subscription";
    for (const auto& m : merged) EXPECT_EQ(m.limit, 0u);  // live only
    for (const auto& e : samples) {
        bool in_any = nostr::matches_any(all, e);
        EXPECT_EQ(nostr::matches_any(merged, e), in_any) << nostr::to_json(e);
    }
    // Filters that differ in two lists stay apart; exact duplicates go.
    auto two = live_union({f(R"({"kinds":[1],"authors":[")" + kAgentA + R"("]})"),
                           f(R"({"kinds":[2],"authors":[")" + kAgentB + R"("]})"),
                           f(R"({"kinds":[2],"authors":[")" + kAgentB + R"("]})")});
    EXPECT_EQ(two.size(), 2u);
}

}  // namespace
}  // namespace tenex::gateway
