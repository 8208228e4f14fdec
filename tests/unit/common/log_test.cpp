// The json log format: one parseable object per line with the fields log shippers key on.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/log.hpp"

namespace tenex::log {
namespace {

TEST(LogJson, OneObjectWithTimeLevelComponentAndMessage) {
    auto line =
        json_line("2026-12-03T17:16:31.123Z", "info", "http: API listening on 127.0.0.1:7878");
    EXPECT_EQ(line.find('\n'), std::string::npos);
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["time"], "2026-12-03T17:16:31.123Z");
    EXPECT_EQ(j["level"], "info");
    EXPECT_EQ(j["component"], "http");
    EXPECT_EQ(j["message"], "http: API listening on 127.0.0.1:7878");
    EXPECT_EQ(j.size(), 4u);
}

TEST(LogJson, QuotesNewlinesControlBytesAndBadUtf8StayInsideTheString) {
    const std::string hostile = "reload: \"x\"\n{\"level\":\"error\"}\\ \x01 \xff\xfe end";
    auto line = json_line("t", "warn", hostile);
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
    auto j = nlohmann::json::parse(line);  // throws if not valid JSON
    EXPECT_EQ(j["level"], "warn");
    EXPECT_EQ(j["component"], "reload");
    auto msg = j["message"].get<std::string>();
    EXPECT_TRUE(msg.starts_with("reload: \"x\"\n{\"level\":\"error\"}\\ \x01 ")) << msg;
    EXPECT_TRUE(msg.ends_with(" end")) << msg;
    EXPECT_EQ(msg.find('\xff'), std::string::npos);  // replaced, not passed through
}

TEST(LogJson, ComponentIsALowercaseWordPrefixElseDaemon) {
    EXPECT_EQ(component_of("policy: default.yaml:3: warning"), "policy");
    EXPECT_EQ(component_of("embedded-relay: up"), "embedded-relay");
    EXPECT_EQ(component_of("SIGHUP: reloading"), "daemon");
    EXPECT_EQ(component_of("31933:abc:d: refused"), "daemon");
    EXPECT_EQ(component_of("generated a new daemon key at /x"), "daemon");
    EXPECT_EQ(component_of("a very long sentence with words: and a colon"), "daemon");
    EXPECT_EQ(component_of(""), "daemon");
}

TEST(LogFormat, ParsesTheTwoNamesOnly) {
    EXPECT_EQ(parse_format("text"), Format::text);
    EXPECT_EQ(parse_format("json"), Format::json);
    EXPECT_FALSE(parse_format("JSON"));
    EXPECT_FALSE(parse_format(""));
    EXPECT_TRUE(setup(Format::json, "info"));
    EXPECT_TRUE(setup(Format::text, "info"));  // again: replaces the logger, no throw
    EXPECT_FALSE(setup(Format::text, "loud"));
}

}  // namespace
}  // namespace tenex::log
