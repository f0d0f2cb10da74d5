#include "rtpm/protocol/messages.h"

#include <chrono>
#include <cmath>
#include <type_traits>
#include <variant>

namespace rtpm::protocol {

namespace {

using json::Value;

struct Bad {
  ErrorCode code;
  std::string message;
};

const Value* get(const Value& msg, std::string_view key) { return msg.find(key); }

std::string require_string(const Value& msg, std::string_view key) {
  const Value* v = get(msg, key);
  if (!v) throw Bad{ErrorCode::bad_message, "missing field '" + std::string(key) + "'"};
  if (!v->is_string())
    throw Bad{ErrorCode::bad_message, "field '" + std::string(key) + "' must be a string"};
  return v->as_string();
}

std::optional<int64_t> version_field(const Value& msg, bool required) {
  const Value* v = get(msg, "version");
  if (!v) {
    if (required) throw Bad{ErrorCode::bad_message, "missing field 'version'"};
    return std::nullopt;
  }
  if (!v->is_number())
    throw Bad{ErrorCode::bad_message, "field 'version' must be an integer from 0 to 2^53-1"};
  double d = v->as_number();
  if (!(d >= 0) || d > static_cast<double>(kMaxVersion) || std::floor(d) != d)
    throw Bad{ErrorCode::bad_message, "field 'version' must be an integer from 0 to 2^53-1"};
  return static_cast<int64_t>(d);
}

std::string user_id_field(const Value& msg) {
  std::string id = require_string(msg, "userId");
  if (!valid_user_id(id))
    throw Bad{ErrorCode::bad_message, "field 'userId' must have 1 to 128 UTF-16 code units"};
  return id;
}

ClientMessage decode(const Value& msg, std::optional<std::string>& room_out) {
  if (!msg.is_object()) throw Bad{ErrorCode::bad_message, "a message must be a JSON object"};
  const Value* type = get(msg, "type");
  if (!type) throw Bad{ErrorCode::bad_message, "missing field 'type'"};
  if (!type->is_string()) throw Bad{ErrorCode::bad_message, "field 'type' must be a string"};
  if (const Value* ts = get(msg, "timestamp"); ts && !ts->is_number())
    throw Bad{ErrorCode::bad_message, "field 'timestamp' must be a number"};
  const std::string& t = type->as_string();
  ClientMessage out;
  std::string room;
  if (t == "join") {
    JoinMessage m;
    m.room = require_string(msg, "room");
    m.user_id = user_id_field(msg);
    if (const Value* p = get(msg, "presence")) {
      if (!p->is_object()) throw Bad{ErrorCode::bad_message, "field 'presence' must be an object"};
      m.presence = *p;
    }
    m.version = version_field(msg, false);
    room = m.room;
    out = std::move(m);
  } else if (t == "steps") {
    StepsMessage m;
    m.room = require_string(msg, "room");
    m.version = *version_field(msg, true);
    const Value* steps = get(msg, "steps");
    if (!steps) throw Bad{ErrorCode::bad_message, "missing field 'steps'"};
    if (!steps->is_array() || steps->as_array().empty())
      throw Bad{ErrorCode::bad_message, "field 'steps' must be a non-empty array of objects"};
    for (const Value& s : steps->as_array())
      if (!s.is_object())
        throw Bad{ErrorCode::bad_message, "field 'steps' must be a non-empty array of objects"};
    m.steps = *steps;
    m.user_id = user_id_field(msg);
    room = m.room;
    out = std::move(m);
  } else if (t == "presence") {
    PresenceMessage m;
    m.room = require_string(msg, "room");
    const Value* users = get(msg, "users");
    if (!users) throw Bad{ErrorCode::bad_message, "missing field 'users'"};
    if (!users->is_object() || users->as_object().size() != 1)
      throw Bad{ErrorCode::bad_message, "field 'users' must be an object with exactly one entry"};
    const auto& entry = users->as_object().front();
    if (!valid_user_id(entry.first))
      throw Bad{ErrorCode::bad_message,
                "the key of 'users' must be a userId of 1 to 128 UTF-16 code units"};
    if (!entry.second.is_object())
      throw Bad{ErrorCode::bad_message, "the entry of 'users' must be an object"};
    m.user_id = entry.first;
    m.presence = entry.second;
    m.version = version_field(msg, false);
    room = m.room;
    out = std::move(m);
  } else if (t == "leave") {
    LeaveMessage m;
    m.room = require_string(msg, "room");
    m.user_id = user_id_field(msg);
    room = m.room;
    out = std::move(m);
  } else {
    throw Bad{ErrorCode::unknown_type, "unknown message type '" + t + "'"};
  }
  if (!valid_room_name(room))
    throw Bad{ErrorCode::invalid_room, "room names match ^[A-Za-z0-9._:/-]{1,128}$"};
  room_out = room;
  return out;
}

void append_int(std::string& out, int64_t v) { out += std::to_string(v); }

void key(std::string& out, std::string_view k) {
  out += ',';
  json::write_string(k, out);
  out += ':';
}

std::string begin(std::string_view type) {
  std::string out;
  out.reserve(128);
  out += "{\"type\":";
  json::write_string(type, out);
  return out;
}

// Every room-scoped server message starts {"type":...,"room":...
std::string begin_room(std::string_view type, std::string_view room) {
  std::string out = begin(type);
  key(out, "room");
  json::write_string(room, out);
  return out;
}

void end(std::string& out, int64_t timestamp) {
  key(out, "timestamp");
  append_int(out, timestamp);
  out += '}';
}

}  // namespace

bool valid_room_name(std::string_view room) {
  if (room.empty() || room.size() > 128) return false;
  for (char c : room) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '/' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool valid_user_id(std::string_view id) {
  // UTF-16 length of WTF-8: one unit per 1-3 byte sequence, two per 4-byte sequence.
  size_t units = 0;
  for (unsigned char c : id) {
    if ((c & 0xC0) != 0x80) ++units;  // a lead byte
    if ((c & 0xF8) == 0xF0) ++units;  // a 4-byte lead: a surrogate pair
  }
  return units >= 1 && units <= 128;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::variant<ClientMessage, DecodeError> decode_client_value(const json::Value& message) {
  std::optional<std::string> room;
  try {
    return decode(message, room);
  } catch (const Bad& b) {
    DecodeError e{b.code, b.message, std::nullopt};
    // Name the room in the error when the message carried a well-formed one.
    if (const Value* r = message.is_object() ? message.find("room") : nullptr;
        r && r->is_string() && valid_room_name(r->as_string()))
      e.room = r->as_string();
    return e;
  }
}

std::variant<ClientMessage, DecodeError> decode_client_message(std::string_view text,
                                                               const DecodeOptions& options) {
  auto parsed = json::parse(text, json::ParseOptions{.max_depth = options.max_depth});
  if (!parsed) return DecodeError{ErrorCode::bad_message, parsed.error().message, std::nullopt};
  return decode_client_value(*parsed);
}

json::Value encode_client_value(const ClientMessage& message, int64_t timestamp) {
  json::Object o;
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, JoinMessage>) {
          o = {{"type", "join"}, {"room", m.room}, {"userId", m.user_id}};
          if (m.presence) o.emplace_back("presence", *m.presence);
          if (m.version) o.emplace_back("version", *m.version);
        } else if constexpr (std::is_same_v<T, StepsMessage>) {
          o = {{"type", "steps"},
               {"room", m.room},
               {"version", m.version},
               {"steps", m.steps},
               {"userId", m.user_id}};
        } else if constexpr (std::is_same_v<T, PresenceMessage>) {
          o = {{"type", "presence"},
               {"room", m.room},
               {"users", json::Value(json::Object{{m.user_id, m.presence}})}};
          if (m.version) o.emplace_back("version", *m.version);
        } else {
          o = {{"type", "leave"}, {"room", m.room}, {"userId", m.user_id}};
        }
      },
      message);
  o.emplace_back("timestamp", timestamp);
  return json::Value(std::move(o));
}

std::string encode_state_doc(std::string_view room, int64_t version, std::string_view doc_json,
                             std::string_view users_json, int64_t timestamp) {
  std::string out = begin_room("state", room);
  key(out, "version");
  append_int(out, version);
  key(out, "doc");
  out += doc_json;
  key(out, "users");
  out += users_json;
  end(out, timestamp);
  return out;
}

std::string encode_state_steps(std::string_view room, int64_t version, std::string_view steps_json,
                               const std::vector<std::string>& user_ids,
                               std::string_view users_json, int64_t timestamp) {
  std::string out = begin_room("state", room);
  key(out, "version");
  append_int(out, version);
  key(out, "steps");
  out += steps_json;
  key(out, "userIds");
  out += '[';
  for (size_t i = 0; i < user_ids.size(); ++i) {
    if (i) out += ',';
    json::write_string(user_ids[i], out);
  }
  out += ']';
  key(out, "users");
  out += users_json;
  end(out, timestamp);
  return out;
}

std::string encode_steps(std::string_view room, int64_t version, std::string_view steps_json,
                         std::string_view user_id, int64_t timestamp) {
  std::string out = begin_room("steps", room);
  key(out, "version");
  append_int(out, version);
  key(out, "steps");
  out += steps_json;
  key(out, "userId");
  json::write_string(user_id, out);
  end(out, timestamp);
  return out;
}

std::string encode_ack(std::string_view room, int64_t version, int64_t timestamp) {
  std::string out = begin_room("ack", room);
  key(out, "version");
  append_int(out, version);
  end(out, timestamp);
  return out;
}

std::string encode_presence(std::string_view room, std::string_view users_json, int64_t version,
                            int64_t timestamp) {
  std::string out = begin_room("presence", room);
  key(out, "users");
  out += users_json;
  key(out, "version");
  append_int(out, version);
  end(out, timestamp);
  return out;
}

std::string encode_join(std::string_view room, std::string_view user_id,
                        const json::Value* presence, int64_t timestamp) {
  std::string out = begin_room("join", room);
  key(out, "userId");
  json::write_string(user_id, out);
  if (presence) {
    key(out, "presence");
    json::write(*presence, out);
  }
  end(out, timestamp);
  return out;
}

std::string encode_leave(std::string_view room, std::string_view user_id, int64_t timestamp) {
  std::string out = begin_room("leave", room);
  key(out, "userId");
  json::write_string(user_id, out);
  end(out, timestamp);
  return out;
}

std::string encode_error(const ErrorMessage& error, int64_t timestamp) {
  std::string out = begin("error");
  key(out, "code");
  json::write_string(to_string(error.code), out);
  key(out, "message");
  json::write_string(error.message, out);
  if (error.room) {
    key(out, "room");
    json::write_string(*error.room, out);
  }
  if (error.version) {
    key(out, "version");
    append_int(out, *error.version);
  }
  if (error.index) {
    key(out, "index");
    append_int(out, *error.index);
  }
  end(out, timestamp);
  return out;
}

}  // namespace rtpm::protocol
