// A fake ControlPlane and small HTTP helpers shared by the HTTP API and operator CLI tests.
#pragma once

#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon/http_api.hpp"
#include "environment.hpp"

namespace tenex::daemon::test {

inline const std::string kOwnerA(64, 'a');
inline const std::string kOwnerB(64, 'b');

inline ProjectView make_view(const std::string& owner, const std::string& d,
                             sandbox::ProjectState state = sandbox::ProjectState::running) {
    ProjectView v;
    v.status.project = {owner, d};
    v.status.state = state;
    v.status.container_id = "0123456789abcdef0123456789abcdef";
    v.status.container_name = "tenex-" + d;
    v.status.started_at = "2020-01-01T00:00:00.123456789Z";
    v.status.restart_count = 2;
    v.status.policy_digest = "sha256:feed";
    v.status.usage = sandbox::ProjectUsage{.cpu_percent = 12.5,
                                           .memory_used = 50 * 1024 * 1024,
                                           .memory_limit = 512 * 1024 * 1024,
                                           .pids = 7,
                                           .sampled_at_unix = 1700000000};
    v.network_mode = "egress";
    v.limits = {.memory_bytes = 512 * 1024 * 1024, .cpus = 0.5, .pids = 64};
    v.policy = "default.yaml+networked.yaml";
    v.title = "Project " + d;
    return v;
}

// The HTTP API calls it from its own threads while a test changes it: the settings a test
// flips are atomics, and everything else is read and written under `mutex`.
class FakeControl : public ControlPlane {
  public:
    std::atomic<bool> fail_actions{false};
    const std::string log_text{"line one\nline two\nerr: three\n"};
    std::atomic<int> follow_max_lines{
        1000};  // lines a follower writes (every 20 ms) before "the container ends"
    std::atomic<bool> quiet_follow{
        false};  // a follower writes nothing more and follows until stopped

    std::mutex mutex;
    std::vector<std::string> calls;  // "stop <address>", "logs <address> f=<0|1> tail=<n>"
    std::atomic<int> logs_running{0};
    std::atomic<int> logs_finished{0};
    std::atomic<int> follow_lines{0};

    std::vector<ProjectView> projects() override {
        std::lock_guard lock(mutex);
        return views;
    }
    Health health() override {
        std::lock_guard lock(mutex);
        return health_value;
    }
    void add_view(ProjectView v) {
        std::lock_guard lock(mutex);
        views.push_back(std::move(v));
    }
    void set_health(Health h) {
        std::lock_guard lock(mutex);
        health_value = std::move(h);
    }
    Result<ProjectView> stop(const std::string& p) override { return act("stop", p); }
    Result<ProjectView> restart(const std::string& p) override { return act("restart", p); }
    Result<ProjectView> forget(const std::string& p) override { return act("forget", p); }

    Status logs(const std::string& project, const LogOptions& o,
                const std::function<bool(std::string_view)>& sink) override {
        record("logs " + project + " f=" + (o.follow ? "1" : "0") +
               " tail=" + std::to_string(o.tail));
        ++logs_running;
        struct Done {
            FakeControl* self;
            ~Done() {
                --self->logs_running;
                ++self->logs_finished;
            }
        } done{this};
        if (!sink(log_text)) return Unit{};
        if (!o.follow) return Unit{};
        while (quiet_follow && !o.stop.stop_requested())
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        for (int i = 0; i < follow_max_lines && !quiet_follow; ++i) {
            if (o.stop.stop_requested()) return Unit{};
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            ++follow_lines;
            if (!sink("follow " + std::to_string(i) + "\n")) return Unit{};
        }
        return Unit{};
    }

    // exec: "emit OUT ERR CODE" writes OUT to stdout, ERR to stderr and exits CODE; anything
    // else prints its argv on stdout (one per line) and exits 0.
    std::atomic<bool> fail_exec{false};
    std::map<std::string, ExecRequest> execs{};  // under mutex
    Result<std::string> exec_create(const std::string& project, const ExecRequest& r) override {
        std::string line =
            "exec " + project + " user=" + r.user + " tty=" + (r.tty ? "1" : "0") + " cmd=";
        for (const auto& a : r.cmd) line += a + "|";
        record(line);
        if (fail_exec) return make_error("the engine said no");
        std::lock_guard lock(mutex);
        std::string id = "exec-" + std::to_string(execs.size() + 1);
        if (r.interactive) {  // the API takes input only for ids like the engine's: 64 hex digits
            char hex[65];
            std::snprintf(hex, sizeof hex, "%064zx", execs.size() + 1);
            id = hex;
        }
        execs[id] = r;
        return id;
    }
    Result<int> exec_run(const std::string& id, bool, std::stop_token stop,
                         const std::function<bool(bool, std::string_view)>& sink) override {
        ExecRequest r;
        {
            std::lock_guard lock(mutex);
            r = execs.at(id);
        }
        // "cat CODE" with stdin: each input as "in:<bytes>" on stdout; exits CODE at EOF.
        if (r.interactive && r.cmd.size() == 2 && r.cmd[0] == "cat") {
            std::unique_lock lock(mutex);
            for (;;) {
                input_cv.wait_for(lock, std::chrono::milliseconds(50));
                if (stop.stop_requested()) return make_error("stopped");
                auto& in = inputs[id];
                while (!in.chunks.empty()) {
                    std::string chunk = std::move(in.chunks.front());
                    in.chunks.pop_front();
                    lock.unlock();
                    if (!sink(false, "in:" + chunk)) return make_error("client gone");
                    lock.lock();
                }
                if (in.eof) return std::stoi(r.cmd[1]);
            }
        }
        if (r.cmd.size() == 4 && r.cmd[0] == "emit") {
            if (!sink(false, r.cmd[1]) || !sink(true, r.cmd[2])) return make_error("client gone");
            return std::stoi(r.cmd[3]);
        }
        for (const auto& a : r.cmd)
            if (!sink(false, a + "\n")) return make_error("client gone");
        return 0;
    }

    struct Input {
        std::deque<std::string> chunks{};
        bool eof{false};
    };
    std::map<std::string, Input> inputs{};  // under mutex
    std::condition_variable input_cv{};
    void add_exec(const std::string& id, const ExecRequest& r) {
        std::lock_guard lock(mutex);
        execs[id] = r;
    }
    // How many execs received input, and how many chunks the exec `id` has waiting.
    std::size_t execs_with_input() {
        std::lock_guard lock(mutex);
        return inputs.size();
    }
    std::size_t input_chunks(const std::string& id) {
        std::lock_guard lock(mutex);
        auto it = inputs.find(id);
        return it == inputs.end() ? 0 : it->second.chunks.size();
    }
    Status exec_input(const std::string& id, std::string_view data, bool eof) override {
        {
            std::lock_guard lock(mutex);
            if (!execs.count(id) || !execs[id].interactive) return make_error("no such exec");
            if (!data.empty()) inputs[id].chunks.emplace_back(data);
            inputs[id].eof = inputs[id].eof || eof;
        }
        input_cv.notify_all();
        return Unit{};
    }
    Status exec_resize(const std::string& id, int rows, int cols) override {
        record("resize " + id + " " + std::to_string(rows) + "x" + std::to_string(cols));
        return Unit{};
    }

    std::vector<std::string> recorded() {
        std::lock_guard lock(mutex);
        return calls;
    }

  private:
    std::vector<ProjectView> views{make_view(kOwnerA, "alpha"), make_view(kOwnerA, "shared"),
                                   make_view(kOwnerB, "shared")};
    Health health_value{true, {{"relays_connected", 1}, {"relays_total", 1}}};

    void record(std::string s) {
        std::lock_guard lock(mutex);
        calls.push_back(std::move(s));
    }
    Result<ProjectView> act(const std::string& what, const std::string& p) {
        record(what + " " + p);
        if (fail_actions) return make_error("the engine said no");
        for (auto v : projects())
            if (v.status.project.address() == p) {
                v.status.state = what == "restart" ? sandbox::ProjectState::running
                                                   : sandbox::ProjectState::stopped;
                return v;
            }
        return make_error("not found");
    }
};

// Waits until pred() holds (polling every 10 ms) or the timeout passes.
template <class Pred>
bool wait_for(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return pred();
}

// The built binary with args: exit code, stdout and stderr.
struct Run {
    int exit_code{-1};
    std::string out{};
    std::string err{};
};

inline std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

// stdin_text: what the command reads on stdin (default nothing: /dev/null).
inline Run run(const std::vector<std::string>& args, const std::string& stdin_text = {}) {
    tenex::test::TempDir dir;
    auto err_file = dir.path() / "stderr";
    auto in_file = dir.path() / "stdin";
    std::ofstream(in_file) << stdin_text;
    std::string cmd = shell_quote(tenex::test::tenex_binary().string());
    for (const auto& a : args) cmd += " " + shell_quote(a);
    cmd += " 2>" + shell_quote(err_file.string()) + " <" + shell_quote(in_file.string());
    Run r;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return r;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    int status = ::pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream in(err_file);
    std::stringstream ss;
    ss << in.rdbuf();
    r.err = ss.str();
    return r;
}

// Sends raw bytes to 127.0.0.1:port and returns everything the server answers (until it
// closes or 3 s pass).
std::string raw_request(int port, const std::string& bytes);

}  // namespace tenex::daemon::test
