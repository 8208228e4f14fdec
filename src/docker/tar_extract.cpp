#include "docker/tar_extract.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

namespace tenex::docker {
namespace {

constexpr std::size_t kBlock = 512;
constexpr const char* kTemp = ".tenex-seed-partial";

class Fd {
  public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    Fd& operator=(Fd&& o) noexcept {
        std::swap(fd_, o.fd_);
        return *this;
    }
    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }

  private:
    int fd_;
};

Error sys_error(const std::string& what) {
    return make_error(what + ": " + std::strerror(errno));
}

std::uint64_t octal(const char* field, std::size_t width) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < width && field[i] >= '0' && field[i] <= '7'; ++i)
        v = v * 8 + static_cast<std::uint64_t>(field[i] - '0');
    return v;
}

std::string field(const char* f, std::size_t width) {
    return std::string(f, strnlen(f, width));
}

bool checksum_ok(const char* h) {
    unsigned sum = 0;
    for (std::size_t i = 0; i < kBlock; ++i)
        sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(h[i]);
    return sum == octal(h + 148, 8);
}

class Extractor {
  public:
    Extractor(const std::function<ssize_t(char*, std::size_t)>& read, int root,
              const ExtractOptions& options)
        : read_(read), root_(root), opt_(options) {}

    Result<ExtractStats> run() {
        std::string pax_path, pax_link;
        for (;;) {
            char h[kBlock];
            if (auto s = read_exact(h, kBlock); !s) return s.error();
            if (std::all_of(h, h + kBlock, [](char c) { return c == 0; })) return stats_;
            if (!checksum_ok(h)) return make_error("archive: bad header checksum");
            const char type = h[156];
            const std::uint64_t size = octal(h + 124, 12);
            std::string name = pax_path.empty() ? prefixed_name(h) : pax_path;
            std::string link = pax_link.empty() ? field(h + 157, 100) : pax_link;
            pax_path.clear();
            pax_link.clear();
            if (type == 'x') {
                if (size > (1u << 20)) return make_error("archive: pax header too large");
                std::string body(size, '\0');
                if (auto s = read_body(body.data(), size); !s) return s.error();
                if (auto s = parse_pax(body, pax_path, pax_link); !s) return s.error();
                continue;
            }
            if (type == 'g') {
                if (auto s = skip(size); !s) return s.error();
                continue;
            }
            const auto mode = static_cast<mode_t>(octal(h + 100, 8) & 07777);
            Status done = make_error("archive: " + name + ": unsupported entry type '" +
                                     std::string(1, type ? type : '0') + "'");
            if (type == '0' || type == '\0')
                done = file(name, size, mode);
            else if (type == '5' && name.find_first_not_of("./") == std::string::npos &&
                     !name.empty() && name.front() == '.')
                done = Unit{};  // "./": the root itself, which is the caller's
            else if (type == '5')
                done = directory(name, mode);
            else if (type == '2')
                done = symlink(name, link);
            if (!done) return done.error();
        }
    }

  private:
    static std::string prefixed_name(const char* h) {
        std::string name = field(h, 100);
        if (std::memcmp(h + 257, "ustar", 5) == 0 && h[345] != 0)
            name = field(h + 345, 155) + "/" + name;
        return name;
    }

    static Status parse_pax(const std::string& body, std::string& path, std::string& link) {
        std::size_t at = 0;
        while (at < body.size()) {
            const auto space = body.find(' ', at);
            if (space == std::string::npos) return make_error("archive: bad pax record");
            const auto len = std::strtoull(body.c_str() + at, nullptr, 10);
            if (len == 0 || at + len > body.size() || body[at + len - 1] != '\n')
                return make_error("archive: bad pax record");
            const std::string rec = body.substr(space + 1, at + len - 1 - (space + 1));
            const auto eq = rec.find('=');
            if (eq != std::string::npos) {
                if (rec.compare(0, eq, "path") == 0) path = rec.substr(eq + 1);
                if (rec.compare(0, eq, "linkpath") == 0) link = rec.substr(eq + 1);
            }
            at += len;
        }
        return Unit{};
    }

    Status read_exact(char* buf, std::size_t n) {
        while (n > 0) {
            const ssize_t got = read_(buf, n);
            if (got < 0) return make_error("archive: read failed");
            if (got == 0) return make_error("archive: truncated (the stream ended early)");
            buf += got;
            n -= static_cast<std::size_t>(got);
        }
        return Unit{};
    }
    // The entry's data and the padding to the next block.
    Status read_body(char* buf, std::uint64_t size) {
        if (auto s = read_exact(buf, size); !s) return s;
        return skip((kBlock - size % kBlock) % kBlock);
    }
    Status skip(std::uint64_t n) {
        char buf[kBlock];
        while (n > 0) {
            const auto chunk = static_cast<std::size_t>(std::min<std::uint64_t>(n, kBlock));
            if (auto s = read_exact(buf, chunk); !s) return s;
            n -= chunk;
        }
        return Unit{};
    }

    // The directory holding `name`'s last component (created where missing), opened without
    // following links from the root; `last` gets that component.
    Result<Fd> parent_of(const std::string& name, std::string& last, bool& replace) {
        if (name.empty() || name.front() == '/')
            return make_error("archive: \"" + name + "\": not a relative name");
        std::vector<std::string> parts;
        for (std::size_t at = 0; at <= name.size();) {
            auto slash = name.find('/', at);
            if (slash == std::string::npos) slash = name.size();
            std::string part = name.substr(at, slash - at);
            if (part == "..") return make_error("archive: " + name + ": \"..\" in a name");
            if (!part.empty() && part != ".") parts.push_back(std::move(part));
            at = slash + 1;
        }
        if (parts.empty()) return make_error("archive: \"" + name + "\": not a relative name");
        replace = opt_.replace.count(parts.front()) > 0;
        last = parts.back();
        Fd dir(::fcntl(root_, F_DUPFD_CLOEXEC, 0));
        if (!dir) return sys_error("archive: root");
        for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
            const char* part = parts[i].c_str();
            Fd next(::openat(dir.get(), part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!next && errno == ENOENT) {
                if (::mkdirat(dir.get(), part, 0755) != 0 && errno != EEXIST)
                    return sys_error("archive: " + name + ": mkdir " + parts[i]);
                next =
                    Fd(::openat(dir.get(), part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
                if (next)
                    if (auto s = own(next.get(), parts[i]); !s) return s.error();
            }
            if (!next)
                return sys_error("archive: " + name + ": " + parts[i] + " (not a directory)");
            dir = std::move(next);
        }
        return dir;
    }

    Status own(int fd, const std::string& name) const {
        if ((opt_.uid >= 0 || opt_.gid >= 0) &&
            ::fchown(fd, static_cast<uid_t>(opt_.uid), static_cast<gid_t>(opt_.gid)) != 0)
            return sys_error("archive: chown " + name);
        return Unit{};
    }
    Status own_link(int dir, const char* name) const {
        if ((opt_.uid >= 0 || opt_.gid >= 0) &&
            ::fchownat(dir, name, static_cast<uid_t>(opt_.uid), static_cast<gid_t>(opt_.gid),
                       AT_SYMLINK_NOFOLLOW) != 0)
            return sys_error(std::string("archive: chown ") + name);
        return Unit{};
    }
    // Whether something of that name is there (not followed).
    static bool exists(int dir, const std::string& name) {
        struct stat st {};
        return ::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
    }
    // The temporary entry, renamed over `last` (a file or link there is replaced, a directory
    // is an error).
    static Status commit(int dir, const std::string& name, const std::string& last) {
        if (::renameat(dir, kTemp, dir, last.c_str()) != 0) {
            const Error e = sys_error("archive: " + name);
            (void)::unlinkat(dir, kTemp, 0);
            return e;
        }
        return Unit{};
    }

    Status file(const std::string& name, std::uint64_t size, mode_t mode) {
        std::string last;
        bool replace = false;
        auto dir = parent_of(name, last, replace);
        if (!dir) return dir.error();
        if (!replace && exists(dir->get(), last)) {
            ++stats_.kept;
            return skip(size + (kBlock - size % kBlock) % kBlock);
        }
        (void)::unlinkat(dir->get(), kTemp, 0);
        Fd out(::openat(dir->get(), kTemp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        0600));
        if (!out) return sys_error("archive: " + name);
        char buf[64 * 1024];
        for (std::uint64_t left = size; left > 0;) {
            const auto chunk = static_cast<std::size_t>(std::min<std::uint64_t>(left, sizeof buf));
            if (auto s = read_exact(buf, chunk); !s) return s;
            for (std::size_t off = 0; off < chunk;) {
                const ssize_t w = ::write(out.get(), buf + off, chunk - off);
                if (w < 0 && errno == EINTR) continue;
                if (w <= 0) return sys_error("archive: write " + name);
                off += static_cast<std::size_t>(w);
            }
            left -= chunk;
        }
        if (auto s = skip((kBlock - size % kBlock) % kBlock); !s) return s;
        if (auto s = own(out.get(), name); !s) return s;
        if (::fchmod(out.get(), mode) != 0) return sys_error("archive: chmod " + name);
        if (auto s = commit(dir->get(), name, last); !s) return s;
        ++stats_.files;
        stats_.bytes += size;
        return Unit{};
    }

    Status directory(const std::string& name, mode_t mode) {
        std::string last;
        bool replace = false;
        auto dir = parent_of(name, last, replace);
        if (!dir) return dir.error();
        if (::mkdirat(dir->get(), last.c_str(), 0700) != 0 && errno != EEXIST)
            return sys_error("archive: mkdir " + name);
        Fd d(::openat(dir->get(), last.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!d) return sys_error("archive: " + name + " (not a directory)");
        if (auto s = own(d.get(), name); !s) return s;
        if (::fchmod(d.get(), mode) != 0) return sys_error("archive: chmod " + name);
        ++stats_.directories;
        return Unit{};
    }

    Status symlink(const std::string& name, const std::string& target) {
        std::string last;
        bool replace = false;
        auto dir = parent_of(name, last, replace);
        if (!dir) return dir.error();
        if (!replace && exists(dir->get(), last)) {
            ++stats_.kept;
            return Unit{};
        }
        (void)::unlinkat(dir->get(), kTemp, 0);
        if (::symlinkat(target.c_str(), dir->get(), kTemp) != 0)
            return sys_error("archive: symlink " + name);
        if (auto s = own_link(dir->get(), kTemp); !s) return s;
        if (auto s = commit(dir->get(), name, last); !s) return s;
        ++stats_.links;
        return Unit{};
    }

    const std::function<ssize_t(char*, std::size_t)>& read_;
    int root_;
    const ExtractOptions& opt_;
    ExtractStats stats_{};
};

}  // namespace

Result<ExtractStats> extract_tar(const std::function<ssize_t(char*, std::size_t)>& read,
                                 int root_fd, const ExtractOptions& options) {
    return Extractor(read, root_fd, options).run();
}

}  // namespace tenex::docker
