// tenex-sandbox import on a TENEX installation built the way @tenex-chat/backend 0.9.13 lays
// it out (read in its src/): <base>/config.json (whitelistedPubkeys, relays, projectsBase,
// tenexPrivateKey), <base>/llms.json and providers.json (API keys), <base>/projects/<d>/
// {conversations,logs} (ProjectRuntime.metadataPath, ConversationStore), <base>/agents/
// {<pubkey>.json,index.json} (AgentStorage: nsec, byProject d -> pubkeys),
// <base>/scheduled_tasks.json (SchedulerService: projectId "31933:<owner>:<d>"), and the
// checkouts at projectsBase/<d> (a git repository).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "cli/tenex_import.hpp"
#include "environment.hpp"
#include "sandbox/policy.hpp"
#include "sandbox/project_ref.hpp"
#include "sandbox/runtime_contract.hpp"
#include "sandbox/sandbox_spec.hpp"

namespace tenex::cli {
namespace {
namespace fs = std::filesystem;

const std::string kOwner = std::string(63, 'a') + "1";
const std::string kOther = std::string(63, 'b') + "2";
const std::string kAgent = std::string(63, 'c') + "3";
const std::string kApiKey = "sk-FAKE-openai-key-0123456789";
const std::string kBackendKey = std::string(60, 'e') + "beef";
const std::string kAgentNsec = "nsec1fakeagentsecretqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq";

void write(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
}

std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

int sh(const std::string& cmd) {
    return std::system(cmd.c_str());
}

// Every entry under `root` (not following links): type, mode, size, mtime, content or target.
std::string tree_state(const fs::path& root) {
    std::map<std::string, std::string> entries;
    if (!fs::exists(fs::symlink_status(root))) return "<absent>";
    for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
         ++it) {
        struct stat st {};
        ::lstat(it->path().c_str(), &st);
        std::string v = std::to_string(st.st_mode) + " " + std::to_string(st.st_mtim.tv_sec) + "." +
                        std::to_string(st.st_mtim.tv_nsec) + " ";
        if (it->is_symlink())
            v += "-> " + fs::read_symlink(it->path()).string();
        else if (it->is_regular_file())
            v += std::to_string(std::hash<std::string>{}(read(it->path())));
        entries[it->path().lexically_relative(root).string()] = v;
    }
    std::string all;
    for (const auto& [k, v] : entries) all += k + " " + v + "\n";
    return all;
}

class ImportTest : public ::testing::Test {
  protected:
    test::TempDir tmp;
    fs::path base, projects_base, sandbox_projects, state;

    void SetUp() override {
        base = tmp.path() / "home" / ".tenex";
        projects_base = tmp.path() / "home" / "tenex";
        sandbox_projects = tmp.path() / "sandbox" / "projects";
        state = tmp.path() / "sandbox" / "state";
        write(base / "config.json", R"({
  "whitelistedPubkeys": [")" + kOwner + R"(", ")" +
                                        kOther + R"("],
  "relays": ["wss://relay.example.org", "ws://127.0.0.1:7777"],
  "projectsBase": ")" + projects_base.string() +
                                        R"(",
  "tenexPrivateKey": ")" + kBackendKey + R"(",
  "telemetry": {"enabled": false}
})");
        write(
            base / "llms.json",
            R"({"configurations": {"main": {"provider": "openai", "model": "gpt-4o", "apiKey": ")" +
                kApiKey + R"("}}, "default": "main"})");
        write(base / "providers.json",
              R"({"providers": {"openai": {"apiKey": ")" + kApiKey + R"("}}})");
        // alpha: conversations, an agent, and a scheduled task naming its address.
        write(base / "projects" / "alpha" / "conversations" / "c0ffee.json",
              R"({"messages": [{"pubkey": ")" + kOwner +
                  R"(", "content": "hello"}], "metadata": {"title": "t"}})");
        write(base / "projects" / "alpha" / "logs" / "run.log", "started\n");
        write(base / "scheduled_tasks.json", R"([{"id": "t1", "projectId": "31933:)" + kOwner +
                                                 R"(:alpha", "schedule": "0 * * * *"}])");
        write(base / "agents" / (kAgent + ".json"), R"({"eventId": ")" + std::string(64, 'd') +
                                                        R"(", "nsec": ")" + kAgentNsec +
                                                        R"(", "slug": "helper"})");
        write(base / "agents" / "index.json", R"({"bySlug": {"helper": {"pubkey": ")" + kAgent +
                                                  R"(", "projectIds": ["alpha"]}},
                  "byEventId": {")" + std::string(64, 'd') +
                                                  R"(": ")" + kAgent + R"("},
                  "byProject": {"alpha": [")" + kAgent +
                                                  R"("], "../../etc": [")" + kAgent + R"("]}})");
        // beta: metadata without any address (owner unknown to TENEX's files).
        write(base / "projects" / "beta" / "conversations" / "beef.json", R"({"messages": []})");
        // Checkouts: alpha a git repository with links inside and outside, beta plain files.
        write(projects_base / "alpha" / "README.md", "# alpha\n");
        write(projects_base / "alpha" / "src" / "main.c", "int main(void) { return 0; }\n");
        fs::create_symlink("/etc/passwd", projects_base / "alpha" / "escape");
        fs::create_symlink("../../..", projects_base / "alpha" / "src" / "up");
        fs::create_symlink("README.md", projects_base / "alpha" / "readme-link");
        ASSERT_EQ(sh("cd '" + (projects_base / "alpha").string() +
                     "' && git init -q && git -c user.email=t@t -c user.name=t add README.md "
                     "src/main.c && "
                     "git -c user.email=t@t -c user.name=t commit -q -m init"),
                  0);
        write(projects_base / "beta" / "notes.txt", "beta\n");
        // Older TENEX kept agents (with keys) in the checkout's .tenex/: never carried over.
        write(projects_base / "beta" / ".tenex" / "agents.json",
              R"({"helper": {"nsec": ")" + kAgentNsec + R"("}})");
    }

    ImportOptions options(bool apply) const {
        ImportOptions o;
        o.tenex_config = base / "config.json";
        o.projects_path = sandbox_projects;
        o.state_dir = state;
        o.sandbox_config_name = "/etc/tenex-sandbox/sandbox.yaml";
        o.sandbox_relays = {"wss://relay.example.org"};
        o.owner = kOwner;
        o.apply = apply;
        return o;
    }
    fs::path runtime_dir(const std::string& d) const {
        return state / "runtime" /
               sandbox::container_name(sandbox::ProjectRef{.owner = kOwner, .d = d});
    }
    std::string source_state() const { return tree_state(tmp.path() / "home"); }
    std::string sandbox_state() const { return tree_state(tmp.path() / "sandbox"); }
    void expect_no_secret(const std::string& text) const {
        EXPECT_EQ(text.find(kApiKey), std::string::npos) << text;
        EXPECT_EQ(text.find(kBackendKey), std::string::npos) << text;
        EXPECT_EQ(text.find(kAgentNsec), std::string::npos) << text;
        EXPECT_EQ(text.find("nsec1"), std::string::npos) << text;
    }
};

TEST_F(ImportTest, DryRunPrintsThePlanWritesNothingAndNoSecret) {
    std::string before = source_state();
    std::string out;
    auto r = run_import(options(false), out);
    ASSERT_TRUE(r) << r.error().message;
    expect_no_secret(out);
    EXPECT_NE(out.find("Dry run"), std::string::npos) << out;
    EXPECT_NE(out.find("project alpha\n  owner " + kOwner +
                       " from TENEX metadata (scheduled_tasks.json)"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("project beta\n  owner " + kOwner + " from --owner"), std::string::npos)
        << out;
    EXPECT_NE(out.find("checkout: " + (projects_base / "alpha").string() + " -> " +
                       (sandbox_projects / kOwner / "alpha").string()),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("metadata: " + (base / "projects" / "alpha").string() + " -> " +
                       (runtime_dir("alpha") / "projects" / "alpha").string()),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("would copy"), std::string::npos) << out;
    EXPECT_NE(out.find("skipped: escape (symlink out of the project, not followed)"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("skipped: src/up (symlink out of the project, not followed)"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("agents: 1 key files"), std::string::npos) << out;
    // The whitelist entries missing from sandbox.yaml, and only the relay it lacks.
    EXPECT_NE(
        out.find(
            "add to /etc/tenex-sandbox/sandbox.yaml (it is not rewritten):\n  whitelist:\n    - " +
            kOwner + "\n    - " + kOther + "\n  relays:\n    - ws://127.0.0.1:7777\n"),
        std::string::npos)
        << out;
    EXPECT_NE(out.find("llms.json: not imported"), std::string::npos) << out;
    EXPECT_NE(out.find("  main (default): provider openai, model gpt-4o\n"), std::string::npos)
        << out;
    EXPECT_NE(out.find("dry run: nothing written"), std::string::npos) << out;
    EXPECT_EQ(sandbox_state(), "<absent>");
    EXPECT_EQ(source_state(), before);
}

TEST_F(ImportTest, ApplyCopiesEverythingAndASecondApplyChangesNothing) {
    std::string before = source_state();
    auto o = options(true);
    o.config_out = tmp.path() / "sandbox-import.yaml";
    std::string out;
    auto r = run_import(o, out);
    ASSERT_TRUE(r) << r.error().message << "\n" << out;
    expect_no_secret(out);
    EXPECT_EQ(source_state(), before) << "the source was modified";

    // The checkout, a working git repository, at <projects>/<owner>/<d>.
    fs::path ws = sandbox_projects / kOwner / "alpha";
    EXPECT_EQ(read(ws / "src" / "main.c"), "int main(void) { return 0; }\n");
    EXPECT_EQ(sh("git -C '" + ws.string() + "' -c safe.directory='*' log --oneline | grep -q init"),
              0);
    EXPECT_EQ(sh("git -C '" + ws.string() + "' -c safe.directory='*' diff --quiet HEAD"), 0);
    EXPECT_TRUE(fs::is_symlink(ws / "readme-link"));
    EXPECT_EQ(fs::read_symlink(ws / "readme-link"), "README.md");
    EXPECT_FALSE(fs::exists(fs::symlink_status(ws / "escape")));
    EXPECT_FALSE(fs::exists(fs::symlink_status(ws / "src" / "up")));
    EXPECT_EQ(read(sandbox_projects / kOwner / "beta" / "notes.txt"), "beta\n");
    EXPECT_FALSE(fs::exists(sandbox_projects / kOwner / "beta" / ".tenex"));
    EXPECT_NE(out.find("skipped: .tenex (older TENEX's per-project layout"), std::string::npos)
        << out;

    // The metadata where the runtime's TENEX_BASE_DIR (/tenex) finds it: projects/<d>/.
    fs::path rt = runtime_dir("alpha");
    EXPECT_EQ(read(rt / "projects" / "alpha" / "conversations" / "c0ffee.json"),
              read(base / "projects" / "alpha" / "conversations" / "c0ffee.json"));
    EXPECT_TRUE(
        fs::exists(runtime_dir("beta") / "projects" / "beta" / "conversations" / "beef.json"));
    // The agent's key file (0600) and index entries, so it keeps its pubkey; the hostile
    // byProject key was not used.
    struct stat st {};
    ASSERT_EQ(::stat((rt / "agents" / (kAgent + ".json")).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    std::string index = read(rt / "agents" / "index.json");
    EXPECT_NE(index.find("\"alpha\""), std::string::npos) << index;
    EXPECT_NE(index.find(std::string(64, 'd')), std::string::npos) << index;
    EXPECT_EQ(index.find("etc"), std::string::npos) << index;
    // The merged YAML fragment: the sandbox's relay, then the TENEX ones it lacked.
    EXPECT_EQ(read(o.config_out).substr(read(o.config_out).find("whitelist:")),
              "whitelist:\n  - " + kOwner + "\n  - " + kOther +
                  "\nrelays:\n  - wss://relay.example.org\n  - ws://127.0.0.1:7777\n");
    // No secret reached the sandbox side except the agent's own key file.
    EXPECT_FALSE(fs::exists(rt / "llms.json"));
    EXPECT_FALSE(fs::exists(rt / "config.json"));

    // Again: nothing changes, and it says so.
    std::string after = sandbox_state();
    std::string again;
    ASSERT_TRUE(run_import(o, again)) << again;
    EXPECT_NE(again.find("nothing to do: everything is already imported"), std::string::npos)
        << again;
    EXPECT_NE(again.find("already imported"), std::string::npos) << again;
    EXPECT_EQ(sandbox_state(), after);
    EXPECT_EQ(source_state(), before);
}

// What the daemon does before the runtime container's first start (runtime_contract.hpp) on
// the imported directories: the conversations and the imported agent stay where the backend
// looks for them (TENEX_BASE_DIR/projects/<d>/conversations, agents/index.json byEventId), and
// both trees are handed to the container's uid.
TEST_F(ImportTest, TheDaemonsRuntimePreparationKeepsTheImportedState) {
    if (::geteuid() != 0) {
        if (test::in_ci()) FAIL() << "needs root (chown) in CI";
        GTEST_SKIP() << "needs root (chown)";
    }
    std::string out;
    ASSERT_TRUE(run_import(options(true), out)) << out;
    sandbox::Policy policy;
    policy.image = "tenex-runtime:latest";
    policy.network.mode = sandbox::NetworkMode::egress;
    policy.network.relays = true;
    policy.llm = sandbox::TenexLlm{.provider = "ollama",
                                   .model = "llama3.1",
                                   .base_url = "http://127.0.0.1:11434",
                                   .key_file = "",
                                   .embed_model = "nomic"};
    policy.security.user = "1234:2345";
    fs::path rt = runtime_dir("alpha");
    fs::path ws = sandbox_projects / kOwner / "alpha";
    sandbox::RuntimeInputs in{.owner = kOwner,
                              .d = "alpha",
                              .relays = {"ws://r:1"},
                              .llm_url = "",
                              .backend_key_hex = "",
                              .api_key = ""};
    auto prepared = sandbox::prepare_runtime_dir(rt, ws, policy, in);
    ASSERT_TRUE(prepared) << prepared.error().message;
    EXPECT_EQ(read(rt / "projects" / "alpha" / "conversations" / "c0ffee.json"),
              read(base / "projects" / "alpha" / "conversations" / "c0ffee.json"));
    std::string index = read(rt / "agents" / "index.json");
    EXPECT_NE(index.find("\"" + std::string(64, 'd') + "\": \"" + kAgent + "\""), std::string::npos)
        << index;
    struct stat st {};
    for (const fs::path& f :
         {rt / "projects" / "alpha" / "conversations" / "c0ffee.json",
          rt / "agents" / (kAgent + ".json"), ws / "src" / "main.c", ws / ".git" / "HEAD"}) {
        ASSERT_EQ(::lstat(f.c_str(), &st), 0) << f;
        EXPECT_EQ(st.st_uid, 1234u) << f;
    }
}

// A run interrupted while copying leaves at most its temporary file, never a truncated file
// under the real name; the next run replaces the temporary and completes the copy.
TEST_F(ImportTest, AnInterruptedCopyIsCompletedByTheNextRun) {
    const fs::path src = sandbox_projects / kOwner / "alpha" / "src";
    write(src / ".tenex-import.tmp", "int ma");  // what a killed run leaves
    std::string out;
    ASSERT_TRUE(run_import(options(true), out)) << out;
    EXPECT_EQ(read(src / "main.c"), "int main(void) { return 0; }\n");
    EXPECT_FALSE(fs::exists(src / ".tenex-import.tmp"));
    EXPECT_EQ(out.find("kept"), std::string::npos) << out;
}

TEST_F(ImportTest, FilesChangedInTheSandboxAreKeptNotOverwritten) {
    std::string out;
    ASSERT_TRUE(run_import(options(true), out)) << out;
    fs::path f = sandbox_projects / kOwner / "alpha" / "README.md";
    write(f, "# edited in the sandbox\n");
    std::string again;
    ASSERT_TRUE(run_import(options(true), again)) << again;
    EXPECT_NE(again.find("kept (differs at the destination): README.md"), std::string::npos)
        << again;
    EXPECT_EQ(read(f), "# edited in the sandbox\n");
}

TEST_F(ImportTest, UnknownOwnerNeedsOwnerFlagAndNothingIsWritten) {
    auto o = options(true);
    o.owner.clear();
    std::string out;
    auto r = run_import(o, out);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("nothing imported, nothing written"), std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find("beta: the owner is not in TENEX's metadata and the whitelist "
                                     "has 2 pubkeys: pass --owner HEX"),
              std::string::npos)
        << r.error().message;
    EXPECT_EQ(sandbox_state(), "<absent>");

    // One whitelisted pubkey: that one, and the report says why.
    write(base / "config.json", R"({"whitelistedPubkeys": [")" + kOther +
                                    R"("], "relays": [], "projectsBase": ")" +
                                    projects_base.string() + R"("})");
    o.apply = false;
    auto sole = run_import(o, out);
    ASSERT_TRUE(sole) << sole.error().message;
    EXPECT_NE(out.find("project beta\n  owner " + kOther + " the sole whitelisted pubkey"),
              std::string::npos)
        << out;
    // alpha's owner still comes from the metadata, and is added to the whitelist.
    EXPECT_NE(out.find("project alpha\n  owner " + kOwner + " from TENEX metadata"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("    - " + kOwner + "\n"), std::string::npos) << out;
}

// The address in the project's own metadata (e.g. a stored event's "a" tag) names the owner;
// two different owners for one `d` need --owner naming one of them.
TEST_F(ImportTest, OwnerFromTheProjectsMetadataAndAmbiguousOwners) {
    fs::remove(base / "scheduled_tasks.json");
    write(base / "projects" / "alpha" / "conversations" / "c0ffee.json",
          R"({"messages": [{"tags": [["a", "31933:)" + kOther + R"(:alpha"], ["a", "31933:)" +
              kOwner + R"(:alpha-2"]]}]})");
    std::string out;
    auto r = run_import(options(false), out);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_NE(out.find("project alpha\n  owner " + kOther +
                       " from TENEX metadata (projects/alpha/conversations/c0ffee.json)"),
              std::string::npos)
        << out;
    write(base / "projects" / "alpha" / "logs" / "run.log", "booted 31933:" + kOwner + ":alpha\"");
    auto o = options(false);
    o.owner.clear();
    r = run_import(o, out);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("alpha: TENEX metadata names 2 owners"), std::string::npos)
        << r.error().message;
    o.owner = kOwner;
    r = run_import(o, out);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_NE(out.find("project alpha\n  owner " + kOwner +
                       " from --owner (TENEX metadata names several)"),
              std::string::npos)
        << out;
}

TEST_F(ImportTest, MalformedJsonNamesTheFileNotItsContent) {
    write(base / "config.json", R"({"tenexPrivateKey": ")" + kBackendKey + R"(", "relays": [)");
    std::string out;
    auto r = run_import(options(true), out);
    ASSERT_FALSE(r);
    EXPECT_NE(
        r.error().message.find((base / "config.json").string() + ": malformed JSON near byte"),
        std::string::npos)
        << r.error().message;
    expect_no_secret(r.error().message + out);
    EXPECT_EQ(sandbox_state(), "<absent>");

    // A good config.json again, then a broken agents index holding a key.
    write(base / "config.json", R"({"whitelistedPubkeys": [")" + kOwner +
                                    R"("], "projectsBase": ")" + projects_base.string() + R"("})");
    write(base / "agents" / "index.json", "{\"nsec\": \"" + kAgentNsec + "\" oops");
    r = run_import(options(true), out);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("index.json: malformed JSON"), std::string::npos)
        << r.error().message;
    expect_no_secret(r.error().message);
    EXPECT_EQ(sandbox_state(), "<absent>");
}

TEST_F(ImportTest, ProjectsBaseMissingOrNotADirectory) {
    std::string out;
    write(base / "config.json", R"({"whitelistedPubkeys": [], "relays": []})");
    auto r = run_import(options(true), out);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("no projectsBase"), std::string::npos) << r.error().message;
    write(base / "config.json", R"({"projectsBase": "/nonexistent/tenex-projects"})");
    r = run_import(options(true), out);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("projectsBase /nonexistent/tenex-projects is not a directory"),
              std::string::npos)
        << r.error().message;
    write(base / "config.json", R"({"projectsBase": "relative/dir"})");
    r = run_import(options(true), out);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("is not an absolute path"), std::string::npos)
        << r.error().message;
    EXPECT_EQ(sandbox_state(), "<absent>");
}

// The file the operator names may be a link (dotfiles); the TENEX_BASE_DIR is where it is named.
TEST_F(ImportTest, ConfigFileLinkIsReadAndAMissingOneIsAClearError) {
    fs::rename(base / "config.json", tmp.path() / "dotfiles-config.json");
    fs::create_symlink(tmp.path() / "dotfiles-config.json", base / "config.json");
    std::string out;
    auto r = run_import(options(false), out);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_NE(out.find("metadata: " + (base / "projects" / "alpha").string()), std::string::npos)
        << out;
    auto o = options(false);
    o.tenex_config = base / "nonexistent.json";
    r = run_import(o, out);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              (base / "nonexistent.json").string() + ": No such file or directory");
}

TEST_F(ImportTest, HostileNamesAndLinkedProjectsAreRefusedAndNothingIsWritten) {
    EXPECT_FALSE(check_identifier(".."));
    EXPECT_FALSE(check_identifier("."));
    EXPECT_FALSE(check_identifier("a/b"));
    EXPECT_FALSE(check_identifier(std::string("a\0b", 3)));
    EXPECT_FALSE(check_identifier(std::string(10 * 1024, 'x')));
    EXPECT_FALSE(check_identifier("bad\nname"));
    EXPECT_FALSE(check_identifier("\xff\xfe"));
    EXPECT_TRUE(check_identifier("hello-tenex"));
    EXPECT_TRUE(check_identifier("Projekt Ä"));

    fs::create_directories(projects_base / "bad\nname");
    std::string before = source_state();
    std::string out;
    auto r = run_import(options(true), out);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("bad\\x0aname: name contains a control character"),
              std::string::npos)
        << r.error().message;
    EXPECT_EQ(sandbox_state(), "<absent>");
    EXPECT_EQ(source_state(), before);
    fs::remove(projects_base / "bad\nname");

    // A project directory that is a symlink to elsewhere is not followed.
    fs::create_symlink("/etc", projects_base / "linked");
    before = source_state();
    r = run_import(options(true), out);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find((projects_base / "linked").string() +
                                     ": is a symlink (not followed)"),
              std::string::npos)
        << r.error().message;
    EXPECT_EQ(sandbox_state(), "<absent>");
    EXPECT_EQ(source_state(), before);
    fs::remove(projects_base / "linked");

    // --project with a hostile name, and one that does not exist.
    auto o = options(true);
    o.only = {"../etc"};
    r = run_import(o, out);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("name contains '/'"), std::string::npos) << r.error().message;
    o.only = {"gamma"};
    r = run_import(o, out);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("'gamma': no such project"), std::string::npos)
        << r.error().message;
    EXPECT_EQ(sandbox_state(), "<absent>");
}

TEST_F(ImportTest, ADestinationSymlinkIsRefused) {
    fs::create_directories(sandbox_projects / kOwner);
    fs::create_symlink(tmp.path() / "elsewhere", sandbox_projects / kOwner / "alpha");
    std::string out;
    auto r = run_import(options(true), out);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("alpha: is a symlink"), std::string::npos)
        << r.error().message;
    EXPECT_FALSE(fs::exists(tmp.path() / "elsewhere"));
}

// The real binary: reads sandbox.yaml (whitelist, relays, paths) and never rewrites it.
TEST_F(ImportTest, CommandLineReadsSandboxYamlAndLeavesItAlone) {
    fs::path yaml = tmp.path() / "sandbox.yaml";
    write(yaml, "# the operator's comments\nrelays:\n  - ws://127.0.0.1:7777\nwhitelist:\n  - " +
                    kOwner + "\nprojects_path: " + sandbox_projects.string() +
                    "\nstate_dir: " + state.string() + "\n");
    std::string yaml_before = read(yaml);
    auto run = [&](const std::string& args, int& status) {
        std::string cmd = "'" + test::tenex_binary().string() + "' import --tenex-config '" +
                          (base / "config.json").string() + "' -c '" + yaml.string() + "' " + args +
                          " 2>&1";
        FILE* p = popen(cmd.c_str(), "r");
        std::string text;
        char buf[4096];
        while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) text.append(buf, n);
        status = pclose(p);
        return text;
    };
    int status = 0;
    std::string out = run("", status);
    EXPECT_NE(status, 0) << out;  // beta's owner is unknown and the whitelist has two
    EXPECT_NE(out.find("pass --owner HEX"), std::string::npos) << out;
    out = run("--owner " + kOwner, status);
    EXPECT_EQ(status, 0) << out;
    expect_no_secret(out);
    EXPECT_NE(out.find("add to " + yaml.string() + " (it is not rewritten):\n  whitelist:\n    - " +
                       kOther + "\n  relays:\n    - wss://relay.example.org\n"),
              std::string::npos)
        << out;
    out = run("--owner " + kOwner + " --apply --config-out '" + yaml.string() + "'", status);
    EXPECT_NE(status, 0) << out;
    EXPECT_NE(out.find("never rewritten"), std::string::npos) << out;
    out = run("--owner " + kOwner + " --apply", status);
    EXPECT_EQ(status, 0) << out;
    EXPECT_TRUE(fs::exists(sandbox_projects / kOwner / "alpha" / "README.md")) << out;
    out = run("--owner " + kOwner + " --apply", status);
    EXPECT_EQ(status, 0) << out;
    EXPECT_NE(out.find("nothing to do"), std::string::npos) << out;
    EXPECT_EQ(read(yaml), yaml_before);
}

}  // namespace
}  // namespace tenex::cli
