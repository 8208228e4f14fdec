// Addresses (a tag values), kind classes and NIP-01 filters.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "nostr/address.hpp"
#include "nostr/filter.hpp"

namespace tenex::nostr {
namespace {

const std::string kPub = "552b902ba755c32d2548f4c8dd0e6a70977c0a5072761a6e548676f42e469628";

TEST(KindClassTest, Boundaries) {
    EXPECT_EQ(kind_class(0), KindClass::replaceable);
    EXPECT_EQ(kind_class(1), KindClass::regular);
    EXPECT_EQ(kind_class(2), KindClass::regular);
    EXPECT_EQ(kind_class(3), KindClass::replaceable);
    EXPECT_EQ(kind_class(4), KindClass::regular);
    EXPECT_EQ(kind_class(44), KindClass::regular);
    EXPECT_EQ(kind_class(4199), KindClass::regular);
    EXPECT_EQ(kind_class(9999), KindClass::regular);
    EXPECT_EQ(kind_class(10000), KindClass::replaceable);
    EXPECT_EQ(kind_class(19999), KindClass::replaceable);
    EXPECT_EQ(kind_class(20000), KindClass::ephemeral);
    EXPECT_EQ(kind_class(24010), KindClass::ephemeral);
    EXPECT_EQ(kind_class(29999), KindClass::ephemeral);
    EXPECT_EQ(kind_class(30000), KindClass::addressable);
    EXPECT_EQ(kind_class(31933), KindClass::addressable);
    EXPECT_EQ(kind_class(39999), KindClass::addressable);
    EXPECT_EQ(kind_class(40000), KindClass::regular);
    EXPECT_STREQ(to_string(KindClass::addressable), "addressable");
}

TEST(AddressTest, ParseSplitsOnFirstTwoColons) {
    auto a = Address::parse("31933:" + kPub + ":my:proj:");
    ASSERT_TRUE(a.ok()) << a.error().message;
    EXPECT_EQ(a->kind, 31933u);
    EXPECT_EQ(a->pubkey, kPub);
    EXPECT_EQ(a->identifier, "my:proj:");
    EXPECT_EQ(a->to_string(), "31933:" + kPub + ":my:proj:");
    auto empty = Address::parse("30023:" + kPub + ":");
    ASSERT_TRUE(empty.ok());
    EXPECT_EQ(empty->identifier, "");
}

TEST(AddressTest, RejectsBadValues) {
    struct Case {
        std::string in;
        std::string why;
    };
    for (const auto& c : std::vector<Case>{
             {"", "must be <kind>"},
             {"31933", "must be <kind>"},
             {"31933:" + kPub, "must be <kind>"},
             {":" + kPub + ":d", "kind must be an integer"},
             {"65536:" + kPub + ":d", "kind must be an integer"},
             {"-1:" + kPub + ":d", "kind must be an integer"},
             {"+1:" + kPub + ":d", "kind must be an integer"},
             {"031933:" + kPub + ":d", "kind must be an integer"},
             {"01:" + kPub + ":d", "leading zero"},
             {"1 :" + kPub + ":d", "kind must be an integer"},
             {"31933:" + kPub.substr(1) + ":d", "pubkey must be 64"},
             {"31933:" + std::string(64, 'A') + ":d", "pubkey must be 64"},
             {"31933:" + kPub + ":\xff", "not valid UTF-8"},
         }) {
        auto a = Address::parse(c.in);
        ASSERT_FALSE(a.ok()) << c.in;
        EXPECT_NE(a.error().message.find(c.why), std::string::npos)
            << c.in << ": " << a.error().message;
    }
}

TEST(AddressTest, NaddrRoundTrip) {
    Address a{31933, kPub, "proj-1"};
    std::vector<std::string> relays{"wss://relay.example"};
    auto n = a.to_naddr(relays);
    ASSERT_TRUE(n.ok());
    auto back = Address::from_naddr(*n);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, a);
    EXPECT_FALSE(
        Address::from_naddr("npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg")
            .ok());
}

Event make_event(std::uint32_t kind, std::int64_t at, std::vector<Tag> tags = {}) {
    return Event{std::string(64, 'a'), kPub, at, kind, std::move(tags), "", std::string(128, 'c')};
}

TEST(FilterTest, ParseSerializeRoundTrip) {
    std::string text =
        R"({"ids":[")" + std::string(64, 'a') + R"("],"authors":[")" + kPub +
        R"("],"kinds":[1,31933],"#a":["x"],"#p":[],"since":10,"until":20,"limit":0,"search":"q"})";
    auto f = Filter::parse(text);
    ASSERT_TRUE(f.ok()) << f.error().message;
    EXPECT_EQ(f->kinds->size(), 2u);
    EXPECT_EQ(f->tags.at('a'), std::vector<std::string>{"x"});
    EXPECT_TRUE(f->tags.at('p').empty());
    EXPECT_EQ(f->limit, 0u);
    auto again = Filter::parse(f->serialize());
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *f);
    EXPECT_EQ(Filter::parse("{}")->serialize(), "{}");
}

TEST(FilterTest, RejectsBadFilters) {
    for (const char* bad :
         {"[]", "{", R"({"ids":"x"})", R"({"ids":["ABC"]})", R"({"authors":[1]})",
          R"({"kinds":[70000]})", R"({"kinds":[-1]})", R"({"kinds":[1.5]})", R"({"since":-1})",
          R"({"until":"1"})", R"({"limit":-2})", R"({"#ab":["x"]})", R"({"#1":["x"]})",
          R"({"#e":"x"})", R"({"#e":[1]})", "{\"#e\":[\"\xff\"]}"}) {
        auto f = Filter::parse(bad);
        EXPECT_FALSE(f.ok()) << bad;
        if (!f.ok()) {
            EXPECT_FALSE(f.error().message.empty());
        }
    }
}

TEST(FilterTest, Matching) {
    auto ev = make_event(1, 100, {{"a", "31933:" + kPub + ":p"}, {"p", "x", "relay"}, {"t"}});
    auto match = [&](const std::string& text) {
        auto f = Filter::parse(text);
        EXPECT_TRUE(f.ok()) << text;
        return f.ok() && f->matches(ev);
    };
    EXPECT_TRUE(match("{}"));
    EXPECT_TRUE(match(R"({"kinds":[0,1]})"));
    EXPECT_FALSE(match(R"({"kinds":[2]})"));
    EXPECT_FALSE(match(R"({"kinds":[]})"));
    EXPECT_TRUE(match(R"({"authors":[")" + kPub + R"("]})"));
    EXPECT_FALSE(match(R"({"authors":[")" + std::string(64, 'f') + R"("]})"));
    EXPECT_TRUE(match(R"({"ids":[")" + std::string(64, 'a') + R"("]})"));
    EXPECT_TRUE(match(R"({"since":100,"until":100})"));
    EXPECT_FALSE(match(R"({"since":101})"));
    EXPECT_FALSE(match(R"({"until":99})"));
    EXPECT_TRUE(match(R"({"#p":["y","x"]})"));
    EXPECT_FALSE(match(R"({"#p":["relay"]})"));  // only the first value is indexed
    EXPECT_FALSE(match(R"({"#t":["x"]})"));
    EXPECT_TRUE(match(R"({"#a":["31933:)" + kPub + R"(:p"],"#p":["x"]})"));
    EXPECT_FALSE(match(R"({"#a":["31933:)" + kPub + R"(:p"],"#e":["x"]})"));
    EXPECT_TRUE(match(R"({"limit":0})"));  // limit shapes stored results, not matching

    std::vector<Filter> filters{Filter::parse(R"({"kinds":[2]})").value(),
                                Filter::parse(R"({"kinds":[1]})").value()};
    EXPECT_TRUE(matches_any(filters, ev));
    filters.pop_back();
    EXPECT_FALSE(matches_any(filters, ev));
}

}  // namespace
}  // namespace tenex::nostr
