#include "project/slug.hpp"

#include <gtest/gtest.h>

namespace tenex::project {
namespace {

TEST(KebabSlug, LowercasesAndJoinsWordsWithDashes) {
    EXPECT_EQ(kebab_slug("Senior Developer"), "senior-developer");
    EXPECT_EQ(kebab_slug("  Project_Manager (v2)!! "), "project-manager-v2");
    EXPECT_EQ(kebab_slug("already-kebab"), "already-kebab");
    EXPECT_EQ(kebab_slug("CamelCase42"), "camelcase42");
}

TEST(KebabSlug, DropsNonAsciiAndPathCharacters) {
    EXPECT_EQ(kebab_slug("../../etc/passwd"), "etc-passwd");
    EXPECT_EQ(kebab_slug("Café Agent"), "caf-agent");
    EXPECT_EQ(kebab_slug(std::string("a\0b", 3)), "a-b");
}

TEST(KebabSlug, EmptyWhenNothingUsableIsLeft) {
    EXPECT_EQ(kebab_slug(""), "");
    EXPECT_EQ(kebab_slug("!!! ---"), "");
    EXPECT_EQ(kebab_slug("日本語"), "");
}

TEST(KebabSlug, IsLengthLimited) {
    const std::string s = kebab_slug(std::string(10000, 'a'));
    EXPECT_EQ(s.size(), 64u);
    const std::string t = kebab_slug(std::string(63, 'b') + " c");
    EXPECT_LE(t.size(), 64u);
    EXPECT_NE(t.back(), '-');
}

}  // namespace
}  // namespace tenex::project
