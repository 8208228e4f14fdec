// Docker Engine replies: the parsers of container lists, container inspect, the events stream,
// exec inspect and stats take any bytes without a crash or an exception (a broken or hostile
// engine, or a proxy in front of it, must not take the daemon down); what they accept is JSON
// of the shape they read (checked against nlohmann's own parse, the naive reference).
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "docker/containers.hpp"
#include "docker/events.hpp"
#include "docker/exec.hpp"
#include "docker/stats.hpp"

using namespace tenex::docker;

#define CHECK(x)              \
    do {                      \
        if (!(x)) {           \
            __builtin_trap(); \
        }                     \
    } while (0)

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
    const auto naive = nlohmann::json::parse(body, nullptr, false);
    switch (data[0] % 5) {
        case 0: {
            auto list = parse_container_list(body);
            if (list) {
                CHECK(naive.is_array());
                CHECK(list->size() <= naive.size());
            }
            break;
        }
        case 1: {
            auto info = parse_container_inspect(body);
            if (info) CHECK(naive.is_object());
            break;
        }
        case 2: {
            auto event = parse_event(body);
            if (event) CHECK(naive.is_object());
            break;
        }
        case 3: {
            auto exec = parse_exec_inspect(body);
            if (exec) CHECK(naive.is_object());
            break;
        }
        case 4: {
            auto stats = parse_stats(body);
            if (stats) CHECK(naive.is_object());
            break;
        }
    }
    return 0;
}
