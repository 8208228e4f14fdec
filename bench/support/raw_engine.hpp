// The baseline the benchmarks compare the project against: bare libcurl calls to the Engine
// API over its unix socket, with no client code in between.
#pragma once

#include <cstddef>
#include <string>

namespace tenex::bench {

// libcurl write callback appending to the std::string at `user`.
std::size_t append_to_string(char* data, std::size_t size, std::size_t count, void* user);

// One POST http://docker/v<api><path> over `socket`; returns the HTTP status (0 on a transport
// failure) and stores the body in *out.
long raw_post(const std::string& socket, const std::string& api, const std::string& path,
              const std::string& body, std::string* out);

}  // namespace tenex::bench
