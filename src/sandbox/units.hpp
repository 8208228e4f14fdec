// The units policy files are written in: memory sizes, CPU counts and durations.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace tenex::sandbox {

// "512Mi", "2Gi", "1G", "64k", "1048576" -> bytes. Binary suffixes Ki/Mi/Gi/Ti (powers of
// 1024), decimal k/K/M/G/T (powers of 1000), "B" alone or no suffix: bytes. Integers only
// (no "1.5Gi"), at most 2^62 bytes.
Result<std::int64_t> parse_memory(std::string_view text);

// "0.5", "2", "1.25" -> nano CPUs (1e9 = one CPU). At most 9 decimals, > 0, <= 1024.
Result<std::int64_t> parse_cpus(std::string_view text);

// "500ms", "30s", "10m", "24h", "1h30m", "0s" -> milliseconds. Each part needs a unit.
Result<std::chrono::milliseconds> parse_duration(std::string_view text);

// The shortest exact spelling: 2147483648 -> "2Gi", 1500 -> "1500", 90000ms -> "90s"/"1m30s".
std::string format_memory(std::int64_t bytes);
std::string format_cpus(std::int64_t nano_cpus);
std::string format_duration(std::chrono::milliseconds ms);

}  // namespace tenex::sandbox
