// The /events stream: typed container events, prompt stop.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "docker/containers.hpp"
#include "docker/events.hpp"
#include "docker_fixture.hpp"

namespace tenex::docker::test {
namespace {

using namespace std::chrono_literals;

struct Recorder {
    std::mutex mu;
    std::vector<Event> events;
    std::atomic<bool> connected{false};
    EventHandlers handlers() {
        return {.on_event =
                    [this](const Event& e) {
                        std::lock_guard l(mu);
                        events.push_back(e);
                    },
                .on_connected = [this] { connected = true; },
                .on_gap = {},
                .on_error = {}};
    }
    std::optional<Event> find(const std::string& id, EventKind kind) {
        std::lock_guard l(mu);
        for (const auto& e : events)
            if (e.id == id && e.kind == kind) return e;
        return std::nullopt;
    }
};

TEST_F(DockerTest, EventsSeeStartDieOomDestroy) {
    Recorder rec;
    EventStreamOptions options;
    options.filter.labels = {"tenex.test.run=" + run_id()};
    EventStream stream(client(), options, rec.handlers());
    stream.start();
    ASSERT_TRUE(eventually([&] { return rec.connected.load(); }, 10s));

    auto exiting = create(probe_spec("ev-exit", {"exit", "3", "0.2"}));
    auto hog_spec = probe_spec("ev-oom", {"alloc", "256"});
    hog_spec.memory_bytes = 16 << 20;
    hog_spec.memory_swap_bytes = 16 << 20;
    auto hog = create(hog_spec);
    ASSERT_TRUE(start_container(client(), exiting));
    ASSERT_TRUE(start_container(client(), hog));

    ASSERT_TRUE(eventually([&] { return rec.find(exiting, EventKind::Die).has_value(); }));
    EXPECT_TRUE(rec.find(exiting, EventKind::Start));
    auto die = rec.find(exiting, EventKind::Die);
    EXPECT_EQ(die->exit_code, 3);
    EXPECT_EQ(die->type, "container");
    EXPECT_FALSE(die->attribute("name").empty());
    EXPECT_EQ(die->attribute("tenex.test.run"), run_id());

    ASSERT_TRUE(eventually([&] { return rec.find(hog, EventKind::Oom).has_value(); }))
        << "no oom event for a 16 MiB container allocating 256 MiB";
    ASSERT_TRUE(eventually([&] { return rec.find(hog, EventKind::Die).has_value(); }));
    EXPECT_EQ(rec.find(hog, EventKind::Die)->exit_code, 137);
    auto info = inspect_container(client(), hog);
    ASSERT_TRUE(info);
    EXPECT_TRUE(info->state.oom_killed);

    ASSERT_TRUE(remove_container(client(), exiting, true));
    ASSERT_TRUE(eventually([&] { return rec.find(exiting, EventKind::Destroy).has_value(); }));

    // Filtered: nothing from containers without our run label.
    {
        std::lock_guard l(rec.mu);
        for (const auto& e : rec.events) EXPECT_EQ(e.attribute("tenex.test.run"), run_id());
    }
    auto t0 = std::chrono::steady_clock::now();
    stream.stop();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
    EXPECT_FALSE(stream.connected());
}

TEST_F(DockerTest, EventsSinceReplaysWhatHappenedBeforeConnecting) {
    auto before = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count() -
                  1;
    auto id = create(probe_spec("ev-since", {"exit", "5"}));
    ASSERT_TRUE(start_container(client(), id));
    auto waited = wait_container(client(), id);
    ASSERT_TRUE(waited) << waited.error().describe();

    Recorder rec;
    EventStreamOptions options;
    options.filter.labels = {"tenex.test.run=" + run_id()};
    options.since = before;
    EventStream stream(client(), options, rec.handlers());
    stream.start();
    ASSERT_TRUE(eventually([&] { return rec.find(id, EventKind::Die).has_value(); }, 10s));
    EXPECT_EQ(rec.find(id, EventKind::Die)->exit_code, 5);
    EXPECT_TRUE(rec.find(id, EventKind::Start));
    std::lock_guard l(rec.mu);
    int dies = 0;
    for (const auto& e : rec.events) dies += e.id == id && e.kind == EventKind::Die;
    EXPECT_EQ(dies, 1);
}

}  // namespace
}  // namespace tenex::docker::test
