// The real TENEX runtime end to end: `tenex-sandbox up` with its embedded relay, the
// tenex-runtime image (@tenex-chat/backend, images/runtime) started through a runtime policy,
// and a fake Ollama on the host (tests/runtime-peers/fake-llm.mjs) that the policy names as its
// LLM endpoint. The owner publishes an agent (4199) and two projects naming it (31933), wakes
// them, and messages to each project's agent are answered on the relay with the fake LLM's
// text, signed by that agent's key, from inside each sandbox: while booting, after a kill -9
// of the daemon, and after an idle stop (the waking message itself, conversation kept).
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "docker/containers.hpp"
#include "docker/images.hpp"
#include "docker/logs.hpp"
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
            if (test::in_ci())
                FAIL() << "the runtime image is required in CI (scripts/build-runtime-image)";
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
            << "lifecycle: {restart: on-failure, stop_timeout: 10s, idle_timeout: 90s}\n"
            << "security: {user: \"1000:1000\", tmpfs: {/tmp: 64Mi}}\n"
            << "tenex:\n  llm: {provider: ollama, model: fake, embed_model: fake-embed, base_url: "
               "\""
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

// Secrets that arrive as files (engine swarm: swarm secrets at /run/secrets/NAME) are the
// variables NAME for the backend, as one engine passes them; other files there are left alone.
TEST(RuntimeImage, SecretFilesUnderRunSecretsBecomeVariables) {
    auto client = docker::Client::connect();
    if (!client) GTEST_SKIP() << "no Docker engine: " << client.error().describe();
    if (!docker::inspect_image(**client, kRuntimeImage)) {
        if (test::in_ci())
            FAIL() << "the runtime image is required in CI (scripts/build-runtime-image)";
        GTEST_SKIP() << kRuntimeImage << " is not built (scripts/build-runtime-image)";
    }
    test::TempDir dir;
    const fs::path good = dir.path() / "good", bad = dir.path() / "bad";
    std::ofstream(good) << "s3cret value";
    std::ofstream(bad) << "not a name";
    ::chmod(good.c_str(), 0644);
    ::chmod(bad.c_str(), 0644);
    docker::ContainerSpec spec;
    spec.name = "tenex-test-runtime-secrets-" + std::to_string(::getpid());
    spec.image = kRuntimeImage;
    spec.cmd = {"sh", "-c", "printf 'API_KEY=%s\\n' \"$API_KEY\"; env | grep -c '^not-a' || true"};
    spec.user = "1000:1000";
    spec.read_only_rootfs = true;
    spec.network_mode = "none";
    spec.labels = {{"tenex.test", "1"}};
    spec.mounts = {{good.string(), "/run/secrets/API_KEY", true},
                   {bad.string(), "/run/secrets/not-a-name", true}};
    auto id = docker::create_container(**client, spec);
    ASSERT_TRUE(id) << id.error().describe();
    ASSERT_TRUE(docker::start_container(**client, *id));
    auto waited = docker::wait_container(**client, *id, docker::WaitCondition::NotRunning, 60s);
    auto logs = docker::container_logs(**client, *id);
    (void)docker::remove_container(**client, *id, true, true);
    ASSERT_TRUE(waited && logs);
    EXPECT_EQ(waited->status_code, 0) << logs->out << logs->err;
    EXPECT_EQ(logs->out, "API_KEY=s3cret value\n0\n") << logs->err;
}

// Two projects of one owner, each in its own sandbox running the real backend; the owner
// talks to each project's agent by the key whose profile the daemon published.
TEST_F(RuntimeEndToEnd, TwoProjectsAnswerFromTheirSandboxesAcrossAKillAndAnIdleStop) {
    start_daemon();
    const auto agent_def = sign(4199, "",
                                {{"d", "helper"},
                                 {"title", "Helper"},
                                 {"role", "assistant"},
                                 {"description", "Answers the owner's messages"},
                                 {"instructions", "Answer the user briefly."},
                                 {"use-criteria", "Any message"},
                                 {"ver", "1"}});
    publish(agent_def);
    struct Project {
        std::string d, address, agent, container;
        nostr::Event first;
    };
    std::vector<Project> projects;
    for (const char* d : {"rt-alpha", "rt-beta"}) {
        const std::string address = "31933:" + owner_->pub.hex() + ":" + d;
        publish(sign(31933, "A TENEX project in a sandbox",
                     {{"d", d}, {"title", d}, {"agent", agent_def.id}}));
        publish(sign(24000, "", {{"a", address}}));  // the boot request wakes the project
        projects.push_back({d, address, {}, {}, {}});
    }
    // The daemon lays out each workspace with a key per agent and publishes the agent's
    // profile (kind 0, a-tagged with the project); the runtime is handed the same key.
    for (auto& p : projects) {
        nostr::Filter profiles;
        profiles.kinds = std::vector<std::uint32_t>{0};
        profiles.tags['a'] = {p.address};
        ASSERT_TRUE(eventually(
            [&] {
                auto e = first(profiles);
                if (e) p.agent = e->pubkey;
                return e.has_value();
            },
            90s))
            << "no agent profile for " << p.d << "\n"
            << daemon_->log();
    }
    ASSERT_NE(projects[0].agent, projects[1].agent) << "one key per project and agent";

    // The messages go out at once, while the runtimes boot: the backend subscribes with
    // limit 0 once up, and the gateway hands it the message that is waiting for it.
    for (auto& p : projects) {
        p.first = sign(1, "Hello, " + p.d + "!", {{"a", p.address}, {"p", p.agent}});
        publish(p.first);
    }
    // The agent's answers in the conversation that `p.first` opened: the backend e-tags the
    // conversation's root only, so a later answer is one more of them.
    auto answers = [&](const Project& p) {
        nostr::Filter replies;
        replies.kinds = std::vector<std::uint32_t>{1};
        replies.tags['e'] = {p.first.id};
        replies.authors = std::vector<std::string>{p.agent};
        return pool_->fetch({replies}, 3s).get();
    };
    auto next_answer = [&](const Project& p, std::size_t seen, std::chrono::seconds limit) {
        std::optional<nostr::Event> reply;
        eventually(
            [&] {
                auto all = answers(p);
                if (all.size() > seen) reply = all.front();  // newest first
                return reply.has_value();
            },
            limit);
        return reply;
    };
    auto diagnose = [&](const Project& p) {
        const auto running = running_for(p.address);
        std::string out =
            "--- container log ---\n" +
            (running.empty() ? std::string("(not running)\n") : container_log(running.front().id));
        // The backend's own logs, in its global directory (state/runtime/<container name>).
        std::error_code ec;
        for (auto it = fs::directory_iterator(dir_->path() / "state" / "runtime", ec);
             !ec && it != fs::directory_iterator(); it.increment(ec)) {
            if (it->path().filename().string().find(p.d) == std::string::npos) continue;
            out += "--- " + it->path().string() + "/agents/index.json ---\n" +
                   read_text(it->path() / "agents" / "index.json") + "\n";
            out += "--- " + it->path().string() + "/daemon/daemon.log (tail) ---\n";
            const std::string log = read_text(it->path() / "daemon" / "daemon.log");
            out += log.substr(log.size() > 6000 ? log.size() - 6000 : 0);
            for (auto r = fs::directory_iterator(it->path() / "daemon" / "logs" / "routing", ec);
                 !ec && r != fs::directory_iterator(); r.increment(ec))
                out += "--- " + r->path().filename().string() + " ---\n" + read_text(r->path());
        }
        return out + "--- fake LLM requests ---\n" + read_text(dir_->path() / "llm.jsonl");
    };
    for (auto& p : projects) {
        auto reply = next_answer(p, 0, 180s);
        ASSERT_TRUE(reply) << "no reply from " << p.d << "'s agent\n" << diagnose(p);
        EXPECT_NE(reply->content.find(kFakeText), std::string::npos) << reply->content;
        EXPECT_EQ(reply->tag_value("a"), std::optional<std::string_view>(p.address));
        ASSERT_EQ(running_for(p.address).size(), 1u);
        p.container = running_for(p.address).front().id;
    }
    // Each project answers its own message only.
    nostr::Filter all_replies;
    all_replies.kinds = std::vector<std::uint32_t>{1};
    all_replies.tags['e'] = {projects[0].first.id, projects[1].first.id};
    for (const auto& e : pool_->fetch({all_replies}, 3s).get()) {
        const bool to_alpha =
            e.tag_value("e") == std::optional<std::string_view>(projects[0].first.id);
        EXPECT_EQ(e.pubkey, projects[to_alpha ? 0 : 1].agent)
            << "answered by the other project: " << e.content;
    }

    // The sandbox as the contract says: non-root, read-only root, both directories mounted
    // read-write, the global directory private to the container's uid with the owner alone
    // whitelisted and the project's gateway (with its real secret) as its only relay.
    auto info = docker::inspect_container(*docker_, projects[0].container);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->spec.user, "1000:1000");
    EXPECT_TRUE(info->spec.read_only_rootfs);
    bool project_mounted = false, base_mounted = false;
    for (const auto& m : info->spec.mounts) {
        project_mounted |= m.target == "/projects/" + projects[0].d && !m.read_only;
        base_mounted |= m.target == "/tenex" && !m.read_only;
    }
    EXPECT_TRUE(project_mounted && base_mounted);
    const auto running = running_for(projects[0].address);
    ASSERT_FALSE(running.front().names.empty());
    const fs::path base = dir_->path() / "state" / "runtime" / running.front().names.front();
    auto cfg = nlohmann::json::parse(read_text(base / "config.json"), nullptr, false);
    ASSERT_TRUE(cfg.is_object()) << base;
    EXPECT_EQ(cfg["whitelistedPubkeys"], nlohmann::json::array({owner_->pub.hex()}));
    ASSERT_EQ(cfg["relays"].size(), 1u);
    const std::string relay = cfg["relays"][0];
    EXPECT_EQ(relay.rfind("ws://tenex-gateway:", 0), 0u) << relay;
    EXPECT_EQ(relay.find("<"), std::string::npos) << "the secret itself, not its marker: " << relay;
    for (const std::string& f :
         std::vector<std::string>{"config.json", "llms.json", "providers.json", "embed.json",
                                  "agents/" + projects[0].agent + ".json"}) {
        struct stat st {};
        ASSERT_EQ(::stat((base / f).c_str(), &st), 0) << f;
        EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
        EXPECT_EQ(st.st_uid, 1000u) << f;
    }

    // The sandbox's uid owns its workspace (with `.tenex/`) and its global directory: the
    // runtime can write there (the daemon lays them out as root).
    {
        const std::string cmd =
            "docker exec " + projects[0].container + " sh -c 'id -u && echo ok > /projects/" +
            projects[0].d +
            "/.tenex/written-inside && echo ok > /tenex/written-inside && echo written' 2>&1";
        std::string out;
        if (FILE* p = ::popen(cmd.c_str(), "r")) {
            char buf[512];
            for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
            ::pclose(p);
        }
        EXPECT_EQ(out, "1000\nwritten\n");
    }

    // `ps` shows both, running, with their limits.
    auto ps = relay::testing::run_program(
        test::tenex_binary().string(), {"ps", "--http", "127.0.0.1:" + std::to_string(http_port_)});
    EXPECT_EQ(ps.exit_code, 0);
    for (const auto& p : projects) {
        std::string row;
        std::istringstream lines(ps.out);
        for (std::string line; std::getline(lines, line);)
            if (line.rfind(p.d + " ", 0) == 0) row = line;
        EXPECT_NE(row.find("running"), std::string::npos) << ps.out;
        EXPECT_NE(row.find("1 CPU, 256 PIDs"), std::string::npos) << ps.out;
    }

    // kill -9 of the daemon and a new one: both containers adopted, not replaced, and their
    // runtimes reconnect to the gateway with the secret they were started with. (The backend's
    // NDK reconnects 60 s after its connection opened at the earliest; the gateway holds the
    // message meanwhile.)
    kill_daemon(SIGKILL);
    start_daemon();
    for (const auto& p : projects) {
        ASSERT_TRUE(eventually([&] { return running_for(p.address).size() == 1; }, 30s));
        EXPECT_EQ(running_for(p.address).front().id, p.container) << p.d << " was replaced";
    }
    const auto after_kill =
        sign(1, "Still there?",
             {{"a", projects[0].address}, {"e", projects[0].first.id}, {"p", projects[0].agent}});
    std::size_t seen = answers(projects[0]).size();
    publish(after_kill);
    ASSERT_TRUE(next_answer(projects[0], seen, 120s)) << "no answer after the restart\n"
                                                      << diagnose(projects[0]);
    seen = answers(projects[0]).size();

    // Idle: both stop after the policy's idle timeout (their global directories stay) ...
    for (const auto& p : projects)
        ASSERT_TRUE(eventually([&] { return running_for(p.address).empty(); }, 150s))
            << p.d << " never went idle";
    // ... and a message in the same conversation starts alpha again and is answered, with the
    // conversation's history (more messages reach the LLM). The idle stop kept the container
    // (lifecycle.keep_stopped, default 24h): the same one is started again, no create.
    const auto cold_sent = std::chrono::steady_clock::now();
    const auto follow_up =
        sign(1, "Third message",
             {{"a", projects[0].address}, {"e", projects[0].first.id}, {"p", projects[0].agent}});
    publish(follow_up);
    auto cold = next_answer(projects[0], seen, 180s);
    ASSERT_TRUE(cold) << "the message that woke the project was not answered\n"
                      << diagnose(projects[0]);
    std::printf(
        "after the idle stop (kept container started again): message to first reply in %.1f s\n",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - cold_sent).count());
    ASSERT_EQ(running_for(projects[0].address).size(), 1u);
    EXPECT_EQ(running_for(projects[0].address).front().id, projects[0].container);
    EXPECT_TRUE(running_for(projects[1].address).empty()) << "beta woke for alpha's message";

    // A stop while the backend rewrites a conversation (it truncates, then writes) leaves the
    // file empty; the backend would then fail to start the project at every boot. The image's
    // preflight sets such a file aside, and the project starts and answers a new message.
    {
        std::vector<fs::path> cut;
        std::error_code ec;
        for (auto it = fs::directory_iterator(dir_->path() / "state" / "runtime", ec);
             !ec && it != fs::directory_iterator(); it.increment(ec)) {
            if (it->path().filename().string().find(projects[1].d) == std::string::npos) continue;
            const auto conversations = it->path() / "projects" / projects[1].d / "conversations";
            for (auto c = fs::directory_iterator(conversations, ec);
                 !ec && c != fs::directory_iterator(); c.increment(ec))
                if (c->path().extension() == ".json") cut.push_back(c->path());
        }
        ASSERT_FALSE(cut.empty()) << "no conversation of " << projects[1].d << " on disk";
        for (const auto& f : cut) fs::resize_file(f, 0);
        Project fresh = projects[1];
        fresh.first = sign(1, "After the cut", {{"a", fresh.address}, {"p", fresh.agent}});
        publish(fresh.first);
        ASSERT_TRUE(next_answer(fresh, 0, 180s))
            << "a cut conversation file kept the project from starting\n"
            << diagnose(fresh);
        for (const auto& f : cut) {
            EXPECT_FALSE(fs::exists(f)) << f << " was not set aside";
            bool aside = false;
            for (const auto& c : fs::directory_iterator(f.parent_path()))
                aside |= c.path().filename().string().rfind(f.filename().string() + ".unreadable-",
                                                            0) == 0;
            EXPECT_TRUE(aside) << "the cut file " << f << " is gone instead of kept aside";
        }
    }
    int first_messages = -1, cold_messages = -1;
    std::istringstream requests(read_text(dir_->path() / "llm.jsonl"));
    for (std::string line; std::getline(requests, line);) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        // The agent's own turns (streamed); the title/summary requests quote the text too.
        if (!j.is_object() || !j.value("stream", false) || !j.contains("user") ||
            !j["user"].is_string() || !j["messages"].is_number())
            continue;
        const std::string user = j["user"];
        if (user.find("Hello, rt-alpha!") != std::string::npos && first_messages < 0)
            first_messages = j["messages"];
        if (user.find("Third message") != std::string::npos) cold_messages = j["messages"];
    }
    ASSERT_GT(first_messages, 0);
    EXPECT_GT(cold_messages, first_messages) << "the conversation's history was lost\n"
                                             << diagnose(projects[0]);
}

// A provider with an API key: the backend's own client for it (@ai-sdk/anthropic, or
// @ai-sdk/openai on OpenAI's Responses API) reaches the endpoint the policy names (through the
// tenex-llm forwarder, by ANTHROPIC_BASE_URL / OPENAI_BASE_URL) with the key read from the
// policy's key file, which never shows in the container's environment; embeddings come from
// the OpenAI-compatible endpoint the policy names for them.
struct KeyedProvider {
    const char* name;      // tenex.llm.provider
    const char* model;     // tenex.llm.model
    const char* key;       // the key's prefix
    const char* path;      // what the chat calls on the fake
    const char* base_env;  // the variable that points the client at base_url
};
class KeyedProviderEndToEnd : public RuntimeEndToEnd,
                              public ::testing::WithParamInterface<KeyedProvider> {};

TEST_P(KeyedProviderEndToEnd, AProjectAnswersWithTheKeyFromItsKeyFile) {
    const KeyedProvider& p = GetParam();
    const std::string key = p.key + owner_->pub.hex().substr(0, 16);
    const fs::path key_file = dir_->path() / "llm_key";
    std::ofstream(key_file) << key << "\n";
    ::chmod(key_file.c_str(), 0600);
    const fs::path llm_log = dir_->path() / (std::string(p.name) + ".jsonl");
    auto llm = relay::testing::NodeProcess::start(
        (test::source_dir() / "tests/runtime-peers/fake-llm.mjs").string(),
        {"--port", "0", "--text", kFakeText, "--key", key, "--log", llm_log.string()});
    ASSERT_TRUE(llm);
    const std::string url = llm->first_line();
    std::ofstream(dir_->path() / "policies" / "default.yaml")
        << "image: " << kRuntimeImage << "\n"
        << "resources: {memory: 1Gi, cpus: 1, pids: 256, nofile: 4096}\n"
        << "network: {mode: egress, relays: true}\n"
        << "lifecycle: {restart: on-failure, stop_timeout: 10s}\n"
        << "security: {user: \"1000:1000\", tmpfs: {/tmp: 64Mi}}\n"
        << "tenex:\n  llm: {provider: " << p.name << ", model: " << p.model
        << ", key_file: " << key_file.string() << ", base_url: \"" << url
        << "/v1\", embed_base_url: \"" << url << "/v1\", embed_model: fake-embed,"
        << " embed_key_file: " << key_file.string() << "}\n";
    start_daemon();

    const auto agent_def = sign(4199, "",
                                {{"d", "keyed"},
                                 {"title", "Keyed"},
                                 {"role", "assistant"},
                                 {"description", "Answers the owner"},
                                 {"instructions", "Be brief."},
                                 {"use-criteria", "Any message"},
                                 {"ver", "1"}});
    publish(agent_def);
    const std::string d = std::string("rt-") + p.name;
    const std::string address = "31933:" + owner_->pub.hex() + ":" + d;
    publish(sign(31933, std::string("A project on ") + p.name,
                 {{"d", d}, {"title", d}, {"agent", agent_def.id}}));
    publish(sign(24000, "", {{"a", address}}));
    nostr::Filter profiles;
    profiles.kinds = std::vector<std::uint32_t>{0};
    profiles.tags['a'] = {address};
    std::string agent;
    ASSERT_TRUE(eventually(
        [&] {
            auto e = first(profiles);
            if (e) agent = e->pubkey;
            return e.has_value();
        },
        90s))
        << daemon_->log();

    const auto message = sign(1, "Hello, keyed agent!", {{"a", address}, {"p", agent}});
    publish(message);
    nostr::Filter replies;
    replies.kinds = std::vector<std::uint32_t>{1};
    replies.tags['e'] = {message.id};
    replies.authors = std::vector<std::string>{agent};
    std::optional<nostr::Event> reply;
    const bool answered = eventually(
        [&] {
            reply = first(replies);
            return reply.has_value();
        },
        180s);
    const auto running = running_for(address);
    ASSERT_TRUE(answered) << "no reply\n--- container ---\n"
                          << (running.empty() ? std::string("(not running)")
                                              : container_log(running.front().id))
                          << "\n--- fake " << p.name << " ---\n"
                          << read_text(llm_log);
    EXPECT_NE(reply->content.find(kFakeText), std::string::npos) << reply->content;

    // The chat went to the provider's API with the key from the file; the embeddings to theirs;
    // nothing was refused for a wrong key.
    int chats = 0, refused = 0;
    std::istringstream requests(read_text(llm_log));
    for (std::string line; std::getline(requests, line);) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (!j.is_object()) continue;
        if (j.value("key_ok", true) == false)
            ++refused;
        else if (j.value("path", "") == p.path && j.value("model", "") == p.model)
            ++chats;
    }
    EXPECT_GE(chats, 1) << read_text(llm_log);
    EXPECT_EQ(refused, 0) << read_text(llm_log);

    ASSERT_EQ(running.size(), 1u);
    auto info = docker::inspect_container(*docker_, running.front().id);
    ASSERT_TRUE(info);
    const std::string port = url.substr(url.rfind(':') + 1);
    bool base_url = false;
    for (const auto& e : info->spec.env) {
        EXPECT_EQ(e.find(key), std::string::npos) << "the API key in the environment: " << e;
        base_url |= e == std::string(p.base_env) + "=http://tenex-llm:" + port + "/v1";
    }
    EXPECT_TRUE(base_url) << p.base_env;
}

INSTANTIATE_TEST_SUITE_P(Providers, KeyedProviderEndToEnd,
                         ::testing::Values(KeyedProvider{"anthropic", "claude-fake", "sk-ant-test-",
                                                         "/v1/messages", "ANTHROPIC_BASE_URL"},
                                           KeyedProvider{"openai", "gpt-fake", "sk-test-",
                                                         "/v1/responses", "OPENAI_BASE_URL"}),
                         [](const ::testing::TestParamInfo<KeyedProvider>& i) {
                             return std::string(i.param.name);
                         });

}  // namespace
}  // namespace tenex::e2e
