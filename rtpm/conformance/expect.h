// For module tests: every shared conformance vector of one kind must pass the
// runner's check (runner.h), and there must be at least as many as the shared
// set had when the test was written (a vector lost silently hides a failure).
// Needs GoogleTest; only tests include it.
#pragma once

#include <iostream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "rtpm/conformance/runner.h"

namespace rtpm::conformance {

inline void expect_kind_passes(std::string_view kind, int at_least) {
  KindReport report = check_kind(std::string(RTPM_SHARED_DIR) + "/conformance", kind);
  EXPECT_GE(report.total, at_least) << kind << " vectors";
  for (const std::string& failure : report.failures) ADD_FAILURE() << kind << " " << failure;
  std::cout << "[ " << kind << " ] " << report.total - static_cast<int>(report.failures.size())
            << "/" << report.total << " vectors pass\n";
}

}  // namespace rtpm::conformance
