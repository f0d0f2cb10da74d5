// The conformance runner: checks the C++ port against test vectors produced
// by the real JavaScript libraries (the JSON Lines format of
// ../shared/conformance/README.md). Used by `realtime-pm conformance`, by the
// whole-set suite (runner_test.cc, CTest `conformance_test`) and by each
// module's tests for the kinds that module implements (check_kind).
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

namespace rtpm::conformance {

struct RunOptions {
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
int run(const RunOptions& options, std::ostream& out);

/// Parses one vector line. Vectors are test input, not messages: they may
/// nest deeper than a message may (the differential fuzzer's --deep vectors).
Result<json::Value> parse_vector(std::string_view line);

/// One line of a vector file.
struct Vector {
  std::string id;                             // the vector's "id", or FILE:LINE when it has none
  std::string kind;                           // the vector's "kind", or "?"
  std::string file;                           // the file's name, without folder
  int line = 0;                               // 1-based
  Result<json::Value> value = json::Value();  // parse_vector of the line
  std::string text;                           // the line itself
};

/// The vectors of one .jsonl file, in order (blank lines skipped). A line
/// that is not JSON is a Vector whose value holds the parse error. Fails
/// when the file cannot be read.
Result<std::vector<Vector>> read_vectors(const std::string& file);

/// What check_kind found.
struct KindReport {
  int total = 0;
  /// One entry per failing vector: "ID (FILE:LINE): why".
  std::vector<std::string> failures;
};

/// Checks every vector of `kind` in every *.jsonl file of `dir` (the shared
/// conformance folder), with the schemas of DIR/schemas: the entry point of
/// the module tests (the model's tests run `check` and `contentexpr`, the
/// transform's the step kinds, collab's `rebase`). An unreadable file or
/// line is a failure.
KindReport check_kind(const std::string& dir, std::string_view kind);

/// A readable diff of two JSON texts: both texts, and the first differing offset.
std::string json_diff(const std::string& expected, const std::string& actual);

}  // namespace rtpm::conformance
