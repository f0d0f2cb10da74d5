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
  static constexpr int kFanout = 8;

  /// Builds a balanced tree over `nodes` (null for an empty list).
  static ChunkRef build(const NodeRef* nodes, int n);
  /// The same, taking the handles out of `nodes` (left null) instead of copying them.
  static ChunkRef build_from(NodeRef* nodes, int n);

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
  /// Appends the nodes [from, to) to `out`.
  void collect(int from, int to, std::vector<NodeRef>& out) const;

  /// The first `n` nodes of `tree` (0 <= n <= count; null when n == 0).
  /// Shares every subtree that lies entirely inside the range.
  static ChunkRef prefix(const ChunkRef& tree, int n);
  /// The nodes of `tree` from index `n` on (null when n == count).
  static ChunkRef suffix(const ChunkRef& tree, int n);
  /// The nodes [from, to) of `tree`.
  static ChunkRef range(const ChunkRef& tree, int from, int to);
  /// The nodes of `a` followed by those of `b` (either may be null). Shares
  /// every subtree off the seam; O(kFanout * height).
  static ChunkRef concat(const ChunkRef& a, const ChunkRef& b);

  /// True when some node in this subtree is a text node.
  bool has_text() const { return flags_ & kHasText; }
  /// True when some node in this subtree has a non-empty mark set.
  bool has_marks() const { return flags_ & kHasMarks; }
  /// Height above the leaves (0 for a leaf).
  int height() const { return height_; }
  /// The largest Node::height() of the nodes in this subtree (the nesting
  /// below them, which a parent node adds one to).
  int node_height() const { return node_height_; }

  /// Runs the content automaton from `start` over the types of the nodes
  /// [from, to) (as ContentMatch::match_fragment does, null when some node
  /// does not match). Whole subtrees reuse a memo of their last run.
  const ContentMatch* match(const ContentMatch* start, int from, int to) const;

  void ref_inc() const { refs_.fetch_add(1, std::memory_order_relaxed); }
  void ref_dec() const;

 private:
  enum : uint8_t { kHasText = 1, kHasMarks = 2 };
  struct Joined;
  Chunk(bool leaf, int slots) : leaf_(leaf), slots_(static_cast<uint16_t>(slots)) {}
  static size_t bytes(bool leaf, int slots);
  static Chunk* allocate(bool leaf, int slots);
  /// A chunk over `n` (1 <= n <= kFanout) items: nodes when `leaf`, else
  /// chunks of equal height. An internal list of one chunk gives that chunk.
  static ChunkRef make(bool leaf, const void* const* items, int n);
  /// Like make, but splits more than kFanout items into two even chunks.
  static Joined pack(bool leaf, const void* const* items, int n);
  static Joined join_same(const Chunk* a, const Chunk* b);
  static Joined join_right(const Chunk* a, const Chunk* b);
  static Joined join_left(const Chunk* a, const Chunk* b);
  /// Takes a new slot's node or kid into flags_ and node_height_.
  void add_flags(const Node& node);
  void add_flags(const Chunk& kid);
  const ContentMatch* match_all(const ContentMatch* start) const;
  const ContentMatch* run(const ContentMatch* start, int from, int to) const;
  static ChunkRef build_level(const ChunkRef* kids, int n);
  template <bool steal, typename NodePtr>
  static Chunk* make_leaf(NodePtr nodes, int n);
  template <bool steal, typename NodePtr>
  static ChunkRef build_leaves(NodePtr nodes, int n);
  NodeRef* nodes() const { return reinterpret_cast<NodeRef*>(const_cast<Chunk*>(this) + 1); }
  ChunkRef* kids() const { return reinterpret_cast<ChunkRef*>(const_cast<Chunk*>(this) + 1); }
  /// Per slot: the node_size() of the node (leaf) or the size of the kid, kept
  /// beside the slots so that lookups do not visit every node or kid they pass.
  int* sizes() const { return reinterpret_cast<int*>(kids() + slots_); }
  /// Internal chunks, per slot: the kid's count().
  int* counts() const { return sizes() + slots_; }
  /// Asks for the counts of every slot's node or kid to be loaded: copying or
  /// freeing a chunk updates them all, and a document too large for the cache
  /// would otherwise wait for each in turn.
  void prefetch_slots() const;
  /// Sets slot i (of an internal chunk being built) to `kid` and adds it to the totals.
  void init_kid(int i, const Chunk* kid);
  bool each_all(int offset, int index, FunctionRef<bool(const NodeRef&, int, int)> f) const;
  bool walk(int skip, int& offset, int& index, FunctionRef<bool(const NodeRef&, int, int)> f) const;

  mutable std::atomic<uint32_t> refs_{0};
  int count_ = 0;
  int size_ = 0;
  bool leaf_;
  uint8_t height_ = 0;
  uint8_t flags_ = 0;
  uint16_t slots_;
  uint16_t node_height_ = 0;  // at most model::kMaxDepth
  // Memo of match_all: the automaton run from memo_start_ over every node of
  // this subtree ends in memo_end_ (a sentinel when it fails). A seqlock
  // (memo_seq_ odd while a writer updates) keeps the pair consistent between
  // threads; a reader that sees a write in progress recomputes.
  mutable std::atomic<uint32_t> memo_seq_{0};
  mutable std::atomic<const ContentMatch*> memo_start_{nullptr};
  mutable std::atomic<const ContentMatch*> memo_end_{nullptr};
};

static_assert(sizeof(NodeRef) == sizeof(void*) && sizeof(ChunkRef) == sizeof(void*));

}  // namespace rtpm::model::internal
