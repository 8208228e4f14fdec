// Node.js peers for the relay interop tests: processes started from tests/relay-peers.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "environment.hpp"

namespace tenex::relay::testing {

std::string peers_dir();
// node on PATH and `npm ci` done in tests/relay-peers (the packages the tests import).
bool relay_peers_available(std::string* why);

// A long-running node script; the first stdout line (e.g. its ws:// URL) is read at start.
// The destructor sends SIGTERM, then SIGKILL if it lingers.
class NodeProcess {
  public:
    static std::unique_ptr<NodeProcess> start(
        const std::string& script, const std::vector<std::string>& args,
        std::chrono::seconds timeout = std::chrono::seconds(20));
    ~NodeProcess();
    NodeProcess(const NodeProcess&) = delete;
    NodeProcess& operator=(const NodeProcess&) = delete;
    const std::string& first_line() const { return line_; }
    void kill();
    void signal(int sig);  // e.g. SIGSTOP / SIGCONT: the process keeps its sockets

  private:
    NodeProcess() = default;
    pid_t pid_{-1};
    int out_fd_{-1};
    std::string line_;
};

struct RunResult {
    int exit_code{-1};
    std::string out{};
};
// Runs a program to completion (stdout captured, stderr passed through).
RunResult run_program(const std::string& program, const std::vector<std::string>& args,
                      const std::string& cwd = {});
inline RunResult run_node(const std::string& script, const std::vector<std::string>& args) {
    std::vector<std::string> a{script};
    a.insert(a.end(), args.begin(), args.end());
    return run_program("node", a, peers_dir());
}
std::vector<std::string> lines(const std::string& text);

}  // namespace tenex::relay::testing

#define TENEX_REQUIRE_RELAY_PEERS()                                                           \
    do {                                                                                      \
        std::string why_;                                                                     \
        if (!::tenex::relay::testing::relay_peers_available(&why_)) {                         \
            if (::tenex::test::in_ci()) FAIL() << "relay peers are required in CI: " << why_; \
            GTEST_SKIP() << "relay peers not available: " << why_;                            \
        }                                                                                     \
    } while (0)
