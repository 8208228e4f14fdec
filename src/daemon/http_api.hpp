// The daemon's HTTP API: health, Prometheus metrics and the operator's control plane
// (`tenex-sandbox ps|stop|restart|logs` talk to it).
//
// Endpoints (every error body is {"error": "<reason>"} with Content-Type application/json):
//   GET  /healthz                      200 {"ok":true,...details} or 503 {"ok":false,...}
//   GET  /metrics                      text/plain; version=0.0.4 (see metrics.hpp)
//   GET  /projects                     200 JSON array of to_json(ProjectView)
//   GET  /projects/{project}           200 to_json(view) | 404 unknown | 400 bad | 409 ambiguous
//   POST /projects/{project}/stop      200 to_json(view after) | 404 | 400 | 409 | 500
//   POST /projects/{project}/restart   200 to_json(view after) | 404 | 400 | 409 | 500
//   POST /projects/{project}/forget    200 to_json(view after: stopped) | 404 | 400 | 409 | 500
//   GET  /projects/{project}/logs?follow=1&tail=N
//                                      200 chunked text/plain (stdout and stderr, in order)
//   POST /projects/{project}/exec?cmd=A&cmd=B...&tty=0|1&user=UID:GID&stdin=0|1
//                                      a process in the project's running container (below)
//   POST /exec/{id}/stdin[?eof=1]      body: bytes for a stdin exec's input (64 KiB at most);
//                                      eof=1 closes its input after them. 204 | 404 | 409
//   POST /exec/{id}/resize?rows=R&cols=C   its terminal's size. 204 | 404 | 409
//   GET  /events?follow=0|1&tail=N     200 chunked application/x-ndjson: lifecycle events
//                                      (event_log.hpp), the newest N (default all kept), then
//                                      with follow new ones as they happen
// exec: cmd is the argv, one parameter each, in order (1..256 of them, 64 KiB in all, UTF-8);
// with stdin=1 the first frame is type 4 with JSON {"id": "<exec id>"}, the id to send the
// process's input to (the client's input is never passed otherwise). user, when given, is "uid:gid"
// in numbers other than 0 (like the policies' user: names and root are refused); default the
// container's user. Refused with 403 when the configuration disables exec, 409 when the project is
// not running. The 200 answer (application/vnd.tenex.exec-stream) is a sequence of frames [type, 0,
// 0, 0, size (u32 BE)]
// + payload: type 1 stdout, 2 stderr (with tty everything is 1), and last type 3 with JSON
// {"exit_code": N} or {"error": "..."}. Every exec is logged (argv[0] and user, never the
// arguments) and counted (tenex_execs_total{outcome}).
// {project} is one URL-encoded path segment: the address "31933:<owner hex>:<d>" or a bare
// `d` (it must then name exactly one known project). Routing works on the raw request target,
// so an encoded '/' (%2F) inside a `d` is part of the segment. tail is a non-negative integer;
// follow is 0/1/true/false. Anything else is 400.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/listen_address.hpp"
#include "common/result.hpp"
#include "daemon/event_log.hpp"
#include "daemon/metrics.hpp"
#include "daemon/project_view.hpp"
#include "docker/client.hpp"
#include "sandbox/orchestrator_types.hpp"

namespace httplib {
struct Request;
struct Response;
class ThreadPool;
}  // namespace httplib

namespace tenex::daemon {

// details: relays connected/total, docker reachable, ... (the daemon decides); the response
// body is details with "ok" set, and a "reasons" array when not ok is recommended.
struct Health {
    bool ok{false};
    nlohmann::json details{};
};

struct LogOptions {
    bool follow{false};
    int tail{-1};  // last N lines; -1: all
    // Requested when the HTTP API stops: a following implementation should end then (the
    // helper below passes it to the engine stream, which checks it every ~50 ms).
    std::stop_token stop{};
};

// An exec request, as checked by the API (exec_request_from_query).
struct ExecRequest {
    std::vector<std::string> cmd{};
    std::string user{};  // "uid:gid", both > 0; "": the container's user
    bool tty{false};
    bool interactive{false};  // forward the client's input (POST /exec/{id}/stdin)
};
// Checks what the API accepts for user: "" or "uid:gid" in decimal, 1..2^31-1 each.
Status check_exec_user(std::string_view user);

// Frame types of the exec stream.
inline constexpr unsigned char kExecStdout = 1, kExecStderr = 2, kExecEnd = 3, kExecStarted = 4;
std::string exec_frame(unsigned char type, std::string_view payload);

// The daemon's side of the API. Implemented by the daemon; tests use fakes. Called from the
// HTTP server's threads (several at once).
class ControlPlane {
  public:
    virtual ~ControlPlane() = default;
    // Every project the daemon knows; the API resolves {project} against this list first
    // (unknown -> 404 without calling the methods below).
    virtual std::vector<ProjectView> projects() = 0;
    virtual Health health() = 0;
    // project: the full address "31933:<owner>:<d>" of a listed project.
    virtual Result<ProjectView> stop(const std::string& project) = 0;
    virtual Result<ProjectView> restart(const std::string& project) = 0;
    // stop(), then the daemon drops the project from its list (and /metrics) until a message
    // wakes it again; its workspace, keys and history stay. The view is the last one it had.
    virtual Result<ProjectView> forget(const std::string& project) = 0;
    // Streams the project's container logs (stdout+stderr, demultiplexed text) into sink until
    // done (or, with follow, until sink returns false, options.stop is requested or the
    // container ends). sink returns false once the HTTP client is gone; that is detected on
    // the next write, so a follower should write (or check options.stop) regularly.
    virtual Status logs(const std::string& project, const LogOptions& options,
                        const std::function<bool(std::string_view)>& sink) = 0;
    // Creates an exec in the project's running container (found by the daemon's labels);
    // returns the exec id. The default: exec is not supported.
    virtual Result<std::string> exec_create(const std::string& project,
                                            const ExecRequest& request) {
        (void)project, (void)request;
        return make_error("exec is not supported by this daemon");
    }
    // Runs a created exec, streaming stdout/stderr into sink (false: the client has gone) until
    // the process ends or stop is requested; returns its exit code.
    virtual Result<int> exec_run(
        const std::string& exec_id, bool tty, std::stop_token stop,
        const std::function<bool(bool is_stderr, std::string_view)>& sink) {
        (void)exec_id, (void)tty, (void)stop, (void)sink;
        return make_error("exec is not supported by this daemon");
    }
    // For an exec created with stdin: writes data to its stdin (waiting until exec_run has
    // attached it); eof closes its stdin. Resizes its terminal.
    virtual Status exec_input(const std::string& exec_id, std::string_view data, bool eof) {
        (void)exec_id, (void)data, (void)eof;
        return make_error("exec input is not supported by this daemon");
    }
    virtual Status exec_resize(const std::string& exec_id, int rows, int cols) {
        (void)exec_id, (void)rows, (void)cols;
        return make_error("exec input is not supported by this daemon");
    }
};

// A helper for ControlPlane::logs: streams a container's logs (stdout and stderr in the order
// the engine sends them) into sink. Without follow it returns after the logs so far; with
// follow when the container ends, sink returns false or options.stop is requested. On a swarm
// manager (LogsOf::service) the service's logs: the manager collects them from the nodes of
// its tasks.
enum class LogsOf { container, service };
Status stream_container_logs(const docker::Client& client, const std::string& container,
                             const LogOptions& options,
                             const std::function<bool(std::string_view)>& sink,
                             LogsOf of = LogsOf::container);

// A state-changing request (POST) must carry this header. A web page cannot send it to another
// origin without a CORS preflight, which the API never grants.
inline constexpr const char* kActionHeader = "X-Tenex-Request";

struct HttpOptions {
    // "host:port" (IPv6 as "[::1]:port"; port 0 picks a free port) or "unix:/path" (the
    // socket file is created with mode 0600; a stale socket file is replaced, any other
    // existing file is an error).
    std::string listen{"127.0.0.1:7878"};
    // The API has no authentication, so a TCP address that is not loopback (127.0.0.0/8,
    // ::1, localhost) is refused unless this is set explicitly.
    bool allow_non_loopback{false};
    int threads{16};  // concurrent requests (each `logs -f` holds one while it follows)
    // `logs -f` followers at once; 0: half the threads, so the rest always serve other requests.
    int max_followers{0};
    // exec through the API; unset: on when listening on loopback or a unix socket.
    std::optional<bool> exec_enabled{};
    // The lifecycle events behind GET /events (nullptr: 404); execs and operator stop/restart
    // requests are recorded in it too.
    EventLog* events{nullptr};
    // A connection must send its whole request (head, and body up to 64 KiB) within this time
    // of being accepted, or it is closed (with 408 when it sent part of one). Until its request
    // is complete a connection is buffered by one front thread and holds no worker thread, so
    // slow or idle clients cannot take the `threads` away from other requests.
    std::chrono::milliseconds request_timeout{std::chrono::seconds(10)};
    // Connections still sending their request, at most: in all, and from one peer address
    // (every unix-socket client counts as one peer). At a cap the oldest such connection (of
    // that peer) is closed to make room, so a new client is never refused for slow ones.
    int max_pending{256};
    int max_pending_per_peer{64};
};

class HttpApi {
  public:
    HttpApi(ControlPlane& control, Metrics& metrics, HttpOptions options);
    ~HttpApi();  // stops
    HttpApi(const HttpApi&) = delete;
    HttpApi& operator=(const HttpApi&) = delete;

    // Binds (a clear error when the address is invalid, not allowed or taken) and serves on
    // its own threads. Once only.
    Status start();
    // Stops accepting, ends following log streams (LogOptions::stop) and joins the threads.
    // A unix socket file is removed.
    void stop();
    int port() const;  // the bound TCP port (useful with port 0); 0 for a unix socket
    bool exec_enabled() const { return exec_enabled_; }

  private:
    class Server;
    class Front;
    class Followers;
    void route(const httplib::Request& req, httplib::Response& res);
    void follow_logs(const httplib::Request& req, const std::string& address, LogOptions options,
                     httplib::Response& res);
    void run_exec(const httplib::Request& req, const ProjectView& view, httplib::Response& res);
    void stream_events(const httplib::Request& req, httplib::Response& res);
    void exec_input(const httplib::Request& req, httplib::Response& res,
                    const std::string& exec_id);

    ControlPlane& control_;
    Metrics& metrics_;
    HttpOptions options_;
    std::unique_ptr<Server> server_;
    std::unique_ptr<Followers> followers_;
    std::unique_ptr<httplib::ThreadPool> workers_;
    std::unique_ptr<Front> front_;
    std::stop_source stop_source_;
    std::atomic<int> port_{0};
    ListenAddress listen_{};
    std::string unix_path_{};
    bool exec_enabled_{false};
};

}  // namespace tenex::daemon
