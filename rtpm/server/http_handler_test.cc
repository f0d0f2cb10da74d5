// The sans-I/O HTTP handling: requests parsed by Beast with the server's limits, then
// handle_request / parse_error_response, as HttpSession and the fuzz target use them.
#include "rtpm/server/http_handler.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/write.hpp>
#include <gtest/gtest.h>
#include <stdlib.h>

#include "rtpm/server/authenticator.h"
#include "rtpm/server/metrics.h"
#include "rtpm/server/static_files.h"

namespace rtpm::server {
namespace {

namespace http = boost::beast::http;
namespace fs = std::filesystem;

// What the server does with `bytes` (one request): parses it as HttpSession does, then
// decides. A parse error gives its response; nullopt when there is nothing to answer.
std::optional<HttpDecision> decide(std::string_view bytes, const HttpEnv& env = {}) {
  HttpRequestParser parser;
  set_request_limits(parser);
  parser.eager(true);
  boost::beast::error_code ec;
  size_t used = 0;
  while (used < bytes.size() && !parser.is_done()) {
    size_t n = parser.put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    used += n;
    if (ec == http::error::need_more && n > 0) continue;
    if (ec) break;
  }
  if (!ec && !parser.is_done()) ec = http::error::partial_message;
  if (ec) {
    if (auto res = parse_error_response(ec, parser.get())) return HttpDecision(std::move(*res));
    return std::nullopt;
  }
  return handle_request(parser.get(), env);
}

HttpResponse response(const std::optional<HttpDecision>& d) {
  const auto* res = d ? std::get_if<HttpResponse>(&*d) : nullptr;
  if (!res) ADD_FAILURE() << "not a response";
  return res ? *res : HttpResponse{};
}

// The answer's status; 0 when there is no answer.
int status(const std::optional<HttpDecision>& d) {
  return d ? static_cast<int>(response(d).result_int()) : 0;
}

// The bytes HttpSession would write.
std::string wire(const HttpResponse& res) {
  std::ostringstream out;
  out << res;
  return out.str();
}

std::string get(const std::string& target, const std::string& method = "GET") {
  return method + " " + target + " HTTP/1.1\r\nHost: x\r\n\r\n";
}

TEST(HttpHandler, Endpoints) {
  Metrics metrics;
  metrics.rooms = 7;
  HttpEnv env{R"({"name":"basic"})", &metrics, nullptr};
  auto health = response(decide(get("/healthz"), env));
  EXPECT_EQ(health.result_int(), 200u);
  EXPECT_EQ(health.body(), "ok");
  EXPECT_TRUE(health.keep_alive());
  auto m = response(decide(get("/metrics"), env));
  EXPECT_NE(m.body().find("realtime_pm_rooms 7\n"), std::string::npos);
  EXPECT_EQ(response(decide(get("/api/schema"), env)).body(), R"({"name":"basic"})");
  EXPECT_EQ(response(decide(get("/"), env)).result_int(), 200u);  // the built-in notice
  EXPECT_EQ(status(decide(get("/app.js"), env)), 404);
  EXPECT_EQ(status(decide(get("/ws"), env)), 404);  // not an upgrade
  auto post = response(decide(get("/healthz", "POST"), env));
  EXPECT_EQ(post.result_int(), 405u);
  EXPECT_EQ(post[http::field::allow], "GET, HEAD");
}

TEST(HttpHandler, HeadHasTheLengthAndNoBody) {
  HttpEnv env{R"({"name":"basic"})", nullptr, nullptr};
  for (const char* target : {"/healthz", "/api/schema", "/nope", "/"}) {
    auto g = response(decide(get(target), env));
    auto h = response(decide(get(target, "HEAD"), env));
    EXPECT_EQ(h.result_int(), g.result_int()) << target;
    EXPECT_EQ(h[http::field::content_length], std::to_string(g.body().size())) << target;
    EXPECT_TRUE(h.body().empty()) << target;
    std::string bytes = wire(h);
    EXPECT_EQ(bytes.substr(bytes.size() - 4), "\r\n\r\n") << target << ": a body was written";
  }
  auto room = room_response(HttpRequest{http::verb::head, "/api/rooms/r", 11}, "r",
                            std::make_pair(int64_t{3}, std::string(R"({"type":"doc"})")));
  EXPECT_TRUE(room.body().empty());
  EXPECT_EQ(room[http::field::content_length],
            std::to_string(std::string(R"({"room":"r","version":3,"doc":{"type":"doc"}})").size()));
}

TEST(HttpHandler, RoomReads) {
  auto d = decide(get("/api/rooms/a%2Fb"));
  ASSERT_TRUE(d && std::holds_alternative<ApiRequest>(*d));
  EXPECT_EQ(std::get<ApiRequest>(*d).room, "a/b");
  EXPECT_EQ(std::get<ApiRequest>(*d).op, ApiOp::read_room);
  EXPECT_EQ(std::get<ApiRequest>(*decide(get("/api/rooms/r?x=1"))).room, "r");
  for (const char* bad :
       {"/api/rooms/a/b", "/api/rooms/%zz", "/api/rooms/r%20", "/api/rooms/", "/api/rooms/%00"})
    EXPECT_EQ(status(decide(get(bad))), 404) << bad;
  HttpRequest req{http::verb::get, "/api/rooms/r", 11};
  auto ok = room_response(req, "r\"q", std::make_pair(int64_t{2}, std::string("{}")));
  EXPECT_EQ(ok.body(), R"({"room":"r\"q","version":2,"doc":{}})");
  EXPECT_EQ(ok[http::field::content_type], "application/json");
  EXPECT_EQ(room_response(req, "r", std::nullopt).result_int(), 404u);
}

TEST(HttpHandler, WebSocketUpgrades) {
  auto upgrade = [](const std::string& key, const std::string& version = "13",
                    const std::string& path = "/ws") {
    return "GET " + path +
           " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: " +
           key + "\r\nSec-WebSocket-Version: " + version + "\r\n\r\n";
  };
  EXPECT_TRUE(std::holds_alternative<UpgradeRequest>(*decide(upgrade("dGhlIHNhbXBsZSBub25jZQ=="))));
  auto bad = response(decide(upgrade("short")));
  EXPECT_EQ(bad.result_int(), 400u);
  EXPECT_FALSE(bad.keep_alive());
  auto old = response(decide(upgrade("dGhlIHNhbXBsZSBub25jZQ==", "8")));
  EXPECT_EQ(old.result_int(), 426u);
  EXPECT_EQ(old[http::field::sec_websocket_version], "13");
  EXPECT_EQ(status(decide(upgrade("dGhlIHNhbXBsZSBub25jZQ==", "13", "/elsewhere"))), 404);
}

TEST(HttpHandler, WebSocketKeys) {
  EXPECT_TRUE(valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ=="));
  EXPECT_TRUE(valid_websocket_key("AAAAAAAAAAAAAAAAAAAAAA=="));
  EXPECT_TRUE(valid_websocket_key("/////////////////////w=="));
  for (const char* key :
       {"", "short", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZQ===",
        "!!!!!!!!!!!!!!!!!!!!!!==", "AAAAAAAAAAAAAAAAAAAAAAA=", "dGhlIHNhbXBsZSBub25jZR==",
        "dGhlIHNhbXBsZSBub25jZQ=A", "dGhlIHNhbXBsZSBub2 jZQ=="})
    EXPECT_FALSE(valid_websocket_key(key)) << key;
}

TEST(HttpHandler, MalformedRequests) {
  const std::string a9k(9000, 'a'), a20k(20000, 'a');
  std::string fields = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 2000; ++i) fields += "X-F" + std::to_string(i) + ": v\r\n";
  fields += "\r\n";
  const std::vector<std::pair<std::string, int>> cases = {
      {"GARBAGE\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
      {std::string("GET /\0 HTTP/1.1\r\n\r\n", 19), 400},
      {"GET * HTTP/1.1\r\n\r\n", 400},
      {"GET http://host/healthz HTTP/1.1\r\n\r\n", 400},
      {"GET /" + a9k + " HTTP/1.1\r\n\r\n", 414},
      {"GET /" + a20k + " HTTP/1.1\r\n\r\n", 414},
      {"GET /" + a9k + " HTTP/1.1\r\nX: " + a9k + "\r\n\r\n", 414},
      {"GET / HTTP/1.1\r\nX-Big: " + a20k + "\r\n\r\n", 431},
      {fields, 431},
      {"POST / HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n", 413},
  };
  for (const auto& [request, code] : cases) {
    auto res = response(decide(request));
    EXPECT_EQ(static_cast<int>(res.result_int()), code) << request.substr(0, 40);
    EXPECT_FALSE(res.keep_alive()) << request.substr(0, 40);
  }
  // A request cut short (the client closed or is still sending) has nothing to answer.
  EXPECT_EQ(status(decide("GET /healthz HTTP/1.1\r\nHost:")), 0);
  EXPECT_FALSE(parse_error_response(http::error::end_of_stream, HttpRequest{}));
  EXPECT_FALSE(parse_error_response(boost::asio::error::connection_reset, HttpRequest{}));
}

TEST(HttpHandler, PercentDecode) {
  EXPECT_EQ(percent_decode("a%2Fb"), "a/b");
  EXPECT_EQ(percent_decode("%41%62"), "Ab");
  EXPECT_EQ(percent_decode("plain"), "plain");
  for (const char* bad : {"%", "%2", "%zz", "a%g1"}) EXPECT_FALSE(percent_decode(bad)) << bad;
}

TEST(HttpHandler, StaticFilesThroughTheHandler) {
  char tmpl[] = "/tmp/rtpm-http-handler-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  fs::path base = tmpl;
  fs::create_directories(base / "site" / "sub");
  std::ofstream(base / "site" / "index.html") << "<p>index</p>";
  std::ofstream(base / "site" / "sub" / "a.js") << "js";
  std::ofstream(base / "secret") << "SECRET";
  fs::create_symlink(base / "secret", base / "site" / "out");
  auto files = StaticFiles::open((base / "site").string(), {});
  ASSERT_TRUE(files) << files.error().message;
  HttpEnv env{"{}", nullptr, &*files};
  auto index = response(decide(get("/"), env));
  EXPECT_EQ(index.body(), "<p>index</p>");
  EXPECT_EQ(index[http::field::content_type], "text/html; charset=utf-8");
  auto js = response(decide(get("/sub/a.js"), env));
  EXPECT_EQ(js.body(), "js");
  EXPECT_EQ(js[http::field::content_type], "text/javascript; charset=utf-8");
  for (const char* bad : {"//etc/passwd", "/%2Fetc%2Fpasswd", "/out", "/sub/../../secret",
                          "/..%2fsecret", "/sub", "/%252e%252e/secret"})
    EXPECT_EQ(status(decide(get(bad), env)), 404) << bad;
  fs::remove_all(base);
}

// With an Authenticator: the admin routes, and the API behind tokens (docs/security.md).
class HttpAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("rtpm-http-auth-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "tokens.json")
        << R"({"t-all":"alice","t-read":{"sub":"bob","rooms":{"docs/*":"read"}}})";
    std::ofstream(dir_ / "admin") << "admin-token-0123456789\n";
    ServerOptions o;
    o.auth_file = (dir_ / "tokens.json").string();
    o.admin_token_file = (dir_ / "admin").string();
    auto created = Authenticator::create(o, ioc_);
    ASSERT_TRUE(created.ok());
    auth_ = std::move(*created);
    env_.auth = auth_.get();
    env_.schema_json = "{}";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::optional<HttpDecision> admin(std::string target, std::string body,
                                    std::string token = "admin-token-0123456789") {
    return decide("POST " + target + " HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " +
                      token + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                      body,
                  env_);
  }
  std::optional<HttpDecision> get(std::string target, std::string extra = "") {
    return decide("GET " + target + " HTTP/1.1\r\nHost: localhost\r\n" + extra + "\r\n", env_);
  }

  fs::path dir_;
  boost::asio::io_context ioc_;
  std::unique_ptr<Authenticator> auth_;
  HttpEnv env_;
};

TEST_F(HttpAuthTest, AdminRoutesParseTheirBodies) {
  auto revoke = admin("/api/admin/revoke", R"({"jti":"j-1"})");
  ASSERT_TRUE(revoke && std::holds_alternative<RevokeRequest>(*revoke));
  EXPECT_EQ(std::get<RevokeRequest>(*revoke).jti, "j-1");
  auto remove = admin("/api/admin/rooms/docs%2Fa/remove", R"({"userId":"ada"})");
  ASSERT_TRUE(remove && std::holds_alternative<RemoveRequest>(*remove));
  EXPECT_EQ(std::get<RemoveRequest>(*remove).room, "docs/a");
  EXPECT_EQ(std::get<RemoveRequest>(*remove).user_id, "ada");
  auto everyone = admin("/api/admin/rooms/r/remove", "{}");
  ASSERT_TRUE(everyone && std::holds_alternative<RemoveRequest>(*everyone));
  EXPECT_FALSE(std::get<RemoveRequest>(*everyone).user_id);
  EXPECT_EQ(status(admin("/api/admin/revoke", R"({"jti":7})")), 400);
  EXPECT_EQ(status(admin("/api/admin/revoke", "not json")), 400);
  EXPECT_EQ(status(admin("/api/admin/rooms/r/remove", R"({"userId":""})")), 400);
  EXPECT_EQ(status(admin("/api/admin/rooms/bad room/remove", "{}")), 400);  // bad target
  EXPECT_EQ(status(admin("/api/admin/rooms/%zz/remove", "{}")), 404);
  EXPECT_EQ(status(admin("/api/admin/unknown", "{}")), 404);
  EXPECT_EQ(status(admin("/api/admin/revoke", R"({"jti":"j"})", "wrong-token-0123456789")), 401);
  EXPECT_EQ(status(get("/api/admin/revoke")), 405);
  // Without --admin-token-file there is no admin API.
  env_.auth = nullptr;
  EXPECT_EQ(status(admin("/api/admin/revoke", R"({"jti":"j"})")), 404);
}

TEST_F(HttpAuthTest, TheApiNeedsATokenThatGrantsTheRoom) {
  EXPECT_EQ(status(get("/healthz")), 200);
  EXPECT_EQ(status(get("/api/schema")), 401);
  EXPECT_EQ(status(get("/api/schema?token=t-unknown")), 401);
  EXPECT_EQ(status(get("/api/schema?token=t-read")), 200);
  EXPECT_EQ(status(get("/api/rooms/r")), 401);
  EXPECT_EQ(status(get("/api/rooms/other", "Authorization: Bearer t-read\r\n")), 403);
  auto read = get("/api/rooms/docs%2Fa", "Authorization: Bearer t-read\r\n");
  ASSERT_TRUE(read && std::holds_alternative<ApiRequest>(*read));
  EXPECT_EQ(std::get<ApiRequest>(*read).room, "docs/a");
  EXPECT_EQ(status(get("/metrics?token=t-all")), 401);
  auto refused = response(get("/api/rooms/r"));
  EXPECT_NE(refused.body().find(R"("code":"unauthorized")"), std::string::npos);
  EXPECT_EQ(refused[http::field::content_type], "application/json");
}

TEST_F(HttpAuthTest, ForeignHostsAndOriginsAreRefused) {
  EXPECT_EQ(status(decide("GET /healthz HTTP/1.1\r\nHost: evil.example\r\n\r\n", env_)), 403);
  EXPECT_EQ(status(get("/api/schema?token=t-all", "Origin: http://evil.example\r\n")), 403);
  EXPECT_EQ(status(get("/api/schema?token=t-all", "Origin: http://localhost\r\n")), 200);
  std::string upgrade =
      "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
  auto ok = decide(upgrade + "\r\n", env_);
  EXPECT_TRUE(ok && std::holds_alternative<UpgradeRequest>(*ok));
  EXPECT_EQ(status(decide(upgrade + "Origin: http://evil.example\r\n\r\n", env_)), 403);
}

// The document API's routes (api_routes.cc): each operation parsed from its method, path,
// query and body; bad input answered 400/404/405 with a JSON error.
std::optional<HttpDecision> call(std::string method, std::string target, std::string body = "",
                                 const HttpEnv& env = {}, std::string extra = "") {
  return decide(method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n" + extra +
                    "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body,
                env);
}

ApiRequest api(const std::optional<HttpDecision>& d) {
  const auto* r = d ? std::get_if<ApiRequest>(&*d) : nullptr;
  if (!r) ADD_FAILURE() << "not an API request";
  return r ? *r : ApiRequest{};
}

TEST(ApiRoutes, EachOperationIsParsed) {
  auto list = api(call("GET", "/api/rooms?prefix=doc%2F&limit=5&after=doc%2Fa"));
  EXPECT_EQ(list.op, ApiOp::list_rooms);
  EXPECT_EQ(list.prefix, "doc/");
  EXPECT_EQ(list.after, "doc/a");
  EXPECT_EQ(list.limit, 5u);
  EXPECT_EQ(api(call("GET", "/api/rooms")).limit, 100u);
  auto at = api(call("GET", "/api/rooms/r?version=7&format=text"));
  EXPECT_EQ(at.op, ApiOp::read_room);
  EXPECT_EQ(at.version, 7);
  EXPECT_TRUE(at.text);
  auto steps = api(call("GET", "/api/rooms/r/steps?since=3&limit=2"));
  EXPECT_EQ(steps.op, ApiOp::read_steps);
  EXPECT_EQ(steps.since, 3);
  EXPECT_EQ(steps.limit, 2u);
  auto write =
      api(call("POST", "/api/rooms/r/steps", R"({"version":4,"userId":"bot","steps":[{}]})"));
  EXPECT_EQ(write.op, ApiOp::write_steps);
  EXPECT_EQ(write.version, 4);
  EXPECT_EQ(write.user_id, "bot");
  EXPECT_EQ(write.steps.as_array().size(), 1u);
  EXPECT_EQ(write.needed, auth::Permission::write);
  auto put = api(call("PUT", "/api/rooms/r", R"({"doc":{"type":"doc"}})"));
  EXPECT_EQ(put.op, ApiOp::replace_room);
  EXPECT_EQ(put.user_id, "api");  // no userId, no token: the API's own
  EXPECT_EQ(api(call("DELETE", "/api/rooms/r")).op, ApiOp::delete_room);
  auto named = api(call("POST", "/api/rooms/r/versions", R"({"name":"draft"})"));
  EXPECT_EQ(named.op, ApiOp::add_version);
  EXPECT_EQ(named.name, "draft");
  EXPECT_EQ(api(call("GET", "/api/rooms/r/versions")).op, ApiOp::list_versions);
  auto restore = api(call("POST", "/api/rooms/r/versions/12/restore", R"({"userId":"ann"})"));
  EXPECT_EQ(restore.op, ApiOp::restore);
  EXPECT_EQ(restore.version, 12);
  EXPECT_EQ(restore.user_id, "ann");
  EXPECT_EQ(api(call("POST", "/api/rooms/r/versions/12/restore")).user_id, "api");
  auto revert = api(call("POST", "/api/rooms/r/revert", R"({"userId":"ann","from":2,"to":9})"));
  EXPECT_EQ(revert.op, ApiOp::revert);
  EXPECT_EQ(revert.by, "ann");
  EXPECT_EQ(revert.from, 2);
  EXPECT_EQ(revert.to, 9);
  EXPECT_EQ(revert.user_id, "api");
}

TEST(ApiRoutes, BadInputIsRefusedWithAJsonError) {
  struct Case {
    const char* method;
    const char* target;
    const char* body;
    int status;
  };
  for (const Case& c : std::vector<Case>{
           {"GET", "/api/rooms?limit=0", "", 400},
           {"GET", "/api/rooms?limit=1001", "", 400},
           {"GET", "/api/rooms?limit=x", "", 400},
           {"GET", "/api/rooms?prefix=%zz", "", 400},
           {"POST", "/api/rooms", "{}", 405},
           {"GET", "/api/rooms/r?version=-1", "", 400},
           {"GET", "/api/rooms/r?version=1.5", "", 400},
           {"GET", "/api/rooms/r?format=xml", "", 400},
           {"GET", "/api/rooms/r/steps?since=a", "", 400},
           {"GET", "/api/rooms/r/steps?limit=10001", "", 400},
           {"POST", "/api/rooms/r/steps", "not json", 400},
           {"POST", "/api/rooms/r/steps", "[]", 400},
           {"POST", "/api/rooms/r/steps", R"({"userId":"u","steps":[]})", 400},
           {"POST", "/api/rooms/r/steps", R"({"version":-1,"userId":"u","steps":[]})", 400},
           {"POST", "/api/rooms/r/steps", R"({"version":1,"userId":"","steps":[]})", 400},
           {"POST", "/api/rooms/r/steps", R"({"version":1,"userId":"u","steps":{}})", 400},
           {"PUT", "/api/rooms/r", R"({"doc":"text"})", 400},
           {"PUT", "/api/rooms/r", R"({"doc":{},"userId":7})", 400},
           {"PATCH", "/api/rooms/r", "{}", 405},
           {"POST", "/api/rooms/r/versions", R"({"name":""})", 400},
           {"POST", "/api/rooms/r/versions/x/restore", "", 404},
           {"GET", "/api/rooms/r/versions/1/restore", "", 405},
           {"POST", "/api/rooms/r/revert", R"({"userId":"a","from":5,"to":2})", 400},
           {"POST", "/api/rooms/r/revert", R"({"from":1,"to":2})", 400},
           {"GET", "/api/rooms/r/unknown", "", 404},
           {"GET", "/api/rooms/bad%00/steps", "", 404},
       }) {
    auto res = response(call(c.method, c.target, c.body));
    EXPECT_EQ(static_cast<int>(res.result_int()), c.status) << c.method << " " << c.target;
    EXPECT_EQ(res[http::field::content_type], "application/json") << c.target;
    EXPECT_NE(res.body().find(R"("code":)"), std::string::npos) << c.target;
  }
  // More steps than one message may carry.
  std::string many = R"({"version":0,"userId":"u","steps":[)";
  for (int i = 0; i < 1001; ++i) many += i ? ",{}" : "{}";
  many += "]}";
  EXPECT_EQ(status(call("POST", "/api/rooms/r/steps", many)), 413);
}

TEST_F(HttpAuthTest, TheDocumentApiFollowsTheTokensGrants) {
  auto with = [&](const char* method, const char* target, const char* body, const char* token) {
    return call(method, target, body, env_, std::string("Authorization: Bearer ") + token + "\r\n");
  };
  // A read-only grant reads its rooms and writes none.
  EXPECT_EQ(api(with("GET", "/api/rooms/docs%2Fa/steps", "", "t-read")).op, ApiOp::read_steps);
  EXPECT_EQ(status(with("GET", "/api/rooms/other/steps", "", "t-read")), 403);
  EXPECT_EQ(status(with("POST", "/api/rooms/docs%2Fa/steps",
                        R"({"version":0,"userId":"bob","steps":[]})", "t-read")),
            403);
  // A writer writes as its subject only; its restore and revert carry its subject.
  EXPECT_EQ(api(with("POST", "/api/rooms/x/steps", R"({"version":0,"userId":"alice","steps":[]})",
                     "t-all"))
                .user_id,
            "alice");
  EXPECT_EQ(status(with("POST", "/api/rooms/x/steps",
                        R"({"version":0,"userId":"mallory","steps":[]})", "t-all")),
            403);
  EXPECT_EQ(api(with("POST", "/api/rooms/x/revert", R"({"userId":"bob","from":0,"to":1})", "t-all"))
                .user_id,
            "alice");
  // Listing and deleting need the API or admin token.
  EXPECT_EQ(status(with("GET", "/api/rooms", "", "t-all")), 403);
  EXPECT_EQ(status(with("DELETE", "/api/rooms/x", "", "t-all")), 403);
  EXPECT_EQ(api(with("GET", "/api/rooms", "", "admin-token-0123456789")).op, ApiOp::list_rooms);
  EXPECT_EQ(api(with("DELETE", "/api/rooms/x", "", "admin-token-0123456789")).op,
            ApiOp::delete_room);
  EXPECT_EQ(status(call("GET", "/api/rooms", "", env_)), 401);
  EXPECT_EQ(status(with("GET", "/api/rooms/docs%2Fa", "", "t-unknown")), 401);
}

TEST(ApiRoutes, TheApiTokenAloneGuardsTheApi) {
  fs::path dir = fs::temp_directory_path() / ("rtpm-api-token-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "api") << "api-token-0123456789\n";
  ServerOptions o;
  o.api_token_file = (dir / "api").string();
  boost::asio::io_context ioc;
  auto auth = Authenticator::create(o, ioc);
  ASSERT_TRUE(auth.ok());
  HttpEnv env;
  env.auth = auth->get();
  env.schema_json = "{}";
  EXPECT_EQ(status(call("GET", "/api/rooms/r", "", env)), 401);
  EXPECT_EQ(
      status(call("GET", "/api/rooms/r", "", env, "Authorization: Bearer wrong-token-01234\r\n")),
      401);
  EXPECT_EQ(
      api(call("GET", "/api/rooms/r", "", env, "Authorization: Bearer api-token-0123456789\r\n"))
          .op,
      ApiOp::read_room);
  // The schema and the WebSocket stay as open as authentication leaves them.
  EXPECT_EQ(status(call("GET", "/api/schema", "", env)), 200);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rtpm::server
