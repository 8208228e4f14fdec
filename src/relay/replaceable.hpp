// Replaceable (0, 3, 10000-19999: per pubkey+kind) and addressable (30000-39999: per
// kind+pubkey+d) events: only the newest version counts; on equal created_at the lowest id.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "nostr/event.hpp"

namespace tenex::relay {

// The key that versions of one replaceable/addressable event share, or nullopt for regular
// and ephemeral kinds. Format "kind:pubkey:d" (d empty for replaceable kinds).
std::optional<std::string> replace_key(const nostr::Event& event);

// True if `a` replaces `b` (same key assumed): newer, or same time and lower id.
bool newer_version(const nostr::Event& a, const nostr::Event& b);

// Keeps every regular event and only the newest version of each replaceable/addressable
// one; drops duplicate ids. Result sorted newest first (then by id).
std::vector<nostr::Event> keep_newest(std::vector<nostr::Event> events);

}  // namespace tenex::relay
