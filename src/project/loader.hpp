// ProjectLoader: from a project address to a ready workspace, for the daemon's workers.
// load(): fetch the newest kind 31933 event at the address and its agent (4199) and MCP
// (4200) definitions through the relay pool (project_fetch.hpp), WorkspaceManager::ensure
// (single flight per address, backoff after failures), then queue the installed agents'
// kind 0 profiles that changed on the ProfilePublisher (throttled, one thread for all
// projects). Thread-safe; blocking. The pool and the manager must outlive the loader.
#pragma once

#include "common/result.hpp"
#include "nostr/address.hpp"
#include "project/profile_publisher.hpp"
#include "project/project_fetch.hpp"
#include "project/workspace_manager.hpp"
#include "relay/pool.hpp"

#include <chrono>
#include <memory>

namespace tenex::project {

struct LoaderOptions {
    std::chrono::milliseconds fetch_timeout{10000};  // per fetch (project, then definitions)
    double profiles_per_second{2};                   // across all projects; <= 0 means 2
    bool publish_profiles{true};
    std::chrono::milliseconds publish_timeout{5000};  // per profile, waiting for relays' OK
};

class ProjectLoader {
  public:
    ProjectLoader(relay::RelayPool& pool, WorkspaceManager& workspaces, LoaderOptions options = {});
    ~ProjectLoader();  // stops the profile publisher (pending profiles are dropped, logged)
    ProjectLoader(const ProjectLoader&) = delete;
    ProjectLoader& operator=(const ProjectLoader&) = delete;

    // Blocking, thread-safe: fetch the newest project event at `address` + its agents and
    // MCP tools, WorkspaceManager::ensure, then queue changed kind-0 profiles. Errors say
    // what failed and for which address.
    Result<WorkspaceResult> load(const nostr::Address& address);

    // The publisher (tests and the daemon's shutdown/metrics); null without publish_profiles.
    ProfilePublisher* profiles() { return publisher_.get(); }

  private:
    std::vector<std::string> read_relays() const;

    relay::RelayPool& pool_;
    WorkspaceManager& workspaces_;
    LoaderOptions options_;
    FetchFn fetch_;
    std::unique_ptr<ProfilePublisher> publisher_;
};

// RelayPool::fetch / publish as the FetchFn / PublishFn of this module.
FetchFn pool_fetch(relay::RelayPool& pool);
PublishFn pool_publish(relay::RelayPool& pool, std::chrono::milliseconds timeout);

}  // namespace tenex::project
