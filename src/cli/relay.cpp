// tenex-sandbox relay --listen HOST:PORT [--db FILE]: the embedded Nostr relay.
#include <csignal>
#include <cstdio>
#include <thread>

#include <spdlog/spdlog.h>

#include "cli/command.hpp"
#include "common/listen_address.hpp"
#include "relay/server.hpp"

namespace tenex::cli {
namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) {
    g_stop = 1;
}

struct RelayArgs {
    std::string listen{"127.0.0.1:7777"};
    std::string db{};
};

}  // namespace

void register_relay(CLI::App& root, Context& ctx) {
    auto args = std::make_shared<RelayArgs>();
    auto* cmd =
        root.add_subcommand("relay", "Run the embedded Nostr relay (NIP-01) until SIGINT/SIGTERM");
    cmd->add_option("--listen", args->listen, "HOST:PORT to listen on (port 0 picks a free one)");
    cmd->add_option("--db", args->db, "SQLite file to keep events in (default: memory only)");
    cmd->callback([args, &ctx] {
        auto addr = parse_tcp_listen_address(args->listen);
        if (!addr) {
            std::fprintf(stderr, "tenex-sandbox relay: %s\n", addr.error().message.c_str());
            ctx.exit_code = 2;
            return;
        }
        relay::RelayServerOptions opt;
        opt.host = addr->host;
        opt.port = addr->port;
        opt.db_path = args->db;
        auto server = relay::EmbeddedRelay::start(opt);
        if (!server) {
            std::fprintf(stderr, "tenex-sandbox relay: %s\n", server.error().message.c_str());
            ctx.exit_code = 1;
            return;
        }
        std::signal(SIGINT, on_signal);
        std::signal(SIGTERM, on_signal);
        // The URL on stdout, so scripts and tests can wait for it.
        std::printf("%s\n", (*server)->url().c_str());
        std::fflush(stdout);
        while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        (*server)->stop();
    });
}

}  // namespace tenex::cli
