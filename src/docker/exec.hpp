// Exec: a process inside a running container (POST /containers/{id}/exec, POST /exec/{id}/start,
// GET /exec/{id}/json). The process joins the container's namespaces and cgroup, so it has the
// container's limits; it runs as the container's user unless `user` names another one.
#pragma once

#include <optional>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "docker/client.hpp"
#include "docker/logs.hpp"

namespace tenex::docker {

struct ExecSpec {
    std::vector<std::string> cmd{};  // argv; not run through a shell
    std::string user{};              // "uid:gid"; empty: the container's user
    bool tty{false};                 // a pseudo-terminal: one raw stream, no stdout/stderr split
    bool attach_stdin{false};        // attach stdin (start it with attach_exec)
};

// The create body: never privileged; stdout and stderr attached, stdin when spec.stdin.
nlohmann::json exec_create_body(const ExecSpec& spec);

// Creates the exec instance; returns its id. A stopped container is a conflict() (409), an
// unknown one not_found().
DResult<std::string> create_exec(const Client& client, const std::string& container,
                                 const ExecSpec& spec);

// Starts the exec attached and streams its output to on_frame (stdout and stderr frames; with
// tty everything is Stdout) until the process ends, on_frame returns false or stop is
// requested. The engine answers a start without Upgrade with the raw stream until it closes.
DStatus start_exec(const Client& client, const std::string& exec_id, bool tty,
                   const LogDemuxer::FrameFn& on_frame, std::stop_token stop = {});

// A started exec's hijacked connection to the engine (POST /exec/{id}/start with Upgrade: tcp):
// stdin is written to fd, the output (multiplexed frames, or raw with a tty) read from it,
// starting with `early` (output that came with the engine's answer). Closing fd ends the
// exec's stdin and detaches; shutdown(fd, SHUT_WR) ends only its stdin.
class ExecAttachment {
  public:
    ExecAttachment() = default;
    ExecAttachment(int fd, std::string early) : fd_(fd), early_(std::move(early)) {}
    ExecAttachment(ExecAttachment&& o) noexcept
        : fd_(std::exchange(o.fd_, -1)), early_(std::move(o.early_)) {}
    ExecAttachment& operator=(ExecAttachment&& o) noexcept;
    ExecAttachment(const ExecAttachment&) = delete;
    ExecAttachment& operator=(const ExecAttachment&) = delete;
    ~ExecAttachment();
    int fd() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }
    std::string take_early() { return std::exchange(early_, {}); }

  private:
    int fd_{-1};
    std::string early_{};
};

// Starts a created exec attached over a connection of its own to the engine's unix socket
// (the engine's socket must be a unix socket). Fails unless the engine switches protocols
// (101) or answers 200 with the stream.
DResult<ExecAttachment> attach_exec(const Client& client, const std::string& exec_id, bool tty);

// Resizes an exec's pseudo-terminal.
DStatus resize_exec(const Client& client, const std::string& exec_id, int rows, int cols);

struct ExecState {
    bool running{false};
    std::optional<int> exit_code{};
    int pid{0};
};
Result<ExecState> parse_exec_inspect(std::string_view body);
DResult<ExecState> inspect_exec(const Client& client, const std::string& exec_id);

}  // namespace tenex::docker
