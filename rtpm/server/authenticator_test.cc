// Authenticator without sockets: tokens in requests, token-file grants, the Origin and Host
// rules, the admin and metrics tokens, revocation (docs/security.md).
#include "rtpm/server/authenticator.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "rtpm/auth/jwt_test_support.h"

namespace rtpm::server {
namespace {

namespace http = boost::beast::http;
namespace fs = std::filesystem;

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("rtpm-auth-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string file(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  std::unique_ptr<Authenticator> make(ServerOptions o) {
    auto a = Authenticator::create(o, ioc_);
    EXPECT_TRUE(a.ok()) << (a ? "" : a.error().message);
    return a ? std::move(*a) : nullptr;
  }
  static HttpRequest request(std::string target,
                             std::vector<std::pair<http::field, std::string>> fields = {}) {
    HttpRequest req{http::verb::get, target, 11};
    for (auto& [f, v] : fields) req.set(f, v);
    return req;
  }

  fs::path dir_;
  boost::asio::io_context ioc_;
};

TEST_F(AuthenticatorTest, TheTokenComesFromTheBearerHeaderOrThePercentDecodedQuery) {
  EXPECT_EQ(Authenticator::request_token(request("/ws?a=1&token=a%2Bb%2Fc%3Dd&b=2")), "a+b/c=d");
  EXPECT_EQ(Authenticator::request_token(request("/ws?token=plain")), "plain");
  EXPECT_EQ(Authenticator::request_token(
                request("/ws?token=q", {{http::field::authorization, "Bearer header"}})),
            "header");
  EXPECT_EQ(Authenticator::request_token(request("/ws?token=%zz")), "");
  EXPECT_EQ(Authenticator::request_token(request("/ws?xtoken=1")), "");
  EXPECT_EQ(Authenticator::request_token(request("/ws")), "");
}

TEST_F(AuthenticatorTest, TokenFileEntriesGrantEveryRoomOrTheirRooms) {
  ServerOptions o;
  o.auth_file = file("tokens.json", R"({"t-all":"alice","t-docs":{"sub":"bob","rooms":)"
                                    R"({"docs/*":"write","docs/archive/*":"read"}}})");
  auto a = make(o);
  ASSERT_TRUE(a && a->enabled());
  auto all = a->authenticate("t-all", 0);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ((*all)->subject, "alice");
  EXPECT_EQ((*all)->rooms.permission_for("anything"), auth::Permission::write);
  auto docs = a->authenticate("t-docs", 0);
  ASSERT_TRUE(docs.ok());
  EXPECT_EQ((*docs)->rooms.permission_for("docs/a"), auth::Permission::write);
  EXPECT_EQ((*docs)->rooms.permission_for("docs/archive/a"), auth::Permission::read);
  EXPECT_EQ((*docs)->rooms.permission_for("other"), auth::Permission::none);
  EXPECT_FALSE(a->authenticate("t-none", 0).ok());
  EXPECT_FALSE(a->authenticate("", 0).ok());
  EXPECT_EQ(a->authenticate("nope", 0).error().code, ErrorCode::unauthorized);
}

TEST_F(AuthenticatorTest, BadSettingsStopTheStart) {
  auto refused = [&](ServerOptions o) { return !Authenticator::create(o, ioc_).ok(); };
  ServerOptions o;
  o.auth_file = file("bad.json", R"({"t":{"sub":"x","rooms":{"r":"admin"}}})");
  EXPECT_TRUE(refused(o));
  o.auth_file = file("bad2.json", R"({"t":""})");
  EXPECT_TRUE(refused(o));
  o = {};
  o.jwt_secret_file = file("short", "too short");
  EXPECT_TRUE(refused(o));
  o = {};
  o.admin_token_file = file("admin", "short\n");
  EXPECT_TRUE(refused(o));
  o = {};
  o.auth_url = "https://auth.example/check";
  EXPECT_TRUE(refused(o));
  o.auth_url = "http://127.0.0.1:1/check";
  o.auth_file = file("ok.json", R"({"t":"alice"})");
  EXPECT_TRUE(refused(o));  // --auth-url is not combined with other modes
}

TEST_F(AuthenticatorTest, JwtGrantsAndRevocation) {
  ServerOptions o;
  std::string secret(40, 's');
  o.jwt_secret_file = file("secret", secret + "\n");  // the newline is not part of it
  auto a = make(o);
  ASSERT_TRUE(a);
  std::string token =
      auth::testing::make_jwt("HS256", R"({"sub":"ada","jti":"j1","rooms":{"*":"read"}})", secret);
  auto grant = a->authenticate(token, 0);
  ASSERT_TRUE(grant.ok()) << grant.error().message;
  EXPECT_EQ((*grant)->subject, "ada");
  EXPECT_EQ((*grant)->token_id, "j1");
  EXPECT_FALSE(a->revoked("j1"));
  EXPECT_TRUE(a->revoke("j1"));
  EXPECT_TRUE(a->revoked("j1"));
  EXPECT_FALSE(a->authenticate(token, 0).ok());
  // The session's view of an upgrade request.
  SessionAuth s = a->session_auth(request("/ws?token=" + token), 0);
  EXPECT_FALSE(s.authorized);
  EXPECT_FALSE(s.refusal.empty());
}

TEST_F(AuthenticatorTest, ReadOnlyAccessFollowsTheOption) {
  ServerOptions o;
  auto a = make(o);
  EXPECT_TRUE(a->access(auth::Permission::write).write);
  EXPECT_FALSE(a->access(auth::Permission::read).write);
  EXPECT_TRUE(a->access(auth::Permission::read).presence);
  o.read_only_presence = false;
  a = make(o);
  EXPECT_FALSE(a->access(auth::Permission::read).presence);
  EXPECT_TRUE(a->access(auth::Permission::write).presence);
}

TEST_F(AuthenticatorTest, OriginsAreTheServersOwnOrListed) {
  ServerOptions o;
  auto a = make(o);
  auto with = [](std::string origin, std::string host = "127.0.0.1:8080") {
    return request("/ws", {{http::field::origin, origin}, {http::field::host, host}});
  };
  EXPECT_TRUE(a->origin_allowed(request("/ws", {{http::field::host, "127.0.0.1:8080"}})));
  EXPECT_TRUE(a->origin_allowed(with("http://127.0.0.1:8080")));
  EXPECT_TRUE(a->origin_allowed(with("http://LOCALHOST:8080", "localhost:8080")));
  // Any scheme: behind a TLS proxy the page is https:// and this server plain HTTP.
  EXPECT_TRUE(a->origin_allowed(with("https://127.0.0.1:8080")));
  EXPECT_FALSE(a->origin_allowed(with("https://127.0.0.1:8080/x")));
  EXPECT_FALSE(a->origin_allowed(with("http://127.0.0.1:8081")));
  EXPECT_FALSE(a->origin_allowed(with("http://evil.example")));
  EXPECT_FALSE(a->origin_allowed(with("null")));
  o.allowed_origins = "https://app.example, http://localhost:5173";
  a = make(o);
  EXPECT_TRUE(a->origin_allowed(with("https://app.example")));
  EXPECT_TRUE(a->origin_allowed(with("http://localhost:5173")));
  EXPECT_FALSE(a->origin_allowed(with("https://app.example.evil")));
  o.allowed_origins = "*";
  a = make(o);
  EXPECT_TRUE(a->origin_allowed(with("http://evil.example")));
}

TEST_F(AuthenticatorTest, HostsOnALoopbackServerAreLoopbackNamesOrListed) {
  ServerOptions o;  // binds 127.0.0.1
  auto a = make(o);
  auto host = [](std::string h) { return request("/", {{http::field::host, h}}); };
  for (const char* ok : {"127.0.0.1:8080", "localhost", "LOCALHOST:1", "app.localhost:8080",
                         "[::1]:8080", "127.1.2.3"})
    EXPECT_TRUE(a->host_allowed(host(ok))) << ok;
  for (const char* bad : {"evil.example:8080", "localhost.evil.example", "127.0.0.1.evil.example",
                          "10.0.0.1", "[::2]:8080"})
    EXPECT_FALSE(a->host_allowed(host(bad))) << bad;
  o.allowed_hosts = "Docs.Example.com";
  a = make(o);
  EXPECT_TRUE(a->host_allowed(host("docs.example.com:443")));
  EXPECT_TRUE(a->host_allowed(host("localhost")));
  // On another address the Host is only checked against a list.
  o.bind = "0.0.0.0";
  o.allowed_hosts = "";
  a = make(o);
  EXPECT_TRUE(a->host_allowed(host("evil.example")));
  o.allowed_hosts = "docs.example.com";
  a = make(o);
  EXPECT_FALSE(a->host_allowed(host("evil.example")));
  EXPECT_FALSE(a->host_allowed(host("localhost")));
  EXPECT_TRUE(a->host_allowed(host("docs.example.com")));
}

TEST_F(AuthenticatorTest, AdminAndMetricsTokens) {
  ServerOptions o;
  auto open = make(o);
  EXPECT_FALSE(open->has_admin());
  EXPECT_TRUE(open->metrics_allowed(request("/metrics")));
  o.admin_token_file = file("admin", "  admin-token-0123456789\n");
  o.metrics_token_file = file("metrics", "metrics-token-0123456789");
  auto a = make(o);
  auto bearer = [](std::string token) {
    return request("/x", {{http::field::authorization, "Bearer " + token}});
  };
  EXPECT_TRUE(a->is_admin(bearer("admin-token-0123456789")));
  EXPECT_FALSE(a->is_admin(bearer("admin-token-012345678")));
  EXPECT_FALSE(a->is_admin(request("/x?token=admin-token-0123456789")));
  EXPECT_TRUE(a->metrics_allowed(bearer("metrics-token-0123456789")));
  EXPECT_FALSE(a->metrics_allowed(bearer("admin-token-0123456789")));
  EXPECT_FALSE(a->metrics_allowed(request("/metrics")));
  // Authentication on and no metrics token: /metrics is closed.
  ServerOptions auth_on;
  auth_on.auth_file = file("tokens.json", R"({"t":"alice"})");
  EXPECT_FALSE(make(auth_on)->metrics_allowed(bearer("t")));
}

}  // namespace
}  // namespace rtpm::server
