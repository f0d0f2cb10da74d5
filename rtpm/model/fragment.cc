// Port of prosemirror-model src/fragment.ts (1.25.13).
#include "rtpm/model/fragment.h"

#include <algorithm>

#include "rtpm/base/error.h"
#include "rtpm/model/internal/js.h"
#include "rtpm/model/node.h"
#include "rtpm/model/schema.h"

namespace rtpm::model {

Fragment::Fragment() = default;

Fragment::Fragment(std::vector<NodeRef> children, int size)
    : data_(internal::Chunk::build_from(children.data(), static_cast<int>(children.size()))),
      size_(size) {}

int Fragment::child_count() const { return data_ ? data_->count() : 0; }

Fragment Fragment::from_chunks(internal::ChunkRef tree) {
  Fragment result;
  result.size_ = tree ? tree->size() : 0;
  result.data_ = std::move(tree);
  return result;
}

namespace {

using internal::Chunk;
using internal::ChunkRef;

ChunkRef single(const NodeRef& node) { return Chunk::build(&node, 1); }

}  // namespace

/// Invoke a callback for all descendant nodes between the given two
/// positions (relative to start of this fragment). Doesn't descend
/// into a node when the callback returns `false`.
void Fragment::nodes_between(
    int from, int to,
    FunctionRef<bool(const NodeRef& node, int pos, const Node* parent, int index)> f,
    int node_start, const Node* parent) const {
  if (!data_ || to <= 0) return;
  // Port note: upstream scans from the first child; the chunk tree finds the
  // first child that ends after `from` directly. Upstream also reads past the
  // last child when `to` exceeds the size (a TypeError); here the walk ends.
  int start_index = 0, start_offset = 0;
  if (from >= size_) return;
  if (from > 0) data_->find(from, start_index, start_offset);
  data_->each_from(start_index, start_offset, [&](const NodeRef& child, int pos, int i) {
    if (pos >= to) return false;
    int end = pos + child->node_size();
    if (end > from && f(child, node_start + pos, parent, i) && child->content().size()) {
      int start = pos + 1;
      child->nodes_between(std::max(0, from - start), std::min(child->content().size(), to - start),
                           f, node_start + start);
    }
    return true;
  });
}

/// Call the given callback for every descendant node. `pos` will be
/// relative to the start of the fragment. The callback may return
/// `false` to prevent traversal of a given node's children.
void Fragment::descendants(
    FunctionRef<bool(const NodeRef& node, int pos, const Node* parent, int index)> f) const {
  nodes_between(0, size_, f);
}

/// Extract the text between `from` and `to`. See the same method on
/// [`Node`](#model.Node.textBetween).
std::u16string Fragment::text_between(int from, int to, std::u16string_view block_separator,
                                      std::u16string_view leaf_text) const {
  // Port note: an empty separator or leaf text acts as upstream's absent
  // (falsy) one; function-valued leafText and spec.leafText do not exist here.
  std::u16string text;
  bool first = true;
  nodes_between(
      from, to,
      [&](const NodeRef& node, int pos, const Node*, int) {
        std::u16string_view node_text;
        if (node->is_text()) {
          node_text = internal::js_slice(node->text(), std::max(from, pos) - pos, to - pos);
        } else if (node->is_leaf()) {
          node_text = leaf_text;
        }
        if (node->is_block() && ((node->is_leaf() && !node_text.empty()) || node->is_textblock()) &&
            !block_separator.empty()) {
          if (first) {
            first = false;
          } else {
            text += block_separator;
          }
        }
        text += node_text;
        return true;
      },
      0);
  return text;
}

/// Create a new fragment containing the combined content of this
/// fragment and the other.
Fragment Fragment::append(const Fragment& other) const {
  if (!other.size_) return *this;
  if (!size_) return other;
  const Node* last = last_child();
  const Node* first = other.first_child();
  if (child_count() + other.child_count() > Chunk::kFanout) {
    // Port note: large fragments are joined as trees, sharing both sides.
    if (last->is_text() && last->same_markup(*first)) {
      ChunkRef left = Chunk::concat(Chunk::prefix(data_, child_count() - 1),
                                    single(last->with_text(last->text() + first->text())));
      return from_chunks(Chunk::concat(left, Chunk::suffix(other.data_, 1)));
    }
    return from_chunks(Chunk::concat(data_, other.data_));
  }
  std::vector<NodeRef> content;
  content.reserve(static_cast<size_t>(child_count() + other.child_count()));
  data_->collect(content);
  int i = 0;
  if (last->is_text() && last->same_markup(*first)) {
    content.back() = last->with_text(last->text() + first->text());
    i = 1;
  }
  other.data_->each_from(i, 0, [&](const NodeRef& n, int, int) {
    content.push_back(n);
    return true;
  });
  return Fragment(std::move(content), size_ + other.size_);
}

/// Cut out the sub-fragment between the two given positions.
Fragment Fragment::cut(int from, int to) const {
  if (from == 0 && to == size_) return *this;
  if (to > from && data_ && from < size_ && child_count() > Chunk::kFanout) {
    // Port note: a large fragment is cut as a tree: the untouched children
    // between the two ends are shared.
    int start_index = 0, start_offset = 0, end_index = child_count(), end_offset = size_;
    if (from > 0) data_->find(from, start_index, start_offset);
    if (to < size_) data_->find(to, end_index, end_offset);
    if (end_offset < to) ++end_index;  // the node at end_index reaches past `to`
    ChunkRef tree = Chunk::range(data_, start_index, end_index);
    auto cut_child = [&](const NodeRef& node, int pos) {
      if (node->is_text()) {
        return node->cut(std::max(0, from - pos),
                         std::min(static_cast<int>(node->text().size()), to - pos));
      }
      return node->cut(std::max(0, from - pos - 1), std::min(node->content().size(), to - pos - 1));
    };
    const NodeRef& first = tree->at(0);
    if (start_offset < from || start_offset + first->node_size() > to) {
      tree = tree->replace(0, cut_child(first, start_offset));
    }
    int last_index = tree->count() - 1;
    if (last_index > 0) {
      const NodeRef& last = tree->at(last_index);
      int last_pos = end_offset < to ? end_offset : end_offset - last->node_size();
      if (last_pos + last->node_size() > to)
        tree = tree->replace(last_index, cut_child(last, last_pos));
    }
    return from_chunks(std::move(tree));
  }
  std::vector<NodeRef> result;
  int size = 0;
  if (to > from && data_ && from < size_) {
    int start_index = 0, start_offset = 0;
    if (from > 0) data_->find(from, start_index, start_offset);
    data_->each_from(start_index, start_offset, [&](const NodeRef& node, int pos, int) {
      if (pos >= to) return false;
      int end = pos + node->node_size();
      if (end > from) {
        if (pos < from || end > to) {
          NodeRef child;
          if (node->is_text()) {
            child = node->cut(std::max(0, from - pos),
                              std::min(static_cast<int>(node->text().size()), to - pos));
          } else {
            child = node->cut(std::max(0, from - pos - 1),
                              std::min(node->content().size(), to - pos - 1));
          }
          size += child->node_size();
          result.push_back(std::move(child));
        } else {
          size += node->node_size();
          result.push_back(node);
        }
      }
      return true;
    });
  }
  return Fragment(std::move(result), size);
}

Fragment Fragment::cut_by_index(int from, int to) const {
  if (from == to) return empty();
  if (from == 0 && to == child_count()) return *this;
  if (to - from > Chunk::kFanout) return from_chunks(Chunk::range(data_, from, to));
  std::vector<NodeRef> result;
  result.reserve(static_cast<size_t>(to - from));
  int size = 0;
  data_->each_from(from, 0, [&](const NodeRef& node, int, int i) {
    if (i >= to) return false;
    size += node->node_size();
    result.push_back(node);
    return true;
  });
  return Fragment(std::move(result), size);
}

/// Create a new fragment in which the node at the given index is
/// replaced by the given node.
Fragment Fragment::replace_child(int index, NodeRef node) const {
  const NodeRef& current = child(index);
  if (current == node) return *this;
  Fragment result;
  result.size_ = size_ + node->node_size() - current->node_size();
  result.data_ = data_->replace(index, std::move(node));
  return result;
}

/// Create a new fragment by prepending the given node to this
/// fragment.
Fragment Fragment::add_to_start(NodeRef node) const {
  if (child_count() >= Chunk::kFanout) return from_chunks(Chunk::concat(single(node), data_));
  std::vector<NodeRef> content;
  content.reserve(static_cast<size_t>(child_count() + 1));
  int size = size_ + node->node_size();
  content.push_back(std::move(node));
  if (data_) data_->collect(content);
  return Fragment(std::move(content), size);
}

/// Create a new fragment by appending the given node to this
/// fragment.
Fragment Fragment::add_to_end(NodeRef node) const {
  if (child_count() >= Chunk::kFanout) return from_chunks(Chunk::concat(data_, single(node)));
  std::vector<NodeRef> content;
  content.reserve(static_cast<size_t>(child_count() + 1));
  if (data_) data_->collect(content);
  int size = size_ + node->node_size();
  content.push_back(std::move(node));
  return Fragment(std::move(content), size);
}

/// Compare this fragment to another one.
bool Fragment::eq(const Fragment& other) const {
  if (data_ == other.data_) return true;
  if (child_count() != other.child_count()) return false;
  return data_->each_from(0, 0, [&](const NodeRef& node, int, int i) {
    const NodeRef& o = other.data_->at(i);
    return node == o || node->eq(*o);
  });
}

/// The first child of the fragment, or `null` if it is empty.
const Node* Fragment::first_child() const { return data_ ? data_->at(0).get() : nullptr; }

/// The last child of the fragment, or `null` if it is empty.
const Node* Fragment::last_child() const {
  return data_ ? data_->at(data_->count() - 1).get() : nullptr;
}

/// Get the child node at the given index. Raise an error when the
/// index is out of range.
const NodeRef& Fragment::child(int index) const {
  if (index < 0 || index >= child_count()) {
    throw RangeError("Index " + std::to_string(index) + " out of range for " + to_string());
  }
  return data_->at(index);
}

/// Get the child node at the given index, if it exists.
const Node* Fragment::maybe_child(int index) const {
  if (index < 0 || index >= child_count()) return nullptr;
  return data_->at(index).get();
}

/// Call `f` for every child node, passing the node, its offset
/// into this parent node, and its index.
void Fragment::for_each(FunctionRef<void(const NodeRef& node, int offset, int index)> f) const {
  if (!data_) return;
  data_->each_from(0, 0, [&](const NodeRef& node, int offset, int index) {
    f(node, offset, index);
    return true;
  });
}

/// Find the index and inner offset corresponding to a given relative
/// position in this fragment.
Fragment::IndexInfo Fragment::find_index(int pos, int /*round*/) const {
  // Port note: 1.25.13's findIndex has no `round` parameter; it is ignored.
  if (pos == 0) return {0, pos};
  if (pos == size_) return {child_count(), pos};
  if (pos > size_ || pos < 0) {
    throw RangeError("Position " + std::to_string(pos) + " outside of fragment (" + to_string() +
                     ")");
  }
  IndexInfo found{0, 0};
  data_->find(pos, found.index, found.offset);
  return found;
}

/// Return a debugging string that describes this fragment.
std::string Fragment::to_string() const { return "<" + to_string_inner() + ">"; }

std::string Fragment::to_string_inner() const {
  std::string out;
  for_each([&](const NodeRef& node, int, int index) {
    if (index) out += ", ";
    out += node->to_string();
  });
  return out;
}

/// Create a JSON-serializeable representation of this fragment.
void Fragment::write_json(json::Writer& w) const {
  w.begin_array();
  for_each([&](const NodeRef& node, int, int) { node->write_json(w); });
  w.end_array();
}

namespace {

/// Joins adjacent text nodes with the same marks in nodes[0, n), in place;
/// returns how many nodes remain and sets `size` to their total size.
size_t join_text(NodeRef* nodes, size_t n, int& size) {
  size = 0;
  size_t out = 0;
  for (size_t i = 0; i < n; ++i) {
    size += nodes[i]->node_size();
    if (i && nodes[i]->is_text() && nodes[out - 1]->same_markup(*nodes[i])) {
      nodes[out - 1] = nodes[i]->with_text(nodes[out - 1]->text() + nodes[i]->text());
    } else {
      if (out != i) nodes[out] = std::move(nodes[i]);
      ++out;
    }
  }
  return out;
}

}  // namespace

/// Deserialize a fragment from its JSON representation.
Fragment Fragment::from_json(const Schema& schema, const json::Value& value) {
  if (!internal::js_truthy(&value)) return empty();
  if (!value.is_array()) throw RangeError("Invalid input for Fragment.fromJSON");
  const json::Array& items = value.as_array();
  if (items.size() <= static_cast<size_t>(Chunk::kFanout)) {
    // Port note: a short list (a paragraph's text) is built without a vector.
    NodeRef nodes[Chunk::kFanout];
    size_t n = 0;
    for (const json::Value& item : items) nodes[n++] = Node::from_json(schema, item);
    Fragment result;
    n = join_text(nodes, n, result.size_);
    result.data_ = Chunk::build_from(nodes, static_cast<int>(n));
    return n ? result : empty();
  }
  std::vector<NodeRef> nodes;
  nodes.reserve(items.size());
  for (const json::Value& item : items) nodes.push_back(Node::from_json(schema, item));
  return from_array(std::move(nodes));
}

/// Build a fragment from an array of nodes. Ensures that adjacent
/// text nodes with the same marks are joined together.
Fragment Fragment::from_array(std::vector<NodeRef> array) {
  if (array.empty()) return empty();
  // Port note: joins in place instead of copying into a second array.
  int size = 0;
  array.resize(join_text(array.data(), array.size(), size));
  return Fragment(std::move(array), size);
}

Fragment Fragment::from(NodeRef node) {
  int size = node->node_size();
  std::vector<NodeRef> content;
  content.push_back(std::move(node));
  return Fragment(std::move(content), size);
}

/// An empty fragment. Intended to be reused whenever a node doesn't
/// contain anything (rather than allocating a new empty fragment for
/// each leaf node).
const Fragment& Fragment::empty() {
  static const Fragment empty_fragment;
  return empty_fragment;
}

std::vector<NodeRef> Fragment::to_vector() const {
  std::vector<NodeRef> out;
  if (data_) data_->collect(out);
  return out;
}

}  // namespace rtpm::model
