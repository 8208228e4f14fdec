#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>

#include "docker/container_spec.hpp"
#include "environment.hpp"
#include "nostr/hex.hpp"
#include "sandbox/sandbox_spec.hpp"
#include "sandbox/seccomp_profile.hpp"

namespace tenex::sandbox {
namespace {

constexpr const char* kOwner = "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e";
constexpr const char* kOtherOwner =
    "25a23fd25ed8d99a994ba7bff2f44748acc499f6d2ae491f88499f54d69643d8";

SpecContext context(const std::string& d = "my-project", const std::string& owner = kOwner) {
    SpecContext ctx;
    ctx.project = ProjectRef{.owner = owner, .d = d};
    ctx.naddr = "naddr1example";
    ctx.project_dir = "/srv/projects/my-project";
    ctx.daemon_id = "daemon-1";
    ctx.secrets = SecretMode::redact;
    return ctx;
}

SandboxSpec build(const Policy& p, const SpecContext& ctx = context()) {
    auto s = build_sandbox_spec(p, ctx);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? *s : SandboxSpec{};
}

// Docker's name rule [a-zA-Z0-9][a-zA-Z0-9_.-]+, checked by hand: GCC 12 warns inside
// libstdc++'s std::regex when it is built with ASan.
bool valid_docker_name(const std::string& n) {
    auto alnum = [](char c) { return c > 0 && std::isalnum(static_cast<unsigned char>(c)) != 0; };
    if (n.size() < 2 || !alnum(n[0])) return false;
    return std::all_of(n.begin() + 1, n.end(),
                       [&](char c) { return alnum(c) || c == '_' || c == '.' || c == '-'; });
}

TEST(ContainerName, ReadableValidDeterministicAndUniquePerAddress) {
    const std::vector<std::string> ds{"my-project", "My Project!", "",
                                      "../../etc",  "ünïcödé-id",  std::string(300, 'x'),
                                      "a/b",        "-x-",         "."};
    std::set<std::string> names;
    for (const auto& owner : {kOwner, kOtherOwner}) {
        for (const auto& d : ds) {
            const ProjectRef ref{.owner = owner, .d = d};
            const std::string name = container_name(ref);
            EXPECT_TRUE(valid_docker_name(name)) << name;
            EXPECT_LE(name.size(), 64u) << name;
            EXPECT_EQ(name, container_name(ref));
            EXPECT_TRUE(valid_docker_name(network_name(ref))) << network_name(ref);
            names.insert(name);
        }
    }
    EXPECT_EQ(names.size(), 2 * ds.size());  // same d, other owner: another name
    const std::string readable = container_name(ProjectRef{.owner = kOwner, .d = "My Project!"});
    EXPECT_EQ(readable.substr(0, 17), "tenex-my-project-");
    EXPECT_EQ(readable.size(), 17u + 12u);
    EXPECT_EQ(container_name(ProjectRef{.owner = kOwner, .d = ""}).substr(0, 14), "tenex-project-");
}

TEST(SandboxSpec, HardenedByDefault) {
    const SandboxSpec s = build(Policy{});
    const docker::ContainerSpec& c = s.container;
    EXPECT_EQ(c.name, container_name(context().project));
    EXPECT_EQ(c.image, "tenex-runtime:latest");
    EXPECT_EQ(c.user, "1000:1000");
    EXPECT_EQ(c.working_dir, "/workspace");
    EXPECT_TRUE(c.read_only_rootfs);
    ASSERT_EQ(c.tmpfs.count("/tmp"), 1u);
    EXPECT_NE(c.tmpfs.at("/tmp").find("size=268435456"), std::string::npos);
    EXPECT_EQ(c.cap_drop, (std::vector<std::string>{"ALL"}));
    EXPECT_TRUE(c.cap_add.empty());
    // no-new-privileges, and the profile that refuses nested btrfs subvolumes (every container).
    EXPECT_EQ(c.security_opt, (std::vector<std::string>{"no-new-privileges:true",
                                                        "seccomp=" + *sandbox_seccomp_profile()}));
    EXPECT_TRUE(c.init);
    EXPECT_EQ(c.memory_bytes, 2LL << 30);
    EXPECT_EQ(c.memory_swap_bytes, c.memory_bytes);  // no swap unless set
    EXPECT_EQ(c.nano_cpus, 1'000'000'000);
    EXPECT_EQ(c.pids_limit, 512);
    ASSERT_EQ(c.ulimits.size(), 1u);
    EXPECT_EQ(c.ulimits[0], (docker::Ulimit{.name = "nofile", .soft = 4096, .hard = 4096}));
    EXPECT_EQ(c.network_mode, "none");
    EXPECT_EQ(c.stop_timeout_s, 30);
    EXPECT_TRUE(c.storage_opt.empty());
    EXPECT_TRUE(c.runtime.empty());
    // The project directory at /workspace, and nothing else from the host.
    ASSERT_EQ(c.mounts.size(), 1u);
    EXPECT_EQ(c.mounts[0], (docker::BindMount{.source = "/srv/projects/my-project",
                                              .target = "/workspace",
                                              .read_only = false}));
}

TEST(SandboxSpec, Labels) {
    const SandboxSpec s = build(Policy{});
    const auto& l = s.container.labels;
    EXPECT_EQ(l.size(), 4u);
    EXPECT_EQ(l.at("tenex.managed-by"), "tenex-sandbox");
    EXPECT_EQ(l.at("tenex.daemon"), "daemon-1");
    EXPECT_EQ(l.at("tenex.project"), std::string("31933:") + kOwner + ":my-project");
    EXPECT_EQ(l.at("tenex.policy-digest"), s.digest);
    EXPECT_TRUE(nostr::is_lower_hex(s.digest, 64)) << s.digest;
}

TEST(SandboxSpec, PlaceholdersInCommandArgsAndEnv) {
    Policy p;
    p.command = {"/bin/tenex", "--address={address}"};
    p.args = {"{naddr}", "{d}", "{owner}", "{unknown}", "{d}{d}"};
    p.env["WHO"] = "{owner}/{d}";
    const auto c = build(p).container;
    EXPECT_EQ(c.entrypoint,
              (std::vector<std::string>{"/bin/tenex",
                                        std::string("--address=31933:") + kOwner + ":my-project"}));
    EXPECT_EQ(c.cmd, (std::vector<std::string>{"naddr1example", "my-project", kOwner, "{unknown}",
                                               "my-projectmy-project"}));
    EXPECT_NE(std::find(c.env.begin(), c.env.end(), std::string("WHO=") + kOwner + "/my-project"),
              c.env.end());
    EXPECT_NE(std::find(c.env.begin(), c.env.end(), "TENEX_PROJECT_NADDR=naddr1example"),
              c.env.end());
}

TEST(SandboxSpec, NetworkModes) {
    Policy p;
    p.network.mode = NetworkMode::isolated;
    p.network.allow = {HostPort{.host = "x.y", .port = 1}};
    SandboxSpec s = build(p);
    EXPECT_EQ(s.container.network_mode, network_name(context().project));
    EXPECT_EQ(s.network.network_name, s.container.network_mode);
    EXPECT_TRUE(s.network.internal);
    EXPECT_TRUE(s.network.allow.empty());  // the allowlist only means something for egress
    // No upstream resolver the host's namespace would query for it (CVE-2024-29018).
    EXPECT_EQ(s.container.dns, std::vector<std::string>{kNoUpstreamResolver});

    p.network.mode = NetworkMode::egress;
    s = build(p);
    EXPECT_EQ(s.container.network_mode, network_name(context().project));
    EXPECT_TRUE(s.network.internal);
    EXPECT_EQ(s.network.allow, p.network.allow);
    EXPECT_EQ(s.container.dns, std::vector<std::string>{kNoUpstreamResolver});

    p.network.mode = NetworkMode::open;
    s = build(p);
    EXPECT_EQ(s.container.network_mode, "bridge");
    EXPECT_FALSE(s.network.internal);
    EXPECT_TRUE(s.network.network_name.empty());
    EXPECT_TRUE(s.container.dns.empty());  // the default bridge: the host's resolvers

    p.network.mode = NetworkMode::none;
    EXPECT_EQ(build(p).container.network_mode, "none");
}

// resources.disk limits the project directory (a btrfs qgroup the orchestrator sets before
// each start, and at once on a policy reload); it reaches the container only as the writable
// layer's size, and only where there is a writable root. With the default read-only root a
// changed limit leaves the container (and its digest) as it is: no replacement needed, and no
// StorageOpt that engines on overlay2/ext4 refuse.
TEST(SandboxSpec, DiskLimitOnAReadOnlyRootIsNotAContainerSetting) {
    Policy p;
    const auto plain = build(p);
    p.resources.disk_bytes = 16LL << 20;
    const auto limited = build(p);
    EXPECT_TRUE(limited.container.storage_opt.empty());
    EXPECT_EQ(limited.digest, plain.digest);
    p.security.read_only_root = false;
    EXPECT_EQ(build(p).container.storage_opt.at("size"), std::to_string(16LL << 20));
}

TEST(SandboxSpec, ResourcesAndSecurityFromThePolicy) {
    Policy p;
    p.resources.memory_bytes = 512LL << 20;
    p.resources.memory_swap_bytes = 1LL << 30;
    p.resources.nano_cpus = 500'000'000;
    p.resources.cpuset = "0";
    p.resources.pids = 64;
    p.resources.disk_bytes = 10'000'000'000;
    p.security.cap_add = {"CHOWN"};
    p.security.runtime = "runsc";
    p.security.read_only_root = false;
    p.lifecycle.stop_timeout = std::chrono::milliseconds(1500);
    p.mounts = {ProjectMount{.source = ".tenex/../.tenex", .target = "/config", .read_only = true}};
    const auto c = build(p).container;
    EXPECT_EQ(c.memory_bytes, 512LL << 20);
    EXPECT_EQ(c.memory_swap_bytes, 1LL << 30);
    EXPECT_EQ(c.nano_cpus, 500'000'000);
    EXPECT_EQ(c.cpuset_cpus, "0");
    EXPECT_EQ(c.pids_limit, 64);
    EXPECT_EQ(c.storage_opt.at("size"), "10000000000");
    EXPECT_EQ(c.cap_add, (std::vector<std::string>{"CHOWN"}));
    EXPECT_EQ(c.runtime, "runsc");
    EXPECT_FALSE(c.read_only_rootfs);
    EXPECT_EQ(c.stop_timeout_s, 2);  // rounded up
    ASSERT_EQ(c.mounts.size(), 2u);
    EXPECT_EQ(c.mounts[1], (docker::BindMount{.source = "/srv/projects/my-project/.tenex",
                                              .target = "/config",
                                              .read_only = true}));
}

TEST(SandboxSpec, RelativeProjectDirIsRefused) {
    SpecContext ctx = context();
    ctx.project_dir = "relative/dir";
    EXPECT_FALSE(build_sandbox_spec(Policy{}, ctx).ok());
}

TEST(SandboxSpec, DigestIsStableAndChangesWithEverythingThatShapesTheContainer) {
    const Policy base;
    const std::string d0 = build(base).digest;
    EXPECT_EQ(d0, build(base).digest);

    std::vector<std::pair<std::string, Policy>> variants;
    auto add = [&](const std::string& what, auto change) {
        Policy p = base;
        change(p);
        variants.emplace_back(what, p);
    };
    add("image", [](Policy& p) { p.image = "other:1"; });
    add("command", [](Policy& p) { p.command = {"/bin/x"}; });
    add("args", [](Policy& p) { p.args = {"x"}; });
    add("env", [](Policy& p) { p.env["A"] = "1"; });
    add("secret", [](Policy& p) { p.secrets["A"] = "/run/a"; });
    add("secret file", [](Policy& p) { p.secrets["B"] = "/run/b"; });
    add("mount", [](Policy& p) { p.mounts = {ProjectMount{.source = "a", .target = "/a"}}; });
    add("memory", [](Policy& p) { p.resources.memory_bytes = 1LL << 30; });
    add("swap", [](Policy& p) { p.resources.memory_swap_bytes = 4LL << 30; });
    add("cpus", [](Policy& p) { p.resources.nano_cpus = 2'000'000'000; });
    add("cpuset", [](Policy& p) { p.resources.cpuset = "1"; });
    add("pids", [](Policy& p) { p.resources.pids = 100; });
    add("nofile", [](Policy& p) { p.resources.nofile = 100; });
    add("disk on a writable root", [](Policy& p) {
        p.security.read_only_root = false;
        p.resources.disk_bytes = 1LL << 30;
    });
    add("network", [](Policy& p) { p.network.mode = NetworkMode::isolated; });
    add("stop timeout", [](Policy& p) { p.lifecycle.stop_timeout = std::chrono::seconds(5); });
    add("user", [](Policy& p) { p.security.user = "1001:1001"; });
    add("read only", [](Policy& p) { p.security.read_only_root = false; });
    add("tmpfs", [](Policy& p) { p.security.tmpfs["/tmp"] = 1LL << 20; });
    add("cap", [](Policy& p) { p.security.cap_add = {"KILL"}; });
    add("runtime", [](Policy& p) { p.security.runtime = "runsc"; });
    std::set<std::string> digests{d0};
    for (const auto& [what, p] : variants) {
        const std::string d = build(p).digest;
        EXPECT_NE(d, d0) << what;
        digests.insert(d);
    }
    EXPECT_EQ(digests.size(), variants.size() + 1);

    Policy egress = base;
    egress.network.mode = NetworkMode::egress;
    egress.network.allow = {HostPort{.host = "a.b", .port = 443}};
    Policy egress2 = egress;
    egress2.network.allow = {HostPort{.host = "a.b", .port = 444}};
    EXPECT_NE(build(egress).digest, build(egress2).digest);

    // Other project, other daemon, other project dir: other container, other digest.
    EXPECT_NE(build(base, context("other")).digest, d0);
    SpecContext dir = context();
    dir.project_dir = "/elsewhere";
    EXPECT_NE(build(base, dir).digest, d0);
}

class Secrets : public ::testing::Test {
  protected:
    test::TempDir dir_;
};

TEST_F(Secrets, ReadAtStartRedactedInRenderAndDigestIndependentOfTheValue) {
    const auto file = dir_.path() / "token";
    std::ofstream(file) << "s3cr3t-value\n";
    Policy p;
    p.secrets["API_KEY"] = file.string();
    SpecContext ctx = context();
    ctx.secrets = SecretMode::read;
    const SandboxSpec started = build(p, ctx);
    EXPECT_NE(std::find(started.container.env.begin(), started.container.env.end(),
                        "API_KEY=s3cr3t-value"),
              started.container.env.end());
    const SandboxSpec rendered = build(p, context());
    EXPECT_NE(std::find(rendered.container.env.begin(), rendered.container.env.end(),
                        "API_KEY=" + redacted_secret(file.string())),
              rendered.container.env.end());
    EXPECT_EQ(started.digest, rendered.digest);
    const std::string body =
        docker::to_create_body(rendered.container, docker::kClientMinApi).dump();
    EXPECT_EQ(body.find("s3cr3t"), std::string::npos);
    std::ofstream(file) << "another-value\n";
    EXPECT_EQ(build(p, ctx).digest,
              started.digest);  // rotating a secret's value is not a new policy
}

TEST_F(Secrets, MissingSecretFileFailsWithoutLeakingAnything) {
    Policy p;
    p.secrets["API_KEY"] = (dir_.path() / "missing").string();
    SpecContext ctx = context();
    ctx.secrets = SecretMode::read;
    auto s = build_sandbox_spec(p, ctx);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().message,
              "secret API_KEY: cannot read " + (dir_.path() / "missing").string());
}

TEST(SandboxSpec, RendersToACreateBodyWithTheHardening) {
    Policy p;
    p.network.mode = NetworkMode::egress;
    p.network.allow = {HostPort{.host = "relay.tenex.chat", .port = 443}};
    const SandboxSpec s = build(p);
    const nlohmann::json body = docker::to_create_body(s.container, docker::kClientMinApi);
    EXPECT_EQ(body.at("Image"), "tenex-runtime:latest");
    EXPECT_EQ(body.at("User"), "1000:1000");
    EXPECT_EQ(body.at("WorkingDir"), "/workspace");
    EXPECT_EQ(body.at("Labels").at("tenex.policy-digest"), s.digest);
    const auto& hc = body.at("HostConfig");
    EXPECT_EQ(hc.at("Memory"), 2LL << 30);
    EXPECT_EQ(hc.at("MemorySwap"), 2LL << 30);
    EXPECT_EQ(hc.at("NanoCpus"), 1'000'000'000);
    EXPECT_EQ(hc.at("PidsLimit"), 512);
    EXPECT_EQ(hc.at("ReadonlyRootfs"), true);
    EXPECT_EQ(hc.at("CapDrop"), nlohmann::json::array({"ALL"}));
    ASSERT_EQ(hc.at("SecurityOpt").size(), 2u);
    EXPECT_EQ(hc.at("SecurityOpt")[0], "no-new-privileges:true");
    EXPECT_TRUE(hc.at("SecurityOpt")[1].get<std::string>().starts_with("seccomp={"));
    EXPECT_EQ(hc.at("Init"), true);
    EXPECT_EQ(hc.at("NetworkMode"), s.network.network_name);
    EXPECT_TRUE(hc.at("Tmpfs").contains("/tmp"));
    EXPECT_FALSE(hc.contains("Privileged") && hc.at("Privileged") == true);
    EXPECT_FALSE(hc.contains("Binds") && !hc.at("Binds").empty());
    ASSERT_EQ(hc.at("Mounts").size(), 1u);
    EXPECT_EQ(hc.at("Mounts")[0].at("Target"), "/workspace");
}

}  // namespace
}  // namespace tenex::sandbox

namespace tenex::sandbox {
namespace {

// The host escape: a policy mount whose source inside the project directory is a symbolic
// link (to / here) must never be handed to the engine; a read-only mount with a submount
// beneath it is refused because the engine's read-only bind would not reach the submount.
class MountSources : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ =
            std::filesystem::temp_directory_path() / ("tenex-mounts-" + std::to_string(::getpid()));
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_ / "data" / "ro");
        policy_.mounts = {ProjectMount{.source = "data", .target = "/data", .read_only = false},
                          ProjectMount{.source = "data/ro", .target = "/ro", .read_only = true}};
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::filesystem::path dir_;
    Policy policy_;
};

TEST_F(MountSources, PlainDirectoriesPass) {
    const std::string info = "1 0 8:1 / / rw - ext4 /dev/sda rw\n";
    EXPECT_TRUE(verify_mount_sources(policy_, dir_, info));
    EXPECT_TRUE(verify_mount_sources(policy_, dir_));  // this machine's real mount table
}

TEST_F(MountSources, ALinkAnywhereInTheSourceIsRefused) {
    std::filesystem::remove_all(dir_ / "data");
    std::filesystem::create_directory_symlink("/", dir_ / "data");
    auto st = verify_mount_sources(policy_, dir_, "1 0 8:1 / / rw - ext4 /dev/sda rw\n");
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().message.find("data -> /data"), std::string::npos) << st.error().message;
    EXPECT_NE(st.error().message.find("symbolic link"), std::string::npos) << st.error().message;
}

TEST_F(MountSources, AReadOnlySourceWithASubmountIsRefused) {
    const std::string info =
        "1 0 8:1 / / rw - ext4 /dev/sda rw\n"
        "2 1 0:9 / " +
        (dir_ / "data" / "ro" / "sock").string() + " rw - tmpfs tmpfs rw\n";
    auto st = verify_mount_sources(policy_, dir_, info);
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().message.find("read-only mount data/ro"), std::string::npos)
        << st.error().message;
    // The same submount under a writable mount only is no reason to refuse.
    policy_.mounts.pop_back();
    EXPECT_TRUE(verify_mount_sources(policy_, dir_, info));
}

}  // namespace
}  // namespace tenex::sandbox
