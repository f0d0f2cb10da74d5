// MessageBudget: how many messages one WebSocket connection may send, control frames (ping,
// pong) included. Sans-I/O: the session asks take() for each frame it receives, with the time.
//
// A token bucket (`rate` per second, up to `burst`) accepts or refuses each message. Refusals
// are counted over a window, not "in a row": a leaky count to which each refusal adds one and
// from which max_refusals / 10 drain per second, so more than max_refusals refusals within
// about 10 s close the connection (1008) however evenly a flood is paced, while a client that
// stays within the rate is never refused. Only the first refusal in each second is to be
// answered (`rate_limited`); the rest are dropped silently, so a flood does not make the server
// write. Not thread-safe: one per session, on its strand.
#pragma once

#include <chrono>

namespace rtpm::server {

class MessageBudget {
 public:
  using Clock = std::chrono::steady_clock;

  /// Starts with a full bucket at `now`.
  MessageBudget(double burst, Clock::time_point now) : tokens_(burst), last_(now) {}

  enum class Verdict {
    accept,             ///< within the budget: handle the message
    refuse_and_answer,  ///< over it: drop the message, answer `rate_limited`
    refuse,             ///< over it: drop the message silently (already answered this second)
    close,              ///< too many refusals: close the connection with 1008
  };
  /// The verdict on one message received at `now`.
  Verdict take(Clock::time_point now, double rate, double burst, int max_refusals);

 private:
  double tokens_;
  double refusals_ = 0;
  Clock::time_point last_;
  Clock::time_point answered_{};  // the last answered refusal (epoch: none yet)
};

}  // namespace rtpm::server
