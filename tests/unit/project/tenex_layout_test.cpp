#include "project/tenex_layout.hpp"

#include "environment.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

namespace tenex::project {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string id(char c) {
    return std::string(64, c);
}

std::string read(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

json read_json(const fs::path& p) {
    return json::parse(read(p));
}

struct TenexLayout : ::testing::Test {
    test::TempDir tmp;
    fs::path ws;
    int keys_made = 0;
    KeyGenerator keygen = [this]() -> Result<std::string> {
        return "nsec1testkey" + std::to_string(++keys_made);
    };
    ProjectDefinition project;
    std::vector<AgentDefinition> agents;
    std::vector<McpTool> tools;

    void SetUp() override {
        ws = tmp.path() / "ws";
        fs::create_directories(ws);
        project.identifier = "demo";
        project.owner = id('a');
        project.naddr = "naddr1demo";
        project.description = "A demo project";
        project.repo_url = "https://example.com/demo.git";
        agents.push_back({id('1'), "Senior Developer", "developer", "Writes code", "Be careful",
                          "when coding", "2"});
        tools.push_back({id('2'), "File Search", "searches files",
                         "npx -y \"@scope/search server\" --root '/work dir'", "node:20"});
    }
};

TEST_F(TenexLayout, WritesTheWholeLayout) {
    auto r = write_tenex_layout(ws, project, agents, tools, keygen);
    ASSERT_TRUE(r.ok()) << r.error().message;

    const json config = read_json(ws / ".tenex/config.json");
    EXPECT_EQ(config["description"], "A demo project");
    EXPECT_EQ(config["repoUrl"], "https://example.com/demo.git");
    EXPECT_EQ(config["projectNaddr"], "naddr1demo");

    const json index = read_json(ws / ".tenex/agents.json");
    ASSERT_TRUE(index.contains("senior-developer"));
    EXPECT_EQ(index["senior-developer"]["nsec"], "nsec1testkey1");
    EXPECT_EQ(index["senior-developer"]["eventId"], id('1'));
    EXPECT_EQ(index["senior-developer"]["file"], id('1') + ".json");
    struct stat st {};
    ASSERT_EQ(::stat((ws / ".tenex/agents.json").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    const json agent = read_json(ws / ".tenex/agents" / (id('1') + ".json"));
    EXPECT_EQ(agent["name"], "Senior Developer");
    EXPECT_EQ(agent["role"], "developer");
    EXPECT_EQ(agent["description"], "Writes code");
    EXPECT_EQ(agent["instructions"], "Be careful");
    EXPECT_EQ(agent["useCriteria"], "when coding");
    EXPECT_EQ(agent["version"], "2");

    const json mcp = read_json(ws / ".tenex/mcp.json");
    EXPECT_EQ(mcp["enabled"], true);
    const json& server = mcp["servers"]["file-search"];
    EXPECT_EQ(server["command"], "npx");
    EXPECT_EQ(server["args"], json::array({"-y", "@scope/search server", "--root", "/work dir"}));
    EXPECT_EQ(server["description"], "searches files");
    EXPECT_EQ(server["image"], "node:20");

    EXPECT_EQ(read(ws / ".gitignore"), ".tenex/\n");
    EXPECT_EQ(r->agents_added, std::vector<std::string>{"senior-developer"});
    EXPECT_EQ(r->tools_added, std::vector<std::string>{"file-search"});
}

TEST_F(TenexLayout, SecondRunIsIdempotentAndKeepsKeys) {
    ASSERT_TRUE(write_tenex_layout(ws, project, agents, tools, keygen).ok());
    const std::string before = read(ws / ".tenex/agents.json");
    const auto mtime = fs::last_write_time(ws / ".tenex/config.json");
    auto again = write_tenex_layout(ws, project, agents, tools, keygen);
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_FALSE(again->changed());
    EXPECT_EQ(keys_made, 1);
    EXPECT_EQ(read(ws / ".tenex/agents.json"), before);
    EXPECT_EQ(fs::last_write_time(ws / ".tenex/config.json"), mtime);
    EXPECT_EQ(read(ws / ".gitignore"), ".tenex/\n");
}

TEST_F(TenexLayout, NoTemporaryFilesAreLeftBehind) {
    ASSERT_TRUE(write_tenex_layout(ws, project, agents, tools, keygen).ok());
    for (const auto& e : fs::recursive_directory_iterator(ws))
        EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

TEST_F(TenexLayout, NewerDefinitionRefreshesConfigAndAddsWithoutTouchingTheCheckout) {
    std::ofstream(ws / "README.md") << "checkout file\n";
    std::ofstream(ws / ".gitignore") << "node_modules/";  // no trailing newline
    ASSERT_TRUE(write_tenex_layout(ws, project, agents, tools, keygen).ok());
    {  // something else (the TENEX runtime) adds its own keys to config.json
        json c = read_json(ws / ".tenex/config.json");
        c["llms"] = "kept";
        std::ofstream(ws / ".tenex/config.json") << c.dump();
    }
    project.description = "Updated description";
    agents.push_back({id('3'), "Project Manager", "pm", "", "plan", "", ""});
    tools.push_back({id('4'), "Git Tool", "", "git-mcp", ""});
    auto r = write_tenex_layout(ws, project, agents, tools, keygen);
    ASSERT_TRUE(r.ok()) << r.error().message;
    const json config = read_json(ws / ".tenex/config.json");
    EXPECT_EQ(config["description"], "Updated description");
    EXPECT_EQ(config["llms"], "kept");
    const json index = read_json(ws / ".tenex/agents.json");
    EXPECT_EQ(index["senior-developer"]["nsec"], "nsec1testkey1");
    EXPECT_EQ(index["project-manager"]["nsec"], "nsec1testkey2");
    const json mcp = read_json(ws / ".tenex/mcp.json");
    EXPECT_TRUE(mcp["servers"].contains("file-search"));
    EXPECT_EQ(mcp["servers"]["git-tool"]["command"], "git-mcp");
    EXPECT_EQ(mcp["servers"]["git-tool"]["args"], json::array());
    EXPECT_EQ(read(ws / "README.md"), "checkout file\n");
    EXPECT_EQ(read(ws / ".gitignore"), "node_modules/\n.tenex/\n");
    EXPECT_EQ(r->agents_added, std::vector<std::string>{"project-manager"});
}

TEST_F(TenexLayout, ANewerVersionOfAnAgentKeepsItsKey) {
    ASSERT_TRUE(write_tenex_layout(ws, project, agents, tools, keygen).ok());
    agents[0].event_id = id('5');
    agents[0].instructions = "v3";
    auto r = write_tenex_layout(ws, project, agents, tools, keygen);
    ASSERT_TRUE(r.ok());
    const json index = read_json(ws / ".tenex/agents.json");
    EXPECT_EQ(index["senior-developer"]["nsec"], "nsec1testkey1");
    EXPECT_EQ(index["senior-developer"]["eventId"], id('5'));
    EXPECT_EQ(keys_made, 1);
    EXPECT_TRUE(fs::exists(ws / ".tenex/agents" / (id('5') + ".json")));
}

TEST_F(TenexLayout, GitignoreThatAlreadyIgnoresTenexIsLeftAlone) {
    for (const char* existing : {".tenex/\n", "/.tenex\n", "a\n.tenex\r\nb\n"}) {
        std::ofstream(ws / ".gitignore", std::ios::trunc) << existing;
        ASSERT_TRUE(write_tenex_layout(ws, project, agents, tools, keygen).ok());
        EXPECT_EQ(read(ws / ".gitignore"), existing);
    }
}

TEST_F(TenexLayout, KeyGeneratorFailureIsAnErrorWithoutPartialAgentsJson) {
    KeyGenerator broken = []() -> Result<std::string> { return make_error("no entropy"); };
    auto r = write_tenex_layout(ws, project, agents, tools, broken);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("no entropy"), std::string::npos);
    EXPECT_FALSE(fs::exists(ws / ".tenex/agents.json"));
}

TEST_F(TenexLayout, RefusesSymlinksPlantedByTheRepository) {
    const fs::path outside = tmp.path() / "outside";
    fs::create_directories(outside);
    fs::create_directory_symlink(outside, ws / ".tenex");
    auto r = write_tenex_layout(ws, project, agents, tools, keygen);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("symlink"), std::string::npos);
    EXPECT_TRUE(fs::is_empty(outside));

    fs::remove(ws / ".tenex");
    const fs::path target = outside / "passwd";
    std::ofstream(target) << "root:x:0:0\n";
    fs::create_symlink(target, ws / ".gitignore");
    auto r2 = write_tenex_layout(ws, project, agents, tools, keygen);
    ASSERT_FALSE(r2.ok());
    EXPECT_EQ(read(target), "root:x:0:0\n");

    fs::remove(ws / ".gitignore");
    fs::remove_all(ws / ".tenex");
    fs::create_directories(ws / ".tenex");
    fs::create_symlink(target, ws / ".tenex/config.json");
    auto r3 = write_tenex_layout(ws, project, agents, tools, keygen);
    ASSERT_FALSE(r3.ok());
    EXPECT_EQ(read(target), "root:x:0:0\n");
}

TEST_F(TenexLayout, InvalidEventIdsNeverBecomeFileNames) {
    agents[0].event_id = "../../../../etc/cron.d/x";
    auto r = write_tenex_layout(ws, project, agents, tools, keygen);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("invalid event id"), std::string::npos);
}

// A bad MCP definition (a command a shell could not parse, an empty one, an id that is not
// an event id) is left out with a reason; the project and its good tools still get their
// layout (one bad 4200 used to fail the whole project).
TEST_F(TenexLayout, BadMcpToolsAreSkippedWithAReasonAndTheRestIsWritten) {
    tools.push_back({id('7'), "Broken Quote", "", "node 'unterminated", ""});
    tools.push_back({id('8'), "Blank", "", "   ", ""});
    tools.push_back({"../../etc/x", "Bad Id", "", "ok-command", ""});
    tools.push_back({id('9'), "Good Two", "", "good-two --flag", ""});
    auto r = write_tenex_layout(ws, project, agents, tools, keygen);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->tools_added, (std::vector<std::string>{"file-search", "good-two"}));
    ASSERT_EQ(r->tools_skipped.size(), 3u);
    EXPECT_EQ(r->tools_skipped[0], "broken-quote: command has an unterminated single quote");
    EXPECT_EQ(r->tools_skipped[1], "blank: empty command");
    EXPECT_EQ(r->tools_skipped[2], "bad-id: invalid event id");
    const json mcp = read_json(ws / ".tenex/mcp.json");
    EXPECT_EQ(mcp["servers"].size(), 2u);
    EXPECT_EQ(mcp["servers"]["good-two"]["args"], json::array({"--flag"}));
    EXPECT_TRUE(fs::exists(ws / ".tenex/agents.json"));
    // The next load tries them again (nothing recorded them as written) and skips them again.
    auto again = write_tenex_layout(ws, project, agents, tools, keygen);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->tools_skipped.size(), 3u);
    EXPECT_FALSE(again->changed());
}

TEST_F(TenexLayout, DuplicateTitlesGetDistinctSlugs) {
    agents.push_back({id('6'), "Senior Developer", "other", "", "", "", ""});
    auto r = write_tenex_layout(ws, project, agents, tools, keygen);
    ASSERT_TRUE(r.ok());
    const json index = read_json(ws / ".tenex/agents.json");
    EXPECT_TRUE(index.contains("senior-developer"));
    EXPECT_TRUE(index.contains("senior-developer-66666666"));
}

TEST(SplitCommand, SplitsLikeAShellWithoutExpansion) {
    auto w = split_command(R"(node  server.js --name "a b" 'c $HOME' d\ e "q\"x" $(id))");
    ASSERT_TRUE(w.ok());
    EXPECT_EQ(*w, (std::vector<std::string>{"node", "server.js", "--name", "a b", "c $HOME", "d e",
                                            "q\"x", "$(id)"}));
    EXPECT_FALSE(split_command("node 'unterminated").ok());
    EXPECT_FALSE(split_command("node \"unterminated").ok());
    EXPECT_FALSE(split_command("node \\").ok());
    auto empty = split_command("   ");
    ASSERT_TRUE(empty.ok());
    EXPECT_TRUE(empty->empty());
}

}  // namespace
}  // namespace tenex::project
