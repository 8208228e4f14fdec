// tenex-sandbox sign --key FILE [FILE|-]: reads unsigned events, one JSON per line
// ({"kind":K,"content":"...","tags":[...],"created_at":T?}), prints them signed.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "nostr/key_file.hpp"

namespace tenex::cli {

namespace {

Result<nostr::UnsignedEvent> parse_unsigned(const std::string& line) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) return make_error("not a JSON object");
    nostr::UnsignedEvent u;
    auto kind = j.find("kind");
    if (kind == j.end() || !kind->is_number_unsigned() ||
        kind->get<std::uint64_t>() > nostr::kMaxKind)
        return make_error("'kind' must be an integer 0..65535");
    u.kind = kind->get<std::uint32_t>();
    if (auto c = j.find("content"); c != j.end()) {
        if (!c->is_string()) return make_error("'content' must be a string");
        u.content = c->get<std::string>();
    }
    if (auto t = j.find("tags"); t != j.end()) {
        if (!t->is_array()) return make_error("'tags' must be an array of arrays of strings");
        for (const auto& tag : *t) {
            if (!tag.is_array()) return make_error("'tags' must be an array of arrays of strings");
            auto& out = u.tags.emplace_back();
            for (const auto& v : tag) {
                if (!v.is_string()) return make_error("tag values must be strings");
                out.push_back(v.get<std::string>());
            }
        }
    }
    if (auto c = j.find("created_at"); c != j.end() && !c->is_null()) {
        if (!c->is_number_unsigned() ||
            c->get<std::uint64_t>() > static_cast<std::uint64_t>(nostr::kMaxTimestamp))
            return make_error("'created_at' must be an integer 0..2^53-1");
        u.created_at = c->get<std::int64_t>();
    }
    return u;
}

}  // namespace

void register_sign(CLI::App& root, Context& ctx) {
    auto* cmd =
        root.add_subcommand("sign", "Sign events (one unsigned JSON per line) with a key file");
    auto key_path = std::make_shared<std::string>();
    auto path = std::make_shared<std::string>("-");
    cmd->add_option("--key", *key_path, "File holding the secret key (hex or nsec)")->required();
    cmd->add_option("file", *path, "File with one unsigned event per line, or - for stdin");
    cmd->callback([&ctx, key_path, path] {
        auto loaded = nostr::load_key_file(*key_path);
        if (!loaded) {
            std::fprintf(stderr, "sign: %s\n", loaded.error().message.c_str());
            ctx.exit_code = 2;
            return;
        }
        const nostr::Keys& keys = *loaded;

        std::ifstream file;
        std::istream* in = &std::cin;
        if (*path != "-") {
            file.open(*path, std::ios::binary);
            if (!file) {
                std::fprintf(stderr, "sign: cannot open %s\n", path->c_str());
                ctx.exit_code = 2;
                return;
            }
            in = &file;
        }
        std::string line;
        std::size_t n = 0;
        while (std::getline(*in, line)) {
            ++n;
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.find_first_not_of(" \t") == std::string::npos) continue;
            auto u = parse_unsigned(line);
            Result<nostr::Event> ev =
                u ? nostr::sign_event(std::move(*u), keys) : Result<nostr::Event>(u.error());
            if (!ev) {
                std::fprintf(stderr, "sign: line %zu: %s\n", n, ev.error().message.c_str());
                ctx.exit_code = 1;
                continue;
            }
            std::printf("%s\n", nostr::to_json(*ev).c_str());
        }
        std::fflush(stdout);
    });
}

}  // namespace tenex::cli
