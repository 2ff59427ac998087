#include "brook/operators/lookup_join.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "brook/brook.h"
#include "brook/testing/test_harness.h"
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;
using ::brook::testing::StatusIs;
using ::testing::Not;

namespace {

using ::brook::testing::IsOkAndHolds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct Detection {
  int64_t location_oid = 0;
  std::string item;
  friend bool operator==(const Detection&, const Detection&) = default;
};
struct Location {
  int64_t oid = 0;
  std::string name;
};
struct Enriched {
  std::string item;
  std::string location;  // "?" when unknown (left outer)
  friend bool operator==(const Enriched&, const Enriched&) = default;
  friend bool operator<(const Enriched& a, const Enriched& b) {
    return std::tie(a.item, a.location) < std::tie(b.item, b.location);
  }
};

using Table = brook::ops::LookupTable<int64_t, Location>;
using Miss = brook::ops::JoinMiss<Detection>;

std::shared_ptr<const Table> Locations() {
  auto t = Table::Create({{1, "gate"}, {2, "lobby"}, {5, "roof"}}, &Location::oid);
  EXPECT_THAT(t, IsOk());
  return *t;
}

Enriched JoinFn(const Detection& d, const Location* l) {
  return Enriched{d.item, l != nullptr ? l->name : "?"};
}

auto MakeJoin(std::shared_ptr<const Table> table,
              brook::ops::LookupJoinOptions<Detection, int64_t> options = {}) {
  return brook::ops::MakeLookupJoin<Detection, Enriched>(
      std::move(table), &Detection::location_oid, JoinFn, std::move(options));
}
using JoinFunction = decltype(MakeJoin(nullptr));
using Harness = brook::testing::ProcessFunctionTestHarness<JoinFunction>;

TEST(LookupTableTest, FindsRowsByKey) {
  auto t = Locations();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->size(), 3u);
  ASSERT_NE(t->Find(2), nullptr);
  EXPECT_EQ(t->Find(2)->name, "lobby");
  EXPECT_EQ(t->Find(3), nullptr);
}

TEST(LookupTableTest, RejectsDuplicateKeyNamingIt) {
  auto t = Table::Create({{1, "gate"}, {42, "a"}, {2, "lobby"}, {42, "b"}}, &Location::oid);
  ASSERT_THAT(t, Not(IsOk()));
  EXPECT_THAT(t.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(t.status().message(), HasSubstr("duplicate key 42"));
  EXPECT_THAT(t.status().message(), HasSubstr("rows 1 and 3"));
}

TEST(LookupTableTest, StringKeysAndLambdaKeyFunction) {
  auto t = brook::ops::LookupTable<std::string, Location>::Create(
      {{1, "gate"}, {2, "gate"}}, [](const Location& l) { return l.name; });
  ASSERT_THAT(t, Not(IsOk()));
  EXPECT_THAT(t.status().message(), HasSubstr("duplicate key gate"));
}

TEST(LookupJoinTest, InnerJoinSendsMissesWithReasonToSideOutput) {
  brook::OutputTag<Miss> misses("misses");
  Harness h(MakeJoin(Locations(), {.misses_output = misses,
                                   .key_name = "geographical_location_oid"}));
  h.RegisterSideOutput(misses);
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement({1, "cat"}, 100), IsOk());
  ASSERT_THAT(h.ProcessElement({123, "dog"}, 101), IsOk());
  ASSERT_THAT(h.ProcessElement({5, "bird"}, 102), IsOk());
  ASSERT_THAT(h.ProcessElement({-7, "fox"}, 103), IsOk());
  const auto out = h.ExtractOutput();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].value, (Enriched{"cat", "gate"}));
  EXPECT_EQ(out[0].timestamp_ms, 100);
  EXPECT_EQ(out[1].value, (Enriched{"bird", "roof"}));
  const auto side = h.ExtractSideOutput(misses);
  ASSERT_EQ(side.size(), 2u);
  EXPECT_EQ(side[0].value,
            (Miss{{123, "dog"}, "unknown geographical_location_oid 123"}));
  EXPECT_EQ(side[0].timestamp_ms, 101);
  EXPECT_EQ(side[1].value, (Miss{{-7, "fox"}, "unknown geographical_location_oid -7"}));
  EXPECT_THAT(h.Metric("num_join_misses"), IsOkAndHolds(2));
  EXPECT_THAT(h.Metric("table_rows"), IsOkAndHolds(3));
}

TEST(LookupJoinTest, CustomMissReason) {
  brook::OutputTag<Miss> misses("misses");
  Harness h(MakeJoin(Locations(),
                     {.misses_output = misses,
                      .miss_reason = [](const Detection& d, const int64_t& key) {
                        return absl::StrCat(d.item, " seen at unlisted location ", key);
                      }}));
  h.RegisterSideOutput(misses);
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement({9, "owl"}, 0), IsOk());
  const auto side = h.ExtractSideOutput(misses);
  ASSERT_EQ(side.size(), 1u);
  EXPECT_EQ(side[0].value.reason, "owl seen at unlisted location 9");
}

TEST(LookupJoinTest, InnerJoinWithoutSideOutputDropsAndCounts) {
  Harness h(MakeJoin(Locations()));
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement({9, "owl"}, 0), IsOk());
  ASSERT_THAT(h.ProcessElement({2, "cat"}, 0), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre(Enriched{"cat", "lobby"}));
  EXPECT_THAT(h.Metric("num_join_misses"), IsOkAndHolds(1));
}

TEST(LookupJoinTest, LeftOuterJoinPassesNullRow) {
  brook::OutputTag<Miss> misses("misses");
  Harness h(MakeJoin(Locations(),
                     {.join_type = brook::ops::JoinType::kLeftOuter, .misses_output = misses}));
  h.RegisterSideOutput(misses);
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement({9, "owl"}, 0), IsOk());
  ASSERT_THAT(h.ProcessElement({2, "cat"}, 0), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(),
              ElementsAre(Enriched{"owl", "?"}, Enriched{"cat", "lobby"}));
  EXPECT_THAT(h.ExtractSideOutput(misses), IsEmpty());
  EXPECT_THAT(h.Metric("num_join_misses"), IsOkAndHolds(1));
}

TEST(LookupJoinTest, CopiesShareOneTable) {
  auto table = Locations();
  const auto fn = MakeJoin(table);
  const auto copy1 = fn;
  auto copy2 = copy1;
  EXPECT_EQ(fn.table().get(), table.get());
  EXPECT_EQ(copy1.table().get(), table.get());
  EXPECT_EQ(copy2.table().get(), table.get());
  // The table is held, never copied: the caller's handle, the function and
  // its two copies.
  EXPECT_EQ(table.use_count(), 4);
}

TEST(LookupJoinTest, MissingTableIsInvalid) {
  Harness h(MakeJoin(nullptr));
  EXPECT_THAT(h.Open(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(LookupJoinPipelineTest, SubtasksShareTheTable) {
  auto table = Locations();
  std::vector<Detection> input;
  for (int i = 0; i < 5000; ++i) input.push_back({i % 7, absl::StrCat("item", i)});
  for (int p : {1, 3}) {
    SCOPED_TRACE(p);
    brook::StreamExecutionEnvironment env({.parallelism = p});
    brook::OutputTag<Miss> misses("misses");
    auto sink = std::make_shared<brook::CollectSink<Enriched>>();
    auto miss_sink = std::make_shared<brook::CollectSink<Miss>>();
    auto joined = env.FromCollection(input).Rebalance().Process(
        MakeJoin(table, {.misses_output = misses}), "join");
    joined.SinkTo(sink, "out");
    joined.GetSideOutput(misses).SinkTo(miss_sink, "misses");
    ASSERT_THAT(env.Execute(), IsOk());
    // Keys 1, 2 and 5 of 0..6 are known.
    size_t known = 0;
    for (const auto& d : input) known += (d.location_oid == 1 || d.location_oid == 2 ||
                                          d.location_oid == 5);
    EXPECT_EQ(sink->values().size(), known);
    EXPECT_EQ(miss_sink->values().size(), input.size() - known);
    EXPECT_THAT(env.metrics().Sum("num_join_misses", "join"),
                IsOkAndHolds(static_cast<int64_t>(input.size() - known)));
    // Each subtask reports the same table, held once.
    EXPECT_THAT(env.metrics().Sum("table_rows", "join"), IsOkAndHolds(3 * p));
  }
  // Every copy the job made is gone; the table was never duplicated.
  EXPECT_EQ(table.use_count(), 1);
}

}  // namespace
