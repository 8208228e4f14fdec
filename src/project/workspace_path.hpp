// Where a project lives on disk: (owner pubkey, `d` identifier) -> <projects>/<owner>/<name>.
//
// The mapping, stable across restarts and releases (changing it orphans workspaces):
// - <owner> is the owner's pubkey as 64 lowercase hex: two owners never share a directory.
// - <name> is the identifier itself when it is already a safe, readable file name:
//   [A-Za-z0-9][A-Za-z0-9._-]*, at most 64 bytes, no trailing '.', not a Windows device
//   name (CON, PRN, AUX, NUL, COM0-9, LPT0-9, with or without an extension).
// - Otherwise the identifier is sanitized: every byte outside [A-Za-z0-9._-] becomes '_'
//   (runs collapse), leading non-alphanumerics and trailing dots go, at most 48 bytes
//   (or "project" when nothing is left), then "~" and 16 hex digits of SHA-256(identifier).
//   Safe names never contain '~', so sanitized names cannot collide with them, and two
//   different identifiers of one owner only collide if SHA-256 prefixes do.
// - Rejected outright (no directory at all): empty, only dots/spaces ("." ".."), longer than
//   kMaxIdentifierBytes, invalid UTF-8, NUL or other control characters (C0, DEL, C1).
// Directories are created and opened component by component with O_NOFOLLOW: a symlink (or
// a file) planted where the owner or project directory would be is refused, never followed.
#pragma once

#include "common/result.hpp"

#include <filesystem>
#include <string>
#include <string_view>

namespace tenex::project {

inline constexpr std::size_t kMaxIdentifierBytes = 1024;
inline constexpr std::size_t kMaxSafeNameBytes = 64;
inline constexpr std::size_t kMaxSanitizedStemBytes = 48;

struct WorkspaceName {
    std::string owner{};    // 64 lowercase hex
    std::string name{};     // the directory name under <projects>/<owner>/
    bool sanitized{false};  // name differs from the identifier
    std::string reason{};   // why it was sanitized (for the log line)

    std::filesystem::path relative() const { return std::filesystem::path(owner) / name; }
};

// Pure mapping; logs one line when it sanitizes or rejects (without the raw identifier, which
// may hold control characters: its length and the resulting name).
Result<WorkspaceName> map_workspace(std::string_view owner_hex, std::string_view identifier);

enum class Presence { absent, directory };

// Creates <root> if missing (the operator's path; it may itself be a symlink) and
// <root>/<owner> (mode 0755, never following a symlink); returns <root>/<owner>.
Result<std::filesystem::path> ensure_owner_dir(const std::filesystem::path& root,
                                               const WorkspaceName& ws);

// Whether <root>/<owner>/<name> exists as a real directory. A symlink or any other file type
// at either level is an error (refused), never followed.
Result<Presence> probe_workspace(const std::filesystem::path& root, const WorkspaceName& ws);

// True when `s` is a 64-character lowercase hex string (pubkeys, event ids).
bool is_hex64(std::string_view s);

}  // namespace tenex::project
