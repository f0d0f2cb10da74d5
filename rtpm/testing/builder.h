// A small prosemirror-test-builder for tests over the `basic` schema
// (../shared/conformance/schemas/basic.json, the test builder's own schema):
//
//   Built d = doc(p("foo<a>bar"), blockquote(p(em("x"), "y<b>")));
//   d.node()      // the document
//   d.tag("a")    // 4: the position of <a>
//
// Strings are text; `<name>` inside a string marks a position, which the
// enclosing builders translate to a position in the outer node, as the
// JavaScript builder does. Mark builders (em, strong, code, a) return their
// nodes flat, for a parent node to take in.
//
// Header-only, for test binaries: it needs the RTPM_SHARED_DIR definition
// that rtpm_test() adds. Not thread-safe beyond the schema's own guarantees.
#pragma once

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "rtpm/json/json.h"
#include "rtpm/model/node.h"
#include "rtpm/model/schema.h"

#ifndef RTPM_SHARED_DIR
#error "rtpm/testing/builder.h needs RTPM_SHARED_DIR (defined for rtpm_test targets)"
#endif

namespace rtpm::testing {

/// Loads a schema from ../shared/conformance/schemas/<name>.json (cached per name).
inline std::shared_ptr<const model::Schema> load_schema(const std::string& name) {
  static std::map<std::string, std::shared_ptr<const model::Schema>> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  std::string path = std::string(RTPM_SHARED_DIR) + "/conformance/schemas/" + name + ".json";
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = json::parse(text.str());
  if (!parsed) throw std::runtime_error(path + ": " + parsed.error().message);
  auto schema = model::Schema::from_json(*parsed);
  cache.emplace(name, schema);
  return schema;
}

/// The `basic` schema (prosemirror-schema-basic plus the list nodes).
inline const model::Schema& schema() {
  static const std::shared_ptr<const model::Schema> basic = load_schema("basic");
  return *basic;
}

/// The result of a builder: its nodes (one for node builders) and the
/// positions of its tags, relative to the start of its content (node
/// builders) or to its first node (mark builders, `flat`).
struct Built {
  std::vector<model::NodeRef> nodes;
  std::map<std::string, int> tags;
  bool flat = false;

  /// The built node (of a node builder).
  const model::NodeRef& node() const { return nodes.at(0); }
  const model::Node* operator->() const { return nodes.at(0).get(); }
  /// The position of tag `name`; throws std::out_of_range when absent.
  int tag(const std::string& name) const { return tags.at(name); }
  /// The position of tag `name`, or `fallback` when absent.
  int tag_or(const std::string& name, int fallback) const {
    auto it = tags.find(name);
    return it == tags.end() ? fallback : it->second;
  }
};

/// A builder argument: text (with optional <tag>s) or a built piece.
class Child {
 public:
  Child(const char* text) : text_(text), is_text_(true) {}             // NOLINT: implicit by design
  Child(std::string text) : text_(std::move(text)), is_text_(true) {}  // NOLINT
  Child(Built built) : built_(std::move(built)) {}                     // NOLINT
  Child(model::NodeRef node) { built_.nodes.push_back(std::move(node)); }  // NOLINT

  /// Appends this argument's nodes to `out` (after `wrap`), moving `pos` and
  /// recording tags, as the JavaScript builder's flatten does.
  template <typename Wrap>
  void flatten(std::vector<model::NodeRef>& out, int& pos, std::map<std::string, int>& tags,
               Wrap wrap) const {
    if (is_text_) {
      std::string plain;
      size_t at = 0;
      while (at < text_.size()) {
        size_t open = text_.find('<', at);
        size_t close = open == std::string::npos ? open : text_.find('>', open);
        if (close == std::string::npos) break;
        std::string name = text_.substr(open + 1, close - open - 1);
        bool word = !name.empty();
        for (char c : name) word = word && (isalnum(static_cast<unsigned char>(c)) || c == '_');
        if (!word) {
          plain += text_.substr(at, open + 1 - at);
          at = open + 1;
          continue;
        }
        plain += text_.substr(at, open - at);
        tags[name] = pos + static_cast<int>(json::to_utf16(plain).size());
        at = close + 1;
      }
      plain += text_.substr(at);
      if (plain.empty()) return;
      model::NodeRef text = schema().text(std::string_view(plain));
      pos += text->node_size();
      out.push_back(wrap(text));
      return;
    }
    for (const auto& [name, p] : built_.tags) tags[name] = p + (built_.flat ? 0 : 1) + pos;
    for (const model::NodeRef& n : built_.nodes) {
      model::NodeRef wrapped = wrap(n);
      pos += wrapped->node_size();
      out.push_back(std::move(wrapped));
    }
  }

 private:
  std::string text_;
  bool is_text_ = false;
  Built built_;
};

/// A node of type `type` with the given attrs and children (NodeType::create, unchecked).
inline Built build_node(std::string_view type, const model::AttrMap* attrs,
                        const std::vector<Child>& children) {
  Built result;
  std::vector<model::NodeRef> nodes;
  int pos = 0;
  for (const Child& c : children) {
    c.flatten(nodes, pos, result.tags, [](const model::NodeRef& n) { return n; });
  }
  result.nodes.push_back(
      schema().node_type(type)->create(attrs, model::Fragment::from_array(std::move(nodes))));
  return result;
}

/// The children with mark `type` added (a flat list, as the JavaScript builder's marks).
inline Built build_mark(std::string_view type, const model::AttrMap* attrs,
                        const std::vector<Child>& children) {
  model::Mark mark = schema().mark(type, attrs);
  Built result;
  result.flat = true;
  int pos = 0;
  for (const Child& c : children) {
    c.flatten(result.nodes, pos, result.tags, [&](const model::NodeRef& n) {
      model::MarkSet marks = mark.add_to_set(n->marks());
      return marks.size() > n->marks().size() ? n->mark(std::move(marks)) : n;
    });
  }
  return result;
}

// Node builders of prosemirror-test-builder.
template <typename... C>
Built doc(C&&... c) {
  return build_node("doc", nullptr, {Child(std::forward<C>(c))...});
}
template <typename... C>
Built p(C&&... c) {
  return build_node("paragraph", nullptr, {Child(std::forward<C>(c))...});
}
template <typename... C>
Built blockquote(C&&... c) {
  return build_node("blockquote", nullptr, {Child(std::forward<C>(c))...});
}
template <typename... C>
Built pre(C&&... c) {
  return build_node("code_block", nullptr, {Child(std::forward<C>(c))...});
}
template <typename... C>
Built h1(C&&... c) {
  static const model::AttrMap attrs{{"level", 1}};
  return build_node("heading", &attrs, {Child(std::forward<C>(c))...});
}
template <typename... C>
Built h2(C&&... c) {
  static const model::AttrMap attrs{{"level", 2}};
  return build_node("heading", &attrs, {Child(std::forward<C>(c))...});
}
template <typename... C>
Built ul(C&&... c) {
  return build_node("bullet_list", nullptr, {Child(std::forward<C>(c))...});
}
template <typename... C>
Built ol(C&&... c) {
  return build_node("ordered_list", nullptr, {Child(std::forward<C>(c))...});
}
template <typename... C>
Built li(C&&... c) {
  return build_node("list_item", nullptr, {Child(std::forward<C>(c))...});
}
inline Built hr() { return build_node("horizontal_rule", nullptr, {}); }
inline Built br() { return build_node("hard_break", nullptr, {}); }
inline Built img() {
  static const model::AttrMap attrs{{"src", "img.png"}};
  return build_node("image", &attrs, {});
}

// Mark builders.
template <typename... C>
Built em(C&&... c) {
  return build_mark("em", nullptr, {Child(std::forward<C>(c))...});
}
template <typename... C>
Built strong(C&&... c) {
  return build_mark("strong", nullptr, {Child(std::forward<C>(c))...});
}
template <typename... C>
Built code(C&&... c) {
  return build_mark("code", nullptr, {Child(std::forward<C>(c))...});
}
/// A link to "foo", as the JavaScript builder's `a`.
template <typename... C>
Built a(C&&... c) {
  static const model::AttrMap attrs{{"href", "foo"}};
  return build_mark("link", &attrs, {Child(std::forward<C>(c))...});
}

}  // namespace rtpm::testing
