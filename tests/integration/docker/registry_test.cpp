// Push to and pull from a real registry: Debian's docker-registry (the distribution project's
// registry, which nobody here wrote) started on a loopback port for the test, and the real
// engine. The engine treats 127.0.0.0/8 as an insecure registry by default, so no engine
// configuration is needed. What an operator's cluster does with it: README, "Running on a
// cluster".
#include <gtest/gtest.h>
#include <httplib.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "docker/images.hpp"
#include "docker_fixture.hpp"
#include "environment.hpp"

extern char** environ;

namespace tenex::docker::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kRegistryBinary = "/usr/bin/docker-registry";

// docker-registry serving a temp directory on 127.0.0.1:<free port>.
class LocalRegistry {
  public:
    LocalRegistry() : port_(tenex::test::free_loopback_port()) {}
    ~LocalRegistry() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            waitpid(pid_, &status, 0);
        }
    }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    int port() const { return port_; }

    Status start() {
        std::ofstream(dir_.path() / "config.yml")
            << "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: "
            << (dir_.path() / "data").string()
            << "\n  delete:\n    enabled: true\nhttp:\n  addr: " << address() << "\n";
        std::string config = (dir_.path() / "config.yml").string(),
                    log = (dir_.path() / "registry.log").string();
        std::vector<std::string> args = {kRegistryBinary, "serve", config};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        int rc = posix_spawn(&pid_, kRegistryBinary, &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        if (rc != 0) {
            pid_ = -1;
            return make_error(std::string("cannot start ") + kRegistryBinary + ": " +
                              std::strerror(rc));
        }
        httplib::Client http("127.0.0.1", port_);
        for (auto deadline = std::chrono::steady_clock::now() + 30s;
             std::chrono::steady_clock::now() < deadline;) {
            if (auto r = http.Get("/v2/"); r && r->status == 200) return Unit{};
            std::this_thread::sleep_for(100ms);
        }
        std::ifstream in(log);
        std::stringstream text;
        text << in.rdbuf();
        return make_error("the registry did not answer /v2/ within 30 s: " + text.str());
    }

  private:
    tenex::test::TempDir dir_;
    int port_;
    pid_t pid_ = -1;
};

class RegistryTest : public DockerTest {
  protected:
    void SetUp() override {
        DockerTest::SetUp();
        if (HasFatalFailure() || IsSkipped()) return;
        if (access(kRegistryBinary, X_OK) != 0) {
            if (tenex::test::in_ci())
                FAIL() << kRegistryBinary << " is required in CI (scripts/setup installs it)";
            GTEST_SKIP() << kRegistryBinary << " not installed (Debian package docker-registry)";
        }
        auto started = registry_.start();
        ASSERT_TRUE(started) << started.error().message;
    }
    void TearDown() override {
        for (const auto& tag : tags_) (void)remove_image(client(), tag);
        DockerTest::TearDown();
    }
    LocalRegistry registry_;
    std::vector<std::string> tags_;
};

TEST_F(RegistryTest, PushedImageIsInTheRegistryAndPullsBackAsTheSameImage) {
    auto probe = inspect_image(client(), kProbeImage);
    ASSERT_TRUE(probe) << probe.error().describe();
    auto target = registry_reference(kProbeImage, registry_.address());
    ASSERT_TRUE(target) << target.error().message;
    ASSERT_EQ(*target, registry_.address() + "/tenex-probe:latest");
    ASSERT_TRUE(tag_image(client(), kProbeImage, *target));
    tags_.push_back(*target);

    std::vector<std::string> progress;
    auto digest = push_image(client(), *target,
                             {.on_output = [&](std::string_view l) { progress.emplace_back(l); }});
    ASSERT_TRUE(digest) << digest.error().describe();
    EXPECT_TRUE(digest->starts_with("sha256:")) << *digest;
    EXPECT_FALSE(progress.empty());

    // The registry's own API: the tag is listed and its manifest has the digest the push gave.
    httplib::Client http("127.0.0.1", registry_.port());
    auto tags = http.Get("/v2/tenex-probe/tags/list");
    ASSERT_TRUE(tags);
    ASSERT_EQ(tags->status, 200) << tags->body;
    EXPECT_EQ(nlohmann::json::parse(tags->body)["tags"], nlohmann::json::array({"latest"}));
    auto manifest = http.Head("/v2/tenex-probe/manifests/latest",
                              {{"Accept", "application/vnd.docker.distribution.manifest.v2+json"}});
    ASSERT_TRUE(manifest);
    ASSERT_EQ(manifest->status, 200);
    EXPECT_EQ(manifest->get_header_value("Docker-Content-Digest"), *digest);

    // Untag locally (the probe image stays under its own name), then pull it back.
    ASSERT_TRUE(remove_image(client(), *target));
    EXPECT_FALSE(inspect_image(client(), *target));
    auto pulled = pull_image(client(), *target);
    ASSERT_TRUE(pulled) << pulled.error().describe();
    EXPECT_EQ(*pulled, probe->id);
}

TEST_F(RegistryTest, PushFailuresAreErrorsThatSayWhy) {
    auto missing = push_image(client(), registry_.address() + "/tenex-no-such-image:latest");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().describe().find("tenex-no-such-image"), std::string::npos)
        << missing.error().describe();

    // A registry address nothing answers on: the engine reports it inside a 200 stream.
    auto nowhere = registry_reference(
        kProbeImage, "127.0.0.1:" + std::to_string(tenex::test::free_loopback_port()));
    ASSERT_TRUE(nowhere);
    ASSERT_TRUE(tag_image(client(), kProbeImage, *nowhere));
    tags_.push_back(*nowhere);
    auto refused = push_image(client(), *nowhere, {.timeout = 60s});
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().describe().find("connection refused"), std::string::npos)
        << refused.error().describe();

    EXPECT_FALSE(push_image(client(), "bad name"));
    EXPECT_FALSE(tag_image(client(), kProbeImage, "name@sha256:00"));
}

}  // namespace
}  // namespace tenex::docker::test
