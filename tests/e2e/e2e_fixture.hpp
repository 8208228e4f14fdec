// End-to-end fixture: the real `tenex-sandbox up` binary as a child process, a real relay
// (the embedded one, or @nostr-relay/core from npm), the real Docker engine and the probe
// image in its Nostr mode. Every container and network the daemon makes carries its daemon id
// (unique per test), and TearDown removes them whatever happened.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "docker/client.hpp"
#include "docker/containers.hpp"
#include "docker_fixture.hpp"
#include "environment.hpp"
#include "nostr/event.hpp"
#include "nostr/keys.hpp"
#include "relay/pool.hpp"

namespace tenex::e2e {

using docker::test::eventually;  // polls until pred holds or the timeout passes

// `tenex-sandbox up ...` with stdout+stderr in a log file.
class DaemonProcess {
  public:
    DaemonProcess(std::filesystem::path log, std::vector<std::string> args)
        : log_(std::move(log)), args_(std::move(args)) {}
    ~DaemonProcess() { terminate(); }
    void start();
    void signal(int sig);
    int wait(std::chrono::milliseconds timeout = std::chrono::seconds(30));  // exit status or -1
    void terminate();  // SIGTERM, then SIGKILL
    bool running() const { return pid_ > 0; }
    pid_t pid() const { return pid_; }
    std::string log() const;

  private:
    std::filesystem::path log_;
    std::vector<std::string> args_;
    pid_t pid_ = -1;
};

// An HTTP GET on the daemon's API: status and body (status 0 when unreachable).
struct HttpReply {
    int status = 0;
    std::string body{};
};
HttpReply http_get(int port, const std::string& path);

class EndToEnd : public ::testing::Test {
  protected:
    void SetUp() override;
    void TearDown() override;

    // Starts the daemon with the fixture's directories and keys plus extra flags; waits until
    // /healthz answers 200.
    void start_daemon(std::vector<std::string> extra = {}, bool embedded_relay = true);
    void kill_daemon(int sig);
    std::vector<std::string> daemon_args(std::vector<std::string> extra, bool embedded_relay) const;

    // A project of `owner` with a fresh `d`, published as kind 31933; returns its address.
    std::string publish_project(const nostr::Keys& owner, const std::string& d_suffix);
    // A message (kind 1, or e.g. a kind 24000 boot request) from `author` tagged with
    // `address`; returns the event.
    nostr::Event publish_message(const nostr::Keys& author, const std::string& address,
                                 const std::string& text, std::uint32_t kind = 1);
    // The same event, signed but not published.
    nostr::Event sign_message(const nostr::Keys& author, const std::string& address,
                              const std::string& text, std::uint32_t kind = 1);
    void publish(const nostr::Event& event);

    // The daemon's containers (all states).
    std::vector<docker::ContainerSummary> containers() const;
    std::vector<docker::ContainerSummary> running_for(const std::string& address) const;
    // The probe's kind 1 reply to `message` (e tag), if it arrived on the relay.
    std::optional<nostr::Event> reply_to(const nostr::Event& message, const std::string& address);
    // A counter's value in /metrics (the sum of every series with that name and labels).
    double metric(const std::string& series);

    std::unique_ptr<test::TempDir> dir_;
    std::string daemon_id_;
    std::string relay_url_;  // where the test publishes
    int relay_port_ = 0;
    int http_port_ = 0;
    int gateway_port_ = 0;  // the same for every daemon start of a test (adoption)
    std::optional<nostr::Keys> owner_;
    std::unique_ptr<docker::Client> docker_;
    std::unique_ptr<relay::RelayPool> pool_;
    std::unique_ptr<DaemonProcess> daemon_;
    int daemon_starts_ = 0;
};

}  // namespace tenex::e2e
