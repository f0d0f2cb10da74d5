#include "rtpm/protocol/server_messages.h"

#include <cmath>

#include "rtpm/protocol/messages.h"

namespace rtpm::protocol {

namespace {

Error bad(std::string message) { return Error{ErrorCode::bad_message, std::move(message)}; }

// Field readers: false when the field is present but mistyped, or absent and required.
bool get_string(const json::Value& m, std::string_view key, std::string& out) {
  const json::Value* v = m.find(key);
  if (!v || !v->is_string()) return false;
  out = v->as_string();
  return true;
}

bool is_version(const json::Value& v) {
  if (!v.is_number()) return false;
  double d = v.as_number();
  return d >= 0 && d <= static_cast<double>(kMaxVersion) && std::floor(d) == d;
}

bool get_version(const json::Value& m, std::string_view key, int64_t& out) {
  const json::Value* v = m.find(key);
  if (!v || !is_version(*v)) return false;
  out = static_cast<int64_t>(v->as_number());
  return true;
}

bool get_users(const json::Value& m, std::vector<std::pair<std::string, json::Value>>& out) {
  const json::Value* v = m.find("users");
  if (!v || !v->is_object()) return false;
  for (const auto& [id, entry] : v->as_object()) {
    if (!entry.is_object()) return false;
    out.emplace_back(id, entry);
  }
  return true;
}

bool get_steps(const json::Value& m, std::vector<json::Value>& out) {
  const json::Value* v = m.find("steps");
  if (!v || !v->is_array()) return false;
  for (const json::Value& s : v->as_array()) {
    if (!s.is_object()) return false;
    out.push_back(s);
  }
  return true;
}

Result<ServerMessage> decode_state(const json::Value& m) {
  ServerState s;
  if (!get_string(m, "room", s.room)) return bad("state: room");
  if (!get_version(m, "version", s.version)) return bad("state: version");
  if (const json::Value* doc = m.find("doc")) {
    if (!doc->is_object()) return bad("state: doc");
    s.doc = *doc;
  }
  if (m.find("steps")) {
    std::vector<json::Value> steps;
    if (!get_steps(m, steps)) return bad("state: steps");
    const json::Value* ids = m.find("userIds");
    if (!ids || !ids->is_array() || ids->as_array().size() != steps.size())
      return bad("state: userIds");
    for (const json::Value& id : ids->as_array()) {
      if (!id.is_string()) return bad("state: userIds");
      s.user_ids.push_back(id.as_string());
    }
    s.steps = std::move(steps);
  }
  if (!s.doc && !s.steps) return bad("state: neither doc nor steps");
  if (!get_users(m, s.users)) return bad("state: users");
  return ServerMessage(std::move(s));
}

Result<ServerMessage> decode_steps(const json::Value& m) {
  ServerSteps s;
  if (!get_string(m, "room", s.room)) return bad("steps: room");
  if (!get_version(m, "version", s.version)) return bad("steps: version");
  if (!get_steps(m, s.steps) || s.steps.empty()) return bad("steps: steps");
  if (!get_string(m, "userId", s.user_id)) return bad("steps: userId");
  return ServerMessage(std::move(s));
}

Result<ServerMessage> decode_presence(const json::Value& m) {
  ServerPresence p;
  if (!get_string(m, "room", p.room)) return bad("presence: room");
  if (!get_users(m, p.users)) return bad("presence: users");
  if (!get_version(m, "version", p.version)) return bad("presence: version");
  return ServerMessage(std::move(p));
}

Result<ServerMessage> decode_error(const json::Value& m) {
  ServerError e;
  if (!get_string(m, "code", e.code)) return bad("error: code");
  e.known_code = error_code_from_string(e.code);
  if (const json::Value* v = m.find("message"); v && v->is_string()) e.message = v->as_string();
  if (const json::Value* v = m.find("room")) {
    if (!v->is_string()) return bad("error: room");
    e.room = v->as_string();
  }
  if (m.find("version")) {
    int64_t version = 0;
    if (!get_version(m, "version", version)) return bad("error: version");
    e.version = version;
  }
  if (m.find("index")) {
    int64_t index = 0;
    if (!get_version(m, "index", index)) return bad("error: index");
    e.index = index;
  }
  return ServerMessage(std::move(e));
}

}  // namespace

std::optional<ErrorCode> error_code_from_string(std::string_view code) {
  for (int i = 0; i <= static_cast<int>(ErrorCode::internal); ++i) {
    auto c = static_cast<ErrorCode>(i);
    if (to_string(c) == code) return c;
  }
  return std::nullopt;
}

Result<ServerMessage> decode_server_value(const json::Value& m) {
  if (!m.is_object()) return bad("not an object");
  std::string type;
  if (!get_string(m, "type", type)) return bad("type");
  if (type == "state") return decode_state(m);
  if (type == "steps") return decode_steps(m);
  if (type == "ack") {
    ServerAck a;
    if (!get_string(m, "room", a.room)) return bad("ack: room");
    if (!get_version(m, "version", a.version)) return bad("ack: version");
    return ServerMessage(std::move(a));
  }
  if (type == "presence") return decode_presence(m);
  if (type == "join") {
    ServerJoin j;
    if (!get_string(m, "room", j.room)) return bad("join: room");
    if (!get_string(m, "userId", j.user_id)) return bad("join: userId");
    if (const json::Value* p = m.find("presence")) {
      if (!p->is_object()) return bad("join: presence");
      j.presence = *p;
    }
    return ServerMessage(std::move(j));
  }
  if (type == "leave") {
    ServerLeave l;
    if (!get_string(m, "room", l.room)) return bad("leave: room");
    if (!get_string(m, "userId", l.user_id)) return bad("leave: userId");
    return ServerMessage(std::move(l));
  }
  if (type == "error") return decode_error(m);
  return ServerMessage(UnknownServerMessage{type});
}

Result<ServerMessage> decode_server_message(std::string_view text) {
  Result<json::Value> parsed = json::parse(text);
  if (!parsed) return parsed.error();
  return decode_server_value(*parsed);
}

}  // namespace rtpm::protocol
