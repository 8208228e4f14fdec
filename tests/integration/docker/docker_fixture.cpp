#include "docker_fixture.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "docker/containers.hpp"
#include "docker/images.hpp"
#include "docker/networks.hpp"
#include "environment.hpp"

namespace tenex::docker::test {
namespace {

// The image's build context, staged by CMake after every link of tenex-probe (Dockerfile,
// the dynamically linked program, its shared libraries and loader: images/probe/README.md).
// TENEX_PROBE_CONTEXT in the environment names another build's context instead: the
// ThreadSanitizer run (scripts/test --tsan) points it at build/'s, so that its containers run the
// probe the image ships and not a TSan build of it.
std::filesystem::path probe_context() {
    if (const char* dir = std::getenv("TENEX_PROBE_CONTEXT"); dir != nullptr && *dir != '\0')
        return dir;
#ifdef TENEX_PROBE_CONTEXT
    return TENEX_PROBE_CONTEXT;
#else
    // Targets that only know the binary (<build>/bin/tenex-probe): <build>/images/probe-context.
    return std::filesystem::path(TENEX_PROBE_BINARY).parent_path().parent_path() / "images" /
           "probe-context";
#endif
}

// What the context holds, cheaply: each entry's path, type, size and modification time (lstat),
// in path order. Any relink or restage of the context changes it.
std::string context_fingerprint(const std::filesystem::path& context) {
    std::vector<std::string> lines;
    std::error_code ec;
    for (std::filesystem::recursive_directory_iterator it(context, ec), end; !ec && it != end;
         it.increment(ec)) {
        struct stat st {};
        if (::lstat(it->path().c_str(), &st) != 0) return {};
        std::ostringstream line;
        line << std::filesystem::relative(it->path(), context, ec).generic_string() << ' '
             << st.st_mode << ' ' << st.st_size << ' ' << st.st_mtim.tv_sec << '.'
             << st.st_mtim.tv_nsec;
        lines.push_back(line.str());
    }
    if (ec) return {};
    std::sort(lines.begin(), lines.end());
    std::string out;
    for (const auto& l : lines) out += l + '\n';
    return out;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

DResult<std::string> ensure_probe_image(const Client& client) {
    static std::mutex mu;
    static std::string built;
    std::lock_guard lock(mu);
    if (!built.empty()) return built;
    const auto context = probe_context();
    if (!std::filesystem::exists(context / "Dockerfile") ||
        !std::filesystem::exists(context / "rootfs" / "tenex-probe"))
        return DockerError{
            "build probe image", 0,
            "no staged context in " + context.string() + " (build the tenex-probe target)"};
    // Each test is its own process; sending the 14 MB context for every one costs about 0.7 s,
    // and 6-7 s under ThreadSanitizer (the copies touch fresh shadow memory). A stamp next to the
    // context keeps the image id built from it with the context's fingerprint: when the
    // fingerprint is unchanged and kProbeImage still names that image (another checkout may have
    // built the tag since), the image is the one this context makes, and is used as it is.
    const auto fingerprint = context_fingerprint(context);
    auto stamp = context;
    stamp += ".image-stamp";
    if (!fingerprint.empty()) {
        const auto saved = read_file(stamp);
        const auto nl = saved.find('\n');
        if (nl != std::string::npos && saved.substr(nl + 1) == fingerprint) {
            auto info = inspect_image(client, kProbeImage);
            if (info && info->id == saved.substr(0, nl)) return built = info->id;
        }
    }
    BuildOptions options;
    options.tag = kProbeImage;
    auto id = build_image_from_dir(client, context, options);
    if (!id) return id;
    built = *id;
    if (!fingerprint.empty() && context_fingerprint(context) == fingerprint) {
        // Written whole, then renamed: a concurrent reader sees the old stamp or the new one.
        auto tmp = stamp;
        tmp += "." + std::to_string(getpid());
        {
            std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
            out << built << '\n' << fingerprint;
        }
        std::error_code ec;
        std::filesystem::rename(tmp, stamp, ec);
        if (ec) std::filesystem::remove(tmp, ec);
    }
    return id;
}

const std::string& run_id() {
    static const std::string id = [] {
        std::random_device rd;
        std::ostringstream s;
        s << std::hex << (rd() & 0xffffff) << getpid();
        return s.str();
    }();
    return id;
}

void DockerTest::SetUp() {
    TENEX_REQUIRE_DOCKER();
    auto c = Client::connect();
    ASSERT_TRUE(c) << c.error().describe();
    client_ = std::move(c).value();
    auto image = ensure_probe_image(*client_);
    ASSERT_TRUE(image) << image.error().describe();
}

void DockerTest::TearDown() {
    if (!client_) return;
    for (const auto& id : containers_) {
        auto r = remove_container(*client_, id, true, true);
        if (!r && !r.error().not_found()) ADD_FAILURE() << "cleanup: " << r.error().describe();
    }
    // Anything else this process labelled (a test that failed half-way).
    auto left = list_containers(
        *client_, {.all = true, .labels = {"tenex.test.run=" + run_id()}, .names = {}});
    if (left)
        for (const auto& c : *left) (void)remove_container(*client_, c.id, true, true);
    for (const auto& id : networks_) {
        auto r = remove_network(*client_, id);
        if (!r && !r.error().not_found()) ADD_FAILURE() << "cleanup: " << r.error().describe();
    }
}

std::string DockerTest::unique_name(const std::string& suffix) {
    static std::atomic<int> counter{0};
    return "tenex-test-" + run_id() + "-" + std::to_string(++counter) + "-" + suffix;
}

ContainerSpec DockerTest::probe_spec(const std::string& suffix, std::vector<std::string> args) {
    ContainerSpec spec;
    spec.name = unique_name(suffix);
    spec.image = kProbeImage;
    spec.cmd = std::move(args);
    spec.labels = {{"tenex.test", "1"}, {"tenex.test.run", run_id()}};
    spec.network_mode = "none";
    return spec;
}

std::string DockerTest::create(const ContainerSpec& spec) {
    auto id = create_container(*client_, spec);
    EXPECT_TRUE(id) << id.error().describe();
    if (!id) return {};
    containers_.push_back(*id);
    return *id;
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return pred();
}

}  // namespace tenex::docker::test
