// ClientLimits: connection slots in all and per client address, and room creations per
// address (a token bucket) and in all, on an injected clock.
#include "rtpm/server/client_limits.h"

#include <vector>

#include <boost/asio/ip/address.hpp>
#include <gtest/gtest.h>

namespace rtpm::server {
namespace {

using boost::asio::ip::make_address;
using Slot = ClientLimits::Slot;

std::string key(const char* address) { return ClientLimits::address_key(make_address(address)); }

TEST(ClientLimits, AddressKeys) {
  EXPECT_EQ(key("127.0.0.1").size(), 4u);
  EXPECT_NE(key("127.0.0.1"), key("127.0.0.2"));
  EXPECT_EQ(key("::ffff:10.0.0.1"), key("10.0.0.1"));
  EXPECT_EQ(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));  // one /64
  EXPECT_NE(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
  EXPECT_NE(key("::1"), key("127.0.0.1"));
}

TEST(ClientLimits, ConnectionsPerAddressAndInAll) {
  std::atomic<int64_t> gauge{0};
  ClientLimits limits({.max_connections = 5, .max_connections_per_address = 3}, &gauge);
  std::vector<Slot> slots;
  for (int i = 0; i < 3; ++i) slots.push_back(std::get<Slot>(limits.connect(key("10.0.0.1"))));
  EXPECT_EQ(std::get<ClientLimits::Refusal>(limits.connect(key("10.0.0.1"))),
            ClientLimits::Refusal::address_full);
  slots.push_back(std::get<Slot>(limits.connect(key("10.0.0.2"))));
  slots.push_back(std::get<Slot>(limits.connect(key("10.0.0.3"))));
  EXPECT_EQ(std::get<ClientLimits::Refusal>(limits.connect(key("10.0.0.4"))),
            ClientLimits::Refusal::server_full);
  EXPECT_EQ(limits.connections(), 5u);
  EXPECT_EQ(gauge.load(), 5);
  // A slot is released once, wherever it was moved to.
  Slot moved = std::move(slots[0]);
  slots.erase(slots.begin());
  EXPECT_EQ(limits.connections(), 5u);
  moved = Slot();
  EXPECT_EQ(limits.connections(), 4u);
  EXPECT_TRUE(std::holds_alternative<Slot>(limits.connect(key("10.0.0.1"))));  // released at once
  slots.clear();
  EXPECT_EQ(limits.connections(), 0u);
  EXPECT_EQ(gauge.load(), 0);
  // Zero is no limit.
  ClientLimits open({});
  std::vector<Slot> many;
  for (int i = 0; i < 1000; ++i) many.push_back(std::get<Slot>(open.connect(key("10.0.0.1"))));
  EXPECT_EQ(open.connections(), 1000u);
}

TEST(ClientLimits, ASlotThatLeftItsAddressStillCountsInAll) {
  ClientLimits limits({.max_connections = 4, .max_connections_per_address = 2});
  std::vector<Slot> slots;
  for (int i = 0; i < 2; ++i) slots.push_back(std::get<Slot>(limits.connect(key("10.0.0.1"))));
  EXPECT_TRUE(std::holds_alternative<ClientLimits::Refusal>(limits.connect(key("10.0.0.1"))));
  // Two relays of a cluster node proved themselves: the address has room again.
  slots[0].leave_address();
  slots[1].leave_address();
  slots[1].leave_address();  // once only
  for (int i = 0; i < 2; ++i) slots.push_back(std::get<Slot>(limits.connect(key("10.0.0.1"))));
  EXPECT_EQ(std::get<ClientLimits::Refusal>(limits.connect(key("10.0.0.1"))),
            ClientLimits::Refusal::server_full);  // every slot still counts in all
  EXPECT_EQ(limits.connections(), 4u);
  // Released, a slot that left its address gives back only its place in all.
  Slot moved = std::move(slots[0]);
  moved = Slot();
  slots.erase(slots.begin());
  EXPECT_EQ(limits.connections(), 3u);
  EXPECT_EQ(std::get<ClientLimits::Refusal>(limits.connect(key("10.0.0.1"))),
            ClientLimits::Refusal::address_full);  // the two counted ones are still there
  slots.clear();
  EXPECT_EQ(limits.connections(), 0u);
  for (int i = 0; i < 2; ++i) slots.push_back(std::get<Slot>(limits.connect(key("10.0.0.1"))));
}

TEST(ClientLimits, RoomCreationsAreABucketPerAddress) {
  ClientLimits limits({.room_creations_per_minute = 6});
  auto t0 = ClientLimits::Clock::time_point() + std::chrono::hours(1);
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(limits.create_room(key("10.0.0.1"), t0), ClientLimits::Creation::allowed) << i;
  EXPECT_EQ(limits.create_room(key("10.0.0.1"), t0), ClientLimits::Creation::rate_limited);
  EXPECT_EQ(limits.create_room(key("10.0.0.2"), t0), ClientLimits::Creation::allowed);
  // Six a minute: one more every 10 s.
  EXPECT_EQ(limits.create_room(key("10.0.0.1"), t0 + std::chrono::seconds(9)),
            ClientLimits::Creation::rate_limited);
  EXPECT_EQ(limits.create_room(key("10.0.0.1"), t0 + std::chrono::seconds(11)),
            ClientLimits::Creation::allowed);
  EXPECT_EQ(limits.create_room(key("10.0.0.1"), t0 + std::chrono::seconds(12)),
            ClientLimits::Creation::rate_limited);
  // Refilled to a minute's worth at most.
  auto later = t0 + std::chrono::hours(1);
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(limits.create_room(key("10.0.0.1"), later), ClientLimits::Creation::allowed) << i;
  EXPECT_EQ(limits.create_room(key("10.0.0.1"), later), ClientLimits::Creation::rate_limited);
}

TEST(ClientLimits, ApiRequestsAreABucketPerAddressApartFromCreations) {
  ClientLimits limits({.room_creations_per_minute = 1, .api_requests_per_minute = 3});
  auto t0 = ClientLimits::Clock::time_point() + std::chrono::hours(1);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limits.api_request(key("10.0.0.1"), t0)) << i;
  EXPECT_FALSE(limits.api_request(key("10.0.0.1"), t0));
  EXPECT_TRUE(limits.api_request(key("10.0.0.2"), t0));
  // Creations have their own bucket.
  EXPECT_EQ(limits.create_room(key("10.0.0.1"), t0), ClientLimits::Creation::allowed);
  // Three a minute: one more every 20 s.
  EXPECT_FALSE(limits.api_request(key("10.0.0.1"), t0 + std::chrono::seconds(19)));
  EXPECT_TRUE(limits.api_request(key("10.0.0.1"), t0 + std::chrono::seconds(21)));
  ClientLimits unlimited({});
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(unlimited.api_request(key("10.0.0.1"), t0));
}

TEST(ClientLimits, RoomCap) {
  ClientLimits limits({.max_rooms = 10});
  limits.set_rooms(8);
  auto now = ClientLimits::Clock::now();
  EXPECT_EQ(limits.create_room(key("10.0.0.1"), now), ClientLimits::Creation::allowed);
  EXPECT_EQ(limits.create_room(key("10.0.0.2"), now), ClientLimits::Creation::allowed);
  EXPECT_EQ(limits.create_room(key("10.0.0.3"), now), ClientLimits::Creation::too_many_rooms);
  limits.room_not_created();  // a creation failed in the store: its place is free again
  EXPECT_EQ(limits.create_room(key("10.0.0.3"), now), ClientLimits::Creation::allowed);
  EXPECT_EQ(limits.create_room(key("10.0.0.3"), now), ClientLimits::Creation::too_many_rooms);
}

TEST(ClientLimits, ManyAddressesKeepWorkingAcrossPruning) {
  ClientLimits limits({.room_creations_per_minute = 1});
  auto t0 = ClientLimits::Clock::time_point() + std::chrono::hours(1);
  for (int i = 0; i < 5000; ++i) {
    std::string k = "k" + std::to_string(i);
    EXPECT_EQ(limits.create_room(k, t0), ClientLimits::Creation::allowed);
    EXPECT_EQ(limits.create_room(k, t0), ClientLimits::Creation::rate_limited);
  }
  // Two minutes on every bucket is full again (and the table is pruned); nothing changes for
  // the addresses but that they may create again, once.
  auto t1 = t0 + std::chrono::minutes(2);
  for (int i = 0; i < 5000; ++i) {
    std::string k = "k" + std::to_string(i);
    EXPECT_EQ(limits.create_room(k, t1), ClientLimits::Creation::allowed) << i;
    EXPECT_EQ(limits.create_room(k, t1), ClientLimits::Creation::rate_limited) << i;
  }
}

}  // namespace
}  // namespace rtpm::server
