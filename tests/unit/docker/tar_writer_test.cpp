// The in-process tar writer, checked against an independent reader (GNU tar).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "docker/tar_writer.hpp"
#include "environment.hpp"

namespace tenex::docker {
namespace {

namespace fs = std::filesystem;

std::string run(const std::string& cmd, int* status) {
    std::string out;
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
    std::array<char, 4096> buf{};
    while (pipe && fgets(buf.data(), buf.size(), pipe.get())) out += buf.data();
    *status = pclose(pipe.release());
    return out;
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

TEST(TarWriter, BlocksAndChecksum) {
    TarWriter t;
    t.add_file("a.txt", "hello");
    auto tar = t.finish();
    ASSERT_EQ(tar.size(), 512u * 4);  // header, one data block, two end blocks
    EXPECT_EQ(tar.substr(0, 5), "a.txt");
    EXPECT_EQ(tar.substr(257, 5), "ustar");
    unsigned sum = 0;
    for (int i = 0; i < 512; ++i)
        sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(tar[i]);
    EXPECT_EQ(std::stoul(tar.substr(148, 6), nullptr, 8), sum);
    EXPECT_EQ(tar.substr(512, 5), "hello");
}

TEST(TarWriter, GnuTarExtractsWhatWeWrite) {
    test::TempDir dir;
    std::string long_name = "deep/" + std::string(120, 'n') + ".txt";
    std::string binary;
    for (int i = 0; i < 2000; ++i) binary += static_cast<char>(i % 256);
    TarWriter t;
    t.add_directory("deep");
    t.add_file("Dockerfile", "FROM scratch\n");
    t.add_file("bin/tool", binary, 0755);
    t.add_file(long_name, "long\n");
    t.add_file("empty", "");
    t.add_symlink("link", "Dockerfile");
    auto tar = t.finish();
    fs::create_directories(dir.path() / "out");
    { std::ofstream(dir.path() / "a.tar", std::ios::binary) << tar; }
    int status = 0;
    auto out = run("tar -xf " + (dir.path() / "a.tar").string() + " -C " +
                       (dir.path() / "out").string() + " 2>&1",
                   &status);
    ASSERT_EQ(status, 0) << out;
    EXPECT_EQ(slurp(dir.path() / "out/Dockerfile"), "FROM scratch\n");
    EXPECT_EQ(slurp(dir.path() / "out/bin/tool"), binary);
    EXPECT_EQ(slurp(dir.path() / "out" / long_name), "long\n");
    EXPECT_TRUE(fs::exists(dir.path() / "out/empty"));
    EXPECT_EQ(fs::file_size(dir.path() / "out/empty"), 0u);
    EXPECT_EQ(fs::read_symlink(dir.path() / "out/link"), "Dockerfile");
    auto perms = fs::status(dir.path() / "out/bin/tool").permissions();
    EXPECT_NE(perms & fs::perms::owner_exec, fs::perms::none);
}

TEST(TarDirectory, RoundTripsATree) {
    test::TempDir dir;
    auto src = dir.path() / "ctx";
    fs::create_directories(src / "sub");
    { std::ofstream(src / "Dockerfile") << "FROM scratch\nCOPY sub /sub\n"; }
    { std::ofstream(src / "sub/x.bin") << std::string(513, 'z'); }
    fs::permissions(src / "sub/x.bin", fs::perms::owner_all);
    auto tar = tar_directory(src);
    ASSERT_TRUE(tar) << tar.error().message;
    { std::ofstream(dir.path() / "c.tar", std::ios::binary) << *tar; }
    int status = 0;
    auto list = run("tar -tvf " + (dir.path() / "c.tar").string(), &status);
    ASSERT_EQ(status, 0) << list;
    EXPECT_NE(list.find("Dockerfile"), std::string::npos);
    EXPECT_NE(list.find("sub/x.bin"), std::string::npos);
    EXPECT_NE(list.find("-rwx------"), std::string::npos) << list;
    EXPECT_NE(list.find(" 513 "), std::string::npos) << list;
    // Same tree, same bytes.
    EXPECT_EQ(*tar_directory(src), *tar);
    EXPECT_FALSE(tar_directory(dir.path() / "missing"));
}

// A link is archived under its own name, pointing where it points (an image's /bin/sh ->
// busybox); an earlier version named it after its target.
TEST(TarDirectory, KeepsLinksUnderTheirOwnName) {
    test::TempDir dir;
    auto src = dir.path() / "ctx";
    fs::create_directories(src / "rootfs/bin");
    { std::ofstream(src / "rootfs/bin/busybox") << "the binary"; }
    fs::create_symlink("busybox", src / "rootfs/bin/sh");
    fs::create_directory_symlink("rootfs/bin", src / "tools");
    auto tar = tar_directory(src);
    ASSERT_TRUE(tar) << tar.error().message;
    { std::ofstream(dir.path() / "l.tar", std::ios::binary) << *tar; }
    fs::create_directories(dir.path() / "out");
    int status = 0;
    auto out = run("tar -xf " + (dir.path() / "l.tar").string() + " -C " +
                       (dir.path() / "out").string() + " 2>&1",
                   &status);
    ASSERT_EQ(status, 0) << out;
    EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(dir.path() / "out/rootfs/bin/busybox")));
    EXPECT_EQ(slurp(dir.path() / "out/rootfs/bin/busybox"), "the binary");
    ASSERT_TRUE(fs::is_symlink(dir.path() / "out/rootfs/bin/sh"));
    EXPECT_EQ(fs::read_symlink(dir.path() / "out/rootfs/bin/sh"), "busybox");
    ASSERT_TRUE(fs::is_symlink(dir.path() / "out/tools"));
    EXPECT_EQ(fs::read_symlink(dir.path() / "out/tools"), "rootfs/bin");
}

}  // namespace
}  // namespace tenex::docker
