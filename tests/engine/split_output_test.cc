// File: tests/engine/split_output_test.cc
//
// Split-aware sources (Flink's split-local outputs and per-split
// watermarks): the SourceDriver driven by hand with a manual clock (per-split
// watermark = minimum, idleness per split, released splits, bounded
// determinism, per-split generator state across 1 -> 2 -> 1 with union
// state, watermarks the reader emits itself), and end to end: an idle reader does not hold back a two-source
// job, SourceReader::NotifyCheckpointComplete reaches the reader on its
// thread, and a union-state source restores at parallelism 1 -> 2 -> 1.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "brook/brook.h"
#include "brook/checkpoint_storage.h"
#include "brook/internal/restore_assignment.h"
#include "brook/internal/source_task.h"
#include "brook/serialization.h"
#include "brook/testing/status_matchers.h"
#include "brook/testing/test_harness.h"

namespace {

using ::brook::InputStatus;
using ::brook::kMaxWatermarkMs;
using ::brook::kMinTimestampMs;
using ::brook::ReaderOutput;
using ::brook::SourceStateDistribution;
using ::brook::testing::IsOk;
using ::brook::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

using Poll = std::function<void(ReaderOutput<int64_t>&)>;
using Element = brook::testing::OutputElement<int64_t>;

// ---------------------------------------------------------------------------
// The driver by hand. The value is the event timestamp (the assigner's).

// Runs whatever the test hands to the next PollNext(); keeps the states it was
// restored with and snapshots `position`.
class ScriptedReader final : public brook::SourceReader<int64_t> {
 public:
  absl::StatusOr<InputStatus> PollNext(ReaderOutput<int64_t>& output) override {
    if (next) next(output);
    next = nullptr;
    return InputStatus::kNothingAvailable;
  }
  absl::StatusOr<std::string> SnapshotState(int64_t) override { return position; }
  absl::Status RestoreState(std::vector<std::string> states) override {
    restored = std::move(states);
    return absl::OkStatus();
  }

  Poll next;
  std::string position = "pos";
  std::vector<std::string> restored;
};

brook::WatermarkStrategy<int64_t> Monotonous() {
  return brook::WatermarkStrategy<int64_t>::ForMonotonousTimestamps().WithTimestampAssigner(
      [](int64_t v) { return v; });
}

// A SourceDriver over a ScriptedReader whose output is captured.
class Rig {
 public:
  Rig(brook::WatermarkStrategy<int64_t> strategy, brook::Boundedness boundedness,
      SourceStateDistribution distribution = SourceStateDistribution::kUnion, int parallelism = 1,
      int subtask = 0)
      : output_({&capture_}, nullptr, /*batch_size=*/1) {
    auto reader = std::make_unique<ScriptedReader>();
    reader_ = reader.get();
    driver_ = std::make_unique<brook::internal::SourceDriver<int64_t>>(
        std::move(reader), std::move(strategy), boundedness, distribution);
    brook::internal::OperatorSetup setup;
    setup.operator_name = "src";
    setup.subtask_index = subtask;
    setup.parallelism = parallelism;
    driver_->Setup(setup);
    driver_->SetMainOutput(&output_);
  }

  absl::Status Poll(Poll poll) {
    reader_->next = std::move(poll);
    absl::StatusOr<InputStatus> st = driver_->Poll();
    if (!st.ok()) return st.status();
    return driver_->FlushOutputs();
  }
  std::vector<int64_t> TakeWatermarks() { return capture_.TakeWatermarks(); }
  // Idle (true) / active (false) announcements so far.
  std::vector<bool> statuses() const { return capture_.statuses; }

  brook::internal::SourceDriver<int64_t>& driver() { return *driver_; }
  ScriptedReader& reader() { return *reader_; }
  brook::testing::harness_internal::CaptureConsumer<int64_t>& capture() { return capture_; }

  absl::StatusOr<brook::OperatorSubtaskState> Snapshot(int64_t id) {
    BROOK_ASSIGN_OR_RETURN(brook::internal::AsyncSnapshot async, driver_->SnapshotState(id));
    BROOK_ASSIGN_OR_RETURN(brook::internal::OperatorSnapshotData data, async());
    brook::OperatorSubtaskState s;
    s.operator_id = "src";
    s.subtask_index = driver_->setup().subtask_index;
    s.parallelism = driver_->setup().parallelism;
    s.operator_state = std::move(data.operator_state);
    return s;
  }
  absl::Status RestoreFrom(const std::vector<brook::OperatorSubtaskState>& snapshots) {
    std::vector<const brook::OperatorSubtaskState*> states;
    for (const auto& s : snapshots) states.push_back(&s);
    const auto& setup = driver_->setup();
    return driver_->InitializeState(brook::internal::AssignRestoreData(
        1, states, setup.max_parallelism, setup.parallelism, setup.subtask_index,
        driver_->operator_state_distribution()));
  }

 private:
  brook::testing::harness_internal::CaptureConsumer<int64_t> capture_;
  brook::internal::Output<int64_t> output_;
  ScriptedReader* reader_;
  std::unique_ptr<brook::internal::SourceDriver<int64_t>> driver_;
};

constexpr auto kUnbounded = brook::Boundedness::kContinuousUnbounded;
constexpr auto kBounded = brook::Boundedness::kBounded;

TEST(SplitOutputTest, WatermarkIsTheMinimumOverSplits) {
  Rig rig(Monotonous(), kUnbounded);
  ASSERT_THAT(rig.driver().Open(), IsOk());
  ASSERT_THAT(rig.Poll([](ReaderOutput<int64_t>& out) {
    out.CreateOutputForSplit("t/0").Collect(100);
    out.CreateOutputForSplit("t/1").Collect(50);
  }),
              IsOk());
  EXPECT_TRUE(rig.driver().uses_split_outputs());
  ASSERT_THAT(rig.driver().EmitWatermark(0), IsOk());
  EXPECT_THAT(rig.TakeWatermarks(), ElementsAre(49));
  // The leading split does not move the minimum; the lagging one does.
  ASSERT_THAT(
      rig.Poll([](ReaderOutput<int64_t>& out) { out.CreateOutputForSplit("t/0").Collect(200); }),
      IsOk());
  ASSERT_THAT(rig.driver().EmitWatermark(0), IsOk());
  EXPECT_THAT(rig.TakeWatermarks(), IsEmpty());
  ASSERT_THAT(
      rig.Poll([](ReaderOutput<int64_t>& out) { out.CreateOutputForSplit("t/1").Collect(300); }),
      IsOk());
  ASSERT_THAT(rig.driver().EmitWatermark(0), IsOk());
  EXPECT_THAT(rig.TakeWatermarks(), ElementsAre(199));
  // Records carry the assigner's timestamps.
  std::vector<brook::StreamRecord<int64_t>> records = rig.capture().TakeRecords();
  ASSERT_THAT(records, SizeIs(4));
  for (const auto& r : records) EXPECT_EQ(r.timestamp_ms, r.value);
  EXPECT_THAT(rig.statuses(), IsEmpty());
}

// SourceOutput::EmitWatermark (Flink's emitWatermark): a reader's own
// watermarks, per split (the minimum over splits, at once) and on the reader.
TEST(SplitOutputTest, ReaderEmittedWatermarksCombineAndNeverGoBack) {
  Rig rig(brook::WatermarkStrategy<int64_t>::NoWatermarks(), kBounded);
  ASSERT_THAT(rig.driver().Open(), IsOk());
  ASSERT_THAT(rig.Poll([](ReaderOutput<int64_t>& out) {
    out.CreateOutputForSplit("t/1");  // holds back
    out.CreateOutputForSplit("t/0").EmitWatermark(100);
  }),
              IsOk());
  EXPECT_THAT(rig.TakeWatermarks(), IsEmpty());
  ASSERT_THAT(rig.Poll([](ReaderOutput<int64_t>& out) {
    out.CreateOutputForSplit("t/1").EmitWatermark(50);
    out.CreateOutputForSplit("t/1").EmitWatermark(40);  // never back
  }),
              IsOk());
  EXPECT_THAT(rig.TakeWatermarks(), ElementsAre(50));
  ASSERT_THAT(rig.Poll([](ReaderOutput<int64_t>& out) {
    out.CreateOutputForSplit("t/1").EmitWatermark(300);
  }),
              IsOk());
  EXPECT_THAT(rig.TakeWatermarks(), ElementsAre(100));

  Rig whole(brook::WatermarkStrategy<int64_t>::NoWatermarks(), kUnbounded);
  ASSERT_THAT(whole.driver().Open(), IsOk());
  ASSERT_THAT(whole.Poll([](ReaderOutput<int64_t>& out) {
    out.EmitWatermark(10);
    out.EmitWatermark(5);
    out.EmitWatermark(20);
  }),
              IsOk());
  EXPECT_THAT(whole.TakeWatermarks(), ElementsAre(10, 20));
}

TEST(SplitOutputTest, ASplitWithoutWatermarkHoldsBackUntilReleased) {
  Rig rig(Monotonous(), kUnbounded);
  ASSERT_THAT(rig.driver().Open(), IsOk());
  ASSERT_THAT(rig.Poll([](ReaderOutput<int64_t>& out) {
    out.CreateOutputForSplit("t/0").Collect(100);
    out.CreateOutputForSplit("t/1");  // no record yet: counts as kMinTimestampMs
  }),
              IsOk());
  ASSERT_THAT(rig.driver().EmitWatermark(0), IsOk());
  EXPECT_THAT(rig.TakeWatermarks(), IsEmpty());
  // Released (finished): it no longer counts, at once.
  ASSERT_THAT(rig.Poll([](ReaderOutput<int64_t>& out) { out.ReleaseOutputForSplit("t/1"); }),
              IsOk());
  EXPECT_THAT(rig.TakeWatermarks(), ElementsAre(99));
  // A released split comes back as a new one, without a watermark.
  ASSERT_THAT(rig.Poll([](ReaderOutput<int64_t>& out) {
    out.CreateOutputForSplit("t/0").Collect(500);
    out.CreateOutputForSplit("t/1");
  }),
              IsOk());
  ASSERT_THAT(rig.driver().EmitWatermark(0), IsOk());
  EXPECT_THAT(rig.TakeWatermarks(), IsEmpty());
}

TEST(SplitOutputTest, IdlenessIsPerSplitAndARecordMakesASplitActive) {
  Rig rig(Monotonous().WithIdleness(absl::Milliseconds(100)), kUnbounded);
  ASSERT_THAT(rig.driver().Open(), IsOk());
  auto to = [](const char* split, int64_t ts) {
    return [=](ReaderOutput<int64_t>& out) { out.CreateOutputForSplit(split).Collect(ts); };
  };
  ASSERT_THAT(rig.Poll([](ReaderOutput<int64_t>& out) {
    out.CreateOutputForSplit("a").Collect(1000);
    out.CreateOutputForSplit("b").Collect(10);
  }),
              IsOk());
  ASSERT_THAT(rig.driver().EmitWatermark(/*now_ms=*/0), IsOk());  // starts the timers
  EXPECT_THAT(rig.TakeWatermarks(), ElementsAre(9));
  ASSERT_THAT(rig.Poll(to("a", 2000)), IsOk());
  ASSERT_THAT(rig.driver().EmitWatermark(60), IsOk());
  ASSERT_THAT(rig.Poll(to("a", 3000)), IsOk());
  ASSERT_THAT(rig.driver().EmitWatermark(99), IsOk());
  EXPECT_THAT(rig.TakeWatermarks(), IsEmpty());  // b is quiet, not yet idle
  // b has had no record for 100 ms: idle, and a alone sets the watermark.
  ASSERT_THAT(rig.driver().EmitWatermark(100), IsOk());
  EXPECT_THAT(rig.TakeWatermarks(), ElementsAre(2999));
  EXPECT_THAT(rig.statuses(), IsEmpty());
  // a goes quiet too (its last record was seen at 99): every split idle, so
  // the subtask is.
  ASSERT_THAT(rig.driver().EmitWatermark(198), IsOk());
  EXPECT_THAT(rig.statuses(), IsEmpty());
  ASSERT_THAT(rig.driver().EmitWatermark(199), IsOk());
  EXPECT_THAT(rig.statuses(), ElementsAre(true));
  // A record on b makes b and the subtask active; b holds the watermark
  // back again (it is behind a).
  ASSERT_THAT(rig.Poll(to("b", 20)), IsOk());
  EXPECT_THAT(rig.statuses(), ElementsAre(true, false));
  ASSERT_THAT(rig.Poll(to("b", 5000)), IsOk());
  ASSERT_THAT(rig.driver().EmitWatermark(210), IsOk());
  EXPECT_THAT(rig.TakeWatermarks(), ElementsAre(4999));  // a still idle
  ASSERT_THAT(rig.Poll(to("a", 4000)), IsOk());
  ASSERT_THAT(rig.Poll(to("b", 6000)), IsOk());
  ASSERT_THAT(rig.driver().EmitWatermark(220), IsOk());
  EXPECT_THAT(rig.TakeWatermarks(), IsEmpty());  // min(3999, 5999) is behind
}

TEST(SplitOutputTest, MarkIdleOnASplitAndOnTheReader) {
  Rig rig(Monotonous(), kUnbounded);
  ASSERT_THAT(rig.driver().Open(), IsOk());
  ASSERT_THAT(rig.Poll([](ReaderOutput<int64_t>& out) {
    out.CreateOutputForSplit("a").Collect(1000);
    out.CreateOutputForSplit("b").Collect(10);
  }),
              IsOk());
  ASSERT_THAT(rig.driver().EmitWatermark(0), IsOk());
  EXPECT_THAT(rig.TakeWatermarks(), ElementsAre(9));
  // No idleness timeout configured: only explicit MarkIdle, effective at once.
  ASSERT_THAT(
      rig.Poll([](ReaderOutput<int64_t>& out) { out.CreateOutputForSplit("b").MarkIdle(); }),
      IsOk());
  EXPECT_THAT(rig.TakeWatermarks(), ElementsAre(999));
  EXPECT_THAT(rig.statuses(), IsEmpty());
  // The reader itself: every split idle.
  ASSERT_THAT(rig.Poll([](ReaderOutput<int64_t>& out) { out.MarkIdle(); }), IsOk());
  EXPECT_THAT(rig.statuses(), ElementsAre(true));
  ASSERT_THAT(
      rig.Poll([](ReaderOutput<int64_t>& out) { out.CreateOutputForSplit("a").Collect(2000); }),
      IsOk());
  EXPECT_THAT(rig.statuses(), ElementsAre(true, false));
  ASSERT_THAT(rig.driver().EmitWatermark(0), IsOk());
  EXPECT_THAT(rig.TakeWatermarks(), ElementsAre(1999));  // b still idle
}

TEST(SplitOutputTest, AReaderWithoutSplitsMarksItselfIdle) {
  Rig rig(Monotonous(), kUnbounded);
  ASSERT_THAT(rig.driver().Open(), IsOk());
  ASSERT_THAT(rig.Poll([](ReaderOutput<int64_t>& out) { out.MarkIdle(); }), IsOk());
  EXPECT_FALSE(rig.driver().uses_split_outputs());
  EXPECT_THAT(rig.statuses(), ElementsAre(true));
}

// A bounded reader whose splits are all finished is not idle: its channel
// keeps counting downstream until Finish() sends the maximum watermark.
TEST(SplitOutputTest, ABoundedReaderWithEverySplitReleasedIsNotIdle) {
  Rig rig(Monotonous(), kBounded);
  ASSERT_THAT(rig.driver().Open(), IsOk());
  ASSERT_THAT(rig.Poll([](ReaderOutput<int64_t>& out) {
    out.CreateOutputForSplit("a").Collect(1000);
    out.CreateOutputForSplit("b").MarkIdle();
    out.ReleaseOutputForSplit("a");
    out.ReleaseOutputForSplit("b");
    out.MarkIdle();
  }),
              IsOk());
  EXPECT_THAT(rig.statuses(), IsEmpty());
}

// Bounded: watermarks after every N records over all splits, by position.
TEST(SplitOutputTest, BoundedWatermarksFollowTheRecordOrder) {
  std::vector<std::vector<Element>> runs;
  for (int run = 0; run < 2; ++run) {
    Rig rig(Monotonous().WithRecordsPerWatermark(2), kBounded);
    ASSERT_THAT(rig.driver().Open(), IsOk());
    ASSERT_THAT(rig.Poll([](ReaderOutput<int64_t>& out) {
      brook::SourceOutput<int64_t>& a = out.CreateOutputForSplit("a");
      brook::SourceOutput<int64_t>& b = out.CreateOutputForSplit("b");
      a.Collect(10);
      b.Collect(5);  // 2 records: min(9, 4)
      a.Collect(20);
      a.Collect(30);  // 4: min(29, 4), not forwarded
      b.Collect(40);
      b.Collect(41);                   // 6: min(29, 40)
      out.ReleaseOutputForSplit("a");  // at once: 40
    }),
                IsOk());
    ASSERT_THAT(rig.driver().Finish(), IsOk());
    EXPECT_TRUE(rig.capture().ended);
    runs.push_back(rig.capture().elements);
  }
  EXPECT_THAT(runs[0],
              ElementsAre(Element::Record(10, 10), Element::Record(5, 5), Element::Watermark(4),
                          Element::Record(20, 20), Element::Record(30, 30), Element::Record(40, 40),
                          Element::Record(41, 41), Element::Watermark(29), Element::Watermark(40),
                          Element::Watermark(kMaxWatermarkMs)));
  EXPECT_EQ(runs[0], runs[1]);
}

// Creates the outputs of splits t/<k> of `splits`, emitting ts[n] to the n-th.
Poll CreateSplits(std::vector<int> splits, std::vector<int64_t> ts) {
  return [=](ReaderOutput<int64_t>& out) {
    for (size_t n = 0; n < splits.size(); ++n) {
      brook::SourceOutput<int64_t>& split = out.CreateOutputForSplit(absl::StrCat("t/", splits[n]));
      if (n < ts.size()) split.Collect(ts[n]);
    }
  };
}

// Splits t/0..t/3 (read by subtask i of p when k % p == i, as Kafka does) at
// parallelism 1; split k's watermark is 100 * (k + 1) - 1.
brook::OperatorSubtaskState FourSplitsAtParallelism1() {
  Rig one(Monotonous(), kUnbounded);
  EXPECT_THAT(one.driver().Open(), IsOk());
  EXPECT_THAT(one.Poll(CreateSplits({0, 1, 2, 3}, {100, 200, 300, 400})), IsOk());
  EXPECT_THAT(one.driver().EmitWatermark(0), IsOk());
  EXPECT_THAT(one.TakeWatermarks(), ElementsAre(99));
  absl::StatusOr<brook::OperatorSubtaskState> snap = one.Snapshot(1);
  EXPECT_THAT(snap, IsOk());
  return snap.ok() ? *snap : brook::OperatorSubtaskState{};
}

// Subtask `i` of `p` (union state) restored from `snapshots` and opened.
std::unique_ptr<Rig> RestoredRig(const std::vector<brook::OperatorSubtaskState>& snapshots, int p,
                                 int i) {
  auto rig = std::make_unique<Rig>(Monotonous(), kUnbounded, SourceStateDistribution::kUnion, p, i);
  EXPECT_THAT(rig->RestoreFrom(snapshots), IsOk());
  EXPECT_THAT(rig->driver().Open(), IsOk());
  return rig;
}

// Each split's generator state follows the split across 1 -> 2 -> 1.
TEST(SplitOutputTest, SplitGeneratorStateFollowsTheSplitAcrossParallelismChanges) {
  const brook::OperatorSubtaskState snap1 = FourSplitsAtParallelism1();
  // Parallelism 2, union: each subtask gets the whole state and resumes its
  // splits' generators (no record needed to know their watermarks).
  std::vector<std::unique_ptr<Rig>> two;
  std::vector<brook::OperatorSubtaskState> snaps2;
  for (int i = 0; i < 2; ++i) {
    two.push_back(RestoredRig({snap1}, 2, i));
    EXPECT_THAT(two[i]->reader().restored, ElementsAre("pos"));
    EXPECT_THAT(two[i]->TakeWatermarks(), ElementsAre(99)) << "the restored watermark";
  }
  // Records are counted once over the new subtasks.
  EXPECT_EQ(two[0]->driver().emitted() + two[1]->driver().emitted(), 4);
  ASSERT_THAT(two[0]->Poll(CreateSplits({0, 2}, {500})), IsOk());  // t/0 -> 499, t/2 at 299
  ASSERT_THAT(two[1]->Poll(CreateSplits({1, 3}, {})), IsOk());
  ASSERT_THAT(two[0]->driver().EmitWatermark(0), IsOk());
  ASSERT_THAT(two[1]->driver().EmitWatermark(0), IsOk());
  EXPECT_THAT(two[0]->TakeWatermarks(), ElementsAre(299));
  EXPECT_THAT(two[1]->TakeWatermarks(), ElementsAre(199));
  for (int i = 0; i < 2; ++i) {
    two[i]->reader().position = absl::StrCat("pos-", i);
    absl::StatusOr<brook::OperatorSubtaskState> s = two[i]->Snapshot(2);
    ASSERT_THAT(s, IsOk());
    snaps2.push_back(*s);
  }

  // Back to 1: the splits from both old subtasks, the overall watermark of
  // the one furthest behind (199).
  Rig back(Monotonous(), kUnbounded);
  ASSERT_THAT(back.RestoreFrom(snaps2), IsOk());
  EXPECT_THAT(back.reader().restored, ElementsAre("pos-0", "pos-1"));
  ASSERT_THAT(back.driver().Open(), IsOk());
  EXPECT_THAT(back.TakeWatermarks(), ElementsAre(199));
  // t/1 moves on: the minimum is then t/2's 299 (restored from subtask 0).
  ASSERT_THAT(back.Poll(CreateSplits({0, 1, 2, 3}, {0, 1000})), IsOk());
  ASSERT_THAT(back.driver().EmitWatermark(0), IsOk());
  EXPECT_THAT(back.TakeWatermarks(), ElementsAre(299));
  // t/2 moves on: t/3's 399 (from subtask 1).
  ASSERT_THAT(back.Poll(CreateSplits({2}, {2000})), IsOk());
  ASSERT_THAT(back.driver().EmitWatermark(0), IsOk());
  EXPECT_THAT(back.TakeWatermarks(), ElementsAre(399));
}

// A checkpoint taken before a restored reader created its split outputs (its
// first poll) keeps their restored states; the split owner's state wins over
// those carried copies.
TEST(SplitOutputTest, ACheckpointBeforeTheFirstPollKeepsTheRestoredSplits) {
  const brook::OperatorSubtaskState snap1 = FourSplitsAtParallelism1();
  std::unique_ptr<Rig> zero = RestoredRig({snap1}, 2, 0);
  std::unique_ptr<Rig> one = RestoredRig({snap1}, 2, 1);
  ASSERT_THAT(zero->Poll(CreateSplits({0, 2}, {500})), IsOk());  // t/0 -> 499
  ASSERT_THAT(zero->driver().EmitWatermark(0), IsOk());
  absl::StatusOr<brook::OperatorSubtaskState> s0 = zero->Snapshot(2);
  absl::StatusOr<brook::OperatorSubtaskState> s1 = one->Snapshot(2);  // never polled
  ASSERT_THAT(s0, IsOk());
  ASSERT_THAT(s1, IsOk());

  Rig back(Monotonous(), kUnbounded);
  ASSERT_THAT(back.RestoreFrom({*s0, *s1}), IsOk());
  ASSERT_THAT(back.driver().Open(), IsOk());
  EXPECT_THAT(back.TakeWatermarks(), ElementsAre(99));  // subtask 1's
  // t/3's 399 was carried by both subtasks.
  ASSERT_THAT(back.Poll(CreateSplits({0, 1, 2, 3}, {0, 1000, 2000})), IsOk());
  ASSERT_THAT(back.driver().EmitWatermark(0), IsOk());
  EXPECT_THAT(back.TakeWatermarks(), ElementsAre(399));
  // t/0 is at subtask 0's 499, not at the 99 subtask 1 carried.
  ASSERT_THAT(back.Poll(CreateSplits({3}, {3000})), IsOk());
  ASSERT_THAT(back.driver().EmitWatermark(0), IsOk());
  EXPECT_THAT(back.TakeWatermarks(), ElementsAre(499));
}

TEST(SplitOutputTest, RoundRobinSourcesStillGetOnlyTheirOwnStates) {
  Rig one(Monotonous(), kUnbounded, SourceStateDistribution::kRoundRobin, 2, 1);
  Rig src0(Monotonous(), kUnbounded), src1(Monotonous(), kUnbounded);
  src0.reader().position = "zero";
  src1.reader().position = "one";
  ASSERT_THAT(src0.driver().Open(), IsOk());
  ASSERT_THAT(src1.driver().Open(), IsOk());
  absl::StatusOr<brook::OperatorSubtaskState> s0 = src0.Snapshot(1), s1 = src1.Snapshot(1);
  ASSERT_THAT(s0, IsOk());
  ASSERT_THAT(s1, IsOk());
  s0->subtask_index = 0;
  s1->subtask_index = 1;
  ASSERT_THAT(one.RestoreFrom({*s0, *s1}), IsOk());
  EXPECT_THAT(one.reader().restored, ElementsAre("one"));
}

// A version 1 state (before split outputs) still restores.
TEST(SplitOutputTest, RestoresAVersion1State) {
  std::string bytes;
  brook::DataOutputView out(&bytes);
  out.WriteUint8(1);
  out.WriteString("old-position");
  brook::BoundedOutOfOrdernessWatermarks g(absl::ZeroDuration());
  g.OnEvent(700);
  out.WriteString(g.SnapshotState());
  out.WriteInt64(650);  // last watermark
  out.WriteInt64(0);    // records since the last watermark
  out.WriteUint8(0);    // idle
  out.WriteInt64(12);   // emitted
  Rig rig(Monotonous(), kUnbounded, SourceStateDistribution::kRoundRobin);
  ASSERT_THAT(rig.RestoreFrom({brook::OperatorSubtaskState{"src", 0, 1, bytes, {}}}), IsOk());
  EXPECT_THAT(rig.reader().restored, ElementsAre("old-position"));
  ASSERT_THAT(rig.driver().Open(), IsOk());
  EXPECT_EQ(rig.driver().emitted(), 12);
  ASSERT_THAT(rig.driver().EmitWatermark(0), IsOk());
  EXPECT_THAT(rig.TakeWatermarks(), ElementsAre(650, 699));

  bytes.push_back('x');
  Rig bad(Monotonous(), kUnbounded);
  EXPECT_THAT(bad.RestoreFrom({brook::OperatorSubtaskState{"src", 0, 1, bytes, {}}}),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("trailing bytes")));
}

// Snapshots "bad", which it refuses to restore.
class RefusingGenerator final : public brook::WatermarkGenerator {
 public:
  void OnEvent(int64_t) override {}
  std::optional<int64_t> OnPeriodicEmit() override { return std::nullopt; }
  std::string SnapshotState() const override { return "bad"; }
  absl::Status RestoreState(std::string_view state) override {
    if (state == "bad") return absl::DataLossError("cannot decode");
    return absl::OkStatus();
  }
};

// The driver's own generator (created first, at Open) emits nothing; the
// split outputs' refuse their snapshots.
brook::WatermarkStrategy<int64_t> SplitsRefuseTheirState() {
  auto created = std::make_shared<int>(0);
  return brook::WatermarkStrategy<int64_t>::ForGenerator(
      [created]() -> std::unique_ptr<brook::WatermarkGenerator> {
        if ((*created)++ == 0) return std::make_unique<brook::NoWatermarksGenerator>();
        return std::make_unique<RefusingGenerator>();
      });
}

TEST(SplitOutputTest, ASplitGeneratorStateThatDoesNotRestoreFailsThePoll) {
  Rig one(SplitsRefuseTheirState(), kUnbounded);
  ASSERT_THAT(one.driver().Open(), IsOk());
  ASSERT_THAT(one.Poll([](ReaderOutput<int64_t>& out) { out.CreateOutputForSplit("t/0"); }),
              IsOk());
  absl::StatusOr<brook::OperatorSubtaskState> snap = one.Snapshot(1);
  ASSERT_THAT(snap, IsOk());
  Rig rig(SplitsRefuseTheirState(), kUnbounded);
  ASSERT_THAT(rig.RestoreFrom({*snap}), IsOk());
  ASSERT_THAT(rig.driver().Open(), IsOk());
  EXPECT_THAT(rig.Poll([](ReaderOutput<int64_t>& out) { out.CreateOutputForSplit("t/0"); }),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("split 't/0'")));
}

// ---------------------------------------------------------------------------
// End to end.

// Publishes the highest watermark that reached it.
class WatermarkWatchSink final : public brook::Sink<int64_t> {
 public:
  explicit WatermarkWatchSink(std::shared_ptr<std::atomic<int64_t>> seen)
      : seen_(std::move(seen)) {}
  absl::StatusOr<std::unique_ptr<brook::SinkWriter<int64_t>>> CreateWriter(
      const brook::SinkWriterContext&) override {
    return std::unique_ptr<brook::SinkWriter<int64_t>>(new Writer(seen_));
  }

 private:
  class Writer final : public brook::SinkWriter<int64_t> {
   public:
    explicit Writer(std::shared_ptr<std::atomic<int64_t>> seen) : seen_(std::move(seen)) {}
    absl::Status Write(std::vector<brook::StreamRecord<int64_t>>&) override {
      return absl::OkStatus();
    }
    absl::Status OnWatermark(int64_t watermark_ms) override {
      if (watermark_ms < kMaxWatermarkMs) seen_->store(watermark_ms);
      return absl::OkStatus();
    }

   private:
    std::shared_ptr<std::atomic<int64_t>> seen_;
  };
  std::shared_ptr<std::atomic<int64_t>> seen_;
};

// An unbounded source whose readers run `poll` until `stop` is set.
class LambdaSource final : public brook::Source<int64_t> {
 public:
  using PollFn = std::function<InputStatus(ReaderOutput<int64_t>&)>;
  explicit LambdaSource(PollFn poll) : poll_(std::move(poll)) {}
  brook::Boundedness boundedness() const override { return kUnbounded; }
  absl::StatusOr<std::unique_ptr<brook::SourceReader<int64_t>>> CreateReader(
      const brook::SourceReaderContext&) override {
    return std::unique_ptr<brook::SourceReader<int64_t>>(new Reader(poll_));
  }

 private:
  class Reader final : public brook::SourceReader<int64_t> {
   public:
    explicit Reader(PollFn poll) : poll_(std::move(poll)) {}
    absl::StatusOr<InputStatus> PollNext(ReaderOutput<int64_t>& output) override {
      return poll_(output);
    }

   private:
    PollFn poll_;
  };
  PollFn poll_;
};

// Source A emits per-split records with rising timestamps; source B owns no
// split and says so with MarkIdle. Their union's watermark must advance.
TEST(ExecutionSplitSource, AnIdleReaderDoesNotHoldBackAUnion) {
  auto seen = std::make_shared<std::atomic<int64_t>>(kMinTimestampMs);
  auto done = std::make_shared<std::atomic<bool>>(false);
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  auto next_ts = std::make_shared<int64_t>(0);
  auto a = std::make_shared<LambdaSource>([=](ReaderOutput<int64_t>& out) {
    if (seen->load() >= 1000 || absl::Now() > give_up) {
      done->store(true);
      return InputStatus::kEndOfInput;
    }
    for (int k = 0; k < 4; ++k) out.CreateOutputForSplit(absl::StrCat("a/", k)).Collect(*next_ts);
    *next_ts += 10;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    return InputStatus::kMoreAvailable;
  });
  auto b = std::make_shared<LambdaSource>([=](ReaderOutput<int64_t>& out) {
    if (done->load()) return InputStatus::kEndOfInput;
    out.MarkIdle();
    return InputStatus::kNothingAvailable;
  });
  brook::StreamExecutionEnvironment env;
  auto strategy = Monotonous().WithAutoWatermarkInterval(absl::Milliseconds(5));
  env.FromSource<int64_t>(a, strategy, "A")
      .Union({env.FromSource<int64_t>(b, strategy, "B")})
      .SinkTo(std::make_shared<WatermarkWatchSink>(seen), "watch");
  ASSERT_THAT(env.Execute("idle-union"), IsOk());
  EXPECT_GE(seen->load(), 1000) << "B held the watermark back";
}

// A union-state source over splits s/0..s/3 (split k: records k * 1000 + n,
// n < kPerSplit, at timestamp n), read by subtask i of p when k % p == i.
// Each run stops once every reader has emitted its splits up to `stop_at`
// and a checkpoint of that position has completed (the reader learns it from
// NotifyCheckpointComplete), so that the next run resumes from there.
constexpr int kSplits = 4;
constexpr int kPerSplit = 30;

struct RunControl {
  int parallelism = 1;
  int stop_at = kPerSplit;
  absl::Mutex mu;
  int at_stop = 0;                           // readers done up to stop_at
  std::map<int64_t, int> snapshots_at_stop;  // checkpoint -> readers at stop when it was taken
  std::vector<int> restored_state_counts;
  int notifications = 0;
  bool notified_off_thread = false;
};

class SplitSource final : public brook::Source<int64_t> {
 public:
  explicit SplitSource(std::shared_ptr<RunControl> ctl) : ctl_(std::move(ctl)) {}
  brook::Boundedness boundedness() const override { return kBounded; }
  SourceStateDistribution state_distribution() const override {
    return SourceStateDistribution::kUnion;
  }
  absl::StatusOr<std::unique_ptr<brook::SourceReader<int64_t>>> CreateReader(
      const brook::SourceReaderContext& ctx) override {
    return std::unique_ptr<brook::SourceReader<int64_t>>(new Reader(ctl_, ctx));
  }

 private:
  class Reader final : public brook::SourceReader<int64_t> {
   public:
    Reader(std::shared_ptr<RunControl> ctl, const brook::SourceReaderContext& ctx)
        : ctl_(std::move(ctl)) {
      for (int k = ctx.subtask_index; k < kSplits; k += ctx.parallelism) next_[k] = 0;
    }
    absl::Status RestoreState(std::vector<std::string> states) override {
      {
        absl::MutexLock lock(&ctl_->mu);
        ctl_->restored_state_counts.push_back(static_cast<int>(states.size()));
      }
      for (const std::string& state : states) {
        brook::DataInputView in(state);
        int32_t n = 0;
        BROOK_RETURN_IF_ERROR(in.ReadInt32(&n));
        for (int32_t i = 0; i < n; ++i) {
          int32_t split = 0;
          int64_t next = 0;
          BROOK_RETURN_IF_ERROR(in.ReadInt32(&split));
          BROOK_RETURN_IF_ERROR(in.ReadInt64(&next));
          // Union: keep the splits this reader owns.
          if (next_.contains(split)) next_[split] = next;
        }
      }
      return absl::OkStatus();
    }
    absl::StatusOr<InputStatus> PollNext(ReaderOutput<int64_t>& output) override {
      thread_ = std::this_thread::get_id();
      if (finished_) return InputStatus::kEndOfInput;
      bool more = false;
      for (auto& [split, next] : next_) {
        brook::SourceOutput<int64_t>& out = output.CreateOutputForSplit(absl::StrCat("s/", split));
        if (next < ctl_->stop_at) {
          out.Collect(split * 1000 + next, next);
          ++next;
        }
        more = more || next < ctl_->stop_at;
      }
      if (more) return InputStatus::kMoreAvailable;
      if (!at_stop_) {
        at_stop_ = true;
        absl::MutexLock lock(&ctl_->mu);
        ++ctl_->at_stop;
      }
      // All input read: end (as a bounded source does) without waiting.
      if (ctl_->stop_at == kPerSplit) return InputStatus::kEndOfInput;
      return InputStatus::kNothingAvailable;
    }
    absl::StatusOr<std::string> SnapshotState(int64_t checkpoint_id) override {
      std::string bytes;
      brook::DataOutputView out(&bytes);
      out.WriteInt32(static_cast<int32_t>(next_.size()));
      for (const auto& [split, next] : next_) {
        out.WriteInt32(split);
        out.WriteInt64(next);
      }
      absl::MutexLock lock(&ctl_->mu);
      if (ctl_->at_stop == ctl_->parallelism) ++ctl_->snapshots_at_stop[checkpoint_id];
      return bytes;
    }
    absl::Status NotifyCheckpointComplete(int64_t checkpoint_id) override {
      absl::MutexLock lock(&ctl_->mu);
      ++ctl_->notifications;
      if (std::this_thread::get_id() != thread_) ctl_->notified_off_thread = true;
      // Every reader's snapshot of this checkpoint was taken at the stop.
      if (ctl_->snapshots_at_stop[checkpoint_id] == ctl_->parallelism) finished_ = true;
      return absl::OkStatus();
    }

   private:
    std::shared_ptr<RunControl> ctl_;
    std::map<int, int64_t> next_;
    bool at_stop_ = false;
    bool finished_ = false;
    std::thread::id thread_;
  };
  std::shared_ptr<RunControl> ctl_;
};

std::shared_ptr<RunControl> RunSplitJob(std::shared_ptr<brook::CheckpointStorage> storage,
                                        int parallelism, int stop_at, bool restore,
                                        std::vector<int64_t>* values) {
  auto ctl = std::make_shared<RunControl>();
  ctl->parallelism = parallelism;
  ctl->stop_at = stop_at;
  brook::ExecutionConfig config;
  config.parallelism = parallelism;
  config.checkpoint.interval = absl::Milliseconds(5);
  config.checkpoint.storage = std::move(storage);
  if (restore) config.checkpoint.restore = brook::CheckpointConfig::Restore::kLatest;
  brook::StreamExecutionEnvironment env(config);
  auto sink = std::make_shared<brook::CollectSink<int64_t>>();
  env.FromSource<int64_t>(std::make_shared<SplitSource>(ctl), Monotonous(), "splits")
      .SinkTo(sink, "out");
  EXPECT_THAT(env.Execute(absl::StrCat("splits-p", parallelism)), IsOk());
  for (int64_t v : sink->values()) values->push_back(v);
  return ctl;
}

TEST(ExecutionSplitSource, UnionStateRestoresAcrossParallelism1To2To1) {
  std::shared_ptr<brook::CheckpointStorage> storage = brook::NewInMemoryCheckpointStorage();
  std::vector<int64_t> values;
  std::shared_ptr<RunControl> run1 = RunSplitJob(storage, 1, 10, /*restore=*/false, &values);
  std::shared_ptr<RunControl> run2 = RunSplitJob(storage, 2, 20, /*restore=*/true, &values);
  std::shared_ptr<RunControl> run3 = RunSplitJob(storage, 1, kPerSplit, /*restore=*/true, &values);
  // Every reader of a restored run got every old reader's state.
  EXPECT_THAT(run2->restored_state_counts, ElementsAre(1, 1));
  EXPECT_THAT(run3->restored_state_counts, ElementsAre(2));
  // Each record exactly once over the three runs.
  std::sort(values.begin(), values.end());
  std::vector<int64_t> expected;
  for (int k = 0; k < kSplits; ++k) {
    for (int n = 0; n < kPerSplit; ++n) expected.push_back(k * 1000 + n);
  }
  EXPECT_EQ(values, expected);
  // Checkpoint completion reached the readers, on their own threads.
  for (const auto& run : {run1, run2}) {
    absl::MutexLock lock(&run->mu);
    EXPECT_GE(run->notifications, run->parallelism);
    EXPECT_FALSE(run->notified_off_thread);
  }
}

}  // namespace
