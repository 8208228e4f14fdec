#include "project/clone.hpp"

#include "common/disk_quota.hpp"
#include "project/guarded_stream.hpp"

#include <fcntl.h>
#include <git2.h>
#include <spdlog/spdlog.h>
#include <stdio.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace tenex::project {

namespace fs = std::filesystem;

namespace {

struct Progress {
    detail::GuardContext* ctx{nullptr};
    std::uint64_t max_bytes{0};
};

int on_transfer(const git_indexer_progress* stats, void* payload) {
    auto* p = static_cast<Progress*>(payload);
    if (std::chrono::steady_clock::now() >= p->ctx->deadline) {
        if (p->ctx->failure.empty()) p->ctx->failure = "clone time limit reached";
        return -1;
    }
    if (stats->received_bytes > p->max_bytes) {
        if (p->ctx->failure.empty())
            p->ctx->failure =
                "clone size limit exceeded (" + std::to_string(p->max_bytes) + " bytes)";
        return -1;
    }
    return 0;
}

int on_sideband(const char*, int, void* payload) {
    auto* p = static_cast<Progress*>(payload);
    if (std::chrono::steady_clock::now() >= p->ctx->deadline) {
        if (p->ctx->failure.empty()) p->ctx->failure = "clone time limit reached";
        return -1;
    }
    return 0;
}

int on_checkout_notify(git_checkout_notify_t, const char*, const git_diff_file*,
                       const git_diff_file*, const git_diff_file*, void* payload) {
    auto* p = static_cast<Progress*>(payload);
    if (std::chrono::steady_clock::now() >= p->ctx->deadline) {
        if (p->ctx->failure.empty()) p->ctx->failure = "clone time limit reached during checkout";
        return -1;
    }
    return 0;
}

std::string random_suffix() {
    static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::random_device rd;
    std::string out;
    for (int i = 0; i < 10; ++i) out.push_back(kChars[rd() % (sizeof kChars - 1)]);
    return out;
}

std::string temp_prefix(const fs::path& dest) {
    return "." + dest.filename().string() + ".tmp-";
}

// Removes leftovers of earlier attempts (a crashed daemon) next to dest.
void remove_stale_temps(const fs::path& dest) {
    std::error_code ec;
    const std::string prefix = temp_prefix(dest);
    for (const auto& entry : fs::directory_iterator(dest.parent_path(), ec)) {
        if (entry.path().filename().string().rfind(prefix, 0) == 0) {
            spdlog::info("removing leftover temporary checkout {}", entry.path().string());
            (void)disk::remove_dir(entry.path());  // does not follow symlinks
        }
    }
}

Status check_destination(const fs::path& dest) {
    std::error_code ec;
    if (!fs::is_directory(fs::symlink_status(dest.parent_path(), ec)))
        return make_error("parent of " + dest.string() + " is not a directory");
    if (fs::symlink_status(dest, ec).type() != fs::file_type::not_found)
        return make_error(dest.string() + " already exists");
    return Unit{};
}

Status move_into_place(const fs::path& temp, const fs::path& dest) {
    if (::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, dest.c_str(), RENAME_NOREPLACE) != 0) {
        const int err = errno;
        (void)disk::remove_dir(temp);
        return make_error("cannot move the checkout into " + dest.string() + ": " +
                          std::strerror(err));
    }
    return Unit{};
}

struct TreeTotals {
    git_odb* odb{nullptr};
    std::uint64_t bytes{0};
    std::uint64_t files{0};
    const CloneLimits* limits{nullptr};
    bool exceeded{false};
};

int count_entry(const char*, const git_tree_entry* entry, void* payload) {
    auto* t = static_cast<TreeTotals*>(payload);
    if (git_tree_entry_type(entry) != GIT_OBJECT_BLOB) return 0;
    std::size_t size = 0;
    git_object_t type{};
    if (git_odb_read_header(&size, &type, t->odb, git_tree_entry_id(entry)) != 0) return -1;
    t->bytes += size;
    ++t->files;
    if (t->bytes > t->limits->max_checkout_bytes || t->files > t->limits->max_checkout_files) {
        t->exceeded = true;
        return -1;
    }
    return 0;
}

std::string git_error_text();

// Checks what checking out HEAD would write, then writes it. An empty repository (unborn
// HEAD) has nothing to check out.
Status checked_checkout(git_repository* repo, const CloneLimits& limits, Progress& progress) {
    git_reference* head = nullptr;
    const int rc = git_repository_head(&head, repo);
    if (rc == GIT_EUNBORNBRANCH || rc == GIT_ENOTFOUND) return Unit{};
    if (rc != 0) return make_error("cannot resolve HEAD: " + git_error_text());
    git_commit* commit = nullptr;
    git_tree* tree = nullptr;
    git_odb* odb = nullptr;
    Status result = Unit{};
    if (git_reference_peel(reinterpret_cast<git_object**>(&commit), head, GIT_OBJECT_COMMIT) != 0 ||
        git_commit_tree(&tree, commit) != 0 || git_repository_odb(&odb, repo) != 0) {
        result = make_error("cannot read HEAD's tree: " + git_error_text());
    } else {
        TreeTotals totals{odb, 0, 0, &limits, false};
        if (git_tree_walk(tree, GIT_TREEWALK_PRE, count_entry, &totals) != 0) {
            result = totals.exceeded
                         ? make_error("checkout size limit exceeded (more than " +
                                      std::to_string(limits.max_checkout_bytes) + " bytes or " +
                                      std::to_string(limits.max_checkout_files) + " files)")
                         : make_error("cannot walk HEAD's tree: " + git_error_text());
        } else {
            git_checkout_options co = GIT_CHECKOUT_OPTIONS_INIT;
            co.checkout_strategy = GIT_CHECKOUT_SAFE;
            co.notify_flags = GIT_CHECKOUT_NOTIFY_ALL;
            co.notify_cb = on_checkout_notify;
            co.notify_payload = &progress;
            if (git_checkout_head(repo, &co) != 0)
                result = make_error(progress.ctx->failure.empty()
                                        ? "checkout failed: " + git_error_text()
                                        : progress.ctx->failure);
        }
    }
    git_odb_free(odb);
    git_tree_free(tree);
    git_commit_free(commit);
    git_reference_free(head);
    return result;
}

std::string git_error_text() {
    const git_error* e = git_error_last();
    return e && e->message ? e->message : "unknown libgit2 error";
}

}  // namespace

Status clone_repository(const RepoUrl& url, const RepoPolicy& policy, const CloneLimits& limits,
                        const fs::path& dest) {
    detail::ensure_guarded_stream_registered();
    if (auto st = check_destination(dest); !st) return st;
    remove_stale_temps(dest);
    const fs::path temp = dest.parent_path() / (temp_prefix(dest) + random_suffix());

    detail::GuardContext ctx;
    ctx.policy = &policy;
    ctx.deadline = std::chrono::steady_clock::now() + limits.timeout;
    ctx.max_bytes = limits.max_bytes + (1U << 20);  // wire overhead over the pack size
    Progress progress{&ctx, limits.max_bytes};

    // The checkout's directory made first: a btrfs subvolume on a btrfs projects path (its
    // own qgroup, for resources.disk), renamed into place like any directory.
    if (auto made = disk::create_dir(temp); !made)
        return make_error("clone of " + url.redacted + ": " + made.error().message);

    git_clone_options opts = GIT_CLONE_OPTIONS_INIT;
    opts.fetch_opts.callbacks.transfer_progress = on_transfer;
    opts.fetch_opts.callbacks.sideband_progress = on_sideband;
    opts.fetch_opts.callbacks.payload = &progress;
    opts.fetch_opts.follow_redirects = GIT_REMOTE_REDIRECT_NONE;
    opts.fetch_opts.proxy_opts.type = GIT_PROXY_NONE;
    opts.checkout_opts.checkout_strategy = GIT_CHECKOUT_NONE;  // checked_checkout() below

    const auto started = std::chrono::steady_clock::now();
    git_repository* repo = nullptr;
    int rc = 0;
    {
        detail::GuardScope scope(&ctx);
        rc = git_clone(&repo, url.clone_url.c_str(), temp.c_str(), &opts);
    }
    std::string why;
    if (rc != 0) {
        why = ctx.failure.empty() ? git_error_text() : ctx.failure;
    } else if (auto st = checked_checkout(repo, limits, progress); !st) {
        why = st.error().message;
        rc = -1;
    }
    if (repo) git_repository_free(repo);
    if (rc != 0) {
        (void)disk::remove_dir(temp);
        spdlog::warn("clone of {} failed: {}", url.redacted, why);
        return make_error("clone of " + url.redacted + " failed: " + why);
    }
    if (auto st = move_into_place(temp, dest); !st) return st;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    spdlog::info("cloned {} into {} ({} bytes read, {} ms)", url.redacted, dest.string(),
                 ctx.bytes_read, ms.count());
    return Unit{};
}

Status init_repository(const fs::path& dest) {
    detail::ensure_guarded_stream_registered();
    if (auto st = check_destination(dest); !st) return st;
    remove_stale_temps(dest);
    const fs::path temp = dest.parent_path() / (temp_prefix(dest) + random_suffix());
    if (auto made = disk::create_dir(temp); !made)
        return make_error("git init of " + dest.string() + ": " + made.error().message);
    git_repository* repo = nullptr;
    if (git_repository_init(&repo, temp.c_str(), 0) != 0) {
        const std::string why = git_error_text();
        (void)disk::remove_dir(temp);
        return make_error("git init of " + dest.string() + " failed: " + why);
    }
    git_repository_free(repo);
    if (auto st = move_into_place(temp, dest); !st) return st;
    spdlog::info("initialized an empty repository in {}", dest.string());
    return Unit{};
}

}  // namespace tenex::project
