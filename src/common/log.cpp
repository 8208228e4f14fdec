#include "common/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace tenex::log {

bool setup(Format format, const std::string& level) {
    auto lvl = spdlog::level::from_str(level);
    if (lvl == spdlog::level::off && level != "off") return false;
    auto logger = spdlog::stderr_color_mt("tenex");
    if (format == Format::json) {
        logger->set_pattern(
            R"({"ts":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","thread":%t,"msg":"%v"})");
    } else {
        logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
    }
    logger->set_level(lvl);
    spdlog::set_default_logger(logger);
    return true;
}

std::string printable(std::string_view text, std::size_t max_bytes) {
    std::string out;
    const std::size_t n = std::min(text.size(), max_bytes);
    out.reserve(n + 24);
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
    }
    if (text.size() > max_bytes) out += "...(" + std::to_string(text.size()) + " bytes)";
    return out;
}

}  // namespace tenex::log
