// SystemdNotifier against a fake NOTIFY_SOCKET: a unix datagram socket the test reads, the way
// systemd's manager receives sd_notify messages.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "daemon/systemd_notify.hpp"
#include "environment.hpp"
#include "notify_socket.hpp"

namespace tenex::daemon {
namespace {

using namespace std::chrono_literals;

using test::EnvVar;

// A notify socket in a temporary folder of its own.
struct TempNotifySocket {
    test::TempDir dir;
    test::FakeNotifySocket socket{dir.path() / "notify"};
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
    TempNotifySocket temp;
    auto& fake = temp.socket;
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
    TempNotifySocket temp;
    auto& fake = temp.socket;
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
    EXPECT_EQ(status_line("a\tb\x01"
                          "c"),
              "a b c");
    EXPECT_EQ(status_line(std::string(500, 'x')).size(), 200u);
}

}  // namespace
}  // namespace tenex::daemon
