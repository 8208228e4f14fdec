#include "gateway/bindings.hpp"

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

}  // namespace

Result<std::unique_ptr<BindingStore>> BindingStore::open(const std::filesystem::path& file) {
    auto db = sqlite::Database::open(file.string(), "key bindings");
    if (!db) return db.error();
    if (auto s = db->exec(kSchema); !s) return s.error();
    return std::unique_ptr<BindingStore>(new BindingStore(std::move(*db)));
}

BindingStore::~BindingStore() = default;

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
    sqlite::Statement st(db_, sql);
    for (auto a : args) st.bind(a);
    return st.run("write");
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
    sqlite::Statement st(db_, sql);
    std::vector<std::string> row;
    sqlite::Step step;
    while ((step = st.step()) == sqlite::Step::row) {
        row.clear();
        for (int i = 0; i < st.columns(); ++i) row.push_back(st.text(i));
        fn(row);
    }
    if (step == sqlite::Step::failed) return st.error("read");
    return Unit{};
}

Status BindingStore::bind(const std::string& pubkey, const std::string& address, std::int64_t at) {
    return exec(
        "INSERT OR IGNORE INTO gateway_key_bindings(pubkey, project, bound_at) VALUES (?, ?, ?)",
        {pubkey, address, std::to_string(at)});
}

}  // namespace tenex::gateway
