#include "docker/containers.hpp"

#include "docker/json_util.hpp"
#include "docker/url.hpp"

namespace tenex::docker {
namespace {

std::string path_for(const std::string& id) {
    return "/containers/" + url_encode(id);
}

DStatus done(DResult<HttpResponse> r) {
    if (!r) return std::move(r).error();
    return Unit{};
}

std::string strip_slash(std::string name) {
    if (name.starts_with('/')) name.erase(0, 1);
    return name;
}

}  // namespace

Result<ContainerInfo> parse_container_inspect(std::string_view body) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (!j.is_object()) return make_error("container inspect: not a JSON object");
    ContainerInfo info;
    info.id = json::str(j, "Id");
    if (info.id.empty()) return make_error("container inspect: no Id");
    info.name = strip_slash(json::str(j, "Name"));
    info.image_id = json::str(j, "Image");
    info.created = json::str(j, "Created");
    const auto& st = json::object(j, "State");
    info.state.status = json::str(st, "Status");
    info.state.running = json::boolean(st, "Running");
    info.state.paused = json::boolean(st, "Paused");
    info.state.restarting = json::boolean(st, "Restarting");
    info.state.oom_killed = json::boolean(st, "OOMKilled");
    info.state.dead = json::boolean(st, "Dead");
    info.state.pid = static_cast<int>(json::i64(st, "Pid"));
    info.state.exit_code = static_cast<int>(json::i64(st, "ExitCode"));
    info.state.error = json::str(st, "Error");
    info.state.started_at = json::str(st, "StartedAt");
    info.state.finished_at = json::str(st, "FinishedAt");
    info.spec = spec_from_inspect(j);
    const auto& nets = json::object(json::object(j, "NetworkSettings"), "Networks");
    for (auto it = nets.begin(); it != nets.end(); ++it)
        info.network_ips[it.key()] = json::str(*it, "IPAddress");
    return info;
}

namespace {

// GET /containers/json replies run to hundreds of KiB: read them with a SAX handler that keeps
// only the summary fields instead of building the whole document.
class ListSax : public nlohmann::json_sax<nlohmann::json> {
  public:
    std::vector<ContainerSummary> out;
    bool top_array = false;

    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t v) override { return number(v); }
    bool number_unsigned(number_unsigned_t v) override {
        return number(v > static_cast<number_unsigned_t>(INT64_MAX) ? INT64_MAX
                                                                    : static_cast<std::int64_t>(v));
    }
    bool number_float(number_float_t v, const string_t&) override {
        return number(static_cast<std::int64_t>(v));
    }
    bool binary(binary_t&) override { return true; }
    bool string(string_t& v) override {
        if (depth_ == 2 && in_entry_) {
            if (key2_ == "Id")
                out.back().id = std::move(v);
            else if (key2_ == "Image")
                out.back().image = std::move(v);
            else if (key2_ == "State")
                out.back().state = std::move(v);
            else if (key2_ == "Status")
                out.back().status = std::move(v);
        } else if (depth_ == 3 && in_entry_) {
            if (in_ == In::Names)
                out.back().names.push_back(strip_slash(std::move(v)));
            else if (in_ == In::Labels)
                out.back().labels.emplace(key3_, std::move(v));
        }
        return true;
    }
    bool start_object(std::size_t) override {
        ++depth_;
        if (depth_ == 1) return false;  // not a list
        if (depth_ == 2) {
            out.emplace_back();
            in_entry_ = true;
        }
        if (depth_ == 3 && in_entry_ && key2_ == "Labels") in_ = In::Labels;
        return true;
    }
    bool end_object() override {
        if (depth_ == 3) in_ = In::None;
        if (depth_ == 2) in_entry_ = false;
        --depth_;
        return true;
    }
    bool start_array(std::size_t) override {
        ++depth_;
        if (depth_ == 1) top_array = true;
        if (depth_ == 3 && in_entry_ && key2_ == "Names") in_ = In::Names;
        return true;
    }
    bool end_array() override {
        if (depth_ == 3) in_ = In::None;
        --depth_;
        return true;
    }
    bool key(string_t& k) override {
        if (depth_ == 2)
            key2_ = std::move(k);
        else if (depth_ == 3 && in_ == In::Labels)
            key3_ = std::move(k);
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
        return false;
    }

  private:
    bool number(std::int64_t v) {
        if (depth_ == 2 && in_entry_ && key2_ == "Created") out.back().created = v;
        return true;
    }
    enum class In { None, Names, Labels };
    int depth_ = 0;
    bool in_entry_ = false;
    In in_ = In::None;
    std::string key2_, key3_;
};

}  // namespace

Result<std::vector<ContainerSummary>> parse_container_list(std::string_view body) {
    ListSax sax;
    bool ok = nlohmann::json::sax_parse(body.begin(), body.end(), &sax,
                                        nlohmann::json::input_format_t::json, true);
    if (!ok || !sax.top_array) return make_error("container list: not a JSON array");
    return std::move(sax.out);
}

std::string list_query(const ListOptions& options) {
    std::string q = options.all ? "?all=1" : "?all=0";
    nlohmann::json filters = nlohmann::json::object();
    if (!options.labels.empty()) filters["label"] = options.labels;
    if (!options.names.empty()) filters["name"] = options.names;
    if (!filters.empty()) q += "&filters=" + url_encode(filters.dump());
    return q;
}

DResult<std::string> create_container(const Client& client, const ContainerSpec& spec) {
    std::string path = "/containers/create";
    if (!spec.name.empty()) path += "?name=" + url_encode(spec.name);
    auto r = client.call_json("POST", path, "create container " + spec.name,
                              to_create_body(spec, client.api_version()));
    if (!r) return std::move(r).error();
    std::string id = json::str(*r, "Id");
    if (id.empty()) return DockerError{"create container " + spec.name, 201, "engine sent no Id"};
    return id;
}

DStatus start_container(const Client& client, const std::string& id) {
    auto r = client.call("POST", path_for(id) + "/start", "start container " + id);
    if (!r && r.error().not_modified()) return Unit{};  // already running
    return done(std::move(r));
}

DStatus stop_container(const Client& client, const std::string& id, int timeout_s,
                       std::chrono::milliseconds budget) {
    std::string path = path_for(id) + "/stop";
    if (timeout_s >= 0) path += "?t=" + std::to_string(timeout_s);
    // The call lasts up to the stop timeout: give the transfer room beyond it.
    if (budget.count() <= 0)
        budget = client.default_timeout() + std::chrono::seconds(timeout_s >= 0 ? timeout_s : 30);
    auto r = client.call("POST", path, "stop container " + id, {}, budget);
    if (!r && r.error().not_modified()) return Unit{};  // already stopped
    return done(std::move(r));
}

DStatus pause_container(const Client& client, const std::string& id) {
    return done(client.call("POST", path_for(id) + "/pause", "pause container " + id));
}

DStatus unpause_container(const Client& client, const std::string& id) {
    return done(client.call("POST", path_for(id) + "/unpause", "unpause container " + id));
}

DStatus kill_container(const Client& client, const std::string& id, const std::string& signal) {
    return done(client.call("POST", path_for(id) + "/kill?signal=" + url_encode(signal),
                            "kill container " + id));
}

DStatus remove_container(const Client& client, const std::string& id, bool force, bool volumes,
                         std::chrono::milliseconds timeout) {
    std::string path =
        path_for(id) + "?force=" + (force ? "1" : "0") + "&v=" + (volumes ? "1" : "0");
    return done(client.call("DELETE", path, "remove container " + id, {}, timeout));
}

DResult<ContainerInfo> inspect_container(const Client& client, const std::string& id) {
    std::string op = "inspect container " + id;
    auto r = client.call("GET", path_for(id) + "/json", op);
    if (!r) return std::move(r).error();
    auto info = parse_container_inspect(r->body);
    if (!info) return DockerError{op, r->status, info.error().message};
    return std::move(info).value();
}

DResult<std::vector<ContainerSummary>> list_containers(const Client& client,
                                                       const ListOptions& options) {
    auto r = client.call("GET", "/containers/json" + list_query(options), "list containers");
    if (!r) return std::move(r).error();
    auto list = parse_container_list(r->body);
    if (!list) return DockerError{"list containers", r->status, list.error().message};
    return std::move(list).value();
}

DResult<WaitResult> wait_container(const Client& client, const std::string& id,
                                   WaitCondition condition, std::chrono::milliseconds timeout) {
    const char* cond = condition == WaitCondition::NotRunning ? "not-running"
                       : condition == WaitCondition::NextExit ? "next-exit"
                                                              : "removed";
    auto r = client.call_json("POST", path_for(id) + "/wait?condition=" + cond,
                              "wait container " + id, nullptr, timeout);
    if (!r) return std::move(r).error();
    WaitResult w;
    w.status_code = static_cast<int>(json::i64(*r, "StatusCode"));
    w.error = json::str(json::object(*r, "Error"), "Message");
    return w;
}

}  // namespace tenex::docker
