// tenex-forwarder: one TCP port forwarded to one destination. On a swarm (policies/SWARM.md) it
// is a service attached to a project's internal overlay under the name the project's task
// uses, and to the daemon's uplink overlay, its one way off the cluster:
//   - the project gateway's forwarder (alias tenex-gateway): to the daemon's gateway, a fixed
//     IPv4 address;
//   - egress (alias: the allowed name): to that name, resolved at each connection through the
//     engine's DNS, connecting only to public addresses (the rules of the daemon's own egress
//     forwarders, src/hostnet/public_address.cpp), or with --private-ok (an endpoint the
//     policy names itself, such as its LLM's) to any address it resolves to.
// It never chooses a destination: the target is fixed by its arguments, and nothing a client
// sends changes it.
//
//   tenex-forwarder [--private-ok] LISTEN_PORT TARGET TARGET_PORT [MAX_CONNECTIONS]
//     TARGET  an IPv4 address (used as it is) or a DNS name
//   tenex-forwarder seed ...   the seed task of node-local workspaces (seed.cpp)
//
// Linked statically, FROM scratch (glibc's files and dns lookups need no shared library).
// SIGTERM or SIGINT: exits 0. Prints `forwarding=ok listen=PORT target=TARGET:PORT` once it
// listens, and one line per connection it could not pass on.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "hostnet/public_address.hpp"

namespace {

std::atomic<int> g_open{0};

bool parse_port(const char* s, int& out) {
    char* end = nullptr;
    long v = std::strtol(s, &end, 10);
    if (!end || *end || v < 1 || v > 65535) return false;
    out = static_cast<int>(v);
    return true;
}

// Sends all of buf; false when the peer is gone.
bool send_all(int fd, const char* buf, ssize_t n) {
    while (n > 0) {
        ssize_t w = send(fd, buf, static_cast<size_t>(n), MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        buf += w;
        n -= w;
    }
    return true;
}

// Where connections go: a fixed address, or a name resolved at each connection.
struct Target {
    std::string host{};  // as given
    int port = 0;
    bool literal = false;     // an IPv4 address: no lookup, any address
    bool private_ok = false;  // a name whose non-public addresses are allowed too
};

// Connects to one address within 5 s; -1 on failure (errno set).
int connect_address(const sockaddr* sa, socklen_t len) {
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    if (connect(fd, sa, len) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    pollfd p{fd, POLLOUT, 0};
    int r = poll(&p, 1, 5000);
    int err = 0;
    socklen_t err_len = sizeof err;
    if (r <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) < 0 || err != 0) {
        close(fd);
        errno = r == 0 ? ETIMEDOUT : (err ? err : errno);
        return -1;
    }
    // Back to blocking: the copy loop polls before it reads, and sends block.
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

// Resolves (unless a literal) and connects to the first address that answers; -1 with the
// reason printed when none does.
int connect_target(const Target& t) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = t.literal ? AI_NUMERICHOST : AI_ADDRCONFIG;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(t.port);
    if (int rc = getaddrinfo(t.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
        std::fprintf(stderr, "tenex-forwarder: refused: cannot resolve %s: %s\n", t.host.c_str(),
                     gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    std::string denied, failed;
    for (const addrinfo* a = found; a && fd < 0; a = a->ai_next) {
        if (!t.literal && !t.private_ok && !tenex::hostnet::is_public_address(a->ai_addr)) {
            denied += (denied.empty() ? "" : ", ") + tenex::hostnet::address_text(a->ai_addr);
            continue;
        }
        fd = connect_address(a->ai_addr, a->ai_addrlen);
        if (fd < 0)
            failed += (failed.empty() ? "" : ", ") + tenex::hostnet::address_text(a->ai_addr) +
                      ": " + std::strerror(errno);
    }
    freeaddrinfo(found);
    if (fd < 0 && failed.empty())
        std::fprintf(stderr, "tenex-forwarder: refused: %s resolves to non-public address %s\n",
                     t.host.c_str(), denied.c_str());
    else if (fd < 0)
        std::fprintf(stderr, "tenex-forwarder: connect to %s:%d: %s\n", t.host.c_str(), t.port,
                     failed.c_str());
    return fd;
}

// Copies both ways until both directions ended (half-closes passed on).
void pipe_both(int a, int b) {
    char buf[16384];
    bool a_open = true, b_open = true;
    while (a_open || b_open) {
        pollfd p[2] = {{a, static_cast<short>(a_open ? POLLIN : 0), 0},
                       {b, static_cast<short>(b_open ? POLLIN : 0), 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        for (int i = 0; i < 2; ++i) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            int from = i == 0 ? a : b, to = i == 0 ? b : a;
            ssize_t n = recv(from, buf, sizeof buf, MSG_DONTWAIT);
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (n <= 0) {
                shutdown(to, SHUT_WR);
                (i == 0 ? a_open : b_open) = false;
                if (n < 0) return;  // reset: both go
                continue;
            }
            if (!send_all(to, buf, n)) return;
        }
    }
}

void serve(int client, const Target& target) {
    int upstream = connect_target(target);
    if (upstream >= 0) {
        int one = 1;
        setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pipe_both(client, upstream);
        close(upstream);
    }
    close(client);
    g_open.fetch_sub(1);
}

}  // namespace

int seed_main(int argc, char** argv);  // seed.cpp

int main(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], "seed") == 0) return seed_main(argc, argv);
    int listen_port = 0, max_open = 256;
    Target target;
    int i = 1;
    if (i < argc && std::strcmp(argv[i], "--private-ok") == 0) {
        target.private_ok = true;
        ++i;
    }
    const int left = argc - i;
    in_addr v4{};
    if ((left != 3 && left != 4) || !parse_port(argv[i], listen_port) || !*argv[i + 1] ||
        !parse_port(argv[i + 2], target.port) ||
        (left == 4 && !parse_port(argv[i + 3], max_open))) {
        std::fprintf(stderr,
                     "usage: tenex-forwarder [--private-ok] LISTEN_PORT TARGET TARGET_PORT "
                     "[MAX_CONNECTIONS]\n  TARGET: an IPv4 address or a DNS name\n");
        return 64;
    }
    target.host = argv[i + 1];
    target.literal = inet_pton(AF_INET, target.host.c_str(), &v4) == 1;
    // SIGTERM/SIGINT end the process (default action) with status 0 through the handler.
    signal(SIGTERM, [](int) { _exit(0); });
    signal(SIGINT, [](int) { _exit(0); });
    signal(SIGPIPE, SIG_IGN);

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in any{};
    any.sin_family = AF_INET;
    any.sin_addr.s_addr = htonl(INADDR_ANY);
    any.sin_port = htons(static_cast<uint16_t>(listen_port));
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof any) < 0 ||
        listen(fd, 128) < 0) {
        std::fprintf(stderr, "tenex-forwarder: listen on %d: %s\n", listen_port,
                     std::strerror(errno));
        return 1;
    }
    std::printf("forwarding=ok listen=%d target=%s:%d%s\n", listen_port, target.host.c_str(),
                target.port,
                target.literal ? "" : (target.private_ok ? " resolve=any" : " resolve=public"));
    std::fflush(stdout);
    for (;;) {
        int c = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                usleep(100000);
                continue;
            }
            std::fprintf(stderr, "tenex-forwarder: accept: %s\n", std::strerror(errno));
            return 1;
        }
        if (g_open.fetch_add(1) >= max_open) {
            g_open.fetch_sub(1);
            close(c);  // over the bound: refused, the gateway's clients reconnect
            continue;
        }
        try {
            std::thread(serve, c, target).detach();
        } catch (...) {
            close(c);
            g_open.fetch_sub(1);
        }
    }
}
