#include "project/profile_publisher.hpp"
#include "project/agent_keys.hpp"
#include "project/agent_profile.hpp"
#include "project/tenex_layout.hpp"

#include "environment.hpp"
#include "nostr/verify.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/stat.h>
#include <fstream>
#include <mutex>

namespace tenex::project {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Records every event "published", with the time it arrived; can be told to refuse.
struct Recorder {
    std::mutex mu;
    std::vector<nostr::Event> events;
    std::vector<Clock::time_point> times;
    bool refuse{false};
    std::chrono::milliseconds delay{0};

    PublishFn fn() {
        return [this](const nostr::Event& e) -> Status {
            if (delay.count()) std::this_thread::sleep_for(delay);
            std::lock_guard lock(mu);
            if (refuse) return make_error("blocked: no");
            events.push_back(e);
            times.push_back(Clock::now());
            return Unit{};
        };
    }
    std::size_t count() {
        std::lock_guard lock(mu);
        return events.size();
    }
};

struct Profiles : ::testing::Test {
    test::TempDir tmp;
    fs::path ws;
    ProjectDefinition project;
    std::vector<AgentDefinition> agents;

    void SetUp() override {
        ws = tmp.path() / "ws";
        fs::create_directories(ws);
        project.identifier = "proj";
        project.owner = nostr::Keys::generate().pub.hex();
        project.naddr = "naddr1x";
        for (int i = 0; i < 3; ++i) {
            AgentDefinition a;
            a.event_id = std::string(63, 'a') + static_cast<char>('0' + i);
            a.name = "Agent " + std::to_string(i);
            a.role = "role " + std::to_string(i);
            a.description = "does thing " + std::to_string(i);
            agents.push_back(a);
        }
        write_layout();
    }
    void write_layout() {
        auto w = write_tenex_layout(ws, project, agents, {}, nostr_key_generator());
        ASSERT_TRUE(w.ok()) << w.error().message;
    }
    std::vector<AgentProfile> read() {
        auto p = read_agent_profiles(ws, project);
        EXPECT_TRUE(p.ok()) << (p ? "" : p.error().message);
        return p ? *p : std::vector<AgentProfile>{};
    }
};

TEST_F(Profiles, BuiltFromTheWorkspaceWithTheAgentsOwnKeys) {
    auto profiles = read();
    ASSERT_EQ(profiles.size(), 3U);
    std::ifstream in(ws / ".tenex" / "agents.json");
    auto index = nlohmann::json::parse(in);
    const std::string address = "31933:" + project.owner + ":proj";
    for (const auto& p : profiles) {
        auto sk = nostr::SecretKey::parse(index.at(p.slug).at("nsec").get<std::string>());
        ASSERT_TRUE(sk.ok());
        EXPECT_EQ(p.pubkey(), sk->public_key().hex()) << p.slug;
        EXPECT_EQ(p.event.kind, 0U);
        auto content = nlohmann::json::parse(p.event.content);
        const int i = content.at("name").get<std::string>().back() - '0';
        EXPECT_EQ(content.at("name"), "Agent " + std::to_string(i));
        EXPECT_EQ(content.at("role"), "role " + std::to_string(i));
        EXPECT_EQ(content.at("about"), "does thing " + std::to_string(i));
        EXPECT_EQ(content.at("project"), address);
        EXPECT_EQ(p.event.tags, (std::vector<nostr::Tag>{{"p", project.owner}, {"a", address}}));
        EXPECT_EQ(p.digest.size(), 64U);
    }
    // Same inputs, same digests; a changed role changes exactly that agent's digest.
    auto again = read();
    agents[1].role = "new role";
    agents[1].event_id = std::string(63, 'b') + "1";  // a newer definition of the same agent
    write_layout();
    auto changed = read();
    ASSERT_EQ(again.size(), 3U);
    ASSERT_EQ(changed.size(), 3U);
    int differing = 0;
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(again[i].digest, profiles[i].digest);
        EXPECT_EQ(changed[i].pubkey(), profiles[i].pubkey());  // the key is kept
        if (changed[i].digest != profiles[i].digest) ++differing;
    }
    EXPECT_EQ(differing, 1);
}

TEST_F(Profiles, BrokenEntriesAreSkippedNotFatal) {
    std::ifstream in(ws / ".tenex" / "agents.json");
    auto index = nlohmann::json::parse(in);
    in.close();
    index["broken-key"] = {{"nsec", "nsec1notakey"}, {"file", agents[0].event_id + ".json"}};
    index["escape"] = {{"nsec", index.begin().value().at("nsec")}, {"file", "../../etc/passwd"}};
    index["gone"] = {{"nsec", index.begin().value().at("nsec")},
                     {"file", std::string(64, 'f') + ".json"}};
    std::ofstream(ws / ".tenex" / "agents.json") << index.dump();
    EXPECT_EQ(read().size(), 3U);
    // No workspace at all is an error.
    EXPECT_FALSE(read_agent_profiles(tmp.path() / "nowhere", project).ok());
}

TEST_F(Profiles, PublishedOnceSignedByTheAgentAndRememberedAcrossRestarts) {
    Recorder rec;
    auto profiles = read();
    {
        ProfilePublisher pub(rec.fn(), 50);
        EXPECT_EQ(pub.submit(profiles), 3U);
        ASSERT_TRUE(pub.wait_idle(5s));
        EXPECT_EQ(pub.published(), 3U);
        EXPECT_EQ(pub.submit(read()), 0U);  // unchanged: nothing queued
    }
    ASSERT_EQ(rec.count(), 3U);
    for (std::size_t i = 0; i < 3; ++i) {
        const auto& e = rec.events[i];
        EXPECT_TRUE(nostr::verify_event(e).ok());
        EXPECT_EQ(e.kind, 0U);
        EXPECT_EQ(e.pubkey, profiles[i].pubkey());
        EXPECT_EQ(e.content, profiles[i].event.content);
    }
    struct stat st {};
    ASSERT_EQ(::stat((ws / ".tenex" / "profiles.json").c_str(), &st), 0);
    std::ifstream dig(ws / ".tenex" / "profiles.json");
    const std::string text((std::istreambuf_iterator<char>(dig)), {});
    EXPECT_EQ(text.find("nsec"), std::string::npos);

    // A new publisher (daemon restart) does not republish unchanged profiles...
    ProfilePublisher restarted(rec.fn(), 50);
    EXPECT_EQ(restarted.submit(read()), 0U);
    // ...but does publish the one that changed.
    agents[2].description = "does something else now";
    agents[2].event_id = std::string(63, 'c') + "2";
    write_layout();
    EXPECT_EQ(restarted.submit(read()), 1U);
    ASSERT_TRUE(restarted.wait_idle(5s));
    ASSERT_EQ(rec.count(), 4U);
    EXPECT_NE(rec.events[3].content.find("does something else now"), std::string::npos);
    EXPECT_EQ(rec.events[3].pubkey, profiles[2].pubkey());
}

TEST_F(Profiles, ThrottledAcrossProjects) {
    // Two workspaces (two projects), 3 agents each, at 10 per second: 6 publishes take at
    // least 5 intervals of 100 ms, and no two start closer than the interval.
    fs::path ws2 = tmp.path() / "ws2";
    fs::create_directories(ws2);
    ProjectDefinition p2 = project;
    p2.identifier = "second";
    ASSERT_TRUE(write_tenex_layout(ws2, p2, agents, {}, nostr_key_generator()).ok());
    auto second = read_agent_profiles(ws2, p2);
    ASSERT_TRUE(second.ok());

    Recorder rec;
    ProfilePublisher pub(rec.fn(), 10);
    const auto start = Clock::now();
    EXPECT_EQ(pub.submit(read()), 3U);
    EXPECT_EQ(pub.submit(*second), 3U);
    ASSERT_TRUE(pub.wait_idle(10s));
    ASSERT_EQ(rec.count(), 6U);
    EXPECT_GE(rec.times.back() - start, 490ms);
    for (std::size_t i = 1; i < rec.times.size(); ++i)
        EXPECT_GE(rec.times[i] - rec.times[i - 1], 90ms) << i;
}

TEST_F(Profiles, AFailedPublishIsRetriedOnTheNextSubmit) {
    Recorder rec;
    rec.refuse = true;
    ProfilePublisher pub(rec.fn(), 50);
    EXPECT_EQ(pub.submit(read()), 3U);
    ASSERT_TRUE(pub.wait_idle(5s));
    EXPECT_EQ(pub.failed(), 3U);
    EXPECT_FALSE(fs::exists(ws / ".tenex" / "profiles.json"));
    rec.refuse = false;
    EXPECT_EQ(pub.submit(read()), 3U);
    ASSERT_TRUE(pub.wait_idle(5s));
    EXPECT_EQ(rec.count(), 3U);
}

TEST_F(Profiles, ResubmittingWhileQueuedDoesNotDuplicate) {
    Recorder rec;
    ProfilePublisher pub(rec.fn(), 5);  // slow: the queue holds them
    EXPECT_EQ(pub.submit(read()), 3U);
    EXPECT_EQ(pub.submit(read()), 0U);
    ASSERT_TRUE(pub.wait_idle(5s));
    EXPECT_EQ(rec.count(), 3U);
}

TEST_F(Profiles, StopDropsPendingAndTheyAreNotRemembered) {
    Recorder rec;
    rec.delay = 50ms;
    {
        ProfilePublisher pub(rec.fn(), 1);  // one per second: most are still queued at stop
        EXPECT_EQ(pub.submit(read()), 3U);
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(rec.count(), 1U);
    ProfilePublisher again(rec.fn(), 50);
    EXPECT_EQ(again.submit(read()), 2U);  // the two dropped ones are still "changed"
    ASSERT_TRUE(again.wait_idle(5s));
    EXPECT_EQ(rec.count(), 3U);
}

}  // namespace
}  // namespace tenex::project
