#include "hostnet/network_plan.hpp"

namespace tenex::hostnet {

std::string to_string(NetworkMode m) {
    switch (m) {
        case NetworkMode::none:
            return "none";
        case NetworkMode::isolated:
            return "isolated";
        case NetworkMode::egress:
            return "egress";
        case NetworkMode::open:
            return "open";
    }
    return "none";
}

}  // namespace tenex::hostnet
