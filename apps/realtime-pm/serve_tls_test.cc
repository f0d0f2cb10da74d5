// The server over TLS: with --tls-cert/--tls-key (or RTPM_TLS_CERT/RTPM_TLS_KEY)
// the port speaks wss:// and https:// only. Each test makes a fresh
// self-signed certificate for "localhost" with OpenSSL and the clients trust
// exactly that certificate.
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "apps/realtime-pm/serve_test_support.h"
#include <boost/asio/connect.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <gtest/gtest.h>

#include "rtpm/testing/server_process.h"
#include "rtpm/testing/tls_certificate.h"

namespace rtpm::testing {
namespace {

using json::Value;
using namespace std::chrono_literals;

class ServeTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rtpm-tls-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    cert_ = dir_ + "/cert.pem";
    key_ = dir_ + "/key.pem";
    make_certificate(cert_, key_);
  }
  void TearDown() override {
    server_.reset();
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }
  void start(std::vector<std::string> args) {
    server_ = std::make_unique<ServerProcess>(RTPM_BINARY, std::move(args));
    server_->start();
  }
  std::unique_ptr<WsClient> wss(std::string subprotocol = "realtime-pm.json.v1") {
    return std::make_unique<WsClient>(server_->port(), std::move(subprotocol), "/ws", "", cert_);
  }
  Value join(WsClient& c, const std::string& room, const std::string& user) {
    c.send(join_msg(room, user));
    auto state = c.recv_type("state");
    EXPECT_TRUE(state) << "no state for " << user;
    return state ? *state : Value();
  }
  std::string dir_, cert_, key_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(ServeTlsTest, WssAndHttpsOnTheSamePort) {
  start({"--tls-cert", cert_, "--tls-key", key_});
  auto health = http_get(server_->port(), "/healthz", cert_);
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok");
  EXPECT_EQ(http_get(server_->port(), "/api/rooms/nope", cert_).status, 404);
  auto a = wss(), b = wss();
  EXPECT_EQ(a->subprotocol(), "realtime-pm.json.v1");
  Value state = join(*a, "r", "a");
  EXPECT_EQ(num_field(state, "version"), 0);
  join(*b, "r", "b");
  a->send(steps_msg("r", "a", 0, "[" + insert_step(1, "hi") + "]"));
  auto ack = a->recv_type("ack");
  ASSERT_TRUE(ack);
  EXPECT_EQ(num_field(*ack, "version"), 1);
  auto steps = b->recv_type("steps");
  ASSERT_TRUE(steps);
  EXPECT_EQ(str_field(*steps, "userId"), "a");
  // A message of many TLS records each way (more than 16 KiB).
  std::string big(200 * 1024, 'z');
  b->send(steps_msg("r", "b", 1, "[" + insert_step(1, big) + "]"));
  ASSERT_TRUE(b->recv_type("ack"));
  auto seen = a->recv_type("steps");
  ASSERT_TRUE(seen);
  EXPECT_NE(json::stringify(*seen).find(big), std::string::npos);
  auto doc = http_get(server_->port(), "/api/rooms/r", cert_);
  EXPECT_EQ(doc.status, 200);
  EXPECT_NE(doc.body.find(big), std::string::npos);
  // Errors and the binary subprotocol work the same over TLS.
  a->send("not json");
  auto e = a->recv_type("error");
  ASSERT_TRUE(e);
  EXPECT_EQ(str_field(*e, "code"), "bad_message");
  auto bin = wss("realtime-pm.bin.v1");
  EXPECT_EQ(bin->subprotocol(), "realtime-pm.bin.v1");
  // Plain ws:// and http:// on a TLS port fail; the server keeps serving TLS.
  EXPECT_THROW(WsClient(server_->port()), std::exception);
  EXPECT_THROW(http_get(server_->port(), "/healthz"), std::exception);
  EXPECT_EQ(http_get(server_->port(), "/healthz", cert_).status, 200);
  // Shutdown closes wss:// connections with 1001 too.
  EXPECT_EQ(server_->stop(), 0);
  for (int i = 0; i < 100 && !a->closed(); ++i) std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(a->closed());
  EXPECT_EQ(a->close_code(), 1001);
}

TEST_F(ServeTlsTest, ClientsRefuseAnotherCertificate) {
  start({"--tls-cert", cert_, "--tls-key", key_});
  // A client that trusts another certificate refuses the handshake; so does one that
  // expects another host name.
  std::string other_cert = dir_ + "/other.pem", other_key = dir_ + "/other-key.pem";
  make_certificate(other_cert, other_key);
  EXPECT_THROW(WsClient(server_->port(), "realtime-pm.json.v1", "/ws", "", other_cert),
               std::exception);
  EXPECT_THROW(http_get(server_->port(), "/healthz", other_cert), std::exception);
  // The server is unharmed.
  auto a = wss();
  join(*a, "r", "a");
  a->send(steps_msg("r", "a", 0, "[" + insert_step(1, "ok") + "]"));
  EXPECT_TRUE(a->recv_type("ack"));
  // A server whose certificate names another host: trusted, but not for "localhost".
  std::string named_cert = dir_ + "/named.pem", named_key = dir_ + "/named-key.pem";
  make_certificate(named_cert, named_key, "example.org");
  ServerProcess named(RTPM_BINARY, {"--tls-cert", named_cert, "--tls-key", named_key});
  named.start();
  EXPECT_THROW(http_get(named.port(), "/healthz", named_cert), std::exception);
  EXPECT_THROW(WsClient(named.port(), "realtime-pm.json.v1", "/ws", "", named_cert),
               std::exception);
}

// --idle-timeout over TLS: a wss:// member that stops reading (and so answers no ping) is
// closed and leaves its room; one that reads stays.
TEST_F(ServeTlsTest, IdleTimeoutOverTls) {
  namespace net = boost::asio;
  namespace beast = boost::beast;
  start({"--tls-cert", cert_, "--tls-key", key_, "--idle-timeout", "2"});
  auto alive = wss();
  join(*alive, "r", "alive");
  net::io_context ioc;
  net::ssl::context tls(net::ssl::context::tls_client);
  tls.load_verify_file(cert_);
  tls.set_verify_mode(net::ssl::verify_peer);
  beast::websocket::stream<beast::ssl_stream<beast::tcp_stream>> mute(ioc, tls);
  beast::get_lowest_layer(mute).connect(
      net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), server_->port()));
  mute.next_layer().handshake(net::ssl::stream_base::client);
  mute.handshake("localhost", "/ws");
  mute.write(net::buffer(join_msg("r", "mute")));  // and never reads again
  auto joined = alive->recv_type("join");
  ASSERT_TRUE(joined);
  EXPECT_EQ(str_field(*joined, "userId"), "mute");
  auto left = alive->recv_type("leave", 10s);
  ASSERT_TRUE(left) << "the silent wss:// connection was not closed";
  EXPECT_EQ(str_field(*left, "userId"), "mute");
  std::this_thread::sleep_for(2s);
  EXPECT_FALSE(alive->closed());
  alive->send(steps_msg("r", "alive", 0, "[" + insert_step(1, "still here") + "]"));
  EXPECT_TRUE(alive->recv_type("ack"));
}

TEST_F(ServeTlsTest, EnvironmentVariablesTurnTlsOn) {
  setenv("RTPM_TLS_CERT", cert_.c_str(), 1);
  setenv("RTPM_TLS_KEY", key_.c_str(), 1);
  try {
    start({});
  } catch (...) {
    unsetenv("RTPM_TLS_CERT");
    unsetenv("RTPM_TLS_KEY");
    throw;
  }
  unsetenv("RTPM_TLS_CERT");
  unsetenv("RTPM_TLS_KEY");
  EXPECT_EQ(http_get(server_->port(), "/healthz", cert_).status, 200);
  auto a = wss();
  join(*a, "r", "a");
}

TEST_F(ServeTlsTest, BadTlsSettingsStopTheStart) {
  // A key without a certificate, a missing file, and a key that is not the certificate's.
  std::string other_cert = dir_ + "/other.pem", other_key = dir_ + "/other-key.pem";
  make_certificate(other_cert, other_key);
  for (std::vector<std::string> args : {std::vector<std::string>{"--tls-key", key_},
                                        {"--tls-cert", dir_ + "/missing.pem", "--tls-key", key_},
                                        {"--tls-cert", cert_, "--tls-key", other_key}}) {
    ServerProcess s(RTPM_BINARY, args);
    EXPECT_THROW(s.start(), std::runtime_error) << args[1];
  }
}

}  // namespace
}  // namespace rtpm::testing
