#include "rtpm/server/message_budget.h"

#include <algorithm>

namespace rtpm::server {

MessageBudget::Verdict MessageBudget::take(Clock::time_point now, double rate, double burst,
                                           int max_refusals) {
  double elapsed = std::max(0.0, std::chrono::duration<double>(now - last_).count());
  last_ = now;
  tokens_ = std::min(burst, tokens_ + elapsed * rate);
  refusals_ = std::max(0.0, refusals_ - elapsed * max_refusals / 10);
  if (tokens_ >= 1) {
    tokens_ -= 1;
    return Verdict::accept;
  }
  refusals_ += 1;
  if (refusals_ > max_refusals) return Verdict::close;
  if (answered_ == Clock::time_point{} || now - answered_ >= std::chrono::seconds(1)) {
    answered_ = now;
    return Verdict::refuse_and_answer;
  }
  return Verdict::refuse;
}

}  // namespace rtpm::server
