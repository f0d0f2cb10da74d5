#include "rtpm/protocol/binary_codec.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

namespace rtpm::protocol {
namespace {

std::string roundtrip(const std::string& text) {
  auto v = json::parse(text);
  EXPECT_TRUE(v) << text;
  auto back = decode_binary(encode_binary(*v));
  EXPECT_TRUE(back) << (back ? "" : back.error().message);
  return back ? json::stringify(*back) : "";
}

TEST(BinaryCodec, RoundTripsMessages) {
  for (
      const char* text : {
          R"({"type":"steps","room":"r","version":12,"steps":[{"stepType":"replace","from":1,"to":1,"slice":{"content":[{"type":"text","text":"héllo 😀"}]}}],"userId":"u","timestamp":1732570000000})",
          R"({"type":"presence","room":"r","users":{"u":{"cursor":{"pos":3},"selection":{"from":1,"to":2},"name":"Ann","color":"#f00"}},"version":0})",
          R"([null,true,false,0,-1,-0.5,1.5e-7,1e21,9007199254740991,-9007199254740991,"",{}])",
          R"({"zeta":1,"2":2,"1":1,"type":"x"})",
          "\"\\ud83d lone\"",
      })
    EXPECT_EQ(roundtrip(text), json::stringify(*json::parse(text)));
}

TEST(BinaryCodec, NonFiniteNumbersAreWrittenAsJsonWritesThem) {
  // JSON.parse reads 1e400 as Infinity and JSON writes it as null; the binary
  // form did write it, as a float64 its own decoder refuses, so a message
  // parsed from such JSON could not be sent in binary (client_message fuzz).
  const char* text = R"({"type":"steps","steps":[{"from":66e6661,"to":-1e400}],"x":[1e400]})";
  EXPECT_EQ(roundtrip(text), R"({"type":"steps","steps":[{"from":null,"to":null}],"x":[null]})");
  json::Value nan(std::nan(""));
  EXPECT_EQ(encode_binary(nan), encode_binary(json::Value()));
}

TEST(BinaryCodec, IsCompact) {
  std::string text =
      R"({"type":"steps","room":"doc-1","version":1234,"steps":[{"stepType":"replace","from":1200,"to":1200,"slice":{"content":[{"type":"text","text":"a"}]}}],"userId":"user-7","timestamp":1732570000000})";
  auto bin = encode_binary(*json::parse(text));
  EXPECT_LT(bin.size() * 2, text.size()) << bin.size() << " vs " << text.size();
}

TEST(BinaryCodec, EveryConformanceLineRoundTrips) {
  namespace fs = std::filesystem;
  int lines = 0;
  for (const auto& e : fs::directory_iterator(fs::path(RTPM_SHARED_DIR) / "conformance")) {
    if (e.path().extension() != ".jsonl") continue;
    std::ifstream in(e.path());
    std::string line;
    while (std::getline(in, line)) {
      auto v = json::parse(line);
      ASSERT_TRUE(v);
      auto back = decode_binary(encode_binary(*v));
      ASSERT_TRUE(back) << back.error().message;
      ASSERT_EQ(json::stringify(*back), line) << e.path();
      ++lines;
    }
  }
  EXPECT_GE(lines, 5681);
}

TEST(BinaryCodec, RejectsMalformedInput) {
  for (std::string bad : {std::string(), std::string("\x06\x05", 2), std::string("\x08\x02\x00", 3),
                          std::string("\x0a"), std::string("\x07\x7f"), std::string("\x03\xff"),
                          std::string("\x00\x00", 2), std::string("\x09\x01\x04", 3)}) {
    auto r = decode_binary(bad);
    EXPECT_FALSE(r) << testing::PrintToString(bad);
    if (!r) {
      EXPECT_EQ(r.error().code, ErrorCode::bad_message);
    }
  }
  std::string deep(2000, '\x08');
  EXPECT_FALSE(decode_binary(deep + std::string(1, '\x00')));
}

TEST(BinaryCodec, StringsMustBeUtf8AsInJson) {
  // Found by the client_message fuzz target: a string that is not UTF-8 was
  // accepted in a binary frame, where a JSON text frame is refused, and came
  // back changed (U+FFFD) through JSON. Lone surrogates stay (WTF-8).
  auto string_of = [](std::string bytes) {
    return std::string(1, '\x06') + static_cast<char>(bytes.size()) + bytes;
  };
  for (std::string bad : {std::string("\x80"), std::string("a\xff"), std::string("\xc3"),
                          std::string("\xed\xa0\xbd\xed\xb8\x80")}) {  // a pair, split
    auto r = decode_binary(string_of(bad));
    ASSERT_FALSE(r) << testing::PrintToString(bad);
    EXPECT_EQ(r.error().message, "binary message: string is not UTF-8");
  }
  // The same as an object key.
  EXPECT_FALSE(decode_binary(std::string("\x09\x01\x02\x80\x00", 5)));
  for (std::string good : {std::string("\xc3\xa9"), std::string("\xed\xa0\xbd"),
                           std::string("\xf0\x9f\x98\x80"), std::string()}) {
    auto r = decode_binary(string_of(good));
    ASSERT_TRUE(r) << testing::PrintToString(good);
    EXPECT_EQ(r->as_string(), good);
  }
}

TEST(BinaryCodec, RandomBytesNeverCrash) {
  std::mt19937 rng(1);
  for (int i = 0; i < 20000; ++i) {
    std::string bytes(rng() % 40, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() % 12);  // mostly valid tags
    auto r = decode_binary(bytes);
    if (r) {
      // Whatever decodes must round-trip.
      EXPECT_EQ(json::stringify(*decode_binary(encode_binary(*r))), json::stringify(*r));
    }
  }
}

TEST(Varint, RoundTrip) {
  for (uint64_t v : {0ull, 1ull, 127ull, 128ull, 300ull, 1ull << 53, ~0ull}) {
    std::string out;
    write_varint(v, out);
    std::string_view in = out;
    uint64_t back = 0;
    ASSERT_TRUE(read_varint(in, back));
    EXPECT_EQ(back, v);
    EXPECT_TRUE(in.empty());
  }
}

}  // namespace
}  // namespace rtpm::protocol
