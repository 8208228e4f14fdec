#include "common/sqlite.hpp"

#include <sqlite3.h>

#include <utility>

namespace tenex::sqlite {

Result<Database> Database::open(const std::string& path, std::string owner) {
    sqlite3* db = nullptr;
    const std::string name = path.empty() ? ":memory:" : path;
    const int rc =
        sqlite3_open_v2(name.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        sqlite3_close(db);
        return make_error(owner + ": cannot open " + name + ": " + msg);
    }
    Database d(db, std::move(owner));
    sqlite3_busy_timeout(db, 5000);
    if (!path.empty())
        if (auto s = d.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL"); !s)
            return make_error(d.owner_ + ": cannot prepare " + name + ": " + s.error().message);
    return d;
}

Database::Database(Database&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), owner_(std::move(other.owner_)) {}

Database& Database::operator=(Database&& other) noexcept {
    if (this != &other) {
        sqlite3_close(db_);
        db_ = std::exchange(other.db_, nullptr);
        owner_ = std::move(other.owner_);
    }
    return *this;
}

Database::~Database() {
    sqlite3_close(db_);  // null is a no-op
}

Status Database::exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) == SQLITE_OK) return Unit{};
    std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    return make_error(owner_ + ": " + msg);
}

std::int64_t Database::changes() const {
    return sqlite3_changes(db_);
}

Error Database::error(std::string_view what) const {
    return make_error(owner_ + ": " + std::string(what) + ": " + sqlite3_errmsg(db_));
}

Statement::Statement(const Database& db, const char* sql) : db_(&db) {
    sqlite3_prepare_v2(db.handle(), sql, -1, &stmt_, nullptr);
}

Statement::~Statement() {
    sqlite3_finalize(stmt_);  // null is a no-op
}

Statement& Statement::bind(std::string_view value) {
    sqlite3_bind_text(stmt_, ++index_, value.data(), static_cast<int>(value.size()),
                      SQLITE_TRANSIENT);
    return *this;
}

Statement& Statement::bind(std::int64_t value) {
    sqlite3_bind_int64(stmt_, ++index_, value);
    return *this;
}

Step Statement::step() {
    if (!stmt_) return Step::failed;
    switch (sqlite3_step(stmt_)) {
        case SQLITE_ROW:
            return Step::row;
        case SQLITE_DONE:
            return Step::done;
        default:
            return Step::failed;
    }
}

Status Statement::run(std::string_view what) {
    const Step s = step();
    Status out = Unit{};
    if (s != Step::done) out = error(what);  // before reset, which may change the message
    reset();
    return out;
}

void Statement::reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    index_ = 0;
}

int Statement::columns() const {
    return sqlite3_column_count(stmt_);
}

std::int64_t Statement::int64(int column) const {
    return sqlite3_column_int64(stmt_, column);
}

std::string Statement::text(int column) const {
    return std::string(text_view(column));
}

std::string_view Statement::text_view(int column) const {
    const auto* p = sqlite3_column_text(stmt_, column);
    if (!p) return {};
    return {reinterpret_cast<const char*>(p),
            static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column))};
}

}  // namespace tenex::sqlite
