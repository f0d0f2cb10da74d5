// Port of prosemirror-transform src/step.ts (1.12.6).
//
// A step is an atomic change to a document. Steps are immutable and shared
// (StepPtr). Step::apply returns a StepResult; what upstream throws (bad
// positions, invalid attrs, text-node targets) is thrown as rtpm::JsError
// with upstream's message, and the authority turns it into invalid_steps.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "rtpm/json/json.h"
#include "rtpm/model/node.h"
#include "rtpm/model/schema.h"
#include "rtpm/model/slice.h"
#include "rtpm/transform/map.h"

namespace rtpm::transform {

class Step;
using StepPtr = std::shared_ptr<const Step>;

/// The result of applying a step: a new document or a failure message.
class StepResult {
 public:
  /// The transformed document, if successful (else null).
  model::NodeRef doc;
  /// The failure message, if unsuccessful (empty when ok).
  std::string failed;
  bool ok() const { return static_cast<bool>(doc); }

  static StepResult ok(model::NodeRef doc) { return StepResult{std::move(doc), {}}; }
  static StepResult fail(std::string message) { return StepResult{nullptr, std::move(message)}; }
  /// Call Node::replace with the given arguments. A successful result if it
  /// succeeds, a failed one if it throws a ReplaceError (other errors propagate).
  static StepResult from_replace(const model::Node& doc, int from, int to,
                                 const model::Slice& slice);
};

class Step : public std::enable_shared_from_this<Step> {
 public:
  virtual ~Step() = default;

  /// The JSON id of the step type ("replace", "addMark", ...).
  virtual std::string_view step_type() const = 0;
  /// Applies this step to the given document.
  virtual StepResult apply(const model::Node& doc) const = 0;
  /// The step map that represents the changes made by this step.
  virtual StepMap get_map() const { return StepMap::empty(); }
  /// Create an inverted version of this step. Needs the document as it was before the step.
  virtual StepPtr invert(const model::Node& doc) const = 0;
  /// Map this step through a mappable thing; null if the step was entirely deleted.
  virtual StepPtr map(const Mappable& mapping) const = 0;
  /// Try to merge this step with another one, to be applied directly after it.
  virtual StepPtr merge(const Step& /*other*/) const { return nullptr; }
  /// Write the JSON representation (with "stepType"), keys in upstream's order.
  virtual void write_json(json::Writer& w) const = 0;

  json::Value to_json() const;
  /// JSON.stringify(step.toJSON()).
  std::string to_json_string() const;

  /// Deserialize a step from its JSON representation. Throws RangeError
  /// "Invalid input for Step.fromJSON", "No step type X defined", or the step
  /// class's own fromJSON error.
  static StepPtr from_json(const model::Schema& schema, const json::Value& json);

  using FromJson = std::function<StepPtr(const model::Schema&, const json::Value&)>;
  /// Register a step type's JSON id. Throws RangeError "Duplicate use of step JSON ID X".
  /// The built-in types are registered before main (see step.cc).
  static void json_id(std::string id, FromJson from_json);
};

}  // namespace rtpm::transform
