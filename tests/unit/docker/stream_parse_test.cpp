// Demultiplexing of logs, event lines, build output and stats parsing.
#include <gtest/gtest.h>

#include "docker/events.hpp"
#include "docker/images.hpp"
#include "docker/logs.hpp"
#include "docker/stats.hpp"
#include "docker/url.hpp"

namespace tenex::docker {
namespace {

std::string frame(int stream, std::string_view payload) {
    std::string f(8, '\0');
    f[0] = static_cast<char>(stream);
    auto n = payload.size();
    f[4] = static_cast<char>((n >> 24) & 0xff);
    f[5] = static_cast<char>((n >> 16) & 0xff);
    f[6] = static_cast<char>((n >> 8) & 0xff);
    f[7] = static_cast<char>(n & 0xff);
    return f + std::string(payload);
}

struct Collected {
    std::string out, err;
    int frames = 0;
};

TEST(LogDemuxer, SplitsFramesAcrossArbitraryChunks) {
    std::string big(70000, 'x');  // a size that needs three bytes of the length field
    std::string stream = frame(1, "hello\n") + frame(2, "oops\n") + frame(1, big) + frame(2, "");
    for (std::size_t step : {1u, 3u, 7u, 8u, 9u, 4096u, 1u << 20}) {
        Collected c;
        LogDemuxer d([&](LogStream s, std::string_view data) {
            (s == LogStream::Stderr ? c.err : c.out).append(data);
            ++c.frames;
            return true;
        });
        for (std::size_t i = 0; i < stream.size(); i += step)
            ASSERT_TRUE(d.feed(std::string_view(stream).substr(i, step)));
        EXPECT_EQ(c.out, "hello\n" + big) << "step " << step;
        EXPECT_EQ(c.err, "oops\n") << "step " << step;
        EXPECT_EQ(c.frames, 4) << "step " << step;
        EXPECT_EQ(d.pending(), 0u);
    }
}

TEST(LogDemuxer, HoldsAPartialFrameAndStopsOnRequest) {
    int calls = 0;
    LogDemuxer d([&](LogStream, std::string_view) { return ++calls < 1; });
    std::string s = frame(1, "a") + frame(1, "b") + frame(1, "c").substr(0, 5);
    EXPECT_FALSE(d.feed(s));
    EXPECT_EQ(calls, 1);
}

TEST(LogDemuxer, PassesATtyStreamThrough) {
    std::string out;
    LogDemuxer d([&](LogStream s, std::string_view data) {
        EXPECT_EQ(s, LogStream::Stdout);
        out.append(data);
        return true;
    });
    d.feed("plain ");
    d.feed("text\n");
    EXPECT_EQ(out, "plain text\n");
}

TEST(Events, ParsesContainerEvents) {
    auto die = parse_event(
        R"({"status":"die","id":"c1","from":"tenex-probe:latest","Type":"container","Action":"die",)"
        R"("Actor":{"ID":"c1","Attributes":{"exitCode":"3","name":"tenex-x","tenex.test":"1"}},)"
        R"("scope":"local","time":1700000000,"timeNano":1700000000123456789})");
    ASSERT_TRUE(die) << die.error().message;
    EXPECT_EQ(die->kind, EventKind::Die);
    EXPECT_EQ(die->id, "c1");
    EXPECT_EQ(die->exit_code, 3);
    EXPECT_EQ(die->attribute("name"), "tenex-x");
    EXPECT_EQ(die->attribute("tenex.test"), "1");
    EXPECT_EQ(die->time_nano, 1700000000123456789);

    auto oom = parse_event(R"({"Type":"container","Action":"oom","Actor":{"ID":"c2"},"time":5})");
    ASSERT_TRUE(oom);
    EXPECT_EQ(oom->kind, EventKind::Oom);
    EXPECT_FALSE(oom->exit_code);
    EXPECT_EQ(oom->time_nano, 5'000'000'000);
    EXPECT_EQ(parse_event(R"({"Type":"container","Action":"health_status: healthy"})")->kind,
              EventKind::Health);
    EXPECT_EQ(parse_event(R"({"Type":"container","Action":"destroy"})")->kind, EventKind::Destroy);
    EXPECT_EQ(parse_event(R"({"Type":"container","Action":"start"})")->kind, EventKind::Start);
    auto bad_code = parse_event(
        R"({"Type":"container","Action":"die","Actor":{"Attributes":{"exitCode":"x1"}}})");
    ASSERT_TRUE(bad_code);
    EXPECT_FALSE(bad_code->exit_code);
    for (const char* bad :
         {"", "[]", "{}", "{\"Type\":1,\"Action\":\"die\"}", "{\"Type\":\"container\""})
        EXPECT_FALSE(parse_event(bad)) << bad;
}

TEST(Events, QueryEncodesFilters) {
    EventFilter f;
    f.labels = {"tenex.test=1"};
    auto q = events_query(f);
    EXPECT_EQ(q, "?filters=" + url_encode(R"({"label":["tenex.test=1"],"type":["container"]})"));
    EXPECT_EQ(events_query({.types = {}, .labels = {}, .actions = {}}), "");
}

TEST(JsonMessages, KeepsImageIdAndFirstError) {
    std::vector<std::string> lines;
    JsonMessageParser p([&](std::string_view l) { lines.emplace_back(l); });
    std::string s =
        "{\"stream\":\"Step 1/2 : FROM scratch\\n\"}\r\n{\"aux\":{\"ID\":\"sha256:ab\"}}\n"
        "{\"error\":\"COPY failed\",\"errorDetail\":{\"message\":\"COPY failed\"}}\n"
        "{\"error\":\"second\"}\n";
    for (char c : s) p.feed(std::string_view(&c, 1));
    EXPECT_EQ(p.image_id(), "sha256:ab");
    EXPECT_EQ(p.error(), "COPY failed");
    ASSERT_GE(lines.size(), 2u);
    EXPECT_EQ(lines[0], "Step 1/2 : FROM scratch\n");
}

TEST(JsonMessages, PushKeepsTheDigestAndTellsStatesWithoutProgressBars) {
    std::vector<std::string> lines;
    JsonMessageParser p([&](std::string_view l) { lines.emplace_back(l); });
    p.feed(R"({"status":"The push refers to repository [127.0.0.1:5000/tenex-probe]"}
{"status":"Preparing","progressDetail":{},"id":"5f70bf18a086"}
{"status":"Pushing","progressDetail":{"current":512,"total":1024},"progress":"[==>  ] 512B/1kB","id":"5f70bf18a086"}
{"status":"Pushed","progressDetail":{},"id":"5f70bf18a086"}
{"status":"latest: digest: sha256:0123 size: 528"}
{"progressDetail":{},"aux":{"Tag":"latest","Digest":"sha256:0123","Size":528}}
)");
    EXPECT_EQ(p.digest(), "sha256:0123");
    EXPECT_TRUE(p.error().empty());
    EXPECT_EQ(lines, (std::vector<std::string>{
                         "The push refers to repository [127.0.0.1:5000/tenex-probe]\n",
                         "5f70bf18a086: Preparing\n", "5f70bf18a086: Pushed\n",
                         "latest: digest: sha256:0123 size: 528\n"}));
}

TEST(ImageReference, SplitsRepositoryAndTag) {
    auto r = split_image_reference("10.0.0.1:5000/tenex/probe:1.2");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->repository, "10.0.0.1:5000/tenex/probe");
    EXPECT_EQ(r->tag, "1.2");
    r = split_image_reference("10.0.0.1:5000/tenex-probe");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->repository, "10.0.0.1:5000/tenex-probe") << "a port is not a tag";
    EXPECT_EQ(r->tag, "latest");
    r = split_image_reference("tenex-probe:latest");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->repository, "tenex-probe");
    EXPECT_EQ(r->tag, "latest");
    for (const std::string& bad :
         std::vector<std::string>{"", "name@sha256:ab", "name:", ":tag", "host:5000/", "a b",
                                  std::string("a\0b", 3), std::string(2000, 'a')})
        EXPECT_FALSE(split_image_reference(bad)) << bad;
}

TEST(ImageReference, NamesTheImageInARegistry) {
    auto r = registry_reference("tenex-probe:latest", "10.0.0.1:5000");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(*r, "10.0.0.1:5000/tenex-probe:latest");
    r = registry_reference("old.example:443/tenex/runtime", "registry.lan");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(*r, "registry.lan/tenex/runtime:latest")
        << "the image's own registry part is replaced";
    r = registry_reference("tenex/runtime:0.9", "localhost:5000");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(*r, "localhost:5000/tenex/runtime:0.9")
        << "'tenex' is a path component, not a registry";
    EXPECT_FALSE(registry_reference("tenex-probe", "host/evil"));
    EXPECT_FALSE(registry_reference("tenex-probe", ""));
    EXPECT_FALSE(registry_reference("tenex-probe", "host:5000:"));
    EXPECT_FALSE(registry_reference("tenex-probe", "-host"));
    EXPECT_FALSE(registry_reference("bad name", "host:5000"));
}

TEST(Stats, ComputesCpuMemoryAndPids) {
    auto s = parse_stats(R"({
      "cpu_stats": {"cpu_usage": {"total_usage": 300000000}, "system_cpu_usage": 20000000000,
                    "online_cpus": 2},
      "precpu_stats": {"cpu_usage": {"total_usage": 100000000}, "system_cpu_usage": 18000000000},
      "memory_stats": {"usage": 50000000, "limit": 67108864,
                       "stats": {"total_inactive_file": 10000000}},
      "pids_stats": {"current": 7}})");
    ASSERT_TRUE(s);
    EXPECT_DOUBLE_EQ(s->cpu_percent, 0.2e9 / 2e9 * 2 * 100);
    EXPECT_EQ(s->memory_usage, 40000000u);
    EXPECT_EQ(s->memory_limit, 67108864u);
    EXPECT_EQ(s->pids, 7u);
    EXPECT_EQ(s->online_cpus, 2);
    EXPECT_DOUBLE_EQ(s->cpu_seconds, 0.3);  // the container's total, not the delta
    auto v2 = parse_stats(R"({"memory_stats":{"usage":100,"stats":{"inactive_file":30}},
                              "cpu_stats":{"cpu_usage":{"percpu_usage":[1,2,3]}}})");
    ASSERT_TRUE(v2);
    EXPECT_EQ(v2->memory_usage, 70u);
    EXPECT_EQ(v2->online_cpus, 3);
    EXPECT_EQ(v2->cpu_percent, 0.0);  // no previous sample
    EXPECT_FALSE(parse_stats("null"));
}

TEST(UrlEncode, KeepsUnreservedOnly) {
    EXPECT_EQ(url_encode("a-Z_0.9~"), "a-Z_0.9~");
    EXPECT_EQ(url_encode("a b/c?d&e=f"), "a%20b%2Fc%3Fd%26e%3Df");
    EXPECT_EQ(url_encode("\xff"), "%FF");
}

}  // namespace
}  // namespace tenex::docker
