// Port of prosemirror-model src/content.ts (1.25.13).
//
// A match state of a node type's content expression: a state of the
// deterministic automaton compiled from the expression. States are owned by
// their Schema and immutable after construction, except the wrapping cache,
// which is guarded so that a schema may be shared between threads.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rtpm/model/forward.h"
#include "rtpm/model/fragment.h"

namespace rtpm::model {

class ContentMatch {
 public:
  struct Edge {
    const NodeType* type;
    const ContentMatch* next;
  };

  explicit ContentMatch(bool valid_end) : valid_end_(valid_end) {}
  ContentMatch(const ContentMatch&) = delete;
  ContentMatch& operator=(const ContentMatch&) = delete;

  /// The shared match of an empty content expression (leaf nodes).
  static const ContentMatch& empty();

  /// Compile a content expression for the given schema's node types. The
  /// states are appended to `pool` (which the schema owns); returns the start
  /// state, or &empty() for an empty expression. Throws SyntaxError with
  /// upstream's messages, e.g. "Unexpected token '|' (in content expression '|')".
  static const ContentMatch* parse(std::string_view expr, const Schema& schema,
                                   std::vector<std::unique_ptr<ContentMatch>>& pool);

  /// True when this match state represents a valid end of the node.
  bool valid_end() const { return valid_end_; }
  /// Match a node type, returning a match after that node if successful (else nullptr).
  const ContentMatch* match_type(const NodeType* type) const;
  /// Try to match a fragment. Returns the resulting match when successful.
  /// `end` -1 means frag.child_count().
  const ContentMatch* match_fragment(const Fragment& frag, int start = 0, int end = -1) const;
  /// True when the first edge is an inline type.
  bool inline_content() const;
  /// Get the first matching node type at this match position that can be generated.
  const NodeType* default_type() const;
  /// Whether this match and another share an edge type.
  bool compatible(const ContentMatch& other) const;
  /// Try to match the given fragment, and if that fails, see if it can be
  /// made to match by inserting nodes in front of it. When successful, return
  /// a fragment of inserted nodes (which may be empty). When `to_end` is true,
  /// only return a fragment if the resulting match goes to the end of the
  /// content expression.
  std::optional<Fragment> fill_before(const Fragment& after, bool to_end = false,
                                      int start_index = 0) const;
  /// Find a set of wrapping node types that would allow a node of the given
  /// type to appear at this position. Empty when it fits directly, nullopt
  /// when no wrapping exists. Cached.
  std::optional<std::vector<const NodeType*>> find_wrapping(const NodeType* target) const;
  /// The number of outgoing edges this node has in the finite automaton.
  int edge_count() const { return static_cast<int>(next_.size()); }
  /// Get the nth outgoing edge. Throws RangeError when out of range.
  const Edge& edge(int n) const;
  /// Debug rendering of the automaton.
  std::string to_string() const;

  // Construction (used by parse).
  std::vector<Edge>& mutable_next() { return next_; }
  const std::vector<Edge>& next() const { return next_; }

 private:
  std::optional<std::vector<const NodeType*>> compute_wrapping(const NodeType* target) const;

  bool valid_end_;
  std::vector<Edge> next_;
  mutable std::mutex wrap_mutex_;
  mutable std::vector<std::pair<const NodeType*, std::optional<std::vector<const NodeType*>>>>
      wrap_cache_;
};

}  // namespace rtpm::model
