// Policy YAML: any text is parsed without a crash or an exception; every diagnostic names the
// file and a line inside the text; and whatever a policy that parses cleanly says, the
// container spec built from it keeps the hardening no policy can turn off (non-root user, all
// capabilities dropped but the allowlist, no-new-privileges, no host network, every bind mount
// inside the project or the runtime directory).
#include <algorithm>
#include <string>
#include <string_view>

#include "sandbox/policy_file.hpp"
#include "sandbox/policy_set.hpp"
#include "sandbox/sandbox_spec.hpp"

using namespace tenex::sandbox;

#define CHECK(x)              \
    do {                      \
        if (!(x)) {           \
            __builtin_trap(); \
        }                     \
    } while (0)

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto lines = static_cast<int>(std::count(text.begin(), text.end(), '\n')) + 1;
    const LoadedFile f = parse_policy_text(text, "fuzz.yaml");
    for (const auto& d : f.diagnostics) {
        CHECK(d.file == "fuzz.yaml");
        CHECK(d.line >= 0 && d.line <= lines + 1);
        CHECK(!d.message.empty());
    }
    if (has_errors(f.diagnostics)) return 0;
    const ResolvedPolicy r = merge_policy_files({&f.file});
    if (has_errors(r.diagnostics)) return 0;
    (void)describe_policy(r.policy);

    SpecContext ctx;
    ctx.project = ProjectRef{.owner = std::string(64, 'a'), .d = "fuzz"};
    ctx.project_dir = "/srv/projects/fuzz";
    ctx.runtime_dir = "/srv/runtime/fuzz";
    ctx.daemon_id = "d";
    ctx.secrets = SecretMode::redact;
    ctx.relays = {"ws://127.0.0.1:7777"};
    ctx.gateway_port = 7879;
    auto spec = build_sandbox_spec(r.policy, ctx);
    if (!spec) return 0;
    const auto& c = spec->container;
    CHECK(!c.user.empty() && c.user.rfind("0:", 0) != 0 && c.user.find(":0") == std::string::npos);
    CHECK(std::find(c.cap_drop.begin(), c.cap_drop.end(), "ALL") != c.cap_drop.end());
    for (const auto& cap : c.cap_add)
        CHECK(std::find(kCapabilityAllowlist.begin(), kCapabilityAllowlist.end(), cap) !=
              kCapabilityAllowlist.end());
    CHECK(std::find(c.security_opt.begin(), c.security_opt.end(), "no-new-privileges:true") !=
          c.security_opt.end());
    CHECK(c.network_mode != "host" && c.network_mode.rfind("container:", 0) != 0);
    for (const auto& m : c.mounts) {
        const bool in_project =
            m.source == "/srv/projects/fuzz" || m.source.rfind("/srv/projects/fuzz/", 0) == 0;
        const bool in_runtime = m.source == "/srv/runtime/fuzz";
        CHECK(in_project || in_runtime);
        CHECK(m.source.find("/../") == std::string::npos && !m.source.ends_with("/.."));
    }
    return 0;
}
