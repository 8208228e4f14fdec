#include "daemon/lifecycle_nostr.hpp"

#include <gtest/gtest.h>

namespace tenex::daemon {
namespace {

const std::string kOwner(64, 'a');
const std::string kProject = "31933:" + kOwner + ":my-project";

LifecycleEvent event(std::string type) {
    return LifecycleEvent{.seq = 3,
                          .at_ms = 1'700'000'000'000,
                          .type = std::move(type),
                          .project = kProject,
                          .container = "c0ffee012345",
                          .exit_code = {},
                          .reason = {}};
}

TEST(LifecycleNostr, OnlyWhatHappenedToTheSandboxIsToldAndOomAndRefusedStartsAreNamedForTheOwner) {
    EXPECT_EQ(nostr_state(event("started")), "started");
    EXPECT_EQ(nostr_state(event("stopped")), "stopped");
    EXPECT_EQ(nostr_state(event("paused")), "paused");
    EXPECT_EQ(nostr_state(event("resumed")), "resumed");
    EXPECT_EQ(nostr_state(event("crash-looping")), "crash-looping");
    EXPECT_EQ(nostr_state(event("oom")), "oom-killed");
    EXPECT_EQ(nostr_state(event("start-failed")), "start-refused");
    for (const char* quiet : {"adopted", "refused", "stop-requested", "restart-requested", "exec"})
        EXPECT_FALSE(nostr_state(event(quiet)).has_value()) << quiet;
}

TEST(LifecycleNostr, TheEventTagsTheProjectAndItsOwnerAndTheLastStateIsAddressable) {
    auto e = event("crash-looping");
    e.exit_code = 3;
    e.reason = "exited with code 3\n(exit); crash loop";
    auto live = lifecycle_nostr_event(e, "crash-looping", kLifecycleKind, 1'700'000'001);
    EXPECT_EQ(live.kind, 24013u);
    EXPECT_EQ(live.created_at, 1'700'000'001);
    const std::vector<std::vector<std::string>> tags = {
        {"a", kProject},
        {"p", kOwner},
        {"state", "crash-looping"},
        {"reason", "exited with code 3 (exit); crash loop"},
        {"exit", "3"},
        {"container", "c0ffee012345"}};
    EXPECT_EQ(live.tags, tags);
    EXPECT_NE(live.content.find("crash-looping " + kProject), std::string::npos) << live.content;
    EXPECT_EQ(live.content.find('\n'), std::string::npos);

    auto kept = lifecycle_nostr_event(e, "crash-looping", kLifecycleStateKind, 1'700'000'001);
    EXPECT_EQ(kept.kind, 34013u);
    ASSERT_FALSE(kept.tags.empty());
    EXPECT_EQ(kept.tags[0], (std::vector<std::string>{"d", kProject}));
    EXPECT_EQ(std::vector(kept.tags.begin() + 1, kept.tags.end()), tags);
}

TEST(LifecycleNostr, NoExitCodeOrReasonMeansNoSuchTag) {
    auto e = event("started");
    e.container.clear();
    auto u = lifecycle_nostr_event(e, "started", kLifecycleKind, 1);
    const std::vector<std::vector<std::string>> tags = {
        {"a", kProject}, {"p", kOwner}, {"state", "started"}};
    EXPECT_EQ(u.tags, tags);
}

}  // namespace
}  // namespace tenex::daemon
