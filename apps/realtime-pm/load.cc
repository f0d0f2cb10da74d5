#include "load.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <sys/resource.h>
#include <unistd.h>

#include "rtpm/client/realtime_client.h"
#include "rtpm/model/node.h"
#include "rtpm/model/resolved_pos.h"
#include "rtpm/model/schema.h"
#include "rtpm/protocol/client_messages.h"
#include "rtpm/server/server.h"
#include "rtpm/transform/mark_step.h"
#include "rtpm/transform/replace_step.h"
#include "rtpm/transform/transform.h"

namespace rtpm::apps {

namespace {

namespace net = boost::asio;
using Clock = std::chrono::steady_clock;
using json::Value;

struct LoadOptions {
  /// The server's URL; with several (the nodes of a cluster, docs/scaling.md) the clients are
  /// spread over them in turn, and the checks at the end read the first.
  std::vector<std::string> targets = {"ws://127.0.0.1:8080/ws"};
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
  /// The servers' processes, for CPU and memory readings (summed).
  std::vector<int> server_pids;
  bool binary = false;
  bool no_server_rebase = false;  // do not ask for the `rebase` extension (version 1)
  std::string room_prefix = "load";
  std::string scenario;
  uint32_t seed = 1;
};

// ---- /proc readings ----

struct ProcSample {
  double cpu_s = 0;
  double user_s = 0;  // cpu_s split: user and system (kernel) time
  double sys_s = 0;
  double rss_kib = 0;
  double hwm_kib = 0;
};

ProcSample read_one_proc(int pid) {
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
    if (f.size() > 13) {
      double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
      s.user_s = std::stod(f[11]) / tick;
      s.sys_s = std::stod(f[12]) / tick;
      s.cpu_s = s.user_s + s.sys_s;
    }
  }
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kib = std::stod(line.substr(6));
    if (line.rfind("VmHWM:", 0) == 0) s.hwm_kib = std::stod(line.substr(6));
  }
  return s;
}

// The processes' CPU time and memory, summed.
ProcSample read_proc(const std::vector<int>& pids) {
  ProcSample sum;
  for (int pid : pids) {
    ProcSample one = read_one_proc(pid);
    sum.cpu_s += one.cpu_s;
    sum.user_s += one.user_s;
    sum.sys_s += one.sys_s;
    sum.rss_kib += one.rss_kib;
    sum.hwm_kib += one.hwm_kib;
  }
  return sum;
}

// This process's CPU time (user + system), in seconds.
double own_cpu_s() {
  rusage u{};
  if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

// ---- the engine ----

struct Engine;

// One typing (or idle) member: a RealtimeClient in one room.
struct LoadClient {
  LoadClient(Engine& e, int room, int index);
  void tick();
  void edit();
  void on_document(const client::DocumentChange& change);

  Engine& e;
  int room_index;
  int index;
  std::string room;
  std::unique_ptr<client::RealtimeClient> client;
  net::steady_timer timer;
  std::mt19937 rng;
  bool joined = false;  // its room was joined once
  bool failed = false;  // its connection failed before that (it is then closed)
  int ops = 0;
};

// A unique character in flight: when typed, by whom, and how many members
// have still to see it.
struct Pending {
  Clock::time_point t0;
  int remaining;
  bool counted;
  int author;
};

struct Engine {
  LoadOptions o;
  net::io_context ioc{1};  // every client's I/O, run by the main thread
  std::shared_ptr<const model::Schema> schema;
  // The clients of a room receive the same steps: parsed and applied once (as
  // ../shared/bench/loadgen's caches do), so that the tool's one core serves
  // many clients.
  std::shared_ptr<client::SharedSteps> shared_steps = std::make_shared<client::SharedSteps>();
  std::vector<std::unique_ptr<LoadClient>> clients;
  int connecting = 0, next_to_connect = 0, joined = 0, failed = 0;
  enum class Phase { connecting, warmup, window, drain, done } phase = Phase::connecting;
  int64_t made = 0, errors = 0;
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
      clients[static_cast<size_t>(next_to_connect++)]->client->connect();
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
  void check_all_joined() {
    if (joined + failed < static_cast<int>(clients.size()) || phase != Phase::connecting) return;
    phase = Phase::warmup;
  }
  bool settled() const {
    for (const auto& c : clients) {
      if (c->failed) continue;
      auto s = c->client->room(c->room);
      if (!s || s->status != client::RoomStatus::joined || s->unconfirmed) return false;
    }
    return true;
  }
  // The clients' counters summed.
  client::ClientStats stats() const {
    client::ClientStats sum;
    for (const auto& c : clients) {
      client::ClientStats s = c->client->stats();
      sum.connect_attempts += s.connect_attempts;
      sum.reconnects += s.reconnects;
      sum.rooms += s.rooms;
    }
    return sum;
  }
};

LoadClient::LoadClient(Engine& eng, int r, int i)
    : e(eng),
      room_index(r),
      index(i),
      room(eng.o.room_prefix + "-" + std::to_string(r)),
      timer(eng.ioc),
      rng(eng.o.seed * 7919u + static_cast<uint32_t>(r * 1000 + i)) {
  client::ClientOptions options{
      .url = e.o.targets[static_cast<size_t>(r * e.o.clients_per_room + i) % e.o.targets.size()],
      .schema = e.schema,
      .subprotocol = e.o.binary ? client::Subprotocol::binary : client::Subprotocol::json,
      .user_id = "u" + std::to_string(r) + "-" + std::to_string(i),
      // Pings only every five minutes: idle connections cost the server nothing but memory.
      .idle_timeout_ms = 600000,
      .server_rebase = !e.o.no_server_rebase,
      .shared_steps = e.shared_steps,
      // As ../shared/bench/loadgen: others' cursors are not mapped (100 clients in one process
      // would map 99 cursors each through every step, work a real client spreads over 100 CPUs).
      .remote_presence = false,
      .auto_connect = false,
  };
  // A fifth of a second of typing at most unconfirmed (and at least 10 steps): a member whose
  // steps come back later than that stops typing until they do (its edits count as not sent),
  // as a person would in front of a stalled editor. Without a bound, a load tool that falls
  // behind rebases ever more steps of every member over every message and never catches up.
  options.max_unconfirmed_steps = static_cast<size_t>(std::max(10.0, std::ceil(e.o.rate / 5)));
  if (e.o.source_addresses > 1) {
    // Spread over 127.0.0.2.. to get past one source address's port range.
    uint32_t a = (127u << 24) + 2 +
                 static_cast<uint32_t>((r * e.o.clients_per_room + i) % e.o.source_addresses);
    options.bind_address = std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
                           std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
  }
  client::Callbacks cb;
  cb.on_room_status = [this](const std::string&, client::RoomStatus status) {
    if (joined || failed) return;
    if (status == client::RoomStatus::joined) {
      joined = true;
      e.on_joined();
    } else if (status == client::RoomStatus::left) {  // the server refused the join
      failed = true;
      client->close();
      e.on_failed();
    }
  };
  cb.on_connection = [this](client::ConnectionState state) {
    if (state != client::ConnectionState::offline || joined || failed) return;
    // As before: a client that cannot connect is counted as failed and not retried.
    failed = true;
    client->close();
    e.on_failed();
  };
  cb.on_document = [this](const client::DocumentChange& change) { on_document(change); };
  cb.on_error = [this](const client::ClientError& err) {
    if (err.code != ErrorCode::rate_limited && err.code != ErrorCode::invalid_steps) ++e.errors;
  };
  client = std::make_unique<client::RealtimeClient>(std::move(options), e.ioc, std::move(cb));
  if (!client->join(room)) throw std::invalid_argument("bad room name " + room);
}

// Latency by content: the unique characters that others typed, arriving here.
void LoadClient::on_document(const client::DocumentChange& change) {
  if (change.origin != client::ChangeOrigin::remote || !change.transform) return;
  for (const auto& step : change.transform->steps()) {
    const auto* replace = dynamic_cast<const transform::ReplaceStep*>(step.get());
    if (!replace) continue;
    replace->slice().content().for_each([&](const model::NodeRef& node, int, int) {
      if (!node->is_text()) return;
      for (char16_t c : node->text()) {
        auto it = e.registry.find((static_cast<uint64_t>(room_index) << 16) | c);
        // Our own characters come back rebased: not an arrival.
        if (it == e.registry.end() || it->second.author == index) continue;
        if (--it->second.remaining == 0) {
          if (it->second.counted)
            e.latencies_ms.push_back(
                std::chrono::duration<double, std::milli>(Clock::now() - it->second.t0).count());
          e.registry.erase(it);
        }
      }
    });
  }
}

void LoadClient::tick() {
  if (e.phase != Engine::Phase::warmup && e.phase != Engine::Phase::window) return;
  if (!failed) edit();
  // Open loop: the next edit is due one period after this one was due, not
  // after it was made, so that a busy loop does not lower the offered rate
  // (it catches up); a client more than a second behind starts over from now.
  auto period =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / e.o.rate));
  auto now = net::steady_timer::clock_type::now();
  auto next = timer.expiry() + period;
  timer.expires_at(next < now - std::chrono::seconds(1) ? now : next);
  timer.async_wait([this](boost::system::error_code ec) {
    if (!ec) tick();
  });
}

void LoadClient::edit() {
  int caret = -1;
  char16_t unique = 0;
  auto result = client->edit(room, [&](transform::Transform& tr) {
    const model::Node& doc = *tr.doc();
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
    // Where the caret ends up in the new document, as bench/loadgen puts it:
    // after the typed character, at the start of the new paragraph, at the
    // end of the toggled range.
    int after = pos + 1;
    if (r < e.o.split_prob) {
      after = pos + 2;
      const model::NodeType* p = e.schema->node_type("paragraph");
      step = std::make_shared<transform::ReplaceStep>(
          pos, pos, model::Slice(model::Fragment::from_array({p->create(), p->create()}), 1, 1),
          true);
    } else if (r < e.o.split_prob + e.o.mark_prob && len >= 2) {
      int a = start + 1 + static_cast<int>(rng() % static_cast<uint32_t>(len - 1));
      int b = std::min(start + 1 + len, a + 1 + static_cast<int>(rng() % 5));
      after = b;
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
    if (tr.maybe_step(step).failed.empty()) caret = after;
  });
  if (!result || caret < 0) return;  // nothing made (or the offline bound was reached)
  if (unique) {
    int others = e.o.clients_per_room - 1;
    if (others > 0)
      e.registry[(static_cast<uint64_t>(room_index) << 16) | unique] =
          Pending{Clock::now(), others, e.phase == Engine::Phase::window, index};
  }
  if (e.phase == Engine::Phase::window) ++e.made;
  ++ops;
  if (e.o.presence_every > 0 && ops % e.o.presence_every == 0) {
    // Fails only for a room that was left; the edit above would have failed too.
    (void)client->set_presence(
        room, Value(json::Object{{"cursor", Value(json::Object{{"pos", caret}})}}));
  }
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

// The server's document and version of `room` (GET /api/rooms/ROOM).
std::optional<std::pair<int64_t, std::string>> server_room(const Engine& e,
                                                           const std::string& room) {
  auto res = client::http_get(client::ConnectionOptions{.url = e.o.target}, "/api/rooms/" + room);
  // Thousands of rooms pass a server's limit on document API requests per address (429 with
  // Retry-After: 1): wait and ask again, for a minute at most.
  for (int i = 0; i < 60 && res && res->status == 429; ++i) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    res = client::http_get(client::ConnectionOptions{.url = e.o.target}, "/api/rooms/" + room);
  }
  if (!res || res->status != 200) return std::nullopt;
  auto v = json::parse(res->body);
  const Value* version = v ? v->find("version") : nullptr;
  if (!version || !version->is_number() || !v->find("doc")) return std::nullopt;
  // The port's boundary: a document that does not parse is a mismatch.
  Result<std::string> doc = catch_port(ErrorCode::bad_message, "", [&] {
    return model::Node::from_json(*e.schema, *v->find("doc"))->to_json_string();
  });
  if (!doc) return std::nullopt;
  return std::make_pair(static_cast<int64_t>(version->as_number()), std::move(*doc));
}

int run_load(const LoadOptions& o) {
  Engine e;
  e.o = o;
  for (const std::string& target : o.targets)
    if (!client::parse_server_url(target)) {
      std::cerr << "--target must be ws://HOST:PORT/PATH or wss://...\n";
      return 2;
    }
  if (!protocol::valid_room_name(o.room_prefix + "-" + std::to_string(o.rooms))) {
    std::cerr << "--room-prefix makes bad room names: " << o.room_prefix << "-0\n";
    return 2;
  }
  // The server's schema, or the built-in basic one when it does not publish one.
  auto schema = client::fetch_schema(client::ClientOptions{.url = o.target});
  e.schema =
      schema ? *schema : model::Schema::from_json(*json::parse(server::builtin_schema("basic")));

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
  ProcSample before = read_proc(o.server_pids);
  for (int r = 0; r < o.rooms; ++r)
    for (int i = 0; i < o.clients_per_room; ++i)
      if (o.connections <= 0 || static_cast<int>(e.clients.size()) < o.connections)
        e.clients.push_back(std::make_unique<LoadClient>(e, r, i));
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
  // The subprotocol the server chose (for --binary), seen on a joined client.
  std::string subprotocol = "none";
  for (const auto& c : e.clients)
    if (auto p = c->client->subprotocol(); p && c->joined) {
      subprotocol = *p == client::Subprotocol::binary ? "binary" : "json";
      break;
    }
  // Whether the rooms speak the `rebase` extension: the server offered it to a joined client.
  auto server_rebase = [&] {
    for (const auto& c : e.clients)
      if (auto snap = c->client->room(c->room); c->joined && snap && snap->server_rebase)
        return true;
    return false;
  };
  // The load tool's own CPU time over a window's wall time, as a fraction of
  // one core (its clients all run on this one thread): near 1, the tool, not
  // the server, limits the figures.
  auto cpu_share = [](double cpu0, double cpu1, double wall_s) {
    return (cpu1 - cpu0) / std::max(wall_s, 1e-9);
  };

  if (o.idle) {
    run_until(
        e, [] { return false; }, 3);
    ProcSample after = read_proc(o.server_pids);
    double own0 = own_cpu_s();
    auto t0 = Clock::now();
    run_until(
        e, [] { return false; }, o.hold_s);
    ProcSample held = read_proc(o.server_pids);
    double own1 = own_cpu_s();
    double hold_s = std::chrono::duration<double>(Clock::now() - t0).count();
    json::Object server;
    server.emplace_back("rss_before_kib", before.rss_kib);
    server.emplace_back("rss_after_kib", after.rss_kib);
    server.emplace_back("peak_rss_kib", held.hwm_kib);
    server.emplace_back("kib_per_connection",
                        e.joined ? (after.rss_kib - before.rss_kib) / e.joined : 0.0);
    server.emplace_back("idle_cpu_share", (held.cpu_s - after.cpu_s) / o.hold_s);
    out.emplace_back("server", Value(std::move(server)));
    out.emplace_back("load_cpu_share", cpu_share(own0, own1, hold_s));
    out.emplace_back("reconnects", static_cast<double>(e.stats().reconnects));
    out.emplace_back("subprotocol", subprotocol);
    out.emplace_back("server_rebase", server_rebase());
    out.emplace_back("valid", e.failed == 0);
  } else {
    for (auto& c : e.clients) {
      if (c->failed) continue;
      double phase = std::uniform_real_distribution<double>(0, 1.0 / o.rate)(c->rng);
      c->timer.expires_after(
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(phase)));
      c->timer.async_wait([c = c.get()](boost::system::error_code ec) {
        if (!ec) c->tick();
      });
    }
    run_until(
        e, [] { return false; }, o.warmup_s);
    ProcSample w0 = read_proc(o.server_pids);
    double own0 = own_cpu_s();
    client::ClientStats s0 = e.stats();
    e.phase = Engine::Phase::window;
    auto window_start = Clock::now();
    run_until(
        e, [] { return false; }, o.duration_s);
    e.phase = Engine::Phase::drain;
    ProcSample w1 = read_proc(o.server_pids);
    double own1 = own_cpu_s();
    client::ClientStats s1 = e.stats();
    double window_s = std::chrono::duration<double>(Clock::now() - window_start).count();
    run_until(
        e, [&] { return e.settled(); }, o.drain_s);
    // Let the last broadcasts arrive, then compare every client with the server.
    run_until(
        e, [] { return false; }, 0.5);
    bool valid = e.settled() && e.failed == 0;
    int mismatches = 0;
    std::map<int, std::pair<int64_t, std::string>> server_docs;
    for (int r = 0; r < o.rooms; ++r) {
      auto room = server_room(e, o.room_prefix + "-" + std::to_string(r));
      if (!room) {
        valid = false;
        continue;
      }
      server_docs[r] = *room;
    }
    for (auto& c : e.clients) {
      auto it = server_docs.find(c->room_index);
      auto snap = c->client->room(c->room);
      if (c->failed || it == server_docs.end() || !snap || !snap->doc ||
          snap->version != it->second.first || snap->doc->to_json_string() != it->second.second)
        ++mismatches;
    }
    if (mismatches) valid = false;
    for (auto& [k, p] : e.registry)
      if (p.counted) ++e.incomplete;
    client::ClientStats end = e.stats();
    auto window = [&](int64_t client::SessionStats::*field) {
      return static_cast<double>(s1.rooms.*field - s0.rooms.*field);
    };
    double accepted = window(&client::SessionStats::steps_confirmed);
    double conflicts = window(&client::SessionStats::version_conflicts);
    json::Object ops;
    ops.emplace_back("offered_per_s", o.rooms * o.clients_per_room * o.rate);
    ops.emplace_back("sent_per_s", e.made / window_s);
    ops.emplace_back("accepted_per_s", accepted / window_s);
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
    out.emplace_back("conflicts", conflicts);
    out.emplace_back("conflicts_per_s", conflicts / window_s);
    out.emplace_back("rejections", window(&client::SessionStats::rejections));
    out.emplace_back("resyncs", static_cast<double>(end.rooms.resyncs));
    out.emplace_back("errors", static_cast<double>(e.errors));
    json::Object server;
    double cpu = w1.cpu_s - w0.cpu_s;
    server.emplace_back("cpu_s", cpu);
    server.emplace_back("cpu_share", cpu / window_s);
    server.emplace_back("cpu_ms_per_op", accepted ? cpu * 1000 / accepted : 0.0);
    // The split, in microseconds per accepted op: the server's own work (user) and the
    // kernel's on its behalf (system: sockets, wake-ups, fsync).
    server.emplace_back("user_us_per_op",
                        accepted ? (w1.user_s - w0.user_s) * 1e6 / accepted : 0.0);
    server.emplace_back("sys_us_per_op", accepted ? (w1.sys_s - w0.sys_s) * 1e6 / accepted : 0.0);
    server.emplace_back("rss_kib", w1.rss_kib);
    server.emplace_back("peak_rss_kib", w1.hwm_kib);
    out.emplace_back("server", Value(std::move(server)));
    out.emplace_back("mismatched_clients", mismatches);
    out.emplace_back("load_cpu_share", cpu_share(own0, own1, window_s));
    out.emplace_back("resends", window(&client::SessionStats::resends));
    out.emplace_back("dropped_steps", static_cast<double>(end.rooms.dropped_steps));
    out.emplace_back("reconnects", static_cast<double>(end.reconnects));
    out.emplace_back("subprotocol", subprotocol);
    out.emplace_back("server_rebase", server_rebase());
    out.emplace_back("rebased_batches", window(&client::SessionStats::server_rebased));
    out.emplace_back("valid", valid);
  }
  Value result(std::move(out));
  std::cout << json::stringify(result) << std::endl;
  e.phase = Engine::Phase::done;
  for (auto& c : e.clients) {
    c->timer.cancel();
    c->client->close();
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
      "Scenarios: --scenario typing-1x10 | typing-100x5 | hot-room | hot-room-2k |\n"
      "hot-room-5k | idle-5k sets rooms, clients and rates (typing-*, hot-room and idle-5k\n"
      "as in ../shared/bench). The clients ask for the server-side rebase extension unless\n"
      "--no-server-rebase.");
  cmd->add_option("--target", o->targets,
                  "WebSocket URL of the server; repeated (the nodes of a cluster), the clients "
                  "are spread over them in turn")
      ->capture_default_str();
  cmd->add_option("--scenario", o->scenario,
                  "typing-1x10, typing-100x5, hot-room, hot-room-2k, hot-room-5k or idle-5k");
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
                  "Spread connections over this many source addresses 127.0.0.2, 127.0.0.3, ...")
      ->capture_default_str();
  cmd->add_option("--connections", o->connections,
                  "Connections in all (0: rooms x clients per room); with a scenario, the rooms "
                  "grow to hold them, e.g. --scenario idle-5k --connections 20000");
  cmd->add_flag("--binary", o->binary, "Speak the binary subprotocol realtime-pm.bin.v1");
  cmd->add_flag("--no-server-rebase", o->no_server_rebase,
                "Do not ask for the server-side rebase extension: protocol version 1, where a late "
                "batch is refused (version_conflict) and the client rebases and resends it");
  cmd->add_option("--server-pid", o->server_pids,
                  "PID of the server, for CPU and memory readings; repeated, their sum (the "
                  "nodes of a cluster and Redis)");
  cmd->add_option("--room-prefix", o->room_prefix, "Room name prefix")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Random seed")->capture_default_str();
  cmd->callback([o] {
    LoadOptions opts = *o;
    if (opts.targets.empty()) opts.targets = {opts.target};
    opts.target = opts.targets.front();
    if (opts.scenario == "typing-1x10") {
      opts.rooms = 1, opts.clients_per_room = 10, opts.rate = 5;
    } else if (opts.scenario == "typing-100x5") {
      opts.rooms = 100, opts.clients_per_room = 5, opts.rate = 2;
    } else if (opts.scenario == "hot-room") {
      opts.rooms = 1, opts.clients_per_room = 50, opts.rate = 10;
    } else if (opts.scenario == "hot-room-2k") {
      opts.rooms = 1, opts.clients_per_room = 100, opts.rate = 20;
    } else if (opts.scenario == "hot-room-5k") {
      opts.rooms = 1, opts.clients_per_room = 100, opts.rate = 50;
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
