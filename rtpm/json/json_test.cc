#include "rtpm/json/json.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace rtpm::json {
namespace {

std::string must_stringify_parse(std::string_view text) {
  Result<Value> v = parse(text);
  if (!v) return "ERROR: " + v.error().message;
  return stringify(*v);
}

std::vector<std::filesystem::path> conformance_files() {
  std::vector<std::filesystem::path> files;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(RTPM_SHARED_DIR) + "/conformance"))
    if (entry.path().extension() == ".jsonl") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

// Calls f on every string (keys included) inside v.
template <typename F>
void each_string(const Value& v, const F& f) {
  if (v.is_string()) f(v.as_string());
  if (v.is_array())
    for (const Value& e : v.as_array()) each_string(e, f);
  if (v.is_object())
    for (const Member& m : v.as_object()) {
      f(m.first);
      each_string(m.second, f);
    }
}

// Every conformance line was written by JSON.stringify, so parsing and
// writing it again must reproduce it byte for byte (key order, escapes,
// numbers, lone surrogates in utf16.jsonl).
TEST(JsonConformance, RoundTripsEveryLineByteForByte) {
  const auto files = conformance_files();
  ASSERT_GE(files.size(), 10u);
  size_t lines = 0;
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(in) << path;
    std::string line;
    size_t number = 0;
    while (std::getline(in, line)) {
      ++number;
      if (line.empty()) continue;
      ++lines;
      Result<Value> v = parse(line);
      ASSERT_TRUE(v.ok()) << path << ":" << number << ": " << v.error().message;
      ASSERT_EQ(stringify(*v), line) << path << ":" << number;
      Result<Value> again = parse(stringify(*v));
      ASSERT_TRUE(again.ok());
      ASSERT_TRUE(*again == *v) << path << ":" << number;
    }
  }
  EXPECT_GT(lines, 5000u);
}

// WTF-8 <-> UTF-16 is lossless on every string of the UTF-16 vectors, and the
// two write_string overloads agree.
TEST(JsonConformance, Utf16StringsSurviveConversion) {
  std::ifstream in(std::string(RTPM_SHARED_DIR) + "/conformance/utf16.jsonl", std::ios::binary);
  ASSERT_TRUE(in);
  std::string line;
  size_t strings = 0, lone = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    Result<Value> v = parse(line);
    ASSERT_TRUE(v.ok()) << v.error().message;
    each_string(*v, [&](const std::string& s) {
      ++strings;
      const std::u16string u = to_utf16(s);
      EXPECT_EQ(to_wtf8(u), s);
      std::string a, b;
      write_string(std::string_view(s), a);
      write_string(std::u16string_view(u), b);
      EXPECT_EQ(a, b);
      if (a.find("\\ud") != std::string::npos) ++lone;
    });
  }
  EXPECT_GT(strings, 1000u);
  EXPECT_GT(lone, 0u);  // the file does exercise lone surrogates
}

TEST(JsonNumber, FormatsLikeJavaScript) {
  const double nums[] = {0,
                         -0.0,
                         1,
                         -1,
                         0.1,
                         -0.1,
                         0.5,
                         1.5,
                         -1.5,
                         100,
                         123456789,
                         2147483648.0,
                         4294967296.0,
                         9007199254740992.0,
                         9007199254740994.0,
                         18446744073709551616.0,
                         1e15,
                         1e16,
                         1e17,
                         1e20,
                         1e21,
                         1e22,
                         -1e21,
                         123e25,
                         1.5e300,
                         1.7976931348623157e308,
                         std::numeric_limits<double>::denorm_min(),
                         2.2250738585072014e-308,
                         1e-6,
                         1e-7,
                         -1e-7,
                         0.000001,
                         0.0000015,
                         1.5e-7,
                         1.5e-10,
                         0.1 + 0.2,
                         1.0 / 3,
                         2.0 / 3,
                         3.141592653589793,
                         2.718281828459045,
                         123456789012345680000.0,
                         1.2345678901234567e21,
                         9.999999999999999e20,
                         0.00001234,
                         12.34,
                         1234.5678,
                         4.35,
                         0.3,
                         5e-324,
                         std::numeric_limits<double>::quiet_NaN(),
                         std::numeric_limits<double>::infinity(),
                         -std::numeric_limits<double>::infinity(),
                         999999999999999900000.0,
                         1e301,
                         4294967295,
                         4294967296.5,
                         0.1e-5,
                         100.25,
                         9007199254740991.0,
                         -9007199254740991.0,
                         9007199254740992.0};
  Array a;
  for (double d : nums) a.emplace_back(d);
  // Output of node v20: node -e 'console.log(JSON.stringify([0,-0,1,-1,0.1,-0.1,0.5,1.5,-1.5,
  //   100,123456789,2**31,2**32,2**53,2**53+2,2**64,1e15,1e16,1e17,1e20,1e21,1e22,-1e21,123e25,
  //   1.5e300,1.7976931348623157e308,Number.MIN_VALUE,2.2250738585072014e-308,1e-6,1e-7,-1e-7,
  //   0.000001,0.0000015,1.5e-7,1.5e-10,0.1+0.2,1/3,2/3,Math.PI,Math.E,123456789012345680000,
  //   1.2345678901234567e21,9.999999999999999e20,0.00001234,12.34,1234.5678,4.35,0.3,5e-324,NaN,
  //   Infinity,-Infinity,999999999999999900000,1e300*10,4294967295,4294967296.5,0.1e-5,100.25,
  //   9007199254740991,-9007199254740991,9007199254740993]))'
  const char* expected =
      "[0,0,1,-1,0.1,-0.1,0.5,1.5,-1.5,100,123456789,2147483648,4294967296,9007199254740992,"
      "9007199254740994,18446744073709552000,1000000000000000,10000000000000000,"
      "100000000000000000,100000000000000000000,1e+21,1e+22,-1e+21,1.23e+27,1.5e+300,"
      "1.7976931348623157e+308,5e-324,2.2250738585072014e-308,0.000001,1e-7,-1e-7,0.000001,"
      "0.0000015,1.5e-7,1.5e-10,0.30000000000000004,0.3333333333333333,0.6666666666666666,"
      "3.141592653589793,2.718281828459045,123456789012345680000,1.2345678901234568e+21,"
      "999999999999999900000,0.00001234,12.34,1234.5678,4.35,0.3,5e-324,null,null,null,"
      "999999999999999900000,1e+301,4294967295,4294967296.5,0.000001,100.25,9007199254740991,"
      "-9007199254740991,9007199254740992]";
  EXPECT_EQ(stringify(Value(std::move(a))), expected);
}

TEST(JsonNumber, ParsesLikeJsonParse) {
  // Output of node v20: JSON.stringify(JSON.parse(<the input below>)).
  const char* input =
      "[1e400,-1e400,1e-400,-1e-400,-0,0e99999999999999999999,1E2,1e+2,-0.0e-0,"
      "123456789012345678901234567890,0.1e1,10.0,1.0000000000000001,9007199254740993,"
      "2.4703282292062328e-324,2.4703282292062327e-324,"
      "0.00000000000000000000000000000000000001e330,"
      "100000000000000000000000000000000000000e-330, 1e-7, 12345678901234567890e-30]";
  EXPECT_EQ(must_stringify_parse(input),
            "[null,null,0,0,0,0,100,100,0,1.2345678901234568e+29,1,10,1,9007199254740992,5e-324,"
            "0,1e+292,1e-292,1e-7,1.2345678901234568e-11]");
}

TEST(JsonNumber, KeepsInfinityAndNegativeZero) {
  auto num = [](const char* text) {
    Result<Value> v = parse(text);
    EXPECT_TRUE(v.ok()) << text;
    return v.ok() && v->is_number() ? v->as_number() : 42.0;
  };
  EXPECT_EQ(num("1e400"), std::numeric_limits<double>::infinity());
  EXPECT_EQ(num("-1e400"), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(num("-123456789e999999999999"), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(num("0.0000001e-400"), 0.0);
  EXPECT_FALSE(std::signbit(num("1e-400")));
  EXPECT_TRUE(std::signbit(num("-1e-400")));
  EXPECT_TRUE(std::signbit(num("-0")));
  EXPECT_EQ(num("  -12.5e1 "), -125.0);
  EXPECT_EQ(num("999999999999999"), 999999999999999.0);
  EXPECT_EQ(num("1234567890123456789"), 1234567890123456789.0);
}

TEST(JsonString, EscapesLikeJavaScript) {
  std::u16string s;
  for (char16_t c = 0; c < 0x20; ++c) s += c;
  s += u"\"\\/\x7f\u2028\u2029\uffff\u00e9\U0001F600";
  s += {0xD800, 0xDFFF, 0xDBFF, u' ', u'x', 0xDC00, 0xD83D, 0xD83D, 0xDE00};
  // Output of node v20 for JSON.stringify of the same string (bytes checked with xxd).
  const std::string expected =
      "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e"
      "\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a"
      "\\u001b\\u001c\\u001d\\u001e\\u001f\\\"\\\\/\x7f\xE2\x80\xA8\xE2\x80\xA9\xEF\xBF\xBF"
      "\xC3\xA9\xF0\x9F\x98\x80\xF0\x90\x8F\xBF\\udbff x\\udc00\\ud83d\xF0\x9F\x98\x80\"";
  std::string from_utf16, from_wtf8;
  write_string(std::u16string_view(s), from_utf16);
  write_string(std::string_view(to_wtf8(s)), from_wtf8);
  EXPECT_EQ(from_utf16, expected);
  EXPECT_EQ(from_wtf8, expected);
  // And the parser reads it back to the same UTF-16.
  Result<Value> back = parse(expected);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(to_utf16(back->as_string()), s);
}

TEST(JsonString, LoneSurrogatesAreWtf8) {
  Result<Value> low = parse("\"\\udc00\"");
  ASSERT_TRUE(low.ok());
  EXPECT_EQ(low->as_string(), "\xED\xB0\x80");
  EXPECT_EQ(stringify(*low), "\"\\udc00\"");

  Result<Value> high = parse("\"a\\ud83cb\"");
  ASSERT_TRUE(high.ok());
  EXPECT_EQ(high->as_string(),
            "a\xED\xA0\xBC"
            "b");
  EXPECT_EQ(stringify(*high), "\"a\\ud83cb\"");

  Result<Value> upper = parse("\"\\uD83C\"");  // upper-case hex in, lower-case out
  ASSERT_TRUE(upper.ok());
  EXPECT_EQ(stringify(*upper), "\"\\ud83c\"");

  Result<Value> pair = parse("\"\\ud83d\\ude00\"");
  ASSERT_TRUE(pair.ok());
  EXPECT_EQ(pair->as_string(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(stringify(*pair), "\"\xF0\x9F\x98\x80\"");

  // High, then a pair; a high surrogate before a non-surrogate escape.
  Result<Value> mixed = parse("\"\\ud83d\\ud83d\\ude00\\ud800\\u0041\\udc00\\ud800\"");
  ASSERT_TRUE(mixed.ok());
  EXPECT_EQ(mixed->as_string(),
            "\xED\xA0\xBD\xF0\x9F\x98\x80\xED\xA0\x80"
            "A\xED\xB0\x80\xED\xA0\x80");
  EXPECT_EQ(to_utf16(mixed->as_string()),
            (std::u16string{0xD83D, 0xD83D, 0xDE00, 0xD800, u'A', 0xDC00, 0xD800}));
  EXPECT_EQ(stringify(*mixed), "\"\\ud83d\xF0\x9F\x98\x80\\ud800A\\udc00\\ud800\"");

  // Halves of a pair that met by concatenation are one character in JavaScript.
  std::string joined = std::string("\xED\xA0\xBD") + "\xED\xB8\x80";
  EXPECT_EQ(stringify(Value(joined)), "\"\xF0\x9F\x98\x80\"");
}

TEST(JsonString, ParsesEscapesAndRawUtf8) {
  Result<Value> v =
      parse("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u20AC\xC3\xA9\xE2\x82\xAC\xF4\x8F\xBF\xBF\x7f\"");
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->as_string(),
            "\"\\/\b\f\n\r\t\xC3\xA9\xE2\x82\xAC\xC3\xA9\xE2\x82\xAC\xF4\x8F\xBF\xBF\x7f");
  // Long runs exercise the word-at-a-time scanner on both sides of an escape.
  std::string long_text(1000, 'x');
  Result<Value> w = parse("\"" + long_text + "\\n" + long_text + "\xC3\xA9" + long_text + "\"");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->as_string(), long_text + "\n" + long_text + "\xC3\xA9" + long_text);
  EXPECT_EQ(stringify(*w), "\"" + long_text + "\\n" + long_text + "\xC3\xA9" + long_text + "\"");
}

TEST(JsonString, InvalidBytesWriteAsReplacementCharacter) {
  EXPECT_EQ(stringify(Value("a\xFF"
                            "b")),
            "\"a\xEF\xBF\xBD"
            "b\"");
  EXPECT_EQ(stringify(Value("\xE2\x82")), "\"\xEF\xBF\xBD\"");
  EXPECT_EQ(stringify(Value("\xF0\x9F\x98")), "\"\xEF\xBF\xBD\"");
}

TEST(JsonObject, ParsedKeysTakeJavaScriptOrder) {
  // Output of node v20: JSON.stringify(JSON.parse(<the input below>)).
  EXPECT_EQ(
      must_stringify_parse("{\"b\":1,\"a\":2,\"10\":3,\"2\":4,\"b\":5,\"__proto__\":6,\"0\":7,"
                           "\"\":8,\"a\":9,\"4294967294\":10,\"4294967295\":11,\"007\":12}"),
      "{\"0\":7,\"2\":4,\"10\":3,\"4294967294\":10,\"b\":5,\"a\":9,\"__proto__\":6,\"\":8,"
      "\"4294967295\":11,\"007\":12}");
  EXPECT_EQ(
      must_stringify_parse("{\"b\":1,\"4294967295\":2,\"4294967294\":3,\"9007199254740991\":4,"
                           "\"1\":5,\"01\":6,\"a\":7,\"0\":8,\"-1\":9,\"1.5\":10,\"b\":11,"
                           "\"1\":12}"),
      "{\"0\":8,\"1\":12,\"4294967294\":3,\"b\":11,\"4294967295\":2,\"9007199254740991\":4,"
      "\"01\":6,\"a\":7,\"-1\":9,\"1.5\":10}");
  EXPECT_EQ(must_stringify_parse("{\"a\":1,\"a\":{\"x\":1},\"a\":[2]}"), "{\"a\":[2]}");
}

TEST(JsonObject, LargeObjectsTakeJavaScriptOrder) {
  // node v20: JSON.stringify(JSON.parse(src)) with src = {"k0":0,...,"k39":39,"5":"x",
  // "k3":"dup","3":"y","k0":"last"} printed {"3":"y","5":"x","k0":"last","k1":1,"k2":2,
  // "k3":"dup","k4":4,...,"k39":39}.
  std::string src = "{", expected =
                             "{\"3\":\"y\",\"5\":\"x\",\"k0\":\"last\",\"k1\":1,\"k2\":2,"
                             "\"k3\":\"dup\"";
  for (int i = 0; i < 40; ++i) {
    src += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
    if (i >= 4) expected += ",\"k" + std::to_string(i) + "\":" + std::to_string(i);
  }
  src += "\"5\":\"x\",\"k3\":\"dup\",\"3\":\"y\",\"k0\":\"last\"}";
  expected += "}";
  EXPECT_EQ(must_stringify_parse(src), expected);
}

TEST(JsonObject, BuiltObjectsTakeJavaScriptOrder) {
  // node v20: JSON.stringify({z:1,"1":2,y:3,"0":4}) is {"0":4,"1":2,"z":1,"y":3}.
  EXPECT_EQ(stringify(Value(Object{{"z", 1}, {"1", 2}, {"y", 3}, {"0", 4}})),
            "{\"0\":4,\"1\":2,\"z\":1,\"y\":3}");
  EXPECT_EQ(stringify(Value(Object{{"a", 1}, {"b", 2}, {"a", 3}})), "{\"a\":3,\"b\":2}");
  EXPECT_EQ(stringify(Value(Object{{"type", "text"}, {"text", "hi"}})),
            "{\"type\":\"text\",\"text\":\"hi\"}");
  EXPECT_EQ(stringify(Value(Object{})), "{}");
  EXPECT_EQ(stringify(Value(Array{})), "[]");
}

TEST(JsonValue, EqualityIsCompareDeep) {
  auto p = [](const char* text) {
    Result<Value> v = parse(text);
    EXPECT_TRUE(v.ok()) << text;
    return v.ok() ? *v : Value("parse failed");
  };
  EXPECT_TRUE(p("{\"a\":1,\"b\":[1,{\"c\":null}]}") == p("{\"b\":[1,{\"c\":null}],\"a\":1}"));
  EXPECT_FALSE(p("{\"a\":1}") == p("{\"a\":1,\"b\":2}"));
  EXPECT_FALSE(p("{\"a\":1,\"b\":2}") == p("{\"a\":1,\"c\":2}"));
  EXPECT_FALSE(p("[1,2]") == p("[2,1]"));
  EXPECT_FALSE(p("[1]") == p("[1,1]"));
  EXPECT_TRUE(p("0") == p("-0"));
  EXPECT_FALSE(p("1") == p("\"1\""));
  EXPECT_FALSE(p("null") == p("false"));
  EXPECT_FALSE(p("[]") == p("{}"));
  EXPECT_TRUE(p("null") == Value());
  EXPECT_TRUE(p("\"\\u00e9\"") == Value("\xC3\xA9"));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(Value(nan) == Value(nan));  // NaN !== NaN
  Value shared(Array{Value(nan)});
  EXPECT_TRUE(shared == shared);  // the same array: a === b
  EXPECT_FALSE(Value(Array{Value(nan)}) == Value(Array{Value(nan)}));
}

TEST(JsonValue, TypeofAndFind) {
  Result<Value> v = parse("{\"n\":1,\"s\":\"x\",\"b\":true,\"z\":null,\"a\":[],\"o\":{}}");
  ASSERT_TRUE(v.ok());
  EXPECT_STREQ(v->js_typeof(), "object");
  EXPECT_STREQ(v->find("n")->js_typeof(), "number");
  EXPECT_STREQ(v->find("s")->js_typeof(), "string");
  EXPECT_STREQ(v->find("b")->js_typeof(), "boolean");
  EXPECT_STREQ(v->find("z")->js_typeof(), "object");
  EXPECT_STREQ(v->find("a")->js_typeof(), "object");
  EXPECT_STREQ(v->find("o")->js_typeof(), "object");
  EXPECT_EQ(v->find("missing"), nullptr);
  EXPECT_EQ(v->find("a")->find("n"), nullptr);  // not an object
  EXPECT_EQ(v->find("s")->as_string(), "x");
}

std::string nested(int depth, bool objects) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += objects ? "{\"a\":" : "[";
  s += "1";
  for (int i = 0; i < depth; ++i) s += objects ? "}" : "]";
  return s;
}

TEST(JsonParse, DepthLimit) {
  EXPECT_TRUE(parse(nested(1000, false)).ok());
  EXPECT_TRUE(parse(nested(1000, true)).ok());
  for (bool objects : {false, true}) {
    Result<Value> deep = parse(nested(1001, objects));
    ASSERT_FALSE(deep.ok());
    EXPECT_EQ(deep.error().code, ErrorCode::bad_message);
    EXPECT_NE(deep.error().message.find("deeper"), std::string::npos) << deep.error().message;
  }
  EXPECT_EQ(stringify(*parse(nested(1000, true))), nested(1000, true));
  // Empty containers count too.
  EXPECT_TRUE(parse(std::string(1000, '[') + std::string(1000, ']')).ok());
  EXPECT_FALSE(parse(std::string(1001, '[') + std::string(1001, ']')).ok());
  // Far too deep fails quickly and without exhausting the stack.
  EXPECT_FALSE(parse(std::string(1000000, '[')).ok());
  // The limit is an option.
  EXPECT_TRUE(parse("[[1]]", ParseOptions{.max_depth = 2}).ok());
  EXPECT_FALSE(parse("[[[1]]]", ParseOptions{.max_depth = 2}).ok());
  EXPECT_TRUE(parse("1", ParseOptions{.max_depth = 0}).ok());
  EXPECT_FALSE(parse("[]", ParseOptions{.max_depth = 0}).ok());
}

TEST(JsonParse, RejectsMalformedInput) {
  const std::vector<std::string> bad = {
      "", " ", "{", "}", "[", "]", "[1,]", "[,1]", "[1,,2]", "{\"a\":1,}", "{,}", "{\"a\" 1}",
      "{\"a\":}", "{a:1}", "{'a':1}", "'a'", "{\"a\":1 \"b\":2}", "{\"a\":[}", "[{]}", "[1 2]",
      "1 2", "{} {}", "\"a\" x", "[\"a\"\"b\"]", "[1]x", std::string("[1]\0", 4), "{1:2}",
      // strings
      "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\ud800\\u12\"", "\"\\", "\"\\u",
      "\"\\U0041\"", "\"\t\"", "\"\n\"", std::string("\"a\0b\"", 5), "\"\x1f\"",
      // UTF-8: overlong, raw surrogate, out of range, truncated, stray continuation
      "\"\xC0\x80\"", "\"\xC1\xBF\"", "\"\xE0\x80\x80\"", "\"\xED\xA0\x80\"", "\"\xED\xBF\xBF\"",
      "\"\xF0\x80\x80\x80\"", "\"\xF4\x90\x80\x80\"", "\"\xF5\x80\x80\x80\"", "\"\xFF\"",
      "\"\xC3\"", "\"\xE2\x82\"", "\"\xF0\x9F\x98\"", "\"\x80\"", "\"\xC3\x28\"", "\xC3\xA9",
      "\xEF\xBB\xBF{}",
      // numbers
      "01", "-01", "00", "-", "1.", ".1", "1e", "1e+", "1e-", "+1", "--1", "0x10", "1e5.5", "[-]",
      "-a", "1.e5", "NaN", "Infinity", "-Infinity", "1_000",
      // literals
      "tru", "truex", "nul", "nulll", "True", "fals", "t", "[true false]",
      // whitespace JSON does not allow
      "\f1", "\v1",
      "\xC2\xA0"
      "1",
      "1\f"};
  for (const std::string& text : bad) {
    Result<Value> v = parse(text);
    EXPECT_FALSE(v.ok()) << "accepted: " << text;
    if (v.ok()) continue;
    EXPECT_EQ(v.error().code, ErrorCode::bad_message) << text;
    EXPECT_NE(v.error().message.find("at byte "), std::string::npos) << v.error().message;
  }
}

TEST(JsonParse, ErrorsNameWhatAndWhere) {
  EXPECT_EQ(parse("[1,]").error().message, "invalid JSON: unexpected ']' at byte 3");
  EXPECT_EQ(parse("{\"a\":1 \"b\":2}").error().message,
            "invalid JSON: expected ',' or '}' at byte 7");
  EXPECT_EQ(parse("").error().message, "invalid JSON: unexpected end of input at byte 0");
  EXPECT_EQ(parse("\"ab\x01\"").error().message,
            "invalid JSON: control character in string at byte 3");
  EXPECT_EQ(parse("012").error().message, "invalid JSON: leading zero in number at byte 1");
  EXPECT_EQ(parse("\"\xC3\"").error().message, "invalid JSON: invalid UTF-8 in string at byte 1");
  EXPECT_EQ(parse("[1] 2").error().message,
            "invalid JSON: unexpected data after the JSON value at byte 4");
}

TEST(JsonParse, AcceptsWellFormedInput) {
  EXPECT_EQ(must_stringify_parse(
                " \t\r\n{ \"a\" : [ 1 , true , false , null , \"\" ] , \"b\" : { } } \n"),
            "{\"a\":[1,true,false,null,\"\"],\"b\":{}}");
  EXPECT_EQ(must_stringify_parse("\"\""), "\"\"");
  EXPECT_EQ(must_stringify_parse("-0.5E-3"), "-0.0005");
  EXPECT_EQ(must_stringify_parse("[[],[[]],{}]"), "[[],[[]],{}]");
  EXPECT_EQ(must_stringify_parse("\"\\u0000\""), "\"\\u0000\"");
  EXPECT_EQ(must_stringify_parse("\"\\u2028\\u007f\""), "\"\xE2\x80\xA8\x7f\"");
}

TEST(JsonUtf16, RoundTrips) {
  const std::vector<std::u16string> samples = {
      u"",
      u"plain ascii",
      u"caf\u00e9 \u20ac \U0001F600 \U0010FFFF",
      std::u16string{0xD800},
      std::u16string{0xDFFF, u'a'},
      std::u16string{u'a', 0xD83D},
      std::u16string{0xDE00, 0xD83D},  // low before high: two lone surrogates
      std::u16string{0xD83D, 0xDE00, 0xD83D, 0xD83D, 0xDE00, 0xDC00},
      std::u16string{0x0000, 0x007F, 0x0080, 0x07FF, 0x0800, 0xFFFF}};
  for (const std::u16string& s : samples) {
    const std::string w = to_wtf8(s);
    EXPECT_EQ(to_utf16(w), s);
    EXPECT_EQ(to_wtf8(to_utf16(w)), w);
    // Through JSON too.
    std::string json;
    write_string(std::u16string_view(s), json);
    Result<Value> v = parse(json);
    ASSERT_TRUE(v.ok()) << v.error().message;
    EXPECT_EQ(v->as_string(), w);
  }
  EXPECT_EQ(to_wtf8(std::u16string{0xD83D, 0xDE00}), "\xF0\x9F\x98\x80");
  EXPECT_EQ(to_wtf8(std::u16string{0xD83D}), "\xED\xA0\xBD");
  EXPECT_EQ(to_utf16("\xF0\x9F\x98\x80"), (std::u16string{0xD83D, 0xDE00}));
  EXPECT_EQ(to_utf16("\xED\xB0\x80"), std::u16string{0xDC00});
}

TEST(JsonUtf16, InvalidBytesBecomeReplacementCharacters) {
  EXPECT_EQ(to_utf16("a\xFF"
                     "b"),
            u"a\uFFFDb");
  EXPECT_EQ(to_utf16("\xE2\x82"
                     "x"),
            u"\uFFFDx");  // one maximal subpart
  EXPECT_EQ(to_utf16("\xF0\x9F\x98"), u"\uFFFD");
  EXPECT_EQ(to_utf16("\xC0\x80"), u"\uFFFD\uFFFD");  // overlong: two bad bytes
  EXPECT_EQ(to_utf16("\x80\x80"), u"\uFFFD\uFFFD");
}

TEST(JsonUtf16, IsWtf8) {
  EXPECT_TRUE(is_wtf8(""));
  EXPECT_TRUE(is_wtf8("plain \xc3\xa9 \xf0\x9f\x98\x80"));
  EXPECT_TRUE(is_wtf8("\xed\xa0\xbd"));               // a lone high surrogate
  EXPECT_TRUE(is_wtf8("\xed\xb8\x80\xed\xa0\xbd"));   // low, then high: two lone halves
  EXPECT_FALSE(is_wtf8("\xed\xa0\xbd\xed\xb8\x80"));  // high, then low: must be one character
  EXPECT_FALSE(is_wtf8("\x80"));
  EXPECT_FALSE(is_wtf8("\xc3"));
  EXPECT_FALSE(is_wtf8("\xf8\x88\x80\x80\x80"));
  // Whatever the parser makes is WTF-8.
  auto parsed = parse(R"(["\ud83d", "\ud83d\ude00", "\ude00\ud83d", "x\u0000"])");
  ASSERT_TRUE(parsed);
  for (const Value& v : parsed->as_array()) EXPECT_TRUE(is_wtf8(v.as_string()));
}

TEST(JsonWriter, MatchesStringify) {
  std::string out;
  Writer w(out);
  w.begin_object();
  w.key("stepType");
  w.string(std::string_view("replace"));
  w.key("from");
  w.number(3);
  w.key("slice");
  w.begin_object();
  w.key("content");
  w.begin_array();
  w.begin_object();
  w.key("type");
  w.string(std::u16string_view(u"text"));
  w.key("text");
  w.string(std::u16string_view(std::u16string{u'a', 0xD83D}));
  w.end_object();
  w.value(Value(Object{{"b", true}, {"0", nullptr}}));
  w.begin_array();
  w.end_array();
  w.null();
  w.boolean(false);
  w.number(-0.0);
  w.number(1e21);
  w.end_array();
  w.key("openStart");
  w.number(1);
  w.end_object();
  w.key("structure");
  w.boolean(true);
  w.end_object();
  EXPECT_EQ(out,
            "{\"stepType\":\"replace\",\"from\":3,\"slice\":{\"content\":[{\"type\":\"text\","
            "\"text\":\"a\\ud83d\"},{\"0\":null,\"b\":true},[],null,false,0,1e+21],"
            "\"openStart\":1},\"structure\":true}");
  Result<Value> v = parse(out);
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(stringify(*v), out);
}

TEST(JsonWriter, ManySmallWritesMatchStringify) {
  std::string out;
  Writer w(out);
  Array expected;
  w.begin_array();
  for (int i = 0; i < 20000; ++i) {
    const double d = i * 0.37 - 1000;
    const std::string s = "s\"" + std::to_string(i) + "\xC3\xA9\n";
    w.number(d);
    w.string(std::string_view(s));
    w.begin_object();
    w.key(std::to_string(i % 7));
    w.boolean(i % 2 == 0);
    w.end_object();
    expected.emplace_back(d);
    expected.emplace_back(s);
    expected.emplace_back(Object{{std::to_string(i % 7), i % 2 == 0}});
  }
  w.end_array();
  EXPECT_EQ(out, stringify(Value(std::move(expected))));
}

TEST(JsonWriter, TopLevelScalarsAndAppending) {
  std::string out = "prefix:";
  Writer w(out);
  w.number(0.1);
  EXPECT_EQ(out, "prefix:0.1");
  std::string s = "x";
  write(Value(Array{1, "two", nullptr}), s);
  EXPECT_EQ(s, "x[1,\"two\",null]");
  std::string n;
  write_number(-1.5e-10, n);
  EXPECT_EQ(n, "-1.5e-10");
}

TEST(JsonWriter, RawValuesTakeTheirPlaceBetweenSeparators) {
  std::string out;
  Writer w(out);
  w.begin_object();
  w.key("doc");
  w.raw(R"({"type":"doc"})");
  w.key("steps");
  w.begin_array();
  w.raw("1");
  w.raw(R"({"a":[]})");
  w.end_array();
  w.key("n");
  w.number(2);
  w.end_object();
  EXPECT_EQ(out, R"({"doc":{"type":"doc"},"steps":[1,{"a":[]}],"n":2})");
}

}  // namespace
}  // namespace rtpm::json
