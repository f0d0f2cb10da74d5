// The conformance runner: checks the C++ port against test vectors produced
// by the real JavaScript libraries (the JSON Lines format of
// ../shared/conformance/README.md). Used by `realtime-pm conformance` and by
// the conformance test suite.
//
// A vector of a kind the port cannot run counts as failed, never skipped.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "rtpm/base/error.h"
#include "rtpm/json/json.h"
#include "rtpm/model/schema.h"

namespace rtpm::testing {

struct ConformanceOptions {
  /// .jsonl files or folders (every *.jsonl below a folder, sorted).
  std::vector<std::string> paths;
  /// Folder of schema specs; empty = the `schemas/` folder beside each file.
  std::string schemas_dir;
  /// Kinds to run; empty = all.
  std::vector<std::string> kinds;
  /// How many failures are printed in full.
  int max_failures_shown = 10;
  /// Print every failure's id, not only the first ones.
  bool verbose = false;
  /// When set, the line of every failing vector is appended to this file (for
  /// replay); an unreadable file is an input error (exit code 2).
  std::string save_failures;
};

/// Loads schemas by name from one folder and keeps them.
class SchemaCache {
 public:
  explicit SchemaCache(std::string dir) : dir_(std::move(dir)) {}
  /// The schema `name` (from DIR/name.json). Throws std::runtime_error when missing or bad.
  std::shared_ptr<const model::Schema> get(const std::string& name);

 private:
  std::string dir_;
  std::map<std::string, std::shared_ptr<const model::Schema>> schemas_;
};

/// Checks one vector. Returns nullopt when it passes, else a readable
/// description of the failure (with a diff where outputs differ).
std::optional<std::string> check_vector(const json::Value& vector, SchemaCache& schemas);

/// The kinds this build can run.
const std::vector<std::string>& supported_kinds();

/// Runs every vector of the given files; prints a count per kind, the first
/// failures, and last "N passed, N failed". Returns the process exit code:
/// 0 when everything passed, 1 on failures, 2 on unreadable input.
int run_conformance(const ConformanceOptions& options, std::ostream& out);

/// Parses one vector line. Vectors are test input, not messages: they may
/// nest deeper than a message may (the differential fuzzer's --deep vectors).
Result<json::Value> parse_vector(std::string_view line);

/// A readable diff of two JSON texts: both texts, and the first differing offset.
std::string json_diff(const std::string& expected, const std::string& actual);

}  // namespace rtpm::testing
