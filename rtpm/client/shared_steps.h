// SharedSteps: for a process that runs many clients of the same rooms (the
// load tool, tests with many clients), the steps that every client of a room
// receives are parsed and applied once instead of once per client.
//
// A room's history is the same for every client: the steps from version v to
// v + n are the same steps whichever message brought them, and applied to the
// document at version v they give the same document. So a client whose
// document is the confirmed one (no unconfirmed steps) and that receives
// steps made by others takes the transform another client computed for the
// same range, and a client with unconfirmed steps takes at least their parsed
// form. (../shared/bench/loadgen does the same with its parse and document
// caches.) A client without a SharedSteps computes everything itself, as
// before; the result is the same.
//
// Frames too: a message that several clients receive byte for byte (a
// broadcast) is decoded once (decoded()).
//
// Bounded: the most recent `capacity` ranges and frames are kept. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "rtpm/base/error.h"
#include "rtpm/protocol/server_messages.h"
#include "rtpm/transform/step.h"
#include "rtpm/transform/transform.h"

namespace rtpm::client {

class SharedSteps {
 public:
  /// Steps from `version` on, as parsed, and the transform that applied them
  /// to the document at `version` (null when only the parse is known).
  struct Range {
    std::vector<transform::StepPtr> steps;
    std::shared_ptr<const transform::Transform> transform;
  };

  explicit SharedSteps(size_t capacity = 4096) : capacity_(capacity) {}

  /// The range of `count` steps from `version` in `room`, or null.
  std::shared_ptr<const Range> find(const std::string& room, int64_t version, size_t count) const;
  /// Records a range (replacing one without a transform by one with it).
  void put(const std::string& room, int64_t version, std::shared_ptr<const Range> range);
  /// The decoded form of a frame (`binary`: a bin.v1 frame), decoded by
  /// `decode` the first time this text is seen among the recent frames.
  using Decoded = Result<protocol::ServerMessage>;
  std::shared_ptr<const Decoded> decoded(const std::string& frame, bool binary,
                                         const std::function<Decoded()>& decode);
  /// Ranges found and ranges recorded (for reports).
  int64_t hits() const;
  int64_t misses() const;

 private:
  static std::string key(const std::string& room, int64_t version, size_t count);
  size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const Range>> ranges_;
  std::deque<std::string> order_;  // oldest first, for eviction
  // Text and binary frames apart, so that a lookup needs no key of its own.
  std::unordered_map<std::string, std::shared_ptr<const Decoded>> frames_[2];
  std::deque<std::pair<bool, std::string>> frame_order_;
  mutable int64_t hits_ = 0, misses_ = 0;
};

}  // namespace rtpm::client
