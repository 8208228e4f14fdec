// Writes POSIX tar (ustar, with pax headers for long names) in memory: the build context of
// an image, without spawning `tar`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace tenex::docker {

class TarWriter {
  public:
    // Entries get mtime 0 and uid/gid 0 so the same files give the same archive.
    void add_file(std::string_view name, std::string_view content, std::uint32_t mode = 0644);
    void add_directory(std::string_view name, std::uint32_t mode = 0755);
    void add_symlink(std::string_view name, std::string_view target);
    // Every file, directory and symlink under dir, sorted, named prefix/<relative name> (just
    // the relative name for an empty prefix); dir itself as `prefix` when there is one. Other
    // file types (sockets, devices) are an error.
    Status add_tree(const std::filesystem::path& dir, std::string_view prefix = {});
    // Ends the archive (two zero blocks) and hands it over.
    std::string finish();
    std::size_t size() const { return out_.size(); }

  private:
    void header(std::string_view name, char type, std::uint64_t size, std::uint32_t mode,
                std::string_view link = {});
    std::string out_;
};

// Archives every file, directory and symlink under dir (names relative to it, sorted; see
// add_tree).
Result<std::string> tar_directory(const std::filesystem::path& dir);

}  // namespace tenex::docker
