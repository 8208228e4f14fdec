#include "docker/logs.hpp"

#include "docker/url.hpp"

namespace tenex::docker {
namespace {

constexpr std::size_t kHeader = 8;

bool looks_like_header(std::string_view h) {
    return h.size() >= kHeader && static_cast<unsigned char>(h[0]) <= 2 && h[1] == 0 && h[2] == 0 &&
           h[3] == 0;
}

std::string logs_path(const std::string& id, const LogsOptions& o, bool follow,
                      const char* of = "/containers/") {
    std::string p = of + url_encode(id) + "/logs?stdout=" + (o.stdout_stream ? "1" : "0") +
                    "&stderr=" + (o.stderr_stream ? "1" : "0") +
                    "&timestamps=" + (o.timestamps ? "1" : "0") + "&follow=" + (follow ? "1" : "0");
    if (!o.tail.empty()) p += "&tail=" + url_encode(o.tail);
    if (o.since > 0) p += "&since=" + std::to_string(o.since);
    return p;
}

}  // namespace

bool LogDemuxer::feed(std::string_view chunk) {
    if (mode_ == Mode::Raw) return chunk.empty() || on_frame_(LogStream::Stdout, chunk);
    buffer_.append(chunk);
    if (mode_ == Mode::Unknown) {
        if (buffer_.size() < kHeader) {
            // Not enough to decide; a short raw stream is flushed when it cannot be a header.
            if (!buffer_.empty() && (static_cast<unsigned char>(buffer_[0]) > 2 ||
                                     (buffer_.size() > 1 && buffer_[1] != 0))) {
                mode_ = Mode::Raw;
                std::string all = std::move(buffer_);
                buffer_.clear();
                return on_frame_(LogStream::Stdout, all);
            }
            return true;
        }
        mode_ = looks_like_header(buffer_) ? Mode::Multiplexed : Mode::Raw;
        if (mode_ == Mode::Raw) {
            std::string all = std::move(buffer_);
            buffer_.clear();
            return on_frame_(LogStream::Stdout, all);
        }
    }
    std::size_t pos = 0;
    bool go_on = true;
    while (go_on && buffer_.size() - pos >= kHeader) {
        auto* h = reinterpret_cast<const unsigned char*>(buffer_.data() + pos);
        std::size_t size = (std::size_t{h[4]} << 24) | (std::size_t{h[5]} << 16) |
                           (std::size_t{h[6]} << 8) | std::size_t{h[7]};
        if (buffer_.size() - pos - kHeader < size) break;
        auto stream = h[0] <= 2 ? static_cast<LogStream>(h[0]) : LogStream::Stdout;
        go_on = on_frame_(stream, std::string_view(buffer_).substr(pos + kHeader, size));
        pos += kHeader + size;
    }
    buffer_.erase(0, pos);
    return go_on;
}

namespace {
DResult<Logs> logs_of(const Client& client, const std::string& path, const std::string& what) {
    auto r = client.call("GET", path, what);
    if (!r) return std::move(r).error();
    Logs logs;
    LogDemuxer demux([&](LogStream s, std::string_view data) {
        (s == LogStream::Stderr ? logs.err : logs.out).append(data);
        return true;
    });
    demux.feed(r->body);
    return logs;
}
}  // namespace

DResult<Logs> container_logs(const Client& client, const std::string& id,
                             const LogsOptions& options) {
    return logs_of(client, logs_path(id, options, false), "logs of container " + id);
}

DResult<Logs> service_logs(const Client& client, const std::string& id,
                           const LogsOptions& options) {
    return logs_of(client, logs_path(id, options, false, "/services/"), "logs of service " + id);
}

DStatus follow_logs(const Client& client, const std::string& id, const LogsOptions& options,
                    const LogDemuxer::FrameFn& on_frame, std::stop_token stop) {
    LogDemuxer demux(on_frame);
    StreamHandlers handlers{.on_open = {},
                            .on_data = [&](std::string_view chunk) { return demux.feed(chunk); }};
    auto r = client.stream("GET", logs_path(id, options, true), "follow logs of container " + id,
                           handlers, std::move(stop));
    if (!r) return std::move(r).error();
    return Unit{};
}

}  // namespace tenex::docker
