#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "environment.hpp"
#include "nostr/key_file.hpp"

namespace {

using tenex::nostr::Keys;
using tenex::nostr::load_key_file;

TEST(KeyFile, ReadsHexOrNsecWithTheLineEnd) {
    tenex::test::TempDir dir;
    const auto keys = Keys::generate();
    std::ofstream(dir.path() / "nsec") << keys.secret.reveal_nsec() << "\n";
    std::ofstream(dir.path() / "hex") << "  " << keys.secret.reveal_hex() << "\r\n";
    for (const char* name : {"nsec", "hex"}) {
        auto k = load_key_file((dir.path() / name).string());
        ASSERT_TRUE(k) << name << ": " << k.error().message;
        EXPECT_EQ(k->pub.hex(), keys.pub.hex()) << name;
    }
}

TEST(KeyFile, ErrorsNameTheFileAndNeverItsContent) {
    tenex::test::TempDir dir;
    const auto missing = (dir.path() / "missing").string();
    auto m = load_key_file(missing);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().message, "cannot read key file " + missing);

    const auto bad = (dir.path() / "bad").string();
    std::ofstream(bad) << "deadbeefsecret\n";
    auto b = load_key_file(bad);
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().message.rfind("key file " + bad + ": ", 0), 0u) << b.error().message;
    EXPECT_EQ(b.error().message.find("deadbeefsecret"), std::string::npos) << b.error().message;
}

}  // namespace
