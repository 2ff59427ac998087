// Tests for brook/operators/top_k.h: ranking, tie-breaks, K larger than the
// number of items, empty input, the global window, and a job whose output is
// the same at parallelism 1, 2 and 4 and equal to a direct computation.
#include "brook/operators/top_k.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "brook/brook.h"
#include "brook/testing/test_harness.h"
#include "brook/window.h"
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;
using ::brook::testing::StatusIs;

namespace {

using ::brook::testing::IsOkAndHolds;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

struct Sighting {
  int64_t location = 0;
  std::string item;
  int64_t ts_ms = 0;
};

using Ranked = brook::ops::RankedItem<int64_t>;

auto ItemOf() { return &Sighting::item; }
using TopKOp = decltype(brook::ops::WindowTopK<int64_t, Sighting>(
    ItemOf(), 1, brook::WindowOperatorOptions<Sighting>{}));
using Harness = brook::testing::KeyedProcessFunctionTestHarness<TopKOp>;

Harness MakeHarness(int k, brook::WindowOperatorOptions<Sighting> options) {
  return Harness(brook::ops::WindowTopK<int64_t, Sighting>(ItemOf(), k, std::move(options)),
                 [](const Sighting& s) { return s.location; });
}

brook::WindowOperatorOptions<Sighting> Tumbling(int64_t size_ms) {
  return {.assigner = brook::TumblingEventTimeWindows::Of(absl::Milliseconds(size_ms))};
}

Ranked Row(int64_t start, int64_t end, int64_t partition, int32_t rank, std::string item,
           int64_t count) {
  return Ranked{start, end, false, partition, rank, std::move(item), count};
}

absl::Status Feed(Harness& h, int64_t location, const std::vector<std::string>& items,
                  int64_t ts) {
  for (const auto& item : items) BROOK_RETURN_IF_ERROR(h.ProcessElement({location, item, ts}, ts));
  return absl::OkStatus();
}

TEST(TopK, RanksByCountThenItemAscending) {
  Harness h = MakeHarness(3, Tumbling(10));
  ASSERT_THAT(h.Open(), IsOk());
  // "c" is seen (and interned) before "b": ties must still rank b first.
  ASSERT_THAT(Feed(h, 7, {"d", "c", "a", "c", "b", "a", "b", "a"}, 3), IsOk());
  ASSERT_THAT(h.ProcessWatermark(9), IsOk());
  auto out = h.ExtractOutput();
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].value, Row(0, 10, 7, 1, "a", 3));
  EXPECT_EQ(out[1].value, Row(0, 10, 7, 2, "b", 2));
  EXPECT_EQ(out[2].value, Row(0, 10, 7, 3, "c", 2));
  EXPECT_EQ(out[0].timestamp_ms, 9);
  EXPECT_THAT(h.Metric("top_k_interned_items"), IsOkAndHolds(4));
  EXPECT_THAT(h.Metric("num_windows_fired"), IsOkAndHolds(1));
}

TEST(TopK, TiesBreakByByteOrderNotFirstSeen) {
  Harness h = MakeHarness(4, Tumbling(10));
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(Feed(h, 1, {"zeta", "alpha", "a", "B"}, 0), IsOk());
  ASSERT_THAT(h.ProcessWatermark(9), IsOk());
  // Byte order: "B" (0x42) < "a" < "alpha" < "zeta".
  EXPECT_THAT(h.ExtractOutputValues(),
              ElementsAre(Row(0, 10, 1, 1, "B", 1), Row(0, 10, 1, 2, "a", 1),
                          Row(0, 10, 1, 3, "alpha", 1), Row(0, 10, 1, 4, "zeta", 1)));
}

TEST(TopK, KLargerThanItemsEmitsWhatExists) {
  Harness h = MakeHarness(10, Tumbling(10));
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(Feed(h, 1, {"x", "y", "x"}, 5), IsOk());
  ASSERT_THAT(h.ProcessWatermark(9), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(),
              ElementsAre(Row(0, 10, 1, 1, "x", 2), Row(0, 10, 1, 2, "y", 1)));
}

TEST(TopK, EmptyInputEmitsNothing) {
  Harness h = MakeHarness(3, Tumbling(10));
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessWatermark(100), IsOk());
  ASSERT_THAT(h.ProcessWatermark(brook::kMaxWatermarkMs), IsOk());
  EXPECT_THAT(h.ExtractOutput(), IsEmpty());

  Harness g = MakeHarness(3, {.assigner = brook::GlobalWindows::Create()});
  ASSERT_THAT(g.Open(), IsOk());
  ASSERT_THAT(g.ProcessWatermark(brook::kMaxWatermarkMs), IsOk());
  EXPECT_THAT(g.ExtractOutput(), IsEmpty());
}

TEST(TopK, SeparatesPartitionsAndWindows) {
  Harness h = MakeHarness(1, Tumbling(10));
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(Feed(h, 2, {"p", "q", "q"}, 1), IsOk());
  ASSERT_THAT(Feed(h, 1, {"p", "p", "q"}, 2), IsOk());
  ASSERT_THAT(Feed(h, 1, {"q"}, 12), IsOk());
  ASSERT_THAT(h.ProcessWatermark(19), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(),
              ElementsAre(Row(0, 10, 1, 1, "p", 2), Row(0, 10, 2, 1, "q", 2),
                          Row(10, 20, 1, 1, "q", 1)));
  EXPECT_EQ(h.NumStateEntries(), 0);
}

TEST(TopK, GlobalWindowFiresAtMaxWatermark) {
  Harness h = MakeHarness(2, {.assigner = brook::GlobalWindows::Create()});
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(Feed(h, 5, {"cat", "dog", "cat"}, -100), IsOk());
  ASSERT_THAT(h.ProcessWatermark(1'700'000'000'000), IsOk());
  ASSERT_THAT(Feed(h, 5, {"dog", "dog", "eel"}, 1'800'000'000'000), IsOk());
  EXPECT_THAT(h.ExtractOutput(), IsEmpty());
  ASSERT_THAT(h.ProcessWatermark(brook::kMaxWatermarkMs), IsOk());
  auto out = h.ExtractOutput();
  ASSERT_EQ(out.size(), 2u);
  const Ranked first{brook::kMinTimestampMs, brook::kMaxWatermarkMs, true, 5, 1, "dog", 3};
  const Ranked second{brook::kMinTimestampMs, brook::kMaxWatermarkMs, true, 5, 2, "cat", 2};
  EXPECT_EQ(out[0].value, first);
  EXPECT_EQ(out[1].value, second);
  EXPECT_EQ(out[0].timestamp_ms, brook::kMaxWatermarkMs);
  EXPECT_EQ(h.NumStateEntries(), 0);
}

TEST(TopK, EarlyFiringByCountEmitsCurrentTopK) {
  auto options = Tumbling(10);
  options.early_fire_count = 3;
  Harness h = MakeHarness(2, options);
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(Feed(h, 1, {"b", "a", "b"}, 1), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(),
              ElementsAre(Row(0, 10, 1, 1, "b", 2), Row(0, 10, 1, 2, "a", 1)));
  ASSERT_THAT(Feed(h, 1, {"a", "a"}, 2), IsOk());
  ASSERT_THAT(h.ProcessWatermark(9), IsOk());  // the final result follows
  EXPECT_THAT(h.ExtractOutputValues(),
              ElementsAre(Row(0, 10, 1, 1, "a", 3), Row(0, 10, 1, 2, "b", 2)));
}

TEST(TopK, ItemFunctionMayReturnAStringByValue) {
  auto upper = [](const Sighting& s) {
    std::string u = s.item;
    for (char& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return u;
  };
  using Op = decltype(brook::ops::WindowTopK<int64_t, Sighting>(upper, 2, {}));
  brook::testing::KeyedProcessFunctionTestHarness<Op> h(
      brook::ops::WindowTopK<int64_t, Sighting>(upper, 2, {}),
      [](const Sighting& s) { return s.location; });
  ASSERT_THAT(h.Open(), IsOk());
  for (const char* item : {"x", "X", "y"}) ASSERT_THAT(h.ProcessElement({1, item, 0}, 0), IsOk());
  ASSERT_THAT(h.ProcessWatermark(brook::kMaxWatermarkMs), IsOk());
  auto out = h.ExtractOutputValues();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].item, "X");
  EXPECT_EQ(out[0].count, 2);
  EXPECT_EQ(out[1].item, "Y");
}

TEST(TopK, RejectsNonPositiveK) {
  Harness h = MakeHarness(0, Tumbling(10));
  EXPECT_THAT(h.Open(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(TopK, CopiedAggregateKeepsAValidDictionary) {
  auto agg = brook::ops::TopK<int64_t, Sighting>(&Sighting::item, 2);
  auto acc = agg.CreateAccumulator();
  agg.Add({1, "alpha", 0}, acc);
  agg.Add({1, "beta", 0}, acc);
  agg.Add({1, "beta", 0}, acc);
  auto copy = agg;  // must not share string storage with `agg`
  agg = brook::ops::TopK<int64_t, Sighting>(&Sighting::item, 2);
  std::vector<Ranked> out;
  copy.GetResult(acc, brook::TimeWindow{0, 10}, 1, out);
  EXPECT_THAT(out, ElementsAre(Row(0, 10, 1, 1, "beta", 2), Row(0, 10, 1, 2, "alpha", 1)));
  EXPECT_EQ(copy.num_interned_items(), 2u);
}

// Dense counts are 32-bit: a count that would not fit moves to the hash map,
// exactly; ids beyond the dense part and counts >= 2^32 from a restore too.
TEST(TopK, AccumulatorCountsExactlyPastUint32) {
  using Acc = decltype(brook::ops::TopK<int64_t, Sighting>(&Sighting::item, 2))::Accumulator;
  constexpr int64_t kMax32 = UINT32_MAX;
  Acc acc;
  acc.Add(3, kMax32 - 3, 8);
  acc.Add(3, 1, 8);  // kMax32 - 2: still dense
  acc.Add(3, 1, 8);  // kMax32 - 1
  acc.Add(3, 1, 8);  // kMax32: spills
  acc.Add(3, 5, 8);
  acc.Add(2000, 7, 8);           // beyond the dense part
  acc.Add(5, int64_t{1} << 40, 8);  // a restored count
  acc.Add(5, 1, 8);
  std::map<uint32_t, int64_t> counts;
  acc.ForEach([&](uint32_t id, int64_t c) { EXPECT_TRUE(counts.emplace(id, c).second) << id; });
  EXPECT_THAT(counts, ElementsAre(std::pair<const uint32_t, int64_t>(3, kMax32 + 5),
                                  std::pair<const uint32_t, int64_t>(5, (int64_t{1} << 40) + 1),
                                  std::pair<const uint32_t, int64_t>(2000, 7)));
  EXPECT_EQ(acc.size(), 3u);
}

// Ties rank by byte order whether or not the subtask's cached item order
// covers the items yet (it is re-made once an eighth of the dictionary is new).
TEST(TopK, TiesRankByByteOrderAsTheDictionaryGrows) {
  Harness h = MakeHarness(4, Tumbling(10));
  ASSERT_THAT(h.Open(), IsOk());
  std::vector<std::string> first;
  for (int i = 15; i >= 0; --i) first.push_back(absl::StrCat("k", i / 10, i % 10));
  ASSERT_THAT(Feed(h, 1, first, 0), IsOk());
  ASSERT_THAT(h.ProcessWatermark(9), IsOk());  // the order covers k00..k15
  // One new item (not covered: 1 < 16 / 8) among covered ones.
  ASSERT_THAT(Feed(h, 1, {"k08", "k07x", "k07", "k00"}, 10), IsOk());
  ASSERT_THAT(h.ProcessWatermark(19), IsOk());
  // Three new items: the order is re-made over all 19.
  ASSERT_THAT(Feed(h, 1, {"k99", "k07x", "a", "k00", "a"}, 20), IsOk());
  ASSERT_THAT(h.ProcessWatermark(29), IsOk());
  auto out = h.ExtractOutputValues();
  ASSERT_EQ(out.size(), 12u);
  EXPECT_THAT(std::vector<Ranked>(out.begin() + 4, out.end()),
              ElementsAre(Row(10, 20, 1, 1, "k00", 1), Row(10, 20, 1, 2, "k07", 1),
                          Row(10, 20, 1, 3, "k07x", 1), Row(10, 20, 1, 4, "k08", 1),
                          Row(20, 30, 1, 1, "a", 2), Row(20, 30, 1, 2, "k00", 1),
                          Row(20, 30, 1, 3, "k07x", 1), Row(20, 30, 1, 4, "k99", 1)));
}

// The checkpoint bytes of a key's window contents with Top-K accumulators
// (window.h's KeyWindowsSerializer, format of the first release: no version
// field): written byte for byte as before, and such bytes restore.
TEST(TopK, WindowContentsCheckpointFormatIsUnchanged) {
  auto agg = brook::ops::TopK<int64_t, Sighting>(&Sighting::item, 2);
  using Agg = decltype(agg);
  brook::window_internal::KeyWindowsSerializer<Agg::Accumulator> serializer(
      agg.AccumulatorSerializer());
  brook::window_internal::KeyWindows<Agg::Accumulator> v;
  auto& e = v.windows.emplace_back();
  e.window = brook::TimeWindow{0, 10};
  e.num_records = 3;
  e.changed = true;
  agg.Add({1, "beta", 0}, e.acc);
  agg.Add({1, "alpha", 0}, e.acc);
  agg.Add({1, "beta", 0}, e.acc);
  // [i64 early timer: none = INT64_MIN][varint 1 window][i64 start 0][i64 end 10]
  // [i64 3 records][u8 changed][varint 2 items]["alpha" i64 1]["beta" i64 2]
  const std::string expected = absl::StrCat(
      std::string("\0\0\0\0\0\0\0\x80", 8), "\x01", std::string(8, '\0'),
      std::string("\x0a\0\0\0\0\0\0\0", 8), std::string("\x03\0\0\0\0\0\0\0", 8), "\x01\x02",
      "\x05" "alpha", std::string("\x01\0\0\0\0\0\0\0", 8), "\x04" "beta",
      std::string("\x02\0\0\0\0\0\0\0", 8));
  std::string bytes;
  brook::DataOutputView out(&bytes);
  serializer.Serialize(v, out);
  EXPECT_EQ(absl::BytesToHexString(bytes), absl::BytesToHexString(expected));

  auto restoring = brook::ops::TopK<int64_t, Sighting>(&Sighting::item, 2);
  brook::window_internal::KeyWindowsSerializer<Agg::Accumulator> reader(
      restoring.AccumulatorSerializer());
  brook::window_internal::KeyWindows<Agg::Accumulator> restored;
  brook::DataInputView in(expected);
  ASSERT_THAT(reader.Deserialize(in, &restored), IsOk());
  ASSERT_EQ(restored.windows.size(), 1u);
  EXPECT_EQ(restored.early_timer_ms, brook::kMinTimestampMs);
  EXPECT_EQ(restored.windows[0].num_records, 3);
  EXPECT_TRUE(restored.windows[0].changed);
  std::vector<Ranked> ranked;
  restoring.GetResult(restored.windows[0].acc, restored.windows[0].window, 1, ranked);
  EXPECT_THAT(ranked, ElementsAre(Row(0, 10, 1, 1, "beta", 2), Row(0, 10, 1, 2, "alpha", 1)));
}

// ---------------------------------------------------------------------------
// A job: generated sightings -> KeyBy(location) -> window Top-K -> sink.

std::vector<Sighting> Generate(int n) {
  static const char* kItems[] = {"apple", "Banana", "cherry", "date", "elder", "fig",
                                 "grape", "honeydew", "kiwi", "lemon", "mango", "Nut"};
  std::vector<Sighting> out;
  uint64_t x = 12345;
  auto next = [&x] {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    return x >> 33;
  };
  for (int i = 0; i < n; ++i) {
    // Skewed items (so that counts tie and differ), 9 locations, timestamps
    // rising about 3 ms per record with up to 40 ms of disorder.
    const uint64_t r = next();
    const int item = static_cast<int>(std::min<uint64_t>(r % 12, (r / 12) % 12));
    const int64_t location = static_cast<int64_t>(next() % 9) - 2;  // negative keys too
    const int64_t ts = 1'000'000 + i * 3 - static_cast<int64_t>(next() % 41);
    out.push_back({location, kItems[item], ts});
  }
  return out;
}

// The answer, computed directly: counts per (window, location, item), then
// sorted and cut at k.
std::vector<Ranked> Expected(const std::vector<Sighting>& input, int64_t size_ms, int k) {
  std::map<std::tuple<int64_t, int64_t>, std::map<std::string, int64_t>> counts;
  for (const auto& s : input) {
    const int64_t start = size_ms == 0 ? brook::kMinTimestampMs
                                       : s.ts_ms - ((s.ts_ms % size_ms) + size_ms) % size_ms;
    ++counts[{start, s.location}][s.item];
  }
  std::vector<Ranked> out;
  for (const auto& [key, items] : counts) {
    const auto [start, location] = key;
    std::vector<std::pair<int64_t, std::string>> v;
    for (const auto& [item, c] : items) v.push_back({-c, item});
    std::sort(v.begin(), v.end());
    for (int i = 0; i < k && i < static_cast<int>(v.size()); ++i) {
      const bool global = size_ms == 0;
      out.push_back(Ranked{start, global ? brook::kMaxWatermarkMs : start + size_ms, global,
                           location, i + 1, v[i].second, -v[i].first});
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<Ranked> RunJob(const std::vector<Sighting>& input, int parallelism, int64_t size_ms,
                           int k) {
  brook::StreamExecutionEnvironment env({.parallelism = parallelism, .batch_size = 64});
  auto sink = std::make_shared<brook::CollectSink<Ranked>>();
  brook::OutputTag<Sighting> late("late");
  auto assigner = size_ms == 0
                      ? brook::GlobalWindows::Create()
                      : brook::TumblingEventTimeWindows::Of(absl::Milliseconds(size_ms));
  auto top = env.FromCollection(input,
                                brook::WatermarkStrategy<Sighting>::ForBoundedOutOfOrderness(
                                    absl::Milliseconds(40))
                                    .WithTimestampAssigner([](const Sighting& s) { return s.ts_ms; })
                                    .WithRecordsPerWatermark(50))
                 .KeyBy(&Sighting::location)
                 .Window(assigner)
                 .SideOutputLateData(late)
                 .Aggregate(brook::ops::TopK<int64_t, Sighting>(&Sighting::item, k), "top-k");
  top.SinkTo(sink);
  auto late_sink = std::make_shared<brook::CollectSink<Sighting>>();
  top.GetSideOutput(late).SinkTo(late_sink);
  absl::Status s = env.Execute("top-k-job");
  EXPECT_THAT(s, IsOk());
  EXPECT_THAT(late_sink->values(), IsEmpty());  // disorder <= the watermark delay
  auto got = sink->values();
  std::sort(got.begin(), got.end());
  return got;
}

TEST(TopKJob, SameResultAtAnyParallelismAndEqualToDirectComputation) {
  const std::vector<Sighting> input = Generate(4000);
  for (int64_t size_ms : {int64_t{250}, int64_t{0}}) {
    const int k = 3;
    const std::vector<Ranked> want = Expected(input, size_ms, k);
    ASSERT_FALSE(want.empty());
    for (int p : {1, 2, 4}) {
      EXPECT_EQ(RunJob(input, p, size_ms, k), want) << "parallelism " << p << " size " << size_ms;
    }
  }
}

}  // namespace
