// The real TENEX runtime end to end: `tenex-sandbox up` with its embedded relay, the
// tenex-runtime image (@tenex-chat/backend, images/runtime) started through a runtime policy,
// and a fake Ollama on the host (tests/runtime-peers/fake-llm.mjs) that the policy names as its
// LLM endpoint. The owner publishes an agent (4199) and a project naming it (31933), wakes the
// project, and a message to the agent is answered on the relay with the fake LLM's text,
// signed by the agent's key, from inside the sandbox.
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "docker/images.hpp"
#include "e2e_fixture.hpp"
#include "node_peer.hpp"

namespace tenex::e2e {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kRuntimeImage = "tenex-runtime:latest";
constexpr const char* kFakeText = "Hello from the fake LLM inside the sandbox.";

class RuntimeEndToEnd : public EndToEnd {
protected:
    void SetUp() override {
        EndToEnd::SetUp();
        if (HasFatalFailure() || IsSkipped()) return;
        TENEX_REQUIRE_NODE();
        if (!docker::inspect_image(*docker_, kRuntimeImage)) {
            if (test::in_ci()) FAIL() << "the runtime image is required in CI (scripts/build-runtime-image)";
            GTEST_SKIP() << kRuntimeImage << " is not built (scripts/build-runtime-image)";
        }
        llm_ = relay::testing::NodeProcess::start(
            (test::source_dir() / "tests/runtime-peers/fake-llm.mjs").string(),
            {"--port", "0", "--text", kFakeText, "--log", (dir_->path() / "llm.jsonl").string()});
        ASSERT_TRUE(llm_);
        const std::string url = llm_->first_line();  // http://127.0.0.1:PORT
        ASSERT_EQ(url.rfind("http://127.0.0.1:", 0), 0u) << url;
        std::ofstream(dir_->path() / "policies" / "default.yaml")
            << "image: " << kRuntimeImage << "\n"
            << "resources: {memory: 1Gi, cpus: 1, pids: 256, nofile: 4096}\n"
            << "network: {mode: egress, relays: true}\n"
            << "lifecycle: {restart: on-failure, stop_timeout: 10s}\n"
            << "security: {user: \"1000:1000\", tmpfs: {/tmp: 64Mi}}\n"
            << "tenex:\n  llm: {provider: ollama, model: fake, embed_model: fake-embed, base_url: \""
            << url << "\"}\n";
    }

    nostr::Event sign(std::uint32_t kind, std::string content, std::vector<nostr::Tag> tags) {
        nostr::UnsignedEvent u;
        u.kind = kind;
        u.content = std::move(content);
        u.tags = std::move(tags);
        auto ev = nostr::sign_event(u, *owner_);
        EXPECT_TRUE(ev);
        return *ev;
    }

    std::optional<nostr::Event> first(const nostr::Filter& f) {
        auto events = pool_->fetch({f}, 3s).get();
        if (events.empty()) return std::nullopt;
        return events.front();
    }

    static std::string read_text(const fs::path& p) {
        std::ifstream in(p);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }
    // The last lines the runtime wrote (for a failure's message).
    static std::string container_log(const std::string& id) {
        std::string out;
        if (FILE* p = ::popen(("docker logs --tail 60 " + id + " 2>&1").c_str(), "r")) {
            char buf[4096];
            for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
            ::pclose(p);
        }
        return out;
    }

    std::unique_ptr<relay::testing::NodeProcess> llm_;
};

TEST_F(RuntimeEndToEnd, TheRealBackendAnswersFromItsSandbox) {
    start_daemon();
    const std::string d = "e2e-runtime";
    const std::string address = "31933:" + owner_->pub.hex() + ":" + d;
    const auto agent_def = sign(4199, "", {{"d", "helper"}, {"title", "Helper"}, {"role", "assistant"},
                                           {"description", "Answers the owner's messages"},
                                           {"instructions", "Answer the user briefly."},
                                           {"use-criteria", "Any message"}, {"ver", "1"}});
    publish(agent_def);
    publish(sign(31933, "A TENEX project in a sandbox", {{"d", d}, {"title", "Runtime"}, {"agent", agent_def.id}}));
    publish(sign(24000, "", {{"a", address}}));  // the boot request wakes the project

    ASSERT_TRUE(eventually([&] { return running_for(address).size() == 1; }, 90s)) << daemon_->log();
    const auto container = running_for(address).front();
    auto info = docker::inspect_container(*docker_, container.id);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->spec.user, "1000:1000");
    EXPECT_TRUE(info->spec.read_only_rootfs);
    bool project_mounted = false, base_mounted = false;
    for (const auto& m : info->spec.mounts) {
        project_mounted |= m.target == "/projects/" + d && !m.read_only;
        base_mounted |= m.target == "/tenex" && !m.read_only;
    }
    EXPECT_TRUE(project_mounted && base_mounted);

    // The global directory the daemon wrote: the owner alone whitelisted, the project's
    // gateway as its only relay, files private to the container's uid.
    ASSERT_FALSE(container.names.empty());
    const fs::path base = dir_->path() / "state" / "runtime" / container.names.front();
    std::ifstream cfg_in(base / "config.json");
    std::stringstream cfg_text;
    cfg_text << cfg_in.rdbuf();
    auto cfg = nlohmann::json::parse(cfg_text.str(), nullptr, false);
    ASSERT_TRUE(cfg.is_object()) << base;
    EXPECT_EQ(cfg["whitelistedPubkeys"], nlohmann::json::array({owner_->pub.hex()}));
    ASSERT_EQ(cfg["relays"].size(), 1u);
    const std::string relay = cfg["relays"][0];
    EXPECT_EQ(relay.rfind("ws://tenex-gateway:", 0), 0u) << relay;
    EXPECT_EQ(relay.find("<"), std::string::npos) << "the secret itself, not its marker: " << relay;
    for (const char* f : {"config.json", "llms.json", "providers.json", "embed.json"}) {
        struct stat st {};
        ASSERT_EQ(::stat((base / f).c_str(), &st), 0) << f;
        EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
        EXPECT_EQ(st.st_uid, 1000u) << f;
    }

    // The backend boots the project and installs its agent with a key of its own, kept in the
    // global directory (agents/<pubkey>.json); that pubkey is the agent to talk to. (The
    // daemon's workspace loader also signs a profile for the agent, with another key that the
    // runtime does not use yet: the profile alone does not tell the backend's agent.)
    std::string agent;
    ASSERT_TRUE(eventually([&] {
        std::error_code ec;
        for (auto it = fs::directory_iterator(base / "agents", ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
            const std::string name = it->path().filename().string();
            if (name.size() == 64 + 5 && name.ends_with(".json")) agent = name.substr(0, 64);
        }
        return !agent.empty();
    }, 120s)) << "the backend installed no agent\n" << container_log(container.id);
    // It subscribes for its agents with limit 0 once the project has booted, so a message
    // published before that is never seen: a message goes out again every 15 s until the agent
    // answers one of them.
    std::vector<std::string> sent;
    std::optional<nostr::Event> reply;
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (!reply && std::chrono::steady_clock::now() < deadline) {
        const auto message = sign(1, "Hello, agent!", {{"a", address}, {"p", agent}});
        publish(message);
        sent.push_back(message.id);
        nostr::Filter replies;
        replies.kinds = std::vector<std::uint32_t>{1};
        replies.tags['e'] = sent;
        replies.authors = std::vector<std::string>{agent};
        eventually([&] { return (reply = first(replies)).has_value(); }, 15s);
    }
    ASSERT_TRUE(reply) << "no reply from the agent to " << sent.size() << " messages\n--- container log ---\n"
                       << container_log(container.id) << "--- fake LLM requests ---\n"
                       << read_text(dir_->path() / "llm.jsonl");
    EXPECT_NE(reply->content.find(kFakeText), std::string::npos) << reply->content;
    EXPECT_EQ(reply->tag_value("a"), std::optional<std::string_view>(address));
    EXPECT_EQ(running_for(address).size(), 1u);
}

}  // namespace
}  // namespace tenex::e2e
