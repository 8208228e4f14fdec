// Exec: a process inside a running container (POST /containers/{id}/exec, POST /exec/{id}/start,
// GET /exec/{id}/json). The process joins the container's namespaces and cgroup, so it has the
// container's limits; it runs as the container's user unless `user` names another one.
#pragma once

#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "docker/client.hpp"
#include "docker/logs.hpp"

namespace tenex::docker {

struct ExecSpec {
    std::vector<std::string> cmd{};  // argv; not run through a shell
    std::string user{};              // "uid:gid"; empty: the container's user
    bool tty{false};                 // a pseudo-terminal: one raw stream, no stdout/stderr split
};

// The create body: never privileged, no stdin attached, stdout and stderr attached.
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

struct ExecState {
    bool running{false};
    std::optional<int> exit_code{};
    int pid{0};
};
Result<ExecState> parse_exec_inspect(std::string_view body);
DResult<ExecState> inspect_exec(const Client& client, const std::string& exec_id);

}  // namespace tenex::docker
