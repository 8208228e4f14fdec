#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "nostr/keys.hpp"
#include "sandbox/policy_file.hpp"
#include "sandbox/policy_set.hpp"
#include "sandbox/runtime_contract.hpp"
#include "sandbox/sandbox_spec.hpp"

namespace tenex::sandbox {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr const char* kOwner = "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e";

Policy runtime_policy() {
    Policy p;
    p.image = "tenex-runtime:latest";
    p.network.mode = NetworkMode::egress;
    p.network.relays = true;
    p.llm = TenexLlm{.provider = "ollama",
                     .model = "llama3.1",
                     .base_url = "http://127.0.0.1:11434",
                     .key_file = "",
                     .embed_model = "nomic"};
    return p;
}

SpecContext context() {
    SpecContext ctx;
    ctx.project = ProjectRef{.owner = kOwner, .d = "my-project"};
    ctx.project_dir = "/srv/projects/my-project";
    ctx.daemon_id = "d1";
    ctx.secrets = SecretMode::redact;
    ctx.relays = {"ws://127.0.0.1:7777"};
    ctx.runtime_dir = "/var/lib/tenex/runtime/tenex-my-project";
    return ctx;
}

TEST(Endpoint, ParsesWhatPoliciesAndRelaysUse) {
    auto e = parse_endpoint("http://127.0.0.1:11434");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->host, "127.0.0.1");
    EXPECT_EQ(e->port, 11434);
    EXPECT_TRUE(e->literal());
    EXPECT_EQ(e->url_with_host("tenex-llm"), "http://tenex-llm:11434");
    e = parse_endpoint("HTTPS://API.Example.com/v1");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->scheme, "https");
    EXPECT_EQ(e->host, "api.example.com");
    EXPECT_EQ(e->port, 443);
    EXPECT_EQ(e->path, "/v1");
    EXPECT_FALSE(e->literal());
    e = parse_endpoint("ws://[::1]:9000/r");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->host, "::1");
    for (const char* bad :
         {"ftp://x", "http://", "http://u:p@x", "http://x:0", "http://x:70000",
          "http://x:", "http://x/#f", "http://x y", "http://[::1", "//x", "http://a_b$c"})
        EXPECT_FALSE(parse_endpoint(bad)) << bad;
}

TEST(RuntimeContract, ProjectPathRefusesWhatCannotBeOneDirectory) {
    EXPECT_EQ(*runtime_project_path("my-project"), "/projects/my-project");
    for (const std::string& bad :
         {std::string(""), std::string("."), std::string(".."), std::string("a/b"),
          std::string("a\0b", 3), std::string(256, 'x')})
        EXPECT_FALSE(runtime_project_path(bad));
}

// The spec a runtime policy becomes: the project at /projects/<d>, the global directory at
// /tenex, the loopback LLM through a forwarder the policy named, relays through theirs.
TEST(RuntimeContract, SpecMountsForwardsAndEnvironment) {
    auto spec = build_sandbox_spec(runtime_policy(), context());
    ASSERT_TRUE(spec) << spec.error().message;
    const auto& c = spec->container;
    EXPECT_EQ(c.working_dir, "/projects/my-project");
    ASSERT_EQ(c.mounts.size(), 2u);
    EXPECT_EQ(c.mounts[0].target, "/projects/my-project");
    EXPECT_EQ(c.mounts[1].source, "/var/lib/tenex/runtime/tenex-my-project");
    EXPECT_EQ(c.mounts[1].target, "/tenex");
    auto has_env = [&](const std::string& kv) {
        return std::find(c.env.begin(), c.env.end(), kv) != c.env.end();
    };
    EXPECT_TRUE(has_env("TENEX_PROJECT_D=my-project"));
    EXPECT_TRUE(has_env("TENEX_BASE_DIR=/tenex"));
    EXPECT_EQ(spec->llm_url, "http://tenex-llm:11434");
    bool llm_forward = false;
    for (const auto& f : spec->network.forwards)
        llm_forward |=
            f.name == "tenex-llm" && f.port == 11434 && f.target_host == "127.0.0.1" && f.trusted;
    EXPECT_TRUE(llm_forward);
    EXPECT_EQ(spec->network.relay_urls, std::vector<std::string>{"ws://tenex-relay-1:7777"});

    Policy open = runtime_policy();
    open.network.mode = NetworkMode::open;
    EXPECT_FALSE(build_sandbox_spec(open, context()));  // a loopback endpoint needs egress
    Policy no_relays = runtime_policy();
    no_relays.network.relays = false;
    no_relays.network.allow = {HostPort{"api.example.com", 443}};
    EXPECT_FALSE(build_sandbox_spec(no_relays, context()));
    SpecContext hostile = context();
    hostile.project.d = "../../etc";
    EXPECT_FALSE(build_sandbox_spec(runtime_policy(), hostile));
    SpecContext no_dir = context();
    no_dir.runtime_dir.clear();
    EXPECT_FALSE(build_sandbox_spec(runtime_policy(), no_dir));
}

TEST(RuntimeContract, FilesNeverStartTheInteractiveSetupNorReachTheInternet) {
    RuntimeInputs in{.owner = kOwner,
                     .d = "p",
                     .relays = {"ws://tenex-relay-1:7777"},
                     .llm_url = "http://tenex-llm:11434",
                     .backend_key_hex = std::string(64, 'a'),
                     .api_key = ""};
    auto f = runtime_files(runtime_policy().llm, in);
    auto config = json::parse(f.config);
    EXPECT_EQ(config["whitelistedPubkeys"], json::array({kOwner}));
    EXPECT_EQ(config["relays"], json::array({"ws://tenex-relay-1:7777"}));
    EXPECT_EQ(config["projectsBase"], "/projects");
    EXPECT_EQ(config["tenexPrivateKey"], std::string(64, 'a'));
    EXPECT_EQ(config["telemetry"]["enabled"], false);
    EXPECT_EQ(config["nip46"]["enabled"], false);
    auto llms = json::parse(f.llms);
    EXPECT_EQ(llms["default"], "main");
    EXPECT_EQ(llms["configurations"]["main"]["provider"], "ollama");
    EXPECT_EQ(llms["configurations"]["main"]["model"], "llama3.1");
    EXPECT_EQ(json::parse(f.providers)["providers"]["ollama"]["apiKey"], "http://tenex-llm:11434");
    auto embed = json::parse(f.embed);
    EXPECT_EQ(embed["baseUrl"], "http://tenex-llm:11434/v1");
    EXPECT_EQ(embed["model"], "nomic");
}

// Anthropic: its SDK is pointed at the policy's endpoint by ANTHROPIC_BASE_URL; a named
// https endpoint keeps its name inside (its forwarder answers to it, so TLS names match); the
// embeddings endpoint gets a forwarder of its own.
TEST(RuntimeContract, AnthropicSpecAndFiles) {
    Policy p = runtime_policy();
    p.llm = TenexLlm{.provider = "anthropic",
                     .model = "claude",
                     .base_url = "https://llm-proxy.example.com/v1",
                     .key_file = "/k",
                     .embed_model = "nomic",
                     .embed_base_url = "http://127.0.0.1:11434/v1",
                     .embed_key_file = "/e"};
    auto spec = build_sandbox_spec(p, context());
    ASSERT_TRUE(spec) << spec.error().message;
    const auto& env = spec->container.env;
    EXPECT_NE(
        std::find(env.begin(), env.end(), "ANTHROPIC_BASE_URL=https://llm-proxy.example.com/v1"),
        env.end());
    EXPECT_EQ(spec->llm_url, "https://llm-proxy.example.com/v1");
    EXPECT_EQ(spec->embed_url, "http://tenex-embed:11434/v1");
    bool chat = false, embeddings = false;
    for (const auto& f : spec->network.forwards) {
        chat |= f.name == "llm-proxy.example.com" && f.port == 443 &&
                f.target_host == "llm-proxy.example.com";
        embeddings |=
            f.name == "tenex-embed" && f.port == 11434 && f.target_host == "127.0.0.1" && f.trusted;
    }
    EXPECT_TRUE(chat);
    EXPECT_TRUE(embeddings);

    RuntimeInputs in{.owner = kOwner,
                     .d = "p",
                     .relays = {"ws://r:1"},
                     .llm_url = spec->llm_url,
                     .backend_key_hex = std::string(64, 'a'),
                     .api_key = "sk-ant",
                     .embed_url = spec->embed_url,
                     .embed_api_key = "sk-embed"};
    auto f = runtime_files(p.llm, in);
    EXPECT_EQ(json::parse(f.llms)["configurations"]["main"]["provider"], "anthropic");
    EXPECT_EQ(json::parse(f.providers)["providers"]["anthropic"]["apiKey"], "sk-ant");
    auto embed = json::parse(f.embed);
    EXPECT_EQ(embed["provider"], "openai");
    EXPECT_EQ(embed["baseUrl"], "http://tenex-embed:11434/v1");
    EXPECT_EQ(embed["apiKey"], "sk-embed");
    EXPECT_EQ(embed["model"], "nomic");

    // Refused at build too (not only by policy check): no embeddings, the own endpoint not
    // allowed, openrouter with a base URL.
    Policy no_embed = p;
    no_embed.llm.embed_base_url.clear();
    EXPECT_FALSE(build_sandbox_spec(no_embed, context()));
    Policy own = p;
    own.llm.base_url.clear();
    EXPECT_FALSE(build_sandbox_spec(own, context()));
    own.network.allow = {HostPort{"api.anthropic.com", 443}};
    auto allowed = build_sandbox_spec(own, context());
    ASSERT_TRUE(allowed) << allowed.error().message;
    EXPECT_EQ(allowed->llm_url, "");
    Policy router = p;
    router.llm.provider = "openrouter";
    EXPECT_FALSE(build_sandbox_spec(router, context()));
}

class RuntimeDir : public ::testing::Test {
  protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() / ("tenex-runtime-dir-" + std::to_string(::getpid()));
        fs::remove_all(root_);
        fs::create_directories(root_ / "project" / "src");
        std::ofstream(root_ / "project" / "src" / "main.c") << "int main(){}";
        fs::create_symlink("/etc/passwd", root_ / "project" / "link");
    }
    void TearDown() override { fs::remove_all(root_); }
    fs::path root_;
};

// The daemon prepares the directory as root: it keeps the backend key across starts, writes
// private files, gives the directory and the project to the container's uid:gid (links are
// changed themselves, never followed), and refuses to write through a link planted there.
TEST_F(RuntimeDir, KeepsTheKeyOwnsForTheUidAndNeverFollowsLinks) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (chown)";
    Policy p = runtime_policy();
    p.security.user = "1234:2345";
    const fs::path dir = root_ / "runtime" / "tenex-p";
    RuntimeInputs in{.owner = kOwner,
                     .d = "p",
                     .relays = {"ws://r:1"},
                     .llm_url = "",
                     .backend_key_hex = "",
                     .api_key = ""};
    ASSERT_TRUE(prepare_runtime_dir(dir, root_ / "project", p, in));
    std::ifstream first(dir / "config.json");
    const std::string key = json::parse(first)["tenexPrivateKey"];
    EXPECT_EQ(key.size(), 64u);
    ASSERT_TRUE(prepare_runtime_dir(dir, root_ / "project", p, in));
    std::ifstream second(dir / "config.json");
    EXPECT_EQ(json::parse(second)["tenexPrivateKey"], key);
    struct stat st {};
    for (const fs::path& f :
         {dir / "config.json", dir / "providers.json", dir, root_ / "project" / "src" / "main.c"}) {
        ASSERT_EQ(::lstat(f.c_str(), &st), 0) << f;
        EXPECT_EQ(st.st_uid, 1234u) << f;
        EXPECT_EQ(st.st_gid, 2345u) << f;
    }
    ASSERT_EQ(::stat((dir / "config.json").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_EQ(::stat("/etc/passwd", &st), 0);
    EXPECT_EQ(st.st_uid, 0u);  // the link's target kept its owner

    // The sandbox swaps config.json for a link to a host file: nothing is written through it.
    const fs::path victim = root_ / "victim";
    std::ofstream(victim) << "host file";
    fs::remove(dir / "config.json");
    fs::create_symlink(victim, dir / "config.json");
    auto again = prepare_runtime_dir(dir, root_ / "project", p, in);
    std::ifstream v(victim);
    std::string text((std::istreambuf_iterator<char>(v)), std::istreambuf_iterator<char>());
    EXPECT_EQ(text, "host file");
    (void)again;
}

// The agents the daemon made keys for (and published profiles of) are handed to the backend
// in its own layout, so it signs with those keys; what the backend already stores is kept,
// and a `.tenex/agents.json` the sandbox replaced by a link to a host file is never read.
TEST_F(RuntimeDir, HandsTheDaemonsAgentKeysToTheBackend) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (chown)";
    Policy p = runtime_policy();
    p.security.user = "1234:2345";
    const std::string def_id(64, 'a'), other_id(64, 'b');
    const auto key = nostr::Keys::generate(), other = nostr::Keys::generate();
    fs::create_directories(root_ / "project" / ".tenex" / "agents");
    std::ofstream(root_ / "project" / ".tenex" / "agents.json") << json{
        {"helper",
         {{"nsec", key.secret.reveal_nsec()}, {"file", def_id + ".json"}, {"eventId", def_id}}},
        {"coder",
         {{"nsec", other.secret.reveal_nsec()},
          {"file", other_id + ".json"},
          {"eventId", other_id}}}}.dump();
    std::ofstream(root_ / "project" / ".tenex" / "agents" / (def_id + ".json")) << json{
        {"name", "Helper"}, {"role", "assistant"}, {"instructions", "Answer briefly."},
        {"dTag", "helper"}, {"author", kOwner},    {"createdAt", 1700000000}}.dump();
    // The backend already installed `coder` with a key of its own: it stays.
    const fs::path dir = root_ / "runtime" / "tenex-p";
    fs::create_directories(dir / "agents");
    const std::string backend_pk(64, 'c');
    std::ofstream(dir / "agents" / "index.json") << json{
        {"bySlug", {{"coder", {{"pubkey", backend_pk}, {"projectIds", {"p"}}}}}},
        {"byEventId", {{other_id, backend_pk}}},
        {"byProject", {{"p", {backend_pk}}}}}.dump();
    RuntimeInputs in{.owner = kOwner,
                     .d = "p",
                     .relays = {"ws://r:1"},
                     .llm_url = "",
                     .backend_key_hex = "",
                     .api_key = ""};
    ASSERT_TRUE(prepare_runtime_dir(dir, root_ / "project", p, in));

    const std::string pk = key.pub.hex();
    std::ifstream agent_in(dir / "agents" / (pk + ".json"));
    const json agent = json::parse(agent_in, nullptr, false);
    ASSERT_TRUE(agent.is_object());
    EXPECT_EQ(agent["nsec"], key.secret.reveal_nsec());
    EXPECT_EQ(agent["eventId"], def_id);
    EXPECT_EQ(agent["slug"], "helper");
    EXPECT_EQ(agent["name"], "Helper");
    EXPECT_EQ(agent["instructions"], "Answer briefly.");
    EXPECT_EQ(agent["definitionDTag"], "helper");  // no "legacy agent" migration at start
    EXPECT_EQ(agent["definitionAuthor"], kOwner);
    EXPECT_EQ(agent["definitionCreatedAt"], 1700000000);
    struct stat st {};
    ASSERT_EQ(::stat((dir / "agents" / (pk + ".json")).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(st.st_uid, 1234u);
    std::ifstream index_in(dir / "agents" / "index.json");
    const json index = json::parse(index_in, nullptr, false);
    EXPECT_EQ(index["byEventId"][def_id], pk);
    EXPECT_EQ(index["bySlug"]["helper"]["pubkey"], pk);
    EXPECT_EQ(index["byEventId"][other_id], backend_pk);  // the backend's own, kept
    EXPECT_EQ(index["byProject"]["p"], json::array({backend_pk}));
    EXPECT_FALSE(fs::exists(dir / "agents" / (other.pub.hex() + ".json")));

    // A link instead of agents.json: nothing read through it, the start still prepared.
    const fs::path dir2 = root_ / "runtime" / "tenex-q";
    fs::remove(root_ / "project" / ".tenex" / "agents.json");
    const fs::path host_file = root_ / "host-agents.json";
    std::ofstream(host_file) << json{
        {"stolen",
         {{"nsec", nostr::Keys::generate().secret.reveal_nsec()},
          {"eventId", def_id}}}}.dump();
    fs::create_symlink(host_file, root_ / "project" / ".tenex" / "agents.json");
    ASSERT_TRUE(prepare_runtime_dir(dir2, root_ / "project", p, in));
    EXPECT_FALSE(fs::exists(dir2 / "agents" / "index.json"));
}

TEST(RuntimeContract, PolicyCheckExplainsTheRules) {
    auto diagnostics = [](const std::string& yaml) {
        const LoadedFile f = parse_policy_text(yaml, "r.yaml");
        std::vector<Diagnostic> all = f.diagnostics;
        if (f.diagnostics.empty()) {
            auto r = merge_policy_files({&f.file});
            all.insert(all.end(), r.diagnostics.begin(), r.diagnostics.end());
        }
        std::string out;
        for (const auto& d : all) out += format_diagnostic(d) + "\n";
        return out;
    };
    EXPECT_EQ(
        diagnostics(
            "network: {mode: egress, relays: true}\n"
            "tenex:\n  llm: {provider: ollama, model: m, base_url: \"http://127.0.0.1:11434\"}\n"),
        "");
    EXPECT_NE(
        diagnostics(
            "tenex:\n  llm: {provider: ollama, model: m, base_url: \"http://127.0.0.1:11434\"}\n")
            .find("only in network.mode egress"),
        std::string::npos);
    EXPECT_NE(diagnostics("tenex:\n  llm: {provider: mistral}\n").find("unknown provider"),
              std::string::npos);
    EXPECT_NE(
        diagnostics(
            "network: {mode: egress, relays: true}\ntenex:\n  llm: {provider: ollama, model: m}\n")
            .find("provider ollama needs tenex.llm.base_url"),
        std::string::npos);
    const std::string egress =
        "network: {mode: egress, relays: true, allow: [\"api.anthropic.com:443\"]}\n";
    const std::string anthropic = "tenex:\n  llm: {provider: anthropic, model: m, key_file: /k";
    EXPECT_EQ(diagnostics(egress + anthropic +
                          ", embed_base_url: \"http://127.0.0.1:11434/v1\", embed_model: e}\n"),
              "");
    EXPECT_NE(diagnostics(egress + anthropic + "}\n").find("has no embeddings"), std::string::npos);
    EXPECT_NE(diagnostics(egress + anthropic + ", embed_base_url: \"http://127.0.0.1:11434/v1\"}\n")
                  .find("needs tenex.llm.embed_model"),
              std::string::npos);
    // Without base_url the provider's own endpoint must be allowed, by name and port.
    EXPECT_NE(diagnostics(
                  "network: {mode: egress, relays: true, allow: [\"api.example.com:443\"]}\n" +
                  anthropic + ", embed_base_url: \"http://127.0.0.1:11434/v1\", embed_model: e}\n")
                  .find("the provider's own api.anthropic.com:443: it must be in network.allow"),
              std::string::npos);
    EXPECT_NE(diagnostics("network: {mode: egress, relays: true}\ntenex:\n  llm: {provider: "
                          "openrouter, model: m, "
                          "key_file: /k, base_url: \"http://127.0.0.1:1/v1\", embed_base_url: "
                          "\"http://127.0.0.1:2/v1\", "
                          "embed_model: e}\n")
                  .find("takes no base URL: it reaches openrouter.ai:443"),
              std::string::npos);
    EXPECT_NE(
        diagnostics(
            "network: {mode: egress, relays: true}\ntenex:\n  llm: {provider: openai, model: m}\n")
            .find("needs tenex.llm.key_file"),
        std::string::npos);
    EXPECT_NE(
        diagnostics("tenex:\n  llm: {base_url: \"http://u:p@h\"}\n").find("expected http://host"),
        std::string::npos);
}

}  // namespace
}  // namespace tenex::sandbox
