#include "rtpm/base/error.h"

#include <new>

#include <gtest/gtest.h>

namespace rtpm {
namespace {

TEST(CatchPort, ReturnsTheValue) {
  Result<int> r = catch_port(ErrorCode::invalid_steps, "x: ", [] { return 7; });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 7);
  int calls = 0;
  Result<void> v = catch_port(ErrorCode::internal, "", [&] { ++calls; });
  EXPECT_TRUE(v.ok());
  EXPECT_EQ(calls, 1);
}

TEST(CatchPort, TurnsJsErrorsIntoErrors) {
  Result<int> r = catch_port(ErrorCode::invalid_steps, "step 2: ", []() -> int {
    throw RangeError("Position 9 out of range");
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::invalid_steps);
  EXPECT_EQ(r.error().message, "step 2: Position 9 out of range");
  Result<void> t = catch_port(ErrorCode::bad_message, "doc: ", [] { throw TypeError("no"); });
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code, ErrorCode::bad_message);
  EXPECT_EQ(t.error().message, "doc: no");
}

TEST(CatchPort, OtherExceptionsAreInternalErrorsOfThePort) {
  Result<void> r = catch_port(ErrorCode::invalid_steps, "step 0: ", [] { throw std::bad_alloc(); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::invalid_steps);
  EXPECT_EQ(r.error().message.rfind("step 0: internal error: ", 0), 0u) << r.error().message;
}

TEST(ErrorCodes, HaveTheirWireStrings) {
  EXPECT_EQ(to_string(ErrorCode::bad_message), "bad_message");
  EXPECT_EQ(to_string(ErrorCode::version_conflict), "version_conflict");
  EXPECT_EQ(to_string(ErrorCode::internal), "internal");
}

}  // namespace
}  // namespace rtpm
