#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "docker/client.hpp"

namespace tenex::docker {
namespace {

TEST(ApiVersion, ParsesAndOrders) {
    auto v = ApiVersion::parse("1.41");
    ASSERT_TRUE(v);
    EXPECT_EQ(v->major, 1);
    EXPECT_EQ(v->minor, 41);
    EXPECT_EQ(v->to_string(), "1.41");
    EXPECT_LT(*ApiVersion::parse("1.9"), *ApiVersion::parse("1.41"));
    for (const char* bad : {"", "1", "1.", ".4", "a.b", "1.41x", "1..2", "-1.3"})
        EXPECT_FALSE(ApiVersion::parse(bad)) << bad;
}

TEST(Negotiate, PicksLowerOfBothMaxima) {
    // Debian 12's docker.io 20.10: 1.41; engine 28: 1.50 (min 1.24); engine 29: min 1.44.
    EXPECT_EQ(negotiate({1, 41}, {1, 12})->to_string(), "1.41");
    EXPECT_EQ(negotiate({1, 50}, {1, 24})->to_string(), "1.50");
    EXPECT_EQ(negotiate({1, 52}, {1, 44})->to_string(), kClientMaxApi.to_string());
}

TEST(Negotiate, RefusesEnginesOutsideOurRange) {
    auto old = negotiate({1, 40}, {1, 12});
    ASSERT_FALSE(old);
    EXPECT_NE(old.error().message.find("upgrade Docker"), std::string::npos);
    auto future = negotiate({2, 10}, {2, 0});
    ASSERT_FALSE(future);
    EXPECT_NE(future.error().message.find("upgrade tenex-sandbox"), std::string::npos);
}

TEST(SocketPath, ExplicitThenDockerHostThenDefault) {
    ::unsetenv("DOCKER_HOST");
    EXPECT_EQ(*resolve_socket_path(""), "/var/run/docker.sock");
    EXPECT_EQ(*resolve_socket_path("unix:///tmp/x.sock"), "/tmp/x.sock");
    EXPECT_EQ(*resolve_socket_path("/tmp/y.sock"), "/tmp/y.sock");
    ::setenv("DOCKER_HOST", "unix:///run/other.sock", 1);
    EXPECT_EQ(*resolve_socket_path(""), "/run/other.sock");
    EXPECT_EQ(*resolve_socket_path("/tmp/y.sock"), "/tmp/y.sock");
    ::setenv("DOCKER_HOST", "tcp://10.0.0.1:2375", 1);
    auto tcp = resolve_socket_path("");
    ASSERT_FALSE(tcp);
    EXPECT_NE(tcp.error().message.find("only unix://"), std::string::npos);
    EXPECT_FALSE(resolve_socket_path("tcp://127.0.0.1:2375"));
    ::unsetenv("DOCKER_HOST");
}

TEST(HttpError, CarriesEngineMessageAndStatus) {
    HttpResponse r{
        .status = 409,
        .headers = {},
        .body = R"({"message":"Conflict. The container name \"/x\" is already in use"})"};
    auto e = http_error(r, "create container x");
    EXPECT_TRUE(e.conflict());
    EXPECT_FALSE(e.not_found());
    EXPECT_EQ(e.message, "Conflict. The container name \"/x\" is already in use");
    EXPECT_EQ(
        e.describe(),
        "create container x: HTTP 409: Conflict. The container name \"/x\" is already in use");
    auto plain = http_error({.status = 500, .headers = {}, .body = "boom\n"}, "op");
    EXPECT_TRUE(plain.server_error());
    EXPECT_EQ(plain.message, "boom");
}

TEST(Transport, DeadSocketIsAnErrorNotAHang) {
    Transport t("/nonexistent/docker.sock");
    auto r = t.send({.path = "/_ping", .timeout = std::chrono::seconds(2)}, "ping");
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().transport());
    EXPECT_NE(r.error().describe().find("/nonexistent/docker.sock"), std::string::npos);
}

// A unix socket that accepts and then either closes at once (an engine going away) or holds the
// connection without a word (an engine too slow to answer).
class SilentSocket {
  public:
    SilentSocket(std::filesystem::path path, bool close_at_once)
        : path_(std::move(path)), close_(close_at_once) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
        ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
              ::listen(fd_, 8) == 0;
        if (ok_)
            thread_ = std::thread([this] {
                std::vector<int> held;
                for (int c; (c = ::accept(fd_, nullptr, nullptr)) >= 0;) {
                    if (close_)
                        ::close(c);
                    else
                        held.push_back(c);
                }
                for (int c : held) ::close(c);
            });
    }
    ~SilentSocket() {
        ::shutdown(fd_, SHUT_RDWR);
        if (thread_.joinable()) thread_.join();
        ::close(fd_);
        std::filesystem::remove(path_);
    }
    bool ok() const { return ok_; }

  private:
    std::filesystem::path path_;
    bool close_;
    int fd_ = -1;
    bool ok_ = false;
    std::thread thread_;
};

// What the daemon uses to tell an engine that went away during a start from a failed start:
// refused and dropped connections count, a timeout does not, and a moved Transport counts on.
TEST(Transport, CountsConnectionsThatFoundNoEngineButNotTimeouts) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("tnx-transport-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const Request ping{.path = "/_ping", .timeout = std::chrono::milliseconds(300)};

    Transport dead((dir / "none.sock").string());
    EXPECT_EQ(dead.connection_failures(), 0u);
    EXPECT_FALSE(dead.send(ping, "ping"));
    EXPECT_EQ(dead.connection_failures(), 1u);
    Transport moved = std::move(dead);
    EXPECT_FALSE(moved.send(ping, "ping"));
    EXPECT_EQ(moved.connection_failures(), 2u);

    // The count after one ping to a socket that closes at once or that never answers.
    auto failures_at = [&](const std::string& name, bool close_at_once) -> std::uint64_t {
        SilentSocket socket(dir / name, close_at_once);
        EXPECT_TRUE(socket.ok());
        Transport t((dir / name).string());
        auto r = t.send(ping, "ping");
        EXPECT_FALSE(r);
        if (!r) {
            EXPECT_TRUE(r.error().transport()) << r.error().describe();
        }
        return t.connection_failures();
    };
    EXPECT_EQ(failures_at("drop.sock", true), 1u);
    EXPECT_EQ(failures_at("slow.sock", false), 0u);
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tenex::docker
