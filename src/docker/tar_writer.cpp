#include "docker/tar_writer.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

namespace tenex::docker {
namespace {

constexpr std::size_t kBlock = 512;

// Writes value as a zero-padded octal number of width-1 digits plus NUL.
void octal(char* field, std::size_t width, std::uint64_t value) {
    std::snprintf(field, width, "%0*llo", static_cast<int>(width - 1),
                  static_cast<unsigned long long>(value));
}

void pad(std::string& out) {
    if (auto rem = out.size() % kBlock; rem != 0) out.append(kBlock - rem, '\0');
}

// A pax record "<len> key=value\n" where len counts the whole record, itself included.
std::string pax_record(std::string_view key, std::string_view value) {
    std::size_t base = key.size() + value.size() + 3;  // ' ', '=', '\n'
    std::size_t len = base + 1;
    while (std::to_string(len).size() + base != len) ++len;
    return std::to_string(len) + " " + std::string(key) + "=" + std::string(value) + "\n";
}

}  // namespace

void TarWriter::header(std::string_view name, char type, std::uint64_t size, std::uint32_t mode,
                       std::string_view link) {
    if (name.size() > 100 || link.size() > 100) {
        std::string pax;
        if (name.size() > 100) pax += pax_record("path", name);
        if (link.size() > 100) pax += pax_record("linkpath", link);
        header("././@PaxHeader", 'x', pax.size(), 0644);
        out_ += pax;
        pad(out_);
        name = name.substr(0, 100);
        link = link.substr(0, 100);
    }
    char h[kBlock];
    std::memset(h, 0, sizeof h);
    if (!name.empty()) std::memcpy(h, name.data(), name.size());
    octal(h + 100, 8, mode & 07777);
    octal(h + 108, 8, 0);
    octal(h + 116, 8, 0);
    octal(h + 124, 12, size);
    octal(h + 136, 12, 0);
    std::memset(h + 148, ' ', 8);
    h[156] = type;
    if (!link.empty()) std::memcpy(h + 157, link.data(), link.size());  // data() may be null
    std::memcpy(h + 257, "ustar", 6);
    std::memcpy(h + 263, "00", 2);
    unsigned sum = 0;
    for (unsigned char c : h) sum += c;
    std::snprintf(h + 148, 8, "%06o", sum);  // six digits, NUL, and the space kept at 155
    h[155] = ' ';
    out_.append(h, kBlock);
}

void TarWriter::add_file(std::string_view name, std::string_view content, std::uint32_t mode) {
    header(name, '0', content.size(), mode);
    out_.append(content);
    pad(out_);
}

void TarWriter::add_directory(std::string_view name, std::uint32_t mode) {
    std::string n(name);
    if (!n.ends_with('/')) n += '/';
    header(n, '5', 0, mode);
}

void TarWriter::add_symlink(std::string_view name, std::string_view target) {
    header(name, '2', 0, 0777, target);
}

std::string TarWriter::finish() {
    out_.append(2 * kBlock, '\0');
    return std::move(out_);
}

Status TarWriter::add_tree(const std::filesystem::path& dir, std::string_view prefix) {
    namespace fs = std::filesystem;
    std::error_code ec;
    auto root = fs::status(dir, ec);
    if (!fs::is_directory(root)) return make_error(dir.string() + ": not a directory");
    std::vector<fs::path> entries;
    for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
        entries.push_back(it->path());
    if (ec) return make_error(dir.string() + ": " + ec.message());
    std::sort(entries.begin(), entries.end());
    const std::string base = prefix.empty() ? std::string() : std::string(prefix) + "/";
    if (!prefix.empty())
        add_directory(prefix, static_cast<std::uint32_t>(root.permissions()) & 07777);
    for (const auto& p : entries) {
        // Lexically: fs::relative resolves symlinks, which named a link after its target (a
        // link bin/sh -> busybox was archived as a second bin/busybox, a link to itself).
        std::string name = p.lexically_relative(dir).generic_string();
        if (name.empty()) return make_error(p.string() + ": not under " + dir.string());
        name = base + name;
        auto st = fs::symlink_status(p, ec);
        if (ec) return make_error(p.string() + ": " + ec.message());
        auto mode = static_cast<std::uint32_t>(st.permissions()) & 07777;
        if (fs::is_symlink(st)) {
            add_symlink(name, fs::read_symlink(p, ec).string());
        } else if (fs::is_directory(st)) {
            add_directory(name, mode);
        } else if (fs::is_regular_file(st)) {
            std::ifstream in(p, std::ios::binary);
            std::ostringstream content;
            content << in.rdbuf();
            if (!in) return make_error(p.string() + ": cannot read");
            add_file(name, content.str(), mode);
        } else {
            return make_error(p.string() + ": not a file, directory or symlink");
        }
        if (ec) return make_error(p.string() + ": " + ec.message());
    }
    return Unit{};
}

Result<std::string> tar_directory(const std::filesystem::path& dir) {
    TarWriter tar;
    if (auto s = tar.add_tree(dir); !s) return s.error();
    return tar.finish();
}

}  // namespace tenex::docker
