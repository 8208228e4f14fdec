#include "gateway/bindings.hpp"

#include <sqlite3.h>

namespace tenex::gateway {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS gateway_key_bindings (
    pubkey TEXT PRIMARY KEY,
    project TEXT NOT NULL,
    bound_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS gateway_secrets (
    project TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL
);
)sql";

Error sql_error(sqlite3* db, const std::string& what) {
    return make_error("key bindings: " + what + ": " + sqlite3_errmsg(db));
}

}  // namespace

Result<std::unique_ptr<BindingStore>> BindingStore::open(const std::filesystem::path& file) {
    sqlite3* db = nullptr;
    const std::string name = file.empty() ? ":memory:" : file.string();
    int rc = sqlite3_open_v2(name.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        sqlite3_close(db);
        return make_error("key bindings: cannot open " + name + ": " + msg);
    }
    std::unique_ptr<BindingStore> store(new BindingStore(db));
    sqlite3_busy_timeout(db, 5000);
    for (const char* sql : {file.empty() ? "SELECT 1" : "PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", kSchema}) {
        char* err = nullptr;
        if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
            std::string msg = err ? err : sqlite3_errmsg(db);
            sqlite3_free(err);
            return make_error("key bindings: " + msg);
        }
    }
    return store;
}

BindingStore::~BindingStore() { sqlite3_close(db_); }

Result<std::map<std::string, std::string>> BindingStore::load() const {
    return read_pairs("SELECT pubkey, project FROM gateway_key_bindings");
}

Result<std::map<std::string, std::string>> BindingStore::load_secret_hashes() const {
    return read_pairs("SELECT project, secret_sha256 FROM gateway_secrets");
}

Status BindingStore::set_secret_hash(const std::string& address, const std::string& hash) {
    sqlite3_stmt* st = nullptr;
    const char* sql = hash.empty() ? "DELETE FROM gateway_secrets WHERE project = ?"
                                   : "INSERT OR REPLACE INTO gateway_secrets(project, secret_sha256) VALUES (?, ?)";
    if (sqlite3_prepare_v2(db_, sql, -1, &st, nullptr) != SQLITE_OK) return sql_error(db_, "write");
    sqlite3_bind_text(st, 1, address.data(), static_cast<int>(address.size()), SQLITE_TRANSIENT);
    if (!hash.empty()) sqlite3_bind_text(st, 2, hash.data(), static_cast<int>(hash.size()), SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return sql_error(db_, "write");
    return Unit{};
}

Result<std::map<std::string, std::string>> BindingStore::read_pairs(const char* sql) const {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &st, nullptr) != SQLITE_OK)
        return sql_error(db_, "read");
    std::map<std::string, std::string> out;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        auto col = [&](int i) {
            auto* p = sqlite3_column_text(st, i);
            return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(st, i)))
                     : std::string();
        };
        out.emplace(col(0), col(1));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return sql_error(db_, "read");
    return out;
}

Status BindingStore::bind(const std::string& pubkey, const std::string& address, std::int64_t at) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, "INSERT OR IGNORE INTO gateway_key_bindings(pubkey, project, bound_at) VALUES (?, ?, ?)",
                           -1, &st, nullptr) != SQLITE_OK)
        return sql_error(db_, "write");
    sqlite3_bind_text(st, 1, pubkey.data(), static_cast<int>(pubkey.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, address.data(), static_cast<int>(address.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, at);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return sql_error(db_, "write");
    return Unit{};
}

}  // namespace tenex::gateway
