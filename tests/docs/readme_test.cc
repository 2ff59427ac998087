// File: tests/docs/readme_test.cc
//
// The README's C++ example, compiled and run as it is written there: the
// build extracts README.md's ```cpp block into readme_example_1.cc (see
// tests/CMakeLists.txt), so an example that drifts from the API fails here.
#include <string>
#include <vector>

#include "brook/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "readme_example_1.cc"  // NOLINT: the README's code, verbatim

namespace {

using ::brook::testing::IsOk;
using ::testing::HasSubstr;

TEST(Readme, CountPerUserCountsEachUsersEvents) {
  const std::vector<Event> events = {{1, 10}, {2, 20}, {1, 30}, {3, 40}, {1, 50}, {2, 60}};
  ::testing::internal::CaptureStdout();
  const absl::Status status = RunJob(events);
  const std::string printed = ::testing::internal::GetCapturedStdout();
  ASSERT_THAT(status, IsOk());
  EXPECT_THAT(printed, HasSubstr("1: 3\n"));
  EXPECT_THAT(printed, HasSubstr("2: 2\n"));
  EXPECT_THAT(printed, HasSubstr("3: 1\n"));
}

}  // namespace
