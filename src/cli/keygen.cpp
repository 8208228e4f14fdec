// tenex-sandbox keygen [--out FILE]: a new Nostr key from the OS random source.
#include <cstdio>
#include <string>

#include "cli/command.hpp"
#include "common/private_file.hpp"
#include "nostr/keys.hpp"

namespace tenex::cli {

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
        auto written = write_private_file(*out, keys.secret.reveal_nsec() + "\n", *force);
        if (!written) {
            std::fprintf(stderr, "keygen: cannot write %s%s\n", written.error().message.c_str(),
                         *force ? "" : " (use --force to replace it)");
            ctx.exit_code = 1;
            return;
        }
        std::printf("%s\n", keys.pub.npub().c_str());
    });
}

}  // namespace tenex::cli
