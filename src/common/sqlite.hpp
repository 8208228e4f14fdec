// SQLite, the one way the project uses it: a connection and prepared statements with errors as
// Results that name the store ("state store: write cursor: database is locked"). Used by the
// daemon's state store, the gateway's bindings and the embedded relay's event store.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace tenex::sqlite {

// One connection, closed on destruction.
class Database {
  public:
    // path: a file, created if needed, in WAL mode with synchronous=NORMAL (a committed
    // transaction survives a kill -9; only an OS crash may lose the last ones) and a 5 s busy
    // timeout; empty: a private in-memory database. owner starts every error message.
    static Result<Database> open(const std::string& path, std::string owner);

    Database(Database&& other) noexcept;
    Database& operator=(Database&& other) noexcept;
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;
    ~Database();

    // Runs SQL text without parameters (several statements are fine).
    Status exec(const char* sql);
    // Rows changed by the last INSERT, UPDATE or DELETE.
    std::int64_t changes() const;
    // "<owner>: <what>: <SQLite's last error>".
    Error error(std::string_view what) const;
    sqlite3* handle() const { return db_; }

  private:
    Database(sqlite3* db, std::string owner) : db_(db), owner_(std::move(owner)) {}
    sqlite3* db_{nullptr};
    std::string owner_{};
};

enum class Step { row, done, failed };

// A prepared statement, finalized on destruction. Parameters are bound in order with bind()
// (text is copied); after run(), or reset() once its rows are read, it binds and runs again.
class Statement {
  public:
    // A statement that does not prepare fails its first step, and error() says why.
    Statement(const Database& db, const char* sql);
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    ~Statement();

    Statement& bind(std::string_view value);
    Statement& bind(std::int64_t value);
    Step step();
    // Steps to the end (a statement without rows), then resets: error(what) if it failed.
    Status run(std::string_view what);
    // Ready for new parameters; the bound values are cleared.
    void reset();

    int columns() const;  // of its rows
    std::int64_t int64(int column) const;
    std::string text(int column) const;
    // The column's text until the next step() or reset().
    std::string_view text_view(int column) const;

    Error error(std::string_view what) const { return db_->error(what); }

  private:
    const Database* db_;
    sqlite3_stmt* stmt_{nullptr};
    int index_{0};
};

}  // namespace tenex::sqlite
