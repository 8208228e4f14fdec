// Clones from real git servers on loopback (see git_servers.hpp). The policy allows git://
// and http:// for 127.0.0.1 only, as an operator's test config would.
#include "project/clone.hpp"
#include "environment.hpp"
#include "git_servers.hpp"
#include "project/workspace.hpp"
#include "project/workspace_manager.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include <unistd.h>

namespace tenex::project {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test::run;

std::string read(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Everything in `dir` (names only), to prove a failed clone left nothing behind.
std::vector<std::string> entries(const fs::path& dir) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
        out.push_back(e.path().filename().string());
    return out;
}

bool git(const std::vector<std::string>& args, const fs::path& cwd) {
    std::vector<std::string> argv = {"git",
                                     "-c",
                                     "user.name=t",
                                     "-c",
                                     "user.email=t@example.com",
                                     "-c",
                                     "init.defaultBranch=main",
                                     "-c",
                                     "protocol.file.allow=always"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string out;
    const int rc = run(argv, cwd, &out);
    if (rc != 0) ADD_FAILURE() << "git failed: " << out;
    return rc == 0;
}

// The served bare repositories, built once and shared by every test process (ctest runs
// each test in its own process): <tmp>/tenex-git-fixtures-<version>-<uid>, created in a
// scratch directory and renamed into place, so a half-built cache never exists.
fs::path served_repos() {
    const fs::path cache =
        fs::temp_directory_path() / ("tenex-git-fixtures-v2-" + std::to_string(::getuid()));
    if (fs::exists(cache / "READY")) return cache;
    test::TempDir scratch;
    const fs::path root = scratch.path();
    const fs::path served = root / "served";
    fs::create_directories(served);
    // sub.git: the would-be submodule; small.git: files plus a submodule entry.
    const fs::path sub = root / "sub";
    fs::create_directories(sub);
    git({"init", "-q"}, sub);
    std::ofstream(sub / "from-submodule.txt") << "must not be fetched\n";
    git({"add", "."}, sub);
    git({"commit", "-q", "-m", "sub"}, sub);
    git({"clone", "-q", "--bare", sub.string(), (served / "sub.git").string()}, root);

    const fs::path small = root / "small";
    fs::create_directories(small / "src");
    git({"init", "-q"}, small);
    std::ofstream(small / "README.md") << "# small\n";
    std::ofstream(small / "src" / "main.cpp") << "int main() {}\n";
    std::ofstream(small / ".gitignore") << "build/";
    git({"submodule", "add", "-q", (served / "sub.git").string(), "libs/sub"}, small);
    git({"add", "."}, small);
    git({"commit", "-q", "-m", "small"}, small);
    git({"clone", "-q", "--bare", small.string(), (served / "small.git").string()}, root);

    // big.git: 3 MiB of incompressible data, above the 1 MiB limit of the tests.
    const fs::path big = root / "big";
    fs::create_directories(big);
    git({"init", "-q"}, big);
    {
        std::ifstream rnd("/dev/urandom", std::ios::binary);
        std::vector<char> data(3 << 20);
        rnd.read(data.data(), static_cast<std::streamsize>(data.size()));
        std::ofstream(big / "blob.bin", std::ios::binary)
            .write(data.data(), static_cast<std::streamsize>(data.size()));
    }
    git({"add", "."}, big);
    git({"commit", "-q", "-m", "big"}, big);
    git({"clone", "-q", "--bare", big.string(), (served / "big.git").string()}, root);

    // bomb.git: 24 MiB of zeros, a pack of a few KiB that expands on checkout.
    const fs::path bomb = root / "bomb";
    fs::create_directories(bomb);
    git({"init", "-q"}, bomb);
    {
        std::vector<char> zeros(24 << 20, '\0');
        std::ofstream(bomb / "zeros.bin", std::ios::binary)
            .write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
    }
    git({"add", "."}, bomb);
    git({"commit", "-q", "-m", "bomb"}, bomb);
    git({"clone", "-q", "--bare", bomb.string(), (served / "bomb.git").string()}, root);

    // shipped.git: commits its own .tenex/ with an agent key its author knows.
    const fs::path shipped = root / "shipped";
    fs::create_directories(shipped / ".tenex");
    git({"init", "-q"}, shipped);
    std::ofstream(shipped / ".tenex" / "agents.json")
        << R"({"coder": {"nsec": "nsec1plantedbytherepo", "file": "x.json", "eventId": "x"}})";
    std::ofstream(shipped / "code.txt") << "code\n";
    git({"add", "."}, shipped);
    git({"commit", "-q", "-m", "shipped"}, shipped);
    git({"clone", "-q", "--bare", shipped.string(), (served / "shipped.git").string()}, root);

    std::ofstream(served / "READY") << "ok\n";
    std::error_code ec;
    fs::rename(served, cache, ec);  // loses the race harmlessly if another process won it
    return fs::exists(cache / "READY") ? cache : fs::path();
}

class GitServers : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        std::string missing;
        for (const char* tool : {"git", "python3"})
            if (!test::tool_available(tool)) missing += std::string(" ") + tool;
        std::string exec_path;
        if (missing.empty() &&
            (run({"git", "--exec-path"}, fs::current_path(), &exec_path) != 0 ||
             !fs::exists(fs::path(exec_path.substr(0, exec_path.find('\n'))) / "git-http-backend")))
            missing += " git-http-backend";
        if (!missing.empty()) {
            skip_reason_ = new std::string("missing:" + missing);
            return;
        }
        tmp_ = new test::TempDir();
        const fs::path root = tmp_->path();

        served_ = served_repos();
        if (served_.empty()) {
            skip_reason_ = new std::string("cannot build the fixture repositories");
            return;
        }

        daemon_port_ = test::free_port();
        daemon_ = new test::Process({"git", "daemon", "--reuseaddr", "--export-all",
                                     "--listen=127.0.0.1", "--port=" + std::to_string(daemon_port_),
                                     "--base-path=" + served_.string(), served_.string()},
                                    root, root / "git-daemon.log");

        // git http-backend behind Python's CGI server: /cgi-bin/git/<repo>.
        fs::create_directories(root / "www" / "cgi-bin");
        const fs::path cgi = root / "www" / "cgi-bin" / "git";
        std::ofstream(cgi) << "#!/bin/sh\nexport GIT_PROJECT_ROOT='" << served_.string()
                           << "'\nexport GIT_HTTP_EXPORT_ALL=1\n"
                           // Python's CGI server runs scripts as nobody when started as root.
                           << "exec git -c safe.directory='*' http-backend\n";
        fs::permissions(cgi, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                 fs::perms::others_read | fs::perms::others_exec);
        http_port_ = test::free_port();
        http_ = new test::Process({"python3", "-m", "http.server", "--cgi", "--bind", "127.0.0.1",
                                   std::to_string(http_port_)},
                                  root / "www", root / "http.log");
        if (!test::wait_for_port(daemon_port_, 10000))
            skip_reason_ = new std::string("git daemon did not start");
        else if (!test::wait_for_port(http_port_, 10000))
            skip_reason_ = new std::string("python CGI server did not start");
    }

    static void TearDownTestSuite() {
        delete http_;
        delete daemon_;
        delete tmp_;
        delete skip_reason_;
        http_ = nullptr;
        daemon_ = nullptr;
        tmp_ = nullptr;
        skip_reason_ = nullptr;
    }

    void SetUp() override {
        if (skip_reason_) {
            if (test::in_ci()) FAIL() << "git servers are required in CI: " << *skip_reason_;
            GTEST_SKIP() << *skip_reason_;
        }
        projects_ = work_.path() / "projects";
        fs::create_directories(projects_);
        policy_.allow_git = true;
        policy_.allow_http = true;
        policy_.allowed_hosts = {"127.0.0.1"};
        limits_.timeout = 20s;
        limits_.max_bytes = 1 << 20;
    }

    RepoUrl url(const std::string& text) {
        auto u = validate_repo_url(text, policy_);
        EXPECT_TRUE(u.ok()) << u.error().message;
        return u.ok() ? *u : RepoUrl{};
    }
    std::string daemon_url(const std::string& repo, std::uint16_t port = 0) {
        return "git://127.0.0.1:" + std::to_string(port ? port : daemon_port_) + "/" + repo;
    }
    std::string http_url(const std::string& repo) {
        return "http://127.0.0.1:" + std::to_string(http_port_) + "/cgi-bin/git/" + repo;
    }
    void expect_nothing_left() { expect_nothing_left_in(projects_); }
    static void expect_nothing_left_in(const fs::path& dir) {
        EXPECT_EQ(entries(dir), std::vector<std::string>{})
            << "a failed clone left files behind in " << dir;
    }

    static test::TempDir* tmp_;
    static fs::path served_;
    static std::uint16_t daemon_port_;
    static std::uint16_t http_port_;
    static test::Process* daemon_;
    static test::Process* http_;
    static std::string* skip_reason_;

    test::TempDir work_;
    fs::path projects_;
    RepoPolicy policy_;
    CloneLimits limits_;
};

test::TempDir* GitServers::tmp_ = nullptr;
fs::path GitServers::served_;
std::uint16_t GitServers::daemon_port_ = 0;
std::uint16_t GitServers::http_port_ = 0;
test::Process* GitServers::daemon_ = nullptr;
test::Process* GitServers::http_ = nullptr;
std::string* GitServers::skip_reason_ = nullptr;

void expect_small_checkout(const fs::path& dest) {
    EXPECT_EQ(read(dest / "README.md"), "# small\n");
    EXPECT_EQ(read(dest / "src" / "main.cpp"), "int main() {}\n");
    EXPECT_TRUE(fs::is_directory(dest / ".git"));
    EXPECT_TRUE(fs::exists(dest / ".gitmodules"));
    // No submodules: the gitlink's directory holds nothing of sub.git.
    EXPECT_FALSE(fs::exists(dest / "libs" / "sub" / "from-submodule.txt"));
    EXPECT_FALSE(fs::exists(dest / "libs" / "sub" / ".git"));
    EXPECT_FALSE(fs::exists(dest / ".git" / "modules"));
}

TEST_F(GitServers, ClonesOverGitProtocolWithoutSubmodules) {
    const fs::path dest = projects_ / "small";
    auto st = clone_repository(url(daemon_url("small.git")), policy_, limits_, dest);
    ASSERT_TRUE(st.ok()) << st.error().message;
    expect_small_checkout(dest);
    EXPECT_EQ(entries(projects_), std::vector<std::string>{"small"});  // no temporary sibling left
}

TEST_F(GitServers, ClonesOverSmartHttp) {
    const fs::path dest = projects_ / "small";
    auto st = clone_repository(url(http_url("small.git")), policy_, limits_, dest);
    ASSERT_TRUE(st.ok()) << st.error().message;
    expect_small_checkout(dest);
}

TEST_F(GitServers, RepositoryLargerThanTheSizeLimitIsAbortedAndLeavesNothing) {
    for (const auto& u : {daemon_url("big.git"), http_url("big.git")}) {
        SCOPED_TRACE(u);
        auto st = clone_repository(url(u), policy_, limits_, projects_ / "big");
        ASSERT_FALSE(st.ok());
        EXPECT_NE(st.error().message.find("size limit"), std::string::npos) << st.error().message;
        expect_nothing_left();
    }
    limits_.max_bytes = 64 << 20;  // the same repository fits a larger limit
    auto ok = clone_repository(url(daemon_url("big.git")), policy_, limits_, projects_ / "big");
    ASSERT_TRUE(ok.ok()) << ok.error().message;
    EXPECT_EQ(fs::file_size(projects_ / "big" / "blob.bin"), 3u << 20);
}

TEST_F(GitServers, CheckoutThatWouldExpandBeyondTheLimitIsRefusedBeforeWriting) {
    limits_.max_checkout_bytes = 8 << 20;  // the pack is tiny (under max_bytes), the file is 24 MiB
    auto st = clone_repository(url(daemon_url("bomb.git")), policy_, limits_, projects_ / "bomb");
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message.find("checkout size limit"), std::string::npos)
        << st.error().message;
    expect_nothing_left();

    limits_.max_checkout_bytes = 1 << 30;
    limits_.max_checkout_files = 2;  // small.git has four files
    auto files =
        clone_repository(url(daemon_url("small.git")), policy_, limits_, projects_ / "small");
    ASSERT_FALSE(files.ok());
    EXPECT_NE(files.error().message.find("checkout size limit"), std::string::npos)
        << files.error().message;
    expect_nothing_left();

    limits_.max_checkout_files = 4;
    auto ok = clone_repository(url(daemon_url("small.git")), policy_, limits_, projects_ / "small");
    ASSERT_TRUE(ok.ok()) << ok.error().message;
}

TEST_F(GitServers, StalledServerHitsTheTimeLimitAndLeavesNothing) {
    test::TcpTrap trap(test::TcpTrap::Mode::stall);
    limits_.timeout = 2s;
    const auto start = std::chrono::steady_clock::now();
    auto st = clone_repository(url(daemon_url("small.git", trap.port())), policy_, limits_,
                               projects_ / "small");
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message.find("time limit"), std::string::npos) << st.error().message;
    EXPECT_GE(took, 2s);
    EXPECT_LT(took, 8s);
    EXPECT_GE(trap.connections(), 1);
    expect_nothing_left();
}

TEST_F(GitServers, ServerStallingMidTransferHitsTheTimeLimit) {
    test::TcpTrap trap(test::TcpTrap::Mode::stall_after, daemon_port_, 256 * 1024);
    limits_.timeout = 3s;
    limits_.max_bytes = 64 << 20;
    auto st = clone_repository(url(daemon_url("big.git", trap.port())), policy_, limits_,
                               projects_ / "big");
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message.find("time limit"), std::string::npos) << st.error().message;
    expect_nothing_left();
}

TEST_F(GitServers, ServerDroppingMidTransferLeavesNothing) {
    limits_.max_bytes = 64 << 20;
    for (const auto upstream : {daemon_port_, http_port_}) {
        test::TcpTrap trap(test::TcpTrap::Mode::drop_after, upstream, 256 * 1024);
        const std::string u =
            upstream == daemon_port_
                ? daemon_url("big.git", trap.port())
                : "http://127.0.0.1:" + std::to_string(trap.port()) + "/cgi-bin/git/big.git";
        SCOPED_TRACE(u);
        auto st = clone_repository(url(u), policy_, limits_, projects_ / "big");
        ASSERT_FALSE(st.ok());
        EXPECT_GE(trap.connections(), 1);
        expect_nothing_left();
    }
    // And the next attempt, against a healthy server, succeeds into the same place.
    auto ok = clone_repository(url(daemon_url("big.git")), policy_, limits_, projects_ / "big");
    ASSERT_TRUE(ok.ok()) << ok.error().message;
}

TEST_F(GitServers, ConnectionGuardRefusesNamesThatResolveToLoopback) {
    // "localhost" passes no URL check here (constructed directly, as a DNS-rebinding name
    // would): the stream guard still refuses the resolved 127.0.0.1.
    RepoPolicy strict;
    strict.allow_git = true;
    RepoUrl u;
    u.scheme = RepoScheme::git;
    u.host = "localhost";
    u.port = daemon_port_;
    u.path = "/small.git";
    u.clone_url = "git://localhost:" + std::to_string(daemon_port_) + "/small.git";
    u.redacted = u.clone_url;
    auto st = clone_repository(u, strict, limits_, projects_ / "small");
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message.find("loopback"), std::string::npos) << st.error().message;
    expect_nothing_left();
}

// HTTPS: libgit2's TLS stream sits on the guarded socket stream (so the address guard and
// the deadline apply), and certificates are verified (a self-signed one is refused).
TEST_F(GitServers, HttpsIsGuardedAndVerifiesCertificates) {
    if (!test::tool_available("openssl")) {
        if (test::in_ci()) FAIL() << "openssl is required in CI";
        GTEST_SKIP() << "openssl not installed";
    }
    const fs::path dir = work_.path() / "tls";
    fs::create_directories(dir);
    ASSERT_EQ(run({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem",
                   "-out", "cert.pem", "-days", "1", "-subj", "/CN=127.0.0.1"},
                  dir),
              0);
    std::ofstream(dir / "srv.py") << "import http.server, ssl, sys\n"
                                     "h = http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), "
                                     "http.server.SimpleHTTPRequestHandler)\n"
                                     "c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
                                     "c.load_cert_chain('cert.pem', 'key.pem')\n"
                                     "h.socket = c.wrap_socket(h.socket, server_side=True)\n"
                                     "h.serve_forever()\n";
    const std::uint16_t port = test::free_port();
    test::Process tls({"python3", "srv.py", std::to_string(port)}, dir, dir / "tls.log");
    ASSERT_TRUE(test::wait_for_port(port, 10000));
    const std::string https = "https://127.0.0.1:" + std::to_string(port) + "/x.git";

    auto st = clone_repository(url(https), policy_, limits_, projects_ / "tls");
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message.find("certificate"), std::string::npos) << st.error().message;
    expect_nothing_left();

    RepoPolicy strict;  // https only, no private addresses
    RepoUrl named = url(https);
    named.host = "localhost";
    named.clone_url = "https://localhost:" + std::to_string(port) + "/x.git";
    auto guarded = clone_repository(named, strict, limits_, projects_ / "tls");
    ASSERT_FALSE(guarded.ok());
    EXPECT_NE(guarded.error().message.find("loopback"), std::string::npos)
        << guarded.error().message;
    expect_nothing_left();
}

TEST_F(GitServers, DestinationThatExistsIsNotTouched) {
    fs::create_directories(projects_ / "small");
    std::ofstream(projects_ / "small" / "keep.txt") << "mine\n";
    auto st = clone_repository(url(daemon_url("small.git")), policy_, limits_, projects_ / "small");
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(read(projects_ / "small" / "keep.txt"), "mine\n");
}

TEST_F(GitServers, LeftoversOfACrashedCloneAreRemoved) {
    fs::create_directories(projects_ / ".small.tmp-crashed" / "junk");
    auto st = clone_repository(url(daemon_url("small.git")), policy_, limits_, projects_ / "small");
    ASSERT_TRUE(st.ok()) << st.error().message;
    EXPECT_EQ(entries(projects_), std::vector<std::string>{"small"});
}

TEST_F(GitServers, EnsureWorkspaceClonesOnceThenOnlyRefreshesTheLayout) {
    WorkspaceConfig config;
    config.projects_root = projects_;
    config.repo_policy = policy_;
    config.clone_limits = limits_;
    ProjectDefinition p;
    p.identifier = "small-project";
    p.owner = std::string(64, 'c');
    p.naddr = "naddr1small";
    p.description = "first";
    p.repo_url = daemon_url("small.git");
    std::vector<AgentDefinition> agents = {
        {std::string(64, '1'), "Coder", "dev", "", "code", "", ""}};
    int keys = 0;
    KeyGenerator keygen = [&]() -> Result<std::string> {
        return "nsec1k" + std::to_string(++keys);
    };

    auto first = ensure_workspace(config, p, agents, {}, keygen);
    ASSERT_TRUE(first.ok()) << first.error().message;
    EXPECT_TRUE(first->created);
    EXPECT_TRUE(first->cloned);
    EXPECT_EQ(first->path, projects_ / p.owner / "small-project");
    expect_small_checkout(first->path);
    EXPECT_EQ(read(first->path / ".gitignore"), "build/\n.tenex/\n");
    EXPECT_TRUE(fs::exists(first->path / ".tenex" / "agents.json"));

    std::ofstream(first->path / "README.md") << "local edit\n";
    p.description = "second";
    p.repo_url = daemon_url("big.git");  // a changed repo tag never replaces the checkout
    auto second = ensure_workspace(config, p, agents, {}, keygen);
    ASSERT_TRUE(second.ok()) << second.error().message;
    EXPECT_FALSE(second->created);
    EXPECT_EQ(read(first->path / "README.md"), "local edit\n");
    EXPECT_NE(read(first->path / ".tenex" / "config.json").find("second"), std::string::npos);
    EXPECT_EQ(keys, 1);
}

TEST_F(GitServers, TriggersDuringASlowCloneWaitForTheOneInitialization) {
    test::TcpTrap slow(test::TcpTrap::Mode::slow_start, daemon_port_, 1500);
    int keys = 0;
    std::mutex keys_mu;
    WorkspaceManager manager(WorkspaceConfig{projects_, policy_, limits_},
                             [&]() -> Result<std::string> {
                                 std::lock_guard lock(keys_mu);
                                 return "nsec1k" + std::to_string(++keys);
                             });
    ProjectDefinition p;
    p.identifier = "slow";
    p.owner = std::string(64, 'f');
    p.repo_url = daemon_url("small.git", slow.port());
    const std::vector<AgentDefinition> agents = {
        {std::string(64, '1'), "Coder", "", "", "", "", ""}};
    std::vector<Result<WorkspaceResult>> results(4, make_error("not run"));
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < results.size(); ++i) {
        threads.emplace_back([&, i] { results[i] = manager.ensure(p, agents, {}); });
        std::this_thread::sleep_for(100ms);  // later triggers arrive while the clone is stalled
    }
    for (auto& t : threads) t.join();
    for (const auto& r : results) {
        ASSERT_TRUE(r.ok()) << r.error().message;
        EXPECT_EQ(r->path, projects_ / p.owner / "slow");
    }
    EXPECT_EQ(slow.connections(), 1) << "the project was cloned more than once";
    EXPECT_EQ(keys, 1);
    expect_small_checkout(projects_ / p.owner / "slow");
}

TEST_F(GitServers, FailedInitializationIsRetriedOnlyAfterTheBackoff) {
    test::TcpTrap stall(test::TcpTrap::Mode::stall);
    limits_.timeout = 1s;
    WorkspaceManager manager(
        WorkspaceConfig{projects_, policy_, limits_}, [] { return Result<std::string>("nsec1x"); },
        BackoffPolicy{2s, 10s});
    ProjectDefinition p;
    p.identifier = "flaky";
    p.owner = std::string(64, 'f');
    p.repo_url = daemon_url("small.git", stall.port());
    auto first = manager.ensure(p, {}, {});
    ASSERT_FALSE(first.ok());
    EXPECT_NE(first.error().message.find("time limit"), std::string::npos) << first.error().message;
    for (int i = 0; i < 20; ++i) {  // a burst of triggers: no new clone attempts
        auto again = manager.ensure(p, {}, {});
        ASSERT_FALSE(again.ok());
        EXPECT_NE(again.error().message.find("next attempt allowed"), std::string::npos)
            << again.error().message;
    }
    EXPECT_EQ(stall.connections(), 1);
    EXPECT_EQ(manager.failures(WorkspaceManager::address_of(p)), 1);
    std::this_thread::sleep_for(2100ms);
    (void)manager.ensure(p, {}, {});
    EXPECT_EQ(stall.connections(), 2);
    expect_nothing_left_in(projects_ / p.owner);
}

TEST_F(GitServers, ARepositorysOwnTenexFolderIsNeverTrusted) {
    WorkspaceConfig config{projects_, policy_, limits_};
    ProjectDefinition p;
    p.identifier = "shipped";
    p.owner = std::string(64, 'c');
    p.repo_url = daemon_url("shipped.git");
    const std::vector<AgentDefinition> agents = {
        {std::string(64, '1'), "Coder", "", "", "", "", ""}};
    auto r = ensure_workspace(config, p, agents, {},
                              [] { return Result<std::string>("nsec1generated"); });
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(read(r->path / "code.txt"), "code\n");
    const std::string index = read(r->path / ".tenex" / "agents.json");
    EXPECT_EQ(index.find("planted"), std::string::npos) << index;
    EXPECT_NE(index.find("nsec1generated"), std::string::npos) << index;
}

TEST_F(GitServers, EnsureWorkspaceRefusesAHostileRepoWithoutCreatingAnything) {
    WorkspaceConfig config;
    config.projects_root = projects_;
    config.repo_policy = policy_;
    config.clone_limits = limits_;
    ProjectDefinition p;
    p.identifier = "evil";
    p.owner = std::string(64, 'd');
    for (const std::string bad : {"file:///etc", "ext::sh -c id", "https://10.0.0.1/x.git",
                                  "http://user:hunter2@127.0.0.1:1/x.git"}) {
        SCOPED_TRACE(bad);
        p.repo_url = bad;
        auto r = ensure_workspace(config, p, {}, {}, [] { return Result<std::string>("nsec1x"); });
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().message.find("hunter2"), std::string::npos);
        EXPECT_FALSE(fs::exists(projects_ / p.owner / "evil"));
    }
}

}  // namespace
}  // namespace tenex::project
