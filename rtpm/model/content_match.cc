// Port of prosemirror-model src/content.ts (1.25.13).
#include "rtpm/model/content_match.h"

#include <algorithm>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>

#include "rtpm/base/error.h"
#include "rtpm/model/node.h"
#include "rtpm/model/schema.h"

namespace rtpm::model {

namespace {

/// Parse a content expression, compile it to an automaton in `pool`, and
/// check it for dead ends (defined below, after the ContentMatch methods, in
/// upstream's order).
const ContentMatch* parse_content(std::string_view string, const Schema& schema,
                                  std::vector<std::unique_ptr<ContentMatch>>& pool);

}  // namespace

/// Instances of this class represent a match state of a node type's
/// [content expression](#model.NodeSpec.content), and can be used to
/// find out whether further content matches here, and whether a given
/// position is a valid end of the node.

const ContentMatch& ContentMatch::empty() {
  static const ContentMatch empty_match(true);
  return empty_match;
}

const ContentMatch* ContentMatch::parse(std::string_view expr, const Schema& schema,
                                        std::vector<std::unique_ptr<ContentMatch>>& pool) {
  return parse_content(expr, schema, pool);
}

/// Match a node type, returning a match after that node if
/// successful.
const ContentMatch* ContentMatch::match_type(const NodeType* type) const {
  for (const Edge& edge : next_) {
    if (edge.type == type) return edge.next;
  }
  return nullptr;
}

/// Try to match a fragment. Returns the resulting match when
/// successful.
const ContentMatch* ContentMatch::match_fragment(const Fragment& frag, int start, int end) const {
  if (end < 0) end = frag.child_count();
  // Port note: the chunk tree runs the automaton over the children directly
  // and reuses each untouched subtree's memoized run (see child_list.h).
  if (start >= 0 && end <= frag.child_count()) {
    return frag.chunks() ? frag.chunks()->match(this, start, end) : this;
  }
  const ContentMatch* cur = this;
  for (int i = start; cur && i < end; i++) cur = cur->match_type(frag.child(i)->type());
  return cur;
}

bool ContentMatch::inline_content() const { return !next_.empty() && next_[0].type->is_inline(); }

/// Get the first matching node type at this match position that can
/// be generated.
const NodeType* ContentMatch::default_type() const {
  for (const Edge& edge : next_) {
    const NodeType* type = edge.type;
    if (!(type->is_text() || type->has_required_attrs())) return type;
  }
  return nullptr;
}

bool ContentMatch::compatible(const ContentMatch& other) const {
  for (const Edge& a : next_) {
    for (const Edge& b : other.next_) {
      if (a.type == b.type) return true;
    }
  }
  return false;
}

/// Try to match the given fragment, and if that fails, see if it can
/// be made to match by inserting nodes in front of it. When
/// successful, return a fragment of inserted nodes (which may be
/// empty if nothing had to be inserted). When `toEnd` is true, only
/// return a fragment if the resulting match goes to the end of the
/// content expression.
std::optional<Fragment> ContentMatch::fill_before(const Fragment& after, bool to_end,
                                                  int start_index) const {
  // Port note: upstream's recursive closure `search(match, types)` is a
  // depth-first search here with an explicit stack, visiting states and
  // edges in the same order. The search can go as deep as the automaton has
  // states, and it runs inside createAndFill, which nests once per level of
  // required content: recursion made that the product of both bounds in
  // stack frames (a stack overflow under ASan with a: "b x{199}", b: "a x{199}":
  // 256 levels, each found 200 states deep).
  struct Frame {
    const ContentMatch* match;
    size_t edge;  // the next edge of `match` to try
  };
  std::vector<const ContentMatch*> seen{this};
  std::vector<const NodeType*> types;  // the edge taken into each frame but the first
  auto finish = [&](const ContentMatch* match) -> std::optional<Fragment> {
    const ContentMatch* finished = match->match_fragment(after, start_index);
    if (!finished || (to_end && !finished->valid_end())) return std::nullopt;
    std::vector<NodeRef> nodes;
    nodes.reserve(types.size());
    for (const NodeType* tp : types) {
      NodeRef node = tp->create_and_fill();
      // Port note: upstream asserts non-null (`createAndFill()!`) and
      // would crash on null; we throw.
      if (!node) throw TypeError("Cannot read properties of null (reading 'nodeSize')");
      nodes.push_back(std::move(node));
    }
    return Fragment::from_array(std::move(nodes));
  };
  if (std::optional<Fragment> found = finish(this)) return found;
  std::vector<Frame> stack{{this, 0}};
  while (!stack.empty()) {
    Frame& top = stack.back();
    if (top.edge == top.match->next_.size()) {
      stack.pop_back();
      if (!types.empty()) types.pop_back();
      continue;
    }
    const Edge& edge = top.match->next_[top.edge++];
    if (edge.type->is_text() || edge.type->has_required_attrs() ||
        std::find(seen.begin(), seen.end(), edge.next) != seen.end())
      continue;
    seen.push_back(edge.next);
    types.push_back(edge.type);
    if (std::optional<Fragment> found = finish(edge.next)) return found;
    stack.push_back({edge.next, 0});
  }
  return std::nullopt;
}

/// Find a set of wrapping node types that would allow a node of the
/// given type to appear at this position. The result may be empty
/// (when it fits directly) and will be null when no such wrapping
/// exists.
std::optional<std::vector<const NodeType*>> ContentMatch::find_wrapping(
    const NodeType* target) const {
  {
    std::lock_guard<std::mutex> lock(wrap_mutex_);
    for (const auto& [type, wrapping] : wrap_cache_) {
      if (type == target) return wrapping;
    }
  }
  // Port note: computed outside the lock (computeWrapping reads only
  // immutable automaton state); a racing thread computes the same value, and
  // the first one stored wins.
  std::optional<std::vector<const NodeType*>> computed = compute_wrapping(target);
  std::lock_guard<std::mutex> lock(wrap_mutex_);
  for (const auto& [type, wrapping] : wrap_cache_) {
    if (type == target) return wrapping;
  }
  wrap_cache_.emplace_back(target, computed);
  return computed;
}

std::optional<std::vector<const NodeType*>> ContentMatch::compute_wrapping(
    const NodeType* target) const {
  struct Active {
    const ContentMatch* match;
    const NodeType* type;
    int via;  // index into `active`, -1 for none
  };
  // Port note: `active.shift()` becomes a moving head index, so that `via`
  // can refer to earlier entries by index.
  std::vector<const NodeType*> seen;
  std::vector<Active> active{{this, nullptr, -1}};
  for (size_t head = 0; head < active.size(); head++) {
    Active current = active[head];
    const ContentMatch* match = current.match;
    if (match->match_type(target)) {
      std::vector<const NodeType*> result;
      for (int obj = static_cast<int>(head); active[static_cast<size_t>(obj)].type;
           obj = active[static_cast<size_t>(obj)].via)
        result.push_back(active[static_cast<size_t>(obj)].type);
      std::reverse(result.begin(), result.end());
      return result;
    }
    for (const Edge& edge : match->next_) {
      const NodeType* type = edge.type;
      const ContentMatch* next = edge.next;
      if (!type->is_leaf() && !type->has_required_attrs() &&
          std::find(seen.begin(), seen.end(), type) == seen.end() &&
          (!current.type || next->valid_end())) {
        active.push_back({&type->content_match(), type, static_cast<int>(head)});
        seen.push_back(type);
      }
    }
  }
  return std::nullopt;
}

/// Get the _n_​th outgoing edge from this node in the finite
/// automaton that describes the content expression.
const ContentMatch::Edge& ContentMatch::edge(int n) const {
  // Port note: upstream returns undefined for a negative n; we throw the
  // same RangeError.
  if (n < 0 || n >= edge_count())
    throw RangeError("There's no " + std::to_string(n) + "th edge in this content match");
  return next_[static_cast<size_t>(n)];
}

std::string ContentMatch::to_string() const {
  std::vector<const ContentMatch*> seen;
  auto index_of = [&](const ContentMatch* m) {
    auto it = std::find(seen.begin(), seen.end(), m);
    return it == seen.end() ? -1 : static_cast<int>(it - seen.begin());
  };
  auto scan = [&](auto& self, const ContentMatch* m) -> void {
    seen.push_back(m);
    for (const Edge& edge : m->next_) {
      if (index_of(edge.next) == -1) self(self, edge.next);
    }
  };
  scan(scan, this);
  std::string out;
  for (size_t i = 0; i < seen.size(); i++) {
    const ContentMatch* m = seen[i];
    if (i) out += "\n";
    out += std::to_string(i) + (m->valid_end_ ? "*" : " ") + " ";
    for (size_t j = 0; j < m->next_.size(); j++) {
      out += (j ? ", " : "") + m->next_[j].type->name() + "->" +
             std::to_string(index_of(m->next_[j].next));
    }
  }
  return out;
}

namespace {

// JavaScript regular expression classes (no `u` flag): \w is ASCII only, \s
// is JavaScript's whitespace set.
bool is_word(char16_t c) {
  return (c >= u'a' && c <= u'z') || (c >= u'A' && c <= u'Z') || (c >= u'0' && c <= u'9') ||
         c == u'_';
}

bool is_space(char16_t c) {
  switch (c) {
    case 0x09:
    case 0x0a:
    case 0x0b:
    case 0x0c:
    case 0x0d:
    case 0x20:
    case 0xa0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202f:
    case 0x205f:
    case 0x3000:
    case 0xfeff: return true;
    default: return c >= 0x2000 && c <= 0x200a;
  }
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

/// `/\W/.test(s)`.
bool has_non_word(std::string_view s) {
  for (char c : s) {
    if (!is_word(static_cast<unsigned char>(c))) return true;
  }
  return false;
}

/// `string.split(/\s*(?=\b|\W|$)/)`, following the RegExp split algorithm
/// over UTF-16 code units (an empty match at the last split point advances
/// without splitting).
std::vector<std::string> split_tokens(std::string_view string) {
  std::u16string s = json::to_utf16(string);
  int size = static_cast<int>(s.size());
  std::vector<std::string> out;
  auto at = [&](int i) { return s[static_cast<size_t>(i)]; };
  // The separator matched at `q`: returns its end, or -1 when it does not match.
  auto match_at = [&](int q) {
    int k = q;
    while (k < size && is_space(at(k))) k++;
    for (int e = k; e >= q; e--) {                  // \s* backtracks from greedy
      if (e == size) return e;                      // $
      if (!is_word(at(e))) return e;                // \W
      if (e == 0 || !is_word(at(e - 1))) return e;  // \b
    }
    return -1;
  };
  if (size == 0) return out;  // The separator matches the empty string.
  int p = 0, q = 0;
  while (q < size) {
    int e = match_at(q);
    if (e < 0 || e == p) {
      q++;
    } else {
      out.push_back(json::to_wtf8(
          std::u16string_view(s).substr(static_cast<size_t>(p), static_cast<size_t>(q - p))));
      p = e;
      q = p;
    }
  }
  out.push_back(json::to_wtf8(std::u16string_view(s).substr(static_cast<size_t>(p))));
  return out;
}

/// Whether `key` is an array index, which JavaScript objects enumerate first.
bool is_array_index(std::string_view key) {
  if (key.empty() || key.size() > 10) return false;
  if (key.size() > 1 && key[0] == '0') return false;
  for (char c : key) {
    if (!is_digit(c)) return false;
  }
  return std::stoull(std::string(key)) < 4294967295ull;
}

/// The schema's node types in the order `for (let name in schema.nodes)`
/// visits them: array-index names first, ascending, then spec order.
std::vector<const NodeType*> js_node_order(const Schema& schema) {
  std::vector<const NodeType*> order;
  for (const auto& type : schema.node_types()) order.push_back(type.get());
  std::stable_sort(order.begin(), order.end(), [](const NodeType* a, const NodeType* b) {
    bool ia = is_array_index(a->name()), ib = is_array_index(b->name());
    if (ia != ib) return ia;
    if (ia) return std::stoull(a->name()) < std::stoull(b->name());
    return false;
  });
  return order;
}

struct Expr {
  enum class Type { choice, seq, plus, star, opt, range, name };
  Type type;
  std::vector<Expr> exprs;          // choice, seq; the single operand of plus/star/opt/range
  int min = 0, max = 0;             // range; max -1 for unbounded
  const NodeType* value = nullptr;  // name
  int height = 1;                   // levels of this expression tree (a name is 1)
};

// Port note: upstream's parser, compiler and automaton builder recurse over
// the expression, and its cost grows steeply with the size of the automaton
// (JavaScript overflows its stack on 3,000 nested parentheses or on
// "p{10000}", and needs minutes for "p{0,1000}"). The port bounds what a
// schema spec may ask for, far above any real schema, and throws a
// SyntaxError beyond: parentheses and operators nested at most
// kMaxExprNesting deep, at most kMaxNfaStates states in the expression's
// automaton before and kMaxDfaStates after determinisation (a braced range
// {n,m} counts n or m copies).
constexpr int kMaxExprNesting = 64;
constexpr size_t kMaxNfaStates = 256;
constexpr size_t kMaxDfaStates = 256;

Expr make_group(Expr::Type type, std::vector<Expr> exprs) {
  Expr out{type, std::move(exprs)};
  for (const Expr& e : out.exprs) out.height = std::max(out.height, e.height + 1);
  return out;
}

Expr make_unary(Expr::Type type, Expr expr) {
  std::vector<Expr> exprs;
  exprs.push_back(std::move(expr));
  return make_group(type, std::move(exprs));
}

class TokenStream {
 public:
  TokenStream(std::string_view string, const Schema& schema)
      : string_(string), schema_(schema), tokens_(split_tokens(string)) {
    if (!tokens_.empty() && tokens_.back().empty()) tokens_.pop_back();
    if (!tokens_.empty() && tokens_.front().empty()) tokens_.erase(tokens_.begin());
  }

  /// The current token; nullptr stands for `undefined` past the end.
  const std::string* next() const { return pos < tokens_.size() ? &tokens_[pos] : nullptr; }
  /// The current token as JavaScript's String(next) ("undefined" past the end).
  std::string next_string() const { return next() ? *next() : "undefined"; }

  bool eat(std::string_view tok) {
    if (next() && *next() == tok) {
      pos++;
      return true;
    }
    return false;
  }

  [[noreturn]] void err(const std::string& str) const {
    throw SyntaxError(str + " (in content expression '" + string_ + "')");
  }

  const Schema& schema() const { return schema_; }

  /// Fails when `expr` is nested deeper than kMaxExprNesting.
  Expr checked(Expr expr) const {
    if (expr.height > kMaxExprNesting) err("Expression nested too deeply");
    return expr;
  }

  std::optional<bool> inline_;  // upstream `inline`, null until the first name
  size_t pos = 0;
  int nesting = 0;  // open parentheses

 private:
  std::string string_;
  const Schema& schema_;
  std::vector<std::string> tokens_;
};

Expr parse_expr_seq(TokenStream& stream);
Expr parse_expr_subscript(TokenStream& stream);
Expr parse_expr_range(TokenStream& stream, Expr expr);
Expr parse_expr_atom(TokenStream& stream);

Expr parse_expr(TokenStream& stream) {
  std::vector<Expr> exprs;
  do {
    exprs.push_back(parse_expr_seq(stream));
  } while (stream.eat("|"));
  if (exprs.size() == 1) return std::move(exprs[0]);
  return stream.checked(make_group(Expr::Type::choice, std::move(exprs)));
}

Expr parse_expr_seq(TokenStream& stream) {
  std::vector<Expr> exprs;
  do {
    exprs.push_back(parse_expr_subscript(stream));
  } while (stream.next() && *stream.next() != ")" && *stream.next() != "|");
  if (exprs.size() == 1) return std::move(exprs[0]);
  return stream.checked(make_group(Expr::Type::seq, std::move(exprs)));
}

Expr parse_expr_subscript(TokenStream& stream) {
  Expr expr = parse_expr_atom(stream);
  for (;;) {
    if (stream.eat("+"))
      expr = stream.checked(make_unary(Expr::Type::plus, std::move(expr)));
    else if (stream.eat("*"))
      expr = stream.checked(make_unary(Expr::Type::star, std::move(expr)));
    else if (stream.eat("?"))
      expr = stream.checked(make_unary(Expr::Type::opt, std::move(expr)));
    else if (stream.eat("{"))
      expr = stream.checked(parse_expr_range(stream, std::move(expr)));
    else
      break;
  }
  return expr;
}

int parse_num(TokenStream& stream) {
  std::string next = stream.next_string();
  if (!std::all_of(next.begin(), next.end(), is_digit))
    stream.err("Expected number, got '" + next + "'");
  // Port note: Number(next) of a digit string; counts beyond int range are
  // clamped (upstream, like this port, then tries to build an automaton of
  // that size).
  double result = 0;
  for (char c : next) result = result * 10 + (c - '0');
  stream.pos++;
  return result > 2147483647.0 ? 2147483647 : static_cast<int>(result);
}

Expr parse_expr_range(TokenStream& stream, Expr expr) {
  int min = parse_num(stream), max = min;
  if (stream.eat(",")) {
    if (!stream.next() || *stream.next() != "}")
      max = parse_num(stream);
    else
      max = -1;
  }
  if (!stream.eat("}")) stream.err("Unclosed braced range");
  Expr out = make_unary(Expr::Type::range, std::move(expr));
  out.min = min;
  out.max = max;
  return out;
}

std::vector<const NodeType*> resolve_name(TokenStream& stream, const std::string& name) {
  if (const NodeType* type = stream.schema().find_node_type(name)) return {type};
  std::vector<const NodeType*> result;
  for (const NodeType* type : js_node_order(stream.schema())) {
    if (type->is_in_group(name)) result.push_back(type);
  }
  if (result.empty()) stream.err("No node type or group '" + name + "' found");
  return result;
}

Expr parse_expr_atom(TokenStream& stream) {
  if (stream.eat("(")) {
    if (++stream.nesting > kMaxExprNesting) stream.err("Expression nested too deeply");
    Expr expr = parse_expr(stream);
    if (!stream.eat(")")) stream.err("Missing closing paren");
    --stream.nesting;
    return expr;
  } else if (!has_non_word(stream.next_string())) {
    std::vector<Expr> exprs;
    for (const NodeType* type : resolve_name(stream, stream.next_string())) {
      if (!stream.inline_.has_value())
        stream.inline_ = type->is_inline();
      else if (*stream.inline_ != type->is_inline())
        stream.err("Mixing inline and block content");
      Expr name{Expr::Type::name, {}};
      name.value = type;
      exprs.push_back(std::move(name));
    }
    stream.pos++;
    if (exprs.size() == 1) return std::move(exprs[0]);
    return make_group(Expr::Type::choice, std::move(exprs));
  } else {
    stream.err("Unexpected token '" + stream.next_string() + "'");
  }
}

// The code below helps compile a regular-expression-like language
// into a deterministic finite automaton. For a good introduction to
// these concepts, see https://swtch.com/~rsc/regexp/regexp1.html

struct NfaEdge {
  const NodeType* term;  // nullptr for a null edge
  int to;                // -1 until connected
};

using Nfa = std::vector<std::vector<NfaEdge>>;

/// Construct an NFA from an expression as returned by the parser. The
/// NFA is represented as an array of states, which are themselves
/// arrays of edges, which are `{term, to}` objects. The first state is
/// the entry state and the last node is the success state.
///
/// Note that unlike typical NFAs, the edge ordering in this one is
/// significant, in that it is used to contruct filler content when
/// necessary.
class NfaBuilder {
 public:
  explicit NfaBuilder(const TokenStream& stream) : stream_(stream) {}

  Nfa build(const Expr& expr) {
    nfa_.assign(1, {});
    std::vector<EdgeRef> edges = compile(expr, 0);
    connect(edges, node());
    return std::move(nfa_);
  }

 private:
  // Port note: upstream hands around the edge objects themselves; edges are
  // named by (state, index) here, since the state arrays grow.
  struct EdgeRef {
    int from;
    size_t index;
  };

  int node() {
    if (nfa_.size() >= kMaxNfaStates) stream_.err("Expression too large");
    nfa_.emplace_back();
    return static_cast<int>(nfa_.size()) - 1;
  }
  EdgeRef edge(int from, int to = -1, const NodeType* term = nullptr) {
    std::vector<NfaEdge>& edges = nfa_[static_cast<size_t>(from)];
    edges.push_back({term, to});
    return {from, edges.size() - 1};
  }
  void connect(const std::vector<EdgeRef>& edges, int to) {
    for (const EdgeRef& e : edges) nfa_[static_cast<size_t>(e.from)][e.index].to = to;
  }

  std::vector<EdgeRef> compile(const Expr& expr, int from) {
    switch (expr.type) {
      case Expr::Type::choice: {
        std::vector<EdgeRef> out;
        for (const Expr& e : expr.exprs) {
          std::vector<EdgeRef> edges = compile(e, from);
          out.insert(out.end(), edges.begin(), edges.end());
        }
        return out;
      }
      case Expr::Type::seq: {
        for (size_t i = 0;; i++) {
          std::vector<EdgeRef> next = compile(expr.exprs[i], from);
          if (i == expr.exprs.size() - 1) return next;
          connect(next, from = node());
        }
      }
      case Expr::Type::star: {
        int loop = node();
        edge(from, loop);
        connect(compile(expr.exprs[0], loop), loop);
        return {edge(loop)};
      }
      case Expr::Type::plus: {
        int loop = node();
        connect(compile(expr.exprs[0], from), loop);
        connect(compile(expr.exprs[0], loop), loop);
        return {edge(loop)};
      }
      case Expr::Type::opt: {
        std::vector<EdgeRef> out{edge(from)};
        std::vector<EdgeRef> rest = compile(expr.exprs[0], from);
        out.insert(out.end(), rest.begin(), rest.end());
        return out;
      }
      case Expr::Type::range: {
        int cur = from;
        for (int i = 0; i < expr.min; i++) {
          int next = node();
          connect(compile(expr.exprs[0], cur), next);
          cur = next;
        }
        if (expr.max == -1) {
          connect(compile(expr.exprs[0], cur), cur);
        } else {
          for (int i = expr.min; i < expr.max; i++) {
            int next = node();
            edge(cur, next);
            connect(compile(expr.exprs[0], cur), next);
            cur = next;
          }
        }
        return {edge(cur)};
      }
      case Expr::Type::name: return {edge(from, -1, expr.value)};
    }
    throw GenericError("Unknown expr type");
  }

  const TokenStream& stream_;
  Nfa nfa_;
};

// The depth at which null_from's scan stops (see there).
constexpr size_t kMaxNullScanDepth = 4096;

/// Get the set of nodes reachable by null edges from `node`. Omit
/// nodes with only a single null-out-edge, since they may lead to
/// needless duplicated nodes.
std::vector<int> null_from(const Nfa& nfa, int node) {
  // Port note: upstream's recursive scan, run on an explicit stack of
  // (state, next edge) frames so that a long chain of null edges cannot
  // overflow the C stack, and with a table of the states found instead of
  // upstream's indexOf scans. The visiting order, and so the result (which
  // may hold a state twice when a single-null-edge state leads to one
  // already found, exactly as upstream), is the same.
  //
  // Upstream's recursion has no bound of its own: some expressions (e.g.
  // "(paragraph{0,1})++") make it scan forever until JavaScript throws
  // "Maximum call stack size exceeded"; here the stack grew until memory ran
  // out (schema_spec fuzz). The port throws that RangeError when the scan
  // is kMaxNullScanDepth frames deep (a cycle of single null edges, which
  // upstream follows forever too, throws it at once). Scans that end go far
  // less deep: of 20,000 random expressions compared with prosemirror-model
  // 1.25.13, every one that JavaScript compiled compiled here alike and every
  // one it overflowed on threw here, except those the port refuses as
  // "Expression too large" (kMaxNfaStates, kMaxDfaStates).
  std::vector<int> result;
  std::vector<char> found(nfa.size(), 0);
  struct Frame {
    int state;
    size_t edge;
  };
  std::vector<Frame> stack;
  auto enter = [&](int n) {
    for (size_t steps = 0;; steps++) {
      const std::vector<NfaEdge>& edges = nfa[static_cast<size_t>(n)];
      if (!(edges.size() == 1 && !edges[0].term)) break;
      if (steps == nfa.size()) throw RangeError("Maximum call stack size exceeded");
      n = edges[0].to;
    }
    if (stack.size() >= kMaxNullScanDepth) throw RangeError("Maximum call stack size exceeded");
    result.push_back(n);
    found[static_cast<size_t>(n)] = 1;
    stack.push_back({n, 0});
  };
  enter(node);
  while (!stack.empty()) {
    Frame& top = stack.back();
    const std::vector<NfaEdge>& edges = nfa[static_cast<size_t>(top.state)];
    if (top.edge == edges.size()) {
      stack.pop_back();
      continue;
    }
    const NfaEdge& e = edges[top.edge++];
    if (!e.term && !found[static_cast<size_t>(e.to)]) enter(e.to);
  }
  std::sort(result.begin(), result.end(), std::greater<int>());  // cmp: b - a
  return result;
}

std::string join_states(const std::vector<int>& states) {
  std::string key;
  for (size_t i = 0; i < states.size(); i++) {
    if (i) key += ',';
    key += std::to_string(states[i]);
  }
  return key;
}

/// Compiles an NFA as produced by `nfa` into a DFA, modeled as a set
/// of state objects (`ContentMatch` instances) with transitions
/// between them. The states are appended to `pool`.
///
/// Port note: upstream's recursive `explore` creates and labels a state for
/// each set of NFA states when it first meets the set, then explores its
/// edges in order. Here the sets wait on a work list instead of the C stack;
/// each set still gets exactly one state, and each state its edges in
/// upstream's order, so the automaton is the same (only the order of `pool`,
/// which nothing observes, differs).
class DfaBuilder {
 public:
  DfaBuilder(const Nfa& nfa, std::vector<std::unique_ptr<ContentMatch>>& pool,
             const TokenStream& stream)
      : nfa_(nfa), pool_(pool), stream_(stream) {}

  ContentMatch* build() {
    ContentMatch* start = state_for(null_from(nfa_, 0));
    while (!todo_.empty()) {
      auto [state, states] = std::move(todo_.back());
      todo_.pop_back();
      explore(state, states);
    }
    return start;
  }

 private:
  /// The state labeled with `states`, made (and queued) when it is new.
  ContentMatch* state_for(const std::vector<int>& states) {
    std::string key = join_states(states);
    auto found = labeled_.find(key);
    if (found != labeled_.end()) return found->second;
    if (labeled_.size() >= kMaxDfaStates) stream_.err("Expression too large");
    int last = static_cast<int>(nfa_.size()) - 1;
    pool_.push_back(std::make_unique<ContentMatch>(std::find(states.begin(), states.end(), last) !=
                                                   states.end()));
    ContentMatch* state = pool_.back().get();
    labeled_.emplace(std::move(key), state);
    todo_.emplace_back(state, states);
    return state;
  }

  void explore(ContentMatch* state, const std::vector<int>& states) {
    struct Out {
      const NodeType* type;
      std::vector<int> set;
      std::vector<char> in_set;  // per NFA state (upstream: set.indexOf)
    };
    std::vector<Out> out;
    for (int node : states) {
      for (const NfaEdge& e : nfa_[static_cast<size_t>(node)]) {
        if (!e.term) continue;
        int set = -1;  // index into `out`
        for (size_t i = 0; i < out.size(); i++) {
          if (out[i].type == e.term) set = static_cast<int>(i);
        }
        for (int n : null_from_memo(e.to)) {
          if (set < 0) {
            out.push_back({e.term, {}, std::vector<char>(nfa_.size(), 0)});
            set = static_cast<int>(out.size()) - 1;
          }
          Out& o = out[static_cast<size_t>(set)];
          if (!o.in_set[static_cast<size_t>(n)]) {
            o.in_set[static_cast<size_t>(n)] = 1;
            o.set.push_back(n);
          }
        }
      }
    }
    for (auto& [type, target, in_target] : out) {
      std::sort(target.begin(), target.end(), std::greater<int>());
      ContentMatch* next = state_for(target);
      state->mutable_next().push_back({type, next});
    }
  }

  /// null_from(nfa_, state), computed once per state.
  const std::vector<int>& null_from_memo(int state) {
    if (null_from_.empty()) null_from_.resize(nfa_.size());
    std::optional<std::vector<int>>& memo = null_from_[static_cast<size_t>(state)];
    if (!memo) memo = null_from(nfa_, state);
    return *memo;
  }

  const Nfa& nfa_;
  std::vector<std::unique_ptr<ContentMatch>>& pool_;
  const TokenStream& stream_;
  std::vector<std::optional<std::vector<int>>> null_from_;
  std::unordered_map<std::string, ContentMatch*> labeled_;
  std::vector<std::pair<ContentMatch*, std::vector<int>>> todo_;
};

void check_for_dead_ends(const ContentMatch* match, const TokenStream& stream) {
  std::vector<const ContentMatch*> work{match};
  for (size_t i = 0; i < work.size(); i++) {
    const ContentMatch* state = work[i];
    bool dead = !state->valid_end();
    std::string nodes;
    for (size_t j = 0; j < state->next().size(); j++) {
      const ContentMatch::Edge& edge = state->next()[j];
      if (j) nodes += ", ";
      nodes += edge.type->name();
      if (dead && !(edge.type->is_text() || edge.type->has_required_attrs())) dead = false;
      if (std::find(work.begin(), work.end(), edge.next) == work.end()) work.push_back(edge.next);
    }
    if (dead)
      stream.err("Only non-generatable nodes (" + nodes +
                 ") in a required position (see https://prosemirror.net/docs/guide/#generatable)");
  }
}

const ContentMatch* parse_content(std::string_view string, const Schema& schema,
                                  std::vector<std::unique_ptr<ContentMatch>>& pool) {
  TokenStream stream(string, schema);
  if (!stream.next()) return &ContentMatch::empty();
  Expr expr = parse_expr(stream);
  if (stream.next()) stream.err("Unexpected trailing text");
  Nfa nfa = NfaBuilder(stream).build(expr);
  ContentMatch* match = DfaBuilder(nfa, pool, stream).build();
  check_for_dead_ends(match, stream);
  return match;
}

}  // namespace

}  // namespace rtpm::model
