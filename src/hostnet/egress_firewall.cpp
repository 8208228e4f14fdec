#include "hostnet/egress_firewall.hpp"
#include "common/thread_annotations.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/mman.h>
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

// "-A CHAIN ... --comment \"tenex:br\" -c 1 2 -j DROP" (a line of `iptables -S -v`) -> its
// words with the quotes and the counters removed, and the counters.
struct Listed {
    std::string chain{};              // the chain it is in (only the firewall's are kept)
    std::vector<std::string> rule{};  // without "-A CHAIN"
    std::uint64_t packets = 0;
};

// The filter table as `iptables -S -v` prints it: one run reads what a change needs.
struct Table {
    bool chain = false;           // kFirewallChain exists
    bool jump = false;            // INPUT jumps to it
    std::vector<Listed> rules{};  // kFirewallChain's

    std::vector<Listed> of(const std::string& bridge) const {
        std::vector<Listed> out;
        const std::string want = tag(bridge);
        for (const auto& l : rules)
            if (std::find(l.rule.begin(), l.rule.end(), want) != l.rule.end()) out.push_back(l);
        return out;
    }
};

// whole: the filter table (what a change needs: the chain, INPUT's jump); otherwise only the
// firewall chain (what reading its rules and counters needs), a short listing on a host with
// many rules of others.
Result<Table> read_table(bool whole) {
    auto text = HostFirewall::run(whole ? ipt({"-S", "-v"}) : ipt({"-S", kFirewallChain, "-v"}));
    if (!text) return text.error();
    Table t;
    std::istringstream lines(*text);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream words(line);
        std::vector<std::string> w;
        for (std::string x; words >> x;) {
            x.erase(std::remove(x.begin(), x.end(), '"'), x.end());
            w.push_back(x);
        }
        if (w.size() == 2 && w[0] == "-N" && w[1] == kFirewallChain) t.chain = true;
        if (w.size() < 3 || w[0] != "-A") continue;
        Listed l{.chain = w[1]};
        for (std::size_t i = 2; i < w.size(); ++i) {
            if (w[i] == "-c" && i + 2 < w.size()) {
                l.packets = std::strtoull(w[i + 1].c_str(), nullptr, 10);
                i += 2;
                continue;
            }
            l.rule.push_back(w[i]);
        }
        if (l.chain == "INPUT" && l.rule == std::vector<std::string>{"-j", kFirewallChain})
            t.jump = true;
        if (l.chain == kFirewallChain) t.rules.push_back(std::move(l));
    }
    return t;
}

bool same_rule(std::vector<std::string> a, std::vector<std::string> b) {  // as iptables prints
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    return a == b;
}

// Changes to the filter table, applied by one `iptables-restore --noflush` run: all of them
// or none (one transaction), and one process for all of them.
class Batch {
  public:
    void line(const std::string& op, const std::string& chain,
              const std::vector<std::string>& rule = {}) {
        text_ += op + " " + chain;
        for (const auto& w : rule) text_ += " " + w;
        text_ += "\n";
    }
    Status commit() const {
        if (text_.empty()) return Unit{};
        auto r = HostFirewall::run({"iptables-restore", "-w", "--noflush"},
                                   "*filter\n" + text_ + "COMMIT\n");
        if (!r) return make_error("firewall: " + r.error().message);
        return Unit{};
    }

  private:
    std::string text_;
};

bool valid_bridge(const std::string& b) {
    return !b.empty() && b.size() <= 15 && std::all_of(b.begin(), b.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    });
}

}  // namespace

Result<std::string> HostFirewall::run(const std::vector<std::string>& argv,
                                      std::string_view input) {
    // stdin: a memory file holding the input (never a pipe: no writer to block, no SIGPIPE).
    const int in = memfd_create("tenex-firewall-input", MFD_CLOEXEC);
    if (in < 0) return make_error(std::string("memfd_create: ") + std::strerror(errno));
    for (std::string_view rest = input; !rest.empty();) {
        const ssize_t n = write(in, rest.data(), rest.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            close(in);
            return make_error(std::string("memfd write: ") + std::strerror(errno));
        }
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    (void)lseek(in, 0, SEEK_SET);
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in);
        return make_error(std::strerror(errno));
    }
    if (pipe2(err, O_CLOEXEC) != 0) {
        close(in), close(out[0]), close(out[1]);
        return make_error(std::strerror(errno));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in);
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
    auto table = read_table(/*whole=*/true);
    if (!table) return make_error("firewall: " + table.error().message);
    Batch batch;
    if (!table->chain) batch.line(":" + std::string(kFirewallChain), "- [0:0]");
    if (!table->jump) batch.line("-I", "INPUT 1", {"-j", kFirewallChain});
    const auto listed = table->of(bridge);
    auto present = [&](const std::vector<std::string>& rule) {
        return std::any_of(listed.begin(), listed.end(),
                           [&](const Listed& l) { return same_rule(l.rule, rule); });
    };
    // The drop rule is appended (after every accept); the accepts go first. One transaction,
    // so the bridge is never open, not even between two changes.
    if (!present(drop_rule(bridge))) batch.line("-A", kFirewallChain, drop_rule(bridge));
    std::vector<std::vector<std::string>> accepts{established_rule(bridge)};
    for (const auto& p : open) accepts.push_back(port_rule(bridge, p));
    for (const auto& rule : accepts)
        if (!present(rule)) batch.line("-I", std::string(kFirewallChain) + " 1", rule);
    // Stale accept rules (a changed allowlist) go; compared by the words iptables prints.
    for (const auto& l : listed) {
        if (std::find(l.rule.begin(), l.rule.end(), "DROP") != l.rule.end()) continue;
        const bool keep = std::any_of(accepts.begin(), accepts.end(),
                                      [&](const auto& a) { return same_rule(a, l.rule); });
        if (!keep) batch.line("-D", kFirewallChain, l.rule);
    }
    return batch.commit();
}

Status HostFirewall::remove(const std::string& bridge) {
    if (!valid_bridge(bridge)) return make_error("invalid bridge interface name: " + bridge);
    MutexLock lock(g_mu);
    // The whole table: its listing fails only when iptables does, not when the chain is missing.
    auto table = read_table(/*whole=*/true);
    if (!table) return make_error("firewall: " + table.error().message);
    Batch batch;
    for (const auto& l : table->of(bridge)) batch.line("-D", kFirewallChain, l.rule);
    return batch.commit();
}

std::vector<std::string> HostFirewall::bridges() {
    std::vector<std::string> out;
    auto table = read_table(/*whole=*/false);
    if (!table) return out;
    for (const auto& l : table->rules)
        for (const auto& w : l.rule)
            if (w.starts_with("tenex:")) {
                auto b = w.substr(6);
                if (std::find(out.begin(), out.end(), b) == out.end()) out.push_back(b);
            }
    return out;
}

std::uint64_t HostFirewall::dropped_packets(const std::string& bridge) {
    auto table = read_table(/*whole=*/false);
    if (!table) return 0;
    for (const auto& l : table->of(bridge))
        if (std::find(l.rule.begin(), l.rule.end(), "DROP") != l.rule.end()) return l.packets;
    return 0;
}

}  // namespace tenex::hostnet
