#include "daemon/systemd_notify.hpp"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>

namespace tenex::daemon {

SystemdNotifier SystemdNotifier::from_environment() {
    SystemdNotifier n;
    const char* socket = std::getenv("NOTIFY_SOCKET");
    n.enabled_ = socket != nullptr && *socket != '\0';
    if (!n.enabled_) return n;
    std::uint64_t usec = 0;
    const int wd = ::sd_watchdog_enabled(0, &usec);
    if (wd > 0 && usec > 0) {
        n.watchdog_interval_ = std::chrono::microseconds(usec / 2);
        spdlog::info("systemd: watchdog every {} ms (WATCHDOG_USEC {})", usec / 2000, usec);
    } else if (wd < 0) {
        spdlog::warn("systemd: watchdog off: WATCHDOG_USEC/WATCHDOG_PID: {}", std::strerror(-wd));
    }
    return n;
}

void SystemdNotifier::send(const std::string& state) const {
    if (!enabled_) return;
    // 0: keep NOTIFY_SOCKET in the environment, later notifications need it too.
    const int rc = ::sd_notify(0, state.c_str());
    if (rc < 0) spdlog::warn("systemd: notify failed: {}", std::strerror(-rc));
}

void SystemdNotifier::ready(std::string_view status) const {
    send("READY=1\nSTATUS=" + status_line(status));
}

void SystemdNotifier::reloading() const {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    const auto usec = static_cast<std::uint64_t>(ts.tv_sec) * 1000000u +
                      static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
    send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) +
         "\nSTATUS=reloading configuration and policies");
}

void SystemdNotifier::stopping(std::string_view status) const {
    send("STOPPING=1\nSTATUS=" + status_line(status));
}

void SystemdNotifier::status(std::string_view status) const {
    send("STATUS=" + status_line(status));
}

void SystemdNotifier::watchdog() const {
    if (watchdog_interval_) send("WATCHDOG=1");
}

std::string status_line(std::string_view text) {
    std::string out;
    const std::size_t n = std::min<std::size_t>(text.size(), 200);
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        out += (c < 0x20 || c == 0x7f) ? ' ' : static_cast<char>(c);
    }
    return out;
}

}  // namespace tenex::daemon
