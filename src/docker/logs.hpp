// Container logs: the multiplexed stream format (8-byte frame headers) and the logs calls.
#pragma once

#include <cstdint>
#include <functional>
#include <stop_token>
#include <string>
#include <string_view>

#include "docker/client.hpp"

namespace tenex::docker {

enum class LogStream { Stdin = 0, Stdout = 1, Stderr = 2 };

// Splits the multiplexed stream ([stream, 0, 0, 0, size32be] + payload) into frames, across
// chunk boundaries. A stream whose first header is not a valid frame header (a TTY container)
// is passed through as stdout.
class LogDemuxer {
  public:
    using FrameFn = std::function<bool(LogStream, std::string_view)>;  // false: stop
    explicit LogDemuxer(FrameFn on_frame) : on_frame_(std::move(on_frame)) {}
    // Returns false when on_frame asked to stop.
    bool feed(std::string_view chunk);
    // Bytes held back waiting for the rest of a frame.
    std::size_t pending() const { return buffer_.size(); }

  private:
    FrameFn on_frame_;
    std::string buffer_;
    enum class Mode { Unknown, Multiplexed, Raw } mode_ = Mode::Unknown;
};

struct LogsOptions {
    bool stdout_stream = true;
    bool stderr_stream = true;
    bool timestamps = false;
    std::string tail{};      // "all" or a number; empty: all
    std::int64_t since = 0;  // unix seconds; 0: from the start
};

struct Logs {
    std::string out{};
    std::string err{};
};

// The logs so far, demultiplexed.
DResult<Logs> container_logs(const Client& client, const std::string& id,
                             const LogsOptions& options = {});
// A swarm service's logs so far (a manager gathers them from the tasks' nodes), demultiplexed.
DResult<Logs> service_logs(const Client& client, const std::string& id,
                           const LogsOptions& options = {});
// Follows the logs until the container stops, on_frame returns false, or stop is requested.
DStatus follow_logs(const Client& client, const std::string& id, const LogsOptions& options,
                    const LogDemuxer::FrameFn& on_frame, std::stop_token stop = {});

}  // namespace tenex::docker
