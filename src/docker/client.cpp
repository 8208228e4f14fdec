#include "docker/client.hpp"

#include <charconv>

namespace tenex::docker {

std::optional<ApiVersion> ApiVersion::parse(std::string_view text) {
    auto dot = text.find('.');
    if (dot == std::string_view::npos) return std::nullopt;
    ApiVersion v;
    auto major = text.substr(0, dot), minor = text.substr(dot + 1);
    auto digits = [](std::string_view s) {
        return !s.empty() && s.size() <= 4 &&
               s.find_first_not_of("0123456789") == std::string_view::npos;
    };
    if (!digits(major) || !digits(minor)) return std::nullopt;
    auto r1 = std::from_chars(major.data(), major.data() + major.size(), v.major);
    auto r2 = std::from_chars(minor.data(), minor.data() + minor.size(), v.minor);
    if (r1.ec != std::errc{} || r2.ec != std::errc{}) return std::nullopt;
    return v;
}

std::string ApiVersion::to_string() const {
    return std::to_string(major) + "." + std::to_string(minor);
}

Result<ApiVersion> negotiate(ApiVersion engine_max, ApiVersion engine_min) {
    ApiVersion chosen = std::min(engine_max, kClientMaxApi);
    if (chosen < kClientMinApi)
        return make_error("engine speaks Engine API up to " + engine_max.to_string() +
                          ", this client needs at least " + kClientMinApi.to_string() +
                          ": upgrade Docker");
    if (chosen < engine_min)
        return make_error("engine requires Engine API >= " + engine_min.to_string() +
                          ", this client speaks at most " + kClientMaxApi.to_string() +
                          ": upgrade tenex-sandbox");
    return chosen;
}

DockerError http_error(const HttpResponse& response, const std::string& operation) {
    std::string message;
    auto parsed = nlohmann::json::parse(response.body, nullptr, false);
    if (parsed.is_object() && parsed.contains("message") && parsed["message"].is_string())
        message = parsed["message"].get<std::string>();
    else
        message = response.body.substr(0, 512);
    while (!message.empty() && (message.back() == '\n' || message.back() == '\r'))
        message.pop_back();
    if (message.empty()) message = "(no message)";
    return DockerError{operation, response.status, std::move(message)};
}

DResult<std::unique_ptr<Client>> Client::connect(const ClientOptions& options) {
    auto socket = resolve_socket_path(options.socket);
    if (!socket) return DockerError{"connect", 0, socket.error().message};
    Transport transport(*socket);

    auto ping = transport.send({.path = "/_ping", .timeout = options.timeout}, "ping");
    if (!ping) return std::move(ping).error();
    if (ping->status != 200) return http_error(*ping, "ping");
    auto header = ping->headers.find("api-version");
    if (header == ping->headers.end())
        return DockerError{"ping", ping->status, "engine sent no Api-Version header"};
    auto engine_max = ApiVersion::parse(header->second);
    if (!engine_max)
        return DockerError{"ping", ping->status, "bad Api-Version header '" + header->second + "'"};

    // /version is unversioned here: we do not know yet what the engine accepts.
    auto ver = transport.send({.path = "/version", .timeout = options.timeout}, "version");
    if (!ver) return std::move(ver).error();
    if (ver->status != 200) return http_error(*ver, "version");
    auto body = nlohmann::json::parse(ver->body, nullptr, false);
    if (!body.is_object()) return DockerError{"version", ver->status, "malformed /version reply"};
    EngineVersion engine;
    engine.version = body.value("Version", "");
    engine.os = body.value("Os", "");
    engine.arch = body.value("Arch", "");
    engine.kernel = body.value("KernelVersion", "");
    engine.api = ApiVersion::parse(body.value("ApiVersion", "")).value_or(*engine_max);
    engine.min_api = ApiVersion::parse(body.value("MinAPIVersion", "")).value_or(ApiVersion{1, 12});

    auto chosen = negotiate(engine.api, engine.min_api);
    if (!chosen) return DockerError{"negotiate API version", 0, chosen.error().message};
    return std::unique_ptr<Client>(
        new Client(std::move(transport), *chosen, std::move(engine), options.timeout));
}

DStatus Client::ping() const {
    auto r = transport_.send({.path = "/_ping", .timeout = timeout_}, "ping");
    if (!r) return std::move(r).error();
    if (r->status != 200) return http_error(*r, "ping");
    return Unit{};
}

DResult<HttpResponse> Client::call(const std::string& method, const std::string& path,
                                   const std::string& operation, const std::string& body,
                                   std::chrono::milliseconds timeout) const {
    Request req{.method = method,
                .path = "/v" + api_.to_string() + path,
                .body = body,
                .timeout = timeout.count() > 0 ? timeout : timeout_};
    auto r = transport_.send(req, operation);
    if (!r) return std::move(r).error();
    if (r->status < 200 || r->status >= 300) return http_error(*r, operation);
    return std::move(r).value();
}

DResult<nlohmann::json> Client::call_json(const std::string& method, const std::string& path,
                                          const std::string& operation, const nlohmann::json& body,
                                          std::chrono::milliseconds timeout) const {
    auto r = call(method, path, operation, body.is_null() ? std::string() : body.dump(), timeout);
    if (!r) return std::move(r).error();
    if (r->body.empty()) return nlohmann::json(nullptr);
    auto parsed = nlohmann::json::parse(r->body, nullptr, false);
    if (parsed.is_discarded())
        return DockerError{operation, r->status, "engine sent malformed JSON"};
    return parsed;
}

DResult<HttpResponse> Client::stream(const std::string& method, const std::string& path,
                                     const std::string& operation, const StreamHandlers& handlers,
                                     std::stop_token stop, std::chrono::milliseconds timeout,
                                     const std::string& body,
                                     const std::string& content_type) const {
    Request req{.method = method,
                .path = "/v" + api_.to_string() + path,
                .body = body,
                .content_type = content_type,
                .timeout = timeout};
    auto r = transport_.stream(req, operation, handlers, std::move(stop));
    if (!r) return std::move(r).error();
    if (r->status != 0 && (r->status < 200 || r->status >= 300)) return http_error(*r, operation);
    return std::move(r).value();
}

}  // namespace tenex::docker
