// File: brook/testing/status_matchers.h
//
// gMock matchers for absl::Status and absl::StatusOr<T>, so that a failing
// test prints the status (code and message), not `false`:
// Example:
//   ASSERT_THAT(env.Execute("job"), brook::testing::IsOk());
//   EXPECT_THAT(ParseCount("12"), IsOkAndHolds(12));
//   EXPECT_THAT(ParseCount("x"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"x\"")));
//
// As Abseil's absl/status/status_matchers.h (not in Debian 12's Abseil).
// Each matcher takes a Status or a StatusOr<T> of any T.
#ifndef BROOK_TESTING_STATUS_MATCHERS_H_
#define BROOK_TESTING_STATUS_MATCHERS_H_

#include <ostream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace brook::testing {
namespace internal_status {

inline const absl::Status& GetStatus(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

class IsOkMatcher {
 public:
  using is_gtest_matcher = void;
  template <typename S>
  bool MatchAndExplain(const S& value, std::ostream* os) const {
    const absl::Status& status = GetStatus(value);
    if (!status.ok() && os != nullptr) *os << "which is " << status;
    return status.ok();
  }
  void DescribeTo(std::ostream* os) const { *os << "is OK"; }
  void DescribeNegationTo(std::ostream* os) const { *os << "is not OK"; }
};

class StatusIsMatcher {
 public:
  using is_gtest_matcher = void;
  StatusIsMatcher(absl::StatusCode code, ::testing::Matcher<const std::string&> message)
      : code_(code), message_(std::move(message)) {}

  template <typename S>
  bool MatchAndExplain(const S& value, std::ostream* os) const {
    const absl::Status& status = GetStatus(value);
    if (status.code() != code_) {
      if (os != nullptr) *os << "which is " << status;
      return false;
    }
    ::testing::StringMatchResultListener listener;
    if (!message_.MatchAndExplain(std::string(status.message()), &listener)) {
      if (os != nullptr) {
        *os << "which is " << status << ", whose message " << listener.str();
      }
      return false;
    }
    return true;
  }
  void DescribeTo(std::ostream* os) const {
    *os << "has code " << absl::StatusCodeToString(code_) << " and a message that ";
    message_.DescribeTo(os);
  }
  void DescribeNegationTo(std::ostream* os) const {
    *os << "does not have code " << absl::StatusCodeToString(code_)
        << " or has a message that ";
    message_.DescribeNegationTo(os);
  }

 private:
  absl::StatusCode code_;
  ::testing::Matcher<const std::string&> message_;
};

template <typename ValueMatcher>
class IsOkAndHoldsMatcher {
 public:
  using is_gtest_matcher = void;
  explicit IsOkAndHoldsMatcher(ValueMatcher value) : value_(std::move(value)) {}

  template <typename T>
  bool MatchAndExplain(const absl::StatusOr<T>& value, std::ostream* os) const {
    if (!value.ok()) {
      if (os != nullptr) *os << "which is " << value.status();
      return false;
    }
    ::testing::StringMatchResultListener listener;
    const bool matched =
        ::testing::SafeMatcherCast<const T&>(value_).MatchAndExplain(*value, &listener);
    if (os != nullptr && !listener.str().empty()) *os << "whose value " << listener.str();
    return matched;
  }
  void DescribeTo(std::ostream* os) const {
    *os << "is OK and has a value that ";
    ::testing::Matcher<const ValueMatcher&>(::testing::_).DescribeTo(os);
  }
  void DescribeNegationTo(std::ostream* os) const { *os << "is not OK or has another value"; }

 private:
  ValueMatcher value_;
};

}  // namespace internal_status

// Matches an OK Status or StatusOr; on failure prints the status.
inline internal_status::IsOkMatcher IsOk() { return {}; }

// Matches a Status or StatusOr with `code` and a message matching `message`
// (a string is taken as an exact match; use HasSubstr for part of one).
template <typename MessageMatcher>
internal_status::StatusIsMatcher StatusIs(absl::StatusCode code, MessageMatcher message) {
  return internal_status::StatusIsMatcher(
      code, ::testing::MatcherCast<const std::string&>(std::move(message)));
}
inline internal_status::StatusIsMatcher StatusIs(absl::StatusCode code) {
  return internal_status::StatusIsMatcher(code, ::testing::A<const std::string&>());
}

// Matches an OK StatusOr<T> whose value matches `value`.
template <typename ValueMatcher>
internal_status::IsOkAndHoldsMatcher<ValueMatcher> IsOkAndHolds(ValueMatcher value) {
  return internal_status::IsOkAndHoldsMatcher<ValueMatcher>(std::move(value));
}

}  // namespace brook::testing

#endif  // BROOK_TESTING_STATUS_MATCHERS_H_
