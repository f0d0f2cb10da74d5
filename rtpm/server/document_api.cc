#include "rtpm/server/document_api.h"

#include <limits>

#include <boost/asio/post.hpp>

#include "rtpm/collab/document_edits.h"
#include "rtpm/json/json.h"
#include "rtpm/protocol/server_messages.h"
#include "rtpm/server/cluster.h"
#include "rtpm/server/http_client.h"
#include "rtpm/server/relay.h"
#include "rtpm/server/room.h"
#include "rtpm/server/room_registry.h"

namespace rtpm::server {

namespace net = boost::asio;
namespace http = boost::beast::http;

namespace {

using Respond = std::function<void(HttpResponse)>;
using Status = room::EditResult::Status;

/// A revert computed on a version that moved on before it was applied is computed again, at
/// most this many times in all.
constexpr int kRevertAttempts = 5;

/// Everything one request needs, shared by its asynchronous steps.
struct Call {
  ServerContext& ctx;
  std::shared_ptr<const HttpRequest> req;
  ApiRequest api;
  std::string client;
  Respond respond;

  void error(http::status status, std::string_view code, std::string_view message) const {
    respond(json_error(*req, status, code, message));
  }
  void not_found(std::string_view message = "no such room") const {
    error(http::status::not_found, "not_found", message);
  }
  void store_failed(const Error& e) const {
    error(http::status::service_unavailable, "internal", "the store failed: " + e.message);
  }
  void ok(std::string body, http::status status = http::status::ok) const {
    respond(make_response(*req, status, std::move(body), "application/json"));
  }
};
using CallPtr = std::shared_ptr<Call>;

/// {"NAME_KEY": name, "version": version, "TIME_KEY": time}: an entry of the room list, a
/// named version.
void write_entry(json::Writer& w, std::string_view name_key, std::string_view name, int64_t version,
                 std::string_view time_key, int64_t time) {
  w.begin_object();
  w.key(name_key);
  w.string(name);
  w.key("version");
  w.number(static_cast<double>(version));
  w.key(time_key);
  w.number(static_cast<double>(time));
  w.end_object();
}

/// The document as ?format=text: textBetween(0, content.size, "\n\n").
HttpResponse text_response(const HttpRequest& req, const model::Node& doc) {
  return make_response(req, http::status::ok,
                       json::to_wtf8(doc.text_between(0, doc.content().size(), u"\n\n")),
                       "text/plain; charset=utf-8");
}

/// The document of a snapshot with steps replayed on it (each must apply: they were accepted).
Result<model::NodeRef> rebuild(const model::Schema& schema, const store::RoomData& data) {
  try {
    auto doc_json = json::parse(data.snapshot_doc);
    if (!doc_json) return Error{ErrorCode::internal, "bad snapshot JSON"};
    model::NodeRef doc = model::Node::from_json(schema, *doc_json);
    for (const store::StoredStep& s : data.steps) {
      auto step_json = json::parse(s.step_json);
      if (!step_json) return Error{ErrorCode::internal, "bad step JSON"};
      auto result = transform::Step::from_json(schema, *step_json)->apply(*doc);
      if (!result.ok())
        return Error{ErrorCode::internal, "stored step " + std::to_string(s.version) +
                                              " does not apply: " + result.failed};
      doc = std::move(result.doc);
    }
    return doc;
  } catch (const std::exception& e) {
    return Error{ErrorCode::internal, e.what()};
  }
}

/// Runs `fn` on an io_context thread (CPU work off the storage thread and the room strands).
void compute(const CallPtr& c, std::function<void()> fn) { net::post(c->ctx.ioc, std::move(fn)); }

/// The answer to an edit's result.
void answer_edit(const CallPtr& c, const room::EditResult& r, std::string extra_key = {},
                 std::string extra_json = {}) {
  switch (r.status) {
    case Status::ok: {
      std::string body;
      json::Writer w(body);
      w.begin_object();
      w.key("version");
      w.number(static_cast<double>(r.version));
      if (!extra_key.empty()) {
        w.key(extra_key);
        w.raw(extra_json);
      }
      w.end_object();
      return c->ok(std::move(body));
    }
    case Status::not_found: return c->not_found(r.message);
    case Status::version_conflict: {
      std::string body;
      json::Writer w(body);
      w.begin_object();
      w.key("code");
      w.string("version_conflict");
      w.key("message");
      w.string(r.message);
      w.key("version");
      w.number(static_cast<double>(r.version));
      w.end_object();
      return c->respond(
          make_response(*c->req, http::status::conflict, std::move(body), "application/json"));
    }
    case Status::invalid_steps: {
      std::string body;
      json::Writer w(body);
      w.begin_object();
      w.key("code");
      w.string("invalid_steps");
      w.key("message");
      w.string(r.message);
      w.key("index");
      w.number(r.index);
      w.end_object();
      return c->respond(make_response(*c->req, http::status::unprocessable_entity, std::move(body),
                                      "application/json"));
    }
    case Status::forbidden: return c->error(http::status::conflict, "forbidden", r.message);
    case Status::rate_limited:
      return c->error(http::status::too_many_requests, "rate_limited", r.message);
    case Status::unavailable:
      return c->error(http::status::service_unavailable, "internal", r.message);
  }
}

/// Runs `then` when the store holds the room (a room in memory does), else answers 404. An
/// unknown room is never loaded: a room in memory per request would let one client fill the
/// server's memory.
void when_exists(const CallPtr& c, std::function<void(std::shared_ptr<Room>)> then) {
  if (auto loaded = c->ctx.rooms->find(c->api.room)) return then(std::move(loaded));
  c->ctx.storage->exists(c->api.room, [c, then = std::move(then)](Result<bool> exists) {
    if (!exists) return c->store_failed(exists.error());
    if (!*exists) return c->not_found();
    then(c->ctx.rooms->get_or_create(c->api.room));
  });
}

// ---- reads ----

void read_latest(const CallPtr& c) {
  when_exists(c, [c](std::shared_ptr<Room> room) {
    room->read_document([c](std::optional<std::pair<int64_t, std::string>> doc) {
      if (!c->api.text) return c->respond(room_response(*c->req, c->api.room, doc));
      if (!doc) return c->not_found();
      compute(c, [c, doc = std::move(*doc)] {
        Result<model::NodeRef> node =
            rebuild(*c->ctx.schema, store::RoomData{doc.first, doc.second, {}});
        if (!node) return c->store_failed(node.error());
        c->respond(text_response(*c->req, **node));
      });
    });
  });
}

void read_at_version(const CallPtr& c) {
  int64_t version = *c->api.version;
  c->ctx.storage->call([c, version](store::Store& store) {
    auto data = store.load_version(c->api.room, version);
    if (!data) return c->store_failed(data.error());
    if (!*data) return c->not_found();
    store::RoomData& d = **data;
    if (d.snapshot_version > version)
      return c->not_found("version " + std::to_string(version) +
                          " is no longer in the room's history (it starts at " +
                          std::to_string(d.snapshot_version) + ")");
    if (d.snapshot_version + static_cast<int64_t>(d.steps.size()) != version)
      return c->not_found("version " + std::to_string(version) + " is ahead of the room");
    compute(c, [c, version, d = std::move(d)] {
      Result<model::NodeRef> node = rebuild(*c->ctx.schema, d);
      if (!node) return c->store_failed(node.error());
      const model::NodeRef& n = *node;
      if (c->api.text) return c->respond(text_response(*c->req, *n));
      c->respond(room_response(*c->req, c->api.room, std::make_pair(version, n->to_json_string())));
    });
  });
}

void list_rooms(const CallPtr& c) {
  c->ctx.storage->call([c](store::Store& store) {
    auto rooms = store.list_rooms(c->api.prefix, c->api.after, c->api.limit + 1);
    if (!rooms) return c->store_failed(rooms.error());
    bool more = rooms->size() > c->api.limit;
    if (more) rooms->pop_back();
    std::string body;
    json::Writer w(body);
    w.begin_object();
    w.key("rooms");
    w.begin_array();
    for (const store::RoomInfo& r : *rooms)
      write_entry(w, "room", r.room, r.version, "created", r.created_ms);
    w.end_array();
    w.key("next");
    if (more)
      w.string(rooms->back().room);
    else
      w.null();
    w.end_object();
    c->ok(std::move(body));
  });
}

void read_steps(const CallPtr& c) {
  c->ctx.storage->call([c](store::Store& store) {
    auto page = store.read_steps(c->api.room, c->api.since, c->api.limit);
    if (!page) return c->store_failed(page.error());
    if (!*page) return c->not_found();
    const store::StepPage& p = **page;
    if (c->api.since > p.version)
      return c->not_found("version " + std::to_string(c->api.since) + " is ahead of the room (at " +
                          std::to_string(p.version) + ")");
    if (c->api.since < p.first)
      return c->not_found("steps after version " + std::to_string(c->api.since) +
                          " are no longer kept (the log starts after version " +
                          std::to_string(p.first) + ")");
    std::string body;
    json::Writer w(body);
    w.begin_object();
    w.key("room");
    w.string(c->api.room);
    w.key("version");
    w.number(static_cast<double>(p.version));
    w.key("steps");
    w.begin_array();
    for (const store::StoredStep& s : p.steps) {
      w.begin_object();
      w.key("version");  // the version the step was made on, as in a `steps` message
      w.number(static_cast<double>(s.version - 1));
      w.key("userId");
      w.string(s.user_id);
      w.key("time");
      w.number(static_cast<double>(s.time_ms));
      w.key("step");
      w.raw(s.step_json);
      w.end_object();
    }
    w.end_array();
    w.end_object();
    c->ok(std::move(body));
  });
}

void list_versions(const CallPtr& c) {
  c->ctx.storage->call([c](store::Store& store) {
    auto exists = store.room_exists(c->api.room);
    if (!exists) return c->store_failed(exists.error());
    if (!*exists) return c->not_found();
    auto versions = store.named_versions(c->api.room);
    if (!versions) return c->store_failed(versions.error());
    std::string body;
    json::Writer w(body);
    w.begin_object();
    w.key("room");
    w.string(c->api.room);
    w.key("versions");
    w.begin_array();
    for (const store::NamedVersion& v : *versions)
      write_entry(w, "name", v.name, v.version, "time", v.time_ms);
    w.end_array();
    w.end_object();
    c->ok(std::move(body));
  });
}

// ---- writes ----

room::ApiEdit edit_of(const CallPtr& c) {
  room::ApiEdit e;
  e.user_id = c->api.user_id;
  e.creator = c->client;
  return e;
}

void write_steps(const CallPtr& c) {
  when_exists(c, [c](std::shared_ptr<Room> room) {
    room::ApiEdit e = edit_of(c);
    e.version = *c->api.version;
    e.steps = c->api.steps;
    room->edit(std::move(e), [c](room::EditResult r) { answer_edit(c, r); });
  });
}

void replace_room(const CallPtr& c) {
  compute(c, [c] {
    model::NodeRef doc;
    try {
      doc = model::Node::from_json(*c->ctx.schema, c->api.doc);
      doc->check();
    } catch (const std::exception& e) {
      return c->respond(json_error(*c->req, http::status::unprocessable_entity, "invalid_steps",
                                   std::string("doc is not a valid document: ") + e.what()));
    }
    room::ApiEdit e = edit_of(c);
    e.become = std::move(doc);
    e.create = true;  // PUT makes the room when it does not exist
    c->ctx.rooms->get_or_create(c->api.room)->edit(std::move(e), [c](room::EditResult r) {
      answer_edit(c, r);
    });
  });
}

void delete_room(const CallPtr& c) {
  c->ctx.rooms->get_or_create(c->api.room)->delete_room([c](Result<bool> deleted) {
    if (!deleted)
      return c->error(http::status::service_unavailable, "internal", deleted.error().message);
    if (!*deleted) return c->not_found();
    std::string body;
    json::Writer w(body);
    w.begin_object();
    w.key("room");
    w.string(c->api.room);
    w.key("deleted");
    w.boolean(true);
    w.end_object();
    c->ok(std::move(body));
  });
}

void add_version(const CallPtr& c) {
  when_exists(c, [c](std::shared_ptr<Room> room) {
    room->read_document([c](std::optional<std::pair<int64_t, std::string>> doc) {
      if (!doc) return c->not_found();
      c->ctx.storage->call([c, doc = std::move(*doc)](store::Store& store) {
        store::NamedVersion v{c->api.name, doc.first, protocol::now_ms()};
        auto added =
            store.add_named_version(c->api.room, v, doc.second, c->ctx.options.max_named_versions);
        if (!added) return c->store_failed(added.error());
        switch (*added) {
          case store::AddVersion::added: {
            std::string body;
            json::Writer w(body);
            write_entry(w, "name", v.name, v.version, "time", v.time_ms);
            return c->ok(std::move(body), http::status::created);
          }
          case store::AddVersion::name_taken:
            return c->error(http::status::conflict, "name_taken",
                            "the room has a version of that name");
          case store::AddVersion::full:
            return c->error(http::status::conflict, "too_many_versions",
                            "the room holds its maximum number of named versions (" +
                                std::to_string(c->ctx.options.max_named_versions) + ")");
          case store::AddVersion::no_room: return c->not_found();
        }
      });
    });
  });
}

void restore(const CallPtr& c) {
  int64_t version = *c->api.version;
  c->ctx.storage->call([c, version](store::Store& store) {
    // A named version keeps its document; any other version still in the history is rebuilt.
    store::RoomData data;
    auto named = store.named_version_doc(c->api.room, version);
    if (!named) return c->store_failed(named.error());
    if (*named) {
      data = store::RoomData{version, std::move(**named), {}};
    } else {
      auto loaded = store.load_version(c->api.room, version);
      if (!loaded) return c->store_failed(loaded.error());
      if (!*loaded) return c->not_found();
      data = std::move(**loaded);
      if (data.snapshot_version > version ||
          data.snapshot_version + static_cast<int64_t>(data.steps.size()) != version)
        return c->not_found("version " + std::to_string(version) +
                            " is neither a named version nor in the room's history");
    }
    compute(c, [c, data = std::move(data)] {
      Result<model::NodeRef> doc = rebuild(*c->ctx.schema, data);
      if (!doc) return c->store_failed(doc.error());
      room::ApiEdit e = edit_of(c);
      e.become = std::move(*doc);
      c->ctx.rooms->get_or_create(c->api.room)->edit(std::move(e), [c](room::EditResult r) {
        answer_edit(c, r);
      });
    });
  });
}

void revert(const CallPtr& c, int attempt) {
  c->ctx.storage->call([c, attempt](store::Store& store) {
    auto base = store.load_version(c->api.room, c->api.from);
    if (!base) return c->store_failed(base.error());
    if (!*base) return c->not_found();
    auto page = store.read_steps(c->api.room, c->api.from,
                                 static_cast<size_t>(std::numeric_limits<int64_t>::max()));
    if (!page) return c->store_failed(page.error());
    if (!*page) return c->not_found();
    store::RoomData& d = **base;
    const store::StepPage& p = **page;
    if (c->api.to > p.version)
      return c->error(http::status::bad_request, "bad_message",
                      "to is ahead of the room (at version " + std::to_string(p.version) + ")");
    if (d.snapshot_version > c->api.from || c->api.from < p.first)
      return c->not_found("version " + std::to_string(c->api.from) +
                          " is no longer in the room's history");
    compute(c, [c, attempt, d = std::move(d), steps = p.steps, version = p.version] {
      Result<model::NodeRef> doc = rebuild(*c->ctx.schema, d);
      if (!doc) return c->store_failed(doc.error());
      std::vector<collab::AuthoredStep> log;
      try {
        for (const store::StoredStep& s : steps)
          log.push_back(
              {transform::Step::from_json(*c->ctx.schema, *json::parse(s.step_json)), s.user_id});
      } catch (const std::exception& e) {
        return c->store_failed(Error{ErrorCode::internal, e.what()});
      }
      auto reverted =
          collab::revert_steps(*doc, c->api.from, log, c->api.by, c->api.from, c->api.to);
      if (!reverted) return c->store_failed(reverted.error());
      std::string skipped;
      json::Writer sw(skipped);
      sw.begin_array();
      for (int64_t v : reverted->skipped) sw.number(static_cast<double>(v));
      sw.end_array();
      json::Array step_json;
      for (const transform::StepPtr& s : reverted->steps) step_json.push_back(s->to_json());
      room::ApiEdit e = edit_of(c);
      e.version = version;
      e.steps = json::Value(std::move(step_json));
      c->ctx.rooms->get_or_create(c->api.room)
          ->edit(std::move(e), [c, attempt, skipped](room::EditResult r) {
            // Someone edited between the read and the edit: compute it again on the new steps.
            if (r.status == Status::version_conflict && attempt + 1 < kRevertAttempts)
              return revert(c, attempt + 1);
            answer_edit(c, r, "skipped", skipped);
          });
    });
  });
}

/// The header a node sets on a document API write it forwards to the room's owner: the owner
/// carries it out or refuses it, never forwards it again.
constexpr const char* kForwarded = "X-Rtpm-Forwarded";

bool is_write(ApiOp op) {
  switch (op) {
    case ApiOp::write_steps:
    case ApiOp::replace_room:
    case ApiOp::delete_room:
    case ApiOp::add_version:
    case ApiOp::restore:
    case ApiOp::revert: return true;
    default: return false;
  }
}

void carry_out(const CallPtr& c) {
  switch (c->api.op) {
    case ApiOp::read_room: return c->api.version ? read_at_version(c) : read_latest(c);
    case ApiOp::list_rooms: return list_rooms(c);
    case ApiOp::read_steps: return read_steps(c);
    case ApiOp::write_steps: return write_steps(c);
    case ApiOp::replace_room: return replace_room(c);
    case ApiOp::delete_room: return delete_room(c);
    case ApiOp::add_version: return add_version(c);
    case ApiOp::list_versions: return list_versions(c);
    case ApiOp::restore: return restore(c);
    case ApiOp::revert: return revert(c, 0);
  }
}

/// A write to a room another node owns goes to that node as it came (its token included: the
/// owner checks it again), and its answer comes back as the owner gave it.
void forward(const CallPtr& c, const std::string& node_url) {
  // The owner's host and port, the request's own target.
  auto url = node_http_url(node_url);
  if (!url) return c->error(http::status::service_unavailable, "internal", "bad node URL");
  url->path = std::string(c->req->target());
  HttpPost post;
  post.method = std::string(c->req->method_string());
  post.body = c->req->body();
  post.max_answer_bytes = 64 << 20;
  if (auto ct = c->req->find(http::field::content_type); ct != c->req->end())
    post.content_type = std::string(ct->value());
  if (auto a = c->req->find(http::field::authorization); a != c->req->end())
    post.headers.emplace_back("Authorization", std::string(a->value()));
  post.headers.emplace_back(kForwarded, "1");
  HttpExchange::start(c->ctx.ioc, *url, std::move(post), [c](Result<HttpAnswer> answer) {
    if (!answer)
      return c->error(
          http::status::service_unavailable, "internal",
          "the room's node cannot be reached (" + answer.error().message + "); try again");
    c->respond(make_response(*c->req, static_cast<http::status>(answer->status),
                             std::move(answer->body), "application/json"));
  });
}

}  // namespace

void run_api_request(ServerContext& ctx, std::shared_ptr<const HttpRequest> req, ApiRequest api,
                     std::string client, Respond respond) {
  auto c = std::make_shared<Call>(
      Call{ctx, std::move(req), std::move(api), std::move(client), std::move(respond)});
  // In a cluster a write is carried out by the room's owner (docs/scaling.md); reads come
  // from the store, which every node shares.
  if (!ctx.cluster || !is_write(c->api.op)) return carry_out(c);
  bool forwarded = c->req->find(kForwarded) != c->req->end();
  std::string room = c->api.room;
  ctx.cluster->route(std::move(room), [c, forwarded](Result<Cluster::Route> route) {
    if (!route)
      return c->error(http::status::service_unavailable, "internal",
                      "the room cannot be reached now (" + route.error().message + ")");
    if (route->local) return net::post(c->ctx.ioc, [c] { carry_out(c); });
    if (forwarded)
      return c->error(http::status::service_unavailable, "internal",
                      "the room moved to another node; try again");
    forward(c, route->url);
  });
}

}  // namespace rtpm::server
