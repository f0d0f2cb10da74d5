#include "rtpm/client/backoff.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace rtpm::client {

Backoff::Backoff(const BackoffOptions& options)
    : options_(options), rng_(options.seed ? *options.seed : std::random_device{}()) {
  if (!(options.initial_ms > 0) || !(options.max_ms >= options.initial_ms) ||
      !(options.factor >= 1.0))
    throw std::invalid_argument("Backoff needs 0 < initial_ms <= max_ms and factor >= 1");
}

int64_t Backoff::ceiling_ms() const {
  // factor^attempt overflows to infinity long after it passed max_ms, so min is safe.
  double ceiling = static_cast<double>(options_.initial_ms) *
                   std::pow(options_.factor, static_cast<double>(attempt_));
  return static_cast<int64_t>(std::min(static_cast<double>(options_.max_ms), ceiling));
}

int64_t Backoff::next_ms() {
  std::uniform_int_distribution<int64_t> uniform(0, ceiling_ms());
  int64_t delay = uniform(rng_);
  ++attempt_;
  return delay;
}

}  // namespace rtpm::client
