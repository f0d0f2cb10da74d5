// JSON values, parser and JSON.stringify-compatible writer (see json.h).
//
// The parser is iterative: open containers live on explicit stacks, so deep
// input cannot overflow the C stack and the depth limit is a plain counter.
// The stacks are reused by later parses on the same thread (thread_local), so
// parse() is thread-safe and needs no allocation beyond the values it builds.
// Strings are scanned eight bytes at a time for the bytes that need attention
// (quote, backslash, control characters, non-ASCII); a string without escapes
// is copied once, straight from the input.
//
// The writer appends through Sink, a raw-pointer cursor over the output
// string, so single characters cost a store rather than a push_back call.
#include "rtpm/json/json.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <unordered_map>
#include <unordered_set>

namespace rtpm::json {

namespace {

// ---------------------------------------------------------------------------
// Byte scanning

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighs = 0x8080808080808080ULL;

/// True for bytes a string scanner must look at: '"', '\\', controls, non-ASCII.
constexpr bool special_byte(unsigned char c) {
  return c == '"' || c == '\\' || c < 0x20 || c >= 0x80;
}

/// special_byte() as a table, for the byte-at-a-time tail of a scan.
constexpr struct SpecialTable {
  bool is[256];
  constexpr SpecialTable() : is() {
    for (int c = 0; c < 256; ++c) is[c] = special_byte(static_cast<unsigned char>(c));
  }
} kSpecial;

/// The first byte in [p, end) for which special_byte() holds, or end.
inline const char* scan_plain(const char* p, const char* end) {
  if constexpr (std::endian::native == std::endian::little) {
    while (end - p >= 8) {
      uint64_t x;
      std::memcpy(&x, p, 8);
      const uint64_t q = x ^ (kOnes * '"');
      const uint64_t b = x ^ (kOnes * '\\');
      // A byte's high bit is set where it is zero in q or b, below 0x20 in x,
      // or non-ASCII in x. Borrows can only flag bytes above a genuine hit,
      // so the lowest flagged byte is always a real one.
      const uint64_t t =
          (((q - kOnes) & ~q) | ((b - kOnes) & ~b) | ((x - kOnes * 0x20) & ~x) | x) & kHighs;
      if (t != 0) return p + (std::countr_zero(t) >> 3);
      p += 8;
    }
  }
  while (p < end && !kSpecial.is[static_cast<unsigned char>(*p)]) ++p;
  return p;
}

/// Decodes one WTF-8 sequence at p (p < end). Returns its length and sets *cp
/// when valid (surrogate code points U+D800..U+DFFF are accepted, encoded as
/// ED A0..BF xx); otherwise returns minus the length of the maximal invalid
/// subpart (at least 1), as the WHATWG decoder counts replacement characters.
inline int decode_wtf8(const unsigned char* p, const unsigned char* end, uint32_t* cp) {
  const unsigned c0 = p[0];
  auto cont = [&](int i) { return p + i < end && (p[i] & 0xC0) == 0x80; };
  if (c0 < 0x80) {
    *cp = c0;
    return 1;
  }
  if (c0 < 0xC2) return -1;
  if (c0 < 0xE0) {
    if (!cont(1)) return -1;
    *cp = ((c0 & 0x1F) << 6) | (p[1] & 0x3F);
    return 2;
  }
  if (c0 < 0xF0) {
    const unsigned lo = c0 == 0xE0 ? 0xA0 : 0x80;
    if (p + 1 >= end || p[1] < lo || p[1] > 0xBF) return -1;
    if (!cont(2)) return -2;
    *cp = ((c0 & 0x0F) << 12) | ((p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    return 3;
  }
  if (c0 < 0xF5) {
    const unsigned lo = c0 == 0xF0 ? 0x90 : 0x80;
    const unsigned hi = c0 == 0xF4 ? 0x8F : 0xBF;
    if (p + 1 >= end || p[1] < lo || p[1] > hi) return -1;
    if (!cont(2)) return -2;
    if (!cont(3)) return -3;
    *cp = ((c0 & 0x07) << 18) | ((p[1] & 0x3F) << 12) | ((p[2] & 0x3F) << 6) | (p[3] & 0x3F);
    return 4;
  }
  return -1;
}

inline bool is_high_surrogate(uint32_t c) { return c >= 0xD800 && c <= 0xDBFF; }
inline bool is_low_surrogate(uint32_t c) { return c >= 0xDC00 && c <= 0xDFFF; }

/// Appends the (W)UTF-8 encoding of cp (surrogates as three bytes).
inline void append_utf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    const char b[2] = {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
    out.append(b, 2);
  } else if (cp < 0x10000) {
    const char b[3] = {static_cast<char>(0xE0 | (cp >> 12)),
                       static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
                       static_cast<char>(0x80 | (cp & 0x3F))};
    out.append(b, 3);
  } else {
    const char b[4] = {
        static_cast<char>(0xF0 | (cp >> 18)), static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
        static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), static_cast<char>(0x80 | (cp & 0x3F))};
    out.append(b, 4);
  }
}

constexpr char kHex[] = "0123456789abcdef";

// ---------------------------------------------------------------------------
// Object property order

/// True when `k` is a canonical array index ("0", or [1-9][0-9]* up to
/// 2^32-2): JavaScript lists such keys first, in ascending numeric order.
inline bool is_array_index(std::string_view k) {
  const size_t n = k.size();
  if (n == 0 || n > 10 || k[0] < '0' || k[0] > '9') return false;
  if (k[0] == '0') return n == 1;
  uint64_t v = 0;
  for (char c : k) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v <= 4294967294ULL;
}

/// Canonical indices compare numerically by length, then bytes.
inline bool index_less(const Member& a, const Member& b) {
  if (a.first.size() != b.first.size()) return a.first.size() < b.first.size();
  return a.first < b.first;
}

constexpr size_t kQuadraticLimit = 32;  // up to this many members, pairwise key checks

/// Puts members in JavaScript property order: a repeated key keeps its first
/// position and its last value; array-index keys come first, ascending.
void normalize(Object& m) {
  const size_t n = m.size();
  if (n < 2) return;

  bool dup = false;
  if (n <= kQuadraticLimit) {
    for (size_t i = 1; i < n && !dup; ++i)
      for (size_t j = 0; j < i; ++j)
        if (m[i].first == m[j].first) {
          dup = true;
          break;
        }
  } else {
    std::unordered_set<std::string_view> seen;
    seen.reserve(n);
    for (const Member& e : m)
      if (!seen.insert(e.first).second) {
        dup = true;
        break;
      }
  }

  if (dup) {
    // first[i]: where key i first occurs; last[f]: the last member with key f.
    std::vector<size_t> first(n), last(n);
    if (n <= kQuadraticLimit) {
      for (size_t i = 0; i < n; ++i) {
        first[i] = i;
        for (size_t j = 0; j < i; ++j)
          if (first[j] == j && m[i].first == m[j].first) {
            first[i] = j;
            break;
          }
      }
    } else {
      std::unordered_map<std::string_view, size_t> at;
      at.reserve(n);
      for (size_t i = 0; i < n; ++i) first[i] = at.emplace(m[i].first, i).first->second;
    }
    for (size_t i = 0; i < n; ++i) last[first[i]] = i;
    Object out;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i)
      if (first[i] == i) out.emplace_back(std::move(m[i].first), std::move(m[last[i]].second));
    m = std::move(out);
  }

  bool has_index = false;
  for (const Member& e : m)
    if (is_array_index(e.first)) {
      has_index = true;
      break;
    }
  if (has_index) {
    auto mid = std::stable_partition(m.begin(), m.end(),
                                     [](const Member& e) { return is_array_index(e.first); });
    std::sort(m.begin(), mid, index_less);
  }
}

// ---------------------------------------------------------------------------
// Parser

class Parser {
 public:
  Parser(std::string_view text, const ParseOptions& options)
      : begin_(text.data()),
        p_(text.data()),
        end_(text.data() + text.size()),
        max_depth_(options.max_depth) {}
  ~Parser();
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  Result<Value> run();

 private:
  Value& top_slot(Value& root);
  /// The error recorded by fail(), or when none was: `what` here, or an
  /// unexpected byte or end of input.
  Error fail_result(const char* what = nullptr) {
    if (error_.empty()) {
      if (what) {
        fail(what);
      } else {
        fail_unexpected();
      }
    }
    return Error{ErrorCode::bad_message, std::move(error_)};
  }

  struct Frame {
    bool object;
    size_t start;  // first slot of this container in values_ / members_
  };

  bool fail(const char* what) { return fail_at(what, p_); }
  bool fail_at(const char* what, const char* where) {
    if (error_.empty()) {
      error_ = "invalid JSON: ";
      error_ += what;
      error_ += " at byte ";
      error_ += std::to_string(where - begin_);
    }
    return false;
  }
  bool fail_unexpected() {
    if (p_ >= end_) return fail("unexpected end of input");
    const unsigned char c = static_cast<unsigned char>(*p_);
    if (c >= 0x20 && c < 0x7F) return fail((std::string("unexpected '") + char(c) + "'").c_str());
    std::string what = "unexpected byte 0x";
    what += kHex[c >> 4];
    what += kHex[c & 0xF];
    return fail(what.c_str());
  }

  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  bool parse_string(std::string_view* text);
  bool parse_escape(std::string& out);
  bool parse_hex4(uint32_t* unit);
  bool parse_number(double* d);
  bool parse_literal(const char* word, size_t len);
  bool parse_key();

  const char* begin_;
  const char* p_;
  const char* end_;
  int max_depth_;
  std::string error_;

  // The stacks are kept per thread between calls, so a parse does not pay for
  // growing them again; see Stacks.
  struct Stacks {
    std::vector<Frame> frames;
    std::vector<Value> values;    // elements of the open arrays
    std::vector<Member> members;  // members of the open objects; back() awaits its value
    std::string scratch;          // the decoded text of a string with escapes
  };
  static Stacks& stacks() {
    thread_local Stacks s;
    return s;
  }
  Stacks& stacks_ = stacks();
  std::vector<Frame>& frames_ = stacks_.frames;
  std::vector<Value>& values_ = stacks_.values;
  std::vector<Member>& members_ = stacks_.members;
  std::string& scratch_ = stacks_.scratch;
};

bool Parser::parse_hex4(uint32_t* unit) {
  if (end_ - p_ < 4) {
    p_ = end_;
    return fail("unexpected end of input in \\u escape");
  }
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    const char c = p_[i];
    uint32_t d;
    if (c >= '0' && c <= '9') {
      d = static_cast<uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<uint32_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      d = static_cast<uint32_t>(c - 'A' + 10);
    } else {
      return fail_at("invalid hex digit in \\u escape", p_ + i);
    }
    v = (v << 4) | d;
  }
  p_ += 4;
  *unit = v;
  return true;
}

// p_ is just past the backslash.
bool Parser::parse_escape(std::string& out) {
  if (p_ >= end_) return fail("unexpected end of input in escape");
  const char c = *p_++;
  switch (c) {
    case '"': out += '"'; return true;
    case '\\': out += '\\'; return true;
    case '/': out += '/'; return true;
    case 'b': out += '\b'; return true;
    case 'f': out += '\f'; return true;
    case 'n': out += '\n'; return true;
    case 'r': out += '\r'; return true;
    case 't': out += '\t'; return true;
    case 'u': {
      uint32_t unit;
      if (!parse_hex4(&unit)) return false;
      if (is_high_surrogate(unit) && end_ - p_ >= 6 && p_[0] == '\\' && p_[1] == 'u') {
        const char* save = p_;
        p_ += 2;
        uint32_t low;
        if (!parse_hex4(&low)) return false;
        if (is_low_surrogate(low)) {
          append_utf8(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00), out);
          return true;
        }
        p_ = save;  // a lone high surrogate; the next escape stands on its own
      }
      append_utf8(unit, out);  // lone surrogates become WTF-8
      return true;
    }
    default: --p_; return fail("invalid escape");
  }
}

// p_ is at the opening quote. A string without escapes is returned as a view
// of the input; otherwise it is decoded into scratch_ and the view shows that.
bool Parser::parse_string(std::string_view* text) {
  ++p_;
  const char* run = p_;
  bool escaped = false;
  for (;;) {
    p_ = scan_plain(p_, end_);
    if (p_ >= end_) return fail("unterminated string");
    const unsigned char c = static_cast<unsigned char>(*p_);
    if (c == '"') {
      if (escaped) {
        scratch_.append(run, p_);
        *text = scratch_;
      } else {
        *text = std::string_view(run, static_cast<size_t>(p_ - run));
      }
      ++p_;
      return true;
    }
    if (c == '\\') {
      if (!escaped) scratch_.clear();
      escaped = true;
      scratch_.append(run, p_);
      ++p_;
      if (!parse_escape(scratch_)) return false;
      run = p_;
    } else if (c < 0x20) {
      return fail("control character in string");
    } else {
      uint32_t cp;
      const int len = decode_wtf8(reinterpret_cast<const unsigned char*>(p_),
                                  reinterpret_cast<const unsigned char*>(end_), &cp);
      // Raw surrogates are not UTF-8; JSON.stringify never emits them.
      if (len < 0 || (cp >= 0xD800 && cp <= 0xDFFF)) return fail("invalid UTF-8 in string");
      p_ += len;
    }
  }
}

bool Parser::parse_number(double* d) {
  const char* start = p_;
  const bool negative = *p_ == '-';
  if (negative) ++p_;
  const char* digits = p_;
  if (p_ >= end_ || *p_ < '0' || *p_ > '9') return fail_unexpected();
  if (*p_ == '0') {
    ++p_;
    if (p_ < end_ && *p_ >= '0' && *p_ <= '9') return fail("leading zero in number");
  } else {
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
  }
  const char* int_end = p_;
  bool integer = true;
  if (p_ < end_ && *p_ == '.') {
    integer = false;
    ++p_;
    if (p_ >= end_ || *p_ < '0' || *p_ > '9') return fail("expected digit after decimal point");
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
  }
  const char* frac_end = p_;
  int64_t exponent = 0;
  if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
    integer = false;
    ++p_;
    bool exp_negative = false;
    if (p_ < end_ && (*p_ == '+' || *p_ == '-')) exp_negative = *p_++ == '-';
    if (p_ >= end_ || *p_ < '0' || *p_ > '9') return fail("expected digit in exponent");
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
      if (exponent < 1000000000) exponent = exponent * 10 + (*p_ - '0');
      ++p_;
    }
    if (exp_negative) exponent = -exponent;
  }

  // Up to 15 digits are exact in a double: no need for the general algorithm.
  if (integer && int_end - digits <= 15) {
    uint64_t v = 0;
    for (const char* q = digits; q < int_end; ++q) v = v * 10 + static_cast<uint64_t>(*q - '0');
    *d = negative ? -static_cast<double>(v) : static_cast<double>(v);
    return true;
  }
  const auto r = std::from_chars(start, p_, *d, std::chars_format::general);
  if (r.ec == std::errc::result_out_of_range) {
    // Out of range: JSON.parse gives +-Infinity or +-0. Decide by the decimal
    // magnitude of the first significant digit.
    const char* q = digits;
    while (q < int_end && *q == '0') ++q;
    int64_t magnitude;
    if (q < int_end) {
      magnitude = exponent + (int_end - q);
    } else {
      const char* f = int_end + 1;
      while (f < frac_end && *f == '0') ++f;
      magnitude = exponent - (f - (int_end + 1));
    }
    const double abs = magnitude > 0 ? std::numeric_limits<double>::infinity() : 0.0;
    *d = negative ? -abs : abs;
    return true;
  }
  if (r.ec != std::errc() || r.ptr != p_) return fail_at("invalid number", start);
  return true;
}

bool Parser::parse_literal(const char* word, size_t len) {
  if (static_cast<size_t>(end_ - p_) < len || std::memcmp(p_, word, len) != 0) {
    // Point at the first byte that differs.
    size_t i = 0;
    while (p_ + i < end_ && i < len && p_[i] == word[i]) ++i;
    p_ += i;
    return fail_unexpected();
  }
  p_ += len;
  return true;
}

// At a key's opening quote (after skipping whitespace): pushes a member for
// it and consumes the colon.
bool Parser::parse_key() {
  skip_ws();
  if (p_ >= end_ || *p_ != '"') {
    if (p_ < end_ && *p_ == '}') return fail("expected key after ','");
    return p_ >= end_ ? fail_unexpected() : fail("expected string key");
  }
  std::string_view key;
  if (!parse_string(&key)) return false;
  members_.emplace_back(std::piecewise_construct, std::forward_as_tuple(key),
                        std::forward_as_tuple());
  skip_ws();
  if (p_ >= end_ || *p_ != ':') return p_ >= end_ ? fail_unexpected() : fail("expected ':'");
  ++p_;
  return true;
}

// The slot of the innermost open container that receives the next finished
// value: the pending member of an object, the placeholder pushed for a nested
// container in an array, or the root.
Value& Parser::top_slot(Value& root) {
  if (frames_.empty()) return root;
  return frames_.back().object ? members_.back().second : values_.back();
}

Result<Value> Parser::run() {
  Value root;
  for (;;) {
    // Parse a value at p_. Scalars are stored straight into their container;
    // a nested container is stored when it closes.
    skip_ws();
    if (p_ >= end_) {
      fail_unexpected();
      break;
    }
    const bool in_array = !frames_.empty() && !frames_.back().object;
    auto store = [&](auto&& x) {
      if (in_array) {
        values_.emplace_back(std::forward<decltype(x)>(x));
      } else {
        top_slot(root) = Value(std::forward<decltype(x)>(x));
      }
    };
    bool ok = true;
    switch (*p_) {
      case '{':
      case '[': {
        const bool object = *p_ == '{';
        if (static_cast<int>(frames_.size()) >= max_depth_) {
          ok = fail("nesting deeper than max_depth");
          break;
        }
        ++p_;
        skip_ws();
        if (p_ < end_ && *p_ == (object ? '}' : ']')) {
          ++p_;
          if (object) {
            store(Object());
          } else {
            store(Array());
          }
          break;
        }
        if (in_array) values_.emplace_back();  // placeholder, filled when the container closes
        frames_.push_back({object, object ? members_.size() : values_.size()});
        if (object && !parse_key()) return fail_result();
        continue;  // parse the first element or member value
      }
      case '"': {
        std::string_view text;
        ok = parse_string(&text);
        if (ok) store(std::string(text));
        break;
      }
      case 't':
        ok = parse_literal("true", 4);
        store(true);
        break;
      case 'f':
        ok = parse_literal("false", 5);
        store(false);
        break;
      case 'n':
        ok = parse_literal("null", 4);
        store(nullptr);
        break;
      default: {
        double d = 0;
        ok = parse_number(&d);
        store(d);
        break;
      }
    }
    if (!ok) break;

    // A value is complete: continue its container, closing containers as
    // long as their closing bracket follows.
    for (;;) {
      if (frames_.empty()) {
        skip_ws();
        if (p_ != end_) return fail_result("unexpected data after the JSON value");
        return root;
      }
      const Frame f = frames_.back();
      skip_ws();
      if (p_ < end_ && *p_ == ',') {
        ++p_;
        if (f.object && !parse_key()) return fail_result();
        break;  // parse the next value
      }
      if (p_ >= end_ || *p_ != (f.object ? '}' : ']')) {
        return p_ >= end_ ? fail_result()
                          : fail_result(f.object ? "expected ',' or '}'" : "expected ',' or ']'");
      }
      ++p_;
      frames_.pop_back();
      if (f.object) {
        Object o(std::make_move_iterator(members_.begin() + static_cast<ptrdiff_t>(f.start)),
                 std::make_move_iterator(members_.end()));
        members_.erase(members_.begin() + static_cast<ptrdiff_t>(f.start), members_.end());
        top_slot(root) = Value(std::move(o));
      } else {
        Array a(std::make_move_iterator(values_.begin() + static_cast<ptrdiff_t>(f.start)),
                std::make_move_iterator(values_.end()));
        values_.erase(values_.begin() + static_cast<ptrdiff_t>(f.start), values_.end());
        top_slot(root) = Value(std::move(a));
      }
    }
  }
  return fail_result();
}

// ---------------------------------------------------------------------------
// Writer internals

/// Appends to a std::string through a raw pointer: the string is grown (and
/// zero-filled) in chunks and trimmed to what was written when the Sink goes
/// away, so a single character costs a store rather than a push_back call.
/// Growth is proportional to what this Sink wrote, never to what the string
/// already held, so many small writes to a long string stay cheap.
class Sink {
 public:
  Sink(std::string& s, size_t expect) : s_(s), start_(s.size()), len_(start_) {
    s_.resize(start_ + expect);
  }
  ~Sink() { s_.resize(len_); }
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

  /// Room for n more bytes, at the returned pointer; advance() after writing.
  char* room(size_t n) {
    if (s_.size() - len_ < n) grow(n);
    return s_.data() + len_;
  }
  void advance(size_t n) { len_ += n; }
  void put(char c) {
    *room(1) = c;
    ++len_;
  }
  void append(const char* p, size_t n) {
    if (n == 0) return;
    std::memcpy(room(n), p, n);
    len_ += n;
  }
  template <size_t N>
  void literal(const char (&text)[N]) {
    append(text, N - 1);
  }

 private:
  void grow(size_t n) { s_.resize(len_ + std::max(n, len_ - start_ + 64)); }

  std::string& s_;
  size_t start_;
  size_t len_;
};

inline void put_utf8(uint32_t cp, Sink& out) {
  char* p = out.room(4);
  if (cp < 0x80) {
    p[0] = static_cast<char>(cp);
    out.advance(1);
  } else if (cp < 0x800) {
    p[0] = static_cast<char>(0xC0 | (cp >> 6));
    p[1] = static_cast<char>(0x80 | (cp & 0x3F));
    out.advance(2);
  } else if (cp < 0x10000) {
    p[0] = static_cast<char>(0xE0 | (cp >> 12));
    p[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    p[2] = static_cast<char>(0x80 | (cp & 0x3F));
    out.advance(3);
  } else {
    p[0] = static_cast<char>(0xF0 | (cp >> 18));
    p[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    p[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    p[3] = static_cast<char>(0x80 | (cp & 0x3F));
    out.advance(4);
  }
}

/// `\uXXXX` with lower-case hex, as JSON.stringify writes.
inline void put_u_escape(uint32_t unit, Sink& out) {
  char* p = out.room(6);
  p[0] = '\\';
  p[1] = 'u';
  p[2] = kHex[(unit >> 12) & 0xF];
  p[3] = kHex[(unit >> 8) & 0xF];
  p[4] = kHex[(unit >> 4) & 0xF];
  p[5] = kHex[unit & 0xF];
  out.advance(6);
}

/// The JSON.stringify escape of an ASCII byte that needs one ('"', '\\' or a
/// control character).
inline void put_ascii_escape(unsigned char c, Sink& out) {
  char short_form;
  switch (c) {
    case '"': short_form = '"'; break;
    case '\\': short_form = '\\'; break;
    case '\b': short_form = 'b'; break;
    case '\f': short_form = 'f'; break;
    case '\n': short_form = 'n'; break;
    case '\r': short_form = 'r'; break;
    case '\t': short_form = 't'; break;
    default: put_u_escape(c, out); return;
  }
  char* p = out.room(2);
  p[0] = '\\';
  p[1] = short_form;
  out.advance(2);
}

void put_number(double d, Sink& out) {
  if (!std::isfinite(d)) {
    out.literal("null");
    return;
  }
  if (d == 0) {  // also -0
    out.put('0');
    return;
  }
  // The longest outputs are 25 bytes ("-0.0000012345678901234567").
  char* o = out.room(32);
  // Integers below 2^53 print all their digits, as JavaScript does.
  if (std::fabs(d) < 9007199254740992.0 && d == std::trunc(d)) {
    out.advance(static_cast<size_t>(std::to_chars(o, o + 32, static_cast<int64_t>(d)).ptr - o));
    return;
  }
  // Shortest round-trip digits, as "-D.DDDDe+XX", reformatted per
  // ECMAScript Number::toString: with k digits and value = digits * 10^(n-k),
  // fixed notation when -6 < n <= 21, otherwise exponential.
  char buf[40];
  const auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  const char* p = buf;
  char* w = o;
  if (*p == '-') {
    *w++ = '-';
    ++p;
  }
  char digits[24];
  int k = 0;
  while (p < r.ptr && *p != 'e') {
    if (*p != '.') digits[k++] = *p;
    ++p;
  }
  ++p;  // 'e'
  const bool exp_negative = *p == '-';
  ++p;  // sign
  int e = 0;
  while (p < r.ptr) e = e * 10 + (*p++ - '0');
  if (exp_negative) e = -e;
  const int n = e + 1;

  if (k <= n && n <= 21) {
    w = std::copy(digits, digits + k, w);
    w = std::fill_n(w, n - k, '0');
  } else if (0 < n && n <= 21) {
    w = std::copy(digits, digits + n, w);
    *w++ = '.';
    w = std::copy(digits + n, digits + k, w);
  } else if (-6 < n && n <= 0) {
    *w++ = '0';
    *w++ = '.';
    w = std::fill_n(w, -n, '0');
    w = std::copy(digits, digits + k, w);
  } else {
    *w++ = digits[0];
    if (k > 1) {
      *w++ = '.';
      w = std::copy(digits + 1, digits + k, w);
    }
    *w++ = 'e';
    *w++ = e < 0 ? '-' : '+';
    w = std::to_chars(w, o + 32, e < 0 ? -e : e).ptr;
  }
  out.advance(static_cast<size_t>(w - o));
}

void put_string(std::string_view wtf8, Sink& out) {
  out.put('"');
  const char* p = wtf8.data();
  const char* end = p + wtf8.size();
  const char* run = p;  // start of bytes copied verbatim
  while (p < end) {
    p = scan_plain(p, end);
    if (p >= end) break;
    const unsigned char c = static_cast<unsigned char>(*p);
    if (c < 0x80) {
      out.append(run, static_cast<size_t>(p - run));
      put_ascii_escape(c, out);
      run = ++p;
      continue;
    }
    const auto* u = reinterpret_cast<const unsigned char*>(p);
    const auto* uend = reinterpret_cast<const unsigned char*>(end);
    uint32_t cp;
    const int len = decode_wtf8(u, uend, &cp);
    if (len > 0 && !(cp >= 0xD800 && cp <= 0xDFFF)) {
      p += len;  // valid UTF-8 is written raw
      continue;
    }
    out.append(run, static_cast<size_t>(p - run));
    if (len < 0) {
      out.literal("\xEF\xBF\xBD");  // what the string would hold in JavaScript
      p += -len;
    } else {
      uint32_t low;
      if (is_high_surrogate(cp) && end - p >= 6 && decode_wtf8(u + 3, uend, &low) == 3 &&
          is_low_surrogate(low)) {
        // Two halves of a pair (e.g. after concatenation): one character in JavaScript.
        put_utf8(0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00), out);
        p += 6;
      } else {
        put_u_escape(cp, out);
        p += 3;
      }
    }
    run = p;
  }
  out.append(run, static_cast<size_t>(p - run));
  out.put('"');
}

void put_string(std::u16string_view utf16, Sink& out) {
  out.put('"');
  const size_t n = utf16.size();
  for (size_t i = 0; i < n; ++i) {
    // Eight units at a time while they are ASCII that needs no escape.
    while (std::endian::native == std::endian::little && n - i >= 8) {
      uint64_t lo, hi;
      std::memcpy(&lo, utf16.data() + i, 8);
      std::memcpy(&hi, utf16.data() + i + 4, 8);
      constexpr uint64_t kNotAscii = 0xFF80FF80FF80FF80ULL;
      if ((lo | hi) & kNotAscii) break;
      // The low byte of each unit, in order.
      auto narrow = [](uint64_t x) {
        x = (x | (x >> 8)) & 0x0000FFFF0000FFFFULL;
        return (x | (x >> 16)) & 0x00000000FFFFFFFFULL;
      };
      const uint64_t bytes = narrow(lo) | (narrow(hi) << 32);
      char packed[8];
      std::memcpy(packed, &bytes, 8);
      if (scan_plain(packed, packed + 8) != packed + 8) break;
      std::memcpy(out.room(8), packed, 8);
      out.advance(8);
      i += 8;
    }
    if (i >= n) break;
    const uint32_t c = utf16[i];
    if (c < 0x80) {
      if (special_byte(static_cast<unsigned char>(c))) {
        put_ascii_escape(static_cast<unsigned char>(c), out);
      } else {
        out.put(static_cast<char>(c));
      }
    } else if (c < 0xD800 || c > 0xDFFF) {
      put_utf8(c, out);
    } else if (is_high_surrogate(c) && i + 1 < n && is_low_surrogate(utf16[i + 1])) {
      put_utf8(0x10000 + ((c - 0xD800) << 10) + (utf16[i + 1] - 0xDC00), out);
      ++i;
    } else {
      put_u_escape(c, out);
    }
  }
  out.put('"');
}

void put_value(const Value& value, Sink& out) {
  switch (value.type()) {
    case Type::null: out.literal("null"); return;
    case Type::boolean:
      if (value.as_bool()) {
        out.literal("true");
      } else {
        out.literal("false");
      }
      return;
    case Type::number: put_number(value.as_number(), out); return;
    case Type::string: put_string(std::string_view(value.as_string()), out); return;
    case Type::array: {
      out.put('[');
      bool first = true;
      for (const Value& e : value.as_array()) {
        if (!first) out.put(',');
        first = false;
        put_value(e, out);
      }
      out.put(']');
      return;
    }
    case Type::object: {
      out.put('{');
      bool first = true;
      for (const Member& m : value.as_object()) {
        if (!first) out.put(',');
        first = false;
        put_string(std::string_view(m.first), out);
        out.put(':');
        put_value(m.second, out);
      }
      out.put('}');
      return;
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// Value

Value::Value(Object o) {
  normalize(o);
  v_ = std::make_shared<const Object>(std::move(o));
}

const Value* Value::find(std::string_view key) const {
  if (!is_object()) return nullptr;
  for (const Member& m : as_object())
    if (m.first == key) return &m.second;
  return nullptr;
}

const char* Value::js_typeof() const {
  switch (type()) {
    case Type::boolean: return "boolean";
    case Type::number: return "number";
    case Type::string: return "string";
    default: return "object";
  }
}

bool operator==(const Value& a, const Value& b) {
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Type::null: return true;
    case Type::boolean: return a.as_bool() == b.as_bool();
    case Type::number: return a.as_number() == b.as_number();  // NaN != NaN, 0 == -0, as ===
    case Type::string: return a.as_string() == b.as_string();
    case Type::array: {
      const Array& x = a.as_array();
      const Array& y = b.as_array();
      if (&x == &y) return true;  // the same object: === in compareDeep
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (!(x[i] == y[i])) return false;
      return true;
    }
    case Type::object: {
      const Object& x = a.as_object();
      const Object& y = b.as_object();
      if (&x == &y) return true;
      // Keys are unique, so equal sizes and every key of x in y mean equal key sets.
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        const Value* other;
        if (y[i].first == x[i].first) {
          other = &y[i].second;
        } else {
          other = b.find(x[i].first);
          if (!other) return false;
        }
        if (!(x[i].second == *other)) return false;
      }
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------
// Parsing

Parser::~Parser() {
  // Leave the stacks empty for the next parse on this thread, and do not keep
  // the memory of an unusually large document.
  constexpr size_t kKeep = 4096;
  frames_.clear();
  values_.clear();
  members_.clear();
  if (values_.capacity() > kKeep) std::vector<Value>().swap(values_);
  if (members_.capacity() > kKeep) std::vector<Member>().swap(members_);
  if (frames_.capacity() > kKeep) std::vector<Frame>().swap(frames_);
  if (scratch_.capacity() > kKeep) std::string().swap(scratch_);
}

Result<Value> parse(std::string_view text, const ParseOptions& options) {
  return Parser(text, options).run();
}

// ---------------------------------------------------------------------------
// Writing

void write(const Value& value, std::string& out) {
  Sink sink(out, 128);
  put_value(value, sink);
}

std::string stringify(const Value& value) {
  std::string out;
  write(value, out);
  return out;
}

void write_number(double d, std::string& out) {
  Sink sink(out, 32);
  put_number(d, sink);
}

void write_string(std::string_view wtf8, std::string& out) {
  Sink sink(out, wtf8.size() + 2);
  put_string(wtf8, sink);
}

void write_string(std::u16string_view utf16, std::string& out) {
  Sink sink(out, utf16.size() + 2);
  put_string(utf16, sink);
}

bool is_wtf8(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* end = p + bytes.size();
  bool after_high = false;  // the last sequence was a high surrogate
  while (p < end) {
    if (*p < 0x80) {
      ++p;
      after_high = false;
      continue;
    }
    uint32_t cp;
    const int len = decode_wtf8(p, end, &cp);
    if (len < 0 || (after_high && is_low_surrogate(cp))) return false;
    after_high = is_high_surrogate(cp);
    p += len;
  }
  return true;
}

std::u16string to_utf16(std::string_view wtf8) {
  // Every byte gives at most one UTF-16 unit (a four-byte sequence gives two),
  // so the text fits in wtf8.size() units; written through a pointer, with
  // ASCII eight bytes at a time, then trimmed.
  std::u16string out(wtf8.size(), u'\0');
  char16_t* w = out.data();
  const auto* p = reinterpret_cast<const unsigned char*>(wtf8.data());
  const auto* end = p + wtf8.size();
  while (p < end) {
    if (end - p >= 8) {
      uint64_t x;
      std::memcpy(&x, p, 8);
      if ((x & kHighs) == 0) {
        for (int i = 0; i < 8; ++i) w[i] = static_cast<char16_t>(p[i]);
        p += 8;
        w += 8;
        continue;
      }
    }
    if (*p < 0x80) {
      *w++ = static_cast<char16_t>(*p++);
      continue;
    }
    uint32_t cp;
    const int len = decode_wtf8(p, end, &cp);
    if (len < 0) {
      *w++ = u'\uFFFD';
      p += -len;
    } else if (cp < 0x10000) {
      *w++ = static_cast<char16_t>(cp);
      p += len;
    } else {
      *w++ = static_cast<char16_t>(0xD800 + ((cp - 0x10000) >> 10));
      *w++ = static_cast<char16_t>(0xDC00 + ((cp - 0x10000) & 0x3FF));
      p += len;
    }
  }
  out.resize(static_cast<size_t>(w - out.data()));
  return out;
}

std::string to_wtf8(std::u16string_view utf16) {
  std::string out;
  out.reserve(utf16.size() * 3 / 2 + 8);
  const size_t n = utf16.size();
  for (size_t i = 0; i < n; ++i) {
    const uint32_t c = utf16[i];
    if (is_high_surrogate(c) && i + 1 < n && is_low_surrogate(utf16[i + 1])) {
      append_utf8(0x10000 + ((c - 0xD800) << 10) + (utf16[i + 1] - 0xDC00), out);
      ++i;
    } else {
      append_utf8(c, out);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Writer

size_t Writer::put_separator(char* text) {
  if (after_key_) {
    after_key_ = false;
    return 0;
  }
  if (first_.empty()) return 0;
  size_t n = 0;
  if (!first_.back()) text[n++] = ',';
  first_.back() = 0;
  return n;
}

void Writer::separate() {
  char comma;
  if (put_separator(&comma)) out_ += comma;
}

// The separator before a value, if any, then `c`, in one append.
void Writer::open(char c) {
  char text[2];
  size_t n = put_separator(text);
  text[n++] = c;
  out_.append(text, n);
}

void Writer::begin_object() {
  open('{');
  first_.push_back(1);
}

void Writer::end_object() {
  assert(!first_.empty() && !after_key_);
  first_.pop_back();
  out_ += '}';
}

void Writer::begin_array() {
  open('[');
  first_.push_back(1);
}

void Writer::end_array() {
  assert(!first_.empty() && !after_key_);
  first_.pop_back();
  out_ += ']';
}

void Writer::key(std::string_view k) {
  constexpr size_t kShort = 32;
  if (k.size() <= kShort && scan_plain(k.data(), k.data() + k.size()) == k.data() + k.size()) {
    // Nothing to escape (every key the model writes): the separator, the
    // quoted key and the colon in one append.
    char text[kShort + 4];
    size_t n = put_separator(text);
    text[n++] = '"';
    std::memcpy(text + n, k.data(), k.size());
    n += k.size();
    text[n++] = '"';
    text[n++] = ':';
    out_.append(text, n);
    after_key_ = true;
    return;
  }
  separate();
  Sink sink(out_, k.size() + 3);
  put_string(k, sink);
  sink.put(':');
  after_key_ = true;
}

void Writer::value(const Value& v) {
  separate();
  write(v, out_);
}

void Writer::string(std::string_view wtf8) {
  separate();
  if (scan_plain(wtf8.data(), wtf8.data() + wtf8.size()) == wtf8.data() + wtf8.size()) {
    out_ += '"';
    out_.append(wtf8);
    out_ += '"';
    return;
  }
  write_string(wtf8, out_);
}

void Writer::string(std::u16string_view utf16) {
  separate();
  write_string(utf16, out_);
}

void Writer::number(double d) {
  separate();
  write_number(d, out_);
}

void Writer::boolean(bool b) {
  separate();
  if (b) {
    out_.append("true", 4);
  } else {
    out_.append("false", 5);
  }
}

void Writer::null() {
  separate();
  out_.append("null", 4);
}

void Writer::raw(std::string_view json_text) {
  separate();
  out_.append(json_text);
}

}  // namespace rtpm::json
