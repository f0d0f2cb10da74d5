// libFuzzer target: schema specs (model::Schema::from_json) and the content
// expressions in them. The first byte picks the form: odd, the rest of the
// input is a whole spec (JSON); even, it is a content expression given to a
// node type of a fixed spec of block and inline types, which is where
// expressions are compiled. A schema that builds is then used: every type
// is filled (createAndFill), its automaton printed, its default type and
// wrappings looked up; only JavaScript's errors (rtpm::JsError) may be thrown.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_support.h"

#include "rtpm/base/error.h"
#include "rtpm/json/json.h"
#include "rtpm/model/content_match.h"
#include "rtpm/model/node.h"
#include "rtpm/model/schema.h"

namespace {

using namespace rtpm;

void exercise(const model::Schema& schema) {
  for (const auto& type : schema.node_types()) {
    const model::ContentMatch& start = type->content_match();
    (void)start.to_string();
    (void)start.default_type();
    for (const auto& other : schema.node_types()) (void)start.find_wrapping(other.get());
    try {
      model::NodeRef filled = type->create_and_fill();
      if (filled) {
        fuzz::check(filled->height() <= model::kMaxDepth, "createAndFill beyond kMaxDepth");
        if (!type->has_required_attrs()) filled->check();
      }
    } catch (const JsError&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  json::Value spec;
  if (data[0] & 1) {
    Result<json::Value> parsed = json::parse(rest);
    if (!parsed) return 0;
    spec = std::move(*parsed);
  } else {
    json::Value probe(json::Object{{"content", json::Value(std::string(rest))}});
    spec = json::Value(json::Object{
        {"nodes", json::Value(json::Array{
                      json::Value(json::Array{json::Value("doc"), probe}),
                      json::Value(json::Array{
                          json::Value("paragraph"),
                          json::Value(json::Object{{"content", "inline*"}, {"group", "block"}})}),
                      json::Value(json::Array{
                          json::Value("quote"),
                          json::Value(json::Object{{"content", "block+"}, {"group", "block"}})}),
                      json::Value(json::Array{json::Value("rule"),
                                              json::Value(json::Object{{"group", "block"}})}),
                      json::Value(json::Array{json::Value("text"),
                                              json::Value(json::Object{{"group", "inline"}})}),
                      json::Value(json::Array{
                          json::Value("image"),
                          json::Value(json::Object{{"inline", true}, {"group", "inline"}})}),
                  })},
        {"marks", json::Value(json::Array{
                      json::Value(json::Array{json::Value("em"), json::Value(json::Object{})})})}});
  }
  std::shared_ptr<const model::Schema> schema;
  try {
    schema = model::Schema::from_json(spec);
  } catch (const JsError&) {
    return 0;
  }
  exercise(*schema);
  return 0;
}
