// Routes libwebsockets' own log lines (errors and warnings only) through spdlog, once per
// process; without it lws prints banners and notices on stderr.
#pragma once

namespace tenex::relay {

void quiet_lws_logs();

}  // namespace tenex::relay
