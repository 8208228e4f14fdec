// Agent and tool slugs: kebab-case of a title ("Senior Dev (v2)" -> "senior-dev-v2").
#pragma once

#include <string>
#include <string_view>

namespace tenex::project {

// ASCII letters and digits are kept (lowercased); every other run of bytes becomes one '-';
// leading/trailing '-' are dropped; at most 64 characters. Empty when nothing is left (the
// caller decides on a fallback).
std::string kebab_slug(std::string_view title);

}  // namespace tenex::project
