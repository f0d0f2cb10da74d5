// A persistent list of child nodes: the storage behind model::Fragment.
//
// Port note: prosemirror-model keeps a node's children in a plain array and
// copies it on every change, and finds a child by position with a linear
// scan. With 10,000 top-level paragraphs that makes every keystroke cost
// O(children). Here the children live in a persistent B-tree of chunks (at
// most kFanout slots each) that records, per chunk, how many nodes and how
// many positions it holds. Lookup by index or by position and replacing one
// child cost O(kFanout * depth); everything untouched is shared between
// versions. A list of up to kFanout children is a single flat chunk, so the
// usual small fragment (a paragraph's text) costs one allocation.
//
// Immutable once built; safe to share between threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "rtpm/base/function_ref.h"
#include "rtpm/base/ref.h"
#include "rtpm/model/forward.h"

namespace rtpm::model::internal {

class Chunk;
using ChunkRef = Ref<const Chunk>;

class alignas(8) Chunk {
 public:
  /// Slots per chunk.
  static constexpr int kFanout = 32;

  /// Builds a balanced tree over `nodes` (null for an empty list).
  static ChunkRef build(const NodeRef* nodes, int n);

  /// Number of nodes in this subtree.
  int count() const { return count_; }
  /// Total node_size() of the nodes in this subtree.
  int size() const { return size_; }

  /// The node at `index` (0 <= index < count()).
  const NodeRef& at(int index) const;
  /// The first index whose node ends at or after `pos` (0 < pos < size()),
  /// as Fragment.findIndex scans: returns {index, start offset of that node};
  /// when a node ends exactly at pos, {index + 1, pos}.
  void find(int pos, int& index, int& offset) const;
  /// A tree in which the node at `index` is replaced.
  ChunkRef replace(int index, NodeRef node) const;
  /// Calls f(node, offset, index) for nodes from `start_index` on, in order,
  /// until f returns false. `start_offset` is the offset of node `start_index`.
  bool each_from(int start_index, int start_offset,
                 FunctionRef<bool(const NodeRef&, int, int)> f) const;
  /// Appends every node to `out`.
  void collect(std::vector<NodeRef>& out) const;

  void ref_inc() const { refs_.fetch_add(1, std::memory_order_relaxed); }
  void ref_dec() const;

 private:
  Chunk(bool leaf, int slots) : leaf_(leaf), slots_(static_cast<uint16_t>(slots)) {}
  static Chunk* allocate(bool leaf, int slots);
  static ChunkRef build_level(const ChunkRef* kids, int n);
  NodeRef* nodes() const { return reinterpret_cast<NodeRef*>(const_cast<Chunk*>(this) + 1); }
  ChunkRef* kids() const { return reinterpret_cast<ChunkRef*>(const_cast<Chunk*>(this) + 1); }
  bool each_all(int offset, int index, FunctionRef<bool(const NodeRef&, int, int)> f) const;
  bool walk(int skip, int& offset, int& index, FunctionRef<bool(const NodeRef&, int, int)> f) const;

  mutable std::atomic<uint32_t> refs_{0};
  int count_ = 0;
  int size_ = 0;
  bool leaf_;
  uint16_t slots_;
};

static_assert(sizeof(NodeRef) == sizeof(void*) && sizeof(ChunkRef) == sizeof(void*));

}  // namespace rtpm::model::internal
