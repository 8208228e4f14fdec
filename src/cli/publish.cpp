// tenex-sandbox publish --relay URL... --key FILE --kind K [--content C] [--tag NAME=V1,V2]...
//                       [--ca-file PEM]
#include <cstdio>

#include "cli/command.hpp"
#include "cli/relay_args.hpp"
#include "nostr/event.hpp"
#include "nostr/key_file.hpp"

namespace tenex::cli {
namespace {

struct PublishArgs {
    std::vector<std::string> relays{};
    std::string key_file{};
    unsigned kind{1};
    std::string content{};
    std::vector<std::string> tags{};
    double timeout_s{10};
    std::string ca_file{};
};

Result<nostr::Tag> parse_tag(const std::string& text) {
    auto eq = text.find('=');
    if (eq == std::string::npos || eq == 0) return make_error("tag must be NAME=V1,V2...: " + text);
    nostr::Tag tag{text.substr(0, eq)};
    std::string rest = text.substr(eq + 1);
    std::size_t pos = 0;
    while (true) {
        auto comma = rest.find(',', pos);
        tag.push_back(
            rest.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
        if (comma == std::string::npos) break;
        pos = comma + 1;
    }
    return tag;
}

}  // namespace

void register_publish(CLI::App& root, Context& ctx) {
    auto a = std::make_shared<PublishArgs>();
    auto* cmd = root.add_subcommand(
        "publish", "Sign an event and publish it; prints the id and each relay's OK");
    cmd->add_option("--relay", a->relays, "Relay URL (ws:// or wss://), repeatable")->required();
    cmd->add_option("--key", a->key_file, "Key file (hex or nsec secret key)")->required();
    cmd->add_option("--kind", a->kind, "Event kind")->required()->check(CLI::Range(0u, 65535u));
    cmd->add_option("--content", a->content, "Event content");
    cmd->add_option("--tag", a->tags, "Tag NAME=V1,V2... (repeatable)");
    cmd->add_option("--timeout", a->timeout_s, "Seconds to wait for OKs");
    cmd->add_option("--ca-file", a->ca_file,
                    "PEM CA bundle to trust for wss:// instead of the system store")
        ->check(CLI::ExistingFile);
    cmd->callback([a, &ctx] {
        auto keys = nostr::load_key_file(a->key_file);
        if (!keys) {
            std::fprintf(stderr, "tenex-sandbox publish: %s\n", keys.error().message.c_str());
            ctx.exit_code = 2;
            return;
        }
        nostr::UnsignedEvent u;
        u.kind = a->kind;
        u.content = a->content;
        for (const auto& t : a->tags) {
            auto tag = parse_tag(t);
            if (!tag) {
                std::fprintf(stderr, "tenex-sandbox publish: %s\n", tag.error().message.c_str());
                ctx.exit_code = 2;
                return;
            }
            u.tags.push_back(std::move(*tag));
        }
        auto event = nostr::sign_event(std::move(u), *keys);
        if (!event) {
            std::fprintf(stderr, "tenex-sandbox publish: %s\n", event.error().message.c_str());
            ctx.exit_code = 2;
            return;
        }
        relay::PoolOptions opt;
        opt.signer = *keys;
        opt.ca_file = a->ca_file;
        relay::RelayPool pool(opt);
        const auto timeout = std::chrono::milliseconds(static_cast<long>(a->timeout_s * 1000));
        if (!add_relays(pool, a->relays, relay::RelayMode::write, timeout)) {
            ctx.exit_code = 2;
            return;
        }
        auto result = pool.publish(*event, timeout).get();
        std::printf("%s\n", event->id.c_str());
        for (const auto& r : result.relays)
            std::printf("%s %s %s\n", r.relay.c_str(), r.accepted ? "OK" : "REFUSED",
                        r.message.c_str());
        if (!result.any_accepted()) ctx.exit_code = 1;
    });
}

}  // namespace tenex::cli
