// File: tests/engine/incremental_checkpoint_test.cc
//
// Incremental checkpoints (CheckpointConfig::incremental, docs/checkpoints.md):
// a chain of increments restores the same keyed state and timers as a full
// snapshot, also at another parallelism; the storage loads a chain from the
// files `_metadata` names, retention keeps shared files, a damaged file in
// the middle of a chain falls back to an older complete checkpoint; end to
// end, a job cancelled after increments resumes with the right state, and a
// savepoint taken after increments restores alone. The end-to-end suites are
// named Execution* so that CI runs them under ThreadSanitizer.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "brook/brook.h"
#include "brook/checkpoint_storage.h"
#include "brook/internal/keyed_state_backend.h"
#include "brook/testing/status_matchers.h"
#include "brook/testing/test_harness.h"

using ::brook::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Lt;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAreArray;

namespace {

// ---------------------------------------------------------------------------
// Keyed state through a chain, with the harness.

struct Cmd {
  int64_t key;
  std::string op;  // "put", "del", "dump", "timer"
  int64_t value = 0;
};
int64_t KeyOf(const Cmd& c) { return c.key; }

// A value, a map, a list and a key set per key; "dump" emits them.
class ChainFn : public brook::KeyedProcessFunction<int64_t, Cmd, std::string> {
 public:
  absl::Status Open(RuntimeContext& ctx) override {
    BROOK_ASSIGN_OR_RETURN(value_, ctx.GetState(brook::ValueStateDescriptor<int64_t>("value")));
    BROOK_ASSIGN_OR_RETURN(
        map_, ctx.GetMapState(brook::MapStateDescriptor<int64_t, int64_t>("map")));
    BROOK_ASSIGN_OR_RETURN(list_, ctx.GetListState(brook::ListStateDescriptor<int64_t>("list")));
    BROOK_ASSIGN_OR_RETURN(seen_,
                           ctx.GetState(brook::ValueStateDescriptor<std::monostate>("seen")));
    return absl::OkStatus();
  }
  absl::Status ProcessElement(const Cmd& c, Context& ctx,
                              brook::Collector<std::string>& out) override {
    if (c.op == "put") {
      value_.Update(c.value);
      map_.Put(c.value % 3, c.value);
      list_.Add(c.value);
      seen_.Update({});
    } else if (c.op == "del") {
      value_.Clear();
      map_.Remove(c.value % 3);  // may leave an empty map
      list_.Clear();
    } else if (c.op == "timer") {
      ctx.timer_service().RegisterEventTimeTimer(c.value);
    } else if (c.op == "dump") {
      std::string m;
      map_.ForEach([&](const int64_t& k, const int64_t& v) { absl::StrAppend(&m, k, "=", v, ","); });
      const int64_t* v = value_.Get();
      const std::vector<int64_t>* l = list_.Get();
      out.Collect(absl::StrCat(ctx.GetCurrentKey(), " v=", v ? absl::StrCat(*v) : "-",
                               " m=", m, " l=", l ? l->size() : 0,
                               " seen=", seen_.Get() ? "y" : "n"));
    }
    return absl::OkStatus();
  }
  absl::Status OnTimer(int64_t ts, OnTimerContext& ctx,
                       brook::Collector<std::string>& out) override {
    out.Collect(absl::StrCat("timer ", ctx.GetCurrentKey(), "@", ts));
    return absl::OkStatus();
  }

 private:
  brook::ValueState<int64_t> value_;
  brook::MapState<int64_t, int64_t> map_;
  brook::ListState<int64_t> list_;
  brook::ValueState<std::monostate> seen_;
};

using Harness = brook::testing::KeyedProcessFunctionTestHarness<ChainFn>;
constexpr int kMaxParallelism = brook::kDefaultMaxParallelism;
constexpr int kKeys = 400;

std::unique_ptr<Harness> NewSubtask(int parallelism, int index,
                                    const std::vector<brook::OperatorSubtaskState>& from,
                                    int64_t checkpoint_id) {
  auto h = std::make_unique<Harness>(
      ChainFn(), KeyOf,
      brook::testing::HarnessOptions{.parallelism = parallelism, .subtask_index = index});
  if (!from.empty()) EXPECT_THAT(h->RestoreFrom(from, checkpoint_id), IsOk());
  EXPECT_THAT(h->Open(), IsOk());
  return h;
}

// Round `round` of changes: puts to some keys, deletes of others, timers.
void Change(Harness& h, int round) {
  for (int64_t k = 0; k < kKeys; ++k) {
    if ((k + round) % 5 == 0) {
      EXPECT_THAT(h.ProcessElement({k, "put", 100 * round + k}, 1000 + round), IsOk());
    }
    if ((k + round) % 11 == 0) EXPECT_THAT(h.ProcessElement({k, "del", k}, 1000 + round), IsOk());
    if ((k + round) % 37 == 0) {
      EXPECT_THAT(h.ProcessElement({k, "timer", 5000 + round}, 1000 + round), IsOk());
    }
  }
}

// Every key's dump, then every timer (watermark at the end of time).
std::vector<std::string> Finish(std::vector<std::unique_ptr<Harness>>& subtasks) {
  const int p = static_cast<int>(subtasks.size());
  for (int64_t k = 0; k < kKeys; ++k) {
    const int owner = brook::ComputeOperatorIndexForKeyGroup(
        kMaxParallelism, p, brook::AssignToKeyGroup(k, kMaxParallelism));
    EXPECT_THAT(subtasks[static_cast<size_t>(owner)]->ProcessElement({k, "dump"}, 2000), IsOk());
  }
  std::vector<std::string> out;
  for (auto& s : subtasks) {
    EXPECT_THAT(s->ProcessWatermark(10000), IsOk());
    for (auto& v : s->ExtractOutputValues()) out.push_back(std::move(v));
  }
  return out;
}

int64_t Bytes(const brook::OperatorSubtaskState& s) {
  int64_t n = 0;
  for (const auto& [kg, b] : s.key_groups) n += static_cast<int64_t>(b.size());
  return n;
}

TEST(IncrementalSnapshotTest, AChainRestoresWhatAFullSnapshotDoesAtAnyParallelism) {
  // The same input into two subtasks: one takes increments, one full snapshots.
  auto inc = NewSubtask(1, 0, {}, 0);
  auto full = NewSubtask(1, 0, {}, 0);
  std::vector<brook::OperatorSubtaskState> chain;
  int64_t base = -1;
  for (int round = 1; round <= 4; ++round) {
    Change(*inc, round);
    Change(*full, round);
    auto s = inc->SnapshotIncremental(round, round - 1, &base);
    ASSERT_THAT(s, IsOk());
    // The first has no base; then each chains on the previous one.
    EXPECT_EQ(base, round - 1);
    chain.push_back(*std::move(s));
  }
  auto reference = full->Snapshot(4);
  ASSERT_THAT(reference, IsOk());
  for (size_t i = 1; i < chain.size(); ++i) {
    EXPECT_THAT(Bytes(chain[i]), Lt(Bytes(*reference))) << "increment " << i;
  }

  std::vector<std::unique_ptr<Harness>> expected_subtasks;
  expected_subtasks.push_back(NewSubtask(1, 0, {*reference}, 4));
  const std::vector<std::string> expected = Finish(expected_subtasks);
  ASSERT_THAT(expected, SizeIs(testing::Gt(kKeys)));  // dumps and timers

  for (int p : {1, 2, 3}) {
    std::vector<std::unique_ptr<Harness>> restored;
    for (int i = 0; i < p; ++i) restored.push_back(NewSubtask(p, i, chain, 4));
    EXPECT_THAT(Finish(restored), UnorderedElementsAreArray(expected)) << "parallelism " << p;
  }
}

// Key groups restored on several threads (a full snapshot, then an
// increment with updates and removals) hold what one thread restores.
TEST(IncrementalSnapshotTest, KeyGroupsRestoredOnSeveralThreadsHoldTheSameState) {
  using Backend = brook::internal::HeapKeyedStateBackend<int64_t>;
  const brook::KeyGroupRange range{0, kMaxParallelism - 1};
  constexpr int64_t kIds = 20000;
  Backend source(range);
  int64_t key = 0;
  auto at = [&](Backend& b, int64_t k) {
    key = k;
    b.context().key = &key;
    b.context().key_group_index = brook::AssignToKeyGroup(k, kMaxParallelism) - range.start;
  };
  auto value = source.GetValueState<int64_t>("value", {});
  ASSERT_THAT(value, IsOk());
  for (int64_t k = 0; k < kIds; ++k) {
    at(source, k);
    (*value)->Update(k * 7);
  }
  // (key group, blob, increment) in the order a restore applies them.
  std::vector<std::tuple<int, std::string, bool>> blobs;
  auto capture = [&](int64_t id, int64_t base) {
    auto snap = source.CaptureSnapshot(id, true, base);
    ASSERT_THAT(snap, IsOk());
    for (int kg = range.start; kg <= range.end; ++kg) {
      if ((*snap)->Empty(kg)) continue;
      std::string blob;
      brook::DataOutputView out(&blob);
      (*snap)->WriteKeyGroup(kg, out);
      blobs.emplace_back(kg, std::move(blob), base > 0);
    }
  };
  capture(1, 0);
  for (int64_t k = 0; k < kIds; k += 3) {
    at(source, k);
    if (k % 2 == 0) {
      (*value)->Clear();
    } else {
      (*value)->Update(-k);
    }
  }
  capture(2, 1);
  std::stable_sort(blobs.begin(), blobs.end(),
                   [](const auto& a, const auto& b) { return std::get<0>(a) < std::get<0>(b); });

  for (int threads : {1, 4}) {
    Backend restored(range);
    restored.set_restore_threads(threads, /*min_bytes_per_thread=*/1);
    for (const auto& [kg, blob, delta] : blobs) {
      brook::DataInputView in(blob);
      ASSERT_THAT(restored.AddRestoredKeyGroup(kg, in, delta), IsOk());
    }
    auto v = restored.GetValueState<int64_t>("value", {});
    ASSERT_THAT(v, IsOk());
    EXPECT_THAT(restored.FinishRestore(), IsOk());
    int64_t mismatches = 0;
    for (int64_t k = 0; k < kIds; ++k) {
      at(source, k);
      const int64_t* want = (*value)->Get();
      at(restored, k);
      const int64_t* got = (*v)->Get();
      if ((want == nullptr) != (got == nullptr) || (want != nullptr && *want != *got)) {
        ++mismatches;
      }
    }
    EXPECT_EQ(mismatches, 0) << threads << " threads";
  }
}

// A StateSerializer deserialises on the subtask's thread only (brook/state.h),
// however large the state: Top-K's interns items into its subtask's
// dictionary, and its Duplicate() cannot deserialise. The camera crash test
// once failed on that ("a frozen accumulator serializer cannot restore") when
// a restore filled the window contents on two threads.
TEST(IncrementalSnapshotTest, AStateSerializerRestoresOnTheSubtasksThreadOnly) {
  class ThreadBound final : public brook::StateSerializer<int64_t> {
   public:
    explicit ThreadBound(bool duplicate) : duplicate_(duplicate) {}
    void Serialize(const int64_t& v, brook::DataOutputView& out) const override {
      out.WriteInt64(v);
    }
    absl::Status Deserialize(brook::DataInputView& in, int64_t* v) const override {
      if (duplicate_) return absl::InternalError("a duplicate cannot deserialise");
      if (std::this_thread::get_id() != owner_) {
        return absl::InternalError("deserialised on another thread");
      }
      return in.ReadInt64(v);
    }
    std::shared_ptr<const brook::StateSerializer<int64_t>> Duplicate() const override {
      return std::make_shared<ThreadBound>(true);
    }

   private:
    bool duplicate_;
    std::thread::id owner_ = std::this_thread::get_id();
  };
  using Backend = brook::internal::HeapKeyedStateBackend<int64_t>;
  const brook::KeyGroupRange range{0, kMaxParallelism - 1};
  const auto serializer = std::make_shared<ThreadBound>(false);
  int64_t key = 0;
  auto at = [&](Backend& b, int64_t k) {
    key = k;
    b.context().key = &key;
    b.context().key_group_index = brook::AssignToKeyGroup(k, kMaxParallelism);
  };
  Backend source(range);
  auto value = source.GetValueState<int64_t>("value", {}, serializer);
  ASSERT_THAT(value, IsOk());
  for (int64_t k = 0; k < 20000; ++k) {
    at(source, k);
    (*value)->Update(k * 7);
  }
  auto snap = source.CaptureSnapshot(1, /*incremental=*/true, /*base_checkpoint_id=*/0);
  ASSERT_THAT(snap, IsOk());

  Backend restored(range);
  restored.set_restore_threads(4, /*min_bytes_per_thread=*/1);
  std::vector<std::string> blobs(static_cast<size_t>(range.size()));  // viewed until restored
  for (int kg = range.start; kg <= range.end; ++kg) {
    std::string& blob = blobs[static_cast<size_t>(kg - range.start)];
    brook::DataOutputView out(&blob);
    (*snap)->WriteKeyGroup(kg, out);
    brook::DataInputView in(blob);
    ASSERT_THAT(restored.AddRestoredKeyGroup(kg, in, /*delta=*/false), IsOk());
  }
  auto v = restored.GetValueState<int64_t>("value", {}, serializer);
  ASSERT_THAT(v, IsOk());
  EXPECT_THAT(restored.FinishRestore(), IsOk());
  for (int64_t k : {int64_t{0}, int64_t{12345}, int64_t{19999}}) {
    at(restored, k);
    ASSERT_NE((*v)->Get(), nullptr) << k;
    EXPECT_EQ(*(*v)->Get(), k * 7);
  }
}

TEST(IncrementalSnapshotTest, WithoutItsBaseAnIncrementalSnapshotIsFull) {
  auto h = NewSubtask(1, 0, {}, 0);
  Change(*h, 1);
  int64_t base = -1;
  ASSERT_THAT(h->SnapshotIncremental(1, 0, &base), IsOk());
  EXPECT_EQ(base, 0);
  Change(*h, 2);
  // Checkpoint 7 was never captured here: the snapshot must be full.
  auto s = h->SnapshotIncremental(2, 7, &base);
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(base, 0);
  std::vector<std::unique_ptr<Harness>> restored;
  restored.push_back(NewSubtask(1, 0, {*s}, 2));
  auto expected = NewSubtask(1, 0, {}, 0);
  Change(*expected, 1);
  Change(*expected, 2);
  std::vector<std::unique_ptr<Harness>> e;
  e.push_back(std::move(expected));
  EXPECT_THAT(Finish(restored), UnorderedElementsAreArray(Finish(e)));
}

// ---------------------------------------------------------------------------
// The storage: chains, retention, damage.

brook::OperatorSubtaskState State(const std::string& op, const std::string& kg_bytes,
                                  const std::string& op_state) {
  brook::OperatorSubtaskState s;
  s.operator_id = op;
  s.operator_state = op_state;
  if (!kg_bytes.empty()) s.key_groups.emplace_back(3, kg_bytes);
  return s;
}

// Checkpoint `id`: a new "keyed" file on the chain `chain` (shared files of
// earlier checkpoints, owner ids set) and a full "source" file.
absl::StatusOr<std::string> WriteChained(brook::CheckpointStorage& storage, int64_t id,
                                         std::vector<brook::CheckpointMetadata::File>* chain,
                                         int retained) {
  BROOK_ASSIGN_OR_RETURN(auto keyed, storage.WriteState(id, false,
                                                        State("keyed", absl::StrCat("kg@", id),
                                                              absl::StrCat("op@", id))));
  BROOK_ASSIGN_OR_RETURN(auto source,
                         storage.WriteState(id, false, State("source", "", absl::StrCat(id))));
  brook::CheckpointMetadata m;
  m.checkpoint_id = id;
  m.max_parallelism = kMaxParallelism;
  m.files = *chain;
  m.files.push_back(keyed);
  m.files.push_back(source);
  keyed.owner_checkpoint_id = id;
  chain->push_back(keyed);
  return storage.CompleteCheckpoint(m, retained);
}

TEST(IncrementalStorageTest, AChainSurvivesRetentionAndLoadsInOrder) {
  auto storage = brook::NewInMemoryCheckpointStorage();
  std::vector<brook::CheckpointMetadata::File> chain;
  for (int64_t id = 1; id <= 4; ++id) ASSERT_THAT(WriteChained(*storage, id, &chain, 2), IsOk());
  // chk-1 and chk-2 are beyond retention: only the files chk-4 needs stay.
  EXPECT_THAT(storage->ListFilesForTesting("mem://chk-1"), ElementsAre("keyed-0"));
  EXPECT_THAT(storage->ListFilesForTesting("mem://chk-2"), ElementsAre("keyed-0"));
  EXPECT_THAT(storage->ListFilesForTesting("mem://chk-3"),
              ElementsAre("_metadata", "keyed-0", "source-0"));
  std::vector<std::string> skipped;
  auto latest = storage->LoadLatest(&skipped);
  ASSERT_THAT(latest, IsOk());
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->path, "mem://chk-4");
  ASSERT_THAT((*latest)->states, SizeIs(2));
  const brook::OperatorSubtaskState& keyed = (*latest)->states[0];
  EXPECT_EQ(keyed.operator_id, "keyed");
  EXPECT_EQ(keyed.operator_state, "op@4");  // the newest file's
  EXPECT_THAT(keyed.key_groups, ElementsAre(std::pair<int32_t, std::string>(3, "kg@1"),
                                            std::pair<int32_t, std::string>(3, "kg@2"),
                                            std::pair<int32_t, std::string>(3, "kg@3"),
                                            std::pair<int32_t, std::string>(3, "kg@4")));
  EXPECT_TRUE(skipped.empty());

  // A new full snapshot (chain restarted) releases the old chain.
  chain.clear();
  ASSERT_THAT(WriteChained(*storage, 5, &chain, 2), IsOk());
  ASSERT_THAT(WriteChained(*storage, 6, &chain, 2), IsOk());
  EXPECT_THAT(storage->ListFilesForTesting("mem://chk-1"), testing::IsEmpty());
  EXPECT_THAT(storage->ListFilesForTesting("mem://chk-4"), testing::IsEmpty());
}

TEST(IncrementalStorageTest, ADamagedFileInTheMiddleFallsBackToAnOlderCompleteCheckpoint) {
  auto storage = brook::NewInMemoryCheckpointStorage();
  std::vector<brook::CheckpointMetadata::File> chain;
  for (int64_t id = 1; id <= 4; ++id) ASSERT_THAT(WriteChained(*storage, id, &chain, 3), IsOk());
  ASSERT_THAT(storage->CorruptForTesting("mem://chk-3", "keyed-0", 60), IsOk());
  std::vector<std::string> skipped;
  auto latest = storage->LoadLatest(&skipped);
  ASSERT_THAT(latest, IsOk());
  ASSERT_TRUE(latest->has_value());
  // chk-4 and chk-3 need chk-3's file; chk-2 (chk-1 + an increment) does not.
  EXPECT_EQ((*latest)->path, "mem://chk-2");
  ASSERT_THAT(skipped, SizeIs(2));
  EXPECT_THAT(skipped[0], HasSubstr("mem://chk-4: chk-3/keyed-0: "));
  EXPECT_THAT(skipped[1], HasSubstr("mem://chk-3: keyed-0: "));
  EXPECT_THAT((*latest)->states[0].key_groups, SizeIs(2));

  // A missing file likewise.
  ASSERT_THAT(storage->RemoveForTesting("mem://chk-1", "keyed-0"), IsOk());
  skipped.clear();
  latest = storage->LoadLatest(&skipped);
  ASSERT_THAT(latest, IsOk());
  EXPECT_FALSE(latest->has_value());
  // chk-1 is beyond retention (no `_metadata`): chk-2 was the last to need it.
  ASSERT_THAT(skipped, SizeIs(4));
  EXPECT_THAT(skipped[2], HasSubstr("mem://chk-2: chk-1/keyed-0: missing file"));
}

// ---------------------------------------------------------------------------
// End to end: Numbers -> paced Map -> KeyBy(x % kIds) counting -> CollectSink.

constexpr int64_t kRecords = 30000;
constexpr int64_t kIds = 3000;

struct Seen {
  int64_t index;
  int64_t count;  // occurrences of the key up to and including this one
};

class CountFn : public brook::KeyedProcessFunction<int64_t, int64_t, std::string> {
 public:
  absl::Status Open(RuntimeContext& ctx) override {
    BROOK_ASSIGN_OR_RETURN(count_, ctx.GetState(brook::ValueStateDescriptor<int64_t>("count")));
    return absl::OkStatus();
  }
  absl::Status ProcessElement(const int64_t& x, Context&,
                              brook::Collector<std::string>& out) override {
    const int64_t* c = count_.Get();
    const int64_t n = (c == nullptr ? 0 : *c) + 1;
    count_.Update(n);
    out.Collect(absl::StrCat(x, ":", n));
    return absl::OkStatus();
  }

 private:
  brook::ValueState<int64_t> count_;
};

brook::ExecutionConfig Config(std::shared_ptr<brook::CheckpointStorage> storage, int p) {
  brook::ExecutionConfig config;
  config.parallelism = 1;
  config.batch_size = 16;
  config.channel_capacity = 2;
  config.checkpoint.interval = absl::Milliseconds(5);
  config.checkpoint.storage = std::move(storage);
  config.checkpoint.incremental = true;
  config.checkpoint.max_increments = 1000;  // no materialisation while a test runs
  config.checkpoint.retained = 2;
  (void)p;
  return config;
}

std::shared_ptr<brook::CollectSink<std::string>> Build(brook::StreamExecutionEnvironment& env,
                                                       int parallelism, int pace_us) {
  std::vector<int64_t> values(kRecords);
  for (int64_t i = 0; i < kRecords; ++i) values[i] = i;
  auto sink = std::make_shared<brook::CollectSink<std::string>>();
  env.FromCollection(values, brook::WatermarkStrategy<int64_t>::NoWatermarks(), "Numbers")
      .Map(
          [pace_us](int64_t x) {
            if (pace_us > 0 && x % 16 == 0) {
              std::this_thread::sleep_for(std::chrono::microseconds(16 * pace_us));
            }
            return x;
          },
          "Pace")
      .KeyBy([](const int64_t& x) { return x % kIds; })
      .Process(CountFn(), "Count")
      .SetParallelism(parallelism)
      .SinkTo(sink, "Collect");
  return sink;
}

int64_t Metric(brook::StreamExecutionEnvironment& env, const std::string& name) {
  return env.metrics().Sum(name, "checkpoint").value_or(-1);
}

template <typename F>
bool WaitFor(F done) {
  for (int i = 0; i < 30000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return done();
}

// Every output is the uninterrupted run's for its record ("x:count", where
// count = x / kIds + 1); returns the lowest record seen (kRecords if none)
// and checks that every record from it on was seen exactly once.
int64_t CheckResumed(const std::vector<std::string>& out) {
  std::map<int64_t, int> seen;
  for (const auto& line : out) {
    const size_t colon = line.find(':');
    const int64_t x = std::stoll(line.substr(0, colon));
    EXPECT_EQ(line, absl::StrCat(x, ":", x / kIds + 1));
    ++seen[x];
  }
  if (seen.empty()) return kRecords;
  const int64_t first = seen.begin()->first;
  EXPECT_EQ(static_cast<int64_t>(seen.size()), kRecords - first);
  for (const auto& [x, n] : seen) EXPECT_EQ(n, 1) << x;
  return first;
}

// Runs until a checkpoint with increments completed (and a savepoint was
// taken, when `savepoint` is set), then cancels.
void RunAndCancel(std::shared_ptr<brook::CheckpointStorage> storage, int parallelism,
                  bool restore, std::string* savepoint) {
  brook::ExecutionConfig config = Config(storage, parallelism);
  if (restore) config.checkpoint.restore = brook::CheckpointConfig::Restore::kLatest;
  brook::StreamExecutionEnvironment env(config);
  Build(env, parallelism, 40);
  absl::Status status;
  std::thread runner([&] { status = env.Execute("incremental"); });
  EXPECT_TRUE(WaitFor([&] { return Metric(env, "last_checkpoint_chain_length") >= 2; }));
  if (savepoint != nullptr) {
    auto path = env.TriggerSavepoint();
    EXPECT_THAT(path, IsOk());
    if (path.ok()) *savepoint = *path;
  }
  EXPECT_TRUE(WaitFor([&] { return Metric(env, "checkpoints_completed") >= 4; }));
  env.Cancel();
  runner.join();
  EXPECT_TRUE(absl::IsCancelled(status)) << status;
  // The increments were smaller than what a restore reads (a savepoint is
  // full: it may be the last).
  if (savepoint == nullptr) {
    EXPECT_LT(Metric(env, "last_checkpoint_size_bytes"),
              Metric(env, "last_checkpoint_full_size_bytes"));
  }
}

TEST(ExecutionIncrementalCheckpoint, ResumesFromAChainAtTheSameAndAnotherParallelism) {
  for (int p : {1, 2}) {
    SCOPED_TRACE(absl::StrCat("restore at parallelism ", p));
    std::shared_ptr<brook::InMemoryCheckpointStorage> storage =
        brook::NewInMemoryCheckpointStorage();
    RunAndCancel(storage, 2, /*restore=*/false, nullptr);
    // The newest checkpoint names files of earlier ones.
    auto latest = storage->LoadLatest(nullptr);
    ASSERT_THAT(latest, IsOk());
    ASSERT_TRUE(latest->has_value());
    bool shared = false;
    for (const auto& f : (*latest)->metadata.files) shared |= f.owner_checkpoint_id != 0;
    EXPECT_TRUE(shared);

    brook::ExecutionConfig config = Config(storage, p);
    config.checkpoint.restore = brook::CheckpointConfig::Restore::kLatest;
    brook::StreamExecutionEnvironment env(config);
    auto sink = Build(env, p, 0);
    ASSERT_THAT(env.Execute("resumed"), IsOk());
    EXPECT_THAT(env.restored_from(), HasSubstr("mem://chk-"));
    EXPECT_GT(CheckResumed(sink->values()), 0);
  }
}

// A restarted job's first checkpoint is an increment on the restored one
// even when that chain is due for materialisation, so that a job killed
// before a full snapshot could complete still moves on; its next one is
// full.
TEST(ExecutionIncrementalCheckpoint, RestartsChainPastMaterialisationUntilOneCompletes) {
  std::shared_ptr<brook::InMemoryCheckpointStorage> storage =
      brook::NewInMemoryCheckpointStorage();
  // Runs (restoring the newest checkpoint after the first) until `completed`
  // checkpoints completed, then cancels (from the listener, so that no later
  // checkpoint completes); returns the id of its first.
  struct CancelAfter : brook::JobListener {
    CancelAfter(brook::StreamExecutionEnvironment* env, int n) : env(env), left(n) {}
    void OnCheckpointCompleted(const brook::CompletedCheckpoint&) override {
      if (--left == 0) env->Cancel();
    }
    brook::StreamExecutionEnvironment* env;
    int left;
  };
  auto run = [&](bool restore, int completed) {
    auto latest = storage->LatestCheckpointId();
    EXPECT_THAT(latest, IsOk());
    brook::ExecutionConfig config = Config(storage, 1);
    // Longer than a checkpoint takes here (about 150 ms, behind the paced
    // records): none is due when the run is cancelled.
    config.checkpoint.interval = absl::Milliseconds(400);
    config.checkpoint.max_increments = 1;
    config.checkpoint.retained = 100;
    if (restore) config.checkpoint.restore = brook::CheckpointConfig::Restore::kLatest;
    brook::StreamExecutionEnvironment env(config);
    env.RegisterJobListener(std::make_shared<CancelAfter>(&env, completed));
    Build(env, 1, 150);  // 4.5 s of input: more than the runs take
    EXPECT_TRUE(absl::IsCancelled(env.Execute("restarts")));
    return latest.value_or(0) + 1;
  };
  // Increments on the full snapshot in checkpoint `id`'s longest chain.
  auto chain_length = [&](int64_t id) {
    auto loaded = storage->Load(absl::StrCat("mem://chk-", id));
    EXPECT_THAT(loaded, IsOk());
    if (!loaded.ok()) return -1;
    std::map<std::pair<std::string, int>, int> files;
    int longest = 0;
    for (const auto& f : loaded->metadata.files) {
      longest = std::max(longest, ++files[{f.operator_id, f.subtask_index}]);
    }
    return longest - 1;
  };
  EXPECT_EQ(chain_length(run(/*restore=*/false, 1)), 0);  // the first checkpoint is full
  // A restart's first checkpoint adds an increment to the chain it restored,
  // past max_increments (1).
  int longest = 0;
  for (int restart = 1; restart <= 4; ++restart) {
    const int restored = chain_length(*storage->LatestCheckpointId());
    const int chain = chain_length(run(/*restore=*/true, 1));
    EXPECT_EQ(chain, restored + 1) << "restart " << restart;
    longest = std::max(longest, chain);
  }
  EXPECT_GE(longest, 2);  // past max_increments
  // Once a restarted run has completed a checkpoint, the next materialises.
  const int restored = chain_length(*storage->LatestCheckpointId());
  const int64_t first = run(/*restore=*/true, 2);
  EXPECT_EQ(chain_length(first), restored + 1);
  EXPECT_EQ(chain_length(first + 1), 0);
  brook::ExecutionConfig config = Config(storage, 1);
  config.checkpoint.restore = brook::CheckpointConfig::Restore::kLatest;
  brook::StreamExecutionEnvironment env(config);
  auto sink = Build(env, 1, 0);
  ASSERT_THAT(env.Execute("finished"), IsOk());
  EXPECT_GT(CheckResumed(sink->values()), 0);
}

// The periodic trigger starts once every subtask has opened its chain
// (restored its state), as Flink triggers nothing while a task is
// INITIALIZING: a slow restore does not eat the first interval, so the first
// checkpoint covers an interval of processing.
TEST(ExecutionCheckpoint, FirstCheckpointComesAnIntervalAfterEverySubtaskOpened) {
  using Clock = std::chrono::steady_clock;
  static std::atomic<int64_t> opened_ns{0};
  struct SlowOpen : brook::KeyedProcessFunction<int64_t, int64_t, std::string> {
    absl::Status Open(RuntimeContext&) override {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      opened_ns = Clock::now().time_since_epoch().count();
      return absl::OkStatus();
    }
    absl::Status ProcessElement(const int64_t& x, Context&,
                                brook::Collector<std::string>& out) override {
      out.Collect(absl::StrCat(x));
      return absl::OkStatus();
    }
  };
  struct FirstCompleted : brook::JobListener {
    void OnCheckpointCompleted(const brook::CompletedCheckpoint&) override {
      int64_t expected = 0;
      at_ns.compare_exchange_strong(expected, Clock::now().time_since_epoch().count());
    }
    std::atomic<int64_t> at_ns{0};
  };
  brook::ExecutionConfig config = Config(brook::NewInMemoryCheckpointStorage(), 1);
  config.checkpoint.interval = absl::Milliseconds(100);
  brook::StreamExecutionEnvironment env(config);
  auto first = std::make_shared<FirstCompleted>();
  env.RegisterJobListener(first);
  std::vector<int64_t> values(kRecords);
  for (int64_t i = 0; i < kRecords; ++i) values[i] = i;
  env.FromCollection(values, brook::WatermarkStrategy<int64_t>::NoWatermarks(), "Numbers")
      .Map(
          [](int64_t x) {
            if (x % 16 == 0) std::this_thread::sleep_for(std::chrono::microseconds(16 * 40));
            return x;
          },
          "Pace")
      .KeyBy([](const int64_t& x) { return x % kIds; })
      .Process(SlowOpen(), "SlowOpen")
      .SinkTo(std::make_shared<brook::CollectSink<std::string>>(), "Collect");
  ASSERT_THAT(env.Execute("slow-open"), IsOk());
  ASSERT_GT(first->at_ns.load(), 0) << "no checkpoint completed";
  EXPECT_GE(std::chrono::nanoseconds(first->at_ns - opened_ns), std::chrono::milliseconds(100));
}

TEST(ExecutionIncrementalCheckpoint, ASavepointAfterIncrementsRestoresAlone) {
  std::shared_ptr<brook::InMemoryCheckpointStorage> storage =
      brook::NewInMemoryCheckpointStorage();
  // A restored run goes on chaining on the checkpoint it restored.
  RunAndCancel(storage, 1, /*restore=*/false, nullptr);
  std::string savepoint;
  RunAndCancel(storage, 1, /*restore=*/true, &savepoint);
  ASSERT_THAT(savepoint, HasSubstr("mem://savepoint-"));
  auto loaded = storage->Load(savepoint);
  ASSERT_THAT(loaded, IsOk());
  for (const auto& f : loaded->metadata.files) EXPECT_EQ(f.owner_checkpoint_id, 0) << f.name;
  // Every checkpoint's files gone: the savepoint is self-contained.
  auto latest_id = storage->LatestCheckpointId();
  ASSERT_THAT(latest_id, IsOk());
  for (int64_t id = 1; id <= *latest_id; ++id) {
    const std::string dir = absl::StrCat("mem://chk-", id);
    for (const auto& f : storage->ListFilesForTesting(dir)) {
      ASSERT_THAT(storage->RemoveForTesting(dir, f), IsOk());
    }
  }
  brook::ExecutionConfig config = Config(storage, 2);
  config.checkpoint.restore = brook::CheckpointConfig::Restore::kPath;
  config.checkpoint.restore_path = savepoint;
  brook::StreamExecutionEnvironment env(config);
  auto sink = Build(env, 2, 0);
  ASSERT_THAT(env.Execute("from-savepoint"), IsOk());
  EXPECT_GT(CheckResumed(sink->values()), 0);
}

}  // namespace
