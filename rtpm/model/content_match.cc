// Port of prosemirror-model src/content.ts (1.25.13).
#include "rtpm/model/content_match.h"

#include <algorithm>
#include <deque>
#include <map>
#include <unordered_set>

#include "rtpm/base/error.h"
#include "rtpm/model/node.h"
#include "rtpm/model/schema.h"

namespace rtpm::model {

const ContentMatch& ContentMatch::empty() {
  static const ContentMatch e(true);
  return e;
}

const ContentMatch* ContentMatch::match_type(const NodeType* type) const {
  for (const Edge& e : next_)
    if (e.type == type) return e.next;
  return nullptr;
}

const ContentMatch* ContentMatch::match_fragment(const Fragment& frag, int start, int end) const {
  if (end < 0) end = frag.child_count();
  const ContentMatch* cur = this;
  for (int i = start; cur && i < end; i++) cur = cur->match_type(frag.child(i)->type());
  return cur;
}

bool ContentMatch::inline_content() const { return !next_.empty() && next_[0].type->is_inline(); }

const NodeType* ContentMatch::default_type() const {
  for (const Edge& e : next_)
    if (!(e.type->is_text() || e.type->has_required_attrs())) return e.type;
  return nullptr;
}

bool ContentMatch::compatible(const ContentMatch& other) const {
  for (const Edge& a : next_)
    for (const Edge& b : other.next_)
      if (a.type == b.type) return true;
  return false;
}

std::optional<Fragment> ContentMatch::fill_before(const Fragment& after, bool to_end,
                                                  int start_index) const {
  std::vector<const ContentMatch*> seen{this};
  std::vector<const NodeType*> types;
  // Depth-first, in edge order, as upstream's recursive search.
  struct Search {
    const Fragment& after;
    bool to_end;
    int start_index;
    std::vector<const ContentMatch*>& seen;
    std::vector<const NodeType*>& types;
    std::optional<Fragment> run(const ContentMatch* match) {
      const ContentMatch* finished = match->match_fragment(after, start_index);
      if (finished && (!to_end || finished->valid_end())) {
        std::vector<NodeRef> nodes;
        nodes.reserve(types.size());
        for (const NodeType* tp : types) nodes.push_back(tp->create_and_fill());
        return Fragment::from_array(std::move(nodes));
      }
      for (const Edge& e : match->next()) {
        if (!(e.type->is_text() || e.type->has_required_attrs()) &&
            std::find(seen.begin(), seen.end(), e.next) == seen.end()) {
          seen.push_back(e.next);
          types.push_back(e.type);
          auto found = run(e.next);
          types.pop_back();
          if (found) return found;
        }
      }
      return std::nullopt;
    }
  } search{after, to_end, start_index, seen, types};
  return search.run(this);
}

std::optional<std::vector<const NodeType*>> ContentMatch::find_wrapping(
    const NodeType* target) const {
  {
    std::lock_guard lock(wrap_mutex_);
    for (const auto& [type, result] : wrap_cache_)
      if (type == target) return result;
  }
  auto computed = compute_wrapping(target);
  std::lock_guard lock(wrap_mutex_);
  wrap_cache_.emplace_back(target, computed);
  return computed;
}

std::optional<std::vector<const NodeType*>> ContentMatch::compute_wrapping(
    const NodeType* target) const {
  struct Active {
    const ContentMatch* match;
    const NodeType* type;
    int via;  // index into `all`, -1 for none
  };
  std::vector<Active> all{{this, nullptr, -1}};
  std::deque<int> active{0};
  std::unordered_set<std::string> seen;
  while (!active.empty()) {
    int current = active.front();
    active.pop_front();
    const ContentMatch* match = all[current].match;
    if (match->match_type(target)) {
      std::vector<const NodeType*> result;
      for (int obj = current; all[obj].type; obj = all[obj].via) result.push_back(all[obj].type);
      std::reverse(result.begin(), result.end());
      return result;
    }
    for (const Edge& e : match->next()) {
      if (!e.type->is_leaf() && !e.type->has_required_attrs() && !seen.count(e.type->name()) &&
          (!all[current].type || e.next->valid_end())) {
        all.push_back({&e.type->content_match(), e.type, current});
        active.push_back(static_cast<int>(all.size()) - 1);
        seen.insert(e.type->name());
      }
    }
  }
  return std::nullopt;
}

const ContentMatch::Edge& ContentMatch::edge(int n) const {
  if (n >= static_cast<int>(next_.size()) || n < 0)
    throw RangeError("There's no " + std::to_string(n) + "th edge in this content match");
  return next_[n];
}

std::string ContentMatch::to_string() const {
  std::vector<const ContentMatch*> seen;
  struct Scan {
    std::vector<const ContentMatch*>& seen;
    void run(const ContentMatch* m) {
      seen.push_back(m);
      for (const Edge& e : m->next())
        if (std::find(seen.begin(), seen.end(), e.next) == seen.end()) run(e.next);
    }
  } scan{seen};
  scan.run(this);
  std::string out;
  for (size_t i = 0; i < seen.size(); i++) {
    if (i) out += "\n";
    out += std::to_string(i) + (seen[i]->valid_end() ? "*" : " ") + " ";
    for (size_t j = 0; j < seen[i]->next().size(); j++) {
      const Edge& e = seen[i]->next()[j];
      out += (j ? ", " : "") + e.type->name() + "->" +
             std::to_string(std::find(seen.begin(), seen.end(), e.next) - seen.begin());
    }
  }
  return out;
}

// ---- Parsing content expressions ----

namespace {

bool is_word(char16_t c) {
  return (c >= u'a' && c <= u'z') || (c >= u'A' && c <= u'Z') || (c >= u'0' && c <= u'9') ||
         c == u'_';
}

// JavaScript's \s.
bool is_space(char16_t c) {
  return c == u' ' || c == u'\t' || c == u'\n' || c == u'\r' || c == u'\v' || c == u'\f' ||
         c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
         c == 0x202f || c == 0x205f || c == 0x3000 || c == 0xfeff;
}

// Port note: emulates `string.split(/\s*(?=\b|\W|$)/)` on UTF-16 code units:
// the string is cut before every non-word character and at every word
// boundary, and whitespace before a cut is dropped.
std::vector<std::u16string> tokenize(const std::u16string& s) {
  size_t size = s.size();
  // The lookahead (?=\b|\W|$) at position q.
  auto lookahead = [&](size_t q) {
    if (q == size) return true;
    if (!is_word(s[q])) return true;
    return q == 0 || !is_word(s[q - 1]);  // a word char after a non-word char: \b
  };
  // Match \s*(?=...) at q: the longest run of spaces after which the lookahead
  // holds (backtracking to shorter runs). Returns the end, or npos.
  auto match_at = [&](size_t q) -> size_t {
    size_t e = q;
    while (e < size && is_space(s[e])) e++;
    for (size_t end = e + 1; end-- > q;)
      if (lookahead(end)) return end;
    return std::u16string::npos;
  };
  std::vector<std::u16string> out;
  size_t p = 0, q = 0;
  while (q < size) {
    size_t e = match_at(q);
    if (e == std::u16string::npos || e == p) {
      q++;
      continue;
    }
    out.push_back(s.substr(p, q - p));
    p = e;
    q = p;
  }
  out.push_back(s.substr(p));
  if (!out.empty() && out.back().empty()) out.pop_back();
  if (!out.empty() && out.front().empty()) out.erase(out.begin());
  return out;
}

struct Expr {
  enum class Type { choice, seq, plus, star, opt, range, name } type;
  std::vector<Expr> exprs;  // choice, seq; or the one operand of plus/star/opt/range
  int min = 0, max = 0;
  const NodeType* value = nullptr;
};

class TokenStream {
 public:
  TokenStream(std::string_view string, const Schema& schema)
      : string_(string), schema_(schema), tokens_(tokenize(json::to_utf16(string))) {}

  bool has_next() const { return pos_ < tokens_.size(); }
  // upstream's `next`; "undefined" when past the end, as JavaScript would print it.
  std::u16string next() const { return has_next() ? tokens_[pos_] : u"undefined"; }
  bool eat(std::u16string_view tok) {
    if (has_next() && tokens_[pos_] == tok) {
      pos_++;
      return true;
    }
    return false;
  }
  [[noreturn]] void err(const std::string& str) const {
    throw SyntaxError(str + " (in content expression '" + string_ + "')");
  }
  void advance() { pos_++; }
  const Schema& schema() const { return schema_; }
  std::optional<bool> inline_;

 private:
  std::string string_;
  const Schema& schema_;
  std::vector<std::u16string> tokens_;
  size_t pos_ = 0;
};

std::string utf8(const std::u16string& s) { return json::to_wtf8(s); }

bool has_non_word(const std::u16string& s) {
  return std::any_of(s.begin(), s.end(), [](char16_t c) { return !is_word(c); });
}

Expr parse_expr(TokenStream& stream);

std::vector<const NodeType*> resolve_name(TokenStream& stream, const std::u16string& name16) {
  std::string name = utf8(name16);
  if (const NodeType* type = stream.schema().find_node_type(name)) return {type};
  std::vector<const NodeType*> result;
  for (const auto& type : stream.schema().node_types())
    if (type->is_in_group(name)) result.push_back(type.get());
  if (result.empty()) stream.err("No node type or group '" + name + "' found");
  return result;
}

Expr parse_expr_atom(TokenStream& stream) {
  if (stream.eat(u"(")) {
    Expr expr = parse_expr(stream);
    if (!stream.eat(u")")) stream.err("Missing closing paren");
    return expr;
  }
  std::u16string next = stream.next();
  if (!has_non_word(next)) {
    std::vector<Expr> exprs;
    for (const NodeType* type : resolve_name(stream, next)) {
      if (!stream.inline_.has_value())
        stream.inline_ = type->is_inline();
      else if (*stream.inline_ != type->is_inline())
        stream.err("Mixing inline and block content");
      exprs.push_back(Expr{Expr::Type::name, {}, 0, 0, type});
    }
    stream.advance();
    if (exprs.size() == 1) return std::move(exprs[0]);
    return Expr{Expr::Type::choice, std::move(exprs)};
  }
  stream.err("Unexpected token '" + utf8(next) + "'");
}

int parse_num(TokenStream& stream) {
  std::u16string next = stream.next();
  if (std::any_of(next.begin(), next.end(), [](char16_t c) { return c < u'0' || c > u'9'; }))
    stream.err("Expected number, got '" + utf8(next) + "'");
  // Port note: upstream takes any number; ranges above 100,000 repetitions are
  // refused here instead of exhausting memory while building the automaton.
  if (next.size() > 6 || std::stoi(utf8(next)) > 100000) stream.err("Range too large");
  int result = std::stoi(utf8(next));
  stream.advance();
  return result;
}

Expr parse_expr_range(TokenStream& stream, Expr expr) {
  int min = parse_num(stream), max = min;
  if (stream.eat(u",")) {
    if (stream.next() != u"}")
      max = parse_num(stream);
    else
      max = -1;
  }
  if (!stream.eat(u"}")) stream.err("Unclosed braced range");
  return Expr{Expr::Type::range, {std::move(expr)}, min, max};
}

Expr parse_expr_subscript(TokenStream& stream) {
  Expr expr = parse_expr_atom(stream);
  for (;;) {
    if (stream.eat(u"+"))
      expr = Expr{Expr::Type::plus, {std::move(expr)}};
    else if (stream.eat(u"*"))
      expr = Expr{Expr::Type::star, {std::move(expr)}};
    else if (stream.eat(u"?"))
      expr = Expr{Expr::Type::opt, {std::move(expr)}};
    else if (stream.eat(u"{"))
      expr = parse_expr_range(stream, std::move(expr));
    else
      break;
  }
  return expr;
}

Expr parse_expr_seq(TokenStream& stream) {
  std::vector<Expr> exprs;
  do {
    exprs.push_back(parse_expr_subscript(stream));
  } while (stream.has_next() && stream.next() != u")" && stream.next() != u"|");
  if (exprs.size() == 1) return std::move(exprs[0]);
  return Expr{Expr::Type::seq, std::move(exprs)};
}

Expr parse_expr(TokenStream& stream) {
  std::vector<Expr> exprs;
  do {
    exprs.push_back(parse_expr_seq(stream));
  } while (stream.eat(u"|"));
  if (exprs.size() == 1) return std::move(exprs[0]);
  return Expr{Expr::Type::choice, std::move(exprs)};
}

// The NFA: states are lists of edges; an edge without a term is a null edge.
// Edge order matters: it decides filler content.
struct NfaEdge {
  const NodeType* term;
  int to;
};

class Nfa {
 public:
  explicit Nfa(const Expr& expr) {
    states_.emplace_back();
    std::vector<Ref> out = compile(expr, 0);
    connect(out, node());
  }
  std::vector<std::vector<NfaEdge>> states_;

 private:
  struct Ref {
    int state, index;
  };
  int node() {
    states_.emplace_back();
    return static_cast<int>(states_.size()) - 1;
  }
  Ref edge(int from, int to = -1, const NodeType* term = nullptr) {
    states_[from].push_back({term, to});
    return {from, static_cast<int>(states_[from].size()) - 1};
  }
  void connect(const std::vector<Ref>& edges, int to) {
    for (const Ref& r : edges) states_[r.state][r.index].to = to;
  }
  std::vector<Ref> compile(const Expr& expr, int from) {
    switch (expr.type) {
      case Expr::Type::choice: {
        std::vector<Ref> out;
        for (const Expr& e : expr.exprs) {
          auto part = compile(e, from);
          out.insert(out.end(), part.begin(), part.end());
        }
        return out;
      }
      case Expr::Type::seq:
        for (size_t i = 0;; i++) {
          auto next = compile(expr.exprs[i], from);
          if (i == expr.exprs.size() - 1) return next;
          connect(next, from = node());
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
        std::vector<Ref> out{edge(from)};
        auto part = compile(expr.exprs[0], from);
        out.insert(out.end(), part.begin(), part.end());
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
    return {};
  }
};

// The set of states reachable by null edges from `node`, sorted descending;
// states with a single null out-edge are skipped.
std::vector<int> null_from(const std::vector<std::vector<NfaEdge>>& nfa, int node) {
  std::vector<int> result;
  struct Scan {
    const std::vector<std::vector<NfaEdge>>& nfa;
    std::vector<int>& result;
    void run(int node) {
      const auto& edges = nfa[node];
      if (edges.size() == 1 && !edges[0].term) return run(edges[0].to);
      result.push_back(node);
      for (const NfaEdge& e : edges)
        if (!e.term && std::find(result.begin(), result.end(), e.to) == result.end()) run(e.to);
    }
  } scan{nfa, result};
  scan.run(node);
  std::sort(result.begin(), result.end(), std::greater<int>());
  return result;
}

std::string key_of(const std::vector<int>& states) {
  std::string k;
  for (size_t i = 0; i < states.size(); i++) {
    if (i) k += ',';
    k += std::to_string(states[i]);
  }
  return k;
}

class Dfa {
 public:
  Dfa(const std::vector<std::vector<NfaEdge>>& nfa,
      std::vector<std::unique_ptr<ContentMatch>>& pool)
      : nfa_(nfa), pool_(pool) {}
  ContentMatch* explore(const std::vector<int>& states) {
    std::vector<std::pair<const NodeType*, std::vector<int>>> out;
    for (int node : states) {
      for (const NfaEdge& e : nfa_[node]) {
        if (!e.term) continue;
        std::vector<int>* set = nullptr;
        for (auto& o : out)
          if (o.first == e.term) set = &o.second;
        for (int n : null_from(nfa_, e.to)) {
          if (!set) {
            out.emplace_back(e.term, std::vector<int>());
            set = &out.back().second;
          }
          if (std::find(set->begin(), set->end(), n) == set->end()) set->push_back(n);
        }
      }
    }
    bool valid_end =
        std::find(states.begin(), states.end(), static_cast<int>(nfa_.size()) - 1) != states.end();
    pool_.push_back(std::make_unique<ContentMatch>(valid_end));
    ContentMatch* state = pool_.back().get();
    labeled_[key_of(states)] = state;
    for (auto& [type, set] : out) {
      std::sort(set.begin(), set.end(), std::greater<int>());
      auto it = labeled_.find(key_of(set));
      ContentMatch* next = it != labeled_.end() ? it->second : explore(set);
      state->mutable_next().push_back({type, next});
    }
    return state;
  }

 private:
  const std::vector<std::vector<NfaEdge>>& nfa_;
  std::vector<std::unique_ptr<ContentMatch>>& pool_;
  std::map<std::string, ContentMatch*> labeled_;
};

void check_for_dead_ends(const ContentMatch* match, const TokenStream& stream) {
  std::vector<const ContentMatch*> work{match};
  for (size_t i = 0; i < work.size(); i++) {
    const ContentMatch* state = work[i];
    bool dead = !state->valid_end();
    std::string nodes;
    for (size_t j = 0; j < state->next().size(); j++) {
      const auto& e = state->next()[j];
      nodes += (j ? ", " : "") + e.type->name();
      if (dead && !(e.type->is_text() || e.type->has_required_attrs())) dead = false;
      if (std::find(work.begin(), work.end(), e.next) == work.end()) work.push_back(e.next);
    }
    if (dead)
      stream.err("Only non-generatable nodes (" + nodes +
                 ") in a required position (see https://prosemirror.net/docs/guide/#generatable)");
  }
}

}  // namespace

const ContentMatch* ContentMatch::parse(std::string_view expr, const Schema& schema,
                                        std::vector<std::unique_ptr<ContentMatch>>& pool) {
  TokenStream stream(expr, schema);
  if (!stream.has_next()) return &empty();
  Expr parsed = parse_expr(stream);
  if (stream.has_next()) stream.err("Unexpected trailing text");
  Nfa nfa(parsed);
  // States go to a local pool first, so that a failed expression leaves nothing behind.
  std::vector<std::unique_ptr<ContentMatch>> states;
  Dfa dfa(nfa.states_, states);
  ContentMatch* match = dfa.explore(null_from(nfa.states_, 0));
  check_for_dead_ends(match, stream);
  for (auto& s : states) pool.push_back(std::move(s));
  return match;
}

}  // namespace rtpm::model
