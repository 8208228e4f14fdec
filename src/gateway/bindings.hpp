// Key bindings (bind on first use) and the hashes of the projects' gateway secrets, persisted
// in SQLite: the tables gateway_key_bindings and gateway_secrets in the
// daemon's state file (its own connection; WAL lets it share the file with the StateStore).
// Not thread-safe: one thread (the gateway's service thread) uses it after open().
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "common/result.hpp"

struct sqlite3;

namespace tenex::gateway {

class BindingStore {
public:
    // An empty path keeps the bindings in memory only (tests).
    static Result<std::unique_ptr<BindingStore>> open(const std::filesystem::path& file);
    ~BindingStore();
    BindingStore(const BindingStore&) = delete;
    BindingStore& operator=(const BindingStore&) = delete;

    Result<std::map<std::string, std::string>> load() const;  // pubkey -> project address
    // Records a binding; a key already bound keeps its first project.
    Status bind(const std::string& pubkey, const std::string& address, std::int64_t at);

    // The SHA-256 (hex) of each project's current gateway secret, so that containers adopted
    // by a restarted daemon keep their gateway. Never the secret itself.
    Result<std::map<std::string, std::string>> load_secret_hashes() const;  // address -> hash
    Status set_secret_hash(const std::string& address, const std::string& hash);  // "" removes

private:
    explicit BindingStore(sqlite3* db) : db_(db) {}
    Result<std::map<std::string, std::string>> read_pairs(const char* sql) const;
    sqlite3* db_;
};

}  // namespace tenex::gateway
