// tenex-sandbox import: see tenex_import.hpp for the mapping and the rules.
#include "cli/tenex_import.hpp"

#include <fcntl.h>
#include <stdio.h>  // renameat2, RENAME_NOREPLACE
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "daemon/config.hpp"
#include "nostr/utf8.hpp"
#include "project/workspace_path.hpp"
#include "sandbox/project_ref.hpp"
#include "sandbox/sandbox_spec.hpp"

namespace tenex::cli {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::uintmax_t kMaxJsonBytes = 16U << 20;     // config.json, index.json
constexpr std::uintmax_t kMaxScanBytes = 8U << 20;      // one metadata file scanned for the owner
constexpr std::size_t kMaxScanFiles = 2000;             // metadata files scanned per project
constexpr const char* kTempName = ".tenex-import.tmp";  // a file being copied, per directory

// A name or path as it can be printed: control bytes and invalid UTF-8 as \xNN.
std::string printable(const std::string& s) {
    std::string r;
    bool utf8 = nostr::is_valid_utf8(s);
    for (unsigned char c : s) {
        if (c < 0x20 || c == 0x7f || (!utf8 && c >= 0x80)) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            r += buf;
        } else {
            r += static_cast<char>(c);
        }
    }
    return r;
}

std::string errno_text(int e) {
    return std::strerror(e);
}

// Reads a regular file without following a symlink at its last component.
// `follow`: only for the file the operator named (config.json may be a dotfile link).
Result<std::string> read_nofollow(const fs::path& p, std::uintmax_t limit, bool follow = false) {
    int fd = ::open(p.c_str(), O_RDONLY | (follow ? 0 : O_NOFOLLOW) | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        return make_error(printable(p.string()) + ": " +
                          (e == ELOOP ? "is a symlink (not followed)" : errno_text(e)));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return make_error(printable(p.string()) + ": not a regular file");
    }
    if (static_cast<std::uintmax_t>(st.st_size) > limit) {
        ::close(fd);
        return make_error(printable(p.string()) + ": larger than " + std::to_string(limit) +
                          " bytes");
    }
    std::string data;
    data.resize(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (got < data.size()) {
        ssize_t n = ::read(fd, data.data() + got, data.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
    }
    ::close(fd);
    data.resize(got);
    return data;
}

// Parses JSON without ever echoing the text (it may hold keys): the error names the file and
// the byte offset only.
Result<json> parse_json_file(const fs::path& p, bool follow = false) {
    auto text = read_nofollow(p, kMaxJsonBytes, follow);
    if (!text) return text.error();
    try {
        return json::parse(*text);
    } catch (const json::parse_error& e) {
        return make_error(printable(p.string()) + ": malformed JSON near byte " +
                          std::to_string(e.byte));
    }
}

// One thing to create at the destination.
struct CopyItem {
    enum class Kind { dir, file, link } kind{};
    fs::path src{};  // file: the source
    fs::path dst{};
    std::string link_target{};
    mode_t mode = 0;
};

struct TreePlan {
    std::vector<CopyItem> create{};      // missing at the destination
    std::size_t present = 0;             // files already there with the same content
    std::vector<std::string> differs{};  // there with other content: kept (relative paths)
    std::vector<std::string> skipped{};  // links out of the tree, special files
    std::uintmax_t bytes = 0;
};

// Same size and bytes, compared in chunks (checkouts may hold large files); links not followed.
bool same_content(const fs::path& a, const fs::path& b) {
    int fa = ::open(a.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    int fb = ::open(b.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    bool same = fa >= 0 && fb >= 0;
    struct stat sa {
    }, sb{};
    if (same)
        same = ::fstat(fa, &sa) == 0 && ::fstat(fb, &sb) == 0 && S_ISREG(sa.st_mode) &&
               S_ISREG(sb.st_mode) && sa.st_size == sb.st_size;
    auto fill = [](int fd, char* buf, std::size_t size) {
        std::size_t got = 0;
        while (got < size) {
            ssize_t n = ::read(fd, buf + got, size - got);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            got += static_cast<std::size_t>(n);
        }
        return got;
    };
    static thread_local char x[1 << 16], y[1 << 16];
    while (same) {
        std::size_t n = fill(fa, x, sizeof x), m = fill(fb, y, sizeof y);
        if (n != m || std::memcmp(x, y, n) != 0) same = false;
        if (n == 0) break;
    }
    if (fa >= 0) ::close(fa);
    if (fb >= 0) ::close(fb);
    return same;
}

// Whether a relative link target at `rel_dir` (relative to the tree's root) stays inside.
bool link_stays_inside(const fs::path& rel_dir, const std::string& target) {
    if (target.empty() || target.front() == '/') return false;
    int depth = 0;
    for (const auto& part : rel_dir) {
        if (part == "." || part.empty()) continue;
        ++depth;
    }
    for (const auto& part : fs::path(target)) {
        if (part == "." || part.empty()) continue;
        if (part == "..") {
            if (--depth < 0) return false;
        } else {
            ++depth;
        }
    }
    return true;
}

// Plans copying the tree at `src` (a real directory; never followed when a link) to `dst`.
// `skip_dot_tenex`: a checkout's top-level `.tenex` (older TENEX's per-project layout, with
// agent keys) is left behind, as the daemon removes it from clones: agent keys and MCP servers
// come only from the project's events (project/workspace.cpp).
Status plan_tree(const fs::path& src, const fs::path& dst, TreePlan& plan,
                 bool skip_dot_tenex = false) {
    std::error_code ec;
    auto st = fs::symlink_status(src, ec);
    if (ec) return make_error(printable(src.string()) + ": " + ec.message());
    if (fs::is_symlink(st))
        return make_error(printable(src.string()) + ": is a symlink (not followed)");
    if (!fs::is_directory(st)) return make_error(printable(src.string()) + ": not a directory");
    auto dst_st = fs::symlink_status(dst, ec);
    if (fs::is_symlink(dst_st))
        return make_error(printable(dst.string()) + ": is a symlink at the destination (refused)");
    if (fs::exists(dst_st) && !fs::is_directory(dst_st))
        return make_error(printable(dst.string()) + ": exists and is not a directory");
    if (!fs::exists(dst_st))
        plan.create.push_back({.kind = CopyItem::Kind::dir,
                               .dst = dst,
                               .mode = static_cast<mode_t>(st.permissions()) & 07777});

    fs::recursive_directory_iterator it(src, fs::directory_options::none, ec);
    if (ec) return make_error(printable(src.string()) + ": " + ec.message());
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) return make_error(printable(src.string()) + ": " + ec.message());
        const fs::path& p = it->path();
        fs::path rel = p.lexically_relative(src);
        fs::path out = dst / rel;
        if (skip_dot_tenex && it.depth() == 0 && p.filename() == ".tenex") {
            plan.skipped.push_back(
                ".tenex (older TENEX's per-project layout; the daemon writes its own from the "
                "project's events)");
            it.disable_recursion_pending();
            continue;
        }
        if (p.filename() == kTempName) continue;
        auto s = fs::symlink_status(p, ec);
        if (ec) return make_error(printable(p.string()) + ": " + ec.message());
        auto d = fs::symlink_status(out, ec);
        bool exists = fs::exists(d) || fs::is_symlink(d);
        mode_t mode = static_cast<mode_t>(s.permissions()) & 07777;
        if (fs::is_symlink(s)) {
            std::string target = fs::read_symlink(p, ec).string();
            if (ec) return make_error(printable(p.string()) + ": " + ec.message());
            if (!link_stays_inside(rel.parent_path(), target)) {
                plan.skipped.push_back(printable(rel.string()) +
                                       " (symlink out of the project, not followed)");
                continue;
            }
            if (exists) {
                if (fs::is_symlink(d) && fs::read_symlink(out, ec).string() == target)
                    ++plan.present;
                else
                    plan.differs.push_back(printable(rel.string()));
                continue;
            }
            plan.create.push_back(
                {.kind = CopyItem::Kind::link, .dst = out, .link_target = target});
        } else if (fs::is_directory(s)) {
            if (exists && !fs::is_directory(d)) {
                plan.differs.push_back(printable(rel.string()) + "/");
                it.disable_recursion_pending();
                continue;
            }
            if (fs::is_symlink(d))
                return make_error(printable(out.string()) +
                                  ": is a symlink at the destination (refused)");
            if (!exists)
                plan.create.push_back({.kind = CopyItem::Kind::dir, .dst = out, .mode = mode});
        } else if (fs::is_regular_file(s)) {
            if (exists) {
                if (fs::is_regular_file(d) && same_content(p, out))
                    ++plan.present;
                else
                    plan.differs.push_back(printable(rel.string()));
                continue;
            }
            plan.create.push_back(
                {.kind = CopyItem::Kind::file, .src = p, .dst = out, .mode = mode});
            plan.bytes += fs::file_size(p, ec);
        } else {
            plan.skipped.push_back(printable(rel.string()) + " (not a regular file)");
        }
    }
    return Unit{};
}

Status copy_file_nofollow(const fs::path& src, const fs::path& dst, mode_t mode) {
    int in = ::open(src.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (in < 0) return make_error(printable(src.string()) + ": " + errno_text(errno));
    struct stat st {};
    if (::fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(in);
        return make_error(printable(src.string()) + ": not a regular file");
    }
    // Written under a temporary name and renamed into place (never over an existing file), so
    // an interrupted run leaves no truncated file that the next run would take for the
    // sandbox's own ("kept, differs"); the temporary of an interrupted run is replaced.
    const fs::path tmp = dst.parent_path() / kTempName;
    ::unlink(tmp.c_str());
    int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0) {
        int e = errno;
        ::close(in);
        return make_error(printable(tmp.string()) + ": " + errno_text(e));
    }
    char buf[1 << 16];
    Status result = Unit{};
    for (;;) {
        ssize_t n = ::read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            result = make_error(printable(src.string()) + ": " + errno_text(errno));
            break;
        }
        if (n == 0) break;
        for (ssize_t w = 0; w < n;) {
            ssize_t m = ::write(out, buf + w, static_cast<std::size_t>(n - w));
            if (m < 0 && errno == EINTR) continue;
            if (m < 0) {
                result = make_error(printable(dst.string()) + ": " + errno_text(errno));
                break;
            }
            w += m;
        }
        if (!result) break;
    }
    ::fchmod(out, mode & 07777);
    if (::fsync(out) != 0 && result)
        result = make_error(printable(dst.string()) + ": " + errno_text(errno));
    ::close(out);
    ::close(in);
    if (result && ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, dst.c_str(), RENAME_NOREPLACE) != 0)
        result = make_error(printable(dst.string()) + ": " + errno_text(errno));
    if (!result) ::unlink(tmp.c_str());
    return result;
}

Status apply_tree(const TreePlan& plan) {
    for (const auto& item : plan.create) {
        switch (item.kind) {
            case CopyItem::Kind::dir:
                if (::mkdir(item.dst.c_str(), 0700) != 0 && errno != EEXIST)
                    return make_error(printable(item.dst.string()) + ": " + errno_text(errno));
                break;
            case CopyItem::Kind::link:
                if (::symlink(item.link_target.c_str(), item.dst.c_str()) != 0)
                    return make_error(printable(item.dst.string()) + ": " + errno_text(errno));
                break;
            case CopyItem::Kind::file:
                if (auto s = copy_file_nofollow(item.src, item.dst, item.mode); !s) return s;
                break;
        }
    }
    // Directory modes last, so a read-only source directory does not stop its own copy.
    for (auto it = plan.create.rbegin(); it != plan.create.rend(); ++it)
        if (it->kind == CopyItem::Kind::dir) ::chmod(it->dst.c_str(), (it->mode & 07777) | 0700);
    return Unit{};
}

// "31933:<64 hex>:<d>" followed by a JSON string's end, in `text`: the owners named.
void find_owners(const std::string& text, const std::string& d, std::set<std::string>& owners) {
    const std::string prefix = "31933:";
    for (std::size_t pos = text.find(prefix); pos != std::string::npos;
         pos = text.find(prefix, pos + 1)) {
        std::size_t h = pos + prefix.size();
        if (h + 64 + 1 + d.size() + 1 > text.size()) continue;
        std::string hex = text.substr(h, 64);
        std::transform(hex.begin(), hex.end(), hex.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        if (!project::is_hex64(hex) || text[h + 64] != ':') continue;
        if (text.compare(h + 65, d.size(), d) != 0) continue;
        if (text[h + 65 + d.size()] != '"') continue;
        owners.insert(hex);
    }
}

struct Project {
    std::string d{};
    bool has_checkout = false;  // projectsBase/<d>
    bool has_metadata = false;  // <base>/projects/<d>
    std::string owner{};
    std::string owner_source{};
    std::string workspace_name{};
    fs::path workspace{};
    fs::path runtime_dir{};
    TreePlan checkout{};
    TreePlan metadata{};
    std::vector<std::string> agents{};  // pubkeys to copy
    std::vector<std::string> agents_present{};
    json index_out{};  // merged index.json to write (null: unchanged)
};

std::string join(const std::vector<std::string>& v, const char* sep) {
    std::string r;
    for (const auto& s : v) r += (r.empty() ? "" : sep) + s;
    return r;
}

}  // namespace

Status check_identifier(const std::string& d) {
    if (d.empty()) return make_error("empty name");
    if (d == "." || d == "..") return make_error("'" + d + "' is not a project name");
    if (d.size() > 255)
        return make_error("name of " + std::to_string(d.size()) + " bytes (at most 255)");
    for (unsigned char c : d) {
        if (c == '/') return make_error("name contains '/'");
        if (c == 0) return make_error("name contains NUL");
        if (c < 0x20 || c == 0x7f) return make_error("name contains a control character");
    }
    if (!nostr::is_valid_utf8(d)) return make_error("name is not valid UTF-8");
    return Unit{};
}

Status run_import(const ImportOptions& o, std::string& out) {
    std::ostringstream log;
    const fs::path base = fs::absolute(o.tenex_config).parent_path();
    auto config = parse_json_file(o.tenex_config, true);
    if (!config) return config.error();
    const std::string cfg_name = printable(o.tenex_config.string());
    if (!config->is_object()) return make_error(cfg_name + ": not a JSON object");

    // config.json: whitelistedPubkeys, relays, projectsBase.
    auto strings = [&](const char* key, std::vector<std::string>& dst) -> Status {
        if (!config->contains(key)) return Unit{};
        const auto& a = (*config)[key];
        if (!a.is_array()) return make_error(cfg_name + ": " + key + " is not an array of strings");
        for (std::size_t i = 0; i < a.size(); ++i) {
            if (!a[i].is_string())
                return make_error(cfg_name + ": " + key + "[" + std::to_string(i) +
                                  "] is not a string");
            dst.push_back(a[i].get<std::string>());
        }
        return Unit{};
    };
    std::vector<std::string> whitelist_in, relays;
    if (auto s = strings("whitelistedPubkeys", whitelist_in); !s) return s;
    if (auto s = strings("relays", relays); !s) return s;
    std::vector<std::string> whitelist;
    for (std::size_t i = 0; i < whitelist_in.size(); ++i) {
        auto hex = daemon::normalize_pubkey(whitelist_in[i]);
        if (!hex)
            return make_error(cfg_name + ": whitelistedPubkeys[" + std::to_string(i) +
                              "]: not a pubkey (64 hex or npub)");
        if (std::find(whitelist.begin(), whitelist.end(), *hex) == whitelist.end())
            whitelist.push_back(*hex);
    }
    for (std::size_t i = 0; i < relays.size(); ++i) {
        const auto& r = relays[i];
        bool ok = r.size() <= 2048 && (r.rfind("ws://", 0) == 0 || r.rfind("wss://", 0) == 0) &&
                  std::none_of(r.begin(), r.end(),
                               [](unsigned char c) { return c <= 0x20 || c == 0x7f; });
        if (!ok)
            return make_error(cfg_name + ": relays[" + std::to_string(i) +
                              "]: not a ws:// or wss:// URL");
    }
    if (!config->contains("projectsBase") || !(*config)["projectsBase"].is_string())
        return make_error(cfg_name +
                          ": no projectsBase (TENEX would fall back to ~/tenex): set it to where "
                          "the projects are");
    const fs::path projects_base = (*config)["projectsBase"].get<std::string>();
    if (!projects_base.is_absolute())
        return make_error(cfg_name + ": projectsBase '" + printable(projects_base.string()) +
                          "' is not an absolute path");
    std::error_code ec;
    if (!fs::is_directory(projects_base, ec))
        return make_error(cfg_name + ": projectsBase " + printable(projects_base.string()) +
                          " is not a directory");

    std::string owner_flag;
    if (!o.owner.empty()) {
        auto hex = daemon::normalize_pubkey(o.owner);
        if (!hex) return make_error("--owner: not a pubkey (64 hex or npub)");
        owner_flag = *hex;
    }
    for (const auto& d : o.only)
        if (auto s = check_identifier(d); !s)
            return make_error("--project '" + printable(d) + "': " + s.error().message);

    // The projects: directories under projectsBase and under <base>/projects.
    std::map<std::string, Project> projects;
    std::vector<std::string> refused;
    auto scan = [&](const fs::path& dir, bool checkout) -> Status {
        if (!fs::is_directory(dir, ec)) return Unit{};
        for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
            std::string d = it->path().filename().string();
            if (!o.only.empty() && std::find(o.only.begin(), o.only.end(), d) == o.only.end())
                continue;
            auto st = it->symlink_status(ec);
            if (fs::is_symlink(st)) {
                refused.push_back(printable(it->path().string()) + ": is a symlink (not followed)");
                continue;
            }
            if (!fs::is_directory(st)) continue;
            if (d.front() == '.') continue;  // TENEX's own hidden entries, e.g. .worktrees
            if (auto s = check_identifier(d); !s) {
                refused.push_back(printable(it->path().string()) + ": " + s.error().message);
                continue;
            }
            auto& p = projects[d];
            p.d = d;
            (checkout ? p.has_checkout : p.has_metadata) = true;
        }
        if (ec) return make_error(printable(dir.string()) + ": " + ec.message());
        return Unit{};
    };
    if (auto s = scan(projects_base, true); !s) return s;
    if (auto s = scan(base / "projects", false); !s) return s;
    for (const auto& d : o.only)
        if (!projects.count(d))
            return make_error("--project '" + printable(d) + "': no such project under " +
                              printable(projects_base.string()) + " or " +
                              printable((base / "projects").string()));

    // agents/index.json: which agents belong to which project (byProject: d -> pubkeys).
    json index = json::object();
    if (fs::exists(fs::symlink_status(base / "agents" / "index.json", ec))) {
        auto idx = parse_json_file(base / "agents" / "index.json");
        if (!idx) return idx.error();
        if (!idx->is_object())
            return make_error(printable((base / "agents" / "index.json").string()) +
                              ": not a JSON object");
        index = std::move(*idx);
    }
    // Global files that name projects by address (scheduled tasks: "31933:<owner>:<d>").
    std::string global_text;
    if (fs::is_regular_file(fs::symlink_status(base / "scheduled_tasks.json", ec))) {
        auto t = read_nofollow(base / "scheduled_tasks.json", kMaxScanBytes);
        if (t) global_text = std::move(*t);
    }

    std::vector<std::string> errors = refused;
    std::set<std::string> owners_used;
    for (auto& [d, p] : projects) {
        // The owner: an address "31933:<owner>:<d>" TENEX stored in the project's metadata.
        std::set<std::string> owners;
        std::string where;
        find_owners(global_text, d, owners);
        if (!owners.empty()) where = "scheduled_tasks.json";
        if (p.has_metadata) {
            std::size_t files = 0;
            fs::path mdir = base / "projects" / d;
            std::error_code sec;  // a scan that stops early only finds fewer addresses
            for (fs::recursive_directory_iterator it(mdir, sec), end;
                 !sec && it != end && files < kMaxScanFiles; it.increment(sec)) {
                std::error_code fec;
                if (!fs::is_regular_file(it->symlink_status(fec))) continue;
                ++files;
                auto t = read_nofollow(it->path(), kMaxScanBytes);
                if (!t) continue;
                std::size_t before = owners.size();
                find_owners(*t, d, owners);
                if (owners.size() != before && where.empty())
                    where = printable(it->path().lexically_relative(base).string());
            }
        }
        if (owners.size() == 1) {
            p.owner = *owners.begin();
            p.owner_source = "from TENEX metadata (" + where + ")";
            if (!owner_flag.empty() && owner_flag != p.owner)
                p.owner_source += "; --owner not used for it";
        } else if (owners.size() > 1) {
            if (owner_flag.empty() || !owners.count(owner_flag)) {
                errors.push_back(
                    printable(d) + ": TENEX metadata names " + std::to_string(owners.size()) +
                    " owners (" +
                    join(std::vector<std::string>(owners.begin(), owners.end()), ", ") +
                    "): pass --owner HEX (one of them) or --project to leave it out");
                continue;
            }
            p.owner = owner_flag;
            p.owner_source = "from --owner (TENEX metadata names several)";
        } else if (!owner_flag.empty()) {
            p.owner = owner_flag;
            p.owner_source = "from --owner (TENEX metadata does not name it)";
        } else if (whitelist.size() == 1) {
            p.owner = whitelist.front();
            p.owner_source =
                "the sole whitelisted pubkey (TENEX metadata does not name it; --owner HEX to "
                "choose another)";
        } else {
            errors.push_back(printable(d) +
                             ": the owner is not in TENEX's metadata and the whitelist has " +
                             std::to_string(whitelist.size()) + " pubkeys: pass --owner HEX");
            continue;
        }
        owners_used.insert(p.owner);

        auto ws = project::map_workspace(p.owner, d);
        if (!ws) {
            errors.push_back(printable(d) + ": " + ws.error().message);
            continue;
        }
        p.workspace_name = ws->name;
        p.workspace = o.projects_path / ws->relative();
        p.runtime_dir = o.state_dir / "runtime" /
                        sandbox::container_name(sandbox::ProjectRef{.owner = p.owner, .d = d});
        // The workspace and the owner directory must not be symlinks (never followed).
        for (const auto& q : {o.projects_path / p.owner, p.workspace, o.state_dir / "runtime",
                              p.runtime_dir, p.runtime_dir / "projects", p.runtime_dir / "agents"})
            if (fs::is_symlink(fs::symlink_status(q, ec)))
                errors.push_back(printable(q.string()) + ": is a symlink (refused)");
        if (p.has_checkout)
            if (auto s = plan_tree(projects_base / d, p.workspace, p.checkout, true); !s)
                errors.push_back(s.error().message);
        if (p.has_metadata)
            if (auto s =
                    plan_tree(base / "projects" / d, p.runtime_dir / "projects" / d, p.metadata);
                !s)
                errors.push_back(s.error().message);

        // Agents of this project: their key files and their index entries.
        if (index.contains("byProject") && index["byProject"].is_object() &&
            index["byProject"].contains(d) && index["byProject"][d].is_array()) {
            json dst_index = json::object();
            fs::path dst_index_path = p.runtime_dir / "agents" / "index.json";
            if (fs::exists(fs::symlink_status(dst_index_path, ec))) {
                auto existing = parse_json_file(dst_index_path);
                if (!existing || !existing->is_object()) {
                    errors.push_back(existing ? printable(dst_index_path.string()) +
                                                    ": not a JSON object"
                                              : existing.error().message);
                    continue;
                }
                dst_index = std::move(*existing);
            }
            json merged = dst_index;
            for (const char* k : {"bySlug", "byEventId", "byProject"})
                if (!merged.contains(k) || !merged[k].is_object()) merged[k] = json::object();
            std::vector<std::string> pks;
            for (const auto& pk : index["byProject"][d])
                if (pk.is_string() && project::is_hex64(pk.get<std::string>()))
                    pks.push_back(pk.get<std::string>());
            for (const auto& pk : pks) {
                fs::path src = base / "agents" / (pk + ".json");
                fs::path dst = p.runtime_dir / "agents" / (pk + ".json");
                if (!fs::is_regular_file(fs::symlink_status(src, ec)))
                    continue;  // symlinks not followed
                if (fs::exists(fs::symlink_status(dst, ec)))
                    p.agents_present.push_back(pk);
                else
                    p.agents.push_back(pk);
            }
            auto has = [&](const std::string& pk) {
                return std::find(pks.begin(), pks.end(), pk) != pks.end();
            };
            if (index.contains("byEventId") && index["byEventId"].is_object())
                for (const auto& [id, pk] : index["byEventId"].items())
                    if (pk.is_string() && has(pk.get<std::string>()) &&
                        !merged["byEventId"].contains(id))
                        merged["byEventId"][id] = pk;
            if (index.contains("bySlug") && index["bySlug"].is_object())
                for (const auto& [slug, entry] : index["bySlug"].items())
                    if (entry.is_object() && entry.contains("pubkey") &&
                        entry["pubkey"].is_string() && has(entry["pubkey"].get<std::string>()) &&
                        !merged["bySlug"].contains(slug))
                        merged["bySlug"][slug] = entry;
            if (!merged["byProject"].contains(d)) merged["byProject"][d] = pks;
            if (merged != dst_index) p.index_out = std::move(merged);
        }
    }
    if (!errors.empty()) {
        std::string msg = "nothing imported, nothing written:";
        for (const auto& e : errors) msg += "\n  " + e;
        return make_error(msg);
    }
    if (projects.empty())
        return make_error("no projects under " + printable(projects_base.string()) + " or " +
                          printable((base / "projects").string()) + ": nothing to import");

    // The report.
    const char* verb = o.apply ? "" : "would ";
    log << (o.apply ? "Importing" : "Dry run (nothing written; --apply to import)") << " from "
        << cfg_name << "\n";
    std::size_t changes = 0;
    auto tree_lines = [&](const char* what, const fs::path& from, const fs::path& to,
                          const TreePlan& t) {
        std::size_t files = 0;
        for (const auto& c : t.create) files += c.kind != CopyItem::Kind::dir;
        log << "  " << what << ": " << printable(from.string()) << " -> " << printable(to.string())
            << "\n";
        if (t.create.empty())
            log << "    already imported (" << t.present << " files present)\n";
        else
            log << "    " << verb << "copy " << files << " files (" << t.bytes << " bytes), "
                << t.present << " already present\n";
        for (const auto& s : t.differs)
            log << "    kept (differs at the destination): " << s << "\n";
        for (const auto& s : t.skipped) log << "    skipped: " << s << "\n";
        changes += t.create.size();
    };
    for (const auto& [d, p] : projects) {
        log << "project " << printable(d) << "\n";
        log << "  owner " << p.owner << " " << p.owner_source << "\n";
        log << "  address 31933:" << p.owner << ":" << printable(d) << "\n";
        if (p.has_checkout)
            tree_lines("checkout", projects_base / d, p.workspace, p.checkout);
        else
            log << "  checkout: none under projectsBase (the runtime clones or initialises it)\n";
        if (p.has_metadata)
            tree_lines("metadata", base / "projects" / d, p.runtime_dir / "projects" / d,
                       p.metadata);
        if (!p.agents.empty() || !p.agents_present.empty() || !p.index_out.is_null()) {
            log << "  agents: " << p.agents.size() << " key files to "
                << printable((p.runtime_dir / "agents").string())
                << (p.agents.empty() ? "" : std::string(" (") + verb + "copy, contents not shown)")
                << ", " << p.agents_present.size() << " already present"
                << (p.index_out.is_null() ? "; index.json up to date"
                                          : std::string("; index.json ") + verb + "be merged")
                << "\n";
            changes += p.agents.size() + !p.index_out.is_null();
        }
    }

    // llms.json holds API keys: never copied or printed. Its configurations (provider and
    // model only) are named so the operator can write the policy's tenex.llm.
    if (fs::exists(fs::symlink_status(base / "llms.json", ec))) {
        auto llms = parse_json_file(base / "llms.json");
        log << "llms.json: not imported (the sandbox writes the runtime's own from the policy's "
               "tenex.llm; "
               "API keys go in the policy's key file)\n";
        if (llms && llms->is_object() && llms->contains("configurations") &&
            (*llms)["configurations"].is_object()) {
            std::string def = llms->contains("default") && (*llms)["default"].is_string()
                                  ? (*llms)["default"].get<std::string>()
                                  : "";
            for (const auto& item : (*llms)["configurations"].items()) {
                // Named, not a structured binding: clang 14 cannot capture one in a lambda.
                const std::string& name = item.key();
                const nlohmann::json& c = item.value();
                auto field = [&](const char* k) {
                    return c.is_object() && c.contains(k) && c[k].is_string() &&
                                   c[k].get<std::string>().size() <= 200
                               ? printable(c[k].get<std::string>())
                               : std::string("?");
                };
                if (name.size() > 200) continue;
                log << "  " << printable(name) << (name == def ? " (default)" : "") << ": provider "
                    << field("provider") << ", model " << field("model") << "\n";
            }
        } else if (!llms) {
            log << "  (unreadable: " << llms.error().message << ")\n";
        }
    }

    // The sandbox's configuration: never rewritten, lines to add printed.
    std::vector<std::string> add_whitelist, add_relays;
    std::set<std::string> want(whitelist.begin(), whitelist.end());
    want.insert(owners_used.begin(), owners_used.end());
    for (const auto& pk : want)
        if (std::find(o.sandbox_whitelist.begin(), o.sandbox_whitelist.end(), pk) ==
            o.sandbox_whitelist.end())
            add_whitelist.push_back(pk);
    for (const auto& r : relays)
        if (std::find(o.sandbox_relays.begin(), o.sandbox_relays.end(), r) ==
                o.sandbox_relays.end() &&
            std::find(add_relays.begin(), add_relays.end(), r) == add_relays.end())
            add_relays.push_back(r);
    const std::string conf = o.sandbox_config_name.empty() ? "the daemon's configuration"
                                                           : printable(o.sandbox_config_name);
    if (add_whitelist.empty() && add_relays.empty()) {
        log << "configuration: " << conf << " already has the whitelist and relays\n";
    } else {
        log << "configuration: add to " << conf << " (it is not rewritten):\n";
        if (!add_whitelist.empty()) {
            log << "  whitelist:\n";
            for (const auto& pk : add_whitelist) log << "    - " << pk << "\n";
        }
        if (!add_relays.empty()) {
            log << "  relays:\n";
            for (const auto& r : add_relays) log << "    - " << r << "\n";
        }
    }

    std::string fragment;
    if (!o.config_out.empty()) {
        std::vector<std::string> all_wl = o.sandbox_whitelist, all_rl = o.sandbox_relays;
        all_wl.insert(all_wl.end(), add_whitelist.begin(), add_whitelist.end());
        all_rl.insert(all_rl.end(), add_relays.begin(), add_relays.end());
        fragment = "# Written by tenex-sandbox import from " + cfg_name +
                   ":\n# the whitelist and relays of " + conf +
                   " with the TENEX installation's added.\nwhitelist:\n";
        for (const auto& pk : all_wl) fragment += "  - " + pk + "\n";
        fragment += "relays:\n";
        for (const auto& r : all_rl) fragment += "  - " + r + "\n";
        auto existing = read_nofollow(o.config_out, kMaxJsonBytes);
        if (existing && *existing == fragment) {
            log << "  " << printable(o.config_out.string()) << ": already written\n";
            fragment.clear();
        } else {
            log << "  " << printable(o.config_out.string()) << ": " << verb
                << "write the merged whitelist and relays there\n";
            ++changes;
        }
    }

    if (!o.apply) {
        log << (changes == 0 ? "nothing to do: everything is already imported\n"
                             : "dry run: nothing written\n");
        out = log.str();
        return Unit{};
    }
    if (changes == 0) {
        log << "nothing to do: everything is already imported\n";
        out = log.str();
        return Unit{};
    }

    // Apply.
    auto fail = [&](const Error& e) {
        out = log.str();
        return make_error("import stopped: " + e.message +
                          " (what was copied before stays; run again to finish)");
    };
    auto mkdirs = [](const fs::path& p, mode_t mode) -> Status {
        fs::path cur;
        for (const auto& part : p) {
            cur /= part;
            if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST)
                return make_error(printable(cur.string()) + ": " + errno_text(errno));
        }
        return Unit{};
    };
    for (auto& [d, p] : projects) {
        if (p.has_checkout && !p.checkout.create.empty()) {
            auto ws = project::map_workspace(p.owner, d);
            auto owner_dir = project::ensure_owner_dir(o.projects_path, *ws);
            if (!owner_dir) return fail(owner_dir.error());
            if (auto s = apply_tree(p.checkout); !s) return fail(s.error());
        }
        if (p.has_metadata && !p.metadata.create.empty()) {
            if (auto s = mkdirs(p.runtime_dir / "projects", 0700); !s) return fail(s.error());
            if (auto s = apply_tree(p.metadata); !s) return fail(s.error());
        }
        if (!p.agents.empty() || !p.index_out.is_null()) {
            if (auto s = mkdirs(p.runtime_dir / "agents", 0700); !s) return fail(s.error());
            for (const auto& pk : p.agents)
                if (auto s = copy_file_nofollow(base / "agents" / (pk + ".json"),
                                                p.runtime_dir / "agents" / (pk + ".json"), 0600);
                    !s)
                    return fail(s.error());
            if (!p.index_out.is_null()) {
                fs::path tmp = p.runtime_dir / "agents" / ".index.json.import";
                ::unlink(tmp.c_str());
                int fd =
                    ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0)
                    return fail(make_error(printable(tmp.string()) + ": " + errno_text(errno)));
                std::string text = p.index_out.dump(2);
                bool ok =
                    ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                    ::fsync(fd) == 0;
                ::close(fd);
                if (!ok ||
                    ::rename(tmp.c_str(), (p.runtime_dir / "agents" / "index.json").c_str()) != 0)
                    return fail(
                        make_error(printable((p.runtime_dir / "agents" / "index.json").string()) +
                                   ": cannot write"));
            }
        }
    }
    if (!fragment.empty()) {
        fs::path tmp = o.config_out;
        tmp += ".tmp";
        std::ofstream f(tmp, std::ios::trunc);
        f << fragment;
        f.close();
        if (!f || ::rename(tmp.c_str(), o.config_out.c_str()) != 0)
            return fail(make_error(printable(o.config_out.string()) + ": cannot write"));
    }
    log << "imported; the sandbox's runtime directories are given to the container's user at its "
           "first start\n";
    out = log.str();
    return Unit{};
}

}  // namespace tenex::cli
