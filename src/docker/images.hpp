// Image calls: inspect, and build from a local context directory (tar made in-process).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "docker/client.hpp"

namespace tenex::docker {

struct ImageInfo {
    std::string id{};  // sha256:...
    std::vector<std::string> tags{};
    std::string created{};
    std::int64_t size = 0;
    std::string user{};
    std::vector<std::string> entrypoint{};
    std::vector<std::string> cmd{};
    std::map<std::string, std::string> labels{};
};

DResult<ImageInfo> inspect_image(const Client& client, const std::string& reference);
DStatus remove_image(const Client& client, const std::string& reference, bool force = false);

struct BuildOptions {
    std::string tag{};                   // e.g. "tenex-probe:latest"
    std::string dockerfile = "Dockerfile";  // relative to the context
    std::map<std::string, std::string> labels{};
    bool no_cache = false;
    std::chrono::milliseconds timeout{std::chrono::minutes(10)};
    std::function<void(std::string_view)> on_output{};  // build log lines as they come
};

// Parses the build's JSON message stream; keeps the image id ("aux") and the first error.
class BuildOutputParser {
public:
    explicit BuildOutputParser(std::function<void(std::string_view)> on_output = {})
        : on_output_(std::move(on_output)) {}
    void feed(std::string_view chunk);
    const std::string& image_id() const { return image_id_; }
    const std::string& error() const { return error_; }

private:
    void line(std::string_view text);
    std::function<void(std::string_view)> on_output_;
    std::string buffer_;
    std::string image_id_;
    std::string error_;
};

// Builds an image from a tar archive of the context. Returns the image id.
DResult<std::string> build_image(const Client& client, std::string context_tar,
                                 const BuildOptions& options);
// Builds from a directory (archived in memory). Returns the image id.
DResult<std::string> build_image_from_dir(const Client& client,
                                          const std::filesystem::path& context_dir,
                                          const BuildOptions& options);

}  // namespace tenex::docker
