// The document API and the webhooks of docs/api.md against the real `realtime-pm serve` binary:
// every endpoint's answers and errors (over the SQLite store in a temporary folder and, where
// the test is independent of durability, over the memory store), what members joined over
// raw WebSockets see of API edits, the history's retention, a restart on the same data folder,
// access with the API token and with user tokens, and webhook deliveries to a receiver on a
// thread of the test (signatures recomputed with OpenSSL, retries, the metrics). Documents are
// ProseMirror JSON written out by hand; the expected ones are computed by hand too.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "apps/realtime-pm/serve_test_support.h"
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rtpm/testing/server_process.h"

namespace rtpm::testing {
namespace {

using json::Value;
using namespace std::chrono_literals;

constexpr const char* kEmptyDoc = R"({"type":"doc","content":[{"type":"paragraph"}]})";
constexpr const char* kApiToken = "api-token-0123456789abcdef";
constexpr const char* kHookSecret = "a-webhook-secret-of-32-bytes-ok!";

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// A paragraph holding `text` (none when empty), as Node.toJSON() writes it.
std::string para(const std::string& text) {
  if (text.empty()) return R"({"type":"paragraph"})";
  return R"({"type":"paragraph","content":[{"type":"text","text":")" + text + "\"}]}";
}

/// A document of the given blocks (JSON texts).
std::string doc_of(const std::vector<std::string>& blocks) {
  std::string out = R"({"type":"doc","content":[)";
  for (size_t i = 0; i < blocks.size(); ++i) out += (i ? "," : "") + blocks[i];
  return out + "]}";
}

/// A `replace` step deleting from..to.
std::string delete_step(int from, int to) {
  return R"({"stepType":"replace","from":)" + std::to_string(from) + R"(,"to":)" +
         std::to_string(to) + "}";
}

/// The elements of a JSON array field (empty when missing).
std::vector<Value> items(const Value& v, const char* key) {
  const Value* f = v.find(key);
  if (!f || !f->is_array()) return {};
  return f->as_array();
}

std::string field_text(const Value& v, const char* key) {
  const Value* f = v.find(key);
  return f ? json::stringify(*f) : "<missing>";
}

/// Lowercase hex HMAC-SHA256 of `data` keyed with `key`.
std::string hmac_sha256_hex(const std::string& key, const std::string& data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex += kDigits[mac[i] >> 4];
    hex += kDigits[mac[i] & 0xf];
  }
  return hex;
}

/// A webhook receiver: an HTTP server on a free loopback port, on its own thread, that records
/// every request and answers it with the status `status_for` chooses (200 by default).
class HookReceiver {
 public:
  struct Request {
    std::string request_line;                    // "POST /hook HTTP/1.1"
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
    int answered = 0;  // the status it was answered with
  };

  HookReceiver() {
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
      throw std::runtime_error("cannot listen for the webhook receiver");
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~HookReceiver() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }
  HookReceiver(const HookReceiver&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  /// Chooses the answer's status for each request (the number of requests before it, the
  /// request); set before the server starts.
  void set_status(std::function<int(size_t, const Request&)> f) {
    std::lock_guard lock(mutex_);
    status_for_ = std::move(f);
  }
  std::vector<Request> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  /// The parsed bodies of the requests about `room` (all when empty), in order of arrival.
  std::vector<Value> events(const std::string& room = "") const {
    std::vector<Value> out;
    for (const Request& r : requests()) {
      auto v = json::parse(r.body);
      if (v && v->is_object() && (room.empty() || str_field(*v, "room") == room)) out.push_back(*v);
    }
    return out;
  }
  /// The events of `room` named `event`.
  std::vector<Value> events(const std::string& room, const std::string& event) const {
    std::vector<Value> out;
    for (const Value& v : events(room))
      if (str_field(v, "event") == event) out.push_back(v);
    return out;
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

  // One request with a Content-Length body; nullopt when it does not come whole.
  static std::optional<Request> read_request(int fd) {
    std::string in;
    size_t end;
    while ((end = in.find("\r\n\r\n")) == std::string::npos)
      if (!read_more(fd, in)) return std::nullopt;
    Request req;
    std::istringstream lines(in.substr(0, end));
    std::string line;
    std::getline(lines, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    req.request_line = line;
    while (std::getline(lines, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      size_t v = line.find_first_not_of(' ', colon + 1);
      req.headers[name] = v == std::string::npos ? "" : line.substr(v);
    }
    std::string rest = in.substr(end + 4);
    size_t length =
        req.headers.count("content-length") ? std::stoul(req.headers["content-length"]) : 0;
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
    int status = 200;
    {
      std::lock_guard lock(mutex_);
      if (status_for_) status = status_for_(requests_.size(), *req);
      req->answered = status;
      requests_.push_back(*req);
    }
    std::string out = "HTTP/1.1 " + std::to_string(status) +
                      " X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    ::close(fd);
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<Request> requests_;
  std::function<int(size_t, const Request&)> status_for_;
};

class ServeApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "rtpm-api-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    server_.reset();
    hooks_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  /// Writes `content` to `name` in the test's folder; returns the path.
  std::string file(const std::string& name, const std::string& content) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  /// The server over `store` (sqlite: the database in the test's folder `data`).
  void start(std::vector<std::string> args = {}, const std::string& store = "sqlite") {
    std::filesystem::create_directories(dir_ + "/data");
    args.insert(args.begin(), {"--store", store});
    server_ = std::make_unique<ServerProcess>(RTPM_BINARY, std::move(args), dir_ + "/data");
    server_->start();
  }
  uint16_t port() const { return server_->port(); }

  /// One request; `token` is sent as a bearer token when given.
  HttpResponse call(const std::string& method, const std::string& target,
                    const std::string& body = "", const std::string& token = "") {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    return http_request(port(), method, target, body, headers);
  }
  HttpResponse get(const std::string& target, const std::string& token = "") {
    return call("GET", target, "", token);
  }
  /// PUT /api/rooms/ROOM {"doc": doc `extra`}.
  HttpResponse put_doc(const std::string& room, const std::string& doc,
                       const std::string& extra = "", const std::string& token = "") {
    return call("PUT", "/api/rooms/" + room, R"({"doc":)" + doc + extra + "}", token);
  }
  /// POST /api/rooms/ROOM/steps.
  HttpResponse post_steps(const std::string& room, int64_t version, const std::string& user,
                          const std::string& steps, const std::string& token = "") {
    return call("POST", "/api/rooms/" + room + "/steps",
                R"({"version":)" + std::to_string(version) + R"(,"userId":")" + user +
                    R"(","steps":)" + steps + "}",
                token);
  }
  /// The JSON answer, expecting `status`.
  Value answer(const HttpResponse& res, int status, const std::string& why) {
    EXPECT_EQ(res.status, status) << why << ": " << res.body;
    auto v = json::parse(res.body);
    EXPECT_TRUE(v && v->is_object()) << why << ": not a JSON object: " << res.body;
    return v && v->is_object() ? *v : Value(json::Object{});
  }
  /// Expects an error answer: `status` and {"code": code, "message": ...}; returns it.
  Value expect_error(const HttpResponse& res, int status, const std::string& code,
                     const std::string& why) {
    Value v = answer(res, status, why);
    EXPECT_EQ(str_field(v, "code"), code) << why << ": " << res.body;
    EXPECT_FALSE(str_field(v, "message").empty()) << why << ": " << res.body;
    EXPECT_EQ(res.headers.count("content-type") ? res.headers.at("content-type") : "",
              "application/json")
        << why;
    return v;
  }
  /// The room's version after a successful write answer.
  int64_t written(const HttpResponse& res, const std::string& why) {
    return num_field(answer(res, 200, why), "version");
  }
  /// The document JSON text of GET /api/rooms/ROOM`query` (expects 200).
  std::string doc_text(const std::string& room, const std::string& query = "") {
    auto res = get("/api/rooms/" + room + query);
    EXPECT_EQ(res.status, 200) << room << query << ": " << res.body;
    if (res.status != 200) return "<" + std::to_string(res.status) + ">";
    return field_text(parse(res.body), "doc");
  }
  int64_t version_of(const std::string& room) {
    auto res = get("/api/rooms/" + room);
    EXPECT_EQ(res.status, 200) << res.body;
    return res.status == 200 ? num_field(parse(res.body), "version") : -1;
  }

  std::unique_ptr<WsClient> member(const std::string& room, const std::string& user) {
    auto c = std::make_unique<WsClient>(port());
    c->send(join_msg(room, user));
    auto state = c->recv_type("state");
    EXPECT_TRUE(state) << "no state for " << user;
    return c;
  }

  std::string dir_;
  std::unique_ptr<HookReceiver> hooks_;  // before server_: the server stops first
  std::unique_ptr<ServerProcess> server_;
};

/// The same test over each store.
class ServeApiStoreTest : public ServeApiTest, public ::testing::WithParamInterface<const char*> {
 protected:
  void start(std::vector<std::string> args = {}) {
    ServeApiTest::start(std::move(args), GetParam());
  }
};

INSTANTIATE_TEST_SUITE_P(Stores, ServeApiStoreTest, ::testing::Values("sqlite", "memory"));

// ---- reading and writing documents ----

TEST_P(ServeApiStoreTest, PutCreatesTheRoomAndGetReadsIt) {
  start();
  Value missing = expect_error(get("/api/rooms/notes"), 404, "not_found", "unknown room");
  EXPECT_EQ(json::stringify(missing).find("doc"), std::string::npos);
  std::string two = doc_of({para("a"), para("b")});
  EXPECT_EQ(written(put_doc("notes", two), "PUT creates"), 1);
  Value room = answer(get("/api/rooms/notes"), 200, "GET");
  EXPECT_EQ(str_field(room, "room"), "notes");
  EXPECT_EQ(num_field(room, "version"), 1);
  EXPECT_EQ(field_text(room, "doc"), two);
  auto text = get("/api/rooms/notes?format=text");
  EXPECT_EQ(text.status, 200);
  EXPECT_EQ(text.body, "a\n\nb");
  EXPECT_EQ(text.headers["content-type"], "text/plain; charset=utf-8");
  auto as_json = get("/api/rooms/notes?format=json");
  EXPECT_EQ(as_json.status, 200);
  EXPECT_EQ(field_text(parse(as_json.body), "doc"), two);
  // HEAD answers what GET does, without the body.
  auto head = call("HEAD", "/api/rooms/notes");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.headers["content-length"], std::to_string(get("/api/rooms/notes").body.size()));
  EXPECT_EQ(head.body, "");

  // textBetween(0, size, "\n\n"): a separator before every textblock but the first (empty ones
  // too), none for a leaf block without text (horizontal_rule) or a container (blockquote), and
  // nothing for an inline leaf without leafText (hard_break).
  std::string mixed =
      doc_of({para("a"), R"({"type":"horizontal_rule"})",
              R"({"type":"blockquote","content":[)" + para("b") + "," + para("") + "]}",
              R"({"type":"paragraph","content":[{"type":"text","text":"c"},{"type":"hard_break"},)"
              R"({"type":"text","text":"d"}]})"});
  EXPECT_EQ(written(put_doc("notes", mixed), "PUT replaces"), 2);
  EXPECT_EQ(doc_text("notes"), mixed);
  EXPECT_EQ(get("/api/rooms/notes?format=text").body, "a\n\nb\n\n\n\ncd");

  // Old versions, as JSON and as text; 404 ahead of the room.
  EXPECT_EQ(doc_text("notes", "?version=0"), kEmptyDoc);
  EXPECT_EQ(doc_text("notes", "?version=1"), two);
  EXPECT_EQ(num_field(parse(get("/api/rooms/notes?version=1").body), "version"), 1);
  EXPECT_EQ(get("/api/rooms/notes?version=1&format=text").body, "a\n\nb");
  EXPECT_EQ(doc_text("notes", "?version=2"), mixed);
  expect_error(get("/api/rooms/notes?version=3"), 404, "not_found", "a version ahead");
  expect_error(get("/api/rooms/notes?version=x"), 400, "bad_message", "a version not a number");
  expect_error(get("/api/rooms/notes?format=xml"), 400, "bad_message", "an unknown format");
  expect_error(get("/api/rooms/nope?version=0"), 404, "not_found", "version of an unknown room");

  // The same document again changes nothing.
  EXPECT_EQ(written(put_doc("notes", mixed), "PUT of the same document"), 2);
  EXPECT_EQ(version_of("notes"), 2);
  // Bad JSON, a body that is no object, a doc that is no object, a bad userId: 400.
  expect_error(call("PUT", "/api/rooms/notes", "{"), 400, "bad_message", "PUT of bad JSON");
  expect_error(call("PUT", "/api/rooms/notes", "[1]"), 400, "bad_message", "PUT of an array");
  expect_error(call("PUT", "/api/rooms/notes", R"({"doc":"a"})"), 400, "bad_message",
               "doc not an object");
  expect_error(put_doc("notes", two, R"(,"userId":"")"), 400, "bad_message", "empty userId");
  // A document the schema refuses: 422, and nothing changes.
  expect_error(put_doc("notes", doc_of({R"({"type":"paragraph","content":[)" + para("x") + "]}"})),
               422, "invalid_steps", "a paragraph in a paragraph");
  expect_error(put_doc("notes", R"({"type":"doc","content":[]})"), 422, "invalid_steps",
               "an empty doc");
  expect_error(put_doc("notes", doc_of({R"({"type":"nope"})"})), 422, "invalid_steps",
               "an unknown node type");
  EXPECT_EQ(version_of("notes"), 2);
  EXPECT_EQ(doc_text("notes"), mixed);
  // A refused PUT does not create its room; an accepted one equal to the first document does.
  expect_error(put_doc("never", R"({"type":"doc","content":[]})"), 422, "invalid_steps",
               "refused PUT of a new room");
  expect_error(get("/api/rooms/never"), 404, "not_found", "a refused PUT created the room");
  EXPECT_EQ(written(put_doc("plain", kEmptyDoc), "PUT of the first document"), 0);
  EXPECT_EQ(doc_text("plain"), kEmptyDoc);
  // Percent-encoded names.
  EXPECT_EQ(written(put_doc("a%2Fb", two), "PUT a/b"), 1);
  EXPECT_EQ(str_field(parse(get("/api/rooms/a%2Fb").body), "room"), "a/b");
}

TEST_P(ServeApiStoreTest, PostStepsAnswersEveryError) {
  start({"--max-steps-per-message", "10"});
  EXPECT_EQ(written(put_doc("r", doc_of({para("ab")})), "PUT"), 1);
  // "ab" is at 1..3: insert "X" between them.
  EXPECT_EQ(written(post_steps("r", 1, "bot", "[" + insert_step(2, "X") + "]"), "POST"), 2);
  EXPECT_EQ(doc_text("r"), doc_of({para("aXb")}));
  // A stale version: 409 with the room's version; nothing applied.
  Value stale = expect_error(post_steps("r", 1, "bot", "[" + insert_step(1, "Y") + "]"), 409,
                             "version_conflict", "stale version");
  EXPECT_EQ(num_field(stale, "version"), 2);
  Value ahead = expect_error(post_steps("r", 7, "bot", "[" + insert_step(1, "Y") + "]"), 409,
                             "version_conflict", "version ahead");
  EXPECT_EQ(num_field(ahead, "version"), 2);
  // The second step does not apply: 422 naming index 1; the first is not applied either.
  Value invalid = expect_error(
      post_steps("r", 2, "bot", "[" + insert_step(1, "Y") + "," + insert_step(99, "Z") + "]"), 422,
      "invalid_steps", "second step out of the document");
  EXPECT_EQ(num_field(invalid, "index"), 1);
  invalid =
      expect_error(post_steps("r", 2, "bot",
                              "[" + insert_step(1, "Y") + "," + insert_step(2, "Y") + "," +
                                  R"({"stepType":"replace","from":1,"to":2,"slice":{"content":[)" +
                                  para("p") + R"(]}}])"),
                   422, "invalid_steps", "third step puts a paragraph into a paragraph");
  EXPECT_EQ(num_field(invalid, "index"), 2);
  invalid = expect_error(post_steps("r", 2, "bot", R"([{"stepType":"nope"}])"), 422,
                         "invalid_steps", "unknown step type");
  EXPECT_EQ(num_field(invalid, "index"), 0);
  EXPECT_EQ(version_of("r"), 2);
  EXPECT_EQ(doc_text("r"), doc_of({para("aXb")}));
  // Bad bodies: 400.
  expect_error(call("POST", "/api/rooms/r/steps", "not json"), 400, "bad_message", "bad JSON");
  expect_error(call("POST", "/api/rooms/r/steps", R"({"version":2,"userId":"bot","steps":{}})"),
               400, "bad_message", "steps not an array");
  expect_error(call("POST", "/api/rooms/r/steps", R"({"version":2,"steps":[]})"), 400,
               "bad_message", "no userId");
  expect_error(call("POST", "/api/rooms/r/steps", R"({"version":-1,"userId":"b","steps":[]})"), 400,
               "bad_message", "negative version");
  expect_error(call("POST", "/api/rooms/r/steps", R"({"version":1.5,"userId":"b","steps":[]})"),
               400, "bad_message", "fractional version");
  // An empty batch on the current version answers it.
  EXPECT_EQ(written(post_steps("r", 2, "bot", "[]"), "no steps"), 2);
  // Too many steps: 413; as many as allowed: applied.
  std::string ten = "[", eleven;
  for (int i = 0; i < 10; ++i) ten += (i ? "," : "") + insert_step(1, "s");
  eleven = ten + "," + insert_step(1, "s") + "]";
  ten += "]";
  expect_error(post_steps("r", 2, "bot", eleven), 413, "message_too_large", "11 steps");
  EXPECT_EQ(version_of("r"), 2);
  EXPECT_EQ(written(post_steps("r", 2, "bot", ten), "10 steps"), 12);
  // An unknown room: 404 (POST .../steps does not create rooms).
  expect_error(post_steps("nope", 0, "bot", "[" + insert_step(1, "x") + "]"), 404, "not_found",
               "steps to an unknown room");
  expect_error(get("/api/rooms/nope"), 404, "not_found", "POST steps created the room");
  // Unknown endpoints and methods.
  expect_error(get("/api/rooms/r/nothing"), 404, "not_found", "unknown endpoint");
  EXPECT_EQ(call("PATCH", "/api/rooms/r", "{}").status, 405);
}

TEST_F(ServeApiTest, BodiesOverOneMebibyteAre413) {
  start();
  // A body of exactly 1 MiB is read (and the document written); one byte more is 413.
  const std::string head = R"({"doc":{"type":"doc","content":[{"type":"paragraph","content":[)"
                           R"({"type":"text","text":")";
  const std::string tail = R"("}]}]}})";
  std::string body = head + std::string((1 << 20) - head.size() - tail.size(), 'x') + tail;
  ASSERT_EQ(body.size(), size_t{1} << 20);
  EXPECT_EQ(written(call("PUT", "/api/rooms/big", body), "a body of 1 MiB"), 1);
  body.insert(head.size(), "x");
  RawSocket s(port());
  try {
    s.send("PUT /api/rooms/big HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body);
  } catch (const std::runtime_error&) {
    // The server may answer and close before it has read the whole body.
  }
  auto res = s.read_response();
  ASSERT_TRUE(res) << "no answer to a body of 1 MiB + 1 byte";
  EXPECT_EQ(res->status, 413);
  EXPECT_EQ(version_of("big"), 1);
  // POST .../steps too.
  std::string steps_body =
      R"({"version":1,"userId":"bot","steps":[)" + insert_step(1, std::string(1 << 20, 'y')) + "]}";
  RawSocket t(port());
  try {
    t.send("POST /api/rooms/big/steps HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " +
           std::to_string(steps_body.size()) + "\r\n\r\n" + steps_body);
  } catch (const std::runtime_error&) {
  }
  res = t.read_response();
  ASSERT_TRUE(res) << "no answer to steps over 1 MiB";
  EXPECT_EQ(res->status, 413);
  EXPECT_EQ(version_of("big"), 1);
}

// ---- the history ----

TEST_P(ServeApiStoreTest, VersionsAreReadableFromTheOldestKeptSnapshotOn) {
  // 32 steps with --history 5 --snapshot-every 5: the history keeps the steps after version 27
  // and back to the snapshot before them, version 25 (docs/api.md, "Retention").
  // A member keeps the room loaded: a room unloaded after each request would be snapshotted at
  // each unload, and the snapshots would not fall every 5 steps.
  start({"--history", "5", "--snapshot-every", "5"});
  EXPECT_EQ(written(put_doc("h", kEmptyDoc), "PUT"), 0);
  auto watcher = member("h", "watcher");
  for (int v = 0; v < 32; ++v) {
    ASSERT_EQ(written(post_steps("h", v, "typist", "[" + insert_step(1, "x") + "]"), "step"),
              v + 1);
    if (v + 1 == 3) {
      auto named = call("POST", "/api/rooms/h/versions", R"({"name":"three"})");
      ASSERT_EQ(named.status, 201) << named.body;
    }
  }
  auto x = [](int n) { return doc_of({para(std::string(n, 'x'))}); };
  EXPECT_EQ(doc_text("h"), x(32));
  for (int v : {0, 3, 10, 20, 24})
    expect_error(get("/api/rooms/h?version=" + std::to_string(v)), 404, "not_found",
                 "version " + std::to_string(v) + " is older than the kept history");
  for (int v = 25; v <= 32; ++v) {
    EXPECT_EQ(doc_text("h", "?version=" + std::to_string(v)), x(v)) << "version " << v;
    EXPECT_EQ(get("/api/rooms/h?format=text&version=" + std::to_string(v)).body,
              std::string(v, 'x'));
  }
  Value old = expect_error(get("/api/rooms/h?version=24"), 404, "not_found", "too old");
  Value ahead = expect_error(get("/api/rooms/h?version=33"), 404, "not_found", "ahead");
  EXPECT_NE(str_field(old, "message"), str_field(ahead, "message"))
      << "the message says which: " << json::stringify(old) << " " << json::stringify(ahead);
  // Steps: from the snapshot on; since before it or ahead of the room is 404.
  Value steps = answer(get("/api/rooms/h/steps?since=25"), 200, "steps since 25");
  ASSERT_EQ(items(steps, "steps").size(), 7u);
  EXPECT_EQ(num_field(items(steps, "steps")[0], "version"), 25);
  expect_error(get("/api/rooms/h/steps?since=24"), 404, "not_found", "steps since 24");
  expect_error(get("/api/rooms/h/steps"), 404, "not_found", "steps since 0 (the default)");
  expect_error(get("/api/rooms/h/steps?since=33"), 404, "not_found", "steps since 33");
  EXPECT_EQ(items(answer(get("/api/rooms/h/steps?since=32"), 200, "since 32"), "steps").size(), 0u);
  // Restore: a version outside the history is 404 unless it is named (it keeps its document).
  expect_error(call("POST", "/api/rooms/h/versions/20/restore"), 404, "not_found",
               "restore of version 20");
  expect_error(call("POST", "/api/rooms/h/versions/40/restore"), 404, "not_found",
               "restore of version 40");
  EXPECT_EQ(version_of("h"), 32);
  EXPECT_EQ(written(call("POST", "/api/rooms/h/versions/3/restore"), "restore named 3"), 33);
  EXPECT_EQ(doc_text("h"), x(3));
  EXPECT_EQ(written(call("POST", "/api/rooms/h/versions/26/restore"), "restore 26"), 34);
  EXPECT_EQ(doc_text("h"), x(26));
  // Revert from a version before the history: 404.
  expect_error(call("POST", "/api/rooms/h/revert", R"({"userId":"typist","from":10,"to":30})"), 404,
               "not_found", "revert from 10");
}

// ---- edits seen live by members ----

TEST_P(ServeApiStoreTest, PostedStepsArriveLiveAtMembers) {
  start();
  EXPECT_EQ(written(put_doc("live", doc_of({para("hi")})), "PUT"), 1);
  auto m1 = member("live", "m1");
  auto m2 = member("live", "m2");
  std::string steps = "[" + insert_step(3, "!") + "]";
  EXPECT_EQ(written(post_steps("live", 1, "importer", steps), "POST"), 2);
  for (WsClient* m : {m1.get(), m2.get()}) {
    auto s = m->recv_type("steps");
    ASSERT_TRUE(s);
    EXPECT_EQ(str_field(*s, "userId"), "importer");
    EXPECT_EQ(num_field(*s, "version"), 1);
    EXPECT_EQ(str_field(*s, "room"), "live");
    EXPECT_EQ(field_text(*s, "steps"), steps);
  }
  // A member's userId: 409 forbidden, nothing applied and nothing sent.
  expect_error(post_steps("live", 2, "m1", "[" + insert_step(1, "?") + "]"), 409, "forbidden",
               "steps as a member");
  expect_error(put_doc("live", doc_of({para("taken over")}), R"(,"userId":"m2")"), 409, "forbidden",
               "PUT as a member");
  EXPECT_EQ(version_of("live"), 2);
  EXPECT_EQ(doc_text("live"), doc_of({para("hi!")}));
  // A PUT is one step from its userId, seen by both; the next steps each member gets are it.
  EXPECT_EQ(written(put_doc("live", doc_of({para("hi!"), para("more")}), R"(,"userId":"loader")"),
                    "PUT as loader"),
            3);
  for (WsClient* m : {m1.get(), m2.get()}) {
    auto s = m->recv_type("steps");
    ASSERT_TRUE(s);
    EXPECT_EQ(str_field(*s, "userId"), "loader");
    EXPECT_EQ(num_field(*s, "version"), 2);
    EXPECT_EQ(items(*s, "steps").size(), 1u);
  }
  // A member's own steps are acked to it and seen by the other; the API reads them.
  m1->send(steps_msg("live", "m1", 3, "[" + insert_step(1, "A") + "]"));
  auto ack = m1->recv_type("ack");
  ASSERT_TRUE(ack);
  EXPECT_EQ(num_field(*ack, "version"), 4);
  EXPECT_EQ(doc_text("live"), doc_of({para("Ahi!"), para("more")}));
  // Once m1 has left, its userId may write through the API.
  m1->send(R"({"type":"leave","room":"live","userId":"m1"})");
  EXPECT_TRUE(m2->recv_type("leave"));
  EXPECT_EQ(written(post_steps("live", 4, "m1", "[" + insert_step(1, "B") + "]"), "m1 after leave"),
            5);
}

TEST_P(ServeApiStoreTest, StepsNameTheirAuthorsAndTimesAndPage) {
  start();
  int64_t t0 = now_ms();
  EXPECT_EQ(written(put_doc("log", doc_of({para("")})), "PUT"), 0);
  EXPECT_EQ(written(put_doc("log", doc_of({para("a")})), "PUT"), 1);  // by "api"
  auto alice = member("log", "alice");
  std::string alice_steps = "[" + insert_step(2, "b") + "," + insert_step(3, "c") + "]";
  alice->send(steps_msg("log", "alice", 1, alice_steps));
  auto ack = alice->recv_type("ack");
  ASSERT_TRUE(ack);
  EXPECT_EQ(num_field(*ack, "version"), 3);
  EXPECT_EQ(written(post_steps("log", 3, "bot", "[" + insert_step(4, "d") + "]"), "bot"), 4);
  EXPECT_EQ(written(put_doc("log", doc_of({para("abcde")}), R"(,"userId":"writer")"), "writer"), 5);
  int64_t t1 = now_ms();
  Value all = answer(get("/api/rooms/log/steps"), 200, "all steps");
  EXPECT_EQ(str_field(all, "room"), "log");
  EXPECT_EQ(num_field(all, "version"), 5);
  std::vector<Value> steps = items(all, "steps");
  ASSERT_EQ(steps.size(), 5u) << json::stringify(all);
  const std::vector<std::string> authors = {"api", "alice", "alice", "bot", "writer"};
  for (size_t i = 0; i < steps.size(); ++i) {
    EXPECT_EQ(num_field(steps[i], "version"), static_cast<int64_t>(i));
    EXPECT_EQ(str_field(steps[i], "userId"), authors[i]) << i;
    int64_t time = num_field(steps[i], "time");
    EXPECT_GE(time, t0) << i;
    EXPECT_LE(time, t1) << i;
    if (i > 0) {
      EXPECT_GE(time, num_field(steps[i - 1], "time")) << i;
    }
  }
  EXPECT_EQ(field_text(steps[1], "step"), insert_step(2, "b"));
  EXPECT_EQ(field_text(steps[2], "step"), insert_step(3, "c"));
  EXPECT_EQ(field_text(steps[3], "step"), insert_step(4, "d"));
  // Pages: since = the last entry's version + 1.
  std::vector<int64_t> seen;
  int64_t since = 0;
  for (int page = 0; page < 10; ++page) {
    Value p = answer(get("/api/rooms/log/steps?since=" + std::to_string(since) + "&limit=2"), 200,
                     "page");
    std::vector<Value> entries = items(p, "steps");
    EXPECT_LE(entries.size(), 2u);
    if (entries.empty()) break;
    for (const Value& e : entries) seen.push_back(num_field(e, "version"));
    since = num_field(entries.back(), "version") + 1;
  }
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  Value from3 = answer(get("/api/rooms/log/steps?since=3&limit=1"), 200, "since 3");
  ASSERT_EQ(items(from3, "steps").size(), 1u);
  EXPECT_EQ(str_field(items(from3, "steps")[0], "userId"), "bot");
  EXPECT_EQ(items(answer(get("/api/rooms/log/steps?since=5"), 200, "since 5"), "steps").size(), 0u);
  expect_error(get("/api/rooms/log/steps?since=6"), 404, "not_found", "since ahead");
  expect_error(get("/api/rooms/log/steps?limit=0"), 400, "bad_message", "limit 0");
  expect_error(get("/api/rooms/log/steps?limit=10001"), 400, "bad_message", "limit 10001");
  expect_error(get("/api/rooms/log/steps?since=-1"), 400, "bad_message", "since -1");
  expect_error(get("/api/rooms/nope/steps"), 404, "not_found", "steps of an unknown room");
}

// ---- named versions and restore ----

TEST_P(ServeApiStoreTest, NamedVersionsAreAddedListedAndRestored) {
  start({"--max-named-versions", "2"});
  std::string v1 = doc_of({para("one")});
  EXPECT_EQ(written(put_doc("nv", v1), "PUT"), 1);
  int64_t t0 = now_ms();
  Value first =
      answer(call("POST", "/api/rooms/nv/versions", R"({"name":"first draft"})"), 201, "add first");
  int64_t t1 = now_ms();
  EXPECT_EQ(str_field(first, "name"), "first draft");
  EXPECT_EQ(num_field(first, "version"), 1);
  EXPECT_GE(num_field(first, "time"), t0);
  EXPECT_LE(num_field(first, "time"), t1);
  expect_error(call("POST", "/api/rooms/nv/versions", R"({"name":"first draft"})"), 409,
               "name_taken", "the same name again");
  std::string v2 = doc_of({para("one"), para("two")});
  EXPECT_EQ(written(put_doc("nv", v2), "PUT 2"), 2);
  Value second =
      answer(call("POST", "/api/rooms/nv/versions", R"({"name":"second"})"), 201, "add second");
  EXPECT_EQ(num_field(second, "version"), 2);
  expect_error(call("POST", "/api/rooms/nv/versions", R"({"name":"third"})"), 409,
               "too_many_versions", "a third with --max-named-versions 2");
  expect_error(call("POST", "/api/rooms/nv/versions", R"({"name":""})"), 400, "bad_message",
               "empty name");
  expect_error(
      call("POST", "/api/rooms/nv/versions", R"({"name":")" + std::string(257, 'n') + "\"}"), 400,
      "bad_message", "name of 257 bytes");
  expect_error(call("POST", "/api/rooms/nope/versions", R"({"name":"x"})"), 404, "not_found",
               "add to an unknown room");
  expect_error(get("/api/rooms/nope/versions"), 404, "not_found", "list of an unknown room");
  Value list = answer(get("/api/rooms/nv/versions"), 200, "list");
  EXPECT_EQ(str_field(list, "room"), "nv");
  std::vector<Value> versions = items(list, "versions");
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(json::stringify(versions[0]), json::stringify(first));
  EXPECT_EQ(json::stringify(versions[1]), json::stringify(second));

  // More edits, with a member watching.
  auto m = member("nv", "watcher");
  std::string v3 = doc_of({para("three")});
  EXPECT_EQ(written(put_doc("nv", v3), "PUT 3"), 3);
  EXPECT_EQ(written(post_steps("nv", 3, "bot", "[" + insert_step(1, "4") + "]"), "step 4"), 4);
  std::string at1 = doc_text("nv", "?version=1"), at3 = doc_text("nv", "?version=3");
  EXPECT_EQ(at1, v1);
  EXPECT_EQ(at3, v3);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(m->recv_type("steps"));

  // Restore the named version 1: one new change by "api", seen live.
  EXPECT_EQ(written(call("POST", "/api/rooms/nv/versions/1/restore"), "restore 1"), 5);
  EXPECT_EQ(doc_text("nv"), at1);
  auto live = m->recv_type("steps");
  ASSERT_TRUE(live);
  EXPECT_EQ(str_field(*live, "userId"), "api");
  EXPECT_EQ(num_field(*live, "version"), 4);
  // Restore the unnamed version 3 as "restorer".
  EXPECT_EQ(written(call("POST", "/api/rooms/nv/versions/3/restore", R"({"userId":"restorer"})"),
                    "restore 3"),
            6);
  EXPECT_EQ(doc_text("nv"), at3);
  live = m->recv_type("steps");
  ASSERT_TRUE(live);
  EXPECT_EQ(str_field(*live, "userId"), "restorer");
  EXPECT_EQ(num_field(*live, "version"), 5);
  // The history is not rewritten: old versions read as before.
  EXPECT_EQ(doc_text("nv", "?version=4"), doc_of({para("4three")}));
  EXPECT_EQ(doc_text("nv", "?version=5"), at1);
  // Restoring the current document changes nothing; a member's userId is refused.
  EXPECT_EQ(written(call("POST", "/api/rooms/nv/versions/6/restore"), "restore current"), 6);
  expect_error(call("POST", "/api/rooms/nv/versions/1/restore", R"({"userId":"watcher"})"), 409,
               "forbidden", "restore as a member");
  expect_error(call("POST", "/api/rooms/nv/versions/7/restore"), 404, "not_found",
               "restore ahead of the room");
  expect_error(call("POST", "/api/rooms/nv/versions/x/restore"), 404, "not_found",
               "restore of version x");
  expect_error(call("POST", "/api/rooms/nope/versions/0/restore"), 404, "not_found",
               "restore in an unknown room");
  EXPECT_EQ(version_of("nv"), 6);
}

// ---- revert ----

TEST_P(ServeApiStoreTest, RevertUndoesOneAuthorsSteps) {
  start();
  // "base" at 1..5. ann and bob take turns; reverting ann leaves bob's letters.
  EXPECT_EQ(written(put_doc("rv", doc_of({para("base")})), "PUT"), 1);
  EXPECT_EQ(written(post_steps("rv", 1, "ann", "[" + insert_step(5, "A1") + "]"), "ann 1"), 2);
  EXPECT_EQ(written(post_steps("rv", 2, "bob", "[" + insert_step(1, "B") + "]"), "bob 1"), 3);
  EXPECT_EQ(written(post_steps("rv", 3, "ann", "[" + insert_step(8, "A2") + "]"), "ann 2"), 4);
  EXPECT_EQ(written(post_steps("rv", 4, "bob", "[" + insert_step(6, "C") + "]"), "bob 2"), 5);
  EXPECT_EQ(doc_text("rv"), doc_of({para("BbaseCA1A2")}));
  auto watcher = member("rv", "watcher");
  Value reverted = answer(
      call("POST", "/api/rooms/rv/revert", R"({"userId":"ann","from":1,"to":5})"), 200, "revert");
  EXPECT_EQ(num_field(reverted, "version"), 7);
  EXPECT_EQ(field_text(reverted, "skipped"), "[]");
  EXPECT_EQ(doc_text("rv"), doc_of({para("BbaseC")}));
  // Ordinary steps: one change by "api", live, in the log.
  auto live = watcher->recv_type("steps");
  ASSERT_TRUE(live);
  EXPECT_EQ(str_field(*live, "userId"), "api");
  EXPECT_EQ(num_field(*live, "version"), 5);
  EXPECT_EQ(items(*live, "steps").size(), 2u);
  Value log = answer(get("/api/rooms/rv/steps?since=5"), 200, "steps of the revert");
  std::vector<Value> steps = items(log, "steps");
  ASSERT_EQ(steps.size(), 2u);
  for (const Value& s : steps) EXPECT_EQ(str_field(s, "userId"), "api");
  // ... so they can be undone in turn: reverting the revert brings ann's text back.
  Value undone = answer(call("POST", "/api/rooms/rv/revert", R"({"userId":"api","from":5,"to":7})"),
                        200, "undo");
  EXPECT_EQ(num_field(undone, "version"), 9);
  EXPECT_EQ(field_text(undone, "skipped"), "[]");
  EXPECT_EQ(doc_text("rv"), doc_of({para("BbaseCA1A2")}));

  // bob deleted the text of ann's first step (and a letter on each side of it): it is skipped,
  // her second is reverted. "base" -> ann "baXYse" -> ann "ZbaXYse" -> bob deletes "aXYs" (3..7)
  // -> "Zbe". (A deletion of exactly her text would map her inverse to an empty, applicable
  // step, as prosemirror-history does: only a step deleted across both ends is skipped.)
  EXPECT_EQ(written(put_doc("gone", doc_of({para("base")})), "PUT"), 1);
  EXPECT_EQ(written(post_steps("gone", 1, "ann", "[" + insert_step(3, "XY") + "]"), "ann"), 2);
  EXPECT_EQ(written(post_steps("gone", 2, "ann", "[" + insert_step(1, "Z") + "]"), "ann"), 3);
  EXPECT_EQ(written(post_steps("gone", 3, "bob", "[" + delete_step(3, 7) + "]"), "bob"), 4);
  EXPECT_EQ(doc_text("gone"), doc_of({para("Zbe")}));
  Value skipped = answer(
      call("POST", "/api/rooms/gone/revert", R"({"userId":"ann","from":1,"to":4})"), 200, "skip");
  EXPECT_EQ(num_field(skipped, "version"), 5);
  EXPECT_EQ(field_text(skipped, "skipped"), "[1]");
  EXPECT_EQ(doc_text("gone"), doc_of({para("be")}));
  // Nothing of ann's left to revert in a range of only bob's: no change.
  Value none = answer(call("POST", "/api/rooms/gone/revert", R"({"userId":"ann","from":3,"to":4})"),
                      200, "none");
  EXPECT_EQ(num_field(none, "version"), 5);
  EXPECT_EQ(field_text(none, "skipped"), "[]");

  // Errors: to ahead of the room 400, from > to 400, an unknown room 404.
  expect_error(call("POST", "/api/rooms/gone/revert", R"({"userId":"ann","from":1,"to":9})"), 400,
               "bad_message", "to ahead");
  expect_error(call("POST", "/api/rooms/gone/revert", R"({"userId":"ann","from":3,"to":2})"), 400,
               "bad_message", "from > to");
  expect_error(call("POST", "/api/rooms/gone/revert", R"({"from":1,"to":2})"), 400, "bad_message",
               "no userId");
  expect_error(call("POST", "/api/rooms/nope/revert", R"({"userId":"ann","from":0,"to":0})"), 404,
               "not_found", "unknown room");
  EXPECT_EQ(version_of("gone"), 5);
}

// ---- delete and list ----

TEST_P(ServeApiStoreTest, DeleteClosesTheRoomAndAJoinMakesAFreshOne) {
  start();
  EXPECT_EQ(written(put_doc("del", doc_of({para("doomed")})), "PUT"), 1);
  ASSERT_EQ(call("POST", "/api/rooms/del/versions", R"({"name":"v"})").status, 201);
  auto m = member("del", "m");
  Value deleted = answer(call("DELETE", "/api/rooms/del"), 200, "DELETE");
  EXPECT_EQ(str_field(deleted, "room"), "del");
  EXPECT_EQ(field_text(deleted, "deleted"), "true");
  auto e = m->recv_type("error");
  ASSERT_TRUE(e) << "the member was not told";
  EXPECT_EQ(str_field(*e, "code"), "forbidden");
  EXPECT_EQ(str_field(*e, "room"), "del");
  expect_error(get("/api/rooms/del"), 404, "not_found", "GET after DELETE");
  expect_error(get("/api/rooms/del/steps"), 404, "not_found", "steps after DELETE");
  expect_error(get("/api/rooms/del/versions"), 404, "not_found", "versions after DELETE");
  expect_error(get("/api/rooms/del?version=1"), 404, "not_found", "version 1 after DELETE");
  expect_error(call("DELETE", "/api/rooms/del"), 404, "not_found", "DELETE again");
  expect_error(call("DELETE", "/api/rooms/never"), 404, "not_found", "DELETE of an unknown room");
  // The member is out of the room: its steps get not_joined.
  m->send(steps_msg("del", "m", 1, "[" + insert_step(1, "x") + "]"));
  auto out = m->recv_type("error");
  ASSERT_TRUE(out);
  EXPECT_EQ(str_field(*out, "code"), "not_joined");
  // A later join makes a new, empty room.
  m->send(join_msg("del", "m"));
  auto state = m->recv_type("state");
  ASSERT_TRUE(state);
  EXPECT_EQ(num_field(*state, "version"), 0);
  EXPECT_EQ(field_text(*state, "doc"), kEmptyDoc);
  EXPECT_EQ(version_of("del"), 0);
  EXPECT_EQ(doc_text("del"), kEmptyDoc);
  EXPECT_EQ(items(answer(get("/api/rooms/del/versions"), 200, "versions"), "versions").size(), 0u);
  EXPECT_EQ(items(answer(get("/api/rooms/del/steps"), 200, "steps"), "steps").size(), 0u);
}

TEST_P(ServeApiStoreTest, ListRoomsByPrefixInPages) {
  start();
  int64_t t0 = now_ms();
  for (const char* room : {"doc%2Fc", "doc%2Fa", "other", "doc%2Fd", "doc%2Fb"})
    EXPECT_EQ(written(put_doc(room, doc_of({para("x")})), room), 1);
  EXPECT_EQ(written(post_steps("other", 1, "bot", "[" + insert_step(1, "y") + "]"), "other"), 2);
  int64_t t1 = now_ms();
  auto names = [](const Value& page) {
    std::vector<std::string> out;
    for (const Value& r : items(page, "rooms")) out.push_back(str_field(r, "room"));
    return out;
  };
  Value all = answer(get("/api/rooms"), 200, "all rooms");
  EXPECT_EQ(names(all), (std::vector<std::string>{"doc/a", "doc/b", "doc/c", "doc/d", "other"}));
  EXPECT_EQ(field_text(all, "next"), "null");
  for (const Value& r : items(all, "rooms")) {
    EXPECT_EQ(num_field(r, "version"), str_field(r, "room") == "other" ? 2 : 1);
    EXPECT_GE(num_field(r, "created"), t0);
    EXPECT_LE(num_field(r, "created"), t1);
  }
  Value p1 = answer(get("/api/rooms?prefix=doc%2F&limit=2"), 200, "page 1");
  EXPECT_EQ(names(p1), (std::vector<std::string>{"doc/a", "doc/b"}));
  EXPECT_EQ(str_field(p1, "next"), "doc/b");
  Value p2 = answer(get("/api/rooms?prefix=doc%2F&limit=2&after=doc%2Fb"), 200, "page 2");
  EXPECT_EQ(names(p2), (std::vector<std::string>{"doc/c", "doc/d"}));
  EXPECT_EQ(field_text(p2, "next"), "null");
  Value p3 = answer(get("/api/rooms?limit=3&after=doc%2Fa"), 200, "after doc/a");
  EXPECT_EQ(names(p3), (std::vector<std::string>{"doc/b", "doc/c", "doc/d"}));
  EXPECT_EQ(str_field(p3, "next"), "doc/d");
  Value p4 = answer(get("/api/rooms?after=doc%2Fd"), 200, "after doc/d");
  EXPECT_EQ(names(p4), (std::vector<std::string>{"other"}));
  EXPECT_EQ(items(answer(get("/api/rooms?prefix=zzz"), 200, "no match"), "rooms").size(), 0u);
  expect_error(get("/api/rooms?limit=0"), 400, "bad_message", "limit 0");
  expect_error(get("/api/rooms?limit=1001"), 400, "bad_message", "limit 1001");
  EXPECT_EQ(call("POST", "/api/rooms", "{}").status, 405);
}

// ---- a restart ----

TEST_F(ServeApiTest, EverythingSurvivesARestart) {
  start();
  EXPECT_EQ(
      written(put_doc("keep", doc_of({para("one"), para("two")}), R"(,"userId":"loader")"), "PUT"),
      1);
  {
    auto alice = member("keep", "alice");
    alice->send(steps_msg("keep", "alice", 1, "[" + insert_step(1, "A") + "]"));
    ASSERT_TRUE(alice->recv_type("ack"));
  }
  EXPECT_EQ(written(post_steps("keep", 2, "bot", "[" + insert_step(2, "B") + "]"), "bot"), 3);
  ASSERT_EQ(call("POST", "/api/rooms/keep/versions", R"({"name":"kept"})").status, 201);
  EXPECT_EQ(written(put_doc("keep", doc_of({para("new")})), "PUT"), 4);
  EXPECT_EQ(written(put_doc("also", doc_of({para("also")})), "PUT also"), 1);
  const std::vector<std::string> targets = {"/api/rooms/keep",
                                            "/api/rooms/keep?format=text",
                                            "/api/rooms/keep/steps",
                                            "/api/rooms/keep/versions",
                                            "/api/rooms/keep?version=0",
                                            "/api/rooms/keep?version=1",
                                            "/api/rooms/keep?version=2",
                                            "/api/rooms/keep?version=3",
                                            "/api/rooms/keep?version=4",
                                            "/api/rooms",
                                            "/api/rooms/also"};
  std::vector<std::string> before;
  for (const std::string& t : targets) {
    auto res = get(t);
    EXPECT_EQ(res.status, 200) << t << ": " << res.body;
    before.push_back(res.body);
  }
  std::vector<Value> steps = items(parse(before[2]), "steps");
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(str_field(steps[0], "userId"), "loader");
  EXPECT_EQ(str_field(steps[1], "userId"), "alice");
  EXPECT_EQ(str_field(steps[2], "userId"), "bot");
  EXPECT_EQ(str_field(steps[3], "userId"), "api");
  EXPECT_EQ(items(parse(before[3]), "versions").size(), 1u);

  int status = server_->stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "exit status " << status;
  server_->restart();
  for (size_t i = 0; i < targets.size(); ++i) {
    auto res = get(targets[i]);
    EXPECT_EQ(res.status, 200) << targets[i];
    EXPECT_EQ(res.body, before[i]) << targets[i];
  }
  // The restored room goes on from where it was.
  EXPECT_EQ(written(call("POST", "/api/rooms/keep/versions/3/restore"), "restore"), 5);
  EXPECT_EQ(doc_text("keep"), doc_text("keep", "?version=3"));
  expect_error(call("POST", "/api/rooms/keep/versions", R"({"name":"kept"})"), 409, "name_taken",
               "the name survived");
}

// ---- access ----

TEST_F(ServeApiTest, TheApiTokenGuardsTheApi) {
  start({"--api-token-file", file("api.token", std::string(kApiToken) + "\n")});
  for (const auto& [method, target] :
       std::vector<std::pair<std::string, std::string>>{{"GET", "/api/rooms"},
                                                        {"GET", "/api/rooms/r"},
                                                        {"GET", "/api/rooms/r/steps"},
                                                        {"GET", "/api/rooms/r/versions"},
                                                        {"PUT", "/api/rooms/r"},
                                                        {"DELETE", "/api/rooms/r"}}) {
    expect_error(call(method, target, method == "PUT" ? R"({"doc":)" + para("") + "}" : ""), 401,
                 "unauthorized", method + " " + target + " without the token");
    expect_error(call(method, target, "", "wrong-token-0123456789"), 401, "unauthorized",
                 method + " " + target + " with another token");
  }
  expect_error(get("/api/rooms/r"), 401, "unauthorized", "GET without the token");
  EXPECT_EQ(written(put_doc("r", doc_of({para("x")}), "", kApiToken), "PUT with the token"), 1);
  EXPECT_EQ(get("/api/rooms/r", kApiToken).status, 200);
  EXPECT_EQ(get("/api/rooms", kApiToken).status, 200);
  EXPECT_EQ(post_steps("r", 1, "bot", "[" + insert_step(1, "y") + "]", kApiToken).status, 200);
  EXPECT_EQ(call("DELETE", "/api/rooms/r", "", kApiToken).status, 200);
  // The rest of the server stays as open as before.
  EXPECT_EQ(get("/healthz").status, 200);
  EXPECT_EQ(get("/api/schema").status, 200);
}

TEST_F(ServeApiTest, ApiRequestsPerAddressAreRateLimited) {
  start({"--api-requests-per-ip-per-minute", "5"});
  EXPECT_EQ(written(put_doc("r", doc_of({para("x")})), "PUT"), 1);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(get("/api/rooms/r").status, 200) << i;
  HttpResponse limited = get("/api/rooms/r/steps");
  expect_error(limited, 429, "rate_limited", "the sixth request of the minute");
  EXPECT_EQ(limited.headers["retry-after"], "1");
  // Nothing else is limited: health, the schema, and the rooms' members.
  EXPECT_EQ(get("/healthz").status, 200);
  EXPECT_EQ(get("/api/schema").status, 200);
}

TEST_F(ServeApiTest, UserTokensReadAndWriteTheirRoomsAsTheirSubject) {
  start({"--auth-file", file("tokens.json", R"({
    "wendy-token-0123456789": {"sub": "wendy", "rooms": {"team/*": "write"}},
    "rita-token-0123456789": {"sub": "rita", "rooms": {"team/*": "read"}}
  })"),
         "--api-token-file", file("api.token", kApiToken)});
  const std::string wendy = "wendy-token-0123456789", rita = "rita-token-0123456789";
  const std::string room = "team%2Fdoc";
  EXPECT_EQ(written(put_doc(room, doc_of({para("x")}), "", kApiToken), "PUT with the API token"),
            1);
  expect_error(get("/api/rooms/" + room), 401, "unauthorized", "no token");
  expect_error(get("/api/rooms/" + room, "unknown-token-0123456789"), 401, "unauthorized",
               "unknown token");
  // rita reads her room, and writes nothing.
  EXPECT_EQ(get("/api/rooms/" + room, rita).status, 200);
  EXPECT_EQ(get("/api/rooms/" + room + "?format=text", rita).status, 200);
  EXPECT_EQ(get("/api/rooms/" + room + "/steps", rita).status, 200);
  EXPECT_EQ(get("/api/rooms/" + room + "/versions", rita).status, 200);
  EXPECT_EQ(get("/api/rooms/" + room + "?version=0", rita).status, 200);
  expect_error(post_steps(room, 1, "rita", "[" + insert_step(1, "r") + "]", rita), 403, "forbidden",
               "rita's steps");
  expect_error(put_doc(room, doc_of({para("rita")}), "", rita), 403, "forbidden", "rita's PUT");
  expect_error(call("POST", "/api/rooms/" + room + "/versions", R"({"name":"r"})", rita), 403,
               "forbidden", "rita's named version");
  expect_error(call("POST", "/api/rooms/" + room + "/versions/0/restore", "", rita), 403,
               "forbidden", "rita's restore");
  expect_error(
      call("POST", "/api/rooms/" + room + "/revert", R"({"userId":"api","from":0,"to":1})", rita),
      403, "forbidden", "rita's revert");
  expect_error(call("DELETE", "/api/rooms/" + room, "", rita), 403, "forbidden", "rita's DELETE");
  EXPECT_EQ(put_doc("private", doc_of({para("p")}), "", kApiToken).status, 200);
  expect_error(get("/api/rooms/private", rita), 403, "forbidden", "rita outside her rooms");
  expect_error(get("/api/rooms/private", wendy), 403, "forbidden", "wendy outside her rooms");
  EXPECT_EQ(version_of(room + "?token=" + rita), 1);
  // wendy writes as herself only.
  EXPECT_EQ(written(post_steps(room, 1, "wendy", "[" + insert_step(1, "w") + "]", wendy), "wendy"),
            2);
  expect_error(post_steps(room, 2, "someone", "[" + insert_step(1, "s") + "]", wendy), 403,
               "forbidden", "wendy as someone");
  expect_error(put_doc(room, doc_of({para("s")}), R"(,"userId":"someone")", wendy), 403,
               "forbidden", "wendy's PUT as someone");
  EXPECT_EQ(written(put_doc(room, doc_of({para("by wendy")}), "", wendy), "wendy's PUT"), 3);
  EXPECT_EQ(written(call("POST", "/api/rooms/" + room + "/versions/1/restore", "", wendy),
                    "wendy's restore"),
            4);
  Value log = answer(get("/api/rooms/" + room + "/steps", wendy), 200, "steps");
  std::vector<Value> steps = items(log, "steps");
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(str_field(steps[0], "userId"), "api");
  for (size_t i = 1; i < 4; ++i) EXPECT_EQ(str_field(steps[i], "userId"), "wendy") << i;
  EXPECT_EQ(call("POST", "/api/rooms/" + room + "/versions", R"({"name":"w"})", wendy).status, 201);
  expect_error(put_doc("private", doc_of({para("w")}), "", wendy), 403, "forbidden",
               "wendy's PUT outside her rooms");
  // Listing and deleting need the API token.
  expect_error(get("/api/rooms", wendy), 403, "forbidden", "wendy lists");
  expect_error(get("/api/rooms", rita), 403, "forbidden", "rita lists");
  expect_error(get("/api/rooms"), 401, "unauthorized", "listing without a token");
  expect_error(call("DELETE", "/api/rooms/" + room, "", wendy), 403, "forbidden", "wendy deletes");
  Value listed = answer(get("/api/rooms", kApiToken), 200, "API token lists");
  EXPECT_EQ(items(listed, "rooms").size(), 2u);
  EXPECT_EQ(call("DELETE", "/api/rooms/" + room, "", kApiToken).status, 200);
}

// ---- webhooks ----

class ServeWebhookTest : public ServeApiTest {
 protected:
  void start_with_hooks(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "--webhook-url",         hooks_->url(),
        "--webhook-secret-file", file("hook.secret", std::string(kHookSecret) + "\n"),
        "--webhook-debounce-ms", "300"};
    args.insert(args.end(), extra.begin(), extra.end());
    start(std::move(args));
  }
  /// Every request so far is a signed POST to /hook of a JSON event.
  void expect_signed() {
    int64_t now_s = now_ms() / 1000;
    for (const HookReceiver::Request& r : hooks_->requests()) {
      EXPECT_EQ(r.request_line, "POST /hook HTTP/1.1");
      auto it = r.headers.find("x-realtime-pm-signature");
      ASSERT_NE(it, r.headers.end()) << "unsigned: " << r.body;
      const std::string& sig = it->second;
      ASSERT_EQ(sig.rfind("t=", 0), 0u) << sig;
      size_t comma = sig.find(",v1=");
      ASSERT_NE(comma, std::string::npos) << sig;
      std::string t = sig.substr(2, comma - 2), v1 = sig.substr(comma + 4);
      EXPECT_LE(std::abs(std::stoll(t) - now_s), 60) << sig;
      EXPECT_EQ(v1, hmac_sha256_hex(kHookSecret, t + "." + r.body)) << sig << " over " << r.body;
      EXPECT_NE(v1, hmac_sha256_hex(std::string(kHookSecret) + "\n", t + "." + r.body))
          << "the trailing newline is part of the key";
      auto body = json::parse(r.body);
      ASSERT_TRUE(body && body->is_object()) << r.body;
      EXPECT_FALSE(str_field(*body, "event").empty()) << r.body;
    }
  }
};

TEST_F(ServeWebhookTest, EventsAreDeliveredSignedAndDebounced) {
  hooks_ = std::make_unique<HookReceiver>();
  start_with_hooks();
  int64_t t0 = now_ms();
  EXPECT_EQ(written(put_doc("hooked", doc_of({para("x")})), "PUT"), 1);
  ASSERT_TRUE(eventually([&] { return !hooks_->events("hooked", "room.created").empty(); }))
      << "no room.created";
  Value created = hooks_->events("hooked", "room.created")[0];
  EXPECT_EQ(num_field(created, "version"), 0);
  EXPECT_GE(num_field(created, "time"), t0);
  EXPECT_LE(num_field(created, "time"), now_ms());
  ASSERT_TRUE(eventually([&] { return !hooks_->events("hooked", "room.changed").empty(); }));
  EXPECT_EQ(num_field(hooks_->events("hooked", "room.changed")[0], "version"), 1);

  // A member over a raw WebSocket: joined; its session replaced by the same userId: nothing;
  // left.
  auto mia = member("hooked", "mia");
  ASSERT_TRUE(eventually([&] { return !hooks_->events("hooked", "member.joined").empty(); }));
  Value joined = hooks_->events("hooked", "member.joined")[0];
  EXPECT_EQ(str_field(joined, "userId"), "mia");
  EXPECT_EQ(num_field(joined, "version"), 1);
  EXPECT_GE(num_field(joined, "time"), t0);
  auto mia2 = member("hooked", "mia");
  auto max = member("hooked", "max");
  ASSERT_TRUE(eventually([&] { return hooks_->events("hooked", "member.joined").size() >= 2; }));
  mia2->send(R"({"type":"leave","room":"hooked","userId":"mia"})");
  max.reset();  // disconnects
  ASSERT_TRUE(eventually([&] { return hooks_->events("hooked", "member.left").size() >= 2; }));
  std::vector<std::string> joins, leaves;
  for (const Value& e : hooks_->events("hooked", "member.joined"))
    joins.push_back(str_field(e, "userId"));
  for (const Value& e : hooks_->events("hooked", "member.left"))
    leaves.push_back(str_field(e, "userId"));
  EXPECT_EQ(joins, (std::vector<std::string>{"mia", "max"})) << "a replaced session is no join";
  std::sort(leaves.begin(), leaves.end());
  EXPECT_EQ(leaves, (std::vector<std::string>{"max", "mia"}));

  // A quiet room's first change is delivered at once; quick later ones are coalesced into one
  // delivery at the end of the window with the last version.
  std::this_thread::sleep_for(1s);
  size_t before = hooks_->events("hooked", "room.changed").size();
  auto start_edits = std::chrono::steady_clock::now();
  for (int v = 1; v < 6; ++v)
    ASSERT_EQ(written(post_steps("hooked", v, "bot", "[" + insert_step(1, "e") + "]"), "edit"),
              v + 1);
  auto edits_took = std::chrono::steady_clock::now() - start_edits;
  ASSERT_TRUE(eventually([&] {
    auto changed = hooks_->events("hooked", "room.changed");
    return !changed.empty() && num_field(changed.back(), "version") == 6;
  })) << "no room.changed with the last version";
  std::this_thread::sleep_for(700ms);  // two more windows: nothing else may come
  auto changed = hooks_->events("hooked", "room.changed");
  std::vector<int64_t> versions;
  for (size_t i = before; i < changed.size(); ++i)
    versions.push_back(num_field(changed[i], "version"));
  ASSERT_FALSE(versions.empty());
  EXPECT_EQ(versions.front(), 2) << "the first change of a quiet room";
  EXPECT_EQ(versions.back(), 6);
  EXPECT_TRUE(std::is_sorted(versions.begin(), versions.end()));
  if (edits_took < 250ms) {
    EXPECT_EQ(versions, (std::vector<int64_t>{2, 6})) << "the edits all fell in one window";
  }

  expect_signed();
  // Every delivery was answered 200 and counted so.
  EXPECT_TRUE(eventually([&] {
    return metric(port(), "realtime_pm_webhook_deliveries_total") ==
           static_cast<int64_t>(hooks_->requests().size());
  })) << metric(port(), "realtime_pm_webhook_deliveries_total")
      << " vs " << hooks_->requests().size();
  EXPECT_EQ(metric(port(), "realtime_pm_webhook_failures_total"), 0);
}

TEST_F(ServeWebhookTest, AFailedDeliveryIsTriedAgain) {
  hooks_ = std::make_unique<HookReceiver>();
  // The first delivery gets 500.
  hooks_->set_status([](size_t n, const HookReceiver::Request&) { return n == 0 ? 500 : 200; });
  start_with_hooks();
  EXPECT_EQ(written(put_doc("retry", doc_of({para("x")})), "PUT"), 1);
  ASSERT_TRUE(eventually([&] { return !hooks_->requests().empty(); }));
  const std::string failed = hooks_->requests()[0].body;
  EXPECT_EQ(hooks_->requests()[0].answered, 500);
  ASSERT_TRUE(eventually([&] {
    auto all = hooks_->requests();
    return std::count_if(all.begin(), all.end(),
                         [&](const HookReceiver::Request& r) { return r.body == failed; }) >= 2;
  })) << "not delivered again: "
      << failed;
  auto all = hooks_->requests();
  auto again = std::find_if(all.begin() + 1, all.end(),
                            [&](const HookReceiver::Request& r) { return r.body == failed; });
  ASSERT_NE(again, all.end());
  EXPECT_EQ(again->answered, 200);
  // Signed anew, and validly, for each attempt.
  expect_signed();
  EXPECT_TRUE(eventually([&] {
    return metric(port(), "realtime_pm_webhook_failures_total") == 1 &&
           metric(port(), "realtime_pm_webhook_deliveries_total") ==
               static_cast<int64_t>(hooks_->requests().size()) - 1;
  })) << metric(port(), "realtime_pm_webhook_failures_total")
      << " failures, " << metric(port(), "realtime_pm_webhook_deliveries_total")
      << " deliveries of " << hooks_->requests().size();
  EXPECT_EQ(metric(port(), "realtime_pm_webhook_dropped_total"), 0);
}

}  // namespace
}  // namespace rtpm::testing
