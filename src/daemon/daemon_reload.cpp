// SIGHUP: the policies and the configuration (whitelist, relays) read again and applied on
// the daemon thread; the policy loading start-up shares.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "daemon/daemon_internal.hpp"

namespace tenex::daemon {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Policies must load without errors: a broken override silently left out could run a
// project with weaker limits than the operator wrote.
Result<sandbox::PolicySet> load_policies(const fs::path& dir) {
    auto loaded = sandbox::load_policy_dir(dir);
    std::string errors;
    for (const auto& d : loaded.diagnostics) {
        if (d.severity == sandbox::Severity::error)
            errors += "\n  " + sandbox::format_diagnostic(d);
        else
            spdlog::warn("policy: {}", sandbox::format_diagnostic(d));
    }
    if (!errors.empty())
        return make_error("policies in " + dir.string() + " have errors:" + errors);
    return std::move(loaded.set);
}

// ---------------------------------------------------------------------------------------------
// SIGHUP

void Daemon::Impl::reload() {
    notifier.reloading();
    if (auto set = load_policies(config.policies_dir); set) {
        policies.store(std::make_shared<const sandbox::PolicySet>(std::move(*set)));
        spdlog::info("reload: policies from {}", config.policies_dir.string());
    } else {
        spdlog::error("reload: keeping the previous policies: {}", set.error().message);
    }
    reload_config();
    // Running projects pick up the new policies and relays (a container whose spec changed is
    // replaced now where its policy says immediately, else at its next trigger).
    orchestrator->policies_changed();
    last_status = status_summary(static_cast<int>(running_projects().size()));
    notifier.ready(last_status);
}

// The whitelisted owners and the daemon itself never write through a project's gateway.
void Daemon::Impl::set_gateway_reserved_keys() {
    if (!gateway) return;
    std::set<std::string> reserved(config.whitelist.begin(), config.whitelist.end());
    reserved.insert(keys->pub.hex());
    gateway->set_reserved_keys(std::move(reserved));
}

void Daemon::Impl::reload_config() {
    if (!reloader) return;
    auto fresh = reloader();
    if (!fresh) {
        for (const auto& d : fresh.error())
            spdlog::error("reload: {}", sandbox::format_diagnostic(d));
        spdlog::error("reload: configuration has errors; keeping the running one");
        return;
    }
    if (auto diags = validate_config(*fresh); sandbox::has_errors(diags)) {
        for (const auto& d : diags) spdlog::error("reload: {}", sandbox::format_diagnostic(d));
        return;
    }
    // Removed relays first: a URL written differently but meaning the same relay is re-added.
    for (const auto& url : config.relays) {
        if (std::find(fresh->relays.begin(), fresh->relays.end(), url) != fresh->relays.end())
            continue;
        if (embedded && url == embedded->url()) continue;  // the embedded relay stays
        if (auto removed = pool->remove_relay(url); removed) {
            std::erase(relay_urls, url);
            spdlog::info("reload: removed relay {}", url);
        } else {
            spdlog::error("reload: relay {}: {}", url, removed.error().message);
        }
    }
    for (const auto& url : fresh->relays) {
        if (std::find(relay_urls.begin(), relay_urls.end(), url) != relay_urls.end()) continue;
        if (auto added = pool->add_relay(url); added) {
            relay_urls.push_back(url);
            spdlog::info("reload: added relay {}", url);
        } else {
            spdlog::error("reload: relay {}: {}", url, added.error().message);
        }
    }
    orchestrator->set_relays(relay_urls);
    config.relays = fresh->relays;
    config.whitelist = fresh->whitelist;
    monitor->set_whitelist(config.whitelist);
    set_gateway_reserved_keys();
    subscribe();
    spdlog::info("reload: {} whitelisted pubkeys, {} relays", config.whitelist.size(),
                 relay_urls.size());
}

void Daemon::request_reload() {
    if (impl_->inbox) (void)impl_->post(Impl::ReloadRequested{});
}

}  // namespace tenex::daemon
