// libFuzzer target: the JSON parser (rtpm/json). Any input; a value that
// parses must stringify to text that parses again to the same text
// (JSON.stringify is canonical), under the default nesting limit and a
// small one.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_support.h"

#include "rtpm/json/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rtpm;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (int max_depth : {1000, 4}) {
    Result<json::Value> value = json::parse(text, {.max_depth = max_depth});
    if (!value) continue;
    std::string once = json::stringify(*value);
    Result<json::Value> again = json::parse(once, {.max_depth = max_depth});
    fuzz::check(again.ok(), "stringify wrote text that does not parse: " + once.substr(0, 200));
    std::string twice = json::stringify(*again);
    fuzz::check(twice == once, "stringify is not stable: " + once.substr(0, 200));
    if (once.find("null") == std::string::npos)  // no non-finite number turned into null
      fuzz::check(*again == *value, "parse(stringify(v)) != v: " + once.substr(0, 200));
  }
  return 0;
}
