// SystemdNotifier against a fake NOTIFY_SOCKET: a unix datagram socket the test reads, the way
// systemd's manager receives sd_notify messages.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "daemon/systemd_notify.hpp"
#include "environment.hpp"

namespace tenex::daemon {
namespace {

using namespace std::chrono_literals;

// Sets (or unsets, with nullptr) an environment variable for the scope of a test.
class EnvVar {
public:
    EnvVar(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        if (value) ::setenv(name, value, 1);
        else ::unsetenv(name);
    }
    ~EnvVar() {
        if (old_) ::setenv(name_, old_->c_str(), 1);
        else ::unsetenv(name_);
    }

private:
    const char* name_;
    std::optional<std::string> old_{};
};

class FakeNotifySocket {
public:
    FakeNotifySocket() {
        path_ = (dir_.path() / "notify").string();
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
        EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    }
    ~FakeNotifySocket() { ::close(fd_); }
    const std::string& path() const { return path_; }
    // The next datagram, or nothing within the timeout.
    std::optional<std::string> next(std::chrono::milliseconds timeout = 2000ms) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
        char buf[4096];
        auto n = ::recv(fd_, buf, sizeof buf, 0);
        if (n < 0) return std::nullopt;
        return std::string(buf, static_cast<std::size_t>(n));
    }

private:
    test::TempDir dir_;
    std::string path_;
    int fd_ = -1;
};

TEST(SystemdNotifier, WithoutNotifySocketEverythingIsANoOp) {
    EnvVar socket("NOTIFY_SOCKET", nullptr);
    EnvVar wd("WATCHDOG_USEC", "1000000");
    auto n = SystemdNotifier::from_environment();
    EXPECT_FALSE(n.enabled());
    EXPECT_FALSE(n.watchdog_interval());
    n.ready("x");  // nothing to send to, nothing fails
    n.watchdog();
}

TEST(SystemdNotifier, SendsReadyReloadingStoppingStatusAndWatchdog) {
    FakeNotifySocket fake;
    EnvVar socket("NOTIFY_SOCKET", fake.path().c_str());
    EnvVar wd("WATCHDOG_USEC", "3000000");
    EnvVar pid("WATCHDOG_PID", std::to_string(::getpid()).c_str());
    auto n = SystemdNotifier::from_environment();
    ASSERT_TRUE(n.enabled());
    ASSERT_TRUE(n.watchdog_interval());
    EXPECT_EQ(*n.watchdog_interval(), 1500ms);  // half of WATCHDOG_USEC

    n.ready("2 projects running");
    EXPECT_EQ(fake.next(), "READY=1\nSTATUS=2 projects running");
    n.reloading();
    auto reloading = fake.next();
    ASSERT_TRUE(reloading);
    EXPECT_TRUE(reloading->starts_with("RELOADING=1\nMONOTONIC_USEC=")) << *reloading;
    n.status("line\nREADY=1");  // a newline cannot smuggle in another assignment
    EXPECT_EQ(fake.next(), "STATUS=line READY=1");
    n.watchdog();
    EXPECT_EQ(fake.next(), "WATCHDOG=1");
    n.stopping("bye");
    EXPECT_EQ(fake.next(), "STOPPING=1\nSTATUS=bye");
    EXPECT_FALSE(fake.next(100ms));
}

TEST(SystemdNotifier, AWatchdogMeantForAnotherProcessOrInvalidIsOff) {
    FakeNotifySocket fake;
    EnvVar socket("NOTIFY_SOCKET", fake.path().c_str());
    {
        EnvVar wd("WATCHDOG_USEC", "1000000");
        EnvVar pid("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str());
        auto n = SystemdNotifier::from_environment();
        EXPECT_TRUE(n.enabled());
        EXPECT_FALSE(n.watchdog_interval());
        n.watchdog();  // off: sends nothing
        EXPECT_FALSE(fake.next(100ms));
    }
    {
        EnvVar wd("WATCHDOG_USEC", "soon");
        EnvVar pid("WATCHDOG_PID", nullptr);
        EXPECT_FALSE(SystemdNotifier::from_environment().watchdog_interval());
    }
    {
        EnvVar wd("WATCHDOG_USEC", nullptr);
        EXPECT_FALSE(SystemdNotifier::from_environment().watchdog_interval());
    }
}

TEST(SystemdNotifier, StatusLineIsOneLineOfAtMost200Bytes) {
    EXPECT_EQ(status_line("a\tb\x01" "c"), "a b c");
    EXPECT_EQ(status_line(std::string(500, 'x')).size(), 200u);
}

}  // namespace
}  // namespace tenex::daemon
