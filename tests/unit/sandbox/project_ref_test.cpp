#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "environment.hpp"
#include "sandbox/project_ref.hpp"

namespace tenex::sandbox {
namespace {

constexpr const char* kOwner = "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e";

TEST(ProjectRef, ParsesAnAddressAndLowercasesTheOwner) {
    auto r = parse_address(
        "31933:7E7E9C42A91BFEF19FA929E5FDA1B72E0EBC1A4C1141673E2794234D86ADDF4E:my:proj");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->owner, kOwner);
    EXPECT_EQ(r->d, "my:proj");  // everything after the second colon
    EXPECT_EQ(r->address(), std::string("31933:") + kOwner + ":my:proj");
}

TEST(ProjectRef, EmptyDIsAValidAddress) {
    auto r = parse_address(std::string("31933:") + kOwner + ":");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->d, "");
}

TEST(ProjectRef, RejectsOtherKindsAndBadOwners) {
    EXPECT_FALSE(parse_address(std::string("30023:") + kOwner + ":x").ok());
    EXPECT_FALSE(parse_address("31933:abc:x").ok());
    EXPECT_FALSE(parse_address(std::string("31933:") + kOwner).ok());
    EXPECT_FALSE(parse_address(std::string("31933:") + std::string(63, 'a') + "g:x").ok());
}

TEST(ProjectRef, ABareArgumentIsAD) {
    auto r = parse_project_arg("my-project");
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->has_owner());
    EXPECT_EQ(r->d, "my-project");
    EXPECT_FALSE(parse_project_arg("").ok());
    EXPECT_TRUE(parse_project_arg(std::string("31933:") + kOwner + ":x")->has_owner());
}

TEST(ProjectRef, DecodesTheProtocolNpubVector) {
    auto r = decode_npub("npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r, kOwner);
    auto upper = decode_npub("NPUB10ELFCS4FR0L0R8AF98JLMGDH9C8TCXJVZ9QKW038JS35MP4DMA8QZVJPTG");
    ASSERT_TRUE(upper.ok());
    EXPECT_EQ(*upper, kOwner);
}

TEST(ProjectRef, NpubDecoderRejectsCorruption) {
    EXPECT_FALSE(
        decode_npub("npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjpth").ok());
    EXPECT_FALSE(
        decode_npub("nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5").ok());
    EXPECT_FALSE(
        decode_npub("npub10ELFcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg").ok());
    EXPECT_FALSE(decode_npub("npub1").ok());
    EXPECT_FALSE(decode_npub("npub1bbbbbbbbbbbbbb").ok());
}

TEST(ProjectRef, NaddrMatchesNostrToolsForKind31933) {
    std::ifstream in(test::shared_dir() / "vectors" / "nostr-tools-vectors.json");
    ASSERT_TRUE(in) << "missing shared/vectors/nostr-tools-vectors.json";
    const auto vectors = nlohmann::json::parse(in);
    int checked = 0;
    for (const auto& v : vectors.at("naddrs")) {
        if (v.at("kind") != 31933 || !v.at("relays").empty()) continue;
        ProjectRef ref{.owner = v.at("pubkey"), .d = v.at("identifier")};
        auto n = encode_naddr(ref);
        ASSERT_TRUE(n.ok());
        EXPECT_EQ(*n, v.at("naddr").get<std::string>());
        ++checked;
    }
    EXPECT_GE(checked, 1);
    EXPECT_FALSE(encode_naddr(ProjectRef{.owner = "", .d = "x"}).ok());
    EXPECT_FALSE(encode_naddr(ProjectRef{.owner = "not-hex", .d = "x"}).ok());
}

}  // namespace
}  // namespace tenex::sandbox
