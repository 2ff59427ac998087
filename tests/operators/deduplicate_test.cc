#include "brook/operators/deduplicate.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "brook/brook.h"
#include "brook/testing/test_harness.h"
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;
using ::brook::testing::StatusIs;

namespace {

using ::brook::testing::IsOkAndHolds;
using ::testing::ElementsAre;

struct Ev {
  int64_t id = 0;
  std::string payload;
  int64_t ts = 0;

  friend bool operator==(const Ev&, const Ev&) = default;
  friend bool operator<(const Ev& a, const Ev& b) {
    return std::tie(a.id, a.payload, a.ts) < std::tie(b.id, b.payload, b.ts);
  }
};

uint64_t EvFingerprint(const Ev& e) { return brook::ops::Fingerprinter().Add(e.payload).value(); }

using Dedup = brook::ops::Deduplicate<Ev>;
using Harness = brook::testing::KeyedProcessFunctionTestHarness<Dedup>;

Harness MakeHarness(brook::ops::DeduplicateOptions<Ev> options = {}) {
  return Harness(Dedup(std::move(options)), [](const Ev& e) { return e.id; });
}

absl::Status Feed(Harness& h, const Ev& e) { return h.ProcessElement(e, e.ts); }

TEST(DeduplicateTest, KeepsFirstRecordPerIdInArrivalOrder) {
  Harness h = MakeHarness();
  ASSERT_THAT(h.Open(), IsOk());
  // id 2 arrives first with a later timestamp: arrival order decides.
  for (const Ev& e : {Ev{2, "a", 50}, Ev{1, "b", 10}, Ev{2, "c", 5}, Ev{3, "d", 20},
                      Ev{1, "e", 11}, Ev{1, "f", 12}}) {
    ASSERT_THAT(Feed(h, e), IsOk());
  }
  const auto out = h.ExtractOutput();
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].value, (Ev{2, "a", 50}));
  EXPECT_EQ(out[0].timestamp_ms, 50);  // the record keeps its own timestamp
  EXPECT_EQ(out[1].value, (Ev{1, "b", 10}));
  EXPECT_EQ(out[2].value, (Ev{3, "d", 20}));
  EXPECT_THAT(h.Metric("num_duplicates"), IsOkAndHolds(3));
  EXPECT_THAT(h.Metric("num_records_in"), IsOkAndHolds(6));
  // Without a fingerprint, differing payloads are not detected as conflicts.
  EXPECT_THAT(h.Metric("num_conflicting_duplicates"), IsOkAndHolds(0));
  EXPECT_EQ(h.NumStateEntries(), 3);
}

TEST(DeduplicateTest, DuplicatesGoToSideOutputWhenSet) {
  brook::OutputTag<Ev> dups("dups");
  Harness h = MakeHarness({.duplicates_output = dups});
  h.RegisterSideOutput(dups);
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(Feed(h, {7, "x", 1}), IsOk());
  ASSERT_THAT(Feed(h, {7, "x", 2}), IsOk());
  ASSERT_THAT(Feed(h, {8, "y", 3}), IsOk());
  ASSERT_THAT(Feed(h, {7, "z", 4}), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre(Ev{7, "x", 1}, Ev{8, "y", 3}));
  const auto side = h.ExtractSideOutput(dups);
  ASSERT_EQ(side.size(), 2u);
  EXPECT_EQ(side[0].value, (Ev{7, "x", 2}));
  EXPECT_EQ(side[0].timestamp_ms, 2);
  EXPECT_EQ(side[1].value, (Ev{7, "z", 4}));
  EXPECT_THAT(h.Metric("num_duplicates"), IsOkAndHolds(2));
}

TEST(DeduplicateTest, ConflictingDuplicatesCountedSeparately) {
  brook::OutputTag<Ev> dups("dups");
  brook::OutputTag<Ev> conflicts("conflicts");
  Harness h = MakeHarness(
      {.fingerprint = EvFingerprint, .duplicates_output = dups, .conflicts_output = conflicts});
  h.RegisterSideOutput(dups);
  h.RegisterSideOutput(conflicts);
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(Feed(h, {1, "apple", 10}), IsOk());
  ASSERT_THAT(Feed(h, {1, "apple", 11}), IsOk());   // exact re-send (ts is not fingerprinted)
  ASSERT_THAT(Feed(h, {1, "banana", 12}), IsOk());  // same id, other fields: conflict
  ASSERT_THAT(Feed(h, {2, "pear", 13}), IsOk());
  ASSERT_THAT(Feed(h, {1, "apple", 14}), IsOk());   // still compared with the first
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre(Ev{1, "apple", 10}, Ev{2, "pear", 13}));
  EXPECT_THAT(h.Metric("num_duplicates"), IsOkAndHolds(3));
  EXPECT_THAT(h.Metric("num_conflicting_duplicates"), IsOkAndHolds(1));
  const auto d = h.ExtractSideOutput(dups);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].value, (Ev{1, "apple", 11}));
  EXPECT_EQ(d[1].value, (Ev{1, "apple", 14}));
  const auto c = h.ExtractSideOutput(conflicts);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].value, (Ev{1, "banana", 12}));
  EXPECT_EQ(c[0].timestamp_ms, 12);
}

// The state a Deduplicate with fingerprint and retention wrote before it
// folded fingerprints to 32 bits: the full 64-bit fingerprint per id, in a
// ValueState<uint64_t> of the same name (and the same snapshot entries).
class UnfoldedFingerprints final : public brook::KeyedProcessFunction<int64_t, Ev, Ev> {
 public:
  absl::Status Open(RuntimeContext& ctx) override {
    BROOK_ASSIGN_OR_RETURN(state_, ctx.GetState(brook::ValueStateDescriptor<uint64_t>(
                                       "dedup-seen-ids", {absl::Hours(1)})));
    return absl::OkStatus();
  }
  absl::Status ProcessElement(const Ev& e, Context&, brook::Collector<Ev>& out) override {
    if (state_.GetOrInsert(EvFingerprint(e)).second) out.Collect(e);
    return absl::OkStatus();
  }

 private:
  brook::ValueState<uint64_t> state_;
};

TEST(DeduplicateTest, RestoresFingerprintsCheckpointedBeforeTheyWereFolded) {
  brook::testing::KeyedProcessFunctionTestHarness<UnfoldedFingerprints> old(
      UnfoldedFingerprints(), [](const Ev& e) { return e.id; });
  ASSERT_THAT(old.Open(), IsOk());
  ASSERT_THAT(old.ProcessElement(Ev{1, "apple", 10}, 10), IsOk());
  ASSERT_THAT(old.ProcessElement(Ev{2, "pear", 11}, 11), IsOk());
  ASSERT_NE(EvFingerprint(Ev{1, "apple", 10}) >> 32, 0u);  // the high half matters
  auto snap = old.Snapshot(1);
  ASSERT_THAT(snap, IsOk());

  Harness h = MakeHarness({.retention = absl::Hours(1), .fingerprint = EvFingerprint});
  ASSERT_THAT(h.RestoreFrom({*snap}), IsOk());
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(Feed(h, {1, "apple", 20}), IsOk());   // a re-send: same fingerprint
  ASSERT_THAT(Feed(h, {2, "plum", 21}), IsOk());    // a conflict
  ASSERT_THAT(Feed(h, {3, "fig", 22}), IsOk());     // new
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre(Ev{3, "fig", 22}));
  EXPECT_THAT(h.Metric("num_duplicates"), IsOkAndHolds(2));
  EXPECT_THAT(h.Metric("num_conflicting_duplicates"), IsOkAndHolds(1));

  // And what it checkpoints now restores the same way.
  auto again = h.Snapshot(2);
  ASSERT_THAT(again, IsOk());
  Harness restored = MakeHarness({.retention = absl::Hours(1), .fingerprint = EvFingerprint});
  ASSERT_THAT(restored.RestoreFrom({*again}), IsOk());
  ASSERT_THAT(restored.Open(), IsOk());
  ASSERT_THAT(Feed(restored, {1, "apple", 30}), IsOk());
  ASSERT_THAT(Feed(restored, {3, "date", 31}), IsOk());
  EXPECT_THAT(restored.ExtractOutputValues(), ::testing::IsEmpty());
  EXPECT_THAT(restored.Metric("num_conflicting_duplicates"), IsOkAndHolds(1));
}

TEST(DeduplicateTest, ConflictsGoToDuplicatesOutputWithoutConflictsTag) {
  brook::OutputTag<Ev> dups("dups");
  Harness h = MakeHarness({.fingerprint = EvFingerprint, .duplicates_output = dups});
  h.RegisterSideOutput(dups);
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(Feed(h, {1, "apple", 10}), IsOk());
  ASSERT_THAT(Feed(h, {1, "banana", 12}), IsOk());
  EXPECT_THAT(h.Metric("num_conflicting_duplicates"), IsOkAndHolds(1));
  const auto d = h.ExtractSideOutput(dups);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].value, (Ev{1, "banana", 12}));
}

TEST(DeduplicateTest, UnreadSideOutputCountsDiscarded) {
  // A tag nobody reads: duplicates are counted, and the runtime counts the
  // side-output records it discards.
  Harness h = MakeHarness({.duplicates_output = brook::OutputTag<Ev>("nobody")});
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(Feed(h, {1, "a", 1}), IsOk());
  ASSERT_THAT(Feed(h, {1, "a", 2}), IsOk());
  EXPECT_THAT(h.Metric("num_duplicates"), IsOkAndHolds(1));
  EXPECT_THAT(h.Metric("num_side_output_records_discarded"), IsOkAndHolds(1));
}

TEST(DeduplicateTest, RetentionForgetsIdsByEventTime) {
  Harness h = MakeHarness({.retention = absl::Milliseconds(100)});
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(Feed(h, {1, "first", 10}), IsOk());
  ASSERT_THAT(Feed(h, {2, "other", 60}), IsOk());
  ASSERT_THAT(h.ProcessWatermark(50), IsOk());
  ASSERT_THAT(Feed(h, {1, "dup-before", 70}), IsOk());   // dropped: not expired
  ASSERT_THAT(h.ProcessWatermark(109), IsOk());           // 10 + 100 > 109
  ASSERT_THAT(Feed(h, {1, "dup-at-109", 105}), IsOk());  // still dropped
  EXPECT_EQ(h.NumStateEntries(), 2);
  // The duplicates never extended the retention: id 1 expires when the
  // watermark reaches 10 + 100.
  ASSERT_THAT(h.ProcessWatermark(110), IsOk());
  ASSERT_THAT(Feed(h, {1, "resend", 120}), IsOk());         // forgotten: new again
  ASSERT_THAT(Feed(h, {2, "dup-of-2", 121}), IsOk());       // 60 + 100 > 110: dropped
  ASSERT_THAT(Feed(h, {1, "dup-of-resend", 130}), IsOk());  // remembered from 120
  EXPECT_THAT(h.ExtractOutputValues(),
              ElementsAre(Ev{1, "first", 10}, Ev{2, "other", 60}, Ev{1, "resend", 120}));
  EXPECT_THAT(h.Metric("num_duplicates"), IsOkAndHolds(4));
  // Expired ids leave the state as the watermark advances.
  ASSERT_THAT(h.ProcessWatermark(170), IsOk());  // id 2 expired at 160; id 1 lives to 220
  EXPECT_EQ(h.NumStateEntries(), 1);
  ASSERT_THAT(h.ProcessWatermark(230), IsOk());
  EXPECT_EQ(h.NumStateEntries(), 0);
  ASSERT_THAT(Feed(h, {1, "again", 240}), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre(Ev{1, "again", 240}));
}

TEST(DeduplicateTest, RetentionWithFingerprintForgetsFingerprintToo) {
  Harness h = MakeHarness({.retention = absl::Milliseconds(100), .fingerprint = EvFingerprint});
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(Feed(h, {1, "apple", 10}), IsOk());
  ASSERT_THAT(h.ProcessWatermark(110), IsOk());
  EXPECT_EQ(h.NumStateEntries(), 0);
  ASSERT_THAT(Feed(h, {1, "banana", 120}), IsOk());  // new again: no conflict
  ASSERT_THAT(Feed(h, {1, "apple", 121}), IsOk());   // conflicts with "banana" now
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre(Ev{1, "apple", 10}, Ev{1, "banana", 120}));
  EXPECT_THAT(h.Metric("num_duplicates"), IsOkAndHolds(1));
  EXPECT_THAT(h.Metric("num_conflicting_duplicates"), IsOkAndHolds(1));
}

TEST(DeduplicateTest, ZeroRetentionKeepsIdsForever) {
  Harness h = MakeHarness({.retention = absl::ZeroDuration()});
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(Feed(h, {1, "first", 10}), IsOk());
  ASSERT_THAT(h.ProcessWatermark(1'000'000'000), IsOk());
  ASSERT_THAT(h.ProcessWatermark(brook::kMaxWatermarkMs), IsOk());
  EXPECT_EQ(h.NumStateEntries(), 1);
  ASSERT_THAT(Feed(h, {1, "much-later", 2'000'000'000}), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre(Ev{1, "first", 10}));
  EXPECT_THAT(h.Metric("num_duplicates"), IsOkAndHolds(1));
}

TEST(DeduplicateTest, RecordOlderThanRetentionIsAlwaysNew) {
  // Documented edge: a record whose own timestamp has already expired is
  // emitted, and so are its copies (its id is forgotten at once).
  Harness h = MakeHarness({.retention = absl::Milliseconds(100)});
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessWatermark(1000), IsOk());
  ASSERT_THAT(Feed(h, {5, "late", 900}), IsOk());
  ASSERT_THAT(Feed(h, {5, "late", 900}), IsOk());
  ASSERT_THAT(Feed(h, {6, "fresh", 950}), IsOk());
  ASSERT_THAT(Feed(h, {6, "fresh", 950}), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(),
              ElementsAre(Ev{5, "late", 900}, Ev{5, "late", 900}, Ev{6, "fresh", 950}));
}

TEST(DeduplicateTest, NegativeRetentionIsInvalid) {
  Harness h = MakeHarness({.retention = absl::Milliseconds(-1)});
  EXPECT_THAT(h.Open(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(DeduplicateTest, ConflictsOutputWithoutFingerprintIsInvalid) {
  Harness h = MakeHarness({.conflicts_output = brook::OutputTag<Ev>("conflicts")});
  EXPECT_THAT(h.Open(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(DeduplicateTest, StringKeys) {
  struct Named {
    std::string name;
    int v;
  };
  using Fn = brook::ops::Deduplicate<Named, std::string>;
  brook::testing::KeyedProcessFunctionTestHarness<Fn> h(
      Fn(), [](const Named& n) { return n.name; });
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement({"a", 1}, 0), IsOk());
  ASSERT_THAT(h.ProcessElement({"b", 2}, 0), IsOk());
  ASSERT_THAT(h.ProcessElement({"a", 3}, 0), IsOk());
  std::vector<int> vs;
  for (const auto& n : h.ExtractOutputValues()) vs.push_back(n.v);
  EXPECT_THAT(vs, ElementsAre(1, 2));
}

TEST(FingerprinterTest, DeterministicAndFieldSensitive) {
  using brook::ops::Fingerprinter;
  EXPECT_EQ(Fingerprinter().Add("ab").Add(int64_t{3}).value(),
            Fingerprinter().Add(std::string("ab")).Add(3L).value());
  EXPECT_NE(Fingerprinter().Add("ab").Add("c").value(), Fingerprinter().Add("a").Add("bc").value());
  EXPECT_NE(Fingerprinter().Add(1).value(), Fingerprinter().Add(2).value());
  EXPECT_EQ(Fingerprinter().Add(0.0).value(), Fingerprinter().Add(-0.0).value());
  // A fixed value: the hash must never change between releases (stored
  // fingerprints are compared after a restore).
  EXPECT_EQ(Fingerprinter().value(), Fingerprinter().value());
  EXPECT_NE(Fingerprinter().Add("").value(), Fingerprinter().value());
}

// The whole job: the same sorted output at every parallelism.
std::vector<Ev> RunPipeline(int parallelism, const std::vector<Ev>& input, int64_t* dups,
                            int64_t* conflicts, std::vector<Ev>* side) {
  brook::StreamExecutionEnvironment env({.parallelism = parallelism});
  brook::OutputTag<Ev> dup_tag("dups");
  auto sink = std::make_shared<brook::CollectSink<Ev>>();
  auto dup_sink = std::make_shared<brook::CollectSink<Ev>>();
  auto unique =
      env.FromCollection(input, brook::WatermarkStrategy<Ev>::ForBoundedOutOfOrderness(
                                    absl::Milliseconds(5))
                                    .WithTimestampAssigner([](const Ev& e) { return e.ts; }))
          .KeyBy(&Ev::id)
          .Process(Dedup({.fingerprint = EvFingerprint, .duplicates_output = dup_tag}), "dedup");
  unique.SinkTo(sink, "unique");
  unique.GetSideOutput(dup_tag).SinkTo(dup_sink, "dups");
  const absl::Status s = env.Execute("dedup-pipeline");
  EXPECT_THAT(s, IsOk());
  *dups = env.metrics().Sum("num_duplicates", "dedup").value_or(-1);  // -1: not registered
  *conflicts = env.metrics().Sum("num_conflicting_duplicates", "dedup").value_or(-1);
  *side = dup_sink->values();
  std::sort(side->begin(), side->end());
  std::vector<Ev> out = sink->values();
  std::sort(out.begin(), out.end());
  return out;
}

TEST(DeduplicatePipelineTest, SameOutputAtParallelism124) {
  std::vector<Ev> input;
  std::vector<Ev> expected;
  int64_t expected_dups = 0;
  int64_t expected_conflicts = 0;
  for (int64_t i = 0; i < 20000; ++i) {
    const int64_t id = (i * 7919) % 6000;  // each id 3-4 times, spread out
    const std::string payload = (i % 13 == 0) ? "changed" : absl::StrCat("p", id);
    input.push_back({id, payload, i});
  }
  // The expected answer, computed naively.
  absl::flat_hash_map<int64_t, std::string> first;
  for (const Ev& e : input) {
    auto [it, inserted] = first.try_emplace(e.id, e.payload);
    if (inserted) {
      expected.push_back(e);
    } else {
      ++expected_dups;
      if (it->second != e.payload) ++expected_conflicts;
    }
  }
  std::sort(expected.begin(), expected.end());
  ASSERT_EQ(expected.size(), 6000u);
  ASSERT_GT(expected_conflicts, 0);

  for (int p : {1, 2, 4}) {
    SCOPED_TRACE(p);
    int64_t dups = 0;
    int64_t conflicts = 0;
    std::vector<Ev> side;
    EXPECT_EQ(RunPipeline(p, input, &dups, &conflicts, &side), expected);
    EXPECT_EQ(dups, expected_dups);
    EXPECT_EQ(conflicts, expected_conflicts);
    EXPECT_EQ(static_cast<int64_t>(side.size()), expected_dups);
  }
}

}  // namespace
