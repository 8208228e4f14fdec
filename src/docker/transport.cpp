#include "docker/transport.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <stop_token>

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
        while (!value.empty() &&
               (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
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

Transport Transport::tcp(const std::string& host, std::uint16_t port) {
    Transport t{std::string()};
    const bool v6 = host.find(':') != std::string::npos;
    t.base_url_ = "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
    return t;
}

std::string Transport::where() const {
    return socket_path_.empty() ? base_url_ : "socket " + socket_path_;
}

namespace {

// Options shared by plain and streaming requests. headers must outlive the transfer.
void setup(CURL* c, const std::string& socket, const std::string& url, const Request& request,
           std::unique_ptr<curl_slist, SlistDeleter>& headers) {
    auto add_header = [&](const std::string& h) {
        headers.reset(curl_slist_append(headers.release(), h.c_str()));
    };
    if (!socket.empty()) curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket.c_str());
    curl_easy_setopt(c, CURLOPT_PROXY, "");  // never a proxy from the environment
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
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
    for (const auto& h : request.headers) add_header(h);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
}

struct CurlMultiDeleter {
    void operator()(CURLM* m) const { curl_multi_cleanup(m); }
};

// State of one streaming transfer, shared with the libcurl callbacks.
struct StreamState {
    CURL* curl = nullptr;
    const StreamHandlers* handlers = nullptr;
    HttpResponse response{};
    bool opened = false;
    bool stopped = false;  // on_data asked to end the transfer
    bool is_2xx() const { return response.status >= 200 && response.status < 300; }
};

size_t on_stream_header(char* data, size_t size, size_t count, void* user) {
    auto* st = static_cast<StreamState*>(user);
    std::string_view line(data, size * count);
    if (line.starts_with("HTTP/")) st->response.headers.clear();  // a new status line
    on_header(data, size, count, &st->response.headers);
    if (line == "\r\n" || line == "\n") {
        long status = 0;
        curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &status);
        st->response.status = static_cast<int>(status);
        if (st->is_2xx() && !st->opened) {
            st->opened = true;
            if (st->handlers->on_open) st->handlers->on_open(st->response);
        }
    }
    return size * count;
}

size_t on_stream_body(char* data, size_t size, size_t count, void* user) {
    auto* st = static_cast<StreamState*>(user);
    size_t n = size * count;
    if (!st->is_2xx()) {
        if (st->response.body.size() < 65536) st->response.body.append(data, n);
        return n;
    }
    if (st->handlers->on_data && !st->handlers->on_data(std::string_view(data, n))) {
        st->stopped = true;
        return CURL_WRITEFUNC_ERROR;
    }
    return n;
}

}  // namespace

DockerError Transport::curl_error(const std::string& operation, int curl_code) const {
    const auto rc = static_cast<CURLcode>(curl_code);
    switch (rc) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_GOT_NOTHING:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
            connection_failures_->fetch_add(1);
            break;
        default:
            break;
    }
    return DockerError{operation, 0, std::string(curl_easy_strerror(rc)) + " (" + where() + ")"};
}

DResult<HttpResponse> Transport::send(const Request& request, const std::string& operation) const {
    std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
    if (!curl) return DockerError{operation, 0, "cannot initialize libcurl"};
    HttpResponse response;
    std::unique_ptr<curl_slist, SlistDeleter> headers;
    std::string url = base_url_ + request.path;
    CURL* c = curl.get();
    setup(c, socket_path_, url, request, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &response.body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &response.headers);

    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) return curl_error(operation, rc);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    response.status = static_cast<int>(status);
    return response;
}

DResult<HttpResponse> Transport::stream(const Request& request, const std::string& operation,
                                        const StreamHandlers& handlers,
                                        std::stop_token stop) const {
    std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
    std::unique_ptr<CURLM, CurlMultiDeleter> multi(curl_multi_init());
    if (!curl || !multi) return DockerError{operation, 0, "cannot initialize libcurl"};
    std::unique_ptr<curl_slist, SlistDeleter> headers;
    std::string url = base_url_ + request.path;
    CURL* c = curl.get();
    StreamState st;
    st.curl = c;
    st.handlers = &handlers;
    setup(c, socket_path_, url, request, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stream_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &st);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_stream_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &st);
    curl_multi_add_handle(multi.get(), c);
    // A stop request wakes the poll below at once, so it need not wake up to look for one.
    std::stop_callback wake(stop, [m = multi.get()] { curl_multi_wakeup(m); });

    CURLcode rc = CURLE_OK;
    bool cancelled = false;
    for (;;) {
        int running = 0;
        CURLMcode mc = curl_multi_perform(multi.get(), &running);
        if (mc != CURLM_OK) {
            curl_multi_remove_handle(multi.get(), c);
            return DockerError{operation, 0, std::string("libcurl: ") + curl_multi_strerror(mc)};
        }
        if (running == 0) {
            int left = 0;
            while (CURLMsg* msg = curl_multi_info_read(multi.get(), &left))
                if (msg->msg == CURLMSG_DONE) rc = msg->data.result;
            break;
        }
        if (stop.stop_requested()) {
            cancelled = true;
            break;
        }
        curl_multi_poll(multi.get(), nullptr, 0, 1000,
                        nullptr);  // libcurl's own timers may wake it sooner
    }
    curl_multi_remove_handle(multi.get(), c);
    if (cancelled || st.stopped) {
        if (st.response.status == 0) {
            long status = 0;
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
            st.response.status = static_cast<int>(status);
        }
        return std::move(st.response);
    }
    if (rc != CURLE_OK) return curl_error(operation, rc);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    st.response.status = static_cast<int>(status);
    return std::move(st.response);
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
