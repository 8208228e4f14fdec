// tenex-forwarder: one TCP port forwarded to one fixed IPv4 address and port. On a swarm it is
// the project gateway's forwarder (policies/SWARM.md): a service attached to an isolated
// project's internal overlay (alias tenex-gateway) and to the daemon's uplink overlay, passing
// the project's connections to the daemon's gateway. It never chooses a destination: the
// target is fixed by its arguments, and nothing a client sends changes it.
//
//   tenex-forwarder LISTEN_PORT TARGET_IPV4 TARGET_PORT [MAX_CONNECTIONS]
//
// Linked statically (no name lookups: the target is an address), FROM scratch. SIGTERM or
// SIGINT: exits 0. Prints `forwarding=ok listen=PORT target=IP:PORT` once it listens, and
// one line per connection it could not pass on.
#include <arpa/inet.h>
#include <fcntl.h>
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

// Connects to the target within 5 s; -1 on failure (errno set).
int connect_target(const sockaddr_in& target) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    if (connect(fd, reinterpret_cast<const sockaddr*>(&target), sizeof target) < 0 &&
        errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    pollfd p{fd, POLLOUT, 0};
    int r = poll(&p, 1, 5000);
    int err = 0;
    socklen_t len = sizeof err;
    if (r <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
        close(fd);
        errno = r == 0 ? ETIMEDOUT : (err ? err : errno);
        return -1;
    }
    // Back to blocking: the copy loop polls before it reads, and sends block.
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
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

void serve(int client, sockaddr_in target) {
    int upstream = connect_target(target);
    if (upstream < 0) {
        std::fprintf(stderr, "tenex-forwarder: connect to %s:%d: %s\n", inet_ntoa(target.sin_addr),
                     ntohs(target.sin_port), std::strerror(errno));
    } else {
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

int main(int argc, char** argv) {
    int listen_port = 0, target_port = 0, max_open = 256;
    sockaddr_in target{};
    target.sin_family = AF_INET;
    if ((argc != 4 && argc != 5) || !parse_port(argv[1], listen_port) ||
        inet_pton(AF_INET, argv[2], &target.sin_addr) != 1 || !parse_port(argv[3], target_port) ||
        (argc == 5 && (!parse_port(argv[4], max_open)))) {
        std::fprintf(stderr,
                     "usage: tenex-forwarder LISTEN_PORT TARGET_IPV4 TARGET_PORT "
                     "[MAX_CONNECTIONS]\n");
        return 64;
    }
    target.sin_port = htons(static_cast<uint16_t>(target_port));
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
    std::printf("forwarding=ok listen=%d target=%s:%d\n", listen_port, argv[2], target_port);
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
