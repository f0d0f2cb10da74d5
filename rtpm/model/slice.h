// Port of prosemirror-model src/replace.ts (1.25.13): Slice and ReplaceError.
// The replace algorithm itself is in replace.h.
//
// A slice represents a piece cut out of a larger document. It stores not only
// a fragment, but also the depth up to which nodes on both side are ‘open’
// (cut through).
#pragma once

#include <optional>
#include <string>

#include "rtpm/base/error.h"
#include "rtpm/model/fragment.h"

namespace rtpm::model {

/// Error type raised by Node::replace when given an invalid replacement.
/// Its JavaScript name is "Error" (upstream's class does not set a name).
class ReplaceError : public GenericError {
 public:
  explicit ReplaceError(const std::string& m) : GenericError(m) {}
};

class Slice {
 public:
  Slice() = default;
  Slice(Fragment content, int open_start, int open_end)
      : content_(std::move(content)), open_start_(open_start), open_end_(open_end) {}

  /// The slice's content.
  const Fragment& content() const { return content_; }
  /// The open depth at the start of the fragment.
  int open_start() const { return open_start_; }
  /// The open depth at the end.
  int open_end() const { return open_end_; }
  /// The size this slice would add when inserted into a document.
  int size() const { return content_.size() - open_start_ - open_end_; }

  /// Insert a fragment at a position inside the slice; nullopt when it doesn't fit.
  std::optional<Slice> insert_at(int pos, const Fragment& fragment) const;
  Slice remove_between(int from, int to) const;
  /// Tests whether this slice is equal to another slice.
  bool eq(const Slice& other) const;
  std::string to_string() const;

  /// JSON: null for an empty slice, else {"content", "openStart"?, "openEnd"?}.
  json::Value to_json() const;
  void write_json(json::Writer& w) const;
  /// Deserialize; null gives the empty slice. Throws RangeError "Invalid input
  /// for Slice.fromJSON" and whatever Fragment::from_json throws.
  static Slice from_json(const Schema& schema, const json::Value& json);
  /// Create a slice from a fragment by taking the maximum possible open value on both sides.
  static Slice max_open(const Fragment& fragment, bool open_isolating = true);
  /// The empty slice.
  static const Slice& empty();

 private:
  Fragment content_;
  int open_start_ = 0;
  int open_end_ = 0;
};

}  // namespace rtpm::model
