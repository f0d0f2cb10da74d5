#include "rtpm/server/webhooks.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <spdlog/spdlog.h>

#include "rtpm/auth/jwt.h"
#include "rtpm/json/json.h"
#include "rtpm/server/http_client.h"
#include "rtpm/server/metrics.h"

namespace rtpm::server {

namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

/// Deliveries in flight to one URL at most (so at most this many sockets per URL).
constexpr int kMaxInFlightPerUrl = 4;
/// The largest answer body read; the body is not used, only the status.
constexpr uint64_t kMaxAnswerBytes = 64 * 1024;
/// The retry delay doubles at most this many times (retry_base << 20 is already weeks).
constexpr int kMaxBackoffDoublings = 20;

int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// {"event","room","version"[,"userId"],"time"}; `time` in unix milliseconds.
std::string event_body(std::string_view event, std::string_view room, int64_t version,
                       const std::string* user_id, int64_t time_ms) {
  std::string body;
  json::Writer w(body);
  w.begin_object();
  w.key("event");
  w.string(event);
  w.key("room");
  w.string(room);
  w.key("version");
  w.number(static_cast<double>(version));
  if (user_id) {
    w.key("userId");
    w.string(*user_id);
  }
  w.key("time");
  w.number(static_cast<double>(time_ms));
  w.end_object();
  return body;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    hex.push_back(kDigits[c >> 4]);
    hex.push_back(kDigits[c & 0xf]);
  }
  return hex;
}

}  // namespace

std::string webhook_signature(std::string_view secret, int64_t unix_seconds,
                              std::string_view body) {
  std::string t = std::to_string(unix_seconds);
  std::string signed_text;
  signed_text.reserve(t.size() + 1 + body.size());
  signed_text.append(t).append(".").append(body);
  return "t=" + t + ",v1=" + to_hex(auth::hmac_sha256(secret, signed_text));
}

// Every member below `strand` is touched only on it. Handlers hold a shared_ptr to the Impl, so
// it outlives the Webhooks while they run; after stop() each returns at once, and the cleanup
// that stop() posts cancels the timers and exchanges that hold it, so nothing keeps it alive.
struct Webhooks::Impl : std::enable_shared_from_this<Impl> {
  Impl(net::io_context& io, Options opts, Metrics& m)
      : ioc(io), options(std::move(opts)), strand(net::make_strand(io)), metrics(&m) {}

  /// One event for one URL.
  struct Delivery {
    size_t target = 0;  // index into `targets`
    std::string body;
    int attempts = 0;  // made so far
  };
  /// A delivery queued (ready for its URL) or waiting for its retry (`retry` set).
  struct Pending {
    Delivery delivery;
    std::unique_ptr<net::steady_timer> retry;
  };
  struct Target {
    HttpUrl url;
    std::string text;          // the URL as given, for the log
    std::set<uint64_t> ready;  // keys of `pending`, in order: the oldest is sent first
    int in_flight = 0;
    std::unordered_map<uint64_t, std::weak_ptr<HttpExchange>> exchanges;  // in flight, by key
  };
  /// room.changed of a room within its debounce window: the window's timer and the latest
  /// change since the last delivery, if any.
  struct Window {
    explicit Window(net::strand<net::io_context::executor_type>& s) : timer(s) {}
    net::steady_timer timer;
    std::optional<int64_t> version;
    int64_t time_ms = 0;
  };

  void enqueue(const std::string& body);
  void dispatch(size_t target);
  void send(uint64_t key, Delivery delivery);
  void on_answer(uint64_t key, Delivery delivery, const Result<HttpAnswer>& answer);
  void retry_later(uint64_t key, Delivery delivery);
  /// Drops the oldest deliveries beyond kMaxQueued.
  void trim();
  void changed(const std::string& room, int64_t version, int64_t time_ms);
  void open_window(const std::string& room, Window& window);
  void on_window_end(const std::string& room);
  /// After stop(): cancels every timer and exchange, forgets every delivery.
  void shut_down();
  /// Adds one to a counter, unless stopped (the Metrics may be gone then).
  void count(std::atomic<int64_t> Metrics::*counter);

  net::io_context& ioc;
  const Options options;
  std::vector<Target> targets;
  net::strand<net::io_context::executor_type> strand;
  std::atomic<bool> stopped{false};
  std::mutex metrics_mutex;
  Metrics* metrics;  // null after stop(); guarded by metrics_mutex

  // Queued or waiting for retry, by key: keys grow, so the first is the oldest event.
  std::map<uint64_t, Pending> pending;
  uint64_t next_key = 0;
  std::unordered_map<std::string, std::unique_ptr<Window>> windows;  // by room
};

void Webhooks::Impl::count(std::atomic<int64_t> Metrics::*counter) {
  std::lock_guard lock(metrics_mutex);
  if (metrics) (metrics->*counter).fetch_add(1, std::memory_order_relaxed);
}

void Webhooks::Impl::enqueue(const std::string& body) {
  for (size_t t = 0; t < targets.size(); ++t) {
    uint64_t key = next_key++;
    pending.emplace(key, Pending{Delivery{t, body, 0}, nullptr});
    targets[t].ready.insert(key);
    dispatch(t);
  }
  trim();
}

void Webhooks::Impl::dispatch(size_t t) {
  Target& target = targets[t];
  while (target.in_flight < kMaxInFlightPerUrl && !target.ready.empty()) {
    uint64_t key = *target.ready.begin();
    target.ready.erase(target.ready.begin());
    auto found = pending.find(key);
    Delivery delivery = std::move(found->second.delivery);
    pending.erase(found);
    send(key, std::move(delivery));
  }
}

void Webhooks::Impl::send(uint64_t key, Delivery delivery) {
  Target& target = targets[delivery.target];
  ++target.in_flight;
  HttpPost post{
      .body = delivery.body, .timeout = options.timeout, .max_answer_bytes = kMaxAnswerBytes};
  if (!options.secret.empty()) {
    int64_t now_s = unix_ms_now() / 1000;
    post.headers.emplace_back("X-Realtime-PM-Signature",
                              webhook_signature(options.secret, now_s, delivery.body));
  }
  auto exchange =
      HttpExchange::start(ioc, target.url, std::move(post),
                          [self = shared_from_this(), key,
                           delivery = std::move(delivery)](Result<HttpAnswer> answer) mutable {
                            net::post(self->strand, [self, key, delivery = std::move(delivery),
                                                     answer = std::move(answer)]() mutable {
                              self->on_answer(key, std::move(delivery), answer);
                            });
                          });
  target.exchanges.emplace(key, exchange);
}

void Webhooks::Impl::on_answer(uint64_t key, Delivery delivery, const Result<HttpAnswer>& answer) {
  if (stopped) return;
  size_t t = delivery.target;
  targets[t].exchanges.erase(key);
  --targets[t].in_flight;
  ++delivery.attempts;
  if (answer && answer->status >= 200 && answer->status < 300) {
    count(&Metrics::webhook_deliveries);
  } else {
    count(&Metrics::webhook_failures);
    std::string reason =
        answer ? "status " + std::to_string(answer->status) : answer.error().message;
    if (delivery.attempts >= options.max_attempts) {
      count(&Metrics::webhook_dropped);
      spdlog::warn("webhook {}: given up after {} attempt(s): {}", targets[t].text,
                   delivery.attempts, reason);
    } else {
      spdlog::debug("webhook {}: attempt {} failed: {}", targets[t].text, delivery.attempts,
                    reason);
      retry_later(key, std::move(delivery));
    }
  }
  dispatch(t);
}

void Webhooks::Impl::retry_later(uint64_t key, Delivery delivery) {
  int doublings = std::min(delivery.attempts - 1, kMaxBackoffDoublings);
  auto delay = options.retry_base * (int64_t{1} << doublings);
  auto timer = std::make_unique<net::steady_timer>(strand, delay);
  timer->async_wait([self = shared_from_this(), key](boost::system::error_code ec) {
    if (ec || self->stopped) return;
    auto found = self->pending.find(key);
    if (found == self->pending.end() || !found->second.retry) return;  // dropped meanwhile
    found->second.retry.reset();  // safe: the handler no longer needs its timer
    size_t t = found->second.delivery.target;
    self->targets[t].ready.insert(key);
    self->dispatch(t);
  });
  // It keeps its key, so it keeps its age in the queue.
  pending.emplace(key, Pending{std::move(delivery), std::move(timer)});
  trim();
}

void Webhooks::Impl::trim() {
  while (pending.size() > kMaxQueued) {
    auto oldest = pending.begin();
    if (!oldest->second.retry) targets[oldest->second.delivery.target].ready.erase(oldest->first);
    pending.erase(oldest);  // a retry timer is cancelled as it goes
    count(&Metrics::webhook_dropped);
  }
}

void Webhooks::Impl::changed(const std::string& room, int64_t version, int64_t time_ms) {
  if (options.debounce <= 0ms)
    return enqueue(event_body("room.changed", room, version, nullptr, time_ms));
  auto [found, inserted] = windows.try_emplace(room);
  if (inserted) {
    // A quiet room: now, and a window opens.
    found->second = std::make_unique<Window>(strand);
    enqueue(event_body("room.changed", room, version, nullptr, time_ms));
    open_window(room, *found->second);
    return;
  }
  Window& window = *found->second;
  if (!window.version || version >= *window.version) {
    window.version = version;
    window.time_ms = time_ms;
  }
}

void Webhooks::Impl::open_window(const std::string& room, Window& window) {
  window.timer.expires_after(options.debounce);
  window.timer.async_wait([self = shared_from_this(), room](boost::system::error_code ec) {
    if (ec || self->stopped) return;
    self->on_window_end(room);
  });
}

void Webhooks::Impl::on_window_end(const std::string& room) {
  auto found = windows.find(room);
  if (found == windows.end()) return;
  Window& window = *found->second;
  if (!window.version) {
    windows.erase(found);  // quiet again: nothing kept
    return;
  }
  enqueue(event_body("room.changed", room, *window.version, nullptr, window.time_ms));
  window.version.reset();
  open_window(room, window);
}

void Webhooks::Impl::shut_down() {
  for (Target& target : targets) {
    for (auto& [key, weak] : target.exchanges) {
      if (auto exchange = weak.lock()) exchange->cancel();
    }
    target.exchanges.clear();
    target.ready.clear();
  }
  pending.clear();
  windows.clear();
}

Result<std::unique_ptr<Webhooks>> Webhooks::create(net::io_context& ioc, Options options,
                                                   Metrics& metrics) {
  std::vector<Impl::Target> targets;
  for (const std::string& text : options.urls) {
    std::optional<HttpUrl> url = parse_http_url(text);
    if (!url)
      return Error{ErrorCode::internal,
                   "--webhook-url must be http://HOST[:PORT][/PATH]: '" + text + "'"};
    Impl::Target target;
    target.url = std::move(*url);
    target.text = text;
    targets.push_back(std::move(target));
  }
  if (options.max_attempts < 1) options.max_attempts = 1;
  auto impl = std::make_shared<Impl>(ioc, std::move(options), metrics);
  impl->targets = std::move(targets);
  return std::unique_ptr<Webhooks>(new Webhooks(std::move(impl)));
}

Webhooks::Webhooks(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Webhooks::~Webhooks() { stop(); }

void Webhooks::room_created(const std::string& room) {
  if (impl_->stopped) return;
  net::post(impl_->strand,
            [self = impl_, body = event_body("room.created", room, 0, nullptr, unix_ms_now())] {
              if (!self->stopped) self->enqueue(body);
            });
}

void Webhooks::room_changed(const std::string& room, int64_t version) {
  if (impl_->stopped) return;
  net::post(impl_->strand, [self = impl_, room, version, time_ms = unix_ms_now()] {
    if (!self->stopped) self->changed(room, version, time_ms);
  });
}

void Webhooks::member_joined(const std::string& room, const std::string& user_id, int64_t version) {
  if (impl_->stopped) return;
  net::post(impl_->strand, [self = impl_, body = event_body("member.joined", room, version,
                                                            &user_id, unix_ms_now())] {
    if (!self->stopped) self->enqueue(body);
  });
}

void Webhooks::member_left(const std::string& room, const std::string& user_id, int64_t version) {
  if (impl_->stopped) return;
  net::post(impl_->strand, [self = impl_, body = event_body("member.left", room, version, &user_id,
                                                            unix_ms_now())] {
    if (!self->stopped) self->enqueue(body);
  });
}

void Webhooks::stop() {
  if (impl_->stopped.exchange(true)) return;
  {
    std::lock_guard lock(impl_->metrics_mutex);
    impl_->metrics = nullptr;
  }
  net::post(impl_->strand, [self = impl_] { self->shut_down(); });
}

}  // namespace rtpm::server
