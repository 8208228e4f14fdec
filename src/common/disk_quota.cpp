#include "common/disk_quota.hpp"

#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tenex::disk {

namespace fs = std::filesystem;

namespace {

struct Fd {
    int fd{-1};
    explicit Fd(int f) : fd(f) {}
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
};

int open_dir(const fs::path& p) {
    return ::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

std::string errno_text(int err) {
    return std::strerror(err);
}

// The id of the subvolume holding the open directory (its qgroup is 0/<id>). The lookup of
// the containing root (treeid 0, objectid 256) is allowed unprivileged.
Result<std::uint64_t> subvolume_id_of(int fd) {
    btrfs_ioctl_ino_lookup_args args{};
    args.treeid = 0;
    args.objectid = BTRFS_FIRST_FREE_OBJECTID;
    if (::ioctl(fd, BTRFS_IOC_INO_LOOKUP, &args) != 0)
        return make_error(std::string("cannot look up the subvolume id: ") + errno_text(errno));
    return static_cast<std::uint64_t>(args.treeid);
}

// Fills name[] of vol_args; false when the name does not fit.
bool set_name(btrfs_ioctl_vol_args& args, const std::string& name) {
    if (name.empty() || name.size() > BTRFS_PATH_NAME_MAX || name.find('/') != std::string::npos)
        return false;
    std::memcpy(args.name, name.data(), name.size());
    args.name[name.size()] = '\0';
    return true;
}

std::string human(std::int64_t bytes) {
    char buf[64];
    if (bytes >= (1LL << 30) && bytes % (1LL << 30) == 0)
        std::snprintf(buf, sizeof buf, "%lldGi", static_cast<long long>(bytes >> 30));
    else if (bytes >= (1LL << 20) && bytes % (1LL << 20) == 0)
        std::snprintf(buf, sizeof buf, "%lldMi", static_cast<long long>(bytes >> 20));
    else
        std::snprintf(buf, sizeof buf, "%lld bytes", static_cast<long long>(bytes));
    return buf;
}

}  // namespace

std::string fs_type_name(std::uint64_t magic) {
    switch (magic) {
        case BTRFS_SUPER_MAGIC:
            return "btrfs";
        case EXT4_SUPER_MAGIC:
            return "ext4";  // also ext2/ext3: same magic
        case XFS_SUPER_MAGIC:
            return "xfs";
        case TMPFS_MAGIC:
            return "tmpfs";
        case OVERLAYFS_SUPER_MAGIC:
            return "overlay";
        case 0x2fc12fc1:
            return "zfs";
        case NFS_SUPER_MAGIC:
            return "nfs";
        default:
            break;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(magic));
    return buf;
}

LimitDecision decide_limit(const DirQuota& dir, std::int64_t bytes, const std::string& shown_path) {
    using A = LimitDecision::Action;
    if (bytes < 0) return {A::refuse, "resources.disk is negative"};
    if (bytes == 0) return dir.subvolume ? LimitDecision{A::clear, {}} : LimitDecision{A::none, {}};
    if (!dir.btrfs)
        return {A::refuse,
                "resources.disk (" + human(bytes) + ") cannot be enforced: " + shown_path +
                    " is on " +
                    (dir.fs_type.empty() ? std::string("an unknown file system") : dir.fs_type) +
                    ", which has no per-directory quota the daemon can set; put the projects "
                    "path on btrfs (README: Disk limits) or remove resources.disk"};
    if (!dir.subvolume)
        return {A::refuse,
                "resources.disk (" + human(bytes) + ") cannot be enforced: " + shown_path +
                    " is a plain directory made before the projects path was on btrfs (or by "
                    "hand), and a directory cannot become a subvolume in place; move its "
                    "contents into a new subvolume (btrfs subvolume create) of the same name, "
                    "or remove resources.disk"};
    return {A::set, {}};
}

DirQuota probe(const fs::path& path) {
    DirQuota q;
    fs::path p = path;
    std::error_code ec;
    while (!fs::exists(p, ec) && p.has_parent_path() && p != p.parent_path()) p = p.parent_path();
    struct statfs sf {};
    if (::statfs(p.c_str(), &sf) != 0) return q;
    q.fs_type = fs_type_name(static_cast<std::uint64_t>(sf.f_type));
    q.btrfs = static_cast<std::uint64_t>(sf.f_type) == BTRFS_SUPER_MAGIC;
    if (!q.btrfs || p != path) return q;
    struct stat st {};
    // The root directory of every btrfs subvolume is inode 256.
    if (::lstat(p.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
        st.st_ino != BTRFS_FIRST_FREE_OBJECTID)
        return q;
    Fd fd(open_dir(p));
    if (fd.fd < 0) return q;
    if (auto id = subvolume_id_of(fd.fd)) {
        q.subvolume = true;
        q.subvolume_id = *id;
    }
    return q;
}

Status create_dir(const fs::path& path) {
    const fs::path parent = path.parent_path();
    const std::string name = path.filename().string();
    Fd pfd(open_dir(parent));
    if (pfd.fd < 0) return make_error("cannot open " + parent.string() + ": " + errno_text(errno));
    struct statfs sf {};
    if (::fstatfs(pfd.fd, &sf) != 0)
        return make_error("cannot stat " + parent.string() + ": " + errno_text(errno));
    if (static_cast<std::uint64_t>(sf.f_type) != BTRFS_SUPER_MAGIC) {
        if (::mkdirat(pfd.fd, name.c_str(), 0755) != 0)
            return make_error("cannot create " + path.string() + ": " + errno_text(errno));
        return Unit{};
    }
    btrfs_ioctl_vol_args args{};
    if (!set_name(args, name))
        return make_error("cannot create " + path.string() + ": name too long");
    if (::ioctl(pfd.fd, BTRFS_IOC_SUBVOL_CREATE, &args) != 0)
        return make_error("cannot create the btrfs subvolume " + path.string() + ": " +
                          errno_text(errno));
    // Best effort: the kernel made the subvolume 0755 less the umask; this gives it the mode a
    // plain directory gets above, and a failure leaves it as it was. ("(void)!": GCC's
    // warn_unused_result, which glibc turns on with _FORTIFY_SOURCE, ignores a plain cast.)
    (void)!::fchmodat(pfd.fd, name.c_str(), 0755, AT_SYMLINK_NOFOLLOW);
    return Unit{};
}

Status set_subvolume_limit(const fs::path& dir, std::int64_t bytes) {
    if (bytes < 0) return make_error("negative disk limit");
    Fd fd(open_dir(dir));
    if (fd.fd < 0) return make_error("cannot open " + dir.string() + ": " + errno_text(errno));
    auto id = subvolume_id_of(fd.fd);
    if (!id) return make_error(dir.string() + ": " + id.error().message);
    btrfs_ioctl_qgroup_limit_args limit{};
    limit.qgroupid = *id;  // level 0: 0/<subvolume id>
    limit.lim.flags = BTRFS_QGROUP_LIMIT_MAX_RFER;
    limit.lim.max_rfer =
        bytes > 0 ? static_cast<std::uint64_t>(bytes) : ~std::uint64_t{0};  // all ones: clear
    if (::ioctl(fd.fd, BTRFS_IOC_QGROUP_LIMIT, &limit) == 0) return Unit{};
    int err = errno;
    // ENOTCONN: quotas are off on this file system. Nothing to clear; to set, enable them
    // (idempotent; the kernel then accounts what exists, in the background) and set again.
    if (err == ENOTCONN && bytes == 0) return Unit{};
    if (err == ENOTCONN) {
        btrfs_ioctl_quota_ctl_args ctl{};
        ctl.cmd = BTRFS_QUOTA_CTL_ENABLE;
        if (::ioctl(fd.fd, BTRFS_IOC_QUOTA_CTL, &ctl) != 0)
            return make_error("cannot enable btrfs quotas for " + dir.string() + ": " +
                              errno_text(errno));
        (void)::ioctl(fd.fd, BTRFS_IOC_QUOTA_RESCAN_WAIT);
        if (::ioctl(fd.fd, BTRFS_IOC_QGROUP_LIMIT, &limit) == 0) return Unit{};
        err = errno;
    }
    return make_error("cannot " + std::string(bytes > 0 ? "set" : "clear") + " the disk limit of " +
                      dir.string() + " (btrfs qgroup 0/" + std::to_string(*id) +
                      "): " + errno_text(err) + (err == EPERM ? " (needs CAP_SYS_ADMIN)" : ""));
}

Status apply_limit(const fs::path& dir, std::int64_t bytes) {
    const DirQuota q = probe(dir);
    const LimitDecision d = decide_limit(q, bytes, dir.string());
    switch (d.action) {
        case LimitDecision::Action::none:
            return Unit{};
        case LimitDecision::Action::refuse:
            return make_error(d.reason);
        case LimitDecision::Action::set:
            return set_subvolume_limit(dir, bytes);
        case LimitDecision::Action::clear:
            return set_subvolume_limit(dir, 0);
    }
    return Unit{};
}

Status remove_dir(const fs::path& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return Unit{};
        return make_error("cannot stat " + path.string() + ": " + errno_text(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return make_error("refusing to remove " + path.string() + ": not a directory");
    const DirQuota q = probe(path);
    if (q.subvolume) {
        Fd pfd(open_dir(path.parent_path()));
        if (pfd.fd < 0)
            return make_error("cannot open " + path.parent_path().string() + ": " +
                              errno_text(errno));
        btrfs_ioctl_vol_args args{};
        if (!set_name(args, path.filename().string()))
            return make_error("cannot remove " + path.string() + ": bad name");
        if (::ioctl(pfd.fd, BTRFS_IOC_SNAP_DESTROY, &args) != 0) {
            const int err = errno;
            return make_error(
                "cannot delete the btrfs subvolume " + path.string() + ": " + errno_text(err) +
                (err == EPERM ? " (needs CAP_SYS_ADMIN or the user_subvol_rm_allowed mount option)"
                              : ""));
        }
        return Unit{};
    }
    std::error_code ec;
    fs::remove_all(path, ec);  // does not follow symlinks
    if (ec) return make_error("cannot remove " + path.string() + ": " + ec.message());
    return Unit{};
}

}  // namespace tenex::disk
