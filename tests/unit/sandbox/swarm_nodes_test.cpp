// SwarmEngine reads the manager's node list at most once a second (every read of tasks needs the
// nodes' states), reads it at once for a node id it has not seen, and still declares a task on
// a down node lost. Against a fake manager (cpp-httplib on a unix socket) that counts /nodes.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "docker/client.hpp"
#include "sandbox/swarm_engine.hpp"

namespace tenex::sandbox {
namespace {

using namespace std::chrono_literals;

constexpr const char* kService = R"({
  "ID": "svc1", "Version": {"Index": 42}, "CreatedAt": "2026-12-05T12:00:00.5Z",
  "Spec": {"Name": "tenex-p-abc", "Labels": {"tenex.project": "p"},
           "TaskTemplate": {"ContainerSpec": {"Image": "tenex-probe:latest"}},
           "Mode": {"Replicated": {"Replicas": 1}}}})";

class FakeManager {
  public:
    FakeManager() {
        dir_ = std::filesystem::temp_directory_path() /
               ("tenex-swarm-nodes-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
        socket_ = (dir_ / "docker.sock").string();
        server_.Get("/_ping", [](const auto&, auto& res) {
            res.set_header("Api-Version", "1.41");
            res.set_content("OK", "text/plain");
        });
        server_.Get("/version", [](const auto&, auto& res) {
            res.set_content(R"({"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12",
                               "Os":"linux","Arch":"amd64","KernelVersion":"6"})",
                            "application/json");
        });
        server_.Get(R"(/v[\d.]+/services/svc1)",
                    [](const auto&, auto& res) { res.set_content(kService, "application/json"); });
        server_.Get(R"(/v[\d.]+/tasks)", [this](const auto&, auto& res) {
            std::lock_guard l(mu_);
            res.set_content(R"([{"ID":"t1","ServiceID":"svc1","NodeID":")" + task_node_ +
                                R"(","CreatedAt":"2026-12-05T12:00:01Z","Version":{"Index":10},
                               "DesiredState":"running","Status":{"State":"running",
                               "Timestamp":"2026-12-05T12:00:02Z",
                               "ContainerStatus":{"ContainerID":"c1"}}}])",
                            "application/json");
        });
        server_.Get(R"(/v[\d.]+/nodes)", [this](const auto&, auto& res) {
            ++node_reads;
            std::lock_guard l(mu_);
            std::string body = "[";
            for (const auto& [id, host, state] : nodes_) {
                if (body.size() > 1) body += ",";
                body +=
                    R"({"ID":")" + id + R"(","Description":{"Hostname":")" + host +
                    R"("},"Spec":{"Role":"worker","Availability":"active"},"Status":{"State":")" +
                    state + R"("}})";
            }
            res.set_content(body + "]", "application/json");
        });
        server_.set_address_family(AF_UNIX);
        thread_ = std::thread([this] { server_.listen(socket_, 80); });
        while (!server_.is_running()) std::this_thread::sleep_for(1ms);
    }
    ~FakeManager() {
        server_.stop();
        thread_.join();
        std::filesystem::remove_all(dir_);
    }
    const std::string& socket() const { return socket_; }
    void set_nodes(std::vector<std::tuple<std::string, std::string, std::string>> nodes) {
        std::lock_guard l(mu_);
        nodes_ = std::move(nodes);
    }
    void set_task_node(std::string id) {
        std::lock_guard l(mu_);
        task_node_ = std::move(id);
    }
    std::atomic<int> node_reads{0};

  private:
    std::filesystem::path dir_;
    std::string socket_;
    httplib::Server server_;
    std::thread thread_;
    std::mutex mu_;
    std::vector<std::tuple<std::string, std::string, std::string>> nodes_{
        {"n1", "worker-1", "ready"}};
    std::string task_node_{"n1"};
};

class SwarmNodes : public ::testing::Test {
  protected:
    void SetUp() override {
        auto c = docker::Client::connect({.socket = manager.socket(), .timeout = 5s});
        ASSERT_TRUE(c) << c.error().describe();
        client = std::move(*c);
        engine = std::make_unique<SwarmEngine>(*client);
    }
    FakeManager manager;
    std::unique_ptr<docker::Client> client;
    std::unique_ptr<SwarmEngine> engine;
};

TEST_F(SwarmNodes, ReadOnceASecondHoweverOftenTasksAreRead) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) {
        auto info = engine->inspect("svc1");
        ASSERT_TRUE(info) << info.error().describe();
        EXPECT_TRUE(info->state.running);
        EXPECT_EQ(info->node_name, "worker-1");
    }
    // 20 inspects, each reading the tasks and naming the node: one read of /nodes (two when the
    // loop happened to cross the second).
    const bool within_a_second = std::chrono::steady_clock::now() - t0 < 1s;
    if (within_a_second) {
        EXPECT_EQ(manager.node_reads.load(), 1);
    }
    EXPECT_LE(manager.node_reads.load(), 2);
    std::this_thread::sleep_for(SwarmEngine::kNodesMaxAge + 100ms);
    const int before = manager.node_reads.load();
    ASSERT_TRUE(engine->inspect("svc1"));
    EXPECT_EQ(manager.node_reads.load(), before + 1) << "an old list is read again";
}

TEST_F(SwarmNodes, ANodeIdNotSeenYetIsLookedUpAtOnce) {
    ASSERT_TRUE(engine->inspect("svc1"));
    const int before = manager.node_reads.load();
    // The task moved to a node that joined after the last read: its name is read now, not
    // within a second (and never remembered as nameless while the manager knows it).
    manager.set_nodes({{"n1", "worker-1", "ready"}, {"n2", "worker-2", "ready"}});
    manager.set_task_node("n2");
    auto info = engine->inspect("svc1");
    ASSERT_TRUE(info) << info.error().describe();
    EXPECT_EQ(info->node_name, "worker-2");
    EXPECT_EQ(manager.node_reads.load(), before + 1);
}

TEST_F(SwarmNodes, ATaskOnANodeMarkedDownIsLostWithinTheListsAge) {
    auto info = engine->inspect("svc1");
    ASSERT_TRUE(info);
    ASSERT_TRUE(info->state.running);
    manager.set_nodes({{"n1", "worker-1", "down"}});
    std::this_thread::sleep_for(SwarmEngine::kNodesMaxAge + 100ms);
    // Within the list's age the old state may serve; after it, the task has ended for the
    // daemon (exit 137, as killed) although the manager still shows it running.
    info = engine->inspect("svc1");
    ASSERT_TRUE(info) << info.error().describe();
    EXPECT_FALSE(info->state.running);
    EXPECT_EQ(info->state.exit_code, 137);
    EXPECT_NE(info->state.error.find("node worker-1 is down: the task is lost"), std::string::npos)
        << info->state.error;
}

}  // namespace
}  // namespace tenex::sandbox
