#include <gtest/gtest.h>

#include "nostr/event.hpp"
#include "relay/message.hpp"

namespace tenex::relay {
namespace {

template <class T>
const T& as(const Result<RelayMessage>& r) {
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return std::get<T>(*r);
}

TEST(RelayMessage, ParsesEveryRelayMessageType) {
    auto ev = parse_relay_message(R"(["EVENT","sub1",{"id":"ab","kind":1}])");
    EXPECT_EQ(as<EventMsg>(ev).sub_id, "sub1");
    EXPECT_EQ(as<EventMsg>(ev).event_json, R"({"id":"ab","kind":1})");

    auto ok = parse_relay_message(R"(["OK","abcd",false,"auth-required: sign in"])");
    EXPECT_EQ(as<OkMsg>(ok).event_id, "abcd");
    EXPECT_FALSE(as<OkMsg>(ok).accepted);
    EXPECT_EQ(as<OkMsg>(ok).message, "auth-required: sign in");

    EXPECT_EQ(as<EoseMsg>(parse_relay_message(R"(["EOSE","s"])")).sub_id, "s");
    auto closed = parse_relay_message(R"(["CLOSED","s","rate-limited: slow down"])");
    EXPECT_EQ(as<ClosedMsg>(closed).message, "rate-limited: slow down");
    EXPECT_EQ(as<NoticeMsg>(parse_relay_message(R"(["NOTICE","hi"])")).message, "hi");
    EXPECT_EQ(as<AuthMsg>(parse_relay_message(R"(["AUTH","challenge-1"])")).challenge,
              "challenge-1");
    // OK without a message is tolerated (older relays).
    EXPECT_TRUE(as<OkMsg>(parse_relay_message(R"(["OK","ab",true])")).accepted);
}

TEST(RelayMessage, RejectsMalformedInputWithAReason) {
    const char* bad[] = {
        "",
        "not json",
        "{}",
        "[]",
        "[1]",
        R"(["EVENT"])",
        R"(["EVENT","s"])",
        R"(["EVENT","s",42])",
        R"(["EVENT","",{}])",
        R"(["OK","id","yes","m"])",
        R"(["OK"])",
        R"(["EOSE"])",
        R"(["EOSE",5])",
        R"(["AUTH"])",
        R"(["WHAT","x"])",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        "\xff\xfe\xfd"};
    for (const char* text : bad) {
        auto r = parse_relay_message(text);
        EXPECT_FALSE(r.ok()) << text;
        if (!r.ok()) {
            EXPECT_FALSE(r.error().message.empty());
        }
    }
    const std::string long_id(65, 'a');
    EXPECT_FALSE(parse_relay_message(R"(["EOSE",")" + long_id + "\"]").ok());
}

// What the pool does with a relay's text: the message, then for EVENT the event itself.
Status pool_reads(std::string_view text) {
    auto m = parse_relay_message(text);
    if (!m) return m.error();
    if (auto* ev = std::get_if<EventMsg>(&*m)) {
        auto e = nostr::parse_event(ev->event_json);
        if (!e) return e.error();
    }
    return Unit{};
}

TEST(RelayMessage, EventKeepsTheObjectTextForTheEventParser) {
    const std::string obj =
        R"({"id":"ab","tags":[["a","x\"]"]],"nested":{"k":[1,2.5e3,null,true]}})";
    const std::string text = " [ \"EVENT\" ,\n\t\"s\\u0031\" , " + obj + " ] ";
    auto ev = parse_relay_message(text);  // event_json is a view into text
    EXPECT_EQ(as<EventMsg>(ev).sub_id, "s1");
    EXPECT_EQ(as<EventMsg>(ev).event_json, obj);
    auto notice = parse_relay_message(R"(["NOTICE","caf\u00e9 \ud83d\ude00"])");
    EXPECT_EQ(as<NoticeMsg>(notice).message, "caf\xc3\xa9 \xf0\x9f\x98\x80");
    // A NOTICE whose message is not a string keeps the (empty) message; CLOSED likewise;
    // other messages tolerate (and skip) extra elements.
    EXPECT_EQ(as<NoticeMsg>(parse_relay_message(R"(["NOTICE",5])")).message, "");
    EXPECT_EQ(as<ClosedMsg>(parse_relay_message(R"(["CLOSED","s"])")).message, "");
    EXPECT_EQ(as<EoseMsg>(parse_relay_message(R"(["EOSE","s",{"x":[1]},"more"])")).sub_id, "s");
}

TEST(RelayMessage, RejectsWhatIsNotExactlyOneJsonArray) {
    const std::string deep = std::string(70, '[') + std::string(70, ']');
    const std::string event = R"({"id":"x"})";
    const std::string bad[] = {
        R"(["EVENT","s",{"id":"x"}] [])",          // trailing value
        R"(["EVENT","s",{"id":"x"})",              // unterminated
        R"(["EVENT","s",{"id":"x",}])",            // trailing comma in the object
        R"(["EVENT","s",{"id":"x"},])",            // trailing comma in the array
        R"(["EVENT","s",{"id":"x"},{"id":"y"}])",  // an EVENT has three elements
        R"(["EVENT","s",{"id":"x"},"more"])",
        R"(["EVENT" "s",{}])",                  // missing comma
        "[\"EVENT\",\"s\",{\"c\":\"\xff\"}]",   // invalid UTF-8 in the event
        "[\"NOTICE\",\"a\nb\"]",                // raw control character
        R"(["NOTICE","\ud800"])",               // lone surrogate
        R"(["EVENT","s",{"a":)" + deep + "}]",  // nested too deeply
        R"(["NOTICE",)" + deep + "]",
        R"(["EVENT","s",{"n":01}])",  // leading zero
        R"(["OK","id",tru,""])",
        R"(["EOSE","s"] x)",
    };
    for (const auto& text : bad) {
        auto r = pool_reads(text);
        EXPECT_FALSE(r.ok()) << text;
        if (!r.ok()) {
            EXPECT_EQ(r.error().message.rfind("malformed: ", 0), 0u) << r.error().message;
        }
    }
}

TEST(RelayMessage, ParsesClientMessages) {
    auto req = parse_client_message(R"(["REQ","s1",{"kinds":[1],"limit":5},{"authors":[]}])");
    ASSERT_TRUE(req.ok()) << req.error().message;
    const auto& r = std::get<ReqMsg>(*req);
    EXPECT_EQ(r.sub_id, "s1");
    ASSERT_EQ(r.filters.size(), 2u);
    EXPECT_EQ(r.filters[0].limit, 5u);

    EXPECT_EQ(std::get<CloseMsg>(*parse_client_message(R"(["CLOSE","s1"])")).sub_id, "s1");
    EXPECT_TRUE(
        std::holds_alternative<ClientEventMsg>(*parse_client_message(R"(["EVENT",{"id":"x"}])")));
    EXPECT_TRUE(
        std::holds_alternative<ClientAuthMsg>(*parse_client_message(R"(["AUTH",{"id":"x"}])")));

    EXPECT_FALSE(parse_client_message(R"(["REQ","s1"])").ok());
    EXPECT_FALSE(parse_client_message(R"(["REQ","s1",{"kinds":"x"}])").ok());
    EXPECT_FALSE(parse_client_message(R"(["REQ","s1",{},{},{}])", 2).ok());
    EXPECT_FALSE(parse_client_message(R"(["EVENT",[]])").ok());
}

TEST(RelayMessage, ReasonPrefix) {
    EXPECT_EQ(reason_prefix("auth-required: please"), "auth-required");
    EXPECT_EQ(reason_prefix("rate-limited: slow"), "rate-limited");
    EXPECT_EQ(reason_prefix("duplicate:"), "duplicate");
    EXPECT_EQ(reason_prefix("no prefix here"), "");
    EXPECT_EQ(reason_prefix("Weird Prefix: x"), "");
    EXPECT_EQ(reason_prefix(""), "");
}

TEST(RelayMessage, BuildersProduceParseableJson) {
    auto closed = parse_relay_message(make_closed_msg("s\"1", "error: \n bad"));
    ASSERT_TRUE(closed.ok());
    EXPECT_EQ(std::get<ClosedMsg>(*closed).sub_id, "s\"1");
    EXPECT_EQ(std::get<ClosedMsg>(*closed).message, "error: \n bad");
    auto ok = parse_relay_message(make_ok_msg("id1", true, ""));
    ASSERT_TRUE(ok.ok());
    EXPECT_TRUE(std::get<OkMsg>(*ok).accepted);
    nostr::Filter f;
    f.kinds = std::vector<std::uint32_t>{1, 30000};
    auto req = parse_client_message(make_req_msg("sub", {f}));
    ASSERT_TRUE(req.ok());
    EXPECT_EQ(std::get<ReqMsg>(*req).filters[0], f);
    EXPECT_EQ(make_close_msg("a"), R"(["CLOSE","a"])");
}

}  // namespace
}  // namespace tenex::relay
