// The module graph, enforced: every file under src/<module>/ may include "<other>/..." only
// when <other> is one of <module>'s own module dependencies (its DEPS and PUBLIC_DEPS in
// src/<module>/CMakeLists.txt: direct ones, not what they pull in), and the README's table
// lists that same graph. The graph is read from module_graph.txt, which configure writes from
// the tenex_module() calls (cmake/TenexTargets.cmake), so there is no second table to keep.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "environment.hpp"

namespace fs = std::filesystem;

namespace {

using Graph = std::map<std::string, std::set<std::string>>;  // module -> modules it may include

// "<module> <dep> <dep>..." per line.
Graph read_graph(const fs::path& file) {
    Graph g;
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream words(line);
        std::string module, dep;
        if (!(words >> module)) continue;
        auto& deps = g[module];
        while (words >> dep) deps.insert(dep);
    }
    return g;
}

std::string join(const std::set<std::string>& s) {
    std::string out;
    for (const auto& m : s) out += (out.empty() ? "" : ", ") + m;
    return out.empty() ? "(no other module)" : out;
}

// Every include of another module's header that the graph does not allow, as
// "src/<module>/<file>:<line>: <module> -> <other> (...)"; and every folder of src/ that is not
// a module (its files would be checked against nothing).
std::vector<std::string> violations(const fs::path& src, const Graph& graph) {
    static const std::regex include_re(R"(^\s*#\s*include\s*["<]([A-Za-z0-9_]+)/)");
    std::vector<std::string> out;
    std::set<std::string> dirs;
    for (const auto& d : fs::directory_iterator(src))
        if (d.is_directory()) dirs.insert(d.path().filename().string());
    for (const auto& module : dirs) {
        auto it = graph.find(module);
        if (it == graph.end()) {
            out.push_back("src/" + module +
                          "/ is not a module of the CMake graph (no tenex_module(" + module + "))");
            continue;
        }
        std::vector<fs::path> files;
        for (const auto& f : fs::recursive_directory_iterator(src / module))
            if (f.is_regular_file()) files.push_back(f.path());
        std::sort(files.begin(), files.end());
        for (const auto& file : files) {
            std::ifstream in(file);
            std::string line;
            for (int n = 1; std::getline(in, line); ++n) {
                std::smatch m;
                if (!std::regex_search(line, m, include_re)) continue;
                const std::string other = m[1];
                if (other == module || !dirs.count(other) || it->second.count(other)) continue;
                out.push_back("src/" + fs::relative(file, src).string() + ":" + std::to_string(n) +
                              ": " + module + " -> " + other + " is not in the module graph (" +
                              line + "); " + module + " may include: " + join(it->second));
            }
        }
    }
    return out;
}

// The README's table between <!-- module-graph --> and <!-- /module-graph -->: rows
// "| `module` | `dep`, `dep` |" ("| `common` | (none) |" for no dependency).
Graph readme_graph(const fs::path& readme) {
    static const std::regex name_re("`([a-z_]+)`");
    Graph g;
    std::ifstream in(readme);
    std::string line;
    bool inside = false;
    while (std::getline(in, line)) {
        if (line.find("<!-- module-graph -->") != std::string::npos) {
            inside = true;
            continue;
        }
        if (line.find("<!-- /module-graph -->") != std::string::npos) break;
        if (!inside || line.rfind("| `", 0) != 0) continue;
        const auto cell = line.find('|', 1);
        std::smatch m;
        const std::string first = line.substr(0, cell), rest = line.substr(cell);
        if (!std::regex_search(first, m, name_re)) continue;
        auto& deps = g[m[1]];
        for (std::sregex_iterator d(rest.begin(), rest.end(), name_re), end; d != end; ++d)
            deps.insert((*d)[1]);
    }
    return g;
}

Graph built_graph() {
    return read_graph(TENEX_MODULE_GRAPH);
}

TEST(Layering, TheGraphIsReadFromTheBuild) {
    const auto g = built_graph();
    // The modules the build defines; a new one joins this list when its tenex_module() is added.
    EXPECT_GE(g.size(), 9u) << "module graph " << TENEX_MODULE_GRAPH;
    ASSERT_TRUE(g.count("common") && g.count("cli"));
    EXPECT_TRUE(g.at("common").empty());
    EXPECT_TRUE(g.at("cli").count("daemon"));
}

TEST(Layering, TheGraphHasNoCycle) {
    const auto g = built_graph();
    std::map<std::string, int> state;  // 1 on the path, 2 done
    std::vector<std::string> path;
    std::function<void(const std::string&)> visit = [&](const std::string& m) {
        if (state[m] == 2) return;
        path.push_back(m);
        if (state[m] == 1) {
            std::string cycle;
            for (const auto& p : path) cycle += (cycle.empty() ? "" : " -> ") + p;
            ADD_FAILURE() << "module cycle: " << cycle;
            path.pop_back();
            return;
        }
        state[m] = 1;
        if (auto it = g.find(m); it != g.end())
            for (const auto& d : it->second) visit(d);
        state[m] = 2;
        path.pop_back();
    };
    for (const auto& [m, deps] : g) visit(m);
}

TEST(Layering, EveryIncludeFollowsTheModuleGraph) {
    const auto found = violations(tenex::test::source_dir() / "src", built_graph());
    for (const auto& v : found) ADD_FAILURE() << v;
    EXPECT_TRUE(found.empty())
        << found.size() << " include(s) outside the module graph: add the module to "
        << "DEPS in src/<module>/CMakeLists.txt (and the README table) or move the code";
}

// The check can fail: a planted include of a module that is not a dependency is reported with
// its file, line and edge; an allowed one and one of a non-module folder are not.
TEST(Layering, AnIncludeOutsideTheGraphIsReported) {
    tenex::test::TempDir dir;
    const auto src = dir.path() / "src";
    fs::create_directories(src / "docker" / "sub");
    fs::create_directories(src / "sandbox");
    fs::create_directories(src / "common");
    std::ofstream(src / "docker" / "client.cpp")
        << "#include \"docker/client.hpp\"\n#include \"common/result.hpp\"\n"
           "#include <nlohmann/json.hpp>\n";
    std::ofstream(src / "docker" / "sub" / "bad.hpp")
        << "// x\n#pragma once\n  #  include \"sandbox/policy.hpp\"\n";
    std::ofstream(src / "sandbox" / "spec.cpp") << "#include \"docker/client.hpp\"\n";
    const Graph g{{"common", {}}, {"docker", {"common"}}, {"sandbox", {"common", "docker"}}};
    const auto found = violations(src, g);
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(
        found[0].rfind("src/docker/sub/bad.hpp:3: docker -> sandbox is not in the module graph", 0),
        0u)
        << found[0];
    EXPECT_NE(found[0].find("docker may include: common"), std::string::npos) << found[0];

    fs::create_directories(src / "stray");
    EXPECT_EQ(violations(src, g).size(), 2u);
}

TEST(Layering, TheReadmeListsTheSameGraph) {
    const auto readme = readme_graph(tenex::test::source_dir() / "README.md");
    const auto built = built_graph();
    ASSERT_FALSE(readme.empty()) << "README.md has no <!-- module-graph --> table";
    for (const auto& [m, deps] : built) {
        auto it = readme.find(m);
        if (it == readme.end()) {
            ADD_FAILURE() << "README module graph has no row for " << m << " (" << join(deps)
                          << ")";
            continue;
        }
        EXPECT_EQ(it->second, deps)
            << "README row " << m << ": " << join(it->second) << "; CMake: " << join(deps);
    }
    for (const auto& [m, deps] : readme)
        EXPECT_TRUE(built.count(m))
            << "README module graph lists " << m << ", which is not a module";
}

}  // namespace
