#include "docker/images.hpp"

#include "docker/json_util.hpp"
#include "docker/tar_writer.hpp"
#include "docker/url.hpp"

namespace tenex::docker {

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
    auto r = client.call("DELETE",
                         "/images/" + url_encode(reference) + "?force=" + (force ? "1" : "0"),
                         "remove image " + reference);
    if (!r) return std::move(r).error();
    return Unit{};
}

void BuildOutputParser::feed(std::string_view chunk) {
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

void BuildOutputParser::line(std::string_view text) {
    if (text.find_first_not_of(" \r\t") == std::string_view::npos) return;
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object()) return;
    if (auto s = json::str(j, "stream"); !s.empty() && on_output_) on_output_(s);
    if (auto e = json::str(j, "error"); !e.empty() && error_.empty()) {
        error_ = e;
        if (on_output_) on_output_(e);
    }
    if (auto id = json::str(json::object(j, "aux"), "ID"); !id.empty()) image_id_ = id;
}

DResult<std::string> build_image(const Client& client, std::string context_tar,
                                 const BuildOptions& options) {
    std::string op = "build image " + options.tag;
    std::string path = "/build?rm=1&forcerm=1&dockerfile=" + url_encode(options.dockerfile);
    if (!options.tag.empty()) path += "&t=" + url_encode(options.tag);
    if (options.no_cache) path += "&nocache=1";
    if (!options.labels.empty())
        path += "&labels=" + url_encode(nlohmann::json(options.labels).dump());
    BuildOutputParser parser(options.on_output);
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

}  // namespace tenex::docker
