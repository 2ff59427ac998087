// File: tests/engine/keyed_state_test.cc
//
// Keyed state through the operator test harness: per-key scoping of every
// state kind, descriptor conflicts, and event-time TTL (DESIGN.md §5: an entry
// written at t with ttl d is visible while watermark < t + d).
#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "brook/brook.h"
#include "brook/internal/state_table_allocator.h"
#include "brook/testing/test_harness.h"
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;
using ::brook::testing::StatusIs;

namespace {

using ::brook::testing::KeyedProcessFunctionTestHarness;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// A command for the function under test: `op` on the state of `key`.
struct Cmd {
  int64_t key;
  std::string op;
  std::string arg;
  int64_t value = 0;
};

int64_t KeyOf(const Cmd& c) { return c.key; }

// Reads and writes one state of each kind, as told by each command, and
// reports what it saw as a string.
class StateFn : public brook::KeyedProcessFunction<int64_t, Cmd, std::string> {
 public:
  explicit StateFn(brook::StateTtlConfig ttl = {}) : ttl_(ttl) {}

  absl::Status Open(RuntimeContext& ctx) override {
    BROOK_ASSIGN_OR_RETURN(value_,
                           ctx.GetState(brook::ValueStateDescriptor<int64_t>("value", ttl_)));
    BROOK_ASSIGN_OR_RETURN(
        map_, ctx.GetMapState(brook::MapStateDescriptor<std::string, int64_t>("map", ttl_)));
    BROOK_ASSIGN_OR_RETURN(list_,
                           ctx.GetListState(brook::ListStateDescriptor<int64_t>("list", ttl_)));
    BROOK_ASSIGN_OR_RETURN(
        sum_, ctx.GetReducingState(brook::ReducingStateDescriptor<int64_t>(
                  "sum", [](const int64_t& a, const int64_t& b) { return a + b; }, ttl_)));
    return absl::OkStatus();
  }

  absl::Status ProcessElement(const Cmd& c, Context& ctx,
                              brook::Collector<std::string>& out) override {
    const std::string k = absl::StrCat(ctx.GetCurrentKey(), ":");
    if (c.op == "set") {
      value_.Update(c.value);
    } else if (c.op == "get") {
      const int64_t* v = value_.Get();
      out.Collect(k + (v ? absl::StrCat(*v) : "null"));
    } else if (c.op == "goi") {  // GetOrInsert
      const auto [v, inserted] = value_.GetOrInsert(c.value);
      out.Collect(absl::StrCat(k, inserted ? "inserted " : "kept ", *v));
    } else if (c.op == "inc") {  // in place: does not refresh the TTL
      int64_t* v = value_.GetMutable();
      if (v != nullptr) ++*v;
    } else if (c.op == "clear") {
      value_.Clear();
    } else if (c.op == "put") {
      map_.Put(c.arg, c.value);
    } else if (c.op == "mget") {
      const int64_t* v = map_.Get(c.arg);
      out.Collect(k + c.arg + "=" + (v ? absl::StrCat(*v) : "null"));
    } else if (c.op == "mremove") {
      map_.Remove(c.arg);
    } else if (c.op == "mdump") {
      std::vector<std::string> entries;
      map_.ForEach([&](const std::string& uk, const int64_t& uv) {
        entries.push_back(absl::StrCat(uk, "=", uv));
      });
      std::sort(entries.begin(), entries.end());
      out.Collect(absl::StrCat(k, "size=", map_.Size(), map_.IsEmpty() ? " empty" : "",
                               map_.Contains("a") ? " has-a" : "", " [",
                               absl::StrJoin(entries, ","), "]"));
    } else if (c.op == "mclear") {
      map_.Clear();
    } else if (c.op == "add") {
      list_.Add(c.value);
    } else if (c.op == "lset") {
      list_.Update(c.value == 0 ? std::vector<int64_t>{} : std::vector<int64_t>{c.value, c.value});
    } else if (c.op == "lget") {
      const std::vector<int64_t>* l = list_.Get();
      out.Collect(k + (l ? absl::StrCat("[", absl::StrJoin(*l, ","), "]") : "null"));
    } else if (c.op == "lclear") {
      list_.Clear();
    } else if (c.op == "sum") {
      sum_.Add(c.value);
    } else if (c.op == "sget") {
      const int64_t* v = sum_.Get();
      out.Collect(k + (v ? absl::StrCat(*v) : "null"));
    } else if (c.op == "sclear") {
      sum_.Clear();
    } else {
      return absl::InvalidArgumentError(c.op);
    }
    return absl::OkStatus();
  }

 private:
  brook::StateTtlConfig ttl_;
  brook::ValueState<int64_t> value_;
  brook::MapState<std::string, int64_t> map_;
  brook::ListState<int64_t> list_;
  brook::ReducingState<int64_t> sum_;
};

class KeyedStateTest : public ::testing::Test {
 protected:
  explicit KeyedStateTest(brook::StateTtlConfig ttl = {}) : h_(StateFn(ttl), KeyOf) {}
  void SetUp() override { ASSERT_THAT(h_.Open(), IsOk()); }

  // Sends one command at `ts` and returns what the function emitted.
  std::vector<std::string> Do(int64_t key, std::string op, std::string arg = "",
                              int64_t value = 0, int64_t ts = 0) {
    absl::Status s = h_.ProcessElement(Cmd{key, std::move(op), std::move(arg), value}, ts);
    EXPECT_THAT(s, IsOk());
    return h_.ExtractOutputValues();
  }
  void Watermark(int64_t wm) {
    absl::Status s = h_.ProcessWatermark(wm);
    EXPECT_THAT(s, IsOk());
  }

  KeyedProcessFunctionTestHarness<StateFn> h_;
};

TEST_F(KeyedStateTest, ValueStateIsPerKey) {
  EXPECT_THAT(Do(1, "get"), ElementsAre("1:null"));
  Do(1, "set", "", 10);
  Do(2, "set", "", 20);
  EXPECT_THAT(Do(1, "get"), ElementsAre("1:10"));
  EXPECT_THAT(Do(2, "get"), ElementsAre("2:20"));
  EXPECT_THAT(Do(3, "get"), ElementsAre("3:null"));
  Do(1, "inc");
  Do(1, "inc");
  EXPECT_THAT(Do(1, "get"), ElementsAre("1:12"));
  EXPECT_THAT(Do(2, "get"), ElementsAre("2:20"));
  Do(1, "clear");
  EXPECT_THAT(Do(1, "get"), ElementsAre("1:null"));
  EXPECT_THAT(Do(2, "get"), ElementsAre("2:20"));
  EXPECT_EQ(h_.NumStateEntries(), 1);
}

TEST_F(KeyedStateTest, GetOrInsertInsertsOnlyWhenAbsent) {
  EXPECT_THAT(Do(1, "goi", "", 5), ElementsAre("1:inserted 5"));
  EXPECT_THAT(Do(1, "goi", "", 6), ElementsAre("1:kept 5"));
  EXPECT_THAT(Do(1, "get"), ElementsAre("1:5"));
  EXPECT_THAT(Do(2, "goi", "", 7), ElementsAre("2:inserted 7"));
  Do(1, "clear");
  EXPECT_THAT(Do(1, "goi", "", 8), ElementsAre("1:inserted 8"));
  EXPECT_EQ(h_.NumStateEntries(), 2);
}

TEST_F(KeyedStateTest, MapStateIsPerKey) {
  Do(1, "put", "a", 1);
  Do(1, "put", "b", 2);
  Do(2, "put", "a", 100);
  Do(1, "put", "b", 3);  // overwrite
  EXPECT_THAT(Do(1, "mdump"), ElementsAre("1:size=2 has-a [a=1,b=3]"));
  EXPECT_THAT(Do(2, "mdump"), ElementsAre("2:size=1 has-a [a=100]"));
  EXPECT_THAT(Do(3, "mdump"), ElementsAre("3:size=0 empty []"));
  EXPECT_THAT(Do(2, "mget", "b"), ElementsAre("2:b=null"));
  EXPECT_EQ(h_.NumStateEntries(), 3);  // map entries, over all keys
  Do(1, "mremove", "a");
  EXPECT_THAT(Do(1, "mdump"), ElementsAre("1:size=1 [b=3]"));
  EXPECT_THAT(Do(2, "mget", "a"), ElementsAre("2:a=100"));
  Do(2, "mclear");
  EXPECT_THAT(Do(2, "mdump"), ElementsAre("2:size=0 empty []"));
  EXPECT_THAT(Do(1, "mget", "b"), ElementsAre("1:b=3"));
  Do(1, "mremove", "zzz");  // removing a missing entry is fine
  EXPECT_EQ(h_.NumStateEntries(), 1);
}

TEST_F(KeyedStateTest, ListStateIsPerKeyInInsertionOrder) {
  Do(1, "add", "", 3);
  Do(2, "add", "", 9);
  Do(1, "add", "", 1);
  Do(1, "add", "", 2);
  EXPECT_THAT(Do(1, "lget"), ElementsAre("1:[3,1,2]"));
  EXPECT_THAT(Do(2, "lget"), ElementsAre("2:[9]"));
  EXPECT_THAT(Do(3, "lget"), ElementsAre("3:null"));
  Do(2, "lset", "", 5);
  EXPECT_THAT(Do(2, "lget"), ElementsAre("2:[5,5]"));
  Do(2, "lset", "", 0);  // updating to an empty list clears it
  EXPECT_THAT(Do(2, "lget"), ElementsAre("2:null"));
  Do(1, "lclear");
  EXPECT_THAT(Do(1, "lget"), ElementsAre("1:null"));
}

TEST_F(KeyedStateTest, ReducingStateFoldsPerKey) {
  EXPECT_THAT(Do(1, "sget"), ElementsAre("1:null"));
  for (int i = 1; i <= 10; ++i) Do(1, "sum", "", i);
  Do(2, "sum", "", -4);
  Do(2, "sum", "", -5);
  EXPECT_THAT(Do(1, "sget"), ElementsAre("1:55"));
  EXPECT_THAT(Do(2, "sget"), ElementsAre("2:-9"));
  Do(1, "sclear");
  EXPECT_THAT(Do(1, "sget"), ElementsAre("1:null"));
  EXPECT_THAT(Do(2, "sget"), ElementsAre("2:-9"));
}

TEST_F(KeyedStateTest, StateKindsWithDifferentNamesAreIndependent) {
  Do(7, "set", "", 1);
  Do(7, "sum", "", 5);
  Do(7, "add", "", 6);
  Do(7, "put", "a", 8);
  EXPECT_THAT(Do(7, "get"), ElementsAre("7:1"));
  EXPECT_THAT(Do(7, "sget"), ElementsAre("7:5"));
  EXPECT_EQ(h_.NumStateEntries(), 4);
  EXPECT_GT(h_.StateBytes(), 0);
}

TEST_F(KeyedStateTest, NoTtlMeansForever) {
  Do(1, "set", "", 1, /*ts=*/0);
  Do(1, "put", "a", 1, /*ts=*/0);
  Do(1, "add", "", 1, /*ts=*/0);
  Watermark(brook::kMaxWatermarkMs - 1);
  EXPECT_THAT(Do(1, "get"), ElementsAre("1:1"));
  EXPECT_THAT(Do(1, "mget", "a"), ElementsAre("1:a=1"));
  EXPECT_THAT(Do(1, "lget"), ElementsAre("1:[1]"));
  EXPECT_EQ(h_.NumStateEntries(), 3);
}

// ---------------------------------------------------------------------------
// Descriptor conflicts.

template <int kVariant>
class ConflictFn : public brook::KeyedProcessFunction<int64_t, Cmd, std::string> {
 public:
  absl::Status Open(RuntimeContext& ctx) override {
    BROOK_ASSIGN_OR_RETURN(auto v, ctx.GetState(brook::ValueStateDescriptor<int64_t>("s")));
    (void)v;
    if constexpr (kVariant == 0) {  // same name, another kind
      BROOK_ASSIGN_OR_RETURN(auto m,
                             ctx.GetMapState(brook::MapStateDescriptor<int64_t, int64_t>("s")));
      (void)m;
    } else if constexpr (kVariant == 1) {  // same name and kind, another type
      BROOK_ASSIGN_OR_RETURN(auto s, ctx.GetState(brook::ValueStateDescriptor<std::string>("s")));
      (void)s;
    } else if constexpr (kVariant == 2) {
      BROOK_ASSIGN_OR_RETURN(auto l, ctx.GetListState(brook::ListStateDescriptor<int64_t>("s")));
      (void)l;
    } else {  // the same descriptor twice: the same state
      BROOK_ASSIGN_OR_RETURN(same_, ctx.GetState(brook::ValueStateDescriptor<int64_t>("s")));
      first_ = v;
    }
    return absl::OkStatus();
  }
  absl::Status ProcessElement(const Cmd& c, Context&, brook::Collector<std::string>& out) override {
    first_.Update(c.value);
    const int64_t* v = same_.Get();
    out.Collect(v ? absl::StrCat(*v) : "null");
    return absl::OkStatus();
  }

 private:
  brook::ValueState<int64_t> first_;
  brook::ValueState<int64_t> same_;
};

template <int kVariant>
absl::Status OpenConflict() {
  KeyedProcessFunctionTestHarness<ConflictFn<kVariant>> h(ConflictFn<kVariant>(), KeyOf);
  return h.Open();
}

TEST(KeyedStateConflictTest, SameNameOtherKindIsInvalidArgument) {
  absl::Status s = OpenConflict<0>();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument)) << s;
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("'s'"));
}

TEST(KeyedStateConflictTest, SameNameOtherValueTypeIsInvalidArgument) {
  EXPECT_THAT(OpenConflict<1>(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(OpenConflict<2>(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(KeyedStateConflictTest, SameDescriptorTwiceSharesTheState) {
  KeyedProcessFunctionTestHarness<ConflictFn<3>> h(ConflictFn<3>(), KeyOf);
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement(Cmd{1, "", "", 42}, 0), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre("42"));
}

// A conflict in a real job fails Execute() with the same code.
TEST(KeyedStateConflictTest, ConflictFailsTheJob) {
  brook::StreamExecutionEnvironment env({.parallelism = 2});
  auto sink = std::make_shared<brook::CollectSink<std::string>>();
  env.FromCollection(std::vector<Cmd>{{1, "", "", 1}, {2, "", "", 2}})
      .KeyBy(&Cmd::key)
      .Process(ConflictFn<0>(), "conflict")
      .SinkTo(sink);
  absl::Status s = env.Execute();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument)) << s;
}

// ---------------------------------------------------------------------------
// Event-time TTL.

class KeyedStateTtlTest : public KeyedStateTest {
 protected:
  KeyedStateTtlTest() : KeyedStateTest(brook::StateTtlConfig{absl::Milliseconds(50)}) {}
};

TEST_F(KeyedStateTtlTest, ValueVisibleUntilWatermarkReachesWritePlusTtl) {
  Do(1, "set", "", 7, /*ts=*/100);
  Do(2, "set", "", 8, /*ts=*/200);
  EXPECT_EQ(h_.NumStateEntries(), 2);
  Watermark(148);
  EXPECT_THAT(Do(1, "get"), ElementsAre("1:7"));
  Watermark(149);  // 149 < 100 + 50
  EXPECT_THAT(Do(1, "get"), ElementsAre("1:7"));
  Watermark(150);  // 150 >= 100 + 50: expired
  EXPECT_THAT(Do(1, "get"), ElementsAre("1:null"));
  EXPECT_THAT(Do(2, "get"), ElementsAre("2:8"));
  Watermark(249);
  EXPECT_THAT(Do(2, "get"), ElementsAre("2:8"));
  Watermark(250);
  EXPECT_THAT(Do(2, "get"), ElementsAre("2:null"));
  EXPECT_EQ(h_.NumStateEntries(), 0);
}

TEST_F(KeyedStateTtlTest, CleanupDropsExpiredEntriesWithoutReads) {
  for (int64_t k = 0; k < 100; ++k) Do(k, "set", "", k, /*ts=*/k < 50 ? 100 : 1000);
  EXPECT_EQ(h_.NumStateEntries(), 100);
  Watermark(149);
  EXPECT_EQ(h_.NumStateEntries(), 100);
  // Cleanup may lag the expiry by a part of the TTL, never by a whole one.
  Watermark(150);
  Watermark(200);
  EXPECT_EQ(h_.NumStateEntries(), 50);
  EXPECT_THAT(Do(60, "get"), ElementsAre("60:60"));
  Watermark(1049);
  EXPECT_EQ(h_.NumStateEntries(), 50);
  Watermark(brook::kMaxWatermarkMs);
  EXPECT_EQ(h_.NumStateEntries(), 0);
}

TEST_F(KeyedStateTtlTest, UpdateRefreshesTtlButInPlaceChangeDoesNot) {
  Do(1, "set", "", 1, /*ts=*/100);
  Do(1, "set", "", 2, /*ts=*/140);  // refreshed: visible until wm 190
  Do(2, "set", "", 10, /*ts=*/100);
  Do(2, "inc", "", 0, /*ts=*/140);  // in place: still expires at wm 150
  Watermark(160);
  EXPECT_THAT(Do(1, "get"), ElementsAre("1:2"));
  EXPECT_THAT(Do(2, "get"), ElementsAre("2:null"));
  Watermark(190);
  EXPECT_THAT(Do(1, "get"), ElementsAre("1:null"));
}

TEST_F(KeyedStateTtlTest, GetOrInsertTreatsAnExpiredValueAsAbsent) {
  EXPECT_THAT(Do(1, "goi", "", 5, /*ts=*/100), ElementsAre("1:inserted 5"));
  Watermark(149);
  EXPECT_THAT(Do(1, "goi", "", 6, /*ts=*/140), ElementsAre("1:kept 5"));  // no refresh
  Watermark(150);
  EXPECT_THAT(Do(1, "goi", "", 6, /*ts=*/150), ElementsAre("1:inserted 6"));
  Watermark(199);  // inserted at 150: visible until 200
  EXPECT_THAT(Do(1, "get"), ElementsAre("1:6"));
  Watermark(200);
  EXPECT_THAT(Do(1, "get"), ElementsAre("1:null"));
}

TEST_F(KeyedStateTtlTest, MapStateTtlIsPerEntry) {
  Do(1, "put", "a", 1, /*ts=*/100);
  Do(1, "put", "b", 2, /*ts=*/130);
  Do(2, "put", "a", 3, /*ts=*/100);
  EXPECT_EQ(h_.NumStateEntries(), 3);
  Watermark(149);
  EXPECT_THAT(Do(1, "mdump"), ElementsAre("1:size=2 has-a [a=1,b=2]"));
  Watermark(150);  // "a" of both keys expired, "b" (written at 130) not
  EXPECT_THAT(Do(1, "mdump"), ElementsAre("1:size=1 [b=2]"));
  EXPECT_THAT(Do(1, "mget", "a"), ElementsAre("1:a=null"));
  EXPECT_THAT(Do(1, "mget", "b"), ElementsAre("1:b=2"));
  EXPECT_THAT(Do(2, "mget", "a"), ElementsAre("2:a=null"));
  Watermark(179);
  EXPECT_THAT(Do(1, "mget", "b"), ElementsAre("1:b=2"));
  EXPECT_EQ(h_.NumStateEntries(), 1);
  Watermark(180);
  EXPECT_THAT(Do(1, "mdump"), ElementsAre("1:size=0 empty []"));
  Watermark(300);
  EXPECT_EQ(h_.NumStateEntries(), 0);
}

TEST_F(KeyedStateTtlTest, MapPutRefreshesOnlyThatEntry) {
  Do(1, "put", "a", 1, /*ts=*/100);
  Do(1, "put", "b", 2, /*ts=*/100);
  Do(1, "put", "a", 5, /*ts=*/140);
  Watermark(160);
  EXPECT_THAT(Do(1, "mdump"), ElementsAre("1:size=1 has-a [a=5]"));
}

TEST_F(KeyedStateTtlTest, ListStateTtlCoversTheWholeList) {
  Do(1, "add", "", 1, /*ts=*/100);
  Do(1, "add", "", 2, /*ts=*/130);  // refreshes the list's timestamp
  Do(2, "add", "", 9, /*ts=*/100);
  Watermark(160);
  EXPECT_THAT(Do(1, "lget"), ElementsAre("1:[1,2]"));
  EXPECT_THAT(Do(2, "lget"), ElementsAre("2:null"));
  Watermark(180);
  EXPECT_THAT(Do(1, "lget"), ElementsAre("1:null"));
  // Adding to an expired list starts a new one.
  Do(1, "add", "", 3, /*ts=*/500);
  EXPECT_THAT(Do(1, "lget"), ElementsAre("1:[3]"));
}

TEST_F(KeyedStateTtlTest, AddToExpiredButUnsweptListStartsFresh) {
  Do(1, "add", "", 1, /*ts=*/100);
  Watermark(140);  // sweeps (first watermark): nothing expired yet
  Watermark(150);  // expired; too soon after the last sweep to sweep again
  Do(1, "add", "", 2, /*ts=*/150);
  EXPECT_THAT(Do(1, "lget"), ElementsAre("1:[2]"));
}

TEST_F(KeyedStateTtlTest, ReducingStateTtl) {
  Do(1, "sum", "", 4, /*ts=*/100);
  Do(1, "sum", "", 5, /*ts=*/120);
  Watermark(169);
  EXPECT_THAT(Do(1, "sget"), ElementsAre("1:9"));
  Watermark(170);
  EXPECT_THAT(Do(1, "sget"), ElementsAre("1:null"));
  Do(1, "sum", "", 1, /*ts=*/300);
  EXPECT_THAT(Do(1, "sget"), ElementsAre("1:1"));
}

// State written in OnTimer takes the timer's timestamp for its TTL.
class TimerTtlFn : public brook::KeyedProcessFunction<int64_t, Cmd, std::string> {
 public:
  absl::Status Open(RuntimeContext& ctx) override {
    BROOK_ASSIGN_OR_RETURN(
        v_, ctx.GetState(brook::ValueStateDescriptor<int64_t>(
                "v", brook::StateTtlConfig{absl::Milliseconds(100)})));
    return absl::OkStatus();
  }
  absl::Status ProcessElement(const Cmd& c, Context& ctx,
                              brook::Collector<std::string>& out) override {
    if (c.op == "timer") {
      ctx.timer_service().RegisterEventTimeTimer(c.value);
    } else {
      const int64_t* v = v_.Get();
      out.Collect(v ? absl::StrCat(*v) : "null");
    }
    return absl::OkStatus();
  }
  absl::Status OnTimer(int64_t ts, OnTimerContext&, brook::Collector<std::string>&) override {
    v_.Update(ts);
    return absl::OkStatus();
  }

 private:
  brook::ValueState<int64_t> v_;
};

TEST(KeyedStateTtlTimerTest, StateWrittenInTimerUsesTimerTimestamp) {
  KeyedProcessFunctionTestHarness<TimerTtlFn> h(TimerTtlFn(), KeyOf);
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement(Cmd{1, "timer", "", 500}, 0), IsOk());
  ASSERT_THAT(h.ProcessWatermark(550), IsOk());  // fires at 500; written with ts 500
  ASSERT_THAT(h.ProcessElement(Cmd{1, "get"}, 560), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre("500"));
  ASSERT_THAT(h.ProcessWatermark(600), IsOk());  // 500 + 100 <= 600
  ASSERT_THAT(h.ProcessElement(Cmd{1, "get"}, 610), IsOk());
  EXPECT_THAT(h.ExtractOutputValues(), ElementsAre("null"));
}

// A harness playing subtask 1 of 2 rejects keys owned by subtask 0.
TEST(KeyedStateRangeTest, KeyOutsideSubtaskRangeIsInternalError) {
  brook::testing::HarnessOptions opts;
  opts.parallelism = 2;
  opts.subtask_index = 1;
  KeyedProcessFunctionTestHarness<StateFn> h(StateFn(), KeyOf, opts);
  ASSERT_THAT(h.Open(), IsOk());
  // Key 42 -> key group 29 -> subtask 0 of 2; key 0 -> key group 94 -> subtask 1
  // (see key_group_test.cc).
  EXPECT_THAT(h.ProcessElement(Cmd{42, "get"}, 0), StatusIs(absl::StatusCode::kInternal));
  EXPECT_THAT(h.ProcessElement(Cmd{0, "get"}, 0), IsOk());
}

// A descriptor's expected_keys: the state behaves the same, its tables are
// sized for the hint when the state is created and do not grow up to it,
// and a snapshot of it restores into a subtask of another parallelism.
class SizedCountFn : public brook::KeyedProcessFunction<int64_t, Cmd, std::string> {
 public:
  explicit SizedCountFn(int64_t expected_keys) : expected_keys_(expected_keys) {}
  absl::Status Open(RuntimeContext& ctx) override {
    brook::ValueStateDescriptor<int64_t> d("count");
    d.expected_keys = expected_keys_;
    BROOK_ASSIGN_OR_RETURN(count_, ctx.GetState(d));
    return absl::OkStatus();
  }
  absl::Status ProcessElement(const Cmd& c, Context&,
                              brook::Collector<std::string>& out) override {
    const int64_t* n = count_.Get();
    count_.Update(n == nullptr ? 1 : *n + 1);
    out.Collect(absl::StrCat(c.key, ":", *count_.Get()));
    return absl::OkStatus();
  }

 private:
  int64_t expected_keys_;
  brook::ValueState<int64_t> count_;
};

// Runs keys 0..n-1 twice through `h`; returns the outputs and state_bytes
// after the first record, after the first pass and after the second.
std::pair<std::vector<std::string>, std::vector<int64_t>> RunCounts(
    KeyedProcessFunctionTestHarness<SizedCountFn>& h, int64_t n) {
  std::vector<std::string> out;
  std::vector<int64_t> bytes;
  for (int pass = 0; pass < 2; ++pass) {
    for (int64_t k = 0; k < n; ++k) {
      EXPECT_THAT(h.ProcessElement(Cmd{k, "", "", 0}, k), IsOk());
      if (pass == 0 && k == 0) {
        EXPECT_THAT(h.ProcessWatermark(0), IsOk());
        bytes.push_back(*h.Metric("state_bytes"));
      }
    }
    EXPECT_THAT(h.ProcessWatermark(pass + 1), IsOk());
    bytes.push_back(*h.Metric("state_bytes"));
    for (auto& v : h.ExtractOutputValues()) out.push_back(std::move(v));
  }
  return {out, bytes};
}

TEST(StateSizingHintTest, SizedStateHoldsTheSameAndDoesNotGrowUpToTheHint) {
  constexpr int64_t kKeys = 50000;
  KeyedProcessFunctionTestHarness<SizedCountFn> plain(SizedCountFn(0), KeyOf);
  KeyedProcessFunctionTestHarness<SizedCountFn> sized(SizedCountFn(2 * kKeys), KeyOf);
  ASSERT_THAT(plain.Open(), IsOk());
  ASSERT_THAT(sized.Open(), IsOk());
  auto [plain_out, plain_bytes] = RunCounts(plain, kKeys);
  auto [sized_out, sized_bytes] = RunCounts(sized, kKeys);
  EXPECT_EQ(sized_out, plain_out);
  ASSERT_EQ(plain_out.size(), 2u * kKeys);
  EXPECT_EQ(plain_out.back(), absl::StrCat(kKeys - 1, ":2"));
  // Sized up front: room for 2 * kKeys / 128 keys in each of the 128 key
  // groups (16-byte slots and a control byte each) from the first record on,
  // and no growth while the keys fill half of it.
  EXPECT_GE(sized_bytes[0], 2 * kKeys * 17);
  EXPECT_EQ(sized_bytes[1], sized_bytes[0]);
  EXPECT_EQ(sized_bytes[2], sized_bytes[0]);
  EXPECT_LT(plain_bytes[0], sized_bytes[0] / 100);
  EXPECT_GT(plain_bytes[1], plain_bytes[0]);
}

TEST(StateSizingHintTest, SizedStateRestoresAtAnotherParallelism) {
  constexpr int64_t kKeys = 20000;
  KeyedProcessFunctionTestHarness<SizedCountFn> h(SizedCountFn(kKeys), KeyOf);
  ASSERT_THAT(h.Open(), IsOk());
  for (int64_t k = 0; k < kKeys; ++k) ASSERT_THAT(h.ProcessElement(Cmd{k, "", "", 0}, k), IsOk());
  auto snap = h.Snapshot(1);
  ASSERT_THAT(snap, IsOk());
  int64_t restored_keys = 0;
  for (int subtask = 0; subtask < 2; ++subtask) {
    brook::testing::HarnessOptions opts;
    opts.parallelism = 2;
    opts.subtask_index = subtask;
    KeyedProcessFunctionTestHarness<SizedCountFn> r(SizedCountFn(kKeys), KeyOf, opts);
    ASSERT_THAT(r.RestoreFrom({*snap}), IsOk());
    ASSERT_THAT(r.Open(), IsOk());
    for (int64_t k = 0; k < kKeys; ++k) {
      const int kg = brook::AssignToKeyGroup(k, brook::kDefaultMaxParallelism);
      if (!brook::ComputeKeyGroupRangeForOperatorIndex(brook::kDefaultMaxParallelism, 2, subtask)
               .Contains(kg)) {
        continue;
      }
      ASSERT_THAT(r.ProcessElement(Cmd{k, "", "", 0}, k), IsOk());
      ++restored_keys;
    }
    for (const std::string& v : r.ExtractOutputValues()) {
      EXPECT_THAT(v, ::testing::EndsWith(":2"));
    }
  }
  EXPECT_EQ(restored_keys, kKeys);
}

// A sized table keeps its size when a checkpoint's copy-on-write copies it
// and when it is restored (the copy constructor would size it for its
// entries alone).
TEST(StateSizingHintTest, SizedStateKeepsItsSizeThroughCopyOnWriteAndRestore) {
  constexpr int64_t kKeys = 20000;
  KeyedProcessFunctionTestHarness<SizedCountFn> h(SizedCountFn(4 * kKeys), KeyOf);
  ASSERT_THAT(h.Open(), IsOk());
  auto all_keys = [&](KeyedProcessFunctionTestHarness<SizedCountFn>& harness, int64_t wm) {
    for (int64_t k = 0; k < kKeys; ++k) {
      ASSERT_THAT(harness.ProcessElement(Cmd{k, "", "", 0}, k), IsOk());
    }
    ASSERT_THAT(harness.ProcessWatermark(wm), IsOk());
    harness.ExtractOutputValues();
  };
  all_keys(h, 1);
  const int64_t sized = *h.Metric("state_bytes");
  auto pending = h.SnapshotSync(1);
  ASSERT_THAT(pending, IsOk());
  all_keys(h, 2);  // every key group copied: the snapshot still holds them
  EXPECT_EQ(*h.Metric("state_bytes"), sized);
  auto snap = (*pending)();
  ASSERT_THAT(snap, IsOk());
  KeyedProcessFunctionTestHarness<SizedCountFn> r(SizedCountFn(4 * kKeys), KeyOf);
  ASSERT_THAT(r.RestoreFrom({*snap}), IsOk());
  ASSERT_THAT(r.Open(), IsOk());
  ASSERT_THAT(r.ProcessWatermark(1), IsOk());
  EXPECT_EQ(*r.Metric("state_bytes"), sized);
  ASSERT_THAT(r.ProcessElement(Cmd{7, "", "", 0}, 7), IsOk());
  EXPECT_THAT(r.ExtractOutputValues(), ElementsAre("7:2"));
}

// Tables reserved from a hint allocate their large arrays on 2 MiB
// boundaries (the huge-page advice needs whole aligned pages); others as
// operator new does.
TEST(StateTableAllocatorTest, LargeArraysOfHugePageTablesAre2MiBAligned) {
  brook::internal::StateTableAllocator<uint64_t> huge(true);
  brook::internal::StateTableAllocator<uint64_t> plain;
  EXPECT_FALSE(huge == plain);
  EXPECT_TRUE(huge == brook::internal::StateTableAllocator<char>(huge));
  const size_t n = (size_t{5} << 20) / sizeof(uint64_t);  // 5 MiB: two whole pages and a tail
  uint64_t* p = huge.allocate(n);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % brook::internal::kHugePageBytes, 0u);
  for (size_t i = 0; i < n; ++i) p[i] = i;
  EXPECT_EQ(p[n - 1], n - 1);
  huge.deallocate(p, n);
  uint64_t* small = huge.allocate(16);
  small[15] = 1;
  huge.deallocate(small, 16);
}

}  // namespace
