// stream_container_logs (the helper behind ControlPlane::logs) against real probe containers.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "daemon/http_api.hpp"
#include "docker/containers.hpp"
#include "docker_fixture.hpp"
#include "environment.hpp"

namespace tenex::docker::test {
namespace {

using namespace std::chrono_literals;
using daemon::LogOptions;
using daemon::stream_container_logs;

class DaemonLogs : public DockerTest {
  protected:
    std::string run_echo(const std::string& text) {
        auto id = create(probe_spec("echo", {"echo", text}));
        if (id.empty()) return id;
        auto started = start_container(client(), id);
        EXPECT_TRUE(started) << started.error().describe();
        auto waited = wait_container(client(), id);
        EXPECT_TRUE(waited) << waited.error().describe();
        return id;
    }
};

TEST_F(DaemonLogs, WithoutFollowReturnsStdoutAndStderrText) {
    auto id = run_echo("hello tenex logs");
    ASSERT_FALSE(id.empty());
    std::string text;
    int calls = 0;
    auto st = stream_container_logs(client(), id, LogOptions{}, [&](std::string_view d) {
        text.append(d);
        ++calls;
        return true;
    });
    ASSERT_TRUE(st) << st.error().message;
    // Demultiplexed: no 8-byte frame headers, both streams (the engine copies stdout and
    // stderr separately, so their order is not fixed).
    EXPECT_TRUE(text == "hello tenex logs\nerr:hello tenex logs\n" ||
                text == "err:hello tenex logs\nhello tenex logs\n")
        << text;
    EXPECT_GE(calls, 1);
    // tail=1: only the last line.
    std::string last;
    st = stream_container_logs(client(), id, LogOptions{.follow = false, .tail = 1, .stop = {}},
                               [&](std::string_view d) {
                                   last.append(d);
                                   return true;
                               });
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_TRUE(last == "err:hello tenex logs\n" || last == "hello tenex logs\n") << last;
}

TEST_F(DaemonLogs, FollowOfAnEndedContainerReturnsItsLogs) {
    auto id = run_echo("done already");
    ASSERT_FALSE(id.empty());
    std::string text;
    auto t0 = std::chrono::steady_clock::now();
    auto st = stream_container_logs(
        client(), id, LogOptions{.follow = true, .tail = -1, .stop = {}}, [&](std::string_view d) {
            text.append(d);
            return true;
        });
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_EQ(text.size(), std::string("done already\nerr:done already\n").size()) << text;
    EXPECT_NE(text.find("done already\n"), std::string::npos) << text;
    EXPECT_NE(text.find("err:done already\n"), std::string::npos) << text;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
}

TEST_F(DaemonLogs, FollowStreamsUntilTheContainerEndsOrTheSinkOrStopEndsIt) {
    auto id = create(probe_spec("follow", {"sleep"}));
    ASSERT_FALSE(id.empty());
    {
        auto s = start_container(client(), id);
        ASSERT_TRUE(s) << s.error().describe();
    }

    // 1. The sink ends it.
    std::string first;
    auto st = stream_container_logs(
        client(), id, LogOptions{.follow = true, .tail = -1, .stop = {}}, [&](std::string_view d) {
            first.append(d);
            return first.find("sleeping=1") == std::string::npos;
        });
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_NE(first.find("sleeping=1"), std::string::npos);

    // 2. A stop request ends it.
    std::stop_source stop;
    std::atomic<bool> saw{false};
    std::atomic<bool> returned{false};
    std::thread follower([&] {
        auto r = stream_container_logs(
            client(), id, LogOptions{.follow = true, .tail = -1, .stop = stop.get_token()},
            [&](std::string_view d) {
                if (d.find("sleeping=1") != std::string::npos) saw = true;
                return true;
            });
        EXPECT_TRUE(r) << r.error().message;
        returned = true;
    });
    ASSERT_TRUE(eventually([&] { return saw.load(); }, 10s));
    std::this_thread::sleep_for(200ms);
    EXPECT_FALSE(returned.load());  // still following a live container
    stop.request_stop();
    ASSERT_TRUE(eventually([&] { return returned.load(); }, 3s));
    follower.join();

    // 3. The container ending ends it.
    returned = false;
    std::thread follower2([&] {
        auto r =
            stream_container_logs(client(), id, LogOptions{.follow = true, .tail = 0, .stop = {}},
                                  [&](std::string_view) { return true; });
        EXPECT_TRUE(r) << r.error().message;
        returned = true;
    });
    std::this_thread::sleep_for(300ms);
    EXPECT_FALSE(returned.load());
    ASSERT_TRUE(stop_container(client(), id, 5));
    ASSERT_TRUE(eventually([&] { return returned.load(); }, 10s));
    follower2.join();
}

TEST_F(DaemonLogs, UnknownContainerIsAnError) {
    auto st = stream_container_logs(client(), "tenex-test-no-such-container", LogOptions{},
                                    [](std::string_view) { return true; });
    ASSERT_FALSE(st);
    EXPECT_FALSE(st.error().message.empty());
}

}  // namespace
}  // namespace tenex::docker::test
