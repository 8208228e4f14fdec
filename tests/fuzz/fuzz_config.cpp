// The daemon's configuration YAML: any text is parsed without a crash or an exception; every
// diagnostic names the file and a line inside the text; and a configuration that parses and
// validates cleanly holds what the daemon relies on later: values inside their documented
// ranges, whitelist entries as 64 lowercase hex, relay URLs that relay::RelayUrl::parse accepts,
// and strings that go into JSON (container labels, /healthz, the state) without a throw.
#include <algorithm>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "daemon/config.hpp"
#include "relay/url.hpp"

using namespace tenex::daemon;

#define CHECK(x)              \
    do {                      \
        if (!(x)) {           \
            __builtin_trap(); \
        }                     \
    } while (0)

namespace {
bool lowercase_hex64(const std::string& s) {
    return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}
bool dumps(const std::string& s) {
    try {
        (void)nlohmann::json(s).dump();
        return true;
    } catch (const nlohmann::json::exception&) {
        return false;
    }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto lines = static_cast<int>(std::count(text.begin(), text.end(), '\n')) + 1;
    auto parsed = parse_config(text, "fuzz.yaml");
    if (!parsed) {
        CHECK(!parsed.error().empty());
        for (const auto& d : parsed.error()) {
            CHECK(d.file == "fuzz.yaml");
            CHECK(d.line >= 0 && d.line <= lines + 1);
            CHECK(!d.message.empty());
        }
        return 0;
    }
    const DaemonConfig& c = *parsed;
    CHECK(c.monitor.events_per_second >= 0.001 && c.monitor.events_per_second <= 1e6);
    CHECK(c.monitor.burst >= 1 && c.monitor.burst <= 1e6);
    CHECK(c.monitor.queue_size >= 1 && c.monitor.max_projects_per_event >= 1);
    CHECK(c.gateway_writes_per_second >= 0.001 && c.gateway_write_burst >= 1);
    CHECK(c.start_concurrency >= 1 && c.start_concurrency <= 64);
    CHECK(c.metrics.max_projects >= 1);
    CHECK(c.embedded_relay_quota.max_events >= 1);
    CHECK(c.log_format.empty() || c.log_format == "text" || c.log_format == "json");
    for (const auto& w : c.whitelist) CHECK(lowercase_hex64(w));
    for (const auto& r : c.relays) CHECK(tenex::relay::RelayUrl::parse(r));
    if (!validate_config(c).empty()) return 0;
    for (const auto* s :
         {&c.daemon_id, &c.http_listen, &c.embedded_relay, &c.gateway_listen, &c.docker_socket})
        CHECK(dumps(*s));
    for (const auto& p : {c.key_file, c.projects_path, c.policies_dir, c.state_dir})
        CHECK(p.is_absolute() && dumps(p.string()));
    for (const auto& r : c.relays) CHECK(dumps(r));
    for (const auto& h : c.git.allowed_hosts) CHECK(dumps(h));
    return 0;
}
