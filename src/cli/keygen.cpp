// tenex-sandbox keygen [--out FILE]: a new Nostr key from the OS random source.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/command.hpp"
#include "nostr/keys.hpp"

namespace tenex::cli {

namespace {

// Writes the nsec to a new file created with mode 0600 (never an existing one unless force,
// and then it is replaced atomically through a 0600 temp file).
bool write_key_file(const std::string& path, const std::string& content, bool force, std::string* why) {
    std::string target = path;
    std::string tmp = force ? path + ".tmp." + std::to_string(::getpid()) : path;
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        *why = errno == EEXIST ? "file exists (use --force to replace it)" : std::strerror(errno);
        return false;
    }
    ::fchmod(fd, 0600);  // regardless of umask
    bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
    ok = ::fsync(fd) == 0 && ok;
    ::close(fd);
    if (ok && force && ::rename(tmp.c_str(), target.c_str()) != 0) ok = false;
    if (!ok) {
        *why = std::strerror(errno);
        ::unlink(tmp.c_str());
    }
    return ok;
}

}  // namespace

void register_keygen(CLI::App& root, Context& ctx) {
    auto* cmd = root.add_subcommand("keygen", "Generate a Nostr key; prints the npub");
    auto out = std::make_shared<std::string>();
    auto force = std::make_shared<bool>(false);
    cmd->add_option("--out", *out, "Write the secret key (nsec) to FILE, mode 0600");
    cmd->add_flag("--force", *force, "Replace FILE if it exists");
    cmd->callback([&ctx, out, force] {
        auto keys = nostr::Keys::generate();
        if (out->empty()) {
            // No file: the caller asked for the secret on stdout.
            std::printf("%s\n%s\n", keys.secret.reveal_nsec().c_str(), keys.pub.npub().c_str());
            return;
        }
        std::string why;
        if (!write_key_file(*out, keys.secret.reveal_nsec() + "\n", *force, &why)) {
            std::fprintf(stderr, "keygen: cannot write %s: %s\n", out->c_str(), why.c_str());
            ctx.exit_code = 1;
            return;
        }
        std::printf("%s\n", keys.pub.npub().c_str());
    });
}

}  // namespace tenex::cli
