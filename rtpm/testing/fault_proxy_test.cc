// FaultProxy against plain loopback sockets: an echo server behind the proxy,
// blocking clients in front of it.
#include "rtpm/testing/fault_proxy.h"

#include <atomic>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>
#include <poll.h>

namespace rtpm::testing {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using boost::system::error_code;
using namespace std::chrono_literals;

// Echoes every connection's bytes back, on its own thread; counts the
// connections whose reads ended in an error (a reset) rather than EOF.
class EchoServer {
 public:
  EchoServer() : acceptor_(ioc_, tcp::endpoint(net::ip::address_v4::loopback(), 0)) {
    accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~EchoServer() {
    net::post(ioc_, [this] {
      error_code ec;
      acceptor_.close(ec);
    });
    ioc_.stop();
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int resets() const { return resets_; }
  int accepted() const { return accepted_; }

 private:
  struct Conn {
    explicit Conn(tcp::socket s) : sock(std::move(s)) {}
    tcp::socket sock;
    std::array<char, 4096> buf{};
  };
  void accept() {
    acceptor_.async_accept([this](error_code ec, tcp::socket s) {
      if (ec) return;
      ++accepted_;
      echo(std::make_shared<Conn>(std::move(s)));
      accept();
    });
  }
  void echo(std::shared_ptr<Conn> c) {
    c->sock.async_read_some(net::buffer(c->buf), [this, c](error_code ec, size_t n) {
      if (ec) {
        if (ec != net::error::eof) ++resets_;
        return;
      }
      net::async_write(c->sock, net::buffer(c->buf.data(), n), [this, c](error_code wec, size_t) {
        if (!wec) echo(c);
      });
    });
  }
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<int> resets_{0};
  std::atomic<int> accepted_{0};
};

struct Client {
  net::io_context ioc;
  tcp::socket sock{ioc};
  explicit Client(uint16_t port) {
    sock.connect(tcp::endpoint(net::ip::address_v4::loopback(), port));
  }
  void send(const std::string& bytes) { net::write(sock, net::buffer(bytes)); }
  // Reads up to `n` bytes within `timeout`; stops early at EOF or an error
  // (`ended` says which: 0 none, 1 EOF, 2 error).
  std::string read(size_t n, std::chrono::milliseconds timeout, int* ended = nullptr) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    if (ended) *ended = 0;
    while (out.size() < n) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{sock.native_handle(), POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[4096];
      error_code ec;
      size_t got = sock.read_some(net::buffer(buf, std::min(sizeof buf, n - out.size())), ec);
      if (ec) {
        if (ended) *ended = ec == net::error::eof ? 1 : 2;
        break;
      }
      out.append(buf, got);
    }
    return out;
  }
};

std::string random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// Waits until the proxy lists `n` connections (connect is asynchronous).
std::vector<uint64_t> wait_connections(FaultProxy& proxy, size_t n) {
  for (int i = 0; i < 500; ++i) {
    auto ids = proxy.connections();
    if (ids.size() >= n) return ids;
    std::this_thread::sleep_for(10ms);
  }
  return proxy.connections();
}

TEST(FaultProxy, BytesPassUnchangedAndInOrder) {
  EchoServer echo;
  FaultProxy proxy(echo.port());
  Client c(proxy.port());
  std::string data = random_bytes(1 << 20, 1);
  std::thread writer([&] {
    for (size_t i = 0; i < data.size(); i += 1000) c.send(data.substr(i, 1000));
  });
  std::string back = c.read(data.size(), 30s);
  writer.join();
  EXPECT_TRUE(back == data) << "got " << back.size() << " of " << data.size() << " bytes";
  // The proxy counts a write when it completes, which can be just after the client read it.
  auto stats = proxy.stats();
  for (int i = 0; i < 500 && stats.bytes_down < data.size(); ++i) {
    std::this_thread::sleep_for(10ms);
    stats = proxy.stats();
  }
  EXPECT_EQ(stats.accepted, 1u);
  EXPECT_EQ(stats.bytes_up, data.size());
  EXPECT_EQ(stats.bytes_down, data.size());
}

TEST(FaultProxy, DelayedBytesStayInOrder) {
  EchoServer echo;
  FaultProxy proxy(echo.port());
  Client c(proxy.port());
  auto id = wait_connections(proxy, 1).at(0);
  std::string data = random_bytes(200000, 2);
  std::thread writer([&] {
    for (size_t i = 0; i < data.size(); i += 997) {
      // Delays change while bytes flow: later bytes must still not overtake.
      if (i % 20 == 0) {
        proxy.delay(id, FaultProxy::Direction::up, std::chrono::milliseconds((i / 997) % 7 * 3));
      }
      c.send(data.substr(i, 997));
    }
  });
  std::string back = c.read(data.size(), 30s);
  writer.join();
  EXPECT_TRUE(back == data) << "got " << back.size() << " of " << data.size() << " bytes";
}

TEST(FaultProxy, DelayHoldsBytes) {
  EchoServer echo;
  FaultProxy proxy(echo.port());
  Client c(proxy.port());
  auto id = wait_connections(proxy, 1).at(0);
  proxy.delay(id, FaultProxy::Direction::down, 400ms);
  auto start = std::chrono::steady_clock::now();
  c.send("ping");
  EXPECT_EQ(c.read(4, 10s), "ping");
  // A lower bound only: the proxy holds the bytes at least this long.
  EXPECT_GE(std::chrono::steady_clock::now() - start, 400ms);
  proxy.delay(id, FaultProxy::Direction::down, 0ms);
  c.send("pong");
  EXPECT_EQ(c.read(4, 10s), "pong");
}

TEST(FaultProxy, DropResetsBothSides) {
  EchoServer echo;
  FaultProxy proxy(echo.port());
  Client c(proxy.port());
  c.send("abc");
  ASSERT_EQ(c.read(3, 10s), "abc");
  auto ids = proxy.connections();
  ASSERT_EQ(ids.size(), 1u);
  proxy.drop(ids[0]);
  int ended = 0;
  EXPECT_EQ(c.read(1, 10s, &ended), "");
  EXPECT_EQ(ended, 2) << "the client should see a reset, not EOF or nothing";
  for (int i = 0; i < 500 && echo.resets() == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(echo.resets(), 1);
  EXPECT_TRUE(proxy.connections().empty());
  EXPECT_EQ(proxy.stats().dropped, 1u);
}

TEST(FaultProxy, StallKeepsSocketsOpenAndHealDeliversHeldBytes) {
  EchoServer echo;
  FaultProxy proxy(echo.port());
  Client c(proxy.port());
  auto id = wait_connections(proxy, 1).at(0);
  proxy.stall(id, FaultProxy::Direction::up);
  c.send("held");
  int ended = 0;
  EXPECT_EQ(c.read(4, 500ms, &ended), "");
  EXPECT_EQ(ended, 0) << "a stalled connection must stay open";
  proxy.heal();
  EXPECT_EQ(c.read(4, 10s), "held");
  // Down only: the echo server gets the bytes but the client hears nothing.
  proxy.stall(id, FaultProxy::Direction::down);
  c.send("more");
  EXPECT_EQ(c.read(4, 500ms, &ended), "");
  EXPECT_EQ(ended, 0);
  proxy.heal();
  EXPECT_EQ(c.read(4, 10s), "more");
}

TEST(FaultProxy, RefuseResetsNewConnectionsOnly) {
  EchoServer echo;
  FaultProxy proxy(echo.port());
  Client before(proxy.port());
  wait_connections(proxy, 1);
  proxy.refuse_for(60s);
  Client refused(proxy.port());  // the kernel accepts; the proxy resets it
  int ended = 0;
  refused.read(1, 10s, &ended);
  EXPECT_NE(ended, 0);
  before.send("still");
  EXPECT_EQ(before.read(5, 10s), "still");
  proxy.refuse_for(0ms);
  Client after(proxy.port());
  after.send("ok");
  EXPECT_EQ(after.read(2, 10s), "ok");
  EXPECT_EQ(proxy.stats().refused, 1u);
}

TEST(FaultProxy, SetTargetMovesNewConnections) {
  EchoServer first;
  EchoServer second;
  FaultProxy proxy(first.port());
  Client a(proxy.port());
  a.send("1");
  ASSERT_EQ(a.read(1, 10s), "1");
  proxy.set_target(second.port());
  Client b(proxy.port());
  b.send("2");
  ASSERT_EQ(b.read(1, 10s), "2");
  EXPECT_EQ(first.accepted(), 1);
  EXPECT_EQ(second.accepted(), 1);
}

TEST(FaultProxy, UnreachableTargetResetsTheClient) {
  uint16_t dead_port;
  {
    EchoServer gone;
    dead_port = gone.port();
  }
  FaultProxy proxy(dead_port);
  Client c(proxy.port());
  int ended = 0;
  c.read(1, 10s, &ended);
  EXPECT_NE(ended, 0);
}

// Under the random schedule, what each connection gets back is always a
// prefix of what it sent: faults end connections or slow them, never reorder
// or change bytes. Six clients loop for a while, each round on a new
// connection.
TEST(FaultProxy, ChaosNeverReordersOrCorrupts) {
  EchoServer echo;
  FaultProxy proxy(echo.port());
  proxy.start_chaos(7,
                    {.min_gap_ms = 5, .max_gap_ms = 30, .max_delay_ms = 40, .max_fault_ms = 100});
  std::atomic<int> rounds{0}, complete{0}, corrupt{0};
  std::vector<std::thread> threads;
  auto until = std::chrono::steady_clock::now() + 2s;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; std::chrono::steady_clock::now() < until; ++round) {
        std::string data = random_bytes(20000, t * 1000 + round);
        std::unique_ptr<Client> c;
        try {
          c = std::make_unique<Client>(proxy.port());
        } catch (const std::exception&) {
          continue;
        }
        error_code ec;
        for (size_t i = 0; i < data.size() && !ec; i += 500) {
          net::write(c->sock, net::buffer(data.data() + i, 500), ec);
          std::this_thread::sleep_for(1ms);
        }
        std::string back = c->read(data.size(), 500ms);
        ++rounds;
        if (back != data.substr(0, back.size())) ++corrupt;
        if (back.size() == data.size()) ++complete;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(corrupt, 0);
  proxy.heal();
  Client c(proxy.port());
  c.send("healed");
  EXPECT_EQ(c.read(6, 10s), "healed");
  auto stats = proxy.stats();
  EXPECT_GT(stats.dropped, 0u);
  EXPECT_GT(stats.stalled + stats.delayed, 0u);
  EXPECT_GT(complete, 0);
  std::cout << "rounds " << rounds << ", complete " << complete << "; dropped " << stats.dropped
            << ", stalled " << stats.stalled << ", delayed " << stats.delayed << ", refused "
            << stats.refused << "\n";
}

}  // namespace
}  // namespace rtpm::testing
