// JSON values, a parser, and a writer whose output matches JavaScript's
// JSON.stringify byte for byte.
//
// Strings are held as WTF-8: UTF-8 that may also encode lone UTF-16
// surrogates (U+D800..U+DFFF) as three-byte sequences, because ProseMirror
// positions count UTF-16 code units and happily split surrogate pairs. The
// parser accepts `\udXXX` escapes that are not part of a pair; the writer
// escapes lone surrogates exactly as JSON.stringify does (`\udXXX`, lower
// case hex) and writes everything else as raw UTF-8.
//
// Objects keep JavaScript property order: integer-like keys ("0", "17") first
// in ascending numeric order, then the other keys in insertion order. A
// duplicate key in parsed text keeps its first position and its last value,
// as JSON.parse does.
//
// Values are immutable once built and cheap to copy (arrays and objects are
// shared); they may be shared between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "rtpm/base/error.h"

namespace rtpm::json {

enum class Type { null, boolean, number, string, array, object };

class Value;
using Array = std::vector<Value>;
using Member = std::pair<std::string, Value>;
/// Members in JavaScript property order (see the file comment).
using Object = std::vector<Member>;

/// A JSON value. Default-constructed: null.
class Value {
 public:
  Value() = default;
  Value(std::nullptr_t) {}
  Value(bool b) : v_(b) {}
  Value(double d) : v_(d) {}
  Value(int i) : v_(static_cast<double>(i)) {}
  Value(int64_t i) : v_(static_cast<double>(i)) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(std::string_view s) : v_(std::string(s)) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(Array a) : v_(std::make_shared<const Array>(std::move(a))) {}
  /// Builds an object; members are put in JavaScript property order.
  Value(Object o);

  Type type() const { return static_cast<Type>(v_.index()); }
  bool is_null() const { return type() == Type::null; }
  bool is_bool() const { return type() == Type::boolean; }
  bool is_number() const { return type() == Type::number; }
  bool is_string() const { return type() == Type::string; }
  bool is_array() const { return type() == Type::array; }
  bool is_object() const { return type() == Type::object; }

  /// Accessors; calling one for the wrong type is a programming error: it throws
  /// std::bad_variant_access (check with is_*() first).
  bool as_bool() const { return std::get<1>(v_); }
  double as_number() const { return std::get<2>(v_); }
  const std::string& as_string() const { return std::get<3>(v_); }
  const Array& as_array() const { return *std::get<4>(v_); }
  const Object& as_object() const { return *std::get<5>(v_); }

  /// The member `key` of an object; nullptr when absent or when this is not an object.
  const Value* find(std::string_view key) const;

  /// JavaScript's `typeof` of the value: "object" (null, arrays, objects),
  /// "number", "string" or "boolean".
  const char* js_typeof() const;

  /// Deep equality as prosemirror-model's compareDeep: object key order does not matter.
  friend bool operator==(const Value& a, const Value& b);

 private:
  std::variant<std::nullptr_t, bool, double, std::string, std::shared_ptr<const Array>,
               std::shared_ptr<const Object>>
      v_;
};

struct ParseOptions {
  /// Deepest nesting of arrays and objects accepted; deeper input is an error.
  int max_depth = 1000;
};

/// Parses one JSON text (RFC 8259, with lone-surrogate escapes allowed).
/// Errors carry ErrorCode::bad_message and say what and where.
Result<Value> parse(std::string_view text, const ParseOptions& options = {});

/// Appends JSON.stringify(value).
void write(const Value& value, std::string& out);
/// JSON.stringify(value).
std::string stringify(const Value& value);
/// Appends a number as JavaScript prints it (shortest round trip; 1e21, 1e-7,
/// -0 -> "0"); NaN and infinities as "null".
void write_number(double d, std::string& out);
/// Appends a quoted, escaped string given as WTF-8.
void write_string(std::string_view wtf8, std::string& out);
/// Appends a quoted, escaped string given as UTF-16.
void write_string(std::u16string_view utf16, std::string& out);

/// True when `bytes` is well-formed WTF-8: UTF-8 in which the code points
/// U+D800..U+DFFF may also appear (three bytes each), except a high surrogate
/// directly followed by a low one (a pair is one four-byte character). Every
/// string the parser produces is; the binary codec rejects any other.
bool is_wtf8(std::string_view bytes);
/// WTF-8 -> UTF-16 (invalid bytes become U+FFFD).
std::u16string to_utf16(std::string_view wtf8);
/// UTF-16 -> WTF-8 (lone surrogates kept as three-byte sequences).
std::string to_wtf8(std::u16string_view utf16);

/// A streaming writer producing the same bytes as JSON.stringify; commas and
/// colons are placed automatically. Used by the model's toJSON and by every
/// JSON text the server and clients write, so that no intermediate Value tree
/// is built and no JSON is concatenated by hand.
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  void begin_object();
  void end_object();
  void begin_array();
  void end_array();
  /// Writes an object key; the next call writes its value.
  void key(std::string_view k);
  void value(const Value& v);
  void string(std::string_view wtf8);
  void string(std::u16string_view utf16);
  void number(double d);
  void boolean(bool b);
  void null();
  /// Writes a value given as JSON text that is already serialized (a cached
  /// document, a stored step array). Not checked: the caller vouches for it.
  void raw(std::string_view json_text);
  std::string& out() { return out_; }

 private:
  void separate();
  void open(char c);
  /// The separator the next value needs (a comma, or nothing after a key or first in its
  /// container) into `text`; returns its length (0 or 1).
  size_t put_separator(char* text);
  std::string& out_;
  // Per open container: 1 while nothing is written in it yet. A string, so that
  // the usual nesting (up to 15 levels) fits its inline buffer and a message
  // costs no allocation besides its text.
  std::string first_;
  bool after_key_ = false;
};

}  // namespace rtpm::json
