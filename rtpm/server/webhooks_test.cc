#include "rtpm/server/webhooks.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "rtpm/json/json.h"
#include "rtpm/server/metrics.h"

namespace rtpm::server {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

/// Lowercase hex HMAC-SHA256 by OpenSSL directly (not through rtpm::auth).
std::string openssl_hmac_hex(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &length);
  std::string hex;
  char digits[3];
  for (unsigned int i = 0; i < length; ++i) {
    std::snprintf(digits, sizeof digits, "%02x", mac[i]);
    hex += digits;
  }
  return hex;
}

int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Polls `done` every 10 ms for up to `limit`.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

/// What the Receiver answers to one request.
struct ReceiverReply {
  http::status status = http::status::ok;
  bool hang = false;  ///< read the request and never answer
};

/// A webhook receiver on a free loopback port, on its own thread and io_context: it records
/// each request and answers with the status the handler gives for the request's index (from 0),
/// or never answers.
class Receiver {
 public:
  using Reply = ReceiverReply;
  struct Received {
    std::string method;
    std::string target;
    std::string host;
    std::string content_type;
    std::string signature;
    bool has_signature = false;
    std::string body;
  };
  using Handler = std::function<Reply(size_t index)>;

  explicit Receiver(Handler handler = [](size_t) { return Reply{}; })
      : handler_(std::move(handler)), acceptor_(ioc_, {net::ip::make_address("127.0.0.1"), 0}) {
    net::co_spawn(ioc_, accept_loop(), net::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~Receiver() {
    ioc_.stop();
    thread_.join();
  }

  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string url(std::string path = "/hooks") const {
    return "http://127.0.0.1:" + std::to_string(port()) + path;
  }
  std::vector<Received> received() {
    std::lock_guard lock(mutex_);
    return received_;
  }
  size_t requests() { return received().size(); }

 private:
  net::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
      if (ec) co_return;
      net::co_spawn(ioc_, serve(std::move(socket)), net::detached);
    }
  }

  net::awaitable<void> serve(tcp::socket socket) {
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    auto [read_ec, read_n] = co_await http::async_read(socket, buffer, req, use_tuple);
    if (read_ec) co_return;
    Reply reply;
    {
      std::lock_guard lock(mutex_);
      reply = handler_(received_.size());
      auto signature = req.find("X-Realtime-PM-Signature");
      received_.push_back(Received{std::string(req.method_string()), std::string(req.target()),
                                   std::string(req[http::field::host]),
                                   std::string(req[http::field::content_type]),
                                   signature == req.end() ? "" : std::string(signature->value()),
                                   signature != req.end(), req.body()});
      if (reply.hang) {
        held_.push_back(std::move(socket));
        co_return;
      }
    }
    http::response<http::string_body> res{reply.status, 11};
    res.keep_alive(false);
    res.body() = "{}";
    res.prepare_payload();
    co_await http::async_write(socket, res, use_tuple);  // a failed write: nothing to do
    beast::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
  }

  Handler handler_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::mutex mutex_;
  std::vector<Received> received_;  // guarded by mutex_
  std::vector<tcp::socket> held_;   // the connections never answered; guarded by mutex_
  std::thread thread_;
};

/// A loopback port nobody listens on (bound, then closed).
uint16_t unused_port() {
  net::io_context probe;
  tcp::acceptor acceptor(probe, {net::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

/// The Webhooks' io_context runs on its own thread, and keeps running after they stop.
class WebhooksTest : public ::testing::Test {
 protected:
  WebhooksTest() : work_(net::make_work_guard(ioc_)), thread_([this] { ioc_.run(); }) {}
  ~WebhooksTest() override {
    webhooks_.reset();
    work_.reset();
    thread_.join();
  }

  Webhooks& make(Webhooks::Options options) {
    auto created = Webhooks::create(ioc_, std::move(options), metrics_);
    EXPECT_TRUE(created.ok()) << created.error().message;
    webhooks_ = std::move(*created);
    return *webhooks_;
  }

  /// Holds the io_context's thread until the returned function is called: the calls made
  /// meanwhile are handled back to back.
  std::function<void()> hold_io() {
    auto release = std::make_shared<std::promise<void>>();
    auto held = std::make_shared<std::promise<void>>();
    net::post(ioc_, [future = release->get_future().share(), held]() {
      held->set_value();
      future.wait();
    });
    held->get_future().wait();
    return [release] { release->set_value(); };
  }

  Metrics metrics_;
  net::io_context ioc_;
  net::executor_work_guard<net::io_context::executor_type> work_;
  std::thread thread_;
  std::unique_ptr<Webhooks> webhooks_;
};

/// A received body, parsed; fails the test when it is not a JSON object.
json::Value parse_body(const std::string& body) {
  auto parsed = json::parse(body);
  EXPECT_TRUE(parsed.ok()) << body;
  if (!parsed) return json::Value();
  EXPECT_TRUE(parsed->is_object()) << body;
  return *parsed;
}

std::string string_field(const json::Value& v, const char* key) {
  const json::Value* field = v.find(key);
  if (!field || !field->is_string()) return "<missing " + std::string(key) + ">";
  return field->as_string();
}

int64_t number_field(const json::Value& v, const char* key) {
  const json::Value* field = v.find(key);
  if (!field || !field->is_number()) return -1;
  return static_cast<int64_t>(field->as_number());
}

TEST(WebhookSignature, MatchesOpenSslHmac) {
  std::string body = R"({"event":"room.created","room":"r1","version":0,"time":1})";
  EXPECT_EQ(webhook_signature("s3cret", 1712345678, body),
            "t=1712345678,v1=" + openssl_hmac_hex("s3cret", "1712345678." + body));
  // Another secret, time or body gives another signature.
  EXPECT_NE(webhook_signature("s3cret!", 1712345678, body),
            webhook_signature("s3cret", 1712345678, body));
  EXPECT_NE(webhook_signature("s3cret", 1712345679, body),
            webhook_signature("s3cret", 1712345678, body));
  EXPECT_NE(webhook_signature("s3cret", 1712345678, body + " "),
            webhook_signature("s3cret", 1712345678, body));
}

TEST(WebhookSignature, KnownVector) {
  // printf '%s' '1700000000.{...}' | openssl dgst -sha256 -hmac whsec_test_secret
  EXPECT_EQ(webhook_signature(
                "whsec_test_secret", 1700000000,
                R"({"event":"room.changed","room":"docs/a","version":42,"time":1700000000123})"),
            "t=1700000000,v1=298c9dbafe4747bdadba283e993b15a1527dd9275f8fca1b140936f35f3e3c59");
}

TEST(WebhooksCreate, RejectsInvalidUrls) {
  net::io_context ioc;
  Metrics metrics;
  for (const char* url :
       {"https://hooks.example/in", "garbage", "", "http://", "http://:80/", "http://host:0/",
        "http://host:65536/", "http://user@host/", "http://host/a path", "http://[::1/"}) {
    auto created = Webhooks::create(ioc, {.urls = {"http://127.0.0.1:9/ok", url}}, metrics);
    ASSERT_FALSE(created.ok()) << url;
    EXPECT_EQ(created.error().code, ErrorCode::internal);
    EXPECT_NE(created.error().message.find("'" + std::string(url) + "'"), std::string::npos)
        << created.error().message;
  }
  for (const char* url : {"http://localhost", "http://127.0.0.1:8080/hooks?x=1", "http://[::1]"}) {
    EXPECT_TRUE(Webhooks::create(ioc, {.urls = {url}}, metrics).ok()) << url;
  }
  EXPECT_TRUE(Webhooks::create(ioc, {}, metrics).ok());  // no URL: nothing to send
}

TEST_F(WebhooksTest, DeliversEveryEventSigned) {
  Receiver receiver;
  auto& hooks = make({.urls = {receiver.url()}, .secret = "top secret"});
  int64_t before_ms = unix_ms_now();
  hooks.room_created("docs/a");
  hooks.member_joined("docs/a", "al\u00e9ce", 3);
  hooks.room_changed("docs/a", 4);
  hooks.member_left("docs/a", "bob\"", 5);
  ASSERT_TRUE(eventually([&] { return receiver.requests() >= 4; })) << receiver.requests();
  int64_t after_ms = unix_ms_now();
  ASSERT_TRUE(eventually([&] { return metrics_.webhook_deliveries.load() == 4; }));
  EXPECT_EQ(metrics_.webhook_failures.load(), 0);
  EXPECT_EQ(metrics_.webhook_dropped.load(), 0);

  auto received = receiver.received();
  ASSERT_EQ(received.size(), 4u);
  std::map<std::string, json::Value> by_event;
  for (const auto& r : received) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.target, "/hooks");
    EXPECT_EQ(r.host, "127.0.0.1:" + std::to_string(receiver.port()));
    EXPECT_EQ(r.content_type, "application/json");
    // t=UNIX_SECONDS,v1=HEX, HEX = HMAC-SHA256(secret, t + "." + body).
    ASSERT_TRUE(r.has_signature) << r.body;
    ASSERT_EQ(r.signature.rfind("t=", 0), 0u) << r.signature;
    size_t comma = r.signature.find(",v1=");
    ASSERT_NE(comma, std::string::npos) << r.signature;
    std::string t = r.signature.substr(2, comma - 2);
    int64_t seconds = std::stoll(t);
    EXPECT_GE(seconds, before_ms / 1000);
    EXPECT_LE(seconds, after_ms / 1000 + 1);
    EXPECT_EQ(r.signature.substr(comma + 4), openssl_hmac_hex("top secret", t + "." + r.body));

    json::Value body = parse_body(r.body);
    int64_t time = number_field(body, "time");
    EXPECT_GE(time, before_ms) << r.body;
    EXPECT_LE(time, after_ms) << r.body;
    by_event[string_field(body, "event")] = body;
  }
  ASSERT_EQ(by_event.size(), 4u);

  const json::Value& created = by_event["room.created"];
  EXPECT_EQ(string_field(created, "room"), "docs/a");
  EXPECT_EQ(number_field(created, "version"), 0);
  EXPECT_EQ(created.find("userId"), nullptr);
  EXPECT_EQ(created.as_object().size(), 4u);

  const json::Value& joined = by_event["member.joined"];
  EXPECT_EQ(string_field(joined, "room"), "docs/a");
  EXPECT_EQ(number_field(joined, "version"), 3);
  EXPECT_EQ(string_field(joined, "userId"), "al\u00e9ce");
  EXPECT_EQ(joined.as_object().size(), 5u);

  const json::Value& changed = by_event["room.changed"];
  EXPECT_EQ(string_field(changed, "room"), "docs/a");
  EXPECT_EQ(number_field(changed, "version"), 4);
  EXPECT_EQ(changed.find("userId"), nullptr);
  EXPECT_EQ(changed.as_object().size(), 4u);

  const json::Value& left = by_event["member.left"];
  EXPECT_EQ(string_field(left, "room"), "docs/a");
  EXPECT_EQ(number_field(left, "version"), 5);
  EXPECT_EQ(string_field(left, "userId"), "bob\"");
  EXPECT_EQ(left.as_object().size(), 5u);
}

TEST_F(WebhooksTest, BodyIsWrittenAsJsonStringify) {
  Receiver receiver;
  auto& hooks = make({.urls = {receiver.url()}});
  hooks.member_joined("r", "u", 7);
  ASSERT_TRUE(eventually([&] { return receiver.requests() == 1; }));
  std::string body = receiver.received()[0].body;
  std::string prefix = R"({"event":"member.joined","room":"r","version":7,"userId":"u","time":)";
  EXPECT_EQ(body.rfind(prefix, 0), 0u) << body;
  EXPECT_EQ(body.back(), '}') << body;
}

TEST_F(WebhooksTest, NoSignatureWithoutSecret) {
  Receiver receiver;
  auto& hooks = make({.urls = {receiver.url()}});
  hooks.room_created("r1");
  ASSERT_TRUE(eventually([&] { return receiver.requests() == 1; }));
  EXPECT_FALSE(receiver.received()[0].has_signature) << receiver.received()[0].signature;
}

TEST_F(WebhooksTest, EveryUrlGetsEveryEvent) {
  Receiver first;
  Receiver second;
  auto& hooks = make({.urls = {first.url("/a"), second.url("/b")}});
  hooks.room_created("r1");
  hooks.member_left("r1", "u", 2);
  ASSERT_TRUE(eventually([&] { return first.requests() == 2 && second.requests() == 2; }));
  ASSERT_TRUE(eventually([&] { return metrics_.webhook_deliveries.load() == 4; }));
  EXPECT_EQ(first.received()[0].target, "/a");
  EXPECT_EQ(second.received()[0].target, "/b");
}

TEST_F(WebhooksTest, DebouncesRoomChanged) {
  Receiver receiver;
  auto& hooks = make({.urls = {receiver.url()}, .debounce = 200ms});
  {
    // Handled back to back, well within the window.
    auto release = hold_io();
    for (int64_t v = 1; v <= 5; ++v) hooks.room_changed("r1", v);
    hooks.room_changed("r2", 9);
    release();
  }
  // r1: version 1 at once, then one delivery with the latest version; r2: one delivery.
  ASSERT_TRUE(eventually([&] { return receiver.requests() >= 3; })) << receiver.requests();
  // Two more windows pass with nothing to send: nothing more arrives.
  std::this_thread::sleep_for(600ms);
  auto received = receiver.received();
  ASSERT_EQ(received.size(), 3u);
  std::vector<int64_t> r1_versions;
  for (const auto& r : received) {
    json::Value body = parse_body(r.body);
    EXPECT_EQ(string_field(body, "event"), "room.changed");
    if (string_field(body, "room") == "r1") {
      r1_versions.push_back(number_field(body, "version"));
    } else {
      EXPECT_EQ(string_field(body, "room"), "r2");
      EXPECT_EQ(number_field(body, "version"), 9);
    }
  }
  EXPECT_EQ(r1_versions, (std::vector<int64_t>{1, 5}));

  // Quiet again: the next change is sent (its room's state was dropped and starts anew).
  hooks.room_changed("r1", 6);
  ASSERT_TRUE(eventually([&] { return receiver.requests() == 4; }));
  EXPECT_EQ(number_field(parse_body(receiver.received()[3].body), "version"), 6);
  EXPECT_EQ(metrics_.webhook_deliveries.load(), 4);
}

TEST_F(WebhooksTest, RetriesAfterAFailure) {
  Receiver receiver([](size_t index) {
    return Receiver::Reply{index == 0 ? http::status::internal_server_error : http::status::ok};
  });
  auto& hooks = make({.urls = {receiver.url()}, .secret = "k", .retry_base = 50ms});
  hooks.room_created("r1");
  ASSERT_TRUE(eventually([&] { return metrics_.webhook_deliveries.load() == 1; }));
  EXPECT_EQ(metrics_.webhook_failures.load(), 1);
  EXPECT_EQ(metrics_.webhook_dropped.load(), 0);
  auto received = receiver.received();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].body, received[1].body);
  // Each attempt carries a valid signature.
  for (const auto& r : received) {
    size_t comma = r.signature.find(",v1=");
    ASSERT_NE(comma, std::string::npos) << r.signature;
    std::string t = r.signature.substr(2, comma - 2);
    EXPECT_EQ(r.signature.substr(comma + 4), openssl_hmac_hex("k", t + "." + r.body));
  }
  std::string text = metrics_.render();
  EXPECT_NE(text.find("\nrealtime_pm_webhook_deliveries_total 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nrealtime_pm_webhook_failures_total 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nrealtime_pm_webhook_dropped_total 0\n"), std::string::npos) << text;
}

TEST_F(WebhooksTest, GivesUpAfterMaxAttempts) {
  Receiver receiver([](size_t) { return Receiver::Reply{http::status::service_unavailable}; });
  auto& hooks = make({.urls = {receiver.url()}, .retry_base = 20ms, .max_attempts = 3});
  hooks.member_joined("r1", "u", 1);
  ASSERT_TRUE(eventually([&] { return metrics_.webhook_dropped.load() == 1; }));
  EXPECT_EQ(metrics_.webhook_failures.load(), 3);
  EXPECT_EQ(metrics_.webhook_deliveries.load(), 0);
  EXPECT_EQ(receiver.requests(), 3u);
  // Longer than the next backoff would be: no fourth attempt.
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(receiver.requests(), 3u);
  EXPECT_EQ(metrics_.webhook_failures.load(), 3);
}

TEST_F(WebhooksTest, ConnectionRefusedCountsFailures) {
  auto& hooks = make({.urls = {"http://127.0.0.1:" + std::to_string(unused_port()) + "/x"},
                      .retry_base = 20ms,
                      .max_attempts = 2});
  hooks.room_created("r1");
  ASSERT_TRUE(eventually([&] { return metrics_.webhook_dropped.load() == 1; }));
  EXPECT_EQ(metrics_.webhook_failures.load(), 2);
  EXPECT_EQ(metrics_.webhook_deliveries.load(), 0);
}

TEST_F(WebhooksTest, TimeoutIsAFailure) {
  Receiver receiver([](size_t index) { return Receiver::Reply{.hang = index == 0}; });
  auto& hooks = make({.urls = {receiver.url()}, .timeout = 200ms, .retry_base = 20ms});
  hooks.room_created("r1");
  ASSERT_TRUE(eventually([&] { return metrics_.webhook_deliveries.load() == 1; }));
  EXPECT_EQ(metrics_.webhook_failures.load(), 1);
  EXPECT_EQ(receiver.requests(), 2u);
}

TEST_F(WebhooksTest, AtMostFourInFlightPerUrl) {
  Receiver receiver([](size_t) { return Receiver::Reply{.hang = true}; });
  auto& hooks = make({.urls = {receiver.url()}, .timeout = 60s});
  for (int i = 0; i < 10; ++i) hooks.room_created("r" + std::to_string(i));
  ASSERT_TRUE(eventually([&] { return receiver.requests() == 4; }));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(receiver.requests(), 4u);
}

TEST_F(WebhooksTest, FullQueueDropsTheOldest) {
  Receiver receiver([](size_t) { return Receiver::Reply{.hang = true}; });
  auto& hooks = make({.urls = {receiver.url()}, .timeout = 60s});
  // 4 go out (and hang), kMaxQueued wait, the 6 oldest of those waiting are dropped.
  size_t events = 4 + Webhooks::kMaxQueued + 6;
  {
    auto release = hold_io();
    for (size_t i = 0; i < events; ++i) hooks.room_created("r" + std::to_string(i));
    release();
  }
  ASSERT_TRUE(eventually([&] { return metrics_.webhook_dropped.load() >= 6; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(metrics_.webhook_dropped.load(), 6);
  EXPECT_NE(metrics_.render().find("\nrealtime_pm_webhook_dropped_total 6\n"), std::string::npos);
  ASSERT_TRUE(eventually([&] { return receiver.requests() == 4; }));
  // The first four events went out, the ones right behind them were the oldest waiting.
  for (const auto& r : receiver.received()) {
    std::string room = string_field(parse_body(r.body), "room");
    EXPECT_TRUE(room == "r0" || room == "r1" || room == "r2" || room == "r3") << room;
  }
}

TEST_F(WebhooksTest, StopWithDeliveriesInFlightIsSafe) {
  Receiver receiver([](size_t index) {
    // The first hangs; the others fail and wait for their retry.
    return index == 0 ? Receiver::Reply{.hang = true}
                      : Receiver::Reply{http::status::internal_server_error};
  });
  // A window and retries long enough that none ends before stop().
  auto& hooks = make({.urls = {receiver.url()}, .debounce = 1s, .timeout = 60s, .retry_base = 1s});
  hooks.room_created("r1");
  hooks.room_created("r2");
  hooks.room_changed("r1", 1);
  hooks.room_changed("r1", 2);  // pending in r1's window
  ASSERT_TRUE(eventually([&] { return receiver.requests() >= 3; }));
  ASSERT_TRUE(eventually([&] { return metrics_.webhook_failures.load() >= 2; }));
  hooks.stop();
  hooks.stop();              // idempotent
  hooks.room_created("r3");  // ignored after stop
  int64_t failures = metrics_.webhook_failures.load();
  webhooks_.reset();
  // The io_context keeps running past the window's end, the retries' and the cancellations.
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(metrics_.webhook_failures.load(), failures);
  EXPECT_EQ(metrics_.webhook_deliveries.load(), 0);
  EXPECT_EQ(receiver.requests(), 3u);
}

TEST_F(WebhooksTest, DestroyedWhileSendingIsSafe) {
  Receiver receiver;
  auto& hooks = make({.urls = {receiver.url()}, .debounce = 100ms});
  for (int i = 0; i < 20; ++i) {
    hooks.room_created("r" + std::to_string(i));
    hooks.room_changed("r" + std::to_string(i), i);
  }
  webhooks_.reset();
  std::this_thread::sleep_for(300ms);
  EXPECT_LE(receiver.requests(), 40u);
}

TEST(WebhooksMetrics, RenderedWithHelpAndType) {
  Metrics metrics;
  metrics.webhook_deliveries = 3;
  metrics.webhook_failures = 2;
  metrics.webhook_dropped = 1;
  std::string text = metrics.render();
  for (const char* name :
       {"realtime_pm_webhook_deliveries_total", "realtime_pm_webhook_failures_total",
        "realtime_pm_webhook_dropped_total"}) {
    EXPECT_NE(text.find("# HELP " + std::string(name) + " "), std::string::npos) << name;
    EXPECT_NE(text.find("# TYPE " + std::string(name) + " counter\n"), std::string::npos) << name;
  }
  EXPECT_NE(text.find("\nrealtime_pm_webhook_deliveries_total 3\n"), std::string::npos);
  EXPECT_NE(text.find("\nrealtime_pm_webhook_failures_total 2\n"), std::string::npos);
  EXPECT_NE(text.find("\nrealtime_pm_webhook_dropped_total 1\n"), std::string::npos);
}

}  // namespace
}  // namespace rtpm::server
