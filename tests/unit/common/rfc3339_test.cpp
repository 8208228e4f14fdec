#include "common/rfc3339.hpp"

#include <gtest/gtest.h>

using tenex::format_rfc3339_ms;
using tenex::parse_rfc3339_ms;

TEST(Rfc3339, ReadsTheEnginesNanosecondsTheLogsMillisecondsAndOffsets) {
    EXPECT_EQ(parse_rfc3339_ms("1970-01-01T00:00:00Z"), 0);
    EXPECT_EQ(parse_rfc3339_ms("2026-11-27T23:59:01.123456789Z"), 1795823941123);
    EXPECT_EQ(parse_rfc3339_ms("2026-11-27T23:59:01.123Z"), 1795823941123);
    EXPECT_EQ(parse_rfc3339_ms("2026-11-27T23:59:01.5Z"), 1795823941500);
    EXPECT_EQ(parse_rfc3339_ms("2026-11-28T01:59:01+02:00"), 1795823941000);
    EXPECT_EQ(parse_rfc3339_ms("2026-11-27T22:59:01.1-01:00"), 1795823941100);
}

TEST(Rfc3339, RefusesTheZeroTimeAndAnythingNotWhollyATime) {
    for (const char* bad :
         {"0001-01-01T00:00:00Z", "", "2026-11-27", "2026-11-27T23:59:01", "2026-11-27T23:59:01.Z",
          "2026-11-27T23:59:01Zjunk", "2026-13-27T23:59:01Z", "2026-11-27T24:00:00Z",
          "2026-11-27 23:59:01Z", "2026-11-27T23:59:01+0200", "2026-11-27T23:59:01+02:00x",
          "2026-1a-27T23:59:01Z"})
        EXPECT_EQ(parse_rfc3339_ms(bad), std::nullopt) << bad;
}

TEST(Rfc3339, WritesWhatItReads) {
    EXPECT_EQ(format_rfc3339_ms(1795823941123), "2026-11-27T23:59:01.123Z");
    EXPECT_EQ(format_rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
    for (std::int64_t ms : {0LL, 1LL, 999LL, 1795823941123LL, 4102444799999LL})
        EXPECT_EQ(parse_rfc3339_ms(format_rfc3339_ms(ms)), ms);
}
