// The gateway's one-time downloads (Gateway::offer_file) fetched by the seed task's own code
// (images/forwarder/seed.cpp, in-process): a node-local workspace on a swarm is laid out
// from them (policies/SWARM.md, "Workspaces").
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "docker/tar_writer.hpp"
#include "gateway/server.hpp"
#include "upstream_fixture.hpp"

int seed_main(int argc, char** argv);

namespace tenex::gateway {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class SeedTest : public UpstreamRelayTest {
  protected:
    void SetUp() override {
        UpstreamRelayTest::SetUp();
        if (HasFatalFailure()) return;
        auto g = Gateway::start(GatewayOptions{}, pool);
        ASSERT_TRUE(g) << g.error().message;
        gw = std::move(*g);
        char tmpl[] = "/tmp/tenex-seed-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir = tmpl;
        fs::create_directories(dir / "src/.tenex");
        fs::create_directories(dir / "out");
        std::ofstream(dir / "src/README.md") << "the project\n";
        std::ofstream(dir / "src/.tenex/agents.json") << "{}";
        docker::TarWriter t;
        ASSERT_TRUE(t.add_tree(dir / "src", "0"));
        std::ofstream(dir / "seed.tar", std::ios::binary) << t.finish();
    }
    void TearDown() override {
        if (!dir.empty()) fs::remove_all(dir);
    }
    // The seed task's command line, run here: its exit status.
    int seed(const std::string& path) {
        const std::string owner = std::to_string(::getuid()) + ":" + std::to_string(::getgid());
        const std::string url = "http://127.0.0.1:" + std::to_string(gw->port()) + path;
        std::vector<std::string> args{"tenex-forwarder",     "seed", "--owner", owner, url,
                                      (dir / "out").string()};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        return seed_main(static_cast<int>(argv.size()), argv.data());
    }

    std::unique_ptr<Gateway> gw;
    fs::path dir;
};

TEST_F(SeedTest, AnOfferedArchiveIsServedOnceThenNotFound) {
    const std::string path = gw->offer_file(dir / "seed.tar", 60s);
    ASSERT_TRUE(path.starts_with("/seed/")) << path;
    EXPECT_EQ(path.size(), 6u + 64u);
    ASSERT_EQ(seed(path), 0);
    std::ifstream readme(dir / "out/0/README.md");
    std::string text((std::istreambuf_iterator<char>(readme)), {});
    EXPECT_EQ(text, "the project\n");
    EXPECT_TRUE(fs::exists(dir / "out/0/.tenex/agents.json"));
    // Once only: the same path again, a path never offered, and the prefix alone are 404.
    fs::remove_all(dir / "out/0");
    EXPECT_EQ(seed(path), 1);
    EXPECT_EQ(seed("/seed/" + std::string(64, '0')), 1);
    EXPECT_EQ(seed("/seed/"), 1);
    EXPECT_FALSE(fs::exists(dir / "out/0"));
}

TEST_F(SeedTest, ExpiredAndWithdrawnOffersAreNotServed) {
    const std::string expired = gw->offer_file(dir / "seed.tar", 0s);
    const std::string withdrawn = gw->offer_file(dir / "seed.tar", 60s);
    const std::string other = gw->offer_file(dir / "seed.tar", 60s);
    EXPECT_NE(withdrawn, other);
    gw->withdraw_file(withdrawn);
    EXPECT_EQ(seed(expired), 1);
    EXPECT_EQ(seed(withdrawn), 1);
    EXPECT_FALSE(fs::exists(dir / "out/0"));
    EXPECT_EQ(seed(other), 0);  // the others' withdrawal left it alone
    EXPECT_TRUE(fs::exists(dir / "out/0/README.md"));
}

TEST_F(SeedTest, AMissingFileIsAnErrorForTheSeedNotForTheGateway) {
    const std::string path = gw->offer_file(dir / "gone.tar", 60s);
    EXPECT_EQ(seed(path), 1);
    // The gateway goes on serving.
    const std::string good = gw->offer_file(dir / "seed.tar", 60s);
    EXPECT_EQ(seed(good), 0);
}

}  // namespace
}  // namespace tenex::gateway
