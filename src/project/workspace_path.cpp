#include "project/workspace_path.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/sha256.hpp"

namespace tenex::project {

namespace fs = std::filesystem;

namespace {

bool is_alnum(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool is_safe_char(unsigned char c) {
    return is_alnum(c) || c == '.' || c == '_' || c == '-';
}

// Validates UTF-8 and rejects control characters (C0, DEL, C1). Returns a reason or "".
std::string check_text(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == 0x7f) return "contains a control character or NUL";
        if (c < 0x80) {
            ++i;
            continue;
        }
        int len = 0;
        std::uint32_t cp = 0;
        if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
        } else
            return "is not valid UTF-8";
        if (i + static_cast<std::size_t>(len) > s.size()) return "is not valid UTF-8";
        for (int k = 1; k < len; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
            if ((cc & 0xc0) != 0x80) return "is not valid UTF-8";
            cp = (cp << 6) | (cc & 0x3f);
        }
        const bool overlong =
            (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
        if (overlong || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return "is not valid UTF-8";
        if (cp >= 0x80 && cp <= 0x9f) return "contains a control character";
        i += static_cast<std::size_t>(len);
    }
    return "";
}

bool is_reserved_device(std::string_view name) {
    std::string base(name.substr(0, name.find('.')));
    for (auto& ch : base) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (base == "CON" || base == "PRN" || base == "AUX" || base == "NUL") return true;
    if (base.size() == 4 && (base.rfind("COM", 0) == 0 || base.rfind("LPT", 0) == 0) &&
        base[3] >= '0' && base[3] <= '9')
        return true;
    return false;
}

// Why `s` is not usable verbatim as a directory name, or "" when it is.
std::string unsafe_reason(std::string_view s) {
    if (s.size() > kMaxSafeNameBytes) return "longer than 64 bytes";
    if (!is_alnum(static_cast<unsigned char>(s.front())))
        return "does not start with a letter or digit";
    for (char c : s)
        if (!is_safe_char(static_cast<unsigned char>(c)))
            return "has characters outside [A-Za-z0-9._-]";
    if (s.back() == '.') return "ends with a dot";
    if (is_reserved_device(s)) return "is a reserved device name";
    return "";
}

std::string sanitize(std::string_view s) {
    std::string stem;
    for (char raw : s) {
        const auto c = static_cast<unsigned char>(raw);
        if (is_safe_char(c)) {
            if (stem.empty() && !is_alnum(c)) continue;  // leading non-alphanumerics go
            stem.push_back(raw);
        } else if (!stem.empty() && stem.back() != '_') {
            stem.push_back('_');
        }
        if (stem.size() >= kMaxSanitizedStemBytes) break;
    }
    while (!stem.empty() && (stem.back() == '.' || stem.back() == '_')) stem.pop_back();
    if (stem.empty()) stem = "project";
    return stem + "~" + sha256_hex(s).substr(0, 16);
}

// Opens dir_fd/name as a directory without following symlinks; creates it first if asked.
Result<int> open_dir_nofollow(int dir_fd, const std::string& name, bool create,
                              const fs::path& shown) {
    if (create && ::mkdirat(dir_fd, name.c_str(), 0755) != 0 && errno != EEXIST)
        return make_error("cannot create " + shown.string() + ": " + std::strerror(errno));
    const int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) return fd;
    const int err = errno;
    if (err == ENOENT) return -1;
    if (err == ELOOP || err == ENOTDIR)
        return make_error("refusing " + shown.string() + ": it is a symlink or not a directory");
    return make_error("cannot open " + shown.string() + ": " + std::strerror(err));
}

struct Fd {
    int fd{-1};
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace

bool is_hex64(std::string_view s) {
    if (s.size() != 64) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

Result<WorkspaceName> map_workspace(std::string_view owner_hex, std::string_view identifier) {
    if (!is_hex64(owner_hex))
        return make_error("project owner is not a 64-character lowercase hex pubkey");
    auto reject = [&](const std::string& why) -> Result<WorkspaceName> {
        spdlog::warn("workspace identifier rejected: owner={} length={} reason: identifier {}",
                     owner_hex, identifier.size(), why);
        return make_error("project identifier " + why);
    };
    if (identifier.empty()) return reject("is empty");
    if (identifier.size() > kMaxIdentifierBytes)
        return reject("is " + std::to_string(identifier.size()) + " bytes, the limit is " +
                      std::to_string(kMaxIdentifierBytes));
    if (auto why = check_text(identifier); !why.empty()) return reject(why);
    if (identifier.find_first_not_of(". ") == std::string_view::npos)
        return reject("consists only of dots and spaces");

    WorkspaceName ws;
    ws.owner = std::string(owner_hex);
    const std::string why = unsafe_reason(identifier);
    if (why.empty()) {
        ws.name = std::string(identifier);
        return ws;
    }
    ws.name = sanitize(identifier);
    ws.sanitized = true;
    ws.reason = "identifier " + why;
    spdlog::info("workspace identifier sanitized: owner={} length={} name={} reason: {}", owner_hex,
                 identifier.size(), ws.name, ws.reason);
    return ws;
}

Result<fs::path> ensure_owner_dir(const fs::path& root, const WorkspaceName& ws) {
    std::error_code ec;
    fs::create_directories(root, ec);
    if (ec) return make_error("cannot create projects path " + root.string() + ": " + ec.message());
    Fd root_fd{::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (root_fd.fd < 0)
        return make_error("cannot open projects path " + root.string() + ": " +
                          std::strerror(errno));
    auto owner = open_dir_nofollow(root_fd.fd, ws.owner, true, root / ws.owner);
    if (!owner) return owner.error();
    if (*owner < 0) return make_error("cannot create " + (root / ws.owner).string());
    ::close(*owner);
    return root / ws.owner;
}

Result<Presence> probe_workspace(const fs::path& root, const WorkspaceName& ws) {
    Fd root_fd{::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (root_fd.fd < 0) {
        if (errno == ENOENT) return Presence::absent;
        return make_error("cannot open projects path " + root.string() + ": " +
                          std::strerror(errno));
    }
    auto owner = open_dir_nofollow(root_fd.fd, ws.owner, false, root / ws.owner);
    if (!owner) return owner.error();
    if (*owner < 0) return Presence::absent;
    Fd owner_fd{*owner};
    auto project = open_dir_nofollow(owner_fd.fd, ws.name, false, root / ws.relative());
    if (!project) return project.error();
    if (*project < 0) return Presence::absent;
    ::close(*project);
    return Presence::directory;
}

}  // namespace tenex::project
