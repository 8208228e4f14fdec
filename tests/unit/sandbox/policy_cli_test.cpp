// Runs the real tenex-sandbox binary: policy check/show/render on the shipped policies and on
// the broken corpus in data/.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "environment.hpp"

namespace tenex::sandbox {
namespace {

namespace fs = std::filesystem;

struct CliRun {
    int exit_code = -1;
    std::string out;  // stdout and stderr
};

std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

CliRun run(const std::string& args, bool merge_stderr = true) {
    const std::string cmd = quote(test::tenex_binary().string()) + " " + args +
                            (merge_stderr ? " 2>&1" : " 2>/dev/null");
    CliRun r;
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) return r;
    std::array<char, 4096> buf{};
    std::size_t n = 0;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
    const int status = pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

const fs::path kData = test::source_dir() / "tests" / "unit" / "sandbox" / "data";
const std::string kOwner = "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e";

std::string policies() {
    return quote((test::source_dir() / "policies").string());
}

void expect_line(const CliRun& r, const std::string& line) {
    EXPECT_NE(r.out.find(line + "\n"), std::string::npos)
        << "missing line: " << line << "\n--- output:\n"
        << r.out;
}

TEST(PolicyCli, CheckAcceptsTheShippedPolicies) {
    ASSERT_TRUE(fs::exists(test::tenex_binary())) << test::tenex_binary();
    CliRun dir = run("policy check --policies " + policies());
    EXPECT_EQ(dir.exit_code, 0) << dir.out;
    EXPECT_EQ(dir.out, "ok: 3 policy files valid\n");
    const fs::path p = test::source_dir() / "policies";
    CliRun files =
        run("policy check " + quote((p / "default.yaml").string()) + " " +
            quote((p / "strict.yaml").string()) + " " + quote((p / "networked.yaml").string()));
    EXPECT_EQ(files.exit_code, 0) << files.out;
}

TEST(PolicyCli, CheckReportsEveryForbiddenSettingPrecisely) {
    const std::string f = (kData / "broken" / "forbidden.yaml").string();
    CliRun r = run("policy check " + quote(f));
    EXPECT_EQ(r.exit_code, 1);
    expect_line(
        r, f + ":3:3: security.privileged: forbidden: privileged containers are never allowed");
    expect_line(r, f + ":4:20: security.cap_add[1]: forbidden: capability SYS_ADMIN is not in the "
                       "allowlist (CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, NET_BIND_SERVICE, "
                       "SETGID, SETUID)");
    expect_line(r,
                f + ":5:9: security.user: forbidden: sandboxes never run as root (uid 0 or gid 0)");
    expect_line(r, f + ":7:9: network.mode: forbidden: host networking is never allowed");
    expect_line(r, f + ":9:13: mounts[0].source: forbidden: the Docker socket is never mounted "
                       "into a sandbox");
    expect_line(r,
                f + ":11:13: mounts[1].source: forbidden: host path \"/home/operator\" is outside "
                    "the project directory (sources are relative to it)");
    expect_line(r, f + ":13:1: pid: forbidden: sharing the host's PID namespace is never allowed");
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 7) << r.out;
}

TEST(PolicyCli, CheckReportsTyposUnitsAndRanges) {
    const std::string f = (kData / "broken" / "typos_and_units.yaml").string();
    CliRun r = run("policy check " + quote(f));
    EXPECT_EQ(r.exit_code, 1);
    expect_line(r,
                f + ":1:1: imgae: unknown key (known: args, command, env, image, lifecycle, match, "
                    "mounts, network, placement, resources, secrets, security, tenex)");
    expect_line(
        r, f + ":3:11: resources.memory: invalid memory unit \"GB\" in \"2GB\": use Ki, Mi, Gi, "
               "Ti (1024) or k, M, G, T (1000)");
    expect_line(r, f + ":4:9: resources.cpus: invalid CPU count \"lots\": expected a decimal "
                       "number such as 0.5 or 2");
    expect_line(r, f + ":5:9: resources.pids: out of range: 5 (allowed 16..1000000)");
    expect_line(r, f + ":7:17: lifecycle.stop_timeout: invalid duration \"30\": every number needs "
                       "a unit (ms, s, m, h, d)");
    expect_line(r, f + ":8:12: lifecycle.restart: unknown restart mode \"sometimes\" (one of "
                       "never, on-failure, always)");
    expect_line(r, f + ":9:21: lifecycle.on_policy_change: unknown value \"later\" (one of "
                       "next-trigger, immediately)");
}

TEST(PolicyCli, CheckReportsSyntaxErrorsAndMissingFiles) {
    const std::string f = (kData / "broken" / "syntax.yaml").string();
    CliRun r = run("policy check " + quote(f) + " /nonexistent/p.yaml");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.out.find(f + ":4:7: YAML syntax error: end of sequence flow not found"),
              std::string::npos)
        << r.out;
    expect_line(r, "/nonexistent/p.yaml:0:0: cannot read the file");
}

TEST(PolicyCli, CheckOfADirectoryAppliesTheDirectoryRules) {
    const fs::path d = kData / "broken-dir";
    CliRun r = run("policy check --policies " + quote(d.string()));
    EXPECT_EQ(r.exit_code, 1);
    expect_line(
        r, (d / "no-match.yaml").string() +
               ":1:1: match: missing: a policy file other than "
               "default.yaml must say which projects it applies to (match: address, d or owner)");
    expect_line(r, (d / "swap.yaml").string() +
                       ":4:16: resources.memory_swap: memory_swap (memory + "
                       "swap) 512Mi is below memory 1Gi");
}

TEST(PolicyCli, CheckNamesTheSwarmSchedulingKeysOnOneEngineOnly) {
    const fs::path d =
        fs::temp_directory_path() / ("tenex-policy-sched-" + std::to_string(getpid()));
    fs::create_directories(d);
    const std::string file = (d / "default.yaml").string();
    FILE* f = std::fopen(file.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(
        "image: tenex-probe:latest\nnetwork: {mode: open}\nlifecycle: {pause_after: 0s}\n"
        "resources:\n  reservations: {memory: 64Mi}\nplacement:\n  constraints: "
        "[\"node.labels.tier==b\"]\n",
        f);
    std::fclose(f);
    CliRun docker = run("policy check --policies " + quote(d.string()) + " --projects-path " +
                        quote(d.string()));
    EXPECT_EQ(docker.exit_code, 0) << docker.out;
    expect_line(
        docker,
        file +
            ":5:26: resources.reservations.memory: warning: ignored by engine docker: only a "
            "swarm's scheduler places by it (engine swarm)");
    expect_line(docker,
                file +
                    ":7:16: placement.constraints: warning: ignored by engine docker: only a "
                    "swarm's scheduler places by it (engine swarm)");
    CliRun swarm = run("policy check --engine swarm --policies " + quote(d.string()) +
                       " --projects-path " + quote(d.string()));
    EXPECT_EQ(swarm.exit_code, 0) << swarm.out;
    EXPECT_EQ(swarm.out.find("placement"), std::string::npos) << swarm.out;
    EXPECT_EQ(swarm.out.find("reservations"), std::string::npos) << swarm.out;
    fs::remove_all(d);
}

TEST(PolicyCli, ShowPrintsTheMergedPolicyWithProvenance) {
    const fs::path p = test::source_dir() / "policies";
    CliRun r = run("policy show 31933:" + kOwner + ":web --policies " + policies(), false);
    ASSERT_EQ(r.exit_code, 0) << r.out;
    expect_line(r, "project: 31933:" + kOwner + ":web");
    EXPECT_NE(r.out.find("files:   " + (p / "default.yaml").string() + " " +
                         (p / "networked.yaml").string()),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("network.mode: egress"), std::string::npos);
    EXPECT_NE(r.out.find("# " + (p / "networked.yaml").string() + ":20:9\n"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("resources.pids: 512"), std::string::npos);
    EXPECT_NE(r.out.find("(built-in default)"), std::string::npos);
    // The replacement rule, with the line of default.yaml that sets it.
    const auto rule = r.out.find("lifecycle.on_policy_change: next-trigger");
    ASSERT_NE(rule, std::string::npos) << r.out;
    EXPECT_NE(r.out.substr(rule, r.out.find('\n', rule) - rule)
                  .find("# " + (p / "default.yaml").string() + ":33:21"),
              std::string::npos)
        << r.out;

    CliRun strict = run("policy show untrusted-experiment --policies " + policies());
    ASSERT_EQ(strict.exit_code, 0) << strict.out;
    EXPECT_NE(strict.out.find("note: no owner given"), std::string::npos);
    EXPECT_NE(strict.out.find("resources.memory: 512Mi"), std::string::npos);
    EXPECT_NE(strict.out.find((p / "strict.yaml").string()), std::string::npos);
}

TEST(PolicyCli, ShowAndRenderFailOnABrokenDirectoryOrAddress) {
    CliRun r = run("policy show x --policies " + quote((kData / "broken-dir").string()));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.out.find("no-match.yaml:1:1: match: missing"), std::string::npos) << r.out;
    CliRun bad = run("policy render 31933:nothex:x --policies " + policies());
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_NE(bad.out.find("the owner must be 64 hex digits"), std::string::npos) << bad.out;
}

TEST(PolicyCli, RenderPrintsTheCreateRequest) {
    test::TempDir projects;
    CliRun r = run("policy render 31933:" + kOwner + ":web --policies " + policies() +
                       " --projects-path " + quote(projects.path().string()) + " --daemon-id d1",
                   false);
    ASSERT_EQ(r.exit_code, 0) << r.out;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.at("method"), "POST");
    const std::string name = j.at("body").at("Hostname");
    EXPECT_EQ(j.at("path"), "/v1.41/containers/create?name=" + name);
    const auto& body = j.at("body");
    EXPECT_EQ(body.at("Labels").at("tenex.daemon"), "d1");
    EXPECT_EQ(body.at("Labels").at("tenex.project"), "31933:" + kOwner + ":web");
    EXPECT_EQ(body.at("Labels").at("tenex.policy-digest"), j.at("policy_digest"));
    EXPECT_EQ(body.at("HostConfig").at("Memory"), 4LL << 30);  // networked.yaml matches the owner
    EXPECT_EQ(body.at("HostConfig").at("NetworkMode"), j.at("network").at("name"));
    EXPECT_EQ(j.at("network").at("mode"), "egress");
    EXPECT_EQ(body.at("HostConfig")
                  .at("Mounts")[0]
                  .at("Source")
                  .get<std::string>()
                  .rfind(projects.path().string(), 0),
              0u);
    // The naddr placeholder is filled, the secret is not revealed.
    EXPECT_EQ(body.at("Cmd")[1].get<std::string>().rfind("naddr1", 0), 0u);
    const std::string dump = body.dump();
    EXPECT_NE(
        dump.find("ANTHROPIC_API_KEY=<secret from /etc/tenex-sandbox/secrets/anthropic_api_key>"),
        std::string::npos);

    // Deterministic, and --body-only prints just the body.
    CliRun again = run("policy render 31933:" + kOwner + ":web --policies " + policies() +
                           " --projects-path " + quote(projects.path().string()) +
                           " --daemon-id d1 --body-only",
                       false);
    ASSERT_EQ(again.exit_code, 0);
    EXPECT_EQ(nlohmann::json::parse(again.out), body);

    // A project that does not exist anywhere, by bare d: built-in + default policy, no network.
    CliRun bare = run("policy render brand-new --policies " + policies(), false);
    ASSERT_EQ(bare.exit_code, 0) << bare.out;
    const auto b = nlohmann::json::parse(bare.out);
    EXPECT_EQ(b.at("body").at("HostConfig").at("NetworkMode"), "none");
}

}  // namespace
}  // namespace tenex::sandbox
