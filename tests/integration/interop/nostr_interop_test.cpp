// tenex-sandbox against nostr-tools / nostr-wasm: the same ids, signatures accepted both ways,
// NIP-19 strings byte for byte. Runs the node scripts in tests/interop/ and the CLI binary.
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "environment.hpp"
#include "nostr/nip19.hpp"
#include "nostr/verify.hpp"

namespace tenex::nostr {
namespace {

struct Run {
    int status = -1;
    std::string out;
};

// Runs a shell command, capturing stdout; stderr passes through to the test log.
Run run(const std::string& cmd) {
    Run r;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return r;
    char buf[65536];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    int st = ::pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

std::vector<std::string> lines_of(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string line;
    while (std::getline(ss, line))
        if (!line.empty()) out.push_back(line);
    return out;
}

std::string interop_dir() {
    return (test::source_dir() / "tests" / "interop").string();
}
std::string quote(const std::string& s) {
    return "'" + s + "'";
}

void write_file(const std::filesystem::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::binary);
    out << text;
}

class NostrInterop : public ::testing::Test {
  protected:
    void SetUp() override { TENEX_REQUIRE_NODE(); }
    test::TempDir tmp_;
};

TEST_F(NostrInterop, NostrToolsEventsHaveOurIdsAndVerify) {
    auto r = run("node " + quote(interop_dir() + "/sign_hard.mjs") + " 300");
    ASSERT_EQ(r.status, 0);
    auto lines = lines_of(r.out);
    ASSERT_EQ(lines.size(), 300u);
    std::string events_text;
    for (const auto& line : lines) {
        auto j = nlohmann::json::parse(line);
        // Parse the event from nostr-tools' own JSON.stringify bytes, not a re-dump.
        const std::string key = "\"event\":";
        auto start = line.find(key) + key.size();
        auto end = line.find(",\"hash\":");
        ASSERT_NE(end, std::string::npos);
        std::string ev_text = line.substr(start, end - start);
        events_text += ev_text + "\n";

        auto ev = parse_event(ev_text);
        ASSERT_TRUE(ev.ok()) << ev.error().message << "\n" << ev_text;
        EXPECT_EQ(compute_id_hex(*ev), j["hash"].get<std::string>()) << ev_text;
        EXPECT_EQ(ev->id, j["hash"].get<std::string>());
        auto st = verify_event(*ev);
        EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().message) << "\n" << ev_text;
        // Our escaping of tags and content is byte-identical to JSON.stringify's: the
        // "tags":...,"content":"..." run of our wire JSON appears verbatim in nostr-tools' text.
        std::string ours = to_json(*ev);
        auto t0 = ours.find(",\"tags\":");
        auto t1 = ours.find(",\"sig\":");
        ASSERT_TRUE(t0 != std::string::npos && t1 != std::string::npos);
        EXPECT_NE(ev_text.find(ours.substr(t0 + 1, t1 - t0 - 1)), std::string::npos) << ev_text;

        auto sk = SecretKey::parse(j["secret_key"].get<std::string>());
        ASSERT_TRUE(sk.ok());
        EXPECT_EQ(sk->public_key().npub(), j["npub"]);
        EXPECT_EQ(sk->reveal_nsec(), j["nsec"]);
        EXPECT_EQ(encode_note_hex(ev->id).value(), j["note"]);
        auto relays = j["relays"].get<std::vector<std::string>>();
        auto d = ev->tag_value("d");
        ASSERT_TRUE(d.has_value());
        auto naddr = encode_naddr(Naddr{Address{ev->kind, ev->pubkey, std::string(*d)}, relays});
        ASSERT_TRUE(naddr.ok());
        EXPECT_EQ(*naddr, j["naddr"]);
        auto back = Address::from_naddr(j["naddr"].get<std::string>());
        ASSERT_TRUE(back.ok()) << back.error().message;
        EXPECT_EQ(back->identifier, *d);
        EXPECT_EQ(encode_nevent(Nevent{ev->id, relays, ev->pubkey, ev->kind}).value(), j["nevent"]);
        EXPECT_EQ(encode_nprofile(Nprofile{ev->pubkey, relays}).value(), j["nprofile"]);
        // And the a tag nostr-tools wrote parses as an address.
        auto a = Address::parse(std::string(*ev->tag_value("a")));
        ASSERT_TRUE(a.ok()) << a.error().message;
        EXPECT_EQ(a->pubkey, ev->pubkey);
    }

    // The CLI accepts all of them too.
    auto file = tmp_.path() / "tools.jsonl";
    write_file(file, events_text);
    auto v = run(quote(test::tenex_binary().string()) + " verify " + quote(file.string()));
    EXPECT_EQ(v.status, 0) << v.out.substr(0, 2000);
    auto out = lines_of(v.out);
    ASSERT_EQ(out.size(), 300u);
    for (const auto& l : out) EXPECT_EQ(l.substr(65), "ok") << l;
}

TEST_F(NostrInterop, NostrToolsAcceptsEventsSignedByTheCli) {
    auto key = tmp_.path() / "key";
    auto kg = run(quote(test::tenex_binary().string()) + " keygen --out " + quote(key.string()));
    ASSERT_EQ(kg.status, 0);
    ASSERT_EQ(kg.out.rfind("npub1", 0), 0u);
    EXPECT_EQ(std::filesystem::status(key).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

    // Hard content: every control byte, quotes, backslashes, DEL, U+2028, emoji, 3 KB.
    std::string hard;
    for (int c = 1; c < 0x20; ++c) hard.push_back(static_cast<char>(c));
    hard += "\"\\/\x7f\xe2\x80\xa8\xe2\x80\xa9\xf0\x9f\x98\x80\xc3\xa9\xef\xbf\xbf";
    std::string unsigned_text;
    for (int i = 0; i < 60; ++i) {
        nlohmann::json u{
            {"kind", (i * 977) % 65536},
            {"content", hard + std::string(static_cast<std::size_t>(i % 4 == 0 ? 3000 : i), 'x')},
            {"tags",
             {{"t", hard},
              {"a", "31933:" + std::string(64, 'a') + ":x:" + hard},
              nlohmann::json::array()}}};
        if (i % 2) u["created_at"] = 1700000000 + i;
        unsigned_text += u.dump() + "\n";
    }
    unsigned_text += std::string("{\"kind\":1,\"content\":\"\\u0000 nul\"}\n");
    auto in = tmp_.path() / "unsigned.jsonl";
    write_file(in, unsigned_text);
    auto signed_run = run(quote(test::tenex_binary().string()) + " sign --key " +
                          quote(key.string()) + " " + quote(in.string()));
    ASSERT_EQ(signed_run.status, 0);
    auto signed_lines = lines_of(signed_run.out);
    ASSERT_EQ(signed_lines.size(), 61u);
    auto out = tmp_.path() / "signed.jsonl";
    write_file(out, signed_run.out);

    auto v = run("node " + quote(interop_dir() + "/verify.mjs") + " " + quote(out.string()));
    ASSERT_EQ(v.status, 0);
    auto results = lines_of(v.out);
    ASSERT_EQ(results.size(), 61u);
    for (std::size_t i = 0; i < results.size(); ++i) {
        auto ev = parse_event(signed_lines[i]);
        ASSERT_TRUE(ev.ok());
        EXPECT_EQ(results[i], ev->id + " ok ok " + ev->id) << signed_lines[i].substr(0, 300);
    }

    // Tampered: both sides reject; our CLI says why and exits non-zero.
    std::string tampered;
    for (std::size_t i = 0; i < 4; ++i) {
        auto ev = parse_event(signed_lines[i]).value();
        if (i % 2 == 0)
            ev.content += "!";
        else
            ev.sig[5] = ev.sig[5] == 'a' ? 'b' : 'a';
        tampered += to_json(ev) + "\n";
    }
    auto bad = tmp_.path() / "bad.jsonl";
    write_file(bad, tampered + "{\"id\":1}\n");
    auto node_bad = run("node " + quote(interop_dir() + "/verify.mjs") + " " + quote(bad.string()) +
                        " 2>/dev/null");
    auto node_lines = lines_of(node_bad.out);
    ASSERT_GE(node_lines.size(), 4u);
    for (std::size_t i = 0; i < 4; ++i)
        EXPECT_NE(node_lines[i].find(" invalid invalid "), std::string::npos) << node_lines[i];
    auto ours = run(quote(test::tenex_binary().string()) + " verify " + quote(bad.string()));
    EXPECT_EQ(ours.status, 1);
    auto our_lines = lines_of(ours.out);
    ASSERT_EQ(our_lines.size(), 5u);
    EXPECT_NE(our_lines[0].find("invalid: wrong id"), std::string::npos) << our_lines[0];
    EXPECT_NE(our_lines[1].find("invalid: bad signature"), std::string::npos) << our_lines[1];
    EXPECT_NE(our_lines[4].find("- invalid: malformed"), std::string::npos) << our_lines[4];
}

}  // namespace
}  // namespace tenex::nostr
