#include "docker/exec.hpp"

#include "docker/json_util.hpp"
#include "docker/url.hpp"

namespace tenex::docker {

nlohmann::json exec_create_body(const ExecSpec& spec) {
    nlohmann::json body = {
        {"AttachStdin", false},
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
    auto r = client.stream("POST", "/exec/" + url_encode(exec_id) + "/start",
                           "start exec " + exec_id, handlers, std::move(stop),
                           std::chrono::milliseconds(0), body.dump());
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
