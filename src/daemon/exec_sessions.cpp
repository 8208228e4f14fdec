#include "daemon/exec_sessions.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common/watched.hpp"
#include "docker/exec.hpp"
#include "docker/logs.hpp"

namespace tenex::daemon {

struct ExecSessions::Session {
    // registered (add) -> attached (run has the connection) -> ended (run is done with it).
    // Changed under mu, so a thread that holds mu sees a phase that conn agrees with.
    enum class Phase { registered, attached, ended };
    // Held while writing to or closing conn. A std::mutex, not annotated: lock_attached hands
    // the held lock to its caller, which the analysis cannot follow.
    std::mutex mu;
    Watched<Phase> phase{Phase::registered};
    docker::ExecAttachment conn{};
    bool stdin_closed{false};
    std::chrono::steady_clock::time_point added{std::chrono::steady_clock::now()};
};

// Input and resizes that come before the exec is attached wait for it (without its lock),
// then take the lock.
static Result<std::unique_lock<std::mutex>> lock_attached(
    auto& session, std::chrono::steady_clock::time_point deadline) {
    using Phase = decltype(session.phase.get());
    if (!session.phase.wait_until(deadline, [](Phase p) { return p != Phase::registered; }))
        return make_error("the exec was not started in time");
    std::unique_lock lock(session.mu);
    if (session.phase.get() == Phase::ended) return make_error("the exec has ended");
    return {std::move(lock)};
}

void ExecSessions::add(const std::string& exec_id) {
    MutexLock lk(mu_);
    const auto stale = std::chrono::steady_clock::now() - std::chrono::minutes(1);
    std::erase_if(sessions_, [&](const auto& kv) {
        std::lock_guard s(kv.second->mu);
        return kv.second->phase.get() == Session::Phase::registered && kv.second->added < stale;
    });
    sessions_[exec_id] = std::make_shared<Session>();
}

bool ExecSessions::has(const std::string& exec_id) const {
    return find(exec_id) != nullptr;
}

std::shared_ptr<ExecSessions::Session> ExecSessions::find(const std::string& exec_id) const {
    MutexLock lk(mu_);
    auto it = sessions_.find(exec_id);
    return it == sessions_.end() ? nullptr : it->second;
}

Status ExecSessions::run(const std::string& exec_id, bool tty, std::stop_token stop,
                         const std::function<bool(bool, std::string_view)>& sink) {
    auto session = find(exec_id);
    if (!session) return make_error("no exec " + exec_id + " waits for its stdin");
    auto forget = [&] {
        {
            std::lock_guard s(session->mu);
            session->conn = {};
            session->phase.set(Session::Phase::ended);
        }
        MutexLock lk(mu_);
        sessions_.erase(exec_id);
    };
    auto conn = docker::attach_exec(client_, exec_id, tty);
    if (!conn) {
        forget();
        return make_error(conn.error().describe());
    }
    const int fd = conn->fd();
    std::string early = conn->take_early();
    {
        std::lock_guard s(session->mu);
        session->conn = std::move(*conn);
        session->phase.set(Session::Phase::attached);
    }

    docker::LogDemuxer demux([&](docker::LogStream s, std::string_view data) {
        return sink(s == docker::LogStream::Stderr, data);
    });
    auto deliver = [&](std::string_view chunk) {
        return tty ? sink(false, chunk) : demux.feed(chunk);
    };
    Status result = Unit{};
    char buf[16 * 1024];
    bool open = early.empty() || deliver(early);
    while (open && !stop.stop_requested()) {
        pollfd p{fd, POLLIN, 0};
        int r = ::poll(&p, 1, 100);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            result = make_error(std::string("poll: ") + std::strerror(errno));
            break;
        }
        if (r == 0) continue;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n < 0) {
            result = make_error(std::string("reading the exec's output: ") + std::strerror(errno));
            break;
        }
        if (n == 0 || !deliver(std::string_view(buf, static_cast<std::size_t>(n)))) open = false;
    }
    forget();
    return result;
}

Status ExecSessions::input(const std::string& exec_id, std::string_view data, bool eof,
                           std::chrono::milliseconds timeout) {
    auto session = find(exec_id);
    if (!session) return make_error("no such exec, or it has ended");
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto s = lock_attached(*session, deadline);
    if (!s) return std::move(s).error();
    if (session->stdin_closed) return make_error("the exec's stdin is closed");
    const int fd = session->conn.fd();
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return make_error("the process does not read its input");
            pollfd p{fd, POLLOUT, 0};
            ::poll(&p, 1, static_cast<int>(left.count()));
            continue;
        }
        if (n < 0)
            return make_error(std::string("writing the exec's input: ") + std::strerror(errno));
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    if (eof) {
        ::shutdown(fd, SHUT_WR);
        session->stdin_closed = true;
    }
    return Unit{};
}

Status ExecSessions::resize(const std::string& exec_id, int rows, int cols) {
    auto session = find(exec_id);
    if (!session) return make_error("no such exec, or it has ended");
    if (auto s =
            lock_attached(*session, std::chrono::steady_clock::now() + std::chrono::seconds(5));
        !s)
        return std::move(s).error();
    auto r = docker::resize_exec(client_, exec_id, rows, cols);
    if (!r) return make_error(r.error().describe());
    return Unit{};
}

}  // namespace tenex::daemon
