// NIP-19 and bech32: round trips, TLV order and unknown types, malformed input.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "nostr/bech32.hpp"
#include "nostr/nip19.hpp"

namespace tenex::nostr {
namespace {

const std::string kPub = "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e";
const std::string kId = "a10e69002707a71d029e0f65b76634967fcff9d355df984b75fea9e5224d48d8";

std::vector<std::uint8_t> bytes32(const std::string& hex) {
    std::vector<std::uint8_t> b(32);
    EXPECT_TRUE(from_hex(hex, b));
    return b;
}

void tlv(std::vector<std::uint8_t>& out, std::uint8_t t, const std::vector<std::uint8_t>& v) {
    out.push_back(t);
    out.push_back(static_cast<std::uint8_t>(v.size()));
    out.insert(out.end(), v.begin(), v.end());
}

TEST(Bech32Test, RoundTripAndBip173Examples) {
    // Valid BIP-173 bech32 strings (checksum constant 1).
    for (const char* s : {"A12UEL5L", "a12uel5l", "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
                          "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w"}) {
        auto d = bech32::decode(s);
        EXPECT_TRUE(d.ok()) << s << ": " << (d.ok() ? "" : d.error().message);
    }
    std::vector<std::uint8_t> data(300);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 7);
    auto enc = bech32::encode("naddr", data);
    EXPECT_GT(enc.size(), 90u);  // the BIP-173 limit is lifted
    auto dec = bech32::decode(enc);
    ASSERT_TRUE(dec.ok());
    EXPECT_EQ(dec->hrp, "naddr");
    EXPECT_EQ(dec->data, data);
}

TEST(Bech32Test, MalformedRejected) {
    const std::string good = encode_npub_hex(kPub).value();
    std::string flipped = good;
    flipped[10] = flipped[10] == 'q' ? 'p' : 'q';
    std::string mixed = good;
    mixed[0] = 'N';
    struct Case {
        std::string in;
        std::string why;
    };
    for (const auto& c : std::vector<Case>{
             {flipped, "checksum"},
             {mixed, "mixes upper and lower"},
             {"npub", "no separator"},
             {"1qqqqqqqq", "empty prefix"},
             {"npub1qqqqq", "too short"},
             {"npub1bqqqqqqq", "invalid data character"},
             {"npub1 qqqqqq", "outside 33..126"},
             {std::string(5001, 'q'), "longer than 5000"},
             // bech32m checksum of the same payload: must not be accepted as bech32.
             {"a1lqfn3a", "checksum"},
         }) {
        auto d = bech32::decode(c.in);
        ASSERT_FALSE(d.ok()) << c.in;
        EXPECT_NE(d.error().message.find(c.why), std::string::npos)
            << c.in << ": " << d.error().message;
    }
}

TEST(Nip19Test, BareEntitiesRoundTrip) {
    auto npub = encode_npub_hex(kPub);
    ASSERT_TRUE(npub.ok());
    EXPECT_EQ(*npub, "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg");
    auto note = encode_note_hex(kId);
    ASSERT_TRUE(note.ok());
    auto d = decode_entity(*note);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(std::get<Note>(*d).id, kId);
    EXPECT_FALSE(encode_npub_hex("xyz").ok());
    EXPECT_FALSE(encode_note_hex(std::string(64, 'G')).ok());
    // Upper-case bech32 decodes too.
    std::string upper = *npub;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    ASSERT_TRUE(decode_entity(upper).ok());
}

TEST(Nip19Test, TlvEntitiesRoundTrip) {
    Nprofile p{kPub, {"wss://a.example", "wss://b.example"}};
    auto ps = encode_nprofile(p);
    ASSERT_TRUE(ps.ok());
    auto pd = decode_entity(*ps);
    ASSERT_TRUE(pd.ok());
    EXPECT_EQ(std::get<Nprofile>(*pd).pubkey, kPub);
    EXPECT_EQ(std::get<Nprofile>(*pd).relays, p.relays);

    Nevent e{kId, {"wss://r"}, kPub, 30023};
    auto es = encode_nevent(e);
    ASSERT_TRUE(es.ok());
    auto ed = decode_entity(*es);
    ASSERT_TRUE(ed.ok());
    const auto& got = std::get<Nevent>(*ed);
    EXPECT_EQ(got.id, kId);
    EXPECT_EQ(got.author, kPub);
    EXPECT_EQ(got.kind, 30023u);
    EXPECT_EQ(got.relays, e.relays);

    Nevent minimal{kId, {}, std::nullopt, std::nullopt};
    auto md = decode_entity(encode_nevent(minimal).value());
    ASSERT_TRUE(md.ok());
    EXPECT_FALSE(std::get<Nevent>(*md).author.has_value());
    EXPECT_FALSE(std::get<Nevent>(*md).kind.has_value());

    Naddr a{Address{31933, kPub, "id:with:colons"}, {}};
    auto as = encode_naddr(a);
    ASSERT_TRUE(as.ok());
    auto ad = decode_entity(*as);
    ASSERT_TRUE(ad.ok());
    EXPECT_EQ(std::get<Naddr>(*ad).address, a.address);

    EXPECT_FALSE(encode_naddr(Naddr{Address{1, kPub, std::string(256, 'x')}, {}}).ok());
    EXPECT_FALSE(encode_naddr(Naddr{Address{1, kPub, "d"}, {std::string(256, 'r')}}).ok());
    EXPECT_FALSE(encode_naddr(Naddr{Address{70000, kPub, "d"}, {}}).ok());
}

TEST(Nip19Test, TlvAnyOrderUnknownTypesIgnored) {
    std::vector<std::uint8_t> data;
    tlv(data, 0, {'p', 'r', 'o', 'j'});
    tlv(data, 9, {1, 2, 3});  // unknown
    tlv(data, 1, {'w', 's', 's', ':', '/', '/', 'x'});
    tlv(data, 3, {0, 0, 0x7c, 0xbd});
    tlv(data, 2, bytes32(kPub));
    auto d = decode_entity(bech32::encode("naddr", data));
    ASSERT_TRUE(d.ok()) << d.error().message;
    const auto& n = std::get<Naddr>(*d);
    EXPECT_EQ(n.address, (Address{31933, kPub, "proj"}));
    EXPECT_EQ(n.relays, std::vector<std::string>{"wss://x"});
}

TEST(Nip19Test, MalformedTlvRejectedWithReason) {
    auto make = [](std::vector<std::uint8_t> data, const char* hrp = "naddr") {
        return decode_entity(bech32::encode(hrp, data));
    };
    std::vector<std::uint8_t> good;
    tlv(good, 0, {'d'});
    tlv(good, 2, bytes32(kPub));
    tlv(good, 3, {0, 0, 0x75, 0x30});
    ASSERT_TRUE(make(good).ok());

    struct Case {
        std::vector<std::uint8_t> data;
        const char* hrp;
        std::string why;
    };
    std::vector<Case> cases;
    {
        auto d = good;
        d.push_back(0);
        cases.push_back({d, "naddr", "truncated"});
    }
    {
        auto d = good;
        d.push_back(1);
        d.push_back(10);
        d.push_back('x');
        cases.push_back({d, "naddr", "longer than the data"});
    }
    {
        std::vector<std::uint8_t> d;
        tlv(d, 0, {'d'});
        tlv(d, 3, {0, 0, 0, 1});
        cases.push_back({d, "naddr", "missing the author"});
    }
    {
        std::vector<std::uint8_t> d;
        tlv(d, 0, {'d'});
        tlv(d, 2, bytes32(kPub));
        cases.push_back({d, "naddr", "missing the kind"});
    }
    {
        std::vector<std::uint8_t> d;
        tlv(d, 2, bytes32(kPub));
        tlv(d, 3, {0, 0, 0, 1});
        cases.push_back({d, "naddr", "missing the identifier"});
    }
    {
        std::vector<std::uint8_t> d;
        tlv(d, 0, {'d'});
        tlv(d, 2, {1, 2});
        tlv(d, 3, {0, 0, 0, 1});
        cases.push_back({d, "naddr", "author must be 32"});
    }
    {
        std::vector<std::uint8_t> d;
        tlv(d, 0, {'d'});
        tlv(d, 2, bytes32(kPub));
        tlv(d, 3, {0, 1});
        cases.push_back({d, "naddr", "kind must be 4"});
    }
    {
        std::vector<std::uint8_t> d;
        tlv(d, 0, {'d'});
        tlv(d, 2, bytes32(kPub));
        tlv(d, 3, {0, 1, 0, 0});
        cases.push_back({d, "naddr", "above 65535"});
    }
    {
        std::vector<std::uint8_t> d;
        tlv(d, 0, {0xff});
        tlv(d, 2, bytes32(kPub));
        tlv(d, 3, {0, 0, 0, 1});
        cases.push_back({d, "naddr", "UTF-8"});
    }
    {
        std::vector<std::uint8_t> d;
        tlv(d, 0, {1, 2, 3});
        cases.push_back({d, "nprofile", "32 bytes"});
    }
    {
        std::vector<std::uint8_t> d;
        tlv(d, 1, {'x'});
        cases.push_back({d, "nevent", "missing TLV type 0"});
    }
    cases.push_back({std::vector<std::uint8_t>(31, 1), "npub", "32 bytes"});
    cases.push_back({std::vector<std::uint8_t>(32, 0), "nsec", "out of range"});
    cases.push_back({std::vector<std::uint8_t>(32, 1), "nfoo", "unknown NIP-19 prefix"});
    for (const auto& c : cases) {
        auto r = make(c.data, c.hrp);
        ASSERT_FALSE(r.ok()) << c.why;
        EXPECT_NE(r.error().message.find(c.why), std::string::npos) << r.error().message;
    }
}

TEST(Nip19Test, EntityJsonHidesSecretsUnlessAsked) {
    auto sk = SecretKey::generate();
    auto d = decode_entity(sk.reveal_nsec());
    ASSERT_TRUE(d.ok());
    auto j = entity_to_json(*d);
    EXPECT_EQ(j["type"], "nsec");
    EXPECT_EQ(j["pubkey"], sk.public_key().hex());
    EXPECT_FALSE(j.contains("secret_key"));
    EXPECT_EQ(j.dump().find(sk.reveal_hex()), std::string::npos);
    EXPECT_EQ(entity_to_json(*d, true)["secret_key"], sk.reveal_hex());
}

}  // namespace
}  // namespace tenex::nostr
