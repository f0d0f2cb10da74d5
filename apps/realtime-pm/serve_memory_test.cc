// Memory per room is bounded by its content (issue 10, finding 8), against the
// real `realtime-pm serve` binary: a client pipelines 200 steps of 50 KB each,
// as a hostile client would, into one text node or as separate paragraphs.
// The server's peak RSS (VmHWM) must stay under 10 times the document's UTF-16
// bytes plus a base, the document must be exactly right (also for a client
// that joins while batches are in flight), and once the room has unloaded RSS
// falls back near what it was before the room existed (within the document's
// UTF-16 size). A third case bounds
// the history in bytes (--history-bytes) against a client that inserts and
// deletes large text over and over. These are limit tests, not benchmarks:
// the bounds are generous, and nothing is timed.
//
// Under AddressSanitizer RSS says nothing (shadow memory, quarantine): the
// RSS assertions are skipped there, the functional ones never are.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "apps/realtime-pm/serve_test_support.h"
#include <gtest/gtest.h>

#include "rtpm/testing/server_process.h"

#if defined(__SANITIZE_ADDRESS__)
#define RTPM_MEMORY_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RTPM_MEMORY_TEST_ASAN 1
#endif
#endif

namespace rtpm::testing {
namespace {

using json::Value;
using namespace std::chrono_literals;

#ifdef RTPM_MEMORY_TEST_ASAN
constexpr bool kRssMeaningful = false;
#else
constexpr bool kRssMeaningful = true;
#endif

constexpr int kSteps = 200;
constexpr int kChunk = 50'000;  // characters (ASCII: as many UTF-16 code units)
constexpr int64_t kMiB = 1 << 20;

// A field of /proc/PID/status in bytes (VmRSS, VmHWM).
int64_t proc_status_bytes(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) != 0) continue;
    std::istringstream fields(line.substr(field.size() + 1));
    int64_t kib = 0;
    fields >> kib;
    return kib * 1024;
  }
  ADD_FAILURE() << "no " << field << " for process " << pid;
  return 0;
}

// Step k's text: distinct per step, so that a step applied twice, lost or out
// of order shows in the document.
std::string chunk_text(int k) {
  std::string digits = std::to_string(k);
  return std::string(kChunk - 6, static_cast<char>('a' + k % 26)) +
         std::string(6 - digits.size(), '0') + digits;
}

std::string replace_step(int from, int to, const std::string& slice) {
  return R"({"stepType":"replace","from":)" + std::to_string(from) + R"(,"to":)" +
         std::to_string(to) + (slice.empty() ? "" : R"(,"slice":{"content":[)" + slice + "]}") +
         "}";
}

std::string text_node(const std::string& text) {
  return R"({"type":"text","text":")" + text + "\"}";
}

enum class Shape { one_text_node, paragraphs };

// Step k: into one text node, at its end; or a paragraph of its own after the others.
std::string step_json(Shape shape, int k) {
  if (shape == Shape::one_text_node) {
    int end = 1 + k * kChunk;
    return replace_step(end, end, text_node(chunk_text(k)));
  }
  int end = 2 + k * (kChunk + 2);  // after the first, empty paragraph and k others
  return replace_step(end, end,
                      R"({"type":"paragraph","content":[)" + text_node(chunk_text(k)) + "]}");
}

// The document after the first `version` steps, as JSON text.
std::string expected_doc(Shape shape, int version) {
  if (shape == Shape::one_text_node) {
    if (version == 0) return R"({"type":"doc","content":[{"type":"paragraph"}]})";
    std::string text;
    for (int k = 0; k < version; ++k) text += chunk_text(k);
    return R"({"type":"doc","content":[{"type":"paragraph","content":[)" + text_node(text) + "]}]}";
  }
  std::string out = R"({"type":"doc","content":[{"type":"paragraph"})";
  for (int k = 0; k < version; ++k)
    out += R"(,{"type":"paragraph","content":[)" + text_node(chunk_text(k)) + "]}";
  return out + "]}";
}

class ServeMemoryTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> args = {}) {
    // A joiner gets the steps of every batch in flight at once: more than the
    // default 8 MiB a slow reader may have queued.
    args.insert(args.end(), {"--unload-grace-ms", "200", "--max-outgoing-bytes", "67108864"});
    server_ = std::make_unique<ServerProcess>(RTPM_BINARY, std::move(args));
    server_->start();
  }
  int64_t rss() { return proc_status_bytes(server_->pid(), "VmRSS"); }
  int64_t peak_rss() { return proc_status_bytes(server_->pid(), "VmHWM"); }
  Value join(WsClient& c, const std::string& room, const std::string& user,
             const std::string& extra = "") {
    c.send(join_msg(room, user, extra));
    auto state = c.recv_type("state", 60s);
    EXPECT_TRUE(state) << "no state for " << user;
    return state ? *state : Value();
  }
  // Waits until no room is loaded (the room unloaded after its grace period).
  void wait_for_unload() {
    for (int i = 0; i < 600; ++i) {
      auto metrics = http_get(server_->port(), "/metrics");
      if (metrics.body.find("\nrealtime_pm_rooms 0\n") != std::string::npos) return;
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << "the room did not unload";
  }
  // Waits (the storage thread trims after the unload's snapshot) until RSS is
  // at most `bound`, and returns the last RSS read.
  int64_t wait_for_rss_at_most(int64_t bound) {
    int64_t now = rss();
    for (int i = 0; i < 200 && now > bound; ++i) {
      std::this_thread::sleep_for(50ms);
      now = rss();
    }
    return now;
  }
  void pipeline_steps(Shape shape);

  std::unique_ptr<ServerProcess> server_;
};

void ServeMemoryTest::pipeline_steps(Shape shape) {
  start();
  const int64_t utf16_bytes = int64_t{2} * kSteps * kChunk;  // the document's text
  auto writer = std::make_unique<WsClient>(server_->port());
  join(*writer, "big", "w");
  const int64_t base = rss();
  // Every step at once, each on the version the ones before it make.
  for (int k = 0; k < kSteps; ++k)
    writer->send(steps_msg("big", "w", k, "[" + step_json(shape, k) + "]"));
  // A reader joins while later batches are still in flight: its document is the
  // durable one, exactly.
  for (int k = 1; k <= kSteps / 4; ++k) {
    auto ack = writer->recv_type("ack", 60s);
    ASSERT_TRUE(ack) << "no ack " << k;
    ASSERT_EQ(num_field(*ack, "version"), k);
  }
  auto reader = std::make_unique<WsClient>(server_->port());
  Value state = join(*reader, "big", "r");
  int64_t seen = num_field(state, "version");
  ASSERT_GE(seen, kSteps / 4);
  ASSERT_TRUE(state.find("doc"));
  EXPECT_EQ(json::stringify(*state.find("doc")), expected_doc(shape, static_cast<int>(seen)))
      << "the document a joiner got at version " << seen;
  for (int k = kSteps / 4 + 1; k <= kSteps; ++k) {
    auto ack = writer->recv_type("ack", 60s);
    ASSERT_TRUE(ack) << "no ack " << k;
    ASSERT_EQ(num_field(*ack, "version"), k);
  }
  Value doc = room_doc(server_->port(), "big");
  EXPECT_EQ(num_field(doc, "version"), kSteps);
  ASSERT_TRUE(doc.find("doc"));
  EXPECT_TRUE(json::stringify(*doc.find("doc")) == expected_doc(shape, kSteps))
      << "the document after " << kSteps << " steps differs";
  const int64_t peak = peak_rss();
  std::printf("[ memory ] document %.1f MB UTF-16, RSS base %.1f MB, peak %.1f MB\n",
              static_cast<double>(utf16_bytes) / 1e6, static_cast<double>(base) / 1e6,
              static_cast<double>(peak) / 1e6);
  if (kRssMeaningful) {
    EXPECT_LT(peak, base + 10 * utf16_bytes) << "peak RSS " << peak / kMiB << " MiB";
  }

  // Both leave; the room unloads and its memory goes back to the system.
  writer.reset();
  reader.reset();
  wait_for_unload();
  // Near the base: within the document's UTF-16 size of it (the heaps keep
  // some partly used pages; a debug build makes more of them). The server
  // before the fixes kept 5 to 18 times that.
  if (kRssMeaningful) {
    int64_t after = wait_for_rss_at_most(base + utf16_bytes);
    std::printf("[ memory ] RSS after the room unloaded %.1f MB\n",
                static_cast<double>(after) / 1e6);
    EXPECT_LE(after, base + utf16_bytes) << "RSS after unload " << after / kMiB << " MiB";
  }
  // The room reloads from the store as it was.
  EXPECT_TRUE(json::stringify(*room_doc(server_->port(), "big").find("doc")) ==
              expected_doc(shape, kSteps));
}

TEST_F(ServeMemoryTest, PipelinedStepsIntoOneTextNode) { pipeline_steps(Shape::one_text_node); }

TEST_F(ServeMemoryTest, PipelinedStepsAsSeparateParagraphs) { pipeline_steps(Shape::paragraphs); }

// A client that inserts 500 KB and deletes it again, 100 times: the document
// stays empty, and the history holds at most --history-bytes of step JSON (it
// held every step, 10,000 of them by default, with their parsed slices).
TEST_F(ServeMemoryTest, HistoryIsBoundedInBytes) {
  constexpr int kChurnChunk = 500'000;
  constexpr int kChurnSteps = 200;
  constexpr int64_t kHistoryBytes = 4 * kMiB;
  start({"--history-bytes", std::to_string(kHistoryBytes)});
  auto c = std::make_unique<WsClient>(server_->port());
  join(*c, "churn", "c");
  const int64_t base = rss();
  const std::string text = std::string(kChurnChunk, 'x');
  for (int k = 0; k < kChurnSteps; ++k) {
    std::string step =
        k % 2 == 0 ? replace_step(1, 1, text_node(text)) : replace_step(1, 1 + kChurnChunk, "");
    c->send(steps_msg("churn", "c", k, "[" + step + "]"));
    auto ack = c->recv_type("ack", 60s);
    ASSERT_TRUE(ack) << "no ack " << k;
    ASSERT_EQ(num_field(*ack, "version"), k + 1);
  }
  if (kRssMeaningful) {
    // The history's bound, the document's largest text (UTF-16) and room to work in.
    int64_t bound = base + 10 * (kHistoryBytes + 2 * kChurnChunk);
    EXPECT_LT(peak_rss(), bound) << "peak RSS " << peak_rss() / kMiB << " MiB";
  }
  Value doc = room_doc(server_->port(), "churn");
  EXPECT_EQ(num_field(doc, "version"), kChurnSteps);
  EXPECT_EQ(json::stringify(*doc.find("doc")),
            R"({"type":"doc","content":[{"type":"paragraph"}]})");
  // The history no longer reaches version 0: a join there gets the document.
  // The last steps are kept, in memory and, across a restart, in the store.
  auto check_history = [&](WsClient& client, const std::string& user) {
    Value old = join(client, "churn", user, R"(,"version":0)");
    EXPECT_EQ(num_field(old, "version"), kChurnSteps);
    EXPECT_TRUE(old.find("doc")) << json::stringify(old).substr(0, 200);
    EXPECT_FALSE(old.find("steps"));
    Value recent = join(client, "churn", user, ",\"version\":" + std::to_string(kChurnSteps - 2));
    ASSERT_TRUE(recent.find("steps")) << json::stringify(recent).substr(0, 200);
    EXPECT_EQ(recent.find("steps")->as_array().size(), 2u);
  };
  check_history(*c, "c");
  c.reset();
  server_->stop();
  server_->restart();
  auto again = std::make_unique<WsClient>(server_->port());
  check_history(*again, "c2");
}

}  // namespace
}  // namespace rtpm::testing
