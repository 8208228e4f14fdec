// tenex-attack-subvol: the attack image's second static helper: the btrfs ioctls that make a
// subvolume or a snapshot, which an unprivileged process may call on a directory it can write
// (a new subvolume gets a qgroup of its own, outside its parent's disk limit).
//
//   subvol OP DIR NAME
//
// OP: create (BTRFS_IOC_SUBVOL_CREATE), create2 (BTRFS_IOC_SUBVOL_CREATE_V2), snapshot
// (BTRFS_IOC_SNAP_CREATE), snapshot2 (BTRFS_IOC_SNAP_CREATE_V2), each taking DIR as the parent
// (and, for the snapshots, as the subvolume to snapshot); create-hi: create with bit 32 of the
// request set, which the kernel drops (its request is 32 bits) but a filter comparing all 64
// bits would not; getflags: FS_IOC_GETFLAGS on DIR, an ordinary file ioctl that must keep
// working (NAME unused). Prints "OP ok" and exits 0, or "OP failed: errno N (text)" and exits 1.
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr,
                     "usage: %s create|create2|snapshot|snapshot2|create-hi|getflags DIR NAME\n",
                     argv[0]);
        return 2;
    }
    const std::string op = argv[1];
    const int dir = ::open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) {
        std::printf("%s failed: open %s: errno %d (%s)\n", op.c_str(), argv[2], errno,
                    std::strerror(errno));
        return 1;
    }
    btrfs_ioctl_vol_args v1{};
    btrfs_ioctl_vol_args_v2 v2{};
    std::strncpy(v1.name, argv[3], sizeof v1.name - 1);
    std::strncpy(v2.name, argv[3], sizeof v2.name - 1);
    v1.fd = dir;
    v2.fd = dir;
    long rc = -1;
    if (op == "create")
        rc = ::ioctl(dir, BTRFS_IOC_SUBVOL_CREATE, &v1);
    else if (op == "create2")
        rc = ::ioctl(dir, BTRFS_IOC_SUBVOL_CREATE_V2, &v2);
    else if (op == "snapshot")
        rc = ::ioctl(dir, BTRFS_IOC_SNAP_CREATE, &v1);
    else if (op == "snapshot2")
        rc = ::ioctl(dir, BTRFS_IOC_SNAP_CREATE_V2, &v2);
    else if (op == "getflags") {
        int flags = 0;
        rc = ::ioctl(dir, FS_IOC_GETFLAGS, &flags);
    } else if (op == "create-hi")
        rc = ::syscall(SYS_ioctl, dir,
                       (1UL << 32) | static_cast<unsigned long>(BTRFS_IOC_SUBVOL_CREATE), &v1);
    else {
        std::fprintf(stderr, "unknown OP %s\n", op.c_str());
        return 2;
    }
    if (rc != 0) {
        std::printf("%s failed: errno %d (%s)\n", op.c_str(), errno, std::strerror(errno));
        return 1;
    }
    std::printf("%s ok\n", op.c_str());
    return 0;
}
