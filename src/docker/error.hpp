#pragma once

#include <string>

#include "common/result.hpp"

namespace tenex::docker {

// One error type for every Engine API call. status is the HTTP status, or 0 when the engine
// could not be reached or did not answer in time (transport failure).
struct DockerError {
    std::string operation;  // e.g. "create container tenex-abc"
    int status = 0;
    std::string message;  // the engine's message, or the transport's

    bool transport() const { return status == 0; }
    bool not_found() const { return status == 404; }
    bool conflict() const { return status == 409; }
    bool not_modified() const { return status == 304; }
    bool server_error() const { return status >= 500; }
    std::string describe() const;
};

template <class T>
using DResult = Result<T, DockerError>;
using DStatus = Result<Unit, DockerError>;

}  // namespace tenex::docker
