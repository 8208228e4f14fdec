// The attack suite's summary: inputs tried and refused, whether the daemon was alive at the
// end of each test, and the daemon's peak threads, open descriptors and RSS (sampled from
// /proc while the tests run). CTest runs each test in its own process: each appends one line
// to $TENEX_ATTACK_SUMMARY, and the suite's last test (summary.awk) adds them up and prints
// the one summary.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace tenex::attack {

class Summary : public ::testing::Environment {
  public:
    void tried(int n = 1) { tried_ += n; }
    void refused(int n = 1) { refused_ += n; }
    void daemon_alive(bool alive) { (alive ? alive_ : dead_) += 1; }

    // Reads Threads and VmRSS from /proc/<pid>/status and counts /proc/<pid>/fd.
    void sample(pid_t pid) {
        const std::string base = "/proc/" + std::to_string(pid);
        std::ifstream status(base + "/status");
        for (std::string line; std::getline(status, line);) {
            if (line.rfind("Threads:", 0) == 0) raise(peak_threads_, std::stol(line.substr(8)));
            if (line.rfind("VmRSS:", 0) == 0) raise(peak_rss_kib_, std::stol(line.substr(6)));
        }
        std::error_code ec;
        long fds = 0;
        for (auto it = std::filesystem::directory_iterator(base + "/fd", ec);
             !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
            ++fds;
        raise(peak_fds_, fds);
    }

    // Fields: tried refused alive dead peak_threads peak_fds peak_rss_kib
    void TearDown() override {
        char line[256];
        std::snprintf(line, sizeof line, "%ld %ld %ld %ld %ld %ld %ld\n", tried_.load(),
                      refused_.load(), alive_.load(), dead_.load(), peak_threads_.load(),
                      peak_fds_.load(), peak_rss_kib_.load());
        std::printf("attack record: %s", line);
        if (const char* file = std::getenv("TENEX_ATTACK_SUMMARY"))
            if (std::FILE* f = std::fopen(file, "a")) {
                std::fputs(line, f);
                std::fclose(f);
            }
    }

  private:
    static void raise(std::atomic<long>& peak, long v) {
        long cur = peak.load();
        while (v > cur && !peak.compare_exchange_weak(cur, v)) {
        }
    }
    std::atomic<long> tried_{0}, refused_{0}, alive_{0}, dead_{0};
    std::atomic<long> peak_threads_{0}, peak_fds_{0}, peak_rss_kib_{0};
};

// The one instance, registered with GoogleTest on first use (before RUN_ALL_TESTS ends).
inline Summary& summary() {
    static Summary* s = static_cast<Summary*>(::testing::AddGlobalTestEnvironment(new Summary));
    return *s;
}

}  // namespace tenex::attack
