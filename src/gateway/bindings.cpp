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
CREATE TABLE IF NOT EXISTS gateway_subscriptions (
    project TEXT NOT NULL,
    sub_id TEXT NOT NULL,
    filters TEXT NOT NULL,
    PRIMARY KEY (project, sub_id)
);
)sql";

Error sql_error(sqlite3* db, const std::string& what) {
    return make_error("key bindings: " + what + ": " + sqlite3_errmsg(db));
}

}  // namespace

Result<std::unique_ptr<BindingStore>> BindingStore::open(const std::filesystem::path& file) {
    sqlite3* db = nullptr;
    const std::string name = file.empty() ? ":memory:" : file.string();
    int rc =
        sqlite3_open_v2(name.c_str(), &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        sqlite3_close(db);
        return make_error("key bindings: cannot open " + name + ": " + msg);
    }
    std::unique_ptr<BindingStore> store(new BindingStore(db));
    sqlite3_busy_timeout(db, 5000);
    for (const char* sql : {file.empty() ? "SELECT 1" : "PRAGMA journal_mode=WAL",
                            "PRAGMA synchronous=NORMAL", kSchema}) {
        char* err = nullptr;
        if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
            std::string msg = err ? err : sqlite3_errmsg(db);
            sqlite3_free(err);
            return make_error("key bindings: " + msg);
        }
    }
    return store;
}

BindingStore::~BindingStore() {
    sqlite3_close(db_);
}

Result<std::map<std::string, std::string>> BindingStore::load() const {
    return read_pairs("SELECT pubkey, project FROM gateway_key_bindings");
}

Result<std::map<std::string, std::string>> BindingStore::load_secret_hashes() const {
    return read_pairs("SELECT project, secret_sha256 FROM gateway_secrets");
}

Status BindingStore::set_secret_hash(const std::string& address, const std::string& hash) {
    if (hash.empty()) return exec("DELETE FROM gateway_secrets WHERE project = ?", {address});
    return exec("INSERT OR REPLACE INTO gateway_secrets(project, secret_sha256) VALUES (?, ?)",
                {address, hash});
}

Result<BindingStore::Subscriptions> BindingStore::load_subscriptions() const {
    Subscriptions out;
    auto st =
        for_each_row("SELECT project, sub_id, filters FROM gateway_subscriptions",
                     [&](const std::vector<std::string>& row) { out[row[0]][row[1]] = row[2]; });
    if (!st) return st.error();
    return out;
}

Status BindingStore::set_subscription(const std::string& address, const std::string& sub_id,
                                      const std::string& filters) {
    if (filters.empty())
        return exec("DELETE FROM gateway_subscriptions WHERE project = ? AND sub_id = ?",
                    {address, sub_id});
    return exec(
        "INSERT OR REPLACE INTO gateway_subscriptions(project, sub_id, filters) VALUES (?, ?, ?)",
        {address, sub_id, filters});
}

Status BindingStore::clear_subscriptions(const std::string& address) {
    return exec("DELETE FROM gateway_subscriptions WHERE project = ?", {address});
}

Status BindingStore::exec(const char* sql, std::initializer_list<std::string_view> args) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &st, nullptr) != SQLITE_OK) return sql_error(db_, "write");
    int i = 0;
    for (auto a : args)
        sqlite3_bind_text(st, ++i, a.data(), static_cast<int>(a.size()), SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return sql_error(db_, "write");
    return Unit{};
}

Result<std::map<std::string, std::string>> BindingStore::read_pairs(const char* sql) const {
    std::map<std::string, std::string> out;
    auto st = for_each_row(
        sql, [&](const std::vector<std::string>& row) { out.emplace(row[0], row[1]); });
    if (!st) return st.error();
    return out;
}

Status BindingStore::for_each_row(
    const char* sql, const std::function<void(const std::vector<std::string>&)>& fn) const {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &st, nullptr) != SQLITE_OK) return sql_error(db_, "read");
    std::vector<std::string> row(static_cast<std::size_t>(sqlite3_column_count(st)));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (std::size_t i = 0; i < row.size(); ++i) {
            auto* p = sqlite3_column_text(st, static_cast<int>(i));
            row[i] =
                p ? std::string(
                        reinterpret_cast<const char*>(p),
                        static_cast<std::size_t>(sqlite3_column_bytes(st, static_cast<int>(i))))
                  : std::string();
        }
        fn(row);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return sql_error(db_, "read");
    return Unit{};
}

Status BindingStore::bind(const std::string& pubkey, const std::string& address, std::int64_t at) {
    return exec(
        "INSERT OR IGNORE INTO gateway_key_bindings(pubkey, project, bound_at) VALUES (?, ?, ?)",
        {pubkey, address, std::to_string(at)});
}

}  // namespace tenex::gateway
