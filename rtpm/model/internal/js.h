// JavaScript value semantics that the model's fromJSON functions rely on:
// truthiness (`if (!json)`) and string conversion (`"Unknown node type: " +
// json.type`). A missing member (nullptr) stands for `undefined`.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <string_view>

#include "rtpm/json/json.h"

namespace rtpm::model::internal {

/// JavaScript's Boolean(value); nullptr is `undefined` (false).
inline bool js_truthy(const json::Value* v) {
  if (!v) return false;
  switch (v->type()) {
    case json::Type::null: return false;
    case json::Type::boolean: return v->as_bool();
    case json::Type::number: return v->as_number() != 0 && v->as_number() == v->as_number();
    case json::Type::string: return !v->as_string().empty();
    default: return true;
  }
}

/// Reads a JSON number that is an integer in int's range into `out`; false
/// for anything else (other numbers included). The port keeps positions and
/// open depths as ints, so fromJSON functions reject the numbers JavaScript
/// would keep as fractional or huge (docs/protocol.md).
inline bool to_int(const json::Value& v, int& out) {
  if (!v.is_number()) return false;
  double d = v.as_number();
  if (!(d >= std::numeric_limits<int>::min() && d <= std::numeric_limits<int>::max())) return false;
  if (std::trunc(d) != d) return false;
  out = static_cast<int>(d);
  return true;
}

/// JavaScript's String(value); nullptr is `undefined`.
inline std::string js_to_string(const json::Value* v) {
  if (!v) return "undefined";
  switch (v->type()) {
    case json::Type::null: return "null";
    case json::Type::boolean: return v->as_bool() ? "true" : "false";
    case json::Type::number: {
      std::string out;
      json::write_number(v->as_number(), out);
      return out;
    }
    case json::Type::string: return v->as_string();
    case json::Type::array: {
      // Array.prototype.join(","): null and undefined become "".
      std::string out;
      bool first = true;
      for (const json::Value& item : v->as_array()) {
        if (!first) out += ',';
        first = false;
        if (!item.is_null()) out += js_to_string(&item);
      }
      return out;
    }
    case json::Type::object: return "[object Object]";
  }
  return "";
}

/// String.prototype.slice(from, to) on UTF-16 text (negative indices count
/// from the end; an empty result when to <= from).
inline std::u16string_view js_slice(std::u16string_view s, int from, int to) {
  int len = static_cast<int>(s.size());
  from = from < 0 ? std::max(len + from, 0) : std::min(from, len);
  to = to < 0 ? std::max(len + to, 0) : std::min(to, len);
  if (to <= from) return {};
  return s.substr(static_cast<size_t>(from), static_cast<size_t>(to - from));
}

}  // namespace rtpm::model::internal
