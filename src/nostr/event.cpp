#include "nostr/event.hpp"

#include <openssl/evp.h>

#include <stdexcept>

#include <nlohmann/json.hpp>

#include "nostr/utf8.hpp"

namespace tenex::nostr {

const Tag* Event::find_tag(std::string_view name) const {
    for (const auto& t : tags)
        if (!t.empty() && t[0] == name) return &t;
    return nullptr;
}

std::optional<std::string_view> Event::tag_value(std::string_view name) const {
    for (const auto& t : tags)
        if (t.size() >= 2 && t[0] == name) return std::string_view(t[1]);
    return std::nullopt;
}

void append_json_string(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    out.push_back('"');
    std::size_t run = 0;  // start of the current verbatim run
    for (std::size_t i = 0; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        out.append(s.data() + run, i - run);
        run = i + 1;
        switch (c) {
            case '"':
                out.append("\\\"");
                break;
            case '\\':
                out.append("\\\\");
                break;
            case '\b':
                out.append("\\b");
                break;
            case '\f':
                out.append("\\f");
                break;
            case '\n':
                out.append("\\n");
                break;
            case '\r':
                out.append("\\r");
                break;
            case '\t':
                out.append("\\t");
                break;
            default: {
                char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0x0f]};
                out.append(esc, 6);
            }
        }
    }
    out.append(s.data() + run, s.size() - run);
    out.push_back('"');
}

namespace {

void append_tags(std::string& out, const std::vector<Tag>& tags) {
    out.push_back('[');
    for (std::size_t i = 0; i < tags.size(); ++i) {
        if (i) out.push_back(',');
        out.push_back('[');
        for (std::size_t j = 0; j < tags[i].size(); ++j) {
            if (j) out.push_back(',');
            append_json_string(out, tags[i][j]);
        }
        out.push_back(']');
    }
    out.push_back(']');
}

// A thread keeps its serialization buffer unless an event made it larger than this.
constexpr std::size_t kMaxKeptBuffer = 256 * 1024;

std::size_t estimate_size(const std::vector<Tag>& tags, std::string_view content) {
    std::size_t n = 128 + content.size();
    for (const auto& t : tags) {
        n += 3;
        for (const auto& v : t) n += v.size() + 3;
    }
    return n;
}

void serialize_for_id_into(std::string& out, std::string_view pubkey_hex, std::int64_t created_at,
                           std::uint32_t kind, const std::vector<Tag>& tags,
                           std::string_view content) {
    out.clear();
    out.reserve(estimate_size(tags, content));
    out.append("[0,");
    append_json_string(out, pubkey_hex);
    out.push_back(',');
    out.append(std::to_string(created_at));
    out.push_back(',');
    out.append(std::to_string(kind));
    out.push_back(',');
    append_tags(out, tags);
    out.push_back(',');
    append_json_string(out, content);
    out.push_back(']');
}

}  // namespace

std::string serialize_for_id(std::string_view pubkey_hex, std::int64_t created_at,
                             std::uint32_t kind, const std::vector<Tag>& tags,
                             std::string_view content) {
    std::string out;
    serialize_for_id_into(out, pubkey_hex, created_at, kind, tags, content);
    return out;
}

std::string serialize_for_id(const Event& e) {
    return serialize_for_id(e.pubkey, e.created_at, e.kind, e.tags, e.content);
}

// The id is computed for every event a relay delivers, so this path avoids the per-call
// costs of OpenSSL 3's one-shot SHA256() (an implicit algorithm fetch and a new digest
// context each time) and of a fresh serialization buffer: each thread keeps its own
// context and buffer. The SHA256 method is fetched once for the process.
Bytes32 compute_id(const Event& event) {
    static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    struct ThreadState {
        EVP_MD_CTX* ctx = EVP_MD_CTX_new();
        std::string buffer;
        ~ThreadState() { EVP_MD_CTX_free(ctx); }
    };
    thread_local ThreadState st;
    serialize_for_id_into(st.buffer, event.pubkey, event.created_at, event.kind, event.tags,
                          event.content);
    Bytes32 id{};
    unsigned int len = 0;
    if (!kSha256 || !st.ctx || EVP_DigestInit_ex(st.ctx, kSha256, nullptr) != 1 ||
        EVP_DigestUpdate(st.ctx, st.buffer.data(), st.buffer.size()) != 1 ||
        EVP_DigestFinal_ex(st.ctx, id.data(), &len) != 1 || len != id.size())
        throw std::runtime_error("OpenSSL cannot compute SHA-256");  // a broken libcrypto
    if (st.buffer.capacity() > kMaxKeptBuffer) std::string().swap(st.buffer);
    return id;
}

std::string compute_id_hex(const Event& event) {
    return to_hex(compute_id(event));
}

std::string to_json(const Event& e) {
    std::string out;
    out.reserve(estimate_size(e.tags, e.content) + 256);
    out.append("{\"id\":");
    append_json_string(out, e.id);
    out.append(",\"pubkey\":");
    append_json_string(out, e.pubkey);
    out.append(",\"created_at\":");
    out.append(std::to_string(e.created_at));
    out.append(",\"kind\":");
    out.append(std::to_string(e.kind));
    out.append(",\"tags\":");
    append_tags(out, e.tags);
    out.append(",\"content\":");
    append_json_string(out, e.content);
    out.append(",\"sig\":");
    append_json_string(out, e.sig);
    out.push_back('}');
    return out;
}

nlohmann::json to_json_value(const Event& e) {
    return nlohmann::json{{"id", e.id},     {"pubkey", e.pubkey}, {"created_at", e.created_at},
                          {"kind", e.kind}, {"tags", e.tags},     {"content", e.content},
                          {"sig", e.sig}};
}

Status validate_event(const Event& e, const ParseLimits& limits) {
    if (!is_lower_hex(e.id, 64))
        return make_error("malformed: id must be 64 lowercase hex characters");
    if (!is_lower_hex(e.pubkey, 64))
        return make_error("malformed: pubkey must be 64 lowercase hex characters");
    if (!is_lower_hex(e.sig, 128))
        return make_error("malformed: sig must be 128 lowercase hex characters");
    if (e.created_at < 0 || e.created_at > kMaxTimestamp)
        return make_error("malformed: created_at must be an integer 0..2^53-1");
    if (e.kind > kMaxKind) return make_error("malformed: kind must be an integer 0..65535");
    if (e.tags.size() > limits.max_tags) return make_error("malformed: too many tags");
    for (const auto& t : e.tags) {
        if (t.size() > limits.max_tag_values)
            return make_error("malformed: tag has too many values");
        for (const auto& v : t)
            if (!is_valid_utf8(v)) return make_error("malformed: tag value is not valid UTF-8");
    }
    if (e.content.size() > limits.max_content) return make_error("malformed: content too large");
    if (!is_valid_utf8(e.content)) return make_error("malformed: content is not valid UTF-8");
    return Unit{};
}

}  // namespace tenex::nostr
