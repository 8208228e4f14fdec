#include "docker/transport.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <mutex>

namespace tenex::docker {
namespace {

void global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
    static_cast<std::string*>(user)->append(data, size * count);
    return size * count;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
    auto* headers = static_cast<std::map<std::string, std::string>*>(user);
    std::string_view line(data, size * count);
    auto colon = line.find(':');
    if (colon != std::string_view::npos) {
        std::string name(line.substr(0, colon));
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        auto value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
            value.remove_prefix(1);
        while (!value.empty() && (value.back() == '\r' || value.back() == '\n' ||
                                  value.back() == ' '))
            value.remove_suffix(1);
        (*headers)[name] = std::string(value);
    }
    return size * count;
}

struct CurlDeleter {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

std::string DockerError::describe() const {
    std::string out = operation.empty() ? std::string("docker") : operation;
    out += status == 0 ? ": " : ": HTTP " + std::to_string(status) + ": ";
    out += message;
    return out;
}

Transport::Transport(std::string socket_path) : socket_path_(std::move(socket_path)) {
    global_init();
}

DResult<HttpResponse> Transport::send(const Request& request, const std::string& operation) const {
    std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
    if (!curl) return DockerError{operation, 0, "cannot initialize libcurl"};
    HttpResponse response;
    std::unique_ptr<curl_slist, SlistDeleter> headers;
    auto add_header = [&](const std::string& h) {
        headers.reset(curl_slist_append(headers.release(), h.c_str()));
    };
    std::string url = "http://docker" + request.path;
    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket_path_.c_str());
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &response.body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &response.headers);
    if (request.method == "GET") {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else if (request.method == "HEAD") {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
        if (request.method == "POST" || !request.body.empty()) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                             static_cast<curl_off_t>(request.body.size()));
            add_header("Content-Type: " + request.content_type);
        }
    }
    add_header("Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());

    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        return DockerError{operation, 0,
                           std::string(curl_easy_strerror(rc)) + " (socket " + socket_path_ + ")"};
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    response.status = static_cast<int>(status);
    return response;
}

Result<std::string> resolve_socket_path(const std::string& configured) {
    if (!configured.empty()) {
        std::string_view v = configured;
        if (v.starts_with("unix://")) v.remove_prefix(7);
        if (v.find("://") != std::string_view::npos)
            return make_error("docker socket '" + configured + "': only unix:// is supported");
        return std::string(v);
    }
    if (const char* host = std::getenv("DOCKER_HOST"); host && *host) {
        std::string_view v = host;
        if (!v.starts_with("unix://"))
            return make_error(std::string("DOCKER_HOST=") + host +
                              ": only unix:// sockets are supported");
        v.remove_prefix(7);
        if (v.empty()) return make_error("DOCKER_HOST=unix:// names no socket path");
        return std::string(v);
    }
    return std::string(kDefaultSocket);
}

}  // namespace tenex::docker
