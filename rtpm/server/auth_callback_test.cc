#include "rtpm/server/auth_callback.h"

#include <atomic>
#include <functional>
#include <future>
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

#include "rtpm/json/json.h"

namespace rtpm::server {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using Decision = AuthCallback::Decision;
using auth::Permission;

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

/// A small HTTP service on a free loopback port, on its own thread and io_context: it records
/// each request and answers what the handler says (or never answers).
class FakeService {
 public:
  struct Reply {
    http::status status = http::status::ok;
    std::string body;
    bool hang = false;  ///< read the request and never answer
  };
  struct Received {
    std::string method;
    std::string target;
    std::string host;
    std::string content_type;
    std::string connection;
    std::string body;
  };
  using Handler = std::function<Reply()>;

  explicit FakeService(Handler handler, const char* address = "127.0.0.1")
      : handler_(std::move(handler)), acceptor_(ioc_, {net::ip::make_address(address), 0}) {
    net::co_spawn(ioc_, accept_loop(), net::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  /// Always the same answer.
  explicit FakeService(std::string body, http::status status = http::status::ok)
      : FakeService([body, status] {
          return Reply{status, body};
        }) {}
  ~FakeService() {
    ioc_.stop();
    thread_.join();
  }

  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string url(std::string path = "/auth") const {
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
    Reply reply = handler_();
    {
      std::lock_guard lock(mutex_);
      received_.push_back(Received{std::string(req.method_string()), std::string(req.target()),
                                   std::string(req[http::field::host]),
                                   std::string(req[http::field::content_type]),
                                   std::string(req[http::field::connection]), req.body()});
      if (reply.hang) {
        held_.push_back(std::move(socket));
        co_return;
      }
    }
    http::response<http::string_body> res{reply.status, 11};
    res.set(http::field::content_type, "application/json");
    res.keep_alive(false);
    res.body() = std::move(reply.body);
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

/// The AuthCallback's io_context runs on its own thread.
class AuthCallbackTest : public ::testing::Test {
 protected:
  AuthCallbackTest() : work_(net::make_work_guard(ioc_)), thread_([this] { ioc_.run(); }) {}
  ~AuthCallbackTest() override {
    work_.reset();
    thread_.join();
  }

  std::unique_ptr<AuthCallback> make(std::string url,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(5),
                                     std::chrono::seconds cache_for = std::chrono::seconds(60)) {
    auto created = AuthCallback::create(
        ioc_,
        AuthCallback::Options{.url = std::move(url), .timeout = timeout, .cache_for = cache_for});
    if (!created) {
      ADD_FAILURE() << created.error().message;
      return nullptr;
    }
    return std::move(*created);
  }

  /// Asks and waits for the answer; checks that `done` runs once, on the io_context's thread.
  Result<Decision> ask(AuthCallback& callback, std::string token = "tok", std::string room = "r1",
                       std::optional<std::string> user_id = "alice") {
    auto promise = std::make_shared<std::promise<Result<Decision>>>();
    auto calls = std::make_shared<std::atomic<int>>(0);
    auto future = promise->get_future();
    callback.authorize(std::move(token), std::move(room), std::move(user_id),
                       [this, promise, calls](Result<Decision> result) {
                         EXPECT_EQ(std::this_thread::get_id(), thread_.get_id());
                         if (calls->fetch_add(1) != 0) {
                           ADD_FAILURE() << "done called twice";
                           return;
                         }
                         promise->set_value(std::move(result));
                       });
    if (future.wait_for(10s) != std::future_status::ready) {
      ADD_FAILURE() << "no answer within 10 s";
      return Error{ErrorCode::internal, "no answer"};
    }
    return future.get();
  }

  static void expect_refused(const Result<Decision>& result, std::string_view reason) {
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().code, ErrorCode::unauthorized);
    EXPECT_EQ(result.error().message.rfind("the authorization service failed: ", 0), 0u)
        << result.error().message;
    EXPECT_NE(result.error().message.find(reason), std::string::npos) << result.error().message;
  }

  net::io_context ioc_;
  net::executor_work_guard<net::io_context::executor_type> work_;
  std::thread thread_;
};

TEST_F(AuthCallbackTest, AllowsWriteWithUserId) {
  FakeService service(R"({"allow":true,"permission":"write","userId":"bob"})");
  auto callback = make(service.url());
  auto result = ask(*callback);
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->permission, Permission::write);
  EXPECT_EQ(result->user_id, "bob");
}

TEST_F(AuthCallbackTest, AllowsRead) {
  FakeService service(R"({"allow":true,"permission":"read"})");
  auto callback = make(service.url());
  auto result = ask(*callback);
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->permission, Permission::read);
  EXPECT_EQ(result->user_id, "");
}

TEST_F(AuthCallbackTest, PermissionDefaultsToWrite) {
  FakeService service(R"({"allow":true})");
  auto callback = make(service.url());
  auto result = ask(*callback);
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->permission, Permission::write);
  EXPECT_EQ(result->user_id, "");
}

TEST_F(AuthCallbackTest, DenialIsAnAnswer) {
  FakeService service(R"({"allow":false,"permission":"write","userId":"bob"})");
  auto callback = make(service.url());
  auto result = ask(*callback);
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->permission, Permission::none);
  EXPECT_EQ(result->user_id, "");
}

TEST_F(AuthCallbackTest, SendsTokenRoomAndUserId) {
  FakeService service(R"({"allow":true})");
  auto callback = make(service.url());
  ASSERT_TRUE(ask(*callback, "to\"k\\en\n", "docs/a", "al\u00e9ce").ok());
  ASSERT_TRUE(ask(*callback, "t2", "docs/b", std::nullopt).ok());
  auto received = service.received();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].method, "POST");
  EXPECT_EQ(received[0].target, "/auth");
  EXPECT_EQ(received[0].host, "127.0.0.1:" + std::to_string(service.port()));
  EXPECT_EQ(received[0].content_type, "application/json");
  EXPECT_EQ(received[0].connection, "close");

  auto first = json::parse(received[0].body);
  ASSERT_TRUE(first.ok()) << received[0].body;
  ASSERT_TRUE(first->is_object());
  ASSERT_TRUE(first->find("token") && first->find("token")->is_string());
  EXPECT_EQ(first->find("token")->as_string(), "to\"k\\en\n");
  ASSERT_TRUE(first->find("room") && first->find("room")->is_string());
  EXPECT_EQ(first->find("room")->as_string(), "docs/a");
  ASSERT_TRUE(first->find("userId") && first->find("userId")->is_string());
  EXPECT_EQ(first->find("userId")->as_string(), "al\u00e9ce");

  auto second = json::parse(received[1].body);
  ASSERT_TRUE(second.ok()) << received[1].body;
  EXPECT_EQ(second->find("token")->as_string(), "t2");
  EXPECT_EQ(second->find("room")->as_string(), "docs/b");
  ASSERT_NE(second->find("userId"), nullptr);
  EXPECT_TRUE(second->find("userId")->is_null());
}

TEST_F(AuthCallbackTest, PathDefaultsToSlash) {
  FakeService service(R"({"allow":true})");
  auto callback = make("http://127.0.0.1:" + std::to_string(service.port()));
  ASSERT_TRUE(ask(*callback).ok());
  ASSERT_EQ(service.requests(), 1u);
  EXPECT_EQ(service.received()[0].target, "/");
}

TEST_F(AuthCallbackTest, StatusOtherThan200IsAnError) {
  FakeService service(R"({"allow":true})", http::status::internal_server_error);
  auto callback = make(service.url());
  expect_refused(ask(*callback), "status 500");
}

TEST_F(AuthCallbackTest, BodyNotJsonIsAnError) {
  FakeService service("allow: yes");
  auto callback = make(service.url());
  expect_refused(ask(*callback), "not JSON");
}

TEST_F(AuthCallbackTest, BodyNotAnObjectIsAnError) {
  FakeService service("[true]");
  auto callback = make(service.url());
  expect_refused(ask(*callback), "not a JSON object");
}

TEST_F(AuthCallbackTest, AllowMissingOrNotBooleanIsAnError) {
  FakeService missing(R"({"permission":"write"})");
  auto callback = make(missing.url());
  expect_refused(ask(*callback), "'allow'");
  FakeService string(R"({"allow":"true"})");
  callback = make(string.url());
  expect_refused(ask(*callback), "'allow'");
}

TEST_F(AuthCallbackTest, BadPermissionIsAnError) {
  for (const char* body :
       {R"({"allow":true,"permission":"admin"})", R"({"allow":true,"permission":"none"})",
        R"({"allow":true,"permission":2})", R"({"allow":true,"permission":null})"}) {
    FakeService service(body);
    auto callback = make(service.url());
    expect_refused(ask(*callback), "'permission'");
  }
}

TEST_F(AuthCallbackTest, BadUserIdIsAnError) {
  std::string too_long = R"({"allow":true,"userId":")" + std::string(129, 'u') + "\"}";
  for (const std::string& body : {std::string(R"({"allow":true,"userId":""})"),
                                  std::string(R"({"allow":true,"userId":7})"), too_long}) {
    FakeService service(body);
    auto callback = make(service.url());
    expect_refused(ask(*callback), "'userId'");
  }
  FakeService longest(R"({"allow":true,"userId":")" + std::string(128, 'u') + "\"}");
  auto callback = make(longest.url());
  auto result = ask(*callback);
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->user_id, std::string(128, 'u'));
}

TEST_F(AuthCallbackTest, AnswerOver64KiBIsAnError) {
  FakeService service(R"({"allow":true,"pad":")" + std::string(70 * 1024, 'x') + "\"}");
  auto callback = make(service.url());
  expect_refused(ask(*callback), "reading the answer");
}

TEST_F(AuthCallbackTest, ServiceThatNeverAnswersTimesOut) {
  FakeService service([] { return FakeService::Reply{.hang = true}; });
  auto callback = make(service.url(), 200ms);
  expect_refused(ask(*callback), "no answer within 200 ms");
  EXPECT_EQ(service.requests(), 1u);
}

TEST_F(AuthCallbackTest, ConnectionRefusedIsAnError) {
  uint16_t port = 0;
  {
    net::io_context probe;
    tcp::acceptor acceptor(probe, {net::ip::make_address("127.0.0.1"), 0});
    port = acceptor.local_endpoint().port();
  }
  auto callback = make("http://127.0.0.1:" + std::to_string(port) + "/auth");
  expect_refused(ask(*callback), "connecting");
}

TEST_F(AuthCallbackTest, CachesAnswers) {
  FakeService service(R"({"allow":true,"permission":"read","userId":"bob"})");
  auto callback = make(service.url());
  ASSERT_TRUE(ask(*callback).ok());
  auto again = ask(*callback);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->permission, Permission::read);
  EXPECT_EQ(again->user_id, "bob");
  EXPECT_EQ(service.requests(), 1u);
}

TEST_F(AuthCallbackTest, CachesDenials) {
  FakeService service(R"({"allow":false})");
  auto callback = make(service.url());
  ASSERT_TRUE(ask(*callback).ok());
  auto again = ask(*callback);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->permission, Permission::none);
  EXPECT_EQ(service.requests(), 1u);
}

TEST_F(AuthCallbackTest, CacheForZeroDoesNotCache) {
  FakeService service(R"({"allow":true})");
  auto callback = make(service.url(), std::chrono::seconds(5), std::chrono::seconds(0));
  ASSERT_TRUE(ask(*callback).ok());
  ASSERT_TRUE(ask(*callback).ok());
  EXPECT_EQ(service.requests(), 2u);
}

TEST_F(AuthCallbackTest, FailuresAreNotCached) {
  auto count = std::make_shared<std::atomic<int>>(0);
  FakeService service([count] {
    if (count->fetch_add(1) == 0)
      return FakeService::Reply{http::status::internal_server_error, "{}"};
    return FakeService::Reply{http::status::ok, R"({"allow":true})"};
  });
  auto callback = make(service.url());
  expect_refused(ask(*callback), "status 500");
  auto second = ask(*callback);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->permission, Permission::write);
  EXPECT_EQ(service.requests(), 2u);
}

TEST_F(AuthCallbackTest, CacheKeyIsTokenRoomAndUserId) {
  FakeService service(R"({"allow":true})");
  auto callback = make(service.url());
  ASSERT_TRUE(ask(*callback, "t", "r1", "alice").ok());
  ASSERT_TRUE(ask(*callback, "t", "r2", "alice").ok());
  ASSERT_TRUE(ask(*callback, "t", "r1", "bob").ok());
  ASSERT_TRUE(ask(*callback, "t", "r1", std::nullopt).ok());
  ASSERT_TRUE(ask(*callback, "u", "r1", "alice").ok());
  // The userId "\x01null" (a valid one) is not the null of an HTTP read.
  ASSERT_TRUE(ask(*callback, "t", "r1", "\x01null").ok());
  EXPECT_EQ(service.requests(), 6u);
  ASSERT_TRUE(ask(*callback, "t", "r2", "alice").ok());
  ASSERT_TRUE(ask(*callback, "t", "r1", std::nullopt).ok());
  ASSERT_TRUE(ask(*callback, "t", "r1", "\x01null").ok());
  EXPECT_EQ(service.requests(), 6u);
}

TEST_F(AuthCallbackTest, CacheHitIsNotReentrant) {
  FakeService service(R"({"allow":true})");
  auto callback = make(service.url());
  ASSERT_TRUE(ask(*callback).ok());
  std::promise<bool> returned_first;
  net::post(ioc_, [&] {
    auto returned = std::make_shared<bool>(false);
    callback->authorize("tok", "r1", "alice", [&returned_first, returned](Result<Decision> r) {
      EXPECT_TRUE(r.ok());
      returned_first.set_value(*returned);
    });
    *returned = true;
  });
  auto future = returned_first.get_future();
  ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(future.get());
  EXPECT_EQ(service.requests(), 1u);
}

TEST_F(AuthCallbackTest, MayBeDestroyedWhileAsking) {
  FakeService service(R"({"allow":true,"userId":"bob"})");
  auto callback = make(service.url());
  std::promise<Result<Decision>> answered;
  callback->authorize("tok", "r1", "alice",
                      [&answered](Result<Decision> r) { answered.set_value(std::move(r)); });
  callback.reset();
  auto future = answered.get_future();
  ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
  auto result = future.get();
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->user_id, "bob");
}

TEST_F(AuthCallbackTest, ManyThreadsAtOnce) {
  FakeService service(R"({"allow":true})");
  auto callback = make(service.url());
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        // Each room twice: the second may or may not find the first's answer in the cache.
        if (ask(*callback, "tok", "room-" + std::to_string((t * 10 + i) / 2)).ok()) ++ok;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), 40);
  EXPECT_GE(service.requests(), 20u);
  EXPECT_LE(service.requests(), 40u);
}

TEST_F(AuthCallbackTest, Ipv6Literal) {
  std::unique_ptr<FakeService> service;
  try {
    service = std::make_unique<FakeService>(
        [] {
          return FakeService::Reply{http::status::ok, R"({"allow":true})"};
        },
        "::1");
  } catch (const boost::system::system_error& e) {
    GTEST_SKIP() << "no IPv6 loopback: " << e.what();
  }
  auto callback = make("http://[::1]:" + std::to_string(service->port()) + "/v6");
  auto result = ask(*callback);
  ASSERT_TRUE(result.ok()) << result.error().message;
  ASSERT_EQ(service->requests(), 1u);
  EXPECT_EQ(service->received()[0].target, "/v6");
  EXPECT_EQ(service->received()[0].host, "[::1]:" + std::to_string(service->port()));
}

TEST(AuthCallbackCreate, RejectsOtherUrls) {
  net::io_context ioc;
  for (const char* url :
       {"https://auth.example/check", "garbage", "", "http://", "http:///path", "http://:80/",
        "ftp://host/", "http//host/", "http://host:/", "http://host:0/", "http://host:65536/",
        "http://host:8x/", "http://user@host/", "http://host/a path", "http://host/a#frag",
        "http://[::1/", "http://[]/", "http://[::1]x/", "http://ho st/"}) {
    auto created = AuthCallback::create(ioc, {.url = url});
    ASSERT_FALSE(created.ok()) << url;
    EXPECT_EQ(created.error().code, ErrorCode::internal);
    EXPECT_EQ(created.error().message, "--auth-url must be http://HOST[:PORT][/PATH]");
  }
}

TEST(AuthCallbackCreate, AcceptsHttpUrls) {
  net::io_context ioc;
  for (const char* url :
       {"http://localhost", "http://localhost/", "http://127.0.0.1:8080/auth",
        "HTTP://auth.internal:65535/v1/check?x=1", "http://[::1]:9000/a", "http://[::1]"}) {
    auto created = AuthCallback::create(ioc, {.url = url});
    EXPECT_TRUE(created.ok()) << url;
  }
}

}  // namespace
}  // namespace rtpm::server
