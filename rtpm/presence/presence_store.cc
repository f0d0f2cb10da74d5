#include "rtpm/presence/presence_store.h"

#include <algorithm>

#include "rtpm/presence/positions.h"

namespace rtpm::presence {

namespace {

const json::Value& empty_object() {
  static const json::Value v{json::Object{}};
  return v;
}

}  // namespace

void PresenceStore::add_member(const std::string& user_id) {
  if (entries_.emplace(user_id, empty_object()).second) order_.push_back(user_id);
}

void PresenceStore::set(const std::string& user_id, json::Value entry) {
  auto [it, inserted] = entries_.insert_or_assign(user_id, std::move(entry));
  (void)it;
  if (inserted) order_.push_back(user_id);
  changed_.insert(user_id);
}

bool PresenceStore::remove(const std::string& user_id) {
  if (!entries_.erase(user_id)) return false;
  order_.erase(std::find(order_.begin(), order_.end(), user_id));
  changed_.erase(user_id);
  return true;
}

const json::Value* PresenceStore::get(const std::string& user_id) const {
  auto it = entries_.find(user_id);
  return it == entries_.end() ? nullptr : &it->second;
}

void PresenceStore::map_through(const transform::Mappable& mapping, int doc_size) {
  for (auto& [user, entry] : entries_) {
    bool moved = false;
    json::Value mapped = map_positions(entry, mapping, doc_size, 1, &moved);
    // Not marked changed: every member maps positions through the same steps itself.
    if (moved) entry = std::move(mapped);
  }
}

std::string PresenceStore::entries_json(bool only_changed) const {
  std::string out;
  json::Writer w(out);
  w.begin_object();
  for (const auto& user : order_) {
    if (only_changed && !changed_.count(user)) continue;
    w.key(user);
    w.value(entries_.at(user));
  }
  w.end_object();
  return out;
}

std::string PresenceStore::all_json() const { return entries_json(false); }

std::string PresenceStore::take_changes() {
  std::string out = entries_json(true);
  changed_.clear();
  return out;
}

}  // namespace rtpm::presence
