#include <gtest/gtest.h>

#include "common/result.hpp"

namespace tenex {
namespace {

Result<int> half(int x) {
    if (x % 2) return make_error("odd: " + std::to_string(x));
    return x / 2;
}

TEST(Result, CarriesValueOrReason) {
    auto a = half(4);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(*a, 2);
    auto b = half(3);
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().message, "odd: 3");
}

TEST(Result, StatusDefaultsToSuccess) {
    Status s = Unit{};
    EXPECT_TRUE(s.ok());
    Status f = make_error("nope");
    EXPECT_FALSE(f.ok());
    EXPECT_EQ(f.error().message, "nope");
}

TEST(Result, MovesOutValue) {
    Result<std::string> r = std::string(100, 'x');
    std::string taken = std::move(r).value();
    EXPECT_EQ(taken.size(), 100u);
}

}  // namespace
}  // namespace tenex
