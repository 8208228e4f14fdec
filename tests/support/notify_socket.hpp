// What a service manager sees of the systemd notification protocol: a unix datagram socket
// to hand a daemon as NOTIFY_SOCKET, read by the test. And an environment variable set for one
// scope (the previous value restored).
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace tenex::test {

class FakeNotifySocket {
  public:
    using Clock = std::chrono::steady_clock;

    explicit FakeNotifySocket(const std::filesystem::path& path) : path_(path.string()) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
        EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << path_;
    }
    ~FakeNotifySocket() { ::close(fd_); }
    FakeNotifySocket(const FakeNotifySocket&) = delete;
    FakeNotifySocket& operator=(const FakeNotifySocket&) = delete;

    const std::string& path() const { return path_; }

    // The next datagram, or nothing within the timeout.
    std::optional<std::string> next(std::chrono::milliseconds timeout = std::chrono::seconds(2)) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
        char buf[4096];
        auto n = ::recv(fd_, buf, sizeof buf, 0);
        if (n < 0) return std::nullopt;
        return std::string(buf, static_cast<std::size_t>(n));
    }

    // Reads until a message starting with `prefix` (returned) or the timeout; every message
    // read on the way is appended to `seen`.
    std::optional<std::string> until(const std::string& prefix, std::chrono::milliseconds timeout,
                                     std::vector<std::string>* seen = nullptr) {
        const auto end = Clock::now() + timeout;
        while (Clock::now() < end) {
            auto m =
                next(std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()));
            if (!m) break;
            if (seen) seen->push_back(*m);
            if (m->starts_with(prefix)) return m;
        }
        return std::nullopt;
    }

    // How many WATCHDOG=1 arrive within `window` (other messages are skipped).
    int watchdogs_within(std::chrono::milliseconds window) {
        int n = 0;
        const auto end = Clock::now() + window;
        while (Clock::now() < end)
            if (auto m =
                    next(std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()));
                m && *m == "WATCHDOG=1")
                ++n;
        return n;
    }

  private:
    std::string path_;
    int fd_ = -1;
};

// Sets (or, with nullptr, unsets) a variable for the scope; the old value comes back after.
class EnvVar {
  public:
    EnvVar(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        if (value)
            ::setenv(name, value, 1);
        else
            ::unsetenv(name);
    }
    EnvVar(const char* name, const std::string& value) : EnvVar(name, value.c_str()) {}
    ~EnvVar() {
        if (old_)
            ::setenv(name_, old_->c_str(), 1);
        else
            ::unsetenv(name_);
    }
    EnvVar(const EnvVar&) = delete;
    EnvVar& operator=(const EnvVar&) = delete;

  private:
    const char* name_;
    std::optional<std::string> old_{};
};

}  // namespace tenex::test
