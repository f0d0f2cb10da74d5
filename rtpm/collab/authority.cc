#include "rtpm/collab/authority.h"

#include "rtpm/base/error.h"
#include "rtpm/transform/replace_step.h"

namespace rtpm::collab {

using transform::StepPtr;

void check_inserted_nodes(const transform::Step& step, const model::Node& doc_after) {
  int from = 0, to = 0;
  if (auto* r = dynamic_cast<const transform::ReplaceStep*>(&step)) {
    from = r->from();
    to = r->from() + r->slice().size();
  } else if (auto* a = dynamic_cast<const transform::ReplaceAroundStep*>(&step)) {
    from = a->from();
    to = a->from() + a->slice().size() + a->gap_to() - a->gap_from();
  } else {
    return;
  }
  if (to <= from) return;
  doc_after.nodes_between(from, to,
                          [&](const model::NodeRef& node, int pos, const model::Node*, int) {
                            if (pos >= from && pos + node->node_size() <= to) {
                              node->check();
                              return false;  // check() covers the descendants
                            }
                            return true;  // partly inside: look at the children
                          });
}

Authority::Authority(std::shared_ptr<const model::Schema> schema, model::NodeRef doc,
                     int64_t version, AuthorityOptions options)
    : schema_(std::move(schema)), doc_(std::move(doc)), version_(version), options_(options) {}

Authority::Decision Authority::decide(int64_t version, const json::Array& steps,
                                      const std::string& user_id) const {
  if (version != version_) return Conflict{version_};
  Accepted out;
  out.from_version = version_;
  out.user_id = user_id;
  out.steps.reserve(steps.size());
  model::NodeRef doc = doc_;
  for (size_t i = 0; i < steps.size(); ++i) {
    std::string prefix = "step " + std::to_string(i) + ": ";
    try {
      StepPtr step = transform::Step::from_json(*schema_, steps[i]);
      transform::StepResult result = step->apply(*doc);
      if (!result.ok()) return Rejected{static_cast<int>(i), prefix + result.failed};
      check_inserted_nodes(*step, *result.doc);
      doc = std::move(result.doc);
      out.step_json.push_back(step->to_json_string());
      out.steps.push_back(std::move(step));
    } catch (const JsError& e) {
      return Rejected{static_cast<int>(i), prefix + e.what()};
    } catch (const std::exception& e) {
      // Not a JavaScript error: a failure of the port itself (an allocation
      // for an absurd size, a library's std::out_of_range). The step still
      // fails alone, and nothing has changed.
      return Rejected{static_cast<int>(i), prefix + "internal error: " + e.what()};
    }
  }
  out.doc = std::move(doc);
  out.to_version = version_ + static_cast<int64_t>(out.steps.size());
  return out;
}

void Authority::commit(const Accepted& accepted) {
  doc_ = accepted.doc;
  version_ = accepted.to_version;
  for (size_t i = 0; i < accepted.steps.size(); ++i)
    history_.push_back({accepted.steps[i], accepted.user_id, accepted.step_json[i]});
  while (history_.size() > options_.max_history) history_.pop_front();
}

void Authority::preload_history(std::vector<HistoryEntry> older) {
  for (size_t i = older.size(); i-- > 0;) history_.push_front(std::move(older[i]));
  while (history_.size() > options_.max_history) history_.pop_front();
}

void Authority::replay(const std::vector<HistoryEntry>& entries) {
  for (const auto& e : entries) {
    transform::StepResult r = e.step->apply(*doc_);
    if (!r.ok())
      throw RangeError("stored step at version " + std::to_string(version_) +
                       " does not apply: " + r.failed);
    doc_ = std::move(r.doc);
    ++version_;
    history_.push_back(e);
  }
  while (history_.size() > options_.max_history) history_.pop_front();
}

std::optional<std::vector<const HistoryEntry*>> Authority::steps_since(int64_t version) const {
  if (version > version_ || version < history_start()) return std::nullopt;
  std::vector<const HistoryEntry*> out;
  out.reserve(static_cast<size_t>(version_ - version));
  for (size_t i = static_cast<size_t>(version - history_start()); i < history_.size(); ++i)
    out.push_back(&history_[i]);
  return out;
}

std::optional<transform::Mapping> Authority::mapping_since(int64_t version) const {
  auto entries = steps_since(version);
  if (!entries) return std::nullopt;
  transform::Mapping mapping;
  for (const HistoryEntry* e : *entries) mapping.append_map(e->step->get_map());
  return mapping;
}

}  // namespace rtpm::collab
