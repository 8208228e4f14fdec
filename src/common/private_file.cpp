#include "common/private_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace tenex {

Status write_private_file(const std::string& path, const std::string& content, bool replace) {
    const std::string tmp = replace ? path + ".tmp." + std::to_string(::getpid()) : path;
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST) return make_error(path + ": file exists");
        return make_error(path + ": " + std::strerror(errno));
    }
    ::fchmod(fd, 0600);  // regardless of umask
    bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
    ok = ::fsync(fd) == 0 && ok;
    int saved = errno;
    ::close(fd);
    if (ok && replace && ::rename(tmp.c_str(), path.c_str()) != 0) {
        ok = false;
        saved = errno;
    }
    if (!ok) {
        ::unlink(tmp.c_str());
        return make_error(path + ": " + std::strerror(saved));
    }
    return Unit{};
}

std::optional<std::string> read_secret_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream s;
    s << in.rdbuf();
    std::string v = s.str();
    while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
    return v;
}

}  // namespace tenex
