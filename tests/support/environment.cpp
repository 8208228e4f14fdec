#include "environment.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <random>

#include "docker/transport.hpp"

namespace tenex::test {
namespace fs = std::filesystem;

bool in_ci() {
    const char* ci = std::getenv("CI");
    return ci && (std::string(ci) == "true" || std::string(ci) == "1");
}

fs::path source_dir() {
    return TENEX_SOURCE_DIR;
}
fs::path binary_dir() {
    return TENEX_BINARY_DIR;
}
fs::path shared_dir() {
    if (const char* env = std::getenv("TENEX_SHARED_DIR"); env && *env) return env;
    return TENEX_SHARED_DIR;
}
fs::path tenex_binary() {
    return binary_dir() / "bin" / "tenex-sandbox";
}

std::string docker_socket() {
    auto s = docker::resolve_socket_path("");
    return s ? *s : std::string(docker::kDefaultSocket);
}

bool docker_reachable(std::string* why) {
    docker::Transport t(docker_socket());
    auto r = t.send({.path = "/_ping", .timeout = std::chrono::seconds(5)}, "ping");
    if (!r) {
        if (why) *why = r.error().describe();
        return false;
    }
    if (r->status != 200) {
        if (why) *why = "/_ping answered HTTP " + std::to_string(r->status);
        return false;
    }
    return true;
}

bool node_available(std::string* why) {
    if (std::system("node --version > /dev/null 2>&1") != 0) {
        if (why) *why = "node is not on PATH (scripts/setup installs it)";
        return false;
    }
    if (!fs::exists(source_dir() / "tests" / "interop" / "node_modules")) {
        if (why) *why = "tests/interop/node_modules missing (run: npm ci --prefix tests/interop)";
        return false;
    }
    return true;
}

TempDir::TempDir() {
    std::random_device rd;
    for (int i = 0; i < 100; ++i) {
        auto p = fs::temp_directory_path() /
                 ("tenex-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
        std::error_code ec;
        if (fs::create_directory(p, ec)) {
            path_ = p;
            return;
        }
    }
    throw std::runtime_error("cannot create a temporary directory");
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

int free_loopback_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

}  // namespace tenex::test
