#include "common/log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace tenex::log {

namespace {

constexpr const char* kLoggerName = "tenex";

// JOURNAL_STREAM is "<device>:<inode>" of the stream systemd connected to the journal; it
// is ours when stderr is that stream (a child with redirected stderr inherits the variable).
bool stderr_is_journal() {
    const char* env = std::getenv("JOURNAL_STREAM");
    if (env == nullptr) return false;
    unsigned long long dev = 0, ino = 0;
    if (std::sscanf(env, "%llu:%llu", &dev, &ino) != 2) return false;
    struct stat st {};
    if (::fstat(STDERR_FILENO, &st) != 0) return false;
    return static_cast<unsigned long long>(st.st_dev) == dev &&
           static_cast<unsigned long long>(st.st_ino) == ino;
}

std::string_view level_name(spdlog::level::level_enum lvl) {
    switch (lvl) {
        case spdlog::level::trace:
            return "trace";
        case spdlog::level::debug:
            return "debug";
        case spdlog::level::info:
            return "info";
        case spdlog::level::warn:
            return "warn";
        case spdlog::level::err:
            return "error";
        case spdlog::level::critical:
            return "critical";
        default:
            return "off";
    }
}

// syslog priorities (sd-daemon.h's SD_ERR etc.) for the journal's "<N>" prefix.
char syslog_priority(spdlog::level::level_enum lvl) {
    switch (lvl) {
        case spdlog::level::critical:
            return '2';
        case spdlog::level::err:
            return '3';
        case spdlog::level::warn:
            return '4';
        case spdlog::level::info:
            return '6';
        default:
            return '7';
    }
}

class JsonFormatter final : public spdlog::formatter {
  public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        const auto t = std::chrono::system_clock::to_time_t(msg.time);
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch())
                .count() %
            1000;
        std::tm tm{};
        ::gmtime_r(&t, &tm);
        char time[40];
        const std::size_t n = std::strftime(time, sizeof time, "%Y-%m-%dT%H:%M:%S", &tm);
        std::snprintf(time + n, sizeof time - n, ".%03dZ", static_cast<int>(ms));
        const std::string line = json_line(
            time, level_name(msg.level), std::string_view(msg.payload.data(), msg.payload.size()));
        dest.append(line.data(), line.data() + line.size());
        dest.push_back('\n');
    }
    std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<JsonFormatter>();
    }
};

// "<6>message": the journal keeps the time, the unit and the pid itself.
class JournalFormatter final : public spdlog::formatter {
  public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        dest.push_back('<');
        dest.push_back(syslog_priority(msg.level));
        dest.push_back('>');
        // A newline would start a new journal entry without the prefix.
        for (char c : std::string_view(msg.payload.data(), msg.payload.size()))
            dest.push_back(c == '\n' ? ' ' : c);
        dest.push_back('\n');
    }
    std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<JournalFormatter>();
    }
};

}  // namespace

std::optional<Format> parse_format(std::string_view name) {
    if (name == "text") return Format::text;
    if (name == "json") return Format::json;
    return std::nullopt;
}

bool setup(Format format, const std::string& level) {
    auto lvl = spdlog::level::from_str(level);
    if (lvl == spdlog::level::off && level != "off") return false;
    spdlog::drop(kLoggerName);
    auto logger = spdlog::stderr_color_mt(kLoggerName);
    if (format == Format::json)
        logger->set_formatter(std::make_unique<JsonFormatter>());
    else if (stderr_is_journal())
        logger->set_formatter(std::make_unique<JournalFormatter>());
    else
        logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
    logger->set_level(lvl);
    spdlog::set_default_logger(logger);
    return true;
}

void print_error(std::string_view text) {
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    std::string out;
    const bool journal = stderr_is_journal();
    for (std::size_t start = 0;;) {
        const std::size_t nl = text.find('\n', start);
        if (journal) out += "<3>";
        out.append(
            text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start));
        out += '\n';
        if (nl == std::string_view::npos) break;
        start = nl + 1;
    }
    std::fwrite(out.data(), 1, out.size(), stderr);
    std::fflush(stderr);
}

std::string_view component_of(std::string_view message) {
    const auto colon = message.find(": ");
    if (colon == 0 || colon == std::string_view::npos || colon > 24) return "daemon";
    const auto word = message.substr(0, colon);
    const bool ok = std::all_of(word.begin(), word.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    });
    return ok && word.front() >= 'a' && word.front() <= 'z' ? word : std::string_view("daemon");
}

std::string json_line(std::string_view time_utc, std::string_view level, std::string_view message) {
    nlohmann::ordered_json j;
    j["time"] = std::string(time_utc);
    j["level"] = std::string(level);
    j["component"] = std::string(component_of(message));
    j["message"] = std::string(message);
    return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
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
