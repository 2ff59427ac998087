// brook::RestoreLogListener: a restore as log lines.
#include "brook/restore_log_listener.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace brook {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(RestoreLogListenerTest, SkippedCheckpointsThenTheRestoredOne) {
  std::vector<std::string> lines;
  RestoreLogListener listener([&](const std::string& line) { lines.push_back(line); });
  RestoreInfo info;
  info.path = "/ckpt/chk-3";
  info.checkpoint_id = 3;
  info.skipped = {"/ckpt/chk-5: no _metadata", "/ckpt/chk-4: bad checksum"};
  listener.OnRestored(info);
  EXPECT_THAT(lines,
              ElementsAre("skipped corrupt or incomplete checkpoint /ckpt/chk-5: no _metadata",
                          "skipped corrupt or incomplete checkpoint /ckpt/chk-4: bad checksum",
                          "restored from /ckpt/chk-3"));
}

TEST(RestoreLogListenerTest, NothingWhenTheRunStartsEmpty) {
  std::vector<std::string> lines;
  RestoreLogListener listener([&](const std::string& line) { lines.push_back(line); });
  listener.OnRestored(RestoreInfo{});
  EXPECT_THAT(lines, IsEmpty());
}

}  // namespace
}  // namespace brook
