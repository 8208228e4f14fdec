#include "daemon/http_api.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <httplib.h>

#include <fstream>

#include "docker/transport.hpp"
#include "docker/url.hpp"
#include "environment.hpp"
#include "http_fake.hpp"

namespace tenex::daemon::test {

std::string raw_request(int port, const std::string& bytes) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return {};
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{3, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string out;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        (void)!::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        ::shutdown(fd, SHUT_WR);
        char buf[4096];
        ssize_t n;
        while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0)
            out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

namespace {

using json = nlohmann::json;

class HttpApiTest : public ::testing::Test {
  protected:
    void SetUp() override {
        api_ = std::make_unique<HttpApi>(control_, metrics_, HttpOptions{.listen = "127.0.0.1:0"});
        auto st = api_->start();
        ASSERT_TRUE(st) << st.error().message;
        ASSERT_GT(api_->port(), 0);
    }
    httplib::Client client() {
        httplib::Client c("127.0.0.1", api_->port());
        c.set_read_timeout(10, 0);
        return c;
    }
    // A POST as `tenex-sandbox stop` sends it (with the action header).
    httplib::Result post(const std::string& path) {
        return client().Post(path.c_str(), httplib::Headers{{kActionHeader, "1"}}, "", "");
    }
    std::string addr(const std::string& owner, const std::string& d) {
        return "/projects/" + docker::url_encode("31933:" + owner + ":" + d);
    }
    void expect_alive() {
        auto r = client().Get("/healthz");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200);
    }
    static void expect_json_error(const httplib::Result& r, int status) {
        ASSERT_TRUE(r) << httplib::to_string(r.error());
        EXPECT_EQ(r->status, status) << r->body;
        auto j = json::parse(r->body, nullptr, false);
        ASSERT_TRUE(j.is_object()) << r->body;
        EXPECT_TRUE(j["error"].is_string()) << r->body;
        EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
    }

    FakeControl control_;
    Metrics metrics_;
    std::unique_ptr<HttpApi> api_;
};

TEST_F(HttpApiTest, HealthzOkAndUnhealthy) {
    auto r = client().Get("/healthz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    auto j = json::parse(r->body);
    EXPECT_EQ(j["ok"], true);
    EXPECT_EQ(j["relays_connected"], 1);

    control_.set_health({false, {{"reasons", {"docker unreachable"}}}});
    r = client().Get("/healthz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    j = json::parse(r->body);
    EXPECT_EQ(j["ok"], false);
    EXPECT_EQ(j["reasons"][0], "docker unreachable");
    EXPECT_EQ(post("/healthz")->status, 405);
}

TEST_F(HttpApiTest, MetricsInPrometheusTextFormat) {
    metrics_.event_rejected("invalid");
    auto r = client().Get("/metrics");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_NE(r->body.find("tenex_events_rejected_total{reason=\"invalid\"} 1"), std::string::npos);
}

TEST_F(HttpApiTest, ProjectsListsEveryProjectWithStableFields) {
    auto r = client().Get("/projects");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    auto j = json::parse(r->body);
    ASSERT_TRUE(j.is_array());
    ASSERT_EQ(j.size(), 3u);
    auto& p = j[0];
    EXPECT_EQ(p["address"], "31933:" + kOwnerA + ":alpha");
    EXPECT_EQ(p["owner"], kOwnerA);
    EXPECT_EQ(p["d"], "alpha");
    EXPECT_EQ(p["title"], "Project alpha");
    EXPECT_EQ(p["state"], "running");
    EXPECT_EQ(p["container_id"], "0123456789abcdef0123456789abcdef");
    EXPECT_EQ(p["restarts"], 2);
    EXPECT_EQ(p["network_mode"], "egress");
    EXPECT_EQ(p["policy"], "default.yaml+networked.yaml");
    EXPECT_EQ(p["usage"]["memory_limit"], 512 * 1024 * 1024);
    EXPECT_EQ(p["usage"]["cpu_percent"], 12.5);
    EXPECT_EQ(p["limits"]["memory"], 512 * 1024 * 1024);
    EXPECT_EQ(p["limits"]["cpus"], 0.5);
    EXPECT_EQ(p["limits"]["pids"], 64);
    EXPECT_TRUE(p["last_exit_code"].is_null());
    // started 2020-01-01: uptime is years
    ASSERT_TRUE(p["uptime_seconds"].is_number_integer());
    EXPECT_GT(p["uptime_seconds"].get<std::int64_t>(), 3 * 365 * 86400);
}

TEST_F(HttpApiTest, ToJsonRoundTripsAndUptimeOnlyWhileRunning) {
    auto v = make_view(kOwnerA, "x", sandbox::ProjectState::crash_looping);
    v.status.last_exit_code = 137;
    v.status.last_exit_reason = sandbox::ExitReason::oom;
    auto j = to_json(v);
    EXPECT_TRUE(j["uptime_seconds"].is_null());
    EXPECT_EQ(j["state"], "crash-looping");
    EXPECT_EQ(j["last_exit_reason"], "oom");
    auto back = project_view_from_json(j);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->status.project, v.status.project);
    EXPECT_EQ(back->status.state, v.status.state);
    EXPECT_EQ(back->status.last_exit_code, 137);
    EXPECT_EQ(back->status.last_exit_reason, sandbox::ExitReason::oom);
    EXPECT_EQ(back->status.usage->memory_used, v.status.usage->memory_used);
    EXPECT_EQ(back->policy, v.policy);
    EXPECT_EQ(back->limits.memory_bytes, v.limits.memory_bytes);
    EXPECT_EQ(back->limits.cpus, v.limits.cpus);
    EXPECT_EQ(back->limits.pids, v.limits.pids);
    EXPECT_EQ(back->title, v.title);
    v.status.started_at = "0001-01-01T00:00:00Z";
    v.status.state = sandbox::ProjectState::running;
    EXPECT_TRUE(to_json(v)["uptime_seconds"].is_null());
    // A paused project, and a stopped one with its container kept: their lifecycle fields.
    v.status.state = sandbox::ProjectState::paused;
    v.status.last_wake = "unpause";
    v.status.next_transition = "stop";
    v.status.next_transition_unix_ms = 1'800'000'000'000;
    auto paused = to_json(v);
    EXPECT_EQ(paused["state"], "paused");
    EXPECT_EQ(paused["next_transition"], "stop");
    auto paused_back = project_view_from_json(paused);
    ASSERT_TRUE(paused_back) << paused_back.error().message;
    EXPECT_EQ(paused_back->status.state, sandbox::ProjectState::paused);
    EXPECT_EQ(paused_back->status.last_wake, "unpause");
    EXPECT_EQ(paused_back->status.next_transition_unix_ms, 1'800'000'000'000);
    v.status.state = sandbox::ProjectState::stopped;
    v.status.kept = true;
    v.status.next_transition.clear();
    auto kept = to_json(v);
    EXPECT_TRUE(kept["kept"].get<bool>());
    EXPECT_TRUE(kept["next_transition"].is_null());
    EXPECT_TRUE(project_view_from_json(kept)->status.kept);
    EXPECT_FALSE(project_view_from_json(json{{"restarts", "many"}}));
    EXPECT_FALSE(project_view_from_json(json{{"state", "exploded"}}));
    EXPECT_FALSE(project_view_from_json(json::array()));
}

TEST_F(HttpApiTest, OneProjectByAddressOrUniqueD) {
    auto r = client().Get(addr(kOwnerA, "alpha"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(json::parse(r->body)["d"], "alpha");
    r = client().Get("/projects/alpha");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(json::parse(r->body)["address"], "31933:" + kOwnerA + ":alpha");
    // Upper-case owner hex is the same project.
    std::string upper(64, 'A');
    EXPECT_EQ(client().Get(addr(upper, "alpha"))->status, 200);
}

TEST_F(HttpApiTest, UnknownAmbiguousAndBadProjects) {
    expect_json_error(client().Get("/projects/nope"), 404);
    expect_json_error(client().Get(addr(kOwnerB, "alpha")), 404);
    expect_json_error(client().Get("/projects/shared"), 409);
    expect_json_error(client().Get("/projects/" + docker::url_encode("31933:zz:d")), 400);
    expect_json_error(client().Get("/projects/%ZZ"), 400);
    expect_json_error(client().Get("/projects/abc%4"), 400);
    expect_json_error(client().Get("/projects/a%00b"), 400);
    expect_json_error(client().Get("/projects/a%0Ab"), 400);
    expect_json_error(post("/projects/nope/stop"), 404);
    expect_json_error(client().Get("/projects/nope/logs"), 404);
    expect_json_error(client().Get("/nothing"), 404);
    expect_json_error(client().Get("/projects/alpha/explode"), 404);
    expect_json_error(client().Get("/projects/alpha/logs/more"), 404);
    EXPECT_TRUE(control_.recorded().empty());  // nothing reached the control plane
}

TEST_F(HttpApiTest, StopRestartAndForgetCallTheControlPlaneWithTheFullAddress) {
    auto r = post("/projects/alpha/stop");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(json::parse(r->body)["state"], "stopped");
    r = post(addr(kOwnerB, "shared") + "/restart");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(json::parse(r->body)["state"], "running");
    auto calls = control_.recorded();
    ASSERT_EQ(calls.size(), 2u);
    EXPECT_EQ(calls[0], "stop 31933:" + kOwnerA + ":alpha");
    EXPECT_EQ(calls[1], "restart 31933:" + kOwnerB + ":shared");
    r = post("/projects/alpha/forget");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(json::parse(r->body)["state"], "stopped");
    ASSERT_EQ(control_.recorded().size(), 3u);
    EXPECT_EQ(control_.recorded()[2], "forget 31933:" + kOwnerA + ":alpha");
    EXPECT_EQ(client().Get("/projects/alpha/stop")->status, 405);
    EXPECT_EQ(client().Get("/projects/alpha/forget")->status, 405);
    EXPECT_EQ(post("/projects/alpha/logs")->status, 405);
    EXPECT_EQ(control_.recorded().size(), 3u);
    control_.fail_actions = true;
    r = post("/projects/alpha/restart");
    expect_json_error(r, 500);
    EXPECT_NE(r->body.find("the engine said no"), std::string::npos);
}

// A web page in the operator's browser: a cross-site form POST (no preflight), a fetch that
// carries Origin, and DNS rebinding (a name of the attacker's that now points to 127.0.0.1).
// None reaches the control plane or reads anything; the daemon's own clients still work.
TEST_F(HttpApiTest, RequestsOnlyABrowserWouldSendAreRefused) {
    const std::string port = std::to_string(api_->port());
    auto with = [&](httplib::Headers h) {
        auto r = client().Get("/projects", h);
        return r ? r->status : 0;
    };
    EXPECT_EQ(with({{"Origin", "https://evil.example"}}), 403);
    EXPECT_EQ(with({{"Origin", "null"}}), 403);
    EXPECT_EQ(with({{"Host", "rebind.evil.example:" + port}}), 421);
    EXPECT_EQ(with({{"Host", "127.0.0.1:1"}}), 421);
    EXPECT_EQ(with({{"Host", "localhost:" + port}}), 200);
    EXPECT_EQ(with({{"Host", "[::1]:" + port}}), 200);
    EXPECT_EQ(with({{"Host", "127.0.0.1:" + port}}), 200);
    // A form POST: no action header, with or without Origin.
    expect_json_error(client().Post("/projects/alpha/stop"), 403);
    expect_json_error(client().Post("/projects/alpha/stop",
                                    httplib::Headers{{"Origin", "https://evil.example"}}, "", ""),
                      403);
    auto cross = client().Post(
        "/projects/alpha/stop",
        httplib::Headers{{kActionHeader, "1"}, {"Origin", "https://evil.example"}}, "", "");
    expect_json_error(cross, 403);
    expect_json_error(
        client().Post("/projects/alpha/stop", "", "application/x-www-form-urlencoded"), 403);
    EXPECT_TRUE(control_.recorded().empty());
    auto ok = post("/projects/alpha/stop");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200) << ok->body;
}

TEST_F(HttpApiTest, HostilePathsAndQueriesNeverCrash) {
    std::string big(10 * 1024, 'x');
    auto r = client().Get("/projects/" + big);
    ASSERT_TRUE(r);
    EXPECT_GE(r->status, 400);
    r = client().Get("/projects/alpha/logs?tail=" + big);
    ASSERT_TRUE(r);
    EXPECT_GE(r->status, 400);
    expect_json_error(client().Get("/projects/alpha/logs?tail=-5"), 400);
    expect_json_error(client().Get("/projects/alpha/logs?tail=abc"), 400);
    expect_json_error(client().Get("/projects/alpha/logs?tail=99999999999999999999"), 400);
    expect_json_error(client().Get("/projects/alpha/logs?follow=maybe"), 400);
    expect_json_error(client().Get("/projects/%2e%2e%2f%2e%2e%2fetc%2fpasswd"), 404);
    expect_json_error(client().Get("/projects/" + docker::url_encode(std::string(2000, '\xff'))),
                      404);
    // Raw bytes httplib's client would not send: NUL, no version, garbage, a huge header.
    for (std::string raw :
         {std::string("GET /projects/a\0b HTTP/1.1\r\nHost: x\r\n\r\n", 40),
          std::string("GET /projects\r\n\r\n"), std::string("\x16\x03\x01garbage\r\n\r\n"),
          std::string("GET / HTTP/1.1\r\nX: ") + std::string(20000, 'y') + "\r\n\r\n",
          std::string("POST /projects/alpha/stop HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n"),
          std::string("GET /projects/alpha/logs?tail=%00&follow=%ff HTTP/1.1\r\n\r\n")}) {
        (void)raw_request(api_->port(), raw);
        expect_alive();
    }
    EXPECT_TRUE(control_.recorded().empty());
}

TEST_F(HttpApiTest, LogsWithoutFollow) {
    auto r = client().Get("/projects/alpha/logs?tail=10");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    EXPECT_EQ(r->body, control_.log_text);
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; charset=utf-8");
    auto calls = control_.recorded();
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0], "logs 31933:" + kOwnerA + ":alpha f=0 tail=10");
}

TEST_F(HttpApiTest, LogsFollowStreamsUntilTheContainerEnds) {
    control_.follow_max_lines = 5;
    std::vector<std::size_t> chunk_sizes;
    std::string body;
    auto r = client().Get("/projects/alpha/logs?follow=1", [&](const char* d, std::size_t n) {
        body.append(d, n);
        chunk_sizes.push_back(n);
        return true;
    });
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(body, control_.log_text + "follow 0\nfollow 1\nfollow 2\nfollow 3\nfollow 4\n");
    EXPECT_GE(chunk_sizes.size(), 6u);  // streamed, not buffered
    EXPECT_EQ(r->get_header_value("Transfer-Encoding"), "chunked");
}

TEST_F(HttpApiTest, LogsFollowEndsWhenTheClientDisconnects) {
    std::string body;
    auto r = client().Get("/projects/alpha/logs?follow=1", [&](const char* d, std::size_t n) {
        body.append(d, n);
        return body.find("follow 2\n") == std::string::npos;  // then hang up
    });
    EXPECT_FALSE(r);  // canceled by us
    ASSERT_TRUE(wait_for([&] { return control_.logs_finished.load() == 1; }))
        << "the follower kept running after the client left";
    EXPECT_LT(control_.follow_lines.load(), 50);
    expect_alive();
}

// Followers of a container that writes nothing: capped at half the API's threads (8 of 16),
// so other requests are answered while they follow, and the ones whose client went away are
// ended within a moment, not at the container's next line.
TEST_F(HttpApiTest, QuietFollowersAreCappedAndEndWhenTheirClientLeaves) {
    control_.quiet_follow = true;
    const std::string request = "GET /projects/alpha/logs?follow=1 HTTP/1.1\r\nHost: 127.0.0.1:" +
                                std::to_string(api_->port()) + "\r\n\r\n";
    std::vector<int> followers;
    for (int i = 0; i < 8; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<std::uint16_t>(api_->port()));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(request.size()));
        followers.push_back(fd);
    }
    ASSERT_TRUE(wait_for([&] { return control_.logs_running.load() == 8; }));
    auto t0 = std::chrono::steady_clock::now();
    auto health = client().Get("/healthz");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
    auto ninth = client().Get("/projects/alpha/logs?follow=1");
    ASSERT_TRUE(ninth);
    EXPECT_EQ(ninth->status, 503) << ninth->body;
    // The clients go away: every follower ends within a second, the container silent.
    for (int fd : followers) ::close(fd);
    t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(wait_for([&] { return control_.logs_running.load() == 0; }));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
    // Room again.
    control_.quiet_follow = false;
    control_.follow_max_lines = 1;
    auto again = client().Get("/projects/alpha/logs?follow=1");
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 200);
}

TEST_F(HttpApiTest, StopEndsFollowingStreams) {
    std::atomic<bool> got{false};
    std::thread reader([&] {
        client().Get("/projects/alpha/logs?follow=1", [&](const char*, std::size_t) {
            got = true;
            return true;
        });
    });
    ASSERT_TRUE(wait_for([&] { return got.load(); }));
    auto t0 = std::chrono::steady_clock::now();
    api_->stop();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
    EXPECT_EQ(control_.logs_running.load(), 0);
    reader.join();
    EXPECT_FALSE(client().Get("/healthz"));  // nobody listens any more
}

// Slow clients: each connection must send its whole request within request_timeout, and until
// it has, it holds no worker thread. Twice as many clients as threads trickle a request head
// one byte at a time (each byte well within any per-read timeout): /healthz is still answered
// at once, and each slow client is closed with 408 at its deadline.
class SlowClientsTest : public ::testing::Test {
  protected:
    void start(HttpOptions options) {
        api_ = std::make_unique<HttpApi>(control_, metrics_, std::move(options));
        auto st = api_->start();
        ASSERT_TRUE(st) << st.error().message;
    }
    static int connect_tcp(int port) {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<std::uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            ::close(fd);
            return -1;
        }
        return fd;
    }
    static int connect_unix(const std::string& path) {
        int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            ::close(fd);
            return -1;
        }
        return fd;
    }
    // Sends the next byte of a request head that never ends to every client, every 200 ms,
    // until stopped.
    void trickle(const std::vector<int>& fds) {
        trickler_ = std::jthread([fds](std::stop_token stop) {
            const std::string head =
                "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + std::string(1000, 'a');
            for (std::size_t i = 0; i < head.size() && !stop.stop_requested(); ++i) {
                for (int fd : fds) (void)!::send(fd, &head[i], 1, MSG_NOSIGNAL | MSG_DONTWAIT);
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
            }
        });
    }
    // What the server sent until it closed (or 5 s passed).
    static std::string read_until_closed(int fd) {
        timeval tv{5, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        std::string out;
        char buf[4096];
        ssize_t n;
        while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0)
            out.append(buf, static_cast<std::size_t>(n));
        return n == 0 ? out : out + "<not closed>";
    }

    FakeControl control_;
    Metrics metrics_;
    std::unique_ptr<HttpApi> api_;
    std::jthread trickler_;
};

TEST_F(SlowClientsTest, TwiceThreadsSlowClientsDoNotBlockTheApiAndAreClosedAtTheirDeadline) {
    start(HttpOptions{
        .listen = "127.0.0.1:0", .threads = 4, .request_timeout = std::chrono::seconds(3)});
    std::vector<int> slow;
    for (int i = 0; i < 8; ++i) {
        slow.push_back(connect_tcp(api_->port()));
        ASSERT_GE(slow.back(), 0);
    }
    const auto connected = std::chrono::steady_clock::now();
    trickle(slow);
    httplib::Client c("127.0.0.1", api_->port());
    c.set_read_timeout(10, 0);
    for (int i = 0; i < 4; ++i) {  // over 2 s of trickling
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        const auto t0 = std::chrono::steady_clock::now();
        auto r = c.Get("/healthz");
        ASSERT_TRUE(r) << httplib::to_string(r.error());
        EXPECT_EQ(r->status, 200);
        EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
    }
    // Still trickling, but past the deadline: closed with 408, none much later than it.
    for (int fd : slow) {
        const std::string got = read_until_closed(fd);
        EXPECT_EQ(got.rfind("HTTP/1.1 408 ", 0), 0u) << got;
        ::close(fd);
    }
    const auto took = std::chrono::steady_clock::now() - connected;
    EXPECT_GE(took, std::chrono::milliseconds(2900));
    EXPECT_LT(took, std::chrono::milliseconds(5500));  // the deadline, not the trickle's end
}

TEST_F(SlowClientsTest, OnAUnixSocketToo) {
    const std::string path =
        testing::TempDir() + "tenex-http-slow-" + std::to_string(::getpid()) + ".sock";
    start(HttpOptions{
        .listen = "unix:" + path, .threads = 2, .request_timeout = std::chrono::seconds(2)});
    std::vector<int> slow;
    for (int i = 0; i < 6; ++i) {
        slow.push_back(connect_unix(path));
        ASSERT_GE(slow.back(), 0);
    }
    trickle(slow);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    httplib::Client c(path);
    c.set_address_family(AF_UNIX);
    c.set_read_timeout(10, 0);
    const auto t0 = std::chrono::steady_clock::now();
    auto r = c.Get("/healthz");
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 200);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
    for (int fd : slow) {
        const std::string got = read_until_closed(fd);
        EXPECT_EQ(got.rfind("HTTP/1.1 408 ", 0), 0u) << got;
        ::close(fd);
    }
}

// Idle connections that send nothing are closed at the deadline too (without an answer), and
// past the cap of connections still sending, the oldest make room: a new client is answered.
TEST_F(SlowClientsTest, IdleConnectionsAreCappedOldestFirst) {
    start(HttpOptions{.listen = "127.0.0.1:0",
                      .threads = 2,
                      .request_timeout = std::chrono::seconds(30),
                      .max_pending = 10,
                      .max_pending_per_peer = 10});
    std::vector<int> idle;
    for (int i = 0; i < 20; ++i) {
        idle.push_back(connect_tcp(api_->port()));
        ASSERT_GE(idle.back(), 0);
    }
    httplib::Client c("127.0.0.1", api_->port());
    c.set_read_timeout(10, 0);
    const auto t0 = std::chrono::steady_clock::now();
    auto r = c.Get("/healthz");
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 200);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
    // The first ones were closed to make room (they sent nothing, so no answer), long before
    // their 30 s deadline.
    for (int i = 0; i < 5; ++i) EXPECT_EQ(read_until_closed(idle[i]), "") << i;
    for (int fd : idle) ::close(fd);
}

// The front reads whole requests before a worker sees them: a body arrives with it, bodies
// need Content-Length, and one over the API's 64 KiB limit is refused. One request per
// connection, answered with Connection: close.
TEST_F(SlowClientsTest, BodiesAndFramingAtTheFront) {
    start(HttpOptions{.listen = "127.0.0.1:0"});
    const std::string host = "Host: 127.0.0.1:" + std::to_string(api_->port()) + "\r\n";
    auto stop = raw_request(api_->port(), "POST /projects/alpha/stop HTTP/1.1\r\n" + host +
                                              kActionHeader + ": 1\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(stop.rfind("HTTP/1.1 200 ", 0), 0u) << stop;
    EXPECT_NE(stop.find("Connection: close"), std::string::npos) << stop;
    // The API takes no bodies: this one reached it whole (and was refused there).
    auto body =
        raw_request(api_->port(), "POST /projects/alpha/stop HTTP/1.1\r\n" + host + kActionHeader +
                                      ": 1\r\nContent-Length: 5\r\n\r\nhello");
    EXPECT_EQ(body.rfind("HTTP/1.1 400 ", 0), 0u) << body;
    EXPECT_NE(body.find("no request body expected"), std::string::npos) << body;
    auto chunked =
        raw_request(api_->port(), "POST /projects/alpha/stop HTTP/1.1\r\n" + host +
                                      "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    EXPECT_EQ(chunked.rfind("HTTP/1.1 411 ", 0), 0u) << chunked;
    auto big = raw_request(api_->port(), "POST /projects/alpha/stop HTTP/1.1\r\n" + host +
                                             "Content-Length: 65537\r\n\r\n");
    EXPECT_EQ(big.rfind("HTTP/1.1 413 ", 0), 0u) << big;
    auto two = raw_request(api_->port(), "GET /healthz HTTP/1.1\r\n" + host +
                                             "\r\nGET /healthz HTTP/1.1\r\n" + host + "\r\n");
    EXPECT_EQ(two.rfind("HTTP/1.1 200 ", 0), 0u) << two;
    EXPECT_EQ(two.find("HTTP/1.1", 1), std::string::npos) << two;
    auto cut = raw_request(api_->port(), "GET /healthz HTTP/1.1\r\n" + host);  // then EOF
    EXPECT_EQ(cut.rfind("HTTP/1.1 400 ", 0), 0u) << cut;
}

TEST(HttpApiListen, NonLoopbackRefusedUnlessAllowed) {
    FakeControl control;
    Metrics metrics;
    HttpApi refused(control, metrics, HttpOptions{.listen = "0.0.0.0:0"});
    auto st = refused.start();
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().message.find("loopback"), std::string::npos) << st.error().message;
    HttpApi allowed(control, metrics,
                    HttpOptions{.listen = "0.0.0.0:0", .allow_non_loopback = true});
    auto ok = allowed.start();
    ASSERT_TRUE(ok) << ok.error().message;
    EXPECT_GT(allowed.port(), 0);
}

TEST(HttpApiListen, ClearErrorsForBadOrTakenAddresses) {
    FakeControl control;
    Metrics metrics;
    HttpApi first(control, metrics, HttpOptions{.listen = "127.0.0.1:0"});
    ASSERT_TRUE(first.start());
    std::string taken = "127.0.0.1:" + std::to_string(first.port());
    HttpApi second(control, metrics, HttpOptions{.listen = taken});
    auto st = second.start();
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().message.find("in use"), std::string::npos) << st.error().message;
    EXPECT_NE(st.error().message.find(taken), std::string::npos) << st.error().message;
    HttpApi bad(control, metrics, HttpOptions{.listen = "nonsense"});
    st = bad.start();
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().message.find("nonsense"), std::string::npos);
}

TEST(HttpApiListen, UnixSocketIsPrivateAndRemovedOnStop) {
    tenex::test::TempDir dir;
    auto path = (dir.path() / "api.sock").string();
    FakeControl control;
    Metrics metrics;
    {
        HttpApi api(control, metrics, HttpOptions{.listen = "unix:" + path});
        auto st = api.start();
        ASSERT_TRUE(st) << st.error().message;
        EXPECT_EQ(api.port(), 0);
        struct stat s {};
        ASSERT_EQ(::stat(path.c_str(), &s), 0);
        EXPECT_TRUE(S_ISSOCK(s.st_mode));
        EXPECT_EQ(s.st_mode & 0777, 0600u);
        docker::Transport t(path);
        auto r = t.send(docker::Request{.method = "GET", .path = "/projects/alpha"}, "test");
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(json::parse(r->body)["d"], "alpha");
        // A second server on the same live socket is refused.
        HttpApi second(control, metrics, HttpOptions{.listen = "unix:" + path});
        auto st2 = second.start();
        ASSERT_FALSE(st2);
        EXPECT_NE(st2.error().message.find("already listening"), std::string::npos);
        api.stop();
        EXPECT_FALSE(std::filesystem::exists(path));
    }
    // A regular file in the way is not deleted.
    { std::ofstream(path) << "precious"; }
    HttpApi api(control, metrics, HttpOptions{.listen = "unix:" + path});
    auto st = api.start();
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().message.find("not a socket"), std::string::npos);
    std::ifstream in(path);
    std::string content;
    in >> content;
    EXPECT_EQ(content, "precious");
}

TEST(HttpApiListen, StaleUnixSocketIsReplaced) {
    tenex::test::TempDir dir;
    auto path = (dir.path() / "api.sock").string();
    // A bound socket whose server is gone.
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
    FakeControl control;
    Metrics metrics;
    HttpApi api(control, metrics, HttpOptions{.listen = "unix:" + path});
    auto st = api.start();
    ASSERT_TRUE(st) << st.error().message;
    docker::Transport t(path);
    auto r = t.send(docker::Request{.method = "GET", .path = "/healthz"}, "test");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200);
}

}  // namespace
}  // namespace tenex::daemon::test
