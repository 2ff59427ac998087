// brook::SavepointOnSignal: a signal to the process runs the trigger on the
// object's thread and reports its result.
#include "brook/savepoint_on_signal.h"

#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace brook {
namespace {

// SIGUSR2, so that the test does not depend on SIGUSR1's disposition. Blocked
// in this thread before the object's thread starts, as BlockSignal() says.
TEST(SavepointOnSignalTest, EachSignalTakesOneSavepointAndReportsIt) {
  SavepointOnSignal::BlockSignal(SIGUSR2);
  absl::Mutex mu;
  int triggered = 0;
  std::vector<std::string> reported;
  {
    SavepointOnSignal savepoints(
        [&]() -> absl::StatusOr<std::string> {
          absl::MutexLock lock(&mu);
          ++triggered;
          if (triggered == 2) return absl::FailedPreconditionError("not running");
          return "/savepoints/sp-" + std::to_string(triggered);
        },
        [&](const absl::StatusOr<std::string>& path) {
          absl::MutexLock lock(&mu);
          reported.push_back(path.ok() ? *path : path.status().ToString());
        },
        SIGUSR2);
    auto reports = [&] {
      absl::MutexLock lock(&mu);
      return reported.size();
    };
    // One at a time: a signal sent while one is pending is merged with it.
    for (size_t i = 1; i <= 2; ++i) {
      ASSERT_EQ(kill(getpid(), SIGUSR2), 0);
      const absl::Time deadline = absl::Now() + absl::Seconds(30);
      while (reports() < i && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
      ASSERT_EQ(reports(), i);
    }
  }
  EXPECT_EQ(triggered, 2);
  EXPECT_THAT(reported,
              testing::ElementsAre("/savepoints/sp-1", "FAILED_PRECONDITION: not running"));
}

}  // namespace
}  // namespace brook
