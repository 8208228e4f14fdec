#include "nostr/json_reader.hpp"

#include "nostr/utf8.hpp"

namespace tenex::nostr {

namespace {
constexpr int kMaxDepth = 64;

void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}
}  // namespace

void JsonReader::skip_ws() {
    while (pos_ < s_.size()) {
        char c = s_[pos_];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return;
        ++pos_;
    }
}

bool JsonReader::consume(char c) {
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == c) {
        ++pos_;
        return true;
    }
    return false;
}

char JsonReader::peek() {
    skip_ws();
    return pos_ < s_.size() ? s_[pos_] : '\0';
}

bool JsonReader::read_hex4(unsigned& out) {
    if (s_.size() - pos_ < 4) return fail("truncated \\u escape");
    out = 0;
    for (int k = 0; k < 4; ++k) {
        char c = s_[pos_++];
        unsigned v;
        if (c >= '0' && c <= '9')
            v = static_cast<unsigned>(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = static_cast<unsigned>(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v = static_cast<unsigned>(c - 'A' + 10);
        else
            return fail("bad \\u escape");
        out = (out << 4) | v;
    }
    return true;
}

bool JsonReader::read_string(std::string& out) {
    out.clear();
    if (!consume('"')) return fail("expected a string");
    const std::size_t n = s_.size();
    while (true) {
        // Copy the run of plain bytes up to the next quote, backslash or control byte.
        std::size_t start = pos_;
        bool ascii = true;
        while (pos_ < n) {
            unsigned char c = static_cast<unsigned char>(s_[pos_]);
            if (c == '"' || c == '\\' || c < 0x20) break;
            if (c >= 0x80) ascii = false;
            ++pos_;
        }
        std::string_view run = s_.substr(start, pos_ - start);
        if (!ascii && !is_valid_utf8(run)) return fail("string is not valid UTF-8");
        out.append(run);
        if (pos_ >= n) return fail("unterminated string");
        char c = s_[pos_++];
        if (c == '"') return true;
        if (c != '\\') return fail("control character in string");
        if (pos_ >= n) return fail("unterminated string");
        char e = s_[pos_++];
        switch (e) {
            case '"':
                out.push_back('"');
                break;
            case '\\':
                out.push_back('\\');
                break;
            case '/':
                out.push_back('/');
                break;
            case 'b':
                out.push_back('\b');
                break;
            case 'f':
                out.push_back('\f');
                break;
            case 'n':
                out.push_back('\n');
                break;
            case 'r':
                out.push_back('\r');
                break;
            case 't':
                out.push_back('\t');
                break;
            case 'u': {
                unsigned cp;
                if (!read_hex4(cp)) return false;
                if (cp >= 0xDC00 && cp <= 0xDFFF) return fail("lone surrogate in string");
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo;
                    if (s_.size() - pos_ < 2 || s_[pos_] != '\\' || s_[pos_ + 1] != 'u')
                        return fail("lone surrogate in string");
                    pos_ += 2;
                    if (!read_hex4(lo)) return false;
                    if (lo < 0xDC00 || lo > 0xDFFF) return fail("lone surrogate in string");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                append_utf8(out, cp);
                break;
            }
            default:
                return fail("bad escape in string");
        }
    }
}

bool JsonReader::read_uint(std::uint64_t max, std::uint64_t& out) {
    skip_ws();
    const std::size_t n = s_.size();
    if (pos_ < n && s_[pos_] == '-') return fail("must not be negative");
    if (pos_ >= n || s_[pos_] < '0' || s_[pos_] > '9') return fail("expected an integer");
    if (s_[pos_] == '0' && pos_ + 1 < n && s_[pos_ + 1] >= '0' && s_[pos_ + 1] <= '9')
        return fail("leading zero in number");
    std::uint64_t v = 0;
    while (pos_ < n && s_[pos_] >= '0' && s_[pos_] <= '9') {
        v = v * 10 + static_cast<std::uint64_t>(s_[pos_] - '0');
        if (v > max) return fail("out of range");
        ++pos_;
    }
    if (pos_ < n && (s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E'))
        return fail("expected an integer");
    out = v;
    return true;
}

bool JsonReader::skip_value(int depth) {
    if (depth > kMaxDepth) return fail("nested too deeply");
    char c = peek();
    const std::size_t n = s_.size();
    if (c == '"') {
        std::string tmp;
        return read_string(tmp);
    }
    if (c == '{' || c == '[') {
        const char close = c == '{' ? '}' : ']';
        ++pos_;
        if (consume(close)) return true;
        do {
            if (c == '{') {
                std::string key;
                if (!read_string(key)) return false;
                if (!consume(':')) return fail("expected ':'");
            }
            if (!skip_value(depth + 1)) return false;
        } while (consume(','));
        return consume(close) ? true : fail("expected ',' or a closing bracket");
    }
    for (std::string_view lit : {"true", "false", "null"}) {
        if (s_.substr(pos_, lit.size()) == lit) {
            pos_ += lit.size();
            return true;
        }
    }
    // number: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
    auto digits = [&] {
        std::size_t st = pos_;
        while (pos_ < n && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
        return pos_ > st;
    };
    if (pos_ < n && s_[pos_] == '-') ++pos_;
    if (pos_ < n && s_[pos_] == '0') {
        ++pos_;
    } else if (!digits()) {
        return fail("unexpected character");
    }
    if (pos_ < n && s_[pos_] == '.') {
        ++pos_;
        if (!digits()) return fail("bad number");
    }
    if (pos_ < n && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
        ++pos_;
        if (pos_ < n && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
        if (!digits()) return fail("bad number");
    }
    return true;
}

}  // namespace tenex::nostr
