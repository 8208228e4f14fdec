// The attack suite (label attack): a hostile sandbox and hostile policies against the daemon
// as shipped, started the way a user starts a project (the owner publishes a project and a
// message on the relay), on the real Docker engine. The hostile sandbox is tenex-attack
// (images/attack: Debian's busybox-static, FROM scratch) running a script per test. Each test
// states the attack, what an attacker would gain, and the outcome the daemon must give.
// At the end the suite prints one summary line: inputs tried, refused, daemon alive, and the
// daemon's peak threads, descriptors and RSS.
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <sstream>
#include <thread>

#include <httplib.h>

#include "attack_summary.hpp"
#include "btrfs_loop.hpp"
#include "common/disk_quota.hpp"
#include "docker/images.hpp"
#include "docker/url.hpp"
#include "e2e_fixture.hpp"
#include "node_peer.hpp"
#include "relay/store.hpp"
#include "unix_proxy.hpp"

namespace tenex::attack {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using e2e::eventually;
using e2e::http_get;

constexpr const char* kAttackImage = "tenex-attack:latest";

docker::DResult<std::string> ensure_attack_image(const docker::Client& client) {
    static std::mutex mu;
    static std::string built;
    std::lock_guard lock(mu);
    if (!built.empty()) return built;
    docker::BuildOptions options;
    options.tag = kAttackImage;
    auto id = docker::build_image_from_dir(client, TENEX_ATTACK_CONTEXT, options);
    if (id) built = *id;
    return id;
}

// The CLI with stdout and stderr together.
relay::testing::RunResult run_cli(const std::string& args) {
    relay::testing::RunResult r;
    FILE* p = ::popen(("'" + test::tenex_binary().string() + "' " + args + " 2>&1").c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
    const int status = ::pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// A YAML double-quoted scalar.
std::string quoted(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    return out + "\"";
}

// A field of /proc/<pid>/status ("VmRSS:" in KiB, "Threads:"); -1 when the process is gone.
long proc_status(pid_t pid, const std::string& field) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind(field, 0) == 0) return std::stol(line.substr(field.size()));
    return -1;
}
long rss_kib(pid_t pid) {
    return proc_status(pid, "VmRSS:");
}

long open_fds(pid_t pid) {
    std::error_code ec;
    long n = 0;
    for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
         !ec && it != fs::directory_iterator(); it.increment(ec))
        ++n;
    return n;
}

// The highest RSS, thread count and descriptor count of a process while it lives (sampled
// every 20 ms).
class RssPeak {
  public:
    explicit RssPeak(pid_t pid)
        : thread_([this, pid] {
              while (!stop_.load()) {
                  raise(peak_, rss_kib(pid));
                  raise(threads_, proc_status(pid, "Threads:"));
                  raise(fds_, open_fds(pid));
                  std::this_thread::sleep_for(std::chrono::milliseconds(20));
              }
          }) {}
    ~RssPeak() {
        stop_ = true;
        thread_.join();
    }
    long peak_kib() const { return peak_.load(); }
    long peak_threads() const { return threads_.load(); }
    long peak_fds() const { return fds_.load(); }

  private:
    static void raise(std::atomic<long>& peak, long v) {
        long cur = peak.load();
        while (v > cur && !peak.compare_exchange_weak(cur, v)) {
        }
    }
    std::atomic<bool> stop_{false};
    std::atomic<long> peak_{0}, threads_{0}, fds_{0};
    std::thread thread_;
};

class Attack : public e2e::EndToEnd {
  protected:
    void SetUp() override {
        EndToEnd::SetUp();
        if (HasFatalFailure() || IsSkipped()) return;
        auto image = ensure_attack_image(*docker_);
        ASSERT_TRUE(image) << image.error().describe();
    }

    void TearDown() override {
        sample_daemon();
        if (daemon_)
            summary().daemon_alive(daemon_->running() &&
                                   http_get(http_port_, "/healthz").status == 200);
        for (const auto& m : mounts_) ::umount2(m.c_str(), MNT_DETACH);
        EndToEnd::TearDown();
        btrfs_.reset();  // after the containers that bind its directories are gone
    }

    // The policy every project of this test gets: the attack image running `script` as
    // 65534:65534, no network, never restarted, plus `extra` YAML (top-level keys).
    void write_policy(const std::string& script, const std::string& extra = "",
                      const std::string& user = "65534:65534") {
        std::ofstream(dir_->path() / "policies" / "default.yaml")
            << "image: " << kAttackImage << "\n"
            << "args: [" << quoted(script) << "]\n"
            << "resources: {memory: 32Mi, cpus: 0.25, pids: 32, nofile: 256}\n"
            << "network: {mode: none}\n"
            << "lifecycle: {restart: never, stop_timeout: 2s}\n"
            << "security:\n  user: " << quoted(user) << "\n  read_only_root: true\n"
            << "  tmpfs: {/tmp: 8Mi}\n"
            << extra;
    }

    // The project directory the daemon lays out for `d` (projects/<owner hex>/<d>), made
    // ahead and owned by the sandbox's uid, as the runtime issue will make every workspace
    // (today the daemon leaves it to root, so a sandbox could not write it at all).
    fs::path prepare_workspace(const std::string& d, const std::vector<std::string>& dirs = {}) {
        const fs::path ws = dir_->path() / "projects" / owner_->pub.hex() / d;
        fs::create_directories(ws);
        for (const auto& sub : dirs) fs::create_directories(ws / sub);
        for (auto& e : fs::recursive_directory_iterator(ws))
            EXPECT_EQ(::chown(e.path().c_str(), 65534, 65534), 0) << e.path();
        EXPECT_EQ(::chown(ws.c_str(), 65534, 65534), 0) << ws;
        return ws;
    }

    nlohmann::json project_view(const std::string& address) {
        auto projects =
            nlohmann::json::parse(http_get(http_port_, "/projects").body, nullptr, false);
        if (projects.is_array())
            for (auto& p : projects)
                if (p.value("address", "") == address) return p;
        return nlohmann::json::object();
    }

    bool stopped(const std::string& address) {
        auto v = project_view(address);
        return !v.empty() && v.value("state", "") != "running" &&
               v.value("state", "") != "starting" && running_for(address).empty();
    }

    void sample_daemon() {
        if (daemon_ && daemon_->running()) summary().sample(daemon_->pid());
    }

    void mount_tmpfs(const fs::path& at) {
        fs::create_directories(at);
        ASSERT_EQ(::mount("tenex-attack", at.c_str(), "tmpfs", 0, "size=1m"), 0)
            << at << ": " << std::strerror(errno);
        mounts_.push_back(at);
        EXPECT_EQ(::chown(at.c_str(), 65534, 65534), 0) << at;
    }

    std::vector<fs::path> mounts_;
    std::unique_ptr<test::BtrfsLoop> btrfs_;  // a btrfs projects path, when a test makes one
};

// Escape 1. A policy author (or a policy file an attacker can edit) asks for root in a
// spelling the old check let through: runc reads "-0" as 0, an image can name uid 0 anything
// ("toor"), and gid 0 gives root's group. Outcome: `policy check` refuses each, naming the
// file, line and key; `up` refuses to start with such a policy; no container ever runs.
TEST_F(Attack, UidOrGidZeroInAnySpellingIsRefusedBeforeAnythingRuns) {
    const fs::path file = dir_->path() / "policies" / "default.yaml";
    for (const std::string user : {"-0", "-0:1000", "+0:1000", "0", "00:1000", "1000:0", "1000:-0",
                                   "0x0:1000", "toor", "toor:toor", "root", "1000", " 0:1000"}) {
        write_policy("id", "", user);
        summary().tried();
        auto check = run_cli("policy check '" + file.string() + "'");
        EXPECT_EQ(check.exit_code, 1) << user << "\n" << check.out;
        EXPECT_NE(check.out.find(file.string() + ":7:9: security.user: "), std::string::npos)
            << user << "\n"
            << check.out;
        if (check.exit_code == 1) summary().refused();
    }
    // The daemon refuses to start on such a policy, naming it.
    write_policy("id", "", "-0");
    daemon_ =
        std::make_unique<e2e::DaemonProcess>(dir_->path() / "refused.log", daemon_args({}, true));
    daemon_->start();
    const int rc = daemon_->wait(30s);
    EXPECT_NE(rc, 0);
    EXPECT_NE(daemon_->log().find("security.user"), std::string::npos) << daemon_->log();
    EXPECT_TRUE(containers().empty());
    daemon_.reset();

    // A valid policy: the sandbox's processes have no uid 0 and no gid 0, supplementary ones
    // included.
    write_policy("id > /workspace/id.txt", "");
    const fs::path ws = prepare_workspace("e2e-uid");
    start_daemon();
    const std::string address = publish_project(*owner_, "uid");
    publish_message(*owner_, address, "who are you");
    ASSERT_TRUE(eventually([&] { return fs::exists(ws / "id.txt"); }, 60s)) << daemon_->log();
    const std::string id = read_file(ws / "id.txt");
    EXPECT_NE(id.find("uid=65534 gid=65534"), std::string::npos) << id;
    EXPECT_EQ(id.find("=0("), std::string::npos) << id;
    EXPECT_EQ(id.find(",0"), std::string::npos) << id;
}

// Escape 2. The sandbox replaces a directory of its workspace that a policy mounts with a link
// to the host's / between two runs (a cloned repository can commit the same link). The old
// daemon handed that path to the engine, which mounted the host's / with its Docker socket
// into the next run. Outcome: the next start is refused with the reason (visible in
// /projects), no container of the project runs, and the sandbox never sees the host.
TEST_F(Attack, AMountSourceReplacedByALinkToTheHostIsNeverMounted) {
    const std::string script =
        "if [ -e /data/etc/hostname ] || [ -S /data/var/run/docker.sock ]; then "
        "  ls /data > /workspace/escaped.txt; "
        "else rm -rf /workspace/data && ln -s / /workspace/data && echo planted > "
        "/workspace/planted.txt; fi";
    write_policy(script, "mounts:\n  - {source: data, target: /data, read_only: false}\n");
    const fs::path ws = prepare_workspace("e2e-link", {"data"});
    start_daemon();
    const std::string address = publish_project(*owner_, "link");
    publish_message(*owner_, address, "first run: plant the link");
    ASSERT_TRUE(eventually([&] { return fs::exists(ws / "planted.txt"); }, 60s)) << daemon_->log();
    ASSERT_TRUE(fs::is_symlink(ws / "data"));
    ASSERT_TRUE(eventually([&] { return stopped(address); }, 30s)) << project_view(address).dump();

    summary().tried();
    publish_message(*owner_, address, "second run: would mount the host");
    ASSERT_TRUE(eventually(
        [&] {
            return project_view(address).value("last_error", "").find("symbolic link") !=
                   std::string::npos;
        },
        30s))
        << project_view(address).dump() << "\n"
        << daemon_->log();
    summary().refused();
    EXPECT_TRUE(running_for(address).empty());
    std::this_thread::sleep_for(2s);
    EXPECT_FALSE(fs::exists(ws / "escaped.txt")) << read_file(ws / "escaped.txt");
    for (const auto& c : containers()) {
        auto info = docker::inspect_container(*docker_, c.id);
        ASSERT_TRUE(info);
        for (const auto& m : info->spec.mounts)
            EXPECT_EQ(m.source.rfind((dir_->path() / "projects").string(), 0), 0u) << m.source;
    }
    EXPECT_EQ(http_get(http_port_, "/healthz").status, 200);
}

// Escape 2, the read-only half: the engine's read-only bind (API 1.41) is not recursive, so a
// mount point beneath a read-only source stays writable inside. Outcome: such a mount is
// refused with the reason, and nothing is written through it.
TEST_F(Attack, AReadOnlyMountWithASubmountIsRefused) {
    write_policy("echo written > /ro/sub/x; echo ran > /workspace/ran.txt",
                 "mounts:\n  - {source: ro, target: /ro, read_only: true}\n");
    const fs::path ws = prepare_workspace("e2e-ro", {"ro"});
    mount_tmpfs(ws / "ro" / "sub");
    if (HasFatalFailure()) return;
    start_daemon();
    const std::string address = publish_project(*owner_, "ro");
    summary().tried();
    publish_message(*owner_, address, "write through the submount");
    ASSERT_TRUE(eventually(
        [&] {
            return project_view(address).value("last_error", "").find("mounted beneath it") !=
                   std::string::npos;
        },
        30s))
        << project_view(address).dump() << "\n"
        << daemon_->log();
    summary().refused();
    std::this_thread::sleep_for(2s);
    EXPECT_FALSE(fs::exists(ws / "ro" / "sub" / "x"));
    EXPECT_FALSE(fs::exists(ws / "ran.txt"));
}

// Held before this suite existed, kept as a test: the sandbox swaps `.tenex` for a link to a
// host directory; when the daemon lays out the project again (a newer project event), it
// writes nothing through the link and keeps running.
TEST_F(Attack, ALinkedTenexDirectoryGetsNothingWrittenOutside) {
    const fs::path outside = dir_->path() / "outside";
    fs::create_directories(outside);
    write_policy("mv /workspace/.tenex /workspace/.tenex-old && ln -s " + outside.string() +
                 " /workspace/.tenex && echo planted > /workspace/planted.txt");
    const fs::path ws = prepare_workspace("e2e-tenex");
    start_daemon();
    const std::string address = publish_project(*owner_, "tenex");
    publish_message(*owner_, address, "plant");
    ASSERT_TRUE(eventually([&] { return fs::exists(ws / "planted.txt"); }, 60s)) << daemon_->log();
    ASSERT_TRUE(eventually([&] { return stopped(address); }, 30s));
    summary().tried();
    std::this_thread::sleep_for(1100ms);  // a newer created_at than the first project event
    publish_project(*owner_, "tenex");
    publish_message(*owner_, address, "lay out again");
    std::this_thread::sleep_for(5s);
    EXPECT_TRUE(fs::is_empty(outside)) << "the daemon wrote through the link";
    if (fs::is_empty(outside)) summary().refused();
    EXPECT_EQ(http_get(http_port_, "/healthz").status, 200);
}

// Partial item: one MCP tool definition with an unterminated quote failed the whole
// project's load, so a single bad (or hostile) kind 4200 event listed by a project kept it
// from ever starting. Outcome: the project starts; its good tool is in .tenex/mcp.json; the
// broken one is left out, with the reason in the daemon's log.
TEST_F(Attack, ABrokenMcpDefinitionIsSkippedAndTheProjectStillStarts) {
    write_policy("sleep 60");
    const fs::path ws = prepare_workspace("e2e-mcp");
    start_daemon();
    auto publish_tool = [&](const std::string& name, const std::string& command) {
        nostr::UnsignedEvent u;
        u.kind = 4200;
        u.content = name;
        u.tags = {{"name", name}, {"command", command}};
        auto ev = nostr::sign_event(u, *owner_);
        EXPECT_TRUE(ev);
        publish(*ev);
        return ev ? ev->id : std::string();
    };
    const std::string good = publish_tool("Good Tool", "node server.js --stdio");
    const std::string broken = publish_tool("Broken Quote", "node 'unterminated");
    nostr::UnsignedEvent project;
    project.kind = 31933;
    project.content = "a project listing a broken tool";
    project.tags = {{"d", "e2e-mcp"}, {"title", "E2E mcp"}, {"mcp", good}, {"mcp", broken}};
    auto event = nostr::sign_event(project, *owner_);
    ASSERT_TRUE(event);
    publish(*event);
    const std::string address = "31933:" + owner_->pub.hex() + ":e2e-mcp";
    publish_message(*owner_, address, "start with your tools");
    summary().tried();
    ASSERT_TRUE(eventually([&] { return running_for(address).size() == 1; }, 60s))
        << daemon_->log();
    std::ifstream in(ws / ".tenex" / "mcp.json");
    const auto mcp = nlohmann::json::parse(in, nullptr, false);
    ASSERT_TRUE(mcp.is_object()) << "no .tenex/mcp.json";
    EXPECT_TRUE(mcp["servers"].contains("good-tool")) << mcp.dump();
    EXPECT_EQ(mcp["servers"]["good-tool"]["args"], nlohmann::json::array({"server.js", "--stdio"}));
    EXPECT_FALSE(mcp["servers"].contains("broken-quote")) << mcp.dump();
    EXPECT_NE(daemon_->log().find("broken-quote: command has an unterminated single quote"),
              std::string::npos)
        << daemon_->log();
    if (!mcp["servers"].contains("broken-quote")) summary().refused();
    EXPECT_EQ(http_get(http_port_, "/healthz").status, 200);
}

// Partial item: /workspace had no disk limit at all (512 MiB written to the host disk by one
// sandbox; resources.disk only sized the writable layer, and only on overlay2 over xfs with
// pquota). Now the projects path on btrfs makes each project directory a subvolume whose
// qgroup carries resources.disk. The test makes that file system itself (a loop-mounted image
// in its directory, mounted as the daemon's projects path). Outcome: the sandbox whose policy
// says 16 MiB gets EDQUOT ("Disk quota exceeded") writing 32 MiB into /workspace and its file
// stops near 16 MiB; another project on the same file system writes 32 MiB; the daemon stays
// healthy.
TEST_F(Attack, AWorkspacePastItsDiskLimitGetsEdquotAndOtherProjectsDoNot) {
    btrfs_ = std::make_unique<test::BtrfsLoop>(dir_->path(), 512, dir_->path() / "projects");
    TENEX_REQUIRE_BTRFS(*btrfs_);
    // The workspace the daemon makes is root's (the runtime issue will hand it to the
    // sandbox's user); the test opens a directory in it for uid 65534 once it exists.
    const std::string script =
        "until [ -w /workspace/fill ]; do sleep 0.2; done; "
        "dd if=/dev/zero of=/workspace/fill/big bs=1M count=32 conv=fsync 2>/tmp/dd.txt; "
        "echo \"dd exit $?\" >> /tmp/dd.txt; cat /tmp/dd.txt; "
        "until [ -e /workspace/fill/again ]; do sleep 0.2; done; "
        "dd if=/dev/zero of=/workspace/fill/more bs=1M count=16 conv=fsync 2>/dev/null; echo \"dd2 "
        "exit $?\"; "
        "sleep 3600";
    write_policy(script);
    std::ofstream(dir_->path() / "policies" / "quota.yaml") << "match: {d: e2e-quota}\n"
                                                            << "resources: {disk: 16Mi}\n";
    start_daemon();
    if (HasFatalFailure()) return;
    const fs::path owner_dir = dir_->path() / "projects" / owner_->pub.hex();
    auto fill = [&](const std::string& d) {
        const fs::path ws = owner_dir / d;
        EXPECT_TRUE(eventually([&] { return fs::exists(ws / ".git"); }, 60s)) << daemon_->log();
        EXPECT_TRUE(disk::probe(ws).subvolume) << ws << " is not a btrfs subvolume";
        fs::create_directories(ws / "fill");
        EXPECT_EQ(::chown((ws / "fill").c_str(), 65534, 65534), 0) << (ws / "fill");
        return ws / "fill" / "big";
    };
    auto output = [&](const std::string& d) {
        std::string out;
        eventually(
            [&] {
                out = http_get(http_port_, "/projects/" + d + "/logs").body;
                return out.find("dd exit") != std::string::npos;
            },
            60s);
        return out;
    };
    summary().tried();
    const std::string limited = publish_project(*owner_, "quota");
    const std::string other = publish_project(*owner_, "free");
    publish_message(*owner_, limited, "fill your workspace");
    publish_message(*owner_, other, "fill yours too");
    const fs::path limited_file = fill("e2e-quota");
    const fs::path other_file = fill("e2e-free");
    const std::string limited_out = output("e2e-quota");
    const std::string other_out = output("e2e-free");
    EXPECT_NE(limited_out.find("Disk quota exceeded"), std::string::npos) << limited_out << "\n"
                                                                          << daemon_->log();
    EXPECT_EQ(limited_out.find("dd exit 0"), std::string::npos) << limited_out;
    std::error_code ec;
    const auto limited_size = fs::file_size(limited_file, ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_GE(limited_size, 12u << 20);
    EXPECT_LE(limited_size, 17u << 20);
    if (limited_out.find("Disk quota exceeded") != std::string::npos && limited_size <= (17u << 20))
        summary().refused();
    EXPECT_NE(other_out.find("dd exit 0"), std::string::npos) << other_out;
    EXPECT_EQ(fs::file_size(other_file, ec), 32u << 20);

    // The policy raises the limit and the daemon reloads (SIGHUP): the running sandbox may
    // write 16 MiB more at once, without a new container.
    std::ofstream(dir_->path() / "policies" / "quota.yaml") << "match: {d: e2e-quota}\n"
                                                            << "resources: {disk: 64Mi}\n";
    const auto before = running_for(limited);
    daemon_->signal(SIGHUP);
    EXPECT_TRUE(eventually(
        [&] {
            return daemon_->log().find(
                       "e2e-quota: workspace disk limit 67108864 bytes after the policy reload") !=
                   std::string::npos;
        },
        30s))
        << daemon_->log();
    std::ofstream(limited_file.parent_path() / "again") << "go\n";
    std::string again;
    EXPECT_TRUE(eventually(
        [&] {
            again = http_get(http_port_, "/projects/e2e-quota/logs").body;
            return again.find("dd2 exit") != std::string::npos;
        },
        30s))
        << again;
    EXPECT_NE(again.find("dd2 exit 0"), std::string::npos) << again;
    EXPECT_EQ(running_for(limited).size(), 1u);
    if (!before.empty() && !running_for(limited).empty()) {
        EXPECT_EQ(running_for(limited)[0].id, before[0].id);
    }
    std::printf(
        "workspace disk limit: 16 MiB project wrote %.1f MiB then EDQUOT; unlimited project wrote "
        "%.1f MiB\n",
        static_cast<double>(limited_size) / (1 << 20),
        static_cast<double>(fs::file_size(other_file, ec)) / (1 << 20));
    EXPECT_EQ(http_get(http_port_, "/healthz").status, 200);
}

// The disk limit's hole: any user who can write a directory on btrfs may make a subvolume or
// a snapshot in it (BTRFS_IOC_SUBVOL_CREATE/_V2, BTRFS_IOC_SNAP_CREATE/_V2; Docker's default
// seccomp profile allows ioctl), and a new subvolume gets a qgroup of its own, outside the
// workspace's limit: the sandbox writes past its quota onto the host's disk. Outcome: every
// container runs with the daemon's seccomp profile, so each of those ioctls (and the same
// request with high bits set, which the kernel reads as the same ioctl) fails with EPERM,
// nothing is made, and the write that was to go into the nested subvolume stops at the
// workspace's limit with EDQUOT. Without the profile (sandbox_spec.cpp's security_opt line
// removed) "create ok" and a 32 MiB file in the nested subvolume: this test fails.
TEST_F(Attack, ANestedSubvolumeCannotEscapeTheWorkspaceDiskLimit) {
    btrfs_ = std::make_unique<test::BtrfsLoop>(dir_->path(), 512, dir_->path() / "projects");
    TENEX_REQUIRE_BTRFS(*btrfs_);
    const std::string script =
        "until [ -w /workspace/fill ]; do sleep 0.2; done; "
        "for op in create create2 snapshot snapshot2 create-hi; do /bin/subvol $op /workspace/fill "
        "nested-$op; done; "
        "t=/workspace/fill/big; [ -d /workspace/fill/nested-create ] && "
        "t=/workspace/fill/nested-create/big; "
        "dd if=/dev/zero of=$t bs=1M count=32 conv=fsync 2>/tmp/dd.txt; "
        "echo \"dd exit $? into $t\" >> /tmp/dd.txt; cat /tmp/dd.txt; sleep 3600";
    write_policy(script);
    std::ofstream(dir_->path() / "policies" / "quota.yaml") << "match: {d: e2e-nest}\n"
                                                            << "resources: {disk: 16Mi}\n";
    start_daemon();
    if (HasFatalFailure()) return;
    summary().tried();
    const std::string address = publish_project(*owner_, "nest");
    publish_message(*owner_, address, "escape your disk limit");
    const fs::path ws = dir_->path() / "projects" / owner_->pub.hex() / "e2e-nest";
    ASSERT_TRUE(eventually([&] { return fs::exists(ws / ".git"); }, 60s)) << daemon_->log();
    ASSERT_TRUE(disk::probe(ws).subvolume) << ws << " is not a btrfs subvolume";
    fs::create_directories(ws / "fill");
    EXPECT_EQ(::chown((ws / "fill").c_str(), 65534, 65534), 0) << (ws / "fill");
    std::string out;
    EXPECT_TRUE(eventually(
        [&] {
            out = http_get(http_port_, "/projects/e2e-nest/logs").body;
            return out.find("dd exit") != std::string::npos;
        },
        60s))
        << out << "\n"
        << daemon_->log();
    bool refused = true;
    for (const std::string op : {"create", "create2", "snapshot", "snapshot2", "create-hi"}) {
        const bool eperm =
            out.find(op + " failed: errno 1 (Operation not permitted)") != std::string::npos;
        EXPECT_TRUE(eperm) << op << ":\n" << out;
        EXPECT_FALSE(fs::exists(ws / "fill" / ("nested-" + op))) << op;
        refused = refused && eperm;
    }
    EXPECT_NE(out.find("Disk quota exceeded"), std::string::npos) << out;
    EXPECT_NE(out.find("into /workspace/fill/big"), std::string::npos) << out;
    std::error_code ec;
    std::uintmax_t written = 0;
    for (const auto& e : fs::recursive_directory_iterator(ws / "fill", ec))
        if (e.is_regular_file(ec)) written += e.file_size(ec);
    EXPECT_LE(written, 17u << 20) << "the sandbox wrote past its 16 MiB limit";
    if (refused && written <= (17u << 20)) summary().refused();
    std::printf("nested subvolume: 5/5 ioctls %s; %.1f MiB written under a 16 MiB limit\n",
                refused ? "refused (EPERM)" : "NOT refused",
                static_cast<double>(written) / (1 << 20));
    EXPECT_EQ(http_get(http_port_, "/healthz").status, 200);
}

// The same limit where it cannot be enforced: the project directory is a plain directory
// (made before, or on a file system without quotas the daemon can set). A sandbox that was
// promised a limit must not run without one silently. Outcome: the start is refused with the
// reason in /projects (last_error), no container runs, the directory and its data are kept,
// and `policy check` says so beforehand.
TEST_F(Attack, AWorkspaceLimitThatCannotBeEnforcedRefusesTheStart) {
    write_policy("dd if=/dev/zero of=/workspace/big bs=1M count=32; echo ran > /workspace/ran.txt");
    std::ofstream(dir_->path() / "policies" / "quota.yaml") << "match: {d: e2e-plain}\n"
                                                            << "resources: {disk: 16Mi}\n";
    const fs::path ws = prepare_workspace("e2e-plain");
    std::ofstream(ws / "keep.txt") << "data made before\n";
    auto check = run_cli("policy check --policies '" + (dir_->path() / "policies").string() +
                         "' -p '" + (dir_->path() / "projects").string() + "'");
    summary().tried();
    if (disk::probe(ws).btrfs) {  // a btrfs temp dir: the plain directory is the obstacle
        EXPECT_NE(check.out.find("plain director"), std::string::npos) << check.out;
    } else {
        EXPECT_EQ(check.exit_code, 1) << check.out;
        EXPECT_NE(check.out.find("NOT enforceable"), std::string::npos) << check.out;
    }
    start_daemon();
    if (HasFatalFailure()) return;
    const std::string address = publish_project(*owner_, "plain");
    publish_message(*owner_, address, "write without a limit");
    ASSERT_TRUE(eventually(
        [&] {
            return project_view(address).value("last_error", "").find("cannot be enforced") !=
                   std::string::npos;
        },
        30s))
        << project_view(address).dump() << "\n"
        << daemon_->log();
    summary().refused();
    EXPECT_TRUE(running_for(address).empty());
    std::this_thread::sleep_for(1s);
    EXPECT_FALSE(fs::exists(ws / "ran.txt"));
    EXPECT_FALSE(fs::exists(ws / "big"));
    EXPECT_EQ(read_file(ws / "keep.txt"), "data made before\n");
    EXPECT_EQ(http_get(http_port_, "/healthz").status, 200);
}

// Item 6, a web page in the operator's browser: a cross-site form POST to stop a project (a
// simple request: no preflight) and DNS rebinding (the page's own name resolved to 127.0.0.1,
// then read /projects). Outcome: both refused, the project keeps running, the daemon's own
// `stop` still works.
TEST_F(Attack, AWebPageCannotStopProjectsOrReadTheApi) {
    write_policy("sleep 3600");
    prepare_workspace("e2e-web");
    start_daemon();
    const std::string address = publish_project(*owner_, "web");
    publish_message(*owner_, address, "run");
    ASSERT_TRUE(eventually([&] { return running_for(address).size() == 1; }, 60s))
        << daemon_->log();
    const std::string port = std::to_string(http_port_);
    const std::string path = "/projects/" + docker::url_encode(address);
    httplib::Client c("127.0.0.1", http_port_);
    c.set_read_timeout(5, 0);
    struct Try {
        const char* what;
        std::function<httplib::Result()> send;
        int status;
    };
    const std::vector<Try> tries = {
        {"form POST",
         [&] {
             return c.Post((path + "/stop").c_str(),
                           httplib::Headers{{"Origin", "https://evil.example"}}, "",
                           "application/x-www-form-urlencoded");
         },
         403},
        {"POST without Origin", [&] { return c.Post((path + "/stop").c_str()); }, 403},
        {"rebound GET",
         [&] {
             return c.Get(path.c_str(), httplib::Headers{{"Host", "evil.example:" + port}});
         },
         421},
        {"rebound POST",
         [&] {
             return c.Post(
                 (path + "/stop").c_str(),
                 httplib::Headers{{"Host", "evil.example:" + port}, {"X-Tenex-Request", "1"}}, "",
                 "");
         },
         421},
    };
    for (const auto& t : tries) {
        summary().tried();
        auto r = t.send();
        ASSERT_TRUE(r) << t.what;
        EXPECT_EQ(r->status, t.status) << t.what << ": " << r->body;
        EXPECT_EQ(r->body.find(address), std::string::npos) << t.what;
        if (r->status == t.status) summary().refused();
    }
    EXPECT_EQ(running_for(address).size(), 1u);
    auto stop = run_cli("stop --http 127.0.0.1:" + port + " '" + address + "'");
    EXPECT_EQ(stop.exit_code, 0) << stop.out;
    EXPECT_TRUE(eventually([&] { return running_for(address).empty(); }, 30s));
}

// Issue 19, item 4. Whoever reaches the daemon's embedded relay (a sandbox with relay access,
// any local process) floods it with 400 events of 250 KB from one key, then 50 from five other
// keys. The old relay kept every event in memory and loaded them all again at start (36 ->
// 142 MiB, also after a restart): enough of that and the daemon is killed for memory.
// Outcome: the store's quotas refuse what does not fit with OK false "blocked: ..." (the
// flooder past its 8 MiB, the default; the others past a 16 MiB total, set lower here so the
// flood reaches it), nothing refused is kept, the daemon stays healthy, and its RSS never
// grows more than 32 MiB over the fresh daemon's: during the flood, after a restart on the
// same state directory, and while the restarted daemon refuses more.
TEST_F(Attack, AFloodOfLargeEventsOnTheEmbeddedRelayIsRefusedAndMemoryStaysBounded) {
    constexpr long kBoundKib = 32 * 1024;
    constexpr std::size_t kContent = 250000;
    const relay::StoreLimits defaults;
    const std::size_t total_quota = 16u << 20;
    const fs::path config = dir_->path() / "sandbox.yaml";
    std::ofstream(config) << "embedded_relay_quota:\n  max_total_size: 16Mi\n";
    start_daemon({"--config", config.string()});
    if (HasFatalFailure()) return;
    std::this_thread::sleep_for(2s);  // connected to its own relay, first heartbeat out
    const long baseline = rss_kib(daemon_->pid());
    ASSERT_GT(baseline, 0);

    const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    int serial = 0;
    auto large = [&](const nostr::Keys& keys) {
        nostr::UnsignedEvent u;
        u.kind = 1;
        char head[16];
        std::snprintf(head, sizeof head, "%08d ", serial);
        u.content = std::string(head) + std::string(kContent - std::strlen(head), 'x');
        u.created_at = now - 10000 + serial++;  // all of one width: every event the same size
        auto e = nostr::sign_event(u, keys);
        EXPECT_TRUE(e);
        return *e;
    };
    struct Tally {
        std::size_t accepted = 0, author_full = 0, relay_full = 0, other = 0;
    };
    auto send = [&](const nostr::Event& e, Tally& t) {
        summary().tried();
        auto r = pool_->publish(e, 10s).get();
        ASSERT_EQ(r.relays.size(), 1u);
        const auto& ok = r.relays[0];
        if (ok.accepted) {
            ++t.accepted;
            return;
        }
        summary().refused();
        if (ok.message.rfind("blocked: this author's storage quota", 0) == 0)
            ++t.author_full;
        else if (ok.message.rfind("blocked: this relay's storage quota", 0) == 0)
            ++t.relay_full;
        else {
            ++t.other;
            ADD_FAILURE() << "refused for another reason: " << ok.message;
        }
    };

    const auto flooder = nostr::Keys::generate();
    const std::size_t size = nostr::to_json(large(flooder)).size();
    Tally flood, others;
    std::vector<nostr::Keys> other_keys;
    for (int k = 0; k < 5; ++k) other_keys.push_back(nostr::Keys::generate());
    long peak = 0;
    {
        RssPeak sampler(daemon_->pid());
        for (int i = 0; i < 400 && !HasFatalFailure(); ++i) send(large(flooder), flood);
        for (int i = 0; i < 50 && !HasFatalFailure(); ++i) send(large(other_keys[i / 10]), others);
        std::this_thread::sleep_for(1s);
        peak = sampler.peak_kib();
    }
    sample_daemon();
    if (HasFatalFailure()) return;
    const std::size_t flooder_fits = defaults.max_author_bytes / size;
    const std::size_t total_fits = total_quota / size;
    EXPECT_EQ(flood.accepted, flooder_fits);
    EXPECT_EQ(flood.author_full, 400 - flooder_fits);
    EXPECT_EQ(others.accepted, total_fits - flooder_fits);
    EXPECT_EQ(others.relay_full, 50 - (total_fits - flooder_fits));
    EXPECT_EQ(http_get(http_port_, "/healthz").status, 200);
    EXPECT_LT(peak - baseline, kBoundKib)
        << "RSS " << baseline << " KiB fresh, " << peak << " KiB at the peak of the flood";

    // What the relay holds: exactly the accepted events (the refused ones were not kept).
    nostr::Filter mine;
    mine.authors = std::vector<std::string>{flooder.pub.hex()};
    EXPECT_EQ(pool_->fetch({mine}, 10s).get().size(), flooder_fits);

    // A restart on the same state directory: the store is indexed, not loaded.
    daemon_->terminate();
    start_daemon({"--config", config.string()});
    if (HasFatalFailure()) return;
    std::this_thread::sleep_for(2s);
    const long restarted = rss_kib(daemon_->pid());
    EXPECT_LT(restarted - baseline, kBoundKib)
        << "RSS " << baseline << " KiB fresh, " << restarted << " KiB after a restart over "
        << total_fits << " stored events";
    {
        RssPeak sampler(daemon_->pid());
        Tally again;
        for (int i = 0; i < 20 && !HasFatalFailure(); ++i) send(large(flooder), again);
        Tally fresh_key;
        const auto newcomer = nostr::Keys::generate();
        for (int i = 0; i < 20 && !HasFatalFailure(); ++i) send(large(newcomer), fresh_key);
        EXPECT_EQ(again.accepted, 0u);
        EXPECT_EQ(again.author_full, 20u);  // the quotas count what is on disk
        EXPECT_EQ(fresh_key.accepted, 0u);
        EXPECT_EQ(fresh_key.relay_full, 20u);
        std::this_thread::sleep_for(1s);
        EXPECT_LT(sampler.peak_kib() - baseline, kBoundKib)
            << "RSS " << baseline << " KiB fresh, " << sampler.peak_kib()
            << " KiB refusing after the restart";
        std::printf(
            "embedded relay flood: event %zu bytes, RSS fresh %ld KiB, flood peak %ld KiB, "
            "restarted %ld KiB, "
            "refusing peak %ld KiB\n",
            size, baseline, peak, restarted, sampler.peak_kib());
    }
    sample_daemon();
    EXPECT_EQ(http_get(http_port_, "/healthz").status, 200);
    EXPECT_EQ(daemon_->log().find("embedded relay store: cannot"), std::string::npos)
        << daemon_->log();
}

// Issue 19, partial item: a trigger that arrives while the Docker engine does not answer
// (dockerd restarting, upgraded, out of memory) was marked handled and lost: the owner's
// message never woke the project. The daemon reaches the engine through a proxy that the test
// can close (the shared engine itself is never stopped). Outcome: the daemon stays up, keeps
// the trigger (the event stays pending), says so in its log and /metrics, and starts the
// project once the engine answers again, without a new message.
TEST_F(Attack, ATriggerWhileTheEngineIsDownIsKeptAndStartsWhenItIsBack) {
    char tmp[] = "/tmp/tnx-engine-XXXXXX";  // unix socket paths are limited to 108 bytes
    ASSERT_NE(::mkdtemp(tmp), nullptr);
    const fs::path socket_dir = tmp;
    std::string address;
    {
        test::UnixProxy engine(test::docker_socket(), socket_dir / "docker.sock");
        ASSERT_TRUE(engine.ok());
        write_policy("sleep 3600");
        start_daemon({"--docker-socket", engine.path()});
        if (HasFatalFailure()) return;
        address = publish_project(*owner_, "outage");

        engine.refuse(true);
        engine.cut();
        summary().tried();
        publish_message(*owner_, address, "sent while dockerd is away");
        ASSERT_TRUE(eventually(
            [&] { return metric("tenex_triggers_total{kind=\"engine_wait\"}") >= 1; }, 60s))
            << daemon_->log();
        EXPECT_NE(daemon_->log().find("the Docker engine does not answer"), std::string::npos);
        std::this_thread::sleep_for(3s);  // at least one retry while it is still away
        EXPECT_TRUE(running_for(address).empty());
        // The API answers, and says what is wrong.
        const auto health = http_get(http_port_, "/healthz");
        EXPECT_EQ(health.status, 503);
        EXPECT_NE(health.body.find("Docker engine not reachable"), std::string::npos)
            << health.body;

        engine.refuse(false);
        ASSERT_TRUE(eventually([&] { return running_for(address).size() == 1; }, 60s))
            << project_view(address).dump() << "\n"
            << daemon_->log();
        EXPECT_GE(metric("tenex_triggers_total{kind=\"engine_retry\"}"), 1);
        // The event was handled once the project ran: a restart of the daemon does not route
        // it again (the log of the second run names no pending event). The daemon marks it in
        // the same step that logs "running in", which can come a moment after the engine
        // shows the container running: wait for that line before stopping the daemon.
        ASSERT_TRUE(eventually(
            [&] { return daemon_->log().find(" running in tenex-") != std::string::npos; }, 10s))
            << daemon_->log();
        daemon_->terminate();
        start_daemon({"--docker-socket", engine.path()});
        if (HasFatalFailure()) return;
        EXPECT_EQ(daemon_->log().find("events left pending"), std::string::npos) << daemon_->log();
        EXPECT_EQ(running_for(address).size(), 1u);
        daemon_->terminate();
    }
    std::error_code ec;
    fs::remove_all(socket_dir, ec);
    // Back on the engine's own socket (the proxy is gone): the project is adopted as it runs.
    start_daemon();
    if (HasFatalFailure()) return;
    EXPECT_EQ(running_for(address).size(), 1u);
}

// Issue 19, partial item: the OOM killer takes a child process of the sandbox (its main
// process, the one that holds the memory limit's worth of nothing, goes on): the daemon
// neither counted nor reported it, so an operator never learnt why a tool died inside.
// Outcome: the project view counts the kill (oom_kills), /metrics counts it, the owner is told
// on Nostr (kind 34013, state oom-killed), the container keeps running (same id, no restart),
// and the daemon is unaffected.
TEST_F(Attack, AChildKilledByTheOomKillerIsCountedAndReported) {
    TENEX_REQUIRE_NODE();  // nostr-tools checks the daemon's signature on what it told the owner
    // busybox tail keeps the last line in memory: /dev/zero has no newline, so it grows until
    // the kernel kills it; the shell then writes a mark and sleeps.
    write_policy("tail /dev/zero; echo survived > /tmp/mark; sleep 3600");
    start_daemon();
    if (HasFatalFailure()) return;
    const double before = metric("tenex_oom_kills_total");
    const std::string address = publish_project(*owner_, "oom");
    summary().tried();
    publish_message(*owner_, address, "eat all the memory");
    ASSERT_TRUE(eventually([&] { return project_view(address).value("oom_kills", 0) >= 1; }, 90s))
        << project_view(address).dump() << "\n"
        << daemon_->log();
    summary().refused();
    const auto view = project_view(address);
    EXPECT_EQ(view.value("state", ""), "running");
    EXPECT_EQ(view.value("restarts", -1), 0);
    ASSERT_EQ(running_for(address).size(), 1u);
    EXPECT_EQ(running_for(address)[0].id, view.value("container_id", ""));
    EXPECT_TRUE(eventually([&] { return metric("tenex_oom_kills_total") >= before + 1; }, 10s));
    EXPECT_NE(daemon_->log().find("the OOM killer killed a process"), std::string::npos);
    // The owner is told on Nostr: the project's last state (kind 34013) is oom-killed, signed
    // by the daemon's key, and nostr-tools agrees with the signature.
    const std::string daemon_pubkey =
        nlohmann::json::parse(http_get(http_port_, "/healthz").body)["pubkey"];
    nostr::Filter last;
    last.kinds = std::vector<std::uint32_t>{34013};
    last.authors = std::vector<std::string>{daemon_pubkey};
    last.tags['d'] = {address};
    std::vector<nostr::Event> kept;
    ASSERT_TRUE(eventually(
        [&] {
            kept = pool_->fetch({last}, 5s).get();
            return kept.size() == 1 &&
                   kept[0].tag_value("state") == std::optional<std::string_view>("oom-killed");
        },
        20s))
        << (kept.empty() ? std::string("none") : nostr::to_json(kept[0]));
    EXPECT_EQ(kept[0].tag_value("p"), std::optional<std::string_view>(owner_->pub.hex()));
    const fs::path file = dir_->path() / "lifecycle.jsonl";
    std::ofstream(file) << nostr::to_json(kept[0]) << "\n";
    auto verified = relay::testing::run_program(
        "node", {(test::source_dir() / "tests/interop/verify.mjs").string(), file.string()});
    EXPECT_EQ(verified.out.rfind(kept[0].id + " ok ok", 0), 0u) << verified.out;
    EXPECT_EQ(http_get(http_port_, "/healthz").status, 200);
}

// Issue 19, item 8: events whose `a` tags name projects that exist nowhere, behind a relay
// that never finishes a query (no EOSE): each load waits out its fetch timeout. They used to
// share one FIFO with every other load and start, so 40 of them delayed a real project's
// start by 113 s. Outcome: loads of projects this daemon never ran get at most half of the
// workers; a known project (its workspace exists here) starts after its own load alone (one
// fetch timeout at most, the silent relay being asked too), while the unknown loads go on.
TEST_F(Attack, LoadsOfUnknownProjectsBehindASilentRelayNeverDelayAKnownProject) {
    TENEX_REQUIRE_RELAY_PEERS();
    auto silent = relay::testing::NodeProcess::start("hostile.mjs", {"noeose"});
    ASSERT_TRUE(silent);
    write_policy("sleep 3600");
    prepare_workspace("e2e-known");
    const fs::path config = dir_->path() / "sandbox.yaml";
    std::ofstream(config) << "monitor: {events_per_second: 100, burst: 100}\n";
    start_daemon({"--config", config.string(), "--relay", silent->first_line()});
    if (HasFatalFailure()) return;
    const std::string known = publish_project(*owner_, "known");

    constexpr int kEvents = 5, kTags = 8;  // 8: the default max_projects_per_event
    for (int i = 0; i < kEvents; ++i) {
        nostr::UnsignedEvent u;
        u.kind = 1;
        u.content = "wake forty projects nobody made";
        for (int t = 0; t < kTags; ++t)
            u.tags.push_back(
                {"a", "31933:" + owner_->pub.hex() + ":missing-" + std::to_string(i * kTags + t)});
        auto ev = nostr::sign_event(u, *owner_);
        ASSERT_TRUE(ev);
        publish(*ev);
        summary().tried(kTags);
    }
    ASSERT_TRUE(eventually(
        [&] { return metric("tenex_triggers_total{kind=\"start\"}") >= kEvents * kTags; }, 20s))
        << daemon_->log();
    const auto sent = std::chrono::steady_clock::now();
    publish_message(*owner_, known, "the real project");
    ASSERT_TRUE(eventually([&] { return running_for(known).size() == 1; }, 60s)) << daemon_->log();
    const auto took = std::chrono::steady_clock::now() - sent;
    // What decides it is order, not time: when the known project runs, most unknown loads
    // have not even finished (each holds a worker for a fetch timeout; with one FIFO the known
    // one ran only after 36 or more of them).
    std::size_t unknown_done = 0;
    std::istringstream log(daemon_->log());
    for (std::string line; std::getline(log, line);)
        if (line.find(":missing-") != std::string::npos &&
            line.find("not loaded") != std::string::npos)
            ++unknown_done;
    std::printf(
        "known project running %lld ms after its message, %zu of %d unknown loads done by then\n",
        static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()),
        unknown_done, kEvents * kTags);
    EXPECT_LE(unknown_done, 8u) << daemon_->log();
    summary().refused(kEvents * kTags);
    EXPECT_EQ(http_get(http_port_, "/healthz").status, 200);
}

// Issue 19, item 3, and issue 18, from inside a sandbox: 5,000 connections at once to the
// project's own forwarder (the one to its relay gateway), held for 20 s, by the image's static
// helper (/bin/flood; the policy gives it 8,192 descriptors, its one process needs no more pids).
// The forwarder used to take a thread per connection: 2,050 threads, 166 MiB, and under a
// 1,024-descriptor limit a spinning accept, a failed /healthz and a lost start of another project.
// Outcome: at most 256 connections of the project are served at once (the rest are closed and
// counted as refused), the daemon stays under 64 threads and 96 MiB, its API answers, and
// another project starts and runs meanwhile. Measured (2 cores, Docker 20.10): 5,000 opened,
// 4,744 refused, 256 forwarded; threads 43 -> peak 49, RSS 33 -> peak 39 MiB, 806 descriptors.
TEST_F(Attack, FiveThousandConnectionsFromASandboxLeaveTheDaemonBoundedAndOthersWorking) {
    constexpr int kConnections = 5000;
    write_policy("sleep 3600");
    const std::string flood =
        "ip=$(awk '$2 == \"tenex-gateway\" {print $1; exit}' /etc/hosts); "
        "port=${TENEX_RELAYS#ws://tenex-gateway:}; port=${port%%/*}; "
        "/bin/flood $ip $port " +
        std::to_string(kConnections) + " 20 > /workspace/flood.txt 2>&1; sleep 3600";
    std::ofstream(dir_->path() / "policies" / "flood.yaml")
        << "match: {d: e2e-flood}\n"
        << "args: [" << quoted(flood) << "]\n"
        << "network: {mode: egress, relays: true}\n"
        << "resources: {nofile: 8192}\n";
    const fs::path ws = prepare_workspace("e2e-flood");
    start_daemon();
    if (HasFatalFailure()) return;
    std::this_thread::sleep_for(1s);
    const long rss_before = rss_kib(daemon_->pid());
    const long threads_before = proc_status(daemon_->pid(), "Threads:");
    const std::string address = publish_project(*owner_, "flood");
    const std::string calm = publish_project(*owner_, "calm");
    RssPeak peaks(daemon_->pid());
    summary().tried(kConnections);
    publish_message(*owner_, address, "open five thousand connections");
    ASSERT_TRUE(eventually([&] { return running_for(address).size() == 1; }, 60s))
        << daemon_->log();
    std::this_thread::sleep_for(8s);  // the connections are open now, held for 20 s

    // Meanwhile: the API answers at once and another project starts.
    const auto asked = std::chrono::steady_clock::now();
    EXPECT_EQ(http_get(http_port_, "/healthz").status, 200);
    const auto answered = std::chrono::steady_clock::now() - asked;
    publish_message(*owner_, calm, "start while the other one floods");
    EXPECT_TRUE(eventually([&] { return running_for(calm).size() == 1; }, 60s)) << daemon_->log();
    ASSERT_TRUE(eventually(
        [&] { return fs::exists(ws / "flood.txt") && fs::file_size(ws / "flood.txt") > 0; }, 60s))
        << daemon_->log();
    sample_daemon();
    const std::string result = read_file(ws / "flood.txt");
    int opened = -1, failed = -1;
    ASSERT_EQ(std::sscanf(result.c_str(), "opened %d failed %d", &opened, &failed), 2) << result;
    EXPECT_EQ(opened + failed, kConnections);
    // "opened" counts what the kernel accepted on the forwarder's backlog; the forwarder serves
    // at most 256 at once and closes what it accepts beyond that (counted as refused; a
    // connection its client gave up while still in the backlog is never seen). Read once the
    // count has settled (/metrics is refreshed every daemon tick, 2 s).
    double refused = metric("tenex_egress_connections{outcome=\"refused\"}");
    for (int i = 0; i < 10; ++i) {
        std::this_thread::sleep_for(3s);
        const double now = metric("tenex_egress_connections{outcome=\"refused\"}");
        if (now == refused) break;
        refused = now;
    }
    const double forwarded = metric("tenex_egress_connections{outcome=\"forwarded\"}");
    EXPECT_GT(refused, 0) << kConnections
                          << " connections held against a cap of 256 and none refused";
    // Every connection the kernel accepted reached the forwarder and was counted, served or
    // refused (the other project has no network: these counts are the flood's alone). How many
    // were served is not fixed: a served connection that ends frees its slot for a later one
    // (a CI run served 424 of 5,000 with the cap at 256).
    EXPECT_GE(refused + forwarded, opened);
    summary().refused(static_cast<int>(refused));
    std::printf(
        "flood from a sandbox: %d opened (kernel-accepted), %d failed, %.0f refused and %.0f "
        "forwarded by the forwarder; daemon threads %ld -> peak %ld, fds peak %ld, "
        "RSS %ld -> peak %ld KiB, /healthz answered in %lld ms\n",
        opened, failed, refused, forwarded, threads_before, peaks.peak_threads(), peaks.peak_fds(),
        rss_before, peaks.peak_kib(),
        static_cast<long long>(
            std::chrono::duration_cast<std::chrono::milliseconds>(answered).count()));
    EXPECT_LT(peaks.peak_threads(), 64);
    EXPECT_LT(peaks.peak_kib(), 96 * 1024);
    // Three descriptors per connection served (the forwarder's two, the gateway's one), 256
    // connections at most, plus what the daemon holds anyway.
    EXPECT_LT(peaks.peak_fds(), 3 * 256 + 200);
    EXPECT_EQ(http_get(http_port_, "/healthz").status, 200);
}

// Issue 19, item 7: `logs -f` followers whose clients go away (a closed terminal, a killed
// script, a web page's fetch aborted). 16 of them used to hold every worker of the API for
// more than 75 s. Outcome: each is noticed gone within moments and its thread freed: right
// after 16 abandoned ones, 16 new followers are served (at most half of the API's threads at
// once, the rest answered 503), /healthz answers, and the daemon's threads stay bounded.
TEST_F(Attack, AbandonedLogFollowersAreNoticedGoneAndTheApiKeepsAnswering) {
    constexpr int kFollowers = 16;
    write_policy("while true; do echo tick; sleep 1; done");
    start_daemon();
    if (HasFatalFailure()) return;
    const std::string address = publish_project(*owner_, "logs");
    publish_message(*owner_, address, "say tick");
    ASSERT_TRUE(eventually([&] { return running_for(address).size() == 1; }, 60s))
        << daemon_->log();
    RssPeak peaks(daemon_->pid());
    // Each follower reads its first chunk of log, then its client goes away (httplib closes
    // the connection when the receiver says stop). Returns the HTTP status (0: none).
    auto follow_once = [&] {
        httplib::Client c("127.0.0.1", http_port_);
        c.set_read_timeout(15, 0);
        bool got = false;
        auto r = c.Get("/projects/e2e-logs/logs?follow=1", [&](const char*, std::size_t) {
            got = true;
            return false;
        });
        return got ? 200 : (r ? r->status : 0);
    };
    auto wave = [&] {
        std::vector<std::future<int>> all;
        for (int i = 0; i < kFollowers; ++i)
            all.push_back(std::async(std::launch::async, follow_once));
        std::map<int, int> by_status;
        for (auto& f : all) ++by_status[f.get()];
        return by_status;
    };
    summary().tried(2 * kFollowers);
    auto first = wave();
    EXPECT_GE(first[200], 1);
    EXPECT_EQ(first[200] + first[503], kFollowers) << "statuses other than 200 and 503";
    // The abandoned ones are gone: a second wave is served like the first.
    ASSERT_TRUE(eventually([&] { return follow_once() == 200; }, 2s));
    auto second = wave();
    EXPECT_GE(second[200], 1);
    EXPECT_EQ(second[200] + second[503], kFollowers);
    summary().refused(2 * kFollowers - first[200] - second[200]);
    httplib::Client health("127.0.0.1", http_port_);
    health.set_read_timeout(1, 0);
    auto h = health.Get("/healthz");
    EXPECT_TRUE(h && h->status == 200) << "the API did not answer within 1 s";
    sample_daemon();
    std::printf(
        "abandoned followers: wave 1 %d served %d refused, wave 2 %d served %d refused; peak "
        "threads %ld\n",
        first[200], first[503], second[200], second[503], peaks.peak_threads());
    EXPECT_LT(peaks.peak_threads(), 64);
}

// Issue 19, item 7, second half: slow clients. A local process (or a web page, within its
// browser's connection limits) opens more connections than the API has worker threads (16)
// and sends each request head one byte every 2 s: every read succeeds within the old 5 s
// per-read timeout, so each connection held a worker for as long as it trickled and /healthz
// and every command waited behind them. Outcome: the API answers /healthz and /projects
// within 1 s throughout, each slow connection is closed (with 408) at its 10 s deadline, and
// the daemon's thread count does not grow with the slow clients.
TEST_F(Attack, SlowClientsNeitherBlockTheApiNorHoldItsThreads) {
    constexpr int kSlow = 24;
    start_daemon();
    if (HasFatalFailure()) return;
    const long threads_before = proc_status(daemon_->pid(), "Threads:");
    RssPeak peaks(daemon_->pid());
    std::vector<int> slow;
    for (int i = 0; i < kSlow; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<std::uint16_t>(http_port_));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0)
            << std::strerror(errno);
        slow.push_back(fd);
    }
    const auto connected = std::chrono::steady_clock::now();
    summary().tried(kSlow);
    // One byte of a head that never ends, to each, every 2 s, for 16 s (or until all are
    // closed); the sockets are looked at every 250 ms, so a close is seen when it happens and
    // not up to two trickle rounds later. The daemon answers 408 and closes: a connection
    // counts as closed from its answer, its end of stream or an error, whichever comes
    // first. Only this thread touches the slow sockets.
    std::vector<bool> closed(kSlow, false);
    std::vector<std::string> answers(kSlow);
    std::vector<std::chrono::steady_clock::duration> closed_after(kSlow);
    std::thread trickler([&] {
        const std::string head = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
        auto all_closed = [&] {
            return std::find(closed.begin(), closed.end(), false) == closed.end();
        };
        std::size_t sent = 0;
        for (int tick = 0; !all_closed() && std::chrono::steady_clock::now() - connected < 16s;
             ++tick) {
            const bool trickle = tick % 8 == 0;  // every 2 s
            for (int c = 0; c < kSlow; ++c) {
                if (closed[c]) continue;
                char buf[512];
                const ssize_t n = ::recv(slow[c], buf, sizeof buf, MSG_DONTWAIT);
                if (n > 0) answers[c].append(buf, static_cast<std::size_t>(n));
                if (n > 0 || n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
                    (trickle && ::send(slow[c], sent < head.size() ? &head[sent] : "a", 1,
                                       MSG_NOSIGNAL | MSG_DONTWAIT) < 0)) {
                    closed[c] = true;
                    closed_after[c] = std::chrono::steady_clock::now() - connected;
                }
            }
            if (trickle) ++sent;
            std::this_thread::sleep_for(250ms);
        }
    });
    // Meanwhile the operator's commands: /healthz and /projects, every second for 8 s.
    int answered = 0, asked = 0;
    for (int i = 0; i < 8; ++i) {
        std::this_thread::sleep_for(1s);
        for (const char* path : {"/healthz", "/projects"}) {
            httplib::Client c("127.0.0.1", http_port_);
            c.set_connection_timeout(1, 0);
            c.set_read_timeout(1, 0);
            ++asked;
            auto r = c.Get(path);
            if (r && r->status == 200) ++answered;
        }
    }
    const long threads_during = proc_status(daemon_->pid(), "Threads:");
    trickler.join();  // every slow connection closed, or 16 s
    int closed_in_time = 0;
    for (int c = 0; c < kSlow; ++c) {
        if (closed[c] && closed_after[c] < 13s) ++closed_in_time;
        EXPECT_TRUE(closed[c]) << "slow client " << c << " was still connected after 16 s";
        if (closed[c]) {
            EXPECT_EQ(answers[c].rfind("HTTP/1.1 408 ", 0), 0u) << answers[c];
        }
        ::close(slow[c]);
    }
    summary().refused(closed_in_time);
    sample_daemon();
    std::printf(
        "slow clients: %d of %d API requests answered within 1 s, %d of %d slow clients closed "
        "by 13 s; threads %ld before, %ld during, peak %ld\n",
        answered, asked, closed_in_time, kSlow, threads_before, threads_during,
        peaks.peak_threads());
    EXPECT_EQ(answered, asked) << "the API did not answer within 1 s while slow clients trickled";
    EXPECT_EQ(closed_in_time, kSlow);
    EXPECT_LE(peaks.peak_threads(), threads_before + 4);
    EXPECT_LT(peaks.peak_threads(), 64);
}

// Issue 19, item 5: a container on another network (an `open` project on Docker's default
// bridge, or any container there) connected to another project's forwarder and through it to
// the loopback-only relay gateway behind it. Outcome: a project's forwarders answer only
// connections that arrive on its own bridge: the project itself connects (the control, so a
// failure below is not a wrong address), the outsider's connection fails, and the forwarder
// counts no connection from it.
TEST_F(Attack, AnotherNetworkCannotReachAProjectsForwarders) {
    write_policy("sleep 3600");
    // The insider finds its gateway forwarder as the runtime would (/etc/hosts, TENEX_RELAYS),
    // writes where it is for the test, and connects once itself.
    const std::string insider =
        "ip=$(awk '$2 == \"tenex-gateway\" {print $1; exit}' /etc/hosts); "
        "port=${TENEX_RELAYS#ws://tenex-gateway:}; port=${port%%/*}; "
        "echo \"$ip $port\" > /workspace/target.txt; "
        "/bin/flood $ip $port 1 1 > /workspace/self.txt 2>&1; sleep 3600";
    const std::string outsider =
        "read ip port < /workspace/target.txt; /bin/flood $ip $port 1 1 > /workspace/out.txt 2>&1; "
        "sleep 3600";
    std::ofstream(dir_->path() / "policies" / "insider.yaml")
        << "match: {d: e2e-insider}\n"
        << "args: [" << quoted(insider) << "]\n"
        << "network: {mode: egress, relays: true}\n";
    std::ofstream(dir_->path() / "policies" / "outsider.yaml")
        << "match: {d: e2e-outsider}\n"
        << "args: [" << quoted(outsider) << "]\n"
        << "network: {mode: open}\n";
    const fs::path in_ws = prepare_workspace("e2e-insider");
    const fs::path out_ws = prepare_workspace("e2e-outsider");
    start_daemon();
    if (HasFatalFailure()) return;
    const std::string in_addr = publish_project(*owner_, "insider");
    const std::string out_addr = publish_project(*owner_, "outsider");
    publish_message(*owner_, in_addr, "find your forwarder");
    ASSERT_TRUE(eventually(
        [&] { return fs::exists(in_ws / "self.txt") && fs::file_size(in_ws / "self.txt") > 0; },
        60s))
        << daemon_->log();
    EXPECT_EQ(read_file(in_ws / "self.txt").rfind("opened 1 failed 0", 0), 0u)
        << read_file(in_ws / "self.txt");
    const std::string target = read_file(in_ws / "target.txt");
    ASSERT_NE(target.find(' '), std::string::npos) << target;
    ASSERT_TRUE(eventually(
        [&] { return metric("tenex_egress_connections{outcome=\"forwarded\"}") >= 1; }, 10s));
    const double forwarded = metric("tenex_egress_connections{outcome=\"forwarded\"}");

    std::ofstream(out_ws / "target.txt") << target;
    EXPECT_EQ(::chown((out_ws / "target.txt").c_str(), 65534, 65534), 0) << (out_ws / "target.txt");
    summary().tried(1);
    publish_message(*owner_, out_addr, "reach the other project's forwarder");
    ASSERT_TRUE(eventually(
        [&] { return fs::exists(out_ws / "out.txt") && fs::file_size(out_ws / "out.txt") > 0; },
        60s))
        << daemon_->log();
    const std::string result = read_file(out_ws / "out.txt");
    auto line = [](std::string s) { return s.substr(0, s.find('\n')); };
    std::printf("forwarder %s: from its own project \"%s\", from an open project \"%s\"\n",
                line(target).c_str(), line(read_file(in_ws / "self.txt")).c_str(),
                line(result).c_str());
    EXPECT_EQ(result.rfind("opened 0 failed 1", 0), 0u) << result;
    if (result.rfind("opened 0", 0) == 0) summary().refused(1);
    EXPECT_EQ(metric("tenex_egress_connections{outcome=\"forwarded\"}"), forwarded);
    EXPECT_EQ(http_get(http_port_, "/healthz").status, 200);
}

// Issue 19, item 8, the event itself: one event with thousands of `a` tags started a load for
// each. Outcome: an event naming more projects than monitor.max_projects_per_event (8) is
// dropped whole (too_many_projects) and loads nothing; one naming a single project thousands
// of times wakes it once (one start, one rate-limit token). 2,500 tags: about the most the
// embedded relay takes in one event (256 KiB).
TEST_F(Attack, AnEventWithThousandsOfATagsLoadsNothingOrItsOneProjectOnce) {
    constexpr int kTags = 2500;
    write_policy("sleep 3600");
    start_daemon();
    if (HasFatalFailure()) return;
    const std::string known = publish_project(*owner_, "tags");
    auto sign = [&](const std::function<std::string(int)>& address) {
        nostr::UnsignedEvent u;
        u.kind = 1;
        u.content = "wake them all";
        for (int t = 0; t < kTags; ++t) u.tags.push_back({"a", address(t)});
        auto ev = nostr::sign_event(u, *owner_);
        EXPECT_TRUE(ev);
        return *ev;
    };
    summary().tried(2 * kTags);
    publish(
        sign([&](int t) { return "31933:" + owner_->pub.hex() + ":many-" + std::to_string(t); }));
    ASSERT_TRUE(eventually(
        [&] { return metric("tenex_events_rejected_total{reason=\"too_many_projects\"}") == 1; },
        20s))
        << daemon_->log();
    EXPECT_EQ(metric("tenex_triggers_total{kind=\"start\"}"), 0);

    publish(sign([&](int) { return known; }));
    ASSERT_TRUE(eventually([&] { return running_for(known).size() == 1; }, 60s)) << daemon_->log();
    std::this_thread::sleep_for(2s);  // a second start or load would show by now
    EXPECT_EQ(metric("tenex_triggers_total{kind=\"start\"}"), 1);
    EXPECT_EQ(metric("tenex_container_starts_total"), 1);
    EXPECT_EQ(daemon_->log().find(":many-"), std::string::npos)
        << "a tag of the dropped event was loaded";
    summary().refused(2 * kTags - 1);
    EXPECT_EQ(http_get(http_port_, "/healthz").status, 200);
}

}  // namespace
}  // namespace tenex::attack
