#include "relay/lws_log.hpp"

#include <libwebsockets.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <string_view>

namespace tenex::relay {

// libwebsockets logs to stderr by default; keep its errors and warnings, through spdlog.
void quiet_lws_logs() {
    static std::once_flag once;
    std::call_once(once, [] {
        lws_set_log_level(LLL_ERR | LLL_WARN, [](int level, const char* line) {
            std::string_view l(line);
            while (!l.empty() && (l.back() == '\n' || l.back() == '\r')) l.remove_suffix(1);
            if (level & LLL_ERR)
                spdlog::error("libwebsockets: {}", l);
            else
                spdlog::debug("libwebsockets: {}", l);
        });
    });
}

}  // namespace tenex::relay
