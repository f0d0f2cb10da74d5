// `realtime-pm serve`: runs the collaboration server.
#pragma once

#include <CLI/CLI.hpp>

namespace rtpm::apps {

/// Registers the `serve` subcommand on `app`; its callback runs the server
/// until SIGINT or SIGTERM and exits the process with the server's status.
void add_serve_command(CLI::App& app);

}  // namespace rtpm::apps
