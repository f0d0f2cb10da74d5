// Helpers for the step classes' fromJSON functions: JavaScript's
// `typeof json.x == "number"` checks on positions, and `json.x` lookups
// where a missing member is `undefined`.
#pragma once

#include <string_view>

#include "rtpm/json/json.h"
#include "rtpm/model/internal/js.h"

namespace rtpm::transform::internal {

/// A member of `json`, or the null value when absent (for fromJSON functions
/// that treat undefined and null alike, such as Slice.fromJSON).
inline const json::Value& member_or_null(const json::Value& json, std::string_view key) {
  static const json::Value kNull;
  const json::Value* v = json.find(key);
  return v ? *v : kNull;
}

/// Reads the position `json[key]` into `out`. False unless it is a number
/// (upstream's `typeof json[key] == "number"`).
/// Port note: positions are `int` here, so a non-integer or a number outside
/// int's range is rejected as well (false), where JavaScript would accept it
/// and fail later, or produce nonsense.
inline bool read_position(const json::Value& json, std::string_view key, int& out) {
  const json::Value* v = json.find(key);
  return v && model::internal::to_int(*v, out);
}

}  // namespace rtpm::transform::internal
