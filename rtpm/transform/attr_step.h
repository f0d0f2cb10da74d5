// Port of prosemirror-transform src/attr_step.ts (1.12.6).
//
// Attribute steps: AttrStep sets one attribute of the node at a position,
// DocAttrStep one attribute of the document node. The value is optional:
// std::nullopt stands for JavaScript's undefined (no "value" key in the JSON;
// NodeType::compute_attrs then treats the attribute as not given).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "rtpm/transform/step.h"

namespace rtpm::transform {

/// Update an attribute in a specific node.
class AttrStep final : public Step {
 public:
  /// Construct an attribute step.
  AttrStep(int pos, std::string attr, std::optional<json::Value> value);

  /// The position of the target node.
  int pos() const { return pos_; }
  /// The attribute to set.
  const std::string& attr() const { return attr_; }
  /// The attribute's new value (nullopt: undefined).
  const std::optional<json::Value>& value() const { return value_; }

  std::string_view step_type() const override { return "attr"; }
  /// Throws what NodeType::create throws (a text node target, an invalid value).
  StepResult apply(const model::Node& doc) const override;
  StepMap get_map() const override;
  /// Throws TypeError when there is no node at pos (JavaScript dereferences null).
  StepPtr invert(const model::Node& doc) const override;
  StepPtr map(const Mappable& mapping) const override;
  void write_json(json::Writer& w) const override;

  /// Throws RangeError "Invalid input for AttrStep.fromJSON".
  static StepPtr from_json(const model::Schema& schema, const json::Value& json);

 private:
  int pos_;
  std::string attr_;
  std::optional<json::Value> value_;
};

/// Update an attribute in the doc node.
class DocAttrStep final : public Step {
 public:
  /// Construct an attribute step.
  DocAttrStep(std::string attr, std::optional<json::Value> value);

  /// The attribute to set.
  const std::string& attr() const { return attr_; }
  /// The attribute's new value (nullopt: undefined).
  const std::optional<json::Value>& value() const { return value_; }

  std::string_view step_type() const override { return "docAttr"; }
  /// Throws what NodeType::create throws (an invalid value).
  StepResult apply(const model::Node& doc) const override;
  StepMap get_map() const override;
  StepPtr invert(const model::Node& doc) const override;
  /// This step itself (it must be owned by a StepPtr): the doc node is never moved.
  StepPtr map(const Mappable& mapping) const override;
  void write_json(json::Writer& w) const override;

  /// Throws RangeError "Invalid input for DocAttrStep.fromJSON".
  static StepPtr from_json(const model::Schema& schema, const json::Value& json);

 private:
  std::string attr_;
  std::optional<json::Value> value_;
};

}  // namespace rtpm::transform
