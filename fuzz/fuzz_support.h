// Shared by the fuzz targets (fuzz/*_fuzz.cc): an invariant check that
// aborts (libFuzzer then keeps the input as a crash), and the built-in
// schemas of the server (rtpm/server/builtin_schemas.cc, compiled into the
// targets that need them), so that no target reads ../shared at run time.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "rtpm/json/json.h"
#include "rtpm/model/schema.h"
#include "rtpm/server/server.h"

namespace rtpm::fuzz {

/// Aborts with `what` when `ok` is false: an invariant of the code under test broke.
inline void check(bool ok, const std::string& what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what.c_str());
  std::abort();
}

/// The built-in schema number `index` modulo 2: 0 basic, 1 tiptap.
inline std::shared_ptr<const model::Schema> builtin_schema(int index) {
  static const std::shared_ptr<const model::Schema> schemas[2] = {
      model::Schema::from_json(*json::parse(server::builtin_schema("basic"))),
      model::Schema::from_json(*json::parse(server::builtin_schema("tiptap")))};
  return schemas[index & 1];
}

/// The built-in schema number `index` modulo 2: 0 basic, 1 tiptap.
inline const model::Schema& builtin(int index) { return *builtin_schema(index); }

}  // namespace rtpm::fuzz
