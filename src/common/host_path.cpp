#include "common/host_path.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace tenex {
namespace {

class Fd {
  public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    void reset(int fd) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

  private:
    int fd_;
};

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_octal(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' &&
            s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
            out.push_back(
                static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
            i += 3;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

}  // namespace

Result<std::filesystem::path> resolve_beneath(const std::filesystem::path& root,
                                              std::string_view relative) {
    if (relative.empty() || relative.front() == '/')
        return make_error("\"" + std::string(relative) + "\" is not a path relative to " +
                          root.string());
    Fd dir(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() < 0)
        return make_error("cannot open " + root.string() + ": " + std::strerror(errno));
    std::filesystem::path walked;
    std::size_t pos = 0;
    while (pos < relative.size()) {
        std::size_t slash = relative.find('/', pos);
        if (slash == std::string_view::npos) slash = relative.size();
        const std::string part(relative.substr(pos, slash - pos));
        pos = slash + 1;
        if (part.empty() || part == ".") continue;
        if (part == "..") return make_error("\"" + std::string(relative) + "\" contains \"..\"");
        walked /= part;
        const int fd = ::openat(dir.get(), part.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return make_error("cannot open " + walked.string() + " in " + root.string() + ": " +
                              std::strerror(errno));
        dir.reset(fd);
        struct stat st {};
        if (::fstat(fd, &st) != 0)
            return make_error("cannot stat " + walked.string() + ": " + std::strerror(errno));
        if (S_ISLNK(st.st_mode))
            return make_error("refusing " + walked.string() + " in " + root.string() +
                              ": it is a symbolic link");
        if (pos < relative.size() && !S_ISDIR(st.st_mode))
            return make_error("refusing " + walked.string() + " in " + root.string() +
                              ": not a directory");
    }
    if (walked.empty()) return make_error("\"" + std::string(relative) + "\" names no path");
    return (root / walked).lexically_normal();
}

std::vector<std::string> mounts_beneath(const std::filesystem::path& dir,
                                        std::string_view mountinfo) {
    std::string prefix = dir.lexically_normal().string();
    while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
    if (prefix.back() != '/') prefix += '/';
    std::vector<std::string> out;
    std::istringstream in{std::string(mountinfo)};
    std::string line;
    while (std::getline(in, line)) {
        // id parent major:minor root mount-point options ...
        std::istringstream fields(line);
        std::string id, parent, dev, root, point;
        if (!(fields >> id >> parent >> dev >> root >> point)) continue;
        point = unescape_octal(point);
        if (point.size() > prefix.size() && point.compare(0, prefix.size(), prefix) == 0)
            out.push_back(point);
    }
    return out;
}

Result<std::vector<std::string>> mounts_beneath(const std::filesystem::path& dir) {
    std::ifstream in("/proc/self/mountinfo");
    if (!in) return make_error("cannot read /proc/self/mountinfo");
    std::ostringstream text;
    text << in.rdbuf();
    return mounts_beneath(dir, text.str());
}

}  // namespace tenex
