// tenex-sandbox encode <naddr|npub|note|nprofile|nevent> ...: prints the NIP-19 entity.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "cli/command.hpp"
#include "nostr/nip19.hpp"

namespace tenex::cli {

namespace {

void emit(Context& ctx, const Result<std::string>& r) {
    if (!r) {
        std::fprintf(stderr, "encode: %s\n", r.error().message.c_str());
        ctx.exit_code = 1;
        return;
    }
    std::printf("%s\n", r->c_str());
}

}  // namespace

void register_encode(CLI::App& root, Context& ctx) {
    auto* cmd = root.add_subcommand("encode", "Encode a NIP-19 entity");
    cmd->require_subcommand(1);

    struct Opts {
        std::uint32_t kind = 0;
        std::string pubkey, identifier, hex, author;
        std::vector<std::string> relays;
        std::optional<std::uint32_t> event_kind;
    };
    auto o = std::make_shared<Opts>();

    auto* naddr = cmd->add_subcommand("naddr", "An addressable event's address");
    naddr->add_option("--kind", o->kind, "Event kind 0..65535")
        ->required()
        ->check(CLI::Range(0, 65535));
    naddr->add_option("--pubkey", o->pubkey, "Author pubkey, 64 hex")->required();
    naddr->add_option("--identifier,-d", o->identifier, "The d tag (may be empty)")->required();
    naddr->add_option("--relay", o->relays, "Relay hint (repeatable)");
    naddr->callback([&ctx, o] {
        emit(ctx, nostr::encode_naddr(
                      nostr::Naddr{nostr::Address{o->kind, o->pubkey, o->identifier}, o->relays}));
    });

    auto* npub = cmd->add_subcommand("npub", "A public key");
    npub->add_option("pubkey", o->hex, "64 hex")->required();
    npub->callback([&ctx, o] { emit(ctx, nostr::encode_npub_hex(o->hex)); });

    auto* note = cmd->add_subcommand("note", "An event id");
    note->add_option("id", o->hex, "64 hex")->required();
    note->callback([&ctx, o] { emit(ctx, nostr::encode_note_hex(o->hex)); });

    auto* nprofile = cmd->add_subcommand("nprofile", "A public key with relay hints");
    nprofile->add_option("pubkey", o->hex, "64 hex")->required();
    nprofile->add_option("--relay", o->relays, "Relay hint (repeatable)");
    nprofile->callback([&ctx, o] {
        emit(ctx, nostr::encode_nprofile(nostr::Nprofile{o->hex, o->relays}));
    });

    auto* nevent = cmd->add_subcommand("nevent", "An event id with hints");
    nevent->add_option("id", o->hex, "64 hex")->required();
    nevent->add_option("--relay", o->relays, "Relay hint (repeatable)");
    nevent->add_option("--author", o->author, "Author pubkey, 64 hex");
    nevent->add_option("--kind", o->event_kind, "Event kind")->check(CLI::Range(0, 65535));
    nevent->callback([&ctx, o] {
        nostr::Nevent e{o->hex, o->relays, std::nullopt, o->event_kind};
        if (!o->author.empty()) e.author = o->author;
        emit(ctx, nostr::encode_nevent(e));
    });
}

}  // namespace tenex::cli
