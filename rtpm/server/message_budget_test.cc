// MessageBudget on simulated time: bursts, answers at most once a second, floods closed
// however they are paced, and clients within the rate never refused.
#include "rtpm/server/message_budget.h"

#include <gtest/gtest.h>

namespace rtpm::server {
namespace {

using Verdict = MessageBudget::Verdict;
using namespace std::chrono_literals;

constexpr double kRate = 100, kBurst = 100;
constexpr int kMaxRefusals = 100;

struct Tally {
  int accepted = 0, answered = 0, silent = 0, messages = 0;
  bool closed = false;
};

// Sends `n` messages `gap` apart (or until closed), starting at `t`.
Tally flood(MessageBudget& b, MessageBudget::Clock::time_point& t, int n,
            std::chrono::microseconds gap) {
  Tally r;
  for (int i = 0; i < n && !r.closed; ++i, t += gap) {
    ++r.messages;
    switch (b.take(t, kRate, kBurst, kMaxRefusals)) {
      case Verdict::accept: ++r.accepted; break;
      case Verdict::refuse_and_answer: ++r.answered; break;
      case Verdict::refuse: ++r.silent; break;
      case Verdict::close: r.closed = true; break;
    }
  }
  return r;
}

TEST(MessageBudget, BurstThenOneAnswerASecond) {
  auto t = MessageBudget::Clock::time_point() + 1h;
  MessageBudget b(kBurst, t);
  Tally r = flood(b, t, 150, 0us);  // all at once
  EXPECT_EQ(r.accepted, 100);
  EXPECT_EQ(r.answered, 1);
  EXPECT_EQ(r.silent, 49);
  EXPECT_FALSE(r.closed);
  // A second later: 100 new tokens, and the next refusal is answered again.
  t += 1s;
  Tally s = flood(b, t, 110, 0us);
  EXPECT_EQ(s.accepted, 100);
  EXPECT_EQ(s.answered, 1);
}

TEST(MessageBudget, AnEvenFloodIsClosed) {
  // Five times the rate, evenly paced: never 100 refusals in a row, closed all the same.
  auto t = MessageBudget::Clock::time_point() + 1h;
  MessageBudget b(kBurst, t);
  Tally r = flood(b, t, 100000, 2000us);
  EXPECT_TRUE(r.closed);
  EXPECT_LT(r.messages, 400);
  EXPECT_LE(r.answered, 2);
}

TEST(MessageBudget, ASlowFloodJustOverTheRateIsClosedToo) {
  // 150 a second against 100: 50 refusals a second outrun the drain of 10.
  auto t = MessageBudget::Clock::time_point() + 1h;
  MessageBudget b(kBurst, t);
  Tally r = flood(b, t, 100000, 6667us);
  EXPECT_TRUE(r.closed);
  EXPECT_LT(r.messages, 1000);
}

TEST(MessageBudget, AClientWithinTheRateIsNeverRefused) {
  auto t = MessageBudget::Clock::time_point() + 1h;
  MessageBudget b(kBurst, t);
  Tally r = flood(b, t, 100000, 10000us);  // exactly the rate, for 1000 s
  EXPECT_EQ(r.accepted, 100000);
  // Bursts up to the burst size, with pauses that refill it, also never refused.
  for (int i = 0; i < 100; ++i) {
    Tally burst = flood(b, t, 100, 0us);
    EXPECT_EQ(burst.accepted, 100);
    t += 1s;
  }
}

TEST(MessageBudget, OccasionalRefusalsDrainAway) {
  // Bursts over the limit now and then: refused, answered, but never closed.
  auto t = MessageBudget::Clock::time_point() + 1h;
  MessageBudget b(kBurst, t);
  for (int i = 0; i < 50; ++i) {
    Tally r = flood(b, t, 160, 0us);  // 60 over the burst
    EXPECT_FALSE(r.closed) << i;
    EXPECT_EQ(r.answered, 1) << i;
    t += 10s;
  }
}

}  // namespace
}  // namespace rtpm::server
