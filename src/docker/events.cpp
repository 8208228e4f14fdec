#include "docker/events.hpp"

#include <charconv>

#include "common/backoff.hpp"
#include "common/watched.hpp"
#include "docker/json_util.hpp"
#include "docker/url.hpp"

namespace tenex::docker {
namespace {

EventKind kind_of(std::string_view action) {
    if (action == "start") return EventKind::Start;
    if (action == "die") return EventKind::Die;
    if (action == "oom") return EventKind::Oom;
    if (action == "destroy") return EventKind::Destroy;
    if (action == "create") return EventKind::Create;
    if (action == "stop") return EventKind::Stop;
    if (action == "kill") return EventKind::Kill;
    if (action.starts_with("health_status")) return EventKind::Health;
    return EventKind::Other;
}

std::int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

Result<Event> parse_event(std::string_view line) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) return make_error("event: not a JSON object");
    Event e;
    e.type = json::str(j, "Type");
    e.action = json::str(j, "Action", json::str(j, "status"));
    if (e.type.empty() || e.action.empty()) return make_error("event: no Type or Action");
    e.kind = kind_of(e.action);
    const auto& actor = json::object(j, "Actor");
    e.id = json::str(actor, "ID", json::str(j, "id"));
    e.attributes = json::str_map(actor, "Attributes");
    e.time_nano = json::i64(j, "timeNano");
    if (e.time_nano == 0) e.time_nano = json::i64(j, "time") * 1'000'000'000;
    if (e.kind == EventKind::Die) {
        auto code = e.attribute("exitCode");
        int v = 0;
        auto [p, ec] = std::from_chars(code.data(), code.data() + code.size(), v);
        if (ec == std::errc{} && p == code.data() + code.size() && !code.empty()) e.exit_code = v;
    }
    return e;
}

std::string events_query(const EventFilter& filter) {
    nlohmann::json f = nlohmann::json::object();
    if (!filter.types.empty()) f["type"] = filter.types;
    if (!filter.labels.empty()) f["label"] = filter.labels;
    if (!filter.actions.empty()) f["event"] = filter.actions;
    return f.empty() ? std::string() : "?filters=" + url_encode(f.dump());
}

EventStream::EventStream(const Client& client, EventStreamOptions options, EventHandlers handlers)
    : client_(client), options_(std::move(options)), handlers_(std::move(handlers)) {}

EventStream::~EventStream() {
    stop();
}

void EventStream::start() {
    if (thread_.joinable()) return;
    thread_ = std::jthread([this](std::stop_token st) { run(std::move(st)); });
}

void EventStream::stop() {
    if (!thread_.joinable()) return;
    thread_.request_stop();
    thread_.join();
    connected_ = false;
}

void EventStream::run(std::stop_token stop) {
    bool ever_opened = false;
    std::int64_t lost_at = 0;  // unix seconds when the last stream ended
    std::int64_t last_nano =   // newest event delivered
        options_.since > 0 ? options_.since * 1'000'000'000 - 1 : 0;
    unsigned failures = 0;  // connections lost or refused since the last one that opened
    const std::string base = "/events" + events_query(options_.filter);

    while (!stop.stop_requested()) {
        std::string path = base;
        if (last_nano > 0) {
            // Replay what the engine still holds since the last event we saw; duplicates
            // (same or older timeNano) are dropped below.
            path += (base.find('?') == std::string::npos ? "?since=" : "&since=") +
                    std::to_string((last_nano + 1) / 1'000'000'000);
        }
        std::string buffer;
        bool opened = false;
        StreamHandlers h;
        h.on_open = [&](const HttpResponse&) {
            opened = true;
            connected_ = true;
            failures = 0;
            if (!ever_opened) {
                ever_opened = true;
                if (handlers_.on_connected) handlers_.on_connected();
            } else {
                ++reconnects_;
                if (handlers_.on_gap) handlers_.on_gap(EventGap{lost_at, now_seconds()});
            }
        };
        h.on_data = [&](std::string_view chunk) {
            buffer.append(chunk);
            std::size_t start = 0;
            for (std::size_t nl; (nl = buffer.find('\n', start)) != std::string::npos;
                 start = nl + 1) {
                auto ev = parse_event(std::string_view(buffer).substr(start, nl - start));
                if (!ev || (ev->time_nano != 0 && ev->time_nano <= last_nano)) continue;
                last_nano = std::max(last_nano, ev->time_nano);
                if (handlers_.on_event) handlers_.on_event(*ev);
            }
            buffer.erase(0, start);
            if (buffer.size() > (1u << 20)) buffer.clear();  // not an event stream
            return !stop.stop_requested();
        };
        auto r = client_.stream("GET", path, "events", h, stop);
        connected_ = false;
        if (stop.stop_requested()) break;
        if (opened) lost_at = now_seconds();
        if (!r) {
            if (handlers_.on_error) handlers_.on_error(r.error());
        } else if (handlers_.on_error) {
            handlers_.on_error(DockerError{"events", r->status, "the engine ended the stream"});
        }
        const auto backoff = std::chrono::duration_cast<std::chrono::milliseconds>(
            exponential_delay(options_.initial_backoff, options_.max_backoff, failures));
        if (failures < 1000) ++failures;
        (void)StopSignal::sleep_for(stop, backoff);
    }
}

}  // namespace tenex::docker
