// Real git servers on loopback for the clone tests: processes (git daemon, python CGI
// server for git http-backend) in their own process group, and in-process TCP servers that
// stall or forward a limited number of bytes then drop the connection.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace tenex::test {

std::uint16_t free_port();
bool wait_for_port(std::uint16_t port, int timeout_ms);
// Runs argv (no shell) in cwd; returns the exit code, output into *out if given.
int run(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
        std::string* out = nullptr);
bool tool_available(const std::string& name);

// A child process in its own process group, killed (the whole group) on destruction.
class Process {
  public:
    Process(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
            const std::filesystem::path& log);
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    bool running() const { return pid_ > 0; }

  private:
    pid_t pid_{-1};
};

// Accepts connections on 127.0.0.1 and either never answers (stall) or forwards to
// 127.0.0.1:upstream and cuts the connection after `limit` bytes from upstream (drop), or
// after them stops forwarding while keeping it open (stall_after), or forwards everything
// but only after `limit` milliseconds (slow_start: a slow server).
class TcpTrap {
  public:
    enum class Mode { stall, drop_after, stall_after, slow_start };
    TcpTrap(Mode mode, std::uint16_t upstream = 0, std::size_t limit = 0);
    ~TcpTrap();
    TcpTrap(const TcpTrap&) = delete;
    TcpTrap& operator=(const TcpTrap&) = delete;
    std::uint16_t port() const { return port_; }
    int connections() const { return connections_.load(); }

  private:
    void serve();
    void handle(int client);

    Mode mode_;
    std::uint16_t upstream_;
    std::size_t limit_;
    int listen_fd_{-1};
    std::uint16_t port_{0};
    std::atomic<bool> stop_{false};
    std::atomic<int> connections_{0};
    std::thread acceptor_;
    std::vector<std::thread> workers_;
};

}  // namespace tenex::test
