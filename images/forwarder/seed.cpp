// tenex-forwarder seed: the short-lived task that lays out a node-local workspace on its node
// (policies/SWARM.md, "Workspaces"). Fetches one tar over plain HTTP from the daemon (the URL
// holds a one-time token and names the daemon by IPv4 address) and extracts it into DIR, never
// outside it (src/docker/tar_extract.cpp), everything owned by --owner.
//
//   tenex-forwarder seed [--owner UID:GID] [--replace NAME]... URL DIR
//
// Exit 0 and one line `seeded files=.. directories=.. links=.. kept=.. bytes=..`; otherwise
// exit 1 and one line `seed: <why>` on stderr (the daemon reads it from the task's logs).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "docker/tar_extract.hpp"

namespace {

int fail(const std::string& why) {
    std::fprintf(stderr, "seed: %s\n", why.c_str());
    return 1;
}

bool parse_owner(const char* s, int& uid, int& gid) {
    char* end = nullptr;
    long u = std::strtol(s, &end, 10);
    if (end == s || *end != ':' || u < 0) return false;
    const char* g = end + 1;
    long v = std::strtol(g, &end, 10);
    if (end == g || *end || v < 0) return false;
    uid = static_cast<int>(u);
    gid = static_cast<int>(v);
    return true;
}

}  // namespace

int seed_main(int argc, char** argv) {
    tenex::docker::ExtractOptions options;
    int i = 2;
    for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        if (std::strcmp(argv[i], "--owner") == 0 &&
            parse_owner(argv[i + 1], options.uid, options.gid))
            continue;
        if (std::strcmp(argv[i], "--replace") == 0 && *argv[i + 1]) {
            options.replace.insert(argv[i + 1]);
            continue;
        }
        break;
    }
    if (argc - i != 2)
        return fail(
            "usage: tenex-forwarder seed [--owner UID:GID] [--replace NAME]... "
            "http://IPV4:PORT/PATH DIR");
    const std::string url = argv[i];
    const char* dir = argv[i + 1];
    // http://a.b.c.d:port/path
    if (url.rfind("http://", 0) != 0) return fail("not an http:// URL: " + url);
    const auto colon = url.find(':', 7);
    const auto slash = url.find('/', 7);
    if (colon == std::string::npos || slash == std::string::npos || colon > slash)
        return fail("the URL needs an IPv4 address, a port and a path: " + url);
    const std::string host = url.substr(7, colon - 7);
    const int port = std::atoi(url.substr(colon + 1, slash - colon - 1).c_str());
    const std::string path = url.substr(slash);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (port < 1 || port > 65535 || inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1)
        return fail("the URL needs an IPv4 address and a port: " + url);

    const int root = ::open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) return fail(std::string(dir) + ": " + std::strerror(errno));
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval timeout{.tv_sec = 60, .tv_usec = 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        return fail("connect to " + host + ":" + std::to_string(port) + ": " +
                    std::strerror(errno));
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + host + ":" +
                                std::to_string(port) + "\r\nConnection: close\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size()))
        return fail(std::string("send: ") + std::strerror(errno));

    // The response's head, then the body through the extractor (what was read past the head
    // first).
    std::string head;
    std::size_t end = std::string::npos;
    char buf[4096];
    while ((end = head.find("\r\n\r\n")) == std::string::npos) {
        if (head.size() > 16384) return fail("response head too long");
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return fail("no response from the daemon");
        head.append(buf, static_cast<std::size_t>(n));
    }
    std::string rest = head.substr(end + 4);
    head.resize(end);
    const std::string status = head.substr(0, head.find("\r\n"));
    if (status.find(" 200") == std::string::npos) return fail("the daemon answered " + status);
    for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (head.find("transfer-encoding: chunked") != std::string::npos)
        return fail("the daemon answered chunked, which the seed does not read");
    std::size_t used = 0;
    auto reader = [&](char* out, std::size_t n) -> ssize_t {
        if (used < rest.size()) {
            const std::size_t k = std::min(n, rest.size() - used);
            std::memcpy(out, rest.data() + used, k);
            used += k;
            return static_cast<ssize_t>(k);
        }
        for (;;) {
            const ssize_t got = ::recv(fd, out, n, 0);
            if (got < 0 && errno == EINTR) continue;
            return got;
        }
    };
    auto stats = tenex::docker::extract_tar(reader, root, options);
    if (!stats) return fail(stats.error().message);
    std::printf("seeded files=%llu directories=%llu links=%llu kept=%llu bytes=%llu\n",
                static_cast<unsigned long long>(stats->files),
                static_cast<unsigned long long>(stats->directories),
                static_cast<unsigned long long>(stats->links),
                static_cast<unsigned long long>(stats->kept),
                static_cast<unsigned long long>(stats->bytes));
    return 0;
}
