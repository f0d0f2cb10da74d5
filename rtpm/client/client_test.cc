// RealtimeClient against the real `realtime-pm serve` binary over real
// sockets: every test starts the server on a free loopback port with its own
// data folder (rtpm/testing/server_process.h). Faults are made with the
// server process itself (SIGSTOP/SIGCONT, SIGKILL and restart on the same
// port and data folder) and with a client frozen on a caller's io_context.
#include <array>
#include <atomic>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <signal.h>

#include "rtpm/client/backoff.h"
#include "rtpm/client/realtime_client.h"
#include "rtpm/protocol/binary_codec.h"
#include "rtpm/protocol/server_messages.h"
#include "rtpm/testing/hostile_steps.h"
#include "rtpm/testing/server_process.h"

namespace rtpm::client {
namespace {

using json::Value;
using testing::ServerProcess;
using namespace std::chrono_literals;

constexpr auto kWait = 15s;

Value parse(const std::string& text) {
  auto v = json::parse(text);
  if (!v) throw std::runtime_error("bad JSON in test: " + text);
  return *v;
}

std::shared_ptr<const model::Schema> basic_schema() {
  static std::shared_ptr<const model::Schema> schema = [] {
    std::ifstream in(std::string(RTPM_SHARED_DIR) + "/conformance/schemas/basic.json");
    std::stringstream buf;
    buf << in.rdbuf();
    return model::Schema::from_json(parse(buf.str()));
  }();
  return schema;
}

std::string text_of(const model::NodeRef& doc) {
  return doc ? json::to_wtf8(doc->text_content()) : std::string("<null>");
}

std::string doc_json(const model::NodeRef& doc) { return doc ? doc->to_json_string() : "null"; }

// Inserts `text` at `pos`.
std::function<void(transform::Transform&)> insert(int pos, const std::string& text) {
  return [pos, text](transform::Transform& tr) { tr.insert(pos, basic_schema()->text(text)); };
}

// The server's document and version of `room` (GET /api/rooms/ROOM).
std::pair<std::string, int64_t> server_doc(uint16_t port, const std::string& room) {
  auto res = testing::http_get(port, "/api/rooms/" + room);
  if (res.status != 200) return {"", -1};
  Value v = parse(res.body);
  auto doc = model::Node::from_json(*basic_schema(), *v.find("doc"));
  return {doc->to_json_string(), static_cast<int64_t>(v.find("version")->as_number())};
}

// realtime_pm_errors_total{code="CODE"} from /metrics.
int64_t error_count(uint16_t port, const std::string& code) {
  auto res = testing::http_get(port, "/metrics");
  std::string key = "realtime_pm_errors_total{code=\"" + code + "\"} ";
  size_t at = res.body.find(key);
  if (at == std::string::npos) return 0;
  return std::stoll(res.body.substr(at + key.size()));
}

// Events recorded from the callbacks.
struct Recorder {
  std::mutex mu;
  std::vector<ChangeOrigin> origins;
  std::vector<DroppedSteps> dropped;
  std::vector<ClientError> errors;
  std::vector<MemberEvent> members;
  std::vector<ConnectionState> states;
  std::vector<PresenceChange> presence;
  std::vector<std::string> log;  // "open" and "confirmed N", in order

  Callbacks callbacks() {
    Callbacks cb;
    cb.on_document = [this](const DocumentChange& c) {
      std::lock_guard lock(mu);
      origins.push_back(c.origin);
    };
    cb.on_dropped = [this](const DroppedSteps& d) {
      std::lock_guard lock(mu);
      dropped.push_back(d);
    };
    cb.on_error = [this](const ClientError& e) {
      std::lock_guard lock(mu);
      errors.push_back(e);
    };
    cb.on_member = [this](const MemberEvent& e) {
      std::lock_guard lock(mu);
      members.push_back(e);
    };
    cb.on_connection = [this](ConnectionState s) {
      std::lock_guard lock(mu);
      states.push_back(s);
      if (s == ConnectionState::open) log.push_back("open");
    };
    cb.on_confirmed = [this](const std::string&, int64_t version) {
      std::lock_guard lock(mu);
      log.push_back("confirmed " + std::to_string(version));
    };
    cb.on_presence = [this](const PresenceChange& p) {
      std::lock_guard lock(mu);
      presence.push_back(p);
    };
    return cb;
  }
  size_t count(ChangeOrigin o) {
    std::lock_guard lock(mu);
    return static_cast<size_t>(std::count(origins.begin(), origins.end(), o));
  }
};

class ClientTest : public ::testing::TestWithParam<Subprotocol> {
 protected:
  void start_server(std::vector<std::string> args = {}) {
    server_ = std::make_unique<ServerProcess>(RTPM_BINARY, std::move(args));
    server_->start();
  }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(server_->port()) + "/ws"; }
  ClientOptions options(std::string user = {}) {
    ClientOptions o{.url = url(), .schema = basic_schema()};
    o.subprotocol = GetParam();
    o.user_id = std::move(user);
    o.backoff = BackoffOptions{.initial_ms = 20, .max_ms = 200, .seed = 7};
    return o;
  }
  std::unique_ptr<RealtimeClient> joined(ClientOptions o, const std::string& room,
                                         Callbacks cb = {}) {
    auto c = std::make_unique<RealtimeClient>(std::move(o), std::move(cb));
    EXPECT_TRUE(c->join(room).ok());
    EXPECT_TRUE(c->wait_synced(room, kWait));
    return c;
  }
  // Both clients and the server hold the same document; returns it.
  std::string expect_converged(const std::string& room,
                               std::initializer_list<RealtimeClient*> clients) {
    for (auto* c : clients) EXPECT_TRUE(c->wait_synced(room, kWait)) << c->user_id();
    auto [doc, version] = server_doc(server_->port(), room);
    for (auto* c : clients) {
      // Remote steps may still be on their way: wait for the server's version.
      EXPECT_TRUE(c->wait_until([&] { return c->version(room) == version; }, kWait));
      EXPECT_EQ(doc_json(c->doc(room)), doc) << c->user_id();
      EXPECT_EQ(c->version(room), version);
    }
    return doc;
  }
  void signal_server(int sig) { ASSERT_EQ(::kill(server_->pid(), sig), 0); }

  std::unique_ptr<ServerProcess> server_;
};

std::string protocol_name(const ::testing::TestParamInfo<Subprotocol>& info) {
  return info.param == Subprotocol::json ? "Json" : "Binary";
}

// ---- Backoff: the pure schedule ----

TEST(Backoff, CeilingsGrowByFactorUpToMax) {
  Backoff b(BackoffOptions{.initial_ms = 100, .max_ms = 1000, .factor = 3, .seed = 1});
  std::vector<int64_t> ceilings;
  for (int i = 0; i < 5; ++i) {
    ceilings.push_back(b.ceiling_ms());
    b.next_ms();
  }
  EXPECT_EQ(ceilings, (std::vector<int64_t>{100, 300, 900, 1000, 1000}));
  EXPECT_EQ(b.attempt(), 5);
  b.reset();
  EXPECT_EQ(b.attempt(), 0);
  EXPECT_EQ(b.ceiling_ms(), 100);
}

TEST(Backoff, DelaysAreFullJitterWithinCeilingAndSeedable) {
  BackoffOptions o{.initial_ms = 50, .max_ms = 5000, .factor = 2, .seed = 42};
  Backoff a(o), b(o);
  int64_t low_half = 0, total = 0;
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 10; ++i) {
      int64_t ceiling = a.ceiling_ms();
      int64_t d = a.next_ms();
      EXPECT_EQ(d, b.next_ms());  // same seed, same schedule
      EXPECT_GE(d, 0);
      EXPECT_LE(d, ceiling);
      if (d * 2 < ceiling) ++low_half;
      ++total;
    }
    a.reset();
    b.reset();
  }
  // Full jitter: about half the delays fall below half the ceiling.
  EXPECT_GT(low_half, total / 3);
  EXPECT_LT(low_half, total * 2 / 3);
  // Another seed gives another schedule.
  Backoff c(BackoffOptions{.initial_ms = 50, .max_ms = 5000, .seed = 43});
  Backoff d(o);
  bool differs = false;
  for (int i = 0; i < 10; ++i) differs |= c.next_ms() != d.next_ms();
  EXPECT_TRUE(differs);
  EXPECT_THROW(Backoff(BackoffOptions{.initial_ms = 0}), std::invalid_argument);
  EXPECT_THROW(Backoff(BackoffOptions{.initial_ms = 10, .max_ms = 5}), std::invalid_argument);
}

// Attempts against a port where nothing listens follow the schedule: the
// client never makes more attempts than the delays allow, and never fewer
// than the elapsed time forces (no tight timing: both are bounds).
TEST(Backoff, AttemptsAgainstAClosedPortFollowTheSchedule) {
  uint16_t port;
  {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  BackoffOptions bo{.initial_ms = 40, .max_ms = 320, .factor = 2, .seed = 99};
  std::vector<int64_t> schedule;
  Backoff replay(bo);
  for (int i = 0; i < 64; ++i) schedule.push_back(replay.next_ms());
  Recorder rec;
  auto t0 = std::chrono::steady_clock::now();
  RealtimeClient c(ClientOptions{.url = "ws://127.0.0.1:" + std::to_string(port) + "/ws",
                                 .schema = basic_schema(),
                                 .backoff = bo},
                   rec.callbacks());
  ASSERT_TRUE(c.wait_until([&] { return c.connect_attempts() >= 6; }, kWait));
  int attempts = c.connect_attempts();
  auto elapsed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  // Attempt k+1 starts only after delays 0..k-1 have passed.
  int64_t waited = 0;
  for (int i = 0; i < attempts - 1; ++i) waited += schedule[static_cast<size_t>(i)];
  EXPECT_GE(elapsed_ms + 5, waited);
  c.close();
  EXPECT_EQ(c.connection_state(), ConnectionState::closed);
  std::lock_guard lock(rec.mu);
  // connecting/offline alternate; never open.
  EXPECT_EQ(std::count(rec.states.begin(), rec.states.end(), ConnectionState::open), 0);
  EXPECT_GE(std::count(rec.states.begin(), rec.states.end(), ConnectionState::offline), 5);
  EXPECT_FALSE(rec.errors.empty());  // each failed attempt is reported
}

// The connection binds the local address it is given before connecting: a
// plain TCP acceptor sees the connection come from 127.0.0.2. (The handshake
// then fails; only the source address matters here.) A malformed one is
// refused at construction.
TEST(ClientConnection, BindAddressIsTheSourceAddress) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  RealtimeClient c(ClientOptions{
      .url = "ws://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/ws",
      .schema = basic_schema(),
      .bind_address = "127.0.0.2"});
  boost::asio::ip::tcp::socket peer = acceptor.accept();
  EXPECT_EQ(peer.remote_endpoint().address().to_string(), "127.0.0.2");
  c.close();
  EXPECT_THROW(RealtimeClient(ClientOptions{.url = "ws://127.0.0.1:1/ws",
                                            .schema = basic_schema(),
                                            .bind_address = "not an address"}),
               std::invalid_argument);
}

// ---- server message decoding ----

TEST(ServerMessages, DecodesKnownAndIgnoresUnknown) {
  auto state = protocol::decode_server_message(
      R"({"type":"state","room":"r","version":2,"steps":[{"stepType":"replace","from":1,"to":1}],)"
      R"("userIds":["u"],"users":{"u":{}},"extra":1,"timestamp":5})");
  ASSERT_TRUE(state.ok());
  auto* s = std::get_if<protocol::ServerState>(&*state);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->version, 2);
  ASSERT_TRUE(s->steps);
  EXPECT_EQ(s->steps->size(), 1u);
  EXPECT_EQ(s->user_ids, std::vector<std::string>{"u"});
  auto unknown = protocol::decode_server_message(R"({"type":"future","x":1})");
  ASSERT_TRUE(unknown.ok());
  EXPECT_TRUE(std::holds_alternative<protocol::UnknownServerMessage>(*unknown));
  auto err = protocol::decode_server_message(
      R"({"type":"error","code":"invalid_steps","message":"step 0: x","room":"r","index":0})");
  ASSERT_TRUE(err.ok());
  auto* e = std::get_if<protocol::ServerError>(&*err);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->known_code, ErrorCode::invalid_steps);
  EXPECT_EQ(e->index, 0);
  // Mistyped fields of known messages are bad_message.
  EXPECT_FALSE(protocol::decode_server_message(R"({"type":"ack","room":"r","version":-1})").ok());
  EXPECT_FALSE(protocol::decode_server_message(R"({"type":"state","room":"r","version":1,)"
                                               R"("steps":[{}],"userIds":[],"users":{}})")
                   .ok());
  EXPECT_FALSE(protocol::decode_server_message("[1]").ok());
}

// ---- against the server ----

TEST_P(ClientTest, JoinReceivesStateAndEditIsConfirmed) {
  start_server();
  Recorder rec;
  auto c = joined(options(), "r1", rec.callbacks());
  auto snap = c->room("r1");
  ASSERT_TRUE(snap);
  EXPECT_EQ(snap->status, RoomStatus::joined);
  EXPECT_EQ(snap->version, 0);
  EXPECT_EQ(doc_json(snap->doc), server_doc(server_->port(), "r1").first);
  EXPECT_EQ(c->user_id().size(), 20u);  // generated
  EXPECT_EQ(c->subprotocol(), GetParam());

  auto r = c->edit("r1", insert(1, "hello"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(text_of(*r), "hello");
  // Applied locally at once; the acknowledgement may already have come on the
  // client's I/O thread (it does under ASan on a busy machine), so the count
  // is 1 or 0 here. CatchUpBySteps and OfflineBufferIsBounded count pending
  // steps while offline, where the count is exact.
  EXPECT_EQ(text_of(c->doc("r1")), "hello");
  EXPECT_LE(c->unconfirmed_count("r1"), 1u);
  ASSERT_TRUE(c->wait_synced("r1", kWait));
  EXPECT_EQ(c->version("r1"), 1);
  EXPECT_EQ(server_doc(server_->port(), "r1"), std::make_pair(doc_json(c->doc("r1")), int64_t{1}));
  EXPECT_GE(rec.count(ChangeOrigin::reset), 1u);  // the first state
  EXPECT_EQ(rec.count(ChangeOrigin::local), 1u);

  // Errors of edit() leave the document unchanged.
  EXPECT_EQ(c->edit("nope", insert(1, "x")).error().code, ErrorCode::not_joined);
  auto bad = c->edit("r1", [](transform::Transform& tr) { tr.del(0, 1000); });
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::invalid_steps);
  EXPECT_EQ(text_of(c->doc("r1")), "hello");
  EXPECT_EQ(c->join("r1").error().code, ErrorCode::forbidden);
  EXPECT_EQ(c->join("bad room!").error().code, ErrorCode::invalid_room);
}

TEST_P(ClientTest, SeveralRoomsOnOneConnection) {
  start_server();
  auto c = std::make_unique<RealtimeClient>(options());
  ASSERT_TRUE(c->join("a").ok());
  ASSERT_TRUE(c->join("b").ok());
  ASSERT_TRUE(c->wait_synced("a", kWait));
  ASSERT_TRUE(c->wait_synced("b", kWait));
  ASSERT_TRUE(c->edit("a", insert(1, "in a")).ok());
  ASSERT_TRUE(c->edit("b", insert(1, "in b")).ok());
  ASSERT_TRUE(c->wait_synced("a", kWait));
  ASSERT_TRUE(c->wait_synced("b", kWait));
  EXPECT_EQ(server_doc(server_->port(), "a").first, doc_json(c->doc("a")));
  EXPECT_EQ(server_doc(server_->port(), "b").first, doc_json(c->doc("b")));
  ASSERT_TRUE(c->leave("a").ok());
  EXPECT_EQ(c->rooms(), std::vector<std::string>{"b"});
  EXPECT_EQ(c->edit("a", insert(1, "x")).error().code, ErrorCode::not_joined);
}

TEST_P(ClientTest, TwoClientsConvergeWithConcurrentEdits) {
  start_server();
  auto a = joined(options("alice"), "conv");
  auto b = joined(options("bob"), "conv");
  auto type = [](RealtimeClient* c, const std::string& s, unsigned seed) {
    std::mt19937 rng(seed);
    for (int i = 0; i < 40; ++i) {
      auto r = c->edit("conv", [&](transform::Transform& tr) {
        int size = tr.doc()->content().size();  // one paragraph: text positions 1..size-1
        int pos = 1 + static_cast<int>(rng() % static_cast<unsigned>(size - 1));
        if (rng() % 4 == 0 && size > 3)
          tr.del(pos - (pos > 1 ? 1 : 0), pos - (pos > 1 ? 1 : 0) + 1);
        else
          tr.insert(pos, basic_schema()->text(s));
      });
      ASSERT_TRUE(r.ok()) << r.error().message;
      if (i % 7 == 0) std::this_thread::sleep_for(2ms);
    }
  };
  std::thread ta(type, a.get(), "a", 1u), tb(type, b.get(), "b", 2u);
  ta.join();
  tb.join();
  std::string doc = expect_converged("conv", {a.get(), b.get()});
  EXPECT_NE(doc.find('a'), std::string::npos);
}

// Both clients send on top of the same version while the server is stopped:
// one batch wins, the other gets version_conflict, waits for the winner's
// steps, rebases, and sends again. The server does not offer the rebase
// extension: the clients ask for it and speak version 1.
TEST_P(ClientTest, VersionConflictRebasesAndResends) {
  start_server({"--server-rebase", "false"});
  Recorder rec_b;
  auto a = joined(options("alice"), "vc");
  auto b = joined(options("bob"), "vc", rec_b.callbacks());
  ASSERT_TRUE(a->edit("vc", insert(1, "12345")).ok());
  ASSERT_TRUE(a->wait_synced("vc", kWait));
  ASSERT_TRUE(b->wait_until([&] { return b->version("vc") == 1; }, kWait));
  int64_t conflicts_before = error_count(server_->port(), "version_conflict");
  signal_server(SIGSTOP);
  ASSERT_TRUE(a->edit("vc", insert(1, "A")).ok());
  ASSERT_TRUE(b->edit("vc", insert(6, "B")).ok());
  std::this_thread::sleep_for(300ms);  // both batches reach the stopped server's socket
  signal_server(SIGCONT);
  std::string doc = expect_converged("vc", {a.get(), b.get()});
  EXPECT_EQ(text_of(a->doc("vc")), "A12345B");
  EXPECT_EQ(a->version("vc"), 3);
  EXPECT_EQ(error_count(server_->port(), "version_conflict"), conflicts_before + 1);
  EXPECT_FALSE(a->room("vc")->server_rebase);
  EXPECT_FALSE(b->room("vc")->server_rebase);
  (void)doc;
}

// The same with the rebase extension (asked for by default, offered by the
// server): the late batch is rebased by the server instead of refused, and
// its ack carries the steps as applied, which equal the client's own rebase.
TEST_P(ClientTest, ALateBatchIsRebasedByTheServer) {
  start_server();
  Recorder rec_b;
  auto a = joined(options("alice"), "rb");
  auto b = joined(options("bob"), "rb", rec_b.callbacks());
  EXPECT_TRUE(a->room("rb")->server_rebase);
  ASSERT_TRUE(a->edit("rb", insert(1, "12345")).ok());
  ASSERT_TRUE(a->wait_synced("rb", kWait));
  ASSERT_TRUE(b->wait_until([&] { return b->version("rb") == 1; }, kWait));
  int64_t conflicts_before = error_count(server_->port(), "version_conflict");
  signal_server(SIGSTOP);
  ASSERT_TRUE(a->edit("rb", insert(1, "A")).ok());
  ASSERT_TRUE(b->edit("rb", insert(6, "B")).ok());
  std::this_thread::sleep_for(300ms);  // both batches reach the stopped server's socket
  signal_server(SIGCONT);
  expect_converged("rb", {a.get(), b.get()});
  EXPECT_EQ(text_of(a->doc("rb")), "A12345B");
  EXPECT_EQ(a->version("rb"), 3);
  EXPECT_EQ(error_count(server_->port(), "version_conflict"), conflicts_before);
  ClientStats sa = a->stats(), sb = b->stats();
  EXPECT_EQ(sa.rooms.version_conflicts + sb.rooms.version_conflicts, 0);
  EXPECT_EQ(sa.rooms.server_rebased + sb.rooms.server_rebased, 1);
  EXPECT_EQ(sa.rooms.resends + sb.rooms.resends, 0);
  EXPECT_EQ(sa.rooms.batches_sent + sb.rooms.batches_sent, 3);
  EXPECT_EQ(sa.rooms.steps_confirmed + sb.rooms.steps_confirmed, 3);
  std::lock_guard lock(rec_b.mu);
  EXPECT_TRUE(rec_b.dropped.empty());
}

// A batch the server refuses is reverted locally and reported; the local
// edit queued behind it is kept, rebased over the removal, and confirmed.
TEST_P(ClientTest, InvalidStepsAreDroppedAndReported) {
  start_server();
  Recorder rec;
  auto c = joined(options(), "inv", rec.callbacks());
  ASSERT_TRUE(c->edit("inv", insert(1, "ok")).ok());
  ASSERT_TRUE(c->wait_synced("inv", kWait));
  // A paragraph inside a paragraph, inserted where a paragraph fits: applies
  // locally (JavaScript checks only the parent), the server's check refuses it.
  auto bad = model::Node::from_json(
      *basic_schema(),
      parse(
          R"({"type":"paragraph","content":[{"type":"paragraph","content":[{"type":"text","text":"x"}]}]})"));
  ASSERT_TRUE(c->edit("inv", [&](transform::Transform& tr) { tr.insert(0, bad); }).ok());
  // Queued behind the bad batch (which is in flight now).
  ASSERT_TRUE(c->edit("inv", [](transform::Transform& tr) {
                 int end = tr.doc()->content().size() - 1;  // inside the last paragraph
                 tr.insert(end, basic_schema()->text("!"));
               }).ok());
  ASSERT_TRUE(c->wait_synced("inv", kWait));
  EXPECT_EQ(text_of(c->doc("inv")), "ok!");
  auto [doc, version] = server_doc(server_->port(), "inv");
  EXPECT_EQ(doc, doc_json(c->doc("inv")));
  EXPECT_EQ(version, 2);
  std::lock_guard lock(rec.mu);
  ASSERT_EQ(rec.dropped.size(), 1u);
  EXPECT_EQ(rec.dropped[0].reason, DropReason::invalid_steps);
  EXPECT_EQ(rec.dropped[0].steps.size(), 1u);
  EXPECT_EQ(rec.dropped[0].message.rfind("step 0: ", 0), 0u) << rec.dropped[0].message;
  EXPECT_EQ(std::count(rec.origins.begin(), rec.origins.end(), ChangeOrigin::revert), 1);
}

// The server accepts a batch but the client never sees the ack (its socket
// is dropped first, and the server is SIGKILLed and restarted on the same
// data folder): the rejoin's `state` lists the step under our own userId,
// which confirms it. It is neither applied twice nor sent again.
TEST_P(ClientTest, LostAckIsConfirmedByRejoinState) {
  start_server();
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::thread io_thread([&] { io.run(); });
  Recorder rec;
  {
    RealtimeClient c(options("carol"), io, rec.callbacks());
    ASSERT_TRUE(c.join("ack").ok());
    ASSERT_TRUE(c.wait_synced("ack", kWait));
    ASSERT_TRUE(c.edit("ack", insert(1, "base")).ok());
    ASSERT_TRUE(c.wait_synced("ack", kWait));

    signal_server(SIGSTOP);
    ASSERT_TRUE(c.edit("ack", insert(1, "once ")).ok());
    std::this_thread::sleep_for(1s);  // the batch is in the server's socket
    // Freeze the client's I/O thread, then let the server accept and ack.
    std::promise<void> entered, release;
    boost::asio::post(io, [&] {
      entered.set_value();
      release.get_future().wait();
    });
    entered.get_future().wait();
    c.disconnect();  // queued behind the freeze: runs before the ack is read
    signal_server(SIGCONT);
    for (int i = 0; i < 500 && server_doc(server_->port(), "ack").second != 2; ++i)
      std::this_thread::sleep_for(10ms);
    ASSERT_EQ(server_doc(server_->port(), "ack").second, 2);
    server_->kill9();
    server_->restart();
    release.set_value();

    ASSERT_TRUE(c.wait_synced("ack", kWait));
    EXPECT_EQ(text_of(c.doc("ack")), "once base");
    EXPECT_EQ(c.version("ack"), 2);
    auto [doc, version] = server_doc(server_->port(), "ack");
    EXPECT_EQ(version, 2);  // not sent again
    EXPECT_EQ(doc, doc_json(c.doc("ack")));
    EXPECT_GE(c.connect_attempts(), 2);
    {
      // The batch was confirmed by the rejoin's state, not by an ack.
      std::lock_guard lock(rec.mu);
      std::vector<std::string> expected{"open", "confirmed 1", "open", "confirmed 2"};
      EXPECT_EQ(rec.log, expected);
    }
    c.close();
  }
  guard.reset();
  io_thread.join();
}

// Offline edits on both sides; the rejoin gets the missed steps (history is
// long enough), rebases the buffered edits over them and sends them.
TEST_P(ClientTest, CatchUpBySteps) {
  start_server();
  Recorder rec;
  auto o = options("alice");
  // A long first reconnection delay (seed 5 draws > 20 s): the test decides
  // when the client comes back, with reconnect_now().
  o.backoff = BackoffOptions{.initial_ms = 60000, .max_ms = 60000, .seed = 5};
  ASSERT_GT(Backoff(o.backoff).next_ms(), 20000);
  auto a = joined(o, "cu", rec.callbacks());
  auto b = joined(options("bob"), "cu");
  ASSERT_TRUE(a->edit("cu", insert(1, "----")).ok());
  ASSERT_TRUE(a->wait_synced("cu", kWait));
  a->disconnect();
  ASSERT_TRUE(
      a->wait_until([&] { return a->connection_state() == ConnectionState::offline; }, kWait));
  ASSERT_TRUE(b->wait_until([&] { return b->version("cu") == 1; }, kWait));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(b->edit("cu", insert(1, "b")).ok());
  ASSERT_TRUE(b->wait_synced("cu", kWait));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(a->edit("cu", insert(5, "a")).ok());
  EXPECT_EQ(a->unconfirmed_count("cu"), 3u);
  size_t resets = rec.count(ChangeOrigin::reset);
  a->reconnect_now();
  expect_converged("cu", {a.get(), b.get()});
  EXPECT_EQ(text_of(a->doc("cu")), "bbbbb----aaa");
  EXPECT_EQ(rec.count(ChangeOrigin::reset), resets);  // no whole document
  EXPECT_GE(rec.count(ChangeOrigin::remote), 1u);
}

// With a short history the rejoin gets the whole document: buffered steps
// that still apply to it are kept and sent, the others dropped and reported.
TEST_P(ClientTest, CatchUpByWholeDocument) {
  start_server({"--history", "2"});
  Recorder rec;
  auto o = options("alice");
  o.backoff = BackoffOptions{.initial_ms = 60000, .max_ms = 60000, .seed = 5};
  auto a = joined(o, "cd", rec.callbacks());
  auto b = joined(options("bob"), "cd");
  ASSERT_TRUE(a->edit("cd", insert(1, "0123456789012345678901234567890")).ok());
  ASSERT_TRUE(a->wait_synced("cd", kWait));
  ASSERT_TRUE(b->wait_until([&] { return b->version("cd") == 1; }, kWait));
  a->disconnect();
  ASSERT_TRUE(
      a->wait_until([&] { return a->connection_state() == ConnectionState::offline; }, kWait));
  ASSERT_TRUE(b->edit("cd", [](transform::Transform& tr) { tr.del(1, 30); }).ok());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(b->edit("cd", insert(1, "b")).ok());
  ASSERT_TRUE(b->wait_synced("cd", kWait));
  ASSERT_TRUE(a->edit("cd", insert(1, "A")).ok());  // still applies
  ASSERT_TRUE(a->edit("cd", [](transform::Transform& tr) { tr.del(25, 30); }).ok());  // won't
  size_t resets = rec.count(ChangeOrigin::reset);
  a->reconnect_now();
  expect_converged("cd", {a.get(), b.get()});
  EXPECT_EQ(text_of(a->doc("cd")), "Abbbb90");
  EXPECT_EQ(rec.count(ChangeOrigin::reset), resets + 1);
  std::lock_guard lock(rec.mu);
  ASSERT_EQ(rec.dropped.size(), 1u);
  EXPECT_EQ(rec.dropped[0].reason, DropReason::doc_replaced);
  EXPECT_EQ(rec.dropped[0].steps.size(), 1u);
}

// stats(): the conflict of VersionConflictRebasesAndResends counted once,
// with the resend it caused; a reconnection; confirmed steps; and the
// counters of a room that was left are kept. The clients do not ask for the
// rebase extension (server_rebase false), which the server offers.
TEST_P(ClientTest, StatsCountConflictsResendsAndReconnects) {
  start_server();
  ClientOptions oa = options("alice"), ob = options("bob");
  oa.server_rebase = ob.server_rebase = false;
  auto a = joined(oa, "st");
  auto b = joined(ob, "st");
  ASSERT_TRUE(a->edit("st", insert(1, "12345")).ok());
  ASSERT_TRUE(a->wait_synced("st", kWait));
  ASSERT_TRUE(b->wait_until([&] { return b->version("st") == 1; }, kWait));
  signal_server(SIGSTOP);
  ASSERT_TRUE(a->edit("st", insert(1, "A")).ok());
  ASSERT_TRUE(b->edit("st", insert(6, "B")).ok());
  std::this_thread::sleep_for(300ms);  // both batches reach the stopped server's socket
  signal_server(SIGCONT);
  expect_converged("st", {a.get(), b.get()});
  ClientStats sa = a->stats(), sb = b->stats();
  EXPECT_EQ(sa.rooms.version_conflicts + sb.rooms.version_conflicts, 1);
  EXPECT_EQ(sa.rooms.resends + sb.rooms.resends, 1);
  EXPECT_EQ(sa.rooms.steps_confirmed, 2);
  EXPECT_EQ(sb.rooms.steps_confirmed, 1);
  EXPECT_EQ(sa.rooms.batches_sent + sb.rooms.batches_sent, 4);
  EXPECT_EQ(sa.reconnects, 0);
  EXPECT_GE(sa.connect_attempts, 1);
  a->disconnect();
  ASSERT_TRUE(a->wait_until([&] { return a->stats().reconnects == 1; }, kWait));
  ASSERT_TRUE(a->wait_synced("st", kWait));
  ASSERT_TRUE(a->leave("st").ok());
  EXPECT_EQ(a->stats().rooms.steps_confirmed, 2);  // kept after leaving
}

// Offline, edits are buffered up to max_unconfirmed_steps; beyond, edit()
// fails with rate_limited and leaves the document unchanged.
TEST_P(ClientTest, OfflineBufferIsBounded) {
  start_server();
  auto o = options();
  o.max_unconfirmed_steps = 3;
  o.backoff = BackoffOptions{.initial_ms = 60000, .max_ms = 60000, .seed = 5};
  auto c = joined(o, "buf");
  c->disconnect();
  ASSERT_TRUE(
      c->wait_until([&] { return c->connection_state() == ConnectionState::offline; }, kWait));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(c->edit("buf", insert(1, "x")).ok());
  auto before = c->doc("buf");
  auto r = c->edit("buf", insert(1, "y"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::rate_limited);
  EXPECT_EQ(c->doc("buf"), before);
  EXPECT_EQ(c->unconfirmed_count("buf"), 3u);
  // Two steps at once would go beyond as well.
  EXPECT_FALSE(c->edit("buf", [](transform::Transform& tr) {
                  tr.insert(1, basic_schema()->text("p"));
                  tr.insert(1, basic_schema()->text("q"));
                }).ok());
  c->reconnect_now();
  ASSERT_TRUE(c->wait_synced("buf", kWait));
  EXPECT_EQ(text_of(c->doc("buf")), "xxx");
  EXPECT_TRUE(c->edit("buf", insert(1, "y")).ok());
  ASSERT_TRUE(c->wait_synced("buf", kWait));
  EXPECT_EQ(server_doc(server_->port(), "buf").second, 4);
}

// A server that stops answering (half-open connection: SIGSTOP keeps the
// socket open) is detected by the idle timeout's pings.
TEST_P(ClientTest, DeadConnectionIsDetectedByPings) {
  start_server();
  auto o = options();
  o.idle_timeout_ms = 600;
  auto c = joined(o, "idle");
  int attempts = c->connect_attempts();
  signal_server(SIGSTOP);
  bool dropped = c->wait_until([&] { return c->connect_attempts() > attempts; }, kWait);
  signal_server(SIGCONT);
  EXPECT_TRUE(dropped);
  ASSERT_TRUE(c->wait_synced("idle", kWait));
  ASSERT_TRUE(c->edit("idle", insert(1, "back")).ok());
  ASSERT_TRUE(c->wait_synced("idle", kWait));
}

TEST_P(ClientTest, PresenceIsMappedThroughLocalAndRemoteSteps) {
  start_server();
  Recorder rec_a;
  auto a = joined(options("alice"), "pr", rec_a.callbacks());
  ASSERT_TRUE(a->edit("pr", insert(1, "hello")).ok());
  ASSERT_TRUE(a->wait_synced("pr", kWait));
  auto b = joined(options("bob"), "pr");
  ASSERT_TRUE(a->wait_until(
      [&] {
        std::lock_guard lock(rec_a.mu);
        return !rec_a.members.empty();
      },
      kWait));
  {
    std::lock_guard lock(rec_a.mu);
    EXPECT_EQ(rec_a.members[0].user_id, "bob");
    EXPECT_TRUE(rec_a.members[0].joined);
  }
  auto cursor_of = [](const std::map<std::string, Value>& users, const std::string& id) {
    auto it = users.find(id);
    if (it == users.end()) return -1;
    const Value* c = it->second.find("cursor");
    const Value* p = c ? c->find("pos") : nullptr;
    return p && p->is_number() ? static_cast<int>(p->as_number()) : -1;
  };
  // Bob's cursor between "he" and "llo".
  ASSERT_TRUE(b->set_presence("pr", parse(R"({"cursor":{"pos":3},"name":"Bob"})")).ok());
  ASSERT_TRUE(a->wait_until([&] { return cursor_of(a->presence("pr"), "bob") == 3; }, kWait));
  // A local insertion before it moves it at once (still unconfirmed).
  ASSERT_TRUE(a->edit("pr", insert(1, "XX")).ok());
  EXPECT_EQ(cursor_of(a->presence("pr"), "bob"), 5);
  ASSERT_TRUE(a->wait_synced("pr", kWait));
  // Bob's own presence follows Alice's remote step.
  ASSERT_TRUE(b->wait_until([&] { return b->version("pr") == 2; }, kWait));
  auto own = b->room("pr")->own_presence;
  ASSERT_TRUE(own);
  EXPECT_EQ(own->find("cursor")->find("pos")->as_number(), 5);
  EXPECT_EQ(own->find("name")->as_string(), "Bob");
  // Bob moves while he has an unconfirmed insertion before the cursor: the
  // entry goes out mapped back to the confirmed version, and arrives right.
  ASSERT_TRUE(b->edit("pr", insert(1, "YYY")).ok());
  ASSERT_TRUE(b->set_presence("pr", parse(R"({"cursor":{"pos":9},"name":"Bob"})")).ok());
  ASSERT_TRUE(b->wait_synced("pr", kWait));
  ASSERT_TRUE(a->wait_until(
      [&] { return a->version("pr") == 3 && cursor_of(a->presence("pr"), "bob") == 9; }, kWait))
      << cursor_of(a->presence("pr"), "bob");
  // Leave: a member event and the entry goes.
  b.reset();
  ASSERT_TRUE(a->wait_until([&] { return cursor_of(a->presence("pr"), "bob") == -1; }, kWait));
  std::lock_guard lock(rec_a.mu);
  EXPECT_FALSE(rec_a.members.back().joined);
}

// Presence set while offline is sent with the rejoin.
TEST_P(ClientTest, PresenceIsResentAfterReconnect) {
  start_server();
  auto a = joined(options("alice"), "pr2");
  auto o = options("bob");
  o.backoff = BackoffOptions{.initial_ms = 60000, .max_ms = 60000, .seed = 5};
  auto b = joined(o, "pr2");
  b->disconnect();
  ASSERT_TRUE(
      b->wait_until([&] { return b->connection_state() == ConnectionState::offline; }, kWait));
  ASSERT_TRUE(b->set_presence("pr2", parse(R"({"cursor":{"pos":1},"name":"Bob"})")).ok());
  b->reconnect_now();
  ASSERT_TRUE(a->wait_until(
      [&] {
        auto p = a->presence("pr2");
        auto it = p.find("bob");
        return it != p.end() && it->second.find("name") != nullptr;
      },
      kWait));
}

// Callbacks run on the I/O thread and may call public methods (no deadlock);
// the blocking waits refuse there instead of hanging.
TEST_P(ClientTest, CallbacksMayCallPublicMethods) {
  start_server();
  std::atomic<RealtimeClient*> self{nullptr};
  std::atomic<int> replies{0};
  std::atomic<bool> wait_refused{false};
  Callbacks cb;
  cb.on_document = [&](const DocumentChange& c) {
    RealtimeClient* a = self.load();
    if (!a || c.origin != ChangeOrigin::remote) return;
    EXPECT_EQ(a->doc(c.room), c.doc);
    wait_refused = !a->wait_synced(c.room, 10s);
    if (replies++ == 0) {
      auto r = a->edit(c.room, [](transform::Transform& tr) {
        tr.insert(tr.doc()->content().size() - 1, basic_schema()->text("!"));
      });
      EXPECT_TRUE(r.ok());
    }
  };
  auto a = joined(options("alice"), "cb", cb);
  self = a.get();
  auto b = joined(options("bob"), "cb");
  ASSERT_TRUE(b->edit("cb", insert(1, "hi")).ok());
  ASSERT_TRUE(b->wait_until([&] { return text_of(b->doc("cb")) == "hi!"; }, kWait));
  expect_converged("cb", {a.get(), b.get()});
  EXPECT_TRUE(wait_refused);
}

// A buffered insertion inside text that someone else deleted no longer maps
// (prosemirror-collab drops it); the client reports it.
TEST_P(ClientTest, RebaseDropsStepsWhoseContextWasDeleted) {
  start_server();
  Recorder rec;
  auto o = options("alice");
  o.backoff = BackoffOptions{.initial_ms = 60000, .max_ms = 60000, .seed = 5};
  auto a = joined(o, "rd", rec.callbacks());
  auto b = joined(options("bob"), "rd");
  ASSERT_TRUE(a->edit("rd", insert(1, "12345")).ok());
  ASSERT_TRUE(a->wait_synced("rd", kWait));
  ASSERT_TRUE(b->wait_until([&] { return b->version("rd") == 1; }, kWait));
  a->disconnect();
  ASSERT_TRUE(
      a->wait_until([&] { return a->connection_state() == ConnectionState::offline; }, kWait));
  ASSERT_TRUE(b->edit("rd", [](transform::Transform& tr) { tr.del(2, 5); }).ok());
  ASSERT_TRUE(b->wait_synced("rd", kWait));
  ASSERT_TRUE(a->edit("rd", insert(3, "Z")).ok());  // between "2" and "3": deleted by Bob
  ASSERT_TRUE(a->edit("rd", insert(7, "E")).ok());  // at the end: survives
  a->reconnect_now();
  expect_converged("rd", {a.get(), b.get()});
  EXPECT_EQ(text_of(a->doc("rd")), "15E");
  std::lock_guard lock(rec.mu);
  ASSERT_EQ(rec.dropped.size(), 1u);
  EXPECT_EQ(rec.dropped[0].reason, DropReason::rebase);
  ASSERT_EQ(rec.dropped[0].steps.size(), 1u);
  EXPECT_EQ(
      json::stringify(rec.dropped[0].steps[0]),
      R"({"stepType":"replace","from":3,"to":3,"slice":{"content":[{"type":"text","text":"Z"}]}})");
}

// ---- a hostile server (issue 10): steps that crashed the server, sent to the client ----

// A minimal WebSocket server that speaks just enough of PROTOCOL.md: it
// answers every `join` with a `state` (testing::kHelloDoc at version 0) and
// then sends a `steps` message carrying the next of `hostile` (each a JSON
// array of steps); after the last, it answers the next join with the state
// and the valid `final_steps`. One connection at a time, on its own thread.
class HostileServer {
 public:
  HostileServer(std::vector<std::string> hostile, std::string final_steps)
      : hostile_(std::move(hostile)), final_(std::move(final_steps)) {
    thread_ = std::thread([this] { run(); });
  }
  ~HostileServer() {
    stop_ = true;
    // Unblock accept() with a connection of our own.
    boost::asio::io_context io;
    tcp::socket s(io);
    boost::system::error_code ec;
    s.connect({boost::asio::ip::make_address("127.0.0.1"), port()}, ec);
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int joins() const { return joins_; }

 private:
  using tcp = boost::asio::ip::tcp;
  void run() {
    while (!stop_) {
      tcp::socket s(io_);
      boost::system::error_code ec;
      acceptor_.accept(s, ec);
      if (ec || stop_) return;
      serve(std::move(s));
    }
  }
  void serve(tcp::socket socket) {
    namespace beast = boost::beast;
    namespace http = beast::http;
    namespace websocket = beast::websocket;
    websocket::stream<tcp::socket> ws(std::move(socket));
    beast::error_code ec;
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    http::read(ws.next_layer(), buffer, req, ec);
    if (ec) return;
    std::string offered(req[http::field::sec_websocket_protocol]);
    bool binary = offered.find("realtime-pm.bin.v1") != std::string::npos;
    ws.set_option(websocket::stream_base::decorator([binary](websocket::response_type& res) {
      res.set(http::field::sec_websocket_protocol,
              binary ? "realtime-pm.bin.v1" : "realtime-pm.json.v1");
    }));
    ws.accept(req, ec);
    if (ec) return;
    ws.binary(binary);
    auto send = [&](const std::string& json_text) {
      std::string payload = binary ? protocol::encode_binary(parse(json_text)) : json_text;
      ws.write(boost::asio::buffer(payload), ec);
    };
    for (;;) {
      beast::flat_buffer in;
      ws.read(in, ec);
      if (ec) return;
      std::string bytes = beast::buffers_to_string(in.data());
      Value message;
      if (binary) {
        auto decoded = protocol::decode_binary(bytes);
        if (!decoded) continue;
        message = *decoded;
      } else {
        message = parse(bytes);
      }
      const Value* type = message.find("type");
      if (!type || !type->is_string() || type->as_string() != "join") continue;
      joins_++;
      std::string room = message.find("room")->as_string();
      send(R"({"type":"state","room":")" + room + R"(","version":0,"doc":)" + testing::kHelloDoc +
           R"(,"users":{},"timestamp":1})");
      std::string steps = next_ < hostile_.size() ? hostile_[next_++] : final_;
      send(R"({"type":"steps","room":")" + room + R"(","version":0,"steps":)" + steps +
           R"(,"userId":"mallory","timestamp":1})");
      if (ec) return;
    }
  }

  std::vector<std::string> hostile_;
  std::string final_;
  size_t next_ = 0;
  std::atomic<int> joins_{0};
  std::atomic<bool> stop_{false};
  boost::asio::io_context io_;
  tcp::acceptor acceptor_{io_, {boost::asio::ip::make_address("127.0.0.1"), 0}};
  std::thread thread_;
};

class ClientHostileServerTest : public ::testing::TestWithParam<Subprotocol> {};

TEST_P(ClientHostileServerTest, HostileStepsAreReportedAndTheClientResyncs) {
  // Every step of finding 1 (the fresh-room one and those for the "hello"
  // document), finding 2's 40 x 490 blockquote message, and steps that
  // parse but nest deeper than the bound.
  std::vector<std::string> hostile = {std::string("[") + testing::kTextOpenedIntoEmptyParagraph +
                                      "]"};
  for (const auto& step : testing::crashing_steps())
    hostile.push_back(std::string("[") + step.json + "]");
  hostile.push_back(testing::deep_nesting_steps(40, 490));
  hostile.push_back(testing::deep_nesting_steps(2, 200));
  HostileServer server(
      hostile,
      R"([{"stepType":"replace","from":6,"to":6,"slice":{"content":[{"type":"text","text":"!"}]}}])");
  Recorder rec;
  ClientOptions o{.url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/ws",
                  .schema = basic_schema()};
  o.subprotocol = GetParam();
  o.backoff = BackoffOptions{.initial_ms = 20, .max_ms = 200, .seed = 7};
  RealtimeClient c(o, rec.callbacks());
  ASSERT_TRUE(c.join("r").ok());
  // Each hostile batch is reported and answered with a resync (a new join);
  // the valid steps after the last one apply.
  ASSERT_TRUE(c.wait_until([&] { return text_of(c.doc("r")) == "hello!"; }, kWait))
      << text_of(c.doc("r"));
  EXPECT_EQ(c.version("r"), 1);
  EXPECT_EQ(server.joins(), static_cast<int>(hostile.size()) + 1);
  std::lock_guard lock(rec.mu);
  ASSERT_EQ(rec.errors.size(), hostile.size());
  for (size_t i = 0; i < hostile.size(); i++) {
    EXPECT_EQ(rec.errors[i].code, ErrorCode::invalid_steps) << i;
    EXPECT_EQ(rec.errors[i].room, std::optional<std::string>("r"));
    const std::string& m = rec.errors[i].message;
    EXPECT_EQ(m.rfind("steps from the server do not apply here: ", 0), 0u) << m;
    bool type_error = m.find("Cannot read properties of undefined") != std::string::npos;
    bool too_deep = m.find(model::max_depth_message()) != std::string::npos;
    EXPECT_TRUE(i + 2 < hostile.size() ? type_error : too_deep) << i << ": " << m;
  }
}

INSTANTIATE_TEST_SUITE_P(Subprotocols, ClientHostileServerTest,
                         ::testing::Values(Subprotocol::json, Subprotocol::binary), protocol_name);

// ---- wss: a TLS terminator in front of the plain server ----

// A self-signed certificate for "localhost" (PEM cert, PEM key).
std::pair<std::string, std::string> self_signed_localhost() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, "DNS:localhost"},
                            std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(x, key, EVP_sha256());
  auto to_pem = [](auto write) {
    BIO* bio = BIO_new(BIO_s_mem());
    write(bio);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(n));
    BIO_free(bio);
    return out;
  };
  std::string cert = to_pem([&](BIO* b) { PEM_write_bio_X509(b, x); });
  std::string pkey = to_pem(
      [&](BIO* b) { PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); });
  X509_free(x);
  EVP_PKEY_free(key);
  return {cert, pkey};
}

// Accepts TLS on a loopback port and pipes the bytes to the plain server.
class TlsProxy {
 public:
  TlsProxy(uint16_t backend, const std::string& cert, const std::string& key) : backend_(backend) {
    namespace ssl = boost::asio::ssl;
    ctx_.use_certificate_chain(boost::asio::buffer(cert));
    ctx_.use_private_key(boost::asio::buffer(key), ssl::context::pem);
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~TlsProxy() {
    io_.stop();
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  using tcp = boost::asio::ip::tcp;
  struct Pipe : std::enable_shared_from_this<Pipe> {
    Pipe(tcp::socket s, boost::asio::ssl::context& ctx)
        : tls(std::move(s), ctx), plain(tls.get_executor()) {}
    boost::asio::ssl::stream<tcp::socket> tls;
    tcp::socket plain;
    std::array<char, 16384> up{}, down{};
    template <class From, class To>
    void pump(From& from, To& to, std::array<char, 16384>& buf) {
      from.async_read_some(boost::asio::buffer(buf), [self = shared_from_this(), &from, &to, &buf](
                                                         boost::system::error_code ec, size_t n) {
        if (ec) return self->shut();
        boost::asio::async_write(to, boost::asio::buffer(buf.data(), n),
                                 [self, &from, &to, &buf](boost::system::error_code wec, size_t) {
                                   if (wec) return self->shut();
                                   self->pump(from, to, buf);
                                 });
      });
    }
    void shut() {
      boost::system::error_code ignored;
      tls.lowest_layer().close(ignored);
      plain.close(ignored);
    }
  };
  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
      if (ec) return;
      auto pipe = std::make_shared<Pipe>(std::move(s), ctx_);
      pipe->tls.async_handshake(
          boost::asio::ssl::stream_base::server, [this, pipe](boost::system::error_code hec) {
            if (hec) return pipe->shut();
            pipe->plain.async_connect(
                tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), backend_),
                [pipe](boost::system::error_code cec) {
                  if (cec) return pipe->shut();
                  pipe->pump(pipe->tls, pipe->plain, pipe->up);
                  pipe->pump(pipe->plain, pipe->tls, pipe->down);
                });
          });
      accept();
    });
  }
  uint16_t backend_;
  boost::asio::io_context io_;
  boost::asio::ssl::context ctx_{boost::asio::ssl::context::tls_server};
  tcp::acceptor acceptor_{io_, {boost::asio::ip::make_address("127.0.0.1"), 0}};
  std::thread thread_;
};

class ClientTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(RTPM_BINARY);
    server_->start();
    auto [cert, key] = self_signed_localhost();
    ca_file_ = server_->data_dir() + "/ca.pem";
    std::ofstream(ca_file_) << cert;
    proxy_ = std::make_unique<TlsProxy>(server_->port(), cert, key);
  }
  std::string url(const std::string& host = "localhost") const {
    return "wss://" + host + ":" + std::to_string(proxy_->port()) + "/ws";
  }
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<TlsProxy> proxy_;
  std::string ca_file_;
};

TEST_F(ClientTlsTest, VerifiedWithCaFileJoinsAndEdits) {
  ClientOptions o{.url = url(), .schema = basic_schema(), .ca_file = ca_file_};
  auto schema = fetch_schema(o);  // https through the same proxy
  ASSERT_TRUE(schema.ok()) << schema.error().message;
  RealtimeClient c(o);
  ASSERT_TRUE(c.join("tls").ok());
  ASSERT_TRUE(c.wait_synced("tls", kWait));
  ASSERT_TRUE(c.edit("tls", insert(1, "secure")).ok());
  ASSERT_TRUE(c.wait_synced("tls", kWait));
  EXPECT_EQ(server_doc(server_->port(), "tls").first, doc_json(c.doc("tls")));
}

// By default peers are verified with the system CAs, which do not know our
// self-signed certificate; a certificate for another host name fails too.
TEST_F(ClientTlsTest, UnverifiedPeersAreRefused) {
  for (auto [host, ca] : {std::pair<std::string, std::string>{"localhost", ""},
                          std::pair<std::string, std::string>{"127.0.0.1", ca_file_}}) {
    Recorder rec;
    ClientOptions o{.url = url(host), .schema = basic_schema(), .ca_file = ca};
    o.backoff = BackoffOptions{.initial_ms = 10, .max_ms = 50, .seed = 1};
    EXPECT_FALSE(fetch_schema(o).ok());
    RealtimeClient c(o, rec.callbacks());
    ASSERT_TRUE(c.join("tls").ok());
    ASSERT_TRUE(c.wait_until([&] { return c.connect_attempts() >= 3; }, kWait));
    c.close();
    std::lock_guard lock(rec.mu);
    EXPECT_EQ(std::count(rec.states.begin(), rec.states.end(), ConnectionState::open), 0) << host;
    ASSERT_FALSE(rec.errors.empty());
    EXPECT_NE(rec.errors[0].message.find("tls handshake"), std::string::npos)
        << rec.errors[0].message;
  }
}

TEST_F(ClientTlsTest, VerificationCanBeDisabled) {
  RealtimeClient c(
      ClientOptions{.url = url("127.0.0.1"), .schema = basic_schema(), .verify_peer = false});
  ASSERT_TRUE(c.join("tls").ok());
  ASSERT_TRUE(c.wait_synced("tls", kWait));
}

INSTANTIATE_TEST_SUITE_P(Subprotocols, ClientTest,
                         ::testing::Values(Subprotocol::json, Subprotocol::binary), protocol_name);

}  // namespace
}  // namespace rtpm::client
