#include "rtpm/testing/server_process.h"

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
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

HttpResponse http_get(uint16_t port, const std::string& target) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return {static_cast<int>(res.result_int()), res.body()};
}

struct WsClient::Impl {
  net::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
  std::thread reader;
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::pair<bool, std::string>> inbox;  // (binary frame, payload)
  bool closed = false;
  int close_code = 0;
  std::mutex write_mutex;
};

WsClient::WsClient(uint16_t port, std::string subprotocol, std::string path, std::string bearer)
    : impl_(std::make_unique<Impl>()) {
  auto& ws = impl_->ws;
  beast::get_lowest_layer(ws).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  ws.set_option(
      websocket::stream_base::decorator([subprotocol, bearer](websocket::request_type& req) {
        if (!subprotocol.empty()) req.set(http::field::sec_websocket_protocol, subprotocol);
        if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
      }));
  websocket::response_type res;
  ws.handshake(res, "127.0.0.1:" + std::to_string(port), path);
  chosen_ = std::string(res[http::field::sec_websocket_protocol]);
  ws.read_message_max(64 << 20);
  impl_->reader = std::thread([impl = impl_.get()] {
    for (;;) {
      beast::flat_buffer buf;
      beast::error_code ec;
      impl->ws.read(buf, ec);
      std::lock_guard lock(impl->mutex);
      if (ec) {
        impl->closed = true;
        impl->close_code = impl->ws.reason().code;
        impl->cv.notify_all();
        return;
      }
      impl->inbox.emplace_back(!impl->ws.got_text(), beast::buffers_to_string(buf.data()));
      impl->cv.notify_all();
    }
  });
}

WsClient::~WsClient() {
  {
    std::lock_guard lock(impl_->write_mutex);
    beast::error_code ec;
    beast::get_lowest_layer(impl_->ws).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(impl_->ws).socket().close(ec);
  }
  if (impl_->reader.joinable()) impl_->reader.join();
}

void WsClient::send(const std::string& text) {
  std::lock_guard lock(impl_->write_mutex);
  impl_->ws.text(true);
  impl_->ws.write(net::buffer(text));
}

void WsClient::send_binary(const std::string& bytes) {
  std::lock_guard lock(impl_->write_mutex);
  impl_->ws.binary(true);
  impl_->ws.write(net::buffer(bytes));
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
