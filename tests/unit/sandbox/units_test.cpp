#include <gtest/gtest.h>

#include "sandbox/units.hpp"

namespace tenex::sandbox {
namespace {

using std::chrono::milliseconds;

TEST(Units, MemoryAcceptsBinaryAndDecimalSuffixes) {
    EXPECT_EQ(*parse_memory("512Mi"), 512LL * 1024 * 1024);
    EXPECT_EQ(*parse_memory("2Gi"), 2LL * 1024 * 1024 * 1024);
    EXPECT_EQ(*parse_memory("1G"), 1'000'000'000LL);
    EXPECT_EQ(*parse_memory("64k"), 64'000LL);
    EXPECT_EQ(*parse_memory("3Ki"), 3072LL);
    EXPECT_EQ(*parse_memory("1Ti"), 1LL << 40);
    EXPECT_EQ(*parse_memory("4096"), 4096LL);
    EXPECT_EQ(*parse_memory("10B"), 10LL);
}

TEST(Units, MemoryRejectsBadInputWithAReason) {
    for (const char* bad :
         {"", "Mi", "1.5Gi", "-1G", "12 Mi", "2gb", "2GiB", "1Pi", "0x10", " 1G"}) {
        auto r = parse_memory(bad);
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_FALSE(r.error().message.empty());
    }
    auto unit = parse_memory("2gb");
    EXPECT_NE(unit.error().message.find("unit \"gb\""), std::string::npos) << unit.error().message;
    auto huge = parse_memory("99999999999999999999999Ti");
    EXPECT_NE(huge.error().message.find("too large"), std::string::npos);
    EXPECT_FALSE(parse_memory("5000000Ti").ok());  // over 2^62
}

TEST(Units, CpusAreExactNanoCpus) {
    EXPECT_EQ(*parse_cpus("0.5"), 500'000'000);
    EXPECT_EQ(*parse_cpus("2"), 2'000'000'000);
    EXPECT_EQ(*parse_cpus("1.25"), 1'250'000'000);
    EXPECT_EQ(*parse_cpus(".5"), 500'000'000);
    EXPECT_EQ(*parse_cpus("0.000000001"), 1);
    EXPECT_EQ(*parse_cpus("1024"), 1024LL * 1'000'000'000);
}

TEST(Units, CpusRejectZeroNegativeGarbageAndTooPrecise) {
    for (const char* bad :
         {"0", "0.0", "-1", "", ".", "1.", "abc", "1e3", "1025", "0.0000000001", "1,5"})
        EXPECT_FALSE(parse_cpus(bad).ok()) << bad;
}

TEST(Units, Durations) {
    EXPECT_EQ(*parse_duration("500ms"), milliseconds(500));
    EXPECT_EQ(*parse_duration("30s"), milliseconds(30'000));
    EXPECT_EQ(*parse_duration("10m"), milliseconds(600'000));
    EXPECT_EQ(*parse_duration("24h"), milliseconds(86'400'000));
    EXPECT_EQ(*parse_duration("1h30m"), milliseconds(5'400'000));
    EXPECT_EQ(*parse_duration("2d"), milliseconds(172'800'000));
    EXPECT_EQ(*parse_duration("0s"), milliseconds(0));
}

TEST(Units, DurationsRejectMissingOrUnknownUnits) {
    for (const char* bad : {"", "30", "1.5s", "10 m", "5min", "-1s", "s", "1h30", "1w"}) {
        auto r = parse_duration(bad);
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_FALSE(r.error().message.empty());
    }
    EXPECT_FALSE(parse_duration("999999999999h").ok());
}

TEST(Units, FormattingIsExactAndRoundTrips) {
    EXPECT_EQ(format_memory(2LL << 30), "2Gi");
    EXPECT_EQ(format_memory(512LL << 20), "512Mi");
    EXPECT_EQ(format_memory(1'000'000'000), "1000000000");
    EXPECT_EQ(format_cpus(500'000'000), "0.5");
    EXPECT_EQ(format_cpus(2'000'000'000), "2");
    EXPECT_EQ(format_duration(milliseconds(5'400'000)), "1h30m");
    EXPECT_EQ(format_duration(milliseconds(1500)), "1s500ms");
    for (const char* s : {"512Mi", "3Gi", "7"}) EXPECT_EQ(format_memory(*parse_memory(s)), s);
    for (const char* s : {"0.5", "1.75", "3"}) EXPECT_EQ(format_cpus(*parse_cpus(s)), s);
    for (const char* s : {"500ms", "1h30m", "2d3h", "0s"})
        EXPECT_EQ(format_duration(*parse_duration(s)), s);
}

}  // namespace
}  // namespace tenex::sandbox
