// tenex-sandbox verify [FILE|-]: one event JSON per line; prints "<id> ok" or
// "<id> invalid: <reason>" per event; exit 0 only if every event is valid.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "nostr/hex.hpp"
#include "nostr/verify.hpp"

namespace tenex::cli {

namespace {

constexpr std::size_t kBatch = 4096;

// The id to print for a line that did not parse: its "id" if it has a plausible one.
std::string id_for_report(const std::string& line) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object()) {
        auto it = j.find("id");
        if (it != j.end() && it->is_string() &&
            nostr::is_lower_hex(it->get_ref<const std::string&>(), 64))
            return it->get<std::string>();
    }
    return "-";
}

// Verifies one batch; returns the number of invalid events.
std::size_t flush(std::vector<std::string>& lines) {
    std::vector<std::string_view> views(lines.begin(), lines.end());
    auto results = nostr::parse_and_verify_batch(views);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < results.size(); ++i) {
        if (results[i]) {
            std::printf("%s ok\n", results[i]->id.c_str());
        } else {
            ++bad;
            std::printf("%s invalid: %s\n", id_for_report(lines[i]).c_str(),
                        results[i].error().message.c_str());
        }
    }
    lines.clear();
    return bad;
}

}  // namespace

void register_verify(CLI::App& root, Context& ctx) {
    auto* cmd =
        root.add_subcommand("verify", "Verify events (one JSON per line): id and signature");
    auto path = std::make_shared<std::string>("-");
    cmd->add_option("file", *path, "File with one event per line, or - for stdin");
    cmd->callback([&ctx, path] {
        std::ifstream file;
        std::istream* in = &std::cin;
        if (*path != "-") {
            file.open(*path, std::ios::binary);
            if (!file) {
                std::fprintf(stderr, "verify: cannot open %s\n", path->c_str());
                ctx.exit_code = 2;
                return;
            }
            in = &file;
        }
        std::vector<std::string> lines;
        std::string line;
        std::size_t bad = 0;
        while (std::getline(*in, line)) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.find_first_not_of(" \t") == std::string::npos) continue;
            lines.push_back(std::move(line));
            if (lines.size() >= kBatch) bad += flush(lines);
        }
        bad += flush(lines);
        std::fflush(stdout);
        if (bad > 0) ctx.exit_code = 1;
    });
}

}  // namespace tenex::cli
