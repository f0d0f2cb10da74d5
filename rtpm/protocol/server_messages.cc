#include "rtpm/protocol/server_messages.h"

#include <type_traits>
#include <utility>

#include "rtpm/protocol/binary_codec.h"

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

bool get_version(const json::Value& m, std::string_view key, int64_t& out) {
  const json::Value* v = m.find(key);
  if (!v || !valid_version(*v)) return false;
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
  if (s.doc.has_value() == s.steps.has_value()) return bad("state: one of doc and steps");
  if (!get_users(m, s.users)) return bad("state: users");
  if (const json::Value* r = m.find("rebase"); r && r->is_bool() && r->as_bool()) s.rebase = true;
  if (const json::Value* e = m.find("echo"); e && e->is_bool() && e->as_bool()) s.echo = true;
  return ServerMessage(std::move(s));
}

Result<ServerMessage> decode_steps(const json::Value& m) {
  ServerSteps s;
  if (!get_string(m, "room", s.room)) return bad("steps: room");
  if (!get_version(m, "version", s.version)) return bad("steps: version");
  if (!get_steps(m, s.steps) || s.steps.empty()) return bad("steps: steps");
  if (!get_string(m, "userId", s.user_id)) return bad("steps: userId");
  if (const json::Value* ids = m.find("userIds")) {
    if (!ids->is_array() || ids->as_array().size() != s.steps.size()) return bad("steps: userIds");
    for (const json::Value& id : ids->as_array()) {
      if (!id.is_string()) return bad("steps: userIds");
      s.user_ids.push_back(id.as_string());
    }
  }
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

// Encoding. Every message is an object {"type":..., ..., "timestamp":...}.

/// Writes `{"type":type` (and `,"room":room` when given); end() closes it.
class MessageWriter {
 public:
  MessageWriter(std::string_view type, std::optional<std::string_view> room) : w_(out_) {
    out_.reserve(128);
    w_.begin_object();
    w_.key("type");
    w_.string(type);
    if (room) {
      w_.key("room");
      w_.string(*room);
    }
  }
  json::Writer& w() { return w_; }
  void integer(std::string_view key, int64_t v) {
    w_.key(key);
    w_.number(static_cast<double>(v));
  }
  void string(std::string_view key, std::string_view v) {
    w_.key(key);
    w_.string(v);
  }
  void boolean(std::string_view key, bool v) {
    w_.key(key);
    w_.boolean(v);
  }
  void raw(std::string_view key, std::string_view json_text) {
    w_.key(key);
    w_.raw(json_text);
  }
  std::string end(int64_t timestamp) {
    integer("timestamp", timestamp);
    w_.end_object();
    return std::move(out_);
  }

 private:
  std::string out_;
  json::Writer w_;
};

std::string users_text(const std::vector<std::pair<std::string, json::Value>>& users) {
  std::string out;
  json::Writer w(out);
  w.begin_object();
  for (const auto& [user, entry] : users) {
    w.key(user);
    w.value(entry);
  }
  w.end_object();
  return out;
}

// A `steps` array: one JSON text, one text per step (`Texts` a range of them), or values.
void write_steps(json::Writer& w, std::string_view steps_json) { w.raw(steps_json); }

void write_steps(json::Writer& w, const std::vector<json::Value>& steps) {
  w.begin_array();
  for (const json::Value& step : steps) w.value(step);
  w.end_array();
}

template <typename Texts>
void write_steps(json::Writer& w, const Texts& step_jsons) {
  w.begin_array();
  for (std::string_view step : step_jsons) w.raw(step);
  w.end_array();
}

template <typename Steps>
std::string state_steps(std::string_view room, int64_t version, const Steps& steps,
                        const std::vector<std::string>& user_ids, std::string_view users_json,
                        int64_t timestamp, bool rebase, bool echo) {
  MessageWriter m("state", room);
  m.integer("version", version);
  m.w().key("steps");
  write_steps(m.w(), steps);
  m.w().key("userIds");
  m.w().begin_array();
  for (const std::string& id : user_ids) m.w().string(id);
  m.w().end_array();
  m.raw("users", users_json);
  if (rebase) m.boolean("rebase", true);
  if (echo) m.boolean("echo", true);
  return m.end(timestamp);
}

/// `user_ids` (the `rebase` extension's `userIds`) is written when not empty.
template <typename Steps, typename Ids = std::vector<std::string>>
std::string steps_message(std::string_view room, int64_t version, const Steps& steps,
                          std::string_view user_id, int64_t timestamp, const Ids& user_ids = {}) {
  MessageWriter m("steps", room);
  m.integer("version", version);
  m.w().key("steps");
  write_steps(m.w(), steps);
  m.string("userId", user_id);
  if (!user_ids.empty()) {
    m.w().key("userIds");
    m.w().begin_array();
    for (std::string_view id : user_ids) m.w().string(id);
    m.w().end_array();
  }
  return m.end(timestamp);
}

template <typename Steps>
std::string ack_message(std::string_view room, int64_t version, const Steps* steps,
                        int64_t timestamp) {
  MessageWriter m("ack", room);
  m.integer("version", version);
  if (steps) {
    m.w().key("steps");
    write_steps(m.w(), *steps);
  }
  return m.end(timestamp);
}

std::string encode_error_fields(std::string_view code, std::string_view message,
                                const std::optional<std::string>& room,
                                std::optional<int64_t> version, std::optional<int64_t> index,
                                int64_t timestamp) {
  MessageWriter m("error", std::nullopt);
  m.string("code", code);
  m.string("message", message);
  if (room) m.string("room", *room);
  if (version) m.integer("version", *version);
  if (index) m.integer("index", *index);
  return m.end(timestamp);
}

}  // namespace

std::string encode_state_doc(std::string_view room, int64_t version, std::string_view doc_json,
                             std::string_view users_json, int64_t timestamp, bool rebase,
                             bool echo) {
  MessageWriter m("state", room);
  m.integer("version", version);
  m.raw("doc", doc_json);
  m.raw("users", users_json);
  if (rebase) m.boolean("rebase", true);
  if (echo) m.boolean("echo", true);
  return m.end(timestamp);
}

std::string encode_state_steps(std::string_view room, int64_t version, std::string_view steps_json,
                               const std::vector<std::string>& user_ids,
                               std::string_view users_json, int64_t timestamp, bool rebase,
                               bool echo) {
  return state_steps(room, version, steps_json, user_ids, users_json, timestamp, rebase, echo);
}

std::string encode_state_steps(std::string_view room, int64_t version,
                               const std::vector<std::string_view>& step_jsons,
                               const std::vector<std::string>& user_ids,
                               std::string_view users_json, int64_t timestamp, bool rebase,
                               bool echo) {
  return state_steps(room, version, step_jsons, user_ids, users_json, timestamp, rebase, echo);
}

std::string encode_steps(std::string_view room, int64_t version, std::string_view steps_json,
                         std::string_view user_id, int64_t timestamp) {
  return steps_message(room, version, steps_json, user_id, timestamp);
}

std::string encode_steps(std::string_view room, int64_t version,
                         const std::vector<std::string>& step_jsons, std::string_view user_id,
                         int64_t timestamp) {
  return steps_message(room, version, step_jsons, user_id, timestamp);
}

std::string encode_steps(std::string_view room, int64_t version,
                         const std::vector<std::string_view>& step_jsons,
                         const std::vector<std::string_view>& user_ids, int64_t timestamp) {
  return steps_message(room, version, step_jsons, user_ids.empty() ? "" : user_ids.front(),
                       timestamp, user_ids);
}

std::string encode_ack(std::string_view room, int64_t version, int64_t timestamp) {
  return ack_message<std::vector<std::string>>(room, version, nullptr, timestamp);
}

std::string encode_ack(std::string_view room, int64_t version,
                       const std::vector<std::string>& step_jsons, int64_t timestamp) {
  return ack_message(room, version, &step_jsons, timestamp);
}

std::string encode_presence(std::string_view room, std::string_view users_json, int64_t version,
                            int64_t timestamp) {
  MessageWriter m("presence", room);
  m.raw("users", users_json);
  m.integer("version", version);
  return m.end(timestamp);
}

std::string encode_presence(std::string_view room, std::string_view user_id,
                            const json::Value& entry, int64_t version, int64_t timestamp) {
  MessageWriter m("presence", room);
  m.w().key("users");
  m.w().begin_object();
  m.w().key(user_id);
  m.w().value(entry);
  m.w().end_object();
  m.integer("version", version);
  return m.end(timestamp);
}

std::string presence_member(std::string_view user_id, const json::Value& entry) {
  std::string out;
  json::Writer w(out);
  w.key(user_id);
  w.value(entry);
  return out;
}

std::string encode_presence_members(std::string_view room, const std::vector<std::string>& members,
                                    size_t skip, int64_t version, int64_t timestamp) {
  MessageWriter m("presence", room);
  size_t bytes = 128 + room.size();
  for (const std::string& member : members) bytes += member.size() + 1;
  m.w().out().reserve(bytes);
  m.w().key("users");
  m.w().begin_object();
  // Each member is a key and its value: raw() places the commas between them.
  for (size_t i = 0; i < members.size(); ++i)
    if (i != skip) m.w().raw(members[i]);
  m.w().end_object();
  m.integer("version", version);
  return m.end(timestamp);
}

std::string encode_join(std::string_view room, std::string_view user_id,
                        const json::Value* presence, int64_t timestamp) {
  MessageWriter m("join", room);
  m.string("userId", user_id);
  if (presence) {
    m.w().key("presence");
    m.w().value(*presence);
  }
  return m.end(timestamp);
}

std::string encode_leave(std::string_view room, std::string_view user_id, int64_t timestamp) {
  MessageWriter m("leave", room);
  m.string("userId", user_id);
  return m.end(timestamp);
}

std::string encode_error(const ErrorMessage& error, int64_t timestamp) {
  return encode_error_fields(to_string(error.code), error.message, error.room, error.version,
                             error.index, timestamp);
}

std::string encode_error(const Error& error, std::optional<std::string> room, int64_t timestamp) {
  return encode_error_fields(to_string(error.code), error.message, room, std::nullopt, std::nullopt,
                             timestamp);
}

std::string encode_server_message(const ServerMessage& message, int64_t timestamp) {
  return std::visit(
      [&](const auto& m) -> std::string {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, ServerState>) {
          if (m.doc)
            return encode_state_doc(m.room, m.version, json::stringify(*m.doc), users_text(m.users),
                                    timestamp, m.rebase, m.echo);
          return state_steps(m.room, m.version, m.steps ? *m.steps : std::vector<json::Value>(),
                             m.user_ids, users_text(m.users), timestamp, m.rebase, m.echo);
        } else if constexpr (std::is_same_v<T, ServerSteps>) {
          return steps_message(m.room, m.version, m.steps, m.user_id, timestamp, m.user_ids);
        } else if constexpr (std::is_same_v<T, ServerAck>) {
          return ack_message(m.room, m.version, m.steps ? &*m.steps : nullptr, timestamp);
        } else if constexpr (std::is_same_v<T, ServerPresence>) {
          return encode_presence(m.room, users_text(m.users), m.version, timestamp);
        } else if constexpr (std::is_same_v<T, ServerJoin>) {
          return encode_join(m.room, m.user_id, m.presence ? &*m.presence : nullptr, timestamp);
        } else if constexpr (std::is_same_v<T, ServerLeave>) {
          return encode_leave(m.room, m.user_id, timestamp);
        } else if constexpr (std::is_same_v<T, ServerError>) {
          return encode_error_fields(m.code, m.message, m.room, m.version, m.index, timestamp);
        } else {
          return MessageWriter(m.type, std::nullopt).end(timestamp);
        }
      },
      message);
}

std::optional<ErrorCode> error_code_from_string(std::string_view code) {
  for (int i = 0; i <= static_cast<int>(ErrorCode::internal); ++i) {
    auto c = static_cast<ErrorCode>(i);
    if (to_string(c) == code) return c;
  }
  return std::nullopt;
}

bool is_presence_frame(std::string_view frame, bool binary) {
  if (!binary) return frame.starts_with(R"({"type":"presence")");
  // An object (tag, member count), then the key `type` and the value `presence`, each as the
  // codec writes them (the bytes after the count of a one-member object).
  static const std::string member = [] {
    std::string one = encode_binary(json::Value(json::Object{{"type", "presence"}}));
    return one.substr(2);  // the object tag and the count 1
  }();
  if (frame.empty() || frame[0] != static_cast<char>(BinTag::object)) return false;
  std::string_view rest = frame.substr(1);
  uint64_t count = 0;
  return read_varint(rest, count) && rest.starts_with(member);
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
    if (m.find("steps")) {
      std::vector<json::Value> steps;
      if (!get_steps(m, steps)) return bad("ack: steps");
      a.steps = std::move(steps);
    }
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
