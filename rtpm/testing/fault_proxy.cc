#include "rtpm/testing/fault_proxy.h"

#include <array>
#include <deque>
#include <future>
#include <map>
#include <random>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

namespace rtpm::testing {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

namespace {

// One direction of a connection: bytes read from `from` wait in `queue`
// (each chunk until its release time) and are written to `to` in order.
struct Pipe {
  Pipe(tcp::socket& f, tcp::socket& t, uint64_t& c)
      : from(f), to(t), timer(f.get_executor()), counter(c) {}
  struct Chunk {
    Clock::time_point release;
    std::string bytes;
  };
  tcp::socket& from;
  tcp::socket& to;
  std::array<char, 16384> buf{};
  std::deque<Chunk> queue;
  std::chrono::milliseconds delay{0};
  uint64_t delay_generation = 0;  // lets a timed delay end only itself
  bool stalled = false;
  bool busy = false;       // a write or a release wait is in flight
  bool read_done = false;  // `from` sent EOF
  bool shut = false;       // EOF passed on to `to`
  net::steady_timer timer;
  uint64_t& counter;
};

}  // namespace

struct FaultProxy::Impl {
  struct Conn : std::enable_shared_from_this<Conn> {
    Conn(Impl& p, uint64_t i, tcp::socket c)
        : proxy(p),
          id(i),
          client(std::move(c)),
          server(client.get_executor()),
          up(client, server, p.stats.bytes_up),
          down(server, client, p.stats.bytes_down) {}
    Impl& proxy;
    uint64_t id;
    tcp::socket client;
    tcp::socket server;
    Pipe up;
    Pipe down;
    bool closed = false;
  };

  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  uint16_t port = 0;
  uint16_t target = 0;
  uint64_t next_id = 1;
  std::map<uint64_t, std::shared_ptr<Conn>> conns;
  Clock::time_point refuse_until{};
  Stats stats;
  // The random schedule.
  bool chaos_on = false;
  uint64_t chaos_generation = 0;
  std::mt19937_64 rng;
  ChaosOptions chaos;
  net::steady_timer chaos_timer{ioc};
  std::thread thread;

  // Runs `fn` on the proxy's thread and waits for it.
  template <typename Fn>
  auto run(Fn fn) -> decltype(fn()) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto done = task.get_future();
    net::post(ioc, [&task] { task(); });
    return done.get();
  }

  void accept() {
    acceptor.async_accept([this](error_code ec, tcp::socket sock) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
      if (!ec) on_accept(std::move(sock));
      accept();
    });
  }

  static void reset(tcp::socket& s) {
    error_code ec;
    if (!s.is_open()) return;
    s.set_option(net::socket_base::linger(true, 0), ec);
    s.close(ec);
  }

  void on_accept(tcp::socket sock) {
    if (Clock::now() < refuse_until) {
      ++stats.refused;
      reset(sock);
      return;
    }
    auto conn = std::make_shared<Conn>(*this, next_id++, std::move(sock));
    conns.emplace(conn->id, conn);
    conn->server.async_connect(tcp::endpoint(net::ip::address_v4::loopback(), target),
                               [this, conn](error_code cec) {
                                 if (conn->closed) return;
                                 if (cec) {
                                   ++stats.refused;
                                   close(*conn, true);
                                   return;
                                 }
                                 ++stats.accepted;
                                 error_code ec;
                                 conn->client.set_option(tcp::no_delay(true), ec);
                                 conn->server.set_option(tcp::no_delay(true), ec);
                                 read(conn, conn->up);
                                 read(conn, conn->down);
                               });
  }

  void read(const std::shared_ptr<Conn>& conn, Pipe& pipe) {
    pipe.from.async_read_some(net::buffer(pipe.buf), [this, conn, &pipe](error_code ec, size_t n) {
      if (conn->closed) return;
      if (ec == net::error::eof) {
        pipe.read_done = true;
        pump(conn, pipe);
        return;
      }
      if (ec) {  // reset by the peer: pass the abrupt end on
        close(*conn, true);
        return;
      }
      pipe.queue.push_back({Clock::now() + pipe.delay, std::string(pipe.buf.data(), n)});
      pump(conn, pipe);
      read(conn, pipe);
    });
  }

  // Writes the queue's front when it is due, unless stalled or busy.
  void pump(const std::shared_ptr<Conn>& conn, Pipe& pipe) {
    if (conn->closed || pipe.busy || pipe.stalled) return;
    if (pipe.queue.empty()) {
      if (pipe.read_done && !pipe.shut) {
        pipe.shut = true;
        error_code ec;
        pipe.to.shutdown(tcp::socket::shutdown_send, ec);
        if (conn->up.shut && conn->down.shut) close(*conn, false);
      }
      return;
    }
    pipe.busy = true;
    if (pipe.queue.front().release > Clock::now()) {
      pipe.timer.expires_at(pipe.queue.front().release);
      pipe.timer.async_wait([this, conn, &pipe](error_code) {
        pipe.busy = false;
        pump(conn, pipe);
      });
      return;
    }
    net::async_write(pipe.to, net::buffer(pipe.queue.front().bytes),
                     [this, conn, &pipe](error_code ec, size_t n) {
                       pipe.busy = false;
                       if (conn->closed) return;
                       if (ec) {
                         close(*conn, true);
                         return;
                       }
                       pipe.counter += n;
                       pipe.queue.pop_front();
                       pump(conn, pipe);
                     });
  }

  void close(Conn& conn, bool abrupt) {
    if (conn.closed) return;
    conn.closed = true;
    for (tcp::socket* s : {&conn.client, &conn.server}) {
      if (abrupt) {
        reset(*s);
      } else {
        error_code ec;
        s->close(ec);
      }
    }
    conn.up.timer.cancel();
    conn.down.timer.cancel();
    conns.erase(conn.id);
  }

  std::shared_ptr<Conn> find(uint64_t id) {
    auto it = conns.find(id);
    return it == conns.end() ? nullptr : it->second;
  }

  template <typename Fn>
  static void each(Conn& conn, Direction dir, Fn fn) {
    if (dir != Direction::down) fn(conn.up);
    if (dir != Direction::up) fn(conn.down);
  }

  bool do_stall(uint64_t id, Direction dir) {
    auto conn = find(id);
    if (!conn) return false;
    ++stats.stalled;
    each(*conn, dir, [](Pipe& p) { p.stalled = true; });
    return true;
  }

  // Sets the delay of `dir`; returns the generations set (0 when no such connection).
  uint64_t do_delay(uint64_t id, Direction dir, std::chrono::milliseconds ms) {
    auto conn = find(id);
    if (!conn) return 0;
    ++stats.delayed;
    uint64_t gen = 0;
    each(*conn, dir, [&](Pipe& p) {
      p.delay = ms;
      gen = ++p.delay_generation;
    });
    return gen;
  }

  void do_drop(uint64_t id) {
    if (auto conn = find(id)) {
      ++stats.dropped;
      close(*conn, true);
    }
  }

  void do_heal() {
    chaos_on = false;
    ++chaos_generation;
    chaos_timer.cancel();
    refuse_until = {};
    auto now = Clock::now();
    auto live = conns;  // pump may close connections
    for (auto& [id, conn] : live) {
      each(*conn, Direction::both, [&](Pipe& p) {
        p.stalled = false;
        p.delay = std::chrono::milliseconds(0);
        ++p.delay_generation;
        for (auto& chunk : p.queue) chunk.release = std::min(chunk.release, now);
        p.timer.cancel();
      });
      pump(conn, conn->up);
      pump(conn, conn->down);
    }
  }

  int draw(int lo, int hi) {
    if (hi <= lo) return lo;
    return std::uniform_int_distribution<int>(lo, hi)(rng);
  }

  void schedule_chaos() {
    if (!chaos_on) return;
    uint64_t gen = chaos_generation;
    chaos_timer.expires_after(std::chrono::milliseconds(draw(chaos.min_gap_ms, chaos.max_gap_ms)));
    chaos_timer.async_wait([this, gen](error_code ec) {
      if (ec || !chaos_on || gen != chaos_generation) return;
      chaos_step();
      schedule_chaos();
    });
  }

  // One random fault.
  void chaos_step() {
    int total = chaos.weight_delay + chaos.weight_drop + chaos.weight_stall + chaos.weight_refuse;
    if (total <= 0) return;
    int pick = draw(0, total - 1);
    // The connection is drawn even when unused, so the sequence of draws does
    // not depend on which kind was picked.
    uint64_t id = 0;
    int index = draw(0, 1 << 20);
    if (!conns.empty()) id = std::next(conns.begin(), index % conns.size())->first;
    auto dir = static_cast<Direction>(draw(0, 2));
    int amount = draw(1, chaos.max_delay_ms);
    int lasting = draw(1, chaos.max_fault_ms);
    if ((pick -= chaos.weight_delay) < 0) {
      uint64_t gen = do_delay(id, dir, std::chrono::milliseconds(amount));
      if (gen == 0) return;
      auto timer = std::make_shared<net::steady_timer>(ioc, std::chrono::milliseconds(lasting));
      timer->async_wait([this, timer, id, dir, gen](error_code) {
        if (auto conn = find(id)) {
          each(*conn, dir, [&](Pipe& p) {
            if (p.delay_generation == gen) p.delay = std::chrono::milliseconds(0);
          });
        }
      });
    } else if ((pick -= chaos.weight_drop) < 0) {
      do_drop(id);
    } else if ((pick -= chaos.weight_stall) < 0) {
      do_stall(id, dir);
    } else {
      refuse_until = Clock::now() + std::chrono::milliseconds(lasting);
    }
  }
};

FaultProxy::FaultProxy(uint16_t target_port) : impl_(std::make_unique<Impl>()) {
  auto& a = impl_->acceptor;
  tcp::endpoint ep(net::ip::address_v4::loopback(), 0);
  a.open(ep.protocol());
  a.set_option(net::socket_base::reuse_address(true));
  a.bind(ep);
  a.listen();
  impl_->port = a.local_endpoint().port();
  impl_->target = target_port;
  impl_->accept();
  impl_->thread = std::thread([impl = impl_.get()] { impl->ioc.run(); });
}

FaultProxy::~FaultProxy() {
  impl_->run([impl = impl_.get()] {
    error_code ec;
    impl->acceptor.close(ec);
    impl->chaos_on = false;
    impl->chaos_timer.cancel();
    auto live = impl->conns;
    for (auto& [id, conn] : live) impl->close(*conn, true);
    return 0;
  });
  impl_->ioc.stop();
  impl_->thread.join();
}

uint16_t FaultProxy::port() const { return impl_->port; }

void FaultProxy::set_target(uint16_t target_port) {
  impl_->run([&] {
    impl_->target = target_port;
    return 0;
  });
}

std::vector<uint64_t> FaultProxy::connections() {
  return impl_->run([&] {
    std::vector<uint64_t> ids;
    for (auto& [id, conn] : impl_->conns) ids.push_back(id);
    return ids;
  });
}

FaultProxy::Stats FaultProxy::stats() {
  return impl_->run([&] { return impl_->stats; });
}

void FaultProxy::drop(uint64_t id) {
  impl_->run([&] {
    impl_->do_drop(id);
    return 0;
  });
}

void FaultProxy::drop_all() {
  impl_->run([&] {
    auto live = impl_->conns;
    for (auto& [id, conn] : live) impl_->do_drop(id);
    return 0;
  });
}

void FaultProxy::stall(uint64_t id, Direction dir) {
  impl_->run([&] { return impl_->do_stall(id, dir); });
}

void FaultProxy::delay(uint64_t id, Direction dir, std::chrono::milliseconds ms) {
  impl_->run([&] { return impl_->do_delay(id, dir, ms); });
}

void FaultProxy::refuse_for(std::chrono::milliseconds ms) {
  impl_->run([&] {
    impl_->refuse_until = ms.count() > 0 ? Clock::now() + ms : Clock::time_point{};
    return 0;
  });
}

void FaultProxy::start_chaos(uint64_t seed, ChaosOptions options) {
  impl_->run([&] {
    impl_->rng.seed(seed);
    impl_->chaos = options;
    impl_->chaos_on = true;
    ++impl_->chaos_generation;
    impl_->chaos_timer.cancel();
    impl_->schedule_chaos();
    return 0;
  });
}

void FaultProxy::stop_chaos() {
  impl_->run([&] {
    impl_->chaos_on = false;
    ++impl_->chaos_generation;
    impl_->chaos_timer.cancel();
    return 0;
  });
}

void FaultProxy::heal() {
  impl_->run([&] {
    impl_->do_heal();
    return 0;
  });
}

}  // namespace rtpm::testing
