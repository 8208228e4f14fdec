// nostr::JsonReader, the strict reader that event parsing and relay messages (relay/message.cpp)
// share: what both rely on.
#include <gtest/gtest.h>

#include <string>

#include "nostr/json_reader.hpp"

namespace {

using tenex::nostr::JsonReader;

TEST(JsonReader, ReadsAnArrayOfStringsAndIntegers) {
    JsonReader r(R"( ["EVENT", "a\"b\u00e9\ud83d\ude00", 42] )");
    std::string s;
    std::uint64_t n = 0;
    ASSERT_TRUE(r.consume('['));
    ASSERT_TRUE(r.read_string(s));
    EXPECT_EQ(s, "EVENT");
    ASSERT_TRUE(r.consume(','));
    ASSERT_TRUE(r.read_string(s)) << r.error();
    EXPECT_EQ(s, "a\"b\xc3\xa9\xf0\x9f\x98\x80");
    ASSERT_TRUE(r.consume(','));
    ASSERT_TRUE(r.read_uint(100, n));
    EXPECT_EQ(n, 42u);
    ASSERT_TRUE(r.consume(']'));
    EXPECT_TRUE(r.at_end());
}

TEST(JsonReader, RefusesWhatRfc8259AndUtf8Refuse) {
    std::string s;
    std::uint64_t n = 0;
    for (const char* bad :
         {R"("\ud83d")", R"("\udc00")", "\"\xc0\xaf\"", "\"a\nb\"", R"("unterminated)"}) {
        JsonReader r(bad);
        EXPECT_FALSE(r.read_string(s)) << bad;
        EXPECT_FALSE(r.error().empty()) << bad;
    }
    for (const char* bad : {"-1", "01", "1.5", "101"}) {
        JsonReader r(bad);
        EXPECT_FALSE(r.read_uint(100, n)) << bad;
    }
}

TEST(JsonReader, SkipsAnyValueUpToTheDepthLimit) {
    JsonReader r(R"({"a":[1,-2.5e3,true,null,{"b":"c"}]} ,)");
    ASSERT_TRUE(r.skip_value()) << r.error();
    EXPECT_EQ(r.pos(), 36u);  // just after the object: a caller can slice it out
    EXPECT_TRUE(r.consume(','));

    std::string deep(100, '[');
    deep += std::string(100, ']');
    JsonReader d(deep);
    EXPECT_FALSE(d.skip_value());
    EXPECT_EQ(d.error(), "nested too deeply");
}

}  // namespace
