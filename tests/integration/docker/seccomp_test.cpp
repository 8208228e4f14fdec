// The sandbox's seccomp profile on the real engine (Docker 20.10 + runc + libseccomp here):
// a container running as the daemon runs it (uid 65534, no capabilities, no-new-privileges,
// the profile) cannot make a btrfs subvolume or snapshot in its workspace, which would escape
// the workspace's qgroup limit, in any of the four ioctls nor with high bits in the request,
// while ordinary file I/O and file ioctls work. The same container without the profile (Docker's
// default) makes one: the hole the profile closes, and proof the test can fail.
// The workspace is a subvolume of a loop-mounted btrfs the test makes (tests/support).
#include <gtest/gtest.h>

#include <filesystem>

#include "btrfs_loop.hpp"
#include "common/disk_quota.hpp"
#include "docker/containers.hpp"
#include "docker/images.hpp"
#include "docker/logs.hpp"
#include "docker_fixture.hpp"
#include "environment.hpp"
#include "sandbox/seccomp_profile.hpp"

namespace tenex::docker::test {
namespace {

namespace fs = std::filesystem;

// The attack image (images/attack): busybox and /bin/subvol (subvol.cpp).
DResult<std::string> ensure_attack_image(const Client& client) {
    BuildOptions options;
    options.tag = "tenex-attack:latest";
    return build_image_from_dir(client, TENEX_ATTACK_CONTEXT, options);
}

class Seccomp : public DockerTest {
  protected:
    void SetUp() override {
        DockerTest::SetUp();
        if (HasFatalFailure() || IsSkipped()) return;
        btrfs_ = std::make_unique<tenex::test::BtrfsLoop>(dir_.path(), 256);
        TENEX_REQUIRE_BTRFS(*btrfs_);
        auto image = ensure_attack_image(client());
        ASSERT_TRUE(image) << image.error().describe();
    }
    void TearDown() override {
        DockerTest::TearDown();  // the containers first: they bind the file system
        btrfs_.reset();
    }

    // A workspace subvolume for uid 65534, made as the daemon makes project directories.
    fs::path workspace(const std::string& name) {
        const fs::path ws = btrfs_->path() / name;
        auto made = disk::create_dir(ws);
        EXPECT_TRUE(made) << made.error().message;
        EXPECT_EQ(::chown(ws.c_str(), 65534, 65534), 0) << ws;
        return ws;
    }

    // Runs `script` in the attack image with the daemon's hardening (and the profile when
    // `profile`), the workspace at /workspace; returns its output.
    // `unconfined`: no profile at all (seccomp=unconfined) instead of Docker's default.
    std::string run(const std::string& suffix, const fs::path& ws, bool profile,
                    const std::string& script, bool unconfined = false) {
        ContainerSpec spec;
        spec.name = unique_name(suffix);
        spec.image = "tenex-attack:latest";
        spec.cmd = {script};
        spec.labels = {{"tenex.test", "1"}, {"tenex.test.run", run_id()}};
        spec.network_mode = "none";
        spec.user = "65534:65534";
        spec.read_only_rootfs = true;
        spec.cap_drop = {"ALL"};
        spec.security_opt = {"no-new-privileges:true"};
        if (profile) spec.security_opt.push_back("seccomp=" + *sandbox::sandbox_seccomp_profile());
        if (unconfined) spec.security_opt.push_back("seccomp=unconfined");
        spec.mounts = {{ws.string(), "/workspace", false}};
        const auto id = create(spec);
        if (id.empty()) return {};
        if (auto st = start_container(client(), id); !st)
            return "start failed: " + st.error().describe();
        auto waited = wait_container(client(), id);
        EXPECT_TRUE(waited) << waited.error().describe();
        auto logs = container_logs(client(), id);
        EXPECT_TRUE(logs) << logs.error().describe();
        return logs ? logs->out + logs->err : std::string();
    }

    tenex::test::TempDir dir_;
    std::unique_ptr<tenex::test::BtrfsLoop> btrfs_;
};

const char* const kScript =
    "for op in create create2 snapshot snapshot2 create-hi; do /bin/subvol $op /workspace "
    "nested-$op; done; "
    "/bin/subvol getflags /workspace -; "
    "echo hello > /workspace/file && cat /workspace/file; "
    "dd if=/dev/zero of=/workspace/data bs=1M count=4 conv=fsync 2>/dev/null && echo \"dd ok\"; "
    "mkdir /workspace/dir && mv /workspace/file /workspace/dir/ && ls /workspace/dir";

TEST_F(Seccomp, TheProfileRefusesNestedSubvolumesAndKeepsFileIoWorking) {
    ASSERT_TRUE(sandbox::sandbox_seccomp_profile())
        << sandbox::sandbox_seccomp_profile().error().message;
    const fs::path ws = workspace("limited");
    const std::string out = run("seccomp", ws, true, kScript);
    for (const char* op : {"create", "create2", "snapshot", "snapshot2", "create-hi"}) {
        EXPECT_NE(out.find(std::string(op) + " failed: errno 1 (Operation not permitted)"),
                  std::string::npos)
            << op << ":\n"
            << out;
        EXPECT_FALSE(fs::exists(ws / ("nested-" + std::string(op)))) << op;
    }
    EXPECT_NE(out.find("getflags ok"), std::string::npos) << out;  // other ioctls still work
    EXPECT_NE(out.find("hello"), std::string::npos) << out;
    EXPECT_NE(out.find("dd ok"), std::string::npos) << out;
    EXPECT_NE(out.find("\nfile"), std::string::npos) << out;
    EXPECT_EQ(fs::file_size(ws / "data"), 4u << 20);
    EXPECT_TRUE(disk::probe(ws).subvolume);
}

// Without the profile (Docker's default, which allows ioctl): the sandbox makes subvolumes in
// its workspace, each with a qgroup of its own, outside the workspace's limit.
TEST_F(Seccomp, WithoutTheProfileTheSandboxMakesNestedSubvolumes) {
    const fs::path ws = workspace("default");
    const std::string out = run("default", ws, false, kScript);
    EXPECT_NE(out.find("create ok"), std::string::npos) << out;
    EXPECT_TRUE(disk::probe(ws / "nested-create").subvolume) << out;
}

// The profile's own rules on the real engine: no new namespaces (unshare, and clone with a
// CLONE_NEW* flag, which busybox's `unshare` does not use but the kernel checks the same way),
// while processes (fork, through clone without those flags) still start. Without any seccomp
// filter the same unprivileged container makes a user namespace: the test can fail.
TEST_F(Seccomp, TheProfileRefusesNewNamespacesAndKeepsProcessesWorking) {
    const char* const script =
        "unshare -U true && echo userns made; echo forked $(echo child); /bin/busybox true && echo "
        "exec ok";
    const fs::path ws = workspace("ns");
    const std::string out = run("ns", ws, true, script);
    EXPECT_EQ(out.find("userns made"), std::string::npos) << out;
    EXPECT_NE(out.find("Operation not permitted"), std::string::npos) << out;
    EXPECT_NE(out.find("forked child"), std::string::npos) << out;
    EXPECT_NE(out.find("exec ok"), std::string::npos) << out;

    const std::string open = run("ns-unconfined", ws, false, script, true);
    if (open.find("userns made") == std::string::npos)
        GTEST_SKIP() << "this host refuses unprivileged user namespaces anyway: " << open;
}

}  // namespace
}  // namespace tenex::docker::test
