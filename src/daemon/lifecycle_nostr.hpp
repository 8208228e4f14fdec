// What happened to a project's sandbox, told on Nostr so that the owner's TENEX client sees why
// a project is down (the daemon's own events for operators are in event_log.hpp). Signed by the
// daemon key, `a`-tagging the project and `p`-tagging its owner:
//
//   kind 24013 (ephemeral): one per transition, for clients connected now.
//   kind 34013 (addressable, d = the project address): the last transition, kept by relays,
//   for clients that connect later.
//
// Tags of both: ["a", "31933:<owner>:<d>"], ["p", <owner>], ["state", <state>], and when known
// ["reason", <one line>], ["exit", "<code>"], ["container", <id, 12 hex>]; 34013 adds
// ["d", <project address>]. Content: the same as one human-readable line. States:
//
//   started, restarted, paused (idle), resumed, stopped (reason: idle, maximum lifetime,
//   operator, exit code 0, ...),
//   crashed (exit code; restarting), oom-killed (a process of the sandbox: the main one, with
//   an exit code, or a child), crash-looping (last exit code), failed (the orchestrator gave
//   up), start-refused (the start did not happen: policy, workspace, project not found),
//   workspace-lost (swarm: the node holding the project's node-local workspace is gone; what
//   the sandbox wrote there since is lost).
//
// Never container output: reasons come from the daemon's own state. TENEX's own kinds (24010
// project status and the others in @tenex-chat/backend's kinds.ts) are the runtime's; none of
// them means "the sandbox", so these two kinds are new.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "daemon/event_log.hpp"
#include "nostr/event.hpp"

namespace tenex::daemon {

inline constexpr std::uint32_t kLifecycleKind = 24013;
inline constexpr std::uint32_t kLifecycleStateKind = 34013;

// The Nostr state of an operator event; nullopt for the types not told on Nostr (adopted,
// stop-requested, restart-requested, forget-requested, exec).
std::optional<std::string> nostr_state(const LifecycleEvent& event);

// The unsigned event of `kind` (kLifecycleKind or kLifecycleStateKind) for one that has a
// Nostr state; created_at in seconds.
nostr::UnsignedEvent lifecycle_nostr_event(const LifecycleEvent& event, const std::string& state,
                                           std::uint32_t kind, std::int64_t created_at);

}  // namespace tenex::daemon
