// A small strict JSON reader over a string_view, for the hot paths (event parsing). It reads
// RFC 8259 JSON: strings are unescaped and checked to be valid UTF-8 (lone surrogates are
// rejected), numbers read as non-negative integers where the caller wants one, and any value
// can be skipped with a depth limit. Never throws; each call returns false and sets a reason.
// Public: event parsing (event_parse.cpp) and the relay's message parser (relay/message.cpp)
// both read with it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tenex::nostr {

class JsonReader {
  public:
    explicit JsonReader(std::string_view text) : s_(text) {}

    void skip_ws();
    bool at_end() {
        skip_ws();
        return pos_ >= s_.size();
    }
    // Consumes c (after whitespace) if it is next.
    bool consume(char c);
    // Next non-whitespace character, or '\0' at the end.
    char peek();

    bool read_string(std::string& out);
    // A JSON number that must be a non-negative integer <= max.
    bool read_uint(std::uint64_t max, std::uint64_t& out);
    bool skip_value(int depth = 0);

    // Offset of the next unread byte (lets a caller slice out a value it skipped).
    std::size_t pos() const { return pos_; }
    const std::string& error() const { return error_; }
    bool fail(std::string reason) {
        if (error_.empty()) error_ = std::move(reason);
        return false;
    }

  private:
    bool read_hex4(unsigned& out);

    std::string_view s_;
    std::size_t pos_ = 0;
    std::string error_;
};

}  // namespace tenex::nostr
