// HTTP with libcurl over the Engine's unix socket, or over TCP (the CLI reaching the daemon's
// own API when it listens on host:port). One curl handle per call, so a Transport is safe to
// use from several threads at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "docker/error.hpp"

namespace tenex::docker {

struct HttpResponse {
    int status = 0;
    std::map<std::string, std::string> headers{};  // names lower-cased
    std::string body{};
};

struct Request {
    std::string method = "GET";
    std::string path{};  // with query, e.g. "/containers/json?all=1"; versioned by the caller
    std::string body{};
    std::string content_type = "application/json";
    std::chrono::milliseconds timeout{30000};
    std::vector<std::string> headers{};  // extra "Name: value" lines
};

// Callbacks of a streaming request. on_open runs once the response headers of a 2xx
// response arrived (before any body); on_data gets each chunk of a 2xx body as it arrives and
// returns false to end the transfer. A non-2xx body is collected into the returned response.
struct StreamHandlers {
    std::function<void(const HttpResponse&)> on_open{};
    std::function<bool(std::string_view)> on_data{};
};

class Transport {
  public:
    // socket_path: a filesystem path such as /var/run/docker.sock.
    explicit Transport(std::string socket_path);
    // HTTP to host:port over TCP (an IPv6 host without brackets). Never through a proxy.
    static Transport tcp(const std::string& host, std::uint16_t port);

    const std::string& socket_path() const { return socket_path_; }  // empty over TCP

    // Sends one request. A transport failure (no socket, timeout, connection reset) is a
    // DockerError with status 0; HTTP errors are returned as responses, not errors.
    DResult<HttpResponse> send(const Request& request, const std::string& operation) const;

    // Sends one request and streams the response body to handlers. request.timeout of 0 means
    // no overall limit (connecting still times out). Returns when the engine ends the
    // response, on_data returns false, or stop is requested (checked every ~50 ms): the
    // latter two are not errors. A transport failure is a DockerError with status 0.
    DResult<HttpResponse> stream(const Request& request, const std::string& operation,
                                 const StreamHandlers& handlers, std::stop_token stop = {}) const;

    // How many calls found no engine to talk to: no socket, a connection refused, or one
    // closed without an answer (timeouts are not counted). Tells an engine that went away
    // during a sequence of calls from an error of one call (the daemon's start of a project).
    std::uint64_t connection_failures() const { return connection_failures_->load(); }

  private:
    std::string where() const;  // for error messages
    DockerError curl_error(const std::string& operation, int curl_code) const;

    std::string socket_path_;
    std::string base_url_{"http://docker"};
    // Shared by copies, so a moved Transport keeps counting in the same place.
    std::shared_ptr<std::atomic<std::uint64_t>> connection_failures_ =
        std::make_shared<std::atomic<std::uint64_t>>(0);
};

// Resolves the socket: an explicit path wins, then DOCKER_HOST=unix://..., then the default.
// A DOCKER_HOST that is not unix:// is an error (only the local socket is supported).
Result<std::string> resolve_socket_path(const std::string& configured);

inline constexpr const char* kDefaultSocket = "/var/run/docker.sock";

}  // namespace tenex::docker
