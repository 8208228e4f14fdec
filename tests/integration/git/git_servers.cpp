#include "git_servers.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>

namespace tenex::test {

namespace fs = std::filesystem;

namespace {

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
    std::vector<char*> out;
    for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
    out.push_back(nullptr);
    return out;
}

int listen_loopback(std::uint16_t* port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0) {
        ::close(fd);
        throw std::runtime_error("cannot listen on loopback");
    }
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    *port = ntohs(a.sin_port);
    return fd;
}

int connect_loopback(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

}  // namespace

std::uint16_t free_port() {
    std::uint16_t port = 0;
    ::close(listen_loopback(&port));
    return port;
}

bool wait_for_port(std::uint16_t port, int timeout_ms) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < end) {
        const int fd = connect_loopback(port);
        if (fd >= 0) {
            ::close(fd);
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

int run(const std::vector<std::string>& argv, const fs::path& cwd, std::string* out) {
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) return -1;
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(pipefd[1], 1);
        ::dup2(pipefd[1], 2);
        if (::chdir(cwd.c_str()) != 0) ::_exit(126);
        auto args = c_argv(argv);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    ::close(pipefd[1]);
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0)
        text.append(buf, static_cast<std::size_t>(n));
    ::close(pipefd[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (out) *out = text;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool tool_available(const std::string& name) {
    return run({"sh", "-c", "command -v " + name}, fs::current_path()) == 0;
}

Process::Process(const std::vector<std::string>& argv, const fs::path& cwd, const fs::path& log) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::setpgid(0, 0);
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
        }
        if (::chdir(cwd.c_str()) != 0) ::_exit(126);
        auto args = c_argv(argv);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    if (pid > 0) ::setpgid(pid, pid);
    pid_ = pid;
}

Process::~Process() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGTERM);
    for (int i = 0; i < 50; ++i) {
        if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
            ::kill(-pid_, SIGKILL);  // stragglers in the group
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
}

TcpTrap::TcpTrap(Mode mode, std::uint16_t upstream, std::size_t limit)
    : mode_(mode), upstream_(upstream), limit_(limit) {
    listen_fd_ = listen_loopback(&port_);
    acceptor_ = std::thread([this] { serve(); });
}

TcpTrap::~TcpTrap() {
    stop_ = true;
    acceptor_.join();
    for (auto& w : workers_) w.join();
    ::close(listen_fd_);
}

void TcpTrap::serve() {
    while (!stop_) {
        pollfd p{listen_fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) continue;
        ++connections_;
        workers_.emplace_back([this, client] { handle(client); });
    }
}

void TcpTrap::handle(int client) {
    int server = -1;
    if (mode_ != Mode::stall) server = connect_loopback(upstream_);
    std::size_t sent_down = 0;
    bool forwarding = true;
    const auto opened = std::chrono::steady_clock::now();
    char buf[16384];
    while (!stop_) {
        pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
        const int n = ::poll(p, server >= 0 ? 2 : 1, 50);
        if (n <= 0) continue;
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            const ssize_t r = ::recv(client, buf, sizeof buf, 0);
            if (r <= 0) break;
            if (server >= 0 && forwarding)
                ::send(server, buf, static_cast<std::size_t>(r), MSG_NOSIGNAL);
        }
        if (server >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            if (mode_ == Mode::slow_start) {
                if (std::chrono::steady_clock::now() - opened < std::chrono::milliseconds(limit_)) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(20));
                    continue;
                }
                const ssize_t r = ::recv(server, buf, sizeof buf, 0);
                if (r <= 0) break;
                ::send(client, buf, static_cast<std::size_t>(r), MSG_NOSIGNAL);
                continue;
            }
            if (!forwarding) {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
                continue;
            }
            const ssize_t r = ::recv(server, buf, sizeof buf, 0);
            if (r <= 0) break;
            std::size_t chunk = static_cast<std::size_t>(r);
            if (sent_down + chunk > limit_) chunk = limit_ - sent_down;
            if (chunk > 0) ::send(client, buf, chunk, MSG_NOSIGNAL);
            sent_down += chunk;
            if (sent_down >= limit_) {
                if (mode_ == Mode::drop_after) break;
                forwarding = false;  // stall_after: keep the connection open, send nothing more
            }
        }
    }
    if (server >= 0) ::close(server);
    ::shutdown(client, SHUT_RDWR);
    ::close(client);
}

}  // namespace tenex::test
