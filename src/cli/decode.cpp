// tenex-sandbox decode <npub|nsec|note|nprofile|nevent|naddr>: the entity as JSON.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "nostr/nip19.hpp"

namespace tenex::cli {

void register_decode(CLI::App& root, Context& ctx) {
    auto* cmd = root.add_subcommand(
        "decode", "Decode a NIP-19 entity (npub, nsec, note, nprofile, nevent, naddr) to JSON");
    auto text = std::make_shared<std::string>();
    auto reveal = std::make_shared<bool>(false);
    cmd->add_option("entity", *text, "The bech32 string")->required();
    cmd->add_flag("--reveal", *reveal, "For an nsec, also print the secret key in hex");
    cmd->callback([&ctx, text, reveal] {
        auto e = nostr::decode_entity(*text);
        if (!e) {
            std::fprintf(stderr, "decode: %s\n", e.error().message.c_str());
            ctx.exit_code = 1;
            return;
        }
        std::printf("%s\n", nostr::entity_to_json(*e, *reveal).dump(2).c_str());
    });
}

}  // namespace tenex::cli
