// A unix-socket proxy in front of the Docker engine, for tests that need the engine to "go
// away" for one client only (the shared engine is never restarted): every connection is
// forwarded byte for byte to the engine's socket; cut() ends the open connections (the client
// sees the engine drop them), refuse(true) closes new ones at once (the engine is down).
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tenex::test {

class UnixProxy {
  public:
    UnixProxy(std::string upstream, std::filesystem::path path)
        : upstream_(std::move(upstream)), path_(std::move(path)) {
        listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr = address(path_.string());
        std::filesystem::remove(path_);
        if (listener_ < 0 ||
            ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(listener_, 64) != 0) {
            close_fd(listener_);
            return;
        }
        accepter_ = std::thread([this] { accept_loop(); });
    }

    ~UnixProxy() {
        stop_ = true;
        if (listener_ >= 0) ::shutdown(listener_, SHUT_RDWR);
        if (accepter_.joinable()) accepter_.join();
        cut();
        std::vector<std::thread> pumps;
        {
            std::lock_guard lock(mu_);
            pumps.swap(pumps_);
        }
        for (auto& t : pumps) t.join();
        close_fd(listener_);
        std::error_code ec;
        std::filesystem::remove(path_, ec);
    }

    bool ok() const { return listener_ >= 0; }
    std::string path() const { return path_.string(); }
    // Under the lock: a connection accepted while refuse(true) runs is either closed or in
    // open_ when it returns, so a cut() after it leaves no connection to the engine.
    void refuse(bool on) {
        std::lock_guard lock(mu_);
        refusing_ = on;
    }
    // Ends every open connection (both sides see the other end go away).
    void cut() {
        std::lock_guard lock(mu_);
        for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
    }
    int accepted() const { return accepted_.load(); }

  private:
    static sockaddr_un address(const std::string& path) {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
        return addr;
    }
    static void close_fd(int& fd) {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }

    void accept_loop() {
        while (!stop_) {
            pollfd p{listener_, POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0) continue;
            int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
            if (client < 0) continue;
            if (refusing_ || stop_) {
                ::close(client);
                continue;
            }
            int up = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_un addr = address(upstream_);
            if (up < 0 || ::connect(up, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
                if (up >= 0) ::close(up);
                ::close(client);
                continue;
            }
            std::lock_guard lock(mu_);
            if (refusing_ || stop_) {
                ::close(up);
                ::close(client);
                continue;
            }
            ++accepted_;
            open_.push_back(client);
            open_.push_back(up);
            pumps_.emplace_back([this, client, up] { pump(client, up); });
        }
    }

    // Copies bytes both ways until either side ends, then closes both.
    void pump(int a, int b) {
        char buf[16384];
        for (bool done = false; !done;) {
            pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
            if (::poll(p, 2, 200) < 0) break;
            for (int i = 0; i < 2 && !done; ++i) {
                if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
                const int from = i == 0 ? a : b, to = i == 0 ? b : a;
                ssize_t n = ::read(from, buf, sizeof buf);
                if (n <= 0) {
                    done = true;
                    break;
                }
                for (ssize_t off = 0; off < n;) {
                    ssize_t w =
                        ::send(to, buf + off, static_cast<std::size_t>(n - off), MSG_NOSIGNAL);
                    if (w <= 0) {
                        done = true;
                        break;
                    }
                    off += w;
                }
            }
        }
        std::lock_guard lock(mu_);
        std::erase(open_, a);
        std::erase(open_, b);
        ::close(a);
        ::close(b);
    }

    std::string upstream_;
    std::filesystem::path path_;
    int listener_ = -1;
    std::atomic<bool> stop_{false};
    std::atomic<bool> refusing_{false};
    std::atomic<int> accepted_{0};
    std::mutex mu_;
    std::vector<int> open_;
    std::vector<std::thread> pumps_;
    std::thread accepter_;
};

}  // namespace tenex::test
