// Image calls: inspect, build from a local context directory (tar made in-process), tag, and
// push to / pull from a registry of the operator's (never a public one: see README).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
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
    std::string tag{};                      // e.g. "tenex-probe:latest"
    std::string dockerfile = "Dockerfile";  // relative to the context
    std::map<std::string, std::string> labels{};
    bool no_cache = false;
    std::chrono::milliseconds timeout{std::chrono::minutes(10)};
    std::function<void(std::string_view)> on_output{};  // build log lines as they come
};

// Parses the JSON message stream of a build, push or pull: passes build output ("stream") and
// progress lines without a progress bar ("status", "id") to on_output, keeps the image id of a
// build (aux.ID), the digest of a push (aux.Digest) and the first error.
class JsonMessageParser {
  public:
    explicit JsonMessageParser(std::function<void(std::string_view)> on_output = {})
        : on_output_(std::move(on_output)) {}
    void feed(std::string_view chunk);
    const std::string& image_id() const { return image_id_; }
    const std::string& digest() const { return digest_; }
    const std::string& error() const { return error_; }

  private:
    void line(std::string_view text);
    std::function<void(std::string_view)> on_output_;
    std::string buffer_;
    std::string image_id_;
    std::string digest_;
    std::string error_;
};

// Builds an image from a tar archive of the context. Returns the image id.
DResult<std::string> build_image(const Client& client, std::string context_tar,
                                 const BuildOptions& options);
// Builds from a directory (archived in memory). Returns the image id.
DResult<std::string> build_image_from_dir(const Client& client,
                                          const std::filesystem::path& context_dir,
                                          const BuildOptions& options);

// A reference split into repository and tag: "10.0.0.1:5000/tenex-probe:1" is
// {"10.0.0.1:5000/tenex-probe", "1"}; no tag is "latest". nullopt for an empty reference, a
// digest reference (name@sha256:...) or one with whitespace or control characters.
struct ImageReference {
    std::string repository{};
    std::string tag{};
};
std::optional<ImageReference> split_image_reference(std::string_view reference);

// The name of a local image in the registry at `registry` (HOST or HOST:PORT): the image's own
// registry part, if it has one, is replaced ("tenex-probe:latest" at "10.0.0.1:5000" is
// "10.0.0.1:5000/tenex-probe:latest"). An error for a bad image name or registry address.
Result<std::string> registry_reference(std::string_view image, std::string_view registry);

// Gives the image `source` the name `target` (repository[:tag]).
DStatus tag_image(const Client& client, const std::string& source, const std::string& target);

struct TransferOptions {
    std::chrono::milliseconds timeout{std::chrono::minutes(10)};
    std::function<void(std::string_view)> on_output{};  // progress lines as they come
};

// Pushes `reference` (registry/repository:tag, an image the engine has) to its registry and
// returns the digest the registry gave it. The registry must be one the engine may use: a
// loopback address, or one in the engine's insecure-registries or with TLS it trusts.
DResult<std::string> push_image(const Client& client, const std::string& reference,
                                const TransferOptions& options = {});
// The digest ("sha256:...") the registry of `reference` has for it now, asked through the
// engine (GET /distribution/{name}/json, as `docker service create` pins a tag). An error when
// the image is in no registry the engine reaches.
DResult<std::string> registry_digest(const Client& client, const std::string& reference);
// Pulls `reference` from its registry (POST /images/create); returns the local image id.
DResult<std::string> pull_image(const Client& client, const std::string& reference,
                                const TransferOptions& options = {});

}  // namespace tenex::docker
