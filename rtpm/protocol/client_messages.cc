#include "rtpm/protocol/client_messages.h"

#include <chrono>
#include <cmath>
#include <type_traits>
#include <utility>

namespace rtpm::protocol {

namespace {

using json::Value;

Error bad(std::string message) { return Error{ErrorCode::bad_message, std::move(message)}; }

Result<std::string> string_field(const Value& msg, std::string_view key) {
  const Value* v = msg.find(key);
  if (!v) return bad("missing field '" + std::string(key) + "'");
  if (!v->is_string()) return bad("field '" + std::string(key) + "' must be a string");
  return v->as_string();
}

/// `version`: absent -> nullopt (an error when required).
Result<std::optional<int64_t>> version_field(const Value& msg, bool required) {
  const Value* v = msg.find("version");
  if (!v) {
    if (required) return bad("missing field 'version'");
    return std::optional<int64_t>();
  }
  if (!valid_version(*v)) return bad("field 'version' must be an integer from 0 to 2^53-1");
  return std::optional<int64_t>(static_cast<int64_t>(v->as_number()));
}

Result<std::string> user_id_field(const Value& msg) {
  Result<std::string> id = string_field(msg, "userId");
  if (id && !valid_user_id(*id)) return bad("field 'userId' must have 1 to 128 UTF-16 code units");
  return id;
}

Result<ClientMessage> decode_join(const Value& msg) {
  JoinMessage m;
  Result<std::string> room = string_field(msg, "room");
  if (!room) return room.error();
  Result<std::string> user = user_id_field(msg);
  if (!user) return user.error();
  if (const Value* p = msg.find("presence")) {
    if (!p->is_object()) return bad("field 'presence' must be an object");
    m.presence = *p;
  }
  Result<std::optional<int64_t>> version = version_field(msg, false);
  if (!version) return version.error();
  m.room = std::move(*room);
  m.user_id = std::move(*user);
  m.version = *version;
  // The `rebase` extension is asked for with `true` only; anything else is version 1.
  if (const Value* r = msg.find("rebase"); r && r->is_bool() && r->as_bool()) m.rebase = true;
  if (const Value* e = msg.find("echo"); e && e->is_bool() && e->as_bool()) m.echo = true;
  return ClientMessage(std::move(m));
}

Result<ClientMessage> decode_steps(const Value& msg) {
  Result<std::string> room = string_field(msg, "room");
  if (!room) return room.error();
  Result<std::optional<int64_t>> version = version_field(msg, true);
  if (!version) return version.error();
  const Value* steps = msg.find("steps");
  if (!steps) return bad("missing field 'steps'");
  bool ok = steps->is_array() && !steps->as_array().empty();
  for (size_t i = 0; ok && i < steps->as_array().size(); ++i) ok = steps->as_array()[i].is_object();
  if (!ok) return bad("field 'steps' must be a non-empty array of objects");
  Result<std::string> user = user_id_field(msg);
  if (!user) return user.error();
  return ClientMessage(StepsMessage{std::move(*room), **version, *steps, std::move(*user)});
}

Result<ClientMessage> decode_presence(const Value& msg) {
  Result<std::string> room = string_field(msg, "room");
  if (!room) return room.error();
  const Value* users = msg.find("users");
  if (!users) return bad("missing field 'users'");
  if (!users->is_object() || users->as_object().size() != 1)
    return bad("field 'users' must be an object with exactly one entry");
  const auto& [user, entry] = users->as_object().front();
  if (!valid_user_id(user))
    return bad("the key of 'users' must be a userId of 1 to 128 UTF-16 code units");
  if (!entry.is_object()) return bad("the entry of 'users' must be an object");
  Result<std::optional<int64_t>> version = version_field(msg, false);
  if (!version) return version.error();
  return ClientMessage(PresenceMessage{std::move(*room), user, entry, *version});
}

Result<ClientMessage> decode_leave(const Value& msg) {
  Result<std::string> room = string_field(msg, "room");
  if (!room) return room.error();
  Result<std::string> user = user_id_field(msg);
  if (!user) return user.error();
  return ClientMessage(LeaveMessage{std::move(*room), std::move(*user)});
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

bool valid_version(const Value& v) {
  if (!v.is_number()) return false;
  double d = v.as_number();
  return d >= 0 && d <= static_cast<double>(kMaxVersion) && std::floor(d) == d;
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

Result<ClientMessage> decode_client_value(const Value& msg) {
  if (!msg.is_object()) return bad("a message must be a JSON object");
  const Value* type = msg.find("type");
  if (!type) return bad("missing field 'type'");
  if (!type->is_string()) return bad("field 'type' must be a string");
  if (const Value* ts = msg.find("timestamp"); ts && !ts->is_number())
    return bad("field 'timestamp' must be a number");
  const std::string& t = type->as_string();
  Result<ClientMessage> decoded =
      t == "join"       ? decode_join(msg)
      : t == "steps"    ? decode_steps(msg)
      : t == "presence" ? decode_presence(msg)
      : t == "leave"    ? decode_leave(msg)
                        : Result<ClientMessage>(
                           Error{ErrorCode::unknown_type, "unknown message type '" + t + "'"});
  if (!decoded) return decoded;
  if (!valid_room_name(
          std::visit([](const auto& m) -> const std::string& { return m.room; }, *decoded)))
    return Error{ErrorCode::invalid_room, "room names match ^[A-Za-z0-9._:/-]{1,128}$"};
  return decoded;
}

std::optional<std::string> error_room(const Value& message) {
  const Value* r = message.find("room");
  if (r && r->is_string() && valid_room_name(r->as_string())) return r->as_string();
  return std::nullopt;
}

Result<ClientMessage> decode_client_message(std::string_view text, const DecodeOptions& options) {
  Result<Value> parsed = json::parse(text, json::ParseOptions{.max_depth = options.max_depth});
  if (!parsed) return parsed.error();
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
          if (m.rebase) o.emplace_back("rebase", true);
          if (m.echo) o.emplace_back("echo", true);
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

std::string encode_client_message(const ClientMessage& message, int64_t timestamp) {
  return json::stringify(encode_client_value(message, timestamp));
}

}  // namespace rtpm::protocol
