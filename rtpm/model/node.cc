// Port of prosemirror-model src/node.ts (1.25.13).
#include "rtpm/model/node.h"

#include <atomic>
#include <utility>

#include "rtpm/base/error.h"
#include "rtpm/model/internal/depth_guard.h"
#include "rtpm/model/internal/js.h"
#include "rtpm/model/internal/pool.h"
#include "rtpm/model/replace.h"
#include "rtpm/model/resolved_pos.h"
#include "rtpm/model/schema.h"
#include "rtpm/model/slice.h"

namespace rtpm::model {

namespace {

const MarkSet& no_marks() {
  static const MarkSet none;
  return none;
}

NodeRef self_ref(const Node* node) { return NodeRef(const_cast<Node*>(node)); }

std::string wrap_marks(const MarkSet& marks, std::string str) {
  for (size_t i = marks.size(); i-- > 0;) str = marks[i].type()->name() + "(" + str + ")";
  return str;
}

void check_attrs(const std::vector<Attribute>& attrs, const Attrs& values, const char* type,
                 const std::string& name) {
  for (const auto& [key, value] : values.items()) {
    bool known = false;
    for (const Attribute& attr : attrs) known = known || attr.name() == key;
    if (!known) {
      throw RangeError("Unsupported attribute " + key + " for " + type + " of type " + name);
    }
  }
  // Port note: computed attrs always hold every attribute; upstream would
  // validate a missing one as `undefined`.
  for (const Attribute& attr : attrs) {
    if (const json::Value* value = values.get(attr.name())) attr.validate(*value);
  }
}

// The nesting of Node::from_json calls on this thread (the node being parsed
// counts): a document or slice is parsed top-down, so the bound is checked
// before its deeper levels are visited.
thread_local int from_json_depth = 0;

}  // namespace

// Serials come from a process-wide counter in blocks, so that threads making
// nodes at once do not share a counter's cache line on every node.
Node::Serial::Serial() {
  constexpr uint64_t kBlock = 1 << 16;
  static std::atomic<uint64_t> next_block{1};
  thread_local uint64_t next = 0, end = 0;
  if (next == end) {
    next = next_block.fetch_add(kBlock, std::memory_order_relaxed);
    end = next + kBlock;
  }
  value = next++;
}

void* Node::operator new(size_t bytes) { return internal::pool_allocate(bytes); }

void Node::operator delete(void* block, size_t bytes) noexcept {
  internal::pool_free(block, bytes);
}

std::string max_depth_message() {
  return "Nodes nested deeper than " + std::to_string(kMaxDepth) + " levels are not supported";
}

Node::Node(const NodeType* type, Attrs attrs, Fragment content, MarkSet marks)
    : type_(type),
      attrs_(std::move(attrs)),
      content_(std::move(content)),
      marks_(std::move(marks)),
      node_size_(type->is_leaf() ? 1 : 2 + content_.size()),
      height_(content_.chunks() ? 1 + content_.chunks()->node_height() : 1) {
  if (height_ > kMaxDepth) throw RangeError(max_depth_message());
}

Node::Node(const NodeType* type, Attrs attrs, std::u16string text, MarkSet marks)
    : type_(type), attrs_(std::move(attrs)), marks_(std::move(marks)), text_(std::move(text)) {
  if (text_.empty()) throw RangeError("Empty text nodes are not allowed");
  node_size_ = static_cast<int>(text_.size());
}

/// Invoke a callback for all descendant nodes recursively overlapping
/// the given two positions that are relative to start of this
/// node's content. This includes all ancestors of the nodes
/// containing the two positions. The callback is invoked with the
/// node, its position relative to the original node (method receiver),
/// its parent node, and its child index. When the callback returns
/// false for a given node, that node's children will not be
/// recursed over. The last parameter can be used to specify a
/// starting position to count from.
void Node::nodes_between(
    int from, int to,
    FunctionRef<bool(const NodeRef& node, int pos, const Node* parent, int index)> f,
    int start_pos) const {
  content_.nodes_between(from, to, f, start_pos, this);
}

/// Call the given callback for every descendant node. Doesn't
/// descend into a node when the callback returns `false`.
void Node::descendants(
    FunctionRef<bool(const NodeRef& node, int pos, const Node* parent, int index)> f) const {
  nodes_between(0, content_.size(), f);
}

/// Concatenates all the text nodes found in this fragment and its
/// children.
std::u16string Node::text_content() const {
  if (is_text()) return text_;
  return text_between(0, content_.size(), u"");
}

/// Get all text between positions `from` and `to`. When
/// `blockSeparator` is given, it will be inserted to separate text
/// from different block nodes. If `leafText` is given, it'll be
/// inserted for every non-text leaf node encountered.
std::u16string Node::text_between(int from, int to, std::u16string_view block_separator,
                                  std::u16string_view leaf_text) const {
  if (is_text()) return std::u16string(internal::js_slice(text_, from, to));
  return content_.text_between(from, to, block_separator, leaf_text);
}

/// Test whether two nodes represent the same piece of document.
bool Node::eq(const Node& other) const {
  if (this == &other) return true;
  // Port note: TextNode.eq compares text instead of content.
  if (is_text()) return same_markup(other) && text_ == other.text_;
  return same_markup(other) && content_.eq(other.content_);
}

/// Compare the markup (type, attributes, and marks) of this node to
/// those of another. Returns `true` if both have the same markup.
bool Node::same_markup(const Node& other) const {
  return has_markup(other.type_, &other.attrs_, &other.marks_);
}

/// Check whether this node's markup correspond to the given type,
/// attributes, and marks.
bool Node::has_markup(const NodeType* type, const Attrs* attrs, const MarkSet* marks) const {
  if (type_ != type) return false;
  if (attrs) {
    if (!(attrs_ == *attrs)) return false;
  } else if (type->default_attrs()) {
    if (!(attrs_ == *type->default_attrs())) return false;
  } else if (!attrs_.empty()) {
    return false;
  }
  return Mark::same_set(marks_, marks ? *marks : no_marks());
}

/// Create a new node with the same markup as this node, containing
/// the given content (or empty, if no content is given).
NodeRef Node::copy(Fragment content) const {
  if (content.data_ == content_.data_) return self_ref(this);
  return make_ref<Node>(type_, attrs_, std::move(content), marks_);
}

/// Create a copy of this node, with the given set of marks instead
/// of the node's own marks.
NodeRef Node::mark(MarkSet marks) const {
  // Port note: upstream compares the arrays by identity; an equal set
  // returns this node as well.
  if (Mark::same_set(marks, marks_)) return self_ref(this);
  if (is_text()) return make_ref<Node>(type_, attrs_, text_, std::move(marks));
  return make_ref<Node>(type_, attrs_, content_, std::move(marks));
}

/// Create a copy of this node with only the content between the
/// given positions. If `to` is not given, it defaults to the end of
/// the node.
NodeRef Node::cut(int from) const {
  return cut(from, is_text() ? static_cast<int>(text_.size()) : content_.size());
}

NodeRef Node::cut(int from, int to) const {
  if (is_text()) {
    if (from == 0 && to == static_cast<int>(text_.size())) return self_ref(this);
    return with_text(std::u16string(internal::js_slice(text_, from, to)));
  }
  if (from == 0 && to == content_.size()) return self_ref(this);
  return copy(content_.cut(from, to));
}

/// Cut out the part of the document between the given positions, and
/// return it as a `Slice` object.
Slice Node::slice(int from) const { return slice(from, content_.size()); }

Slice Node::slice(int from, int to, bool include_parents) const {
  if (from == to) return Slice::empty();
  ResolvedPos rfrom = resolve(from), rto = resolve(to);
  int depth = include_parents ? 0 : rfrom.shared_depth(to);
  int start = rfrom.start(depth);
  const Node& node = rfrom.node(depth);
  Fragment content = node.content().cut(rfrom.pos() - start, rto.pos() - start);
  return Slice(std::move(content), rfrom.depth() - depth, rto.depth() - depth);
}

/// Replace the part of the document between the given positions with
/// the given slice. The slice must 'fit', meaning its open sides
/// must be able to connect to the surrounding content, and its
/// content nodes must be valid children for the node they are placed
/// into. If any of this is violated, an error of type
/// [`ReplaceError`](#model.ReplaceError) is thrown.
NodeRef Node::replace(int from, int to, const Slice& slice) const {
  // Resolved in upstream's order, so that a bad `from` is reported first.
  ResolvedPos rfrom = resolve(from);
  ResolvedPos rto = resolve(to);
  return ::rtpm::model::replace(rfrom, rto, slice);
}

/// Find the node directly after the given position.
const Node* Node::node_at(int pos) const {
  for (const Node* node = this;;) {
    Fragment::IndexInfo found = node->content_.find_index(pos);
    node = node->maybe_child(found.index);
    if (!node) return nullptr;
    if (found.offset == pos || node->is_text()) return node;
    pos -= found.offset + 1;
  }
}

/// Find the (direct) child node after the given offset, if any,
/// and return it along with its index and offset relative to this
/// node.
Node::ChildInfo Node::child_after(int pos) const {
  Fragment::IndexInfo found = content_.find_index(pos);
  return {content_.maybe_child(found.index), found.index, found.offset};
}

/// Find the (direct) child node before the given offset, if any,
/// and return it along with its index and offset relative to this
/// node.
Node::ChildInfo Node::child_before(int pos) const {
  if (pos == 0) return {nullptr, 0, 0};
  Fragment::IndexInfo found = content_.find_index(pos);
  if (found.offset < pos) return {content_.child(found.index).get(), found.index, found.offset};
  const Node* node = content_.child(found.index - 1).get();
  return {node, found.index - 1, found.offset - node->node_size()};
}

/// Resolve the given position in the document, returning an
/// [object](#model.ResolvedPos) with information about its context.
ResolvedPos Node::resolve(int pos) const {
  return ResolvedPos::resolve_cached(self_ref(this), pos);
}

ResolvedPos Node::resolve_no_cache(int pos) const {
  return ResolvedPos::resolve(self_ref(this), pos);
}

/// Test whether a given mark or mark type occurs in this document
/// between the two given positions.
bool Node::range_has_mark(int from, int to, const MarkType* type) const {
  bool found = false;
  if (to > from) {
    nodes_between(from, to, [&](const NodeRef& node, int, const Node*, int) {
      if (type->is_in_set(node->marks())) found = true;
      return !found;
    });
  }
  return found;
}

bool Node::range_has_mark(int from, int to, const Mark& mark) const {
  bool found = false;
  if (to > from) {
    nodes_between(from, to, [&](const NodeRef& node, int, const Node*, int) {
      if (mark.is_in_set(node->marks())) found = true;
      return !found;
    });
  }
  return found;
}

/// True when this is a block (non-inline node)
bool Node::is_block() const { return type_->is_block(); }

/// True when this is a textblock node, a block node with inline
/// content.
bool Node::is_textblock() const { return type_->is_textblock(); }

/// True when this node allows inline content.
bool Node::inline_content() const { return type_->inline_content(); }

/// True when this is an inline node (a text node or a node that can
/// appear among text).
bool Node::is_inline() const { return type_->is_inline(); }

/// True when this is a text node.
bool Node::is_text() const { return type_->is_text(); }

/// True when this is a leaf node.
bool Node::is_leaf() const { return type_->is_leaf(); }

/// True when this is an atom, i.e. when it does not have directly
/// editable content. This is usually the same as `isLeaf`, but can
/// be configured with the [`atom` property](#model.NodeSpec.atom)
/// on a node's spec (typically used when the node is displayed as
/// an uneditable [node view](#view.NodeView)).
bool Node::is_atom() const { return type_->is_atom(); }

/// Return a string representation of this node for debugging
/// purposes.
std::string Node::to_string() const {
  // Port note: spec.toDebugString does not exist in JSON schema specs.
  if (is_text()) {
    std::string quoted;
    json::write_string(std::u16string_view(text_), quoted);
    return wrap_marks(marks_, std::move(quoted));
  }
  std::string name = type_->name();
  if (content_.size()) name += "(" + content_.to_string_inner() + ")";
  return wrap_marks(marks_, std::move(name));
}

/// Get the content match in this node at the given index.
const ContentMatch& Node::content_match_at(int index) const {
  const ContentMatch* match = type_->content_match().match_fragment(content_, 0, index);
  if (!match) throw GenericError("Called contentMatchAt on a node with invalid content");
  return *match;
}

/// Test whether replacing the range between `from` and `to` (by
/// child index) with the given replacement fragment (which defaults
/// to the empty fragment) would leave the node's content valid. You
/// can optionally pass `start` and `end` indices into the
/// replacement fragment.
bool Node::can_replace(int from, int to, const Fragment& replacement, int start, int end) const {
  if (end < 0) end = replacement.child_count();
  const ContentMatch* one = content_match_at(from).match_fragment(replacement, start, end);
  const ContentMatch* two = one ? one->match_fragment(content_, to) : nullptr;
  if (!two || !two->valid_end()) return false;
  for (int i = start; i < end; ++i) {
    if (!type_->allows_marks(replacement.child(i)->marks())) return false;
  }
  return true;
}

/// Test whether replacing the range `from` to `to` (by index) with
/// a node of the given type would leave the node's content valid.
bool Node::can_replace_with(int from, int to, const NodeType* type, const MarkSet* marks) const {
  if (marks && !type_->allows_marks(*marks)) return false;
  const ContentMatch* start = content_match_at(from).match_type(type);
  const ContentMatch* end = start ? start->match_fragment(content_, to) : nullptr;
  return end ? end->valid_end() : false;
}

/// Test whether the given node's content could be appended to this
/// node. If that node is empty, this will only return true if there
/// is at least one node type that can appear in both nodes (to avoid
/// merging completely incompatible nodes).
bool Node::can_append(const Node& other) const {
  if (other.content_.size()) return can_replace(child_count(), child_count(), other.content_);
  return type_->compatible_content(*other.type_);
}

/// Check whether this node and its descendants conform to the
/// schema, and raise an exception when they do not.
void Node::check() const {
  type_->check_content(content_);
  check_attrs(type_->attrs(), attrs_, "node", type_->name());
  MarkSet copy;
  for (const Mark& mark : marks_) {
    check_attrs(mark.type()->attrs(), mark.attrs(), "mark", mark.type()->name());
    copy = mark.add_to_set(copy);
  }
  if (!Mark::same_set(copy, marks_)) {
    std::string names;
    for (size_t i = 0; i < marks_.size(); ++i) {
      if (i) names += ',';
      names += marks_[i].type()->name();
    }
    throw RangeError("Invalid collection of marks for node " + type_->name() + ": " + names);
  }
  content_.for_each([](const NodeRef& node, int, int) { node->check(); });
}

/// Return a JSON-serializeable representation of this node.
json::Value Node::to_json() const {
  json::Object obj;
  obj.emplace_back("type", type_->name());
  if (!attrs_.empty()) obj.emplace_back("attrs", json::Value(attrs_.items()));
  if (content_.size()) {
    json::Array content;
    content.reserve(static_cast<size_t>(content_.child_count()));
    content_.for_each([&](const NodeRef& node, int, int) { content.push_back(node->to_json()); });
    obj.emplace_back("content", json::Value(std::move(content)));
  }
  if (!marks_.empty()) {
    json::Array marks;
    marks.reserve(marks_.size());
    for (const Mark& mark : marks_) marks.push_back(mark.to_json());
    obj.emplace_back("marks", json::Value(std::move(marks)));
  }
  // TextNode.toJSON adds the text after the base fields.
  if (is_text()) obj.emplace_back("text", json::to_wtf8(text_));
  return json::Value(std::move(obj));
}

void Node::write_json(json::Writer& w) const {
  w.begin_object();
  w.key("type");
  w.string(type_->name());
  if (!attrs_.empty()) {
    w.key("attrs");
    attrs_.write_json(w);
  }
  if (content_.size()) {
    w.key("content");
    content_.write_json(w);
  }
  if (!marks_.empty()) {
    w.key("marks");
    w.begin_array();
    for (const Mark& mark : marks_) mark.write_json(w);
    w.end_array();
  }
  if (is_text()) {
    w.key("text");
    w.string(std::u16string_view(text_));
  }
  w.end_object();
}

std::string Node::to_json_string() const {
  std::string out;
  // Port note: room for text of this size plus markup, so that a large
  // document's text is not copied again at each doubling of the string.
  out.reserve(static_cast<size_t>(node_size_) * 5 / 2 + 64);
  json::Writer w(out);
  write_json(w);
  return out;
}

/// Deserialize a node from its JSON representation.
NodeRef Node::from_json(const Schema& schema, const json::Value& json) {
  internal::DepthGuard level(from_json_depth, kMaxDepth, max_depth_message);
  if (!internal::js_truthy(&json)) throw RangeError("Invalid input for Node.fromJSON");
  // Port note: the members are looked up in one pass (json.find for each).
  const json::Value *json_marks = nullptr, *type = nullptr, *text = nullptr,
                    *json_content = nullptr, *attrs = nullptr;
  if (json.is_object()) {
    for (const json::Member& member : json.as_object()) {
      const std::string& key = member.first;
      if (key == "type") {
        type = &member.second;
      } else if (key == "content") {
        json_content = &member.second;
      } else if (key == "text") {
        text = &member.second;
      } else if (key == "marks") {
        json_marks = &member.second;
      } else if (key == "attrs") {
        attrs = &member.second;
      }
    }
  }
  MarkSet marks;
  if (internal::js_truthy(json_marks)) {
    if (!json_marks->is_array()) throw RangeError("Invalid mark data for Node.fromJSON");
    marks.reserve(json_marks->as_array().size());
    for (const json::Value& m : json_marks->as_array()) marks.push_back(Mark::from_json(schema, m));
  }
  // `json.type == "text"` (loose equality: arrays compare by their join).
  const bool is_text =
      type && (type->is_string() ? type->as_string() == "text"
                                 : type->is_array() && internal::js_to_string(type) == "text");
  if (is_text) {
    if (!text || !text->is_string()) throw RangeError("Invalid text node in JSON");
    return schema.text(json::to_utf16(text->as_string()), std::move(marks));
  }
  Fragment content = json_content ? Fragment::from_json(schema, *json_content) : Fragment::empty();
  const NodeType* node_type = type && type->is_string()
                                  ? schema.node_type(type->as_string())
                                  : schema.node_type(internal::js_to_string(type));
  return node_type->create(node_type->compute_attrs_from_json(attrs), std::move(content),
                           std::move(marks));
}

NodeRef Node::with_text(std::u16string text) const {
  // Sizes first: libstdc++'s == on u16string compares the common prefix
  // before the sizes, which for text appended to a large node read all of it.
  if (text.size() == text_.size() && text == text_) return self_ref(this);
  return make_ref<Node>(type_, attrs_, std::move(text), marks_);
}

}  // namespace rtpm::model
