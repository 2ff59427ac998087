// File: bench/checkpoint_benchmark.cc
//
// Checkpointing keyed state at scale (issue #5's goals: pause < 50 ms,
// restore < 2 s): the Deduplicate operator as the camera job runs it (ids
// kept forever, no fingerprint: a set of int64 ids per key group) holding
// 10 million retained ids in one subtask, then:
//
//   BM_CheckpointDedupState/ids:N  (one iteration; figures are counters)
//     state_MiB          keyed state held (hash-table slots + control bytes)
//     pause_ms           synchronous part: KeyedProcessOperator::SnapshotState
//                        (copy-on-write capture, O(key groups))
//     async_ms, async_MBps  asynchronous part: serialising every key group's
//                        blob (what a checkpoint I/O thread runs)
//     snapshot_MiB       bytes of all key-group blobs
//     restore_ms         InitializeState + Open of a fresh operator from the
//                        blobs (parse, verify checksums, fill the tables)
//     first_records_ms   the 1024 records right after a capture, one by one,
//                        while the snapshot still holds the tables: each
//                        first write to a key group copies it
//     max_record_ms      the slowest of them (one key group's copy)
//     baseline_records_ms  the same 1024-record pattern with no snapshot held
//     write_ms           the snapshot written as a checkpoint by the default
//                        storage (NewLocalDirectoryCheckpointStorage in a
//                        fresh directory under $TMPDIR: one file, fsync,
//                        `_metadata` last)
//     checkpoint_ms      async_ms + write_ms: trigger to complete, what the
//                        job waits for beside the pause
//     load_ms            LoadLatest: read and verify the checkpoint
//     restore_total_ms   load_ms + restore_ms: a restarted job's wait
//
// Run in Release:
//   build/bench/checkpoint_benchmark --benchmark_counters_tabular=true
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdlib>
#include <filesystem>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "brook/brook.h"
#include "brook/checkpoint_storage.h"
#include "brook/internal/operators.h"
#include "brook/internal/restore_assignment.h"
#include "brook/operators/deduplicate.h"
#include "operator_driver.h"
#include "build_warning.h"

namespace {

[[maybe_unused]] const bool kBuildWarning =
    brook_bench::WarnIfNotReleaseBuild("checkpoint_benchmark");

struct Detection {
  int64_t detection_oid = 0;
  int64_t ts_ms = 0;
};
using Op = brook::internal::KeyedProcessOperator<int64_t, Detection, Detection>;
constexpr size_t kBatch = 1024;

// Subtask 0 of 1 of the camera job's dedup operator.
struct Subtask {
  Subtask()
      : driver(std::make_unique<Op>(std::make_unique<brook::ops::Deduplicate<Detection>>(),
                                    [](const Detection& d) { return d.detection_oid; }),
               "dedup"),
        op(&driver.op()) {}
  brook_bench::OperatorDriver<Detection, Op> driver;
  Op* op;
};

bool Check(benchmark::State& state, const absl::Status& s) {
  if (!s.ok()) state.SkipWithError(std::string(s.message()).c_str());
  return s.ok();
}

// Ids spread over the int64 range, as real oids are.
int64_t Id(int64_t i) { return static_cast<int64_t>(static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ULL); }

// CPU time of the whole process (every thread), ms: less sensitive than
// wall time to a loaded machine.
double ProcessCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// The 1024 records after position `from`, one record per call (so each
// call's latency is seen); returns (total ms, max ms).
std::pair<double, double> TimeRecords(benchmark::State& state, Op& op, int64_t from) {
  double total = 0;
  double worst = 0;
  std::vector<brook::StreamRecord<Detection>> one(1);
  for (int64_t i = from; i < from + static_cast<int64_t>(kBatch); ++i) {
    one[0] = {i, Detection{Id(i), i}};
    const auto t0 = std::chrono::steady_clock::now();
    if (!Check(state, op.ProcessBatch(one))) return {0, 0};
    const double ms = MsSince(t0);
    total += ms;
    worst = std::max(worst, ms);
    if (!Check(state, op.FlushOutputs())) return {0, 0};
  }
  return {total, worst};
}

void BM_CheckpointDedupState(benchmark::State& state) {
  const int64_t ids = state.range(0);
  for (auto _ : state) {
    Subtask s;
    if (!Check(state, s.op->Open())) return;
    std::vector<brook::StreamRecord<Detection>> batch;
    batch.reserve(kBatch);
    for (int64_t i = 0; i < ids; ++i) {
      batch.push_back({i, Detection{Id(i), i}});
      if (batch.size() == kBatch || i + 1 == ids) {
        if (!Check(state, s.op->ProcessBatch(batch))) return;
        batch.clear();
      }
    }
    if (!Check(state, s.op->FlushOutputs())) return;
    if (s.op->NumStateEntries() != ids) {
      state.SkipWithError("not every id was retained");
      return;
    }
    const double state_bytes = static_cast<double>(s.op->StateBytes());

    // Baseline: 1024 new ids with no snapshot held.
    const auto [baseline_ms, baseline_max_ms] = TimeRecords(state, *s.op, ids);
    int64_t next = ids + static_cast<int64_t>(kBatch);

    // Synchronous part.
    auto t0 = std::chrono::steady_clock::now();
    auto async = s.op->SnapshotState(1);
    const double pause_ms = MsSince(t0);
    if (!Check(state, async.status())) return;

    // Asynchronous part.
    t0 = std::chrono::steady_clock::now();
    auto data = (*async)();
    const double async_ms = MsSince(t0);
    if (!Check(state, data.status())) return;
    double snapshot_bytes = 0;
    for (const auto& [kg, bytes] : data->key_groups) snapshot_bytes += static_cast<double>(bytes.size());

    // Write it as checkpoint 1 with the default storage, then load it back.
    const std::string dir = [] {
      const char* tmp = std::getenv("TMPDIR");
      std::string d = std::string(tmp != nullptr && *tmp ? tmp : "/tmp") + "/brook-ckpt-bench-XXXXXX";
      return std::string(mkdtemp(d.data()) != nullptr ? d.c_str() : "");
    }();
    if (dir.empty()) {
      state.SkipWithError("mkdtemp failed");
      return;
    }
    auto storage = brook::NewLocalDirectoryCheckpointStorage(dir);
    if (!Check(state, storage.status())) return;
    brook::OperatorSubtaskState subtask_state{"dedup", 0, 1, data->operator_state,
                                              std::move(data->key_groups)};
    t0 = std::chrono::steady_clock::now();
    auto file = (*storage)->WriteState(1, false, subtask_state);
    if (!Check(state, file.status())) return;
    brook::CheckpointMetadata metadata;
    metadata.checkpoint_id = 1;
    metadata.max_parallelism = brook::kDefaultMaxParallelism;
    metadata.job_name = "bench";
    metadata.files.push_back(*file);
    if (!Check(state, (*storage)->CompleteCheckpoint(metadata, 3).status())) return;
    const double write_ms = MsSince(t0);
    subtask_state = {};
    t0 = std::chrono::steady_clock::now();
    std::vector<std::string> skipped;
    auto loaded = (*storage)->LoadLatest(&skipped);
    const double load_ms = MsSince(t0);
    if (!Check(state, loaded.status())) return;
    if (!loaded->has_value() || (*loaded)->states.size() != 1) {
      state.SkipWithError("the checkpoint did not load back");
      return;
    }
    data->operator_state = std::move((*loaded)->states[0].operator_state);
    data->key_groups = std::move((*loaded)->states[0].key_groups);
    loaded->reset();
    std::filesystem::remove_all(dir);

    // Copy-on-write: the first records after another capture, snapshot held.
    auto held = s.op->SnapshotState(2);
    if (!Check(state, held.status())) return;
    const auto [first_ms, first_max_ms] = TimeRecords(state, *s.op, next);
    next += static_cast<int64_t>(kBatch);
    *held = nullptr;  // the checkpoint I/O thread is done with it

    // Restore into a fresh subtask.
    brook::internal::OperatorRestoreData restore;
    restore.checkpoint_id = 1;
    restore.operator_states.push_back(data->operator_state);
    for (const auto& [kg, bytes] : data->key_groups) restore.key_groups.emplace_back(kg, bytes);
    Subtask fresh;
    t0 = std::chrono::steady_clock::now();
    if (!Check(state, fresh.op->InitializeState(std::move(restore)))) return;
    if (!Check(state, fresh.op->Open())) return;
    const double restore_ms = MsSince(t0);
    if (fresh.op->NumStateEntries() != ids + static_cast<int64_t>(kBatch)) {
      state.SkipWithError("restore lost ids");
      return;
    }

    state.counters["state_MiB"] = state_bytes / (1 << 20);
    state.counters["pause_ms"] = pause_ms;
    state.counters["async_ms"] = async_ms;
    state.counters["async_MBps"] = snapshot_bytes / 1e6 / (async_ms / 1e3);
    state.counters["snapshot_MiB"] = snapshot_bytes / (1 << 20);
    state.counters["restore_ms"] = restore_ms;
    state.counters["write_ms"] = write_ms;
    state.counters["checkpoint_ms"] = async_ms + write_ms;
    state.counters["load_ms"] = load_ms;
    state.counters["restore_total_ms"] = load_ms + restore_ms;
    state.counters["first_records_ms"] = first_ms;
    state.counters["max_record_ms"] = first_max_ms;
    state.counters["baseline_records_ms"] = baseline_ms;
    state.counters["baseline_max_record_ms"] = baseline_max_ms;
  }
}
// Incremental checkpoints (issue #17): N retained ids, a full checkpoint,
// then `added` new ids per checkpoint for 3 checkpoints, each written as an
// increment on the previous one; then the chain is loaded and restored.
//   BM_IncrementalDedupState/ids:N/added:M
//     full_MiB, increment_MiB  bytes written by the full checkpoint and by
//                        the last increment (file sizes)
//     increment_pct      increment_MiB / full_MiB
//     increment_ms       the last increment: async part + write
//     load_ms            LoadLatest of the chain (read, verify, decode)
//     fill_ms            InitializeState + Open of a fresh operator: the
//                        key groups' tables filled (on several threads
//                        when the machine has the cores)
//     restore_total_ms   load_ms + fill_ms
//     restore_cpu_ms     CPU time of the process (all threads) meanwhile
void BM_IncrementalDedupState(benchmark::State& state) {
  const int64_t ids = state.range(0);
  const int64_t added = state.range(1);
  for (auto _ : state) {
    Subtask s;
    if (!Check(state, s.op->Open())) return;
    int64_t next = 0;
    auto add = [&](int64_t n) {
      std::vector<brook::StreamRecord<Detection>> batch;
      batch.reserve(kBatch);
      for (const int64_t end = next + n; next < end; ++next) {
        batch.push_back({next, Detection{Id(next), next}});
        if (batch.size() == kBatch || next + 1 == end) {
          if (!s.op->ProcessBatch(batch).ok()) return false;
          batch.clear();
        }
      }
      return s.op->FlushOutputs().ok();
    };
    if (!add(ids)) {
      state.SkipWithError("processing failed");
      return;
    }
    const std::string dir = [] {
      const char* tmp = std::getenv("TMPDIR");
      std::string d = std::string(tmp != nullptr && *tmp ? tmp : "/tmp") + "/brook-inc-bench-XXXXXX";
      return std::string(mkdtemp(d.data()) != nullptr ? d.c_str() : "");
    }();
    auto storage = brook::NewLocalDirectoryCheckpointStorage(dir);
    if (!Check(state, storage.status())) return;
    std::vector<brook::CheckpointMetadata::File> chain;
    double full_bytes = 0;
    double increment_bytes = 0;
    double increment_ms = 0;
    for (int64_t id = 1; id <= 4; ++id) {
      if (id > 1 && !add(added)) {
        state.SkipWithError("processing failed");
        return;
      }
      s.op->set_snapshot_options({true, id - 1});
      auto t0 = std::chrono::steady_clock::now();
      auto async = s.op->SnapshotState(id);
      if (!Check(state, async.status())) return;
      auto data = (*async)();
      if (!Check(state, data.status())) return;
      if (data->incremental_base != id - 1) {
        state.SkipWithError("not an increment on the previous checkpoint");
        return;
      }
      brook::OperatorSubtaskState st{"dedup", 0, 1, data->operator_state,
                                     std::move(data->key_groups)};
      auto file = (*storage)->WriteState(id, false, st);
      if (!Check(state, file.status())) return;
      brook::CheckpointMetadata metadata;
      metadata.checkpoint_id = id;
      metadata.max_parallelism = brook::kDefaultMaxParallelism;
      metadata.files = chain;
      metadata.files.push_back(*file);
      if (!Check(state, (*storage)->CompleteCheckpoint(metadata, 3).status())) return;
      const double ms = MsSince(t0);
      (id == 1 ? full_bytes : increment_bytes) = static_cast<double>(file->size_bytes);
      if (id > 1) increment_ms = ms;
      file->owner_checkpoint_id = id;
      chain.push_back(*file);
    }
    const double cpu0 = ProcessCpuMs();
    auto t0 = std::chrono::steady_clock::now();
    auto loaded = (*storage)->LoadLatest(nullptr);
    if (!Check(state, loaded.status())) return;
    if (!loaded->has_value() || (*loaded)->states.size() != 1) {
      state.SkipWithError("the chain did not load back");
      return;
    }
    const double load_ms = MsSince(t0);
    // As the runtime hands them over: by key group, each chain in order,
    // viewing the loaded checkpoint.
    Subtask fresh;
    const auto t1 = std::chrono::steady_clock::now();
    if (!Check(state, fresh.op->InitializeState(brook::internal::AssignRestoreData(
                          4, {&(*loaded)->states[0]}, brook::kDefaultMaxParallelism, 1, 0,
                          brook::internal::OperatorStateDistribution::kRoundRobin)))) {
      return;
    }
    if (!Check(state, fresh.op->Open())) return;
    const double restore_ms = MsSince(t0);
    const double fill_ms = MsSince(t1);
    const double restore_cpu_ms = ProcessCpuMs() - cpu0;
    loaded->reset();
    std::filesystem::remove_all(dir);
    if (fresh.op->NumStateEntries() != next) {
      state.SkipWithError("restore lost ids");
      return;
    }
    state.counters["full_MiB"] = full_bytes / (1 << 20);
    state.counters["increment_MiB"] = increment_bytes / (1 << 20);
    state.counters["increment_pct"] = 100 * increment_bytes / full_bytes;
    state.counters["increment_ms"] = increment_ms;
    state.counters["load_ms"] = load_ms;
    state.counters["fill_ms"] = fill_ms;
    state.counters["restore_total_ms"] = restore_ms;
    state.counters["restore_cpu_ms"] = restore_cpu_ms;
  }
}
BENCHMARK(BM_IncrementalDedupState)
    ->ArgNames({"ids", "added"})
    ->Args({1'000'000, 10'000})
    ->Args({1'000'000, 100'000})
    ->Args({10'000'000, 100'000})
    ->Args({10'000'000, 1'000'000})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

BENCHMARK(BM_CheckpointDedupState)
    ->ArgName("ids")
    ->Arg(1'000'000)
    ->Arg(10'000'000)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
