#include "nostr/key_file.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace tenex::nostr {

Result<Keys> load_key_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) return make_error("cannot read key file " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    auto sk = SecretKey::parse(text);
    std::fill(text.begin(), text.end(), '\0');  // the secret does not linger in freed memory
    if (!sk) return make_error("key file " + path + ": " + sk.error().message);
    return Keys(*sk);
}

}  // namespace tenex::nostr
