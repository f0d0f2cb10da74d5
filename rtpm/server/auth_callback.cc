#include "rtpm/server/auth_callback.h"

#include <charconv>
#include <string_view>
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

#include "rtpm/json/json.h"

namespace rtpm::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

namespace {

/// Cached answers at most; the oldest inserted goes first.
constexpr size_t kMaxCacheEntries = 10'000;
/// The largest answer body read.
constexpr uint64_t kMaxAnswerBytes = 64 * 1024;
/// A userId in an answer: 1 to 128 UTF-16 code units (as PROTOCOL.md's userId).
constexpr size_t kMaxUserIdUnits = 128;

Error bad_url() {
  return Error{ErrorCode::internal, "--auth-url must be http://HOST[:PORT][/PATH]"};
}

Error refusal(std::string_view reason) {
  return Error{ErrorCode::unauthorized, "the authorization service failed: " + std::string(reason)};
}

bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

bool is_ipv6_char(char c) {
  return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') || c == ':' ||
         c == '.';
}

/// A key of the cache: token, room and userId, NUL-separated. A userId is tagged 'u' and no
/// userId is "\x01null", so that a join as the userId "\x01null" (a valid one) does not find
/// the answer given for an HTTP read (userId null) with the same token.
std::string cache_key(const std::string& token, const std::string& room,
                      const std::optional<std::string>& user_id) {
  std::string key;
  key.reserve(token.size() + room.size() + (user_id ? user_id->size() : 4) + 3);
  key.append(token).push_back('\0');
  key.append(room).push_back('\0');
  if (user_id) {
    key.push_back('u');
    key.append(*user_id);
  } else {
    key.append("\x01null");
  }
  return key;
}

std::string request_body(const std::string& token, const std::string& room,
                         const std::optional<std::string>& user_id) {
  std::string body;
  json::Writer w(body);
  w.begin_object();
  w.key("token");
  w.string(token);
  w.key("room");
  w.string(room);
  w.key("userId");
  if (user_id) {
    w.string(*user_id);
  } else {
    w.null();
  }
  w.end_object();
  return body;
}

/// The Decision in a 200 answer's body, or the reason it is none.
Result<AuthCallback::Decision> parse_answer(std::string_view body) {
  Result<json::Value> parsed = json::parse(body);
  if (!parsed) return refusal("the answer is not JSON: " + parsed.error().message);
  const json::Value& answer = *parsed;
  if (!answer.is_object()) return refusal("the answer is not a JSON object");
  const json::Value* allow = answer.find("allow");
  if (!allow || !allow->is_bool()) return refusal("'allow' must be a boolean");
  AuthCallback::Decision decision;
  if (!allow->as_bool()) return decision;  // denied: the other fields do not matter
  decision.permission = auth::Permission::write;
  if (const json::Value* permission = answer.find("permission")) {
    if (permission->is_string() && permission->as_string() == "read") {
      decision.permission = auth::Permission::read;
    } else if (!permission->is_string() || permission->as_string() != "write") {
      return refusal("'permission' must be \"read\" or \"write\"");
    }
  }
  if (const json::Value* user_id = answer.find("userId")) {
    size_t units = user_id->is_string() ? json::to_utf16(user_id->as_string()).size() : 0;
    if (units < 1 || units > kMaxUserIdUnits)
      return refusal("'userId' must be a string of 1 to 128 UTF-16 code units");
    decision.user_id = user_id->as_string();
  }
  return decision;
}

}  // namespace

struct AuthCallback::Impl {
  Impl(net::io_context& io, Options opts) : ioc(io), options(std::move(opts)) {}

  /// A fresh cached answer for `key`, if any (an expired one is dropped).
  std::optional<Decision> lookup(const std::string& key);
  /// Caches an answer (replacing an older answer for the same key).
  void store(std::string key, const Decision& decision);

  net::io_context& ioc;
  Options options;
  // From the URL.
  std::string host;         // for the resolver: no brackets around an IPv6 address
  std::string port;         // "80" by default
  std::string host_header;  // the Host field: as in the URL, with the port when it is not 80
  std::string path;         // "/" by default

  struct CacheEntry {
    std::string key;
    Decision decision;
    SteadyClock::time_point expires;
  };
  std::mutex mutex;
  std::list<CacheEntry> entries;  // in insertion order, oldest first; guarded by mutex
  // Into `entries`; the keys view the entries' own strings. Guarded by mutex.
  std::unordered_map<std::string_view, std::list<CacheEntry>::iterator> index;

  class Exchange;
};

std::optional<AuthCallback::Decision> AuthCallback::Impl::lookup(const std::string& key) {
  std::lock_guard lock(mutex);
  auto found = index.find(key);
  if (found == index.end()) return std::nullopt;
  auto entry = found->second;
  if (SteadyClock::now() >= entry->expires) {
    index.erase(found);
    entries.erase(entry);
    return std::nullopt;
  }
  return entry->decision;
}

void AuthCallback::Impl::store(std::string key, const Decision& decision) {
  auto expires = SteadyClock::now() + options.cache_for;
  std::lock_guard lock(mutex);
  // Two requests for the same key may both have missed: the later answer replaces the earlier.
  if (auto found = index.find(key); found != index.end()) {
    auto old = found->second;
    index.erase(found);
    entries.erase(old);
  }
  while (entries.size() >= kMaxCacheEntries) {
    index.erase(entries.front().key);
    entries.pop_front();
  }
  entries.push_back(CacheEntry{std::move(key), decision, expires});
  auto last = std::prev(entries.end());
  index.emplace(last->key, last);
}

/// One exchange with the service. Owns all it needs, the Impl included (for the URL and the
/// cache), so the AuthCallback may go while it runs. Every handler runs on its strand.
class AuthCallback::Impl::Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(std::shared_ptr<Impl> impl, std::string key, std::string body, AuthCallback::Done done)
      : impl_(std::move(impl)),
        key_(std::move(key)),
        done_(std::move(done)),
        strand_(net::make_strand(impl_->ioc)),
        resolver_(strand_),
        stream_(strand_),
        deadline_(strand_) {
    request_.method(http::verb::post);
    request_.target(impl_->path);
    request_.version(11);
    request_.set(http::field::host, impl_->host_header);
    request_.set(http::field::content_type, "application/json");
    request_.set(http::field::connection, "close");
    request_.body() = std::move(body);
    request_.prepare_payload();
    parser_.body_limit(kMaxAnswerBytes);
  }

  void start() {
    net::post(strand_, [self = shared_from_this()] { self->run(); });
  }

 private:
  void run() {
    // The whole exchange (resolve, connect, write, read) within the timeout: when the deadline
    // passes first, the pending operation is cancelled and fails.
    deadline_.expires_after(impl_->options.timeout);
    deadline_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->finished_) return;
      self->timed_out_ = true;
      self->resolver_.cancel();
      beast::error_code ignored;
      self->stream_.socket().close(ignored);
    });
    resolver_.async_resolve(
        impl_->host, impl_->port,
        [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
          if (ec) return self->fail("resolving the host", ec);
          self->stream_.async_connect(results,
                                      [self](beast::error_code connect_ec, const tcp::endpoint&) {
                                        self->on_connect(connect_ec);
                                      });
        });
  }

  void on_connect(beast::error_code ec) {
    if (ec) return fail("connecting", ec);
    http::async_write(
        stream_, request_, [self = shared_from_this()](beast::error_code write_ec, size_t) {
          if (write_ec) return self->fail("sending the request", write_ec);
          http::async_read(self->stream_, self->buffer_, self->parser_,
                           [self](beast::error_code read_ec, size_t) { self->on_read(read_ec); });
        });
  }

  void on_read(beast::error_code ec) {
    if (ec) return fail("reading the answer", ec);
    const auto& response = parser_.get();
    if (response.result() != http::status::ok)
      return finish(refusal("status " + std::to_string(response.result_int())));
    Result<AuthCallback::Decision> decision = parse_answer(response.body());
    if (decision && impl_->options.cache_for.count() > 0) impl_->store(std::move(key_), *decision);
    finish(std::move(decision));
  }

  void fail(std::string_view what, beast::error_code ec) {
    if (timed_out_)
      return finish(
          refusal("no answer within " + std::to_string(impl_->options.timeout.count()) + " ms"));
    finish(refusal(std::string(what) + ": " + ec.message()));
  }

  void finish(Result<AuthCallback::Decision> result) {
    if (finished_) return;
    finished_ = true;
    deadline_.cancel();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
    AuthCallback::Done done = std::move(done_);
    done(std::move(result));
  }

  std::shared_ptr<Impl> impl_;
  std::string key_;
  AuthCallback::Done done_;
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

Result<std::unique_ptr<AuthCallback>> AuthCallback::create(net::io_context& ioc, Options options) {
  std::string_view url = options.url;
  constexpr std::string_view kScheme = "http://";
  if (url.size() < kScheme.size()) return bad_url();
  for (size_t i = 0; i < kScheme.size(); ++i) {
    char c = url[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kScheme[i]) return bad_url();
  }
  url.remove_prefix(kScheme.size());
  size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "/" : url.substr(slash);
  // The path goes into the request line as it is: no spaces, controls or fragment.
  for (char c : path) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '#') return bad_url();
  }

  std::string_view host;
  std::string_view port;
  std::string_view host_in_url;  // with the brackets of an IPv6 literal
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos || close < 2) return bad_url();
    host = authority.substr(1, close - 1);
    host_in_url = authority.substr(0, close + 1);
    for (char c : host) {
      if (!is_ipv6_char(c)) return bad_url();
    }
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return bad_url();
      port = rest.substr(1);
      if (port.empty()) return bad_url();
    }
  } else {
    size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    host_in_url = host;
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return bad_url();
    }
    if (host.empty()) return bad_url();
    for (char c : host) {
      if (!is_host_char(c)) return bad_url();
    }
  }
  unsigned port_number = 80;
  if (!port.empty()) {
    for (char c : port) {
      if (c < '0' || c > '9') return bad_url();
    }
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), port_number);
    if (ec != std::errc() || end != port.data() + port.size() || port_number < 1 ||
        port_number > 65535)
      return bad_url();
  }

  auto impl = std::make_unique<Impl>(ioc, std::move(options));
  impl->host = std::string(host);
  impl->port = std::to_string(port_number);
  impl->host_header = std::string(host_in_url);
  if (port_number != 80) impl->host_header += ":" + impl->port;
  impl->path = std::string(path);
  return std::unique_ptr<AuthCallback>(new AuthCallback(std::move(impl)));
}

AuthCallback::AuthCallback(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

// Exchanges in flight keep their own reference to the Impl.
AuthCallback::~AuthCallback() = default;

void AuthCallback::authorize(std::string token, std::string room,
                             std::optional<std::string> user_id, Done done) {
  std::string key = cache_key(token, room, user_id);
  if (impl_->options.cache_for.count() > 0) {
    if (std::optional<Decision> cached = impl_->lookup(key)) {
      // Never re-entrant: `done` runs later, on the io_context, as for an exchange.
      net::post(impl_->ioc, [done = std::move(done), decision = std::move(*cached)]() mutable {
        done(std::move(decision));
      });
      return;
    }
  }
  std::make_shared<Impl::Exchange>(impl_, std::move(key), request_body(token, room, user_id),
                                   std::move(done))
      ->start();
}

}  // namespace rtpm::server
