// Port of prosemirror-model src/replace.ts (1.25.13): the Slice class and
// its helpers removeRange and insertInto.
#include "rtpm/model/slice.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "rtpm/base/error.h"
#include "rtpm/model/internal/js.h"
#include "rtpm/model/node.h"
#include "rtpm/model/schema.h"

namespace rtpm::model {

namespace {

Fragment remove_range(const Fragment& content, int from, int to) {
  Fragment::IndexInfo found = content.find_index(from);
  const Node* child = content.maybe_child(found.index);
  Fragment::IndexInfo found_to = content.find_index(to);
  if (found.offset == from || child->is_text()) {
    if (found_to.offset != to && !content.child(found_to.index)->is_text()) {
      throw RangeError("Removing non-flat range");
    }
    return content.cut(0, from).append(content.cut(to));
  }
  if (found.index != found_to.index) throw RangeError("Removing non-flat range");
  return content.replace_child(
      found.index,
      child->copy(remove_range(child->content(), from - found.offset - 1, to - found.offset - 1)));
}

std::optional<Fragment> insert_into(const Fragment& content, int dist, const Fragment& insert,
                                    int open_start, int open_end, const Node* parent) {
  Fragment::IndexInfo found = content.find_index(dist);
  const Node* child = content.maybe_child(found.index);
  if (found.offset == dist || child->is_text()) {
    if (parent && open_start <= 0 && open_end <= 0 &&
        !parent->can_replace(found.index, found.index, insert)) {
      return std::nullopt;
    }
    return content.cut(0, dist).append(insert).append(content.cut(dist));
  }
  std::optional<Fragment> inner = insert_into(
      child->content(), dist - found.offset - 1, insert, found.index == 0 ? open_start - 1 : 0,
      found.index == content.child_count() - 1 ? open_end - 1 : 0, child);
  if (!inner) return std::nullopt;
  return content.replace_child(found.index, child->copy(std::move(*inner)));
}

// An open depth from JSON (a finite or infinite number). Port note: open
// depths are ints here. A fractional one, which JavaScript would carry along
// into NaN arithmetic and a TypeError or a nonsensical slice size, is
// rejected as malformed input. Magnitudes beyond kOpenDepthLimit are clamped
// to it: every one of them fails in replace exactly as the original number
// does in JavaScript ("Inserted content deeper than insertion position" for a
// large openStart, a TypeError for negative ones), and the clamp keeps
// size() and the depth arithmetic of replace far from int overflow.
constexpr double kOpenDepthLimit = 1 << 24;

int open_depth(double value) {
  if (std::isnan(value) || (std::isfinite(value) && std::trunc(value) != value)) {
    throw RangeError("Invalid input for Slice.fromJSON");
  }
  return static_cast<int>(std::clamp(value, -kOpenDepthLimit, kOpenDepthLimit));
}

// `base + offset` for a position inside a slice's content. A sum outside int
// cannot be a position of the content: throw what Fragment::find_index
// throws for it.
int content_pos(const Fragment& content, int base, int offset) {
  int64_t pos = static_cast<int64_t>(base) + offset;
  if (pos < 0 || pos > content.size()) {
    throw RangeError("Position " + std::to_string(pos) + " outside of fragment (" +
                     content.to_string() + ")");
  }
  return static_cast<int>(pos);
}

}  // namespace

std::optional<Slice> Slice::insert_at(int pos, const Fragment& fragment) const {
  std::optional<Fragment> content = insert_into(content_, content_pos(content_, pos, open_start_),
                                                fragment, open_start_ + 1, open_end_ + 1, nullptr);
  if (!content) return std::nullopt;
  return Slice(std::move(*content), open_start_, open_end_);
}

Slice Slice::remove_between(int from, int to) const {
  int start = content_pos(content_, from, open_start_);
  int end = content_pos(content_, to, open_start_);
  return Slice(remove_range(content_, start, end), open_start_, open_end_);
}

/// Tests whether this slice is equal to another slice.
bool Slice::eq(const Slice& other) const {
  return content_.eq(other.content_) && open_start_ == other.open_start_ &&
         open_end_ == other.open_end_;
}

std::string Slice::to_string() const {
  return content_.to_string() + "(" + std::to_string(open_start_) + "," +
         std::to_string(open_end_) + ")";
}

/// Convert a slice to a JSON-serializable representation.
json::Value Slice::to_json() const {
  if (!content_.size()) return json::Value();
  json::Array content;
  content.reserve(static_cast<size_t>(content_.child_count()));
  content_.for_each([&](const NodeRef& node, int, int) { content.push_back(node->to_json()); });
  json::Object obj;
  obj.emplace_back("content", json::Value(std::move(content)));
  if (open_start_ > 0) obj.emplace_back("openStart", open_start_);
  if (open_end_ > 0) obj.emplace_back("openEnd", open_end_);
  return json::Value(std::move(obj));
}

void Slice::write_json(json::Writer& w) const {
  if (!content_.size()) {
    w.null();
    return;
  }
  w.begin_object();
  w.key("content");
  content_.write_json(w);
  if (open_start_ > 0) {
    w.key("openStart");
    w.number(open_start_);
  }
  if (open_end_ > 0) {
    w.key("openEnd");
    w.number(open_end_);
  }
  w.end_object();
}

/// Deserialize a slice from its JSON representation.
Slice Slice::from_json(const Schema& schema, const json::Value& json) {
  if (!internal::js_truthy(&json)) return empty();
  // `json.openStart || 0`: a falsy value becomes 0, anything else must be a number.
  const json::Value* open_start = json.find("openStart");
  const json::Value* open_end = json.find("openEnd");
  bool start_set = internal::js_truthy(open_start), end_set = internal::js_truthy(open_end);
  if ((start_set && !open_start->is_number()) || (end_set && !open_end->is_number())) {
    throw RangeError("Invalid input for Slice.fromJSON");
  }
  int start = start_set ? open_depth(open_start->as_number()) : 0;
  int end = end_set ? open_depth(open_end->as_number()) : 0;
  const json::Value* content = json.find("content");
  return Slice(content ? Fragment::from_json(schema, *content) : Fragment::empty(), start, end);
}

/// Create a slice from a fragment by taking the maximum possible
/// open value on both side of the fragment.
Slice Slice::max_open(const Fragment& fragment, bool open_isolating) {
  int open_start = 0, open_end = 0;
  for (const Node* n = fragment.first_child();
       n && !n->is_leaf() && (open_isolating || !n->type()->isolating()); n = n->first_child()) {
    ++open_start;
  }
  for (const Node* n = fragment.last_child();
       n && !n->is_leaf() && (open_isolating || !n->type()->isolating()); n = n->last_child()) {
    ++open_end;
  }
  return Slice(fragment, open_start, open_end);
}

/// The empty slice.
const Slice& Slice::empty() {
  static const Slice empty_slice;
  return empty_slice;
}

}  // namespace rtpm::model
