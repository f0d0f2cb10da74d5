// A bound on a recursion over untrusted input (nested JSON nodes, content
// expressions): each level holds a DepthGuard on a thread-local counter of
// the caller, and entering a level past the limit throws a RangeError instead
// of growing the C stack further.
#pragma once

#include <string>

#include "rtpm/base/error.h"

namespace rtpm::model::internal {

class DepthGuard {
 public:
  /// Enters one level of the recursion that `depth` counts (a thread_local
  /// of the caller, 0 outside it). Throws RangeError(message()) when the
  /// recursion is already `limit` levels deep; the counter is then unchanged.
  DepthGuard(int& depth, int limit, std::string (*message)()) : depth_(depth) {
    if (depth_ >= limit) throw RangeError(message());
    ++depth_;
  }
  ~DepthGuard() { --depth_; }
  DepthGuard(const DepthGuard&) = delete;
  DepthGuard& operator=(const DepthGuard&) = delete;

 private:
  int& depth_;
};

}  // namespace rtpm::model::internal
