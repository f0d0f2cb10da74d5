// Presence positions (PROTOCOL.md "Presence positions"): which fields of a
// presence entry hold document positions, and the one implementation that
// maps them through changes. The server (PresenceStore), the C++ client's own
// presence and the remote presence it shows all map entries with it, so they
// agree on what a position is.
//
// A presence entry is any JSON object. Its positions are `cursor.pos` and
// `selection.from`, `selection.to`, `selection.anchor`, `selection.head`, and
// only when the value is an integer p with 0 <= p <= the content size of the
// document the entry refers to. Anything else in those fields (1e12, -1, 1.5,
// "3", null, true, an object, or an integer beyond the document) is not a
// position: it passes through unchanged and is never converted to int, so no
// value a remote member sends can overflow or reach undefined behaviour. A
// position mapped through the steps made on that document stays within the
// resulting document. Values only; thread-safe.
#pragma once

#include <array>
#include <cstdint>

#include "rtpm/json/json.h"
#include "rtpm/transform/map.h"

namespace rtpm::presence {

/// True when `value` is a position in a document of content size
/// `doc_size`: a number with an integer value from 0 to `doc_size`.
bool is_position(const json::Value& value, int doc_size);

/// The position fields of one entry that hold numbers, kept as numbers: an
/// entry can be mapped through many changes without rebuilding its JSON, which
/// apply() writes back when the entry is read.
class PositionFields {
 public:
  PositionFields() = default;
  /// The numeric values of `entry`'s position fields (none for a non-object).
  explicit PositionFields(const json::Value& entry);

  /// Maps through `mapping` (association `assoc`) each value that is a
  /// position of a document of content size `doc_size`, the document the
  /// values refer to before `mapping`; other values stay as they are.
  /// Returns whether any value changed.
  /// Values below `unchanged_below` (see transform::unchanged_below) are not
  /// looked up.
  bool map(const transform::Mappable& mapping, int doc_size, int assoc = 1,
           int unchanged_below = 0);
  /// Whether the entry has no position fields (nothing to map).
  bool empty() const { return size_ == 0; }
  /// `entry` (the one these fields were taken from) with the current values
  /// written in; `entry` itself when none differs from it.
  json::Value apply(const json::Value& entry) const;

 private:
  struct Field {
    uint8_t object = 0;  // 0: cursor, 1: selection
    uint8_t key = 0;     // index into that object's position keys
    double original = 0;
    double value = 0;
  };
  std::array<Field, 5> fields_{};  // cursor.pos and the four selection fields at most
  uint8_t size_ = 0;
};

/// `entry` with its positions (see the file comment) mapped through
/// `mapping` with association `assoc` (1: `Mapping.map(pos, 1)` as the
/// server maps); every other member, and every value that is not a position
/// of a document of content size `doc_size`, passes through unchanged, in
/// place. `doc_size` is the content size of the document the positions
/// refer to, before `mapping`. A non-object `entry` is returned as it is.
/// `moved`, when given, says whether any position changed.
json::Value map_positions(const json::Value& entry, const transform::Mappable& mapping,
                          int doc_size, int assoc = 1, bool* moved = nullptr);

/// The content size of the document that `mapping` starts from, given the
/// size of the one it leads to. E.g. the size at an older version from the
/// current document and the mapping of the steps since.
int size_before(const transform::Mapping& mapping, int size_after);

}  // namespace rtpm::presence
