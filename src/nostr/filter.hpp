// NIP-01 subscription filters: parse, serialize, match. Fields AND; a list of filters ORs.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/result.hpp"
#include "nostr/event.hpp"

namespace tenex::nostr {

struct Filter {
    // A field that is absent matches everything; present but empty matches nothing.
    std::optional<std::vector<std::string>> ids{};      // 64 lowercase hex
    std::optional<std::vector<std::string>> authors{};  // 64 lowercase hex
    std::optional<std::vector<std::uint32_t>> kinds{};  // 0..65535
    std::map<char, std::vector<std::string>> tags{};    // '#e' -> {'e', values}; letters only
    std::optional<std::int64_t> since{};
    std::optional<std::int64_t> until{};
    std::optional<std::uint64_t> limit{};

    // Strict: known fields must have the right types; '#' keys must be one ASCII letter.
    // Unknown fields (e.g. NIP-50 "search") are ignored.
    static Result<Filter> parse(std::string_view json);
    static Result<Filter> from_json(const nlohmann::json& json);

    nlohmann::json to_json() const;
    std::string serialize() const;  // compact JSON, fields in a fixed order

    bool matches(const Event& event) const;

    friend bool operator==(const Filter&, const Filter&) = default;
};

// True if any filter matches (filters OR).
bool matches_any(std::span<const Filter> filters, const Event& event);

}  // namespace tenex::nostr
