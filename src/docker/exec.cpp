#include "docker/exec.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "docker/json_util.hpp"
#include "docker/url.hpp"

namespace tenex::docker {

nlohmann::json exec_create_body(const ExecSpec& spec) {
    nlohmann::json body = {
        {"AttachStdin", spec.attach_stdin},
        {"AttachStdout", true},
        {"AttachStderr", true},
        {"Tty", spec.tty},
        {"Cmd", spec.cmd},
        {"Privileged", false},
    };
    if (!spec.user.empty()) body["User"] = spec.user;
    return body;
}

DResult<std::string> create_exec(const Client& client, const std::string& container,
                                 const ExecSpec& spec) {
    const std::string op = "create exec in container " + container;
    auto r = client.call_json("POST", "/containers/" + url_encode(container) + "/exec", op,
                              exec_create_body(spec));
    if (!r) return std::move(r).error();
    auto id = json::str(*r, "Id");
    if (id.empty()) return DockerError{op, 0, "the engine's answer has no exec Id"};
    return id;
}

DStatus start_exec(const Client& client, const std::string& exec_id, bool tty,
                   const LogDemuxer::FrameFn& on_frame, std::stop_token stop) {
    LogDemuxer demux(on_frame);
    StreamHandlers handlers{.on_open = {}, .on_data = [&](std::string_view chunk) {
                                if (tty) return chunk.empty() || on_frame(LogStream::Stdout, chunk);
                                return demux.feed(chunk);
                            }};
    const nlohmann::json body = {{"Detach", false}, {"Tty", tty}};
    auto r =
        client.stream("POST", "/exec/" + url_encode(exec_id) + "/start", "start exec " + exec_id,
                      handlers, std::move(stop), std::chrono::milliseconds(0), body.dump());
    if (!r) return std::move(r).error();
    return Unit{};
}

ExecAttachment& ExecAttachment::operator=(ExecAttachment&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(o.fd_, -1);
        early_ = std::move(o.early_);
    }
    return *this;
}

ExecAttachment::~ExecAttachment() {
    if (fd_ >= 0) ::close(fd_);
}

DResult<ExecAttachment> attach_exec(const Client& client, const std::string& exec_id, bool tty) {
    const std::string op = "attach exec " + exec_id;
    auto fail = [&](const std::string& why) { return DockerError{op, 0, why}; };
    const std::string& path = client.socket_path();
    sockaddr_un addr{};
    if (path.empty() || path.size() >= sizeof addr.sun_path)
        return fail("an attached exec needs the engine's unix socket");
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    ExecAttachment conn(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), {});
    if (conn.fd() < 0) return fail(std::string("socket: ") + std::strerror(errno));
    if (::connect(conn.fd(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        return fail("connect " + path + ": " + std::strerror(errno));
    const std::string body = nlohmann::json{{"Detach", false}, {"Tty", tty}}.dump();
    const std::string request =
        "POST /v" + client.api_version().to_string() + "/exec/" + url_encode(exec_id) +
        "/start HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
        "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    for (std::size_t sent = 0; sent < request.size();) {
        ssize_t n = ::send(conn.fd(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return fail(std::string("send: ") + std::strerror(errno));
        sent += static_cast<std::size_t>(n);
    }
    // The answer's head, within the client's timeout; what follows it is the exec's output.
    std::string head;
    const auto deadline = std::chrono::steady_clock::now() + client.default_timeout();
    std::size_t end;
    while ((end = head.find("\r\n\r\n")) == std::string::npos) {
        if (head.size() > 16 * 1024) return fail("the engine's answer head is too large");
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd p{conn.fd(), POLLIN, 0};
        int r = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(left.count())) : 0;
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) return fail("no answer from the engine in time");
        char buf[4096];
        ssize_t n = ::recv(conn.fd(), buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return fail("the engine closed the connection before answering");
        head.append(buf, static_cast<std::size_t>(n));
    }
    // "HTTP/1.1 101 UPGRADED": the status is the second word of the first line.
    const auto sp = head.find(' ');
    const int status = sp == std::string::npos ? 0 : std::atoi(head.c_str() + sp + 1);
    if (status != 101 && status != 200) {
        HttpResponse r;
        r.status = status;
        r.body = head.substr(end + 4);
        return http_error(r, op);
    }
    return ExecAttachment(conn.release(), head.substr(end + 4));
}

DStatus resize_exec(const Client& client, const std::string& exec_id, int rows, int cols) {
    auto r = client.call("POST",
                         "/exec/" + url_encode(exec_id) + "/resize?h=" + std::to_string(rows) +
                             "&w=" + std::to_string(cols),
                         "resize exec " + exec_id);
    if (!r) return std::move(r).error();
    return Unit{};
}

Result<ExecState> parse_exec_inspect(std::string_view body) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (!j.is_object()) return make_error("exec inspect: not a JSON object");
    ExecState s;
    s.running = json::boolean(j, "Running");
    s.pid = static_cast<int>(json::i64(j, "Pid"));
    if (auto* code = json::field(j, "ExitCode"); code && code->is_number_integer() && !s.running)
        s.exit_code = code->get<int>();
    return s;
}

DResult<ExecState> inspect_exec(const Client& client, const std::string& exec_id) {
    const std::string op = "inspect exec " + exec_id;
    auto r = client.call("GET", "/exec/" + url_encode(exec_id) + "/json", op);
    if (!r) return std::move(r).error();
    auto s = parse_exec_inspect(r->body);
    if (!s) return DockerError{op, r->status, s.error().message};
    return std::move(s).value();
}

}  // namespace tenex::docker
