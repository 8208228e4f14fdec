// What the HTTP API's files share (http_api.cpp: binding and the server; http_routes.cpp: the
// routes). Private to src/daemon.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/thread_annotations.hpp"
#include "common/watched.hpp"
#include "daemon/http_api.hpp"

namespace tenex::daemon {

namespace http_detail {

// The JSON of an answer (invalid UTF-8 replaced, never thrown).
std::string dump(const nlohmann::json& j);
void send_json(httplib::Response& res, int status, const nlohmann::json& body);
void send_error(httplib::Response& res, int status, std::string message);
// At most 80 characters of s, for errors and logs.
std::string shorten(std::string s);
// POST /exec/{id}/stdin: the exec id (64 hex digits, the engine's) or empty.
std::string exec_input_target(const httplib::Request& req);
// Refuses what only a web page would send (http_routes.cpp): {status, reason}, or nullopt.
std::optional<std::pair<int, std::string>> refuse_browser(const httplib::Request& req,
                                                          const ListenAddress& listen, int port);

}  // namespace http_detail

// `logs -f` followers: each holds a worker thread while it follows, so they are capped, and
// one watcher thread notices within 200 ms when a follower's client has gone (its socket
// reports POLLRDHUP/POLLHUP) and ends that stream, even when the container writes nothing.
class HttpApi::Followers {
  public:
    explicit Followers(int max) : max_(max) {
        thread_ = std::thread([this] { run(); });
    }
    ~Followers() {
        stop_.stop();
        thread_.join();
    }
    int max() const { return max_; }
    bool enter() {  // false: at the cap
        MutexLock lk(mu_);
        if (active_ >= max_) return false;
        ++active_;
        return true;
    }
    void leave() {
        MutexLock lk(mu_);
        --active_;
    }
    std::uint64_t watch(int fd, std::stop_source src) {
        MutexLock lk(mu_);
        watched_[++next_] = {fd, std::move(src)};
        return next_;
    }
    void unwatch(std::uint64_t id) {
        MutexLock lk(mu_);
        watched_.erase(id);
    }

  private:
    void run() {
        while (!stop_.stopped()) {
            std::vector<pollfd> fds;
            std::vector<std::stop_source> sources;
            {
                MutexLock lk(mu_);
                for (const auto& [id, w] : watched_) {
                    fds.push_back(pollfd{w.first, POLLRDHUP, 0});
                    sources.push_back(w.second);
                }
            }
            if (!fds.empty() && ::poll(fds.data(), fds.size(), 0) > 0)
                for (std::size_t i = 0; i < fds.size(); ++i)
                    if (fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
                        sources[i].request_stop();
            stop_.sleep_for(std::chrono::milliseconds(200));
        }
    }

    const int max_;
    Mutex mu_;
    StopSignal stop_;
    int active_ TENEX_GUARDED_BY(mu_){0};
    std::uint64_t next_ TENEX_GUARDED_BY(mu_){0};
    std::map<std::uint64_t, std::pair<int, std::stop_source>> watched_ TENEX_GUARDED_BY(mu_);
    std::thread thread_;
};

}  // namespace tenex::daemon
