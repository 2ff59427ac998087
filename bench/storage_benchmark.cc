// storage_benchmark: the local-directory CheckpointStorage on the size of
// checkpoint that issue #5 asks about, 10 million retained dedup ids: one
// operator subtask's state of 128 key-group blobs totalling ~150 MB.
//
//   BM_WriteCheckpoint  WriteState + CompleteCheckpoint (framing, CRC-32,
//                       write, fsync of the file, the directories and
//                       `_metadata`); bytes/s is state bytes per second.
//   BM_LoadLatest       LoadLatest of that checkpoint: read (mmap), verify
//                       every CRC-32 and copy each blob out. The file is in
//                       the page cache (dropping it needs root): this is the
//                       restore time of a job restarted on the same machine.
//   BM_EncodeOnly       WriteState into the in-memory storage: the framing
//                       and CRC cost without the disk.
//
// The checkpoints go to $BROOK_BENCH_DIR, else ./storage_benchmark_data (the
// build directory, usually on the same disk as a real checkpoint directory;
// /tmp may be tmpfs, where fsync costs nothing). Removed at exit.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "brook/checkpoint_storage.h"
#include "build_warning.h"

namespace {

[[maybe_unused]] const bool kBuildWarning =
    brook_bench::WarnIfNotReleaseBuild("storage_benchmark");

constexpr int kKeyGroups = 128;
constexpr size_t kTotalBytes = 150u * 1000 * 1000;

// Incompressible bytes, so that nothing downstream can cheat.
const brook::OperatorSubtaskState& State() {
  static const auto* state = [] {
    auto* s = new brook::OperatorSubtaskState;
    s->operator_id = "Dedup";
    std::mt19937_64 rng(42);
    for (int kg = 0; kg < kKeyGroups; ++kg) {
      std::string blob(kTotalBytes / kKeyGroups + kg, '\0');  // uneven sizes
      for (size_t i = 0; i + 8 <= blob.size(); i += 8) {
        const uint64_t v = rng();
        memcpy(blob.data() + i, &v, 8);
      }
      s->key_groups.emplace_back(kg, std::move(blob));
    }
    return s;
  }();
  return *state;
}

int64_t StateBytes() {
  int64_t bytes = 0;
  for (const auto& [kg, blob] : State().key_groups) bytes += static_cast<int64_t>(blob.size());
  return bytes;
}

std::string Dir() {
  const char* dir = std::getenv("BROOK_BENCH_DIR");
  return dir != nullptr ? std::string(dir) : std::string("storage_benchmark_data");
}

void Check(const absl::Status& status) {
  if (!status.ok()) {
    std::fprintf(stderr, "storage_benchmark: %s\n", status.ToString().c_str());
    std::abort();
  }
}

std::string WriteOne(brook::CheckpointStorage& storage, int64_t id) {
  auto file = storage.WriteState(id, false, State());
  Check(file.status());
  brook::CheckpointMetadata metadata;
  metadata.checkpoint_id = id;
  metadata.max_parallelism = kKeyGroups;
  metadata.files.push_back(*file);
  auto path = storage.CompleteCheckpoint(metadata, /*retained=*/1000);
  Check(path.status());
  return *path;
}

void BM_WriteCheckpoint(benchmark::State& bench) {
  State();
  const std::string dir = Dir() + "/write";
  auto storage = brook::NewLocalDirectoryCheckpointStorage(dir);
  Check(storage.status());
  int64_t id = 0;
  for (auto _ : bench) {
    WriteOne(**storage, ++id);
    bench.PauseTiming();
    Check((*storage)->AbortCheckpoint(id, false));
    bench.ResumeTiming();
  }
  bench.SetBytesProcessed(bench.iterations() * StateBytes());
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_WriteCheckpoint)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3);

void BM_LoadLatest(benchmark::State& bench) {
  State();
  const std::string dir = Dir() + "/load";
  auto storage = brook::NewLocalDirectoryCheckpointStorage(dir);
  Check(storage.status());
  WriteOne(**storage, 1);
  for (auto _ : bench) {
    std::vector<std::string> skipped;
    auto restored = (*storage)->LoadLatest(&skipped);
    Check(restored.status());
    if (!restored->has_value() || !skipped.empty() ||
        (*restored)->states[0].key_groups.size() != kKeyGroups) {
      std::fprintf(stderr, "storage_benchmark: checkpoint did not load back\n");
      std::abort();
    }
    benchmark::DoNotOptimize(restored);
  }
  bench.SetBytesProcessed(bench.iterations() * StateBytes());
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_LoadLatest)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3);

void BM_EncodeOnly(benchmark::State& bench) {
  State();
  auto storage = brook::NewInMemoryCheckpointStorage();
  int64_t id = 0;
  for (auto _ : bench) {
    Check(storage->WriteState(++id, false, State()).status());
    bench.PauseTiming();
    Check(storage->AbortCheckpoint(id, false));
    bench.ResumeTiming();
  }
  bench.SetBytesProcessed(bench.iterations() * StateBytes());
}
BENCHMARK(BM_EncodeOnly)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3);

}  // namespace
