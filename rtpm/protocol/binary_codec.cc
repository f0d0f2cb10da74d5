#include "rtpm/protocol/binary_codec.h"

#include <cmath>
#include <cstring>
#include <unordered_map>
#include <vector>

namespace rtpm::protocol {

namespace {

// The dictionary. Append only: an index, once published, keeps its string.
const std::vector<std::string_view>& dictionary() {
  static const std::vector<std::string_view> words = {
      // Message fields and types (PROTOCOL.md).
      "type",
      "timestamp",
      "room",
      "userId",
      "version",
      "steps",
      "presence",
      "users",
      "doc",
      "userIds",
      "code",
      "message",
      "index",
      "join",
      "leave",
      "state",
      "ack",
      "error",
      "cursor",
      "selection",
      "pos",
      "from",
      "to",
      "anchor",
      "head",
      // Step JSON.
      "stepType",
      "slice",
      "content",
      "openStart",
      "openEnd",
      "structure",
      "gapFrom",
      "gapTo",
      "insert",
      "mark",
      "attr",
      "value",
      "replace",
      "replaceAround",
      "addMark",
      "removeMark",
      "addNodeMark",
      "removeNodeMark",
      "docAttr",
      "markSet",
      // Node JSON and the built-in schemas' names.
      "text",
      "marks",
      "attrs",
      "paragraph",
      "heading",
      "level",
      "blockquote",
      "code_block",
      "codeBlock",
      "horizontal_rule",
      "horizontalRule",
      "hard_break",
      "hardBreak",
      "image",
      "src",
      "alt",
      "title",
      "ordered_list",
      "orderedList",
      "bullet_list",
      "bulletList",
      "list_item",
      "listItem",
      "order",
      "start",
      "language",
      "link",
      "href",
      "target",
      "rel",
      "class",
      "em",
      "italic",
      "strong",
      "bold",
      "code",
      "strike",
      "underline",
      // Error codes.
      "bad_message",
      "unknown_type",
      "invalid_room",
      "not_joined",
      "invalid_steps",
      "version_conflict",
      "message_too_large",
      "rate_limited",
      "unauthorized",
      "forbidden",
      "session_replaced",
      "room_full",
      "internal",
      "name",
      "color",
  };
  return words;
}

const std::unordered_map<std::string_view, uint64_t>& dictionary_index() {
  static const auto index = [] {
    std::unordered_map<std::string_view, uint64_t> m;
    const auto& words = dictionary();
    for (size_t i = 0; i < words.size(); ++i) m.emplace(words[i], i);
    return m;
  }();
  return index;
}

int64_t dict_lookup(std::string_view s) {
  const auto& idx = dictionary_index();
  auto it = idx.find(s);
  return it == idx.end() ? -1 : static_cast<int64_t>(it->second);
}

constexpr double kMaxSafe = 9007199254740991.0;

void encode_value(const json::Value& v, std::string& out) {
  switch (v.type()) {
    case json::Type::null: out += static_cast<char>(BinTag::null); return;
    case json::Type::boolean:
      out += static_cast<char>(v.as_bool() ? BinTag::true_ : BinTag::false_);
      return;
    case json::Type::number: {
      double d = v.as_number();
      // A JSON text writes NaN and the infinities as null (JSON.stringify,
      // json::stringify); so does the binary form, whose decoder refuses
      // non-finite numbers. Such values come from JSON like 1e400, which
      // JSON.parse reads as Infinity.
      if (!std::isfinite(d)) {
        out += static_cast<char>(BinTag::null);
        return;
      }
      if (std::floor(d) == d && std::fabs(d) <= kMaxSafe && !(d == 0 && std::signbit(d))) {
        if (d >= 0) {
          out += static_cast<char>(BinTag::uint);
          write_varint(static_cast<uint64_t>(d), out);
        } else {
          out += static_cast<char>(BinTag::negint);
          write_varint(static_cast<uint64_t>(-d - 1), out);
        }
        return;
      }
      out += static_cast<char>(BinTag::float64);
      uint64_t bits;
      std::memcpy(&bits, &d, 8);
      for (int i = 0; i < 8; ++i) out += static_cast<char>((bits >> (8 * i)) & 0xff);
      return;
    }
    case json::Type::string: {
      const std::string& s = v.as_string();
      int64_t d = dict_lookup(s);
      if (d >= 0) {
        out += static_cast<char>(BinTag::dict_string);
        write_varint(static_cast<uint64_t>(d), out);
      } else {
        out += static_cast<char>(BinTag::string);
        write_varint(s.size(), out);
        out += s;
      }
      return;
    }
    case json::Type::array: {
      const auto& a = v.as_array();
      out += static_cast<char>(BinTag::array);
      write_varint(a.size(), out);
      for (const auto& item : a) encode_value(item, out);
      return;
    }
    case json::Type::object: {
      const auto& o = v.as_object();
      out += static_cast<char>(BinTag::object);
      write_varint(o.size(), out);
      for (const auto& [key, item] : o) {
        int64_t d = dict_lookup(key);
        if (d >= 0) {
          write_varint((static_cast<uint64_t>(d) << 1) | 1, out);
        } else {
          write_varint(static_cast<uint64_t>(key.size()) << 1, out);
          out += key;
        }
        encode_value(item, out);
      }
      return;
    }
  }
}

struct Decoder {
  std::string_view in;
  int max_depth;
  std::string error;

  bool fail(std::string what) {
    if (error.empty()) error = std::move(what);
    return false;
  }

  bool read_string(uint64_t len, std::string& out) {
    if (len > in.size()) return fail("string longer than the message");
    // As in a JSON text frame, whose parser refuses invalid UTF-8.
    if (!json::is_wtf8(in.substr(0, len))) return fail("string is not UTF-8");
    out.assign(in.data(), len);
    in.remove_prefix(len);
    return true;
  }

  bool value(json::Value& out, int depth) {
    if (in.empty()) return fail("truncated message");
    auto tag = static_cast<BinTag>(static_cast<uint8_t>(in.front()));
    in.remove_prefix(1);
    uint64_t n = 0;
    switch (tag) {
      case BinTag::null: out = json::Value(); return true;
      case BinTag::false_: out = json::Value(false); return true;
      case BinTag::true_: out = json::Value(true); return true;
      case BinTag::uint:
        if (!read_varint(in, n) || n > static_cast<uint64_t>(kMaxSafe)) return fail("bad integer");
        out = json::Value(static_cast<double>(n));
        return true;
      case BinTag::negint:
        if (!read_varint(in, n) || n >= static_cast<uint64_t>(kMaxSafe)) return fail("bad integer");
        out = json::Value(-static_cast<double>(n) - 1);
        return true;
      case BinTag::float64: {
        if (in.size() < 8) return fail("truncated number");
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i)
          bits |= static_cast<uint64_t>(static_cast<uint8_t>(in[i])) << (8 * i);
        in.remove_prefix(8);
        double d;
        std::memcpy(&d, &bits, 8);
        if (!std::isfinite(d)) return fail("numbers must be finite");
        out = json::Value(d);
        return true;
      }
      case BinTag::string: {
        std::string s;
        if (!read_varint(in, n) || !read_string(n, s)) return fail("bad string");
        out = json::Value(std::move(s));
        return true;
      }
      case BinTag::dict_string:
        if (!read_varint(in, n) || n >= dictionary().size()) return fail("bad dictionary index");
        out = json::Value(dictionary()[n]);
        return true;
      case BinTag::array: {
        if (depth >= max_depth) return fail("nested too deeply");
        if (!read_varint(in, n) || n > in.size()) return fail("bad array length");
        json::Array a;
        a.reserve(n);
        for (uint64_t i = 0; i < n; ++i) {
          a.emplace_back();
          if (!value(a.back(), depth + 1)) return false;
        }
        out = json::Value(std::move(a));
        return true;
      }
      case BinTag::object: {
        if (depth >= max_depth) return fail("nested too deeply");
        if (!read_varint(in, n) || n > in.size()) return fail("bad object size");
        json::Object o;
        o.reserve(n);
        for (uint64_t i = 0; i < n; ++i) {
          uint64_t k = 0;
          if (!read_varint(in, k)) return fail("bad key");
          std::string key;
          if (k & 1) {
            if ((k >> 1) >= dictionary().size()) return fail("bad dictionary index");
            key = dictionary()[k >> 1];
          } else if (!read_string(k >> 1, key)) {
            return false;
          }
          json::Value item;
          if (!value(item, depth + 1)) return false;
          o.emplace_back(std::move(key), std::move(item));
        }
        out = json::Value(std::move(o));
        return true;
      }
    }
    return fail("unknown tag " + std::to_string(static_cast<int>(tag)));
  }
};

}  // namespace

void write_varint(uint64_t v, std::string& out) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

bool read_varint(std::string_view& in, uint64_t& v) {
  v = 0;
  for (int i = 0; i < 10; ++i) {
    if (in.empty()) return false;
    uint8_t b = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    if (i == 9 && b > 1) return false;
    v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) return true;
  }
  return false;
}

void encode_binary(const json::Value& value, std::string& out) { encode_value(value, out); }

std::string encode_binary(const json::Value& value) {
  std::string out;
  encode_value(value, out);
  return out;
}

Result<json::Value> decode_binary(std::string_view bytes, int max_depth) {
  Decoder d{bytes, max_depth, {}};
  json::Value v;
  if (!d.value(v, 0)) return Error{ErrorCode::bad_message, "binary message: " + d.error};
  if (!d.in.empty()) return Error{ErrorCode::bad_message, "binary message: trailing bytes"};
  return v;
}

}  // namespace rtpm::protocol
