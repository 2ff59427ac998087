// gMock matchers for absl::Status and absl::StatusOr, shared by the test
// binaries (tests/ is on their include path).
//
//   EXPECT_THAT(registry.Sum("num_records_in", "map"), IsOkAndHolds(10));
//   EXPECT_THAT(registry.Sum("no_such_metric"), StatusIs(absl::StatusCode::kNotFound));
#ifndef BROOK_TESTS_STATUS_MATCHERS_H_
#define BROOK_TESTS_STATUS_MATCHERS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace brook_testing {

// A StatusOr that is OK and whose value matches `matcher`.
MATCHER_P(IsOkAndHolds, matcher, "") {
  if (!arg.ok()) {
    *result_listener << "whose status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(matcher, *arg, result_listener);
}

// A Status, or a StatusOr's status, whose code is `code`.
MATCHER_P(StatusIs, code, "") {
  const absl::Status status = [](const auto& a) {
    if constexpr (std::is_same_v<std::decay_t<decltype(a)>, absl::Status>) {
      return a;
    } else {
      return a.status();
    }
  }(arg);
  *result_listener << "whose status is " << status;
  return status.code() == code;
}

}  // namespace brook_testing

#endif  // BROOK_TESTS_STATUS_MATCHERS_H_
