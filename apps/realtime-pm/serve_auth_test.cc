// Who may read and write (docs/security.md) against the real `realtime-pm serve` binary:
// tokens from a token file, JSON Web Tokens (HS256, RS256, ES256) and the --auth-url callback,
// room permissions and patterns, read-only members, userId binding, expiry, the admin API
// (revoke, remove), Origin and Host checks, and the HTTP endpoints behind authentication.
// Every test starts its own server; secrets, keys and token files go to a mkdtemp folder, JWTs
// are signed in the test (rtpm/auth/jwt_test_support.h), and the --auth-url service is a small
// HTTP server on a thread of the test (AuthService).
#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "apps/realtime-pm/serve_test_support.h"
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rtpm/auth/jwt_test_support.h"
#include "rtpm/client/realtime_client.h"
#include "rtpm/testing/server_process.h"

namespace rtpm::testing {
namespace {

using json::Value;
using namespace std::chrono_literals;
namespace jwt = rtpm::auth::testing;

constexpr const char* kSecret = "a-test-secret-of-more-than-32-bytes!";
constexpr const char* kIssuer = "rtpm-tests";
constexpr const char* kAudience = "editors";
// The issuer and audience every valid JWT of the HS256 server carries.
constexpr const char* kIssAud = R"(,"iss":"rtpm-tests","aud":"editors")";
constexpr const char* kAdminToken = "admin-token-0123456789";
constexpr const char* kMetricsToken = "metrics-token-0123456789";

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// JWT claims: `sub`, `rooms` (a JSON object text), `exp` (omitted when 0) and `extra` (appended
/// inside the object, e.g. `,"jti":"x"`).
std::string claims(const std::string& sub, const std::string& rooms, int64_t exp = now_s() + 600,
                   const std::string& extra = kIssAud) {
  std::string out = R"({"sub":")" + sub + R"(","rooms":)" + rooms;
  if (exp != 0) out += R"(,"exp":)" + std::to_string(exp);
  return out + extra + "}";
}

std::string hs256(const std::string& payload, const std::string& secret = kSecret) {
  return jwt::make_jwt("HS256", payload, secret);
}

/// The three dot-separated parts of a compact JWS.
std::vector<std::string> jws_parts(const std::string& token) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t dot = token.find('.', start);
    parts.push_back(token.substr(start, dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

std::string bearer(const std::string& token) { return "Authorization: Bearer " + token + "\r\n"; }

/// The --auth-url service: answers each POST according to the `token` of its JSON body and
/// records every request. "allow-write" -> write, "allow-read" -> read, "allow" -> allowed
/// without a permission (write by default), "bind" -> allowed and bound to userId "bound-user",
/// "slow" -> never answered (the connection is held open), "fail" -> 500 (with a body that
/// would allow), anything else -> {"allow":false}.
class AuthService {
 public:
  struct Request {
    std::string request_line;  // "POST /authorize HTTP/1.1"
    std::string body;
  };

  AuthService() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd_ < 0) throw std::runtime_error("socket failed");
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 64) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ::close(listen_fd_);
      throw std::runtime_error("cannot listen for the auth service");
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~AuthService() {
    stop_ = true;
    thread_.join();
    for (int fd : held_) ::close(fd);
    ::close(listen_fd_);
  }
  AuthService(const AuthService&) = delete;

  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/authorize"; }

  std::vector<Request> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  /// Requests whose body had this token.
  size_t count(const std::string& token) const {
    size_t n = 0;
    for (const auto& r : requests()) {
      auto body = json::parse(r.body);
      if (body && body->is_object() && str_field(*body, "token") == token) ++n;
    }
    return n;
  }

 private:
  void run() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd >= 0) serve(fd);
    }
  }

  // Appends what arrives within 2 s; false on EOF, error or timeout.
  static bool read_more(int fd, std::string& in) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 2000) <= 0) return false;
    char buf[4096];
    ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r <= 0) return false;
    in.append(buf, static_cast<size_t>(r));
    return true;
  }

  // Reads one request (Content-Length or chunked body); nullopt when it does not come whole.
  static std::optional<Request> read_request(int fd) {
    std::string in;
    size_t end;
    while ((end = in.find("\r\n\r\n")) == std::string::npos)
      if (!read_more(fd, in)) return std::nullopt;
    std::string head = in.substr(0, end);
    std::string rest = in.substr(end + 4);
    std::string lower = head;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    Request req;
    req.request_line = head.substr(0, head.find("\r\n"));
    if (lower.find("transfer-encoding: chunked") != std::string::npos) {
      while (rest.find("0\r\n\r\n") == std::string::npos)
        if (!read_more(fd, rest)) return std::nullopt;
      size_t at = 0;
      for (;;) {
        size_t size_end = rest.find("\r\n", at);
        size_t size = std::stoul(rest.substr(at, size_end - at), nullptr, 16);
        if (size == 0) break;
        req.body += rest.substr(size_end + 2, size);
        at = size_end + 2 + size + 2;
      }
      return req;
    }
    size_t length = 0;
    size_t cl = lower.find("content-length:");
    if (cl != std::string::npos) length = std::stoul(lower.substr(cl + 15));
    while (rest.size() < length)
      if (!read_more(fd, rest)) return std::nullopt;
    req.body = rest.substr(0, length);
    return req;
  }

  void serve(int fd) {
    auto req = read_request(fd);
    if (!req) {
      ::close(fd);
      return;
    }
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(*req);
    }
    auto body = json::parse(req->body);
    std::string token = body && body->is_object() ? str_field(*body, "token") : "";
    if (token == "slow") {
      held_.push_back(fd);  // never answered; closed when the service stops
      return;
    }
    std::string status = "200 OK", answer = R"({"allow":false})";
    if (token == "allow-write") answer = R"({"allow":true,"permission":"write"})";
    if (token == "allow-read") answer = R"({"allow":true,"permission":"read"})";
    if (token == "allow") answer = R"({"allow":true})";
    if (token == "bind") answer = R"({"allow":true,"userId":"bound-user"})";
    if (token == "fail") {
      status = "500 Internal Server Error";
      answer = R"({"allow":true,"permission":"write"})";
    }
    std::string out = "HTTP/1.1 " + status +
                      "\r\nContent-Type: application/json\r\nConnection: close\r\n"
                      "Content-Length: " +
                      std::to_string(answer.size()) + "\r\n\r\n" + answer;
    size_t off = 0;
    while (off < out.size()) {
      ssize_t w = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
      if (w <= 0) break;
      off += static_cast<size_t>(w);
    }
    ::shutdown(fd, SHUT_WR);
    ::close(fd);
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<int> held_;  // only the service's thread touches it until the destructor
  mutable std::mutex mutex_;
  std::vector<Request> requests_;
};

class ServeAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "rtpm-auth-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    server_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  /// Writes `content` to `name` in the test's folder; returns the path.
  std::string file(const std::string& name, const std::string& content) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  void start(std::vector<std::string> args = {}) {
    server_ = std::make_unique<ServerProcess>(RTPM_BINARY, std::move(args));
    server_->start();
  }
  /// HS256 with kSecret (the file ends in a newline, which is not part of the secret),
  /// issuer and audience required.
  void start_jwt(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "--jwt-secret-file", file("jwt.secret", kSecret + std::string("\n")),
        "--jwt-issuer",      kIssuer,
        "--jwt-audience",    kAudience};
    args.insert(args.end(), extra.begin(), extra.end());
    start(std::move(args));
  }
  /// A token file (the JSON text `tokens`).
  void start_tokens(const std::string& tokens, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--auth-file", file("tokens.json", tokens)};
    args.insert(args.end(), extra.begin(), extra.end());
    start(std::move(args));
  }
  /// The --auth-url service `auth_`, started first.
  void start_auth_url(std::vector<std::string> extra = {}) {
    auth_ = std::make_unique<AuthService>();
    std::vector<std::string> args = {"--auth-url", auth_->url()};
    args.insert(args.end(), extra.begin(), extra.end());
    start(std::move(args));
  }
  uint16_t port() const { return server_->port(); }
  std::string own_host() const { return "127.0.0.1:" + std::to_string(port()); }

  /// A WebSocket client presenting `token` as a bearer header (none when empty).
  std::unique_ptr<WsClient> connect(const std::string& token) {
    return std::make_unique<WsClient>(port(), "realtime-pm.json.v1", "/ws", token);
  }
  /// Joins and returns the state.
  Value join(WsClient& c, const std::string& room, const std::string& user,
             const std::string& extra = "") {
    c.send(join_msg(room, user, extra));
    auto state = c.recv_type("state");
    EXPECT_TRUE(state) << "no state for " << user << " in " << room;
    return state ? *state : Value();
  }
  /// The next error; expects `code`, and `room` when given.
  Value expect_error(WsClient& c, const std::string& code, const std::string& room = "",
                     const std::string& why = "") {
    auto e = c.recv_type("error");
    EXPECT_TRUE(e) << "no " << code << ": " << why;
    if (!e) return Value();
    EXPECT_EQ(str_field(*e, "code"), code) << why << ": " << json::stringify(*e);
    if (!room.empty()) {
      EXPECT_EQ(str_field(*e, "room"), room) << why << ": " << json::stringify(*e);
    }
    return *e;
  }
  /// The connection gets `unauthorized` and is closed with 1008.
  void expect_refused(WsClient& c, const std::string& why) {
    expect_error(c, "unauthorized", "", why);
    EXPECT_TRUE(eventually([&] { return c.closed(); }, 5s)) << why;
    EXPECT_EQ(c.close_code(), 1008) << why;
  }
  /// The first `state` or `error` that comes (nullopt when none within 5 s).
  std::optional<Value> state_or_error(WsClient& c) {
    auto until = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < until) {
      auto m = c.recv(100ms);
      if (!m) {
        if (c.closed()) return std::nullopt;
        continue;
      }
      std::string type = str_field(*m, "type");
      if (type == "state" || type == "error") return m;
    }
    return std::nullopt;
  }
  /// Sends one insertion at `version` from `user` and expects its ack.
  void write(WsClient& c, const std::string& room, const std::string& user, int64_t version) {
    c.send(steps_msg(room, user, version, "[" + insert_step(1, "x") + "]"));
    auto ack = c.recv_type("ack");
    EXPECT_TRUE(ack) << user << " got no ack in " << room;
    if (ack) {
      EXPECT_EQ(num_field(*ack, "version"), version + 1);
    }
  }

  /// One HTTP request on a fresh connection (`headers`: whole lines ending in CRLF; `host`
  /// defaults to the server's own). Status 0 when no response came.
  RawHttpResponse request(const std::string& method, const std::string& target,
                          const std::string& headers = "", const std::string& body = "",
                          const std::string& host = "") {
    RawSocket s(port());
    std::string req = method + " " + target +
                      " HTTP/1.1\r\nHost: " + (host.empty() ? own_host() : host) +
                      "\r\nConnection: close\r\n" + headers;
    if (method == "POST")
      req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\n";
    s.send(req + "\r\n" + body);
    auto res = s.read_response();
    return res ? *res : RawHttpResponse{};
  }
  RawHttpResponse get(const std::string& target, const std::string& token = "") {
    return request("GET", target, token.empty() ? "" : bearer(token));
  }
  RawHttpResponse admin_post(const std::string& target, const std::string& body,
                             const std::string& token = kAdminToken) {
    return request("POST", target, token.empty() ? "" : bearer(token), body);
  }
  /// The room's version as `GET /api/rooms/ROOM` with `token` reports it.
  int64_t version(const std::string& room, const std::string& token) {
    auto res = get("/api/rooms/" + room, token);
    EXPECT_EQ(res.status, 200) << res.body;
    return res.status == 200 ? num_field(parse(res.body), "version") : -1;
  }
  /// A WebSocket upgrade written by hand with `headers` (whole lines); the response's status.
  int upgrade(const std::string& headers, const std::string& host = "") {
    RawSocket s(port());
    s.send("GET /ws HTTP/1.1\r\nHost: " + (host.empty() ? own_host() : host) +
           "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
           RawSocket::kKey + "\r\nSec-WebSocket-Version: 13\r\n" + headers + "\r\n");
    auto res = s.read_response();
    return res ? res->status : 0;
  }

  std::string dir_;
  std::unique_ptr<AuthService> auth_;  // before server_: the server stops first
  std::unique_ptr<ServerProcess> server_;
};

// ---- JSON Web Tokens ----

TEST_F(ServeAuthTest, JwtHs256TokenJoinsAndWrites) {
  start_jwt();
  auto c = connect(hs256(claims("ada", R"({"*":"write"})")));
  Value state = join(*c, "r", "ada");
  EXPECT_EQ(num_field(state, "version"), 0);
  write(*c, "r", "ada", 0);
}

TEST_F(ServeAuthTest, TokenCommandPrintsATokenTheServerAccepts) {
  std::string secret = file("cli.secret", kSecret + std::string("\n"));
  auto made = run_command(std::string(RTPM_BINARY) + " token --jwt-secret-file " + secret +
                          " --sub ada --room 'docs/*=write' --room 'lobby=read' --jti cli-1");
  ASSERT_EQ(made.status, 0) << made.output;
  std::string token = made.output.substr(0, made.output.find('\n'));
  start({"--jwt-secret-file", secret});
  auto c = connect(token);
  join(*c, "docs/a", "ada");
  write(*c, "docs/a", "ada", 0);
  join(*c, "lobby", "ada");
  c->send(steps_msg("lobby", "ada", 0, "[" + insert_step(1, "x") + "]"));
  expect_error(*c, "forbidden", "lobby", "lobby is read-only");
  c->send(join_msg("other", "ada"));
  expect_error(*c, "forbidden", "other", "no rule for other");
  // Bad input to the command: a clear message and status 1.
  auto bad = run_command(std::string(RTPM_BINARY) + " token --jwt-secret-file " + secret +
                         " --sub ada --room 'docs/*=admin' 2>&1");
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.output.find("PATTERN=read or PATTERN=write"), std::string::npos) << bad.output;
  auto short_secret =
      run_command(std::string(RTPM_BINARY) + " token --jwt-secret-file " +
                  file("short.secret", "short") + " --sub ada --room '*=read' 2>&1");
  EXPECT_EQ(short_secret.status, 1) << short_secret.output;
}

TEST_F(ServeAuthTest, TheCppClientAuthenticatesWithATokenInTheUrl) {
  start_jwt();
  std::string token = hs256(claims("ada", R"({"docs/*":"write"})"));
  client::ClientOptions options;
  options.url = "ws://127.0.0.1:" + std::to_string(port()) + "/ws?token=" + token;
  options.user_id = "ada";
  // GET /api/schema keeps the URL's query, so the token authenticates it as well.
  auto schema = client::fetch_schema(options);
  ASSERT_TRUE(schema.ok()) << schema.error().message;
  options.schema = *schema;
  client::RealtimeClient c(options, {});
  ASSERT_TRUE(c.join("docs/c").ok());
  EXPECT_TRUE(c.wait_synced("docs/c", 10s));
  // The same without the token: the schema request is refused.
  options.url = "ws://127.0.0.1:" + std::to_string(port()) + "/ws";
  auto refused = client::fetch_schema(options);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("401"), std::string::npos) << refused.error().message;
  c.close();
}

TEST_F(ServeAuthTest, JwtAudienceMayBeAnArrayContainingTheAudience) {
  start_jwt();
  auto c = connect(hs256(claims("ada", R"({"*":"write"})", now_s() + 600,
                                R"(,"iss":"rtpm-tests","aud":["other","editors"])")));
  join(*c, "r", "ada");
}

TEST_F(ServeAuthTest, JwtUnsignedTokenIsRefused) {
  start_jwt();
  auto c = connect(jwt::make_jwt("none", claims("ada", R"({"*":"write"})"), ""));
  expect_refused(*c, "alg none");
}

TEST_F(ServeAuthTest, JwtExpiredTokenIsRefused) {
  start_jwt();
  auto c = connect(hs256(claims("ada", R"({"*":"write"})", now_s() - 60)));
  expect_refused(*c, "exp a minute ago");
}

TEST_F(ServeAuthTest, JwtNotYetValidTokenIsRefused) {
  start_jwt();
  std::string nbf = R"(,"nbf":)" + std::to_string(now_s() + 60) + kIssAud;
  auto c = connect(hs256(claims("ada", R"({"*":"write"})", now_s() + 600, nbf)));
  expect_refused(*c, "nbf in a minute");
}

TEST_F(ServeAuthTest, JwtTamperedPayloadIsRefused) {
  start_jwt();
  // The payload of a token granting everything under the signature of one granting a lobby.
  auto narrow = jws_parts(hs256(claims("ada", R"({"lobby":"read"})")));
  auto wide = jws_parts(hs256(claims("ada", R"({"*":"write"})")));
  ASSERT_EQ(narrow.size(), 3u);
  ASSERT_EQ(wide.size(), 3u);
  auto c = connect(narrow[0] + "." + wide[1] + "." + narrow[2]);
  expect_refused(*c, "payload swapped after signing");
}

TEST_F(ServeAuthTest, JwtSignedWithAnotherSecretIsRefused) {
  start_jwt();
  auto c =
      connect(hs256(claims("ada", R"({"*":"write"})"), "another-secret-of-more-than-32-bytes"));
  expect_refused(*c, "another secret");
}

TEST_F(ServeAuthTest, JwtWithWrongIssuerIsRefused) {
  start_jwt();
  auto c = connect(hs256(claims("ada", R"({"*":"write"})", now_s() + 600,
                                R"(,"iss":"someone-else","aud":"editors")")));
  expect_refused(*c, "wrong iss");
}

TEST_F(ServeAuthTest, JwtWithWrongAudienceIsRefused) {
  start_jwt();
  auto c = connect(hs256(claims("ada", R"({"*":"write"})", now_s() + 600,
                                R"(,"iss":"rtpm-tests","aud":["viewers","others"])")));
  expect_refused(*c, "wrong aud");
}

TEST_F(ServeAuthTest, JwtRs256TokenJoins) {
  auto keys = jwt::generate_rsa();
  start({"--jwt-public-key-file", file("rsa.pub", keys.public_pem)});
  auto c = connect(jwt::make_jwt("RS256", claims("ada", R"({"*":"write"})", now_s() + 600, ""),
                                 keys.private_pem));
  join(*c, "r", "ada");
  write(*c, "r", "ada", 0);
}

TEST_F(ServeAuthTest, JwtEs256TokenJoins) {
  auto keys = jwt::generate_ec_p256();
  start({"--jwt-public-key-file", file("ec.pub", keys.public_pem)});
  auto c = connect(jwt::make_jwt("ES256", claims("ada", R"({"*":"write"})", now_s() + 600, ""),
                                 keys.private_pem));
  join(*c, "r", "ada");
  write(*c, "r", "ada", 0);
}

TEST_F(ServeAuthTest, JwtRs256SignedWithAnotherKeyIsRefused) {
  auto keys = jwt::generate_rsa(), other = jwt::generate_rsa();
  start({"--jwt-public-key-file", file("rsa.pub", keys.public_pem)});
  auto c = connect(jwt::make_jwt("RS256", claims("ada", R"({"*":"write"})", now_s() + 600, ""),
                                 other.private_pem));
  expect_refused(*c, "RS256 by another key");
}

TEST_F(ServeAuthTest, JwtHs256SignedWithThePublicKeyIsRefused) {
  auto keys = jwt::generate_rsa();
  start({"--jwt-public-key-file", file("rsa.pub", keys.public_pem)});
  std::string payload = claims("ada", R"({"*":"write"})", now_s() + 600, "");
  // The PEM text as the HMAC secret, as it is in the file and without its last newline.
  std::string pem = keys.public_pem, trimmed = pem;
  while (!trimmed.empty() && trimmed.back() == '\n') trimmed.pop_back();
  auto c = connect(jwt::make_jwt("HS256", payload, pem));
  expect_refused(*c, "HS256 with the public key as secret");
  auto d = connect(jwt::make_jwt("HS256", payload, trimmed));
  expect_refused(*d, "HS256 with the trimmed public key as secret");
  auto e = connect(jwt::make_jwt("none", payload, ""));
  expect_refused(*e, "alg none with only a public key");
}

// ---- Tokens, rooms and userIds ----

TEST_F(ServeAuthTest, TokenInQueryIsPercentDecoded) {
  start_tokens(R"({"a+b/c=d":"plus"})");
  WsClient c(port(), "realtime-pm.json.v1", "/ws?token=a%2Bb%2Fc%3Dd");
  join(c, "r", "plus");
  // The same token as a bearer header.
  auto d = connect("a+b/c=d");
  join(*d, "r2", "plus");
}

TEST_F(ServeAuthTest, RoomOutsideTheGrantIsForbidden) {
  start_jwt();
  auto c = connect(hs256(claims("ada", R"({"docs/*":"write","lobby":"read"})")));
  c->send(join_msg("other", "ada"));
  expect_error(*c, "forbidden", "other", "room not in rooms");
  // The connection stays usable for the rooms it may join.
  join(*c, "lobby", "ada");
}

TEST_F(ServeAuthTest, TokenFileRoomsGrantOnlyTheirRooms) {
  start_tokens(R"({"t-ada":{"sub":"ada","rooms":{"mine":"write"}}})");
  auto c = connect("t-ada");
  c->send(join_msg("yours", "ada"));
  expect_error(*c, "forbidden", "yours", "room not in the file's rooms");
  join(*c, "mine", "ada");
  write(*c, "mine", "ada", 0);
}

TEST_F(ServeAuthTest, RoomPatternGrantsMatchingRooms) {
  start_jwt();
  std::string token = hs256(claims("ada", R"({"docs/*":"write","docs/archive/*":"read"})"));
  auto c = connect(token);
  join(*c, "docs/a/b", "ada");
  write(*c, "docs/a/b", "ada", 0);
  // The longer pattern makes the archive read-only.
  join(*c, "docs/archive/old", "ada");
  c->send(steps_msg("docs/archive/old", "ada", 0, "[" + insert_step(1, "x") + "]"));
  expect_error(*c, "forbidden", "docs/archive/old", "steps in a read-only pattern");
  // "docs/*" does not match "docs" itself.
  c->send(join_msg("docs", "ada"));
  expect_error(*c, "forbidden", "docs", "docs is not docs/*");
}

TEST_F(ServeAuthTest, ReadOnlyMemberCannotWrite) {
  start_tokens(R"({"t-w":"writer","t-r":{"sub":"reader","rooms":{"r":"read"}}})");
  auto w = connect("t-w"), r = connect("t-r");
  join(*w, "r", "writer");
  write(*w, "r", "writer", 0);
  join(*r, "r", "reader");
  r->send(steps_msg("r", "reader", 1, "[" + insert_step(1, "x") + "]"));
  expect_error(*r, "forbidden", "r", "steps from a reader");
  EXPECT_FALSE(w->recv_type("steps", 300ms)) << "the reader's steps were broadcast";
  EXPECT_EQ(version("r", "t-w"), 1);
}

TEST_F(ServeAuthTest, ReadOnlyMemberReceivesStepsJoinsAndPresence) {
  start_tokens(R"({"t-w":"writer","t-r":{"sub":"reader","rooms":{"r":"read"}}})");
  auto w = connect("t-w"), r = connect("t-r");
  join(*r, "r", "reader");  // a read-only join may create the room
  join(*w, "r", "writer");
  auto joined = r->recv_type("join");
  ASSERT_TRUE(joined);
  EXPECT_EQ(str_field(*joined, "userId"), "writer");
  write(*w, "r", "writer", 0);
  auto steps = r->recv_type("steps");
  ASSERT_TRUE(steps);
  EXPECT_EQ(str_field(*steps, "userId"), "writer");
  w->send(R"({"type":"presence","room":"r","users":{"writer":{"cursor":{"pos":1}}}})");
  auto p = r->recv_type("presence");
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->find("users"));
  EXPECT_TRUE(p->find("users")->find("writer")) << json::stringify(*p);
}

TEST_F(ServeAuthTest, ReadOnlyPresenceIsShownByDefault) {
  start_tokens(R"({"t-w":"writer","t-r":{"sub":"reader","rooms":{"r":"read"}}})");
  auto w = connect("t-w"), r = connect("t-r");
  join(*w, "r", "writer");
  join(*r, "r", "reader");
  r->send(R"({"type":"presence","room":"r","users":{"reader":{"cursor":{"pos":1}}}})");
  auto p = w->recv_type("presence");
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->find("users"));
  EXPECT_TRUE(p->find("users")->find("reader")) << json::stringify(*p);
}

TEST_F(ServeAuthTest, ReadOnlyPresenceFalseRefusesTheirPresence) {
  start_tokens(R"({"t-w":"writer","t-r":{"sub":"reader","rooms":{"r":"read"}}})",
               {"--read-only-presence", "false"});
  auto w = connect("t-w"), r = connect("t-r");
  // Presence in the reader's join is dropped; the join succeeds.
  join(*r, "r", "reader", R"(,"presence":{"name":"R"})");
  Value state = join(*w, "r", "writer");
  const Value* users = state.find("users");
  ASSERT_TRUE(users) << json::stringify(state);
  const Value* reader = users->find("reader");
  if (reader) {
    EXPECT_FALSE(reader->find("name")) << json::stringify(state);
  }
  r->send(R"({"type":"presence","room":"r","users":{"reader":{"cursor":{"pos":1}}}})");
  expect_error(*r, "forbidden", "r", "presence from a reader");
  EXPECT_FALSE(w->recv_type("presence", 500ms)) << "the reader's presence was broadcast";
  // The writer's presence still reaches the reader.
  w->send(R"({"type":"presence","room":"r","users":{"writer":{"cursor":{"pos":1}}}})");
  EXPECT_TRUE(r->recv_type("presence"));
}

TEST_F(ServeAuthTest, JwtUserIdOtherThanSubjectIsForbidden) {
  start_jwt();
  auto c = connect(hs256(claims("ada", R"({"*":"write"})")));
  c->send(join_msg("r", "bob"));
  expect_error(*c, "forbidden", "r", "userId bob with sub ada");
  join(*c, "r", "ada");
}

TEST_F(ServeAuthTest, TokenFileUserIdOtherThanSubjectIsForbidden) {
  start_tokens(R"({"t-alice":"alice"})");
  auto c = connect("t-alice");
  c->send(join_msg("r", "mallory"));
  expect_error(*c, "forbidden", "r", "userId mallory with subject alice");
  join(*c, "r", "alice");
}

TEST_F(ServeAuthTest, SessionIsNotReplacedByAnotherSubject) {
  start_tokens(R"({"t-alice":"alice","t-bob":"bob"})");
  auto alice = connect("t-alice"), bob = connect("t-bob");
  join(*alice, "r", "alice");
  bob->send(join_msg("r", "alice"));
  expect_error(*bob, "forbidden", "r", "bob joining as alice");
  join(*bob, "r", "bob");
  // alice keeps her session: no session_replaced, her steps are acknowledged and reach bob.
  write(*alice, "r", "alice", 0);
  auto steps = bob->recv_type("steps");
  ASSERT_TRUE(steps);
  EXPECT_EQ(str_field(*steps, "userId"), "alice");
  EXPECT_FALSE(alice->recv_type("error", 200ms));
  EXPECT_FALSE(alice->closed());
}

TEST_F(ServeAuthTest, TokenExpiryClosesALiveSession) {
  start_jwt({"--jwt-leeway-s", "0"});
  auto c = connect(hs256(claims("ada", R"({"*":"write"})", now_s() + 2)));
  join(*c, "r", "ada");
  EXPECT_TRUE(eventually([&] { return c->closed(); }, 6s)) << "still open after exp";
  expect_error(*c, "unauthorized", "", "the token expired");
  EXPECT_EQ(c->close_code(), 1008);
}

// ---- The admin API ----

TEST_F(ServeAuthTest, AdminRevokeClosesSessionsAndRefusesTheToken) {
  start_jwt({"--admin-token-file", file("admin.token", kAdminToken + std::string("\n"))});
  std::string token = hs256(
      claims("ada", R"({"*":"write"})", now_s() + 600, std::string(R"(,"jti":"j1")") + kIssAud));
  std::string other = hs256(
      claims("bob", R"({"*":"write"})", now_s() + 600, std::string(R"(,"jti":"j2")") + kIssAud));
  auto c = connect(token), d = connect(other);
  join(*c, "r", "ada");
  join(*d, "r", "bob");
  auto res = admin_post("/api/admin/revoke", R"({"jti":"j1"})");
  ASSERT_EQ(res.status, 200) << res.body;
  Value body = parse(res.body);
  EXPECT_EQ(str_field(body, "jti"), "j1");
  EXPECT_EQ(num_field(body, "closed"), 1);
  EXPECT_TRUE(eventually([&] { return c->closed(); }, 3s)) << "revoked session still open";
  expect_error(*c, "unauthorized", "", "the token was revoked");
  EXPECT_EQ(c->close_code(), 1008);
  // A new connection with the revoked token is refused; the other token still works.
  auto again = connect(token);
  expect_refused(*again, "revoked token");
  write(*d, "r", "bob", 0);
}

TEST_F(ServeAuthTest, AdminRevokeNeedsTheAdminBearerToken) {
  start_tokens(R"({"t-alice":"alice"})",
               {"--admin-token-file", file("admin.token", kAdminToken + std::string("\n"))});
  EXPECT_EQ(admin_post("/api/admin/revoke", R"({"jti":"j1"})", "").status, 401);
  EXPECT_EQ(admin_post("/api/admin/revoke", R"({"jti":"j1"})", "wrong").status, 401);
  EXPECT_EQ(admin_post("/api/admin/revoke", R"({"jti":"j1"})", "t-alice").status, 401);
  auto query =
      request("POST", "/api/admin/revoke?token=" + std::string(kAdminToken), "", R"({"jti":"j1"})");
  EXPECT_EQ(query.status, 401) << "the admin token in ?token=";
  auto res = admin_post("/api/admin/revoke", R"({"jti":"j1"})", "");
  EXPECT_EQ(str_field(parse(res.body), "code"), "unauthorized") << res.body;
}

TEST_F(ServeAuthTest, AdminRemoveTakesOneMemberOutOfTheRoom) {
  start_tokens(R"({"t-a":"a","t-b":"b","t-c":"c"})",
               {"--admin-token-file", file("admin.token", kAdminToken)});
  auto a = connect("t-a"), b = connect("t-b"), c = connect("t-c");
  join(*a, "r", "a");
  join(*b, "r", "b");
  join(*c, "r", "c");
  auto res = admin_post("/api/admin/rooms/r/remove", R"({"userId":"b"})");
  ASSERT_EQ(res.status, 200) << res.body;
  Value body = parse(res.body);
  EXPECT_EQ(str_field(body, "room"), "r");
  EXPECT_EQ(num_field(body, "removed"), 1);
  expect_error(*b, "forbidden", "r", "removed by an administrator");
  for (WsClient* other : {a.get(), c.get()}) {
    auto leave = other->recv_type("leave");
    ASSERT_TRUE(leave);
    EXPECT_EQ(str_field(*leave, "userId"), "b");
  }
  b->send(steps_msg("r", "b", 0, "[" + insert_step(1, "x") + "]"));
  expect_error(*b, "not_joined", "r", "steps after removal");
  // The others go on; b may join again (its token still grants the room).
  write(*a, "r", "a", 0);
  EXPECT_TRUE(c->recv_type("steps"));
  EXPECT_EQ(num_field(join(*b, "r", "b"), "version"), 1);
}

TEST_F(ServeAuthTest, AdminRemoveWithoutUserIdRemovesEveryMember) {
  start_tokens(R"({"t-a":"a","t-b":"b"})",
               {"--admin-token-file", file("admin.token", kAdminToken)});
  auto a = connect("t-a"), b = connect("t-b");
  join(*a, "r", "a");
  join(*b, "r", "b");
  auto res = admin_post("/api/admin/rooms/r/remove", "{}");
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(num_field(parse(res.body), "removed"), 2);
  expect_error(*a, "forbidden", "r", "a removed");
  expect_error(*b, "forbidden", "r", "b removed");
  a->send(steps_msg("r", "a", 0, "[" + insert_step(1, "x") + "]"));
  expect_error(*a, "not_joined", "r", "steps after removal");
  EXPECT_EQ(admin_post("/api/admin/rooms/r/remove", "{}", "wrong").status, 401);
}

TEST_F(ServeAuthTest, AdminEndpointsAre404WithoutAdminTokenFile) {
  start_tokens(R"({"t-alice":"alice"})");
  EXPECT_EQ(admin_post("/api/admin/revoke", R"({"jti":"j1"})", "t-alice").status, 404);
  EXPECT_EQ(admin_post("/api/admin/rooms/r/remove", "{}", "t-alice").status, 404);
  server_.reset();
  start();  // authentication off
  EXPECT_EQ(admin_post("/api/admin/revoke", R"({"jti":"j1"})", "").status, 404);
  EXPECT_EQ(admin_post("/api/admin/rooms/r/remove", "{}", "").status, 404);
}

// ---- --auth-url ----

TEST_F(ServeAuthTest, AuthUrlWriteAllowsSteps) {
  start_auth_url();
  auto c = connect("allow-write");
  join(*c, "r", "u1");
  write(*c, "r", "u1", 0);
  // Without a permission, write is the default.
  auto d = connect("allow");
  join(*d, "r", "u2");
  write(*d, "r", "u2", 1);
}

TEST_F(ServeAuthTest, AuthUrlReadIsReadOnly) {
  start_auth_url();
  auto w = connect("allow-write"), r = connect("allow-read");
  join(*w, "r", "writer");
  join(*r, "r", "reader");
  r->send(steps_msg("r", "reader", 0, "[" + insert_step(1, "x") + "]"));
  expect_error(*r, "forbidden", "r", "steps with permission read");
  write(*w, "r", "writer", 0);
  EXPECT_TRUE(r->recv_type("steps"));
  EXPECT_EQ(version("r", "allow-read"), 1);
}

TEST_F(ServeAuthTest, AuthUrlDenyIsForbidden) {
  start_auth_url();
  auto c = connect("deny");
  c->send(join_msg("r", "u1"));
  auto answer = state_or_error(*c);
  ASSERT_TRUE(answer);
  EXPECT_EQ(str_field(*answer, "code"), "forbidden") << json::stringify(*answer);
  EXPECT_EQ(str_field(*answer, "room"), "r") << json::stringify(*answer);
}

TEST_F(ServeAuthTest, AuthUrlTimeoutRefuses) {
  start_auth_url({"--auth-timeout-ms", "300"});
  auto c = connect("slow");
  c->send(join_msg("r", "u1"));
  auto answer = state_or_error(*c);
  ASSERT_TRUE(answer) << "no answer after the callback's timeout";
  EXPECT_EQ(str_field(*answer, "type"), "error") << json::stringify(*answer);
  std::string code = str_field(*answer, "code");
  EXPECT_TRUE(code == "unauthorized" || code == "forbidden") << json::stringify(*answer);
  EXPECT_EQ(auth_->count("slow"), 1u);
}

TEST_F(ServeAuthTest, AuthUrlErrorStatusRefuses) {
  start_auth_url();
  auto c = connect("fail");
  c->send(join_msg("r", "u1"));
  auto answer = state_or_error(*c);
  ASSERT_TRUE(answer);
  EXPECT_EQ(str_field(*answer, "type"), "error") << json::stringify(*answer);
  std::string code = str_field(*answer, "code");
  EXPECT_TRUE(code == "unauthorized" || code == "forbidden") << json::stringify(*answer);
}

TEST_F(ServeAuthTest, AuthUrlUnreachableServiceRefuses) {
  // A port that was free a moment ago: the connection to the service is refused.
  uint16_t dead_port = AuthService().port();
  start({"--auth-url", "http://127.0.0.1:" + std::to_string(dead_port) + "/authorize"});
  auto c = connect("allow-write");
  c->send(join_msg("r", "u1"));
  auto answer = state_or_error(*c);
  ASSERT_TRUE(answer);
  EXPECT_EQ(str_field(*answer, "type"), "error") << json::stringify(*answer);
}

TEST_F(ServeAuthTest, AuthUrlBindsTheUserId) {
  start_auth_url();
  auto c = connect("bind");
  c->send(join_msg("r", "someone"));
  auto answer = state_or_error(*c);
  ASSERT_TRUE(answer);
  EXPECT_EQ(str_field(*answer, "code"), "forbidden") << json::stringify(*answer);
  auto d = connect("bind");
  join(*d, "r", "bound-user");
  write(*d, "r", "bound-user", 0);
}

TEST_F(ServeAuthTest, AuthUrlReceivesTokenRoomAndUserId) {
  start_auth_url();
  auto c = connect("allow-write");
  join(*c, "room-1", "u1");
  int asked = 0;
  for (const auto& r : auth_->requests()) {
    Value body = parse(r.body);
    if (str_field(body, "room") != "room-1") continue;
    ++asked;
    EXPECT_EQ(r.request_line, "POST /authorize HTTP/1.1");
    EXPECT_EQ(str_field(body, "token"), "allow-write") << r.body;
    EXPECT_EQ(str_field(body, "userId"), "u1") << r.body;
  }
  EXPECT_EQ(asked, 1);
}

TEST_F(ServeAuthTest, AuthUrlAnswersAreCached) {
  start_auth_url({"--auth-cache-s", "60"});
  {
    auto c = connect("allow-write");
    join(*c, "r", "u1");
  }
  auto d = connect("allow-write");
  join(*d, "r", "u1");
  EXPECT_EQ(auth_->count("allow-write"), 1u);
  // Denials are cached too; another room is another question.
  for (int i = 0; i < 2; ++i) {
    auto e = connect("deny");
    e->send(join_msg("r", "u1"));
    expect_error(*e, "forbidden", "r", "deny");
  }
  EXPECT_EQ(auth_->count("deny"), 1u);
  join(*d, "r2", "u1");
  EXPECT_EQ(auth_->count("allow-write"), 2u);
}

TEST_F(ServeAuthTest, AuthUrlConnectionWithoutTokenIsRefusedWithoutAsking) {
  start_auth_url();
  auto c = connect("");
  expect_refused(*c, "no token");
  EXPECT_EQ(auth_->requests().size(), 0u);
}

TEST_F(ServeAuthTest, AuthUrlGuardsHttpReads) {
  start_auth_url();
  auto c = connect("allow-write");
  join(*c, "r", "u1");
  EXPECT_EQ(get("/api/rooms/r", "allow-read").status, 200);
  EXPECT_EQ(get("/api/rooms/r", "deny").status, 403);
  EXPECT_EQ(get("/api/rooms/r").status, 401);
  EXPECT_EQ(get("/api/schema", "allow-read").status, 200);
  bool saw_room_read = false, saw_schema_read = false;
  for (const auto& r : auth_->requests()) {
    Value body = parse(r.body);
    const Value* user = body.find("userId");
    if (str_field(body, "token") == "allow-read" && str_field(body, "room") == "r") {
      saw_room_read = true;
      EXPECT_TRUE(user && user->is_null()) << r.body;
    }
    if (str_field(body, "token") == "allow-read" && body.find("room") &&
        str_field(body, "room").empty()) {
      saw_schema_read = true;
      EXPECT_TRUE(user && user->is_null()) << r.body;
    }
  }
  EXPECT_TRUE(saw_room_read);
  EXPECT_TRUE(saw_schema_read);
}

TEST_F(ServeAuthTest, AuthUrlGuardsApiWritesAndNamesTheirAuthor) {
  start_auth_url();
  auto c = connect("allow-write");
  join(*c, "r", "u1");
  auto put = [&](const std::string& token, const std::string& body) {
    return http_request(port(), "PUT", "/api/rooms/r", body,
                        {{"Authorization", "Bearer " + token}});
  };
  const std::string doc =
      R"({"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"x"}]}]})";
  // A read grant may not write; a write grant writes, as the userId the application binds
  // (the body named none), else as "api".
  EXPECT_EQ(put("allow-read", R"({"doc":)" + doc + "}").status, 403);
  EXPECT_EQ(put("deny", R"({"doc":)" + doc + "}").status, 403);
  EXPECT_EQ(put("bind", R"({"doc":)" + doc + "}").status, 200);
  // A body naming another author than the bound one is refused.
  EXPECT_EQ(
      put("bind", R"({"doc":{"type":"doc","content":[{"type":"paragraph"}]},"userId":"x"})").status,
      403);
  auto steps = http_request(port(), "GET", "/api/rooms/r/steps", "",
                            {{"Authorization", "Bearer allow-read"}});
  ASSERT_EQ(steps.status, 200) << steps.body;
  Value page = parse(steps.body);
  const Value* list = page.find("steps");
  ASSERT_TRUE(list && list->is_array() && list->as_array().size() == 1u) << steps.body;
  EXPECT_EQ(str_field(list->as_array()[0], "userId"), "bound-user");
  // The application was asked about the write with userId null (the body named none).
  bool asked = false;
  for (const auto& r : auth_->requests()) {
    Value body = parse(r.body);
    if (str_field(body, "token") != "bind" || str_field(body, "room") != "r") continue;
    const Value* user = body.find("userId");
    if (user && user->is_null()) asked = true;
  }
  EXPECT_TRUE(asked);
}

// ---- Origins ----

TEST_F(ServeAuthTest, ForeignOriginUpgradeIs403) {
  start();
  EXPECT_EQ(upgrade("Origin: http://evil.example\r\n"), 403);
  // Same host, another port: another origin.
  EXPECT_EQ(upgrade("Origin: http://127.0.0.1:1\r\n"), 403);
  EXPECT_EQ(upgrade("Origin: null\r\n"), 403);
}

TEST_F(ServeAuthTest, OwnOriginOrNoOriginUpgrades) {
  start();
  EXPECT_EQ(upgrade("Origin: http://" + own_host() + "\r\n"), 101);
  EXPECT_EQ(upgrade(""), 101);
  // The own origin follows the request's Host.
  std::string localhost = "localhost:" + std::to_string(port());
  EXPECT_EQ(upgrade("Origin: http://" + localhost + "\r\n", localhost), 101);
  // Behind a TLS proxy that passes the Host on, the page's origin is https: the own origin is
  // the Host, whatever the scheme.
  EXPECT_EQ(upgrade("Origin: https://" + own_host() + "\r\n"), 101);
}

TEST_F(ServeAuthTest, AllowedOriginsAreAccepted) {
  start({"--allowed-origins", "http://app.example,http://localhost:5173"});
  EXPECT_EQ(upgrade("Origin: http://app.example\r\n"), 101);
  EXPECT_EQ(upgrade("Origin: http://localhost:5173\r\n"), 101);
  EXPECT_EQ(upgrade("Origin: http://evil.example\r\n"), 403);
  EXPECT_EQ(upgrade("Origin: https://app.example\r\n"), 403);
  EXPECT_EQ(upgrade("Origin: http://app.example.evil\r\n"), 403);
  EXPECT_EQ(upgrade(""), 101);
}

TEST_F(ServeAuthTest, AllowedOriginsStarAllowsEveryOrigin) {
  start({"--allowed-origins", "*"});
  EXPECT_EQ(upgrade("Origin: http://evil.example\r\n"), 101);
}

TEST_F(ServeAuthTest, ApiRequestWithForeignOriginIs403) {
  start();
  auto c = std::make_unique<WsClient>(port());
  join(*c, "r", "a");
  EXPECT_EQ(request("GET", "/api/rooms/r", "Origin: http://evil.example\r\n").status, 403);
  EXPECT_EQ(request("GET", "/api/schema", "Origin: http://evil.example\r\n").status, 403);
  EXPECT_EQ(request("GET", "/api/rooms/r", "Origin: http://" + own_host() + "\r\n").status, 200);
  EXPECT_EQ(request("GET", "/api/rooms/r").status, 200);
}

// ---- Hosts ----

TEST_F(ServeAuthTest, ForeignHostIs403OnLoopback) {
  start();
  std::string evil = "evil.example:" + std::to_string(port());
  EXPECT_EQ(request("GET", "/healthz", "", "", evil).status, 403);
  EXPECT_EQ(request("GET", "/api/schema", "", "", evil).status, 403);
  EXPECT_EQ(upgrade("", evil), 403);
}

TEST_F(ServeAuthTest, LoopbackHostNamesAreAllowed) {
  start();
  std::string p = ":" + std::to_string(port());
  for (const std::string& host : {"localhost" + p, "app.localhost" + p, "127.0.0.1" + p,
                                  "127.1.2.3" + p, "[::1]" + p, std::string("localhost")}) {
    EXPECT_EQ(request("GET", "/healthz", "", "", host).status, 200) << host;
    EXPECT_EQ(request("GET", "/api/schema", "", "", host).status, 200) << host;
  }
  EXPECT_EQ(upgrade("", "localhost" + p), 101);
}

TEST_F(ServeAuthTest, AllowedHostsAreAccepted) {
  start({"--allowed-hosts", "evil.example"});
  std::string host = "evil.example:" + std::to_string(port());
  EXPECT_EQ(request("GET", "/healthz", "", "", host).status, 200);
  EXPECT_EQ(request("GET", "/api/schema", "", "", host).status, 200);
  EXPECT_EQ(upgrade("", host), 101);
  EXPECT_EQ(request("GET", "/healthz", "", "", "other.example:" + std::to_string(port())).status,
            403);
}

// ---- HTTP behind authentication ----

TEST_F(ServeAuthTest, HttpApiNeedsATokenWhenAuthIsOn) {
  start_tokens(R"({"t-alice":"alice"})");
  auto c = connect("t-alice");
  join(*c, "r", "alice");
  for (const char* target : {"/api/schema", "/api/rooms/r", "/metrics"}) {
    auto res = get(target);
    EXPECT_EQ(res.status, 401) << target;
    if (res.status == 401) {
      auto body = json::parse(res.body);
      ASSERT_TRUE(body) << target << ": " << res.body;
      EXPECT_EQ(str_field(*body, "code"), "unauthorized") << target << ": " << res.body;
    }
  }
  EXPECT_EQ(get("/api/schema", "nope").status, 401);
  EXPECT_EQ(get("/api/rooms/r", "nope").status, 401);
}

TEST_F(ServeAuthTest, RoomReadNeedsReadPermission) {
  start_tokens(R"({"t-w":"writer","t-r":{"sub":"reader","rooms":{"r":"read"}},)"
               R"("t-o":{"sub":"other","rooms":{"elsewhere":"write"}}})");
  auto w = connect("t-w");
  join(*w, "r", "writer");
  auto res = get("/api/rooms/r", "t-o");
  EXPECT_EQ(res.status, 403);
  auto body = json::parse(res.body);
  EXPECT_TRUE(body && str_field(*body, "code") == "forbidden") << res.body;
  EXPECT_EQ(get("/api/rooms/r", "t-r").status, 200);
  EXPECT_EQ(get("/api/rooms/r?token=t-r").status, 200);
  EXPECT_EQ(get("/api/rooms/r", "t-w").status, 200);
}

TEST_F(ServeAuthTest, SchemaAcceptsBearerAndQueryToken) {
  start_jwt();
  std::string token = hs256(claims("ada", R"({})"));
  auto bearer_res = get("/api/schema", token);
  EXPECT_EQ(bearer_res.status, 200);
  EXPECT_EQ(str_field(parse(bearer_res.body), "name"), "basic");
  EXPECT_EQ(get("/api/schema?token=" + token).status, 200);
}

TEST_F(ServeAuthTest, MetricsNeedsTheMetricsToken) {
  start_tokens(R"({"t-alice":"alice"})",
               {"--metrics-token-file", file("metrics.token", kMetricsToken + std::string("\n"))});
  auto ok = get("/metrics", kMetricsToken);
  EXPECT_EQ(ok.status, 200);
  EXPECT_NE(ok.body.find("realtime_pm_connections"), std::string::npos);
  EXPECT_EQ(get("/metrics").status, 401);
  EXPECT_NE(get("/metrics", "t-alice").status, 200) << "a user's token is not the metrics token";
}

TEST_F(ServeAuthTest, MetricsTokenIsNeededWithAuthOff) {
  start({"--metrics-token-file", file("metrics.token", kMetricsToken)});
  EXPECT_EQ(get("/metrics").status, 401);
  EXPECT_EQ(get("/metrics", kMetricsToken).status, 200);
  EXPECT_EQ(get("/api/schema").status, 200);
}

TEST_F(ServeAuthTest, MetricsAreRefusedWithAuthOnAndNoMetricsToken) {
  start_tokens(R"({"t-alice":"alice"})");
  EXPECT_NE(get("/metrics", "t-alice").status, 200);
}

TEST_F(ServeAuthTest, HealthzNeedsNoToken) {
  start_tokens(R"({"t-alice":"alice"})");
  auto res = get("/healthz");
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "ok");
}

}  // namespace
}  // namespace rtpm::testing
