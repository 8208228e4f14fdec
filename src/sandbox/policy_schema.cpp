#include "sandbox/policy_schema.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "sandbox/runtime_contract.hpp"
#include "sandbox/units.hpp"

namespace tenex::sandbox {
namespace {

using Setter = void (*)(Policy&, const std::string& path, const std::string& subkey,
                        const YAML::Node&, const Reporter&);

struct Key {
    std::string_view path;
    KeyKind kind;
    Setter set;  // leaves and dynamic maps (applied per entry)
};

// ---- value readers: each reports and returns nullopt on a bad value ----

bool is_plain(const YAML::Node& n) {
    return n.Tag() == "?";
}

std::optional<std::string> as_string(const YAML::Node& n, const std::string& path,
                                     const Reporter& report) {
    if (!n.IsDefined() || n.IsNull()) {
        report(n, path, "missing value", Severity::error);
        return std::nullopt;
    }
    if (!n.IsScalar()) {
        report(n, path,
               std::string("expected a string, got a ") + (n.IsSequence() ? "list" : "mapping"),
               Severity::error);
        return std::nullopt;
    }
    return n.Scalar();
}

std::optional<bool> as_bool(const YAML::Node& n, const std::string& path, const Reporter& report) {
    auto s = as_string(n, path, report);
    if (!s) return std::nullopt;
    if (is_plain(n) && (*s == "true" || *s == "false")) return *s == "true";
    report(n, path, "expected true or false, got \"" + *s + "\"", Severity::error);
    return std::nullopt;
}

std::optional<std::int64_t> as_int(const YAML::Node& n, const std::string& path,
                                   const Reporter& report, std::int64_t min, std::int64_t max) {
    auto s = as_string(n, path, report);
    if (!s) return std::nullopt;
    bool digits = !s->empty() && s->size() <= 18 && is_plain(n);
    for (char c : *s) digits = digits && c >= '0' && c <= '9';
    if (!digits) {
        report(n, path, "expected a whole number, got \"" + *s + "\"", Severity::error);
        return std::nullopt;
    }
    const std::int64_t v = std::stoll(*s);
    if (v < min || v > max) {
        report(n, path,
               "out of range: " + *s + " (allowed " + std::to_string(min) + ".." +
                   std::to_string(max) + ")",
               Severity::error);
        return std::nullopt;
    }
    return v;
}

std::optional<std::int64_t> as_memory(const YAML::Node& n, const std::string& path,
                                      const Reporter& report, std::int64_t min) {
    auto s = as_string(n, path, report);
    if (!s) return std::nullopt;
    auto v = parse_memory(*s);
    if (!v) {
        report(n, path, v.error().message, Severity::error);
        return std::nullopt;
    }
    if (*v < min) {
        report(n, path, "out of range: " + *s + " is below the minimum of " + format_memory(min),
               Severity::error);
        return std::nullopt;
    }
    return *v;
}

std::optional<std::int64_t> as_cpus(const YAML::Node& n, const std::string& path,
                                    const Reporter& report) {
    auto s = as_string(n, path, report);
    if (!s) return std::nullopt;
    auto v = parse_cpus(*s);
    if (!v) {
        report(n, path, v.error().message, Severity::error);
        return std::nullopt;
    }
    return *v;
}

std::optional<std::chrono::milliseconds> as_duration(const YAML::Node& n, const std::string& path,
                                                     const Reporter& report,
                                                     std::chrono::milliseconds min,
                                                     std::chrono::milliseconds max) {
    auto s = as_string(n, path, report);
    if (!s) return std::nullopt;
    auto v = parse_duration(*s);
    if (!v) {
        report(n, path, v.error().message, Severity::error);
        return std::nullopt;
    }
    if (*v < min || *v > max) {
        report(n, path,
               "out of range: " + *s + " (allowed " + format_duration(min) + ".." +
                   format_duration(max) + ")",
               Severity::error);
        return std::nullopt;
    }
    return *v;
}

std::optional<std::vector<std::pair<std::string, YAML::Node>>> as_string_list(
    const YAML::Node& n, const std::string& path, const Reporter& report) {
    if (!n.IsSequence()) {
        report(n, path, "expected a list", Severity::error);
        return std::nullopt;
    }
    std::vector<std::pair<std::string, YAML::Node>> out;
    bool ok = true;
    std::size_t i = 0;
    for (const auto& item : n) {
        auto s = as_string(item, path + "[" + std::to_string(i++) + "]", report);
        if (!s)
            ok = false;
        else
            out.emplace_back(*s, item);
    }
    if (!ok) return std::nullopt;
    return out;
}

// Unknown "{word}" placeholders are errors, so a typo does not reach the container silently.
bool check_placeholders(const std::string& s, const YAML::Node& at, const std::string& path,
                        const Reporter& report) {
    for (std::size_t pos = s.find('{'); pos != std::string::npos; pos = s.find('{', pos + 1)) {
        const auto end = s.find('}', pos);
        if (end == std::string::npos) break;
        const std::string token = s.substr(pos, end - pos + 1);
        const bool word = std::all_of(token.begin() + 1, token.end() - 1,
                                      [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
        if (word && token.size() > 2 &&
            std::find(kPlaceholders.begin(), kPlaceholders.end(), token) == kPlaceholders.end()) {
            report(at, path,
                   "unknown placeholder " + token + " (known: {address}, {d}, {naddr}, {owner})",
                   Severity::error);
            return false;
        }
    }
    return true;
}

bool valid_env_name(std::string_view name) {
    if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '_';
    });
}

bool has_dotdot(std::string_view p) {
    std::size_t start = 0;
    while (start <= p.size()) {
        auto end = p.find('/', start);
        if (end == std::string_view::npos) end = p.size();
        if (p.substr(start, end - start) == "..") return true;
        start = end + 1;
    }
    return false;
}

bool mentions_docker_socket(std::string_view p) {
    return p.find("docker.sock") != std::string_view::npos ||
           p.find("containerd.sock") != std::string_view::npos;
}

// ---- setters ----

void set_image(Policy& p, const std::string& path, const std::string&, const YAML::Node& n,
               const Reporter& r) {
    auto s = as_string(n, path, r);
    if (!s) return;
    const bool bad = s->empty() || s->size() > 255 || std::any_of(s->begin(), s->end(), [](char c) {
                         return c <= ' ' || c == '{' || c == '}' || c == '\\' || c == '"';
                     });
    if (bad) return r(n, path, "not a valid image reference: \"" + *s + "\"", Severity::error);
    p.image = *s;
}

void set_argv(std::vector<std::string>& out, const std::string& path, const YAML::Node& n,
              const Reporter& r) {
    auto list = as_string_list(n, path, r);
    if (!list) return;
    std::vector<std::string> v;
    bool ok = true;
    for (std::size_t i = 0; i < list->size(); ++i)
        ok = check_placeholders((*list)[i].first, (*list)[i].second,
                                path + "[" + std::to_string(i) + "]", r) &&
             ok;
    if (!ok) return;
    for (auto& [s, node] : *list) v.push_back(s);
    out = std::move(v);
}

void set_command(Policy& p, const std::string& path, const std::string&, const YAML::Node& n,
                 const Reporter& r) {
    set_argv(p.command, path, n, r);
}

void set_args(Policy& p, const std::string& path, const std::string&, const YAML::Node& n,
              const Reporter& r) {
    set_argv(p.args, path, n, r);
}

void set_env(Policy& p, const std::string& path, const std::string& name, const YAML::Node& n,
             const Reporter& r) {
    if (!valid_env_name(name))
        return r(n, path, "not a valid environment variable name (letters, digits, _)",
                 Severity::error);
    auto s = as_string(n, path, r);
    if (!s || !check_placeholders(*s, n, path, r)) return;
    p.env[name] = *s;
}

void set_secret(Policy& p, const std::string& path, const std::string& name, const YAML::Node& n,
                const Reporter& r) {
    if (!valid_env_name(name))
        return r(n, path, "not a valid environment variable name (letters, digits, _)",
                 Severity::error);
    auto s = as_string(n, path, r);
    if (!s) return;
    if (s->empty() || (*s)[0] != '/' || has_dotdot(*s))
        return r(n, path,
                 "expected the absolute path of a host file holding the secret (no \"..\")",
                 Severity::error);
    p.secrets[name] = *s;
}

void set_mounts(Policy& p, const std::string& path, const std::string&, const YAML::Node& n,
                const Reporter& r) {
    if (!n.IsSequence()) return r(n, path, "expected a list", Severity::error);
    std::vector<ProjectMount> out;
    bool ok = true;
    std::size_t i = 0;
    for (const auto& item : n) {
        const std::string ip = path + "[" + std::to_string(i++) + "]";
        if (!item.IsMap()) {
            r(item, ip, "expected a mapping with source, target and read_only", Severity::error);
            ok = false;
            continue;
        }
        ProjectMount m;
        bool have_source = false, have_target = false;
        for (const auto& kv : item) {
            const std::string k = kv.first.Scalar();
            const std::string kp = ip + "." + k;
            if (k == "source") {
                auto s = as_string(kv.second, kp, r);
                if (!s) {
                    ok = false;
                    continue;
                }
                if (mentions_docker_socket(*s)) {
                    r(kv.second, kp, "forbidden: the Docker socket is never mounted into a sandbox",
                      Severity::error);
                    ok = false;
                } else if (!s->empty() && (*s)[0] == '/') {
                    r(kv.second, kp,
                      "forbidden: host path \"" + *s +
                          "\" is outside the project directory (sources are relative to it)",
                      Severity::error);
                    ok = false;
                } else if (s->empty() || has_dotdot(*s)) {
                    r(kv.second, kp,
                      "forbidden: the source must be a path inside the project directory (no "
                      "\"..\")",
                      Severity::error);
                    ok = false;
                } else {
                    m.source = *s;
                    have_source = true;
                }
            } else if (k == "target") {
                auto s = as_string(kv.second, kp, r);
                if (!s) {
                    ok = false;
                    continue;
                }
                static const std::set<std::string> kReserved{"/", "/proc", "/sys", "/dev",
                                                             "/workspace"};
                if (s->empty() || (*s)[0] != '/' || has_dotdot(*s) || kReserved.count(*s)) {
                    r(kv.second, kp,
                      "expected an absolute container path other than /, /proc, /sys, /dev, "
                      "/workspace",
                      Severity::error);
                    ok = false;
                } else {
                    m.target = *s;
                    have_target = true;
                }
            } else if (k == "read_only") {
                auto b = as_bool(kv.second, kp, r);
                if (!b)
                    ok = false;
                else
                    m.read_only = *b;
            } else {
                r(kv.first, kp, "unknown key (known: source, target, read_only)", Severity::error);
                ok = false;
            }
        }
        if (!have_source || !have_target) {
            if (ok) r(item, ip, "a mount needs both source and target", Severity::error);
            ok = false;
        }
        out.push_back(m);
    }
    if (ok) p.mounts = std::move(out);
}

void set_memory(Policy& p, const std::string& path, const std::string&, const YAML::Node& n,
                const Reporter& r) {
    if (auto v = as_memory(n, path, r, 6LL << 20)) p.resources.memory_bytes = *v;
}

void set_memory_swap(Policy& p, const std::string& path, const std::string&, const YAML::Node& n,
                     const Reporter& r) {
    if (auto v = as_memory(n, path, r, 6LL << 20)) p.resources.memory_swap_bytes = *v;
}

void set_cpus(Policy& p, const std::string& path, const std::string&, const YAML::Node& n,
              const Reporter& r) {
    if (auto v = as_cpus(n, path, r)) p.resources.nano_cpus = *v;
}

void set_cpuset(Policy& p, const std::string& path, const std::string&, const YAML::Node& n,
                const Reporter& r) {
    auto s = as_string(n, path, r);
    if (!s) return;
    // "0", "0-3", "0,2,4-5"
    bool ok = !s->empty() && s->size() < 256;
    bool need_digit = true;
    for (char c : *s) {
        if (c >= '0' && c <= '9')
            need_digit = false;
        else if ((c == ',' || c == '-') && !need_digit)
            need_digit = true;
        else
            ok = false;
    }
    if (!ok || need_digit)
        return r(n, path, "expected a CPU list such as \"0\", \"0-3\" or \"0,2,4-5\"",
                 Severity::error);
    p.resources.cpuset = *s;
}

void set_pids(Policy& p, const std::string& path, const std::string&, const YAML::Node& n,
              const Reporter& r) {
    if (auto v = as_int(n, path, r, 16, 1'000'000)) p.resources.pids = *v;
}

void set_nofile(Policy& p, const std::string& path, const std::string&, const YAML::Node& n,
                const Reporter& r) {
    if (auto v = as_int(n, path, r, 64, 1'048'576)) p.resources.nofile = *v;
}

void set_reserve_memory(Policy& p, const std::string& path, const std::string&, const YAML::Node& n,
                        const Reporter& r) {
    if (auto v = as_memory(n, path, r, 0)) p.resources.reserve_memory_bytes = *v;
}

void set_reserve_cpus(Policy& p, const std::string& path, const std::string&, const YAML::Node& n,
                      const Reporter& r) {
    if (auto v = as_cpus(n, path, r)) p.resources.reserve_nano_cpus = *v;
}

// A node attribute a swarm scheduler knows: node.id, node.hostname, node.role,
// node.platform.os, node.platform.arch, node.labels.<key>, engine.labels.<key>.
bool placement_attribute(std::string_view a, bool labels_only) {
    for (std::string_view prefix : {"node.labels.", "engine.labels."})
        if (a.starts_with(prefix) && a.size() > prefix.size() && a.size() <= 128)
            return std::all_of(
                a.begin() + static_cast<std::ptrdiff_t>(prefix.size()), a.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
                });
    if (labels_only) return false;
    for (std::string_view known :
         {"node.id", "node.hostname", "node.role", "node.platform.os", "node.platform.arch"})
        if (a == known) return true;
    return false;
}

std::string trim(std::string_view s) {
    const auto b = s.find_first_not_of(' ');
    if (b == std::string_view::npos) return {};
    return std::string(s.substr(b, s.find_last_not_of(' ') - b + 1));
}

// A list of strings, each mapped by `item` to its normalised form or to nullopt with the error
// reported at that item. The key is set only when every item is good.
template <class Item>
std::optional<std::vector<std::string>> as_checked_list(const YAML::Node& n,
                                                        const std::string& path, const Reporter& r,
                                                        Item item) {
    auto list = as_string_list(n, path, r);
    if (!list) return std::nullopt;
    std::vector<std::string> out;
    bool ok = true;
    for (std::size_t i = 0; i < list->size(); ++i) {
        const auto& [text, at] = (*list)[i];
        if (auto v = item(text)) {
            out.push_back(std::move(*v));
            continue;
        }
        r(at, path + "[" + std::to_string(i) + "]", item.error(text), Severity::error);
        ok = false;
    }
    if (!ok) return std::nullopt;
    return out;
}

// "<attribute> == <value>" or "<attribute> != <value>", written back without spaces.
struct PlacementConstraint {
    std::optional<std::string> operator()(const std::string& text) const {
        auto op = text.find("==");
        if (op == std::string::npos) op = text.find("!=");
        if (op == std::string::npos) return std::nullopt;
        const std::string attr = trim(text.substr(0, op));
        const std::string value = trim(text.substr(op + 2));
        const bool value_ok = !value.empty() && value.size() <= 256 &&
                              std::none_of(value.begin(), value.end(), [](char c) {
                                  return c <= ' ' || c == '=' || c == '!' || c == '\x7f';
                              });
        if (!placement_attribute(attr, false) || !value_ok) return std::nullopt;
        return attr + text.substr(op, 2) + value;
    }
    std::string error(const std::string& text) const {
        return "expected \"<attribute> == <value>\" or \"<attribute> != <value>\" with an "
               "attribute "
               "of node.id, node.hostname, node.role, node.platform.os, node.platform.arch, "
               "node.labels.<key>, engine.labels.<key>; got \"" +
               text + "\"";
    }
};

// A node label to spread over.
struct SpreadLabel {
    std::optional<std::string> operator()(const std::string& text) const {
        if (!placement_attribute(text, true)) return std::nullopt;
        return text;
    }
    std::string error(const std::string& text) const {
        return "expected a node label to spread over: node.labels.<key> or engine.labels.<key>; "
               "got \"" +
               text + "\"";
    }
};

void set_placement_constraints(Policy& p, const std::string& path, const std::string&,
                               const YAML::Node& n, const Reporter& r) {
    if (auto v = as_checked_list(n, path, r, PlacementConstraint{}))
        p.placement.constraints = std::move(*v);
}

void set_placement_spread(Policy& p, const std::string& path, const std::string&,
                          const YAML::Node& n, const Reporter& r) {
    if (auto v = as_checked_list(n, path, r, SpreadLabel{})) p.placement.spread = std::move(*v);
}

void set_disk(Policy& p, const std::string& path, const std::string&, const YAML::Node& n,
              const Reporter& r) {
    if (auto v = as_memory(n, path, r, 0)) p.resources.disk_bytes = *v;
}

void set_network_mode(Policy& p, const std::string& path, const std::string&, const YAML::Node& n,
                      const Reporter& r) {
    auto s = as_string(n, path, r);
    if (!s) return;
    if (*s == "host")
        return r(n, path, "forbidden: host networking is never allowed", Severity::error);
    if (*s == "container" || s->starts_with("container:"))
        return r(n, path, "forbidden: sharing another container's network is never allowed",
                 Severity::error);
    static const std::map<std::string, NetworkMode> kModes{{"none", NetworkMode::none},
                                                           {"isolated", NetworkMode::isolated},
                                                           {"egress", NetworkMode::egress},
                                                           {"open", NetworkMode::open}};
    auto it = kModes.find(*s);
    if (it == kModes.end())
        return r(n, path,
                 "unknown network mode \"" + *s + "\" (one of none, isolated, egress, open)",
                 Severity::error);
    p.network.mode = it->second;
}

bool valid_host(std::string_view h) {
    if (h.starts_with("*.")) h.remove_prefix(2);
    if (h.empty() || h.size() > 253 || h.front() == '.' || h.back() == '.' || h.front() == '-')
        return false;
    return std::all_of(h.begin(), h.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
    });
}

void set_network_allow(Policy& p, const std::string& path, const std::string&, const YAML::Node& n,
                       const Reporter& r) {
    auto list = as_string_list(n, path, r);
    if (!list) return;
    std::vector<HostPort> out;
    bool ok = true;
    for (std::size_t i = 0; i < list->size(); ++i) {
        const auto& [s, node] = (*list)[i];
        const std::string ip = path + "[" + std::to_string(i) + "]";
        const auto colon = s.rfind(':');
        std::string host = colon == std::string::npos ? s : s.substr(0, colon);
        std::transform(host.begin(), host.end(), host.begin(),
                       [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; });
        const std::string port = colon == std::string::npos ? "" : s.substr(colon + 1);
        const bool port_ok =
            !port.empty() && port.size() <= 5 &&
            std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
            std::stoi(port) >= 1 && std::stoi(port) <= 65535;
        if (!valid_host(host) || !port_ok) {
            r(node, ip,
              "expected \"host:port\" such as \"relay.tenex.chat:443\", got \"" + s + "\"",
              Severity::error);
            ok = false;
        } else if (host.starts_with("169.254.") || host == "metadata.google.internal" ||
                   host == "0.0.0.0" || host == "localhost" || host.starts_with("127.")) {
            r(node, ip,
              "forbidden: loopback, link-local and cloud metadata addresses are never allowed",
              Severity::error);
            ok = false;
        } else if (host.starts_with("*.")) {
            r(node, ip,
              "wildcard entries are not supported: the container reaches allowlisted names "
              "through /etc/hosts entries, one per name; list each host name",
              Severity::error);
            ok = false;
        } else if (std::all_of(host.begin(), host.end(),
                               [](char c) { return (c >= '0' && c <= '9') || c == '.'; })) {
            r(node, ip,
              "IP addresses cannot be allowlisted: the container reaches allowlisted names "
              "through /etc/hosts; use a DNS name",
              Severity::error);
            ok = false;
        } else {
            out.push_back(HostPort{.host = host, .port = std::stoi(port)});
        }
    }
    if (ok) p.network.allow = std::move(out);
}

void set_network_relays(Policy& p, const std::string& path, const std::string&, const YAML::Node& n,
                        const Reporter& r) {
    if (auto v = as_bool(n, path, r)) p.network.relays = *v;
}

void set_relay_writes_per_second(Policy& p, const std::string& path, const std::string&,
                                 const YAML::Node& n, const Reporter& r) {
    if (auto v = as_int(n, path, r, 1, 10'000)) p.network.relay_writes_per_second = *v;
}

void set_relay_write_burst(Policy& p, const std::string& path, const std::string&,
                           const YAML::Node& n, const Reporter& r) {
    if (auto v = as_int(n, path, r, 1, 100'000)) p.network.relay_write_burst = *v;
}

void set_restart(Policy& p, const std::string& path, const std::string&, const YAML::Node& n,
                 const Reporter& r) {
    auto s = as_string(n, path, r);
    if (!s) return;
    if (*s == "never")
        p.lifecycle.restart = RestartMode::never;
    else if (*s == "on-failure")
        p.lifecycle.restart = RestartMode::on_failure;
    else if (*s == "always")
        p.lifecycle.restart = RestartMode::always;
    else
        r(n, path, "unknown restart mode \"" + *s + "\" (one of never, on-failure, always)",
          Severity::error);
}

void set_on_policy_change(Policy& p, const std::string& path, const std::string&,
                          const YAML::Node& n, const Reporter& r) {
    auto s = as_string(n, path, r);
    if (!s) return;
    if (*s == "next-trigger")
        p.lifecycle.on_policy_change = PolicyChange::next_trigger;
    else if (*s == "immediately")
        p.lifecycle.on_policy_change = PolicyChange::immediately;
    else
        r(n, path, "unknown value \"" + *s + "\" (one of next-trigger, immediately)",
          Severity::error);
}

using std::chrono::milliseconds;
constexpr milliseconds kDay{86'400'000};

#define TENEX_DURATION_SETTER(fn, field, lo, hi)                                         \
    void fn(Policy& p, const std::string& path, const std::string&, const YAML::Node& n, \
            const Reporter& r) {                                                         \
        if (auto v = as_duration(n, path, r, lo, hi)) p.lifecycle.field = *v;            \
    }
TENEX_DURATION_SETTER(set_backoff_initial, backoff_initial, milliseconds{100},
                      milliseconds{3'600'000})
TENEX_DURATION_SETTER(set_backoff_max, backoff_max, milliseconds{100}, kDay)
TENEX_DURATION_SETTER(set_crash_window, crash_loop_window, milliseconds{1000}, 7 * kDay)
TENEX_DURATION_SETTER(set_stop_timeout, stop_timeout, milliseconds{0}, milliseconds{600'000})
TENEX_DURATION_SETTER(set_idle_timeout, idle_timeout, milliseconds{0}, 365 * kDay)
TENEX_DURATION_SETTER(set_max_lifetime, max_lifetime, milliseconds{0}, 365 * kDay)
TENEX_DURATION_SETTER(set_pause_after, pause_after, milliseconds{0}, 365 * kDay)
TENEX_DURATION_SETTER(set_keep_stopped, keep_stopped, milliseconds{0}, 365 * kDay)
#undef TENEX_DURATION_SETTER

void set_crash_threshold(Policy& p, const std::string& path, const std::string&,
                         const YAML::Node& n, const Reporter& r) {
    if (auto v = as_int(n, path, r, 1, 1000))
        p.lifecycle.crash_loop_threshold = static_cast<int>(*v);
}

// A user is "uid:gid" in decimal, both from 1 to 2^31-1. Names are refused: the engine
// resolves them against the image's /etc/passwd, where any name can be uid 0 ("toor"); a bare
// uid takes its gid from that file too. Signs, spaces and other spellings runc may still read as
// 0 ("-0", "+0", "0x0") are not decimal numbers, so they never reach the engine.
std::optional<long long> parse_id(const std::string& s) {
    if (s.empty() || s.size() > 10 ||
        !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
    return std::stoll(s);
}

void set_user(Policy& p, const std::string& path, const std::string&, const YAML::Node& n,
              const Reporter& r) {
    auto s = as_string(n, path, r);
    if (!s) return;
    const auto colon = s->find(':');
    if (*s == "root")
        return r(n, path, "forbidden: sandboxes never run as root (uid 0 or gid 0)",
                 Severity::error);
    if (colon == std::string::npos)
        return r(n, path,
                 "expected \"uid:gid\" in numbers (names and a uid alone are resolved inside the "
                 "image, where they can mean root)",
                 Severity::error);
    const auto uid = parse_id(s->substr(0, colon));
    const auto gid = parse_id(s->substr(colon + 1));
    constexpr long long kMaxId = 2147483647;
    if (!uid || !gid || *uid > kMaxId || *gid > kMaxId)
        return r(n, path, "expected \"uid:gid\" as two decimal numbers from 1 to 2147483647",
                 Severity::error);
    if (*uid == 0 || *gid == 0)
        return r(n, path, "forbidden: sandboxes never run as root (uid 0 or gid 0)",
                 Severity::error);
    p.security.user = std::to_string(*uid) + ":" + std::to_string(*gid);
}

void set_read_only_root(Policy& p, const std::string& path, const std::string&, const YAML::Node& n,
                        const Reporter& r) {
    if (auto b = as_bool(n, path, r)) p.security.read_only_root = *b;
}

void set_tmpfs(Policy& p, const std::string& path, const std::string& target, const YAML::Node& n,
               const Reporter& r) {
    if (target.empty() || target[0] != '/' || has_dotdot(target) || target == "/" ||
        target == "/workspace" || target.starts_with("/workspace/") || target == "/proc" ||
        target == "/sys" || target == "/dev")
        return r(n, path,
                 "a tmpfs needs an absolute path other than /, /proc, /sys, /dev, /workspace",
                 Severity::error);
    if (auto v = as_memory(n, path, r, 1LL << 20)) p.security.tmpfs[target] = *v;
}

void set_cap_add(Policy& p, const std::string& path, const std::string&, const YAML::Node& n,
                 const Reporter& r) {
    auto list = as_string_list(n, path, r);
    if (!list) return;
    std::vector<std::string> out;
    bool ok = true;
    for (std::size_t i = 0; i < list->size(); ++i) {
        std::string cap = (*list)[i].first;
        std::transform(cap.begin(), cap.end(), cap.begin(),
                       [](char c) { return (c >= 'a' && c <= 'z') ? char(c - 'a' + 'A') : c; });
        if (cap.starts_with("CAP_")) cap = cap.substr(4);
        if (std::find(kCapabilityAllowlist.begin(), kCapabilityAllowlist.end(), cap) ==
            kCapabilityAllowlist.end()) {
            std::string allowed;
            for (const auto& c : kCapabilityAllowlist) allowed += (allowed.empty() ? "" : ", ") + c;
            r((*list)[i].second, path + "[" + std::to_string(i) + "]",
              "forbidden: capability " + cap + " is not in the allowlist (" + allowed + ")",
              Severity::error);
            ok = false;
        } else if (std::find(out.begin(), out.end(), cap) == out.end()) {
            out.push_back(cap);
        }
    }
    if (ok) {
        std::sort(out.begin(), out.end());
        p.security.cap_add = std::move(out);
    }
}

void set_runtime(Policy& p, const std::string& path, const std::string&, const YAML::Node& n,
                 const Reporter& r) {
    auto s = as_string(n, path, r);
    if (!s) return;
    if (!s->empty() && std::find(kRuntimes.begin(), kRuntimes.end(), *s) == kRuntimes.end())
        return r(n, path, "unknown runtime \"" + *s + "\" (one of runc, runsc, or empty)",
                 Severity::error);
    p.security.runtime = *s;
}

void set_llm_provider(Policy& p, const std::string& path, const std::string&, const YAML::Node& n,
                      const Reporter& r) {
    auto s = as_string(n, path, r);
    if (!s) return;
    if (std::find(std::begin(kLlmProviders), std::end(kLlmProviders), *s) ==
        std::end(kLlmProviders))
        return r(n, path,
                 "unknown provider \"" + *s + "\" (one of ollama, openai, anthropic, openrouter)",
                 Severity::error);
    p.llm.provider = *s;
}

// A model name: printable, no spaces or quotes (it lands in JSON and logs).
bool valid_model(const std::string& s) {
    return !s.empty() && s.size() <= 200 && std::all_of(s.begin(), s.end(), [](char c) {
        return c > 0x20 && c < 0x7f && c != '"' && c != '\\';
    });
}

std::optional<std::string> as_model(const YAML::Node& n, const std::string& path,
                                    const Reporter& r) {
    auto s = as_string(n, path, r);
    if (s && !valid_model(*s)) {
        r(n, path, "expected a model name (printable, no spaces)", Severity::error);
        return std::nullopt;
    }
    return s;
}

void set_llm_model(Policy& p, const std::string& path, const std::string&, const YAML::Node& n,
                   const Reporter& r) {
    if (auto s = as_model(n, path, r)) p.llm.model = *s;
}

void set_llm_embed_model(Policy& p, const std::string& path, const std::string&,
                         const YAML::Node& n, const Reporter& r) {
    if (auto s = as_model(n, path, r)) p.llm.embed_model = *s;
}

std::optional<std::string> as_http_url(const YAML::Node& n, const std::string& path,
                                       const Reporter& r) {
    auto s = as_string(n, path, r);
    if (!s) return std::nullopt;
    const auto e = parse_endpoint(*s);
    if (!e || (e->scheme != "http" && e->scheme != "https") || s->find('?') != std::string::npos) {
        r(n, path,
          "expected http://host[:port][/path] or https://... (no credentials, query or fragment)",
          Severity::error);
        return std::nullopt;
    }
    return s;
}

std::optional<std::string> as_key_file(const YAML::Node& n, const std::string& path,
                                       const Reporter& r) {
    auto s = as_string(n, path, r);
    if (!s) return std::nullopt;
    if (s->empty() || (*s)[0] != '/' || has_dotdot(*s)) {
        r(n, path, "expected the absolute path of a host file holding the key (no \"..\")",
          Severity::error);
        return std::nullopt;
    }
    return s;
}

void set_llm_base_url(Policy& p, const std::string& path, const std::string&, const YAML::Node& n,
                      const Reporter& r) {
    if (auto s = as_http_url(n, path, r)) p.llm.base_url = *s;
}

void set_llm_embed_base_url(Policy& p, const std::string& path, const std::string&,
                            const YAML::Node& n, const Reporter& r) {
    if (auto s = as_http_url(n, path, r)) p.llm.embed_base_url = *s;
}

void set_llm_embed_key_file(Policy& p, const std::string& path, const std::string&,
                            const YAML::Node& n, const Reporter& r) {
    if (auto s = as_key_file(n, path, r)) p.llm.embed_key_file = *s;
}

void set_llm_key_file(Policy& p, const std::string& path, const std::string&, const YAML::Node& n,
                      const Reporter& r) {
    if (auto s = as_key_file(n, path, r)) p.llm.key_file = *s;
}

const std::vector<Key>& keys() {
    static const std::vector<Key> kKeys{
        {"", KeyKind::section, nullptr},
        {"image", KeyKind::leaf, set_image},
        {"command", KeyKind::leaf, set_command},
        {"args", KeyKind::leaf, set_args},
        {"env", KeyKind::dynamic_map, set_env},
        {"secrets", KeyKind::dynamic_map, set_secret},
        {"mounts", KeyKind::leaf, set_mounts},
        {"resources", KeyKind::section, nullptr},
        {"resources.memory", KeyKind::leaf, set_memory},
        {"resources.memory_swap", KeyKind::leaf, set_memory_swap},
        {"resources.cpus", KeyKind::leaf, set_cpus},
        {"resources.cpuset", KeyKind::leaf, set_cpuset},
        {"resources.pids", KeyKind::leaf, set_pids},
        {"resources.nofile", KeyKind::leaf, set_nofile},
        {"resources.reservations", KeyKind::section, nullptr},
        {"resources.reservations.memory", KeyKind::leaf, set_reserve_memory},
        {"resources.reservations.cpus", KeyKind::leaf, set_reserve_cpus},
        {"resources.disk", KeyKind::leaf, set_disk},
        {"network", KeyKind::section, nullptr},
        {"network.mode", KeyKind::leaf, set_network_mode},
        {"network.allow", KeyKind::leaf, set_network_allow},
        {"network.relays", KeyKind::leaf, set_network_relays},
        {"network.relay_writes_per_second", KeyKind::leaf, set_relay_writes_per_second},
        {"network.relay_write_burst", KeyKind::leaf, set_relay_write_burst},
        {"lifecycle", KeyKind::section, nullptr},
        {"lifecycle.restart", KeyKind::leaf, set_restart},
        {"lifecycle.backoff_initial", KeyKind::leaf, set_backoff_initial},
        {"lifecycle.backoff_max", KeyKind::leaf, set_backoff_max},
        {"lifecycle.crash_loop_threshold", KeyKind::leaf, set_crash_threshold},
        {"lifecycle.crash_loop_window", KeyKind::leaf, set_crash_window},
        {"lifecycle.stop_timeout", KeyKind::leaf, set_stop_timeout},
        {"lifecycle.pause_after", KeyKind::leaf, set_pause_after},
        {"lifecycle.idle_timeout", KeyKind::leaf, set_idle_timeout},
        {"lifecycle.keep_stopped", KeyKind::leaf, set_keep_stopped},
        {"lifecycle.max_lifetime", KeyKind::leaf, set_max_lifetime},
        {"lifecycle.on_policy_change", KeyKind::leaf, set_on_policy_change},
        {"security", KeyKind::section, nullptr},
        {"security.user", KeyKind::leaf, set_user},
        {"security.read_only_root", KeyKind::leaf, set_read_only_root},
        {"security.tmpfs", KeyKind::dynamic_map, set_tmpfs},
        {"security.cap_add", KeyKind::leaf, set_cap_add},
        {"security.runtime", KeyKind::leaf, set_runtime},
        {"placement", KeyKind::section, nullptr},
        {"placement.constraints", KeyKind::leaf, set_placement_constraints},
        {"placement.spread", KeyKind::leaf, set_placement_spread},
        {"tenex", KeyKind::section, nullptr},
        {"tenex.llm", KeyKind::section, nullptr},
        {"tenex.llm.provider", KeyKind::leaf, set_llm_provider},
        {"tenex.llm.model", KeyKind::leaf, set_llm_model},
        {"tenex.llm.base_url", KeyKind::leaf, set_llm_base_url},
        {"tenex.llm.key_file", KeyKind::leaf, set_llm_key_file},
        {"tenex.llm.embed_model", KeyKind::leaf, set_llm_embed_model},
        {"tenex.llm.embed_base_url", KeyKind::leaf, set_llm_embed_base_url},
        {"tenex.llm.embed_key_file", KeyKind::leaf, set_llm_embed_key_file},
    };
    return kKeys;
}

const Key* find_key(std::string_view path) {
    for (const auto& k : keys())
        if (k.path == path) return &k;
    return nullptr;
}

// "env.FOO" -> the env key; "security.tmpfs./var/cache.d" -> the tmpfs key (names may hold dots).
const Key* find_dynamic_parent(std::string_view path) {
    for (const auto& k : keys())
        if (k.kind == KeyKind::dynamic_map && path.size() > k.path.size() + 1 &&
            path.starts_with(k.path) && path[k.path.size()] == '.')
            return &k;
    return nullptr;
}

}  // namespace

std::optional<KeyKind> key_kind(std::string_view path) {
    if (const Key* k = find_key(path)) return k->kind;
    if (find_dynamic_parent(path)) return KeyKind::leaf;
    return std::nullopt;
}

const std::vector<std::string>& schema_leaf_paths() {
    static const std::vector<std::string> kPaths = [] {
        std::vector<std::string> v;
        for (const auto& k : keys()) {
            if (k.kind == KeyKind::leaf) v.emplace_back(k.path);
            if (k.kind == KeyKind::dynamic_map) v.push_back(std::string(k.path) + ".*");
        }
        return v;
    }();
    return kPaths;
}

std::optional<std::string> forbidden_key(std::string_view key) {
    static const std::map<std::string, std::string, std::less<>> kForbidden{
        {"privileged", "forbidden: privileged containers are never allowed"},
        {"pid", "forbidden: sharing the host's PID namespace is never allowed"},
        {"pid_mode", "forbidden: sharing the host's PID namespace is never allowed"},
        {"ipc", "forbidden: sharing the host's IPC namespace is never allowed"},
        {"ipc_mode", "forbidden: sharing the host's IPC namespace is never allowed"},
        {"userns_mode", "forbidden: the user namespace mode is fixed"},
        {"network_mode", "forbidden: use network.mode (none, isolated, egress, open)"},
        {"volumes",
         "forbidden: host paths are never mounted; use mounts (inside the project directory)"},
        {"binds",
         "forbidden: host paths are never mounted; use mounts (inside the project directory)"},
        {"devices", "forbidden: host devices are never passed to a sandbox"},
        {"cap_drop", "forbidden: all capabilities are always dropped; use security.cap_add"},
        {"security_opt",
         "forbidden: security options are fixed (no-new-privileges, the daemon's seccomp profile)"},
    };
    auto it = kForbidden.find(key);
    if (it == kForbidden.end()) return std::nullopt;
    return it->second;
}

void apply_setting(Policy& policy, const std::string& path, const YAML::Node& value,
                   const Reporter& report) {
    if (const Key* k = find_key(path); k && k->kind == KeyKind::leaf) {
        k->set(policy, path, "", value, report);
        return;
    }
    if (const Key* parent = find_dynamic_parent(path)) {
        parent->set(policy, path, path.substr(parent->path.size() + 1), value, report);
        return;
    }
    report(value, path, "unknown key", Severity::error);
}

std::string to_string(RestartMode m) {
    switch (m) {
        case RestartMode::never:
            return "never";
        case RestartMode::on_failure:
            return "on-failure";
        case RestartMode::always:
            return "always";
    }
    return "never";
}

std::string to_string(PolicyChange m) {
    switch (m) {
        case PolicyChange::next_trigger:
            return "next-trigger";
        case PolicyChange::immediately:
            return "immediately";
    }
    return "next-trigger";
}

}  // namespace tenex::sandbox
