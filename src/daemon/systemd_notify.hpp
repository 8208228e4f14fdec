// The daemon's side of systemd's service notification protocol (sd_notify(3) from
// libsystemd): readiness, reload, shutdown, a status line and the watchdog. Every call is a
// no-op when the daemon was not started by systemd (no NOTIFY_SOCKET), so the same binary
// runs in a shell, in tests and under `Type=notify` alike.
//
// What the daemon sends, and when (packaging/tenex-sandbox.service relies on it):
//   READY=1       once the HTTP API listens and the start-up reconcile is done; again after
//                 a SIGHUP reload has been applied
//   RELOADING=1   when the daemon thread starts applying a SIGHUP reload
//   STOPPING=1    when a stop was requested (SIGTERM/SIGINT)
//   STATUS=...    a one-line summary (projects running, relays connected) when it changes
//   WATCHDOG=1    from the daemon thread's loop, every half of WATCHDOG_USEC: a loop that
//                 stops turning stops the pings, and systemd restarts the service
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace tenex::daemon {

class SystemdNotifier {
  public:
    // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (through libsystemd). A watchdog
    // set for another process (WATCHDOG_PID not ours) or an invalid WATCHDOG_USEC is off.
    static SystemdNotifier from_environment();

    bool enabled() const { return enabled_; }
    // How often to send WATCHDOG=1: half of WATCHDOG_USEC; none when the watchdog is off.
    std::optional<std::chrono::microseconds> watchdog_interval() const {
        return watchdog_interval_;
    }

    void ready(std::string_view status) const;
    void reloading() const;  // RELOADING=1 with MONOTONIC_USEC (systemd >= 253 wants it)
    void stopping(std::string_view status) const;
    void status(std::string_view status) const;
    void watchdog() const;

  private:
    void send(const std::string& state) const;
    bool enabled_ = false;
    std::optional<std::chrono::microseconds> watchdog_interval_{};
};

// One line for STATUS=: control bytes and newlines (which would start a new assignment)
// become spaces, and it is cut to 200 bytes.
std::string status_line(std::string_view text);

}  // namespace tenex::daemon
