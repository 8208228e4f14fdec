#include "project/workspace_path.hpp"

#include "environment.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

namespace tenex::project {
namespace {

namespace fs = std::filesystem;

const std::string kOwnerA(64, 'a');
const std::string kOwnerB = std::string(63, 'a') + "b";

TEST(WorkspacePath, SafeIdentifierIsUsedVerbatimUnderTheOwner) {
    auto ws = map_workspace(kOwnerA, "my-project_1.2");
    ASSERT_TRUE(ws.ok()) << ws.error().message;
    EXPECT_EQ(ws->name, "my-project_1.2");
    EXPECT_FALSE(ws->sanitized);
    EXPECT_EQ(ws->relative(), fs::path(kOwnerA) / "my-project_1.2");
}

TEST(WorkspacePath, TwoOwnersWithTheSameIdentifierNeverShareADirectory) {
    auto a = map_workspace(kOwnerA, "shared");
    auto b = map_workspace(kOwnerB, "shared");
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_NE(a->relative(), b->relative());
}

TEST(WorkspacePath, MappingIsStable) {
    // Pinned values: changing them orphans every existing workspace after an upgrade.
    auto ws = map_workspace(kOwnerA, "My Project");
    ASSERT_TRUE(ws.ok());
    EXPECT_TRUE(ws->sanitized);
    EXPECT_EQ(ws->name.substr(0, 11), "My_Project~");
    EXPECT_EQ(ws->name.size(), 11u + 16u);
    auto again = map_workspace(kOwnerA, "My Project");
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->name, ws->name);
    // SHA-256("My Project") starts with 51e38ecc92f52af6.
    EXPECT_EQ(ws->name, "My_Project~51e38ecc92f52af6");
}

TEST(WorkspacePath, OwnerMustBeLowercaseHex) {
    EXPECT_FALSE(map_workspace("../../etc", "x").ok());
    EXPECT_FALSE(map_workspace(std::string(64, 'A'), "x").ok());
    EXPECT_FALSE(map_workspace(std::string(63, 'a'), "x").ok());
}

struct Hostile {
    std::string label;
    std::string identifier;
    bool rejected;  // true: no directory at all; false: sanitized into a safe name
};

std::vector<Hostile> hostile_corpus() {
    return {
        {"empty", "", true},
        {"dot", ".", true},
        {"dotdot", "..", true},
        {"dots", "...", true},
        {"spaces", "   ", true},
        {"dots and spaces", ". .", true},
        {"nul", std::string("a\0b", 3), true},
        {"nul only", std::string("\0", 1), true},
        {"newline", "a\nb", true},
        {"escape", "a\x1b[31mred", true},
        {"del", "a\x7f", true},
        {"c1 control",
         "a\xc2\x85"
         "b",
         true},
        {"invalid utf8", "a\xff\xfe", true},
        {"overlong utf8 slash",
         "a\xc0\xaf"
         "b",
         true},
        {"10 KB", std::string(10 * 1024, 'x'), true},
        {"parent traversal", "../../etc", false},
        {"parent then name", "../x", false},
        {"absolute", "/abs", false},
        {"absolute etc", "/etc/passwd", false},
        {"slash inside", "a/b", false},
        {"backslash", "..\\..\\windows", false},
        {"leading dot", ".hidden", false},
        {"git dir", ".git", false},
        {"tenex dir", ".tenex", false},
        {"trailing dot", "name.", false},
        {"trailing space", "name ", false},
        {"trailing dots and spaces", "name. . ", false},
        {"CON", "CON", false},
        {"con lowercase", "con", false},
        {"NUL.txt", "NUL.txt", false},
        {"COM1", "COM1", false},
        {"LPT9.log", "LPT9.log", false},
        {"unicode", "проект-日本語", false},
        {"emoji", "🚀 launch", false},
        {"rtl override",
         "abc\xe2\x80\xae"
         "gpj.exe",
         false},
        {"tilde", "~root", false},
        {"shell chars", "$(rm -rf /)", false},
        {"65 bytes", std::string(65, 'y'), false},
        {"1024 bytes", std::string(1024, 'z'), false},
        {"percent encoded", "%2e%2e%2f", false},
        {"leading dash", "-rf", false},
    };
}

TEST(WorkspacePath, HostileIdentifiersAreRejectedOrSanitizedIntoOneSafeComponent) {
    std::set<std::string> names;
    for (const auto& h : hostile_corpus()) {
        SCOPED_TRACE(h.label);
        auto ws = map_workspace(kOwnerA, h.identifier);
        if (h.rejected) {
            ASSERT_FALSE(ws.ok());
            EXPECT_FALSE(ws.error().message.empty());
            continue;
        }
        ASSERT_TRUE(ws.ok()) << ws.error().message;
        const std::string& n = ws->name;
        EXPECT_TRUE(ws->sanitized);
        EXPECT_FALSE(ws->reason.empty());
        EXPECT_FALSE(n.empty());
        EXPECT_LE(n.size(), 64u + 17u);
        EXPECT_NE(n.front(), '.');
        EXPECT_NE(n.back(), '.');
        EXPECT_NE(n.back(), ' ');
        for (char c : n) {
            const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                            c == '-' || c == '~';
            EXPECT_TRUE(ok) << "byte " << static_cast<int>(static_cast<unsigned char>(c));
        }
        EXPECT_NE(n.find('~'), std::string::npos);
        // Exactly one path component below the owner, and it stays below it.
        const fs::path rel = ws->relative();
        EXPECT_EQ(std::distance(rel.begin(), rel.end()), 2);
        const fs::path root = "/projects";
        const fs::path full = (root / rel).lexically_normal();
        EXPECT_EQ(full.parent_path(), root / kOwnerA);
        names.insert(n);
    }
    // Different hostile identifiers never collapse into one directory.
    std::size_t sanitized = 0;
    for (const auto& h : hostile_corpus()) sanitized += h.rejected ? 0 : 1;
    EXPECT_EQ(names.size(), sanitized);
}

TEST(WorkspacePath, SanitizedNamesCannotCollideWithSafeNames) {
    auto sanitized = map_workspace(kOwnerA, "a b");
    ASSERT_TRUE(sanitized.ok());
    auto verbatim = map_workspace(kOwnerA, sanitized->name);  // contains '~': sanitized again
    ASSERT_TRUE(verbatim.ok());
    EXPECT_NE(verbatim->name, sanitized->name);
    auto similar = map_workspace(kOwnerA, "a_b");
    ASSERT_TRUE(similar.ok());
    EXPECT_NE(similar->name, sanitized->name);
}

TEST(WorkspaceDirs, CreatesOwnerDirAndProbesPresence) {
    test::TempDir tmp;
    const fs::path root = tmp.path() / "projects";
    auto ws = map_workspace(kOwnerA, "demo");
    ASSERT_TRUE(ws.ok());
    auto p = probe_workspace(root, *ws);
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(*p, Presence::absent);
    auto owner = ensure_owner_dir(root, *ws);
    ASSERT_TRUE(owner.ok()) << owner.error().message;
    EXPECT_EQ(*owner, root / kOwnerA);
    EXPECT_TRUE(fs::is_directory(*owner));
    fs::create_directory(root / ws->relative());
    auto p2 = probe_workspace(root, *ws);
    ASSERT_TRUE(p2.ok());
    EXPECT_EQ(*p2, Presence::directory);
}

TEST(WorkspaceDirs, RefusesASymlinkPlantedAtTheProjectDirectory) {
    test::TempDir tmp;
    const fs::path root = tmp.path() / "projects";
    const fs::path outside = tmp.path() / "outside";
    fs::create_directories(outside);
    auto ws = map_workspace(kOwnerA, "demo");
    ASSERT_TRUE(ws.ok());
    ASSERT_TRUE(ensure_owner_dir(root, *ws).ok());
    fs::create_directory_symlink(outside, root / ws->relative());
    auto p = probe_workspace(root, *ws);
    ASSERT_FALSE(p.ok());
    EXPECT_NE(p.error().message.find("symlink"), std::string::npos);
}

TEST(WorkspaceDirs, RefusesASymlinkPlantedAtTheOwnerDirectory) {
    test::TempDir tmp;
    const fs::path root = tmp.path() / "projects";
    const fs::path outside = tmp.path() / "outside";
    fs::create_directories(root);
    fs::create_directories(outside);
    fs::create_directory_symlink(outside, root / kOwnerA);
    auto ws = map_workspace(kOwnerA, "demo");
    ASSERT_TRUE(ws.ok());
    EXPECT_FALSE(probe_workspace(root, *ws).ok());
    auto owner = ensure_owner_dir(root, *ws);
    ASSERT_FALSE(owner.ok());
    EXPECT_NE(owner.error().message.find("symlink"), std::string::npos);
    EXPECT_TRUE(fs::is_empty(outside));
}

TEST(WorkspaceDirs, RefusesAFilePlantedAtTheProjectDirectory) {
    test::TempDir tmp;
    const fs::path root = tmp.path() / "projects";
    auto ws = map_workspace(kOwnerA, "demo");
    ASSERT_TRUE(ws.ok());
    ASSERT_TRUE(ensure_owner_dir(root, *ws).ok());
    {
        std::FILE* f = std::fopen((root / ws->relative()).c_str(), "w");
        ASSERT_NE(f, nullptr);
        std::fclose(f);
    }
    EXPECT_FALSE(probe_workspace(root, *ws).ok());
}

}  // namespace
}  // namespace tenex::project
