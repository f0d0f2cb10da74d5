// Port of prosemirror-transform src/step.ts (1.12.6).

#include "rtpm/transform/step.h"

#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "rtpm/model/internal/js.h"
#include "rtpm/transform/attr_step.h"
#include "rtpm/transform/mark_step.h"
#include "rtpm/transform/replace_step.h"

namespace rtpm::transform {

namespace {

// Port note: upstream keeps one mutable `stepsByID` object that each step
// module fills when it is loaded. Here the registry is a function-local
// static, initialised (thread-safely) with every built-in step type on first
// use, and guarded by a lock so that json_id may be called at any time.
struct Registry {
  std::shared_mutex mutex;
  std::unordered_map<std::string, Step::FromJson> steps_by_id;

  Registry() {
    steps_by_id.emplace("replace", &ReplaceStep::from_json);
    steps_by_id.emplace("replaceAround", &ReplaceAroundStep::from_json);
    steps_by_id.emplace("addMark", &AddMarkStep::from_json);
    steps_by_id.emplace("removeMark", &RemoveMarkStep::from_json);
    steps_by_id.emplace("markSet", &MarkSetStep::from_json);
    steps_by_id.emplace("addNodeMark", &AddNodeMarkStep::from_json);
    steps_by_id.emplace("removeNodeMark", &RemoveNodeMarkStep::from_json);
    steps_by_id.emplace("attr", &AttrStep::from_json);
    steps_by_id.emplace("docAttr", &DocAttrStep::from_json);
  }
};

Registry& registry() {
  static Registry instance;
  return instance;
}

}  // namespace

json::Value Step::to_json() const {
  // Port note: the step writes its JSON text (write_json), which is parsed
  // back here; JSON order is preserved by the parser.
  Result<json::Value> parsed = json::parse(to_json_string());
  assert(parsed.ok());
  return std::move(parsed).value();
}

std::string Step::to_json_string() const {
  std::string out;
  json::Writer w(out);
  write_json(w);
  return out;
}

StepPtr Step::from_json(const model::Schema& schema, const json::Value& json) {
  const json::Value* step_type = json.find("stepType");
  // Port note: `!json || !json.stepType`; a truthy non-object (a number, a
  // string, an array) has no stepType either.
  if (!json.is_object() || !model::internal::js_truthy(step_type))
    throw RangeError("Invalid input for Step.fromJSON");
  // The registry is keyed by String(json.stepType), as a JS property lookup is.
  std::string id = model::internal::js_to_string(step_type);
  FromJson type;
  {
    Registry& reg = registry();
    std::shared_lock lock(reg.mutex);
    auto found = reg.steps_by_id.find(id);
    if (found != reg.steps_by_id.end()) type = found->second;
  }
  if (!type) throw RangeError("No step type " + id + " defined");
  return type(schema, json);
}

void Step::json_id(std::string id, FromJson from_json) {
  Registry& reg = registry();
  std::unique_lock lock(reg.mutex);
  if (reg.steps_by_id.count(id)) throw RangeError("Duplicate use of step JSON ID " + id);
  reg.steps_by_id.emplace(std::move(id), std::move(from_json));
}

StepResult StepResult::from_replace(const model::Node& doc, int from, int to,
                                    const model::Slice& slice) {
  try {
    return StepResult::ok(doc.replace(from, to, slice));
  } catch (const model::ReplaceError& e) {
    return StepResult::fail(e.what());
  }
}

}  // namespace rtpm::transform
