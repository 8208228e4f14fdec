// The daemon-facing entry point: ensure_workspace behind a SingleFlight keyed by the project
// address ("31933:<owner>:<d>"), so triggers that arrive during a slow clone wait for the one
// initialization in progress, and a failed one is retried on a later trigger after a backoff.
// Thread-safe; blocking (call it from a worker).
#pragma once

#include "project/single_flight.hpp"
#include "project/workspace.hpp"

#include <string>

namespace tenex::project {

class WorkspaceManager {
  public:
    WorkspaceManager(WorkspaceConfig config, KeyGenerator generate_key, BackoffPolicy backoff = {});

    Result<WorkspaceResult> ensure(const ProjectDefinition& project,
                                   const std::vector<AgentDefinition>& agents,
                                   const std::vector<McpTool>& tools);

    // Consecutive failed initializations of the project at `address`.
    int failures(const std::string& address) const { return flight_.failures(address); }

    static std::string address_of(const ProjectDefinition& project);

  private:
    WorkspaceConfig config_;
    KeyGenerator generate_key_;
    SingleFlight<std::string, WorkspaceResult> flight_;
};

}  // namespace tenex::project
