#include "hostnet/egress_firewall.hpp"
#include "common/thread_annotations.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <sstream>

extern char** environ;

namespace tenex::hostnet {
namespace {

Mutex g_mu;  // one change of the chain at a time (per process; iptables -w across them)

std::string tag(const std::string& bridge) {
    return "tenex:" + bridge;
}

std::vector<std::string> ipt(std::vector<std::string> args) {
    args.insert(args.begin(), {"iptables", "-w"});
    return args;
}

std::vector<std::string> established_rule(const std::string& bridge) {
    return {"-i", bridge,    "-m",        "conntrack", "--ctstate", "RELATED,ESTABLISHED",
            "-m", "comment", "--comment", tag(bridge), "-j",        "ACCEPT"};
}

std::vector<std::string> port_rule(const std::string& bridge, const OpenPort& p) {
    return {"-d",    p.ip + "/32", "-i",        bridge,      "-p",
            "tcp",   "-m",         "tcp",       "--dport",   std::to_string(p.port),
            "-m",    "comment",    "--comment", tag(bridge), "-j",
            "ACCEPT"};
}

std::vector<std::string> drop_rule(const std::string& bridge) {
    return {"-i", bridge, "-m", "comment", "--comment", tag(bridge), "-j", "DROP"};
}

std::vector<std::string> with(const char* op, std::vector<std::string> rule,
                              std::optional<int> position = std::nullopt) {
    std::vector<std::string> out{op, kFirewallChain};
    if (position) out.push_back(std::to_string(*position));
    out.insert(out.end(), rule.begin(), rule.end());
    return ipt(std::move(out));
}

// "-A TENEX-INPUT ... --comment \"tenex:br\" -c 1 2 -j DROP" -> its words, quotes and the
// counters removed, and the counters.
struct Listed {
    std::vector<std::string> rule{};  // without "-A CHAIN"
    std::uint64_t packets = 0;
};

std::vector<Listed> list_rules(const std::string& bridge) {
    std::vector<Listed> out;
    auto text = HostFirewall::run(ipt({"-S", kFirewallChain, "-v"}));
    if (!text) return out;
    std::istringstream lines(*text);
    const std::string want = tag(bridge);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream words(line);
        std::vector<std::string> w;
        for (std::string x; words >> x;) {
            x.erase(std::remove(x.begin(), x.end(), '"'), x.end());
            w.push_back(x);
        }
        if (w.size() < 3 || w[0] != "-A" || std::find(w.begin(), w.end(), want) == w.end())
            continue;
        Listed l;
        for (std::size_t i = 2; i < w.size(); ++i) {
            if (w[i] == "-c" && i + 2 < w.size()) {
                l.packets = std::strtoull(w[i + 1].c_str(), nullptr, 10);
                i += 2;
                continue;
            }
            l.rule.push_back(w[i]);
        }
        out.push_back(std::move(l));
    }
    return out;
}

bool valid_bridge(const std::string& b) {
    return !b.empty() && b.size() <= 15 && std::all_of(b.begin(), b.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    });
}

Status ensure_chain() {
    (void)HostFirewall::run(ipt({"-N", kFirewallChain}));  // exists already: fine
    if (HostFirewall::run(ipt({"-C", "INPUT", "-j", kFirewallChain}))) return Unit{};
    auto r = HostFirewall::run(ipt({"-I", "INPUT", "1", "-j", kFirewallChain}));
    if (!r)
        return make_error("cannot add the " + std::string(kFirewallChain) +
                          " jump: " + r.error().message);
    return Unit{};
}

}  // namespace

Result<std::string> HostFirewall::run(const std::vector<std::string>& argv) {
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0) return make_error(std::strerror(errno));
    if (pipe2(err, O_CLOEXEC) != 0) {
        close(out[0]), close(out[1]);
        return make_error(std::strerror(errno));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    close(err[1]);
    std::string so, se;
    if (rc == 0) {
        pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
        int open = 2;
        char buf[4096];
        while (open > 0 && poll(fds, 2, -1) > 0) {
            for (int i = 0; i < 2; ++i) {
                if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
                ssize_t n = read(fds[i].fd, buf, sizeof buf);
                if (n > 0) {
                    (i == 0 ? so : se).append(buf, static_cast<std::size_t>(n));
                } else {
                    fds[i].fd = -1;
                    --open;
                }
            }
        }
    }
    close(out[0]);
    close(err[0]);
    if (rc != 0) return make_error(argv[0] + ": cannot run: " + std::strerror(rc));
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return so;
    while (!se.empty() && (se.back() == '\n' || se.back() == '\r')) se.pop_back();
    return make_error(argv[0] + " exited with " +
                      std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ": " + se);
}

Status HostFirewall::apply(const std::string& bridge, const std::vector<OpenPort>& open) {
    if (!valid_bridge(bridge)) return make_error("invalid bridge interface name: " + bridge);
    MutexLock lock(g_mu);
    if (auto c = ensure_chain(); !c) return c;
    // The drop rule first (appended: after every accept), so the bridge is never open.
    if (!run(with("-C", drop_rule(bridge)))) {
        if (auto r = run(with("-A", drop_rule(bridge))); !r)
            return make_error("firewall: " + r.error().message);
    }
    std::vector<std::vector<std::string>> accepts{established_rule(bridge)};
    for (const auto& p : open) accepts.push_back(port_rule(bridge, p));
    for (const auto& rule : accepts) {
        if (run(with("-C", rule))) continue;
        if (auto r = run(with("-I", rule, 1)); !r)
            return make_error("firewall: " + r.error().message);
    }
    // Stale accept rules (a changed allowlist) go; compare by the words iptables prints.
    const auto& wanted = accepts;
    auto same = [](std::vector<std::string> a, std::vector<std::string> b) {
        std::sort(a.begin(), a.end());
        std::sort(b.begin(), b.end());
        return a == b;
    };
    for (const auto& listed : list_rules(bridge)) {
        if (std::find(listed.rule.begin(), listed.rule.end(), "DROP") != listed.rule.end())
            continue;
        bool keep = false;
        for (const auto& w : wanted) keep = keep || same(w, listed.rule);
        if (!keep) (void)run(with("-D", listed.rule));
    }
    return Unit{};
}

Status HostFirewall::remove(const std::string& bridge) {
    if (!valid_bridge(bridge)) return make_error("invalid bridge interface name: " + bridge);
    MutexLock lock(g_mu);
    std::string errors;
    for (const auto& listed : list_rules(bridge))
        if (auto r = run(with("-D", listed.rule)); !r) errors += r.error().message + "; ";
    if (!errors.empty()) return make_error("firewall: " + errors);
    return Unit{};
}

std::vector<std::string> HostFirewall::bridges() {
    std::vector<std::string> out;
    auto text = run(ipt({"-S", kFirewallChain}));
    if (!text) return out;
    std::istringstream words(*text);
    for (std::string w; words >> w;) {
        w.erase(std::remove(w.begin(), w.end(), '"'), w.end());
        if (w.starts_with("tenex:")) {
            auto b = w.substr(6);
            if (std::find(out.begin(), out.end(), b) == out.end()) out.push_back(b);
        }
    }
    return out;
}

std::uint64_t HostFirewall::dropped_packets(const std::string& bridge) {
    for (const auto& l : list_rules(bridge))
        if (std::find(l.rule.begin(), l.rule.end(), "DROP") != l.rule.end()) return l.packets;
    return 0;
}

}  // namespace tenex::hostnet
