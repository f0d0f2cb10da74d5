// libFuzzer target: HTTP requests as the server reads them (issue 10). The input is parsed with
// Beast's request parser and the server's limits (set_request_limits), request after request as
// on a keep-alive connection, and each request is answered by handle_request, or by
// parse_error_response when the parser refuses it -- the same calls HttpSession makes, without
// a socket. The --static folder is a real one (made once per process): a few files, a symlink
// inside, and symlinks to a secret file and to a folder outside.
//
// Checked on every answer: it serializes; a HEAD answer has no body; any other answer's
// Content-Length is its body's size; no answer ever carries the secret's bytes; a room read
// names a valid room; an upgrade is a GET of /ws with a valid key. Each input runs twice: with
// everything open, and with an Authenticator (a token file, an admin token; docs/security.md),
// where also: a room read carries a token that may read that room, an admin request the admin
// token, an upgrade an allowed Origin and Host.
//
//   seed corpus: fuzz/corpus/http_request/ (every traversal and malformed request of issue 10)
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <stdlib.h>

#include "rtpm/protocol/client_messages.h"
#include "rtpm/server/authenticator.h"
#include "rtpm/server/http_handler.h"
#include "rtpm/server/metrics.h"
#include "rtpm/server/static_files.h"

namespace {

namespace fs = std::filesystem;
namespace http = boost::beast::http;
using namespace rtpm::server;

constexpr std::string_view kSecret = "FUZZ-SECRET-OUTSIDE-THE-FOLDER";

struct Fixture {
  fs::path base;
  std::unique_ptr<StaticFiles> files;
  Metrics metrics;
  boost::asio::io_context ioc;
  std::unique_ptr<Authenticator> auth;
};

Fixture& fixture() {
  static Fixture* f = [] {
    auto* made = new Fixture;
    char tmpl[] = "/tmp/rtpm-http-fuzz-XXXXXX";
    if (!mkdtemp(tmpl)) std::abort();
    made->base = tmpl;
    fs::path site = made->base / "site";
    fs::create_directories(site / "sub");
    std::ofstream(site / "index.html") << "<p>index</p>";
    std::ofstream(site / "app.js") << "console.log(1)";
    std::ofstream(site / "sub" / "page.html") << "<p>page</p>";
    std::ofstream(made->base / "secret.txt") << kSecret;
    fs::create_symlink("app.js", site / "link-in");
    fs::create_symlink(made->base / "secret.txt", site / "link-out");
    fs::create_symlink("..", site / "dir-out");
    auto files = StaticFiles::open(site.string(), {});
    if (!files) std::abort();
    made->files = std::make_unique<StaticFiles>(std::move(*files));
    std::ofstream(made->base / "tokens.json")
        << R"({"t-all":"alice","t-read":{"sub":"bob","rooms":{"docs/*":"read"}}})";
    std::ofstream(made->base / "admin") << "admin-token-0123456789";
    ServerOptions options;
    options.auth_file = (made->base / "tokens.json").string();
    options.admin_token_file = (made->base / "admin").string();
    auto auth = Authenticator::create(options, made->ioc);
    if (!auth) std::abort();
    made->auth = std::move(*auth);
    return made;
  }();
  return *f;
}

// `sent_secret`: the request itself holds the secret's bytes (a room read names its room in the
// answer), so finding them in the answer proves nothing.
void check(const HttpResponse& res, bool head, bool sent_secret = false) {
  std::ostringstream out;
  out << res;
  std::string bytes = out.str();
  if (!sent_secret && bytes.find(kSecret) != std::string::npos)
    std::abort();  // a file outside was served
  if (head && !res.body().empty()) std::abort();
  if (!head && res[http::field::content_length] != std::to_string(res.body().size())) std::abort();
}

// One connection's requests, answered with `env`.
void run(std::string_view input, const HttpEnv& env) {
  const Authenticator* auth = env.auth;
  // Up to 16 pipelined requests, as one keep-alive connection would bring them.
  for (int n = 0; n < 16 && !input.empty(); ++n) {
    HttpRequestParser parser;
    set_request_limits(parser);
    parser.eager(true);
    boost::beast::error_code ec;
    while (!input.empty() && !parser.is_done()) {
      size_t used = parser.put(boost::asio::buffer(input.data(), input.size()), ec);
      input.remove_prefix(used);
      if (ec == http::error::need_more && used > 0) {
        ec = {};
        continue;
      }
      if (ec) break;
    }
    if (!parser.is_done() && (!ec || ec == http::error::need_more)) return;  // waits for more
    if (ec) {
      if (auto res = parse_error_response(ec, parser.get())) {
        if (res->keep_alive()) std::abort();  // after a parse error the connection must close
        check(*res, false);
      }
      return;
    }
    const HttpRequest& req = parser.get();
    HttpDecision decision = handle_request(req, env);
    bool head = req.method() == http::verb::head;
    if (auth && !std::holds_alternative<HttpResponse>(decision) &&
        (!auth->host_allowed(req) || !auth->origin_allowed(req)))
      std::abort();  // only refusals for a foreign Host or Origin
    if (auto* res = std::get_if<HttpResponse>(&decision)) {
      check(*res, head);
      if (!res->keep_alive()) return;
    } else if (auto* room = std::get_if<ApiRequest>(&decision)) {
      bool listing = room->op == rtpm::server::ApiOp::list_rooms;
      if (listing != room->room.empty()) std::abort();
      if (!listing && !rtpm::protocol::valid_room_name(room->room)) std::abort();
      if (auth && !auth->is_api_client(req)) {
        // A user's token: it must grant what the operation needs, and list and delete none.
        auto grant = auth->authenticate(Authenticator::request_token(req), 0);
        if (!grant || listing || room->op == rtpm::server::ApiOp::delete_room ||
            static_cast<int>((*grant)->rooms.permission_for(room->room)) <
                static_cast<int>(room->needed))
          std::abort();
      }
      bool sent_secret = room->room.find(kSecret) != std::string::npos;
      check(room_response(req, room->room, std::make_pair(int64_t{1}, std::string("{}"))), head,
            sent_secret);
      check(room_response(req, room->room, std::nullopt), head, sent_secret);
    } else if (std::holds_alternative<RevokeRequest>(decision) ||
               std::holds_alternative<RemoveRequest>(decision)) {
      if (!auth || !auth->is_admin(req) || req.method() != http::verb::post) std::abort();
    } else if (std::holds_alternative<SchemaRequest>(decision)) {
      std::abort();  // only with --auth-url
    } else {
      std::string_view target = req.target();
      if (req.method() != http::verb::get || target.substr(0, target.find('?')) != "/ws" ||
          !valid_websocket_key(req[http::field::sec_websocket_key]) ||
          !boost::beast::websocket::is_upgrade(req))
        std::abort();
      return;  // the connection is a WebSocket now
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fixture& f = fixture();
  std::string_view input(reinterpret_cast<const char*>(data), size);
  HttpEnv open{R"({"name":"fuzz"})", &f.metrics, f.files.get()};
  run(input, open);
  HttpEnv guarded = open;
  guarded.auth = f.auth.get();
  run(input, guarded);
  return 0;
}
