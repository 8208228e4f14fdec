// The typed Docker Engine API client. Connect once (negotiates the API version), then call
// from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "docker/api_version.hpp"
#include "docker/error.hpp"
#include "docker/transport.hpp"

namespace tenex::docker {

struct ClientOptions {
    std::string socket;                        // empty: DOCKER_HOST, then /var/run/docker.sock
    std::chrono::milliseconds timeout{30000};  // default per-call timeout
};

struct EngineVersion {
    std::string version;  // e.g. "20.10.24+dfsg1"
    ApiVersion api;       // the engine's maximum
    ApiVersion min_api;   // the engine's minimum
    std::string os, arch, kernel;
};

class Client {
  public:
    // Pings the engine, reads /version and picks the API version to speak: the lower of the
    // client's and the engine's maximum. Fails when the engine cannot be reached or only
    // speaks versions outside [kClientMinApi, kClientMaxApi].
    static DResult<std::unique_ptr<Client>> connect(const ClientOptions& options = {});

    const ApiVersion& api_version() const { return api_; }
    const EngineVersion& engine() const { return engine_; }
    const std::string& socket_path() const { return transport_.socket_path(); }

    DStatus ping() const;

    // A versioned call: path like "/containers/json". Non-2xx statuses become DockerError
    // with the engine's "message". The body of a 2xx response is returned as is.
    DResult<HttpResponse> call(const std::string& method, const std::string& path,
                               const std::string& operation, const std::string& body = {},
                               std::chrono::milliseconds timeout = {}) const;
    DResult<nlohmann::json> call_json(const std::string& method, const std::string& path,
                                      const std::string& operation,
                                      const nlohmann::json& body = nullptr,
                                      std::chrono::milliseconds timeout = {}) const;

    // A versioned streaming call (logs with follow, events, image build). timeout 0: no
    // overall limit. A non-2xx response becomes a DockerError; a transfer ended by
    // handlers.on_data or by stop is a success.
    DResult<HttpResponse> stream(const std::string& method, const std::string& path,
                                 const std::string& operation, const StreamHandlers& handlers,
                                 std::stop_token stop = {},
                                 std::chrono::milliseconds timeout = std::chrono::milliseconds(0),
                                 const std::string& body = {},
                                 const std::string& content_type = "application/json") const;

    const Transport& transport() const { return transport_; }
    std::chrono::milliseconds default_timeout() const { return timeout_; }

  private:
    Client(Transport transport, ApiVersion api, EngineVersion engine,
           std::chrono::milliseconds timeout)
        : transport_(std::move(transport)),
          api_(api),
          engine_(std::move(engine)),
          timeout_(timeout) {}

    Transport transport_;
    ApiVersion api_;
    EngineVersion engine_;
    std::chrono::milliseconds timeout_;
};

// Picks the version to speak, or explains why there is none.
Result<ApiVersion> negotiate(ApiVersion engine_max, ApiVersion engine_min);

// Turns a non-2xx response into an error carrying the engine's message.
DockerError http_error(const HttpResponse& response, const std::string& operation);

}  // namespace tenex::docker
