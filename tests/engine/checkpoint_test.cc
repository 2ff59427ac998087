// File: tests/engine/checkpoint_test.cc
//
// The checkpoint runtime (DESIGN.md §7): barrier alignment, the coordinator,
// two-phase-commit sinks, savepoints and restore (also at another
// parallelism). The storage is a small in-memory fake defined here, so that
// these tests depend only on the CheckpointStorage interface. The suites are
// named ExecutionCheckpoint* so that CI runs them under ThreadSanitizer with
// the other multi-threaded suites (--gtest_filter='Execution*').
//
// No assertion depends on timing: waits poll a condition with a generous
// deadline; a paced operator only makes it likely that a run is cancelled
// mid-way, and the tests check that it was.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "brook/brook.h"
#include "brook/checkpoint_storage.h"
#include "brook/job_listener.h"
#include "brook/serialization.h"
#include "brook/testing/status_matchers.h"

using ::brook::testing::IsOk;
using ::brook::testing::StatusIs;
using ::testing::Not;

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

template <typename T>
std::vector<T> Sorted(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Polls `done` every millisecond for up to 30 s.
template <typename F>
bool WaitFor(F done) {
  for (int i = 0; i < 30000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return done();
}

// ---------------------------------------------------------------------------
// A fake CheckpointStorage: everything in memory, no framing. A checkpoint is
// complete once CompleteCheckpoint ran; MarkCorrupt makes LoadLatest skip one.
class FakeStorage final : public brook::CheckpointStorage {
 public:
  absl::StatusOr<brook::CheckpointMetadata::File> WriteState(
      int64_t id, bool savepoint, const brook::OperatorSubtaskState& state) override {
    absl::MutexLock lock(&mu_);
    latest_ = std::max(latest_, id);
    pending_[{id, savepoint}].push_back(state);
    brook::CheckpointMetadata::File f;
    f.name = absl::StrCat(state.operator_id, "-", state.subtask_index);
    f.operator_id = state.operator_id;
    f.subtask_index = state.subtask_index;
    f.parallelism = state.parallelism;
    f.size_bytes = static_cast<int64_t>(state.operator_state.size());
    for (const auto& [kg, bytes] : state.key_groups) f.size_bytes += 4 + bytes.size();
    return f;
  }
  absl::StatusOr<std::string> CompleteCheckpoint(const brook::CheckpointMetadata& metadata,
                                                 int retained) override {
    absl::MutexLock lock(&mu_);
    const std::string path = Path(metadata.checkpoint_id, metadata.savepoint);
    brook::RestoredCheckpoint c;
    c.path = path;
    c.metadata = metadata;
    c.states = std::move(pending_[{metadata.checkpoint_id, metadata.savepoint}]);
    pending_.erase({metadata.checkpoint_id, metadata.savepoint});
    if (c.states.size() != metadata.files.size()) {
      return absl::InternalError("metadata and files disagree");
    }
    complete_[path] = std::move(c);
    completed_ids_.push_back(metadata.checkpoint_id);
    // Retention: the newest `retained` checkpoints; savepoints are kept.
    std::vector<int64_t> ids;
    for (const auto& [p, chk] : complete_) {
      if (!chk.metadata.savepoint) ids.push_back(chk.metadata.checkpoint_id);
    }
    std::sort(ids.rbegin(), ids.rend());
    for (size_t i = static_cast<size_t>(retained); i < ids.size(); ++i) {
      complete_.erase(Path(ids[i], false));
    }
    return path;
  }
  absl::Status AbortCheckpoint(int64_t id, bool savepoint) override {
    absl::MutexLock lock(&mu_);
    pending_.erase({id, savepoint});
    ++aborted_;
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<brook::RestoredCheckpoint>> LoadLatest(
      std::vector<std::string>* skipped) override {
    absl::MutexLock lock(&mu_);
    const brook::RestoredCheckpoint* best = nullptr;
    std::vector<const brook::RestoredCheckpoint*> all;
    for (const auto& [p, chk] : complete_) {
      if (!chk.metadata.savepoint) all.push_back(&chk);
    }
    std::sort(all.begin(), all.end(), [](const auto* a, const auto* b) {
      return a->metadata.checkpoint_id > b->metadata.checkpoint_id;
    });
    for (const auto* c : all) {
      if (corrupt_.count(c->path) > 0) {
        if (skipped != nullptr) skipped->push_back(absl::StrCat(c->path, ": corrupt"));
        continue;
      }
      best = c;
      break;
    }
    if (best == nullptr) return std::nullopt;
    return *best;
  }
  absl::StatusOr<brook::RestoredCheckpoint> Load(const std::string& path) override {
    absl::MutexLock lock(&mu_);
    auto it = complete_.find(path);
    if (it == complete_.end()) return absl::NotFoundError(absl::StrCat(path, ": no _metadata"));
    return it->second;
  }
  absl::StatusOr<int64_t> LatestCheckpointId() override {
    absl::MutexLock lock(&mu_);
    return latest_;
  }

  // For tests.
  bool IsComplete(int64_t id) {
    absl::MutexLock lock(&mu_);
    return std::find(completed_ids_.begin(), completed_ids_.end(), id) != completed_ids_.end();
  }
  void Put(brook::RestoredCheckpoint c) {
    absl::MutexLock lock(&mu_);
    latest_ = std::max(latest_, c.metadata.checkpoint_id);
    complete_[c.path] = std::move(c);
  }
  void MarkCorrupt(const std::string& path) {
    absl::MutexLock lock(&mu_);
    corrupt_.insert(path);
  }
  std::vector<std::string> OperatorIds(const std::string& path) {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> ids;
    auto it = complete_.find(path);
    if (it == complete_.end()) return ids;
    for (const auto& s : it->second.states) ids.push_back(s.operator_id);
    return Sorted(ids);
  }
  static std::string Path(int64_t id, bool savepoint) {
    return absl::StrCat(savepoint ? "fake://savepoint-" : "fake://chk-", id);
  }

 private:
  absl::Mutex mu_;
  int64_t latest_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::pair<int64_t, bool>, std::vector<brook::OperatorSubtaskState>> pending_
      ABSL_GUARDED_BY(mu_);
  std::map<std::string, brook::RestoredCheckpoint> complete_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> completed_ids_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> corrupt_ ABSL_GUARDED_BY(mu_);
  int aborted_ ABSL_GUARDED_BY(mu_) = 0;
};

// ---------------------------------------------------------------------------
// A two-phase-commit sink over a shared "external system": what a writer
// writes stays in its open transaction; SnapshotState pre-commits it as
// transaction "<subtask>-<checkpoint>"; NotifyCheckpointComplete(n) commits
// the writer's transactions up to n; RestoreState commits the restored
// transactions and discards every other pending one of this subtask. Only
// committed values are visible. A commit for a checkpoint that the storage
// does not hold as complete is counted as a violation.
class TwoPhaseStore {
 public:
  explicit TwoPhaseStore(FakeStorage* storage) : storage_(storage) {}

  std::vector<int64_t> committed() {
    absl::MutexLock lock(&mu_);
    return committed_;
  }
  int violations() {
    absl::MutexLock lock(&mu_);
    return violations_;
  }
  int64_t pending_values() {
    absl::MutexLock lock(&mu_);
    int64_t n = 0;
    for (const auto& [txn, values] : pending_) n += static_cast<int64_t>(values.size());
    return n;
  }

  void PreCommit(const std::string& txn, std::vector<int64_t> values) {
    absl::MutexLock lock(&mu_);
    pending_[txn] = std::move(values);
  }
  // `checked`: the commit follows a completed checkpoint (not end of input).
  void Commit(const std::string& txn, bool checked) {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(txn);
    if (it == pending_.end()) return;  // already committed (idempotent)
    if (checked && !storage_->IsComplete(CheckpointOf(txn))) ++violations_;
    committed_.insert(committed_.end(), it->second.begin(), it->second.end());
    pending_.erase(it);
  }
  void CommitDirect(const std::vector<int64_t>& values) {
    absl::MutexLock lock(&mu_);
    committed_.insert(committed_.end(), values.begin(), values.end());
  }
  // Discards the pending transactions of old subtasks j with j % p == subtask.
  void DiscardPending(int subtask, int parallelism) {
    absl::MutexLock lock(&mu_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (OwnerOf(it->first) % parallelism == subtask) {
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  static int64_t CheckpointOf(const std::string& txn) {
    return std::stoll(txn.substr(txn.find('-') + 1));
  }
  static int OwnerOf(const std::string& txn) { return std::stoi(txn.substr(0, txn.find('-'))); }

 private:
  FakeStorage* storage_;
  absl::Mutex mu_;
  std::map<std::string, std::vector<int64_t>> pending_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> committed_ ABSL_GUARDED_BY(mu_);
  int violations_ ABSL_GUARDED_BY(mu_) = 0;
};

class TwoPhaseSink final : public brook::Sink<int64_t> {
 public:
  explicit TwoPhaseSink(std::shared_ptr<TwoPhaseStore> store) : store_(std::move(store)) {}
  absl::StatusOr<std::unique_ptr<brook::SinkWriter<int64_t>>> CreateWriter(
      const brook::SinkWriterContext& ctx) override {
    return std::unique_ptr<brook::SinkWriter<int64_t>>(
        new Writer(store_, ctx.subtask_index, ctx.parallelism));
  }

 private:
  class Writer final : public brook::SinkWriter<int64_t> {
   public:
    Writer(std::shared_ptr<TwoPhaseStore> store, int subtask, int parallelism)
        : store_(std::move(store)), subtask_(subtask), parallelism_(parallelism) {}
    absl::Status Write(std::vector<brook::StreamRecord<int64_t>>& batch) override {
      for (const auto& r : batch) open_.push_back(r.value);
      return absl::OkStatus();
    }
    absl::StatusOr<std::string> SnapshotState(int64_t checkpoint_id) override {
      const std::string txn = absl::StrCat(subtask_, "-", checkpoint_id);
      store_->PreCommit(txn, std::exchange(open_, {}));
      pre_committed_.push_back(txn);
      return brook::SerializeToString(pre_committed_);
    }
    absl::Status NotifyCheckpointComplete(int64_t checkpoint_id) override {
      std::vector<std::string> rest;
      for (const auto& txn : pre_committed_) {
        if (TwoPhaseStore::CheckpointOf(txn) <= checkpoint_id) {
          store_->Commit(txn, /*checked=*/true);
        } else {
          rest.push_back(txn);
        }
      }
      pre_committed_ = std::move(rest);
      return absl::OkStatus();
    }
    absl::Status Flush() override {
      for (const auto& txn : pre_committed_) store_->Commit(txn, /*checked=*/false);
      pre_committed_.clear();
      store_->CommitDirect(std::exchange(open_, {}));
      return absl::OkStatus();
    }
    absl::Status RestoreState(std::vector<std::string> states) override {
      for (const auto& s : states) {
        std::vector<std::string> txns;
        BROOK_RETURN_IF_ERROR(brook::DeserializeFromString(s, &txns));
        for (const auto& txn : txns) store_->Commit(txn, /*checked=*/true);
      }
      store_->DiscardPending(subtask_, parallelism_);
      return absl::OkStatus();
    }

   private:
    std::shared_ptr<TwoPhaseStore> store_;
    int subtask_;
    int parallelism_;
    std::vector<int64_t> open_;
    std::vector<std::string> pre_committed_;
  };
  std::shared_ptr<TwoPhaseStore> store_;
};

// The checkpoint coordinator's metric `name`; -1 until it has registered it.
int64_t Metric(brook::StreamExecutionEnvironment& env, const std::string& name) {
  return env.metrics().Sum(name, "checkpoint").value_or(-1);
}

// ---------------------------------------------------------------------------
// Barrier alignment, driving an InputSubtask directly.

// Records what reaches it: values, and "S<n>" at each snapshot.
class RecordingOperator final : public brook::internal::OneInputOperator<int64_t> {
 public:
  absl::Status ProcessBatch(std::vector<brook::StreamRecord<int64_t>>& batch) override {
    for (const auto& r : batch) events.push_back(std::to_string(r.value));
    return absl::OkStatus();
  }
  absl::StatusOr<brook::internal::AsyncSnapshot> SnapshotState(int64_t id) override {
    events.push_back(absl::StrCat("S", id));
    return brook::internal::AsyncSnapshot();
  }
  std::vector<std::string> events;
};

class RecordingListener final : public brook::internal::CheckpointListener {
 public:
  void Acknowledge(int task, int64_t id, std::vector<brook::internal::AsyncSnapshot> snapshots,
                   brook::internal::SubtaskCheckpointStats) override {
    absl::MutexLock lock(&mu);
    acks.push_back({task, id, snapshots.size()});
  }
  void Decline(int, int64_t id, absl::Status) override {
    absl::MutexLock lock(&mu);
    declines.push_back(id);
  }
  struct Ack {
    int task;
    int64_t id;
    size_t snapshots;
  };
  absl::Mutex mu;
  std::vector<Ack> acks;
  std::vector<int64_t> declines;
};

using Gate = brook::internal::InputGate<int64_t>;
using Element = brook::internal::ChannelElement<int64_t>;

Element Records(std::vector<int64_t> values) {
  Element e;
  for (int64_t v : values) e.records.push_back(brook::StreamRecord<int64_t>{0, v});
  return e;
}
Element Barrier(int64_t id) {
  Element e;
  e.kind = Element::Kind::kBarrier;
  e.checkpoint_id = id;
  return e;
}
Element End() {
  Element e;
  e.kind = Element::Kind::kEndOfInput;
  return e;
}

// Runs an InputSubtask over `channels` (every element queued up front) and
// returns what its head saw.
std::vector<std::string> RunAligned(std::vector<std::vector<Element>> channels,
                                    RecordingListener* listener) {
  auto gate = std::make_unique<Gate>(static_cast<int>(channels.size()), 64);
  for (size_t c = 0; c < channels.size(); ++c) {
    for (auto& e : channels[c]) EXPECT_TRUE(gate->Push(static_cast<int>(c), std::move(e), nullptr));
  }
  auto head = std::make_unique<RecordingOperator>();
  RecordingOperator* h = head.get();
  head->Setup(brook::internal::OperatorSetup{"job", "Recording", 0, 1, 128, nullptr, nullptr});
  brook::internal::InputSubtask<int64_t> subtask(std::move(gate), h);
  subtask.operators.push_back(std::move(head));
  subtask.set_checkpoint_listener(listener, 7);
  EXPECT_THAT(subtask.Run(), IsOk());
  return h->events;
}

TEST(ExecutionCheckpointAlignment, RecordsAfterABarrierWaitForTheSnapshot) {
  RecordingListener listener;
  // Channel 0 delivers barrier 1 early, channel 1 late. Without alignment
  // the round-robin reader would process 2 and 3 before the snapshot.
  std::vector<std::vector<Element>> ch(2);
  ch[0].push_back(Records({1}));
  ch[0].push_back(Barrier(1));
  ch[0].push_back(Records({2}));
  ch[0].push_back(Records({3}));
  ch[0].push_back(End());
  ch[1].push_back(Records({10}));
  ch[1].push_back(Records({11}));
  ch[1].push_back(Records({12}));
  ch[1].push_back(Barrier(1));
  ch[1].push_back(Records({13}));
  ch[1].push_back(End());
  std::vector<std::string> events = RunAligned(std::move(ch), &listener);
  auto snapshot = std::find(events.begin(), events.end(), "S1");
  ASSERT_NE(snapshot, events.end());
  std::vector<std::string> before(events.begin(), snapshot);
  std::vector<std::string> after(snapshot + 1, events.end());
  EXPECT_EQ(Sorted(before), Sorted(std::vector<std::string>{"1", "10", "11", "12"}));
  EXPECT_EQ(Sorted(after), Sorted(std::vector<std::string>{"13", "2", "3"}));
  ASSERT_EQ(listener.acks.size(), 1u);
  EXPECT_EQ(listener.acks[0].task, 7);
  EXPECT_EQ(listener.acks[0].id, 1);
  EXPECT_EQ(listener.acks[0].snapshots, 1u);
}

TEST(ExecutionCheckpointAlignment, AChannelThatEndsCountsAsAligned) {
  RecordingListener listener;
  std::vector<std::vector<Element>> ch(2);
  ch[0].push_back(Records({1}));
  ch[0].push_back(Barrier(4));
  ch[0].push_back(Records({2}));
  ch[0].push_back(End());
  ch[1].push_back(Records({10}));
  ch[1].push_back(Records({11}));
  ch[1].push_back(End());
  std::vector<std::string> events = RunAligned(std::move(ch), &listener);
  auto snapshot = std::find(events.begin(), events.end(), "S4");
  ASSERT_NE(snapshot, events.end());
  EXPECT_EQ(Sorted(std::vector<std::string>(events.begin(), snapshot)),
            Sorted(std::vector<std::string>{"1", "10", "11"}));
  EXPECT_THAT(std::vector<std::string>(snapshot + 1, events.end()), ElementsAre("2"));
  ASSERT_EQ(listener.acks.size(), 1u);
  EXPECT_EQ(listener.acks[0].id, 4);
}

TEST(ExecutionCheckpointAlignment, ANewerBarrierAbandonsAnOlderAlignment) {
  RecordingListener listener;
  std::vector<std::vector<Element>> ch(2);
  ch[0].push_back(Barrier(1));
  ch[0].push_back(Barrier(2));
  ch[0].push_back(Records({1}));
  ch[0].push_back(End());
  ch[1].push_back(Records({10}));
  ch[1].push_back(Barrier(2));  // checkpoint 1 never came on this channel
  ch[1].push_back(Records({11}));
  ch[1].push_back(End());
  // Channel 0 is blocked after barrier 1, so its barrier 2 is read only
  // once alignment 1 is abandoned... which needs barrier 2 from channel 1.
  // Channel 1's barrier 2 restarts alignment at 2 (blocking channel 1);
  // then channel 0's barrier 2 completes it.
  std::vector<std::string> events = RunAligned(std::move(ch), &listener);
  EXPECT_EQ(std::count(events.begin(), events.end(), "S1"), 0);
  auto snapshot = std::find(events.begin(), events.end(), "S2");
  ASSERT_NE(snapshot, events.end());
  EXPECT_THAT(std::vector<std::string>(events.begin(), snapshot), ElementsAre("10"));
  EXPECT_EQ(Sorted(std::vector<std::string>(snapshot + 1, events.end())),
            Sorted(std::vector<std::string>{"1", "11"}));
}

// ---------------------------------------------------------------------------
// End to end: CollectionSource -> paced Map (parallelism 2, rebalanced) ->
// two-phase-commit sink, with periodic checkpoints.

constexpr int kValues = 6000;

std::vector<int64_t> Values() {
  std::vector<int64_t> v(kValues);
  for (int i = 0; i < kValues; ++i) v[i] = i;
  return v;
}
std::vector<int64_t> Expected() {
  std::vector<int64_t> v;
  for (int64_t x : Values()) v.push_back(x * 3 + 1);
  return v;
}

brook::ExecutionConfig PipelineConfig(std::shared_ptr<FakeStorage> storage) {
  brook::ExecutionConfig config;
  config.parallelism = 2;
  // Small batches and channels: a barrier is never far behind the source.
  config.batch_size = 16;
  config.channel_capacity = 2;
  config.checkpoint.interval = absl::Milliseconds(5);
  config.checkpoint.storage = std::move(storage);
  return config;
}

// `pace_us`: each map call sleeps this long (0: none), so that a run lasts
// long enough to be checkpointed and cancelled; `seen` counts map calls.
void BuildPipeline(brook::StreamExecutionEnvironment& env, std::shared_ptr<TwoPhaseStore> store,
                   int pace_us, std::shared_ptr<std::atomic<int64_t>> seen) {
  env.FromCollection(Values(), brook::WatermarkStrategy<int64_t>::NoWatermarks(), "Numbers")
      .Map(
          [pace_us, seen](int64_t x) {
            seen->fetch_add(1);
            if (pace_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(pace_us));
            return x * 3 + 1;
          },
          "Triple")
      .SinkTo(std::make_shared<TwoPhaseSink>(store), "Committed");
}

// A diamond over two bounded sources, as the camera job's dead letters:
// source subtask 1 sends its records straight to a subtask that also reads
// source subtask 0's records through a keyed exchange. Source 1 is far ahead
// in event time, so its direct channel is paused there (watermark
// alignment), fills, and blocks it. Barrier n from source 0 then reaches
// that subtask directly, and the keyed path waits for barrier n from source
// 1, whose checkpoint trigger waits behind its blocked push. The job ends
// only if the subtask reads its paused channels while it aligns
// (input_alignment.h).
TEST(ExecutionCheckpointAlignment, ADiamondOverTwoSourcesDoesNotDeadlock) {
  constexpr int64_t kPerSource = 5000;
  std::vector<int64_t> values(2 * kPerSource);
  for (int64_t i = 0; i < 2 * kPerSource; ++i) values[i] = i;
  auto storage = std::make_shared<FakeStorage>();
  brook::ExecutionConfig config = PipelineConfig(storage);
  config.checkpoint.interval = absl::Milliseconds(1);
  brook::StreamExecutionEnvironment env(config);
  // A CollectionSource at parallelism 2 (FromCollection would be one
  // subtask): subtask 0 reads the even values, subtask 1 the odd ones, a day
  // ahead in event time.
  auto strategy = brook::WatermarkStrategy<int64_t>::ForMonotonousTimestamps()
                      .WithTimestampAssigner([](int64_t v) { return v + (v % 2) * 86'400'000; })
                      .WithRecordsPerWatermark(4);
  const brook::OutputTag<int64_t> direct("direct");
  class Split final : public brook::ProcessFunction<int64_t, int64_t> {
   public:
    explicit Split(brook::OutputTag<int64_t> tag) : tag_(std::move(tag)) {}
    absl::Status ProcessElement(const int64_t& v, Context& ctx,
                                brook::Collector<int64_t>& out) override {
      if (v % 2 == 1) {
        ctx.Output(tag_, v);
      } else {
        out.Collect(v);
      }
      return absl::OkStatus();
    }

   private:
    brook::OutputTag<int64_t> tag_;
  };
  class Forward final : public brook::KeyedProcessFunction<int64_t, int64_t, int64_t> {
   public:
    absl::Status ProcessElement(const int64_t& v, Context&,
                                brook::Collector<int64_t>& out) override {
      out.Collect(v);
      return absl::OkStatus();
    }
  };
  auto split =
      env.FromSource<int64_t>(std::make_shared<brook::CollectionSource<int64_t>>(values), strategy,
                              "Numbers")
          .Process(Split(direct), "Split");
  auto keyed = split.KeyBy([](int64_t v) { return v % 7; }).Process(Forward(), "Keyed");
  auto sink = std::make_shared<brook::CollectSink<int64_t>>();
  split.GetSideOutput(direct)
      .Union(std::vector<brook::DataStream<int64_t>>{keyed}, "Union")
      .SetParallelism(1)
      .SinkTo(sink, "Collected", 1);

  absl::Status status = absl::UnknownError("still running");
  std::atomic<bool> done{false};
  std::thread runner([&] {
    status = env.Execute("diamond");
    done = true;
  });
  const bool finished = WaitFor([&] { return done.load(); });
  if (!finished) env.Cancel();
  runner.join();
  ASSERT_TRUE(finished) << "deadlocked after " << Metric(env, "checkpoints_completed")
                        << " checkpoints";
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ(sink->records().size(), values.size());
  EXPECT_GE(Metric(env, "checkpoints_completed"), 1);
}

TEST(ExecutionCheckpointEndToEnd, CancelAndRestoreLosesAndDuplicatesNothing) {
  // The uninterrupted run.
  auto storage0 = std::make_shared<FakeStorage>();
  auto store0 = std::make_shared<TwoPhaseStore>(storage0.get());
  {
    brook::StreamExecutionEnvironment env(PipelineConfig(storage0));
    BuildPipeline(env, store0, 0, std::make_shared<std::atomic<int64_t>>(0));
    ASSERT_THAT(env.Execute("uninterrupted"), IsOk());
  }
  ASSERT_EQ(Sorted(store0->committed()), Sorted(Expected()));

  // Run 1: cancelled once a few checkpoints have completed.
  auto storage = std::make_shared<FakeStorage>();
  auto store = std::make_shared<TwoPhaseStore>(storage.get());
  int64_t completed_in_run1 = 0;
  {
    brook::StreamExecutionEnvironment env(PipelineConfig(storage));
    BuildPipeline(env, store, 100, std::make_shared<std::atomic<int64_t>>(0));
    absl::Status status;
    std::thread runner([&] { status = env.Execute("run-1"); });
    ASSERT_TRUE(WaitFor([&] { return Metric(env, "checkpoints_completed") >= 3; }));
    env.Cancel();
    runner.join();
    ASSERT_TRUE(absl::IsCancelled(status)) << status;
    completed_in_run1 = Metric(env, "checkpoints_completed");
    EXPECT_GE(Metric(env, "last_completed_checkpoint_id"), 3);
    EXPECT_GT(Metric(env, "last_checkpoint_size_bytes"), 0);
  }
  EXPECT_GE(completed_in_run1, 3);
  // Only what completed checkpoints covered is visible: a proper prefix of
  // the output, without duplicates.
  std::vector<int64_t> after_crash = Sorted(store->committed());
  EXPECT_LT(after_crash.size(), static_cast<size_t>(kValues));
  EXPECT_EQ(std::adjacent_find(after_crash.begin(), after_crash.end()), after_crash.end());
  EXPECT_EQ(store->violations(), 0);

  // Run 2: a fresh environment resumes from the newest checkpoint.
  {
    brook::ExecutionConfig config = PipelineConfig(storage);
    config.checkpoint.restore = brook::CheckpointConfig::Restore::kLatest;
    brook::StreamExecutionEnvironment env(config);
    BuildPipeline(env, store, 0, std::make_shared<std::atomic<int64_t>>(0));
    ASSERT_THAT(env.Execute("run-2"), IsOk());
    EXPECT_THAT(env.restored_from(), HasSubstr("fake://chk-"));
    EXPECT_TRUE(env.restore_skipped().empty());
    // Ids continue after the restored one.
    if (Metric(env, "checkpoints_completed") > 0) {
      EXPECT_GT(Metric(env, "last_completed_checkpoint_id"), completed_in_run1);
    }
  }
  EXPECT_EQ(Sorted(store->committed()), Sorted(store0->committed()));
  EXPECT_EQ(store->violations(), 0);
  EXPECT_EQ(store->pending_values(), 0);
}

TEST(ExecutionCheckpointEndToEnd, EveryOperatorSubtaskIsInTheCheckpoint) {
  auto storage = std::make_shared<FakeStorage>();
  auto store = std::make_shared<TwoPhaseStore>(storage.get());
  brook::StreamExecutionEnvironment env(PipelineConfig(storage));
  BuildPipeline(env, store, 100, std::make_shared<std::atomic<int64_t>>(0));
  absl::Status status;
  std::thread runner([&] { status = env.Execute("files"); });
  ASSERT_TRUE(WaitFor([&] { return Metric(env, "checkpoints_completed") >= 1; }));
  env.Cancel();
  runner.join();
  const int64_t id = Metric(env, "last_completed_checkpoint_id");
  EXPECT_THAT(storage->OperatorIds(FakeStorage::Path(id, false)),
              ElementsAre("Committed", "Committed", "Numbers", "Triple", "Triple"));
}

TEST(ExecutionCheckpointSavepoint, ASavepointOfARunningJobRestores) {
  auto storage = std::make_shared<FakeStorage>();
  auto store = std::make_shared<TwoPhaseStore>(storage.get());
  std::string path;
  {
    brook::ExecutionConfig config = PipelineConfig(storage);
    config.checkpoint.interval = absl::ZeroDuration();  // savepoints only
    brook::StreamExecutionEnvironment env(config);
    auto seen = std::make_shared<std::atomic<int64_t>>(0);
    BuildPipeline(env, store, 100, seen);
    EXPECT_TRUE(absl::IsFailedPrecondition(env.TriggerSavepoint().status()));  // not running
    absl::Status status;
    std::thread runner([&] { status = env.Execute("savepointed"); });
    ASSERT_TRUE(WaitFor([&] { return seen->load() > 100; }));
    absl::StatusOr<std::string> savepoint = env.TriggerSavepoint();
    ASSERT_THAT(savepoint, IsOk());
    path = *savepoint;
    env.Cancel();
    runner.join();
    ASSERT_TRUE(absl::IsCancelled(status)) << status;
  }
  EXPECT_THAT(path, HasSubstr("fake://savepoint-"));
  // Savepoints pre-commit but do not commit (as Flink since 1.15): recovery
  // resumes from checkpoints, which must cover everything committed.
  EXPECT_TRUE(store->committed().empty()) << store->committed().size() << " values committed";
  {
    brook::ExecutionConfig config = PipelineConfig(storage);
    config.checkpoint.restore = brook::CheckpointConfig::Restore::kPath;
    config.checkpoint.restore_path = path;
    brook::StreamExecutionEnvironment env(config);
    BuildPipeline(env, store, 0, std::make_shared<std::atomic<int64_t>>(0));
    ASSERT_THAT(env.Execute("from-savepoint"), IsOk());
    EXPECT_EQ(env.restored_from(), path);
  }
  EXPECT_EQ(Sorted(store->committed()), Sorted(Expected()));
  EXPECT_EQ(store->violations(), 0);
}

// A bounded source without SnapshotState: it cannot be replayed.
class UnreplayableSource final : public brook::Source<int64_t> {
 public:
  explicit UnreplayableSource(std::shared_ptr<std::atomic<int64_t>> emitted)
      : emitted_(std::move(emitted)) {}
  brook::Boundedness boundedness() const override { return brook::Boundedness::kBounded; }
  absl::StatusOr<std::unique_ptr<brook::SourceReader<int64_t>>> CreateReader(
      const brook::SourceReaderContext&) override {
    return std::unique_ptr<brook::SourceReader<int64_t>>(new Reader(emitted_));
  }

 private:
  class Reader final : public brook::SourceReader<int64_t> {
   public:
    explicit Reader(std::shared_ptr<std::atomic<int64_t>> emitted) : emitted_(std::move(emitted)) {}
    absl::StatusOr<brook::InputStatus> PollNext(brook::ReaderOutput<int64_t>& out) override {
      if (next_ >= 300) return brook::InputStatus::kEndOfInput;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      out.Collect(next_++);
      emitted_->fetch_add(1);
      return brook::InputStatus::kMoreAvailable;
    }

   private:
    std::shared_ptr<std::atomic<int64_t>> emitted_;
    int64_t next_ = 0;
  };
  std::shared_ptr<std::atomic<int64_t>> emitted_;
};

TEST(ExecutionCheckpointDecline, AnUnreplayableSourceDeclinesButTheJobFinishes) {
  auto storage = std::make_shared<FakeStorage>();
  auto store = std::make_shared<TwoPhaseStore>(storage.get());
  brook::ExecutionConfig config = PipelineConfig(storage);
  brook::StreamExecutionEnvironment env(config);
  auto emitted = std::make_shared<std::atomic<int64_t>>(0);
  auto source = env.FromSource<int64_t>(std::make_shared<UnreplayableSource>(emitted),
                                       brook::WatermarkStrategy<int64_t>::NoWatermarks(),
                                       "Socket");
  source.SetParallelism(1);
  source.Map([](int64_t x) { return x; }, "Id")
      .SinkTo(std::make_shared<TwoPhaseSink>(store), "Committed");
  absl::Status status;
  std::thread runner([&] { status = env.Execute("unreplayable"); });
  ASSERT_TRUE(WaitFor([&] { return emitted->load() > 10; }));
  absl::StatusOr<std::string> savepoint = env.TriggerSavepoint();
  runner.join();
  ASSERT_THAT(status, IsOk());
  ASSERT_THAT(savepoint, Not(IsOk()));
  EXPECT_TRUE(absl::IsFailedPrecondition(savepoint.status())) << savepoint.status();
  EXPECT_THAT(savepoint.status().message(), HasSubstr("cannot be replayed"));
  EXPECT_THAT(savepoint.status().message(), HasSubstr("Socket"));
  EXPECT_EQ(Metric(env, "checkpoints_completed"), 0);
  EXPECT_GE(Metric(env, "checkpoints_failed"), 1);
  // Nothing was committed by a checkpoint; the end of input committed all.
  EXPECT_EQ(store->violations(), 0);
  EXPECT_EQ(store->committed().size(), 300u);
}

// ---------------------------------------------------------------------------
// Restore at another parallelism: a probe operator reports what it gets.

struct ProbeLog {
  absl::Mutex mu;
  std::map<int, brook::internal::OperatorRestoreData> by_subtask;
  // The key groups' bytes, copied: OperatorRestoreData only views them
  // until Open().
  std::map<int, std::vector<std::pair<int32_t, std::string>>> key_groups;
};

class ProbeOperator final : public brook::internal::OneInputOperator<int64_t> {
 public:
  explicit ProbeOperator(std::shared_ptr<ProbeLog> log) : log_(std::move(log)) {}
  absl::Status Open() override {
    out_ = static_cast<brook::internal::Output<int64_t>*>(this->main_output_);
    return absl::OkStatus();
  }
  absl::Status ProcessBatch(std::vector<brook::StreamRecord<int64_t>>& batch) override {
    for (auto& r : batch) out_->Collect(r.value, r.timestamp_ms);
    return absl::OkStatus();
  }
  absl::Status InitializeState(brook::internal::OperatorRestoreData data) override {
    absl::MutexLock lock(&log_->mu);
    auto& key_groups = log_->key_groups[this->setup_.subtask_index];
    for (const auto& [kg, bytes] : data.key_groups) key_groups.emplace_back(kg, bytes);
    log_->by_subtask[this->setup_.subtask_index] = std::move(data);
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<ProbeLog> log_;
  brook::internal::Output<int64_t>* out_ = nullptr;
};

// Adds a ProbeOperator node after `input` (the public API has no hook for a
// custom runtime operator, so this builds the node the way DataStream does).
brook::DataStream<int64_t> AddProbe(const brook::DataStream<int64_t>& input,
                                    std::shared_ptr<ProbeLog> log, int parallelism) {
  auto& graph = brook::internal::GraphAccess::Graph(*input.env());
  brook::internal::StreamNode node;
  node.id = static_cast<int>(graph.nodes.size());
  node.kind = brook::internal::StreamNode::Kind::kOperator;
  node.name = "Probe";
  node.parallelism = parallelism;
  node.output_type = std::make_shared<brook::internal::TypeOps<int64_t>>();
  node.factory = [log](const brook::internal::SubtaskInfo&)
      -> absl::StatusOr<std::unique_ptr<brook::internal::OperatorBase>> {
    return std::unique_ptr<brook::internal::OperatorBase>(new ProbeOperator(log));
  };
  graph.nodes.push_back(std::move(node));
  brook::internal::StreamEdge edge;
  edge.from = input.node_id();
  edge.to = graph.nodes.back().id;
  edge.partitioner = std::make_shared<brook::internal::Partitioner<int64_t>>(
      brook::internal::Partitioning::kRebalance);
  graph.edges.push_back(std::move(edge));
  return brook::internal::GraphAccess::Stream<int64_t>(input.env(), graph.nodes.back().id);
}

// A complete checkpoint holding operator "Probe" at parallelism 3: old
// subtask j has operator state "state-j" and a blob "kg-<g>" for every key
// group g of its range.
brook::RestoredCheckpoint ProbeCheckpoint(int64_t id, int max_parallelism) {
  brook::RestoredCheckpoint c;
  c.path = FakeStorage::Path(id, false);
  c.metadata.checkpoint_id = id;
  c.metadata.max_parallelism = max_parallelism;
  for (int j = 0; j < 3; ++j) {
    brook::OperatorSubtaskState s;
    s.operator_id = "Probe";
    s.subtask_index = j;
    s.parallelism = 3;
    s.operator_state = absl::StrCat("state-", j);
    const brook::KeyGroupRange r =
        brook::ComputeKeyGroupRangeForOperatorIndex(max_parallelism, 3, j);
    for (int g = r.start; g <= r.end; ++g) s.key_groups.emplace_back(g, absl::StrCat("kg-", g));
    c.states.push_back(std::move(s));
  }
  return c;
}

TEST(ExecutionCheckpointRestore, ScalesOperatorStateAndKeyGroupsToANewParallelism) {
  constexpr int kMaxParallelism = 16;
  auto storage = std::make_shared<FakeStorage>();
  storage->Put(ProbeCheckpoint(5, kMaxParallelism));
  auto newer = ProbeCheckpoint(6, kMaxParallelism);
  storage->Put(newer);
  storage->MarkCorrupt(newer.path);

  auto log = std::make_shared<ProbeLog>();
  brook::ExecutionConfig config;
  config.max_parallelism = kMaxParallelism;
  config.checkpoint.storage = storage;
  config.checkpoint.restore = brook::CheckpointConfig::Restore::kLatest;
  brook::StreamExecutionEnvironment env(config);
  auto sink = std::make_shared<brook::CollectSink<int64_t>>();
  AddProbe(env.FromCollection<int64_t>({1, 2, 3}), log, 2).SinkTo(sink);
  ASSERT_THAT(env.Execute("rescaled"), IsOk());
  EXPECT_EQ(env.restored_from(), "fake://chk-5");
  EXPECT_THAT(env.restore_skipped(), ElementsAre("fake://chk-6: corrupt"));
  EXPECT_EQ(Sorted(sink->values()), (std::vector<int64_t>{1, 2, 3}));

  absl::MutexLock lock(&log->mu);
  ASSERT_EQ(log->by_subtask.size(), 2u);
  // Old subtask j goes to new subtask j % 2.
  EXPECT_THAT(log->by_subtask[0].operator_states, ElementsAre("state-0", "state-2"));
  EXPECT_THAT(log->by_subtask[1].operator_states, ElementsAre("state-1"));
  for (int i = 0; i < 2; ++i) {
    const auto& data = log->by_subtask[i];
    EXPECT_EQ(data.checkpoint_id, 5);
    const brook::KeyGroupRange r =
        brook::ComputeKeyGroupRangeForOperatorIndex(kMaxParallelism, 2, i);
    std::vector<std::pair<int32_t, std::string>> expected;
    for (int g = r.start; g <= r.end; ++g) expected.emplace_back(g, absl::StrCat("kg-", g));
    EXPECT_EQ(log->key_groups[i], expected) << "subtask " << i;
  }
}

TEST(ExecutionCheckpointRestore, AnotherMaxParallelismIsRefused) {
  auto storage = std::make_shared<FakeStorage>();
  storage->Put(ProbeCheckpoint(1, 32));
  brook::ExecutionConfig config;
  config.max_parallelism = 16;
  config.checkpoint.storage = storage;
  config.checkpoint.restore = brook::CheckpointConfig::Restore::kPath;
  config.checkpoint.restore_path = "fake://chk-1";
  brook::StreamExecutionEnvironment env(config);
  auto log = std::make_shared<ProbeLog>();
  AddProbe(env.FromCollection<int64_t>({1}), log, 2)
      .SinkTo(std::make_shared<brook::CollectSink<int64_t>>());
  absl::Status status = env.Execute("mismatch");
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("max_parallelism"));
}

TEST(ExecutionCheckpointRestore, StateNoOperatorClaimsIsRefused) {
  // E.g. an operator renamed between runs: restoring without it would lose
  // its state silently (Flink refuses unless allowNonRestoredState).
  auto storage = std::make_shared<FakeStorage>();
  storage->Put(ProbeCheckpoint(1, brook::kDefaultMaxParallelism));
  brook::ExecutionConfig config;
  config.checkpoint.storage = storage;
  config.checkpoint.restore = brook::CheckpointConfig::Restore::kLatest;
  brook::StreamExecutionEnvironment env(config);
  env.FromCollection<int64_t>({1}).SinkTo(std::make_shared<brook::CollectSink<int64_t>>());
  absl::Status status = env.Execute("renamed");
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("'Probe'"));
}

TEST(ExecutionCheckpointRestore, AMissingPathIsAnError) {
  auto storage = std::make_shared<FakeStorage>();
  brook::ExecutionConfig config;
  config.checkpoint.storage = storage;
  config.checkpoint.restore = brook::CheckpointConfig::Restore::kPath;
  config.checkpoint.restore_path = "fake://chk-9";
  brook::StreamExecutionEnvironment env(config);
  env.FromCollection<int64_t>({1}).SinkTo(std::make_shared<brook::CollectSink<int64_t>>());
  absl::Status status = env.Execute("missing");
  EXPECT_TRUE(absl::IsNotFound(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("fake://chk-9"));
}

// ---------------------------------------------------------------------------
// JobListener (brook/job_listener.h): what a job reports, with which ids, in
// which order, and that no two callbacks overlap.

// Logs every callback as a line ("restored <path>", "completed <id>",
// "failed <id>", "finished <code>") and keeps the arguments; counts calls
// that overlap another (there must be none).
class JobEventLog final : public brook::JobListener {
 public:
  void OnRestored(const brook::RestoreInfo& info) override {
    Note(absl::StrCat("restored ", info.path), [&] { restored_.push_back(info); });
  }
  void OnCheckpointCompleted(const brook::CompletedCheckpoint& c) override {
    Note(absl::StrCat("completed ", c.checkpoint_id), [&] { completed_.push_back(c); });
  }
  void OnCheckpointFailed(const brook::FailedCheckpoint& f) override {
    Note(absl::StrCat("failed ", f.checkpoint_id), [&] { failed_.push_back(f); });
  }
  void OnJobFinished(const absl::Status& status) override {
    Note(absl::StrCat("finished ", absl::StatusCodeToString(status.code())), [] {});
  }

  std::vector<std::string> log() const {
    absl::MutexLock lock(&mu_);
    return log_;
  }
  std::vector<brook::RestoreInfo> restored() const {
    absl::MutexLock lock(&mu_);
    return restored_;
  }
  std::vector<brook::CompletedCheckpoint> completed() const {
    absl::MutexLock lock(&mu_);
    return completed_;
  }
  std::vector<brook::FailedCheckpoint> failed() const {
    absl::MutexLock lock(&mu_);
    return failed_;
  }
  int overlaps() const { return overlaps_.load(); }

 private:
  // Logs `line` and runs `keep` (under mu_), counting an overlapping call.
  template <typename F>
  void Note(std::string line, F keep) {
    if (in_call_.exchange(true)) overlaps_.fetch_add(1);
    {
      absl::MutexLock lock(&mu_);
      keep();
      log_.push_back(std::move(line));
    }
    in_call_.store(false);
  }

  mutable absl::Mutex mu_;
  std::vector<std::string> log_ ABSL_GUARDED_BY(mu_);
  std::vector<brook::RestoreInfo> restored_ ABSL_GUARDED_BY(mu_);
  std::vector<brook::CompletedCheckpoint> completed_ ABSL_GUARDED_BY(mu_);
  std::vector<brook::FailedCheckpoint> failed_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> in_call_{false};
  std::atomic<int> overlaps_{0};
};

// Runs the paced pipeline until `checkpoints` have completed, then cancels
// it. Returns the completed checkpoints, oldest first.
std::vector<brook::CompletedCheckpoint> RunAndCancel(std::shared_ptr<FakeStorage> storage,
                                                     int checkpoints,
                                                     std::shared_ptr<JobEventLog> listener) {
  brook::StreamExecutionEnvironment env(PipelineConfig(storage));
  env.RegisterJobListener(listener);
  BuildPipeline(env, std::make_shared<TwoPhaseStore>(storage.get()), 100,
                std::make_shared<std::atomic<int64_t>>(0));
  absl::Status status;
  std::thread runner([&] { status = env.Execute("cancelled"); });
  EXPECT_TRUE(
      WaitFor([&] { return static_cast<int>(listener->completed().size()) >= checkpoints; }));
  env.Cancel();
  runner.join();
  EXPECT_TRUE(absl::IsCancelled(status)) << status;
  // Every checkpoint that ended was reported once Execute() returned.
  EXPECT_EQ(static_cast<int64_t>(listener->completed().size()),
            Metric(env, "checkpoints_completed"));
  EXPECT_GE(static_cast<int64_t>(listener->failed().size()), Metric(env, "checkpoints_failed"));
  return listener->completed();
}

TEST(ExecutionJobListener, ReportsCompletedCheckpointsInOrderThenTheCancellation) {
  auto storage = std::make_shared<FakeStorage>();
  auto listener = std::make_shared<JobEventLog>();
  RunAndCancel(storage, 3, listener);

  const std::vector<brook::CompletedCheckpoint> completed = listener->completed();
  ASSERT_GE(completed.size(), 3u);
  for (size_t i = 0; i < completed.size(); ++i) {
    const brook::CompletedCheckpoint& c = completed[i];
    EXPECT_EQ(c.path, FakeStorage::Path(c.checkpoint_id, false));
    EXPECT_FALSE(c.savepoint);
    EXPECT_GT(c.size_bytes, 0);
    EXPECT_GE(c.duration, absl::ZeroDuration());
    if (i > 0) EXPECT_GT(c.checkpoint_id, completed[i - 1].checkpoint_id);
    EXPECT_TRUE(storage->IsComplete(c.checkpoint_id)) << c.path;
  }
  // Failed ones (e.g. cut short by the cancellation) never reuse an id.
  for (const auto& f : listener->failed()) {
    EXPECT_THAT(f.reason, Not(IsOk()));
    for (const auto& c : completed) EXPECT_NE(f.checkpoint_id, c.checkpoint_id);
  }
  // No restore was configured; the end comes last, once.
  const std::vector<std::string> log = listener->log();
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.back(), "finished CANCELLED");
  EXPECT_EQ(std::count_if(log.begin(), log.end(),
                          [](const std::string& l) { return l.rfind("finished", 0) == 0; }),
            1);
  EXPECT_THAT(listener->restored(), IsEmpty());
  EXPECT_EQ(listener->overlaps(), 0);
}

TEST(ExecutionJobListener, ReportsWhereARestartRestoredFromAndWhatItSkipped) {
  auto storage = std::make_shared<FakeStorage>();
  const std::vector<brook::CompletedCheckpoint> before =
      RunAndCancel(storage, 2, std::make_shared<JobEventLog>());
  ASSERT_GE(before.size(), 2u);
  // The newest checkpoint is damaged: the restart skips it, with the reason.
  const std::string newest = before.back().path;
  const std::string previous = before[before.size() - 2].path;
  storage->MarkCorrupt(newest);

  auto listener = std::make_shared<JobEventLog>();
  brook::ExecutionConfig config = PipelineConfig(storage);
  config.checkpoint.restore = brook::CheckpointConfig::Restore::kLatest;
  brook::StreamExecutionEnvironment env(config);
  env.RegisterJobListener(listener);
  BuildPipeline(env, std::make_shared<TwoPhaseStore>(storage.get()), 0,
                std::make_shared<std::atomic<int64_t>>(0));
  ASSERT_THAT(env.Execute("restarted"), IsOk());

  ASSERT_THAT(listener->restored(), SizeIs(1));
  const brook::RestoreInfo info = listener->restored()[0];
  EXPECT_EQ(info.path, previous);
  EXPECT_EQ(info.path, env.restored_from());
  EXPECT_EQ(FakeStorage::Path(info.checkpoint_id, false), previous);
  EXPECT_THAT(info.skipped, ElementsAre(absl::StrCat(newest, ": corrupt")));
  EXPECT_EQ(info.skipped, env.restore_skipped());
  // Restore first, the end last.
  const std::vector<std::string> log = listener->log();
  EXPECT_EQ(log.front(), absl::StrCat("restored ", previous));
  EXPECT_EQ(log.back(), "finished OK");
  // Ids go on after every id the storage has seen.
  for (const auto& c : listener->completed()) {
    EXPECT_GT(c.checkpoint_id, before.back().checkpoint_id);
  }
  EXPECT_EQ(listener->overlaps(), 0);
}

TEST(ExecutionJobListener, AnEmptyStorageRestoresNothing) {
  auto listener = std::make_shared<JobEventLog>();
  brook::ExecutionConfig config;
  config.checkpoint.storage = std::make_shared<FakeStorage>();
  config.checkpoint.restore = brook::CheckpointConfig::Restore::kLatest;
  brook::StreamExecutionEnvironment env(config);
  env.RegisterJobListener(listener);
  env.FromCollection<int64_t>({1, 2}).SinkTo(std::make_shared<brook::CollectSink<int64_t>>());
  ASSERT_THAT(env.Execute("fresh"), IsOk());
  ASSERT_THAT(listener->restored(), SizeIs(1));
  EXPECT_EQ(listener->restored()[0].path, "");
  EXPECT_EQ(listener->restored()[0].checkpoint_id, 0);
  EXPECT_THAT(listener->restored()[0].skipped, IsEmpty());
  EXPECT_THAT(listener->log(), ElementsAre("restored ", "finished OK"));
}

TEST(ExecutionJobListener, ReportsDeclinedCheckpointsAsFailedAndTheJobAsFinished) {
  auto listener = std::make_shared<JobEventLog>();
  brook::StreamExecutionEnvironment env(PipelineConfig(std::make_shared<FakeStorage>()));
  env.RegisterJobListener(listener);
  env.FromSource<int64_t>(std::make_shared<UnreplayableSource>(
                              std::make_shared<std::atomic<int64_t>>(0)),
                          brook::WatermarkStrategy<int64_t>::NoWatermarks(), "Socket")
      .SetParallelism(1)
      .SinkTo(std::make_shared<brook::CollectSink<int64_t>>(), "Collected");
  ASSERT_THAT(env.Execute("unreplayable"), IsOk());

  const std::vector<brook::FailedCheckpoint> failed = listener->failed();
  ASSERT_FALSE(failed.empty());
  EXPECT_EQ(static_cast<int64_t>(failed.size()), Metric(env, "checkpoints_failed"));
  for (size_t i = 0; i < failed.size(); ++i) {
    EXPECT_EQ(failed[i].checkpoint_id, static_cast<int64_t>(i) + 1);
    EXPECT_FALSE(failed[i].savepoint);
  }
  // Declined by the source, with its status; only the last may instead have
  // been cut short by the source's end (kAborted).
  EXPECT_THAT(failed[0].reason, StatusIs(absl::StatusCode::kUnimplemented)) << failed[0].reason;
  EXPECT_THAT(failed[0].reason.message(), HasSubstr("Socket"));
  EXPECT_THAT(listener->completed(), IsEmpty());
  EXPECT_EQ(listener->log().back(), "finished OK");
  EXPECT_EQ(listener->overlaps(), 0);
}

class Failing final : public brook::ProcessFunction<int64_t, int64_t> {
 public:
  absl::Status ProcessElement(const int64_t&, Context&, brook::Collector<int64_t>&) override {
    return absl::DataLossError("bad record");
  }
};

TEST(ExecutionJobListener, ReportsEveryWayExecuteEnds) {
  {  // Cancelled before it started.
    auto listener = std::make_shared<JobEventLog>();
    brook::StreamExecutionEnvironment env;
    env.RegisterJobListener(listener);
    env.FromCollection<int64_t>({1}).SinkTo(std::make_shared<brook::CollectSink<int64_t>>());
    env.Cancel();
    EXPECT_TRUE(absl::IsCancelled(env.Execute("cancelled")));
    EXPECT_THAT(listener->log(), ElementsAre("finished CANCELLED"));
  }
  {  // A malformed graph; two listeners both hear it.
    auto first = std::make_shared<JobEventLog>();
    auto second = std::make_shared<JobEventLog>();
    brook::StreamExecutionEnvironment env;
    env.RegisterJobListener(first);
    env.RegisterJobListener(second);
    EXPECT_TRUE(absl::IsInvalidArgument(env.Execute("empty")));
    EXPECT_THAT(first->log(), ElementsAre("finished INVALID_ARGUMENT"));
    EXPECT_THAT(second->log(), ElementsAre("finished INVALID_ARGUMENT"));
  }
  {  // An operator's failure, as Execute() returns it.
    auto listener = std::make_shared<JobEventLog>();
    brook::StreamExecutionEnvironment env;
    env.RegisterJobListener(listener);
    env.FromCollection<int64_t>({1})
        .Process(Failing(), "Failing")
        .SinkTo(std::make_shared<brook::CollectSink<int64_t>>());
    EXPECT_THAT(env.Execute("failing"), StatusIs(absl::StatusCode::kDataLoss));
    EXPECT_THAT(listener->log(), ElementsAre("finished DATA_LOSS"));
  }
}

}  // namespace
