// File: tests/connectors/split_dead_letters_test.cc
//
// SplitDeadLetters: records go on, dead letters to the side output, counted.
#include "brook/connectors/split_dead_letters.h"

#include <memory>
#include <variant>
#include <vector>

#include "brook/brook.h"
#include "brook/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace brook::connectors {
namespace {

using ::brook::testing::IsOk;
using ::brook::testing::IsOkAndHolds;
using ::testing::ElementsAre;

using Rec = std::variant<int, DeadLetter>;

TEST(SplitDeadLettersTest, RecordsGoOnAndDeadLettersToTheSideOutputCounted) {
  StreamExecutionEnvironment env({.parallelism = 1});
  const OutputTag<DeadLetter> rejected("rejected");
  const DeadLetter bad{"in.csv", 2, "x: not an integer", "x"};
  auto records = std::make_shared<CollectSink<int>>();
  auto dead = std::make_shared<CollectSink<DeadLetter>>();
  auto split = env.FromCollection(std::vector<Rec>{Rec(1), Rec(bad), Rec(3)})
                   .Process(SplitDeadLetters<int, Rec>(rejected, "num_malformed"), "split");
  split.SinkTo(records);
  split.GetSideOutput(rejected).SinkTo(dead);
  ASSERT_THAT(env.Execute(), IsOk());
  EXPECT_THAT(records->values(), ElementsAre(1, 3));
  EXPECT_THAT(dead->values(), ElementsAre(bad));
  EXPECT_THAT(env.metrics().Sum("num_malformed", "split"), IsOkAndHolds(1));
}

TEST(SplitDeadLettersTest, PlainRecordsPassAndCountNothing) {
  StreamExecutionEnvironment env({.parallelism = 1});
  const OutputTag<DeadLetter> rejected("rejected");
  auto records = std::make_shared<CollectSink<int>>();
  env.FromCollection(std::vector<int>{4, 5})
      .Process(SplitDeadLetters<int, int>(rejected), "split")
      .SinkTo(records);
  ASSERT_THAT(env.Execute(), IsOk());
  EXPECT_THAT(records->values(), ElementsAre(4, 5));
  EXPECT_THAT(env.metrics().Sum("num_dead_letters", "split"), IsOkAndHolds(0));
}

}  // namespace
}  // namespace brook::connectors
