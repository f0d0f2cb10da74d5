// The central authority of one room: the document, its version, and the
// recent step history, as prosemirror-collab's authority keeps them.
//
// Sans-I/O: `decide` checks a submitted batch against the current document
// and says Accepted, Conflict or Rejected without changing anything;
// `commit` makes an accepted batch current. The room (room::RoomCore)
// commits an accepted batch at once, so that the next batch is checked
// against it (the speculative version), and acknowledges and broadcasts it
// only once the store took it (durable before ack); if the store fails, the
// room drops the authority and reloads what is durable. Not thread-safe: a
// room uses its authority from one strand.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "rtpm/json/json.h"
#include "rtpm/model/node.h"
#include "rtpm/model/schema.h"
#include "rtpm/transform/map.h"
#include "rtpm/transform/step.h"

namespace rtpm::collab {

/// One applied step of the history and who made it.
struct HistoryEntry {
  /// How the step moves positions (for mapping presence and catch-up). The
  /// parsed step itself is not kept: its slice can take several times the
  /// memory of its JSON (a text's UTF-16 copy, nodes), and the history only
  /// needs the map and the JSON.
  transform::StepMap map;
  std::string user_id;
  /// JSON.stringify(step.toJSON()), kept for catch-up without re-encoding.
  std::string json;
};

/// A persisted step to replay when a room loads.
struct LoggedStep {
  transform::StepPtr step;
  std::string user_id;
  std::string json;
};

struct AuthorityOptions {
  /// Steps kept for catch-up (PROTOCOL.md: at least 10,000).
  size_t max_history = 10000;
  /// ... and at most this many bytes of their JSON: the oldest steps go first
  /// when the kept steps' JSON is larger. 0 = no byte bound. With the server's
  /// default (32 MiB) a room keeps its last 10,000 steps unless they average
  /// over 3 KiB; large pastes shorten the history instead of growing memory.
  size_t max_history_bytes = 32 << 20;
};

class Authority {
 public:
  /// A batch that applies: the new document and version, and the parsed steps.
  struct Accepted {
    int64_t from_version = 0;
    int64_t to_version = 0;
    std::vector<transform::StepPtr> steps;
    /// Each step's JSON text (canonical: written from the parsed step).
    std::vector<std::string> step_json;
    model::NodeRef doc;
    std::string user_id;
    /// The batch was made on an older version and rebased (the `rebase` extension): `steps`
    /// are the ones that still applied (possibly none), `kept` their indices in the batch.
    bool rebased = false;
    std::vector<size_t> kept;
  };
  /// The batch was made on another version than the current one.
  struct Conflict {
    int64_t current_version = 0;
  };
  /// A step of the batch fails; nothing applies. `message` starts with "step N: ".
  struct Rejected {
    int index = 0;
    std::string message;
  };
  using Decision = std::variant<Accepted, Conflict, Rejected>;

  Authority(std::shared_ptr<const model::Schema> schema, model::NodeRef doc, int64_t version,
            AuthorityOptions options = {});

  /// Checks `steps` (step JSON objects) made on `version` by `user_id`: the
  /// version must be current, each step must parse and apply as
  /// prosemirror-transform would, and every node that a step puts whole into
  /// the document must pass Node::check() (PROTOCOL.md "Which steps fail").
  /// Any exception while parsing, applying or checking a step (a JsError, or
  /// another std::exception from the port) rejects the batch at that step.
  /// Changes nothing.
  /// With `rebase` (the `rebase` extension, docs/protocol.md), a batch made on an older
  /// version still in the history is rebased over the steps since (server_rebase.h) instead of
  /// being a Conflict: every step must parse (else Rejected), and the steps that no longer
  /// apply are dropped.
  Decision decide(int64_t version, const json::Array& steps, const std::string& user_id,
                  bool rebase = false) const;
  /// Makes an accepted batch current. Precondition: it was decided on the current version.
  void commit(const Accepted& accepted);
  /// Adds history entries that end at the current version without applying
  /// them (the steps a loaded snapshot already contains), oldest first.
  void preload_history(std::vector<HistoryEntry> older);
  /// Replays already persisted steps (loading a room): applies them without the
  /// extra checks. An `internal` Error when a step does not apply or throws (a
  /// corrupt store); the steps before it stay applied.
  Result<void> replay(const std::vector<LoggedStep>& steps);

  /// Steps after `version`, when the history still has all of them (empty when
  /// version is current); nullopt when version is older than the history or above the room's.
  std::optional<std::vector<const HistoryEntry*>> steps_since(int64_t version) const;
  /// The mapping from `version` to the current version; nullopt as steps_since.
  std::optional<transform::Mapping> mapping_since(int64_t version) const;
  /// The history's own maps from `from` to `to` (from <= to <= the current version), not
  /// copied (valid until the history changes); nullopt when `from` is older than the history
  /// or the range is not within it. An empty chain when from == to.
  std::optional<transform::MapChain> history_maps(int64_t from, int64_t to) const;

  const model::NodeRef& doc() const { return doc_; }
  int64_t version() const { return version_; }
  const model::Schema& schema() const { return *schema_; }
  /// The oldest version that steps_since can answer.
  int64_t history_start() const { return version_ - static_cast<int64_t>(history_.size()); }
  /// The bytes of step JSON the history holds.
  size_t history_bytes() const { return history_bytes_; }

 private:
  void push_history(HistoryEntry entry);
  /// Drops the oldest entries beyond the bounds in steps and bytes.
  void trim_history();

  std::shared_ptr<const model::Schema> schema_;
  model::NodeRef doc_;
  int64_t version_;
  AuthorityOptions options_;
  std::deque<HistoryEntry> history_;
  size_t history_bytes_ = 0;
};

/// PROTOCOL.md's extra validation: every node of `doc_after` lying entirely
/// inside the range a step inserted must pass Node::check(). Throws the check's
/// RangeError. Steps other than replace/replaceAround insert no nodes.
void check_inserted_nodes(const transform::Step& step, const model::Node& doc_after);

}  // namespace rtpm::collab
