// Port of prosemirror-transform src/map.ts (1.12.6).
//
// Step maps describe the position changes a step makes; a Mapping is a
// pipeline of step maps, with "mirror" pairs that let positions deleted by a
// map and restored by its mirror map back exactly. Values, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "rtpm/base/function_ref.h"

namespace rtpm::transform {

/// Association: -1 sticks to the left side of an insertion, 1 to the right.
/// Bit flags recorded in MapResult::del_info.
inline constexpr int kDelBefore = 1, kDelAfter = 2, kDelAcross = 4, kDelSide = 8;

/// An object representing a mapped position with extra information.
class MapResult {
 public:
  MapResult(int pos, int del_info, int64_t recover)
      : pos(pos), del_info(del_info), recover(recover) {}
  /// The mapped version of the position.
  int pos;
  /// Deletion flags (kDel*).
  int del_info;
  /// Recovery value (see StepMap::recover), or -1 (upstream: null). Port note:
  /// 64 bits, since it packs an offset times 2^16 (a JavaScript double upstream).
  int64_t recover;

  /// Tells you whether the position was deleted, that is, whether the step
  /// removed the token on the side queried (via the assoc argument) from the document.
  bool deleted() const { return (del_info & kDelSide) > 0; }
  /// Tells you whether the token before the mapped position was deleted.
  bool deleted_before() const { return (del_info & (kDelBefore | kDelAcross)) > 0; }
  /// True when the token after the mapped position was deleted.
  bool deleted_after() const { return (del_info & (kDelAfter | kDelAcross)) > 0; }
  /// Tells whether any of the steps mapped through deletes across the position
  /// (including both the token before and after the position).
  bool deleted_across() const { return (del_info & kDelAcross) > 0; }
};

/// Something that positions can be mapped through (upstream's Mappable).
class Mappable {
 public:
  virtual ~Mappable() = default;
  /// Map a position through this object. assoc: -1 or 1.
  virtual int map(int pos, int assoc = 1) const = 0;
  /// Map a position, and return an object containing additional information about the mapping.
  virtual MapResult map_result(int pos, int assoc = 1) const = 0;
};

/// A map describing the deletions and insertions made by a step: a flat list
/// of [start, oldSize, newSize] triples, as upstream.
class StepMap final : public Mappable {
 public:
  StepMap() = default;
  explicit StepMap(std::vector<int> ranges, bool inverted = false);
  /// A map of one range: StepMap({start, old_size, new_size}, inverted) without the vector.
  static StepMap one(int start, int old_size, int new_size, bool inverted = false);

  std::span<const int> ranges() const {
    return single_ ? std::span<const int>(one_) : std::span<const int>(ranges_);
  }
  bool inverted() const { return inverted_; }

  /// Recovers a position from a recover value (see MapResult::recover).
  int recover(int64_t value) const;
  MapResult map_result(int pos, int assoc = 1) const override;
  int map(int pos, int assoc = 1) const override;
  /// Whether this map touches the position recorded in `recover`.
  bool touches(int pos, int64_t recover) const;
  /// Calls the given function on each of the changed ranges included in this map.
  void for_each(FunctionRef<void(int old_start, int old_end, int new_start, int new_end)> f) const;
  /// Create an inverted version of this map. The result can be used to map
  /// positions in the post-step document to the pre-step document.
  StepMap invert() const;

  /// Create a map that moves all positions by offset n (which may be
  /// negative). Useful when applying steps meant for a sub-document to a
  /// larger document, or vice-versa.
  static StepMap offset(int n);
  /// A StepMap that contains no changed ranges. Its invert() is itself.
  static const StepMap& empty();

 private:
  MapResult map_internal(int pos, int assoc, bool simple) const;
  void set_single(int start, int old_size, int new_size);
  std::vector<int> ranges_;  // empty for a map of one range (one_)
  bool inverted_ = false;
  // Port note: most step maps hold one range. It is kept inline (one_, as
  // given; ranges_ stays empty), so that a map is made and copied (into every
  // Mapping that takes it) without allocating, and with its start and
  // (orientation applied) old and new sizes, so that map() reads no heap
  // memory. single_ is false for any other number of ranges.
  bool single_ = false;
  int one_[3] = {0, 0, 0};
  int start_ = 0, old_size_ = 0, new_size_ = 0;
};

/// A mapping represents a pipeline of zero or more step maps.
class Mapping final : public Mappable {
 public:
  Mapping() = default;
  /// `mirror` is upstream's flat array of pairs; `to` -1 means maps.size().
  explicit Mapping(std::vector<StepMap> maps, std::vector<int> mirror = {}, int from = 0,
                   int to = -1);
  /// A copy owns its maps (appending to either leaves the other as it was).
  Mapping(const Mapping& other);
  Mapping& operator=(const Mapping& other);
  Mapping(Mapping&&) noexcept = default;
  Mapping& operator=(Mapping&&) noexcept = default;

  /// The step maps in this mapping.
  const std::vector<StepMap>& maps() const { return data_ ? data_->maps : no_maps(); }
  /// Upstream's internal flat mirror array [n0, m0, n1, m1, ...].
  const std::vector<int>& mirror() const { return data_ ? data_->mirror : no_mirror(); }
  /// The starting position in the maps array, used when map or mapResult is called.
  int from() const { return from_; }
  /// The end position in the maps array.
  int to() const { return to_; }
  void set_from(int from) { from_ = from; }
  void set_to(int to) { to_ = to; }

  /// Create a mapping that maps only through a part of this one. As upstream,
  /// the slice shares this mapping's maps instead of copying them (it copies
  /// them before its own first append), so slicing costs no allocation.
  Mapping slice(int from = 0, int to = -1) const;
  /// Add a step map to the end of this mapping. If mirrors is given, it
  /// should be the index of the step map that is the mirror image of this one (-1: none).
  void append_map(StepMap map, int mirrors = -1);
  /// Add all the step maps in a given mapping to this one (preserving mirroring information).
  void append_mapping(const Mapping& mapping);
  /// Finds the offset of the step map that mirrors the map at the given
  /// offset, in this mapping (as per the second argument to append_map); -1 if none.
  int get_mirror(int n) const;
  void set_mirror(int n, int m);
  /// Append the inverse of the given mapping to this one.
  void append_mapping_inverted(const Mapping& mapping);
  /// Create an inverted version of this mapping.
  Mapping invert() const;

  int map(int pos, int assoc = 1) const override;
  MapResult map_result(int pos, int assoc = 1) const override;

 private:
  struct Data {
    std::vector<StepMap> maps;
    std::vector<int> mirror;
  };
  static const std::vector<StepMap>& no_maps();
  static const std::vector<int>& no_mirror();
  /// The data, copied first when it is shared with a slice (upstream's ownData).
  Data& own();
  MapResult map_internal(int pos, int assoc, bool simple) const;
  // Port note: upstream's `_maps`/`mirror` arrays and `ownData`. Null when empty.
  // A mapping that owns its data appends in place: a slice taken earlier sees
  // the new maps in maps() but maps only up to its `to`, as upstream.
  std::shared_ptr<Data> data_;
  bool own_data_ = true;
  int from_ = 0;
  int to_ = 0;
};

/// Port addition: how much a step map changes a document's content size (the
/// sum of its ranges' new minus old sizes).
int64_t size_change(const StepMap& map);

/// Port addition: the lowest position `mapping` can move (a step map leaves
/// every position before its first range where it is), INT_MAX when none.
/// Positions below it map to themselves.
int unchanged_below(const Mapping& mapping);

/// Port addition: step maps applied one after the other without copying them
/// (a Mapping owns a copy of each map: an allocation per step). It maps as a
/// Mapping of the same maps without mirrors does, which is what positions
/// mapped through history need (presence, a late batch's document size). The
/// maps must outlive the chain.
class MapChain final : public Mappable {
 public:
  void reserve(std::size_t n) { maps_.reserve(n); }
  void add(const StepMap& map) { maps_.push_back(&map); }
  /// The content size of the document before the chain, from the one after it.
  int size_before(int size_after) const;
  int map(int pos, int assoc = 1) const override;
  MapResult map_result(int pos, int assoc = 1) const override;

 private:
  std::vector<const StepMap*> maps_;
};

}  // namespace rtpm::transform
