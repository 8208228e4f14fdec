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

#include <atomic>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include <httplib.h>

#include "attack_summary.hpp"
#include "docker/images.hpp"
#include "docker/url.hpp"
#include "e2e_fixture.hpp"
#include "node_peer.hpp"
#include "relay/store.hpp"

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

// VmRSS of a process in KiB (-1 when it is gone).
long rss_kib(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

// The highest VmRSS of a process while it lives (sampled every 20 ms).
class RssPeak {
public:
    explicit RssPeak(pid_t pid)
        : thread_([this, pid] {
              while (!stop_.load()) {
                  const long kib = rss_kib(pid);
                  long cur = peak_.load();
                  while (kib > cur && !peak_.compare_exchange_weak(cur, kib)) {}
                  std::this_thread::sleep_for(std::chrono::milliseconds(20));
              }
          }) {}
    ~RssPeak() {
        stop_ = true;
        thread_.join();
    }
    long peak_kib() const { return peak_.load(); }

private:
    std::atomic<bool> stop_{false};
    std::atomic<long> peak_{0};
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
        if (daemon_) summary().daemon_alive(daemon_->running() && http_get(http_port_, "/healthz").status == 200);
        for (const auto& m : mounts_) ::umount2(m.c_str(), MNT_DETACH);
        EndToEnd::TearDown();
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
        for (auto& e : fs::recursive_directory_iterator(ws)) (void)::chown(e.path().c_str(), 65534, 65534);
        (void)::chown(ws.c_str(), 65534, 65534);
        return ws;
    }

    nlohmann::json project_view(const std::string& address) {
        auto projects = nlohmann::json::parse(http_get(http_port_, "/projects").body, nullptr, false);
        if (projects.is_array())
            for (auto& p : projects)
                if (p.value("address", "") == address) return p;
        return nlohmann::json::object();
    }

    bool stopped(const std::string& address) {
        auto v = project_view(address);
        return !v.empty() && v.value("state", "") != "running" && v.value("state", "") != "starting" &&
               running_for(address).empty();
    }

    void sample_daemon() {
        if (daemon_ && daemon_->running()) summary().sample(daemon_->pid());
    }

    void mount_tmpfs(const fs::path& at) {
        fs::create_directories(at);
        ASSERT_EQ(::mount("tenex-attack", at.c_str(), "tmpfs", 0, "size=1m"), 0) << at << ": " << std::strerror(errno);
        mounts_.push_back(at);
        (void)::chown(at.c_str(), 65534, 65534);
    }

    std::vector<fs::path> mounts_;
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
        EXPECT_NE(check.out.find(file.string() + ":7:9: security.user: "), std::string::npos) << user << "\n" << check.out;
        if (check.exit_code == 1) summary().refused();
    }
    // The daemon refuses to start on such a policy, naming it.
    write_policy("id", "", "-0");
    daemon_ = std::make_unique<e2e::DaemonProcess>(dir_->path() / "refused.log", daemon_args({}, true));
    daemon_->start();
    const int rc = daemon_->wait(30s);
    EXPECT_NE(rc, 0);
    EXPECT_NE(daemon_->log().find("security.user"), std::string::npos) << daemon_->log();
    EXPECT_TRUE(containers().empty());
    daemon_.reset();

    // A valid policy: the sandbox's processes have no uid 0 and no gid 0, supplementary ones included.
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
        "else rm -rf /workspace/data && ln -s / /workspace/data && echo planted > /workspace/planted.txt; fi";
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
    ASSERT_TRUE(eventually([&] {
        return project_view(address).value("last_error", "").find("symbolic link") != std::string::npos;
    }, 30s)) << project_view(address).dump() << "\n" << daemon_->log();
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
    ASSERT_TRUE(eventually([&] {
        return project_view(address).value("last_error", "").find("mounted beneath it") != std::string::npos;
    }, 30s)) << project_view(address).dump() << "\n" << daemon_->log();
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
    ASSERT_TRUE(eventually([&] { return running_for(address).size() == 1; }, 60s)) << daemon_->log();
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
        {"form POST", [&] { return c.Post((path + "/stop").c_str(), httplib::Headers{{"Origin", "https://evil.example"}},
                                          "", "application/x-www-form-urlencoded"); }, 403},
        {"POST without Origin", [&] { return c.Post((path + "/stop").c_str()); }, 403},
        {"rebound GET", [&] { return c.Get(path.c_str(), httplib::Headers{{"Host", "evil.example:" + port}}); }, 421},
        {"rebound POST", [&] { return c.Post((path + "/stop").c_str(),
                                             httplib::Headers{{"Host", "evil.example:" + port}, {"X-Tenex-Request", "1"}},
                                             "", ""); }, 421},
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
                                 std::chrono::system_clock::now().time_since_epoch()).count();
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
        if (ok.message.rfind("blocked: this author's storage quota", 0) == 0) ++t.author_full;
        else if (ok.message.rfind("blocked: this relay's storage quota", 0) == 0) ++t.relay_full;
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
    EXPECT_LT(peak - baseline, kBoundKib) << "RSS " << baseline << " KiB fresh, " << peak << " KiB at the peak of the flood";

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
    EXPECT_LT(restarted - baseline, kBoundKib) << "RSS " << baseline << " KiB fresh, " << restarted
                                               << " KiB after a restart over " << total_fits << " stored events";
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
            << "RSS " << baseline << " KiB fresh, " << sampler.peak_kib() << " KiB refusing after the restart";
        std::printf("embedded relay flood: event %zu bytes, RSS fresh %ld KiB, flood peak %ld KiB, restarted %ld KiB, "
                    "refusing peak %ld KiB\n", size, baseline, peak, restarted, sampler.peak_kib());
    }
    sample_daemon();
    EXPECT_EQ(http_get(http_port_, "/healthz").status, 200);
    EXPECT_EQ(daemon_->log().find("embedded relay store: cannot"), std::string::npos) << daemon_->log();
}

}  // namespace
}  // namespace tenex::attack
