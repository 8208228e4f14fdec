#include "node_peer.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <thread>

namespace tenex::relay::testing {
namespace {

pid_t spawn(const std::string& program, const std::vector<std::string>& args,
            const std::string& cwd, int* out_fd) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
        std::vector<char*> argv;
        argv.push_back(const_cast<char*>(program.c_str()));
        for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        execvp(program.c_str(), argv.data());
        _exit(127);
    }
    close(fds[1]);
    *out_fd = fds[0];
    return pid;
}

}  // namespace

std::string peers_dir() {
    return TENEX_RELAY_PEERS_DIR;
}

bool relay_peers_available(std::string* why) {
    namespace fs = std::filesystem;
    auto r = run_program("node", {"--version"});
    if (r.exit_code != 0) {
        *why = "node is not on PATH";
        return false;
    }
    for (const char* pkg : {"@nostr-relay/core", "@nostr-relay/common", "nostr-tools", "ws"})
        if (!fs::exists(fs::path(peers_dir()) / "node_modules" / pkg / "package.json")) {
            *why = std::string(pkg) + " missing: run `npm ci` in " + peers_dir();
            return false;
        }
    return true;
}

std::unique_ptr<NodeProcess> NodeProcess::start(const std::string& script,
                                                const std::vector<std::string>& args,
                                                std::chrono::seconds timeout) {
    std::unique_ptr<NodeProcess> p(new NodeProcess());
    std::vector<std::string> a{script};
    a.insert(a.end(), args.begin(), args.end());
    p->pid_ = spawn("node", a, peers_dir(), &p->out_fd_);
    const auto end = std::chrono::steady_clock::now() + timeout;
    std::string buf;
    while (std::chrono::steady_clock::now() < end) {
        pollfd pfd{p->out_fd_, POLLIN, 0};
        if (poll(&pfd, 1, 100) <= 0) continue;
        char c;
        ssize_t n = read(p->out_fd_, &c, 1);
        if (n <= 0) break;
        if (c == '\n') {
            p->line_ = buf;
            return p;
        }
        buf += c;
    }
    throw std::runtime_error("node " + script + " did not print its first line");
}

void NodeProcess::kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 40; ++i) {
        if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
            pid_ = -1;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }
    if (out_fd_ >= 0) close(out_fd_);
    out_fd_ = -1;
}

void NodeProcess::signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
}

NodeProcess::~NodeProcess() {
    signal(SIGCONT);  // a stopped process would not see the SIGTERM
    kill();
}

RunResult run_program(const std::string& program, const std::vector<std::string>& args,
                      const std::string& cwd) {
    RunResult r;
    int fd = -1;
    pid_t pid;
    try {
        pid = spawn(program, args, cwd, &fd);
    } catch (...) {
        return r;
    }
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) r.out.append(buf, static_cast<std::size_t>(n));
    close(fd);
    int status = 0;
    waitpid(pid, &status, 0);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto nl = text.find('\n', pos);
        auto l = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        if (!l.empty()) out.push_back(l);
        if (nl == std::string::npos) break;
        pos = nl + 1;
    }
    return out;
}

}  // namespace tenex::relay::testing
