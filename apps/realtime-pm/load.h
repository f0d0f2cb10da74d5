// `realtime-pm load`: the load tool. Drives any PROTOCOL.md server with
// typing clients that run prosemirror-collab's algorithm on the C++ port, or
// holds idle joined connections, and reports throughput, end-to-end latency
// (timed by content: every typed character is unique while in flight), version
// conflicts, and the server's CPU time and memory (from /proc of --server-pid).
#pragma once

#include <CLI/CLI.hpp>

namespace rtpm::apps {

/// Registers the `load` subcommand on `app`.
void add_load_command(CLI::App& app);

}  // namespace rtpm::apps
