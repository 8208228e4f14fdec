// Event parsing (strict, with reasons), JSON.stringify escaping, canonical serialization.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "nostr/event.hpp"
#include "nostr/keys.hpp"
#include "nostr/verify.hpp"

namespace tenex::nostr {
namespace {

const std::string kId(64, 'a');
const std::string kPub(64, 'b');
const std::string kSig(128, 'c');

std::string event_json(const std::string& overrides_field = "", const std::string& value = "") {
    nlohmann::ordered_json j{{"id", kId},
                             {"pubkey", kPub},
                             {"created_at", 1700000000},
                             {"kind", 1},
                             {"tags", nlohmann::json::array({{"e", "x"}})},
                             {"content", "hi"},
                             {"sig", kSig}};
    std::string s = j.dump();
    if (overrides_field.empty()) return s;
    // Replace the raw value text of one field.
    auto j2 = nlohmann::ordered_json::parse(s);
    std::string out = "{";
    bool first = true;
    for (auto& [k, v] : j2.items()) {
        if (!first) out += ",";
        first = false;
        out += "\"" + k + "\":" + (k == overrides_field ? value : v.dump());
    }
    return out + "}";
}

std::string reason(std::string_view json) {
    auto r = parse_event(json);
    return r.ok() ? std::string("ACCEPTED") : r.error().message;
}

TEST(EscapeTest, MatchesJsonStringifyForEveryAsciiByte) {
    for (int c = 0; c < 128; ++c) {
        std::string out;
        append_json_string(out, std::string(1, static_cast<char>(c)));
        std::string expect;
        switch (c) {
            case '"':
                expect = "\\\"";
                break;
            case '\\':
                expect = "\\\\";
                break;
            case '\b':
                expect = "\\b";
                break;
            case '\f':
                expect = "\\f";
                break;
            case '\n':
                expect = "\\n";
                break;
            case '\r':
                expect = "\\r";
                break;
            case '\t':
                expect = "\\t";
                break;
            default: {
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    expect = buf;
                } else {
                    expect = std::string(1, static_cast<char>(c));
                }
            }
        }
        EXPECT_EQ(out, "\"" + expect + "\"") << "byte " << c;
    }
}

TEST(EscapeTest, NonAsciiSlashDelAndLineSeparatorVerbatim) {
    std::string out;
    append_json_string(out, "a/b\x7f\xe2\x80\xa8\xf0\x9f\x98\x80");
    EXPECT_EQ(out, "\"a/b\x7f\xe2\x80\xa8\xf0\x9f\x98\x80\"");
}

TEST(SerializeTest, CanonicalForm) {
    Event e{kId, kPub, 1700000000, 1, {{"e", "x\"y"}, {}}, "line\nnext\u0001", kSig};
    EXPECT_EQ(serialize_for_id(e),
              "[0,\"" + kPub + "\",1700000000,1,[[\"e\",\"x\\\"y\"],[]],\"line\\nnext\\u0001\"]");
}

TEST(ParseTest, AcceptsWhitespaceAnyOrderAndUnknownFields) {
    std::string s = " {\n \"sig\" : \"" + kSig +
                    "\", \"extra\": {\"a\":[1,2.5e3,true,null,\"s\"]}, \"kind\":7,"
                    "\"content\":\"\\u00e9\\ud83d\\ude00\\/\",\"tags\":[ ],\"created_at\":0,"
                    "\"pubkey\":\"" +
                    kPub + "\",\"id\":\"" + kId + "\"} \n";
    auto ev = parse_event(s);
    ASSERT_TRUE(ev.ok()) << ev.error().message;
    EXPECT_EQ(ev->kind, 7u);
    EXPECT_EQ(ev->created_at, 0);
    EXPECT_EQ(ev->content, "\xc3\xa9\xf0\x9f\x98\x80/");
    EXPECT_TRUE(ev->tags.empty());
}

TEST(ParseTest, HostileInputsRejectedWithReasons) {
    struct Case {
        std::string json;
        std::string reason_part;
    };
    const std::vector<Case> cases = {
        {"", "must be a JSON object"},
        {"[]", "must be a JSON object"},
        {"{", "expected a field name"},
        {"null", "must be a JSON object"},
        {event_json("id", "\"" + std::string(64, 'A') + "\""), "'id' must be 64 lowercase hex"},
        {event_json("id", "\"" + std::string(63, 'a') + "\""), "'id' must be 64 lowercase hex"},
        {event_json("id", "123"), "'id' must be 64 lowercase hex"},
        {event_json("pubkey", "\"" + std::string(64, 'g') + "\""), "'pubkey' must be 64"},
        {event_json("sig", "\"" + std::string(127, 'c') + "\""), "'sig' must be 128"},
        {event_json("kind", "65536"), "'kind' must be an integer 0..65535"},
        {event_json("kind", "-1"), "'kind' must be an integer"},
        {event_json("kind", "1.0"), "'kind' must be an integer"},
        {event_json("kind", "1e2"), "'kind' must be an integer"},
        {event_json("kind", "\"1\""), "'kind' must be an integer"},
        {event_json("kind", "01"), "leading zero"},
        {event_json("kind", "99999999999999999999999"), "'kind' must be an integer"},
        {event_json("created_at", "-5"), "'created_at' must be an integer"},
        {event_json("created_at", "9007199254740992"), "'created_at' must be an integer"},
        {event_json("created_at", "null"), "'created_at' must be an integer"},
        {event_json("tags", "{}"), "'tags' must be an array"},
        {event_json("tags", "[\"e\"]"), "'tags' must be an array of arrays"},
        {event_json("tags", "[[1]]"), "tag values must be strings"},
        {event_json("tags", "[[\"e\",null]]"), "tag values must be strings"},
        {event_json("tags", "[[\"e\"],]"), "'tags' must be an array"},
        {event_json("content", "null"), "'content' must be a string"},
        {event_json("content", "\"\\ud800\""), "lone surrogate"},
        {event_json("content", "\"\\udc00x\""), "lone surrogate"},
        {event_json("content", "\"\\ud800\\u0041\""), "lone surrogate"},
        {event_json("content", "\"\xff\""), "not valid UTF-8"},
        {event_json("content", "\"\xc0\xaf\""), "not valid UTF-8"},          // overlong '/'
        {event_json("content", "\"\xed\xa0\x80\""), "not valid UTF-8"},      // encoded surrogate
        {event_json("content", "\"\xf4\x90\x80\x80\""), "not valid UTF-8"},  // > U+10FFFF
        {event_json("content", "\"\xe2\x82\""), "not valid UTF-8"},          // truncated
        {event_json("content", "\"a\nb\""), "control character"},
        {event_json("content", "\"\\x41\""), "bad escape"},
        {event_json("content", "\"\\u12\""), "bad \\u escape"},
        {"{\"content\":\"abc", "unterminated"},
        {event_json() + "x", "trailing characters"},
        {event_json() + "{}", "trailing characters"},
        {"{\"id\":\"" + kId + "\",\"id\":\"" + kId + "\"}", "duplicate field 'id'"},
        {"{\"pubkey\":\"" + kPub + "\"}", "missing field 'id'"},
        {"{\"x\":" + std::string(100, '[') + std::string(100, ']') + "}", "nested too deeply"},
        {"{\"x\":tru}", "unexpected character"},
        {"{\"x\":-}", "unexpected character"},
        {"{\"x\":1.}", "bad number"},
    };
    for (const auto& c : cases) {
        std::string r = reason(c.json);
        EXPECT_NE(r.find(c.reason_part), std::string::npos)
            << "input: " << c.json << "\nreason: " << r;
        if (r != "ACCEPTED") {
            EXPECT_EQ(r.rfind("malformed: ", 0), 0u) << r;
        }
    }
}

TEST(ParseTest, JsonValueParserAppliesTheSameRules) {
    for (auto [field, value] :
         std::vector<std::pair<std::string, std::string>>{{"kind", "65536"},
                                                          {"kind", "1.5"},
                                                          {"created_at", "-1"},
                                                          {"id", "\"AA\""},
                                                          {"tags", "[[1]]"},
                                                          {"content", "5"},
                                                          {"sig", "null"}}) {
        auto j = nlohmann::json::parse(event_json(field, value));
        EXPECT_FALSE(parse_event(j).ok()) << field << "=" << value;
        EXPECT_FALSE(parse_event(event_json(field, value)).ok()) << field << "=" << value;
    }
    EXPECT_FALSE(parse_event(nlohmann::json::array()).ok());
    nlohmann::json bad = nlohmann::json::parse(event_json());
    bad["content"] = std::string("\xff");
    EXPECT_NE(parse_event(bad).error().message.find("UTF-8"), std::string::npos);
}

TEST(ParseTest, LimitsAreEnforced) {
    ParseLimits small;
    small.max_bytes = 100;
    EXPECT_NE(parse_event(event_json(), small).error().message.find("too large"),
              std::string::npos);
    ParseLimits few_tags;
    few_tags.max_tags = 1;
    EXPECT_TRUE(parse_event(event_json(), few_tags).ok());
    EXPECT_NE(parse_event(event_json("tags", "[[\"a\"],[\"b\"]]"), few_tags)
                  .error()
                  .message.find("too many tags"),
              std::string::npos);
    ParseLimits short_content;
    short_content.max_content = 1;
    EXPECT_NE(parse_event(event_json(), short_content).error().message.find("content too large"),
              std::string::npos);
}

TEST(ParseTest, ControlBytesRoundTripThroughEscapes) {
    std::string content;
    for (int c = 0; c < 0x20; ++c) content.push_back(static_cast<char>(c));
    content += "\x7f\"\\/\xe2\x80\xa8";
    Event e{kId, kPub, 1, 1, {{"t", content}}, content, kSig};
    auto back = parse_event(to_json(e));
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(*back, e);
    // nlohmann reads our output the same way.
    auto viaj = parse_event(nlohmann::json::parse(to_json(e)));
    ASSERT_TRUE(viaj.ok());
    EXPECT_EQ(*viaj, e);
}

TEST(VerifyTest, SignedEventsVerifyAndReasonsAreSpecific) {
    auto keys = Keys::generate();
    auto ev = sign_event(UnsignedEvent{1, "hello", {{"p", keys.pub.hex()}}, std::nullopt}, keys);
    ASSERT_TRUE(ev.ok());
    EXPECT_GT(ev->created_at, 1700000000);
    EXPECT_TRUE(verify_event(*ev).ok());
    EXPECT_TRUE(parse_and_verify(to_json(*ev)).ok());

    Event wrong_id = *ev;
    wrong_id.id = std::string(64, '0');
    EXPECT_EQ(verify_event(wrong_id).error().message, "wrong id");

    // A pubkey that is not on the curve, with the id recomputed so only the key is wrong.
    Event bad_key = *ev;
    bad_key.pubkey = std::string(64, 'f');
    bad_key.id = compute_id_hex(bad_key);
    EXPECT_EQ(verify_event(bad_key).error().message.rfind("bad pubkey", 0), 0u);

    // Someone else's valid signature over the same id.
    auto other = Keys::generate();
    Bytes32 id{};
    ASSERT_TRUE(from_hex(ev->id, id));
    Event forged = *ev;
    forged.sig = to_hex(schnorr_sign(other, id));
    EXPECT_EQ(verify_event(forged).error().message, "bad signature");

    EXPECT_FALSE(sign_event(UnsignedEvent{70000, "", {}, 1}, keys).ok());
    EXPECT_FALSE(sign_event(UnsignedEvent{1, "\xff", {}, 1}, keys).ok());
}

TEST(VerifyTest, BatchMatchesSingleOnSeveralThreads) {
    auto keys = Keys::generate();
    std::vector<Event> events;
    for (int i = 0; i < 200; ++i) {
        auto ev = sign_event(UnsignedEvent{1, "n" + std::to_string(i), {}, 1700000000 + i}, keys);
        ASSERT_TRUE(ev.ok());
        if (i % 7 == 0) ev->content += "!";  // wrong id
        events.push_back(*ev);
    }
    for (unsigned threads : {1u, 2u, 4u, 0u}) {
        auto res = verify_batch(events, threads);
        ASSERT_EQ(res.size(), events.size());
        for (std::size_t i = 0; i < events.size(); ++i)
            EXPECT_EQ(res[i].ok(), i % 7 != 0) << "threads " << threads << " event " << i;
    }
    std::vector<std::string> texts;
    for (const auto& e : events) texts.push_back(to_json(e));
    texts.push_back("not json");
    std::vector<std::string_view> views(texts.begin(), texts.end());
    auto res = parse_and_verify_batch(views, 2);
    ASSERT_EQ(res.size(), texts.size());
    for (std::size_t i = 0; i < events.size(); ++i) EXPECT_EQ(res[i].ok(), i % 7 != 0);
    EXPECT_FALSE(res.back().ok());
    EXPECT_TRUE(verify_batch({}, 4).empty());
}

// verify_event caches parsed public keys per thread. Authors whose keys share a cache set
// (the set is the first two key bytes modulo 128), more of them than a set has ways, must still
// verify every time, and a cached author's key must not make a forged signature pass.
TEST(VerifyTest, KeyCacheUnderPressureNeverChangesTheVerdict) {
    std::vector<Keys> crowd;  // second key byte 0, 1, 128 or 129: two of the 128 sets
    while (crowd.size() < 24) {
        auto k = Keys::generate();
        if (k.pub.bytes[1] % 128 < 2) crowd.push_back(k);
    }
    std::vector<Event> events;
    for (std::size_t i = 0; i < crowd.size(); ++i) {
        auto ev = sign_event(UnsignedEvent{1, "c" + std::to_string(i), {}, 1700000000}, crowd[i]);
        ASSERT_TRUE(ev.ok());
        events.push_back(*ev);
    }
    for (int round = 0; round < 3; ++round)
        for (const auto& ev : events) EXPECT_TRUE(verify_event(ev).ok()) << "round " << round;
    // A valid signature by the next author over this event's id: the claimed author's key is
    // cached now, the verdict must still be "bad signature".
    for (std::size_t i = 0; i < events.size(); ++i) {
        Bytes32 id{};
        ASSERT_TRUE(from_hex(events[i].id, id));
        Event forged = events[i];
        forged.sig = to_hex(schnorr_sign(crowd[(i + 1) % crowd.size()], id));
        EXPECT_EQ(verify_event(forged).error().message, "bad signature");
    }
}

TEST(EventTest, TagHelpers) {
    Event e{kId, kPub, 1, 1, {{"d"}, {"d", "one"}, {"a", "x"}}, "", kSig};
    ASSERT_NE(e.find_tag("d"), nullptr);
    EXPECT_EQ(e.find_tag("d")->size(), 1u);
    EXPECT_EQ(e.tag_value("d"), "one");
    EXPECT_EQ(e.tag_value("zz"), std::nullopt);
}

}  // namespace
}  // namespace tenex::nostr
