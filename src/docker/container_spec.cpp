#include "docker/container_spec.hpp"

#include "docker/json_util.hpp"

namespace tenex::docker {
namespace {

template <class Map>
nlohmann::json map_to_json(const Map& m) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [k, v] : m) out[k] = v;
    return out;
}

}  // namespace

nlohmann::json to_create_body(const ContainerSpec& spec, ApiVersion api) {
    (void)api;  // every field below means the same from 1.41 to 1.51
    nlohmann::json body = nlohmann::json::object();
    body["Image"] = spec.image;
    if (!spec.entrypoint.empty()) body["Entrypoint"] = spec.entrypoint;
    if (!spec.cmd.empty()) body["Cmd"] = spec.cmd;
    if (!spec.env.empty()) body["Env"] = spec.env;
    body["Labels"] = map_to_json(spec.labels);
    if (!spec.user.empty()) body["User"] = spec.user;
    if (!spec.working_dir.empty()) body["WorkingDir"] = spec.working_dir;
    if (!spec.hostname.empty()) body["Hostname"] = spec.hostname;
    if (!spec.stop_signal.empty()) body["StopSignal"] = spec.stop_signal;
    if (spec.stop_timeout_s) body["StopTimeout"] = *spec.stop_timeout_s;
    body["AttachStdin"] = false;
    body["AttachStdout"] = false;
    body["AttachStderr"] = false;
    body["Tty"] = false;
    body["OpenStdin"] = false;

    nlohmann::json host = nlohmann::json::object();
    if (spec.memory_bytes > 0) host["Memory"] = spec.memory_bytes;
    if (spec.memory_swap_bytes != 0) host["MemorySwap"] = spec.memory_swap_bytes;
    if (spec.nano_cpus > 0) host["NanoCpus"] = spec.nano_cpus;
    if (!spec.cpuset_cpus.empty()) host["CpusetCpus"] = spec.cpuset_cpus;
    if (spec.pids_limit) host["PidsLimit"] = *spec.pids_limit;
    if (!spec.ulimits.empty()) {
        nlohmann::json ulimits = nlohmann::json::array();
        for (const auto& u : spec.ulimits)
            ulimits.push_back({{"Name", u.name}, {"Soft", u.soft}, {"Hard", u.hard}});
        host["Ulimits"] = std::move(ulimits);
    }
    host["ReadonlyRootfs"] = spec.read_only_rootfs;
    if (!spec.tmpfs.empty()) host["Tmpfs"] = map_to_json(spec.tmpfs);
    if (!spec.cap_drop.empty()) host["CapDrop"] = spec.cap_drop;
    if (!spec.cap_add.empty()) host["CapAdd"] = spec.cap_add;
    if (!spec.security_opt.empty()) host["SecurityOpt"] = spec.security_opt;
    if (spec.init) host["Init"] = true;
    if (!spec.mounts.empty()) {
        nlohmann::json mounts = nlohmann::json::array();
        for (const auto& m : spec.mounts)
            mounts.push_back({{"Type", "bind"},
                              {"Source", m.source},
                              {"Target", m.target},
                              {"ReadOnly", m.read_only}});
        host["Mounts"] = std::move(mounts);
    }
    if (!spec.network_mode.empty()) host["NetworkMode"] = spec.network_mode;
    if (!spec.storage_opt.empty()) host["StorageOpt"] = map_to_json(spec.storage_opt);
    if (!spec.runtime.empty()) host["Runtime"] = spec.runtime;
    if (!spec.extra_hosts.empty()) host["ExtraHosts"] = spec.extra_hosts;
    if (!spec.dns.empty()) host["Dns"] = spec.dns;
    body["HostConfig"] = std::move(host);
    return body;
}

ContainerSpec spec_from_inspect(const nlohmann::json& inspect) {
    ContainerSpec spec;
    const auto& config = json::object(inspect, "Config");
    const auto& host = json::object(inspect, "HostConfig");
    spec.name = json::str(inspect, "Name");
    if (spec.name.starts_with('/')) spec.name.erase(0, 1);
    spec.image = json::str(config, "Image");
    spec.entrypoint = json::str_vec(config, "Entrypoint");
    spec.cmd = json::str_vec(config, "Cmd");
    spec.env = json::str_vec(config, "Env");
    spec.labels = json::str_map(config, "Labels");
    spec.user = json::str(config, "User");
    spec.working_dir = json::str(config, "WorkingDir");
    spec.hostname = json::str(config, "Hostname");
    spec.stop_signal = json::str(config, "StopSignal");
    if (auto* t = json::field(config, "StopTimeout"); t && t->is_number_integer())
        spec.stop_timeout_s = t->get<int>();

    spec.memory_bytes = json::i64(host, "Memory");
    spec.memory_swap_bytes = json::i64(host, "MemorySwap");
    spec.nano_cpus = json::i64(host, "NanoCpus");
    spec.cpuset_cpus = json::str(host, "CpusetCpus");
    if (auto* p = json::field(host, "PidsLimit"); p && p->is_number_integer())
        spec.pids_limit = p->get<std::int64_t>();
    if (auto* u = json::field(host, "Ulimits"); u && u->is_array())
        for (const auto& e : *u)
            spec.ulimits.push_back(
                {json::str(e, "Name"), json::i64(e, "Soft"), json::i64(e, "Hard")});
    spec.read_only_rootfs = json::boolean(host, "ReadonlyRootfs");
    spec.tmpfs = json::str_map(host, "Tmpfs");
    spec.cap_drop = json::str_vec(host, "CapDrop");
    spec.cap_add = json::str_vec(host, "CapAdd");
    spec.security_opt = json::str_vec(host, "SecurityOpt");
    spec.init = json::boolean(host, "Init");
    if (auto* m = json::field(host, "Mounts"); m && m->is_array())
        for (const auto& e : *m)
            spec.mounts.push_back(
                {json::str(e, "Source"), json::str(e, "Target"), json::boolean(e, "ReadOnly")});
    spec.network_mode = json::str(host, "NetworkMode");
    spec.storage_opt = json::str_map(host, "StorageOpt");
    spec.runtime = json::str(host, "Runtime");
    spec.extra_hosts = json::str_vec(host, "ExtraHosts");
    spec.dns = json::str_vec(host, "Dns");
    return spec;
}

}  // namespace tenex::docker
