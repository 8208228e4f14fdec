// tenex-attack-flood: the attack image's small static helper, for what busybox cannot do from
// inside a sandbox with a PID limit: open many TCP connections at once and hold them.
//
//   flood IPV4 PORT COUNT HOLD_SECONDS
//
// Opens COUNT connections to IPV4:PORT (non-blocking, 5 s to complete each), keeps those that
// complete open for HOLD_SECONDS (reading and discarding whatever arrives), then prints one
// line "opened N failed M" and exits 0. Raises its descriptor limit to the hard limit first.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: %s IPV4 PORT COUNT HOLD_SECONDS\n", argv[0]);
        return 2;
    }
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<unsigned short>(std::atoi(argv[2])));
    if (inet_pton(AF_INET, argv[1], &to.sin_addr) != 1) {
        std::fprintf(stderr, "not an IPv4 address: %s\n", argv[1]);
        return 2;
    }
    const int count = std::atoi(argv[3]);
    const int hold = std::atoi(argv[4]);
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }

    std::vector<pollfd> fds;
    int failed = 0;
    for (int i = 0; i < count; ++i) {
        const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            ++failed;
            continue;
        }
        if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 && errno != EINPROGRESS) {
            close(fd);
            ++failed;
            continue;
        }
        fds.push_back({fd, POLLOUT, 0});
    }
    // Wait for the connects to complete.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    std::vector<bool> done(fds.size(), false);
    std::size_t pending = fds.size();
    while (pending > 0 && std::chrono::steady_clock::now() < deadline) {
        if (poll(fds.data(), fds.size(), 200) < 0 && errno != EINTR) break;
        for (std::size_t i = 0; i < fds.size(); ++i) {
            if (done[i] || fds[i].revents == 0) continue;
            done[i] = true;
            --pending;
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(fds[i].fd, SOL_SOCKET, SO_ERROR, &err, &len);
            fds[i].events = err == 0 ? POLLIN : 0;
            if (err != 0) fds[i].fd = -fds[i].fd - 1;  // poll ignores negative descriptors
        }
    }
    int opened = 0;
    for (std::size_t i = 0; i < fds.size(); ++i) {
        if (done[i] && fds[i].fd >= 0) {
            ++opened;
        } else {
            ++failed;
            if (fds[i].fd >= 0) fds[i].fd = -fds[i].fd - 1;
        }
    }
    // Hold them (a closed peer counts as still "opened": it was, and the daemon closed it).
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(hold);
    char buf[4096];
    while (std::chrono::steady_clock::now() < end) {
        if (poll(fds.data(), fds.size(), 200) <= 0) continue;
        for (auto& p : fds) {
            if (p.fd < 0 || p.revents == 0) continue;
            if (read(p.fd, buf, sizeof buf) <= 0) p.fd = -p.fd - 1;
        }
    }
    std::printf("opened %d failed %d\n", opened, failed);
    return 0;
}
