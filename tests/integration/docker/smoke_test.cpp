// Proves the engine is up and that the project's own client speaks to it.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <memory>

#include "cli/doctor_checks.hpp"
#include "docker/client.hpp"
#include "environment.hpp"

namespace tenex::docker {
namespace {

std::string run(const std::string& cmd, int* status) {
    std::string out;
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
    std::array<char, 4096> buf{};
    while (pipe && fgets(buf.data(), buf.size(), pipe.get())) out += buf.data();
    *status = pclose(pipe.release());
    return out;
}

TEST(DockerSmoke, PingAndVersionThroughOwnClient) {
    TENEX_REQUIRE_DOCKER();
    auto client = Client::connect();
    ASSERT_TRUE(client) << client.error().describe();
    EXPECT_TRUE((*client)->ping().ok());
    const auto& engine = (*client)->engine();
    EXPECT_FALSE(engine.version.empty());
    EXPECT_GE((*client)->api_version(), kClientMinApi);
    EXPECT_LE((*client)->api_version(), engine.api);
    auto info = (*client)->call_json("GET", "/info", "info");
    ASSERT_TRUE(info) << info.error().describe();
    EXPECT_TRUE(info->contains("Containers"));
}

TEST(DockerSmoke, UnknownContainerIs404) {
    TENEX_REQUIRE_DOCKER();
    auto client = Client::connect();
    ASSERT_TRUE(client) << client.error().describe();
    auto r = (*client)->call_json("GET", "/containers/tenex-no-such-container-xyz/json",
                                  "inspect container");
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().not_found()) << r.error().describe();
    EXPECT_NE(r.error().message.find("No such container"), std::string::npos);
}

TEST(DockerSmoke, DoctorReportsTheApiVersionDockerReports) {
    TENEX_REQUIRE_DOCKER();
    int status = 0;
    std::string api = run("docker version --format '{{.Server.APIVersion}}' 2>/dev/null", &status);
    ASSERT_EQ(status, 0) << "docker CLI failed";
    while (!api.empty() && (api.back() == '\n' || api.back() == '\r')) api.pop_back();
    std::string out = run(test::tenex_binary().string() + " doctor --min-free-gib 0", &status);
    EXPECT_NE(out.find("ok    docker"), std::string::npos) << out;
    // doctor prints "(engine <min>..<max>)": the engine maximum is what `docker version` calls
    // the server API version, and the negotiated version equals it within our range.
    EXPECT_NE(out.find(".." + api + ")"), std::string::npos) << out << "\nexpected API " << api;
}

}  // namespace
}  // namespace tenex::docker
