// ServerStream's held writes over a real loopback connection, plain and TLS:
// writes made while holding complete at once and nothing reaches the peer;
// the release sends them in order, and a write made while the release is in
// flight (a control frame Beast writes meanwhile) follows it; afterwards
// writes go straight to the socket again.
#include "rtpm/server/server_stream.h"

#include <chrono>
#include <cstdlib>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>
#include <unistd.h>

#include "rtpm/testing/tls_certificate.h"

namespace rtpm::server {
namespace {

namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

class ServerStreamTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rtpm-server-stream-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  // Runs the loop until `done` holds (or a few seconds pass).
  template <class Pred>
  bool run_until(Pred done) {
    for (int i = 0; i < 500 && !done(); ++i) {
      ioc_.restart();
      ioc_.run_for(10ms);
    }
    return done();
  }

  std::string dir_;
  net::io_context ioc_{1};
};

TEST_P(ServerStreamTest, HeldWritesLeaveTogetherInOrderAndLaterWritesFollow) {
  const bool tls = GetParam();
  ssl::context server_tls(ssl::context::tls_server), client_tls(ssl::context::tls_client);
  if (tls) {
    std::string cert = dir_ + "/cert.pem", key = dir_ + "/key.pem";
    testing::make_certificate(cert, key);
    server_tls.use_certificate_chain_file(cert);
    server_tls.use_private_key_file(key, ssl::context::pem);
    client_tls.load_verify_file(cert);
  }
  tcp::acceptor acceptor(ioc_, {net::ip::make_address("127.0.0.1"), 0});
  tcp::socket client_socket(ioc_);
  client_socket.connect(acceptor.local_endpoint());
  ServerStream server = ServerStream::adopt(acceptor.accept(), ioc_, tls ? &server_tls : nullptr);
  ssl::stream<tcp::socket&> client(client_socket, client_tls);
  if (tls) {
    int handshakes = 0;
    server.tls().async_handshake(ssl::stream_base::server, [&](boost::system::error_code ec) {
      EXPECT_FALSE(ec) << ec.message();
      ++handshakes;
    });
    client.async_handshake(ssl::stream_base::client, [&](boost::system::error_code ec) {
      EXPECT_FALSE(ec) << ec.message();
      ++handshakes;
    });
    ASSERT_TRUE(run_until([&] { return handshakes == 2; }));
  }
  auto read_exactly = [&](size_t n) {
    std::string got(n, '\0');
    size_t have = 0;
    auto on_read = [&](boost::system::error_code ec, size_t bytes) {
      EXPECT_FALSE(ec) << ec.message();
      have = bytes;
    };
    if (tls)
      net::async_read(client, net::buffer(got), on_read);
    else
      net::async_read(client_socket, net::buffer(got), on_read);
    EXPECT_TRUE(run_until([&] { return have == n; }));
    return got;
  };

  // Held: each write completes with its whole size, and nothing is on the wire. (After a TLS
  // 1.3 handshake the server's session tickets wait unread at the client: counted before.)
  const size_t unread_before = client_socket.available();
  server.hold_writes();
  EXPECT_TRUE(server.holding_writes());
  const std::string parts[] = {"frame one|", "frame two|", std::string(40000, 'x') + "|"};
  size_t completed = 0;
  for (const auto& part : parts)
    net::async_write(server, net::buffer(part),
                     [&, size = part.size()](boost::system::error_code ec, size_t n) {
                       EXPECT_FALSE(ec);
                       EXPECT_EQ(n, size);
                       ++completed;
                     });
  ASSERT_TRUE(run_until([&] { return completed == 3; }));
  EXPECT_EQ(client_socket.available(), unread_before)
      << "held bytes reached the peer before the release";

  // The release, and a write made while it is in flight (as Beast's pong would be).
  bool released = false;
  auto owner = std::make_shared<int>(0);
  server.release_writes(owner, [&](boost::system::error_code ec) {
    EXPECT_FALSE(ec) << ec.message();
    released = true;
  });
  EXPECT_FALSE(server.holding_writes());
  std::string tail = "pong|";
  bool tail_done = false;
  net::async_write(server, net::buffer(tail),
                   [&](boost::system::error_code ec, size_t) { tail_done = !ec; });
  std::string expected = parts[0] + parts[1] + parts[2] + tail;
  EXPECT_EQ(read_exactly(expected.size()), expected);
  ASSERT_TRUE(run_until([&] { return released && tail_done; }));

  // Not holding: a write goes to the socket directly.
  std::string direct = "direct";
  bool direct_done = false;
  net::async_write(server, net::buffer(direct),
                   [&](boost::system::error_code ec, size_t) { direct_done = !ec; });
  EXPECT_EQ(read_exactly(direct.size()), direct);
  EXPECT_TRUE(direct_done);
}

// A release with nothing held answers at once.
TEST_P(ServerStreamTest, AnEmptyReleaseAnswersAtOnce) {
  tcp::acceptor acceptor(ioc_, {net::ip::make_address("127.0.0.1"), 0});
  tcp::socket client_socket(ioc_);
  client_socket.connect(acceptor.local_endpoint());
  ssl::context server_tls(ssl::context::tls_server);
  ServerStream server =
      ServerStream::adopt(acceptor.accept(), ioc_, GetParam() ? &server_tls : nullptr);
  server.hold_writes();
  bool released = false;
  server.release_writes(nullptr, [&](boost::system::error_code ec) { released = !ec; });
  EXPECT_TRUE(released);
  EXPECT_FALSE(server.holding_writes());
}

INSTANTIATE_TEST_SUITE_P(Streams, ServerStreamTest, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "Tls" : "Plain"; });

}  // namespace
}  // namespace rtpm::server
