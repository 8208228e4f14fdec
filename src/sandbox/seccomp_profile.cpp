#include "sandbox/seccomp_profile.hpp"

#include <linux/btrfs.h>

#include <linux/sched.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

namespace tenex::sandbox {

const std::vector<RefusedIoctl>& refused_ioctls() {
    static const std::vector<RefusedIoctl> kRefused{
        {"BTRFS_IOC_SNAP_CREATE", BTRFS_IOC_SNAP_CREATE},
        {"BTRFS_IOC_SUBVOL_CREATE", BTRFS_IOC_SUBVOL_CREATE},
        {"BTRFS_IOC_SNAP_CREATE_V2", BTRFS_IOC_SNAP_CREATE_V2},
        {"BTRFS_IOC_SUBVOL_CREATE_V2", BTRFS_IOC_SUBVOL_CREATE_V2},
    };
    return kRefused;
}

// Our denylist. Capability-conditional rules are unnecessary: every sandbox container runs with
// all capabilities dropped and no-new-privileges (a policy may add back only CHOWN,
// DAC_OVERRIDE, FOWNER, FSETID, KILL, NET_BIND_SERVICE, SETGID and SETUID, none of which opens
// a call below), so a call that needs a capability fails in the kernel anyway; the list is about
// kernel surface a sandbox has no use for, and about calls that need no capability but reach
// outside the sandbox.
const std::vector<DeniedSyscall>& denied_syscalls() {
    static const std::vector<DeniedSyscall> kDenied{
        // Loading code into the kernel or replacing it.
        {"init_module", "loads a kernel module"},
        {"finit_module", "loads a kernel module from a file"},
        {"delete_module", "unloads a kernel module"},
        {"kexec_load", "boots into another kernel"},
        {"kexec_file_load", "boots into another kernel"},
        {"bpf", "runs programs in the kernel; a large attack surface"},
        // The machine as a whole.
        {"reboot", "restarts or halts the host"},
        {"swapon", "changes the host's swap"},
        {"swapoff", "changes the host's swap"},
        {"acct", "switches process accounting for the host"},
        {"settimeofday", "sets the host's clock"},
        {"clock_settime", "sets the host's clock"},
        {"clock_adjtime", "adjusts the host's clock"},
        {"syslog", "reads or clears the kernel log"},
        {"vhangup", "hangs up the terminal"},
        {"iopl", "raw access to I/O ports"},
        {"ioperm", "raw access to I/O ports"},
        {"quotactl", "changes file system quotas"},
        {"quotactl_fd", "changes file system quotas"},
        // The file system tree: the container's mounts are fixed by the daemon.
        {"mount", "mounts a file system"},
        {"umount2", "unmounts a file system"},
        {"pivot_root", "changes the root mount"},
        {"chroot", "changes the root directory"},
        {"fsopen", "new mount API"},
        {"fsconfig", "new mount API"},
        {"fsmount", "new mount API"},
        {"fspick", "new mount API"},
        {"move_mount", "new mount API"},
        {"open_tree", "new mount API (clones mount trees)"},
        {"mount_setattr", "changes mount flags"},
        {"open_by_handle_at",
         "opens a file by handle, bypassing the path (a known container escape)"},
        {"name_to_handle_at", "the handle half of open_by_handle_at"},
        {"fanotify_init", "watches whole file systems"},
        // Namespaces: a sandbox stays in the ones it was given (clone is narrowed below).
        {"unshare", "moves the caller into new namespaces"},
        {"setns", "joins other namespaces"},
        // Other processes' memory and state.
        {"ptrace", "inspects and controls other processes"},
        {"process_vm_readv", "reads another process's memory"},
        {"process_vm_writev", "writes another process's memory"},
        {"process_madvise", "advises on another process's memory"},
        {"kcmp", "compares kernel state of other processes"},
        {"pidfd_getfd", "takes a file descriptor from another process"},
        // Kernel keyrings are not namespaced: keys would be shared with the host.
        {"add_key", "kernel keyring"},
        {"request_key", "kernel keyring"},
        {"keyctl", "kernel keyring"},
        // Kernel surface with a record of exploits and no use in a sandbox.
        {"perf_event_open", "performance counters; leaks kernel addresses"},
        {"userfaultfd", "handles page faults in user space; widens kernel races"},
        {"io_uring_setup", "io_uring; libuv and others fall back to ordinary I/O"},
        {"io_uring_enter", "io_uring"},
        {"io_uring_register", "io_uring"},
        {"lookup_dcookie", "profiling interface; leaks kernel data"},
        // NUMA placement changes that affect memory beyond the caller's own choice.
        {"mbind", "binds memory to NUMA nodes"},
        {"set_mempolicy", "sets the NUMA memory policy"},
        {"migrate_pages", "moves pages of a process between NUMA nodes"},
        {"move_pages", "moves pages of a process between NUMA nodes"},
        // Obsolete or never implemented: nothing uses them.
        {"uselib", "obsolete"},
        {"ustat", "obsolete"},
        {"sysfs", "obsolete"},
        {"_sysctl", "obsolete"},
        {"nfsservctl", "removed from the kernel"},
        {"create_module", "removed from the kernel"},
        {"get_kernel_syms", "removed from the kernel"},
        {"query_module", "removed from the kernel"},
        {"afs_syscall", "never implemented"},
        {"tuxcall", "never implemented"},
        {"security", "never implemented"},
        {"vserver", "never implemented"},
        {"putpmsg", "never implemented"},
        {"getpmsg", "never implemented"},
        // Narrowed by rules of their own in build_profile (not on the unconditional list).
        {"clone", "allowed only without CLONE_NEW* flags"},
        {"clone3", "answered with ENOSYS, its flags are in memory a filter cannot read"},
        {"personality", "allowed only to query or to ask for the default"},
        {"ioctl", "allowed for every request but refused_ioctls()"},
    };
    return kDenied;
}

std::uint64_t clone_namespace_flags() {
    // CLONE_NEWTIME (0x80) is left out: in clone()'s flags the low byte is the exit signal, and
    // a time namespace can only be made with clone3 or unshare, both refused.
    return CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
           CLONE_NEWPID | CLONE_NEWNET;
}

namespace {

// Walks the trie of `values` from the top bit: at each node one child may be missing, and
// every request below a missing child is allowed (mask: the bits decided so far).
void collect_patterns(std::uint32_t prefix, int depth, const std::vector<std::uint32_t>& values,
                      std::vector<std::pair<std::uint32_t, std::uint32_t>>& out) {
    if (depth == 32) return;
    const int shift = 31 - depth;
    const std::uint32_t mask = depth == 31 ? 0xffffffffu : ~((std::uint32_t{1} << shift) - 1);
    for (std::uint32_t bit = 0; bit < 2; ++bit) {
        std::vector<std::uint32_t> below;
        for (const auto v : values)
            if (((v >> shift) & 1u) == bit) below.push_back(v);
        const std::uint32_t next = prefix | (bit << shift);
        if (below.empty())
            out.emplace_back(mask, next);
        else
            collect_patterns(next, depth + 1, below, out);
    }
}

nlohmann::json rule(std::vector<std::string> names, const char* action, nlohmann::json args,
                    const char* comment) {
    return {{"names", std::move(names)},
            {"action", action},
            {"args", std::move(args)},
            {"comment", comment}};
}

nlohmann::json arg(int index, std::uint64_t value, std::uint64_t value_two, const char* op) {
    return {{"index", index}, {"value", value}, {"valueTwo", value_two}, {"op", op}};
}

Result<std::string> build_profile() {
    std::set<std::string> denied;
    for (const auto& d : denied_syscalls()) denied.insert(d.name);
    std::vector<std::string> allowed;
    for (const auto name : x86_64_syscall_names())
        if (!denied.count(std::string(name))) allowed.emplace_back(name);
    // A sanity check on the generated list: these must be in any x86_64 kernel's.
    for (const char* name : {"read", "write", "openat", "execve", "clone", "ioctl", "exit_group"})
        if (std::find(x86_64_syscall_names().begin(), x86_64_syscall_names().end(), name) ==
            x86_64_syscall_names().end())
            return make_error(std::string("the compiled-in x86_64 system call list lacks ") + name);

    nlohmann::json syscalls = nlohmann::json::array();
    syscalls.push_back(
        rule(allowed, "SCMP_ACT_ALLOW", nlohmann::json::array(),
             "tenex: every x86_64 system call but the denylist (seccomp_profile.cpp)"));
    // clone: threads and processes, never new namespaces.
    syscalls.push_back(
        rule({"clone"}, "SCMP_ACT_ALLOW",
             nlohmann::json::array({arg(0, clone_namespace_flags(), 0, "SCMP_CMP_MASKED_EQ")}),
             "tenex: clone without CLONE_NEW* flags"));
    // clone3 takes its flags in a struct in memory, which seccomp cannot read: ENOSYS makes
    // glibc (2.34+) and others fall back to clone, where the rule above applies.
    auto clone3 = rule({"clone3"}, "SCMP_ACT_ERRNO", nlohmann::json::array(),
                       "tenex: ENOSYS so that callers fall back to clone");
    clone3["errnoRet"] = ENOSYS;
    syscalls.push_back(std::move(clone3));
    // personality: the query (0xffffffff) and PER_LINUX (0), nothing that changes the
    // execution domain or turns address randomisation off.
    for (const std::uint64_t persona : {std::uint64_t{0}, std::uint64_t{0xffffffff}})
        syscalls.push_back(rule({"personality"}, "SCMP_ACT_ALLOW",
                                nlohmann::json::array({arg(0, persona, 0, "SCMP_CMP_EQ")}),
                                "tenex: personality query or PER_LINUX only"));
    nlohmann::json profile{{"defaultAction", "SCMP_ACT_ERRNO"},
                           {"architectures", nlohmann::json::array({"SCMP_ARCH_X86_64"})},
                           {"syscalls", std::move(syscalls)}};
    std::vector<std::uint32_t> refused;
    for (const auto& r : refused_ioctls()) refused.push_back(r.request);
    for (const auto& [mask, value] : allowed_request_patterns(refused))
        profile["syscalls"].push_back({
            {"names", {"ioctl"}},
            {"action", "SCMP_ACT_ALLOW"},
            {"args",
             {{{"index", 1}, {"value", mask}, {"valueTwo", value}, {"op", "SCMP_CMP_MASKED_EQ"}}}},
            {"comment", "tenex: every ioctl but those that make a btrfs subvolume or snapshot"},
        });
    return profile.dump();
}

}  // namespace

std::vector<std::pair<std::uint32_t, std::uint32_t>> allowed_request_patterns(
    const std::vector<std::uint32_t>& refused) {
    std::vector<std::uint32_t> values = refused;
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    std::vector<std::pair<std::uint32_t, std::uint32_t>> out;
    if (values.empty()) {
        out.emplace_back(0, 0);  // everything
        return out;
    }
    collect_patterns(0, 0, values, out);
    return out;
}

Result<std::string> sandbox_seccomp_profile() {
    static const Result<std::string> kProfile = build_profile();
    return kProfile;
}

}  // namespace tenex::sandbox
