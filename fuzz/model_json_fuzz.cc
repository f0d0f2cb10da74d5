// libFuzzer target: Node, Slice, Mark and Step fromJSON on the built-in
// schemas. The first byte picks the schema (bit 0: basic or tiptap) and what
// the rest of the input (JSON) is read as (bits 1-2: node, slice, mark,
// step). Only JavaScript's errors (rtpm::JsError) may be thrown; what
// parses must write JSON that parses back, and writing that again gives the
// same JSON (toJSON is canonical after one round: as in JavaScript, a
// replace step whose slice has no content but open depths writes
// "slice":null, which reads back as the empty slice); a node stays within
// model::kMaxDepth.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_support.h"

#include "rtpm/base/error.h"
#include "rtpm/json/json.h"
#include "rtpm/model/mark.h"
#include "rtpm/model/node.h"
#include "rtpm/model/slice.h"
#include "rtpm/transform/step.h"

namespace {

using namespace rtpm;

std::string slice_json(const model::Slice& slice) {
  std::string out;
  json::Writer w(out);
  slice.write_json(w);
  return out;
}

std::string mark_json(const model::Mark& mark) {
  std::string out;
  json::Writer w(out);
  mark.write_json(w);
  return out;
}

json::Value reparse(const std::string& text) {
  Result<json::Value> value = json::parse(text);
  fuzz::check(value.ok(), "toJSON wrote text that does not parse: " + text.substr(0, 200));
  return std::move(value).value();
}

/// Checks that `write(read(json))` is canonical after one round: reading what
/// it wrote and writing again gives the same text.
template <typename Read, typename Write>
void canonical(const json::Value& input, Read read, Write write, const char* what) {
  std::string once = write(read(input));
  std::string twice = write(read(reparse(once)));
  std::string thrice = write(read(reparse(twice)));
  fuzz::check(thrice == twice,
              std::string(what) + " JSON is not canonical: " + twice.substr(0, 200));
}

void round_trip(const model::Schema& schema, int kind, const json::Value& input) {
  switch (kind) {
    case 0: {
      auto read = [&](const json::Value& v) {
        model::NodeRef node = model::Node::from_json(schema, v);
        fuzz::check(node->height() <= model::kMaxDepth, "a node deeper than kMaxDepth");
        return node;
      };
      auto write = [](const model::NodeRef& node) {
        std::string text = node->to_json_string();
        fuzz::check(json::stringify(node->to_json()) == text, "Node::to_json != write_json");
        return text;
      };
      canonical(input, read, write, "Node");
      try {
        read(input)->check();
      } catch (const JsError&) {
      }
      break;
    }
    case 1:
      canonical(
          input, [&](const json::Value& v) { return model::Slice::from_json(schema, v); },
          slice_json, "Slice");
      break;
    case 2:
      canonical(
          input, [&](const json::Value& v) { return model::Mark::from_json(schema, v); }, mark_json,
          "Mark");
      break;
    default:
      canonical(
          input, [&](const json::Value& v) { return transform::Step::from_json(schema, v); },
          [](const transform::StepPtr& step) { return step->to_json_string(); }, "Step");
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Result<json::Value> input =
      json::parse(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  if (!input) return 0;
  try {
    round_trip(fuzz::builtin(data[0]), (data[0] >> 1) & 3, *input);
  } catch (const JsError&) {
  }
  return 0;
}
