#include "nostr/filter.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "nostr/hex.hpp"
#include "nostr/utf8.hpp"

namespace tenex::nostr {

namespace {

constexpr std::size_t kMaxFilterBytes = 256 * 1024;
constexpr std::size_t kMaxListItems = 10000;

Result<std::vector<std::string>> hex_list(const nlohmann::json& v, const std::string& name) {
    if (!v.is_array()) return make_error("filter '" + name + "' must be an array of hex strings");
    if (v.size() > kMaxListItems) return make_error("filter '" + name + "' has too many items");
    std::vector<std::string> out;
    out.reserve(v.size());
    for (const auto& x : v) {
        if (!x.is_string() || !is_lower_hex(x.get_ref<const std::string&>(), 64))
            return make_error("filter '" + name + "' items must be 64 lowercase hex characters");
        out.push_back(x.get<std::string>());
    }
    return out;
}

Result<std::uint64_t> non_negative(const nlohmann::json& v, const std::string& name,
                                   std::uint64_t max) {
    std::string what = "filter '" + name + "' must be an integer 0.." + std::to_string(max);
    if (v.is_number_unsigned()) {
        auto x = v.get<std::uint64_t>();
        if (x > max) return make_error(what);
        return x;
    }
    if (v.is_number_integer()) {
        auto x = v.get<std::int64_t>();
        if (x < 0 || static_cast<std::uint64_t>(x) > max) return make_error(what);
        return static_cast<std::uint64_t>(x);
    }
    return make_error(what);
}

bool is_letter(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

}  // namespace

Result<Filter> Filter::parse(std::string_view json) {
    if (json.size() > kMaxFilterBytes) return make_error("filter too large");
    auto j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return make_error("filter is not valid JSON");
    return from_json(j);
}

Result<Filter> Filter::from_json(const nlohmann::json& j) {
    if (!j.is_object()) return make_error("filter must be a JSON object");
    Filter f;
    const auto kMaxTs = static_cast<std::uint64_t>(kMaxTimestamp);
    for (const auto& [key, v] : j.items()) {
        if (key == "ids" || key == "authors") {
            auto l = hex_list(v, key);
            if (!l) return l.error();
            (key == "ids" ? f.ids : f.authors) = std::move(*l);
        } else if (key == "kinds") {
            if (!v.is_array()) return make_error("filter 'kinds' must be an array of integers");
            if (v.size() > kMaxListItems) return make_error("filter 'kinds' has too many items");
            std::vector<std::uint32_t> kinds;
            for (const auto& k : v) {
                auto x = non_negative(k, "kinds", kMaxKind);
                if (!x) return x.error();
                kinds.push_back(static_cast<std::uint32_t>(*x));
            }
            f.kinds = std::move(kinds);
        } else if (key == "since" || key == "until") {
            auto x = non_negative(v, key, kMaxTs);
            if (!x) return x.error();
            (key == "since" ? f.since : f.until) = static_cast<std::int64_t>(*x);
        } else if (key == "limit") {
            auto x = non_negative(v, key, kMaxTs);
            if (!x) return x.error();
            f.limit = *x;
        } else if (!key.empty() && key[0] == '#') {
            if (key.size() != 2 || !is_letter(key[1]))
                return make_error("filter tag key must be '#' and one letter");
            if (!v.is_array())
                return make_error("filter '" + key + "' must be an array of strings");
            if (v.size() > kMaxListItems)
                return make_error("filter '" + key + "' has too many items");
            std::vector<std::string> values;
            for (const auto& x : v) {
                if (!x.is_string() || !is_valid_utf8(x.get_ref<const std::string&>()))
                    return make_error("filter '" + key + "' must be an array of strings");
                values.push_back(x.get<std::string>());
            }
            f.tags[key[1]] = std::move(values);
        }
        // other keys (search, ...) are ignored
    }
    return f;
}

nlohmann::json Filter::to_json() const {
    nlohmann::json j = nlohmann::json::object();
    if (ids) j["ids"] = *ids;
    if (authors) j["authors"] = *authors;
    if (kinds) j["kinds"] = *kinds;
    for (const auto& [letter, values] : tags) j[std::string("#") + letter] = values;
    if (since) j["since"] = *since;
    if (until) j["until"] = *until;
    if (limit) j["limit"] = *limit;
    return j;
}

std::string Filter::serialize() const {
    return to_json().dump();
}

bool Filter::matches(const Event& e) const {
    auto contains = [](const auto& list, const auto& x) {
        return std::find(list.begin(), list.end(), x) != list.end();
    };
    if (ids && !contains(*ids, e.id)) return false;
    if (authors && !contains(*authors, e.pubkey)) return false;
    if (kinds && !contains(*kinds, e.kind)) return false;
    if (since && e.created_at < *since) return false;
    if (until && e.created_at > *until) return false;
    for (const auto& [letter, values] : tags) {
        bool hit = false;
        for (const auto& t : e.tags) {
            if (t.size() >= 2 && t[0].size() == 1 && t[0][0] == letter && contains(values, t[1])) {
                hit = true;
                break;
            }
        }
        if (!hit) return false;
    }
    return true;
}

bool matches_any(std::span<const Filter> filters, const Event& event) {
    for (const auto& f : filters)
        if (f.matches(event)) return true;
    return false;
}

}  // namespace tenex::nostr
