// tenex-probe: the entry program of the tenex-probe image. Each mode tests one thing a
// sandbox policy promises and prints the result as "key=value" lines on stdout, so tests
// can read it from the container's logs. Dynamically linked: the image holds it, its shared
// libraries and the loader (so glibc's resolver reads /etc/hosts inside the container).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "nostr_mode.hpp"

extern char** environ;

namespace {

void usage() {
    std::puts(
        "usage: tenex-probe MODE [ARGS]\n"
        "  sleep                      sleep until SIGTERM/SIGINT (then exit 0)\n"
        "  sleep-ignore-term          sleep, ignoring SIGTERM (only SIGKILL ends it)\n"
        "  exit CODE [SECONDS]        exit with CODE after SECONDS (default 0)\n"
        "  alloc MIB [hold]           allocate and touch MIB MiB; 'hold' then sleeps\n"
        "  spawn [MAX]                fork sleeping children until refused (or MAX)\n"
        "  connect IP PORT [MS]       TCP connect, report ok or the error\n"
        "  resolve NAME               look NAME up (getaddrinfo: /etc/hosts, then DNS)\n"
        "  file PATH                  print the file's content (at most 4 KiB) on one line\n"
        "  listen PORT                accept TCP connections, greet each with 'tenex-probe'\n"
        "  echo TEXT                  TEXT on stdout, 'err:'TEXT on stderr, then exit 0\n"
        "  lines                      'got LINE' for each stdin line; 'exit N' exits N\n"
        "  nostr                      a project runtime stand-in on Nostr: reads\n"
        "                             TENEX_PROJECT_ADDRESS, TENEX_RELAYS, TENEX_PROBE_KEY,\n"
        "                             TENEX_STATUS_INTERVAL; publishes kind 24010 status and\n"
        "                             replies to kind 1 events tagged with the project\n"
        "  env | mounts | id | fs | cgroup | report\n"
        "                             print the environment, /proc/self/mountinfo, uid/gid\n"
        "                             and capabilities, write tests of / and /tmp, cgroup\n"
        "                             limits; report prints all of them");
}

void print_file(const char* path, const char* prefix) {
    std::ifstream in(path);
    if (!in) {
        std::printf("%serror=cannot read %s\n", prefix, path);
        return;
    }
    for (std::string line; std::getline(in, line);) std::printf("%s%s\n", prefix, line.c_str());
}

std::string read_first_line(const char* path) {
    std::ifstream in(path);
    std::string line;
    if (!in || !std::getline(in, line)) return "unavailable";
    return line;
}

volatile sig_atomic_t g_stop = 0;
void on_term(int) {
    g_stop = 1;
}

int mode_sleep(bool ignore_term) {
    struct sigaction sa {};
    sa.sa_handler = ignore_term ? SIG_IGN : on_term;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    std::printf("sleeping=1\n");
    std::fflush(stdout);
    while (!g_stop) pause();
    std::printf("terminated=1\n");
    return 0;
}

int mode_exit(int code, double seconds) {
    std::printf("exit_code=%d after=%g\n", code, seconds);
    std::fflush(stdout);
    if (seconds > 0) std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    return code;
}

int mode_alloc(long mib, bool hold) {
    std::vector<char*> blocks;
    const std::size_t kMiB = 1 << 20;
    for (long i = 0; i < mib; ++i) {
        auto* p = static_cast<char*>(std::malloc(kMiB));
        if (!p) {
            std::printf("alloc_failed_at_mib=%ld\n", i);
            return 1;
        }
        for (std::size_t off = 0; off < kMiB; off += 4096) p[off] = static_cast<char>(i + 1);
        blocks.push_back(p);
        if ((i + 1) % 16 == 0) {
            std::printf("allocated_mib=%ld\n", i + 1);
            std::fflush(stdout);
        }
    }
    std::printf("allocated_mib=%ld done=1\n", mib);
    std::fflush(stdout);
    if (hold) return mode_sleep(false);
    return 0;
}

int mode_spawn(long max) {
    std::vector<pid_t> children;
    int err = 0;
    while (max <= 0 || static_cast<long>(children.size()) < max) {
        pid_t pid = fork();
        if (pid == 0) {
            pause();
            _exit(0);
        }
        if (pid < 0) {
            err = errno;
            break;
        }
        children.push_back(pid);
    }
    std::printf("spawned=%zu refused=%d error=%s\n", children.size(), err ? 1 : 0,
                err ? std::strerror(err) : "none");
    std::fflush(stdout);
    for (pid_t c : children) kill(c, SIGKILL);
    for (pid_t c : children) waitpid(c, nullptr, 0);
    return 0;
}

int mode_connect(const char* ip, int port, int timeout_ms) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
        std::printf("connect=error target=%s:%d error=not an IPv4 address\n", ip, port);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        std::printf("connect=error target=%s:%d error=%s\n", ip, port, std::strerror(errno));
        return 2;
    }
    int rc = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    int err = rc == 0 ? 0 : errno;
    if (rc != 0 && err == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        int n = poll(&p, 1, timeout_ms);
        if (n == 0) {
            err = ETIMEDOUT;
        } else {
            socklen_t len = sizeof err;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        }
    }
    close(fd);
    if (err == 0) {
        std::printf("connect=ok target=%s:%d\n", ip, port);
        return 0;
    }
    std::printf("connect=failed target=%s:%d error=%s\n", ip, port,
                err == ETIMEDOUT ? "timeout" : std::strerror(err));
    return 1;
}

int mode_resolve(const char* name) {
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const int rc = getaddrinfo(name, nullptr, &hints, &res);
    if (rc != 0) {
        std::printf("resolve=failed name=%s error=%s\n", name, gai_strerror(rc));
        return 1;
    }
    char buf[INET_ADDRSTRLEN] = "";
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr, buf, sizeof buf);
    freeaddrinfo(res);
    std::printf("resolve=ok name=%s addr=%s\n", name, buf);
    return 0;
}

int mode_file(const char* path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::printf("file=%s error=%s\n", path, std::strerror(errno));
        return 1;
    }
    std::string content(4096, '\0');
    in.read(content.data(), static_cast<std::streamsize>(content.size()));
    content.resize(static_cast<std::size_t>(in.gcount()));
    for (auto& c : content)
        if (c == '\n' || c == '\r') c = ' ';
    std::printf("file=%s content=%s\n", path, content.c_str());
    return 0;
}

int mode_listen(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
        listen(fd, 16) != 0) {
        std::printf("listen=failed port=%d error=%s\n", port, std::strerror(errno));
        return 1;
    }
    // Without SA_RESTART (signal() would set it), so that SIGTERM interrupts accept().
    struct sigaction term {};
    term.sa_handler = on_term;
    sigaction(SIGTERM, &term, nullptr);
    sigaction(SIGINT, &term, nullptr);
    std::printf("listen=ok port=%d\n", port);
    std::fflush(stdout);
    while (!g_stop) {
        int c = accept(fd, nullptr, nullptr);
        if (c < 0) continue;
        const char msg[] = "tenex-probe\n";
        (void)!write(c, msg, sizeof msg - 1);
        close(c);
    }
    return 0;
}

void print_env() {
    for (char** e = environ; *e; ++e) std::printf("env=%s\n", *e);
}

void print_id() {
    std::printf("uid=%d euid=%d gid=%d egid=%d\n", getuid(), geteuid(), getgid(), getegid());
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with("Cap") || line.starts_with("NoNewPrivs") ||
            line.starts_with("Seccomp") || line.starts_with("Groups")) {
            auto colon = line.find(':');
            std::string key = line.substr(0, colon), value = line.substr(colon + 1);
            value.erase(0, value.find_first_not_of(" \t"));
            std::printf("status.%s=%s\n", key.c_str(), value.c_str());
        }
    }
}

void try_write(const char* dir) {
    std::string path = std::string(dir) + "/.tenex-probe-write-test";
    int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        std::printf("write[%s]=failed error=%s\n", dir, std::strerror(errno));
        return;
    }
    bool ok = write(fd, "x", 1) == 1;
    close(fd);
    unlink(path.c_str());
    std::printf("write[%s]=%s\n", dir, ok ? "ok" : "failed");
}

void print_fs() {
    try_write("/");
    try_write("/tmp");
    if (const char* home = std::getenv("HOME"); home && *home) try_write(home);
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd)) {
        std::printf("cwd=%s\n", cwd);
        try_write(cwd);
    }
}

void print_cgroup() {
    print_file("/proc/self/cgroup", "cgroup.membership=");
    struct Limit {
        const char* key;
        const char* path;
    };
    const Limit limits[] = {
        {"memory.max", "/sys/fs/cgroup/memory.max"},  // v2
        {"memory.swap.max", "/sys/fs/cgroup/memory.swap.max"},
        {"pids.max", "/sys/fs/cgroup/pids.max"},
        {"cpu.max", "/sys/fs/cgroup/cpu.max"},
        {"cpuset.cpus", "/sys/fs/cgroup/cpuset.cpus.effective"},
        {"v1.memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.limit_in_bytes"},
        {"v1.memory.memsw.limit_in_bytes", "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"},
        {"v1.pids.max", "/sys/fs/cgroup/pids/pids.max"},
        {"v1.cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"},
        {"v1.cpu.cfs_period_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us"},
        {"v1.cpuset.cpus", "/sys/fs/cgroup/cpuset/cpuset.cpus"},
    };
    for (const auto& l : limits) {
        if (access(l.path, R_OK) == 0)
            std::printf("cgroup.%s=%s\n", l.key, read_first_line(l.path).c_str());
    }
}

// A line-oriented stand-in for an interactive program: "got <line>" for each line of stdin
// (with tty, "\r" ends a line too); "exit N" exits with N; EOF exits 0. Tests `exec -i`/`shell`.
int mode_lines() {
    std::printf("ready\n");
    std::string line;
    for (int c; (c = std::getchar()) != EOF;) {
        if (c != '\n' && c != '\r') {
            line += static_cast<char>(c);
            continue;
        }
        if (line.rfind("exit ", 0) == 0) return std::atoi(line.c_str() + 5);
        if (!line.empty()) std::printf("got %s\n", line.c_str());
        line.clear();
    }
    return 0;
}

long arg_long(int argc, char** argv, int i, long fallback) {
    if (i >= argc) return fallback;
    char* end = nullptr;
    long v = std::strtol(argv[i], &end, 10);
    return end && *end == '\0' ? v : fallback;
}

}  // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    std::string mode = argc > 1 ? argv[1] : "sleep";
    if (mode == "sleep") return mode_sleep(false);
    if (mode == "sleep-ignore-term") return mode_sleep(true);
    if (mode == "exit")
        return mode_exit(static_cast<int>(arg_long(argc, argv, 2, 0)),
                         argc > 3 ? std::atof(argv[3]) : 0.0);
    if (mode == "alloc")
        return mode_alloc(arg_long(argc, argv, 2, 64), argc > 3 && std::string(argv[3]) == "hold");
    if (mode == "spawn") return mode_spawn(arg_long(argc, argv, 2, 0));
    if (mode == "connect" && argc > 3)
        return mode_connect(argv[2], static_cast<int>(arg_long(argc, argv, 3, 0)),
                            static_cast<int>(arg_long(argc, argv, 4, 3000)));
    if (mode == "resolve" && argc > 2) return mode_resolve(argv[2]);
    if (mode == "file" && argc > 2) return mode_file(argv[2]);
    if (mode == "listen") return mode_listen(static_cast<int>(arg_long(argc, argv, 2, 8080)));
    if (mode == "echo") {
        std::string text = argc > 2 ? argv[2] : "";
        std::printf("%s\n", text.c_str());
        std::fflush(stdout);
        std::fprintf(stderr, "err:%s\n", text.c_str());
        return 0;
    }
    if (mode == "lines") return mode_lines();
    if (mode == "nostr") return tenex::probe::run_nostr_mode();
    if (mode == "env") return print_env(), 0;
    if (mode == "mounts") return print_file("/proc/self/mountinfo", "mount="), 0;
    if (mode == "id") return print_id(), 0;
    if (mode == "fs") return print_fs(), 0;
    if (mode == "cgroup") return print_cgroup(), 0;
    if (mode == "report") {
        print_id();
        print_fs();
        print_cgroup();
        print_env();
        print_file("/proc/self/mountinfo", "mount=");
        return 0;
    }
    usage();
    return mode == "help" || mode == "--help" ? 0 : 64;
}
