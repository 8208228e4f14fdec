#include "daemon/lifecycle_nostr.hpp"

#include "nostr/address.hpp"

namespace tenex::daemon {

std::optional<std::string> nostr_state(const LifecycleEvent& event) {
    const std::string& t = event.type;
    if (t == "started" || t == "restarted" || t == "paused" || t == "resumed" || t == "stopped" ||
        t == "crashed" || t == "crash-looping" || t == "failed" || t == "workspace-lost")
        return t;
    if (t == "oom") return std::string("oom-killed");
    if (t == "start-failed") return std::string("start-refused");
    // adopted (nothing happened to the sandbox), refused (an address that names no project of
    // ours), operator requests and exec: not the owner's news.
    return std::nullopt;
}

nostr::UnsignedEvent lifecycle_nostr_event(const LifecycleEvent& event, const std::string& state,
                                           std::uint32_t kind, std::int64_t created_at) {
    nostr::UnsignedEvent u;
    u.kind = kind;
    u.created_at = created_at;
    if (kind == kLifecycleStateKind) u.tags.push_back({"d", event.project});
    u.tags.push_back({"a", event.project});
    if (auto address = nostr::Address::parse(event.project))
        u.tags.push_back({"p", address->pubkey});
    u.tags.push_back({"state", state});
    LifecycleEvent line = event;
    line.type = state;
    std::string reason = event.reason;
    for (auto& c : reason)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    if (!reason.empty()) u.tags.push_back({"reason", reason});
    if (event.exit_code) u.tags.push_back({"exit", std::to_string(*event.exit_code)});
    if (!event.container.empty()) u.tags.push_back({"container", event.container});
    u.content = to_line(line);
    return u;
}

}  // namespace tenex::daemon
