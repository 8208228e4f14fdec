// The TENEX runtime contract (images/runtime/README.md), the daemon's side: where the project
// and the runtime's global directory are mounted, and the files the daemon writes into that
// directory before each start (config.json, llms.json, providers.json, embed.json). Applies to
// policies that name an LLM provider (tenex.llm.provider).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "sandbox/policy.hpp"

namespace tenex::sandbox {

inline constexpr const char* kRuntimeProjectsBase = "/projects";  // projectsBase inside
inline constexpr const char* kRuntimeBaseDir = "/tenex";          // TENEX_BASE_DIR inside
inline constexpr const char* kLlmHostName = "tenex-llm";          // the LLM forwarder's name
inline constexpr const char* kEmbedHostName = "tenex-embed";      // the embeddings forwarder's

// The LLM providers a policy can name (tenex.llm.provider), and the endpoint each reaches when
// the policy gives no base_url: nullopt for ollama (it has no public one; base_url required).
// openrouter's is fixed: the backend's OpenRouter provider (0.9.13) takes no base URL.
inline constexpr const char* kLlmProviders[] = {"ollama", "openai", "anthropic", "openrouter"};
std::optional<HostPort> provider_endpoint(std::string_view provider);
// Whether the backend can point the provider at another endpoint (base_url).
bool provider_takes_base_url(std::string_view provider);
// Whether the provider serves the embeddings the backend needs (else embed_base_url is required).
bool provider_embeds(std::string_view provider);

// scheme://host[:port][/path] with scheme http, https, ws or wss; no credentials, query or
// fragment. Host lower-cased, IPv6 without brackets; port defaulted from the scheme.
struct Endpoint {
    std::string scheme{};
    std::string host{};
    int port = 0;
    std::string path{};    // "" or starting with '/'
    bool literal() const;  // an IP address or localhost: no DNS name to resolve
    std::string url_with_host(const std::string& host_name) const;
};
std::optional<Endpoint> parse_endpoint(std::string_view url);

// The project directory as the runtime sees it: /projects/<d>. An error for a `d` that cannot
// be one directory name (empty, ".", "..", "/", NUL, longer than 255 bytes).
Result<std::string> runtime_project_path(const std::string& d);

// What the daemon writes into the global directory, as JSON texts.
struct RuntimeFiles {
    std::string config;     // config.json
    std::string llms;       // llms.json
    std::string providers;  // providers.json (holds the API key)
    std::string embed;      // embed.json
};
struct RuntimeInputs {
    std::string owner{};  // whitelisted: the project's owner only
    std::string d{};
    std::vector<std::string> relays{};  // as seen from inside
    std::string llm_url{};              // as seen from inside; empty: the provider's own
    std::string backend_key_hex{};
    std::string api_key{};
    std::string embed_url{};  // embed_base_url as seen from inside; empty: the chat endpoint
    std::string embed_api_key{};
};
RuntimeFiles runtime_files(const TenexLlm& llm, const RuntimeInputs& in);

// Prepares the global directory `dir` (created 0700 when missing): keeps the backend key of an
// earlier run (a new one the first time), reads the API key from the policy's key file,
// writes the four files 0600 without following links, hands the agents of the project's
// `.tenex/agents.json` to the backend (agents/<pubkey>.json, agents/index.json: the agents
// sign with the keys the daemon published profiles for), and gives `dir` and the project
// directory (recursively, links not followed) to the container's uid:gid.
Status prepare_runtime_dir(const std::filesystem::path& dir,
                           const std::filesystem::path& project_dir, const Policy& policy,
                           RuntimeInputs in);

}  // namespace tenex::sandbox
