#include "project/repo_url.hpp"

#include <gtest/gtest.h>

namespace tenex::project {
namespace {

TEST(RepoUrl, HttpsIsAllowedByDefault) {
    auto u = validate_repo_url("https://github.com/tenex-chat/tenex.git", RepoPolicy{});
    ASSERT_TRUE(u.ok()) << u.error().message;
    EXPECT_EQ(u->scheme, RepoScheme::https);
    EXPECT_EQ(u->host, "github.com");
    EXPECT_EQ(u->path, "/tenex-chat/tenex.git");
    EXPECT_EQ(u->clone_url, "https://github.com/tenex-chat/tenex.git");
    EXPECT_EQ(u->redacted, "https://github.com/tenex-chat/tenex.git");
}

TEST(RepoUrl, HostIsLowercasedAndPortKept) {
    auto u = validate_repo_url("HTTPS://GitLab.Example.COM:8443/a/b", RepoPolicy{});
    ASSERT_TRUE(u.ok()) << u.error().message;
    EXPECT_EQ(u->host, "gitlab.example.com");
    EXPECT_EQ(u->port, 8443);
    EXPECT_EQ(u->clone_url, "https://gitlab.example.com:8443/a/b");
}

TEST(RepoUrl, OtherSchemesOnlyWhenTheConfigAllowsThem) {
    const RepoPolicy strict;
    for (const char* url : {"http://example.com/r.git", "git://example.com/r.git",
                            "ssh://git@example.com/r.git", "git@github.com:owner/repo.git"}) {
        SCOPED_TRACE(url);
        auto u = validate_repo_url(url, strict);
        ASSERT_FALSE(u.ok());
        EXPECT_NE(u.error().message.find("not allowed by the configuration"), std::string::npos)
            << u.error().message;
    }
    RepoPolicy open;
    open.allow_http = open.allow_git = open.allow_ssh = true;
    auto http = validate_repo_url("http://example.com/r.git", open);
    ASSERT_TRUE(http.ok());
    EXPECT_EQ(http->scheme, RepoScheme::http);
    auto git = validate_repo_url("git://example.com/r.git", open);
    ASSERT_TRUE(git.ok());
    EXPECT_EQ(git->scheme, RepoScheme::git);
    auto ssh = validate_repo_url("ssh://git@example.com:2222/r.git", open);
    ASSERT_TRUE(ssh.ok()) << ssh.error().message;
    EXPECT_EQ(ssh->user, "git");
    EXPECT_EQ(ssh->port, 2222);
    auto scp = validate_repo_url("git@github.com:owner/repo.git", open);
    ASSERT_TRUE(scp.ok()) << scp.error().message;
    EXPECT_EQ(scp->scheme, RepoScheme::ssh);
    EXPECT_EQ(scp->host, "github.com");
    EXPECT_EQ(scp->path, "/owner/repo.git");
    EXPECT_EQ(scp->clone_url, "ssh://git@github.com/owner/repo.git");
}

TEST(RepoUrl, CredentialsAreRefusedAndNeverEchoed) {
    RepoPolicy open;
    open.allow_http = open.allow_git = open.allow_ssh = true;
    const char* secret = "s3cr3tT0ken";
    for (const std::string url :
         {"https://user:s3cr3tT0ken@github.com/o/r.git", "https://s3cr3tT0ken@github.com/o/r.git",
          "https://s3cr3tT0ken:x-oauth-basic@github.com/o/r.git",
          "http://u:s3cr3tT0ken@example.com/r", "ssh://git:s3cr3tT0ken@example.com/r",
          "git://s3cr3tT0ken@example.com/r", "https://u%3As3cr3tT0ken@github.com/o/r",
          "https://github.com@s3cr3tT0ken@evil.com/r"}) {
        SCOPED_TRACE(url);
        auto u = validate_repo_url(url, open);
        ASSERT_FALSE(u.ok());
        EXPECT_EQ(u.error().message.find(secret), std::string::npos) << u.error().message;
    }
}

struct HostileUrl {
    std::string url;
    std::string reason_contains;
};

// Refused even with every scheme allowed (but private hosts not allowed).
std::vector<HostileUrl> hostile_urls() {
    return {
        {"", "empty"},
        {"file:///etc/passwd", "file://"},
        {"FILE:///etc/passwd", "file://"},
        {"file://localhost/etc/passwd", "file://"},
        {"/srv/git/repo.git", "local path"},
        {"./repo", "local path"},
        {"../other-project", "local path"},
        {"~/repo", "local path"},
        {"repo", "local path"},
        {"C:\\repos\\x", "local path"},
        {"ext::sh -c touch% /tmp/pwned", "whitespace"},
        {"ext::sh", "transport"},
        {"fd::17", "transport"},
        {"foo::https://github.com/o/r", "scheme"},
        {"ftp://example.com/r.git", "scheme"},
        {"rsync://example.com/r.git", "scheme"},
        {"javascript://example.com/%0aalert(1)", "scheme"},
        {"https://", "no host"},
        {"https:///path", "no host"},
        {"https://exa mple.com/r", "whitespace"},
        {"https://example.com/r\n.git", "control"},
        {"https://example.com/r\x01", "control"},
        {"https://ex\xc3\xa4mple.com/r", "non-ASCII"},
        {"https://-oProxyCommand=evil/r", "host name"},
        {"ssh://-oProxyCommand=evil/r", "host name"},
        {"git@-oProxyCommand=evil:r", "host name"},
        {"https://example.com:0/r", "port"},
        {"https://example.com:65536/r", "port"},
        {"https://example.com:80a/r", "port"},
        {"https://example.com/r?x=1", "query"},
        {"https://example.com/r#frag", "query"},
        {"https://[::1/r", "IPv6"},
        {"https://[fe80::1%25eth0]/r", "IPv6"},
        {"https://localhost/r", "localhost"},
        {"https://LOCALHOST./r", "host"},
        {"https://foo.localhost/r", "localhost"},
        {"https://127.0.0.1/r", "loopback"},
        {"https://127.1/r", "loopback"},
        {"https://0x7f.1/r", "loopback"},
        {"https://0x7f000001/r", "loopback"},
        {"https://2130706433/r", "loopback"},
        {"https://0177.0.0.1/r", "loopback"},
        {"https://127.255.255.254:8080/r", "loopback"},
        {"https://0.0.0.0/r", "reserved"},
        {"https://0/r", "reserved"},
        {"https://10.0.0.5/r", "private"},
        {"https://172.16.3.4/r", "private"},
        {"https://172.31.255.255/r", "private"},
        {"https://192.168.1.1/r", "private"},
        {"https://169.254.169.254/latest/meta-data", "link-local"},
        {"https://100.64.0.1/r", "carrier-grade"},
        {"https://100.100.100.200/r", "carrier-grade"},
        {"https://224.0.0.1/r", "reserved"},
        {"https://255.255.255.255/r", "reserved"},
        {"https://[::1]/r", "loopback"},
        {"https://[::]/r", "reserved"},
        {"https://[::ffff:127.0.0.1]/r", "loopback"},
        {"https://[::ffff:7f00:1]/r", "loopback"},
        {"https://[::ffff:169.254.169.254]/r", "link-local"},
        {"https://[::127.0.0.1]/r", "loopback"},
        {"https://[64:ff9b::a9fe:a9fe]/r", "link-local"},
        {"https://[2002:7f00:1::]/r", "loopback"},
        {"https://[fc00::1]/r", "private"},
        {"https://[fd00:ec2::254]/r", "private"},
        {"https://[fe80::1]/r", "link-local"},
        {"https://[ff02::1]/r", "reserved"},
        {"git://127.0.0.1:9418/r", "loopback"},
        {"ssh://git@10.1.2.3/r", "private"},
        {"git@192.168.0.10:owner/r.git", "private"},
        {"https://1.2.3.4.5/r", "reserved"},
        {"https://0x7f.0x0.0x0.0x1/r", "loopback"},
        {std::string("https://example.com/") + std::string(3000, 'a'), "2048"},
        {std::string("https://example.com/r\0.git", 27), "control"},
    };
}

TEST(RepoUrl, HostileCorpusIsRefusedWithAClearReason) {
    RepoPolicy open;
    open.allow_http = open.allow_git = open.allow_ssh = true;
    for (const auto& h : hostile_urls()) {
        SCOPED_TRACE(h.url.substr(0, 80));
        auto u = validate_repo_url(h.url, open);
        ASSERT_FALSE(u.ok()) << "accepted: " << u->clone_url;
        EXPECT_NE(u.error().message.find(h.reason_contains), std::string::npos)
            << u.error().message;
    }
}

TEST(RepoUrl, HostAllowlistRestrictsHosts) {
    RepoPolicy p;
    p.allowed_hosts = {"github.com", "codeberg.org"};
    EXPECT_TRUE(validate_repo_url("https://github.com/o/r", p).ok());
    EXPECT_TRUE(validate_repo_url("https://CODEBERG.org/o/r", p).ok());
    auto u = validate_repo_url("https://gitlab.com/o/r", p);
    ASSERT_FALSE(u.ok());
    EXPECT_NE(u.error().message.find("allowed hosts"), std::string::npos);
    EXPECT_FALSE(validate_repo_url("https://github.com.evil.com/o/r", p).ok());
}

TEST(RepoUrl, LoopbackAllowedOnlyWhenListedOrPrivateHostsAllowed) {
    RepoPolicy tests;
    tests.allow_git = tests.allow_http = true;
    tests.allowed_hosts = {"127.0.0.1"};
    auto ok = validate_repo_url("git://127.0.0.1:12345/repo.git", tests);
    ASSERT_TRUE(ok.ok()) << ok.error().message;
    EXPECT_EQ(ok->port, 12345);
    // Listing 127.0.0.1 does not open other spellings or other private hosts.
    EXPECT_FALSE(validate_repo_url("git://127.1:12345/repo.git", tests).ok());
    EXPECT_FALSE(validate_repo_url("git://10.0.0.1/repo.git", tests).ok());

    RepoPolicy lan;
    lan.allow_private_hosts = true;
    EXPECT_TRUE(validate_repo_url("https://10.0.0.1/repo.git", lan).ok());
    EXPECT_TRUE(validate_repo_url("https://[::1]/repo.git", lan).ok());
}

TEST(AddressClass, ClassifiesLiteralsAndLeavesNamesAlone) {
    AddressClass c{};
    EXPECT_FALSE(classify_ip_literal("github.com", &c));
    ASSERT_TRUE(classify_ip_literal("8.8.8.8", &c));
    EXPECT_EQ(c, AddressClass::public_address);
    ASSERT_TRUE(classify_ip_literal("2606:4700::1111", &c));
    EXPECT_EQ(c, AddressClass::public_address);
    ASSERT_TRUE(classify_ip_literal("[::1]", &c));
    EXPECT_EQ(c, AddressClass::loopback);
    ASSERT_TRUE(classify_ip_literal("172.15.0.1", &c));
    EXPECT_EQ(c, AddressClass::public_address);
    ASSERT_TRUE(classify_ip_literal("172.32.0.1", &c));
    EXPECT_EQ(c, AddressClass::public_address);
    ASSERT_TRUE(classify_ip_literal("100.128.0.1", &c));
    EXPECT_EQ(c, AddressClass::public_address);
}

}  // namespace
}  // namespace tenex::project
