// `realtime-pm backup`: an online copy of a server's SQLite database.
#pragma once

#include <CLI/CLI.hpp>

namespace rtpm::apps {

/// Registers the `backup` subcommand on `app`. Its callback copies
/// DATA/realtime-pm.db to OUT with SQLite's online backup API, safely while a
/// server writes to it (the copy is the database as of one moment: every step
/// committed before it, none half), checks the copy with
/// `PRAGMA integrity_check`, and only then renames it to OUT, so OUT is
/// always either the previous file or a complete, checked copy. Exits the
/// process with 0 on success and 1 on failure (with a message on stderr).
void add_backup_command(CLI::App& app);

}  // namespace rtpm::apps
