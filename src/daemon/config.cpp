#include "daemon/config.hpp"

#include <arpa/inet.h>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "common/listen_address.hpp"
#include "nostr/nip19.hpp"
#include "relay/url.hpp"
#include "sandbox/units.hpp"

namespace tenex::daemon {
namespace {

// Reads typed values out of YAML nodes, recording an error (with line and column) for each
// value it cannot take.
class Reader {
  public:
    Reader(std::string file, Diagnostics& diags) : file_(std::move(file)), diags_(diags) {}

    void error(const YAML::Node& at, const std::string& key, std::string message) {
        auto mark = at.Mark();
        diags_.push_back({.file = file_,
                          .line = mark.line >= 0 ? mark.line + 1 : 0,
                          .column = mark.column >= 0 ? mark.column + 1 : 0,
                          .key_path = key,
                          .message = std::move(message)});
    }

    bool string(const YAML::Node& n, const std::string& key, std::string& out) {
        if (!n.IsScalar()) return error(n, key, "expected a string"), false;
        out = n.Scalar();
        return true;
    }
    void path(const YAML::Node& n, const std::string& key, std::filesystem::path& out) {
        std::string s;
        if (!string(n, key, s)) return;
        if (s.empty() || s.front() != '/') return error(n, key, "expected an absolute path");
        out = s;
    }
    void boolean(const YAML::Node& n, const std::string& key, bool& out) {
        std::string s;
        if (!string(n, key, s)) return;
        if (s == "true")
            out = true;
        else if (s == "false")
            out = false;
        else
            error(n, key, "expected true or false, got '" + s + "'");
    }
    template <class T>
    void integer(const YAML::Node& n, const std::string& key, T& out, T min, T max) {
        std::string s;
        if (!string(n, key, s)) return;
        T v{};
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec != std::errc{} || p != s.data() + s.size() || v < min || v > max)
            return error(n, key,
                         "expected an integer from " + std::to_string(min) + " to " +
                             std::to_string(max) + ", got '" + s + "'");
        out = v;
    }
    void number(const YAML::Node& n, const std::string& key, double& out, double min, double max) {
        std::string s;
        if (!string(n, key, s)) return;
        double v = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec != std::errc{} || p != s.data() + s.size() || !(v >= min && v <= max)) {
            std::ostringstream range;
            range << min << " to " << max;
            return error(n, key, "expected a number from " + range.str() + ", got '" + s + "'");
        }
        out = v;
    }
    void strings(const YAML::Node& n, const std::string& key, std::vector<std::string>& out) {
        if (!n.IsSequence()) return error(n, key, "expected a list of strings");
        std::vector<std::string> values;
        for (std::size_t i = 0; i < n.size(); ++i) {
            std::string s;
            if (string(n[i], key + "[" + std::to_string(i) + "]", s)) values.push_back(s);
        }
        out = std::move(values);
    }
    void duration(const YAML::Node& n, const std::string& key, std::chrono::milliseconds& out) {
        std::string s;
        if (!string(n, key, s)) return;
        auto d = sandbox::parse_duration(s);
        if (!d) return error(n, key, d.error().message);
        out = *d;
    }
    void bytes(const YAML::Node& n, const std::string& key, std::uint64_t& out) {
        std::string s;
        if (!string(n, key, s)) return;
        auto b = sandbox::parse_memory(s);
        if (!b) return error(n, key, b.error().message);
        out = static_cast<std::uint64_t>(*b);
    }
    // A size from `min` to `max` bytes (both written with their unit in the message).
    void bytes(const YAML::Node& n, const std::string& key, std::size_t& out, std::size_t min,
               std::size_t max, const char* range) {
        std::uint64_t v = 0;
        const std::size_t before = diags_.size();
        bytes(n, key, v);
        if (diags_.size() != before) return;
        if (v < min || v > max)
            return error(
                n, key,
                "expected a size from " + std::string(range) + ", got '" + n.Scalar() + "'");
        out = static_cast<std::size_t>(v);
    }

    // swarm.volumes: a list of {path, driver, options}; each mapping's options must place the
    // directory ({path}) or every project would mount the same volume.
    void volumes(const YAML::Node& n, const std::string& key,
                 std::vector<docker::VolumeMapping>& out) {
        if (!n.IsSequence()) return error(n, key, "expected a list of {path, driver, options}");
        std::vector<docker::VolumeMapping> list;
        for (std::size_t i = 0; i < n.size(); ++i) {
            const std::string at = key + "[" + std::to_string(i) + "]";
            docker::VolumeMapping v;
            std::filesystem::path dir;
            bool has_path = false;
            const std::size_t before = diags_.size();
            mapping(
                n[i], at,
                {
                    {"path", [&](const YAML::Node& x,
                                 const std::string& kx) { path(x, kx, dir), has_path = true; }},
                    {"driver",
                     [&](const YAML::Node& x, const std::string& kx) {
                         if (string(x, kx, v.driver) &&
                             (v.driver.empty() || v.driver.size() > 128 ||
                              v.driver.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                                                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                         "0123456789._/:-") != std::string::npos))
                             error(x, kx, "expected a volume driver name (local, ...)");
                     }},
                    {"options",
                     [&](const YAML::Node& x, const std::string& kx) {
                         if (!x.IsMap()) return error(x, kx, "expected a mapping of strings");
                         for (const auto& o : x) {
                             std::string name, value;
                             if (!string(o.first, kx, name) ||
                                 !string(o.second, kx + "." + name, value))
                                 continue;
                             v.options[name] = value;
                         }
                     }},
                });
            if (diags_.size() != before || !n[i].IsMap()) continue;
            if (!has_path) {
                error(n[i], at + ".path", "missing: the directory of this host it stands for");
                continue;
            }
            if (v.driver.empty()) {
                error(n[i], at + ".driver", "missing: the volume driver (local for NFS)");
                continue;
            }
            if (std::none_of(v.options.begin(), v.options.end(), [](const auto& o) {
                    return o.second.find("{path}") != std::string::npos;
                })) {
                error(n[i], at + ".options",
                      "no value holds {path}: every project would mount the same volume "
                      "(for NFS: device: \":/export/tenex{path}\")");
                continue;
            }
            v.path = dir.lexically_normal().string();
            if (v.path.size() > 1 && v.path.back() == '/') v.path.pop_back();
            list.push_back(std::move(v));
        }
        out = std::move(list);
    }

    using Handler = std::function<void(const YAML::Node&, const std::string& key)>;
    // Dispatches each key of a mapping to its handler; unknown keys are errors.
    void mapping(const YAML::Node& n, const std::string& prefix,
                 const std::map<std::string, Handler>& handlers) {
        if (!n.IsMap()) return error(n, prefix, "expected a mapping");
        for (const auto& kv : n) {
            std::string name = kv.first.IsScalar() ? kv.first.Scalar() : "?";
            std::string key = prefix.empty() ? name : prefix + "." + name;
            auto h = handlers.find(name);
            if (h == handlers.end()) {
                std::string known;
                for (const auto& [k, _] : handlers) known += (known.empty() ? "" : ", ") + k;
                error(kv.first, key, "unknown key (known: " + known + ")");
                continue;
            }
            if (kv.second.IsNull()) continue;  // "key:" with no value keeps the default
            h->second(kv.second, key);
        }
    }

  private:
    std::string file_;
    Diagnostics& diags_;
};

}  // namespace

Result<std::string> normalize_pubkey(std::string_view text) {
    if (text.starts_with("npub1")) {
        auto entity = nostr::decode_entity(text);
        if (!entity) return make_error("bad npub: " + entity.error().message);
        if (auto* npub = std::get_if<nostr::Npub>(&*entity)) return npub->pubkey;
        return make_error("not an npub");
    }
    if (text.size() != 64 ||
        text.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos)
        return make_error("expected an npub or 64 hex characters");
    std::string hex(text);
    for (auto& c : hex) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return hex;
}

Result<DaemonConfig, Diagnostics> parse_config(std::string_view text, const std::string& name) {
    Diagnostics diags;
    if (auto bad = sandbox::not_utf8(text, name)) {
        diags.push_back(std::move(*bad));
        return diags;
    }
    YAML::Node root;
    try {
        root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
        diags.push_back({.file = name,
                         .line = e.mark.line >= 0 ? e.mark.line + 1 : 0,
                         .column = e.mark.column >= 0 ? e.mark.column + 1 : 0,
                         .key_path = "",
                         .message = "YAML syntax: " + e.msg});
        return diags;
    }
    DaemonConfig c;
    if (root.IsNull()) return c;  // an empty file: all defaults
    if (auto bad = sandbox::not_utf8(root, name)) {
        diags.push_back(std::move(*bad));
        return diags;
    }
    Reader r(name, diags);
    using H = Reader::Handler;
    r.mapping(
        root, "",
        {
            {"relays", H([&](auto& n, auto& k) {
                 r.strings(n, k, c.relays);
                 for (std::size_t i = 0; i < c.relays.size() && n.IsSequence(); ++i)
                     if (auto s = relay::RelayUrl::parse(c.relays[i]); !s)
                         r.error(n[i], k + "[" + std::to_string(i) + "]", s.error().message);
             })},
            {"whitelist", H([&](auto& n, auto& k) {
                 std::vector<std::string> raw;
                 r.strings(n, k, raw);
                 c.whitelist.clear();
                 for (std::size_t i = 0; i < raw.size() && n.IsSequence(); ++i) {
                     auto hex = normalize_pubkey(raw[i]);
                     if (hex)
                         c.whitelist.push_back(*hex);
                     else
                         r.error(n[i], k + "[" + std::to_string(i) + "]", hex.error().message);
                 }
             })},
            {"relay_ca_file", H([&](auto& n, auto& k) {
                 std::string s;
                 if (!r.string(n, k, s) || s.empty()) return;  // "": the system store
                 if (s.front() != '/') return r.error(n, k, "expected an absolute path or \"\"");
                 c.relay_ca_file = s;
             })},
            {"key_file", H([&](auto& n, auto& k) { r.path(n, k, c.key_file); })},
            {"projects_path", H([&](auto& n, auto& k) { r.path(n, k, c.projects_path); })},
            {"policies_dir", H([&](auto& n, auto& k) { r.path(n, k, c.policies_dir); })},
            {"state_dir", H([&](auto& n, auto& k) { r.path(n, k, c.state_dir); })},
            {"docker_socket", H([&](auto& n, auto& k) { r.string(n, k, c.docker_socket); })},
            {"engine", H([&](auto& n, auto& k) {
                 if (r.string(n, k, c.engine) && c.engine != "docker" && c.engine != "swarm")
                     r.error(n, k, "expected docker or swarm");
             })},
            {"http_listen", H([&](auto& n, auto& k) { r.string(n, k, c.http_listen); })},
            {"daemon_id", H([&](auto& n, auto& k) { r.string(n, k, c.daemon_id); })},
            {"embedded_relay", H([&](auto& n, auto& k) { r.string(n, k, c.embedded_relay); })},
            {"embedded_relay_quota", H([&](auto& n, auto& k) {
                 auto& q = c.embedded_relay_quota;
                 constexpr std::size_t Ki = 1024, Ti = std::size_t{1} << 40;
                 r.mapping(n, k,
                           {
                               // The relay reads messages and parses events up to 512 KiB.
                               {"max_event_size", H([&](auto& v, auto& kk) {
                                    r.bytes(v, kk, q.max_event_bytes, Ki, 512 * Ki, "1Ki to 512Ki");
                                })},
                               {"max_per_author", H([&](auto& v, auto& kk) {
                                    r.bytes(v, kk, q.max_author_bytes, Ki, Ti, "1Ki to 1Ti");
                                })},
                               {"max_total_size", H([&](auto& v, auto& kk) {
                                    r.bytes(v, kk, q.max_total_bytes, Ki, Ti, "1Ki to 1Ti");
                                })},
                               {"max_events", H([&](auto& v, auto& kk) {
                                    r.integer(v, kk, q.max_events, std::size_t{1},
                                              std::size_t{100000000});
                                })},
                           });
             })},
            {"gateway", H([&](auto& n, auto& k) {
                 r.mapping(n, k,
                           {
                               {"listen",
                                H([&](auto& v, auto& kk) { r.string(v, kk, c.gateway_listen); })},
                               {"advertise", H([&](auto& v, auto& kk) {
                                    r.string(v, kk, c.gateway_advertise);
                                })},
                               {"forwarder_image", H([&](auto& v, auto& kk) {
                                    r.string(v, kk, c.gateway_forwarder_image);
                                })},
                               {"writes_per_second", H([&](auto& v, auto& kk) {
                                    r.number(v, kk, c.gateway_writes_per_second, 0.001, 1e6);
                                })},
                               {"write_burst", H([&](auto& v, auto& kk) {
                                    r.number(v, kk, c.gateway_write_burst, 1, 1e6);
                                })},
                           });
             })},
            {"swarm", H([&](auto& n, auto& k) {
                 r.mapping(n, k,
                           {
                               {"volumes",
                                H([&](auto& v, auto& kk) { r.volumes(v, kk, c.swarm_volumes); })},
                               {"workspaces", H([&](auto& v, auto& kk) {
                                    if (r.string(v, kk, c.swarm_workspaces) &&
                                        c.swarm_workspaces != "shared" &&
                                        c.swarm_workspaces != "node-local")
                                        r.error(v, kk,
                                                "expected shared or node-local, got '" +
                                                    c.swarm_workspaces + "'");
                                })},
                               {"node_lost_after", H([&](auto& v, auto& kk) {
                                    r.duration(v, kk, c.swarm_node_lost_after);
                                })},
                           });
             })},
            {"log", H([&](auto& n, auto& k) {
                 r.mapping(
                     n, k,
                     {
                         {"format", H([&](auto& v, auto& kk) {
                              if (r.string(v, kk, c.log_format) && !c.log_format.empty() &&
                                  c.log_format != "text" && c.log_format != "json")
                                  r.error(
                                      v, kk,
                                      "expected text, json or \"\", got '" + c.log_format + "'");
                          })},
                         {"level", H([&](auto& v, auto& kk) {
                              static const std::set<std::string> levels{
                                  "", "trace", "debug", "info", "warn", "error", "critical", "off"};
                              if (r.string(v, kk, c.log_level) && !levels.count(c.log_level))
                                  r.error(v, kk,
                                          "expected trace, debug, info, warn, error, critical, off "
                                          "or \"\", got '" +
                                              c.log_level + "'");
                          })},
                     });
             })},
            {"start_concurrency",
             H([&](auto& n, auto& k) { r.integer(n, k, c.start_concurrency, 1u, 64u); })},
            {"stop_projects_on_exit",
             H([&](auto& n, auto& k) { r.boolean(n, k, c.stop_projects_on_exit); })},
            {"lifecycle_events", H([&](auto& n, auto& k) { r.boolean(n, k, c.lifecycle_events); })},
            {"exec", H([&](auto& n, auto& k) {
                 r.mapping(n, k,
                           {
                               {"enabled", H([&](auto& v, auto& kk) {
                                    std::string s;
                                    if (!r.string(v, kk, s)) return;
                                    if (s == "true" || s == "false")
                                        c.exec_enabled = s == "true";
                                    else
                                        r.error(v, kk, "expected true or false, got '" + s + "'");
                                })},
                           });
             })},
            {"monitor", H([&](auto& n, auto& k) {
                 r.mapping(n, k,
                           {
                               {"events_per_second", H([&](auto& v, auto& kk) {
                                    r.number(v, kk, c.monitor.events_per_second, 0.001, 1e6);
                                })},
                               {"burst", H([&](auto& v, auto& kk) {
                                    r.number(v, kk, c.monitor.burst, 1, 1e6);
                                })},
                               {"queue_size", H([&](auto& v, auto& kk) {
                                    r.integer(v, kk, c.monitor.queue_size, std::size_t{1},
                                              std::size_t{10000000});
                                })},
                               {"max_projects_per_event", H([&](auto& v, auto& kk) {
                                    r.integer(v, kk, c.monitor.max_projects_per_event,
                                              std::size_t{1}, std::size_t{1000});
                                })},
                           });
             })},
            {"metrics", H([&](auto& n, auto& k) {
                 r.mapping(n, k,
                           {
                               {"per_project", H([&](auto& v, auto& kk) {
                                    r.boolean(v, kk, c.metrics.per_project);
                                })},
                               {"max_projects", H([&](auto& v, auto& kk) {
                                    r.integer(v, kk, c.metrics.max_projects, std::size_t{1},
                                              std::size_t{100000});
                                })},
                           });
             })},
            {"disk_pressure", H([&](auto& n, auto& k) {
                 r.mapping(n, k,
                           {
                               {"min_free", H([&](auto& v, auto& kk) {
                                    std::size_t b = c.disk_pressure_min_free;
                                    r.bytes(v, kk, b, std::size_t{0}, std::size_t{1} << 50,
                                            "0 to 1Pi");
                                    c.disk_pressure_min_free = b;
                                })},
                           });
             })},
            {"git", H([&](auto& n, auto& k) {
                 r.mapping(n, k,
                           {
                               {"allow_http",
                                H([&](auto& v, auto& kk) { r.boolean(v, kk, c.git.allow_http); })},
                               {"allow_ssh",
                                H([&](auto& v, auto& kk) { r.boolean(v, kk, c.git.allow_ssh); })},
                               {"allow_git",
                                H([&](auto& v, auto& kk) { r.boolean(v, kk, c.git.allow_git); })},
                               {"allowed_hosts", H([&](auto& v, auto& kk) {
                                    r.strings(v, kk, c.git.allowed_hosts);
                                })},
                               {"allow_private_hosts", H([&](auto& v, auto& kk) {
                                    r.boolean(v, kk, c.git.allow_private_hosts);
                                })},
                               {"clone_timeout",
                                H([&](auto& v, auto& kk) { r.duration(v, kk, c.clone.timeout); })},
                               {"max_clone_size",
                                H([&](auto& v, auto& kk) { r.bytes(v, kk, c.clone.max_bytes); })},
                           });
             })},
        });
    if (!diags.empty()) return diags;
    return c;
}

Result<DaemonConfig, Diagnostics> load_config(const std::filesystem::path& file) {
    std::ifstream in(file);
    if (!in)
        return Diagnostics{{.file = file.string(),
                            .line = 0,
                            .column = 0,
                            .key_path = "",
                            .message = "cannot read the configuration file"}};
    std::stringstream buf;
    buf << in.rdbuf();
    return parse_config(buf.str(), file.string());
}

namespace {
bool is_ipv4(const std::string& host) {
    in_addr a{};
    return inet_pton(AF_INET, host.c_str(), &a) == 1;
}
}  // namespace

Diagnostics validate_config(const DaemonConfig& c) {
    Diagnostics d;
    auto add = [&](std::string key, std::string message) {
        d.push_back({.file = "",
                     .line = 0,
                     .column = 0,
                     .key_path = std::move(key),
                     .message = std::move(message)});
    };
    if (c.engine != "docker" && c.engine != "swarm") add("engine", "expected docker or swarm");
    if (c.relays.empty() && c.embedded_relay.empty())
        add("relays", "no relay: set relays (or --relay URL), or --embedded-relay ADDR");
    for (const auto& url : c.relays)
        if (auto s = relay::RelayUrl::parse(url); !s) add("relays", url + ": " + s.error().message);
    for (const auto& pk : c.whitelist)
        if (auto s = normalize_pubkey(pk); !s || *s != pk) add("whitelist", pk + ": not a pubkey");
    if (c.whitelist.empty())
        add("whitelist", "empty: no pubkey could wake a project (set whitelist or -w)");
    for (auto [key, path] : {std::pair{"key_file", &c.key_file},
                             {"projects_path", &c.projects_path},
                             {"policies_dir", &c.policies_dir},
                             {"state_dir", &c.state_dir}})
        if (!path->is_absolute()) add(key, path->string() + ": must be an absolute path");
    if (!c.gateway_listen.empty()) {
        // One engine: the containers' forwarders connect to 127.0.0.1, the gateway listens
        // there only. A swarm: the nodes' forwarders connect to gateway.advertise.
        auto addr = parse_tcp_listen_address(c.gateway_listen);
        if (!addr)
            add("gateway.listen", c.gateway_listen + ": " + addr.error().message);
        else if (c.engine != "swarm" && addr->host != "127.0.0.1")
            add("gateway.listen",
                c.gateway_listen +
                    ": must be 127.0.0.1:PORT (containers reach it through their forwarder)");
        else if (c.engine == "swarm" && !is_ipv4(addr->host))
            add("gateway.listen", c.gateway_listen + ": must be IPv4-ADDRESS:PORT");
    }
    if (!c.gateway_advertise.empty()) {
        auto addr = parse_tcp_listen_address(c.gateway_advertise);
        if (c.engine != "swarm")
            add("gateway.advertise",
                "only with engine: swarm (one engine's containers reach "
                "the gateway through forwarders on this host)");
        else if (!addr || !is_ipv4(addr->host) || addr->host == "0.0.0.0" || addr->port == 0)
            add("gateway.advertise", c.gateway_advertise +
                                         ": must be IPV4-ADDRESS:PORT, an address of this host "
                                         "the swarm's nodes reach");
    }
    if (c.engine == "swarm" && c.gateway_forwarder_image.empty())
        add("gateway.forwarder_image",
            "empty: swarm tasks could reach neither the gateway nor their egress destinations");
    if (!c.swarm_volumes.empty() && c.engine != "swarm")
        add("swarm.volumes",
            "only with engine: swarm (one engine binds the project directories themselves)");
    if (c.swarm_workspaces == "node-local") {
        if (c.engine != "swarm")
            add("swarm.workspaces", "node-local only with engine: swarm");
        else if (!c.swarm_volumes.empty())
            add("swarm.workspaces",
                "node-local and swarm.volumes exclude each other (node-local: each project's "
                "directories on one node; volumes: on shared storage)");
        else if (c.gateway_listen.empty())
            add("swarm.workspaces",
                "node-local needs the gateway (gateway.listen, gateway.advertise): the seed "
                "task fetches the workspace from its listener");
    }
    if (!c.relay_ca_file.empty() && !c.relay_ca_file.is_absolute())
        add("relay_ca_file", c.relay_ca_file.string() + ": must be an absolute path");
    return d;
}

}  // namespace tenex::daemon
