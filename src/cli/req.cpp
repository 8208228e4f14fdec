// tenex-sandbox req --relay URL... FILTER_JSON: prints matching events, one JSON per line,
// once every relay has settled (EOSE, CLOSED, disconnect or timeout).
#include <cstdio>

#include "cli/command.hpp"
#include "cli/relay_args.hpp"
#include "nostr/filter.hpp"

namespace tenex::cli {
namespace {

struct ReqArgs {
    std::vector<std::string> relays{};
    std::vector<std::string> filters{};
    double timeout_s{10};
    std::string ca_file{};
};

}  // namespace

void register_req(CLI::App& root, Context& ctx) {
    auto a = std::make_shared<ReqArgs>();
    auto* cmd =
        root.add_subcommand("req", "Query relays; prints verified events, one JSON per line");
    cmd->add_option("--relay", a->relays, "Relay URL (ws:// or wss://), repeatable")->required();
    cmd->add_option("filter", a->filters, "NIP-01 filter JSON (several filters OR)")->required();
    cmd->add_option("--timeout", a->timeout_s, "Seconds before a relay counts as settled");
    cmd->add_option("--ca-file", a->ca_file,
                    "PEM CA bundle to trust for wss:// instead of the system store")
        ->check(CLI::ExistingFile);
    cmd->callback([a, &ctx] {
        std::vector<nostr::Filter> filters;
        for (const auto& text : a->filters) {
            auto f = nostr::Filter::parse(text);
            if (!f) {
                std::fprintf(stderr, "tenex-sandbox req: bad filter: %s\n",
                             f.error().message.c_str());
                ctx.exit_code = 2;
                return;
            }
            filters.push_back(std::move(*f));
        }
        relay::PoolOptions opt;
        opt.ca_file = a->ca_file;
        relay::RelayPool pool(opt);
        const auto timeout = std::chrono::milliseconds(static_cast<long>(a->timeout_s * 1000));
        if (!add_relays(pool, a->relays, relay::RelayMode::read, timeout)) {
            ctx.exit_code = 2;
            return;
        }
        for (const auto& e : pool.fetch(std::move(filters), timeout).get())
            std::printf("%s\n", nostr::to_json(e).c_str());
        std::size_t connected = 0;
        for (const auto& st : pool.status()) {
            if (st.connected)
                ++connected;
            else
                std::fprintf(stderr, "relay %s: %s\n", st.url.c_str(), st.last_error.c_str());
        }
        if (connected == 0) ctx.exit_code = 1;
    });
}

}  // namespace tenex::cli
