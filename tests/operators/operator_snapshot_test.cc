// File: tests/operators/operator_snapshot_test.cc
//
// Built-in operators through checkpoints (DESIGN.md §7): a tumbling window
// and Window Top-K snapshotted mid-window and restored (at parallelism 1 and
// 2, and back to 1) give exactly the output of an uninterrupted run;
// deduplication state survives (a duplicate after restore is still dropped,
// retention still expires ids).
#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "brook/brook.h"
#include "brook/operators/deduplicate.h"
#include "brook/operators/top_k.h"
#include "brook/testing/test_harness.h"
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;

namespace {

using OperatorSnapshotData = ::brook::OperatorSubtaskState;
using ::brook::testing::HarnessOptions;
using ::brook::testing::KeyedProcessFunctionTestHarness;
using ::brook::testing::IsOkAndHolds;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr int kMaxParallelism = brook::kDefaultMaxParallelism;

struct Sighting {
  int64_t location = 0;
  std::string item;
  int64_t value = 0;
};
int64_t LocationOf(const Sighting& s) { return s.location; }

// `parallelism` subtasks of one keyed function, restored from `from` when
// given; records go to the owner of their key, watermarks to all.
template <typename Fn>
class Cluster {
 public:
  using Harness = KeyedProcessFunctionTestHarness<Fn>;
  using In = typename Fn::InputType;
  using Out = typename Fn::OutputType;
  using Key = typename Fn::KeyType;

  Cluster(std::function<Fn()> make, std::function<Key(const In&)> key, int parallelism,
          const std::vector<OperatorSnapshotData>& from)
      : key_(key) {
    for (int i = 0; i < parallelism; ++i) {
      subtasks_.push_back(std::make_unique<Harness>(
          make(), key, HarnessOptions{.parallelism = parallelism, .subtask_index = i}));
      if (!from.empty()) status_.Update(subtasks_.back()->RestoreFrom(from));
      status_.Update(subtasks_.back()->Open());
    }
  }
  const absl::Status& status() const { return status_; }
  absl::Status Send(const In& v, int64_t ts) {
    const int owner = brook::ComputeOperatorIndexForKeyGroup(
        kMaxParallelism, static_cast<int>(subtasks_.size()),
        brook::AssignToKeyGroup(key_(v), kMaxParallelism));
    return subtasks_[static_cast<size_t>(owner)]->ProcessElement(v, ts);
  }
  absl::Status Watermark(int64_t wm) {
    for (auto& s : subtasks_) BROOK_RETURN_IF_ERROR(s->ProcessWatermark(wm));
    return absl::OkStatus();
  }
  std::vector<brook::StreamRecord<Out>> Output() {
    std::vector<brook::StreamRecord<Out>> out;
    for (auto& s : subtasks_) {
      for (auto& r : s->ExtractOutput()) out.push_back(std::move(r));
    }
    return out;
  }
  absl::StatusOr<std::vector<OperatorSnapshotData>> Snapshot(int64_t id) {
    std::vector<OperatorSnapshotData> snaps;
    for (auto& s : subtasks_) {
      BROOK_ASSIGN_OR_RETURN(auto d, s->Snapshot(id));
      snaps.push_back(std::move(d));
    }
    return snaps;
  }
  // Metric `name` summed over the subtasks; kNotFound if one lacks it.
  absl::StatusOr<int64_t> Metric(const std::string& name) const {
    int64_t n = 0;
    for (const auto& s : subtasks_) {
      BROOK_ASSIGN_OR_RETURN(const int64_t m, s->Metric(name));
      n += m;
    }
    return n;
  }

 private:
  std::function<Key(const In&)> key_;
  std::vector<std::unique_ptr<Harness>> subtasks_;
  absl::Status status_;
};

// A deterministic input: events at ts = 3 * i, a watermark every 5 events.
struct Step {
  bool watermark;
  int64_t ts;
  Sighting s;
};
std::vector<Step> Input() {
  static const char* const kItems[] = {"cat", "dog", "bird", "car", "bike", "tree", "cup"};
  std::vector<Step> steps;
  for (int64_t i = 0; i < 400; ++i) {
    const int64_t ts = 3 * i;
    const int64_t loc = (i * 7) % 11;
    const size_t item = static_cast<size_t>((i * i + loc) % 7);
    steps.push_back({false, ts, Sighting{loc, kItems[item], i}});
    if (i % 5 == 4) steps.push_back({true, ts - 4, {}});
  }
  steps.push_back({true, brook::kMaxWatermarkMs, {}});
  return steps;
}

// Runs Input() through clusters of the given parallelisms, snapshotting and
// restoring into the next one at each cut (step indices); returns all output
// in a canonical order.
template <typename Fn>
std::vector<brook::StreamRecord<typename Fn::OutputType>> RunWithRestores(
    std::function<Fn()> make, const std::vector<int>& parallelisms,
    const std::vector<size_t>& cuts) {
  using C = Cluster<Fn>;
  const std::vector<Step> steps = Input();
  std::vector<brook::StreamRecord<typename Fn::OutputType>> out;
  auto cluster = std::make_unique<C>(make, LocationOf, parallelisms[0],
                                     std::vector<OperatorSnapshotData>{});
  int64_t last_watermark = brook::kMinTimestampMs;
  size_t next_cut = 0;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (next_cut < cuts.size() && i == cuts[next_cut]) {
      auto snap = cluster->Snapshot(static_cast<int64_t>(next_cut + 1));
      EXPECT_THAT(snap, IsOk());
      for (auto& r : cluster->Output()) out.push_back(std::move(r));
      ++next_cut;
      cluster = std::make_unique<C>(make, LocationOf, parallelisms[next_cut], *snap);
      EXPECT_THAT(cluster->status(), IsOk()) << cluster->status();
      // The watermark resumes where it was (the sources restore it).
      if (last_watermark != brook::kMinTimestampMs) {
        EXPECT_THAT(cluster->Watermark(last_watermark), IsOk());
      }
    }
    const Step& s = steps[i];
    if (s.watermark) {
      EXPECT_THAT(cluster->Watermark(s.ts), IsOk());
      last_watermark = s.ts;
    } else {
      EXPECT_THAT(cluster->Send(s.s, s.ts), IsOk());
    }
  }
  for (auto& r : cluster->Output()) out.push_back(std::move(r));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.timestamp_ms, a.value) < std::tie(b.timestamp_ms, b.value);
  });
  return out;
}

// Tumbling window with a serializable accumulator.
struct SumAgg {
  struct Accumulator {
    int64_t count = 0;
    int64_t sum = 0;
  };
  using OutputType = std::tuple<int64_t, int64_t, int64_t, int64_t>;  // key, start, count, sum
  Accumulator CreateAccumulator() const { return {}; }
  void Add(const Sighting& s, Accumulator& acc) {
    ++acc.count;
    acc.sum += s.value;
  }
  void GetResult(const Accumulator& acc, const brook::TimeWindow& w, const int64_t& key,
                 std::vector<OutputType>& out) {
    out.emplace_back(key, w.start_ms, acc.count, acc.sum);
  }
};

}  // namespace

template <>
struct brook::TypeSerializer<SumAgg::Accumulator> {
  static void Serialize(const SumAgg::Accumulator& a, DataOutputView& out) {
    out.WriteInt64(a.count);
    out.WriteInt64(a.sum);
  }
  static absl::Status Deserialize(DataInputView& in, SumAgg::Accumulator* a) {
    BROOK_RETURN_IF_ERROR(in.ReadInt64(&a->count));
    return in.ReadInt64(&a->sum);
  }
};

namespace {

using SumWindow = brook::WindowOperator<int64_t, Sighting, SumAgg>;
SumWindow MakeSumWindow() {
  return SumWindow(SumAgg(), {.assigner = brook::TumblingEventTimeWindows::Of(absl::Milliseconds(100)),
                              .allowed_lateness = absl::Milliseconds(20)});
}

TEST(OperatorSnapshotTest, TumblingWindowContentsSurviveRestore) {
  const auto expected = RunWithRestores<SumWindow>(MakeSumWindow, {1}, {});
  ASSERT_GT(expected.size(), 50u);
  // Cuts fall mid-window (windows are 100 ms, events every 3 ms).
  EXPECT_EQ(RunWithRestores<SumWindow>(MakeSumWindow, {1, 1}, {101}), expected);
  EXPECT_EQ(RunWithRestores<SumWindow>(MakeSumWindow, {1, 2}, {101}), expected);
  EXPECT_EQ(RunWithRestores<SumWindow>(MakeSumWindow, {1, 2, 1}, {101, 263}), expected);
}

auto ItemOf() {
  return [](const Sighting& s) -> const std::string& { return s.item; };
}
using TopKOp = decltype(brook::ops::WindowTopK<int64_t, Sighting>(
    ItemOf(), 3, brook::WindowOperatorOptions<Sighting>{}));
TopKOp MakeTopK() {
  return brook::ops::WindowTopK<int64_t, Sighting>(
      ItemOf(), 3, {.assigner = brook::TumblingEventTimeWindows::Of(absl::Milliseconds(200))});
}
TopKOp MakeGlobalTopK() {
  return brook::ops::WindowTopK<int64_t, Sighting>(ItemOf(), 2,
                                                   {.assigner = brook::GlobalWindows::Create()});
}

TEST(OperatorSnapshotTest, WindowTopKSurvivesRestoreAcrossParallelism) {
  for (auto make : {MakeTopK, MakeGlobalTopK}) {
    const auto expected = RunWithRestores<TopKOp>(make, {1}, {});
    ASSERT_FALSE(expected.empty());
    EXPECT_EQ(RunWithRestores<TopKOp>(make, {1, 1}, {150}), expected);
    EXPECT_EQ(RunWithRestores<TopKOp>(make, {1, 2}, {150}), expected);
    EXPECT_EQ(RunWithRestores<TopKOp>(make, {1, 2, 1}, {77, 333}), expected);
  }
}

struct Rec {
  int64_t id = 0;
  int64_t seq = 0;
  friend bool operator==(const Rec&, const Rec&) = default;
};
using Dedup = brook::ops::Deduplicate<Rec, int64_t>;

TEST(OperatorSnapshotTest, DeduplicateStateSurvivesRestore) {
  for (bool fingerprint : {false, true}) {
    auto make = [fingerprint] {
      brook::ops::DeduplicateOptions<Rec> o{.retention = absl::Milliseconds(100)};
      if (fingerprint) o.fingerprint = [](const Rec& r) { return static_cast<uint64_t>(r.id); };
      return Dedup(o);
    };
    auto id_of = [](const Rec& r) { return r.id; };
    Cluster<Dedup> one(make, id_of, 1, {});
    for (int64_t id = 0; id < 20; ++id) ASSERT_THAT(one.Send({id, 1}, 1000 + id), IsOk());
    ASSERT_EQ(one.Output().size(), 20u);
    auto snap = one.Snapshot(1);
    ASSERT_THAT(snap, IsOk());

    Cluster<Dedup> two(make, id_of, 2, *snap);
    ASSERT_THAT(two.status(), IsOk());
    // Still remembered: every duplicate is dropped, new ids pass.
    for (int64_t id = 0; id < 25; ++id) ASSERT_THAT(two.Send({id, 2}, 1050), IsOk());
    auto out = two.Output();
    ASSERT_EQ(out.size(), 5u);
    EXPECT_THAT(two.Metric("num_duplicates"), IsOkAndHolds(20));
    // Retention still counts from the first records' timestamps (1000 + id).
    ASSERT_THAT(two.Watermark(1105), IsOk());
    for (int64_t id = 0; id < 10; ++id) ASSERT_THAT(two.Send({id, 3}, 1106), IsOk());
    std::vector<int64_t> passed;
    for (const auto& r : two.Output()) passed.push_back(r.value.id);
    std::sort(passed.begin(), passed.end());
    EXPECT_THAT(passed, ElementsAre(0, 1, 2, 3, 4, 5));
  }
}

}  // namespace
