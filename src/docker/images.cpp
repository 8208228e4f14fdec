#include "docker/images.hpp"

#include "docker/json_util.hpp"
#include "docker/tar_writer.hpp"
#include "docker/url.hpp"

namespace tenex::docker {

DResult<std::string> registry_digest(const Client& client, const std::string& reference) {
    const std::string op = "registry digest of " + reference;
    auto r = client.call_json("GET", "/distribution/" + url_encode(reference) + "/json", op);
    if (!r) return std::move(r).error();
    std::string digest = json::str(json::object(*r, "Descriptor"), "digest");
    if (!digest.starts_with("sha256:"))
        return DockerError{op, 200, "no sha256 digest in the answer"};
    return digest;
}

DResult<ImageInfo> inspect_image(const Client& client, const std::string& reference) {
    std::string op = "inspect image " + reference;
    auto r = client.call_json("GET", "/images/" + url_encode(reference) + "/json", op);
    if (!r) return std::move(r).error();
    if (!r->is_object()) return DockerError{op, 200, "not a JSON object"};
    ImageInfo info;
    info.id = json::str(*r, "Id");
    info.tags = json::str_vec(*r, "RepoTags");
    info.created = json::str(*r, "Created");
    info.size = json::i64(*r, "Size");
    const auto& config = json::object(*r, "Config");
    info.user = json::str(config, "User");
    info.entrypoint = json::str_vec(config, "Entrypoint");
    info.cmd = json::str_vec(config, "Cmd");
    info.labels = json::str_map(config, "Labels");
    return info;
}

DStatus remove_image(const Client& client, const std::string& reference, bool force) {
    auto r =
        client.call("DELETE", "/images/" + url_encode(reference) + "?force=" + (force ? "1" : "0"),
                    "remove image " + reference);
    if (!r) return std::move(r).error();
    return Unit{};
}

void JsonMessageParser::feed(std::string_view chunk) {
    buffer_.append(chunk);
    std::size_t start = 0;
    for (std::size_t nl; (nl = buffer_.find('\n', start)) != std::string::npos; start = nl + 1)
        line(std::string_view(buffer_).substr(start, nl - start));
    buffer_.erase(0, start);
    if (buffer_.size() > (1u << 20)) {  // a line this long is not a build message
        line(buffer_);
        buffer_.clear();
    }
}

void JsonMessageParser::line(std::string_view text) {
    if (text.find_first_not_of(" \r\t") == std::string_view::npos) return;
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object()) return;
    if (auto s = json::str(j, "stream"); !s.empty() && on_output_) on_output_(s);
    // Progress bars ("Pushing [==>  ]") are left out; states like "Pushed" are told.
    if (auto s = json::str(j, "status");
        !s.empty() && on_output_ && json::str(j, "progress").empty()) {
        auto id = json::str(j, "id");
        on_output_((id.empty() ? s : id + ": " + s) + "\n");
    }
    if (auto e = json::str(j, "error"); !e.empty() && error_.empty()) {
        error_ = e;
        if (on_output_) on_output_(e);
    }
    const auto& aux = json::object(j, "aux");
    if (auto id = json::str(aux, "ID"); !id.empty()) image_id_ = id;
    if (auto digest = json::str(aux, "Digest"); !digest.empty()) digest_ = digest;
}

DResult<std::string> build_image(const Client& client, std::string context_tar,
                                 const BuildOptions& options) {
    std::string op = "build image " + options.tag;
    std::string path = "/build?rm=1&forcerm=1&dockerfile=" + url_encode(options.dockerfile);
    if (!options.tag.empty()) path += "&t=" + url_encode(options.tag);
    if (options.no_cache) path += "&nocache=1";
    if (!options.labels.empty())
        path += "&labels=" + url_encode(nlohmann::json(options.labels).dump());
    JsonMessageParser parser(options.on_output);
    StreamHandlers handlers{.on_open = {}, .on_data = [&](std::string_view chunk) {
                                parser.feed(chunk);
                                return true;
                            }};
    auto r = client.stream("POST", path, op, handlers, {}, options.timeout, context_tar,
                           "application/x-tar");
    if (!r) return std::move(r).error();
    parser.feed("\n");
    if (!parser.error().empty()) return DockerError{op, r->status, parser.error()};
    if (parser.image_id().empty()) {
        // Older engines report only "Successfully built <id>": ask for the tag instead.
        if (options.tag.empty()) return DockerError{op, r->status, "engine reported no image id"};
        auto info = inspect_image(client, options.tag);
        if (!info) return std::move(info).error();
        return info->id;
    }
    return parser.image_id();
}

DResult<std::string> build_image_from_dir(const Client& client,
                                          const std::filesystem::path& context_dir,
                                          const BuildOptions& options) {
    auto tar = tar_directory(context_dir);
    if (!tar) return DockerError{"build image " + options.tag, 0, tar.error().message};
    return build_image(client, std::move(tar).value(), options);
}

std::optional<ImageReference> split_image_reference(std::string_view reference) {
    if (reference.empty() || reference.size() > 1024 ||
        reference.find('@') != std::string_view::npos)
        return std::nullopt;
    for (unsigned char c : reference)
        if (c <= ' ' || c == 0x7f) return std::nullopt;
    // The tag follows the last ':' after the last '/' ("host:5000/name" has no tag).
    const auto slash = reference.rfind('/');
    const auto colon = reference.rfind(':');
    ImageReference out;
    if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
        out.repository = reference.substr(0, colon);
        out.tag = reference.substr(colon + 1);
    } else {
        out.repository = reference;
        out.tag = "latest";
    }
    if (out.repository.empty() || out.tag.empty() || out.repository.back() == '/')
        return std::nullopt;
    return out;
}

Result<std::string> registry_reference(std::string_view image, std::string_view registry) {
    auto ref = split_image_reference(image);
    if (!ref)
        return make_error("'" + std::string(image) + "' is not an image name (repository[:tag])");
    // HOST or HOST:PORT: letters, digits, '.', '-', ':' (one port), '[' ']' for IPv6.
    const bool registry_ok =
        !registry.empty() && registry.size() <= 255 &&
        registry.find_first_not_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") ==
            std::string_view::npos &&
        registry.front() != '-' && registry.front() != ':' && registry.back() != ':';
    if (!registry_ok)
        return make_error("'" + std::string(registry) +
                          "' is not a registry address (HOST or HOST:PORT)");
    // Docker's rule: the first path component names a registry when it has a '.' or ':' or is
    // "localhost".
    std::string_view repository = ref->repository;
    if (auto slash = repository.find('/'); slash != std::string_view::npos) {
        auto first = repository.substr(0, slash);
        if (first.find_first_of(".:") != std::string_view::npos || first == "localhost")
            repository.remove_prefix(slash + 1);
    }
    return std::string(registry) + "/" + std::string(repository) + ":" + ref->tag;
}

DStatus tag_image(const Client& client, const std::string& source, const std::string& target) {
    std::string op = "tag image " + source + " as " + target;
    auto ref = split_image_reference(target);
    if (!ref) return DockerError{op, 0, "not an image name (repository[:tag])"};
    auto r =
        client.call("POST",
                    "/images/" + url_encode(source) + "/tag?repo=" + url_encode(ref->repository) +
                        "&tag=" + url_encode(ref->tag),
                    op);
    if (!r) return std::move(r).error();
    return Unit{};
}

namespace {

// Push and pull answer 200 and then report progress and errors in the message stream.
DResult<JsonMessageParser> transfer(const Client& client, const std::string& path,
                                    const std::string& op, const TransferOptions& options) {
    JsonMessageParser parser(options.on_output);
    StreamHandlers handlers{.on_open = {}, .on_data = [&](std::string_view chunk) {
                                parser.feed(chunk);
                                return true;
                            }};
    // No X-Registry-Auth header: the engine then reads the credentials from the body, and an
    // empty object is "none" (registries of the operator's own, without authentication).
    auto r = client.stream("POST", path, op, handlers, {}, options.timeout, "{}");
    if (!r) return std::move(r).error();
    parser.feed("\n");
    if (!parser.error().empty()) return DockerError{op, r->status, parser.error()};
    return parser;
}

}  // namespace

DResult<std::string> push_image(const Client& client, const std::string& reference,
                                const TransferOptions& options) {
    std::string op = "push image " + reference;
    auto ref = split_image_reference(reference);
    if (!ref) return DockerError{op, 0, "not an image name (registry/repository[:tag])"};
    auto parser = transfer(
        client, "/images/" + url_encode(ref->repository) + "/push?tag=" + url_encode(ref->tag), op,
        options);
    if (!parser) return std::move(parser).error();
    if (parser->digest().empty()) return DockerError{op, 200, "the engine reported no digest"};
    return parser->digest();
}

DResult<std::string> pull_image(const Client& client, const std::string& reference,
                                const TransferOptions& options) {
    std::string op = "pull image " + reference;
    auto ref = split_image_reference(reference);
    if (!ref) return DockerError{op, 0, "not an image name (registry/repository[:tag])"};
    auto parser = transfer(
        client,
        "/images/create?fromImage=" + url_encode(ref->repository) + "&tag=" + url_encode(ref->tag),
        op, options);
    if (!parser) return std::move(parser).error();
    auto info = inspect_image(client, ref->repository + ":" + ref->tag);
    if (!info) return std::move(info).error();
    return info->id;
}

}  // namespace tenex::docker
