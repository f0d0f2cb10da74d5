#include "load.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <unordered_map>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <sys/resource.h>
#include <unistd.h>

#include "rtpm/collab/rebase.h"
#include "rtpm/model/node.h"
#include "rtpm/model/resolved_pos.h"
#include "rtpm/model/schema.h"
#include "rtpm/server/server.h"
#include "rtpm/transform/mark_step.h"
#include "rtpm/transform/replace_step.h"
#include "rtpm/transform/transform.h"

namespace rtpm::apps {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using json::Value;

struct LoadOptions {
  std::string target = "ws://127.0.0.1:8080/ws";
  int rooms = 1;
  int clients_per_room = 10;
  double rate = 5;  // edits per second per client
  double duration_s = 30;
  double warmup_s = 5;
  double drain_s = 20;
  int presence_every = 1;
  double split_prob = 0.03;
  double mark_prob = 0.05;
  bool idle = false;
  int hold_s = 10;
  int connect_concurrency = 100;
  int source_addresses = 1;
  int connections = 0;  // 0: rooms x clients_per_room
  int server_pid = 0;
  std::string room_prefix = "load";
  std::string scenario;
  bool json_only = false;
  uint32_t seed = 1;
};

// ---- /proc readings of the server ----

struct ProcSample {
  double cpu_s = 0;
  double rss_kib = 0;
  double hwm_kib = 0;
};

ProcSample read_proc(int pid) {
  ProcSample s;
  if (pid <= 0) return s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (std::getline(stat, line)) {
    auto close = line.rfind(')');
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    std::vector<std::string> f;
    while (rest >> field) f.push_back(field);
    // Fields after the command: state(3) ... utime(14) stime(15), counted from 3.
    if (f.size() > 13) s.cpu_s = (std::stod(f[11]) + std::stod(f[12])) / sysconf(_SC_CLK_TCK);
  }
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kib = std::stod(line.substr(6));
    if (line.rfind("VmHWM:", 0) == 0) s.hwm_kib = std::stod(line.substr(6));
  }
  return s;
}

// ---- HTTP ----

std::optional<std::string> http_get(const std::string& host, uint16_t port,
                                    const std::string& target) {
  try {
    net::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.connect(tcp::endpoint(net::ip::make_address(host), port));
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, host);
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    if (res.result_int() != 200) return std::nullopt;
    return res.body();
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// ---- the engine ----

struct Engine;

struct Client : std::enable_shared_from_this<Client> {
  Client(Engine& e, int room, int index);
  void start();
  void on_connect(beast::error_code ec);
  void on_handshake(beast::error_code ec);
  void read();
  void on_read(beast::error_code ec, size_t);
  void handle(const Value& m);
  void send(std::string text);
  void write();
  void tick();
  void edit();
  void maybe_send();
  void apply_remote(const Value& m);

  Engine& e;
  int room_index;
  int index;
  std::string room, user;
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer buf;
  std::vector<std::string> outbox;
  bool writing = false;
  bool joined = false;
  bool failed = false;
  collab::CollabState st;
  size_t in_flight = 0;
  int64_t wait_for = 0;
  int ops = 0;
  net::steady_timer timer;
  std::mt19937 rng;
};

struct Pending {
  Clock::time_point t0;
  int remaining;
  bool counted;
};

struct Engine {
  LoadOptions o;
  std::string host;
  uint16_t port = 0;
  std::string path = "/ws";
  net::io_context ioc{1};
  std::shared_ptr<const model::Schema> schema;
  std::vector<std::shared_ptr<Client>> clients;
  int connecting = 0, next_to_connect = 0, joined = 0, failed = 0;
  enum class Phase { connecting, warmup, window, drain, done } phase = Phase::connecting;
  Clock::time_point window_start, window_end;
  // Stats over the window.
  int64_t made = 0, accepted = 0, conflicts = 0, rejections = 0, resyncs = 0, errors = 0;
  std::vector<double> latencies_ms;
  int64_t incomplete = 0;
  // Unique characters in flight, per room: key = room << 16 | char.
  std::unordered_map<uint64_t, Pending> registry;
  uint32_t next_char = 0;

  char16_t take_char(int room) {
    // CJK Unified Ideographs and Hangul syllables: 31,164 one-unit characters.
    for (int tries = 0; tries < 40000; ++tries) {
      uint32_t k = next_char++ % 31164;
      char16_t c = static_cast<char16_t>(k < 20992 ? 0x4E00 + k : 0xAC00 + (k - 20992));
      uint64_t key = (static_cast<uint64_t>(room) << 16) | c;
      if (!registry.count(key)) return c;
    }
    return u'x';
  }

  void connect_more() {
    while (connecting < o.connect_concurrency &&
           next_to_connect < static_cast<int>(clients.size())) {
      ++connecting;
      clients[next_to_connect++]->start();
    }
  }
  void on_joined() {
    ++joined;
    --connecting;
    connect_more();
    check_all_joined();
  }
  void on_failed() {
    ++failed;
    --connecting;
    connect_more();
    check_all_joined();
  }
  void check_all_joined();
  bool settled() const {
    for (const auto& c : clients)
      if (c->joined && !c->failed && (c->in_flight || !c->st.unconfirmed.empty())) return false;
    return true;
  }
};

Client::Client(Engine& eng, int r, int i)
    : e(eng),
      room_index(r),
      index(i),
      room(eng.o.room_prefix + "-" + std::to_string(r)),
      user("u" + std::to_string(r) + "-" + std::to_string(i)),
      ws(net::make_strand(eng.ioc)),
      timer(eng.ioc),
      rng(eng.o.seed * 7919u + static_cast<uint32_t>(r * 1000 + i)) {}

void Client::start() {
  auto& sock = beast::get_lowest_layer(ws).socket();
  beast::error_code ec;
  tcp::endpoint remote(net::ip::make_address(e.host), e.port);
  sock.open(tcp::v4(), ec);
  if (e.o.source_addresses > 1) {
    // Spread over 127.0.0.2.. to get past one source address's port range.
    auto a =
        net::ip::make_address_v4("127.0.0.2").to_uint() +
        static_cast<uint32_t>((room_index * e.o.clients_per_room + index) % e.o.source_addresses);
    sock.bind(tcp::endpoint(net::ip::address_v4(a), 0), ec);
  }
  sock.async_connect(remote, beast::bind_front_handler(&Client::on_connect, shared_from_this()));
}

void Client::on_connect(beast::error_code ec) {
  if (ec) {
    failed = true;
    return e.on_failed();
  }
  beast::get_lowest_layer(ws).socket().set_option(tcp::no_delay(true));
  ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
    req.set(http::field::sec_websocket_protocol, "realtime-pm.json.v1");
  }));
  ws.async_handshake(e.host + ":" + std::to_string(e.port), e.path,
                     beast::bind_front_handler(&Client::on_handshake, shared_from_this()));
}

void Client::on_handshake(beast::error_code ec) {
  if (ec) {
    failed = true;
    return e.on_failed();
  }
  read();
  send(R"({"type":"join","room":")" + room + R"(","userId":")" + user + "\"}");
}

void Client::read() {
  ws.async_read(buf, beast::bind_front_handler(&Client::on_read, shared_from_this()));
}

void Client::on_read(beast::error_code ec, size_t) {
  if (ec) {
    if (!joined && !failed) {
      failed = true;
      e.on_failed();
    }
    failed = true;
    return;
  }
  auto m = json::parse(beast::buffers_to_string(buf.data()));
  buf.consume(buf.size());
  if (m) handle(*m);
  read();
}

void Client::send(std::string text) {
  outbox.push_back(std::move(text));
  if (!writing) write();
}

void Client::write() {
  writing = true;
  ws.async_write(net::buffer(outbox.front()),
                 [self = shared_from_this()](beast::error_code ec, size_t) {
                   self->writing = false;
                   if (ec) {
                     self->failed = true;
                     return;
                   }
                   self->outbox.erase(self->outbox.begin());
                   if (!self->outbox.empty()) self->write();
                 });
}

void Client::handle(const Value& m) {
  const Value* t = m.find("type");
  if (!t || !t->is_string()) return;
  const std::string& type = t->as_string();
  if (type == "state") {
    st.doc = model::Node::from_json(*e.schema, *m.find("doc"));
    st.version = static_cast<int64_t>(m.find("version")->as_number());
    st.unconfirmed.clear();
    in_flight = 0;
    wait_for = 0;
    if (!joined) {
      joined = true;
      e.on_joined();
    }
  } else if (type == "steps") {
    apply_remote(m);
  } else if (type == "ack") {
    if (!in_flight) return;
    st.unconfirmed.erase(st.unconfirmed.begin(),
                         st.unconfirmed.begin() + static_cast<long>(in_flight));
    st.version += static_cast<int64_t>(in_flight);
    if (e.phase == Engine::Phase::window) e.accepted += static_cast<int64_t>(in_flight);
    in_flight = 0;
    maybe_send();
  } else if (type == "error") {
    std::string code = m.find("code") ? m.find("code")->as_string() : "";
    if (code == "version_conflict") {
      if (e.phase == Engine::Phase::window) ++e.conflicts;
      in_flight = 0;
      wait_for = static_cast<int64_t>(m.find("version")->as_number());
      maybe_send();
    } else if (code == "invalid_steps") {
      if (e.phase == Engine::Phase::window) ++e.rejections;
      ++e.resyncs;
      send(R"({"type":"join","room":")" + room + R"(","userId":")" + user + "\"}");
    } else if (code != "rate_limited") {
      ++e.errors;
    }
  }
}

void Client::apply_remote(const Value& m) {
  int64_t version = static_cast<int64_t>(m.find("version")->as_number());
  if (version != st.version) {
    // A gap: resynchronise with a fresh state.
    ++e.resyncs;
    send(R"({"type":"join","room":")" + room + R"(","userId":")" + user + "\"}");
    return;
  }
  std::vector<transform::StepPtr> steps;
  for (const Value& s : m.find("steps")->as_array()) {
    steps.push_back(transform::Step::from_json(*e.schema, s));
    // Find the unique characters this edit carries: latency by content.
    const Value* slice = s.find("slice");
    const Value* content = slice ? slice->find("content") : nullptr;
    if (!content) continue;
    for (const Value& n : content->as_array()) {
      const Value* text = n.find("text");
      if (!text) continue;
      for (char16_t c : json::to_utf16(text->as_string())) {
        auto it = e.registry.find((static_cast<uint64_t>(room_index) << 16) | c);
        if (it == e.registry.end()) continue;
        if (--it->second.remaining == 0) {
          if (it->second.counted)
            e.latencies_ms.push_back(
                std::chrono::duration<double, std::milli>(Clock::now() - it->second.t0).count());
          e.registry.erase(it);
        }
      }
    }
  }
  std::vector<std::string> ids(steps.size(), m.find("userId")->as_string());
  try {
    st = collab::receive_transaction(st, steps, ids, user).state;
  } catch (const std::exception&) {
    ++e.resyncs;
    send(R"({"type":"join","room":")" + room + R"(","userId":")" + user + "\"}");
  }
  maybe_send();
}

void Client::tick() {
  if (e.phase != Engine::Phase::warmup && e.phase != Engine::Phase::window) return;
  if (!failed) edit();
  timer.expires_after(
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / e.o.rate)));
  timer.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->tick();
  });
}

void Client::edit() {
  const model::Node& doc = *st.doc;
  int n = doc.child_count();
  if (n == 0) return;
  int k = static_cast<int>(rng() % static_cast<uint32_t>(n));
  int start = 0;
  for (int i = 0; i < k; ++i) start += doc.child(i)->node_size();
  const model::Node& para = *doc.child(k);
  if (!para.is_textblock()) return;
  int len = para.content().size();
  int pos = start + 1 + static_cast<int>(rng() % static_cast<uint32_t>(len + 1));
  double r = std::uniform_real_distribution<double>(0, 1)(rng);
  transform::StepPtr step;
  char16_t unique = 0;
  if (r < e.o.split_prob) {
    const model::NodeType* p = e.schema->node_type("paragraph");
    step = std::make_shared<transform::ReplaceStep>(
        pos, pos, model::Slice(model::Fragment::from_array({p->create(), p->create()}), 1, 1),
        true);
  } else if (r < e.o.split_prob + e.o.mark_prob && len >= 2) {
    int a = start + 1 + static_cast<int>(rng() % static_cast<uint32_t>(len - 1));
    int b = std::min(start + 1 + len, a + 1 + static_cast<int>(rng() % 5));
    model::Mark mark = e.schema->mark(rng() % 2 ? "strong" : "em");
    if (doc.range_has_mark(a, b, mark.type()))
      step = std::make_shared<transform::RemoveMarkStep>(a, b, mark);
    else
      step = std::make_shared<transform::AddMarkStep>(a, b, mark);
  } else {
    unique = e.take_char(room_index);
    model::MarkSet marks = doc.resolve(pos).marks();
    step = std::make_shared<transform::ReplaceStep>(
        pos, pos,
        model::Slice(model::Fragment::from(e.schema->text(std::u16string(1, unique), marks)), 0,
                     0));
  }
  transform::Transform tr(st.doc);
  if (!tr.maybe_step(step).failed.empty()) return;
  auto more = collab::unconfirmed_from(tr);
  st.unconfirmed.insert(st.unconfirmed.end(), more.begin(), more.end());
  st.doc = tr.doc();
  if (unique) {
    int others = e.o.clients_per_room - 1;
    if (others > 0)
      e.registry[(static_cast<uint64_t>(room_index) << 16) | unique] =
          Pending{Clock::now(), others, e.phase == Engine::Phase::window};
  }
  if (e.phase == Engine::Phase::window) ++e.made;
  ++ops;
  maybe_send();
  if (e.o.presence_every > 0 && ops % e.o.presence_every == 0)
    send(R"({"type":"presence","room":")" + room + R"(","users":{")" + user +
         R"(":{"cursor":{"pos":)" + std::to_string(pos) + "}}}}");
}

void Client::maybe_send() {
  if (in_flight || st.unconfirmed.empty() || st.version < wait_for || failed) return;
  std::string steps = "[";
  for (size_t i = 0; i < st.unconfirmed.size(); ++i) {
    if (i) steps += ',';
    steps += st.unconfirmed[i].step->to_json_string();
  }
  steps += ']';
  in_flight = st.unconfirmed.size();
  send(R"({"type":"steps","room":")" + room + R"(","version":)" + std::to_string(st.version) +
       R"(,"steps":)" + steps + R"(,"userId":")" + user + "\"}");
}

void Engine::check_all_joined() {
  if (joined + failed < static_cast<int>(clients.size()) || phase != Phase::connecting) return;
  phase = Phase::warmup;
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1,
                      static_cast<size_t>(std::ceil(p / 100.0 * v.size())) - (p > 0 ? 1 : 0));
  return v[i];
}

void run_until(Engine& e, const std::function<bool()>& done, double max_s) {
  auto deadline = Clock::now() +
                  std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(max_s));
  while (!done() && Clock::now() < deadline) e.ioc.run_for(std::chrono::milliseconds(20));
}

int run_load(const LoadOptions& o) {
  Engine e;
  e.o = o;
  // ws://host:port/path
  std::string t = o.target;
  if (t.rfind("ws://", 0) != 0) {
    std::cerr << "--target must be ws://HOST:PORT/PATH\n";
    return 2;
  }
  t = t.substr(5);
  auto slash = t.find('/');
  std::string hostport = t.substr(0, slash);
  e.path = slash == std::string::npos ? "/ws" : t.substr(slash);
  auto colon = hostport.rfind(':');
  e.host = hostport.substr(0, colon);
  if (e.host == "localhost") e.host = "127.0.0.1";
  e.port = static_cast<uint16_t>(std::stoi(hostport.substr(colon + 1)));
  // The server's schema, or the built-in basic one when it does not publish one.
  auto spec_text = http_get(e.host, e.port, "/api/schema");
  std::string text = spec_text ? *spec_text : std::string(server::builtin_schema("basic"));
  e.schema = model::Schema::from_json(*json::parse(text));

  // Every connection is a descriptor here too: raise the soft file limit to the hard one.
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 &&
      static_cast<rlim_t>(o.rooms) * o.clients_per_room + 64 > lim.rlim_cur)
    std::cerr << "warning: " << o.rooms * o.clients_per_room
              << " connections but this process may open only " << lim.rlim_cur << " files\n";
  ProcSample before = read_proc(o.server_pid);
  for (int r = 0; r < o.rooms; ++r)
    for (int i = 0; i < o.clients_per_room; ++i)
      if (o.connections <= 0 || static_cast<int>(e.clients.size()) < o.connections)
        e.clients.push_back(std::make_shared<Client>(e, r, i));
  auto t_connect = Clock::now();
  e.connect_more();
  run_until(
      e, [&] { return e.phase != Engine::Phase::connecting; }, 120);
  double connect_s = std::chrono::duration<double>(Clock::now() - t_connect).count();
  json::Object out;
  out.emplace_back("scenario", o.scenario.empty() ? std::string("custom") : o.scenario);
  out.emplace_back("rooms", o.rooms);
  out.emplace_back("clients_per_room", o.clients_per_room);
  out.emplace_back("connections", static_cast<int>(e.clients.size()));
  out.emplace_back("joined", e.joined);
  out.emplace_back("failed", e.failed);
  out.emplace_back("joins_per_s", e.joined / std::max(connect_s, 1e-9));

  if (o.idle) {
    run_until(
        e, [] { return false; }, 3);
    ProcSample after = read_proc(o.server_pid);
    run_until(
        e, [] { return false; }, o.hold_s);
    ProcSample held = read_proc(o.server_pid);
    json::Object server;
    server.emplace_back("rss_before_kib", before.rss_kib);
    server.emplace_back("rss_after_kib", after.rss_kib);
    server.emplace_back("peak_rss_kib", held.hwm_kib);
    server.emplace_back("kib_per_connection",
                        e.joined ? (after.rss_kib - before.rss_kib) / e.joined : 0.0);
    server.emplace_back("idle_cpu_share", (held.cpu_s - after.cpu_s) / o.hold_s);
    out.emplace_back("server", Value(std::move(server)));
    out.emplace_back("valid", e.failed == 0);
  } else {
    for (auto& c : e.clients) {
      if (c->failed) continue;
      double phase = std::uniform_real_distribution<double>(0, 1.0 / o.rate)(c->rng);
      c->timer.expires_after(
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(phase)));
      c->timer.async_wait([c](beast::error_code ec) {
        if (!ec) c->tick();
      });
    }
    run_until(
        e, [] { return false; }, o.warmup_s);
    ProcSample w0 = read_proc(o.server_pid);
    e.phase = Engine::Phase::window;
    e.window_start = Clock::now();
    run_until(
        e, [] { return false; }, o.duration_s);
    e.phase = Engine::Phase::drain;
    ProcSample w1 = read_proc(o.server_pid);
    double window_s = std::chrono::duration<double>(Clock::now() - e.window_start).count();
    run_until(
        e, [&] { return e.settled(); }, o.drain_s);
    // Let the last broadcasts arrive, then compare every client with the server.
    run_until(
        e, [] { return false; }, 0.5);
    bool valid = e.settled() && e.failed == 0;
    int mismatches = 0;
    std::map<int, std::pair<int64_t, std::string>> server_docs;
    for (int r = 0; r < o.rooms; ++r) {
      auto body = http_get(e.host, e.port, "/api/rooms/" + o.room_prefix + "-" + std::to_string(r));
      if (!body) {
        valid = false;
        continue;
      }
      auto v = json::parse(*body);
      server_docs[r] = {static_cast<int64_t>(v->find("version")->as_number()),
                        model::Node::from_json(*e.schema, *v->find("doc"))->to_json_string()};
    }
    for (auto& c : e.clients) {
      auto it = server_docs.find(c->room_index);
      if (c->failed || it == server_docs.end() || c->st.version != it->second.first ||
          c->st.doc->to_json_string() != it->second.second)
        ++mismatches;
    }
    if (mismatches) valid = false;
    for (auto& [k, p] : e.registry)
      if (p.counted) ++e.incomplete;
    json::Object ops;
    ops.emplace_back("offered_per_s", o.rooms * o.clients_per_room * o.rate);
    ops.emplace_back("sent_per_s", e.made / window_s);
    ops.emplace_back("accepted_per_s", e.accepted / window_s);
    out.emplace_back("ops", Value(std::move(ops)));
    json::Object lat;
    auto l = e.latencies_ms;
    double sum = 0;
    for (double x : l) sum += x;
    lat.emplace_back("p50", percentile(l, 50));
    lat.emplace_back("p95", percentile(l, 95));
    lat.emplace_back("p99", percentile(l, 99));
    lat.emplace_back("max", l.empty() ? 0.0 : l.back());
    lat.emplace_back("mean", l.empty() ? 0.0 : sum / l.size());
    lat.emplace_back("samples", static_cast<double>(l.size()));
    out.emplace_back("latency_ms", Value(std::move(lat)));
    out.emplace_back("latency_incomplete", static_cast<double>(e.incomplete));
    out.emplace_back("conflicts", static_cast<double>(e.conflicts));
    out.emplace_back("conflicts_per_s", e.conflicts / window_s);
    out.emplace_back("rejections", static_cast<double>(e.rejections));
    out.emplace_back("resyncs", static_cast<double>(e.resyncs));
    out.emplace_back("errors", static_cast<double>(e.errors));
    json::Object server;
    double cpu = w1.cpu_s - w0.cpu_s;
    server.emplace_back("cpu_s", cpu);
    server.emplace_back("cpu_share", cpu / window_s);
    server.emplace_back("cpu_ms_per_op", e.accepted ? cpu * 1000 / e.accepted : 0.0);
    server.emplace_back("rss_kib", w1.rss_kib);
    server.emplace_back("peak_rss_kib", w1.hwm_kib);
    out.emplace_back("server", Value(std::move(server)));
    out.emplace_back("mismatched_clients", mismatches);
    out.emplace_back("valid", valid);
  }
  Value result(std::move(out));
  std::cout << json::stringify(result) << std::endl;
  e.phase = Engine::Phase::done;
  for (auto& c : e.clients) {
    beast::error_code ec;
    c->timer.cancel();
    beast::get_lowest_layer(c->ws).socket().close(ec);
  }
  e.ioc.run_for(std::chrono::milliseconds(200));
  return result.find("valid")->as_bool() ? 0 : 2;
}

}  // namespace

void add_load_command(CLI::App& app) {
  auto o = std::make_shared<LoadOptions>();
  CLI::App* cmd = app.add_subcommand(
      "load",
      "Load a PROTOCOL.md server with typing clients (or idle connections) and report\n"
      "throughput, latency, conflicts and the server's CPU and memory as one JSON line.\n"
      "Scenarios: --scenario typing-1x10 | typing-100x5 | hot-room | idle-5k sets rooms,\n"
      "clients and rates as in ../shared/bench.");
  cmd->add_option("--target", o->target, "WebSocket URL of the server")->capture_default_str();
  cmd->add_option("--scenario", o->scenario, "typing-1x10, typing-100x5, hot-room or idle-5k");
  cmd->add_option("--rooms", o->rooms, "Rooms")->capture_default_str();
  cmd->add_option("--clients-per-room", o->clients_per_room, "Clients per room")
      ->capture_default_str();
  cmd->add_option("--rate", o->rate, "Edits per second per client")->capture_default_str();
  cmd->add_option("--duration", o->duration_s, "Measured window, seconds")->capture_default_str();
  cmd->add_option("--warmup", o->warmup_s, "Warm-up before the window, seconds")
      ->capture_default_str();
  cmd->add_option("--drain", o->drain_s, "Longest wait for quiescence at the end, seconds")
      ->capture_default_str();
  cmd->add_option("--presence-every", o->presence_every,
                  "A presence update after every N edits (0: none)")
      ->capture_default_str();
  cmd->add_option("--split-prob", o->split_prob, "Share of edits that press Enter")
      ->capture_default_str();
  cmd->add_option("--mark-prob", o->mark_prob, "Share of edits that toggle bold/italic")
      ->capture_default_str();
  cmd->add_flag("--idle", o->idle, "Only join and hold the connections (memory per connection)");
  cmd->add_option("--hold", o->hold_s, "Idle: seconds to hold after joining")
      ->capture_default_str();
  cmd->add_option("--connect-concurrency", o->connect_concurrency, "Handshakes in flight")
      ->capture_default_str();
  cmd->add_option("--source-addresses", o->source_addresses,
                  "Spread connections over this many 127.0.0.x source addresses")
      ->capture_default_str();
  cmd->add_option("--connections", o->connections,
                  "Connections in all (0: rooms x clients per room); with a scenario, the rooms "
                  "grow to hold them, e.g. --scenario idle-5k --connections 20000");
  cmd->add_option("--server-pid", o->server_pid, "PID of the server, for CPU and memory readings");
  cmd->add_option("--room-prefix", o->room_prefix, "Room name prefix")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Random seed")->capture_default_str();
  cmd->callback([o] {
    LoadOptions opts = *o;
    if (opts.scenario == "typing-1x10") {
      opts.rooms = 1, opts.clients_per_room = 10, opts.rate = 5;
    } else if (opts.scenario == "typing-100x5") {
      opts.rooms = 100, opts.clients_per_room = 5, opts.rate = 2;
    } else if (opts.scenario == "hot-room") {
      opts.rooms = 1, opts.clients_per_room = 50, opts.rate = 10;
    } else if (opts.scenario == "idle-5k") {
      opts.rooms = 500, opts.clients_per_room = 10, opts.idle = true;
    } else if (!opts.scenario.empty()) {
      std::cerr << "unknown scenario " << opts.scenario << "\n";
      std::exit(2);
    }
    if (opts.connections > 0)
      opts.rooms = (opts.connections + opts.clients_per_room - 1) / opts.clients_per_room;
    std::exit(run_load(opts));
  });
}

}  // namespace rtpm::apps
