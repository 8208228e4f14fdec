// Key bindings (bind on first use), the hashes of the projects' gateway secrets and the open
// subscriptions of their connections, persisted in SQLite: the tables gateway_key_bindings,
// gateway_secrets and gateway_subscriptions in the
// daemon's state file (its own connection; WAL lets it share the file with the StateStore).
// Not thread-safe: one thread (the gateway's service thread) uses it after open().
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/sqlite.hpp"

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
    Result<std::map<std::string, std::string>> load_secret_hashes() const;        // address -> hash
    Status set_secret_hash(const std::string& address, const std::string& hash);  // "" removes

    // The open subscriptions of each project's connection (sub id -> filters as a JSON
    // array), restored when the same container reconnects (Gateway: resuming).
    using Subscriptions =
        std::map<std::string, std::map<std::string, std::string>>;  // address -> id -> filters
    Result<Subscriptions> load_subscriptions() const;
    Status set_subscription(const std::string& address, const std::string& sub_id,
                            const std::string& filters);  // "" removes
    Status clear_subscriptions(const std::string& address);

  private:
    explicit BindingStore(sqlite::Database db) : db_(std::move(db)) {}
    Result<std::map<std::string, std::string>> read_pairs(const char* sql) const;
    Status for_each_row(const char* sql,
                        const std::function<void(const std::vector<std::string>&)>& fn) const;
    Status exec(const char* sql, std::initializer_list<std::string_view> args);
    sqlite::Database db_;
};

}  // namespace tenex::gateway
