#include "project/workspace.hpp"

#include "environment.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace tenex::project {
namespace {

namespace fs = std::filesystem;

// Every path under `dir`, recursively (symlinks listed, not followed).
std::vector<fs::path> tree(const fs::path& dir) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& e : fs::recursive_directory_iterator(dir, ec)) out.push_back(e.path());
    return out;
}

struct EnsureWorkspace : ::testing::Test {
    test::TempDir tmp;
    WorkspaceConfig config;
    ProjectDefinition project;
    int keys = 0;
    KeyGenerator keygen = [this]() -> Result<std::string> { return "nsec1k" + std::to_string(++keys); };

    void SetUp() override {
        config.projects_root = tmp.path() / "projects";
        project.identifier = "fresh";
        project.owner = std::string(64, 'e');
        project.naddr = "naddr1fresh";
        project.description = "no repo";
    }
};

TEST_F(EnsureWorkspace, ProjectWithoutRepoGetsAnInitializedRepository) {
    auto r = ensure_workspace(config, project, {}, {}, keygen);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(r->created);
    EXPECT_FALSE(r->cloned);
    EXPECT_EQ(r->path, config.projects_root / project.owner / "fresh");
    EXPECT_TRUE(fs::exists(r->path / ".git" / "HEAD"));
    EXPECT_TRUE(fs::exists(r->path / ".tenex" / "config.json"));
    EXPECT_TRUE(fs::exists(r->path / ".gitignore"));
    // Nothing but the workspace in the owner's folder (no temporary sibling).
    EXPECT_EQ(std::distance(fs::directory_iterator(r->path.parent_path()), fs::directory_iterator()), 1);

    auto again = ensure_workspace(config, project, {}, {}, keygen);
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_FALSE(again->created);
    EXPECT_FALSE(again->layout.changed());
}

TEST_F(EnsureWorkspace, HostileIdentifiersWriteNothingOutsideTheProjectsPath) {
    const fs::path outside = tmp.path() / "outside";
    fs::create_directories(outside);
    for (const std::string& id : std::vector<std::string>{"..", "../../outside", "/abs", std::string("a\0b", 3), std::string(10240, 'x'),
                                 ".", "", "../outside/x", "CON", "name. ", ".git"}) {
        project.identifier = id;
        auto r = ensure_workspace(config, project, {}, {}, keygen);
        if (r.ok()) {
            const fs::path rel = fs::relative(r->path, config.projects_root);
            EXPECT_EQ(rel.begin()->string(), project.owner);
            EXPECT_EQ(std::distance(rel.begin(), rel.end()), 2);
            EXPECT_EQ(r->path.lexically_normal().parent_path(), config.projects_root / project.owner);
        }
    }
    EXPECT_TRUE(fs::is_empty(outside));
    for (const auto& p : tree(tmp.path())) {
        if (p == outside) continue;
        EXPECT_EQ(p.string().rfind(config.projects_root.string(), 0), 0u) << "written outside: " << p;
    }
}

TEST_F(EnsureWorkspace, SymlinkPlantedAtTheProjectDirectoryIsNotFollowed) {
    const fs::path outside = tmp.path() / "outside";
    fs::create_directories(outside);
    fs::create_directories(config.projects_root / project.owner);
    fs::create_directory_symlink(outside, config.projects_root / project.owner / "fresh");
    auto r = ensure_workspace(config, project, {}, {}, keygen);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("symlink"), std::string::npos) << r.error().message;
    EXPECT_TRUE(fs::is_empty(outside));
}

TEST_F(EnsureWorkspace, RefusedRepoUrlCreatesNothing) {
    project.repo_url = "file:///etc";
    auto r = ensure_workspace(config, project, {}, {}, keygen);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("file://"), std::string::npos);
    EXPECT_FALSE(fs::exists(config.projects_root / project.owner / "fresh"));
}

}  // namespace
}  // namespace tenex::project
