// Where upstream asserts a value with `!` (or reads a property of something
// that may be null) and would fail with a TypeError on null, the port calls
// expect() instead of dereferencing: it throws that TypeError.
#pragma once

#include <optional>

#include "rtpm/base/error.h"

namespace rtpm::transform::internal {

template <typename T>
const T& expect(const std::optional<T>& value) {
  if (!value) throw TypeError("Cannot read properties of null");
  return *value;
}

template <typename T>
const T* expect(const T* value) {
  if (!value) throw TypeError("Cannot read properties of null");
  return value;
}

}  // namespace rtpm::transform::internal
