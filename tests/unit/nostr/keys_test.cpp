// Keys: generation, parsing from hex/nsec, redaction.
#include <sstream>
#include <type_traits>

#include <gtest/gtest.h>

#include "nostr/keys.hpp"
#include "nostr/nip19.hpp"

namespace tenex::nostr {
namespace {

TEST(KeysTest, GenerateGivesDistinctValidKeys) {
    auto a = SecretKey::generate();
    auto b = SecretKey::generate();
    EXPECT_NE(a.reveal_hex(), b.reveal_hex());
    EXPECT_TRUE(PublicKey::from_hex(a.public_key().hex()).ok());
    EXPECT_EQ(a.public_key().npub().rfind("npub1", 0), 0u);
}

TEST(KeysTest, ParseHexUpperLowerNsecAndWhitespace) {
    const std::string hex = "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa";
    std::string upper = hex;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (const std::string& in :
         {hex, upper, " " + hex + "\n",
          std::string("nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5\n")}) {
        auto sk = SecretKey::parse(in);
        ASSERT_TRUE(sk.ok()) << sk.error().message;
        EXPECT_EQ(sk->reveal_hex(), hex);
    }
}

TEST(KeysTest, BadKeysRejectedWithoutEchoingThem) {
    const std::string zero(64, '0');
    const std::string order = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
    const std::string almost = "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffz";
    for (const std::string& in : {zero, order, almost, std::string("nsec1qqqq"), std::string("")}) {
        auto sk = SecretKey::parse(in);
        ASSERT_FALSE(sk.ok()) << in;
        if (in.size() > 8) {
            EXPECT_EQ(sk.error().message.find(in), std::string::npos);
        }
        EXPECT_EQ(sk.error().message.find("67dea2ed"), std::string::npos);
    }
    EXPECT_NE(SecretKey::parse("npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg")
                  .error()
                  .message.find("nsec"),
              std::string::npos);
}

TEST(KeysTest, DebugStringIsRedacted) {
    auto sk = SecretKey::generate();
    EXPECT_EQ(sk.debug_string().find(sk.reveal_hex()), std::string::npos);
    EXPECT_NE(sk.debug_string().find("redacted"), std::string::npos);
}

TEST(KeysTest, PublicKeyFromHexValidatesCurve) {
    EXPECT_FALSE(PublicKey::from_hex(std::string(64, 'f')).ok());
    EXPECT_FALSE(PublicKey::from_hex("abc").ok());
}

}  // namespace
}  // namespace tenex::nostr
