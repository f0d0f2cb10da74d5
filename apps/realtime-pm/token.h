// `realtime-pm token`: an HS256 JSON Web Token for development and scripts (docs/security.md).
#pragma once

#include <CLI/CLI.hpp>

namespace rtpm::apps {

/// Registers the `token` subcommand on `app`. Its callback prints one token signed with the
/// secret of --jwt-secret-file (the file `serve --jwt-secret-file` reads, newline handling
/// included), with `sub`, `rooms` (each --room PATTERN=read|write), `exp` (--expires-in
/// seconds from now; 0 = none), and optionally `jti`, `iss`, `aud`. Exits 0, or 1 with a
/// message on stderr (unreadable secret, bad --room, sub not a valid userId).
void add_token_command(CLI::App& app);

}  // namespace rtpm::apps
