#include "common/dir_fd.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace tenex {

namespace {

std::string errno_text() {
    return std::strerror(errno);
}

Result<bool> write_all(int fd, const std::string& content) {
    std::size_t done = 0;
    while (done < content.size()) {
        const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return make_error(errno_text());
        done += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

DirFd::~DirFd() {
    if (fd_ >= 0) ::close(fd_);
}

DirFd& DirFd::operator=(DirFd&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = o.fd_;
        o.fd_ = -1;
    }
    return *this;
}

Result<DirFd> DirFd::open_path(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return make_error("cannot open directory " + path + ": " + errno_text());
    return DirFd(fd);
}

Result<DirFd> DirFd::child(const std::string& name, bool create) const {
    if (create && ::mkdirat(fd_, name.c_str(), 0755) != 0 && errno != EEXIST)
        return make_error("cannot create " + name + ": " + errno_text());
    const int fd = ::openat(fd_, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP || errno == ENOTDIR)
            return make_error("refusing " + name + ": it is a symlink or not a directory");
        return make_error("cannot open " + name + ": " + errno_text());
    }
    return DirFd(fd);
}

Result<std::optional<std::string>> read_file_at(const DirFd& dir, const std::string& name) {
    const int fd =
        ::openat(dir.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT) return std::optional<std::string>{};
        if (errno == ELOOP) return make_error("refusing " + name + ": it is a symlink");
        return make_error("cannot read " + name + ": " + errno_text());
    }
    DirFd guard(fd);  // closes on return (fd of a file, closing is all DirFd does)
    struct stat st {};
    if (::fstat(fd, &st) != 0) return make_error("cannot stat " + name + ": " + errno_text());
    if (!S_ISREG(st.st_mode)) return make_error("refusing " + name + ": not a regular file");
    if (static_cast<std::size_t>(st.st_size) > kMaxLayoutFileBytes)
        return make_error("refusing " + name + ": larger than 16 MiB");
    std::string out;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return make_error("cannot read " + name + ": " + errno_text());
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() > kMaxLayoutFileBytes)
            return make_error("refusing " + name + ": larger than 16 MiB");
    }
    return std::optional<std::string>(std::move(out));
}

Result<bool> write_file_atomic(const DirFd& dir, const std::string& name,
                               const std::string& content, mode_t mode) {
    {
        const int fd =
            ::openat(dir.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd >= 0) {
            DirFd guard(fd);
            struct stat st {};
            if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == mode &&
                static_cast<std::size_t>(st.st_size) == content.size()) {
                auto existing = read_file_at(dir, name);
                if (existing && existing->has_value() && **existing == content) return false;
            }
        }
    }
    std::random_device rd;
    const std::string temp = "." + name + ".tmp-" + std::to_string(rd()) + std::to_string(rd());
    const int fd = ::openat(dir.get(), temp.c_str(),
                            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return make_error("cannot create a temporary file for " + name + ": " + errno_text());
    bool ok = ::fchmod(fd, mode) == 0;
    std::string why = ok ? "" : errno_text();
    if (ok) {
        auto w = write_all(fd, content);
        if (!w) {
            ok = false;
            why = w.error().message;
        }
    }
    if (ok && ::fsync(fd) != 0) {
        ok = false;
        why = errno_text();
    }
    ::close(fd);
    if (ok && ::renameat(dir.get(), temp.c_str(), dir.get(), name.c_str()) != 0) {
        ok = false;
        why = errno_text();
    }
    if (!ok) {
        ::unlinkat(dir.get(), temp.c_str(), 0);
        return make_error("cannot write " + name + ": " + why);
    }
    ::fsync(dir.get());
    return true;
}

}  // namespace tenex
