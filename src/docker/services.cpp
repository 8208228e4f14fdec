#include "docker/services.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <openssl/evp.h>

#include "common/sha256.hpp"
#include "docker/json_util.hpp"
#include "docker/url.hpp"

namespace tenex::docker {
namespace {

std::string path_for(const std::string& id) {
    return "/services/" + url_encode(id);
}

DStatus done(DResult<HttpResponse> r) {
    if (!r) return std::move(r).error();
    return Unit{};
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
        if (c == sep) {
            out.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    out.push_back(cur);
    return out;
}

// "64m", "1g", "4096": bytes; -1 when unreadable.
std::int64_t parse_size(const std::string& text) {
    std::int64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || n < 0) return -1;
    std::string unit(end, text.data() + text.size());
    for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (unit.empty() || unit == "b") return n;
    if (unit == "k" || unit == "kb") return n << 10;
    if (unit == "m" || unit == "mb") return n << 20;
    if (unit == "g" || unit == "gb") return n << 30;
    return -1;
}

// A tmpfs option string ("rw,nosuid,size=64m,mode=1777") as the service API's TmpfsOptions
// (size and mode only); the options it cannot carry go to `lost`.
nlohmann::json tmpfs_options(const std::string& options, std::vector<std::string>* lost) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& opt : split(options, ',')) {
        if (opt.empty() || opt == "rw") continue;
        if (opt.starts_with("size=")) {
            if (auto n = parse_size(opt.substr(5)); n >= 0) {
                out["SizeBytes"] = n;
                continue;
            }
        } else if (opt.starts_with("mode=")) {
            unsigned mode = 0;
            const std::string v = opt.substr(5);
            auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), mode, 8);
            if (ec == std::errc() && end == v.data() + v.size()) {
                out["Mode"] = mode;
                continue;
            }
        }
        if (lost) lost->push_back(opt);
    }
    return out;
}

// RFC 3339 timestamps with up to nine fraction digits (Go trims trailing zeros): compares
// as (prefix, fraction padded to nine digits).
std::pair<std::string, std::string> time_key(const std::string& t) {
    auto dot = t.find('.');
    auto z = t.find_first_of("Z+-", 19);
    if (dot == std::string::npos) return {t.substr(0, std::min(z, t.size())), std::string(9, '0')};
    std::string frac = t.substr(dot + 1, (z == std::string::npos ? t.size() : z) - dot - 1);
    frac.resize(9, '0');
    return {t.substr(0, dot), frac};
}

TaskInfo task_from(const nlohmann::json& j) {
    TaskInfo t;
    t.id = json::str(j, "ID");
    t.service_id = json::str(j, "ServiceID");
    t.node_id = json::str(j, "NodeID");
    t.desired_state = json::str(j, "DesiredState");
    t.created_at = json::str(j, "CreatedAt");
    t.version = static_cast<std::uint64_t>(json::i64(json::object(j, "Version"), "Index"));
    const auto& st = json::object(j, "Status");
    t.state = json::str(st, "State");
    t.message = json::str(st, "Message");
    t.err = json::str(st, "Err");
    t.timestamp = json::str(st, "Timestamp");
    const auto& cs = json::object(st, "ContainerStatus");
    t.container_id = json::str(cs, "ContainerID");
    t.exit_code = static_cast<int>(json::i64(cs, "ExitCode"));
    t.labels = json::str_map(json::object(json::object(j, "Spec"), "ContainerSpec"), "Labels");
    return t;
}

// The mapping whose path holds `source` (the longest such path), and the source's path below
// it ("" or "/sub/dir"); nullptr when none does.
}  // namespace

std::string node_local_volume(const std::string& source) {
    return "tenex-nl-" + sha256_hex(source).substr(0, 24);
}

namespace {

std::pair<const VolumeMapping*, std::string> volume_for(const std::string& source,
                                                        const std::vector<VolumeMapping>& volumes) {
    const VolumeMapping* best = nullptr;
    std::string below;
    for (const auto& v : volumes) {
        if (best && v.path.size() <= best->path.size()) continue;
        const std::string root = v.path == "/" ? "" : v.path;
        if (source == v.path)
            best = &v, below.clear();
        else if (source.size() > root.size() && source.starts_with(root) &&
                 source[root.size()] == '/')
            best = &v, below = source.substr(root.size());
    }
    return {best, below};
}

nlohmann::json service_mount(const BindMount& m, const std::vector<VolumeMapping>& volumes) {
    auto [volume, below] = volume_for(m.source, volumes);
    if (!volume)
        return {{"Type", "bind"},
                {"Source", m.source},
                {"Target", m.target},
                {"ReadOnly", m.read_only}};
    if (volume->node_local)
        return {{"Type", "volume"},
                {"Source", node_local_volume(m.source)},
                {"Target", m.target},
                {"ReadOnly", m.read_only},
                {"VolumeOptions",
                 {{"NoCopy", true}, {"Labels", {{"tenex.managed-by", "tenex-sandbox"}}}}}};
    nlohmann::json options = nlohmann::json::object();
    for (const auto& [key, value] : volume->options) {
        std::string expanded = value;
        for (auto at = expanded.find("{path}"); at != std::string::npos;
             at = expanded.find("{path}", at + below.size()))
            expanded.replace(at, 6, below);
        options[key] = std::move(expanded);
    }
    // Named by what it mounts: each directory its own volume on a node, the same one again for
    // the same directory (a node keeps a volume's options from its first use).
    const std::string name =
        "tenex-vol-" + sha256_hex(volume->driver + "\n" + options.dump()).substr(0, 24);
    return {{"Type", "volume"},
            {"Source", name},
            {"Target", m.target},
            {"ReadOnly", m.read_only},
            {"VolumeOptions",
             {{"NoCopy", true},
              {"Labels", {{"tenex.managed-by", "tenex-sandbox"}}},
              {"DriverConfig", {{"Name", volume->driver}, {"Options", std::move(options)}}}}}};
}

std::string filters_query(const nlohmann::json& filters) {
    return filters.empty() ? std::string() : "?filters=" + url_encode(filters.dump());
}

}  // namespace

bool TaskInfo::terminal() const {
    return state == "complete" || state == "failed" || state == "shutdown" || state == "rejected" ||
           state == "orphaned" || state == "remove";
}

std::vector<Unsupported> swarm_unsupported(const ContainerSpec& spec) {
    std::vector<Unsupported> out;
    for (const auto& opt : spec.security_opt) {
        std::string shown = opt.starts_with("seccomp=") ? "seccomp=<profile>" : opt;
        out.push_back({"security_opt: " + shown,
                       "services have no security options on API 1.41 (no-new-privileges, "
                       "seccomp and AppArmor profiles): the engine's defaults apply"});
    }
    if (spec.memory_swap_bytes != 0 && spec.memory_swap_bytes != spec.memory_bytes)
        out.push_back({"memory_swap",
                       "services cannot set a swap limit: the engine's default "
                       "(swap up to the memory limit again) applies"});
    if (spec.memory_swap_bytes != 0 && spec.memory_swap_bytes == spec.memory_bytes &&
        spec.memory_bytes > 0)
        out.push_back({"memory_swap",
                       "services cannot turn swap off: the engine's default "
                       "(swap up to the memory limit again) applies"});
    if (!spec.cpuset_cpus.empty()) out.push_back({"cpuset_cpus", "services cannot pin CPUs"});
    if (!spec.storage_opt.empty())
        out.push_back({"storage_opt", "services cannot limit the writable layer's size"});
    if (!spec.runtime.empty())
        out.push_back({"runtime: " + spec.runtime,
                       "services cannot choose an OCI runtime: the "
                       "node's default runtime runs the task"});
    for (const auto& [path, options] : spec.tmpfs) {
        std::vector<std::string> lost;
        (void)tmpfs_options(options, &lost);
        if (lost.empty()) continue;
        std::string joined;
        for (const auto& l : lost) joined += (joined.empty() ? "" : ",") + l;
        out.push_back(
            {"tmpfs " + path + ": " + joined, "a service's tmpfs mount takes only size and mode"});
    }
    return out;
}

nlohmann::json to_service_spec(const ContainerSpec& spec, std::int64_t replicas,
                               const std::vector<VolumeMapping>& volumes) {
    nlohmann::json cs = nlohmann::json::object();
    cs["Image"] = spec.image;
    cs["Labels"] = spec.labels;
    if (!spec.entrypoint.empty()) cs["Command"] = spec.entrypoint;
    if (!spec.cmd.empty()) cs["Args"] = spec.cmd;
    if (!spec.env.empty()) cs["Env"] = spec.env;
    if (!spec.user.empty()) cs["User"] = spec.user;
    if (!spec.working_dir.empty()) cs["Dir"] = spec.working_dir;
    if (!spec.hostname.empty()) cs["Hostname"] = spec.hostname;
    if (!spec.stop_signal.empty()) cs["StopSignal"] = spec.stop_signal;
    if (spec.stop_timeout_s)
        cs["StopGracePeriod"] = static_cast<std::int64_t>(*spec.stop_timeout_s) * 1'000'000'000LL;
    cs["ReadOnly"] = spec.read_only_rootfs;
    if (spec.init) cs["Init"] = true;
    if (!spec.cap_drop.empty()) cs["CapabilityDrop"] = spec.cap_drop;
    if (!spec.cap_add.empty()) cs["CapabilityAdd"] = spec.cap_add;
    if (!spec.ulimits.empty()) {
        nlohmann::json ulimits = nlohmann::json::array();
        for (const auto& u : spec.ulimits)
            ulimits.push_back({{"Name", u.name}, {"Soft", u.soft}, {"Hard", u.hard}});
        cs["Ulimits"] = std::move(ulimits);
    }
    nlohmann::json mounts = nlohmann::json::array();
    for (const auto& m : spec.mounts) mounts.push_back(service_mount(m, volumes));
    for (const auto& [path, options] : spec.tmpfs)
        mounts.push_back({{"Type", "tmpfs"},
                          {"Target", path},
                          {"TmpfsOptions", tmpfs_options(options, nullptr)}});
    if (!mounts.empty()) cs["Mounts"] = std::move(mounts);
    if (!spec.extra_hosts.empty()) {
        // "name:ip" -> "ip name" (the service API's hosts-file order).
        nlohmann::json hosts = nlohmann::json::array();
        for (const auto& h : spec.extra_hosts) {
            auto colon = h.find(':');
            if (colon == std::string::npos) continue;
            hosts.push_back(h.substr(colon + 1) + " " + h.substr(0, colon));
        }
        cs["Hosts"] = std::move(hosts);
    }
    if (!spec.dns.empty()) cs["DNSConfig"] = {{"Nameservers", spec.dns}};

    nlohmann::json limits = nlohmann::json::object();
    if (spec.nano_cpus > 0) limits["NanoCPUs"] = spec.nano_cpus;
    if (spec.memory_bytes > 0) limits["MemoryBytes"] = spec.memory_bytes;
    if (spec.pids_limit && *spec.pids_limit > 0) limits["Pids"] = *spec.pids_limit;

    nlohmann::json resources = {{"Limits", std::move(limits)}};
    nlohmann::json reservations = nlohmann::json::object();
    if (spec.nano_cpus_reservation > 0) reservations["NanoCPUs"] = spec.nano_cpus_reservation;
    if (spec.memory_reservation_bytes > 0)
        reservations["MemoryBytes"] = spec.memory_reservation_bytes;
    if (!reservations.empty()) resources["Reservations"] = std::move(reservations);

    nlohmann::json task = {
        {"ContainerSpec", std::move(cs)},
        {"Resources", std::move(resources)},
        // The daemon owns restarts: swarm never starts a second task of its own accord.
        {"RestartPolicy", {{"Condition", "none"}, {"MaxAttempts", 0}}},
    };
    // A named network (the project's internal overlay). "bridge" (open): no attachment, the
    // node's bridge; "none" has no swarm network (SwarmEngine gives it an overlay of its own).
    const auto& mode = spec.network_mode;
    if (!mode.empty() && mode != "bridge" && mode != "default" && mode != "none")
        task["Networks"] = nlohmann::json::array({{{"Target", spec.network_mode}}});
    nlohmann::json placement = nlohmann::json::object();
    if (!spec.placement_constraints.empty()) placement["Constraints"] = spec.placement_constraints;
    for (const auto& descriptor : spec.placement_spread)
        placement["Preferences"].push_back({{"Spread", {{"SpreadDescriptor", descriptor}}}});
    if (!placement.empty()) task["Placement"] = std::move(placement);

    return {
        {"Name", spec.name},
        {"Labels", spec.labels},
        {"TaskTemplate", std::move(task)},
        {"Mode", {{"Replicated", {{"Replicas", replicas}}}}},
        // No IPVS on the test nodes (tests/swarm/README.md): no virtual IP.
        {"EndpointSpec", {{"Mode", "dnsrr"}}},
    };
}

const TaskInfo* newest_task(const std::vector<TaskInfo>& tasks) {
    const TaskInfo* best = nullptr;
    for (const auto& t : tasks) {
        if (!best) {
            best = &t;
            continue;
        }
        auto a = time_key(t.created_at), b = time_key(best->created_at);
        if (a > b || (a == b && t.version > best->version)) best = &t;
    }
    return best;
}

ContainerInfo container_info_from(const ServiceInfo& service, const std::vector<TaskInfo>& tasks) {
    ContainerInfo info;
    info.id = service.id;
    info.name = service.name;
    info.created = service.created_at;
    const auto& template_ = json::object(service.spec, "TaskTemplate");
    const auto& cs = json::object(template_, "ContainerSpec");
    info.spec.name = service.name;
    info.spec.labels = service.labels;
    info.spec.image = json::str(cs, "Image");
    info.spec.entrypoint = json::str_vec(cs, "Command");
    info.spec.cmd = json::str_vec(cs, "Args");
    info.spec.env = json::str_vec(cs, "Env");
    info.spec.user = json::str(cs, "User");
    info.spec.read_only_rootfs = json::boolean(cs, "ReadOnly");
    info.spec.init = json::boolean(cs, "Init");
    info.spec.cap_drop = json::str_vec(cs, "CapabilityDrop");
    info.spec.cap_add = json::str_vec(cs, "CapabilityAdd");
    const auto& limits = json::object(json::object(template_, "Resources"), "Limits");
    info.spec.nano_cpus = json::i64(limits, "NanoCPUs");
    info.spec.memory_bytes = json::i64(limits, "MemoryBytes");
    if (auto p = json::i64(limits, "Pids"); p > 0) info.spec.pids_limit = p;
    const auto& reservations = json::object(json::object(template_, "Resources"), "Reservations");
    info.spec.nano_cpus_reservation = json::i64(reservations, "NanoCPUs");
    info.spec.memory_reservation_bytes = json::i64(reservations, "MemoryBytes");
    const auto& placement = json::object(template_, "Placement");
    info.spec.placement_constraints = json::str_vec(placement, "Constraints");
    if (const auto* prefs = json::field(placement, "Preferences"); prefs && prefs->is_array())
        for (const auto& pref : *prefs)
            if (auto d = json::str(json::object(pref, "Spread"), "SpreadDescriptor"); !d.empty())
                info.spec.placement_spread.push_back(d);
    info.image_id = info.spec.image;

    const TaskInfo* t = newest_task(tasks);
    if (!t) {
        info.state.status = "created";
        return info;
    }
    info.node_id = t->node_id;
    if (t->running()) {
        info.state.status = "running";
        info.state.running = true;
        info.state.started_at = t->timestamp;
    } else if (t->terminal()) {
        info.state.status = "exited";
        info.state.exit_code = t->exit_code;
        info.state.error = t->err;
        info.state.finished_at = t->timestamp;
    } else {
        info.state.status = "created";  // new .. starting
    }
    return info;
}

Result<ServiceInfo> parse_service(const nlohmann::json& j) {
    if (!j.is_object()) return make_error("service: not a JSON object");
    ServiceInfo s;
    s.id = json::str(j, "ID");
    if (s.id.empty()) return make_error("service: no ID");
    s.version = static_cast<std::uint64_t>(json::i64(json::object(j, "Version"), "Index"));
    s.created_at = json::str(j, "CreatedAt");
    s.spec = json::object(j, "Spec");
    s.name = json::str(s.spec, "Name");
    s.labels = json::str_map(s.spec, "Labels");
    s.replicas = json::i64(json::object(json::object(s.spec, "Mode"), "Replicated"), "Replicas");
    return s;
}

Result<std::vector<ServiceInfo>> parse_service_list(std::string_view body) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (!j.is_array()) return make_error("service list: not a JSON array");
    std::vector<ServiceInfo> out;
    for (const auto& e : j)
        if (auto s = parse_service(e)) out.push_back(std::move(*s));
    return out;
}

Result<std::vector<TaskInfo>> parse_task_list(std::string_view body) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (!j.is_array()) return make_error("task list: not a JSON array");
    std::vector<TaskInfo> out;
    for (const auto& e : j) {
        TaskInfo t = task_from(e);
        if (!t.id.empty()) out.push_back(std::move(t));
    }
    return out;
}

DResult<std::string> create_service(const Client& client, const nlohmann::json& spec) {
    const std::string op = "create service " + json::str(spec, "Name");
    auto r = client.call_json("POST", "/services/create", op, spec);
    if (!r) return std::move(r).error();
    std::string id = json::str(*r, "ID");
    if (id.empty()) return DockerError{op, 201, "engine sent no ID"};
    return id;
}

DResult<ServiceInfo> inspect_service(const Client& client, const std::string& id_or_name) {
    const std::string op = "inspect service " + id_or_name;
    auto r = client.call_json("GET", path_for(id_or_name), op);
    if (!r) return std::move(r).error();
    auto s = parse_service(*r);
    if (!s) return DockerError{op, 200, s.error().message};
    return std::move(s).value();
}

DResult<std::vector<ServiceInfo>> list_services(const Client& client,
                                                const std::vector<std::string>& labels,
                                                const std::vector<std::string>& names) {
    nlohmann::json filters = nlohmann::json::object();
    if (!labels.empty()) filters["label"] = labels;
    if (!names.empty()) filters["name"] = names;
    auto r = client.call("GET", "/services" + filters_query(filters), "list services");
    if (!r) return std::move(r).error();
    auto list = parse_service_list(r->body);
    if (!list) return DockerError{"list services", r->status, list.error().message};
    return std::move(list).value();
}

DStatus update_service(const Client& client, const std::string& id, std::uint64_t version,
                       const nlohmann::json& spec) {
    return done(client.call("POST", path_for(id) + "/update?version=" + std::to_string(version),
                            "update service " + id, spec.dump()));
}

DStatus remove_service(const Client& client, const std::string& id) {
    return done(client.call("DELETE", path_for(id), "remove service " + id));
}

DResult<std::vector<TaskInfo>> list_tasks(const Client& client, const TaskFilter& filter) {
    nlohmann::json filters = nlohmann::json::object();
    if (!filter.services.empty()) filters["service"] = filter.services;
    if (!filter.labels.empty()) filters["label"] = filter.labels;
    auto r = client.call("GET", "/tasks" + filters_query(filters), "list tasks");
    if (!r) return std::move(r).error();
    auto list = parse_task_list(r->body);
    if (!list) return DockerError{"list tasks", r->status, list.error().message};
    return std::move(list).value();
}

DResult<std::string> create_secret(const Client& client, const std::string& name,
                                   std::string_view data,
                                   const std::map<std::string, std::string>& labels) {
    const std::string op = "create secret " + name;
    std::string encoded(4 * ((data.size() + 2) / 3), '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                                  reinterpret_cast<const unsigned char*>(data.data()),
                                  static_cast<int>(data.size()));
    encoded.resize(static_cast<std::size_t>(n));
    nlohmann::json body = {{"Name", name}, {"Labels", labels}, {"Data", std::move(encoded)}};
    auto r = client.call_json("POST", "/secrets/create", op, body);
    if (!r) return std::move(r).error();
    std::string id = json::str(*r, "ID");
    if (id.empty()) return DockerError{op, 201, "engine sent no ID"};
    return id;
}

DResult<std::vector<SecretInfo>> list_secrets(const Client& client,
                                              const std::vector<std::string>& labels,
                                              const std::vector<std::string>& names) {
    nlohmann::json filters = nlohmann::json::object();
    if (!labels.empty()) filters["label"] = labels;
    if (!names.empty()) filters["name"] = names;
    auto r = client.call_json("GET", "/secrets" + filters_query(filters), "list secrets");
    if (!r) return std::move(r).error();
    std::vector<SecretInfo> out;
    if (!r->is_array()) return DockerError{"list secrets", 200, "not a JSON array"};
    for (const auto& e : *r) {
        const auto& spec = json::object(e, "Spec");
        SecretInfo s{.id = json::str(e, "ID"),
                     .name = json::str(spec, "Name"),
                     .labels = json::str_map(spec, "Labels")};
        // The name filter matches prefixes too.
        if (!names.empty() && std::find(names.begin(), names.end(), s.name) == names.end())
            continue;
        if (!s.id.empty()) out.push_back(std::move(s));
    }
    return out;
}

DStatus remove_secret(const Client& client, const std::string& id_or_name) {
    return done(
        client.call("DELETE", "/secrets/" + url_encode(id_or_name), "remove secret " + id_or_name));
}

}  // namespace tenex::docker
