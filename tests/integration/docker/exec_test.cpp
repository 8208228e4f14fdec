// Execs with stdin against the real engine: attach_exec's hijacked connection carries the
// process's input and output (multiplexed without a tty, raw with one), closing the write side
// is EOF, resize reaches the tty, and the exit code is the process's.
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <string>
#include <thread>

#include "docker/containers.hpp"
#include "docker/exec.hpp"
#include "docker/logs.hpp"
#include "docker_fixture.hpp"

namespace tenex::docker::test {
namespace {

using namespace std::chrono_literals;

// Everything the attachment's connection delivers until `until` is in it or it closes.
std::string read_until(ExecAttachment& conn, const std::string& until, bool tty, std::string& raw,
                       std::chrono::milliseconds timeout = 10s) {
    std::string out;
    LogDemuxer demux([&](LogStream, std::string_view data) {
        out.append(data);
        return true;
    });
    auto feed = [&](std::string_view chunk) {
        raw.append(chunk);
        if (tty)
            out.append(chunk);
        else
            demux.feed(chunk);
    };
    feed(conn.take_early());
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (out.find(until) == std::string::npos && std::chrono::steady_clock::now() < end) {
        pollfd p{conn.fd(), POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        char buf[4096];
        ssize_t n = ::recv(conn.fd(), buf, sizeof buf, 0);
        if (n <= 0) break;
        feed(std::string_view(buf, static_cast<std::size_t>(n)));
    }
    return out;
}

void send_all(const ExecAttachment& conn, const std::string& text) {
    ASSERT_EQ(::send(conn.fd(), text.data(), text.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(text.size()));
}

std::optional<int> exit_code(const Client& client, const std::string& exec_id) {
    for (int i = 0; i < 50; ++i) {
        auto st = inspect_exec(client, exec_id);
        if (st && !st->running && st->exit_code) return st->exit_code;
        std::this_thread::sleep_for(100ms);
    }
    return std::nullopt;
}

TEST_F(DockerTest, AnAttachedExecGetsItsStdinAndGivesItsExitCode) {
    auto id = create(probe_spec("exec-stdin", {"sleep"}));
    ASSERT_TRUE(start_container(client(), id));
    auto exec = create_exec(
        client(), id,
        {.cmd = {"/tenex-probe", "lines"}, .user = {}, .tty = false, .attach_stdin = true});
    ASSERT_TRUE(exec) << exec.error().describe();
    auto conn = attach_exec(client(), *exec, false);
    ASSERT_TRUE(conn) << conn.error().describe();
    std::string raw;
    EXPECT_NE(read_until(*conn, "ready\n", false, raw).find("ready\n"), std::string::npos) << raw;
    send_all(*conn, "hello\n");
    EXPECT_NE(read_until(*conn, "got hello\n", false, raw).find("got hello\n"), std::string::npos)
        << raw;
    send_all(*conn, "exit 3\n");
    read_until(*conn, "<closed>", false, raw, 5s);
    EXPECT_EQ(exit_code(client(), *exec), std::optional<int>(3));

    // EOF: closing the write side ends the program's input; it exits 0.
    exec = create_exec(
        client(), id,
        {.cmd = {"/tenex-probe", "lines"}, .user = {}, .tty = false, .attach_stdin = true});
    ASSERT_TRUE(exec);
    conn = attach_exec(client(), *exec, false);
    ASSERT_TRUE(conn);
    send_all(*conn, "last\n");
    ::shutdown(conn->fd(), SHUT_WR);
    EXPECT_NE(read_until(*conn, "got last\n", false, raw).find("got last\n"), std::string::npos)
        << raw;
    EXPECT_EQ(exit_code(client(), *exec), std::optional<int>(0));
}

TEST_F(DockerTest, AnAttachedTtyExecIsOneRawStreamAndCanBeResized) {
    auto id = create(probe_spec("exec-tty", {"sleep"}));
    ASSERT_TRUE(start_container(client(), id));
    auto exec = create_exec(
        client(), id,
        {.cmd = {"/tenex-probe", "lines"}, .user = {}, .tty = true, .attach_stdin = true});
    ASSERT_TRUE(exec);
    auto conn = attach_exec(client(), *exec, true);
    ASSERT_TRUE(conn) << conn.error().describe();
    EXPECT_TRUE(resize_exec(client(), *exec, 40, 120));
    std::string raw;
    send_all(*conn, "typed\r");
    // The terminal echoes what was typed and turns "\n" into "\r\n".
    auto out = read_until(*conn, "got typed\r\n", true, raw);
    EXPECT_NE(out.find("typed"), std::string::npos) << raw;
    EXPECT_NE(out.find("got typed\r\n"), std::string::npos) << raw;
    send_all(*conn, "exit 5\r");
    read_until(*conn, "<closed>", true, raw, 5s);
    EXPECT_EQ(exit_code(client(), *exec), std::optional<int>(5));
    // An unknown exec cannot be attached.
    EXPECT_FALSE(attach_exec(client(), std::string(64, '0'), false));
}

}  // namespace
}  // namespace tenex::docker::test
