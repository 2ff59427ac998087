// The scale-out stages' functions (camera_top_k/scale_out.h), by hand:
// stage two merges partials of several origins, ranks as the Top-K does,
// fires on the watermark, ignores a replayed partial, keeps its state across
// a checkpoint; the exchange encodings round-trip.
#include "camera_top_k/scale_out.h"

#include <string>
#include <vector>

#include "brook/testing/status_matchers.h"
#include "brook/testing/test_harness.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace camera {
namespace {

using ::brook::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Ranked = brook::ops::RankedItem<int64_t>;
using Harness = brook::testing::KeyedProcessFunctionTestHarness<MergePartialsTopK>;

PartialCounts Partial(int64_t start, int64_t end, int32_t origin,
                      std::vector<std::pair<std::string, int64_t>> counts) {
  return PartialCounts{start, end, false, /*location=*/7, origin, std::move(counts)};
}

int64_t LocationOf(const PartialCounts& p) { return p.location; }

TEST(MergePartialsTopKTest, SumsOriginsAndRanksWhenTheWatermarkPassesTheWindow) {
  Harness h(MergePartialsTopK(2), &LocationOf);
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement(Partial(0, 1000, 0, {{"car", 3}, {"dog", 1}}), 999), IsOk());
  ASSERT_THAT(h.ProcessElement(Partial(0, 1000, 1, {{"bus", 2}, {"dog", 2}}), 999), IsOk());
  ASSERT_THAT(h.ProcessWatermark(998), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(), IsEmpty());
  ASSERT_THAT(h.ProcessWatermark(999), IsOk());
  // car 3, dog 3, bus 2: ties by item ascending; top 2.
  EXPECT_THAT(h.ExtractOutputValues(),
              ElementsAre(Ranked{0, 1000, false, 7, 1, "car", 3}, Ranked{0, 1000, false, 7, 2, "dog", 3}));
}

TEST(MergePartialsTopKTest, AReplayedPartialOfAnOriginReplacesItsFirstCopy) {
  Harness h(MergePartialsTopK(5), &LocationOf);
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement(Partial(0, 1000, 4, {{"car", 3}}), 999), IsOk());
  ASSERT_THAT(h.ProcessElement(Partial(0, 1000, 4, {{"car", 3}}), 999), IsOk());
  ASSERT_THAT(h.ProcessWatermark(1500), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre(Ranked{0, 1000, false, 7, 1, "car", 3}));
}

TEST(MergePartialsTopKTest, GlobalWindowFiresAtTheEndOfInputAndStateSurvivesACheckpoint) {
  Harness h(MergePartialsTopK(5), &LocationOf);
  ASSERT_THAT(h.Open(), IsOk());
  PartialCounts global{brook::kMinTimestampMs, brook::kMaxWatermarkMs, true, 7, 0, {{"car", 1}}};
  ASSERT_THAT(h.ProcessElement(global, brook::kMaxWatermarkMs), IsOk());
  auto snapshot = h.Snapshot(1);
  ASSERT_THAT(snapshot, IsOk());
  Harness restored(MergePartialsTopK(5), &LocationOf);
  ASSERT_THAT(restored.RestoreFrom({*snapshot}), IsOk());
  ASSERT_THAT(restored.Open(), IsOk());
  global.origin = 1;
  global.counts = {{"car", 2}};
  ASSERT_THAT(restored.ProcessElement(global, brook::kMaxWatermarkMs), IsOk());
  ASSERT_THAT(restored.ProcessWatermark(brook::kMaxWatermarkMs), IsOk());
  EXPECT_THAT(restored.ExtractOutputValues(),
              ElementsAre(Ranked{brook::kMinTimestampMs, brook::kMaxWatermarkMs, true, 7, 1,
                                 "car", 3}));
}

TEST(ScaleOutEncodingTest, PartialsAndEventsRoundTrip) {
  const PartialCounts p = Partial(5, 10, 3, {{"a", 1}, {"b", 2}});
  PartialCounts back;
  ASSERT_THAT(brook::DeserializeFromString(brook::SerializeToString(p), &back), IsOk());
  EXPECT_EQ(back.window_start_ms, 5);
  EXPECT_EQ(back.window_end_ms, 10);
  EXPECT_EQ(back.origin, 3);
  EXPECT_EQ(back.counts, p.counts);
  const Event e{Detection{1, 2, 3, "car", 4}, 5, 6};
  Event e2;
  ASSERT_THAT(brook::DeserializeFromString(brook::SerializeToString(e), &e2), IsOk());
  EXPECT_EQ(e2.detection, e.detection);
  EXPECT_EQ(e2.line_number, 5);
  EXPECT_EQ(e2.partition, 6);
}

TEST(ValidateScaleOutTest, RejectsWhatCannotRunSplit) {
  ScaleOutOptions o;
  EXPECT_THAT(ValidateScaleOut(o, false, true, true), IsOk());  // one process: anything goes
  o.num_processes = 2;
  o.process_index = 2;
  EXPECT_FALSE(ValidateScaleOut(o, true, false, false).ok());
  o.process_index = 1;
  EXPECT_THAT(ValidateScaleOut(o, true, false, false), IsOk());
  EXPECT_FALSE(ValidateScaleOut(o, false, false, false).ok());  // not a topic
  EXPECT_FALSE(ValidateScaleOut(o, true, true, false).ok());    // lateness
  EXPECT_FALSE(ValidateScaleOut(o, true, false, true).ok());    // early firing
  o.num_processes = 1;
  o.process_index = 0;
  o.repartition_by_detection = true;
  EXPECT_FALSE(ValidateScaleOut(o, true, false, false).ok());
}

}  // namespace
}  // namespace camera
