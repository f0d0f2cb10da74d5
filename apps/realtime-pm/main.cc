// realtime-pm: the command-line entry point; it only wires the subcommands.
//   serve        run the collaboration server
//   load         drive a server with typing clients or idle connections
//   conformance  check the ProseMirror port against JavaScript-made vectors
//   backup       copy a running server's SQLite database
// Each subcommand's callback runs it and exits the process with its status.
#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>

#include "backup.h"
#include "load.h"
#include "serve.h"
#include "token.h"
#include <CLI/CLI.hpp>

#include "rtpm/conformance/runner.h"

namespace {

void add_conformance_command(CLI::App& app) {
  auto options = std::make_shared<rtpm::conformance::RunOptions>();
  CLI::App* cmd = app.add_subcommand(
      "conformance",
      "Run conformance vectors (.jsonl files or folders of them) against the C++ port.\n"
      "Prints a count per kind, the first failures with a diff, and last 'N passed, N failed';\n"
      "exits 1 on any failure, 2 on unreadable input.");
  cmd->add_option("paths", options->paths, "Vector files or folders")->required();
  cmd->add_option("--schemas", options->schemas_dir,
                  "Folder of schema specs (default: schemas/ beside each file)");
  cmd->add_option("--kind", options->kinds, "Only vectors of this kind (repeatable)")
      ->check(CLI::IsMember(rtpm::conformance::supported_kinds()));
  cmd->add_option("--max-failures", options->max_failures_shown, "Failures printed in full")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_flag("--verbose", options->verbose, "List every failing vector");
  cmd->add_option("--save-failures", options->save_failures,
                  "Append the line of every failing vector to this file");
  cmd->callback([options] { std::exit(rtpm::conformance::run(*options, std::cout)); });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "realtime-pm: real-time collaborative editing for ProseMirror and Tiptap documents.\n"
      "A C++ port of prosemirror-model and prosemirror-transform, and a WebSocket server\n"
      "that holds each document, orders every change and shows everyone's cursors."};
  app.set_version_flag("--version", "realtime-pm " RTPM_VERSION);
  app.require_subcommand(1);
  rtpm::apps::add_serve_command(app);
  rtpm::apps::add_load_command(app);
  add_conformance_command(app);
  rtpm::apps::add_backup_command(app);
  rtpm::apps::add_token_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);  // --help and --version land here too, with status 0
  } catch (const std::exception& e) {
    std::cerr << "realtime-pm: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
