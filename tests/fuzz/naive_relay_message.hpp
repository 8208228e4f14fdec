// A naive reading of relay-to-client messages for differential fuzzing: the whole text as an
// nlohmann::json document, then the NIP-01 shapes checked one by one. Slow and obvious: the
// reference for relay::parse_relay_message, which never builds a document.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace tenex::fuzz {

struct NaiveRelayMessage {
    std::string type;       // EVENT OK EOSE CLOSED NOTICE AUTH
    std::string first;      // sub id, event id, NOTICE text or challenge
    std::string message;    // OK / CLOSED message ("" when absent or not a string)
    bool accepted = false;  // OK
    nlohmann::json event;   // EVENT
};

inline std::optional<NaiveRelayMessage> naive_relay_message(const nlohmann::json& j) {
    if (!j.is_array() || j.empty() || !j[0].is_string()) return std::nullopt;
    NaiveRelayMessage m;
    m.type = j[0].get<std::string>();
    auto str = [&](std::size_t i) { return j.size() > i && j[i].is_string(); };
    auto sub_ok = [&] {
        if (!str(1)) return false;
        auto n = j[1].get_ref<const std::string&>().size();
        return n >= 1 && n <= 64;
    };
    if (m.type == "EVENT") {
        if (!sub_ok() || j.size() < 3 || !j[2].is_object()) return std::nullopt;
        m.first = j[1].get<std::string>();
        m.event = j[2];
    } else if (m.type == "OK") {
        if (!str(1) || j.size() < 3 || !j[2].is_boolean()) return std::nullopt;
        m.first = j[1].get<std::string>();
        m.accepted = j[2].get<bool>();
        if (str(3)) m.message = j[3].get<std::string>();
    } else if (m.type == "EOSE" || m.type == "CLOSED") {
        if (!sub_ok()) return std::nullopt;
        m.first = j[1].get<std::string>();
        if (m.type == "CLOSED" && str(2)) m.message = j[2].get<std::string>();
    } else if (m.type == "NOTICE") {
        if (str(1)) m.first = j[1].get<std::string>();
    } else if (m.type == "AUTH") {
        if (!str(1)) return std::nullopt;
        m.first = j[1].get<std::string>();
    } else {
        return std::nullopt;
    }
    return m;
}

}  // namespace tenex::fuzz
