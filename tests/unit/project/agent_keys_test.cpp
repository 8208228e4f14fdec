#include "project/agent_keys.hpp"

#include "nostr/keys.hpp"

#include <gtest/gtest.h>

namespace tenex::project {
namespace {

TEST(AgentKeys, GeneratesDistinctValidNsecs) {
    auto gen = nostr_key_generator();
    auto a = gen();
    auto b = gen();
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->rfind("nsec1", 0), 0u);
    EXPECT_NE(*a, *b);
    auto parsed = nostr::SecretKey::parse(*a);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(parsed->reveal_nsec(), *a);
}

}  // namespace
}  // namespace tenex::project
