// HTTP over the Engine's unix socket with libcurl. One curl handle per call, so a Transport
// is safe to use from several threads at once.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>

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
};

class Transport {
public:
    // socket_path: a filesystem path such as /var/run/docker.sock.
    explicit Transport(std::string socket_path);

    const std::string& socket_path() const { return socket_path_; }

    // Sends one request. A transport failure (no socket, timeout, connection reset) is a
    // DockerError with status 0; HTTP errors are returned as responses, not errors.
    DResult<HttpResponse> send(const Request& request, const std::string& operation) const;

private:
    std::string socket_path_;
};

// Resolves the socket: an explicit path wins, then DOCKER_HOST=unix://..., then the default.
// A DOCKER_HOST that is not unix:// is an error (only the local socket is supported).
Result<std::string> resolve_socket_path(const std::string& configured);

inline constexpr const char* kDefaultSocket = "/var/run/docker.sock";

}  // namespace tenex::docker
