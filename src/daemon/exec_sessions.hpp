// Execs whose stdin the API forwards (`tenex-sandbox shell`, `exec -i`): the daemon holds each
// one's attached connection to the engine, streams its output to the HTTP stream that started
// it and writes what the client sends to POST /exec/{id}/stdin into it.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/thread_annotations.hpp"
#include "docker/client.hpp"

namespace tenex::daemon {

class ExecSessions {
  public:
    explicit ExecSessions(const docker::Client& client) : client_(client) {}

    // An exec created with stdin attached: input for it is accepted from now on (and waits
    // until run has attached it). Execs registered but never run are forgotten after a minute.
    void add(const std::string& exec_id);
    bool has(const std::string& exec_id) const;

    // Attaches the exec and streams its output into sink (stdout frames, or one raw stream
    // with tty) until it ends, sink returns false or stop is requested. Then it is forgotten.
    Status run(const std::string& exec_id, bool tty, std::stop_token stop,
               const std::function<bool(bool is_stderr, std::string_view)>& sink);

    // Writes to the exec's stdin (all of data, or an error after `timeout` when the process
    // does not read it); eof closes its stdin after data.
    Status input(const std::string& exec_id, std::string_view data, bool eof,
                 std::chrono::milliseconds timeout = std::chrono::seconds(5));
    // Resizes its terminal (tty execs).
    Status resize(const std::string& exec_id, int rows, int cols);

  private:
    struct Session;
    std::shared_ptr<Session> find(const std::string& exec_id) const;

    const docker::Client& client_;
    mutable Mutex mu_;
    std::map<std::string, std::shared_ptr<Session>> sessions_ TENEX_GUARDED_BY(mu_);
};

}  // namespace tenex::daemon
