// The seed task's tar extractor (node-local workspaces on a swarm): archives from our own
// writer and from GNU tar come out as they went in; nothing an archive says, and no link
// already in the directory, writes outside it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "docker/tar_extract.hpp"
#include "docker/tar_writer.hpp"

namespace tenex::docker {
namespace {

namespace fs = std::filesystem;

class TarExtract : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/tenex-tar-extract-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        base_ = tmpl;
        fs::create_directories(base_ / "src");
        fs::create_directories(base_ / "out");
        fs::create_directories(base_ / "outside");
    }
    void TearDown() override { fs::remove_all(base_); }

    static void write(const fs::path& p, const std::string& text) {
        fs::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary) << text;
    }
    static std::string read(const fs::path& p) {
        std::ifstream in(p, std::ios::binary);
        return {std::istreambuf_iterator<char>(in), {}};
    }
    // Extracts `tar` into out/ (in chunks of 700 bytes: reads never align with blocks).
    Result<ExtractStats> extract(const std::string& tar, const ExtractOptions& options = {}) {
        std::size_t at = 0;
        auto reader = [&](char* buf, std::size_t n) -> ssize_t {
            const std::size_t k = std::min({n, tar.size() - at, std::size_t{700}});
            std::memcpy(buf, tar.data() + at, k);
            at += k;
            return static_cast<ssize_t>(k);
        };
        const int fd = ::open((base_ / "out").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        auto r = extract_tar(reader, fd, options);
        ::close(fd);
        return r;
    }
    static std::string archive(const std::function<void(TarWriter&)>& fill) {
        TarWriter t;
        fill(t);
        return t.finish();
    }

    fs::path base_;
};

TEST_F(TarExtract, OurTreeComesOutAsItWentIn) {
    const fs::path src = base_ / "src";
    write(src / "README.md", "hello\n");
    write(src / ".tenex/agents.json", "{}");
    const std::string deep(120, 'd');  // > 100 bytes: a pax path record
    write(src / "docs" / deep / "notes.txt", std::string(70000, 'x'));
    fs::permissions(src / ".tenex/agents.json", fs::perms::owner_read | fs::perms::owner_write);
    fs::permissions(src / ".tenex", fs::perms::owner_all);
    fs::create_symlink("../README.md", src / "docs/readme-link");
    TarWriter t;
    ASSERT_TRUE(t.add_tree(src, "0"));
    auto stats = extract(t.finish());
    ASSERT_TRUE(stats) << stats.error().message;
    const fs::path out = base_ / "out/0";
    EXPECT_EQ(read(out / "README.md"), "hello\n");
    EXPECT_EQ(read(out / "docs" / deep / "notes.txt"), std::string(70000, 'x'));
    EXPECT_EQ(fs::read_symlink(out / "docs/readme-link"), "../README.md");
    EXPECT_EQ(fs::status(out / ".tenex/agents.json").permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write);
    EXPECT_EQ(fs::status(out / ".tenex").permissions() & fs::perms::all, fs::perms::owner_all);
    EXPECT_EQ(stats->files, 3u);
    EXPECT_EQ(stats->links, 1u);
    EXPECT_EQ(stats->bytes, 6u + 2u + 70000u);
    EXPECT_FALSE(fs::exists(out / ".tenex-seed-partial"));
}

TEST_F(TarExtract, GnuTarArchivesAreRead) {
    const fs::path src = base_ / "src";
    write(src / "a/b/c.txt", "gnu");
    write(src / std::string(150, 'n'), "long");
    fs::create_symlink("a/b/c.txt", src / "link");
    const std::string tar_file = (base_ / "gnu.tar").string();
    const std::string cmd =
        "tar --format=pax -C " + src.string() + " -cf " + tar_file + " . 2>/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    auto stats = extract(read(tar_file));
    ASSERT_TRUE(stats) << stats.error().message;
    EXPECT_EQ(read(base_ / "out/a/b/c.txt"), "gnu");
    EXPECT_EQ(read(base_ / "out" / std::string(150, 'n')), "long");
    EXPECT_EQ(fs::read_symlink(base_ / "out/link"), "a/b/c.txt");
}

TEST_F(TarExtract, NamesThatLeaveTheDirectoryAreRefused) {
    for (const std::string name : {"../escaped", "/tmp/escaped", "a/../../escaped", "0/../.."}) {
        auto r = extract(archive([&](TarWriter& t) { t.add_file(name, "x"); }));
        ASSERT_FALSE(r) << name;
        EXPECT_NE(r.error().message.find(name), std::string::npos) << r.error().message;
    }
    EXPECT_FALSE(fs::exists(base_ / "escaped"));
    EXPECT_FALSE(fs::exists("/tmp/escaped"));
}

TEST_F(TarExtract, LinksNeverLeadOutside) {
    // A link the archive makes, then a file through it.
    auto r = extract(archive([](TarWriter& t) {
        t.add_symlink("up", "../outside");
        t.add_file("up/planted", "x");
    }));
    ASSERT_FALSE(r);
    EXPECT_FALSE(fs::exists(base_ / "outside/planted"));
    // A link already in the directory (the node's copy, written by the sandbox).
    fs::create_symlink(base_ / "outside", base_ / "out/dir");
    r = extract(archive([](TarWriter& t) { t.add_file("dir/planted", "x"); }));
    ASSERT_FALSE(r);
    r = extract(archive([](TarWriter& t) { t.add_directory("dir/sub"); }));
    ASSERT_FALSE(r);
    EXPECT_TRUE(fs::is_empty(base_ / "outside"));
    // A file replacing a link to a file outside replaces the link, never writes the target.
    write(base_ / "outside/target", "untouched");
    fs::create_symlink(base_ / "outside/target", base_ / "out/f");
    r = extract(archive([](TarWriter& t) { t.add_file("f", "daemon"); }), {.replace = {"f"}});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(read(base_ / "outside/target"), "untouched");
    EXPECT_FALSE(fs::is_symlink(base_ / "out/f"));
    EXPECT_EQ(read(base_ / "out/f"), "daemon");
}

TEST_F(TarExtract, OnlyReplaceableEntriesOverwriteWhatIsThere) {
    write(base_ / "out/0/work.txt", "written on the node");
    write(base_ / "out/1/config.json", "old secret");
    auto r = extract(archive([](TarWriter& t) {
                         t.add_directory("0");
                         t.add_file("0/work.txt", "the daemon's copy");
                         t.add_file("0/new.txt", "new");
                         t.add_directory("1");
                         t.add_file("1/config.json", "new secret");
                     }),
                     {.replace = {"1"}});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(read(base_ / "out/0/work.txt"), "written on the node");
    EXPECT_EQ(read(base_ / "out/0/new.txt"), "new");
    EXPECT_EQ(read(base_ / "out/1/config.json"), "new secret");
    EXPECT_EQ(r->kept, 1u);
    EXPECT_EQ(r->files, 2u);
}

TEST_F(TarExtract, BrokenAndForeignArchivesAreErrors) {
    auto good = archive([](TarWriter& t) { t.add_file("a.txt", std::string(3000, 'a')); });
    auto truncated = extract(good.substr(0, 1024));
    ASSERT_FALSE(truncated);
    EXPECT_NE(truncated.error().message.find("truncated"), std::string::npos);
    auto bad = good;
    bad[0] = 'b';  // the checksum no longer matches
    auto corrupt = extract(bad);
    ASSERT_FALSE(corrupt);
    EXPECT_NE(corrupt.error().message.find("checksum"), std::string::npos);
    // A device node (type '3'): the header made by hand from a file header.
    auto dev = archive([](TarWriter& t) { t.add_file("null", ""); });
    dev[156] = '3';
    unsigned sum = 0;
    for (int i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? ' ' : (unsigned char)dev[i];
    std::snprintf(dev.data() + 148, 8, "%06o", sum);
    dev[155] = ' ';
    auto device = extract(dev);
    ASSERT_FALSE(device);
    EXPECT_NE(device.error().message.find("unsupported entry type '3'"), std::string::npos);
    EXPECT_FALSE(fs::exists(base_ / "out/null"));
}

}  // namespace
}  // namespace tenex::docker
