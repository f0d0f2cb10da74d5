// The compact binary form of realtime-pm messages (`realtime-pm.bin.v1`).
//
// A message is one JSON value written as a tree of tagged items. Integers use
// LEB128 varints, object keys and frequent strings (PROTOCOL.md's field
// names, message and step types, the node and mark names of the built-in
// schemas) are one-byte dictionary references, and everything else is
// length-prefixed WTF-8. Key order and every value are kept, so
// JSON -> binary -> JSON gives the same JSON text; see docs/protocol.md for
// the byte layout. The dictionary is part of the protocol version: entries
// are only ever appended.
#pragma once

#include <string>
#include <string_view>

#include "rtpm/base/error.h"
#include "rtpm/json/json.h"

namespace rtpm::protocol {

/// Item tags (one byte each).
enum class BinTag : uint8_t {
  null = 0,
  false_ = 1,
  true_ = 2,
  uint = 3,         ///< varint n: the number n (0 .. 2^53-1)
  negint = 4,       ///< varint n: the number -(n + 1)
  float64 = 5,      ///< 8 bytes, IEEE 754 little endian: any other number
  string = 6,       ///< varint byte length, WTF-8 bytes
  dict_string = 7,  ///< varint dictionary index
  array = 8,        ///< varint count, items
  object = 9,       ///< varint count, then per member: key, item
};
// An object key is a varint k: k odd -> dictionary entry (k >> 1); k even ->
// a string of (k >> 1) bytes follows.

/// Encodes a JSON value.
std::string encode_binary(const json::Value& value);
/// Appends the encoding of `value` to `out`.
void encode_binary(const json::Value& value, std::string& out);
/// Decodes one value that must span all of `bytes`. Errors are bad_message;
/// nesting deeper than max_depth is an error.
Result<json::Value> decode_binary(std::string_view bytes, int max_depth = 1000);
/// Appends an unsigned LEB128 varint.
void write_varint(uint64_t v, std::string& out);
/// Reads an unsigned LEB128 varint (at most 10 bytes); false when malformed or truncated.
bool read_varint(std::string_view& in, uint64_t& v);

}  // namespace rtpm::protocol
