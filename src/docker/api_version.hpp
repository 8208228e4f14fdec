#pragma once

#include <compare>
#include <optional>
#include <string>
#include <string_view>

namespace tenex::docker {

struct ApiVersion {
    int major = 1;
    int minor = 0;

    static std::optional<ApiVersion> parse(std::string_view text);  // "1.41"
    std::string to_string() const;
    auto operator<=>(const ApiVersion&) const = default;
};

// The range of Engine API versions this client speaks.
inline constexpr ApiVersion kClientMinApi{1, 41};  // Debian 12's docker.io 20.10
inline constexpr ApiVersion kClientMaxApi{1, 51};

}  // namespace tenex::docker
