#include "frame_pusher.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <string_view>

namespace tenex::bench {
namespace {

// A server-to-client websocket frame: FIN + text, unmasked.
std::string text_frame(std::string_view payload) {
    std::string f(1, static_cast<char>(0x81));
    const std::uint64_t n = payload.size();
    if (n < 126) {
        f.push_back(static_cast<char>(n));
    } else if (n < 65536) {
        f.push_back(126);
        f.push_back(static_cast<char>(n >> 8));
        f.push_back(static_cast<char>(n & 0xff));
    } else {
        f.push_back(127);
        for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    }
    f.append(payload);
    return f;
}

std::string accept_key(const std::string& key) {
    const std::string s = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(s.data()), s.size(), md);
    unsigned char out[64];
    const int n = EVP_EncodeBlock(out, md, SHA_DIGEST_LENGTH);
    return std::string(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
}

bool write_all(int fd, const char* p, std::size_t n) {
    while (n > 0) {
        const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return false;
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

bool fill(int fd, std::string& in) {
    char buf[65536];
    const ssize_t r = ::read(fd, buf, sizeof buf);
    if (r <= 0) return false;
    in.append(buf, static_cast<std::size_t>(r));
    return true;
}

// The next client frame (always masked): opcode and unmasked payload.
bool read_frame(int fd, std::string& in, int& opcode, std::string& payload) {
    while (true) {
        if (in.size() >= 2) {
            const auto b1 = static_cast<unsigned char>(in[1]);
            std::size_t len = b1 & 0x7f, head = 2;
            if (len == 126) head = 4;
            if (len == 127) head = 10;
            if (in.size() >= head + 4) {
                if (len >= 126) {
                    len = 0;
                    for (std::size_t i = 2; i < head; ++i)
                        len = (len << 8) | static_cast<unsigned char>(in[i]);
                }
                if (in.size() >= head + 4 + len) {
                    opcode = static_cast<unsigned char>(in[0]) & 0x0f;
                    payload.assign(in, head + 4, len);
                    for (std::size_t i = 0; i < len; ++i) payload[i] ^= in[head + (i % 4)];
                    in.erase(0, head + 4 + len);
                    return true;
                }
            }
        }
        if (!fill(fd, in)) return false;
    }
}

}  // namespace

FramePusher::FramePusher(const std::vector<std::string>& event_jsons, const std::string& sub_id)
    : sub_id_(sub_id) {
    for (const auto& e : event_jsons)
        frames_ += text_frame("[\"EVENT\",\"" + sub_id + "\"," + e + "]");
    frames_ += text_frame("[\"EOSE\",\"" + sub_id + "\"]");
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listen_fd_, 64) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        throw std::runtime_error("frame pusher: cannot listen on 127.0.0.1");
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
}

FramePusher::~FramePusher() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    ::close(listen_fd_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    for (auto& t : connections_) t.join();
    for (int fd : fds_) ::close(fd);
}

void FramePusher::accept_loop() {
    while (!stopping_) {
        const int fd = ::accept(listen_fd_, nullptr, nullptr);
        if (fd < 0) {
            if (stopping_) return;
            continue;
        }
        fds_.push_back(fd);
        connections_.emplace_back([this, fd] { serve(fd); });
    }
}

void FramePusher::serve(int fd) {
    std::string in;
    std::size_t end;
    while ((end = in.find("\r\n\r\n")) == std::string::npos)
        if (!fill(fd, in)) return;
    const std::string head = in.substr(0, end);
    in.erase(0, end + 4);
    std::string key;
    for (std::string_view name : {"Sec-WebSocket-Key:", "sec-websocket-key:"}) {
        auto k = head.find(name);
        if (k == std::string::npos) continue;
        auto v = head.find_first_not_of(' ', k + name.size());
        key = head.substr(v, head.find("\r\n", v) - v);
    }
    const std::string reply =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
        accept_key(key) + "\r\n\r\n";
    if (!write_all(fd, reply.data(), reply.size())) return;
    const std::string req = "[\"REQ\",\"" + sub_id_ + "\"";
    int opcode = 0;
    std::string payload;
    while (read_frame(fd, in, opcode, payload)) {
        if (opcode == 8) return;  // close
        if (opcode == 9) {        // ping: pong with the same payload (short)
            std::string pong(1, static_cast<char>(0x8a));
            pong.push_back(static_cast<char>(payload.size()));
            pong += payload;
            if (!write_all(fd, pong.data(), pong.size())) return;
        }
        if (opcode == 1 && payload.rfind(req, 0) == 0 &&
            !write_all(fd, frames_.data(), frames_.size()))
            return;
    }
}

}  // namespace tenex::bench
