// wss:// against the npm relay served by node's https: a throwaway CA and server certificates
// made with openssl in a temporary directory. With PoolOptions::ca_file the pool connects,
// subscribes and receives over TLS; with the system store, or with a certificate for another
// host name, the connection is refused, nothing is delivered and the reason is in the status.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "environment.hpp"
#include "interop_support.hpp"
#include "node_peer.hpp"
#include "relay/pool.hpp"

namespace tenex::relay {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using testing::Author;
using testing::by_author;
using testing::Collector;
using testing::eventually;
using testing::NodeProcess;
using testing::now_s;
using testing::run_node;
using testing::run_program;

// A CA and two server certificates it signed: one for localhost/127.0.0.1, one for another
// name only. EC P-256, valid for two days.
struct Pki {
    fs::path ca, good_cert, good_key, wrong_cert, wrong_key;
};

bool openssl(const fs::path& dir, std::vector<std::string> args) {
    return run_program("openssl", std::move(args), dir.string()).exit_code == 0;
}

bool make_server_cert(const fs::path& dir, const std::string& name, const std::string& san,
                      int serial) {
    std::ofstream(dir / (name + ".ext"))
        << "subjectAltName=" << san
        << "\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature"
           "\nextendedKeyUsage=serverAuth\n";
    return openssl(dir,
                   {"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name}) &&
           openssl(dir, {"x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                         "-set_serial", std::to_string(serial), "-days", "2", "-out", name + ".pem",
                         "-extfile", name + ".ext"});
}

std::optional<Pki> make_pki(const fs::path& dir) {
    if (!openssl(dir, {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                       "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj",
                       "/CN=tenex test CA", "-addext", "basicConstraints=critical,CA:TRUE",
                       "-addext", "keyUsage=critical,keyCertSign,cRLSign"}))
        return std::nullopt;
    if (!make_server_cert(dir, "good", "DNS:localhost,IP:127.0.0.1", 2) ||
        !make_server_cert(dir, "wrong", "DNS:wrong.example", 3))
        return std::nullopt;
    return Pki{dir / "ca.pem", dir / "good.pem", dir / "good.key", dir / "wrong.pem",
               dir / "wrong.key"};
}

class TlsRelay : public ::testing::Test {
  protected:
    void SetUp() override {
        TENEX_REQUIRE_RELAY_PEERS();
        if (run_program("openssl", {"version"}).exit_code != 0) {
            if (test::in_ci()) FAIL() << "openssl is required in CI";
            GTEST_SKIP() << "openssl not on PATH";
        }
        auto pki = make_pki(dir_.path());
        ASSERT_TRUE(pki) << "openssl could not make the test certificates";
        pki_ = *pki;
        // nostr-tools (node) publishes over wss too: it trusts the test CA through this.
        ::setenv("NODE_EXTRA_CA_CERTS", pki_.ca.c_str(), 1);
    }
    void TearDown() override { ::unsetenv("NODE_EXTRA_CA_CERTS"); }

    std::unique_ptr<NodeProcess> serve(const fs::path& cert, const fs::path& key) {
        auto relay = NodeProcess::start("relay.mjs", {"0", "--tls", cert.string(), key.string()});
        EXPECT_EQ(relay->first_line().rfind("wss://localhost:", 0), 0u) << relay->first_line();
        return relay;
    }

    test::TempDir dir_;
    Pki pki_;
};

TEST_F(TlsRelay, WithTheCaFileThePoolSubscribesAndReceivesOverWss) {
    auto relay = serve(pki_.good_cert, pki_.good_key);
    const std::string url = relay->first_line();
    Author a;
    Collector got;
    std::atomic<int> eose{0};
    PoolOptions opt;
    opt.ca_file = pki_.ca.string();
    RelayPool pool(opt);
    ASSERT_TRUE(pool.add_relay(url).ok());
    ASSERT_TRUE(pool.wait_connected(1, 10s)) << pool.status()[0].last_error;
    ASSERT_TRUE(pool.subscribe(
                        "tls", {by_author(a.pk(), 0)}, [&](const DeliveredEvent& d) { got.add(d); },
                        [&](const std::string&, const std::string&) { ++eose; })
                    .ok());
    ASSERT_TRUE(eventually([&] { return eose.load() == 1; }, 10s));
    auto r =
        run_node("client.mjs", {"publish-many", url, a.sk(), "1", "3", std::to_string(now_s())});
    ASSERT_EQ(r.exit_code, 0) << "nostr-tools could not publish over wss";
    ASSERT_TRUE(got.wait_for(3, 10s));
    // And the pool publishes over the same TLS connection.
    nostr::UnsignedEvent u;
    u.content = "over tls";
    auto ev = nostr::sign_event(u, a.keys);
    auto res = pool.publish(*ev, 10s).get();
    ASSERT_EQ(res.relays.size(), 1u);
    EXPECT_TRUE(res.relays[0].accepted) << res.relays[0].message;
    ASSERT_TRUE(got.wait_for(4, 10s));
    auto st = pool.status()[0];
    EXPECT_EQ(st.events_delivered, 4u);
    EXPECT_EQ(st.connects, 1u);
}

// Refused: never connected, nothing delivered though the relay has an event, a reason shown.
void expect_refused(RelayPool& pool, const std::string& url, const Author& a,
                    const std::string& why) {
    // The publisher is not under test: it skips verification (the wrong-name certificate).
    ::setenv("NODE_TLS_REJECT_UNAUTHORIZED", "0", 1);
    const int published =
        run_node("client.mjs", {"publish", url, a.sk(), "1", "stored", std::to_string(now_s())})
            .exit_code;
    ::unsetenv("NODE_TLS_REJECT_UNAUTHORIZED");
    ASSERT_EQ(published, 0);
    Collector got;
    ASSERT_TRUE(pool.add_relay(url).ok());
    ASSERT_TRUE(
        pool.subscribe("tls", {by_author(a.pk())}, [&](const DeliveredEvent& d) { got.add(d); })
            .ok());
    EXPECT_TRUE(eventually([&] { return !pool.status()[0].last_error.empty(); }, 10s));
    EXPECT_FALSE(pool.wait_connected(1, 3s)) << "connected to an untrusted certificate";
    auto st = pool.status()[0];
    EXPECT_EQ(st.connects, 0u);
    EXPECT_EQ(st.events_received, 0u);
    EXPECT_EQ(got.size(), 0u);
    EXPECT_TRUE(pool.fetch({by_author(a.pk())}, 2s).get().empty());
    EXPECT_NE(st.last_error.find("TLS: certificate refused: " + why), std::string::npos)
        << st.last_error;
}

TEST_F(TlsRelay, WithoutTheCaTheSystemStoreRefusesTheCertificate) {
    auto relay = serve(pki_.good_cert, pki_.good_key);
    Author a;
    RelayPool pool;  // system trust store: the test CA is not in it
    expect_refused(pool, relay->first_line(), a, "self-signed certificate in certificate chain");
}

TEST_F(TlsRelay, ACertificateForAnotherHostNameIsRefused) {
    auto relay = serve(pki_.wrong_cert, pki_.wrong_key);
    Author a;
    PoolOptions opt;
    opt.ca_file = pki_.ca.string();  // trusted CA, but the certificate names wrong.example
    RelayPool pool(opt);
    expect_refused(pool, relay->first_line(), a, "hostname mismatch");
}

// The publish and req commands take the same CA with --ca-file; without it they refuse.
TEST_F(TlsRelay, CliPublishAndReqTrustTheCaFile) {
    auto relay = serve(pki_.good_cert, pki_.good_key);
    const std::string url = relay->first_line();
    Author a;
    const auto key = (dir_.path() / "key").string();
    std::ofstream(key) << a.keys.secret.reveal_nsec() << "\n";
    const std::string bin = test::tenex_binary().string();
    const std::vector<std::string> publish = {"publish",  "--relay",   url, "--key",
                                              key,        "--kind",    "1", "--content",
                                              "over wss", "--timeout", "5"};
    EXPECT_NE(run_program(bin, publish).exit_code, 0) << "published without trusting the CA";
    auto with_ca = publish;
    with_ca.insert(with_ca.end(), {"--ca-file", pki_.ca.string()});
    auto pub = run_program(bin, with_ca);
    ASSERT_EQ(pub.exit_code, 0) << pub.out;
    const std::string id = testing::lines(pub.out).at(0);
    auto req = run_program(
        bin, {"req", "--relay", url, "--ca-file", pki_.ca.string(), "{\"ids\":[\"" + id + "\"]}"});
    ASSERT_EQ(req.exit_code, 0) << req.out;
    EXPECT_NE(req.out.find("\"over wss\""), std::string::npos) << req.out;
    EXPECT_NE(run_program(bin, {"req", "--relay", url, "--timeout", "5", "{}"}).exit_code, 0);
}

}  // namespace
}  // namespace tenex::relay
