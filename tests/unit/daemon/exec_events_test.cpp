// exec, shell and events: the lifecycle event ring, the exec checks, and the operator commands
// (the built binary) against the HTTP API with a fake daemon behind it. The same commands
// against the real daemon and engine: tests/e2e/e2e_test.cpp (ExecAndEvents...).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include <httplib.h>

#include "daemon/config.hpp"
#include "daemon/event_log.hpp"
#include "daemon/http_api.hpp"
#include "docker/exec.hpp"
#include "http_fake.hpp"

namespace tenex::daemon::test {
namespace {

using namespace std::chrono_literals;
using sandbox::ProjectState;

sandbox::ProjectStatus status(ProjectState state, std::string container = "c0ffee0123456789",
                              int restarts = 0) {
    sandbox::ProjectStatus s;
    s.project = {kOwnerA, "alpha"};
    s.state = state;
    s.container_id = std::move(container);
    s.restart_count = restarts;
    return s;
}

std::vector<std::string> types(const std::vector<LifecycleEvent>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.type);
    return out;
}

TEST(EventLog, ObserveNamesTheTransitions) {
    EventLog log;
    EXPECT_TRUE(log.observe(std::nullopt, status(ProjectState::starting, "")).empty());
    auto started = log.observe(status(ProjectState::starting, ""), status(ProjectState::running));
    ASSERT_EQ(types(started), std::vector<std::string>{"started"});
    EXPECT_EQ(started[0].project, "31933:" + kOwnerA + ":alpha");
    EXPECT_EQ(started[0].container, "c0ffee012345");  // 12 characters
    // Nothing changed: nothing.
    EXPECT_TRUE(log.observe(status(ProjectState::running), status(ProjectState::running)).empty());
    // A crash: backing off, with its exit code.
    auto crashed_status = status(ProjectState::backing_off);
    crashed_status.last_exit_code = 3;
    crashed_status.last_exit_reason = sandbox::ExitReason::exit;
    auto crashed = log.observe(status(ProjectState::running), crashed_status);
    ASSERT_EQ(types(crashed), std::vector<std::string>{"crashed"});
    EXPECT_EQ(crashed[0].exit_code, 3);
    EXPECT_EQ(crashed[0].reason, "exit");
    // The automatic restart: a new container, one more restart.
    auto restarted = log.observe(crashed_status, status(ProjectState::running, "beef", 1));
    ASSERT_EQ(types(restarted), std::vector<std::string>{"restarted"});
    EXPECT_EQ(restarted[0].reason, "automatic");
    // Paused for being idle, then thawed: the same container.
    EXPECT_EQ(types(log.observe(status(ProjectState::running, "beef", 1),
                                status(ProjectState::paused, "beef", 1))),
              std::vector<std::string>{"paused"});
    EXPECT_EQ(types(log.observe(status(ProjectState::paused, "beef", 1),
                                status(ProjectState::running, "beef", 1))),
              std::vector<std::string>{"resumed"});
    // Replaced while running (an operator restart between two samples).
    EXPECT_EQ(types(log.observe(status(ProjectState::running, "beef", 1),
                                status(ProjectState::running, "cafe", 1))),
              std::vector<std::string>{"restarted"});
    // OOM: the oom event besides the state's.
    auto oom_status = status(ProjectState::backing_off, "cafe", 1);
    oom_status.last_exit_reason = sandbox::ExitReason::oom;
    oom_status.last_exit_code = 137;
    oom_status.oom_kills = 1;
    EXPECT_EQ(types(log.observe(status(ProjectState::running, "cafe", 1), oom_status)),
              (std::vector<std::string>{"crashed", "oom"}));
    // A child killed while the container runs on: an oom event and nothing else.
    auto child_oom = status(ProjectState::running, "cafe", 1);
    child_oom.oom_kills = 2;
    auto child = log.observe(status(ProjectState::running, "cafe", 1), child_oom);
    ASSERT_EQ(types(child), std::vector<std::string>{"oom"});
    EXPECT_EQ(child[0].reason, "a process of the running container");
    EXPECT_FALSE(child[0].exit_code.has_value());
    auto looping = oom_status;
    looping.state = ProjectState::crash_looping;
    looping.last_exit_reason = sandbox::ExitReason::exit;
    EXPECT_EQ(types(log.observe(oom_status, looping)), std::vector<std::string>{"crash-looping"});
    // Stopped, with the reason; a stopped project seen again is no event.
    auto stopped = status(ProjectState::stopped, "");
    stopped.last_error = "idle for 600s";
    auto s = log.observe(status(ProjectState::running), stopped);
    ASSERT_EQ(types(s), std::vector<std::string>{"stopped"});
    EXPECT_EQ(s[0].reason, "idle for 600s");
    EXPECT_TRUE(log.observe(std::nullopt, stopped).empty());
    auto failed = status(ProjectState::failed, "");
    failed.last_error = "image missing";
    EXPECT_EQ(types(log.observe(stopped, failed)), std::vector<std::string>{"failed"});
    // Everything returned was recorded, numbered in order.
    auto all = log.last(-1);
    ASSERT_EQ(all.size(), 12u);
    for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].seq, i + 1);
    EXPECT_EQ(log.last_seq(), 12u);
}

TEST(EventLog, TheRingIsBoundedAndWaitersWake) {
    EventLog log(3);
    for (int i = 0; i < 5; ++i)
        log.record({.seq = 0,
                    .at_ms = 0,
                    .type = "t" + std::to_string(i),
                    .project = "p",
                    .container = {},
                    .exit_code = {},
                    .reason = {}});
    auto kept = log.last(-1);
    ASSERT_EQ(kept.size(), 3u);
    EXPECT_EQ(kept.front().seq, 3u);
    EXPECT_EQ(kept.back().type, "t4");
    EXPECT_EQ(log.last(1).size(), 1u);
    EXPECT_EQ(log.after(4).size(), 1u);
    EXPECT_TRUE(log.last(0).empty());

    std::thread later([&] {
        std::this_thread::sleep_for(100ms);
        log.record({.seq = 0,
                    .at_ms = 0,
                    .type = "new",
                    .project = "p",
                    .container = {},
                    .exit_code = {},
                    .reason = {}});
    });
    auto t0 = std::chrono::steady_clock::now();
    auto got = log.wait_after(5, {}, 10s);
    later.join();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].type, "new");
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
    // A stop request ends a wait with nothing new.
    std::stop_source stop;
    std::thread stopper([&] {
        std::this_thread::sleep_for(50ms);
        stop.request_stop();
    });
    EXPECT_TRUE(log.wait_after(6, stop.get_token(), 10s).empty());
    stopper.join();
}

TEST(EventLog, LineAndJson) {
    LifecycleEvent e{.seq = 7,
                     .at_ms = 1700000000123,
                     .type = "stopped",
                     .project = "31933:" + kOwnerA + ":alpha",
                     .container = "0123456789ab",
                     .exit_code = 143,
                     .reason = "operator\nstop"};
    EXPECT_EQ(to_line(e), "2023-11-14T22:13:20.123Z stopped 31933:" + kOwnerA +
                              ":alpha container=0123456789ab exit=143 reason=operator stop");
    auto j = to_json(e);
    EXPECT_EQ(j["time"], "2023-11-14T22:13:20.123Z");
    EXPECT_EQ(j["exit_code"], 143);
    auto back = lifecycle_event_from_json(j);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->at_ms, e.at_ms);
    EXPECT_EQ(back->seq, 7u);
    EXPECT_EQ(to_line(*back), to_line(e));
    LifecycleEvent bare{.seq = 1,
                        .at_ms = 1700000000000,
                        .type = "started",
                        .project = "p",
                        .container = {},
                        .exit_code = {},
                        .reason = {}};
    EXPECT_EQ(to_line(bare), "2023-11-14T22:13:20.000Z started p");
    EXPECT_TRUE(to_json(bare)["exit_code"].is_null());
    EXPECT_FALSE(lifecycle_event_from_json(nlohmann::json::array()));
    EXPECT_FALSE(lifecycle_event_from_json({{"seq", 1}, {"type", "x"}, {"time", "yesterday"}}));
}

TEST(ExecUser, OnlyNumericNonRootUidGid) {
    for (auto ok : {"", "65534:65534", "1:1", "2147483647:1000"})
        EXPECT_TRUE(check_exec_user(ok)) << ok;
    for (auto root : {"0", "root", "0:0", "0:1", "1:0", "root:1", "1:root", "root:root", "00:1"}) {
        auto r = check_exec_user(root);
        ASSERT_FALSE(r) << root;
        EXPECT_NE(r.error().message.find("root"), std::string::npos)
            << root << ": " << r.error().message;
    }
    for (auto bad : {"65534", "node", "node:node", "-1:1", "+1:1", " 1:1", "1:1 ", "2147483648:1",
                     "4294967296:1", "1:2:3", ":1", "1:"})
        EXPECT_FALSE(check_exec_user(bad)) << bad;
}

TEST(DockerExec, CreateBodyNeverAddsPrivilegesAndInspectReadsTheExitCode) {
    auto body = docker::exec_create_body({.cmd = {"/tenex-probe", "id"}, .user = {}, .tty = false});
    EXPECT_EQ(body["Privileged"], false);
    EXPECT_EQ(body["AttachStdin"], false);
    EXPECT_EQ(body["AttachStdout"], true);
    EXPECT_EQ(body["AttachStderr"], true);
    EXPECT_EQ(body["Cmd"], nlohmann::json::array({"/tenex-probe", "id"}));
    EXPECT_FALSE(body.contains("User"));  // the container's user
    EXPECT_FALSE(body.contains("CapAdd"));
    body = docker::exec_create_body({.cmd = {"x"}, .user = "1000:1000", .tty = true});
    EXPECT_EQ(body["User"], "1000:1000");
    EXPECT_EQ(body["Tty"], true);

    auto done = docker::parse_exec_inspect(R"({"Running":false,"ExitCode":7,"Pid":42})");
    ASSERT_TRUE(done);
    EXPECT_EQ(done->exit_code, 7);
    auto running = docker::parse_exec_inspect(R"({"Running":true,"ExitCode":0,"Pid":42})");
    ASSERT_TRUE(running);
    EXPECT_FALSE(running->exit_code.has_value());  // no code while it runs
    EXPECT_FALSE(docker::parse_exec_inspect("[]"));
}

TEST(ExecConfig, EnabledKey) {
    auto c = parse_config("relays: [\"ws://127.0.0.1:1\"]\n", "t.yaml");
    ASSERT_TRUE(c);
    EXPECT_FALSE(c->exec_enabled.has_value());
    c = parse_config("exec:\n  enabled: false\n", "t.yaml");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->exec_enabled, std::optional<bool>(false));
    c = parse_config("exec:\n  enabled: true\n", "t.yaml");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->exec_enabled, std::optional<bool>(true));
    auto bad = parse_config("exec:\n  enabled: maybe\n", "t.yaml");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().front().key_path, "exec.enabled");
    EXPECT_FALSE(parse_config("exec:\n  enable: true\n", "t.yaml"));  // unknown key
}

class ExecEventsCli : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(std::filesystem::exists(tenex::test::tenex_binary()))
            << tenex::test::tenex_binary();
        auto idle = make_view(kOwnerA, "idle", ProjectState::stopped);
        idle.status.container_id.clear();
        control_.add_view(std::move(idle));
        start_api({.listen = "127.0.0.1:0", .events = &events_});
    }
    void start_api(HttpOptions options) {
        api_.reset();
        api_ = std::make_unique<HttpApi>(control_, metrics_, std::move(options));
        ASSERT_TRUE(api_->start());
        http_ = "127.0.0.1:" + std::to_string(api_->port());
    }
    double metric(const std::string& series) {
        const auto text = metrics_.serialize();
        auto at = text.find("\n" + series + " ");
        if (at == std::string::npos) return -1;
        return std::stod(text.substr(at + series.size() + 2));
    }
    void record(const std::string& type) {
        events_.record({.seq = 0,
                        .at_ms = 0,
                        .type = type,
                        .project = "31933:" + kOwnerA + ":alpha",
                        .container = "0123456789ab",
                        .exit_code = {},
                        .reason = {}});
    }

    FakeControl control_;
    Metrics metrics_;
    EventLog events_;
    std::unique_ptr<HttpApi> api_;
    std::string http_;
};

TEST_F(ExecEventsCli, ExecPassesOutputSeparatelyAndTheExitCode) {
    EXPECT_TRUE(api_->exec_enabled());  // loopback: on by default
    auto r =
        run({"exec", "alpha", "--http", http_, "--", "emit", "to stdout\n", "to stderr\n", "7"});
    EXPECT_EQ(r.exit_code, 7) << r.err;
    EXPECT_EQ(r.out, "to stdout\n");
    EXPECT_EQ(r.err, "to stderr\n");
    r = run({"exec", "alpha", "--http", http_, "--", "emit", "", "", "0"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    // Arguments arrive as they were, in order, whatever they hold.
    r = run({"exec", "--user", "65534:65534", "--tty", "alpha", "--http", http_, "--", "/bin/prog",
             "a b", "&cmd=x", "--user", "é", "-"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "/bin/prog\na b\n&cmd=x\n--user\né\n-\n");
    auto calls = control_.recorded();
    ASSERT_EQ(calls.size(), 3u);
    EXPECT_EQ(calls[2], "exec 31933:" + kOwnerA +
                            ":alpha user=65534:65534 tty=1 cmd=/bin/prog|a b|&cmd=x|--user|é|-|");
    EXPECT_EQ(metric("tenex_execs_total{outcome=\"completed\"}"), 3);
    EXPECT_EQ(metric("tenex_execs_total{outcome=\"refused\"}"), 0);
    // Each exec is an event: argv[0] and the user, never the arguments.
    auto kept = events_.last(-1);
    ASSERT_EQ(kept.size(), 3u);
    EXPECT_EQ(kept[0].type, "exec");
    EXPECT_EQ(kept[0].exit_code, 7);
    EXPECT_EQ(kept[2].reason, "/bin/prog as 65534:65534");
}

TEST_F(ExecEventsCli, ExecOverAUnixSocketAndAnUnreachableDaemon) {
    tenex::test::TempDir dir;
    const auto sock = (dir.path() / "api.sock").string();
    HttpApi api(control_, metrics_, HttpOptions{.listen = "unix:" + sock, .events = &events_});
    ASSERT_TRUE(api.start());
    EXPECT_TRUE(api.exec_enabled());  // a unix socket: on by default
    auto r = run({"exec", "alpha", "--http", "unix:" + sock, "--", "emit", "out\n", "err\n", "3"});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_EQ(r.out, "out\n");
    EXPECT_EQ(r.err, "err\n");
    r = run({"events", "--tail", "1", "--http", "unix:" + sock});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find(" exec 31933:" + kOwnerA +
                         ":alpha container=0123456789ab exit=3 reason=emit as the "
                         "container's user\n"),
              std::string::npos)
        << r.out;
    // No daemon: 125 and one line, like a refusal.
    r = run({"exec", "alpha", "--http",
             "127.0.0.1:" + std::to_string(tenex::test::free_loopback_port()), "--", "id"});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_NE(r.err.find("cannot reach the daemon"), std::string::npos) << r.err;
}

TEST_F(ExecEventsCli, ExecRefusals) {
    auto expect_refused = [&](std::vector<std::string> args, const std::string& message) {
        args.insert(args.begin() + 1, {"--http", http_});
        auto r = run(args);
        EXPECT_EQ(r.exit_code, 125) << r.err;
        EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
        EXPECT_TRUE(r.out.empty()) << r.out;
    };
    expect_refused({"exec", "--user", "0", "alpha", "--", "id"}, "never runs as root");
    expect_refused({"exec", "--user", "root", "alpha", "--", "id"}, "never runs as root");
    expect_refused({"exec", "--user", "1000:0", "alpha", "--", "id"}, "never runs as root");
    expect_refused({"exec", "--user", "node", "alpha", "--", "id"}, "uid:gid in numbers");
    expect_refused({"exec", "idle", "--", "id"}, "is not running (stopped)");
    expect_refused({"exec", "nope", "--", "id"}, "unknown project 'nope'");
    expect_refused({"exec", "shared", "--", "id"}, "full address");
    EXPECT_TRUE(control_.recorded().empty());  // nothing reached the daemon's side
    control_.fail_exec = true;
    expect_refused({"exec", "alpha", "--", "id"}, "exec failed: the engine said no");
    EXPECT_EQ(metric("tenex_execs_total{outcome=\"refused\"}"), 7);
    EXPECT_EQ(metric("tenex_execs_total{outcome=\"failed\"}"), 1);
    // Bad usage is the CLI's: no command.
    auto r = run({"exec", "alpha", "--http", http_});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(control_.recorded().size(), 1u);

    // Disabled by the configuration.
    control_.fail_exec = false;
    start_api({.listen = "127.0.0.1:0", .exec_enabled = false, .events = &events_});
    EXPECT_FALSE(api_->exec_enabled());
    expect_refused({"exec", "alpha", "--", "id"},
                   "exec is disabled by the daemon's configuration (exec.enabled)");
    EXPECT_EQ(control_.recorded().size(), 1u);
}

TEST_F(ExecEventsCli, ExecKeepsTheApiProtections) {
    httplib::Client c("127.0.0.1", api_->port());
    c.set_read_timeout(10, 0);
    const std::string path = "/projects/alpha/exec?cmd=id";
    const std::string own_host = "127.0.0.1:" + std::to_string(api_->port());
    auto status = [](const httplib::Result& r) { return r ? r->status : 0; };
    // Without the state-changing header, from a browser page, a rebound name, with a body,
    // by GET, with a parameter the API does not know: refused, and nothing runs.
    EXPECT_EQ(status(c.Post(path.c_str(), httplib::Headers{}, "", "")), 403);
    EXPECT_EQ(
        status(c.Post(path.c_str(),
                      httplib::Headers{{kActionHeader, "1"}, {"Origin", "http://evil.example"}}, "",
                      "")),
        403);
    EXPECT_EQ(
        status(c.Post(path.c_str(),
                      httplib::Headers{{kActionHeader, "1"},
                                       {"Host", "evil.example:" + std::to_string(api_->port())}},
                      "", "")),
        421);
    EXPECT_EQ(
        status(c.Post(path.c_str(), httplib::Headers{{kActionHeader, "1"}}, "abc", "text/plain")),
        400);
    EXPECT_EQ(status(c.Get(path.c_str())), 405);
    auto r = c.Post("/projects/alpha/exec?cmd=id&privileged=1",
                    httplib::Headers{{kActionHeader, "1"}}, "", "");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_NE(r->body.find("unknown parameter 'privileged'"), std::string::npos) << r->body;
    EXPECT_TRUE(control_.recorded().empty());
    // The same request with the header runs.
    r = c.Post(path.c_str(), httplib::Headers{{kActionHeader, "1"}, {"Host", own_host}}, "", "");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/vnd.tenex.exec-stream");
    EXPECT_EQ(r->body,
              exec_frame(kExecStdout, "id\n") + exec_frame(kExecEnd, R"({"exit_code":0})"));
}

TEST_F(ExecEventsCli, ShellRunsACommandLineWithTheShell) {
    auto r = run({"shell", "alpha", "--http", http_, "--command", "echo hi"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "/bin/sh\n-c\necho hi\n");
    r = run({"shell", "alpha", "--http", http_, "--shell", "/bin/bash", "--command", "exit 3"});
    EXPECT_EQ(r.out, "/bin/bash\n-c\nexit 3\n");
    // Interactive: the shell with stdin forwarded (no terminal here: plain streams).
    r = run({"shell", "alpha", "--http", http_, "--shell", "cat"}, "");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto calls = control_.recorded();
    EXPECT_EQ(calls.back(), "exec 31933:" + kOwnerA + ":alpha user= tty=0 cmd=cat|");
}

// exec -i: stdin reaches the process through POST /exec/{id}/stdin, EOF closes it, and the
// process's exit code comes back; over TCP and over a unix socket.
TEST_F(ExecEventsCli, ExecForwardsStdinUntilEof) {
    std::string big(100 * 1024, 'x');  // more than one request's worth
    auto r = run({"exec", "-i", "alpha", "--http", http_, "--", "cat", "4"}, "hello\n" + big);
    EXPECT_EQ(r.exit_code, 4) << r.err;
    std::string echoed;
    for (std::size_t at = 0; (at = r.out.find("in:", at)) != std::string::npos; at += 3) {
        auto next = r.out.find("in:", at + 3);
        echoed +=
            r.out.substr(at + 3, next == std::string::npos ? std::string::npos : next - at - 3);
    }
    EXPECT_EQ(echoed, "hello\n" + big);
    r = run({"exec", "-i", "alpha", "--http", http_, "--", "cat", "0"}, "");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "");

    const auto sock = (std::filesystem::temp_directory_path() /
                       ("tenex-exec-i-" + std::to_string(::getpid()) + ".sock"))
                          .string();
    HttpApi api(control_, metrics_, {.listen = "unix:" + sock, .events = &events_});
    ASSERT_TRUE(api.start());
    r = run({"exec", "-i", "alpha", "--http", "unix:" + sock, "--", "cat", "9"}, "over the socket");
    EXPECT_EQ(r.exit_code, 9) << r.err;
    EXPECT_EQ(r.out, "in:over the socket");
}

TEST_F(ExecEventsCli, ExecInputKeepsTheApiProtections) {
    httplib::Client c("127.0.0.1", api_->port());
    auto status = [](const httplib::Result& r) { return r ? r->status : 0; };
    // A started interactive exec's id, from its first frame.
    ExecRequest req{.cmd = {"cat", "0"}, .user = {}, .tty = false, .interactive = true};
    auto id = control_.exec_create("31933:" + kOwnerA + ":alpha", req);
    ASSERT_TRUE(id);
    const std::string hex_id(64, 'a');
    control_.add_exec(hex_id, req);
    const std::string path = "/exec/" + hex_id + "/stdin";
    EXPECT_EQ(status(c.Post(path.c_str(), httplib::Headers{}, "x", "text/plain")), 403);
    EXPECT_EQ(
        status(c.Post(path.c_str(),
                      httplib::Headers{{kActionHeader, "1"}, {"Origin", "http://evil.example"}},
                      "x", "text/plain")),
        403);
    EXPECT_EQ(status(c.Post(path.c_str(),
                            httplib::Headers{{kActionHeader, "1"}, {"Host", "evil.example"}}, "x",
                            "text/plain")),
              421);
    EXPECT_EQ(status(c.Post((path + "?eof=2").c_str(), httplib::Headers{{kActionHeader, "1"}}, "x",
                            "text/plain")),
              400);
    EXPECT_EQ(status(c.Post(path.c_str(), httplib::Headers{{kActionHeader, "1"}},
                            std::string(70 * 1024, 'x'), "text/plain")),
              413);
    EXPECT_EQ(control_.execs_with_input(), 0u);  // nothing above reached the exec
    EXPECT_EQ(
        status(c.Post(path.c_str(), httplib::Headers{{kActionHeader, "1"}}, "x", "text/plain")),
        204);
    EXPECT_EQ(control_.input_chunks(hex_id), 1u);
    // Unknown execs, malformed ids.
    EXPECT_EQ(status(c.Post(("/exec/" + std::string(64, 'b') + "/stdin").c_str(),
                            httplib::Headers{{kActionHeader, "1"}}, "x", "text/plain")),
              409);
    EXPECT_EQ(
        status(c.Post("/exec/../stdin", httplib::Headers{{kActionHeader, "1"}}, "x", "text/plain")),
        404);
    // Resize: numbers in range only.
    const std::string resize = "/exec/" + hex_id + "/resize";
    EXPECT_EQ(status(c.Post((resize + "?rows=40&cols=120").c_str(),
                            httplib::Headers{{kActionHeader, "1"}}, "", "")),
              204);
    EXPECT_EQ(control_.recorded().back(), "resize " + hex_id + " 40x120");
    EXPECT_EQ(status(c.Post((resize + "?rows=0&cols=120").c_str(),
                            httplib::Headers{{kActionHeader, "1"}}, "", "")),
              400);
    EXPECT_EQ(status(c.Post((resize + "?rows=x&cols=1").c_str(),
                            httplib::Headers{{kActionHeader, "1"}}, "", "")),
              400);
    // Disabled by the configuration: refused too.
    start_api({.listen = "127.0.0.1:0", .exec_enabled = false, .events = &events_});
    httplib::Client d("127.0.0.1", api_->port());
    EXPECT_EQ(
        status(d.Post(path.c_str(), httplib::Headers{{kActionHeader, "1"}}, "x", "text/plain")),
        403);
}

TEST_F(ExecEventsCli, EventsAsLinesAndJson) {
    record("started");
    record("stopped");
    auto r = run({"events", "--http", http_});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto lines = r.out;
    auto first = lines.find(" started 31933:" + kOwnerA + ":alpha container=0123456789ab\n");
    auto second = lines.find(" stopped 31933:" + kOwnerA + ":alpha container=0123456789ab\n");
    ASSERT_NE(first, std::string::npos) << r.out;
    ASSERT_NE(second, std::string::npos) << r.out;
    EXPECT_LT(first, second);
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2);
    r = run({"events", "--json", "--tail", "1", "--http", http_});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["type"], "stopped");
    EXPECT_EQ(j["seq"], 2);
    // Without an event log behind it, the endpoint does not exist.
    start_api({.listen = "127.0.0.1:0"});
    r = run({"events", "--http", http_});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("no such endpoint"), std::string::npos) << r.err;
}

// `events -f` as a child process: its stdout, line by line.
class Follower {
  public:
    explicit Follower(const std::vector<std::string>& args) {
        int fds[2];
        if (::pipe(fds) != 0) return;
        pid_ = ::fork();
        if (pid_ == 0) {
            ::dup2(fds[1], 1);
            ::close(fds[0]);
            ::close(fds[1]);
            std::vector<char*> argv;
            std::string bin = tenex::test::tenex_binary().string();
            argv.push_back(bin.data());
            std::vector<std::string> copy = args;
            for (auto& a : copy) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv(bin.c_str(), argv.data());
            ::_exit(127);
        }
        ::close(fds[1]);
        fd_ = fds[0];
        reader_ = std::thread([this] {
            char buf[4096];
            ssize_t n;
            while ((n = ::read(fd_, buf, sizeof buf)) > 0) {
                std::lock_guard lock(mu_);
                out_.append(buf, static_cast<std::size_t>(n));
            }
        });
    }
    ~Follower() { stop(); }
    std::string out() {
        std::lock_guard lock(mu_);
        return out_;
    }
    int stop() {
        int code = -1;
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int st = 0;
            ::waitpid(pid_, &st, 0);
            code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            pid_ = -1;
        }
        if (reader_.joinable()) reader_.join();
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        return code;
    }
    // Waits until the child exits by itself; its exit code.
    int wait_exit() {
        int st = 0;
        ::waitpid(pid_, &st, 0);
        pid_ = -1;
        if (reader_.joinable()) reader_.join();
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    }

  private:
    pid_t pid_{-1};
    int fd_{-1};
    std::thread reader_;
    std::mutex mu_;
    std::string out_;
};

TEST_F(ExecEventsCli, EventsFollowReceivesNewEventsLiveWithinTheFollowerCap) {
    start_api({.listen = "127.0.0.1:0", .max_followers = 1, .events = &events_});
    record("started");
    Follower follower({"events", "-f", "--http", http_});
    ASSERT_TRUE(
        wait_for([&] { return follower.out().find(" started ") != std::string::npos; }, 10s))
        << follower.out();
    record("crashed");
    ASSERT_TRUE(
        wait_for([&] { return follower.out().find(" crashed ") != std::string::npos; }, 10s))
        << follower.out();
    EXPECT_LT(follower.out().find(" started "), follower.out().find(" crashed "));
    // The one follower slot is taken: a second follower is refused, a plain listing is not.
    auto r = run({"events", "-f", "--http", http_});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("too many followers"), std::string::npos) << r.err;
    EXPECT_EQ(run({"events", "--http", http_}).exit_code, 0);
    // --tail 0 -f: only what happens from now on.
    follower.stop();
    start_api({.listen = "127.0.0.1:0", .events = &events_});
    Follower fresh({"events", "-f", "--tail", "0", "--http", http_});
    // It is following once it shows an event recorded after it started (the CLI's start-up
    // takes seconds under the sanitizers, so no fixed sleep).
    int polls = 0;
    ASSERT_TRUE(wait_for(
        [&] {
            if (polls++ % 20 == 0) record("tick");  // every 200 ms
            return fresh.out().find(" tick ") != std::string::npos;
        },
        20s))
        << fresh.out();
    record("stopped");
    ASSERT_TRUE(wait_for([&] { return fresh.out().find(" stopped ") != std::string::npos; }, 10s))
        << fresh.out();
    EXPECT_EQ(fresh.out().find(" started "), std::string::npos) << fresh.out();
    // The daemon stopping ends the follower cleanly.
    api_->stop();
    EXPECT_EQ(fresh.wait_exit(), 0);
}

}  // namespace
}  // namespace tenex::daemon::test
