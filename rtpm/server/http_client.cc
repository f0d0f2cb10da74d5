#include "rtpm/server/http_client.h"

#include <charconv>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace rtpm::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

bool is_ipv6_char(char c) {
  return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') || c == ':' ||
         c == '.';
}

/// One exchange. Owns all it needs; every handler runs on its strand.
class PostExchange final : public HttpExchange, public std::enable_shared_from_this<PostExchange> {
 public:
  PostExchange(net::io_context& ioc, const HttpUrl& url, HttpPost post, Done done)
      : host_(url.host),
        port_(url.port),
        timeout_(post.timeout),
        done_(std::move(done)),
        strand_(net::make_strand(ioc)),
        resolver_(strand_),
        stream_(strand_),
        deadline_(strand_) {
    http::verb verb = http::string_to_verb(post.method);
    request_.method(verb == http::verb::unknown ? http::verb::post : verb);
    request_.target(url.path);
    request_.version(11);
    request_.set(http::field::host, url.host_header);
    request_.set(http::field::content_type, post.content_type);
    request_.set(http::field::connection, "close");
    for (auto& [name, value] : post.headers) request_.set(name, value);
    request_.body() = std::move(post.body);
    request_.prepare_payload();
    parser_.body_limit(post.max_answer_bytes);
  }

  void begin() {
    net::post(strand_, [self = shared_from_this()] { self->run(); });
  }

  void cancel() override {
    net::post(strand_, [self = shared_from_this()] {
      self->finish(Error{ErrorCode::internal, "cancelled"});
    });
  }

 private:
  void run() {
    if (finished_) return;  // cancelled before it began
    // The whole exchange (resolve, connect, write, read) within the timeout: when the deadline
    // passes first, the pending operation is cancelled and fails.
    deadline_.expires_after(timeout_);
    deadline_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->finished_) return;
      self->timed_out_ = true;
      self->resolver_.cancel();
      beast::error_code ignored;
      self->stream_.socket().close(ignored);
    });
    resolver_.async_resolve(
        host_, port_,
        [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
          if (ec) return self->fail("resolving the host", ec);
          if (self->finished_) return;
          self->stream_.async_connect(results,
                                      [self](beast::error_code connect_ec, const tcp::endpoint&) {
                                        self->on_connect(connect_ec);
                                      });
        });
  }

  void on_connect(beast::error_code ec) {
    if (ec) return fail("connecting", ec);
    if (finished_) return;
    http::async_write(
        stream_, request_, [self = shared_from_this()](beast::error_code write_ec, size_t) {
          if (write_ec) return self->fail("sending the request", write_ec);
          if (self->finished_) return;
          http::async_read(self->stream_, self->buffer_, self->parser_,
                           [self](beast::error_code read_ec, size_t) { self->on_read(read_ec); });
        });
  }

  void on_read(beast::error_code ec) {
    if (ec) return fail("reading the answer", ec);
    auto& response = parser_.get();
    finish(HttpAnswer{response.result_int(), std::move(response.body())});
  }

  void fail(std::string_view what, beast::error_code ec) {
    if (timed_out_)
      return finish(Error{ErrorCode::internal,
                          "no answer within " + std::to_string(timeout_.count()) + " ms"});
    finish(Error{ErrorCode::internal, std::string(what) + ": " + ec.message()});
  }

  void finish(Result<HttpAnswer> result) {
    if (finished_) return;
    finished_ = true;
    deadline_.cancel();
    resolver_.cancel();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
    Done done = std::move(done_);
    done_ = nullptr;
    done(std::move(result));
  }

  std::string host_;
  std::string port_;
  std::chrono::milliseconds timeout_;
  Done done_;
  net::strand<net::io_context::executor_type> strand_;
  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  net::steady_timer deadline_;
  http::request<http::string_body> request_;
  beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
  bool timed_out_ = false;
  bool finished_ = false;
};

}  // namespace

std::optional<HttpUrl> parse_http_url(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.size() < kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    char c = url[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kScheme[i]) return std::nullopt;
  }
  url.remove_prefix(kScheme.size());
  size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "/" : url.substr(slash);
  // The path goes into the request line as it is: no spaces, controls or fragment.
  for (char c : path) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '#') return std::nullopt;
  }

  std::string_view host;
  std::string_view port;
  std::string_view host_in_url;  // with the brackets of an IPv6 literal
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos || close < 2) return std::nullopt;
    host = authority.substr(1, close - 1);
    host_in_url = authority.substr(0, close + 1);
    for (char c : host) {
      if (!is_ipv6_char(c)) return std::nullopt;
    }
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
      if (port.empty()) return std::nullopt;
    }
  } else {
    size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    host_in_url = host;
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return std::nullopt;
    }
    if (host.empty()) return std::nullopt;
    for (char c : host) {
      if (!is_host_char(c)) return std::nullopt;
    }
  }
  unsigned port_number = 80;
  if (!port.empty()) {
    for (char c : port) {
      if (c < '0' || c > '9') return std::nullopt;
    }
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), port_number);
    if (ec != std::errc() || end != port.data() + port.size() || port_number < 1 ||
        port_number > 65535)
      return std::nullopt;
  }

  HttpUrl parsed;
  parsed.host = std::string(host);
  parsed.port = std::to_string(port_number);
  parsed.host_header = std::string(host_in_url);
  if (port_number != 80) parsed.host_header += ":" + parsed.port;
  parsed.path = std::string(path);
  return parsed;
}

std::shared_ptr<HttpExchange> HttpExchange::start(net::io_context& ioc, const HttpUrl& url,
                                                  HttpPost post, Done done) {
  auto exchange = std::make_shared<PostExchange>(ioc, url, std::move(post), std::move(done));
  exchange->begin();
  return exchange;
}

}  // namespace rtpm::server
