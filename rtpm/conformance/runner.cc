#include "rtpm/conformance/runner.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "rtpm/base/error.h"
#include "rtpm/collab/rebase.h"
#include "rtpm/collab/server_rebase.h"
#include "rtpm/model/node.h"
#include "rtpm/model/resolved_pos.h"
#include "rtpm/transform/map.h"
#include "rtpm/transform/step.h"

namespace rtpm::conformance {

namespace fs = std::filesystem;
using json::Value;
using model::NodeRef;
using transform::Mapping;
using transform::StepMap;
using transform::StepPtr;

std::shared_ptr<const model::Schema> SchemaCache::get(const std::string& name) {
  auto it = schemas_.find(name);
  if (it != schemas_.end()) return it->second;
  fs::path path = fs::path(dir_) / (name + ".json");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read schema " + path.string());
  std::stringstream buf;
  buf << in.rdbuf();
  auto parsed = json::parse(buf.str());
  if (!parsed)
    throw std::runtime_error("bad JSON in " + path.string() + ": " + parsed.error().message);
  auto schema = model::Schema::from_json(*parsed);
  schemas_.emplace(name, schema);
  return schema;
}

std::string json_diff(const std::string& expected, const std::string& actual) {
  size_t i = 0;
  while (i < expected.size() && i < actual.size() && expected[i] == actual[i]) ++i;
  std::string out = "  expected: " + expected + "\n  actual:   " + actual + "\n";
  size_t from = i > 40 ? i - 40 : 0;
  out += "  first difference at byte " + std::to_string(i) + ": expected ..." +
         expected.substr(from,
                         std::min<size_t>(80, expected.size() - std::min(from, expected.size()))) +
         "... actual ..." +
         actual.substr(from, std::min<size_t>(80, actual.size() - std::min(from, actual.size()))) +
         "...\n";
  return out;
}

namespace {

const std::vector<std::string> kKinds = {"check",  "contentexpr", "apply",
                                         "invert", "stepmap",     "merge",
                                         "map",    "rebase",      "server_rebase"};

// Thrown inside a check to report a failure.
struct Failure {
  std::string what;
};

[[noreturn]] void fail(std::string what) { throw Failure{std::move(what)}; }

void expect_json(const std::string& label, const std::string& expected, const std::string& actual) {
  if (expected != actual) fail(label + " differs:\n" + json_diff(expected, actual));
}

const Value& field(const Value& v, std::string_view key) {
  const Value* f = v.find(key);
  if (!f) fail("vector has no field '" + std::string(key) + "'");
  return *f;
}

int to_int(const Value& v) {
  if (!v.is_number()) fail("expected a number in the vector");
  return static_cast<int>(v.as_number());
}

bool to_bool(const Value& v) { return v.is_bool() && v.as_bool(); }

std::string str(const Value& v) { return json::stringify(v); }

// Describes an exception thrown by the port.
std::string describe(const std::exception& e) {
  if (auto* js = dynamic_cast<const JsError*>(&e)) return std::string(js->name()) + ": " + e.what();
  return std::string("exception: ") + e.what();
}

model::Schema const& schema_of(const Value& vector, SchemaCache& schemas,
                               std::shared_ptr<const model::Schema>& holder) {
  holder = schemas.get(field(vector, "schema").as_string());
  return *holder;
}

NodeRef parse_doc(const model::Schema& schema, const Value& json) {
  try {
    return model::Node::from_json(schema, json);
  } catch (const std::exception& e) {
    fail("Node.fromJSON of the vector's document threw " + describe(e));
  }
}

StepPtr parse_step(const model::Schema& schema, const Value& json) {
  try {
    return transform::Step::from_json(schema, json);
  } catch (const std::exception& e) {
    fail("Step.fromJSON of " + str(json) + " threw " + describe(e));
  }
}

std::string step_json(const StepPtr& step) { return step ? step->to_json_string() : "null"; }

// The outcome of applying a step, in the vector's `result` form.
struct Outcome {
  StepPtr step;  // null when Step.fromJSON threw
  NodeRef doc;
  std::string failed;
  std::string error;  // "Name: message" when the port threw
  bool threw_in_from_json = false;
};

Outcome apply_outcome(const model::Schema& schema, const NodeRef& doc,
                      const Value& step_json_value) {
  Outcome o;
  try {
    o.step = transform::Step::from_json(schema, step_json_value);
  } catch (const std::exception& e) {
    o.error = describe(e);
    o.threw_in_from_json = true;
    return o;
  }
  try {
    auto r = o.step->apply(*doc);
    if (r.ok())
      o.doc = r.doc;
    else
      o.failed = r.failed;
  } catch (const std::exception& e) {
    o.error = describe(e);
  }
  return o;
}

std::string outcome_str(const Outcome& o) {
  if (o.doc) return "{doc: " + o.doc->to_json_string() + "}";
  if (!o.error.empty()) return "{error: " + o.error + "}";
  return "{failed: " + o.failed + "}";
}

void expect_outcome(const std::string& label, const Value& expected, const Outcome& o) {
  if (const Value* d = expected.find("doc")) {
    if (!o.doc) fail(label + ": expected a document, got " + outcome_str(o));
    expect_json(label + " document", str(*d), o.doc->to_json_string());
  } else if (const Value* f = expected.find("failed")) {
    if (o.failed.empty() || o.failed != f->as_string())
      fail(label + ": expected {failed: " + f->as_string() + "}, got " + outcome_str(o));
  } else if (const Value* e = expected.find("error")) {
    std::string name = field(expected, "errorName").as_string();
    std::string thrown = name + ": " + e->as_string();
    if (o.error.empty()) fail(label + ": expected a thrown " + thrown + ", got " + outcome_str(o));
    // The port throws what upstream throws, with the same class name and
    // message. A TypeError's message is the JavaScript engine's, naming the
    // property that upstream's code happened to read ("Cannot read properties
    // of undefined (reading 'type')"); the port says what was missing
    // instead, so only the class is compared.
    bool same = name == "TypeError" ? o.error.rfind("TypeError: ", 0) == 0 : o.error == thrown;
    if (!same)
      fail(label + ": the error differs:\n  expected: " + thrown + "\n  actual:   " + o.error);
    const Value* stage = expected.find("stage");
    std::string where = stage && stage->is_string() ? stage->as_string() : "";
    if (where == "Step.fromJSON" && !o.threw_in_from_json)
      fail(label + ": expected Step.fromJSON to reject the step, but it threw later: " + o.error);
    if (where == "apply" && o.threw_in_from_json)
      fail(label + ": expected Step.fromJSON to accept the step and apply to throw, but " +
           "Step.fromJSON threw: " + o.error);
  } else {
    fail(label + ": vector result has no doc/failed/error");
  }
}

Mapping mapping_from_json(const Value& json) {
  std::vector<StepMap> maps;
  for (const Value& m : field(json, "maps").as_array()) {
    std::vector<int> ranges;
    for (const Value& r : field(m, "ranges").as_array()) ranges.push_back(to_int(r));
    const Value* inv = m.find("inverted");
    maps.emplace_back(std::move(ranges), inv && to_bool(*inv));
  }
  std::vector<int> mirror;
  if (const Value* mir = json.find("mirror"))
    for (const Value& x : mir->as_array()) mirror.push_back(to_int(x));
  int from = 0, to = -1;
  if (const Value* f = json.find("from")) from = to_int(*f);
  if (const Value* t = json.find("to")) to = to_int(*t);
  return Mapping(std::move(maps), std::move(mirror), from, to);
}

void run_check(const Value& v, SchemaCache& schemas) {
  std::shared_ptr<const model::Schema> holder;
  const auto& schema = schema_of(v, schemas, holder);
  bool valid = to_bool(field(v, "valid"));
  const Value* stage = v.find("stage");
  std::string expected_stage = stage && stage->is_string() ? stage->as_string() : "";
  NodeRef node;
  try {
    node = model::Node::from_json(schema, field(v, "doc"));
  } catch (const JsError& e) {
    if (valid) fail("Node.fromJSON threw " + describe(e) + " on a valid document");
    if (expected_stage != "fromJSON")
      fail("Node.fromJSON threw " + describe(e) + " but the vector fails at stage " +
           expected_stage);
    std::string expected_error = field(v, "error").as_string();
    if (e.what() != expected_error)
      fail("fromJSON error differs:\n  expected: " + expected_error + "\n  actual:   " + e.what());
    return;
  }
  // A recorded normalized form is an output of JavaScript: byte for byte. Without
  // one, toJSON equals the input structurally (the input's key order may differ).
  if (const Value* normalized = v.find("normalized")) {
    expect_json("toJSON", str(*normalized), node->to_json_string());
  } else if (!(*json::parse(node->to_json_string()) == field(v, "doc"))) {
    fail("toJSON differs structurally from the input:\n" +
         json_diff(str(field(v, "doc")), node->to_json_string()));
  }
  try {
    node->check();
  } catch (const JsError& e) {
    if (valid) fail("check() threw " + describe(e) + " on a valid document");
    if (expected_stage != "check")
      fail("check() threw " + describe(e) + " but the vector fails at stage " + expected_stage);
    std::string expected_error = field(v, "error").as_string();
    if (e.what() != expected_error)
      fail("check error differs:\n  expected: " + expected_error + "\n  actual:   " + e.what());
    return;
  }
  if (!valid)
    fail("expected " + expected_stage + " to fail with: " + field(v, "error").as_string());
}

std::string match_info(const model::ContentMatch& m) {
  json::Object o;
  o.emplace_back("validEnd", m.valid_end());
  const model::NodeType* dt = m.default_type();
  o.emplace_back("defaultType", dt ? Value(dt->name()) : Value());
  json::Array edges;
  for (int i = 0; i < m.edge_count(); ++i) edges.emplace_back(m.edge(i).type->name());
  o.emplace_back("edges", Value(std::move(edges)));
  o.emplace_back("inlineContent", m.inline_content());
  return str(Value(std::move(o)));
}

std::string fragment_json(const model::Fragment& f) {
  std::string out;
  json::Writer w(out);
  w.begin_array();
  f.for_each([&](const NodeRef& n, int, int) { n->write_json(w); });
  w.end_array();
  return out;
}

void run_contentexpr(const Value& v) {
  std::shared_ptr<const model::Schema> schema;
  const Value* schema_error = v.find("schemaError");
  try {
    schema = model::Schema::from_json(field(v, "schemaSpec"));
  } catch (const JsError& e) {
    if (!schema_error) fail("building the schema threw " + describe(e));
    if (schema_error->as_string() != e.what())
      fail("schema error differs:\n  expected: " + schema_error->as_string() +
           "\n  actual:   " + e.what());
    return;
  }
  if (schema_error) fail("expected the schema to fail with: " + schema_error->as_string());
  const model::NodeType* probe = schema->node_type(field(v, "type").as_string());
  NodeRef filled = probe->create_and_fill();
  expect_json("createAndFill", str(field(v, "createAndFill")),
              filled ? filled->to_json_string() : "null");
  const model::ContentMatch& start = probe->content_match();
  expect_json("start", str(field(v, "start")), match_info(start));

  auto build_nodes = [&](const Value& names) {
    std::vector<NodeRef> nodes;
    for (const Value& n : names.as_array()) {
      const model::NodeType* t = schema->node_type(n.as_string());
      NodeRef node = t->is_text() ? schema->text(std::u16string(u"x")) : t->create_and_fill();
      if (!node) fail("createAndFill() of " + n.as_string() + " gave null");
      nodes.push_back(node);
    }
    return nodes;
  };
  auto fragment_of = [&](const std::vector<NodeRef>& nodes) {
    return model::Fragment::from_array(nodes);
  };
  int si = 0;
  for (const Value& seq : field(v, "sequences").as_array()) {
    std::string label = "sequences[" + std::to_string(si++) + "]";
    const model::ContentMatch* cur = &start;
    int matched = 0;
    const auto& types = field(seq, "types").as_array();
    for (const Value& t : types) {
      const model::ContentMatch* next = cur->match_type(schema->node_type(t.as_string()));
      if (!next) break;
      cur = next;
      ++matched;
    }
    if (matched != to_int(field(seq, "matched")))
      fail(label + " matched " + std::to_string(matched) + ", expected " +
           str(field(seq, "matched")));
    bool all = matched == static_cast<int>(types.size());
    bool valid_end = all && cur->valid_end();
    if (valid_end != to_bool(field(seq, "validEnd"))) fail(label + " validEnd differs");
    // The generator records the state exactly when every type matched.
    const Value* state = seq.find("state");
    if (state && !all) fail(label + " has a state but not every type matched");
    if (!state && all) fail(label + ": every type matched, but the vector has no state");
    if (state) expect_json(label + " state", str(*state), match_info(*cur));
    model::Fragment frag = fragment_of(build_nodes(field(seq, "types")));
    const model::ContentMatch* fm = start.match_fragment(frag);
    const Value& mf = field(seq, "matchFragment");
    if (mf.is_null() != (fm == nullptr)) fail(label + " matchFragment null-ness differs");
    if (fm && fm->valid_end() != to_bool(field(mf, "validEnd")))
      fail(label + " matchFragment validEnd differs");
    if (probe->valid_content(frag) != to_bool(field(seq, "validContent")))
      fail(label + " validContent differs");
  }
  int fi = 0;
  for (const Value& f : field(v, "fills").as_array()) {
    std::string label = "fills[" + std::to_string(fi++) + "]";
    const model::ContentMatch* m =
        start.match_fragment(fragment_of(build_nodes(field(f, "before"))));
    std::string actual = "null";
    // `afterNodes` are the nodes the generator built for the names in `after`.
    model::Fragment after = fragment_of(build_nodes(field(f, "after")));
    expect_json(label + " afterNodes", str(field(f, "afterNodes")), fragment_json(after));
    if (m) {
      auto filled_before = m->fill_before(after, to_bool(field(f, "toEnd")));
      if (filled_before) actual = fragment_json(*filled_before);
    }
    expect_json(label, str(field(f, "result")), actual);
  }
  int wi = 0;
  for (const Value& w : field(v, "wrappings").as_array()) {
    std::string label = "wrappings[" + std::to_string(wi++) + "]";
    const model::NodeType* target = schema->node_type(field(w, "target").as_string());
    auto wrapping = start.find_wrapping(target);
    std::string actual = "null";
    if (wrapping) {
      json::Array names;
      for (const model::NodeType* t : *wrapping) names.emplace_back(t->name());
      actual = str(Value(std::move(names)));
    }
    expect_json(label, str(field(w, "result")), actual);
    // A second call answers from the match's cache, with the same result.
    if (start.find_wrapping(target) != wrapping) fail(label + ": the cached result differs");
  }
}

void run_apply(const Value& v, SchemaCache& schemas) {
  std::shared_ptr<const model::Schema> holder;
  const auto& schema = schema_of(v, schemas, holder);
  NodeRef doc = parse_doc(schema, field(v, "doc"));
  Outcome o = apply_outcome(schema, doc, field(v, "step"));
  expect_outcome("apply", field(v, "result"), o);
  // `stepJSON`: Step.fromJSON(step).toJSON() in JavaScript.
  if (const Value* round_trip = v.find("stepJSON")) {
    if (!o.step) fail("stepJSON given but Step.fromJSON threw: " + o.error);
    expect_json("Step.fromJSON(step).toJSON()", str(*round_trip), o.step->to_json_string());
  }
  // `resultCheckError`: the resulting document fails check() with this message.
  if (o.doc) {
    std::string check_error;
    try {
      o.doc->check();
    } catch (const JsError& e) {
      check_error = e.what();
    }
    const Value* expected = v.find("resultCheckError");
    std::string want = expected && expected->is_string() ? expected->as_string() : "";
    if (check_error != want)
      fail("check() of the result differs:\n  expected: " + (want.empty() ? "(valid)" : want) +
           "\n  actual:   " + (check_error.empty() ? "(valid)" : check_error));
  }
}

void run_invert(const Value& v, SchemaCache& schemas) {
  std::shared_ptr<const model::Schema> holder;
  const auto& schema = schema_of(v, schemas, holder);
  NodeRef doc = parse_doc(schema, field(v, "doc"));
  StepPtr step = parse_step(schema, field(v, "step"));
  StepPtr inverted = step->invert(*doc);
  expect_json("inverted", str(field(v, "inverted")), step_json(inverted));
  const Value* parses = v.find("invertedParses");
  bool expect_parses = !parses || to_bool(*parses);
  StepPtr reparsed;
  try {
    reparsed = transform::Step::from_json(schema, field(v, "inverted"));
  } catch (const JsError& e) {
    if (expect_parses) fail("Step.fromJSON rejected the inverted step: " + describe(e));
  }
  if (!expect_parses) {
    if (reparsed) fail("Step.fromJSON accepted the inverted step, but JS rejects it");
    return;
  }
  auto after = step->apply(*doc);
  if (!after.ok()) fail("the step does not apply: " + after.failed);
  bool restores = false;
  try {
    auto back = reparsed->apply(*after.doc);
    restores = back.ok() && back.doc->eq(*doc);
  } catch (const JsError&) {
  }
  if (restores != to_bool(field(v, "restores")))
    fail(std::string("restores is ") + (restores ? "true" : "false") + ", expected " +
         str(field(v, "restores")));
}

void run_stepmap(const Value& v, SchemaCache& schemas) {
  std::shared_ptr<const model::Schema> holder;
  const auto& schema = schema_of(v, schemas, holder);
  StepPtr step = parse_step(schema, field(v, "step"));
  Mapping mapping = mapping_from_json(field(v, "mapping"));
  StepPtr mapped = step->map(mapping);
  expect_json("mapped", str(field(v, "mapped")), step_json(mapped));
  if (const Value* target = v.find("target")) {
    NodeRef tdoc = parse_doc(schema, field(*target, "doc"));
    if (!mapped) fail("target given but the mapped step is null");
    expect_outcome("target", field(*target, "result"),
                   apply_outcome(schema, tdoc, field(v, "mapped")));
  }
}

void run_merge(const Value& v, SchemaCache& schemas) {
  std::shared_ptr<const model::Schema> holder;
  const auto& schema = schema_of(v, schemas, holder);
  StepPtr step = parse_step(schema, field(v, "step"));
  StepPtr other = parse_step(schema, field(v, "other"));
  StepPtr merged = step->merge(*other);
  expect_json("merged", str(field(v, "merged")), step_json(merged));
  const Value* doc_json = v.find("doc");
  const Value* equivalent = v.find("equivalent");
  if (doc_json && !doc_json->is_null() && merged && equivalent) {
    NodeRef doc = parse_doc(schema, *doc_json);
    bool same = false;
    try {
      auto a = step->apply(*doc);
      auto b = a.ok() ? other->apply(*a.doc) : a;
      auto m = merged->apply(*doc);
      same = b.ok() && m.ok() && b.doc->eq(*m.doc);
    } catch (const JsError&) {
    }
    if (same != to_bool(*equivalent)) fail("equivalence of the merged step differs");
  }
}

std::string map_result_json(const transform::MapResult& r) {
  json::Object o;
  o.emplace_back("pos", r.pos);
  o.emplace_back("deleted", r.deleted());
  o.emplace_back("deletedBefore", r.deleted_before());
  o.emplace_back("deletedAfter", r.deleted_after());
  o.emplace_back("deletedAcross", r.deleted_across());
  return str(Value(std::move(o)));
}

void run_map(const Value& v, SchemaCache& schemas) {
  Mapping mapping = mapping_from_json(field(v, "mapping"));
  int ci = 0;
  for (const Value& c : field(v, "cases").as_array()) {
    std::string label = "cases[" + std::to_string(ci++) + "]";
    int pos = to_int(field(c, "pos")), assoc = to_int(field(c, "assoc"));
    int mapped = mapping.map(pos, assoc);
    if (mapped != to_int(field(c, "map")))
      fail(label + ": map(" + std::to_string(pos) + ", " + std::to_string(assoc) +
           ") = " + std::to_string(mapped) + ", expected " + str(field(c, "map")));
    expect_json(label + " mapResult", str(field(c, "result")),
                map_result_json(mapping.map_result(pos, assoc)));
  }
  {
    const Value& for_each = field(v, "forEach");  // every map vector records it
    json::Array all;
    for (const StepMap& m : mapping.maps()) {
      json::Array ranges;
      m.for_each([&](int a, int b, int c, int d) {
        ranges.emplace_back(json::Array{Value(a), Value(b), Value(c), Value(d)});
      });
      all.emplace_back(std::move(ranges));
    }
    expect_json("forEach", str(for_each), str(Value(std::move(all))));
  }
  // Maps recorded from real steps must be those steps' own maps.
  const Value* source = v.find("source");
  const Value* steps = v.find("steps");
  if (steps && source && source->as_string() == "transform") {
    std::shared_ptr<const model::Schema> holder;
    const auto& schema = schema_of(v, schemas, holder);
    const auto& arr = steps->as_array();
    if (arr.size() != mapping.maps().size()) fail("steps and maps differ in number");
    for (size_t i = 0; i < arr.size(); ++i) {
      StepMap m = parse_step(schema, arr[i])->get_map();
      if (!std::ranges::equal(m.ranges(), mapping.maps()[i].ranges()))
        fail("getMap() of step " + std::to_string(i) + " differs from the recorded map");
    }
  }
}

void run_rebase(const Value& v, SchemaCache& schemas) {
  std::shared_ptr<const model::Schema> holder;
  const auto& schema = schema_of(v, schemas, holder);
  collab::CollabState state;
  state.version = to_int(field(v, "version"));
  state.doc = parse_doc(schema, field(v, "doc"));
  for (const Value& u : field(v, "unconfirmed").as_array())
    state.unconfirmed.push_back(
        {parse_step(schema, field(u, "step")), parse_step(schema, field(u, "inverted"))});
  std::vector<StepPtr> received;
  std::vector<std::string> client_ids;
  const Value& rec = field(v, "received");
  for (const Value& s : field(rec, "steps").as_array()) received.push_back(parse_step(schema, s));
  for (const Value& c : field(rec, "clientIDs").as_array())
    client_ids.push_back(c.is_string() ? c.as_string() : str(c));
  const Value& cid = field(v, "clientID");
  std::string client_id = cid.is_string() ? cid.as_string() : str(cid);
  collab::ReceiveResult r = collab::receive_transaction(state, received, client_ids, client_id);
  const Value& expected = field(v, "expected");
  if (r.state.version != to_int(field(expected, "version")))
    fail("version " + std::to_string(r.state.version) + ", expected " +
         str(field(expected, "version")));
  json::Array steps;
  std::string steps_json;
  json::Writer steps_writer(steps_json);
  steps_writer.begin_array();
  for (const auto& step : r.transform.steps()) step->write_json(steps_writer);
  steps_writer.end_array();
  expect_json("steps", str(field(expected, "steps")), steps_json);
  json::Array mirror;
  for (int m : r.transform.mapping().mirror()) mirror.emplace_back(m);
  expect_json("mirror", str(field(expected, "mirror")), str(Value(std::move(mirror))));
  expect_json("doc", str(field(expected, "doc")), r.state.doc->to_json_string());
  std::string unconfirmed;
  json::Writer w(unconfirmed);
  w.begin_array();
  for (const auto& u : r.state.unconfirmed) {
    w.begin_object();
    w.key("step");
    u.step->write_json(w);
    w.key("inverted");
    u.inverted->write_json(w);
    w.end_object();
  }
  w.end_array();
  expect_json("unconfirmed", str(field(expected, "unconfirmed")), unconfirmed);
}

// rtpm::collab::rebase_batch against prosemirror-collab's client-side rebase
// (scripts/gen-server-rebase-vectors.mjs): `steps` were made on `doc`, the
// `other` steps too; the server rebases `steps` over the maps of `other` onto
// the document after them, and must keep the same steps, as the same JSON,
// giving the same document.
void run_server_rebase(const Value& v, SchemaCache& schemas) {
  std::shared_ptr<const model::Schema> holder;
  const auto& schema = schema_of(v, schemas, holder);
  NodeRef doc = parse_doc(schema, field(v, "doc"));
  std::vector<StepPtr> batch;
  for (const Value& s : field(v, "steps").as_array()) batch.push_back(parse_step(schema, s));
  std::vector<StepMap> maps;
  int index = 0;
  for (const Value& s : field(v, "other").as_array()) {
    Outcome o = apply_outcome(schema, doc, s);
    if (!o.doc) fail("other step " + std::to_string(index) + " does not apply: " + outcome_str(o));
    ++index;
    doc = o.doc;
    maps.push_back(o.step->get_map());
  }
  expect_json("document after the other steps", str(field(v, "otherDoc")), doc->to_json_string());
  std::vector<const StepMap*> over;
  for (const StepMap& m : maps) over.push_back(&m);
  collab::ServerRebase r = collab::rebase_batch(batch, over, doc);
  const Value& expected = field(v, "expected");
  json::Array kept;
  for (size_t i : r.kept) kept.emplace_back(static_cast<int>(i));
  expect_json("kept (indices of the batch steps applied)", str(field(expected, "kept")),
              str(Value(std::move(kept))));
  std::string steps_json;
  json::Writer w(steps_json);
  w.begin_array();
  for (const auto& step : r.steps) step->write_json(w);
  w.end_array();
  expect_json("steps as applied", str(field(expected, "steps")), steps_json);
  expect_json("doc", str(field(expected, "doc")), r.doc->to_json_string());
}

}  // namespace

const std::vector<std::string>& supported_kinds() { return kKinds; }

Result<json::Value> parse_vector(std::string_view line) {
  // The --deep vectors of scripts/diff-fuzz.sh nest documents 15,000 levels
  // deep (30,000 of JSON). The parser is iterative; freeing a value recurses,
  // which is fine at this depth.
  return json::parse(line, json::ParseOptions{.max_depth = 40000});
}

std::optional<std::string> check_vector(const Value& vector, SchemaCache& schemas) {
  try {
    if (!vector.is_object()) fail("the vector is not a JSON object");
    const Value* kind = vector.find("kind");
    if (!kind || !kind->is_string()) fail("the vector has no kind");
    const std::string& k = kind->as_string();
    if (k == "check")
      run_check(vector, schemas);
    else if (k == "contentexpr")
      run_contentexpr(vector);
    else if (k == "apply")
      run_apply(vector, schemas);
    else if (k == "invert")
      run_invert(vector, schemas);
    else if (k == "stepmap")
      run_stepmap(vector, schemas);
    else if (k == "merge")
      run_merge(vector, schemas);
    else if (k == "map")
      run_map(vector, schemas);
    else if (k == "rebase")
      run_rebase(vector, schemas);
    else if (k == "server_rebase")
      run_server_rebase(vector, schemas);
    else
      fail("kind '" + k + "' is not supported by this build");
  } catch (const Failure& f) {
    return f.what;
  } catch (const std::exception& e) {
    return "unexpected " + describe(e);
  }
  return std::nullopt;
}

namespace {

std::vector<fs::path> expand(const std::vector<std::string>& paths, std::ostream& out, bool& bad) {
  std::vector<fs::path> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> found;
      for (const auto& e : fs::recursive_directory_iterator(p, ec))
        if (e.is_regular_file() && e.path().extension() == ".jsonl") found.push_back(e.path());
      std::sort(found.begin(), found.end());
      if (found.empty()) {
        out << "error: no .jsonl files under " << p << "\n";
        bad = true;
      }
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(p, ec)) {
      files.emplace_back(p);
    } else {
      out << "error: cannot read " << p << "\n";
      bad = true;
    }
  }
  return files;
}

}  // namespace

Result<std::vector<Vector>> read_vectors(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Error{ErrorCode::internal, "cannot read " + file};
  std::vector<Vector> out;
  std::string name = fs::path(file).filename().string();
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Vector v;
    v.file = name;
    v.line = line_no;
    v.id = name + ":" + std::to_string(line_no);
    v.kind = "?";
    v.value = parse_vector(line);
    if (v.value) {
      if (const Value* k = v.value->find("kind"); k && k->is_string()) v.kind = k->as_string();
      if (const Value* i = v.value->find("id"); i && i->is_string()) v.id = i->as_string();
    }
    v.text = std::move(line);
    out.push_back(std::move(v));
  }
  return out;
}

KindReport check_kind(const std::string& dir, std::string_view kind) {
  KindReport report;
  bool bad = false;
  std::ostringstream errors;
  std::vector<fs::path> files = expand({dir}, errors, bad);
  if (bad) report.failures.push_back(errors.str());
  SchemaCache schemas((fs::path(dir) / "schemas").string());
  for (const auto& file : files) {
    auto vectors = read_vectors(file.string());
    if (!vectors) {
      report.failures.push_back(vectors.error().message);
      continue;
    }
    for (const Vector& v : *vectors) {
      std::string where = v.id + " (" + v.file + ":" + std::to_string(v.line) + "): ";
      if (!v.value) {
        report.failures.push_back(where + "unreadable vector: " + v.value.error().message);
        continue;
      }
      if (v.kind != kind) continue;
      ++report.total;
      if (auto problem = check_vector(*v.value, schemas))
        report.failures.push_back(where + *problem);
    }
  }
  return report;
}

int run(const RunOptions& options, std::ostream& out) {
  bool bad_input = false;
  if (options.paths.empty()) {
    out << "error: no vector files given\n";
    return 2;
  }
  for (const auto& k : options.kinds)
    if (std::find(kKinds.begin(), kKinds.end(), k) == kKinds.end())
      out << "note: kind '" << k << "' is not supported by this build; its vectors fail\n";
  std::vector<fs::path> files = expand(options.paths, out, bad_input);
  std::map<std::string, std::pair<int, int>> per_kind;  // kind -> passed, failed
  std::vector<std::string> failures;
  int passed = 0, failed = 0, shown = 0;
  std::map<std::string, std::unique_ptr<SchemaCache>> caches;
  std::ofstream saved;
  if (!options.save_failures.empty()) {
    saved.open(options.save_failures, std::ios::binary | std::ios::app);
    if (!saved) {
      out << "error: cannot write " << options.save_failures << "\n";
      return 2;
    }
  }
  for (const auto& file : files) {
    std::string dir = options.schemas_dir.empty() ? (file.parent_path() / "schemas").string()
                                                  : options.schemas_dir;
    auto& cache = caches[dir];
    if (!cache) cache = std::make_unique<SchemaCache>(dir);
    auto vectors = read_vectors(file.string());
    if (!vectors) {
      out << "error: " << vectors.error().message << "\n";
      bad_input = true;
      continue;
    }
    for (const Vector& v : *vectors) {
      std::string where = v.file + ":" + std::to_string(v.line);
      std::optional<std::string> problem;
      if (!v.value) {
        problem = "unreadable vector: " + v.value.error().message;
        bad_input = true;
      } else {
        if (!options.kinds.empty() &&
            std::find(options.kinds.begin(), options.kinds.end(), v.kind) == options.kinds.end())
          continue;
        problem = check_vector(*v.value, *cache);
      }
      auto& counts = per_kind[v.kind];
      if (!problem) {
        ++passed;
        ++counts.first;
        continue;
      }
      ++failed;
      ++counts.second;
      if (saved.is_open()) saved << v.text << '\n' << std::flush;
      if (shown < options.max_failures_shown) {
        ++shown;
        failures.push_back("FAIL " + v.id + " (" + v.kind + ", " + where + ")\n" + *problem);
      } else if (options.verbose) {
        failures.push_back("FAIL " + v.id + " (" + v.kind + ", " + where + ")");
      }
    }
  }
  for (const auto& [kind, counts] : per_kind)
    out << kind << ": " << counts.first << " passed, " << counts.second << " failed\n";
  for (const auto& f : failures) out << f << (f.back() == '\n' ? "" : "\n");
  if (failed > shown && !options.verbose)
    out << "(" << failed - shown << " more failures; --verbose lists them)\n";
  out << passed << " passed, " << failed << " failed\n";
  if (bad_input) return 2;
  return failed ? 1 : 0;
}

}  // namespace rtpm::conformance
