#include "rtpm/client/document_api.h"

#include <cmath>

#include "rtpm/protocol/server_messages.h"

namespace rtpm::client {

using json::Value;

namespace {

// A whole number of a JSON answer.
std::optional<int64_t> count_of(const Value* v) {
  if (!v || !v->is_number()) return std::nullopt;
  double d = v->as_number();
  if (!std::isfinite(d) || d != std::floor(d)) return std::nullopt;
  return static_cast<int64_t>(d);
}

const std::string* string_of(const Value* v) {
  return v && v->is_string() ? &v->as_string() : nullptr;
}

std::string room_path(std::string_view room) { return "/api/rooms/" + percent_encode(room); }

// Adds `name=value` to `query` ("" or "?a=b...").
void add_param(std::string& query, std::string_view name, std::string_view value) {
  query += query.empty() ? '?' : '&';
  query += name;
  query += '=';
  query += percent_encode(value);
}

// The ErrorCode for an answer's status when its body names no code.
ErrorCode code_for_status(int status) {
  switch (status) {
    case 401: return ErrorCode::unauthorized;
    case 403: return ErrorCode::forbidden;
    case 413: return ErrorCode::message_too_large;
    case 429: return ErrorCode::rate_limited;
    default: return status >= 500 ? ErrorCode::internal : ErrorCode::bad_message;
  }
}

// One request and its answer: the parsed JSON of a 2xx answer (or the raw
// text for text answers), or the ApiResult's error.
class Call {
 public:
  Call(const ConnectionOptions& options, std::string_view method, const std::string& path,
       std::string body = {})
      : what_(std::string(method) + " " + path) {
    Result<HttpResponse> res = http_request(options, method, path, std::move(body));
    if (!res) {
      error_ = res.error();
      return;
    }
    response_ = std::move(*res);
    if (response_.status < 200 || response_.status > 299) fail_from_answer();
  }

  bool ok() const { return !error_; }
  const std::string& text() const { return response_.body; }

  // The answer as a JSON object, or nullptr (and the call failed) when it is not one.
  const Value* object() {
    if (error_) return nullptr;
    if (!parsed_) {
      Result<Value> v = json::parse(response_.body);
      if (!v || !v->is_object()) {
        malformed("the answer is not a JSON object");
        return nullptr;
      }
      parsed_ = std::move(*v);
    }
    return &*parsed_;
  }

  // Marks the answer as not what docs/api.md says.
  void malformed(std::string_view why) {
    if (!error_) error_ = Error{ErrorCode::bad_message, what_ + ": " + std::string(why)};
    detail_.status = response_.status;
  }

  template <typename T>
  ApiResult<T> failure() const {
    return ApiResult<T>(*error_, detail_);
  }

 private:
  void fail_from_answer() {
    detail_.status = response_.status;
    std::string message;
    ErrorCode code = code_for_status(response_.status);
    Result<Value> v = json::parse(response_.body);
    if (v && v->is_object()) {
      if (const std::string* c = string_of(v->find("code"))) {
        detail_.code = *c;
        if (auto known = protocol::error_code_from_string(*c))
          code = *known;
        else
          code = response_.status >= 500 ? ErrorCode::internal : ErrorCode::bad_message;
      }
      if (const std::string* m = string_of(v->find("message"))) message = *m;
      detail_.version = count_of(v->find("version"));
      detail_.index = count_of(v->find("index"));
    }
    std::string text = what_ + ": " + std::to_string(response_.status);
    if (!detail_.code.empty()) text += " " + detail_.code;
    if (!message.empty()) text += ": " + message;
    error_ = Error{code, std::move(text)};
  }

  std::string what_;
  HttpResponse response_;
  std::optional<Error> error_;
  ApiError detail_;
  std::optional<Value> parsed_;
};

// {"version": N} answers (steps, PUT, restore).
ApiResult<int64_t> version_answer(Call& call) {
  const Value* v = call.object();
  if (!v) return call.failure<int64_t>();
  auto version = count_of(v->find("version"));
  if (!version) {
    call.malformed("the answer has no version");
    return call.failure<int64_t>();
  }
  return *version;
}

std::optional<NamedVersion> named_version_of(const Value& v) {
  const std::string* name = string_of(v.find("name"));
  auto version = count_of(v.find("version"));
  auto time = count_of(v.find("time"));
  if (!name || !version || !time) return std::nullopt;
  return NamedVersion{*name, *version, *time};
}

// A request body: a JSON object written by `members` (a json::Writer inside it).
template <typename F>
std::string body_of(F&& members) {
  std::string body;
  json::Writer w(body);
  w.begin_object();
  members(w);
  w.end_object();
  return body;
}

}  // namespace

std::string percent_encode(std::string_view text) {
  constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

ApiResult<RoomList> DocumentApi::list_rooms(std::string_view prefix, std::string_view after,
                                            std::optional<int64_t> limit) const {
  std::string query;
  if (!prefix.empty()) add_param(query, "prefix", prefix);
  if (!after.empty()) add_param(query, "after", after);
  if (limit) add_param(query, "limit", std::to_string(*limit));
  Call call(options_, "GET", "/api/rooms" + query);
  const Value* v = call.object();
  if (!v) return call.failure<RoomList>();
  const Value* rooms = v->find("rooms");
  if (!rooms || !rooms->is_array()) {
    call.malformed("the answer has no rooms");
    return call.failure<RoomList>();
  }
  RoomList list;
  for (const Value& r : rooms->as_array()) {
    const std::string* name = string_of(r.find("room"));
    auto version = count_of(r.find("version"));
    auto created = count_of(r.find("created"));
    if (!name || !version || !created) {
      call.malformed("a room of the answer is malformed");
      return call.failure<RoomList>();
    }
    list.rooms.push_back({*name, *version, *created});
  }
  if (const std::string* next = string_of(v->find("next"))) list.next = *next;
  return list;
}

ApiResult<DocumentAtVersion> DocumentApi::get_document(std::string_view room,
                                                       std::optional<int64_t> version) const {
  std::string query;
  if (version) add_param(query, "version", std::to_string(*version));
  Call call(options_, "GET", room_path(room) + query);
  const Value* v = call.object();
  if (!v) return call.failure<DocumentAtVersion>();
  const std::string* name = string_of(v->find("room"));
  auto at = count_of(v->find("version"));
  const Value* doc = v->find("doc");
  if (!name || !at || !doc || !doc->is_object()) {
    call.malformed("the answer has no room, version or doc");
    return call.failure<DocumentAtVersion>();
  }
  return DocumentAtVersion{*name, *at, *doc};
}

ApiResult<std::string> DocumentApi::get_text(std::string_view room,
                                             std::optional<int64_t> version) const {
  std::string query;
  if (version) add_param(query, "version", std::to_string(*version));
  add_param(query, "format", "text");
  Call call(options_, "GET", room_path(room) + query);
  if (!call.ok()) return call.failure<std::string>();
  return call.text();
}

ApiResult<StepPage> DocumentApi::get_steps(std::string_view room, int64_t since,
                                           std::optional<int64_t> limit) const {
  std::string query;
  add_param(query, "since", std::to_string(since));
  if (limit) add_param(query, "limit", std::to_string(*limit));
  Call call(options_, "GET", room_path(room) + "/steps" + query);
  const Value* v = call.object();
  if (!v) return call.failure<StepPage>();
  const std::string* name = string_of(v->find("room"));
  auto version = count_of(v->find("version"));
  const Value* steps = v->find("steps");
  if (!name || !version || !steps || !steps->is_array()) {
    call.malformed("the answer has no room, version or steps");
    return call.failure<StepPage>();
  }
  StepPage page{*name, *version, {}};
  for (const Value& s : steps->as_array()) {
    auto made_on = count_of(s.find("version"));
    const std::string* user = string_of(s.find("userId"));
    auto time = count_of(s.find("time"));
    const Value* step = s.find("step");
    if (!made_on || !user || !time || !step) {
      call.malformed("a step of the answer is malformed");
      return call.failure<StepPage>();
    }
    page.steps.push_back({*made_on, *user, *time, *step});
  }
  return page;
}

ApiResult<int64_t> DocumentApi::post_steps(std::string_view room, int64_t version,
                                           std::string_view user_id,
                                           const json::Value& steps) const {
  Call call(options_, "POST", room_path(room) + "/steps", body_of([&](json::Writer& w) {
              w.key("version");
              w.number(static_cast<double>(version));
              w.key("userId");
              w.string(user_id);
              w.key("steps");
              w.value(steps);
            }));
  return version_answer(call);
}

ApiResult<int64_t> DocumentApi::put_document(std::string_view room, const json::Value& doc,
                                             std::string_view user_id) const {
  Call call(options_, "PUT", room_path(room), body_of([&](json::Writer& w) {
              w.key("doc");
              w.value(doc);
              if (!user_id.empty()) {
                w.key("userId");
                w.string(user_id);
              }
            }));
  return version_answer(call);
}

ApiResult<void> DocumentApi::delete_room(std::string_view room) const {
  Call call(options_, "DELETE", room_path(room));
  if (!call.ok()) return call.failure<void>();
  return {};
}

ApiResult<NamedVersion> DocumentApi::add_version(std::string_view room,
                                                 std::string_view name) const {
  Call call(options_, "POST", room_path(room) + "/versions", body_of([&](json::Writer& w) {
              w.key("name");
              w.string(name);
            }));
  const Value* v = call.object();
  if (!v) return call.failure<NamedVersion>();
  auto named = named_version_of(*v);
  if (!named) {
    call.malformed("the answer has no name, version or time");
    return call.failure<NamedVersion>();
  }
  return std::move(*named);
}

ApiResult<std::vector<NamedVersion>> DocumentApi::list_versions(std::string_view room) const {
  Call call(options_, "GET", room_path(room) + "/versions");
  const Value* v = call.object();
  if (!v) return call.failure<std::vector<NamedVersion>>();
  const Value* versions = v->find("versions");
  if (!versions || !versions->is_array()) {
    call.malformed("the answer has no versions");
    return call.failure<std::vector<NamedVersion>>();
  }
  std::vector<NamedVersion> out;
  for (const Value& entry : versions->as_array()) {
    auto named = named_version_of(entry);
    if (!named) {
      call.malformed("a version of the answer is malformed");
      return call.failure<std::vector<NamedVersion>>();
    }
    out.push_back(std::move(*named));
  }
  return out;
}

ApiResult<int64_t> DocumentApi::restore(std::string_view room, int64_t version,
                                        std::string_view user_id) const {
  Call call(options_, "POST", room_path(room) + "/versions/" + std::to_string(version) + "/restore",
            body_of([&](json::Writer& w) {
              if (!user_id.empty()) {
                w.key("userId");
                w.string(user_id);
              }
            }));
  return version_answer(call);
}

ApiResult<RevertResult> DocumentApi::revert(std::string_view room, std::string_view user_id,
                                            int64_t from, int64_t to) const {
  Call call(options_, "POST", room_path(room) + "/revert", body_of([&](json::Writer& w) {
              w.key("userId");
              w.string(user_id);
              w.key("from");
              w.number(static_cast<double>(from));
              w.key("to");
              w.number(static_cast<double>(to));
            }));
  const Value* v = call.object();
  if (!v) return call.failure<RevertResult>();
  auto version = count_of(v->find("version"));
  const Value* skipped = v->find("skipped");
  if (!version || !skipped || !skipped->is_array()) {
    call.malformed("the answer has no version or skipped");
    return call.failure<RevertResult>();
  }
  RevertResult out{*version, {}};
  for (const Value& s : skipped->as_array()) {
    auto n = count_of(&s);
    if (!n) {
      call.malformed("skipped holds something other than versions");
      return call.failure<RevertResult>();
    }
    out.skipped.push_back(*n);
  }
  return out;
}

}  // namespace rtpm::client
