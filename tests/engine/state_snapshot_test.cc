// File: tests/engine/state_snapshot_test.cc
//
// Keyed state, timers and function state through checkpoints (DESIGN.md §7),
// with the harness's Snapshot / RestoreFrom: every state kind and TTL
// timestamps round-trip; restore at parallelism 1 -> 2 -> 1 keeps each key's
// state in exactly one subtask; timers survive and fire; copy-on-write keeps
// a captured snapshot unchanged by later mutations; corrupt bytes are
// kDataLoss; non-serializable state is kFailedPrecondition.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "brook/brook.h"
#include "brook/testing/test_harness.h"
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;
using ::brook::testing::StatusIs;

namespace {

using OperatorSnapshotData = ::brook::OperatorSubtaskState;
using ::brook::testing::HarnessOptions;
using ::brook::testing::KeyedProcessFunctionTestHarness;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAreArray;

constexpr int kMaxParallelism = brook::kDefaultMaxParallelism;

struct Cmd {
  int64_t key;
  std::string op;  // "put", "dump", "clear", "event-timer", "proc-timer"
  int64_t value = 0;
};
int64_t KeyOf(const Cmd& c) { return c.key; }

// Keeps one state of every kind (and a TTL'd one) per key; "dump" emits them
// as one line.
class StateFn : public brook::KeyedProcessFunction<int64_t, Cmd, std::string> {
 public:
  explicit StateFn(bool with_list = true) : with_list_(with_list) {}

  absl::Status Open(RuntimeContext& ctx) override {
    BROOK_ASSIGN_OR_RETURN(value_, ctx.GetState(brook::ValueStateDescriptor<int64_t>("value")));
    BROOK_ASSIGN_OR_RETURN(
        map_, ctx.GetMapState(brook::MapStateDescriptor<std::string, int64_t>("map")));
    if (with_list_) {
      BROOK_ASSIGN_OR_RETURN(list_,
                             ctx.GetListState(brook::ListStateDescriptor<std::string>("list")));
    }
    BROOK_ASSIGN_OR_RETURN(
        sum_, ctx.GetReducingState(brook::ReducingStateDescriptor<int64_t>(
                  "sum", [](const int64_t& a, const int64_t& b) { return a + b; })));
    BROOK_ASSIGN_OR_RETURN(
        ttl_, ctx.GetState(brook::ValueStateDescriptor<int64_t>(
                  "ttl-value", brook::StateTtlConfig{absl::Milliseconds(100)})));
    BROOK_ASSIGN_OR_RETURN(seen_, ctx.GetState(brook::ValueStateDescriptor<std::monostate>(
                                      "seen", brook::StateTtlConfig{absl::Milliseconds(100)})));
    return absl::OkStatus();
  }

  absl::Status ProcessElement(const Cmd& c, Context& ctx,
                              brook::Collector<std::string>& out) override {
    if (c.op == "put") {
      value_.Update(c.value);
      map_.Put(absl::StrCat("m", c.value % 3), c.value);
      if (with_list_) list_.Add(absl::StrCat("l", c.value));
      sum_.Add(c.value);
      ttl_.Update(c.value);
      seen_.Update({});
    } else if (c.op == "clear") {
      value_.Clear();
      map_.Clear();
      if (with_list_) list_.Clear();
      sum_.Clear();
    } else if (c.op == "dump") {
      out.Collect(Dump(ctx.GetCurrentKey()));
    } else if (c.op == "event-timer") {
      ctx.timer_service().RegisterEventTimeTimer(c.value);
    } else if (c.op == "proc-timer") {
      ctx.timer_service().RegisterProcessingTimeTimer(c.value);
    }
    return absl::OkStatus();
  }

  absl::Status OnTimer(int64_t ts, OnTimerContext& ctx,
                       brook::Collector<std::string>& out) override {
    out.Collect(absl::StrCat("timer ", ctx.GetCurrentKey(), "@", ts,
                             ctx.time_domain() == brook::TimeDomain::kEventTime ? " event"
                                                                                : " proc"));
    return absl::OkStatus();
  }

 private:
  std::string Dump(int64_t key) {
    std::map<std::string, int64_t> m;
    map_.ForEach([&](const std::string& k, const int64_t& v) { m[k] = v; });
    std::vector<std::string> ms;
    for (const auto& [k, v] : m) ms.push_back(absl::StrCat(k, "=", v));
    const int64_t* v = value_.Get();
    const int64_t* s = sum_.Get();
    const int64_t* t = ttl_.Get();
    const std::vector<std::string>* l = with_list_ ? list_.Get() : nullptr;
    return absl::StrCat(key, ": value=", v ? absl::StrCat(*v) : "-", " map={",
                        absl::StrJoin(ms, ","), "} list=[", l ? absl::StrJoin(*l, ",") : "",
                        "] sum=", s ? absl::StrCat(*s) : "-", " ttl=", t ? absl::StrCat(*t) : "-",
                        " seen=", seen_.Get() != nullptr ? "y" : "n");
  }

  bool with_list_;
  brook::ValueState<int64_t> value_;
  brook::MapState<std::string, int64_t> map_;
  brook::ListState<std::string> list_;
  brook::ReducingState<int64_t> sum_;
  brook::ValueState<int64_t> ttl_;
  brook::ValueState<std::monostate> seen_;
};

using Harness = KeyedProcessFunctionTestHarness<StateFn>;

int Owner(int64_t key, int parallelism) {
  return brook::ComputeOperatorIndexForKeyGroup(
      kMaxParallelism, parallelism, brook::AssignToKeyGroup(key, kMaxParallelism));
}

// Parallel subtasks of StateFn, each restored from `from` (empty: fresh);
// records go to the subtask owning their key, watermarks to all.
class Cluster {
 public:
  Cluster(int parallelism, const std::vector<OperatorSnapshotData>& from,
          bool with_list = true) {
    for (int i = 0; i < parallelism; ++i) {
      subtasks_.push_back(std::make_unique<Harness>(
          StateFn(with_list), KeyOf, HarnessOptions{.parallelism = parallelism, .subtask_index = i}));
      if (!from.empty()) status_.Update(subtasks_.back()->RestoreFrom(from));
      status_.Update(subtasks_.back()->Open());
    }
  }
  const absl::Status& status() const { return status_; }
  absl::Status Send(Cmd c, int64_t ts) {
    return subtasks_[static_cast<size_t>(Owner(c.key, size()))]->ProcessElement(std::move(c), ts);
  }
  absl::Status Watermark(int64_t wm) {
    for (auto& s : subtasks_) BROOK_RETURN_IF_ERROR(s->ProcessWatermark(wm));
    return absl::OkStatus();
  }
  absl::Status ProcessingTime(int64_t now) {
    for (auto& s : subtasks_) BROOK_RETURN_IF_ERROR(s->SetProcessingTime(now));
    return absl::OkStatus();
  }
  std::vector<std::string> Output() {
    std::vector<std::string> out;
    for (auto& s : subtasks_) {
      for (auto& v : s->ExtractOutputValues()) out.push_back(std::move(v));
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
  int size() const { return static_cast<int>(subtasks_.size()); }
  Harness& subtask(int i) { return *subtasks_[static_cast<size_t>(i)]; }

 private:
  std::vector<std::unique_ptr<Harness>> subtasks_;
  absl::Status status_;
};

constexpr int kKeys = 60;

// Puts for every key (twice for even keys) at event time `ts`.
absl::Status Load(Cluster& c, int64_t base, int64_t ts) {
  for (int64_t k = 0; k < kKeys; ++k) {
    BROOK_RETURN_IF_ERROR(c.Send({k, "put", base + k}, ts));
    if (k % 2 == 0) BROOK_RETURN_IF_ERROR(c.Send({k, "put", base + 2 * k}, ts));
    if (k % 7 == 0) BROOK_RETURN_IF_ERROR(c.Send({k, "clear"}, ts));
  }
  return absl::OkStatus();
}
std::vector<std::string> DumpAll(Cluster& c, int64_t ts) {
  for (int64_t k = 0; k < kKeys; ++k) EXPECT_THAT(c.Send({k, "dump"}, ts), IsOk());
  return c.Output();
}

TEST(StateSnapshotTest, EveryStateKindRoundTripsThroughParallelism1To2To1) {
  // Reference: one uninterrupted subtask.
  Cluster reference(1, {});
  ASSERT_THAT(Load(reference, 100, 1000), IsOk());
  ASSERT_THAT(Load(reference, 500, 1010), IsOk());
  const std::vector<std::string> expected = DumpAll(reference, 1020);
  ASSERT_EQ(expected.size(), static_cast<size_t>(kKeys));

  Cluster one(1, {});
  ASSERT_THAT(Load(one, 100, 1000), IsOk());
  auto snap1 = one.Snapshot(1);
  ASSERT_THAT(snap1, IsOk());
  EXPECT_FALSE((*snap1)[0].key_groups.empty());

  Cluster two(2, *snap1);
  ASSERT_THAT(two.status(), IsOk());
  // Every key's state is in exactly one subtask: the owner holds it all.
  EXPECT_EQ(two.subtask(0).NumStateEntries() + two.subtask(1).NumStateEntries(),
            one.subtask(0).NumStateEntries());
  EXPECT_GT(two.subtask(0).NumStateEntries(), 0);
  EXPECT_GT(two.subtask(1).NumStateEntries(), 0);
  ASSERT_THAT(Load(two, 500, 1010), IsOk());
  auto snap2 = two.Snapshot(2);
  ASSERT_THAT(snap2, IsOk());
  for (int i = 0; i < 2; ++i) {
    const auto range = brook::ComputeKeyGroupRangeForOperatorIndex(kMaxParallelism, 2, i);
    for (const auto& [kg, bytes] : (*snap2)[static_cast<size_t>(i)].key_groups) {
      EXPECT_TRUE(range.Contains(kg)) << kg;
    }
  }

  Cluster back(1, *snap2);
  ASSERT_THAT(back.status(), IsOk());
  EXPECT_THAT(DumpAll(back, 1020), UnorderedElementsAreArray(expected));
  EXPECT_EQ(back.subtask(0).NumStateEntries(), reference.subtask(0).NumStateEntries());
}

TEST(StateSnapshotTest, TtlTimestampsSurviveRestore) {
  Cluster c(1, {});
  ASSERT_THAT(c.Send({1, "put", 7}, 1000), IsOk());
  auto snap = c.Snapshot(1);
  ASSERT_THAT(snap, IsOk());
  Cluster r(2, *snap);
  ASSERT_THAT(r.status(), IsOk());
  // Written at 1000 with TTL 100: visible while watermark < 1100.
  ASSERT_THAT(r.Watermark(1099), IsOk());
  ASSERT_THAT(r.Send({1, "dump"}, 1099), IsOk());
  EXPECT_THAT(r.Output(), ElementsAre(HasSubstr("ttl=7 seen=y")));
  ASSERT_THAT(r.Watermark(1100), IsOk());
  ASSERT_THAT(r.Send({1, "dump"}, 1100), IsOk());
  EXPECT_THAT(r.Output(), ElementsAre(HasSubstr("value=7 map={m1=7} list=[l7] sum=7 ttl=- seen=n")));
}

TEST(StateSnapshotTest, TimersSurviveRestoreAndFire) {
  Cluster c(1, {});
  for (int64_t k = 0; k < 6; ++k) {
    ASSERT_THAT(c.Send({k, "event-timer", 500 + k}, 10), IsOk());
    ASSERT_THAT(c.Send({k, "proc-timer", 300 + k}, 10), IsOk());
  }
  auto snap = c.Snapshot(1);
  ASSERT_THAT(snap, IsOk());
  for (int p : {1, 2}) {
    Cluster r(p, *snap);
    ASSERT_THAT(r.status(), IsOk());
    size_t timers = 0;
    for (int i = 0; i < p; ++i) timers += r.subtask(i).NumTimers();
    EXPECT_EQ(timers, 12u);
    ASSERT_THAT(r.ProcessingTime(302), IsOk());
    EXPECT_THAT(r.Output(), UnorderedElementsAreArray(
                                {"timer 0@300 proc", "timer 1@301 proc", "timer 2@302 proc"}));
    ASSERT_THAT(r.ProcessingTime(1000), IsOk());
    EXPECT_THAT(r.Output(), UnorderedElementsAreArray({"timer 3@303 proc", "timer 4@304 proc",
                                                       "timer 5@305 proc"}));
    ASSERT_THAT(r.Watermark(503), IsOk());
    EXPECT_THAT(r.Output(), UnorderedElementsAreArray({"timer 0@500 event", "timer 1@501 event",
                                                       "timer 2@502 event", "timer 3@503 event"}));
    ASSERT_THAT(r.Watermark(brook::kMaxWatermarkMs), IsOk());
    EXPECT_THAT(r.Output(), UnorderedElementsAreArray({"timer 4@504 event", "timer 5@505 event"}));
  }
}

TEST(StateSnapshotTest, CopyOnWriteKeepsTheCapturedState) {
  Cluster c(1, {});
  ASSERT_THAT(Load(c, 100, 1000), IsOk());
  const std::vector<std::string> before = DumpAll(c, 1000);
  auto async = c.subtask(0).SnapshotSync(1);
  ASSERT_THAT(async, IsOk());
  // Mutations after the capture: updates, clears, new keys, TTL expiry.
  ASSERT_THAT(Load(c, 900, 1050), IsOk());
  for (int64_t k = 0; k < kKeys; k += 3) ASSERT_THAT(c.Send({k, "clear"}, 1060), IsOk());
  ASSERT_THAT(c.Send({kKeys + 5, "put", 1}, 1060), IsOk());
  ASSERT_THAT(c.Watermark(5000), IsOk());
  const std::vector<std::string> after = DumpAll(c, 5000);
  ASSERT_NE(after, before);

  auto data = (*async)();
  ASSERT_THAT(data, IsOk());
  Cluster r(1, {*data});
  ASSERT_THAT(r.status(), IsOk());
  EXPECT_EQ(DumpAll(r, 1000), before);
  // The live state kept its mutations.
  EXPECT_EQ(DumpAll(c, 5000), after);
}

TEST(StateSnapshotTest, CorruptOrTruncatedBlobsAreDataLoss) {
  Cluster c(1, {});
  ASSERT_THAT(c.Send({1, "put", 7}, 1000), IsOk());
  ASSERT_THAT(c.Send({1, "event-timer", 5}, 1000), IsOk());
  auto snap = c.Snapshot(1);
  ASSERT_THAT(snap, IsOk());
  ASSERT_EQ((*snap)[0].key_groups.size(), 1u);
  const std::string blob((*snap)[0].key_groups[0].second.view());
  auto restore = [&](std::string bytes) {
    OperatorSnapshotData d = (*snap)[0];
    d.key_groups[0].second = std::move(bytes);
    Harness h(StateFn(), KeyOf);
    absl::Status s = h.RestoreFrom({d});
    if (s.ok()) s = h.Open();
    return s;
  };
  ASSERT_THAT(restore(blob), IsOk());
  for (size_t n = 0; n < blob.size(); ++n) {
    EXPECT_THAT(restore(blob.substr(0, n)), StatusIs(absl::StatusCode::kDataLoss)) << n;
  }
  for (size_t i = 0; i < blob.size(); ++i) {
    for (int bit : {0, 5}) {
      std::string flipped = blob;
      flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
      EXPECT_THAT(restore(flipped), StatusIs(absl::StatusCode::kDataLoss)) << i;
    }
  }
}

TEST(StateSnapshotTest, StateTheFunctionNoLongerCreatesFailsTheRestore) {
  Cluster c(1, {});
  ASSERT_THAT(c.Send({1, "put", 7}, 1000), IsOk());
  auto snap = c.Snapshot(1);
  ASSERT_THAT(snap, IsOk());
  Cluster r(1, *snap, /*with_list=*/false);
  EXPECT_THAT(r.status(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(r.status().message(), HasSubstr("'list'"));
}

struct NotSerializable {
  int x = 0;
};

class OpaqueFn : public brook::KeyedProcessFunction<int64_t, Cmd, std::string> {
 public:
  absl::Status Open(RuntimeContext& ctx) override {
    BROOK_ASSIGN_OR_RETURN(
        opaque_, ctx.GetState(brook::ValueStateDescriptor<NotSerializable>("opaque")));
    return absl::OkStatus();
  }
  absl::Status ProcessElement(const Cmd& c, Context&, brook::Collector<std::string>&) override {
    opaque_.Update(NotSerializable{static_cast<int>(c.value)});
    return absl::OkStatus();
  }

 private:
  brook::ValueState<NotSerializable> opaque_;
};

TEST(StateSnapshotTest, NonSerializableStateFailsTheSnapshotNotTheJob) {
  KeyedProcessFunctionTestHarness<OpaqueFn> h(OpaqueFn(), KeyOf);
  ASSERT_THAT(h.Open(), IsOk());
  ASSERT_THAT(h.ProcessElement({1, "put", 3}, 10), IsOk());
  auto snap = h.Snapshot(1);
  EXPECT_THAT(snap.status(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(snap.status().message(), HasSubstr("'opaque'"));
}

// The kind of a state cannot change across a restore.
class RenamedKindFn : public brook::KeyedProcessFunction<int64_t, Cmd, std::string> {
 public:
  absl::Status Open(RuntimeContext& ctx) override {
    return ctx.GetListState(brook::ListStateDescriptor<int64_t>("value")).status();
  }
  absl::Status ProcessElement(const Cmd&, Context&, brook::Collector<std::string>&) override {
    return absl::OkStatus();
  }
};

TEST(StateSnapshotTest, ChangedStateKindIsFailedPrecondition) {
  Cluster c(1, {});
  ASSERT_THAT(c.Send({1, "put", 7}, 1000), IsOk());
  auto snap = c.Snapshot(1);
  ASSERT_THAT(snap, IsOk());
  KeyedProcessFunctionTestHarness<RenamedKindFn> h(RenamedKindFn(), KeyOf);
  ASSERT_THAT(h.RestoreFrom(*snap), IsOk());
  absl::Status s = h.Open();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(s.message(), HasSubstr("'value'"));
}

TEST(StateSnapshotTest, AnotherMaxParallelismIsFailedPrecondition) {
  Cluster c(1, {});
  ASSERT_THAT(c.Send({1, "put", 7}, 1000), IsOk());
  auto snap = c.Snapshot(1);
  ASSERT_THAT(snap, IsOk());
  Harness h(StateFn(), KeyOf, HarnessOptions{.max_parallelism = 256});
  OperatorSnapshotData d = (*snap)[0];
  EXPECT_THAT(h.RestoreFrom({d}), StatusIs(absl::StatusCode::kFailedPrecondition));
}

// CheckpointedFunction: a count of records per subtask, summed on restore.
class CountingFn : public brook::ProcessFunction<int64_t, int64_t>,
                   public brook::CheckpointedFunction {
 public:
  absl::Status ProcessElement(const int64_t&, Context&, brook::Collector<int64_t>& out) override {
    out.Collect(++count_);
    return absl::OkStatus();
  }
  absl::Status SnapshotState(int64_t, brook::DataOutputView& out) override {
    brook::TypeSerializer<int64_t>::Serialize(count_, out);
    return absl::OkStatus();
  }
  absl::Status InitializeState(const std::vector<std::string>& states) override {
    for (const std::string& s : states) {
      int64_t c = 0;
      BROOK_RETURN_IF_ERROR(brook::DeserializeFromString(s, &c));
      count_ += c;
    }
    return absl::OkStatus();
  }

 private:
  int64_t count_ = 0;
};

TEST(StateSnapshotTest, CheckpointedFunctionStateIsRedistributed) {
  using PH = brook::testing::ProcessFunctionTestHarness<CountingFn>;
  std::vector<OperatorSnapshotData> old;
  for (int i = 0; i < 2; ++i) {
    PH h(CountingFn(), HarnessOptions{.parallelism = 2, .subtask_index = i});
    ASSERT_THAT(h.Open(), IsOk());
    for (int n = 0; n < 3 + i; ++n) ASSERT_THAT(h.ProcessElement(n, n), IsOk());
    auto s = h.Snapshot(1);
    ASSERT_THAT(s, IsOk());
    old.push_back(*s);
  }
  PH one{CountingFn()};
  ASSERT_THAT(one.RestoreFrom(old), IsOk());
  ASSERT_THAT(one.Open(), IsOk());
  ASSERT_THAT(one.ProcessElement(0, 0), IsOk());
  EXPECT_THAT(one.ExtractOutputValues(), ElementsAre(8));  // 3 + 4 + 1

  // A function that is not checkpointed refuses non-empty function state.
  struct Plain : brook::ProcessFunction<int64_t, int64_t> {
    absl::Status ProcessElement(const int64_t&, Context&, brook::Collector<int64_t>&) override {
      return absl::OkStatus();
    }
  };
  brook::testing::ProcessFunctionTestHarness<Plain> plain{Plain()};
  EXPECT_THAT(plain.RestoreFrom(old), StatusIs(absl::StatusCode::kFailedPrecondition));
  auto empty = plain.Snapshot(1);
  ASSERT_THAT(empty, IsOk());
  EXPECT_TRUE(empty->operator_state.empty());
  EXPECT_THAT(empty->key_groups, IsEmpty());
}

}  // namespace
