// transform_document: the ProseMirror model and transform port on their own,
// without a server. Builds a schema and a document from JSON, edits the
// document with a Transform, and prints the result and the steps as the
// JavaScript libraries would (JSON.stringify's bytes).
//
//   transform_document
//   {"type":"doc","content":[{"type":"paragraph","content":[...,"text":"world"}]}]}
//   [{"stepType":"replace",...},{"stepType":"addMark",...}]
#include <exception>
#include <iostream>

#include "rtpm/json/json.h"
#include "rtpm/model/node.h"
#include "rtpm/model/schema.h"
#include "rtpm/transform/transform.h"

int main() {
  // A schema spec in the format of prosemirror-model's SchemaSpec (nodes and marks in order).
  auto spec = rtpm::json::parse(R"({
    "nodes": [["doc", {"content": "paragraph+"}],
              ["paragraph", {"content": "text*"}],
              ["text", {}]],
    "marks": [["em", {}]]
  })");
  auto doc_json = rtpm::json::parse(
      R"({"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"Hello, "}]}]})");
  if (!spec || !doc_json) {
    std::cerr << "bad JSON\n";
    return 1;
  }
  try {
    auto schema = rtpm::model::Schema::from_json(*spec);
    auto doc = rtpm::model::Node::from_json(*schema, *doc_json);
    // Append "world" to the paragraph (at its end, position 8) and emphasise it.
    rtpm::transform::Transform tr(doc);
    tr.insert(8, schema->text("world"));
    tr.add_mark(8, 13, schema->mark("em"));
    std::cout << tr.doc()->to_json_string() << "\n[";
    for (size_t i = 0; i < tr.steps().size(); ++i)
      std::cout << (i ? "," : "") << tr.steps()[i]->to_json_string();
    std::cout << "]\n";
  } catch (const std::exception& e) {  // the port throws as JavaScript does (RangeError, ...)
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
