// What tests need from their environment. Outside CI a missing service skips the test with
// a reason; with CI=true it fails: CI must never pass by skipping.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace tenex::test {

bool in_ci();                             // CI=true (or 1) in the environment
std::filesystem::path source_dir();       // the repository
std::filesystem::path shared_dir();       // ../shared: PROTOCOL.md, vectors/
std::filesystem::path binary_dir();       // the build tree
std::filesystem::path tenex_binary();     // build/bin/tenex-sandbox
std::string docker_socket();              // DOCKER_HOST or /var/run/docker.sock
bool docker_reachable(std::string* why);  // GET /_ping answered 200
bool node_available(std::string* why);    // node + the interop packages installed
int free_loopback_port();  // a 127.0.0.1 TCP port nobody listens on (bound, released)

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

}  // namespace tenex::test

// Use at the top of a test (or SetUp) that needs the engine.
#define TENEX_REQUIRE_DOCKER()                                                          \
    do {                                                                                \
        std::string why_;                                                               \
        if (!::tenex::test::docker_reachable(&why_)) {                                  \
            if (::tenex::test::in_ci()) FAIL() << "Docker is required in CI: " << why_; \
            GTEST_SKIP() << "Docker not reachable: " << why_;                           \
        }                                                                               \
    } while (0)

#define TENEX_REQUIRE_NODE()                                                             \
    do {                                                                                 \
        std::string why_;                                                                \
        if (!::tenex::test::node_available(&why_)) {                                     \
            if (::tenex::test::in_ci()) FAIL() << "Node.js is required in CI: " << why_; \
            GTEST_SKIP() << "Node.js not available: " << why_;                           \
        }                                                                                \
    } while (0)
