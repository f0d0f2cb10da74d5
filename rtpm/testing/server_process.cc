#include "rtpm/testing/server_process.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <future>
#include <stdexcept>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rtpm/protocol/binary_codec.h"

namespace rtpm::testing {

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

ServerProcess::ServerProcess(std::string binary, std::vector<std::string> args,
                             std::string data_dir)
    : binary_(std::move(binary)), args_(std::move(args)), data_dir_(std::move(data_dir)) {
  if (data_dir_.empty()) {
    char tmpl[] = "/tmp/rtpm-test-XXXXXX";
    char* made = mkdtemp(tmpl);
    if (!made) throw std::runtime_error("mkdtemp failed");
    data_dir_ = made;
    own_dir_ = true;
  }
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) stop();
  if (own_dir_) {
    std::error_code ec;
    fs::remove_all(data_dir_, ec);
  }
}

void ServerProcess::start() { start_on(0); }

void ServerProcess::restart() {
  if (pid_ > 0) throw std::runtime_error("restart: the server is running");
  // The old listening socket may linger briefly; retry for a while.
  for (int i = 0;; ++i) {
    try {
      start_on(port_);
      return;
    } catch (const std::runtime_error&) {
      if (i >= 50) throw;
      usleep(100000);
    }
  }
}

void ServerProcess::start_on(uint16_t wanted_port) {
  std::string port_file = data_dir_ + "/port";
  fs::remove(port_file);
  std::string port_s = std::to_string(wanted_port);
  std::vector<std::string> argv_s = {binary_,   "serve",       "--port",  port_s,        "--data",
                                     data_dir_, "--port-file", port_file, "--log-level", "warn"};
  argv_s.insert(argv_s.end(), args_.begin(), args_.end());
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(binary_.c_str(), argv.data());
    _exit(127);
  }
  for (int i = 0; i < 2000; ++i) {
    std::ifstream in(port_file);
    int port = 0;
    if (in >> port && port > 0) {
      port_ = static_cast<uint16_t>(port);
      return;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("the server exited at start (status " + std::to_string(status) +
                               ")");
    }
    usleep(10000);
  }
  throw std::runtime_error("the server did not start listening within 20 s");
}

int ServerProcess::stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 1500; ++i) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    usleep(10000);
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return -1;
}

void ServerProcess::kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

namespace {

// A client TLS context that trusts only `ca_file` and checks the name "localhost".
std::unique_ptr<net::ssl::context> client_tls(const std::string& ca_file) {
  auto ctx = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
  ctx->load_verify_file(ca_file);
  ctx->set_verify_mode(net::ssl::verify_peer);
  return ctx;
}

template <class Stream>
HttpResponse http_request_on(Stream& stream, const http::request<http::string_body>& req) {
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);                 // large documents (Beast's default stops at 8 MB)
  parser.skip(req.method() == http::verb::head);  // a HEAD answer has no body
  http::read(stream, buffer, parser);
  const auto& res = parser.get();
  HttpResponse out{static_cast<int>(res.result_int()), res.body(), {}};
  for (const auto& field : res) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(field.value());
  }
  return out;
}

}  // namespace

HttpResponse http_request(uint16_t port, const std::string& method, const std::string& target,
                          const std::string& body,
                          const std::vector<std::pair<std::string, std::string>>& headers,
                          const std::string& tls_ca) {
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, "127.0.0.1");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  if (!body.empty() || req.method() == http::verb::post || req.method() == http::verb::put)
    req.prepare_payload();
  net::io_context ioc;
  tcp::endpoint server(net::ip::make_address("127.0.0.1"), port);
  beast::error_code ec;
  if (tls_ca.empty()) {
    beast::tcp_stream stream(ioc);
    stream.connect(server);
    HttpResponse res = http_request_on(stream, req);
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    return res;
  }
  auto tls = client_tls(tls_ca);
  beast::ssl_stream<beast::tcp_stream> stream(ioc, *tls);
  stream.set_verify_callback(net::ssl::host_name_verification("localhost"));
  SSL_set_tlsext_host_name(stream.native_handle(), "localhost");
  beast::get_lowest_layer(stream).connect(server);
  stream.handshake(net::ssl::stream_base::client);
  HttpResponse res = http_request_on(stream, req);
  stream.shutdown(ec);
  return res;
}

HttpResponse http_get(uint16_t port, const std::string& target, const std::string& tls_ca) {
  return http_request(port, "GET", target, {}, {}, tls_ca);
}

struct WsClient::Impl {
  using Plain = websocket::stream<beast::tcp_stream>;
  using Tls = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;
  net::io_context ioc;
  std::unique_ptr<net::ssl::context> tls;  // before the stream that refers to it
  std::optional<Plain> plain;
  std::optional<Tls> secure;
  std::thread reader;
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::pair<bool, std::string>> inbox;  // (binary frame, payload)
  bool closed = false;
  int close_code = 0;
  std::mutex write_mutex;

  // Calls f with the WebSocket stream, plain or TLS.
  template <class F>
  decltype(auto) with_ws(F&& f) {
    if (secure) return f(*secure);
    return f(*plain);
  }
  tcp::socket& socket() {
    return with_ws([](auto& ws) -> tcp::socket& { return beast::get_lowest_layer(ws).socket(); });
  }

  // TLS: OpenSSL lets one thread at a time use a connection, so every operation on `secure`
  // after the handshake runs on the reader thread (its io_context runs there): reads loop
  // there, and secure_write posts a write and waits for it.
  beast::flat_buffer secure_buf;
  void secure_read() {
    secure->async_read(secure_buf, [this](beast::error_code ec, size_t) {
      {
        std::lock_guard lock(mutex);
        if (ec) {
          closed = true;
          close_code = secure->reason().code;
          cv.notify_all();
          return;
        }
        inbox.emplace_back(!secure->got_text(), beast::buffers_to_string(secure_buf.data()));
        cv.notify_all();
      }
      secure_buf.consume(secure_buf.size());
      secure_read();
    });
  }
  void secure_write(const std::string& data, bool text) {
    struct Op {
      std::string data;
      std::promise<beast::error_code> done;
    };
    auto op = std::make_shared<Op>(Op{data, {}});
    auto result = op->done.get_future();
    net::post(ioc, [this, op, text] {
      secure->text(text);
      secure->async_write(net::buffer(op->data),
                          [op](beast::error_code ec, size_t) { op->done.set_value(ec); });
    });
    if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready)
      throw std::runtime_error("WebSocket write over TLS did not complete (connection closed?)");
    if (auto ec = result.get()) throw beast::system_error(ec);
  }
};

WsClient::WsClient(uint16_t port, std::string subprotocol, std::string path, std::string bearer,
                   std::string tls_ca)
    : impl_(std::make_unique<Impl>()) {
  tcp::endpoint server(net::ip::make_address("127.0.0.1"), port);
  if (tls_ca.empty()) {
    impl_->plain.emplace(impl_->ioc);
    beast::get_lowest_layer(*impl_->plain).connect(server);
  } else {
    impl_->tls = client_tls(tls_ca);
    impl_->secure.emplace(impl_->ioc, *impl_->tls);
    auto& ssl = impl_->secure->next_layer();
    ssl.set_verify_callback(net::ssl::host_name_verification("localhost"));
    SSL_set_tlsext_host_name(ssl.native_handle(), "localhost");
    beast::get_lowest_layer(ssl).connect(server);
    ssl.handshake(net::ssl::stream_base::client);
  }
  impl_->with_ws([&](auto& ws) {
    ws.set_option(
        websocket::stream_base::decorator([subprotocol, bearer](websocket::request_type& req) {
          if (!subprotocol.empty()) req.set(http::field::sec_websocket_protocol, subprotocol);
          if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
        }));
    websocket::response_type res;
    ws.handshake(res, "127.0.0.1:" + std::to_string(port), path);
    chosen_ = std::string(res[http::field::sec_websocket_protocol]);
    ws.read_message_max(64 << 20);
  });
  if (impl_->secure) {
    impl_->secure_read();
    impl_->reader = std::thread([impl = impl_.get()] { impl->ioc.run(); });
    return;
  }
  impl_->reader = std::thread([impl = impl_.get()] {
    impl->with_ws([impl](auto& ws) {
      for (;;) {
        beast::flat_buffer buf;
        beast::error_code ec;
        ws.read(buf, ec);
        std::lock_guard lock(impl->mutex);
        if (ec) {
          impl->closed = true;
          impl->close_code = ws.reason().code;
          impl->cv.notify_all();
          return;
        }
        impl->inbox.emplace_back(!ws.got_text(), beast::buffers_to_string(buf.data()));
        impl->cv.notify_all();
      }
    });
  });
}

WsClient::~WsClient() {
  if (impl_->secure) {
    // On the reader thread; if it has already stopped, nothing else uses the stream.
    net::post(impl_->ioc, [impl = impl_.get()] {
      beast::error_code ec;
      impl->socket().shutdown(tcp::socket::shutdown_both, ec);
      impl->socket().close(ec);
    });
    if (impl_->reader.joinable()) impl_->reader.join();
    return;
  }
  {
    std::lock_guard lock(impl_->write_mutex);
    beast::error_code ec;
    impl_->socket().shutdown(tcp::socket::shutdown_both, ec);
    impl_->socket().close(ec);
  }
  if (impl_->reader.joinable()) impl_->reader.join();
}

void WsClient::send(const std::string& text) {
  std::lock_guard lock(impl_->write_mutex);
  if (impl_->secure) return impl_->secure_write(text, true);
  impl_->with_ws([&](auto& ws) {
    ws.text(true);
    ws.write(net::buffer(text));
  });
}

void WsClient::send_binary(const std::string& bytes) {
  std::lock_guard lock(impl_->write_mutex);
  if (impl_->secure) return impl_->secure_write(bytes, false);
  impl_->with_ws([&](auto& ws) {
    ws.binary(true);
    ws.write(net::buffer(bytes));
  });
}

std::optional<json::Value> WsClient::recv(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mutex);
  impl_->cv.wait_for(lock, timeout, [&] { return !impl_->inbox.empty() || impl_->closed; });
  if (impl_->inbox.empty()) return std::nullopt;
  auto [binary, text] = std::move(impl_->inbox.front());
  impl_->inbox.pop_front();
  lock.unlock();
  // Binary frames (realtime-pm.bin.v1) are decoded to the same JSON value.
  auto v = binary ? protocol::decode_binary(text) : json::parse(text);
  if (!v) throw std::runtime_error("the server sent an undecodable message: " + text);
  return *v;
}

std::optional<json::Value> WsClient::recv_type(const std::string& type,
                                               std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto m = recv(left);
    if (!m) return std::nullopt;
    const json::Value* t = m->find("type");
    if (t && t->is_string() && t->as_string() == type) return m;
  }
}

bool WsClient::closed() {
  std::lock_guard lock(impl_->mutex);
  return impl_->closed;
}

int WsClient::close_code() {
  std::lock_guard lock(impl_->mutex);
  return impl_->close_code;
}

void WsClient::clear() {
  std::lock_guard lock(impl_->mutex);
  impl_->inbox.clear();
}

std::string to_text(const json::Value& v) { return json::stringify(v); }

}  // namespace rtpm::testing
