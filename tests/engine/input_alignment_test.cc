// InputAlignment: the combined watermark, watermark alignment and checkpoint
// barrier alignment of an input task, without threads or records.
#include "brook/internal/input_alignment.h"

#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

using ::brook::internal::CheckpointBarrier;
using ::brook::internal::InputAlignment;
using ::testing::ElementsAre;
using ::testing::Optional;
using ::testing::Pair;

class InputAlignmentTest : public ::testing::Test {
 protected:
  InputAlignment Make(int channels, bool align_watermarks) {
    return InputAlignment(channels, align_watermarks,
                          [this](int c, bool p) { calls_.emplace_back(c, p); });
  }
  std::vector<std::pair<int, bool>> calls_;
};

TEST_F(InputAlignmentTest, WatermarkIsTheMinimumOverChannels) {
  InputAlignment a = Make(2, /*align_watermarks=*/false);
  EXPECT_EQ(a.OnWatermark(0, 100).watermark.watermark, std::nullopt);
  EXPECT_THAT(a.OnWatermark(1, 50).watermark.watermark, Optional(50));
  EXPECT_THAT(a.OnWatermark(1, 200).watermark.watermark, Optional(100));
  EXPECT_TRUE(calls_.empty());  // no alignment: nothing is ever paused
}

TEST_F(InputAlignmentTest, ChannelAheadInEventTimeIsPausedUntilTheOthersCatchUp) {
  InputAlignment a = Make(2, /*align_watermarks=*/true);
  a.OnWatermark(0, 100);
  EXPECT_TRUE(a.paused(0));
  EXPECT_FALSE(a.paused(1));
  EXPECT_THAT(a.OnWatermark(1, 100).watermark.watermark, Optional(100));
  EXPECT_FALSE(a.paused(0));
  EXPECT_THAT(calls_, ElementsAre(Pair(0, true), Pair(0, false)));
}

TEST_F(InputAlignmentTest, OneChannelIsNeverWatermarkAligned) {
  InputAlignment a = Make(1, /*align_watermarks=*/true);
  EXPECT_THAT(a.OnWatermark(0, 100).watermark.watermark, Optional(100));
  EXPECT_FALSE(a.paused(0));
}

TEST_F(InputAlignmentTest, BarrierBlocksItsChannelUntilAlignedThenCheckpoints) {
  InputAlignment a = Make(3, /*align_watermarks=*/false);
  EXPECT_FALSE(a.OnBarrier(0, CheckpointBarrier{1, false}).checkpoint.has_value());
  EXPECT_TRUE(a.paused(0));
  EXPECT_TRUE(a.aligning());
  EXPECT_FALSE(a.OnBarrier(2, CheckpointBarrier{1, false}).checkpoint.has_value());
  EXPECT_TRUE(a.paused(2));
  InputAlignment::Actions done = a.OnBarrier(1, CheckpointBarrier{1, true});
  ASSERT_TRUE(done.checkpoint.has_value());
  EXPECT_EQ(done.checkpoint->checkpoint_id, 1);
  EXPECT_FALSE(done.checkpoint->savepoint);  // the first barrier's
  EXPECT_GE(done.alignment_ms, 0);
  EXPECT_FALSE(a.aligning());
  for (int c = 0; c < 3; ++c) EXPECT_FALSE(a.paused(c)) << c;
  // A late duplicate of an aligned checkpoint's barrier is ignored.
  EXPECT_FALSE(a.OnBarrier(0, CheckpointBarrier{1, false}).checkpoint.has_value());
  EXPECT_FALSE(a.paused(0));
}

TEST_F(InputAlignmentTest, EndedChannelCountsAsAligned) {
  InputAlignment a = Make(2, /*align_watermarks=*/false);
  a.OnBarrier(0, CheckpointBarrier{4, false});
  InputAlignment::Actions done = a.OnEndOfInput(1);
  ASSERT_TRUE(done.checkpoint.has_value());
  EXPECT_EQ(done.checkpoint->checkpoint_id, 4);
  EXPECT_FALSE(a.AllEnded());
  a.OnEndOfInput(0);
  EXPECT_TRUE(a.AllEnded());
}

TEST_F(InputAlignmentTest, NewerBarrierAbandonsTheOlderAlignment) {
  InputAlignment a = Make(2, /*align_watermarks=*/false);
  a.OnBarrier(0, CheckpointBarrier{1, false});
  EXPECT_FALSE(a.OnBarrier(1, CheckpointBarrier{2, false}).checkpoint.has_value());
  EXPECT_FALSE(a.paused(0));  // checkpoint 1 was given up
  EXPECT_TRUE(a.paused(1));
  // The older barrier, arriving late, no longer counts.
  EXPECT_FALSE(a.OnBarrier(0, CheckpointBarrier{1, false}).checkpoint.has_value());
  InputAlignment::Actions done = a.OnBarrier(0, CheckpointBarrier{2, false});
  ASSERT_TRUE(done.checkpoint.has_value());
  EXPECT_EQ(done.checkpoint->checkpoint_id, 2);
}

TEST_F(InputAlignmentTest, BarrierWinsOverWatermarkAlignment) {
  InputAlignment a = Make(2, /*align_watermarks=*/true);
  a.OnWatermark(1, 100);
  ASSERT_TRUE(a.paused(1));  // ahead in event time
  // Channel 0 is blocked by a barrier; channel 1, only ahead, must be read
  // or the alignment never finishes.
  a.OnBarrier(0, CheckpointBarrier{1, false});
  EXPECT_TRUE(a.paused(0));
  EXPECT_FALSE(a.paused(1));
  InputAlignment::Actions done = a.OnBarrier(1, CheckpointBarrier{1, false});
  ASSERT_TRUE(done.checkpoint.has_value());
  // Aligned: the event-time pause is back.
  EXPECT_FALSE(a.paused(0));
  EXPECT_TRUE(a.paused(1));
}

// Channel 1 is ahead in event time and channel 2 behind, readable and empty
// (its producer waits for the barrier from channel 1's producer, which is
// blocked on channel 1: see the header). While barrier 1 is aligned the
// event-time pause of channel 1 is lifted, though channel 2 is readable.
TEST_F(InputAlignmentTest, WhileABarrierIsAlignedOnlyBarriersPause) {
  InputAlignment a = Make(3, /*align_watermarks=*/true);
  a.OnWatermark(0, 50);
  a.OnWatermark(1, 100);
  a.OnWatermark(2, 50);
  ASSERT_TRUE(a.paused(1));
  ASSERT_FALSE(a.paused(2));
  a.OnBarrier(0, CheckpointBarrier{1, false});
  EXPECT_TRUE(a.paused(0));
  EXPECT_FALSE(a.paused(1));
  EXPECT_FALSE(a.paused(2));
  a.OnBarrier(1, CheckpointBarrier{1, false});
  EXPECT_TRUE(a.paused(1));  // blocked by its barrier now
  ASSERT_TRUE(a.OnBarrier(2, CheckpointBarrier{1, false}).checkpoint.has_value());
  // Aligned: channel 1 is paused again for being ahead.
  EXPECT_FALSE(a.paused(0));
  EXPECT_TRUE(a.paused(1));
  EXPECT_FALSE(a.paused(2));
}

}  // namespace
