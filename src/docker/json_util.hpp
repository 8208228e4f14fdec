// Type-tolerant readers for Engine responses: a missing or mistyped field gives the default,
// never an exception, so a surprising engine reply cannot crash the daemon.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace tenex::docker::json {

inline const nlohmann::json* field(const nlohmann::json& j, std::string_view key) {
    if (!j.is_object()) return nullptr;
    auto it = j.find(key);
    return it == j.end() ? nullptr : &*it;
}

inline std::string str(const nlohmann::json& j, std::string_view key, std::string fallback = {}) {
    auto* f = field(j, key);
    return f && f->is_string() ? f->get<std::string>() : fallback;
}

inline std::int64_t i64(const nlohmann::json& j, std::string_view key, std::int64_t fallback = 0) {
    auto* f = field(j, key);
    if (!f) return fallback;
    if (f->is_number_integer()) return f->get<std::int64_t>();
    if (f->is_number_unsigned()) {
        auto v = f->get<std::uint64_t>();
        return v > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(v);
    }
    if (f->is_number_float()) return static_cast<std::int64_t>(f->get<double>());
    return fallback;
}

inline bool boolean(const nlohmann::json& j, std::string_view key, bool fallback = false) {
    auto* f = field(j, key);
    return f && f->is_boolean() ? f->get<bool>() : fallback;
}

inline const nlohmann::json& object(const nlohmann::json& j, std::string_view key) {
    static const nlohmann::json kEmpty = nlohmann::json::object();
    auto* f = field(j, key);
    return f && f->is_object() ? *f : kEmpty;
}

inline std::vector<std::string> str_vec(const nlohmann::json& j, std::string_view key) {
    std::vector<std::string> out;
    auto* f = field(j, key);
    if (f && f->is_array())
        for (const auto& e : *f)
            if (e.is_string()) out.push_back(e.get<std::string>());
    return out;
}

inline std::map<std::string, std::string> str_map(const nlohmann::json& j, std::string_view key) {
    std::map<std::string, std::string> out;
    auto* f = field(j, key);
    if (f && f->is_object())
        for (auto it = f->begin(); it != f->end(); ++it)
            if (it->is_string()) out.emplace(it.key(), it->get<std::string>());
    return out;
}

}  // namespace tenex::docker::json
