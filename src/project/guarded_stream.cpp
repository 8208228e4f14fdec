#include "project/guarded_stream.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <git2.h>
#include <git2/sys/stream.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <new>

namespace tenex::project::detail {

namespace {

thread_local GuardContext* tl_context = nullptr;

struct GuardedStream {
    git_stream parent;  // first member: libgit2 hands us back this pointer
    std::string host;
    std::string port;
    int fd{-1};
    GuardContext* ctx{nullptr};
};

GuardedStream* self(git_stream* s) {
    return reinterpret_cast<GuardedStream*>(s);
}

int fail(GuardContext* ctx, const std::string& why) {
    if (ctx && ctx->failure.empty()) ctx->failure = why;
    git_error_set_str(GIT_ERROR_NET, why.c_str());
    return -1;
}

int remaining_ms(const GuardContext* ctx) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        ctx->deadline - std::chrono::steady_clock::now());
    return left.count() <= 0 ? 0 : static_cast<int>(std::min<long long>(left.count(), 1 << 30));
}

// Waits for `events` on fd until the deadline. 1 ready, 0 timed out, -1 error.
int wait_for(int fd, short events, const GuardContext* ctx) {
    for (;;) {
        const int ms = remaining_ms(ctx);
        if (ms == 0) return 0;
        pollfd p{fd, events, 0};
        const int r = ::poll(&p, 1, ms);
        if (r > 0) return 1;
        if (r == 0) return 0;
        if (errno != EINTR) return -1;
    }
}

std::string address_text(const sockaddr* sa) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
    return buf;
}

int try_connect(const addrinfo* ai, const GuardContext* ctx) {
    const int fd =
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) return -1;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS || wait_for(fd, POLLOUT, ctx) != 1) {
            ::close(fd);
            return -1;
        }
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            ::close(fd);
            return -1;
        }
    }
    return fd;
}

int stream_connect(git_stream* s) {
    auto* st = self(s);
    GuardContext* ctx = st->ctx;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (const int rc = ::getaddrinfo(st->host.c_str(), st->port.c_str(), &hints, &res); rc != 0)
        return fail(ctx, "cannot resolve " + st->host + ": " + gai_strerror(rc));
    std::string refused;
    for (const addrinfo* ai = res; ai; ai = ai->ai_next) {
        const std::string text = address_text(ai->ai_addr);
        AddressClass cls{};
        if (!classify_ip_literal(text, &cls) || !address_allowed(*ctx->policy, st->host, cls)) {
            refused = st->host + " resolves to " + text + ", a " + to_string(cls) +
                      " address the configuration does not allow";
            continue;
        }
        st->fd = try_connect(ai, ctx);
        if (st->fd >= 0) break;
        if (remaining_ms(ctx) == 0) break;
    }
    ::freeaddrinfo(res);
    if (st->fd >= 0) return 0;
    if (remaining_ms(ctx) == 0)
        return fail(ctx, "clone time limit reached while connecting to " + st->host);
    if (!refused.empty()) return fail(ctx, refused);
    return fail(ctx, "cannot connect to " + st->host + ":" + st->port);
}

int stream_certificate(git_cert** out, git_stream*) {
    *out = nullptr;
    return 0;
}

int stream_set_proxy(git_stream*, const git_proxy_options*) {
    git_error_set_str(GIT_ERROR_NET, "proxies are not supported by the guarded stream");
    return -1;
}

ssize_t stream_read(git_stream* s, void* data, size_t len) {
    auto* st = self(s);
    GuardContext* ctx = st->ctx;
    for (;;) {
        const int w = wait_for(st->fd, POLLIN, ctx);
        if (w == 0) return fail(ctx, "clone time limit reached: the server stopped sending");
        if (w < 0) return fail(ctx, std::string("read failed: ") + std::strerror(errno));
        const ssize_t n = ::recv(st->fd, data, len, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        if (n < 0) return fail(ctx, std::string("read failed: ") + std::strerror(errno));
        ctx->bytes_read += static_cast<std::uint64_t>(n);
        if (ctx->bytes_read > ctx->max_bytes)
            return fail(ctx,
                        "clone size limit exceeded (" + std::to_string(ctx->max_bytes) + " bytes)");
        return n;
    }
}

ssize_t stream_write(git_stream* s, const char* data, size_t len, int) {
    auto* st = self(s);
    size_t done = 0;
    while (done < len) {
        const int w = wait_for(st->fd, POLLOUT, st->ctx);
        if (w == 0) return fail(st->ctx, "clone time limit reached while sending to the server");
        if (w < 0) return fail(st->ctx, std::string("write failed: ") + std::strerror(errno));
        const ssize_t n = ::send(st->fd, data + done, len - done, MSG_NOSIGNAL);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        if (n < 0) return fail(st->ctx, std::string("write failed: ") + std::strerror(errno));
        done += static_cast<size_t>(n);
    }
    return static_cast<ssize_t>(len);
}

int stream_close(git_stream* s) {
    auto* st = self(s);
    if (st->fd >= 0) ::close(st->fd);
    st->fd = -1;
    return 0;
}

void stream_free(git_stream* s) {
    stream_close(s);
    delete self(s);
}

int stream_init(git_stream** out, const char* host, const char* port) {
    GuardContext* ctx = tl_context;
    if (ctx == nullptr || ctx->policy == nullptr) {
        git_error_set_str(GIT_ERROR_NET, "network access outside a guarded clone is refused");
        return -1;
    }
    auto* st = new (std::nothrow) GuardedStream{};
    if (!st) return -1;
    st->parent.version = GIT_STREAM_VERSION;
    st->parent.encrypted = 0;
    st->parent.proxy_support = 0;
    st->parent.connect = stream_connect;
    st->parent.certificate = stream_certificate;
    st->parent.set_proxy = stream_set_proxy;
    st->parent.read = stream_read;
    st->parent.write = stream_write;
    st->parent.close = stream_close;
    st->parent.free = stream_free;
    st->host = host ? host : "";
    st->port = port ? port : "";
    st->ctx = ctx;
    // Host allowlist applies to every connection, redirects included.
    if (!ctx->policy->allowed_hosts.empty() && !host_allowlisted(*ctx->policy, st->host)) {
        const std::string why = "connection to " + st->host + " refused: not in the allowed hosts";
        delete st;
        return fail(ctx, why);
    }
    *out = &st->parent;
    return 0;
}

}  // namespace

void ensure_guarded_stream_registered() {
    static std::once_flag once;
    std::call_once(once, [] {
        git_libgit2_init();
        git_stream_registration reg{};
        reg.version = GIT_STREAM_VERSION;
        reg.init = stream_init;
        reg.wrap = nullptr;
        git_stream_register(GIT_STREAM_STANDARD, &reg);
    });
}

GuardScope::GuardScope(GuardContext* ctx) : previous_(tl_context) {
    tl_context = ctx;
}
GuardScope::~GuardScope() {
    tl_context = previous_;
}

}  // namespace tenex::project::detail
