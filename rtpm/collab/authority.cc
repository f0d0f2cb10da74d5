#include "rtpm/collab/authority.h"

#include <algorithm>
#include <cstdint>

#include "rtpm/base/error.h"
#include "rtpm/collab/server_rebase.h"
#include "rtpm/transform/replace_step.h"

namespace rtpm::collab {

using transform::StepPtr;

void check_inserted_nodes(const transform::Step& step, const model::Node& doc_after) {
  // In 64 bits: a step that applies may still carry positions near the ends
  // of int (a replaceAround whose gap is empty at gapFrom = gapTo = 2^31-1
  // applies, as in JavaScript), and the sum below went past them (UBSan,
  // step_apply fuzz). The range is then clamped to the document.
  int64_t from = 0, to = 0;
  if (auto* r = dynamic_cast<const transform::ReplaceStep*>(&step)) {
    from = r->from();
    to = from + r->slice().size();
  } else if (auto* a = dynamic_cast<const transform::ReplaceAroundStep*>(&step)) {
    from = a->from();
    to = from + a->slice().size() + (int64_t{a->gap_to()} - a->gap_from());
  } else {
    return;
  }
  to = std::min<int64_t>(to, doc_after.content().size());
  if (to <= from) return;
  doc_after.nodes_between(static_cast<int>(from), static_cast<int>(to),
                          [&](const model::NodeRef& node, int pos, const model::Node*, int) {
                            if (pos >= from && int64_t{pos} + node->node_size() <= to) {
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
                                      const std::string& user_id, bool rebase) const {
  if (rebase && version < version_ && version >= history_start()) {
    std::vector<StepPtr> batch;
    batch.reserve(steps.size());
    auto first = static_cast<size_t>(version - history_start());
    // The content size of the document at `version`, and after each step of the batch.
    int64_t size = history_maps(version, version_)->size_before(doc_->content().size());
    for (size_t i = 0; i < steps.size(); ++i) {
      std::string prefix = "step " + std::to_string(i) + ": ";
      Result<StepPtr> step = catch_port(ErrorCode::invalid_steps, prefix, [&] {
        return transform::Step::from_json(*schema_, steps[i]);
      });
      if (!step) return Rejected{static_cast<int>(i), step.error().message};
      if (!positions_within(**step, size))
        return Rejected{static_cast<int>(i), prefix + "positions outside the document of version " +
                                                 std::to_string(version)};
      size += transform::size_change((*step)->get_map());
      batch.push_back(std::move(*step));
    }
    std::vector<const transform::StepMap*> over;
    over.reserve(static_cast<size_t>(version_ - version));
    for (size_t i = first; i < history_.size(); ++i) over.push_back(&history_[i].map);
    ServerRebase rebased = rebase_batch(batch, over, doc_);
    Accepted out;
    out.from_version = version_;
    out.to_version = version_ + static_cast<int64_t>(rebased.steps.size());
    out.user_id = user_id;
    out.rebased = true;
    out.kept = std::move(rebased.kept);
    out.step_json.reserve(rebased.steps.size());
    for (const StepPtr& step : rebased.steps) out.step_json.push_back(step->to_json_string());
    out.steps = std::move(rebased.steps);
    out.doc = std::move(rebased.doc);
    return out;
  }
  if (version != version_) return Conflict{version_};
  Accepted out;
  out.from_version = version_;
  out.user_id = user_id;
  out.steps.reserve(steps.size());
  model::NodeRef doc = doc_;
  for (size_t i = 0; i < steps.size(); ++i) {
    std::string prefix = "step " + std::to_string(i) + ": ";
    // The port's boundary: a step that throws is rejected alone, and nothing
    // has changed. The lambda answers why a step that parsed failed (nullopt when it applied).
    Result<std::optional<std::string>> failed = catch_port(ErrorCode::invalid_steps, prefix, [&] {
      StepPtr step = transform::Step::from_json(*schema_, steps[i]);
      transform::StepResult result = step->apply(*doc);
      if (!result.ok()) return std::optional<std::string>(std::move(result.failed));
      check_inserted_nodes(*step, *result.doc);
      doc = std::move(result.doc);
      out.step_json.push_back(step->to_json_string());
      out.steps.push_back(std::move(step));
      return std::optional<std::string>();
    });
    if (!failed) return Rejected{static_cast<int>(i), failed.error().message};
    if (*failed) return Rejected{static_cast<int>(i), prefix + **failed};
  }
  out.doc = std::move(doc);
  out.to_version = version_ + static_cast<int64_t>(out.steps.size());
  return out;
}

void Authority::commit(const Accepted& accepted) {
  doc_ = accepted.doc;
  version_ = accepted.to_version;
  for (size_t i = 0; i < accepted.steps.size(); ++i)
    push_history({accepted.steps[i]->get_map(), accepted.user_id, accepted.step_json[i]});
  trim_history();
}

void Authority::preload_history(std::vector<HistoryEntry> older) {
  for (size_t i = older.size(); i-- > 0;) {
    history_bytes_ += older[i].json.size();
    history_.push_front(std::move(older[i]));
  }
  trim_history();
}

Result<void> Authority::replay(const std::vector<LoggedStep>& steps) {
  for (const auto& s : steps) {
    // The message is built only for a step that fails (a load replays up to a
    // snapshot interval of steps).
    auto r = catch_port(ErrorCode::internal, "", [&] { return s.step->apply(*doc_); });
    if (!r || !r->ok())
      return Error{ErrorCode::internal,
                   "stored step at version " + std::to_string(version_) +
                       " does not apply: " + (r ? r->failed : r.error().message)};
    doc_ = std::move(r->doc);
    ++version_;
    push_history({s.step->get_map(), s.user_id, s.json});
    trim_history();
  }
  return {};
}

void Authority::push_history(HistoryEntry entry) {
  history_bytes_ += entry.json.size();
  history_.push_back(std::move(entry));
}

void Authority::trim_history() {
  while (!history_.empty() &&
         (history_.size() > options_.max_history ||
          (options_.max_history_bytes && history_bytes_ > options_.max_history_bytes))) {
    history_bytes_ -= history_.front().json.size();
    history_.pop_front();
  }
}

std::optional<std::vector<const HistoryEntry*>> Authority::steps_since(int64_t version) const {
  if (version > version_ || version < history_start()) return std::nullopt;
  std::vector<const HistoryEntry*> out;
  out.reserve(static_cast<size_t>(version_ - version));
  for (size_t i = static_cast<size_t>(version - history_start()); i < history_.size(); ++i)
    out.push_back(&history_[i]);
  return out;
}

std::optional<transform::MapChain> Authority::history_maps(int64_t from, int64_t to) const {
  if (from == to && to <= version_) return transform::MapChain();
  if (from > to || to > version_ || from < history_start()) return std::nullopt;
  transform::MapChain chain;
  chain.reserve(static_cast<size_t>(to - from));
  auto first = static_cast<size_t>(from - history_start());
  for (size_t i = first; i < first + static_cast<size_t>(to - from); ++i)
    chain.add(history_[i].map);
  return chain;
}

std::optional<transform::Mapping> Authority::mapping_since(int64_t version) const {
  auto entries = steps_since(version);
  if (!entries) return std::nullopt;
  transform::Mapping mapping;
  for (const HistoryEntry* e : *entries) mapping.append_map(e->map);
  return mapping;
}

}  // namespace rtpm::collab
